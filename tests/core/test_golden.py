"""``poolcli.pool`` against golden vectors made by PyTorch 2.13 (tests/golden/make_golden.py).

torch is not needed here: the inputs and torch's outputs are stored in ``tests/golden/*.npz``,
the parameters in ``tests/golden/cases.json``. The script's docstring says how torch's arguments
map onto poolcli's and how the expectations were derived (lp divided by ``n**(1/p)``, integer avg
rounded half up).

Tolerances: max and adaptive max (and every integer case) are compared exactly, NaN positions
included; float64 avg/lp use rtol=1e-12, atol=1e-12; float32 avg rtol=1e-5, atol=1e-6 and
float32 lp rtol=2e-5, atol=1e-6 (the values of each case are stored beside it in cases.json).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import poolcli

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text())["cases"]


@cache
def _npz(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / name, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _arrays(case: dict) -> tuple[np.ndarray, np.ndarray]:
    data = _npz(case["file"])
    return data[f"{case['key']}_x"], data[f"{case['key']}_y"]


def _kwargs(case: dict) -> dict:
    # JSON turned the (h, w) pairs into lists; poolcli takes an int or an (h, w) pair.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}


def _check(case: dict, x: np.ndarray, expected: np.ndarray, layout: str) -> None:
    before = x.copy()
    got = poolcli.pool(x, case["mode"], **_kwargs(case))
    where = f"{case['id']} ({layout} input {x.shape} {x.dtype}, kwargs {case['kwargs']})"
    assert isinstance(got, np.ndarray), where
    assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype}, expected {expected.dtype}"
    assert got.shape == expected.shape, f"{where}: shape {got.shape}, expected {expected.shape}"
    if case["compare"] == "exact":
        np.testing.assert_array_equal(got, expected, err_msg=where)
    else:
        np.testing.assert_allclose(
            got, expected, rtol=case["rtol"], atol=case["atol"], err_msg=where
        )
    np.testing.assert_array_equal(x, before, err_msg=f"{where}: pool modified its input")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_pool_matches_torch(case: dict) -> None:
    x, expected = _arrays(case)
    _check(case, x, expected, "(H, W, C)")
    if x.shape[2] == 1:
        _check(case, x[:, :, 0], expected[:, :, 0], "(H, W)")


def test_golden_files_are_whole() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        x, y = _arrays(case)
        assert x.ndim == y.ndim == 3 and x.shape[2] == y.shape[2] in (1, 3), case["id"]
        assert x.dtype == y.dtype == np.dtype(case["dtype"]), case["id"]
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    assert total < 2_000_000


def test_golden_coverage() -> None:
    """The vectors keep covering what they were made for (guards against a thinned rerun)."""
    avg_combos = Counter(
        (c["kwargs"]["padding"] != 0, c["kwargs"]["ceil_mode"], c["kwargs"]["count_include_pad"])
        for c in CASES
        if c["mode"] == "avg" and "kernel_size" in c["kwargs"] and c["dtype"] == "float64"
    )
    assert len(avg_combos) == 8
    lp = {(c["kwargs"]["p"], c["kwargs"]["ceil_mode"]) for c in CASES if c["mode"] == "lp"}
    assert lp == {(p, ceil) for p in (1, 2, 3, 1.5) for ceil in (False, True)}
    dtypes = {(c["mode"], c["dtype"]) for c in CASES}
    for mode, dtype in [("max", "uint8"), ("max", "int16"), ("avg", "uint8"), ("avg", "int16")]:
        assert (mode, dtype) in dtypes
    int_avg = [c for c in CASES if c["mode"] == "avg" and c["dtype"] in ("uint8", "int16")]
    assert all(c.get("ties", 0) > 0 for c in int_avg if "kernel_size" in c["kwargs"])
    maxes = [c["kwargs"] for c in CASES if c["mode"] == "max" and "kernel_size" in c["kwargs"]]
    assert any(k["dilation"] != 1 and k["ceil_mode"] and k["padding"] != 0 for k in maxes)
    assert any(_arrays(c)[0].shape[:2] == (1, 1) for c in CASES)
    # ceil_mode windows larger than the padded input, which PyTorch takes (issue 14)
    larger = {c["mode"] for c in CASES if c.get("larger")}
    assert larger == {"max", "avg", "lp"}
    nan_cases = [c for c in CASES if c["mode"] == "max" and np.isnan(_arrays(c)[0]).any()]
    assert any("output_size" in c["kwargs"] for c in nan_cases)
    assert any("kernel_size" in c["kwargs"] for c in nan_cases)


# ------------------------------------------------------------------ 1-D signals and 3-D volumes
# tests/golden/nd.npz with nd_cases.json, made by tests/golden/make_golden_nd.py (its docstring
# says how torch's 1-D/3-D functions map onto pool). The arrays of a dtype are packed into one
# flat array; each case says where its x and y lie and their shapes. The window arguments are
# tuples of 1 or 3, which is how pool learns the number of spatial axes.

ND_CASES = json.loads((GOLDEN / "nd_cases.json").read_text())["cases"]


@cache
def _nd_buffers() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "nd.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _nd_array(case: dict, which: str) -> np.ndarray:
    offset, shape = case[which]
    flat = _nd_buffers()[case["dtype"]]
    return flat[offset : offset + int(np.prod(shape))].reshape(shape)


@pytest.mark.parametrize("case", ND_CASES, ids=[c["id"] for c in ND_CASES])
def test_pool_matches_torch_in_1d_and_3d(case: dict) -> None:
    x, expected = _nd_array(case, "x"), _nd_array(case, "y")
    layouts = [(x, expected)]
    if x.shape[-1] == 1:  # the same values without a channel axis
        layouts.append((x[..., 0], expected[..., 0]))
    for xi, want in layouts:
        before = xi.copy()
        got = poolcli.pool(xi, case["mode"], **_kwargs(case))
        where = f"{case['id']} (input {xi.shape} {xi.dtype})"
        assert got.dtype == want.dtype and got.shape == want.shape, where
        if case["compare"] == "exact":
            np.testing.assert_array_equal(got, want, err_msg=where)
        else:
            np.testing.assert_allclose(
                got, want, rtol=case["rtol"], atol=case["atol"], err_msg=where
            )
        np.testing.assert_array_equal(xi, before, err_msg=f"{where}: input modified")


def test_nd_golden_coverage() -> None:
    """Every avg padding/ceil_mode/count_include_pad combination on both axis counts; adaptive
    max and avg, lp and integer ties on both; the files stay small."""
    assert len({c["id"] for c in ND_CASES}) == len(ND_CASES)
    for n in (1, 3):
        mine = [c for c in ND_CASES if len(c["x"][1]) == n + 1]
        avg = {
            (
                c["kwargs"]["padding"][0] != 0,
                c["kwargs"]["ceil_mode"],
                c["kwargs"]["count_include_pad"],
            )
            for c in mine
            if c["mode"] == "avg" and "kernel_size" in c["kwargs"] and c["dtype"] == "float64"
        }
        assert len(avg) == 8, n
        adaptive = {c["mode"] for c in mine if "output_size" in c["kwargs"]}
        assert adaptive == {"max", "avg"}, n
        assert {c["kwargs"]["p"] for c in mine if c["mode"] == "lp"} == {
            1,
            2,
            3,
            1.5,
        }, n
        assert all(c["ties"] > 0 for c in mine if c["mode"] == "avg" and c["dtype"] == "uint8")
        assert any(np.isnan(_nd_array(c, "x")).any() for c in mine if c["mode"] == "max")
    assert (GOLDEN / "nd.npz").stat().st_size < 400_000
