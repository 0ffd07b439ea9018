"""Time two versions of poolcli's core on bench_core.py's cases, alternating in one process.

Run by hand, never in the test suite::

    git worktree add /tmp/before <commit>          # or: git archive <commit> src | tar -x -C DIR
    python benchmarks/bench_versions.py /tmp/before/src src --size 2048 --threads 1 --rounds 31

On a shared machine, runs of ``bench_core.py`` minutes apart see different loads; here both
versions are imported side by side (each ``src/poolcli`` copied under another package name) and
every round times the old and the new one back to back, in alternating order, on the same input.
The outputs are checked to be equal first. The table shows each version's median and the ratio.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("max", 2, "u8x3"),
    ("min", 2, "u8x3"),
    ("avg", 2, "u8x3"),
    ("max", 3, "u8x3"),
    ("median", 2, "u8x3"),
    ("mode", 2, "u8x3"),
    ("max", 2, "u8x1"),
    ("avg", 2, "u8x1"),
    ("max", 2, "u16x1"),
    ("avg", 2, "u16x1"),
    ("max", 2, "f32x3"),
    ("avg", 2, "f32x3"),
]


def load(src: Path, name: str, into: Path):
    """``src/poolcli`` imported as package ``name`` (its own imports renamed)."""
    target = into / name
    shutil.copytree(src / "poolcli", target)
    for path in target.rglob("*.py"):
        text = path.read_text()
        text = re.sub(r"\bpoolcli\.", f"{name}.", text)
        text = re.sub(r"\b(from|import) poolcli\b", rf"\1 {name}", text)
        path.write_text(text)
    return importlib.import_module(f"{name}.core.pool")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path, help="the old version's src folder")
    ap.add_argument("new", type=Path, help="the new version's src folder")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=31)
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp())
    sys.path.insert(0, str(tmp))
    old, new = load(args.old, "pool_old", tmp), load(args.new, "pool_new", tmp)
    rng = np.random.default_rng(0)
    photo = Image.open(ROOT / "sample_images" / "astronaut.png").convert("RGB")
    rgb = np.asarray(photo.resize((args.size, args.size), Image.Resampling.BICUBIC))
    rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
    inputs = {
        "u8x3": rgb,
        "u8x1": np.ascontiguousarray(rgb[..., 0]),
        "u16x1": rgb[..., 0].astype(np.uint16) * 257,
        "f32x3": rgb.astype(np.float32) / 255,
    }
    print(f"{args.size}x{args.size}, threads {args.threads}, {args.rounds} alternating pairs\n")
    print("| case | old ms | new ms | new/old |\n|---|---:|---:|---:|")
    for mode, k, variant in CASES:
        x = inputs[variant]

        def run(m, mode=mode, k=k, x=x):
            return m.pool(x, mode, kernel_size=k, stride=2, threads=args.threads)

        if not np.array_equal(run(old), run(new), equal_nan=True):
            print(f"{mode} {variant}: the versions disagree", file=sys.stderr)
            return 1
        times: dict[str, list[float]] = {"old": [], "new": []}
        for r in range(args.rounds):
            pair = [("old", old), ("new", new)]
            for label, m in pair if r % 2 else pair[::-1]:
                t0 = time.perf_counter()
                run(m)
                times[label].append(time.perf_counter() - t0)
        a, b = (statistics.median(times[v]) * 1e3 for v in ("old", "new"))
        print(f"| {mode} {k}x{k}/s2 {variant} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
