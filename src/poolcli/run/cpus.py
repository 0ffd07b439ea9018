"""One CPU budget for a whole run, split between worker processes and their threads.

The budget (:func:`budget`: affinity, cgroup quota, ``POOLCLI_THREADS``) is detected in
:mod:`poolcli.core.cpus`, where the array core can ask it too; this module says how a run
shares it. A run of many files gets ``jobs`` worker processes, each with ``threads`` threads
for pooling, PNG deflate and reading the next file ahead, so that ``jobs * threads`` never
exceeds the budget (unless the user asks for more processes than the budget: then one thread
each). Running N processes that each start one thread per CPU would run N x N threads on N
CPUs: every thread then waits for a CPU, and the caches are shared by more threads than they
fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from poolcli.core.cpus import ENV, available, budget, parse_override, threads_for

__all__ = ["ENV", "Share", "available", "budget", "parse_override", "share", "threads_for"]


@dataclass(frozen=True)
class Share:
    """How a budget is split: ``jobs`` processes (1: in this process) of ``threads`` each."""

    jobs: int
    threads: int


def share(total: int, jobs: int | None = None, tasks: int | None = None) -> Share:
    """Split ``total`` CPUs between ``jobs`` worker processes and each one's threads.

    Parameters
    ----------
    total : int
        The budget (:func:`budget`), >= 1.
    jobs : int, optional
        Processes the user asked for (``-j``); default: one per CPU of the budget. An explicit
        count is kept even above the budget (each process then gets one thread).
    tasks : int, optional
        How many independent pieces of work there are (files): never more processes than that.

    Returns
    -------
    Share
        ``threads = total // jobs`` (at least 1), so ``jobs * threads <= total`` whenever
        ``jobs <= total``.

    Raises
    ------
    ValueError
        ``total`` or ``jobs`` below 1.

    Examples
    --------
    >>> share(16), share(16, jobs=4), share(16, jobs=3)
    (Share(jobs=16, threads=1), Share(jobs=4, threads=4), Share(jobs=3, threads=5))
    >>> share(16, tasks=1)
    Share(jobs=1, threads=16)
    >>> share(2, jobs=8, tasks=5)
    Share(jobs=5, threads=1)
    """
    if total < 1:
        raise ValueError(f"a CPU budget must be >= 1, got {total}")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    n = total if jobs is None else jobs
    if tasks is not None:
        n = min(n, max(tasks, 1))
    return Share(n, max(1, total // n))
