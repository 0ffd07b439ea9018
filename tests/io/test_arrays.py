"""Array files: .npy/.npz, TIFF stacks (tifffile) and text matrices, read as stored, their axes
told from --axes or the window, pooled equal to poolcli.pool of the decoded array, written back
with their layout and metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import poolcli
from poolcli.errors import ImageError, PoolError, UnsupportedError
from poolcli.io import arrays
from poolcli.io.arrayfile import AxesError, resolve_axes
from poolcli.io.arrays import read_array_file


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


# --- axes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "axes", "spatial", "letters"),
    [
        ((7,), None, None, "x"),
        ((4, 5), None, None, "yx"),
        ((4, 5, 6, 2), None, None, "zyxc"),
        ((4, 5, 3), None, 2, "yxc"),
        ((4, 5, 6), None, 3, "zyx"),
        ((4, 5, 6, 1), None, 3, "zyxc"),
        ((9, 2), "tc", None, "tc"),
        ((3, 4, 5), "CYX", None, "cyx"),
        ((4, 5, 6), "zyx", 3, "zyx"),
    ],
)
def test_axes_from_the_window_or_the_option(shape, axes, spatial, letters) -> None:
    assert resolve_axes(shape, "a.npy", axes=axes, spatial=spatial) == letters


@pytest.mark.parametrize(
    ("shape", "axes", "spatial", "says"),
    [
        ((4, 5, 6), None, None, "a.npy: shape 4x5x6 is DxHxW or HxWxC: give --axes zyx or"),
        ((4, 5, 6, 7, 8), None, None, "1 to 3 axes and one channel axis, not 5 axes"),
        ((4, 5), None, 3, "does not fit a 3-axis window (DxHxW or DxHxWxC)"),
        ((4, 5, 6, 2, 2), None, 3, "does not fit a 3-axis window"),
        ((4, 5), "zyx", None, "has 2 axes, --axes zyx names 3"),
        ((4, 5, 6), "zyx", 2, "--axes zyx pools 3 axes, the window has 2"),
    ],
)
def test_ambiguous_or_wrong_axes_are_one_line_naming_the_option(shape, axes, spatial, says):
    with pytest.raises(AxesError) as err:
        resolve_axes(shape, "a.npy", axes=axes, spatial=spatial)
    text = str(err.value)
    assert says in text and "\n" not in text and text.startswith("a.npy: ")


@pytest.mark.parametrize("bad", ["", "zyxq", "zz", "c", "tzyx", "cc"])
def test_bad_axes_option(bad: str) -> None:
    with pytest.raises(PoolError):
        arrays.parse_axes(bad)


def test_window_axes_count_by_the_tuples() -> None:
    assert arrays.window_axes({"kernel_size": 2, "stride": (2, 1, 1)}) == 3
    assert arrays.window_axes({"output_size": (3, 4)}) == 2
    assert arrays.window_axes({"kernel_size": 3, "padding": "same"}) is None
    with pytest.raises(PoolError, match="2 and 3 axes"):
        arrays.window_axes({"kernel_size": (2, 2), "stride": (1, 1, 1)})


# --- .npy and .npz ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "int64", "float32", "bool"])
def test_npy_image_with_channels_pools_like_pool(tmp_path: Path, rng, dtype: str) -> None:
    x = rng.integers(0, 200, (9, 7, 3)) % 2 if dtype == "bool" else rng.integers(0, 200, (9, 7, 3))
    x = x.astype(dtype)
    np.save(tmp_path / "a.npy", x)
    af = read_array_file(tmp_path / "a.npy", axes="yxc")
    assert (af.format, af.axes, af.names, af.shape, af.dtype) == (
        "NPY",
        "yxc",
        "HWC",
        x.shape,
        dtype,
    )
    out = arrays.pool_array_file(af, "max", kernel_size=3, stride=2, padding=1)
    expect = poolcli.pool(x, "max", kernel_size=3, stride=2, padding=1)
    np.testing.assert_array_equal(out.first, expect)
    arrays.write_array_file(out, tmp_path / "b.npy")
    back = np.load(tmp_path / "b.npy")
    assert back.dtype == expect.dtype
    np.testing.assert_array_equal(back, expect)


def test_channels_first_stays_channels_first(rng) -> None:
    x = rng.integers(0, 255, (2, 8, 6), dtype=np.uint8)  # C, H, W
    af = read_array_file(npy_bytes(x), axes="cyx")
    assert af.names == "CHW"
    out = arrays.pool_array_file(af, "avg", stride=2)
    expect = np.moveaxis(poolcli.pool(np.moveaxis(x, 0, -1), "avg", stride=2), -1, 0)
    assert out.first.shape == (2, 4, 3)
    np.testing.assert_array_equal(out.first, expect)


def test_npz_pools_every_array_and_keeps_names(tmp_path: Path, rng) -> None:
    a = rng.integers(0, 9, (6, 6), dtype=np.int32)
    b = rng.random((5, 8))
    np.savez(tmp_path / "two.npz", labels=a, image=b)
    af = read_array_file(tmp_path / "two.npz")
    out = arrays.pool_array_file(af, "mode", stride=2)
    arrays.write_array_file(out, tmp_path / "two_small.npz")
    with np.load(tmp_path / "two_small.npz") as got:
        assert sorted(got.files) == ["image", "labels"]
        np.testing.assert_array_equal(got["labels"], poolcli.pool(a, "mode", stride=2))
        np.testing.assert_array_equal(got["image"], poolcli.pool(b, "mode", stride=2))
    with pytest.raises(UnsupportedError, match="NPY holds one array, this file has 2"):
        arrays.encode_array_file(out, "NPY")


def test_bad_numpy_files_are_one_line(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    np.savez(tmp_path / "ragged.npz", a=np.zeros((2, 2)), b=np.zeros(3))
    for name, says in [
        ("obj.npy", "not a plain NumPy array file"),
        ("junk.npy", "obj"),
        ("missing.npy", "no such file"),
        ("ragged.npz", "different numbers of axes"),
    ]:
        with pytest.raises(ImageError) as err:
            read_array_file(tmp_path / name)
        assert str(err.value).startswith(f"{tmp_path / name}: ")
        assert "\n" not in str(err.value)
        if name != "junk.npy":
            assert says in str(err.value)


def test_unsupported_dtype_is_pool_s_error(rng) -> None:
    af = read_array_file(npy_bytes(np.zeros((4, 4), np.complex64)))
    with pytest.raises(UnsupportedError):
        arrays.pool_array_file(af, "max", stride=2)


# --- TIFF stacks --------------------------------------------------------------------------------


def test_multipage_tiff_from_pillow_is_a_volume_for_a_3d_window(tmp_path: Path, rng) -> None:
    pages = rng.integers(0, 255, (5, 9, 11), dtype=np.uint8)
    frames = [Image.fromarray(p) for p in pages]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    af = read_array_file(tmp_path / "stack.tif", spatial=3)
    assert (af.axes, af.names, af.info["tiff_axes"]) == ("zyx", "DHW", "IYX")
    np.testing.assert_array_equal(af.first, tifffile.imread(tmp_path / "stack.tif"))
    with pytest.raises(AxesError, match="has 3 axes to pool, the window 2"):
        read_array_file(tmp_path / "stack.tif", spatial=2)


def test_imagej_hyperstack_keeps_axes_and_scales_its_pixel_sizes(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 4000, (4, 2, 6, 8), dtype=np.uint16)  # Z C Y X
    meta = {"axes": "ZCYX", "spacing": 0.5, "unit": "um"}
    tifffile.imwrite(tmp_path / "h.tif", x, imagej=True, resolution=(4.0, 2.0), metadata=meta)
    af = read_array_file(tmp_path / "h.tif")
    assert (af.axes, af.names) == ("zcyx", "DCHW")
    assert af.info["physical"] == {"x": [0.25, "um"], "y": [0.5, "um"], "z": [0.5, "um"]}
    out = arrays.pool_array_file(af, "max", kernel_size=(1, 2, 2), stride=(1, 1, 2))
    assert out.info["physical"] == {"x": [0.5, "um"], "y": [0.5, "um"], "z": [0.5, "um"]}
    arrays.write_array_file(out, tmp_path / "small.tif")
    with tifffile.TiffFile(tmp_path / "small.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZCYX"
        assert tif.imagej_metadata["spacing"] == 0.5 and tif.imagej_metadata["unit"] == "um"
        assert tif.pages.first.get_resolution() == pytest.approx((2.0, 2.0))
        np.testing.assert_array_equal(tif.asarray(), out.first)


def test_ome_tiff_physical_sizes_times_the_stride(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 255, (4, 6, 8), dtype=np.uint8)
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(tmp_path / "v.ome.tif", x, ome=True, metadata=meta)
    af = read_array_file(tmp_path / "v.ome.tif", spatial=3)
    assert af.info["tiff"] == "ome"
    af.info["physical"] = {k: [v[0], None] for k, v in af.info["physical"].items()}
    out = arrays.pool_array_file(af, "max", kernel_size=(1, 2, 2))
    arrays.write_array_file(out, tmp_path / "small.ome.tif")
    with tifffile.TiffFile(tmp_path / "small.ome.tif") as tif:
        assert tif.is_ome
        xml = tif.ome_metadata
        assert 'PhysicalSizeX="1.0"' in xml and 'PhysicalSizeZ="2.0"' in xml
        np.testing.assert_array_equal(tif.asarray(), out.first)


# --- text ---------------------------------------------------------------------------------------


def test_the_issue_s_example() -> None:
    af = read_array_file(b"1 3 2 4\n5 6 7 8\n")
    out = arrays.pool_array_file(af, "max", stride=2)
    assert arrays.encode_array_file(out) == b"6 8\n"


@pytest.mark.parametrize(
    ("text", "fmt", "written"),
    [
        (b"1,2,3,4\n5,6,7,8\n", "CSV", b"6,8\n"),
        (b"1\t2\t3\t4\n5\t6\t7\t8\n", "TSV", b"6\t8\n"),
        (b"# a comment\n\n 1  2 3 4\n5 6   7 8\n", "TXT", b"6 8\n"),
        (b"1.5,2,3,4\n5,6,7,nan\n", "CSV", b"6.0,nan\n"),
        (b"\xef\xbb\xbf1,2,3,4\r\n5,6,7,8\r\n", "CSV", b"6,8\n"),
    ],
)
def test_text_formats_round_trip(text: bytes, fmt: str, written: bytes) -> None:
    af = read_array_file(text)
    assert af.format == fmt
    assert arrays.encode_array_file(arrays.pool_array_file(af, "max", stride=2)) == written


def test_text_integers_stay_integers_and_avg_rounds_half_up(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("1,2\n3,4\n")
    af = read_array_file(tmp_path / "m.csv")
    assert af.dtype == "int64"
    assert arrays.encode_array_file(arrays.pool_array_file(af, "avg", kernel_size=2)) == b"3\n"


def test_a_single_row_or_column_is_a_signal_and_keeps_its_orientation() -> None:
    row = read_array_file(b"1 5 2 0 7\n")
    column = read_array_file(b"1\n5\n2\n0\n7\n")
    assert row.axes == column.axes == "x" and row.shape == (5,)
    # 1-D pooling needs the nd core; the orientation survives a 1-D array written back
    row.arrays[""] = np.array([5, 7])
    column.arrays[""] = np.array([5, 7])
    assert arrays.encode_array_file(row) == b"5 7\n"
    assert arrays.encode_array_file(column) == b"5\n7\n"
    # with a 2-axis window it is a 1-row matrix
    assert read_array_file(b"1 5 2 0 7\n", spatial=2).shape == (1, 5)


def test_header_kept_when_the_columns_are_channels() -> None:
    text = b"left,right\n1,10\n3,30\n5,50\n7,70\n"
    af = read_array_file(text, axes="yx")
    assert af.info["header"] == ["left", "right"]
    pooled = arrays.pool_array_file(af, "max", kernel_size=(2, 1))
    assert arrays.encode_array_file(pooled) == b"left,right\n3,30\n7,70\n"
    pooled = arrays.pool_array_file(af, "max", kernel_size=2)
    assert arrays.encode_array_file(pooled) == b"30\n70\n"  # columns pooled: no header


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"1 2 3\n4 5\n", "line 2 has 2 values, line 1 has 3"),
        (b"1,2\n3,x\n", "line 2: 'x' is not a number"),
        (b"1,2\n3,\n", "line 2: '' is not a number"),
        (b"# only\n", "no numbers in it"),
        (b"1 2 99999999999999999999999\n", "an integer does not fit 64 bits"),
    ],
)
def test_bad_text_is_one_line(text: bytes, says: str) -> None:
    with pytest.raises(ImageError) as err:
        read_array_file(text, format="TEXT")  # text whatever it starts with
    assert str(err.value) == f"<stdin>: {says}"


def test_text_holds_at_most_two_axes(rng) -> None:
    af = read_array_file(npy_bytes(np.zeros((2, 2, 2, 2))))
    with pytest.raises(UnsupportedError, match="text holds 1 or 2 axes, not 4"):
        arrays.encode_array_file(af, "CSV")


def test_sniff_tells_text_from_images() -> None:
    buf = io.BytesIO()
    Image.new("L", (3, 3)).save(buf, "PNG")
    for data, fmt in [
        (buf.getvalue(), None),
        (b"P2\n3 3\n255\n", None),  # PGM text is an image
        (b"<svg", None),
        (b"  -1.5 2\n", "TEXT"),
        (b"nan 1\n", "TEXT"),
        (npy_bytes(np.zeros(2)), "NPY"),
    ]:
        assert arrays.sniff(data) == fmt
