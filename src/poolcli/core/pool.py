"""The NumPy entry of the core: :func:`pool` checks its input, plans the windows and calls a kernel.

The kernels, each in its module, and why the work is organised as it is:

* :mod:`poolcli.core.separable`: max, min, sum and avg reduce one spatial axis after the other
  (rows, a volume's middle axis, columns) of every window; integer averages are exact.
* :mod:`poolcli.core.lp`: power means inside float64's range.
* :mod:`poolcli.core.gather`: median, mode and sparse mode look at all taps of a window together
  (see :mod:`poolcli.core.order`).
* :mod:`poolcli.core.bands`: the array is processed in bands of outputs of its first axis, sized
  to stay in cache, spread over threads.

Signals ``(L[, C])`` are pooled as images one cell wide, volumes ``(D, H, W[, C])`` with their
three axes; :func:`pool_axes` is the body every backend's block goes through.
:mod:`poolcli.core.kernels` is the narrow interface the other backends (Dask) call to pool a
block with the array's windows. This module takes NumPy arrays only; :func:`poolcli.pool`
(:mod:`poolcli.backends`) dispatches other array types to their backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poolcli.core.bands import quiet_floats
from poolcli.core.cpus import threads_for
from poolcli.core.gather import order_stat
from poolcli.core.geometry import Axis, Window, check_window, make_axes, spatial_axes, unit_axis
from poolcli.core.lp import exact_abs, lp
from poolcli.core.modes import DEFAULTS, MODES, ModeInfo, resolve_mode
from poolcli.core.separable import extreme, sum_avg
from poolcli.errors import UnsupportedError, WindowError

DTYPES = tuple(
    np.dtype(t)
    for t in ("bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64")
)


def output_shape(
    in_shape: tuple[int, ...],
    kernel_size: object = DEFAULTS["kernel_size"],
    stride: object = DEFAULTS["stride"],
    padding: object = DEFAULTS["padding"],
    dilation: object = DEFAULTS["dilation"],
    ceil_mode: bool = DEFAULTS["ceil_mode"],
    output_size: object = DEFAULTS["output_size"],
) -> tuple[int, ...]:
    """Output spatial shape of pooling an input of spatial shape ``in_shape`` (``(L,)``,
    ``(H, W)`` or ``(D, H, W)``); validates like :func:`pool`.

    >>> output_shape((5, 7), kernel_size=3, stride=2, padding=1)
    (3, 4)
    >>> output_shape((9, 5, 7), kernel_size=(3, 1, 2))
    (3, 5, 3)
    """
    axes = make_axes(
        tuple(in_shape), kernel_size, stride, padding, dilation, ceil_mode, output_size
    )
    return tuple(a.out for a in axes)


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
    background: object = DEFAULTS["background"],
    threads: int | None = None,
) -> np.ndarray:
    """Pool a NumPy signal, image or volume: the NumPy backend of :func:`poolcli.pool`.

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
    >>> pool(np.array([1, 5, 2, 8, 3]), "max", kernel_size=(2,))  # a signal: one spatial axis
    array([5, 8])
    >>> pool(np.arange(8).reshape(2, 2, 2), "sum", kernel_size=(2, 2, 2))  # a volume
    array([[[28]]])
    """
    name = resolve_mode(mode)
    x = np.asarray(x)
    ndim = spatial_ndim(name, x.shape, kernel_size, stride, padding, dilation, output_size)
    check_input(name, x.shape, x.dtype, p, ndim=ndim, background=background)
    try:
        axes = make_axes(
            x.shape[:ndim],
            kernel_size,
            stride,
            padding,
            dilation,
            ceil_mode,
            output_size,
        )
    except WindowError as err:
        raise WindowError(f"{name} pooling of shape {x.shape}: {err}") from None
    workers = _workers(threads, x.nbytes, MODES[name].cost)
    include = count_include_pad and padding != "same"
    return pool_axes(x, axes, name, include=include, p=p, background=background, workers=workers)


def pool_axes(
    x: np.ndarray,
    axes: tuple[Axis, ...],
    name: str,
    *,
    include: bool,
    p: float,
    background: object,
    workers: int,
) -> np.ndarray:
    """Pool ``x`` (``len(axes)`` spatial axes, then at most one channel axis) with checked
    arguments and planned windows: :func:`pool`'s body, shared with the Dask backend's blocks.

    ``include`` says whether avg's divisor counts padding. Every mode reaches its kernel through
    here: a signal as an image one cell wide, a volume with its own spatial axes.
    """
    ndim = len(axes)
    has_channels = x.ndim == ndim + 1
    xc = x if has_channels else x[..., None]
    if ndim == 1:  # (L, C) is the image (L, 1, C): every kernel applies as it is
        xc, axes = xc[:, None], (axes[0], unit_axis())
    out_dtype = result_dtype(name, x.dtype)
    if xc.shape[-1] == 0:
        result = np.empty((*(a.out for a in axes), 0), out_dtype)
    else:
        # Bools as 0/1 bytes: a copy, since arrays from Pillow's "1" mode hold 255 for True.
        data = xc.astype(np.uint8) if x.dtype == np.bool_ else xc
        with quiet_floats():
            if name in ("max", "min"):
                result = extreme(data, axes, name, workers)
            elif name in ("sum", "avg"):
                result = sum_avg(data, axes, name, include and name == "avg", workers)
            elif name == "lp" and p == 1 and data.dtype.kind in "ui":
                # lp with p == 1 is the average of |x| over real cells: exact on integers.
                avg = sum_avg(exact_abs(data), axes, "avg", False, workers)
                # |int16 min| does not fit int16: saturate, as lp does for every other p.
                result = np.minimum(avg, np.iinfo(data.dtype).max).astype(data.dtype)
            elif name == "lp":
                result = lp(data, axes, float(p), workers)
            else:
                bg = _background(background, data.dtype) if name == "sparse" else None
                result = order_stat(data, axes, name, workers, bg)
        if x.dtype == np.bool_ and name != "sum":
            result = result.astype(np.bool_)
    if ndim == 1:
        result = result[:, 0]
    return result if has_channels else result[..., 0]


_LAYOUTS = {
    1: "(L,) or (L, C)",
    2: "(H, W) or (H, W, C)",
    3: "(D, H, W) or (D, H, W, C)",
}


def spatial_ndim(
    name: str,
    shape: tuple[int, ...],
    kernel_size: object,
    stride: object,
    padding: object,
    dilation: object,
    output_size: object,
) -> int:
    """The number of spatial axes the window arguments ask for (2 when none is a tuple)."""
    try:
        found = spatial_axes(kernel_size, stride, padding, dilation, output_size)
    except WindowError as err:
        raise WindowError(f"{name} pooling of shape {shape}: {err}") from None
    return 2 if found is None else found


def check_input(
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    p: object,
    *,
    ndim: int = 2,
    background: object = DEFAULTS["background"],
) -> None:
    """Raise :class:`UnsupportedError` for an array, ``p`` or ``background`` that :func:`pool`
    cannot take; ``ndim`` is the number of spatial axes."""
    if len(shape) not in (ndim, ndim + 1):
        hint = ""
        if ndim == 2 and len(shape) in (1, 4):
            n = len(shape) if len(shape) == 1 else 3
            hint = f"; to pool {n} spatial axes give the window as a tuple of {n}, e.g. "
            hint += f"kernel_size={(2,) * n}"
        raise UnsupportedError(f"expected an {_LAYOUTS[ndim]} array, got shape {shape}{hint}")
    if dtype not in DTYPES:
        supported = ", ".join(str(d) for d in DTYPES)
        raise UnsupportedError(f"dtype {dtype} is not supported (supported: {supported})")
    if name == "lp" and not (isinstance(p, (int, float, np.number)) and 0 < float(p) < np.inf):
        raise UnsupportedError(f"lp pooling needs a finite p > 0, got {p!r}")
    if name == "sparse":
        _background(background, np.dtype(np.uint8) if dtype == np.bool_ else dtype)


def _background(value: object, dtype: np.dtype) -> Any:
    """``sparse``'s background as a scalar of ``dtype``, or :class:`UnsupportedError`."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    if ok:
        try:
            with np.errstate(all="ignore"):
                cast = np.array(value).astype(dtype)
            ok = not np.isnan(float(value)) and bool(cast == value)
        except (OverflowError, TypeError, ValueError):
            ok = False
    if not ok:
        raise UnsupportedError(
            f"sparse pooling needs a background value that {dtype} holds exactly, got {value!r}"
        )
    return cast[()]


def result_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if name == "sum":
        return np.dtype(np.float64 if dtype.kind == "f" else np.int64)
    return dtype


def _workers(threads: int | None, nbytes: int, cost: float) -> int:
    if threads is not None:
        if threads < 1:
            raise UnsupportedError(f"threads must be >= 1, got {threads}")
        return threads
    # The process's CPU budget (affinity, cgroup quota, POOLCLI_THREADS), one more thread per
    # cpus.BYTES_PER_THREAD of work (input bytes x the mode's cost): small images and cheap
    # modes run on one thread.
    return threads_for(nbytes, cost=cost)


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
