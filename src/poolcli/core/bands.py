"""Bands: the unit of work of the kernels, and the floating-point state they run in.

The image is processed in bands of output rows sized to stay in cache, spread over threads
(NumPy releases the GIL), so extra memory is the output plus a few bands.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from poolcli.core.geometry import Axis

# Bytes of one band's row-reduced intermediate: small enough to stay in L2 while the column pass
# reads it back, large enough that per-band Python overhead stays small.
BAND_BYTES = 1 << 22


# --------------------------------------------------------------------------------------------
# Bands: the unit of work. ``run(lo, hi)`` computes output rows [lo, hi).


def for_bands(rows: Axis, row_bytes: int, workers: int, run: Callable[[int, int], None]) -> None:
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
        with quiet_floats():
            run(lo, hi)

    with ThreadPoolExecutor(max_workers=workers) as pool_:
        for future in [pool_.submit(quiet_run, lo, hi) for lo, hi in bands]:
            future.result()


def quiet_floats() -> Any:
    """IEEE results (inf - inf is NaN, a float sum past the range is inf, log 0 is -inf)
    without warnings.

    NumPy's error state is per thread, so band workers enter it too.
    """
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")
