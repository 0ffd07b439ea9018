"""Multiscale OME-Zarr pyramids (OME-NGFF 0.5 on Zarr v3, or 0.4 on Zarr v2).

:func:`write_pyramid` writes level 0 (the input) and levels 1..N, level ``L`` equal to
:func:`poolcli.pool` of the input with windows of ``factor**L`` cells (kernel = stride, no
padding, the ragged edge dropped), each as one Zarr array ``s0``, ``s1``, ... of one group, and
the group's ``multiscales`` metadata. How each level is made follows :mod:`poolcli.run.pyramid`
(which says when through ``chain``): ``max`` and ``min`` pool the level before, read back from
the store (exact: the extreme of extremes); every other mode pools the input with the level's
whole window, because averages of rounded averages drift and a mode of modes is not the mode.

Everything goes through Dask: the input is cut in chunks (a ``.npy`` is memory-mapped, not
read whole), each level's chunks are pooled and stored by Dask tasks, so a volume larger than
memory takes one chunk per task on one machine, and the tasks run on a Dask cluster when a
``distributed.Client`` is active (the CLI's ``--scheduler``; the workers must reach the store's
path). The Zarr arrays are made by ``zarr``, the metadata by ``ome-zarr`` (``ome_zarr.writer``,
which validates it); the tests read the result back with ``zarr`` and validate it with
``ome-zarr-models``.

Axes: OME-NGFF wants ``t``, ``c``, ``z``, ``y``, ``x`` in that order and 2 or 3 space axes, so
the stored letters (:mod:`poolcli.io.arrays`) are put in that order; ``t`` is a time axis (and
pooled, as the window says), ``c`` the channel axis (never pooled). Each level's ``scale`` is the
input's physical pixel size times ``factor**L`` and its ``translation`` puts each pooled cell at
the centre of the cells it pools: ``size * (factor**L - 1) / 2``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolcli.errors import ImageError, PoolError, UnsupportedError, WindowError

NGFF_ORDER = "tczyx"
_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
# UDUNITS names OME-NGFF accepts, for the spellings files use.
_UNITS = {
    "nm": "nanometer",
    "nanometer": "nanometer",
    "um": "micrometer",
    "µm": "micrometer",
    "\\u00b5m": "micrometer",
    "micron": "micrometer",
    "micrometer": "micrometer",
    "mm": "millimeter",
    "millimeter": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "meter": "meter",
    "s": "second",
    "sec": "second",
    "second": "second",
    "ms": "millisecond",
    "millisecond": "millisecond",
}
DEFAULT_CHUNK = {2: 256, 3: 64}


@dataclass(frozen=True)
class Level:
    """One level written: its index, shape (stored in NGFF order), how it was made."""

    level: int
    shape: tuple[int, ...]
    source: int  # the level it was pooled from (0: the input)
    window: tuple[int, ...]  # per pooled axis, in the input's order


def ngff_order(axes: str) -> list[int]:
    """Positions of the stored axes in OME-NGFF order (t, c, z, y, x).

    >>> ngff_order("zyxc"), ngff_order("yx"), ngff_order("cyx")
    ([3, 0, 1, 2], [0, 1], [0, 1, 2])
    """
    return sorted(range(len(axes)), key=lambda i: NGFF_ORDER.index(axes[i]))


def level_factors(factor: int | Sequence[int], spatial: int) -> tuple[int, ...]:
    """The factor per pooled axis.

    >>> level_factors(2, 3), level_factors((1, 2, 2), 3)
    ((2, 2, 2), (1, 2, 2))
    """
    f = (factor,) * spatial if isinstance(factor, int) else tuple(factor)
    if len(f) != spatial:
        raise WindowError(f"the factor {factor} has {len(f)} axes, the array pools {spatial}")
    if min(f) < 1 or max(f) < 2:
        raise WindowError(f"the factor {factor} must be at least 1 on every axis, 2 on one")
    return f


def max_levels(sizes: Sequence[int], factors: Sequence[int]) -> int:
    """Levels that fit: the last one at least one cell on every axis.

    >>> max_levels((7, 9, 16), (2, 2, 2)), max_levels((5, 100), (1, 3))
    (2, 4)
    """
    n = 0
    while all(f ** (n + 1) <= s for s, f in zip(sizes, factors, strict=True)):
        n += 1
        if all(f == 1 for f in factors):
            break
    return n


def check_axes(letters: str) -> None:
    if set(letters) - set(NGFF_ORDER) or len(set(letters)) != len(letters):
        raise UnsupportedError(f"axes {letters!r}: OME-Zarr axes are t, c, z, y, x")
    space = sum(a in "zyx" for a in letters)
    if not 2 <= space <= 3 or letters.count("c") > 1:
        raise UnsupportedError(
            f"axes {letters!r}: OME-Zarr holds 2 or 3 space axes (z, y, x), not {space}"
        )


def zarr_chunks(chunks: int | Sequence[int] | None, n: int) -> tuple[int, ...]:
    if chunks is None:
        return (DEFAULT_CHUNK.get(n, 64),) * n
    c = (chunks,) * n if isinstance(chunks, int) else tuple(chunks)
    if len(c) != n or min(c) < 1:
        raise PoolError(f"chunks {chunks}: one size >= 1 per pooled axis ({n})")
    return c


def check_target(target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise ImageError(f"{target}: no such folder {os.fspath(target.parent)!r}")
    if os.path.lexists(target):
        if not force:
            raise ImageError(f"{target}: already exists (force overwrites it)")
        if not target.is_dir() or not _is_zarr(target):
            raise ImageError(f"{target}: exists and is not a Zarr store; not replacing it")


def _is_zarr(path: Path) -> bool:
    return any((path / name).exists() for name in ("zarr.json", ".zgroup", ".zattrs"))


def open_group(folder: Path, version: str) -> Any:
    import zarr

    return zarr.open_group(str(folder), mode="w", zarr_format=3 if version == "0.5" else 2)


def create_level(
    group: Any,
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    letters: str,
    zchunks: tuple[int, ...],
    compress_level: int | None,
) -> Any:
    """Create one level's Zarr array in ``group``: chunks of ``zchunks`` per pooled axis (the
    channel axis whole), zstd at ``compress_level`` (``None``: Zarr's default, 0: none), the
    axis names (Zarr v3) or ``/`` chunk keys (v2, as OME-NGFF 0.4 asks)."""
    kwargs: dict[str, Any] = {}
    if compress_level == 0:
        kwargs["compressors"] = None
    elif compress_level is not None:
        kwargs["compressors"] = _zstd(group, compress_level)
    if group.info._zarr_format == 3:
        kwargs["dimension_names"] = list(letters)
    else:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    chunks = level_chunks(letters, shape, zchunks)
    return group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, fill_value=0, **kwargs)


def level_chunks(letters: str, shape: tuple[int, ...], zchunks: tuple[int, ...]) -> tuple[int, ...]:
    """A level's chunks: ``zchunks`` on the pooled axes (at most their size), the channel whole.

    >>> level_chunks("cyx", (3, 100, 40), (64, 64))
    (3, 64, 40)
    """
    it = iter(zchunks)
    return tuple(n if a == "c" else min(next(it), n) for a, n in zip(letters, shape, strict=True))


def new_store(target: Path, version: str) -> tuple[Path, Any]:
    """A temporary folder beside ``target`` and the Zarr group in it, to rename when complete."""
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".poolcli-tmp", dir=target.parent)
    )
    return tmp, open_group(tmp, version)


def _zstd(group: Any, level: int) -> Any:
    if group.info._zarr_format == 3:
        from zarr.codecs import ZstdCodec

        return ZstdCodec(level=level)
    from numcodecs import Zstd

    return Zstd(level=level)


def write_metadata(
    group: Any,
    ngff_letters: str,
    f: tuple[int, ...],
    pool_letters: str,
    levels: list[Level],
    physical: Mapping[str, Sequence[Any]] | None,
    version: str,
    name: str | None,
) -> None:
    with warnings.catch_warnings():
        # ome-zarr 0.18 warns on import about its own deprecated default (a Scaler() argument)
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.format import FormatV04, FormatV05
        from ome_zarr.writer import write_multiscales_metadata

    physical = physical or {}
    factor = dict(zip(pool_letters, f, strict=False))  # the channel is never a pooled letter
    axes = []
    for letter in ngff_letters:
        axis: dict[str, Any] = {"name": letter, "type": _TYPES[letter]}
        unit = _UNITS.get(str(physical.get(letter, (1.0, None))[1] or "").strip().lower())
        if unit is not None and letter != "c":
            axis["unit"] = unit
        axes.append(axis)
    datasets = []
    for lv in levels:
        scale, translation = [], []
        for letter in ngff_letters:
            size = float(physical.get(letter, (1.0, None))[0]) if letter != "c" else 1.0
            k = factor.get(letter, 1) ** lv.level if letter != "c" else 1
            scale.append(size * k)
            translation.append(size * (k - 1) / 2)
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(translation):
            transforms.append({"type": "translation", "translation": translation})
        datasets.append({"path": f"s{lv.level}", "coordinateTransformations": transforms})
    fmt = FormatV05() if version == "0.5" else FormatV04()
    write_multiscales_metadata(group, datasets, fmt=fmt, axes=axes, name=name or "poolcli")


def replace_store(tmp: Path, target: Path, force: bool) -> None:
    """Put the finished store in place: a rename, so a reader never sees half a pyramid."""
    if os.path.lexists(target):
        if not force:
            raise ImageError(f"{target}: already exists (force overwrites it)")
        old = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".poolcli-old", dir=target.parent)
        )
        os.replace(target, old / "store")
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise ImageError(f"{target}: cannot write: {err.strerror or err}") from None
