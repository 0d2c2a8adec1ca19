"""Benchmark: the engineers' HMI/API and the control loop while two planners' jobs run on Dask.

``h2q serve`` runs as its own process (virtual PLC, controller in AUTO, 1-s cycle, SQLite, web app) with its
default job settings: a local Dask cluster started with the first job (``jobs_workers`` niced worker processes).
A second process plays HMI viewers as ``benchmarks/api_load.py`` does (live stream, ``/api/state`` every second,
alarms and a 15-min history every 5 s). First a baseline with no job, then the same load while two jobs run: a
Wesertor variant study (two weeks, rule dispatch) and a year's simulation of the school. Reported: request
latency p50/p95/p99 of both phases (target p95 < 200 ms under jobs) and the control loop's start jitter p99,
maximum and overruns of both phases, with ratios against the baseline measured in the same run.

Run: ``python benchmarks/planner_jobs.py [--viewers 10] [--seconds 30] [--workers 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from _serve import free_port, serve, stop  # noqa: E402


def _phase(base: str, tok: str, viewers: int, seconds: float) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "api_load.py"), "--viewers", str(viewers),
                          "--seconds", str(seconds), "--load-only", base, tok], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewers", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=1, help="jobs_workers of the server's local Dask cluster")
    a = ap.parse_args()
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="h2q-bench-plan-"))
    (tmp / "settings.yaml").write_text(f"jobs_workers: {a.workers}\njobs_max_active: 4\n", encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv, pw = serve(["--port", str(port), "--db", f"sqlite:///{tmp}/h2q.db", "--config", str(tmp / "settings.yaml")])
    jobs_info: list[dict] = []
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            tok = c.post("/api/auth/login", json={"name": "admin", "password": pw}).json()["access_token"]
            h = {"Authorization": f"Bearer {tok}"}
            time.sleep(3)
            t0 = time.time()
            base_res = _phase(base, tok, a.viewers, a.seconds)
            base_loop = c.get(f"/api/loop?last={int(a.seconds)}", headers=h).json()
            # two jobs: a variant study of the quarter and a year of the school
            study = c.post("/api/plan/jobs", headers=h, json={
                "scenario": "shipped:wesertor", "kind": "quarter_study", "start": "2025-06-02", "days": 14,
                "dispatch": "rule", "vary": {"pv_kwp": [60, 99], "tank_kg": [20, 40]}, "report": False}).json()
            year = c.post("/api/plan/jobs", headers=h, json={"scenario": "shipped:oskar-von-miller",
                                                             "kind": "simulate"}).json()
            ids = [study["id"], year["id"]]
            t_sub = time.monotonic()
            while True:  # until both run on the workers (the cluster starts with the first job)
                st = [c.get(f"/api/plan/jobs/{i}", headers=h).json() for i in ids]
                if all(j["status"] == "running" for j in st) and any(j["progress"]["n_running"] for j in st):
                    break
                if time.monotonic() - t_sub > 180:
                    raise RuntimeError(f"jobs did not start: {[(j['status'], j['message']) for j in st]}")
                time.sleep(0.5)
            t_start = time.monotonic() - t_sub
            load_res = _phase(base, tok, a.viewers, a.seconds)
            load_loop = c.get(f"/api/loop?last={int(a.seconds)}", headers=h).json()
            load_loop["overruns"] -= base_loop["overruns"]  # the counter runs since start: this phase's only
            st = [c.get(f"/api/plan/jobs/{i}", headers=h).json() for i in ids]
            jobs_info = [{"kind": j["kind"], "status": j["status"], "done": j["progress"]["n_done"],
                          "of": j["progress"]["n_total"]} for j in st]
            cluster = c.get("/api/plan/cluster", headers=h).json()
            for i in ids:  # leave nothing running
                c.post(f"/api/plan/jobs/{i}/cancel", headers=h)
    finally:
        stop(srv, 30)
    print(f"planner_jobs: {a.viewers} HMI viewers for {a.seconds:.0f} s per phase ({os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f} at the end; run took {time.time() - t0:.0f} s)")
    print(f"  Dask: {cluster['scheduler']} with {cluster['workers']} worker(s); both jobs running "
          f"{t_start:.1f} s after submission; at the end of the phase: {jobs_info}")
    for name, r, lp in (("baseline (no job)", base_res, base_loop), ("two jobs running", load_res, load_loop)):
        print(f"  {name:18s} requests {r['requests']:5d} errors {r['errors']}  p50 {r['p50_ms']:6.1f} ms  "
              f"p95 {r['p95_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms | loop jitter p99 {lp['jitter_p99_ms']:6.1f} ms "
              f"max {lp['jitter_max_ms']:6.1f} ms overruns {lp['overruns']}")
    print(f"  ratios (jobs / baseline): p95 {load_res['p95_ms'] / max(base_res['p95_ms'], 1e-3):.2f}, loop jitter p99 "
          f"{load_loop['jitter_p99_ms'] / max(base_loop['jitter_p99_ms'], 1e-3):.2f}")
    ok = load_res["p95_ms"] < 200 and load_res["errors"] == 0 and load_loop["overruns"] == 0
    print(f"  target p95 < 200 ms and no loop overrun while two jobs run: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
