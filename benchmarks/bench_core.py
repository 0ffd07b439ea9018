"""Time poolcli.pool against a memory-copy floor, naive NumPy and the peer libraries installed.

Run by hand, never in the test suite (see README.md beside this file)::

    python benchmarks/bench_core.py                 # 15 rounds, markdown table on stdout
    python benchmarks/bench_core.py --rounds 5 --size 1024 --cases max --json out.json

Method
------
* Input: ``sample_images/astronaut.png`` upscaled (bicubic) to SIZE x SIZE plus Gaussian noise
  (fixed seed), as uint8 RGB; the other variants are derived from it (grey, 16-bit, float).
* Every contender must deliver what ``poolcli.pool`` delivers: a C-contiguous array of the input's
  dtype and layout ``(H', W'[, C])``. Conversions a peer needs (to a tensor, to float and back, to a
  Pillow image, packing RGB into one label, the copy out of a strided view) are inside its timing.
* Before timing, each contender runs once (warm-up) and its output is compared with poolcli's
  (or, without poolcli, with the naive NumPy one): the ``agrees`` column.
* R rounds; in each round every (case, contender) pair, the copy floor included, runs once, in a
  freshly shuffled order, each run after a pass over a buffer larger than the last-level cache
  (so no run finds its input warm from the one before; ``--no-flush`` turns that off). The table
  shows the median per contender and its ratio to the median of the copy floor (``np.copyto`` of
  the input into a preallocated array) of the same case.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "sample_images" / "astronaut.png"

Fn = Callable[[], "np.ndarray | None"]


def _optional(name: str):
    """Import a peer module, or return None if it is not installed (or fails to import)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


poolcli = _optional("poolcli")
POOL = None
if poolcli is not None:
    try:
        POOL = poolcli.pool  # poolcli.core may not exist yet
    except (ImportError, AttributeError):
        POOL = None
cv2 = _optional("cv2")
torch = _optional("torch")
pyvips = _optional("pyvips")
skimage_measure = _optional("skimage.measure")
scipy_stats = _optional("scipy.stats")
ImageFilter = _optional("PIL.ImageFilter")


# ----------------------------------------------------------------------------------------------
# Inputs and cases


def make_inputs(size: int, seed: int) -> dict[str, np.ndarray]:
    """The benchmark images: a real photo, upscaled, plus noise, in four dtype/channel variants."""
    rng = np.random.default_rng(seed)
    photo = Image.open(PHOTO).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    rgb = np.asarray(photo, dtype=np.float32) + rng.normal(0.0, 6.0, (size, size, 3))
    u8x3 = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    grey = (u8x3 @ np.array([299, 587, 114])) // 1000  # ITU-R 601 luma, integer
    u8x1 = grey.astype(np.uint8)
    u16x1 = (grey * 256 + rng.integers(0, 256, grey.shape)).astype(np.uint16)
    f32x3 = (u8x3.astype(np.float32) / 255.0 + rng.normal(0.0, 1e-3, u8x3.shape)).astype(np.float32)
    return {"u8x3": u8x3, "u8x1": u8x1, "u16x1": u16x1, "f32x3": f32x3}


@dataclass(frozen=True)
class Case:
    mode: str
    kernel: int
    stride: int
    variant: str

    @property
    def name(self) -> str:
        return f"{self.mode} {self.kernel}x{self.kernel}/s{self.stride} {self.variant}"


CASES = [
    Case("max", 2, 2, "u8x3"),
    Case("min", 2, 2, "u8x3"),
    Case("avg", 2, 2, "u8x3"),
    Case("max", 3, 2, "u8x3"),
    Case("median", 2, 2, "u8x3"),
    Case("mode", 2, 2, "u8x3"),
    Case("max", 2, 2, "u8x1"),
    Case("avg", 2, 2, "u8x1"),
    Case("max", 2, 2, "u16x1"),
    Case("avg", 2, 2, "u16x1"),
    Case("max", 2, 2, "f32x3"),
    Case("avg", 2, 2, "f32x3"),
]


def out_hw(n: int, k: int, s: int) -> int:
    return (n - k) // s + 1


# ----------------------------------------------------------------------------------------------
# Shared helpers


def to_dtype(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a float result to `dtype`, integers rounded half up (SPEC rounding)."""
    if np.issubdtype(dtype, np.integer):
        return np.floor(y + 0.5).astype(dtype)
    return y.astype(dtype, copy=False)


def blocks(x: np.ndarray, k: int) -> np.ndarray:
    """View of non-overlapping k x k windows: (oh, k, ow, k[, C]); needs H, W divisible by k."""
    h, w = x.shape[:2]
    return x.reshape(h // k, k, w // k, k, *x.shape[2:])


def pack_labels(x: np.ndarray) -> np.ndarray:
    """One uint32 label per pixel, first channel most significant (lexicographic order)."""
    if x.ndim == 2:
        return x.astype(np.uint32)
    label = np.zeros(x.shape[:2], np.uint32)
    for c in range(x.shape[2]):
        label <<= 8
        label |= x[..., c]
    return label


def unpack_labels(label: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.ndim == 2:
        return label.astype(like.dtype)
    c = like.shape[2]
    shifts = np.arange(c - 1, -1, -1, dtype=np.uint32) * 8
    return ((label[..., None] >> shifts) & 0xFF).astype(like.dtype)


def windows_flat(label: np.ndarray, k: int) -> np.ndarray:
    """(oh, ow, k*k) copy of the k x k non-overlapping windows of a 2-D array."""
    oh, ow = label.shape[0] // k, label.shape[1] // k
    return blocks(label, k).transpose(0, 2, 1, 3).reshape(oh, ow, k * k)


# ----------------------------------------------------------------------------------------------
# Contenders. Each builder returns [(name, fn)] for the peers that apply to the case.


def naive(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    k, s, m = case.kernel, case.stride, case.mode
    if k != s:
        if m not in ("max", "min"):
            return []
        red = np.max if m == "max" else np.min
        sw = np.lib.stride_tricks.sliding_window_view

        def overlapping() -> np.ndarray:
            win = sw(x, (k, k), axis=(0, 1))[::s, ::s]
            return red(win, axis=(-2, -1))

        return [("numpy sliding_window_view", overlapping)]
    if m in ("max", "min"):
        red = np.max if m == "max" else np.min
        return [("numpy reshape", lambda: red(blocks(x, k), axis=(1, 3)))]
    if m == "avg":
        return [("numpy reshape", lambda: to_dtype(blocks(x, k).mean(axis=(1, 3)), x.dtype))]
    if m == "median":
        return [("numpy median", lambda: to_dtype(np.median(blocks(x, k), axis=(1, 3)), x.dtype))]
    if m == "mode":

        def mode() -> np.ndarray:
            win = np.sort(windows_flat(pack_labels(x), k), axis=-1)
            counts = (win[..., :, None] == win[..., None, :]).sum(axis=-1)
            best = counts.argmax(axis=-1)  # first maximum = smallest label, as win is sorted
            label = np.take_along_axis(win, best[..., None], axis=-1)[..., 0]
            return unpack_labels(label, x)

        return [("numpy sort+count", mode)]
    return []


def skimage_peers(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    if skimage_measure is None or case.kernel != case.stride:
        return []
    funcs = {"max": np.max, "min": np.min, "avg": np.mean, "median": np.median}
    if case.mode not in funcs:
        return []
    func, k = funcs[case.mode], case.kernel
    block = (k, k) + (1,) * (x.ndim - 2)

    def run() -> np.ndarray:
        y = skimage_measure.block_reduce(x, block, func)
        return to_dtype(y, x.dtype) if y.dtype != x.dtype else y

    return [(f"skimage block_reduce(np.{func.__name__})", run)]


def scipy_peers(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    if scipy_stats is None or case.mode != "mode" or case.kernel != case.stride:
        return []
    k = case.kernel

    def run() -> np.ndarray:
        res = scipy_stats.mode(windows_flat(pack_labels(x), k), axis=-1)
        return unpack_labels(np.asarray(res.mode, dtype=np.uint32), x)

    return [("scipy.stats.mode", run)]


def torch_peers(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    if torch is None:
        return []
    F = torch.nn.functional
    k, s, m = case.kernel, case.stride, case.mode
    unsigned = x.dtype.kind == "u"
    # torch 2.x CPU pools do not take uint16, and avg_pool2d takes no integers at all.
    pool_dtype = {np.dtype(np.uint16): torch.int32}.get(x.dtype)

    def to_nchw(a: np.ndarray = x) -> torch.Tensor:
        t = torch.from_numpy(a)  # zero copy; (H, W, C) -> (1, C, H, W) with channels-last strides
        t = t[None, None] if a.ndim == 2 else t.permute(2, 0, 1)[None]
        return t if pool_dtype is None else t.to(pool_dtype)

    def to_numpy(t: torch.Tensor) -> np.ndarray:
        t = t[0, 0] if x.ndim == 2 else t[0].permute(1, 2, 0)
        return np.ascontiguousarray(t.numpy()).astype(x.dtype, copy=False)

    if m == "max":
        return [("torch max_pool2d", lambda: to_numpy(F.max_pool2d(to_nchw(), k, s)))]
    if m == "min":
        if unsigned and pool_dtype is None:
            # min = ~max(~x) (~v = 255 - v stays in range). The inversions run in NumPy: torch's
            # own ~t is flagged channels_last, and torch 2.13's channels-last max_pool2d rejects
            # 8-bit tensors with more than 127 pixels (see README.md).
            def min_u8() -> np.ndarray:
                return np.invert(to_numpy(F.max_pool2d(to_nchw(np.invert(x)), k, s)))

            return [("torch ~max_pool2d(~x)", min_u8)]
        return [("torch -max_pool2d(-x)", lambda: to_numpy(-F.max_pool2d(-to_nchw(), k, s)))]
    if m == "avg":
        if x.dtype.kind == "f":
            return [("torch avg_pool2d", lambda: to_numpy(F.avg_pool2d(to_nchw(), k, s)))]

        def avg_int() -> np.ndarray:
            y = F.avg_pool2d(to_nchw().to(torch.float32), k, s)
            return to_numpy(y.add_(0.5).floor_())  # exact for k*k*max < 2**24

        return [("torch avg_pool2d(float32)", avg_int)]
    if k != s:
        return []
    if m in ("median", "mode"):

        def windows() -> torch.Tensor:
            src = pack_labels(x) if m == "mode" else x
            t = torch.from_numpy(src.astype(np.int32) if m == "mode" else src)
            t = t.unfold(0, k, k).unfold(1, k, k)  # (oh, ow[, C], k, k)
            return t.reshape(*t.shape[:-2], k * k)

        if m == "median":
            if k * k % 2:
                return []

            def median() -> np.ndarray:
                v = windows().to(torch.int32).sort(dim=-1).values
                mid = k * k // 2
                y = (v[..., mid - 1] + v[..., mid] + 1) // 2  # mean of the middle two, ties up
                return np.ascontiguousarray(y.numpy()).astype(x.dtype)

            return [("torch unfold+sort", median)]

        def mode() -> np.ndarray:
            label = torch.mode(windows(), dim=-1).values
            return unpack_labels(label.numpy().astype(np.uint32), x)

        return [("torch unfold+mode", mode)]
    return []


def cv2_peers(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    if cv2 is None:
        return []
    k, s, m = case.kernel, case.stride, case.mode
    h, w = x.shape[:2]
    oh, ow = out_hw(h, k, s), out_hw(w, k, s)
    if m in ("max", "min"):
        morph = cv2.dilate if m == "max" else cv2.erode
        kernel = np.ones((k, k), np.uint8)
        # anchor (0, 0): dst[y, x] is the extreme of src[y:y+k, x:x+k], the window at (y, x).
        return [
            (
                f"cv2.{morph.__name__}+slice",
                lambda: np.ascontiguousarray(
                    morph(x, kernel, anchor=(0, 0))[: oh * s : s, : ow * s : s]
                ),
            )
        ]
    if m == "avg" and k == s:
        return [
            ("cv2.resize INTER_AREA", lambda: cv2.resize(x, (ow, oh), interpolation=cv2.INTER_AREA))
        ]
    return []


def pillow_peers(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    k, s, m = case.kernel, case.stride, case.mode
    if x.dtype != np.uint8 or not (x.ndim == 2 or x.shape[2] in (3, 4)):
        return []  # Pillow holds no multi-band float or 16-bit image; reduce/filters reject I;16
    if m == "avg" and k == s:
        return [("PIL Image.reduce", lambda: np.asarray(Image.fromarray(x).reduce(k)))]
    if m in ("max", "min") and k % 2 == 1 and ImageFilter is not None:
        rank = ImageFilter.MaxFilter if m == "max" else ImageFilter.MinFilter
        h, w = x.shape[:2]
        oh, ow, c = out_hw(h, k, s), out_hw(w, k, s), k // 2
        # the centred filter at (y + c, x + c) covers the window that starts at (y, x)

        def run() -> np.ndarray:
            y = np.asarray(Image.fromarray(x).filter(rank(k)))
            return np.ascontiguousarray(y[c : c + oh * s : s, c : c + ow * s : s])

        return [(f"PIL {rank.__name__}+slice", run)]
    return []


VIPS_FORMAT = {"uint8": "uchar", "uint16": "ushort", "float32": "float"}


def pyvips_peers(case: Case, x: np.ndarray) -> list[tuple[str, Fn]]:
    if pyvips is None or x.dtype.name not in VIPS_FORMAT:
        return []
    k, s, m = case.kernel, case.stride, case.mode
    h, w = x.shape[:2]
    bands = 1 if x.ndim == 2 else x.shape[2]
    oh, ow = out_hw(h, k, s), out_hw(w, k, s)

    def load():
        return pyvips.Image.new_from_memory(x.data, w, h, bands, VIPS_FORMAT[x.dtype.name])

    def finish(img) -> np.ndarray:
        y = np.frombuffer(img.write_to_memory(), x.dtype)  # write_to_memory runs the pipeline
        return y.reshape(oh, ow) if x.ndim == 2 else y.reshape(oh, ow, bands)

    if m == "avg" and k == s:
        return [("pyvips shrink", lambda: finish(load().shrink(k, k)))]
    if m in ("max", "min"):
        index = k * k - 1 if m == "max" else 0
        # vips rank puts the window's pixel (k // 2, k // 2) at the output pixel (y, x).
        c = k // 2

        def run() -> np.ndarray:
            r = load().rank(k, k, index)
            r = r.embed(0, 0, w + s, h + s, extend="copy")  # room so the last window fits
            return finish(r.crop(c, c, ow * s, oh * s).subsample(s, s))

        return [("pyvips rank+subsample", run)]
    return []


def poolcli_contender(case: Case, x: np.ndarray, threads: int | None) -> list[tuple[str, Fn]]:
    if POOL is None:
        return []
    kw = {} if threads is None else {"threads": threads}
    return [
        (
            "poolcli.pool",
            lambda: POOL(x, case.mode, kernel_size=case.kernel, stride=case.stride, **kw),
        )
    ]


PEERS = [naive, skimage_peers, scipy_peers, torch_peers, cv2_peers, pillow_peers, pyvips_peers]


# ----------------------------------------------------------------------------------------------
# Running


@dataclass
class Entry:
    case: Case
    contender: str
    fn: Fn
    times: list[float] = field(default_factory=list)
    agrees: str = ""


def compare(y: np.ndarray | None, ref: np.ndarray | None) -> str:
    """How far `y` is from the reference output, in a few words."""
    if y is None or ref is None:
        return "-"
    y = np.asarray(y)
    if y.shape != ref.shape:
        return f"shape {y.shape} != {ref.shape}"
    notes = [] if y.dtype == ref.dtype else [f"dtype {y.dtype}"]
    if ref.dtype.kind == "f":
        diff = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    else:
        diff = np.abs(y.astype(np.int64) - ref.astype(np.int64))
    bad = int(np.count_nonzero(diff))
    if not bad:
        return "; ".join(notes + ["exact"])
    worst = diff.max()
    worst_s = f"{worst:.2g}" if ref.dtype.kind == "f" else str(int(worst))
    notes.append(f"max|d|={worst_s} at {100 * bad / diff.size:.3g}%")
    return "; ".join(notes)


def build(cases: list[Case], inputs: dict[str, np.ndarray], threads, only) -> list[Entry]:
    entries = []
    for case in cases:
        x = inputs[case.variant]
        floor = np.empty_like(x)
        found: list[tuple[str, Fn]] = [("copy floor", lambda x=x, f=floor: np.copyto(f, x))]
        found += poolcli_contender(case, x, threads)
        for peer in PEERS:
            found += peer(case, x)
        for name, fn in found:
            if name == "copy floor" or not only or any(o in name for o in only):
                entries.append(Entry(case, name, fn))
    return entries


def check(entries: list[Entry], log) -> None:
    """Run each contender once (warm-up) and compare with poolcli, else with naive NumPy."""
    refs: dict[Case, tuple[str, np.ndarray]] = {}
    by_case: dict[Case, list[Entry]] = {}
    for e in entries:
        by_case.setdefault(e.case, []).append(e)
    for case, group in by_case.items():
        outs = {}
        for e in group:
            t0 = time.perf_counter()
            try:
                outs[e.contender] = e.fn()
            except Exception as exc:  # a peer that fails is reported, not fatal
                outs[e.contender] = None
                e.agrees = f"ERROR {type(exc).__name__}: {str(exc).splitlines()[0][:60]}"
            log(f"  warm-up {case.name:<24} {e.contender:<38} {time.perf_counter() - t0:8.3f} s")
        ref_name = "poolcli.pool" if outs.get("poolcli.pool") is not None else None
        if ref_name is None:
            ref_name = next(
                (n for n in outs if n.startswith("numpy") and outs[n] is not None), None
            )
        ref = outs.get(ref_name) if ref_name else None
        refs[case] = (ref_name, ref)
        for e in group:
            if not e.agrees:
                e.agrees = (
                    "(reference)" if e.contender == ref_name else compare(outs[e.contender], ref)
                )
        del outs
        gc.collect()


def evict_caches(scratch: np.ndarray) -> None:
    """Read and write a buffer larger than the last-level cache, so every run starts cold."""
    np.add(scratch, 1, out=scratch)


def run_rounds(entries: list[Entry], rounds: int, seed: int, flush: bool, log) -> None:
    live = [e for e in entries if not e.agrees.startswith("ERROR")]
    order = random.Random(seed)
    scratch = np.zeros(max(4 * last_level_cache(), 64 << 20), np.uint8) if flush else None
    for r in range(rounds):
        order.shuffle(live)
        gc.collect()
        t_round = time.perf_counter()
        for e in live:
            if scratch is not None:
                evict_caches(scratch)
            t0 = time.perf_counter()
            out = e.fn()
            e.times.append(time.perf_counter() - t0)
            del out
        log(f"  round {r + 1}/{rounds}: {time.perf_counter() - t_round:.1f} s")


# ----------------------------------------------------------------------------------------------
# Reporting


def last_level_cache() -> int:
    """Size in bytes of the largest CPU cache Linux reports (0 if unknown)."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip()
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes, default=0)


def machine_info(threads: int | None, flush: bool) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores (os.cpu_count)": os.cpu_count(),
        "last-level cache": f"{last_level_cache() >> 20} MiB"
        + (" (evicted before every timed run)" if flush else " (not evicted: --no-flush)"),
        "cores usable (affinity)": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy threads": "1 (these NumPy reductions are single-threaded)",
        "pillow": Image.__version__,
        "poolcli": getattr(poolcli, "__version__", None) if POOL is not None else "not importable",
        "poolcli threads": "default (threads=None: CPU count, one for small inputs)"
        if threads is None
        else threads,
    }
    if skimage_measure is not None:
        import skimage

        info["scikit-image"] = skimage.__version__
    if scipy_stats is not None:
        import scipy

        info["scipy"] = scipy.__version__
    if torch is not None:
        info["torch"] = f"{torch.__version__} (threads {torch.get_num_threads()})"
    if cv2 is not None:
        info["opencv"] = f"{cv2.__version__} (threads {cv2.getNumThreads()})"
    if pyvips is not None:
        info["pyvips"] = (
            f"{pyvips.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}."
            f"{pyvips.version(2)} (concurrency {pyvips.concurrency_get()}, cache off)"
        )
    return info


def results(entries: list[Entry]) -> list[dict]:
    floors = {e.case: statistics.median(e.times) for e in entries if e.contender == "copy floor"}
    rows = []
    for e in entries:
        med = statistics.median(e.times) if e.times else None
        rows.append(
            {
                "case": e.case.name,
                "contender": e.contender,
                "median_ms": None if med is None else med * 1e3,
                "x_floor": None if med is None else med / floors[e.case],
                "agrees": e.agrees,
                "times_ms": [t * 1e3 for t in e.times],
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| case | contender | median ms | x floor | agrees with poolcli |",
        "|---|---|---:|---:|---|",
    ]
    last = None
    for r in rows:
        case = r["case"] if r["case"] != last else ""
        last = r["case"]
        ms = "-" if r["median_ms"] is None else f"{r['median_ms']:.1f}"
        xf = "-" if r["x_floor"] is None else f"{r['x_floor']:.1f}"
        lines.append(f"| {case} | {r['contender']} | {ms} | {xf} | {r['agrees']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    ap.add_argument("--size", type=int, default=4096, help="image side in pixels (default 4096)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise and the run order")
    ap.add_argument("--cases", nargs="*", default=[], help="keep cases whose name contains one")
    ap.add_argument("--only", nargs="*", default=[], help="keep contenders whose name contains one")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set poolcli threads= and the peers' thread counts (default: each library's own)",
    )
    ap.add_argument(
        "--no-flush",
        action="store_true",
        help="do not evict the CPU caches before each timed run (inputs may then start warm)",
    )
    ap.add_argument("--json", metavar="PATH", help="also write machine info and results as JSON")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    if args.size % 2:
        ap.error("--size must be even (the reshape-based peers need whole 2x2 blocks)")
    if POOL is None:
        log("poolcli.pool is not importable: comparing against naive NumPy only")
    if args.threads is not None:
        if torch is not None:
            torch.set_num_threads(args.threads)
        if cv2 is not None:
            cv2.setNumThreads(args.threads)
        if pyvips is not None:
            pyvips.concurrency_set(args.threads)
    if pyvips is not None:
        pyvips.cache_set_max(0)  # else repeated identical calls are answered from vips's cache

    load_start = os.getloadavg()[0]  # other processes on the machine skew every timing
    cases = [c for c in CASES if not args.cases or any(s in c.name for s in args.cases)]
    log(f"making {args.size}x{args.size} inputs from {PHOTO.name}")
    inputs = make_inputs(args.size, args.seed)
    entries = build(cases, inputs, args.threads, args.only)
    log("warm-up and agreement check")
    check(entries, log)
    log(f"timing: {args.rounds} rounds x {len(entries)} runs, shuffled each round")
    run_rounds(entries, args.rounds, args.seed, not args.no_flush, log)

    info = machine_info(args.threads, not args.no_flush)
    info["load average (1 min) before / after"] = f"{load_start:.2f} / {os.getloadavg()[0]:.2f}"
    rows = results(entries)
    size = f"{args.size}x{args.size}"
    print(f"## poolcli benchmark: {size}, {args.rounds} rounds, median per contender\n")
    for key, value in info.items():
        print(f"- {key}: {value}")
    print()
    print(markdown(rows))
    if args.json:
        payload = {
            "size": args.size,
            "rounds": args.rounds,
            "seed": args.seed,
            "machine": info,
            "results": rows,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
