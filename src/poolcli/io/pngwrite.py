"""A fast PNG writer: NumPy row filters and deflate in parallel bands, one valid zlib stream.

Pillow encodes a PNG on one core, and at its default level 6 that is most of a poolcli run
(about 1.1 s of 1.8 s for a 2048x2048 RGB photo on the machine the benchmark ran on). This
writer produces an ordinary PNG that every reader opens, faster:

* The rows are cut into bands. Each band is filtered with NumPy (PNG filters read the unfiltered
  row above, so a band needs only the last row of the band before it) and deflated on its own
  thread: NumPy and the deflate libraries release the GIL, so all cores work.
* Each band is a raw deflate segment that ends with a *sync flush* (an empty stored block that
  aligns the stream to a byte and does not end it); the last band ends the stream. Concatenated
  after a two-byte zlib header and followed by the Adler-32 of all the filtered bytes (combined
  from the bands' own checksums), the segments are one valid zlib stream -- pigz's method. Each
  band is one ``IDAT`` chunk.
* Levels 1 to 3 use ISA-L (the optional ``isal`` package, :data:`BACKEND`) when it is
  installed: several times faster than zlib's level 1 and, on photographs, smaller (within 10%
  of zlib's level 6). Without it, and for levels 0 and 4 to 9, the standard library's zlib does
  the work, with Pillow's settings (``Z_FILTERED``, memLevel 9). The level and the library
  change the bytes, never the pixels.

The row filter follows libpng's rule: none for palette and sub-byte images, otherwise per row
the filter whose output has the smallest sum of absolute values as signed bytes -- among none,
sub, up, average and Paeth from level 4 up, among the first four at levels 0 to 3 (Paeth costs
more in NumPy than ISA-L's whole deflate, for 0.1% on photographs) -- or one fixed filter if
asked.

Modes written here: ``1``, ``L``, ``LA``, ``RGB``, ``RGBA``, ``I;16``, ``I;16B`` and ``P``, with
exactly the chunks Pillow's writer would emit for the same image and arguments: ``IHDR``,
``iCCP`` (ICC profile), ``PLTE`` and ``tRNS`` (palette, its alpha, a colour key), ``pHYs`` (DPI),
``eXIf``, ``IDAT``..., ``IEND``. Anything else (APNG, other modes) is for Pillow:
:func:`can_encode` says which.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from poolcli.io import fast

_isal: Any = None
if fast.wanted():  # ISA-L: the accelerator for levels 1-3, used where its wheel installs
    try:
        from isal import isal_zlib as _isal
    except ImportError:  # pragma: no cover - depends on the environment
        _isal = None

__all__ = ["BACKEND", "FILTERS", "MODES", "can_encode", "encode_png"]

MODES = frozenset({"1", "L", "LA", "RGB", "RGBA", "I;16", "I;16B", "P"})
"""Pillow modes :func:`encode_png` writes."""

FILTERS = ("none", "sub", "up", "avg", "paeth")
"""PNG filter types, in the order of their number in the file (0 to 4)."""

BACKEND = "isal" if _isal is not None else "zlib"
"""What deflates levels 1 to 3: ``"isal"`` if the ``isal`` package imports, else ``"zlib"``."""

_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG colour type and channels for each mode; bit depth 8 unless said otherwise.
_LAYOUT = {
    "1": (0, 1),
    "L": (0, 1),
    "LA": (4, 2),
    "RGB": (2, 3),
    "RGBA": (6, 4),
    "I;16": (0, 1),
    "I;16B": (0, 1),
    "P": (3, 1),
}
# At levels 0-3 the adaptive choice leaves Paeth out: in NumPy it costs more than ISA-L's whole
# deflate, and gains 0.1% on photographs, about 1% on flat images (benchmarks/bench_e2e.py).
_FAST_FILTERS = FILTERS[:4]
Filter = str | tuple[str, ...]
_BAND_BYTES = 1 << 19  # filtered bytes per band: small enough to spread, big enough to deflate
_ADLER_BASE = 65521
_ARRAY_MODES = {2: "LA", 3: "RGB", 4: "RGBA"}  # uint8 arrays' channels -> mode


def can_encode(image: Image.Image | np.ndarray) -> bool:
    """Whether :func:`encode_png` writes ``image`` (else Pillow's writer should).

    >>> import numpy as np
    >>> from PIL import Image
    >>> can_encode(Image.new("RGB", (2, 2))), can_encode(Image.new("CMYK", (2, 2)))
    (True, False)
    >>> can_encode(np.zeros((2, 2, 3), np.uint8)), can_encode(np.zeros((2, 2), np.float32))
    (True, False)
    """
    if isinstance(image, np.ndarray):
        return _array_mode(image) is not None and image.size > 0
    return image.mode in MODES and image.width > 0 and image.height > 0


def _array_mode(a: np.ndarray) -> str | None:
    """The Pillow mode an array's pixels are written as: 2-D uint8 ``L``, 2-D uint16 ``I;16``,
    uint8 with 2, 3 or 4 channels ``LA``, ``RGB``, ``RGBA``; ``None`` for anything else."""
    if a.dtype == np.uint8:
        return "L" if a.ndim == 2 else _ARRAY_MODES.get(a.shape[2]) if a.ndim == 3 else None
    return "I;16" if a.ndim == 2 and a.dtype.kind == "u" and a.dtype.itemsize == 2 else None


def encode_png(
    image: Image.Image | np.ndarray,
    *,
    compress_level: int = 6,
    icc_profile: bytes | None = None,
    dpi: Sequence[float] | None = None,
    exif: bytes | None = None,
    filter: str = "adaptive",
    threads: int | None = None,
    ready: Callable[[int], object] | None = None,
) -> bytes:
    """Encode one image as a PNG file, in memory.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        A Pillow image of a mode of :data:`MODES`; ``image.info`` may carry ``transparency``
        (palette alpha, or the colour key of ``1``/``L``/``RGB``/16-bit images) and
        ``icc_profile``, as for Pillow. Or an array: ``(H, W)`` uint8 (``L``) or uint16 (``I;16``),
        ``(H, W, C)`` uint8 with 2, 3 or 4 channels (``LA``, ``RGB``, ``RGBA``), written from its
        own memory without a copy.
    compress_level : int
        0 (stored, no compression) to 9 (smallest, slowest), zlib's scale. 1 to 3 use ISA-L
        when it is installed.
    icc_profile, dpi, exif
        Written as ``iCCP``, ``pHYs`` (unless the density is beyond its 32 bits of pixels per
        metre) and ``eXIf`` when given (``icc_profile`` defaults to the
        image's own, as Pillow does; an ``exif`` starting with ``Exif\\0\\0`` loses that header).
    filter : str
        ``"adaptive"`` (per row, smallest sum of absolute values; Paeth only from level 4) or
        one of :data:`FILTERS`. Palette and sub-byte images always use ``"none"``.
    threads : int, optional
        Threads that filter and deflate; default: the number of CPUs.
    ready : callable, optional
        For an array still being filled: ``ready(y)`` is called, on the thread that filters
        rows ``[.., y)``, before they are read, and returns once they are there (the image is
        written top to bottom, so a caller may fill it as it goes).

    Returns
    -------
    bytes
        The PNG file.

    Raises
    ------
    ValueError
        A mode or array :func:`can_encode` refuses, a level outside 0..9, an unknown filter, a
        bad ``transparency`` value.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> im = Image.linear_gradient("L").resize((5, 3))
    >>> data = encode_png(im, compress_level=1)
    >>> Image.open(io.BytesIO(data)).tobytes() == im.tobytes()
    True
    >>> a = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    >>> (np.asarray(Image.open(io.BytesIO(encode_png(a)))) == a).all()
    np.True_
    """
    if not can_encode(image):
        what = (
            f"{image.dtype} array {image.shape}"
            if isinstance(image, np.ndarray)
            else (f"mode {image.mode} {image.size}")
        )
        raise ValueError(f"cannot write {what} as PNG here")
    if not (isinstance(compress_level, int) and 0 <= compress_level <= 9):
        raise ValueError(f"compress_level must be 0..9, got {compress_level!r}")
    if filter != "adaptive" and filter not in FILTERS:
        raise ValueError(f"filter must be 'adaptive' or one of {FILTERS}, got {filter!r}")
    palette: bytes | None = None
    trns: bytes | None = None
    if isinstance(image, np.ndarray):
        mode = _array_mode(image)
        assert mode is not None
        height, width = image.shape[:2]
        bits = 16 if mode == "I;16" else 8
        rows = _array_rows(image)
    else:
        image.load()
        mode = image.mode
        width, height = image.size
        bits = 16 if mode in ("I;16", "I;16B") else 8
        if mode == "1":
            bits = 1
        elif mode == "P":
            palette, bits = _palette(image)
        trns = _transparency(image, len(palette or b"") // 3)
        icc_profile = icc_profile or image.info.get("icc_profile")
        rows = _row_source(image, bits)
    colour_type, channels = _LAYOUT[mode]
    how: Filter = filter
    if bits < 8 or mode == "P":
        how = "none"  # libpng's advice, and what Pillow does
    elif filter == "adaptive":
        how = FILTERS if compress_level >= 4 else _FAST_FILTERS
    bpp = max(1, channels * bits // 8)  # filter distance in bytes
    row_bytes = (width * channels * bits + 7) // 8

    ihdr = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    chunks = [_MAGIC, *_header_chunks(ihdr, icc_profile, palette, trns, dpi, exif)]
    idat = _deflated_bands(rows, height, row_bytes, bpp, how, compress_level, threads, ready)
    chunks += [_chunk(b"IDAT", segment) for segment in idat]
    chunks.append(_chunk(b"IEND", b""))
    return b"".join(chunks)


def _header_chunks(
    ihdr: bytes,
    icc_profile: bytes | None,
    palette: bytes | None,
    trns: bytes | None,
    dpi: Sequence[float] | None,
    exif: bytes | None,
) -> list[bytes]:
    """The chunks before the pixels: IHDR, then the optional iCCP, PLTE, tRNS, pHYs, eXIf."""
    chunks = [_chunk(b"IHDR", ihdr)]
    add = chunks.append
    if icc_profile:
        add(_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
    if palette is not None:
        add(_chunk(b"PLTE", palette))
    if trns is not None:
        add(_chunk(b"tRNS", trns))
    if dpi:
        ppm = (int(dpi[0] / 0.0254 + 0.5), int(dpi[1] / 0.0254 + 0.5))
        if all(0 < v < 1 << 32 for v in ppm):  # else not a density pHYs can hold: left out
            add(_chunk(b"pHYs", struct.pack(">IIB", *ppm, 1)))
    if exif:
        add(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    return chunks


def _deflated_bands(
    rows: Callable[[int, int], np.ndarray],
    height: int,
    row_bytes: int,
    bpp: int,
    how: Filter,
    compress_level: int,
    threads: int | None,
    ready: Callable[[int], object] | None,
) -> list[bytes]:
    """The zlib stream of the filtered rows, as one IDAT payload per band: the bands are
    filtered and deflated on ``threads`` threads, then joined (header, Adler-32 combined)."""
    band_rows = max(1, _BAND_BYTES // (row_bytes + 1))
    starts = list(range(0, height, band_rows))
    compress = _deflater(compress_level)
    last = len(starts) - 1

    def band(i: int) -> tuple[bytes, int, int]:
        y0 = starts[i]
        y1 = min(height, y0 + band_rows)
        if ready is not None:
            ready(y1)
        above = rows(y0 - 1, y0) if y0 else None
        data = _filter_band(rows(y0, y1), above, bpp, how)
        return compress(data, i == last), zlib.adler32(data), data.nbytes

    n_threads = min(threads or _cpus(), len(starts))
    if n_threads > 1:
        with ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(band, range(len(starts))))
    else:
        parts = [band(i) for i in range(len(starts))]

    segments = []
    adler = 1
    for i, (segment, band_adler, length) in enumerate(parts):
        adler = _adler32_combine(adler, band_adler, length)
        if i == 0:
            segment = _zlib_header(compress_level) + segment
        if i == last:
            segment += struct.pack(">I", adler)
        segments.append(segment)
    return segments


# --------------------------------------------------------------------------------------------
# Pixels and metadata


def _palette(image: Image.Image) -> tuple[bytes, int]:
    """``PLTE`` data and bit depth, as Pillow writes them: the palette's own length, packed
    to 1, 2 or 4 bits when it has at most 2, 4 or 16 entries."""
    pal = image.getpalette() or []
    colours = max(1, min(len(pal) // 3, 256))
    bits = 1 if colours <= 2 else 2 if colours <= 4 else 4 if colours <= 16 else 8
    data = bytes(pal[: colours * 3]) if pal else b"\x00\x00\x00"
    return data, bits


def _transparency(image: Image.Image, colours: int) -> bytes | None:
    """``tRNS`` data for ``image``, following Pillow's writer (``info["transparency"]``)."""
    t = image.info.get("transparency")
    mode = image.mode
    if mode == "P":
        if t is None:
            if image.palette is not None and image.palette.mode == "RGBA":
                return image.im.getpalette("RGBA", "A")[:colours]
            return None
        if isinstance(t, bytes):
            return t[:colours]
        if isinstance(t, int):
            t = max(0, min(255, t))
            return (b"\xff" * t + b"\0")[:colours]
        raise ValueError("transparency for P must be an integer or bytes")
    if t is None:
        return None
    if mode in ("1", "L", "I;16"):
        if not isinstance(t, int):
            raise ValueError(f"transparency for {mode} must be an integer")
        return struct.pack(">H", max(0, min(65535, t)))
    if mode == "RGB":
        if not isinstance(t, (list, tuple)) or len(t) != 3:
            raise ValueError("transparency for RGB must be a list or tuple of length 3")
        return struct.pack(">HHH", *t)
    return None  # stale info of LA/RGBA/I;16B: Pillow ignores it too


def _row_source(image: Image.Image, bits: int) -> Callable[[int, int], np.ndarray]:
    """A function giving rows ``[y0, y1)`` as a ``(rows, row_bytes)`` uint8 array, in PNG byte
    order and packing. Bands are read through ``crop`` so the image is never copied whole."""
    mode = image.mode
    width = image.width

    def rows(y0: int, y1: int) -> np.ndarray:
        a = np.asarray(image.crop((0, y0, width, y1)))
        if mode == "I;16":
            a = a.astype(">u2")
        elif mode == "P" and bits < 8:
            a = _pack(a, bits)
        elif mode == "1":
            a = np.packbits(a, axis=1)
        return a.reshape(y1 - y0, -1).view(np.uint8)

    return rows


def _array_rows(a: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """:func:`_row_source` for an array (see :func:`_array_mode`): views of its rows where it is
    uint8 and C-contiguous, big-endian copies of 16-bit rows."""

    def rows(y0: int, y1: int) -> np.ndarray:
        band = a[y0:y1]
        if band.dtype.itemsize == 2:
            band = band.astype(">u2")
        return np.ascontiguousarray(band).reshape(y1 - y0, -1).view(np.uint8)

    return rows


def _pack(a: np.ndarray, bits: int) -> np.ndarray:
    """Pack small integers ``(h, w)`` into ``bits``-bit fields, first pixel in the high bits."""
    per = 8 // bits
    h, w = a.shape
    padded = np.zeros((h, -(-w // per) * per), np.uint8)
    padded[:, :w] = a
    fields = padded.reshape(h, -1, per)
    out = np.zeros(fields.shape[:2], np.uint8)
    for k in range(per):
        out |= (fields[:, :, k] & ((1 << bits) - 1)) << (8 - bits * (k + 1))
    return out


# --------------------------------------------------------------------------------------------
# Filters


def _filter_band(x: np.ndarray, above: np.ndarray | None, bpp: int, how: Filter) -> np.ndarray:
    """Filtered bytes of the rows ``x`` (filter-type byte first in each row), as a C-contiguous
    uint8 array (the deflaters and ``zlib.adler32`` read its buffer: no copy to ``bytes``).

    ``above`` is the unfiltered row before ``x`` (``None`` at the top of the image, where PNG
    takes the row above as zeros). ``how`` is one filter name, or a tuple of names to choose
    from per row. All arithmetic is on uint8, modulo 256, as the format says.
    """
    n, nb = x.shape
    out = np.empty((n, nb + 1), np.uint8)
    if how == "none":
        out[:, 0] = 0
        out[:, 1:] = x
        return out
    up = np.empty_like(x)
    up[0] = 0 if above is None else above[0]
    up[1:] = x[:-1]
    if isinstance(how, str):
        out[:, 0] = FILTERS.index(how)
        out[:, 1:] = _apply(how, x, up, bpp)
        return out
    candidates = [_apply(name, x, up, bpp) for name in how]
    best = np.stack([_cost(c) for c in candidates]).argmin(axis=0)  # ties: the first
    out[:, 0] = np.array([FILTERS.index(name) for name in how], np.uint8)[best]
    for k, c in enumerate(candidates):
        rows = best == k
        if rows.any():
            out[rows, 1:] = c[rows]
    return out


def _apply(name: str, x: np.ndarray, up: np.ndarray, bpp: int) -> np.ndarray:
    if name == "none":
        return x
    if name == "up":
        return x - up
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    if name == "sub":
        return x - left
    if name == "avg":
        # floor((left + up) / 2) without leaving uint8
        return x - ((left & up) + ((left ^ up) >> 1))
    # Paeth: the neighbour nearest to p = left + up - upleft; ties prefer left, then up.
    # |p - left| = |up - upleft|, |p - up| = |left - upleft|, |p - upleft| = their sum's size.
    upleft = np.zeros_like(x)
    upleft[:, bpp:] = up[:, :-bpp]
    c = upleft.astype(np.int16)
    d_up = up.astype(np.int16) - c
    d_left = left.astype(np.int16) - c
    pc = np.abs(d_up + d_left)
    pa = np.abs(d_up, out=d_up)
    pb = np.abs(d_left, out=d_left)
    pick_left = (pa <= pb) & (pa <= pc)
    pred = np.where(pick_left, left, np.where(pb <= pc, up, upleft))
    return x - pred


def _cost(f: np.ndarray) -> np.ndarray:
    """Sum over each row of ``|byte|`` read as a signed byte: min(v, 256 - v)."""
    return np.minimum(f, 0 - f).sum(axis=1, dtype=np.uint32)


# --------------------------------------------------------------------------------------------
# Deflate


def _deflater(level: int) -> Callable[[np.ndarray, bool], bytes]:
    """``compress(data, last)``: a raw deflate segment, sync-flushed unless ``last``."""
    if _isal is not None and 1 <= level <= 3:
        mod: Any = _isal
        args: tuple[int, ...] = (level, _isal.DEFLATED, -15)
    else:
        # Z_FILTERED and memLevel 9, as Pillow's PNG writer: fewer short matches, which suits
        # filtered rows (about 3% smaller than the default strategy on photographs).
        mod = zlib
        args = (level, zlib.DEFLATED, -15, 9, zlib.Z_FILTERED)

    def compress(data: np.ndarray, last: bool) -> bytes:
        c = mod.compressobj(*args)
        return c.compress(data) + c.flush(mod.Z_FINISH if last else mod.Z_SYNC_FLUSH)

    return compress


def _zlib_header(level: int) -> bytes:
    """CMF/FLG of a zlib stream with a 32 KiB window; FLEVEL only informs a reader."""
    cmf = 0x78
    flevel = 0 if level <= 1 else 1 if level <= 5 else 2 if level == 6 else 3
    flg = flevel << 6
    flg += 31 - ((cmf << 8) + flg) % 31
    return bytes((cmf, flg))


def _adler32_combine(a1: int, a2: int, len2: int) -> int:
    """Adler-32 of ``data1 + data2`` from the checksums of both and ``len(data2)``.

    Adler-32 is ``A = 1 + sum of bytes`` and ``B = sum of the A after each byte`` (mod 65521):
    appending data2 adds its A and B, and shifts B by ``len2 * (A1 - 1)``.

    >>> import zlib
    >>> _adler32_combine(zlib.adler32(b"ab"), zlib.adler32(b"cde"), 3) == zlib.adler32(b"abcde")
    True
    """
    s1a, s2a = a1 & 0xFFFF, a1 >> 16
    s1b, s2b = a2 & 0xFFFF, a2 >> 16
    s1 = (s1a + s1b - 1) % _ADLER_BASE
    s2 = (s2a + s2b + len2 * (s1a - 1)) % _ADLER_BASE
    return (s2 << 16) | s1


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))


def _cpus() -> int:
    """The process's CPU budget: affinity, cgroup quota, ``POOLCLI_THREADS``."""
    from poolcli.core.cpus import budget

    return budget()
