"""The separable kernels: max and min (:func:`extreme`), sum and avg (:func:`sum_avg`).

Windows are rectangles, so these reduce the rows of every window first (whole contiguous image
rows per tap, so NumPy's SIMD loops run), then the columns (one channel plane at a time, so the
inner loop runs along the long axis, not along the 3 channels). Each tap is a strided view, never
a copy; padding is never materialised: a tap only touches the outputs whose window really covers
a cell. Integer averages are exact: sums accumulate in the narrowest integer type that cannot
overflow, then ``(2*sum + n) // (2*n)`` rounds half up. Nothing ever wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from poolcli.core.bands import for_bands
from poolcli.core.geometry import Axis
from poolcli.core.scratch import Scratch
from poolcli.errors import UnsupportedError

# --------------------------------------------------------------------------------------------
# Separable modes.


def _reduce_axis(
    src: np.ndarray,
    ax: Axis,
    axis: int,
    lo: int,
    hi: int,
    base: int,
    op: np.ufunc,
    identity: Any,
    out: np.ndarray,
) -> None:
    """``out`` = ``op`` over the taps of windows ``lo..hi-1`` of ``ax``, along ``axis`` of ``src``.

    ``src`` starts at input cell ``base`` along ``axis``; ``out`` has ``hi - lo`` cells there.
    """
    dt = out.dtype

    def along(a: np.ndarray, sel: Any) -> Any:
        return a[sel] if axis == 0 else a[:, sel]

    if ax.stride is None:  # irregular adaptive windows: gather the cells of each tap
        out.fill(identity)
        for j in range(ax.taps):
            hit = np.flatnonzero(ax.valid[lo:hi, j])
            if hit.size:
                cells = ax.index[lo + hit, j] - base
                acc = along(out, hit)
                value = op(acc, along(src, cells), dtype=dt)
                if axis == 0:
                    out[hit] = value
                else:
                    out[:, hit] = value
        return
    taps = []
    for j in range(ax.taps):
        a, b = ax.tap_range(j)
        a, b = max(a, lo), min(b, hi)
        if a < b:
            first = int(ax.index[a, j]) - base
            view = along(src, slice(first, first + (b - a - 1) * ax.stride + 1, ax.stride))
            taps.append((a - lo, b - lo, view))
    # Every window adds its taps in tap order, whichever band it falls in: float sums then do
    # not depend on how the rows were cut into bands (threads) or blocks (Dask chunks).
    whole = [t[:2] == (0, hi - lo) for t in taps[:2]]
    if len(taps) >= 2 and all(whole):
        op(taps[0][2], taps[1][2], out=out, dtype=dt)
        rest = taps[2:]
    elif taps and whole[0]:
        np.copyto(out, taps[0][2])
        rest = taps[1:]
    else:
        out.fill(identity)
        rest = taps
    for a, b, view in rest:
        target = along(out, slice(a, b))
        op(target, view, out=target, dtype=dt)


def reduce_separable(
    x3: np.ndarray,
    rows: Axis,
    cols: Axis,
    op: np.ufunc,
    acc: np.dtype,
    identity: Any,
    workers: int,
    finish: Callable[[np.ndarray, int, int], np.ndarray] | None,
    out_dtype: np.dtype,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Rows then columns, band by band. ``finish(acc_band, lo, hi)`` turns sums into results."""
    h, w, c = x3.shape
    out = np.empty((rows.out, cols.out, c), out_dtype)
    scratch = Scratch()

    def run(lo: int, hi: int) -> None:
        first, last = rows.span(lo, hi)
        src = x3[first:last].reshape(last - first, w * c)
        if prepare is not None:
            src = prepare(src)
        stage = scratch.get((hi - lo, w * c), acc)
        _reduce_axis(src, rows, 0, lo, hi, first, op, identity, stage)
        stage3 = stage.reshape(hi - lo, w, c)
        target = out[lo:hi] if finish is None else scratch.get((hi - lo, cols.out, c), acc)
        _reduce_cols(stage3, cols, op, identity, target, scratch)
        if finish is not None:
            out[lo:hi] = finish(target, lo, hi)
            scratch.put(target)
        scratch.put(stage)

    for_bands(rows, w * c * acc.itemsize, workers, run)
    return out


def _reduce_cols(
    stage3: np.ndarray,
    cols: Axis,
    op: np.ufunc,
    identity: Any,
    target: np.ndarray,
    scratch: Scratch,
) -> None:
    """The column pass of a band: ``target[:, i, ch]`` = ``op`` over window ``i``'s columns.

    Strided per-channel loops cost several times a contiguous one. For windows of three or more
    taps, the interior windows are reduced on whole contiguous rows (every column's window
    starting there, all channels at once, in tap order), and one strided copy per channel keeps
    the columns where windows start. Edge windows, with padding, take the general path.
    """
    rows_, w, c = stage3.shape
    c0, c1 = cols.interior()
    if cols.stride is None or cols.taps < 3 or c1 - c0 < 2:
        c0 = c1 = 0
    for a, b in ((0, c0), (c1, cols.out)) if c0 < c1 else ((0, cols.out),):
        for ch in range(c):
            if a < b:
                _reduce_axis(stage3[:, :, ch], cols, 1, a, b, 0, op, identity, target[:, a:b, ch])
    if c0 >= c1:
        return
    first = int(cols.index[c0, 0])
    span = int(cols.index[c1 - 1, 0]) - first + 1
    flat = stage3.reshape(rows_, w * c)

    def tap(j: int) -> np.ndarray:
        start = (first + j * cols.dilation) * c
        return flat[:, start : start + span * c]

    m = scratch.get((rows_, span * c), stage3.dtype)
    op(tap(0), tap(1), out=m)
    for j in range(2, cols.taps):
        op(m, tap(j), out=m)
    m3 = m.reshape(rows_, span, c)
    for ch in range(c):
        np.copyto(target[:, c0:c1, ch], m3[:, :: cols.stride, ch], casting="unsafe")
    scratch.put(m)


def extreme(x3: np.ndarray, rows: Axis, cols: Axis, name: str, workers: int) -> np.ndarray:
    dt = x3.dtype
    if name == "max":
        op, identity = np.maximum, (-np.inf if dt.kind == "f" else np.iinfo(dt).min)
    else:
        op, identity = np.minimum, (np.inf if dt.kind == "f" else np.iinfo(dt).max)
    return reduce_separable(x3, rows, cols, op, dt, identity, workers, None, dt)


def _sum_dtype(dtype: np.dtype, taps: int, lo: int, hi: int) -> np.dtype:
    """Narrowest integer type holding ``2*sum + n`` for ``taps`` values in ``[lo, hi]``."""
    need_lo, need_hi = 2 * lo * taps, 2 * hi * taps + taps
    for cand in (np.uint16, np.uint32, np.int16, np.int32, np.int64):
        info = np.iinfo(cand)
        if (
            info.min <= need_lo
            and need_hi <= info.max
            and np.dtype(cand).itemsize >= dtype.itemsize
        ):
            return np.dtype(cand)
    # Only int64 data near its limits gets here: Python integers are slow but exact.
    return np.dtype(object)


def int64_sum(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Exact sums (Python integers) that must fit the int64 result, or a clear error."""
    info = np.iinfo(np.int64)
    if s.size and not (info.min <= s.min() and s.max() <= info.max):
        raise UnsupportedError("a window's sum does not fit int64 (the sum result type)")
    return s.astype(np.int64)


def divisor(rows: Axis, cols: Axis, include_pad: bool, lo: int, hi: int) -> int | np.ndarray:
    """Cells each window of output rows ``lo..hi-1`` divides by: an int when all are equal."""
    r = (rows.padded_count if include_pad else rows.real_count)[lo:hi]
    c = cols.padded_count if include_pad else cols.real_count
    if r.min() == r.max() and c.min() == c.max():
        return int(r[0]) * int(c[0])
    return (r[:, None] * c[None, :])[:, :, None].astype(np.int64)


def _value_range(x3: np.ndarray) -> tuple[int, int]:
    if x3.dtype == np.int64:  # the type's range would overflow any sum: look at the data
        return int(x3.min()), int(x3.max())
    info = np.iinfo(x3.dtype)
    return int(info.min), int(info.max)


def sum_avg(
    x3: np.ndarray,
    rows: Axis,
    cols: Axis,
    name: str,
    include_pad: bool,
    workers: int,
) -> np.ndarray:
    if x3.dtype.kind in "fO":
        acc = np.dtype(np.float64) if x3.dtype.kind == "f" else x3.dtype
    else:
        acc = _sum_dtype(x3.dtype, rows.taps * cols.taps, *_value_range(x3))
    if name == "sum":
        if acc.kind == "O":
            return reduce_separable(x3, rows, cols, np.add, acc, 0, workers, int64_sum, np.int64)
        out_dtype = np.dtype(np.float64 if x3.dtype.kind == "f" else np.int64)
        return reduce_separable(x3, rows, cols, np.add, acc, 0, workers, None, out_dtype)
    if x3.dtype.kind == "f":
        # Sums of float64 values near the top of the range overflow: divide by a power of two
        # first (exact), multiply the averages back.
        top = largest_magnitude(x3)
        scale = pow2_at_most(top) if top * rows.taps * cols.taps > np.finfo(acc).max else 1.0
        prepare = None if scale == 1.0 else (lambda band: band / scale)

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            s /= divisor(rows, cols, include_pad, lo, hi)  # an IEEE division, in place
            if scale != 1.0:
                s *= scale
            return s

        return reduce_separable(x3, rows, cols, np.add, acc, 0, workers, finish, x3.dtype, prepare)
    else:

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            n = divisor(rows, cols, include_pad, lo, hi)
            if isinstance(n, int):  # one divisor for the whole band: scalar arithmetic
                k = n
                if k & (k - 1) == 0:  # a power of two: round half up with a shift
                    s += k // 2
                    s >>= k.bit_length() - 1
                    return s
                s *= 2
                s += k
                s //= 2 * k
                return s
            n = n.astype(acc, copy=False)
            return (2 * s + n) // (2 * n)

    return reduce_separable(x3, rows, cols, np.add, acc, 0, workers, finish, x3.dtype)


def largest_magnitude(x3: np.ndarray) -> float:
    """The largest finite ``|x|`` (int16's minimum counts as 32768, not as itself)."""
    if x3.dtype.kind == "f":
        return float(np.max(np.abs(x3), where=np.isfinite(x3), initial=0))
    return float(max(-int(x3.min()), int(x3.max())))


def pow2_at_most(top: float) -> float:
    """A power of two in ``(top / 2, top]`` (1 for 0): dividing by it rounds nothing."""
    return float(np.ldexp(1.0, int(np.frexp(top)[1]) - 1)) if top else 1.0
