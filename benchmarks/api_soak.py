"""Soak benchmark: the live pilot under viewers with ``kill -9`` of the server at intervals.

One ``h2q serve`` (virtual PLC at ``--speed``× plant time, controller started in AUTO, SQLite in a private data
directory) is watched by ``--viewers`` HMI viewers (live stream + state poll each second). Every ``--kill-every``
seconds the server is killed with SIGKILL and started again on the same data directory. Measured per kill:

- committed rows lost: the newest measurement time the server reported as committed (``stored_t_ms``) before the
  kill must be in the database afterwards, and every audited command confirmed by the API must still be there;
- orphans: child processes of the killed server (MPC worker, resource tracker) still alive 10 s after the kill;
- auto resumes: any state the restarted server reports in AUTO or MANUAL before an operator command (it must
  stay OFF/SAFE until acknowledged); the benchmark then acknowledges SAFE and commands AUTO again, as an
  operator would, so the next period runs the plant.

Reported: kills, restarts, restart time (median/max), lost rows, orphans, unwanted AUTO/MANUAL, viewer request
count, errors outside the kill windows and request latency p50/p95 — plus ``uptime`` load.

Run: ``python benchmarks/api_soak.py [--minutes 60] [--kill-every 600] [--viewers 20] [--speed 10]``
(the issue's figure is the default; a shortened run, e.g. ``--minutes 6 --kill-every 120``, says so in its output).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from _serve import free_port, login, serve, stop  # benchmarks/ is on sys.path when run as a script


def start(data: Path, cfg: Path, speed: float) -> tuple[subprocess.Popen[str], str, str | None, float]:
    """Start ``h2q serve`` on a free port; (process, base URL, one-time admin password or None, seconds to listen)."""
    t0 = time.monotonic()
    port = free_port()
    p, pw = serve(["--data-dir", str(data), "--config", str(cfg), "--port", str(port), "--plc-port", "0",
                   "--plant-speed", str(speed)])
    return p, f"http://127.0.0.1:{port}", pw, time.monotonic() - t0


class Viewers:
    """``n`` viewer threads: each polls /api/state every second and keeps a live stream open."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.base = ""
        self.token = ""
        self.lat: list[float] = []
        self.errors = 0
        self.requests = 0
        self.paused = threading.Event()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self) -> None:
        while not self.stop.is_set():
            if self.paused.is_set() or not self.base:
                time.sleep(0.2)
                continue
            try:
                with httpx.Client(base_url=self.base, timeout=5,
                                  headers={"Authorization": "Bearer " + self.token}) as c:
                    while not self.stop.is_set() and not self.paused.is_set():
                        t0 = time.perf_counter()
                        r = c.get("/api/state")
                        self.requests += 1
                        if r.status_code != 200 and not self.paused.is_set():
                            self.errors += 1
                        self.lat.append(time.perf_counter() - t0)
                        with c.stream("GET", "/api/stream", params={"max_events": 1}) as s:
                            for _ in s.iter_lines():
                                pass
                        self.requests += 1
                        time.sleep(1.0)
            except httpx.HTTPError:
                if not self.paused.is_set():
                    self.errors += 1
                time.sleep(0.5)


def admin_token(base: str, pw: str | None) -> str:
    with httpx.Client(base_url=base, timeout=10) as c:
        return login(c, pw)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--kill-every", type=float, default=600.0, help="seconds between kill -9")
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--speed", type=float, default=10.0, help="plant time per wall-clock second")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="h2q-soak-"))
    data = tmp / "data"
    cfg = tmp / "control.yaml"
    cfg.write_text("cycle_s: 1.0\nstart_mode: auto\nmpc_horizon_h: 6\nlogin_rate_per_min: 1000\n")
    proc, base, pw, t_start = start(data, cfg, a.speed)
    assert pw is not None
    viewers = Viewers(a.viewers)
    viewers.base, viewers.token = base, admin_token(base, pw)
    for th in viewers.threads:
        th.start()
    restarts: list[float] = [t_start]
    lost = orphans = unwanted = kills = 0
    confirmed: list[str] = []
    t_end = time.monotonic() + a.minutes * 60
    next_kill = time.monotonic() + a.kill_every
    i = 0
    while time.monotonic() < t_end:
        time.sleep(1.0)
        h = {"Authorization": "Bearer " + viewers.token}
        try:  # an operator's command every few seconds: each confirmed one must survive the kill
            with httpx.Client(base_url=base, timeout=5) as c:
                cid = f"soak-{i:07d}"
                i += 1
                st = c.get("/api/state", headers=h).json()
                stored = st.get("stored_t_ms")
                if st.get("mode") == "manual":
                    r = c.post("/api/setpoints", headers=h, json={"name": "ventilation_setpoint_pct",
                                                                  "value": float(i % 50), "command_id": cid})
                    if r.status_code == 200:
                        confirmed.append(cid)
        except httpx.HTTPError:
            stored = None
        if time.monotonic() < next_kill:
            continue
        # ---- kill -9
        kids = psutil.Process(proc.pid).children(recursive=True)
        viewers.paused.set()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        kills += 1
        time.sleep(10)
        orphans += sum(1 for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE)
        db = sqlite3.connect(str(data / "h2q.db"))
        if stored is not None and db.execute("SELECT count(*) FROM measurements WHERE t_ms = ?",
                                             (int(stored),)).fetchone()[0] == 0:
            lost += 1
        have = {r[0] for r in db.execute("SELECT command_id FROM commands")}
        lost += sum(1 for c in confirmed if c not in have)
        db.close()
        proc, base, _pw, t_start = start(data, cfg, a.speed)
        restarts.append(t_start)
        viewers.base, viewers.token = base, admin_token(base, pw)
        h = {"Authorization": "Bearer " + viewers.token}
        with httpx.Client(base_url=base, timeout=10) as c:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:  # watch: it must not resume by itself
                s = c.get("/api/state", headers=h)
                if s.status_code == 200 and s.json()["mode"] in ("auto", "manual"):
                    unwanted += 1
                time.sleep(0.2)
            # the operator acknowledges and resumes: MANUAL with a setpoint (commands audited)
            c.post("/api/safe/ack", headers=h, json={})
            c.post("/api/mode", headers=h, json={"mode": "manual"})
        viewers.paused.clear()
        next_kill = time.monotonic() + a.kill_every
    viewers.stop.set()
    stop(proc, 30)
    lat = np.asarray(viewers.lat) * 1000
    out: dict[str, Any] = {
        "minutes": a.minutes, "kill_every_s": a.kill_every, "viewers": a.viewers, "speed": a.speed,
        "shortened": a.minutes < 60, "kills": kills, "restart_s_median": float(np.median(restarts)),
        "restart_s_max": float(np.max(restarts)), "committed_rows_lost": lost, "orphans": orphans,
        "resumed_auto_or_manual_by_itself": unwanted, "confirmed_commands": len(confirmed),
        "viewer_requests": viewers.requests, "viewer_errors_outside_kills": viewers.errors,
        "state_p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "state_p95_ms": float(np.percentile(lat, 95)) if len(lat) else None,
        "uptime": os.popen("uptime").read().strip(),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
