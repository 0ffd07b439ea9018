"""The command line: decoded outputs compared with the library, stdout/stderr, exit codes.

Most runs are in-process (Typer's CliRunner keeps stdout and stderr apart); a few are real
``python -m poolcli`` processes, for byte-clean pipes and the first import.
"""

import errno
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
from conftest import POOL_JSON_KEYS
from poolcli.cli import app
from poolcli.core import pool as core

runner = CliRunner()
H, W = 7, 9  # odd on purpose: ragged last windows


def invoke(*args: object, input: bytes | None = None, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=input, env=env)
    # An exception other than SystemExit is a bug that a user would see as a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def write_image(
    path: Path, mode: str = "RGB", size: tuple[int, int] = (H, W), seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    shape = size if mode == "L" else (*size, len(mode))
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def pixels(source: Path | bytes) -> np.ndarray:
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        return np.asarray(im)


def expected(path: Path, mode: str, **kwargs: object) -> np.ndarray:
    """What the library gives for the decoded input: the CLI must write exactly this."""
    with Image.open(path) as im:
        return np.asarray(poolcli.pool_image(im, mode, **kwargs))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("poolcli: error:")]


def assert_one_error(result, name: str) -> None:
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"poolcli: error: {name}: ")
    assert len(lines[0]) > len(f"poolcli: error: {name}: ")  # a cause is given


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder, with the short relative names a user would type."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def rgb() -> Path:
    return write_image(Path("photo.png"))


@pytest.fixture
def gray() -> Path:
    return write_image(Path("gray.png"), "L", seed=1)


# --- commands and help --------------------------------------------------------------------------


def test_version_is_the_package_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"poolcli {poolcli.__version__}\n"


def test_top_level_help_lists_every_mode_with_its_summary() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for info in core.MODES.values():
        assert info.name in result.stdout
        assert info.summary[:30] in " ".join(result.stdout.split())
    assert "info" in result.stdout


@pytest.mark.parametrize(
    "name", [*core.MODES, *(a for m in core.MODES.values() for a in m.aliases), "info"]
)
def test_every_command_has_help(name: str) -> None:
    result = invoke(name, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    canonical = core.MODES[core.resolve_mode(name)].summary if name != "info" else "dtype"
    assert canonical[:30] in text or f"Same as {core.resolve_mode(name)}" in text
    assert "--kernel" in text and "--stride" in text


def test_only_lp_takes_an_exponent() -> None:
    assert "--p " in invoke("lp", "--help").stdout
    assert "--p " not in invoke("max", "--help").stdout
    result = invoke("max", "x.png", "--p", "3")
    assert result.exit_code == 2


# --- round trips: the written file decodes to what the library computes ---------------------------


@pytest.mark.parametrize("mode", list(core.MODES))
@pytest.mark.parametrize("image", ["rgb", "gray"])
def test_round_trip_per_mode(mode: str, image: str, request: pytest.FixtureRequest) -> None:
    src: Path = request.getfixturevalue(image)
    result = invoke(mode, src)
    assert result.exit_code == 0, result.stderr
    out = src.with_name(f"{src.stem}_{mode}2.png")
    assert result.stdout == ""  # the table goes to stderr
    assert out.name in result.stderr
    got = pixels(out)
    np.testing.assert_array_equal(got, expected(src, mode))
    assert got.shape[:2] == (H // 2, W // 2)
    if mode != "sum":  # sum widens the dtype; the image keeps its mode
        np.testing.assert_array_equal(got, core.pool(pixels(src), mode))


def test_alias_writes_the_canonical_name(rgb: Path) -> None:
    assert invoke("mean", rgb).exit_code == 0
    np.testing.assert_array_equal(pixels(rgb.with_name("photo_avg2.png")), expected(rgb, "avg"))


@pytest.mark.parametrize(
    ("args", "kwargs", "suffix"),
    [
        (["--stride", "3"], {"kernel_size": 3, "stride": 3}, "3"),
        (["-k", "3"], {"kernel_size": 3}, "3"),
        (
            ["-k", "3", "-s", "2", "-p", "1", "--ceil"],
            {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
            "2",
        ),
        (["-k", "2x3"], {"kernel_size": (2, 3)}, "2x3"),
        (["-k", "2,3", "-s", "1"], {"kernel_size": (2, 3), "stride": 1}, "1"),
        (["-k", "3", "-d", "2"], {"kernel_size": 3, "dilation": 2}, "3"),
        (
            ["-k", "3", "-s", "2", "-p", "same"],
            {"kernel_size": 3, "stride": 2, "padding": "same"},
            "2",
        ),
        (["-k", "3", "-p", "valid"], {"kernel_size": 3, "padding": "valid"}, "3"),
        (["--size", "2x3"], {"output_size": (2, 3)}, "s2x3"),
        (["--size", "3"], {"output_size": 3}, "s3x3"),
        (["--global"], {"output_size": 1}, "s1x1"),
    ],
)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_window_options(rgb: Path, mode: str, args: list, kwargs: dict, suffix: str) -> None:
    result = invoke(mode, rgb, *args)
    assert result.exit_code == 0, result.stderr
    got = pixels(rgb.with_name(f"photo_{mode}{suffix}.png"))
    np.testing.assert_array_equal(got, expected(rgb, mode, **kwargs))
    np.testing.assert_array_equal(got, core.pool(pixels(rgb), mode, **kwargs))


def test_no_count_include_pad(gray: Path) -> None:
    args = ["-k", "3", "-s", "2", "-p", "1"]
    assert (
        invoke("avg", gray, *args, "--no-count-include-pad", "--name", "{stem}_a{ext}").exit_code
        == 0
    )
    assert invoke("avg", gray, *args, "--name", "{stem}_b{ext}").exit_code == 0
    kw = {"kernel_size": 3, "stride": 2, "padding": 1}
    a, b = pixels(gray.with_name("gray_a.png")), pixels(gray.with_name("gray_b.png"))
    np.testing.assert_array_equal(a, core.pool(pixels(gray), "avg", count_include_pad=False, **kw))
    np.testing.assert_array_equal(b, core.pool(pixels(gray), "avg", **kw))
    assert (a >= b).all() and (a != b).any()  # padding cells counted as 0 pull the border down


def test_lp_exponent(gray: Path) -> None:
    assert invoke("lp", gray, "--p", "3").exit_code == 0
    got = pixels(gray.with_name("gray_lp2.png"))
    np.testing.assert_array_equal(got, core.pool(pixels(gray), "lp", p=3.0))
    assert (got != core.pool(pixels(gray), "lp")).any()


# --- output names and places ---------------------------------------------------------------------


def test_out_dir_is_created_and_name_template_applies(
    rgb: Path, gray: Path, tmp_path: Path
) -> None:
    out = tmp_path / "small" / "deeper"
    result = invoke(
        "min", rgb, gray, "--out-dir", out, "--name", "{mode}-{stem}-k{kernel}s{stride}{ext}"
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["min-gray-k2s2.png", "min-photo-k2s2.png"]
    np.testing.assert_array_equal(pixels(out / "min-gray-k2s2.png"), expected(gray, "min"))


def test_format_changes_the_extension_and_the_encoding(rgb: Path) -> None:
    assert invoke("max", rgb, "--format", "bmp").exit_code == 0
    out = rgb.with_name("photo_max2.bmp")
    with Image.open(out) as im:
        assert im.format == "BMP"
    np.testing.assert_array_equal(pixels(out), expected(rgb, "max"))


def test_output_path_and_quality(rgb: Path, tmp_path: Path) -> None:
    low, high = tmp_path / "low.jpg", tmp_path / "high.jpg"
    assert invoke("avg", rgb, "-o", low, "--quality", "5").exit_code == 0
    assert invoke("avg", rgb, "-o", high, "--quality", "95").exit_code == 0
    with Image.open(low) as im:
        assert im.format == "JPEG" and im.size == (W // 2, H // 2)
    assert low.stat().st_size < high.stat().st_size


def test_compress_level_changes_size_not_pixels(tmp_path: Path) -> None:
    src = tmp_path / "flat.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (64, 1))).save(src)
    fast, best = tmp_path / "fast.png", tmp_path / "best.png"
    assert invoke("max", src, "-o", fast, "--compress-level", "0").exit_code == 0
    assert invoke("max", src, "-o", best, "--compress-level", "9").exit_code == 0
    assert best.stat().st_size < fast.stat().st_size
    np.testing.assert_array_equal(pixels(fast), pixels(best))


# --- never overwrite -----------------------------------------------------------------------------


def test_existing_output_needs_force(rgb: Path) -> None:
    out = rgb.with_name("photo_max2.png")
    out.write_bytes(b"keep me")
    result = invoke("max", rgb)
    assert_one_error(result, str(rgb))
    assert "--force" in result.stderr
    assert out.read_bytes() == b"keep me"
    result = invoke("max", rgb, "--force")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(pixels(out), expected(rgb, "max"))


@pytest.mark.parametrize("how", ["same path", "template", "hard link", "symlink"])
def test_never_writes_over_an_input(rgb: Path, tmp_path: Path, how: str) -> None:
    before = rgb.read_bytes()
    if how == "same path":
        result = invoke("max", rgb, "-o", rgb, "--force")
    elif how == "template":
        result = invoke("max", rgb, "--name", "{stem}{ext}", "--force")
    elif how == "hard link":
        os.link(rgb, tmp_path / "link.png")
        result = invoke("max", rgb, "-o", tmp_path / "link.png", "--force")
    else:
        (tmp_path / "alias.png").symlink_to(rgb)
        result = invoke("max", rgb, "-o", tmp_path / "alias.png", "--force")
    assert_one_error(result, str(rgb))
    assert "input" in error_lines(result.stderr)[0]
    assert rgb.read_bytes() == before


def test_an_output_that_is_another_input_is_not_written(rgb: Path) -> None:
    other = write_image(rgb.with_name("photo_max2.png"), seed=5)  # rgb's default output name
    before = other.read_bytes()
    result = invoke("max", rgb, other, "--force")
    assert_one_error(result, str(rgb))
    assert other.read_bytes() == before
    np.testing.assert_array_equal(
        pixels(rgb.with_name("photo_max2_max2.png")), expected(other, "max")
    )


def test_two_inputs_with_one_output_name(tmp_path: Path) -> None:
    # A usage error before anything is written: which of the two would win must not depend on
    # which finished first, and a rerun with --skip-existing must not take one for the other.
    a = write_image(tmp_path / "same.png")
    b = write_image(tmp_path / "same.bmp", seed=3)
    result = invoke("max", a, b, "--format", "png", "--force")
    assert result.exit_code == 2, result.stderr
    assert "same.png" in result.stderr and "same.bmp" in result.stderr
    assert "same_max2.png" in result.stderr
    assert not (tmp_path / "same_max2.png").exists()


# --- usage errors: exit 2, before any file is read or written ---------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["-s", "0"],
        ["-k", "0"],
        ["-k", "-2"],
        ["-k", "abc"],
        ["-k", "2x3x4x5"],  # 2x3x4 is a volume's window (an image's file error)
        ["-d", "0"],
        ["-k", "2", "-p", "2"],  # more padding than half the window, for every image
        ["-p", "same", "--ceil"],
        ["-p", "wide"],
        ["--size", "0"],
        ["--size", "4", "-k", "2"],
        ["--global", "-s", "2"],
        ["--global", "--size", "2"],
        ["--format", "nosuchformat"],
        ["--name", "{stem}_{nope}{ext}"],
        ["--name", "{stem"],
        ["--quality", "101"],
        ["--compress-level", "10"],
        ["--max-pixels", "-1"],
        ["-o", "out.nosuchsuffix"],
        ["--unknown-option"],
    ],
)
def test_usage_errors_exit_2_and_touch_nothing(rgb: Path, args: list[str]) -> None:
    before = sorted(Path().iterdir())
    result = invoke("max", rgb, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "Usage:" in result.stderr
    assert sorted(Path().iterdir()) == before


@pytest.mark.parametrize("p", ["0", "-1", "inf", "nan"])
def test_lp_needs_a_positive_finite_p(rgb: Path, p: str) -> None:
    result = invoke("lp", rgb, "--p", p)
    assert result.exit_code == 2 and "Usage:" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["{rgb}", "{gray}", "-o", "x.png"],  # -o names one output
        ["{rgb}", "-o", "x.png", "--out-dir", "d"],
        ["-", "-", "-o", "-"],  # stdin can be read once
        ["-"],  # stdin has no name to build an output name from
        ["{rgb}", "-o", "-", "--json"],  # both on stdout
    ],
)
def test_usage_errors_about_inputs_and_outputs(rgb: Path, gray: Path, args: list[str]) -> None:
    before = sorted(Path().iterdir())
    filled = [a.format(rgb=rgb, gray=gray) for a in args]
    result = invoke("max", *filled, input=b"")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == "" and "Usage:" in result.stderr
    assert sorted(Path().iterdir()) == before


def test_missing_command_or_input_is_usage(rgb: Path) -> None:
    assert invoke("max").exit_code == 2
    assert invoke("nosuchmode", rgb).exit_code == 2


# --- bad inputs: one line each, exit 1, the others still written -------------------------------


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = write_image(tmp_path / "good.png", size=(16, 16))
    data = good.read_bytes()
    paths = {
        "missing": tmp_path / "missing.png",
        "directory": tmp_path / "folder.png",
        "empty": tmp_path / "empty.png",
        "truncated": tmp_path / "truncated.png",
        "text": tmp_path / "text.png",
        "corrupted": tmp_path / "corrupted.png",
        "header only": tmp_path / "header.png",
        "too small": tmp_path / "tiny.png",
    }
    paths["directory"].mkdir()
    paths["empty"].write_bytes(b"")
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["text"].write_text("this is not an image\n")
    paths["corrupted"].write_bytes(data[:40] + bytes(255 - b for b in data[40:]))
    paths["header only"].write_bytes(data[:8])
    write_image(paths["too small"], size=(1, 1))  # a 2x2 window does not fit
    return paths


@pytest.mark.parametrize(
    "kind",
    ["missing", "directory", "empty", "truncated", "text", "corrupted", "header only", "too small"],
)
def test_bad_input_is_one_error_line_and_the_good_one_is_written(tmp_path: Path, kind: str) -> None:
    bad = bad_inputs(tmp_path)[kind]
    good = tmp_path / "good.png"
    result = invoke("max", bad, good, "--out-dir", tmp_path / "out")
    assert_one_error(result, str(bad))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_max2.png"]
    np.testing.assert_array_equal(pixels(tmp_path / "out" / "good_max2.png"), expected(good, "max"))


def test_unwritable_destination_is_a_file_error(rgb: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "x.png"
    result = invoke("max", rgb, "-o", target)
    assert_one_error(result, str(rgb))
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder(rgb: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = invoke("max", rgb, "--out-dir", locked)
        assert_one_error(result, str(rgb))
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_out_dir_that_cannot_be_created(rgb: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    result = invoke("max", rgb, "--out-dir", tmp_path / "file" / "sub")
    assert result.exit_code == 1 and len(error_lines(result.stderr)) == 1


def test_disk_full_while_writing_a_file(rgb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # where a full disk shows up at the latest
    result = invoke("max", rgb)
    assert_one_error(result, str(rgb))
    assert "no space left on device" in result.stderr.lower()
    assert sorted(p.name for p in Path().iterdir()) == ["photo.png"]  # no temporary file left


# --- reports: table, JSON, quiet -----------------------------------------------------------------


def test_table_on_stderr_with_a_summary_row(rgb: Path, gray: Path) -> None:
    result = invoke("median", rgb, gray)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert (
        "photo_median2.png" in result.stderr
        and "7x9x3" in result.stderr
        and "3x4x1" in result.stderr
    )
    assert "2 inputs" in result.stderr and "2 ok" in result.stderr
    assert "\x1b[" not in result.stderr  # not a terminal: no colour codes


def test_single_input_has_no_summary_row(rgb: Path) -> None:
    result = invoke("max", rgb)
    assert "inputs" not in result.stderr


def test_json_lines_on_stdout(rgb: Path, gray: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    result = invoke("max", rgb, missing, gray, "--json")
    assert result.exit_code == 1
    # One line per input as each one finishes: in parallel runs, not in the order given.
    order = [str(rgb), str(missing), str(gray)]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    records.sort(key=lambda r: order.index(r["input"]))
    assert [r["input"] for r in records] == order
    for r in records:
        assert POOL_JSON_KEYS <= set(r)
        assert set(r["seconds"]) == {"load", "pool", "save"}
    ok, failed, ok2 = records
    assert ok["status"] == "ok" and ok["error"] is None
    assert ok["output"] == str(rgb.with_name("photo_max2.png"))
    assert ok["input_shape"] == [H, W, 3] and ok["output_shape"] == [H // 2, W // 2, 3]
    assert ok["image_mode"] == "RGB" and ok["dtype"] == "uint8"
    assert all(isinstance(v, float) and v >= 0 for v in ok["seconds"].values())
    assert ok2["image_mode"] == "L" and ok2["output_shape"] == [H // 2, W // 2, 1]
    assert failed["status"] == "error" and failed["error"]
    assert failed["seconds"]["pool"] is None and failed["output_shape"] is None
    # no table with --json; the error line still goes to stderr
    assert error_lines(result.stderr) and "photo_max2.png" not in result.stderr


def test_quiet_prints_only_errors(rgb: Path, tmp_path: Path) -> None:
    result = invoke("max", rgb, "-q")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    result = invoke("max", rgb, tmp_path / "missing.png", "-q", "--force")
    assert result.stdout == ""
    assert result.stderr.splitlines() == error_lines(result.stderr)
    assert len(error_lines(result.stderr)) == 1


# --- standard input and output -------------------------------------------------------------------


def test_stdin_to_stdout_in_process(rgb: Path) -> None:
    result = invoke("max", "-", "-o", "-", input=rgb.read_bytes())
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(pixels(result.stdout_bytes), expected(rgb, "max"))
    assert "<stdin>" in result.stderr  # the table went to stderr


def test_stdout_format_defaults_to_the_input_format_and_follows_format(tmp_path: Path) -> None:
    src = write_image(tmp_path / "in.bmp")
    result = invoke("min", src, "-o", "-")
    assert Image.open(io.BytesIO(result.stdout_bytes)).format == "BMP"
    result = invoke("min", src, "-o", "-", "--format", "png")
    assert Image.open(io.BytesIO(result.stdout_bytes)).format == "PNG"
    np.testing.assert_array_equal(pixels(result.stdout_bytes), expected(src, "min"))


def test_stdin_garbage_is_one_error_line() -> None:
    result = invoke("max", "-", "-o", "-", input=b"not an image")
    assert_one_error(result, "<stdin>")
    assert result.stdout_bytes == b""


def run_module(*args: object, stdin: bytes = b"", **kwargs: object) -> subprocess.CompletedProcess:
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
    return subprocess.run(
        [sys.executable, "-m", "poolcli", *map(str, args)],
        input=stdin,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
        **streams,
    )


def test_pipe_through_a_real_process_is_byte_clean(rgb: Path) -> None:
    proc = run_module("avg", "-", "-o", "-", "-k", "3", "-s", "2", stdin=rgb.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(
        pixels(proc.stdout), expected(rgb, "avg", kernel_size=3, stride=2)
    )
    assert b"<stdin>" in proc.stderr and b"\x1b[" not in proc.stderr


def test_real_process_bad_input_and_json(rgb: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello\n")
    proc = run_module("max", rgb, text, "--json", "--out-dir", tmp_path / "out")
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.decode().count("poolcli: error:") == 1
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    statuses = {r["input"]: r["status"] for r in records}  # in the order they finished
    assert len(records) == 2 and statuses == {str(rgb): "ok", str(text): "error"}


def test_real_process_disk_full_on_stdout(rgb: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = run_module("max", rgb, "-o", "-", stdout=full)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr
    assert len([line for line in lines if line.startswith("poolcli: error:")]) == 1


def test_real_process_usage_error_and_version() -> None:
    proc = run_module("max", "x.png", "-s", "0")
    assert proc.returncode == 2 and proc.stdout == b"" and b"Traceback" not in proc.stderr
    proc = run_module("--version")
    assert proc.stdout.decode() == f"poolcli {poolcli.__version__}\n"


# --- info ----------------------------------------------------------------------------------------


def test_info_table_on_stdout(rgb: Path) -> None:
    result = invoke("info", rgb, "-k", "3", "-s", "2")
    assert result.exit_code == 0
    text = result.stdout
    for part in ("PNG", "7x9x3", "RGB", "uint8", "k3 s2", "3x4x3"):
        assert part in text
    assert result.stderr == ""


def test_info_json_and_window_that_does_not_fit(rgb: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    result = invoke("info", rgb, missing, "-k", "8", "--json")
    assert result.exit_code == 1
    ok, failed = (json.loads(line) for line in result.stdout.splitlines())
    assert ok["format"] == "PNG" and ok["frames"] == 1 and ok["input_shape"] == [H, W, 3]
    assert ok["output_shape"] is None and "larger" in ok["window_error"]  # 8 > H = 7
    assert failed["status"] == "error"
    assert len(error_lines(result.stderr)) == 1


def test_info_adaptive_and_stdin(rgb: Path) -> None:
    result = invoke("info", "-", "--size", "2x3", "--json", input=rgb.read_bytes())
    record = json.loads(result.stdout)
    assert record["input"] == "<stdin>" and record["output_shape"] == [2, 3, 3]


def test_info_usage_error(rgb: Path) -> None:
    assert invoke("info", rgb, "-s", "0").exit_code == 2


# --- README examples -----------------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLES_MARK = "<!-- cli-examples: run by tests/cli/test_cli.py -->"


def readme_examples() -> list[str]:
    """The lines of the ```sh block after EXAMPLES_MARK in README.md (none: the test skips)."""
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    if EXAMPLES_MARK not in text:
        return []
    block = text.split(EXAMPLES_MARK, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_examples_run_and_write_what_they_say(tmp_path: Path) -> None:
    """Each line runs in a shell, in order, in a folder holding photo.png; ``# -> FILE`` exists."""
    examples = readme_examples()
    if not examples:
        pytest.skip("README.md has no CLI example block yet")
    write_image(tmp_path / "photo.png", size=(96, 128))
    env = {**os.environ, "NO_COLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for line in examples:
        proc = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {line}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, (line, proc.stderr.decode())
        assert b"error" not in proc.stderr and b"Traceback" not in proc.stderr, line
        if "# -> " in line:
            promised = tmp_path / line.split("# -> ", 1)[1].split()[0]
            assert promised.exists(), line
            if promised.suffix == ".jsonl":
                assert all(
                    json.loads(x)["status"] == "ok" for x in promised.read_text().split("\n") if x
                )
            else:
                with Image.open(promised) as im:
                    im.load()


# --- the app main() runs: only what the command line reaches ------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["max", "--help"],
        ["mean", "--help"],  # a hidden alias
        ["lp", "--help"],
        ["info", "--help"],
        ["compare", "--help"],
        ["show", "--help"],
        ["stats", "--help"],
        ["pyramid", "--help"],
        ["maxx"],  # an unknown command: Typer's own error
        ["--bogus"],
        ["max"],  # no input
        ["max", "a.png", "--bogus"],
    ],
)
def test_main_runs_an_app_that_answers_as_the_whole_one(args) -> None:
    from poolcli.cli import app_for

    whole, lean = runner.invoke(app, args), runner.invoke(app_for(args), args)
    assert (lean.exit_code, lean.output) == (whole.exit_code, whole.output)


def test_main_pools_with_the_one_command_it_builds(tmp_path: Path) -> None:
    from poolcli.cli import app_for

    src = write_image(tmp_path / "a.png", "RGBA", (7, 9))
    for name in ("whole", "lean"):
        args = ["median", str(src), "-k", "3", "--ceil", "-o", str(tmp_path / f"{name}.png")]
        result = runner.invoke(app if name == "whole" else app_for(args), args)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "whole.png").read_bytes() == (tmp_path / "lean.png").read_bytes()
    assert len(app_for(["median", "x"]).registered_commands) == 1
    assert len(app_for(["--help"]).registered_commands) == len(app.registered_commands)
