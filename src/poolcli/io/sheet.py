"""Comparison sheets (``poolcli compare``): one image pooled by several modes, side by side.

Resizing for display is nearest-neighbour (see :func:`compare_sheet`) when enlarging, so a pooled
pixel stays one flat block. Panels are made of display pixels (:mod:`poolcli.io.display`); the
sheet is returned as a Pillow image, the CLI writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from poolcli.core.modes import resolve_mode
from poolcli.core.pool import pool
from poolcli.errors import WindowError
from poolcli.io.display import (
    CHECKER_SQUARE,
    STRETCHED,
    composite,
    display_planes,
    finite_range,
    resize_nearest,
    stretch,
)


def _sum_planes(image: Image.Image, pool_kwargs: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """Display planes of the ``sum`` of an 8-bit image with several channels: the sums of its
    display colours (of the pixels that are not fully transparent), stretched with one range for
    all colour channels; the alpha summed and saturated at 255."""
    rgb, alpha = display_planes(image)
    if alpha is not None:
        rgb = np.where(alpha[:, :, None] > 0, rgb, 0).astype(np.uint8)
    sums = pool(rgb, "sum", **pool_kwargs).astype(np.float64)
    shown = stretch(sums, None)
    if alpha is None:
        return shown, None
    return shown, np.clip(pool(alpha, "sum", **pool_kwargs), 0, 255).astype(np.uint8)


# The modes `poolcli compare` shows when none are named.
DEFAULT_MODES = ("max", "avg", "min", "median", "mode")

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)
MARGIN = 8  # around the sheet
GAP = 8  # between columns and between rows
LABEL_PAD = 3  # above and below a label's text
LINE_SPACING = 2


Box = tuple[int, int, int, int]


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
        One frame, any mode :func:`poolcli.io.pooling.pool_image` handles.
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
    from poolcli.io.pooling import pool_image

    if not isinstance(panel, int) or panel < 1:
        raise WindowError(f"panel size must be a positive integer, got {panel!r}")
    names = [resolve_mode(m) for m in modes]
    pictures = [("input", image)] + [(n, pool_image(image, n, **pool_kwargs)) for n in names]

    shared = None
    if image.mode in STRETCHED:
        shared = finite_range(p for _, p in pictures if p.mode == image.mode)
    planes = [
        _sum_planes(image, pool_kwargs)
        if n == "sum" and p.mode not in STRETCHED  # saturated at 255 in the input's own mode
        else display_planes(p, shared if p.mode == image.mode else None)
        for n, p in pictures
    ]

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
            shown_rgb = resize_nearest(rgb[y0:y1, x0:x1], box_w, box_h)
            shown_a = None if alpha is None else resize_nearest(alpha[y0:y1, x0:x1], box_w, box_h)
            sheet[by : by + box_h, bx : bx + box_w] = composite(shown_rgb, shown_a, CHECKER_SQUARE)
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
