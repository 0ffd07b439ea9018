"""The order-statistic kernels: median, mode and sparse mode (:func:`order_stat`).

They look at all taps of a window together: each band gathers its windows' values (or, for
``mode`` and ``sparse``, one label per pixel) and :mod:`poolcli.core.order` ranks them. A window's
taps are every combination of its axes' taps, so signals, images and volumes take the same code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from poolcli.core import order
from poolcli.core.bands import for_bands
from poolcli.core.geometry import Axis
from poolcli.core.scratch import Scratch
from poolcli.core.separable import window_taps

# --------------------------------------------------------------------------------------------
# Median and mode.


def order_stat(
    x: np.ndarray,
    axes: tuple[Axis, ...],
    name: str,
    workers: int,
    background: Any = None,
) -> np.ndarray:
    """Median (per channel), mode or sparse mode (per pixel label), one band at a time.

    ``x`` is ``(*spatial, C)``. Windows whose every tap is a real cell (the interior box) take
    the sorting networks on strided views, one view per tap (every combination of the axes'
    taps); the windows around it (padding, ragged edges, irregular adaptive windows, large
    windows) are gathered and sorted. Keys for mode are made per band from the cells the band
    reads, so every pass stays in cache.
    """
    res = np.empty((*(a.out for a in axes), x.shape[-1]), x.dtype)
    rows, rest = axes[0], axes[1:]
    inner = [a.interior() for a in axes]
    fast = (
        all(a.stride is not None for a in axes)
        and window_taps(axes) <= order.NETWORK_MAX_TAPS
        and all(a < b for a, b in inner)
        and (name != "sparse" or order.sparse_fits(_key_dtype(x)))
    )
    if fast:
        r0, r1 = inner[0]
        box = tuple(slice(a, b) for a, b in inner[1:])
        rest_slices = [
            [slice(a.index[lo, j], a.index[hi - 1, j] + 1, a.stride) for j in range(a.taps)]
            for a, (lo, hi) in zip(rest, inner[1:], strict=True)
        ]
        scratch = Scratch()

        def run(lo: int, hi: int) -> None:
            lo, hi = lo + r0, hi + r0
            first, last = rows.span(lo, hi)
            planes, decode, bg = _planes(x[first:last], name, background)
            row_slices = [
                slice(
                    rows.index[lo, j] - first,
                    rows.index[hi - 1, j] - first + 1,
                    rows.stride,
                )
                for j in range(rows.taps)
            ]
            cuts = list(itertools.product(row_slices, *rest_slices))
            shape = (hi - lo, *(b - a for a, b in inner[1:]))
            value = scratch.get((*shape, planes.shape[-1]), planes.dtype)
            for ch in range(planes.shape[-1]):
                taps = [planes[(*cut, ch)] for cut in cuts]
                if name == "median":
                    order.median_of_taps(taps, x.dtype, value[..., ch], scratch)
                elif bg is None:
                    order.mode_of_taps(taps, value[..., ch], scratch)
                else:
                    masks = [bg[cut] for cut in cuts]
                    empty = order.sparse_mode_of_taps(taps, masks, value[..., ch], scratch)
            target = res[(slice(lo, hi), *box)]
            decode(value, target)
            if bg is not None:
                target[empty] = background
            scratch.put(value)

        band_bytes = math.prod(a.size for a in rest) * x.shape[-1] * x.itemsize
        for_bands(rows.windows(r0, r1), band_bytes, workers, run)
        # Around the interior box: for each axis, the windows outside its interior range whose
        # earlier axes are inside theirs (so every output is in exactly one box).
        edges = []
        for k, ax in enumerate(axes):
            before = [(a, b) for a, b in inner[:k]]
            after = [(0, a.out) for a in axes[k + 1 :]]
            lo_k, hi_k = inner[k]
            edges += [(*before, (0, lo_k), *after), (*before, (hi_k, ax.out), *after)]
    else:
        edges = [tuple((0, a.out) for a in axes)]
    for box_ in edges:
        if all(a < b for a, b in box_):
            _gathered(x, axes, name, res, box_, background)
    return res


def _key_dtype(x: np.ndarray) -> np.dtype:
    """The dtype of :func:`_label_keys`' keys for ``x`` (without making them)."""
    c, dtype = x.shape[-1], x.dtype
    if dtype.kind in "ub" and c == 1:
        return dtype
    width = c * dtype.itemsize
    if dtype.kind in "ub" and width in (2, 3, 4, 8):
        return np.dtype(f"u{4 if width == 3 else width}")
    if width <= 8:
        return np.dtype(f"u{next(b for b in (1, 2, 4, 8) if b >= width)}")
    return np.dtype(np.int64)


# decode(values, out) writes pooled keys or channels into ``out``, a (..., C) view of the result.
Decoder = Callable[[np.ndarray, np.ndarray], None]


def _planes(
    block: np.ndarray, name: str, background: Any = None
) -> tuple[np.ndarray, Decoder, np.ndarray | None]:
    """What median/mode sort: the channels themselves, or one label key per pixel for mode;
    for sparse mode also which pixels are background (all channels equal to it)."""
    if name == "median":
        return block, _copy_into, None
    keys, decode = _label_keys(block)
    bg = (block == background).all(axis=-1) if name == "sparse" else None
    return keys[..., None], lambda v, out: decode(v[..., 0], out), bg


def _copy_into(values: np.ndarray, out: np.ndarray) -> None:
    out[...] = values


def _gathered(
    x: np.ndarray,
    axes: tuple[Axis, ...],
    name: str,
    res: np.ndarray,
    box: tuple[tuple[int, int], ...],
    background: Any = None,
) -> None:
    """Median/mode of the windows in ``box`` (an output range per axis) by gathering their taps
    and sorting them, in bands along the first axis."""
    n = window_taps(axes)
    rows = axes[0]
    (r0, r1), rest = box[0], box[1:]
    per_band = max(1, (1 << 24) // max(n * math.prod(b - a for a, b in rest) * x.shape[-1], 1))
    m = len(axes)
    # (o0, k0, o1, k1, ..., C) -> (o0, o1, ..., C, k0, k1, ...): each window's taps last.
    order_ = [*range(0, 2 * m, 2), 2 * m, *range(1, 2 * m, 2)]
    for lo in range(r0, r1, per_band):
        hi = min(lo + per_band, r1)
        first, last = rows.span(lo, hi)
        planes, decode, bg = _planes(x[first:last], name, background)
        c = planes.shape[-1]
        index = [np.clip(rows.index[lo:hi], first, last - 1) - first]
        valid = [rows.valid[lo:hi]]
        for ax, (a, b) in zip(axes[1:], rest, strict=True):
            index.append(np.clip(ax.index[a:b], 0, ax.size - 1))
            valid.append(ax.valid[a:b])
        outs = [i.shape[0] for i in index]
        split = [d for i in index for d in i.shape]
        picks = np.ix_(*(i.ravel() for i in index))
        g = planes[picks].reshape(*split, c).transpose(order_).reshape(*outs, c, n).copy()
        real = valid[0]
        for v in valid[1:]:
            real = np.multiply.outer(real, v)  # (o0, k0, o1, k1, ...)
        if bg is not None:
            real = real & ~bg[picks].reshape(split)
        real = real.transpose(order_[:m] + order_[m + 1 :]).reshape(*outs, 1, n)
        real = np.broadcast_to(real, g.shape)
        g[~real] = np.inf if g.dtype.kind == "f" else np.iinfo(g.dtype).max
        g.sort(axis=-1)
        count = np.broadcast_to(real.sum(axis=-1), g.shape[:-1])
        target = res[tuple(slice(a, b) for a, b in ((lo, hi), *rest))]
        if name == "median":
            value = order.median_sorted(g, count, x.dtype)
            if x.dtype.kind == "f":  # a NaN among the real cells sorted past the fill: restore it
                value[np.isnan(g).any(axis=-1)] = np.nan
            decode(value, target)
            continue
        empty = count == 0  # sparse: a window of background only
        value = order.mode_sorted(g, np.maximum(count, 1))
        if bg is None:
            decode(value, target)
            continue
        value[empty] = 0  # a key every decoder reads; the cell gets the background below
        decode(value, target)
        target[empty[..., 0]] = background


def _label_keys(x3: np.ndarray) -> tuple[np.ndarray, Decoder]:
    """One sortable unsigned key per pixel, whose order is the pixel's lexicographic order.

    ``x3`` is ``(*spatial, C)``. Returns the ``spatial`` keys and the function writing pooled
    keys back as ``(..., C)`` pixels.
    """
    spatial, c = x3.shape[:-1], x3.shape[-1]
    dtype = x3.dtype
    if dtype.kind == "f":  # one value, one key: -0.0 is 0.0, and every NaN is the same NaN
        x3 = x3 + dtype.type(0)
        x3[np.isnan(x3)] = np.nan
    bits = 8 * dtype.itemsize
    udt = np.dtype(f"u{dtype.itemsize}")

    def ordered(
        a: np.ndarray,
    ) -> np.ndarray:  # order-preserving map to unsigned integers
        if dtype.kind == "u":
            return a
        u = a.view(udt)
        sign = udt.type(1 << (bits - 1))
        if dtype.kind == "i":
            return u ^ sign
        # IEEE floats: negative numbers have all bits flipped, positive ones just the sign bit.
        return np.where(u & sign, ~u, u | sign)

    def unordered(u: np.ndarray) -> np.ndarray:
        if dtype.kind == "u":
            return u.astype(dtype, copy=False)
        u = u.astype(udt, copy=False)
        sign = udt.type(1 << (bits - 1))
        if dtype.kind == "i":
            return (u ^ sign).view(dtype)
        return np.where(u & sign, u & ~sign, ~u).view(dtype)

    if dtype.kind in "ub" and c == 1:
        return x3[..., 0], lambda k, out: _copy_into(k, out[..., 0])
    if dtype.kind in "ub" and c * dtype.itemsize in (2, 3, 4, 8):
        return _byte_keys(x3)
    if c * bits <= 64:
        kbits = next(b for b in (8, 16, 32, 64) if b >= c * bits)
        kdt = np.dtype(f"u{kbits // 8}")
        keys = np.zeros(spatial, kdt)
        for ch in range(c):
            if ch:
                keys <<= kdt.type(bits)
            keys |= ordered(np.ascontiguousarray(x3[..., ch])).astype(kdt)
        mask = (1 << bits) - 1

        def decode(k: np.ndarray, out: np.ndarray) -> None:
            for ch in range(c):
                out[..., ch] = unordered((k >> kdt.type(bits * (c - 1 - ch))) & kdt.type(mask))

        return keys, decode
    # Too wide to pack: number the distinct pixels in lexicographic order.
    flat = np.stack([ordered(x3[..., ch]).reshape(-1) for ch in range(c)], axis=-1)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    pixels = x3.reshape(-1, c)[first]
    return inverse.reshape(spatial).astype(np.int64), lambda k, out: _copy_into(pixels[k], out)


def _byte_keys(x3: np.ndarray) -> tuple[np.ndarray, Decoder]:
    """Keys of unsigned pixels read straight from memory as big-endian integers.

    A pixel's bytes, most significant channel first, *are* its lexicographic key: one byteswap
    pass instead of a shift and an or per channel. Three-byte pixels are read as four bytes (the
    next pixel's first byte, shifted out) from a copy one byte longer.
    """
    spatial, c = x3.shape[:-1], x3.shape[-1]
    width = c * x3.itemsize
    dtype = x3.dtype
    if dtype.itemsize > 1:  # channels of several bytes: make each one big-endian first
        x3 = x3.astype(dtype.newbyteorder(">"))
    if width == 3:
        cells = math.prod(spatial)
        flat = np.empty(cells * 3 + 1, np.uint8)
        flat[:-1] = x3.reshape(-1)
        flat[-1] = 0
        four = np.ndarray((cells,), ">u4", flat, 0, (3,))
        keys = (four.astype(np.uint32) >> np.uint32(8)).reshape(spatial)
    else:
        keys = np.ascontiguousarray(x3).view(f">u{width}")[..., 0].astype(f"u{width}")

    def decode(k: np.ndarray, out: np.ndarray) -> None:
        kw = k.astype(f">u{4 if width == 3 else width}")
        raw = kw.view(np.uint8).reshape(*k.shape, -1)[..., -width:]
        big = raw.view(dtype.newbyteorder(">"))
        for ch in range(c):  # one channel at a time: long inner loops, not 3-byte ones
            out[..., ch] = big[..., ch]

    return keys, decode
