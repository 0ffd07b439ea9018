"""The torch backend against the NumPy core: the same values, dtypes and errors, to the bit.

Every check pools the same pixels twice, once with :func:`poolcli.pool` on a NumPy array and
once with the torch backend on a tensor, and compares the results bit for bit (floats by their
bits, except the sign of a zero and a NaN's payload, see ``assert_same``). Tests marked ``cuda``
run the same comparisons on a GPU and are skipped where there is none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import poolcli  # noqa: E402
from poolcli.backends.torch import accepts, pool_torch  # noqa: E402

MODES = ("max", "min", "avg", "sum", "median", "mode", "lp")
DTYPES = ("bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64")
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def assert_same(got: Any, expected: np.ndarray, where: str = "") -> None:
    """``got`` (a tensor) holds exactly ``expected``: dtype, shape, and every value's bits."""
    assert isinstance(got, torch.Tensor), where
    g = got.detach().cpu().numpy()
    assert g.dtype == expected.dtype, f"{where}: dtype {g.dtype}, expected {expected.dtype}"
    assert g.shape == expected.shape, f"{where}: shape {g.shape}, expected {expected.shape}"
    if expected.dtype.kind == "f":
        # Bits, so every rounding counts; but not the sign of a zero or a NaN's payload, which
        # are artefacts of an implementation (the core gives either sign of zero depending on
        # the path a window takes; torch's CPU maximum makes NaNs of its own).
        bits = f"u{expected.dtype.itemsize}"

        def canonical(a: np.ndarray) -> np.ndarray:
            a = np.where(a == 0, 0, a).astype(expected.dtype)
            a[np.isnan(a)] = np.nan
            return a.view(bits)

        g, expected = canonical(g), canonical(expected)
    np.testing.assert_array_equal(g, expected, err_msg=where)


def both(x: np.ndarray, mode: str, device: str = "cpu", **kw: Any) -> None:
    """Pool ``x`` with the core and with torch on ``device``: same result or the same error."""
    where = f"{mode} {x.shape} {x.dtype} {kw}"
    try:
        expected = poolcli.pool(x, mode, **kw)
    except ValueError as err:
        with pytest.raises(type(err)) as caught:
            pool_torch(torch.from_numpy(x).to(device), mode, **kw)
        assert str(caught.value) == str(err), where
        return
    t = torch.from_numpy(x).to(device)
    before = t.clone()
    got = pool_torch(t, mode, **kw)
    assert got.device == t.device, where
    assert_same(got, expected, where)
    unchanged = t.cpu().numpy().tobytes() == before.cpu().numpy().tobytes()  # NaN too
    assert unchanged, f"{where}: the input was modified"


# --------------------------------------------------------------------------------------------
# Random shapes, values and windows.

SPECIALS: dict[str, list[Any]] = {
    "bool": [False, True],
    "uint8": [0, 1, 2, 3, 127, 128, 254, 255],
    "uint16": [0, 1, 2, 255, 256, 40000, 65534, 65535],
    "int16": [-32768, -32767, -1, 0, 1, 2, 3, 32767],
    "int32": [-(2**31), -5, -1, 0, 1, 3, 70000, 2**31 - 1],
    "int64": [-(2**63), -(2**62), -7, 0, 1, 2, 2**62, 2**63 - 1],
    "float32": [0.0, -0.0, 1.0, -1.5, 2.5, 3.0, np.nan, np.inf, -np.inf, 1e-40, 3e38, -3e38],
    "float64": [0.0, -0.0, 1.0, -1.5, 2.5, 3.0, np.nan, np.inf, -np.inf, 5e-324, 1.7e308],
}


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.sampled_from([None, 0, 1, 2, 3, 4]))
    shape = (h, w) if c is None else (h, w, c)
    size = int(np.prod(shape))
    pool_ = SPECIALS[dtype]
    if draw(st.booleans()):  # few distinct small values: ties for median and mode
        pool_ = pool_[:4] if dtype.startswith("float") else [v for v in pool_ if abs(v) < 300]
    values = draw(st.lists(st.sampled_from(pool_), min_size=size, max_size=size))
    return np.array(values, dtype=object).astype(dtype).reshape(shape)


def sizes(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.integers(lo, hi) | st.tuples(st.integers(lo, hi), st.integers(lo, hi))


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 5)) == 0:
        size = draw(st.integers(1, 5) | st.tuples(st.integers(1, 5), st.integers(1, 5)))
        return {"output_size": size}
    kw: dict[str, Any] = {"kernel_size": draw(sizes(1, 4))}
    if draw(st.booleans()):
        kw["stride"] = draw(sizes(1, 3))
    kw["padding"] = draw(st.sampled_from([0, 1, 2, (0, 1), (1, 0), "same", "valid"]))
    kw["dilation"] = draw(sizes(1, 3))
    kw["ceil_mode"] = draw(st.booleans())
    kw["count_include_pad"] = draw(st.booleans())
    return kw


@given(
    x=images(),
    mode=st.sampled_from(MODES),
    window=windows(),
    p=st.sampled_from([2.0, 1.0, 3.0, 0.5, 1.5, 7.0, 200.0]),
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_images_and_windows_match_the_core(
    x: np.ndarray, mode: str, window: dict, p: float
) -> None:
    both(x, mode, **window, **({"p": p} if mode == "lp" else {}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_dtype_on_odd_sizes(mode: str, dtype: str) -> None:
    rng = np.random.default_rng(7)
    values = np.array(SPECIALS[dtype], dtype=object)
    for shape in [(1, 1), (1, 7), (7, 1), (5, 7), (9, 11, 3), (6, 5, 4), (3, 4, 1), (4, 4, 2)]:
        x = rng.choice(values, shape).astype(dtype)
        for kw in [
            {"kernel_size": 2},
            {"kernel_size": 3, "stride": 2, "padding": 1},
            {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
            {"kernel_size": (2, 3), "stride": 1, "dilation": (2, 1), "ceil_mode": True},
            {"kernel_size": 3, "stride": 2, "padding": "same"},
            {"output_size": (3, 2)},
            {"output_size": 1},
            {"kernel_size": 5, "stride": 1, "padding": 2},
        ]:
            both(x, mode, **kw)
            if mode == "lp":
                both(x, mode, p=3.0, **kw)


def test_integer_avg_rounds_half_up_exactly() -> None:
    x = np.array([[0, 1], [2, 2], [255, 254]], np.uint8)
    both(x, "avg", kernel_size=(1, 2))
    assert pool_torch(torch.from_numpy(x), "avg", kernel_size=(1, 2)).tolist() == [[1], [2], [255]]
    neg = np.array([[-3, -2], [-1, 0]], np.int16)
    assert pool_torch(torch.from_numpy(neg), "avg", kernel_size=(1, 2)).tolist() == [[-2], [0]]


def test_int64_near_its_limits_goes_through_the_cores_exact_path() -> None:
    big = np.array([[2**63 - 1, 2**63 - 2], [2**63 - 1, 2**63 - 1]], np.int64)
    both(big, "avg", kernel_size=2)
    both(big, "lp", kernel_size=2, p=1)
    both(np.array([[-(2**63), 5]], np.int64), "lp", kernel_size=(1, 2), p=1)
    both(big, "sum", kernel_size=2)  # does not fit int64: the core's error, word for word
    with pytest.raises(poolcli.UnsupportedError, match="does not fit int64"):
        pool_torch(torch.from_numpy(big), "sum", kernel_size=2)


def test_lp_whose_powers_leave_float64_goes_through_the_cores_log_path() -> None:
    x = np.array([[60000, 1], [3, 65535]], np.uint16)
    both(x, "lp", kernel_size=2, p=100.0)
    f = np.array([[1e300, 1e-300], [2.0, 0.0]], np.float64)
    both(f, "lp", kernel_size=2, p=3.0)
    both(f, "avg", kernel_size=2)
    both(np.full((3, 3), 1.7e308), "avg", kernel_size=3, stride=1, padding=1)


def test_lp_ties_match_the_core() -> None:
    """Exact ties of integer lp (issue 14's examples): the backend gives what the core gives."""
    both(np.array([[0, 6]], np.uint8), "lp", kernel_size=(1, 2), p=0.5)
    both(np.array([[2, 4, 5, 5, 6, 7, 16, 22]], np.uint8), "lp", kernel_size=(1, 8), p=3.0)
    both(np.array([[1, 0], [0, 0]], np.uint8), "lp", kernel_size=2)  # sqrt(0.25) = 0.5 -> 1


def test_nan_propagates_and_padding_never_wins() -> None:
    x = np.array([[np.nan, 1.0, -2.0], [3.0, -np.inf, 4.0]], np.float32)
    for mode in MODES:
        both(x, mode, kernel_size=2, stride=1, padding=1)
        both(x, mode, output_size=(2, 2))
    neg = np.full((3, 3), -5, np.int16)
    got = pool_torch(torch.from_numpy(neg), "max", kernel_size=3, stride=1, padding=1)
    assert (got == -5).all()


def test_mode_takes_whole_pixels_as_labels() -> None:
    x = np.zeros((2, 2, 3), np.uint8)
    x[0, 0] = (9, 0, 0)
    x[0, 1] = (0, 9, 0)
    x[1, 0] = (0, 0, 9)
    x[1, 1] = (0, 9, 0)
    got = pool_torch(torch.from_numpy(x), "mode", kernel_size=2)
    assert got.tolist() == [[[0, 9, 0]]]
    x[1, 1] = (1, 1, 1)  # four different colours: the lexicographically smallest
    assert pool_torch(torch.from_numpy(x), "mode", kernel_size=2).tolist() == [[[0, 0, 9]]]
    for dtype in ("uint16", "int32", "float32", "float64", "int64"):
        y = np.random.default_rng(1).choice(np.array([0, 1, -1, 3]), (7, 5, 3)).astype(dtype)
        if dtype == "uint16":
            y = y.astype(np.int64).clip(0).astype(dtype)
        both(y, "mode", kernel_size=3, stride=2, padding=1)


def test_errors_are_the_cores() -> None:
    x = np.zeros((4, 5), np.uint8)
    for mode, kw in [
        ("max", {"kernel_size": 0}),
        ("max", {"kernel_size": 7}),
        ("max", {"kernel_size": 3, "padding": 2}),
        ("max", {"kernel_size": 2, "padding": "same", "ceil_mode": True}),
        ("avg", {"output_size": 2, "stride": 1}),
        ("median", {"kernel_size": (2, 2, 2)}),
        ("lp", {"p": -1.0}),
        ("lp", {"p": float("inf")}),
        ("nope", {}),
    ]:
        both(x, mode, **kw)
    both(np.zeros(5, np.uint8), "max")
    both(np.zeros((2, 2, 2, 2), np.uint8), "max")
    both(np.zeros((0, 3), np.uint8), "max")
    with pytest.raises(poolcli.UnsupportedError) as caught:
        pool_torch(torch.zeros((4, 4), dtype=torch.float16), "max")
    with pytest.raises(poolcli.UnsupportedError) as expected:
        poolcli.pool(np.zeros((4, 4), np.float16), "max")
    assert str(caught.value) == str(expected.value)
    with pytest.raises(poolcli.UnsupportedError, match="dtype bfloat16 is not supported"):
        pool_torch(torch.zeros((4, 4), dtype=torch.bfloat16), "max")


def test_empty_channels_and_empty_batches() -> None:
    both(np.zeros((5, 4, 0), np.float32), "avg", kernel_size=2)
    both(np.zeros((5, 4, 0), np.uint8), "sum", kernel_size=3, padding=1)
    empty = pool_torch(torch.zeros((0, 6, 6, 3), dtype=torch.uint8), "max", batch=True)
    assert empty.shape == (0, 3, 3, 3) and empty.dtype == torch.uint8


# --------------------------------------------------------------------------------------------
# The batch axis, DLPack, devices.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["uint8", "int64", "float64", "bool"])
def test_a_batch_is_each_image_pooled_on_its_own(mode: str, dtype: str) -> None:
    rng = np.random.default_rng(3)
    xs = rng.choice(np.array(SPECIALS[dtype], dtype=object), (4, 7, 6, 3)).astype(dtype)
    if dtype == "int64":  # one image near int64's limits (core's exact path), the others small
        xs[1:] = rng.integers(-9, 9, xs[1:].shape)
    for kw in [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"output_size": 3},
    ]:
        for layout in (xs, xs[..., 0]):
            expected = []
            for x in layout:
                try:
                    expected.append(poolcli.pool(x, mode, **kw))
                except ValueError as err:  # the sum of the near-limit image does not fit
                    with pytest.raises(type(err), match="does not fit"):
                        pool_torch(torch.from_numpy(layout), mode, batch=True, **kw)
                    break
            else:
                got = pool_torch(torch.from_numpy(layout), mode, batch=True, **kw)
                assert_same(got, np.stack(expected), f"{mode} {dtype} {kw} {layout.shape}")


def test_batch_errors_name_one_images_shape() -> None:
    with pytest.raises(poolcli.WindowError) as caught:
        pool_torch(torch.zeros((3, 2, 2), dtype=torch.uint8), "max", kernel_size=3, batch=True)
    with pytest.raises(poolcli.WindowError) as expected:
        poolcli.pool(np.zeros((2, 2), np.uint8), "max", kernel_size=3)
    assert str(caught.value) == str(expected.value)
    with pytest.raises(poolcli.UnsupportedError, match="leading batch axis"):
        pool_torch(torch.tensor(1), "max", batch=True)


class DLPackArray:
    """An array that is not NumPy's and not torch's, speaking only DLPack (as CuPy or JAX do)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self._array.__dlpack_device__()


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "bool"])
def test_dlpack_arrays_are_pooled_as_tensors(dtype: str) -> None:
    x = np.random.default_rng(5).integers(0, 3, (5, 7, 3)).astype(dtype)
    wrapped = DLPackArray(x)
    assert accepts(wrapped) and accepts(torch.from_numpy(x))
    assert not accepts(x) and not accepts([1, 2])
    for mode in ("max", "avg", "median", "mode"):
        assert_same(
            pool_torch(wrapped, mode, kernel_size=3, padding=1),
            poolcli.pool(x, mode, kernel_size=3, padding=1),
        )
    capsule_tensor = torch.utils.dlpack.from_dlpack(
        torch.utils.dlpack.to_dlpack(torch.from_numpy(x))
    )
    assert_same(pool_torch(capsule_tensor, "min"), poolcli.pool(x, "min"))


def test_non_contiguous_and_strided_tensors() -> None:
    x = np.random.default_rng(9).integers(0, 255, (9, 12, 4), dtype=np.uint8)
    t = torch.from_numpy(x)
    for view, arr in [(t[::2, 1::3], x[::2, 1::3]), (t.permute(1, 0, 2), x.transpose(1, 0, 2))]:
        for mode in MODES:
            assert_same(
                pool_torch(view, mode, kernel_size=2), poolcli.pool(arr, mode, kernel_size=2)
            )


# --------------------------------------------------------------------------------------------
# PyTorch's golden vectors (tests/golden): the backend gives what the core gives on each.

CASES = json.loads((GOLDEN / "cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES[::3], ids=[c["id"] for c in CASES[::3]])
def test_golden_vectors(case: dict) -> None:
    with np.load(GOLDEN / case["file"], allow_pickle=False) as data:
        x, expected = data[f"{case['key']}_x"], data[f"{case['key']}_y"]
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
    got = pool_torch(torch.from_numpy(x), case["mode"], **kw)
    assert_same(got, poolcli.pool(x, case["mode"], **kw), case["id"])
    if case["compare"] == "exact":  # and what PyTorch itself gave
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=case["id"])


# --------------------------------------------------------------------------------------------
# On a GPU (skipped without CUDA): the same comparisons on device tensors.


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_cuda_matches_the_core(mode: str, dtype: str) -> None:
    rng = np.random.default_rng(11)
    for shape in [(1, 1), (7, 9), (33, 17, 3), (64, 48, 4)]:
        x = rng.choice(np.array(SPECIALS[dtype], dtype=object), shape).astype(dtype)
        for kw in [
            {"kernel_size": 2},
            {"kernel_size": 3, "stride": 2, "padding": 1},
            {"kernel_size": 3, "stride": 2, "padding": "same"},
            {"kernel_size": 2, "dilation": 2, "ceil_mode": True},
            {"output_size": (5, 3)},
        ]:
            both(x, mode, "cuda", **kw)
            if mode == "lp":
                both(x, mode, "cuda", p=3.0, **kw)


@pytest.mark.cuda
@CUDA
@given(x=images(), mode=st.sampled_from(MODES), window=windows())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cuda_random_images_match_the_core(x: np.ndarray, mode: str, window: dict) -> None:
    both(x, mode, "cuda", **window)


@pytest.mark.cuda
@CUDA
def test_cuda_uint8_max_of_a_large_batch() -> None:
    """The case torch's own max_pool2d cannot do on CUDA (no uint8 kernel)."""
    xs = np.random.default_rng(2).integers(0, 256, (8, 257, 255, 3), dtype=np.uint8)
    got = pool_torch(torch.from_numpy(xs).cuda(), "max", kernel_size=3, stride=2, batch=True)
    assert got.device.type == "cuda"
    assert_same(got, np.stack([poolcli.pool(x, "max", kernel_size=3, stride=2) for x in xs]))


def test_numpy_arrays_pooled_on_a_torch_device_come_back_as_numpy() -> None:
    from poolcli.backends.torch import pool_numpy_on

    x = np.random.default_rng(4).integers(0, 65535, (9, 7), dtype=np.uint16)
    big = x.astype(">u2")  # 16-bit PNG samples as Pillow may hand them over
    ro = x.copy()
    ro.flags.writeable = False  # np.asarray(image) is read-only
    for arr in (big, ro):
        for mode in MODES:
            got = pool_numpy_on(arr, mode, kernel_size=3, stride=2, padding=1, device="cpu")
            expected = poolcli.pool(x, mode, kernel_size=3, stride=2, padding=1)
            assert isinstance(got, np.ndarray) and got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


def test_poolcli_pool_dispatches_tensors_batches_and_devices() -> None:
    x = np.random.default_rng(8).integers(0, 9, (3, 7, 5, 2)).astype(np.int16)
    t = torch.from_numpy(x)
    assert_same(
        poolcli.pool(t[0], "median", kernel_size=3, padding=1),
        poolcli.pool(x[0], "median", kernel_size=3, padding=1),
    )
    stacked = np.stack([poolcli.pool(image, "mode", kernel_size=2) for image in x])
    np.testing.assert_array_equal(poolcli.pool(x, "mode", kernel_size=2, batch=True), stacked)
    assert_same(poolcli.pool(t, "mode", kernel_size=2, batch=True), stacked)
    assert_same(poolcli.pool(DLPackArray(x[1]), "avg"), poolcli.pool(x[1], "avg"))
    on_cpu = poolcli.pool(x[2], "lp", p=3.0, device="cpu")
    assert isinstance(on_cpu, np.ndarray)
    np.testing.assert_array_equal(on_cpu, poolcli.pool(x[2], "lp", p=3.0))
    empty = poolcli.pool(np.zeros((0, 4, 4), np.uint8), "sum", batch=True)
    assert empty.shape == (0, 2, 2) and empty.dtype == np.int64
    with pytest.raises(poolcli.UnsupportedError, match="device= is for NumPy arrays"):
        poolcli.pool(t, "max", device="cpu")
    with pytest.raises(poolcli.WindowError) as caught:
        poolcli.pool(x, "max", kernel_size=9, batch=True)
    with pytest.raises(poolcli.WindowError) as expected:
        poolcli.pool(x[0], "max", kernel_size=9)
    assert str(caught.value) == str(expected.value)


def test_the_readme_example() -> None:
    """The README's torch example, line for line (on the GPU where there is one)."""
    import torch  # noqa: F811  (as the README writes it)

    import poolcli  # noqa: F811

    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.randint(0, 256, (8, 256, 256, 3), dtype=torch.uint8, device=device)
    y = poolcli.pool(x, "max", kernel_size=2, batch=True)  # (8, 128, 128, 3) uint8, on x's device
    assert y.shape == (8, 128, 128, 3) and y.dtype == torch.uint8 and y.device == x.device
    expected = np.stack([poolcli.pool(a, "max", kernel_size=2) for a in x.cpu().numpy()])
    assert_same(y, expected)


def test_lp_with_p_1_on_16_bit_data() -> None:
    """Found by Hypothesis: lp p=1 is an exact average of |x|, saturated (no uint16 clamp)."""
    for dtype in ("uint16", "int16", "uint8", "bool"):
        x = np.array([[0, 1], [1, 1]]).astype(dtype)
        both(x, "lp", output_size=1, p=1.0)
    both(np.array([[-32768, -32768]], np.int16), "lp", kernel_size=(1, 2), p=1.0)


def test_mode_when_a_real_key_equals_the_paddings_fill() -> None:
    """Found by Hypothesis: int64's maximum is a real value, and also what padding is filled
    with before sorting; the real cell must win its window."""
    x = np.full((8, 9), np.iinfo(np.int64).min, np.int64)
    x[6, 1] = np.iinfo(np.int64).max
    both(x, "mode", kernel_size=(1, 2), padding=(0, 1), dilation=2)
    both(x[..., None].repeat(2, axis=2), "mode", kernel_size=(1, 2), padding=(0, 1), dilation=2)
    both(x, "median", kernel_size=(1, 2), padding=(0, 1), dilation=2)


@st.composite
def signals_and_volumes(draw: st.DrawFn) -> tuple[np.ndarray, dict[str, Any]]:
    nd = draw(st.sampled_from([1, 3]))
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    c = draw(st.sampled_from([None, 1, 3]))
    full = shape if c is None else (*shape, c)
    size = int(np.prod(full))
    values = draw(st.lists(st.sampled_from(SPECIALS[dtype]), min_size=size, max_size=size))
    x = np.array(values, dtype=object).astype(dtype).reshape(full)
    if draw(st.integers(0, 4)) == 0:
        return x, {"output_size": tuple(draw(st.integers(1, 4)) for _ in range(nd))}
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    kw: dict[str, Any] = {"kernel_size": kernel}
    kw["stride"] = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    kw["padding"] = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    kw["dilation"] = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    kw["ceil_mode"] = draw(st.booleans())
    kw["count_include_pad"] = draw(st.booleans())
    return x, kw


@given(case=signals_and_volumes(), mode=st.sampled_from(MODES), p=st.sampled_from([2.0, 1.0, 3.0]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_signals_and_volumes_match_the_core(case: tuple, mode: str, p: float) -> None:
    x, kw = case
    both(x, mode, **kw, **({"p": p} if mode == "lp" else {}))


def test_sparse_is_the_cores_alone() -> None:
    with pytest.raises(poolcli.UnsupportedError, match="the torch backend has no sparse mode"):
        pool_torch(torch.zeros((4, 4), dtype=torch.uint8), "sparse")
