"""Benchmark: the quarter's yearly power flows — fast path vs pandapower ``run_timeseries``.

Run: ``.venv/bin/python benchmarks/quarter_powerflow.py [--steps 8760] [--json out.json]``

Same grid (SimBench 1-LV-urban6--0-sw with the Wesertor buildings) and the same per-building injections (the
default scenario's year with the rule dispatch, so the benchmark does not depend on the optimiser) go to

* the fast path: lightsim2grid ``TimeSeriesCPP`` (Newton-Raphson, KLU) for all steps in one call plus numpy
  branch flows from pandapower's own ``Yf``/``Yt`` (:func:`h2quarters.quarter.grid.powerflow_fast`), and
* pandapower's ``run_timeseries`` with ``ConstControl`` on load p/q and sgen p and an ``OutputWriter``
  (:func:`h2quarters.quarter.grid.powerflow_run_timeseries`).

Both use a 1e-10 MVA tolerance. Printed: wall time of each, speed-up (target ≥ 10×), and the largest
differences of bus voltage (p.u.), angle, line and transformer loading (%) and MV exchange over all steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=8760, help="steps of the year (from January 1st)")
    parser.add_argument("--quarter", default=str(ROOT / "scenarios" / "wesertor"))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    from h2quarters.quarter import grid as qgrid
    from h2quarters.quarter.simulate import simulate_quarter

    t0 = time.perf_counter()
    res = simulate_quarter(args.quarter, dispatch="rule", powerflow=False)
    prep_s = time.perf_counter() - t0
    n = min(args.steps, len(res.timeseries))
    load = res.building_load_kw[:n] / 1000.0
    gen = res.building_gen_kw[:n] / 1000.0
    idx = res.timeseries.index[:n]
    qnet = res.qnet

    fast = qgrid.powerflow_fast(qnet, load, gen, idx)  # includes building the lightsim2grid model
    ref = qgrid.powerflow_run_timeseries(qnet, load, gen, idx)
    out = {
        "grid": res.quarter.grid.code, "buses": len(qnet.net.bus), "lines": len(qnet.net.line),
        "buildings": len(qnet.building_names), "steps": n, "inputs_prep_s": round(prep_s, 2),
        "fast_s": round(fast.runtime_s, 3), "fast_ms_per_step": round(1000 * fast.runtime_s / n, 4),
        "run_timeseries_s": round(ref.runtime_s, 2), "run_timeseries_ms_per_step": round(1000 * ref.runtime_s / n, 3),
        "speedup": round(ref.runtime_s / fast.runtime_s, 1),
        "max_abs_dvm_pu": float(np.abs(fast.vm_pu - ref.vm_pu).max()),
        "max_abs_dva_degree": float(np.abs(fast.va_degree - ref.va_degree).max()),
        "max_abs_dline_loading_pct": float(np.abs(fast.line_loading_pct - ref.line_loading_pct).max()),
        "max_abs_dtrafo_loading_pct": float(np.abs(fast.trafo_loading_pct - ref.trafo_loading_pct).max()),
        "max_abs_dp_mv_kw": float(np.abs(fast.p_slack_mw - ref.p_slack_mw).max() * 1000),
        "v_min_pu": float(fast.vm_pu.min()), "trafo_loading_max_pct": float(fast.trafo_loading_pct.max()),
    }
    out["equal_results"] = out["max_abs_dvm_pu"] < 1e-6 and out["max_abs_dline_loading_pct"] < 1e-4
    out["target_10x_met"] = out["speedup"] >= 10.0
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
