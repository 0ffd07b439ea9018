"""``poolcli.pool`` against the slow reference in ``tests/reference.py`` on random inputs.

Hypothesis draws the shape (odd sizes, 1-pixel images, images smaller than the window with the
padding that makes them fit, 2-D and C = 1..5), the dtype, the values (narrow ranges so that
mode and median ties happen, full ranges with each dtype's extremes, NaN for floats) and every
geometry parameter, then requires:

- integers and bool: the same dtype, shape and exact values (integer ``lp`` may differ by one
  only within 1e-9 of a rounding tie that float arithmetic cannot resolve, and on int64 by
  float64's precision);
- floats: NaN in the same places, max/min/mode exactly, the rest within a few ulps.

Cases the SPEC leaves open are not drawn: a dilated window that falls entirely into padding
(``reference.NoRealCells``), int64 sums that cannot fit int64, NaN for median/mode, negative
values for lp (SPEC writes ``x**p``, the brief ``|x|**p``), ``padding="same"`` with ceil_mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import poolcli
import reference
from poolcli.core import pool as core

MODES = ["max", "min", "avg", "mean", "sum", "median", "mode", "lp"]
DTYPES = ["bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64"]
SETTINGS = settings(
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Case:
    """One call: the input array, the mode and the keyword arguments."""

    x: np.ndarray
    mode: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        return (
            f"Case(x=np.array({self.x.tolist()!r}, dtype={str(self.x.dtype)!r}), "
            f"mode={self.mode!r}, kwargs={self.kwargs!r})  # shape {self.x.shape}"
        )


# ------------------------------------------------------------------ values


def _extremes(dtype: np.dtype) -> list[Any]:
    if dtype.kind == "b":
        return [False, True]
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return sorted({int(info.min), int(info.max), 0, 1, int(info.max) - 1, int(info.min) + 1})
    return [0.0, -0.0, 1.0, -1.0, 0.5, 1000.0, -1000.0]


@st.composite
def elements(draw, dtype: np.dtype, mode: str) -> st.SearchStrategy:
    """An element strategy: narrow ranges (ties) or full ranges with the dtype's extremes."""
    nonneg = mode == "lp"
    kind = draw(st.sampled_from(["narrow", "full"]))
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = int(info.min), int(info.max)
        if mode == "sum" and dtype == np.int64:
            lo, hi = lo // 128, hi // 128  # at most 81 cells per window: the sum fits int64
        if nonneg:
            lo = max(lo, 0)
        if kind == "narrow":
            base = 0 if dtype.kind == "u" or nonneg else -2
            return st.integers(base, base + 3)
        extremes = [v for v in _extremes(dtype) if lo <= v <= hi] + [lo, hi]
        return st.one_of(st.sampled_from(extremes), st.integers(lo, hi))
    width = 32 if dtype == np.float32 else 64
    allow_nan = mode not in ("median", "mode")
    if kind == "narrow":
        values = [0.0, 1.0, 2.0, 0.5] if nonneg else [-1.0, 0.0, 1.0, 2.0, 0.5]
        strategy = st.sampled_from(values)
    else:
        lo = 0.0 if nonneg else -1000.0
        specials = [v for v in _extremes(dtype) if v >= lo]
        quarters = st.integers(int(lo) * 4, 4000).map(lambda q: q / 4)
        strategy = st.one_of(
            st.sampled_from(specials),
            quarters,
            st.floats(lo, 1000.0, width=width, allow_subnormal=False),
        )
    if allow_nan and draw(st.booleans()):
        strategy = st.one_of(strategy, st.just(float("nan")))
    return strategy


def _layout(draw, x: np.ndarray) -> np.ndarray:
    """The same values as x, sometimes as a non-contiguous view or in Fortran order."""
    how = draw(st.sampled_from(["c", "c", "fortran", "reversed", "strided"]))
    if how == "fortran":
        return np.asfortranarray(x)
    if how == "reversed":
        return np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]
    if how == "strided":
        big = np.zeros((x.shape[0] * 2, *x.shape[1:]), dtype=x.dtype)
        big[::2] = x
        return big[::2]
    return x


# ------------------------------------------------------------------ parameters


def _one_or_pair(draw, a: int, b: int) -> int | tuple[int, int]:
    return a if a == b and draw(st.booleans()) else (a, b)


@st.composite
def geometry(draw) -> tuple[dict[str, Any], tuple[int, int]]:
    """Valid keyword arguments and an input (H, W) they fit."""
    if draw(st.integers(0, 4)) == 0:  # adaptive
        h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
        oh, ow = draw(st.integers(1, h + 2)), draw(st.integers(1, w + 2))
        return {"output_size": _one_or_pair(draw, oh, ow)}, (h, w)
    kwargs: dict[str, Any] = {}
    pad_kind = draw(st.sampled_from(["none", "int", "pair", "pair", "same", "valid"]))
    ks, ss, ds, ps, sizes = [], [], [], [], []
    for _axis in range(2):
        k = draw(st.integers(1, 4))
        s = draw(st.integers(1, 4))
        d = draw(st.sampled_from([1, 1, 1, 2, 3]))
        eff = d * (k - 1) + 1
        pad = draw(st.integers(0, eff // 2)) if pad_kind in ("int", "pair") else 0
        if pad_kind == "same":
            low = 1
        else:
            low = max(1, eff - 2 * pad)  # as small as the padded window allows
        size = draw(st.one_of(st.integers(low, low + 2), st.integers(low, max(low, 9))))
        ks.append(k), ss.append(s), ds.append(d), ps.append(pad), sizes.append(size)
    if pad_kind == "int":
        ps[1] = ps[0] = min(ps)
        for axis in range(2):  # the shared padding must still fit both axes
            eff = ds[axis] * (ks[axis] - 1) + 1
            sizes[axis] = max(sizes[axis], eff - 2 * ps[0])
    if not (ks == [2, 2] and draw(st.booleans())):
        kwargs["kernel_size"] = _one_or_pair(draw, *ks)
    if draw(st.integers(0, 3)) > 0:
        kwargs["stride"] = _one_or_pair(draw, *ss)
    else:
        ss = ks  # stride defaults to the kernel
    if ds != [1, 1] or draw(st.booleans()):
        kwargs["dilation"] = _one_or_pair(draw, *ds)
    if pad_kind in ("same", "valid"):
        kwargs["padding"] = pad_kind
    elif pad_kind == "int":
        kwargs["padding"] = ps[0]
    elif pad_kind == "pair":
        kwargs["padding"] = tuple(ps)
    if pad_kind != "same" and draw(st.booleans()):
        kwargs["ceil_mode"] = True
    if draw(st.booleans()):
        kwargs["count_include_pad"] = draw(st.booleans())
    return kwargs, (sizes[0], sizes[1])


@st.composite
def cases(draw, modes=tuple(MODES), dtypes=tuple(DTYPES)) -> Case:
    mode = draw(st.sampled_from(modes))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    kwargs, (h, w) = draw(geometry())
    channels = draw(st.sampled_from([None, 1, 2, 3, 4, 5]))
    shape = (h, w) if channels is None else (h, w, channels)
    x = draw(hnp.arrays(dtype, shape, elements=draw(elements(dtype, mode))))
    if mode == "lp":
        kwargs["p"] = draw(
            st.one_of(
                st.sampled_from([1.0, 2.0, 3.0, 4.0, 0.5, 1.5, 2.5]),
                st.floats(0.25, 5.0).map(lambda p: round(p, 2)),
            )
        )
    return Case(_layout(draw, x), mode, kwargs)


# ------------------------------------------------------------------ comparison


def _expected(case: Case) -> np.ndarray:
    try:
        return reference.pool(case.x, case.mode, **case.kwargs)
    except reference.NoRealCells:
        assume(False)  # SPEC does not say what a window of padding alone gives
        raise


def check_pool(case: Case) -> None:
    """poolcli.pool(case) equals the reference (cases SPEC leaves open are skipped first)."""
    want = _expected(case)
    got = poolcli.pool(case.x, case.mode, **case.kwargs)
    assert isinstance(got, np.ndarray)
    assert got.dtype == want.dtype, f"dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    kind = case.x.dtype.kind
    if kind in "biu":  # lp included: exact ties are decided exactly
        np.testing.assert_array_equal(got, want, strict=True)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg="NaN positions")
    if case.mode in ("max", "min", "mode"):
        np.testing.assert_array_equal(got, want)
        return
    eps = float(np.finfo(case.x.dtype).eps)
    finite = case.x[np.isfinite(case.x)]
    scale = float(np.abs(finite).max()) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=16 * eps, atol=64 * eps * scale, equal_nan=True)


# ------------------------------------------------------------------ the tests


def _x(values, dtype) -> np.ndarray:
    return np.array(values, dtype=dtype)


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(data=st.data())
def test_pool_matches_reference(mode, data):
    check_pool(data.draw(cases(modes=(mode,))))


@SETTINGS
@given(case=cases())
@example(Case(_x([[7]], "uint8"), "avg", {"kernel_size": 2, "padding": 1}))
@example(Case(_x([[5, 1, 4]], "int16"), "median", {"kernel_size": 3, "stride": 1, "padding": 1}))
@example(Case(_x([[1, 2, 3, 4, 5]] * 3, "uint8"), "max", {"kernel_size": 2, "ceil_mode": True}))
@example(Case(_x([[1, 1, 2, 2]], "int32"), "mode", {"kernel_size": (1, 4)}))
@example(Case(_x([[-2, -3]], "int16"), "avg", {"kernel_size": (1, 2)}))
@example(Case(_x([[0, 1, 1, 0]], "bool"), "lp", {"kernel_size": (1, 4), "p": 2.0}))
@example(Case(_x([[1.5]] * 3, "float32"), "avg", {"output_size": (2, 1)}))
def test_pool_matches_reference_any_mode(case):
    check_pool(case)


@SETTINGS
@given(case=cases(dtypes=("uint8", "float64")))
def test_output_shape_matches_pool(case):
    geometry_kwargs = {k: v for k, v in case.kwargs.items() if k not in ("count_include_pad", "p")}
    _expected(case)  # skips the cases SPEC leaves open
    want = reference.output_hw(case.x.shape[:2], **geometry_kwargs)
    assert core.output_shape(case.x.shape[:2], **geometry_kwargs) == want
    assert poolcli.pool(case.x, case.mode, **case.kwargs).shape[:2] == want


# No shrinking: large arrays shrink slowly, and the small-shape tests give minimal examples.
@settings(SETTINGS, max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_pool_matches_reference_on_larger_images(data):
    """Sizes where a vectorised or threaded implementation may take another path."""
    mode = data.draw(st.sampled_from(MODES))
    dtype = np.dtype(data.draw(st.sampled_from(DTYPES)))
    h, w = data.draw(st.integers(17, 41)), data.draw(st.integers(17, 41))
    if data.draw(st.booleans()):
        kwargs: dict[str, Any] = {"output_size": (data.draw(st.integers(1, 9)), 5)}
    else:
        k = data.draw(st.integers(2, 5))
        kwargs = {"kernel_size": (k, data.draw(st.integers(1, 5))), "stride": (2, 3)}
        kwargs["padding"] = data.draw(st.sampled_from([0, (k // 2, 0), "same"]))
        kwargs["ceil_mode"] = kwargs["padding"] != "same" and data.draw(st.booleans())
    shape = data.draw(st.sampled_from([(h, w), (h, w, 1), (h, w, 3)]))
    x = data.draw(hnp.arrays(dtype, shape, elements=data.draw(elements(dtype, mode))))
    if mode == "lp":
        kwargs["p"] = data.draw(st.sampled_from([1.0, 2.0, 3.0, 1.5]))
    check_pool(Case(x, mode, kwargs))


# ------------------------------------------------------------------ invalid arguments

BAD_DTYPES = ["int8", "uint32", "uint64", "float16", "complex64"]


@st.composite
def maybe_invalid(draw) -> Case:
    """Arguments around the edges of validity: zero, negative, too large, combined."""
    h, w = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    dtype = draw(st.sampled_from(DTYPES + BAD_DTYPES))
    mode = draw(st.sampled_from([*MODES, "maximum", "", "modes"]))
    x = np.zeros((h, w) if draw(st.booleans()) else (h, w, 2), dtype=dtype)
    size = st.integers(-1, 7)
    pair = st.one_of(size, st.tuples(size, size))
    kwargs: dict[str, Any] = {}
    if draw(st.booleans()):
        kwargs["output_size"] = draw(pair)
    if draw(st.booleans()):
        kwargs["kernel_size"] = draw(pair)
    if draw(st.booleans()):
        kwargs["stride"] = draw(pair)
    if draw(st.booleans()):
        kwargs["dilation"] = draw(st.one_of(st.integers(0, 3), st.tuples(size, size)))
    if draw(st.booleans()):
        kwargs["padding"] = draw(
            st.one_of(
                st.integers(-1, 4), st.tuples(size, size), st.sampled_from(["same", "valid", "x"])
            )
        )
    if draw(st.booleans()) and kwargs.get("padding") != "same":
        kwargs["ceil_mode"] = True
    if mode == "lp":
        kwargs["p"] = draw(st.sampled_from([2.0, 1.0, 0.0, -1.0, 0.5]))
    # combinations whose legality SPEC leaves to taste: defaults passed next to output_size
    if "output_size" in kwargs:
        assume(kwargs.get("kernel_size", 3) != 2)
        assume(kwargs.get("padding", 1) not in (0, (0, 0), "valid"))
        assume(kwargs.get("dilation", 2) not in (1, (1, 1)))
        assume(kwargs.get("kernel_size", 3) != (2, 2))
    return Case(x, mode, kwargs)


@settings(SETTINGS, max_examples=600)
@given(case=maybe_invalid())
def test_invalid_arguments_raise_value_error(case):
    try:
        want = reference.pool(case.x, case.mode, **case.kwargs)
    except reference.NoRealCells:
        assume(False)
        raise
    except ValueError:
        with pytest.raises(ValueError) as info:
            poolcli.pool(case.x, case.mode, **case.kwargs)
        assert "\n" not in str(info.value)
        return
    got = poolcli.pool(case.x, case.mode, **case.kwargs)
    assert got.shape == want.shape
    assert got.dtype == want.dtype


# ------------------------------------------------------------------ signals and volumes
# 1, 2 or 3 spatial axes (the window given as tuples), odd sizes, 1-cell axes, windows larger
# than an axis with the padding that makes them fit, no channel axis or C = 0..4, every mode
# (sparse with a drawn background) and dtype: the same comparison as above.

ND_MODES = ["max", "min", "avg", "sum", "median", "mode", "lp", "sparse"]
ND_SETTINGS = settings(SETTINGS, max_examples=120)


@st.composite
def nd_geometry(draw, ndim: int) -> tuple[dict[str, Any], tuple[int, ...]]:
    """Valid window arguments for ``ndim`` spatial axes (always tuples, so pool sees ndim) and
    a spatial shape they fit: odd sizes, 1-cell axes, windows larger than the axis with padding."""
    if draw(st.integers(0, 4)) == 0:
        shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
        out = tuple(draw(st.one_of(st.integers(1, n + 2), st.none())) for n in shape)
        if all(o is None for o in out) or draw(st.booleans()):
            out = tuple(o or 1 for o in out)
        return {"output_size": out}, shape
    pad_kind = draw(st.sampled_from(["none", "tuple", "tuple", "same", "valid"]))
    ks, ss, ds, ps, shape = [], [], [], [], []
    for _ in range(ndim):
        k = draw(st.integers(1, 3 if ndim == 3 else 4))
        s = draw(st.integers(1, 3))
        d = draw(st.sampled_from([1, 1, 2]))
        eff = d * (k - 1) + 1
        pad = draw(st.integers(0, eff // 2)) if pad_kind == "tuple" else 0
        low = 1 if pad_kind == "same" else max(1, eff - 2 * pad)
        shape.append(draw(st.integers(low, low + (2 if ndim == 3 else 6))))
        ks.append(k), ss.append(s), ds.append(d), ps.append(pad)
    kwargs: dict[str, Any] = {"kernel_size": tuple(ks)}
    if draw(st.booleans()):
        kwargs["stride"] = tuple(ss)
    if ds != [1] * ndim or draw(st.booleans()):
        kwargs["dilation"] = tuple(ds)
    if pad_kind in ("same", "valid"):
        kwargs["padding"] = pad_kind
    elif pad_kind == "tuple":
        kwargs["padding"] = tuple(ps)
    if pad_kind != "same" and draw(st.booleans()):
        kwargs["ceil_mode"] = True
    if draw(st.booleans()):
        kwargs["count_include_pad"] = draw(st.booleans())
    return kwargs, tuple(shape)


@st.composite
def nd_cases(draw, modes=tuple(ND_MODES), ndims=(1, 3)) -> Case:
    mode = draw(st.sampled_from(modes))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    ndim = draw(st.sampled_from(ndims))
    kwargs, spatial = draw(nd_geometry(ndim))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    shape = spatial if channels is None else (*spatial, channels)
    element_mode = "mode" if mode == "sparse" else mode  # no NaN labels
    x = draw(hnp.arrays(dtype, shape, elements=draw(elements(dtype, element_mode))))
    if mode == "lp":
        kwargs["p"] = draw(st.sampled_from([1.0, 2.0, 3.0, 0.5, 1.5]))
    if mode == "sparse" and draw(st.booleans()):
        values = x.reshape(-1).tolist()
        kwargs["background"] = draw(st.sampled_from(values)) if values else 1
        if dtype == np.bool_:
            kwargs["background"] = int(kwargs["background"])
    return Case(x, mode, kwargs)


def _nd(values, dtype) -> np.ndarray:
    return np.array(values, dtype=dtype)


@ND_SETTINGS
@given(case=nd_cases())
@example(Case(_nd([3], "uint8"), "avg", {"kernel_size": (3,), "padding": (1,)}))
@example(Case(_nd([[[1]]], "int16"), "max", {"kernel_size": (2, 3, 1), "padding": (1, 1, 0)}))
@example(Case(_nd([[[0, 0], [2, 2]]], "uint8"), "sparse", {"kernel_size": (1, 2, 2)}))
@example(Case(_nd([[[1.5]]] * 3, "float32"), "avg", {"output_size": (2, None, 1)}))
def test_pool_matches_reference_1d_3d(case: Case) -> None:
    check_pool(case)


@ND_SETTINGS
@given(data=st.data())
def test_pool_matches_reference_any_axes_any_mode(data) -> None:
    mode = data.draw(st.sampled_from(ND_MODES))
    check_pool(data.draw(nd_cases(modes=(mode,), ndims=(1, 2, 3))))


@settings(ND_SETTINGS, max_examples=40)
@given(data=st.data())
def test_no_channels_or_zero_channels(data) -> None:
    """``C = 0`` gives an empty result of the output shape; no channel axis drops it."""
    ndim = data.draw(st.sampled_from([1, 2, 3]))
    kwargs, spatial = data.draw(nd_geometry(ndim))
    mode = data.draw(st.sampled_from(ND_MODES))
    try:
        want = reference.output_shape(
            spatial, **{k: v for k, v in kwargs.items() if k != "count_include_pad"}
        )
        reference.pool(np.zeros(spatial, np.uint8), mode, **kwargs)
    except reference.NoRealCells:
        assume(False)
    got = poolcli.pool(np.zeros((*spatial, 0), np.int16), mode, **kwargs)
    assert got.shape == (*want, 0)
    assert (
        core.output_shape(spatial, **{k: v for k, v in kwargs.items() if k != "count_include_pad"})
        == want
    )


# No shrinking: large arrays shrink slowly; the small-shape tests give minimal examples.
@settings(SETTINGS, max_examples=30, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_pool_matches_reference_on_larger_volumes(data) -> None:
    """Sizes where the banded, threaded and network paths run (interior boxes, several bands)."""
    mode = data.draw(st.sampled_from(ND_MODES))
    dtype = np.dtype(data.draw(st.sampled_from(["uint8", "int16", "float32", "float64"])))
    ndim = data.draw(st.sampled_from([1, 3]))
    spatial = (
        (data.draw(st.integers(40, 90)),)
        if ndim == 1
        else tuple(data.draw(st.integers(5, 11)) for _ in range(3))
    )
    if data.draw(st.booleans()):
        kwargs: dict[str, Any] = {
            "output_size": tuple(data.draw(st.integers(1, 4)) for _ in spatial)
        }
    else:
        k = tuple(data.draw(st.integers(1, 3)) for _ in spatial)
        kwargs = {
            "kernel_size": k,
            "stride": tuple(data.draw(st.integers(1, 3)) for _ in spatial),
        }
        kwargs["padding"] = data.draw(st.sampled_from([0, tuple(v // 2 for v in k), "same"]))
        kwargs["ceil_mode"] = kwargs["padding"] != "same" and data.draw(st.booleans())
    channels = data.draw(st.sampled_from([None, 1, 3]))
    shape = spatial if channels is None else (*spatial, channels)
    elem = "mode" if mode == "sparse" else mode
    x = data.draw(hnp.arrays(dtype, shape, elements=data.draw(elements(dtype, elem))))
    if mode == "lp":
        kwargs["p"] = data.draw(st.sampled_from([1.0, 2.0, 1.5]))
    threads = data.draw(st.sampled_from([None, 1, 3]))
    case = Case(x, mode, kwargs)
    check_pool(case)
    if threads:
        got = poolcli.pool(x, mode, **kwargs, threads=threads)
        np.testing.assert_array_equal(got, poolcli.pool(x, mode, **kwargs))
