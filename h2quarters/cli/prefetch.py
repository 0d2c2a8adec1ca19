"""Start the OPC UA helper of ``h2q plc fault inject|clear|list`` before the CLI imports typer.

Such a call spends most of its time importing: asyncua (≈0.6–1 s) for the OPC UA exchange and typer with its
pydantic adapters (≈0.3 s) for the command line. Started here, from the first lines of :mod:`h2quarters.cli`,
the helper (:mod:`h2quarters.plc.fault_client`) imports asyncua on the second core while this process parses the
arguments; the command then hands it the request. Everything else starts nothing. Standard library only: this
runs before anything else is imported.
"""

from __future__ import annotations

import atexit
import subprocess
import sys

FAULT_CALLS = frozenset({"inject", "clear", "list"})

_helper: subprocess.Popen[str] | None = None


def prefetch_for(argv: list[str]) -> None:
    """Start the helper if ``argv`` (without the program name) is a fault call; otherwise do nothing."""
    global _helper
    if len(argv) < 3 or argv[:2] != ["plc", "fault"] or argv[2] not in FAULT_CALLS or "--help" in argv:
        return
    flags = ["-P"] if sys.flags.safe_path else []  # import h2quarters from where this process does
    try:
        _helper = subprocess.Popen([sys.executable, *flags, "-m", "h2quarters.plc.fault_client"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    except OSError:  # no helper: the command runs the call itself
        return
    atexit.register(_discard)


def take() -> subprocess.Popen[str] | None:
    """The started helper (once), or None: the caller then talks to it and waits for it."""
    global _helper
    helper, _helper = _helper, None
    return helper


def _discard() -> None:
    """At exit, end a helper nobody took (usage error, prompt aborted): it would exit at EOF anyway."""
    helper = take()
    if helper is not None:
        helper.kill()
        helper.wait()
