"""A PNG pooled while it decodes (poolcli.io.pngrows): the same pixels, the same errors.

The rows of a plain PNG are decoded by libspng on the read-ahead thread while the job pools the
rows above the one being decoded and writes them; whatever it gives must be exactly what
reading the whole file with Pillow, then pooling and writing, gives: the pixels of every mode
and window, the error of a bad file, Pillow's pixels where libspng fails and Pillow does not.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poolcli import pool
from poolcli.errors import ImageError
from poolcli.io import ahead, decoders, pngrows
from poolcli.io.picture import Picture
from poolcli.io.pooling import pool_picture
from poolcli.io.reading import read_picture
from poolcli.io.writing import encode_picture
from poolcli.run.job import run_job
from poolcli.run.plan import Job, Recipe

pytestmark = pytest.mark.skipif(not pngrows.available(), reason="libspng not found")


def noise(mode: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Noise (it compresses badly: several IDAT chunks for a few hundred pixels a side)."""
    rng = np.random.default_rng(seed)
    channels = len(Image.new(mode, (1, 1)).getbands())
    a = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    if mode == "RGBA":
        a[::3, ::2, 3] = 0  # transparent pixels, for the alpha rules
    return Image.fromarray(a[..., 0] if channels == 1 else a, mode)


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def streamed(data: bytes) -> pngrows.RowStream:
    """A stream of ``data`` decoding on a thread of its own, as the read-ahead runs it."""
    stream = decoders.start_rows(data)
    assert stream is not None
    threading.Thread(target=stream.run, daemon=True).start()
    return stream


def rows_pic(path: Path, **read_kwargs) -> Picture:
    """What the job gets for ``path`` from the read-ahead: a picture still decoding."""
    ahead.start(str(path), read_kwargs)
    pic = ahead.take(str(path), read_kwargs, name=path.name)
    assert pic is not None and pic._rows is not None, "should have been read row by row"
    return pic


def idat_chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each IDAT chunk."""
    found, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            found.append((pos, length))
        pos += 12 + length
    return found


def test_libspng_is_found_where_imagecodecs_is_installed() -> None:
    # if this fails, imagecodecs no longer exports libspng: big PNGs lose their overlap
    if importlib.util.find_spec("imagecodecs") is not None:
        assert pngrows.available()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (1, 7), (9, 1), (37, 23), (203, 301)])
def test_the_rows_are_pillows_pixels(mode, size) -> None:
    im = noise(mode, size)
    stream = streamed(png_bytes(im))
    assert stream.header == (size[0], size[1], len(im.getbands()), False)
    assert stream.header.mode == mode
    np.testing.assert_array_equal(stream.whole(), np.asarray(im))


def test_rows_come_in_bands_and_go_back() -> None:
    im = noise("RGB", (203, 301))
    a = np.asarray(im)
    stream = streamed(png_bytes(im))
    for y0 in range(0, 301, 40):
        y1 = min(y0 + 40, 301)
        np.testing.assert_array_equal(stream.rows(y0, y1), a[y0:y1])
        stream.release(y1)
    stream.finish()
    with pytest.raises(pngrows.StreamError):
        stream.rows(0, 1)  # given back
    with pytest.raises(pngrows.StreamError):
        stream.whole()  # taken already
    with pytest.raises(ValueError):
        stream.rows(300, 302)


def test_a_stopped_stream_gives_no_rows() -> None:
    stream = streamed(png_bytes(noise("L", (64, 64))))
    stream.stop()
    with pytest.raises(pngrows.StreamError):
        stream.rows(0, 64)
    with pytest.raises(pngrows.StreamError):
        stream.finish()


def test_only_plain_png_is_read_row_by_row() -> None:
    plain = png_bytes(noise("RGB", (20, 10)))
    assert decoders.start_rows(plain) is not None
    assert pngrows.plain_header(plain) == (20, 10, 3, False)
    interlaced = bytearray(plain)
    interlaced[28] = 1  # the IHDR's interlace byte (its CRC is not checked by plain_header)
    assert pngrows.plain_header(bytes(interlaced)).interlaced
    assert decoders.start_rows(bytes(interlaced)) is None
    assert decoders.start_rows(png_bytes(noise("RGB", (20, 10)).convert("P"))) is None
    assert decoders.start_rows(png_bytes(noise("L", (20, 10)).convert("I;16"))) is None
    assert decoders.start_rows(plain, max_pixels=199) is None
    assert decoders.start_rows(plain, max_pixels=200) is not None
    assert decoders.start_rows(b"\xff\xd8\xff not a png") is None


WINDOWS = [
    {"kernel_size": 2},
    {"kernel_size": 2, "stride": 2, "ceil_mode": False, "count_include_pad": True, "threads": 2},
    {"kernel_size": 3},  # 301 rows: the last one is in no window, yet must decode
    {"kernel_size": (4, 2), "stride": (4, 3)},
    {"output_size": (43, 29)},  # adaptive, equal windows: 301 = 43 x 7
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},  # not tiled: whole
    {"kernel_size": 2, "stride": 1, "dilation": 2},  # not tiled: whole
]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("name", ["max", "min", "avg", "sum", "median", "mode", "lp"])
@pytest.mark.parametrize("window", range(len(WINDOWS)))
def test_pooled_while_decoding_is_pooled_whole(tmp_path, mode, name, window) -> None:
    im = noise(mode, (203, 301), seed=window)
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes(im))
    kw = WINDOWS[window]
    slow = pool_picture(read_picture(path), name, **kw)
    fast = pool_picture(rows_pic(path), name, **kw)
    assert (fast.size, fast.mode, fast.shape, fast.dtype) == (
        slow.size,
        slow.mode,
        slow.shape,
        slow.dtype,
    )
    np.testing.assert_array_equal(np.asarray(fast.frames[0]), np.asarray(slow.frames[0]))
    # and written as it is pooled: the same file
    fast = pool_picture(rows_pic(path), name, **kw)
    assert encode_picture(fast, "PNG") == encode_picture(slow, "PNG")


def test_what_is_pooled_while_written_is_poolcli_pool_of_the_pixels(tmp_path) -> None:
    im = noise("RGB", (640, 480))
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes(im))
    out = pool_picture(rows_pic(path), "max", kernel_size=2)
    assert out._rows is not None  # pooled as the writer asks for rows
    data = encode_picture(out, "PNG")
    written = np.asarray(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(written, pool(np.asarray(im), "max", kernel_size=2))
    assert out.pooled_later > 0


def _late_bad_crc(im: Image.Image) -> bytes:
    """``im`` as PNG with a wrong CRC on its last IDAT chunk: libspng refuses it, after most
    rows are decoded; Pillow does not check it and reads the file."""
    data = bytearray(png_bytes(im))
    pos, length = idat_chunks(bytes(data))[-1]
    assert pos > 8 + 25 + 12  # more than one IDAT: the failure comes late
    data[pos + 8 + length] ^= 0xFF
    return bytes(data)


def _late_bad_data(im: Image.Image) -> bytes:
    """``im`` as PNG whose last IDAT chunk holds garbage (with a right CRC): no reader takes
    it."""
    data = bytearray(png_bytes(im))
    pos, length = idat_chunks(bytes(data))[-1]
    body = bytes(range(256)) * (length // 256) + bytes(length % 256)
    data[pos + 8 : pos + 8 + length] = body
    crc = zlib.crc32(body, zlib.crc32(b"IDAT"))
    data[pos + 8 + length : pos + 12 + length] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize("make", [_late_bad_crc, _late_bad_data])
def test_a_late_failure_gives_what_reading_the_file_whole_gives(tmp_path, make) -> None:
    im = noise("RGB", (203, 301))
    path = tmp_path / "in.png"
    path.write_bytes(make(im))
    try:
        expected: object = pool_picture(read_picture(path, name="in.png"), "max")
        expected = np.asarray(expected.frames[0])
    except ImageError as err:
        expected = str(err)

    def outcome(run):
        try:
            return np.asarray(run().frames[0])
        except ImageError as err:
            return str(err)

    pooled = outcome(lambda: pool_picture(rows_pic(path), "max"))  # failing while pooled
    written = outcome(
        lambda: Picture(  # failing while pooled and written
            [Image.open(io.BytesIO(encode_picture(pool_picture(rows_pic(path), "max"), "PNG")))]
        )
    )
    for got in (pooled, written):
        if isinstance(expected, str):
            assert got == expected
        else:
            np.testing.assert_array_equal(got, expected)


def test_a_job_on_a_bad_file_reports_it_and_writes_nothing(tmp_path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(_late_bad_data(noise("RGB", (203, 301))))
    target = tmp_path / "out.png"
    recipe = Recipe(mode="max", pool_kwargs={"kernel_size": 2})
    ahead.start(str(path), recipe.read_kwargs)
    record = run_job(Job(str(path), str(target), recipe))
    assert record.status == "error"
    assert record.error.startswith("cannot decode PNG image")
    assert list(tmp_path.iterdir()) == [path]


def test_a_job_times_the_pooling_it_does_while_writing(tmp_path) -> None:
    path = tmp_path / "in.png"
    noise("RGB", (640, 480)).save(path)
    target = tmp_path / "out.png"
    recipe = Recipe(mode="avg", pool_kwargs={"kernel_size": 2})
    ahead.start(str(path), recipe.read_kwargs)
    record = run_job(Job(str(path), str(target), recipe))
    assert record.status == "ok", record.error
    seconds = record.seconds
    assert seconds.load is not None and seconds.pool is not None and seconds.save is not None
    assert min(seconds.load, seconds.pool, seconds.save) >= 0
    written = np.asarray(Image.open(target))
    np.testing.assert_array_equal(written, pool(np.asarray(Image.open(path)), "avg", 2))


def test_a_picture_still_decoding_gives_its_pixels_whole(tmp_path) -> None:
    im = noise("RGBA", (50, 40))
    path = tmp_path / "in.png"
    im.save(path, dpi=(300, 300))
    pic = rows_pic(path)
    assert (pic.size, pic.mode, pic.shape, pic.dtype, pic.n_frames) == (
        (50, 40),
        "RGBA",
        (40, 50, 4),
        "uint8",
        1,
    )
    assert "rows" in repr(pic)
    np.testing.assert_array_equal(pic.array, np.asarray(im))
    assert pic._rows is None and pic.info["dpi"] == pytest.approx((300, 300), rel=1e-4)
    # the rows of a picture pooled once are not kept: asked for again, the file is read again
    pic = rows_pic(path)
    pool_picture(pic, "max")
    np.testing.assert_array_equal(pic.array, np.asarray(im))


def test_pillow_must_agree_before_the_rows_are_used(tmp_path) -> None:
    im = noise("RGB", (30, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: Pillow's picture differs from the rows
    path = tmp_path / "turned.png"
    im.save(path, exif=exif)
    ahead.start(str(path), {})
    assert ahead.take(str(path), {}) is None
    assert not ahead._streaming
    ahead.drop()


def test_drop_stops_what_nobody_took(tmp_path) -> None:
    path = tmp_path / "in.png"
    noise("L", (300, 300)).save(path)
    ahead.start(str(path), {})
    ahead.drop()
    assert not ahead._reads and not ahead._streaming
    pic = rows_pic(path)
    ahead.drop()  # taken, never pooled: stopped, its thread ended
    assert pic._rows.ended and not ahead._streaming


def test_a_picture_of_rows_needs_the_rows_mode_and_a_way_back() -> None:
    stream = decoders.start_rows(png_bytes(noise("RGB", (4, 4))))
    assert stream is not None
    with pytest.raises(ValueError):
        Picture(rows=stream, mode="L", reread=lambda: Picture([Image.new("L", (1, 1))]))
    with pytest.raises(ValueError):
        Picture(rows=stream, mode="RGB")
    with pytest.raises(TypeError):
        Picture([Image.new("L", (1, 1))], rows=stream, mode="RGB")
    stream.stop()
    stream.run()
    assert stream.ended


def test_without_libspng_the_file_is_read_whole(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pngrows, "_libspng", lambda: None)
    path = tmp_path / "in.png"
    noise("RGB", (30, 20)).save(path)
    assert not pngrows.available()
    with pytest.raises(pngrows.StreamError):
        pngrows.RowStream(path.read_bytes(), pngrows.plain_header(path.read_bytes()))
    ahead.start(str(path), {})
    pic = ahead.take(str(path), {})
    assert pic is not None and pic._rows is None  # imagecodecs decoded it whole
    np.testing.assert_array_equal(pic.array, np.asarray(Image.open(path)))


@pytest.mark.parametrize("name", ["max", "avg", "mode"])
def test_rows_taken_while_they_decode_are_whole_rows(tmp_path, name) -> None:
    # big enough that the pooling catches up with the decoder again and again: each band is
    # taken just after libspng has moved past it (the margin of pngrows.RowStream.decoded)
    from poolcli.io import pngwrite

    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (1536, 1024, 3), dtype=np.uint8)
    a[:, ::2] //= 4  # some structure, so that every filter type turns up
    path = tmp_path / "big.png"
    path.write_bytes(pngwrite.encode_png(a, compress_level=1))
    for _ in range(3):
        out = pool_picture(rows_pic(path), name, kernel_size=2)
        written = np.asarray(Image.open(io.BytesIO(encode_picture(out, "PNG"))))
        np.testing.assert_array_equal(written, pool(a, name, kernel_size=2))
