"""Benchmark: annual simulation of the default scenario at 15-min steps.

Run: ``.venv/bin/python benchmarks/sim_annual.py [--repeat N]``

Measured in one run and printed as ratios against the hourly year (the baseline):
input-table build, the step loop at 1 h and at 15 min, time per step, and balance closure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from h2quarters.config import load_scenario
from h2quarters.sim.annual import balance_residuals, simulate
from h2quarters.sim.inputs import site_inputs

ROOT = Path(__file__).resolve().parents[1]


def _time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "oskar-von-miller"))
    args = parser.parse_args()
    scn = load_scenario(args.scenario)
    rows = []
    for freq in ("1h", "15min"):
        t_in, inputs = _time(lambda f=freq: site_inputs(scn, "2025-01-01", "2026-01-01", f), args.repeat)
        t_sim, result = _time(lambda i=inputs: simulate(scn, inputs=i), args.repeat)
        res = balance_residuals(result)
        rel_e = float((res.electric_kw.abs() / res.electric_scale_kw).max())
        rel_h = float((res.h2_kg.abs() / res.h2_scale_kg).max())
        rows.append((freq, len(inputs), t_in, t_sim, rel_e, rel_h))
    base_in, base_sim = rows[0][2], rows[0][3]
    print(f"annual simulation, {scn.name}, median of {args.repeat}")
    print(f"{'step':>6} {'steps':>7} {'inputs s':>9} {'x base':>7} {'loop s':>8} {'x base':>7} "
          f"{'us/step':>8} {'energy err':>11} {'H2 err':>9}")
    for freq, n, t_in, t_sim, rel_e, rel_h in rows:
        print(f"{freq:>6} {n:>7} {t_in:>9.3f} {t_in / base_in:>7.2f} {t_sim:>8.3f} {t_sim / base_sim:>7.2f} "
              f"{1e6 * t_sim / n:>8.1f} {rel_e:>11.1e} {rel_h:>9.1e}")


if __name__ == "__main__":
    main()
