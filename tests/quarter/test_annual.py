"""The default Wesertor scenario over a whole year (power flow every hour): the year's bookkeeping.

The year runs with the rule-based dispatch: every assertion here is about balances, profiles, the grid's fast
path against pandapower and the annual KPIs, which hold for any dispatch. The optimiser's year (365 warm
re-plans) is measured in ``benchmarks/quarter_year.py``; its agreement with the KPIs' bills and with cold solves
is tested on short periods in ``test_meters.py`` (a year of re-plans took ≈180 s of the suite).
"""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.sim.annual import balance_residuals


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_annual_quarter(wesertor_dir, tmp_path) -> None:
    from h2quarters.quarter.simulate import save_result, simulate_quarter

    r = simulate_quarter(wesertor_dir, check_steps=12, dispatch="rule", stress=False)
    ts = r.timeseries
    k = r.kpis
    assert len(ts) == 8760
    res = balance_residuals(r.site)
    assert (res.electric_kw.abs() / res.electric_scale_kw).max() < 1e-6
    assert (res.h2_kg.abs() / res.h2_scale_kg).max() < 1e-6
    assert k["balance_max_abs_grid_kw"] < 1e-5 and k["balance_max_abs_split_kw"] < 1e-9
    assert k["balance_max_abs_heat_kw"] < 1e-9
    # published Kassel yield ≈910 kWh/kWp (TRY07, 30° south, 14 % losses)
    assert k["pv_school_kwh"] / k["pv_school_kwp"] == pytest.approx(910, rel=0.03)
    # every BDEW load is there with its annual energy
    assert k["stz_electricity_kwh"] == pytest.approx(24000, rel=1e-6)
    assert k["stz_heat_kwh"] == pytest.approx(42000, rel=1e-6)
    assert r.check["max_abs_dvm_pu"] < 1e-6
    assert k["h2_produced_kg"] > 100 and k["h2_vented_kg"] == 0.0
    assert k["unserved_electricity_kwh"] == 0.0
    assert np.isfinite(k["lcoh_eur_per_kg"]) and k["annualised"] is True
    assert k["co2_avoided_by_h2_kg_per_a"] == pytest.approx(-k["co2_h2_increment_kg_per_a"])
    assert k["co2_saved_by_pv_hp_kg"] > 0  # the school PV displaces grid electricity
    paths = save_result(r, tmp_path)
    assert paths["kpis"].stat().st_size > 0 and paths["bus_vm"].stat().st_size > 0
