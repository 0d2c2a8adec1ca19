"""Quarter simulation: per-step energy, hydrogen and heat balances, grid check, dispatch options."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.quarter.simulate import heat_pump_cop, simulate_quarter
from h2quarters.sim.annual import balance_residuals


def test_balances_close_every_step(week_result) -> None:
    r = week_result
    ts = r.timeseries
    res = balance_residuals(r.site)
    assert (res.electric_kw.abs() / res.electric_scale_kw).max() < 1e-6
    assert (res.h2_kg.abs() / res.h2_scale_kg).max() < 1e-6
    # heat at the Stadtteilzentrum: fuel-cell heat used + backup = demand, backup never negative
    assert np.abs(ts.stz_heat_kw - ts.heat_from_fc_kw - ts.heat_backup_kw).max() < 1e-9
    assert (ts.heat_backup_kw >= -1e-12).all()
    # the heat pump delivers the backup heat at its COP
    assert np.allclose(ts.stz_heat_pump_kw * ts.stz_heat_pump_cop, ts.heat_backup_kw)
    # school + STZ meters together = the hydrogen site's net exchange + the heat pump
    split = ts.school_net_kw + ts.stz_net_kw - ts.stz_heat_pump_kw - (ts.grid_import_kw - ts.grid_export_kw)
    assert np.abs(split).max() < 1e-9
    # grid: MV exchange = Σ buildings + losses, every step
    net = r.building_load_kw.sum(axis=1) - r.building_gen_kw.sum(axis=1)
    mv = ts.grid_mv_import_kw - ts.grid_mv_export_kw
    assert np.abs(mv - net - ts.grid_losses_kw).max() < 1e-6
    assert np.abs(r.powerflow.losses_mw - r.powerflow.branch_losses_mw).max() < 1e-9
    # nothing unserved: the grid and the backup always close the demand
    assert ts.unserved_kw.max() == 0.0
    assert r.kpis["unserved_electricity_kwh"] == 0.0


def test_hydrogen_flows_to_the_stz(week_result) -> None:
    k = week_result.kpis
    ts = week_result.timeseries
    assert k["h2_produced_kg"] > 0 and k["h2_delivered_to_stz_kg"] > 0
    assert ts.fc_kw.max() <= week_result.scenario.fuel_cell.p_rated_kw + 1e-9
    # hydrogen mass over the period: start + produced = end + used + vented
    m0 = week_result.site.m_tank_start_kg
    assert m0 + ts.h2_produced_kg.sum() == pytest.approx(
        ts.tank_m_kg.iloc[-1] + ts.fc_h2_kg.sum() + ts.h2_vented_kg.sum() + ts.h2_delivered_kg.sum(), abs=1e-9)
    assert 0 < k["stz_share_met_by_h2"] < 1
    assert k["lcoh_delivered_period_eur_per_kg"] > k["lcoh_period_eur_per_kg"] > 0
    # a week is not a year: no annual figure is extrapolated from it
    assert k["annualised"] is False and k["lcoh_eur_per_kg"] is None and k["h2_produced_kg_per_a"] is None
    assert k["dispatch"] == "optimiser"
    assert week_result.timings_s["optimiser_solves"] == 7  # one plan per committed day


def test_fast_path_checked_against_runpp(week_result) -> None:
    c = week_result.check
    assert len(c["steps"]) >= 12
    assert c["max_abs_dvm_pu"] < 1e-6
    assert c["max_abs_dline_loading_pct"] < 1e-4 and c["max_abs_dtrafo_loading_pct"] < 1e-4
    v = week_result.violations
    assert 0.9 < v["v_min_pu"] <= v["v_max_pu"] < 1.1


def test_rule_fallback_and_gas_boiler(wesertor_dir) -> None:
    from h2quarters.quarter.config import load_quarter

    q = load_quarter(wesertor_dir)
    q.backup.heat = "gas_boiler"
    r = simulate_quarter(q, start="2025-01-13", end="2025-01-15", dispatch="rule", check_steps=0)
    ts = r.timeseries
    assert r.kpis["dispatch"] == "rule"
    assert ts.stz_heat_pump_kw.max() == 0.0
    assert np.allclose(ts.stz_backup_gas_kw * q.backup.boiler_eta, ts.heat_backup_kw)
    assert r.kpis["stz_backup_gas_kwh"] > 0


def test_heat_pump_cop_physics() -> None:
    cop = heat_pump_cop(np.array([-10.0, 0.0, 7.0, 20.0, 44.0]), 0.45, 45.0, 1.5, 6.0)
    # Carnot: 0.45 × 318.15 / (45 − 7) = 3.77 at A7/W45 (typical rated COP 3–4)
    assert cop[2] == pytest.approx(0.45 * 318.15 / 38.0)
    assert np.all(np.diff(cop) >= 0) and cop.min() >= 1.5 and cop.max() <= 6.0


def test_pipeline_mode(wesertor_dir) -> None:
    from h2quarters.quarter.config import load_quarter

    q = load_quarter(wesertor_dir)
    q.supply.mode = "pipeline"
    r = simulate_quarter(q, start="2025-04-01", end="2025-04-03", dispatch="rule", check_steps=0)
    s = r.supply
    assert s["mode"] == "pipeline" and s["peak"]["outlet_ok"]
    assert s["peak"]["dp_bar"] > 0 and s["linepack_kg"] > 0
    assert r.kpis["trailer_trips"] == 0
