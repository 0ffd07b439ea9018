"""``poolcli info``: each input's size, mode and dtype, and the output shape a window would give."""

import typer

from poolcli.cli.common import (
    cause,
    check_stdin,
    describe,
    display_name,
    max_pixels_kwargs,
    read_input,
)
from poolcli.cli.options import (
    AxesOpt,
    CeilOpt,
    DilationOpt,
    GlobalOpt,
    Inputs,
    JsonOpt,
    KernelOpt,
    MaxPixelsOpt,
    PaddingOpt,
    SizeOpt,
    StrideOpt,
    window_from,
)
from poolcli.cli.root import app
from poolcli.errors import PoolError, WindowError


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
    axes: AxesOpt = None,
) -> None:
    """Format, frames, shape (HxWxC, or an array's axes), image mode and dtype; and what the
    window would give."""
    window = window_from(kernel, stride, padding, dilation, ceil, size, global_)
    if axes is not None:
        from poolcli.io.arrayfile import parse_axes

        try:
            parse_axes(axes)
        except PoolError as err:
            raise typer.BadParameter(str(err), param_hint="--axes") from None
    check_stdin(inputs)
    from poolcli.cli import report
    from poolcli.io.arrayfile import AxesError

    records = []
    for source in inputs:
        record = report.InfoRecord(display_name(source), window=window.describe())
        ambiguous = None
        try:
            try:
                pic = read_input(
                    source, max_pixels_kwargs(max_pixels), axes=axes, spatial=window.axes
                )
            except AxesError as err:  # the shape is still worth showing, with why it is refused
                ambiguous = cause(err, record.input)
                pic = read_input(source, max_pixels_kwargs(max_pixels), tell_axes=False)
        except PoolError as err:
            record.status, record.error = "error", cause(err, record.input)
            report.print_error(record.input, record.error)
        else:
            describe(record, pic)
            record.format = pic.format
            try:
                from poolcli.core.pool import output_shape
                from poolcli.io.arrayfile import ArrayFile
                from poolcli.io.arrays import pooled_shape

                if ambiguous is not None:
                    record.axes, record.window_error = None, ambiguous
                elif isinstance(pic, ArrayFile):
                    record.output_shape = pooled_shape(pic, **window.geometry())
                elif window.axes == 3:
                    raise WindowError("an image pools 2 axes, not the 3 of this window")
                else:
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
