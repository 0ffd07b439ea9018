"""Text matrices as array files: comma-, tab- or whitespace-separated numbers, read and written.

One row per line; blank lines and ``#`` comments are skipped; a first line that is not all numbers
is a header, written back when the columns are not pooled (``--axes tc``). Integers stay int64,
anything else is float64 (``nan``, ``inf`` accepted). A single row or column is a 1-D signal
(``info["vector"]``), written back in the same orientation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from poolcli.errors import ImageError, UnsupportedError
from poolcli.io.arrayfile import ArrayFile, shape_text

TEXT_FORMATS = {"CSV": ",", "TSV": "\t", "TXT": " "}


def read_text(data: bytes, label: str, fmt: str | None) -> tuple[np.ndarray, str, dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImageError(f"{label}: not text (UTF-8) nor an image") from None
    lines = [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ImageError(f"{label}: no numbers in it")
    if fmt is None:
        first = lines[0][1]
        fmt = "CSV" if "," in first else "TSV" if "\t" in first else "TXT"
    delimiter = TEXT_FORMATS[fmt]
    rows = [(number, _split(line, delimiter)) for number, line in lines]
    info: dict[str, Any] = {}
    if not all(_is_number(v) for v in rows[0][1]) and len(rows) > 1:
        info["header"] = rows[0][1]
        rows = rows[1:]
    width = len(rows[0][1])
    for number, values in rows:
        if len(values) != width:
            raise ImageError(
                f"{label}: line {number} has {len(values)} values, line {rows[0][0]} has {width}"
            )
    if "header" in info and len(info["header"]) != width:
        raise ImageError(f"{label}: the header has {len(info['header'])} names for {width} columns")
    cells = [v for _, values in rows for v in values]
    try:
        array = np.array([int(v) for v in cells], dtype=np.int64)
    except ValueError:
        try:
            array = np.array([float(v) for v in cells], dtype=np.float64)
        except ValueError:
            number, bad = next((n, v) for n, vs in rows for v in vs if not _is_number(v))
            raise ImageError(f"{label}: line {number}: {bad!r} is not a number") from None
    except OverflowError:
        raise ImageError(f"{label}: an integer does not fit 64 bits") from None
    array = array.reshape(len(rows), width)
    if len(rows) == 1 or width == 1:
        info["vector"] = "row" if len(rows) == 1 else "column"
    return array, fmt, info


def _split(line: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return line.split()
    return [v.strip() for v in line.split(delimiter)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def encode_text(af: ArrayFile, delimiter: str) -> str:
    a = af.first
    if a.ndim > 2:
        raise UnsupportedError(f"text holds 1 or 2 axes, not {a.ndim} ({shape_text(a.shape)})")
    if a.ndim < 2:
        a = a.reshape(-1, 1) if af.info.get("vector") == "column" else a.reshape(1, -1)
    cell = _cell_text(a.dtype)
    lines = [delimiter.join(af.info["header"])] if "header" in af.info else []
    lines += [delimiter.join(cell(v) for v in row) for row in a.tolist()]
    return "".join(line + "\n" for line in lines)


def _cell_text(dtype: np.dtype) -> Any:
    if dtype.kind == "b":
        return lambda v: str(int(v))
    if dtype.kind == "f":
        return lambda v: repr(float(v)) if math.isfinite(v) else str(v)
    return str
