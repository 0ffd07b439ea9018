"""The command line on arrays: .npy volumes, TIFF stacks pooled 2x2x2, text from files and
standard input, --explain, OME-Zarr pyramids; outputs decoded and compared with poolcli.pool,
stdout/stderr and exit codes checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

import poolcli
from poolcli.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("zarr_cleanup")
zarr = pytest.importorskip("zarr")
models = pytest.importorskip("ome_zarr_models.v05.image")


def invoke(*args: object, input: bytes | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=input, env={"NO_COLOR": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def volume(rng) -> np.ndarray:
    return rng.integers(0, 255, (9, 12, 11), dtype=np.uint8)  # odd depth and width


def test_npy_volume_2x2x2(volume: np.ndarray) -> None:
    np.save("vol.npy", volume)
    result = invoke("max", "vol.npy", "-k", "2x2x2", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["output"] == "vol_max2.npy"
    assert record["input_shape"] == [9, 12, 11] and record["output_shape"] == [4, 6, 5]
    assert record["axes"] == "DHW" and record["dtype"] == "uint8"
    want = poolcli.pool(volume, "max", kernel_size=(2, 2, 2))
    np.testing.assert_array_equal(np.load("vol_max2.npy"), want)


def test_multipage_tiff_2x2x2(volume: np.ndarray) -> None:
    frames = [Image.fromarray(page) for page in volume]
    frames[0].save("stack.tif", save_all=True, append_images=frames[1:])
    result = invoke("avg", "stack.tif", "-k", "2x2x2")
    assert result.exit_code == 0, result.stderr
    assert "9x12x11 (DxHxW)" in result.stderr and "4x6x5 (DxHxW)" in result.stderr
    want = poolcli.pool(tifffile.imread("stack.tif"), "avg", kernel_size=(2, 2, 2))
    np.testing.assert_array_equal(tifffile.imread("stack_avg2.tif"), want)


def test_a_2d_window_still_pools_tiff_pages_as_images(volume: np.ndarray) -> None:
    frames = [Image.fromarray(page) for page in volume]
    frames[0].save("stack.tif", save_all=True, append_images=frames[1:])
    assert invoke("max", "stack.tif", "-k", "2", "-q").exit_code == 0
    with Image.open("stack_max2.tif") as im:
        assert im.n_frames == 9 and im.size == (5, 6)


def test_ambiguous_shape_is_one_line_naming_the_option(rng) -> None:
    np.save("cube.npy", rng.integers(0, 9, (4, 6, 8), dtype=np.uint8))
    result = invoke("max", "cube.npy", "--stride", "2")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "poolcli: error: cube.npy: shape 4x6x8 is DxHxW or HxWxC: give --axes zyx or --axes"
        " yxc, or a 3-axis window (-k 2x2x2)"
    ]
    assert not Path("cube_max2.npy").exists()
    result = invoke("max", "cube.npy", "--stride", "2", "--axes", "yxc", "-q")
    assert result.exit_code == 0
    assert np.load("cube_max2.npy").shape == (2, 3, 8)


def test_window_axes_against_the_axes_option(rng) -> None:
    np.save("cube.npy", rng.integers(0, 9, (4, 6, 8), dtype=np.uint8))
    result = invoke("max", "cube.npy", "-k", "2x2", "--axes", "zyx")
    assert result.exit_code == 1
    assert "--axes zyx pools 3 axes, the window has 2" in result.stderr


def test_text_from_standard_input_prints_text() -> None:
    result = invoke("max", "-", "--stride", "2", "-q", input=b"1 3 2 4\n5 6 7 8\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "6 8\n"


def test_the_issue_s_pipe_in_a_real_shell() -> None:
    proc = subprocess.run(
        [
            "bash",
            "-c",
            f"printf '1 3 2 4\\n5 6 7 8\\n' | {sys.executable} -m poolcli max - --stride 2",
        ],
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"6 8\n"


def test_csv_file_round_trip(tmp_path: Path) -> None:
    Path("m.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    result = invoke("avg", "m.csv", "-k", "2", "-s", "1", "-q")
    assert result.exit_code == 0, result.stderr
    assert Path("m_avg1.csv").read_text() == "3,4\n6,7\n"
    result = invoke("max", "m.csv", "-k", "2", "-s", "1", "-o", "-", "-q")
    assert result.stdout == "5,6\n8,9\n"
    result = invoke("max", "m.csv", "-k", "2", "-s", "1", "-o", "m.npy", "-q")
    np.testing.assert_array_equal(np.load("m.npy"), [[5, 6], [8, 9]])


def test_explain_a_hand_computed_case() -> None:
    result = invoke("max", "-", "--stride", "2", "--explain", input=b"1 3 2 4\n5 6 7 8\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "max k2x2 s2x2: 2x4 -> 1x2\n"
        "out[0,0] = 6  (rows 0-1, cols 0-1)\n"
        "  1   3\n"
        "  5  [6]\n"
        "out[0,1] = 8  (rows 0-1, cols 2-3)\n"
        "  2   4\n"
        "  7  [8]\n"
    )


def test_explain_average_with_padding() -> None:
    Path("m.txt").write_text("1 2\n3 4\n")
    result = invoke("avg", "m.txt", "-k", "3", "-s", "2", "-p", "1", "--explain")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "avg k3x3 s2x2 pad1x1: 2x2 -> 1x1\n"
        "out[0,0] = 1  (rows 0-1, cols 0-1)  = (1+2+3+4) / 9 (padding counted) = 1.11111 -> 1\n"
        "  ·   ·   ·\n"
        "  ·   1   2\n"
        "  ·   3   4\n"
    )
    assert not Path("m_avg2.txt").exists()  # --explain writes nothing


def test_explain_refuses_big_inputs(rng) -> None:
    np.save("big.npy", rng.integers(0, 9, (64, 64), dtype=np.uint8))
    result = invoke("max", "big.npy", "--explain")
    assert result.exit_code == 1
    assert "--explain is for small inputs (at most 1024 cells); this one has 4096" in result.stderr


def test_info_names_the_axes(volume: np.ndarray) -> None:
    np.save("vol.npy", volume)
    result = invoke("info", "vol.npy", "-k", "2x2x2", "--json")
    record = json.loads(result.stdout)
    assert record["axes"] == "DHW" and record["output_shape"] == [4, 6, 5]
    assert record["format"] == "NPY"


def test_pyramid_to_ome_zarr(rng) -> None:
    x = np.zeros((16, 20, 18), np.uint16)
    x[3:9, 2:12, 5:15] = 7
    x[10:14, 14:19, 0:6] = 3
    np.save("labels.npy", x)
    result = invoke(
        "pyramid",
        "labels.npy",
        "--levels",
        "2",
        "--mode",
        "mode",
        "-s",
        "2x2x2",
        "-o",
        "labels.ome.zarr",
        "--chunks",
        "8",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    group = zarr.open_group("labels.ome.zarr", mode="r")
    models.Image.from_zarr(group)  # valid OME-NGFF 0.5
    for level in range(3):
        want = x if level == 0 else poolcli.pool(x, "mode", kernel_size=(2**level,) * 3)
        np.testing.assert_array_equal(group[f"s{level}"][...], want)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["window"] for r in records] == ["L0", "L1 = L0 k2 s2", "L2 = L0 k4 s4"]
    assert [r["output_shape"] for r in records] == [[16, 20, 18], [8, 10, 9], [4, 5, 4]]
    assert {r["axes"] for r in records} == {"DHW"} and records[0]["output"] == "labels.ome.zarr/s0"


def test_sparse_keeps_labels_that_mode_loses_and_takes_a_background(rng) -> None:
    x = np.zeros((4, 4, 4), np.uint16)
    x[0, 0, 0] = 7
    x[2:, 2:, 2:] = 5
    np.save("labels.npy", x)
    for mode, extra in [("mode", []), ("sparse", []), ("sparse", ["--background", "5"])]:
        out = f"{mode}{len(extra)}.npy"
        result = invoke(mode, "labels.npy", "-k", "2x2x2", "-o", out, "-q", *extra)
        assert result.exit_code == 0, result.stderr
        kw = {"background": 5} if extra else {}
        want = poolcli.pool(x, mode, kernel_size=(2, 2, 2), **kw)
        np.testing.assert_array_equal(np.load(out), want)
    assert np.load("sparse0.npy")[0, 0, 0] == 7 and np.load("mode0.npy")[0, 0, 0] == 0
    assert "--background" not in invoke("max", "--help").stdout


def test_ome_zarr_pyramid_of_labels_with_sparse(rng) -> None:
    x = np.zeros((12, 16, 16), np.int32)
    x[1, 1, 1], x[5, 9, 2] = 3, 4
    x[6:, 8:, 8:] = 9
    np.save("seg.npy", x)
    args = ["pyramid", "seg.npy", "-n", "2", "-m", "sparse", "-s", "2x2x2", "-o", "seg.zarr", "-q"]
    assert invoke(*args).exit_code == 0
    group = zarr.open_group("seg.zarr", mode="r")
    for level in (1, 2):
        want = poolcli.pool(x, "sparse", kernel_size=(2**level,) * 3)
        np.testing.assert_array_equal(group[f"s{level}"][...], want)
    assert group["s2"][0, 0, 0] == 3  # a lone label survives two levels of sparse pooling


README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLES_MARK = "<!-- cli-examples-arrays: run by tests/cli/test_cli_arrays.py -->"


def test_readme_examples_run_and_do_what_they_say(tmp_path: Path, rng) -> None:
    """Each line of the block after EXAMPLES_MARK runs in a shell, in order, in a folder with
    the files it names; ``# -> FILE`` must exist after it, ``# prints TEXT`` be on stdout."""
    text = README.read_text(encoding="utf-8")
    block = text.split(EXAMPLES_MARK, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) >= 6
    volume = rng.integers(0, 255, (9, 12, 11), dtype=np.uint8)
    np.save("volume.npy", volume)
    frames = [Image.fromarray(page) for page in volume]
    frames[0].save("stack.tif", save_all=True, append_images=frames[1:])
    labels = np.zeros((8, 8, 8), np.uint16)
    labels[2:6, 2:6, 2:6] = 3
    np.save("labels.npy", labels)
    Path("matrix.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    env = {**os.environ, "NO_COLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for line in lines:
        proc = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {line}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == 0, (line, proc.stderr.decode())
        assert b"error" not in proc.stderr and b"Traceback" not in proc.stderr, line
        if "# -> " in line:
            assert (tmp_path / line.split("# -> ", 1)[1].split()[0]).exists(), line
        if "# prints " in line:
            assert line.split("# prints ", 1)[1].strip() in proc.stdout.decode(), line
    np.testing.assert_array_equal(
        np.load("volume_max2.npy"), poolcli.pool(volume, "max", kernel_size=(2, 2, 2))
    )


def test_readme_explain_example_is_what_explain_prints() -> None:
    text = README.read_text(encoding="utf-8")
    example = text.split("$ printf '1 2\\n3 4\\n' | poolcli avg - -k 3 -s 2 -p 1 --explain\n", 1)
    shown = example[1].split("```", 1)[0]
    result = invoke("avg", "-", "-k", "3", "-s", "2", "-p", "1", "--explain", input=b"1 2\n3 4\n")
    assert result.exit_code == 0 and result.stdout == shown


def test_a_3_axis_window_on_an_image_is_that_file_s_error(rng) -> None:
    Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).save("photo.png")
    np.save("vol.npy", rng.integers(0, 255, (4, 4, 4), dtype=np.uint8))
    result = invoke("max", "photo.png", "vol.npy", "-k", "2x2x2", "-j", "1")
    assert result.exit_code == 1
    assert (
        "poolcli: error: photo.png: an image pools 2 axes, not the 3 of this window; volumes"
        " are .npy, .npz and TIFF stacks"
    ) in result.stderr
    assert Path("vol_max2.npy").exists() and not Path("photo_max2.png").exists()


def test_folders_out_dir_skip_existing_and_json_as_for_images(rng) -> None:
    Path("scans/deep").mkdir(parents=True)
    a = rng.integers(0, 255, (6, 8, 4), dtype=np.uint8)
    b = rng.integers(0, 255, (4, 4, 4), dtype=np.uint8)
    np.save("scans/a.npy", a)
    np.save("scans/deep/b.npy", b)
    Path("scans/notes.txt").write_text("1 2\n3 4\n")  # text in a folder is not a matrix to pool
    result = invoke("max", "scans", "-r", "-k", "2x2x2", "--out-dir", "small", "-j", "1", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["output"] for r in records) == ["small/a_max2.npy", "small/deep/b_max2.npy"]
    np.testing.assert_array_equal(
        np.load("small/deep/b_max2.npy"), poolcli.pool(b, "max", kernel_size=(2, 2, 2))
    )
    again = invoke("max", "scans", "-r", "-k", "2x2x2", "--out-dir", "small", "--skip-existing")
    assert again.exit_code == 0 and "skipped" in again.stderr
    clash = invoke("max", "scans/a.npy", "-k", "2x2x2", "--out-dir", "small")
    assert clash.exit_code == 1 and "small/a_max2.npy exists" in clash.stderr
    assert not list(Path("small").rglob("*.poolcli-tmp"))


def test_info_shows_an_ambiguous_shape_and_why_it_is_refused(rng) -> None:
    np.save("cube.npy", rng.integers(0, 9, (4, 6, 8), dtype=np.uint8))
    result = invoke("info", "cube.npy", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["input_shape"] == [4, 6, 8] and record["output_shape"] is None
    assert record["window_error"].startswith("shape 4x6x8 is DxHxW or HxWxC: give --axes zyx")
    assert json.loads(invoke("info", "cube.npy", "--axes", "yxc", "--json").stdout)[
        "output_shape"
    ] == [2, 3, 8]


def test_preview_of_an_array_file_says_there_is_none(rng) -> None:
    np.save("v.npy", rng.integers(0, 9, (4, 4, 4), dtype=np.uint8))
    result = invoke("max", "v.npy", "-k", "2x2x2", "--preview", "-q")
    assert result.exit_code == 0
    assert "poolcli: no preview of v.npy: previews show images" in result.stderr
