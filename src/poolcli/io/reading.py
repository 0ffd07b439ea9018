"""Reading files into a :class:`~poolcli.io.picture.Picture`: every frame of an animation or
page of a TIFF, the EXIF orientation applied, metadata kept, Pillow's pixel guard on; plain PNGs
and JPEGs through the fast decoders (:mod:`poolcli.io.decoders`) when they decode exactly as
Pillow would.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import struct
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from poolcli.errors import ImageError
from poolcli.io import decoders, pngrows
from poolcli.io.formats import (
    LOSSLESS_TIFF,
    scaled_dpi,
)
from poolcli.io.picture import (
    Picture,
    one_line,
    os_reason,
)

DEFAULT: Any = decoders.DEFAULT
"""``max_pixels`` default of :func:`read_picture`: Pillow's decompression-bomb limit."""


# Formats whose frames are an animation or pages. Other multi-frame formats hold variants of one
# picture (MPO previews, ICO sizes, PSD layers, DDS mipmaps): only their primary image is read.
MULTI_FRAME_FORMATS = {"GIF", "PNG", "WEBP", "TIFF", "AVIF", "FLI"}


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
        raise ImageError(f"{label}: cannot read: {os_reason(err)}") from None
    with f:
        # Pillow decodes from the open file a block at a time: the whole file is never held as
        # bytes next to its pixels. A pipe or a device (``<(cat a.png)``) cannot seek: read it.
        try:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
            fp: Any = f if regular else io.BytesIO(f.read())
            empty = (os.fstat(f.fileno()).st_size if regular else len(fp.getvalue())) == 0
        except OSError as err:
            raise ImageError(f"{label}: cannot read: {os_reason(err)}") from None
        if empty:
            raise ImageError(f"{label}: empty file")
        return _decode_guarded(fp, label, max_pixels)


def array_picture(decoded: decoders.Decoded) -> Picture:
    """The :class:`Picture` of what :func:`poolcli.io.decoders.read` decoded."""
    pixels, mode, fmt, info = decoded
    return Picture(array=pixels, mode=mode, format=fmt, info=_single_info(info, fmt))


def rows_picture(
    rows: pngrows.RowStream, *, name: str, max_pixels: int | None = DEFAULT
) -> Picture | None:
    """The :class:`Picture` of a PNG whose rows are being decoded, on another thread, by
    ``rows`` (:func:`poolcli.io.decoders.start_rows`), if Pillow agrees that they are the file's
    pixels (:func:`poolcli.io.decoders.confirm`, with ``max_pixels``); else ``None``.

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
    with decoders.pixel_guard(max_pixels) as limit, warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and errors above twice that: make the limit
        # exact. Metadata warnings (corrupt EXIF, ...) are not worth a message.
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", ".* format is deprecated", DeprecationWarning)
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        with _c_stderr_silenced():
            return _decode(fp, label, limit)


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


def _decode(fp: Any, label: str, limit: int | None = None) -> Picture:
    """Every frame of the open file ``fp`` (which the caller closes), EXIF orientation applied;
    ``limit`` is the pixel limit in force, for the message when a frame is over it."""
    fmt = None
    try:
        with Image.open(fp) as im:
            fmt = im.format
            pixels = decoders.decode_pixels(im, _file_bytes(fp)) if decoders.candidate(im) else None
            if pixels is not None:
                return array_picture(decoders.Decoded(pixels, im.mode, fmt, im.info))
            n = getattr(im, "n_frames", 1) if fmt in MULTI_FRAME_FORMATS else 1
            frames: list[Image.Image] = []
            durations: list[Any] = []
            disposals: list[Any] = []
            note = None
            for i in range(n):
                try:
                    if i:
                        im.seek(i)
                    frame = _frame(im, only=n == 1)
                except _DECODE_ERRORS as err:
                    if not (i and fmt == "PNG"):
                        raise
                    # A broken APNG (frames out of sequence, missing frame data, fewer frames
                    # than it says): readers show its default image, as Pillow says it will.
                    frames, durations, disposals = frames[:1], durations[:1], disposals[:1]
                    note = f"APNG frames after the first are broken ({one_line(err)}): pooled"
                    note += " its default image, as image readers show it"
                    break
                frames.append(frame)
                durations.append(im.info.get("duration"))
                disposals.append(getattr(im, "disposal_method", im.info.get("disposal")))
            if fmt == "GIF":
                frames = _palette_frames(frames)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{label}: {too_many_pixels(one_line(err), limit)}") from None
    except UnidentifiedImageError:
        known = _sniff(fp)
        if known is not None:  # its header says what it is, and Pillow still cannot open it
            raise ImageError(f"{label}: truncated or damaged {known} file") from None
        raise ImageError(f"{label}: not an image, or a format Pillow cannot read") from None
    except _DECODE_ERRORS as err:
        truncated = _truncated(fp, fmt, err)
        if truncated is not None:
            raise ImageError(f"{label}: {TRUNCATED.format(fmt=truncated)}") from None
        what = f"{fmt} image" if fmt else "image"
        raise ImageError(f"{label}: cannot decode {what}: {one_line(err)}") from None
    info = _picture_info(frames[0].info, fmt, durations, disposals)
    if note is not None:
        info["note"] = note
    return Picture(frames, fmt, info)


def _palette_frames(frames: list[Image.Image]) -> list[Image.Image]:
    """The frames of a GIF whose first frame is ``P``, the later ones ``P`` too where that loses
    nothing: Pillow gives frames after the first as RGB(A) (composited), which would be pooled as
    colours and quantized anew. A frame whose colours are all in the first frame's palette gets
    that palette; one with at most 256 other colours gets those as its palette. So every frame
    is pooled as the first is: its colours pooled, then mapped onto its palette."""
    first = frames[0]
    if first.mode != "P" or len(frames) == 1:
        return frames
    palette = first.getpalette("RGB") or []
    transparency = first.info.get("transparency")
    return [first] + [_as_palette(f, palette, transparency) for f in frames[1:]]


def _as_palette(frame: Image.Image, palette: list[int], transparency: Any) -> Image.Image:
    import numpy as np

    if frame.mode not in ("RGB", "RGBA"):
        return frame
    a = np.asarray(frame)
    rgb = a[..., :3].astype(np.uint32)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    clear = np.zeros(keys.shape, bool)
    if frame.mode == "RGBA":
        alpha = a[..., 3]
        if ((alpha != 0) & (alpha != 255)).any():
            return frame  # partial alpha: not a palette image's
        clear = alpha == 0
    entries = np.asarray(palette, np.uint32).reshape(-1, 3)
    table = (entries[:, 0] << 16) | (entries[:, 1] << 8) | entries[:, 2]
    if clear.any() and not isinstance(transparency, int):
        return frame
    used = np.unique(keys[~clear])
    if not np.isin(used, table).all():  # a local palette: the frame's own colours
        if len(used) + int(clear.any()) > 256:
            return frame
        table = used
        transparency = len(used) if clear.any() else None
        entries = np.stack([(used >> 16) & 255, (used >> 8) & 255, used & 255], axis=1)
    order = np.argsort(table, kind="stable")  # the first index of a repeated colour
    pos = np.searchsorted(table[order], keys)
    index = order[np.minimum(pos, len(order) - 1)].astype(np.uint8)
    if clear.any():
        index[clear] = transparency
    out = Image.fromarray(index, "P")
    flat = [int(v) for v in entries.reshape(-1)]
    out.putpalette(flat + [0, 0, 0] * (transparency is not None and transparency >= len(table)))
    if clear.any():
        out.info["transparency"] = transparency
    for key in ("duration", "icc_profile", "dpi"):
        if key in frame.info:
            out.info[key] = frame.info[key]
    return out


# One wording for a file that ends early, whatever its format and whichever decoder noticed.
TRUNCATED = "truncated {fmt} file (it ends before its image data does)"


def too_many_pixels(pillow_message: str, limit: int | None) -> str:
    """The cause of a decompression-bomb refusal, with the one limit poolcli enforces.

    Pillow warns past ``MAX_IMAGE_PIXELS`` and raises past twice that, each message with its
    own number; poolcli's limit is one number (:func:`poolcli.io.decoders.pixel_limit`).

    >>> too_many_pixels("Image size (400 pixels) exceeds limit of 357 pixels, ...", 178)[:39]
    '400 pixels, more than the limit of 178 '
    """
    found = re.search(r"\((\d+) pixels\)", pillow_message)
    size = f"{found.group(1)} pixels" if found else "too many pixels"
    over = f", more than the limit of {limit}" if limit is not None else ""
    return (
        f"{size}{over} (a guard against decompression bombs: --max-pixels N raises it,"
        " --max-pixels 0 lifts it)"
    )


def _truncated(fp: Any, fmt: str | None, err: BaseException) -> str | None:
    """The format of the file ``fp`` if ``err`` came from its data ending early, else ``None``.

    Pillow says so for most formats ("image file is truncated", "Truncated File Read"); libwebp
    only fails to start ("could not create decoder object"), so a WebP file is measured against
    the length its RIFF header gives.
    """
    if "truncated" in str(err).lower():
        return fmt or _sniff(fp) or "image"
    head = _head(fp, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little") + 8
        if _size(fp) < declared:
            return "WEBP"
    return None


def _sniff(fp: Any) -> str | None:
    """The format whose signature starts the file ``fp`` (Pillow's own checks), or ``None``."""
    head = _head(fp, 32)
    if not head:
        return None
    Image.init()
    for name in Image.ID:
        _, accept = Image.OPEN[name]
        try:
            if accept is not None and accept(head) is True:
                return name
        except Exception:  # noqa: BLE001 - a plugin's check on a prefix too short for it
            continue
    return None


# Formats Pillow identifies by parsing a header of its own, with no signature check to ask: the
# strict ones (TGA's and IPTC's parsers take almost anything, so only their suffixes count).
_PARSED_ONLY = ["IM", "IMT", "PCD", "SPIDER"]


def identify(path: str) -> str | None:
    """The format Pillow reads ``path`` as, judged by its first bytes alone (for files whose
    suffix says nothing): a format's signature (Pillow's own checks), else the header parsers of
    the formats that have none (:data:`_PARSED_ONLY`); ``None`` if neither takes it."""
    try:
        with open(path, "rb") as f:
            known = _sniff(f)
            if known is not None:
                return known
            Image.init()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f.seek(0)
                with Image.open(f, formats=_PARSED_ONLY) as im:
                    return im.format
    except (OSError, UnidentifiedImageError, *_DECODE_ERRORS):
        return None


def _head(fp: Any, n: int) -> bytes:
    try:
        fp.seek(0)
        return fp.read(n)
    except (OSError, ValueError):
        return b""


def _size(fp: Any) -> int:
    try:
        return fp.seek(0, os.SEEK_END)
    except (OSError, ValueError):
        return 0


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
    dpi = scaled_dpi(first.get("dpi"), 1.0, 1.0)
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
    if fmt == "TIFF" and first.get("compression") in LOSSLESS_TIFF:
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
