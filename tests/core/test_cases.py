"""Hand-computed cases for ``poolcli.pool`` (SPEC.md §1), expected arrays written out.

The value cases run twice: against ``poolcli.pool`` and against the slow reference in
``tests/reference.py``, so the reference that ``test_core_reference.py`` trusts is itself
checked against numbers worked out by hand.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import poolcli
import reference

NAN = np.nan
INF = np.inf
MODE_NAMES = ["max", "min", "avg", "sum", "median", "mode", "lp", "sparse"]
DTYPES = ["bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64"]
I16 = np.iinfo(np.int16)
I32 = np.iinfo(np.int32)
I64 = np.iinfo(np.int64)


@pytest.fixture(params=["poolcli", "reference"])
def pool(request):
    """The implementation under test: poolcli.pool, or the reference (to check the reference)."""
    return poolcli.pool if request.param == "poolcli" else reference.pool


def check(got, expected, dtype) -> None:
    """Same dtype, same shape, same values (NaN where NaN; floats to a few ulps)."""
    expected = np.asarray(expected, dtype=dtype)
    assert isinstance(got, np.ndarray)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if expected.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected, strict=True)


# 3x3, kernel 2, stride 1: windows (1,2,4,6) (2,9,6,6) (4,6,7,8) (6,6,8,10)
X3 = [[1, 2, 9], [4, 6, 6], [7, 8, 10]]
ONE_PER_MODE = {
    "max": ([[6, 9], [8, 10]], None),
    "min": ([[1, 2], [4, 6]], None),
    "sum": ([[13, 23], [25, 30]], "int64"),
    # 13/4=3.25 -> 3, 23/4=5.75 -> 6, 25/4=6.25 -> 6, 30/4=7.5 -> 8 (tie up)
    "avg": ([[3, 6], [6, 8]], None),
    # (2+4)/2=3, (6+6)/2=6, (6+7)/2=6.5 -> 7 (tie up), (6+8)/2=7
    "median": ([[3, 6], [7, 7]], None),
    # all distinct -> smallest 1; 6 twice; all distinct -> 4; 6 twice
    "mode": ([[1, 6], [4, 6]], None),
    # sqrt(57/4)=3.77 -> 4, sqrt(157/4)=6.26 -> 6, sqrt(165/4)=6.42 -> 6, sqrt(59)=7.68 -> 8
    "lp": ([[4, 6], [6, 8]], None),
    "sparse": ([[1, 6], [4, 6]], None),  # no 0 (background) in X3: as mode
}


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64", "uint16"])
def test_one_case_per_mode_integers(pool, mode, dtype):
    expected, out_dtype = ONE_PER_MODE[mode]
    got = pool(np.array(X3, dtype=dtype), mode, kernel_size=2, stride=1)
    check(got, expected, out_dtype or dtype)


FLOAT_PER_MODE = {
    "max": [[6, 9], [8, 10]],
    "min": [[1, 2], [4, 6]],
    "sum": [[13, 23], [25, 30]],
    "avg": [[3.25, 5.75], [6.25, 7.5]],
    "median": [[3, 6], [6.5, 7]],
    "mode": [[1, 6], [4, 6]],
    "lp": [[57**0.5 / 2, 157**0.5 / 2], [165**0.5 / 2, 59**0.5]],
    "sparse": [[1, 6], [4, 6]],
}


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_case_per_mode_floats(pool, mode, dtype):
    got = pool(np.array(X3, dtype=dtype), mode, kernel_size=2, stride=1)
    check(got, FLOAT_PER_MODE[mode], "float64" if mode == "sum" else dtype)


def test_mean_is_avg(pool):
    x = np.array(X3, dtype=np.float64)
    check(pool(x, "mean", kernel_size=2, stride=1), FLOAT_PER_MODE["avg"], "float64")


def test_lp_p_parameter(pool):
    x = np.array([[1, 2, 3, 4]], dtype=np.float64)
    # p=1 is the mean; p=3 is the cube root of the mean of cubes
    check(pool(x, "lp", kernel_size=(1, 2), p=1.0), [[1.5, 3.5]], "float64")
    check(pool(x, "lp", kernel_size=(1, 2), p=3.0), [[4.5 ** (1 / 3), 45.5 ** (1 / 3)]], "float64")
    # p=2 with negative values: the same under x**2 and |x|**2
    xi = np.array([[-3, 4, -1, -1]], dtype=np.int16)
    check(pool(xi, "lp", kernel_size=(1, 2), p=2.0), [[4, 1]], "int16")  # sqrt(12.5)=3.54


# ------------------------------------------------------------------ mode ties


def test_mode_ties_go_to_the_smallest(pool):
    x = np.array([[3, 1, 2, 2, 7, 5], [1, 3, 5, 5, 5, 7]], dtype=np.int16)
    # windows: {3,1,1,3} tie -> 1; {2,2,5,5} tie -> 2; {7,5,5,7} tie -> 5
    check(pool(x, "mode"), [[1, 2, 5]], "int16")
    neg = np.array([[-1, 4], [4, -1]], dtype=np.int32)
    check(pool(neg, "mode"), [[-1]], "int32")
    b = np.array([[True, False], [False, True]])
    check(pool(b, "mode"), [[False]], "bool")


def test_mode_multichannel_label_is_one_pixel(pool):
    # Every pixel differs: a tie between four colours -> the lexicographically smallest, which
    # is (0, 0, 1). Per-channel modes would give (0, 0, 0), a colour that is not in the window.
    x = np.array([[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 1, 0]]], dtype=np.uint8)
    check(pool(x, "mode"), [[[0, 0, 1]]], "uint8")


def test_mode_multichannel_majority_and_lexicographic_ties(pool):
    x = np.array(
        [
            [[1, -5], [0, 9], [9, 9], [9, 9], [-1, 5], [0, 0]],
            [[1, -5], [0, 9], [0, 0], [1, 1], [0, 0], [-1, 5]],
        ],
        dtype=np.int16,
    )
    # (1,-5)x2 vs (0,9)x2 -> (0,9); (9,9)x2 wins; (-1,5)x2 vs (0,0)x2 -> (-1,5)
    check(pool(x, "mode"), [[[0, 9], [9, 9], [-1, 5]]], "int16")


def test_mode_counts_signed_zeros_as_one_value(pool):
    # -0.0 == 0.0: two zeros and two ones tie, and the smallest value (zero) wins
    x = np.array([[0.0, -0.0, 1.0, 1.0]], dtype=np.float32)
    check(pool(x, "mode", kernel_size=(1, 4)), [[0.0]], "float32")
    rgb = np.array([[[0.0, 1.0], [-0.0, 1.0], [2.0, 2.0]]], dtype=np.float64)
    check(pool(rgb, "mode", kernel_size=(1, 3)), [[[0.0, 1.0]]], "float64")


def test_mode_never_invents_a_colour():
    rng = np.random.default_rng(7)
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.uint8)
    x = palette[rng.integers(0, 4, size=(9, 11))]
    y = poolcli.pool(x, "mode", kernel_size=3, stride=2, padding=1)
    assert y.shape == (5, 6, 3)
    for i in range(5):
        for j in range(6):
            rows = range(max(2 * i - 1, 0), min(2 * i + 2, 9))
            cols = range(max(2 * j - 1, 0), min(2 * j + 2, 11))
            window = {tuple(x[r, c]) for r in rows for c in cols}
            assert tuple(y[i, j]) in window


# ------------------------------------------------------------------ integer rounding


def test_avg_integer_ties_round_up(pool):
    x = np.array([[-2, -3, 2, 3, -1, 0, -3, -4, -1, -2]], dtype=np.int16)
    # -2.5 -> -2, 2.5 -> 3, -0.5 -> 0, -3.5 -> -3, -1.5 -> -1
    check(pool(x, "avg", kernel_size=(1, 2)), [[-2, 3, 0, -3, -1]], "int16")
    u = np.array([[0, 1, 254, 255]], dtype=np.uint8)
    check(pool(u, "avg", kernel_size=(1, 2)), [[1, 255]], "uint8")  # 0.5 -> 1, 254.5 -> 255


def test_avg_integer_rounds_to_nearest(pool):
    x = np.array([[-1, -2, -2, -2, 1, 1, 1, 2]], dtype=np.int32)
    # -7/4 = -1.75 -> -2; 5/4 = 1.25 -> 1
    check(pool(x, "avg", kernel_size=(1, 4)), [[-2, 1]], "int32")


def test_median_even_count_integers(pool):
    x = np.array([[1, 2, 3, 4, -4, -3, -2, -1, 0, 0, 1, 1]], dtype=np.int16)
    # 2.5 -> 3; -2.5 -> -2; 0.5 -> 1
    check(pool(x, "median", kernel_size=(1, 4)), [[3, -2, 1]], "int16")
    big = np.array([[32766, 32767, 32767, 32766, -32768, 32767]], dtype=np.int16)
    # 32766.5 -> 32767 (the sum of the middle two does not fit int16); -0.5 -> 0
    check(pool(big, "median", kernel_size=(1, 2), stride=(1, 2)), [[32767, 32767, 0]], "int16")
    u = np.array([[255, 254]], dtype=np.uint8)
    check(pool(u, "median", kernel_size=(1, 2)), [[255]], "uint8")


def test_median_odd_count(pool):
    x = np.array([[5, 1, 4, 2, 3]], dtype=np.uint8)
    check(pool(x, "median", kernel_size=(1, 5)), [[3]], "uint8")


# ------------------------------------------------------------------ NaN


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_propagates(pool, dtype):
    x = np.array([[NAN, 1, 5, 6], [2, 3, 7, 8]], dtype=dtype)
    check(pool(x, "max"), [[NAN, 8]], dtype)
    check(pool(x, "min"), [[NAN, 5]], dtype)
    check(pool(x, "avg"), [[NAN, 6.5]], dtype)
    check(pool(x, "sum"), [[NAN, 26]], "float64")
    check(pool(x, "lp", p=1.0), [[NAN, 6.5]], dtype)


def test_nan_propagates_with_padding(pool):
    x = np.array([[1.0, NAN, 2.0]])
    check(
        pool(x, "max", kernel_size=(1, 3), stride=1, padding=(0, 1)), [[NAN, NAN, NAN]], "float64"
    )
    check(pool(x, "min", kernel_size=(1, 2), stride=1), [[NAN, NAN]], "float64")


def test_infinities_in_max_min(pool):
    x = np.array([[INF, -INF, 1, 2]], dtype=np.float32)
    check(pool(x, "max", kernel_size=(1, 2)), [[INF, 2]], "float32")
    check(pool(x, "min", kernel_size=(1, 2)), [[-INF, 1]], "float32")


def test_padding_never_wins_max_or_min(pool):
    neg = np.array([[-5.0, -7.0], [-6.0, -8.0]])
    check(pool(neg, "max", kernel_size=3, stride=1, padding=1), [[-5, -5], [-5, -5]], "float64")
    pos = np.array([[5, 7], [6, 8]], dtype=np.uint8)
    check(pool(pos, "min", kernel_size=3, stride=1, padding=1), [[5, 5], [5, 5]], "uint8")


# ------------------------------------------------------------------ sum and overflow


def test_sum_widens(pool):
    check(pool(np.full((2, 2), 255, np.uint8), "sum"), [[1020]], "int64")
    check(pool(np.full((2, 2), 65535, np.uint16), "sum"), [[262140]], "int64")
    check(pool(np.full((2, 2), I16.min, np.int16), "sum"), [[-131072]], "int64")
    check(pool(np.full((2, 2), I32.max, np.int32), "sum"), [[4 * int(I32.max)]], "int64")
    check(pool(np.ones((3, 3), bool), "sum", kernel_size=3), [[9]], "int64")
    # float32 input sums in float64: 2**24 + 1 is not a float32
    f = np.array([[2.0**24, 1.0]], dtype=np.float32)
    check(pool(f, "sum", kernel_size=(1, 2)), [[2.0**24 + 1]], "float64")


def test_sum_int64_overflow_is_not_silent():
    x = np.full((2, 2), I64.max, np.int64)
    with pytest.raises(ValueError) as info:
        poolcli.pool(x, "sum")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["max", "min", "avg", "median", "mode", "lp"])
def test_uint8_large_kernel_no_overflow(pool, mode):
    x = np.full((16, 16), 255, np.uint8)
    check(pool(x, mode, kernel_size=16), [[255]], "uint8")
    x3 = np.full((17, 17, 3), 255, np.uint8)
    check(pool(x3, mode, kernel_size=16), [[[255, 255, 255]]], "uint8")


def test_uint8_large_kernel_sum(pool):
    check(pool(np.full((16, 16), 255, np.uint8), "sum", kernel_size=16), [[65280]], "int64")


@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("mode", ["avg", "median", "lp"])
def test_uint16_and_int32_extremes(pool, mode, p):
    u = np.full((8, 8), 65535, np.uint16)
    check(pool(u, mode, kernel_size=8, p=p), [[65535]], "uint16")
    i = np.full((4, 4), I32.max, np.int32)
    check(pool(i, mode, kernel_size=4, p=p), [[I32.max]], "int32")


def test_int64_extremes_exact(pool):
    top = np.full((2, 2), I64.max, np.int64)
    check(pool(top, "avg"), [[I64.max]], "int64")
    check(pool(top, "median"), [[I64.max]], "int64")
    bottom = np.full((2, 2), I64.min, np.int64)
    check(pool(bottom, "avg"), [[I64.min]], "int64")
    mixed = np.array([[I64.min, I64.max]], dtype=np.int64)
    check(pool(mixed, "avg", kernel_size=(1, 2)), [[0]], "int64")  # -0.5 -> 0
    check(pool(mixed, "median", kernel_size=(1, 2)), [[0]], "int64")
    near = np.array([[I64.max, I64.max - 1]], dtype=np.int64)
    check(pool(near, "avg", kernel_size=(1, 2)), [[I64.max]], "int64")  # max - 0.5 -> max
    check(pool(near, "median", kernel_size=(1, 2)), [[I64.max]], "int64")
    odd = np.array([[I64.max, I64.max, I64.max - 2]], dtype=np.int64)
    check(pool(odd, "avg", kernel_size=(1, 3)), [[I64.max - 1]], "int64")  # max - 2/3


def test_int64_lp_does_not_wrap():
    x = np.full((2, 2), I64.max, np.int64)
    for p in (1.0, 2.0, 3.0):
        got = poolcli.pool(x, "lp", p=p)
        assert got.dtype == np.int64
        # exact is int64 max; float64 pow may land ~1e-14 relative below it, never wrap
        assert 0 <= int(I64.max) - int(got[0, 0]) <= 2**18


def test_float32_large_values_do_not_overflow():
    big = np.float32(3e38)
    x = np.full((2, 2), big, np.float32)
    check(poolcli.pool(x, "avg"), [[big]], "float32")
    check(poolcli.pool(x, "sum"), [[4 * float(big)]], "float64")
    check(poolcli.pool(x, "median"), [[big]], "float32")
    y = np.full((2, 2), 1e30, np.float32)
    check(poolcli.pool(y, "lp", p=2.0), [[np.float32(1e30)]], "float32")


def test_float64_large_values_do_not_overflow():
    big = 1.7e308
    x = np.full((2, 2), big)
    check(poolcli.pool(x, "avg"), [[big]], "float64")
    check(poolcli.pool(x, "median"), [[big]], "float64")
    check(poolcli.pool(x, "lp", p=2.0), [[big]], "float64")


@pytest.mark.parametrize("mode", ["avg", "sum", "median", "lp"])
def test_opposite_infinities_give_nan_without_warnings(mode):
    # IEEE: inf + -inf is NaN. pytest turns warnings into errors here, as it would for users
    # who run with -W error: the core must not leak numpy's RuntimeWarning.
    x = np.array([[INF, -INF]])
    want = INF if mode == "lp" else NAN  # lp pools |x|: both are +inf
    check(poolcli.pool(x, mode, kernel_size=(1, 2)), [[want]], "float64")


# ------------------------------------------------------------------ bool


BOOL_X = [[1, 1, 0], [1, 1, 0], [1, 0, 0]]  # windows hold 4, 2, 3, 1 True cells
BOOL_CASES = {
    "max": [[1, 1], [1, 1]],
    "min": [[1, 0], [0, 0]],
    "avg": [[1, 1], [1, 0]],  # 2/4 = 0.5 -> up; 1/4 -> 0
    "median": [[1, 1], [1, 0]],  # middle pair (0, 1) -> 0.5 -> up
    "mode": [[1, 0], [1, 0]],  # 2 vs 2 -> False
    "lp": [[1, 1], [1, 1]],  # p=2: sqrt(1/4) = 0.5 exactly -> up
}


@pytest.mark.parametrize("mode", list(BOOL_CASES))
def test_bool_input(pool, mode):
    got = pool(np.array(BOOL_X, dtype=bool), mode, kernel_size=2, stride=1)
    check(got, BOOL_CASES[mode], "bool")


def test_bool_sum_and_lp_p1(pool):
    x = np.array(BOOL_X, dtype=bool)
    check(pool(x, "sum", kernel_size=2, stride=1), [[4, 2], [3, 1]], "int64")
    check(pool(x, "lp", kernel_size=2, stride=1, p=1.0), [[1, 1], [1, 0]], "bool")


# ------------------------------------------------------------------ layout


def test_2d_and_3d(pool):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    for mode in MODE_NAMES:
        y = pool(x, mode, kernel_size=3, stride=2, padding=1)
        assert y.shape == (4, 3, 3)
        y1 = pool(x[:, :, :1], mode, kernel_size=3, stride=2, padding=1)
        y2 = pool(x[:, :, 0], mode, kernel_size=3, stride=2, padding=1)
        assert y1.shape == (4, 3, 1)
        assert y2.shape == (4, 3)
        np.testing.assert_array_equal(y1[:, :, 0], y2)
        if mode not in ("mode", "sparse"):  # every other mode pools each channel on its own
            for c in range(3):
                per_channel = pool(x[:, :, c], mode, kernel_size=3, stride=2, padding=1)
                np.testing.assert_array_equal(y[:, :, c], per_channel)


def _views(base):
    """Non-contiguous views of ``base``'s values, each with the contiguous copy it equals."""
    h, w, c = base.shape
    big = np.zeros((2 * h, 3 * w, 2 * c), base.dtype)
    big[::2, ::3, ::2] = base
    rev = np.ascontiguousarray(base[::-1, ::-1])[::-1, ::-1]
    transposed = np.ascontiguousarray(base.transpose(1, 0, 2)).transpose(1, 0, 2)
    return {
        "steps": big[::2, ::3, ::2],
        "negative": rev,
        "fortran": np.asfortranarray(base),
        "transposed": transposed,
        "channel_slice": big[::2, ::3, ::2][:, :, 1:],
    }


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_non_contiguous_inputs(mode, dtype):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 6, size=(7, 9, 3)).astype(dtype)
    for name, view in _views(base).items():
        assert not view.flags.c_contiguous or name == "fortran", name
        want = poolcli.pool(np.ascontiguousarray(view), mode, kernel_size=3, stride=2)
        got = poolcli.pool(view, mode, kernel_size=3, stride=2)
        np.testing.assert_array_equal(got, want, err_msg=name)
        np.testing.assert_array_equal(got, reference.pool(view, mode, kernel_size=3, stride=2))
    # a 2-D view with negative strides, checked by hand
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=dtype)[::-1, ::-1]  # [[8,7,6,5],[4,3,2,1]]
    if mode == "max":
        check(poolcli.pool(x, mode), [[8, 6]], dtype)
    if mode == "min":
        check(poolcli.pool(x, mode), [[3, 1]], dtype)


@pytest.mark.parametrize("mode", [*MODE_NAMES, "mean"])
def test_input_is_not_modified(mode):
    rng = np.random.default_rng(5)
    for x in (
        rng.integers(0, 256, size=(9, 7, 3)).astype(np.uint8),
        rng.normal(size=(9, 7)),
        rng.integers(-5, 5, size=(6, 5)).astype(np.int16),
    ):
        if x.dtype.kind == "f" and mode not in ("median", "mode"):
            x[0, 0] = np.nan  # SPEC says how NaN pools for these modes only
        before = x.copy()
        poolcli.pool(x, mode, kernel_size=3, stride=2, padding=1)
        np.testing.assert_array_equal(x, before)
        x.setflags(write=False)  # a read-only input must also work
        poolcli.pool(x, mode, kernel_size=3, stride=2, padding=1)


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_output_dtype_and_shape(mode, dtype):
    x = np.zeros((5, 7, 3), dtype=dtype)
    y = poolcli.pool(x, mode)
    assert y.shape == (2, 3, 3)
    if mode == "sum":
        assert y.dtype == (np.float64 if dtype.startswith("float") else np.int64)
    else:
        assert y.dtype == np.dtype(dtype)
    y2 = poolcli.pool(x[:, :, 0], mode, kernel_size=3, stride=1, padding=1)
    assert y2.shape == (5, 7)


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_threads_do_not_change_results(mode):
    rng = np.random.default_rng(13)
    x = rng.integers(0, 8, size=(301, 257, 3)).astype(np.uint8)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1}
    one = poolcli.pool(x, mode, threads=1, **kw)
    np.testing.assert_array_equal(poolcli.pool(x, mode, threads=4, **kw), one, strict=True)
    np.testing.assert_array_equal(poolcli.pool(x, mode, **kw), one, strict=True)
    # a corner of the big image, against the reference
    np.testing.assert_array_equal(
        one[:20, :20], reference.pool(x[:41, :41], mode, **kw)[:20, :20], strict=True
    )


# ------------------------------------------------------------------ geometry


def test_global_pooling(pool):
    x = np.arange(5 * 7 * 2, dtype=np.float64).reshape(5, 7, 2)
    for size in [(1, 1), 1]:
        check(pool(x, "max", output_size=size), [[[68, 69]]], "float64")
        check(pool(x, "avg", output_size=size), [[[34, 35]]], "float64")
        check(pool(x, "sum", output_size=size), [[[1190, 1225]]], "float64")


def test_adaptive_windows(pool):
    # in=5, out=3: [0, 2), [1, 4), [3, 5)
    x = np.array([[1, 2, 3, 4, 5]], dtype=np.float64)
    check(pool(x, "avg", output_size=(1, 3)), [[1.5, 3, 4.5]], "float64")
    check(pool(x, "max", output_size=(1, 3)), [[2, 4, 5]], "float64")
    # in=2, out=3 (upsampling): [0, 1), [0, 2), [1, 2)
    y = np.array([[10], [20]], dtype=np.uint8)
    check(pool(y, "avg", output_size=(3, 1)), [[10], [15], [20]], "uint8")


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "out"),
    [(7, 3, 2, 4), (5, 4, 1, 5), (1, 5, 3, 1), (10, 2, 3, 4), (8, 2, 2, 4), (9, 3, 3, 3)],
)
def test_same_padding_sizes(pool, size, kernel, stride, out):
    x = np.zeros((size, size + 2))
    y = pool(x, "max", kernel_size=kernel, stride=stride, padding="same")
    assert y.shape == (out, -(-(size + 2) // stride))


def test_same_padding_values(pool):
    x = np.array([[3.0, 6.0, 9.0]])
    # k=3: pad 1 + 1; padded cells never count, whatever count_include_pad says
    for cip in (True, False):
        got = pool(x, "avg", kernel_size=(1, 3), stride=1, padding="same", count_include_pad=cip)
        check(got, [[4.5, 6, 7.5]], "float64")
    # k=2: pad 0 before, 1 after
    check(pool(x, "max", kernel_size=(1, 2), stride=1, padding="same"), [[6, 9, 9]], "float64")
    check(pool(x, "avg", kernel_size=(1, 2), stride=1, padding="same"), [[4.5, 7.5, 9]], "float64")


def test_valid_padding_is_zero(pool):
    x = np.arange(35, dtype=np.float64).reshape(5, 7)
    check(pool(x, "avg", kernel_size=3, padding="valid"), pool(x, "avg", kernel_size=3), "float64")
    assert pool(x, "max", kernel_size=3, padding="valid").shape == (1, 2)


def test_count_include_pad(pool):
    x = np.array([[3.0, 6.0, 9.0]])
    kw = {"kernel_size": (1, 3), "stride": 1, "padding": (0, 1)}
    check(pool(x, "avg", **kw), [[3, 6, 5]], "float64")
    check(pool(x, "avg", count_include_pad=False, **kw), [[4.5, 6, 7.5]], "float64")


def test_ceil_mode_overhang_is_never_counted(pool):
    x = np.array([[1.0, 2, 3, 4, 5, 6]])
    kw = {"kernel_size": (1, 3), "stride": (1, 2), "padding": (0, 1), "ceil_mode": True}
    # windows start at -1, 1, 3, 5; the last one is [6, pad, overhang]: divisor 2
    check(pool(x, "avg", **kw), [[1, 3, 5, 3]], "float64")
    check(pool(x, "avg", count_include_pad=False, **kw), [[1.5, 3, 5, 6]], "float64")
    check(pool(x, "max", **kw), [[2, 4, 6, 6]], "float64")
    # without padding, the overhang alone
    y = np.array([[1.0, 2, 3, 4, 5]])
    check(pool(y, "avg", kernel_size=(1, 2), ceil_mode=True), [[1.5, 3.5, 5]], "float64")
    check(pool(y, "avg", kernel_size=(1, 2)), [[1.5, 3.5]], "float64")


def test_ceil_mode_drops_a_window_starting_in_padding(pool):
    # in=5, k=2, s=2, pad=1: floor((5+2-2+1)/2)+1 = 4, but window 3 starts at 6-1 = 5 >= in
    x = np.zeros((1, 5))
    assert pool(x, "max", kernel_size=(1, 2), padding=(0, 1), ceil_mode=True).shape == (1, 3)


def test_dilation(pool):
    x = np.array([[1, 2, 3, 4, 5]], dtype=np.int32)
    kw = {"kernel_size": (1, 2), "stride": 1, "dilation": (1, 2)}
    check(pool(x, "max", **kw), [[3, 4, 5]], "int32")
    check(pool(x, "sum", **kw), [[4, 6, 8]], "int64")


def test_one_pixel_images(pool):
    x = np.array([[8]], dtype=np.uint8)
    check(pool(x, "max", kernel_size=1), [[8]], "uint8")
    check(pool(x, "max", kernel_size=2, padding=1), [[8]], "uint8")
    check(pool(x, "avg", kernel_size=2, padding=1), [[2]], "uint8")  # 8 / 4 padded cells
    check(pool(x, "avg", kernel_size=2, padding=1, count_include_pad=False), [[8]], "uint8")
    check(pool(x, "median", kernel_size=5, padding="same"), [[8]], "uint8")
    check(pool(x, "mode", output_size=(1, 1)), [[8]], "uint8")
    rgb = np.array([[[1, 2, 3]]], dtype=np.float32)
    check(pool(rgb, "lp", kernel_size=3, padding=1), [[[1, 2, 3]]], "float32")


def test_image_smaller_than_window_with_padding(pool):
    x = np.array([[1, 5, 3]], dtype=np.int16)  # H=1 < kernel 3
    check(pool(x, "max", kernel_size=3, stride=1, padding=1), [[5, 5, 5]], "int16")
    check(pool(x, "sum", kernel_size=3, stride=1, padding=1), [[6, 9, 8]], "int64")


def test_rectangular_odd_sizes(pool):
    x = np.arange(1, 36, dtype=np.int32).reshape(5, 7)
    # kernel (2, 3) stride (2, 3): rows [0,2) [2,4); cols [0,3) [3,6)
    check(pool(x, "max", kernel_size=(2, 3)), [[10, 13], [24, 27]], "int32")
    check(
        pool(x, "min", kernel_size=(2, 3), ceil_mode=True),
        [[1, 4, 7], [15, 18, 21], [29, 32, 35]],
        "int32",
    )


def test_stride_defaults_to_kernel(pool):
    x = np.arange(36, dtype=np.float64).reshape(6, 6)
    assert pool(x, "max", kernel_size=3).shape == (2, 2)
    assert pool(x, "max").shape == (3, 3)
    check(pool(x, "max", kernel_size=3, stride=None), [[14, 17], [32, 35]], "float64")


# ------------------------------------------------------------------ errors


def _numbers(message: str) -> set[int]:
    return {int(m) for m in re.findall(r"-?\d+", message)}


def _raises(x, mode, **kwargs) -> ValueError:
    with pytest.raises(ValueError) as info:
        poolcli.pool(x, mode, **kwargs)
    err = info.value
    assert isinstance(err, poolcli.PoolError)
    message = str(err)
    assert message and "\n" not in message, repr(message)
    return err


WINDOW_ERRORS = [
    ({"kernel_size": 7}, [3, 5, 7]),  # larger than the input
    ({"kernel_size": (2, 6)}, [3, 5, 6]),
    ({"kernel_size": 2, "dilation": 5}, [3, 5]),  # effective window 6
    ({"kernel_size": 3, "padding": 2}, [3, 5, 2]),  # padding beyond half the window
    ({"kernel_size": (3, 3), "padding": (0, 2)}, [3, 5]),
    ({"kernel_size": 0}, [3, 5, 0]),
    ({"kernel_size": -2}, [3, 5]),
    ({"kernel_size": 2, "stride": 0}, [3, 5, 0]),
    ({"kernel_size": 2, "stride": (1, -1)}, [3, 5]),
    ({"kernel_size": 2, "dilation": 0}, [3, 5, 0]),
    ({"kernel_size": 3, "padding": -1}, [3, 5]),
    ({"output_size": 0}, [3, 5, 0]),
    ({"output_size": (2, 0)}, [3, 5]),
]


@pytest.mark.parametrize(("kwargs", "numbers"), WINDOW_ERRORS)
def test_window_errors_name_shape_and_window(kwargs, numbers):
    x = np.zeros((3, 5), np.uint8)
    err = _raises(x, "max", **kwargs)
    assert isinstance(err, poolcli.WindowError)
    assert set(numbers) <= _numbers(str(err)), str(err)
    with pytest.raises(ValueError):
        reference.pool(x, "max", **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"output_size": 2, "kernel_size": 3},
        {"output_size": 2, "stride": 1},
        {"output_size": 2, "padding": 1},
        {"output_size": 2, "padding": "same"},
        {"output_size": 2, "dilation": 2},
        {"output_size": 2, "ceil_mode": True},
        {"padding": "full"},
        {"kernel_size": (2, 2, 2)},
    ],
)
def test_bad_argument_combinations(kwargs):
    x = np.zeros((4, 4))
    _raises(x, "avg", **kwargs)
    with pytest.raises(ValueError):
        reference.pool(x, "avg", **kwargs)


def test_unknown_mode():
    err = _raises(np.zeros((4, 4)), "maximum")
    assert isinstance(err, poolcli.UnsupportedError)
    assert "maximum" in str(err)


@pytest.mark.parametrize("dtype", ["int8", "uint32", "uint64", "float16", "complex128", "object"])
def test_unsupported_dtype(dtype):
    x = np.zeros((4, 4), dtype=dtype)
    err = _raises(x, "max")
    assert isinstance(err, poolcli.UnsupportedError)
    assert str(np.dtype(dtype)) in str(err)


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2, 2), (0, 4), (4, 0), (0, 0, 3)])
def test_bad_shapes(shape):
    _raises(np.zeros(shape), "max")


@pytest.mark.parametrize("p", [0.0, -1.0])
def test_lp_needs_positive_p(p):
    _raises(np.zeros((4, 4)), "lp", p=p)


# ------------------------------------------------------------------ registry


def test_modes_registry():
    assert list(poolcli.MODES) == MODE_NAMES
    for name, info in poolcli.MODES.items():
        assert info.name == name
        assert info.summary and "\n" not in info.summary
    assert poolcli.MODES["avg"].aliases == ("mean",)
    assert "mean" not in poolcli.MODES
    assert all(poolcli.MODES[m].aliases == () for m in MODE_NAMES if m != "avg")


def test_resolve_mode():
    from poolcli.core.modes import resolve_mode

    assert resolve_mode("mean") == "avg"
    for name in MODE_NAMES:
        assert resolve_mode(name) == name
    with pytest.raises(poolcli.UnsupportedError):
        resolve_mode("bogus")


def test_mean_alias_equals_avg():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, size=(9, 7, 2), dtype=np.uint8)
    np.testing.assert_array_equal(
        poolcli.pool(x, "mean", kernel_size=3, padding=1),
        poolcli.pool(x, "avg", kernel_size=3, padding=1),
    )


def test_median_of_an_odd_count_is_its_middle_value_also_when_subnormal() -> None:
    # The last window holds three real cells (two are padding): it takes the gathering path,
    # whose even-count mean must not touch an odd count's middle value (5e-324 halved is 0).
    x = np.array([[0.0, 0.0, 0.0, 0.0, 5e-324, 5e-324, 1.0]])
    got = poolcli.pool(x, "median", kernel_size=(1, 5), stride=1, padding=(0, 2))
    assert got[0, -1] == 5e-324
