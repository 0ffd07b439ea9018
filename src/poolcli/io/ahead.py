"""Reading inputs ahead: decode a file on a thread of its own while poolcli does something else.

A fast decoder (:mod:`poolcli.io.decoders`) releases the GIL for the whole decode, so the file can
be decoded while the main thread goes on: importing the rest of poolcli and parsing the command
line for a one-file run, pooling and writing the file before in a batch that runs in-process.
:func:`start` begins it, :func:`take` hands the picture over, :func:`drop` forgets what was
never taken.

Only what :func:`poolcli.io.decoders.read` decodes is read ahead (a plain PNG or JPEG, with
imagecodecs installed); anything else, and any failure, gives ``None`` and is read the usual way
when its job comes, with the usual error. A plain PNG that is not interlaced is handed over
while it still decodes (:mod:`poolcli.io.pngrows`): the job pools and writes its rows as they come.
This module imports nothing heavy itself: the script starts a read before Typer, NumPy or
Pillow are imported (:mod:`poolcli.entry`).
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poolcli.io.picture import Picture
    from poolcli.io.pngrows import RowStream

__all__ = ["drop", "start", "take"]

# File signatures of the formats the fast decoders take: PNG, JPEG.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")

_Key = tuple[str, tuple[tuple[str, Any], ...]]


class _Read:
    """One file read on a thread of its own."""

    def __init__(self, source: str, read_kwargs: Mapping[str, Any]) -> None:
        self._pic: Picture | None = None
        self.rows: RowStream | None = None  # a PNG decoded row by row, set before `decoding`
        self.decoding = threading.Event()  # set when the decoder runs, or the thread ends
        self._args = source, dict(read_kwargs)
        self._thread = threading.Thread(target=self._work, name="poolcli-read-ahead", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            if not _installed():
                return  # nothing to read ahead with: the file is read when its job comes
            source, kwargs = self._args
            data = _read_file(source)  # before the imports: the GIL is free while it reads
            if data is not None:
                # Only what the decoder needs before it runs (ctypes for a plain PNG's rows;
                # NumPy and imagecodecs for a whole image; Pillow too for a JPEG): the rest is
                # imported while it decodes, here or on the main thread.
                from poolcli.io import decoders

                stream = decoders.start_rows(data, **kwargs)
                if stream is not None:
                    self.rows = stream
                    self.decoding.set()
                    stream.run()  # the taker pools the rows as they come
                    return
                decoded = decoders.read(data, before_decode=self.decoding.set, **kwargs)
                del data
                if decoded is not None:
                    from poolcli.io import reading

                    self._pic = reading.array_picture(decoded)
        except Exception:  # noqa: BLE001 - (out of memory, ...) the job reads it the usual way
            self._pic = None
        finally:
            self.decoding.set()

    def result(self) -> Picture | None:
        """The picture or ``None``, once (the reference is handed over), after the thread ends."""
        self._thread.join()
        pic, self._pic = self._pic, None
        return pic

    def take(self, name: str | None) -> Picture | None:
        """The picture, once: one whose rows are still being decoded (:mod:`poolcli.io.pngrows`)
        if Pillow agrees that they are the file's, else what :meth:`result` gives."""
        self.decoding.wait()
        if self.rows is None:
            return self.result()
        from poolcli.io import reading

        source, kwargs = self._args
        pic = reading.rows_picture(self.rows, name=name or source, **kwargs)
        if pic is None:
            self.stop()
        else:
            _streaming.append(self)
        return pic

    def stop(self) -> None:
        """Stop decoding rows nobody will take, and wait for the thread."""
        if self.rows is not None:
            self.rows.stop()
        self._thread.join()


_reads: dict[_Key, _Read] = {}
_streaming: list[_Read] = []  # taken, their rows maybe still being decoded


def _key(source: str, read_kwargs: Mapping[str, Any]) -> _Key:
    return source, tuple(sorted(read_kwargs.items()))


def _read_file(source: str) -> bytes | None:
    """The bytes of the regular file ``source`` if it starts like a PNG or JPEG, else ``None``."""
    try:
        if not stat.S_ISREG(os.stat(source).st_mode):  # a FIFO would block the open
            return None
        with open(source, "rb") as f:
            head = f.read(8)
            if not head.startswith(_SIGNATURES):
                return None
            f.seek(0)
            return f.read()  # (head + f.read() would copy it all once more: 20 ms for 26 MB)
    except OSError:
        return None


@functools.cache
def _installed() -> bool:
    """Whether imagecodecs is there to be imported (found, not imported: that is for the
    thread), and wanted (:mod:`poolcli.io.fast`)."""
    import importlib.util

    from poolcli.io import fast

    return fast.wanted() and importlib.util.find_spec("imagecodecs") is not None


def start(source: str, read_kwargs: Mapping[str, Any], *, wait: bool = False) -> None:
    """Start reading the local file ``source`` on a thread of its own, for the :func:`take` with
    the same ``source`` and ``read_kwargs`` (those of :func:`poolcli.io.reading.read_picture`).

    ``wait`` returns only when the decoder is running (or the thread has ended): the thread has
    done its imports and opened the file without this one competing for the GIL, and everything
    this thread does from then on happens while the file decodes.
    """
    key = _key(source, read_kwargs)
    read = _reads.get(key)
    if read is None:
        read = _reads[key] = _Read(source, read_kwargs)
    if wait:
        read.decoding.wait()


used = False
"""Whether :func:`take` has handed over a picture in this process."""


def take(source: str, read_kwargs: Mapping[str, Any], *, name: str | None = None) -> Picture | None:
    """The picture :func:`start` read for ``source`` and ``read_kwargs``, or ``None`` (none was
    started, or the fast decoders do not take the file): the caller then reads it itself.

    A plain PNG comes back while its rows are still being decoded (see
    :func:`poolcli.io.reading.rows_picture`; ``name`` is the file's name in its errors, should its
    data turn out to be bad): pooling it takes the rows as they come.
    """
    global used
    _streaming[:] = [read for read in _streaming if read.rows is None or not read.rows.ended]
    read = _reads.pop(_key(source, read_kwargs), None)
    pic = None if read is None else read.take(name)
    used = used or pic is not None
    return pic


def drop() -> None:
    """Forget every read not taken and stop decoding rows not taken yet, once their threads
    have ended (so that none is left running: worker processes are forked only from a
    single-threaded process)."""
    while _reads:
        _, read = _reads.popitem()
        read.stop()
    while _streaming:
        _streaming.pop().stop()
