"""poolcli.io: Pillow modes <-> arrays, alpha, palettes, frames, metadata, files."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import MODE_DTYPES, distinct_palette, image_from_pixels
from poolcli.core.pool import pool
from poolcli.errors import ImageError, UnsupportedError, WindowError
from poolcli.io import picture, pooling, writing
from poolcli.io.formats import format_for_path
from poolcli.io.picture import Picture, image_dtype
from poolcli.io.pooling import pool_image, pool_picture
from poolcli.io.reading import read_picture
from poolcli.io.writing import encode_picture, write_picture

WINDOW = {"kernel_size": 3, "stride": 2, "padding": 1}  # odd sizes, padding, ragged edges
ORDER_MODES = ["max", "min", "avg", "median", "mode", "lp"]
PLAIN_MODES = ["1", "L", "RGB", "CMYK", "YCbCr", "LAB", "RGBX", "La", "RGBa"]
PLAIN_MODES += ["I;16", "I;16L", "I;16B", "I;16N", "I", "F"]


def native(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(pixels.dtype.newbyteorder("="))


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def reopen(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def one_line_naming(err: pytest.ExceptionInfo[Exception], name: object) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{name}: ")
    return msg


# ------------------------------------------------------------------------------------------------
# pool_image: one frame, every mode


@pytest.mark.parametrize("image_mode", PLAIN_MODES)
@pytest.mark.parametrize("mode", ORDER_MODES)
def test_plain_modes_pool_every_channel_and_keep_the_mode(make_image, image_mode, mode):
    image, pixels = make_image(image_mode)
    out = pool_image(image, mode, **WINDOW)
    expected = pool(native(pixels), mode, **WINDOW)
    assert out.mode == image_mode
    assert out.size == (4, 3)
    assert image_dtype(out) == np.dtype(MODE_DTYPES[image_mode][0]).name
    np.testing.assert_array_equal(np.asarray(out), expected)


@pytest.mark.parametrize("mode", ["max", "avg", "mode"])
def test_hsv_pools_in_rgb_except_mode(make_image, mode):
    image, pixels = make_image("HSV")
    out = pool_image(image, mode, kernel_size=2)
    assert out.mode == "HSV"
    if mode == "mode":
        expected = pool(pixels, "mode", kernel_size=2)
    else:
        rgb = pool(np.asarray(image.convert("RGB")), mode, kernel_size=2)
        expected = np.asarray(Image.fromarray(rgb).convert("HSV"))
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_big_endian_16_bit_stays_big_endian_with_the_same_values():
    values = np.array([[1, 256], [65535, 40000]], np.uint16)
    image = image_from_pixels(values.astype(">u2"), "I;16B")
    out = pool_image(image, "max", kernel_size=(1, 2))
    assert out.mode == "I;16B"
    assert out.tobytes() == np.array([[256], [65535]], ">u2").tobytes()


def test_pool_arguments_reach_the_core(make_image):
    image, pixels = make_image("L", (9, 6))
    kw = {"kernel_size": (2, 3), "stride": (1, 2), "dilation": 2, "ceil_mode": True}
    np.testing.assert_array_equal(
        np.asarray(pool_image(image, "mean", **kw)), pool(pixels, "avg", **kw)
    )
    out = pool_image(image, "lp", output_size=(2, 4), p=3.0)
    np.testing.assert_array_equal(np.asarray(out), pool(pixels, "lp", output_size=(2, 4), p=3.0))


def test_one_pixel_image_global_pooling_gives_the_pixel():
    image = Image.new("RGBA", (1, 1), (10, 20, 30, 40))
    for mode in ORDER_MODES + ["sum"]:
        assert pool_image(image, mode, output_size=1).getpixel((0, 0)) == (10, 20, 30, 40)


def test_window_and_mode_errors_come_from_the_core():
    with pytest.raises(WindowError):
        pool_image(Image.new("L", (1, 1)), "max", kernel_size=2)
    with pytest.raises(UnsupportedError):
        pool_image(Image.new("L", (2, 2)), "nope")


def test_a_mode_pillow_has_but_poolcli_does_not_raises_one_line():
    class Fake:
        mode = "BGR;16"
        info: dict[str, object] = {}

    with pytest.raises(UnsupportedError, match=r"^image mode BGR;16 is not supported \("):
        pool_image(Fake(), "max")  # type: ignore[arg-type]


# sum -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_mode", ["1", "L", "I;16", "I;16B", "I"])
def test_sum_of_single_channel_integers_is_a_32_bit_I_image(make_image, image_mode):
    image, pixels = make_image(image_mode)
    out = pool_image(image, "sum", **WINDOW)
    assert out.mode == "I"
    total = pool(native(pixels), "sum", **WINDOW)
    np.testing.assert_array_equal(np.asarray(out), np.clip(total, -(2**31), 2**31 - 1))


def test_sum_of_16_bit_binning_is_exact_beyond_16_bits():
    image = image_from_pixels(np.full((2, 2), 65535, np.uint16), "I;16")
    assert pool_image(image, "sum").getpixel((0, 0)) == 4 * 65535


def test_sum_of_float_stays_float(make_image):
    image, pixels = make_image("F")
    out = pool_image(image, "sum", kernel_size=2)
    assert out.mode == "F"
    np.testing.assert_array_equal(np.asarray(out), pool(pixels, "sum", kernel_size=2).astype("f4"))


@pytest.mark.parametrize("image_mode", ["RGB", "CMYK", "LA", "La"])
def test_sum_of_multi_channel_images_saturates_at_255(make_image, image_mode):
    image, pixels = make_image(image_mode)
    if image_mode == "LA":
        pixels[..., 1] = np.maximum(pixels[..., 1], 1)  # no transparent pixel: plain sums
        image = image_from_pixels(pixels, "LA")
    out = pool_image(image, "sum", kernel_size=2)
    assert out.mode == image_mode
    np.testing.assert_array_equal(
        np.asarray(out), np.minimum(pool(pixels, "sum", kernel_size=2), 255)
    )


# alpha -------------------------------------------------------------------------------------------

RED_BLUE = np.array([[[255, 0, 0, 0], [0, 0, 255, 255]]], np.uint8)  # transparent red, opaque blue


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("avg", (0, 0, 255, 128)),
        ("lp", (0, 0, 255, 180)),  # alpha: sqrt(255**2 / 2) = 180.3
        ("median", (0, 0, 255, 128)),
        ("max", (0, 0, 255, 255)),
        ("min", (0, 0, 0, 0)),
        ("sum", (0, 0, 255, 255)),
    ],
)
def test_transparent_pixels_do_not_bleed(mode, expected):
    image = Image.fromarray(RED_BLUE, "RGBA")
    assert pool_image(image, mode, kernel_size=(1, 2)).getpixel((0, 0)) == expected
    white_black = np.array([[[255, 0], [0, 255]]], np.uint8)  # transparent white, opaque black
    la = Image.fromarray(white_black, "LA")
    assert pool_image(la, mode, kernel_size=(1, 2)).getpixel((0, 0)) == (0, expected[3])


def test_fully_transparent_output_has_colour_zero():
    px = np.array([[[9, 8, 7, 0], [200, 100, 50, 0]]], np.uint8)
    for mode in ORDER_MODES + ["sum"]:
        out = pool_image(Image.fromarray(px, "RGBA"), mode, kernel_size=(1, 2))
        assert out.getpixel((0, 0)) == (0, 0, 0, 0), mode


def test_mode_takes_all_transparent_pixels_as_one_label():
    # Three transparent pixels of different colours outvote two opaque green ones.
    px = np.array(
        [[[1, 2, 3, 0], [0, 255, 0, 255], [4, 5, 6, 0], [0, 255, 0, 255], [7, 8, 9, 0]]],
        np.uint8,
    )
    out = pool_image(Image.fromarray(px, "RGBA"), "mode", kernel_size=(1, 5))
    assert out.getpixel((0, 0)) == (0, 0, 0, 0)


def windows(x: np.ndarray, k: int):
    """(i, j, window pixels as (n, C)) of k x k windows with stride k, no padding."""
    for i in range(x.shape[0] // k):
        for j in range(x.shape[1] // k):
            yield i, j, x[i * k : (i + 1) * k, j * k : (j + 1) * k].reshape(k * k, -1).astype(float)


def half_up(v: float) -> int:
    return int(np.floor(v + 0.5))


def reference_alpha(x: np.ndarray, mode: str, k: int, p: float = 2.0) -> np.ndarray:
    """Naive per-window reference of the straight-alpha rules in io/pooling.py's docstring."""
    out = np.zeros((x.shape[0] // k, x.shape[1] // k, x.shape[2]), np.uint8)
    for i, j, win in windows(x, k):
        c, a = win[:, :-1], win[:, -1]
        if mode == "avg":
            alpha = half_up(a.mean())
            col = [
                half_up((c[:, ch] * a).sum() / a.sum()) if a.sum() else 0
                for ch in range(c.shape[1])
            ]
        elif mode == "median":
            alpha = half_up(np.median(a))
            med = np.median(a)
            col = [half_up(np.median(c[:, ch] * a) / med) if med else 0 for ch in range(c.shape[1])]
        elif mode == "lp":
            alpha = half_up(np.mean(a**p) ** (1 / p))
            den = (a**p).sum()
            col = [
                half_up((((c[:, ch] * a) ** p).sum() / den) ** (1 / p)) if den else 0
                for ch in range(c.shape[1])
            ]
        else:
            seen = a > 0
            alpha = int(getattr(np, mode)(a))
            col = [
                int(getattr(np, mode)(c[seen, ch])) if seen.any() else 0 for ch in range(c.shape[1])
            ]
        out[i, j, :-1] = col if alpha else 0
        out[i, j, -1] = alpha
    return out


@pytest.mark.parametrize("image_mode", ["RGBA", "LA"])
@pytest.mark.parametrize("mode", ["avg", "median", "lp", "max", "min"])
def test_alpha_rules_match_a_naive_reference(make_image, image_mode, mode):
    image, pixels = make_image(image_mode, (9, 7))  # odd: the last row and column are cut
    out = pool_image(image, mode, kernel_size=2)
    np.testing.assert_array_equal(np.asarray(out), reference_alpha(pixels, mode, 2))


def test_alpha_lp_with_a_large_p_keeps_the_colour():
    px = np.zeros((2, 2, 2), np.uint8)
    px[..., 0] = [[200, 100], [50, 10]]
    px[..., 1] = 128
    out = pool_image(Image.fromarray(px, "LA"), "lp", p=300.0)
    assert out.getpixel((0, 0)) == (half_up(200 * 0.25 ** (1 / 300)), 128)  # (199, 128)


def test_alpha_avg_counts_padding_as_transparent_for_alpha_only():
    image = Image.new("RGBA", (3, 3), (10, 200, 30, 255))
    out = pool_image(image, "avg", kernel_size=3, stride=3, padding=1, ceil_mode=False)
    # Window of rows/cols -1..1: 4 real cells of 9; colour exact, alpha 4/9 of 255.
    assert out.getpixel((0, 0)) == (10, 200, 30, round(255 * 4 / 9))


def test_colour_key_transparency_becomes_alpha():
    image = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8))
    image.info["transparency"] = (255, 0, 0)
    out = pool_image(image, "avg", kernel_size=(1, 2))
    assert (out.mode, out.getpixel((0, 0))) == ("RGBA", (0, 0, 255, 128))


# palettes --------------------------------------------------------------------------------------


def nearest_index(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    d = ((colours[..., None, :].astype(int) - palette.astype(int)) ** 2).sum(-1)
    return d.argmin(-1)


def test_p_mode_pools_indices_and_keeps_palette_and_transparency(make_image):
    image, indices = make_image("P", (9, 7))
    image.info["transparency"] = 3
    out = pool_image(image, "mode", **WINDOW)
    assert out.mode == "P"
    assert out.getpalette() == image.getpalette()
    assert out.info["transparency"] == 3
    np.testing.assert_array_equal(np.asarray(out), pool(indices, "mode", **WINDOW))
    assert set(np.unique(np.asarray(out))) <= set(np.unique(indices))


@pytest.mark.parametrize("mode", ["max", "min", "avg", "median", "lp", "sum"])
def test_p_other_modes_pool_colours_then_map_to_the_nearest_palette_entry(make_image, mode):
    image, _ = make_image("P", (9, 7))
    out = pool_image(image, mode, kernel_size=2)
    assert out.mode == "P"
    assert out.getpalette() == image.getpalette()
    colours = np.clip(pool(np.asarray(image.convert("RGB")), mode, kernel_size=2), 0, 255)
    palette = np.array(image.getpalette()).reshape(-1, 3)
    np.testing.assert_array_equal(np.asarray(out), nearest_index(colours, palette))


def test_p_uniform_windows_keep_their_index():
    # A colour that appears twice maps to its first index; any other colour to itself.
    image = Image.fromarray(
        np.repeat(np.repeat(np.array([[5, 1], [2, 9]], np.uint8), 2, 0), 2, 1), "P"
    )
    image.putpalette(distinct_palette(16))
    np.testing.assert_array_equal(np.asarray(pool_image(image, "avg")), [[5, 1], [2, 9]])


def test_p_with_transparency_does_not_bleed():
    image = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0, 255, 0] * 6)  # red, blue, greens
    image.info["transparency"] = 0  # red is transparent
    out = pool_image(image, "avg", kernel_size=(1, 2))
    assert out.getpixel((0, 0)) == 1  # blue, not a purple or the transparent red
    assert out.info["transparency"] == 0


def test_pa_pools_colour_premultiplied_and_alpha_by_the_mode():
    px = np.array([[[0, 0], [1, 255]]], np.uint8)  # (index, alpha): transparent red, opaque blue
    image = Image.fromarray(px, "PA")
    image.putpalette([255, 0, 0, 0, 0, 255])
    out = pool_image(image, "avg", kernel_size=(1, 2))
    assert out.mode == "PA"
    assert out.getpixel((0, 0)) == (1, 128)
    labels = pool_image(image, "mode", kernel_size=(1, 2))
    assert labels.getpixel((0, 0)) == (0, 0) and labels.getpalette() == image.getpalette()


# ------------------------------------------------------------------------------------------------
# Pictures: reading


def test_read_picture_from_path_and_bytes(tmp_path, make_image):
    image, pixels = make_image("RGB")
    path = tmp_path / "a.png"
    path.write_bytes(encoded(image, "PNG"))
    for source in (path, str(path), path.read_bytes()):
        pic = read_picture(source)
        assert (pic.format, pic.size, pic.mode, pic.n_frames) == ("PNG", (7, 5), "RGB", 1)
        np.testing.assert_array_equal(np.asarray(pic.frames[0]), pixels)


def corrupt_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    png = encoded(Image.linear_gradient("L").resize((64, 64)), "PNG")
    files = {
        "missing": (tmp_path / "missing.png", "no such file"),
        "directory": (tmp_path / "folder.png", "is a directory"),
        "empty": (tmp_path / "empty.png", "empty file"),
        "truncated": (tmp_path / "truncated.png", "truncated PNG file ("),
        "corrupt": (tmp_path / "corrupt.png", "cannot decode PNG image: "),
        "text": (tmp_path / "notes.png", "not an image, or a format Pillow cannot read"),
    }
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "corrupt.png").write_bytes(png[:60] + bytes(range(256)) * 4 + png[-12:])
    (tmp_path / "notes.png").write_text("not a picture\n")
    return files


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "truncated", "corrupt", "text"])
def test_unreadable_files_raise_one_line_naming_the_file(tmp_path, case):
    path, cause = corrupt_cases(tmp_path)[case]
    with pytest.raises(ImageError) as err:
        read_picture(path)
    msg = one_line_naming(err, path)
    assert msg[len(f"{path}: ") :].startswith(cause)


def test_bytes_errors_use_the_given_name():
    with pytest.raises(ImageError, match=r"^<stdin>: not an image"):
        read_picture(b"hello", name="<stdin>")
    with pytest.raises(ImageError, match=r"^<bytes>: empty file$"):
        read_picture(b"")


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(encoded(Image.new("L", (100, 50)), "PNG"))
    with pytest.raises(ImageError, match="5000 pixels, more than the limit of 4999 ") as err:
        read_picture(path, max_pixels=4999)
    one_line_naming(err, path)
    assert read_picture(path, max_pixels=5000).size == (100, 50)  # the limit itself is allowed
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # default: Pillow's error limit, 4000
    with pytest.raises(ImageError, match="5000 pixels, more than the limit of 4000 "):
        read_picture(path)
    assert read_picture(path, max_pixels=None).size == (100, 50)
    assert Image.MAX_IMAGE_PIXELS == 2000  # restored
    with pytest.raises(ValueError, match="max_pixels"):
        read_picture(path, max_pixels=0)


def test_exif_orientation_is_applied_and_reset(tmp_path):
    pixels = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    exif[0x010F] = "poolcli test"
    path = tmp_path / "turned.png"
    path.write_bytes(encoded(Image.fromarray(pixels), "PNG", exif=exif))
    pic = read_picture(path)
    np.testing.assert_array_equal(np.asarray(pic.frames[0]), np.rot90(pixels, -1))
    out = pool_picture(pic, "max", kernel_size=1)
    for fmt in ("PNG", "JPEG", "WEBP"):
        written = reopen(encode_picture(out, fmt)).getexif()
        assert written.get(0x0112, 1) == 1, fmt
        assert written.get(0x010F) == "poolcli test", fmt


# What each EXIF orientation turns into, as NumPy sees the stored pixels (TIFF/EXIF spec).
ORIENTED = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_every_exif_orientation_is_applied_from_a_path_or_bytes(tmp_path, orientation):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(encoded(Image.fromarray(pixels), "PNG", exif=exif))
    for source in (path, path.read_bytes()):
        frame = read_picture(source).frames[0]
        assert type(frame) is Image.Image  # a plain in-memory image, no file behind it
        np.testing.assert_array_equal(np.asarray(frame), ORIENTED[orientation](pixels))
    frame = read_picture(path).frames[0]
    path.unlink()
    np.testing.assert_array_equal(np.asarray(frame.copy()), ORIENTED[orientation](pixels))


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd")
def test_a_path_that_cannot_seek_is_read_whole(make_image):
    image, pixels = make_image("RGB")
    for data, expected in ((encoded(image, "PNG"), pixels), (b"", None)):
        r, w = os.pipe()
        os.write(w, data)  # a few hundred bytes: fits the pipe's buffer
        os.close(w)
        try:
            if expected is None:
                with pytest.raises(ImageError, match=r"^p: empty file$"):
                    read_picture(f"/dev/fd/{r}", name="p")
            else:
                pic = read_picture(f"/dev/fd/{r}")
                np.testing.assert_array_equal(np.asarray(pic.frames[0]), expected)
        finally:
            os.close(r)


def test_icc_profile_is_kept(make_image):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image, _ = make_image("RGB", (8, 6))
    pic = pool_picture(read_picture(encoded(image, "PNG", icc_profile=icc)), "avg")
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        assert reopen(encode_picture(pic, fmt)).info.get("icc_profile") == icc, fmt


def test_dpi_is_divided_by_the_stride_per_axis(make_image):
    image, _ = make_image("L", (12, 8))
    pic = read_picture(encoded(image, "PNG", dpi=(300, 200)))
    assert pic.info["dpi"] == pytest.approx((300, 200), rel=1e-3)
    halved = reopen(encode_picture(pool_picture(pic, "max", stride=2), "PNG"))
    assert halved.info["dpi"] == pytest.approx((150, 100), rel=1e-3)
    # stride (rows, cols) = (1, 3): x resolution / 3, y unchanged; TIFF keeps it exactly.
    tiff = read_picture(encode_picture(pool_picture(pic, "max", kernel_size=(1, 3)), "TIFF"))
    assert tiff.info["dpi"] == pytest.approx((100, 200), rel=1e-3)
    adaptive = pool_picture(pic, "avg", output_size=(2, 5))  # 8/2 rows, 12/5 columns
    assert adaptive.info["dpi"] == pytest.approx((300 / 2.4, 200 / 4), rel=1e-3)


# frames -----------------------------------------------------------------------------------------

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def test_animated_gif_keeps_frames_durations_loop_and_disposal(tmp_path):
    frames = [Image.new("RGB", (7, 5), c) for c in COLOURS]
    path = tmp_path / "anim.gif"
    frames[0].save(
        path,
        save_all=True,
        append_images=frames[1:],
        duration=[100, 200, 300],
        loop=0,
        disposal=[1, 2, 1],
    )
    pic = read_picture(path)
    assert pic.n_frames == 3
    assert (pic.info["duration"], pic.info["loop"], pic.info["disposal"]) == (
        [100, 200, 300],
        0,
        [1, 2, 1],
    )
    out = write_picture(pool_picture(pic, "max", stride=2), tmp_path / "out.gif")
    back = read_picture(out)
    assert back.n_frames == 3 and back.size == (3, 2)
    assert (back.info["duration"], back.info["loop"], back.info["disposal"]) == (
        [100, 200, 300],
        0,
        [1, 2, 1],
    )
    for frame, colour in zip(back.frames, COLOURS, strict=True):
        assert np.all(np.asarray(frame.convert("RGB")) == colour)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_png_and_webp_keep_frames_and_durations(fmt):
    frames = [Image.new("RGBA", (6, 4), (*c, 255)) for c in COLOURS]
    anim = {"save_all": True, "append_images": frames[1:], "duration": [40, 80, 120], "loop": 3}
    data = encoded(frames[0], fmt, lossless=True, **anim)  # PNG ignores lossless
    pic = read_picture(data)
    out = read_picture(encode_picture(pool_picture(pic, "avg"), fmt, quality=100))  # lossless
    assert out.n_frames == 3 and out.size == (3, 2)
    assert out.info["duration"] == [40, 80, 120] and out.info["loop"] == 3
    assert [f.convert("RGB").getpixel((1, 1)) for f in out.frames] == COLOURS


def test_apng_default_image_is_kept_apart_from_the_animation():
    default, *frames = [Image.new("RGB", (4, 4), c) for c in COLOURS]
    data = encoded(
        default, "PNG", save_all=True, append_images=frames, default_image=True, duration=[100, 200]
    )
    pic = read_picture(data)
    assert (pic.n_frames, pic.info["default_image"], pic.info["duration"]) == (
        3,
        True,
        [0, 100, 200],
    )
    back = read_picture(encode_picture(pool_picture(pic, "min"), "PNG"))
    assert (back.n_frames, back.info["default_image"], back.info["duration"]) == (
        3,
        True,
        [0, 100, 200],
    )
    assert [f.getpixel((0, 0)) for f in back.frames] == COLOURS


def test_multi_page_tiff_keeps_every_page(tmp_path, make_image):
    pages = [make_image("I;16", (7, 5)) for _ in range(3)]
    path = tmp_path / "stack.tif"
    pages[0][0].save(path, save_all=True, append_images=[p[0] for p in pages[1:]])
    pic = read_picture(path)
    assert pic.n_frames == 3 and pic.format == "TIFF"
    back = read_picture(write_picture(pool_picture(pic, "max", **WINDOW), tmp_path / "out.tif"))
    assert back.n_frames == 3
    for frame, (_, pixels) in zip(back.frames, pages, strict=True):
        assert frame.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(frame), pool(pixels, "max", **WINDOW))


# 16 bits on disk ---------------------------------------------------------------------------------


def test_16_bit_png_and_tiff_stay_16_bit_on_disk(tmp_path, make_image):
    image, pixels = make_image("I;16", (9, 7))
    pic = pool_picture(read_picture(encoded(image, "PNG")), "avg", kernel_size=2)
    expected = pool(pixels, "avg", kernel_size=2)
    png = write_picture(pic, tmp_path / "out.png").read_bytes()
    assert png[24] == 16  # IHDR bit depth
    tif = write_picture(pic, tmp_path / "out.tif")
    with Image.open(tif) as im:
        assert im.tag_v2[258] == (16,)  # BitsPerSample
    for path in (tmp_path / "out.png", tif):
        frame = read_picture(path).frames[0]
        assert frame.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(frame), expected)


def test_16_bit_sum_is_exact_in_tiff_and_saturated_in_png(tmp_path):
    image = image_from_pixels(np.full((4, 4), 60000, np.uint16), "I;16")
    pic = pool_picture(Picture([image], "TIFF"), "sum")
    back = read_picture(write_picture(pic, tmp_path / "sum.tif")).frames[0]
    assert back.mode == "I" and np.all(np.asarray(back) == 240000)
    back = read_picture(write_picture(pic, tmp_path / "sum.png")).frames[0]
    assert back.mode == "I;16" and np.all(np.asarray(back) == 65535)
    # an I image that is not a sum is not clipped behind the user's back
    plain = Picture([Image.fromarray(np.full((2, 2), 240000, np.int32))], "TIFF")
    with pytest.raises(UnsupportedError, match=r"plain.png: PNG cannot hold image mode I: .*TIFF"):
        write_picture(plain, tmp_path / "plain.png")
    assert not list(tmp_path.glob("plain.png*"))


def test_I_images_within_16_bits_are_written_as_16_bit_png():
    image = Image.fromarray(np.array([[0, 1020]], np.int32))  # sum of 2x2 L, say
    back = read_picture(encode_picture(Picture([image]), "PNG")).frames[0]
    assert back.mode == "I;16" and np.asarray(back).tolist() == [[0, 1020]]


# encoding ---------------------------------------------------------------------------------------


def test_format_for_path():
    assert format_for_path("x/y.JPG") == "JPEG"
    assert format_for_path(Path("scan.tif")) == "TIFF"
    assert format_for_path("a.webp") == "WEBP"
    with pytest.raises(UnsupportedError, match=r"^a.xyz: unknown image suffix '.xyz'$"):
        format_for_path("a.xyz")
    with pytest.raises(UnsupportedError, match="no suffix"):
        format_for_path("noext")


@pytest.mark.parametrize(
    ("mode", "fmt", "why"),
    [
        ("RGBA", "JPEG", "has no alpha channel"),
        ("LA", "JPEG", "has no alpha channel"),
        ("I;16", "JPEG", "8-bit"),
        ("F", "PNG", "holds 1, L, LA"),
        ("CMYK", "PNG", "holds 1, L, LA"),
        ("I;16", "WEBP", "8-bit RGB"),
        ("F", "GIF", "palette"),
        ("F", "BMP", "cannot hold image mode F"),
    ],
)
def test_modes_a_format_cannot_hold_raise(mode, fmt, why):
    with pytest.raises(UnsupportedError, match=f"^{fmt} cannot hold image mode {mode}") as err:
        encode_picture(Picture([Image.new(mode, (2, 2))]), fmt)
    assert why in str(err.value) and "\n" not in str(err.value)


def test_lossless_conversions_for_formats(make_image):
    image, _ = make_image("P")
    back = reopen(encode_picture(Picture([image]), "JPEG", quality=100))
    assert back.mode == "RGB"
    assert reopen(encode_picture(Picture([Image.new("L", (2, 2), 9)]), "WEBP")).mode == "RGB"
    assert reopen(encode_picture(Picture([Image.new("LA", (2, 2))]), "WEBP")).mode == "RGBA"


def test_several_frames_need_a_multi_frame_format():
    pic = Picture([Image.new("RGB", (2, 2)), Image.new("RGB", (2, 2), 5)])
    with pytest.raises(UnsupportedError, match="JPEG holds one image, this picture has 2 frames"):
        encode_picture(pic, "jpg")


def test_quality_and_compress_level_defaults_and_overrides(rng):
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    pic = Picture([image])
    assert (
        len(encode_picture(pic, "JPEG", quality=30))
        < len(encode_picture(pic, "JPEG"))
        < len(encode_picture(pic, "JPEG", quality=100))
    )
    flat = Picture([Image.new("L", (256, 256))])
    assert len(encode_picture(flat, "PNG", compress_level=0)) > len(encode_picture(flat, "PNG"))
    lossless = reopen(encode_picture(pic, "WEBP", quality=100))
    np.testing.assert_array_equal(np.asarray(lossless), np.asarray(image))


def test_unknown_or_read_only_formats():
    pic = Picture([Image.new("L", (2, 2))])
    with pytest.raises(UnsupportedError, match="unknown image format 'NOPE'"):
        encode_picture(pic, "NOPE")
    with pytest.raises(UnsupportedError, match="Pillow cannot write PSD files"):
        encode_picture(pic, "psd")


def test_image_dtype():
    assert [image_dtype(Image.new(m, (1, 1))) for m in ("1", "P", "RGBA", "I;16B", "I", "F")] == [
        "bool",
        "uint8",
        "uint8",
        "uint16",
        "int32",
        "float32",
    ]


# ------------------------------------------------------------------------------------------------
# Writing: atomic, no overwrite


def small_picture() -> Picture:
    return Picture([Image.new("L", (3, 2), 7)], "PNG")


def test_write_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(ImageError) as err:
        write_picture(small_picture(), path)
    assert one_line_naming(err, path).endswith("already exists (force overwrites it)")
    assert path.read_bytes() == b"precious"
    assert write_picture(small_picture(), path, force=True) == path
    assert reopen(path.read_bytes()).getpixel((0, 0)) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_does_not_replace_a_file_that_appears_meanwhile(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    real_fsync = os.fsync

    def racing_fsync(fd: int) -> None:
        real_fsync(fd)
        path.write_bytes(b"someone else's")

    monkeypatch.setattr(os, "fsync", racing_fsync)
    with pytest.raises(ImageError, match="already exists"):
        write_picture(small_picture(), path)
    assert path.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_uses_a_hidden_temp_file_in_the_target_folder(tmp_path, monkeypatch):
    seen: list[list[str]] = []
    real_fsync = os.fsync

    def spying_fsync(fd: int) -> None:
        seen.append(sorted(os.listdir(tmp_path)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spying_fsync)
    write_picture(small_picture(), tmp_path / "out.png")
    [[tmp]] = seen
    assert tmp.startswith(".out.png.") and ".poolcli-tmp" in tmp
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_disk_full_leaves_no_temp_file(tmp_path, monkeypatch):
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    path = tmp_path / "out.png"
    with pytest.raises(ImageError) as err:
        write_picture(small_picture(), path)
    assert one_line_naming(err, path).endswith("cannot write: no space left on device")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_picture(small_picture(), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_unencodable_picture_writes_nothing(tmp_path):
    path = tmp_path / "out.jpg"
    with pytest.raises(UnsupportedError, match=r"out.jpg: JPEG cannot hold image mode RGBA"):
        write_picture(Picture([Image.new("RGBA", (2, 2))]), path)
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_or_unwritable_folder(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / "out.png"
    with pytest.raises(ImageError) as err:
        write_picture(small_picture(), missing)
    assert "no such folder" in one_line_naming(err, missing)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", denied)
    with pytest.raises(ImageError) as err:
        write_picture(small_picture(), tmp_path / "out.png")
    assert one_line_naming(err, tmp_path / "out.png").endswith("cannot write: permission denied")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_write_into_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ImageError, match="cannot write: permission denied"):
            write_picture(small_picture(), folder / "out.png")
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_file_has_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = write_picture(small_picture(), tmp_path / "out.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    path.chmod(0o640)
    write_picture(small_picture(), path, force=True)
    assert path.stat().st_mode & 0o777 == 0o640


def test_write_to_a_directory_path(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match=r"d.png: is a directory$"):
        write_picture(small_picture(), tmp_path / "d.png", force=True)


def test_round_trip_through_files(tmp_path, make_image):
    image, pixels = make_image("RGBA", (9, 7))
    src = tmp_path / "in.png"
    src.write_bytes(encoded(image, "PNG"))
    out = write_picture(pool_picture(read_picture(src), "median", **WINDOW), tmp_path / "out.png")
    back = read_picture(out).frames[0]
    np.testing.assert_array_equal(
        np.asarray(back), np.asarray(pool_image(image, "median", **WINDOW))
    )
    assert back.size == (5, 4)


# Banded pooling of big images: exactly the whole-image result, by construction and by test.

BANDED_IMAGE_MODES = PLAIN_MODES + ["HSV", "LA", "RGBA", "P", "PA"]
BANDED_WINDOWS = [  # for a 13x27 image: rows tiled by the windows, columns anything
    {"kernel_size": 2},
    {"kernel_size": (3, 2), "stride": (3, 1), "padding": (0, 1), "dilation": (1, 2)},
    {"output_size": (9, 5)},
    {"output_size": (None, 5)},
    {"kernel_size": (1, 4), "stride": (1, 3), "ceil_mode": True, "count_include_pad": False},
]


def assert_same_image(a: Image.Image, b: Image.Image) -> None:
    assert (a.mode, a.size, a.info) == (b.mode, b.size, b.info)
    assert a.getpalette() == b.getpalette()
    assert a.tobytes() == b.tobytes()


def image_with_key(make_image, mode: str) -> Image.Image:
    """``mode`` with a ``transparency`` key that is one of its pixels (pooled as alpha)."""
    image, _ = make_image(mode.split("+")[0], (13, 27))
    image.info["transparency"] = image.getpixel((0, 0))
    return image


@pytest.mark.parametrize("image_mode", BANDED_IMAGE_MODES + ["P+key", "RGB+key", "L+key"])
@pytest.mark.parametrize("mode", ["max", "min", "sum", "avg", "median", "mode"])
def test_banded_pooling_equals_whole_image_pooling(make_image, monkeypatch, image_mode, mode):
    if "+" in image_mode:
        image = image_with_key(make_image, image_mode)
    else:
        image, _ = make_image(image_mode, (13, 27))
    for window in BANDED_WINDOWS:
        rows, _ = pooling.make_axes(
            (27, 13), **{k: v for k, v in window.items() if k != "count_include_pad"}
        )
        band_rows = 2 * rows.kernel  # the last band is ragged, a row may be unused
        monkeypatch.setattr(pooling, "BAND_MIN_BYTES", 0)
        assert pooling._band_rows(image, mode, window)  # a window banding applies to
        whole = pooling._pool_whole(image, mode, dict(window))
        assert_same_image(pooling._pool_bands(image, mode, window, band_rows), whole)


def test_big_images_are_pooled_in_bands_with_the_same_pixels(make_image, monkeypatch):
    image, pixels = make_image("RGB", (301, 257))
    expected = {name: pool(pixels, name, kernel_size=(3, 2)) for name in ("max", "avg", "lp")}
    monkeypatch.setattr(pooling, "BAND_MIN_BYTES", 0)
    monkeypatch.setattr(pooling, "BAND_BYTES", 301 * 3 * 10)  # 10 rows of the array
    assert pooling._band_rows(image, "max", {"kernel_size": (3, 2)}) == 9
    calls = []
    monkeypatch.setattr(pooling, "_pool_bands", lambda *a: calls.append(a) or whole_bands(*a))
    for name, want in expected.items():
        np.testing.assert_array_equal(np.asarray(pool_image(image, name, kernel_size=(3, 2))), want)
    assert [c[1] for c in calls] == ["max", "avg"]  # lp is pooled whole


whole_bands = pooling._pool_bands


@pytest.mark.parametrize(
    ("window", "banded"),
    [
        ({}, True),
        ({"kernel_size": 3, "padding": "same"}, True),  # 24 rows: no padding needed
        ({"kernel_size": 5, "padding": "same"}, False),
        ({"kernel_size": 3, "padding": 1}, False),
        ({"kernel_size": (2, 3), "padding": (0, 1)}, True),
        ({"kernel_size": 3, "stride": 2}, False),
        ({"kernel_size": 2, "dilation": (2, 1)}, False),
        ({"kernel_size": 2, "dilation": (1, 2)}, True),
        ({"kernel_size": 5, "ceil_mode": True}, False),  # the last window sticks out
        ({"kernel_size": 4, "ceil_mode": True}, True),
        ({"output_size": (6, 7)}, True),
        ({"output_size": (7, 7)}, False),  # uneven adaptive windows
        ({"p": 3.0}, False),
        ({"kernel_size": 30}, False),  # does not fit: the whole path raises
    ],
)
def test_banding_only_where_rows_are_tiled(monkeypatch, window, banded):
    monkeypatch.setattr(pooling, "BAND_MIN_BYTES", 0)
    image = Image.new("L", (11, 24))
    assert bool(pooling._band_rows(image, "max", window)) is banded
    assert pooling._band_rows(image, "lp", {}) is None


def test_small_images_are_pooled_whole():
    assert pooling._band_rows(Image.new("RGB", (2048, 2048)), "max", {}) is None  # 12 MiB
    # 48 MiB of array: bands of 2 MiB, 170 rows (an even number, for the 2x2 windows)
    assert pooling._band_rows(Image.new("RGB", (4096, 4096)), "max", {}) == 170


def test_threads_reach_the_png_encoder_and_change_no_byte(monkeypatch, tmp_path):
    from poolcli.io import pngwrite

    seen = []
    encode = pngwrite.encode_png

    def spy(image, **kwargs):
        seen.append(kwargs["threads"])
        return encode(image, **kwargs)

    monkeypatch.setattr(pngwrite, "encode_png", spy)
    monkeypatch.setattr(pngwrite, "_BAND_BYTES", 4096)  # many bands, so threads matter
    pixels = np.random.default_rng(0).integers(0, 256, (97, 61, 3), dtype=np.uint8)
    pic = picture.Picture([Image.fromarray(pixels)])
    one = writing.encode_picture(pic, "png", threads=1)
    default = writing.encode_picture(pic, "png")
    writing.write_picture(pic, tmp_path / "a.png", threads=2)
    assert seen == [1, None, 2]
    assert one == default == (tmp_path / "a.png").read_bytes()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(one))), pixels)


def test_the_common_suffixes_known_without_every_plugin_are_pillows_own() -> None:
    # In a fresh interpreter: Pillow loads its other plugins once, for good.
    code = """
import sys, numpy as np
from PIL import Image
from poolcli.io import formats, picture, pooling, writing
common = dict(formats._common_extensions())
names = [formats.format_name(n) for n in ("png", "JPG", ".jpeg", "Gif", "bmp")]
paths = [formats.format_for_path(p) for p in ("a.PNG", "b.jpg", "c.gif")]
pic = picture.Picture(array=np.zeros((4, 4, 3), np.uint8), mode="RGB")
writing.encode_picture(pooling.pool_picture(pic, "max"), "PNG")
print(len(common), "PIL.TiffImagePlugin" in sys.modules, "PIL.WebPImagePlugin" in sys.modules)
everything = Image.registered_extensions()
assert all(everything[s] == f for s, f in common.items()), "a suffix Pillow maps otherwise"
assert names == ["PNG", "JPEG", "JPEG", "GIF", "BMP"] and paths == ["PNG", "JPEG", "GIF"]
assert [formats.format_name(n) for n in ("tif", "WebP")] == ["TIFF", "WEBP"]
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    count, _, webp = done.stdout.split()
    assert int(count) >= 5 and webp == "False"  # no plugin beyond the common ones was loaded


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "PCX", "JPEG", "TIFF"])
def test_a_dpi_the_format_cannot_hold_is_left_out_not_a_failure(fmt) -> None:
    # exif_gps.jpg in Pillow's test images says 4294967295 dpi
    for dpi, kept in (((4294967295.0,) * 2, fmt == "TIFF"), ((300.0, 300.0), fmt != "PCX")):
        pic = Picture([Image.new("RGB", (4, 4))], "PNG", {"dpi": dpi})
        back = Image.open(io.BytesIO(encode_picture(pic, fmt)))
        if kept:
            assert back.info["dpi"] == pytest.approx(dpi, rel=1e-3)
        elif fmt != "PCX":  # Pillow reads a PCX's own default back
            assert back.info.get("dpi") in (None, (96.01194815354799,) * 2)


def test_a_value_a_writer_cannot_pack_is_an_encoding_error(monkeypatch) -> None:
    def overflow(*args, **kwargs):
        raise OverflowError("int too big to convert")

    monkeypatch.setattr(Image.Image, "save", overflow)
    with pytest.raises(ImageError, match="cannot encode BMP: int too big"):
        encode_picture(Picture([Image.new("RGB", (2, 2))]), "BMP")


def test_an_output_over_pillows_pixel_guard_is_no_warning_and_no_error(monkeypatch) -> None:
    # Banded pooling builds the output with a crop, which Pillow's pixel guard also looks at:
    # bands of 2 rows (128 pixels) stay under the limit, the 32x32 output is over twice it.
    import warnings

    monkeypatch.setattr(pooling, "BAND_MIN_BYTES", 1)
    monkeypatch.setattr(pooling, "BAND_BYTES", 64 * 3 * 2)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)
    image = Image.new("RGB", (64, 64), (1, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pool_image(image, "max", kernel_size=2)
    assert out.size == (32, 32) and out.getpixel((31, 31)) == (1, 2, 3)
