"""Batches across -j and CPU budgets: the same bytes whatever the number of processes, never
more processes or threads than the budget, and the plain Pillow path (no fast codecs) giving the
same pixels for every format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence
from typer.testing import CliRunner

from poolcli.cli import app
from poolcli.core import cpus
from poolcli.run import workers

runner = CliRunner()


def invoke(*args: object, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def photo(rng: np.random.Generator, h: int, w: int, channels: int = 3) -> np.ndarray:
    """Smooth content plus noise (like a photo: JPEG and PNG both have work to do)."""
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 7.0) + np.cos(y / 5.0)) * 60 + 128
    a = base[..., None] + rng.normal(0, 8, (h, w, channels))
    return np.clip(a, 0, 255).astype(np.uint8)


def make_inputs(folder: Path) -> list[Path]:
    """JPEGs, 8-bit PNGs (RGB, RGBA, palette), 16-bit PNGs and animated GIFs, odd sizes."""
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(3):
        h, w = 37 + 6 * i, 53 - 4 * i
        path = folder / f"j{i}.jpg"
        Image.fromarray(photo(rng, h, w)).save(path, quality=90)
        made.append(path)
        path = folder / f"p{i}.png"
        Image.fromarray(photo(rng, h, w, 3 if i != 1 else 4)).save(path)
        made.append(path)
        path = folder / f"q{i}.png"  # 16-bit grey
        deep = rng.integers(0, 65536, (h, w), dtype=np.uint16)
        Image.frombytes("I;16", (w, h), deep.astype("<u2").tobytes()).save(path)
        made.append(path)
        path = folder / f"g{i}.gif"  # three frames, own durations
        frames = [Image.fromarray(photo(rng, h, w)).convert("P") for _ in range(3)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=[40, 80, 120])
        made.append(path)
    Image.fromarray(photo(rng, 31, 29)).convert("P").save(folder / "palette.png")
    made.append(folder / "palette.png")
    return made


def frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        return [np.asarray(f.copy()) for f in ImageSequence.Iterator(im)]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The ``workers`` and ``threads`` every ``workers.run`` of the CLI was called with."""
    calls: list[dict] = []
    run = workers.run

    def spied(todo, **kw):
        calls.append({"workers": kw["workers"], "threads": kw["threads"], "jobs": len(todo)})
        return run(todo, **kw)

    monkeypatch.setattr(workers, "run", spied)
    return calls


@pytest.mark.parametrize("mode", ["max", "avg", "median"])
def test_jobs_give_identical_bytes_for_every_kind_of_input(
    tmp_path: Path, spy: list[dict], mode: str
) -> None:
    inputs = make_inputs(tmp_path / "in")
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}"
        result = invoke(mode, tmp_path / "in", "--out-dir", out, "-j", jobs, "-q", "-k", "3")
        assert result.exit_code == 0, result.stderr
        outputs[jobs] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert [c["workers"] for c in spy] == [1, 2]  # -j 2 really ran two processes
    assert len(outputs[1]) == len(inputs)
    assert outputs[1] == outputs[2]
    gif = tmp_path / "j2" / f"g0_{mode}3.gif"
    assert len(frames(gif)) == 3
    with Image.open(tmp_path / "j2" / f"q1_{mode}3.png") as im:
        assert im.mode == "I;16"  # 16-bit stayed 16-bit


def test_the_default_never_exceeds_the_budget(
    tmp_path: Path, spy: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_inputs(tmp_path / "in")
    monkeypatch.setattr(workers, "PARALLEL_MIN_PIXELS", 1)  # small files count as worth a process
    for budget in (1, 2, 3):
        result = invoke(
            "max", tmp_path / "in", "--out-dir", tmp_path / f"b{budget}", "-q",
            env={cpus.ENV: str(budget)},
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    assert [(c["workers"], c["threads"]) for c in spy] == [(1, 1), (2, 1), (3, 1)]
    for b in ("b2", "b3"):
        for p in (tmp_path / "b1").iterdir():
            assert (tmp_path / b / p.name).read_bytes() == p.read_bytes()


def test_a_big_budget_is_shared_between_processes_and_threads(
    tmp_path: Path, spy: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_inputs(tmp_path / "in")
    monkeypatch.setattr(cpus, "available", lambda: 64)  # a faked machine: 64 CPUs
    monkeypatch.setattr(workers, "PARALLEL_MIN_PIXELS", 1)
    result = invoke("max", tmp_path / "in", "--out-dir", tmp_path / "o", "-q", "-j", "4")
    assert result.exit_code == 0, result.stderr
    (call,) = spy
    assert (call["workers"], call["threads"]) == (4, 16)
    assert call["workers"] * call["threads"] <= 64


@pytest.mark.parametrize("bad", ["0", "many", "-3", "1.5"])
def test_a_bad_budget_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    src = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(src)
    result = invoke("max", src, env={cpus.ENV: bad})
    assert result.exit_code == 2
    assert "POOLCLI_THREADS" in result.stderr and repr(bad) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing written


# --- without the fast codecs ---------------------------------------------------------------

# A poolcli run in which imagecodecs and isal cannot be imported, as on a platform without
# wheels for them (the test's own interpreter keeps its modules).
WITHOUT_FAST = """
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("imagecodecs", "isal"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
from poolcli.io import decoders, pngrows, pngwrite
assert not decoders.available() and not pngrows.available() and pngwrite.BACKEND == "zlib"
sys.argv = ["poolcli", *sys.argv[1:]]
from poolcli.entry import main
main()
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_without_the_fast_codecs_every_format_pools_the_same(tmp_path: Path, jobs: str) -> None:
    inputs = make_inputs(tmp_path / "in")
    extra = tmp_path / "in"
    Image.fromarray(photo(np.random.default_rng(1), 20, 30)).save(extra / "t.tif")
    Image.fromarray(photo(np.random.default_rng(2), 20, 30)).save(extra / "w.webp", lossless=True)
    Image.fromarray(photo(np.random.default_rng(3), 20, 30)).save(extra / "b.bmp")
    inputs += [extra / "t.tif", extra / "w.webp", extra / "b.bmp"]
    args = ["avg", str(extra), "--out-dir", "", "-j", jobs, "-q"]
    slow, fast = tmp_path / "slow", tmp_path / "fast"
    for out, code in ((slow, ["-c", WITHOUT_FAST]), (fast, ["-m", "poolcli"])):
        args[3] = str(out)
        proc = subprocess.run([sys.executable, *code, *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in fast.iterdir())
    assert names == sorted(p.name for p in slow.iterdir()) and len(names) == len(inputs)
    for name in names:
        a, b = frames(fast / name), frames(slow / name)
        assert len(a) == len(b), name
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
        if not name.endswith(".png"):  # Pillow encodes both: the same bytes
            assert (fast / name).read_bytes() == (slow / name).read_bytes(), name
