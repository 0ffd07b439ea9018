"""Median and mode on tensors, as the core computes them.

The windows whose every tap is real (the interior) go through the core's own pruned sorting
network (:func:`poolcli.core.kernels.network`) of ``torch.minimum``/``torch.maximum`` over
tap views; edge windows and irregular or large windows gather their taps (index arithmetic per
axis, in blocks of at most :data:`GATHER_ELEMENTS`) and sort them. Even counts take the mean of
the two middle values (integers rounded half up as ``(lo | hi) - ((lo ^ hi) >> 1)``), NaN
propagates; mode keeps the most frequent label, ties to the smallest, with a pixel's channels
as one lexicographic label (:func:`label_keys`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from poolcli.backends.torch.separable import as_work
from poolcli.core import kernels
from poolcli.core.geometry import Axis

if TYPE_CHECKING:
    from poolcli.backends.torch.job import Job

# Element budget of one gathered block of windows (median, mode): bounds the extra memory.
GATHER_ELEMENTS = 1 << 25


def order_stat(job: Job, x: torch.Tensor) -> torch.Tensor:
    """Median (per channel) or mode (per pixel label), as the core computes them.

    The windows whose every tap is real (the interior) go through the core's own sorting
    network (:func:`poolcli.core.order.network`) on whole tap views, like the core's interior;
    edge windows and irregular or large windows gather their taps and sort them.
    """
    axes = job.axes
    n_img, c = x.shape[0], x.shape[-1]
    outs = [ax.out for ax in axes]
    result = torch.empty((n_img, *outs, c), dtype=x.dtype, device=x.device)
    flat = None
    if job.name == "median":
        planes = as_work(x)
    else:
        planes = label_keys(x)  # (N, *spatial, 1) int64
        flat = as_work(x.flatten(1, -2))  # (N, P, C): pixels by flat index
        if x.dtype.is_floating_point:
            flat = _normal_floats(flat)
    regions = [[(0, ax.out) for ax in axes]]
    inner = [ax.interior() for ax in axes]
    regular = all(ax.stride is not None for ax in axes)
    if regular and job.taps <= kernels.NETWORK_MAX_TAPS and all(lo < hi for lo, hi in inner):
        if job.name == "median":
            _median_network(planes, axes, inner, result)
        else:
            assert flat is not None
            _mode_network(planes, flat.reshape(x.shape), axes, inner, result)
        regions = _edges(outs, inner)
    for region in regions:
        _gathered(job, planes, flat, region, result)
    return result


def _gathered(
    job: Job,
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
    per_row = max(1, job.taps * int(np.prod(sizes[1:], dtype=np.int64)) * c * n_img)
    step = max(1, GATHER_ELEMENTS // per_row)
    first, rest = region[0], region[1:]
    others = [ax.windows(lo, hi) for ax, (lo, hi) in zip(job.axes[1:], rest, strict=True)]
    for lo in range(first[0], first[1], step):
        hi = min(lo + step, first[1])
        part = [job.axes[0].windows(lo, hi), *others]
        target = result[(slice(None), slice(lo, hi), *(slice(a, b) for a, b in rest))]
        g, valid, index = _gather(planes, part, with_index=job.name == "mode")
        count = valid.sum(dim=-1)  # (*outs,)
        if job.name == "median":
            target[...] = _median(g, valid, count, result.dtype)
        else:
            assert flat is not None
            pick = _mode_pick(g, valid, count, index)  # (N, *outs) flat pixel index
            gathered = torch.gather(flat, 1, pick.flatten(1)[..., None].expand(-1, -1, c))
            target[...] = gathered.reshape(target.shape).to(result.dtype)


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


def label_keys(x: torch.Tensor) -> torch.Tensor:
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
