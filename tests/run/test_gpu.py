"""Runs on a torch device (poolcli.run.gpu), tested on the CPU.

The device's JPEG codec is injectable: here Pillow decodes and encodes, on CPU tensors, so the
whole pipeline (candidates, batches sized by memory, pooling per shape, device encoding or the CPU
writers, the CPU path for everything else and for files the decoder refuses, records and errors)
runs without a GPU, and its files can be compared byte for byte with the CPU path's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

import poolcli  # noqa: E402
from poolcli.errors import UnsupportedError  # noqa: E402
from poolcli.run import gpu  # noqa: E402
from poolcli.run.job import run_job  # noqa: E402
from poolcli.run.plan import Job, Recipe  # noqa: E402


class PillowCodec:
    """A CPU stand-in for nvJPEG: Pillow's decoder and encoder, counting what it was given."""

    def __init__(self, *, encode: bool = True, fail: bool = False) -> None:
        self.batches: list[int] = []
        self.encoded: list[np.ndarray] = []
        self.fail = fail
        self.codec = gpu.Codec(self.decode, self.encode if encode else None)

    def decode(self, datas: list[Any], device: str) -> list[Any]:
        self.batches.append(len(datas))
        if self.fail:
            raise RuntimeError("nvJPEG would say something here")
        out = []
        for data in datas:
            with Image.open(io.BytesIO(bytes(data.numpy()))) as im:
                a = np.asarray(im)
            a = a[:, :, None] if a.ndim == 2 else a
            out.append(torch.from_numpy(a.copy()).permute(2, 0, 1).to(device))
        return out

    def encode(self, images: list[Any], quality: int) -> list[bytes]:
        out = []
        for t in images:
            a = t.permute(1, 2, 0).cpu().numpy()
            self.encoded.append(a)
            buf = io.BytesIO()
            Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).save(buf, "JPEG", quality=quality)
            out.append(buf.getvalue())
        return out


def photo(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0, **save: Any) -> Path:
    rng = np.random.default_rng(seed)
    h, w = size
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(a).convert(mode)
    im.save(path, **save)
    return path


def job(source: Path, target: Path, mode: str = "max", **kw: Any) -> Job:
    pool_kwargs = kw.pop("pool_kwargs", {"kernel_size": 2})
    recipe = Recipe(mode, pool_kwargs=pool_kwargs, window="k2", **kw)
    return Job(str(source), str(target), recipe, index=0)


def run_all(jobs: list[Job], **kw: Any) -> dict[str, Any]:
    outcomes = list(gpu.run_on_device(jobs, "cpu", **kw))
    assert sorted(j.source for j, _ in outcomes) == sorted(j.source for j in jobs)
    return {j.source: r for j, r in outcomes}


def cpu_reference(jobs: list[Job], tmp_path: Path) -> dict[str, Any]:
    """The same jobs through the CPU path into ``tmp_path/cpu``: records and written bytes."""
    out = {}
    (tmp_path / "cpu").mkdir(exist_ok=True)
    for j in jobs:
        target = tmp_path / "cpu" / Path(j.target).name
        record = run_job(Job(j.source, str(target), j.recipe))
        out[j.source] = (record, target.read_bytes() if target.exists() else None)
    return out


def test_device_choices() -> None:
    assert gpu.torch_device("cpu") is None
    assert gpu.torch_device("torch-cpu") == "cpu"
    assert gpu.torch_device("auto", 10) is None
    with pytest.raises(UnsupportedError, match="unknown device 'tpu'"):
        gpu.torch_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UnsupportedError, match="cuda: torch .* sees no CUDA GPU"):
            gpu.torch_device("cuda")
        assert gpu.torch_device("auto", 1 << 40) is None


def test_jpegs_pooled_on_the_device_write_what_the_cpu_path_writes(tmp_path: Path) -> None:
    sources = [
        photo(tmp_path / "a.jpg", (33, 47)),
        photo(tmp_path / "b.jpg", (33, 47), seed=1),
        photo(tmp_path / "c.jpg", (20, 31), mode="L"),
        photo(tmp_path / "d.jpg", (16, 16), dpi=(300, 300)),  # DPI to keep: the CPU writer
        photo(tmp_path / "e.png", (9, 13)),  # not a JPEG: the CPU path
    ]
    out = tmp_path / "out"
    out.mkdir()
    jobs = [job(s, out / f"{s.stem}.png") for s in sources]
    codec = PillowCodec()
    got = run_all(jobs, codec=codec.codec)
    assert codec.batches == [4]  # one batch of the four JPEGs
    want = cpu_reference(jobs, tmp_path)
    for j in jobs:
        record, data = want[j.source]
        mine = got[j.source]
        assert mine.status == record.status == "ok", mine.error
        assert Path(j.target).read_bytes() == data, j.source  # PNG output: byte for byte
        assert mine.input_shape == record.input_shape
        assert mine.output_shape == record.output_shape
        assert (mine.image_mode, mine.dtype, mine.frames) == (
            record.image_mode,
            record.dtype,
            record.frames,
        )
    with Image.open(out / "d.png") as im:
        assert im.info["dpi"] == pytest.approx((150, 150), rel=1e-3)  # PNG stores dots per metre


def test_jpeg_output_is_encoded_by_the_devices_encoder(tmp_path: Path) -> None:
    src = photo(tmp_path / "a.jpg", (30, 40))
    codec = PillowCodec()
    for mode in ("max", "avg", "median", "mode", "lp", "min"):
        target = tmp_path / f"a_{mode}.jpg"
        (record,) = run_all([job(src, target, mode)], codec=codec.codec).values()
        assert record.status == "ok" and target.read_bytes()[:2] == b"\xff\xd8"
        with Image.open(src) as im:
            expected = poolcli.pool(np.asarray(im), mode, kernel_size=2)
        np.testing.assert_array_equal(codec.encoded[-1], expected)


def test_batches_follow_the_memory_budget_and_shapes_pool_together(tmp_path: Path) -> None:
    sources = [photo(tmp_path / f"p{i}.jpg", (16, 16 + (i % 2)), seed=i) for i in range(7)]
    codec = PillowCodec()
    jobs = [job(s, tmp_path / f"{s.stem}_o.png") for s in sources]
    got = run_all(jobs, codec=codec.codec, batch_bytes=3 * 16 * 17 * 2)
    assert codec.batches == [2, 2, 2, 1]
    assert all(r.status == "ok" for r in got.values())
    for s in sources:
        with Image.open(s) as im, Image.open(tmp_path / f"{s.stem}_o.png") as out:
            np.testing.assert_array_equal(
                np.asarray(out), poolcli.pool(np.asarray(im), "max", kernel_size=2)
            )


def test_files_the_device_refuses_get_the_cpu_paths_verdict(tmp_path: Path) -> None:
    good = photo(tmp_path / "good.jpg", (12, 12))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
    rotated = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    photo(rotated, (10, 14), exif=exif.tobytes())
    missing = tmp_path / "missing.jpg"
    small = photo(tmp_path / "small.jpg", (1, 1))
    jobs = [job(p, tmp_path / f"{p.stem}_o.png") for p in (good, bad, rotated, missing, small)]
    codec = PillowCodec(fail=True)  # the device decoder fails every batch and every file
    got = run_all(jobs, codec=codec.codec)
    want = cpu_reference(jobs, tmp_path)
    for j in jobs:
        record, data = want[j.source]
        mine = got[j.source]
        assert (mine.status, mine.error) == (record.status, record.error), j.source
        if data is not None:
            assert Path(j.target).read_bytes() == data, j.source
    assert got[str(missing)].status == "error" and "no such file" in got[str(missing)].error
    assert got[str(small)].status == "error"  # the window does not fit: the core's message


def test_a_window_that_does_not_fit_is_each_files_error(tmp_path: Path) -> None:
    src = photo(tmp_path / "a.jpg", (3, 3))
    jobs = [job(src, tmp_path / "a.png", pool_kwargs={"kernel_size": 5})]
    got = run_all(jobs, codec=PillowCodec().codec)
    want = cpu_reference(jobs, tmp_path)
    record = got[str(src)]
    assert (record.status, record.error) == (want[str(src)][0].status, want[str(src)][0].error)
    assert not (tmp_path / "a.png").exists()


def test_existing_outputs_are_not_replaced_without_force(tmp_path: Path) -> None:
    src = photo(tmp_path / "a.jpg", (8, 8))
    target = tmp_path / "a.jpg.out.jpg"
    target.write_bytes(b"keep me")
    codec = PillowCodec()
    (record,) = run_all([job(src, target)], codec=codec.codec).values()
    assert record.status == "error" and "already exists" in record.error
    assert target.read_bytes() == b"keep me"
    (record,) = run_all([job(src, target, force=True)], codec=codec.codec).values()
    assert record.status == "ok" and target.read_bytes()[:2] == b"\xff\xd8"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".poolcli-tmp")]


def test_without_a_device_codec_everything_takes_the_cpu_decoders(tmp_path: Path) -> None:
    sources = [photo(tmp_path / "a.jpg", (9, 9)), photo(tmp_path / "b.png", (7, 5), mode="RGBA")]
    jobs = [job(s, tmp_path / f"{s.stem}_o.png", "avg") for s in sources]
    got = run_all(jobs)  # device "cpu": no codec
    want = cpu_reference(jobs, tmp_path)
    for j in jobs:
        assert got[j.source].status == "ok"
        assert Path(j.target).read_bytes() == want[j.source][1]


def test_stopping_early_leaves_no_partial_files(tmp_path: Path) -> None:
    sources = [photo(tmp_path / f"s{i}.jpg", (16, 16), seed=i) for i in range(12)]
    jobs = [job(s, tmp_path / f"{s.stem}_o.png") for s in sources]
    outcomes = gpu.run_on_device(jobs, "cpu", codec=PillowCodec().codec, threads=2)
    first_job, first = next(outcomes)
    outcomes.close()  # as the CLI does on --fail-fast or Ctrl-C
    assert first.status == "ok" and Path(first_job.target).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".poolcli-tmp")]
    for j in jobs:  # whatever was written is whole
        if Path(j.target).exists():
            with Image.open(j.target) as im:
                im.load()
