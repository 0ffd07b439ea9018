"""The Dask backend on volumes and signals: chunked, lazily, the same values as ``poolcli.pool``
of the array in memory.

Small chunks (2 to 5 cells, ragged) so windows straddle chunk borders on every axis, halos and
padding meet, and the first pass of ``lp``/float64 ``avg`` (the array's extreme values) matters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poolcli

da = pytest.importorskip("dask.array")
Callback = pytest.importorskip("dask.callbacks").Callback

MODES = ["max", "min", "avg", "sum", "median", "mode", "sparse", "lp"]
WINDOWS = [
    {"kernel_size": (2, 2, 2)},
    {
        "kernel_size": (3, 2, 3),
        "stride": (2, 1, 2),
        "padding": (1, 0, 1),
        "ceil_mode": True,
    },
    {
        "kernel_size": (2, 3, 2),
        "stride": 1,
        "dilation": (2, 1, 1),
        "count_include_pad": False,
    },
    {"kernel_size": (3, 3, 3), "padding": "same", "stride": (2, 3, 1)},
    {"output_size": (3, 2, 4)},
    {"output_size": (1, 1, 1)},
]


def _volume(dtype: str, shape=(9, 7, 8), channels=None, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    full = shape if channels is None else (*shape, channels)
    if dtype == "bool":
        return rng.random(full) < 0.4
    if dtype.startswith("float"):
        x = rng.normal(0, 100, full).astype(dtype)
        x[rng.random(full) < 0.2] = 0
        return x
    info = np.iinfo(dtype)
    labels = rng.integers(max(info.min, -3), min(info.max, 4), full)
    return np.where(rng.random(full) < 0.3, 0, labels).astype(dtype)


def _same(x: np.ndarray, chunks, mode: str, **kwargs) -> None:
    want = poolcli.pool(x, mode, **kwargs)
    lazy = poolcli.pool(da.from_array(x, chunks=chunks), mode, **kwargs)
    assert lazy.shape == want.shape and lazy.dtype == want.dtype
    got = lazy.compute(scheduler="sync")
    np.testing.assert_array_equal(got, want, err_msg=f"{mode} {kwargs} chunks {chunks}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: "-".join(f"{k}{v}" for k, v in w.items()))
def test_chunked_volume_equals_pool(mode: str, window: dict) -> None:
    kwargs = dict(window, p=1.5) if mode == "lp" else window
    x = _volume("uint8" if mode != "lp" else "float64")
    x = np.abs(x) if mode == "lp" else x
    _same(x, (3, 2, 5), mode, **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_chunked_volume_with_channels_every_dtype(mode: str) -> None:
    kwargs: dict = {"kernel_size": (2, 3, 2), "stride": (2, 2, 1), "padding": (1, 1, 0)}
    for dtype in ["bool", "uint16", "int16", "int64", "float32", "float64"]:
        x = _volume(dtype, (7, 5, 6), channels=2, seed=3)
        if mode == "lp":
            x = np.abs(x) if dtype != "bool" else x
            kwargs["p"] = 2.0
        _same(x, ((3, 4), (2, 3), (4, 2), 1), mode, **kwargs)


SIGNAL_WINDOWS = [
    {"kernel_size": (4,), "stride": (3,), "padding": (2,), "ceil_mode": True},
    {"output_size": (6,)},
    {"output_size": (1,)},
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("window", SIGNAL_WINDOWS, ids=str)
def test_chunked_signal_equals_pool(mode: str, window: dict) -> None:
    x = _volume("int16", (41,), seed=4)
    x = np.abs(x) if mode == "lp" else x
    _same(x, 5, mode, **window)
    _same(np.stack([x, x[::-1]], axis=-1), (7, 2), mode, **window)  # (L, C)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_chunks_random_windows(data) -> None:
    shape = tuple(data.draw(st.integers(1, 9)) for _ in range(3))
    k = tuple(data.draw(st.integers(1, min(3, n + 2))) for n in shape)
    pad = tuple(data.draw(st.integers(0, v // 2)) for v in k)
    kwargs = {
        "kernel_size": k,
        "padding": pad,
        "stride": tuple(data.draw(st.integers(1, 3)) for _ in k),
    }
    if any(v > n + 2 * p for v, n, p in zip(k, shape, pad, strict=True)):
        return
    chunks = tuple(data.draw(st.integers(1, 4)) for _ in shape)
    mode = data.draw(st.sampled_from(MODES))
    x = _volume("uint8", shape, seed=data.draw(st.integers(0, 9)))
    _same(x, chunks, mode, **kwargs)


def test_volume_larger_than_a_chunk_stays_lazy() -> None:
    """A 64x64x64 volume in 16^3 chunks: the graph has one task per output block and computes
    to the in-memory result (the path a volume larger than memory takes)."""
    x = _volume("uint16", (64, 64, 64), seed=7)
    lazy = poolcli.pool(da.from_array(x, chunks=16), "avg", kernel_size=(2, 2, 2))
    assert lazy.chunks == ((8,) * 4,) * 3
    np.testing.assert_array_equal(lazy.compute(), poolcli.pool(x, "avg", kernel_size=(2, 2, 2)))


class _Largest(Callback):
    """The largest result any task of a computation produced (compute's final join aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if not str(key).startswith("finalize"):
            self.largest = max(self.largest, getattr(result, "nbytes", 0))


@pytest.mark.parametrize(
    ("mode", "dtype"),
    [
        ("max", "uint8"),
        ("sum", "uint16"),
        ("avg", "uint8"),
        ("median", "uint8"),
        ("mode", "uint16"),
        ("sparse", "uint8"),
        ("avg", "float32"),
        ("sum", "float64"),
    ],
)
def test_global_pooling_of_a_volume_runs_chunk_by_chunk(mode: str, dtype: str) -> None:
    """output_size=1 over a 48x40x36 volume in 16x8x12 chunks: the same value as pool, float
    sums folded in the core's order (exactly equal), and no task holding the volume."""
    x = _volume(dtype, (48, 40, 36), seed=8)
    if dtype.startswith("float"):
        x = np.random.default_rng(8).normal(0, 1e6, x.shape).astype(dtype)
    dx = da.from_array(x, chunks=(16, 8, 12))
    with _Largest() as seen:
        got = poolcli.pool(dx, mode, output_size=(1, 1, 1)).compute(scheduler="sync")
    np.testing.assert_array_equal(got, poolcli.pool(x, mode, output_size=(1, 1, 1)))
    # a chunk is at most 12 KiB and a plane of first-axis sums 11 KiB: a quarter of the volume
    # holds several; a histogram of uint16 values takes 512 KiB whatever the volume
    histogram = 65536 * 8 if dtype == "uint16" and mode in ("median", "mode", "sparse") else 0
    assert seen.largest <= max(x.nbytes // 4, histogram)
