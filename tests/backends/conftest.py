"""Fixtures of the backend tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def no_dask_threads_left() -> Iterator[None]:
    """Shut Dask's threaded scheduler down after each module: its pool of threads would outlive
    these tests, and later tests (tests/io/test_ahead.py, tests/run/test_batch.py) check that the
    process runs no other thread."""
    yield
    import dask.threaded

    pool, dask.threaded.default_pool = dask.threaded.default_pool, None
    if pool is not None:
        pool.shutdown(wait=True)
