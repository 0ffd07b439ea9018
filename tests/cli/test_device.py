"""``--device`` on the pooling commands: the torch path end to end, on the CPU.

``--device torch-cpu`` pools with the torch backend after the CPU's decoders: its files must be
byte for byte those of ``--device cpu``. ``--device cuda`` without a GPU is a usage error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from poolcli.cli import app  # noqa: E402

runner = CliRunner()


def invoke(*args: object, env: dict[str, str] | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture
def album(tmp_path: Path) -> Path:
    folder = tmp_path / "album"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 31, 4), dtype=np.uint8)).save(folder / "b.png")
    Image.fromarray(rng.integers(0, 256, (17, 9), dtype=np.uint8)).save(folder / "c.jpg")
    grey16 = rng.integers(0, 65536, (13, 11), dtype=np.uint16)
    Image.fromarray(grey16).save(folder / "d.tif")
    pal = Image.fromarray(rng.integers(0, 8, (15, 15), dtype=np.uint8)).convert("P")
    pal.save(folder / "e.gif")
    Image.new("1", (9, 7), 1).save(folder / "f.png")
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    return folder


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "args",
    [
        ["max"],
        ["avg", "-k", "3", "-s", "2", "-p", "1"],
        ["median", "--size", "5x4"],
        ["mode", "-k", "2x3", "--ceil"],
        ["lp", "--p", "3"],
        ["sum"],
        ["min", "-p", "same", "-k", "3", "-s", "2"],
    ],
)
def test_torch_cpu_writes_the_bytes_cpu_writes(
    tmp_path: Path, album: Path, args: list[str]
) -> None:
    runs = {}
    for device in ("cpu", "torch-cpu"):
        out = tmp_path / device
        result = invoke(*args, album, "--out-dir", out, "--json", "--device", device)
        assert result.exit_code == 1  # bad.png
        records = [json.loads(line) for line in result.stdout.splitlines()]
        errors = sorted(Path(r["input"]).name for r in records if r["status"] == "error")
        assert "bad.png" in errors  # and whatever else fails fails on both devices (below)
        said = [
            (r["input"], r["status"], (r.get("error") or "").replace(str(out), "OUT"))
            for r in records
        ]
        runs[device] = (outputs(out), sorted(said))  # records come as inputs finish
    assert runs["cpu"] == runs["torch-cpu"]
    assert len(runs["cpu"][0]) >= 4


def test_the_device_comes_from_the_environment_too(tmp_path: Path, album: Path) -> None:
    a = invoke(
        "max", album / "a.png", "-o", tmp_path / "env.png", env={"POOLCLI_DEVICE": "torch-cpu"}
    )
    b = invoke("max", album / "a.png", "-o", tmp_path / "cpu.png", "--device", "cpu")
    assert a.exit_code == b.exit_code == 0
    assert (tmp_path / "env.png").read_bytes() == (tmp_path / "cpu.png").read_bytes()
    bad = invoke("max", album / "a.png", "-o", tmp_path / "x.png", env={"POOLCLI_DEVICE": "tpu"})
    assert bad.exit_code == 2 and "unknown device 'tpu'" in bad.stderr


def test_standard_input_and_output_on_the_torch_path(album: Path) -> None:
    data = (album / "a.png").read_bytes()
    cpu = runner.invoke(app, ["avg", "-", "-o", "-", "--device", "cpu"], input=data)
    dev = runner.invoke(app, ["avg", "-", "-o", "-", "--device", "torch-cpu"], input=data)
    assert cpu.exit_code == dev.exit_code == 0
    assert cpu.stdout_bytes == dev.stdout_bytes and cpu.stdout_bytes[:4] == b"\x89PNG"


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message for a machine without CUDA"
)
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path: Path, album: Path) -> None:
    result = invoke("max", album, "--out-dir", tmp_path / "o", "--device", "cuda")
    assert result.exit_code == 2
    assert "sees no CUDA GPU" in result.stderr and "--device" in result.stderr
    assert not (tmp_path / "o").exists()


def test_auto_without_a_gpu_pools_on_the_cpu(tmp_path: Path, album: Path) -> None:
    result = invoke("max", album, "--out-dir", tmp_path / "auto", "--device", "auto", "-q")
    cpu = invoke("max", album, "--out-dir", tmp_path / "cpu", "--device", "cpu", "-q")
    assert result.exit_code == cpu.exit_code == 1
    assert outputs(tmp_path / "auto") == outputs(tmp_path / "cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_pools_exactly_what_it_decoded(tmp_path: Path, album: Path) -> None:
    """On a GPU: PNG and other CPU-decoded inputs give the CPU's bytes; errors are the CPU's."""
    gpu = invoke("max", album, "--out-dir", tmp_path / "gpu", "--device", "cuda", "--json")
    cpu = invoke("max", album, "--out-dir", tmp_path / "cpu", "--device", "cpu", "--json")
    assert gpu.exit_code == cpu.exit_code == 1
    a, b = outputs(tmp_path / "gpu"), outputs(tmp_path / "cpu")
    assert a.keys() == b.keys()
    for name in a:
        if not name.startswith("c_"):  # c.jpg: nvJPEG's pixels, not libjpeg-turbo's
            assert a[name] == b[name], name


def test_skip_existing_and_json_as_on_the_cpu(tmp_path: Path, album: Path) -> None:
    out = tmp_path / "out"
    first = invoke("avg", album, "--out-dir", out, "--device", "torch-cpu", "-q")
    again = invoke("avg", album, "--out-dir", out, "--device", "torch-cpu", "--skip-existing")
    assert first.exit_code == 1 and again.exit_code == 1  # bad.png fails both times
    lines = invoke(
        "avg", album, "--out-dir", out, "--device", "torch-cpu", "--skip-existing", "--json"
    ).stdout.splitlines()
    statuses = {Path(json.loads(line)["input"]).name: json.loads(line)["status"] for line in lines}
    assert statuses == {n: "skipped" for n in statuses if n != "bad.png"} | {"bad.png": "error"}
