"""The PyTorch backend: :func:`poolcli.pool` on a ``torch.Tensor`` (any device) or a DLPack array.

The contract is the NumPy core's, to the bit: the same values, dtypes and errors for every mode,
window and dtype, so that pooling on a GPU never changes an answer. How it gets there:

* **One geometry.** The windows come from the core's own geometry (:func:`make_axes`): which cells
  each tap reads, which are padding, the divisors. Nothing is re-derived here, so every window
  rule and error message is the core's.
* **The same arithmetic in the same order.** Separable modes reduce one spatial axis after the
  other, in the core's order (rows, then columns), tap by tap (a Python loop over window offsets,
  never over pixels); each tap is a strided view of the input. Float sums accumulate in float64
  in tap order, so they round exactly as the core's do. Integer sums accumulate in int64 (int32
  where it provably cannot overflow) and integer averages are ``(2*sum + n) // (2*n)``.
* **Exact casts where torch lacks kernels.** torch has no ``maximum`` for uint16 (and no CUDA
  max-pooling of uint8 at all): uint16 is pooled as int32 and cast back, which is exact.
* **Median and mode** gather each window's taps (index arithmetic per axis), sort them and apply
  the core's rules: even counts take the mean of the two middle values (integers rounded half up
  as ``(lo | hi) - ((lo ^ hi) >> 1)``), NaN propagates; mode keeps the most frequent label, ties
  to the smallest, with a pixel's channels as one lexicographic label.
* **lp** of integers: the results the core decides exactly (near a half, such as the tie
  ``lp([0, 6], p=0.5) = 1.5``) are decided by the core's own code on the host, cell by cell.
* **lp** with ``p`` other than 1 or 2 needs ``pow``, which differs by an ulp between libm,
  torch's vectorised CPU kernels and CUDA. Exactness wins: the powers ``|x|**p`` come from a
  table computed by NumPy for 8- and 16-bit data (looked up on the device), otherwise from NumPy
  on the host, and the final ``mean**(1/p)`` is taken by NumPy on the host (the pooled means only,
  1/taps of the data). ``p = 2`` uses ``x*x`` and a square root, correctly rounded by IEEE's
  rule: CUDA's ``sqrt`` is, torch's vectorised CPU ``sqrt`` is not always (NumPy takes it there).
* **Rare cases go to the core.** An image whose int64 sums would not fit int64 (the core then
  uses Python integers) or whose ``|x|**p`` would leave float64's range (the core then sums
  logarithms) is pooled by the NumPy core on the host and copied back.

Layout: channels last as in the NumPy API, with the core's rule for the number of spatial axes
(the length of the window's tuples, else 2): signals ``(L[, C])``, images ``(H, W[, C])``,
volumes ``(D, H, W[, C])``; the windows are reduced axis after axis, so every count of axes takes
the same code. With ``batch=True`` the first axis is a batch of such arrays, each pooled on its
own. The batch axis is only ever declared, never guessed: ``(N, H, W)`` and ``(H, W, C)`` look
alike. ``sparse`` is the one mode it does not have.

The package: this module is the entry (dispatch, dtypes, DLPack and devices); ``job.py`` says
which images go to the core and which kernel pools the rest; ``separable.py`` (max, min, sum,
avg), ``lp.py`` (lp, its exact powers and rounding) and ``order.py`` (median, mode) compute.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from poolcli.backends.torch.job import Job
from poolcli.core import kernels
from poolcli.core.geometry import make_axes
from poolcli.core.modes import DEFAULTS, resolve_mode
from poolcli.errors import UnsupportedError, WindowError

_NUMPY_DTYPES: dict[torch.dtype, np.dtype] = {
    torch.bool: np.dtype(np.bool_),
    torch.uint8: np.dtype(np.uint8),
    torch.uint16: np.dtype(np.uint16),
    torch.int16: np.dtype(np.int16),
    torch.int32: np.dtype(np.int32),
    torch.int64: np.dtype(np.int64),
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
}


def accepts(x: object) -> bool:
    """Whether :func:`pool_torch` is the backend for ``x``: a tensor, or a DLPack array that is
    neither a NumPy array nor a Dask array (NumPy arrays speak DLPack too, and stay NumPy)."""
    if isinstance(x, torch.Tensor):
        return True
    return hasattr(x, "__dlpack__") and not isinstance(x, np.ndarray) and not _is_dask(x)


def _is_dask(x: object) -> bool:
    return type(x).__module__.split(".")[0] == "dask"


# Long for its numpydoc (the public entry documents every parameter); its body is ~50 lines.
def pool_torch(
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
    batch: bool = False,
    threads: int | None = None,
) -> torch.Tensor:
    """Pool a tensor exactly as :func:`poolcli.pool` pools the same NumPy array.

    Parameters
    ----------
    x : torch.Tensor or a DLPack array (CuPy, JAX, ...)
        ``(H, W)`` or channels-last ``(H, W, C)``; with ``batch=True``, ``(N, H, W[, C])``.
        Any device; dtypes as the core's. Never modified.
    mode, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad, output_size, p
        As for :func:`poolcli.pool`.
    batch : bool
        The first axis is a batch of images, each pooled on its own.
    threads : int, optional
        Not used: torch runs its own threads (:func:`torch.set_num_threads` on the CPU).

    Returns
    -------
    torch.Tensor
        On ``x``'s device, with the core's layout, dtype and values (a DLPack input gives a tensor).

    Raises
    ------
    WindowError, UnsupportedError
        The core's, with the core's messages (for a batch: those of one of its images).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.uint8)
    >>> pool_torch(x, "avg", kernel_size=(2, 3))
    tensor([[4]], dtype=torch.uint8)
    """
    name = resolve_mode(mode)
    if name == "sparse":
        raise UnsupportedError(
            "the torch backend has no sparse mode: pool a NumPy array (numpy.asarray(x), or"
            " tensor.cpu().numpy())"
        )
    t = x if isinstance(x, torch.Tensor) else torch.from_dlpack(x)
    dtype = _numpy_dtype(t.dtype)
    if batch and t.ndim == 0:
        raise UnsupportedError("batch=True needs a leading batch axis, got a 0-d tensor")
    shape = tuple(int(n) for n in (t.shape[1:] if batch else t.shape))
    ndim = kernels.spatial_ndim(name, shape, kernel_size, stride, padding, dilation, output_size)
    kernels.check_input(name, shape, dtype, p, ndim=ndim)  # the core's errors, word for word
    try:
        axes = list(
            make_axes(shape[:ndim], kernel_size, stride, padding, dilation, ceil_mode, output_size)
        )
    except WindowError as err:
        raise WindowError(f"{name} pooling of shape {shape}: {err}") from None
    spatial = len(axes)
    xb = t if batch else t.unsqueeze(0)
    if len(shape) == spatial:
        xb = xb.unsqueeze(-1)
    out_dtype = kernels.result_dtype(name, dtype)
    torch_out = _TORCH_DTYPES[out_dtype]
    outs = [ax.out for ax in axes]
    if xb.shape[-1] == 0 or xb.shape[0] == 0:
        result = torch.empty((xb.shape[0], *outs, xb.shape[-1]), dtype=torch_out, device=t.device)
    else:
        data = xb.to(torch.uint8) if dtype == np.bool_ else xb
        job = Job(name, axes, dtype, count_include_pad and padding != "same", float(p))
        result = job.run(
            data,
            lambda i: _core_one(
                xb[i],
                name,
                dtype,
                p,
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
                count_include_pad,
                output_size,
            ),
        )
        if dtype == np.bool_ and name != "sum":
            result = result.to(torch.bool)
    if len(shape) == spatial:
        result = result[..., 0]
    return result if batch else result[0]


_TORCH_DTYPES = {v: k for k, v in _NUMPY_DTYPES.items()}


def pool_numpy_on(x: np.ndarray, mode: str, *args: Any, device: str, **kw: Any) -> np.ndarray:
    """Pool a NumPy array with the torch backend on ``device``; the result as NumPy.

    What ``poolcli.pool(x, ..., device="cuda")`` does: the same values as the NumPy core, the
    arithmetic on the device.

    >>> import numpy as np
    >>> pool_numpy_on(np.array([[1, 2], [3, 5]], np.uint8), "avg", device="cpu")
    array([[3]], dtype=uint8)
    """
    x = np.asarray(x)
    if not x.dtype.isnative:  # big-endian 16-bit samples (I;16B): torch takes native order only
        x = x.astype(x.dtype.newbyteorder("="))
    with warnings.catch_warnings():  # a read-only array (Pillow's) is only ever read here
        warnings.simplefilter("ignore", UserWarning)
        t = torch.from_numpy(x)
    return pool_torch(t.to(device), mode, *args, **kw).cpu().numpy()


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The NumPy dtype of a tensor's dtype, or the core's error for one it does not take."""
    if dtype in _NUMPY_DTYPES:
        return _NUMPY_DTYPES[dtype]
    name = str(dtype).removeprefix("torch.")
    supported = ", ".join(str(d) for d in kernels.DTYPES)
    raise UnsupportedError(f"dtype {name} is not supported (supported: {supported})")


def _core_one(image: torch.Tensor, name: str, dtype: np.dtype, p: float, *window: Any) -> Any:
    """One image (``(*spatial, C)``) pooled by the NumPy core on the host."""
    array = image.detach().cpu().numpy()
    from poolcli.core.pool import pool

    kernel_size, stride, padding, dilation, ceil_mode, include, output_size = window
    return pool(
        array, name, kernel_size, stride, padding, dilation, ceil_mode, include, output_size, p
    )


__all__ = ["accepts", "pool_numpy_on", "pool_torch"]
