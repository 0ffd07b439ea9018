"""The core's kernel interface: what a backend calls to pool one block of an image.

A backend that splits an image (:mod:`poolcli.backends.dask`) plans the windows once for the
whole image (:func:`poolcli.core.geometry.make_axes`), then pools each block's input region with
its slice of those windows through these functions, so every output cell is computed by the same
code, from the same cells, in the same order as by :func:`poolcli.core.pool.pool`.

Each kernel takes ``x3``, an ``(H, W, C)`` array (bools as 0/1 ``uint8``), the row and column
:class:`~poolcli.core.geometry.Axis`, and ``workers`` (threads); call it inside
:func:`quiet_floats`.
"""

from poolcli.core.bands import quiet_floats
from poolcli.core.gather import order_stat
from poolcli.core.lp import exact_abs, lp
from poolcli.core.order import NETWORK_MAX_TAPS, network
from poolcli.core.pool import DTYPES, check_input, result_dtype
from poolcli.core.separable import _sum_dtype as sum_dtype
from poolcli.core.separable import extreme, int64_sum, pow2_at_most, sum_avg

# The torch backend (:mod:`poolcli.backends.torch`) computes on tensors, so it takes the rules
# rather than the kernels: which sums need Python integers (sum_dtype), the float64 avg's scale
# (pow2_at_most), the median's sorting network (network, NETWORK_MAX_TAPS), the dtypes.
__all__ = [
    "DTYPES",
    "NETWORK_MAX_TAPS",
    "check_input",
    "exact_abs",
    "extreme",
    "int64_sum",
    "lp",
    "network",
    "order_stat",
    "pow2_at_most",
    "quiet_floats",
    "result_dtype",
    "sum_avg",
    "sum_dtype",
]
