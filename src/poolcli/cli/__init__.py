"""The ``poolcli`` command line: one command per pooling mode, ``info``, ``pyramid``,
``compare``, ``show`` and ``stats``.

Every command is wiring: parse the options, call the library (:mod:`poolcli.run` finds, plans
and pools the inputs of a mode command, in parallel; :mod:`poolcli.io` reads the others), hand
plain records to :mod:`poolcli.cli.report`, and pick the exit status (0 all done, 1 some inputs
failed, 2 bad usage; 130 and 143 when interrupted by SIGINT or SIGTERM). The mode commands are
generated from :data:`poolcli.core.modes.MODES`, so a new mode is one registry entry. Pillow,
Rich and :mod:`poolcli.io` are imported inside the commands, so ``poolcli --help`` only pays for
Typer and the registry.

Modules: :mod:`~poolcli.cli.root` (the Typer app, ``--version``, :func:`main`),
:mod:`~poolcli.cli.options` (option types and declarations shared by the commands),
:mod:`~poolcli.cli.pooling` (the mode commands), :mod:`~poolcli.cli.info`,
:mod:`~poolcli.cli.pyramid`, :mod:`~poolcli.cli.visual` (``compare``, ``show``, ``stats``),
:mod:`~poolcli.cli.common` (reading an input, error causes), :mod:`~poolcli.cli.report` (the only
module that renders: Rich tables, JSON). Nothing outside this package imports it but the script's
entry point (:mod:`poolcli.entry`).
"""

# Importing a command module registers its commands; --help lists them in this order.
from poolcli.cli import pooling  # noqa: F401

from poolcli.cli import info  # noqa: F401  # isort: skip
from poolcli.cli import pyramid  # noqa: F401  # isort: skip
from poolcli.cli import visual  # noqa: F401  # isort: skip
from poolcli.cli.root import app, app_for, main

__all__ = ["app", "app_for", "main"]
