"""The ``poolcli`` script: starts decoding the input before the command line module loads.

Importing Typer and building poolcli's commands takes about 50 ms, NumPy and Pillow another 50,
and for a big PNG or JPEG the decoding itself is most of a run. For the usual form of a one-file
run, ``poolcli MODE FILE [options]``, the file starts decoding on a thread of its own
(:mod:`poolcli.io.ahead`) before any of that, and the command line is parsed, with Typer as always,
while it decodes (the decoder releases the GIL). What is read this way is used only when the
parsed command turns out to pool exactly that one file with the default pixel limit; otherwise
it is dropped, and all it cost was the reading.

Nothing is started for a folder (a batch), ``--help``, ``--version``, other commands, a first
argument that is an option, standard input (``-``), ``--max-pixels``, ``--skip-existing`` (a run
that may never read the file) or ``--scheduler`` (the file is read on a Dask worker).

When a pooling command has finished here (one file, with or without the early read, or a batch;
not a ``--scheduler`` run), the process ends with :func:`os._exit` once the outputs are written,
the streams flushed and no thread or worker process of its own is left, without Python's
teardown of every module.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["early_input", "main", "version_line"]

# Options after which the file is not read early (see the module notes).
_NOT_EARLY = ("--max-pixels", "--skip-existing", "--scheduler")


def early_input(args: Sequence[str]) -> str | None:
    """The file to start reading for the command-line arguments ``args`` (without the program
    name), or ``None``.

    >>> early_input(["max", "photo.png", "--stride", "2"]), early_input(["max", "-s", "2", "a"])
    ('photo.png', None)
    >>> early_input(["mean", "a.png", "--max-pixels", "0"]), early_input(["--help"])
    (None, None)
    """
    if len(args) < 2 or args[1].startswith("-"):
        return None
    import os

    if os.path.isdir(args[1]):  # a batch: its files are read by the run (or its workers)
        return None
    from poolcli.core.modes import MODES

    names = {alias for info in MODES.values() for alias in (info.name, *info.aliases)}
    if args[0] not in names:
        return None
    for arg in args[2:]:
        if arg == "-" or arg.split("=", 1)[0] in _NOT_EARLY:
            return None
    return args[1]


def main() -> None:
    """Entry point of the ``poolcli`` script and ``python -m poolcli``."""
    import os
    import signal

    # NumPy's OpenBLAS starts a thread per CPU when NumPy is imported, and they spin for a while
    # waiting for work that poolcli never gives them (it calls no BLAS routine): on 2 CPUs the
    # import then costs 0.22 s of CPU for 0.10 s of wall time, taken from the decoding thread
    # and, in a batch, from the worker processes. A user's own setting is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # NumPy asks for transparent huge pages for every array of 4 MiB or more; where the kernel
    # compacts memory to find them (THP "madvise" with defrag "madvise", a common default), the
    # first touch of a fresh array can stall: a 4096x4096 JPEG job took 0.27-0.78 s with them
    # and 0.27-0.33 s without (pooling a warm array runs as fast either way). A script's arrays
    # are all fresh. A user's own setting is kept.
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        _main()
    except BaseException:
        # Ctrl-C before the command took over exits as the command would: 130, no traceback.
        # Inside an import it can come back as another error (NumPy's ImportError).
        if _ctrl_c:
            _exit_now(130)
        raise


_ctrl_c = False


def _on_ctrl_c(signum: int, frame: object) -> None:
    """Python's own SIGINT handler (raise KeyboardInterrupt), remembering that it came."""
    global _ctrl_c
    _ctrl_c = True
    raise KeyboardInterrupt


def version_line() -> str:
    """What ``poolcli --version`` prints.

    >>> version_line().startswith("poolcli ")
    True
    """
    import poolcli

    return f"poolcli {poolcli.__version__}"


def _main() -> None:
    if sys.argv[1:] == ["--version"]:
        # Answered before Typer and the commands are imported: 30 ms instead of 100.
        print(version_line())
        return
    source = early_input(sys.argv[1:])
    if source is not None:
        from poolcli.io import ahead

        # Until the decoder runs: the thread's few imports (NumPy and imagecodecs for a JPEG,
        # ctypes for a PNG decoded as its rows are pooled) would only compete for the GIL with
        # this thread's, and from then on everything this thread does happens while it decodes.
        ahead.start(source, {}, wait=True)
    from poolcli.cli import main as run

    try:
        run()
    except SystemExit as done:
        early = source is not None and ahead.used
        if (early or _pooling_run(sys.argv[1:])) and isinstance(done.code, (int, type(None))):
            if _nothing_left_running():
                _exit_now(done.code or 0)
        raise


def _pooling_run(args: Sequence[str]) -> bool:
    """A pooling command run here (not on a Dask cluster): when it has returned, its outputs are
    written and renamed, its reports printed, its worker processes joined."""
    from poolcli.core.modes import MODES

    names = {alias for info in MODES.values() for alias in (info.name, *info.aliases)}
    if not args or args[0] not in names:
        return False
    return not any(arg.split("=", 1)[0] == "--scheduler" for arg in args[1:])


def _nothing_left_running() -> bool:
    """No thread but daemons and no child process left: nothing a normal exit would wait for."""
    import threading

    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()):
        return False
    mp = sys.modules.get("multiprocessing")
    return mp is None or not mp.active_children()


def _exit_now(status: int) -> None:
    """End a pooling run that has done everything: outputs written and closed, no thread or
    process of its own left. Python's teardown would free every object of NumPy, Pillow, Rich
    and Typer one by one (30-45 ms: a tenth of a one-file run or of a batch of 48 JPEGs on two
    CPUs); there is nothing it needs to do."""
    import os

    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: the normal exit would not do better
                pass
    os._exit(status)
