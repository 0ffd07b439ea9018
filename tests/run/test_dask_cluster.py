"""--scheduler: the per-file work on a real Dask distributed cluster (two worker processes on
loopback) writes the same bytes as a local run, and reports, resumes and fails the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poolcli.run import workers
from poolcli.run.plan import Job, Recipe

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> str:
    # Worker processes, as on a real cluster: they import poolcli themselves.
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=True,
    ) as cluster:
        yield cluster.scheduler_address


def run_cli(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poolcli", *map(str, args)],
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=120,
    )


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    for i, name in enumerate(["a.png", "b.tif", "deep/c.png", "deep/er/d.png", "e.png"]):
        path = tmp_path / "photos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (33 + i, 47, 3), dtype=np.uint8)).save(path)
    (tmp_path / "photos" / "deep" / "bad.png").write_bytes(b"not an image")
    return tmp_path / "photos"


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_the_cluster_writes_what_a_local_run_writes(
    scheduler: str, photos: Path, tmp_path: Path
) -> None:
    args = ["avg", photos, "-r", "-k", "3", "-s", "2"]
    local = run_cli(*args, "--out-dir", tmp_path / "local", "-j", "1")
    remote = run_cli(*args, "--out-dir", tmp_path / "remote", "--scheduler", scheduler)
    for proc in (local, remote):
        assert proc.returncode == 1, proc.stderr  # bad.png
        lines = proc.stderr.decode().splitlines()
        assert [x for x in lines if x.startswith("poolcli: error:")] == [
            f"poolcli: error: {photos}/deep/bad.png: not an image, or a format Pillow cannot read"
        ]
        assert lines[-1].startswith("poolcli: 6 inputs: 5 ok, 1 failed")
        assert lines[-1].endswith(f"failed: {photos}/deep/bad.png")
    want = tree_bytes(tmp_path / "local")
    assert len(want) == 5 and tree_bytes(tmp_path / "remote") == want


def test_skip_existing_json_and_the_environment_variable(
    scheduler: str, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {"POOLCLI_SCHEDULER": scheduler}
    first = run_cli("max", photos, "-r", "--out-dir", out, "--json", env=env)
    records = [json.loads(line) for line in first.stdout.decode().splitlines()]
    assert sorted(r["status"] for r in records) == ["error"] + ["ok"] * 5
    assert {r["output"] for r in records if r["status"] == "ok"} == {
        str(out / n)
        for n in ("a_max2.png", "b_max2.tif", "deep/c_max2.png", "deep/er/d_max2.png", "e_max2.png")
    }
    (out / "e_max2.png").unlink()
    again = run_cli("max", photos, "-r", "--out-dir", out, "--json", "--skip-existing", env=env)
    status = {
        json.loads(line)["input"]: json.loads(line)["status"]
        for line in again.stdout.decode().splitlines()
    }
    assert status.pop(f"{photos}/e.png") == "ok" and status.pop(f"{photos}/deep/bad.png") == "error"
    assert set(status.values()) == {"skipped"}
    assert again.returncode == 1


def test_a_bug_on_a_worker_surfaces_with_its_traceback(scheduler: str, tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(src)
    broken = Job(str(src), str(tmp_path / "o.png"), Recipe("max", read_kwargs={"nope": 1}))
    with pytest.raises(TypeError, match="nope"):
        for _ in workers.run([broken], scheduler=scheduler):
            pass
    assert not (tmp_path / "o.png").exists()


def test_file_urls_on_the_cluster(scheduler: str, photos: Path, tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    url = f"file://{photos}/*.png"
    proc = run_cli("max", url, "--out-dir", f"file://{tmp_path}/out", "--scheduler", scheduler)
    assert proc.returncode == 0, proc.stderr
    assert sorted(tree_bytes(tmp_path / "out")) == ["a_max2.png", "e_max2.png"]


def test_an_unreachable_scheduler_is_one_error_line(photos: Path, tmp_path: Path) -> None:
    env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    proc = run_cli(
        "max", photos, "--out-dir", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9", env=env
    )
    assert proc.returncode == 1
    (line,) = proc.stderr.decode().strip().splitlines()
    assert line.startswith("poolcli: error: tcp://127.0.0.1:9: ")


def test_a_malformed_scheduler_address_is_usage(photos: Path, tmp_path: Path) -> None:
    proc = run_cli("max", photos, "--out-dir", tmp_path / "o", "--scheduler", "nonsense://a")
    assert proc.returncode == 2 and b"unknown address scheme" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_a_dask_task_gets_its_share_of_its_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import distributed

    from poolcli.run import distributed as remote

    seen: list[int] = []
    monkeypatch.setattr(remote, "run_job", lambda job, threads: seen.append(threads))
    fake = types.SimpleNamespace(
        address="tcp://10.0.0.5:4000", state=types.SimpleNamespace(nthreads=2)
    )
    monkeypatch.setattr(distributed, "get_worker", lambda: fake)
    monkeypatch.setenv("POOLCLI_THREADS", "16")
    job = Job("a.png", "b.png", Recipe("max"))
    remote.dask_job(job, {"10.0.0.5": 4})  # two workers of two threads on this host
    remote.dask_job(job, {"10.0.0.9": 4})  # a host that joined later: this worker's threads
    remote.dask_job(job, {"10.0.0.5": 64})  # more task threads than CPUs: one each
    assert seen == [4, 8, 1]
    monkeypatch.setattr(distributed, "get_worker", lambda: (_ for _ in ()).throw(ValueError()))
    remote.dask_job(job, {})  # not on a worker
    assert seen[-1] == 1
