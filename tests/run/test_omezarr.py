"""OME-Zarr pyramids: written by poolcli (zarr + ome-zarr), read back with the plain zarr API and
validated against the OME-NGFF spec by ome-zarr-models (a different library from the writer):
every level equals poolcli.pool of the input by the level's factor, and the multiscales
metadata gives each level's scale and translation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import poolcli
from poolcli.errors import ImageError, UnsupportedError, WindowError
from poolcli.run import omezarr

zarr = pytest.importorskip("zarr")
pytestmark = pytest.mark.usefixtures("zarr_cleanup")
da = pytest.importorskip("dask.array")
models_v05 = pytest.importorskip("ome_zarr_models.v05.image")
models_v04 = pytest.importorskip("ome_zarr_models.v04.image")


def read_back(path: Path, version: str = "0.5") -> tuple[list[np.ndarray], dict]:
    """The levels and the validated multiscales metadata, as an independent reader sees them."""
    group = zarr.open_group(str(path), mode="r")
    model = (models_v05 if version == "0.5" else models_v04).Image.from_zarr(group)
    multiscale = (
        model.ome_attributes.multiscales[0]
        if version == "0.5"
        else (model.attributes.multiscales[0])
    )
    meta = multiscale.model_dump(mode="json", exclude_none=True)
    levels = [np.asarray(group[d["path"]][...]) for d in meta["datasets"]]
    return levels, meta


def expected(x: np.ndarray, mode: str, level: int, f: tuple[int, ...]) -> np.ndarray:
    if level == 0:
        return x
    window = tuple(k**level for k in f)
    return poolcli.pool(x, mode, kernel_size=window, stride=window)


@pytest.mark.parametrize("mode", ["max", "min", "avg", "median", "mode"])
def test_every_level_is_pool_of_the_input(tmp_path: Path, rng, mode: str) -> None:
    x = rng.integers(0, 7, (37, 29, 2), dtype=np.uint8) * 30  # odd sizes: ragged edges
    out = tmp_path / "img.ome.zarr"
    chain = mode in ("max", "min")
    made = omezarr.write_pyramid(x, out, mode, 3, axes="yxc", chunks=8, chain=chain)
    levels, meta = read_back(out)
    assert [lv.level for lv in made] == [0, 1, 2, 3]
    assert [lv.source for lv in made] == ([0, 0, 1, 2] if mode in ("max", "min") else [0] * 4)
    for level, got in enumerate(levels):
        want = np.moveaxis(expected(x, mode, level, (2, 2)), -1, 0)  # c, y, x
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=f"level {level}")
    assert [a["name"] for a in meta["axes"]] == ["c", "y", "x"]


def test_scale_and_translation_of_each_level(tmp_path: Path) -> None:
    x = np.zeros((16, 12), np.uint16)
    physical = {"y": (0.5, "um"), "x": (0.25, "µm")}
    omezarr.write_pyramid(x, tmp_path / "p.zarr", "avg", 2, (2, 3), axes="yx", physical=physical)
    _, meta = read_back(tmp_path / "p.zarr")
    assert [a.get("unit") for a in meta["axes"]] == ["micrometer", "micrometer"]
    transforms = [d["coordinateTransformations"] for d in meta["datasets"]]
    assert transforms[0] == [{"type": "scale", "scale": [0.5, 0.25]}]
    assert transforms[1] == [
        {"type": "scale", "scale": [1.0, 0.75]},
        {"type": "translation", "translation": [0.25, 0.25]},
    ]
    assert transforms[2] == [
        {"type": "scale", "scale": [2.0, 2.25]},
        {"type": "translation", "translation": [0.75, 1.0]},
    ]


def test_version_0_4_on_zarr_v2(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 255, (20, 24), dtype=np.uint8)
    omezarr.write_pyramid(x, tmp_path / "v4.zarr", "max", 2, axes="yx", version="0.4")
    levels, meta = read_back(tmp_path / "v4.zarr", "0.4")
    assert meta["version"] == "0.4"
    for level, got in enumerate(levels):
        np.testing.assert_array_equal(got, expected(x, "max", level, (2, 2)))
    assert (tmp_path / "v4.zarr" / ".zattrs").exists()


def test_chunked_dask_input_equals_the_in_memory_one(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 255, (70, 50, 3), dtype=np.uint8)
    lazy = da.from_array(x, chunks=(16, 24, 3))
    for mode in ("max", "avg"):
        chain = mode == "max"
        omezarr.write_pyramid(
            lazy, tmp_path / f"lazy_{mode}.zarr", mode, 3, axes="yxc", chain=chain
        )
        omezarr.write_pyramid(x, tmp_path / f"mem_{mode}.zarr", mode, 3, axes="yxc", chunks=16)
        a, _ = read_back(tmp_path / f"lazy_{mode}.zarr")
        b, _ = read_back(tmp_path / f"mem_{mode}.zarr")
        for got, want in zip(a, b, strict=True):
            np.testing.assert_array_equal(got, want)


def test_memory_mapped_npy(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 1000, (40, 36), dtype=np.int32)
    np.save(tmp_path / "big.npy", x)
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    omezarr.write_pyramid(mapped, tmp_path / "big.zarr", "avg", 2, axes="yx", chunks=8)
    levels, _ = read_back(tmp_path / "big.zarr")
    for level, got in enumerate(levels):
        np.testing.assert_array_equal(got, expected(x, "avg", level, (2, 2)))


def test_chunks_and_compression(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 3, (64, 64), dtype=np.uint8)
    omezarr.write_pyramid(
        x, tmp_path / "raw.zarr", "max", 1, axes="yx", chunks=16, compress_level=0
    )
    omezarr.write_pyramid(x, tmp_path / "z.zarr", "max", 1, axes="yx", chunks=16, compress_level=9)
    raw = zarr.open_group(str(tmp_path / "raw.zarr"), mode="r")
    packed = zarr.open_group(str(tmp_path / "z.zarr"), mode="r")
    assert raw["s0"].chunks == (16, 16) and raw["s1"].chunks == (16, 16)
    assert raw["s0"].compressors == ()
    assert packed["s0"].compressors[0].level == 9
    size = lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "z.zarr") < size(tmp_path / "raw.zarr")
    np.testing.assert_array_equal(packed["s0"][...], x)


def test_refusals(tmp_path: Path) -> None:
    x = np.zeros((8, 8), np.uint8)
    with pytest.raises(WindowError, match="4 levels of factor 2x2 do not fit a 8x8 array"):
        omezarr.write_pyramid(x, tmp_path / "a.zarr", "max", 4, axes="yx")
    with pytest.raises(UnsupportedError, match="2 or 3 space axes"):
        omezarr.write_pyramid(np.zeros(8), tmp_path / "a.zarr", "max", 1, axes="x")
    with pytest.raises(ImageError, match="no such folder"):
        omezarr.write_pyramid(x, tmp_path / "no" / "a.zarr", "max", 1, axes="yx")
    omezarr.write_pyramid(x, tmp_path / "a.zarr", "max", 1, axes="yx")
    with pytest.raises(ImageError, match="already exists"):
        omezarr.write_pyramid(x, tmp_path / "a.zarr", "max", 1, axes="yx")
    omezarr.write_pyramid(x + 1, tmp_path / "a.zarr", "max", 2, axes="yx", force=True)
    levels, _ = read_back(tmp_path / "a.zarr")
    assert len(levels) == 3 and levels[0].min() == 1
    (tmp_path / "file.zarr").write_text("not a store")
    with pytest.raises(ImageError, match="not a Zarr store"):
        omezarr.write_pyramid(x, tmp_path / "file.zarr", "max", 1, axes="yx", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr", "file.zarr"]  # no temp left


def test_a_failed_level_leaves_nothing(tmp_path: Path) -> None:
    x = np.zeros((8, 8), np.complex64)  # pool refuses the dtype
    with pytest.raises(UnsupportedError):
        omezarr.write_pyramid(x, tmp_path / "c.zarr", "max", 1, axes="yx")
    assert list(tmp_path.iterdir()) == []


# --- volumes (3 spatial axes) -------------------------------------------------------------------


def labelled_volume(rng) -> np.ndarray:
    """Labels 0..5 in blobs, mostly background 0: where mode and sparse differ."""
    x = np.zeros((18, 20, 22), np.uint16)
    for label in range(1, 6):
        z, y, w = rng.integers(0, 14, 3)
        x[z : z + rng.integers(1, 6), y : y + rng.integers(1, 6), w : w + rng.integers(1, 6)] = (
            label
        )
    return x


@pytest.mark.parametrize("mode", ["mode", "sparse"])
def test_labelled_volume_level_by_level(tmp_path: Path, rng, mode: str) -> None:
    x = labelled_volume(rng)
    out = tmp_path / f"labels_{mode}.ome.zarr"
    omezarr.write_pyramid(x, out, mode, 3, axes="zyx", chunks=(4, 8, 8))
    levels, meta = read_back(out)
    assert [a["name"] for a in meta["axes"]] == ["z", "y", "x"]
    for level, got in enumerate(levels):
        np.testing.assert_array_equal(got, expected(x, mode, level, (2, 2, 2)))


def test_dask_volume_in_chunks_equals_in_memory(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 255, (20, 18, 26), dtype=np.uint8)
    lazy = da.from_array(x, chunks=(7, 9, 10))
    for mode in ("max", "avg"):
        omezarr.write_pyramid(lazy, tmp_path / f"l{mode}.zarr", mode, 2, axes="zyx")
        omezarr.write_pyramid(x, tmp_path / f"m{mode}.zarr", mode, 2, axes="zyx", chunks=4)
        a, _ = read_back(tmp_path / f"l{mode}.zarr")
        b, _ = read_back(tmp_path / f"m{mode}.zarr")
        for level, (got, want) in enumerate(zip(a, b, strict=True)):
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(got, expected(x, mode, level, (2, 2, 2)))


def test_open_maps_npy_and_reads_tiff_pages_lazily(tmp_path: Path, rng) -> None:
    x = rng.integers(0, 4000, (5, 2, 6, 7), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "h.tif", x, imagej=True, metadata={"axes": "ZCYX", "spacing": 3.0})
    af = omezarr.open_lazily(str(tmp_path / "h.tif"))
    assert type(af.first).__module__.startswith("dask")
    assert af.first.chunksize == (1, 1, 6, 7)  # one task per page
    assert (af.axes, af.info["physical"]["z"]) == ("zcyx", [3.0, None])
    np.testing.assert_array_equal(af.first.compute(scheduler="synchronous"), x)
    np.save(tmp_path / "v.npy", x[:, 0])
    mapped = omezarr.open_lazily(str(tmp_path / "v.npy"), spatial=3)
    assert isinstance(mapped.first, np.memmap) and mapped.axes == "zyx"
    with pytest.raises(ImageError, match="no such file"):
        omezarr.open_lazily(str(tmp_path / "none.tif"))


def test_on_a_dask_cluster_equals_here(tmp_path: Path, rng) -> None:
    distributed = pytest.importorskip("distributed")
    x = rng.integers(0, 255, (12, 20, 18), dtype=np.uint8)
    pages = [p for p in x]
    tifffile.imwrite(tmp_path / "stack.tif", np.stack(pages))  # read a page per task
    here = tmp_path / "here.zarr"
    there = tmp_path / "there.zarr"
    omezarr.ome_zarr_pyramid(str(tmp_path / "stack.tif"), str(here), "avg", 2, (2, 2, 2))
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,  # a worker process imports poolcli itself, as on a real cluster
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=True,
    ) as cluster:
        omezarr.ome_zarr_pyramid(
            str(tmp_path / "stack.tif"),
            str(there),
            "avg",
            2,
            (2, 2, 2),
            scheduler=cluster.scheduler_address,
            chunks=4,
        )
    a, _ = read_back(here)
    b, _ = read_back(there)
    for level, (got, want) in enumerate(zip(b, a, strict=True)):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, expected(x, "avg", level, (2, 2, 2)))


def test_a_mapped_npy_travels_to_a_worker_as_its_name(tmp_path: Path, rng) -> None:
    import pickle

    x = rng.integers(0, 255, (64, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "v.npy", x)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    chunks = omezarr._Chunks(mapped, [2, 0, 1])
    assert len(pickle.dumps(chunks)) < 1000  # the file name, not 256 KiB of cells
    again = pickle.loads(pickle.dumps(chunks))
    np.testing.assert_array_equal(again[1:3, :, 5], np.transpose(x, (2, 0, 1))[1:3, :, 5])
    in_memory = omezarr._Chunks(x, [0, 1, 2])
    assert len(pickle.dumps(in_memory)) > x.nbytes  # an array in memory travels whole
