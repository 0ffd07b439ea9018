"""``poolcli compare``, ``show``, ``stats`` and ``--preview``: what they write, decoded.

Sheets are decoded from the file the CLI wrote and each panel compared with an independent
nearest-neighbour enlargement of :func:`poolcli.pool`; previews are parsed back from Rich's ANSI
escapes (24-bit colour forced through the environment); statistics are compared with NumPy.
"""

from __future__ import annotations

import inspect
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import numpy_stats
from poolcli import pool
from poolcli.cli import app
from poolcli.cli.visual import COMPARE_MODES, COMPARE_NAME, COMPARE_PANEL
from poolcli.io import preview
from poolcli.io.display import CHECKER_DARK, CHECKER_LIGHT, CHECKER_SQUARE
from poolcli.io.preview import ASCII_RAMP
from poolcli.io.sheet import BACKGROUND, DEFAULT_MODES, GAP, MARGIN, compare_sheet

runner = CliRunner()
RNG = np.random.default_rng(4)
ROOT = Path(__file__).resolve().parents[2]

# 24-bit colour on a "terminal" (Rich honours FORCE_COLOR), or colour off.
COLOUR = {"FORCE_COLOR": "1", "COLORTERM": "truecolor", "TERM": "xterm-256color", "NO_COLOR": None}
PLAIN = {"NO_COLOR": "1", "FORCE_COLOR": None, "TTY_COMPATIBLE": None}


def invoke(*args: object, input: bytes | None = None, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=input, env=env)
    # An exception other than SystemExit is a bug that a user would see as a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def rgb_file(name: str, h: int, w: int) -> tuple[Path, np.ndarray]:
    # Few distinct values so that `mode` has real winners, not only ties.
    a = (RNG.integers(0, 6, (h, w, 3)) * 50).astype(np.uint8)
    Image.fromarray(a).save(name)
    return Path(name), a


def decode(path: Path | str) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return np.asarray(im)


def box(sheet: np.ndarray, panel: dict) -> np.ndarray:
    x0, y0, x1, y1 = panel["box"]
    return sheet[y0:y1, x0:x1]


def upscale(a: np.ndarray, box_w: int, box_h: int) -> np.ndarray:
    """Reference nearest neighbour: the source pixel under each display pixel's centre."""
    ys = np.floor((np.arange(box_h) + 0.5) * a.shape[0] / box_h).astype(int)
    xs = np.floor((np.arange(box_w) + 0.5) * a.shape[1] / box_w).astype(int)
    return a[ys][:, xs]


def usage_error(result) -> str:
    """Exit 2, nothing on stdout, no traceback, one ``Error:`` line; that line."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def one_error(result, name: str) -> str:
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("poolcli: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"poolcli: error: {name}: ")
    return lines[0]


# --------------------------------------------------------------------------- compare


def test_compare_defaults_are_the_librarys() -> None:
    assert tuple(COMPARE_MODES.split(",")) == DEFAULT_MODES
    assert inspect.signature(compare_sheet).parameters["panel"].default == COMPARE_PANEL
    text = " ".join(invoke("compare", "--help").stdout.split())
    assert COMPARE_MODES in text and "--crop" in text and "--stride" in text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("compare", ["--modes", "--crop", "--panel", "--stride", "--force"]),
        ("show", ["--width", "--height", "NO_COLOR"]),
        ("stats", ["max, min, mean, median and std", "--json"]),
        ("max", ["--preview"]),
        ("lp", ["--preview"]),
    ],
)
def test_help_of_the_new_commands_and_options(command: str, says: list[str]) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert all(part in text for part in says), text
    assert command in " ".join(invoke("--help").stdout.split())


def test_compare_sheet_layout_and_every_panel_is_the_pooled_image() -> None:
    path, a = rgb_file("photo.png", 8, 12)
    result = invoke("compare", path, "--stride", "2", "--panel", "96", "-o", "sheet.png", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    sheet = decode("sheet.png")
    panels = record["panels"]
    assert [p["mode"] for p in panels] == ["input", *DEFAULT_MODES]
    # One row: 12x8 enlarged 8x to 96x64, the 6x4 pooled images 16x; a GAP apart, tops aligned.
    assert [p["box"][0] for p in panels] == [MARGIN + i * (96 + GAP) for i in range(6)]
    assert {(p["box"][2] - p["box"][0], p["box"][3] - p["box"][1]) for p in panels} == {(96, 64)}
    assert len({p["box"][1] for p in panels}) == 1
    assert sheet.shape == (panels[0]["box"][3] + MARGIN, 2 * MARGIN + 6 * 96 + 5 * GAP, 3)
    assert record["sheet_shape"] == list(sheet.shape)
    assert np.array_equal(box(sheet, panels[0]), np.kron(a, np.ones((8, 8, 1))))
    for p in panels[1:]:
        want = pool(a, p["mode"], kernel_size=2)
        assert np.array_equal(box(sheet, p), np.kron(want, np.ones((16, 16, 1)))), p["mode"]
        assert p["shape"] == [4, 6] and p["window"] == "k2 s2"
        assert p["label"] == f"{p['mode']} k2 s2\n4x6 RGB"
    # The labels are drawn above the pictures, and differ; the gaps are empty.
    strips = [sheet[MARGIN : p["box"][1], p["box"][0] : p["box"][2]] for p in panels]
    assert all(np.any(s != BACKGROUND, axis=2).sum() > 30 for s in strips)
    assert not np.array_equal(strips[1], strips[2])
    assert np.all(sheet[:, panels[0]["box"][2] : panels[1]["box"][0]] == BACKGROUND)


def test_compare_odd_sizes_window_options_and_the_table() -> None:
    path, a = rgb_file("odd.png", 9, 13)
    args = ["-k", "3", "-s", "2", "-p", "1", "--ceil", "--modes", "median,mean,lp", "--p", "3"]
    result = invoke("compare", path, *args, "--panel", "64")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # the sheet is the data; the table goes to stderr
    for part in ("median", "avg", "lp", "k3 s2 p1 ceil", "5x7", "odd_compare.png"):
        assert part in result.stderr
    sheet = decode(COMPARE_NAME.format(stem="odd"))
    result = invoke("compare", path, *args, "--panel", "64", "--json", "-o", "again.png")
    panels = json.loads(result.stdout)["panels"]
    assert [p["mode"] for p in panels] == ["input", "median", "avg", "lp"]
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    for p in panels[1:]:
        want = pool(a, p["mode"], p=3.0, **kw)
        assert want.shape[:2] == (5, 7) == tuple(p["shape"])
        assert np.array_equal(box(sheet, p), upscale(want, 52, 36)), p["mode"]
    assert panels[3]["window"] == "k3 s2 p1 ceil p=3"


def test_compare_crop_row() -> None:
    path, a = rgb_file("photo.png", 8, 12)
    result = invoke("compare", path, "--crop", "4,2,4,4", "--panel", "64", "--json", "-o", "c.png")
    assert result.exit_code == 0, result.stderr
    panels = json.loads(result.stdout)["panels"]
    sheet = decode("c.png")
    main, zoomed = panels[:6], panels[6:]
    assert [p["zoom"] for p in panels] == [False] * 6 + [True] * 6
    assert zoomed[0]["region"] == [4, 2, 8, 6] and zoomed[0]["label"] == "crop [2:6, 4:8]"
    assert all(p["box"][1] >= main[0]["box"][3] + GAP for p in zoomed)  # a second row
    assert np.array_equal(box(sheet, zoomed[0]), np.kron(a[2:6, 4:8], np.ones((16, 16, 1))))
    for p in zoomed[1:]:
        want = pool(a, p["mode"], kernel_size=2)[1:3, 2:4]
        assert np.array_equal(box(sheet, p), np.kron(want, np.ones((32, 32, 1)))), p["mode"]
    assert sheet.shape[0] == zoomed[0]["box"][3] + MARGIN


def test_compare_alpha_on_a_checkerboard_and_16_bit_stretched() -> None:
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = (255, 0, 255)  # under alpha 0: must not show
    rgba[0, 0] = (10, 200, 30, 255)
    Image.fromarray(rgba).save("sprite.png")
    result = invoke("compare", "sprite.png", "--modes", "max", "--panel", "48", "--json")
    panels = json.loads(result.stdout)["panels"]
    sheet = decode("sprite_compare.png")
    shown = box(sheet, panels[0])  # 8x enlarged: 48x32, one checker square per pixel
    yy, xx = np.mgrid[0:32, 0:48] // CHECKER_SQUARE
    want = np.where((yy + xx) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK)
    want = np.repeat(want[:, :, None], 3, axis=2)
    want[0:8, 0:8] = (10, 200, 30)
    assert np.array_equal(shown, want)

    deep = np.array([[1000, 1000, 3000, 3000], [2000, 2000, 2000, 2000]], np.uint16)
    Image.fromarray(deep).save("deep.tif")
    result = invoke("compare", "deep.tif", "--modes", "max,min", "--panel", "4", "--json")
    assert result.exit_code == 0, result.stderr
    panels = json.loads(result.stdout)["panels"]
    sheet = decode("deep_compare.png")
    # One stretch for the input and its pooled images: 1000 -> 0, 3000 -> 255.
    assert box(sheet, panels[0])[:, :, 0].tolist() == [[0, 0, 255, 255], [128] * 4]
    assert box(sheet, panels[1])[0, :, 0].tolist() == [128, 128, 255, 255]
    assert box(sheet, panels[2])[0, :, 0].tolist() == [0, 0, 128, 128]


def test_compare_stdin_to_stdout() -> None:
    path, a = rgb_file("photo.png", 6, 4)
    result = invoke(
        "compare", "-", "-o", "-", "--modes", "avg", "--panel", "8", input=path.read_bytes()
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    assert "<stdin>" not in result.stdout and "avg" in result.stderr


def test_compare_never_overwrites_without_force_nor_the_input() -> None:
    path, _ = rgb_file("photo.png", 8, 12)
    target = Path("photo_compare.png")
    target.write_bytes(b"precious")
    result = invoke("compare", path)
    assert "exists" in one_error(result, "photo.png")
    assert target.read_bytes() == b"precious" and result.stdout == ""
    assert invoke("compare", path, "--force", "-q").exit_code == 0
    assert decode(target).shape[2] == 3
    result = invoke("compare", path, "-o", path, "--force")
    assert "is the input" in one_error(result, "photo.png")
    with Image.open(path) as im:
        assert im.size == (12, 8)


def test_compare_file_failures_exit_1_with_one_line() -> None:
    path, _ = rgb_file("photo.png", 8, 12)
    result = invoke("compare", "missing.png")
    one_error(result, "missing.png")
    result = invoke("compare", path, "--crop", "20,0,4,4")  # outside the 12x8 image
    assert "outside" in one_error(result, "photo.png")
    result = invoke("compare", path, "-k", "9", "--json")  # larger than the 8 rows
    one_error(result, "photo.png")
    assert json.loads(result.stdout)["status"] == "error"
    assert not Path("photo_compare.png").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--crop", "1,2,3"], "X,Y,W,H"),
        (["--crop", "a,b,c,d"], "X,Y,W,H"),
        (["--crop", "0,0,0,4"], "at least 1"),
        (["--crop", "-1,0,4,4"], "at least 0"),
        (["--modes", "max,nosuch"], "unknown pooling mode 'nosuch'"),
        (["--modes", ","], "mode names"),
        (["--panel", "0"], "--panel"),
        (["-s", "0"], "--stride"),
        (["-o", "sheet.nosuchsuffix"], "--output"),
        (["-o", "-", "--json"], "--json"),
    ],
)
def test_compare_usage_errors_exit_2_with_one_line(args: list[str], says: str) -> None:
    path, _ = rgb_file("photo.png", 8, 12)
    before = sorted(Path().iterdir())
    assert says in usage_error(invoke("compare", path, *args))
    assert sorted(Path().iterdir()) == before


def test_compare_stdin_needs_an_output() -> None:
    path, _ = rgb_file("photo.png", 8, 12)
    assert "-o" in usage_error(invoke("compare", "-", input=path.read_bytes()))


# --------------------------------------------------------------------------- show

COLOURS = [
    [(255, 0, 0), (0, 255, 0)],
    [(0, 0, 255), (255, 255, 255)],
    [(0, 0, 0), (10, 20, 30)],
    [(40, 50, 60), (200, 100, 0)],
]  # 4 rows x 2 columns
# A half block: its foreground is the top pixel, its background (if any) the bottom one.
CELL = re.compile(r"\x1b\[38;2;(\d+);(\d+);(\d+)(?:;48;2;(\d+);(\d+);(\d+))?m\u2580")


def tiny() -> Path:
    Image.fromarray(np.array(COLOURS, np.uint8)).save("tiny.png")
    return Path("tiny.png")


def cells(line: str) -> list[tuple[tuple[int, ...], tuple[int, ...] | None]]:
    """The ``(top, bottom)`` colours of the half blocks of one line (bottom None: not drawn)."""
    found = CELL.findall(line)
    assert len(found) == line.count("\u2580"), repr(line)  # every half block is coloured
    return [(tuple(map(int, c[:3])), tuple(map(int, c[3:])) if c[3] else None) for c in found]


def test_show_colour_cells_of_a_tiny_image() -> None:
    result = invoke("show", tiny(), "--width", "2", "--height", "2", env=COLOUR)
    assert result.exit_code == 0, result.stderr
    title, *rows = result.stdout.splitlines()
    assert "tiny.png  4x2 RGB" in title
    assert [cells(row) for row in rows] == [
        [((255, 0, 0), (0, 0, 255)), ((0, 255, 0), (255, 255, 255))],
        [((0, 0, 0), (40, 50, 60)), ((10, 20, 30), (200, 100, 0))],
    ]


def test_show_is_sized_to_the_terminal() -> None:
    # 10 columns x 6 lines: 4 lines for the picture (8 pixel rows) -> the 2x4 image twice as big.
    env = {**COLOUR, "COLUMNS": "10", "LINES": "6"}
    result = invoke("show", tiny(), env=env)
    title, *rows = result.stdout.splitlines()
    got = [cells(row) for row in rows]
    assert len(got) == 4 and all(len(row) == 4 for row in got)
    assert got[0][0] == ((255, 0, 0), (255, 0, 0)) and got[0][3] == ((0, 255, 0), (0, 255, 0))
    assert got[3][2] == ((200, 100, 0), (200, 100, 0))
    # A larger image is shrunk into the same space, aspect kept: 300x100 -> 10x3 pixels, the
    # last cell row drawing its top half only.
    Image.new("RGB", (300, 100), (9, 8, 7)).save("wide.png")
    rows = invoke("show", "wide.png", env=env).stdout.splitlines()[1:]
    assert [cells(row) for row in rows] == [[((9, 8, 7), (9, 8, 7))] * 10, [((9, 8, 7), None)] * 10]


def test_show_plain_text_when_colour_is_off() -> None:
    result = invoke("show", tiny(), "--width", "2", "--height", "2", env=PLAIN)
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout
    _, *rows = result.stdout.splitlines()

    def char(*rgbs):
        lum = [(299 * r + 587 * g + 114 * b + 500) // 1000 for r, g, b in rgbs]
        return ASCII_RAMP[((sum(lum) + 1) // 2) * len(ASCII_RAMP) // 256]

    (r0, r1), (r2, r3) = COLOURS[0:2], COLOURS[2:4]
    assert [row.rstrip() for row in rows] == [
        (char(r0[0], r1[0]) + char(r0[1], r1[1])).rstrip(),
        (char(r2[0], r3[0]) + char(r2[1], r3[1])).rstrip(),
    ]


def test_show_errors_and_stdin() -> None:
    path = tiny()
    result = invoke("show", path, "missing.png", "--width", "2", "--height", "2", env=PLAIN)
    one_error(result, "missing.png")
    assert "tiny.png" in result.stdout  # the good input is still shown
    result = invoke(
        "show", "-", "--width", "2", "--height", "2", input=path.read_bytes(), env=COLOUR
    )
    assert result.exit_code == 0 and "<stdin>  4x2 RGB" in result.stdout
    assert "--width" in usage_error(invoke("show", path, "--width", "0"))


# --------------------------------------------------------------------------- stats


def test_stats_json_matches_numpy() -> None:
    rgba = RNG.integers(0, 256, (7, 9, 4)).astype(np.uint8)
    Image.fromarray(rgba).save("rgba.png")
    deep = RNG.integers(0, 65536, (5, 6)).astype(np.uint16)  # 30 pixels: an even-count median
    Image.fromarray(deep).save("deep.tif")
    result = invoke("stats", "rgba.png", "deep.tif", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["image_mode"] == "RGBA" and first["input_shape"] == [7, 9, 4]
    assert second["image_mode"] == "I;16" and second["dtype"] == "uint16"
    for record, a, names in ((first, rgba, "RGBA"), (second, deep, "I")):
        assert [c["channel"] for c in record["channels"]] == list(names)
        for got, want in zip(record["channels"], numpy_stats(a), strict=True):
            assert got["max"] == want["max"] and got["min"] == want["min"]
            assert isinstance(got["max"], int) and got["median"] == want["median"]
            assert got["mean"] == pytest.approx(want["mean"], rel=1e-12)
            assert got["std"] == pytest.approx(want["std"], rel=1e-9)


def test_stats_table_on_stdout_matches_numpy() -> None:
    a = RNG.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    Image.fromarray(a).save("rgb.png")
    result = invoke("stats", "rgb.png", env={"COLUMNS": "200"})
    assert result.exit_code == 0 and result.stderr == ""
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["input", "channel", "max", "min", "mean", "median", "std"]
    assert rows[0].split()[0] == "rgb.png"
    for row, band, want in zip(rows, "RGB", numpy_stats(a), strict=True):
        values = row.split()[-6:]
        assert values[0] == band
        for text, key in zip(values[1:], ("max", "min", "mean", "median", "std"), strict=True):
            assert float(text) == pytest.approx(want[key], rel=1e-5), key


def test_stats_nan_is_null_in_json_and_a_failure_is_one_line() -> None:
    Image.fromarray(np.array([[1.0, np.nan], [2.0, 3.0]], np.float32)).save("nan.tif")
    result = invoke("stats", "nan.tif", "missing.png", "--json")
    one_error(result, "missing.png")
    ok, failed = (json.loads(line) for line in result.stdout.splitlines())
    (channel,) = ok["channels"]
    assert channel == {
        "channel": "F",
        "min": None,
        "max": None,
        "mean": None,
        "median": None,
        "std": None,
    }
    assert failed["status"] == "error" and failed["channels"] == []
    table = invoke("stats", "nan.tif", env={"COLUMNS": "200"})
    assert table.stdout.splitlines()[1].split()[-5:] == ["nan"] * 5


# --------------------------------------------------------------------------- --preview


def preview_rows(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "\u2580" in line]


def test_preview_before_and_after_side_by_side_in_colour() -> None:
    # 40x8: side by side gives each picture 19x6 cells, stacked only 40x2: side by side wins.
    a = np.array(COLOURS, np.uint8)
    env = {**COLOUR, "COLUMNS": "40", "LINES": "8"}
    result = invoke("max", tiny(), "--preview", "-o", "out.png", env=env)
    assert result.exit_code == 0, result.stderr
    assert "\u2580" not in result.stdout
    titles = [line for line in result.stderr.splitlines() if "tiny.png  4x2 RGB" in line]
    assert len(titles) == 1 and "max k2 s2  2x1 RGB" in titles[0]
    rows = [cells(line) for line in preview_rows(result.stderr)]
    # The 2x4 input 3x (6x12 pixels), the 1x2 result 6x (6x12): same size, side by side.
    assert len(rows) == 6 and all(len(row) == 12 for row in rows)
    before = np.kron(a, np.ones((3, 3, 1), np.uint8))
    after = np.kron(pool(a, "max", kernel_size=2), np.ones((6, 6, 1), np.uint8))
    for i, row in enumerate(rows):
        want_before = [
            (tuple(t), tuple(b)) for t, b in zip(before[2 * i], before[2 * i + 1], strict=True)
        ]
        want_after = [
            (tuple(t), tuple(b)) for t, b in zip(after[2 * i], after[2 * i + 1], strict=True)
        ]
        assert row == want_before + want_after
    with Image.open("out.png") as im:  # the run itself is unchanged
        assert np.array_equal(np.asarray(im), pool(a, "max", kernel_size=2))


def test_preview_stacked_when_that_is_larger_and_plain_without_colour() -> None:
    Image.fromarray((RNG.integers(0, 256, (4, 40, 3))).astype(np.uint8)).save("wide.png")
    env = {**PLAIN, "COLUMNS": "40", "LINES": "10"}
    result = invoke("avg", "wide.png", "--preview", "-q", "-o", "out.png", env=env)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\x1b[" not in result.stderr
    with Image.open("wide.png") as im, Image.open("out.png") as out:
        # Stacked: each picture 40x3 cells; -q drops the table but not the asked-for preview.
        before = preview.preview_text(im, 40, 3)
        after = preview.preview_text(out, 40, 3)
    assert lines[0].startswith("wide.png  4x40 RGB")
    assert [line.rstrip() for line in lines[1:]] == [
        *(row.rstrip() for row in before),
        "avg k2 s2  2x20 RGB",
        *(row.rstrip() for row in after),
    ]


def test_preview_of_a_stream_and_of_several_files() -> None:
    path = tiny()
    env = {**PLAIN, "COLUMNS": "40", "LINES": "8"}
    result = invoke("min", "-", "-o", "-", "--preview", input=path.read_bytes(), env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG")
    assert "<stdin>  4x2 RGB" in result.stderr and "min k2 s2  2x1 RGB" in result.stderr
    Image.fromarray(np.zeros((6, 4, 3), np.uint8)).save("black.png")
    result = invoke("max", path, "black.png", "--out-dir", "out", "-j", "1", "--preview", env=env)
    assert result.exit_code == 0, result.stderr
    titles = [line.split("  ")[0] for line in result.stderr.splitlines() if "  4x2 RGB" in line]
    assert titles == ["tiny.png"]
    assert sum("black.png  6x4 RGB" in line for line in result.stderr.splitlines()) == 1
    assert sum("max k2 s2  3x2 RGB" in line for line in result.stderr.splitlines()) == 1


def test_no_preview_unless_asked() -> None:
    result = invoke("max", tiny(), "-o", "out.png", env=COLOUR)
    assert result.exit_code == 0 and not preview_rows(result.stderr)
    assert "tiny.png" in result.stderr  # the table


# --------------------------------------------------------------------------- README gallery

GALLERY_MARK = "<!-- gallery: made by poolcli compare, checked by tests/cli/test_cli_visual.py -->"
# The README's gallery: image -> the `poolcli compare` arguments that made it, run in the
# repository's root. The README shows these command lines verbatim.
GALLERY = {
    "astronaut_compare.png": "sample_images/astronaut.png --stride 8 --crop 184,64,96,96"
    " --panel 192",
    "labels_compare.png": "sample_images/labels_p_64x48.png --stride 4 --crop 28,0,24,24",
    "sprite_compare.png": "sample_images/sprite_rgba_33x29.png -k 3 -s 2 --ceil",
    "gradient_u16_compare.png": "sample_images/gradient_u16_257x131.tif --stride 16"
    " --modes max,avg,min,lp --p 4",
}


def gallery_command(name: str) -> str:
    return f"poolcli compare {GALLERY[name]} -o docs/gallery/{name} --compress-level 9 --force"


@pytest.mark.parametrize(
    "name", ["labels_compare.png", "sprite_compare.png", "gradient_u16_compare.png"]
)
def test_gallery_images_are_what_the_commands_make(name: str, tmp_path: Path) -> None:
    """The committed gallery images equal a fresh run (regenerate: the command in the README)."""
    args = shlex.split(gallery_command(name))[2:]
    args = [str(ROOT / a) if a.startswith("sample_images/") else a for a in args]
    args[args.index("-o") + 1] = str(tmp_path / name)
    result = invoke("compare", *args)
    assert result.exit_code == 0, result.stderr
    committed = ROOT / "docs" / "gallery" / name
    assert np.array_equal(decode(tmp_path / name), decode(committed)), gallery_command(name)


def test_gallery_files_and_readme_commands() -> None:
    assert sorted(p.name for p in (ROOT / "docs" / "gallery").glob("*.png")) == sorted(GALLERY)
    assert sum(p.stat().st_size for p in (ROOT / "docs" / "gallery").glob("*.png")) < 400_000
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if GALLERY_MARK not in readme:
        pytest.skip("README.md has no gallery yet")
    for name in GALLERY:
        assert gallery_command(name) in readme
        assert f"docs/gallery/{name}" in readme
