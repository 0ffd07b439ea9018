"""poolcli.run: inputs, output plans, resuming, and jobs run here or in worker processes."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import poolcli
from poolcli.errors import ImageError
from poolcli.run import cpus, inputs, workers
from poolcli.run.inputs import Source
from poolcli.run.job import run_job
from poolcli.run.plan import Job, PlanError, Recipe, make_plan

FIELDS = {"mode": "max", "stride": "2"}


def write_image(path: Path, size: tuple[int, int] = (9, 11), seed: int = 0) -> Path:
    """An RGB image of ``(H, W)`` random pixels (odd sizes: ragged last windows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def pooled(path: Path | bytes, mode: str = "max", **kwargs: object) -> np.ndarray:
    with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as im:
        return np.asarray(poolcli.pool_image(im, mode, **kwargs))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def rel(sources: list[Source], root: Path) -> list[str]:
    return [Path(s.path).relative_to(root).as_posix() for s in sources]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tree/{a.png, b.JPG, notes.txt, .hidden.png, sub/c.png, sub/deep/d.tif, .git/e.png}"""
    root = tmp_path / "tree"
    for i, name in enumerate(["a.png", "sub/c.png", ".hidden.png", ".git/e.png"]):
        write_image(root / name, seed=i)
    Image.new("RGB", (5, 3)).save(root / "b.JPG", "JPEG")
    (root / "sub" / "deep").mkdir()
    Image.new("L", (6, 4)).save(root / "sub" / "deep" / "d.tif")
    (root / "notes.txt").write_text("not an image")
    return root


# --- inputs ---------------------------------------------------------------------------------------


def test_a_folder_is_its_images_sorted_and_recursive_adds_subfolders(tree: Path) -> None:
    assert rel(inputs.expand_inputs([str(tree)]), tree) == ["a.png", "b.JPG"]
    deep = inputs.expand_inputs([str(tree)], recursive=True)
    assert rel(deep, tree) == ["a.png", "b.JPG", "sub/c.png", "sub/deep/d.tif"]
    assert all(s.base == str(tree) and not s.named and s.error is None for s in deep)


def test_patterns_are_expanded_with_double_star(tree: Path, monkeypatch) -> None:
    monkeypatch.chdir(tree.parent)
    found = inputs.expand_inputs(["tree/**/*.png"])
    assert [s.path for s in found] == ["tree/a.png", "tree/sub/c.png"]  # hidden ones left out
    assert {s.base for s in found} == {"tree"}
    # a pattern that matches a folder stands for that folder
    assert [s.path for s in inputs.expand_inputs(["tree/s*/*"])] == [
        "tree/sub/c.png",
        "tree/sub/deep/d.tif",
    ]
    assert [s.path for s in inputs.expand_inputs(["tree/su?"], recursive=True)] == [
        "tree/sub/c.png",
        "tree/sub/deep/d.tif",
    ]


def test_a_file_named_like_a_pattern_is_taken_literally(tmp_path: Path) -> None:
    odd = write_image(tmp_path / "shot[1].png")
    write_image(tmp_path / "shot1.png")
    assert [s.path for s in inputs.expand_inputs([str(odd)])] == [str(odd)]


def test_named_files_are_kept_as_given_and_once(tree: Path) -> None:
    a, missing = str(tree / "a.png"), str(tree / "missing.png")
    found = inputs.expand_inputs([a, str(tree / "notes.txt"), missing, str(tree), a])
    # a named file is never filtered by its suffix; a missing one fails when it is read
    assert [s.path for s in found] == [a, str(tree / "notes.txt"), missing, str(tree / "b.JPG")]
    assert found[0].named and found[0].base is None


def test_a_file_reached_through_a_linked_folder_is_one_file(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(tree, target_is_directory=True)
    args = [str(tree / "a.png"), str(tmp_path / "alias"), str(tmp_path / "alias" / "sub")]
    found = inputs.expand_inputs(args, recursive=True)
    assert [s.path for s in found] == [
        str(tree / "a.png"),
        *(str(tmp_path / "alias" / n) for n in ("b.JPG", "sub/c.png", "sub/deep/d.tif")),
    ]
    folders: dict[str, str] = {}  # one real path per folder, kept for the next keys
    keys = [inputs.path_key(s.path, folders) for s in found]
    assert keys == [inputs.path_key(s.path) for s in found]
    assert keys[1] == inputs.path_key(str(tree / "b.JPG"))
    assert len(folders) == 4  # tree, alias, alias/sub, alias/sub/deep


def test_what_gives_no_file_is_an_error_source(tree: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    found = inputs.expand_inputs([str(tmp_path / "*.gif"), str(empty), str(tree / "sub" / "deep")])
    assert [s.error for s in found[:2]] == [
        "no file matches this pattern",
        "no image files in this folder (-r/--recursive reads subfolders)",
    ]
    assert found[2].error is None  # d.tif


# --- plans ----------------------------------------------------------------------------------------


def test_out_dir_mirrors_the_folders_and_patterns_the_inputs_came_from(
    tree: Path, tmp_path: Path
) -> None:
    args = [str(tree), str(tree / "sub" / "*.png"), str(tree / "a.png")]  # reached twice: once
    sources = inputs.expand_inputs(args, recursive=True)
    plan = make_plan(sources, Recipe("max"), fields=FIELDS, out_dir=str(tmp_path / "out"))
    names = [Path(j.output_name).relative_to(tmp_path / "out").as_posix() for j in plan.jobs]
    assert names == ["a_max2.png", "b_max2.JPG", "sub/c_max2.png", "sub/deep/d_max2.tif"]
    assert all(Path(j.target).is_absolute() for j in plan.jobs)
    assert plan.done == [] and plan.total == 4
    assert [j.index for j in plan.jobs] == [0, 1, 2, 3]


def test_beside_the_inputs_with_a_template_and_a_format(tree: Path) -> None:
    sources = inputs.expand_inputs([str(tree)], recursive=True)
    recipe = Recipe("avg", format="webp")
    plan = make_plan(sources, recipe, template="{stem}.{mode}{ext}", fields={"mode": "avg"})
    assert [j.output_name for j in plan.jobs] == [
        str(tree / "a.avg.webp"),
        str(tree / "b.avg.webp"),
        str(tree / "sub" / "c.avg.webp"),
        str(tree / "sub" / "deep" / "d.avg.webp"),
    ]


def test_two_inputs_with_one_output_is_an_error_before_anything(tree: Path) -> None:
    sources = inputs.expand_inputs([str(tree)])
    with pytest.raises(PlanError, match=r"a\.png and .*b\.JPG .*both.*x\.png"):
        make_plan(sources, Recipe("max"), template="x.png", fields=FIELDS)


def test_options_that_exclude_each_other(tree: Path) -> None:
    sources = inputs.expand_inputs([str(tree)])
    with pytest.raises(PlanError):
        make_plan(sources, Recipe("max", force=True), skip_existing=True)
    with pytest.raises(PlanError):
        make_plan(sources, Recipe("max"), output="one.png")


def test_existing_outputs_are_skipped_or_errors_and_inputs_never_targets(tmp_path: Path) -> None:
    a, b, c = (write_image(tmp_path / f"{n}.png", seed=i) for i, n in enumerate("abc"))
    (tmp_path / "a_max2.png").write_bytes(b"done before")
    os.link(b, tmp_path / "b_max2.png")  # b's output is b itself, by another name
    sources = [Source(str(p)) for p in (a, b, c)]
    for skip in (False, True):
        plan = make_plan(sources, Recipe("max"), fields=FIELDS, skip_existing=skip)
        assert [j.source for j in plan.jobs] == [str(c)]
        (ia, ra), (ib, rb) = plan.done
        assert (ia, ib) == (0, 1)
        assert rb.status == "error" and "is an input" in rb.error
        if skip:
            assert ra.status == "skipped" and ra.output == str(tmp_path / "a_max2.png")
        else:
            assert ra.status == "error" and "--force" in ra.error
    plan = make_plan(sources, Recipe("max", force=True), fields=FIELDS)
    assert [j.source for j in plan.jobs] == [str(a), str(c)]  # never b: it is an input


def test_outputs_of_an_earlier_run_found_in_a_folder_are_not_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_image(folder / "a.png")
    write_image(folder / "a_max2.png", seed=1)  # what `poolcli max photos` wrote last time
    plan = make_plan(
        inputs.expand_inputs([str(folder)]), Recipe("max"), fields=FIELDS, skip_existing=True
    )
    assert plan.jobs == [] and [r.status for _, r in plan.done] == ["skipped"]
    assert plan.total == 1


def test_mirrored_folders_are_made_when_their_first_output_is_written(
    tree: Path, tmp_path: Path
) -> None:
    sources = inputs.expand_inputs([str(tree)], recursive=True)
    plan = make_plan(sources, Recipe("max"), fields=FIELDS, out_dir=str(tmp_path / "o"))
    assert plan.prepare() == []
    assert not (tmp_path / "o").exists()  # a run that writes nothing leaves no folder behind
    records = [record for _, record in workers.run(plan.jobs)]
    assert records and all(r.status == "ok" for r in records)
    assert (tmp_path / "o" / "sub" / "deep").is_dir()
    assert sorted(r.index for r in records) == list(range(len(sources)))


def test_prepare_refuses_an_output_folder_under_a_file(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a file")
    sources = inputs.expand_inputs([str(tree)], recursive=True)
    plan = make_plan(sources, Recipe("max"), fields=FIELDS, out_dir=str(tmp_path / "f" / "o"))
    with pytest.raises(ImageError, match=r"cannot create: .*f is not a folder"):
        plan.prepare()


def test_stale_temporary_files_of_the_runs_own_outputs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".a_max2.png.k3j_9x0q.poolcli-tmp", out / ".b_max2.png.00000000.poolcli-tmp"]
    kept = [
        out / ".other.png.abcdefgh.poolcli-tmp",  # not an output of this run
        out / ".a_max2.png.x.png.abcdefgh.poolcli-tmp",  # the temporary of a_max2.png.x.png
        out / ".a_max2.png.notes",
    ]
    for p in stale + kept:
        p.write_bytes(b"half a file")
    (out / "b_max2.png").write_bytes(b"complete")  # killed between the rename and the unlink
    sources = [Source(str(write_image(tmp_path / f"{n}.png"))) for n in "ab"]
    plan = make_plan(sources, Recipe("max"), fields=FIELDS, out_dir=str(out), skip_existing=True)
    assert [r.status for _, r in plan.done] == ["skipped"]  # b: its output exists
    assert sorted(plan.prepare()) == sorted(map(str, stale))
    assert sorted(p.name for p in out.iterdir()) == sorted(["b_max2.png"] + [p.name for p in kept])


# --- jobs -----------------------------------------------------------------------------------------


def job(source: Path, target: Path, mode: str = "max", **recipe: object) -> Job:
    recipe.setdefault("pool_kwargs", {"kernel_size": 2})
    return Job(str(source), str(target), Recipe(mode, **recipe))  # type: ignore[arg-type]


def test_run_job_writes_what_the_library_gives_and_times_it(tmp_path: Path) -> None:
    src = write_image(tmp_path / "a.png", size=(7, 9))
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1}
    record = run_job(job(src, tmp_path / "o.png", "avg", pool_kwargs=kwargs))
    assert record.status == "ok" and record.error is None
    assert record.input_shape == (7, 9, 3) and record.output_shape == (4, 5, 3)
    assert record.image_mode == "RGB" and record.dtype == "uint8" and record.frames == 1
    assert all(v is not None and v >= 0 for v in dataclasses.astuple(record.seconds))
    np.testing.assert_array_equal(pixels(tmp_path / "o.png"), pooled(src, "avg", **kwargs))


@pytest.mark.parametrize("threads", [1, 3])
def test_a_worker_pools_and_encodes_on_its_share(tmp_path: Path, monkeypatch, threads) -> None:
    # Worker processes share the CPUs: each keeps to its share for pooling and encoding
    # (and a small image is pooled on one thread whatever the share).
    from poolcli.io import pngwrite, pooling

    calls: dict[str, dict] = {}
    pool_picture, encode_png = pooling.pool_picture, pngwrite.encode_png

    def pool_spy(*args, **kwargs):
        calls["pool"] = kwargs
        return pool_picture(*args, **kwargs)

    def encode_spy(image, **kwargs):
        calls["encode"] = kwargs
        return encode_png(image, **kwargs)

    monkeypatch.setattr(pooling, "pool_picture", pool_spy)
    monkeypatch.setattr(pngwrite, "encode_png", encode_spy)
    src = write_image(tmp_path / "a.png", size=(7, 9))
    (record,) = workers._work([job(src, tmp_path / "o.png")], threads)
    assert record.status == "ok"
    assert calls["pool"]["threads"] == 1 and calls["encode"]["threads"] == threads
    np.testing.assert_array_equal(pixels(tmp_path / "o.png"), pooled(src, "max", kernel_size=2))


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "empty file"), (b"GIF89a" + b"\0" * 20, ""), (None, "no such file")],
)
def test_run_job_failures_are_records(tmp_path: Path, content: bytes | None, why: str) -> None:
    src = tmp_path / "bad.png"
    if content is not None:
        src.write_bytes(content)
    record = run_job(job(src, tmp_path / "o.png"))
    assert record.status == "error" and why in record.error
    assert not record.error.startswith(str(src))  # the error line adds the name once
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if content is None else ["bad.png"])


def test_a_window_too_large_for_one_image_is_its_error(tmp_path: Path) -> None:
    src = write_image(tmp_path / "tiny.png", size=(1, 1))
    record = run_job(job(src, tmp_path / "o.png"))
    assert record.status == "error" and record.input_shape == (1, 1, 3)


def test_an_unexpected_exception_is_a_bug_not_a_record(tmp_path: Path) -> None:
    src = write_image(tmp_path / "a.png")
    broken = job(src, tmp_path / "o.png", read_kwargs={"no_such_argument": 1})
    with pytest.raises(TypeError):
        run_job(broken)


def make_jobs(tmp_path: Path, n: int = 6) -> list[Job]:
    sources = [Source(str(write_image(tmp_path / "in" / f"{i}.png", seed=i))) for i in range(n)]
    sources.append(Source(str(tmp_path / "in" / "missing.png")))
    plan = make_plan(
        sources,
        Recipe("median", {"kernel_size": 3, "stride": 2}, "k3 s2"),
        fields={"mode": "median", "stride": "2"},
        out_dir=str(tmp_path / "out"),
    )
    plan.prepare()
    return plan.jobs


def test_worker_processes_write_the_same_bytes_as_this_process(tmp_path: Path) -> None:
    here = make_jobs(tmp_path / "here")
    there = make_jobs(tmp_path / "there")
    records_here = {j.index: r for j, r in workers.run(here, workers=1)}
    records_there = {j.index: r for j, r in workers.run(there, workers=2)}
    assert sorted(records_there) == list(range(7))
    for i in range(7):
        a, b = records_here[i], records_there[i]
        assert (a.status, a.error, a.output_shape) == (b.status, b.error, b.output_shape)
        assert b.window == "k3 s2"
    assert records_there[6].status == "error" and "no such file" in records_there[6].error
    for j_here, j_there in zip(here[:6], there[:6], strict=True):
        assert Path(j_here.target).read_bytes() == Path(j_there.target).read_bytes()
        np.testing.assert_array_equal(
            pixels(Path(j_there.target)),
            pooled(Path(j_there.source), "median", kernel_size=3, stride=2),
        )


def test_a_bug_in_a_worker_process_surfaces_with_its_traceback(tmp_path: Path) -> None:
    jobs = [job(write_image(tmp_path / f"{i}.png"), tmp_path / f"o{i}.png") for i in range(3)]
    jobs[1] = job(Path(jobs[1].source), tmp_path / "o1.png", read_kwargs={"no_such_argument": 1})
    with pytest.raises(TypeError, match="no_such_argument") as info:
        for _ in workers.run(jobs, workers=2):
            pass
    assert "read_picture" in str(info.value.__cause__)  # the worker's traceback, as text
    assert not list(tmp_path.glob("*.poolcli-tmp")) and not list(tmp_path.glob(".*tmp"))


def test_stopping_early_cancels_the_rest(tmp_path: Path) -> None:
    import threading

    before = set(threading.enumerate())
    jobs = make_jobs(tmp_path, n=12)
    with contextlib.closing(workers.run(jobs, workers=2)) as results:
        first = next(results)
    assert first[1].status in ("ok", "error")
    # Nothing of the run is left running: not the pool's manager thread either (the script
    # ends at once only when no such thread is left).
    assert not [t for t in threading.enumerate() if t not in before and not t.daemon]
    written = list((tmp_path / "out").iterdir())
    assert len(written) < 12  # at most what was already queued
    assert not [p for p in written if p.name.endswith(".poolcli-tmp")]


def test_plan_workers_keeps_an_explicit_count_and_sizes_the_default_by_pixels(
    tmp_path: Path,
) -> None:
    side = 1 << 10  # 1 Mpx each: four files' worth of pixels per worker process
    one = tmp_path / "big.png"
    Image.new("RGB", (side, side)).save(one)
    many = [Job(str(one), "o", Recipe("max"))] * 10
    assert workers.plan_workers(many, 8) == cpus.Share(2, 4)  # 10 Mpx: two processes
    assert workers.plan_workers(many, 8, asked=5) == cpus.Share(5, 1)  # the user's count
    assert workers.plan_workers(many, 2, asked=8) == cpus.Share(8, 1)  # even above the budget
    assert workers.plan_workers(many[:3], 8) == cpus.Share(1, 8)  # 3 Mpx: pooled here
    assert workers.plan_workers(many[:1], 8, asked=3) == cpus.Share(1, 3)  # -j N: N threads
    assert workers.plan_workers([], 4) == cpus.Share(1, 4)
    bad = [Job(str(tmp_path / "missing.png"), "o", Recipe("max"))] * 10
    assert workers.plan_workers(bad, 4) == cpus.Share(4, 1)  # unknown sizes count as large
    urls = [Job("memory://a.png", "o", Recipe("max"))] * 3
    assert workers.plan_workers(urls, 4) == cpus.Share(3, 1)


def test_chunks_cover_every_job_once_in_order() -> None:
    jobs = [Job(f"{i}.png", "o", Recipe("max")) for i in range(101)]
    for n in (1, 2, 3, 16):
        pieces = list(workers.chunks(jobs, n))
        assert [j for piece in pieces for j in piece] == jobs
        assert all(1 <= len(p) <= workers.CHUNK_MAX for p in pieces)
        assert len(pieces[-1]) == 1  # the run ends with single files, so workers end together


# --- fsspec URLs ----------------------------------------------------------------------------------


def test_memory_urls_in_and_out(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    data = write_image(tmp_path / "a.png").read_bytes()
    fs.pipe_file("/poolcli-test/in/sub/a.png", data)
    fs.pipe_file("/poolcli-test/in/b.png", data)
    fs.pipe_file("/poolcli-test/in/notes.txt", b"x")
    try:
        sources = inputs.expand_inputs(["memory://poolcli-test/in"], recursive=True)
        assert [s.path for s in sources] == [
            "memory:///poolcli-test/in/b.png",
            "memory:///poolcli-test/in/sub/a.png",
        ]
        plan = make_plan(sources, Recipe("max"), fields=FIELDS, out_dir="memory://poolcli-test/out")
        plan.prepare()
        records = [r for _, r in workers.run(plan.jobs)]
        assert [r.status for r in records] == ["ok", "ok"]
        out = fs.cat_file("/poolcli-test/out/sub/a_max2.png")
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(out))), pooled(data))
        again = make_plan(
            sources,
            Recipe("max"),
            fields=FIELDS,
            out_dir="memory://poolcli-test/out",
            skip_existing=True,
        )
        assert again.jobs == [] and [r.status for _, r in again.done] == ["skipped", "skipped"]
        missing = run_job(Job("memory://poolcli-test/nope.png", "memory://x/y.png", Recipe("max")))
        assert missing.status == "error" and missing.error == "no such file"
    finally:
        fs.rm("/poolcli-test", recursive=True)


def test_a_url_pattern_that_matches_nothing(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    (found,) = inputs.expand_inputs(["memory://poolcli-nothing/*.png"])
    assert found.error


def open_by(path: Path) -> list[int]:
    """Processes that have ``path`` open (Linux)."""
    pids = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                pids.append(int(fd_dir.parent.name))
    return pids


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/proc/self/fd").exists(), reason="Linux")
def test_a_worker_that_dies_fails_what_it_had_not_finished(tmp_path: Path) -> None:
    import signal
    import time

    stuck = tmp_path / "stuck.png"
    os.mkfifo(stuck)  # a worker reading it waits until we write (we never do)
    jobs = [job(stuck, tmp_path / "o_stuck.png")]
    jobs += [
        job(write_image(tmp_path / f"{i}.png", seed=i), tmp_path / f"o{i}.png") for i in range(5)
    ]
    jobs = [replace_index(j, i) for i, j in enumerate(jobs)]
    writer = None
    deadline = time.monotonic() + 30
    with contextlib.closing(workers.run(jobs, workers=2)) as results:
        done = {}
        while len(done) < 5:
            j, record = next(results)
            done[j.index] = record
        assert all(r.status == "ok" for r in done.values())
        while writer is None:  # the other worker has opened the pipe and waits on it
            assert time.monotonic() < deadline
            with contextlib.suppress(OSError):
                writer = os.open(stuck, os.O_WRONLY | os.O_NONBLOCK)
        while not (readers := [p for p in open_by(stuck) if p != os.getpid()]):
            assert time.monotonic() < deadline  # its open() returns just after ours
        (pid,) = readers
        os.kill(pid, signal.SIGKILL)
        j, record = next(results)
        assert j.index == 0 and record.status == "error" and "worker process died" in record.error
        assert list(results) == []
    os.close(writer)


def replace_index(j: Job, index: int) -> Job:
    from dataclasses import replace

    return replace(j, index=index)


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_workers_are_forked_only_from_a_single_threaded_process() -> None:
    import threading

    assert threading.active_count() == 1, "another test left a thread running"
    assert workers._context([]).get_start_method() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:  # a fork would copy a process whose other thread may hold a lock
        assert workers._context([]).get_start_method() in ("forkserver", "spawn")
    finally:
        stop.set()
        other.join()


@pytest.mark.parametrize("threaded", [False, True])
def test_forked_or_served_workers_give_the_same_files(tmp_path: Path, threaded: bool) -> None:
    import threading

    sources = [write_image(tmp_path / f"{i}.png", seed=i, size=(9 + i, 7)) for i in range(4)]
    jobs = [replace_index(job(s, tmp_path / f"o{s.stem}.png"), i) for i, s in enumerate(sources)]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    if threaded:
        other.start()
    try:
        records = [record for _, record in workers.run(jobs, workers=2)]
    finally:
        stop.set()
        if threaded:
            other.join()
    assert [r.status for r in records] == ["ok"] * 4
    for s in sources:
        np.testing.assert_array_equal(
            pixels(tmp_path / f"o{s.stem}.png"), pooled(s, "max", kernel_size=2)
        )


def test_workers_start_with_run_and_stop_when_closed_before_any_result(tmp_path: Path) -> None:
    import multiprocessing

    sources = [write_image(tmp_path / f"{i}.png", seed=i) for i in range(3)]
    jobs = [replace_index(job(s, tmp_path / f"o{s.stem}.png"), i) for i, s in enumerate(sources)]
    before = set(multiprocessing.active_children())
    results = workers.run(jobs, workers=2)
    started = set(multiprocessing.active_children()) - before
    assert len(started) == 2  # forked (or served) before the first result is asked for
    results.close()  # type: ignore[attr-defined]
    # The executor's own thread reaps the workers too: a join racing it can return with the
    # process not marked dead yet, so wait for that rather than join once.
    deadline = time.monotonic() + 10
    while any(process.is_alive() for process in started) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(process.is_alive() for process in started)
