"""Format names and save parameters: what an output file's name says, what each writer is
given (quality, compression, frames, disposal), and the metadata carried over (ICC, DPI).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from poolcli.errors import UnsupportedError
from poolcli.io.picture import (
    Picture,
)

MULTI_FRAME_OUT = {"GIF", "PNG", "WEBP", "TIFF", "AVIF", "PDF"}
LOSSLESS_TIFF = {"tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"}

# Defaults chosen for the output: quality 90 is visually lossless for JPEG/WebP/AVIF photos at
# about half the size of 100. PNG level 1, measured by benchmarks/bench_e2e.py --levels: for a
# 2048x2048 photo poolcli.io.pngwrite takes 0.06 s with ISA-L (the `fast` extra), 0.13 s with zlib
# alone, where Pillow's level 6 takes 1.1 s, for files 6% and 12% larger; from level 4 up the
# files are smaller than Pillow's 6. Flat images (labels, screenshots) gain most from 6-9.
JPEG_QUALITY = 90
PNG_COMPRESS_LEVEL = 1
# The formats whose writers take a quality, and a compression level (save_params): any other
# format ignores them.
QUALITY_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "AVIF"})
COMPRESS_LEVEL_FORMATS = frozenset({"PNG"})


# The largest DPI a format's writer stores (PNG and BMP in pixels per metre, 32 bits and 31
# bits; PCX in 16 bits); a DPI beyond it (EXIF says 4294967295 in one of Pillow's test files)
# is left out rather than failing the write.
_MAX_DPI = {"PNG": (2**32 - 1) * 0.0254, "BMP": (2**31 - 1) * 0.0254, "PCX": 65535.0}
_MAX_DPI["DIB"] = _MAX_DPI["BMP"]


def scale_factors(
    in_size: tuple[int, int], out_size: tuple[int, int], kw: Mapping[str, Any]
) -> tuple[float, float]:
    """(x, y) factor by which pooling shrank the pixel pitch: the stride, or in/out if adaptive."""
    if kw.get("output_size") is not None:
        return in_size[0] / out_size[0], in_size[1] / out_size[1]
    stride = kw.get("stride")
    if stride is None:
        stride = kw.get("kernel_size", 2)
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else tuple(stride)
    return float(sw), float(sh)


def scaled_dpi(dpi: Any, fx: float, fy: float) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    return (x / fx, y / fy) if x > 0 and y > 0 else None


def carry_info(src: Image.Image, out: Image.Image, kw: Mapping[str, Any]) -> None:
    if src.info.get("icc_profile"):
        out.info["icc_profile"] = src.info["icc_profile"]
    if "transparency" in src.info and out.mode == src.mode and src.mode not in ("P", "PA"):
        out.info["transparency"] = src.info["transparency"]  # a colour key of I;16 / I images
    if "dpi" in src.info:
        dpi = scaled_dpi(src.info["dpi"], *scale_factors(src.size, out.size, kw))
        if dpi is not None:
            out.info["dpi"] = dpi


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Pillow format name for a file name's suffix (case-insensitive).

    >>> format_for_path("out/scan.TIF"), format_for_path("a.jpg")
    ('TIFF', 'JPEG')
    """
    suffix = _suffix(os.fspath(path))
    if not suffix:
        raise UnsupportedError(f"{os.fspath(path)}: no suffix to tell the image format")
    fmt = _common_extensions().get(suffix) or Image.registered_extensions().get(suffix)
    if fmt is None:
        raise UnsupportedError(f"{os.fspath(path)}: unknown image suffix {suffix!r}")
    return fmt


def _suffix(path: str) -> str:
    """``Path(path).suffix.lower()`` without building a Path (a folder of 20,000 files is
    planned with one call per file).

    >>> [_suffix(p) for p in ("a/b.TIF", "a.b/c", "a.", ".png", "x.tar.gz", "a/..png", "b.png/")]
    ['.tif', '', '', '', '.gz', '.png', '.png']
    """
    name = os.path.basename(path.rstrip("/" + os.sep))
    i = name.rfind(".")
    return name[i:].lower() if 0 < i < len(name) - 1 else ""


def format_name(format: str) -> str:
    """Pillow's name of a writable format given by name or suffix, any case.

    >>> format_name("jpg"), format_name(".tif"), format_name("WebP")
    ('JPEG', 'TIFF', 'WEBP')
    """
    upper = format.upper().lstrip(".")
    common = _common_extensions().get("." + format.lower().lstrip("."))
    if upper in Image.SAVE:
        return upper
    if common in Image.SAVE:
        return common
    Image.init()
    if upper in Image.SAVE:
        return upper
    fmt = Image.registered_extensions().get("." + format.lower().lstrip("."))
    if fmt is None:
        raise UnsupportedError(f"unknown image format {format!r}")
    if fmt not in Image.SAVE:
        raise UnsupportedError(f"Pillow cannot write {fmt} files")
    return fmt


_format_name = format_name  # the name the CLI used first


def _common_extensions() -> dict[str, str]:
    """Suffix -> format of the formats Pillow loads first (PNG, JPEG, GIF, BMP, PPM), without
    loading every other plugin as ``Image.registered_extensions`` does (15 ms, on every run)."""
    Image.preinit()
    return Image.EXTENSION


def fast_png(fmt: str, params: Mapping[str, Any]) -> bool:
    """Whether :func:`pngwrite.encode_png` may write a picture with these parameters (if it
    knows the mode and there is one frame): a level in 0..9 (Pillow also takes -1), and no
    parameter only Pillow understands."""
    level = params.get("compress_level")
    return (
        fmt == "PNG"
        and isinstance(level, int)
        and 0 <= level <= 9
        and set(params) <= {"compress_level", "icc_profile", "dpi", "exif", "loop", "duration"}
    )


# What a single-channel ``sum`` (mode ``I``, int32) is written as: TIFF, IM and SPIDER hold its
# values as they are, PNG 16 bits of them (PPM too: Pillow's writer saturates into its 16 bits
# itself), every other format 8; the rest saturates (README, "Images").
SUM_32_BITS = frozenset({"TIFF", "IM", "SPIDER", "PPM"})
SUM_16_BITS = frozenset({"PNG"})


def saturate_sum(im: Image.Image, fmt: str) -> Image.Image:
    """A frame of ``sum`` values in the widest integer mode ``fmt`` holds: ``I`` for TIFF (and
    the formats of :data:`SUM_32_BITS`), ``I;16`` for PNG, ``L`` for the others, each value
    clipped to that mode's range.

    >>> sums = Image.frombytes("I", (3, 1), np.array([-5, 300, 70000], np.int32).tobytes())
    >>> [np.asarray(saturate_sum(sums, f)).tolist() for f in ("TIFF", "PNG", "JPEG")]
    [[[-5, 300, 70000]], [[0, 300, 65535]], [[0, 255, 255]]]
    """
    if im.mode != "I" or fmt in SUM_32_BITS:
        return im
    dtype = np.uint16 if fmt in SUM_16_BITS else np.uint8
    top = np.iinfo(dtype).max
    out = Image.fromarray(np.clip(np.asarray(im), 0, top).astype(dtype))
    out.info = dict(im.info)
    return out


def storable(im: Image.Image, fmt: str) -> Image.Image:
    """``im`` in a mode ``fmt`` can hold, converted only where nothing is lost, or raise."""
    m = im.mode
    alpha = im.has_transparency_data
    if fmt == "JPEG":
        if m in ("1", "L", "RGB", "CMYK", "RGBX", "YCbCr"):
            return im
        if m == "P" and not alpha:
            return im.convert("RGB")
        why = "has no alpha channel" if alpha else "holds 8-bit L, RGB or CMYK only"
    elif fmt == "PNG":
        if m in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"):
            return im
        if m in ("I;16L", "I;16N"):
            return im.convert("I;16")
        if m == "I":
            lo, hi = im.getextrema()
            if 0 <= lo and hi <= 65535:  # type: ignore[operator]
                return im.convert("I;16")
            why = f"holds 16 bits at most, these values span {lo}..{hi} (write TIFF)"
        elif m in ("PA", "RGBX"):
            return im.convert("RGBA" if m == "PA" else "RGB")
        else:
            why = "holds 1, L, LA, P, RGB, RGBA and 16-bit L only"
    elif fmt in ("WEBP", "AVIF"):
        if m in ("RGB", "RGBA"):
            return im
        if m in ("1", "L", "P", "LA", "PA"):
            return im.convert("RGBA" if alpha else "RGB")
        why = "holds 8-bit RGB(A) only"
    elif fmt == "GIF":
        if m in ("1", "L", "P", "RGB", "RGBA"):
            return im
        if m in ("LA", "PA"):
            return im.convert("RGBA")
        why = "holds 8-bit palette images only"
    else:
        return im  # Pillow's own writer says what it cannot hold
    raise UnsupportedError(f"{fmt} cannot hold image mode {m}: {fmt} {why}")


def save_params(
    pic: Picture, fmt: str, quality: int | None, compress_level: int | None
) -> dict[str, Any]:
    info = pic.info
    p: dict[str, Any] = {}
    if fmt in QUALITY_FORMATS:
        p["quality"] = JPEG_QUALITY if quality is None else quality
        if fmt == "WEBP":
            p["lossless"] = quality == 100
    elif fmt in COMPRESS_LEVEL_FORMATS:
        p["compress_level"] = PNG_COMPRESS_LEVEL if compress_level is None else compress_level
    elif fmt == "TIFF" and "compression" in info:
        p["compression"] = info["compression"]
    if fmt in ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "AVIF") and "icc_profile" in info:
        p["icc_profile"] = info["icc_profile"]
    if fmt in ("JPEG", "MPO", "PNG", "WEBP", "AVIF") and "exif" in info:
        p["exif"] = info["exif"]
    if fmt in ("JPEG", "MPO", "PNG", "TIFF", "BMP", "DIB", "PCX", "TGA") and "dpi" in info:
        if max(info["dpi"]) <= _MAX_DPI.get(fmt, math.inf):  # else the format cannot hold it
            p["dpi"] = info["dpi"]
    if pic.n_frames > 1:
        # An APNG default image is frame 0 but not part of the animation: Pillow's per-frame
        # lists then describe the frames after it.
        skip = 1 if fmt == "PNG" and info.get("default_image") else 0
        if skip:
            p["default_image"] = True
        if "duration" in info:
            p["duration"] = info["duration"][skip:]
        if fmt in ("GIF", "PNG") and "disposal" in info:
            p["disposal"] = _disposal(pic.frames[skip:], info["disposal"][skip:])
    if "loop" in info and fmt in ("GIF", "PNG", "WEBP", "AVIF"):
        p["loop"] = info["loop"]
    if fmt == "ICO" and max(pic.size) <= 256:
        # The ICO writer otherwise stores only its standard sizes up to the image's, each a
        # thumbnail: a 37x37 result would come back 32x32.
        p["sizes"] = [pic.size]
    return p


def _disposal(frames: list[Image.Image], disposal: list[int]) -> int | list[int]:
    # Pillow merges identical consecutive frames; if all merge into one it cannot take a list.
    if len(set(disposal)) == 1:
        return disposal[0]
    first = frames[0].convert("RGBA").tobytes()
    if all(f.size == frames[0].size and f.convert("RGBA").tobytes() == first for f in frames):
        return disposal[0]
    return disposal
