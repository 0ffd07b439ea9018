"""Whole runs, process by process: ``poolcli`` against pyvips and a plain Pillow script.

Run by hand, never in the test suite, from a venv that has pyvips, pyvips-binary and poolcli
(``pip install -e .`` brings ISA-L for the PNG writer and imagecodecs for the PNG and JPEG
decoders; with ``POOLCLI_FAST=0`` poolcli decodes with Pillow and deflates with zlib)::

    python benchmarks/bench_e2e.py                     # 7 rounds; markdown tables on stdout
    python benchmarks/bench_e2e.py --rounds 11 --json e2e.json
    python benchmarks/bench_e2e.py --levels            # only the PNG level survey

What it measures
----------------
* Inputs (made once in ``--workdir``): ``sample_images/astronaut.png`` upscaled (bicubic) to
  4096x4096 plus mild Gaussian noise (sigma 3, fixed seed), saved as ``big.png`` (Pillow's
  defaults) and ``big.jpg`` (quality 90); and the same at 8192x8192 (``huge.png``) for memory.
* Jobs: 2x2 max and avg pooling, stride 2, of the PNG, and max of the JPEG, always written as
  PNG (exact pixels, comparable sizes). Each contender is a fresh process:

  - ``poolcli``: ``poolcli max big.png --stride 2 -o out.png --force -q``;
  - ``pyvips``: max by ``rank`` (aligned so the windows are poolcli's) + ``subsample``, avg by
    ``shrink`` in float rounded half up (libvips' integer ``shrink`` rounds twice), PNG saved
    with libvips' defaults;
  - ``pillow``: ``Image.open`` -> ``np.asarray`` -> reshape + max / exact mean ->
    ``Image.fromarray`` -> ``save`` (Pillow's defaults, level 6).
* Rounds: one untimed warm-up, then R rounds; each round runs every (job, contender) once, in a
  freshly shuffled order. Wall time is the child's, from spawn to exit (``time.perf_counter``
  around it); peak memory is the child's maximum RSS (GNU ``/usr/bin/time -f %M``).
  Tables give medians.
* Exactness: every output is decoded (Pillow, and pyvips and imagecodecs when installed) and
  compared with ``poolcli.pool`` of the decoded input.
* poolcli's bytecode is compiled before any timing (``compileall``), as ``pip install`` does
  for a regular install: an editable install under ``PYTHONDONTWRITEBYTECODE=1`` would
  otherwise compile poolcli's modules in every run (~0.1 s), while Typer's and pyvips's were
  compiled when they were installed.
* ``--help``/``--version``: ``poolcli --help``, ``poolcli --version`` and
  ``python -c "import typer"`` alternate, R*3 rounds.
* Memory: ``poolcli max huge.png --stride 2`` against a budget of the interpreter's own peak
  (a process that imports everything poolcli imports, and nothing else) plus 1.3 x (decoded
  input + output) bytes.
* ``--levels``: encode time and size of the pooled photo at each PNG level with
  :mod:`poolcli.io.pngwrite` (with and without ISA-L) and Pillow: the data behind the default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "sample_images" / "astronaut.png"
PY = sys.executable
TIME = "/usr/bin/time"  # GNU time, for the peak RSS of each child
MB = 1e6

VIPS_JOB = """
import sys
import pyvips
src, dst, op = sys.argv[1:4]
im = pyvips.Image.new_from_file(src, access="sequential")
w, h = im.width, im.height
if op == "max":
    # rank's 2x2 window at (x, y) covers x-1..x: pad one copied row/column, keep the odd ones
    out = im.embed(0, 0, w + 1, h + 1, extend="copy").rank(2, 2, 3).crop(1, 1, w, h)
    out = out.subsample(2, 2)
else:
    out = (im.cast("float").shrink(2, 2) + 0.5).floor().cast("uchar")
out.write_to_file(dst)
"""

PILLOW_JOB = """
import sys
import numpy as np
from PIL import Image
src, dst, op = sys.argv[1:4]
a = np.asarray(Image.open(src))
h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
blocks = a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1)
if op == "max":
    out = blocks.max(axis=(1, 3))
else:
    out = ((blocks.sum(axis=(1, 3), dtype=np.uint16) + 2) // 4).astype(np.uint8)
Image.fromarray(out).save(dst)
"""


# --------------------------------------------------------------------------------------------
# Inputs


def make_inputs(workdir: Path, size: int, *, huge: bool) -> None:
    rng = np.random.default_rng(0)

    def photo(n: int) -> np.ndarray:
        big = Image.open(PHOTO).convert("RGB").resize((n, n), Image.Resampling.BICUBIC)
        a = np.asarray(big).astype(np.int16)
        return np.clip(a + rng.normal(0, 3, a.shape).round(), 0, 255).astype(np.uint8)

    if not (workdir / "big.png").exists():
        im = Image.fromarray(photo(size))
        im.save(workdir / "big.png")
        im.save(workdir / "big.jpg", quality=90)
    if huge and not (workdir / "huge.png").exists():
        from poolcli.io import pngwrite  # Pillow's level 6 would take half a minute here

        data = pngwrite.encode_png(Image.fromarray(photo(2 * size)), compress_level=1)
        (workdir / "huge.png").write_bytes(data)


# --------------------------------------------------------------------------------------------
# Running one process


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; raises if it fails.

    The child runs under ``/usr/bin/time``: a child forked straight from this (large) process
    would report this process's RSS as its own peak (Linux carries ``ru_maxrss`` over a fork).
    """
    report = cwd / ".maxrss"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [TIME, "-f", "%M", "-o", str(report), *cmd],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        err = proc.stderr.decode().strip()
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err}")
    kb = int(report.read_text().split()[-1])
    return wall, kb * 1024 / MB


def poolcli_exe() -> str:
    exe = Path(PY).with_name("poolcli")
    return str(exe) if exe.exists() else shutil.which("poolcli") or "poolcli"


def jobs(workdir: Path) -> dict[str, dict[str, list[str]]]:
    (workdir / "vips_job.py").write_text(VIPS_JOB)
    (workdir / "pillow_job.py").write_text(PILLOW_JOB)
    pc = poolcli_exe()
    out: dict[str, dict[str, list[str]]] = {}
    for job, src, op in [
        ("max png", "big.png", "max"),
        ("avg png", "big.png", "avg"),
        ("max jpg", "big.jpg", "max"),
    ]:
        tag = job.replace(" ", "_")
        out[job] = {
            "poolcli": [pc, op, src, "--stride", "2", "-o", f"{tag}_poolcli.png", "--force", "-q"],
            "pyvips": [PY, "vips_job.py", src, f"{tag}_pyvips.png", op],
            "pillow": [PY, "pillow_job.py", src, f"{tag}_pillow.png", op],
        }
    return out


def exact(workdir: Path, job: str, tool: str) -> bool:
    """Whether the output decodes, in Pillow and every other PNG reader installed (libvips'
    libspng, imagecodecs' libpng), to exactly ``poolcli.pool`` of the decoded input."""
    import poolcli

    op, ext = job.split()
    src = np.asarray(Image.open(workdir / f"big.{ext}").convert("RGB"))
    want = poolcli.pool(src, op, kernel_size=2)
    out = workdir / f"{job.replace(' ', '_')}_{tool}.png"
    with Image.open(out) as im:
        decoded = [np.asarray(im)]
    decoded += [reader(out) for reader in other_readers()]
    return all(a.shape == want.shape and np.array_equal(a, want) for a in decoded)


def other_readers() -> list:
    readers = []
    try:
        import pyvips

        readers.append(lambda p: pyvips.Image.new_from_file(str(p)).numpy())
    except (ImportError, OSError):
        pass
    try:
        import imagecodecs

        readers.append(lambda p: imagecodecs.png_decode(p.read_bytes()))
    except ImportError:
        pass
    return readers


# --------------------------------------------------------------------------------------------
# The parts of the benchmark


def bench_jobs(workdir: Path, rounds: int, rng: random.Random) -> list[dict]:
    table = jobs(workdir)
    pairs = [(job, tool) for job, tools in table.items() for tool in tools]
    times: dict[tuple[str, str], list[tuple[float, float]]] = {p: [] for p in pairs}
    for r in range(rounds + 1):  # round 0 is the warm-up
        rng.shuffle(pairs)
        for job, tool in pairs:
            res = run(table[job][tool], workdir)
            if r:
                times[job, tool].append(res)
        progress(f"round {r}/{rounds}")
    rows = []
    for job, tools in table.items():
        vips = statistics.median(t for t, _ in times[job, "pyvips"])
        for tool in tools:
            walls = [t for t, _ in times[job, tool]]
            wall = statistics.median(walls)
            rows.append(
                {
                    "job": job,
                    "tool": tool,
                    "wall_s": wall,
                    "wall_vs_pyvips": wall / vips,
                    "walls": walls,
                    "peak_mb": statistics.median(m for _, m in times[job, tool]),
                    "out_mb": (workdir / f"{job.replace(' ', '_')}_{tool}.png").stat().st_size / MB,
                    "exact": exact(workdir, job, tool),
                }
            )
    return rows


def bench_startup(workdir: Path, rounds: int, rng: random.Random) -> list[dict]:
    pc = poolcli_exe()
    cmds = {
        'python -c "import typer"': [PY, "-c", "import typer"],
        "poolcli --help": [pc, "--help"],
        "poolcli --version": [pc, "--version"],
    }
    names = list(cmds)
    walls: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds + 1):
        rng.shuffle(names)
        for n in names:
            t, _ = run(cmds[n], workdir)
            if r:
                walls[n].append(t)
    base = statistics.median(walls['python -c "import typer"'])
    return [
        {"command": n, "wall_s": statistics.median(w), "vs_typer": statistics.median(w) / base}
        for n, w in walls.items()
    ]


def bench_memory(workdir: Path, size: int, rounds: int) -> dict:
    src = workdir / "huge.png"
    pc = poolcli_exe()
    # The interpreter's own: everything a pooling run imports, no image.
    imports = (
        "import numpy, PIL.Image, PIL.PngImagePlugin, poolcli.cli, poolcli.io.reading,"
        " poolcli.io.pooling, poolcli.io.writing"
    )
    base = statistics.median(run([PY, "-c", imports], workdir)[1] for _ in range(3))
    peaks = {}
    for tool, cmd in {
        "poolcli": [pc, "max", src.name, "-s", "2", "-o", "huge_poolcli.png", "--force", "-q"],
        "pyvips": [PY, "vips_job.py", src.name, "huge_pyvips.png", "max"],
        "pillow": [PY, "pillow_job.py", src.name, "huge_pillow.png", "max"],
    }.items():
        runs = [run(cmd, workdir) for _ in range(rounds)]
        peaks[tool] = {
            "wall_s": statistics.median(t for t, _ in runs),
            "peak_mb": statistics.median(m for _, m in runs),
        }
    n = 2 * size
    data_mb = (n * n * 3 + (n // 2) * (n // 2) * 3) / MB
    budget = base + 1.3 * data_mb
    return {
        "image": f"{n}x{n} RGB",
        "interpreter_mb": base,
        "data_mb": data_mb,
        "budget_mb": budget,
        "tools": peaks,
        "poolcli_ratio_over_interpreter": (peaks["poolcli"]["peak_mb"] - base) / data_mb,
        "exact": _exact_file(src, workdir / "huge_poolcli.png"),
    }


def _exact_file(src: Path, out: Path) -> bool:
    import poolcli

    with Image.open(src) as a, Image.open(out) as b:
        return bool(np.array_equal(np.asarray(b), poolcli.pool(np.asarray(a), "max")))


def bench_levels(workdir: Path, rounds: int) -> list[dict]:
    """Encode time and size of the max-pooled photo at every level, in this process."""
    import io

    import poolcli
    from poolcli.io import pngwrite

    with Image.open(workdir / "big.png") as im:
        image = Image.fromarray(poolcli.pool(np.asarray(im), "max"))

    def timed(fn) -> tuple[float, int]:
        ts, size = [], 0
        for _ in range(rounds):
            t = time.perf_counter()
            size = len(fn())
            ts.append(time.perf_counter() - t)
        return statistics.median(ts), size

    def pillow(level: int) -> bytes:
        buf = io.BytesIO()
        image.save(buf, "PNG", compress_level=level)
        return buf.getvalue()

    isal = pngwrite._isal
    rows = []
    for level in range(10):
        row: dict = {"level": level}
        row["pillow_s"], row["pillow_bytes"] = timed(lambda level=level: pillow(level))
        try:
            pngwrite._isal = None
            row["zlib_s"], row["zlib_bytes"] = timed(
                lambda level=level: pngwrite.encode_png(image, compress_level=level)
            )
        finally:
            pngwrite._isal = isal
        if isal is not None and 1 <= level <= 3:
            row["isal_s"], row["isal_bytes"] = timed(
                lambda level=level: pngwrite.encode_png(image, compress_level=level)
            )
        rows.append(row)
        progress(f"level {level}")
    return rows


# --------------------------------------------------------------------------------------------
# Output


def progress(text: str) -> None:
    if not QUIET:
        print(text, file=sys.stderr, flush=True)


def print_tables(res: dict) -> None:
    if "jobs" in res:
        print("| job | tool | wall s (median) | vs pyvips | peak RSS MB | output MB | exact |")
        print("|---|---|---:|---:|---:|---:|---|")
        for r in res["jobs"]:
            print(
                f"| {r['job']} | {r['tool']} | {r['wall_s']:.3f} | {r['wall_vs_pyvips']:.2f}x"
                f" | {r['peak_mb']:.0f} | {r['out_mb']:.2f} | {'yes' if r['exact'] else 'NO'} |"
            )
        print()
    if "startup" in res:
        print('| command | wall s (median) | vs `python -c "import typer"` |')
        print("|---|---:|---:|")
        for r in res["startup"]:
            print(f"| `{r['command']}` | {r['wall_s']:.3f} | {r['vs_typer']:.2f}x |")
        print()
    if "memory" in res:
        m = res["memory"]
        print(
            f"Memory, {m['image']} max 2x2 to PNG: interpreter alone {m['interpreter_mb']:.0f} MB,"
            f" decoded input + output {m['data_mb']:.0f} MB, budget"
            f" {m['interpreter_mb']:.0f} + 1.3 x {m['data_mb']:.0f} = {m['budget_mb']:.0f} MB;"
            f" poolcli uses interpreter + {m['poolcli_ratio_over_interpreter']:.2f} x data;"
            f" exact: {'yes' if m['exact'] else 'NO'}"
        )
        print()
        print("| tool | wall s (median) | peak RSS MB |")
        print("|---|---:|---:|")
        for tool, t in m["tools"].items():
            print(f"| {tool} | {t['wall_s']:.2f} | {t['peak_mb']:.0f} |")
        print()
    if "levels" in res:
        print("| level | Pillow s | Pillow MB | pngwrite+zlib s | MB | pngwrite+ISA-L s | MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for r in res["levels"]:
            isal = f"{r['isal_s']:.3f} | {r['isal_bytes'] / MB:.2f}" if "isal_s" in r else "| "
            print(
                f"| {r['level']} | {r['pillow_s']:.3f} | {r['pillow_bytes'] / MB:.2f}"
                f" | {r['zlib_s']:.3f} | {r['zlib_bytes'] / MB:.2f} | {isal} |"
            )
        print()


QUIET = False


def main() -> None:
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    ap.add_argument("--size", type=int, default=4096, help="input side (default 4096)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/poolcli-bench-e2e"))
    ap.add_argument("--levels", action="store_true", help="only the PNG level survey")
    ap.add_argument("--no-memory", action="store_true", help="skip the 2*SIZE memory check")
    ap.add_argument("--json", type=Path, help="also write everything measured as JSON")
    ap.add_argument("--seed", type=int, default=0, help="run-order seed")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    QUIET = args.quiet
    args.workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    progress(f"inputs in {args.workdir}")
    make_inputs(args.workdir, args.size, huge=not (args.levels or args.no_memory))
    from poolcli.io import pngwrite

    res: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "png_backend": pngwrite.BACKEND,
        },
        "rounds": args.rounds,
    }
    if not args.levels:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_batch import compile_bytecode

        compile_bytecode()
        res["jobs"] = bench_jobs(args.workdir, args.rounds, rng)
        res["startup"] = bench_startup(args.workdir, 3 * args.rounds, rng)
        if not args.no_memory:
            progress("memory")
            res["memory"] = bench_memory(args.workdir, args.size, 3)
    res["levels"] = bench_levels(args.workdir, args.rounds if args.levels else 3)
    print(
        f"{res['machine']['cpus']} CPUs, Python {res['machine']['python']}, "
        f"pngwrite backend {res['machine']['png_backend']}, {args.rounds} rounds\n"
    )
    print_tables(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
