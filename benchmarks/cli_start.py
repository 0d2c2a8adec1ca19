"""Benchmark: how long a whole ``h2q`` call takes (process start, imports, work), before and after lazy loading.

Issue #15 asks that fault commands answer in ≤ 1 s as a whole CLI call. The baseline is the code of a git
revision before the lazy sub-command loading (``--baseline-rev``, extracted with ``git archive`` into a temporary
directory and run with ``PYTHONPATH`` pointing at it), measured in the same run, interleaved with the current
code so both see the same machine load. One virtual PLC (``h2q plc --dev``, free ports, private state file) is
started for the fault commands.

Measured per command and code version: median and max wall time and median CPU time (user + sys of the child
process), over ``--runs`` runs; printed with the ratio baseline/current and ``uptime`` load before and after.

Run: ``python benchmarks/cli_start.py [--runs 5] [--baseline-rev f1dcf14]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _serve import free_port  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
# -P: no working directory on sys.path, so PYTHONPATH alone decides which code version runs
H2Q = [sys.executable, "-P", "-c", "from h2quarters.cli import main; main()"]


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run one ``h2q`` call; (wall s, CPU s of the child, return code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run([*H2Q, *args], env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def version_of(env: dict[str, str]) -> str:
    """Where ``h2quarters`` is imported from under ``env`` (guards against measuring one version twice)."""
    return subprocess.run([sys.executable, "-P", "-c", "import h2quarters; print(h2quarters.__file__)"], env=env,
                          cwd=str(ROOT), capture_output=True, text=True, check=True).stdout.strip()


def start_plc(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a development-mode virtual PLC on free ports; (process, OPC UA endpoint)."""
    mb, ua = free_port(), free_port()
    p = subprocess.Popen([*H2Q, "plc", "--dev", "--speed", "60", "--modbus-port", str(mb), "--opcua-port", str(ua),
                          "--start", "2025-06-21T10:00", "--state-file", str(tmp / "state.json")],
                         cwd=str(ROOT), env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    assert p.stdout is not None
    seen = ""
    while "virtual PLC" not in seen:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"PLC exited early: {seen}")
        seen += line
    return p, f"opc.tcp://127.0.0.1:{ua}/h2quarters/plc"


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-rev", default="f1dcf14", help="git revision before lazy sub-command loading")
    a = ap.parse_args()
    print(f"load at start: {_load()}")
    tmp = Path(tempfile.mkdtemp(prefix="h2q-clistart-"))
    base_src = tmp / "baseline"
    base_src.mkdir()
    archive = subprocess.run(["git", "archive", a.baseline_rev], cwd=str(ROOT), capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive.stdout, check=True)
    env_new = {**os.environ, "PYTHONPATH": str(ROOT)}
    env_base = {**os.environ, "PYTHONPATH": str(base_src)}
    for env in (env_base, env_new):
        print(f"code under test: {version_of(env)}")
    assert version_of(env_base) != version_of(env_new)
    plc, ep = start_plc(tmp, env_new)
    commands = {
        "h2q --help": ["--help"],
        "h2q plc fault kinds": ["plc", "fault", "kinds"],
        "h2q plc fault list": ["plc", "fault", "list", "--dev", "--endpoint", ep],
        "h2q plc fault inject": ["plc", "fault", "inject", "h2_leak", "--value", "0.01", "--dev", "--endpoint", ep],
        "h2q plc fault clear": ["plc", "fault", "clear", "--dev", "--endpoint", ep],
    }
    res: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    try:
        for _ in range(a.runs):
            for name, args in commands.items():
                for version, env in (("baseline", env_base), ("current", env_new)):
                    res.setdefault((name, version), []).append(timed(args, env))
    finally:
        plc.terminate()
        plc.wait(15)
    print(f"{a.runs} runs each, baseline = git {a.baseline_rev} (eager imports), interleaved with the current code")
    print(f"{'command':<24}{'baseline wall med/max':>24}{'current wall med/max':>24}{'CPU base/cur':>16}"
          f"{'ratio wall':>12}{'ratio CPU':>11}  rc")
    for name in commands:
        b, c = res[(name, "baseline")], res[(name, "current")]
        bw, cw = statistics.median(x[0] for x in b), statistics.median(x[0] for x in c)
        bc, cc = statistics.median(x[1] for x in b), statistics.median(x[1] for x in c)
        rcs = sorted({x[2] for x in b}) + sorted({x[2] for x in c})
        print(f"{name:<24}{bw:>12.2f}/{max(x[0] for x in b):<6.2f} s{cw:>15.2f}/{max(x[0] for x in c):<6.2f} s"
              f"{bc:>8.2f}/{cc:.2f} s{bw / cw:>10.1f}x{bc / cc:>10.1f}x  {rcs}")
    print(f"load at end: {_load()}")


if __name__ == "__main__":
    main()
