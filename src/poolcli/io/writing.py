"""Writing pictures: :func:`encode_picture` to bytes (PNG through :mod:`poolcli.io.pngwrite`
when it may), :func:`write_picture` atomically to a file (a temporary file renamed into place).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import stat
import struct
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from poolcli.errors import ImageError, PoolError, UnsupportedError
from poolcli.io import pngrows, pngwrite
from poolcli.io.commits import Commits
from poolcli.io.formats import (
    MULTI_FRAME_OUT,
    fast_png,
    format_for_path,
    format_name,
    saturate_sum,
    save_params,
    storable,
)
from poolcli.io.picture import (
    InputError,
    Picture,
    one_line,
    os_reason,
)
from poolcli.io.pooling import PooledRows


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
    loop and disposal for animations. A single-frame PNG of a mode :mod:`poolcli.io.pngwrite`
    handles is written by it (all cores, ISA-L when installed), anything else by Pillow.

    A mode is converted only when nothing is lost: ``P`` to RGB(A) for JPEG/WebP, ``1``/``L`` to
    RGB for WebP, ``I;16L`` to ``I;16`` and ``I`` with values in 0..65535 to ``I;16`` for PNG,
    ``PA`` to ``RGBA`` for PNG/GIF/WebP, ``RGBX`` to ``RGB`` for PNG. GIF quantizes to 256 colours,
    as the format requires. Anything else the format cannot hold raises.

    ``threads`` caps the threads :mod:`poolcli.io.pngwrite` encodes on (default: one per CPU); a
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
    if pic.n_frames > 1 and fmt not in MULTI_FRAME_OUT:
        raise UnsupportedError(
            f"{fmt} holds one image, this picture has {pic.n_frames} frames "
            "(write GIF, PNG, WEBP or TIFF)"
        )
    params = save_params(pic, fmt, quality, compress_level)
    fast = fast_png(fmt, params)
    source: Image.Image | np.ndarray
    ready = None
    lazy = pic._rows if isinstance(pic._rows, PooledRows) else None
    if lazy is not None and fast:
        # pooled as the writer asks for rows, while the input decodes on another core
        frames, source, ready = [], lazy.array, lazy.ready
    elif pic.array is not None and fast:
        frames, source = [], pic.array  # straight from the array, never a Pillow image
    else:
        sums = pic.info.get("sums", False)
        frames = [storable(saturate_sum(f, fmt) if sums else f, fmt) for f in pic.frames]
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
        raise ImageError(f"cannot encode {fmt}: {one_line(err)}") from None
    return buf.getvalue()


# What the nearest lossless output holds (fallback_format): PNG takes 8-bit modes, TIFF the rest
# (16-bit, 32-bit and float grey, CMYK, LAB, ...); an animation stays an animated PNG.
_PNG_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX"})
# Icon containers whose writer resamples: ICNS stores its fixed sizes up to 1024x1024 (a pooled
# 256x256 icon would open as a 1024x1024 upscale).
_RESAMPLING = {"ICNS": "ICNS holds fixed icon sizes (Pillow would resample the result)"}


def fallback_format(fmt: str | None, mode: str, n_frames: int) -> tuple[str, str] | None:
    """``(format, note)`` when a picture read as ``fmt`` cannot be written back as ``fmt``
    (Pillow has no writer for it, or not for this mode, or its writer resamples), else ``None``.

    The format is the nearest that keeps what the picture holds: PNG for 8-bit modes (an
    animated PNG for several frames), TIFF for the others; the note says so in one line.

    >>> fallback_format("XPM", "P", 1)
    ('PNG', 'Pillow cannot write XPM: written as PNG')
    >>> fallback_format("FITS", "F", 1)
    ('TIFF', 'Pillow cannot write FITS: written as TIFF')
    >>> fallback_format("PNG", "RGB", 1) is None
    True
    """
    if fmt is not None and fmt not in _RESAMPLING and _writes(fmt, mode, n_frames > 1):
        return None
    out = "PNG" if mode in _PNG_MODES else "TIFF"
    if fmt in _RESAMPLING:
        why = _RESAMPLING[fmt]
    elif fmt is not None and fmt in Image.SAVE:
        why = f"Pillow cannot write {fmt} in mode {mode}" + (" with frames" if n_frames > 1 else "")
    else:
        why = f"Pillow cannot write {fmt or 'this format'}"
    return out, f"{why}: written as {out}"


@functools.cache
def _writes(fmt: str, mode: str, frames: bool) -> bool:
    """Whether ``fmt`` takes a picture of ``mode`` (several frames if ``frames``): a 1x1 (2x2
    for formats that want more) probe encoded the way a real output would be."""
    Image.init()
    if fmt not in Image.SAVE or (frames and fmt not in MULTI_FRAME_OUT):
        return False
    try:
        probe = Image.new(mode, (2, 2))
    except ValueError:
        return False
    try:
        encode_picture(Picture([probe, probe.copy()] if frames else [probe], fmt), fmt)
    except PoolError:
        return False
    return True


# Formats whose writers take every mode their readers give: a file of one of them needs no look.
_WRITES_WHAT_IT_READS = frozenset({"PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP"})
_SUFFIXES = {"PNG": ".png", "TIFF": ".tif"}


def fallback_for_file(path: str) -> tuple[str, str] | None:
    """``(suffix, note)`` of the output of the image file ``path`` when its own format, the one
    its suffix names, cannot be written (see :func:`fallback_format`; a suffix Pillow does not
    know, or none, counts as such): the suffix is the input's, then the output format's
    (``".psd.png"``). ``None`` when it can be written, or when the file cannot be opened
    (reading it will say why). Only the header is read."""
    from poolcli.io.reading import MULTI_FRAME_FORMATS, identify

    suffix = os.path.splitext(path)[1].lower()
    try:
        fmt: str | None = format_for_path(path)
    except PoolError:
        fmt = None
    if fmt in _WRITES_WHAT_IT_READS:
        return None
    if fmt is None and identify(path) is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                real, mode = im.format, im.mode
                n = getattr(im, "n_frames", 1) if real in MULTI_FRAME_FORMATS else 1
    except Exception:  # noqa: BLE001 - any failure here is reading's to report, with its cause
        return None
    found = fallback_format(fmt, mode, n)
    if found is None:
        return None
    out, note = found
    if fmt is None:
        named = f"suffix {suffix!r}" if suffix else "no suffix"
        note = f"no format Pillow writes has {named} ({real} file): written as {out}"
    # The input's suffix stays in front (hopper.psd -> hopper_max2.psd.png): the output cannot
    # then collide with that of hopper.png beside it.
    return suffix + _SUFFIXES[out], note


def write_picture(
    pic: Picture,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int | None = None,
    compress_level: int | None = None,
    force: bool = False,
    threads: int | None = None,
    commits: Commits | None = None,
    parents: bool = False,
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
    commits : Commits, optional
        Finish the write there (:mod:`poolcli.io.commits`): the data is written here, and the
        ``fsync`` and the rename are queued under ``path``; ``commits.wait(path)`` then
        raises what this function would have raised for them. ``path`` appears only once its
        file is complete and flushed, as without it.
    parents : bool
        Make the missing folders above ``path``, once the picture is encoded: a picture that
        cannot be encoded leaves no empty folder behind.

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
    kind, real = writable_target(path, force)
    try:
        data = encode_picture(
            pic, fmt, quality=quality, compress_level=compress_level, threads=threads
        )
    except InputError:
        raise  # the input turned out bad while it was pooled and written: not the output's
    except PoolError as err:
        raise type(err)(f"{path}: {err}") from None
    if parents:
        try:
            os.makedirs(path.parent, exist_ok=True)
        except OSError as err:
            raise ImageError(f"{path.parent}: cannot create: {os_reason(err)}") from None
    if kind == "stream":
        _write_through(path, data)
    else:  # a link to a file: that file is replaced, the link stays
        write_atomic(real, data, force=force, commits=commits)
    return path


def writable_target(path: Path, force: bool) -> tuple[str, Path]:
    """``path``'s :func:`target_kind` and the file a write replaces, or ImageError
    ``"<path>: <cause>"`` where nothing may be written: a directory, a link to nothing, not a
    regular file, or an existing file without ``force``."""
    kind, real = target_kind(path)
    if kind == "directory":
        raise ImageError(f"{path}: is a directory")
    if kind in ("dangling", "other"):
        what = "a symbolic link to nothing" if kind == "dangling" else "not a regular file"
        raise ImageError(f"{path}: {what}; not writing through it")
    if not force and kind in ("file", "link"):
        raise ImageError(f"{path}: already exists (force overwrites it)")
    return kind, real


def write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> Path:
    """Write an encoded image (bytes made elsewhere, e.g. by a GPU's JPEG encoder) to ``path``
    as :func:`write_picture` writes: atomically, never over a file without ``force``, never
    into a directory; the rename done before it returns.

    Raises
    ------
    ImageError
        ``"<path>: <cause>"``, the causes of :func:`write_picture`.
    """
    path = Path(path)
    kind, real = writable_target(path, force)
    if kind == "stream":
        _write_through(path, data)
    else:
        write_atomic(real, data, force=force)
    return path


def target_kind(path: Path) -> tuple[str, Path]:
    """What is at the output ``path``, and the path to write: ``"missing"``, ``"file"`` (a
    regular file), ``"link"`` (a symbolic link to one: its target is written, atomically, and
    the link stays), ``"stream"`` (a character device or a FIFO: written through, as standard
    output is), ``"directory"``, ``"dangling"`` (a link to nothing), ``"other"`` (a block
    device, a socket: never written). Nothing but a regular file is ever replaced."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing", path
    except OSError:
        return "missing", path  # the write itself will say what is wrong
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            return "dangling", path
        real = Path(os.path.realpath(path))
        if stat.S_ISREG(target.st_mode):
            return "link", real
        st = target
    if stat.S_ISREG(st.st_mode):
        return "file", path
    if stat.S_ISDIR(st.st_mode):
        return "directory", path
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "stream", path
    return "other", path


def _write_through(path: Path, data: bytes) -> None:
    """``data`` to the device or FIFO ``path``, opened for writing as it is (never created,
    truncated or replaced)."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as err:
        raise ImageError(f"{path}: cannot write: {os_reason(err)}") from None


def write_atomic(path: Path, data: bytes, *, force: bool, commits: Commits | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in its folder, renamed (or, without
    ``force``, hard-linked) into place when complete; :func:`write_picture`'s rules."""
    folder = path.parent
    if not folder.is_dir():
        raise ImageError(f"{path}: no such folder {os.fspath(folder)!r}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".poolcli-tmp", dir=folder)
    except OSError as err:
        raise ImageError(f"{path}: cannot write: {os_reason(err)}") from None
    f = os.fdopen(fd, "wb")

    def abandon() -> None:
        with contextlib.suppress(OSError):
            f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)

    def guarded(step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as err:
            abandon()
            if isinstance(err, FileExistsError):
                raise ImageError(f"{path}: already exists (force overwrites it)") from None
            if isinstance(err, OSError):
                raise ImageError(f"{path}: cannot write: {os_reason(err)}") from None
            raise

    def write() -> None:
        f.write(data)
        f.flush()

    def finish() -> None:
        try:
            os.fsync(f.fileno())  # the disk has it all before the name appears
        finally:
            f.close()
        os.chmod(tmp, _file_mode(path))
        if force:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)

    guarded(write)
    if commits is None:
        guarded(finish)
    else:
        commits.submit(os.fspath(path), lambda: guarded(finish), abandon)


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
