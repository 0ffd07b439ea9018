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
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np

MODE_NAMES = ("max", "min", "avg", "sum", "median", "mode", "lp")
ALIASES = {"mean": "avg"}
DTYPES = tuple(
    np.dtype(name)
    for name in ("bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64")
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


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair, each >= minimum, as a tuple of two ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        a, b = value
    else:
        a = b = value
    for v in (a, b):
        if not _is_int(v):
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(a), int(b)


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
    if eff > n + 2 * pad:
        raise ValueError(f"window {eff} is larger than the padded input {n} + 2*{pad}")
    out = (n + 2 * pad - eff + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
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
    hw: tuple[int, int],
    kernel_size: Any = 2,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    output_size: Any = None,
) -> tuple[list[AxisWindow], list[AxisWindow], bool]:
    """Row windows, column windows, and whether padding may count in the avg divisor."""
    h, w = hw
    if h < 1 or w < 1:
        raise ValueError(f"input of size {h}x{w} has no pixel to pool")
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
        oh, ow = _pair(output_size, "output_size", 1)
        return adaptive_windows(h, oh), adaptive_windows(w, ow), False
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride", 1)
    dh, dw = _pair(dilation, "dilation", 1)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be an int, a pair, 'same' or 'valid': {padding!r}")
        ph: int | str = padding
        pw: int | str = padding
    else:
        ph, pw = _pair(padding, "padding", 0)
    rows = axis_windows(h, kh, sh, ph, dh, ceil_mode)
    cols = axis_windows(w, kw, sw, pw, dw, ceil_mode)
    return rows, cols, padding != "same"


def output_hw(in_hw: tuple[int, int], **geometry: Any) -> tuple[int, int]:
    """Output (oh, ow) for an input of size in_hw; raises ValueError like :func:`pool`."""
    rows, cols, _ = _geometry(in_hw, **geometry)
    return len(rows), len(cols)


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
        result = int((real + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))
        return result, real, False


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


def _check_common(x: np.ndarray, mode: Any, p: Any) -> str:
    name = ALIASES.get(mode, mode) if isinstance(mode, str) else None
    if name not in MODE_NAMES:
        raise ValueError(f"unknown mode {mode!r}")
    if x.dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {x.dtype}")
    if x.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {x.shape}")
    if x.ndim == 3 and x.shape[2] < 1:
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
    lp_int_bounds: bool = False,
) -> Any:
    """Pool ``x`` per SPEC §1, one output cell at a time.

    With ``lp_int_bounds=True`` and integer/bool ``lp``, return ``(lo, hi)``: the interval of
    integer results the SPEC allows per cell (the exact half-up rounding, widened by one near a
    rounding tie that float arithmetic cannot resolve, and by float64's precision on int64).
    """
    x = np.asarray(x)
    name = _check_common(x, mode, p)
    rows, cols, pad_may_count = _geometry(
        x.shape[:2], kernel_size, stride, padding, dilation, ceil_mode, output_size
    )
    x3 = x if x.ndim == 3 else x[:, :, None]
    channels = x3.shape[2]
    integral = x.dtype.kind in "biu"
    if name == "sum":
        out_dtype = np.dtype(np.int64) if integral else np.dtype(np.float64)
    else:
        out_dtype = x.dtype
    use_counted = count_include_pad and pad_may_count and output_size is None
    want_bounds = lp_int_bounds and name == "lp" and integral

    out = np.zeros((len(rows), len(cols), channels), dtype=out_dtype)
    lo = np.zeros_like(out)
    hi = np.zeros_like(out)
    for i, rw in enumerate(rows):
        for j, cw in enumerate(cols):
            cells = [(r, c) for r in rw.real for c in cw.real]
            if not cells:
                raise NoRealCells(f"output cell ({i}, {j}) covers padding only")
            divisor = rw.counted * cw.counted if use_counted else len(cells)
            if name == "mode":
                labels = [tuple(x3[r, c, ch].item() for ch in range(channels)) for r, c in cells]
                out[i, j, :] = _mode(labels)
                continue
            for ch in range(channels):
                values = [x3[r, c, ch].item() for r, c in cells]
                if want_bounds:
                    out[i, j, ch], lo[i, j, ch], hi[i, j, ch] = _lp_bounds(values, p, x.dtype)
                    continue
                v = _value(name, values, integral, divisor, p)
                if name == "lp" and integral:
                    v = min(v, int(np.iinfo(out_dtype).max)) if out_dtype.kind != "b" else v
                out[i, j, ch] = v
    if x.ndim == 2:
        out, lo, hi = out[:, :, 0], lo[:, :, 0], hi[:, :, 0]
    if want_bounds:
        return lo, hi
    return out


def _lp_bounds(values: list[int], p: float, dtype: np.dtype) -> tuple[int, int, int]:
    """(exact, lo, hi) for an integer lp cell; see :func:`pool`."""
    exact, real, tie = lp_int_value(values, p)
    if tie:
        lo = hi = exact
    else:
        # float64 pow with an inexact 1/p (p=3: 1/3) is off by ~ln(mean)*1e-17 relative
        slack = Decimal("1e-9") + real * Decimal(2) ** -45
        half = Decimal("0.5")
        lo = int((real + half - slack).to_integral_value(rounding="ROUND_FLOOR"))
        hi = int((real + half + slack).to_integral_value(rounding="ROUND_FLOOR"))
    top = 1 if dtype.kind == "b" else int(np.iinfo(dtype).max)
    # |int16 min| does not fit int16: the only answer that does not wrap is the dtype's max.
    return min(exact, top), min(lo, top), min(hi, top)
