"""The ``h2q`` command: one entry point with sub-commands.

Each area registers its commands in its own module below; this file only assembles them. The modules are
imported lazily: ``h2q plc fault list`` imports ``h2quarters.cli.plc`` only, not the optimiser, the web app or
the quarter's power flow, so short commands start fast (issue #15: fault commands answer in ≤ 1 s).
``h2q --help`` still lists every command (it imports all command modules, which keep their heavy imports
inside the command functions).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:  # typer vendors its own click; these are its types
    from typer._click.core import Command, Context
    from typer._click.formatting import HelpFormatter

# --- sub-command registration (one line per area: command name -> module that registers it on `app`) ---
LAZY_COMMANDS: dict[str, str] = {
    "simulate": "h2quarters.cli.simulate",
    "plc": "h2quarters.cli.plc",
    "optimise": "h2quarters.cli.optimise",
    "serve": "h2quarters.cli.serve",
    "user": "h2quarters.cli.serve",
    "quarter": "h2quarters.cli.quarter",
    "exercise": "h2quarters.cli.exercise",
}
# --- end of registration ---


class LazyGroup(TyperGroup):
    """Root group that imports a command's module only when that command is looked up.

    The modules register their commands on :data:`app` as before (``@app.command()``, ``app.add_typer``);
    after the import the click command is built from ``app`` with typer's public ``get_command``.
    """

    def list_commands(self, ctx: Context) -> list[str]:
        """All command names, loaded or not (for ``--help`` and completion)."""
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """The command ``cmd_name``, importing its module on first use; None for an unknown name."""
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in LAZY_COMMANDS:
            self._load([cmd_name])
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Help lists every command with its summary, so all command modules are loaded (in one build)."""
        self._load(list(LAZY_COMMANDS))
        super().format_help(ctx, formatter)

    def _load(self, names: list[str]) -> None:
        """Import the modules registering ``names`` and add every command they registered on :data:`app`."""
        missing = [n for n in names if n not in self.commands]
        if not missing:
            return
        for module in dict.fromkeys(LAZY_COMMANDS[n] for n in missing):
            importlib.import_module(module)
        built = typer.main.get_command(app)  # typer's public builder, over everything registered so far
        for name, cmd in (built.commands if isinstance(built, TyperGroup) else {}).items():
            self.commands.setdefault(name, cmd)
        for n in missing:
            if n not in self.commands:  # a registration line naming a module that does not register it
                raise RuntimeError(f"{LAZY_COMMANDS[n]} does not register the command {n!r}")


app = typer.Typer(
    name="h2q",
    help="h2quarters: simulate, optimise and control a PV-hydrogen lab and its quarter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    """h2quarters: simulate, optimise and control a PV-hydrogen lab and its quarter."""


def main() -> None:
    """Entry point of the ``h2q`` console script."""
    app()
