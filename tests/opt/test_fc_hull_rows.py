"""The fuel cell's hull rows (per-chord segment rows, reserve big-M from the floor) cut off no integral schedule.

Validity is checked the way a cut must be valid: with every binary fixed to an integral value — the optimum's and
random neighbours of it — the model with the rows and the model without them have the same continuous optimum
(or are both infeasible). The LP relaxation, where the binaries are free, must get tighter.
"""

from __future__ import annotations

import highspy
import numpy as np
import pytest

from h2quarters.opt.model import build_model, initial_state_from_plant, set_initial_state, set_inputs
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import MatrixModel

from .conftest import make_inputs, make_plant, solve_lp_relaxation

ROWS = ("c_fc_seg_k", "c_res_tight")


@pytest.fixture(scope="module")
def winter():
    """A dim day at 15 min: the fuel cell covers the load from the tank down to exactly its 1 kg reserve (no
    hydrogen demand, so a reserve row that were too strong would cut off the optimum: checked by hand with a 3×
    coefficient, which the validity test below rejects).

    Returns the two compiled models (with and without the rows) and the optimum's column values."""
    plant = make_plant(battery=False, m_init_kg=1.6, m_reserve_kg=1.0, startup_h=10 / 60)
    inputs = make_inputs(96, "15min", pv_peak_kw=4.0, load_kw=1.2, seed=5)
    settings = OptSettings(mip_rel_gap=1e-3, terminal_h2_eur_per_kg=4.0, fc_hull_rows="on")
    models = {}
    for with_rows in (True, False):
        m = build_model(plant, len(inputs), 0.25, settings)
        set_inputs(m, inputs)
        set_initial_state(m, initial_state_from_plant(plant))
        assert all(hasattr(m, r) for r in ROWS)
        if not with_rows:
            for r in ROWS:
                getattr(m, r).deactivate()
        mm = MatrixModel(m, settings)
        models[with_rows] = (m, mm)
    info = models[True][1].solve(None)
    assert info.status == "optimal"
    return models, info, models[True][1].x


def _lp(mm: MatrixModel, fix: dict[int, float] | None = None) -> float | None:
    """Optimum of the model's LP relaxation with the given columns fixed (None if infeasible)."""
    lp = mm.h.getLp()
    lp.integrality_ = []
    if fix:
        lo, up = np.asarray(lp.col_lower_, float), np.asarray(lp.col_upper_, float)
        idx = np.fromiter(fix.keys(), int)
        lo[idx] = up[idx] = np.fromiter(fix.values(), float)
        lp.col_lower_, lp.col_upper_ = lo, up
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(h.getInfo().objective_function_value)


def _binaries(m, mm) -> dict[str, list[int]]:
    return {name: [mm.col_pos[id(v)] for v in getattr(m, name).values()] for name in ("on", "sb", "fc_on")}


def test_rows_remove_no_integral_schedule(winter):
    models, opt, x = winter
    (m1, mm1), (m0, mm0) = models[True], models[False]
    assert mm1.n_rows > mm0.n_rows
    b1, b0 = _binaries(m1, mm1), _binaries(m0, mm0)
    rng = np.random.default_rng(3)
    n_feasible = 0
    for trial in range(12):
        vals = {k: np.round(x[v]).astype(float) for k, v in b1.items()}
        if trial:  # random neighbours of the optimum: flip a few fuel-cell and electrolyser decisions
            for k in ("fc_on", "on"):
                flip = rng.random(len(vals[k])) < 0.08
                vals[k][flip] = 1.0 - vals[k][flip]
            vals["sb"][vals["on"] == 1.0] = 0.0  # (one state at a time)
        fix1 = {j: v for k in vals for j, v in zip(b1[k], vals[k])}
        fix0 = {j: v for k in vals for j, v in zip(b0[k], vals[k])}
        with_rows, without = _lp(mm1, fix1), _lp(mm0, fix0)
        assert (with_rows is None) == (without is None), trial
        if with_rows is not None:
            n_feasible += 1
            assert with_rows == pytest.approx(without, rel=1e-9, abs=1e-9), trial
    assert n_feasible >= 4  # the check is not vacuous
    assert opt.objective == pytest.approx(_lp(mm1, {j: round(x[j]) for v in b1.values() for j in v}), abs=1e-7)


def test_rows_tighten_the_relaxation(winter):
    models, opt, _ = winter
    (m1, mm1), (m0, mm0) = models[True], models[False]
    lp_rows, lp_plain = _lp(mm1), _lp(mm0)
    milp = opt.objective
    assert lp_plain <= lp_rows + 1e-9 <= milp + 1e-5 * abs(milp)
    # the rows close a real part of what the other cuts leave open
    assert lp_rows - lp_plain > 0.1 * (milp - lp_plain)
    # and a fractional fuel cell no longer beats the best point of its own curve
    x = np.asarray(solve_lp_relaxation(mm1).getSolution().col_value, float)
    fc = m1.plant.fuel_cell
    best = float(np.min(fc.curve.y / fc.curve.x))  # least hydrogen per kW of electrical output on the curve
    kwh = kg = 0.0
    for t in m1.T:
        on = x[mm1.col_pos[id(m1.fc_on[0, t])]]
        d = [x[mm1.col_pos[id(m1.dfc[0, t, k])]] for k in m1.KF]
        kwh += fc.p_min_kw * on + sum(d)
        kg += float(fc.curve.y[0]) * on + sum(float(s) * dk for s, dk in zip(fc.curve.slopes, d))
    assert kwh > 0.5
    assert kg / kwh >= best - 1e-9


def test_fc_hull_rows_setting(monkeypatch):
    import h2quarters.opt.model as model_module

    monkeypatch.setattr(model_module, "RESERVE_CUT_MAX_STEPS", 48)  # (small models: the switch, not the size)
    plant = make_plant(battery=False, m_reserve_kg=1.0)
    for value, n, expected in (("auto", 48, True), ("off", 48, False), ("on", 60, True), ("auto", 60, False)):
        m = build_model(plant, n, 0.25, OptSettings(fc_hull_rows=value))
        assert hasattr(m, "c_fc_seg_k") == expected and hasattr(m, "c_res_tight") == expected, (value, n)
    m = build_model(plant, 48, 0.25, OptSettings(fc_hull_rows="on"), hull_cuts=False)  # (switch for all cuts)
    assert not hasattr(m, "c_fc_seg_k")
    assert not hasattr(build_model(plant, 48, 0.25, OptSettings()), "c_fc_seg_k")  # off by default (see settings)
