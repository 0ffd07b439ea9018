"""The CPU budget: affinity, cgroup v1/v2 quotas (faked under tmp_path), the override."""

import os
from pathlib import Path

import pytest

from poolcli.core import cpus
from poolcli.core.modes import MODES


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cgroup"


def detect(root: Path, membership: str | None, affinity: set[int] | None) -> int:
    proc = root.parent / "proc_self_cgroup"
    if membership is not None:
        write(proc, membership)
    return cpus.detect(root, proc, affinity)


# --- cgroup v2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("200000 100000\n", 2),  # docker --cpus 2
        ("250000 100000\n", 3),  # 2.5 CPUs: the third is busy half the time
        ("50000 100000\n", 1),  # half a CPU: still one
        ("max 100000\n", 8),  # no quota: the affinity
        ("100000\n", 1),  # no period written: the kernel's default, 100000
    ],
)
def test_v2_quota_rounds_up_and_caps_the_affinity(root: Path, cpu_max: str, expected: int) -> None:
    write(root / "cpu.max", cpu_max)
    assert detect(root, "0::/\n", set(range(8))) == expected


def test_v2_nested_cgroups_take_the_smallest_quota(root: Path) -> None:
    write(root / "cpu.max", "max 100000")
    write(root / "kubepods" / "cpu.max", "300000 100000")
    write(root / "kubepods" / "pod1" / "cpu.max", "600000 100000")
    assert detect(root, "0::/kubepods/pod1\n", set(range(64))) == 3
    assert cpus.cgroup_limit(root, root.parent / "proc_self_cgroup") == pytest.approx(3.0)


def test_v2_path_missing_in_the_container_falls_back_to_the_root(root: Path) -> None:
    # /proc/self/cgroup names the host's path, which this mount namespace does not have
    write(root / "cpu.max", "400000 100000")
    assert detect(root, "0::/system.slice/docker-abc.scope\n", set(range(16))) == 4


def test_hybrid_hierarchy_reads_unified(root: Path) -> None:
    write(root / "unified" / "cpu.max", "150000 100000")
    membership = "1:cpu:/\n0::/\n"
    assert detect(root, membership, set(range(4))) == 2


# --- cgroup v1 --------------------------------------------------------------------------------


def test_v1_quota(root: Path) -> None:
    write(root / "cpu,cpuacct" / "docker" / "cpu.cfs_quota_us", "150000\n")
    write(root / "cpu,cpuacct" / "docker" / "cpu.cfs_period_us", "100000\n")
    membership = "4:memory:/docker\n2:cpu,cpuacct:/docker\n"
    assert detect(root, membership, set(range(32))) == 2


def test_v1_no_quota_is_minus_one(root: Path) -> None:
    write(root / "cpu" / "cpu.cfs_quota_us", "-1\n")
    write(root / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert detect(root, "1:cpu:/\n", {0, 1, 2}) == 3


def test_v1_through_the_cpu_link_when_the_joint_folder_is_missing(root: Path) -> None:
    write(root / "cpu" / "cpu.cfs_quota_us", "100000\n")
    write(root / "cpu" / "cpu.cfs_period_us", "50000\n")
    assert detect(root, "3:cpu,cpuacct:/\n", set(range(6))) == 2


def test_without_proc_the_usual_places_are_read(root: Path) -> None:
    write(root / "cpu.max", "300000 100000")
    assert detect(root, None, set(range(12))) == 3


@pytest.mark.parametrize("junk", ["", "garbage\n", "max\n", "abc 100000\n", "0 100000\n"])
def test_unreadable_or_odd_quota_files_mean_no_limit(root: Path, junk: str) -> None:
    write(root / "cpu.max", junk)
    assert detect(root, "0::/\n", {0, 1, 2, 3, 4}) == 5


def test_quota_above_the_affinity_keeps_the_affinity(root: Path) -> None:
    write(root / "cpu.max", "800000 100000")
    assert detect(root, "0::/\n", {3}) == 1  # taskset -c 3


# --- affinity and the last resort -------------------------------------------------------------


def test_no_affinity_falls_back_to_cpu_count(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 6)
    monkeypatch.setattr(cpus, "_affinity", lambda: None)
    assert detect(root, "0::/\n", None) == 6
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: None)
    assert detect(root, "0::/\n", None) == 1


def test_this_machine_is_within_its_affinity() -> None:
    assert 1 <= cpus.available() <= (os.cpu_count() or 1)


# --- the override -----------------------------------------------------------------------------


def test_the_environment_variable_replaces_detection() -> None:
    assert cpus.budget({cpus.ENV: "12"}) == 12
    assert cpus.budget({cpus.ENV: " 1 "}) == 1
    assert cpus.budget({}) == cpus.available()
    assert cpus.budget({cpus.ENV: ""}) == cpus.available()


@pytest.mark.parametrize("bad", ["0", "-2", "1.5", "all", "2x"])
def test_a_bad_override_names_the_variable(bad: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^POOLCLI_THREADS: expected a whole number >= 1, got '{bad}'$"
    ):
        cpus.budget({cpus.ENV: bad})


def test_budget_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpus.ENV, "5")
    assert cpus.budget() == 5


def test_threads_for_small_inputs_is_one() -> None:
    assert cpus.threads_for(0, 8) == 1
    assert cpus.threads_for(cpus.BYTES_PER_THREAD - 1, 8) == 1
    assert cpus.threads_for(cpus.BYTES_PER_THREAD, 8) == 2
    assert cpus.threads_for(3 * cpus.BYTES_PER_THREAD, 8) == 4
    assert cpus.threads_for(100 * cpus.BYTES_PER_THREAD, 8) == 8


def test_threads_for_weighs_the_modes_cost() -> None:
    # The same bytes are more work for a costlier mode, so they get threads sooner.
    small = cpus.BYTES_PER_THREAD // 3
    assert cpus.threads_for(small, 8, cost=MODES["max"].cost) == 1
    assert cpus.threads_for(small, 8, cost=MODES["sum"].cost) == 2
    assert cpus.threads_for(small, 8, cost=MODES["lp"].cost) == 8
    costs = {name: info.cost for name, info in MODES.items()}
    assert costs["max"] == costs["min"] == 1
    assert costs["max"] < costs["avg"] <= costs["median"] < costs["mode"] < costs["lp"]


def test_pool_defaults_to_the_budget_not_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from poolcli.core import bands

    seen: set[int] = set()
    original = bands.start_helpers

    def spy(count: int, target):
        seen.add(count)
        return original(count, target)

    monkeypatch.setattr(bands, "start_helpers", spy)
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 64)
    monkeypatch.setenv(cpus.ENV, "3")
    x = np.zeros((4096, 4096, 4), np.uint8)  # 64 MiB: eleven threads' worth, three allowed
    from poolcli import pool

    pool(x, "max", 2)
    assert seen == {2}  # the caller and two band threads
    seen.clear()
    monkeypatch.setenv(cpus.ENV, "1")
    pool(x, "max", 2)
    assert seen == set()  # one thread: no band threads at all
