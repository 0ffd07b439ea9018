"""Running many jobs: :func:`run` here, in worker processes or on a Dask cluster, and stopping
them cleanly (:func:`terminate_on_sigterm`, :class:`Terminated`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from poolcli.run.distributed import run_dask
from poolcli.run.job import Outcome, failed, run_job
from poolcli.run.plan import Job, remove_stale_temps
from poolcli.run.records import PoolRecord

if TYPE_CHECKING:
    from concurrent.futures import Future
    from multiprocessing.connection import Connection

# SIGTERM's conventional exit status: 128 + signal number.
_TERM_STATUS = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM (see :func:`terminate_on_sigterm`).

    A :class:`SystemExit`, so an unhandled one ends the process with status 143 and no traceback,
    after every ``finally`` and ``with`` block on the way has run.
    """

    def __init__(self) -> None:
        super().__init__(_TERM_STATUS)


# --- running many jobs ----------------------------------------------------------------------------


def run(
    jobs: Sequence[Job],
    *,
    workers: int = 1,
    threads: int | None = None,
    scheduler: str | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Outcome]:
    """Run ``jobs``, yielding ``(job, record)`` as each one finishes (not in order).

    Parameters
    ----------
    jobs : sequence of Job
    workers : int
        Processes to pool in. 1 (or a single job) runs here, in this process.
    threads : int, optional
        Pooling threads when the jobs run here (default: the core's own); worker processes pool
        on one thread each.
    scheduler : str, optional
        Address of a Dask ``distributed`` scheduler (``tcp://host:8786``): the jobs run on its
        workers, which must reach the inputs and outputs by the same paths (absolute paths are
        sent) or URLs. ``workers`` is then the cluster's business.
    preload : sequence of str
        More modules for worker processes to import once, before they are forked: those the
        main script imports (a worker imports the main script again, as ``__mp_main__``).

    Yields
    ------
    (Job, PoolRecord)

    Raises
    ------
    ImportError
        ``scheduler`` without ``distributed`` installed.
    OSError
        The scheduler cannot be reached.

    Notes
    -----
    Worker processes start when ``run`` is called, before the first outcome is asked for. Close
    the iterator (``contextlib.closing``) to stop early: jobs not started are cancelled,
    worker processes are stopped with SIGTERM and remove the file they were writing. When a
    worker process dies (killed, out of memory) the pool cannot go on: every job not finished
    yet gets an error record that says so.
    """
    if scheduler is not None:
        return run_dask(jobs, scheduler)
    if workers <= 1 or len(jobs) <= 1:
        return _run_here(jobs, threads)
    results = _run_processes(jobs, min(workers, len(jobs)), [*_PRELOAD, *preload])
    # Its first step starts the processes now, not at the first result: a caller that starts a
    # thread meanwhile (a progress bar) does not keep them from being forked, and closing the
    # iterator at any point stops them.
    next(results)
    return cast(Iterator[Outcome], results)


# Work a worker process should have before it is worth starting: about a third of a second of
# decoding, pooling and encoding PNG on one core (benchmarks/bench_batch.py), its start-up cost.
PARALLEL_MIN_BYTES = 16 << 20


def workers_for(jobs: Sequence[Job], cores: int) -> int:
    """How many processes to pool ``jobs`` in, with ``cores`` to use: one per core, but only as
    many as have :data:`PARALLEL_MIN_BYTES` of input each (unknown sizes count as large).

    >>> from dataclasses import replace
    >>> from poolcli.run.plan import Recipe
    >>> small = [Job("a.png", "b.png", Recipe("max"), size=1000)] * 40
    >>> workers_for(small, 8), workers_for([replace(j, size=None) for j in small], 8)
    (1, 8)
    """
    if any(job.size is None for job in jobs):
        return max(1, min(cores, len(jobs)))
    total = sum(job.size or 0 for job in jobs)
    return max(1, min(cores, len(jobs), total // PARALLEL_MIN_BYTES))


def _run_here(jobs: Sequence[Job], threads: int | None) -> Iterator[Outcome]:
    for i, job in enumerate(jobs):
        yield job, run_job(job, threads, then=jobs[i + 1] if i + 1 < len(jobs) else None)


def start_worker_server(preload: Sequence[str] = ()) -> None:
    """Start the process that worker processes are forked from now, so that its start-up (a
    third of a second: Python, NumPy, Pillow) overlaps with the caller's own work.

    Optional: :func:`run` starts it when it is not running. Nothing happens where the workers
    are forked from this process itself (Linux, no other thread running), where there is no
    ``forkserver`` start method (Windows), or when the server runs already.
    """
    context = _context([*_PRELOAD, *preload])
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _context(preload: list[str]) -> Any:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and "fork" in methods and threading.active_count() == 1:
        # A fork copies only the calling thread: with no other thread there is no lock another
        # thread could hold. The workers start with what this process has imported.
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        # Workers are forked from one server that has imported these once, instead of each
        # starting Python and importing NumPy and Pillow (a third of a second, per worker).
        # A server already running keeps what it has.
        context.set_forkserver_preload(preload)
    return context


def _start_processes(workers: int, preload: list[str]) -> tuple[Any, tuple[Connection, ...]]:
    from concurrent.futures import ProcessPoolExecutor

    context = _context(preload)
    # The workers hold the reading end; when this process dies, even by SIGKILL, they read EOF.
    # They close their copy of the writing end (a forked worker inherits it).
    lifeline = context.Pipe(duplex=False)
    executor = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=lifeline
    )
    executor.submit(int)  # starts the processes (all of them, when forking)
    return executor, lifeline


def _run_processes(
    jobs: Sequence[Job], workers: int, preload: list[str]
) -> Iterator[Outcome | None]:
    """The jobs' outcomes as they finish, after one ``None`` once the processes have started."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    executor, lifeline = _start_processes(workers, preload)
    pending: dict[Future[PoolRecord], Job] = {}
    queue = iter(jobs)
    broken = clean = False
    try:
        yield None
        while True:
            # Only a few jobs queued ahead, so stopping early leaves little to cancel.
            while not broken and len(pending) < 2 * workers and (job := next(queue, None)):
                try:
                    pending[executor.submit(_work, job)] = job
                except BrokenProcessPool:
                    broken = True
                    yield job, failed(job, "not started: a worker process died")
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    broken = True
                    record = failed(job, "a worker process died (killed, or out of memory)")
                yield job, record
        for job in queue:  # left when the pool broke: nothing more can start in it
            yield job, failed(job, "not started: a worker process died")
        clean = True
    finally:
        if clean:
            executor.shutdown(wait=True)
        else:
            _stop_workers(executor)
            # The workers remove what they were writing; a signal between creating the
            # temporary file and guarding it can still leave one: the workers are gone now.
            remove_stale_temps(job.target for job in pending.values())
        for end in lifeline:
            end.close()


_PRELOAD = ["poolcli.run.workers", "poolcli.io.reading", "poolcli.io.pooling", "poolcli.io.writing"]


def _stop_workers(executor: Any) -> None:
    """Cancel what has not started; SIGTERM the workers, which unwind the file they write."""
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():  # stuck in a C call that never returns: nothing left to save
            process.kill()
            process.join()


# In a worker process: ------------------------------------------------------------------------

_busy = False


def _init_worker(lifeline: Connection, parent_end: Connection) -> None:
    # Ctrl-C reaches the whole process group; the parent decides and sends SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    parent_end.close()  # else this worker itself would keep the pipe open after the parent dies
    threading.Thread(target=_watch_parent, args=(lifeline,), daemon=True).start()


def _on_sigterm(signum: int, frame: Any) -> None:
    # Once: a second SIGTERM (the pool sends one to every worker when it sees one die) must not
    # interrupt the unwinding that removes the temporary file.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _busy:
        raise Terminated()  # unwinds the job: a file being written is removed; _work exits
    os._exit(_TERM_STATUS)  # between jobs: nothing of ours to clean up


def _watch_parent(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()  # nothing is ever sent: this returns when the parent is gone
    os.kill(os.getpid(), signal.SIGTERM)


def _work(job: Job) -> PoolRecord:
    """:func:`run_job` in a worker process, on one thread (the other workers have the rest)."""
    global _busy
    try:
        _busy = True
        record = run_job(job, threads=1)
        _busy = False
        return record
    except Terminated:
        # The file being written has been removed on the way out. Leave now: the pool would
        # take the exception for the job's result and hand this worker another job.
        os._exit(_TERM_STATUS)


# --- signals ------------------------------------------------------------------------------------


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    So a ``kill`` unwinds like Ctrl-C: :func:`run`'s iterator stops its workers, an atomic write
    removes its temporary file, and the process exits with status 143. Does nothing outside the
    main thread (signal handlers live there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def cpu_count() -> int:
    """CPUs this process may run on (a container's or ``taskset``'s limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
