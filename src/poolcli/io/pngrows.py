"""A plain PNG pooled while it decodes: libspng through ctypes, and its progress read as it goes.

For a big PNG the decoding is most of a poolcli run (0.17 s of about 0.3 s for a 4096x4096 RGB
photo), and a whole-image decoder makes everything else wait for its last row: the pooling and
all of the encoding. :class:`RowStream` lets the rest start on the rows already decoded:

* :meth:`RowStream.run` decodes the whole image with libspng in one call (``spng_decode_image``,
  the GIL released throughout), on the read-ahead thread, into anonymous memory.
* Meanwhile another thread asks for rows in order (:meth:`RowStream.rows`). It learns how far
  the decoder is from ``spng_get_row_info``, the row libspng is decoding (read while it
  decodes: libspng writes each row into the output before it moves on to the next, and on x86
  another core sees memory written in the order it was written). The rows above that one,
  less one more as a margin, are final. Elsewhere (ARM's weaker ordering makes no such
  promise) rows are handed out only once the decoder has ended: slower, never wrong.
  :meth:`RowStream.release` gives pooled rows' memory back to the system as the decoder goes.
* The end of the file is known good only when the decoder returns: the output is complete only
  after :meth:`RowStream.finish`, which raises if libspng failed.

Decoding row by row through libspng's "progressive" calls was tried first and dropped: each row
is a call into C that needs the GIL back, and while the main thread imports Typer and NumPy the
decoder got a few hundred of 4096 rows done (0.24-0.26 s for the image instead of 0.19 s).

Where libspng comes from: imagecodecs (the ``fast`` extra) bundles it in its ``_spng``
extension module, which exports libspng's C functions; ctypes loads that file without importing
imagecodecs (whose import costs 40 ms and NumPy), so the decoding starts before NumPy is
imported. That is an implementation detail of imagecodecs' wheels, so it is checked, not
assumed: :func:`available` is true only if the file is there, every function needed is
exported and libspng says it is version 0.7 (whose API this module declares). Otherwise poolcli
decodes the whole image with imagecodecs, or Pillow, as before.

Which files: what :func:`plain_header` says from the chunks alone -- 8-bit grey, RGB or RGBA,
not interlaced, no ``tRNS``, ``PLTE`` or ``acTL``, nothing after the ``IDAT`` chunks. libspng
decodes them as imagecodecs' ``spng_decode`` does (the same output formats, no flags), which
the tests compare with Pillow file by file; Pillow still opens the file and must agree before
the rows are used (:func:`poolcli.io.decoders.confirm`).

This module imports nothing heavy: :meth:`RowStream.rows` and :meth:`RowStream.whole`, which
make arrays, import NumPy when called.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import importlib.util
import mmap
import os
import platform
import struct
import threading
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BAND_BYTES", "Header", "RowStream", "StreamError", "available", "plain_header"]

BAND_BYTES = 1 << 21
"""Decoded bytes a taker asks for at a time: small enough to stay in the cache between
decoding and pooling, big enough that the waiting costs nothing."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 6: 4}  # PNG colour type (grey, RGB, RGBA) -> channels
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# libspng's output format per channel count: SPNG_FMT_G8, SPNG_FMT_RGB8, SPNG_FMT_RGBA8, what
# imagecodecs' spng_decode asks for (no flags: no transparency or gamma applied).
_FORMATS = {1: 64, 3: 4, 4: 1}
_SPNG_EOI = 75
_POLL_SECONDS = 0.0005  # how often a taker waiting for rows looks at the decoder's progress
# Whether another core sees this one's stores in the order they were made (x86's total store
# order), so that rows above the one libspng is decoding are known to be written: see the
# module notes. Elsewhere the rows are taken once the decoder has ended.
_ORDERED_STORES = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686", "x86"}


class StreamError(Exception):
    """libspng could not decode the rows (corrupt or truncated data, ...), or the stream was
    stopped: the file should be read another way, which says what is wrong with it."""


class Header(NamedTuple):
    """What :func:`plain_header` reads from a PNG's chunks."""

    width: int
    height: int
    channels: int  # 1 (L), 3 (RGB) or 4 (RGBA)
    interlaced: bool

    @property
    def mode(self) -> str:
        """The Pillow mode of the pixels: ``L``, ``RGB`` or ``RGBA``."""
        return _MODES[self.channels]


def plain_header(data: bytes | memoryview) -> Header | None:
    """The :class:`Header` of a PNG whose chunks make its pixels plain: 8-bit grey, RGB or RGBA
    (colour types 0, 2, 6), no ``tRNS``, ``PLTE`` or ``acTL``, nothing after the ``IDAT``s;
    else ``None``. Read from the chunk headers only (no CRC checked, nothing decoded).

    >>> import zlib
    >>> def chunk(kind, body):
    ...     return struct.pack(">I", len(body)) + kind + body + b"\\0" * 4
    >>> ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 3, 8, 2, 0, 0, 0))
    >>> png = PNG_MAGIC + ihdr + chunk(b"IDAT", zlib.compress(bytes(48))) + chunk(b"IEND", b"")
    >>> plain_header(png)
    Header(width=5, height=3, channels=3, interlaced=False)
    >>> plain_header(png.replace(b"IEND", b"tEXt")) is None     # a chunk after the pixels
    True
    """
    view = memoryview(data)
    if bytes(view[:8]) != PNG_MAGIC or len(view) < 33 or bytes(view[12:16]) != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", view, 16)
    if depth != 8 or colour not in _CHANNELS:
        return None
    pos = 8
    while pos + 8 <= len(view):
        length, kind = struct.unpack_from(">I4s", view, pos)
        if kind == b"IDAT":
            if not nothing_after_idat(view, pos + 8):
                return None
            return Header(width, height, _CHANNELS[colour], interlace != 0)
        if kind in (b"tRNS", b"acTL", b"PLTE"):
            return None
        pos += 12 + length
    return None


def nothing_after_idat(data: memoryview, first_idat: int) -> bool:
    """Whether the chunks from the one whose data starts at ``first_idat`` are ``IDAT``s, then
    ``IEND`` at the end of the file."""
    pos = first_idat - 8  # the chunk's length and type
    end = len(data)
    seen_idat = False
    while pos + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IEND":
            return seen_idat and length == 0 and pos + 12 == end
        if kind != b"IDAT":
            return False
        seen_idat = True
        pos += 12 + length
    return False


class _RowInfo(ctypes.Structure):
    _fields_ = [
        ("scanline_idx", ctypes.c_uint32),
        ("row_num", ctypes.c_uint32),
        ("pass_", ctypes.c_int),
        ("filter", ctypes.c_uint8),
    ]


class _IHDR(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("bit_depth", ctypes.c_uint8),
        ("color_type", ctypes.c_uint8),
        ("compression_method", ctypes.c_uint8),
        ("filter_method", ctypes.c_uint8),
        ("interlace_method", ctypes.c_uint8),
    ]


_P, _INT, _SIZE = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
# libspng 0.7's functions used here: (name, argument types, result type)
_SIGNATURES = (
    ("spng_version_string", [], ctypes.c_char_p),
    ("spng_strerror", [_INT], ctypes.c_char_p),
    ("spng_ctx_new", [_INT], _P),
    ("spng_ctx_free", [_P], None),
    ("spng_set_png_buffer", [_P, ctypes.c_char_p, _SIZE], _INT),
    ("spng_get_ihdr", [_P, ctypes.POINTER(_IHDR)], _INT),
    ("spng_decode_image", [_P, _P, _SIZE, _INT, _INT], _INT),
    ("spng_get_row_info", [_P, ctypes.POINTER(_RowInfo)], _INT),
)


def _library_file() -> str | None:
    """The path of imagecodecs' ``_spng`` extension module, found without importing
    imagecodecs; ``None`` if it is not installed."""
    try:
        spec = importlib.util.find_spec("imagecodecs")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_spng" + suffix)
            if os.path.isfile(path):
                return path
    return None


@functools.cache
def _libspng() -> ctypes.CDLL | None:
    """libspng 0.7 with the functions of :data:`_SIGNATURES` declared, or ``None`` (also with
    ``POOLCLI_FAST=0``: :mod:`poolcli.io.fast`)."""
    from poolcli.io import fast

    path = _library_file() if fast.wanted() else None
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        for name, argtypes, restype in _SIGNATURES:
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, restype
        version = lib.spng_version_string().decode("ascii", "replace")
    except (OSError, AttributeError):  # not loadable, or a function missing
        return None
    return lib if version.startswith("0.7.") else None


def available() -> bool:
    """Whether rows can be decoded here (imagecodecs' bundled libspng 0.7, see the module
    notes)."""
    return _libspng() is not None


# Long as a class (~160 lines), not as functions: thirteen short methods around one decoder
# thread and the lock its consumer shares with it; the protocol is easier to check in one place.
class RowStream:
    """The pixels of one plain PNG (see :func:`plain_header`), decoded by :meth:`run` on one
    thread and taken, a band of rows at a time as they are decoded, by another.

    The taker asks for rows in order (:meth:`rows`), each call waiting until the decoder has
    got that far, and says when it is done with them (:meth:`release`: their memory is given
    back); or it takes them all at once (:meth:`whole`). :meth:`finish` waits for the decoder
    to end: only then is the file known to be whole. A failure of libspng, and :meth:`stop`,
    make every call that waits raise :class:`StreamError`.

    Raises
    ------
    StreamError
        libspng is not :func:`available`, or refuses the file's header (the constructor reads
        the chunks up to the first ``IDAT``).
    """

    def __init__(self, data: bytes, header: Header) -> None:
        lib = _libspng()
        if lib is None:
            raise StreamError("libspng is not available")
        self.data = data  # libspng reads from it until the end: kept alive here
        self.header = header
        self.row_bytes = header.width * header.channels
        self._size = self.row_bytes * header.height
        # Anonymous memory: zero pages until written, no zero-filling pass before the decode;
        # released bands are given back to the system (madvise) while the rest decodes.
        self._memory = mmap.mmap(-1, max(1, self._size))
        self._lib = lib
        self._ctx: int | None = lib.spng_ctx_new(0)
        if not self._ctx:
            raise StreamError("libspng: cannot make a context")
        self._lock = threading.Lock()  # held while the context is read by the taker, or freed
        self._ended = threading.Event()
        self._failure: str | None = None
        self._stopped = False
        self._spent = False  # rows released, or handed over whole: not to be had again
        self._released = 0  # bytes given back
        try:
            ihdr = _IHDR()
            self._check(lib.spng_set_png_buffer(self._ctx, data, len(data)))
            self._check(lib.spng_get_ihdr(self._ctx, ctypes.byref(ihdr)))
            if (ihdr.width, ihdr.height) != (header.width, header.height):
                raise StreamError("libspng reads another size")
        except StreamError:
            self._free_context()
            raise

    @property
    def shape(self) -> tuple[int, ...]:
        """The NumPy shape of the image: ``(H, W)`` for ``L``, else ``(H, W, C)``."""
        h = self.header
        return (h.height, h.width) if h.channels == 1 else (h.height, h.width, h.channels)

    def _check(self, err: int) -> None:
        if err:
            raise StreamError(f"libspng: {self._lib.spng_strerror(err).decode(errors='replace')}")

    def _free_context(self) -> None:
        if self._ctx:
            self._lib.spng_ctx_free(self._ctx)
        self._ctx = None

    # -- the decoding thread ---------------------------------------------------------------

    def run(self) -> None:
        """Decode the whole image on the calling thread, in one call into libspng (the GIL is
        released throughout). Called once."""
        try:
            target = ctypes.c_char.from_buffer(self._memory)
            fmt = _FORMATS[self.header.channels]
            err = self._lib.spng_decode_image(
                self._ctx, ctypes.addressof(target), self._size, fmt, 0
            )
            del target
            self._check(err)
        except StreamError as err:
            self._failure = str(err)
        finally:
            with self._lock:
                self._free_context()
            self._ended.set()

    # -- the taking thread -----------------------------------------------------------------

    def decoded(self) -> int:
        """How many rows, from the top, are decoded for sure (see the module notes)."""
        if self._ended.is_set():
            return self.header.height if self._failure is None else 0
        if not _ORDERED_STORES:
            return 0
        info = _RowInfo()
        with self._lock:
            if self._ctx is None:
                return 0
            err = self._lib.spng_get_row_info(self._ctx, ctypes.byref(info))
        if err == _SPNG_EOI:  # the last row is done; the decoder is ending
            return self.header.height - 1
        # row_num is the row being decoded: those above it are written; one more is left out
        # as a margin.
        return max(0, info.row_num - 1) if err == 0 else 0

    def _wait(self, rows: int) -> None:
        """Until ``rows`` rows are decoded; :class:`StreamError` if they never will be (or
        the stream was stopped)."""
        while True:
            if self._stopped or (self._ended.is_set() and self._failure is not None):
                raise StreamError(self._failure or "stopped")
            if self.decoded() >= rows:
                return
            self._ended.wait(_POLL_SECONDS)

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """Rows ``[y0, y1)``, once decoded, as a view of the decoder's memory, valid until
        :meth:`release` gives those rows back."""
        import numpy as np

        if not 0 <= y0 < y1 <= self.header.height:
            raise ValueError(f"rows {y0}..{y1} of {self.header.height}")
        if y0 * self.row_bytes < self._released:
            raise StreamError(f"rows {y0}..{y1} were released")
        self._wait(y1)
        a = np.frombuffer(self._memory, np.uint8, (y1 - y0) * self.row_bytes, y0 * self.row_bytes)
        return a.reshape(y1 - y0, *self.shape[1:])

    def release(self, y: int) -> None:
        """Rows below ``y`` will not be asked for again: their memory goes back to the system
        (whole pages of it)."""
        self._spent = True
        end = y * self.row_bytes // mmap.PAGESIZE * mmap.PAGESIZE
        if end > self._released and hasattr(self._memory, "madvise"):
            self._memory.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def whole(self) -> np.ndarray:
        """Every row, as one array over the decoder's memory, once the decoder has ended. Once
        only, and not after :meth:`release` (:class:`StreamError`)."""
        import numpy as np

        if self._spent:
            raise StreamError("the rows were taken already")
        self._spent = True
        self.finish()
        return np.frombuffer(self._memory, np.uint8, self._size).reshape(self.shape)

    def finish(self) -> None:
        """Wait for the decoder to end; :class:`StreamError` unless it decoded every row."""
        self._ended.wait()
        if self._failure is not None or self._stopped:
            raise StreamError(self._failure or "stopped")

    def stop(self) -> None:
        """Say the rows will not be taken: whatever waits for them raises :class:`StreamError`.
        (The decoder itself runs on to the end of the image: a call into libspng cannot be
        interrupted.)"""
        self._stopped = True

    @property
    def ended(self) -> bool:
        """Whether :meth:`run` has returned."""
        return self._ended.is_set()
