"""Reading ahead: the script's early read of the one input, and a batch's read of the next file.

What was read ahead must be exactly what reading the file when its job comes gives; it must be
used only by a job that reads the same file with the same pixel limit; and nothing may be left
running (worker processes are forked only from a single-threaded process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from poolcli import entry
from poolcli.cli import app
from poolcli.io import ahead, decoders, reading
from poolcli.run import workers
from poolcli.run.plan import Job, Recipe

pytestmark = pytest.mark.skipif(not decoders.available(), reason="imagecodecs not installed")


@pytest.fixture(autouse=True)
def nothing_left(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ahead, "used", False)
    before = set(threading.enumerate())  # (an earlier test's Dask may keep a daemon thread)
    yield
    ahead.drop()
    assert set(threading.enumerate()) <= before


def write_photo(path: Path, size=(48, 32), seed=0, mode="RGB") -> Path:
    rng = np.random.default_rng(seed)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], *channels), np.uint8), mode).save(path)
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources read_picture is asked for (what was not read ahead)."""
    seen: list[str] = []
    real = reading.read_picture

    def spy(source, **kwargs):
        seen.append(os.fspath(source))
        return real(source, **kwargs)

    monkeypatch.setattr(reading, "read_picture", spy)
    return seen


def test_a_file_read_ahead_is_taken_once_and_is_what_reading_gives(tmp_path) -> None:
    path = str(write_photo(tmp_path / "a.png"))
    ahead.start(path, {}, wait=True)
    pic = ahead.take(path, {})
    assert pic is not None and pic.array is not None and ahead.used
    np.testing.assert_array_equal(pic.array, np.asarray(Image.open(path)))
    assert ahead.take(path, {}) is None  # handed over once


def test_a_read_ahead_is_only_for_the_same_pixel_limit(tmp_path) -> None:
    path = str(write_photo(tmp_path / "a.png"))
    ahead.start(path, {})
    assert ahead.take(path, {"max_pixels": 10}) is None
    assert ahead.take(path, {}) is not None
    ahead.start(path, {"max_pixels": 10})  # over the limit: read_picture must say so
    assert ahead.take(path, {"max_pixels": 10}) is None


@pytest.mark.parametrize(
    "what", ["palette PNG", "TIFF", "not an image", "missing", "folder", "empty"]
)
def test_what_cannot_be_read_ahead_gives_none(tmp_path, what) -> None:
    path = tmp_path / "x.png"
    if what == "palette PNG":
        write_photo(tmp_path / "rgb.png").rename(path)
        Image.open(path).convert("P").save(path)
    elif what == "TIFF":
        Image.new("RGB", (4, 4)).save(path, "TIFF")
    elif what == "not an image":
        path.write_text("hello")
    elif what == "folder":
        path.mkdir()
    elif what == "empty":
        path.write_bytes(b"")
    ahead.start(str(path), {}, wait=True)
    assert ahead.take(str(path), {}) is None
    assert not ahead.used


def test_drop_forgets_and_leaves_no_thread(tmp_path) -> None:
    paths = [str(write_photo(tmp_path / f"{i}.png", seed=i)) for i in range(3)]
    before = set(threading.enumerate())
    for p in paths:
        ahead.start(p, {})
    ahead.drop()
    assert set(threading.enumerate()) == before
    assert all(ahead.take(p, {}) is None for p in paths)


def test_a_batch_here_reads_each_next_png_ahead_and_writes_the_same_files(
    tmp_path, reads, monkeypatch
) -> None:
    sources = [write_photo(tmp_path / f"{i}.png", seed=i) for i in range(4)]
    sources.append(tmp_path / "p.png")  # a palette image: read when its job comes
    Image.open(sources[0]).convert("P").save(sources[-1])
    recipe = Recipe("avg", {"kernel_size": 2}, "k2")

    def run(folder: str) -> list[bytes]:
        (tmp_path / folder).mkdir()
        jobs = [
            Job(str(s), str(tmp_path / folder / s.name), recipe, index=i)
            for i, s in enumerate(sources)
        ]
        records = [r for _, r in workers.run(jobs, workers=1)]
        assert all(r.status == "ok" for r in records)
        return [(tmp_path / folder / s.name).read_bytes() for s in sources]

    ahead_files = run("ahead")
    # job 0 is read when it comes; 1-3 ahead; the palette image ahead fails, then is read
    assert reads == [str(sources[0]), str(sources[4])]
    with monkeypatch.context() as m:
        m.setattr(decoders, "_codecs", lambda: None)
        assert run("pillow") == ahead_files


# --- the script ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, early",
    [
        (["max", "a.png"], "a.png"),
        (["max", "a.png", "--stride", "2", "-o", "b.png", "--force"], "a.png"),
        (["mean", "a.png", "-k", "3"], "a.png"),  # an alias
        (["max", "-s", "2", "a.png"], None),  # an option first: left to the command
        (["max", "-"], None),
        (["max", "a.png", "-o", "-"], None),
        (["max", "a.png", "--max-pixels", "0"], None),
        (["max", "a.png", "--max-pixels=9"], None),
        (["max", "a.png", "--skip-existing"], None),
        (["max", "a.png", "--scheduler", "tcp://x:1"], None),
        (["info", "a.png"], None),
        (["compare", "a.png"], None),
        (["--help"], None),
        (["max"], None),
        ([], None),
    ],
)
def test_the_script_reads_early_only_the_usual_one_file_form(args, early) -> None:
    assert entry.early_input(args) == early


def test_the_script_reads_no_folder_early(tmp_path, monkeypatch) -> None:
    (tmp_path / "scans").mkdir()
    monkeypatch.chdir(tmp_path)
    assert entry.early_input(["max", "scans", "--out-dir", "small"]) is None


@pytest.mark.parametrize(
    "name, default", [("OPENBLAS_NUM_THREADS", "1"), ("NUMPY_MADVISE_HUGEPAGE", "0")]
)
@pytest.mark.parametrize("preset", [None, "4"])
def test_the_script_sets_numpys_environment_unless_told(tmp_path, name, default, preset) -> None:
    # NumPy's OpenBLAS threads spin at import and poolcli calls no BLAS routine; huge pages
    # stall a fresh process's first touch of its arrays. A user's own setting is kept. The
    # script's environment is what its worker processes inherit.
    code = (
        "import os, sys; sys.argv = ['poolcli', '--version']; from poolcli.entry import main; "
        f"main(); print(os.environ.get({name!r}))"
    )
    env = {k: v for k, v in os.environ.items() if k != name}
    if preset is not None:
        env[name] = preset
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (preset or default)


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "poolcli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_script_writes_what_the_command_writes(tmp_path) -> None:
    write_photo(tmp_path / "a.png", (65, 33), mode="RGBA")
    done = script("avg", "a.png", "--stride", "2", "-o", "early.png", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"status": "ok"' in done.stdout  # flushed before the quick exit
    result = CliRunner().invoke(
        app, ["avg", str(tmp_path / "a.png"), "--stride", "2", "-o", str(tmp_path / "late.png")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "early.png").read_bytes() == (tmp_path / "late.png").read_bytes()


def test_the_script_reports_a_failure_of_the_early_file(tmp_path) -> None:
    write_photo(tmp_path / "a.png", (4, 4))
    done = script("max", "a.png", "-k", "9", "-o", "b.png", cwd=tmp_path)
    assert done.returncode == 1
    assert "a.png" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b.png").exists()
    write_photo(tmp_path / "big.png", (64, 64))
    broken = tmp_path / "c.png"
    broken.write_bytes((tmp_path / "big.png").read_bytes()[:-500])  # truncated: Pillow says so
    done = script("max", "c.png", "-o", "d.png", cwd=tmp_path)
    assert done.returncode == 1 and "c.png" in done.stderr, done.stderr


def test_the_script_with_several_inputs_drops_the_early_read(tmp_path) -> None:
    for name in ("a.png", "b.png"):
        write_photo(tmp_path / name)
    done = script("min", "a.png", "b.png", "--out-dir", "out", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(outputs) == 2 and outputs[0].startswith("a_") and outputs[1].startswith("b_")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_batch_ends_quickly_with_everything_written_and_said(tmp_path, jobs) -> None:
    # A batch also ends with os._exit (no teardown of every module): its outputs must all be in
    # place, its --json lines and its failure line flushed, and its exit status kept.
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        write_photo(tmp_path / "in" / name, (40, 30))
    (tmp_path / "in" / "d.png").write_bytes(b"not a png")
    done = script("max", "in", "--out-dir", "out", "--json", "-j", jobs, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["status"] for r in lines) == ["error", "ok", "ok", "ok"]
    assert "d.png" in done.stderr
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == ["a_max2.png", "b_max2.png", "c_max2.png"]  # no temporary file left


def test_only_pooling_runs_here_end_quickly() -> None:
    assert entry._pooling_run(["max", "in", "--out-dir", "o"])
    assert entry._pooling_run(["mean", "a.png"])
    assert not entry._pooling_run(["max", "in", "--scheduler", "tcp://x:1"])
    assert not entry._pooling_run(["max", "in", "--scheduler=tcp://x:1"])
    assert not entry._pooling_run(["pyramid", "a.png"])
    assert not entry._pooling_run([])
    assert entry._nothing_left_running()
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait)
    busy.start()
    try:
        assert not entry._nothing_left_running()  # a normal exit would wait for it
    finally:
        stop.set()
        busy.join()


def test_ctrl_c_while_the_script_starts_exits_130_without_a_traceback(tmp_path) -> None:
    # A timer sends the process SIGINT, as Ctrl-C does, at a known time after the script's
    # main() began (during the imports, the early read, the command).
    write_photo(tmp_path / "a.png", (2048, 2048))
    code = """
import os, signal, sys
from poolcli import entry

def ctrl_c(*args):
    os.kill(os.getpid(), signal.SIGINT)

signal.signal(signal.SIGALRM, ctrl_c)
signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
sys.argv = ["poolcli", "max", "a.png", "-o", "b.png", "--force", "-q"]
entry.main()
"""
    interrupted = 0
    for delay in ("0.001", "0.02", "0.06", "0.15"):
        done = subprocess.run(
            [sys.executable, "-c", code, delay],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode == 0:  # finished before the timer: nothing to check
            continue
        assert done.returncode == 130, done.stderr
        assert "Traceback" not in done.stderr
        assert not [f for f in os.listdir(tmp_path) if "poolcli-tmp" in f]
        interrupted += 1
    assert interrupted >= 2
