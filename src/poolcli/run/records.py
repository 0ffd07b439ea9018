"""What a job reports: :class:`PoolRecord` (shapes, dtype, status, error) and its
:class:`Seconds` per stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poolcli.io.picture import Picture


# --- records --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Seconds:
    """Wall-clock seconds per stage; ``None`` for a stage the input never reached.

    ``load`` is how long the job waited for its decoded input: less than the decoding took when
    the input was read ahead (:mod:`poolcli.io.ahead`) while poolcli did something else. A plain
    PNG read ahead is pooled while its rows are decoded (:mod:`poolcli.io.pngrows`), and written
    as they are pooled: its ``load`` is only the wait for Pillow's check of the file, ``pool``
    the wait for decoded rows and their pooling, ``save`` the rest of the writing.
    """

    load: float | None = None
    pool: float | None = None
    save: float | None = None


@dataclass(slots=True)
class PoolRecord:
    """One input of a pooling run.

    ``status`` is ``"ok"``, ``"error"`` (``error`` says why, in one line without the input's name)
    or ``"skipped"`` (its output existed). Shapes are ``(H, W, C)`` of the first frame. ``index``
    is the input's position among the run's inputs (after folders and patterns are expanded),
    from 0.
    """

    input: str
    output: str | None = None
    status: str = "ok"
    error: str | None = None
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    image_mode: str | None = None
    dtype: str | None = None
    frames: int | None = None
    mode: str | None = None
    window: str | None = None
    seconds: Seconds = field(default_factory=Seconds)
    index: int | None = None
    axes: str | None = None  # an array file's axis names, one letter per axis: "DHWC"
    note: str | None = None  # what the run did differently for this input, and why (one line)


def describe(record: Any, pic: Picture) -> None:
    """Fill in a record's ``input_shape``, ``image_mode``, ``dtype`` and ``frames`` (and an
    array file's ``axes``)."""
    record.input_shape, record.image_mode = pic.shape, pic.mode
    record.dtype, record.frames = pic.dtype, pic.n_frames
    record.axes = getattr(pic, "names", None)
    read_note = getattr(pic, "info", {}).get("note")
    if read_note:
        record.note = f"{record.note}; {read_note}" if record.note else read_note


def shape_of(image: Any) -> tuple[int, int, int]:
    """``(H, W, C)`` of a Pillow image, as NumPy sees it."""
    width, height = image.size
    return height, width, len(image.getbands())


def cause(err: BaseException, name: str) -> str:
    """The one-line message of ``err`` without a leading ``name: `` (an error line adds it once).

    >>> from poolcli.errors import ImageError
    >>> cause(ImageError("a.png: not an image"), "a.png")
    'not an image'
    """
    text = " ".join(str(err).split()) or type(err).__name__
    return text.removeprefix(f"{name}: ")


def os_reason(err: OSError) -> str:
    text = err.strerror or " ".join(str(err).split()) or type(err).__name__
    return text[:1].lower() + text[1:]
