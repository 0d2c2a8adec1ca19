"""The valid cuts (per-step hull cuts, fuel-cell reserve memory) keep the optimum and tighten the LP."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.opt.model import (
    build_model,
    hull_values,
    initial_state_from_plant,
    set_initial_state,
    set_inputs,
)
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import MatrixModel

from .conftest import make_inputs, make_plant, solve_lp_relaxation


def _solve(plant, inputs, settings, hull_cuts: bool, dt_h: float = 1.0) -> tuple[float, float]:
    """(MILP optimum, LP-relaxation optimum) of one model."""
    m = build_model(plant, len(inputs), dt_h, settings, hull_cuts=hull_cuts)
    set_inputs(m, inputs)
    set_initial_state(m, initial_state_from_plant(plant))
    mm = MatrixModel(m, settings)
    milp = mm.solve(m)
    assert milp.status == "optimal"
    return milp.objective, solve_lp_relaxation(mm).getInfo().objective_function_value


@pytest.mark.parametrize(("battery", "closed_frac"), [(False, 0.5), (True, 0.2)])
def test_cuts_keep_the_optimum_and_raise_the_lp_bound(battery, closed_frac):
    # (a battery buffers the step's surplus, so the cuts close less of the gap with one)
    plant = make_plant(battery=battery, startup_h=10 / 60)
    # PV barely above the load in the shoulders: where a fractional 'on' profits most in the LP
    inputs = make_inputs(48, "1h", pv_peak_kw=5.0, load_kw=1.5, seed=7)
    settings = OptSettings(mip_rel_gap=1e-9, terminal_h2_eur_per_kg=6.0, startup_cost_eur=0.5)
    with_cuts, lp_cuts = _solve(plant, inputs, settings, True)
    without, lp_plain = _solve(plant, inputs, settings, False)
    assert with_cuts == pytest.approx(without, rel=1e-7, abs=1e-7)
    gap_plain = (without - lp_plain) / abs(without)
    gap_cuts = (with_cuts - lp_cuts) / abs(with_cuts)
    assert lp_cuts >= lp_plain - 1e-9
    assert gap_plain > 0.01  # the plain relaxation is loose on this day …
    assert gap_cuts < (1.0 - closed_frac) * gap_plain  # … the cuts close a good part of it


def test_hull_values_by_hand():
    plant = make_plant()
    ely, w = plant.electrolyser, plant.tank.w_comp_kwh_per_kg
    p_on_min = ely.p_min_kw + ely.p_bop_kw + w * float(ely.curve.y[0])
    p_on_max = float(ely.curve.x[-1]) + ely.p_bop_kw + w * float(ely.curve.y[-1])
    pv = np.array([[0.0, 1.0, 3.0, 20.0]])
    load = np.full(4, 1.5)
    v = hull_values(plant, pv, load)
    # night: the load must be bought whatever the state; producing adds its least power
    assert v["need_off_kw"][0] == pytest.approx(1.5)
    assert v["need_off_kw"][0] + v["need_on_kw"][0] == pytest.approx(1.5 + p_on_min)
    # 1.5 kW surplus: nothing to buy when off, the rest of the least producing power when producing
    assert v["need_off_kw"][2] == 0.0
    assert v["need_on_kw"][2] == pytest.approx(max(0.0, p_on_min - 1.5))
    assert v["spill_off_kw"][2] == pytest.approx(1.5)
    assert v["spill_off_kw"][2] + v["spill_on_kw"][2] == pytest.approx(0.0)
    # 18.5 kW surplus: even at full load the rest must go out
    assert v["spill_off_kw"][3] + v["spill_on_kw"][3] == pytest.approx(18.5 - p_on_max)
    assert v["spill_off_kw"][3] + v["spill_sb_kw"][3] == pytest.approx(18.5 - ely.p_standby_kw)
    # fuel cell: it can cover the night's 1.5 kW (up to its rated power), nothing where PV covers the load
    assert v["fc_need_kw"][0] == pytest.approx(min(1.5, plant.fuel_cell.p_rated_kw))
    assert v["fc_need_kw"][1] == pytest.approx(min(0.5, plant.fuel_cell.p_rated_kw))
    assert v["fc_need_kw"][2] == 0.0 and v["fc_need_kw"][3] == 0.0


@pytest.mark.parametrize("h2_kg", [0.0, 0.004])
def test_reserve_memory_keeps_the_optimum_and_raises_the_winter_bound(h2_kg):
    # winter: little PV, the fuel cell covers the load from the tank down to its reserve (1.0 kg)
    plant = make_plant(battery=False, m_init_kg=2.2, m_reserve_kg=1.0)
    inputs = make_inputs(96, "15min", pv_peak_kw=1.0, load_kw=1.2, h2_kg=h2_kg, seed=11)
    settings = OptSettings(mip_rel_gap=1e-9, terminal_h2_eur_per_kg=1.0)
    with_cuts, lp_cuts = _solve(plant, inputs, settings, True, dt_h=0.25)
    without, lp_plain = _solve(plant, inputs, settings, False, dt_h=0.25)
    assert with_cuts == pytest.approx(without, rel=1e-7, abs=1e-7)
    assert lp_cuts > lp_plain + 1e-3 * abs(without)  # the relaxation can no longer spend the reserve


def test_reserve_memory_cut_setting():
    plant = make_plant(battery=False, m_reserve_kg=1.0)
    for value, n, expected in (("auto", 96, True), ("off", 96, False), ("on", 2400, True), ("auto", 2400, False)):
        m = build_model(plant, n, 0.25, OptSettings(reserve_memory_cut=value))
        assert hasattr(m, "c_res_mem") == expected, (value, n)


def test_reserve_memory_holds_on_optimal_schedules():
    from h2quarters.opt.plan import plan

    plant = make_plant(battery=False, m_init_kg=2.2, m_reserve_kg=1.0)
    inputs = make_inputs(96, "15min", pv_peak_kw=1.0, load_kw=1.2, h2_kg=0.004, seed=11)
    res = plan(plant, inputs, OptSettings(mip_rel_gap=1e-9, terminal_h2_eur_per_kg=1.0))
    sch = res.schedule
    assert sch.fc_on.sum() > 0  # the fuel cell does run …
    m_start = np.concatenate([[2.2], sch.tank_m_end_kg.to_numpy()[:-1]])
    on = sch.fc_on.to_numpy() == 1
    assert (m_start[on] >= 1.0 - 1e-6).all()  # … only from a tank at or above its reserve
