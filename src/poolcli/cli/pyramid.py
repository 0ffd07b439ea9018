"""``poolcli pyramid``: levels of one image, each pooled from the last (or from the input)."""

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poolcli.cli.common import (
    cause,
    cpu_budget,
    describe,
    file_id,
    max_pixels_kwargs,
    warn_unused_encoding,
)
from poolcli.cli.options import (
    BATCH,
    OUTPUT,
    STDIN,
    WINDOW,
    CompressOpt,
    ForceOpt,
    JsonOpt,
    MaxPixelsOpt,
    Output,
    POpt,
    QualityOpt,
    QuietOpt,
    Size,
    SkipExistingOpt,
    format_option,
    parse_size,
)
from poolcli.cli.root import app
from poolcli.core.modes import DEFAULTS, MODES
from poolcli.errors import ImageError, PoolError

LevelFormatOpt = format_option("the input's, from its suffix")

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    from poolcli.cli.report import PoolRecord
    from poolcli.io.picture import Picture


# --- pyramid ------------------------------------------------------------------------------------

PYRAMID_NAME = "{stem}_{mode}_L{level}{ext}"


@app.command()
def pyramid(
    input: Annotated[str, typer.Argument(help="Image file.", metavar="INPUT", show_default=False)],
    levels: Annotated[
        int,
        typer.Option(
            "-n",
            "--levels",
            min=1,
            metavar="N",
            help="Levels to make; level L is the input pooled by FACTOR**L (level 0, the input,"
            " is not written).",
            show_default=False,
        ),
    ],
    mode: Annotated[
        str,
        typer.Option(
            "-m",
            "--mode",
            metavar="MODE",
            help=f"Pooling mode: {', '.join(MODES)}. max and min make each level from the one"
            " before (the same result, faster); the others from the input.",
        ),
    ] = "avg",
    factor: Annotated[
        Size | None,
        typer.Option(
            "-s",
            "--stride",
            parser=parse_size,
            metavar="N|HxW",
            rich_help_panel=WINDOW,
            help="Factor between levels: windows of N x N cells, without overlap or padding"
            " (default 2).",
            show_default=False,
        ),
    ] = None,
    p: POpt = DEFAULTS["p"],
    out_dir: Annotated[
        str | None,
        typer.Option(
            "--out-dir",
            metavar="DIR",
            rich_help_panel=OUTPUT,
            help="Folder for the levels (created if missing; default: beside the input).",
        ),
    ] = None,
    name: Annotated[
        str,
        typer.Option(
            "--name",
            metavar="TEMPLATE",
            rich_help_panel=OUTPUT,
            help="Output names: {stem} {ext} {mode} {level} {factor} (FACTOR**level).",
        ),
    ] = PYRAMID_NAME,
    format: LevelFormatOpt = None,
    quality: QualityOpt = None,
    compress_level: CompressOpt = None,
    force: ForceOpt = False,
    skip_existing: SkipExistingOpt = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "-j",
            "--jobs",
            min=1,
            metavar="N",
            rich_help_panel=BATCH,
            help="Threads to pool with (default: the number of cores).",
            show_default=False,
        ),
    ] = None,
    max_pixels: MaxPixelsOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Successive pooled levels of one image (tiles, mip maps): INPUT_avg_L1.png, _L2, ..."""
    from poolcli.cli import report
    from poolcli.io import formats, reading
    from poolcli.run import pyramid as pyramids

    mode, step = _checked(input, mode, p, factor, out_dir, format, skip_existing, force)
    out = Output(None, out_dir, name, format, quality, compress_level, force)
    target = _namer(input, mode, step, out)
    extra = {"p": p} if "p" in MODES[mode].params else {}
    start = time.perf_counter()
    try:
        pic = reading.read_picture(input, name=input, **max_pixels_kwargs(max_pixels))
        loaded = time.perf_counter() - start
        threads = jobs or cpu_budget()
        # Checks that the image has room for the levels before any is made or written.
        made = pyramids.pyramid_picture(pic, mode, levels, step.arg, threads=threads, **extra)
    except PoolError as err:
        _fail(report.PoolRecord(input, mode=mode, index=0), err)
        raise typer.Exit(1) from None

    if not quiet and (quality is not None or compress_level is not None):
        with contextlib.suppress(PoolError):  # a format that cannot be written: the level's error
            fmt = formats.format_name(format) if format else formats.format_for_path(target(1))
            warn_unused_encoding({fmt}, quality, compress_level)
    records = _write_levels(
        input, mode, pic, made, target, out, levels, loaded=loaded, skip=skip_existing, json=json
    )
    if not (quiet or json) and any(r.status != "error" for r in records):
        report.print_table(report.pool_table(records, noun="levels"), stderr=True)
    raise typer.Exit(int(any(r.status == "error" for r in records)))


def _checked(
    input: str,
    mode: str,
    p: float | None,
    factor: Size | None,
    out_dir: str | None,
    format: str | None,
    skip_existing: bool,
    force: bool,
) -> tuple[str, Size]:
    """The mode's name and the factor between levels; a usage error (exit 2) for wrong options."""
    from poolcli.core.modes import resolve_mode
    from poolcli.io import formats

    if input == STDIN:
        raise typer.BadParameter("needs a file: the outputs are named after it", param_hint="INPUT")
    try:
        mode = resolve_mode(mode.lower())
    except PoolError as err:
        raise typer.BadParameter(str(err), param_hint="--mode") from None
    if p is not None and not (0 < p < math.inf):
        raise typer.BadParameter(f"p must be a finite number > 0, got {p:g}", param_hint="--p")
    if skip_existing and force:
        raise typer.BadParameter(
            "--skip-existing keeps existing outputs, --force replaces them: give one",
            param_hint="--skip-existing",
        )
    step = factor or Size(2, 2)
    if step.h * step.w < 2:
        raise typer.BadParameter("must be at least 2 on one axis", param_hint="--stride")
    if out_dir is not None and os.path.isfile(out_dir):
        raise typer.BadParameter(f"{out_dir} is a file", param_hint="--out-dir")
    if format is not None:
        try:
            formats.format_name(format)
        except PoolError as err:
            raise typer.BadParameter(str(err), param_hint="--format") from None
    return mode, step


def _namer(input: str, mode: str, step: Size, out: Output) -> Callable[[int], str]:
    """``target(level)``, the path of a level; a usage error now for a template that fails."""
    from poolcli.run import plan

    ext = {"ext": "." + out.format.lower().lstrip(".")} if out.format else {}

    def target(level: int) -> str:
        scale = Size(step.h**level, step.w**level)
        fields = {"mode": mode, "level": str(level), "factor": str(scale), **ext}
        file = plan.output_name(input, out.name, **fields)
        folder = out.out_dir if out.out_dir is not None else os.path.dirname(input)
        return os.path.join(folder, file)

    try:
        plan.check_template(out.name, ["mode", "level", "factor"])
    except PoolError as err:
        raise typer.BadParameter(str(err), param_hint="--name") from None
    return target


def _fail(record: "PoolRecord", err: PoolError) -> None:
    from poolcli.cli import report

    record.status, record.error = "error", cause(err, record.input)
    report.print_error(record.input, record.error)


def _write_levels(
    input: str,
    mode: str,
    pic: "Picture",
    made: "Iterator[tuple[Any, Picture]]",
    target: Callable[[int], str],
    out: Output,
    levels: int,
    *,
    loaded: float,
    skip: bool,
    json: bool,
) -> list["PoolRecord"]:
    """Write each level as it is made, one record a level; a level that cannot be made ends it."""
    from poolcli.cli import report
    from poolcli.io import writing
    from poolcli.run import plan

    records: list[PoolRecord] = []
    input_id = file_id(input)
    for level in range(1, levels + 1):
        path = target(level)
        record = report.PoolRecord(input, output=path, mode=mode, index=0)
        records.append(record)
        t0 = time.perf_counter()
        try:
            how, pooled = next(made)
        except PoolError as err:  # a level that cannot be made: nor can the ones after it
            _fail(record, err)
            if json:
                report.print_json(record)
            break
        try:
            record.seconds.pool = time.perf_counter() - t0
            if level == 1:
                record.seconds.load = loaded
            record.window = _level_window(how)
            describe(record, pic)
            record.output_shape = pooled.shape
            if input_id is not None and file_id(path) == input_id:
                raise ImageError(f"output {path} is the input; not writing over it")
            if os.path.lexists(path) and skip:
                record.status = "skipped"
            else:
                t0 = time.perf_counter()
                encoding = {"quality": out.quality, "compress_level": out.compress_level}
                if out.out_dir is not None:  # made for the first level written, not before
                    plan.make_folder(out.out_dir)
                writing.write_picture(pooled, path, format=out.format, force=out.force, **encoding)
                record.seconds.save = time.perf_counter() - t0
        except PoolError as err:
            _fail(record, err)
        if json:
            report.print_json(record)
    return records


def _level_window(step: Any) -> str:
    """``L2 = L1 k2 s2`` (chained) or ``L2 = L0 k4 s4`` (from the input)."""
    k = Size(*step.kernel)
    return f"L{step.level} = L{step.source} k{k} s{k}"
