"""Runs on a torch device: JPEGs decoded, pooled and encoded on the GPU in batches; the rest
pooled there.

:func:`run_on_device` is :func:`poolcli.run.workers.run` for ``--device cuda`` (and
``torch-cpu``): the same jobs in, the same ``(job, record)`` outcomes out, the same files written
(atomically, never over an existing file without ``force``), the same error lines. What differs
is where the work happens:

* **JPEG candidates** (what Pillow's header says is a plain grey or RGB JPEG, one frame, no EXIF
  orientation to apply, within the pixel limit, ending with its end-of-image marker: the same
  test as the fast CPU decoder's, :func:`poolcli.io.decoders.plain_jpeg`) are read by threads, in
  batches sized to the device's free memory, decoded by the device's decoder in one call (nvJPEG
  through ``torchvision.io.decode_jpeg(list, device="cuda")``), pooled on the device (images of
  one shape as one batch tensor) and either encoded on the device (JPEG output with nothing to
  carry over but the pixels: ``torchvision.io.encode_jpeg``) or copied back and written by the
  CPU writers (PNG and everything else, and JPEGs with an ICC profile, EXIF or DPI to keep).
  Reading the next batch and writing the last one overlap with the device's work.
* **Everything else** (other formats, animations, 16-bit, palettes, transparency, URLs, files
  the device decoder refuses) goes through :func:`poolcli.run.job.run_job` on a thread: decoded
  on the CPU as always and pooled on the device (:func:`poolcli.pool` with ``device=``). A file
  the device decoder cannot read is read by the CPU path, which then says what is wrong with it
  in the CPU path's own words.

Pooling is exact on every device (:mod:`poolcli.backends.torch`). nvJPEG's decoded pixels are not
libjpeg-turbo's (both are valid JPEG decoders; they differ by a few levels), so a JPEG pooled on
the GPU gives other pixels than on the CPU; ``--device cpu`` gives the CPU's. The decoder and
encoder are injectable (:class:`Codec`): the tests run the whole pipeline on the CPU with
Pillow's.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from poolcli.errors import PoolError, UnsupportedError
from poolcli.run.job import error_text, run_job
from poolcli.run.plan import Job
from poolcli.run.records import PoolRecord, cause, os_reason

Outcome = tuple[Job, PoolRecord]

DEVICES = ("cpu", "cuda", "auto", "torch-cpu")
# --device auto: the GPU only for runs with at least this many bytes of input files. A CUDA
# context and torch's import cost about a second; below this a CPU run is done before.
# (To be measured on a GPU machine: benchmarks/bench_gpu.py; see README, "GPU".)
AUTO_MIN_BYTES = 256 << 20
# Share of the device's free memory one batch of decoded pixels may take: pooling, sorting
# (median, mode) and the outputs need the rest.
MEMORY_SHARE = 0.125
# Batch size when the device cannot say how much memory it has free (the CPU).
HOST_BATCH_BYTES = 256 << 20
# Outcomes not yet handed to the caller (mostly pooled images waiting for a writer) past which
# the run waits for the writers before decoding more.
MAX_PENDING = 256


def torch_device(choice: str, input_bytes: int | None = None) -> str | None:
    """The torch device a run pools on for ``--device choice``; ``None``: the NumPy core.

    ``cpu`` is the NumPy core (torch is not imported); ``torch-cpu`` the torch backend on the
    CPU (for checking it: the same bytes as ``cpu``); ``cuda`` the GPU; ``auto`` the GPU where
    CUDA is present and the run has at least :data:`AUTO_MIN_BYTES` of input, else the core.

    Raises
    ------
    UnsupportedError
        An unknown choice; ``cuda`` or ``torch-cpu`` without torch; ``cuda`` without a GPU.

    >>> torch_device("cpu") is None
    True
    """
    if choice == "cpu":
        return None
    if choice == "auto":
        if input_bytes is None or input_bytes < AUTO_MIN_BYTES or not _torch_installed():
            return None
        import torch

        return "cuda" if torch.cuda.is_available() else None
    if choice not in DEVICES:
        raise UnsupportedError(f"unknown device {choice!r} (known: {', '.join(DEVICES)})")
    if not _torch_installed():
        raise UnsupportedError(
            f"{choice} needs PyTorch: pip install 'poolcli[gpu]'"
            + (" (with a CUDA build of torch)" if choice == "cuda" else "")
        )
    if choice == "torch-cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise UnsupportedError(
            f"cuda: torch {torch.__version__} sees no CUDA GPU (a CPU-only build of torch, or no"
            " driver); cpu pools on the CPU"
        )
    return "cuda"


def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# --- the device's codec ------------------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """How a device decodes and encodes JPEGs.

    ``decode(datas, device)`` takes the files' bytes (uint8 tensors on the CPU) and gives one
    ``(C, H, W)`` uint8 tensor per file, on ``device``, C = 1 or 3 as Pillow's mode says (it may
    raise for the whole batch: the files are then decoded one by one, and a file that still
    fails goes to the CPU path). ``encode(images, quality)`` gives each ``(C, H, W)`` tensor's
    JPEG bytes, or is ``None`` (JPEG output then written by the CPU's writer).
    """

    decode: Callable[[list[Any], str], list[Any]]
    encode: Callable[[list[Any], int], list[bytes]] | None = None


def nvjpeg() -> Codec | None:
    """torchvision's nvJPEG decoder and encoder, or ``None`` without a working torchvision."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg
    except Exception:  # noqa: BLE001 - a torchvision that does not match torch fails anyhow
        return None

    def decode(datas: list[Any], device: str) -> list[Any]:
        return decode_jpeg(datas, mode=ImageReadMode.UNCHANGED, device=device)

    def encode(images: list[Any], quality: int) -> list[bytes]:
        return [bytes(t.cpu().numpy()) for t in encode_jpeg(images, quality=quality)]

    return Codec(decode, encode)


# --- the run -----------------------------------------------------------------------------------


@dataclass
class _Item:
    """A JPEG candidate read from disk: its job, bytes, Pillow's mode and info, its size."""

    job: Job
    data: bytes
    mode: str
    info: dict[str, Any]
    size: tuple[int, int]  # (width, height)
    record: PoolRecord = field(init=False)
    pixels: Any = None  # (C, H, W) on the device, once decoded
    started: float = 0.0

    @property
    def nbytes(self) -> int:
        return self.size[0] * self.size[1] * (1 if self.mode == "L" else 3)


def run_on_device(
    jobs: Sequence[Job],
    device: str,
    *,
    threads: int | None = None,
    codec: Codec | None = None,
    batch_bytes: int | None = None,
) -> Iterator[Outcome]:
    """Run ``jobs`` pooling on the torch ``device``, yielding ``(job, record)`` as each finishes.

    Parameters
    ----------
    jobs : sequence of Job
    device : str
        A torch device (``"cuda"``, ``"cuda:1"``, ``"cpu"``).
    threads : int, optional
        Threads that read, decode (CPU path) and write (default: the CPU count, at most 8).
    codec : Codec, optional
        The device's JPEG decoder and encoder; default nvJPEG on CUDA (when torchvision is
        installed), none on the CPU (every job then takes the CPU decoders).
    batch_bytes : int, optional
        Decoded bytes per batch; default a share of the device's free memory.
    """
    if codec is None and device.startswith("cuda"):
        codec = nvjpeg()
    threads = threads or min(8, os.cpu_count() or 1)
    limit = batch_bytes or _batch_bytes(device)
    workers = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="poolcli-device")
    try:
        pending: deque[Future[Outcome]] = deque()
        for items, others in _read_ahead(jobs, workers, codec, limit):
            for job in others:
                pending.append(workers.submit(_on_cpu, job, device))
            for item in _decoded(items, codec, device):
                if item.pixels is None:  # the device decoder refused it: the CPU path decides
                    pending.append(workers.submit(_on_cpu, item.job, device))
            done = [item for item in items if item.pixels is not None]
            pending.extend(_pooled(done, device, codec, workers))
            # Outcomes as they finish; and while the writers lag far behind, wait for them
            # (pooled outputs waiting to be written are memory).
            while pending and (pending[0].done() or len(pending) > MAX_PENDING):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # also when the caller stops early: jobs not started are dropped
        workers.shutdown(wait=True, cancel_futures=True)


def _batch_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return max(1 << 20, int(free * MEMORY_SHARE))
    return HOST_BATCH_BYTES


def _on_cpu(job: Job, device: str) -> Outcome:
    """A job decoded and written by the CPU path, pooled on ``device``."""
    recipe = replace(job.recipe, device=device)
    return job, run_job(replace(job, recipe=recipe), threads=1)


def _read_ahead(
    jobs: Sequence[Job], workers: ThreadPoolExecutor, codec: Codec | None, limit: int
) -> Iterator[tuple[list[_Item], list[Job]]]:
    """Batches of JPEG candidates (at most ``limit`` decoded bytes) and the jobs that are not,
    the next batch's files being read while the caller works on this one."""
    if codec is None:
        yield [], list(jobs)
        return
    queue = deque(workers.submit(_candidate, job) for job in jobs[: 2 * 64])
    next_job = len(queue)
    items: list[_Item] = []
    others: list[Job] = []
    size = 0
    while queue:
        job_or_item = queue.popleft().result()
        if next_job < len(jobs):  # keep the readers busy, a bounded number of files ahead
            queue.append(workers.submit(_candidate, jobs[next_job]))
            next_job += 1
        if isinstance(job_or_item, _Item):
            if items and size + job_or_item.nbytes > limit:
                yield items, others
                items, others, size = [], [], 0
            items.append(job_or_item)
            size += job_or_item.nbytes
        else:
            others.append(job_or_item)
    if items or others:
        yield items, others


def _candidate(job: Job) -> _Item | Job:
    """``job``'s file read, as an :class:`_Item` if the device may decode it, else the job."""
    from poolcli.io import decoders
    from poolcli.run.inputs import is_url

    recipe = job.recipe
    if is_url(job.source) or recipe.mode == "sum":  # sum's wider values: the CPU's writers
        return job
    start = time.perf_counter()
    try:
        data = Path(job.source).read_bytes()
    except OSError:
        return job  # the CPU path reads it again and says why it cannot
    if data[-2:] != b"\xff\xd9":
        return job
    from PIL import Image

    max_pixels = recipe.read_kwargs.get("max_pixels", decoders.DEFAULT)
    try:
        with decoders.pixel_guard(max_pixels) as limit, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data), formats=("JPEG",))
            with im:
                within = limit is None or im.width * im.height <= limit
                if not (within and decoders.plain_jpeg(im)):
                    return job
                item = _Item(job, data, im.mode, dict(im.info), im.size)
    except Exception:  # noqa: BLE001 - whatever Pillow says of a bad file, the CPU path says it
        return job
    item.started = start
    return item


def _decoded(items: list[_Item], codec: Codec | None, device: str) -> list[_Item]:
    """``items`` with their ``pixels`` decoded on the device (``None`` where it failed)."""
    if not items or codec is None:
        return items
    import torch

    tensors = [torch.frombuffer(bytearray(item.data), dtype=torch.uint8) for item in items]
    try:
        decoded = codec.decode(tensors, device)
    except Exception:  # noqa: BLE001 - one bad file fails nvJPEG's whole batch: one at a time
        decoded = []
        for t in tensors:
            try:
                decoded.append(codec.decode([t], device)[0])
            except Exception:  # noqa: BLE001 - the CPU path reads it and names the cause
                decoded.append(None)
    for item, pixels in zip(items, decoded, strict=True):
        channels = 1 if item.mode == "L" else 3
        fits = pixels is not None and tuple(pixels.shape) == (channels, item.size[1], item.size[0])
        item.pixels = pixels if fits else None
    return items


def _pooled(
    items: list[_Item], device: str, codec: Codec | None, workers: ThreadPoolExecutor
) -> list[Future[Outcome]]:
    """Pool ``items`` on the device (one batch per shape) and hand each to a writer thread."""
    if not items:
        return []
    import torch

    from poolcli.backends.torch import pool_torch

    recipe = items[0].job.recipe
    groups: dict[tuple[int, ...], list[_Item]] = {}
    for item in items:
        groups.setdefault(tuple(item.pixels.shape), []).append(item)
    futures = []
    for group in groups.values():
        start = time.perf_counter()
        record_for = {id(item): _record(item) for item in group}
        stack = torch.stack([item.pixels for item in group]).permute(0, 2, 3, 1)  # (N, H, W, C)
        try:
            pooled = pool_torch(stack, recipe.mode, **recipe.pool_kwargs, batch=True)
        except PoolError as err:  # the window does not fit these images: each one's error
            for item in group:
                record = record_for[id(item)]
                record.status, record.error = "error", error_text(err, record, recipe)
                futures.append(_done((item.job, record)))
            continue
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / len(group)
        on_device = _encodes_on_device(recipe, codec, group)
        outputs = pooled.permute(0, 3, 1, 2) if on_device else pooled.cpu().numpy()
        for item, out in zip(group, outputs, strict=True):
            record = record_for[id(item)]
            record.seconds.pool = seconds
            record.output_shape = tuple(int(n) for n in pooled.shape[1:])  # (h, w, C)
            item.pixels = None  # the decoded input is no longer needed
            futures.append(workers.submit(_write, item, record, out, codec if on_device else None))
    return futures


def _record(item: _Item) -> PoolRecord:
    job, recipe = item.job, item.job.recipe
    record = PoolRecord(job.name or job.source, output=job.output_name or job.target)
    record.mode, record.window = recipe.mode, recipe.window
    w, h = item.size
    record.input_shape = (h, w, 1 if item.mode == "L" else 3)
    record.image_mode, record.dtype, record.frames = item.mode, "uint8", 1
    record.seconds.load = time.perf_counter() - item.started
    item.record = record
    return record


def _done(outcome: Outcome) -> Future[Outcome]:
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future


def _encodes_on_device(recipe: Any, codec: Codec | None, group: list[_Item]) -> bool:
    """JPEG output with nothing to carry but the pixels: the device's encoder writes it."""
    from poolcli.io.formats import format_for_path

    if codec is None or codec.encode is None:
        return False
    formats = {recipe.format or format_for_path(item.job.target) for item in group}
    keep = ("icc_profile", "exif", "dpi")
    plain = all(not any(k in item.info for k in keep) for item in group)
    return formats == {"JPEG"} and plain


def _write(item: _Item, record: PoolRecord, out: Any, codec: Codec | None) -> Outcome:
    """Write one pooled image: bytes the device encoded, or pixels through the CPU's writer."""
    from poolcli.io import decoders, reading, writing
    from poolcli.io.formats import scale_factors, scaled_dpi

    job, recipe = item.job, item.job.recipe
    start = time.perf_counter()
    try:
        if codec is not None and codec.encode is not None:
            data = codec.encode([out.contiguous()], recipe.quality or 75)[0]
            writing.write_bytes(job.target, data, force=recipe.force)
        else:
            pixels = out[:, :, 0] if item.mode == "L" else out
            # the Picture a CPU decode of the file would have given, with the pooled pixels
            pic = reading.array_picture(decoders.Decoded(pixels, item.mode, "JPEG", item.info))
            if "dpi" in pic.info:
                factors = scale_factors(item.size, pic.size, recipe.pool_kwargs)
                dpi = scaled_dpi(pic.info["dpi"], *factors)
                if dpi is None:
                    del pic.info["dpi"]
                else:
                    pic.info["dpi"] = dpi
            writing.write_picture(
                pic,
                job.target,
                format=recipe.format,
                force=recipe.force,
                quality=recipe.quality,
                compress_level=recipe.compress_level,
                threads=1,
            )
    except PoolError as err:
        record.status, record.error = "error", cause(err, record.input)
    except OSError as err:
        record.status, record.error = "error", os_reason(err)
    record.seconds.save = time.perf_counter() - start
    if record.error and job.output_name and job.output_name != job.target:
        record.error = record.error.replace(job.target, job.output_name)
    return job, record


__all__ = ["AUTO_MIN_BYTES", "DEVICES", "Codec", "nvjpeg", "run_on_device", "torch_device"]
