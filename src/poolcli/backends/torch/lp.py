"""lp pooling on tensors, exact: the powers and roots NumPy would take, and the core's rounding.

``pow`` differs by an ulp between libm, torch's vectorised CPU kernels and CUDA, so exactness
wins: the powers ``|x|**p`` come from a table computed by NumPy for 8- and 16-bit data (looked up
on the device), otherwise from NumPy on the host, and the final ``mean**(1/p)`` is taken by NumPy
on the host (the pooled means only). ``p = 2`` uses ``x*x`` and a correctly rounded square root
(:func:`sqrt`). Integer results are rounded half up (:func:`round_to`), and the rare cells
float64 cannot settle (ties such as ``lp([0, 6], p=0.5) = 1.5``) are decided by the core's own
code on the host. :func:`powers_fit` says which images must go to the core altogether.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from poolcli.backends.torch.separable import divisor, reduce_windows
from poolcli.core import kernels

if TYPE_CHECKING:
    from poolcli.backends.torch.job import Job


def lp(job: Job, x: torch.Tensor) -> torch.Tensor:
    def add(acc: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return acc.add_(v)

    p = job.p
    if p == 2.0:
        v = x.to(torch.float64).abs()
        powers = v * v
    else:
        powers = abs_pow(x, p)
    s = reduce_windows(job, powers, add, 0.0, torch.float64)
    mean = s / divisor(job, False, x.device)
    root = sqrt(mean) if p == 2.0 else numpy_pow(mean, 1.0 / p)
    out = round_to(root, x.dtype)
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
            host[n], job.axes, tuple(where), ch, p, int(fixed[cell]), dtype
        )
    return torch.from_numpy(fixed).to(out.device)


def powers_fit(top: float, low: float, p: float, taps: int) -> bool:
    """The core's test: sums of ``taps`` values ``|x|**p`` stay well inside float64's range."""
    if top == 0:
        return True
    return bool(p * np.log2(top) + np.log2(taps) < 1000 and p * np.log2(low) > -1000)


def exact_abs_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "ub":
        return dtype
    return np.dtype({1: np.int16, 2: np.int32, 4: np.int64}.get(dtype.itemsize, np.int64))


def exact_abs(x: torch.Tensor) -> torch.Tensor:
    """``|x|`` in a type that holds it (int16's minimum has no int16 magnitude)."""
    if x.dtype in (torch.uint8, torch.uint16, torch.bool):
        return x
    wider = {torch.int16: torch.int32, torch.int32: torch.int64}.get(x.dtype, x.dtype)
    return x.to(wider).abs()


def numpy_pow(v: torch.Tensor, e: float) -> torch.Tensor:
    """``v ** e`` (float64) by NumPy, so it rounds as the core's does; on ``v``'s device."""
    if e == 1.0:
        return v
    host = v.detach().cpu().numpy()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return torch.from_numpy(np.power(host, e)).to(v.device)


def sqrt(v: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root (IEEE's): CUDA's ``sqrt`` is; torch's vectorised CPU
    kernel is not always (sqrt(4.75) came out an ulp low), so on the CPU NumPy takes it."""
    if v.device.type == "cuda":
        return torch.sqrt(v)
    host = v.detach().cpu().numpy()
    return torch.from_numpy(np.sqrt(host)).to(v.device)


def abs_pow(x: torch.Tensor, p: float) -> torch.Tensor:
    """``|x| ** p`` in float64, as NumPy computes it: a table for 8- and 16-bit data."""
    if x.dtype in (torch.uint8, torch.uint16, torch.int16):
        size = {torch.uint8: 256, torch.uint16: 65536, torch.int16: 32769}[x.dtype]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            table = np.power(np.arange(size, dtype=np.float64), p)
        index = x.to(torch.int32).abs().to(torch.int64)
        return torch.from_numpy(table).to(x.device)[index]
    return numpy_pow(x.to(torch.float64).abs(), p)


def round_to(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
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
