"""Finding the inputs: :func:`expand_inputs` turns files, folders and patterns (local or fsspec
URLs) into sorted :class:`Source` entries (see :mod:`poolcli.run` for the rules).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poolcli.errors import ImageError, PoolError

if TYPE_CHECKING:
    pass
from poolcli.run.records import cause, os_reason

_MAGIC = re.compile(r"[*?[]")


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """One input file, as named or as found.

    ``base`` is the folder (or the fixed part of the pattern) it was found under, which an output
    folder mirrors; ``None`` for a file named directly. ``error`` says why an argument gave no
    file (a pattern that matches nothing, a folder without images).
    """

    path: str
    base: str | None = None
    error: str | None = None

    @property
    def named(self) -> bool:
        """Named on the command line, not found in a folder or by a pattern."""
        return self.base is None


def expand_inputs(args: Iterable[str], *, recursive: bool = False) -> list[Source]:
    """The input files that ``args`` (files, folders, patterns, fsspec URLs) stand for.

    Folders give the image files directly in them (by suffix; hidden ones left out), and with
    ``recursive`` those in every subfolder. Patterns support ``*``, ``?``, ``[...]`` and ``**``.
    The order is that of ``args``, each expanded in sorted order; a file reached twice is kept
    once. A path that does not exist is kept as it is (reading it says "no such file").

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("b.png", "a.jpg", "notes.txt", "sub/c.png"):
    ...         p = pathlib.Path(d, name); p.parent.mkdir(exist_ok=True); _ = p.write_bytes(b"")
    ...     [pathlib.Path(s.path).relative_to(d).as_posix() for s in expand_inputs([d])]
    ['a.jpg', 'b.png']
    """
    sources: list[Source] = []
    seen: set[str] = set()
    folders: dict[str, str] = {}
    for arg in args:
        for source in _expand(arg, recursive):
            if source.error or is_url(source.path):
                key = source.path
            else:
                key = path_key(source.path, folders)
            if key not in seen:
                seen.add(key)
                sources.append(source)
    return sources


def _expand(arg: str, recursive: bool) -> Iterator[Source]:
    if is_url(arg):
        yield from _expand_url(arg, recursive)
    elif os.path.isdir(arg):
        yield from _walk(arg, recursive)
    elif os.path.lexists(arg) or not _MAGIC.search(arg):
        yield Source(arg)
    else:
        matches = sorted(glob.glob(arg, recursive=True))
        if not matches:
            yield Source(arg, error="no file matches this pattern")
        base = _fixed_prefix(arg, os.sep if os.sep in arg else "/")
        for match in matches:
            if os.path.isdir(match):
                yield from _walk(match, recursive, base)
            elif _is_image_name(match) or _identified(match):
                yield Source(match, base)


def _walk(folder: str, recursive: bool, base: str | None = None) -> Iterator[Source]:
    found = False
    try:
        for parent, dirs, files in os.walk(folder, onerror=_raise):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
            for name in sorted(files):
                path = os.path.join(parent, name)
                if not name.startswith(".") and (_is_image_name(name) or _identified(path)):
                    found = True
                    yield Source(path, base or folder)
    except OSError as err:
        yield Source(folder, error=f"cannot list: {os_reason(err)}")
        return
    if not found:
        hint = "" if recursive else " (-r/--recursive reads subfolders)"
        yield Source(folder, error=f"no image files in this folder{hint}")


def _raise(err: OSError) -> None:
    raise err


def _fixed_prefix(pattern: str, sep: str) -> str:
    """The folder part of ``pattern`` before its first wildcard: ``a/b/*/c.png`` -> ``a/b``."""
    parts = pattern.split(sep)
    fixed = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        fixed.append(part)
    return sep.join(fixed) or ("." if sep == os.sep else "")


_IMAGE_SUFFIXES: frozenset[str] | None = None


def _is_image_name(name: str) -> bool:
    """Whether the suffix is one Pillow reads (``.png``, ``.JPG``, ``.tif``, ...) or a NumPy
    array file's (``.npy``, ``.npz``; text files in a folder are not taken for matrices)."""
    global _IMAGE_SUFFIXES
    from PIL import Image

    ext = os.path.splitext(name)[1].lower()
    # The common formats first (Pillow's preinit: BMP, GIF, JPEG, PPM, PNG): loading every
    # plugin to learn the other suffixes costs 20-40 ms of CPU, on every run of a folder.
    Image.preinit()
    if Image.EXTENSION.get(ext) in Image.OPEN:
        return True
    if _IMAGE_SUFFIXES is None:
        from poolcli.io.arrays import SUFFIXES

        extensions = Image.registered_extensions()  # loads every plugin once
        images = {e for e, fmt in extensions.items() if fmt in Image.OPEN}
        numpy_files = {e for e, fmt in SUFFIXES.items() if fmt in ("NPY", "NPZ")}
        _IMAGE_SUFFIXES = frozenset(images | numpy_files)
    return ext in _IMAGE_SUFFIXES


def _identified(path: str) -> bool:
    """Whether Pillow reads the file, judged by its header: a folder or a pattern takes every
    image, also one whose suffix Pillow does not register (``.mpo``, ``.spider``) or that has
    none."""
    from poolcli.io.reading import identify

    return identify(path) is not None


def path_key(path: str, folders: dict[str, str] | None = None) -> str:
    """One spelling per file for comparisons (not symlinks to files: those are other names).

    ``folders`` keeps each folder's real path for the caller's next keys: resolving it is an
    ``lstat`` per part of the path, for every file (13 per file, 1.3 s of planning a folder of
    20,000 files, before this cache).
    """
    folder, name = os.path.split(os.path.abspath(path))
    if folders is None:
        real = os.path.realpath(folder)
    elif (real := folders.get(folder)) is None:
        real = folders[folder] = os.path.realpath(folder)
    return os.path.normcase(os.path.join(real, name))


# --- fsspec URLs ----------------------------------------------------------------------------------


def is_url(path: str) -> bool:
    return "://" in path


def filesystem(url: str) -> tuple[Any, str]:
    """``(filesystem, path inside it)`` for an fsspec URL; ImageError when fsspec is missing."""
    try:
        import fsspec
    except ImportError:
        raise ImageError(f"{url}: URLs need fsspec (pip install fsspec)") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:  # unknown protocol, its package not installed
        raise ImageError(f"{url}: {cause(err, url)}") from None


def _expand_url(url: str, recursive: bool) -> Iterator[Source]:
    try:
        fs, path = filesystem(url)
        if fs.isdir(path):
            depth = None if recursive else 1
            found = sorted(p for p in fs.find(path, maxdepth=depth) if _is_image_name(p))
            base: str | None = fs.unstrip_protocol(path)  # spelled as the files will be
        elif _MAGIC.search(path):
            found = sorted(p for p in fs.glob(path) if not fs.isdir(p) and _is_image_name(p))
            base = fs.unstrip_protocol(_fixed_prefix(path, "/"))
        else:
            yield Source(url)
            return
    except (PoolError, OSError) as err:
        yield Source(url, error=cause(err, url))
        return
    if not found:
        yield Source(url, error="no image files here" if base == url else "nothing matches")
    for p in found:
        yield Source(fs.unstrip_protocol(p), base)
