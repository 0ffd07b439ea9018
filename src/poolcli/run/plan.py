"""Planning a run: the output of every input (:func:`make_plan`), the :class:`Job` of each,
stale temporary files removed; :class:`Recipe` is what every job does."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from poolcli.errors import ImageError, PoolError

if TYPE_CHECKING:
    pass
from poolcli.run.inputs import Source, filesystem, is_url, path_key
from poolcli.run.records import PoolRecord, os_reason

__all__ = [
    "DEFAULT_NAME",
    "ClashError",
    "Job",
    "Plan",
    "PlanError",
    "Recipe",
    "check_template",
    "make_plan",
    "output_name",
    "remove_stale_temps",
]

DEFAULT_NAME = "{stem}_{mode}{stride}{ext}"
# writing.write_picture writes to ``.<name>.<8 random chars>.poolcli-tmp`` beside ``<name>``.
_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.poolcli-tmp")


class PlanError(PoolError):
    """The inputs and options cannot make a consistent run (two inputs, one output)."""


class ClashError(PlanError):
    """Two inputs would be written to one output. ``first`` and ``second`` are the inputs,
    ``target`` the output, ``more`` how many other clashes there are, and ``why`` what the two
    have in common that the output name does not tell apart:

    * ``"folder"``: the same file name, from different folders (an output folder for all of them
      flattens the folders that were named, not found by a walk);
    * ``"suffix"``: the same stem, different suffixes, and no ``{ext}`` in the name or one
      format for every output;
    * ``"name"``: different names, and the name template does not use ``{stem}``.
    """

    def __init__(self, first: str, second: str, target: str, more: int, why: str) -> None:
        tail = f" (and {more} more)" if more else ""
        super().__init__(f"{first} and {second} would both be written to {target}{tail}")
        self.first, self.second, self.target, self.more, self.why = first, second, target, more, why


# --- outputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What every input of a run goes through: the pooling and the encoding of the output.

    ``window`` only labels the records (e.g. ``"k2 s2"``); ``pool_kwargs`` is what
    :func:`poolcli.io.pooling.pool_picture` gets; ``read_kwargs`` what
    :func:`poolcli.io.reading.read_picture` gets (``max_pixels``). ``axes`` and ``spatial``
    decide whether a file is read as an array file and which of its axes are pooled
    (:func:`poolcli.io.arrays.takes`, :func:`poolcli.io.arrayfile.resolve_axes`). ``device`` is the
    torch device images are pooled on (:func:`poolcli.pool`'s ``device``), ``None`` for the
    NumPy core.
    """

    mode: str
    pool_kwargs: Mapping[str, Any] = field(default_factory=dict)
    window: str | None = None
    read_kwargs: Mapping[str, Any] = field(default_factory=dict)
    format: str | None = None
    quality: int | None = None
    compress_level: int | None = None
    force: bool = False
    axes: str | None = None  # --axes: what each stored axis of an array file is
    spatial: int | None = None  # how many axes the window pools, when its sizes say
    device: str | None = None


@dataclass(frozen=True, slots=True)
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
    folder: str | None = None  # made (with its parents) once the output is encoded
    note: str | None = None  # the output's format is not the input's (see make_plan)


def output_name(source: str, template: str = DEFAULT_NAME, **fields: str) -> str:
    """The output file name of ``source``: ``template`` with ``{stem}`` and ``{ext}`` filled in.

    ``fields`` fill the others (``mode``, ``stride``, ...); an ``ext`` among them (the output
    format's suffix) replaces the input's.

    >>> output_name("photos/cat.jpg", mode="max", stride="2")
    'cat_max2.jpg'
    >>> output_name("cat.jpg", "{stem}.{mode}{ext}", mode="avg", ext=".png")
    'cat.avg.png'
    """
    name = posixpath.basename(source) if is_url(source) else os.path.basename(source)
    stem, ext = os.path.splitext(name)
    return template.format(**{"stem": stem, "ext": ext, **fields})


def check_template(template: str, fields: Iterable[str]) -> None:
    """Check that ``template`` is a name :func:`output_name` can fill from ``{stem}``, ``{ext}``
    and ``fields``.

    Raises
    ------
    PlanError
        One line: the unknown field or the unmatched brace, and the fields there are.

    >>> check_template("{stem}-{mode}{ext}", ["mode"])
    >>> check_template("{nope}", ["mode"])
    Traceback (most recent call last):
    poolcli.run.plan.PlanError: unknown field {nope}; the fields are {stem} {ext} {mode}
    """
    names = ["stem", "ext", *fields]
    known = "the fields are " + " ".join(f"{{{name}}}" for name in names)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise PlanError(
            f"unmatched {{ or }} in {template!r} (write {{{{ or }}}} for a brace itself); {known}"
        ) from None
    for _, field_name, _, _ in parsed:
        if field_name is not None and re.split(r"[.\[]", field_name)[0] not in names:
            raise PlanError(f"unknown field {{{field_name}}}; {known}")
    try:
        template.format(**{name: "x" for name in names})
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as err:
        # a format spec or conversion a name cannot take: {stem:d}, {stem!z}, {stem.real}
        raise PlanError(f"{template!r}: {err}; {known}") from None


@dataclass
class Plan:
    """What a run will do: ``jobs`` to run and ``done``, inputs settled before starting
    (skipped because the output exists, or failed: an input that cannot be written), each with
    its position among the inputs."""

    jobs: list[Job]
    done: list[tuple[int, PoolRecord]]
    targets: list[str]  # every output of the run, written or skipped
    folders: list[str] = field(default_factory=list)  # out_dir and its subfolders, made lazily

    @property
    def total(self) -> int:
        """The inputs of the run: jobs and settled ones."""
        return len(self.jobs) + len(self.done)

    def prepare(self) -> list[str]:
        """Check that the output folders can be made, and remove stale temporary files of every
        output; the temporary files removed.

        The folders themselves are made by each job just before it writes its output
        (:attr:`Job.folder`), so a run that writes nothing leaves no empty folder behind.

        Raises
        ------
        ImageError
            A folder that cannot be made: a file is in the way, or a folder above it cannot be
            written to.
        """
        for folder in self.folders:
            if folder and not is_url(folder):
                why = _cannot_make(folder)
                if why is not None:
                    raise ImageError(f"{folder}: cannot create: {why}")
        return remove_stale_temps(self.targets)


def _cannot_make(folder: str) -> str | None:
    """Why ``folder`` cannot be made (``None``: it exists, or it can be), without making it."""
    path = os.path.abspath(folder)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        return f"{path} is not a folder"
    if path != os.path.abspath(folder) and not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    return None


def make_folder(folder: str) -> None:
    """Make ``folder`` (a path or an fsspec URL) and its parents, if missing.

    Raises
    ------
    ImageError
        It cannot be made.
    """
    try:
        if is_url(folder):
            fs, path = filesystem(folder)
            fs.makedirs(path, exist_ok=True)
        elif folder:
            os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise ImageError(f"{folder}: cannot create: {os_reason(err)}") from None


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
    notes: dict[int, str] = {}  # by input: its output's format is not its own

    def record(i: int, source: Source, **kwargs: Any) -> PoolRecord:
        return PoolRecord(source.path, mode=recipe.mode, window=recipe.window, index=i, **kwargs)

    for i, source in enumerate(sources):
        if source.error is not None:
            done.append((i, record(i, source, status="error", error=source.error)))
            continue
        if output is not None:
            target = output
        else:
            name_fields = fields
            if "ext" not in fields and "{ext}" in template and not is_url(source.path):
                # The input's own format, when Pillow cannot write it back: the nearest one
                # that keeps what it holds (io.writing.fallback_format), under its suffix.
                from poolcli.io.writing import fallback_for_file

                found = fallback_for_file(source.path)
                if found is not None:
                    name_fields = {**fields, "ext": found[0]}
                    notes[i] = found[1]
            name = output_name(source.path, template, **name_fields)
            if out_dir is None:
                target = _join(_parent(source.path), name)
            else:
                target = _join(out_dir, _relative_folder(source), name)
        planned.append((i, source, target))

    # A file found in a folder under the name of one of this run's outputs is the output of an
    # earlier run: pooling it again would make a rerun differ from the first run.
    folders: dict[str, str] = {}
    keys = {i: _target_key(t, folders) for i, _, t in planned}
    target_keys = set(keys.values())
    kept = [p for p in planned if p[1].named or _target_key(p[1].path, folders) not in target_keys]
    _check_clashes(kept, keys)
    # Positions among the inputs that remain, so that a record's index counts them from 0.
    position = {i: n for n, i in enumerate(sorted([i for i, _ in done] + [p[0] for p in kept]))}
    for i, r in done:
        r.index = position[i]
    done = [(position[i], r) for i, r in done]
    original = {position[i]: i for i, _, _ in kept}
    kept = [(position[i], source, target) for i, source, target in kept]

    stats = {s.path: _stat(s.path) for _, s, _ in kept}
    inputs = {(st.st_dev, st.st_ino) for st in stats.values() if st is not None}
    jobs = []
    for i, source, target in kept:
        exists, file_id = _exists(target)
        if file_id is not None and file_id in inputs:
            error = f"output {target} is an input; not writing over it"
            done.append((i, record(i, source, output=target, status="error", error=error)))
        elif exists and skip_existing:
            done.append((i, record(i, source, output=target, status="skipped")))
        elif exists and not recipe.force:
            error = f"output {target} exists (use --force to overwrite, or --skip-existing)"
            done.append((i, record(i, source, output=target, status="error", error=error)))
        else:
            job_target = target if is_url(target) else os.path.abspath(target)
            st = stats[source.path]
            size = None if st is None else st.st_size
            folder = None if out_dir is None else _parent(target)
            note = notes.get(original[i])
            job = Job(source.path, job_target, recipe, source.path, target, i, size, folder, note)
            jobs.append(job)
    done.sort(key=lambda pair: pair[0])
    folders = []
    if out_dir is not None:  # beside the inputs, or -o: the folder must exist already
        folders = sorted({out_dir, *(_parent(job.output_name) for job in jobs)})
    return Plan(jobs, done, [t for _, _, t in kept], folders)


def _check_clashes(planned: Sequence[tuple[int, Source, str]], keys: Mapping[int, str]) -> None:
    by_target: dict[str, list[tuple[Source, str]]] = {}
    for i, source, target in planned:
        by_target.setdefault(keys[i], []).append((source, target))
    clashes = [group for group in by_target.values() if len(group) > 1]
    if clashes:
        (first, target), (second, _) = clashes[0][:2]
        more = sum(len(g) - 1 for g in clashes) - 1
        names = [_basename(first.path), _basename(second.path)]
        stems = {os.path.splitext(name)[0] for name in names}
        why = "folder" if names[0] == names[1] else "suffix" if len(stems) == 1 else "name"
        raise ClashError(first.path, second.path, target, more, why)


def _basename(path: str) -> str:
    return posixpath.basename(path) if is_url(path) else os.path.basename(path)


def _relative_folder(source: Source) -> str:
    if source.base is None:
        return ""
    if is_url(source.path):
        rel = posixpath.relpath(source.path.split("://", 1)[1], source.base.split("://", 1)[1])
        return posixpath.dirname(rel)
    if source.path.startswith(source.base + os.sep):  # as a folder's walk spells them
        return os.path.dirname(source.path[len(source.base) + 1 :])
    return os.path.dirname(os.path.relpath(source.path, source.base))


def _parent(path: str) -> str:
    return posixpath.dirname(path) if is_url(path) else os.path.dirname(path)


def _join(folder: str, *parts: str) -> str:
    parts = tuple(p for p in parts if p)
    if is_url(folder):
        return posixpath.join(folder, *parts)
    return os.path.join(folder, *parts) if folder else os.path.join(*parts)


def _target_key(path: str, folders: dict[str, str]) -> str:
    return path if is_url(path) else path_key(path, folders)


def _stat(path: str) -> os.stat_result | None:
    if is_url(path):
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
    if is_url(path):
        try:
            fs, inner = filesystem(path)
            return bool(fs.exists(inner)), None
        except (PoolError, OSError):
            return False, None  # writing it will say what is wrong
    st = _stat(path)
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        return False, None  # a device or a FIFO is written through, never replaced
    file_id = None if st is None else (st.st_dev, st.st_ino)
    return file_id is not None or os.path.lexists(path), file_id


def remove_stale_temps(targets: Iterable[str]) -> list[str]:
    """Remove the temporary files that a killed run left beside these outputs; the paths removed.

    :func:`poolcli.io.writing.write_picture` writes ``.<name>.<random>.poolcli-tmp`` and renames it
    to ``<name>`` when complete, removing it on any error: only a process killed outright (or a
    power cut) leaves one behind. Only local folders are looked at.
    """
    wanted: dict[str, set[str]] = {}
    for target in targets:
        if not is_url(target):
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
