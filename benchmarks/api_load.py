"""Benchmark: 50 concurrent HMI viewers against ``h2q serve`` while the control loop keeps its cycle.

The server runs as its own process (``h2q serve``: virtual PLC, controller in AUTO with 1-s cycle, SQLite store,
web app); the load comes from a second process. Each viewer does what the HMI does: one live stream (SSE) plus a
poll of ``/api/state`` every second and ``/api/alarms`` + a 15-min ``/api/history`` (two signals, 5-s buckets)
every 5 s. Reported: request latency p50/p95/p99 (target p95 < 200 ms), request rate, errors, and the control
loop's start jitter p99 over the same period compared with an unloaded baseline measured first in the same run.

Run: ``python benchmarks/api_load.py [--viewers 50] [--seconds 30] [--baseline 15]``
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


async def _viewer(base: str, token: str, t_end: float, lat: dict[str, list[float]], errors: list[str]) -> None:
    import httpx

    h = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=h, timeout=10) as c:
        async def stream() -> None:
            try:
                async with c.stream("GET", "/api/stream") as r:
                    async for _ in r.aiter_lines():
                        if time.monotonic() > t_end:
                            return
            except Exception as exc:  # noqa: BLE001
                errors.append(f"stream: {exc!r}")

        async def get(name: str, url: str) -> None:
            t0 = time.perf_counter()
            try:
                r = await c.get(url)
                ok = r.status_code == 200
            except Exception as exc:  # noqa: BLE001
                ok, r = False, exc
            lat.setdefault(name, []).append((time.perf_counter() - t0) * 1000.0)
            if not ok:
                errors.append(f"{name}: {getattr(r, 'status_code', r)}")

        st = asyncio.create_task(stream())
        k = 0
        await asyncio.sleep(np.random.default_rng().uniform(0, 1.0))  # viewers do not arrive in lockstep
        while time.monotonic() < t_end:
            tick = time.monotonic()
            await get("state", "/api/state")
            if k % 5 == 0:
                await get("alarms", "/api/alarms?limit=50")
                await get("history", "/api/history?signals=pv_power_kw,el_power_kw&bucket_s=5"
                                     f"&start={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() - 900))}")
            k += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        st.cancel()


async def _load(base: str, token: str, n: int, seconds: float) -> dict:
    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    t_end = time.monotonic() + seconds
    t0 = time.monotonic()
    await asyncio.gather(*(_viewer(base, token, t_end, lat, errors) for _ in range(n)))
    dt = time.monotonic() - t0
    allv = np.concatenate([np.asarray(v) for v in lat.values()]) if lat else np.zeros(1)
    per = {k: {"n": len(v), "p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)),
               "p99_ms": float(np.percentile(v, 99))} for k, v in lat.items()}
    return {"viewers": n, "seconds": dt, "requests": int(allv.size), "req_per_s": allv.size / dt,
            "p50_ms": float(np.percentile(allv, 50)), "p95_ms": float(np.percentile(allv, 95)),
            "p99_ms": float(np.percentile(allv, 99)), "errors": len(errors), "error_examples": errors[:5],
            "per_endpoint": per}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--baseline", type=float, default=15.0)
    ap.add_argument("--load-only", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.load_only:  # the second process (uvloop when installed, so the client is not the bottleneck)
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            run = asyncio.run
        print(json.dumps(run(_load(a.load_only[0], a.load_only[1], a.viewers, a.seconds))))
        return 0

    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="h2q-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv, pw = serve(["--port", str(port), "--db", f"sqlite:///{tmp}/h2q.db"])
    try:
        with httpx.Client(base_url=base, timeout=10) as c:
            tok, h = login(c, pw)
            base_stats = loop_stats(c, h, a.baseline, wait=True)
            load = subprocess.run([sys.executable, __file__, "--viewers", str(a.viewers), "--seconds",
                                   str(a.seconds), "--load-only", base, tok], capture_output=True, text=True,
                                  check=True, cwd=ROOT)
            res = json.loads(load.stdout.strip().splitlines()[-1])
            loop = loop_stats(c, h, a.seconds)
            mode = c.get("/api/state", headers=h).json()["mode"]
    finally:
        stop(srv, 20)
    print(f"api_load: {res['viewers']} viewers for {res['seconds']:.0f} s from a second process "
          f"({os.cpu_count()} CPUs)")
    print(f"  requests {res['requests']} ({res['req_per_s']:.0f}/s), errors {res['errors']} {res['error_examples']}")
    for k, v in res["per_endpoint"].items():
        print(f"  {k:8s} n={v['n']:5d}  p50 {v['p50_ms']:6.1f} ms  p95 {v['p95_ms']:6.1f} ms  p99 {v['p99_ms']:6.1f} ms")
    print(f"  all      p50 {res['p50_ms']:.1f} ms  p95 {res['p95_ms']:.1f} ms  p99 {res['p99_ms']:.1f} ms  "
          f"(target p95 < 200 ms: {'OK' if res['p95_ms'] < 200 else 'MISSED'})")
    ratio = loop["jitter_p99_ms"] / max(base_stats["jitter_p99_ms"], 1e-3)
    print(f"  control loop (cycle {loop['period_ms']:.0f} ms, mode {mode}): jitter p99 {loop['jitter_p99_ms']:.1f} ms "
          f"under load vs {base_stats['jitter_p99_ms']:.1f} ms baseline (ratio {ratio:.2f}); max "
          f"{loop['jitter_max_ms']:.1f} ms; overruns {loop['overruns']}")
    return 0 if res["p95_ms"] < 200 and res["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
