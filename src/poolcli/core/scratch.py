"""Band-sized scratch arrays, reused from one band to the next.

On this kind of machine a fresh band-sized array costs more than the arithmetic done in it: every
page is faulted in on first touch, and the allocator hands large blocks back to the system when
they are freed. Each pooling call keeps a few buffers per thread and recycles them instead.
"""

from __future__ import annotations

import threading

import numpy as np


class Scratch:
    """Free lists of arrays by (thread, shape, dtype), for the length of one pooling call."""

    def __init__(self) -> None:
        self._free: dict[tuple[int, tuple[int, ...], str], list[np.ndarray]] = {}

    def get(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, recycled when one is free."""
        key = (threading.get_ident(), tuple(shape), np.dtype(dtype).str)
        free = self._free.get(key)
        return free.pop() if free else np.empty(shape, dtype)

    def put(self, *arrays: np.ndarray | None) -> None:
        """Give arrays back once nothing refers to them any more."""
        me = threading.get_ident()
        for a in arrays:
            if a is not None and a.flags.owndata:
                self._free.setdefault((me, a.shape, a.dtype.str), []).append(a)
