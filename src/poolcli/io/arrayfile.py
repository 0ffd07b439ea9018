"""An array file and its axes: :class:`ArrayFile` and the rules that say which axes are pooled.

An :class:`ArrayFile` is the array(s) of one file *as stored*, with one letter per stored axis
saying what it is: ``t``, ``z``, ``y``, ``x`` are spatial (pooled), ``c`` is the channel axis
(not pooled, at most one).

Which axes are which comes from ``--axes`` when given, else from the window and the shape
(:func:`resolve_axes`): ``d`` stored axes and a window of ``n`` axes (the length of its tuples)
are all spatial when ``d == n`` and spatial plus a channel when ``d == n + 1``; without a window
that says ``n``, 1 axis is a signal (L), 2 a matrix or image (H, W), 4 a volume with channels
(D, H, W, C), and 3 axes are ambiguous, (D, H, W) or (H, W, C): refused with :class:`AxesError`,
naming the options that settle it. TIFF files keep the axes their metadata names
(:func:`poolcli.io.tiffs.tiff_axes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from poolcli.errors import ImageError, PoolError

SPATIAL_NAMES = {1: "L", 2: "HW", 3: "DHW"}
SPATIAL_LETTERS = "tzyx"
CHANNEL = "c"
WINDOW_KEYS = ("kernel_size", "stride", "padding", "dilation", "output_size")


class AxesError(ImageError):
    """The axes of an array file are ambiguous, or do not fit the window or ``axes``."""


@dataclass
class ArrayFile:
    """The array(s) of one file, as stored.

    ``arrays`` maps names to arrays (``""`` for the formats that hold one); all have the same
    number of axes, and ``axes`` has one letter per axis (``tzyx`` spatial, ``c`` channel).
    ``info`` holds what writing back needs: ``header`` and ``vector`` (text), ``tiff``
    (``"imagej"``, ``"ome"`` or ``"plain"``), ``tiff_axes`` (tifffile's letters), ``physical``
    (``{letter: [size, unit]}`` per spatial axis).

    >>> af = ArrayFile({"": np.zeros((4, 6, 3), np.uint8)}, "NPY", "yxc")
    >>> af.shape, af.names, af.spatial, af.dtype
    ((4, 6, 3), 'HWC', 2, 'uint8')
    """

    arrays: dict[str, np.ndarray]
    format: str
    axes: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> np.ndarray:
        return next(iter(self.arrays.values()))

    @property
    def shape(self) -> tuple[int, ...]:
        """The first array's stored shape."""
        return tuple(int(n) for n in self.first.shape)

    @property
    def dtype(self) -> str:
        return str(self.first.dtype)

    @property
    def spatial(self) -> int:
        """How many axes are pooled."""
        return sum(letter != CHANNEL for letter in self.axes)

    @property
    def names(self) -> str:
        """One capital per stored axis: ``L``, ``HW`` or ``DHW`` for the spatial ones, ``C``
        (``""`` when the axes were not told)."""
        return axis_names(self.axes) if self.axes else ""

    @property
    def n_frames(self) -> int:
        return len(self.arrays)

    @property
    def mode(self) -> str:
        """What the report's image-mode column says: the format and the array count."""
        return self.format if len(self.arrays) == 1 else f"{self.format}[{len(self.arrays)}]"

    @property
    def pooled_later(self) -> float:
        """0: an array file is pooled whole (:attr:`poolcli.io.picture.Picture.pooled_later`)."""
        return 0.0


def axis_names(axes: str) -> str:
    """``"zyxc"`` -> ``"DHWC"``; ``"cyx"`` -> ``"CHW"``; ``"t"`` -> ``"L"``.

    >>> axis_names("zyxc"), axis_names("cyx"), axis_names("tc")
    ('DHWC', 'CHW', 'LC')
    """
    spatial = iter(SPATIAL_NAMES[sum(a != CHANNEL for a in axes)])
    return "".join("C" if a == CHANNEL else next(spatial) for a in axes)


def shape_text(shape: tuple[int, ...], names: str | None = None) -> str:
    """``32x64x64x2 (DxHxWxC)``; without names just ``32x64x64x2``.

    >>> shape_text((32, 64, 64, 2), "DHWC")
    '32x64x64x2 (DxHxWxC)'
    """
    text = "x".join(str(n) for n in shape)
    return text if not names else f"{text} ({'x'.join(names)})"


def window_axes(pool_kwargs: Mapping[str, Any]) -> int | None:
    """The number of spatial axes a window states: the length of its tuples, else ``None``.

    >>> window_axes({"kernel_size": (2, 2, 2)}), window_axes({"stride": 2, "padding": "same"})
    (3, None)
    """
    lengths = {len(v) for k in WINDOW_KEYS if isinstance(v := pool_kwargs.get(k), (tuple, list))}
    if len(lengths) > 1:
        raise PoolError(f"the window's sizes have {' and '.join(map(str, sorted(lengths)))} axes")
    return lengths.pop() if lengths else None


# --- which axes are which -------------------------------------------------------------------------


def parse_axes(text: str) -> str:
    """Check an ``--axes`` value: letters ``t z y x`` (pooled) and at most one ``c``.

    >>> parse_axes("ZYXC"), parse_axes("tc")
    ('zyxc', 'tc')
    """
    axes = text.strip().lower()
    bad = sorted(set(axes) - set(SPATIAL_LETTERS + CHANNEL))
    if not axes or bad:
        raise PoolError(
            f"axes {text!r}: use the letters t, z, y, x (pooled) and c (channel), e.g. zyxc"
        )
    if len(set(axes)) != len(axes):
        raise PoolError(f"axes {text!r} names an axis twice")
    n = sum(a != CHANNEL for a in axes)
    if not 1 <= n <= 3:
        raise PoolError(f"axes {text!r}: 1 to 3 pooled axes (t, z, y, x), not {n}")
    return axes


def resolve_axes(
    shape: tuple[int, ...],
    name: str,
    *,
    axes: str | None = None,
    spatial: int | None = None,
) -> str:
    """The letters of a stored array's axes, from ``axes`` or from the window's ``spatial``.

    Raises :class:`AxesError` (one line naming the file, the shape and the option that settles
    it) when they cannot be told.

    >>> resolve_axes((4, 5), "a.npy"), resolve_axes((4, 5, 6), "a.npy", spatial=2)
    ('yx', 'yxc')
    >>> try:
    ...     resolve_axes((4, 5, 6), "v")
    ... except AxesError as err:
    ...     print(err)
    v: shape 4x5x6 is DxHxW or HxWxC: give --axes zyx or --axes yxc, or a 3-axis window (-k 2x2x2)
    """
    d = len(shape)
    where = f"{name}: shape {shape_text(shape) or '() (a scalar)'}"
    if axes is not None:
        axes = parse_axes(axes)
        if len(axes) != d:
            raise AxesError(f"{where} has {d} axes, --axes {axes} names {len(axes)}")
        n = sum(a != CHANNEL for a in axes)
        if spatial is not None and n != spatial:
            raise AxesError(
                f"{where}: --axes {axes} pools {n} axes, the window has {spatial}; make them agree"
            )
        return axes
    if spatial is not None:
        if d == spatial:
            return _letters(spatial)
        if d == spatial + 1:
            return _letters(spatial) + CHANNEL
        names = "x".join(SPATIAL_NAMES[spatial])
        raise AxesError(
            f"{where} does not fit a {spatial}-axis window ({names} or {names}xC):"
            " give a window with as many axes as the array pools, or --axes"
        )
    if d == 1:
        return "x"
    if d == 2:
        return "yx"
    if d == 3:
        raise AxesError(
            f"{where} is DxHxW or HxWxC: give --axes zyx or --axes yxc, or a 3-axis window"
            " (-k 2x2x2)"
        )
    if d == 4:
        return "zyxc"
    raise AxesError(f"{where}: poolcli pools 1 to 3 axes and one channel axis, not {d} axes")


def _letters(n: int) -> str:
    return {1: "x", 2: "yx", 3: "zyx"}[n]


def one_line(err: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__
