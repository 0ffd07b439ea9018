"""The fast decoders (imagecodecs) give exactly what Pillow gives, or step aside.

Every PNG and JPEG is read twice, with the fast decoders and with Pillow alone (``pillow_only``),
and the two pictures must agree: pixels, mode, format, metadata; or both reads fail with the same
message. Files the fast path must leave to Pillow (colour keys, 16 bits, palettes, animation,
chunks after the pixels, EXIF orientation, truncation) are made here, so the checks do not
depend on the corpus; the corpus, when present, adds some 400 real files.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poolcli.errors import ImageError
from poolcli.io import ahead, decoders, pngwrite, pooling, reading, writing
from poolcli.io.picture import Picture
from poolcli.io.reading import read_picture

pytestmark = pytest.mark.skipif(not decoders.available(), reason="imagecodecs not installed")

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pillow-test-images"


@pytest.fixture
def pillow_only(monkeypatch: pytest.MonkeyPatch):
    """A context manager: within it, Pillow decodes everything, as without imagecodecs."""

    @contextlib.contextmanager
    def block():
        with monkeypatch.context() as m:
            m.setattr(decoders, "_codecs", lambda: None)
            yield

    return block


def both_reads(source, pillow_only) -> tuple[object, object]:
    """read_picture of ``source`` with and without the fast decoders: pictures or messages.

    The read ahead (:func:`read_ahead`: a PNG is decoded before Pillow opens it) must agree
    too, where it gives a picture at all.
    """

    def read():
        try:
            return read_picture(source)
        except ImageError as err:
            return str(err)

    fast = read()
    with pillow_only():
        slow = read()
    early = read_ahead(source)
    if early is not None:
        assert_same_picture(early, slow)
    elif not isinstance(fast, str):
        assert fast.array is None  # what the read ahead leaves, read_picture leaves too
    return fast, slow


def read_ahead(source, **read_kwargs):
    """What poolcli reads ahead for ``source``: a path on :mod:`poolcli.io.ahead`'s thread, or the
    file's bytes through :func:`poolcli.io.decoders.read` as that thread does; a picture or None."""
    if isinstance(source, bytes):
        decoded = decoders.read(source, **read_kwargs)
        return None if decoded is None else reading.array_picture(decoded)
    ahead.start(str(source), read_kwargs)
    return ahead.take(str(source), read_kwargs)


def assert_same_picture(fast, slow) -> None:
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
        return
    assert slow.array is None  # Pillow alone never gives an array
    assert (fast.format, fast.mode, fast.size, fast.n_frames) == (
        slow.format,
        slow.mode,
        slow.size,
        slow.n_frames,
    )
    assert fast.info == slow.info
    assert fast.shape == slow.shape and fast.dtype == slow.dtype
    a = fast.array if fast.array is not None else np.asarray(fast.frames[0])
    np.testing.assert_array_equal(a, np.asarray(slow.frames[0]))


def png_bytes(image: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **params)
    return buf.getvalue()


def jpeg_bytes(image: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", **params)
    return buf.getvalue()


def photo(mode: str, size=(37, 23), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    shape = (size[1], size[0]) + ((bands,) if bands > 1 else ())
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_chunk_before_iend(png: bytes, kind: bytes, data: bytes) -> bytes:
    assert png.endswith(chunk(b"IEND", b""))
    return png[:-12] + chunk(kind, data) + png[-12:]


# --- what the fast path takes ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("interlace", [False, True])
def test_plain_png_is_decoded_fast_and_exactly(mode, interlace, pillow_only) -> None:
    im = photo(mode)
    if interlace:
        data = interlaced(im)
    else:
        data = png_bytes(im, dpi=(300, 150), icc_profile=b"not really a profile")
    fast, slow = both_reads(data, pillow_only)
    assert fast.array is not None  # the fast path took it
    assert_same_picture(fast, slow)


def interlaced(im: Image.Image) -> bytes:
    """An Adam7-interlaced PNG of ``im`` (Pillow writes none), every row filtered with none."""
    return _adam7(np.asarray(im))


def _adam7(a: np.ndarray) -> bytes:
    h, w = a.shape[:2]
    channels = 1 if a.ndim == 2 else a.shape[2]
    # (x0, y0, dx, dy) of the seven passes
    passes = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = a[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = sub.reshape(sub.shape[0], -1)
        raw += b"".join(b"\x00" + r.tobytes() for r in rows)
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_is_decoded_fast_and_exactly(mode, progressive, pillow_only) -> None:
    data = jpeg_bytes(photo(mode, (64, 48)), quality=85, progressive=progressive, dpi=(72, 72))
    fast, slow = both_reads(data, pillow_only)
    assert fast.array is not None
    assert_same_picture(fast, slow)


def test_a_jpeg_with_exif_but_no_turn_is_decoded_fast(pillow_only) -> None:
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: as stored
    data = jpeg_bytes(photo("RGB"), exif=exif.tobytes())
    fast, slow = both_reads(data, pillow_only)
    assert fast.array is not None and "exif" in fast.info
    assert_same_picture(fast, slow)


# --- what it leaves to Pillow ----------------------------------------------------------------


def _turned_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(photo("RGB"), exif=exif.tobytes())


def _turned_png() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    return png_bytes(photo("RGB"), exif=exif.tobytes())


def _late_exif_png() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 3
    return with_chunk_before_iend(png_bytes(photo("RGB")), b"eXIf", exif.tobytes()[6:])


LEFT_TO_PILLOW = {
    "colour key": lambda: png_bytes(photo("RGB"), transparency=(1, 2, 3)),
    "grey colour key": lambda: png_bytes(photo("L"), transparency=7),
    "16-bit grey": lambda: png_bytes(
        Image.fromarray(np.arange(60, dtype=np.uint16).reshape(6, 10))
    ),
    "LA": lambda: png_bytes(photo("LA")),
    "palette": lambda: png_bytes(photo("RGB").convert("P")),
    "1-bit": lambda: png_bytes(photo("L").convert("1")),
    "animated": lambda: _apng(),
    "text after the pixels": lambda: with_chunk_before_iend(
        png_bytes(photo("RGB")), b"tEXt", b"Comment\0late"
    ),
    "exif after the pixels": _late_exif_png,
    "turned PNG": _turned_png,
    "turned JPEG": _turned_jpeg,
    "CMYK JPEG": lambda: jpeg_bytes(photo("CMYK")),
    "truncated JPEG": lambda: jpeg_bytes(photo("RGB", (64, 64)))[:-300],
    "truncated PNG": lambda: png_bytes(photo("RGB", (64, 64)))[:-100],
    "JPEG with a tail": lambda: jpeg_bytes(photo("RGB")) + b"trailing bytes",
    "PNG with a bad IDAT": lambda: _bad_idat(),
    "XMP orientation": lambda: png_bytes(
        photo("RGB"), pnginfo=_text("XML:com.adobe.xmp", '<x tiff:Orientation="6"/>')
    ),
}


def _text(key: str, value: str):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt(key, value)
    return info


def _apng() -> bytes:
    buf = io.BytesIO()
    frames = [photo("RGB", seed=i) for i in range(2)]
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=[40, 60])
    return buf.getvalue()


def _bad_idat() -> bytes:
    data = bytearray(png_bytes(photo("RGB", (64, 64))))
    at = data.index(b"IDAT") + 40
    data[at : at + 20] = bytes(20)
    return bytes(data)


@pytest.mark.parametrize("case", sorted(LEFT_TO_PILLOW))
def test_what_the_fast_path_leaves_to_pillow_reads_as_with_pillow(case, pillow_only) -> None:
    data = LEFT_TO_PILLOW[case]()
    fast, slow = both_reads(data, pillow_only)
    if not isinstance(fast, str):
        assert fast.array is None, "the fast path should have stepped aside"
    assert_same_picture(fast, slow)


def test_too_many_pixels_fails_as_with_pillow(pillow_only, tmp_path) -> None:
    path = tmp_path / "big.png"
    photo("RGB", (64, 64)).save(path)
    with pytest.raises(ImageError) as fast:
        read_picture(path, max_pixels=4000)
    with pillow_only(), pytest.raises(ImageError) as slow:
        read_picture(path, max_pixels=4000)
    assert str(fast.value) == str(slow.value)
    assert read_ahead(path, max_pixels=4000) is None
    assert read_ahead(path, max_pixels=4096) is not None


def test_the_read_ahead_steps_aside_for_what_it_does_not_take(tmp_path) -> None:
    path = tmp_path / "p.png"
    photo("RGB").convert("P").save(path)
    assert read_ahead(path) is None
    assert read_ahead(tmp_path / "missing.png") is None
    assert read_ahead(b"not an image") is None
    assert read_ahead(tmp_path) is None  # a folder
    assert read_ahead(png_bytes(photo("RGB"))).array is not None


def test_without_imagecodecs_nothing_is_fast(pillow_only) -> None:
    with pillow_only():
        assert not decoders.available()
        assert read_picture(png_bytes(photo("RGB"))).array is None
        assert read_ahead(png_bytes(photo("RGB"))) is None


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus of test images not found")
def test_every_png_and_jpeg_of_the_corpus_reads_as_with_pillow(pillow_only) -> None:
    taken = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg") or not path.is_file():
            continue
        fast, slow = both_reads(path, pillow_only)
        assert_same_picture(fast, slow)
        taken += not isinstance(fast, str) and fast.array is not None
    assert taken > 300  # most of the corpus's PNGs and JPEGs are plain


# --- pictures held as arrays: pooled and written as their Pillow twins ------------------------


def twins(mode: str, size=(29, 17), seed=3) -> tuple[Picture, Picture]:
    im = photo(mode, size, seed)
    if mode == "RGBA":  # some transparent pixels, to exercise the alpha rules
        a = np.array(im)
        a[::3, ::2, 3] = 0
        im = Image.fromarray(a, "RGBA")
    info = {"dpi": (300.0, 300.0), "icc_profile": b"icc"}
    pixels = np.asarray(im).copy()
    return Picture(array=pixels, mode=mode, format="PNG", info=dict(info)), Picture(
        [im], "PNG", dict(info)
    )


WINDOWS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (2, 3), "dilation": 2},
    {"output_size": (5, 4)},
]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("name", ["max", "min", "avg", "sum", "median", "mode", "lp"])
@pytest.mark.parametrize("window", range(len(WINDOWS)))
def test_an_array_picture_pools_as_its_pillow_twin(mode, name, window) -> None:
    array_pic, pillow_pic = twins(mode)
    kw = WINDOWS[window]
    a = pooling.pool_picture(array_pic, name, **kw)
    b = pooling.pool_picture(pillow_pic, name, **kw)
    assert (a.mode, a.size, a.info, a.shape, a.dtype) == (b.mode, b.size, b.info, b.shape, b.dtype)
    got = a.array if a.array is not None else np.asarray(a.frames[0])
    np.testing.assert_array_equal(got, np.asarray(b.frames[0]))
    # sum's wider values need a Pillow image (I for L; RGBA's colour rule saturates itself)
    assert (a.array is None) == (name == "sum" and mode != "RGBA")


@pytest.mark.parametrize(
    "mode, fmt",
    [
        (mode, fmt)
        for mode in ("L", "RGB", "RGBA")
        for fmt in ("PNG", "JPEG", "TIFF", "WEBP", "BMP")
        if not (mode == "RGBA" and fmt in ("JPEG", "BMP"))  # formats without alpha
    ],
)
def test_an_array_picture_is_written_as_its_pillow_twin(mode, fmt) -> None:
    array_pic, pillow_pic = twins(mode)
    a = writing.encode_picture(array_pic, fmt)
    assert array_pic.array is not None or fmt != "PNG"  # PNG never needed a Pillow image
    assert a == writing.encode_picture(pillow_pic, fmt)


def test_an_array_picture_becomes_a_pillow_picture_when_frames_are_asked_for() -> None:
    pic, _ = twins("RGB")
    pixels = pic.array.copy()
    frame = pic.frames[0]
    assert pic.array is None and frame.mode == "RGB"
    assert frame.info == {"dpi": (300.0, 300.0), "icc_profile": b"icc"}
    np.testing.assert_array_equal(np.asarray(frame), pixels)
    assert "array" in repr(twins("L")[0]) and "frame" in repr(pic)


def test_a_picture_takes_frames_or_a_uint8_array() -> None:
    with pytest.raises(TypeError):
        Picture()
    with pytest.raises(TypeError):
        Picture([Image.new("L", (1, 1))], array=np.zeros((1, 1), np.uint8), mode="L")
    with pytest.raises(ValueError):
        Picture(array=np.zeros((1, 1), np.uint16), mode="L")
    with pytest.raises(ValueError):
        Picture(array=np.zeros((1, 1, 2), np.uint8), mode="LA")


# --- pngwrite from arrays ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, dtype, channels",
    [
        ("L", np.uint8, 0),
        ("LA", np.uint8, 2),
        ("RGB", np.uint8, 3),
        ("RGBA", np.uint8, 4),
        ("I;16", np.uint16, 0),
    ],
)
def test_pngwrite_writes_arrays_as_the_same_bytes_as_images(mode, dtype, channels) -> None:
    rng = np.random.default_rng(5)
    shape = (19, 33) + ((channels,) if channels else ())
    a = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    image = Image.fromarray(a, mode) if dtype == np.uint8 and channels else Image.fromarray(a)
    if mode == "I;16":
        image = Image.frombytes("I;16", (33, 19), a.astype("<u2").tobytes())
    for level in (1, 6):
        data = pngwrite.encode_png(a, compress_level=level, dpi=(72.0, 72.0), threads=2)
        assert data == pngwrite.encode_png(image, compress_level=level, dpi=(72.0, 72.0), threads=2)
        back = Image.open(io.BytesIO(data))
        assert back.mode == mode
        np.testing.assert_array_equal(np.asarray(back), np.asarray(image))


def test_pngwrite_refuses_arrays_it_cannot_write() -> None:
    for a in (
        np.zeros((2, 2), np.float32),
        np.zeros((2, 2, 5), np.uint8),
        np.zeros((2, 2, 3), np.uint16),
        np.zeros((0, 2), np.uint8),
        np.zeros((2, 2, 2, 2), np.uint8),
    ):
        assert not pngwrite.can_encode(a)
        with pytest.raises(ValueError, match="cannot write"):
            pngwrite.encode_png(a)
