"""The root of the command line: the Typer :data:`app`, ``--version``, and :func:`main`, which
builds only the command that runs (:func:`app_for`).
"""

import copy
import sys
from typing import Annotated

import typer

from poolcli.entry import version_line

# --- the app --------------------------------------------------------------------------------------

app = typer.Typer(
    name="poolcli",
    help="Downsample images by pooling, with PyTorch's window rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Plain help and one-line usage errors: Rich's help formatter alone doubles start-up time.
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Downsample images by pooling: poolcli MODE INPUT... [options]."""
    # Pillow logs why a corrupt file failed (e.g. TIFF tags) on top of raising; with no logging
    # set up Python would print that to stderr, beside the one error line that already says it.
    import logging  # here, not at the top: 4 ms that --help and --version do not need

    pil = logging.getLogger("PIL")
    if not pil.handlers:
        pil.addHandler(logging.NullHandler())


def main() -> None:
    """Entry point of the ``poolcli`` script and ``python -m poolcli``."""
    args = sys.argv[1:]
    if args == ["--version"]:
        # Answered before Typer turns every command's options into Click parameters (~7 ms,
        # a tenth of the whole run); the same line the --version option prints.
        print(version_line())
        return
    app_for(args)(prog_name="poolcli")


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs the command line ``args`` exactly as :data:`app` would, built faster.

    Before it parses anything Typer turns every registered command's options into Click
    parameters, about half a millisecond a command for thirteen commands. A run of one command
    (``poolcli max ...``, ``poolcli info --help``) gets an app with that command only; the list
    of commands (``poolcli``, ``poolcli --help``) one whose commands have their names and help
    but no options, which is all that list shows. Anything else (an unknown command, an option
    first) gets :data:`app` itself, so that its errors are Typer's own.
    """
    if args and args[0] not in ("--help",):
        chosen = [c for c in app.registered_commands if _command_name(c) == args[0]]
        return _app_with(chosen) if chosen else app
    return _app_with([_without_options(c) for c in app.registered_commands])


def _command_name(info: typer.models.CommandInfo) -> str | None:
    if info.name is not None:
        return info.name
    return None if info.callback is None else info.callback.__name__.replace("_", "-")


def _app_with(commands: list[typer.models.CommandInfo]) -> typer.Typer:
    lean = copy.copy(app)
    lean.registered_commands = commands
    return lean


def _without_options(info: typer.models.CommandInfo) -> typer.models.CommandInfo:
    """``info`` with a callback that takes nothing: the same name, help and panel."""
    original = info.callback

    def listed() -> None:  # pragma: no cover - never run: the list only shows it
        raise AssertionError("a command of the list of commands was run")

    if original is not None:
        listed.__name__, listed.__doc__ = original.__name__, original.__doc__
    stub = copy.copy(info)
    stub.callback = listed
    return stub
