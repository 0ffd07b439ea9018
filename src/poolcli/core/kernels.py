"""The core's kernel interface: what a backend calls to pool one block of an image.

A backend that splits an image (:mod:`poolcli.backends.dask`) plans the windows once for the
whole image (:func:`poolcli.core.geometry.make_axes`), then pools each block's input region with
its slice of those windows through these functions, so every output cell is computed by the same
code, from the same cells, in the same order as by :func:`poolcli.core.pool.pool`.

:func:`pool_axes` pools one block as :func:`poolcli.core.pool.pool` pools a whole array: an array
of ``len(axes)`` spatial axes and at most one channel axis, with the block's windows (one
:class:`~poolcli.core.geometry.Axis` per spatial axis), whatever its mode. The kernels under it
take ``x3``, a ``(*spatial, C)`` array of two or more spatial axes (bools as 0/1 ``uint8``; a
signal as an image one cell wide), the axes, and ``workers`` (threads); call them inside
:func:`quiet_floats`. :func:`spatial_ndim` and :func:`check_input` validate as ``pool`` does.
"""

from poolcli.core.bands import quiet_floats
from poolcli.core.gather import order_stat
from poolcli.core.lp import exact_abs, lp
from poolcli.core.lp import exact_cell as lp_exact_cell
from poolcli.core.lp import near_halves as lp_near_halves
from poolcli.core.order import NETWORK_MAX_TAPS, network
from poolcli.core.pool import DTYPES, check_input, pool_axes, result_dtype, spatial_ndim
from poolcli.core.separable import _sum_dtype as sum_dtype
from poolcli.core.separable import extreme, int64_sum, pow2_at_most, sum_avg

# The torch backend (:mod:`poolcli.backends.torch`) computes on tensors, so it takes the rules
# rather than the kernels: which sums need Python integers (sum_dtype), the float64 avg's scale
# (pow2_at_most), the median's sorting network (network, NETWORK_MAX_TAPS), the dtypes, and
# which integer lp results float64 cannot round (lp_near_halves) and their exact value
# (lp_exact_cell).
__all__ = [
    "DTYPES",
    "NETWORK_MAX_TAPS",
    "check_input",
    "exact_abs",
    "extreme",
    "int64_sum",
    "lp",
    "lp_exact_cell",
    "lp_near_halves",
    "network",
    "order_stat",
    "pool_axes",
    "pow2_at_most",
    "quiet_floats",
    "result_dtype",
    "spatial_ndim",
    "sum_avg",
    "sum_dtype",
]
