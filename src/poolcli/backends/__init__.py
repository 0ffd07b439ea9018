"""Backends: :func:`pool` dispatches on the array's type, one narrow interface for every backend.

A NumPy array (or anything else array-like) is pooled by the core (:func:`poolcli.core.pool.pool`).
Other array libraries have a backend module here, found through :data:`BACKENDS`: the top-level
package of the array's type (``type(x).__module__``, e.g. ``"dask"`` for ``dask.array.Array``)
names the module and the function that pools such an array. Each backend function takes the
arguments of :func:`pool` and returns an array of its own library with exactly the values
``pool(numpy.asarray(x))`` would give (same shape, dtype and rounding); it calls the core's
kernels (:mod:`poolcli.core.kernels`) on NumPy blocks, never the core's private functions.

Adding a backend (the coming ``backends/torch.py``): write the module with one such function,
then add one line to :data:`BACKENDS` (``"torch": ("poolcli.backends.torch", "pool_torch")``).
A backend module is imported only when an array of its library arrives, so ``import poolcli``
never imports Dask or PyTorch.
"""

from __future__ import annotations

from typing import Any

from poolcli.core.modes import DEFAULTS, resolve_mode
from poolcli.errors import UnsupportedError

# Top-level package of an array's type -> (backend module, its pooling function).
# CuPy and JAX arrays go to torch through DLPack (and come back as tensors).
BACKENDS: dict[str, tuple[str, str]] = {
    "dask": ("poolcli.backends.dask", "pool_dask"),
    "torch": ("poolcli.backends.torch", "pool_torch"),
    "cupy": ("poolcli.backends.torch", "pool_torch"),
    "jax": ("poolcli.backends.torch", "pool_torch"),
    "jaxlib": ("poolcli.backends.torch", "pool_torch"),
}


def backend_for(x: Any) -> str | None:
    """The :data:`BACKENDS` key that pools ``x``, or ``None`` for the NumPy core.

    >>> import numpy as np
    >>> backend_for(np.zeros((2, 2))) is None
    True
    """
    root = type(x).__module__.split(".")[0]
    if root in BACKENDS:
        return root
    if root != "numpy" and hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        return "torch"  # any other DLPack array: through torch.from_dlpack
    return None


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
    batch: bool = False,
    device: str | None = None,
) -> Any:
    """Pool a signal, an image or a volume over windows, as PyTorch's pooling layers do.

    The number of spatial axes is the length of the tuples among ``kernel_size``, ``stride``,
    ``padding``, ``dilation`` and ``output_size`` (they must agree), else 2. The array holds those
    axes first and at most one channel axis after them: ``(L[, C])``, ``(H, W[, C])`` or
    ``(D, H, W[, C])``. Every axis has PyTorch's geometry (``max_pool1d/2d/3d`` and friends).

    Parameters
    ----------
    x : numpy.ndarray, dask.array.Array, torch.Tensor or a DLPack array
        dtype bool, uint8, uint16, int16, int32, int64, float32 or float64. It is never modified.
        A Dask array gives a lazy Dask array with the same values (see
        :func:`poolcli.backends.dask.pool_dask`); a torch tensor (any device), or a CuPy or JAX
        array through DLPack, a tensor on the same device with the same values (see
        :func:`poolcli.backends.torch.pool_torch`; signals, images and volumes, no ``sparse``).
    mode : str
        ``max``, ``min``, ``avg`` (alias ``mean``), ``sum``, ``median``, ``mode``, ``sparse`` or
        ``lp`` (:data:`poolcli.MODES`).
    kernel_size, stride, dilation : int or tuple of ints
        Window taps, step between windows (defaults to ``kernel_size``), step between taps; an int
        applies to every spatial axis, a tuple gives one per axis.
    padding : int, tuple of ints, "same" or "valid"
        Cells of padding on each side (at most half the effective window), or TensorFlow's rule.
        Padding never wins a max or min; with ``"same"`` it never counts for avg either.
    ceil_mode : bool
        Round the output size up, keeping a last window that starts inside the input.
    count_include_pad : bool
        avg only: divide by the window's cells inside ``[-pad, in + pad)`` (PyTorch's default)
        instead of by its real cells.
    output_size : int or tuple of ints (or None entries), optional
        Adaptive pooling to this size (``1`` is global pooling); excludes the window arguments.
    p : float
        Exponent of ``lp`` pooling, ``p > 0``.
    background : int or float
        ``sparse`` only: the background value (default 0). A cell (all its channels) equal to it
        never wins unless its whole window is background.
    threads : int, optional
        Worker threads (default: the CPUs this process may use, see
        :mod:`poolcli.core.cpus`: affinity, cgroup quota, ``POOLCLI_THREADS``; one thread and one
        more per 6 MiB of input times the mode's cost, so small arrays run on one).
    batch : bool
        ``x`` is a batch ``(N, H, W[, C])`` of images, each pooled on its own (NumPy arrays and
        tensors). Declared, never guessed: ``(N, H, W)`` and ``(H, W, C)`` look alike.
    device : str, optional
        Pool a NumPy array with the torch backend on this torch device (``"cuda"``, ``"cpu"``);
        the result is NumPy again, with the same values. Needs torch (``poolcli[gpu]``).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        Same layout as ``x``; same dtype except ``sum`` (int64 for integer and bool input,
        float64 for float input). Integer avg, median and lp round to nearest, ties up.

    Raises
    ------
    WindowError
        Zero or negative sizes, a window larger than the padded input, too much padding, a window
        covering only padding, output_size combined with window arguments, window tuples of
        different lengths.
    UnsupportedError
        An unknown mode, an unsupported dtype or shape, a bad ``p`` or ``background``.

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
    args = (mode, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad)
    args += (output_size, p)
    key = backend_for(x)
    torch_path = BACKENDS.get(key or "", ("",))[0] == "poolcli.backends.torch"
    if (torch_path or device is not None) and resolve_mode(mode) == "sparse":
        raise UnsupportedError(
            "the torch backend has no sparse mode: pool a NumPy array (numpy.asarray(x), or"
            " tensor.cpu().numpy())"
        )
    if device is not None:
        if key is not None:
            raise UnsupportedError(
                f"device= is for NumPy arrays; a {type(x).__name__} is pooled where it lives"
            )
        from poolcli.backends.torch import pool_numpy_on

        return pool_numpy_on(x, *args, device=device, batch=batch)
    if torch_path:
        from poolcli.backends.torch import pool_torch

        return pool_torch(x, *args, batch=batch)
    if batch:
        if key is not None:
            raise UnsupportedError(f"batch=True is not supported for a {type(x).__name__}")
        return _pool_numpy_batch(x, args, threads, background)
    if key is None:
        from poolcli.core.pool import pool as pool_numpy

        pooler = pool_numpy
    else:
        import importlib

        module, function = BACKENDS[key]
        pooler = getattr(importlib.import_module(module), function)
    return pooler(x, *args, background=background, threads=threads)


def _pool_numpy_batch(
    x: Any, args: tuple[Any, ...], threads: int | None, background: object
) -> Any:
    """A batch ``(N, H, W[, C])`` of NumPy images, each pooled by the core, stacked."""
    import numpy as np

    from poolcli.core.pool import pool as pool_numpy

    kw = {"background": background, "threads": threads}
    x = np.asarray(x)
    if x.ndim == 0:
        raise UnsupportedError("batch=True needs a leading batch axis, got a 0-d array")
    if x.shape[0] == 0:  # the shape and dtype (and errors) of one image's result
        one = pool_numpy(np.zeros(x.shape[1:], x.dtype), *args, **kw)
        return np.empty((0, *one.shape), one.dtype)
    return np.stack([pool_numpy(image, *args, **kw) for image in x])


__all__ = ["BACKENDS", "backend_for", "pool"]
