"""Bands: the unit of work of the kernels, and the floating-point state they run in.

The image is processed in bands of output rows sized to stay in cache, spread over threads
(NumPy releases the GIL), so extra memory is the output plus a few bands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
        per_band = min(per_band, max(1, -(-rows.out // (2 * workers))))
    bands = [(lo, min(lo + per_band, rows.out)) for lo in range(0, rows.out, per_band)]
    if workers == 1 or len(bands) == 1:
        for lo, hi in bands:
            run(lo, hi)
        return

    # Each thread (the caller and workers - 1 helpers) takes the next band as it finishes one;
    # after an error (or Ctrl-C in the caller) no thread starts another.
    todo = iter(bands)
    lock = threading.Lock()
    failed = threading.Event()

    def drain() -> None:
        while not failed.is_set():
            with lock:
                band = next(todo, None)
            if band is None:
                return
            try:
                run(*band)
            except BaseException:
                failed.set()
                raise

    errors: list[BaseException] = []

    def helper() -> None:
        try:
            with quiet_floats():
                drain()
        except BaseException as err:  # noqa: BLE001 - raised in the caller below
            errors.append(err)

    helpers = start_helpers(workers - 1, helper)
    try:
        with quiet_floats():  # as the helpers' (the caller's own state is restored after)
            drain()  # this thread takes bands too
    finally:
        for t in helpers:
            t.join()
    if errors:
        raise errors[0]


def start_helpers(count: int, target: Callable[[], None]) -> list[threading.Thread]:
    """Start ``count`` threads running ``target``: a call's own, joined before it returns.

    Started per call, not kept in a pool: a process with no thread left over can still be forked
    safely (batch workers are forked), and starting one costs ~0.1 ms. What made threads slow
    before was one task per band and the caller only waiting (512x512 max on two threads: 2.1 ms
    then, 0.5 ms now, 0.27 on one).
    """
    threads = [threading.Thread(target=target, name="poolcli-band") for _ in range(count)]
    for t in threads:
        t.start()
    return threads


def quiet_floats() -> Any:
    """IEEE results (inf - inf is NaN, a float sum past the range is inf, log 0 is -inf)
    without warnings.

    NumPy's error state is per thread, so band workers enter it too.
    """
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")
