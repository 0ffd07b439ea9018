"""Terminal previews (``poolcli show``): an image shrunk with a box filter to character cells,
coloured half blocks or an ASCII ramp. A preview of a large photo should look like the photo, not
like its aliasing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from poolcli.errors import WindowError
from poolcli.io.display import (
    RGB,
    composite,
    display_planes,
    resize_nearest,
)

ASCII_RAMP = " .:-=+*#%@"


# --------------------------------------------------------------------------- terminal preview


def preview_size(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """Pixel ``(w, h)`` at which an image of ``size`` is previewed in ``width x height`` cells.

    A cell holds two pixels stacked (half blocks), so the space is ``width x 2*height`` square
    pixels. An image that fits is enlarged by the largest integer factor that still fits (pixels
    stay square blocks); a larger one is shrunk, aspect kept (rounded, at least 1 pixel).

    >>> preview_size((2, 4), 80, 24), preview_size((640, 480), 80, 24)
    ((24, 48), (64, 48))
    """
    if width < 1 or height < 1:
        raise WindowError(f"preview needs at least 1x1 cells, got {width}x{height}")
    w, h = size
    rows = 2 * height
    if w <= width and h <= rows:
        f = min(width // w, rows // h)
        return w * f, h * f
    # Shrink by the tighter axis; compare w/width with h/rows without floats.
    if w * rows >= h * width:
        return width, min(rows, max(1, (2 * h * width + w) // (2 * w)))
    return min(width, max(1, (2 * w * rows + h) // (2 * h))), rows


def _preview_rgb(image: Image.Image, width: int, height: int) -> np.ndarray:
    """Composited RGB pixels of ``image`` at :func:`preview_size`."""
    w, h = preview_size(image.size, width, height)
    rgb, alpha = display_planes(image)
    planes = rgb if alpha is None else np.dstack([rgb, alpha])
    if w >= image.width:  # enlarging (or same size): nearest, by an integer factor
        planes = resize_nearest(planes, w, h)
    else:  # shrinking: box filter; Pillow weights colour by alpha when it resizes RGBA
        planes = np.asarray(Image.fromarray(planes).resize((w, h), Image.Resampling.BOX))
    alpha = None if alpha is None else planes[:, :, 3]
    # Checker squares of 2x2 pixels: two cells wide, one cell tall.
    return composite(planes[:, :, :3], alpha, 2)


def preview_cells(
    image: Image.Image, width: int, height: int
) -> list[list[tuple[RGB, RGB | None]]]:
    """Colours of a half-block terminal preview of ``image`` within ``width x height`` cells.

    Each cell shows two stacked pixels as ``'▀'``: foreground = top pixel, background = bottom
    pixel. The image is sized by :func:`preview_size` (integer nearest-neighbour enlargement, or
    a box-filter reduction) after :func:`to_display`'s mapping; alpha is composited on a
    checkerboard of 2x2-pixel squares.

    Returns
    -------
    list of rows of ``(top, bottom)`` cells
        ``ceil(h / 2)`` rows of ``w`` cells, each colour an ``(r, g, b)`` tuple of ints. When the
        pixel height is odd the last row's ``bottom`` is ``None`` (draw the top half only).

    Examples
    --------
    >>> from PIL import Image
    >>> preview_cells(Image.new("RGB", (1, 3), (9, 8, 7)), 1, 2)
    [[((9, 8, 7), (9, 8, 7))], [((9, 8, 7), None)]]
    """
    rgb = _preview_rgb(image, width, height)
    pixels = [[tuple(int(c) for c in px) for px in row] for row in rgb.tolist()]
    cells = []
    for y in range(0, len(pixels), 2):
        bottom = pixels[y + 1] if y + 1 < len(pixels) else [None] * len(pixels[y])
        cells.append(list(zip(pixels[y], bottom, strict=True)))
    return cells  # type: ignore[return-value]


def preview_text(image: Image.Image, width: int, height: int) -> list[str]:
    """Plain-text preview: one :data:`ASCII_RAMP` character per cell, for terminals without colour.

    The cells are those of :func:`preview_cells`; a cell's luminance is the mean of its two
    pixels' ``(299 R + 587 G + 114 B) / 1000`` (Pillow's ``L``), and character
    ``ASCII_RAMP[lum * 10 // 256]``, space for black (a dark terminal's background).

    >>> from PIL import Image
    >>> preview_text(Image.new("L", (3, 2), 255), 3, 1)
    ['@@@']
    """
    rgb = _preview_rgb(image, width, height).astype(np.int64)
    lum = (299 * rgb[:, :, 0] + 587 * rgb[:, :, 1] + 114 * rgb[:, :, 2] + 500) // 1000
    if lum.shape[0] % 2:
        lum = np.vstack([lum, lum[-1:]])
    cell = (lum[0::2] + lum[1::2] + 1) // 2
    ramp = np.array(list(ASCII_RAMP))
    return ["".join(row) for row in ramp[cell * len(ASCII_RAMP) // 256]]
