"""Splitting the CPU budget between worker processes and their threads."""

import pytest

from poolcli.run import cpus


@pytest.mark.parametrize("total", [1, 2, 3, 7, 16, 64])
@pytest.mark.parametrize("jobs", [None, 1, 2, 3, 5, 16])
@pytest.mark.parametrize("tasks", [None, 0, 1, 4, 1000])
def test_jobs_times_threads_never_exceeds_the_budget(
    total: int, jobs: int | None, tasks: int | None
) -> None:
    s = cpus.share(total, jobs, tasks)
    assert s.jobs >= 1 and s.threads >= 1
    if tasks is not None:
        assert s.jobs <= max(tasks, 1)
    if jobs is None:
        assert s.jobs <= total
    else:
        assert s.jobs <= jobs
    if s.jobs <= total:
        assert s.jobs * s.threads <= total
        assert (s.jobs * (s.threads + 1)) > total  # and no CPU of the budget is left over a whole
    else:  # the user asked for more processes than CPUs: one thread each
        assert s.threads == 1


def test_one_task_gets_every_thread() -> None:
    assert cpus.share(16, tasks=1) == cpus.Share(1, 16)
    assert cpus.share(16, jobs=4, tasks=1) == cpus.Share(1, 16)


@pytest.mark.parametrize(("total", "jobs"), [(0, None), (-1, 2), (4, 0), (4, -3)])
def test_share_refuses_nonsense(total: int, jobs: int | None) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        cpus.share(total, jobs)
