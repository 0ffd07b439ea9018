"""Pillow images <-> arrays: modes, alpha, palettes, frames, metadata and files.

How each Pillow mode is pooled (SPEC.md section 2), and the choices SPEC.md leaves open:

* ``1`` (bool), ``L``, ``RGB``, ``CMYK``, ``YCbCr``, ``LAB``, ``RGBX`` (uint8), ``I;16``,
  ``I;16L``, ``I;16B``, ``I;16N`` (uint16, 16 bits stay 16 bits), ``I`` (int32), ``F`` (float32):
  every channel on its own, the mode is kept.
* ``LA`` and ``RGBA`` (straight alpha). The alpha channel is pooled by the mode itself; the colour
  channels so that a transparent pixel never bleeds into its neighbours:

  - ``avg``, ``lp``, ``median`` pool *premultiplied* colour (colour x alpha) and divide by the
    pooled alpha (avg exactly: ``sum(c*a) / sum(a)`` rounded half up);
  - ``max`` and ``min`` skip fully transparent pixels (alpha 0) for the colour;
  - ``sum`` adds the colour of the pixels that are not fully transparent;
  - ``mode`` takes an RGBA pixel as one label, all fully transparent pixels being the same label.

  A fully transparent output pixel has colour 0.
* ``La`` and ``RGBa`` already store premultiplied colour, so pooling each channel is exactly the
  premultiplied rule above; the mode is kept.
* ``P``: ``mode`` pools the palette indices and keeps the palette and transparency (label maps stay
  label maps). Every other mode pools the RGB colours (RGBA, premultiplied as above, if the palette
  or the ``transparency`` info has alpha) and maps each result to the *nearest* colour of the
  original palette (squared RGB distance, premultiplied RGBA with transparency; ties go to the
  lowest index), so the output is a ``P`` image with the same palette.
  ``PA`` works the same way, with its alpha channel pooled like ``LA``'s.
* ``1``, ``L`` and ``RGB`` with a ``transparency`` colour key are pooled as ``LA``/``RGBA`` (the
  key becomes alpha) and come back as ``LA``/``RGBA``.
* ``HSV`` is pooled in RGB and converted back (hue is an angle: averaging it directly is wrong),
  except ``mode``, which pools the HSV labels as they are.
* ``sum`` needs a wider type than the image: single-channel integer images (``1``, ``L``, 16-bit,
  ``I``) come back as ``I`` (int32, saturated at its limits; 16-bit binning stays exact), ``F``
  stays ``F`` (float32), multi-channel images saturate at 255 in their own mode (Pillow has no
  wider multi-channel mode).

Files: :func:`read_picture` decodes every frame of an animated GIF, PNG, WebP, AVIF or FLI file
and every page of a TIFF (other formats: the primary image only, so a JPEG carrying an MPF
preview or a PSD with layers stays one picture), applies the EXIF orientation, and keeps ICC
profile, DPI, EXIF, durations, loop and disposal. :func:`write_picture` writes atomically.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import struct
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageMode, ImageOps, UnidentifiedImageError

from poolcli import decoders, pngrows, pngwrite
from poolcli.core import pool, resolve_mode
from poolcli.errors import ImageError, PoolError, UnsupportedError, WindowError
from poolcli.geometry import Axis, make_axes

__all__ = [
    "DEFAULT",
    "Picture",
    "encode_picture",
    "format_for_path",
    "format_name",
    "image_dtype",
    "pool_image",
    "pool_picture",
    "read_picture",
    "write_picture",
]


DEFAULT: Any = decoders.DEFAULT
"""``max_pixels`` default of :func:`read_picture`: Pillow's decompression-bomb limit."""

_U16_MODES = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}
_PLAIN_MODES = {"1", "L", "RGB", "CMYK", "YCbCr", "LAB", "RGBX", "La", "RGBa", "I", "F"}
_PLAIN_MODES |= set(_U16_MODES)
_SINGLE_CHANNEL_INT = {"1", "L", "I", *_U16_MODES}

# Formats whose frames are an animation or pages. Other multi-frame formats hold variants of one
# picture (MPO previews, ICO sizes, PSD layers, DDS mipmaps): only their primary image is read.
_MULTI_FRAME_FORMATS = {"GIF", "PNG", "WEBP", "TIFF", "AVIF", "FLI"}
# Formats that write several frames, and how to say so in an error.
_MULTI_FRAME_OUT = {"GIF", "PNG", "WEBP", "TIFF", "AVIF", "PDF"}
_LOSSLESS_TIFF = {"tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"}

# Defaults chosen for the output: quality 90 is visually lossless for JPEG/WebP/AVIF photos at
# about half the size of 100. PNG level 1, measured by benchmarks/bench_e2e.py --levels: for a
# 2048x2048 photo poolcli.pngwrite takes 0.06 s with ISA-L (the `fast` extra), 0.13 s with zlib
# alone, where Pillow's level 6 takes 1.1 s, for files 6% and 12% larger; from level 4 up the
# files are smaller than Pillow's 6. Flat images (labels, screenshots) gain most from 6-9.
JPEG_QUALITY = 90
PNG_COMPRESS_LEVEL = 1

# Errors Pillow raises on corrupt or truncated data, at open or while decoding.
# NotImplementedError: a variant of a format Pillow does not decode (DDS pixel formats, ...).
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    NotImplementedError,
)
# Banded pooling (see _band_rows): images of at least BAND_MIN_BYTES as an array (pixels x
# channels x item size) are pooled about BAND_BYTES of input at a time. 2 MiB is the core's
# threshold for using all cores; for an 8192x8192 RGB max 2x2 it measured as fast as 8 MiB
# bands (0.12 s against 0.17 s) with 23 MiB less peak memory.
BAND_BYTES = 1 << 21
BAND_MIN_BYTES = 1 << 25
_BANDED_MODES = _PLAIN_MODES | {"HSV", "LA", "RGBA", "P", "PA"}
_WINDOW_KWARGS = {"kernel_size", "stride", "padding", "dilation", "ceil_mode", "output_size"}
_BAND_KWARGS = _WINDOW_KWARGS | {"count_include_pad", "threads"}
# The largest DPI a format's writer stores (PNG and BMP in pixels per metre, 32 bits and 31
# bits; PCX in 16 bits); a DPI beyond it (EXIF says 4294967295 in one of Pillow's test files)
# is left out rather than failing the write.
_MAX_DPI = {"PNG": (2**32 - 1) * 0.0254, "BMP": (2**31 - 1) * 0.0254, "PCX": 65535.0}
_MAX_DPI["DIB"] = _MAX_DPI["BMP"]
# Modes a Picture may hold as a uint8 array (what poolcli.decoders gives).
_ARRAY_MODES = frozenset({"L", "RGB", "RGBA"})


class _InputError(ImageError):
    """The input file's error, found only when its pixels were pooled or written (a PNG read
    row by row, whose decoding failed: see :func:`rows_picture`)."""


class Picture:
    """A decoded image file: its frames, its format and what writing it back needs.

    ``info`` holds picture-wide metadata, each key only when present: ``icc_profile`` (bytes),
    ``dpi`` ((x, y) floats), ``exif`` (bytes, orientation already applied and reset),
    ``duration`` (list of ms per frame), ``loop``, ``disposal`` (list per frame),
    ``default_image`` (APNG), ``compression`` (lossless TIFF compression). Per-frame data such as
    a palette's ``transparency`` stays in each frame's own ``info``.

    A single-frame picture may instead hold its pixels as a NumPy array (``array``, with the
    Pillow ``mode`` they stand for: ``L``, ``RGB`` or ``RGBA``, uint8): what the fast decoders
    give (:mod:`poolcli.decoders`). It is pooled and written as PNG without ever becoming a
    Pillow image; ``frames`` makes the Pillow image the first time it is asked for, and from
    then on the picture holds that instead.

    Or its rows may still be being decoded, on another thread (:func:`rows_picture`):
    :func:`pool_picture` pools them as they come, ``array`` and ``frames`` wait for them all.

    >>> from PIL import Image
    >>> pic = Picture([Image.new("L", (4, 3))], "PNG")
    >>> pic.size, pic.mode, pic.n_frames, pic.shape, pic.dtype
    ((4, 3), 'L', 1, (3, 4, 1), 'uint8')
    >>> import numpy as np
    >>> pic = Picture(array=np.zeros((3, 4, 3), np.uint8), mode="RGB")
    >>> pic.size, pic.array is not None, pic.frames[0].mode, pic.array is None
    ((4, 3), True, 'RGB', True)
    """

    def __init__(
        self,
        frames: Sequence[Image.Image] | None = None,
        format: str | None = None,
        info: dict[str, Any] | None = None,
        *,
        array: np.ndarray | None = None,
        mode: str | None = None,
        rows: pngrows.RowStream | _PooledRows | None = None,
        reread: Callable[[], Picture] | None = None,
    ) -> None:
        if sum(x is not None for x in (frames, array, rows)) != 1:
            raise TypeError("Picture takes one of frames, an array or rows")
        if array is not None and (mode not in _ARRAY_MODES or array.dtype != np.uint8):
            raise ValueError(f"an array picture is uint8 L, RGB or RGBA, not {mode} {array.dtype}")
        if rows is not None and (mode != rows.header.mode or reread is None):
            raise ValueError("a rows picture has the mode of its rows and a way to read it again")
        self._frames = None if frames is None else list(frames)
        self._array, self._mode = array, mode
        self._rows, self._reread = rows, reread  # see rows_picture, pool_picture
        self._pooled_later = 0.0
        self.format = format
        self.info: dict[str, Any] = {} if info is None else info

    def __repr__(self) -> str:
        held = (
            "rows"
            if self._rows is not None
            else "array"
            if self._array is not None
            else f"{self.n_frames} frame(s)"
        )
        return f"<Picture {self.format} {self.mode} {self.size} {held}>"

    def _settle(self, failed: bool = False) -> None:
        """Turn a picture whose rows are being decoded into one held whole: the rows gathered
        into ``array``; or, if their decoding fails (or ``failed``: it did while they were
        pooled), or the rows were pooled already (they are not kept), the file read again the
        usual way, whose error is the file's own."""
        rows, self._rows = self._rows, None
        if rows is None:
            return
        self._pooled_later += getattr(rows, "seconds", 0.0)
        try:
            if failed:
                raise pngrows.StreamError
            self._array = rows.whole()
        except pngrows.StreamError:
            rows.stop()
            assert self._reread is not None
            try:
                other = self._reread()
            except ImageError as err:  # the input file's own error, wherever it shows
                raise _InputError(str(err)) from None
            self._frames, self._array, self._mode = other._frames, other._array, other._mode
            self.format, self.info = other.format, other.info

    @property
    def frames(self) -> list[Image.Image]:
        """The frames as Pillow images (made from ``array`` the first time)."""
        self._settle()
        if self._frames is None:
            assert self._array is not None
            a = self._array
            image = Image.fromarray(a) if a.ndim == 2 else Image.fromarray(a, self._mode)
            for key in ("icc_profile", "dpi"):  # what Pillow's decoder puts in a frame's info
                if key in self.info:
                    image.info[key] = self.info[key]
            self._frames, self._array = [image], None
        return self._frames

    @property
    def pooled_later(self) -> float:
        """Seconds spent pooling this picture's pixels after :func:`pool_picture` returned it
        (the wait for decoded rows included): :func:`pool_picture` of a PNG being decoded
        pools its rows as they are written (:func:`encode_picture`) or asked for. 0 for any
        other picture."""
        later = self._pooled_later
        return later + (self._rows.seconds if isinstance(self._rows, _PooledRows) else 0.0)

    @property
    def array(self) -> np.ndarray | None:
        """The pixels of a picture held as an array, ``None`` for one held as Pillow frames."""
        self._settle()
        return self._array

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the first frame."""
        if self._rows is not None:
            return self._rows.header[:2]
        if self._array is not None:
            return self._array.shape[1], self._array.shape[0]
        return self.frames[0].size

    @property
    def mode(self) -> str:
        """Pillow mode of the first frame (later GIF frames may be ``RGB``/``RGBA``)."""
        if self._array is not None or self._rows is not None:
            assert self._mode is not None
            return self._mode
        return self.frames[0].mode

    @property
    def n_frames(self) -> int:
        """Number of frames (pages)."""
        return 1 if self._array is not None or self._rows is not None else len(self.frames)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of the first frame, as NumPy sees it."""
        width, height = self.size
        if self._rows is not None:
            return height, width, self._rows.header.channels
        if self._array is not None:
            return height, width, 1 if self._array.ndim == 2 else self._array.shape[2]
        return height, width, len(self.frames[0].getbands())

    @property
    def dtype(self) -> str:
        """NumPy dtype name of the first frame's pixels (see :func:`image_dtype`)."""
        if self._array is not None or self._rows is not None:
            return "uint8"
        return image_dtype(self.frames[0])


# --------------------------------------------------------------------------------------------
# One image


def image_dtype(image: Image.Image) -> str:
    """NumPy dtype name of the pixels of ``image`` (``P`` images: their uint8 indices).

    >>> from PIL import Image
    >>> image_dtype(Image.new("I;16B", (1, 1))), image_dtype(Image.new("1", (1, 1)))
    ('uint16', 'bool')
    """
    try:
        return np.dtype(ImageMode.getmode(image.mode).typestr).name
    except KeyError:
        raise UnsupportedError(f"image mode {image.mode} is not supported") from None


def pool_image(image: Image.Image, mode: str, **pool_kwargs: Any) -> Image.Image:
    """Pool one Pillow image, keeping its mode (see the module notes for each mode and for sum).

    Parameters
    ----------
    image : PIL.Image.Image
        Any of the modes listed in the module notes.
    mode : str
        A pooling mode or alias of :data:`poolcli.core.MODES`.
    **pool_kwargs
        Passed to :func:`poolcli.core.pool` (kernel_size, stride, padding, output_size, p, ...).

    Returns
    -------
    PIL.Image.Image
        The pooled image. Its ``info`` keeps ``icc_profile``, the palette's ``transparency`` and
        ``dpi`` divided by the stride (by the in/out ratio for ``output_size``).

    Raises
    ------
    UnsupportedError
        An image mode poolcli does not handle (one Pillow adds later), an unknown pooling mode.
    WindowError
        A window that does not fit the image.

    Examples
    --------
    >>> from PIL import Image
    >>> im = Image.new("RGBA", (2, 1))
    >>> im.putpixel((0, 0), (255, 0, 0, 0))      # transparent red
    >>> im.putpixel((1, 0), (0, 0, 255, 255))    # opaque blue
    >>> pool_image(im, "avg", kernel_size=(1, 2)).getpixel((0, 0))
    (0, 0, 255, 128)
    """
    name = resolve_mode(mode)
    band_rows = _band_rows(image, name, pool_kwargs)
    if band_rows:
        out = _pool_bands(image, name, pool_kwargs, band_rows)
    else:
        out = _pool_whole(image, name, pool_kwargs)
    _carry_info(image, out, pool_kwargs)
    return out


def _pool_whole(image: Image.Image, name: str, pool_kwargs: dict[str, Any]) -> Image.Image:
    m = image.mode
    if m in ("P", "PA"):
        out = _pool_palette(image, name, pool_kwargs)
    elif m in ("1", "L", "RGB") and "transparency" in image.info:
        out = _pool_image_alpha(image.convert("RGBA" if m == "RGB" else "LA"), name, pool_kwargs)
    elif m in ("LA", "RGBA"):
        out = _pool_image_alpha(image, name, pool_kwargs)
    elif m == "HSV" and name != "mode":
        rgb = pool(np.asarray(image.convert("RGB")), name, **pool_kwargs)
        out = _to_image(rgb, "RGB", name).convert("HSV")
    elif m in _PLAIN_MODES or m == "HSV":
        out = _to_image(pool(_as_array(image), name, **pool_kwargs), m, name)
    else:
        raise UnsupportedError(
            f"image mode {m} is not supported (convert it to L, RGB, RGBA, I or F first)"
        )
    return out


def _band_rows(image: Image.Image, name: str, kw: Mapping[str, Any]) -> int | None:
    """Input rows per band when ``image`` is pooled in bands of rows, else ``None``.

    ``np.asarray`` of a Pillow image briefly holds its pixels twice (``tobytes`` and the array),
    on top of Pillow's own copy: a big image is pooled a band of rows at a time instead, each
    band an array of its own, into one output image, where that is exact (:func:`_tiled_rows`).
    """
    if image.mode not in _BANDED_MODES:
        return None
    w, h = image.size
    row_bytes = w * len(image.getbands()) * _itemsize(image.mode)
    if h * row_bytes < BAND_MIN_BYTES:
        return None
    axes = _tiled_rows((h, w), name, kw)
    if axes is None:
        return None
    k = axes[0].kernel
    return k * max(1, BAND_BYTES // (row_bytes * k))


def _tiled_rows(
    shape: tuple[int, int], name: str, kw: Mapping[str, Any]
) -> tuple[Axis, Axis] | None:
    """The row and column axes of the windows of pooling ``shape`` by ``name`` and ``kw`` if
    pooling it a band of rows at a time (:func:`_bands`) gives exactly what pooling it whole
    gives, else ``None``.

    That is so by construction where the windows tile the rows: stride = kernel, dilation 1, no
    padding, every window inside the image (also adaptive windows of equal size), so cutting at
    a multiple of the kernel gives each window the same cells; the columns are untouched.
    ``lp`` is left whole, since the core picks its summation (powers or logarithms) from the
    whole input's range; so is any keyword not about windows (``p``).
    """
    if name == "lp" or not set(kw) <= _BAND_KWARGS:
        return None
    window = {k: v for k, v in kw.items() if k in _WINDOW_KWARGS}
    try:
        rows, cols = make_axes(shape, **window)
    except WindowError:
        return None  # the whole-image path raises it, with the image's shape
    if rows.stride == rows.kernel and rows.dilation == 1 and rows.pad == 0 and rows.valid.all():
        return rows, cols
    return None


def _bands(
    axis: Axis, band_rows: int, kw: Mapping[str, Any]
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(y0, y1, band_kw)`` for each band of ``band_rows`` input rows (a multiple of the
    kernel) along the tiled row ``axis`` of :func:`_tiled_rows`: pooling rows ``[y0, y1)`` by
    ``band_kw`` gives output rows ``[y0 // kernel, y1 // kernel)``."""
    k = axis.kernel
    for y0 in range(0, axis.out * k, band_rows):  # rows past the last window are read by none
        y1 = min(y0 + band_rows, axis.out * k)
        band_kw = dict(kw)
        if kw.get("output_size") is not None:  # adaptive: the band's own equal windows
            size = kw["output_size"]
            band_kw["output_size"] = (
                (y1 - y0) // k,
                size[1] if isinstance(size, (tuple, list)) else size,
            )
        yield y0, y1, band_kw


def _itemsize(mode: str) -> int:
    return np.dtype(ImageMode.getmode(mode).typestr).itemsize


def _pool_bands(
    image: Image.Image, name: str, kw: Mapping[str, Any], band_rows: int
) -> Image.Image:
    """:func:`_pool_whole` of ``image`` a band of ``band_rows`` rows at a time (see
    :func:`_band_rows` for when that is exact; ``band_rows`` is a multiple of the row kernel)."""
    w, h = image.size
    rows, cols = make_axes((h, w), **{k: v for k, v in kw.items() if k in _WINDOW_KWARGS})
    out: Image.Image | None = None
    for y0, y1, band_kw in _bands(rows, band_rows, kw):
        pooled = _pool_whole(image.crop((0, y0, w, y1)), name, band_kw)
        if out is None:
            # A crop past the edges: the output's size with the first band's mode, palette and
            # info in one step, the rows below it zero until pasted. Pillow's pixel guard looks
            # at a crop's size too, but this is no file being decoded: it is switched off here.
            with decoders.pixel_guard(None):
                out = pooled.crop((0, 0, cols.out, rows.out))
        else:
            out.paste(pooled, (0, y0 // rows.kernel))
    assert out is not None
    return out


def _as_array(image: Image.Image) -> np.ndarray:
    a = np.asarray(image)
    if not a.dtype.isnative:  # I;16B: the core works on native byte order
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _to_image(a: np.ndarray, mode: str, name: str) -> Image.Image:
    """An image of ``mode`` from pooled pixels; ``sum`` results are stored as the notes say."""
    if name == "sum":
        if a.ndim == 2 and a.dtype.kind == "f":
            with np.errstate(over="ignore"):  # a float32 overflow is inf, as Pillow would store
                return Image.fromarray(a.astype(np.float32))
        if mode in _SINGLE_CHANNEL_INT:
            info = np.iinfo(np.int32)
            return Image.fromarray(np.clip(a, info.min, info.max).astype(np.int32))
        a = _saturate_u8(a)
    if mode in _U16_MODES:
        data = np.ascontiguousarray(a, dtype=_U16_MODES[mode])
        return Image.frombuffer(mode, (a.shape[1], a.shape[0]), data, "raw", mode, 0, 1)
    a = np.ascontiguousarray(a)
    return Image.fromarray(a) if a.ndim == 2 else Image.fromarray(a, mode)


def _saturate_u8(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.uint8 else np.clip(a, 0, 255).astype(np.uint8)


def _pool_image_alpha(image: Image.Image, name: str, kw: Mapping[str, Any]) -> Image.Image:
    return Image.fromarray(_pool_alpha(np.asarray(image), name, kw), image.mode)


def _pool_alpha(x: np.ndarray, name: str, kw: Mapping[str, Any]) -> np.ndarray:
    """Pool uint8 ``(H, W, k+1)`` colour + straight alpha without transparent pixels bleeding."""
    k = x.shape[2] - 1
    colour, alpha = x[..., :k], x[..., k]
    if name in ("avg", "lp", "median"):
        alpha_out = pool(alpha, name, **kw)
        if name == "avg":
            # Exact: sum(c*a) / sum(a), rounded half up. c*a <= 65025 fits uint16.
            buf = np.empty(x.shape, np.uint16)
            np.multiply(colour, alpha[..., None], out=buf[..., :k], dtype=np.uint16)
            buf[..., k] = alpha
            s = pool(buf, "sum", **kw)
            den = s[..., k:]
            col = (2 * s[..., :k] + den) // np.maximum(2 * den, 1)
        else:
            # Premultiplied: median(c*a) / median(a) and lp(c*a) / lp(a); the window's count
            # cancels. Alpha enters as 255*a, on the scale of c*a, so both see the same
            # floating-point range. Halves of median are exact in float32; lp uses float64.
            dt = np.float32 if name == "median" else np.float64
            buf = np.empty(x.shape, dt)
            np.multiply(colour, alpha[..., None], out=buf[..., :k], dtype=dt)
            np.multiply(alpha, 255, out=buf[..., k], dtype=dt)
            r = pool(buf, name, **kw)
            den = r[..., k:]
            with np.errstate(invalid="ignore", divide="ignore"):
                col = np.floor(255 * r[..., :k] / den + 0.5)
            col = np.where(den > 0, col, 0)
        out = np.empty((*alpha_out.shape, k + 1), np.uint8)
        out[..., :k] = np.clip(col, 0, 255)
        out[..., k] = alpha_out
    else:
        transparent = alpha == 0
        if transparent.any():
            # max/min: a transparent pixel's colour can never win; sum: it adds nothing;
            # mode: every transparent pixel is the same label (0, 0, 0, 0).
            fill = 255 if name == "min" else 0
            x = x.copy()
            x[transparent, :k] = fill
            if name == "mode":
                x[transparent] = 0
        out = _saturate_u8(pool(x, name, **kw))
    out[..., :k] *= (out[..., k] > 0)[..., None]  # fully transparent -> colour 0
    return out


def _pool_palette(image: Image.Image, name: str, kw: Mapping[str, Any]) -> Image.Image:
    pal_mode = image.palette.mode if image.palette is not None else "RGB"
    rawmode = pal_mode if pal_mode in ("RGB", "RGBA") else "RGB"
    palette = image.getpalette(rawmode) or []
    n = len(palette) // len(rawmode) or 256
    if name == "mode":
        x = np.asarray(image)
        if image.mode == "PA":
            transparent = x[..., 1] == 0
            if transparent.any():
                x = x.copy()
                x[transparent] = 0
        idx = pool(x, name, **kw)
    elif image.mode == "PA":
        rgba = _pool_alpha(np.asarray(image.convert("RGBA")), name, kw)
        lut = _palette_colours(image, palette, rawmode, n, with_alpha=False)
        idx = np.empty((*rgba.shape[:2], 2), np.uint8)
        idx[..., 0] = _nearest(rgba[..., :3], lut)
        idx[..., 1] = rgba[..., 3]
    else:
        with_alpha = image.has_transparency_data
        if with_alpha:
            colours = _pool_alpha(np.asarray(image.convert("RGBA")), name, kw)
        else:
            colours = _saturate_u8(pool(np.asarray(image.convert("RGB")), name, **kw))
        lut = _palette_colours(image, palette, rawmode, n, with_alpha=with_alpha)
        idx = _nearest(colours, lut)
    out = Image.fromarray(np.ascontiguousarray(idx), image.mode)
    if palette:
        out.putpalette(palette, rawmode)
    if "transparency" in image.info:
        out.info["transparency"] = image.info["transparency"]
    return out


def _palette_colours(
    image: Image.Image, palette: list[int], rawmode: str, n: int, *, with_alpha: bool
) -> np.ndarray:
    """``(n, 3|4)`` uint8 colour of each palette index, as Pillow's own convert() sees it."""
    strip = Image.fromarray(np.arange(n, dtype=np.uint8)[None, :], "P")
    if palette:
        strip.putpalette(palette, rawmode)
    if "transparency" in image.info and image.mode == "P":
        strip.info["transparency"] = image.info["transparency"]
    return np.asarray(strip.convert("RGBA" if with_alpha else "RGB"))[0]


def _nearest(colours: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Index into ``lut`` of the nearest colour to each pixel of uint8 ``colours`` (H, W, C).

    Distance is squared Euclidean, on premultiplied colour when C == 4 (so all transparent
    entries are equal); ties go to the lowest index. Each distinct colour is matched once.
    """
    h, w, c = colours.shape
    flat = colours.reshape(-1, c)
    key = np.zeros(len(flat), np.uint32)
    for i in range(c):
        key |= flat[:, i].astype(np.uint32) << np.uint32(8 * i)
    uniq, inverse = np.unique(key, return_inverse=True)
    ucol = np.stack([(uniq >> np.uint32(8 * i)) & 0xFF for i in range(c)], axis=1)

    def features(col: np.ndarray) -> np.ndarray:
        f = col.astype(np.int64)
        if c == 4:  # premultiplied colour and alpha on the same 0..65025 scale
            f[:, :3] *= f[:, 3:]
            f[:, 3] *= 255
        return f

    fu, fl = features(ucol), features(lut)
    best = np.empty(len(uniq), np.intp)
    step = max(1, (1 << 20) // len(fl))
    for start in range(0, len(uniq), step):  # chunks of distinct colours, never single pixels
        d = fu[start : start + step, None, :] - fl[None, :, :]
        best[start : start + step] = np.einsum("ijk,ijk->ij", d, d).argmin(axis=1)
    return best[inverse.reshape(-1)].reshape(h, w).astype(np.uint8)


def _factors(
    in_size: tuple[int, int], out_size: tuple[int, int], kw: Mapping[str, Any]
) -> tuple[float, float]:
    """(x, y) factor by which pooling shrank the pixel pitch: the stride, or in/out if adaptive."""
    if kw.get("output_size") is not None:
        return in_size[0] / out_size[0], in_size[1] / out_size[1]
    stride = kw.get("stride")
    if stride is None:
        stride = kw.get("kernel_size", 2)
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else tuple(stride)
    return float(sw), float(sh)


def _scaled_dpi(dpi: Any, fx: float, fy: float) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    return (x / fx, y / fy) if x > 0 and y > 0 else None


def _carry_info(src: Image.Image, out: Image.Image, kw: Mapping[str, Any]) -> None:
    if src.info.get("icc_profile"):
        out.info["icc_profile"] = src.info["icc_profile"]
    if "transparency" in src.info and out.mode == src.mode and src.mode not in ("P", "PA"):
        out.info["transparency"] = src.info["transparency"]  # a colour key of I;16 / I images
    if "dpi" in src.info:
        dpi = _scaled_dpi(src.info["dpi"], *_factors(src.size, out.size, kw))
        if dpi is not None:
            out.info["dpi"] = dpi


# --------------------------------------------------------------------------------------------
# Files


def read_picture(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int | None = DEFAULT,
    name: str | None = None,
) -> Picture:
    """Read and fully decode an image file (all frames), EXIF orientation applied.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file path, or the file's bytes (the CLI reads standard input into bytes).
    max_pixels : int or None
        Refuse frames with more pixels than this (decompression-bomb guard). ``DEFAULT`` is
        Pillow's error limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 Mpx); ``None`` lifts
        the guard. Pillow's intermediate warning is never emitted.
    name : str, optional
        Name used in error messages (default: the path, or ``<bytes>``).

    Returns
    -------
    Picture
        Frames are independent in-memory copies; no file handle stays open.

    Raises
    ------
    ImageError
        One line ``"<name>: <cause>"``: missing file, a directory, an empty file, truncated or
        corrupt data, not an image, too many pixels.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (5, 3)).save(buf, "PNG")
    >>> pic = read_picture(buf.getvalue())
    >>> pic.format, pic.size, pic.mode
    ('PNG', (5, 3), 'RGB')
    """
    if max_pixels is not None and max_pixels is not DEFAULT:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        if not len(source):
            raise ImageError(f"{label}: empty file")
        return _decode_guarded(io.BytesIO(source), label, max_pixels)
    label = name or os.fspath(source)
    try:
        f = open(source, "rb")
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{label}: is a directory") from None
    except OSError as err:
        raise ImageError(f"{label}: cannot read: {_reason(err)}") from None
    with f:
        # Pillow decodes from the open file a block at a time: the whole file is never held as
        # bytes next to its pixels. A pipe or a device (``<(cat a.png)``) cannot seek: read it.
        try:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
            fp: Any = f if regular else io.BytesIO(f.read())
            empty = (os.fstat(f.fileno()).st_size if regular else len(fp.getvalue())) == 0
        except OSError as err:
            raise ImageError(f"{label}: cannot read: {_reason(err)}") from None
        if empty:
            raise ImageError(f"{label}: empty file")
        return _decode_guarded(fp, label, max_pixels)


def array_picture(decoded: decoders.Decoded) -> Picture:
    """The :class:`Picture` of what :func:`poolcli.decoders.read` decoded."""
    pixels, mode, fmt, info = decoded
    return Picture(array=pixels, mode=mode, format=fmt, info=_single_info(info, fmt))


def rows_picture(
    rows: pngrows.RowStream, *, name: str, max_pixels: int | None = DEFAULT
) -> Picture | None:
    """The :class:`Picture` of a PNG whose rows are being decoded, on another thread, by
    ``rows`` (:func:`poolcli.decoders.start_rows`), if Pillow agrees that they are the file's
    pixels (:func:`poolcli.decoders.confirm`, with ``max_pixels``); else ``None``.

    :func:`pool_picture` pools the rows as they come; ``array`` and ``frames`` wait for all.
    Should the decoding fail, the file is read again as :func:`read_picture` reads it, and its
    error (named ``name``) is raised where the pixels were wanted.
    """
    confirmed = decoders.confirm(rows, max_pixels=max_pixels)
    if confirmed is None:
        return None
    mode, fmt, info = confirmed
    return Picture(
        rows=rows,
        mode=mode,
        format=fmt,
        info=_single_info(info, fmt),
        reread=lambda: read_picture(rows.data, name=name, max_pixels=max_pixels),
    )


def _single_info(info: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """:attr:`Picture.info` of a one-frame file from Pillow's ``info``."""
    return _picture_info(info, fmt, [info.get("duration")], [None])


def _decode_guarded(fp: Any, label: str, max_pixels: int | None) -> Picture:
    """:func:`_decode` with the decompression-bomb limit of ``max_pixels`` exact."""
    with decoders.pixel_guard(max_pixels), warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and errors above twice that: make the limit
        # exact. Metadata warnings (corrupt EXIF, ...) are not worth a message.
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", ".* format is deprecated", DeprecationWarning)
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        with _c_stderr_silenced():
            return _decode(fp, label)


@contextlib.contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while Pillow's C decoders run.

    libtiff and libjpeg print warnings about corrupt data straight to descriptor 2, beneath
    Python: a bad file would show their lines before poolcli's own one-line error. What the
    decoder has to say that matters comes back as an exception.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: nothing to silence
        yield
        return
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _decode(fp: Any, label: str) -> Picture:
    """Every frame of the open file ``fp`` (which the caller closes), EXIF orientation applied."""
    fmt = None
    try:
        with Image.open(fp) as im:
            fmt = im.format
            pixels = decoders.decode_pixels(im, _file_bytes(fp)) if decoders.candidate(im) else None
            if pixels is not None:
                return array_picture(decoders.Decoded(pixels, im.mode, fmt, im.info))
            n = getattr(im, "n_frames", 1) if fmt in _MULTI_FRAME_FORMATS else 1
            frames: list[Image.Image] = []
            durations: list[Any] = []
            disposals: list[Any] = []
            for i in range(n):
                if i:
                    im.seek(i)
                frames.append(_frame(im, only=n == 1))
                durations.append(im.info.get("duration"))
                disposals.append(getattr(im, "disposal_method", im.info.get("disposal")))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{label}: {_one_line(err)}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image, or a format Pillow cannot read") from None
    except _DECODE_ERRORS as err:
        what = f"{fmt} image" if fmt else "image"
        raise ImageError(f"{label}: cannot decode {what}: {_one_line(err)}") from None
    return Picture(frames, fmt, _picture_info(frames[0].info, fmt, durations, disposals))


def _file_bytes(fp: Any) -> bytes | memoryview:
    """The whole file ``fp`` holds (a view of a BytesIO's own buffer), from its start."""
    fp.seek(0)
    return fp.getbuffer() if isinstance(fp, io.BytesIO) else fp.read()


def _picture_info(
    first: Mapping[str, Any], fmt: str | None, durations: list[Any], disposals: list[Any]
) -> dict[str, Any]:
    """:attr:`Picture.info` from the first frame's Pillow ``info`` and each frame's duration
    and disposal."""
    info: dict[str, Any] = {}
    if first.get("icc_profile"):
        info["icc_profile"] = first["icc_profile"]
    dpi = _scaled_dpi(first.get("dpi"), 1.0, 1.0)
    if dpi is not None:
        info["dpi"] = dpi
    exif = first.get("exif")
    if isinstance(exif, bytes) and exif:  # kept byte for byte; JPEG wants the APP1 header
        info["exif"] = exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif
    if len(durations) > 1 or durations[0] is not None:
        info["duration"] = [d or 0 for d in durations]
    if len(disposals) > 1 and any(d is not None for d in disposals):
        info["disposal"] = [d or 0 for d in disposals]
    if first.get("loop") is not None:
        info["loop"] = first["loop"]
    if first.get("default_image"):
        info["default_image"] = True
    if fmt == "TIFF" and first.get("compression") in _LOSSLESS_TIFF:
        info["compression"] = first["compression"]
    return info


def _frame(im: Image.Image, *, only: bool) -> Image.Image:
    """The current frame of ``im`` as a plain in-memory image, EXIF orientation applied.

    ``ImageOps.exif_transpose`` always copies; a copy of a big frame doubles its memory. The
    only frame of a file needs none: it gets its own image object over the decoded pixels (what
    ``Image.copy`` does, minus the copy), which outlives closing ``im``. Frames of an animation
    are copied, as the next ``seek`` reuses the decoded pixels.
    """
    im.load()
    if im.getexif().get(ExifTags.Base.Orientation, 1) in decoders.TRANSPOSED:
        return ImageOps.exif_transpose(im)
    if only and getattr(im, "map", None) is None:  # never a memory map of the file (closed soon)
        return im._new(im.im)
    return im.copy()


def pool_picture(pic: Picture, mode: str, **pool_kwargs: Any) -> Picture:
    """Pool every frame of ``pic`` with :func:`pool_image`; DPI divided by the stride.

    Durations, loop, disposal, ICC profile and EXIF are kept.

    >>> from PIL import Image
    >>> pic = Picture([Image.new("L", (6, 4))], "PNG", {"dpi": (300.0, 300.0)})
    >>> out = pool_picture(pic, "max", kernel_size=(1, 3))
    >>> out.size, out.info["dpi"]
    ((2, 4), (100.0, 300.0))
    """
    name = resolve_mode(mode)
    info = dict(pic.info)
    lazy = _PooledRows.start(pic, name, pool_kwargs) if pic._rows is not None else None
    if lazy is not None:
        out_size = lazy.header[:2]
    elif pic.array is not None:  # (a picture being decoded waits for its rows here)
        pooled = _pool_array(pic.array, pic.mode, name, pool_kwargs)
        out_size = pooled.shape[1], pooled.shape[0]
    else:
        frames = [pool_image(f, mode, **pool_kwargs) for f in pic.frames]
        out_size = frames[0].size
    if "dpi" in info:
        dpi = _scaled_dpi(info["dpi"], *_factors(pic.size, out_size, pool_kwargs))
        if dpi is None:
            del info["dpi"]
        else:
            info["dpi"] = dpi
    if lazy is not None:

        def again() -> Picture:  # the rows failed: the file read again, pooled whole
            pic._settle(failed=True)
            return pool_picture(pic, mode, **pool_kwargs)

        return Picture(rows=lazy, mode=pic.mode, format=pic.format, info=info, reread=again)
    if pic.array is None:
        return Picture(frames, pic.format, info)
    if pooled.dtype == np.uint8:
        return Picture(array=pooled, mode=pic.mode, format=pic.format, info=info)
    # sum's wider values: stored as _to_image says, in a Pillow image
    image = _to_image(pooled, pic.mode, name)
    if "icc_profile" in info:
        image.info["icc_profile"] = info["icc_profile"]
    return Picture([image], pic.format, info)


class _PooledRows:
    """The pooled pixels of a picture whose rows are being decoded (:func:`rows_picture`),
    pooled a band at a time when asked for: :meth:`ready` pools until the output has the rows
    asked for, waiting for the input rows it needs, so that the PNG writer can write the top of
    the output while the bottom of the input is still being decoded. The same protocol as
    :class:`poolcli.pngrows.RowStream` for :class:`Picture` (``header``, :meth:`whole`,
    :meth:`stop`), and what it takes from one.

    Only where that is exact (:func:`_tiled_rows`), for the modes whose output is uint8 like
    the input (not ``sum``): :meth:`start` says.
    """

    def __init__(
        self,
        source: pngrows.RowStream,
        mode: str,
        name: str,
        kw: Mapping[str, Any],
        axes: tuple[Axis, Axis],
    ) -> None:
        self._source, self._mode, self._name = source, mode, name
        axis, cols = axes
        self.header = pngrows.Header(cols.out, axis.out, source.header.channels, False)
        self.array = np.empty((axis.out, cols.out, *source.shape[2:]), np.uint8)
        self._kernel = axis.kernel
        band = axis.kernel * max(1, pngrows.BAND_BYTES // (source.row_bytes * axis.kernel))
        # One thread: the decoder keeps another core busy, the PNG writer's threads the rest.
        self._bands = _bands(axis, band, {**kw, "threads": 1})
        self._done = 0  # output rows pooled
        self._finished = False
        self._lock = threading.Lock()
        self.seconds = 0.0  # spent in ready(): waiting for rows and pooling them

    @classmethod
    def start(cls, pic: Picture, name: str, kw: Mapping[str, Any]) -> _PooledRows | None:
        """The lazy pooling of ``pic``'s rows, or ``None`` where it would not be exact."""
        source = pic._rows
        if not isinstance(source, pngrows.RowStream) or name == "sum":
            return None
        axes = _tiled_rows(source.shape[:2], name, kw)
        return None if axes is None else cls(source, pic.mode, name, kw, axes)

    def ready(self, rows: int) -> None:
        """Pool until output rows ``[0, rows)`` are in :attr:`array`; for the last row, until the
        input is decoded to its end (:class:`~poolcli.pngrows.StreamError` if it fails)."""
        with self._lock:  # the PNG writer's threads ask for their bands at once
            self._ready(rows)

    def _ready(self, rows: int) -> None:
        start = time.perf_counter()
        try:
            k = self._kernel
            while self._done < rows:
                y0, y1, band_kw = next(self._bands)
                x = self._source.rows(y0, y1)
                pooled = _pool_array(x, self._mode, self._name, band_kw)
                self.array[y0 // k : y1 // k] = pooled  # before release: it may be a view
                self._source.release(y1)
                self._done = y1 // k
            if rows >= self.header.height and not self._finished:
                self._source.release(self._source.header.height)
                self._source.finish()  # the rows past the last window, and the file's end
                self._finished = True
        finally:
            self.seconds += time.perf_counter() - start

    def whole(self) -> np.ndarray:
        """All of :attr:`array`, pooled."""
        self.ready(self.header.height)
        return self.array

    def stop(self) -> None:
        self._source.stop()


def _pool_array(x: np.ndarray, mode: str, name: str, kw: Mapping[str, Any]) -> np.ndarray:
    """The pixels of a picture held as an array, pooled as :func:`pool_image` pools the same
    pixels as a Pillow image (in one piece: there is no Pillow copy to spare memory for)."""
    return _pool_alpha(x, name, kw) if mode == "RGBA" else pool(x, name, **kw)


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Pillow format name for a file name's suffix (case-insensitive).

    >>> format_for_path("out/scan.TIF"), format_for_path("a.jpg")
    ('TIFF', 'JPEG')
    """
    suffix = Path(path).suffix.lower()
    if not suffix:
        raise UnsupportedError(f"{os.fspath(path)}: no suffix to tell the image format")
    fmt = _common_extensions().get(suffix) or Image.registered_extensions().get(suffix)
    if fmt is None:
        raise UnsupportedError(f"{os.fspath(path)}: unknown image suffix {suffix!r}")
    return fmt


def format_name(format: str) -> str:
    """Pillow's name of a writable format given by name or suffix, any case.

    >>> format_name("jpg"), format_name(".tif"), format_name("WebP")
    ('JPEG', 'TIFF', 'WEBP')
    """
    upper = format.upper().lstrip(".")
    common = _common_extensions().get("." + format.lower().lstrip("."))
    if upper in Image.SAVE:
        return upper
    if common in Image.SAVE:
        return common
    Image.init()
    if upper in Image.SAVE:
        return upper
    fmt = Image.registered_extensions().get("." + format.lower().lstrip("."))
    if fmt is None:
        raise UnsupportedError(f"unknown image format {format!r}")
    if fmt not in Image.SAVE:
        raise UnsupportedError(f"Pillow cannot write {fmt} files")
    return fmt


_format_name = format_name  # the name the CLI used first


def _common_extensions() -> dict[str, str]:
    """Suffix -> format of the formats Pillow loads first (PNG, JPEG, GIF, BMP, PPM), without
    loading every other plugin as ``Image.registered_extensions`` does (15 ms, on every run)."""
    Image.preinit()
    return Image.EXTENSION


def encode_picture(
    pic: Picture,
    format: str,
    *,
    quality: int | None = None,
    compress_level: int | None = None,
    threads: int | None = None,
) -> bytes:
    """Encode ``pic`` as a ``format`` file in memory (all frames, metadata where it fits).

    Defaults: JPEG, WebP and AVIF quality 90 (WebP ``quality=100`` is lossless), PNG
    compress_level 1 (0 stored, 9 smallest), TIFF keeps a lossless input compression (else
    uncompressed). ICC profile, DPI and EXIF are written where the format holds them; durations,
    loop and disposal for animations. A single-frame PNG of a mode :mod:`poolcli.pngwrite`
    handles is written by it (all cores, ISA-L when installed), anything else by Pillow.

    A mode is converted only when nothing is lost: ``P`` to RGB(A) for JPEG/WebP, ``1``/``L`` to
    RGB for WebP, ``I;16L`` to ``I;16`` and ``I`` with values in 0..65535 to ``I;16`` for PNG,
    ``PA`` to ``RGBA`` for PNG/GIF/WebP, ``RGBX`` to ``RGB`` for PNG. GIF quantizes to 256 colours,
    as the format requires. Anything else the format cannot hold raises.

    ``threads`` caps the threads :mod:`poolcli.pngwrite` encodes on (default: one per CPU); a
    process that shares the CPUs with others, such as a batch worker, passes 1.

    Raises
    ------
    UnsupportedError
        Unknown or read-only format; a mode the format cannot hold (alpha or 16-bit to JPEG, CMYK
        or float to PNG, ...); several frames for a single-frame format.
    ImageError
        The encoder failed.

    Examples
    --------
    >>> from PIL import Image
    >>> data = encode_picture(Picture([Image.new("L", (2, 2))]), "png")
    >>> data[:4]
    b'\\x89PNG'
    """
    fmt = format_name(format)
    if pic.n_frames > 1 and fmt not in _MULTI_FRAME_OUT:
        raise UnsupportedError(
            f"{fmt} holds one image, this picture has {pic.n_frames} frames "
            "(write GIF, PNG, WEBP or TIFF)"
        )
    params = _save_params(pic, fmt, quality, compress_level)
    fast = _fast_png(fmt, params)
    source: Image.Image | np.ndarray
    ready = None
    lazy = pic._rows if isinstance(pic._rows, _PooledRows) else None
    if lazy is not None and fast:
        # pooled as the writer asks for rows, while the input decodes on another core
        frames, source, ready = [], lazy.array, lazy.ready
    elif pic.array is not None and fast:
        frames, source = [], pic.array  # straight from the array, never a Pillow image
    else:
        frames = [_storable(f, fmt) for f in pic.frames]
        source = frames[0]
    buf = io.BytesIO()
    try:
        if fast and len(frames) <= 1 and pngwrite.can_encode(source):
            return pngwrite.encode_png(
                source,
                compress_level=params["compress_level"],
                icc_profile=params.get("icc_profile"),
                dpi=params.get("dpi"),
                exif=params.get("exif"),
                threads=threads,
                ready=ready,
            )
        if len(frames) > 1:
            frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], **params)
        else:
            frames[0].save(buf, fmt, **params)
    except pngrows.StreamError:
        # the input's rows failed to decode: it is read again and pooled whole (or its error
        # raised), then written the usual way
        pic._settle(failed=True)
        return encode_picture(
            pic, format, quality=quality, compress_level=compress_level, threads=threads
        )
    except (OSError, ValueError, OverflowError, struct.error) as err:
        # OverflowError, struct.error: a value a writer packs into too few bits
        if "mode" in str(err).lower():  # "cannot write mode X as Y", "Unsupported BLP image mode"
            mode = getattr(source, "mode", pic.mode)
            raise UnsupportedError(f"{fmt} cannot hold image mode {mode}") from None
        raise ImageError(f"cannot encode {fmt}: {_one_line(err)}") from None
    return buf.getvalue()


def _fast_png(fmt: str, params: Mapping[str, Any]) -> bool:
    """Whether :func:`pngwrite.encode_png` may write a picture with these parameters (if it
    knows the mode and there is one frame): a level in 0..9 (Pillow also takes -1), and no
    parameter only Pillow understands."""
    level = params.get("compress_level")
    return (
        fmt == "PNG"
        and isinstance(level, int)
        and 0 <= level <= 9
        and set(params) <= {"compress_level", "icc_profile", "dpi", "exif", "loop", "duration"}
    )


def _storable(im: Image.Image, fmt: str) -> Image.Image:
    """``im`` in a mode ``fmt`` can hold, converted only where nothing is lost, or raise."""
    m = im.mode
    alpha = im.has_transparency_data
    if fmt == "JPEG":
        if m in ("1", "L", "RGB", "CMYK", "RGBX", "YCbCr"):
            return im
        if m == "P" and not alpha:
            return im.convert("RGB")
        why = "has no alpha channel" if alpha else "holds 8-bit L, RGB or CMYK only"
    elif fmt == "PNG":
        if m in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"):
            return im
        if m in ("I;16L", "I;16N"):
            return im.convert("I;16")
        if m == "I":
            lo, hi = im.getextrema()
            if 0 <= lo and hi <= 65535:  # type: ignore[operator]
                return im.convert("I;16")
            why = f"holds 16 bits at most, these values span {lo}..{hi} (write TIFF)"
        elif m in ("PA", "RGBX"):
            return im.convert("RGBA" if m == "PA" else "RGB")
        else:
            why = "holds 1, L, LA, P, RGB, RGBA and 16-bit L only"
    elif fmt in ("WEBP", "AVIF"):
        if m in ("RGB", "RGBA"):
            return im
        if m in ("1", "L", "P", "LA", "PA"):
            return im.convert("RGBA" if alpha else "RGB")
        why = "holds 8-bit RGB(A) only"
    elif fmt == "GIF":
        if m in ("1", "L", "P", "RGB", "RGBA"):
            return im
        if m in ("LA", "PA"):
            return im.convert("RGBA")
        why = "holds 8-bit palette images only"
    else:
        return im  # Pillow's own writer says what it cannot hold
    raise UnsupportedError(f"{fmt} cannot hold image mode {m}: {fmt} {why}")


def _save_params(
    pic: Picture, fmt: str, quality: int | None, compress_level: int | None
) -> dict[str, Any]:
    info = pic.info
    p: dict[str, Any] = {}
    if fmt in ("JPEG", "MPO", "AVIF"):
        p["quality"] = JPEG_QUALITY if quality is None else quality
    elif fmt == "WEBP":
        p["quality"] = JPEG_QUALITY if quality is None else quality
        p["lossless"] = quality == 100
    elif fmt == "PNG":
        p["compress_level"] = PNG_COMPRESS_LEVEL if compress_level is None else compress_level
    elif fmt == "TIFF" and "compression" in info:
        p["compression"] = info["compression"]
    if fmt in ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "AVIF") and "icc_profile" in info:
        p["icc_profile"] = info["icc_profile"]
    if fmt in ("JPEG", "MPO", "PNG", "WEBP", "AVIF") and "exif" in info:
        p["exif"] = info["exif"]
    if fmt in ("JPEG", "MPO", "PNG", "TIFF", "BMP", "DIB", "PCX", "TGA") and "dpi" in info:
        if max(info["dpi"]) <= _MAX_DPI.get(fmt, math.inf):  # else the format cannot hold it
            p["dpi"] = info["dpi"]
    if pic.n_frames > 1:
        # An APNG default image is frame 0 but not part of the animation: Pillow's per-frame
        # lists then describe the frames after it.
        skip = 1 if fmt == "PNG" and info.get("default_image") else 0
        if skip:
            p["default_image"] = True
        if "duration" in info:
            p["duration"] = info["duration"][skip:]
        if fmt in ("GIF", "PNG") and "disposal" in info:
            p["disposal"] = _disposal(pic.frames[skip:], info["disposal"][skip:])
    if "loop" in info and fmt in ("GIF", "PNG", "WEBP", "AVIF"):
        p["loop"] = info["loop"]
    return p


def _disposal(frames: list[Image.Image], disposal: list[int]) -> int | list[int]:
    # Pillow merges identical consecutive frames; if all merge into one it cannot take a list.
    if len(set(disposal)) == 1:
        return disposal[0]
    first = frames[0].convert("RGBA").tobytes()
    if all(f.size == frames[0].size and f.convert("RGBA").tobytes() == first for f in frames):
        return disposal[0]
    return disposal


def write_picture(
    pic: Picture,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int | None = None,
    compress_level: int | None = None,
    force: bool = False,
    threads: int | None = None,
) -> Path:
    """Encode ``pic`` and write it to ``path`` atomically.

    The bytes go to a temporary file in the target folder (``.<name>.<random>.poolcli-tmp``),
    are flushed to disk and renamed over ``path``; on any failure the temporary file is removed,
    so an interrupted run never leaves a truncated image. Without ``force`` an existing ``path``
    is never replaced (the final step is a hard link, which fails if the name was taken
    meanwhile). The file gets the usual permissions (``0o666`` minus the umask), or those of the
    file it replaces.

    Parameters
    ----------
    format : str, optional
        Pillow format name or suffix; default from ``path``'s suffix.
    quality, compress_level, threads, force
        See :func:`encode_picture`; ``force`` allows replacing an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ImageError
        ``"<path>: <cause>"``: the file exists (without ``force``), is a directory, the folder
        is missing or not writable, the disk is full, the encoder failed.
    UnsupportedError
        ``"<path>: <cause>"``: see :func:`encode_picture`, or an unknown suffix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = write_picture(Picture([Image.new("L", (2, 2))]), pathlib.Path(d, "a.png"))
    ...     sorted(p.name for p in out.parent.iterdir())
    ['a.png']
    """
    path = Path(path)
    fmt = format or format_for_path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if not force and os.path.lexists(path):
        raise ImageError(f"{path}: already exists (force overwrites it)")
    try:
        data = encode_picture(
            pic, fmt, quality=quality, compress_level=compress_level, threads=threads
        )
    except _InputError:
        raise  # the input turned out bad while it was pooled and written: not the output's
    except PoolError as err:
        raise type(err)(f"{path}: {err}") from None
    _write_atomic(path, data, force=force)
    return path


def _write_atomic(path: Path, data: bytes, *, force: bool) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise ImageError(f"{path}: no such folder {os.fspath(folder)!r}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".poolcli-tmp", dir=folder)
    except OSError as err:
        raise ImageError(f"{path}: cannot write: {_reason(err)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        if force:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, FileExistsError):
            raise ImageError(f"{path}: already exists (force overwrites it)") from None
        if isinstance(err, OSError):
            raise ImageError(f"{path}: cannot write: {_reason(err)}") from None
        raise


def _link_new(tmp: str, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless that name exists, then drop ``tmp``."""
    try:
        os.link(tmp, path)  # atomic and never replaces: FileExistsError if path was taken
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares): check, then rename
        if os.path.lexists(path):
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


_UMASK: int | None = None


def _file_mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    global _UMASK
    if _UMASK is None:  # there is no way to read the umask without setting it
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def _reason(err: OSError) -> str:
    text = err.strerror or str(err) or type(err).__name__
    return text[:1].lower() + text[1:]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__
