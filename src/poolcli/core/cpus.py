"""The CPUs this process may really use: one budget for the whole run.

The budget is the number of CPUs this process may keep busy, which is often far less than
:func:`os.cpu_count` says (the host's CPUs):

* the **affinity** mask (``taskset``, a container's ``--cpuset-cpus``, a batch scheduler's
  allocation): :func:`os.sched_getaffinity`, where the platform has it;
* the **cgroup CPU quota** (``docker --cpus 2``, Kubernetes' CPU limits), cgroup v2's
  ``cpu.max`` (``quota period``, or ``max``) or v1's ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``, for the process's own cgroup and every cgroup above it; a quota of 2.5
  CPUs counts as 3 (the third CPU is busy half of the time);
* :func:`os.cpu_count` only where neither can be read.

``POOLCLI_THREADS=N`` (a whole number >= 1) replaces what is detected: the run then uses N
CPUs in all, even more than it seems to have (the user's decision).

:func:`poolcli.pool` uses it for its default thread count (:func:`threads_for`: fewer
threads for small arrays and cheap modes, where handing out bands costs more than it saves);
:mod:`poolcli.run.cpus` splits it between worker processes and their threads. Only the
standard library is used, so the array core may ask it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "BYTES_PER_THREAD",
    "ENV",
    "available",
    "budget",
    "cgroup_limit",
    "detect",
    "parse_override",
    "threads_for",
]

ENV = "POOLCLI_THREADS"
"""The environment variable that sets the budget (a whole number >= 1)."""

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


# Work (input bytes x the mode's cost, poolcli.core.modes.ModeInfo.cost: 1 for max) per extra
# pooling thread: about 2 ms of one core's work (max 2x2 of uint8 runs at ~3.4 GB/s), below which
# handing bands to another thread costs about what it saves. Measured on 2 cores with
# benchmarks/bench_threads.py (band threads kept between calls): 1024x1024 RGB (3 MiB) max 1.00 ms
# on one thread, 1.25 on two; avg 2.70 and 2.06; 2048x2048 (12 MiB) max 2.90 and 2.84.
BYTES_PER_THREAD = 6 << 20


def threads_for(nbytes: int, cap: int | None = None, cost: float = 1.0) -> int:
    """Threads worth using for ``nbytes`` of input pooled by a mode of relative ``cost``: one,
    and one more per :data:`BYTES_PER_THREAD` of work, at most ``cap`` (default: the
    :func:`budget`).

    >>> threads_for(3 << 20, 16), threads_for(3 << 20, 16, cost=3), threads_for(1 << 30, 8)
    (1, 2, 8)
    """
    limit = budget() if cap is None else cap
    return max(1, min(limit, 1 + int(nbytes * cost) // BYTES_PER_THREAD))


def budget(environ: Mapping[str, str] | None = None) -> int:
    """The run's CPU budget: ``POOLCLI_THREADS`` if set, else :func:`available`.

    Raises
    ------
    ValueError
        ``POOLCLI_THREADS`` is set but is not a whole number >= 1 (the message names it).

    >>> budget({"POOLCLI_THREADS": "3"})
    3
    """
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    return parse_override(value) if value else available()


def parse_override(value: str) -> int:
    """``POOLCLI_THREADS``'s value as a budget; ValueError naming the variable otherwise.

    >>> parse_override("4")
    4
    >>> parse_override("all")
    Traceback (most recent call last):
    ...
    ValueError: POOLCLI_THREADS: expected a whole number >= 1, got 'all'
    """
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV}: expected a whole number >= 1, got {value!r}")
    return n


@functools.cache
def available() -> int:
    """CPUs this process may keep busy: affinity and cgroup quota, else ``os.cpu_count()``.

    Computed once per process (the files under ``/sys/fs/cgroup`` are read once);
    :func:`detect` is the uncached form.
    """
    return detect()


def detect(
    cgroup_root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
    affinity: set[int] | None = None,
) -> int:
    """:func:`available`, with the places it reads made replaceable (for tests).

    ``affinity`` replaces :func:`os.sched_getaffinity`'s answer.
    """
    if affinity is None:
        affinity = _affinity()
    cpus = len(affinity) if affinity else (os.cpu_count() or 1)
    quota = cgroup_limit(cgroup_root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _affinity() -> set[int] | None:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # macOS, Windows
        return None


def cgroup_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPUs (a fraction) that cgroup quotas allow this process, or ``None`` for no limit.

    The process's cgroups come from ``proc_cgroup`` (``/proc/self/cgroup``); the limit is the
    smallest quota of its own cgroup and the cgroups above it, in cgroup v2 (``cpu.max``,
    mounted at ``root`` or, on hybrid systems, ``root/unified``) or v1 (the ``cpu``
    controller's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``). A path that is not there
    (a container sees its own cgroup as the root) falls back to the root's files.

    >>> cgroup_limit(Path("/nonexistent"), Path("/nonexistent")) is None
    True
    """
    limits = [q for q in (_read_quota(folder) for folder in _folders(root, proc_cgroup)) if q]
    return min(limits) if limits else None


def _folders(root: Path, proc_cgroup: Path) -> Iterator[Path]:
    """The cgroup folders whose quotas apply to this process (some may not exist)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    found = False
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            bases = [root, root / "unified"]
        elif "cpu" in controllers.split(","):
            bases = [root / controllers, root / "cpu"]
        else:
            continue
        found = True
        for base in bases:
            yield from _ancestors(base, path)
    if not found:  # no /proc (or nothing in it about CPUs): the usual places
        yield from (root, root / "cpu")


def _ancestors(base: Path, path: str) -> Iterator[Path]:
    """``base/a/b``, ``base/a``, ``base`` for the cgroup path ``/a/b``."""
    parts = [p for p in path.strip().split("/") if p and p not in (".", "..")]
    for n in range(len(parts), -1, -1):
        yield base.joinpath(*parts[:n])


def _read_quota(folder: Path) -> float | None:
    """The quota in CPUs set in this cgroup folder (v2 or v1), ``None`` for none or unreadable."""
    try:
        fields = (folder / "cpu.max").read_text().split()
    except OSError:
        fields = None
    if fields is not None:
        if len(fields) >= 1 and fields[0] != "max":
            period = fields[1] if len(fields) > 1 else "100000"
            return _ratio(fields[0], period)
        return None
    try:
        quota = (folder / "cpu.cfs_quota_us").read_text().strip()
        period = (folder / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None
