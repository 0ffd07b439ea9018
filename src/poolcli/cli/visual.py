"""Seeing images: ``compare`` (a sheet of one image pooled by several modes), ``show`` (terminal
previews, also used by ``--preview``) and ``stats`` (per-channel statistics).
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poolcli.cli.common import (
    cause,
    check_stdin,
    display_name,
    file_id,
    max_pixels_kwargs,
    read_input,
    shape_of,
)
from poolcli.cli.options import (
    OUTPUT,
    STDIN,
    CeilOpt,
    CompressOpt,
    CountPadOpt,
    DilationOpt,
    ForceOpt,
    GlobalOpt,
    Inputs,
    JsonOpt,
    KernelOpt,
    MaxPixelsOpt,
    PaddingOpt,
    POpt,
    QuietOpt,
    SizeOpt,
    StrideOpt,
    window_from,
)
from poolcli.cli.previews import picture_text, preview_of
from poolcli.cli.root import app
from poolcli.core.modes import DEFAULTS
from poolcli.errors import ImageError, PoolError

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    pass


# --- seeing images: compare, show, stats ---------------------------------------------------------
#
# `compare` writes poolcli.io.sheet.compare_sheet to an image file; `show` (and --preview) print
# poolcli.io.preview.preview_cells through poolcli.cli.views, or preview_text when colour is off;
# `stats` is poolcli.io.stats.channel_stats as a table or JSON. All of them look at the first frame.

if TYPE_CHECKING:
    pass

COMPARE_NAME = "{stem}_compare.png"
# poolcli.io.sheet.DEFAULT_MODES, written out so that --help does not import NumPy and Pillow;
# tests/cli/test_cli_visual.py keeps the two equal.
COMPARE_MODES = "max,avg,min,median,mode"
COMPARE_PANEL = 256  # the default of compare_sheet(panel=...), kept equal by the same test


def parse_modes(text: str) -> tuple[str, ...]:
    """``"max,mean,min"`` -> canonical mode names in order, repeats dropped; unknown: exit 2.

    >>> parse_modes("max, mean,max")
    ('max', 'avg')
    """
    from poolcli.core.modes import resolve_mode

    names: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            name = resolve_mode(part.strip().lower())
        except PoolError as err:
            raise typer.BadParameter(str(err)) from None
        if name not in names:
            names.append(name)
    if not names:
        raise typer.BadParameter(f"expected mode names separated by commas, got {text!r}")
    return tuple(names)


def parse_crop(text: str) -> tuple[int, int, int, int]:
    """``"X,Y,W,H"``: a region of the input, ``X, Y`` (its top left corner) at least 0, ``W, H``
    at least 1; ``x`` also separates.

    >>> parse_crop("10,20,64,48"), parse_crop("0x0x8x8")
    ((10, 20, 64, 48), (0, 0, 8, 8))
    """
    parts = text.strip().lower().replace("x", ",").split(",")
    try:
        x, y, w, h = (int(part) for part in parts)
    except ValueError:
        raise typer.BadParameter(f"expected X,Y,W,H (four integers), got {text!r}") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise typer.BadParameter(f"X and Y must be at least 0, W and H at least 1, got {text!r}")
    return x, y, w, h


ModesOpt = Annotated[
    Any,  # tuple[str, ...]: Typer takes the type from parse_modes
    typer.Option(
        "-m",
        "--modes",
        parser=parse_modes,
        metavar="MODE,...",
        help=f"Pooling modes to show, in order (default: {COMPARE_MODES}).",
    ),
]
CropOpt = Annotated[
    Any,  # (x, y, w, h)
    typer.Option(
        "--crop",
        parser=parse_crop,
        metavar="X,Y,W,H",
        help="Show this region of the input again, zoomed, in a second row (clipped to the"
        " image; in each pooled panel, the pooled pixels that cover it).",
    ),
]
PanelOpt = Annotated[
    int,
    typer.Option(
        "--panel",
        min=1,
        metavar="PIXELS",
        help="Display size of every picture's long side: a smaller input is enlarged by an"
        " integer factor (nearest neighbour), a larger one shrunk to it.",
    ),
]
SheetOpt = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        metavar="PATH",
        rich_help_panel=OUTPUT,
        help=f"The sheet (png, jpg, webp, ...; default: {COMPARE_NAME} beside the input);"
        " - writes PNG to standard output.",
    ),
]
PreviewWidthOpt = Annotated[
    int | None,
    typer.Option(
        "--width",
        min=1,
        metavar="COLUMNS",
        help="Preview width in terminal columns (default: the terminal's).",
    ),
]
PreviewHeightOpt = Annotated[
    int | None,
    typer.Option(
        "--height",
        min=1,
        metavar="LINES",
        help="Preview height in terminal lines of two pixels each, besides the title line"
        " (default: the terminal's, less two).",
    ),
]


@app.command()
def compare(
    input: Annotated[
        str,
        typer.Argument(
            help="Image file (the first frame is shown); - reads standard input.",
            metavar="INPUT",
            show_default=False,
        ),
    ],
    modes: ModesOpt = None,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    dilation: DilationOpt = None,
    ceil: CeilOpt = False,
    count_include_pad: CountPadOpt = True,
    size: SizeOpt = None,
    global_: GlobalOpt = False,
    p: POpt = DEFAULTS["p"],
    crop: CropOpt = None,
    panel: PanelOpt = COMPARE_PANEL,
    output: SheetOpt = None,
    compress_level: CompressOpt = None,
    force: ForceOpt = False,
    max_pixels: MaxPixelsOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The input and each mode's result side by side at one display size, labelled."""
    names = modes or parse_modes(COMPARE_MODES)
    window = window_from(
        kernel,
        stride,
        padding,
        dilation,
        ceil,
        size,
        global_,
        count_include_pad,
        p if "lp" in names else None,
    )
    check_stdin([input])
    from poolcli.cli import report, views
    from poolcli.io import formats, writing
    from poolcli.io.picture import Picture
    from poolcli.io.sheet import compare_sheet, window_label

    if output == STDIN:
        if json:
            raise typer.BadParameter(
                "-o - and --json both write standard output", param_hint="--json"
            )
        if sys.stdout.isatty():
            raise typer.BadParameter(
                "refusing to write image bytes to a terminal: redirect or pipe standard output",
                param_hint="'-o' / '--output'",
            )
        target = None
    elif output is not None:
        target = Path(output)
    elif input == STDIN:
        raise typer.BadParameter("standard input needs -o PATH or -o -", param_hint="INPUT")
    else:
        target = Path(input).with_name(COMPARE_NAME.format(stem=Path(input).stem))
    if target is not None:
        try:
            formats.format_for_path(target)
        except PoolError as err:
            raise typer.BadParameter(str(err), param_hint="'-o' / '--output'") from None

    written = STDIN if target is None else str(target)
    record = views.CompareRecord(display_name(input), output=written, window=window.describe())
    kwargs = window.pool_kwargs()
    try:
        if target is not None:
            _check_new_output(target, input, force)
        pic = read_input(input, max_pixels_kwargs(max_pixels))
        frame = pic.frames[0]
        record.input_shape, record.image_mode = shape_of(frame), frame.mode
        record.frames = pic.n_frames
        sheet, panels = compare_sheet(frame, names, crop=crop, panel=panel, **kwargs)
        record.sheet_shape = shape_of(sheet)
        record.panels = [
            views.PanelRecord(
                mode=q.mode,
                window="" if q.mode == "input" else window_label(q.mode, **kwargs),
                shape=q.shape,
                box=q.box,
                region=q.region,
                zoom=q.zoom,
                label=q.label,
            )
            for q in panels
        ]
        picture = Picture([sheet], "PNG")
        if target is not None:
            writing.write_picture(picture, target, compress_level=compress_level, force=force)
        else:
            _write_stdout(writing.encode_picture(picture, "PNG", compress_level=compress_level))
    except PoolError as err:
        record.status, record.error = "error", cause(err, record.input)
        report.print_error(record.input, record.error)
    if json:
        views.print_record_json(record)
    elif not quiet and record.status == "ok":
        views.print_compare(record)
    raise typer.Exit(int(record.status != "ok"))


@app.command()
def show(
    inputs: Inputs,
    width: PreviewWidthOpt = None,
    height: PreviewHeightOpt = None,
    max_pixels: MaxPixelsOpt = None,
) -> None:
    """Preview images in the terminal: colour half blocks, two pixels per character cell, or
    characters from dark to bright when colour is off (NO_COLOR, TERM=dumb, not a terminal)."""
    check_stdin(inputs)
    from poolcli.cli import report, views

    columns, lines, colour = views.preview_space(stderr=False)
    width = width or columns
    height = height or max(1, lines - 2)  # the title line, and the prompt after the picture
    failed = False
    for source in inputs:
        name = display_name(source)
        try:
            frame = read_input(source, max_pixels_kwargs(max_pixels)).frames[0]
            preview = preview_of(f"{name}  {picture_text(frame)}", frame, width, height, colour)
        except PoolError as err:
            report.print_error(name, cause(err, name))
            failed = True
            continue
        views.print_previews(
            [preview], stderr=False, side_by_side=False, max_width=max(width, columns)
        )
    raise typer.Exit(int(failed))


@app.command()
def stats(
    inputs: Inputs,
    max_pixels: MaxPixelsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Global pooling per channel: max, min, mean, median and std of each band (first frame)."""
    check_stdin(inputs)
    from poolcli.cli import report, views
    from poolcli.io import picture
    from poolcli.io.stats import channel_stats

    records = []
    for source in inputs:
        record = views.StatsRecord(display_name(source))
        try:
            pic = read_input(source, max_pixels_kwargs(max_pixels))
            first = pic.frames[0]
            record.input_shape, record.image_mode = shape_of(first), first.mode
            record.dtype, record.frames = picture.image_dtype(first), pic.n_frames
            record.channels = channel_stats(pic.frames[0])
        except PoolError as err:
            record.status, record.error = "error", cause(err, record.input)
            report.print_error(record.input, record.error)
        records.append(record)
        if json:
            views.print_record_json(record)
    if not json:
        report.print_table(views.stats_table(records), stderr=False)
    raise typer.Exit(int(any(r.status != "ok" for r in records)))


def _check_new_output(target: Path, source: str, force: bool) -> None:
    """Refuse to write over the input, or over an existing file without ``force``."""
    target_id = file_id(target)
    if target_id is None:
        return
    if source != STDIN and target_id == file_id(source):
        raise ImageError(f"output {target} is the input; not writing over it")
    # write_picture checks again when it writes; checking now saves decoding and pooling.
    if not force:
        raise ImageError(f"output {target} exists (use --force to overwrite)")


def _write_stdout(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as err:  # disk full, closed pipe: the I/O boundary of the CLI itself
        raise ImageError(f"standard output: {err.strerror or err}") from None
