"""Running many jobs: :func:`run` here, in worker processes or on a Dask cluster, and stopping
them cleanly (:func:`terminate_on_sigterm`, :class:`Terminated`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from poolcli.run.cpus import Share, share
from poolcli.run.distributed import run_dask
from poolcli.run.inputs import is_url
from poolcli.run.job import Outcome, commit_key, failed, run_job, settle
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
        Threads of each process (this one, or each worker process): pooling, PNG deflate, and
        reading the next file ahead when there are two or more (default: the CPU budget here,
        one in each worker process). :func:`plan_workers` gives both numbers from the budget.
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
        return run_here(jobs, threads)
    results = _run_processes(jobs, min(workers, len(jobs)), threads or 1, [*_PRELOAD, *preload])
    # Its first step starts the processes now, not at the first result: a caller that starts a
    # thread meanwhile (a progress bar) does not keep them from being forked, and closing the
    # iterator at any point stops them.
    next(results)
    return cast(Iterator[Outcome], results)


# Decoded pixels a worker process should have before it is worth starting: its start (a fork,
# and the imports of the first file it reads: ~20 ms) is the work of about 4 million pixels
# (JPEG: decode, pool, encode; ~5 ms per 1024x1024 image on one core).
PARALLEL_MIN_PIXELS = 4 << 20
# Files whose headers are read to estimate the pixels of a run.
_SAMPLE = 8


def plan_workers(jobs: Sequence[Job], budget: int, asked: int | None = None) -> Share:
    """Worker processes and threads for ``jobs`` with ``budget`` CPUs (see
    :func:`poolcli.run.cpus.share`); ``asked`` is the user's ``-j``.

    An explicit count is kept (never more processes than jobs; a single job gets ``asked``
    threads). The default is one process per CPU of the budget, but only as many as have
    :data:`PARALLEL_MIN_PIXELS` decoded pixels each, estimated from the headers of a few
    files (unreadable ones and URLs count as large): a few small files are pooled here.

    >>> from poolcli.run.plan import Recipe
    >>> plan_workers([Job("a.png", "b.png", Recipe("max"))] * 40, 8, asked=3)
    Share(jobs=3, threads=2)
    >>> plan_workers([Job("a.png", "b.png", Recipe("max"))], 8, asked=3)
    Share(jobs=1, threads=3)
    """
    if asked is not None and len(jobs) <= 1:
        return Share(1, asked)
    split = share(budget, asked, tasks=len(jobs))
    if asked is None and split.jobs > 1:
        pixels = _estimated_pixels(jobs)
        if pixels is not None:
            split = share(budget, max(1, min(split.jobs, pixels // PARALLEL_MIN_PIXELS)))
    return split


def _estimated_pixels(jobs: Sequence[Job]) -> int | None:
    """Decoded pixels of all ``jobs`` (first frames), from the headers of a few spread over
    the run; ``None`` when one cannot be read that way (a URL, not an image, too large)."""
    import warnings

    from PIL import Image

    step = max(1, len(jobs) // _SAMPLE)
    picks = jobs[::step][:_SAMPLE]
    total = 0
    for job in picks:
        if is_url(job.source):
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a decompression-bomb warning: large, then
                with Image.open(job.source) as im:
                    width, height = im.size
        except (OSError, ValueError, Image.DecompressionBombError):
            return None
        total += width * height
    return total * len(jobs) // max(len(picks), 1)


def run_here(jobs: Sequence[Job], threads: int | None = None) -> Iterator[Outcome]:
    """Run ``jobs`` one after the other in this process, yielding ``(job, record)`` in order.

    With two threads or more, the next file is read and decoded ahead (:mod:`poolcli.io.ahead`)
    while one is pooled and written. Each output's ``fsync`` and rename run on a thread of their
    own (:mod:`poolcli.io.commits`): the next job starts while the disk catches up, and a job's
    record comes once its output is in place. Closing the iterator early drops the commits that
    have not started (their temporary files are removed).
    """
    from poolcli.io.commits import Commits

    read_ahead = threads is None or threads >= 2
    with Commits() as commits:
        waiting: deque[tuple[Job, PoolRecord]] = deque()
        for i, job in enumerate(jobs):
            then = jobs[i + 1] if read_ahead and i + 1 < len(jobs) else None
            waiting.append((job, run_job(job, threads, then=then, commits=commits)))
            while waiting and commits.done(commit_key(waiting[0][0])):
                done, record = waiting.popleft()
                yield done, settle(done, record, commits)
        while waiting:
            done, record = waiting.popleft()
            yield done, settle(done, record, commits)


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


# Most jobs handed to a worker process at once.
CHUNK_MAX = 8


def chunks(jobs: Sequence[Job], workers: int) -> Iterator[list[Job]]:
    """``jobs`` in the pieces handed to ``workers`` processes: each a few files, fewer as the
    run nears its end (a quarter of what is left per worker, at most :data:`CHUNK_MAX`), so
    every handover carries several files but the workers finish together.

    >>> from poolcli.run.plan import Recipe
    >>> [len(c) for c in chunks([Job("a", "b", Recipe("max"))] * 40, 2)]
    [5, 4, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    i = 0
    while i < len(jobs):
        size = max(1, min(CHUNK_MAX, (len(jobs) - i) // (4 * workers)))
        yield list(jobs[i : i + size])
        i += size


def _run_processes(
    jobs: Sequence[Job], workers: int, threads: int, preload: list[str]
) -> Iterator[Outcome | None]:
    """The jobs' outcomes as they finish, after one ``None`` once the processes have started.

    Jobs go to the workers a few at a time (:func:`chunks`): one round trip through the pool's
    pipes and threads costs the parent ~0.7 ms, a tenth of the work of a 1024x1024 JPEG, and a
    worker running several files overlaps each one's ``fsync`` with the next file's work.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    executor, lifeline = _start_processes(workers, preload)
    pending: dict[Future[list[PoolRecord]], list[Job]] = {}
    queue = chunks(jobs, workers)
    broken = clean = False
    try:
        yield None
        while True:
            # Only a few chunks queued ahead: bounded memory, and little to cancel when stopped.
            while not broken and len(pending) < 2 * workers and (chunk := next(queue, None)):
                try:
                    pending[executor.submit(_work, chunk, threads)] = chunk
                except BrokenProcessPool:
                    broken = True
                    for job in chunk:
                        yield job, failed(job, "not started: a worker process died")
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                chunk = pending.pop(future)
                try:
                    records = future.result()
                except BrokenProcessPool:
                    broken = True
                    why = "a worker process died (killed, or out of memory)"
                    records = [failed(job, why) for job in chunk]
                yield from zip(chunk, records, strict=True)
        for chunk in queue:  # left when the pool broke: nothing more can start in it
            for job in chunk:
                yield job, failed(job, "not started: a worker process died")
        clean = True
    finally:
        if clean:
            executor.shutdown(wait=True)
        else:
            _stop_workers(executor)
            # The workers remove what they were writing; a signal between creating the
            # temporary file and guarding it can still leave one: the workers are gone now.
            remove_stale_temps(job.target for chunk in pending.values() for job in chunk)
        for end in lifeline:
            end.close()


_PRELOAD = ["poolcli.run.workers", "poolcli.io.reading", "poolcli.io.pooling", "poolcli.io.writing"]


def _stop_workers(executor: Any) -> None:
    """Cancel what has not started; SIGTERM the workers, which unwind the file they write."""
    processes = list(getattr(executor, "_processes", {}).values())
    manager = getattr(executor, "_executor_manager_thread", None)  # shutdown forgets it
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():  # stuck in a C call that never returns: nothing left to save
            process.kill()
            process.join()
    # The pool's manager thread ends once it sees its processes gone; wait for it, so that
    # nothing of this run is left running (a later fork, the script's prompt exit).
    if manager is not None:
        manager.join(timeout=10)


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


def _work(jobs: list[Job], threads: int) -> list[PoolRecord]:
    """:func:`run_here` in a worker process, on its share of the CPU budget."""
    global _busy
    try:
        _busy = True
        records = [record for _, record in run_here(jobs, threads)]
        _busy = False
        return records
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
