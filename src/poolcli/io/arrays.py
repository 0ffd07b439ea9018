"""Arrays as files: ``.npy``, ``.npz``, TIFF stacks and small text matrices, read, pooled, written.

An :class:`ArrayFile` is the array(s) of one file *as stored*, with one letter per stored axis
saying what it is: ``t``, ``z``, ``y``, ``x`` are spatial (pooled), ``c`` is the channel axis
(not pooled, at most one). :func:`poolcli.pool` wants the spatial axes first and the channel
last, so :func:`pool_array_file` moves the channel axis there and back: a file stored channels
first (``cyx``) is written back channels first.

Which axes are which comes from ``--axes`` when given, else from the window and the shape
(:func:`resolve_axes`): ``d`` stored axes and a window of ``n`` axes (the length of its tuples)
are all spatial when ``d == n`` and spatial plus a channel when ``d == n + 1``; without a window
that says ``n``, 1 axis is a signal (L), 2 a matrix or image (H, W), 4 a volume with channels
(D, H, W, C), and 3 axes are ambiguous, (D, H, W) or (H, W, C): refused, with the options that
settle it. TIFF files keep the axes their metadata names (tifffile's ``series.axes``).

Formats (by suffix, or by content for standard input, see :func:`sniff`):

* ``.npy``: one array. ``.npz``: every array in it, pooled with the same window, names kept.
* ``.tif``/``.tiff`` (with tifffile): the first series as one array (a multi-page TIFF is a
  volume, pages first). ImageJ hyperstacks and OME-TIFF keep their flavour, and their physical
  pixel sizes (ImageJ's resolution, ``spacing`` and ``finterval``; OME's ``PhysicalSizeX/Y/Z``
  and ``TimeIncrement``) are multiplied by the stride of their axis.
* Text: comma-separated (``.csv``), tab-separated (``.tsv``) or whitespace-separated (``.txt``
  and anything else), one row per line; blank lines and ``#`` comments are skipped; a first line
  that is not all numbers is a header, written back when the columns are not pooled (``--axes
  tc``). Integers stay int64, anything else is float64 (``nan``, ``inf`` accepted). A single row
  or column is a 1-D signal, written back in the same orientation.
"""

from __future__ import annotations

import io
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from poolcli.errors import ImageError, PoolError, UnsupportedError

SPATIAL_NAMES = {1: "L", 2: "HW", 3: "DHW"}
SPATIAL_LETTERS = "tzyx"
CHANNEL = "c"
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
TEXT_FORMATS = {"CSV": ",", "TSV": "\t", "TXT": " "}
EXTENSIONS = {"NPY": ".npy", "NPZ": ".npz", "CSV": ".csv", "TSV": ".tsv", "TXT": ".txt"}
EXTENSIONS["TIFF"] = ".tif"
_WINDOW_KEYS = ("kernel_size", "stride", "padding", "dilation", "output_size")
# tifffile's axis letters: which are ours.
_TIFF_CHANNEL = {"C", "S"}
_TIFF_DEPTH = {"Z": "z", "T": "t", "Q": "z", "I": "z", "O": "z", "R": "z", "H": "z", "E": "z"}


class AxesError(ImageError):
    """The axes of an array file are ambiguous, or do not fit the window or ``axes``."""


@dataclass
class ArrayFile:
    """The array(s) of one file, as stored.

    ``arrays`` maps names to arrays (``""`` for the formats that hold one); all have the same
    number of axes, and ``axes`` has one letter per axis (``tzyx`` spatial, ``c`` channel).
    ``info`` holds what writing back needs: ``header`` and ``vector`` (text), ``tiff``
    (``"imagej"``, ``"ome"`` or ``"plain"``), ``tiff_axes`` (tifffile's letters), ``physical``
    (``{letter: [size, unit]}`` per spatial axis).

    >>> af = ArrayFile({"": np.zeros((4, 6, 3), np.uint8)}, "NPY", "yxc")
    >>> af.shape, af.names, af.spatial, af.dtype
    ((4, 6, 3), 'HWC', 2, 'uint8')
    """

    arrays: dict[str, np.ndarray]
    format: str
    axes: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> np.ndarray:
        return next(iter(self.arrays.values()))

    @property
    def shape(self) -> tuple[int, ...]:
        """The first array's stored shape."""
        return tuple(int(n) for n in self.first.shape)

    @property
    def dtype(self) -> str:
        return str(self.first.dtype)

    @property
    def spatial(self) -> int:
        """How many axes are pooled."""
        return sum(letter != CHANNEL for letter in self.axes)

    @property
    def names(self) -> str:
        """One capital per stored axis: ``L``, ``HW`` or ``DHW`` for the spatial ones, ``C``
        (``""`` when the axes were not told)."""
        return axis_names(self.axes) if self.axes else ""

    @property
    def n_frames(self) -> int:
        return len(self.arrays)

    @property
    def mode(self) -> str:
        """What the report's image-mode column says: the format and the array count."""
        return self.format if len(self.arrays) == 1 else f"{self.format}[{len(self.arrays)}]"

    @property
    def pooled_later(self) -> float:
        """0: an array file is pooled whole (:attr:`poolcli.io.picture.Picture.pooled_later`)."""
        return 0.0


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


def axis_names(axes: str) -> str:
    """``"zyxc"`` -> ``"DHWC"``; ``"cyx"`` -> ``"CHW"``; ``"t"`` -> ``"L"``.

    >>> axis_names("zyxc"), axis_names("cyx"), axis_names("tc")
    ('DHWC', 'CHW', 'LC')
    """
    spatial = iter(SPATIAL_NAMES[sum(a != CHANNEL for a in axes)])
    return "".join("C" if a == CHANNEL else next(spatial) for a in axes)


def shape_text(shape: tuple[int, ...], names: str | None = None) -> str:
    """``32x64x64x2 (DxHxWxC)``; without names just ``32x64x64x2``.

    >>> shape_text((32, 64, 64, 2), "DHWC")
    '32x64x64x2 (DxHxWxC)'
    """
    text = "x".join(str(n) for n in shape)
    return text if not names else f"{text} ({'x'.join(names)})"


def window_axes(pool_kwargs: Mapping[str, Any]) -> int | None:
    """The number of spatial axes a window states: the length of its tuples, else ``None``.

    >>> window_axes({"kernel_size": (2, 2, 2)}), window_axes({"stride": 2, "padding": "same"})
    (3, None)
    """
    lengths = {len(v) for k in _WINDOW_KEYS if isinstance(v := pool_kwargs.get(k), (tuple, list))}
    if len(lengths) > 1:
        raise PoolError(f"the window's sizes have {' and '.join(map(str, sorted(lengths)))} axes")
    return lengths.pop() if lengths else None


# --- which axes are which -------------------------------------------------------------------------


def parse_axes(text: str) -> str:
    """Check an ``--axes`` value: letters ``t z y x`` (pooled) and at most one ``c``.

    >>> parse_axes("ZYXC"), parse_axes("tc")
    ('zyxc', 'tc')
    """
    axes = text.strip().lower()
    bad = sorted(set(axes) - set(SPATIAL_LETTERS + CHANNEL))
    if not axes or bad:
        raise PoolError(
            f"axes {text!r}: use the letters t, z, y, x (pooled) and c (channel), e.g. zyxc"
        )
    if len(set(axes)) != len(axes):
        raise PoolError(f"axes {text!r} names an axis twice")
    n = sum(a != CHANNEL for a in axes)
    if not 1 <= n <= 3:
        raise PoolError(f"axes {text!r}: 1 to 3 pooled axes (t, z, y, x), not {n}")
    return axes


def resolve_axes(
    shape: tuple[int, ...],
    name: str,
    *,
    axes: str | None = None,
    spatial: int | None = None,
) -> str:
    """The letters of a stored array's axes, from ``axes`` or from the window's ``spatial``.

    Raises :class:`AxesError` (one line naming the file, the shape and the option that settles
    it) when they cannot be told.

    >>> resolve_axes((4, 5), "a.npy"), resolve_axes((4, 5, 6), "a.npy", spatial=2)
    ('yx', 'yxc')
    >>> try:
    ...     resolve_axes((4, 5, 6), "v")
    ... except AxesError as err:
    ...     print(err)
    v: shape 4x5x6 is DxHxW or HxWxC: give --axes zyx or --axes yxc, or a 3-axis window (-k 2x2x2)
    """
    d = len(shape)
    where = f"{name}: shape {shape_text(shape) or '() (a scalar)'}"
    if axes is not None:
        axes = parse_axes(axes)
        if len(axes) != d:
            raise AxesError(f"{where} has {d} axes, --axes {axes} names {len(axes)}")
        n = sum(a != CHANNEL for a in axes)
        if spatial is not None and n != spatial:
            raise AxesError(
                f"{where}: --axes {axes} pools {n} axes, the window has {spatial}; make them agree"
            )
        return axes
    if spatial is not None:
        if d == spatial:
            return _letters(spatial)
        if d == spatial + 1:
            return _letters(spatial) + CHANNEL
        names = "x".join(SPATIAL_NAMES[spatial])
        raise AxesError(
            f"{where} does not fit a {spatial}-axis window ({names} or {names}xC):"
            " give a window with as many axes as the array pools, or --axes"
        )
    if d == 1:
        return "x"
    if d == 2:
        return "yx"
    if d == 3:
        raise AxesError(
            f"{where} is DxHxW or HxWxC: give --axes zyx or --axes yxc, or a 3-axis window"
            " (-k 2x2x2)"
        )
    if d == 4:
        return "zyxc"
    raise AxesError(f"{where}: poolcli pools 1 to 3 axes and one channel axis, not {d} axes")


def _letters(n: int) -> str:
    return {1: "x", 2: "yx", 3: "zyx"}[n]


def tiff_axes(taxes: str, shape: tuple[int, ...], name: str, spatial: int | None) -> str:
    """Our letters for tifffile's series axes (``ZYX``, ``IYX``, ``ZCYX``, ``YXS`` ...).

    Y and X are pooled; C and S are the channel; Z, T and the page-like letters (Q, I, ...) are
    pooled too when the window has room for them, else refused.

    >>> tiff_axes("IYX", (3, 4, 5), "a.tif", 3), tiff_axes("ZCYX", (3, 2, 4, 5), "a.tif", 3)
    ('zyx', 'zcyx')
    """
    ours = []
    for letter in taxes.upper():
        if letter in "YX":
            ours.append(letter.lower())
        elif letter in _TIFF_CHANNEL:
            ours.append(CHANNEL)
        else:
            ours.append(_TIFF_DEPTH.get(letter, "z"))
    where = f"{name}: {taxes} {shape_text(shape)}"
    if ours.count(CHANNEL) > 1:
        raise AxesError(f"{where} has two channel axes (C and S); poolcli pools one")
    depth = [i for i, a in enumerate(ours) if a not in "yxc"]
    if len(depth) > 1:
        raise AxesError(
            f"{where}: {''.join(taxes[i] for i in depth)} are all stacks; poolcli pools at most"
            " 3 axes (one stack, Y and X)"
        )
    n = sum(a != CHANNEL for a in ours)
    if spatial is not None and n != spatial:
        raise AxesError(
            f"{where} has {n} axes to pool, the window {spatial}: give a {n}-axis window or --axes"
        )
    return "".join(ours)


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
        return _read_tiff(data, label, axes, spatial, tell_axes)
    else:
        array, fmt, info = _read_text(data, label, None if fmt == "TEXT" else fmt)
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
            raise ImageError(f"{label}: not a plain NumPy .npy file: {_one_line(err)}") from None
        letters = resolve_axes(array.shape, label, axes=axes, spatial=spatial)
        return ArrayFile({"": array}, "NPY", letters)
    return read_array_file(path, name=label, axes=axes, spatial=spatial)


@dataclass(frozen=True)
class TiffPages:
    """A TIFF whose first series is a stack of whole pages: what reading it page by page needs
    (:func:`read_page`), and the :class:`ArrayFile` it makes without its pixels (``layout``)."""

    path: str
    shape: tuple[int, ...]
    page_shape: tuple[int, ...]
    dtype: np.dtype
    layout: ArrayFile  # axes and metadata; its array is a zero-size placeholder


def tiff_pages(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    axes: str | None = None,
    spatial: int | None = None,
) -> TiffPages | None:
    """The pages of a TIFF stack, or ``None`` for any other layout (tiles, one page): read it
    whole instead. Its axes are told as :func:`read_array_file` tells them."""
    label = name or os.fspath(path)
    tifffile = _tifffile(label)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype, taxes = tuple(series.shape), series.dtype, series.axes
            pages = len(series.pages)
            page_shape = tuple(series.pages[0].shape)
            flavour = "imagej" if tif.is_imagej else "ome" if tif.is_ome else "plain"
            physical = _tiff_physical(tif, flavour)
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file") from None
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as err:
        raise ImageError(f"{label}: not a TIFF file tifffile can read: {_one_line(err)}") from None
    lead = shape[: len(shape) - len(page_shape)]
    if pages < 2 or shape[len(lead) :] != page_shape or int(np.prod(lead)) != pages:
        return None
    if axes is not None:
        letters = resolve_axes(shape, label, axes=axes, spatial=spatial)
    else:
        letters = tiff_axes(taxes, shape, label, spatial)
    found = {_physical_letter(k, taxes, letters): v for k, v in physical.items()}
    info = {"tiff": flavour, "tiff_axes": taxes}
    info["physical"] = {k: v for k, v in found.items() if k is not None}
    layout = ArrayFile({"": np.zeros((0,) * len(shape), dtype)}, "TIFF", letters, info)
    return TiffPages(os.fspath(path), shape, page_shape, np.dtype(dtype), layout)


def read_page(path: str, index: int) -> np.ndarray:
    """Page ``index`` of the TIFF at ``path`` (one task of a stack read page by page)."""
    import tifffile

    return tifffile.imread(path, key=index)


def _read_numpy(data: bytes, label: str) -> tuple[dict[str, np.ndarray], str]:
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as err:  # pickled objects, bad header
        raise ImageError(f"{label}: not a plain NumPy array file: {_one_line(err)}") from None
    except (OSError, EOFError) as err:
        raise ImageError(f"{label}: not a NumPy .npy/.npz file: {_one_line(err)}") from None
    if isinstance(loaded, np.ndarray):
        return {"": loaded}, "NPY"
    with loaded:
        try:
            arrays = {key: loaded[key] for key in loaded.files}
        except (ValueError, OSError, EOFError) as err:
            raise ImageError(f"{label}: not a plain NumPy .npz file: {_one_line(err)}") from None
    if not arrays:
        raise ImageError(f"{label}: the .npz file holds no arrays")
    return arrays, "NPZ"


def _read_text(data: bytes, label: str, fmt: str | None) -> tuple[np.ndarray, str, dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImageError(f"{label}: not text (UTF-8) nor an image") from None
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ImageError(f"{label}: no numbers in it")
    if fmt is None:
        first = lines[0][1]
        fmt = "CSV" if "," in first else "TSV" if "\t" in first else "TXT"
    delimiter = TEXT_FORMATS[fmt]
    rows = [(number, _split(line, delimiter)) for number, line in lines]
    info: dict[str, Any] = {}
    if not all(_is_number(v) for v in rows[0][1]) and len(rows) > 1:
        info["header"] = rows[0][1]
        rows = rows[1:]
    width = len(rows[0][1])
    for number, values in rows:
        if len(values) != width:
            raise ImageError(
                f"{label}: line {number} has {len(values)} values, line {rows[0][0]} has {width}"
            )
    if "header" in info and len(info["header"]) != width:
        raise ImageError(f"{label}: the header has {len(info['header'])} names for {width} columns")
    cells = [v for _, values in rows for v in values]
    try:
        array = np.array([int(v) for v in cells], dtype=np.int64)
    except ValueError:
        try:
            array = np.array([float(v) for v in cells], dtype=np.float64)
        except ValueError:
            number, bad = next((n, v) for n, vs in rows for v in vs if not _is_number(v))
            raise ImageError(f"{label}: line {number}: {bad!r} is not a number") from None
    except OverflowError:
        raise ImageError(f"{label}: an integer does not fit 64 bits") from None
    array = array.reshape(len(rows), width)
    if len(rows) == 1 or width == 1:
        info["vector"] = "row" if len(rows) == 1 else "column"
    return array, fmt, info


def _split(line: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return line.split()
    return [v.strip() for v in line.split(delimiter)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_tiff(
    data: bytes, label: str, axes: str | None, spatial: int | None, tell_axes: bool = True
) -> ArrayFile:
    tifffile = _tifffile(label)
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            array = series.asarray()
            taxes = series.axes
            flavour = "imagej" if tif.is_imagej else "ome" if tif.is_ome else "plain"
            physical = _tiff_physical(tif, flavour)
            page = tif.pages.first
            photometric = int(getattr(page, "photometric", 1))
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as err:
        raise ImageError(f"{label}: not a TIFF file tifffile can read: {_one_line(err)}") from None
    if not tell_axes:
        return ArrayFile({"": array}, "TIFF", "", {"tiff": flavour, "tiff_axes": taxes})
    if axes is not None:
        letters = resolve_axes(array.shape, label, axes=axes, spatial=spatial)
    else:
        letters = tiff_axes(taxes, array.shape, label, spatial)
    physical = {_physical_letter(k, taxes, letters): v for k, v in physical.items()}
    info = {"tiff": flavour, "tiff_axes": taxes, "photometric": photometric}
    info["physical"] = {k: v for k, v in physical.items() if k is not None}
    return ArrayFile({"": array}, "TIFF", letters, info)


def _physical_letter(key: str, taxes: str, letters: str) -> str | None:
    """Which of our letters the TIFF's physical size of axis ``key`` (X, Y, Z, T) belongs to."""
    position = taxes.upper().find(key)
    return letters[position] if position >= 0 and len(letters) == len(taxes) else None


def _tiff_physical(tif: Any, flavour: str) -> dict[str, list[Any]]:
    """``{"X": [size, unit], ...}``: the physical size of a pixel along each axis that says."""
    found: dict[str, list[Any]] = {}
    if flavour == "ome":
        root = ET.fromstring(tif.ome_metadata)
        pixels = next((e for e in root.iter() if e.tag.endswith("}Pixels")), None)
        if pixels is not None:
            for axis in "XYZ":
                size = pixels.get(f"PhysicalSize{axis}")
                if size is not None:
                    found[axis] = [float(size), pixels.get(f"PhysicalSize{axis}Unit")]
            step = pixels.get("TimeIncrement")
            if step is not None:
                found["T"] = [float(step), pixels.get("TimeIncrementUnit")]
    elif flavour == "imagej":
        meta = tif.imagej_metadata or {}
        unit = meta.get("unit")
        xres, yres = tif.pages.first.get_resolution()
        if xres and yres and (xres, yres) != (1.0, 1.0) or unit:
            found["X"], found["Y"] = [1 / xres, unit], [1 / yres, unit]
        if "spacing" in meta:
            found["Z"] = [float(meta["spacing"]), unit]
        if "finterval" in meta:
            found["T"] = [float(meta["finterval"]), "s"]
    return found


# --- pooling --------------------------------------------------------------------------------------


def pool_kwargs_for(n: int, pool_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``pool_kwargs`` with every single window size made an ``n``-tuple (``pool`` counts the
    spatial axes by its tuples; without one it pools 2).

    >>> pool_kwargs_for(3, {"stride": 2, "padding": "same", "p": 2.0})
    {'stride': (2, 2, 2), 'padding': 'same', 'p': 2.0}
    """
    out = dict(pool_kwargs)
    for key in _WINDOW_KEYS:
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
        _write_tiff(buf, af)
    elif fmt in TEXT_FORMATS:
        return _text(af, TEXT_FORMATS[fmt]).encode()
    else:
        raise UnsupportedError(f"cannot write an array as {fmt}")
    return buf.getvalue()


def _text(af: ArrayFile, delimiter: str) -> str:
    a = af.first
    if a.ndim > 2:
        raise UnsupportedError(f"text holds 1 or 2 axes, not {a.ndim} ({shape_text(a.shape)})")
    if a.ndim < 2:
        a = a.reshape(-1, 1) if af.info.get("vector") == "column" else a.reshape(1, -1)
    cell = _cell_text(a.dtype)
    lines = [delimiter.join(af.info["header"])] if "header" in af.info else []
    lines += [delimiter.join(cell(v) for v in row) for row in a.tolist()]
    return "".join(line + "\n" for line in lines)


def _cell_text(dtype: np.dtype) -> Any:
    if dtype.kind == "b":
        return lambda v: str(int(v))
    if dtype.kind == "f":
        return lambda v: repr(float(v)) if math.isfinite(v) else str(v)
    return str


def _write_tiff(buf: io.BytesIO, af: ArrayFile) -> None:
    tifffile = _tifffile("TIFF")
    a = af.first
    flavour = af.info.get("tiff", "plain")
    taxes = af.info.get("tiff_axes") or _tiff_letters(af.axes)
    physical = {taxes[af.axes.index(k)].upper(): v for k, v in af.info.get("physical", {}).items()}
    rgb = taxes.endswith("S") and a.shape[-1] in (3, 4) and af.info.get("photometric") == 2
    kwargs: dict[str, Any] = {"photometric": "rgb" if rgb else "minisblack"}
    if flavour == "imagej" and a.dtype in (np.uint8, np.uint16, np.float32):
        meta: dict[str, Any] = {"axes": taxes}
        unit = next((u for _, u in physical.values() if u), None)
        if unit:
            meta["unit"] = unit
        if "Z" in physical:
            meta["spacing"] = physical["Z"][0]
        if "T" in physical:
            meta["finterval"] = physical["T"][0]
        if "X" in physical and "Y" in physical:
            kwargs["resolution"] = (1 / physical["X"][0], 1 / physical["Y"][0])
        tifffile.imwrite(buf, a, imagej=True, metadata=meta, **kwargs)
    elif flavour == "ome":
        meta = {"axes": taxes}
        for axis in "XYZ":
            if axis in physical:
                size, unit = physical[axis]
                meta[f"PhysicalSize{axis}"] = size
                if unit:
                    meta[f"PhysicalSize{axis}Unit"] = unit
        if "T" in physical:
            meta["TimeIncrement"] = physical["T"][0]
        tifffile.imwrite(buf, a, ome=True, metadata=meta, **kwargs)
    else:
        tifffile.imwrite(buf, a, metadata={"axes": taxes}, **kwargs)


def _tiff_letters(axes: str) -> str:
    """tifffile's letters for ours (a file that was not a TIFF)."""
    return "".join({"t": "T", "z": "Z", "y": "Y", "x": "X", "c": "C"}[a] for a in axes)


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


def _tifffile(label: str) -> Any:
    try:
        import tifffile
    except ImportError:
        raise ImageError(f"{label}: TIFF volumes need tifffile: pip install tifffile") from None
    return tifffile


def _reason(err: OSError) -> str:
    text = err.strerror or str(err) or type(err).__name__
    return text[:1].lower() + text[1:]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
