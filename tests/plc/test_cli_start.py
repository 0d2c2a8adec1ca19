"""`h2q` loads only the sub-command it runs (issue #15: fault commands answer in ≤ 1 s as a whole CLI call).

Time itself is measured in ``benchmarks/cli_start.py``; here the cause is checked: a fault command must not
import the optimiser, the web app, the quarter's power flow or the plant models (CoolProp alone costs seconds).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from h2quarters.cli import LAZY_COMMANDS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("CoolProp", "pyomo", "highspy", "pandapower", "dask", "fastapi", "uvicorn", "sqlalchemy", "pandas",
         "scipy", "h2quarters.plc.plant", "h2quarters.plc.opcua_server")
PROBE = ("import atexit, sys\n"
         f"atexit.register(lambda: print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr))\n"
         "from h2quarters.cli import main\n"
         "sys.argv = ['h2q', *sys.argv[1:]]\n"
         "main()\n")


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused at once
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fault_command_imports_no_heavy_module() -> None:
    port = _closed_port()
    r = subprocess.run([sys.executable, "-c", PROBE, "plc", "fault", "list", "--dev", "--endpoint",
                        f"opc.tcp://127.0.0.1:{port}/h2quarters/plc"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 3 and "cannot reach the PLC" in r.stderr, r.stderr  # it really ran the command
    assert "HEAVY []" in r.stderr, r.stderr


def test_help_lists_every_lazy_command_and_unknown_is_refused() -> None:
    r = subprocess.run([sys.executable, "-c", PROBE, "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    listed = {line.strip("│ ").split()[0] for line in r.stdout.splitlines() if line.startswith("│ ") and
              line.strip("│ ")}
    assert set(LAZY_COMMANDS) <= listed, (set(LAZY_COMMANDS) - listed, r.stdout)
    assert "Users of the web HMI and API." in r.stdout  # summaries come from the loaded modules
    r = subprocess.run([sys.executable, "-c", PROBE, "no-such-command"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "No such command 'no-such-command'" in r.stderr, r.stderr
