"""Whole batch runs: ``poolcli max DIR -j 1`` against ``-j N``, beside a pyvips pool.

Run by hand, never in the test suite, from a venv with poolcli and pyvips
(``pip install . -r benchmarks/requirements.txt``)::

    python benchmarks/bench_batch.py                          # JPEG and PNG, 48 and 128 files
    python benchmarks/bench_batch.py --formats jpg --counts 128 --rounds 9 --json batch.json
    python benchmarks/bench_batch.py --jobs 16 --one-cpu      # -j 1, -j 16 and a 1-CPU run

What it measures
----------------
* Inputs (made once in ``--workdir``, about a minute): ``max(--counts)`` photo-like RGB images
  of ``--size`` x ``--size``: random crops of the photos in ``sample_images/`` scaled (bicubic)
  to the size, plus mild Gaussian noise (sigma 3, fixed seed); saved as PNG (Pillow's defaults,
  level 6) and JPEG (quality 90) in ``png_<count>/`` and ``jpg_<count>/``; the smaller counts
  are the first files of the largest.
* poolcli's bytecode is compiled first, as ``pip install`` does (:func:`compile_bytecode`).
* Contenders, each a fresh process timed from spawn to exit (interpreter start-up, imports,
  worker start-up, reading, pooling, encoding, writing, exit), into an empty folder:

  - ``poolcli -j 1`` and ``poolcli -j N``: ``poolcli max DIR --out-dir OUT -j J -q``, outputs
    in the input's format (poolcli's defaults: JPEG quality 90, PNG deflate level 1);
  - ``poolcli 1 CPU`` (``--one-cpu``): ``-j 1`` with ``POOLCLI_THREADS=1``: one process and
    one thread, no reading ahead on a second core: what one CPU does;
  - ``pyvips -j N``: the script a user would write, a ``multiprocessing.Pool(N)`` mapping a
    function over the files that opens each one (``access="sequential"``), takes the 2x2
    max (``rank`` aligned like poolcli's windows, then ``subsample``; ``--mode avg``:
    ``shrink`` in float, rounded half up) and writes it in the same format at poolcli's
    settings (JPEG ``Q=90``, PNG ``compression=1``; libvips' other defaults). libvips' own
    thread pool is left at its default, as a user would.
* Rounds: one untimed warm-up of each contender, then R rounds; each round runs every
  contender once, in an order rotated round by round, so drift (other load, thermal) spreads
  over all of them. The table gives the median, the spread (min-max), files per second, the
  speedup over ``poolcli -j 1`` and the median CPU time (user + system of the process and its
  workers: on a machine shared with other work, a program with more threads takes a larger
  share of the CPUs, so wall times alone flatter it).
* Exactness: poolcli's outputs at every ``-j`` are compared byte for byte with ``-j 1``'s;
  pyvips's PNG outputs are decoded and compared with poolcli's pixels (its JPEGs are encoded
  by another libjpeg setup: sizes only).
* Machine load: the idle share of the CPUs in the two seconds before and after the timed
  rounds (``/proc/stat``): a speedup measured while something else runs says little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "rocket.jpg"]
# The script users run (``poolcli``, beside this Python), else ``python -m poolcli``.
_SCRIPT = Path(sys.executable).with_name("poolcli")
POOLCLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "poolcli"]
SUFFIX = {"jpg": ".jpg", "png": ".png"}

VIPS_BATCH = """
import os
import sys
from multiprocessing import Pool

import pyvips

src_dir, out_dir, jobs, op = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def one(name):
    im = pyvips.Image.new_from_file(os.path.join(src_dir, name), access="sequential")
    w, h = im.width, im.height
    if op == "max":
        # rank's 2x2 window at (x, y) covers x-1..x: pad one copied row/column, keep the odd ones
        out = im.embed(0, 0, w + 1, h + 1, extend="copy").rank(2, 2, 3).crop(1, 1, w, h)
        out = out.subsample(2, 2)
    else:
        out = (im.cast("float").shrink(2, 2) + 0.5).floor().cast("uchar")
    stem, ext = os.path.splitext(name)
    # poolcli's defaults: JPEG quality 90, PNG deflate level 1
    params = {"Q": 90} if ext.lower() in (".jpg", ".jpeg") else {"compression": 1}
    out.write_to_file(os.path.join(out_dir, f"{stem}_{op}2{ext}"), **params)


if __name__ == "__main__":
    names = sorted(os.listdir(src_dir))
    with Pool(jobs) as pool:
        pool.map(one, names)
"""


# --- inputs -------------------------------------------------------------------------------------


def make_inputs(workdir: Path, counts: list[int], size: int, seed: int = 0) -> dict:
    """``{(format, count): folder}``; made once, the smaller counts linked from the largest."""
    most = max(counts)
    full = {fmt: workdir / f"{fmt}_{most}" for fmt in SUFFIX}
    if not all(len(list(full[fmt].glob(f"*{SUFFIX[fmt]}"))) == most for fmt in SUFFIX):
        for folder in full.values():
            folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        photos = [Image.open(ROOT / "sample_images" / name).convert("RGB") for name in PHOTOS]
        for i in range(most):
            photo = photos[i % len(photos)]
            w, h = photo.size
            cw, ch = int(w * rng.uniform(0.5, 1)), int(h * rng.uniform(0.5, 1))
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = photo.resize((size, size), Image.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
            noisy = np.asarray(crop, np.float32) + rng.normal(0, 3, (size, size, 3))
            im = Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))
            im.save(full["png"] / f"img_{i:03d}.png")
            im.save(full["jpg"] / f"img_{i:03d}.jpg", quality=90)
    folders = {}
    for fmt in SUFFIX:
        names = sorted(p.name for p in full[fmt].iterdir())
        for count in counts:
            folder = workdir / f"{fmt}_{count}"
            if count != most and sorted(p.name for p in folder.glob("*")) != names[:count]:
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                for name in names[:count]:
                    os.link(full[fmt] / name, folder / name)
            folders[fmt, count] = folder
    return folders


# --- machine load -------------------------------------------------------------------------------


def cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs since boot, or None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    return fields[3] + fields[4], sum(fields)  # idle + iowait


def compile_bytecode() -> None:
    """Compile poolcli's modules, as ``pip install`` does for a regular install (a no-op then):
    an editable install under ``PYTHONDONTWRITEBYTECODE=1`` would compile them from source in
    every run (~0.1 s of start-up), while pyvips's were compiled when it was installed."""
    import compileall

    import poolcli

    compileall.compile_dir(Path(poolcli.__file__).parent, quiet=1)


def idle_share(seconds: float = 2.0) -> float | None:
    """Share of CPU time left idle over ``seconds`` while this script waits (other load)."""
    before = cpu_times()
    time.sleep(seconds)
    after = cpu_times()
    if before is None or after is None:
        return None
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


# --- runs ---------------------------------------------------------------------------------------


def contenders(jobs: int, mode: str, one_cpu: bool, vips: bool) -> dict[str, tuple]:
    """``{label: (command builder, extra environment)}``."""

    def poolcli(j: int):
        return lambda src, out: [*POOLCLI, mode, str(src), "--out-dir", str(out), f"-j{j}", "-q"]

    found = {"poolcli -j 1": (poolcli(1), {}), f"poolcli -j {jobs}": (poolcli(jobs), {})}
    if one_cpu:
        found["poolcli 1 CPU"] = (poolcli(1), {"POOLCLI_THREADS": "1"})
    if vips:
        script = Path(os.environ.get("TMPDIR", "/tmp")) / "poolcli_bench_vips_batch.py"
        script.write_text(VIPS_BATCH)
        found[f"pyvips -j {jobs}"] = (
            lambda src, out: [sys.executable, str(script), str(src), str(out), str(jobs), mode],
            {},
        )
    return found


def run_once(cmd: list[str], out: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its waited-for children)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env={**os.environ, **env})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def same_bytes(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def same_pixels(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all(
        np.array_equal(np.asarray(Image.open(a / n)), np.asarray(Image.open(b / n))) for n in names
    )


def bench(src: Path, fmt: str, runs: dict[str, tuple], rounds: int, workdir: Path) -> dict:
    labels = list(runs)
    outs = {label: workdir / "out" / label.replace(" ", "_") for label in labels}
    for label in labels:  # warm-up: page cache, .pyc files, the exactness check
        build, env = runs[label]
        run_once(build(src, outs[label]), outs[label], env)
    base = outs[labels[0]]
    checks = {}
    for label in labels:
        if label.startswith("poolcli"):
            checks[label] = "identical" if same_bytes(base, outs[label]) else "DIFFER"
        elif fmt == "png":
            checks[label] = "same pixels" if same_pixels(base, outs[label]) else "OTHER PIXELS"
        else:
            checks[label] = "lossy (not compared)"
    out_mb = {label: sum(p.stat().st_size for p in outs[label].iterdir()) / 1e6 for label in labels}
    walls: dict[str, list[float]] = {label: [] for label in labels}
    cpus: dict[str, list[float]] = {label: [] for label in labels}
    idle_before = idle_share()
    for r in range(rounds):
        order = labels[r % len(labels) :] + labels[: r % len(labels)]
        for label in order:
            build, env = runs[label]
            wall, cpu = run_once(build(src, outs[label]), outs[label], env)
            walls[label].append(wall)
            cpus[label].append(cpu)
    idle_after = idle_share()
    return {
        "walls": walls,
        "cpu": cpus,
        "medians": {label: statistics.median(w) for label, w in walls.items()},
        "checks": checks,
        "output_mb": out_mb,
        "idle": [idle_before, idle_after],
    }


def print_table(fmt: str, count: int, res: dict) -> None:
    medians = res["medians"]
    first = next(iter(medians))
    print(f"\n{count} {fmt.upper()}s:\n")
    print(
        "| contender | median s | min-max s | files/s | vs poolcli -j 1 | CPU s | output MB"
        " | outputs |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, median in medians.items():
        w = res["walls"][label]
        cpu = statistics.median(res["cpu"][label])
        print(
            f"| {label} | {median:.3f} | {min(w):.3f}-{max(w):.3f} | {count / median:.0f} | "
            f"{medians[first] / median:.2f}x | {cpu:.2f} | {res['output_mb'][label]:.1f} | "
            f"{res['checks'][label]} |"
        )
    before, after = res["idle"]
    if before is not None and after is not None:
        print(f"\nCPUs idle just before / after: {before:.0%} / {after:.0%} (<~95%: other load)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--formats", nargs="+", choices=sorted(SUFFIX), default=["jpg", "png"])
    parser.add_argument("--counts", type=int, nargs="+", default=[48, 128])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="N (default: CPUs)")
    parser.add_argument("--mode", choices=["max", "avg"], default="max")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--one-cpu", action="store_true", help="add -j 1 with POOLCLI_THREADS=1")
    parser.add_argument("--no-vips", action="store_true", help="leave pyvips out")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/poolcli-bench-batch"))
    parser.add_argument("--json", type=Path, help="also write the runs and medians here")
    args = parser.parse_args()

    vips = not args.no_vips
    if vips:
        try:
            import pyvips

            vips_version = f"libvips {pyvips.version(0)}.{pyvips.version(1)}"
        except (ImportError, OSError) as err:
            print(f"pyvips left out: {err}", file=sys.stderr)
            vips, vips_version = False, None
    folders = make_inputs(args.workdir, args.counts, args.size)
    compile_bytecode()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
        f" ({affinity} in this process's affinity), Python {platform.python_version()},"
        f" {vips_version if vips else 'no pyvips'}; {' '.join(POOLCLI)}; {args.rounds} rounds"
    )
    runs = contenders(args.jobs, args.mode, args.one_cpu, vips)
    results = {}
    for fmt in args.formats:
        for count in args.counts:
            src = folders[fmt, count]
            mb = sum(p.stat().st_size for p in src.iterdir()) / 1e6
            print(f"\n{count} {fmt} files, {mb:.0f} MB, in {src}", file=sys.stderr)
            res = bench(src, fmt, runs, args.rounds, args.workdir)
            res["input_mb"] = mb
            results[f"{fmt}_{count}"] = res
            print_table(fmt, count, res)
            sys.stdout.flush()
    if args.json:
        args.json.write_text(
            json.dumps(
                {"size": args.size, "jobs": args.jobs, "cpus": os.cpu_count(), **results},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
