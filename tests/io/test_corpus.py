"""The CLI over odd real-world files (Pillow's test images): a correct output or one error line.

The corpus lives beside the checkout (``../shared/corpus/pillow-test-images``) or where
``POOLCLI_CORPUS`` points; without it these tests are skipped. Every file either gives a decodable
output of the size and mode the library computes, or exactly one error line, exit status 1 and
no file at all (not even a temporary one).
"""

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from poolcli.cli import app
from poolcli.core import pool as core
from poolcli.io import pooling, reading


def corpus_dir() -> Path | None:
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pillow-test-images"
    if beside.is_dir():
        return beside
    env = os.environ.get("POOLCLI_CORPUS")
    return Path(env) if env and Path(env).is_dir() else None


CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(CORPUS is None, reason="corpus of test images not found")

OK, ERROR, EITHER = "ok", "error", "either"  # EITHER: depends on the codecs Pillow was built with

# (file, pooling mode, expected outcome)
CASES = [
    ("hopper.png", "max", OK),
    ("hopper.jpg", "avg", OK),
    ("hopper.gif", "avg", OK),  # P: colours pooled, mapped back onto the palette
    ("hopper.gif", "mode", OK),  # P: indices pooled
    ("hopper.bmp", "min", OK),
    ("hopper.tif", "median", OK),
    ("hopper.webp", "lp", EITHER),
    ("hopper.ppm", "sum", OK),
    ("hopper_8bit.pgm", "sum", OK),  # L -> I for sum
    ("hopper_1bit.pbm", "max", OK),  # mode 1
    ("hopper_g4.tif", "min", OK),
    ("16bit.cropped.tif", "avg", OK),  # I;16 stays 16-bit
    ("hopper_16bit.pgm", "median", OK),
    ("16bit.cropped.jp2", "max", EITHER),
    ("hopper.pfm", "avg", OK),  # F
    ("hopper_float_dpi_2.tif", "lp", OK),
    ("lab.tif", "median", OK),
    ("pil_sample_cmyk.jpg", "avg", OK),
    ("la.tga", "avg", OK),
    ("pil123rgba.png", "median", OK),  # RGBA, premultiplied
    ("p_trns_single.png", "avg", OK),
    ("pal8rletrns.png", "mode", OK),
    ("i_trns.png", "max", OK),
    ("icc_profile.png", "avg", OK),
    ("hopper_orientation_6.jpg", "max", OK),  # EXIF orientation applied
    ("exif_gps.jpg", "max", OK),  # 4294967295 dpi: more than a PNG's pHYs holds, left out
    ("7x13.png", "avg", OK),  # odd sizes
    ("iss634.apng", "max", OK),  # animated PNG
    ("dispose_bgnd_rgba.gif", "mode", OK),  # animated GIF
    ("anim_frame1.webp", "avg", EITHER),
    ("hopper.qoi", "max", EITHER),
    ("hopper.ico", "avg", OK),
    ("tiff_16bit_RGBa.tiff", "max", OK),
    ("tRNS_null_1x1.png", "max", ERROR),  # a 2x2 window does not fit 1x1
    ("bad_palette_entry.gpl", "max", ERROR),  # not an image
    ("truncated_jpeg.jpg", "avg", ERROR),
    ("truncated_image.png", "max", ERROR),
    ("broken_data_stream.png", "max", ERROR),
    ("decompression_bomb.gif", "max", ERROR),
    ("png_decompression_dos.png", "max", ERROR),
    ("libtiff_segfault.tif", "max", ERROR),
    ("hopper.psd", "max", OK),  # Pillow cannot write PSD: written as PNG, with a note
    ("hopper.spider", "max", OK),  # no writer for the suffix: a float image, written as TIFF
    ("hopper.xpm", "avg", OK),  # P, written as PNG
    ("a.fli", "max", OK),  # an animation Pillow cannot write: an animated PNG
    ("pillow2.icns", "max", OK),  # the 512x512 Pillow opens, pooled and written as PNG
    ("apng/sequence_gap.png", "max", OK),  # frame sequence error: the default image
]

# Lossless storage of a mode the file format spells differently.
STORED_AS = {"I;16B": "I;16", "I;16L": "I;16", "I;16N": "I;16"}

runner = CliRunner()


@pytest.mark.parametrize(("name", "mode", "outcome"), CASES, ids=[f"{n}-{m}" for n, m, _ in CASES])
def test_corpus_file(name: str, mode: str, outcome: str, tmp_path: Path) -> None:
    assert CORPUS is not None
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in this copy of the corpus")
    out_dir = tmp_path / "out"
    result = runner.invoke(app, [mode, str(path), "--out-dir", str(out_dir), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    written = sorted(out_dir.iterdir()) if out_dir.exists() else []
    record = json.loads(result.stdout)

    if result.exit_code == 0:
        assert outcome in (OK, EITHER), f"{name} should fail, gave {written}"
        # a note (the output's format is not the input's, a broken animation) and nothing else
        assert all(line.startswith("poolcli: note: ") for line in result.stderr.splitlines())
        assert (record["note"] is None) == (result.stderr == "")
        assert [p.name for p in written] == [Path(record["output"]).name]
        expected = pooling.pool_picture(reading.read_picture(path), mode)
        with Image.open(written[0]) as im:
            im.load()
            assert im.size == expected.size
            assert STORED_AS.get(im.mode, im.mode) == STORED_AS.get(expected.mode, expected.mode)
        oh, ow = core.output_shape(tuple(record["input_shape"][:2]))
        assert record["output_shape"][:2] == [oh, ow] == [expected.size[1], expected.size[0]]
    else:
        assert outcome in (ERROR, EITHER), f"{name}: {result.stderr}"
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"poolcli: error: {path}: ")
        assert record["status"] == "error" and record["error"]
        assert written == []


@pytest.mark.parametrize(
    "name",
    [
        "crash-0c7e0e8e11ce787078f00b5b0ca409a167f070e0.tif",  # libtiff warns, then fails
        "hopper_webp.tif",  # libtiff prints three lines of its own
    ],
)
def test_c_library_chatter_stays_off_stderr(name: str, tmp_path: Path) -> None:
    """libtiff writes to descriptor 2 directly: a real process must still show one line."""
    import subprocess
    import sys

    source = CORPUS / name
    if not source.exists():
        pytest.skip(f"{name} is not in this corpus")
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [sys.executable, "-m", "poolcli", "max", str(source), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("poolcli: error: ")
    assert name in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
