"""Multiscale OME-Zarr pyramids through Dask: :func:`write_pyramid` pools and stores each level
a chunk at a time; :func:`ome_zarr_pyramid` is ``poolcli pyramid -o out.ome.zarr``.

Level 0 is the input, level ``L`` equals :func:`poolcli.pool` of the input with windows of
``factor**L`` cells (kernel = stride, no padding, the ragged edge dropped), each one Zarr array
``s0``, ``s1``, ... of one group, with the group's ``multiscales`` metadata
(:mod:`poolcli.io.omezarr` makes the store, the arrays and the metadata). With ``chain``
(:func:`poolcli.run.pyramid.chains`: max and min) a level pools the level before, read back from
the store (exact: the extreme of extremes); otherwise every level pools the input with its whole
window, because averages of rounded averages drift and a mode of modes is not the mode.

Everything goes through Dask: the input is cut in chunks (a ``.npy`` is memory-mapped and a TIFF
stack read a page per task, :func:`open_lazily`), each level's chunks are pooled and stored by
Dask tasks, so a volume larger than memory takes a few chunks per task on one machine, and the
tasks run on a Dask cluster when a ``distributed.Client`` is the default scheduler (the CLI's
``--scheduler``; the workers must reach the input and the store by the same path).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from poolcli.errors import UnsupportedError, WindowError
from poolcli.io import arrays, omezarr, tiffs
from poolcli.io.arrayfile import ArrayFile


def write_pyramid(
    x: Any,
    path: str | os.PathLike[str],
    mode: str,
    levels: int,
    factor: int | Sequence[int] = 2,
    *,
    axes: str,
    physical: Mapping[str, Sequence[Any]] | None = None,
    chunks: int | Sequence[int] | None = None,
    compress_level: int | None = None,
    version: str = "0.5",
    force: bool = False,
    name: str | None = None,
    on_level: Callable[[omezarr.Level], None] | None = None,
    chain: bool = False,
    **pool_kwargs: Any,
) -> list[omezarr.Level]:
    """Write an OME-Zarr multiscale pyramid of ``x``: levels 0 (``x``) to ``levels``.

    Parameters
    ----------
    x : numpy.ndarray or dask.array.Array
        The array as stored, its axes named by ``axes`` (``zyx``, ``yxc``, ``cyx``, ``tyx``...:
        2 or 3 of ``t z y x``, at most one ``c``). A NumPy array (a memory map too) is cut in
        chunks; a Dask array keeps its chunks.
    path : path
        The store, a folder (``out.ome.zarr``); written to a temporary folder beside it and
        renamed when complete.
    mode : str
        Pooling mode (``max``, ``avg``, ``mode``, ``sparse``, ...).
    levels : int
        Levels after the input, at least 1 and at most what the shape has room for.
    factor : int or tuple
        Window between levels per pooled axis (in the stored order of the pooled axes).
    physical : mapping, optional
        ``{letter: (size, unit)}``: the input's pixel size per pooled axis (default 1, no unit).
    chunks : int or tuple, optional
        Zarr chunk per pooled axis (default 64 per axis for volumes, 256 for planes); the
        channel axis is one chunk.
    compress_level : int, optional
        ``None``: Zarr's default codec (zstd); 0: uncompressed; 1-9: zstd at that level.
    version : str
        ``"0.5"`` (Zarr v3) or ``"0.4"`` (Zarr v2).
    force : bool
        Replace an existing store.
    on_level : callable, optional
        Called with each :class:`Level` when it is written.
    chain : bool
        Pool each level from the one before, read back from the store: exact for ``max`` and
        ``min`` only (:func:`poolcli.run.pyramid.chains` says when), and cheaper. Default:
        every level from the input.
    pool_kwargs
        For :func:`poolcli.pool` (``p``, ``threads``).

    Returns
    -------
    list of Level

    Raises
    ------
    WindowError
        More levels than fit, a bad factor. ``UnsupportedError``: axes OME-NGFF cannot hold.
    ImageError
        The store exists (without ``force``), its folder is missing, a write failed.
    """
    import dask
    import dask.array as da

    letters = axes.lower()
    omezarr.check_axes(letters)
    spatial = [i for i, a in enumerate(letters) if a != "c"]
    pool_letters = "".join(letters[i] for i in spatial) + ("c" if "c" in letters else "")
    to_pool = spatial + [i for i, a in enumerate(letters) if a == "c"]
    f = omezarr.level_factors(factor, len(spatial))
    sizes = [x.shape[i] for i in spatial]
    room = omezarr.max_levels(sizes, f)
    if levels < 1 or levels > room:
        raise WindowError(
            f"{levels} levels of factor {'x'.join(map(str, f))} do not fit a"
            f" {'x'.join(map(str, sizes))} array (at most {room})"
        )
    if version not in ("0.4", "0.5"):
        raise UnsupportedError(f"OME-NGFF version {version!r}: poolcli writes 0.4 or 0.5")
    zchunks = omezarr.zarr_chunks(chunks, len(spatial))
    target = Path(path)
    omezarr.check_target(target, force)

    # Work in the pooling layout (pooled axes first, channel last); store in NGFF order.
    if isinstance(x, da.Array):
        data = x.transpose(to_pool)
    else:
        data = da.from_array(
            _Chunks(x, to_pool), chunks=_input_chunks(zchunks, f, levels, x.shape, to_pool)
        )
    store_order = omezarr.ngff_order(pool_letters)
    ngff_letters = "".join(pool_letters[i] for i in store_order)
    # Dask's threads for this write only (its default pool would outlive the call, and worker
    # processes are forked only from a single-threaded process); a distributed Client set as
    # the default scheduler takes precedence over the pool.
    threads = pool_kwargs.get("threads") or os.cpu_count() or 1
    stack = contextlib.ExitStack()
    executor = stack.enter_context(ThreadPoolExecutor(threads))
    stack.enter_context(dask.config.set(pool=executor))
    done: list[omezarr.Level] = []
    tmp, group = omezarr.new_store(target, version)
    try:
        chained = chain
        previous = data
        for level in range(levels + 1):
            if level == 0:
                made, source, window = data, 0, (1,) * len(f)
            elif chained:
                made = _pool(previous, mode, f, pool_kwargs)
                source, window = level - 1, f
            else:
                window = tuple(k**level for k in f)
                made, source = _pool(data, mode, window, pool_kwargs), 0
            stored = made.transpose(store_order)
            array = _store(group, f"s{level}", stored, ngff_letters, zchunks, compress_level)
            if chained:  # the next level reads this one back, a chunk at a time
                previous = da.from_zarr(array).transpose(list(np.argsort(store_order)))
            info = omezarr.Level(level, tuple(int(n) for n in stored.shape), source, window)
            done.append(info)
            if on_level is not None:
                on_level(info)
        omezarr.write_metadata(group, ngff_letters, f, pool_letters, done, physical, version, name)
        omezarr.replace_store(tmp, target, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        stack.close()
    return done


class _Chunks:
    """A NumPy array (or a memory-mapped ``.npy``) for ``dask.array.from_array``, read a chunk at
    a time when a task asks: ``from_array`` copies a NumPy array whole, a memory map too (a
    512 MiB ``.npy`` took 525 MB more memory at once). A memory-mapped ``.npy`` pickles as its
    file name, so a cluster's worker maps the file itself instead of receiving it."""

    def __init__(self, array: Any, order: Sequence[int], path: str | None = None) -> None:
        if path is None and isinstance(array, np.memmap) and _whole_npy(array):
            path = os.fspath(array.filename)
        self._array, self._order, self._path = array, list(order), path
        self.shape = tuple(array.shape[i] for i in self._order)
        self.dtype, self.ndim = array.dtype, array.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(np.transpose(self._array, self._order)[key])

    def __reduce__(self) -> tuple[Any, ...]:
        if self._path is None:
            return _Chunks, (self._array, self._order)
        return _mapped, (self._path, self._order)


def _mapped(path: str, order: list[int]) -> _Chunks:
    return _Chunks(np.load(path, mmap_mode="r"), order, path)


def _whole_npy(array: np.memmap) -> bool:
    """Whether a memory map is a whole ``.npy`` file as ``np.load`` maps it (not a view of one)."""
    try:
        whole = np.load(array.filename, mmap_mode="r")
    except (OSError, ValueError, TypeError):
        return False
    return (
        whole.shape == array.shape and whole.dtype == array.dtype and whole.offset == array.offset
    )


def _input_chunks(
    zchunks: tuple[int, ...],
    f: tuple[int, ...],
    levels: int,
    shape: tuple[int, ...],
    to_pool: list[int],
) -> tuple[int, ...]:
    """Input chunks that are whole windows of the last level (no window across two chunks)."""
    spans = []
    for c, k in zip(zchunks, f, strict=True):
        block = k**levels
        spans.append(max(block, -(-c // block) * block))
    channels = [shape[i] for i in to_pool[len(f) :]]
    return (*spans, *channels)


def _pool(x: Any, mode: str, window: tuple[int, ...], kw: Mapping[str, Any]) -> Any:
    from poolcli.backends import pool

    # A tuple: pool counts the axes it pools by its length.
    return pool(x, mode, kernel_size=window, stride=window, **kw)


def _store(
    group: Any,
    name: str,
    level: Any,
    letters: str,
    zchunks: tuple[int, ...],
    compress_level: int | None,
) -> Any:
    """Create the level's Zarr array and store the Dask array in it, a task per Zarr chunk (so
    two tasks never write the same chunk)."""
    import dask.array as da

    array = omezarr.create_level(
        group, name, level.shape, level.dtype, letters, zchunks, compress_level
    )
    da.store(level.rechunk(array.chunks), array, lock=False, compute=True)
    return array


# --- OME-Zarr -------------------------------------------------------------------------------------


def ome_zarr_pyramid(
    source: str,
    target: str,
    mode: str,
    levels: int,
    factor: int | tuple[int, ...] = 2,
    *,
    name: str | None = None,
    axes: str | None = None,
    spatial: int | None = None,
    scheduler: str | None = None,
    read_kwargs: dict[str, Any] | None = None,
    on_level: Any = None,
    **options: Any,
) -> tuple[Any, list[Any]]:
    """Read ``source`` lazily and write its OME-Zarr pyramid to ``target``
    (:func:`poolcli.io.omezarr.write_pyramid`, ``options`` passed on), on the Dask cluster at
    ``scheduler`` when given; max and min levels are chained (:func:`chains`).

    The input is an array file opened lazily (:func:`poolcli.io.arrays.open_array_file`: a
    memory-mapped ``.npy``, a TIFF stack a page per task) or an image whose pixels are a plain
    array (grey, RGB(A), 16-bit, 32-bit, float, bilevel; not palettes). Returns the input
    (an :class:`~poolcli.io.arrayfile.ArrayFile`) and the levels written.

    Raises
    ------
    PoolError
        The input cannot be read, its axes told, the levels made or the store written.
    """
    from poolcli.run.pyramid import chains

    label = name or source
    if arrays.format_for_path(source) is not None:
        af = open_lazily(source, name=label, axes=axes, spatial=spatial)
    else:
        af = _image_array(source, label, axes, spatial, read_kwargs or {})
    if len(af.arrays) != 1:
        raise UnsupportedError(
            f"{label}: an OME-Zarr image holds one array, this file has {len(af.arrays)}"
        )
    physical = af.info.get("physical")

    def write() -> list[Any]:
        return write_pyramid(
            af.first,
            target,
            mode,
            levels,
            factor,
            axes=af.axes,
            physical=physical,
            chain=chains(mode),
            on_level=on_level,
            **options,
        )

    if scheduler is None:
        return af, write()
    from distributed import Client

    from poolcli.run.distributed import check_scheduler

    check_scheduler(scheduler)
    with Client(scheduler):  # the default scheduler of every Dask computation in the block
        return af, write()


def _image_array(
    source: str, label: str, axes: str | None, spatial: int | None, read_kwargs: dict[str, Any]
) -> Any:
    import numpy as np

    from poolcli.io import arrayfile, reading
    from poolcli.io.picture import image_dtype

    pic = reading.read_picture(source, name=label, **read_kwargs)
    frame = pic.frames[0]
    if frame.mode in ("P", "PA", "HSV", "LAB", "YCbCr", "CMYK") or pic.n_frames > 1:
        raise UnsupportedError(
            f"{label}: an OME-Zarr pyramid takes one plane of plain pixels, not a"
            f" {frame.mode} image of {pic.n_frames} frame(s)"
        )
    data = np.asarray(frame).astype(image_dtype(frame), copy=False)
    letters = arrayfile.resolve_axes(
        data.shape, label, axes=axes or ("yx" if data.ndim == 2 else "yxc"), spatial=spatial
    )
    return arrayfile.ArrayFile({"": data}, pic.format or "IMAGE", letters)


def open_lazily(
    path: str, *, name: str | None = None, axes: str | None = None, spatial: int | None = None
) -> ArrayFile:
    """An array file for chunk-by-chunk pooling: a ``.npy`` memory-mapped
    (:func:`poolcli.io.arrays.open_array_file`), a TIFF stack as a Dask array of its pages (one
    task reads one page, on a cluster's worker too), anything else read whole."""
    if arrays.format_for_path(path) == "TIFF":
        pages = tiffs.tiff_pages(path, name=name, axes=axes, spatial=spatial)
        if pages is not None:
            import dask
            import dask.array as da

            read = dask.delayed(tiffs.read_page, pure=True)
            count = int(np.prod(pages.shape[: len(pages.shape) - len(pages.page_shape)]))
            stack = da.stack(
                [
                    da.from_delayed(read(pages.path, i), pages.page_shape, pages.dtype)
                    for i in range(count)
                ]
            ).reshape(pages.shape)
            layout = pages.layout
            return ArrayFile({"": stack}, layout.format, layout.axes, layout.info)
    return arrays.open_array_file(path, name=name, axes=axes, spatial=spatial)
