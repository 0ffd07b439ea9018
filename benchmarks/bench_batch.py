"""Whole batch runs: ``poolcli max DIR --out-dir OUT -j 1`` against ``-j 2`` (or other counts).

Run by hand, never in the test suite, from the dev venv (``pip install -e .``)::

    python benchmarks/bench_batch.py                    # 64 images of 1024x1024, 7 rounds
    python benchmarks/bench_batch.py --jobs 1 2 4 --rounds 9 --json batch.json

What it measures
----------------
* Inputs (made once in ``--workdir``): ``--count`` PNGs of ``--size`` x ``--size`` RGB with the
  content of photographs: random crops of the photos in ``sample_images/`` scaled (bicubic) to the
  size, plus mild Gaussian noise (sigma 3, fixed seed), saved with Pillow's defaults (level 6).
* Runs: each is a fresh process, ``poolcli max DIR --out-dir OUT -j N -q`` into an empty folder:
  wall time from spawn to exit, so interpreter start-up, imports, worker start-up, reading,
  pooling, encoding and writing are all in it. One untimed warm-up per job count, then R rounds;
  in each round every job count runs once, in alternating order (1 2, then 2 1, ...), so drift
  (other load, thermal) spreads over both. The table gives medians and the speedup over the
  first job count.
* Exactness: the outputs of every job count are compared byte for byte with the first one's.
* Machine load: the idle share of the CPUs in the two seconds before and after the timed rounds
  is printed (``/proc/stat``, Linux): a speedup measured while something else runs says little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def make_inputs(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` photo-like PNGs in ``folder/in_<count>x<size>`` (kept between runs)."""
    inputs = folder / f"in_{count}x{size}"
    if inputs.is_dir() and len(list(inputs.glob("*.png"))) == count:
        return inputs
    inputs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = [Image.open(ROOT / "sample_images" / name).convert("RGB") for name in PHOTOS]
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        cw, ch = int(w * rng.uniform(0.5, 1)), int(h * rng.uniform(0.5, 1))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = photo.resize((size, size), Image.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
        noisy = np.asarray(crop, np.float32) + rng.normal(0, 3, (size, size, 3))
        Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8)).save(
            inputs / f"img_{i:03d}.png"
        )
    return inputs


def cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs since boot, or None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    return fields[3] + fields[4], sum(fields)  # idle + iowait


def idle_share(seconds: float = 2.0) -> float | None:
    """Share of CPU time left idle over ``seconds`` while this script waits (other load)."""
    before = cpu_times()
    time.sleep(seconds)
    after = cpu_times()
    if before is None or after is None:
        return None
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


def run_once(inputs: Path, out: Path, jobs: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*POOLCLI, "max", str(inputs), "--out-dir", str(out), "-j", str(jobs), "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()}")
    return wall


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/poolcli-bench-batch"))
    parser.add_argument("--json", type=Path, help="also write the runs and medians here")
    args = parser.parse_args()

    inputs = make_inputs(args.workdir, args.count, args.size)
    megabytes = sum(p.stat().st_size for p in inputs.iterdir()) / 1e6
    print(f"{args.count} PNGs of {args.size}x{args.size} ({megabytes:.0f} MB) in {inputs}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {' '.join(POOLCLI)}"
    )
    outs = {j: args.workdir / f"out_j{j}" for j in args.jobs}
    for j in args.jobs:  # warm-up: page cache, .pyc files, the exactness check
        run_once(inputs, outs[j], j)
    first = args.jobs[0]
    exact = {j: same_outputs(outs[first], outs[j]) for j in args.jobs}

    walls: dict[int, list[float]] = {j: [] for j in args.jobs}
    idle_before = idle_share()
    for r in range(args.rounds):
        order = args.jobs if r % 2 == 0 else args.jobs[::-1]
        for j in order:
            walls[j].append(run_once(inputs, outs[j], j))
    idle_after = idle_share()

    medians = {j: statistics.median(w) for j, w in walls.items()}
    print()
    print(f"| -j | median wall s | min s | max s | speedup vs -j {first} | outputs |")
    print("|---:|---:|---:|---:|---:|---|")
    for j in args.jobs:
        w = walls[j]
        same = "identical" if exact[j] else "DIFFER"
        print(
            f"| {j} | {medians[j]:.2f} | {min(w):.2f} | {max(w):.2f} | "
            f"{medians[first] / medians[j]:.2f}x | {same} |"
        )
    idle = [idle_before, idle_after]
    if None not in idle:
        print(
            f"\nCPUs idle just before / after the timed rounds: {idle_before:.0%} /"
            f" {idle_after:.0%} (below ~95%: something else was running)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "count": args.count,
                    "size": args.size,
                    "megabytes": megabytes,
                    "cpus": os.cpu_count(),
                    "walls": walls,
                    "medians": medians,
                    "identical": exact,
                    "idle": idle,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
