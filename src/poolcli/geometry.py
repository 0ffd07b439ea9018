"""Window geometry: which input cells each output cell reads, one axis at a time.

Pooling windows are rectangles, so every question about them (how many outputs, which cells a
window covers, how many of them are padding) is answered per axis and combined by the caller.
The rules are PyTorch's (explicit padding, ``ceil_mode``, adaptive windows) and TensorFlow's
(``"same"``/``"valid"``); SPEC.md §1 states them and this module is their only implementation.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from poolcli.errors import WindowError

Pair = tuple[int, int]


def as_pair(value: object, name: str, *, minimum: int = 1) -> Pair:
    """``3`` -> ``(3, 3)``; ``(2, 3)`` -> ``(2, 3)``; anything else raises :class:`WindowError`."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise WindowError(f"{name} must be an int or an (h, w) pair, got {value!r}")
    pair = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise WindowError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        if item < minimum:
            raise WindowError(f"{name} must be >= {minimum}, got {value!r}")
        pair.append(operator.index(item))
    return pair[0], pair[1]


@dataclass(frozen=True, eq=False)
class Axis:
    """The windows along one axis.

    ``index[i, j]`` is the input cell read by tap ``j`` of window ``i`` (negative or past the end
    for padding) and ``valid[i, j]`` says whether it is a real cell. ``stride`` is ``None`` for
    adaptive windows that are not evenly spaced; such axes are gathered, not sliced.
    """

    size: int
    out: int
    index: np.ndarray  # (out, taps) int64
    valid: np.ndarray  # (out, taps) bool
    padded_count: np.ndarray  # (out,) cells inside [-pad, size + pad_after): avg's divisor
    stride: int | None
    kernel: int
    dilation: int
    pad: int

    @property
    def taps(self) -> int:
        return self.index.shape[1]

    @cached_property
    def real_count(self) -> np.ndarray:
        return self.valid.sum(axis=1)

    @cached_property
    def _tap_ranges(self) -> list[tuple[int, int]]:
        ranges = []
        for j in range(self.taps):
            hits = np.flatnonzero(self.valid[:, j])
            ranges.append((int(hits[0]), int(hits[-1]) + 1) if hits.size else (0, 0))
        return ranges

    def tap_range(self, j: int) -> tuple[int, int]:
        """Outputs ``[lo, hi)`` whose tap ``j`` is a real cell (contiguous for regular windows)."""
        return self._tap_ranges[j]

    @cached_property
    def _first_last(self) -> tuple[np.ndarray, np.ndarray]:
        big = np.iinfo(np.int64).max
        first = np.where(self.valid, self.index, big).min(axis=1)
        last = np.where(self.valid, self.index, -1).max(axis=1)
        # Running extremes make any band's span two lookups, also for irregular windows.
        return np.minimum.accumulate(first[::-1])[::-1], np.maximum.accumulate(last)

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Input cells ``[first, last + 1)`` read by the windows ``lo..hi-1``."""
        first, last = self._first_last
        return int(first[lo]), int(last[hi - 1]) + 1

    def interior(self) -> tuple[int, int]:
        """Outputs ``[lo, hi)`` whose every tap is a real cell (empty when there are none)."""
        full = np.flatnonzero(self.valid.all(axis=1))
        return (int(full[0]), int(full[-1]) + 1) if full.size else (0, 0)

    def describe(self) -> str:
        if self.stride is None:
            return f"adaptive {self.size}->{self.out}"
        return f"k{self.kernel} s{self.stride} p{self.pad} d{self.dilation}"


def regular_axis(
    size: int, kernel: int, stride: int, pad: int | str, dilation: int, ceil_mode: bool
) -> Axis:
    """Windows of ``kernel`` taps every ``stride`` cells, PyTorch's or TensorFlow's padding."""
    eff = dilation * (kernel - 1) + 1
    if pad == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        before, after = total // 2, total - total // 2
    else:
        before = after = int(pad)
        if before > eff // 2:
            raise WindowError(
                f"padding {before} is more than half the effective window {eff}"
                f" (kernel {kernel}, dilation {dilation})"
            )
        if size + 2 * before < eff:
            raise WindowError(
                f"window {eff} (kernel {kernel}, dilation {dilation}) is larger than the"
                f" padded input {size}+2*{before}"
            )
        extra = stride - 1 if ceil_mode else 0
        out = (size + 2 * before - eff + extra) // stride + 1
        if ceil_mode and (out - 1) * stride >= size + before:
            out -= 1
    starts = np.arange(out, dtype=np.int64) * stride - before
    index = starts[:, None] + np.arange(kernel, dtype=np.int64)[None, :] * dilation
    valid = (index >= 0) & (index < size)
    padded = ((index >= -before) & (index < size + after)).sum(axis=1)
    axis = Axis(size, out, index, valid, padded, stride, kernel, dilation, before)
    _check_windows(axis)
    return axis


def adaptive_axis(size: int, out: int) -> Axis:
    """PyTorch's adaptive windows: ``i`` spans ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    if size % out == 0:  # evenly spaced: the fast sliced path applies
        k = size // out
        return regular_axis(size, k, k, 0, 1, False)
    i = np.arange(out, dtype=np.int64)
    starts = (i * size) // out
    ends = -((-(i + 1) * size) // out)
    taps = int((ends - starts).max())
    index = starts[:, None] + np.arange(taps, dtype=np.int64)[None, :]
    valid = index < ends[:, None]
    index = np.minimum(index, size - 1)
    return Axis(size, out, index, valid, valid.sum(axis=1), None, taps, 1, 0)


def _check_windows(axis: Axis) -> None:
    empty = np.flatnonzero(~axis.valid.any(axis=1))
    if empty.size:
        raise WindowError(
            f"window {int(empty[0])} ({axis.describe()}) covers only padding on an axis of"
            f" {axis.size} cells"
        )


def make_axes(
    shape_hw: tuple[int, int],
    kernel_size: object = 2,
    stride: object = None,
    padding: object = 0,
    dilation: object = 1,
    ceil_mode: bool = False,
    output_size: object = None,
) -> tuple[Axis, Axis]:
    """Validate the window arguments of :func:`poolcli.pool` and build both axes.

    >>> rows, cols = make_axes((5, 4), kernel_size=2)
    >>> rows.out, cols.out
    (2, 2)
    """
    h, w = shape_hw
    if h < 1 or w < 1:
        raise WindowError(f"input {h}x{w} is empty: no window fits")
    if output_size is not None:
        if (kernel_size, stride, padding, dilation, ceil_mode) != (2, None, 0, 1, False):
            raise WindowError(
                "output_size (adaptive pooling) excludes kernel_size, stride, padding,"
                " dilation and ceil_mode"
            )
        items = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(items) != 2:
            raise WindowError(f"output_size must be an int or an (h, w) pair, got {output_size!r}")
        # None keeps that axis's size, as in PyTorch's adaptive pools.
        oh, ow = (h if items[0] is None else items[0]), (w if items[1] is None else items[1])
        oh, ow = as_pair((oh, ow), "output_size")
        return adaptive_axis(h, oh), adaptive_axis(w, ow)
    k = as_pair(kernel_size, "kernel_size")
    s = k if stride is None else as_pair(stride, "stride")
    d = as_pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise WindowError(
                f"padding must be an int, an (h, w) pair, 'same' or 'valid', got {padding!r}"
            )
        if padding == "same" and ceil_mode:
            raise WindowError("padding='same' fixes the output size; ceil_mode does not apply")
        pads: tuple[int | str, int | str] = (0, 0) if padding == "valid" else ("same", "same")
    else:
        pads = as_pair(padding, "padding", minimum=0)
    try:
        rows = regular_axis(h, k[0], s[0], pads[0], d[0], ceil_mode)
        cols = regular_axis(w, k[1], s[1], pads[1], d[1], ceil_mode)
    except WindowError as err:
        raise WindowError(
            f"{err} (input {h}x{w}, kernel {k[0]}x{k[1]}, stride {s[0]}x{s[1]},"
            f" padding {padding}, dilation {d[0]}x{d[1]})"
        ) from None
    return rows, cols
