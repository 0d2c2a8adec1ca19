"""MPC LP first: a re-plan taken from the LP relaxation (no MIP run) is a MIP plan proven within the gap."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.opt.model import ELY_ON, InitialState
from h2quarters.opt.mpc import RollingMPC, replan_stats
from h2quarters.opt.settings import OptSettings

from .conftest import make_inputs, make_plant

# measured states that need not follow the previous plan (so some shifted starts are infeasible and rejected)
STATES = [InitialState(1.0, 5.0), InitialState(0.8, 2.0, ELY_ON, 3.0, 1), InitialState(2.5, 8.0),
          InitialState(0.4, 1.0, ELY_ON, 4.8, 5), InitialState(1.6, 6.0)]


@pytest.mark.parametrize("integer_h", [None, 6.0])
def test_lp_first_plans_are_proven_within_the_gap_of_the_mip_optimum(integer_h):
    # the same sequence of re-plans once with LP first (shipped) and once as exact MIPs: every plan LP first
    # returned without a MIP run is feasible for the live model, its LP bound is below the exact optimum and
    # it is within the gap (0.10 EUR or 1 %) of that optimum; the summary counts these re-plans
    plant = make_plant(startup_h=10 / 60, m_reserve_kg=0.6)
    inputs = make_inputs(48, "1h", pv_peak_kw=9.0, h2_kg=0.004, seed=4)
    inputs["import_eur_per_kwh"] = 0.25 + 0.1 * np.sin(np.arange(48) / 24 * 2 * np.pi)
    base = dict(startup_cost_eur=0.3, terminal_h2_eur_per_kg=5.0, mpc_integer_h=integer_h)
    lp_first = RollingMPC(plant, OptSettings(**base), 1.0, 24)
    exact = RollingMPC(plant, OptSettings(**base, mpc_lp_first=False, mpc_mip_rel_gap=1e-9, mpc_mip_abs_gap=0.0,
                                          mpc_max_nodes=100_000), 1.0, 24)
    tol = max(lp_first.settings.mpc_mip_abs_gap, 0.0)
    n_proven = 0
    for i, st in enumerate(STATES):
        fc = inputs.iloc[3 * i:3 * i + 24]
        _, a = lp_first.solve(fc, st, warm_shift=3 if i else None)
        _, b = exact.solve(fc, st, warm_shift=3 if i else None)
        assert b.status == "optimal"
        assert a.objective >= b.objective - 1e-6  # nothing beats the optimum
        assert a.objective <= b.objective + max(tol, 0.01 * abs(a.objective)) + 1e-6
        if a.extra.get("proven_by") == "lp_relaxation":
            n_proven += 1
            assert a.extra["mip_nodes"] == 0 and a.extra["plan_from"] in ("lp_integral", "lp_rounded", "warm_start")
            assert a.bound <= b.objective + 1e-6  # the LP bound is a bound
            assert a.objective - a.bound <= max(tol, 0.01 * abs(a.objective)) + 1e-9
            d = lp_first._direct
            assert d.warm.violation(d._x, *d.row_bounds()) <= 1e-6  # a solution of the live MIP
    assert n_proven >= 2
    stats = replan_stats(lp_first.infos, lp_first.timings)
    assert stats["n_lp_accepted"] == n_proven
    assert replan_stats(exact.infos, exact.timings)["n_lp_accepted"] == 0
