"""Benchmark: a class of 30 learners and their teacher on ``h2q serve`` while the pilot's control loop keeps its cycle.

The server runs as its own process (``h2q serve``: virtual PLC, controller in AUTO with 1-s cycle, SQLite store,
web app, learning lab); the class comes from a second process. The teacher creates a lesson (E10 + E2, six groups,
60× plant speed) and polls the instructor view every 2 s; each learner joins with the code and a pseudonym, polls
their workspace (``/api/lab/me``) every 2 s like the page does and every ~4 s takes a measurement or answers.

Reported: latency p50/p95/p99 of the learners' page actions (target p95 < 200 ms) for the class of 30, the same for
a baseline of one learner measured first in the same run (ratio), errors, and the control loop's start jitter p99
during each phase against an idle baseline.

Run: ``python benchmarks/lesson_load.py [--learners 30] [--seconds 30] [--baseline 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _serve import free_port, login, loop_stats, serve, stop  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "teacher-password-1"


async def _learner(c: object, i: int, code: str, t_end: float, lat: dict[str, list[float]], errors: list[str]) -> None:
    import httpx

    assert isinstance(c, httpx.AsyncClient)
    r = await c.post("/api/lab/join", json={"code": code, "pseudonym": f"Learner {i:02d}"})
    if r.status_code != 201:
        errors.append(f"join: {r.status_code} {r.text[:100]}")
        return
    h = {"X-Lab-Token": r.json()["token"]}
    c.cookies.clear()

    async def call(name: str, method: str, url: str, body: dict | None = None) -> None:
        t0 = time.perf_counter()
        try:
            resp = await c.request(method, url, json=body, headers=h)
            ok = resp.status_code < 300
        except Exception as exc:  # noqa: BLE001
            ok, resp = False, exc
        lat.setdefault(name, []).append((time.perf_counter() - t0) * 1000.0)
        if not ok:
            errors.append(f"{name}: {getattr(resp, 'status_code', resp)} {getattr(resp, 'text', '')[:100]}")

    await asyncio.sleep(np.random.default_rng(i).uniform(0, 2.0))  # learners do not click in lockstep
    k = 0
    await call("me", "GET", "/api/lab/me")  # the page's first load (with the exercises' texts)
    while time.monotonic() < t_end:
        tick = time.monotonic()
        await call("me", "GET", "/api/lab/me?brief=false")  # the page's poll
        if k % 2 == 1:
            if k % 4 == 1:
                await call("measure", "POST", "/api/lab/me/measure",
                           {"exercise": "E10", "measurement": "before" if k % 8 == 1 else "after"})
            else:
                await call("answer", "POST", "/api/lab/me/answer",
                           {"exercise": "E2", "quantity": "v_theo", "answer": f"{90 + k % 10} NL"})
        k += 1
        await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - tick)))


async def _teacher(c: object, h: dict, lesson: int, t_end: float, lat: dict[str, list[float]]) -> None:
    while time.monotonic() < t_end:
        t0 = time.perf_counter()
        await c.get(f"/api/lab/lessons/{lesson}", headers=h)  # type: ignore[attr-defined]
        lat.setdefault("teacher", []).append((time.perf_counter() - t0) * 1000.0)
        await asyncio.sleep(2.0)


async def _load(base: str, token: str, lesson: int, code: str, n: int, seconds: float, first: int) -> dict:
    import httpx

    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    t_end = time.monotonic() + seconds
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=n + 4)
    async with httpx.AsyncClient(base_url=base, timeout=15, limits=limits) as c:
        await asyncio.gather(_teacher(c, {"Authorization": f"Bearer {token}"}, lesson, t_end, lat),
                             *(_learner(c, first + i, code, t_end, lat, errors) for i in range(n)))
    dt = time.monotonic() - t0
    acts = [v for k, v in lat.items() if k != "teacher"]
    allv = np.concatenate([np.asarray(v) for v in acts]) if acts else np.zeros(1)
    per = {k: {"n": len(v), "p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)),
               "p99_ms": float(np.percentile(v, 99))} for k, v in lat.items()}
    return {"learners": n, "seconds": dt, "actions": int(allv.size), "p50_ms": float(np.percentile(allv, 50)),
            "p95_ms": float(np.percentile(allv, 95)), "p99_ms": float(np.percentile(allv, 99)),
            "errors": len(errors), "error_examples": errors[:5], "per_endpoint": per}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--baseline", type=float, default=10.0)
    ap.add_argument("--load-only", nargs=7, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.load_only:  # the second process
        base, tok, lesson, code, n, secs, first = a.load_only
        print(json.dumps(asyncio.run(_load(base, tok, int(lesson), code, int(n), float(secs), int(first)))))
        return 0

    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="h2q-bench-lab-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv, pw = serve(["--port", str(port), "--db", f"sqlite:///{tmp}/h2q.db"])

    def phase(n: int, secs: float, first: int) -> dict:
        out = subprocess.run([sys.executable, __file__, "--load-only", base, ttok, str(lid), code, str(n), str(secs),
                              str(first)], capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            _, ha = login(c, pw)
            c.post("/api/users", json={"name": "tina", "role": "teacher", "password": PASSWORD}, headers=ha)
            ttok, ht = login(c, PASSWORD, "tina")
            les = c.post("/api/lab/lessons", json={"class_name": "bench", "exercises": ["E10", "E2"],
                                                   "groups": list("ABCDEF"), "speed": 60}, headers=ht).json()
            lid, code = les["lesson_id"], les["code"]
            c.post(f"/api/lab/lessons/{lid}/start", headers=ht)
            c.post(f"/api/lab/lessons/{lid}/faults", json={"choice": "h2_leak"}, headers=ht)
            idle = loop_stats(c, ha, a.baseline, wait=True)
            one = phase(1, a.baseline, 100)
            loop_one = loop_stats(c, ha, a.baseline)
            res = phase(a.learners, a.seconds, 0)
            loop = loop_stats(c, ha, a.seconds)
            mode = c.get("/api/state", headers=ha).json()["mode"]
    finally:
        stop(srv, 20)
    load_avg = os.getloadavg()
    print(f"lesson_load: teacher + {res['learners']} learners for {res['seconds']:.0f} s from a second process "
          f"({os.cpu_count()} CPUs, load average {load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f})")
    print(f"  learner actions {res['actions']}, errors {res['errors']} {res['error_examples']}")
    for k, v in res["per_endpoint"].items():
        print(f"  {k:8s} n={v['n']:5d}  p50 {v['p50_ms']:6.1f} ms  p95 {v['p95_ms']:6.1f} ms  p99 {v['p99_ms']:6.1f} ms")
    ratio = res["p95_ms"] / max(one["p95_ms"], 1e-3)
    print(f"  learner actions p50 {res['p50_ms']:.1f} ms  p95 {res['p95_ms']:.1f} ms  p99 {res['p99_ms']:.1f} ms "
          f"(target p95 < 200 ms: {'OK' if res['p95_ms'] < 200 else 'MISSED'}); baseline 1 learner p95 "
          f"{one['p95_ms']:.1f} ms (ratio {ratio:.2f})")
    jr = loop["jitter_p99_ms"] / max(idle["jitter_p99_ms"], 1e-3)
    print(f"  control loop (cycle {loop['period_ms']:.0f} ms, mode {mode}): jitter p99 idle {idle['jitter_p99_ms']:.1f} ms, "
          f"1 learner {loop_one['jitter_p99_ms']:.1f} ms, class {loop['jitter_p99_ms']:.1f} ms (ratio {jr:.2f}); "
          f"max {loop['jitter_max_ms']:.1f} ms; overruns {loop['overruns']}")
    return 0 if res["p95_ms"] < 200 and res["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
