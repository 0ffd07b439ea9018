"""Shared fixtures: small images of every Pillow mode, made in code (no binary files)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

# Array dtype of each mode's pixels, channels, and the modes a test can make with random pixels.
MODE_DTYPES: dict[str, tuple[str, int]] = {
    "1": ("bool", 1),
    "L": ("uint8", 1),
    "LA": ("uint8", 2),
    "La": ("uint8", 2),
    "P": ("uint8", 1),
    "PA": ("uint8", 2),
    "RGB": ("uint8", 3),
    "RGBA": ("uint8", 4),
    "RGBa": ("uint8", 4),
    "RGBX": ("uint8", 4),
    "CMYK": ("uint8", 4),
    "YCbCr": ("uint8", 3),
    "LAB": ("uint8", 3),
    "HSV": ("uint8", 3),
    "I;16": ("<u2", 1),
    "I;16L": ("<u2", 1),
    "I;16B": (">u2", 1),
    "I;16N": ("=u2", 1),
    "I": ("<i4", 1),
    "F": ("<f4", 1),
}


def random_pixels(rng: np.random.Generator, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Random ``(h, w[, c])`` pixels for ``mode``; few distinct values so ``mode`` pooling bites."""
    w, h = size
    dtype, c = MODE_DTYPES[mode]
    shape = (h, w) if c == 1 else (h, w, c)
    if mode == "1":
        return rng.random(shape) < 0.5
    if dtype == "uint8":
        return rng.choice(np.array([0, 1, 7, 128, 200, 254, 255], np.uint8), shape)
    if dtype.endswith("u2"):
        return rng.choice(np.array([0, 1, 255, 256, 40000, 65535]), shape).astype(dtype)
    if mode == "I":
        return rng.choice(np.array([-(2**31), -5, 0, 3, 70000, 2**31 - 1]), shape).astype(dtype)
    return rng.normal(0, 1000, shape).astype(dtype)


def image_from_pixels(pixels: np.ndarray, mode: str) -> Image.Image:
    """A Pillow image of ``mode`` holding ``pixels``, built through bytes (not ``fromarray``)."""
    h, w = pixels.shape[:2]
    if mode == "1":
        return Image.frombytes("L", (w, h), (pixels * np.uint8(255)).tobytes()).convert("1")
    dtype, _ = MODE_DTYPES[mode]
    raw = {"I": "I", "F": "F"}.get(mode, mode)
    return Image.frombytes(mode, (w, h), np.ascontiguousarray(pixels, dtype).tobytes(), "raw", raw)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


@pytest.fixture
def make_image(rng: np.random.Generator) -> Callable[..., tuple[Image.Image, np.ndarray]]:
    """``make_image(mode, size=(7, 5))`` -> (image, its pixels as an array made independently).

    ``P``/``PA`` images get a palette of distinct, well separated colours.
    """

    def make(mode: str, size: tuple[int, int] = (7, 5)) -> tuple[Image.Image, np.ndarray]:
        pixels = random_pixels(rng, mode, size)
        if mode in ("P", "PA"):
            pixels[..., 0] = pixels[..., 0] % 16  # indices 0..15 of a 16-colour palette
            image = image_from_pixels(pixels, mode)
            image.putpalette(distinct_palette(16))
        else:
            image = image_from_pixels(pixels, mode)
        return image, pixels

    return make


def distinct_palette(n: int) -> list[int]:
    """``n`` RGB colours, pairwise far apart (flat list for ``putpalette``)."""
    levels = [0, 85, 170, 255]
    colours = [(r, g, b) for r in levels for g in levels for b in levels][::3][:n]
    assert len(colours) == n
    return [v for c in colours for v in c]


def numpy_stats(a: np.ndarray) -> list[dict]:
    """Per-channel max, min, mean, median and std, in float64: what ``stats`` should report."""
    planes = a[:, :, None] if a.ndim == 2 else a
    out = []
    for c in range(planes.shape[2]):
        v = planes[:, :, c].astype(np.float64)
        out.append(
            {
                "max": v.max(),
                "min": v.min(),
                "mean": v.mean(),
                "median": np.median(v),
                "std": v.std(),
            }
        )
    return out


# The keys every pooling record's JSON line carries (README, "Command line").
POOL_JSON_KEYS = {
    "input",
    "output",
    "status",
    "error",
    "input_shape",
    "output_shape",
    "image_mode",
    "dtype",
    "seconds",
}


@pytest.fixture
def zarr_cleanup():
    """Stop zarr's I/O thread after a test that wrote or read Zarr: zarr 3 keeps an event loop
    on a thread of its own, and the tests that fork worker processes want a single thread."""
    yield
    sync = __import__("zarr.core.sync", fromlist=["cleanup_resources"])
    sync.cleanup_resources()
