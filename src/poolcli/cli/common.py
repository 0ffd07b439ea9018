"""Helpers the commands share: reading one input (a file, a URL or standard input), the cause
of an error in one line, the record of a picture.
"""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from poolcli.cli.options import STDIN
from poolcli.errors import ImageError, PoolError

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    from PIL import Image

    from poolcli.cli.report import InfoRecord, PoolRecord
    from poolcli.io.arrayfile import ArrayFile
    from poolcli.io.picture import Picture


# --- small helpers --------------------------------------------------------------------------------


def cpu_budget() -> int:
    """The run's CPU budget (:mod:`poolcli.core.cpus`: affinity, cgroup quota,
    ``POOLCLI_THREADS``); a ``POOLCLI_THREADS`` that is not a whole number >= 1 is a usage
    error."""
    from poolcli.core import cpus

    try:
        return cpus.budget()
    except ValueError as err:
        why = str(err).removeprefix(f"{cpus.ENV}: ")
        raise typer.BadParameter(why, param_hint=cpus.ENV) from None


def check_stdin(inputs: list[str]) -> None:
    if inputs.count(STDIN) > 1:
        raise typer.BadParameter("standard input (-) can be read only once", param_hint="INPUT")
    if STDIN in inputs and sys.stdin is not None and sys.stdin.isatty():
        raise typer.BadParameter(
            "standard input is a terminal: pipe or redirect an image into it", param_hint="INPUT"
        )


def display_name(source: str) -> str:
    return "<stdin>" if source == STDIN else source


def read_input(
    source: str,
    read_kwargs: dict[str, Any],
    *,
    axes: str | None = None,
    spatial: int | None = None,
    tell_axes: bool = True,
) -> "Picture | ArrayFile":
    """Decode a file, or standard input for ``-``; every failure is an ImageError.

    Array files (:func:`poolcli.io.arrays.takes`; on standard input ``.npy``, ``.npz`` and text,
    :func:`poolcli.io.arrays.sniff`) are read as arrays, their axes told by ``axes`` and the
    window's ``spatial`` axes."""
    from poolcli.io import arrays, reading

    name = display_name(source)
    if source != STDIN:
        if arrays.takes(source, spatial, axes):
            return arrays.read_array_file(
                source, name=name, axes=axes, spatial=spatial, tell_axes=tell_axes
            )
        return reading.read_picture(source, name=name, **read_kwargs)
    data = stdin_bytes()
    if arrays.sniff(data) is not None:
        return arrays.read_array_file(
            data, name=name, axes=axes, spatial=spatial, tell_axes=tell_axes
        )
    return reading.read_picture(data, name=name, **read_kwargs)


_stdin: dict[str, Any] = {}  # the stream read, and its bytes


def stdin_bytes() -> bytes:
    """All of standard input, read the first time it is asked for (per stream: a test runner
    gives each run its own)."""
    if sys.stdin is None:  # started with standard input closed
        raise ImageError("<stdin>: standard input is closed")
    if _stdin.get("stream") is not sys.stdin:
        try:
            data = sys.stdin.buffer.read()
        except OSError as err:
            raise ImageError(f"<stdin>: cannot read: {err.strerror or err}") from None
        _stdin.update(stream=sys.stdin, data=data)
    return _stdin["data"]


def stdin_is_text() -> bool:
    """Whether standard input holds an array file (text, ``.npy``, ``.npz``), not an image."""
    from poolcli.io import arrays

    try:
        return arrays.sniff(stdin_bytes()) is not None
    except ImageError:
        return False


def describe(record: "PoolRecord | InfoRecord", pic: "Picture") -> None:
    """Fill in what both reports say about an input: shape, image mode, dtype, frames."""
    from poolcli.run import records

    records.describe(record, pic)


def max_pixels_kwargs(value: int | None) -> dict[str, Any]:
    """read_picture's keyword: absent keeps Pillow's guard, 0 lifts it."""
    return {} if value is None else {"max_pixels": value or None}


def shape_of(image: "Image.Image") -> tuple[int, int, int]:
    """``(H, W, C)`` of a Pillow image, as NumPy sees it."""
    from poolcli.run import records

    return records.shape_of(image)


def file_id(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def cause(err: PoolError, name: str) -> str:
    """The message without a leading ``name: ``, which the error line adds once."""
    from poolcli.run import records

    return records.cause(err, name)


def os_cause(err: OSError) -> str:
    text = err.strerror or " ".join(str(err).split()) or type(err).__name__
    return text[:1].lower() + text[1:]


def warn_unused_encoding(
    formats: "set[str]", quality: int | None, compress_level: int | None
) -> None:
    """One warning line for each of ``--quality`` and ``--compress-level`` that was given but
    that some of the output ``formats`` (Pillow names) have no use for: they are ignored there,
    which the user should not have to find out from the file sizes."""
    from poolcli.cli import report
    from poolcli.io.formats import COMPRESS_LEVEL_FORMATS, QUALITY_FORMATS

    unused = sorted(formats - QUALITY_FORMATS) if quality is not None else []
    if unused:
        png = " (PNG is lossless: --compress-level sets size and speed)" if "PNG" in unused else ""
        report.print_warning(
            f"--quality is for JPEG, WebP and AVIF output; {', '.join(unused)} output ignores"
            f" it{png}"
        )
    unused = sorted(formats - COMPRESS_LEVEL_FORMATS) if compress_level is not None else []
    if unused:
        report.print_warning(
            f"--compress-level is for PNG output; {', '.join(unused)} output ignores it"
        )
