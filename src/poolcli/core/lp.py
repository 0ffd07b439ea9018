"""The ``lp`` kernel: power means, kept inside float64's range.

Powers of large values overflow and powers of small ones underflow; :func:`lp` scales by the
array's largest magnitude or works in logarithms when the powers would not fit.
"""

from __future__ import annotations

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
            return _round_to(np.sqrt(mean) if p == 2.0 else mean ** (1.0 / p), x3.dtype)

        return reduce_separable(x3, axes, np.add, f64, 0.0, workers, finish, x3.dtype, prepare)

    # |x|**p would overflow or underflow: sum the powers as logarithms instead.
    def log_prepare(band: np.ndarray) -> np.ndarray:
        return p * np.log(np.abs(band.astype(np.float64)))

    def log_finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
        log_mean = s - np.log(divisor(axes, False, lo, hi))
        return _round_to(np.exp(log_mean / p), x3.dtype)

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
