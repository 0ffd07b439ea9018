"""The separable kernels: max and min (:func:`extreme`), sum and avg (:func:`sum_avg`).

Windows are boxes, so these reduce one spatial axis after the other: the rows of every window
first (whole contiguous image rows per tap, or a volume's whole planes, so NumPy's SIMD loops
run), then each middle axis of a volume (whole rows per tap), then the columns (one channel
plane at a time, so the inner loop runs along the long axis, not along the 3 channels). Each tap
is a strided view, never a copy; padding is never materialised: a tap only touches the outputs
whose window really covers a cell. Integer averages are exact: sums accumulate in the narrowest
integer type that cannot overflow, then ``(2*sum + n) // (2*n)`` rounds half up. Nothing ever
wraps.
"""

from __future__ import annotations

import math
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
    x: np.ndarray,
    axes: tuple[Axis, ...],
    op: np.ufunc,
    acc: np.dtype,
    identity: Any,
    workers: int,
    finish: Callable[[np.ndarray, int, int], np.ndarray] | None,
    out_dtype: np.dtype,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """One spatial axis after the other, band by band of the first axis's outputs.

    ``x`` is ``(*spatial, C)`` with two or more spatial axes. A band reduces the first axis on
    whole contiguous rows (for a volume: whole planes), each middle axis on contiguous runs of
    the axes after it, and the last axis as an image's columns. ``finish(acc_band, lo, hi)``
    turns sums into results; ``acc_band`` is ``(cells before the last axis, last, C)``.
    """
    rows, mids, cols = axes[0], axes[1:-1], axes[-1]
    sizes, c = x.shape[:-1], x.shape[-1]
    inner = math.prod(sizes[1:]) * c
    out = np.empty((*(a.out for a in axes), c), out_dtype)
    scratch = Scratch()

    def run(lo: int, hi: int) -> None:
        first, last = rows.span(lo, hi)
        src = x[first:last].reshape(last - first, inner)
        if prepare is not None:
            src = prepare(src)
        stage = scratch.get((hi - lo, inner), acc)
        _reduce_axis(src, rows, 0, lo, hi, first, op, identity, stage)
        cells = hi - lo  # the outputs so far, times the axes reduced
        for k, ax in enumerate(mids, start=1):
            after = math.prod(sizes[k + 1 :]) * c
            reduced = scratch.get((cells, ax.out, after), acc)
            _reduce_axis(
                stage.reshape(cells, ax.size, after),
                ax,
                1,
                0,
                ax.out,
                0,
                op,
                identity,
                reduced,
            )
            scratch.put(stage)
            stage, cells = reduced, cells * ax.out
        stage3 = stage.reshape(cells, cols.size, c)
        band = out[lo:hi].reshape(cells, cols.out, c)
        target = band if finish is None else scratch.get((cells, cols.out, c), acc)
        _reduce_cols(stage3, cols, op, identity, target, scratch)
        if finish is not None:
            band[...] = finish(target, lo, hi)
            scratch.put(target)
        scratch.put(stage)

    for_bands(rows, inner * acc.itemsize, workers, run)
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


def extreme(x3: np.ndarray, axes: tuple[Axis, ...], name: str, workers: int) -> np.ndarray:
    dt = x3.dtype
    if name == "max":
        op, identity = np.maximum, (-np.inf if dt.kind == "f" else np.iinfo(dt).min)
    else:
        op, identity = np.minimum, (np.inf if dt.kind == "f" else np.iinfo(dt).max)
    return reduce_separable(x3, axes, op, dt, identity, workers, None, dt)


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


def divisor(axes: tuple[Axis, ...], include_pad: bool, lo: int, hi: int) -> int | np.ndarray:
    """Cells each window of first-axis outputs ``lo..hi-1`` divides by: an int when all are
    equal, else ``(cells before the last axis, last, 1)`` as the band's accumulator."""
    counts = [a.padded_count if include_pad else a.real_count for a in axes]
    counts[0] = counts[0][lo:hi]
    if all(c.min() == c.max() for c in counts):
        return math.prod(int(c[0]) for c in counts)
    total = counts[0]
    for c in counts[1:]:
        total = np.multiply.outer(total, c)
    return total.reshape(-1, counts[-1].size, 1).astype(np.int64)


def _value_range(x3: np.ndarray) -> tuple[int, int]:
    if x3.dtype == np.int64:  # the type's range would overflow any sum: look at the data
        return int(x3.min()), int(x3.max())
    info = np.iinfo(x3.dtype)
    return int(info.min), int(info.max)


def sum_avg(
    x3: np.ndarray,
    axes: tuple[Axis, ...],
    name: str,
    include_pad: bool,
    workers: int,
) -> np.ndarray:
    if x3.dtype.kind in "fO":
        acc = np.dtype(np.float64) if x3.dtype.kind == "f" else x3.dtype
    else:
        acc = _sum_dtype(x3.dtype, window_taps(axes), *_value_range(x3))
    if name == "sum":
        if acc.kind == "O":
            return reduce_separable(x3, axes, np.add, acc, 0, workers, int64_sum, np.int64)
        out_dtype = np.dtype(np.float64 if x3.dtype.kind == "f" else np.int64)
        return reduce_separable(x3, axes, np.add, acc, 0, workers, None, out_dtype)
    if x3.dtype.kind == "f":
        # Sums of float64 values near the top of the range overflow: divide by a power of two
        # first (exact), multiply the averages back.
        top = largest_magnitude(x3)
        scale = pow2_at_most(top) if top * window_taps(axes) > np.finfo(acc).max else 1.0
        prepare = None if scale == 1.0 else (lambda band: band / scale)

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            s /= divisor(axes, include_pad, lo, hi)  # an IEEE division, in place
            if scale != 1.0:
                s *= scale
            return s

        return reduce_separable(x3, axes, np.add, acc, 0, workers, finish, x3.dtype, prepare)
    else:

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            n = divisor(axes, include_pad, lo, hi)
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

    return reduce_separable(x3, axes, np.add, acc, 0, workers, finish, x3.dtype)


def window_taps(axes: tuple[Axis, ...]) -> int:
    """Taps of one window: the product of every axis's."""
    return math.prod(a.taps for a in axes)


def largest_magnitude(x3: np.ndarray) -> float:
    """The largest finite ``|x|`` (int16's minimum counts as 32768, not as itself)."""
    if x3.dtype.kind == "f":
        return float(np.max(np.abs(x3), where=np.isfinite(x3), initial=0))
    return float(max(-int(x3.min()), int(x3.max())))


def pow2_at_most(top: float) -> float:
    """A power of two in ``(top / 2, top]`` (1 for 0): dividing by it rounds nothing."""
    return float(np.ldexp(1.0, int(np.frexp(top)[1]) - 1)) if top else 1.0
