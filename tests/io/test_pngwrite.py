"""poolcli.io.pngwrite: every file it writes decodes to the exact pixels, with Pillow's metadata."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import image_from_pixels, random_pixels
from poolcli.errors import UnsupportedError
from poolcli.io import pngwrite
from poolcli.io.formats import PNG_COMPRESS_LEVEL
from poolcli.io.picture import Picture
from poolcli.io.writing import encode_picture

SIZES = [(1, 1), (7, 5), (33, 17), (2, 64)]
FILTERS = ["adaptive", *pngwrite.FILTERS]


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking each CRC and the end of the file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body), kind
        out.append((kind, body))
        pos += 12 + n
    assert pos == len(data) and out[-1] == (b"IEND", b"")
    return out


def idat(data: bytes) -> bytes:
    return b"".join(body for kind, body in chunks(data) if kind == b"IDAT")


def reopen(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "PNG"
    return im


def pillow_png(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **params)
    return buf.getvalue()


def same_pixels(a: Image.Image, b: Image.Image) -> None:
    """Same size and values; 16-bit modes compare by value (I;16B decodes as I;16)."""
    assert a.size == b.size
    if a.mode.startswith("I;16") or b.mode.startswith("I;16"):
        np.testing.assert_array_equal(np.asarray(a).astype(int), np.asarray(b).astype(int))
        return
    assert a.mode == b.mode
    assert a.tobytes() == b.tobytes()


def palette_image(rng: np.random.Generator, n: int, size: tuple[int, int]) -> Image.Image:
    w, h = size
    image = Image.fromarray(rng.integers(0, n, (h, w), dtype=np.uint8), "P")
    image.putpalette(rng.integers(0, 256, 3 * n).tolist())
    return image


# --- pixels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "RGBA", "I;16", "I;16B"])
def test_round_trip_is_exact_for_every_mode_and_size(rng, backend, mode, size):
    pixels = random_pixels(rng, mode, size)
    image = image_from_pixels(pixels, mode)
    for level in (0, 1, 6):
        back = reopen(pngwrite.encode_png(image, compress_level=level))
        same_pixels(back, image)
        same_pixels(back, reopen(pillow_png(image)))


@pytest.mark.parametrize("filter", FILTERS)
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_each_filter_decodes_to_the_same_pixels(rng, mode, filter):
    # Smooth ramps plus noise: every filter's arithmetic wraps somewhere.
    h, w = 19, 23
    ramp = np.add.outer(np.arange(h) * 37, np.arange(w) * 11)
    pixels = random_pixels(rng, mode, (w, h))
    noisy = (pixels.astype(np.int64) + ramp.reshape(h, w, *([1] * (pixels.ndim - 2)))) % (
        65536 if mode == "I;16" else 256
    )
    image = image_from_pixels(noisy.astype(pixels.dtype), mode)
    data = pngwrite.encode_png(image, compress_level=6, filter=filter)
    same_pixels(reopen(data), image)
    row_bytes = w * len(image.getbands()) * (2 if mode == "I;16" else 1)
    types = set(zlib.decompress(idat(data))[:: row_bytes + 1])
    assert types == ({pngwrite.FILTERS.index(filter)} if filter != "adaptive" else types)
    assert types <= {0, 1, 2, 3, 4}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 16, 17, 200, 256])
@pytest.mark.parametrize("size", [(1, 1), (9, 7), (17, 3)])
def test_palette_images_keep_indices_palette_and_bit_depth(rng, n, size):
    image = palette_image(rng, n, size)
    data = pngwrite.encode_png(image, compress_level=1)
    back, ref = reopen(data), reopen(pillow_png(image))
    same_pixels(back, image)
    assert back.getpalette() == ref.getpalette()
    ihdr = dict(chunks(data))[b"IHDR"]
    assert ihdr[8] == dict(chunks(pillow_png(image)))[b"IHDR"][8]  # bit depth, as Pillow's


def test_palette_without_palette_data_writes_one_black_entry():
    image = Image.new("P", (3, 2))
    image.palette = None
    back = reopen(pngwrite.encode_png(image, compress_level=1))
    assert back.getpalette()[:3] == [0, 0, 0] and np.asarray(back).max() == 0


def test_paeth_predictor_matches_the_png_definition():
    # Every (left, up, upleft) on a grid with the edges and their neighbours, as one row each:
    # column 1's left is column 0 of the row, its up and upleft come from the row above.
    g = np.array([0, 1, 2, 3, 63, 64, 126, 127, 128, 129, 191, 192, 253, 254, 255], np.uint8)
    a, b, c = (v.ravel() for v in np.meshgrid(g, g, g, indexing="ij"))
    x = np.stack([a, np.full_like(a, 77)], axis=1)
    up = np.stack([c, b], axis=1)
    pred = (x[:, 1] - pngwrite._apply("paeth", x, up, 1)[:, 1]).astype(int)
    ai, bi, ci = (v.astype(int) for v in (a, b, c))
    p = ai + bi - ci
    pa, pb, pc = abs(p - ai), abs(p - bi), abs(p - ci)
    want = np.where((pa <= pb) & (pa <= pc), ai, np.where(pb <= pc, bi, ci))
    np.testing.assert_array_equal((77 - pred) % 256, (77 - want) % 256)


def test_adaptive_filter_uses_paeth_only_from_level_4():
    # A diagonal gradient: Paeth predicts it best once rows differ in both directions.
    h, w = 24, 40
    ramp = np.add.outer(np.arange(h) * 7, np.arange(w) * 3).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(np.stack([ramp, ramp * 2, ramp * 5], axis=2)))
    for level, has_paeth in ((1, False), (3, False), (4, True), (9, True)):
        raw = zlib.decompress(idat(pngwrite.encode_png(image, compress_level=level)))
        types = set(raw[:: w * 3 + 1])
        assert (4 in types) == has_paeth, (level, types)
        same_pixels(reopen(pngwrite.encode_png(image, compress_level=level)), image)


# --- one valid zlib stream ----------------------------------------------------------------------


@pytest.fixture(params=["zlib", "isal"])
def backend(request, monkeypatch):
    """Run the test with the standard library's zlib, then with ISA-L if it is installed."""
    if request.param == "zlib":
        monkeypatch.setattr(pngwrite, "_isal", None)
    elif pngwrite._isal is None:
        pytest.skip("needs the isal package")
    return request.param


@pytest.mark.parametrize("level", [0, 1, 3, 4, 9])
@pytest.mark.parametrize("threads", [1, 3])
def test_bands_join_into_one_valid_zlib_stream(rng, monkeypatch, backend, level, threads):
    monkeypatch.setattr(pngwrite, "_BAND_BYTES", 200)  # 3 rows of 17 * 3 + 1 bytes per band
    image = image_from_pixels(random_pixels(rng, "RGB", (17, 41)), "RGB")
    data = pngwrite.encode_png(image, compress_level=level, threads=threads)
    parts = [body for kind, body in chunks(data) if kind == b"IDAT"]
    assert len(parts) == 14  # one IDAT per band: 41 rows in 13 bands of 3 and one of 2
    raw = zlib.decompress(b"".join(parts))  # checks the header and the combined Adler-32
    assert len(raw) == 41 * (17 * 3 + 1)
    d = zlib.decompressobj()
    assert d.decompress(b"".join(parts)) == raw and d.eof and not d.unused_data
    same_pixels(reopen(data), image)


def test_band_count_does_not_change_the_filtered_bytes(rng, monkeypatch):
    image = image_from_pixels(random_pixels(rng, "RGBA", (31, 29)), "RGBA")
    one = zlib.decompress(idat(pngwrite.encode_png(image, compress_level=6, threads=1)))
    monkeypatch.setattr(pngwrite, "_BAND_BYTES", 1)  # one row per band
    many = zlib.decompress(idat(pngwrite.encode_png(image, compress_level=6, threads=2)))
    assert one == many


def test_adler32_combine_matches_zlib(rng):
    data = rng.integers(0, 256, 70_000, dtype=np.uint8).tobytes()
    for cut in (0, 1, 5552, 65521, 69_999, 70_000):
        a, b = data[:cut], data[cut:]
        got = pngwrite._adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b))
        assert got == zlib.adler32(data)


@pytest.mark.parametrize("level", range(10))
def test_zlib_header_is_valid_for_every_level(level):
    head = pngwrite._zlib_header(level)
    assert head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0 and not head[1] & 0x20


@pytest.mark.skipif(pngwrite._isal is None, reason="needs the isal package")
def test_isal_and_zlib_write_the_same_pixels(rng, monkeypatch):
    image = image_from_pixels(random_pixels(rng, "RGB", (45, 31)), "RGB")
    fast = pngwrite.encode_png(image, compress_level=1)
    monkeypatch.setattr(pngwrite, "_isal", None)
    plain = pngwrite.encode_png(image, compress_level=1)
    assert fast != plain
    same_pixels(reopen(fast), reopen(plain))


# --- metadata: the chunks Pillow would write ----------------------------------------------------


def non_idat(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, b) for k, b in chunks(data) if k != b"IDAT"]


METADATA_CASES = {
    "plain RGB": (Image.new("RGB", (5, 3), (1, 2, 3)), {}),
    "L colour key": (Image.new("L", (5, 3), 7), {"transparency": 7}),
    "1 colour key": (Image.new("1", (5, 3), 1), {"transparency": 255}),
    "RGB colour key": (Image.new("RGB", (5, 3), (1, 2, 3)), {"transparency": (1, 2, 3)}),
    "I;16 colour key": (Image.new("I;16", (5, 3), 300), {"transparency": 300}),
    "RGBA stale key": (Image.new("RGBA", (5, 3)), {"transparency": (1, 2, 3)}),
    "P int key": (None, {"transparency": 3}),
    "P alpha bytes": (None, {"transparency": bytes([0, 128, 255, 7, 9])}),
}


@pytest.mark.parametrize("case", list(METADATA_CASES))
def test_chunks_other_than_idat_are_pillows(rng, case):
    image, info = METADATA_CASES[case]
    if image is None:
        image = palette_image(rng, 5, (6, 4))
    image.info.update(info)
    params = {
        "icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        "dpi": (300, 72.5),
        "exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00",
    }
    for given in ({}, params):
        ours = pngwrite.encode_png(image, compress_level=1, **given)
        assert non_idat(ours) == non_idat(pillow_png(image, **given))
        back, ref = reopen(ours), reopen(pillow_png(image, **given))
        same_pixels(back, ref)
        assert back.info == ref.info


def test_palette_alpha_from_an_rgba_palette_is_written():
    image = Image.new("P", (4, 1))
    image.putpalette([10, 20, 30, 0, 40, 50, 60, 128], "RGBA")
    image.putdata([0, 1, 0, 1])
    ours = pngwrite.encode_png(image, compress_level=1)
    assert non_idat(ours) == non_idat(pillow_png(image))
    assert reopen(ours).convert("RGBA").getpixel((1, 0)) == (40, 50, 60, 128)


def test_image_icc_profile_is_used_when_none_is_given():
    image = Image.new("L", (2, 2))
    image.info["icc_profile"] = b"fake profile"
    assert reopen(pngwrite.encode_png(image)).info["icc_profile"] == b"fake profile"


# --- refusals and the io/writing.py wiring -------------------------------------------------------


def test_refuses_what_it_does_not_write():
    for mode in ("CMYK", "I", "F", "PA", "RGBX", "I;16L"):
        assert not pngwrite.can_encode(Image.new(mode, (2, 2)))
        with pytest.raises(ValueError, match=f"cannot write mode {mode}"):
            pngwrite.encode_png(Image.new(mode, (2, 2)))
    image = Image.new("L", (2, 2))
    with pytest.raises(ValueError, match="compress_level must be 0..9, got 10"):
        pngwrite.encode_png(image, compress_level=10)
    with pytest.raises(ValueError, match="filter must be"):
        pngwrite.encode_png(image, filter="best")
    image.info["transparency"] = (1, 2)
    with pytest.raises(ValueError, match="transparency for L must be an integer"):
        pngwrite.encode_png(image)


def test_encode_picture_uses_pngwrite_for_one_frame(rng):
    image = image_from_pixels(random_pixels(rng, "RGB", (9, 7)), "RGB")
    pic = Picture([image], "PNG", {"dpi": (150.0, 150.0), "icc_profile": b"icc"})
    data = encode_picture(pic, "PNG")
    expected = pngwrite.encode_png(
        image, compress_level=PNG_COMPRESS_LEVEL, dpi=(150.0, 150.0), icc_profile=b"icc"
    )
    assert data == expected
    assert encode_picture(pic, "PNG", compress_level=9) == pngwrite.encode_png(
        image, compress_level=9, dpi=(150.0, 150.0), icc_profile=b"icc"
    )


def test_encode_picture_leaves_animations_and_other_modes_to_pillow(rng):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    apng = reopen(encode_picture(Picture(frames, "PNG", {"duration": [40, 60]}), "PNG"))
    assert apng.n_frames == 2
    wide = Image.fromarray(np.array([[0, 70000]], np.int32))  # I beyond 16 bits: refused
    with pytest.raises(UnsupportedError, match="16 bits"):
        encode_picture(Picture([wide]), "PNG")
    small = Image.fromarray(np.array([[0, 65535]], np.int32))  # I within 16 bits -> I;16
    back = reopen(encode_picture(Picture([small]), "PNG"))
    np.testing.assert_array_equal(np.asarray(back).astype(int), [[0, 65535]])


def test_a_density_phys_cannot_hold_is_left_out():
    image = Image.new("L", (3, 2))
    assert b"pHYs" not in pngwrite.encode_png(image, dpi=(4294967295.0, 72.0))
    assert b"pHYs" in pngwrite.encode_png(image, dpi=(72.0, 72.0))
