"""The registry of pooling modes and the window defaults: one copy, free of NumPy.

The CLI builds one command per entry and its help from the summaries; :func:`poolcli.pool`
takes its defaults from :data:`DEFAULTS`. Importing this module costs nothing, so
``poolcli --help`` never loads NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poolcli.errors import UnsupportedError

# Defaults of poolcli.pool's window arguments (stride None means "the kernel size").
DEFAULTS: dict[str, Any] = {
    "kernel_size": 2,
    "stride": None,
    "padding": 0,
    "dilation": 1,
    "ceil_mode": False,
    "count_include_pad": True,
    "output_size": None,
    "p": 2.0,
    "background": 0,
}


@dataclass(frozen=True)
class ModeInfo:
    """One pooling mode: its name, one-line summary (CLI help), aliases and extra parameters."""

    name: str
    summary: str
    aliases: tuple[str, ...] = ()
    separable: bool = True
    params: tuple[str, ...] = ()  # pool() arguments that only this mode uses
    # A pixel's channels are one label (never mixed), so palette indices and transparent pixels
    # are pooled as labels too.
    labels: bool = False
    # CPU work per input byte relative to max, for the default thread count
    # (poolcli.core.cpus.threads_for), from benchmarks/bench_threads.py on 2 cores (uint8 RGB,
    # 2x2; median 3x3 stride 2), ms per MiB on one thread: max 0.27, avg 0.5-0.9, sum 0.8,
    # median 2.4, mode 2.3 (5 for one channel: labels are whole pixels), lp 13. avg's time at
    # 1024x1024 is bimodal (1.6 or 2.7 ms from run to run; two threads 1.8 or 2.1): 2 gives it
    # two threads there. median's is set low (6, not 8): 512x512 took 1.8 ms on one thread and
    # 5 on two, a band of it costs more to hand to a thread than its size says.
    cost: float = 1.0


MODES: dict[str, ModeInfo] = {
    m.name: m
    for m in (
        ModeInfo("max", "Maximum of each window (NaN propagates)."),
        ModeInfo("min", "Minimum of each window (NaN propagates)."),
        ModeInfo(
            "avg",
            "Average of each window; integers rounded to nearest, ties up.",
            aliases=("mean",),
            cost=2,
        ),
        ModeInfo("sum", "Sum of each window, in a wider type (int64 or float64).", cost=3),
        ModeInfo(
            "median",
            "Median of each window; even counts take the mean of the two middle values.",
            separable=False,
            cost=6,
        ),
        ModeInfo(
            "mode",
            "Most frequent value (a pixel's channels are one label); ties go to the smallest.",
            separable=False,
            labels=True,
            cost=7,
        ),
        ModeInfo(
            "lp",
            "Power mean (mean(|x|**p))**(1/p), p > 0 (p=2 by default).",
            params=("p",),
            cost=32,
        ),
        ModeInfo(
            "sparse",
            "Mode without the background (0 by default): it wins only a window of nothing else.",
            separable=False,
            params=("background",),
            labels=True,
            cost=7,
        ),
    )
}
_ALIASES = {alias: m.name for m in MODES.values() for alias in (m.name, *m.aliases)}


def resolve_mode(name: str) -> str:
    """The canonical name of a mode or alias (``"mean"`` -> ``"avg"``).

    >>> resolve_mode("mean")
    'avg'
    """
    try:
        return _ALIASES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_ALIASES))
        raise UnsupportedError(f"unknown pooling mode {name!r} (known: {known})") from None
