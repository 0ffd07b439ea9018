"""A slow, obvious reference implementation of SPEC.md §1 (``poolcli.pool``), for tests only.

It shares no code with ``poolcli.core`` on purpose: it loops over output cells and channels,
lists the real input cells of every window from the per-axis rule of SPEC §1, and computes each
value with Python ints, ``Fraction`` and ``Decimal`` so integer results are exact. Speed does not
matter here; being easy to check against the SPEC by eye does.

Two situations the SPEC leaves open raise their own (non-``ValueError``) exceptions so tests can
skip them instead of guessing:

- :class:`NoRealCells`: with dilation, a window can fall entirely between real cells
  (e.g. ``in=1, kernel=2, dilation=2, padding=1``).
- :class:`SumOverflow`: an ``int64`` ``sum`` whose exact value does not fit in ``int64``.

>>> import numpy as np
>>> pool(np.array([[1, 2], [3, 5]], dtype=np.uint8), "avg").tolist()
[[3]]
>>> output_hw((7, 5), kernel_size=3, stride=2, padding=1)
(4, 3)
>>> pool(np.array([[[1, 2], [3, 5]], [[0, 0], [0, 9]]], dtype=np.uint8), "max", (2, 2, 2)).tolist()
[[[9]]]
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np

MODE_NAMES = ("max", "min", "avg", "sum", "median", "mode", "lp", "sparse")
ALIASES = {"mean": "avg"}
DTYPES = tuple(
    np.dtype(name)
    for name in (
        "bool",
        "uint8",
        "uint16",
        "int16",
        "int32",
        "int64",
        "float32",
        "float64",
    )
)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

# The brief gives lp as the power mean of |x| (SPEC's table writes x**p). Only negative inputs
# can tell the two apart; the property tests feed lp non-negative values.
LP_USES_ABS = True


class NoRealCells(Exception):
    """A window without any real cell (only possible with dilation): SPEC §1 does not say."""


class SumOverflow(Exception):
    """An exact int64 ``sum`` that does not fit in int64: SPEC only says "never wrapped"."""


# --------------------------------------------------------------------------- arguments


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _sizes(value: Any, name: str, minimum: int, n: int) -> tuple[int, ...]:
    """An int or a tuple of n, each >= minimum, as a tuple of n ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a tuple of {n}, got {value!r}")
        items = tuple(value)
    else:
        items = (value,) * n
    for v in items:
        if not _is_int(v):
            raise ValueError(f"{name} must be an int or a tuple of {n}, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def spatial_ndim(**window: Any) -> int:
    """Spatial axes of a call: the length of the tuples among the window arguments, else 2."""
    names = ("kernel_size", "stride", "padding", "dilation", "output_size")
    lengths = {len(window[k]) for k in names if isinstance(window.get(k), (tuple, list))}
    if len(lengths) > 1:
        raise ValueError(f"window tuples of different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 2


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class AxisWindow:
    """One window along one axis."""

    real: tuple[int, ...]  # input indices of the window's real cells, in order
    counted: int  # cells the avg divisor counts when count_include_pad applies


def axis_windows(
    n: int, kernel: int, stride: int, pad: int | str, dilation: int, ceil_mode: bool
) -> list[AxisWindow]:
    """Windows along one axis of length ``n`` (SPEC §1 'Output size' and 'same'/'valid')."""
    eff = dilation * (kernel - 1) + 1
    if pad == "valid":
        pad = 0
    if pad == "same":
        # TensorFlow: out = ceil(in / stride); padded cells never count.
        out = -(-n // stride)
        total = max((out - 1) * stride + eff - n, 0)
        before = total // 2
        windows = []
        for i in range(out):
            positions = [i * stride - before + j * dilation for j in range(kernel)]
            real = tuple(q for q in positions if 0 <= q < n)
            windows.append(AxisWindow(real, len(real)))
        return windows
    assert isinstance(pad, int)
    if pad > eff // 2:
        raise ValueError(
            f"padding {pad} is more than half the effective window {eff} (axis of length {n})"
        )
    # PyTorch's rule with floor division: in ceil_mode a window larger than the padded input
    # is a window as long as one starts inside it (out >= 1).
    out = (n + 2 * pad - eff + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
    if out < 1:
        raise ValueError(f"window {eff} is larger than the padded input {n} + 2*{pad}")
    windows = []
    for i in range(out):
        positions = [i * stride - pad + j * dilation for j in range(kernel)]
        real = tuple(q for q in positions if 0 <= q < n)
        # count_include_pad: padding inside [-pad, n + pad) counts, the ceil overhang never.
        counted = sum(1 for q in positions if -pad <= q < n + pad)
        windows.append(AxisWindow(real, counted))
    return windows


def adaptive_windows(n: int, out: int) -> list[AxisWindow]:
    """Adaptive windows: window i spans [floor(i*n/out), ceil((i+1)*n/out))."""
    windows = []
    for i in range(out):
        start = (i * n) // out
        stop = -(-((i + 1) * n) // out)
        real = tuple(range(start, stop))
        windows.append(AxisWindow(real, len(real)))
    return windows


def _geometry(
    shape: tuple[int, ...],
    kernel_size: Any = 2,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    output_size: Any = None,
) -> tuple[list[list[AxisWindow]], bool]:
    """The windows of every spatial axis of ``shape``, and whether padding may count in the avg
    divisor."""
    n = len(shape)
    if min(shape) < 1:
        raise ValueError(f"input of size {shape} has no cell to pool")
    if output_size is not None:
        combined = [
            name
            for name, given, default in (
                ("kernel_size", kernel_size, 2),
                ("stride", stride, None),
                ("padding", padding, 0),
                ("dilation", dilation, 1),
                ("ceil_mode", ceil_mode, False),
            )
            if given != default
        ]
        if combined:
            raise ValueError(f"output_size excludes {', '.join(combined)}")
        items = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * n
        # None keeps that axis's size, as in PyTorch's adaptive pools.
        outs = (
            _sizes(
                tuple(size if o is None else o for size, o in zip(shape, items, strict=False)),
                "output_size",
                1,
                n,
            )
            if len(items) == n
            else _sizes(output_size, "output_size", 1, n)
        )
        return [adaptive_windows(size, o) for size, o in zip(shape, outs, strict=True)], False
    ks = _sizes(kernel_size, "kernel_size", 1, n)
    ss = ks if stride is None else _sizes(stride, "stride", 1, n)
    ds = _sizes(dilation, "dilation", 1, n)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be an int, a tuple, 'same' or 'valid': {padding!r}")
        ps: tuple[int | str, ...] = (padding,) * n
    else:
        ps = _sizes(padding, "padding", 0, n)
    axes = [
        axis_windows(size, k, s, p, d, ceil_mode)
        for size, k, s, p, d in zip(shape, ks, ss, ps, ds, strict=True)
    ]
    return axes, padding != "same"


def output_shape(in_shape: tuple[int, ...], **geometry: Any) -> tuple[int, ...]:
    """Output spatial shape for an input of spatial shape ``in_shape``; raises like ``pool``."""
    axes, _ = _geometry(tuple(in_shape), **geometry)
    return tuple(len(a) for a in axes)


def output_hw(in_hw: tuple[int, int], **geometry: Any) -> tuple[int, int]:
    """Output (oh, ow) for an input of size in_hw; raises ValueError like :func:`pool`."""
    oh, ow = output_shape(in_hw, **geometry)
    return oh, ow


# --------------------------------------------------------------------------- values


def _float_sum(values: list[float]) -> float:
    """Exact sum of floats rounded once; NaN/inf follow IEEE rules."""
    if any(math.isnan(v) for v in values):
        return math.nan
    pos_inf = any(v == math.inf for v in values)
    neg_inf = any(v == -math.inf for v in values)
    if pos_inf and neg_inf:
        return math.nan
    if pos_inf or neg_inf:
        return math.inf if pos_inf else -math.inf
    return _to_float(sum((Fraction(v) for v in values), Fraction(0)))


def _to_float(q: Fraction) -> float:
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def _round_half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


def _int_root_floor(m: Fraction, k: int) -> int:
    """floor(m ** (1/k)) for a rational m >= 0, exactly."""
    guess = int(float(m) ** (1.0 / k)) if m < 10**300 else 1
    lo, hi = max(guess - 2, 0), guess + 2
    while lo**k > m:
        lo //= 2
    while hi**k <= m:
        hi *= 2
    while hi - lo > 1:  # invariant: lo**k <= m < hi**k
        mid = (lo + hi) // 2
        if mid**k <= m:
            lo = mid
        else:
            hi = mid
    return lo


def lp_int_value(values: list[int], p: float) -> tuple[int, Decimal, bool]:
    """(rounded result, real value r, r is exactly k + 1/2) for integer/bool lp.

    The rounded result is floor(r + 1/2) with r = mean(|x|**p) ** (1/p); exact for integral p.
    """
    mags = [abs(int(v)) if LP_USES_ABS else int(v) for v in values]
    n = len(mags)
    with localcontext() as ctx:
        ctx.prec = 80
        if float(p).is_integer():
            k = int(p)
            m = Fraction(sum(v**k for v in mags), n)
            if m < 0:  # only reachable without abs; no real root of a negative mean
                raise NoRealCells("negative power mean")
            low = _int_root_floor(m, k)
            # Round half up: low + 1 when m >= (low + 1/2) ** k.
            half = Fraction(2 * low + 1, 2) ** k
            result = low + 1 if m >= half else low
            real = (Decimal(m.numerator) / Decimal(m.denominator)) ** (Decimal(1) / Decimal(k))
            return result, real, m == half
        dp = Decimal(p)  # a float is a dyadic rational: Decimal(p) is exact
        total = sum((Decimal(v) ** dp for v in mags), Decimal(0))
        mean = total / n
        real = mean ** (Decimal(1) / dp) if mean > 0 else Decimal(0)
        # 80 digits cannot say whether an exact tie (lp([0, 6], p=0.5) = 1.5) is just above or
        # below the half: one closer than 1e-60 is taken for the tie, rounded up.
        low = int(real)
        tie = abs(real - low - Decimal("0.5")) < Decimal("1e-60")
        result = low + 1 if tie else int((real + Decimal("0.5")).to_integral_value("ROUND_FLOOR"))
        return result, real, tie


def _lp_float(values: list[float], p: float) -> float:
    if any(math.isnan(v) for v in values):
        return math.nan
    mags = [abs(v) if LP_USES_ABS else v for v in values]
    if any(math.isinf(v) for v in mags):
        return math.inf
    with localcontext() as ctx:
        ctx.prec = 60
        dp = Decimal(p)
        mean = sum((Decimal(v) ** dp for v in mags), Decimal(0)) / len(mags)
        if mean == 0:
            return 0.0
        return float(mean ** (Decimal(1) / dp))


def _median(values: list[Any], integral: bool) -> Any:
    if not integral and any(math.isnan(v) for v in values):
        return math.nan
    s = sorted(values)
    n = len(s)
    if n % 2:
        return s[n // 2]
    a, b = s[n // 2 - 1], s[n // 2]
    if integral:
        return (int(a) + int(b) + 1) // 2  # mean of the middle two, half up
    if math.isinf(a) or math.isinf(b):
        return (a + b) / 2
    return _to_float((Fraction(a) + Fraction(b)) / 2)


def _mode(labels: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    counts = Counter(labels)
    best = max(counts.values())
    return min(label for label, c in counts.items() if c == best)


def _sparse(labels: list[tuple[Any, ...]], background: Any) -> tuple[Any, ...]:
    """Mode of the labels that are not background; background when there are none."""
    blank = (background,) * len(labels[0])
    rest = [label for label in labels if label != blank]
    return _mode(rest) if rest else blank


def _value(name: str, values: list[Any], integral: bool, divisor: int, p: float) -> Any:
    if name == "max" or name == "min":
        if not integral and any(math.isnan(v) for v in values):
            return math.nan
        return max(values) if name == "max" else min(values)
    if name == "sum":
        if integral:
            total = sum(int(v) for v in values)
            if not INT64_MIN <= total <= INT64_MAX:
                raise SumOverflow(total)
            return total
        return _float_sum(values)
    if name == "avg":
        if integral:
            s = sum(int(v) for v in values)
            return (2 * s + divisor) // (2 * divisor)  # nearest, ties up, exact
        total = _float_sum(values)
        if math.isnan(total) or math.isinf(total):
            return total
        return _to_float(sum((Fraction(v) for v in values), Fraction(0)) / divisor)
    if name == "median":
        return _median(values, integral)
    if name == "lp":
        if integral:
            return lp_int_value(values, p)[0]
        return _lp_float(values, p)
    raise AssertionError(name)


# --------------------------------------------------------------------------- pool


def _check_common(x: np.ndarray, mode: Any, p: Any, ndim: int = 2) -> str:
    name = ALIASES.get(mode, mode) if isinstance(mode, str) else None
    if name not in MODE_NAMES:
        raise ValueError(f"unknown mode {mode!r}")
    if x.dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {x.dtype}")
    if x.ndim not in (ndim, ndim + 1):
        raise ValueError(f"expected {ndim} spatial axes and at most one more, got {x.shape}")
    if x.ndim == ndim + 1 and x.shape[-1] < 1:
        raise ValueError(f"no channel in shape {x.shape}")
    if name == "lp":
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise ValueError(f"p must be a number, got {p!r}")
        if not (math.isfinite(float(p)) and p > 0):
            raise ValueError(f"p must be > 0, got {p!r}")
    return name


def pool(
    x: np.ndarray,
    mode: str,
    kernel_size: Any = 2,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    output_size: Any = None,
    p: float = 2.0,
    *,
    background: Any = 0,
) -> Any:
    """Pool ``x`` per SPEC §1, one output cell at a time, over 1, 2 or 3 spatial axes.

    The spatial axes are the length of the window tuples (else 2); ``x`` holds them first and at
    most one channel axis after them.
    """
    x = np.asarray(x)
    window = dict(
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        ceil_mode=ceil_mode,
        output_size=output_size,
    )
    ndim = spatial_ndim(**window)
    name = _check_common(x, mode, p, ndim)
    axes, pad_may_count = _geometry(x.shape[:ndim], **window)
    xc = x if x.ndim == ndim + 1 else x[..., None]
    channels = xc.shape[-1]
    integral = x.dtype.kind in "biu"
    if name == "sum":
        out_dtype = np.dtype(np.int64) if integral else np.dtype(np.float64)
    else:
        out_dtype = x.dtype
    use_counted = count_include_pad and pad_may_count and output_size is None

    out = np.zeros((*(len(a) for a in axes), channels), dtype=out_dtype)
    for where in itertools.product(*(range(len(a)) for a in axes)):
        wins = [a[i] for a, i in zip(axes, where, strict=True)]
        cells = list(itertools.product(*(w.real for w in wins)))
        if not cells:
            raise NoRealCells(f"output cell {where} covers padding only")
        divisor = math.prod(w.counted for w in wins) if use_counted else len(cells)
        if name in ("mode", "sparse"):
            labels = [tuple(xc[(*cell, ch)].item() for ch in range(channels)) for cell in cells]
            out[where] = _mode(labels) if name == "mode" else _sparse(labels, background)
            continue
        for ch in range(channels):
            values = [xc[(*cell, ch)].item() for cell in cells]
            v = _value(name, values, integral, divisor, p)
            if name == "lp" and integral:
                v = min(v, int(np.iinfo(out_dtype).max)) if out_dtype.kind != "b" else v
            out[(*where, ch)] = v
    if x.ndim == ndim:
        out = out[..., 0]
    return out
