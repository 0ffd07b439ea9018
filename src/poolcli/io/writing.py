"""Writing pictures: :func:`encode_picture` to bytes (PNG through :mod:`poolcli.io.pngwrite`
when it may), :func:`write_picture` atomically to a file (a temporary file renamed into place).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
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
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if not force and os.path.lexists(path):
        raise ImageError(f"{path}: already exists (force overwrites it)")
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
    write_atomic(path, data, force=force, commits=commits)
    return path


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
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if not force and os.path.lexists(path):
        raise ImageError(f"{path}: already exists (force overwrites it)")
    write_atomic(path, data, force=force)
    return path


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
