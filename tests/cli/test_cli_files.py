"""Regression tests for issue 14 (files, wrong results, safety): each failed before its fix.

- animated palette GIFs: every frame mapped back to the palette, not only the first;
- integer ``lp`` decides exact ties exactly (integers for integer p, a verified correction else);
- ``ceil_mode`` windows larger than the input, as PyTorch takes them;
- files Pillow reads but cannot write: the nearest format that keeps the pixels, said once;
- folder walks take every file Pillow identifies, by suffix first, then by its header;
- APNGs with broken frame sequences: the default image, as Pillow and browsers show it;
- 1-pixel images: the error says ``--ceil`` pools them, and ``--ceil`` does;
- icon files (ICO/ICNS): the size Pillow opens is pooled, and written without resampling;
- ``--force`` never replaces what is not a regular file (FIFOs, devices, symbolic links).
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import poolcli
from poolcli.cli import app

runner = CliRunner()


def invoke(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# --- animated palette GIFs ------------------------------------------------------------------------


def _palette16() -> list[int]:
    """16 distinct colours, not closed under a channel's max or min (as real palettes are not)."""
    rng = np.random.default_rng(16)
    colours = rng.choice(256, (16, 3), replace=False)
    return [int(v) for v in colours.reshape(-1)]


def _colours(im: Image.Image) -> set[tuple[int, ...]]:
    return set(map(tuple, np.asarray(im.convert("RGB")).reshape(-1, 3).tolist()))


@pytest.mark.parametrize("mode", ["max", "avg", "median", "min", "lp"])
def test_every_frame_of_a_palette_gif_keeps_the_palette(mode: str) -> None:
    rng = np.random.default_rng(1)
    palette = _palette16()
    frames = []
    for _ in range(3):
        im = Image.fromarray(rng.integers(0, 16, (12, 10), dtype=np.uint8), "P")
        im.putpalette(palette)
        frames.append(im)
    frames[0].save("anim.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    allowed = {tuple(palette[i : i + 3]) for i in range(0, 48, 3)}
    result = invoke(mode, "anim.gif", "-o", "out.gif")
    assert result.exit_code == 0, result.stderr
    with Image.open("out.gif") as out:
        assert out.n_frames == 3
        for i in range(3):
            out.seek(i)
            assert _colours(out) <= allowed, f"frame {i} has colours outside the palette"
            # each frame pooled as frame 0 is: its colours pooled, mapped onto the palette
            want = poolcli.pool_image(frames[i], mode).convert("RGB")
            np.testing.assert_array_equal(np.asarray(out.convert("RGB")), np.asarray(want))


# --- files Pillow reads but cannot write ----------------------------------------------------------


def _xpm(path: Path) -> np.ndarray:
    """A 4x6 XPM (Pillow reads XPM, cannot write it) of 3 colours; its P pixels."""
    rows = ["aabbcc", "aabbcc", "ccbbaa", "ccbbaa"]
    text = (
        "/* XPM */\nstatic char *x[] = {\n"
        '"6 4 3 1",\n"a c #FF0000",\n"b c #00FF00",\n"c c #0000FF",\n'
        + ",\n".join(f'"{r}"' for r in rows)
        + "\n};\n"
    )
    path.write_text(text)
    with Image.open(path) as im:
        assert im.format == "XPM"
        return np.asarray(im.convert("RGB"))


def _fits(path: Path, data: np.ndarray) -> None:
    """A FITS file of a 2-D float32 or int16 array (Pillow reads FITS, cannot write it)."""
    bitpix = {np.dtype(np.float32): -32, np.dtype(np.int16): 16}[data.dtype]
    cards = [
        "SIMPLE  =                    T",
        f"BITPIX  = {bitpix:>20}",
        "NAXIS   =                    2",
        f"NAXIS1  = {data.shape[1]:>20}",
        f"NAXIS2  = {data.shape[0]:>20}",
        "END",
    ]
    header = "".join(c.ljust(80) for c in cards).encode()
    header += b" " * (-len(header) % 2880)
    body = data.astype(data.dtype.newbyteorder(">")).tobytes()
    body += b"\0" * (-len(body) % 2880)
    path.write_bytes(header + body)


def test_unwritable_format_is_written_as_png_and_said_once() -> None:
    rgb = _xpm(Path("a.xpm"))
    _xpm(Path("b.xpm"))
    result = invoke("max", "a.xpm", "b.xpm", "--json")
    assert result.exit_code == 0, result.stderr
    records = json_lines(result.stdout)
    assert [Path(r["output"]).name for r in records] == ["a_max2.xpm.png", "b_max2.xpm.png"]
    for r in records:
        assert r["status"] == "ok" and "XPM" in r["note"] and "PNG" in r["note"]
    notes = [line for line in result.stderr.splitlines() if "XPM" in line]
    assert len(notes) == 1, result.stderr  # said once for the run, not once per file
    with Image.open("a_max2.xpm.png") as out:
        assert out.format == "PNG"
        got = np.asarray(out.convert("RGB"))
    np.testing.assert_array_equal(got, poolcli.pool(rgb, "max"))


def test_unwritable_float_format_is_written_as_tiff() -> None:
    data = np.arange(30, dtype=np.float32).reshape(5, 6) / 7
    _fits(Path("sky.fits"), data)
    result = invoke("avg", "sky.fits", "--json")
    assert result.exit_code == 0, result.stderr
    (record,) = json_lines(result.stdout)
    assert Path(record["output"]).name == "sky_avg2.fits.tif"
    with Image.open("sky_avg2.fits.tif") as out:
        assert out.format == "TIFF" and out.mode == "F"
        got = np.asarray(out)
    with Image.open("sky.fits") as src:
        want = poolcli.pool(np.asarray(src), "avg")
    np.testing.assert_array_equal(got, want)


def test_explicit_unwritable_output_stays_an_error() -> None:
    _xpm(Path("a.xpm"))
    result = invoke("max", "a.xpm", "-o", "out.xpm")
    assert result.exit_code == 2
    assert "XPM" in result.stderr
    assert not Path("out.xpm").exists()


def test_unwritable_format_to_standard_output_is_png() -> None:
    rgb = _xpm(Path("a.xpm"))
    result = runner.invoke(app, ["max", "a.xpm", "-o", "-"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG")
    assert "PNG" in result.stderr and "XPM" in result.stderr
    with Image.open(io.BytesIO(result.stdout_bytes)) as out:
        np.testing.assert_array_equal(np.asarray(out.convert("RGB")), poolcli.pool(rgb, "max"))


# --- folder walks: every file Pillow identifies ---------------------------------------------------


def test_folder_walk_takes_images_by_their_header() -> None:
    folder = Path("album")
    folder.mkdir()
    pixels = np.arange(48, dtype=np.uint8).reshape(6, 8)
    Image.fromarray(pixels).save(folder / "scan", "PNG")  # no suffix at all
    Image.fromarray(pixels).save(folder / "b.data", "PNG")  # a suffix Pillow does not know
    # In another process: Pillow's SPIDER writer registers the suffix it writes (this process
    # would then know ".spider", which a real run does not).
    script = (
        "import sys, numpy as np; from PIL import Image; "
        "Image.fromarray(np.arange(48, dtype=np.float32).reshape(6, 8)).save(sys.argv[1], 'SPIDER')"
    )
    subprocess.run([sys.executable, "-c", script, str(folder / "c.spider")], check=True)
    Image.fromarray(np.dstack([pixels] * 3)).save(folder / "d.mpo", "MPO", quality=95)
    Image.fromarray(pixels).save(folder / "d.png")  # d.mpo's output must not collide with its
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "e.json").write_text('{"a": 1}\n')
    result = invoke("max", folder, "--out-dir", "out", "--json")
    assert result.exit_code == 0, result.stderr
    inputs = sorted(Path(r["input"]).name for r in json_lines(result.stdout))
    assert inputs == ["b.data", "c.spider", "d.mpo", "d.png", "scan"]
    written = sorted(p.name for p in Path("out").iterdir())
    assert written == [
        "b_max2.data.png",
        "c_max2.spider.tif",
        "d_max2.mpo",  # MPO: Pillow writes it
        "d_max2.png",
        "scan_max2.png",
    ]
    for name in written:
        with Image.open(Path("out") / name) as im:
            assert im.size == (4, 3)


# --- APNGs with frame sequence errors -------------------------------------------------------------


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(
        struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


def _broken_apng(path: Path) -> np.ndarray:
    """A 3-frame APNG whose last frame's sequence number jumps; its first frame's pixels."""
    rng = np.random.default_rng(3)
    frames = [Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)) for _ in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=50)
    chunks = _chunks(buf.getvalue())
    last = max(i for i, (t, _) in enumerate(chunks) if t == b"fcTL")
    t, d = chunks[last]
    chunks[last] = (t, struct.pack(">I", struct.unpack(">I", d[:4])[0] + 5) + d[4:])
    path.write_bytes(_png(chunks))
    with Image.open(path) as im:
        assert im.n_frames == 3
        im.load()
        with pytest.raises(SyntaxError):
            im.seek(2)
            im.load()
    return np.asarray(frames[0])


def test_apng_with_sequence_errors_pools_the_image_readers_show() -> None:
    first = _broken_apng(Path("anim.png"))
    result = invoke("max", "anim.png", "--json")
    assert result.exit_code == 0, result.stderr
    (record,) = json_lines(result.stdout)
    assert record["frames"] == 1 and "APNG" in record["note"]
    with Image.open("anim_max2.png") as out:
        assert getattr(out, "n_frames", 1) == 1
        np.testing.assert_array_equal(np.asarray(out), poolcli.pool(first, "max"))


# --- 1-pixel images -------------------------------------------------------------------------------


def test_one_pixel_image_error_names_ceil_and_ceil_pools_it() -> None:
    Image.new("RGB", (1, 1), (10, 20, 30)).save("dot.png")
    Image.new("L", (5, 1), 7).save("line.png")
    result = invoke("max", "dot.png", "line.png")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("poolcli: error:")]
    assert len(errors) == 2 and all("--ceil" in line for line in errors), result.stderr
    result = invoke("max", "dot.png", "line.png", "--ceil")
    assert result.exit_code == 0, result.stderr
    with Image.open("dot_max2.png") as out:
        assert out.size == (1, 1) and out.getpixel((0, 0)) == (10, 20, 30)
    with Image.open("line_max2.png") as out:
        assert out.size == (3, 1)


def test_ceil_hint_only_where_ceil_helps() -> None:
    Image.new("L", (1, 1)).save("dot.png")
    result = invoke("max", "dot.png", "-k", "3", "-s", "1")
    assert result.exit_code == 1
    assert "--ceil" not in result.stderr  # ceil_mode gives no window here either


# --- icons ----------------------------------------------------------------------------------------


def test_ico_keeps_the_pooled_size() -> None:
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (74, 74, 4), dtype=np.uint8)).save(
        "icon.ico", sizes=[(74, 74)]
    )
    with Image.open("icon.ico") as im:
        assert im.size == (74, 74)
        want = poolcli.pool_image(im, "max")
    result = invoke("max", "icon.ico")
    assert result.exit_code == 0, result.stderr
    with Image.open("icon_max2.ico") as out:
        assert out.size == (37, 37)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(want))


def test_icns_is_pooled_at_the_size_pillow_opens_and_not_resampled() -> None:
    rng = np.random.default_rng(6)
    Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)).save("icon.icns")
    with Image.open("icon.icns") as im:
        im.load()
        size = im.size
        want = poolcli.pool_image(im, "max")
    result = invoke("max", "icon.icns", "--json")
    assert result.exit_code == 0, result.stderr
    (record,) = json_lines(result.stdout)
    assert record["input_shape"][:2] == [size[1], size[0]]
    out_path = Path(record["output"])
    with Image.open(out_path) as out:
        assert out.size == (size[0] // 2, size[1] // 2)  # what was pooled, not an upscale
        np.testing.assert_array_equal(np.asarray(out), np.asarray(want))
    assert "ICNS" in record["note"]


# --- --force never replaces what is not a regular file --------------------------------------------


@pytest.fixture
def source() -> Path:
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save("in.png")
    return Path("in.png")


def test_force_writes_through_a_fifo(source: Path) -> None:
    os.mkfifo("pipe")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(Path("pipe").read_bytes()), daemon=True)
    reader.start()
    result = invoke("max", source, "-o", "pipe", "--format", "png", "--force")
    reader.join(timeout=10)
    if reader.is_alive():  # nothing was written: let the reader go
        os.close(os.open("pipe", os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat("pipe").st_mode)  # still a FIFO, not a file renamed over it
    with Image.open(source) as im:
        want = poolcli.pool(np.asarray(im), "max")
    with Image.open(io.BytesIO(got[0])) as out:
        np.testing.assert_array_equal(np.asarray(out), want)
    assert [p.name for p in Path().iterdir() if "poolcli-tmp" in p.name] == []


def test_force_writes_through_a_character_device(source: Path) -> None:
    try:
        os.mknod("null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # the null device
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    result = invoke("max", source, "-o", "null", "--format", "png", "--force")
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.lstat("null").st_mode)


def test_force_follows_a_symlink_to_a_file(source: Path) -> None:
    Path("real.png").write_bytes(b"old")
    os.symlink("real.png", "link.png")
    result = invoke("max", source, "-o", "link.png", "--force")
    assert result.exit_code == 0, result.stderr
    assert os.path.islink("link.png") and os.readlink("link.png") == "real.png"
    with Image.open("real.png") as out:
        assert out.size == (4, 4)


def test_force_refuses_a_dangling_symlink(source: Path) -> None:
    os.symlink("missing/nowhere.png", "link.png")
    result = invoke("max", source, "-o", "link.png", "--force")
    assert result.exit_code == 1
    assert "link.png" in result.stderr and "symbolic link" in result.stderr
    assert os.path.islink("link.png") and os.readlink("link.png") == "missing/nowhere.png"
