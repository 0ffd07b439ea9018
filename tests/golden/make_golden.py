"""Make the PyTorch golden vectors that ``tests/core/test_golden.py`` checks ``poolcli.pool`` on.

How to run it (from the repository root; torch never goes into the project's own venv)::

    python -m venv /work/venvs/torch
    /work/venvs/torch/bin/pip install torch==2.13.0 numpy
    /work/venvs/torch/bin/python tests/golden/make_golden.py

It rewrites ``tests/golden/cases.json`` (one record per case: id, mode, the poolcli keyword
arguments, tolerance) and ``tests/golden/{max,avg,adaptive,lp,int,ceil}.npz`` (per case the input
``x`` and the expected output ``y``, both channels last ``(H, W, C)``; the test also feeds the
``C == 1`` cases as 2-D ``(H, W)`` arrays). Inputs come from NumPy generators with fixed seeds, so
a rerun with the same NumPy reproduces them byte for byte; the outputs are computed by torch on
``(1, C, H, W)`` tensors. Outputs are reproduced byte for byte too on one machine (whatever
``OMP_NUM_THREADS`` or ``ATEN_CPU_CAPABILITY``), except that torch 2.13's float64 ``lp_pool2d``
can differ in the last bit from one machine to another (13 of 352 arrays of ``lp.npz``, by at
most 2.2e-16 relative, between the file made in an earlier session and a rerun on the 2-core
machine, which is the file committed now); the tests compare ``lp`` within ``rtol=1e-12``.

How torch's functions map onto ``poolcli.pool`` (SPEC.md section 1):

- ``F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)`` ->
  ``pool(x, "max", kernel_size=..., stride=..., padding=..., dilation=..., ceil_mode=...)``.
- ``F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad)`` ->
  ``pool(x, "avg", ..., ceil_mode=..., count_include_pad=...)`` (torch's avg has no dilation).
- ``F.adaptive_{max,avg}_pool2d(x, output_size)`` -> ``pool(x, mode, output_size=...)``.
- ``F.lp_pool2d(x, p, kernel_size, stride, ceil_mode)`` -> ``pool(x, "lp", ..., p=p)``; torch
  returns ``sum(x**p)**(1/p)`` (on ceil_mode's cut windows: the mean of the real cells times the
  full kernel area), poolcli the power mean, so the stored expectation is
  ``torch_result / (kh*kw)**(1/p)``. Inputs are >= 0.
- Integer inputs (uint8, int16): torch runs on the float64 copy. ``max`` is exact; ``avg`` is stored
  as ``floor(torch_avg + 0.5)`` (round to nearest, ties up), cross-checked here against the exact
  integer formula ``(2*sum + n) // (2*n)``, and every integer avg case contains at least one tie.

Every parameter set is checked before torch sees it: torch's ``padding <= kernel // 2``, poolcli's
``padding <= (dilation*(kernel-1)+1) // 2``, the effective window fits in the padded input (except
in ``ceil.npz``: ceil_mode windows larger than the padded input, which PyTorch takes while the
output size is at least 1), and every window has at least one real (non-padding) cell on each
axis. torch's output shape must equal SPEC's output-size formula.

Only NumPy is imported at module level: pytest's ``--doctest-modules`` imports this file in the
project venv, where torch is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# Tolerances written into cases.json and used by the test. Max pools are compared exactly.
TOL = {
    ("avg", "float64"): (1e-12, 1e-12),
    ("lp", "float64"): (1e-12, 1e-12),
    ("avg", "float32"): (1e-5, 1e-6),
    ("lp", "float32"): (2e-5, 1e-6),
}


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(n, k, s, p, d, ceil):
    """SPEC section 1 output size on one axis."""
    eff = d * (k - 1) + 1
    out = (n + 2 * p - eff + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def axis_ok(n, k, s, p, d, ceil, larger=False):
    """Whether torch and poolcli both accept this axis and no window is padding only.

    ``larger`` admits ceil_mode windows larger than the padded input (PyTorch takes them while
    ``out >= 1``); the sections written before they were supported leave them out, so that
    their random draws, and their vectors, stay as they were.
    """
    eff = d * (k - 1) + 1
    if min(n, k, s, d) < 1 or p < 0:
        return False
    if 2 * p > k or p > eff // 2 or (eff > n + 2 * p and not (larger and ceil)):
        return False
    out = out_size(n, k, s, p, d, ceil)
    if out < 1:
        return False
    for i in range(out):
        taps = [i * s - p + j * d for j in range(k)]
        if not any(0 <= t < n for t in taps):
            return False
    return True


def params_ok(hw, k, s, p, d, ceil, larger=False):
    k, p, d = pair(k), pair(p), pair(d)
    s = k if s is None else pair(s)
    return all(axis_ok(hw[a], k[a], s[a], p[a], d[a], ceil, larger) for a in range(2))


def fmt(v):
    if v is None:
        return "none"
    if isinstance(v, (tuple, list)):
        return "x".join(str(e) for e in v)
    return str(v)


def adaptive_avg_rounded(x, osz):
    """Integer adaptive avg, rounded to nearest with ties up, computed exactly (NCHW)."""
    h, w = x.shape[2:]
    out = np.empty(x.shape[:2] + tuple(osz), dtype=np.int64)
    for i in range(osz[0]):
        r0, r1 = (i * h) // osz[0], -((-(i + 1) * h) // osz[0])
        for j in range(osz[1]):
            c0, c1 = (j * w) // osz[1], -((-(j + 1) * w) // osz[1])
            total = x[:, :, r0:r1, c0:c1].astype(np.int64).sum(axis=(2, 3))
            n = (r1 - r0) * (c1 - c0)
            out[:, :, i, j] = (2 * total + n) // (2 * n)
    return out


def jsonable(kwargs):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}


class Builder:
    def __init__(self):
        self.cases = []
        self.arrays = {}  # file -> {key: array}
        self.ids = set()

    def add(self, file, case_id, mode, kwargs, x_nchw, y_nchw, dtype, compare, extra=None):
        """Store one case; arrays arrive as (1, C, H, W) and are kept as (H, W, C)."""
        base, n = case_id, 2
        while case_id in self.ids:
            case_id = f"{base}-{n}"
            n += 1
        self.ids.add(case_id)
        x = np.ascontiguousarray(np.asarray(x_nchw)[0].transpose(1, 2, 0)).astype(dtype)
        y = np.ascontiguousarray(np.asarray(y_nchw)[0].transpose(1, 2, 0)).astype(dtype)
        key = f"c{len(self.cases):04d}"
        store = self.arrays.setdefault(file, {})
        store[f"{key}_x"] = x
        store[f"{key}_y"] = y
        rec = {
            "id": case_id,
            "file": f"{file}.npz",
            "key": key,
            "mode": mode,
            "kwargs": jsonable(kwargs),
            "dtype": dtype,
            "compare": compare,
        }
        if compare == "close":
            rec["rtol"], rec["atol"] = TOL[(mode, dtype)]
        if extra:
            rec.update(extra)
        self.cases.append(rec)

    def write(self):
        for file, arrays in self.arrays.items():
            np.savez_compressed(HERE / f"{file}.npz", **arrays)
        write_cases(
            HERE / "cases.json", "tests/golden/make_golden.py", self.torch_version, self.cases
        )


def write_cases(path, generator, torch_version, cases):
    """The cases file: a head naming the generator and versions, then one case per line
    (small, greppable, and a regenerated file diffs case by case)."""
    head = {"generator": generator, "torch": torch_version, "numpy": np.__version__}
    lines = [json.dumps(head)[:-1] + ', "cases": [']
    lines += [" " + json.dumps(c) + "," for c in cases]
    lines[-1] = lines[-1][:-1]
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n")


def main():
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    b = Builder()
    b.torch_version = torch.__version__
    rng = np.random.default_rng(20260425)
    counter = iter(range(10**6))

    def channels():
        return (1, 3)[next(counter) % 2]

    def normal(shape, dtype="float64"):
        return rng.standard_normal(shape).astype(dtype)

    def t(x):
        return torch.from_numpy(np.ascontiguousarray(x))

    def torch_max(x, k, s, p, d, ceil):
        return F.max_pool2d(t(x), k, s, p, d, ceil).numpy()

    def torch_avg(x, k, s, p, ceil, cip, divisor_override=None):
        return F.avg_pool2d(t(x), k, s, p, ceil, cip, divisor_override).numpy()

    def check_shape(y, hw, k, s, p, d, ceil):
        k, p, d = pair(k), pair(p), pair(d)
        s = k if s is None else pair(s)
        want = tuple(out_size(hw[a], k[a], s[a], p[a], d[a], ceil) for a in range(2))
        assert y.shape[2:] == want, (y.shape, want)

    def window_id(op, dt, hw, c, **kw):
        parts = [op, dt, f"{hw[0]}x{hw[1]}x{c}"]
        for name, v in kw.items():
            parts.append(f"{name}{fmt(v)}")
        return "-".join(parts)

    # ---------------------------------------------------------------- max_pool2d
    max_sets = [  # (kernel, stride, padding, dilation)
        (1, 1, 0, 1),
        (1, 2, 0, 1),
        (2, None, 0, 1),
        (2, 1, 1, 1),
        (3, 2, 1, 1),
        (3, 1, 1, 1),
        (3, 3, 0, 1),
        (3, None, 1, 1),
        ((2, 3), (1, 2), (1, 0), 1),
        ((3, 1), (2, 1), (1, 0), 1),
        (3, 2, 1, 2),
        (2, 1, 1, 3),
        ((3, 2), (2, 3), (1, 1), (2, 1)),
        (4, 3, 2, 1),
        (5, 2, 2, 1),
        ((1, 4), (1, 3), (0, 2), 1),
        (2, 3, 0, 1),
        (3, 4, 1, 2),
        ((2, 2), (3, 1), (1, 0), (1, 2)),
    ]
    max_shapes = [(1, 1), (1, 4), (4, 1), (2, 2), (3, 5), (7, 7), (8, 6), (9, 11), (13, 5)]
    for k, s, p, d in max_sets:
        for hw in max_shapes:
            for ceil in (False, True):
                if not params_ok(hw, k, s, p, d, ceil):
                    continue
                c = channels()
                x = normal((1, c, *hw))
                y = torch_max(x, k, s, p, d, ceil)
                check_shape(y, hw, k, s, p, d, ceil)
                assert np.isfinite(y).all()
                kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
                b.add(
                    "max",
                    window_id("max", "f64", hw, c, k=k, s=s, p=p, d=d, ceil=int(ceil)),
                    "max",
                    kw,
                    x,
                    y,
                    "float64",
                    "exact",
                )

    # float32, NaN (propagates), and +-inf values.
    special_max = [
        ((7, 9), 3, 2, 1, 1, True),
        ((8, 5), (2, 3), (2, 1), (1, 1), 1, False),
        ((5, 5), 2, 1, 1, 2, False),
        ((1, 6), (1, 3), (1, 2), (0, 1), 1, True),
        ((11, 4), 3, 3, 1, (2, 1), True),
    ]
    for hw, k, s, p, d, ceil in special_max:
        assert params_ok(hw, k, s, p, d, ceil)
        kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        tag = dict(k=k, s=s, p=p, d=d, ceil=int(ceil))
        for variant in ("f32", "nan64", "nan32", "inf64"):
            c = channels()
            dt = "float32" if variant.endswith("32") else "float64"
            x = normal((1, c, *hw), dt)
            if variant.startswith("nan"):
                x[rng.random(x.shape) < 0.12] = np.nan
                x[0, 0, 0, 0] = np.nan  # at least one, in a corner window
            if variant == "inf64":
                x[rng.random(x.shape) < 0.2] = -np.inf
                x[rng.random(x.shape) < 0.05] = np.inf
            y = torch_max(x, k, s, p, d, ceil)
            check_shape(y, hw, k, s, p, d, ceil)
            if variant.startswith("nan"):
                assert np.isnan(y).any()
            b.add("max", window_id("max", variant, hw, c, **tag), "max", kw, x, y, dt, "exact")

    # ---------------------------------------------------------------- avg_pool2d
    avg_sets = [  # (kernel, stride, padding)
        (2, None, 0),
        (2, 1, 1),
        (3, 2, 0),
        (3, 2, 1),
        (3, 1, 1),
        ((3, 2), (2, 1), (1, 1)),
        ((2, 3), (2, 2), (0, 1)),
        (4, 3, 2),
        (5, 2, 2),
        ((1, 3), (1, 2), (0, 1)),
        (3, None, 1),
        (2, 3, 1),
    ]
    avg_shapes = [(1, 1), (1, 5), (2, 3), (6, 6), (7, 9), (10, 7), (5, 13)]
    for k, s, p in avg_sets:
        for hw in avg_shapes:
            for ceil in (False, True):
                for cip in (True, False):
                    if not params_ok(hw, k, s, p, 1, ceil):
                        continue
                    c = channels()
                    x = normal((1, c, *hw))
                    y = torch_avg(x, k, s, p, ceil, cip)
                    check_shape(y, hw, k, s, p, 1, ceil)
                    kw = dict(
                        kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip
                    )
                    cid = window_id(
                        "avg", "f64", hw, c, k=k, s=s, p=p, ceil=int(ceil), cip=int(cip)
                    )
                    b.add("avg", cid, "avg", kw, x, y, "float64", "close")
    for hw, k, s, p in [((7, 9), 3, 2, 1), ((6, 5), (2, 3), (2, 2), (1, 1)), ((1, 4), 2, 2, 1)]:
        for ceil in (False, True):
            for cip in (True, False):
                assert params_ok(hw, k, s, p, 1, ceil)
                c = channels()
                x = normal((1, c, *hw), "float32")
                y = torch_avg(x, k, s, p, ceil, cip)
                kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip)
                cid = window_id("avg", "f32", hw, c, k=k, s=s, p=p, ceil=int(ceil), cip=int(cip))
                b.add("avg", cid, "avg", kw, x, y, "float32", "close")

    # ---------------------------------------------------------------- adaptive
    adaptive_sets = [  # (input (H, W), output_size)
        ((8, 6), (4, 3)),  # divisible
        ((8, 6), 2),  # int output_size
        ((7, 5), (3, 2)),  # not divisible: overlapping windows
        ((5, 7), (3, 4)),
        ((13, 5), (4, 5)),
        ((3, 2), (5, 4)),  # output larger than input
        ((1, 1), (3, 2)),
        ((4, 9), (7, 4)),  # larger on one axis, smaller on the other
        ((9, 11), 1),  # global
        ((9, 11), (1, 1)),
        ((1, 1), 1),
        ((6, 6), (6, 6)),  # identity
        ((10, 3), (4, 1)),
        ((1, 7), (1, 3)),
    ]
    for hw, osz in adaptive_sets:
        for mode, fn in (("max", F.adaptive_max_pool2d), ("avg", F.adaptive_avg_pool2d)):
            variants = ["f64", "f32"] + (["nan64"] if mode == "max" else [])
            for variant in variants:
                c = channels()
                dt = "float32" if variant.endswith("32") else "float64"
                x = normal((1, c, *hw), dt)
                if variant.startswith("nan"):
                    x[rng.random(x.shape) < 0.1] = np.nan
                    x[0, -1, -1, -1] = np.nan
                y = fn(t(x), osz).numpy()
                o = pair(osz)
                assert y.shape[2:] == o
                compare = "exact" if mode == "max" else "close"
                cid = window_id(f"adaptive_{mode}", variant, hw, c, out=osz)
                b.add("adaptive", cid, mode, dict(output_size=osz), x, y, dt, compare)

    # ---------------------------------------------------------------- lp_pool2d
    lp_sets = [  # (kernel, stride)
        (2, None),
        (3, 2),
        ((2, 3), (1, 2)),
        (3, 1),
        ((3, 1), (2, 1)),
        (2, 3),
    ]
    lp_shapes = [(1, 1), (2, 5), (5, 5), (7, 6), (9, 4)]
    for p in (1, 2, 3, 1.5):
        for k, s in lp_sets:
            for hw in lp_shapes:
                for ceil in (False, True):
                    if not params_ok(hw, k, s, 0, 1, ceil):
                        continue
                    c = channels()
                    x = rng.random((1, c, *hw))
                    x[rng.random(x.shape) < 0.1] = 0.0
                    kh, kw_ = pair(k)
                    y = F.lp_pool2d(t(x), p, k, s, ceil).numpy() / (kh * kw_) ** (1.0 / p)
                    check_shape(y, hw, k, s, 0, 1, ceil)
                    assert np.isfinite(y).all()
                    kw = dict(kernel_size=k, stride=s, ceil_mode=ceil, p=p)
                    b.add(
                        "lp",
                        window_id("lp", "f64", hw, c, pow=p, k=k, s=s, ceil=int(ceil)),
                        "lp",
                        kw,
                        x,
                        y,
                        "float64",
                        "close",
                    )
    for p in (1, 2, 3, 1.5):
        for hw, k, s, ceil in [((7, 6), 3, 2, True), ((5, 9), (2, 3), (2, 2), False)]:
            assert params_ok(hw, k, s, 0, 1, ceil)
            c = channels()
            x = rng.random((1, c, *hw)).astype("float32")
            kh, kw_ = pair(k)
            y32 = F.lp_pool2d(t(x), p, k, s, ceil).numpy()
            y = y32.astype("float64") / (kh * kw_) ** (1.0 / p)
            kw = dict(kernel_size=k, stride=s, ceil_mode=ceil, p=p)
            b.add(
                "lp",
                window_id("lp", "f32", hw, c, pow=p, k=k, s=s, ceil=int(ceil)),
                "lp",
                kw,
                x,
                y,
                "float32",
                "close",
            )

    # ---------------------------------------------------------------- integers
    int_ranges = {"uint8": (0, 256), "int16": (-32768, 32768)}
    int_max = [
        ((7, 9), 3, 2, 1, 1, True),
        ((5, 4), 2, None, 0, 1, False),
        ((6, 7), (3, 2), (2, 1), (1, 1), (2, 1), True),
        ((1, 3), 3, 1, 1, 1, False),
    ]
    int_avg = [  # (hw, kernel, stride, padding, ceil, count_include_pad); small even windows tie
        ((6, 8), 2, None, 0, False, True),
        ((7, 9), 2, 2, 1, True, True),
        ((7, 9), 2, 2, 1, True, False),
        ((9, 7), 3, 2, 1, False, False),
        ((10, 7), 3, 2, 1, True, True),  # n = 6 on the ceil_mode overhang row
        ((5, 6), (2, 4), (2, 3), (1, 2), True, False),
        ((1, 5), 2, 1, 1, False, True),
    ]
    for dt, (lo, hi) in int_ranges.items():
        for hw, k, s, p, d, ceil in int_max:
            assert params_ok(hw, k, s, p, d, ceil)
            c = channels()
            x = rng.integers(lo, hi, (1, c, *hw)).astype(dt)
            y = torch_max(x.astype("float64"), k, s, p, d, ceil)
            kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
            cid = window_id("max", dt, hw, c, k=k, s=s, p=p, d=d, ceil=int(ceil))
            b.add("int", cid, "max", kw, x, y, dt, "exact")
        for hw, k, s, p, ceil, cip in int_avg:
            assert params_ok(hw, k, s, p, 1, ceil)
            c = channels()
            for _attempt in range(100):
                x = rng.integers(lo, hi, (1, c, *hw)).astype(dt)
                xf = x.astype("float64")
                avg = torch_avg(xf, k, s, p, ceil, cip)
                y = np.floor(avg + 0.5)
                # exact cross-check: sum and divisor from torch, rounding in integers
                total = torch_avg(xf, k, s, p, ceil, cip, divisor_override=1)
                ones = np.ones_like(xf)
                n = np.rint(
                    torch_avg(ones, k, s, p, ceil, cip, divisor_override=1)
                    / torch_avg(ones, k, s, p, ceil, cip)
                ).astype(np.int64)
                total = total.astype(np.int64)
                assert np.array_equal(total, np.rint(avg * n))
                exact = (2 * total + n) // (2 * n)
                assert np.array_equal(exact, y.astype(np.int64))
                ties = int(((2 * total) % (2 * n) == n).sum())
                if ties:
                    break
            else:
                raise AssertionError("no .5 tie in an integer avg case")
            kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip)
            cid = window_id("avg", dt, hw, c, k=k, s=s, p=p, ceil=int(ceil), cip=int(cip))
            b.add("int", cid, "avg", kw, x, y, dt, "exact", {"ties": ties})
        for hw, osz in [((7, 5), (3, 2)), ((3, 2), (5, 4)), ((8, 6), (4, 3))]:
            for mode, fn in (("max", F.adaptive_max_pool2d), ("avg", F.adaptive_avg_pool2d)):
                c = channels()
                x = rng.integers(lo, hi, (1, c, *hw)).astype(dt)
                yf = fn(t(x.astype("float64")), osz).numpy()
                y = yf if mode == "max" else np.floor(yf + 0.5)
                if mode == "avg":  # exact cross-check with SPEC's adaptive windows
                    assert np.array_equal(y, adaptive_avg_rounded(x, pair(osz)))
                cid = window_id(f"adaptive_{mode}", dt, hw, c, out=osz)
                b.add("int", cid, mode, dict(output_size=osz), x, y, dt, "exact")

    # ---------------------------------------------------------------- ceil_mode, larger windows
    # Windows larger than the (padded) input that PyTorch's ceil_mode still takes: a 1x1 image
    # with 2x2 windows gives one output. Its own generator, so the sections above keep theirs.
    rng = np.random.default_rng(20261204)
    larger = [  # (hw, kernel, stride, padding, dilation)
        ((1, 1), 2, None, 0, 1),
        ((1, 1), 3, None, 0, 1),
        ((1, 3), (2, 4), 3, 0, 1),
        ((2, 1), (3, 2), (2, 2), (1, 0), 1),
        ((1, 4), (2, 5), (2, 4), 0, 1),
        ((3, 2), 6, 4, 1, 1),
        ((1, 2), (2, 3), (3, 2), (0, 1), (1, 2)),
        ((2, 2), 2, 3, 0, 2),
        ((1, 5), (1, 8), (1, 6), (0, 1), 1),
    ]
    for hw, k, s, p, d in larger:
        assert params_ok(hw, k, s, p, d, True, larger=True), (hw, k, s, p, d)
        kk, pp, dd = pair(k), pair(p), pair(d)
        effs = [dd[a] * (kk[a] - 1) + 1 for a in range(2)]
        assert any(effs[a] > hw[a] + 2 * pp[a] for a in range(2)), "not a larger window"
        c = channels()
        x = normal((1, c, *hw))
        y = torch_max(x, k, s, p, d, True)
        check_shape(y, hw, k, s, p, d, True)
        kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=True)
        cid = window_id("max", "f64", hw, c, k=k, s=s, p=p, d=d, ceil=1)
        b.add("ceil", cid + "-larger", "max", kw, x, y, "float64", "exact", {"larger": True})
        if d == 1:
            for cip in (True, False):
                c = channels()
                x = normal((1, c, *hw))
                y = torch_avg(x, k, s, p, True, cip)
                kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=True, count_include_pad=cip)
                cid = window_id("avg", "f64", hw, c, k=k, s=s, p=p, ceil=1, cip=int(cip))
                b.add(
                    "ceil", cid + "-larger", "avg", kw, x, y, "float64", "close", {"larger": True}
                )
            if p == 0:
                c = channels()
                x = rng.random((1, c, *hw))
                kh, kw_ = pair(k)
                y = F.lp_pool2d(t(x), 2.0, k, s, True).numpy() / (kh * kw_) ** 0.5
                kw = dict(kernel_size=k, stride=s, ceil_mode=True, p=2.0)
                cid = window_id("lp", "f64", hw, c, pow=2.0, k=k, s=s, ceil=1)
                b.add("ceil", cid + "-larger", "lp", kw, x, y, "float64", "close", {"larger": True})

    b.write()
    sizes = {f: (HERE / f"{f}.npz").stat().st_size for f in b.arrays}
    print(f"{len(b.cases)} cases; npz bytes: {sizes}; total {sum(sizes.values())}")


if __name__ == "__main__":
    main()
