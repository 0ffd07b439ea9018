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
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from poolcli.core import kernels
from poolcli.core.geometry import Axis, make_axes
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
# Element budget of one gathered block of windows (median, mode): bounds the extra memory.
GATHER_ELEMENTS = 1 << 25


def accepts(x: object) -> bool:
    """Whether :func:`pool_torch` is the backend for ``x``: a tensor, or a DLPack array that is
    neither a NumPy array nor a Dask array (NumPy arrays speak DLPack too, and stay NumPy)."""
    if isinstance(x, torch.Tensor):
        return True
    return hasattr(x, "__dlpack__") and not isinstance(x, np.ndarray) and not _is_dask(x)


def _is_dask(x: object) -> bool:
    return type(x).__module__.split(".")[0] == "dask"


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
        job = _Job(name, axes, dtype, count_include_pad and padding != "same", float(p))
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


class _Job:
    """One pooling job on a batch ``(N, *spatial, C)`` of non-empty images."""

    def __init__(self, name: str, axes: list[Axis], dtype: np.dtype, include: bool, p: float):
        self.name, self.axes, self.dtype, self.include, self.p = name, axes, dtype, include, p
        self.taps = int(np.prod([ax.taps for ax in axes]))

    def run(self, x: torch.Tensor, on_host: Callable[[int], np.ndarray]) -> torch.Tensor:
        """Pool ``x``; images the device path cannot take exactly are pooled by ``on_host``."""
        host = self._host_images(x)
        result = self._pool(x)
        for i in host:
            result[i] = torch.from_numpy(np.ascontiguousarray(on_host(i))).to(result.device)
        return result

    # -- which images the core must pool ------------------------------------------------------

    def _host_images(self, x: torch.Tensor) -> list[int]:
        name, dtype = self.name, self.dtype
        if (
            dtype == np.int64
            and name in ("sum", "avg")
            or (name == "lp" and self.p == 1 and dtype == np.int64)
        ):
            # The core sums int64 data as Python integers when 2*sum + n could leave int64.
            lo = x.flatten(1).amin(dim=1).tolist()
            hi = x.flatten(1).amax(dim=1).tolist()
            if name == "lp":
                lo, hi = [0] * len(lo), [max(-a, b) for a, b in zip(lo, hi, strict=True)]
            return [
                i
                for i, (a, b) in enumerate(zip(lo, hi, strict=True))
                if kernels.sum_dtype(dtype, self.taps, a, b).kind == "O"
            ]
        if name == "lp" and not (self.p == 1 and dtype.kind in "uib"):
            tops = _largest_magnitudes(x).tolist()
            if dtype.kind == "f":
                mags = x.abs()
                mags = torch.where(torch.isfinite(mags) & (mags > 0), mags, torch.inf)
                lows = mags.flatten(1).amin(dim=1).tolist()
            else:
                lows = [1.0] * len(tops)
            return [
                i
                for i, (top, low) in enumerate(zip(tops, lows, strict=True))
                if not _powers_fit(top, low, self.p, self.taps)
            ]
        return []

    # -- the device path ----------------------------------------------------------------------

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        name = self.name
        if name in ("max", "min"):
            return self._extreme(x)
        if name in ("sum", "avg"):
            return self._sum_avg(x, self.include)
        if name == "lp" and self.p == 1 and self.dtype.kind in "uib":
            # lp with p == 1 is the average of |x| over real cells; |int16 min| saturates.
            avg = _Job("avg", self.axes, _exact_abs_dtype(self.dtype), False, 1.0)
            result = avg._sum_avg(_exact_abs(x), False)
            top = np.iinfo(np.uint8 if self.dtype == np.bool_ else self.dtype).max
            return result.to(torch.int64).clamp(max=int(top)).to(x.dtype)  # no uint16 clamp
        if name == "lp":
            return self._lp(x)
        return self._order_stat(x)

    def _extreme(self, x: torch.Tensor) -> torch.Tensor:
        work = _work(x)
        # np.maximum(a, b) returns b when a == b (it matters for -0.0 and 0.0); torch's returns
        # a, so the arguments are swapped.
        if self.name == "max":

            def op(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
                return torch.maximum(v, acc, out=acc)

            identity = -torch.inf if work.dtype.is_floating_point else torch.iinfo(work.dtype).min
        else:

            def op(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
                return torch.minimum(v, acc, out=acc)

            identity = torch.inf if work.dtype.is_floating_point else torch.iinfo(work.dtype).max
        return self._separable(work, op, identity, work.dtype).to(x.dtype)

    def _separable(
        self, x: torch.Tensor, op: Callable[..., Any], identity: Any, acc: torch.dtype
    ) -> torch.Tensor:
        """Reduce the taps of every window, one spatial axis after the other, in ``acc``."""
        for d, ax in enumerate(self.axes):
            x = _reduce_axis(x, ax, 1 + d, op, identity, acc)
        return x

    def _sum_dtype(self, x: torch.Tensor) -> torch.dtype:
        """int32 where ``2*sum + n`` provably fits it, else int64 (exact in both)."""
        if self.dtype == np.int64:
            return torch.int64
        info = np.iinfo(self.dtype) if self.dtype.kind in "ui" else np.iinfo(np.uint8)
        need = 2 * max(abs(int(info.min)), int(info.max)) * self.taps + self.taps
        return torch.int32 if need <= np.iinfo(np.int32).max else torch.int64

    def _divisor(self, include: bool, device: torch.device) -> int | torch.Tensor:
        counts = [ax.padded_count if include else ax.real_count for ax in self.axes]
        if all(int(c.min()) == int(c.max()) for c in counts):
            return int(np.prod([int(c[0]) for c in counts]))
        grid = counts[0]
        for c in counts[1:]:
            grid = np.multiply.outer(grid, c)
        return torch.from_numpy(np.ascontiguousarray(grid, np.int64))[..., None].to(device)

    def _sum_avg(self, x: torch.Tensor, include: bool) -> torch.Tensor:
        def add(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return acc.add_(v)

        if not x.dtype.is_floating_point:
            acc = self._sum_dtype(x)
            s = self._separable(x, add, 0, acc)
            if self.name == "sum":
                return s.to(torch.int64)
            n = self._divisor(include, x.device)
            return torch.div(2 * s + n, 2 * n, rounding_mode="floor").to(x.dtype)
        if self.name == "sum":
            return self._separable(x, add, 0, torch.float64)
        # Sums of float64 values near the top of the range overflow: divide each image by a
        # power of two first (exact), multiply its averages back, as the core does.
        tops = _largest_magnitudes(x).tolist()
        limit = float(np.finfo(np.float64).max)
        scales = [kernels.pow2_at_most(top) if top * self.taps > limit else 1.0 for top in tops]
        shape = (-1,) + (1,) * (x.ndim - 1)
        scale = torch.tensor(scales, dtype=torch.float64, device=x.device).reshape(shape)
        scaled = any(s != 1.0 for s in scales)
        src = x.to(torch.float64) / scale if scaled else x
        s = self._separable(src, add, 0, torch.float64)
        s = s / self._divisor(include, x.device)
        if scaled:
            s = s * scale
        return s.to(x.dtype)

    def _lp(self, x: torch.Tensor) -> torch.Tensor:
        def add(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return acc.add_(v)

        p = self.p
        if p == 2.0:
            v = x.to(torch.float64).abs()
            powers = v * v
        else:
            powers = _abs_pow(x, p)
        s = self._separable(powers, add, 0.0, torch.float64)
        mean = s / self._divisor(False, x.device)
        root = _sqrt(mean) if p == 2.0 else _numpy_pow(mean, 1.0 / p)
        out = _round_to(root, x.dtype)
        if x.dtype.is_floating_point:
            return out
        # The core's exact rounding where float64 cannot settle it (ties such as lp([0, 6],
        # p=0.5) = 1.5): rare cells, decided on the host from the window's cells.
        near = kernels.lp_near_halves(root, p)
        if not bool(near.any()):
            return out
        host, fixed = x.cpu().numpy(), out.cpu().numpy()
        dtype = np.uint8 if fixed.dtype == np.bool_ else fixed.dtype
        for n, *where, ch in torch.nonzero(near).tolist():
            cell = (n, *where, ch)
            fixed[cell] = kernels.lp_exact_cell(
                host[n], self.axes, tuple(where), ch, p, int(fixed[cell]), dtype
            )
        return torch.from_numpy(fixed).to(out.device)

    # -- median and mode ----------------------------------------------------------------------

    def _order_stat(self, x: torch.Tensor) -> torch.Tensor:
        """Median (per channel) or mode (per pixel label), as the core computes them.

        The windows whose every tap is real (the interior) go through the core's own sorting
        network (:func:`poolcli.core.order.network`) on whole tap views, like the core's interior;
        edge windows and irregular or large windows gather their taps and sort them.
        """
        axes = self.axes
        n_img, c = x.shape[0], x.shape[-1]
        outs = [ax.out for ax in axes]
        result = torch.empty((n_img, *outs, c), dtype=x.dtype, device=x.device)
        flat = None
        if self.name == "median":
            planes = _work(x)
        else:
            planes = _label_keys(x)  # (N, *spatial, 1) int64
            flat = _work(x.flatten(1, -2))  # (N, P, C): pixels by flat index
            if x.dtype.is_floating_point:
                flat = _normal_floats(flat)
        regions = [[(0, ax.out) for ax in axes]]
        inner = [ax.interior() for ax in axes]
        regular = all(ax.stride is not None for ax in axes)
        if regular and self.taps <= kernels.NETWORK_MAX_TAPS and all(lo < hi for lo, hi in inner):
            if self.name == "median":
                _median_network(planes, axes, inner, result)
            else:
                assert flat is not None
                _mode_network(planes, flat.reshape(x.shape), axes, inner, result)
            regions = _edges(outs, inner)
        for region in regions:
            self._gathered(planes, flat, region, result)
        return result

    def _gathered(
        self,
        planes: torch.Tensor,
        flat: torch.Tensor | None,
        region: list[tuple[int, int]],
        result: torch.Tensor,
    ) -> None:
        """Median or mode of the windows ``region`` (a range per axis) by gathering their taps,
        in blocks of the first axis that keep the gathered taps within :data:`GATHER_ELEMENTS`."""
        n_img, c = planes.shape[0], result.shape[-1]
        sizes = [hi - lo for lo, hi in region]
        if min(sizes) <= 0:
            return
        per_row = max(1, self.taps * int(np.prod(sizes[1:], dtype=np.int64)) * c * n_img)
        step = max(1, GATHER_ELEMENTS // per_row)
        first, rest = region[0], region[1:]
        others = [ax.windows(lo, hi) for ax, (lo, hi) in zip(self.axes[1:], rest, strict=True)]
        for lo in range(first[0], first[1], step):
            hi = min(lo + step, first[1])
            part = [self.axes[0].windows(lo, hi), *others]
            target = result[(slice(None), slice(lo, hi), *(slice(a, b) for a, b in rest))]
            g, valid, index = _gather(planes, part, with_index=self.name == "mode")
            count = valid.sum(dim=-1)  # (*outs,)
            if self.name == "median":
                target[...] = _median(g, valid, count, result.dtype)
            else:
                assert flat is not None
                pick = _mode_pick(g, valid, count, index)  # (N, *outs) flat pixel index
                gathered = torch.gather(flat, 1, pick.flatten(1)[..., None].expand(-1, -1, c))
                target[...] = gathered.reshape(target.shape).to(result.dtype)


# --------------------------------------------------------------------------------------------
# Helpers shared by the modes.


def _work(x: torch.Tensor) -> torch.Tensor:
    """``x`` in a dtype torch has comparison and bit kernels for (uint16 -> int32: exact)."""
    return x.to(torch.int32) if x.dtype == torch.uint16 else x


def _select(x: torch.Tensor, dim: int, sl: slice) -> torch.Tensor:
    index: list[Any] = [slice(None)] * x.ndim
    index[dim] = sl
    return x[tuple(index)]


def _reduce_axis(
    x: torch.Tensor,
    ax: Axis,
    dim: int,
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    identity: Any,
    acc: torch.dtype,
) -> torch.Tensor:
    """``op`` over the taps of every window of ``ax`` along ``dim``, as the core orders them.

    Tap 0 (and tap 1) start the result when they are real cells for every window; otherwise the
    result starts at ``identity``. Each further tap is applied to the windows where it is real.
    """
    shape = list(x.shape)
    shape[dim] = ax.out
    if ax.stride is None:  # irregular adaptive windows: gather each tap's cells
        out = torch.full(shape, identity, dtype=acc, device=x.device)
        for j in range(ax.taps):
            hit = np.flatnonzero(ax.valid[:, j])
            if hit.size:
                hit_t = torch.from_numpy(hit).to(x.device)
                cells = torch.from_numpy(ax.index[hit, j]).to(x.device)
                target = out.index_select(dim, hit_t)
                value = op(target, x.index_select(dim, cells).to(acc))
                out.index_copy_(dim, hit_t, value)
        return out
    taps = []
    for j in range(ax.taps):
        a, b = ax.tap_range(j)
        if a < b:
            first = int(ax.index[a, j])
            view = _select(x, dim, slice(first, first + (b - a - 1) * ax.stride + 1, ax.stride))
            taps.append((a, b, view))
    whole = [t[:2] == (0, ax.out) for t in taps[:1]]
    if taps and whole[0]:
        out = taps[0][2].to(acc, copy=True).contiguous()
        rest = taps[1:]
    else:
        out = torch.full(shape, identity, dtype=acc, device=x.device)
        rest = taps
    for a, b, view in rest:
        target = out.narrow(dim, a, b - a)
        op(target, view.to(acc))
    return out


def _largest_magnitudes(x: torch.Tensor) -> torch.Tensor:
    """Per image, the largest finite ``|x|`` as float64 (int16's minimum counts as 32768)."""
    flat = x.flatten(1)
    if x.dtype.is_floating_point:
        mags = torch.where(torch.isfinite(flat), flat.abs(), 0)
        return mags.amax(dim=1).to(torch.float64)
    wide = flat.to(torch.int64) if x.dtype != torch.int64 else flat
    lo, hi = wide.amin(dim=1), wide.amax(dim=1)
    # -int64 min does not exist: compare as float64 (the core takes float() of the same).
    return torch.maximum(-lo.to(torch.float64), hi.to(torch.float64))


def _powers_fit(top: float, low: float, p: float, taps: int) -> bool:
    """The core's test: sums of ``taps`` values ``|x|**p`` stay well inside float64's range."""
    if top == 0:
        return True
    return bool(p * np.log2(top) + np.log2(taps) < 1000 and p * np.log2(low) > -1000)


def _exact_abs_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "ub":
        return dtype
    return np.dtype({1: np.int16, 2: np.int32, 4: np.int64}.get(dtype.itemsize, np.int64))


def _exact_abs(x: torch.Tensor) -> torch.Tensor:
    """``|x|`` in a type that holds it (int16's minimum has no int16 magnitude)."""
    if x.dtype in (torch.uint8, torch.uint16, torch.bool):
        return x
    wider = {torch.int16: torch.int32, torch.int32: torch.int64}.get(x.dtype, x.dtype)
    return x.to(wider).abs()


def _numpy_pow(v: torch.Tensor, e: float) -> torch.Tensor:
    """``v ** e`` (float64) by NumPy, so it rounds as the core's does; on ``v``'s device."""
    if e == 1.0:
        return v
    host = v.detach().cpu().numpy()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return torch.from_numpy(np.power(host, e)).to(v.device)


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root (IEEE's): CUDA's ``sqrt`` is; torch's vectorised CPU
    kernel is not always (sqrt(4.75) came out an ulp low), so on the CPU NumPy takes it."""
    if v.device.type == "cuda":
        return torch.sqrt(v)
    host = v.detach().cpu().numpy()
    return torch.from_numpy(np.sqrt(host)).to(v.device)


def _abs_pow(x: torch.Tensor, p: float) -> torch.Tensor:
    """``|x| ** p`` in float64, as NumPy computes it: a table for 8- and 16-bit data."""
    if x.dtype in (torch.uint8, torch.uint16, torch.int16):
        size = {torch.uint8: 256, torch.uint16: 65536, torch.int16: 32769}[x.dtype]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            table = np.power(np.arange(size, dtype=np.float64), p)
        index = x.to(torch.int32).abs().to(torch.int64)
        return torch.from_numpy(table).to(x.device)[index]
    return _numpy_pow(x.to(torch.float64).abs(), p)


def _round_to(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Float results to ``dtype``: integers rounded to nearest, ties up, within range."""
    if dtype.is_floating_point:
        return v.to(dtype)
    work = torch.int32 if dtype == torch.uint16 else dtype
    info = torch.iinfo(work) if dtype != torch.uint16 else np.iinfo(np.uint16)
    v = torch.floor(v + 0.5)
    high = v >= float(info.max)
    v = torch.where(high, 0.0, v).clamp(float(info.min), float(info.max))
    out = v.to(torch.int64)
    out = torch.where(high, torch.tensor(int(info.max), dtype=torch.int64, device=v.device), out)
    return out.to(dtype)


def _edges(outs: Sequence[int], inner: Sequence[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """The windows outside the box ``inner`` (a range per axis), as boxes: for each axis, the
    windows before and after its interior, with the axes before it kept to their interior."""
    boxes = []
    for d, (lo, hi) in enumerate(inner):
        head = list(inner[:d])
        tail = [(0, n) for n in outs[d + 1 :]]
        for part in ((0, lo), (hi, outs[d])):
            if part[0] < part[1]:
                boxes.append([*head, part, *tail])
    return boxes


def _tap_views(
    planes: torch.Tensor, axes: Sequence[Axis], inner: Sequence[tuple[int, int]]
) -> list[torch.Tensor]:
    """For each tap of the windows ``inner`` (all real), the strided view of the cells it reads."""
    taps = []
    for offsets in itertools.product(*(range(ax.taps) for ax in axes)):
        index: list[Any] = [slice(None)]
        for ax, (lo, hi), j in zip(axes, inner, offsets, strict=True):
            a, b = int(ax.index[lo, j]), int(ax.index[hi - 1, j]) + 1
            index.append(slice(a, b, ax.stride))
        taps.append(planes[tuple(index)])
    return taps


def _sorted_by_network(taps: list[torch.Tensor], wanted: tuple[int, ...]) -> list[Any]:
    """The core's pruned network on tensors: the ``wanted`` slots hold the sorted values."""
    values: list[Any] = list(taps)
    for i, j, need_min, need_max in kernels.network(len(taps), wanted):
        a, b = values[i], values[j]
        # np.minimum(a, b) gives b where they are equal; torch.minimum gives its first argument
        values[i] = torch.minimum(b, a) if need_min else None
        values[j] = torch.maximum(b, a) if need_max else None
    return values


def _mode_network(
    keys: torch.Tensor,
    pixels: torch.Tensor,
    axes: Sequence[Axis],
    inner: Sequence[tuple[int, int]],
    result: torch.Tensor,
) -> None:
    """Mode of the interior windows: keys sorted by the network, the longest run (ties to the
    smallest key, as the core's), then the pixel of the first tap holding that key."""
    key_taps = _tap_views(keys, axes, inner)
    pixel_taps = _tap_views(pixels, axes, inner)
    n = len(key_taps)
    v = _sorted_by_network(key_taps, tuple(range(n))) if n > 1 else key_taps
    best = v[0]
    best_len = torch.ones_like(best, dtype=torch.int32)
    run = torch.ones_like(best, dtype=torch.int32)
    for k in range(1, n):
        run = run * (v[k] == v[k - 1]) + 1  # a run continues (+1) or restarts (0 + 1)
        longer = run > best_len  # strictly: on equal counts the earlier, smaller key stays
        best_len = torch.where(longer, run, best_len)
        best = torch.where(longer, v[k], best)
    target = result[(slice(None), *(slice(lo, hi) for lo, hi in inner))]
    found = torch.zeros_like(best, dtype=torch.bool)
    out = pixel_taps[0].clone()
    for key_tap, pixel_tap in zip(key_taps, pixel_taps, strict=True):
        hit = (key_tap == best) & ~found
        out = torch.where(hit, pixel_tap, out)  # (…, 1) broadcasts over the channels
        found |= hit
    target[...] = out.to(result.dtype)


def _median_network(
    planes: torch.Tensor,
    axes: Sequence[Axis],
    inner: Sequence[tuple[int, int]],
    result: torch.Tensor,
) -> None:
    """Median of the interior windows ``inner`` through the core's pruned sorting network of
    ``torch.minimum``/``torch.maximum`` over whole tap views: the same comparators as the core's
    interior, so the same values (NaN included: it spreads through comparators the same way)."""
    taps = _tap_views(planes, axes, inner)
    n = len(taps)
    target = result[(slice(None), *(slice(lo, hi) for lo, hi in inner))]
    if n == 1:
        target[...] = taps[0].to(result.dtype)
        return
    values = _sorted_by_network(taps, (n // 2,) if n % 2 else (n // 2 - 1, n // 2))
    if n % 2:
        middle = values[n // 2]
        assert middle is not None
        target[...] = middle.to(result.dtype)
        return
    lo_v, hi_v = values[n // 2 - 1], values[n // 2]
    assert lo_v is not None and hi_v is not None
    if lo_v.dtype.is_floating_point:
        target[...] = lo_v * 0.5 + hi_v * 0.5
    else:
        target[...] = ((lo_v | hi_v) - ((lo_v ^ hi_v) >> 1)).to(result.dtype)


def _gather(
    planes: torch.Tensor, axes: Sequence[Axis], *, with_index: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Every window's taps: ``(N, *outs, C, n)``, the taps' validity ``(*outs, n)`` and, with
    ``with_index``, the flat pixel index each tap reads ``(*outs, n)``."""
    device = planes.device
    g = planes
    sizes = [ax.size for ax in axes]
    for d, ax in enumerate(axes):
        cells = np.clip(ax.index, 0, ax.size - 1)
        idx = torch.from_numpy(cells.reshape(-1)).to(device)
        g = g.index_select(1 + 2 * d, idx)  # earlier axes are (out, taps) pairs by now
        g = g.unflatten(1 + 2 * d, (ax.out, ax.taps))
    s = len(axes)
    # (N, o1, t1, o2, t2, ..., C) -> (N, o1, o2, ..., C, t1, t2, ...)
    order = [0, *(1 + 2 * d for d in range(s)), 1 + 2 * s, *(2 + 2 * d for d in range(s))]
    g = g.permute(order).flatten(-s)
    valid = np.ones((), bool)
    index = np.zeros((), np.int64)
    for d, ax in enumerate(axes):
        valid = np.multiply.outer(valid, ax.valid)
        if with_index:
            stride = int(np.prod(sizes[d + 1 :], dtype=np.int64))
            index = np.add.outer(index, np.clip(ax.index, 0, ax.size - 1) * stride)
    # (o1, t1, o2, t2, ...) -> (o1, o2, ..., t1, t2, ...)
    perm = [*(2 * d for d in range(s)), *(2 * d + 1 for d in range(s))]
    outs = [ax.out for ax in axes]
    valid_t = torch.from_numpy(np.ascontiguousarray(valid.transpose(perm)).reshape(*outs, -1))
    index_t = None
    if with_index:
        index_t = torch.from_numpy(np.ascontiguousarray(index.transpose(perm)).reshape(*outs, -1))
        index_t = index_t.to(device)
    return g, valid_t.to(device), index_t


def _median(
    g: torch.Tensor, valid: torch.Tensor, count: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """The core's median of the real taps: ``g`` ``(N, *outs, C, n)`` -> ``(N, *outs, C)``."""
    valid_c = valid.unsqueeze(-2)  # (*outs, 1, n): the same taps for every channel
    if g.dtype.is_floating_point:
        fill = torch.tensor(torch.inf, dtype=g.dtype, device=g.device)
    else:
        top = np.iinfo(np.uint16).max if dtype == torch.uint16 else torch.iinfo(g.dtype).max
        fill = torch.tensor(top, dtype=g.dtype, device=g.device)
    g = torch.where(valid_c, g, fill)
    if g.dtype.is_floating_point:  # a NaN among the real cells makes the median NaN
        nan = torch.isnan(g).any(dim=-1)
    g = torch.sort(g, dim=-1).values
    cnt = count.unsqueeze(-1).unsqueeze(-1).expand(*g.shape[:-1], 1)  # broadcast over N, C
    lo = torch.gather(g, -1, (cnt - 1) // 2)[..., 0]
    hi = torch.gather(g, -1, cnt // 2)[..., 0]
    if g.dtype.is_floating_point:
        # An odd count's median is its middle value, as is (subnormals would not survive
        # halving and doubling).
        value = torch.where(cnt[..., 0] % 2 == 1, lo, lo * 0.5 + hi * 0.5)
        value = torch.where(nan, torch.nan, value)
    else:
        # ceil((lo + hi) / 2) without widening: (lo | hi) - ((lo ^ hi) >> 1).
        value = (lo | hi) - ((lo ^ hi) >> 1)
    return value.to(dtype)


def _normal_floats(x: torch.Tensor) -> torch.Tensor:
    """-0.0 as 0.0 and every NaN as the one NaN: mode counts them as one value each."""
    x = x + 0.0
    return torch.where(torch.isnan(x), torch.nan, x)


def _ordered(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Order-preserving int64 keys of the values in ``x`` and the width in bits of the values."""
    if x.dtype == torch.uint8 or x.dtype == torch.bool:
        return x.to(torch.int64), 8
    if x.dtype == torch.uint16:
        return x.to(torch.int64), 16
    if x.dtype == torch.int64:  # signed keys: their order is the values' order
        return x, 64
    if not x.dtype.is_floating_point:
        bits = torch.iinfo(x.dtype).bits
        return x.to(torch.int64) - torch.iinfo(x.dtype).min, bits
    x = _normal_floats(x)
    if x.dtype == torch.float32:
        b = x.view(torch.int32).to(torch.int64)
        # Negative floats: the larger the magnitude, the smaller; then shift into [0, 2**32).
        key = torch.where(b < 0, ~(b & 0x7FFFFFFF), b)
        return key + (1 << 31), 32
    b = x.view(torch.int64)
    return torch.where(b < 0, ~(b & 0x7FFFFFFFFFFFFFFF), b), 64


def _label_keys(x: torch.Tensor) -> torch.Tensor:
    """One int64 key per pixel of ``x`` ``(N, *spatial, C)``, ordered as the pixels are
    lexicographically (the core's mode rule): ``(N, *spatial, 1)``."""
    c = x.shape[-1]
    keys, bits = _ordered(x)
    if c == 1:
        return keys
    if c * bits <= 63:
        packed = keys[..., 0]
        for ch in range(1, c):
            packed = (packed << bits) | keys[..., ch]
        return packed.unsqueeze(-1)
    # Too wide to pack: number the distinct pixels in lexicographic order (per batch, jointly:
    # the numbering only has to preserve order and equality).
    _, inverse = torch.unique(keys.reshape(-1, c), dim=0, sorted=True, return_inverse=True)
    return inverse.reshape(*x.shape[:-1], 1)


def _mode_pick(
    g: torch.Tensor, valid: torch.Tensor, count: torch.Tensor, index: torch.Tensor | None
) -> torch.Tensor:
    """The flat pixel index of each window's most frequent key (ties to the smallest key).

    ``g`` ``(N, *outs, 1, n)`` keys; returns ``(N, *outs)``.
    """
    assert index is not None
    n = g.shape[-1]
    # Real taps first, padding after, so that a sort that keeps ties in order leaves the real
    # ones in the first ``count`` places even where a real key equals the padding's fill
    # (int64's maximum is a real value too).
    first_real = torch.argsort((~valid).to(torch.uint8), dim=-1, stable=True)  # (*outs, n)
    valid = torch.gather(valid, -1, first_real)
    index = torch.gather(index, -1, first_real)
    big = torch.iinfo(torch.int64).max
    keys = torch.gather(g[..., 0, :], -1, first_real.expand(*g.shape[:-2], n))
    keys = torch.where(valid, keys, big)  # (N, *outs, n)
    keys, perm = torch.sort(keys, dim=-1, stable=True)
    pos = torch.arange(n, device=keys.device)
    starts = torch.ones_like(keys, dtype=torch.bool)
    starts[..., 1:] = keys[..., 1:] != keys[..., :-1]
    run_start = torch.cummax(torch.where(starts, pos, 0), dim=-1).values
    run = pos - run_start + 1
    run = torch.where(pos >= count.unsqueeze(-1), 0, run)
    longest = run.amax(dim=-1, keepdim=True)
    # The first position reaching the longest run ends the smallest key with that count.
    first = torch.argmax((run == longest).to(torch.uint8), dim=-1, keepdim=True)
    tap = torch.gather(perm, -1, first)[..., 0]  # (N, *outs)
    idx = index.expand(*tap.shape, n)
    return torch.gather(idx, -1, tap.unsqueeze(-1))[..., 0]


__all__ = ["accepts", "pool_numpy_on", "pool_torch"]
