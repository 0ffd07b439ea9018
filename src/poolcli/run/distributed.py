"""Jobs on a Dask ``distributed`` cluster (``--scheduler``): the address checked before
anything starts, the jobs submitted, their records as they finish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from poolcli.run.inputs import is_url

# --- Dask ---------------------------------------------------------------------------------------
from poolcli.run.job import Outcome, failed, run_job
from poolcli.run.plan import Job, PlanError
from poolcli.run.records import PoolRecord, cause


def check_scheduler(address: str) -> None:
    """Check that ``address`` is a Dask scheduler address (``tcp://host:8786``, ``host:8786``),
    without connecting.

    Raises
    ------
    ImportError
        Dask's ``distributed`` is not installed.
    PlanError
        Not an address.
    """
    try:
        from distributed.comm import parse_address
        from distributed.comm.registry import get_backend
    except ImportError:
        raise ImportError("needs Dask's distributed: pip install 'poolcli[dask]'") from None
    try:
        get_backend(parse_address(address)[0])
    except ValueError as err:
        raise PlanError(f"{address}: {cause(err, address)}") from None


def run_dask(jobs: Sequence[Job], address: str) -> Iterator[Outcome]:
    from distributed import Client

    check_scheduler(address)
    # Connect now, so a wrong address is an error of run() itself, not of its first result.
    client = Client(address, set_as_default=False)
    return _dask_results(client, jobs)


def _dask_results(client: Any, jobs: Sequence[Job]) -> Iterator[Outcome]:
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    futures: dict[Any, Job] = {}
    clean = False
    try:
        hosts = host_threads(client.scheduler_info())
        for job in jobs:
            # Workers have their own working folder: give them absolute paths.
            remote = replace(job, source=_absolute(job.source), target=_absolute(job.target))
            futures[client.submit(dask_job, remote, hosts, pure=False)] = job
        for future in as_completed(futures, loop=client.loop):
            job = futures[future]
            try:
                record = future.result()
            except KilledWorker:
                record = failed(job, "the Dask worker running it died (killed, or out of memory)")
            except FutureCancelledError:
                record = failed(job, "cancelled on the cluster")
            yield job, record
        clean = True
    finally:
        if not clean:
            client.cancel(list(futures))
        client.close()


def host_threads(info: Mapping[str, Any]) -> dict[str, int]:
    """Task threads of all the cluster's workers on each host, from ``Client.scheduler_info()``.

    >>> host_threads({"workers": {"tcp://a:1": {"host": "a", "nthreads": 2},
    ...                           "tcp://a:2": {"host": "a", "nthreads": 2},
    ...                           "tcp://b:1": {"host": "b", "nthreads": 1}}})
    {'a': 4, 'b': 1}
    """
    totals: dict[str, int] = {}
    for worker in info.get("workers", {}).values():
        host = str(worker.get("host"))
        totals[host] = totals.get(host, 0) + max(1, int(worker.get("nthreads") or 1))
    return totals


def dask_job(job: Job, hosts: Mapping[str, int] | None = None) -> PoolRecord:
    """:func:`run_job` on a Dask worker, with its share of its machine's CPUs.

    A worker runs as many tasks at once as it has threads (``--nthreads``), and a machine may
    run several workers (``--nworkers``): each task gets the machine's CPU budget
    (:func:`poolcli.core.cpus.budget`, read on the worker) divided by the task threads of all
    the workers on that host (``hosts``, from the scheduler when the jobs were submitted; this
    worker's own threads for a host that joined later). ``dask worker --nthreads 1`` on a
    16-CPU machine thus pools each file on 16 threads, ``--nthreads 16`` on one each.
    """
    from poolcli.core.cpus import budget

    try:
        from distributed import get_worker
        from distributed.comm import get_address_host

        worker = get_worker()
        here = get_address_host(worker.address)
        tasks = (hosts or {}).get(here) or worker.state.nthreads
        threads = max(1, budget() // max(1, tasks))
    except (ImportError, ValueError, AttributeError):  # not on a worker; a bad POOLCLI_THREADS
        threads = 1
    return run_job(job, threads)


def _absolute(path: str) -> str:
    return path if is_url(path) else os.path.abspath(path)
