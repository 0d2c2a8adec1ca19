"""Annual simulation: balances close in every step, limits hold, the CLI writes its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from h2quarters.cli import app
from h2quarters.config import load_scenario
from h2quarters.config.scenario import Battery, HeatLoad, HydrogenDemand, Scenario
from h2quarters.models.constants import F_C_PER_MOL, M_H2_KG_PER_MOL
from h2quarters.models.storage import HydrogenTank
from h2quarters.sim.annual import SimulationResult, balance_residuals, simulate
from h2quarters.sim.results import site_kpis

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "oskar-von-miller"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(DEFAULT)


@pytest.fixture(scope="module")
def year_hourly(scenario: Scenario) -> SimulationResult:
    return simulate(scenario)


def _full_site(scenario: Scenario) -> Scenario:
    """The default site plus a battery, a heat load, a hydrogen offtake and an export limit."""
    tariffs = scenario.tariffs.model_copy(update={"p_export_max_kw": 8.0})
    return scenario.model_copy(update={
        "battery": Battery(e_kwh=20.0, p_charge_kw=5.0, p_discharge_kw=5.0, self_discharge_per_h=0.0001),
        "heat_loads": [HeatLoad(name="wing", shlp_type="GKO", e_kwh_per_a=20_000)],
        "hydrogen_demand": HydrogenDemand(m_kg_per_day=0.4, weekdays=[0, 2, 4], hour_start=8, hour_end=12),
        "tariffs": tariffs,
    })


def _assert_balances_close(result: SimulationResult) -> None:
    res = balance_residuals(result)
    rel_e = (res.electric_kw.abs() / res.electric_scale_kw).max()
    rel_h = (res.h2_kg.abs() / res.h2_scale_kg).max()
    assert rel_e < 1e-6, f"energy balance off by {rel_e:.2e} (relative)"
    assert rel_h < 1e-6, f"hydrogen balance off by {rel_h:.2e} (relative)"


def test_balances_close_every_hour_of_the_year(year_hourly: SimulationResult) -> None:
    assert len(year_hourly.timeseries) == 8760
    _assert_balances_close(year_hourly)


def test_tank_and_power_limits_hold(year_hourly: SimulationResult, scenario: Scenario) -> None:
    ts = year_hourly.timeseries
    tank = HydrogenTank(scenario.storage)
    assert ts.tank_m_kg.min() >= tank.m_min_kg - 1e-9
    assert ts.tank_m_kg.max() <= tank.m_max_kg + 1e-9
    assert ts.tank_p_bar.max() <= scenario.storage.p_max_bar * (1 + 1e-6)
    assert ts.ely_stack_kw.max() <= scenario.electrolyser.p_rated_kw * (1 + 1e-9)
    producing = ts.ely_state == 3
    # While producing a whole step, the stack runs at or above minimum load.
    full_steps = producing & producing.shift(1, fill_value=False)
    assert (ts.ely_stack_kw[full_steps] >= scenario.electrolyser.p_min_kw * (1 - 1e-9)).all()
    assert (ts.h2_produced_kg[~producing] == 0).all()
    assert (ts.fc_kw <= scenario.fuel_cell.p_rated_kw + 1e-9).all()
    assert (ts.grid_import_kw >= 0).all() and (ts.grid_export_kw >= 0).all()
    # Never import and export in the same step.
    assert ((ts.grid_import_kw > 1e-9) & (ts.grid_export_kw > 1e-9)).sum() == 0


def test_hydrogen_follows_faraday(year_hourly: SimulationResult, scenario: Scenario) -> None:
    """Produced H2 never exceeds what the stack current can make (Faraday efficiency ≤ 1)."""
    ts = year_hourly.timeseries
    n_cells = scenario.electrolyser.n_stacks * scenario.electrolyser.n_cells
    faraday_kg = ts.ely_i_a * n_cells / (2 * F_C_PER_MOL) * M_H2_KG_PER_MOL * 3600 * year_hourly.dt_h
    assert (ts.h2_produced_kg <= faraday_kg * (1 + 1e-9) + 1e-12).all()
    # and the Faraday efficiency of the year is high (Ulleberg f2 = 0.96 at high current density)
    assert ts.h2_produced_kg.sum() > 0.9 * faraday_kg.sum()


def test_pv_surplus_drives_the_electrolyser(year_hourly: SimulationResult) -> None:
    ts = year_hourly.timeseries
    producing = ts.ely_state == 3
    surplus = ts.pv_kw - ts.load_kw
    assert producing.sum() > 500
    # Rule dispatch: hydrogen only from surplus PV, so production hours have PV above the load.
    assert (surplus[producing] > 0).mean() > 0.95
    assert ts.h2_produced_kg[ts.index.month.isin([5, 6, 7])].sum() > 5 * ts.h2_produced_kg[
        ts.index.month.isin([12, 1])].sum()


def test_kpis_plausible(year_hourly: SimulationResult) -> None:
    k = site_kpis(year_hourly)
    assert 850 < k["pv_specific_yield_kwh_per_kwp"] < 1000
    # AEM stack 50–56 kWh/kg; system incl. BoP, standby and compression above it (kpis.md: ≈50–60 + 1.5–6).
    assert 48 < k["sec_stack_kwh_per_kg"] < 58
    assert k["sec_stack_kwh_per_kg"] < k["sec_system_kwh_per_kg"] < 70
    assert 0 < k["self_sufficiency_rate"] < 1 and 0 < k["self_consumption_rate"] <= 1
    assert k["h2_produced_kg"] > 10
    assert k["lcoh_eur_per_kg"] > 0
    assert k["balance_max_rel_electric"] < 1e-6 and k["balance_max_rel_h2"] < 1e-6
    json.dumps(k)  # serialisable


def test_all_components_balance_at_15_min(scenario: Scenario) -> None:
    site = _full_site(scenario)
    result = simulate(site, "2025-03-01", "2025-05-01", "15min")
    ts = result.timeseries
    assert len(ts) == (61 * 24 - 1) * 4  # March has the 23-hour DST day
    _assert_balances_close(result)
    assert ts.battery_charge_kw.max() > 0 and ts.battery_discharge_kw.max() > 0
    assert ts.battery_soc.max() <= 0.95 + 1e-9
    # Only self-discharge may take the battery below soc_min; it never discharges from there.
    soc_before = ts.battery_soc.shift(1, fill_value=0.5)
    assert (ts.battery_discharge_kw[soc_before <= 0.1 + 1e-12] == 0).all()
    assert ts.battery_soc.min() > 0.1 - 0.01
    assert ts.grid_export_kw.max() <= 8.0 + 1e-9
    assert ts.pv_curtailed_kw.max() >= 0.0
    assert ts.h2_delivered_kg.sum() > 0
    np.testing.assert_allclose(ts.h2_delivered_kg + ts.h2_unmet_kg, ts.h2_demand_kg, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ts.heat_from_fc_kw + ts.heat_backup_kw, ts.heat_kw, rtol=0, atol=1e-9)


def test_hourly_and_quarter_hourly_agree(scenario: Scenario) -> None:
    h = simulate(scenario, "2025-06-01", "2025-06-15", "1h")
    q = simulate(scenario, "2025-06-01", "2025-06-15", "15min")
    e_h = (h.timeseries.pv_kw * h.dt_h).sum()
    e_q = (q.timeseries.pv_kw * q.dt_h).sum()
    assert e_q == pytest.approx(e_h, rel=1e-12)
    assert q.timeseries.h2_produced_kg.sum() == pytest.approx(h.timeseries.h2_produced_kg.sum(), rel=0.15)


def test_cli_simulate_writes_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["simulate", str(DEFAULT), "--year", "2025", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "SEC stack" in r.output and "kWh/kg" in r.output
    ts = pd.read_csv(out / "timeseries.csv", index_col=0)
    assert len(ts) == 8760
    assert {"pv_kw", "grid_import_kw", "ely_kw", "h2_produced_kg", "tank_p_bar"} <= set(ts.columns)
    assert all(c.endswith(("_kw", "_kg", "_bar", "_c", "_a", "_v", "_per_kwh", "_state", "_soc"))
               for c in ts.columns), ts.columns
    k = json.loads((out / "kpis.json").read_text())
    assert k["h2_produced_kg"] == pytest.approx(ts.h2_produced_kg.sum(), rel=1e-6)


def test_cli_reports_bad_scenario(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text("name: x\nlocation: {name: a, latitude_deg: 99, longitude_deg: 9}\n")
    r = CliRunner().invoke(app, ["simulate", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "location.latitude_deg (line 2): value 99 out of range" in r.output
    assert not (tmp_path / "o").exists()


def test_default_scenario_path_does_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    from h2quarters.config import DEFAULT_SCENARIO

    monkeypatch.chdir(tmp_path)
    assert DEFAULT_SCENARIO.is_absolute()
    assert load_scenario(DEFAULT_SCENARIO).name == "oskar-von-miller"


def test_cli_simulate_mpc_writes_plan_beside_physics(tmp_path: Path) -> None:
    out = tmp_path / "mpc"
    r = CliRunner().invoke(app, ["simulate", str(DEFAULT), "--dispatch", "mpc", "--start", "2025-06-01",
                                 "--days", "2", "--replan-hours", "6", "--out", str(out)])
    assert r.exit_code == 0, r.output
    ts = pd.read_csv(out / "timeseries.csv", index_col=0)
    assert len(ts) == 48
    assert {"plan_ely_h2_kg", "plan_grid_import_kw", "h2_produced_kg"} <= set(ts.columns)
    k = json.loads((out / "kpis.json").read_text())
    assert k["mpc_solves"] == 8
    # The physics delivers what the plan expected, up to the plan's piecewise-linear curve and temperatures.
    assert k["h2_produced_kg"] == pytest.approx(k["plan_h2_kg"], rel=0.05, abs=1e-3)
    assert k["balance_max_rel_electric"] < 1e-6 and k["balance_max_rel_h2"] < 1e-6


def test_cli_simulate_refuses_bad_period(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", str(DEFAULT), "--start", "June", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "--start: value 'June' is not a date" in r.output
    assert not (tmp_path / "o").exists()
