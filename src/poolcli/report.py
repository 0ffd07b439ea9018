"""What a run did, as plain records, and the only code that turns them into text.

``cli.py`` measures and fills :class:`PoolRecord` / :class:`InfoRecord`; this module renders them:
a Rich table (colour and width left to Rich, so ``NO_COLOR`` and pipes are respected), one JSON
object per line, or one error line. Shapes are ``(H, W, C)`` as NumPy sees the first frame.

>>> record = PoolRecord("photo.png", mode="max", window="k2 s2", output="photo_max2.png",
...                     input_shape=(5, 7, 3), output_shape=(2, 3, 3), image_mode="RGB",
...                     dtype="uint8", seconds=Seconds(0.01, 0.002, 0.03))
>>> print(json_line(record))  # doctest: +NORMALIZE_WHITESPACE
{"input": "photo.png", "output": "photo_max2.png", "status": "ok", "error": null,
 "input_shape": [5, 7, 3], "output_shape": [2, 3, 3], "image_mode": "RGB", "dtype": "uint8",
 "frames": null, "mode": "max", "window": "k2 s2",
 "seconds": {"load": 0.01, "pool": 0.002, "save": 0.03}}
>>> shape_text((5, 7, 3))
'5x7x3'
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

Shape = tuple[int, ...]


@dataclass
class Seconds:
    """Wall-clock seconds per stage; ``None`` for a stage the input never reached."""

    load: float | None = None
    pool: float | None = None
    save: float | None = None


@dataclass
class PoolRecord:
    """One input of a pooling run: ``status`` is ``"ok"`` or ``"error"`` (``error`` says why)."""

    input: str
    output: str | None = None
    status: str = "ok"
    error: str | None = None
    input_shape: Shape | None = None
    output_shape: Shape | None = None
    image_mode: str | None = None
    dtype: str | None = None
    frames: int | None = None
    mode: str | None = None
    window: str | None = None
    seconds: Seconds = field(default_factory=Seconds)


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


def shape_text(shape: Shape | None) -> str:
    return "" if shape is None else "x".join(str(n) for n in shape)


def json_line(record: PoolRecord | InfoRecord) -> str:
    """The record as one line of JSON (tuples become lists, ``None`` becomes ``null``,
    seconds are rounded to microseconds)."""
    data = asdict(record)
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
    line = Text(f"poolcli: error: {name}: {cause}", style="red")
    Console(stderr=True, soft_wrap=True).print(line, highlight=False)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def pool_table(records: Sequence[PoolRecord]) -> Table:
    """Input, output, shapes, image mode, dtype and seconds per stage; a total row when several."""
    table = _table(show_footer=len(records) > 1)
    footers = _pool_totals(records) if len(records) > 1 else {}
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
        _add_column(table, name, footer=footers.get(name, ""))
    for r in records:
        failed = r.status != "ok"
        table.add_row(
            r.input,
            Text("failed", style="red") if failed else (r.output or ""),
            shape_text(r.input_shape),
            shape_text(r.output_shape),
            r.image_mode or "",
            r.dtype or "",
            _seconds(r.seconds.load),
            _seconds(r.seconds.pool),
            _seconds(r.seconds.save),
        )
    return table


def _table(**kwargs: Any) -> Table:
    return Table(box=None, pad_edge=False, header_style="bold", **kwargs)


def _add_column(table: Table, name: str, footer: str = "") -> None:
    # File names fold when the terminal is narrow; the short columns never wrap, so they stay
    # readable (Rich takes the width from the wrapping columns first).
    if name in ("input", "output"):
        table.add_column(name, footer=footer, overflow="fold")
    else:
        numeric = name.endswith(" s") or name in ("shape", "pooled", "frames")
        table.add_column(name, footer=footer, no_wrap=True, justify="right" if numeric else "left")


def _pool_totals(records: Sequence[PoolRecord]) -> dict[str, str]:
    failed = sum(r.status != "ok" for r in records)
    totals: dict[str, Any] = {
        "input": f"{len(records)} inputs",
        "output": f"{len(records) - failed} ok" + (f", {failed} failed" if failed else ""),
    }
    for stage in ("load", "pool", "save"):
        values = [getattr(r.seconds, stage) for r in records]
        totals[f"{stage} s"] = _seconds(sum(v for v in values if v is not None))
    return totals


def info_table(records: Sequence[InfoRecord]) -> Table:
    """Format, frames, shape, image mode, dtype and the shape the given window would produce."""
    window = next((r.window for r in records if r.window), "")
    table = _table()
    for name in ("input", "format", "frames", "shape", "mode", "dtype"):
        _add_column(table, name)
    table.add_column(f"pooled ({window})", justify="right", overflow="fold")
    for r in records:
        if r.status != "ok":
            table.add_row(r.input, Text("failed", style="red"), *[""] * 5)
            continue
        pooled = (
            Text(r.window_error, style="yellow") if r.window_error else shape_text(r.output_shape)
        )
        table.add_row(
            r.input,
            r.format or "",
            str(r.frames or ""),
            shape_text(r.input_shape),
            r.image_mode or "",
            r.dtype or "",
            pooled,
        )
    return table


def print_table(table: Table, *, stderr: bool) -> None:
    Console(stderr=stderr).print(table)
