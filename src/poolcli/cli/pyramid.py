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
    os_cause,
    warn_unused_encoding,
)
from poolcli.cli.options import (
    BATCH,
    OUTPUT,
    STDIN,
    WINDOW,
    AxesOpt,
    BackgroundOpt,
    CompressOpt,
    ForceOpt,
    JsonOpt,
    MaxPixelsOpt,
    Output,
    POpt,
    QualityOpt,
    QuietOpt,
    SchedulerOpt,
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
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH.zarr",
            rich_help_panel=OUTPUT,
            help="Write one OME-Zarr store (level 0 the input, then each level; needs"
            " poolcli[zarr]) instead of a file per level.",
        ),
    ] = None,
    chunks: Annotated[
        Size | None,
        typer.Option(
            "--chunks",
            parser=parse_size,
            metavar="N|HxW|DxHxW",
            rich_help_panel=OUTPUT,
            help="OME-Zarr: chunk size per pooled axis (default 64 per axis for volumes, 256"
            " for planes).",
            show_default=False,
        ),
    ] = None,
    axes: AxesOpt = None,
    scheduler: SchedulerOpt = None,
    background: BackgroundOpt = None,
) -> None:
    """Successive pooled levels of one image (tiles, mip maps): INPUT_avg_L1.png, _L2, ..."""
    from poolcli.cli import report
    from poolcli.io import formats, reading
    from poolcli.run import pyramid as pyramids

    mode, step = _checked(input, mode, p, factor, out_dir, format, skip_existing, force)
    if output is not None:
        per_level = {
            "--out-dir": out_dir is not None,
            "--name": name != PYRAMID_NAME,
            "--format": format is not None,
            "--quality": quality is not None,
            "--skip-existing": skip_existing,
        }
        for option, given in per_level.items():
            if given:
                raise typer.BadParameter(
                    "is for a file per level; -o writes one OME-Zarr store", param_hint=option
                )
        _ome_zarr(
            input,
            output,
            mode,
            levels,
            step,
            p,
            axes,
            chunks,
            compress_level,
            force,
            jobs,
            max_pixels,
            json,
            quiet,
            scheduler,
            background,
        )
    if step.axes == 3:
        raise typer.BadParameter(
            "3 axes make a volume pyramid: write it as OME-Zarr with -o PATH.zarr",
            param_hint="--stride",
        )
    if axes is not None or scheduler is not None or chunks is not None:
        option = "--axes" if axes else "--scheduler" if scheduler else "--chunks"
        raise typer.BadParameter("is for OME-Zarr pyramids (-o PATH.zarr)", param_hint=option)
    out = Output(None, out_dir, name, format, quality, compress_level, force)
    target = _namer(input, mode, step, out)
    extra = {"p": p} if "p" in MODES[mode].params else {}
    if background is not None and "background" in MODES[mode].params:
        extra["background"] = background
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
    step = factor or Size(2)
    if max(step.values) < 2:
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
                writing.write_picture(
                    pooled,
                    path,
                    format=out.format,
                    force=out.force,
                    parents=out.out_dir is not None,  # made once a level is encoded
                    **encoding,
                )
                record.seconds.save = time.perf_counter() - t0
        except PoolError as err:
            _fail(record, err)
        if json:
            report.print_json(record)
    return records


def _ome_zarr(
    input: str,
    output: str,
    mode: str,
    levels: int,
    step: Size,
    p: float | None,
    axes: str | None,
    chunks: Size | None,
    compress_level: int | None,
    force: bool,
    jobs: int | None,
    max_pixels: int | None,
    json: bool,
    quiet: bool,
    scheduler: str | None,
    background: int | float | None,
) -> None:
    """``poolcli pyramid INPUT -o PATH.zarr``: one OME-Zarr store, a record per level."""
    from poolcli.cli import report
    from poolcli.io.arrayfile import axis_names, parse_axes
    from poolcli.io.omezarr import ngff_order
    from poolcli.run import omezarr as omezarrs
    from poolcli.run.distributed import check_scheduler

    if not output.rstrip("/").lower().endswith(".zarr"):
        raise typer.BadParameter(
            f"{output}: names an OME-Zarr store (PATH.zarr); for a file per level use --out-dir"
            " and --name",
            param_hint="'-o' / '--output'",
        )
    if compress_level is not None and not 0 <= compress_level <= 9:
        raise typer.BadParameter("0 (none) to 9", param_hint="--compress-level")
    try:
        if axes is not None:
            parse_axes(axes)
        if scheduler is not None:
            check_scheduler(scheduler)
    except (ImportError, PoolError) as err:
        raise typer.BadParameter(str(err), param_hint="--axes" if axes else "--scheduler") from None
    extra: dict[str, Any] = {"p": p} if "p" in MODES[mode].params else {}
    if background is not None and "background" in MODES[mode].params:
        extra["background"] = background
    if jobs is not None:
        extra["threads"] = jobs
    counts = {s.axes for s in (step, chunks) if s is not None and s.axes is not None}
    if len(counts) > 1:
        raise typer.BadParameter(
            "--stride and --chunks give different numbers of axes", param_hint="--chunks"
        )
    spatial = counts.pop() if counts else None
    made: list[tuple[Any, float]] = []  # each level written, with the seconds it took
    clock = [time.perf_counter()]

    def on_level(level: Any) -> None:
        now = time.perf_counter()
        made.append((level, now - clock[0]))
        clock[0] = now

    def factor_for(size: Size) -> Any:
        return size.values if size.axes == 3 else size.arg

    try:
        af, _ = omezarrs.ome_zarr_pyramid(
            input,
            output,
            mode,
            levels,
            factor_for(step),
            name=input,
            axes=axes,
            spatial=spatial,
            scheduler=scheduler,
            read_kwargs=max_pixels_kwargs(max_pixels),
            on_level=on_level,
            chunks=None if chunks is None else factor_for(chunks),
            compress_level=compress_level,
            force=force,
            **extra,
        )
    except ImportError as err:
        report.print_error(input, f"OME-Zarr needs poolcli[zarr] ({err.name} is missing)")
        raise typer.Exit(1) from None
    except PoolError as err:
        report.print_error(input, cause(err, input))
        raise typer.Exit(1) from None
    except OSError as err:  # the Dask scheduler cannot be reached
        report.print_error(str(scheduler or output), os_cause(err))
        raise typer.Exit(1) from None
    # Shapes in the store's order (OME-NGFF: t, c, z, y, x), the input's too.
    order = ngff_order(af.axes)
    names = axis_names("".join(af.axes[i] for i in order))
    records = []
    for level, seconds in made:
        record = report.PoolRecord(input, output=f"{output}/s{level.level}", mode=mode)
        k = Size(*level.window)
        record.window = f"L{level.level} = L{level.source} k{k} s{k}" if level.level else "L0"
        record.input_shape = tuple(af.shape[i] for i in order)
        record.output_shape, record.axes = level.shape, names
        record.dtype, record.image_mode, record.frames = af.dtype, af.mode, 1
        record.seconds.pool = seconds
        records.append(record)
        if json:
            report.print_json(record)
    if not (quiet or json):
        report.print_table(report.pool_table(records, noun="levels"), stderr=True)
    raise typer.Exit(0)


def _level_window(step: Any) -> str:
    """``L2 = L1 k2 s2`` (chained) or ``L2 = L0 k4 s4`` (from the input)."""
    k = Size(*step.kernel)
    return f"L{step.level} = L{step.source} k{k} s{k}"
