"""The ``h2q`` command: one entry point with sub-commands.

Each area registers its commands in its own module below; this file only assembles them.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="h2q",
    help="h2quarters: simulate, optimise and control a PV-hydrogen lab and its quarter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """h2quarters: simulate, optimise and control a PV-hydrogen lab and its quarter."""


# --- sub-command registration (one line per area) ---
from h2quarters.cli import simulate as _simulate  # noqa: E402,F401  (registers `simulate`)
from h2quarters.cli import plc as _plc  # noqa: E402,F401
from h2quarters.cli import optimise as _optimise  # noqa: E402,F401
from h2quarters.cli import serve as _serve  # noqa: E402,F401
from h2quarters.cli import quarter as _quarter  # noqa: E402,F401
from h2quarters.cli import exercise as _exercise  # noqa: E402,F401
# --- end of registration ---


def main() -> None:
    """Entry point of the ``h2q`` console script."""
    app()
