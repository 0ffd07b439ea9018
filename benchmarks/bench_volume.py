"""Time 3-D pooling of a volume (and 1-D pooling of a long signal) against the copy floor.

Run by hand, never in the test suite::

    python benchmarks/bench_volume.py                  # 512^3 uint8, 9 rounds, markdown table
    python benchmarks/bench_volume.py --size 256 --rounds 5 --threads 1 --json out.json

Method: the input is a smooth random volume (a few Gaussian blobs plus noise, fixed seed) of
uint8. Each round runs every contender once, in a freshly shuffled order: the copy floors
(``np.copy`` of the same volume, which allocates its result as pooling does, and ``np.copyto``
into a preallocated array, memory bandwidth alone), ``poolcli.pool`` max and avg with
``kernel_size=(2, 2, 2)``, a naive NumPy reshape-and-reduce of the same windows, and torch's
``max_pool3d``/``avg_pool3d`` when torch is installed (its float conversion inside the timing:
it is part of the job). The table shows each median and its ratio to both floors' medians.
poolcli's outputs are checked against the naive result before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import poolcli


def make_volume(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, size, dtype=np.float32)
    z, y, x = grid[:, None, None], grid[None, :, None], grid[None, None, :]
    vol = np.zeros((size, size, size), np.float32)
    for _ in range(4):
        cz, cy, cx = rng.uniform(-0.6, 0.6, 3)
        vol += np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) * 8)
    vol *= 200 / vol.max()
    vol += rng.normal(0, 10, vol.shape).astype(np.float32)
    return np.clip(vol, 0, 255).astype(np.uint8)


def naive(x: np.ndarray, mode: str) -> np.ndarray:
    d, h, w = (n // 2 for n in x.shape)
    blocks = x[: 2 * d, : 2 * h, : 2 * w].reshape(d, 2, h, 2, w, 2)
    if mode == "max":
        return blocks.max(axis=(1, 3, 5))
    total = blocks.sum(axis=(1, 3, 5), dtype=np.uint16)
    return ((total + 4) // 8).astype(np.uint8)


def contenders(x: np.ndarray, threads: int | None) -> dict[str, Callable[[], np.ndarray]]:
    kw = {} if threads is None else {"threads": threads}
    target = np.empty_like(x)
    runs: dict[str, Callable[[], np.ndarray]] = {
        "copy floor (np.copy)": lambda: np.copy(x),
        # the copy without allocating: memory bandwidth alone (no page faults on fresh memory)
        "copy into a preallocated array (np.copyto)": lambda: np.copyto(target, x),
    }
    for mode in ("max", "avg"):
        runs[f"poolcli {mode} 2x2x2"] = lambda m=mode: poolcli.pool(
            x, m, kernel_size=(2, 2, 2), **kw
        )
        runs[f"naive numpy {mode} 2x2x2"] = lambda m=mode: naive(x, m)
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return runs
    if threads is not None:
        torch.set_num_threads(threads)

    def torch_run(mode: str) -> np.ndarray:
        t = torch.from_numpy(x)[None, None].float()
        y = F.max_pool3d(t, 2) if mode == "max" else F.avg_pool3d(t, 2)
        return torch.floor(y[0, 0] + 0.5).to(torch.uint8).numpy()

    for mode in ("max", "avg"):
        runs[f"torch {mode}_pool3d (float)"] = lambda m=mode: torch_run(m)
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=512, help="volume side (default 512)")
    ap.add_argument("--rounds", type=int, default=9, help="timed rounds (default 9)")
    ap.add_argument("--threads", type=int, default=None, help="poolcli and torch threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    x = make_volume(args.size, args.seed)
    runs = contenders(x, args.threads)
    for name, fn in runs.items():  # warm-up and agreement
        y = fn()
        if name.startswith("poolcli"):
            want = naive(x, name.split()[1])
            agree = np.array_equal(y, want)
            print(f"{name}: agrees with naive: {agree}", file=sys.stderr)
            if not agree:
                return 1
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    rng = random.Random(args.seed)
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        rng.shuffle(order)
        for name in order:
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    floor = statistics.median(times["copy floor (np.copy)"])
    bandwidth = statistics.median(times["copy into a preallocated array (np.copyto)"])
    rows = [
        {
            "contender": n,
            "median_ms": statistics.median(t) * 1e3,
            "x_copy": statistics.median(t) / floor,
            "x_copyto": statistics.median(t) / bandwidth,
        }
        for n, t in times.items()
    ]
    threads = args.threads or "default"
    print(
        f"## {args.size}^3 uint8, {args.rounds} rounds, medians (threads: {threads},"
        f" {os.cpu_count()} CPUs, load {load:.2f} -> {os.getloadavg()[0]:.2f})\n"
    )
    print("| contender | median ms | x np.copy | x np.copyto |\n|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['contender']} | {r['median_ms']:.1f} | {r['x_copy']:.2f} | {r['x_copyto']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"size": args.size, "rows": rows, "times": times}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
