"""The order-statistic kernels: median and mode (:func:`order_stat`).

They look at all taps of a window together: each band gathers its windows' values (or, for
``mode`` of multi-channel pixels, one label per pixel) and :mod:`poolcli.core.order` ranks them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from poolcli.core import order
from poolcli.core.bands import for_bands
from poolcli.core.geometry import Axis
from poolcli.core.scratch import Scratch

# --------------------------------------------------------------------------------------------
# Median and mode.


def order_stat(x3: np.ndarray, rows: Axis, cols: Axis, name: str, workers: int) -> np.ndarray:
    """Median (per channel) or mode (per pixel label), one band of rows at a time.

    Keys for mode are made per band from the rows the band reads, so every pass stays in cache.
    """
    res = np.empty((rows.out, cols.out, x3.shape[2]), x3.dtype)
    n = rows.taps * cols.taps
    r0, r1 = rows.interior()
    c0, c1 = cols.interior()
    fast = rows.stride is not None and cols.stride is not None and n <= order.NETWORK_MAX_TAPS
    if fast and r0 < r1 and c0 < c1:
        scratch = Scratch()

        def run(lo: int, hi: int) -> None:
            lo, hi = lo + r0, hi + r0
            first, last = rows.span(lo, hi)
            planes, decode = _planes(x3[first:last], name)
            value = scratch.get((hi - lo, c1 - c0, planes.shape[2]), planes.dtype)
            for ch in range(planes.shape[2]):
                taps = [
                    planes[
                        rows.index[lo, jr] - first : rows.index[hi - 1, jr]
                        - first
                        + 1 : rows.stride,
                        cols.index[c0, jc] : cols.index[c1 - 1, jc] + 1 : cols.stride,
                        ch,
                    ]
                    for jr in range(rows.taps)
                    for jc in range(cols.taps)
                ]
                if name == "median":
                    order.median_of_taps(taps, x3.dtype, value[:, :, ch], scratch)
                else:
                    order.mode_of_taps(taps, value[:, :, ch], scratch)
            decode(value, res[lo:hi, c0:c1])
            scratch.put(value)

        for_bands(rows.windows(r0, r1), cols.size * x3.shape[2] * x3.itemsize, workers, run)
        edges = [
            (0, r0, 0, cols.out),
            (r1, rows.out, 0, cols.out),
            (r0, r1, 0, c0),
            (r0, r1, c1, cols.out),
        ]
    else:
        edges = [(0, rows.out, 0, cols.out)]
    for a, b, d, e in edges:
        if a < b and d < e:
            _gathered(x3, rows, cols, name, res, a, b, d, e)
    return res


# decode(values, out) writes pooled keys or channels into ``out``, an (h, w, C) view of the result.
Decoder = Callable[[np.ndarray, np.ndarray], None]


def _planes(block: np.ndarray, name: str) -> tuple[np.ndarray, Decoder]:
    """What median/mode sort: the channels themselves, or one label key per pixel for mode."""
    if name == "median":
        return block, _copy_into
    keys, decode = _label_keys(block)
    return keys[:, :, None], lambda v, out: decode(v[:, :, 0], out)


def _copy_into(values: np.ndarray, out: np.ndarray) -> None:
    out[...] = values


def _gathered(
    x3: np.ndarray,
    rows: Axis,
    cols: Axis,
    name: str,
    res: np.ndarray,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
) -> None:
    """Median/mode of windows ``[r0, r1) x [c0, c1)`` by gathering their taps and sorting them."""
    n = rows.taps * cols.taps
    nc = c1 - c0
    per_band = max(1, (1 << 24) // max(n * nc * x3.shape[2], 1))
    for lo in range(r0, r1, per_band):
        hi = min(lo + per_band, r1)
        first, last = rows.span(lo, hi)
        planes, decode = _planes(x3[first:last], name)
        c = planes.shape[2]
        ri, rv = rows.index[lo:hi], rows.valid[lo:hi]
        ci, cv = cols.index[c0:c1], cols.valid[c0:c1]
        clip_r = np.clip(ri, first, last - 1) - first
        clip_c = np.clip(ci, 0, cols.size - 1)
        g = planes[clip_r.ravel()][:, clip_c.ravel()]  # (nr*kr, nc*kc, c)
        nr = hi - lo
        g = g.reshape(nr, rows.taps, nc, cols.taps, c).transpose(0, 2, 4, 1, 3)
        g = g.reshape(nr, nc, c, n).copy()
        valid = (rv[:, None, :, None] & cv[None, :, None, :]).reshape(nr, nc, 1, n)
        valid = np.broadcast_to(valid, g.shape)
        g[~valid] = np.inf if g.dtype.kind == "f" else np.iinfo(g.dtype).max
        g.sort(axis=-1)
        count = np.broadcast_to(valid.sum(axis=-1), g.shape[:-1])
        if name == "median":
            value = order.median_sorted(g, count, x3.dtype)
            if x3.dtype.kind == "f":  # a NaN among the real cells sorted past the fill: restore it
                value[np.isnan(g).any(axis=-1)] = np.nan
        else:
            value = order.mode_sorted(g, count)
        decode(value, res[lo:hi, c0:c1])


def _label_keys(x3: np.ndarray) -> tuple[np.ndarray, Decoder]:
    """One sortable unsigned key per pixel, whose order is the pixel's lexicographic order.

    Returns the ``(H, W)`` keys and the function writing pooled keys back as ``(h, w, C)`` pixels.
    """
    h, w, c = x3.shape
    dtype = x3.dtype
    if dtype.kind == "f":  # one value, one key: -0.0 is 0.0, and every NaN is the same NaN
        x3 = x3 + dtype.type(0)
        x3[np.isnan(x3)] = np.nan
    bits = 8 * dtype.itemsize
    udt = np.dtype(f"u{dtype.itemsize}")

    def ordered(a: np.ndarray) -> np.ndarray:  # order-preserving map to unsigned integers
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
        return x3[:, :, 0], lambda k, out: _copy_into(k, out[:, :, 0])
    if dtype.kind in "ub" and c * dtype.itemsize in (2, 3, 4, 8):
        return _byte_keys(x3)
    if c * bits <= 64:
        kbits = next(b for b in (8, 16, 32, 64) if b >= c * bits)
        kdt = np.dtype(f"u{kbits // 8}")
        keys = np.zeros((h, w), kdt)
        for ch in range(c):
            if ch:
                keys <<= kdt.type(bits)
            keys |= ordered(np.ascontiguousarray(x3[:, :, ch])).astype(kdt)
        mask = (1 << bits) - 1

        def decode(k: np.ndarray, out: np.ndarray) -> None:
            for ch in range(c):
                out[:, :, ch] = unordered((k >> kdt.type(bits * (c - 1 - ch))) & kdt.type(mask))

        return keys, decode
    # Too wide to pack: number the distinct pixels in lexicographic order.
    flat = np.stack([ordered(x3[:, :, ch]).reshape(-1) for ch in range(c)], axis=-1)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    pixels = x3.reshape(-1, c)[first]
    return inverse.reshape(h, w).astype(np.int64), lambda k, out: _copy_into(pixels[k], out)


def _byte_keys(x3: np.ndarray) -> tuple[np.ndarray, Decoder]:
    """Keys of unsigned pixels read straight from memory as big-endian integers.

    A pixel's bytes, most significant channel first, *are* its lexicographic key: one byteswap
    pass instead of a shift and an or per channel. Three-byte pixels are read as four bytes (the
    next pixel's first byte, shifted out) from a copy one byte longer.
    """
    h, w, c = x3.shape
    width = c * x3.itemsize
    dtype = x3.dtype
    if dtype.itemsize > 1:  # channels of several bytes: make each one big-endian first
        x3 = x3.astype(dtype.newbyteorder(">"))
    if width == 3:
        flat = np.empty(h * w * 3 + 1, np.uint8)
        flat[:-1] = x3.reshape(-1)
        flat[-1] = 0
        four = np.ndarray((h, w), ">u4", flat, 0, (w * 3, 3))
        keys = four.astype(np.uint32) >> np.uint32(8)
    else:
        keys = np.ascontiguousarray(x3).view(f">u{width}")[:, :, 0].astype(f"u{width}")

    def decode(k: np.ndarray, out: np.ndarray) -> None:
        kw = k.astype(f">u{4 if width == 3 else width}")
        raw = kw.view(np.uint8).reshape(*k.shape, -1)[..., -width:]
        big = raw.view(dtype.newbyteorder(">"))
        for ch in range(c):  # one channel at a time: long inner loops, not 3-byte ones
            out[:, :, ch] = big[:, :, ch]

    return keys, decode
