"""TIFF stacks as array files, through tifffile: read whole or page by page, and written back.

The first series is one array (a multi-page TIFF is a volume, pages first); tifffile's axis letters
become ours (:func:`tiff_axes`). ImageJ hyperstacks and OME-TIFF keep their flavour, and their
physical pixel sizes (ImageJ's resolution, ``spacing`` and ``finterval``; OME's
``PhysicalSizeX/Y/Z`` and ``TimeIncrement``) are read into ``info["physical"]`` and written back
(scaled by :func:`poolcli.io.arrays.pool_array_file`). tifffile is optional: without it a TIFF
array gives one :class:`~poolcli.errors.ImageError` saying how to install it.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import numpy as np

from poolcli.errors import ImageError
from poolcli.io.arrayfile import CHANNEL, ArrayFile, AxesError, one_line, resolve_axes, shape_text

# tifffile's axis letters: which are ours.
_TIFF_CHANNEL = {"C", "S"}
_TIFF_DEPTH = {"Z": "z", "T": "t", "Q": "z", "I": "z", "O": "z", "R": "z", "H": "z", "E": "z"}


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
        raise ImageError(f"{label}: not a TIFF file tifffile can read: {one_line(err)}") from None
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


def read_tiff(
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
        raise ImageError(f"{label}: not a TIFF file tifffile can read: {one_line(err)}") from None
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
def write_tiff(buf: io.BytesIO, af: ArrayFile) -> None:
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


def _tifffile(label: str) -> Any:
    try:
        import tifffile
    except ImportError:
        raise ImageError(f"{label}: TIFF volumes need tifffile: pip install tifffile") from None
    return tifffile
