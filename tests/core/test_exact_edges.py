"""Two corners of the core that issue 14 found wrong, checked against exact arithmetic.

- Integer ``lp`` rounds half up, and exact ties (``lp([0, 6], p=0.5)`` is 1.5 exactly) are
  decided exactly: float64 alone rounded some of them down.
- ``ceil_mode`` windows larger than the padded input are windows, as in PyTorch
  (``F.max_pool2d(torch.ones(1, 1, 1, 1), 2, ceil_mode=True)`` is ``[[1.]]``), while the
  output size is at least 1.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytest

import poolcli
from poolcli.core.lp import round_power_mean

# --- integer lp: exact ties -----------------------------------------------------------------------


def test_lp_ties_of_the_issue_round_up() -> None:
    got = poolcli.pool(np.array([[0, 6]], np.uint8), "lp", kernel_size=(1, 2), p=0.5)
    assert got.tolist() == [[2]]  # (sqrt(6)/2)**2 = 1.5 exactly
    x = np.array([[2, 4, 5, 5, 6, 7, 16, 22]], np.uint8)
    got = poolcli.pool(x, "lp", kernel_size=(1, 8), p=3.0)
    assert got.tolist() == [[13]]  # sum of cubes 15625 = 8 * 12.5**3


def _exact_lp(values: list[int], p: float) -> tuple[int, bool]:
    """(power mean rounded half up, whether it is exactly k + 1/2), from exact arithmetic:
    integers for an integer p, 100-digit decimals otherwise (a tie: closer than 1e-80)."""
    mags = [abs(v) for v in values]
    n = len(mags)
    if float(p).is_integer():
        q = int(p)
        s = sum(v**q for v in mags)
        r = 0  # the largest r with mean >= (r - 1/2)**q, i.e. 2**q * s >= n * (2r - 1)**q
        while 2**q * s >= n * (2 * r + 1) ** q:
            r += 1
        return r, r > 0 and 2**q * s == n * (2 * r - 1) ** q
    with localcontext() as ctx:
        ctx.prec = 100
        dp = Decimal(p)  # exact: a float is a dyadic rational
        s = sum(((Decimal(v).ln() * dp).exp() for v in mags if v), Decimal(0))
        if not s:
            return 0, False
        m = ((s / n).ln() / dp).exp()
        k = int(m)
        tie = abs(m - k - Decimal("0.5")) < Decimal("1e-80")
        return (k + 1 if tie or m - k > Decimal("0.5") else k), tie


@pytest.mark.parametrize(
    ("p", "n", "top"),
    [
        (2.0, 4, 12),
        (3.0, 8, 12),
        (4.0, 16, 6),
        (0.5, 2, 12),
        (0.5, 4, 12),
        (1.5, 4, 9),
        (2.5, 2, 12),
        (0.25, 2, 20),
        (0.75, 4, 9),
        (1 / 3, 2, 12),
        (3.0, 4, 255),
    ],
)
def test_lp_rounds_exactly_on_random_windows(p: float, n: int, top: int) -> None:
    rng = np.random.default_rng(int(p * 1000) + n)
    windows = 400
    x = rng.integers(0, top + 1, (1, n * windows)).astype(np.uint8)
    got = poolcli.pool(x, "lp", kernel_size=(1, n), p=p)[0]
    ties = 0
    for i in range(windows):
        want, tie = _exact_lp(x[0, i * n : (i + 1) * n].tolist(), p)
        ties += tie
        assert int(got[i]) == want, (p, x[0, i * n : (i + 1) * n].tolist(), int(got[i]), want)
    if p in (2.0, 0.5, 0.25):
        assert ties > 0  # the draw holds exact ties, the point of the test


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.int64])
def test_lp_ties_in_wide_integers(dtype) -> None:
    # 3**2 + 4**2 + 12**2 + 84**2 = 85**2: the mean of squares is exactly 42.5**2, scaled up
    for scale in (1, 7, 301):
        x = np.array([[3, 4, 12, 84]], dtype) * scale
        got = poolcli.pool(x, "lp", kernel_size=(1, 4), p=2.0)
        want, tie = _exact_lp([int(v) for v in x[0]], 2.0)
        assert tie and got.tolist() == [[want]]


# --- ceil_mode windows larger than the input ------------------------------------------------------


def _torch_out(n: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's ceil_mode output size (pooling_output_shape), floor division included."""
    eff = d * (k - 1) + 1
    out = (n + 2 * p - eff + s - 1) // s + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


def test_ceil_mode_takes_a_window_larger_than_the_input() -> None:
    assert poolcli.pool(np.ones((1, 1)), "max", kernel_size=2, ceil_mode=True).tolist() == [[1.0]]
    x = np.array([[1, 2, 4]], np.uint8)
    assert poolcli.pool(x, "avg", kernel_size=(1, 4), ceil_mode=True).tolist() == [[2]]
    assert poolcli.pool(x, "sum", kernel_size=(1, 5), stride=(1, 3), ceil_mode=True).tolist() == [
        [7]
    ]
    with pytest.raises(poolcli.WindowError):  # out < 1 by PyTorch's rule: no window at all
        poolcli.pool(np.ones((1, 1)), "max", kernel_size=(1, 3), stride=1, ceil_mode=True)


def test_ceil_mode_geometry_matches_pytorch_rule_on_random_axes() -> None:
    """Every (n, k, s, p, d) with a window: the output size is PyTorch's, and each output is
    the max over the cells of its window inside the input."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(3000):
        n, k, s, d = (int(v) for v in rng.integers(1, 7, 4))
        eff = d * (k - 1) + 1
        p = int(rng.integers(0, eff // 2 + 1))
        out = _torch_out(n, k, s, p, d)
        starts = [i * s - p for i in range(max(out, 0))]
        has_cells = all(any(0 <= a + j * d < n for j in range(k)) for a in starts)
        x = rng.integers(0, 100, (1, n)).astype(np.int16)
        kw = {"kernel_size": (1, k), "stride": (1, s), "padding": (0, p), "dilation": (1, d)}
        if out < 1 or not has_cells:
            with pytest.raises(poolcli.WindowError):
                poolcli.pool(x, "max", ceil_mode=True, **kw)
            continue
        got = poolcli.pool(x, "max", ceil_mode=True, **kw)
        want = [max(int(x[0, c]) for c in range(a, a + eff, d) if 0 <= c < n) for a in starts]
        assert got[0].tolist() == want, (n, k, s, p, d)
        checked += 1
    assert checked > 1000


def test_round_power_mean_finds_the_result_from_any_guess() -> None:
    values = [3, 4, 12, 84]  # mean of squares 42.5**2: a tie, rounded up to 43
    for guess in (0, 1, 42, 43, 44, 10**6):
        assert round_power_mean(values, 2.0, guess) == 43
    assert round_power_mean([0, 0, 0], 0.5, 5) == 0
    big = [2**62, 2**62 - 1]  # beyond float64's resolution: exact integers
    assert round_power_mean(big, 1.0, 0) == 2**62
