"""Benchmark: how long a whole ``h2q plc fault`` call takes (process start, imports, OPC UA session, call).

Issue #15 asks that fault commands answer in ≤ 1 s as a whole CLI call. Two virtual PLCs are started (free ports,
private state files, a temporary ``HOME`` so that the user's client certificate and data stay untouched):

- ``dev``: development mode, as ``make run`` serves OPC UA on 127.0.0.1 (no users file): the teacher's command is
  ``h2q plc fault ... --dev --endpoint <printed endpoint>``;
- ``prod``: production mode (Basic256Sha256 Sign&Encrypt, users file, the CLI's client certificate trusted with
  ``h2q plc trust``), the default profile of ``h2q plc``.

Each command runs under two code versions, interleaved so both see the same machine load: the current tree and
``--baseline-rev`` (default ``main``; extracted with ``git archive``, run with ``PYTHONPATH`` pointing at it).
The PLCs run the current code, so they serve the local fault channel (a Unix socket in a private
``XDG_RUNTIME_DIR``): the current CLI takes it (``--via auto``, the default), a baseline without it OPC UA. The rows
``... via opcua`` run the current CLI with ``--via opcua`` (current code only), the path a remote PLC takes.
Baselines measured in the same run: ``python -c pass`` (interpreter start), the import floors ``import typer``
+ its pydantic adapters and ``import asyncua``, and ``h2q --help``. Printed per command and version: median and
max wall time, median CPU time (user + sys of the child), ratios, and ``uptime`` before and after.

Run: ``python benchmarks/cli_start.py [--runs 5] [--baseline-rev main]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _serve import free_port  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
PY = [sys.executable, "-P"]  # -P: no working directory on sys.path, so PYTHONPATH alone decides the code version
H2Q = [*PY, "-c", "from h2quarters.cli import main; main()"]


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run one command; (wall s, CPU s of the child, return code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        stdin=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), rc


def version_of(env: dict[str, str]) -> str:
    """Where ``h2quarters`` is imported from under ``env`` (guards against measuring one version twice)."""
    return subprocess.run([*PY, "-c", "import h2quarters; print(h2quarters.__file__)"], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, check=True).stdout.strip()


def start_plc(tmp: Path, env: dict[str, str], name: str, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a virtual PLC on free ports; (process, OPC UA endpoint)."""
    mb, ua = free_port(), free_port()
    p = subprocess.Popen([*H2Q, "plc", "--speed", "60", "--modbus-port", str(mb), "--opcua-port", str(ua),
                          "--start", "2025-06-21T10:00", "--state-file", str(tmp / f"state-{name}.json"), *extra],
                         cwd=str(ROOT), env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    assert p.stdout is not None
    seen = ""
    while "virtual PLC" not in seen:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"PLC {name} exited early: {seen}")
        seen += line
    return p, f"opc.tcp://127.0.0.1:{ua}/h2quarters/plc"


def prod_setup(tmp: Path, env: dict[str, str]) -> list[str]:
    """Users file (an instructor), PLC settings in ``tmp`` and the CLI's client certificate trusted."""
    users, cfg = tmp / "users.yaml", tmp / "plc.yaml"
    subprocess.run([*PY, "-c", "import sys; from pathlib import Path; from h2quarters.plc.security import add_user;"
                    "add_user(Path(sys.argv[1]), 'teacher', 'teacher-password', 'instructor')", str(users)],
                   env=env, cwd=str(ROOT), check=True)
    cfg.write_text(f"security:\n  mode: production\n  cert_dir: {tmp / 'pki'}\n  users_file: {users}\n")
    subprocess.run([*H2Q, "plc", "trust", "--config", str(cfg)], env=env, cwd=str(ROOT), check=True,
                   stdout=subprocess.DEVNULL)
    return ["--config", str(cfg)]


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-rev", default="main", help="git revision to compare with (e.g. f1dcf14: eager "
                                                          "imports, before the lazy sub-commands)")
    a = ap.parse_args()
    print(f"load at start: {_load()}")
    tmp = Path(tempfile.mkdtemp(prefix="h2q-clistart-"))
    base_src = tmp / "baseline"
    base_src.mkdir()
    archive = subprocess.run(["git", "archive", a.baseline_rev], cwd=str(ROOT), capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive.stdout, check=True)
    home = tmp / "home"  # the CLI keeps its client certificate (and pinned PLC certificates) under ~/.local/share
    home.mkdir()
    run = tmp / "run"  # the PLCs' local fault sockets (not the user's /tmp/h2quarters-<uid>)
    common = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share"),
              "XDG_RUNTIME_DIR": str(run)}
    env_new = {**common, "PYTHONPATH": str(ROOT)}
    env_base = {**common, "PYTHONPATH": str(base_src)}
    for env in (env_base, env_new):
        print(f"code under test: {version_of(env)}")
    assert version_of(env_base) != version_of(env_new)
    plcs = [start_plc(tmp, env_new, "dev", ["--dev"]), start_plc(tmp, env_new, "prod", prod_setup(tmp, env_new))]
    (_, dev_ep), (_, prod_ep) = plcs
    login = ["--user", "teacher", "--password", "teacher-password"]
    fault = [*H2Q, "plc", "fault"]
    floors = {
        "python -c pass": [*PY, "-c", "pass"],
        "import typer + adapters": [*PY, "-c", "import typer, typer._adapters"],
        "import asyncua": [*PY, "-c", "import asyncua"],
    }
    commands = {
        "h2q --help": [*H2Q, "--help"],
        "fault list (dev)": [*fault, "list", "--dev", "--endpoint", dev_ep],
        "fault inject (dev)": [*fault, "inject", "h2_leak", "--value", "0.01", "--dev", "--endpoint", dev_ep],
        "fault clear (dev)": [*fault, "clear", "--dev", "--endpoint", dev_ep],
        "fault list (prod)": [*fault, "list", "--endpoint", prod_ep, *login],
        "fault inject (prod)": [*fault, "inject", "h2_leak", "--value", "0.01", "--endpoint", prod_ep, *login],
        "fault clear (prod)": [*fault, "clear", "--endpoint", prod_ep, *login],
    }
    current_only = {  # the same commands over OPC UA (a baseline without --via would refuse the option)
        "fault list (dev) via opcua": [*fault, "list", "--dev", "--endpoint", dev_ep, "--via", "opcua"],
        "fault inject (dev) via opcua": [*fault, "inject", "h2_leak", "--value", "0.01", "--dev", "--endpoint",
                                         dev_ep, "--via", "opcua"],
        "fault list (prod) via opcua": [*fault, "list", "--endpoint", prod_ep, *login, "--via", "opcua"],
        "fault inject (prod) via opcua": [*fault, "inject", "h2_leak", "--value", "0.01", "--endpoint", prod_ep,
                                          *login, "--via", "opcua"],
    }
    for args in commands.values():  # warm-up: .pyc files, the client certificate, the pinned PLC certificate
        for env in (env_base, env_new):
            timed(args, env)
    for args in current_only.values():
        timed(args, env_new)
    res: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    try:
        for _ in range(a.runs):
            for name, args in floors.items():
                res.setdefault((name, "floor"), []).append(timed(args, env_new))
            for name, args in commands.items():
                for version, env in (("baseline", env_base), ("current", env_new)):
                    res.setdefault((name, version), []).append(timed(args, env))
            for name, args in current_only.items():
                res.setdefault((name, "current"), []).append(timed(args, env_new))
    finally:
        for p, _ in plcs:
            p.terminate()
            p.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)  # the baseline's source tree, the PLCs' data and certificates

    def med(rows: list[tuple[float, float, int]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    ref = res[("h2q --help", "current")]
    print(f"{a.runs} runs each; baseline = git {a.baseline_rev}, interleaved with the current code; "
          f"CPU = user + sys of the process")
    print(f"{'floor (current env)':<26}{'wall med/max':>16}{'CPU med':>10}")
    for name in floors:
        r = res[(name, "floor")]
        print(f"{name:<26}{med(r, 0):>9.2f}/{max(x[0] for x in r):<5.2f} s{med(r, 1):>8.2f} s")
    print(f"{'command':<26}{'baseline wall med/max':>23}{'current wall med/max':>23}{'CPU base/cur':>15}"
          f"{'base/cur wall':>15}{'cur/--help CPU':>16}  rc")
    for name in commands:
        b, c = res[(name, "baseline")], res[(name, "current")]
        rcs = sorted({x[2] for x in b}) + sorted({x[2] for x in c})
        print(f"{name:<26}{med(b, 0):>14.2f}/{max(x[0] for x in b):<5.2f} s{med(c, 0):>15.2f}/"
              f"{max(x[0] for x in c):<5.2f} s{med(b, 1):>8.2f}/{med(c, 1):.2f} s{med(b, 0) / med(c, 0):>13.2f}x"
              f"{med(c, 1) / med(ref, 1):>15.2f}x  {rcs}")
    print(f"{'current code only':<31}{'wall med/max':>16}{'CPU med':>10}{'cur/--help CPU':>16}  rc")
    for name in current_only:
        c = res[(name, "current")]
        print(f"{name:<31}{med(c, 0):>9.2f}/{max(x[0] for x in c):<5.2f} s{med(c, 1):>8.2f} s"
              f"{med(c, 1) / med(ref, 1):>15.2f}x  {sorted({x[2] for x in c})}")
    print(f"load at end: {_load()}")


if __name__ == "__main__":
    main()
