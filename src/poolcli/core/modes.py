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


MODES: dict[str, ModeInfo] = {
    m.name: m
    for m in (
        ModeInfo("max", "Maximum of each window (NaN propagates)."),
        ModeInfo("min", "Minimum of each window (NaN propagates)."),
        ModeInfo(
            "avg",
            "Average of each window; integers rounded to nearest, ties up.",
            aliases=("mean",),
        ),
        ModeInfo("sum", "Sum of each window, in a wider type (int64 or float64)."),
        ModeInfo(
            "median",
            "Median of each window; even counts take the mean of the two middle values.",
            separable=False,
        ),
        ModeInfo(
            "mode",
            "Most frequent value (a pixel's channels are one label); ties go to the smallest.",
            separable=False,
            labels=True,
        ),
        ModeInfo("lp", "Power mean (mean(|x|**p))**(1/p), p > 0 (p=2 by default).", params=("p",)),
        ModeInfo(
            "sparse",
            "Mode without the background (0 by default): it wins only a window of nothing else.",
            separable=False,
            params=("background",),
            labels=True,
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
