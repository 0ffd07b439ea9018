"""Band threads: results equal to one thread's, none left over, errors reach the caller."""

import threading
import time

import numpy as np
import pytest

import poolcli
from poolcli.core import bands

MODES = ["max", "avg", "sum", "median", "mode", "lp"]


@pytest.mark.parametrize("mode", MODES)
def test_threaded_bands_equal_one_thread(mode: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 7, (203, 151, 3), dtype=np.uint8)  # odd sizes: a short last band
    one = poolcli.pool(x, mode, 3, 2, threads=1)
    for threads in (2, 3, 7):
        np.testing.assert_array_equal(
            poolcli.pool(x, mode, 3, 2, threads=threads), one, strict=True
        )


def test_no_thread_is_left_after_a_call() -> None:
    # Batch workers are forked from a process that may have pooled: it must have no threads.
    before = threading.active_count()
    x = np.arange(400 * 300, dtype=np.float64).reshape(400, 300)
    poolcli.pool(x, "max", 2, threads=3)
    assert threading.active_count() == before


def test_concurrent_callers_each_get_their_bands() -> None:
    rng = np.random.default_rng(2)
    xs = [rng.random((300 + i, 200)) for i in range(6)]
    want = [poolcli.pool(x, "median", 3, threads=1) for x in xs]
    got: list[np.ndarray | None] = [None] * len(xs)

    def one(i: int) -> None:
        got[i] = poolcli.pool(xs[i], "median", 3, threads=4)

    callers = [threading.Thread(target=one, args=(i,)) for i in range(len(xs))]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w, strict=True)


def test_an_error_in_a_band_reaches_the_caller() -> None:
    from poolcli.core.geometry import make_axes

    rows = make_axes((64,), 1, 1, 0, 1, False, None)[0]
    ran: list[int] = []

    def run(lo: int, hi: int) -> None:
        ran.append(lo)
        if lo == 0:  # the caller's first band
            time.sleep(0.05)
            raise RuntimeError("band failed")
        time.sleep(0.2)  # the helpers' bands end after the failure

    with pytest.raises(RuntimeError, match="band failed"):
        bands.for_bands(rows, 1 << 20, 3, run)
    # Sixteen bands of 4 rows; each of the three threads ran one, none started another.
    assert len(ran) == 3 and 0 in ran
