"""The ``poolcli`` command line: one command per pooling mode, ``info`` and ``pyramid``.

Every command is wiring: parse the options, call the library (:mod:`poolcli.batch` finds, plans
and pools the inputs of a mode command, in parallel; :mod:`poolcli.images` reads the others), hand
plain records to :mod:`poolcli.report`, and pick the exit status (0 all done, 1 some inputs
failed, 2 bad usage; 130 and 143 when interrupted by SIGINT or SIGTERM). The mode commands are
generated from :data:`poolcli.modes.MODES`, so a new mode is one registry entry. Pillow, Rich and
:mod:`poolcli.images` are imported inside the commands, so ``poolcli --help`` only pays for Typer
and the registry.

Output names come from ``--name`` (default ``{stem}_{mode}{stride}{ext}``): ``{stride}`` is ``2``
for 2x2 steps, ``2x3`` for unequal ones and ``s64x64`` for ``--size 64x64`` (``s1x1`` for
``--global``); ``{kernel}`` is there too, and ``{ext}`` is the input's suffix unless ``--format``
names another.
"""

import contextlib
import copy
import inspect
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import poolcli
from poolcli.errors import ImageError, PoolError, WindowError
from poolcli.modes import DEFAULTS, MODES, ModeInfo

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    from PIL import Image

    from poolcli import batch
    from poolcli.images import Picture
    from poolcli.report import InfoRecord, PoolRecord

# The library's defaults, shown in --help and used for output names: one copy, in poolcli.modes.
_DEFAULTS = DEFAULTS
DEFAULT_NAME = "{stem}_{mode}{stride}{ext}"
STDIN = "-"


@dataclass(frozen=True)
class Size:
    """The value of a size option: ``N``, ``HxW`` or ``H,W``."""

    h: int
    w: int

    @property
    def arg(self) -> int | tuple[int, int]:
        """As :func:`poolcli.pool` takes it: an int when square, else ``(h, w)``."""
        return self.h if self.h == self.w else (self.h, self.w)

    def __str__(self) -> str:
        return str(self.h) if self.h == self.w else f"{self.h}x{self.w}"


def parse_size(text: str, minimum: int = 1) -> Size:
    """``"2"`` -> 2x2, ``"2x3"`` or ``"2,3"`` -> 2x3; each at least ``minimum``.

    >>> parse_size("2x3"), str(parse_size("4,4"))
    (Size(h=2, w=3), '4')
    """
    parts = text.strip().lower().replace(",", "x").split("x")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise typer.BadParameter(f"expected N, HxW or H,W, got {text!r}")
    if min(values) < minimum:
        raise typer.BadParameter(f"must be at least {minimum}, got {text!r}")
    return Size(values[0], values[-1])


def parse_padding(text: str) -> Size | str:
    """A size (0 allowed), or TensorFlow's ``same`` / ``valid``."""
    word = text.strip().lower()
    if word in ("same", "valid"):
        return word
    try:
        return parse_size(text, minimum=0)
    except typer.BadParameter as err:
        raise typer.BadParameter(f"{err.message} (or same, valid)") from None


@dataclass(frozen=True)
class Window:
    """The pooling options of one run, as given (``None``: not given, the library default)."""

    kernel: Size | None = None
    stride: Size | None = None
    padding: Size | str | None = None
    dilation: Size | None = None
    ceil: bool = False
    size: Size | None = None  # adaptive pooling
    count_include_pad: bool = True
    p: float | None = None

    @property
    def _kernel(self) -> Size | int:
        # `--stride 2` alone means 2x2 windows: the kernel follows the stride, as the stride
        # follows the kernel in the library.
        return self.kernel or self.stride or _DEFAULTS["kernel_size"]

    def geometry(self) -> dict[str, Any]:
        """Keyword arguments for :func:`poolcli.core.output_shape` (and ``pool``)."""
        if self.size is not None:
            return {"output_size": self.size.arg}
        given = {
            "kernel_size": self._kernel,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
        }
        args = {k: v.arg if isinstance(v, Size) else v for k, v in given.items() if v is not None}
        return args | {"ceil_mode": self.ceil}

    def pool_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`poolcli.images.pool_picture`."""
        extra: dict[str, Any] = {"count_include_pad": self.count_include_pad}
        if self.p is not None:
            extra["p"] = self.p
        return self.geometry() | extra

    def name_fields(self) -> dict[str, str]:
        """``{stride}`` and ``{kernel}`` for output names: ``2``, ``2x3``, ``s64x64`` (adaptive)."""
        if self.size is not None:
            adaptive = f"s{self.size.h}x{self.size.w}"
            return {"stride": adaptive, "kernel": adaptive}
        return {"stride": str(self.stride or self._kernel), "kernel": str(self._kernel)}

    def describe(self) -> str:
        """``k3 s2 pad1 d2 ceil``, ``k2 s2 p=3`` (lp), or ``adaptive 64x64``."""
        if self.size is not None:
            return f"adaptive {self.size.h}x{self.size.w}"
        parts = [f"k{self._kernel}", f"s{self.stride or self._kernel}"]
        if self.padding is not None:
            parts.append(f"pad{self.padding}")
        if self.dilation is not None:
            parts.append(f"d{self.dilation}")
        if self.ceil:
            parts.append("ceil")
        if self.p is not None:
            parts.append(f"p={self.p:g}")
        return " ".join(parts)


def _window(
    kernel: Size | None,
    stride: Size | None,
    padding: Size | str | None,
    dilation: Size | None,
    ceil: bool,
    size: Size | None,
    global_: bool,
    count_include_pad: bool = True,
    p: float | None = None,
) -> Window:
    """Combine the window options and reject what is wrong for every image (exit 2)."""
    if global_:
        if size is not None:
            raise typer.BadParameter(
                "--global is --size 1x1; give one of them", param_hint="--global"
            )
        size = Size(1, 1)
    if size is not None and (kernel or stride or padding or dilation or ceil):
        raise typer.BadParameter(
            "adaptive pooling (--size/--global) excludes --kernel, --stride, --padding,"
            " --dilation and --ceil",
            param_hint="--size",
        )
    if p is not None and not (0 < p < math.inf):
        raise typer.BadParameter(f"p must be a finite number > 0, got {p:g}", param_hint="--p")
    window = Window(kernel, stride, padding, dilation, ceil, size, count_include_pad, p)
    from poolcli.core import check_window

    try:
        check_window(**window.geometry())
    except WindowError as err:
        raise typer.BadParameter(str(err), param_hint="the window options") from None
    return window


# --- options shared by the commands -------------------------------------------------------------

WINDOW, OUTPUT, REPORT = "Window", "Output", "Report"

Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Image files; - reads standard input.", metavar="INPUT", show_default=False
    ),
]
KernelOpt = Annotated[
    Size | None,
    typer.Option(
        "-k",
        "--kernel",
        parser=parse_size,
        metavar="N|HxW",
        rich_help_panel=WINDOW,
        help=f"Window size (default: the stride, else {_DEFAULTS['kernel_size']}).",
    ),
]
StrideOpt = Annotated[
    Size | None,
    typer.Option(
        "-s",
        "--stride",
        parser=parse_size,
        metavar="N|HxW",
        rich_help_panel=WINDOW,
        help="Step between windows (default: the kernel). --stride 2 alone means 2x2 windows.",
    ),
]
PaddingOpt = Annotated[
    Any,  # Size or "same"/"valid": Typer takes the type from parse_padding
    typer.Option(
        "-p",
        "--padding",
        parser=parse_padding,
        metavar="N|HxW|same|valid",
        rich_help_panel=WINDOW,
        help="Padding on each side (never wins a max/min), or TensorFlow's same/valid.",
    ),
]
DilationOpt = Annotated[
    Size | None,
    typer.Option(
        "-d",
        "--dilation",
        parser=parse_size,
        metavar="N|HxW",
        rich_help_panel=WINDOW,
        help="Step between the taps of a window.",
    ),
]
CeilOpt = Annotated[
    bool,
    typer.Option("--ceil", rich_help_panel=WINDOW, help="Round the output size up (ceil_mode)."),
]
CountPadOpt = Annotated[
    bool,
    typer.Option(
        "--count-include-pad/--no-count-include-pad",
        rich_help_panel=WINDOW,
        help="avg: divide by the window's cells including padding (PyTorch's default).",
    ),
]
SizeOpt = Annotated[
    Size | None,
    typer.Option(
        "--size",
        parser=parse_size,
        metavar="N|HxW",
        rich_help_panel=WINDOW,
        help="Adaptive pooling to this output size (excludes the other window options).",
    ),
]
GlobalOpt = Annotated[
    bool,
    typer.Option("--global", rich_help_panel=WINDOW, help="Global pooling: --size 1x1."),
]
POpt = Annotated[
    float,
    typer.Option("--p", rich_help_panel=WINDOW, help="Exponent of the power mean, > 0."),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        metavar="PATH",
        rich_help_panel=OUTPUT,
        help="Output file for a single input; - writes standard output.",
    ),
]
OutDirOpt = Annotated[
    str | None,
    typer.Option(
        "--out-dir",
        metavar="DIR",
        rich_help_panel=OUTPUT,
        help="Folder for the outputs, mirroring the folders the inputs were found in (created if"
        " missing; an fsspec URL works too; default: beside each input).",
    ),
]
NameOpt = Annotated[
    str,
    typer.Option(
        "--name",
        metavar="TEMPLATE",
        rich_help_panel=OUTPUT,
        help="Output name: {stem} {ext} {mode} {stride} {kernel}.",
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        rich_help_panel=OUTPUT,
        help="Output format or extension (png, jpg, webp, tiff, ...; default: from the name;"
        " for -o -, the input's).",
    ),
]
QualityOpt = Annotated[
    int | None,
    typer.Option(
        "--quality",
        min=0,
        max=100,
        rich_help_panel=OUTPUT,
        help="JPEG/WebP/AVIF quality (WebP 100: lossless).",
    ),
]
CompressOpt = Annotated[
    int | None,
    typer.Option(
        "--compress-level",
        min=0,
        max=9,
        rich_help_panel=OUTPUT,
        help="PNG compression 0-9 (default 1: fast; 9: smallest; 0: none).",
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", rich_help_panel=OUTPUT, help="Overwrite existing files (never inputs)."
    ),
]
MaxPixelsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-pixels",
        min=0,
        metavar="N",
        rich_help_panel=REPORT,
        help="Decompression-bomb limit in pixels (0: no limit; default: Pillow's).",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", rich_help_panel=REPORT, help="One JSON object per input on stdout."),
]
QuietOpt = Annotated[
    bool, typer.Option("-q", "--quiet", rich_help_panel=REPORT, help="Print nothing but errors.")
]
PreviewOpt = Annotated[
    bool,
    typer.Option(
        "--preview",
        rich_help_panel=REPORT,
        help="Show each input and its result in the terminal, on standard error (also with -q;"
        " characters instead of colour when colour is off or it is not a terminal).",
    ),
]

BATCH = "Many files"
PoolInputs = Annotated[
    list[str],
    typer.Argument(
        help="Image files, folders (the images in them; -r: and in their subfolders), quoted"
        " patterns ('scans/**/*.tif') or fsspec URLs; - reads standard input.",
        metavar="INPUT",
        show_default=False,
    ),
]
RecursiveOpt = Annotated[
    bool,
    typer.Option(
        "-r", "--recursive", rich_help_panel=BATCH, help="Folders: also the images in subfolders."
    ),
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "-j",
        "--jobs",
        min=1,
        metavar="N",
        rich_help_panel=BATCH,
        help="Cores to use: up to N worker processes for many files (fewer for a few small"
        " ones), N threads for one (default: the number of cores).",
        show_default=False,
    ),
]
SkipExistingOpt = Annotated[
    bool,
    typer.Option(
        "--skip-existing",
        rich_help_panel=BATCH,
        help="Skip inputs whose output exists (complete: writes are atomic), to resume a run.",
    ),
]
FailFastOpt = Annotated[
    bool,
    typer.Option("--fail-fast", rich_help_panel=BATCH, help="Stop at the first input that fails."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="POOLCLI_SCHEDULER",
        metavar="ADDRESS",
        rich_help_panel=BATCH,
        help="Pool on this Dask distributed cluster (tcp://host:8786; needs poolcli[dask]);"
        " its workers must reach the files by the same paths, or by URL.",
        show_default=False,
    ),
]


# --- the app --------------------------------------------------------------------------------------

app = typer.Typer(
    name="poolcli",
    help="Downsample images by pooling, with PyTorch's window rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Plain help and one-line usage errors: Rich's help formatter alone doubles start-up time.
    rich_markup_mode=None,
)


def _version_line() -> str:
    return f"poolcli {poolcli.__version__}"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Downsample images by pooling: poolcli MODE INPUT... [options]."""
    # Pillow logs why a corrupt file failed (e.g. TIFF tags) on top of raising; with no logging
    # set up Python would print that to stderr, beside the one error line that already says it.
    import logging  # here, not at the top: 4 ms that --help and --version do not need

    pil = logging.getLogger("PIL")
    if not pil.handlers:
        pil.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Output:
    """Where and how the pooled images are written."""

    path: str | None = None
    out_dir: str | None = None
    name: str = DEFAULT_NAME
    format: str | None = None
    quality: int | None = None
    compress_level: int | None = None
    force: bool = False


@dataclass(frozen=True)
class Batch:
    """How many inputs are found and run."""

    recursive: bool = False
    jobs: int | None = None  # None: the number of cores
    skip_existing: bool = False
    fail_fast: bool = False
    scheduler: str | None = None


def _read_early(source: str, max_pixels: int | None) -> None:
    """Start decoding the one input file now, on a thread of its own, if it is a file a fast
    decoder takes (:mod:`poolcli.ahead`), and wait for the decoder to run: while it decodes,
    with the GIL released, this thread imports NumPy and the rest and checks the options. If they
    turn out wrong, the decoding was for nothing. (The script usually started it already, before
    this module was imported: :mod:`poolcli.entry`.)"""
    from poolcli import ahead

    ahead.start(source, _max_pixels(max_pixels), wait=True)


def _add_mode_command(info: ModeInfo) -> None:
    takes_p = "p" in info.params

    def command(
        inputs: PoolInputs,
        kernel: KernelOpt = None,
        stride: StrideOpt = None,
        padding: PaddingOpt = None,
        dilation: DilationOpt = None,
        ceil: CeilOpt = False,
        count_include_pad: CountPadOpt = True,
        size: SizeOpt = None,
        global_: GlobalOpt = False,
        p: POpt = _DEFAULTS["p"],
        output: OutputOpt = None,
        out_dir: OutDirOpt = None,
        name: NameOpt = DEFAULT_NAME,
        format: FormatOpt = None,
        quality: QualityOpt = None,
        compress_level: CompressOpt = None,
        force: ForceOpt = False,
        max_pixels: MaxPixelsOpt = None,
        json: JsonOpt = False,
        quiet: QuietOpt = False,
        preview: PreviewOpt = False,
        recursive: RecursiveOpt = False,
        jobs: JobsOpt = None,
        skip_existing: SkipExistingOpt = False,
        fail_fast: FailFastOpt = False,
        scheduler: SchedulerOpt = None,
    ) -> None:
        if len(inputs) == 1 and not skip_existing and STDIN not in (inputs[0], output):
            _read_early(inputs[0], max_pixels)
        else:
            from poolcli import ahead

            ahead.drop()  # the script's early read of a first argument that is one of several
        window = _window(
            kernel,
            stride,
            padding,
            dilation,
            ceil,
            size,
            global_,
            count_include_pad,
            p if takes_p else None,
        )
        out = Output(output, out_dir, name, format, quality, compress_level, force)
        many = Batch(recursive, jobs, skip_existing, fail_fast, scheduler or None)
        run = PoolRun(info.name, window, out, _max_pixels(max_pixels), json, quiet, many, preview)
        try:
            status = run.process(inputs)
        finally:
            from poolcli import ahead

            ahead.drop()  # read early and then not pooled: a check failed
        raise typer.Exit(status)

    if not takes_p:  # keep --p out of the other commands and their help
        signature = inspect.signature(command)
        kept = [q for q in signature.parameters.values() if q.name != "p"]
        command.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    aliases = f" Alias: {', '.join(info.aliases)}." if info.aliases else ""
    app.command(info.name, help=info.summary + aliases)(command)
    for alias in info.aliases:
        app.command(alias, help=f"Same as {info.name}.", hidden=True)(command)


for _info in MODES.values():
    _add_mode_command(_info)


@app.command()
def info(
    inputs: Inputs,
    kernel: KernelOpt = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    dilation: DilationOpt = None,
    ceil: CeilOpt = False,
    size: SizeOpt = None,
    global_: GlobalOpt = False,
    max_pixels: MaxPixelsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Format, frames, shape (HxWxC), image mode and dtype; and what the window would give."""
    window = _window(kernel, stride, padding, dilation, ceil, size, global_)
    _check_stdin(inputs)
    from poolcli import report

    records = []
    for source in inputs:
        record = report.InfoRecord(_display(source), window=window.describe())
        try:
            pic = _read(source, _max_pixels(max_pixels))
        except PoolError as err:
            record.status, record.error = "error", _cause(err, record.input)
            report.print_error(record.input, record.error)
        else:
            _describe(record, pic)
            record.format = pic.format
            try:
                from poolcli.core import output_shape

                oh, ow = output_shape(pic.size[::-1], **window.geometry())
                record.output_shape = (oh, ow, record.input_shape[2])
            except WindowError as err:
                record.window_error = str(err)
        records.append(record)
        if json:
            report.print_json(record)
    if not json:
        report.print_table(report.info_table(records), stderr=False)
    raise typer.Exit(int(any(r.status != "ok" for r in records)))


# --- one pooling run ------------------------------------------------------------------------------


@dataclass
class PoolRun:
    """Pools every input with one mode and window, writes the outputs, reports each input."""

    mode: str
    window: Window
    out: Output
    read_kwargs: dict[str, Any]
    as_json: bool = False
    quiet: bool = False
    many: Batch = Batch()
    preview: bool = False

    def process(self, inputs: list[str]) -> int:
        """Process every input; the exit status (0, 1 when an input failed, 130/143 stopped)."""
        from poolcli import batch

        if self._may_fork(inputs):
            # Worker processes are forked from a server that imports NumPy and Pillow: let it
            # do that while this process does the same below, on another core.
            batch.start_worker_server(preload=[__name__])
        self._check_usage(inputs)
        from poolcli import report

        if STDIN in inputs or self.out.path == STDIN:
            return self._stream(inputs[0])
        sources = batch.expand_inputs(inputs, recursive=self.many.recursive)
        try:
            plan = batch.make_plan(
                sources,
                self._recipe(),
                template=self.out.name,
                fields=self._fields(),
                out_dir=self.out.out_dir,
                output=self.out.path,
                skip_existing=self.many.skip_existing,
            )
        except batch.PlanError as err:
            hint = "'-o' / '--output'" if self.out.path is not None else "--name"
            raise typer.BadParameter(str(err), param_hint=hint) from None
        try:
            plan.prepare()
        except ImageError as err:
            name, _, why = str(err).partition(": ")
            report.print_error(name, why)
            return 1
        return self._run(plan)

    def _run(self, plan: "batch.Plan") -> int:
        """Run the plan; render each record as it comes, then the table or summary."""
        from poolcli import batch, report

        total = plan.total
        finished: list[tuple[int, PoolRecord]] = []
        jobs = self.many.jobs or batch.cpu_count()
        start = time.perf_counter()
        stopped: int | None = None  # the exit status of an interrupted run
        todo = plan.jobs
        if self.many.fail_fast and any(r.status == "error" for _, r in plan.done):
            todo = []
        with contextlib.ExitStack() as stack:
            stack.enter_context(batch.terminate_on_sigterm())
            try:
                try:
                    # Before the progress bar: its thread would keep the workers from forking.
                    results = batch.run(
                        todo,
                        workers=batch.workers_for(todo, jobs),
                        threads=jobs,
                        scheduler=self.many.scheduler,
                        preload=[__name__],  # the poolcli script imports this module
                    )
                except OSError as err:  # the Dask scheduler cannot be reached
                    report.print_error(str(self.many.scheduler), _os_cause(err))
                    return 1
                stack.enter_context(contextlib.closing(results))
                advance = stack.enter_context(report.progress(total, enabled=self._chatty(total)))
                for index, record in plan.done:
                    finished.append((index, record))
                    self._emit(record)
                    advance()
                for job, record in results:
                    finished.append((job.index, record))
                    self._emit(record)
                    advance()
                    if self.many.fail_fast and record.status == "error":
                        break
            except KeyboardInterrupt:
                stopped = 130
            except batch.Terminated:
                stopped = 143
        records = [r for _, r in sorted(finished, key=lambda pair: pair[0])]
        self._summary(records, total, time.perf_counter() - start, stopped)
        if stopped is not None:
            return stopped
        return int(len(records) < total or any(r.status == "error" for r in records))

    def _may_fork(self, inputs: list[str]) -> bool:
        """Whether the run may start worker processes: several inputs, or a folder or pattern."""
        from poolcli import batch

        cores = self.many.jobs or batch.cpu_count()
        if self.many.scheduler is not None or cores == 1 or STDIN in inputs:
            return False
        return len(inputs) > 1 or any(not os.path.isfile(i) for i in inputs)

    def _chatty(self, total: int) -> bool:
        return total > 1 and not self.quiet

    def _emit(self, record: "PoolRecord", pictures: "list[Picture] | None" = None) -> None:
        from poolcli import report

        if record.error is not None:
            report.print_error(record.input, record.error)
        if self.as_json:
            report.print_json(record)
        if self.preview and record.status == "ok":
            _preview_run(record, self.read_kwargs, pictures)

    def _summary(
        self, records: list["PoolRecord"], total: int, seconds: float, stopped: int | None
    ) -> None:
        from poolcli import report

        if self.quiet:
            return
        # When nothing was written the error lines already said everything.
        table = (
            not self.as_json
            and stopped is None
            and len(records) <= report.TABLE_MAX_ROWS
            and any(r.status != "error" for r in records)
        )
        if table:
            report.print_table(report.pool_table(records), stderr=True)
        incomplete = len(records) < total or any(r.status == "error" for r in records)
        if total > 1 and (not table or incomplete):
            report.print_note(report.summary_line(records, total, seconds))
        if stopped is not None or len(records) < total:
            why = "interrupted" if stopped is not None else "stopped at the first failure"
            report.print_note(f"poolcli: {why}; rerun with --skip-existing to finish")

    def _recipe(self) -> "batch.Recipe":
        from poolcli import batch

        out = self.out
        return batch.Recipe(
            self.mode,
            self.window.pool_kwargs(),
            self.window.describe(),
            self.read_kwargs,
            out.format,
            out.quality,
            out.compress_level,
            out.force,
        )

    def _fields(self) -> dict[str, str]:
        return {"mode": self.mode, **self.window.name_fields()}

    def _check_usage(self, inputs: list[str]) -> None:
        """Reject option combinations that are wrong whatever the images (exit 2)."""
        from poolcli import batch, images

        out = self.out
        _check_stdin(inputs)
        if STDIN in inputs and out.path is None:
            raise typer.BadParameter("standard input needs -o PATH or -o -", param_hint="INPUT")
        if out.path is not None and len(inputs) > 1:
            raise typer.BadParameter(
                "names one output; for several inputs use --out-dir and --name",
                param_hint="'-o' / '--output'",
            )
        if out.path is not None and out.out_dir is not None:
            raise typer.BadParameter("-o and --out-dir exclude each other", param_hint="--out-dir")
        if out.out_dir is not None and os.path.isfile(out.out_dir):
            raise typer.BadParameter(f"{out.out_dir} is a file", param_hint="--out-dir")
        if out.path == STDIN and self.as_json:
            raise typer.BadParameter(
                "-o - and --json both write standard output", param_hint="--json"
            )
        if out.path == STDIN and sys.stdout.isatty():
            raise typer.BadParameter(
                "refusing to write image bytes to a terminal: redirect or pipe standard output",
                param_hint="'-o' / '--output'",
            )
        if self.many.skip_existing and out.force:
            raise typer.BadParameter(
                "--skip-existing keeps existing outputs, --force replaces them: give one",
                param_hint="--skip-existing",
            )
        if self.many.scheduler is not None:
            if STDIN in inputs or out.path == STDIN:
                raise typer.BadParameter(
                    "a cluster reads and writes files, not standard input or output",
                    param_hint="--scheduler",
                )
            try:
                batch.check_scheduler(self.many.scheduler)
            except (ImportError, PoolError) as err:
                raise typer.BadParameter(str(err), param_hint="--scheduler") from None
        try:
            if out.format is not None:
                images.format_name(out.format)
            elif out.path not in (None, STDIN):
                images.format_for_path(out.path)
        except PoolError as err:
            hint = "--format" if out.format else "'-o' / '--output'"
            raise typer.BadParameter(str(err), param_hint=hint) from None
        try:
            batch.output_name("image.png", out.name, **self._fields())
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise typer.BadParameter(
                f"{out.name!r}: {err!r}; the fields are {{stem}} {{ext}} {{mode}} {{stride}}"
                " {kernel}",
                param_hint="--name",
            ) from None

    def _stream(self, source: str) -> int:
        """The one input that comes from standard input or goes to standard output."""
        from poolcli import batch, report

        target = None if self.out.path == STDIN else self.out.path
        record = batch.PoolRecord(
            _display(source),
            output=STDIN if target is None else target,
            mode=self.mode,
            window=self.window.describe(),
        )
        pictures: list[Picture] = []  # the input and its result, for --preview
        batch.pool_timed(
            record,
            lambda: _kept(pictures, _read(source, self.read_kwargs)),
            lambda pic: self._save(_kept(pictures, pic), target),
            self._recipe(),
            self.many.jobs,
        )
        self._emit(record, pictures)
        if not (self.quiet or self.as_json) and record.status == "ok":
            report.print_table(report.pool_table([record]), stderr=True)
        return int(record.status != "ok")

    def _save(self, pic: "Picture", target: str | None) -> None:
        from poolcli import images

        out = self.out
        encoding = {"quality": out.quality, "compress_level": out.compress_level}
        if target is not None:
            images.write_picture(pic, target, format=out.format, force=out.force, **encoding)
            return
        data = images.encode_picture(pic, out.format or pic.format or "PNG", **encoding)
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as err:  # disk full, closed pipe: the I/O boundary of the CLI itself
            raise ImageError(f"standard output: {err.strerror or err}") from None


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
    p: POpt = _DEFAULTS["p"],
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
    format: FormatOpt = None,
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
    from poolcli import batch, images, report
    from poolcli import pyramid as pyramids
    from poolcli.modes import resolve_mode

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
            images.format_name(format)
        except PoolError as err:
            raise typer.BadParameter(str(err), param_hint="--format") from None
    ext = {"ext": "." + format.lower().lstrip(".")} if format else {}

    def target(level: int) -> str:
        scale = Size(step.h**level, step.w**level)
        fields = {"mode": mode, "level": str(level), "factor": str(scale), **ext}
        file = batch.output_name(input, name, **fields)
        return os.path.join(out_dir if out_dir is not None else os.path.dirname(input), file)

    try:
        target(1)
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise typer.BadParameter(
            f"{name!r}: {err!r}; the fields are {{stem}} {{ext}} {{mode}} {{level}} {{factor}}",
            param_hint="--name",
        ) from None

    display = input
    extra = {"p": p} if "p" in MODES[mode].params else {}
    records: list[PoolRecord] = []

    def fail(record: "PoolRecord", err: PoolError) -> None:
        record.status, record.error = "error", _cause(err, display)
        report.print_error(display, record.error)

    start = time.perf_counter()
    try:
        pic = images.read_picture(input, name=display, **_max_pixels(max_pixels))
        loaded = time.perf_counter() - start
        threads = jobs or batch.cpu_count()
        # Checks that the image has room for the levels before any is made or written.
        made = pyramids.pyramid_picture(pic, mode, levels, step.arg, threads=threads, **extra)
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
    except PoolError as err:
        fail(report.PoolRecord(display, mode=mode), err)
        raise typer.Exit(1) from None
    except OSError as err:
        report.print_error(str(out_dir), _os_cause(err))
        raise typer.Exit(1) from None

    input_id = _file_id(input)
    for level in range(1, levels + 1):
        out = target(level)
        record = report.PoolRecord(display, output=out, mode=mode)
        records.append(record)
        t0 = time.perf_counter()
        try:
            how, pooled = next(made)
        except PoolError as err:  # a level that cannot be made: nor can the ones after it
            fail(record, err)
            if json:
                report.print_json(record)
            break
        try:
            record.seconds.pool = time.perf_counter() - t0
            if level == 1:
                record.seconds.load = loaded
            record.window = _level_window(how)
            _describe(record, pic)
            record.output_shape = pooled.shape
            exists = os.path.lexists(out)
            if input_id is not None and _file_id(out) == input_id:
                raise ImageError(f"output {out} is the input; not writing over it")
            if exists and skip_existing:
                record.status = "skipped"
            else:
                t0 = time.perf_counter()
                encoding = {"quality": quality, "compress_level": compress_level}
                images.write_picture(pooled, out, format=format, force=force, **encoding)
                record.seconds.save = time.perf_counter() - t0
        except PoolError as err:
            fail(record, err)
        if json:
            report.print_json(record)
    if not (quiet or json) and any(r.status != "error" for r in records):
        report.print_table(report.pool_table(records, noun="levels"), stderr=True)
    raise typer.Exit(int(any(r.status == "error" for r in records)))


def _level_window(step: Any) -> str:
    """``L2 = L1 k2 s2`` (chained) or ``L2 = L0 k4 s4`` (from the input)."""
    k = Size(*step.kernel)
    return f"L{step.level} = L{step.source} k{k} s{k}"


# --- small helpers --------------------------------------------------------------------------------


def _check_stdin(inputs: list[str]) -> None:
    if inputs.count(STDIN) > 1:
        raise typer.BadParameter("standard input (-) can be read only once", param_hint="INPUT")
    if STDIN in inputs and sys.stdin is not None and sys.stdin.isatty():
        raise typer.BadParameter(
            "standard input is a terminal: pipe or redirect an image into it", param_hint="INPUT"
        )


def _display(source: str) -> str:
    return "<stdin>" if source == STDIN else source


def _read(source: str, read_kwargs: dict[str, Any]) -> "Picture":
    """Decode a file, or standard input for ``-``; every failure is an ImageError."""
    from poolcli import images

    name = _display(source)
    if source != STDIN:
        return images.read_picture(source, name=name, **read_kwargs)
    if sys.stdin is None:  # started with standard input closed
        raise ImageError(f"{name}: standard input is closed")
    try:
        data = sys.stdin.buffer.read()
    except OSError as err:
        raise ImageError(f"{name}: cannot read: {err.strerror or err}") from None
    return images.read_picture(data, name=name, **read_kwargs)


def _describe(record: "PoolRecord | InfoRecord", pic: "Picture") -> None:
    """Fill in what both reports say about an input: shape, image mode, dtype, frames."""
    from poolcli import batch

    batch.describe(record, pic)


def _max_pixels(value: int | None) -> dict[str, Any]:
    """read_picture's keyword: absent keeps Pillow's guard, 0 lifts it."""
    return {} if value is None else {"max_pixels": value or None}


def _shape(image: "Image.Image") -> tuple[int, int, int]:
    """``(H, W, C)`` of a Pillow image, as NumPy sees it."""
    from poolcli import batch

    return batch.shape_of(image)


def _file_id(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _cause(err: PoolError, name: str) -> str:
    """The message without a leading ``name: ``, which the error line adds once."""
    from poolcli import batch

    return batch.cause(err, name)


def _os_cause(err: OSError) -> str:
    text = err.strerror or " ".join(str(err).split()) or type(err).__name__
    return text[:1].lower() + text[1:]


def main() -> None:
    """Entry point of the ``poolcli`` script and ``python -m poolcli``."""
    args = sys.argv[1:]
    if args == ["--version"]:
        # Answered before Typer turns every command's options into Click parameters (~7 ms,
        # a tenth of the whole run); the same line the --version option prints.
        print(_version_line())
        return
    app_for(args)(prog_name="poolcli")


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs the command line ``args`` exactly as :data:`app` would, built faster.

    Before it parses anything Typer turns every registered command's options into Click
    parameters, about half a millisecond a command for thirteen commands. A run of one command
    (``poolcli max ...``, ``poolcli info --help``) gets an app with that command only; the list
    of commands (``poolcli``, ``poolcli --help``) one whose commands have their names and help
    but no options, which is all that list shows. Anything else (an unknown command, an option
    first) gets :data:`app` itself, so that its errors are Typer's own.
    """
    if args and args[0] not in ("--help",):
        chosen = [c for c in app.registered_commands if _command_name(c) == args[0]]
        return _app_with(chosen) if chosen else app
    return _app_with([_without_options(c) for c in app.registered_commands])


def _command_name(info: typer.models.CommandInfo) -> str | None:
    if info.name is not None:
        return info.name
    return None if info.callback is None else info.callback.__name__.replace("_", "-")


def _app_with(commands: list[typer.models.CommandInfo]) -> typer.Typer:
    lean = copy.copy(app)
    lean.registered_commands = commands
    return lean


def _without_options(info: typer.models.CommandInfo) -> typer.models.CommandInfo:
    """``info`` with a callback that takes nothing: the same name, help and panel."""
    original = info.callback

    def listed() -> None:  # pragma: no cover - never run: the list only shows it
        raise AssertionError("a command of the list of commands was run")

    if original is not None:
        listed.__name__, listed.__doc__ = original.__name__, original.__doc__
    stub = copy.copy(info)
    stub.callback = listed
    return stub


# --- seeing images: compare, show, stats ---------------------------------------------------------
#
# `compare` writes poolcli.visual.compare_sheet to an image file; `show` (and --preview) print
# poolcli.visual.preview_cells through poolcli.report, or preview_text when colour is off;
# `stats` is poolcli.visual.channel_stats as a table or JSON. All of them look at the first frame.

if TYPE_CHECKING:
    from poolcli.report import Preview

COMPARE_NAME = "{stem}_compare.png"
# poolcli.visual.DEFAULT_MODES, written out so that --help does not import NumPy and Pillow;
# tests/test_cli_visual.py keeps the two equal.
COMPARE_MODES = "max,avg,min,median,mode"
COMPARE_PANEL = 256  # the default of compare_sheet(panel=...), kept equal by the same test


def parse_modes(text: str) -> tuple[str, ...]:
    """``"max,mean,min"`` -> canonical mode names in order, repeats dropped; unknown: exit 2.

    >>> parse_modes("max, mean,max")
    ('max', 'avg')
    """
    from poolcli.modes import resolve_mode

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
    p: POpt = _DEFAULTS["p"],
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
    window = _window(
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
    _check_stdin([input])
    from poolcli import images, report, visual

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
            images.format_for_path(target)
        except PoolError as err:
            raise typer.BadParameter(str(err), param_hint="'-o' / '--output'") from None

    record = report.CompareRecord(
        _display(input), output=STDIN if target is None else str(target), window=window.describe()
    )
    kwargs = window.pool_kwargs()
    try:
        if target is not None:
            _check_new_output(target, input, force)
        pic = _read(input, _max_pixels(max_pixels))
        frame = pic.frames[0]
        record.input_shape, record.image_mode = _shape(frame), frame.mode
        record.frames = pic.n_frames
        sheet, panels = visual.compare_sheet(frame, names, crop=crop, panel=panel, **kwargs)
        record.sheet_shape = _shape(sheet)
        record.panels = [
            report.PanelRecord(
                mode=q.mode,
                window="" if q.mode == "input" else visual.window_label(q.mode, **kwargs),
                shape=q.shape,
                box=q.box,
                region=q.region,
                zoom=q.zoom,
                label=q.label,
            )
            for q in panels
        ]
        picture = images.Picture([sheet], "PNG")
        if target is not None:
            images.write_picture(picture, target, compress_level=compress_level, force=force)
        else:
            _write_stdout(images.encode_picture(picture, "PNG", compress_level=compress_level))
    except PoolError as err:
        record.status, record.error = "error", _cause(err, record.input)
        report.print_error(record.input, record.error)
    if json:
        report.print_record_json(record)
    elif not quiet and record.status == "ok":
        report.print_compare(record)
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
    _check_stdin(inputs)
    from poolcli import report

    columns, lines, colour = report.preview_space(stderr=False)
    width = width or columns
    height = height or max(1, lines - 2)  # the title line, and the prompt after the picture
    failed = False
    for source in inputs:
        name = _display(source)
        try:
            frame = _read(source, _max_pixels(max_pixels)).frames[0]
            preview = _preview(f"{name}  {_picture_text(frame)}", frame, width, height, colour)
        except PoolError as err:
            report.print_error(name, _cause(err, name))
            failed = True
            continue
        report.print_previews(
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
    _check_stdin(inputs)
    from poolcli import images, report, visual

    records = []
    for source in inputs:
        record = report.StatsRecord(_display(source))
        try:
            pic = _read(source, _max_pixels(max_pixels))
            first = pic.frames[0]
            record.input_shape, record.image_mode = _shape(first), first.mode
            record.dtype, record.frames = images.image_dtype(first), pic.n_frames
            record.channels = visual.channel_stats(pic.frames[0])
        except PoolError as err:
            record.status, record.error = "error", _cause(err, record.input)
            report.print_error(record.input, record.error)
        records.append(record)
        if json:
            report.print_record_json(record)
    if not json:
        report.print_table(report.stats_table(records), stderr=False)
    raise typer.Exit(int(any(r.status != "ok" for r in records)))


def _check_new_output(target: Path, source: str, force: bool) -> None:
    """Refuse to write over the input, or over an existing file without ``force``."""
    file_id = _file_id(target)
    if file_id is None:
        return
    if source != STDIN and file_id == _file_id(source):
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


def _picture_text(image: "Image.Image") -> str:
    """``HxW MODE``, as the comparison sheet labels a picture."""
    return f"{image.height}x{image.width} {image.mode}"


def _preview(title: str, image: "Image.Image", width: int, height: int, colour: bool) -> "Preview":
    """The preview of ``image`` within ``width x height`` cells: colour cells or plain text."""
    from poolcli import report, visual

    if colour:
        return report.Preview(title, cells=visual.preview_cells(image, width, height))
    return report.Preview(title, text=visual.preview_text(image, width, height))


def _preview_layout(size: tuple[int, int], columns: int, lines: int) -> tuple[bool, int, int]:
    """``(side_by_side, width, height)``: how a before/after preview of an image of ``size``
    (w, h) fits a ``columns x lines`` terminal, and the cells each picture gets.

    Side by side or stacked, whichever shows the image larger (side by side on a tie). One line
    is left for the prompt, and each picture has a title line.

    >>> _preview_layout((64, 48), 80, 24), _preview_layout((800, 100), 80, 24)
    ((True, 39, 22), (False, 80, 10))
    """
    from poolcli import report, visual

    usable = max(lines - 1, 4)
    side = (True, max((columns - report.PREVIEW_GAP) // 2, 1), usable - 1)
    stacked = (False, max(columns, 1), (usable - 2) // 2)

    def area(layout: tuple[bool, int, int]) -> int:
        w, h = visual.preview_size(size, layout[1], layout[2])
        return w * h

    return side if area(side) >= area(stacked) else stacked


def _print_preview_pair(
    before: tuple[str, "Image.Image"], after: tuple[str, "Image.Image"]
) -> None:
    """``before`` and ``after`` (title, image) previewed on standard error, sized to it."""
    from poolcli import report

    columns, lines, colour = report.preview_space(stderr=True)
    side_by_side, width, height = _preview_layout(before[1].size, columns, lines)
    previews = [_preview(title, image, width, height, colour) for title, image in (before, after)]
    report.print_previews(previews, stderr=True, side_by_side=side_by_side, max_width=width)


def _kept(store: list["Picture"], pic: "Picture") -> "Picture":
    """``pic``, after appending it to ``store`` (the stream keeps what --preview shows)."""
    store.append(pic)
    return pic


def _preview_run(
    record: "PoolRecord", read_kwargs: dict[str, Any], pictures: "list[Picture] | None" = None
) -> None:
    """``--preview`` of one finished input: it and its result, the first frames.

    ``pictures`` are the input and the result when the run still holds them (standard input or
    output); otherwise both files are read back, since worker processes pooled them.
    """
    from poolcli import report

    try:
        if pictures is not None and len(pictures) == 2:
            before, after = pictures
        else:
            before = _read(record.input, read_kwargs)
            after = _read(record.output or "", read_kwargs)
        first, result = before.frames[0], after.frames[0]
        _print_preview_pair(
            (f"{record.input}  {_picture_text(first)}", first),
            (f"{record.mode} {record.window}  {_picture_text(result)}", result),
        )
    except PoolError as err:  # the run went well; only the picture of it is missing
        report.print_note(f"poolcli: no preview of {record.input}: {_cause(err, record.input)}")
