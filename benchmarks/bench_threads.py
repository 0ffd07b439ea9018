"""``poolcli.pool``'s default thread count against every thread count, image size by size.

Run by hand, never in the test suite (a quiet machine; medians)::

    python benchmarks/bench_threads.py                        # 512..8192, max/avg/median
    python benchmarks/bench_threads.py --sizes 2048 8192 --modes max --rounds 15 --json t.json

What it measures
----------------
* Inputs: uint8 RGB noise of SIZE x SIZE (fixed seed) for each ``--sizes``; ``median`` with a
  3x3 window and stride 2, the other modes (``--modes``: max, avg, median by default; sum, mode
  and lp too) 2x2 (the order statistics cost more per pixel, so
  threads pay off earlier).
* Contenders: ``threads=None`` (the default: :func:`poolcli.core.cpus.threads_for`: one
  thread, and one more per 6 MiB of input times the mode's cost, at most the CPU budget) and
  ``threads=t`` for t = 1, 2, 4, ... up to the budget (and the budget itself).
* Rounds: one warm-up of each, then R rounds; in each round every contender runs once, in a
  freshly shuffled order. The table gives the median milliseconds of each, the best explicit
  count, and ``default / best``: the issue's target is at most 1.10 everywhere.
* Machine load: the idle share of the CPUs in the two seconds before and after (``/proc/stat``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_batch import idle_share  # noqa: E402

import poolcli  # noqa: E402
from poolcli.core import cpus  # noqa: E402
from poolcli.core.modes import MODES  # noqa: E402

WINDOWS = {
    "max": {"kernel_size": 2},
    "avg": {"kernel_size": 2},
    "median": {"kernel_size": 3, "stride": 2},
    "sum": {"kernel_size": 2},
    "mode": {"kernel_size": 2},
    "lp": {"kernel_size": 2},
}


def counts(budget: int) -> list[int]:
    """1, 2, 4, ... below ``budget``, then ``budget``."""
    out, t = [], 1
    while t < budget:
        out.append(t)
        t *= 2
    return [*out, budget]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192])
    ap.add_argument("--modes", nargs="+", choices=sorted(WINDOWS), default=["max", "avg", "median"])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--json", type=Path, help="also write the medians here")
    args = ap.parse_args(argv)

    budget = cpus.budget()
    explicit = counts(budget)
    rng = np.random.default_rng(0)
    print(
        f"CPU budget {budget} (os.cpu_count {os.cpu_count()}), {platform.processor() or '?'}; "
        f"poolcli {poolcli.__version__}, NumPy {np.__version__}; {args.rounds} rounds, medians",
        file=sys.stderr,
    )
    before = idle_share()
    rows = []
    for size in args.sizes:
        x = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        for mode in args.modes:
            kw = WINDOWS[mode]
            default = cpus.threads_for(x.nbytes, cost=MODES[mode].cost)
            runs = {"default": None, **{str(t): t for t in explicit}}
            times: dict[str, list[float]] = {name: [] for name in runs}
            for threads in runs.values():  # warm-up
                poolcli.pool(x, mode, threads=threads, **kw)
            order = list(runs)
            for _ in range(args.rounds):
                random.shuffle(order)
                for name in order:
                    t0 = time.perf_counter()
                    poolcli.pool(x, mode, threads=runs[name], **kw)
                    times[name].append(time.perf_counter() - t0)
            med = {name: statistics.median(v) * 1000 for name, v in times.items()}
            best = min(explicit, key=lambda t: med[str(t)])
            rows.append(
                {
                    "size": size,
                    "mode": mode,
                    "default_threads": default,
                    "ms": med,
                    "best_threads": best,
                    "default_over_best": med["default"] / med[str(best)],
                }
            )
            print(f"  {size} {mode}: done", file=sys.stderr)
        del x
    after = idle_share()

    head = " | ".join(f"t={t} ms" for t in explicit)
    print(f"| image | mode | default (threads) ms | {head} | best | default / best |")
    print("|---|---|---:|" + "---:|" * len(explicit) + "---:|---:|")
    for r in rows:
        cells = " | ".join(f"{r['ms'][str(t)]:.2f}" for t in explicit)
        print(
            f"| {r['size']}x{r['size']}x3 | {r['mode']} | {r['ms']['default']:.2f} "
            f"({r['default_threads']}) | {cells} | {r['best_threads']} | "
            f"{r['default_over_best']:.2f} |"
        )
    worst = max(rows, key=lambda r: r["default_over_best"])
    print(
        f"\nworst default / best: {worst['default_over_best']:.2f} "
        f"({worst['size']}x{worst['size']} {worst['mode']}); target <= 1.10"
    )
    share = " / ".join("?" if v is None else f"{v:.0%}" for v in (before, after))
    print(f"CPUs idle just before / after: {share} (<~95%: other load)")
    if args.json:
        args.json.write_text(json.dumps({"budget": budget, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
