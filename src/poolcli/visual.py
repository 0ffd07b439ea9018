"""Seeing pooled images: comparison sheets, terminal preview cells, per-channel statistics.

Everything here returns data (Pillow images, lists, dicts); the CLI renders and prints it.

How an image becomes display pixels (:func:`to_display`), and why:

* ``1``, ``L``, ``P``, ``CMYK``, ``RGB`` ... are converted by Pillow; a palette with transparency
  and the alpha modes (``LA``, ``PA``, ``RGBA``) are composited on a grey checkerboard, so
  transparent pixels are visible as such instead of showing the colour hidden under alpha 0.
* ``I;16``, ``I`` and ``F`` have no natural 8-bit view, so they are stretched linearly: the
  smallest finite value becomes 0 and the largest 255 (rounded half up). ``+inf`` shows as 255,
  ``-inf`` as 0, NaN as :data:`NAN_COLOUR`; an image whose finite values are all equal is mid grey.
  A comparison sheet stretches all its panels of such a mode with one shared range, so brighter
  means a larger value in every panel.

Resizing for display is nearest-neighbour (see :func:`compare_sheet`) when enlarging, so a pooled
pixel stays one flat block; :func:`preview_cells` shrinks with a box filter instead, since a
terminal preview of a large photo should look like the photo, not like its aliasing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from poolcli.core import pool, resolve_mode
from poolcli.errors import UnsupportedError, WindowError

# The modes `poolcli compare` shows when none are named.
DEFAULT_MODES = ("max", "avg", "min", "median", "mode")

NAN_COLOUR = (255, 0, 255)
CHECKER_LIGHT = 204
CHECKER_DARK = 153
CHECKER_SQUARE = 8  # display pixels per checkerboard square
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
MARGIN = 8  # around the sheet
GAP = 8  # between columns and between rows
LABEL_PAD = 3  # above and below a label's text
LINE_SPACING = 2

# Dark to bright: on a dark terminal a bright pixel is a dense character.
ASCII_RAMP = " .:-=+*#%@"

_STRETCHED = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})

Box = tuple[int, int, int, int]
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
    rgb, alpha = _planes(image, value_range)
    return Image.fromarray(_composite(rgb, alpha, CHECKER_SQUARE))


def _planes(
    image: Image.Image, value_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb uint8 (H, W, 3), alpha uint8 (H, W) or None)`` of ``image``, alpha not applied."""
    mode = image.mode
    if mode in _STRETCHED:
        grey = _stretch(_values(image), value_range)
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


def _stretch(values: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
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


def _composite(rgb: np.ndarray, alpha: np.ndarray | None, square: int) -> np.ndarray:
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


def _resize_nearest(plane: np.ndarray, w: int, h: int) -> np.ndarray:
    return plane[_nearest(plane.shape[0], h)][:, _nearest(plane.shape[1], w)]


# --------------------------------------------------------------------------- comparison sheet


@dataclass(frozen=True)
class Panel:
    """One labelled picture on a comparison sheet.

    ``mode`` is ``"input"`` or the canonical pooling mode; ``label`` the text drawn above the
    picture (lines joined by ``"\\n"``); ``box`` the ``(x0, y0, x1, y1)`` of the picture in the
    sheet (x1, y1 exclusive); ``shape`` the ``(height, width)`` of the whole image the panel shows
    (the input, or the pooled result); ``region`` the ``(x0, y0, x1, y1)`` of that image drawn in
    ``box`` (the whole image, or the crop); ``zoom`` is True on the crop row.
    """

    mode: str
    label: str
    box: Box
    shape: tuple[int, int]
    region: Box
    zoom: bool = False


def _size_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        h, w = value
        return str(h) if h == w else f"{h}x{w}"
    return str(value)


def window_label(mode: str = "max", **pool_kwargs: Any) -> str:
    """The window of ``pool_kwargs`` as the CLI writes it: ``k3 s2 p1 d2 ceil``, ``adaptive 8x8``.

    >>> window_label("max", kernel_size=3, stride=2, padding=1)
    'k3 s2 p1'
    >>> window_label("lp", kernel_size=2, p=3.0), window_label("avg", output_size=(4, 6))
    ('k2 s2 p=3', 'adaptive 4x6')
    """
    size = pool_kwargs.get("output_size")
    if size is not None:
        h, w = size if isinstance(size, (tuple, list)) else (size, size)
        return f"adaptive {h}x{w}"
    kernel = pool_kwargs.get("kernel_size") or 2
    stride = pool_kwargs.get("stride") or kernel
    parts = [f"k{_size_text(kernel)}", f"s{_size_text(stride)}"]
    padding = pool_kwargs.get("padding", 0)
    if padding not in (0, (0, 0), None):
        parts.append(f"p{_size_text(padding)}")
    dilation = pool_kwargs.get("dilation", 1)
    if dilation not in (1, (1, 1), None):
        parts.append(f"d{_size_text(dilation)}")
    if pool_kwargs.get("ceil_mode"):
        parts.append("ceil")
    if resolve_mode(mode) == "lp":
        parts.append(f"p={float(pool_kwargs.get('p', 2.0)):g}")
    return " ".join(parts)


def _fit_box(wh: tuple[int, int], others: Sequence[tuple[int, int]], panel: int) -> tuple[int, int]:
    """Display ``(w, h)`` shared by pictures of sizes ``wh`` (which sets the aspect) and ``others``.

    A picture no larger than ``panel`` is enlarged by an integer factor ``s``: the largest one
    (at least half the largest that fits) for which every size in ``others`` divides the box too,
    so all pooled pixels are equal square blocks; if there is none, the largest factor that fits.
    A larger picture is shrunk so that its long side is exactly ``panel``.
    """
    w, h = wh
    long = max(w, h)
    if long <= panel:
        most = panel // long
        for s in range(most, (most - 1) // 2, -1):
            if all((w * s) % ow == 0 and (h * s) % oh == 0 for ow, oh in others):
                return w * s, h * s
        return w * most, h * most
    return max(1, (2 * w * panel + long) // (2 * long)), max(
        1, (2 * h * panel + long) // (2 * long)
    )


def _crop_region(crop: Sequence[int], size: tuple[int, int]) -> Box:
    """``(x0, y0, x1, y1)`` of the crop ``(X, Y, W, H)``, clipped to an image of ``size``."""
    try:
        x, y, cw, ch = (int(v) for v in crop)
    except (TypeError, ValueError):
        raise WindowError(f"crop must be four integers X,Y,W,H, got {crop!r}") from None
    w, h = size
    if cw <= 0 or ch <= 0:
        raise WindowError(f"crop {x},{y},{cw},{ch}: width and height must be positive")
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + cw, w), min(y + ch, h)
    if x0 >= x1 or y0 >= y1:
        raise WindowError(f"crop {x},{y},{cw},{ch} lies outside the {w}x{h} (WxH) input")
    return x0, y0, x1, y1


def _scaled_region(region: Box, src: tuple[int, int], dst: tuple[int, int]) -> Box:
    """The region of a ``dst``-sized image that covers ``region`` of a ``src``-sized one.

    Proportional (start rounded down, end up, at least one pixel): exact when the stride divides
    the input and the crop, and otherwise the smallest block of pooled pixels over the crop.
    """
    (x0, y0, x1, y1), (sw, sh), (dw, dh) = region, src, dst
    nx0, ny0 = x0 * dw // sw, y0 * dh // sh
    nx1, ny1 = -(-x1 * dw // sw), -(-y1 * dh // sh)
    return nx0, ny0, max(nx1, nx0 + 1), max(ny1, ny0 + 1)


def compare_sheet(
    image: Image.Image,
    modes: Sequence[str] = DEFAULT_MODES,
    *,
    crop: Sequence[int] | None = None,
    panel: int = 256,
    **pool_kwargs: Any,
) -> tuple[Image.Image, list[Panel]]:
    """The input and its pooling by each mode, side by side at one display size, labelled.

    Parameters
    ----------
    image : PIL.Image.Image
        One frame, any mode :func:`poolcli.images.pool_image` handles.
    modes : sequence of str
        Pooling modes (aliases accepted), one panel each, after the input's panel.
    crop : (X, Y, W, H), optional
        A region of the input (clipped to it) shown again, zoomed, in a second row; in a pooled
        panel the region of pooled pixels that covers it (proportional: start rounded down, end
        up).
    panel : int
        Display size of the pictures' long side. An input no larger than this is enlarged by an
        integer factor (the largest that fits, or down to half of it if that makes every pooled
        image divide the box evenly); a larger one is shrunk to exactly ``panel``.
    **pool_kwargs
        Window options of :func:`poolcli.pool` (``kernel_size``, ``stride``, ``padding``, ...),
        meaning what they mean there (``stride`` alone leaves the kernel at 2).

    Returns
    -------
    sheet : PIL.Image.Image
        RGB, white background. Every picture of a row fills a box of the same size, drawn with
        nearest neighbour: pooled pixel ``(i, j)`` of an ``oh x ow`` image covers box pixels whose
        centre maps to it, ``floor((y + 1/2) * oh / box_h)`` — equal blocks when the box size is
        a multiple of the image size, blocks one pixel apart in size when it is not.
        Alpha is shown on a checkerboard, ``I;16``/``I``/``F`` panels of the input's mode share
        one linear stretch (see :func:`to_display`). The text above each picture (Pillow's
        built-in font) is the mode, the window and the output ``HxW`` shape.
    panels : list of Panel
        The input then one per mode; then, with ``crop``, the same again for the zoomed row.

    Raises
    ------
    PoolError
        From pooling (a window that does not fit, an unknown mode) or a crop outside the input.

    Examples
    --------
    >>> from PIL import Image
    >>> sheet, panels = compare_sheet(Image.new("L", (8, 6)), ["max"], stride=2, panel=32)
    >>> [(p.mode, p.label, p.shape) for p in panels]
    [('input', 'input\\n6x8 L', (6, 8)), ('max', 'max k2 s2\\n3x4 L', (3, 4))]
    >>> [(p.box[2] - p.box[0], p.box[3] - p.box[1]) for p in panels]  # 4x and 8x enlarged
    [(32, 24), (32, 24)]
    """
    from poolcli.images import pool_image

    if not isinstance(panel, int) or panel < 1:
        raise WindowError(f"panel size must be a positive integer, got {panel!r}")
    names = [resolve_mode(m) for m in modes]
    pictures = [("input", image)] + [(n, pool_image(image, n, **pool_kwargs)) for n in names]

    shared = None
    if image.mode in _STRETCHED:
        shared = finite_range(p for _, p in pictures if p.mode == image.mode)
    planes = [_planes(p, shared if p.mode == image.mode else None) for _, p in pictures]

    labels = [f"input\n{image.height}x{image.width} {image.mode}"] + [
        f"{n} {window_label(n, **pool_kwargs)}\n{p.height}x{p.width} {p.mode}"
        for n, p in pictures[1:]
    ]
    whole = [(0, 0, p.width, p.height) for _, p in pictures]
    rows = [(labels, whole, False)]
    if crop is not None:
        region = _crop_region(crop, image.size)
        regions = [_scaled_region(region, image.size, p.size) for _, p in pictures]
        crop_labels = [f"crop [{y0}:{y1}, {x0}:{x1}]" for x0, y0, x1, y1 in regions]
        rows.append((crop_labels, regions, True))

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_box(text: str) -> Box:
        return measure.multiline_textbbox((0, 0), text, font=font, spacing=LINE_SPACING)

    # Geometry first: box size per row, column widths, label strip heights.
    layout = []
    for row_labels, regions, _ in rows:
        sizes = [(x1 - x0, y1 - y0) for x0, y0, x1, y1 in regions]
        box_w, box_h = _fit_box(sizes[0], sizes[1:], panel)
        strip = max(text_box(t)[3] for t in row_labels) + 2 * LABEL_PAD
        layout.append((box_w, box_h, strip))
    col_w = [
        max(max(lay[0] for lay in layout), *(text_box(r[0][i])[2] for r in rows))
        for i in range(len(pictures))
    ]
    width = 2 * MARGIN + sum(col_w) + GAP * (len(col_w) - 1)
    height = 2 * MARGIN + sum(box_h + strip for _, box_h, strip in layout) + GAP * (len(rows) - 1)

    sheet = np.full((height, width, 3), BACKGROUND, np.uint8)
    panels: list[Panel] = []
    texts: list[tuple[int, int, str]] = []
    top = MARGIN
    for (row_labels, regions, zoom), (box_w, box_h, strip) in zip(rows, layout, strict=True):
        left = MARGIN
        for i, ((name, pic), (rgb, alpha)) in enumerate(zip(pictures, planes, strict=True)):
            x0, y0, x1, y1 = regions[i]
            bx, by = left + (col_w[i] - box_w) // 2, top + strip
            shown_rgb = _resize_nearest(rgb[y0:y1, x0:x1], box_w, box_h)
            shown_a = None if alpha is None else _resize_nearest(alpha[y0:y1, x0:x1], box_w, box_h)
            sheet[by : by + box_h, bx : bx + box_w] = _composite(shown_rgb, shown_a, CHECKER_SQUARE)
            tl, _, tr, _ = text_box(row_labels[i])
            texts.append((left + (col_w[i] - (tr - tl)) // 2 - tl, top + LABEL_PAD, row_labels[i]))
            panels.append(
                Panel(
                    mode=name,
                    label=row_labels[i],
                    box=(bx, by, bx + box_w, by + box_h),
                    shape=(pic.height, pic.width),
                    region=regions[i],
                    zoom=zoom,
                )
            )
            left += col_w[i] + GAP
        top += strip + box_h + GAP

    out = Image.fromarray(sheet)
    draw = ImageDraw.Draw(out)
    for x, y, text in texts:
        draw.multiline_text(
            (x, y), text, fill=TEXT_COLOUR, font=font, spacing=LINE_SPACING, align="center"
        )
    return out, panels


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
    rgb, alpha = _planes(image)
    planes = rgb if alpha is None else np.dstack([rgb, alpha])
    if w >= image.width:  # enlarging (or same size): nearest, by an integer factor
        planes = _resize_nearest(planes, w, h)
    else:  # shrinking: box filter; Pillow weights colour by alpha when it resizes RGBA
        planes = np.asarray(Image.fromarray(planes).resize((w, h), Image.Resampling.BOX))
    alpha = None if alpha is None else planes[:, :, 3]
    # Checker squares of 2x2 pixels: two cells wide, one cell tall.
    return _composite(planes[:, :, :3], alpha, 2)


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


# --------------------------------------------------------------------------- statistics


def _stats_array(image: Image.Image) -> tuple[np.ndarray, tuple[str, ...]]:
    """The array statistics are taken on, and its channel names."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "PA":
        image = image.convert("RGBA")
    array = np.asarray(image)
    if array.dtype.byteorder == ">":  # I;16B
        array = array.astype(array.dtype.newbyteorder("="))
    return array, tuple(image.getbands())


def channel_stats(
    image: Image.Image | np.ndarray, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Global pooling per channel: ``max``, ``min``, ``mean``, ``median``, ``std``.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        An image (a ``P`` image is measured on its RGB(A) colours, alpha as stored, not
        premultiplied) or an ``(H, W)`` / ``(H, W, C)`` array of a dtype :func:`poolcli.pool`
        takes.
    names : sequence of str, optional
        Channel names; by default the image's bands (``R``, ``G``, ``B``, ``A``, ``L``, ``I``,
        ``F``, ...) or ``"0"``, ``"1"``, ... for an array.

    Returns
    -------
    list of dict
        One per channel: ``channel`` (name), ``min`` and ``max`` (global min/max pooling; int for
        integer and bool data, float for float data), ``mean`` (exact: global sum pooling, in
        int64 for integer data, divided by the pixel count with Python's correctly rounded
        division — not the rounded integer ``avg``), ``median`` (global median pooling of the
        values as float64, so an even count gives the exact midpoint) and ``std`` (population
        standard deviation, ``numpy.std`` in float64), all Python numbers. NaN anywhere in a
        float channel makes every statistic of that channel NaN.

    Examples
    --------
    >>> import numpy as np
    >>> channel_stats(np.array([[1, 2], [3, 4]], np.uint8))  # doctest: +NORMALIZE_WHITESPACE
    [{'channel': '0', 'min': 1, 'max': 4, 'mean': 2.5, 'median': 2.5,
      'std': 1.118033988749895}]
    """
    if isinstance(image, Image.Image):
        array, bands = _stats_array(image)
    else:
        array = np.asarray(image)
        bands = tuple(str(i) for i in range(array.shape[2] if array.ndim == 3 else 1))
    if array.ndim not in (2, 3):
        raise UnsupportedError(f"expected an (H, W) or (H, W, C) array, got shape {array.shape}")
    planes = array if array.ndim == 3 else array[:, :, None]
    names = tuple(names) if names is not None else bands
    if len(names) != planes.shape[2]:
        raise UnsupportedError(f"{len(names)} channel names for {planes.shape[2]} channels")
    count = planes.shape[0] * planes.shape[1]

    def scalar(value: np.ndarray) -> int | float:
        item = value.reshape(-1)[0].item()
        return int(item) if isinstance(item, bool) else item

    stats = []
    for c, name in enumerate(names):
        plane = planes[:, :, c]
        if plane.dtype == np.bool_:
            # Pillow's "1" arrays store True as byte 255; astype makes it 1 before any sum.
            plane = plane.astype(np.uint8)
        total = scalar(pool(plane, "sum", output_size=1))
        stats.append(
            {
                "channel": name,
                "min": scalar(pool(plane, "min", output_size=1)),
                "max": scalar(pool(plane, "max", output_size=1)),
                "mean": total / count,
                "median": float(scalar(pool(plane.astype(np.float64), "median", output_size=1))),
                "std": float(np.std(plane, dtype=np.float64)),
            }
        )
    return stats
