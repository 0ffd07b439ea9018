"""``--explain``: each output cell of a small pooling, with the window it came from.

The way a textbook shows max and average pooling: for every output cell, the input cells its
window reads (in window order, so a dilated window shows its taps side by side), padding as
``·``, and the cells that won in brackets (``max``/``min``: the extreme; ``median``: the middle
value(s); ``mode``: every cell of the winning label). For ``avg``, ``sum`` and ``lp`` the line
shows the arithmetic instead. The values come from :func:`poolcli.pool` itself; only the
windows are laid out here, from :mod:`poolcli.core.geometry` (the windows ``pool`` uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from poolcli.errors import UnsupportedError

MAX_INPUT_CELLS = 1024
MAX_OUTPUT_CELLS = 64
PAD = "·"


def explain(x: np.ndarray, mode: str, name: str = "input", **pool_kwargs: Any) -> str:
    """The explanation of ``pool(x, mode, **pool_kwargs)`` for a small 1-D or 2-D ``x``.

    Raises
    ------
    UnsupportedError
        ``x`` is too big to show (more than 1024 cells or 64 output cells) or has a channel
        axis or 3 axes; and whatever :func:`poolcli.pool` raises.

    Examples
    --------
    >>> x = np.array([[1, 3, 2, 4], [5, 6, 7, 8]])
    >>> print(explain(x, "max", stride=2))
    max k2x2 s2x2: 2x4 -> 1x2
    out[0,0] = 6  (rows 0-1, cols 0-1)
      1   3
      5  [6]
    out[0,1] = 8  (rows 0-1, cols 2-3)
      2   4
      7  [8]
    """
    from poolcli.core.modes import resolve_mode
    from poolcli.core.pool import pool

    mode = resolve_mode(mode)
    if x.ndim not in (1, 2):
        raise UnsupportedError(
            f"{name}: --explain shows 1 or 2 pooled axes without channels, not {x.ndim} axes"
        )
    if x.size > MAX_INPUT_CELLS:
        raise UnsupportedError(
            f"{name}: --explain is for small inputs (at most {MAX_INPUT_CELLS} cells);"
            f" this one has {x.size}: pool it without --explain"
        )
    n = x.ndim
    kwargs = {k: v for k, v in pool_kwargs.items() if k != "threads"}
    if n == 1:  # pool counts the axes by the window's tuples
        kwargs = {k: (v,) if _is_int(v) else v for k, v in kwargs.items()}
    out = np.asarray(pool(x, mode, **kwargs))
    if out.size > MAX_OUTPUT_CELLS:
        raise UnsupportedError(
            f"{name}: --explain is for small outputs (at most {MAX_OUTPUT_CELLS} cells);"
            f" this window gives {out.size}: pool it without --explain"
        )
    axes = _axes(x.shape, kwargs)
    same = kwargs.get("padding") == "same"
    include_pad = mode == "avg" and kwargs.get("count_include_pad", True) and not same
    cells = [_value(v) for v in x.ravel().tolist()]
    width = max(len(c) for c in [*cells, PAD]) + 2
    labels = ("rows", "cols") if n == 2 else ("cells",)
    lines = [f"{mode} {_describe(axes, kwargs)}: {_shape(x.shape)} -> {_shape(out.shape)}"]
    for where in np.ndindex(*out.shape):
        # The window's taps as a grid (a row of taps for 1-D): input index and realness.
        index = [ax.index[i] for ax, i in zip(axes, where, strict=True)]
        real = [ax.valid[i] for ax, i in zip(axes, where, strict=True)]
        if n == 1:
            index, real = [np.zeros(1, np.int64), *index], [np.ones(1, bool), *real]
        rows, cols = np.meshgrid(*index, indexing="ij")
        valid = np.logical_and(*np.meshgrid(*real, indexing="ij"))
        at = (lambda r, c: (c,)) if n == 1 else (lambda r, c: (r, c))
        taps = [
            at(r, c)
            for r, c, ok in zip(rows.ravel(), cols.ravel(), valid.ravel(), strict=True)
            if ok
        ]
        values = np.array([x[t] for t in taps])
        result = out[where].item()
        won = iter(_winners(mode, values, result))
        span = ", ".join(
            f"{label} {_taps(ax.index[i][ax.valid[i]])}"
            for label, ax, i in zip(labels, axes, where, strict=True)
        )
        arithmetic = _arithmetic(mode, values, axes, where, include_pad, result)
        lines.append(f"out[{','.join(map(str, where))}] = {_value(result)}  ({span}){arithmetic}")
        for r in range(rows.shape[0]):
            line = ""
            for c in range(rows.shape[1]):
                if not valid[r, c]:
                    line += PAD.rjust(width) + " "
                    continue
                v = _value(x[at(rows[r, c], cols[r, c])])
                line += f"[{v}]".rjust(width + 1) if next(won) else v.rjust(width) + " "
            lines.append(line.rstrip())
    return "\n".join(lines)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _axes(shape: tuple[int, ...], kw: Mapping[str, Any]) -> list[Any]:
    from poolcli.core.geometry import adaptive_axis, regular_axis

    n = len(shape)

    def per_axis(key: str, default: Any) -> list[Any]:
        value = kw.get(key)
        if value is None:
            value = default
        return list(value) if isinstance(value, (tuple, list)) else [value] * n

    if kw.get("output_size") is not None:
        return [adaptive_axis(s, o) for s, o in zip(shape, per_axis("output_size", 1), strict=True)]
    kernel = per_axis("kernel_size", 2)
    stride = per_axis("stride", None)
    stride = [s if s is not None else k for s, k in zip(stride, kernel, strict=True)]
    pads = per_axis("padding", 0)
    pads = [0 if p == "valid" else p for p in pads]
    dil = per_axis("dilation", 1)
    ceil = bool(kw.get("ceil_mode", False))
    return [
        regular_axis(s, k, st, p, d, ceil)
        for s, k, st, p, d in zip(shape, kernel, stride, pads, dil, strict=True)
    ]


def _describe(axes: list[Any], kw: Mapping[str, Any]) -> str:
    if kw.get("output_size") is not None:
        return "adaptive"
    parts = [
        "k" + "x".join(str(a.kernel) for a in axes),
        "s" + "x".join(str(a.stride) for a in axes),
    ]
    if any(a.pad for a in axes) or kw.get("padding") == "same":
        parts.append(
            "pad" + ("same" if kw.get("padding") == "same" else "x".join(str(a.pad) for a in axes))
        )
    if any(a.dilation > 1 for a in axes):
        parts.append("d" + "x".join(str(a.dilation) for a in axes))
    if kw.get("ceil_mode"):
        parts.append("ceil")
    return " ".join(parts)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _value(v: Any) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _taps(index: np.ndarray) -> str:
    idx = [int(i) for i in index]
    if len(idx) > 1 and all(b - a == 1 for a, b in zip(idx, idx[1:], strict=False)):
        return f"{idx[0]}-{idx[-1]}"
    return ",".join(map(str, idx))


def _winners(mode: str, values: np.ndarray, result: Any) -> list[bool]:
    if mode in ("max", "min", "mode"):
        if isinstance(result, float) and result != result:
            return [bool(v != v) for v in values]
        return [bool(v == result) for v in values]
    if mode == "median":
        order = np.argsort(values, kind="stable")
        n = len(values)
        middle = {int(order[(n - 1) // 2]), int(order[n // 2])}
        return [i in middle for i in range(n)]
    return [False] * len(values)


def _arithmetic(
    mode: str,
    values: np.ndarray,
    axes: list[Any],
    where: tuple[int, ...],
    include_pad: bool,
    result: Any,
) -> str:
    """``  = (1+3+5+6) / 4 = 3.75 -> 4`` for avg, the sum's terms, or lp's power mean."""
    if mode not in ("avg", "sum", "lp"):
        return ""
    plain = [int(v) if isinstance(v, bool) else v for v in values.tolist()]
    terms = "+".join(_value(v) for v in plain)
    if mode == "sum":
        return f"  = {terms}"
    if mode == "lp":
        return f"  = mean(|x|^p)^(1/p) of {len(plain)} cells"
    divisor = len(plain)
    if include_pad:
        divisor = int(np.prod([int(ax.padded_count[i]) for ax, i in zip(axes, where, strict=True)]))
    exact = sum(plain) / divisor
    note = " (padding counted)" if divisor != len(plain) else ""
    rounded = "" if _value(exact) == _value(result) else f" -> {_value(result)}"
    return f"  = ({terms}) / {divisor}{note} = {_value(exact)}{rounded}"
