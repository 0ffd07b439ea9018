"""The separable modes on tensors: max, min, sum and avg, one spatial axis after the other.

Each window's taps are reduced along one axis, then the next, in the core's order, tap by tap (a
Python loop over window offsets, never over pixels); each tap is a strided view of the input
(:func:`reduce_axis`). Float sums accumulate in float64 in tap order, so they round exactly as the
core's do; integer sums in int64 (int32 where it provably cannot overflow), and integer averages
are ``(2*sum + n) // (2*n)``. uint16 is compared as int32 (:func:`as_work`), which torch has
kernels for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from poolcli.core import kernels
from poolcli.core.geometry import Axis

if TYPE_CHECKING:
    from poolcli.backends.torch.job import Job


def extreme(job: Job, x: torch.Tensor) -> torch.Tensor:
    work = as_work(x)
    # np.maximum(a, b) returns b when a == b (it matters for -0.0 and 0.0); torch's returns
    # a, so the arguments are swapped.
    if job.name == "max":

        def op(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return torch.maximum(v, acc, out=acc)

        identity = -torch.inf if work.dtype.is_floating_point else torch.iinfo(work.dtype).min
    else:

        def op(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return torch.minimum(v, acc, out=acc)

        identity = torch.inf if work.dtype.is_floating_point else torch.iinfo(work.dtype).max
    return reduce_windows(job, work, op, identity, work.dtype).to(x.dtype)


def reduce_windows(
    job: Job, x: torch.Tensor, op: Callable[..., Any], identity: Any, acc: torch.dtype
) -> torch.Tensor:
    """Reduce the taps of every window, one spatial axis after the other, in ``acc``."""
    for d, ax in enumerate(job.axes):
        x = reduce_axis(x, ax, 1 + d, op, identity, acc)
    return x


def sum_dtype(job: Job, x: torch.Tensor) -> torch.dtype:
    """int32 where ``2*sum + n`` provably fits it, else int64 (exact in both)."""
    if job.dtype == np.int64:
        return torch.int64
    info = np.iinfo(job.dtype) if job.dtype.kind in "ui" else np.iinfo(np.uint8)
    need = 2 * max(abs(int(info.min)), int(info.max)) * job.taps + job.taps
    return torch.int32 if need <= np.iinfo(np.int32).max else torch.int64


def divisor(job: Job, include: bool, device: torch.device) -> int | torch.Tensor:
    counts = [ax.padded_count if include else ax.real_count for ax in job.axes]
    if all(int(c.min()) == int(c.max()) for c in counts):
        return int(np.prod([int(c[0]) for c in counts]))
    grid = counts[0]
    for c in counts[1:]:
        grid = np.multiply.outer(grid, c)
    return torch.from_numpy(np.ascontiguousarray(grid, np.int64))[..., None].to(device)


def sum_avg(job: Job, x: torch.Tensor, include: bool) -> torch.Tensor:
    def add(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return acc.add_(v)

    if not x.dtype.is_floating_point:
        acc = sum_dtype(job, x)
        s = reduce_windows(job, x, add, 0, acc)
        if job.name == "sum":
            return s.to(torch.int64)
        n = divisor(job, include, x.device)
        return torch.div(2 * s + n, 2 * n, rounding_mode="floor").to(x.dtype)
    if job.name == "sum":
        return reduce_windows(job, x, add, 0, torch.float64)
    # Sums of float64 values near the top of the range overflow: divide each image by a
    # power of two first (exact), multiply its averages back, as the core does.
    tops = largest_magnitudes(x).tolist()
    limit = float(np.finfo(np.float64).max)
    scales = [kernels.pow2_at_most(top) if top * job.taps > limit else 1.0 for top in tops]
    shape = (-1,) + (1,) * (x.ndim - 1)
    scale = torch.tensor(scales, dtype=torch.float64, device=x.device).reshape(shape)
    scaled = any(s != 1.0 for s in scales)
    src = x.to(torch.float64) / scale if scaled else x
    s = reduce_windows(job, src, add, 0, torch.float64)
    s = s / divisor(job, include, x.device)
    if scaled:
        s = s * scale
    return s.to(x.dtype)


def as_work(x: torch.Tensor) -> torch.Tensor:
    """``x`` in a dtype torch has comparison and bit kernels for (uint16 -> int32: exact)."""
    return x.to(torch.int32) if x.dtype == torch.uint16 else x


def _select(x: torch.Tensor, dim: int, sl: slice) -> torch.Tensor:
    index: list[Any] = [slice(None)] * x.ndim
    index[dim] = sl
    return x[tuple(index)]


def reduce_axis(
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


def largest_magnitudes(x: torch.Tensor) -> torch.Tensor:
    """Per image, the largest finite ``|x|`` as float64 (int16's minimum counts as 32768)."""
    flat = x.flatten(1)
    if x.dtype.is_floating_point:
        mags = torch.where(torch.isfinite(flat), flat.abs(), 0)
        return mags.amax(dim=1).to(torch.float64)
    wide = flat.to(torch.int64) if x.dtype != torch.int64 else flat
    lo, hi = wide.amin(dim=1), wide.amax(dim=1)
    # -int64 min does not exist: compare as float64 (the core takes float() of the same).
    return torch.maximum(-lo.to(torch.float64), hi.to(torch.float64))
