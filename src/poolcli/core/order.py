"""Order statistics of small windows: sorting networks, median and majority (mode).

Median and mode are not separable, so each window's taps are looked at together. For small
windows the taps are whole-array views and a sorting network of ``np.minimum``/``np.maximum``
sorts them all at once, pruned to the outputs the statistic needs (a 2x2 median uses 6 of the 10
operations a full sort would). For large or irregular windows the taps are gathered into one
``(..., n)`` array and sorted along the last axis. Both feed the same rules: median of an even
count is the mean of the two middle values (integers rounded half up, computed without overflow);
mode is the most frequent value, ties going to the smallest.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from poolcli.core.scratch import Scratch

# Above this many taps a network costs more numpy calls than sorting a gathered array.
NETWORK_MAX_TAPS = 25


@cache
def _batcher_pairs(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort for ``n`` inputs (min goes to the lower index).

    Built for the next power of two; comparators that touch an index >= n are dropped, which is
    exact because those slots would hold +inf and every comparator keeps the larger value on the
    higher index, so they never move.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < n)


@cache
def network(n: int, wanted: tuple[int, ...]) -> tuple[tuple[int, int, bool, bool], ...]:
    """Comparators ``(i, j, need_min, need_max)`` that put the sorted values at ``wanted`` slots.

    Walking the full network backwards, a comparator is kept when one of its outputs is still
    needed, and only the needed side (min, max or both) is computed.
    """
    needed = set(wanted)
    kept = []
    for i, j in reversed(_batcher_pairs(n)):
        need_min, need_max = i in needed, j in needed
        if need_min or need_max:
            kept.append((i, j, need_min, need_max))
            needed.update((i, j))
    return tuple(reversed(kept))


def sort_taps(
    taps: Sequence[np.ndarray], wanted: tuple[int, ...], scratch: Scratch | None = None
) -> list[np.ndarray]:
    """Sort same-shaped arrays elementwise; the result's ``wanted`` entries hold sorted values.

    The input arrays (often views of the caller's image) are never written to. Results go into
    recycled buffers from ``scratch``: a fresh band-sized array per comparison costs more than
    the comparison itself.
    """
    scratch = scratch or Scratch()
    values: list[np.ndarray | None] = list(taps)
    owned = [False] * len(values)
    shape, dtype = taps[0].shape, np.result_type(*taps)

    def take() -> np.ndarray:
        return scratch.get(shape, dtype)

    def release(k: int) -> None:
        if owned[k]:
            scratch.put(values[k])
        values[k], owned[k] = None, False

    for i, j, need_min, need_max in network(len(values), wanted):
        a, b = values[i], values[j]
        if need_min and need_max:
            lo = np.minimum(a, b, out=take())
            # The max may overwrite an owned input: elementwise, each cell is read first.
            target = b if owned[j] else a if owned[i] else take()
            hi = np.maximum(a, b, out=target)
            if owned[i] and target is not a:
                scratch.put(a)
            values[i], values[j], owned[i], owned[j] = lo, hi, True, True
        elif need_min:  # slot j is not read again
            values[i] = np.minimum(a, b, out=a if owned[i] else take())
            owned[i] = True
            release(j)
        else:  # only the max is needed; slot i is not read again
            values[j] = np.maximum(a, b, out=b if owned[j] else take())
            owned[j] = True
            release(i)
    return values  # type: ignore[return-value]


def _recycle(
    values: Sequence[np.ndarray | None], taps: Sequence[np.ndarray], scratch: Scratch
) -> None:
    """Hand the network's own buffers back (never the caller's taps)."""
    inputs = {id(t) for t in taps}
    scratch.put(*(v for v in values if v is not None and id(v) not in inputs))


def middle_mean(
    lo: np.ndarray,
    hi: np.ndarray,
    dtype: np.dtype,
    out: np.ndarray | None = None,
    scratch: Scratch | None = None,
) -> np.ndarray:
    """Mean of two middle values; for integers ``ceil((lo + hi) / 2)`` (half up) in their width."""
    if out is None:
        out = np.empty(np.broadcast_shapes(lo.shape, hi.shape), dtype)
    scratch = scratch or Scratch()
    a = scratch.get(out.shape, np.result_type(lo, hi))
    b = scratch.get(out.shape, a.dtype)
    if dtype.kind == "f":
        np.multiply(lo, 0.5, out=a)
        np.multiply(hi, 0.5, out=b)
        np.add(a, b, out=out, casting="unsafe")
    else:
        # ceil((lo + hi) / 2) == (lo | hi) - ((lo ^ hi) >> 1), exact in the values' own width
        # (the shift is arithmetic for signed types): nothing can overflow, nothing is widened.
        np.bitwise_or(lo, hi, out=a)
        np.bitwise_xor(lo, hi, out=b)
        np.right_shift(b, 1, out=b)
        np.subtract(a, b, out=out, casting="unsafe")
    scratch.put(a, b)
    return out


def median_of_taps(
    taps: Sequence[np.ndarray],
    dtype: np.dtype,
    out: np.ndarray,
    scratch: Scratch | None = None,
) -> None:
    """Median of ``n`` same-shaped arrays, elementwise, into ``out`` (NaN propagates)."""
    n = len(taps)
    if n == 1:
        out[...] = taps[0]
        return
    scratch = scratch or Scratch()
    wanted = (n // 2,) if n % 2 else (n // 2 - 1, n // 2)
    values = sort_taps(taps, wanted, scratch)
    if n % 2:
        out[...] = values[n // 2]
    else:
        middle_mean(values[n // 2 - 1], values[n // 2], dtype, out, scratch)
    _recycle(values, taps, scratch)


def mode_of_taps(
    taps: Sequence[np.ndarray], out: np.ndarray, scratch: Scratch | None = None
) -> None:
    """Most frequent of ``n`` same-shaped integer arrays, elementwise, into ``out``.

    Ties go to the smallest value.
    """
    n = len(taps)
    scratch = scratch or Scratch()
    v = sort_taps(taps, tuple(range(n)), scratch)
    if n == 1:
        out[...] = v[0]
    elif n == 4:  # 2x2, the common case: in sorted order three equalities decide
        same = scratch.get(out.shape, np.dtype(bool))
        np.copyto(out, v[0])
        np.copyto(out, v[2], where=np.equal(v[2], v[3], out=same))
        np.copyto(out, v[1], where=np.equal(v[1], v[2], out=same))
        np.copyto(out, v[0], where=np.equal(v[0], v[1], out=same))
        scratch.put(same)
    else:
        _mode_of_sorted(v, out)
    _recycle(v, taps, scratch)


# Keys of sparse mode: a background tap becomes a value past every real key, a different one for
# each tap, so background never makes a run (it wins no tie against a real label, which is
# smaller) and a window of background only is recognised by its result. Keys of 8 bytes have no
# room left: those windows are gathered (core._gathered leaves background out of the count).
_SPARSE_WIDER = {
    np.dtype(np.uint8): np.dtype(np.uint16),
    np.dtype(np.uint16): np.dtype(np.uint32),
    np.dtype(np.uint32): np.dtype(np.uint64),
    np.dtype(np.int64): np.dtype(np.int64),  # label numbers: small non-negative integers
}


def sparse_fits(dtype: np.dtype) -> bool:
    """Whether :func:`sparse_mode_of_taps` takes keys of ``dtype``."""
    return np.dtype(dtype) in _SPARSE_WIDER


def sparse_mode_of_taps(
    taps: Sequence[np.ndarray],
    background: Sequence[np.ndarray],
    out: np.ndarray,
    scratch: Scratch | None = None,
) -> np.ndarray:
    """Most frequent of the taps whose ``background`` mask is False, elementwise, into ``out``.

    Ties go to the smallest value. Returns where every tap is background (``out`` holds 0
    there).
    """
    scratch = scratch or Scratch()
    wide = _SPARSE_WIDER[np.dtype(taps[0].dtype)]
    top = int(np.iinfo(wide).max)
    marked = []
    for j, (tap, bg) in enumerate(zip(taps, background, strict=True)):
        t = scratch.get(tap.shape, wide)
        np.copyto(t, tap, casting="unsafe")
        np.copyto(t, wide.type(top - j), where=bg)
        marked.append(t)
    best = scratch.get(out.shape, wide)
    mode_of_taps(marked, best, scratch)
    empty = best > top - len(taps)
    np.copyto(best, 0, where=empty)
    np.copyto(out, best, casting="unsafe")
    scratch.put(best, *marked)
    return empty


def _mode_of_sorted(v: Sequence[np.ndarray], best: np.ndarray) -> None:
    n = len(v)
    np.copyto(best, v[0])
    counter = np.uint8 if n < 255 else np.int32
    best_len = np.ones(best.shape, counter)
    run = np.ones(best.shape, counter)
    same = np.empty(best.shape, bool)
    for k in range(1, n):
        np.equal(v[k], v[k - 1], out=same)
        np.multiply(run, same, out=run)  # a run continues (+1) or restarts (0 + 1)
        run += 1
        # Strictly longer only: on equal counts the earlier, smaller value stays.
        np.greater(run, best_len, out=same)
        np.copyto(best_len, run, where=same)
        np.copyto(best, v[k], where=same)


def median_sorted(values: np.ndarray, count: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Median along the last axis of ``values`` sorted ascending, of its first ``count`` entries."""
    lo = np.take_along_axis(values, ((count - 1) // 2)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(values, (count // 2)[..., None], axis=-1)[..., 0]
    value = middle_mean(lo, hi, dtype)
    if dtype.kind == "f":
        # An odd count's median is its middle value itself: halving and adding it back loses a
        # subnormal's last bit (5e-324 came out 0), where the sorting network's path keeps it.
        np.copyto(value, lo, where=count % 2 == 1, casting="unsafe")
    return value


def mode_sorted(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Most frequent of the first ``count`` entries along the last axis of sorted ``values``."""
    n = values.shape[-1]
    pos = np.arange(n)
    starts = np.ones(values.shape, bool)
    starts[..., 1:] = values[..., 1:] != values[..., :-1]
    # Length of the run so far at every position: distance to the last run start, plus one.
    run_start = np.maximum.accumulate(np.where(starts, pos, 0), axis=-1)
    run = pos - run_start + 1
    run[pos >= count[..., None]] = 0
    longest = run.max(axis=-1, keepdims=True)
    # The first position reaching the longest run ends the smallest value with that count.
    first = np.argmax(run == longest, axis=-1)
    return np.take_along_axis(values, first[..., None], axis=-1)[..., 0]


__all__ = [
    "NETWORK_MAX_TAPS",
    "median_of_taps",
    "median_sorted",
    "mode_of_taps",
    "mode_sorted",
    "network",
    "sort_taps",
    "sparse_fits",
    "sparse_mode_of_taps",
]
