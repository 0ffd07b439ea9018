"""The root of the command line: the Typer :data:`app`, ``--version``, and :func:`main`, which
builds only the command that runs (:func:`app_for`).
"""

import copy
import difflib
import sys
from typing import Annotated, Any

import typer
import typer.core

from poolcli.entry import version_line

try:  # Typer 0.28 carries its own copy of Click
    from typer._click.exceptions import NoSuchOption, UsageError
except ImportError:  # pragma: no cover - older Typer runs on Click itself
    from click.exceptions import NoSuchOption, UsageError  # type: ignore[no-redef]

__all__ = ["Command", "UsageError", "app", "app_for", "close_options", "main"]

# An unknown option is compared with the known ones by their names, without the dashes, which
# are in every name and made Click's own matching offer --jobs for --bogus and --help for --p.
SUGGEST_CUTOFF = 0.7


class Command(typer.core.TyperCommand):
    """A poolcli command: the usage line names its arguments plainly (``INPUT...``, where Typer
    writes ``{INPUT}``), and an unknown option is answered with close matches only, or with the
    commands that have it."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                name += "..." if param.nargs != 1 else ""
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as err:
            known = [o for p in self.get_params(ctx) for o in p.opts + p.secondary_opts]
            close = close_options(err.option_name, known)
            err.possibilities = None  # type: ignore[misc]  # Click's own list: replaced here
            if close:
                err.message += f". Did you mean {' or '.join(close)}?"
            elif owners := _commands_with(err.option_name, besides=self.name):
                err.message += f" (an option of {', '.join(owners)})"
            raise


def close_options(option: str, known: list[str]) -> list[str]:
    """The options of ``known`` whose names are close to ``option``'s, best first.

    >>> close_options("--stirde", ["--stride", "--size", "--jobs"])
    ['--stride']
    >>> close_options("--bogus", ["--jobs", "--help"]), close_options("--p", ["--help"])
    ([], [])
    """
    by_name = {o.lstrip("-"): o for o in known if o.startswith("--")}
    close = difflib.get_close_matches(option.lstrip("-"), by_name, n=3, cutoff=SUGGEST_CUTOFF)
    return [by_name[name] for name in close]


def _commands_with(option: str, besides: str | None) -> list[str]:
    """``poolcli NAME`` for each listed command other than ``besides`` that has ``option``."""
    group: Any = typer.main.get_command(app)
    return [
        f"poolcli {name}"
        for name, command in group.commands.items()
        if name != besides
        and not command.hidden
        and any(option in p.opts + p.secondary_opts for p in command.params)
    ]


class _Typer(typer.Typer):
    """Every command registered with :class:`Command`."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


# --- the app --------------------------------------------------------------------------------------

app = _Typer(
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
