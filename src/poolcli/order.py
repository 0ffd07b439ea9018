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


def sort_taps(taps: Sequence[np.ndarray], wanted: tuple[int, ...]) -> list[np.ndarray]:
    """Sort same-shaped arrays elementwise; the result's ``wanted`` entries hold sorted values.

    The input arrays (often views of the caller's image) are never written to.
    """
    values = list(taps)
    for i, j, need_min, need_max in network(len(values), wanted):
        a, b = values[i], values[j]
        if need_min:
            values[i] = np.minimum(a, b)
        if need_max:
            values[j] = np.maximum(a, b)
    return values


def middle_mean(lo: np.ndarray, hi: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Mean of two middle values; for integers ``floor((lo + hi + 1) / 2)`` without overflow."""
    if dtype.kind == "f":
        return (lo * 0.5 + hi * 0.5).astype(dtype, copy=False)
    # floor((lo + hi + 1) / 2) == (lo >> 1) + (hi >> 1) + ((lo & 1) + (hi & 1) + 1) >> 1, exact for
    # every width: nothing is ever added before it has been halved.
    carry = ((lo & 1) + (hi & 1) + 1) >> 1
    return ((lo >> 1) + (hi >> 1) + carry).astype(dtype, copy=False)


def median_of_taps(taps: Sequence[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Median of ``n`` same-shaped arrays, elementwise (NaN propagates through min/max)."""
    n = len(taps)
    if n == 1:
        return np.array(taps[0], dtype=dtype)
    wanted = (n // 2,) if n % 2 else (n // 2 - 1, n // 2)
    values = sort_taps(taps, wanted)
    if n % 2:
        return np.array(values[n // 2], dtype=dtype)
    return middle_mean(values[n // 2 - 1], values[n // 2], dtype)


def mode_of_taps(taps: Sequence[np.ndarray]) -> np.ndarray:
    """Most frequent of ``n`` same-shaped integer arrays, elementwise; ties go to the smallest."""
    n = len(taps)
    v = sort_taps(taps, tuple(range(n)))
    if n == 1:
        return np.array(v[0])
    if n == 4:  # 2x2, the common case: in sorted order the answer is decided by three equalities
        best = np.where(v[2] == v[3], v[2], v[0])
        np.copyto(best, v[1], where=v[1] == v[2])
        np.copyto(best, v[0], where=v[0] == v[1])
        return best
    best = np.array(v[0])
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
    return best


def median_sorted(values: np.ndarray, count: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Median along the last axis of ``values`` sorted ascending, of its first ``count`` entries."""
    lo = np.take_along_axis(values, ((count - 1) // 2)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(values, (count // 2)[..., None], axis=-1)[..., 0]
    return middle_mean(lo, hi, dtype)


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
]
