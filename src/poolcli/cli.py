"""The ``poolcli`` command line: one command per pooling mode, and ``poolcli info``.

Every command is wiring: parse the options, call :mod:`poolcli.images` once per input, hand plain
records to :mod:`poolcli.report`, and pick the exit status (0 all done, 1 some inputs failed, 2 bad
usage). The mode commands are generated from :data:`poolcli.modes.MODES`, so a new mode is one
registry entry. Pillow, Rich and :mod:`poolcli.images` are imported inside the commands, so
``poolcli --help`` only pays for Typer and the registry.

Output names come from ``--name`` (default ``{stem}_{mode}{stride}{ext}``): ``{stride}`` is ``2``
for 2x2 steps, ``2x3`` for unequal ones and ``s64x64`` for ``--size 64x64`` (``s1x1`` for
``--global``); ``{kernel}`` is there too, and ``{ext}`` is the input's suffix unless ``--format``
names another.
"""

import inspect
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import poolcli
from poolcli.errors import ImageError, PoolError, WindowError
from poolcli.modes import DEFAULTS, MODES, ModeInfo

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    from PIL import Image

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
    Path | None,
    typer.Option(
        "--out-dir",
        file_okay=False,
        rich_help_panel=OUTPUT,
        help="Folder for the outputs (created if missing; default: beside each input).",
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
    typer.Option("--compress-level", min=0, max=9, rich_help_panel=OUTPUT, help="PNG zlib level."),
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


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"poolcli {poolcli.__version__}")
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
    pil = logging.getLogger("PIL")
    if not pil.handlers:
        pil.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Output:
    """Where and how the pooled images are written."""

    path: str | None = None
    out_dir: Path | None = None
    name: str = DEFAULT_NAME
    format: str | None = None
    quality: int | None = None
    compress_level: int | None = None
    force: bool = False


def _add_mode_command(info: ModeInfo) -> None:
    takes_p = "p" in info.params

    def command(
        inputs: Inputs,
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
    ) -> None:
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
        run = PoolRun(info.name, window, out, _max_pixels(max_pixels), json, quiet)
        raise typer.Exit(run.process(inputs))

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
    # Files by (device, inode), so a link or another spelling of a path is the same file.
    _inputs: set[tuple[int, int]] = field(default_factory=set)
    _written: set[tuple[int, int]] = field(default_factory=set)

    def process(self, inputs: list[str]) -> int:
        """Process every input; the exit status (0, or 1 when an input failed)."""
        self._check_usage(inputs)
        from poolcli import report

        self._inputs = {i for s in inputs if s != STDIN and (i := _file_id(s)) is not None}
        if self.out.out_dir is not None:
            try:
                self.out.out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                report.print_error(str(self.out.out_dir), err.strerror or str(err))
                return 1
        records = []
        for source in inputs:
            record = self.one(source)
            records.append(record)
            if record.error is not None:
                report.print_error(record.input, record.error)
            if self.as_json:
                report.print_json(record)
        # When nothing was written the error lines already said everything.
        if not (self.quiet or self.as_json) and any(r.status == "ok" for r in records):
            report.print_table(report.pool_table(records), stderr=True)
        return int(any(r.status != "ok" for r in records))

    def _check_usage(self, inputs: list[str]) -> None:
        """Reject option combinations that are wrong whatever the images (exit 2)."""
        from poolcli import images

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
        if out.path == STDIN and self.as_json:
            raise typer.BadParameter(
                "-o - and --json both write standard output", param_hint="--json"
            )
        if out.path == STDIN and sys.stdout.isatty():
            raise typer.BadParameter(
                "refusing to write image bytes to a terminal: redirect or pipe standard output",
                param_hint="'-o' / '--output'",
            )
        try:
            if out.format is not None:
                images.format_name(out.format)
            elif out.path not in (None, STDIN):
                images.format_for_path(out.path)
        except PoolError as err:
            hint = "--format" if out.format else "'-o' / '--output'"
            raise typer.BadParameter(str(err), param_hint=hint) from None
        try:
            self._name("image.png")
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise typer.BadParameter(
                f"{out.name!r}: {err!r}; the fields are {{stem}} {{ext}} {{mode}} {{stride}}"
                " {kernel}",
                param_hint="--name",
            ) from None

    def _name(self, source: str) -> str:
        path = Path(source)
        ext = "." + self.out.format.lower().lstrip(".") if self.out.format else path.suffix
        fields = {"stem": path.stem, "ext": ext, "mode": self.mode}
        return self.out.name.format(**fields, **self.window.name_fields())

    def _target(self, source: str) -> Path | None:
        """The output file for ``source`` (``None``: standard output), checked for overwrites."""
        if self.out.path == STDIN:
            return None
        if self.out.path is not None:
            target = Path(self.out.path)
        else:
            folder = self.out.out_dir if self.out.out_dir is not None else Path(source).parent
            target = folder / self._name(source)
        file_id = _file_id(target)
        if file_id is None:  # nothing there yet
            return target
        if file_id in self._written:
            raise ImageError(f"output {target} was already written for an earlier input")
        if file_id in self._inputs:
            raise ImageError(f"output {target} is an input; not writing over it")
        # write_picture checks again when it writes; checking now saves decoding and pooling.
        if not self.out.force:
            raise ImageError(f"output {target} exists (use --force to overwrite)")
        return target

    def one(self, source: str) -> "PoolRecord":
        """Read, pool and write one input, timing each stage; failures go into the record."""
        from poolcli import images, report

        record = report.PoolRecord(_display(source), mode=self.mode, window=self.window.describe())
        seconds = record.seconds
        try:
            target = self._target(source)
            record.output = STDIN if target is None else str(target)

            start = time.perf_counter()
            pic = _read(source, self.read_kwargs)
            seconds.load = time.perf_counter() - start
            _describe(record, pic)

            start = time.perf_counter()
            pooled = images.pool_picture(pic, self.mode, **self.window.pool_kwargs())
            seconds.pool = time.perf_counter() - start
            record.output_shape = _shape(pooled.frames[0])

            start = time.perf_counter()
            self._save(pooled, target)
            seconds.save = time.perf_counter() - start
        except PoolError as err:
            record.status, record.error = "error", _cause(err, record.input)
        return record

    def _save(self, pic: "Picture", target: Path | None) -> None:
        from poolcli import images

        out = self.out
        encoding = {"quality": out.quality, "compress_level": out.compress_level}
        if target is not None:
            images.write_picture(pic, target, format=out.format, force=out.force, **encoding)
            if (file_id := _file_id(target)) is not None:
                self._written.add(file_id)
            return
        data = images.encode_picture(pic, out.format or pic.format or "PNG", **encoding)
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as err:  # disk full, closed pipe: the I/O boundary of the CLI itself
            raise ImageError(f"standard output: {err.strerror or err}") from None


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
    from poolcli import images

    first = pic.frames[0]
    record.input_shape, record.image_mode = _shape(first), pic.mode
    record.dtype, record.frames = images.image_dtype(first), pic.n_frames


def _max_pixels(value: int | None) -> dict[str, Any]:
    """read_picture's keyword: absent keeps Pillow's guard, 0 lifts it."""
    return {} if value is None else {"max_pixels": value or None}


def _shape(image: "Image.Image") -> tuple[int, int, int]:
    """``(H, W, C)`` of a Pillow image, as NumPy sees it."""
    width, height = image.size
    return height, width, len(image.getbands())


def _file_id(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _cause(err: PoolError, name: str) -> str:
    """The message without a leading ``name: ``, which the error line adds once."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text.removeprefix(f"{name}: ")


def main() -> None:
    """Entry point of the ``poolcli`` script and ``python -m poolcli``."""
    app(prog_name="poolcli")
