"""Make the small synthetic sample images beside this file.

Run with NumPy and Pillow only::

    python sample_images/make_samples.py

The output is deterministic (no randomness, no timestamps): running it again rewrites the same
pixels. Each image exercises one corner of SPEC.md section 2 that the photos do not: odd sizes,
alpha, palettes, 1-bit, 16-bit, float and animation. CREDITS.md describes every file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index arrays (float64) of an h x w image."""
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.float64), xx.astype(np.float64)


def sprite_rgba() -> Image.Image:
    """33x29 RGBA: a soft-edged coloured disc and an opaque bar on a transparent background.

    The fully transparent pixels carry loud magenta RGB (255, 0, 255, 0): a pooling that does not
    weight colour by alpha lets it bleed into the edge of the disc, which is easy to see and test.
    """
    h, w = 29, 33
    yy, xx = _grid(h, w)
    dist = np.hypot(yy - 13.0, xx - 15.0)
    # Anti-aliased edge: alpha falls from 255 to 0 between radius 9.5 and 12.5.
    disc = np.clip((12.5 - dist) / 3.0, 0.0, 1.0)
    rgba = np.zeros((h, w, 4), np.uint8)
    inside = disc > 0
    rgba[..., 0] = np.where(inside, np.round(40 + 200 * xx / (w - 1)), 255).astype(np.uint8)
    rgba[..., 1] = np.where(inside, np.round(40 + 200 * yy / (h - 1)), 0).astype(np.uint8)
    rgba[..., 2] = np.where(inside, 90, 255).astype(np.uint8)
    rgba[..., 3] = np.round(255 * disc).astype(np.uint8)
    # An opaque 5-pixel-high bar touching the right and bottom edges (ragged windows there).
    rgba[24:29, 20:33] = (20, 20, 20, 255)
    return Image.fromarray(rgba)


LABEL_COLOURS = [
    (0, 0, 0),  # 0 background
    (230, 25, 75),  # 1 rectangle
    (60, 180, 75),  # 2 disc
    (0, 130, 200),  # 3 triangle
    (255, 225, 25),  # 4 one-pixel line
]


def labels_p() -> Image.Image:
    """64x48 P: a label mask (0 background, 1 rectangle, 2 disc, 3 triangle, 4 thin line).

    The palette has exactly five entries. Label 4 is a 1-pixel-wide diagonal line: max keeps it,
    mode usually drops it, avg of the colours would invent colours that are not labels.
    """
    h, w = 48, 64
    yy, xx = _grid(h, w)
    labels = np.zeros((h, w), np.uint8)
    labels[5:21, 4:27] = 1
    labels[np.hypot(yy - 31.0, xx - 44.0) <= 11.0] = 2
    labels[(yy >= 26) & (yy <= 45) & (xx >= 3) & (xx - 3 <= (yy - 26))] = 3
    line = (xx - 30 == yy) & (yy < 20)
    labels[line] = 4
    image = Image.frombytes("P", (w, h), labels.tobytes())
    image.putpalette([c for rgb in LABEL_COLOURS for c in rgb])
    return image


def gray_alpha_la() -> Image.Image:
    """45x31 LA: a radial grey ramp whose alpha rises from 0 (left) to 255 (right)."""
    h, w = 31, 45
    yy, xx = _grid(h, w)
    grey = np.clip(255 - 9 * np.hypot(yy - 15.0, xx - 22.0), 0, 255)
    alpha = 255 * xx / (w - 1)
    la = np.stack([grey, alpha], axis=-1)
    return Image.fromarray(np.round(la).astype(np.uint8))


def mask_1bit() -> Image.Image:
    """51x37 mode "1": a ring, a 1-pixel grid every 8 pixels and an isolated dot."""
    h, w = 37, 51
    yy, xx = _grid(h, w)
    r = np.hypot(yy - 18.0, xx - 25.0)
    mask = (r >= 10) & (r <= 14)
    mask |= (yy % 8 == 0) | (xx % 8 == 0)
    mask[33, 47] = True
    return Image.fromarray(mask)


def gradient_u16() -> Image.Image:
    """257x131 I;16: value = 255 * x + y, so 0 at the top left and 65410 at the bottom right.

    Both bytes of every sample change across the image, so an 8-bit round trip shows at once.
    """
    h, w = 131, 257
    yy, xx = np.mgrid[0:h, 0:w]
    values = (255 * xx + yy).astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16", image.mode
    return image


def float_f() -> Image.Image:
    """63x47 F (float32): a smooth wave from about -1.5 to 2.5 with a few exact values.

    Values are finite (no NaN) but negative and above 1, which an 8-bit conversion would clip.
    """
    h, w = 47, 63
    yy, xx = _grid(h, w)
    wave = 0.5 + 2.0 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    values = wave.astype(np.float32)
    values[0, 0] = -1.5
    values[-1, -1] = 2.5
    image = Image.fromarray(values)
    assert image.mode == "F", image.mode
    return image


GIF_DURATIONS = [80, 160, 240, 400]  # milliseconds, all different


def animated_gif() -> list[Image.Image]:
    """4 frames of 41x27 P: a square moving right on a transparent background (index 0)."""
    h, w = 27, 41
    palette = [0, 0, 0, 240, 240, 240, 200, 30, 30, 30, 90, 200]
    frames = []
    for k in range(len(GIF_DURATIONS)):
        idx = np.full((h, w), 1, np.uint8)  # light grey ground
        idx[:4] = 0  # transparent strip at the top
        idx[8:19, 3 + 9 * k : 14 + 9 * k] = 2  # red square, moving 9 px per frame
        idx[22:25, : 8 + 10 * k] = 3  # blue progress bar
        frame = Image.frombytes("P", (w, h), idx.tobytes())
        frame.putpalette(palette)
        frame.info["transparency"] = 0
        frames.append(frame)
    return frames


def main() -> None:
    sprite_rgba().save(HERE / "sprite_rgba_33x29.png")
    labels_p().save(HERE / "labels_p_64x48.png")
    gray_alpha_la().save(HERE / "gray_alpha_la_45x31.png")
    mask_1bit().save(HERE / "mask_1bit_51x37.png")
    gradient_u16().save(HERE / "gradient_u16_257x131.tif", dpi=(300, 300))
    float_f().save(HERE / "float_f_63x47.tif", dpi=(72, 72))
    first, *rest = animated_gif()
    first.save(
        HERE / "animated_4frames.gif",
        save_all=True,
        append_images=rest,
        duration=GIF_DURATIONS,
        loop=0,
        disposal=2,
        transparency=0,
        optimize=False,
    )


if __name__ == "__main__":
    main()
