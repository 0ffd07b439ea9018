"""What a run did, as plain records, and the code that turns them into text.

:mod:`poolcli.run` fills :class:`PoolRecord` (:mod:`poolcli.cli.info` fills
:class:`InfoRecord`); this module renders them: a Rich table (colour left to Rich, so
``NO_COLOR`` and pipes are respected; one line per row, as wide as it needs, so no path is ever
broken, not even in a pipe, where Rich would assume 80 columns), one JSON object per line, one
error line, a progress bar and the closing summary of a batch. Shapes are ``(H, W, C)`` as NumPy
sees the first frame;
an array file's shapes are as stored, and ``axes`` names them (``DHWC``). What ``compare``,
``show``, ``stats`` and ``--preview`` print is laid out by :mod:`poolcli.cli.views`, in the same
tables.

>>> record = PoolRecord("photo.png", mode="max", window="k2 s2", output="photo_max2.png",
...                     input_shape=(5, 7, 3), output_shape=(2, 3, 3), image_mode="RGB",
...                     dtype="uint8", seconds=Seconds(0.01, 0.002, 0.03), index=0)
>>> print(json_line(record))  # doctest: +NORMALIZE_WHITESPACE
{"index": 0, "input": "photo.png", "output": "photo_max2.png", "status": "ok", "error": null,
 "input_shape": [5, 7, 3], "output_shape": [2, 3, 3], "image_mode": "RGB", "dtype": "uint8",
 "frames": null, "mode": "max", "window": "k2 s2",
 "seconds": {"load": 0.01, "pool": 0.002, "save": 0.03}, "axes": null, "note": null}
>>> shape_text((5, 7, 3))
'5x7x3'
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

# The pooling records are plain data made by the library (worker processes fill them).
from poolcli.run.records import PoolRecord as PoolRecord
from poolcli.run.records import Seconds as Seconds

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

# Rich is imported by the functions that draw (~15 ms, a tenth of a quiet run's start-up): a run
# with -q or --json that fails nowhere never imports it.

Shape = tuple[int, ...]


@dataclass
class InfoRecord:
    """One input of ``poolcli info``. ``output_shape`` is what the given window would produce;
    when the window does not fit this image it is ``None`` and ``window_error`` says why."""

    input: str
    status: str = "ok"
    error: str | None = None
    format: str | None = None
    frames: int | None = None
    input_shape: Shape | None = None
    image_mode: str | None = None
    dtype: str | None = None
    window: str | None = None
    output_shape: Shape | None = None
    window_error: str | None = None
    axes: str | None = None  # an array file's axis names, one letter per axis: "DHWC"


def shape_text(shape: Shape | None, axes: str | None = None) -> str:
    """``5x7x3``; with an array file's axis names ``9x12x11 (DxHxW)``.

    >>> shape_text((9, 12, 11), "DHW")
    '9x12x11 (DxHxW)'
    """
    if shape is None:
        return ""
    text = "x".join(str(n) for n in shape)
    return f"{text} ({'x'.join(axes)})" if axes and len(axes) == len(shape) else text


def json_line(record: PoolRecord | InfoRecord) -> str:
    """The record as one line of JSON (tuples become lists, ``None`` becomes ``null``,
    seconds are rounded to microseconds; ``index`` first, when the record has one)."""
    data = asdict(record)
    if "index" in data:
        data = {"index": data.pop("index"), **data}
    if "seconds" in data:
        data["seconds"] = {k: _round(v) for k, v in data["seconds"].items()}
    return json.dumps(data)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def print_json(record: PoolRecord | InfoRecord) -> None:
    """Write one JSON line to standard output now, so a consumer sees each input as it finishes."""
    sys.stdout.write(json_line(record) + "\n")
    sys.stdout.flush()


def print_error(name: str, cause: str) -> None:
    """``poolcli: error: NAME: CAUSE`` in red on standard error, never wrapped to a second line."""
    _stderr_line(f"poolcli: error: {name}: {cause}", "red")


def _stderr_line(text: str, style: str = "") -> None:
    """``text`` as one line on standard error (in ``style`` where colours are shown)."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, soft_wrap=True).print(Text(text, style=style), highlight=False)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def pool_table(records: Sequence[PoolRecord], noun: str = "inputs") -> Table:
    """Input, output, shapes, image mode, dtype and seconds per stage; a total row when several."""
    table = new_table(show_footer=len(records) > 1)
    footers = _pool_totals(records, noun) if len(records) > 1 else {}
    for name in (
        "input",
        "output",
        "shape",
        "pooled",
        "mode",
        "dtype",
        "load s",
        "pool s",
        "save s",
    ):
        add_column(table, name, footer=footers.get(name, ""))
    for r in records:
        table.add_row(
            r.input,
            _output_cell(r),
            shape_text(r.input_shape, r.axes),
            shape_text(r.output_shape, r.axes),
            r.image_mode or "",
            r.dtype or "",
            _seconds(r.seconds.load),
            _seconds(r.seconds.pool),
            _seconds(r.seconds.save),
        )
    return table


def _output_cell(r: PoolRecord) -> Text | str:
    from rich.text import Text

    if r.status == "skipped":
        return Text(f"{r.output} (exists: skipped)", style="dim")
    return Text("failed", style="red") if r.status != "ok" else (r.output or "")


def new_table(**kwargs: Any) -> Table:
    """A table in poolcli's look: no box, no edge padding, bold headers."""
    from rich.table import Table

    return Table(box=None, pad_edge=False, header_style="bold", **kwargs)


def add_column(table: Table, name: str, footer: str = "") -> None:
    # No column wraps: a path broken over lines cannot be copied or found (print_table widens
    # the console to the table instead).
    if name in ("input", "output"):
        table.add_column(name, footer=footer, no_wrap=True)
    else:
        numeric = name.endswith(" s") or name in ("shape", "pooled", "frames")
        table.add_column(name, footer=footer, no_wrap=True, justify="right" if numeric else "left")


def _pool_totals(records: Sequence[PoolRecord], noun: str) -> dict[str, str]:
    tally = Tally(keep=0)
    for r in records:
        tally.add(r)
    totals: dict[str, Any] = {"input": f"{len(records)} {noun}", "output": _counts(tally)}
    for stage in ("load", "pool", "save"):
        values = [getattr(r.seconds, stage) for r in records]
        totals[f"{stage} s"] = _seconds(sum(v for v in values if v is not None))
    return totals


# The table lists every input up to this many; a bigger batch gets the summary line only.
TABLE_MAX_ROWS = 50
# Failed inputs named in the summary line.
FAILED_NAMED = 10


@dataclass
class Tally:
    """What the closing lines of a batch need of its records, fed in input order
    (:meth:`add`), in memory that does not grow with the batch: the counts, the first failed
    inputs, each note with its first input and how many it concerns, and the records
    themselves only while there are few enough for the table (a record is ~1 kB: a million
    files' would be a gigabyte).

    >>> tally = Tally()
    >>> for r in (PoolRecord("a.png", note="as PNG"), PoolRecord("b.png", status="error")):
    ...     tally.add(r)
    >>> tally.finished, tally.failed, tally.failed_names, tally.notes
    (2, 1, ['b.png'], {'as PNG': ['a.png', 1]})
    """

    keep: int = TABLE_MAX_ROWS
    finished: int = 0
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    failed_names: list[str] = field(default_factory=list)  # the first FAILED_NAMED
    notes: dict[str, list[Any]] = field(default_factory=dict)  # note: [first input, inputs]
    kept: list[PoolRecord] | None = field(default_factory=list)  # None past `keep`

    def add(self, record: PoolRecord) -> None:
        self.finished += 1
        if record.status == "ok":
            self.ok += 1
        elif record.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            if len(self.failed_names) < FAILED_NAMED:
                self.failed_names.append(record.input)
        if record.note and record.status != "error":
            self.notes.setdefault(record.note, [record.input, 0])[1] += 1
        if self.kept is not None:
            self.kept.append(record)
            if len(self.kept) > self.keep:
                self.kept = None


def _counts(tally: Tally) -> str:
    """``"60 ok, 3 skipped, 1 failed"``, leaving out what is zero (``ok`` always shown)."""
    parts = [f"{tally.ok} ok"] + [
        f"{n} {word}" for n, word in ((tally.skipped, "skipped"), (tally.failed, "failed")) if n
    ]
    return ", ".join(parts)


def summary_line(tally: Tally, total: int, seconds: float | None = None) -> str:
    """The closing line of a batch: counts, time, the failed inputs by name, what was not done.

    >>> tally = Tally()
    >>> for r in (PoolRecord("a.png"), PoolRecord("b.png", status="error", error="boom")):
    ...     tally.add(r)
    >>> summary_line(tally, 3, seconds=1.5)
    'poolcli: 3 inputs: 1 ok, 1 failed, 1 not done in 1.5 s; failed: b.png'
    """
    text = f"poolcli: {total} inputs: {_counts(tally)}"
    if total > tally.finished:
        text += f", {total - tally.finished} not done"
    if seconds is not None:
        text += f" in {seconds:.1f} s"
    if tally.failed:
        shown = ", ".join(tally.failed_names)
        more = tally.failed - len(tally.failed_names)
        text += f"; failed: {shown}" + (f" and {more} more" if more else "")
    return text


def print_warning(text: str) -> None:
    """``poolcli: warning: TEXT`` in yellow on standard error, never wrapped."""
    _stderr_line(f"poolcli: warning: {text}", "yellow")


def print_note(text: str) -> None:
    """One line on standard error, never wrapped (a summary, a hint)."""
    _stderr_line(text)


@contextmanager
def progress(total: int, *, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A progress bar on standard error (files done, rate, elapsed, ETA), when it is a terminal.

    Yields the function to call once per finished input. Nothing is drawn when ``enabled`` is
    false or standard error is not a terminal; the bar goes away when the block ends. Standard
    output is left alone (JSON lines go there), error lines print above the bar.
    """
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            text = "" if speed is None else f"{speed:.1f} files/s"
            return Text(text, style="progress.data.speed")

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda: None
        return
    bar = Progress(
        TextColumn("pooling"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
    )
    task = bar.add_task("pooling", total=total)
    with bar:
        yield lambda: bar.advance(task)


def info_table(records: Sequence[InfoRecord]) -> Table:
    """Format, frames, shape, image mode, dtype and the shape the given window would produce."""
    from rich.text import Text

    window = next((r.window for r in records if r.window), "")
    table = new_table()
    for name in ("input", "format", "frames", "shape", "mode", "dtype"):
        add_column(table, name)
    table.add_column(f"pooled ({window})", justify="right", no_wrap=True)
    for r in records:
        if r.status != "ok":
            table.add_row(r.input, Text("failed", style="red"), *[""] * 5)
            continue
        pooled = (
            Text(r.window_error, style="yellow")
            if r.window_error
            else shape_text(r.output_shape, r.axes)
        )
        table.add_row(
            r.input,
            r.format or "",
            str(r.frames or ""),
            shape_text(r.input_shape, r.axes),
            r.image_mode or "",
            r.dtype or "",
            pooled,
        )
    return table


def print_table(table: Table, *, stderr: bool) -> None:
    """Print ``table`` whole: one line per row, however narrow the terminal or ``COLUMNS``."""
    console_for(table, stderr=stderr).print(table)


def console_for(table: Table, *, stderr: bool) -> Console:
    """A console as wide as the table needs, or wider: Rich's width is the terminal's, else
    ``COLUMNS``, else 80 (a pipe, a CI log, ``2>log``), and a table wider than that would be
    folded into pieces of paths. A line wider than the terminal is wrapped by the terminal
    itself, which keeps the text whole for copying and for ``grep``."""
    from rich.console import Console

    console = Console(stderr=stderr)
    unbounded = console.options.update_width(sys.maxsize)
    needed = console.measure(table, options=unbounded).maximum
    return console if needed <= console.width else Console(stderr=stderr, width=needed)
