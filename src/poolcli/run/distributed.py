"""Jobs on a Dask ``distributed`` cluster (``--scheduler``): the address checked before
anything starts, the jobs submitted, their records as they finish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    pass
from poolcli.run.inputs import is_url

# --- Dask ---------------------------------------------------------------------------------------
from poolcli.run.job import Outcome, failed, run_job
from poolcli.run.plan import Job, PlanError
from poolcli.run.records import cause


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
        for job in jobs:
            # Workers have their own working folder: give them absolute paths.
            remote = replace(job, source=_absolute(job.source), target=_absolute(job.target))
            futures[client.submit(run_job, remote, 1, pure=False)] = job
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


def _absolute(path: str) -> str:
    return path if is_url(path) else os.path.abspath(path)
