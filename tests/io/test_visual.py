"""Comparison sheets, terminal previews and channel statistics (poolcli.io.visual).

Sheets are checked by decoding what was drawn: every panel's pixels against an independent
nearest-neighbour enlargement of :func:`poolcli.pool`'s result, labels by their ink.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import numpy_stats
from poolcli import pool
from poolcli.errors import WindowError
from poolcli.io.display import CHECKER_DARK, CHECKER_LIGHT, CHECKER_SQUARE, NAN_COLOUR, to_display
from poolcli.io.preview import ASCII_RAMP, preview_cells, preview_size, preview_text
from poolcli.io.sheet import BACKGROUND, GAP, MARGIN, Panel, compare_sheet, window_label
from poolcli.io.stats import channel_stats

RNG = np.random.default_rng(20240611)
MODES = ["max", "avg", "min", "median", "mode"]


def rgb_image(h: int, w: int) -> tuple[Image.Image, np.ndarray]:
    # Few distinct values so that `mode` has real winners, not only ties.
    a = (RNG.integers(0, 6, (h, w, 3)) * 50).astype(np.uint8)
    return Image.fromarray(a), a


def upscale(a: np.ndarray, box_w: int, box_h: int) -> np.ndarray:
    """Reference nearest neighbour: the source pixel under each display pixel's centre."""
    ys = np.floor((np.arange(box_h) + 0.5) * a.shape[0] / box_h).astype(int)
    xs = np.floor((np.arange(box_w) + 0.5) * a.shape[1] / box_w).astype(int)
    return a[ys][:, xs]


def box_pixels(sheet: Image.Image, panel: Panel) -> np.ndarray:
    x0, y0, x1, y1 = panel.box
    return np.asarray(sheet)[y0:y1, x0:x1]


def decoded(sheet: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    return Image.open(io.BytesIO(buf.getvalue()))


# --------------------------------------------------------------------------- sheet layout


def test_sheet_size_and_panel_boxes():
    image, _ = rgb_image(8, 12)
    sheet, panels = compare_sheet(image, MODES, kernel_size=2, panel=96)
    assert [p.mode for p in panels] == ["input", *MODES]
    assert all(not p.zoom and p.shape == (4, 6) for p in panels[1:])
    assert panels[0].shape == (8, 12) and panels[0].region == (0, 0, 12, 8)
    # 12x8 enlarged 8x fills 96x64; 6x4 pooled images then get 16x16 blocks.
    sizes = {(p.box[2] - p.box[0], p.box[3] - p.box[1]) for p in panels}
    assert sizes == {(96, 64)}
    # One row, left to right, a GAP apart (labels are narrower than 96 px), top edges aligned.
    xs = [p.box[0] for p in panels]
    assert xs == [MARGIN + i * (96 + GAP) for i in range(len(panels))]
    assert len({p.box[1] for p in panels}) == 1
    assert sheet.mode == "RGB"
    assert sheet.size == (2 * MARGIN + 6 * 96 + 5 * GAP, panels[0].box[3] + MARGIN)


@pytest.mark.parametrize("mode", MODES)
def test_panel_pixels_are_the_pooled_image_enlarged(mode):
    image, a = rgb_image(8, 12)
    sheet, panels = compare_sheet(image, [mode], kernel_size=2, panel=96)
    sheet = decoded(sheet)
    expected = pool(a, mode, kernel_size=2)
    assert np.array_equal(box_pixels(sheet, panels[1]), np.kron(expected, np.ones((16, 16, 1))))
    assert np.array_equal(box_pixels(sheet, panels[0]), np.kron(a, np.ones((8, 8, 1))))


def test_odd_sizes_and_a_window_with_padding_and_ceil():
    # 13x9 with k3 s2 p1 ceil: ragged edges, a box that is not a multiple of the pooled size.
    image, a = rgb_image(9, 13)
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    sheet, panels = compare_sheet(image, ["max", "median"], panel=64, **kw)
    assert panels[0].box[2] - panels[0].box[0] == 13 * 4  # largest integer factor that fits
    for p in panels[1:]:
        expected = pool(a, p.mode, **kw)
        assert p.shape == expected.shape[:2] == (5, 7)
        bw, bh = p.box[2] - p.box[0], p.box[3] - p.box[1]
        assert (bw, bh) == (52, 36)
        assert np.array_equal(box_pixels(sheet, p), upscale(expected, bw, bh))
        assert p.label == f"{p.mode} k3 s2 p1 ceil\n5x7 RGB"


def test_integer_factor_preferred_when_every_image_divides_the_box():
    # 10x10 fits 25 times in 256 (250), but 24 makes the 3x3 pooled images divide the box.
    image, a = rgb_image(10, 10)
    sheet, panels = compare_sheet(image, ["avg"], kernel_size=3, panel=256)
    assert {(p.box[2] - p.box[0]) for p in panels} == {240}
    expected = pool(a, "avg", kernel_size=3)
    assert np.array_equal(box_pixels(sheet, panels[1]), np.kron(expected, np.ones((80, 80, 1))))
    # 11x11 -> 3x3: neither 2x (22) nor 1x (11) divides by 3, so the largest factor is kept
    # and the pooled pixels become blocks of 7 or 8 display pixels.
    image, a = rgb_image(11, 11)
    sheet, panels = compare_sheet(image, ["avg"], kernel_size=3, panel=30)
    assert {(p.box[2] - p.box[0]) for p in panels} == {22}
    expected = pool(a, "avg", kernel_size=3)
    assert np.array_equal(box_pixels(sheet, panels[1]), upscale(expected, 22, 22))
    assert np.bincount(upscale(np.arange(3)[None, :], 22, 1)[0]).tolist() == [7, 8, 7]


def test_large_input_is_shrunk_to_the_panel():
    image, a = rgb_image(40, 100)
    sheet, panels = compare_sheet(image, ["max"], kernel_size=2, panel=50)
    assert {(p.box[2] - p.box[0], p.box[3] - p.box[1]) for p in panels} == {(50, 20)}
    assert np.array_equal(box_pixels(sheet, panels[0]), a[1::2, 1::2])
    assert np.array_equal(box_pixels(sheet, panels[1]), pool(a, "max", kernel_size=2))


def test_labels_are_drawn_and_differ():
    image, _ = rgb_image(8, 12)
    sheet, panels = compare_sheet(image, ["max", "min"], kernel_size=2, panel=96)
    assert panels[0].label == "input\n8x12 RGB"
    assert panels[1].label == "max k2 s2\n4x6 RGB"
    px = np.asarray(sheet)
    strips = []
    for p in panels:
        strip = px[MARGIN : p.box[1], p.box[0] : p.box[2]]
        ink = np.any(strip != BACKGROUND, axis=2)
        assert ink.sum() > 30  # text is there
        rows = np.flatnonzero(ink.any(axis=1))
        assert len(rows) > 12  # two lines of text
        strips.append(strip)
    assert not np.array_equal(strips[1], strips[2])
    # Nothing but background between the columns.
    gap = px[:, panels[0].box[2] : panels[1].box[0]]
    assert np.all(gap == BACKGROUND)


def test_sheet_is_deterministic():
    image, _ = rgb_image(9, 7)
    first, _ = compare_sheet(image, MODES, kernel_size=2, crop=(1, 1, 4, 4))
    second, _ = compare_sheet(image, MODES, kernel_size=2, crop=(1, 1, 4, 4))
    assert first.tobytes() == second.tobytes()


def test_aliases_and_lp_label():
    image, _ = rgb_image(4, 4)
    _, panels = compare_sheet(image, ["mean", "lp"], kernel_size=2, p=3.0)
    assert [p.mode for p in panels] == ["input", "avg", "lp"]
    assert panels[2].label.splitlines()[0] == "lp k2 s2 p=3"
    assert window_label("max", output_size=1) == "adaptive 1x1"
    assert window_label("max", kernel_size=(2, 3), dilation=2) == "k2x3 s2x3 d2"


# --------------------------------------------------------------------------- crop row


def test_crop_row_shows_the_corresponding_pooled_region():
    image, a = rgb_image(8, 12)
    sheet, panels = compare_sheet(image, MODES, kernel_size=2, crop=(4, 2, 4, 4), panel=64)
    main, zoomed = panels[:6], panels[6:]
    assert [p.mode for p in zoomed] == ["input", *MODES] and all(p.zoom for p in zoomed)
    assert zoomed[0].region == (4, 2, 8, 6) and zoomed[0].label == "crop [2:6, 4:8]"
    assert all(p.region == (2, 1, 4, 3) for p in zoomed[1:])
    assert all(p.box[1] >= main[0].box[3] + GAP for p in zoomed)  # a second row below
    assert np.array_equal(box_pixels(sheet, zoomed[0]), np.kron(a[2:6, 4:8], np.ones((16, 16, 1))))
    for p in zoomed[1:]:
        expected = pool(a, p.mode, kernel_size=2)[1:3, 2:4]
        assert np.array_equal(box_pixels(sheet, p), np.kron(expected, np.ones((32, 32, 1))))
    assert sheet.height == zoomed[0].box[3] + MARGIN


def test_crop_is_clipped_and_rejected_outside():
    image, _ = rgb_image(8, 12)
    _, panels = compare_sheet(image, ["max"], crop=(10, 6, 50, 50))
    assert panels[2].region == (10, 6, 12, 8) and panels[3].region == (5, 3, 6, 4)
    with pytest.raises(WindowError, match="outside"):
        compare_sheet(image, ["max"], crop=(12, 0, 2, 2))
    with pytest.raises(WindowError, match="positive"):
        compare_sheet(image, ["max"], crop=(0, 0, 0, 2))


# --------------------------------------------------------------------------- display mapping


def checker(h: int, w: int, square: int = CHECKER_SQUARE) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where((yy // square + xx // square) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK)


def test_alpha_is_shown_on_a_checkerboard():
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = (255, 0, 255)  # loud colour under alpha 0 must not show
    rgba[0, 0] = (10, 200, 30, 255)
    rgba[3, 5] = (200, 100, 0, 128)
    image = Image.fromarray(rgba)
    sheet, panels = compare_sheet(image, ["max"], kernel_size=2, panel=48)
    box = box_pixels(sheet, panels[0]).astype(int)  # 8x enlarged: 48x32
    bg = checker(32, 48)
    expected = np.repeat(bg[:, :, None], 3, axis=2)
    expected[0:8, 0:8] = (10, 200, 30)
    blend = (np.array([200, 100, 0])[None, None] * 128 + bg[24:32, 40:48, None] * 127 + 127) // 255
    expected[24:32, 40:48] = blend
    assert np.array_equal(box, expected)
    # to_display: same rule at the image's own size.
    shown = np.asarray(to_display(image)).astype(int)
    assert shown[0, 0].tolist() == [10, 200, 30]
    assert shown[0, 1].tolist() == [CHECKER_LIGHT] * 3
    assert (
        shown[3, 5].tolist() == ((np.array([200, 100, 0]) * 128 + 204 * 127 + 127) // 255).tolist()
    )


def test_la_palette_transparency_and_other_modes():
    la = Image.fromarray(np.array([[[100, 255], [100, 0]]], np.uint8), "LA")
    assert np.asarray(to_display(la)).tolist() == [[[100] * 3, [CHECKER_LIGHT] * 3]]
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 0, 255])
    pal.putpixel((1, 0), 1)
    assert np.asarray(to_display(pal)).tolist() == [[[255, 0, 0], [0, 0, 255]]]
    pal.info["transparency"] = 1
    assert np.asarray(to_display(pal)).tolist() == [[[255, 0, 0], [CHECKER_LIGHT] * 3]]
    mask = Image.fromarray(np.array([[True, False]]))
    assert np.asarray(to_display(mask)).tolist() == [[[255] * 3, [0] * 3]]
    for mode in ["L", "RGB", "CMYK", "La", "RGBa", "PA", "I", "F", "I;16B", "YCbCr", "HSV"]:
        shown = to_display(Image.new(mode, (3, 2)))
        assert shown.mode == "RGB" and shown.size == (3, 2)


def test_16_bit_is_stretched_min_to_max_and_shared_on_the_sheet():
    values = np.array([[1000, 1000, 3000, 3000], [2000, 2000, 2000, 2000]], np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    grey = np.asarray(to_display(image))[:, :, 0]
    assert grey.tolist() == [[0, 0, 255, 255], [128, 128, 128, 128]]
    big = Image.frombytes("I;16B", (4, 2), values.astype(">u2").tobytes())
    assert np.array_equal(np.asarray(to_display(big)), np.asarray(to_display(image)))
    sheet, panels = compare_sheet(image, ["max", "min"], kernel_size=2, panel=4)
    # max of the 1x2 pooled image is [2000, 3000]: shown with the input's range, not its own.
    assert box_pixels(sheet, panels[1])[0, :, 0].tolist() == [128, 128, 255, 255]
    assert box_pixels(sheet, panels[2])[0, :, 0].tolist() == [0, 0, 128, 128]


def test_float_nan_inf_and_constant():
    f = np.array([[0.0, np.nan, 1.0, np.inf, -np.inf, 0.5]], np.float32)
    shown = np.asarray(to_display(Image.fromarray(f)))
    assert shown[0, :, 0].tolist() == [0, NAN_COLOUR[0], 255, 255, 0, 128]
    assert shown[0, 1].tolist() == list(NAN_COLOUR)
    assert np.all(np.asarray(to_display(Image.fromarray(np.full((2, 2), 7, np.int32)))) == 128)
    explicit = to_display(Image.fromarray(f), value_range=(0.0, 2.0))
    assert np.asarray(explicit)[0, 2, 0] == 128


def test_sheet_of_every_sample_mode():
    images = {
        "1": Image.fromarray(RNG.integers(0, 2, (7, 9)).astype(bool)),
        "L": Image.fromarray(RNG.integers(0, 256, (7, 9), dtype=np.uint8)),
        "LA": Image.fromarray(RNG.integers(0, 256, (7, 9, 2), dtype=np.uint8), "LA"),
        "P": Image.new("P", (9, 7)),
        "CMYK": Image.fromarray(RNG.integers(0, 256, (7, 9, 4), dtype=np.uint8), "CMYK"),
        "RGBA": Image.fromarray(RNG.integers(0, 256, (7, 9, 4), dtype=np.uint8)),
        "I;16": Image.fromarray(RNG.integers(0, 65536, (7, 9)).astype(np.uint16)),
        "I": Image.fromarray(RNG.integers(-5, 5, (7, 9)).astype(np.int32)),
        "F": Image.fromarray(RNG.random((7, 9)).astype(np.float32)),
    }
    for mode, image in images.items():
        sheet, panels = compare_sheet(image, [*MODES, "sum", "lp"], crop=(2, 2, 3, 3), panel=36)
        assert sheet.mode == "RGB" and len(panels) == 16, mode
        assert panels[0].label.endswith(f" {mode}")


# --------------------------------------------------------------------------- terminal preview

COLOURS = [
    [(255, 0, 0), (0, 255, 0)],
    [(0, 0, 255), (255, 255, 255)],
    [(0, 0, 0), (10, 20, 30)],
    [(40, 50, 60), (200, 100, 0)],
]  # 4 rows x 2 columns


def tiny() -> Image.Image:
    return Image.fromarray(np.array(COLOURS, np.uint8))


def test_preview_cells_of_a_tiny_image():
    cells = preview_cells(tiny(), 2, 2)
    assert cells == [
        [((255, 0, 0), (0, 0, 255)), ((0, 255, 0), (255, 255, 255))],
        [((0, 0, 0), (40, 50, 60)), ((10, 20, 30), (200, 100, 0))],
    ]


def test_preview_enlarges_by_an_integer_factor():
    assert preview_size((2, 4), 5, 6) == (4, 8)  # 2x: 3x would need 12 pixel rows
    cells = preview_cells(tiny(), 5, 6)
    assert len(cells) == 4 and all(len(row) == 4 for row in cells)
    assert cells[0][0] == ((255, 0, 0), (255, 0, 0)) and cells[0][3] == ((0, 255, 0),) * 2
    assert cells[3][2] == ((200, 100, 0), (200, 100, 0))


def test_preview_shrinks_with_a_box_filter_and_odd_heights():
    quads = np.zeros((4, 4, 3), np.uint8)
    quads[:2, :2] = (200, 0, 0)
    quads[:2, 2:] = (0, 100, 0)
    quads[2:, :2] = (0, 0, 50)
    quads[2:, 2:] = (10, 10, 10)
    assert preview_cells(Image.fromarray(quads), 2, 1) == [
        [((200, 0, 0), (0, 0, 50)), ((0, 100, 0), (10, 10, 10))]
    ]
    assert preview_size((300, 200), 80, 24) == (72, 48)
    assert preview_size((800, 100), 80, 24) == (80, 10)
    odd = preview_cells(Image.new("RGB", (3, 3), (1, 2, 3)), 3, 2)
    assert odd == [[((1, 2, 3), (1, 2, 3))] * 3, [((1, 2, 3), None)] * 3]


def test_preview_of_alpha_uses_a_small_checkerboard():
    clear = Image.new("RGBA", (4, 2), (255, 0, 255, 0))
    cells = preview_cells(clear, 4, 1)
    light, dark = (CHECKER_LIGHT,) * 3, (CHECKER_DARK,) * 3
    assert cells == [[(light, light), (light, light), (dark, dark), (dark, dark)]]


def test_preview_text():
    text = preview_text(tiny(), 2, 2)
    assert len(text) == 2 and all(len(line) == 2 for line in text)

    def char(*rgbs):
        lum = [(299 * r + 587 * g + 114 * b + 500) // 1000 for r, g, b in rgbs]
        return ASCII_RAMP[((sum(lum) + 1) // 2) * len(ASCII_RAMP) // 256]

    assert text[0] == char((255, 0, 0), (0, 0, 255)) + char((0, 255, 0), (255, 255, 255))
    assert text[1] == char((0, 0, 0), (40, 50, 60)) + char((10, 20, 30), (200, 100, 0))
    assert preview_text(Image.new("L", (2, 2), 0), 2, 1) == ["  "]
    assert preview_text(Image.new("L", (2, 3), 255), 2, 2) == ["@@", "@@"]


def test_preview_rejects_no_space():
    with pytest.raises(WindowError):
        preview_cells(tiny(), 0, 3)


# --------------------------------------------------------------------------- statistics


def check_stats(stats: list[dict], a: np.ndarray, names: list[str]) -> None:
    assert [s["channel"] for s in stats] == names
    for got, want in zip(stats, numpy_stats(a), strict=True):
        assert got["min"] == want["min"] and got["max"] == want["max"]
        assert got["median"] == want["median"]
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-12)
        assert got["std"] == pytest.approx(want["std"], rel=1e-9)


@pytest.mark.parametrize(
    ("mode", "dtype", "channels", "names"),
    [
        ("L", np.uint8, 0, ["L"]),
        ("RGB", np.uint8, 3, ["R", "G", "B"]),
        ("RGBA", np.uint8, 4, ["R", "G", "B", "A"]),
        ("I;16", np.uint16, 0, ["I"]),
        ("I", np.int32, 0, ["I"]),
        ("F", np.float32, 0, ["F"]),
    ],
)
def test_stats_match_numpy(mode, dtype, channels, names):
    shape = (13, 10) if channels == 0 else (13, 10, channels)  # 130 pixels: even-count median
    if dtype == np.float32:
        a = (RNG.standard_normal(shape) * 1e3).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = RNG.integers(max(info.min, -(10**6)), min(info.max, 10**6), shape).astype(dtype)
    image = Image.fromarray(a)
    assert image.mode == mode
    stats = channel_stats(image)
    check_stats(stats, a, names)
    assert all(isinstance(s["min"], float if mode == "F" else int) for s in stats)
    assert all(isinstance(s[k], float) for s in stats for k in ("mean", "median", "std"))


def test_stats_mean_is_exact_not_the_rounded_avg():
    a = np.array([[0, 1], [1, 1]], np.uint8)
    (s,) = channel_stats(a)
    assert s == {
        "channel": "0",
        "min": 0,
        "max": 1,
        "mean": 0.75,
        "median": 1.0,
        "std": pytest.approx(np.std([0, 1, 1, 1])),
    }
    assert pool(a, "avg", output_size=1)[0, 0] == 1  # what the rounded avg would have said
    (even,) = channel_stats(np.array([[1, 2]], np.uint8))
    assert even["median"] == 1.5


def test_stats_of_16_bit_big_endian_bool_palette_and_arrays():
    a = RNG.integers(0, 65536, (5, 7)).astype(np.uint16)
    big = Image.frombytes("I;16B", (7, 5), a.astype(">u2").tobytes())
    check_stats(channel_stats(big), a, ["I"])
    mask = RNG.integers(0, 2, (5, 7)).astype(bool)
    stats = channel_stats(Image.fromarray(mask))
    check_stats(stats, mask, ["1"])
    assert isinstance(stats[0]["max"], int)
    pal = Image.new("P", (3, 1))
    pal.putpalette([10, 20, 30, 200, 100, 0])
    pal.putpixel((2, 0), 1)
    check_stats(channel_stats(pal), np.asarray(pal.convert("RGB")), ["R", "G", "B"])
    x = RNG.random((4, 3, 2))
    check_stats(channel_stats(x, names=["u", "v"]), x, ["u", "v"])
    with pytest.raises(ValueError, match="channel names"):
        channel_stats(x, names=["u"])


def test_stats_nan_propagates():
    (s,) = channel_stats(np.array([[1.0, np.nan]], np.float32))
    assert all(np.isnan(s[k]) for k in ("min", "max", "mean", "median", "std"))
