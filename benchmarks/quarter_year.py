"""Benchmark: the quarter's dispatch over a year (or ``--days`` from ``--start``) — the path of today (bundle
ordering policy on the forecast, each window's LP relaxation first) against the path before it (delivery binaries
in every window's MILP, warm-started on the live HiGHS model), in the same run; ``--cold`` adds the older path
(every window passed anew and solved cold).

Run: ``.venv/bin/python benchmarks/quarter_year.py [--days 365] [--cold] [--site-mpc] [--json out.json]``

Both runs simulate the same quarter (per-building meters, the scenario's gap) with the physical simulator and
the power flow every step (no stress cases, no runpp check). ``--site-mpc`` adds the one-meter site MPC that
preceded the quarter optimiser (it needs ``metering: shared``). Profiles are computed once and cached before
timing (a study's worker does the same). Printed: wall and CPU time of each run and of its plans, how many plans
started from the shifted previous plan, the ratio, the bills and hydrogen of both runs with their difference
against the MIP gap, and the machine load (``os.getloadavg``) before and after — other jobs on a shared machine
skew wall time far more than CPU time.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _run(q, method: str, start: str | None, end: str | None) -> dict:
    from h2quarters.quarter import meters
    from h2quarters.quarter.simulate import simulate_quarter

    made: list = []
    init = meters.MeterDispatcher.__init__

    def spy(self, *a, **k) -> None:  # keep the dispatcher to read its per-plan timings
        init(self, *a, **k)
        made.append(self)

    meters.MeterDispatcher.__init__ = spy
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        r = simulate_quarter(q, dispatch=method, start=start, end=end, check_steps=0, stress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        meters.MeterDispatcher.__init__ = init
    n = r.timings_s.get("optimiser_solves", 0.0) or float(len(r.dispatch_plans))
    k = r.kpis
    tr = q.supply.trailer
    label = method
    if method == "optimiser":
        label = ("policy+lp" if tr is not None and tr.ordering == "policy" and q.dispatch.lp_first
                 else "milp-orders/" + ("warm" if q.dispatch.warm_start else "cold"))
    out = {"label": label, "method": method, "metering": q.metering, "warm_start": q.dispatch.warm_start,
           "wall_s": wall, "trips": k.get("trailer_trips"), "lcoh_eur_per_kg": k.get("lcoh_eur_per_kg"),
           "lcoh_delivered_eur_per_kg": k.get("lcoh_delivered_eur_per_kg"), "h2_short_kg": k.get("fc_h2_short_kg"),
           "h2_balance_rel": k.get("balance_max_rel_h2"), "timings_s": dict(r.timings_s),
           "cpu_s": cpu, "plans": n, "dispatch_s": r.timings_s["dispatch_and_physics_s"], "steps": len(r.timeseries),
           "bill_school_eur": k["bill_school_eur"], "bill_stz_eur": k["bill_stz_eur"],
           "h2_produced_kg": k["h2_produced_kg"], "fc_h2_kg": k["h2_delivered_to_stz_kg"],
           "objective_sum_eur": float(sum(p["objective_eur"] for _, p in r.dispatch_plans))}
    if made:
        d = made[-1]
        out.update(plan_wall_s=float(np.sum(d.solve_times_s)), plan_cpu_s=float(np.sum(d.solve_cpu_s)),
                   plan_cpu_median_ms=float(np.median(d.solve_cpu_s) * 1000),
                   plan_cpu_max_ms=float(np.max(d.solve_cpu_s) * 1000),
                   starts=dict(collections.Counter(d.planner.warm_used)),
                   lp=dict(collections.Counter(d.planner.lp_used)),
                   max_plan_gap=float(max(p.get("mip_gap", 0.0) for _, p in r.dispatch_plans)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365, help="days from --start")
    parser.add_argument("--start", default=None, help="first day (default January 1st)")
    parser.add_argument("--quarter", default=str(ROOT / "scenarios" / "wesertor"))
    parser.add_argument("--site-mpc", action="store_true", help="also run the one-meter site MPC")
    parser.add_argument("--cold", action="store_true", help="also run the cold path (every window passed anew)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    from h2quarters.quarter.config import load_quarter
    from h2quarters.quarter.simulate import simulate_quarter

    q = load_quarter(args.quarter)
    start = pd.Timestamp(args.start) if args.start else pd.Timestamp(q.year, 1, 1)
    end = None if args.days >= 365 else str(start + pd.Timedelta(days=args.days))
    start_s = None if args.days >= 365 else str(start)
    simulate_quarter(q, dispatch="rule", end=str(pd.Timestamp(q.year, 1, 3)), check_steps=0, stress=False,
                     powerflow=False)  # warm the profile and grid caches
    load0 = os.getloadavg()

    def variant(warm: bool, policy: bool):
        d = q.dispatch.model_copy(update={"warm_start": warm, "lp_first": policy})
        sup = q.supply
        if sup.trailer is not None:
            ordering = "policy" if policy else "optimiser"
            sup = sup.model_copy(update={"trailer": sup.trailer.model_copy(update={"ordering": ordering})})
        return q.model_copy(update={"dispatch": d, "supply": sup})

    new = _run(variant(True, True), "optimiser", start_s, end)
    old = _run(variant(True, False), "optimiser", start_s, end)
    runs = [new, old]
    if args.cold:
        runs.append(_run(variant(False, False), "optimiser", start_s, end))
    if args.site_mpc:
        runs.append(_run(q.model_copy(update={"metering": "shared"}), "site_mpc", start_s, end))
    load1 = os.getloadavg()
    gap = q.dispatch.mip_rel_gap
    bill = lambda r: r["bill_school_eur"] + r["bill_stz_eur"]  # noqa: E731
    out = {"days": args.days, "start": str(start.date()), "cpus": os.cpu_count(), "load_before": load0,
           "load_after": load1, "mip_rel_gap": gap, "runs": runs,
           "ratio_wall": old["wall_s"] / new["wall_s"], "ratio_cpu": old["cpu_s"] / new["cpu_s"],
           "bill_diff_eur": bill(new) - bill(old),
           "objective_rel_diff": (new["objective_sum_eur"] - old["objective_sum_eur"])
           / max(abs(old["objective_sum_eur"]), 1e-9)}
    for r in runs:
        line = (f"{r['label']:17s} ({r['metering']:12s}): wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
                f"{r['plans']:.0f} plans")
        if "plan_cpu_s" in r:
            line += (f", plans cpu {r['plan_cpu_s']:6.1f} s (median {r['plan_cpu_median_ms']:.0f} ms, max "
                     f"{r['plan_cpu_max_ms']:.0f} ms), starts {r['starts']}, lp {r['lp']}")
        print(line)
        ts = r["timings_s"]
        print(f"{'':17s} rest (physics, power flow {ts.get('powerflow_fast_s', 0):.1f} s wall, KPIs): cpu "
              f"{r['cpu_s'] - r.get('plan_cpu_s', 0.0):.1f} s")
        lc = r["lcoh_eur_per_kg"]
        print(f"{'':17s} bills school {r['bill_school_eur']:.2f} + stz {r['bill_stz_eur']:.2f} EUR, "
              f"H2 {r['h2_produced_kg']:.2f} kg, fuel cell {r['fc_h2_kg']:.2f} kg, trips {r['trips']}, LCOH "
              f"{'n/a (period < 1 a)' if lc is None else f'{lc:.2f} EUR/kg'}, short {r['h2_short_kg']:.3f} kg, "
              f"H2 balance residual {r['h2_balance_rel']:.1e}")
    pct = lambda a, b: (a - b) / max(abs(b), 1e-9)  # noqa: E731
    print(f"before / today: wall {out['ratio_wall']:.2f}x, cpu {out['ratio_cpu']:.2f}x; today − before: bills "
          f"{out['bill_diff_eur']:+.2f} EUR ({pct(bill(new), bill(old)):+.2%}), H2 produced "
          f"{new['h2_produced_kg'] - old['h2_produced_kg']:+.1f} kg "
          f"({pct(new['h2_produced_kg'], old['h2_produced_kg']):+.1%}), "
          f"fuel cell H2 {pct(new['fc_h2_kg'], old['fc_h2_kg']):+.1%}, trips {new['trips']} vs {old['trips']}"
          + (f", LCOH {new['lcoh_eur_per_kg'] - old['lcoh_eur_per_kg']:+.2f} EUR/kg"
             if new["lcoh_eur_per_kg"] is not None and old["lcoh_eur_per_kg"] is not None else "")
          + f" (MIP gap {gap:.1%}); target ≤ 15 s per year; load {load0[0]:.1f} → {load1[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
