"""``poolcli.backends.dask.pool_dask`` against ``poolcli.pool`` on the computed array.

Every mode and dtype, odd sizes, chunks smaller than the window, uneven chunks, padding,
ceil_mode, dilation, ``same``/``valid``, adaptive and global windows, NaN/inf/-0.0 and dtype
extremes: the result must have pool's dtype and shape and its values exactly (NaN in the same
places). Errors must be pool's, with pool's message.

One known exception, until core's tap-order patch lands: core.pool adds a window's taps in an
order that depends on how it cuts the rows into bands (so its float sums change in the last bits
with ``threads``), which no chunking can reproduce. While that is so (``CORE_ORDER_STABLE`` is
False), float sums/averages/lp with padding or ceil_mode are compared within 1e-12 (1e-5 for
float32) instead of exactly; ``test_core_float_sums_do_not_depend_on_bands`` is the reminder.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import poolcli
from poolcli.core import pool as core
from poolcli.errors import PoolError, UnsupportedError, WindowError

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
from dask.callbacks import Callback  # noqa: E402

from poolcli.backends.dask import pool_dask  # noqa: E402

MODES = list(core.MODES)
DTYPES = [str(d) for d in core.DTYPES]
GEOMETRIES: list[dict[str, Any]] = [
    {},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (2, 3), "stride": (1, 2), "ceil_mode": True},
    {"kernel_size": 3, "stride": 1, "dilation": 2, "padding": 2, "count_include_pad": False},
    {"kernel_size": (4, 3), "stride": (3, 2), "padding": "same"},
    {"kernel_size": 5, "stride": 3, "padding": 2, "ceil_mode": True},  # windows > chunks
    {"output_size": (4, 7)},  # adaptive, irregular windows
    {"output_size": 1},  # global
]
# For 23 x 19 images: chunks narrower than the windows, uneven ones (with 1-cell chunks), one.
CHUNKINGS: list[Any] = [(5, 4), (8, 7), ((10, 1, 12), (5, 13, 1)), (23, 19)]


def _core_order_stable() -> bool:
    x = np.random.default_rng(0).standard_normal((600, 600))
    kw = {"kernel_size": 5, "stride": 1, "padding": 2}
    return np.array_equal(
        poolcli.pool(x, "avg", threads=1, **kw), poolcli.pool(x, "avg", threads=2, **kw)
    )


CORE_ORDER_STABLE = _core_order_stable()
# Whether poolcli.pool hands Dask arrays to pool_dask yet (the dispatch the lazy module proposes).
POOL_DISPATCHES = isinstance(poolcli.pool(da.zeros((2, 2), chunks=1), "max"), da.Array)


@pytest.fixture(autouse=True)
def _synchronous() -> Any:
    # Small graphs run faster without a thread pool; one test below uses the threads.
    with dask.config.set(scheduler="synchronous"):
        yield


def values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random values with ties (mode), dtype extremes and, for floats, NaN, inf and -0.0."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind == "f":
        x = rng.choice([-3.5, -1.0, 0.0, 0.25, 2.0, 100.0], shape) + rng.normal(0, 1, shape)
        x = x.astype(dt)
        x.flat[rng.integers(x.size, size=4)] = [np.nan, np.inf, -np.inf, -0.0]
        return x
    info = np.iinfo(dt)
    x = rng.choice(np.array([info.min, -7, 0, 1, 3, 200, info.max]).clip(info.min), shape)
    if dt == np.int64:  # mostly sums that fit; global sums of extremes still meet the error
        x = x // 64
    return x.astype(dt)


def order_sensitive(mode: str, dtype: str, kw: dict[str, Any]) -> bool:
    """Float arithmetic over windows with padding or overhang cells (see the docstring)."""
    floats = mode == "lp" or (mode in ("sum", "avg", "mean") and np.dtype(dtype).kind == "f")
    edges = kw.get("padding", 0) not in (0, (0, 0), "valid") or kw.get("ceil_mode", False)
    return floats and edges and not CORE_ORDER_STABLE


def check(x: np.ndarray, mode: str, chunks: Any, **kw: Any) -> None:
    """pool_dask on ``x`` in ``chunks`` gives pool's result, or pool's error."""
    before = x.copy()
    dx = da.from_array(x, chunks=chunks if x.ndim == 2 else (*chunks, -1))
    where = f"{mode} {x.shape} {x.dtype} chunks {dx.chunks} {kw}"
    try:
        ref = poolcli.pool(x, mode, **kw)
    except PoolError as err:
        with pytest.raises(type(err), match=re.escape(str(err))):
            pool_dask(dx, mode, **kw).compute()
        return
    lazy = pool_dask(dx, mode, **kw)
    assert isinstance(lazy, da.Array), where
    assert (lazy.shape, lazy.dtype) == (ref.shape, ref.dtype), where
    got = lazy.compute()
    assert isinstance(got, np.ndarray), where
    assert (got.shape, got.dtype) == (ref.shape, ref.dtype), where
    if order_sensitive(mode, str(x.dtype), kw):
        rtol = 1e-5 if x.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0, equal_nan=True, err_msg=where)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=where)
    np.testing.assert_array_equal(x, before, err_msg=f"{where}: input modified")


# --------------------------------------------------------------------------------------------
# Same results as pool.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_dtype_and_geometry(mode: str, dtype: str) -> None:
    rng = np.random.default_rng([MODES.index(mode), DTYPES.index(dtype)])
    x = values(rng, (23, 19), dtype)
    for k, kw in enumerate(GEOMETRIES):
        check(x, mode, CHUNKINGS[(k + DTYPES.index(dtype)) % len(CHUNKINGS)], **kw)


@pytest.mark.parametrize("mode", MODES)
def test_channels_every_chunking(mode: str) -> None:
    rng = np.random.default_rng(len(mode))
    for dtype, chunks in zip(["uint8", "float32", "int16", "bool"], CHUNKINGS, strict=True):
        x = values(rng, (23, 19, 3), dtype)
        for kw in ({"kernel_size": 3, "stride": 2, "padding": 1}, {"output_size": (5, 4)}):
            check(x, mode, chunks, **kw)


def test_random_cases() -> None:
    """Random shapes, geometries and chunkings (errors included: they must be pool's)."""
    rng = np.random.default_rng(7)
    for _ in range(120):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        shape = (h, w) if rng.random() < 0.6 else (h, w, int(rng.integers(1, 5)))
        dtype = DTYPES[rng.integers(len(DTYPES))]
        mode = MODES[rng.integers(len(MODES))]
        if rng.random() < 0.2:
            kw: dict[str, Any] = {
                "output_size": (int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1)))
            }
        else:
            kw = {
                "kernel_size": tuple(int(v) for v in rng.integers(1, 6, 2)),
                "stride": tuple(int(v) for v in rng.integers(1, 4, 2)),
                "dilation": tuple(int(v) for v in rng.integers(1, 3, 2)),
                "padding": ["same", "valid", 0, 1, (2, 1)][rng.integers(5)],
                "count_include_pad": bool(rng.random() < 0.5),
            }
            kw["ceil_mode"] = kw["padding"] != "same" and bool(rng.random() < 0.4)
        if mode == "lp":
            kw["p"] = [1, 2.0, 3.0, 0.5][rng.integers(4)]
        chunks = (int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1)))
        check(values(rng, shape, dtype), mode, chunks, **kw)


@pytest.mark.parametrize("mode", ["avg", "sum", "lp"])
def test_whole_image_extremes_reach_every_block(mode: str) -> None:
    """lp and float64 avg choose how to stay in range from the image's largest/smallest |x|.

    Here only one chunk holds values near float64's limits: the other blocks must still follow
    the choice the whole image makes.
    """
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (16, 18))
    x[:4, :6] = [[1e307, 1e-300, 3e306, 5e-310, 1.0, 1e308]] * 4
    big = np.ones((16, 18), np.int64)
    big[:4, :6] = 2**62
    for p in (1.0, 2.0, 3.0):
        check(x, mode, (4, 6), p=p)
        check(big, mode, (4, 6), p=p)
        check(x, mode, (5, 7), output_size=1, p=p)


def test_int64_sum_that_does_not_fit_raises_pools_error_when_computed() -> None:
    x = np.full((4, 6), 2**62, np.int64)
    for kw in ({}, {"output_size": 1}):
        with pytest.raises(UnsupportedError) as expected:
            poolcli.pool(x, "sum", **kw)
        lazy = pool_dask(da.from_array(x, chunks=2), "sum", **kw)  # building is fine
        with pytest.raises(UnsupportedError, match=re.escape(str(expected.value))):
            lazy.compute()
    # The average of the same values fits, and is exact.
    np.testing.assert_array_equal(
        pool_dask(da.from_array(x, chunks=2), "avg", output_size=1).compute(), [[2**62]]
    )


def test_bools_holding_255_are_true() -> None:
    # Pillow's mode "1" arrays hold 255 for True; pool treats any nonzero byte as True.
    x = (np.arange(35).reshape(5, 7) % 3 == 0).view(np.uint8) * np.uint8(255)
    x = x.view(np.bool_)
    for mode in ("avg", "sum", "median", "mode", "max", "lp"):
        check(x, mode, (2, 3), kernel_size=2, stride=1)
        check(x, mode, (2, 3), output_size=1)


# --------------------------------------------------------------------------------------------
# Laziness, chunks and memory.


def _counted(shape: tuple[int, int], chunks: int, calls: list[int]) -> Any:
    """A Dask array of :func:`_pattern` whose chunks are made on demand, counting them."""

    def make(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        calls.append(1)
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return _pattern((r0, r1), (c0, c1))

    meta = np.empty((0, 0), np.uint8)
    return da.zeros(shape, np.uint8, chunks=chunks).map_blocks(make, dtype=np.uint8, meta=meta)


def _pattern(rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """Rows ``[r0, r1)`` and columns ``[c0, c1)`` of an image that is cheap to make anywhere."""
    r = (np.arange(*rows, dtype=np.int64) * 31 % 251).astype(np.uint16)[:, None]
    c = (np.arange(*cols, dtype=np.int64) * 17 % 251).astype(np.uint16)[None, :]
    return ((r + c) % 251).astype(np.uint8)


@pytest.mark.parametrize(
    ("mode", "kw"),
    [
        ("max", {}),
        ("avg", {"kernel_size": 3, "stride": 2, "padding": 1}),
        ("lp", {"p": 3.0}),  # with its first pass over the image
        ("median", {"output_size": 1}),
        ("avg", {"output_size": 1}),
    ],
)
def test_nothing_is_computed_until_compute(mode: str, kw: dict[str, Any]) -> None:
    calls: list[int] = []
    x = _counted((40, 36), 8, calls)
    y = pool_dask(x, mode, **kw)
    assert isinstance(y, da.Array)
    assert y.shape == core.output_shape((40, 36), **{k: v for k, v in kw.items() if k != "p"})
    assert not calls
    got = y.compute()
    assert calls
    np.testing.assert_array_equal(got, poolcli.pool(_pattern((0, 40), (0, 36)), mode, **kw))


def test_output_chunks_follow_input_chunks() -> None:
    x = da.zeros((100, 90), np.uint8, chunks=(32, 30))
    assert pool_dask(x, "max").chunks == ((16, 16, 16, 2), (15, 15, 15))
    # A window belongs to the chunk of its first real cell; padding shifts them.
    assert pool_dask(x, "max", kernel_size=3, stride=2, padding=1).chunks == (
        (17, 16, 16, 1),
        (16, 15, 14),
    )


@pytest.mark.parametrize("mode", MODES)
def test_tiny_chunks(mode: str) -> None:
    x = values(np.random.default_rng(11), (11, 9), "float32" if mode == "max" else "int16")
    for kw in GEOMETRIES:
        check(x, mode, (2, 3), **kw)


def test_threaded_scheduler_and_core_threads() -> None:
    x = values(np.random.default_rng(1), (61, 47, 2), "uint16")
    ref = poolcli.pool(x, "median", kernel_size=3, stride=2, padding=1)
    y = pool_dask(
        da.from_array(x, chunks=(16, 10, 1)),
        "median",
        kernel_size=3,
        stride=2,
        padding=1,
        threads=2,
    )
    np.testing.assert_array_equal(y.compute(scheduler="threads"), ref)


class _Largest(Callback):
    """Records the largest result any task returned, and how many tasks ran."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0
        self.tasks = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self.tasks += 1
        if not str(key).startswith("finalize"):  # compute's own final concatenation
            self.largest = max(self.largest, getattr(result, "nbytes", 0))


def test_large_image_runs_chunk_by_chunk() -> None:
    """8192x8192 uint8 (64 MiB) in 1 MiB chunks: no task ever holds more than one chunk."""
    calls: list[int] = []
    x = _counted((8192, 8192), 1024, calls)
    y = pool_dask(x, "max")
    assert y.chunks == ((512,) * 8, (512,) * 8)
    with _Largest() as seen:
        got = y.compute(scheduler="synchronous")
    assert len(calls) == 64
    assert seen.largest <= 1024 * 1024
    for band in (slice(0, 1000), slice(3000, 3100), slice(7000, 8192)):  # rows of the input
        expected = poolcli.pool(_pattern((band.start, band.stop), (0, 8192)), "max")
        np.testing.assert_array_equal(got[band.start // 2 : band.stop // 2], expected)


class _Held(Callback):
    """Records the most bytes the scheduler held at once (results waiting for their users)."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        held = (
            getattr(v, "nbytes", 0) for k, v in state["cache"].items() if "finalize" not in str(k)
        )
        self.peak = max(self.peak, sum(held))


@pytest.mark.parametrize("mode", ["lp", "avg"])
def test_first_pass_reads_the_image_again_instead_of_holding_it(mode: str) -> None:
    """lp (and float64 avg) need the image's extremes before any block: the input is read twice,
    and between the passes no chunk waits in memory."""
    calls: list[int] = []
    x = _counted((1024, 1024), 128, calls)  # 64 chunks of 16 KiB
    x = x.astype(np.float64) if mode == "avg" else x
    y = pool_dask(x, mode, kernel_size=3, stride=2, padding=1, p=3.0)
    with _Held() as seen:
        got = y.compute(scheduler="synchronous")
    assert len(calls) == 128
    chunk = 128 * 128 * x.dtype.itemsize
    assert seen.peak <= got.nbytes + 8 * chunk < x.nbytes  # the output, and a few chunks
    expected = poolcli.pool(
        _pattern((0, 1024), (0, 1024)).astype(x.dtype),
        mode,
        kernel_size=3,
        stride=2,
        padding=1,
        p=3.0,
    )
    check_close = order_sensitive(mode, str(x.dtype), {"padding": 1})
    if check_close:
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got, expected)


def test_results_computed_together_do_not_mix() -> None:
    a = da.from_array(np.arange(48, dtype=np.int16).reshape(6, 8), chunks=3)
    ya, yb = pool_dask(a, "max"), pool_dask(a + 100, "max")
    got_a, got_b = dask.compute(ya, yb)
    np.testing.assert_array_equal(got_b, got_a + 100)


@pytest.mark.parametrize("mode", ["max", "sum", "avg", "median", "mode"])
def test_global_pooling_runs_chunk_by_chunk(mode: str) -> None:
    x = values(np.random.default_rng(2), (1024, 768), "uint16")
    dx = da.from_array(x, chunks=(128, 128), inline_array=True)
    with _Largest() as seen:
        got = pool_dask(dx, mode, output_size=1).compute()
    np.testing.assert_array_equal(got, poolcli.pool(x, mode, output_size=1))
    # A chunk is 32 KiB; a histogram of uint16 values 512 KiB; the image 1.5 MiB.
    assert seen.largest <= 512 * 1024


def test_global_float_average_is_folded_in_core_order() -> None:
    x = np.random.default_rng(4).normal(0, 1e6, (300, 200)).astype(np.float32)
    dx = da.from_array(x, chunks=(64, 48), inline_array=True)
    for mode in ("avg", "sum"):
        with _Largest() as seen:
            got = pool_dask(dx, mode, output_size=1).compute()
        np.testing.assert_array_equal(got, poolcli.pool(x, mode, output_size=1))
        assert seen.largest < x.nbytes // 4


# --------------------------------------------------------------------------------------------
# Inputs and errors.


def test_numpy_input_channel_chunks_and_empty_channels() -> None:
    x = values(np.random.default_rng(5), (9, 7, 4), "int32")
    np.testing.assert_array_equal(pool_dask(x, "mode").compute(), poolcli.pool(x, "mode"))
    split = da.from_array(x, chunks=(4, 3, 1))  # channels in separate chunks: merged
    np.testing.assert_array_equal(pool_dask(split, "mode").compute(), poolcli.pool(x, "mode"))
    empty = np.zeros((9, 7, 0), np.uint8)
    got = pool_dask(da.from_array(empty), "avg").compute()
    assert got.shape == (4, 3, 0) and got.dtype == np.uint8


@pytest.mark.parametrize(
    ("x", "mode", "kw"),
    [
        (np.zeros((4, 4)), "nope", {}),
        (np.zeros((4, 4), np.int8), "max", {}),
        (np.zeros((2, 4, 4, 1)), "max", {}),
        (np.zeros((4, 4)), "lp", {"p": 0}),
        (np.zeros((4, 4)), "max", {"kernel_size": 5}),
        (np.zeros((4, 4)), "max", {"kernel_size": 0}),
        (np.zeros((4, 4)), "max", {"kernel_size": 3, "padding": 2}),
        (np.zeros((4, 4)), "avg", {"output_size": 2, "kernel_size": 3}),
        (np.zeros((4, 4)), "avg", {"padding": "same", "ceil_mode": True}),
        (np.zeros((4, 4)), "avg", {"threads": 0}),
    ],
)
def test_errors_are_pools_and_raised_when_building(x: np.ndarray, mode: str, kw: dict) -> None:
    with pytest.raises(PoolError) as expected:
        poolcli.pool(x, mode, **kw)
    with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
        pool_dask(da.from_array(x), mode, **kw)


def test_unknown_chunk_sizes_are_refused() -> None:
    x = da.from_array(np.arange(20.0).reshape(4, 5), chunks=2)
    x = x[x[:, 0] > 3]
    with pytest.raises(UnsupportedError, match="compute_chunk_sizes"):
        pool_dask(x, "max")


def test_importing_poolcli_does_not_import_dask() -> None:
    import subprocess
    import sys

    code = "import sys, poolcli, poolcli.backends.dask; poolcli.pool; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.xfail(
    not CORE_ORDER_STABLE,
    reason="core.separable._reduce_axis adds a window's full-band taps first, so a window's float"
    " sum depends on its band; the patch adding taps in tap order makes this pass",
)
def test_core_float_sums_do_not_depend_on_bands() -> None:
    assert CORE_ORDER_STABLE


@pytest.mark.xfail(
    not POOL_DISPATCHES, run=False, reason="core.pool does not hand Dask arrays to pool_dask yet"
)
def test_readme_example() -> None:
    """The README's Dask example, line for line."""
    import dask.array as da  # noqa: F811  (as the README writes it)

    # 8192 x 8192 random pixels in 2048 x 2048 chunks; in practice da.from_zarr(...) or
    # da.from_array(tifffile.memmap(...)) of an image that does not fit in memory.
    x = da.random.default_rng(0).integers(0, 256, (8192, 8192), dtype=np.uint8, chunks=2048)
    y = poolcli.pool(x, "avg", kernel_size=3, stride=2, padding=1)  # lazy: nothing read yet
    assert (y.shape, y.chunks[0]) == ((4096, 4096), (1025, 1024, 1024, 1023))
    thumb = poolcli.pool(x, "max", stride=32).compute()  # a NumPy array, 256 x 256

    assert isinstance(y, da.Array) and thumb.shape == (256, 256)
    np.testing.assert_array_equal(thumb, poolcli.pool(x.compute(), "max", stride=32))


def test_window_errors_name_the_image_shape() -> None:
    x = da.zeros((3, 5), chunks=2)
    with pytest.raises(WindowError, match=re.escape("max pooling of shape (3, 5):")):
        pool_dask(x, "max", kernel_size=4)
