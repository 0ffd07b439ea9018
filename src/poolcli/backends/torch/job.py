"""One pooling job on a batch of tensors: which images the core pools, which kernel the rest.

Rare cases go to the core: an image whose int64 sums would not fit int64 (the core then uses
Python integers) or whose ``|x|**p`` would leave float64's range (the core then sums logarithms)
is pooled by the NumPy core on the host and copied back (:meth:`Job.run`'s ``on_host``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from poolcli.backends.torch.lp import exact_abs, exact_abs_dtype, lp, powers_fit
from poolcli.backends.torch.order import order_stat
from poolcli.backends.torch.separable import extreme, largest_magnitudes, sum_avg
from poolcli.core import kernels
from poolcli.core.geometry import Axis


class Job:
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
            tops = largest_magnitudes(x).tolist()
            if dtype.kind == "f":
                mags = x.abs()
                mags = torch.where(torch.isfinite(mags) & (mags > 0), mags, torch.inf)
                lows = mags.flatten(1).amin(dim=1).tolist()
            else:
                lows = [1.0] * len(tops)
            return [
                i
                for i, (top, low) in enumerate(zip(tops, lows, strict=True))
                if not powers_fit(top, low, self.p, self.taps)
            ]
        return []

    # -- the device path ----------------------------------------------------------------------

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        name = self.name
        if name in ("max", "min"):
            return extreme(self, x)
        if name in ("sum", "avg"):
            return sum_avg(self, x, self.include)
        if name == "lp" and self.p == 1 and self.dtype.kind in "uib":
            # lp with p == 1 is the average of |x| over real cells; |int16 min| saturates.
            avg = Job("avg", self.axes, exact_abs_dtype(self.dtype), False, 1.0)
            result = sum_avg(avg, exact_abs(x), False)
            top = np.iinfo(np.uint8 if self.dtype == np.bool_ else self.dtype).max
            return result.to(torch.int64).clamp(max=int(top)).to(x.dtype)  # no uint16 clamp
        if name == "lp":
            return lp(self, x)
        return order_stat(self, x)
