"""The NumPy entry of the core: :func:`pool` checks its input, plans the windows and calls a kernel.

The kernels, each in its module, and why the work is organised as it is:

* :mod:`poolcli.core.separable`: max, min, sum and avg reduce rows, then columns, of every
  window; integer averages are exact.
* :mod:`poolcli.core.lp`: power means inside float64's range.
* :mod:`poolcli.core.gather`: median and mode look at all taps of a window together (see
  :mod:`poolcli.core.order`).
* :mod:`poolcli.core.bands`: the image is processed in bands of output rows sized to stay in
  cache, spread over threads.

:mod:`poolcli.core.kernels` is the narrow interface the other backends (Dask) call to pool a
block with the image's windows. This module takes NumPy arrays only; :func:`poolcli.pool`
(:mod:`poolcli.backends`) dispatches other array types to their backend.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from poolcli.core.bands import quiet_floats
from poolcli.core.gather import order_stat
from poolcli.core.geometry import Window, check_window, make_axes
from poolcli.core.lp import exact_abs, lp
from poolcli.core.modes import DEFAULTS, MODES, ModeInfo, resolve_mode
from poolcli.core.separable import extreme, sum_avg
from poolcli.errors import UnsupportedError, WindowError

DTYPES = tuple(
    np.dtype(t)
    for t in ("bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64")
)
# Below this many input bytes threads cost more than they save.
THREAD_MIN_BYTES = 1 << 21


def output_shape(
    in_hw: tuple[int, int],
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    output_size: object = DEFAULTS["output_size"],
) -> tuple[int, int]:
    """Output ``(height, width)`` of pooling an ``in_hw`` image; validates like :func:`pool`.

    >>> output_shape((5, 7), kernel_size=3, stride=2, padding=1)
    (3, 4)
    """
    rows, cols = make_axes(in_hw, kernel_size, stride, padding, dilation, ceil_mode, output_size)
    return rows.out, cols.out


def pool(
    x: Any,
    mode: str,
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    count_include_pad: bool = DEFAULTS["count_include_pad"],
    output_size: object = DEFAULTS["output_size"],
    p: float = DEFAULTS["p"],
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Pool a NumPy ``(H, W)`` or ``(H, W, C)`` array: the NumPy backend of :func:`poolcli.pool`.

    Parameters, result and errors are those of :func:`poolcli.backends.pool` (the dispatcher
    that is ``poolcli.pool``); ``x`` is taken as a NumPy array (``numpy.asarray``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    >>> pool(x, "max", kernel_size=2, stride=1)
    array([[5, 6]], dtype=uint8)
    >>> pool(x, "avg", kernel_size=(1, 3), stride=1)
    array([[2],
           [5]], dtype=uint8)
    """
    name = resolve_mode(mode)
    x = np.asarray(x)
    check_input(name, x.shape, x.dtype, p)
    try:
        rows, cols = make_axes(
            x.shape[:2], kernel_size, stride, padding, dilation, ceil_mode, output_size
        )
    except WindowError as err:
        raise WindowError(f"{name} pooling of shape {x.shape}: {err}") from None
    x3 = x if x.ndim == 3 else x[:, :, None]
    out_dtype = result_dtype(name, x.dtype)
    if x3.shape[2] == 0:
        result = np.empty((rows.out, cols.out, 0), out_dtype)
    else:
        # Bools as 0/1 bytes: a copy, since arrays from Pillow's "1" mode hold 255 for True.
        data = x3.astype(np.uint8) if x.dtype == np.bool_ else x3
        workers = _workers(threads, x3.nbytes)
        with quiet_floats():
            if name in ("max", "min"):
                result = extreme(data, rows, cols, name, workers)
            elif name in ("sum", "avg"):
                include = count_include_pad and padding != "same"
                result = sum_avg(data, rows, cols, name, include, workers)
            elif name == "lp" and p == 1 and data.dtype.kind in "ui":
                # lp with p == 1 is the average of |x| over real cells: exact on integers.
                avg = sum_avg(exact_abs(data), rows, cols, "avg", False, workers)
                # |int16 min| does not fit int16: saturate, as lp does for every other p.
                result = np.minimum(avg, np.iinfo(data.dtype).max).astype(data.dtype)
            elif name == "lp":
                result = lp(data, rows, cols, float(p), workers)
            else:
                result = order_stat(data, rows, cols, name, workers)
        if x.dtype == np.bool_ and name != "sum":
            result = result.astype(np.bool_)
    return result if x.ndim == 3 else result[:, :, 0]


def check_input(name: str, shape: tuple[int, ...], dtype: np.dtype, p: object) -> None:
    """Raise :class:`UnsupportedError` for an array or ``p`` that :func:`pool` cannot take."""
    if len(shape) not in (2, 3):
        raise UnsupportedError(f"expected an (H, W) or (H, W, C) array, got shape {shape}")
    if dtype not in DTYPES:
        supported = ", ".join(str(d) for d in DTYPES)
        raise UnsupportedError(f"dtype {dtype} is not supported (supported: {supported})")
    if name == "lp" and not (isinstance(p, (int, float, np.number)) and 0 < float(p) < np.inf):
        raise UnsupportedError(f"lp pooling needs a finite p > 0, got {p!r}")


def result_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if name == "sum":
        return np.dtype(np.float64 if dtype.kind == "f" else np.int64)
    return dtype


def _workers(threads: int | None, nbytes: int) -> int:
    if threads is not None:
        if threads < 1:
            raise UnsupportedError(f"threads must be >= 1, got {threads}")
        return threads
    return (os.cpu_count() or 1) if nbytes >= THREAD_MIN_BYTES else 1


__all__ = [
    "DTYPES",
    "MODES",
    "ModeInfo",
    "Window",
    "check_window",
    "output_shape",
    "pool",
    "resolve_mode",
]
