"""How ``poolcli compare``, ``show``, ``stats`` and ``--preview`` lay out what they found, as text:
plain records (a comparison sheet's panels, each channel's statistics), strict JSON lines, Rich
tables and half-block terminal previews. The pixels and numbers come from
:mod:`poolcli.io.sheet`, :mod:`~poolcli.io.preview` and :mod:`~poolcli.io.stats` (through
``cli/visual.py`` and ``cli/previews.py``); the tables share :mod:`poolcli.cli.report`'s look.

Rich is imported by the functions that draw, as in :mod:`poolcli.cli.report`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from poolcli.cli.report import Shape, add_column, console_for, new_table, shape_text

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

RGB = tuple[int, int, int]
Cell = tuple[RGB, RGB | None]
HALF_BLOCK = "\u2580"  # '▀': foreground paints the top pixel, background the bottom one
PREVIEW_GAP = 2  # columns between two previews side by side


@dataclass
class PanelRecord:
    """One picture of a comparison sheet: ``mode`` is ``"input"`` or a pooling mode, ``window``
    its window (``""`` for the input), ``shape`` ``(H, W)`` of the whole image it shows, ``box``
    ``(x0, y0, x1, y1)`` of the picture in the sheet, ``region`` the part of the image shown
    (all of it, or the crop in the zoomed row)."""

    mode: str
    window: str
    shape: Shape
    box: tuple[int, int, int, int]
    region: tuple[int, int, int, int]
    zoom: bool = False
    label: str = ""


@dataclass
class CompareRecord:
    """One run of ``poolcli compare``; ``sheet_shape`` is ``(H, W, 3)`` of the image written."""

    input: str
    output: str | None = None
    status: str = "ok"
    error: str | None = None
    input_shape: Shape | None = None
    image_mode: str | None = None
    frames: int | None = None
    window: str | None = None
    sheet_shape: Shape | None = None
    panels: list[PanelRecord] = field(default_factory=list)


@dataclass
class StatsRecord:
    """One input of ``poolcli stats``: one dict per channel, as
    :func:`poolcli.io.stats.channel_stats` gives it (``channel``, ``min``, ``max``, ``mean``,
    ``median``, ``std``), of the first frame."""

    input: str
    status: str = "ok"
    error: str | None = None
    input_shape: Shape | None = None
    image_mode: str | None = None
    dtype: str | None = None
    frames: int | None = None
    channels: list[dict[str, Any]] = field(default_factory=list)


STAT_COLUMNS = ("max", "min", "mean", "median", "std")


def _finite_or_null(value: Any) -> Any:
    """JSON has no NaN or infinity: they become ``null`` (nested lists and dicts too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def record_json(record: CompareRecord | StatsRecord) -> str:
    """The record as one line of strict JSON: NaN and infinities become ``null``.

    >>> record_json(StatsRecord("a.tif", channels=[{"channel": "F", "max": float("nan")}]))
    ... # doctest: +NORMALIZE_WHITESPACE
    '{"input": "a.tif", "status": "ok", "error": null, "input_shape": null, "image_mode": null,
      "dtype": null, "frames": null, "channels": [{"channel": "F", "max": null}]}'
    """
    return json.dumps(_finite_or_null(asdict(record)), allow_nan=False)


def print_record_json(record: CompareRecord | StatsRecord) -> None:
    """Write :func:`record_json` as one line to standard output now."""
    sys.stdout.write(record_json(record) + "\n")
    sys.stdout.flush()


def compare_table(record: CompareRecord) -> Table:
    """What a comparison sheet shows: one row per picture of its first row."""
    table = new_table()
    for name in ("panel", "window", "shape"):
        add_column(table, name)
    for p in record.panels:
        if not p.zoom:
            table.add_row(p.mode, p.window, shape_text(p.shape))
    return table


def compare_summary(record: CompareRecord) -> str:
    """The line under :func:`compare_table`: where the sheet went, its size, the crop row.

    >>> compare_summary(CompareRecord("a.png", output="a_compare.png", sheet_shape=(90, 200, 3)))
    'a_compare.png: 90x200 pixels'
    """
    text = f"{record.output}: {shape_text(record.sheet_shape[:2])} pixels"
    crop = next((p for p in record.panels if p.zoom), None)
    if crop is not None:
        x0, y0, x1, y1 = crop.region
        text += f"; second row: crop [{y0}:{y1}, {x0}:{x1}] zoomed"
    return text


def print_compare(record: CompareRecord) -> None:
    """:func:`compare_table` and :func:`compare_summary` on standard error."""
    from rich.text import Text

    table = compare_table(record)
    console = console_for(table, stderr=True)
    console.print(table)
    console.print(Text(compare_summary(record)), soft_wrap=True)


def stat_text(value: Any) -> str:
    """A statistic for the table: integers exactly, floats to 6 significant digits.

    >>> stat_text(255), stat_text(127.45678), stat_text(float("nan")), stat_text(None)
    ('255', '127.457', 'nan', '')
    """
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def stats_table(records: Sequence[StatsRecord]) -> Table:
    """One row per channel: input (on its first channel's row), channel, max, min, mean, median,
    std. A failed input is one row saying so."""
    from rich.text import Text

    table = new_table()
    table.add_column("input", no_wrap=True)
    table.add_column("channel", no_wrap=True)
    for name in STAT_COLUMNS:
        table.add_column(name, no_wrap=True, justify="right")
    for r in records:
        if r.status != "ok":
            table.add_row(r.input, Text("failed", style="red"), *[""] * len(STAT_COLUMNS))
            continue
        for i, channel in enumerate(r.channels):
            table.add_row(
                r.input if i == 0 else "",
                str(channel["channel"]),
                *(stat_text(channel[name]) for name in STAT_COLUMNS),
            )
    return table


@dataclass
class Preview:
    """One image of a terminal preview: half-block ``cells`` (colour) or ``text`` lines (plain),
    as :func:`poolcli.io.preview.preview_cells` / :func:`~poolcli.io.preview.preview_text` give
    them."""

    title: str
    cells: Sequence[Sequence[Cell]] | None = None
    text: Sequence[str] | None = None


def preview_space(*, stderr: bool) -> tuple[int, int, bool]:
    """``(columns, lines, colour)`` of the terminal the preview goes to.

    The size is Rich's (the terminal's, else ``COLUMNS``/``LINES``, else 80x25); ``colour`` is
    false when Rich would print no colour: ``NO_COLOR`` set, ``TERM=dumb``, or not a terminal
    (``FORCE_COLOR`` / ``TTY_COMPATIBLE`` override that, as everywhere in Rich).
    """
    from rich.console import Console

    console = Console(stderr=stderr)
    colour = console.color_system is not None and not console.no_color
    return console.width, console.height, colour


def _preview_block(preview: Preview, max_width: int) -> list[Text]:
    """Title line, then one line per cell row, all padded to the same width."""
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

    lines: list[Text] = []
    if preview.cells is not None:
        styles: dict[Cell, Style] = {}
        for row in preview.cells:
            line = Text()
            for cell in row:
                style = styles.get(cell)
                if style is None:
                    top, bottom = cell
                    style = styles[cell] = Style(
                        color=Color.from_rgb(*top),
                        bgcolor=None if bottom is None else Color.from_rgb(*bottom),
                    )
                line.append(HALF_BLOCK, style)
            lines.append(line)
    else:
        lines = [Text(row) for row in preview.text or ()]
    title = Text(preview.title, style="bold")
    title.truncate(max_width, overflow="ellipsis")
    width = max(len(line) for line in [title, *lines])
    block = [title, *lines]
    for line in block:
        line.pad_right(width - len(line))
    return block


def preview_lines(previews: Sequence[Preview], *, side_by_side: bool, max_width: int) -> list[Text]:
    """The previews' lines: each titled (the title cut to ``max_width`` columns), side by side
    (``PREVIEW_GAP`` columns apart, tops aligned) or stacked."""
    from rich.text import Text

    blocks = [_preview_block(p, max(max_width, 1)) for p in previews]
    if not side_by_side:
        return [line for block in blocks for line in block]
    rows = max(len(block) for block in blocks)
    lines = []
    for i in range(rows):
        line = Text()
        for j, block in enumerate(blocks):
            width = len(block[0])
            if j:
                line.append(" " * PREVIEW_GAP)
            line.append_text(block[i] if i < len(block) else Text(" " * width))
        line.rstrip()
        lines.append(line)
    return lines


def print_previews(
    previews: Sequence[Preview], *, stderr: bool, side_by_side: bool, max_width: int
) -> None:
    """Print :func:`preview_lines`; lines are never wrapped (they were sized to fit)."""
    from rich.console import Console

    console = Console(stderr=stderr)
    for line in preview_lines(previews, side_by_side=side_by_side, max_width=max_width):
        console.print(line, soft_wrap=True, highlight=False)
