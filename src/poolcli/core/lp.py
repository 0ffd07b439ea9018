"""The ``lp`` kernel: power means, kept inside float64's range, rounded exactly for integers.

Powers of large values overflow and powers of small ones underflow; :func:`lp` scales by the
array's largest magnitude or works in logarithms when the powers would not fit.

Integer results round half up. float64 gets a power mean right to about 1e-13, which cannot
tell an exact tie (``lp([0, 6], p=0.5)`` is 1.5 exactly) from a value just below it: every
result within 1e-9 of a half (and every result too large for float64 to resolve halves) is
decided again exactly by :func:`round_power_mean`, with integers for an integer ``p``, and for
any other ``p`` by an exact test for a tie and correctly rounded decimals for the rest.
"""

from __future__ import annotations

import decimal
import math
from collections import Counter
from fractions import Fraction
from typing import Any

import numpy as np

from poolcli.core.geometry import Axis
from poolcli.core.separable import (
    divisor,
    largest_magnitude,
    reduce_separable,
    window_taps,
)


def lp(x3: np.ndarray, axes: tuple[Axis, ...], p: float, workers: int) -> np.ndarray:
    f64 = np.dtype(np.float64)
    if _powers_fit(x3, p, window_taps(axes)):

        def prepare(band: np.ndarray) -> np.ndarray:
            v = np.abs(band.astype(np.float64))
            return v * v if p == 2.0 else v**p

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            mean = s / divisor(axes, False, lo, hi)
            means = np.sqrt(mean) if p == 2.0 else mean ** (1.0 / p)
            return _exact_near_halves(_round_to(means, x3.dtype), means, x3, axes, lo, p)

        return reduce_separable(x3, axes, np.add, f64, 0.0, workers, finish, x3.dtype, prepare)

    # |x|**p would overflow or underflow: sum the powers as logarithms instead.
    def log_prepare(band: np.ndarray) -> np.ndarray:
        return p * np.log(np.abs(band.astype(np.float64)))

    def log_finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
        log_mean = s - np.log(divisor(axes, False, lo, hi))
        means = np.exp(log_mean / p)
        return _exact_near_halves(_round_to(means, x3.dtype), means, x3, axes, lo, p)

    return reduce_separable(
        x3, axes, np.logaddexp, f64, -np.inf, workers, log_finish, x3.dtype, log_prepare
    )


def _powers_fit(x3: np.ndarray, p: float, taps: int) -> bool:
    """Whether sums of ``taps`` values ``|x|**p`` stay well inside float64's range."""
    top = largest_magnitude(x3)
    if top == 0:
        return True
    if x3.dtype.kind == "f":
        mags = np.abs(x3)
        low = float(np.min(mags, where=np.isfinite(mags) & (mags > 0), initial=np.inf))
    else:
        low = 1.0
    return p * np.log2(top) + np.log2(taps) < 1000 and p * np.log2(low) > -1000


def exact_abs(x3: np.ndarray) -> np.ndarray:
    """``|x|`` in a type that holds it (int16's minimum has no int16 magnitude)."""
    if x3.dtype.kind == "u":
        return x3
    wider = {1: np.int16, 2: np.int32, 4: np.int64}.get(x3.dtype.itemsize)
    if wider is not None:
        return np.abs(x3.astype(wider))
    if int(x3.min()) == np.iinfo(np.int64).min:
        return np.abs(x3.astype(object))
    return np.abs(x3)


def _round_to(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results to ``dtype``: integers rounded to nearest, ties up, within range."""
    if dtype.kind == "f":
        return v.astype(dtype)
    info = np.iinfo(dtype)
    v = np.floor(v + 0.5)
    # float64 cannot hold int64's maximum: anything at or past 2**63 saturates to it.
    high = v >= float(info.max)
    v[high] = 0
    out = np.clip(v, info.min, info.max, out=v).astype(dtype)
    out[high] = info.max
    return out


# --------------------------------------------------------------------------------------------
# Exact rounding of integer power means near a half.

# float64 power means are right to ~1e-13 (relative; 1/p times that for p < 1): a result this
# close to a half is decided exactly. Above 2**36 float64 cannot place halves reliably at all.
NEAR_HALF = 1e-9
RESOLVED = 2.0**36


def near_halves(means: Any, p: float) -> Any:
    """Where the rounding of float64 power ``means`` (a NumPy array or a torch tensor) cannot be
    trusted: within :data:`NEAR_HALF` (relative) of a half, or past float64's resolution."""
    tol = NEAR_HALF * max(1.0, 1.0 / p) * means.clip(min=0.5)
    return (abs(means % 1.0 - 0.5) <= tol) | (means >= RESOLVED)


def exact_cell(
    x: np.ndarray,
    axes: tuple[Axis, ...],
    where: tuple[int, ...],
    channel: int,
    p: float,
    guess: int,
    dtype: np.dtype,
) -> int:
    """The exactly rounded lp of output cell ``where`` (one index per axis), channel
    ``channel``, from the cells of its window in ``x`` (``(*spatial, C)``), saturated to
    ``dtype``; ``guess`` is the float result, rounded."""
    cells = [a.index[w][a.valid[w]] for a, w in zip(axes, where, strict=True)]
    values = x[np.ix_(*cells, [channel])].reshape(-1).tolist()
    info = np.iinfo(dtype)
    return min(max(round_power_mean(values, p, guess), int(info.min)), int(info.max))


def _exact_near_halves(
    out: np.ndarray,
    means: np.ndarray,
    x: np.ndarray,
    axes: tuple[Axis, ...],
    lo: int,
    p: float,
) -> np.ndarray:
    """``out`` (rounded ``means`` of the band of first-axis outputs ``lo..``, laid out as
    :func:`~poolcli.core.separable.reduce_separable` gives it: ``(cells before the last axis,
    last, C)``) with the results :func:`near_halves` picks recomputed by :func:`exact_cell`."""
    if out.dtype.kind not in "biu":
        return out
    near = near_halves(means, p)
    if not near.any():
        return out
    band = (len(means) // math.prod(a.out for a in axes[1:-1]), *(a.out for a in axes[1:-1]))
    for flat, last, ch in np.argwhere(near):
        where = (*np.unravel_index(flat, band), last)
        where = (int(where[0]) + lo, *(int(w) for w in where[1:]))
        guess = int(out[flat, last, ch])
        out[flat, last, ch] = exact_cell(x, axes, where, int(ch), p, guess, out.dtype)
    return out


def round_power_mean(values: list[int], p: float, guess: int = 0) -> int:
    """The power mean ``mean(|v|**p) ** (1/p)`` of integers, rounded half up, exactly.

    ``guess`` (an estimate of the result, such as the rounded float value) is where the search
    starts: a right one costs two exact comparisons, one off by ``d`` about ``4 log2(d)``.

    >>> round_power_mean([0, 6], 0.5), round_power_mean([2, 4, 5, 5, 6, 7, 16, 22], 3.0)
    (2, 13)
    """
    counts = Counter(abs(int(v)) for v in values)
    n = sum(counts.values())
    counts.pop(0, None)  # 0**p is 0 for p > 0

    def reaches(r: int) -> bool:  # mean >= r - 1/2: true up to the result, false after it
        return r <= 0 or _at_least_half(counts, n, p, 2 * r - 1)

    start = max(int(guess), 0)
    step = 1
    if reaches(start):
        low = start
        while reaches(start + step):
            low, step = start + step, 2 * step
        high = start + step
    else:
        high = start
        while not reaches(start - step):
            high, step = start - step, 2 * step
        low = max(start - step, 0)
    while high - low > 1:  # reaches(low) and not reaches(high)
        mid = (low + high) // 2
        low, high = (mid, high) if reaches(mid) else (low, mid)
    return low


def _at_least_half(counts: Counter[int], n: int, p: float, h2: int) -> bool:
    """Whether the power mean of the values (``counts``: value -> how many, zeros left out;
    ``n`` values in all) is at least ``h2 / 2``, decided exactly."""
    if float(p).is_integer():  # mean >= (h2/2)**p  <=>  2**p * sum(v**p) >= n * h2**p, in integers
        q = int(p)
        return 2**q * sum(c * v**q for v, c in counts.items()) >= n * h2**q
    frac = Fraction(p)  # exact: a float is a dyadic rational
    if _is_tie(counts, n, frac.numerator, frac.denominator, h2):
        return True
    # Not a tie, so the difference is not zero: decimal's ln and exp are correctly rounded, and
    # enough digits (almost always the first 40) tell its sign with a bound on their error.
    digits = 40
    while digits <= 5000:
        with decimal.localcontext() as ctx:
            ctx.prec = digits + 10
            ctx.Emax, ctx.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
            dp = decimal.Decimal(p)
            total = decimal.Decimal(0)
            worst = 0.0
            for v, c in counts.items():
                log = dp * decimal.Decimal(v).ln()
                worst = max(worst, abs(float(log)))
                total += c * log.exp()
            log = dp * (decimal.Decimal(h2) / 2).ln()
            worst = max(worst, abs(float(log)))
            target = n * log.exp()
            # each exp's relative error: |its argument| x the argument's relative error, plus
            # its own rounding; then the sum's roundings
            slack = decimal.Decimal((2 * worst + 4 + len(counts)) * 10.0**-digits)
            if abs(total - target) > slack * (total + target):
                return total > target
        digits *= 4
    return True  # closer than 1e-5000 (never seen): taken for the tie it almost is


def _is_tie(counts: Counter[int], n: int, a: int, b: int, h2: int) -> bool:
    """Whether ``sum(v**(a/b)) == n * (h2/2)**(a/b)`` exactly (``a/b`` in lowest terms).

    Positive real b-th roots of rationals that are not rational multiples of one another are
    linearly independent over the rationals (Besicovitch 1940; Mordell 1953). So the sum can
    equal ``n * h**(a/b)`` only if every value is ``h * r**b`` for a rational ``r``, and then
    ``v**(a/b) = h**(a/b) * r**a``: a tie exactly when the ``r**a`` add up to ``n``.
    """
    total = Fraction(0)
    for v, c in counts.items():
        q = Fraction(2 * v, h2)
        num, den = _root(q.numerator, b), _root(q.denominator, b)
        if num is None or den is None:
            return False
        total += c * Fraction(num, den) ** a
    return total == n


def _root(value: int, k: int) -> int | None:
    """The integer ``k``-th root of ``value >= 1`` if it is a perfect ``k``-th power, else None."""
    if value == 1:
        return 1
    if k >= value.bit_length():  # 2**k > value: no k-th power lies between 1 and value
        return None
    guess = round(math.exp(math.log(value) / k))
    for r in (guess - 1, guess, guess + 1):
        if r > 0 and r**k == value:
            return r
    return None
