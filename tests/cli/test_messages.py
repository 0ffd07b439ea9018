"""Messages and output a new user sees (issue 14, "Messages and output"): tables that keep paths
whole, usage lines, suggestions, collisions, name templates, the pixel limit, ignored options,
output folders, truncated files, the order of ``--json`` lines, per-command help, and how
``compare`` shows sums. Each test failed before its fix.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import poolcli
from poolcli.cli import app

runner = CliRunner()


def invoke(*args: object, env: dict[str, str] | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def run_module(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A real process, standard output and error both pipes (not terminals)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "poolcli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**environ, "NO_COLOR": "1", **(env or {})},
        timeout=120,
    )


def write(path: Path, array: np.ndarray, mode: str | None = None, **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **save)
    return path


def random_rgb(shape: tuple[int, int] = (8, 8), seed: int = 0, low: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, 256, (*shape, 3), dtype=np.uint8)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("poolcli: error:")]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# --- 1. the table keeps paths whole when standard error is not a terminal -----------------------


def test_table_in_a_pipe_keeps_long_paths_on_one_line() -> None:
    deep = "sample_images/a_rather_long_folder_name/and_another_one_below_it"
    source = write(Path(deep, "astronaut_with_a_long_file_name.png"), random_rgb())
    out_dir = "out/some/deeply/nested/output/folder"
    proc = run_module("max", source, "--out-dir", out_dir)
    assert proc.returncode == 0, proc.stderr
    target = f"{out_dir}/astronaut_with_a_long_file_name_max2.png"
    assert Path(target).is_file()
    rows = [line for line in proc.stderr.splitlines() if str(source) in line]
    assert len(rows) == 1, proc.stderr
    # one row holds the whole record
    assert target in rows[0] and "8x8x3" in rows[0] and "4x4x3" in rows[0]
    assert len(proc.stderr.splitlines()) == 2  # header and that row


def test_table_keeps_paths_whole_even_when_columns_is_narrow() -> None:
    source = write(Path("folder_with_a_long_name/picture_with_a_long_name.png"), random_rgb())
    result = invoke("max", source, "--out-dir", "another_long_output_folder", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert str(source) in lines[1]
    assert "another_long_output_folder/picture_with_a_long_name_max2.png" in lines[1]


# --- 2. sum on a 16-bit PNG saturates, as the README says ---------------------------------------


def sums(array: np.ndarray) -> np.ndarray:
    return poolcli.pool(array, "sum", kernel_size=2)


def test_sum_of_a_16_bit_png_saturates_into_a_16_bit_png() -> None:
    values = np.array([[65535, 65535, 1, 2, 7], [60000, 3, 4, 5, 9], [0, 1, 2, 3, 4]], np.uint16)
    write(Path("g16.png"), values)
    result = invoke("sum", "g16.png")
    assert result.exit_code == 0, result.stderr
    assert error_lines(result.stderr) == []
    with Image.open("g16_sum2.png") as im:
        assert im.format == "PNG" and im.mode == "I;16"
        got = np.asarray(im)
    np.testing.assert_array_equal(got, np.clip(sums(values), 0, 65535))
    assert got[0, 0] == 65535 and got[0, 1] == 12  # saturated, and exact where it fits


def test_sum_keeps_exact_values_in_tiff_and_saturates_8_bit_formats() -> None:
    values = np.random.default_rng(3).integers(0, 65536, (6, 8)).astype(np.uint16)
    write(Path("g16.png"), values)
    assert invoke("sum", "g16.png", "-o", "exact.tif").exit_code == 0
    with Image.open("exact.tif") as im:
        assert im.mode == "I"
        np.testing.assert_array_equal(np.asarray(im), sums(values))
    grey = np.random.default_rng(4).integers(0, 256, (6, 8), dtype=np.uint8)
    write(Path("grey.png"), grey)
    result = invoke("sum", "grey.png", "-o", "grey.bmp")
    assert result.exit_code == 0, result.stderr
    with Image.open("grey.bmp") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), np.clip(sums(grey), 0, 255))


# --- 3. the usage line says INPUT... ------------------------------------------------------------


def test_usage_line_names_the_inputs_plainly() -> None:
    result = invoke("max")
    assert result.exit_code == 2
    assert "Usage: poolcli max [OPTIONS] INPUT..." in result.stderr
    assert "{INPUT}" not in result.stderr
    helped = invoke("pyramid", "--help")
    assert "Usage: poolcli pyramid [OPTIONS] INPUT\n" in helped.stdout
    assert "{" not in helped.stdout.splitlines()[0]


# --- 4. only close matches are suggested --------------------------------------------------------


def test_unknown_option_suggests_nothing_far_away() -> None:
    write(Path("a.png"), random_rgb())
    result = invoke("max", "a.png", "--bogus")
    assert result.exit_code == 2
    assert "No such option: --bogus" in result.stderr
    assert "--jobs" not in result.stderr and "Possible options" not in result.stderr


def test_unknown_option_suggests_a_close_match() -> None:
    result = invoke("max", "a.png", "--stirde", "2")
    assert result.exit_code == 2
    assert "Did you mean --stride?" in result.stderr


def test_p_outside_lp_says_where_it_belongs() -> None:
    result = invoke("max", "a.png", "--p", "3")
    assert result.exit_code == 2
    assert "No such option: --p" in result.stderr
    assert "--help" not in result.stderr.split("Error:")[1]
    assert "poolcli lp" in result.stderr


# --- 5. a collision says what collides and how to avoid it --------------------------------------


def test_same_name_from_two_folders_says_what_collides() -> None:
    write(Path("a/x.png"), random_rgb())
    write(Path("b/x.png"), random_rgb(seed=1))
    result = invoke("max", "a/x.png", "b/x.png", "--out-dir", "o")
    assert result.exit_code == 2
    error = result.stderr.split("Error:")[1]
    assert "a/x.png" in error and "b/x.png" in error and "o/x_max2.png" in error
    assert "--name" not in error.split("would")[0]  # not blamed on an option never given
    assert "{ext}" not in error
    assert "-r" in error  # the way out: mirrored folders
    assert not Path("o").exists()


def test_collision_from_a_name_without_a_differing_field_suggests_one() -> None:
    write(Path("x.png"), random_rgb())
    write(Path("x.tif"), random_rgb(seed=1), format="TIFF")
    result = invoke("max", "x.png", "x.tif", "--name", "{stem}_small.png")
    assert result.exit_code == 2
    error = result.stderr.split("Error:")[1]
    assert "x.png" in error and "x.tif" in error and "x_small.png" in error
    assert "{ext}" in error


# --- 6. an unknown field of --name is one clear line --------------------------------------------


@pytest.mark.parametrize(
    ("template", "why"),
    [("{nope}", "unknown field {nope}"), ("{0}", "unknown field {0}"), ("{stem", "unmatched {")],
)
def test_bad_name_template_is_one_clear_line(template: str, why: str) -> None:
    write(Path("a.png"), random_rgb())
    result = invoke("max", "a.png", "--name", template)
    assert result.exit_code == 2
    assert "Error" in result.stderr
    assert why in result.stderr
    assert "the fields are {stem} {ext} {mode} {stride} {kernel}" in result.stderr
    assert "KeyError" not in result.stderr and "IndexError" not in result.stderr
    assert "ValueError" not in result.stderr


def test_bad_pyramid_name_template_is_one_clear_line() -> None:
    write(Path("a.png"), random_rgb())
    result = invoke("pyramid", "a.png", "--levels", "1", "--name", "{nope}")
    assert result.exit_code == 2
    assert "unknown field {nope}" in result.stderr
    assert "{level}" in result.stderr and "KeyError" not in result.stderr


# --- 7. the pixel limit: one number, named with --max-pixels ------------------------------------


@pytest.fixture
def small_pillow_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pillow's warning limit set to 1000 pixels: its error limit, poolcli's one limit, is 2000."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    return 2000


@pytest.mark.parametrize("fmt", ["png", "gif"])
def test_image_between_pillows_warning_and_error_limits_is_pooled(
    small_pillow_limit: int, fmt: str
) -> None:
    grey = np.random.default_rng(5).integers(0, 256, (40, 40), dtype=np.uint8)  # 1600 pixels
    write(Path(f"mid.{fmt}"), grey)
    result = invoke("max", f"mid.{fmt}", "-o", "mid_out.png")
    assert result.exit_code == 0, result.stderr
    with Image.open("mid_out.png") as im:  # 400 pixels: under every limit
        np.testing.assert_array_equal(
            np.asarray(im.convert("L")), poolcli.pool(grey, "max", kernel_size=2)
        )


@pytest.mark.parametrize("side", [50, 70])  # over the limit; over twice the limit
@pytest.mark.parametrize("fmt", ["png", "gif"])
def test_pixel_limit_error_names_one_limit_and_the_option(
    small_pillow_limit: int, side: int, fmt: str
) -> None:
    write(Path(f"big.{fmt}"), np.zeros((side, side), np.uint8))
    result = invoke("max", f"big.{fmt}", "-o", "big_out.png")
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"poolcli: error: big.{fmt}: ")
    assert f"{side * side} pixels" in line and "2000" in line
    assert "4000" not in line and "1000" not in line
    assert "--max-pixels" in line
    assert not Path("big_out.png").exists()
    lifted = invoke("max", f"big.{fmt}", "-o", "big_out.png", "--max-pixels", side * side)
    assert lifted.exit_code == 0, lifted.stderr


# --- 8. --quality on PNG output is not silently ignored -----------------------------------------


def test_quality_on_png_output_warns_once() -> None:
    write(Path("a.png"), random_rgb())
    write(Path("b.png"), random_rgb(seed=1))
    result = invoke("max", "a.png", "b.png", "--quality", "50", "-j", "1")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "--quality" in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("poolcli: warning:") and "PNG" in warnings[0]
    assert Path("a_max2.png").is_file() and Path("b_max2.png").is_file()


def test_quality_on_jpeg_output_is_quiet_and_used() -> None:
    write(Path("a.png"), random_rgb((16, 16)))
    low = invoke("max", "a.png", "-o", "low.jpg", "--quality", "5")
    high = invoke("max", "a.png", "-o", "high.jpg", "--quality", "95")
    assert low.exit_code == high.exit_code == 0
    assert "warning" not in low.stderr + high.stderr
    assert Path("low.jpg").stat().st_size < Path("high.jpg").stat().st_size


def test_compress_level_on_jpeg_and_quality_on_pyramid_png_warn() -> None:
    write(Path("a.png"), random_rgb((16, 16)))
    jpeg = invoke("max", "a.png", "-o", "a.jpg", "--compress-level", "9")
    assert jpeg.exit_code == 0
    assert "poolcli: warning: --compress-level is for PNG output; JPEG" in jpeg.stderr
    levels = invoke("pyramid", "a.png", "--levels", "2", "--quality", "10")
    assert levels.exit_code == 0
    assert levels.stderr.count("poolcli: warning: --quality") == 1
    quiet = invoke("pyramid", "a.png", "--levels", "2", "--quality", "10", "-q", "--force")
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --- 9. an output folder is made only when something is written to it --------------------------


def test_out_dir_is_not_left_behind_when_nothing_is_written() -> None:
    write(Path("small.png"), random_rgb((4, 4)))
    missing = invoke("max", "missing.png", "--out-dir", "od/sub")
    assert missing.exit_code == 1
    too_small = invoke("max", "small.png", "-k", "9", "--out-dir", "od/sub")
    assert too_small.exit_code == 1
    assert not Path("od").exists()
    written = invoke("max", "small.png", "--out-dir", "od/sub")
    assert written.exit_code == 0
    assert Path("od/sub/small_max2.png").is_file()


def test_out_dir_is_not_made_for_an_output_that_cannot_be_encoded() -> None:
    rgba = np.random.default_rng(7).integers(0, 256, (8, 8, 4), dtype=np.uint8)
    write(Path("alpha.png"), rgba)
    result = invoke("max", "alpha.png", "--format", "jpg", "--out-dir", "od")
    assert result.exit_code == 1
    assert "JPEG cannot hold image mode RGBA" in result.stderr
    assert not Path("od").exists()


def test_pyramid_out_dir_is_not_left_behind_when_nothing_is_written() -> None:
    Path("notes.png").write_text("not an image\n")
    result = invoke("pyramid", "notes.png", "--levels", "1", "--out-dir", "levels")
    assert result.exit_code == 1
    assert not Path("levels").exists()
    rgba = np.random.default_rng(7).integers(0, 256, (8, 8, 4), dtype=np.uint8)
    write(Path("alpha.png"), rgba)
    result = invoke("pyramid", "alpha.png", "--levels", "1", "--format", "jpg", "--out-dir", "l")
    assert result.exit_code == 1
    assert "JPEG cannot hold image mode RGBA" in result.stderr
    assert not Path("l").exists()


# --- 10. truncated files: one wording for every format ------------------------------------------


TRUNCATED = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "tif": "TIFF", "bmp": "BMP", "webp": "WEBP"}


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_files_get_one_wording(fraction: float) -> None:
    causes = {}
    for ext, fmt in TRUNCATED.items():
        buf = io.BytesIO()
        Image.fromarray(random_rgb((64, 64), seed=2)).save(buf, fmt)
        data = buf.getvalue()
        Path(f"cut.{ext}").write_bytes(data[: int(len(data) * fraction)])
        result = invoke("max", f"cut.{ext}", "-o", f"out.{ext}")
        assert result.exit_code == 1, (ext, result.stderr)
        (line,) = error_lines(result.stderr)
        prefix = f"poolcli: error: cut.{ext}: "
        assert line.startswith(prefix), line
        causes[ext] = line[len(prefix) :].replace(fmt, "FMT")
        assert not Path(f"out.{ext}").exists()
    assert len(set(causes.values())) == 1, causes
    assert next(iter(causes.values())).startswith("truncated FMT file")


# --- 11. --json: input order, with an index -----------------------------------------------------


def test_json_lines_come_in_input_order_with_their_index() -> None:
    write(Path("big.png"), random_rgb((256, 256)))
    write(Path("small.png"), random_rgb((4, 4)))
    args = ["big.png", "none*.png", "small.png", "missing.png"]
    result = invoke("max", *args, "--json", "--out-dir", "o", "-j", "2")
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == args
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert [r["status"] for r in records] == ["ok", "error", "ok", "error"]


# --- 12. help that fits its command -------------------------------------------------------------


def test_pyramid_help_does_not_describe_an_option_it_lacks() -> None:
    pyramid = invoke("pyramid", "--help").stdout
    assert "-o -" not in " ".join(pyramid.split())  # -o names an OME-Zarr store, not stdout
    assert "--format" in pyramid
    pooling = invoke("max", "--help").stdout
    assert "-o -" in " ".join(pooling.split())


# --- 13. compare scales sums of 8-bit images for display ----------------------------------------


def test_compare_stretches_the_sum_panel_of_an_8_bit_image() -> None:
    rgb = random_rgb((8, 8), seed=6, low=60)  # every 2x2 sum is past 255
    write(Path("c.png"), rgb)
    result = invoke("compare", "c.png", "-m", "sum", "--panel", "32", "-o", "sheet.png", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    panel = next(p for p in record["panels"] if p["mode"] == "sum")
    x0, y0, x1, y1 = panel["box"]
    assert (x1 - x0, y1 - y0) == (32, 32)  # 4x4 pooled pixels, each an 8x8 block
    with Image.open("sheet.png") as im:
        shown = np.asarray(im.convert("RGB"))[y0:y1:8, x0:x1:8]
    raw = sums(rgb).astype(np.float64)
    lo, hi = raw.min(), raw.max()
    want = np.floor((raw - lo) * (255.0 / (hi - lo)) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(shown, want)
    assert len(np.unique(shown)) > 2  # not a saturated white panel
