"""Many files: find the inputs, plan the outputs, pool them in parallel, resumably.

The command line's pooling commands are wiring around this module; a Python user gets the same
runs with three calls::

    sources = expand_inputs(["photos/"], recursive=True)
    plan = make_plan(sources, Recipe("max", {"kernel_size": 2}), out_dir="small")
    plan.prepare()                                   # output folders, stale temporary files
    for job, record in run(plan.jobs, workers=4):    # records as the files finish
        ...

How it is organised, and why:

* **Inputs** (:func:`expand_inputs`): a file is itself; a folder stands for the image files
  directly in it, with ``recursive`` for those in its subfolders too; a pattern (``*``, ``?``,
  ``[...]``, and ``**`` for any depth) is expanded here, so a quoted pattern reaches past the
  shell's argument limit. An input that exists is never read as a pattern. Hidden files and
  folders are left out; the order is sorted, so every run sees the same list.
* **Outputs** (:func:`make_plan`): the name template beside each input, or under ``out_dir``
  mirroring the folder or pattern the input was found in. Two inputs mapping to one output is a
  :class:`PlanError` before anything starts: a rerun must not depend on which one finished first.
  A file found in a folder or by a pattern whose name is an output of this same run is taken for
  the output of an earlier run, not for an input, so rerunning on a folder never pools outputs.
* **Resume**: writes are atomic (:func:`poolcli.images.write_picture`: a temporary file renamed
  when complete), so an output that exists is complete and ``skip_existing`` trusts it. A run
  that is killed outright (SIGKILL) can leave a temporary file; :meth:`Plan.prepare` removes
  those of the run's own outputs before it starts (two runs writing the same outputs at the same
  time are not supported).
* **Work** (:func:`run`): a :class:`Job` is plain data and :func:`run_job` reads, pools and writes
  it, timing each stage; a :class:`~poolcli.errors.PoolError` or :class:`OSError` becomes an error
  record, anything else is a bug and propagates with its traceback (also from a worker process
  or a Dask worker). Jobs run in this process (one worker), in worker processes with
  single-threaded pooling and encoding so the processes do not fight over the cores, or on a
  Dask ``distributed`` cluster. Worker processes are forked from this one on Linux when it runs
  no other thread (no second interpreter to start: 0.17 s less per run, measured), else started
  by the ``forkserver`` method (``spawn`` where there is none).
* **Stopping**: closing the iterator that :func:`run` returns (a ``break``, an exception such as
  ``KeyboardInterrupt``, or :class:`Terminated` from :func:`terminate_on_sigterm`) cancels what
  has not started and stops the worker processes with SIGTERM; each one unwinds the file it was
  writing, so no temporary file remains. A worker whose parent died (SIGKILL) notices and stops
  too. Dask tasks already running finish their file (atomically) on the cluster.

fsspec URLs (``s3://bucket/a.png``, ``memory://x``) work as inputs, patterns, folders and
``out_dir`` when fsspec is installed; a URL output is written in one ``pipe_file`` call (atomic on
object stores) and ``skip_existing`` trusts its existence.

Nothing here prints, and neither Typer nor Rich is imported; NumPy and Pillow are imported when
the first file is pooled.
"""

from __future__ import annotations

import contextlib
import glob
import os
import posixpath
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from poolcli import ahead
from poolcli.errors import ImageError, PoolError

if TYPE_CHECKING:
    from concurrent.futures import Future
    from multiprocessing.connection import Connection

    from poolcli.images import Picture

__all__ = [
    "DEFAULT_NAME",
    "Job",
    "Plan",
    "PlanError",
    "PoolRecord",
    "Recipe",
    "Seconds",
    "Source",
    "Terminated",
    "expand_inputs",
    "make_plan",
    "output_name",
    "remove_stale_temps",
    "run",
    "run_job",
    "terminate_on_sigterm",
]

DEFAULT_NAME = "{stem}_{mode}{stride}{ext}"
# images.write_picture writes to ``.<name>.<8 random chars>.poolcli-tmp`` beside ``<name>``.
_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.poolcli-tmp")
_MAGIC = re.compile(r"[*?[]")
# SIGTERM's conventional exit status: 128 + signal number.
_TERM_STATUS = 128 + signal.SIGTERM


class PlanError(PoolError):
    """The inputs and options cannot make a consistent run (two inputs, one output)."""


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM (see :func:`terminate_on_sigterm`).

    A :class:`SystemExit`, so an unhandled one ends the process with status 143 and no traceback,
    after every ``finally`` and ``with`` block on the way has run.
    """

    def __init__(self) -> None:
        super().__init__(_TERM_STATUS)


# --- records --------------------------------------------------------------------------------------


@dataclass
class Seconds:
    """Wall-clock seconds per stage; ``None`` for a stage the input never reached.

    ``load`` is how long the job waited for its decoded input: less than the decoding took when
    the input was read ahead (:mod:`poolcli.ahead`) while poolcli did something else. A plain
    PNG read ahead is pooled while its rows are decoded (:mod:`poolcli.pngrows`), and written
    as they are pooled: its ``load`` is only the wait for Pillow's check of the file, ``pool``
    the wait for decoded rows and their pooling, ``save`` the rest of the writing.
    """

    load: float | None = None
    pool: float | None = None
    save: float | None = None


@dataclass
class PoolRecord:
    """One input of a pooling run.

    ``status`` is ``"ok"``, ``"error"`` (``error`` says why, in one line without the input's name)
    or ``"skipped"`` (its output existed). Shapes are ``(H, W, C)`` of the first frame.
    """

    input: str
    output: str | None = None
    status: str = "ok"
    error: str | None = None
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    image_mode: str | None = None
    dtype: str | None = None
    frames: int | None = None
    mode: str | None = None
    window: str | None = None
    seconds: Seconds = field(default_factory=Seconds)


def describe(record: Any, pic: Picture) -> None:
    """Fill in a record's ``input_shape``, ``image_mode``, ``dtype`` and ``frames``."""
    record.input_shape, record.image_mode = pic.shape, pic.mode
    record.dtype, record.frames = pic.dtype, pic.n_frames


def shape_of(image: Any) -> tuple[int, int, int]:
    """``(H, W, C)`` of a Pillow image, as NumPy sees it."""
    width, height = image.size
    return height, width, len(image.getbands())


def cause(err: BaseException, name: str) -> str:
    """The one-line message of ``err`` without a leading ``name: `` (an error line adds it once).

    >>> cause(ImageError("a.png: not an image"), "a.png")
    'not an image'
    """
    text = " ".join(str(err).split()) or type(err).__name__
    return text.removeprefix(f"{name}: ")


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
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
    for arg in args:
        for source in _expand(arg, recursive):
            key = source.path if source.error or _is_url(source.path) else _key(source.path)
            if key not in seen:
                seen.add(key)
                sources.append(source)
    return sources


def _expand(arg: str, recursive: bool) -> Iterator[Source]:
    if _is_url(arg):
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
            elif _is_image_name(match):
                yield Source(match, base)


def _walk(folder: str, recursive: bool, base: str | None = None) -> Iterator[Source]:
    found = False
    try:
        for parent, dirs, files in os.walk(folder, onerror=_raise):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
            for name in sorted(files):
                if not name.startswith(".") and _is_image_name(name):
                    found = True
                    yield Source(os.path.join(parent, name), base or folder)
    except OSError as err:
        yield Source(folder, error=f"cannot list: {_reason(err)}")
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
    """Whether the suffix is one Pillow reads (``.png``, ``.JPG``, ``.tif``, ...)."""
    global _IMAGE_SUFFIXES
    if _IMAGE_SUFFIXES is None:
        from PIL import Image

        extensions = Image.registered_extensions()  # loads every plugin once
        _IMAGE_SUFFIXES = frozenset(ext for ext, fmt in extensions.items() if fmt in Image.OPEN)
    return os.path.splitext(name)[1].lower() in _IMAGE_SUFFIXES


def _key(path: str) -> str:
    """One spelling per file for comparisons (not symlinks to files: those are other names)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.normcase(os.path.join(os.path.realpath(folder), name))


# --- fsspec URLs ----------------------------------------------------------------------------------


def _is_url(path: str) -> bool:
    return "://" in path


def _filesystem(url: str) -> tuple[Any, str]:
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
        fs, path = _filesystem(url)
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


# --- outputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What every input of a run goes through: the pooling and the encoding of the output.

    ``window`` only labels the records (e.g. ``"k2 s2"``); ``pool_kwargs`` is what
    :func:`poolcli.images.pool_picture` gets; ``read_kwargs`` what
    :func:`poolcli.images.read_picture` gets (``max_pixels``).
    """

    mode: str
    pool_kwargs: Mapping[str, Any] = field(default_factory=dict)
    window: str | None = None
    read_kwargs: Mapping[str, Any] = field(default_factory=dict)
    format: str | None = None
    quality: int | None = None
    compress_level: int | None = None
    force: bool = False


@dataclass(frozen=True)
class Job:
    """One file to pool: read ``source``, pool by ``recipe``, write ``target``.

    Plain data, so it travels to worker processes and Dask workers. ``name`` and ``output_name``
    are how the record names the files (as the user spelled them); ``index`` is the input's
    position in the run, ``size`` its bytes when known (see :func:`workers_for`).
    """

    source: str
    target: str
    recipe: Recipe
    name: str = ""
    output_name: str = ""
    index: int = 0
    size: int | None = None  # bytes of the input file, when known


def output_name(source: str, template: str = DEFAULT_NAME, **fields: str) -> str:
    """The output file name of ``source``: ``template`` with ``{stem}`` and ``{ext}`` filled in.

    ``fields`` fill the others (``mode``, ``stride``, ...); an ``ext`` among them (the output
    format's suffix) replaces the input's.

    >>> output_name("photos/cat.jpg", mode="max", stride="2")
    'cat_max2.jpg'
    >>> output_name("cat.jpg", "{stem}.{mode}{ext}", mode="avg", ext=".png")
    'cat.avg.png'
    """
    name = posixpath.basename(source) if _is_url(source) else os.path.basename(source)
    stem, ext = os.path.splitext(name)
    return template.format(**{"stem": stem, "ext": ext, **fields})


@dataclass
class Plan:
    """What a run will do: ``jobs`` to run and ``done``, inputs settled before starting
    (skipped because the output exists, or failed: an input that cannot be written), each with
    its position among the inputs."""

    jobs: list[Job]
    done: list[tuple[int, PoolRecord]]
    targets: list[str]  # every output of the run, written or skipped
    folders: list[str] = field(default_factory=list)  # to create: out_dir and its subfolders

    @property
    def total(self) -> int:
        """The inputs of the run: jobs and settled ones."""
        return len(self.jobs) + len(self.done)

    def prepare(self) -> list[str]:
        """Create the output folder and the subfolders that mirror the inputs' folders, and
        remove stale temporary files of every output; the temporary files removed.

        Raises
        ------
        ImageError
            A folder that cannot be created.
        """
        for folder in self.folders:
            try:
                if _is_url(folder):
                    fs, path = _filesystem(folder)
                    fs.makedirs(path, exist_ok=True)
                elif folder:
                    os.makedirs(folder, exist_ok=True)
            except OSError as err:
                raise ImageError(f"{folder}: cannot create: {_reason(err)}") from None
        return remove_stale_temps(self.targets)


def make_plan(
    sources: Sequence[Source],
    recipe: Recipe,
    *,
    template: str = DEFAULT_NAME,
    fields: Mapping[str, str] | None = None,
    out_dir: str | None = None,
    output: str | None = None,
    skip_existing: bool = False,
) -> Plan:
    """Decide each input's output and what to do with it.

    Parameters
    ----------
    sources : sequence of Source
        From :func:`expand_inputs`.
    recipe : Recipe
        ``recipe.force`` allows replacing existing outputs; ``recipe.format`` sets ``{ext}``.
    template, fields
        Output names (:func:`output_name`).
    out_dir : str, optional
        Folder (or fsspec URL) for the outputs, mirroring the folders the inputs were found in;
        default: beside each input.
    output : str, optional
        The output of the single input.
    skip_existing : bool
        An input whose output exists is ``"skipped"`` instead of an error.

    Returns
    -------
    Plan

    Raises
    ------
    PlanError
        Two inputs with the same output; ``output`` with several inputs; ``skip_existing`` with
        ``recipe.force``.

    Examples
    --------
    >>> import pathlib
    >>> plan = make_plan([Source("in/a.png"), Source("in/b.tif")], Recipe("max"),
    ...                  fields={"mode": "max", "stride": "2"}, out_dir="out")
    >>> [pathlib.Path(job.output_name).as_posix() for job in plan.jobs]
    ['out/a_max2.png', 'out/b_max2.tif']
    """
    if skip_existing and recipe.force:
        raise PlanError("skip_existing and force exclude each other")
    if output is not None and len(sources) != 1:
        raise PlanError(f"one output names one input, not {len(sources)}")
    fields = dict(fields or {})
    if recipe.format is not None:
        fields["ext"] = "." + recipe.format.lower().lstrip(".")
    done: list[tuple[int, PoolRecord]] = []
    planned: list[tuple[int, Source, str]] = []

    def record(source: Source, **kwargs: Any) -> PoolRecord:
        return PoolRecord(source.path, mode=recipe.mode, window=recipe.window, **kwargs)

    for i, source in enumerate(sources):
        if source.error is not None:
            done.append((i, record(source, status="error", error=source.error)))
            continue
        if output is not None:
            target = output
        else:
            name = output_name(source.path, template, **fields)
            if out_dir is None:
                target = _join(_parent(source.path), name)
            else:
                target = _join(out_dir, _relative_folder(source), name)
        planned.append((i, source, target))

    # A file found in a folder under the name of one of this run's outputs is the output of an
    # earlier run: pooling it again would make a rerun differ from the first run.
    target_keys = {_target_key(t) for _, _, t in planned}
    kept = [p for p in planned if p[1].named or _target_key(p[1].path) not in target_keys]
    _check_clashes(kept)

    stats = {s.path: _stat(s.path) for _, s, _ in kept}
    inputs = {(st.st_dev, st.st_ino) for st in stats.values() if st is not None}
    jobs = []
    for i, source, target in kept:
        exists, file_id = _exists(target)
        if file_id is not None and file_id in inputs:
            error = f"output {target} is an input; not writing over it"
            done.append((i, record(source, output=target, status="error", error=error)))
        elif exists and skip_existing:
            done.append((i, record(source, output=target, status="skipped")))
        elif exists and not recipe.force:
            error = f"output {target} exists (use --force to overwrite, or --skip-existing)"
            done.append((i, record(source, output=target, status="error", error=error)))
        else:
            job_target = target if _is_url(target) else os.path.abspath(target)
            st = stats[source.path]
            size = None if st is None else st.st_size
            jobs.append(Job(source.path, job_target, recipe, source.path, target, i, size))
    done.sort(key=lambda pair: pair[0])
    folders = []
    if out_dir is not None:  # beside the inputs, or -o: the folder must exist already
        folders = sorted({out_dir, *(_parent(job.output_name) for job in jobs)})
    return Plan(jobs, done, [t for _, _, t in kept], folders)


def _check_clashes(planned: Sequence[tuple[int, Source, str]]) -> None:
    by_target: dict[str, list[tuple[Source, str]]] = {}
    for _, source, target in planned:
        by_target.setdefault(_target_key(target), []).append((source, target))
    clashes = [group for group in by_target.values() if len(group) > 1]
    if clashes:
        (first, target), (second, _) = clashes[0][:2]
        more = sum(len(g) - 1 for g in clashes) - 1
        tail = f" (and {more} more)" if more else ""
        raise PlanError(
            f"{first.path} and {second.path} would both be written to {target}{tail};"
            " put {ext} in the name, or choose another folder"
        )


def _relative_folder(source: Source) -> str:
    if source.base is None:
        return ""
    if _is_url(source.path):
        rel = posixpath.relpath(source.path.split("://", 1)[1], source.base.split("://", 1)[1])
        return posixpath.dirname(rel)
    return os.path.dirname(os.path.relpath(source.path, source.base))


def _parent(path: str) -> str:
    return posixpath.dirname(path) if _is_url(path) else os.path.dirname(path)


def _join(folder: str, *parts: str) -> str:
    parts = tuple(p for p in parts if p)
    if _is_url(folder):
        return posixpath.join(folder, *parts)
    return os.path.join(folder, *parts) if folder else os.path.join(*parts)


def _target_key(path: str) -> str:
    return path if _is_url(path) else _key(path)


def _stat(path: str) -> os.stat_result | None:
    if _is_url(path):
        return None
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _file_id(path: str) -> tuple[int, int] | None:
    st = _stat(path)
    return None if st is None else (st.st_dev, st.st_ino)


def _exists(path: str) -> tuple[bool, tuple[int, int] | None]:
    """Whether ``path`` exists, and its file id when it is a local file."""
    if _is_url(path):
        try:
            fs, inner = _filesystem(path)
            return bool(fs.exists(inner)), None
        except (PoolError, OSError):
            return False, None  # writing it will say what is wrong
    file_id = _file_id(path)
    return file_id is not None or os.path.lexists(path), file_id


def remove_stale_temps(targets: Iterable[str]) -> list[str]:
    """Remove the temporary files that a killed run left beside these outputs; the paths removed.

    :func:`poolcli.images.write_picture` writes ``.<name>.<random>.poolcli-tmp`` and renames it
    to ``<name>`` when complete, removing it on any error: only a process killed outright (or a
    power cut) leaves one behind. Only local folders are looked at.
    """
    wanted: dict[str, set[str]] = {}
    for target in targets:
        if not _is_url(target):
            folder, name = os.path.split(target)
            wanted.setdefault(folder or ".", set()).add(name)
    removed = []
    for folder, names in wanted.items():
        try:
            entries = [e.name for e in os.scandir(folder) if e.name.endswith(".poolcli-tmp")]
        except OSError:  # a folder not made yet has no temporary file
            continue
        for entry in entries:
            m = _TEMP.fullmatch(entry)
            if m and m["name"] in names:
                path = os.path.join(folder, entry)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed.append(path)
    return removed


# --- one job --------------------------------------------------------------------------------------


def run_job(job: Job, threads: int | None = None, then: Job | None = None) -> PoolRecord:
    """Read, pool and write one file, timing each stage.

    Parameters
    ----------
    job : Job
    threads : int, optional
        Threads for the pooling (:func:`poolcli.pool`'s ``threads``) and the PNG encoder;
        default: one per CPU for large images.
    then : Job, optional
        The job that comes next: its input is read ahead (:mod:`poolcli.ahead`) from the
        moment this one's is read, while this one is pooled and written.

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
    record.window = recipe.window

    def read() -> Picture:
        try:
            return _read(job.source, name, recipe.read_kwargs)
        finally:
            if then is not None and not _is_url(then.source):
                ahead.start(then.source, then.recipe.read_kwargs)

    pool_timed(
        record,
        read,
        lambda pic: _write(pic, job.target, recipe, threads),
        recipe,
        threads,
    )
    if record.error and job.output_name and job.output_name != job.target:
        record.error = record.error.replace(job.target, job.output_name)  # the user's spelling
    return record


def pool_timed(
    record: PoolRecord,
    read: Callable[[], Picture],
    write: Callable[[Picture], object],
    recipe: Recipe,
    threads: int | None = None,
) -> PoolRecord:
    """Fill ``record`` by ``read()``, pooling by ``recipe`` and ``write(pooled)``, timing each.

    The steps of :func:`run_job`, for a caller with its own source and destination (the CLI's
    standard input and output). A :class:`PoolError` or :class:`OSError` ends it with
    ``record.status = "error"``; the record is returned.
    """
    from poolcli import images

    seconds = record.seconds
    try:
        start = time.perf_counter()
        pic = read()
        seconds.load = time.perf_counter() - start
        describe(record, pic)

        start = time.perf_counter()
        extra = {} if threads is None else {"threads": threads}
        pooled = images.pool_picture(pic, recipe.mode, **recipe.pool_kwargs, **extra)
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
        record.status, record.error = "error", cause(err, record.input)
    except OSError as err:  # fsspec's I/O; local files report through ImageError
        record.status, record.error = "error", _reason(err)
    return record


def _read(source: str, name: str, read_kwargs: Mapping[str, Any]) -> Picture:
    from poolcli import images

    if not _is_url(source):
        pic = ahead.take(source, read_kwargs, name=name)
        if pic is not None:
            return pic
        return images.read_picture(source, name=name, **read_kwargs)
    fs, path = _filesystem(source)
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    return images.read_picture(data, name=name, **read_kwargs)


def _write(pic: Picture, target: str, recipe: Recipe, threads: int | None = None) -> None:
    from poolcli import images

    encoding = {
        "quality": recipe.quality,
        "compress_level": recipe.compress_level,
        "threads": threads,
    }
    if not _is_url(target):
        images.write_picture(pic, target, format=recipe.format, force=recipe.force, **encoding)
        return
    fs, path = _filesystem(target)
    fmt = recipe.format or images.format_for_path(path)
    data = images.encode_picture(pic, fmt, **encoding)
    if not recipe.force and fs.exists(path):
        raise ImageError(f"{target}: already exists (force overwrites it)")
    fs.pipe_file(path, data)


def _reason(err: OSError) -> str:
    text = err.strerror or " ".join(str(err).split()) or type(err).__name__
    return text[:1].lower() + text[1:]


# --- running many jobs ----------------------------------------------------------------------------

Outcome = tuple[Job, PoolRecord]


def run(
    jobs: Sequence[Job],
    *,
    workers: int = 1,
    threads: int | None = None,
    scheduler: str | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Outcome]:
    """Run ``jobs``, yielding ``(job, record)`` as each one finishes (not in order).

    Parameters
    ----------
    jobs : sequence of Job
    workers : int
        Processes to pool in. 1 (or a single job) runs here, in this process.
    threads : int, optional
        Pooling threads when the jobs run here (default: the core's own); worker processes pool
        on one thread each.
    scheduler : str, optional
        Address of a Dask ``distributed`` scheduler (``tcp://host:8786``): the jobs run on its
        workers, which must reach the inputs and outputs by the same paths (absolute paths are
        sent) or URLs. ``workers`` is then the cluster's business.
    preload : sequence of str
        More modules for worker processes to import once, before they are forked: those the
        main script imports (a worker imports the main script again, as ``__mp_main__``).

    Yields
    ------
    (Job, PoolRecord)

    Raises
    ------
    ImportError
        ``scheduler`` without ``distributed`` installed.
    OSError
        The scheduler cannot be reached.

    Notes
    -----
    Worker processes start when ``run`` is called, before the first outcome is asked for. Close
    the iterator (``contextlib.closing``) to stop early: jobs not started are cancelled,
    worker processes are stopped with SIGTERM and remove the file they were writing. When a
    worker process dies (killed, out of memory) the pool cannot go on: every job not finished
    yet gets an error record that says so.
    """
    if scheduler is not None:
        return _run_dask(jobs, scheduler)
    if workers <= 1 or len(jobs) <= 1:
        return _run_here(jobs, threads)
    results = _run_processes(jobs, min(workers, len(jobs)), [*_PRELOAD, *preload])
    # Its first step starts the processes now, not at the first result: a caller that starts a
    # thread meanwhile (a progress bar) does not keep them from being forked, and closing the
    # iterator at any point stops them.
    next(results)
    return cast(Iterator[Outcome], results)


# Work a worker process should have before it is worth starting: about a third of a second of
# decoding, pooling and encoding PNG on one core (benchmarks/bench_batch.py), its start-up cost.
PARALLEL_MIN_BYTES = 16 << 20


def workers_for(jobs: Sequence[Job], cores: int) -> int:
    """How many processes to pool ``jobs`` in, with ``cores`` to use: one per core, but only as
    many as have :data:`PARALLEL_MIN_BYTES` of input each (unknown sizes count as large).

    >>> small = [Job("a.png", "b.png", Recipe("max"), size=1000)] * 40
    >>> workers_for(small, 8), workers_for([replace(j, size=None) for j in small], 8)
    (1, 8)
    """
    if any(job.size is None for job in jobs):
        return max(1, min(cores, len(jobs)))
    total = sum(job.size or 0 for job in jobs)
    return max(1, min(cores, len(jobs), total // PARALLEL_MIN_BYTES))


def _run_here(jobs: Sequence[Job], threads: int | None) -> Iterator[Outcome]:
    for i, job in enumerate(jobs):
        yield job, run_job(job, threads, then=jobs[i + 1] if i + 1 < len(jobs) else None)


def start_worker_server(preload: Sequence[str] = ()) -> None:
    """Start the process that worker processes are forked from now, so that its start-up (a
    third of a second: Python, NumPy, Pillow) overlaps with the caller's own work.

    Optional: :func:`run` starts it when it is not running. Nothing happens where the workers
    are forked from this process itself (Linux, no other thread running), where there is no
    ``forkserver`` start method (Windows), or when the server runs already.
    """
    context = _context([*_PRELOAD, *preload])
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _context(preload: list[str]) -> Any:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and "fork" in methods and threading.active_count() == 1:
        # A fork copies only the calling thread: with no other thread there is no lock another
        # thread could hold. The workers start with what this process has imported.
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        # Workers are forked from one server that has imported these once, instead of each
        # starting Python and importing NumPy and Pillow (a third of a second, per worker).
        # A server already running keeps what it has.
        context.set_forkserver_preload(preload)
    return context


def _start_processes(workers: int, preload: list[str]) -> tuple[Any, tuple[Connection, ...]]:
    from concurrent.futures import ProcessPoolExecutor

    context = _context(preload)
    # The workers hold the reading end; when this process dies, even by SIGKILL, they read EOF.
    # They close their copy of the writing end (a forked worker inherits it).
    lifeline = context.Pipe(duplex=False)
    executor = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=lifeline
    )
    executor.submit(int)  # starts the processes (all of them, when forking)
    return executor, lifeline


def _run_processes(
    jobs: Sequence[Job], workers: int, preload: list[str]
) -> Iterator[Outcome | None]:
    """The jobs' outcomes as they finish, after one ``None`` once the processes have started."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    executor, lifeline = _start_processes(workers, preload)
    pending: dict[Future[PoolRecord], Job] = {}
    queue = iter(jobs)
    broken = clean = False
    try:
        yield None
        while True:
            # Only a few jobs queued ahead, so stopping early leaves little to cancel.
            while not broken and len(pending) < 2 * workers and (job := next(queue, None)):
                try:
                    pending[executor.submit(_work, job)] = job
                except BrokenProcessPool:
                    broken = True
                    yield job, _failed(job, "not started: a worker process died")
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    broken = True
                    record = _failed(job, "a worker process died (killed, or out of memory)")
                yield job, record
        for job in queue:  # left when the pool broke: nothing more can start in it
            yield job, _failed(job, "not started: a worker process died")
        clean = True
    finally:
        if clean:
            executor.shutdown(wait=True)
        else:
            _stop_workers(executor)
            # The workers remove what they were writing; a signal between creating the
            # temporary file and guarding it can still leave one: the workers are gone now.
            remove_stale_temps(job.target for job in pending.values())
        for end in lifeline:
            end.close()


_PRELOAD = ["poolcli.batch", "poolcli.images"]


def _failed(job: Job, why: str) -> PoolRecord:
    recipe = job.recipe
    return PoolRecord(
        job.name or job.source,
        output=job.output_name or job.target,
        status="error",
        error=why,
        mode=recipe.mode,
        window=recipe.window,
    )


def _stop_workers(executor: Any) -> None:
    """Cancel what has not started; SIGTERM the workers, which unwind the file they write."""
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():  # stuck in a C call that never returns: nothing left to save
            process.kill()
            process.join()


# In a worker process: ------------------------------------------------------------------------

_busy = False


def _init_worker(lifeline: Connection, parent_end: Connection) -> None:
    # Ctrl-C reaches the whole process group; the parent decides and sends SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    parent_end.close()  # else this worker itself would keep the pipe open after the parent dies
    threading.Thread(target=_watch_parent, args=(lifeline,), daemon=True).start()


def _on_sigterm(signum: int, frame: Any) -> None:
    # Once: a second SIGTERM (the pool sends one to every worker when it sees one die) must not
    # interrupt the unwinding that removes the temporary file.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _busy:
        raise Terminated()  # unwinds the job: a file being written is removed; _work exits
    os._exit(_TERM_STATUS)  # between jobs: nothing of ours to clean up


def _watch_parent(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()  # nothing is ever sent: this returns when the parent is gone
    os.kill(os.getpid(), signal.SIGTERM)


def _work(job: Job) -> PoolRecord:
    """:func:`run_job` in a worker process, on one thread (the other workers have the rest)."""
    global _busy
    try:
        _busy = True
        record = run_job(job, threads=1)
        _busy = False
        return record
    except Terminated:
        # The file being written has been removed on the way out. Leave now: the pool would
        # take the exception for the job's result and hand this worker another job.
        os._exit(_TERM_STATUS)


# --- Dask ---------------------------------------------------------------------------------------


def check_scheduler(address: str) -> None:
    """Check that ``address`` is a Dask scheduler address (``tcp://host:8786``, ``host:8786``),
    without connecting.

    Raises
    ------
    ImportError
        Dask's ``distributed`` is not installed.
    PlanError
        Not an address.
    """
    try:
        from distributed.comm import parse_address
        from distributed.comm.registry import get_backend
    except ImportError:
        raise ImportError("needs Dask's distributed: pip install 'poolcli[dask]'") from None
    try:
        get_backend(parse_address(address)[0])
    except ValueError as err:
        raise PlanError(f"{address}: {cause(err, address)}") from None


def _run_dask(jobs: Sequence[Job], address: str) -> Iterator[Outcome]:
    from distributed import Client

    check_scheduler(address)
    # Connect now, so a wrong address is an error of run() itself, not of its first result.
    client = Client(address, set_as_default=False)
    return _dask_results(client, jobs)


def _dask_results(client: Any, jobs: Sequence[Job]) -> Iterator[Outcome]:
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    futures: dict[Any, Job] = {}
    clean = False
    try:
        for job in jobs:
            # Workers have their own working folder: give them absolute paths.
            remote = replace(job, source=_absolute(job.source), target=_absolute(job.target))
            futures[client.submit(run_job, remote, 1, pure=False)] = job
        for future in as_completed(futures, loop=client.loop):
            job = futures[future]
            try:
                record = future.result()
            except KilledWorker:
                record = _failed(job, "the Dask worker running it died (killed, or out of memory)")
            except FutureCancelledError:
                record = _failed(job, "cancelled on the cluster")
            yield job, record
        clean = True
    finally:
        if not clean:
            client.cancel(list(futures))
        client.close()


def _absolute(path: str) -> str:
    return path if _is_url(path) else os.path.abspath(path)


# --- signals ------------------------------------------------------------------------------------


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    So a ``kill`` unwinds like Ctrl-C: :func:`run`'s iterator stops its workers, an atomic write
    removes its temporary file, and the process exits with status 143. Does nothing outside the
    main thread (signal handlers live there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def cpu_count() -> int:
    """CPUs this process may run on (a container's or ``taskset``'s limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
