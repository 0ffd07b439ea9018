"""One job: :func:`run_job` reads, pools and writes one file, timing each stage; a
:class:`~poolcli.errors.PoolError` or :class:`OSError` becomes an error record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from poolcli.core.cpus import threads_for
from poolcli.core.modes import MODES, resolve_mode
from poolcli.errors import ImageError, PoolError, WindowError
from poolcli.io import ahead
from poolcli.run.inputs import filesystem, is_url
from poolcli.run.plan import Job, Recipe, make_folder
from poolcli.run.records import PoolRecord, cause, describe, os_reason

if TYPE_CHECKING:
    from poolcli.io.arrayfile import ArrayFile
    from poolcli.io.commits import Commits
    from poolcli.io.picture import Picture


def run_job(
    job: Job,
    threads: int | None = None,
    then: Job | None = None,
    commits: Commits | None = None,
) -> PoolRecord:
    """Read, pool and write one file, timing each stage.

    Parameters
    ----------
    job : Job
    threads : int, optional
        Threads for the pooling (:func:`poolcli.pool`'s ``threads``) and the PNG encoder, at
        most (small images take fewer: :func:`poolcli.core.cpus.threads_for`); default: the
        CPU budget.
    then : Job, optional
        The job that comes next: its input is read ahead (:mod:`poolcli.io.ahead`) from the
        moment this one's is read, while this one is pooled and written.
    commits : Commits, optional
        Where the write of a local output is finished (``fsync``, rename:
        :mod:`poolcli.io.commits`), so the caller can start the next job meanwhile. The record
        is then complete only after :func:`settle`.

    Returns
    -------
    PoolRecord
        ``status`` ``"ok"``, or ``"error"`` with the cause: every :class:`PoolError` (unreadable
        input, window too large for this image, existing output, ...) and :class:`OSError`
        (fsspec I/O). Any other exception is a bug and propagates.
    """
    recipe = job.recipe
    name = job.name or job.source
    record = PoolRecord(name, output=job.output_name or job.target, mode=recipe.mode)
    record.note = job.note
    record.window, record.index = recipe.window, job.index

    def read() -> Picture | ArrayFile:
        try:
            return _read(job.source, name, recipe)
        finally:
            if then is not None and not is_url(then.source):
                ahead.start(then.source, then.recipe.read_kwargs)

    pool_timed(
        record,
        read,
        lambda pic: _write(pic, job.target, recipe, threads, commits, job.folder),
        recipe,
        threads,
    )
    return _spelled(job, record)


def settle(job: Job, record: PoolRecord, commits: Commits) -> PoolRecord:
    """Wait for the commit of ``job``'s output (see :func:`run_job`); its failure (the disk is
    full, the name was taken meanwhile) makes ``record`` an error record."""
    try:
        commits.wait(commit_key(job))
    except PoolError as err:
        record.status, record.error = "error", cause(err, record.input)
        _spelled(job, record)
    return record


def commit_key(job: Job) -> str:
    """The key of ``job``'s output in :class:`~poolcli.io.commits.Commits`."""
    return os.fspath(job.target)


def _spelled(job: Job, record: PoolRecord) -> PoolRecord:
    if record.error and job.output_name and job.output_name != job.target:
        record.error = record.error.replace(job.target, job.output_name)  # the user's spelling
    return record


def pool_timed(
    record: PoolRecord,
    read: Callable[[], Picture | ArrayFile],
    write: Callable[[Any], object],
    recipe: Recipe,
    threads: int | None = None,
) -> PoolRecord:
    """Fill ``record`` by ``read()``, pooling by ``recipe`` and ``write(pooled)``, timing each.

    The steps of :func:`run_job`, for a caller with its own source and destination (the CLI's
    standard input and output). A :class:`PoolError` or :class:`OSError` ends it with
    ``record.status = "error"``; the record is returned.
    """
    from poolcli.io import arrayfile, arrays, pooling

    seconds = record.seconds
    try:
        start = time.perf_counter()
        pic = read()
        seconds.load = time.perf_counter() - start
        describe(record, pic)

        start = time.perf_counter()
        extra: dict[str, Any] = {}
        if threads is not None:  # at most that many; a small image is not worth more than one
            import numpy as np

            nbytes = int(np.prod(pic.shape)) * np.dtype(pic.dtype).itemsize
            extra["threads"] = threads_for(nbytes, threads, MODES[resolve_mode(recipe.mode)].cost)
        pooled: Any
        if isinstance(pic, arrayfile.ArrayFile):  # arrays and volumes: the NumPy core (any device)
            pooled = arrays.pool_array_file(pic, recipe.mode, **recipe.pool_kwargs, **extra)
        else:
            if recipe.spatial == 3:
                raise ImageError(
                    f"{record.input}: an image pools 2 axes, not the 3 of this window; volumes"
                    " are .npy, .npz and TIFF stacks"
                )
            if recipe.device is not None:  # pooled by the torch backend on that device
                extra["device"] = recipe.device
            pooled = pooling.pool_picture(pic, recipe.mode, **recipe.pool_kwargs, **extra)
        seconds.pool = time.perf_counter() - start
        record.output_shape = pooled.shape
        del pic  # the decoded input is not needed while encoding: it is most of the peak memory

        start = time.perf_counter()
        write(pooled)
        seconds.save = time.perf_counter() - start
        # a PNG being decoded is pooled as it is written: that time is the pooling's
        later = min(pooled.pooled_later, seconds.save)
        seconds.pool += later
        seconds.save -= later
    except PoolError as err:
        record.status, record.error = "error", error_text(err, record, recipe)
    except OSError as err:  # fsspec's I/O; local files report through ImageError
        record.status, record.error = "error", os_reason(err)
    return record


_WINDOW_KEYS = ("kernel_size", "stride", "padding", "dilation", "output_size")


def error_text(err: PoolError, record: PoolRecord, recipe: Recipe) -> str:
    """The record's error for ``err``: its cause, and for a window that does not fit this image
    but would with ``--ceil`` (a 1-pixel-wide image, 2x2 windows), that it would."""
    text = cause(err, record.input)
    if isinstance(err, WindowError) and _ceil_would_pool(record, recipe):
        text += "; --ceil pools it"
    return text


def _ceil_would_pool(record: PoolRecord, recipe: Recipe) -> bool:
    """Whether the window that did not fit this image fits it with ``ceil_mode`` (a 1-pixel
    image with 2x2 windows: one output), so that the error can say so."""
    from poolcli.core.pool import output_shape

    kw = recipe.pool_kwargs
    shape = record.input_shape
    if kw.get("ceil_mode") or kw.get("output_size") is not None or shape is None:
        return False
    if record.axes is not None or recipe.spatial == 3:  # array files: their own axes
        return False
    try:
        output_shape(
            tuple(shape[:2]), ceil_mode=True, **{k: kw[k] for k in _WINDOW_KEYS if k in kw}
        )
    except PoolError:
        return False
    return True


def _read(source: str, name: str, recipe: Recipe) -> Picture | ArrayFile:
    from poolcli.io import arrays, reading

    read_kwargs = recipe.read_kwargs
    as_array = arrays.takes(source, recipe.spatial, recipe.axes)
    if not is_url(source):
        if as_array:
            return arrays.read_array_file(
                source, name=name, axes=recipe.axes, spatial=recipe.spatial
            )
        pic = ahead.take(source, read_kwargs, name=name)
        if pic is not None:
            return pic
        return reading.read_picture(source, name=name, **read_kwargs)
    fs, path = filesystem(source)
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    if as_array:
        fmt = arrays.format_for_path(path)
        return arrays.read_array_file(
            data, name=name, format=fmt, axes=recipe.axes, spatial=recipe.spatial
        )
    return reading.read_picture(data, name=name, **read_kwargs)


def _write(
    pic: Picture | ArrayFile,
    target: str,
    recipe: Recipe,
    threads: int | None = None,
    commits: Commits | None = None,
    folder: str | None = None,
) -> None:
    from poolcli.io import arrayfile, arrays, formats, writing

    if isinstance(pic, arrayfile.ArrayFile):
        fmt = arrays.format_of(recipe.format) if recipe.format else None
        if not is_url(target):
            if folder is not None:
                make_folder(folder)
            arrays.write_array_file(pic, target, format=fmt, force=recipe.force)
            return
        fs, path = filesystem(target)
        data = arrays.encode_array_file(pic, fmt or arrays.format_for_path(path))
    else:
        encoding = {
            "quality": recipe.quality,
            "compress_level": recipe.compress_level,
            "threads": threads,
        }
        if not is_url(target):
            writing.write_picture(
                pic,
                target,
                format=recipe.format,
                force=recipe.force,
                commits=commits,
                parents=folder is not None,  # made once the picture is encoded, not before
                **encoding,
            )
            return
        fs, path = filesystem(target)
        fmt = recipe.format or formats.format_for_path(path)
        data = writing.encode_picture(pic, fmt, **encoding)
    if folder is not None:
        make_folder(folder)
    if not recipe.force and fs.exists(path):
        raise ImageError(f"{target}: already exists (force overwrites it)")
    fs.pipe_file(path, data)


Outcome = tuple[Job, PoolRecord]


def failed(job: Job, why: str) -> PoolRecord:
    recipe = job.recipe
    return PoolRecord(
        job.name or job.source,
        output=job.output_name or job.target,
        status="error",
        error=why,
        mode=recipe.mode,
        window=recipe.window,
        index=job.index,
    )
