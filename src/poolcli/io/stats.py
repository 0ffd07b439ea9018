"""Per-channel statistics (``poolcli stats``): max, min, mean, median and std of every channel,
in float64, NaN-aware.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from poolcli.core.pool import pool
from poolcli.errors import UnsupportedError

# --------------------------------------------------------------------------- statistics


def _stats_array(image: Image.Image) -> tuple[np.ndarray, tuple[str, ...]]:
    """The array statistics are taken on, and its channel names."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "PA":
        image = image.convert("RGBA")
    array = np.asarray(image)
    if array.dtype.byteorder == ">":  # I;16B
        array = array.astype(array.dtype.newbyteorder("="))
    return array, tuple(image.getbands())


def channel_stats(
    image: Image.Image | np.ndarray, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Global pooling per channel: ``max``, ``min``, ``mean``, ``median``, ``std``.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        An image (a ``P`` image is measured on its RGB(A) colours, alpha as stored, not
        premultiplied) or an ``(H, W)`` / ``(H, W, C)`` array of a dtype :func:`poolcli.pool`
        takes.
    names : sequence of str, optional
        Channel names; by default the image's bands (``R``, ``G``, ``B``, ``A``, ``L``, ``I``,
        ``F``, ...) or ``"0"``, ``"1"``, ... for an array.

    Returns
    -------
    list of dict
        One per channel: ``channel`` (name), ``min`` and ``max`` (global min/max pooling; int for
        integer and bool data, float for float data), ``mean`` (exact: global sum pooling, in
        int64 for integer data, divided by the pixel count with Python's correctly rounded
        division — not the rounded integer ``avg``), ``median`` (global median pooling of the
        values as float64, so an even count gives the exact midpoint) and ``std`` (population
        standard deviation, ``numpy.std`` in float64), all Python numbers. NaN anywhere in a
        float channel makes every statistic of that channel NaN.

    Examples
    --------
    >>> import numpy as np
    >>> channel_stats(np.array([[1, 2], [3, 4]], np.uint8))  # doctest: +NORMALIZE_WHITESPACE
    [{'channel': '0', 'min': 1, 'max': 4, 'mean': 2.5, 'median': 2.5,
      'std': 1.118033988749895}]
    """
    if isinstance(image, Image.Image):
        array, bands = _stats_array(image)
    else:
        array = np.asarray(image)
        bands = tuple(str(i) for i in range(array.shape[2] if array.ndim == 3 else 1))
    if array.ndim not in (2, 3):
        raise UnsupportedError(f"expected an (H, W) or (H, W, C) array, got shape {array.shape}")
    planes = array if array.ndim == 3 else array[:, :, None]
    names = tuple(names) if names is not None else bands
    if len(names) != planes.shape[2]:
        raise UnsupportedError(f"{len(names)} channel names for {planes.shape[2]} channels")
    count = planes.shape[0] * planes.shape[1]

    def scalar(value: np.ndarray) -> int | float:
        item = value.reshape(-1)[0].item()
        return int(item) if isinstance(item, bool) else item

    stats = []
    for c, name in enumerate(names):
        plane = planes[:, :, c]
        if plane.dtype == np.bool_:
            # Pillow's "1" arrays store True as byte 255; astype makes it 1 before any sum.
            plane = plane.astype(np.uint8)
        total = scalar(pool(plane, "sum", output_size=1))
        stats.append(
            {
                "channel": name,
                "min": scalar(pool(plane, "min", output_size=1)),
                "max": scalar(pool(plane, "max", output_size=1)),
                "mean": total / count,
                "median": float(scalar(pool(plane.astype(np.float64), "median", output_size=1))),
                "std": float(np.std(plane, dtype=np.float64)),
            }
        )
    return stats
