"""Arrays as files: ``.npy``, ``.npz``, TIFF stacks and small text matrices, read, pooled, written.

This is the entry: which files are arrays (by suffix, or by content for standard input, see
:func:`sniff`), reading them into an :class:`~poolcli.io.arrayfile.ArrayFile`, pooling it and
writing it back. :func:`poolcli.pool` wants the spatial axes first and the channel last, so
:func:`pool_array_file` moves the channel axis there and back: a file stored channels first
(``cyx``) is written back channels first. The formats:

* ``.npy``: one array. ``.npz``: every array in it, pooled with the same window, names kept
  (here).
* ``.tif``/``.tiff`` (with tifffile): the first series, with its ImageJ or OME metadata
  (:mod:`poolcli.io.tiffs`); physical pixel sizes are multiplied by the stride of their axis.
* Text: comma-separated (``.csv``), tab-separated (``.tsv``) or whitespace-separated (``.txt``
  and anything else) (:mod:`poolcli.io.textarrays`).

Which axes are pooled is :mod:`poolcli.io.arrayfile`'s: :func:`~poolcli.io.arrayfile.resolve_axes`.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from poolcli.errors import ImageError, PoolError, UnsupportedError
from poolcli.io.arrayfile import (  # noqa: F401 (tests call them here)
    CHANNEL,
    WINDOW_KEYS,
    ArrayFile,
    one_line,
    parse_axes,
    resolve_axes,
    window_axes,
)
from poolcli.io.textarrays import TEXT_FORMATS, encode_text, read_text
from poolcli.io.tiffs import read_tiff, write_tiff

# Suffix -> format. TIFF is read as an array only when the window is 3-D or --axes is given.
SUFFIXES = {
    ".npy": "NPY",
    ".npz": "NPZ",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".tab": "TSV",
    ".txt": "TXT",
    ".dat": "TXT",
    ".asc": "TXT",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
EXTENSIONS = {"NPY": ".npy", "NPZ": ".npz", "CSV": ".csv", "TSV": ".tsv", "TXT": ".txt"}
EXTENSIONS["TIFF"] = ".tif"


def takes(path: str, spatial: int | None, axes: str | None) -> bool:
    """Whether ``path`` is read as an array file rather than as an image: ``.npy``, ``.npz`` and
    text always, a TIFF when the window pools 3 axes or ``axes`` says how.

    >>> takes("a.npy", None, None), takes("s.tif", None, None), takes("s.tif", 3, None)
    (True, False, True)
    """
    fmt = format_for_path(path)
    if fmt == "TIFF":
        return spatial == 3 or axes is not None
    return fmt is not None


def format_of(name: str) -> str | None:
    """An output format given by name or suffix (``csv``, ``.npy``, ``tiff``), or ``None``.

    >>> format_of("csv"), format_of(".NPZ"), format_of("tiff"), format_of("png")
    ('CSV', 'NPZ', 'TIFF', None)
    """
    key = name.strip().lower().lstrip(".")
    return SUFFIXES.get("." + key) or (key.upper() if key.upper() in EXTENSIONS else None)


# --- reading --------------------------------------------------------------------------------------


def format_for_path(path: str | os.PathLike[str]) -> str | None:
    """The array format a file name says, or ``None`` (an image for Pillow).

    >>> format_for_path("a/b.NPY"), format_for_path("x.csv"), format_for_path("p.png")
    ('NPY', 'CSV', None)
    """
    return SUFFIXES.get(os.path.splitext(os.fspath(path))[1].lower())


_NUMERIC = re.compile(r"[-+.0-9]|nan|inf", re.IGNORECASE)
_PNM = re.compile(r"P[1-7]\s")


def sniff(data: bytes) -> str | None:
    """The array format of bytes without a name (standard input), or ``None`` for an image.

    ``.npy`` and ``.npz`` by their magic numbers. Text when it is UTF-8 without NUL bytes and its
    first line (blank lines and ``#`` comments skipped) starts like a number (a digit, a sign, a
    dot, ``nan``, ``inf``), or its first line is a header and the second starts like a number.
    No image format starts that way (PNM's ``P1``-``P7`` header is told apart; XBM's lines are
    ``#define`` and C, XPM's and SVG's start with ``/`` and ``<``).

    >>> sniff(b"1 3 2 4\\n"), sniff(b"\\x93NUMPY..."), sniff(b"\\x89PNG\\r\\n"), sniff(b"P2 3 1\\n")
    ('TEXT', 'NPY', None, None)
    >>> sniff(b"time,volts\\n0,1.5\\n")
    'TEXT'
    """
    if data.startswith(b"\x93NUMPY"):
        return "NPY"
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "NPZ"
    head = data[:4096]
    if b"\0" in head:
        return None
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not a multi-byte character cut at the end
            return None
        text = head[: err.start].decode("utf-8-sig")
    lines = text.splitlines()
    if len(data) > len(head):
        lines = lines[:-1]  # maybe cut
    lines = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")][:2]
    if not lines or _PNM.match(lines[0] + " "):
        return None
    if _NUMERIC.match(lines[0]) or (len(lines) == 2 and _NUMERIC.match(lines[1])):
        return "TEXT"
    return None


def read_array_file(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    format: str | None = None,
    axes: str | None = None,
    spatial: int | None = None,
    tell_axes: bool = True,
) -> ArrayFile:
    """Read an array file (a path or its bytes) and tell its axes (:func:`resolve_axes`).

    Parameters
    ----------
    source : path or bytes
    name : str, optional
        How errors name the file (default: the path, ``<stdin>`` for bytes).
    format : str, optional
        ``NPY``, ``NPZ``, ``TIFF``, ``CSV``, ``TSV``, ``TXT`` or ``TEXT`` (the delimiter found
        from the content); default from the name's suffix, or :func:`sniff` for bytes.
    axes : str, optional
        ``--axes``: a letter per stored axis.
    spatial : int, optional
        The window's number of axes (:func:`window_axes`), when it states one.
    tell_axes : bool
        ``False`` reads the file without telling its axes (``axes`` is then ``""``): for
        showing a shape that is ambiguous (``poolcli info``).

    Raises
    ------
    ImageError
        Missing or unreadable file, not the format it claims, ragged text; :class:`AxesError`
        for axes that cannot be told.

    Examples
    --------
    >>> af = read_array_file(b"1 3 2 4\\n5 6 7 8\\n")
    >>> af.format, af.axes, af.first.tolist()
    ('TXT', 'yx', [[1, 3, 2, 4], [5, 6, 7, 8]])
    """
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    label = name or ("<stdin>" if is_bytes else os.fspath(source))  # type: ignore[arg-type]
    if is_bytes:
        data = bytes(source)  # type: ignore[arg-type]
    else:
        try:
            with open(source, "rb") as f:  # type: ignore[arg-type]
                data = f.read()
        except FileNotFoundError:
            raise ImageError(f"{label}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{label}: is a directory") from None
        except OSError as err:
            raise ImageError(f"{label}: cannot read: {_reason(err)}") from None
    fmt = format or (None if is_bytes else format_for_path(source))  # type: ignore[arg-type]
    if fmt is None:
        fmt = sniff(data)
        if fmt is None:
            raise ImageError(f"{label}: not an array file (.npy, .npz, .tif, text)")
    if fmt == "NPY" or fmt == "NPZ":
        arrays, fmt = _read_numpy(data, label)
        info: dict[str, Any] = {}
    elif fmt == "TIFF":
        return read_tiff(data, label, axes, spatial, tell_axes)
    else:
        array, fmt, info = read_text(data, label, None if fmt == "TEXT" else fmt)
        if info.get("vector") and axes is None and spatial in (None, 1):
            array = array.reshape(-1)
        else:
            info.pop("vector", None)
        arrays = {"": array}
    shapes = {a.ndim for a in arrays.values()}
    if len(shapes) > 1:
        raise ImageError(f"{label}: its arrays have different numbers of axes; pool them apart")
    if not tell_axes:
        return ArrayFile(arrays, fmt, "", info)
    letters = resolve_axes(next(iter(arrays.values())).shape, label, axes=axes, spatial=spatial)
    return ArrayFile(arrays, fmt, letters, info)


def open_array_file(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    axes: str | None = None,
    spatial: int | None = None,
) -> ArrayFile:
    """Like :func:`read_array_file`, but a ``.npy`` is memory-mapped, not read: for pooling a
    volume larger than memory chunk by chunk (:mod:`poolcli.run.omezarr`, which reads a TIFF
    stack a page at a time with :func:`tiff_pages`).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(f"{d}/v.npy", np.zeros((4, 5, 6), np.uint8))
    ...     af = open_array_file(f"{d}/v.npy", spatial=3)
    ...     type(af.first).__name__, af.names
    ('memmap', 'DHW')
    """
    label = name or os.fspath(path)
    if format_for_path(path) == "NPY":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise ImageError(f"{label}: no such file") from None
        except (ValueError, OSError, EOFError) as err:
            raise ImageError(f"{label}: not a plain NumPy .npy file: {one_line(err)}") from None
        letters = resolve_axes(array.shape, label, axes=axes, spatial=spatial)
        return ArrayFile({"": array}, "NPY", letters)
    return read_array_file(path, name=label, axes=axes, spatial=spatial)


def _read_numpy(data: bytes, label: str) -> tuple[dict[str, np.ndarray], str]:
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as err:  # pickled objects, bad header
        raise ImageError(f"{label}: not a plain NumPy array file: {one_line(err)}") from None
    except (OSError, EOFError) as err:
        raise ImageError(f"{label}: not a NumPy .npy/.npz file: {one_line(err)}") from None
    if isinstance(loaded, np.ndarray):
        return {"": loaded}, "NPY"
    with loaded:
        try:
            arrays = {key: loaded[key] for key in loaded.files}
        except (ValueError, OSError, EOFError) as err:
            raise ImageError(f"{label}: not a plain NumPy .npz file: {one_line(err)}") from None
    if not arrays:
        raise ImageError(f"{label}: the .npz file holds no arrays")
    return arrays, "NPZ"


# --- pooling --------------------------------------------------------------------------------------


def pool_kwargs_for(n: int, pool_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``pool_kwargs`` with every single window size made an ``n``-tuple (``pool`` counts the
    spatial axes by its tuples; without one it pools 2).

    >>> pool_kwargs_for(3, {"stride": 2, "padding": "same", "p": 2.0})
    {'stride': (2, 2, 2), 'padding': 'same', 'p': 2.0}
    """
    out = dict(pool_kwargs)
    for key in WINDOW_KEYS:
        value = out.get(key)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            out[key] = (int(value),) * n
    return out


def pooled_shape(af: ArrayFile, **window: Any) -> tuple[int, ...]:
    """The stored shape pooling ``af`` with ``window`` would give (:func:`output_shape`'s
    arguments); raises its ``WindowError``.

    >>> pooled_shape(ArrayFile({"": np.zeros((2, 9, 7))}, "NPY", "cyx"), kernel_size=2)
    (2, 4, 3)
    """
    from poolcli.core.pool import output_shape

    spatial = [i for i, a in enumerate(af.axes) if a != CHANNEL]
    out = output_shape(tuple(af.shape[i] for i in spatial), **pool_kwargs_for(af.spatial, window))
    shape = list(af.shape)
    for i, n in zip(spatial, out, strict=True):
        shape[i] = int(n)
    return tuple(shape)


def pool_array_file(af: ArrayFile, mode: str, **pool_kwargs: Any) -> ArrayFile:
    """Pool every array of ``af`` with :func:`poolcli.pool`, keeping the stored layout.

    Physical sizes are multiplied by the stride of their axis (by input/output for adaptive
    windows). Raises what :func:`poolcli.pool` raises.

    >>> af = read_array_file(b"1 3 2 4\\n5 6 7 8\\n")
    >>> pool_array_file(af, "max", stride=2).first.tolist()
    [[6, 8]]
    """
    from poolcli.backends import pool

    kwargs = pool_kwargs_for(af.spatial, pool_kwargs)
    order = [i for i, a in enumerate(af.axes) if a != CHANNEL]
    order += [i for i, a in enumerate(af.axes) if a == CHANNEL]
    back = list(np.argsort(order))
    arrays = {}
    for key, array in af.arrays.items():
        pooled = pool(np.transpose(array, order), mode, **kwargs)
        arrays[key] = np.ascontiguousarray(np.transpose(pooled, back))
    info = dict(af.info)
    if "physical" in info:
        info["physical"] = _scaled_physical(af, next(iter(arrays.values())).shape, kwargs)
    if "header" in info and arrays[next(iter(arrays))].shape[-1] != af.shape[-1]:
        del info["header"]
    return replace(af, arrays=arrays, info=info)


def _scaled_physical(
    af: ArrayFile, out_shape: tuple[int, ...], kwargs: Mapping[str, Any]
) -> dict[str, list[Any]]:
    spatial = [i for i, a in enumerate(af.axes) if a != CHANNEL]
    stride = kwargs.get("stride") or kwargs.get("kernel_size")
    scaled = {}
    for letter, (size, unit) in af.info["physical"].items():
        axis = af.axes.index(letter)
        k = spatial.index(axis)
        if kwargs.get("output_size") is not None or not isinstance(stride, tuple):
            factor = af.shape[axis] / out_shape[axis]
        else:
            factor = stride[k]
        scaled[letter] = [size * factor, unit]
    return scaled


# --- writing --------------------------------------------------------------------------------------


def encode_array_file(af: ArrayFile, fmt: str | None = None) -> bytes:
    """The bytes of ``af`` in ``fmt`` (default its own format).

    Raises
    ------
    UnsupportedError
        Text for more than 2 axes or several arrays, ``.npy`` for several arrays.

    >>> af = read_array_file(b"1,3,2,4\\n5,6,7,8\\n")
    >>> encode_array_file(pool_array_file(af, "avg", stride=2))
    b'4,5\\n'
    """
    fmt = (fmt or af.format).upper()
    if fmt == "TEXT":
        fmt = "TXT"
    if fmt in ("NPY", "TIFF", *TEXT_FORMATS) and len(af.arrays) > 1:
        raise UnsupportedError(f"{fmt} holds one array, this file has {len(af.arrays)}: write .npz")
    buf = io.BytesIO()
    if fmt == "NPY":
        np.save(buf, af.first, allow_pickle=False)
    elif fmt == "NPZ":
        np.savez(buf, **{key or "arr_0": a for key, a in af.arrays.items()})
    elif fmt == "TIFF":
        write_tiff(buf, af)
    elif fmt in TEXT_FORMATS:
        return encode_text(af, TEXT_FORMATS[fmt]).encode()
    else:
        raise UnsupportedError(f"cannot write an array as {fmt}")
    return buf.getvalue()


def write_array_file(
    af: ArrayFile, path: str | os.PathLike[str], *, format: str | None = None, force: bool = False
) -> None:
    """Write ``af`` to ``path`` atomically (as images are), in ``format`` or the suffix's.

    Raises
    ------
    ImageError
        The file exists (without ``force``), the folder is missing, the disk is full ...;
        ``UnsupportedError`` for what the format cannot hold.
    """
    from pathlib import Path

    from poolcli.io.writing import write_atomic

    path = Path(path)
    fmt = format or format_for_path(path)
    if fmt is None:
        raise UnsupportedError(
            f"{path}: an array is written as .npy, .npz, .tif, .csv, .tsv or .txt, not"
            f" {path.suffix or 'a name without a suffix'}"
        )
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if not force and os.path.lexists(path):
        raise ImageError(f"{path}: already exists (force overwrites it)")
    try:
        data = encode_array_file(af, fmt)
    except PoolError as err:
        raise type(err)(f"{path}: {err}") from None
    write_atomic(path, data, force=force)


# --- helpers --------------------------------------------------------------------------------------
def _reason(err: OSError) -> str:
    text = err.strerror or str(err) or type(err).__name__
    return text[:1].lower() + text[1:]
