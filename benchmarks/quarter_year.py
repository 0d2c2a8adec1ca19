"""Benchmark: the quarter's dispatch over a year (or its first ``--days``) — today's two-meter quarter optimiser
against the site MPC path it replaced (one meter, :class:`h2quarters.sim.mpc_dispatch.MPCDispatcher`), in the
same run.

Run: ``.venv/bin/python benchmarks/quarter_year.py [--days 365] [--json out.json]``

Both runs simulate the same quarter with the physical simulator and the power flow every step (no stress
cases, no runpp check); the site MPC needs ``metering: shared`` (it plans one connection), the quarter
optimiser runs with the scenario's per-building meters. Profiles are computed once and cached before timing
(a study's worker does the same). Printed: wall and CPU time of each, number of plans, mean time per plan,
the ratio, and the machine load (``os.getloadavg``) before and after — other jobs on the machine skew wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _run(q, method: str, end: str | None) -> dict:
    from h2quarters.quarter.simulate import simulate_quarter

    c0, t0 = time.process_time(), time.perf_counter()
    r = simulate_quarter(q, dispatch=method, end=end, check_steps=0, stress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = r.timings_s.get("optimiser_solves", 0.0) or float(len(r.dispatch_plans))
    return {"method": method, "metering": q.metering, "wall_s": wall, "cpu_s": cpu, "plans": n,
            "dispatch_s": r.timings_s["dispatch_and_physics_s"], "steps": len(r.timeseries),
            "bill_school_eur": r.kpis["bill_school_eur"], "bill_stz_eur": r.kpis["bill_stz_eur"],
            "h2_produced_kg": r.kpis["h2_produced_kg"], "fc_h2_kg": r.kpis["h2_delivered_to_stz_kg"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365, help="days from January 1st")
    parser.add_argument("--quarter", default=str(ROOT / "scenarios" / "wesertor"))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    from h2quarters.quarter.config import load_quarter
    from h2quarters.quarter.simulate import simulate_quarter

    q = load_quarter(args.quarter)
    end = None if args.days >= 365 else str(pd.Timestamp(q.year, 1, 1) + pd.Timedelta(days=args.days))
    simulate_quarter(q, dispatch="rule", end=str(pd.Timestamp(q.year, 1, 3)), check_steps=0, stress=False,
                     powerflow=False)  # warm the profile and grid caches
    load0 = os.getloadavg()
    new = _run(q, "optimiser", end)
    old = _run(q.model_copy(update={"metering": "shared"}), "site_mpc", end)
    load1 = os.getloadavg()
    out = {"days": args.days, "cpus": os.cpu_count(), "load_before": load0, "load_after": load1,
           "quarter_optimiser": new, "site_mpc": old, "ratio_wall": old["wall_s"] / new["wall_s"],
           "ratio_cpu": old["cpu_s"] / new["cpu_s"]}
    for r in (new, old):
        print(f"{r['method']:10s} ({r['metering']:12s}): wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
              f"{r['plans']:.0f} plans, {r['dispatch_s'] / max(r['plans'], 1) * 1000:6.0f} ms per plan incl. physics")
    print(f"site_mpc / quarter optimiser: wall {out['ratio_wall']:.2f}x, cpu {out['ratio_cpu']:.2f}x; "
          f"target ≤ 15 s per year; load {load0[0]:.1f} → {load1[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
