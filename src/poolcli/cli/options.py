"""Option types and declarations shared by the commands: sizes, padding, the window
(:class:`Window`), the ``Annotated`` options, and what the output and batch options say
(:class:`Output`, :class:`Batch`).
"""

import math
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from poolcli.core.modes import DEFAULTS
from poolcli.errors import WindowError

# The library's defaults, shown in --help and used for output names: one copy, in core.modes.
DEFAULT_NAME = "{stem}_{mode}{stride}{ext}"
STDIN = "-"


@dataclass(frozen=True, init=False)
class Size:
    """The value of a size option: ``N``, ``HxW`` / ``H,W``, or ``DxHxW`` for volumes.

    ``N`` is the same on every axis and says nothing about how many there are; ``HxW`` and
    ``DxHxW`` say 2 and 3 (:attr:`axes`).
    """

    values: tuple[int, ...]

    def __init__(self, *values: int) -> None:
        object.__setattr__(self, "values", tuple(values))

    @property
    def h(self) -> int:
        return self.values[-2] if len(self.values) > 1 else self.values[0]

    @property
    def w(self) -> int:
        return self.values[-1]

    @property
    def axes(self) -> int | None:
        """The number of axes the value states: ``None`` for a single ``N``."""
        return len(self.values) if len(self.values) > 1 else None

    @property
    def arg(self) -> int | tuple[int, ...]:
        """As :func:`poolcli.pool` takes it: an int when square (2-D), else a tuple (a tuple of
        3 pools 3 axes)."""
        if len(self.values) <= 2 and len(set(self.values)) == 1:
            return self.values[0]
        return self.values

    def __str__(self) -> str:
        if len(set(self.values)) == 1:
            return str(self.values[0])
        return "x".join(map(str, self.values))


def parse_size(text: str, minimum: int = 1) -> Size:
    """``"2"`` -> 2, ``"2x3"`` or ``"2,3"`` -> 2x3, ``"1x2x2"`` -> 1x2x2; each at least
    ``minimum``.

    >>> parse_size("2x3").values, str(parse_size("4,4")), parse_size("2x2x2").arg
    ((2, 3), '4', (2, 2, 2))
    """
    parts = text.strip().lower().replace(",", "x").split("x")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2, 3):
        raise typer.BadParameter(f"expected N, HxW or DxHxW, got {text!r}")
    if min(values) < minimum:
        raise typer.BadParameter(f"must be at least {minimum}, got {text!r}")
    return Size(*values)


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
    background: int | float | None = None  # sparse only

    @property
    def axes(self) -> int | None:
        """How many axes the window pools, when its sizes say (``-k 2x2x2``: 3), else ``None``
        (the file decides, :func:`poolcli.io.arrayfile.resolve_axes`)."""
        given = (self.kernel, self.stride, self.padding, self.dilation, self.size)
        counts = {s.axes for s in given if isinstance(s, Size) and s.axes is not None}
        return max(counts) if counts else None

    @property
    def _kernel(self) -> Size | int:
        # `--stride 2` alone means 2x2 windows: the kernel follows the stride, as the stride
        # follows the kernel in the library.
        return self.kernel or self.stride or DEFAULTS["kernel_size"]

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
        """Keyword arguments for :func:`poolcli.io.pooling.pool_picture`."""
        extra: dict[str, Any] = {"count_include_pad": self.count_include_pad}
        if self.p is not None:
            extra["p"] = self.p
        if self.background is not None:
            extra["background"] = self.background
        return self.geometry() | extra

    def name_fields(self) -> dict[str, str]:
        """``{stride}`` and ``{kernel}`` for output names: ``2``, ``2x3``, ``s64x64`` (adaptive)."""
        if self.size is not None:
            sizes = self.size.values if self.size.axes == 3 else (self.size.h, self.size.w)
            adaptive = "s" + "x".join(map(str, sizes))
            return {"stride": adaptive, "kernel": adaptive}
        return {"stride": str(self.stride or self._kernel), "kernel": str(self._kernel)}

    def describe(self) -> str:
        """``k3 s2 pad1 d2 ceil``, ``k2 s2 p=3`` (lp), or ``adaptive 64x64``."""
        if self.size is not None:
            if self.size.axes == 3:
                return f"adaptive {self.size}"
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
        if self.background is not None:
            parts.append(f"bg={self.background:g}")
        return " ".join(parts)


def window_from(
    kernel: Size | None,
    stride: Size | None,
    padding: Size | str | None,
    dilation: Size | None,
    ceil: bool,
    size: Size | None,
    global_: bool,
    count_include_pad: bool = True,
    p: float | None = None,
    background: int | float | None = None,
) -> Window:
    """Combine the window options and reject what is wrong for every image (exit 2)."""
    if global_:
        if size is not None:
            raise typer.BadParameter(
                "--global is --size 1x1; give one of them", param_hint="--global"
            )
        size = Size(1)  # 1 on every axis, however many the input has
    if size is not None and (kernel or stride or padding or dilation or ceil):
        raise typer.BadParameter(
            "adaptive pooling (--size/--global) excludes --kernel, --stride, --padding,"
            " --dilation and --ceil",
            param_hint="--size",
        )
    if p is not None and not (0 < p < math.inf):
        raise typer.BadParameter(f"p must be a finite number > 0, got {p:g}", param_hint="--p")
    window = Window(kernel, stride, padding, dilation, ceil, size, count_include_pad, p, background)
    from poolcli.core.geometry import check_window

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
        metavar="N|HxW|DxHxW",
        rich_help_panel=WINDOW,
        help=f"Window size (default: the stride, else {DEFAULTS['kernel_size']}).",
    ),
]
StrideOpt = Annotated[
    Size | None,
    typer.Option(
        "-s",
        "--stride",
        parser=parse_size,
        metavar="N|HxW|DxHxW",
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
        metavar="N|HxW|DxHxW|same|valid",
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
        metavar="N|HxW|DxHxW",
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
        metavar="N|HxW|DxHxW",
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


def parse_number(text: str) -> int | float:
    """An int when the text is one (``0``, ``-3``), else a float (``0.5``, ``nan``).

    >>> parse_number("7"), parse_number("0.5")
    (7, 0.5)
    """
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"expected a number, got {text!r}") from None


BackgroundOpt = Annotated[
    Any,  # int or float: Typer takes the type from parse_number
    typer.Option(
        "--background",
        parser=parse_number,
        metavar="VALUE",
        rich_help_panel=WINDOW,
        help="sparse: the background label, which wins only a window of nothing else (default 0).",
        show_default=False,
    ),
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


def format_option(default: str) -> Any:
    """The ``--format`` option of a command whose outputs otherwise get the format ``default``
    says (each command its own: ``pyramid`` has no ``-o -``)."""
    return Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            rich_help_panel=OUTPUT,
            help=f"Output format or extension (png, jpg, webp, tiff, ...; default: {default}).",
        ),
    ]


FormatOpt = format_option("from the output's name; for -o -, the input's")
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

AxesOpt = Annotated[
    str | None,
    typer.Option(
        "--axes",
        metavar="AXES",
        rich_help_panel=WINDOW,
        help="What each stored axis of an array file is: t, z, y, x are pooled, c is the"
        " channel (zyxc, cyx, tc, yx). Default: from the window and the shape.",
        show_default=False,
    ),
]
ExplainOpt = Annotated[
    bool,
    typer.Option(
        "--explain",
        rich_help_panel=REPORT,
        help="Print each output cell of a small array with the window it came from (padding"
        " ·, the winning cells in brackets); writes nothing.",
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
        help="Worker processes for many files, each with (CPUs / N) threads; N threads for one"
        " file. Default: one per CPU this process may use (affinity, container quota;"
        " POOLCLI_THREADS=N sets that budget), fewer for a few small files.",
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
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        envvar="POOLCLI_DEVICE",
        metavar="cpu|cuda|auto|torch-cpu",
        rich_help_panel=BATCH,
        help="Where to pool: cpu (NumPy), cuda (PyTorch on the GPU; JPEGs decoded there by"
        " nvJPEG), auto (cuda for big runs where there is a GPU), torch-cpu (the torch backend on"
        " the CPU: the bytes cpu writes). Needs poolcli[gpu] for all but cpu.",
    ),
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
    """How many inputs are found and run, and where they are pooled."""

    recursive: bool = False
    jobs: int | None = None  # None: the number of cores
    skip_existing: bool = False
    fail_fast: bool = False
    scheduler: str | None = None
    device: str = "cpu"  # --device: cpu, cuda, auto or torch-cpu (poolcli.run.gpu)
