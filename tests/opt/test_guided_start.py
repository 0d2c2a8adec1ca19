"""LP-guided start: a starting incumbent from the LP relaxation that leaves the model as it was."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.opt.model import (
    build_model,
    initial_state_from_plant,
    set_initial_state,
    set_inputs,
)
from h2quarters.opt.plan import plan
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import MatrixModel, lp_guided_start

from .checks import check_schedule
from .conftest import make_inputs, make_plant


def test_guided_start_restores_the_model_and_offers_a_feasible_start():
    plant = make_plant(startup_h=10 / 60)
    inputs = make_inputs(96, "1h", pv_peak_kw=6.0, load_kw=1.5, seed=3, h2_kg=0.01)
    settings = OptSettings(mip_rel_gap=1e-6, terminal_h2_eur_per_kg=6.0, min_up_h=2.0, min_down_h=2.0)
    m = build_model(plant, len(inputs), 1.0, settings)
    set_inputs(m, inputs)
    set_initial_state(m, initial_state_from_plant(plant))
    mm = MatrixModel(m, settings)
    before = mm.h.getLp()
    lo0, up0 = np.array(before.col_lower_), np.array(before.col_upper_)
    info, x0 = lp_guided_start(mm.h, mm.integer, 1e-6, 60.0)
    assert x0 is not None and len(x0) == mm.n_cols
    after = mm.h.getLp()
    np.testing.assert_array_equal(np.array(after.col_lower_), lo0)
    np.testing.assert_array_equal(np.array(after.col_upper_), up0)
    assert mm.h.getOptionValue("mip_rel_gap")[1] == pytest.approx(1e-6)
    assert info["n_fixed"] > 0.5 * mm.n_int  # with the hull cuts most binaries are integral in the LP
    assert info["lp_objective"] <= info["start_objective"] + 1e-9  # the LP bounds the start from below
    res = mm.solve(m)  # (guided start 'auto' does not apply to this small model: a plain HiGHS run)
    assert res.status == "optimal"
    assert info["lp_objective"] - 1e-9 <= res.objective <= info["start_objective"] + 1e-9


def test_plan_with_and_without_guided_start_agree():
    plant = make_plant(startup_h=10 / 60)
    inputs = make_inputs(72, "1h", pv_peak_kw=6.0, load_kw=1.5, seed=5)
    tight = dict(mip_rel_gap=1e-7, terminal_h2_eur_per_kg=6.0, min_up_h=2.0)
    on = plan(plant, inputs, OptSettings(lp_guided_start="on", **tight))
    off = plan(plant, inputs, OptSettings(lp_guided_start="off", **tight))
    assert "lp_guided_start" in on.summary and "lp_guided_start" not in off.summary
    # gap 1e-7: the LP bound cannot prove the start, HiGHS ran the full MILP
    assert on.summary["proven_by"] == "highs"
    assert on.summary["objective"] == pytest.approx(off.summary["objective"], rel=1e-6, abs=1e-6)
    st = initial_state_from_plant(plant)
    check_schedule(on.schedule, plant, 1.0, st.m_tank_kg, st.e_battery_kwh, min_up_h=2.0)


def test_start_proven_by_the_lp_bound_skips_the_full_milp():
    plant = make_plant(startup_h=10 / 60)
    inputs = make_inputs(72, "1h", pv_peak_kw=12.0, load_kw=2.0, seed=5)
    loose = plan(plant, inputs, OptSettings(lp_guided_start="on", mip_rel_gap=0.05, terminal_h2_eur_per_kg=6.0))
    exact = plan(plant, inputs, OptSettings(lp_guided_start="off", mip_rel_gap=1e-9, terminal_h2_eur_per_kg=6.0))
    s = loose.summary
    assert s["proven_by"] == "lp_relaxation"
    g = s["lp_guided_start"]
    assert s["objective_bound"] == pytest.approx(g["lp_objective"])
    assert s["objective"] == pytest.approx(g["start_objective"])
    # the claim holds: the returned plan is within 5 % of the true optimum, and the bound lies below it
    assert s["objective_bound"] <= exact.summary["objective"] + 1e-9
    assert s["objective"] - exact.summary["objective"] <= 0.05 * abs(s["objective"]) + 1e-9
    st = initial_state_from_plant(plant)
    check_schedule(loose.schedule, plant, 1.0, st.m_tank_kg, st.e_battery_kwh)
