"""Display pixels: any Pillow image as 8-bit RGB a screen can show (:func:`to_display`).

What the CLI shows (:mod:`poolcli.io.sheet`, :mod:`poolcli.io.preview`) is made of these;
everything here returns data, the CLI renders and prints it.

How an image becomes display pixels (:func:`to_display`), and why:

* ``1``, ``L``, ``P``, ``CMYK``, ``RGB`` ... are converted by Pillow; a palette with transparency
  and the alpha modes (``LA``, ``PA``, ``RGBA``) are composited on a grey checkerboard, so
  transparent pixels are visible as such instead of showing the colour hidden under alpha 0.
* ``I;16``, ``I`` and ``F`` have no natural 8-bit view, so they are stretched linearly: the
  smallest finite value becomes 0 and the largest 255 (rounded half up). ``+inf`` shows as 255,
  ``-inf`` as 0, NaN as :data:`NAN_COLOUR`; an image whose finite values are all equal is mid grey.
  A comparison sheet stretches all its panels of such a mode with one shared range, so brighter
  means a larger value in every panel.
* ``sum`` of an 8-bit image with several channels is saturated at 255 in the image's own mode
  (Pillow has no wider one), which would show as a white panel: a comparison sheet shows the
  sums of the input's display colours instead, stretched with one range shared by the colour
  channels, so that colours keep their proportions (alpha, summed, saturates at opaque).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image

from poolcli.errors import UnsupportedError

NAN_COLOUR = (255, 0, 255)
CHECKER_LIGHT = 204
CHECKER_DARK = 153
CHECKER_SQUARE = 8  # display pixels per checkerboard square


STRETCHED = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})


RGB = tuple[int, int, int]


# --------------------------------------------------------------------------- display pixels


def to_display(
    image: Image.Image, *, value_range: tuple[float, float] | None = None
) -> Image.Image:
    """An RGB image that shows ``image`` as a person should see it.

    Parameters
    ----------
    image : PIL.Image.Image
        Any mode Pillow decodes (``1``, ``L``, ``P``, ``LA``, ``RGB``, ``RGBA``, ``CMYK``,
        ``I;16``, ``I;16B``, ``I``, ``F``, ...).
    value_range : (float, float), optional
        For ``I;16``/``I``/``F`` only: the values shown as 0 and 255, instead of the image's own
        finite minimum and maximum (values outside are clipped).

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``, same size. Alpha is composited on a checkerboard of
        ``CHECKER_SQUARE``-pixel squares (grey levels ``CHECKER_LIGHT``/``CHECKER_DARK``), the
        square at the top left light. High-bit-depth modes are stretched as the module docstring
        says.

    Raises
    ------
    UnsupportedError
        A mode Pillow cannot convert to RGB.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> deep = Image.fromarray(np.array([[1000, 2000, 3000]], np.uint16))
    >>> np.asarray(to_display(deep))[0, :, 0].tolist()
    [0, 128, 255]
    """
    rgb, alpha = display_planes(image, value_range)
    return Image.fromarray(composite(rgb, alpha, CHECKER_SQUARE))


def display_planes(
    image: Image.Image, value_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb uint8 (H, W, 3), alpha uint8 (H, W) or None)`` of ``image``, alpha not applied."""
    mode = image.mode
    if mode in STRETCHED:
        grey = stretch(_values(image), value_range)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        rgb[np.isnan(_values(image))] = NAN_COLOUR
        return rgb, None
    if mode == "La":  # Pillow converts La only via RGBa
        grey, alpha = image.split()
        image = Image.merge("RGBa", (grey, grey, grey, alpha))
    if image.mode in _ALPHA - {"RGBA"} or (
        mode in ("1", "L", "P", "RGB") and "transparency" in image.info
    ):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        rgba = np.asarray(image)
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
    try:
        return np.asarray(image.convert("RGB")), None
    except ValueError as err:
        raise UnsupportedError(f"cannot show a {mode} image: {err}") from None


def _values(image: Image.Image) -> np.ndarray:
    """The pixel values of a one-band high-bit-depth image as float64."""
    return np.asarray(image).astype(np.float64)


def finite_range(images: Iterable[Image.Image]) -> tuple[float, float] | None:
    """Smallest and largest finite value over ``images`` (one-band numeric), or None if none."""
    lo, hi = np.inf, -np.inf
    for image in images:
        values = _values(image)
        finite = values[np.isfinite(values)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return None if lo > hi else (lo, hi)


def stretch(values: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Linear map of ``value_range`` (default: the finite range) onto 0..255, rounded half up."""
    if value_range is None:
        finite = values[np.isfinite(values)]
        value_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    lo, hi = value_range
    with np.errstate(invalid="ignore"):
        if hi > lo:
            scaled = np.floor((values - lo) * (255.0 / (hi - lo)) + 0.5)
        else:  # one value: neither black nor white says "constant"
            scaled = np.where(values > lo, 255.0, np.where(values < lo, 0.0, 128.0))
        scaled = np.clip(scaled, 0, 255)
    return np.nan_to_num(scaled, nan=0.0).astype(np.uint8)


def _checkerboard(h: int, w: int, square: int) -> np.ndarray:
    """``(h, w)`` uint8 grey levels, the top-left square light."""
    rows = (np.arange(h) // square)[:, None]
    cols = (np.arange(w) // square)[None, :]
    return np.where((rows + cols) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK).astype(np.uint8)


def composite(rgb: np.ndarray, alpha: np.ndarray | None, square: int) -> np.ndarray:
    """``rgb`` over a checkerboard with ``alpha``: ``round((c*a + bg*(255-a)) / 255)`` exactly."""
    if alpha is None:
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = alpha.shape
    bg = _checkerboard(h, w, square).astype(np.uint32)[:, :, None]
    a = alpha.astype(np.uint32)[:, :, None]
    mixed = (rgb.astype(np.uint32) * a + bg * (255 - a) + 127) // 255
    return mixed.astype(np.uint8)


def _nearest(n_src: int, n_out: int) -> np.ndarray:
    """Source index of each of ``n_out`` display pixels: the pixel under its centre.

    ``floor((i + 1/2) * n_src / n_out)``, in integers. For an integer factor ``f = n_out/n_src``
    this is ``i // f``: every source pixel becomes exactly ``f`` display pixels. Otherwise each
    becomes ``floor`` or ``ceil`` of the ratio, spread evenly (when shrinking, pixels are skipped).
    """
    return ((2 * np.arange(n_out) + 1) * n_src) // (2 * n_out)


def resize_nearest(plane: np.ndarray, w: int, h: int) -> np.ndarray:
    return plane[_nearest(plane.shape[0], h)][:, _nearest(plane.shape[1], w)]
