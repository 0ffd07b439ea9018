"""Alpha and palettes: straight-alpha colour pooled premultiplied, palettes mapped back to
their nearest colour (the rules are in :mod:`poolcli.io.pooling`'s notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from poolcli.backends import pool  # the dispatcher: device= takes the torch backend
from poolcli.core.modes import MODES
from poolcli.io.picture import (
    saturate_u8,
)


def pool_image_alpha(image: Image.Image, name: str, kw: Mapping[str, Any]) -> Image.Image:
    return Image.fromarray(pool_alpha(np.asarray(image), name, kw), image.mode)


def pool_alpha(x: np.ndarray, name: str, kw: Mapping[str, Any]) -> np.ndarray:
    """Pool uint8 ``(H, W, k+1)`` colour + straight alpha without transparent pixels bleeding."""
    k = x.shape[2] - 1
    colour, alpha = x[..., :k], x[..., k]
    if name in ("avg", "lp", "median"):
        alpha_out = pool(alpha, name, **kw)
        if name == "avg":
            # Exact: sum(c*a) / sum(a), rounded half up. c*a <= 65025 fits uint16.
            buf = np.empty(x.shape, np.uint16)
            np.multiply(colour, alpha[..., None], out=buf[..., :k], dtype=np.uint16)
            buf[..., k] = alpha
            s = pool(buf, "sum", **kw)
            den = s[..., k:]
            col = (2 * s[..., :k] + den) // np.maximum(2 * den, 1)
        else:
            # Premultiplied: median(c*a) / median(a) and lp(c*a) / lp(a); the window's count
            # cancels. Alpha enters as 255*a, on the scale of c*a, so both see the same
            # floating-point range. Halves of median are exact in float32; lp uses float64.
            dt = np.float32 if name == "median" else np.float64
            buf = np.empty(x.shape, dt)
            np.multiply(colour, alpha[..., None], out=buf[..., :k], dtype=dt)
            np.multiply(alpha, 255, out=buf[..., k], dtype=dt)
            r = pool(buf, name, **kw)
            den = r[..., k:]
            with np.errstate(invalid="ignore", divide="ignore"):
                col = np.floor(255 * r[..., :k] / den + 0.5)
            col = np.where(den > 0, col, 0)
        out = np.empty((*alpha_out.shape, k + 1), np.uint8)
        out[..., :k] = np.clip(col, 0, 255)
        out[..., k] = alpha_out
    else:
        transparent = alpha == 0
        if transparent.any():
            # max/min: a transparent pixel's colour can never win; sum: it adds nothing;
            # mode: every transparent pixel is the same label (0, 0, 0, 0).
            fill = 255 if name == "min" else 0
            x = x.copy()
            x[transparent, :k] = fill
            if MODES[name].labels:
                x[transparent] = 0
        out = saturate_u8(pool(x, name, **kw))
    out[..., :k] *= (out[..., k] > 0)[..., None]  # fully transparent -> colour 0
    return out


def pool_palette(image: Image.Image, name: str, kw: Mapping[str, Any]) -> Image.Image:
    pal_mode = image.palette.mode if image.palette is not None else "RGB"
    rawmode = pal_mode if pal_mode in ("RGB", "RGBA") else "RGB"
    palette = image.getpalette(rawmode) or []
    n = len(palette) // len(rawmode) or 256
    if MODES[name].labels:  # palette indices are labels: pooled as they are, palette kept
        x = np.asarray(image)
        if image.mode == "PA":
            transparent = x[..., 1] == 0
            if transparent.any():
                x = x.copy()
                x[transparent] = 0
        idx = pool(x, name, **kw)
    elif image.mode == "PA":
        rgba = pool_alpha(np.asarray(image.convert("RGBA")), name, kw)
        lut = _palette_colours(image, palette, rawmode, n, with_alpha=False)
        idx = np.empty((*rgba.shape[:2], 2), np.uint8)
        idx[..., 0] = _nearest(rgba[..., :3], lut)
        idx[..., 1] = rgba[..., 3]
    else:
        with_alpha = image.has_transparency_data
        if with_alpha:
            colours = pool_alpha(np.asarray(image.convert("RGBA")), name, kw)
        else:
            colours = saturate_u8(pool(np.asarray(image.convert("RGB")), name, **kw))
        lut = _palette_colours(image, palette, rawmode, n, with_alpha=with_alpha)
        idx = _nearest(colours, lut)
    out = Image.fromarray(np.ascontiguousarray(idx), image.mode)
    if palette:
        out.putpalette(palette, rawmode)
    if "transparency" in image.info:
        out.info["transparency"] = image.info["transparency"]
    return out


def _palette_colours(
    image: Image.Image, palette: list[int], rawmode: str, n: int, *, with_alpha: bool
) -> np.ndarray:
    """``(n, 3|4)`` uint8 colour of each palette index, as Pillow's own convert() sees it."""
    strip = Image.fromarray(np.arange(n, dtype=np.uint8)[None, :], "P")
    if palette:
        strip.putpalette(palette, rawmode)
    if "transparency" in image.info and image.mode == "P":
        strip.info["transparency"] = image.info["transparency"]
    return np.asarray(strip.convert("RGBA" if with_alpha else "RGB"))[0]


def _nearest(colours: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Index into ``lut`` of the nearest colour to each pixel of uint8 ``colours`` (H, W, C).

    Distance is squared Euclidean, on premultiplied colour when C == 4 (so all transparent
    entries are equal); ties go to the lowest index. Each distinct colour is matched once.
    """
    h, w, c = colours.shape
    flat = colours.reshape(-1, c)
    key = np.zeros(len(flat), np.uint32)
    for i in range(c):
        key |= flat[:, i].astype(np.uint32) << np.uint32(8 * i)
    uniq, inverse = np.unique(key, return_inverse=True)
    ucol = np.stack([(uniq >> np.uint32(8 * i)) & 0xFF for i in range(c)], axis=1)

    def features(col: np.ndarray) -> np.ndarray:
        f = col.astype(np.int64)
        if c == 4:  # premultiplied colour and alpha on the same 0..65025 scale
            f[:, :3] *= f[:, 3:]
            f[:, 3] *= 255
        return f

    fu, fl = features(ucol), features(lut)
    best = np.empty(len(uniq), np.intp)
    step = max(1, (1 << 20) // len(fl))
    for start in range(0, len(uniq), step):  # chunks of distinct colours, never single pixels
        d = fu[start : start + step, None, :] - fl[None, :, :]
        best[start : start + step] = np.einsum("ijk,ijk->ij", d, d).argmin(axis=1)
    return best[inverse.reshape(-1)].reshape(h, w).astype(np.uint8)
