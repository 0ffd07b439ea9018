"""The array core: :func:`pool` and the registry of pooling modes. Pure NumPy, no I/O.

How the work is organised, and why:

* Windows are rectangles, so max, min, sum, avg and lp are *separable*: reduce the rows of every
  window first (whole contiguous image rows per tap, so NumPy's SIMD loops run), then the columns
  (one channel plane at a time, so the inner loop runs along the long axis, not along the 3
  channels). Each tap is a strided view, never a copy; padding is never materialised: a tap only
  touches the outputs whose window really covers a cell.
* The image is processed in bands of output rows sized to stay in cache, spread over threads
  (NumPy releases the GIL), so extra memory is the output plus a few bands.
* Integer averages are exact: sums accumulate in the narrowest integer type that cannot overflow,
  then ``(2*sum + n) // (2*n)`` rounds half up. Nothing ever wraps.
* Median and mode look at all taps of a window together (see :mod:`poolcli.order`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from poolcli import order
from poolcli.errors import UnsupportedError, WindowError
from poolcli.geometry import Axis, Window, check_window, make_axes
from poolcli.modes import DEFAULTS, MODES, ModeInfo, resolve_mode
from poolcli.scratch import Scratch

DTYPES = tuple(
    np.dtype(t)
    for t in ("bool", "uint8", "uint16", "int16", "int32", "int64", "float32", "float64")
)

# Bytes of one band's row-reduced intermediate: small enough to stay in L2 while the column pass
# reads it back, large enough that per-band Python overhead stays small.
BAND_BYTES = 1 << 22
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
    """Pool a ``(H, W)`` or ``(H, W, C)`` array over windows, as PyTorch's pooling layers do.

    Parameters
    ----------
    x : numpy.ndarray or dask.array.Array
        ``(H, W)`` or channels-last ``(H, W, C)``; dtype bool, uint8, uint16, int16, int32, int64,
        float32 or float64. It is never modified. A Dask array gives a lazy Dask array with the
        same values (see :func:`poolcli.lazy.pool_dask`).
    mode : str
        ``max``, ``min``, ``avg`` (alias ``mean``), ``sum``, ``median``, ``mode`` or ``lp``.
    kernel_size, stride, dilation : int or (int, int)
        Window taps, step between windows (defaults to ``kernel_size``), step between taps.
    padding : int, (int, int), "same" or "valid"
        Cells of padding on each side (at most half the effective window), or TensorFlow's rule.
        Padding never wins a max or min; with ``"same"`` it never counts for avg either.
    ceil_mode : bool
        Round the output size up, keeping a last window that starts inside the input.
    count_include_pad : bool
        avg only: divide by the window's cells inside ``[-pad, in + pad)`` (PyTorch's default)
        instead of by its real cells.
    output_size : int or (int, int), optional
        Adaptive pooling to this size (``1`` is global pooling); excludes the window arguments.
    p : float
        Exponent of ``lp`` pooling, ``p > 0``.
    threads : int, optional
        Worker threads for large inputs (default: the CPU count).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        Same layout as ``x``; same dtype except ``sum`` (int64 for integer and bool input,
        float64 for float input). Integer avg, median and lp round to nearest, ties up.

    Raises
    ------
    WindowError
        Zero or negative sizes, a window larger than the padded input, too much padding, a window
        covering only padding, output_size combined with window arguments.
    UnsupportedError
        An unknown mode, an unsupported dtype or shape, a bad ``p``.

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
    if type(x).__module__.split(".")[0] == "dask":  # a Dask array: pooled lazily, block by block
        from poolcli.lazy import pool_dask

        return pool_dask(
            x,
            mode,
            kernel_size,
            stride,
            padding,
            dilation,
            ceil_mode,
            count_include_pad,
            output_size,
            p,
            threads=threads,
        )
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
    out_dtype = _result_dtype(name, x.dtype)
    if x3.shape[2] == 0:
        result = np.empty((rows.out, cols.out, 0), out_dtype)
    else:
        # Bools as 0/1 bytes: a copy, since arrays from Pillow's "1" mode hold 255 for True.
        data = x3.astype(np.uint8) if x.dtype == np.bool_ else x3
        workers = _workers(threads, x3.nbytes)
        with _quiet_floats():
            if name in ("max", "min"):
                result = _extreme(data, rows, cols, name, workers)
            elif name in ("sum", "avg"):
                include = count_include_pad and padding != "same"
                result = _sum_avg(data, rows, cols, name, include, workers)
            elif name == "lp" and p == 1 and data.dtype.kind in "ui":
                # lp with p == 1 is the average of |x| over real cells: exact on integers.
                avg = _sum_avg(_exact_abs(data), rows, cols, "avg", False, workers)
                # |int16 min| does not fit int16: saturate, as lp does for every other p.
                result = np.minimum(avg, np.iinfo(data.dtype).max).astype(data.dtype)
            elif name == "lp":
                result = _lp(data, rows, cols, float(p), workers)
            else:
                result = _order_stat(data, rows, cols, name, workers)
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


def _quiet_floats() -> Any:
    """IEEE results (inf - inf is NaN, a float sum past the range is inf, log 0 is -inf)
    without warnings.

    NumPy's error state is per thread, so band workers enter it too.
    """
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


def _result_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if name == "sum":
        return np.dtype(np.float64 if dtype.kind == "f" else np.int64)
    return dtype


def _workers(threads: int | None, nbytes: int) -> int:
    if threads is not None:
        if threads < 1:
            raise UnsupportedError(f"threads must be >= 1, got {threads}")
        return threads
    return (os.cpu_count() or 1) if nbytes >= THREAD_MIN_BYTES else 1


# --------------------------------------------------------------------------------------------
# Bands: the unit of work. ``run(lo, hi)`` computes output rows [lo, hi).


def _for_bands(rows: Axis, row_bytes: int, workers: int, run: Callable[[int, int], None]) -> None:
    taps = max(rows.taps, 1)
    per_band = max(1, BAND_BYTES // max(row_bytes * taps, 1))
    if workers > 1:  # enough bands that both workers stay busy to the end
        per_band = min(per_band, max(1, -(-rows.out // (4 * workers))))
    bands = [(lo, min(lo + per_band, rows.out)) for lo in range(0, rows.out, per_band)]
    if workers == 1 or len(bands) == 1:
        for lo, hi in bands:
            run(lo, hi)
        return

    def quiet_run(lo: int, hi: int) -> None:
        with _quiet_floats():
            run(lo, hi)

    with ThreadPoolExecutor(max_workers=workers) as pool_:
        for future in [pool_.submit(quiet_run, lo, hi) for lo, hi in bands]:
            future.result()


# --------------------------------------------------------------------------------------------
# Separable modes.


def _reduce_axis(
    src: np.ndarray,
    ax: Axis,
    axis: int,
    lo: int,
    hi: int,
    base: int,
    op: np.ufunc,
    identity: Any,
    out: np.ndarray,
) -> None:
    """``out`` = ``op`` over the taps of windows ``lo..hi-1`` of ``ax``, along ``axis`` of ``src``.

    ``src`` starts at input cell ``base`` along ``axis``; ``out`` has ``hi - lo`` cells there.
    """
    dt = out.dtype

    def along(a: np.ndarray, sel: Any) -> Any:
        return a[sel] if axis == 0 else a[:, sel]

    if ax.stride is None:  # irregular adaptive windows: gather the cells of each tap
        out.fill(identity)
        for j in range(ax.taps):
            hit = np.flatnonzero(ax.valid[lo:hi, j])
            if hit.size:
                cells = ax.index[lo + hit, j] - base
                acc = along(out, hit)
                value = op(acc, along(src, cells), dtype=dt)
                if axis == 0:
                    out[hit] = value
                else:
                    out[:, hit] = value
        return
    taps = []
    for j in range(ax.taps):
        a, b = ax.tap_range(j)
        a, b = max(a, lo), min(b, hi)
        if a < b:
            first = int(ax.index[a, j]) - base
            view = along(src, slice(first, first + (b - a - 1) * ax.stride + 1, ax.stride))
            taps.append((a - lo, b - lo, view))
    # Every window adds its taps in tap order, whichever band it falls in: float sums then do
    # not depend on how the rows were cut into bands (threads) or blocks (Dask chunks).
    whole = [t[:2] == (0, hi - lo) for t in taps[:2]]
    if len(taps) >= 2 and all(whole):
        op(taps[0][2], taps[1][2], out=out, dtype=dt)
        rest = taps[2:]
    elif taps and whole[0]:
        np.copyto(out, taps[0][2])
        rest = taps[1:]
    else:
        out.fill(identity)
        rest = taps
    for a, b, view in rest:
        target = along(out, slice(a, b))
        op(target, view, out=target, dtype=dt)


def _separable(
    x3: np.ndarray,
    rows: Axis,
    cols: Axis,
    op: np.ufunc,
    acc: np.dtype,
    identity: Any,
    workers: int,
    finish: Callable[[np.ndarray, int, int], np.ndarray] | None,
    out_dtype: np.dtype,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Rows then columns, band by band. ``finish(acc_band, lo, hi)`` turns sums into results."""
    h, w, c = x3.shape
    out = np.empty((rows.out, cols.out, c), out_dtype)
    scratch = Scratch()

    def run(lo: int, hi: int) -> None:
        first, last = rows.span(lo, hi)
        src = x3[first:last].reshape(last - first, w * c)
        if prepare is not None:
            src = prepare(src)
        stage = scratch.get((hi - lo, w * c), acc)
        _reduce_axis(src, rows, 0, lo, hi, first, op, identity, stage)
        stage3 = stage.reshape(hi - lo, w, c)
        target = out[lo:hi] if finish is None else scratch.get((hi - lo, cols.out, c), acc)
        _reduce_cols(stage3, cols, op, identity, target, scratch)
        if finish is not None:
            out[lo:hi] = finish(target, lo, hi)
            scratch.put(target)
        scratch.put(stage)

    _for_bands(rows, w * c * acc.itemsize, workers, run)
    return out


def _reduce_cols(
    stage3: np.ndarray,
    cols: Axis,
    op: np.ufunc,
    identity: Any,
    target: np.ndarray,
    scratch: Scratch,
) -> None:
    """The column pass of a band: ``target[:, i, ch]`` = ``op`` over window ``i``'s columns.

    Strided per-channel loops cost several times a contiguous one. For windows of three or more
    taps, the interior windows are reduced on whole contiguous rows (every column's window
    starting there, all channels at once, in tap order), and one strided copy per channel keeps
    the columns where windows start. Edge windows, with padding, take the general path.
    """
    rows_, w, c = stage3.shape
    c0, c1 = cols.interior()
    if cols.stride is None or cols.taps < 3 or c1 - c0 < 2:
        c0 = c1 = 0
    for a, b in ((0, c0), (c1, cols.out)) if c0 < c1 else ((0, cols.out),):
        for ch in range(c):
            if a < b:
                _reduce_axis(stage3[:, :, ch], cols, 1, a, b, 0, op, identity, target[:, a:b, ch])
    if c0 >= c1:
        return
    first = int(cols.index[c0, 0])
    span = int(cols.index[c1 - 1, 0]) - first + 1
    flat = stage3.reshape(rows_, w * c)

    def tap(j: int) -> np.ndarray:
        start = (first + j * cols.dilation) * c
        return flat[:, start : start + span * c]

    m = scratch.get((rows_, span * c), stage3.dtype)
    op(tap(0), tap(1), out=m)
    for j in range(2, cols.taps):
        op(m, tap(j), out=m)
    m3 = m.reshape(rows_, span, c)
    for ch in range(c):
        np.copyto(target[:, c0:c1, ch], m3[:, :: cols.stride, ch], casting="unsafe")
    scratch.put(m)


def _extreme(x3: np.ndarray, rows: Axis, cols: Axis, name: str, workers: int) -> np.ndarray:
    dt = x3.dtype
    if name == "max":
        op, identity = np.maximum, (-np.inf if dt.kind == "f" else np.iinfo(dt).min)
    else:
        op, identity = np.minimum, (np.inf if dt.kind == "f" else np.iinfo(dt).max)
    return _separable(x3, rows, cols, op, dt, identity, workers, None, dt)


def _sum_dtype(dtype: np.dtype, taps: int, lo: int, hi: int) -> np.dtype:
    """Narrowest integer type holding ``2*sum + n`` for ``taps`` values in ``[lo, hi]``."""
    need_lo, need_hi = 2 * lo * taps, 2 * hi * taps + taps
    for cand in (np.uint16, np.uint32, np.int16, np.int32, np.int64):
        info = np.iinfo(cand)
        if (
            info.min <= need_lo
            and need_hi <= info.max
            and np.dtype(cand).itemsize >= dtype.itemsize
        ):
            return np.dtype(cand)
    # Only int64 data near its limits gets here: Python integers are slow but exact.
    return np.dtype(object)


def _int64_sum(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Exact sums (Python integers) that must fit the int64 result, or a clear error."""
    info = np.iinfo(np.int64)
    if s.size and not (info.min <= s.min() and s.max() <= info.max):
        raise UnsupportedError("a window's sum does not fit int64 (the sum result type)")
    return s.astype(np.int64)


def _divisor(rows: Axis, cols: Axis, include_pad: bool, lo: int, hi: int) -> int | np.ndarray:
    """Cells each window of output rows ``lo..hi-1`` divides by: an int when all are equal."""
    r = (rows.padded_count if include_pad else rows.real_count)[lo:hi]
    c = cols.padded_count if include_pad else cols.real_count
    if r.min() == r.max() and c.min() == c.max():
        return int(r[0]) * int(c[0])
    return (r[:, None] * c[None, :])[:, :, None].astype(np.int64)


def _value_range(x3: np.ndarray) -> tuple[int, int]:
    if x3.dtype == np.int64:  # the type's range would overflow any sum: look at the data
        return int(x3.min()), int(x3.max())
    info = np.iinfo(x3.dtype)
    return int(info.min), int(info.max)


def _sum_avg(
    x3: np.ndarray,
    rows: Axis,
    cols: Axis,
    name: str,
    include_pad: bool,
    workers: int,
) -> np.ndarray:
    if x3.dtype.kind in "fO":
        acc = np.dtype(np.float64) if x3.dtype.kind == "f" else x3.dtype
    else:
        acc = _sum_dtype(x3.dtype, rows.taps * cols.taps, *_value_range(x3))
    if name == "sum":
        if acc.kind == "O":
            return _separable(x3, rows, cols, np.add, acc, 0, workers, _int64_sum, np.int64)
        out_dtype = np.dtype(np.float64 if x3.dtype.kind == "f" else np.int64)
        return _separable(x3, rows, cols, np.add, acc, 0, workers, None, out_dtype)
    if x3.dtype.kind == "f":
        # Sums of float64 values near the top of the range overflow: divide by a power of two
        # first (exact), multiply the averages back.
        top = _largest_magnitude(x3)
        scale = _pow2_at_most(top) if top * rows.taps * cols.taps > np.finfo(acc).max else 1.0
        prepare = None if scale == 1.0 else (lambda band: band / scale)

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            s /= _divisor(rows, cols, include_pad, lo, hi)  # an IEEE division, in place
            if scale != 1.0:
                s *= scale
            return s

        return _separable(x3, rows, cols, np.add, acc, 0, workers, finish, x3.dtype, prepare)
    else:

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            n = _divisor(rows, cols, include_pad, lo, hi)
            if isinstance(n, int):  # one divisor for the whole band: scalar arithmetic
                k = n
                if k & (k - 1) == 0:  # a power of two: round half up with a shift
                    s += k // 2
                    s >>= k.bit_length() - 1
                    return s
                s *= 2
                s += k
                s //= 2 * k
                return s
            n = n.astype(acc, copy=False)
            return (2 * s + n) // (2 * n)

    return _separable(x3, rows, cols, np.add, acc, 0, workers, finish, x3.dtype)


def _lp(x3: np.ndarray, rows: Axis, cols: Axis, p: float, workers: int) -> np.ndarray:
    f64 = np.dtype(np.float64)
    if _powers_fit(x3, p, rows.taps * cols.taps):

        def prepare(band: np.ndarray) -> np.ndarray:
            v = np.abs(band.astype(np.float64))
            return v * v if p == 2.0 else v**p

        def finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
            mean = s / _divisor(rows, cols, False, lo, hi)
            return _round_to(np.sqrt(mean) if p == 2.0 else mean ** (1.0 / p), x3.dtype)

        return _separable(x3, rows, cols, np.add, f64, 0.0, workers, finish, x3.dtype, prepare)

    # |x|**p would overflow or underflow: sum the powers as logarithms instead.
    def log_prepare(band: np.ndarray) -> np.ndarray:
        return p * np.log(np.abs(band.astype(np.float64)))

    def log_finish(s: np.ndarray, lo: int, hi: int) -> np.ndarray:
        log_mean = s - np.log(_divisor(rows, cols, False, lo, hi))
        return _round_to(np.exp(log_mean / p), x3.dtype)

    return _separable(
        x3, rows, cols, np.logaddexp, f64, -np.inf, workers, log_finish, x3.dtype, log_prepare
    )


def _powers_fit(x3: np.ndarray, p: float, taps: int) -> bool:
    """Whether sums of ``taps`` values ``|x|**p`` stay well inside float64's range."""
    top = _largest_magnitude(x3)
    if top == 0:
        return True
    if x3.dtype.kind == "f":
        mags = np.abs(x3)
        low = float(np.min(mags, where=np.isfinite(mags) & (mags > 0), initial=np.inf))
    else:
        low = 1.0
    return p * np.log2(top) + np.log2(taps) < 1000 and p * np.log2(low) > -1000


def _exact_abs(x3: np.ndarray) -> np.ndarray:
    """``|x|`` in a type that holds it (int16's minimum has no int16 magnitude)."""
    if x3.dtype.kind == "u":
        return x3
    wider = {1: np.int16, 2: np.int32, 4: np.int64}.get(x3.dtype.itemsize)
    if wider is not None:
        return np.abs(x3.astype(wider))
    if int(x3.min()) == np.iinfo(np.int64).min:
        return np.abs(x3.astype(object))
    return np.abs(x3)


def _largest_magnitude(x3: np.ndarray) -> float:
    """The largest finite ``|x|`` (int16's minimum counts as 32768, not as itself)."""
    if x3.dtype.kind == "f":
        return float(np.max(np.abs(x3), where=np.isfinite(x3), initial=0))
    return float(max(-int(x3.min()), int(x3.max())))


def _pow2_at_most(top: float) -> float:
    """A power of two in ``(top / 2, top]`` (1 for 0): dividing by it rounds nothing."""
    return float(np.ldexp(1.0, int(np.frexp(top)[1]) - 1)) if top else 1.0


def _round_to(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results to ``dtype``: integers rounded to nearest, ties up, within range."""
    if dtype.kind == "f":
        return v.astype(dtype)
    info = np.iinfo(dtype)
    v = np.floor(v + 0.5)
    # float64 cannot hold int64's maximum: anything at or past 2**63 saturates to it.
    high = v >= float(info.max)
    v[high] = 0
    out = np.clip(v, info.min, info.max, out=v).astype(dtype)
    out[high] = info.max
    return out


# --------------------------------------------------------------------------------------------
# Median and mode.


def _order_stat(x3: np.ndarray, rows: Axis, cols: Axis, name: str, workers: int) -> np.ndarray:
    """Median (per channel) or mode (per pixel label), one band of rows at a time.

    Keys for mode are made per band from the rows the band reads, so every pass stays in cache.
    """
    res = np.empty((rows.out, cols.out, x3.shape[2]), x3.dtype)
    n = rows.taps * cols.taps
    r0, r1 = rows.interior()
    c0, c1 = cols.interior()
    fast = rows.stride is not None and cols.stride is not None and n <= order.NETWORK_MAX_TAPS
    if fast and r0 < r1 and c0 < c1:
        scratch = Scratch()

        def run(lo: int, hi: int) -> None:
            lo, hi = lo + r0, hi + r0
            first, last = rows.span(lo, hi)
            planes, decode = _planes(x3[first:last], name)
            value = scratch.get((hi - lo, c1 - c0, planes.shape[2]), planes.dtype)
            for ch in range(planes.shape[2]):
                taps = [
                    planes[
                        rows.index[lo, jr] - first : rows.index[hi - 1, jr]
                        - first
                        + 1 : rows.stride,
                        cols.index[c0, jc] : cols.index[c1 - 1, jc] + 1 : cols.stride,
                        ch,
                    ]
                    for jr in range(rows.taps)
                    for jc in range(cols.taps)
                ]
                if name == "median":
                    order.median_of_taps(taps, x3.dtype, value[:, :, ch], scratch)
                else:
                    order.mode_of_taps(taps, value[:, :, ch], scratch)
            decode(value, res[lo:hi, c0:c1])
            scratch.put(value)

        _for_bands(rows.windows(r0, r1), cols.size * x3.shape[2] * x3.itemsize, workers, run)
        edges = [
            (0, r0, 0, cols.out),
            (r1, rows.out, 0, cols.out),
            (r0, r1, 0, c0),
            (r0, r1, c1, cols.out),
        ]
    else:
        edges = [(0, rows.out, 0, cols.out)]
    for a, b, d, e in edges:
        if a < b and d < e:
            _gathered(x3, rows, cols, name, res, a, b, d, e)
    return res


# decode(values, out) writes pooled keys or channels into ``out``, an (h, w, C) view of the result.
Decoder = Callable[[np.ndarray, np.ndarray], None]


def _planes(block: np.ndarray, name: str) -> tuple[np.ndarray, Decoder]:
    """What median/mode sort: the channels themselves, or one label key per pixel for mode."""
    if name == "median":
        return block, _copy_into
    keys, decode = _label_keys(block)
    return keys[:, :, None], lambda v, out: decode(v[:, :, 0], out)


def _copy_into(values: np.ndarray, out: np.ndarray) -> None:
    out[...] = values


def _gathered(
    x3: np.ndarray,
    rows: Axis,
    cols: Axis,
    name: str,
    res: np.ndarray,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
) -> None:
    """Median/mode of windows ``[r0, r1) x [c0, c1)`` by gathering their taps and sorting them."""
    n = rows.taps * cols.taps
    nc = c1 - c0
    per_band = max(1, (1 << 24) // max(n * nc * x3.shape[2], 1))
    for lo in range(r0, r1, per_band):
        hi = min(lo + per_band, r1)
        first, last = rows.span(lo, hi)
        planes, decode = _planes(x3[first:last], name)
        c = planes.shape[2]
        ri, rv = rows.index[lo:hi], rows.valid[lo:hi]
        ci, cv = cols.index[c0:c1], cols.valid[c0:c1]
        clip_r = np.clip(ri, first, last - 1) - first
        clip_c = np.clip(ci, 0, cols.size - 1)
        g = planes[clip_r.ravel()][:, clip_c.ravel()]  # (nr*kr, nc*kc, c)
        nr = hi - lo
        g = g.reshape(nr, rows.taps, nc, cols.taps, c).transpose(0, 2, 4, 1, 3)
        g = g.reshape(nr, nc, c, n).copy()
        valid = (rv[:, None, :, None] & cv[None, :, None, :]).reshape(nr, nc, 1, n)
        valid = np.broadcast_to(valid, g.shape)
        g[~valid] = np.inf if g.dtype.kind == "f" else np.iinfo(g.dtype).max
        g.sort(axis=-1)
        count = np.broadcast_to(valid.sum(axis=-1), g.shape[:-1])
        if name == "median":
            value = order.median_sorted(g, count, x3.dtype)
            if x3.dtype.kind == "f":  # a NaN among the real cells sorted past the fill: restore it
                value[np.isnan(g).any(axis=-1)] = np.nan
        else:
            value = order.mode_sorted(g, count)
        decode(value, res[lo:hi, c0:c1])


def _label_keys(x3: np.ndarray) -> tuple[np.ndarray, Decoder]:
    """One sortable unsigned key per pixel, whose order is the pixel's lexicographic order.

    Returns the ``(H, W)`` keys and the function writing pooled keys back as ``(h, w, C)`` pixels.
    """
    h, w, c = x3.shape
    dtype = x3.dtype
    if dtype.kind == "f":  # one value, one key: -0.0 is 0.0, and every NaN is the same NaN
        x3 = x3 + dtype.type(0)
        x3[np.isnan(x3)] = np.nan
    bits = 8 * dtype.itemsize
    udt = np.dtype(f"u{dtype.itemsize}")

    def ordered(a: np.ndarray) -> np.ndarray:  # order-preserving map to unsigned integers
        if dtype.kind == "u":
            return a
        u = a.view(udt)
        sign = udt.type(1 << (bits - 1))
        if dtype.kind == "i":
            return u ^ sign
        # IEEE floats: negative numbers have all bits flipped, positive ones just the sign bit.
        return np.where(u & sign, ~u, u | sign)

    def unordered(u: np.ndarray) -> np.ndarray:
        if dtype.kind == "u":
            return u.astype(dtype, copy=False)
        u = u.astype(udt, copy=False)
        sign = udt.type(1 << (bits - 1))
        if dtype.kind == "i":
            return (u ^ sign).view(dtype)
        return np.where(u & sign, u & ~sign, ~u).view(dtype)

    if dtype.kind in "ub" and c == 1:
        return x3[:, :, 0], lambda k, out: _copy_into(k, out[:, :, 0])
    if dtype.kind in "ub" and c * dtype.itemsize in (2, 3, 4, 8):
        return _byte_keys(x3)
    if c * bits <= 64:
        kbits = next(b for b in (8, 16, 32, 64) if b >= c * bits)
        kdt = np.dtype(f"u{kbits // 8}")
        keys = np.zeros((h, w), kdt)
        for ch in range(c):
            if ch:
                keys <<= kdt.type(bits)
            keys |= ordered(np.ascontiguousarray(x3[:, :, ch])).astype(kdt)
        mask = (1 << bits) - 1

        def decode(k: np.ndarray, out: np.ndarray) -> None:
            for ch in range(c):
                out[:, :, ch] = unordered((k >> kdt.type(bits * (c - 1 - ch))) & kdt.type(mask))

        return keys, decode
    # Too wide to pack: number the distinct pixels in lexicographic order.
    flat = np.stack([ordered(x3[:, :, ch]).reshape(-1) for ch in range(c)], axis=-1)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    pixels = x3.reshape(-1, c)[first]
    return inverse.reshape(h, w).astype(np.int64), lambda k, out: _copy_into(pixels[k], out)


def _byte_keys(x3: np.ndarray) -> tuple[np.ndarray, Decoder]:
    """Keys of unsigned pixels read straight from memory as big-endian integers.

    A pixel's bytes, most significant channel first, *are* its lexicographic key: one byteswap
    pass instead of a shift and an or per channel. Three-byte pixels are read as four bytes (the
    next pixel's first byte, shifted out) from a copy one byte longer.
    """
    h, w, c = x3.shape
    width = c * x3.itemsize
    dtype = x3.dtype
    if dtype.itemsize > 1:  # channels of several bytes: make each one big-endian first
        x3 = x3.astype(dtype.newbyteorder(">"))
    if width == 3:
        flat = np.empty(h * w * 3 + 1, np.uint8)
        flat[:-1] = x3.reshape(-1)
        flat[-1] = 0
        four = np.ndarray((h, w), ">u4", flat, 0, (w * 3, 3))
        keys = four.astype(np.uint32) >> np.uint32(8)
    else:
        keys = np.ascontiguousarray(x3).view(f">u{width}")[:, :, 0].astype(f"u{width}")

    def decode(k: np.ndarray, out: np.ndarray) -> None:
        kw = k.astype(f">u{4 if width == 3 else width}")
        raw = kw.view(np.uint8).reshape(*k.shape, -1)[..., -width:]
        big = raw.view(dtype.newbyteorder(">"))
        for ch in range(c):  # one channel at a time: long inner loops, not 3-byte ones
            out[:, :, ch] = big[:, :, ch]

    return keys, decode


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
