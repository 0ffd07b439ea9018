"""The mode commands (``poolcli max``, ``avg``, ...): one per entry of the mode registry, each
turning its options into a window and an output and pooling its inputs through
:class:`~poolcli.cli.poolrun.PoolRun`.

Output names come from ``--name`` (default ``{stem}_{mode}{stride}{ext}``): ``{stride}`` is ``2``
for 2x2 steps, ``2x3`` for unequal ones and ``s64x64`` for ``--size 64x64`` (``s1x1`` for
``--global``); ``{kernel}`` is there too, and ``{ext}`` is the input's suffix unless ``--format``
names another.
"""

import inspect

import typer

from poolcli.cli.common import max_pixels_kwargs
from poolcli.cli.options import (
    DEFAULT_NAME,
    STDIN,
    AxesOpt,
    BackgroundOpt,
    Batch,
    CeilOpt,
    CompressOpt,
    CountPadOpt,
    DeviceOpt,
    DilationOpt,
    ExplainOpt,
    FailFastOpt,
    ForceOpt,
    FormatOpt,
    GlobalOpt,
    JobsOpt,
    JsonOpt,
    KernelOpt,
    MaxPixelsOpt,
    NameOpt,
    OutDirOpt,
    Output,
    OutputOpt,
    PaddingOpt,
    PoolInputs,
    POpt,
    PreviewOpt,
    QualityOpt,
    QuietOpt,
    RecursiveOpt,
    SchedulerOpt,
    SizeOpt,
    SkipExistingOpt,
    StrideOpt,
    window_from,
)
from poolcli.cli.poolrun import PoolRun
from poolcli.cli.root import app
from poolcli.core.modes import DEFAULTS, MODES, ModeInfo


def _read_early(source: str, max_pixels: int | None) -> None:
    """Start decoding the one input file now, on a thread of its own, if it is a file a fast
    decoder takes (:mod:`poolcli.io.ahead`), and wait for the decoder to run: while it decodes,
    with the GIL released, this thread imports NumPy and the rest and checks the options. If they
    turn out wrong, the decoding was for nothing. (The script usually started it already, before
    this module was imported: :mod:`poolcli.entry`.)"""
    from poolcli.io import ahead

    ahead.start(source, max_pixels_kwargs(max_pixels), wait=True)


def _add_mode_command(info: ModeInfo) -> None:
    takes_p = "p" in info.params
    takes_background = "background" in info.params

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
        p: POpt = DEFAULTS["p"],
        background: BackgroundOpt = None,
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
        axes: AxesOpt = None,
        explain: ExplainOpt = False,
        device: DeviceOpt = "cpu",
    ) -> None:
        if len(inputs) == 1 and not skip_existing and STDIN not in (inputs[0], output):
            _read_early(inputs[0], max_pixels)
        else:
            from poolcli.io import ahead

            ahead.drop()  # the script's early read of a first argument that is one of several
        window = window_from(
            kernel,
            stride,
            padding,
            dilation,
            ceil,
            size,
            global_,
            count_include_pad,
            p if takes_p else None,
            background if takes_background else None,
        )
        out = Output(output, out_dir, name, format, quality, compress_level, force)
        many = Batch(recursive, jobs, skip_existing, fail_fast, scheduler or None, device)
        limit = max_pixels_kwargs(max_pixels)
        run = PoolRun(info.name, window, out, limit, json, quiet, many, preview, axes, explain)
        try:
            status = run.process(inputs)
        finally:
            from poolcli.io import ahead

            ahead.drop()  # read early and then not pooled: a check failed
        raise typer.Exit(status)

    # Keep --p and --background out of the commands (and help) of the modes that take none.
    dropped = {"p"} - ({"p"} if takes_p else set())
    dropped |= {"background"} - ({"background"} if takes_background else set())
    if dropped:
        signature = inspect.signature(command)
        kept = [q for q in signature.parameters.values() if q.name not in dropped]
        command.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    aliases = f" Alias: {', '.join(info.aliases)}." if info.aliases else ""
    app.command(info.name, help=info.summary + aliases)(command)
    for alias in info.aliases:
        app.command(alias, help=f"Same as {info.name}.", hidden=True)(command)


for _info in MODES.values():
    _add_mode_command(_info)
