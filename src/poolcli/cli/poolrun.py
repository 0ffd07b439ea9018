"""One pooling run: :class:`PoolRun` pools every input of a mode command with one mode and window.

It checks the options that are wrong whatever the images (exit 2), plans the outputs
(:mod:`poolcli.run.plan`), runs the jobs here, in worker processes, on a Dask cluster or on a
torch device (:mod:`poolcli.run.workers`, :mod:`poolcli.run.gpu`), streams standard input and
output, and reports each input as it finishes (JSON lines, errors, previews, in input order) and
the run at the end (the table or a summary, the notes). The Typer commands that build it from
their options are :mod:`poolcli.cli.pooling`'s.
"""

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from poolcli.cli.common import (
    cause,
    check_stdin,
    cpu_budget,
    display_name,
    os_cause,
    read_input,
    stdin_is_text,
    warn_unused_encoding,
)
from poolcli.cli.options import STDIN, Batch, Output, Window
from poolcli.cli.previews import keep_picture, preview_run
from poolcli.cli.root import UsageError
from poolcli.errors import ImageError, PoolError

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    from poolcli.cli import report
    from poolcli.cli.report import PoolRecord
    from poolcli.io.arrayfile import ArrayFile
    from poolcli.io.picture import Picture
    from poolcli.run import plan

# What worker processes import before their first job: the module the poolcli script imports.
_COMMANDS = "poolcli.cli.pooling"


class _InOrder:
    """Hands each record to ``emit`` in the order of the inputs (``index`` 0, 1, 2, ...), as
    soon as every input before it has been handed on: JSON lines, error lines and previews
    come in input order, whichever worker finishes first."""

    def __init__(self, emit: Callable[["PoolRecord"], None]) -> None:
        self._emit = emit
        self._waiting: dict[int, PoolRecord] = {}
        self._next = 0

    def add(self, index: int, record: "PoolRecord") -> None:
        self._waiting[index] = record
        while self._next in self._waiting:
            self._emit(self._waiting.pop(self._next))
            self._next += 1

    def flush(self) -> None:
        """Emit what is still waiting, in order, with gaps (a run stopped early)."""
        for index in sorted(self._waiting):
            self._emit(self._waiting.pop(index))


# Long as a class (~370 lines), not as functions: its methods, none over 60 lines, share one
# run's options, records and the stop; splitting it would pass them all around instead.
@dataclass
class PoolRun:
    """Pools every input with one mode and window, writes the outputs, reports each input."""

    mode: str
    window: Window
    out: Output
    read_kwargs: dict[str, Any]
    as_json: bool = False
    quiet: bool = False
    many: Batch = Batch()
    preview: bool = False
    axes: str | None = None  # --axes, for array files
    explain: bool = False
    fallback: str | None = None  # -o -: the input's format is not written, and why (the note)

    def process(self, inputs: list[str]) -> int:
        """Process every input; the exit status (0, 1 when an input failed, 130/143 stopped)."""
        from poolcli.run import workers
        from poolcli.run.inputs import expand_inputs
        from poolcli.run.plan import ClashError, PlanError, make_plan

        cpu_budget()  # a bad POOLCLI_THREADS is a usage error, before anything is touched
        if self._may_fork(inputs):
            # Worker processes are forked from a server that imports NumPy and Pillow: let it
            # do that while this process does the same below, on another core.
            workers.start_worker_server(preload=[_COMMANDS])
        self._check_usage(inputs)
        from poolcli.cli import report

        if self.explain:
            return self._explain(inputs)
        if STDIN in inputs or self.out.path == STDIN:
            return self._stream(inputs[0])
        sources = expand_inputs(inputs, recursive=self.many.recursive)
        try:
            plan = make_plan(
                sources,
                self._recipe(),
                template=self.out.name,
                fields=self._fields(),
                out_dir=self.out.out_dir,
                output=self.out.path,
                skip_existing=self.many.skip_existing,
            )
        except ClashError as err:
            raise UsageError(f"{err}: {self._clash_advice(err)}") from None
        except PlanError as err:
            hint = "'-o' / '--output'" if self.out.path is not None else "--name"
            raise typer.BadParameter(str(err), param_hint=hint) from None
        try:
            plan.prepare()
        except ImageError as err:
            name, _, why = str(err).partition(": ")
            report.print_error(name, why)
            return 1
        self._warn_unused_encoding([job.output_name or job.target for job in plan.jobs])
        return self._run(plan)

    def _warn_unused_encoding(self, targets: list[str]) -> None:
        """Warn once when --quality or --compress-level means nothing to some output format."""
        from poolcli.io import formats

        if self.quiet or (self.out.quality is None and self.out.compress_level is None):
            return
        found = set()
        for target in targets:
            try:
                if self.out.format is not None:
                    found.add(formats.format_name(self.out.format))
                    break
                found.add(formats.format_for_path(target))
            except PoolError:  # a format that cannot be written: that input's own error
                continue
        warn_unused_encoding(found, self.out.quality, self.out.compress_level)

    def _clash_advice(self, err: "plan.ClashError") -> str:
        """How to give each of two clashing inputs an output of its own, in options."""
        if err.why == "folder":
            return (
                "files of the same name from different folders; pool their common folder with"
                " -r (--out-dir then mirrors its subfolders), or give each folder a run and an"
                " --out-dir of its own"
            )
        if err.why == "suffix" and self.out.format is not None:
            return (
                "their names differ only in the suffix, which --format makes the same; write"
                " them to different folders, or leave --format out"
            )
        if err.why == "suffix":
            return "their names differ only in the suffix: put {ext} in --name"
        return "put {stem} in --name, so that each input gets its own name"

    def _run(self, plan: "plan.Plan") -> int:
        """Run the plan; render each record as it comes, then the table or summary."""
        from poolcli.cli import report
        from poolcli.run import workers

        total = plan.total
        tally = report.Tally()
        start = time.perf_counter()
        stopped: int | None = None  # the exit status of an interrupted run
        todo = plan.jobs

        def emit(record: "PoolRecord") -> None:
            tally.add(record)
            self._emit(record)

        in_order = _InOrder(emit)
        if self.many.fail_fast and any(r.status == "error" for _, r in plan.done):
            todo = []
        device = self._device(sum(job.size or 0 for job in todo))
        with contextlib.ExitStack() as stack:
            stack.enter_context(workers.terminate_on_sigterm())
            try:
                try:
                    # Before the progress bar: its thread would keep the workers from forking.
                    if device is not None:
                        from poolcli.run import gpu

                        threads = self.many.jobs or cpu_budget()
                        results = gpu.run_on_device(todo, device, threads=threads)
                    else:
                        split = workers.plan_workers(todo, cpu_budget(), self.many.jobs)
                        results = workers.run(
                            todo,
                            workers=split.jobs,
                            threads=split.threads,
                            scheduler=self.many.scheduler,
                            preload=[_COMMANDS],
                        )
                except OSError as err:  # the Dask scheduler cannot be reached
                    report.print_error(str(self.many.scheduler), os_cause(err))
                    return 1
                stack.enter_context(contextlib.closing(results))
                advance = stack.enter_context(report.progress(total, enabled=self._chatty(total)))
                for index, record in plan.done:
                    in_order.add(index, record)
                    advance()
                plan.done.clear()  # (each record is in the tally now)
                for job, record in results:
                    in_order.add(job.index, record)
                    advance()
                    if self.many.fail_fast and record.status == "error":
                        break
            except KeyboardInterrupt:
                stopped = 130
            except workers.Terminated:
                stopped = 143
        in_order.flush()  # what an early stop left waiting for an input before it
        self._summary(tally, total, time.perf_counter() - start, stopped)
        if stopped is not None:
            return stopped
        return int(tally.finished < total or tally.failed > 0)

    def _may_fork(self, inputs: list[str]) -> bool:
        """Whether the run may start worker processes: several inputs, or a folder or pattern."""

        cores = self.many.jobs or cpu_budget()
        if self.many.scheduler is not None or cores == 1 or STDIN in inputs:
            return False
        if self.many.device != "cpu":  # pooled by torch in this process, not in workers
            return False
        return len(inputs) > 1 or any(not os.path.isfile(i) for i in inputs)

    def _chatty(self, total: int) -> bool:
        return total > 1 and not self.quiet

    def _emit(self, record: "PoolRecord", pictures: "list[Picture] | None" = None) -> None:
        from poolcli.cli import report

        if record.error is not None:
            report.print_error(record.input, record.error)
        if self.as_json:
            report.print_json(record)
        if self.preview and record.status == "ok":
            preview_run(record, self.read_kwargs, pictures)

    def _summary(
        self, tally: "report.Tally", total: int, seconds: float, stopped: int | None
    ) -> None:
        from poolcli.cli import report

        if self.quiet:
            return
        _print_notes(tally)
        # The table's rows: none past TABLE_MAX_ROWS (the tally kept no records), nor when
        # nothing was written (the error lines already said everything).
        rows = tally.kept
        if self.as_json or stopped is not None or tally.failed == tally.finished:
            rows = None
        if rows is not None:
            report.print_table(report.pool_table(rows), stderr=True)
        incomplete = tally.finished < total or tally.failed > 0
        if total > 1 and (rows is None or incomplete):
            report.print_note(report.summary_line(tally, total, seconds))
        if stopped is not None or tally.finished < total:
            why = "interrupted" if stopped is not None else "stopped at the first failure"
            report.print_note(f"poolcli: {why}; rerun with --skip-existing to finish")

    def _recipe(self) -> "plan.Recipe":
        from poolcli.run import plan

        out = self.out
        return plan.Recipe(
            self.mode,
            self.window.pool_kwargs(),
            self.window.describe(),
            self.read_kwargs,
            out.format,
            out.quality,
            out.compress_level,
            out.force,
            self.axes,
            self.window.axes,
        )

    def _device(self, input_bytes: int | None) -> str | None:
        """The torch device of ``--device`` for a run of ``input_bytes`` (None: NumPy)."""
        if self.many.device == "cpu":
            return None
        from poolcli.run import gpu

        return gpu.torch_device(self.many.device, input_bytes)

    def _fields(self) -> dict[str, str]:
        return {"mode": self.mode, **self.window.name_fields()}

    def _check_usage(self, inputs: list[str]) -> None:
        """Reject option combinations that are wrong whatever the images (exit 2)."""
        from poolcli.io import arrayfile, arrays, formats
        from poolcli.run import distributed, plan

        out = self.out
        check_stdin(inputs)
        if self.axes is not None:
            try:
                arrayfile.parse_axes(self.axes)
            except PoolError as err:
                raise typer.BadParameter(str(err), param_hint="--axes") from None
        if self.explain:
            if out.path is not None or out.out_dir is not None or self.as_json:
                raise typer.BadParameter(
                    "--explain prints and writes nothing: drop -o, --out-dir and --json",
                    param_hint="--explain",
                )
            return
        # Text or an array on standard input goes back to standard output, as text or bytes.
        if STDIN in inputs and out.path is None and not stdin_is_text():
            raise typer.BadParameter("standard input needs -o PATH or -o -", param_hint="INPUT")
        if out.path is not None and len(inputs) > 1:
            raise typer.BadParameter(
                "names one output; for several inputs use --out-dir and --name",
                param_hint="'-o' / '--output'",
            )
        if out.path is not None and out.out_dir is not None:
            raise typer.BadParameter("-o and --out-dir exclude each other", param_hint="--out-dir")
        if out.out_dir is not None and os.path.isfile(out.out_dir):
            raise typer.BadParameter(f"{out.out_dir} is a file", param_hint="--out-dir")
        if out.path == STDIN and self.as_json:
            raise typer.BadParameter(
                "-o - and --json both write standard output", param_hint="--json"
            )
        if out.path == STDIN and sys.stdout.isatty():
            raise typer.BadParameter(
                "refusing to write image bytes to a terminal: redirect or pipe standard output",
                param_hint="'-o' / '--output'",
            )
        if self.many.skip_existing and out.force:
            raise typer.BadParameter(
                "--skip-existing keeps existing outputs, --force replaces them: give one",
                param_hint="--skip-existing",
            )
        if self.many.device != "cpu":
            if self.many.scheduler is not None:
                raise typer.BadParameter(
                    "a cluster pools on its workers' CPUs: --device is for runs here",
                    param_hint="--device",
                )
            try:
                self._device(None)  # an unknown choice, or cuda without torch or a GPU
            except PoolError as err:
                raise typer.BadParameter(str(err), param_hint="--device") from None
        if self.many.scheduler is not None:
            if STDIN in inputs or out.path == STDIN:
                raise typer.BadParameter(
                    "a cluster reads and writes files, not standard input or output",
                    param_hint="--scheduler",
                )
            try:
                distributed.check_scheduler(self.many.scheduler)
            except (ImportError, PoolError) as err:
                raise typer.BadParameter(str(err), param_hint="--scheduler") from None
        try:
            if out.format is not None:
                if arrays.format_of(out.format) is None:
                    formats.format_name(out.format)
            elif out.path not in (None, STDIN) and arrays.format_for_path(out.path) is None:
                formats.format_name(formats.format_for_path(out.path))  # one Pillow writes
        except PoolError as err:
            hint = "--format" if out.format else "'-o' / '--output'"
            raise typer.BadParameter(str(err), param_hint=hint) from None
        try:
            plan.check_template(out.name, self._fields())
        except PoolError as err:
            raise typer.BadParameter(str(err), param_hint="--name") from None

    def _stream(self, source: str) -> int:
        """The one input that comes from standard input or goes to standard output."""
        from poolcli.cli import report
        from poolcli.run import job
        from poolcli.run.records import PoolRecord as Record

        target = None if self.out.path in (STDIN, None) else self.out.path
        record = Record(
            display_name(source),
            output=STDIN if target is None else target,
            mode=self.mode,
            window=self.window.describe(),
            index=0,
        )
        pictures: list[Picture] = []  # the input and its result, for --preview
        recipe = dataclasses.replace(self._recipe(), device=self._device(None))
        job.pool_timed(
            record,
            lambda: keep_picture(pictures, self._read(source)),
            lambda pic: self._save(keep_picture(pictures, pic), target),
            recipe,
            self.many.jobs or cpu_budget(),
        )
        self._emit(record, pictures)
        if self.fallback is not None:
            record.note = f"{record.note}; {self.fallback}" if record.note else self.fallback
        if not self.quiet:
            tally = report.Tally()
            tally.add(record)
            _print_notes(tally)
        if not (self.quiet or self.as_json) and record.status == "ok":
            report.print_table(report.pool_table([record]), stderr=True)
        return int(record.status != "ok")

    def _read(self, source: str) -> "Picture | ArrayFile":
        return read_input(source, self.read_kwargs, axes=self.axes, spatial=self.window.axes)

    def _explain(self, inputs: list[str]) -> int:
        """``--explain``: print each small array input's windows; nothing is written."""
        from poolcli.cli import report
        from poolcli.io import arrayfile
        from poolcli.io.explain import explain

        status = 0
        for source in inputs:
            name = display_name(source)
            try:
                af = self._read(source)
                if not isinstance(af, arrayfile.ArrayFile):
                    raise ImageError(
                        f"{name}: --explain shows array files (.npy, .npz, text), not images"
                    )
                if "c" in af.axes:
                    raise ImageError(f"{name}: --explain shows arrays without a channel axis")
                for key, array in af.arrays.items():
                    title = [f"{name}[{key}]:"] if len(af.arrays) > 1 else []
                    if len(inputs) > 1 and not title:
                        title = [f"{name}:"]
                    text = explain(array, self.mode, name, **self.window.pool_kwargs())
                    typer.echo("\n".join([*title, text]))
            except PoolError as err:
                report.print_error(name, cause(err, name))
                status = 1
        return status

    def _save(self, pic: "Picture | ArrayFile", target: str | None) -> None:
        from poolcli.io import arrayfile, arrays, formats, textarrays, writing

        out = self.out
        if isinstance(pic, arrayfile.ArrayFile):
            fmt = arrays.format_of(out.format) if out.format else None
            if target is not None:
                arrays.write_array_file(pic, target, format=fmt, force=out.force)
                return
            fmt = fmt or pic.format
            if fmt not in textarrays.TEXT_FORMATS and fmt != "TEXT" and sys.stdout.isatty():
                raise ImageError(
                    "standard output: refusing to write array bytes to a terminal: redirect it"
                )
            self._write_stdout(arrays.encode_array_file(pic, fmt))
            return
        encoding = {"quality": out.quality, "compress_level": out.compress_level}
        if target is not None:
            self._warn_unused_encoding([target])
            writing.write_picture(pic, target, format=out.format, force=out.force, **encoding)
            return
        if out.format is None and pic.format is not None:
            found = writing.fallback_format(pic.format, pic.mode, pic.n_frames)
            if found is not None:  # said with the record's notes
                self.fallback = found[1]
                out_format: str | None = found[0]
            else:
                out_format = pic.format
        else:
            out_format = out.format or pic.format
        fmt = formats.format_name(out_format or "PNG")
        if not self.quiet:
            warn_unused_encoding({fmt}, out.quality, out.compress_level)
        data = writing.encode_picture(pic, fmt, **encoding)
        self._write_stdout(data)

    def _write_stdout(self, data: bytes) -> None:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as err:  # disk full, closed pipe: the I/O boundary of the CLI itself
            raise ImageError(f"standard output: {err.strerror or err}") from None


def _print_notes(tally: "report.Tally") -> None:
    """Each distinct note of the run once on standard error, with the inputs it concerns (the
    JSON records carry it per input)."""
    from poolcli.cli import report

    for note, (first, count) in tally.notes.items():
        who = first if count == 1 else f"{count} inputs ({first}, ...)"
        report.print_note(f"poolcli: note: {who}: {note}")
