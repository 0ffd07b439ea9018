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
Sizes = tuple[int, ...]

# The spelling of an n-tuple in messages: "an (h, w) pair" is what 2-D users have always read.
_TUPLE_NAMES = {1: "a (length,) tuple", 2: "an (h, w) pair", 3: "a (d, h, w) triple"}
WINDOW_ARGS = ("kernel_size", "stride", "padding", "dilation", "output_size")


def _tuple_name(n: int) -> str:
    return _TUPLE_NAMES.get(n, f"a tuple of {n}")


def as_tuple(value: object, name: str, n: int, *, minimum: int = 1) -> Sizes:
    """``3`` -> ``(3,) * n``; an n-tuple stays; anything else raises :class:`WindowError`.

    >>> as_tuple(2, "kernel_size", 3)
    (2, 2, 2)
    """
    items = value if isinstance(value, (tuple, list)) else (value,) * n
    if len(items) != n:
        raise WindowError(f"{name} must be an int or {_tuple_name(n)}, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise WindowError(f"{name} must be an int or {_tuple_name(n)}, got {value!r}")
        if item < minimum:
            raise WindowError(f"{name} must be >= {minimum}, got {value!r}")
        out.append(operator.index(item))
    return tuple(out)


def as_pair(value: object, name: str, *, minimum: int = 1) -> Pair:
    """``3`` -> ``(3, 3)``; ``(2, 3)`` -> ``(2, 3)``; anything else raises :class:`WindowError`."""
    a, b = as_tuple(value, name, 2, minimum=minimum)
    return a, b


def spatial_axes(
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    output_size: object = DEFAULTS["output_size"],
) -> int | None:
    """How many spatial axes the window arguments pool: the length of the tuples among them.

    ``None`` when every argument is a scalar (the caller's default: 2 for :func:`poolcli.pool`).
    Tuples of different lengths raise :class:`WindowError`.

    >>> spatial_axes(kernel_size=(2, 2, 2)), spatial_axes(kernel_size=3, stride=(2,))
    (3, 1)
    >>> spatial_axes(kernel_size=2) is None
    True
    """
    values = (kernel_size, stride, padding, dilation, output_size)
    lengths = [len(v) for v in values if isinstance(v, (tuple, list))]
    if not lengths:  # the common call: plain ints, nothing to compare (pool calls this twice)
        return None
    n = lengths[0]
    given = dict(zip(WINDOW_ARGS, values, strict=True))
    tuples = [name for name, v in given.items() if isinstance(v, (tuple, list))]
    if any(m != n for m in lengths):
        said = ", ".join(f"{name}={given[name]!r}" for name in tuples)
        raise WindowError(f"window arguments disagree on the number of spatial axes: {said}")
    if not 1 <= n <= 3:
        raise WindowError(
            f"{tuples[0]} must have 1, 2 or 3 entries (spatial axes), got {given[tuples[0]]!r}"
        )
    return n


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
        # PyTorch's rule, floor division included: in ceil_mode a window larger than the padded
        # input is still a window (a 1x1 input, 2x2 windows: one output), cut at size + pad.
        extra = stride - 1 if ceil_mode else 0
        out = (size + 2 * before - eff + extra) // stride + 1
        if ceil_mode and (out - 1) * stride >= size + before:
            out -= 1
        if out < 1:
            beyond = f" by more than stride - 1 = {extra}" if ceil_mode else ""
            raise WindowError(
                f"window {eff} (kernel {kernel}, dilation {dilation}) is larger than the"
                f" padded input {size}+2*{before}{beyond}"
            )
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
    """Window arguments checked for everything that does not depend on the input's size.

    Every tuple has one entry per spatial axis (``len(kernel)`` of them).
    """

    kernel: Sizes
    stride: Sizes
    pads: tuple[int | str, ...]
    dilation: Sizes
    ceil_mode: bool
    output_size: tuple[int | None, ...] | None

    @property
    def ndim(self) -> int:
        """The number of spatial axes."""
        return len(self.kernel)

    def describe(self) -> str:
        def x(values: tuple) -> str:
            return "x".join(str(v) for v in values)

        if self.output_size is not None:
            return f"adaptive {x(self.output_size)}"
        return (
            f"kernel {x(self.kernel)}, stride {x(self.stride)}, padding {x(self.pads)},"
            f" dilation {x(self.dilation)}"
        )


def check_window(
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    output_size: object = DEFAULTS["output_size"],
    *,
    ndim: int | None = None,
) -> Window:
    """Validate the window arguments of :func:`poolcli.pool` that are wrong for any image.

    ``ndim`` is the number of spatial axes; by default the length of the tuples among the
    arguments (:func:`spatial_axes`), else 2.

    >>> check_window(3, 2, 1).describe()
    'kernel 3x3, stride 2x2, padding 1x1, dilation 1x1'
    >>> check_window((2, 2, 2)).describe()
    'kernel 2x2x2, stride 2x2x2, padding 0x0x0, dilation 1x1x1'
    """
    found = spatial_axes(kernel_size, stride, padding, dilation, output_size)
    n = ndim or found or 2
    if found is not None and found != n:
        raise WindowError(
            f"the window arguments have {found} spatial axes, the input {n}"
            f" (kernel_size {kernel_size!r}, output_size {output_size!r})"
        )
    if output_size is not None:
        given = (kernel_size, stride, padding, dilation, ceil_mode)
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
        if given != tuple(DEFAULTS[name] for name in names):
            raise WindowError(
                "output_size (adaptive pooling) excludes kernel_size, stride, padding,"
                " dilation and ceil_mode"
            )
        items = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * n
        if len(items) != n:
            raise WindowError(
                f"output_size must be an int or {_tuple_name(n)}, got {output_size!r}"
            )
        # None keeps that axis's size, as in PyTorch's adaptive pools.
        for item in items:
            if item is not None:
                as_tuple(item, "output_size", 1)
        one = (1,) * n
        return Window(one, one, (0,) * n, one, False, tuple(items))
    k = as_tuple(kernel_size, "kernel_size", n)
    s = k if stride is None else as_tuple(stride, "stride", n)
    d = as_tuple(dilation, "dilation", n)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise WindowError(
                f"padding must be an int, {_tuple_name(n)}, 'same' or 'valid', got {padding!r}"
            )
        if padding == "same" and ceil_mode:
            raise WindowError("padding='same' fixes the output size; ceil_mode does not apply")
        pads: tuple[int | str, ...] = (0,) * n if padding == "valid" else ("same",) * n
    else:
        pads = as_tuple(padding, "padding", n, minimum=0)
        for pad, kernel, dil in zip(pads, k, d, strict=True):
            eff = dil * (kernel - 1) + 1
            if pad > eff // 2:
                raise WindowError(
                    f"padding {pad} is more than half the effective window {eff}"
                    f" (kernel {kernel}, dilation {dil})"
                )
    return Window(k, s, pads, d, bool(ceil_mode), None)


def make_axes(
    shape: tuple[int, ...],
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    output_size: object = DEFAULTS["output_size"],
) -> tuple[Axis, ...]:
    """Validate the window arguments of :func:`poolcli.pool` and build one axis per entry of
    ``shape`` (the spatial sizes: ``(L,)``, ``(H, W)`` or ``(D, H, W)``).

    >>> rows, cols = make_axes((5, 4), kernel_size=2)
    >>> rows.out, cols.out
    (2, 2)
    >>> [a.out for a in make_axes((5, 4, 3), kernel_size=(3, 2, 1), stride=1)]
    [3, 3, 3]
    """
    win = check_window(
        kernel_size, stride, padding, dilation, ceil_mode, output_size, ndim=len(shape)
    )
    if min(shape) < 1:
        raise WindowError(f"input {'x'.join(map(str, shape))} is empty: no window fits")
    if win.output_size is not None:
        return tuple(
            adaptive_axis(n, n if o is None else o)
            for n, o in zip(shape, win.output_size, strict=True)
        )
    try:
        return tuple(
            regular_axis(n, *args, win.ceil_mode)
            for n, *args in zip(shape, win.kernel, win.stride, win.pads, win.dilation, strict=True)
        )
    except WindowError as err:
        raise WindowError(f"{err} (input {'x'.join(map(str, shape))}, {win.describe()})") from None


def unit_axis() -> Axis:
    """One window of one cell on an axis of one cell: a spatial axis that pools nothing.

    A signal ``(L, C)`` is pooled as the image ``(L, 1, C)`` with this axis for columns.
    """
    return regular_axis(1, 1, 1, 0, 1, False)
