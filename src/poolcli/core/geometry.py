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

from poolcli.core.modes import DEFAULTS
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

    def windows(self, lo: int, hi: int, *, rebase: bool = False) -> Axis:
        """The windows ``lo..hi-1`` as an axis of their own; with ``rebase``, their cells are
        numbered from the first input cell they read (for a block cut out of the input)."""
        first, last = self.span(lo, hi) if rebase else (0, self.size)
        return Axis(
            last - first,
            hi - lo,
            self.index[lo:hi] - first,
            self.valid[lo:hi],
            self.padded_count[lo:hi],
            self.stride,
            self.kernel,
            self.dilation,
            self.pad,
        )

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
        before = after = int(pad)  # at most eff // 2: check_window saw to it
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


@dataclass(frozen=True)
class Window:
    """Window arguments checked for everything that does not depend on the input's size."""

    kernel: Pair
    stride: Pair
    pads: tuple[int | str, int | str]
    dilation: Pair
    ceil_mode: bool
    output_size: tuple[int | None, int | None] | None

    def describe(self) -> str:
        if self.output_size is not None:
            return f"adaptive {self.output_size[0]}x{self.output_size[1]}"
        k, s, d = self.kernel, self.stride, self.dilation
        return (
            f"kernel {k[0]}x{k[1]}, stride {s[0]}x{s[1]}, padding {self.pads[0]}x{self.pads[1]},"
            f" dilation {d[0]}x{d[1]}"
        )


def check_window(
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    output_size: object = DEFAULTS["output_size"],
) -> Window:
    """Validate the window arguments of :func:`poolcli.pool` that are wrong for any image.

    >>> check_window(3, 2, 1).describe()
    'kernel 3x3, stride 2x2, padding 1x1, dilation 1x1'
    """
    if output_size is not None:
        given = (kernel_size, stride, padding, dilation, ceil_mode)
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
        if given != tuple(DEFAULTS[n] for n in names):
            raise WindowError(
                "output_size (adaptive pooling) excludes kernel_size, stride, padding,"
                " dilation and ceil_mode"
            )
        items = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(items) != 2:
            raise WindowError(f"output_size must be an int or an (h, w) pair, got {output_size!r}")
        # None keeps that axis's size, as in PyTorch's adaptive pools.
        for item in items:
            if item is not None:
                as_pair(item, "output_size")
        one = (1, 1)
        return Window(one, one, (0, 0), one, False, (items[0], items[1]))
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
        for pad, kernel, dil in zip(pads, k, d, strict=True):
            eff = dil * (kernel - 1) + 1
            if pad > eff // 2:
                raise WindowError(
                    f"padding {pad} is more than half the effective window {eff}"
                    f" (kernel {kernel}, dilation {dil})"
                )
    return Window(k, s, pads, d, bool(ceil_mode), None)


def make_axes(
    shape_hw: tuple[int, int],
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    output_size: object = DEFAULTS["output_size"],
) -> tuple[Axis, Axis]:
    """Validate the window arguments of :func:`poolcli.pool` and build both axes.

    >>> rows, cols = make_axes((5, 4), kernel_size=2)
    >>> rows.out, cols.out
    (2, 2)
    """
    win = check_window(kernel_size, stride, padding, dilation, ceil_mode, output_size)
    h, w = shape_hw
    if h < 1 or w < 1:
        raise WindowError(f"input {h}x{w} is empty: no window fits")
    if win.output_size is not None:
        oh, ow = win.output_size
        return adaptive_axis(h, h if oh is None else oh), adaptive_axis(w, w if ow is None else ow)
    k, s, d, pads = win.kernel, win.stride, win.dilation, win.pads
    try:
        rows = regular_axis(h, k[0], s[0], pads[0], d[0], win.ceil_mode)
        cols = regular_axis(w, k[1], s[1], pads[1], d[1], win.ceil_mode)
    except WindowError as err:
        raise WindowError(f"{err} (input {h}x{w}, {win.describe()})") from None
    return rows, cols
