"""KPIs on a synthetic day in the simulator's DataFrame layout: the parts must agree with each other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import h2quarters.kpi as kpi

SEC_STACK = 50.0  # kWh/kg assumed for the synthetic stack
BOP_FRAC = 0.1  # share of electrolyser input taken by balance of plant


@pytest.fixture
def day() -> pd.DataFrame:
    idx = pd.date_range("2025-06-21", periods=96, freq="15min", tz="Europe/Berlin")
    hour = idx.hour + idx.minute / 60
    pv = np.clip(6.0 * np.sin(np.pi * (hour - 5) / 16), 0, None)  # one PV hump 05:00-21:00, 6 kWp
    load = np.full(96, 1.0)
    surplus = pv - load
    running = surplus > 0.6  # electrolyser runs on PV surplus only
    ely = np.where(running, np.minimum(surplus, 2.4), 0.0)
    stack = ely * (1 - BOP_FRAC)
    comp = np.where(running, 0.1, 0.0)
    cons = load + ely + comp
    state = np.where(running, 3, 0)
    state[np.flatnonzero(running)[0]] = 2  # first running step is the start-up
    h2 = np.where(state == 3, stack * 0.25 / SEC_STACK, 0.0)
    return pd.DataFrame(
        {
            "pv_kw": pv,
            "load_kw": load,
            "ely_kw": ely,
            "ely_stack_kw": stack,
            "compressor_kw": comp,
            "grid_import_kw": np.maximum(cons - pv, 0.0),
            "grid_export_kw": np.maximum(pv - cons, 0.0),
            "h2_produced_kg": h2,
            "ely_state": state,
        },
        index=idx,
    )


def test_day_kpis_are_consistent(day: pd.DataFrame) -> None:
    dt = kpi.step_hours(day.index)
    assert dt == 0.25
    cons = day.load_kw + day.ely_kw + day.compressor_kw
    e_pv = kpi.pv_yield_kwh(day.pv_kw, dt)
    scr = kpi.self_consumption_rate(day.pv_kw, day.grid_export_kw, dt)
    ssr = kpi.self_sufficiency_rate(cons, day.grid_import_kw, dt)
    # PV is the only on-site source: self-consumed PV = consumption covered on site
    assert scr * e_pv == pytest.approx(ssr * kpi.energy_kwh(cons, dt))
    # the electrolyser ran only on surplus: none of the import is its, when it gets PV first
    cost_first = kpi.electricity_cost_eur(day.ely_kw + day.compressor_kw, cons, day.grid_import_kw, dt, 0.3052,
                                          method="consumer_first")
    assert cost_first == pytest.approx(0.0)
    # H2 and SEC
    m = kpi.h2_produced_kg(day.h2_produced_kg)
    assert m > 0
    producing = day.ely_state == 3
    sec_stack = kpi.sec_stack_kwh_per_kg(day.ely_stack_kw.where(producing, 0.0), day.h2_produced_kg, dt)
    assert sec_stack == pytest.approx(SEC_STACK)
    sec_sys = kpi.sec_system_kwh_per_kg(day.ely_kw, day.h2_produced_kg, dt, compressor_kw=day.compressor_kw)
    assert sec_sys > kpi.sec_stack_kwh_per_kg(day.ely_stack_kw, day.h2_produced_kg, dt) > SEC_STACK
    assert kpi.efficiency_lhv(m, kpi.energy_kwh(day.ely_stack_kw.where(producing, 0.0), dt)) == pytest.approx(
        33.33 / SEC_STACK
    )
    # operation: one PV hump -> one start; hours add up to the day
    assert kpi.count_starts(day.ely_state) == 1
    h = kpi.hours_per_state(day.ely_state, dt)
    assert sum(h.values()) == pytest.approx(24.0)
    assert h["starting"] == pytest.approx(0.25)
    assert kpi.full_load_hours(day.ely_kw, 2.4, dt) == pytest.approx(kpi.energy_kwh(day.ely_kw, dt) / 2.4)
    # CO2: self-consumed PV displaces grid power
    self_kw = day.pv_kw - np.minimum(day.grid_export_kw, day.pv_kw)
    assert kpi.co2_avoided_grid_kg(self_kw, dt, 363.0) == pytest.approx(scr * e_pv * 0.363)
    # rating of the day's production against a 1 kg target
    light = kpi.traffic_light(m, 1.0)
    assert light.percent == pytest.approx(100 * m)


def test_full_year_of_15min_steps() -> None:
    """A year at 15 min (35 040 steps): totals and counts scale as expected."""
    n = 35_040
    p = np.full(n, 1.2)
    state = np.tile([0, 2, 3, 3, 1, 3, 0, 0], n // 8)
    assert kpi.energy_kwh(p, 0.25) == pytest.approx(1.2 * 8760)
    assert kpi.count_starts(state) == 2 * (n // 8)
    assert kpi.hours_per_state(state, 0.25)["producing"] == pytest.approx(8760 * 3 / 8)
