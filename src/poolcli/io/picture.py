"""The picture model: :class:`Picture`, an image file's frames and metadata, as read.

A :class:`Picture` holds Pillow images, or (when :mod:`poolcli.io.decoders` decoded a plain PNG
or JPEG) a uint8 array, or a PNG's rows as they decode (:class:`poolcli.io.pngrows.RowStream`),
and what the file said about itself (format, ICC profile, DPI, EXIF, durations, loop,
disposal). Reading is :mod:`poolcli.io.reading`, pooling :mod:`poolcli.io.pooling`, writing
:mod:`poolcli.io.writing`. This module also holds what those share: the mode tables and the
one-line rendering of an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageMode

from poolcli.errors import ImageError, UnsupportedError
from poolcli.io import pngrows

if TYPE_CHECKING:
    from poolcli.io.pooling import PooledRows

__all__ = ["Picture", "image_dtype", "one_line", "os_reason", "saturate_u8"]


U16_MODES = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}
PLAIN_MODES = {"1", "L", "RGB", "CMYK", "YCbCr", "LAB", "RGBX", "La", "RGBa", "I", "F"}
PLAIN_MODES |= set(U16_MODES)
SINGLE_CHANNEL_INT = {"1", "L", "I", *U16_MODES}


# Modes a Picture may hold as a uint8 array (what poolcli.io.decoders gives).
ARRAY_MODES = frozenset({"L", "RGB", "RGBA"})


class InputError(ImageError):
    """The input file's error, found only when its pixels were pooled or written (a PNG read
    row by row, whose decoding failed: see :func:`rows_picture`)."""


# Long as a class (~150 lines), not as functions: small methods and properties over the three
# ways a picture holds its pixels (frames, an array, rows still decoding), which stay private here.
class Picture:
    """A decoded image file: its frames, its format and what writing it back needs.

    ``info`` holds picture-wide metadata, each key only when present: ``icc_profile`` (bytes),
    ``dpi`` ((x, y) floats), ``exif`` (bytes, orientation already applied and reset),
    ``duration`` (list of ms per frame), ``loop``, ``disposal`` (list per frame),
    ``default_image`` (APNG), ``compression`` (lossless TIFF compression), ``sums`` (the frames
    are ``sum`` results: a single-channel one is written saturated to the widest integer mode the
    format holds, :func:`poolcli.io.formats.saturate_sum`). Per-frame data such as
    a palette's ``transparency`` stays in each frame's own ``info``.

    A single-frame picture may instead hold its pixels as a NumPy array (``array``, with the
    Pillow ``mode`` they stand for: ``L``, ``RGB`` or ``RGBA``, uint8): what the fast decoders
    give (:mod:`poolcli.io.decoders`). It is pooled and written as PNG without ever becoming a
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
        rows: pngrows.RowStream | PooledRows | None = None,
        reread: Callable[[], Picture] | None = None,
    ) -> None:
        if sum(x is not None for x in (frames, array, rows)) != 1:
            raise TypeError("Picture takes one of frames, an array or rows")
        if array is not None and (mode not in ARRAY_MODES or array.dtype != np.uint8):
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
                raise InputError(str(err)) from None
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
        return later + (self._rows.seconds if isinstance(self._rows, _pooled_rows()) else 0.0)

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


def os_reason(err: OSError) -> str:
    text = err.strerror or str(err) or type(err).__name__
    return text[:1].lower() + text[1:]


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def saturate_u8(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.uint8 else np.clip(a, 0, 255).astype(np.uint8)


def _pooled_rows() -> type:
    # PooledRows is defined with the pooling (io.pooling imports this module, not the reverse).
    from poolcli.io.pooling import PooledRows

    return PooledRows
