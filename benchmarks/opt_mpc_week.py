"""MPC at the shipped settings: one week closed loop, once as is and once with two CPU-burning processes.

    .venv/bin/python benchmarks/opt_mpc_week.py --start 2025-01-13 --days 7      # January week
    .venv/bin/python benchmarks/opt_mpc_week.py --start 2025-06-02 --days 7      # June week

Settings: ``OptSettings()`` (the defaults, as ``h2q optimise --mode mpc`` uses them) with the scenario
``scenarios/oskar-von-miller``; 15-min steps, 48 h horizon, re-plan every step, perfect forecast. Both runs get
the same inputs; the second one runs while two ``while True: pass`` processes keep both cores busy. Printed
side by side: re-plan times (median / p99 / max, the first cold plan left out), capped re-plans (wall-clock
safety fired), work-limited re-plans, re-plans proven by the LP relaxation without a MIP run, warm starts accepted / rejected / ignored, worst gap, realised net
cost, the machine's load average, and whether the realised decisions are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "oskar-von-miller"
DECISIONS = ["ely_state", "ely_p_stack_kw", "fc_on", "fc_p_kw", "battery_p_charge_kw", "battery_p_discharge_kw"]


def run(start: str, days: float, overrides: dict | None = None) -> tuple[dict, np.ndarray]:
    """One closed loop; returns its statistics and the realised decisions."""
    import pandas as pd

    from h2quarters.config import load_scenario
    from h2quarters.opt.model import initial_state_from_plant
    from h2quarters.opt.mpc import run_closed_loop
    from h2quarters.opt.plant import PlantParams
    from h2quarters.opt.settings import OptSettings
    from h2quarters.sim.inputs import site_inputs

    sc = load_scenario(SCENARIO)
    s = OptSettings(**(overrides or {}))
    plant = PlantParams.from_scenario(sc, s)
    t0 = pd.Timestamp(start)
    n_h = round(s.mpc_horizon_h * 4)
    with warnings.catch_warnings():  # demandlib turns warnings into errors globally; keep that local
        inputs = site_inputs(sc, t0, t0 + pd.Timedelta(days=days) + pd.Timedelta(hours=s.mpc_horizon_h), "15min")
    st = initial_state_from_plant(plant)
    load0 = os.getloadavg()[0]
    w0 = time.perf_counter()
    cl = run_closed_loop(plant, inputs, round(days * 96), s, state=st, n_horizon=n_h)
    stats = cl.replan_stats()
    stats.update(wall_s=time.perf_counter() - w0, load_start=load0, load_end=os.getloadavg()[0],
                 net_cost_eur=cl.net_cost_eur(s, st.m_tank_kg, st.e_battery_kwh),
                 first_plan_s=cl.timings[0].total_s,
                 median_highs_s=float(np.median([t.highs_s for t in cl.timings[1:]])),
                 median_cpu_s=float(np.median([t.cpu_s for t in cl.timings[1:]])),
                 p99_cpu_s=float(np.percentile([t.cpu_s for t in cl.timings[1:]], 99)),
                 max_cpu_s=float(np.max([t.cpu_s for t in cl.timings[1:]])),
                 mean_nodes=float(np.mean([i.extra.get("mip_nodes", 0) for i in cl.infos[1:]])))
    return stats, cl.realised[DECISIONS].to_numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", default="2025-01-13")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--json", type=Path, default=None, help="write every number to this file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override an OptSettings field (e.g. --set mpc_integer_h=12); default: shipped settings")
    a = ap.parse_args()
    over = {k: json.loads(v) for k, v in (x.split("=", 1) for x in a.set)}
    plain, dec_plain = run(a.start, a.days, over)
    print("as is:", json.dumps(plain), flush=True)  # printed at once: the busy run can take long
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(2.0)
        busy, dec_busy = run(a.start, a.days, over)
        print("busy:", json.dumps(busy), flush=True)
    finally:
        for p in burners:
            p.kill()
            p.wait()
    same = bool(np.array_equal(dec_plain, dec_busy))
    diff = float(np.max(np.abs(dec_plain - dec_busy))) if dec_plain.shape == dec_busy.shape else float("nan")
    print(f"MPC closed loop, {'settings ' + str(over) if over else 'shipped settings'}, {a.start} + {a.days:g} d at 15 min "
          f"(48 h horizon, {int(plain['n_replans'])} re-plans)")
    print(f"{'':28s}{'as is':>14s}{'+2 CPU burners':>16s}")
    for k in ("load_start", "load_end", "median_replan_s", "p99_replan_s", "max_replan_s", "median_highs_s",
              "median_cpu_s", "p99_cpu_s", "max_cpu_s", "first_plan_s", "n_capped", "n_work_limited",
              "n_lp_accepted", "warm_starts_accepted", "warm_starts_rejected", "warm_starts_ignored",
              "warm_starts_unused", "worst_gap", "mean_nodes", "net_cost_eur", "wall_s"):
        print(f"{k:28s}{plain[k]:14.4g}{busy[k]:16.4g}")
    print(f"identical decisions: {same} (largest difference {diff:.3g})")
    if a.json:
        a.json.write_text(json.dumps({"start": a.start, "days": a.days, "as_is": plain, "busy": busy,
                                      "identical_decisions": same, "max_decision_diff": diff}, indent=2))


if __name__ == "__main__":
    main()
