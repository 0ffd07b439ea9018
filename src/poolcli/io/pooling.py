"""Pooling pictures: :func:`pool_image` (one Pillow image) and :func:`pool_picture` (every frame).

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

Alpha and palettes are :mod:`poolcli.io.alpha`; big images are pooled in bands of rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageMode

from poolcli.backends import pool  # the dispatcher: device= takes the torch backend
from poolcli.core.geometry import Axis, make_axes
from poolcli.core.modes import MODES, resolve_mode
from poolcli.errors import UnsupportedError, WindowError
from poolcli.io import decoders, pngrows
from poolcli.io.alpha import pool_alpha, pool_image_alpha, pool_palette
from poolcli.io.formats import (
    carry_info,
    scale_factors,
    scaled_dpi,
)
from poolcli.io.picture import (
    PLAIN_MODES,
    SINGLE_CHANNEL_INT,
    U16_MODES,
    Picture,
    saturate_u8,
)

BAND_BYTES = 1 << 21
BAND_MIN_BYTES = 1 << 25
_BANDED_MODES = PLAIN_MODES | {"HSV", "LA", "RGBA", "P", "PA"}
_WINDOW_KWARGS = {"kernel_size", "stride", "padding", "dilation", "ceil_mode", "output_size"}
_BAND_KWARGS = _WINDOW_KWARGS | {"count_include_pad", "threads"}


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
    carry_info(image, out, pool_kwargs)
    return out


def _pool_whole(image: Image.Image, name: str, pool_kwargs: dict[str, Any]) -> Image.Image:
    m = image.mode
    if m in ("P", "PA"):
        out = pool_palette(image, name, pool_kwargs)
    elif m in ("1", "L", "RGB") and "transparency" in image.info:
        out = pool_image_alpha(image.convert("RGBA" if m == "RGB" else "LA"), name, pool_kwargs)
    elif m in ("LA", "RGBA"):
        out = pool_image_alpha(image, name, pool_kwargs)
    elif m == "HSV" and not MODES[name].labels:
        rgb = pool(np.asarray(image.convert("RGB")), name, **pool_kwargs)
        out = _to_image(rgb, "RGB", name).convert("HSV")
    elif m in PLAIN_MODES or m == "HSV":
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
        if mode in SINGLE_CHANNEL_INT:
            info = np.iinfo(np.int32)
            return Image.fromarray(np.clip(a, info.min, info.max).astype(np.int32))
        a = saturate_u8(a)
    if mode in U16_MODES:
        data = np.ascontiguousarray(a, dtype=U16_MODES[mode])
        return Image.frombuffer(mode, (a.shape[1], a.shape[0]), data, "raw", mode, 0, 1)
    a = np.ascontiguousarray(a)
    return Image.fromarray(a) if a.ndim == 2 else Image.fromarray(a, mode)


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
    if name == "sum":
        info["sums"] = True  # written saturated to what the output format holds
    lazy = PooledRows.start(pic, name, pool_kwargs) if pic._rows is not None else None
    if lazy is not None:
        out_size = lazy.header[:2]
    elif pic.array is not None:  # (a picture being decoded waits for its rows here)
        pooled = _pool_array(pic.array, pic.mode, name, pool_kwargs)
        out_size = pooled.shape[1], pooled.shape[0]
    else:
        frames = [pool_image(f, mode, **pool_kwargs) for f in pic.frames]
        out_size = frames[0].size
    if "dpi" in info:
        dpi = scaled_dpi(info["dpi"], *scale_factors(pic.size, out_size, pool_kwargs))
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


class PooledRows:
    """The pooled pixels of a picture whose rows are being decoded (:func:`rows_picture`),
    pooled a band at a time when asked for: :meth:`ready` pools until the output has the rows
    asked for, waiting for the input rows it needs, so that the PNG writer can write the top of
    the output while the bottom of the input is still being decoded. The same protocol as
    :class:`poolcli.io.pngrows.RowStream` for :class:`Picture` (``header``, :meth:`whole`,
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
    def start(cls, pic: Picture, name: str, kw: Mapping[str, Any]) -> PooledRows | None:
        """The lazy pooling of ``pic``'s rows, or ``None`` where it would not be exact."""
        source = pic._rows
        if not isinstance(source, pngrows.RowStream) or name == "sum":
            return None
        axes = _tiled_rows(source.shape[:2], name, kw)
        return None if axes is None else cls(source, pic.mode, name, kw, axes)

    def ready(self, rows: int) -> None:
        """Pool until output rows ``[0, rows)`` are in :attr:`array`; for the last row, until the
        input is decoded to its end (:class:`~poolcli.io.pngrows.StreamError` if it fails)."""
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
    return pool_alpha(x, name, kw) if mode == "RGBA" else pool(x, name, **kw)
