"""Faster pixel decoders for PNG and JPEG: imagecodecs' libspng and libjpeg-turbo, optional.

Decoding is most of a poolcli run on a big file, and Pillow's decoders are not the fastest: a
4096x4096 RGB PNG takes 0.27 s with Pillow (decode, then ``np.asarray``'s copy out of Pillow's
4-bytes-a-pixel storage), 0.16 s with libspng straight into a NumPy array of 3 bytes a pixel; a
4096x4096 JPEG 0.11 s against 0.035 s with libjpeg-turbo through imagecodecs. Both release the
GIL for the whole decode. imagecodecs comes with the ``fast`` extra; without it (or if its
import fails) everything is decoded by Pillow, as before.

Pillow still opens every file: it reads the headers and the metadata (ICC profile, DPI, EXIF,
animation), checks the decompression-bomb limit and tells the mode. The fast decoders' pixels
are used only where they are by construction the array Pillow's own decoder would give
(:func:`candidate`, :func:`decode_pixels`); everything else Pillow decodes. (:func:`read`, for
reading ahead, decodes a PNG whose header looks right before Pillow is even imported, and keeps
the pixels only if Pillow then agrees.) What the fast path takes:

* PNG: 8-bit grey, RGB or RGBA (``L``, ``RGB``, ``RGBA`` with Pillow's raw mode equal to the
  mode: no palette, no 16-bit or sub-byte samples), no ``tRNS`` colour key, not animated, and no
  chunk between the last ``IDAT`` and ``IEND`` (Pillow reads those after the pixels: a late
  ``eXIf`` or text chunk could change the EXIF orientation). No EXIF orientation to apply, and
  no XMP or raw-profile EXIF that Pillow would read an orientation from.
* JPEG: baseline or progressive ``L`` or ``RGB`` (YCbCr), a single image (not MPO), no EXIF
  orientation to apply, and the file ends with the end-of-image marker (libjpeg-turbo pads a
  file that ends early with grey and only warns, where Pillow reports it truncated). Pillow and
  imagecodecs both decode with libjpeg-turbo's defaults (accurate integer IDCT, fancy
  upsampling); the tests compare the two on every JPEG of Pillow's test images.

Any error of the fast decoder (corrupt or truncated data, a variant it does not take) gives
``None`` too: Pillow then decodes the file and says what is wrong with it, in its own words.

For reading ahead, a plain PNG that is not interlaced is not even decoded here:
:func:`start_rows` gives a :class:`~poolcli.io.pngrows.RowStream`, which the reading thread runs
and the job pools as its rows come, once :func:`confirm` says Pillow agrees.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from poolcli.io import pngrows

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = [
    "DEFAULT",
    "PIXELS_LOCK",
    "TRANSPOSED",
    "Decoded",
    "available",
    "candidate",
    "confirm",
    "decode_pixels",
    "pixel_guard",
    "plain_jpeg",
    "read",
    "start_rows",
]


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""A ``max_pixels`` that means Pillow's own decompression-bomb limit (twice
``PIL.Image.MAX_IMAGE_PIXELS``, where Pillow raises)."""

PIXELS_LOCK = threading.Lock()
"""Pillow's decompression-bomb limit is a module global: who changes it for a while, and the
warning filters with it, holds this lock."""


class Decoded(NamedTuple):
    """What :func:`read` gives: the pixels, Pillow's mode, format and ``info`` for the file."""

    pixels: np.ndarray
    mode: str
    format: str
    info: dict[str, Any]


TRANSPOSED = frozenset(range(2, 9))
"""EXIF orientations that ``ImageOps.exif_transpose`` turns or flips (1 and unknown values:
none)."""
# Info keys Pillow reads an orientation from besides "exif" (Image.getexif).
_OTHER_EXIF = ("xmp", "XML:com.adobe.xmp", "Raw profile type exif")


@functools.cache
def _codecs() -> tuple[Any, Any] | None:
    """imagecodecs' libspng and libjpeg-turbo modules, or ``None`` if they do not import (or
    ``POOLCLI_FAST=0``: :mod:`poolcli.io.fast`)."""
    from poolcli.io import fast

    if not fast.wanted():
        return None
    try:
        from imagecodecs import _jpeg8, _spng
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return _spng, _jpeg8


def available() -> bool:
    """Whether the fast decoders are installed (imagecodecs) and wanted (:mod:`poolcli.io.fast`)."""
    return _codecs() is not None


def candidate(im: Image.Image) -> bool:
    """Whether ``im``, opened by Pillow but not loaded, may be one this module decodes: what can
    be told without reading the pixels (format, mode, a single frame, no orientation to apply).
    ``False`` when the decoders are not installed."""
    if _codecs() is None:
        return False
    if im.mode not in ("L", "RGB", "RGBA") or getattr(im, "n_frames", 1) != 1:
        return False
    if im.format == "PNG":
        # Pillow's raw mode equal to the mode: 8-bit samples as stored, no palette
        plain = len(im.tile) == 1 and im.tile[0][3] == im.mode  # (codec, box, offset, args)
        if not plain or "transparency" in im.info:
            return False
    elif im.format != "JPEG" or im.mode == "RGBA":
        return False
    return _orientation(im) not in TRANSPOSED


def plain_jpeg(im: Image.Image) -> bool:
    """Whether ``im``, opened by Pillow but not loaded, is a JPEG whose pixels any JPEG decoder
    gives as Pillow's array would be laid out: grey or RGB, one image (not MPO), no EXIF
    orientation to apply. The test :func:`candidate` makes of JPEGs, without needing imagecodecs:
    a GPU's decoder (:mod:`poolcli.run.gpu`) takes the same files."""
    return (
        im.format == "JPEG"
        and im.mode in ("L", "RGB")
        and getattr(im, "n_frames", 1) == 1
        and _orientation(im) not in TRANSPOSED
    )


def decode_pixels(im: Image.Image, data: bytes | memoryview) -> np.ndarray | None:
    """The pixels of ``im`` (a :func:`candidate`), decoded from ``data``, the whole file, by the
    fast decoder for its format; ``None`` where Pillow should decode it after all (see the
    module notes).

    The array is ``(H, W)`` for ``L``, ``(H, W, C)`` otherwise, uint8. The GIL is released while
    the decoder runs.
    """
    codecs = _codecs()
    assert codecs is not None, "for candidates only"
    if im.format == "PNG":
        if not pngrows.nothing_after_idat(memoryview(data), im.tile[0][2]):
            return None
        a = _decode(codecs[0].spng_decode, data)
    else:
        # libjpeg reads a file that ends early as if it ended there (grey to the end) and only
        # warns; Pillow calls it truncated. Only a file that ends with EOI is taken.
        if bytes(data[-2:]) != b"\xff\xd9":
            return None
        a = _decode(codecs[1].jpeg8_decode, data)
    return a if a is not None and _fits(im, a) else None


def _decode(decoder: Callable[[Any], np.ndarray], data: bytes | memoryview) -> np.ndarray | None:
    """``decoder(data)`` with one channel as ``(H, W)``; ``None`` for any failure (Pillow then
    decodes the file and says what is wrong with it)."""
    try:
        a = decoder(data)
    except Exception:  # noqa: BLE001 - any failure of the fast path: Pillow decodes instead
        return None
    return a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a


def _fits(im: Image.Image, a: np.ndarray) -> bool:
    """Whether ``a`` has the shape and dtype of the array Pillow gives for ``im``."""
    expected = (im.height, im.width) + ((len(im.getbands()),) if im.mode != "L" else ())
    return a.shape == expected and a.dtype.char == "B"  # uint8


# PIL.Image.MAX_IMAGE_PIXELS as Pillow sets it: the limit while Pillow is not imported yet.
_PILLOW_MAX_IMAGE_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)


def pixel_limit(max_pixels: int | None) -> int | None:
    """The pixel count over which a read fails: ``max_pixels`` itself, or for :data:`DEFAULT`
    Pillow's error limit now (``None``: no limit)."""
    if max_pixels is not DEFAULT:
        return max_pixels
    pil = sys.modules.get("PIL.Image")
    saved = _PILLOW_MAX_IMAGE_PIXELS if pil is None else pil.MAX_IMAGE_PIXELS
    return None if saved is None else 2 * saved


@contextlib.contextmanager
def pixel_guard(max_pixels: int | None) -> Iterator[int | None]:
    """Pillow's decompression-bomb limit set for the block, under :data:`PIXELS_LOCK`: to
    :func:`pixel_limit` of ``max_pixels`` (``None``: off), which the block gets; restored after."""
    from PIL import Image

    with PIXELS_LOCK:
        limit = pixel_limit(max_pixels)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = limit
        try:
            yield limit
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def read(
    data: bytes | memoryview,
    *,
    max_pixels: int | None = DEFAULT,
    before_decode: Callable[[], object] | None = None,
) -> Decoded | None:
    """Decode ``data``, a whole file, if it is a :func:`candidate` within ``max_pixels``; else
    (and for any file Pillow cannot open) ``None``. poolcli reads ahead with it, on a thread of
    its own (:mod:`poolcli.io.ahead`), while the rest of poolcli is imported.

    A PNG whose header promises a candidate (8-bit grey, RGB or RGBA, no colour key, not
    animated, within the limit) is decoded first, needing NumPy and imagecodecs only; Pillow is
    imported and opens it afterwards, and the pixels are kept only if it is a candidate after
    all. Anything else is opened by Pillow first, as :func:`poolcli.io.reading.read_picture` does.

    It never writes to standard error and changes Pillow's pixel limit and the warning filters
    only under :data:`PIXELS_LOCK`. The decoder releases the GIL; ``before_decode()`` is called
    just before it starts.
    """
    codecs = _codecs()
    if codecs is None:
        return None
    try:
        early = None
        header = pngrows.plain_header(data)
        if header is not None and _within(header[:2], pixel_limit(max_pixels)):
            if before_decode is not None:
                before_decode()
            early = _decode(codecs[0].spng_decode, data)
            if early is None:
                return None
        im = _open(data, max_pixels)
        if im is None:
            return None
        with im:
            if early is None:
                if before_decode is not None:
                    before_decode()
                pixels = decode_pixels(im, data)
            else:  # what the header promised, Pillow must confirm
                pixels = early if im.format == "PNG" and _fits(im, early) else None
            if pixels is None:
                return None
            assert im.format is not None
            return Decoded(pixels, im.mode, im.format, dict(im.info))
    except Exception:  # noqa: BLE001 - whatever Pillow raises for a bad file: read it the usual way
        return None


def start_rows(data: bytes, *, max_pixels: int | None = DEFAULT) -> pngrows.RowStream | None:
    """A :class:`~poolcli.io.pngrows.RowStream` for ``data``, a whole file, if it is a plain PNG
    (:func:`~poolcli.io.pngrows.plain_header`, not interlaced) within ``max_pixels`` and libspng
    is :func:`~poolcli.io.pngrows.available`; else ``None``.

    Nothing is decoded yet: the caller runs the stream (:meth:`~poolcli.io.pngrows.RowStream.run`)
    on a thread of its own. Its rows are used only once Pillow agrees (:func:`confirm`).
    """
    if not isinstance(data, bytes) or not pngrows.available():
        return None
    header = pngrows.plain_header(data)
    if header is None or header.interlaced or not _within(header[:2], pixel_limit(max_pixels)):
        return None
    try:
        return pngrows.RowStream(data, header)
    except pngrows.StreamError:
        return None


def confirm(
    stream: pngrows.RowStream, *, max_pixels: int | None = DEFAULT
) -> tuple[str, str, dict[str, Any]] | None:
    """Pillow's word on the file of a :func:`start_rows` stream: ``(mode, format, info)`` if
    Pillow opens it as a :func:`candidate` within ``max_pixels``, of the size and mode the
    stream decodes; else ``None`` (the rows are not Pillow's: the file is read the usual
    way)."""
    try:
        im = _open(stream.data, max_pixels)
    except Exception:  # noqa: BLE001 - whatever Pillow raises for a bad file: read it the usual way
        return None
    if im is None:
        return None
    with im:
        header = stream.header
        if im.format == "PNG" and im.size == header[:2] and im.mode == header.mode:
            return im.mode, im.format, dict(im.info)
    return None


def _open(data: bytes | memoryview, max_pixels: int | None) -> Image.Image | None:
    """``data`` opened by Pillow (as PNG or JPEG) if it is a :func:`candidate` within
    ``max_pixels``, else ``None``; Pillow's limit and the warning filters are left as found."""
    from PIL import Image

    # Pillow raises only past twice its limit and warns (ignored here) below: checked exactly
    with pixel_guard(max_pixels) as limit, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
        if candidate(im) and _within(im.size, limit):
            return im
    im.close()
    return None


def _within(size: tuple[int, int], limit: int | None) -> bool:
    return limit is None or size[0] * size[1] <= limit


def _orientation(im: Image.Image) -> int | None:
    """The EXIF orientation Pillow would apply, without decoding the pixels (a PNG's
    ``getexif`` loads the image unless it has an ``eXIf`` chunk before the pixels); 2 (a flip,
    so: not here) where only a decode would tell."""
    if im.format == "PNG" and "exif" not in im.info:
        return 2 if any(key in im.info for key in _OTHER_EXIF) else None
    from PIL import ExifTags

    return im.getexif().get(ExifTags.Base.Orientation)
