"""Many files on the command line: folders, patterns, --out-dir trees, -j, --skip-existing,
--fail-fast, the progress bar, interrupting and resuming (real processes), and pyramid."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import poolcli
from poolcli.cli import app
from poolcli.run import workers

runner = CliRunner()


def invoke(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def write_image(path: Path, size: tuple[int, int] = (9, 11), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def pixels(source: Path | bytes) -> np.ndarray:
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        return np.asarray(im)


def expected(path: Path, mode: str = "max", **kwargs: object) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(poolcli.pool_image(im, mode, **kwargs))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("poolcli: error:")]


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tree() -> Path:
    """photos/{a.png, b.png, notes.txt, trips/c.png, trips/bad.png, trips/2020/d.jpg}"""
    root = Path("photos")
    for i, name in enumerate(["a.png", "b.png", "trips/c.png"]):
        write_image(root / name, seed=i)
    (root / "trips" / "2020").mkdir()
    Image.fromarray(np.full((8, 6, 3), 90, np.uint8)).save(root / "trips/2020/d.jpg", quality=95)
    (root / "trips" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    (root / "notes.txt").write_text("not an image, not an input")
    return root


def test_a_tree_with_one_corrupt_file(tree: Path) -> None:
    result = invoke("max", tree, "-r", "--out-dir", "small")
    assert result.exit_code == 1
    assert files(Path("small")) == [
        "a_max2.png",
        "b_max2.png",
        "trips/2020/d_max2.jpg",
        "trips/c_max2.png",
    ]
    for name in ("a", "b", "trips/c"):
        np.testing.assert_array_equal(
            pixels(Path(f"small/{name}_max2.png")), expected(tree / f"{name}.png")
        )
    (line,) = error_lines(result.stderr)
    assert line.startswith("poolcli: error: photos/trips/bad.png: ")
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("poolcli: 5 inputs: 4 ok, 1 failed")
    assert summary.endswith("failed: photos/trips/bad.png")
    assert "Traceback" not in result.stderr


def test_a_folder_without_r_is_its_own_images_only(tree: Path) -> None:
    result = invoke("avg", tree, "--out-dir", "out", "-q")
    assert result.exit_code == 0, result.stderr
    assert files(Path("out")) == ["a_avg2.png", "b_avg2.png"]


def test_a_quoted_pattern_and_the_tree_below_its_fixed_part(tree: Path) -> None:
    result = invoke("min", "photos/**/*.png", "--out-dir", "out", "--json", "-k", "3", "-s", "2")
    assert result.exit_code == 1  # bad.png
    assert files(Path("out")) == ["a_min2.png", "b_min2.png", "trips/c_min2.png"]
    np.testing.assert_array_equal(
        pixels(Path("out/trips/c_min2.png")),
        expected(tree / "trips/c.png", "min", kernel_size=3, stride=2),
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["input"] for r in records) == sorted(
        ["photos/a.png", "photos/b.png", "photos/trips/bad.png", "photos/trips/c.png"]
    )
    result = invoke("max", "photos/*.gif")
    assert result.exit_code == 1 and "no file matches" in error_lines(result.stderr)[0]


def test_jobs_give_the_same_bytes_and_records(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[int] = []
    run = workers.run
    monkeypatch.setattr(
        workers, "run", lambda todo, **kw: used.append(kw["workers"]) or run(todo, **kw)
    )
    runs = {}
    for jobs in (1, 2):
        result = invoke("median", tree, "-r", "--out-dir", f"j{jobs}", "-j", jobs, "--json")
        assert result.exit_code == 1
        runs[jobs] = sorted(
            (
                {**json.loads(line), "seconds": None, "output": None}
                for line in result.stdout.splitlines()
            ),
            key=lambda r: r["input"],
        )
    assert used == [1, 2]  # small files, yet two processes: -j is the user's decision
    assert runs[1] == runs[2] and len(runs[1]) == 5
    assert files(Path("j1")) == files(Path("j2"))
    for name in files(Path("j1")):
        assert Path("j1", name).read_bytes() == Path("j2", name).read_bytes()


def test_skip_existing_resumes_and_says_so(tree: Path) -> None:
    first = invoke("max", tree, "-r", "--out-dir", "out", "-q")
    assert first.exit_code == 1
    before = {name: Path("out", name).stat().st_mtime_ns for name in files(Path("out"))}
    Path("out/b_max2.png").unlink()  # as if the run had stopped before it
    result = invoke("max", tree, "-r", "--out-dir", "out", "--skip-existing", "--json")
    assert result.exit_code == 1  # bad.png still fails
    status = {json.loads(x)["input"]: json.loads(x)["status"] for x in result.stdout.splitlines()}
    assert status == {
        "photos/a.png": "skipped",
        "photos/b.png": "ok",
        "photos/trips/c.png": "skipped",
        "photos/trips/2020/d.jpg": "skipped",
        "photos/trips/bad.png": "error",
    }
    for name, mtime in before.items():
        if name != "b_max2.png":
            assert Path("out", name).stat().st_mtime_ns == mtime  # not written again
    np.testing.assert_array_equal(pixels(Path("out/b_max2.png")), expected(tree / "b.png"))
    result = invoke("max", tree, "--skip-existing", "--force")
    assert result.exit_code == 2 and "--skip-existing" in result.stderr


def test_rerunning_on_a_folder_never_pools_its_outputs() -> None:
    write_image(Path("shots/a.png"))
    assert invoke("max", "shots", "-q").exit_code == 0
    result = invoke("max", "shots", "--skip-existing")
    assert result.exit_code == 0, result.stderr
    assert files(Path("shots")) == ["a.png", "a_max2.png"]
    assert "skipped" in result.stderr


def test_a_stale_temporary_file_is_removed_by_the_next_run(tree: Path) -> None:
    Path("out").mkdir()
    stale = Path("out/.a_max2.png.abcd1234.poolcli-tmp")  # left by a run killed while writing
    stale.write_bytes(b"half")
    other = Path("out/.unrelated.png.abcd1234.poolcli-tmp")
    other.write_bytes(b"not ours")
    result = invoke("max", tree, "--out-dir", "out", "-q", "--skip-existing")
    assert result.exit_code == 0
    assert not stale.exists() and other.exists()


def test_fail_fast_stops_at_the_first_failure() -> None:
    Path("in").mkdir()
    (Path("in") / "0_bad.png").write_bytes(b"nope")
    for i in range(1, 5):
        write_image(Path(f"in/{i}.png"), seed=i)
    result = invoke("max", "in", "--out-dir", "out", "--fail-fast", "-j", "1")
    assert result.exit_code == 1
    assert not Path("out").exists() or files(Path("out")) == []
    assert len(error_lines(result.stderr)) == 1
    assert "5 inputs: 0 ok, 1 failed, 4 not done" in result.stderr
    assert "stopped at the first failure" in result.stderr
    without = invoke("max", "in", "--out-dir", "out", "-q")
    assert without.exit_code == 1 and len(files(Path("out"))) == 4


def test_one_output_for_a_folder_of_several_is_usage(tree: Path) -> None:
    result = invoke("max", tree, "-o", "x.png")
    assert result.exit_code == 2 and not Path("x.png").exists()


def test_no_progress_bar_when_stderr_is_not_a_terminal(tree: Path) -> None:
    result = invoke("max", tree, "-r", "--out-dir", "out")
    assert "files/s" not in result.stderr and "ETA" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_on_a_terminal(tree: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolcli", "max", str(tree), "-r", "--out-dir", "out", "--json"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    stdout, _ = proc.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    text = seen.decode(errors="replace")
    assert proc.returncode == 1
    assert "pooling" in text and "files/s" in text and "5/5" in text
    assert "photos/trips/bad.png" in text  # the error line, above the bar
    assert len(stdout.decode().splitlines()) == 5  # JSON only on stdout, one line per input


# --- interrupting and resuming: real processes ------------------------------------------------

BIG = 16  # files of 3 MB: enough for two worker processes, and time to be interrupted


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """16 noisy 1024x1024 PNGs (stored, so they are big and quick to make) and the outputs of an
    uninterrupted run."""
    root = tmp_path_factory.mktemp("big")
    (root / "in").mkdir()
    rng = np.random.default_rng(0)
    for i in range(BIG):
        noise = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
        Image.fromarray(noise).save(root / "in" / f"{i:02d}.png", compress_level=0)
    reference = root / "reference"
    batch_args = ["max", str(root / "in"), "--out-dir", str(reference), "-q", "-j", "1"]
    assert runner.invoke(app, batch_args).exit_code == 0
    return root / "in", reference


def leftover_processes(mark: str) -> list[str]:
    """Processes still running with ``mark`` in their environment (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(entry.name)
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="looks for processes in /proc")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_killed_mid_run_then_resumed_gives_the_same_outputs(
    big_inputs: tuple[Path, Path], tmp_path: Path, sig: str
) -> None:
    inputs, reference = big_inputs
    out = tmp_path / "out"
    mark = f"POOLCLI_TEST_RUN={sig}-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "NO_COLOR": "1", mark.split("=")[0]: mark.split("=")[1]}
    command = [sys.executable, "-m", "poolcli", "max", str(inputs), "--out-dir", str(out)]
    proc = subprocess.Popen([*command, "-j", "2"], stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, "no output appeared"
        time.sleep(0.005)
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=60)
    written = [p.name for p in out.iterdir() if p.suffix == ".png"]
    assert 0 < len(written) < BIG, "the run finished before it was interrupted"
    if sig != "SIGKILL":
        assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[sig]
        assert b"interrupted; rerun with --skip-existing" in stderr
        assert b"Traceback" not in stderr
        assert not [p.name for p in out.iterdir() if "poolcli-tmp" in p.name]
    else:
        assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # a killed parent's workers notice and stop
    while leftover_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_processes(mark) == []

    resumed = subprocess.run([*command, "--skip-existing", "-q"], capture_output=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for p in reference.iterdir():
        assert (out / p.name).read_bytes() == p.read_bytes()


# --- pyramid ------------------------------------------------------------------------------------


def test_pyramid_levels_are_repeated_pooling() -> None:
    src = write_image(Path("tile.png"), size=(37, 50))
    result = invoke("pyramid", src, "--levels", "3", "--mode", "max", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["output"] for r in records] == [f"tile_max_L{n}.png" for n in (1, 2, 3)]
    assert [r["window"] for r in records] == ["L1 = L0 k2 s2", "L2 = L1 k2 s2", "L3 = L2 k2 s2"]
    level = pixels(src)
    for n in (1, 2, 3):
        level = poolcli.pool(level, "max", kernel_size=2)
        np.testing.assert_array_equal(pixels(Path(f"tile_max_L{n}.png")), level)


def test_pyramid_avg_levels_come_from_the_input_and_options_apply() -> None:
    src = write_image(Path("tile.png"), size=(37, 50))
    result = invoke(
        "pyramid", src, "-n", "2", "-s", "3", "--out-dir", "mips", "--name", "{stem}@{factor}{ext}"
    )
    assert result.exit_code == 0, result.stderr
    assert files(Path("mips")) == ["tile@3.png", "tile@9.png"]
    for k in (3, 9):
        np.testing.assert_array_equal(
            pixels(Path(f"mips/tile@{k}.png")), expected(src, "avg", kernel_size=k)
        )
    assert "2 levels" in result.stderr


def test_pyramid_errors() -> None:
    src = write_image(Path("tile.png"), size=(7, 9))
    result = invoke("pyramid", src, "-n", "3")
    assert result.exit_code == 1 and files(Path(".")) == ["tile.png"]
    assert "room for 2 levels" in error_lines(result.stderr)[0]
    assert invoke("pyramid", src, "-n", "2", "-q").exit_code == 0
    again = invoke("pyramid", src, "-n", "2")
    assert again.exit_code == 1 and len(error_lines(again.stderr)) == 2  # both levels exist
    assert invoke("pyramid", src, "-n", "2", "--skip-existing", "-q").exit_code == 0
    assert invoke("pyramid", src, "-n", "2", "--force", "-q").exit_code == 0
    for args in (["-m", "nope"], ["-s", "1"], ["-n", "0"], ["--name", "{nope}"]):
        assert invoke("pyramid", src, "-n", "1", *args).exit_code == 2, args
    assert invoke("pyramid", "-", "-n", "1").exit_code == 2


def test_pyramid_level_that_cannot_be_made_stops_there(monkeypatch: pytest.MonkeyPatch) -> None:
    from poolcli.errors import UnsupportedError
    from poolcli.io import pooling

    src = write_image(Path("tile.png"), size=(16, 16))
    real = pooling.pool_picture
    calls = []

    def second_fails(*args: object, **kwargs: object):
        calls.append(1)
        if len(calls) == 2:
            raise UnsupportedError("tile.png: cannot pool this level")
        return real(*args, **kwargs)

    monkeypatch.setattr(pooling, "pool_picture", second_fails)
    result = invoke("pyramid", src, "-n", "3", "--json")
    assert result.exit_code == 1
    assert [json.loads(x)["status"] for x in result.stdout.splitlines()] == ["ok", "error"]
    assert error_lines(result.stderr) == ["poolcli: error: tile.png: cannot pool this level"]
    assert files(Path(".")) == ["tile.png", "tile_avg_L1.png"]


def test_a_big_batch_is_summed_up_in_input_order_without_its_table(tmp_path: Path) -> None:
    """Past the table's rows only counts, the first failures and the notes are kept (a record
    per input would grow with the batch); the summary still names failures in input order."""
    src = tmp_path / "in"
    src.mkdir()
    broken = {3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47}
    for i in range(56):
        if i in broken:
            (src / f"{i:02d}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        else:
            write_image(src / f"{i:02d}.png", seed=i)
    result = invoke("max", src, "--out-dir", tmp_path / "out", "-j", "2")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert sum(line.startswith("poolcli: error:") for line in lines) == 12
    [summary] = [line for line in lines if line.startswith("poolcli: 56 inputs:")]
    named = ", ".join(str(src / f"{i:02d}.png") for i in sorted(broken)[:10])
    assert summary.startswith("poolcli: 56 inputs: 44 ok, 12 failed in ")
    assert summary.endswith(f" s; failed: {named} and 2 more")
    assert "shape" not in result.stderr  # no table past 50 inputs
    assert len(list((tmp_path / "out").iterdir())) == 44
