"""Terminal previews of pictures: ``poolcli show`` and a mode command's ``--preview`` (the input
and its result side by side when the terminal is wide enough)."""

from typing import TYPE_CHECKING, Any

from poolcli.cli.common import (
    cause,
    read_input,
)
from poolcli.errors import PoolError

if TYPE_CHECKING:  # the modules themselves are imported in the commands, to keep --help fast
    from PIL import Image

    from poolcli.cli.report import PoolRecord
    from poolcli.cli.views import Preview
    from poolcli.io.picture import Picture


def picture_text(image: "Image.Image") -> str:
    """``HxW MODE``, as the comparison sheet labels a picture."""
    return f"{image.height}x{image.width} {image.mode}"


def preview_of(
    title: str, image: "Image.Image", width: int, height: int, colour: bool
) -> "Preview":
    """The preview of ``image`` within ``width x height`` cells: colour cells or plain text."""
    from poolcli.cli import views
    from poolcli.io import preview

    if colour:
        return views.Preview(title, cells=preview.preview_cells(image, width, height))
    return views.Preview(title, text=preview.preview_text(image, width, height))


def preview_layout(size: tuple[int, int], columns: int, lines: int) -> tuple[bool, int, int]:
    """``(side_by_side, width, height)``: how a before/after preview of an image of ``size``
    (w, h) fits a ``columns x lines`` terminal, and the cells each picture gets.

    Side by side or stacked, whichever shows the image larger (side by side on a tie). One line
    is left for the prompt, and each picture has a title line.

    >>> preview_layout((64, 48), 80, 24), preview_layout((800, 100), 80, 24)
    ((True, 39, 22), (False, 80, 10))
    """
    from poolcli.cli import views
    from poolcli.io import preview

    usable = max(lines - 1, 4)
    side = (True, max((columns - views.PREVIEW_GAP) // 2, 1), usable - 1)
    stacked = (False, max(columns, 1), (usable - 2) // 2)

    def area(layout: tuple[bool, int, int]) -> int:
        w, h = preview.preview_size(size, layout[1], layout[2])
        return w * h

    return side if area(side) >= area(stacked) else stacked


def print_preview_pair(before: tuple[str, "Image.Image"], after: tuple[str, "Image.Image"]) -> None:
    """``before`` and ``after`` (title, image) previewed on standard error, sized to it."""
    from poolcli.cli import views

    columns, lines, colour = views.preview_space(stderr=True)
    side_by_side, width, height = preview_layout(before[1].size, columns, lines)
    previews = [preview_of(title, image, width, height, colour) for title, image in (before, after)]
    views.print_previews(previews, stderr=True, side_by_side=side_by_side, max_width=width)


def keep_picture(store: list["Picture"], pic: "Picture") -> "Picture":
    """``pic``, after appending it to ``store`` (the stream keeps what --preview shows)."""
    store.append(pic)
    return pic


def preview_run(
    record: "PoolRecord", read_kwargs: dict[str, Any], pictures: "list[Picture] | None" = None
) -> None:
    """``--preview`` of one finished input: it and its result, the first frames.

    ``pictures`` are the input and the result when the run still holds them (standard input or
    output); otherwise both files are read back, since worker processes pooled them.
    """
    from poolcli.cli import report

    if record.axes is not None:  # an array file (a volume, a signal, a matrix): no picture
        report.print_note(f"poolcli: no preview of {record.input}: previews show images")
        return
    try:
        if pictures is not None and len(pictures) == 2:
            before, after = pictures
        else:
            before = read_input(record.input, read_kwargs)
            after = read_input(record.output or "", read_kwargs)
        first, result = before.frames[0], after.frames[0]
        print_preview_pair(
            (f"{record.input}  {picture_text(first)}", first),
            (f"{record.mode} {record.window}  {picture_text(result)}", result),
        )
    except PoolError as err:  # the run went well; only the picture of it is missing
        report.print_note(f"poolcli: no preview of {record.input}: {cause(err, record.input)}")
