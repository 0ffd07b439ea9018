"""Dask arrays: :func:`pool_dask` pools an image larger than memory, block by block, lazily.

How the work is organised, and why the result is the one :func:`poolcli.pool` gives:

* The windows are planned once for the whole image (:func:`poolcli.core.geometry.make_axes`),
  never per block, so padding, the ``ceil_mode`` overhang, adaptive windows and avg divisors are
  those of the image: padding exists only at the image border, wherever the chunks fall. Signals
  and volumes likewise, one axis of windows per spatial axis (a signal as an image one cell
  wide, as the core pools it).
* Output windows are grouped into blocks by the input chunk that holds their first real cell. A
  block reads the input cells its windows cover (its chunk plus a halo of ``eff - stride`` cells,
  or several chunks when a window is larger than a chunk) and the core pools that region with the
  block's slice of the image's windows: every output cell is computed by the same core code, from
  the same cells, in the same order as by :func:`poolcli.pool`.
* Some core paths look at the whole array first: ``lp`` (and ``avg`` of float64) choose how to
  keep powers and sums inside float64's range from the largest and smallest ``|x|``. A first pass
  finds the image's extreme values (its *witnesses*); each block gets them as extra rows that no
  window reads, so the core sees the image's extremes, not the block's. That pass runs inside one
  task on a graph of its own, so the blocks read the input again afterwards instead of Dask
  keeping every chunk in memory between the two passes.
* Global pooling (one window covering the image) would put the whole image in one block, so it is
  reduced chunk by chunk where that is exact: max/min by a tree; integer sum/avg in Python
  integers; float sums (and float32 averages) by a fold that adds rows (a volume's planes), then
  each further axis, one after the other as the core does (float addition is not associative: a
  tree would change the last bits); median/mode/sparse of bool and 8/16-bit integers from a
  histogram. Other global cases (lp,
  float64 avg, other median/mode) run as one block holding the image.

Dask is imported when :func:`pool_dask` is called, never when poolcli is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from poolcli.core import kernels, order
from poolcli.core.geometry import Axis, make_axes, unit_axis
from poolcli.core.modes import DEFAULTS, resolve_mode
from poolcli.errors import UnsupportedError, WindowError

# Global median/mode from a histogram: dtype -> (bins, offset that makes values indices).
_HISTOGRAM = {
    np.dtype(np.uint8): (256, 0),
    np.dtype(np.uint16): (65536, 0),
    np.dtype(np.int16): (65536, 32768),
}
# Per chunk: the smallest and largest finite value, and the nonzero one of smallest magnitude.
_WITNESSES = 3


def pool_dask(
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
) -> Any:
    """Pool a Dask array lazily; computing the result gives exactly ``poolcli.pool(x.compute())``.

    Parameters
    ----------
    x : dask.array.Array
        ``(L[, C])``, ``(H, W[, C])`` or ``(D, H, W[, C])`` as :func:`poolcli.pool` reads the
        window arguments, any chunks with known sizes (a NumPy array becomes one chunk). The
        channel axis is merged into one chunk.
    mode, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad, output_size, p
    background
        As :func:`poolcli.pool`.
    threads : int, optional
        Core threads per block (default 1: Dask's scheduler already runs blocks in parallel).

    Returns
    -------
    dask.array.Array
        Nothing is computed yet. Same shape, dtype and values as ``poolcli.pool`` gives; output
        chunks follow the input chunks (a block holds the windows whose first real cell lies in
        one input chunk).

    Raises
    ------
    WindowError, UnsupportedError
        As :func:`poolcli.pool`, when the graph is built. The one error that depends on the
        values, an ``int64`` sum that does not fit ``int64``, is raised by ``compute()``.

    Notes
    -----
    Memory: a task holds the input region of one output block (about one chunk plus the halo)
    and its output, so windows larger than a chunk (big adaptive windows) put a band of whole
    windows in one task. Global max, min, sum, avg (except float64), and median/mode/sparse of
    bool, uint8, uint16 and int16 (one channel for mode and sparse) run chunk by chunk, on
    signals, images and volumes; other global pooling holds the whole array in one task. ``lp``
    and float64 ``avg`` read the input twice: a first pass, run by one task chunk after chunk,
    finds the array's extreme values, which the core's overflow guards depend on.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.arange(36, dtype=np.uint8).reshape(6, 6), chunks=3)
    >>> y = pool_dask(x, "max", kernel_size=3, stride=2, padding=1)
    >>> y.chunks
    ((2, 1), (2, 1))
    >>> y.compute()
    array([[ 7,  9, 11],
           [19, 21, 23],
           [31, 33, 35]], dtype=uint8)
    """
    import dask.array as da

    name = resolve_mode(mode)
    if not isinstance(x, da.Array):
        x = da.asarray(x)
    if any(np.isnan(n) for n in x.shape):
        raise UnsupportedError(
            f"dask array of unknown shape {x.shape}: call x.compute_chunk_sizes() first"
        )
    ndim = kernels.spatial_ndim(name, x.shape, kernel_size, stride, padding, dilation, output_size)
    # the same checks and messages as core.pool
    kernels.check_input(name, x.shape, x.dtype, p, ndim=ndim, background=background)
    geometry = _hashable((kernel_size, stride, padding, dilation, ceil_mode, output_size))
    spatial = tuple(x.shape[:ndim])
    try:
        axes = _axes(spatial, geometry)
    except WindowError as err:
        raise WindowError(f"{name} pooling of shape {x.shape}: {err}") from None
    if threads is not None and threads < 1:
        raise UnsupportedError(f"threads must be >= 1, got {threads}")

    dtype = np.dtype(x.dtype)
    out_dtype = kernels.result_dtype(name, dtype)
    has_channels = x.ndim == ndim + 1
    xc = x if has_channels else x[..., None]
    if ndim == 1:  # a signal is pooled as an image one cell wide, as core.pool does
        xc = xc[:, None]
    if xc.shape[-1] == 0:
        y = da.empty((*(a.out for a in axes), 0), dtype=out_dtype)
    else:
        xc = xc.rechunk({xc.ndim - 1: -1})
        data_dtype = np.dtype(np.uint8) if dtype == np.bool_ else dtype
        route = _route(name, p, data_dtype)
        task = _Task(
            name=name,
            route=route,
            p=float(p),
            include=count_include_pad and padding != "same" and name == "avg",
            workers=threads or 1,
            whole_image_stats=route == "lp" or (name == "avg" and data_dtype == np.float64),
            background=background,
        )
        y = None
        if all(_is_global(a) for a in axes):
            y = _global(xc, task, out_dtype)
        if y is None:
            y = _blocks(xc, task, axes, spatial, geometry, out_dtype)
    if ndim == 1:
        y = y[:, 0]
    return y if has_channels else y[..., 0]


@dataclass(frozen=True)
class _Task:
    """What every block does: which core function pools it, with which options."""

    name: str
    route: str  # "extreme", "sum_avg", "lp" or "order": the core function core.pool calls
    p: float
    include: bool  # avg's divisor counts padding cells
    workers: int
    # The core looks at the whole array's extremes (core.separable.largest_magnitude, core.lp).
    whole_image_stats: bool
    background: object  # sparse mode's


def _route(name: str, p: object, data_dtype: np.dtype) -> str:
    # core.pool's dispatch, on the data it pools (bools as uint8).
    if name in ("max", "min"):
        return "extreme"
    if name in ("sum", "avg") or (name == "lp" and p == 1 and data_dtype.kind == "u"):
        return "sum_avg"
    return "lp" if name == "lp" else "order"


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


@lru_cache(maxsize=16)
def _axes(spatial: tuple[int, ...], geometry: tuple) -> tuple[Axis, ...]:
    """The array's windows, one axis per spatial axis (a signal's second axis one cell wide);
    cached so each worker builds them once, not once per block."""
    axes = make_axes(spatial, *geometry)
    return (axes[0], unit_axis()) if len(axes) == 1 else axes


def _as_data(block: np.ndarray) -> np.ndarray:
    # As core.pool: bools as 0/1 bytes (Pillow's mode "1" arrays hold 255 for True).
    return block.astype(np.uint8) if block.dtype == np.bool_ else block


# --------------------------------------------------------------------------------------------
# Blocks of windows.


def _blocks(
    x: Any,
    task: _Task,
    axes: tuple[Axis, ...],
    spatial: tuple[int, ...],
    geometry: tuple,
    out_dtype: np.dtype,
) -> Any:
    import dask.array as da

    cuts = tuple(_block_cuts(ax, x.chunks[k]) for k, ax in enumerate(axes))
    spans = [[ax.span(a, b) for a, b in pairwise(c)] for ax, c in zip(axes, cuts, strict=True)]
    witnesses = []
    one_region = all(s == [(0, n)] for s, n in zip(spans, x.shape, strict=False))
    if task.whole_image_stats and not one_region:
        found = _witnesses(x)
        witnesses = [found[k] for k in range(_WITNESSES)]
    regions = x
    for k, axis_spans in enumerate(spans):
        regions = _gather(regions, axis_spans, k)
    out_chunks = tuple(tuple(np.diff(c).tolist()) for c in cuts)
    return da.map_blocks(
        _pool_block,
        regions,
        *witnesses,
        dtype=out_dtype,
        chunks=(*out_chunks, (x.shape[-1],)),
        meta=np.empty((0,) * x.ndim, out_dtype),
        token=f"pool-{task.name}",
        task=task,
        spatial=spatial,
        geometry=geometry,
        cuts=cuts,
    )


def _is_global(ax: Axis) -> bool:
    return ax.out == 1 and ax.taps == ax.size and bool(ax.valid.all())


def _block_cuts(ax: Axis, chunks: tuple[int, ...]) -> tuple[int, ...]:
    """Output boundaries ``(0, ..., out)``: windows go with the chunk holding their first cell."""
    bounds = np.cumsum((0, *chunks))
    first = np.where(ax.valid, ax.index, np.iinfo(np.int64).max).min(axis=1)
    owner = np.searchsorted(bounds, first, side="right")
    cuts = np.flatnonzero(np.diff(owner)) + 1
    return (0, *cuts.tolist(), ax.out)


def _gather(x: Any, spans: list[tuple[int, int]], axis: int) -> Any:
    """The input regions ``spans`` side by side along ``axis``, one chunk each (halos repeated)."""
    import dask.array as da

    tiled = spans[0][0] == 0 and spans[-1][1] == x.shape[axis]
    if not (tiled and all(b == a for (_, b), (a, _) in pairwise(spans))):
        cut = [slice(None)] * x.ndim
        pieces = []
        for a, b in spans:
            cut[axis] = slice(a, b)
            pieces.append(x[tuple(cut)])
        x = da.concatenate(pieces, axis=axis)
    return x.rechunk({axis: tuple(b - a for a, b in spans)})


def _pool_block(
    region: np.ndarray,
    *witnesses: np.ndarray,
    task: _Task,
    spatial: tuple[int, ...],
    geometry: tuple,
    cuts: tuple[tuple[int, ...], ...],
    block_id: tuple[int, ...] = (0, 0, 0),
) -> np.ndarray:
    """Pool one block's input region with its slice of the array's windows (core.pool's body)."""
    axes = _axes(spatial, geometry)
    sub = tuple(
        ax.windows(c[i], c[i + 1], rebase=True)
        for ax, c, i in zip(axes, cuts, block_id, strict=False)
    )
    if region.shape[:-1] != tuple(a.size for a in sub):  # a planning bug, never the data
        raise AssertionError(f"block {block_id}: region {region.shape} does not fit its windows")
    data = _as_data(region)
    if witnesses:
        # Rows past the windows' cells (no window reads them) holding the array's extreme values:
        # what the core measures on the whole array is then the array's, not the block's.
        extra = np.empty((len(witnesses), *data.shape[1:]), data.dtype)
        for k, value in enumerate(witnesses):
            extra[k] = value
        data = np.concatenate([data, extra])
    result = kernels.pool_axes(
        data,
        sub,
        task.name,
        include=task.include,
        p=task.p,
        background=task.background,
        workers=task.workers,
    )
    if region.dtype == np.bool_ and task.name != "sum":
        result = result.astype(np.bool_)
    return result


# --------------------------------------------------------------------------------------------
# The first pass: the image's extreme values.


def _witnesses(x3: Any) -> Any:
    """``(3,)`` values of the image: its smallest and largest finite values, and its nonzero
    finite value of smallest magnitude (NaN where a float image has none).

    The pass runs in one task, on a graph of its own: were it part of the blocks' graph, Dask
    would keep every chunk it read in memory until the blocks read them again.
    """
    import dask.array as da
    from dask import delayed

    data = x3.astype(np.uint8) if x3.dtype == np.bool_ else x3
    spatial = data.ndim - 1
    per_chunk = da.map_blocks(
        _chunk_witnesses,
        data,
        dtype=data.dtype,
        chunks=(*((1,) * n for n in data.numblocks[:spatial]), (_WITNESSES,)),
        meta=np.empty((0,) * data.ndim, data.dtype),
    )
    found = per_chunk.rechunk(-1).map_blocks(
        _merge_witnesses,
        drop_axis=tuple(range(spatial)),
        chunks=((_WITNESSES,),),
        dtype=data.dtype,
        meta=np.empty((0,), data.dtype),
    )
    value = delayed(_compute_apart, pure=True)(_Apart(found))
    return da.from_delayed(value, shape=(_WITNESSES,), dtype=data.dtype)


class _Apart:
    """A Dask array hidden from the graph it is passed into (Dask does not look inside)."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __dask_tokenize__(self) -> object:
        return ("poolcli-apart", self.array.name)


def _compute_apart(apart: _Apart) -> np.ndarray:
    # Chunks are read, reduced and dropped one after the other: the pass holds a chunk at most.
    return np.asarray(apart.array.compute(scheduler="sync"))


def _chunk_witnesses(block: np.ndarray) -> np.ndarray:
    return _merge_witnesses(block).reshape(*(1,) * (block.ndim - 1), _WITNESSES)


def _merge_witnesses(values: np.ndarray) -> np.ndarray:
    v = values.ravel()
    out = np.empty(_WITNESSES, v.dtype)
    if v.dtype.kind == "f":
        v = v[np.isfinite(v)]
        out.fill(np.nan)
    if v.size:
        nonzero = v[v != 0]
        smallest = nonzero[np.argmin(np.abs(nonzero.astype(np.float64)))] if nonzero.size else 0
        out[:] = v.min(), v.max(), smallest
    return out


# --------------------------------------------------------------------------------------------
# Global pooling, chunk by chunk.


def _global(x3: Any, task: _Task, out_dtype: np.dtype) -> Any | None:
    """One window covering the image, without the image in one task (None: no exact way)."""
    import dask.array as da
    from dask import delayed

    dtype = np.dtype(x3.dtype)
    data = x3.astype(np.uint8) if dtype == np.bool_ else x3
    c = x3.shape[-1]
    spatial = tuple(range(x3.ndim - 1))
    n = math.prod(x3.shape[:-1])
    if task.route == "extreme":  # any order gives the same (a NaN wins either way)
        y = (
            data.max(axis=spatial, keepdims=True)
            if task.name == "max"
            else data.min(axis=spatial, keepdims=True)
        )
        return y.astype(np.bool_) if dtype == np.bool_ else y
    if task.route == "sum_avg" and data.dtype.kind != "f":  # exact integers: any order
        parts = [delayed(_int_sums, pure=True)(b) for b in data.to_delayed().ravel()]
        while len(parts) > 1:  # a tree, so no task holds every partial sum
            parts = [delayed(sum, pure=True)(parts[k : k + 8]) for k in range(0, len(parts), 8)]
        value = delayed(_int_finish, pure=True)(parts[0], task.name, dtype, n, x3.ndim)
        return da.from_delayed(value, shape=(*(1,) * len(spatial), c), dtype=out_dtype)
    if task.route == "order":
        if data.dtype not in _HISTOGRAM or (task.name in ("mode", "sparse") and c > 1):
            return None
        counts = _histograms(data).sum(axis=spatial)
        value = delayed(_histogram_stat, pure=True)(
            counts, task.name, dtype, n, task.background, len(spatial)
        )
    elif task.route == "sum_avg" and not task.whole_image_stats:  # float sums, float32 avg
        # The first axis is folded block after block for each column of blocks (the core's
        # first pass, in order), the other axes in _fold_finish, one after the other.
        blocks = data.to_delayed()
        fold = delayed(_fold_rows, pure=True)
        strips = []
        for rest in np.ndindex(*blocks.shape[1:-1]):
            carry = None
            for i in range(blocks.shape[0]):
                carry = fold(carry, blocks[(i, *rest, 0)])
            strips.append(carry)
        value = delayed(_fold_finish, pure=True)(
            strips, task.name, dtype, n, c, tuple(data.chunks[1:-1])
        )
    else:
        return None
    return da.from_delayed(value, shape=(*(1,) * len(spatial), c), dtype=out_dtype)


def _int_sums(block: np.ndarray) -> np.ndarray:
    """Exact per-channel sums, as Python integers (summed in int64 when that cannot overflow)."""
    flat = block.reshape(-1, block.shape[-1])
    if flat.size and max(-int(flat.min()), int(flat.max())) * len(flat) > 2**63 - 1:
        return flat.astype(object).sum(axis=0)
    return flat.sum(axis=0, dtype=np.int64).astype(object)


def _int_finish(sums: np.ndarray, name: str, dtype: np.dtype, n: int, ndim: int) -> np.ndarray:
    s = np.asarray(sums, dtype=object).reshape(*(1,) * (ndim - 1), -1)
    if name == "sum":
        return kernels.int64_sum(s, 0, 1)  # raises as core.pool does when it does not fit
    # core's exact integer average, rounded half up (lp with p == 1 of unsigned data is avg).
    mean = np.array([(2 * int(v) + n) // (2 * n) for v in s.ravel()]).reshape(s.shape)
    return mean.astype(dtype)  # for bools: True when at least half are


def _fold_rows(carry: np.ndarray | None, block: np.ndarray) -> np.ndarray:
    """Add the block's rows (a volume's planes), in order, to the running sums (core's first
    pass)."""
    v = block.reshape(block.shape[0], -1)
    if carry is not None:
        v = np.concatenate([carry[None], v.astype(np.float64, copy=False)])
    with kernels.quiet_floats():
        # accumulate is strictly sequential (sum adds pairwise): row after row, as the core.
        return np.add.accumulate(v, axis=0, dtype=np.float64)[-1]


def _fold_finish(
    strips: list[np.ndarray],
    name: str,
    dtype: np.dtype,
    n: int,
    c: int,
    chunks: tuple[tuple[int, ...], ...],
) -> np.ndarray:
    """The first pass's sums put back together, then each further axis summed in order (the
    core's next passes: an image's columns left to right; a volume's rows, then columns), then
    the average. ``chunks`` are the block sizes of the axes after the first."""
    grid = [
        s.reshape(*(ch[k] for ch, k in zip(chunks, at, strict=True)), c)
        for s, at in zip(strips, np.ndindex(*(len(ch) for ch in chunks)), strict=True)
    ]
    for axis in reversed(range(len(chunks))):  # join the blocks along the last axis first
        size = len(chunks[axis])
        grid = [np.concatenate(grid[k : k + size], axis=axis) for k in range(0, len(grid), size)]
    stage = grid[0]
    with kernels.quiet_floats():
        while stage.ndim > 1:
            stage = np.add.accumulate(stage, axis=0)[-1]
        sums = stage.reshape(*(1,) * (len(chunks) + 1), c)
        if name == "sum":
            return sums
        return (sums / np.full(sums.shape[:-1] + (1,), n, np.int64)).astype(dtype)


def _histograms(data: Any) -> Any:
    import dask.array as da

    bins = _HISTOGRAM[np.dtype(data.dtype)][0]
    return da.map_blocks(
        _histogram,
        data,
        dtype=np.int64,
        chunks=(*((1,) * nb for nb in data.numblocks[:-1]), (bins,), data.chunks[-1]),
        new_axis=data.ndim - 1,
        meta=np.empty((0,) * (data.ndim + 1), np.int64),
    )


def _histogram(block: np.ndarray) -> np.ndarray:
    """``(1, ..., 1, bins, C)`` counts of the block's values, channel by channel."""
    bins, offset = _HISTOGRAM[block.dtype]
    c = block.shape[-1]
    out = np.empty((bins, c), np.int64)
    for ch in range(c):
        values = block[..., ch].ravel().astype(np.intp) + offset
        out[:, ch] = np.bincount(values, minlength=bins)
    return out.reshape(*(1,) * (block.ndim - 1), bins, c)


def _histogram_stat(
    counts: np.ndarray,
    name: str,
    dtype: np.dtype,
    n: int,
    background: object = 0,
    ndim: int = 2,
) -> np.ndarray:
    """Median (core's rule for even counts), mode (ties: the smallest) or sparse mode (mode
    without the background, unless there is nothing else) from counts."""
    data_dtype = np.dtype(np.uint8) if dtype == np.bool_ else dtype
    offset = _HISTOGRAM[data_dtype][1]
    c = counts.shape[1]
    if name == "sparse":  # one channel: the background's bin loses unless it is the only one
        bg = int(background) + offset  # type: ignore[call-overload]
        counts = counts.copy()
        if counts.sum() > counts[bg, 0]:
            counts[bg, 0] = 0
        name = "mode"
    if name == "mode":
        value = np.argmax(counts, axis=0) - offset  # argmax takes the first: the smallest value
        result = value.astype(data_dtype).reshape(*(1,) * ndim, c)
    else:  # the values sorted are each value repeated by its count: read ranks (n-1)//2, n//2
        cum = np.cumsum(counts, axis=0)
        lo, hi = (
            (np.array([np.searchsorted(cum[:, ch], r, side="right") for ch in range(c)]) - offset)
            .astype(data_dtype)
            .reshape(*(1,) * ndim, c)
            for r in ((n - 1) // 2, n // 2)
        )
        result = order.middle_mean(lo, hi, data_dtype)
    return result.astype(np.bool_) if dtype == np.bool_ else result


__all__ = ["pool_dask"]
