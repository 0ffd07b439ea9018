"""Pyramids: successive pooled levels of one image, for tiles and mip maps.

Level 0 is the input; level ``L`` is the input pooled with non-overlapping windows of
``factor**L`` cells (kernel = stride, no padding, the ragged edge dropped as ``ceil_mode=False``
does), so its size is ``floor(size / factor**L)``.

How each level is computed, and why:

* ``max`` and ``min`` are taken from the level before, with the ``factor`` window: the window of
  level ``L`` covers exactly the windows of level ``L-1`` that make it up (``floor(floor(n/f)/f)``
  is ``floor(n/f**2)``, and window ``i`` of level ``L`` spans level ``L-1``'s windows
  ``i*f .. i*f+f-1``), and the extreme of extremes is the extreme of the union, NaN included.
  Each level then costs a quarter of the one before.
* Every other mode is computed from the input with the ``factor**L`` window. ``avg`` of integers
  rounds each level, and averages of rounded averages drift (``[1, 0, 0, 0]``: 1 then 1, but 0
  directly); ``median``, ``mode`` and ``lp`` of pooled values are not those of the cells; ``sum``
  of images saturates each level to the image's type. Palette (``P``) images and ``HSV`` are
  converted and mapped back at each level, so they also come from the input.

The results are those of :func:`poolcli.pool` / :func:`poolcli.io.pooling.pool_picture` with the
level's window, whichever way a level was computed; ``tests/run/test_pyramid.py`` checks both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poolcli.core.modes import resolve_mode
from poolcli.errors import WindowError

if TYPE_CHECKING:
    import numpy as np

    from poolcli.io.picture import Picture

# Modes where pooling the previous level gives the level: the extreme of extremes.
CHAINED_MODES = frozenset({"max", "min"})
# Image modes that pool_image converts and maps back, so a level of a level is not a level.
_CONVERTED_IMAGE_MODES = frozenset({"P", "PA", "HSV"})


@dataclass(frozen=True)
class Step:
    """How level ``level`` is made: pool level ``source`` with ``kernel`` (= stride) cells."""

    level: int
    source: int
    kernel: tuple[int, int]

    @property
    def scale(self) -> tuple[int, int]:
        """The level's window on the input: ``factor**level`` cells per axis."""
        if self.source == 0:
            return self.kernel
        return self.kernel[0] ** self.level, self.kernel[1] ** self.level


def chains(mode: str, image_mode: str | None = None) -> bool:
    """Whether level ``L`` is exactly level ``L-1`` pooled again (see the module notes).

    >>> chains("max"), chains("avg"), chains("max", "P")
    (True, False, False)
    """
    return resolve_mode(mode) in CHAINED_MODES and image_mode not in _CONVERTED_IMAGE_MODES


def plan(
    mode: str, levels: int, factor: int | tuple[int, int] = 2, image_mode: str | None = None
) -> list[Step]:
    """The steps that make levels 1 to ``levels``.

    >>> [(s.level, s.source, s.kernel) for s in plan("max", 3)]
    [(1, 0, (2, 2)), (2, 1, (2, 2)), (3, 2, (2, 2))]
    >>> [(s.level, s.source, s.kernel) for s in plan("avg", 3, (1, 2))]
    [(1, 0, (1, 2)), (2, 0, (1, 4)), (3, 0, (1, 8))]
    """
    fh, fw = _pair(factor)
    if levels < 1:
        raise WindowError(f"levels must be at least 1, got {levels}")
    if chains(mode, image_mode):
        return [Step(level, level - 1, (fh, fw)) for level in range(1, levels + 1)]
    return [Step(level, 0, (fh**level, fw**level)) for level in range(1, levels + 1)]


def max_levels(size_hw: tuple[int, int], factor: int | tuple[int, int] = 2) -> int:
    """How many levels an image of ``(H, W)`` has room for: the last one is at least 1x1.

    >>> max_levels((7, 9)), max_levels((1024, 1024), 4), max_levels((5, 100), (1, 3))
    (2, 5, 4)
    """
    fh, fw = _pair(factor)
    h, w = size_hw
    n = 0
    while fh ** (n + 1) <= h and fw ** (n + 1) <= w:
        n += 1
    return n


def pyramid(
    x: np.ndarray,
    mode: str,
    levels: int,
    factor: int | tuple[int, int] = 2,
    **pool_kwargs: Any,
) -> list[np.ndarray]:
    """Levels 1 to ``levels`` of an array, each equal to ``pool(x, mode, factor**L)``.

    ``pool_kwargs`` are passed to :func:`poolcli.pool` (``p``, ``threads``).

    Raises
    ------
    WindowError
        More levels than the array has room for (see :func:`max_levels`), a bad factor.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> [level.tolist() for level in pyramid(x, "max", 2)]
    [[[5, 7], [13, 15]], [[15]]]
    """
    from poolcli.core.pool import pool

    steps = plan(mode, levels, factor)
    _check_room(x.shape[:2], levels, factor)
    made = {0: x}
    for step in steps:
        made[step.level] = pool(
            made[step.source], mode, kernel_size=step.kernel, stride=step.kernel, **pool_kwargs
        )
    return [made[level] for level in range(1, levels + 1)]


def pyramid_picture(
    pic: Picture,
    mode: str,
    levels: int,
    factor: int | tuple[int, int] = 2,
    **pool_kwargs: Any,
) -> Iterator[tuple[Step, Picture]]:
    """Levels 1 to ``levels`` of a decoded file (every frame), each with the step that made it.

    Each level equals :func:`poolcli.io.pooling.pool_picture` of ``pic`` with ``factor**L`` windows
    (DPI scaled accordingly). Levels are made one after the other, so a caller can write each
    one as it comes; a level stays in memory only while the next one needs it.

    Raises
    ------
    WindowError
        More levels than the image has room for, a bad factor: when called, before any level
        is made.
    UnsupportedError
        An unknown mode.
    """
    steps = plan(mode, levels, factor, pic.mode)
    w, h = pic.size
    _check_room((h, w), levels, factor)
    return _levels(pic, mode, steps, pool_kwargs)


def _levels(
    pic: Picture, mode: str, steps: list[Step], pool_kwargs: dict[str, Any]
) -> Iterator[tuple[Step, Picture]]:
    from poolcli.io import pooling

    made = {0: pic}
    for step in steps:
        kernel = step.kernel
        made[step.level] = pooling.pool_picture(
            made[step.source], mode, kernel_size=kernel, stride=kernel, **pool_kwargs
        )
        yield step, made[step.level]
        if step.source != 0:  # chained: the level before is no longer needed
            del made[step.source]


def _check_room(size_hw: tuple[int, ...], levels: int, factor: int | tuple[int, int]) -> None:
    room = max_levels((size_hw[0], size_hw[1]), factor)
    if levels > room:
        fh, fw = _pair(factor)
        f = str(fh) if fh == fw else f"{fh}x{fw}"
        h, w = size_hw[:2]
        raise WindowError(f"a {h}x{w} image has room for {room} levels at factor {f}, not {levels}")


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
    if h < 1 or w < 1 or h * w < 2:
        raise WindowError(f"the factor must be at least 1 on each axis and 2 on one, got {value}")
    return h, w
