"""Make the PyTorch golden vectors of 1-D signals and 3-D volumes (``nd_cases.json``, ``nd.npz``).

How to run it (from the repository root, in an environment with torch; the project's tests never
import torch)::

    pip install torch==2.13.0
    python tests/golden/make_golden_nd.py

It rewrites ``tests/golden/nd_cases.json`` (one record per case: id, mode, the poolcli keyword
arguments, tolerance, where its arrays lie) and ``tests/golden/nd.npz`` (per case the input ``x``
and torch's output ``y``, channels last: ``(L, C)`` or ``(D, H, W, C)``, packed per dtype into one
flat array; the test also feeds the ``C == 1`` cases without their channel axis). Inputs come from
a NumPy generator with a fixed seed.

The mapping onto ``poolcli.pool`` is the 2-D one of ``make_golden.py``, with torch's 1-D and 3-D
functions: ``max_pool{1,3}d``, ``avg_pool{1,3}d`` (every padding, ``ceil_mode`` and
``count_include_pad`` combination), ``adaptive_{max,avg}_pool{1,3}d``, and ``lp_pool{1,3}d``
divided by ``(kernel volume)**(1/p)`` (torch's lp is ``sum(x**p)**(1/p)``, poolcli's the power
mean). The window arguments are written as tuples of 1 or 3 ints, which is how ``pool`` learns the
number of spatial axes. Integer cases (uint8, int16) run on the float64 copy; integer averages are
stored rounded half up, checked against the exact formula ``(2*sum + n) // (2*n)``, and each
contains at least one tie.

Only NumPy is imported at module level (pytest's ``--doctest-modules`` imports this file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# The 2-D generator beside this one owns the per-axis rules, tolerances and the cases file's
# layout; this folder is no package, so it is put on the path (as running either script does).
sys.path.insert(0, str(HERE))
from make_golden import TOL, axis_ok, fmt, out_size, write_cases  # noqa: E402


def tup(v, n):
    """``3`` -> ``(3,) * n``; a tuple stays."""
    return (v,) * n if isinstance(v, int) else tuple(v)


def window_ok(shape, k, s, p, d, ceil):
    n = len(shape)
    k, p, d = tup(k, n), tup(p, n), tup(d, n)
    s = k if s is None else tup(s, n)
    return all(axis_ok(shape[a], k[a], s[a], p[a], d[a], ceil) for a in range(n))


class Builder:
    def __init__(self, torch_version):
        self.cases = []
        self.arrays = {}
        self.torch_version = torch_version

    def add(self, case_id, mode, kwargs, x_ncs, y_ncs, dtype, compare, extra=None):
        """Store one case; arrays arrive as (1, C, *spatial) and are kept channels last.

        All arrays of a dtype are packed into one flat buffer (a zip member per array would
        cost more bytes than the values); the case records each array's offset and shape.
        """
        assert case_id not in {c["id"] for c in self.cases}, case_id
        rec = {"id": case_id, "mode": mode, "dtype": dtype, "compare": compare}
        flat = self.arrays.setdefault(dtype, [])
        for name, a in (("x", x_ncs), ("y", y_ncs)):
            a = np.moveaxis(np.asarray(a)[0], 0, -1).astype(dtype)
            rec[name] = [sum(v.size for v in flat), list(a.shape)]
            flat.append(a.ravel())
        rec["kwargs"] = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        if compare == "close":
            rec["rtol"], rec["atol"] = TOL[(mode, dtype)]
        rec.update(extra or {})
        self.cases.append(rec)

    def write(self):
        np.savez_compressed(
            HERE / "nd.npz", **{k: np.concatenate(v) for k, v in self.arrays.items()}
        )
        write_cases(
            HERE / "nd_cases.json", "tests/golden/make_golden_nd.py", self.torch_version, self.cases
        )


def main():
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    b = Builder(torch.__version__)
    rng = np.random.default_rng(20261204)
    counter = iter(range(10**6))
    fn = {
        (1, "max"): F.max_pool1d,
        (3, "max"): F.max_pool3d,
        (1, "avg"): F.avg_pool1d,
        (3, "avg"): F.avg_pool3d,
        (1, "adaptive_max"): F.adaptive_max_pool1d,
        (3, "adaptive_max"): F.adaptive_max_pool3d,
        (1, "adaptive_avg"): F.adaptive_avg_pool1d,
        (3, "adaptive_avg"): F.adaptive_avg_pool3d,
        (1, "lp"): F.lp_pool1d,
        (3, "lp"): F.lp_pool3d,
    }

    def channels():
        return (1, 2, 1, 3)[next(counter) % 4]

    def t(x):
        return torch.from_numpy(np.ascontiguousarray(x))

    def torch_avg(x, k, s, p, ceil, cip):
        n = x.ndim - 2
        return fn[(n, "avg")](
            t(x), tup(k, n), None if s is None else tup(s, n), tup(p, n), ceil, cip
        )

    def check_shape(y, shape, k, s, p, d, ceil):
        n = len(shape)
        k, p, d = tup(k, n), tup(p, n), tup(d, n)
        s = k if s is None else tup(s, n)
        want = tuple(out_size(shape[a], k[a], s[a], p[a], d[a], ceil) for a in range(n))
        assert y.shape[2:] == want, (y.shape, want)

    def cid(op, dt, shape, c, **kw):
        return "-".join(
            [op, dt, "x".join(map(str, (*shape, c)))] + [f"{n}{fmt(v)}" for n, v in kw.items()]
        )

    # Every window argument as a tuple of n: that is how pool() is told the number of axes.
    # ------------------------------------------------------------------ max
    max_sets = {
        1: [
            (1, 1, 0, 1),
            (2, None, 0, 1),
            (3, 2, 1, 1),
            (3, 1, 1, 2),
            (4, 3, 2, 1),
            (2, 3, 1, 3),
            (5, 2, 2, 1),
        ],
        3: [
            (2, None, 0, 1),
            (3, 2, 1, 1),
            ((2, 3, 1), (1, 2, 1), (1, 1, 0), 1),
            ((3, 2, 2), (2, 1, 2), (1, 0, 1), (2, 1, 1)),
            ((1, 3, 2), (1, 2, 3), (0, 1, 1), (1, 2, 1)),
            (3, 3, 0, 1),
        ],
    }
    max_shapes = {
        1: [(1,), (2,), (5,), (8,), (13,)],
        3: [(1, 1, 1), (2, 3, 4), (5, 4, 3), (7, 6, 5), (1, 7, 4)],
    }
    for n in (1, 3):
        for k, s, p, d in max_sets[n]:
            for shape in max_shapes[n]:
                for ceil in (False, True):
                    if not window_ok(shape, k, s, p, d, ceil):
                        continue
                    c = channels()
                    x = rng.standard_normal((1, c, *shape))
                    y = fn[(n, "max")](
                        t(x),
                        tup(k, n),
                        None if s is None else tup(s, n),
                        tup(p, n),
                        tup(d, n),
                        ceil,
                    ).numpy()
                    check_shape(y, shape, k, s, p, d, ceil)
                    kw = dict(
                        kernel_size=tup(k, n),
                        stride=None if s is None else tup(s, n),
                        padding=tup(p, n),
                        dilation=tup(d, n),
                        ceil_mode=ceil,
                    )
                    b.add(
                        cid("max", "f64", shape, c, k=k, s=s, p=p, d=d, ceil=int(ceil)),
                        "max",
                        kw,
                        x,
                        y,
                        "float64",
                        "exact",
                    )
        # NaN propagates; float32.
        for variant in ("nan64", "f32"):
            shape = (9,) if n == 1 else (5, 4, 3)
            k, s, p = (3, 2, 1)
            c = channels()
            dt = "float32" if variant == "f32" else "float64"
            x = rng.standard_normal((1, c, *shape)).astype(dt)
            if variant == "nan64":
                x[rng.random(x.shape) < 0.1] = np.nan
                x.reshape(-1)[0] = np.nan
            y = fn[(n, "max")](t(x), tup(k, n), tup(s, n), tup(p, n), tup(1, n), True).numpy()
            kw = dict(kernel_size=tup(k, n), stride=tup(s, n), padding=tup(p, n), ceil_mode=True)
            b.add(
                cid("max", variant, shape, c, k=k, s=s, p=p, ceil=1), "max", kw, x, y, dt, "exact"
            )

    # ------------------------------------------------------------------ avg
    avg_sets = {
        1: [(2, None, 0), (2, 1, 1), (3, 2, 1), (4, 3, 2), (5, 2, 2), (3, None, 1)],
        3: [
            (2, None, 0),
            (2, 1, 1),
            (3, 2, 1),
            ((3, 2, 1), (2, 1, 1), (1, 1, 0)),
            ((2, 3, 3), (2, 2, 3), (1, 1, 1)),
        ],
    }
    avg_shapes = {
        1: [(1,), (3,), (7,), (10,)],
        3: [(1, 1, 1), (3, 2, 4), (5, 5, 4), (4, 3, 5)],
    }
    for n in (1, 3):
        for k, s, p in avg_sets[n]:
            for shape in avg_shapes[n]:
                for ceil in (False, True):
                    for cip in (True, False):
                        if not window_ok(shape, k, s, p, 1, ceil):
                            continue
                        c = channels()
                        x = rng.standard_normal((1, c, *shape))
                        try:
                            y = torch_avg(x, k, s, p, ceil, cip).numpy()
                        except RuntimeError:  # avg_pool3d: an input smaller than the kernel
                            continue
                        check_shape(y, shape, k, s, p, 1, ceil)
                        kw = dict(
                            kernel_size=tup(k, n),
                            stride=None if s is None else tup(s, n),
                            padding=tup(p, n),
                            ceil_mode=ceil,
                            count_include_pad=cip,
                        )
                        b.add(
                            cid(
                                "avg", "f64", shape, c, k=k, s=s, p=p, ceil=int(ceil), cip=int(cip)
                            ),
                            "avg",
                            kw,
                            x,
                            y,
                            "float64",
                            "close",
                        )
        shape = (11,) if n == 1 else (5, 6, 3)
        for ceil in (False, True):
            for cip in (True, False):
                c = channels()
                x = rng.standard_normal((1, c, *shape)).astype("float32")
                y = torch_avg(x, 3, 2, 1, ceil, cip).numpy()
                kw = dict(
                    kernel_size=tup(3, n),
                    stride=tup(2, n),
                    padding=tup(1, n),
                    ceil_mode=ceil,
                    count_include_pad=cip,
                )
                b.add(
                    cid("avg", "f32", shape, c, k=3, s=2, p=1, ceil=int(ceil), cip=int(cip)),
                    "avg",
                    kw,
                    x,
                    y,
                    "float32",
                    "close",
                )

    # ------------------------------------------------------------------ adaptive
    adaptive_sets = {
        1: [((8,), 4), ((7,), 3), ((5,), 7), ((1,), 3), ((11,), 1), ((6,), 6)],
        3: [
            ((4, 6, 2), (2, 3, 1)),
            ((5, 7, 3), (3, 2, 2)),
            ((3, 2, 1), (4, 3, 2)),
            ((6, 5, 4), 1),
            ((2, 9, 5), (2, 4, 5)),
        ],
    }
    for n in (1, 3):
        for shape, osz in adaptive_sets[n]:
            for mode in ("max", "avg"):
                for variant in ("f64", "f32") + (("nan64",) if mode == "max" else ()):
                    c = channels()
                    dt = "float32" if variant == "f32" else "float64"
                    x = rng.standard_normal((1, c, *shape)).astype(dt)
                    if variant == "nan64":
                        x[rng.random(x.shape) < 0.1] = np.nan
                        x.reshape(-1)[-1] = np.nan
                    y = fn[(n, f"adaptive_{mode}")](t(x), tup(osz, n)).numpy()
                    assert y.shape[2:] == tup(osz, n)
                    b.add(
                        cid(f"adaptive_{mode}", variant, shape, c, out=osz),
                        mode,
                        dict(output_size=tup(osz, n)),
                        x,
                        y,
                        dt,
                        "exact" if mode == "max" else "close",
                    )

    # ------------------------------------------------------------------ lp
    lp_sets = {
        1: [(2, None), (3, 2), (3, 1), (2, 3)],
        3: [(2, None), (3, 2), ((2, 3, 1), (1, 2, 1))],
    }
    lp_shapes = {1: [(1,), (5,), (9,)], 3: [(2, 3, 4), (5, 4, 3)]}
    for n in (1, 3):
        for p in (1, 2, 3, 1.5):
            for k, s in lp_sets[n]:
                for shape in lp_shapes[n]:
                    for ceil in (False, True):
                        if not window_ok(shape, k, s, 0, 1, ceil):
                            continue
                        c = channels()
                        x = rng.random((1, c, *shape))
                        x[rng.random(x.shape) < 0.1] = 0.0
                        vol = int(np.prod(tup(k, n)))
                        # lp_pool1d takes ints (it multiplies by kernel_size), lp_pool3d tuples
                        kt, st = (k, s) if n == 1 else (tup(k, n), None if s is None else tup(s, n))
                        y = fn[(n, "lp")](t(x), p, kt, st, ceil).numpy() / vol ** (1.0 / p)
                        check_shape(y, shape, k, s, 0, 1, ceil)
                        kw = dict(
                            kernel_size=tup(k, n),
                            stride=None if s is None else tup(s, n),
                            ceil_mode=ceil,
                            p=p,
                        )
                        b.add(
                            cid("lp", "f64", shape, c, pow=p, k=k, s=s, ceil=int(ceil)),
                            "lp",
                            kw,
                            x,
                            y,
                            "float64",
                            "close",
                        )

    # ------------------------------------------------------------------ integers
    for dt, (lo, hi) in {"uint8": (0, 256), "int16": (-32768, 32768)}.items():
        for n in (1, 3):
            shape = (13,) if n == 1 else (5, 6, 7)
            c = channels()
            x = rng.integers(lo, hi, (1, c, *shape)).astype(dt)
            y = fn[(n, "max")](
                t(x.astype("float64")), tup(3, n), tup(2, n), tup(1, n), tup(1, n), True
            ).numpy()
            kw = dict(kernel_size=tup(3, n), stride=tup(2, n), padding=tup(1, n), ceil_mode=True)
            b.add(cid("max", dt, shape, c, k=3, s=2, p=1, ceil=1), "max", kw, x, y, dt, "exact")
            for k, s, p, ceil, cip in [
                (2, None, 0, False, True),
                (2, 2, 1, True, True),
                (2, 2, 1, True, False),
                (3, 2, 1, False, False),
            ]:
                if not window_ok(shape, k, s, p, 1, ceil):
                    continue
                c = channels()
                for _attempt in range(200):
                    x = rng.integers(lo, hi, (1, c, *shape)).astype(dt)
                    xf = x.astype("float64")
                    avg = torch_avg(xf, k, s, p, ceil, cip).numpy()
                    y = np.floor(avg + 0.5)
                    ones = np.ones_like(xf)
                    dv = _divisors(ones, k, s, p, ceil, cip)
                    # float64 averages of small integers times their divisor give the exact sums
                    total = np.rint(avg * dv).astype(np.int64)
                    exact = (2 * total + dv) // (2 * dv)
                    assert np.array_equal(exact, y.astype(np.int64))
                    ties = int(((2 * total) % (2 * dv) == dv).sum())
                    if ties:
                        break
                else:
                    raise AssertionError("no .5 tie in an integer avg case")
                kw = dict(
                    kernel_size=tup(k, n),
                    stride=None if s is None else tup(s, n),
                    padding=tup(p, n),
                    ceil_mode=ceil,
                    count_include_pad=cip,
                )
                b.add(
                    cid("avg", dt, shape, c, k=k, s=s, p=p, ceil=int(ceil), cip=int(cip)),
                    "avg",
                    kw,
                    x,
                    y,
                    dt,
                    "exact",
                    {"ties": ties},
                )

    b.write()
    size = (HERE / "nd.npz").stat().st_size
    print(f"{len(b.cases)} cases; nd.npz {size} bytes")


def _divisors(ones, k, s, p, ceil, cip):
    """Each window's divisor from SPEC's geometry: cells inside ``[-pad, in + pad)`` with
    ``count_include_pad``, else real cells; ``(1, 1, *out)``."""
    n = ones.ndim - 2
    shape = ones.shape[2:]
    kk, pp = tup(k, n), tup(p, n)
    ss = kk if s is None else tup(s, n)
    per_axis = []
    for a in range(n):
        size = shape[a]
        o = out_size(size, kk[a], ss[a], pp[a], 1, ceil)
        counts = []
        for i in range(o):
            cells = [i * ss[a] - pp[a] + j for j in range(kk[a])]
            lo, hi = (-pp[a], size + pp[a]) if cip else (0, size)
            counts.append(sum(lo <= q < hi for q in cells))
        per_axis.append(np.array(counts, np.int64))
    dv = per_axis[0]
    for extra in per_axis[1:]:
        dv = np.multiply.outer(dv, extra)
    return dv[None, None]


if __name__ == "__main__":
    main()
