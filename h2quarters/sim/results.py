"""KPIs of a simulated site and a short text summary, assembled from :mod:`h2quarters.kpi`.

Boundaries used (``shared/reference/kpis.md``):

* site consumption = load + electrolyser (stack, BoP, standby) + compressor + battery charging;
* self-sufficiency = 1 − grid import / site consumption; self-consumption = 1 − export / PV;
* SEC stack = stack DC energy / H2; SEC system = electrolyser AC input incl. BoP and standby + compressor / H2;
* CO2 avoided against a baseline without the plant (all load from the grid, no PV): the grid energy displaced
  (load − import + export, exports credited at the same factor) times the grid factor, plus delivered hydrogen
  replacing natural gas;
* LCOH: annuity method over each component's lifetime; electricity for the electrolyser and compressor is the
  grid import attributed pro rata at the import price plus on-site PV valued at the foregone feed-in tariff.
"""

from __future__ import annotations

import math

import numpy as np

from h2quarters import kpi
from h2quarters.sim.annual import SimulationResult, balance_residuals

HOURS_PER_YEAR = 8760.0


def site_kpis(result: SimulationResult) -> dict:
    """Key figures of a simulation run.

    Parameters
    ----------
    result : SimulationResult
        Output of :func:`h2quarters.sim.annual.simulate`.

    Returns
    -------
    dict
        JSON-serialisable KPIs with units in the keys (NaN becomes None).
    """
    ts = result.timeseries
    scn = result.scenario
    dt = result.dt_h
    hours = len(ts) * dt
    annualise = HOURS_PER_YEAR / hours
    p_kwp = sum(a.p_kwp for a in scn.pv)
    consumption = ts.load_kw + ts.ely_kw + ts.compressor_kw + ts.battery_charge_kw
    h2_kg = kpi.h2_produced_kg(ts.h2_produced_kg)
    e_ely = kpi.energy_kwh(ts.ely_kw, dt)
    e_comp = kpi.energy_kwh(ts.compressor_kw, dt)
    rated = scn.electrolyser.p_rated_kw

    ely_plus_comp = ts.ely_kw + ts.compressor_kw
    energy_cost = kpi.electricity_cost_eur(
        ely_plus_comp, consumption, ts.grid_import_kw, dt, ts.import_eur_per_kwh,
        method="pro_rata", onsite_eur_per_kwh=ts.feed_in_eur_per_kwh,
    )
    lcoh = kpi.lcoh_from_costs(scn.costs, h2_kg * annualise, energy_cost * annualise)
    displaced = (ts.load_kw - ts.grid_import_kw + ts.grid_export_kw).clip(lower=0.0)
    co2_grid = kpi.co2_avoided_grid_kg(displaced, dt, ts.co2_g_per_kwh)
    co2_gas = kpi.co2_avoided_gas_kg(float(ts.h2_delivered_kg.sum()), scn.tariffs.co2_gas_g_per_kwh)
    res = balance_residuals(result)
    # The simulator accounts the time per state within each step (start-up minutes, partial-step operation);
    # the end-of-step state series is only the fallback for results that lack those facts.
    states = result.facts.get("ely_hours_per_state_h") or kpi.hours_per_state(ts.ely_state, dt)

    out = {
        "scenario": scn.name,
        "period_start": ts.index[0].isoformat(),
        "period_end": (ts.index[-1] + (ts.index[1] - ts.index[0])).isoformat(),
        "step_h": dt,
        "runtime_s": round(result.runtime_s, 3),
        "pv_kwp": p_kwp,
        "pv_yield_kwh": kpi.pv_yield_kwh(ts.pv_kw, dt),
        "pv_specific_yield_kwh_per_kwp": kpi.specific_yield_kwh_per_kwp(ts.pv_kw, dt, p_kwp) if p_kwp else None,
        "pv_curtailed_kwh": kpi.energy_kwh(ts.pv_curtailed_kw, dt),
        "load_kwh": kpi.energy_kwh(ts.load_kw, dt),
        "consumption_kwh": kpi.energy_kwh(consumption, dt),
        "grid_import_kwh": kpi.energy_kwh(ts.grid_import_kw, dt),
        "grid_export_kwh": kpi.energy_kwh(ts.grid_export_kw, dt),
        "unserved_kwh": kpi.energy_kwh(ts.unserved_kw, dt),
        "self_consumption_rate": kpi.self_consumption_rate(ts.pv_kw, ts.grid_export_kw, dt) if p_kwp else None,
        "self_sufficiency_rate": kpi.self_sufficiency_rate(consumption, ts.grid_import_kw, dt),
        "ely_energy_kwh": e_ely,
        "ely_stack_energy_kwh": kpi.energy_kwh(ts.ely_stack_kw, dt),
        "compressor_energy_kwh": e_comp,
        "h2_produced_kg": h2_kg,
        "h2_delivered_kg": float(ts.h2_delivered_kg.sum()),
        "h2_unmet_kg": float(ts.h2_unmet_kg.sum()),
        "h2_to_fuel_cell_kg": float(ts.fc_h2_kg.sum()),
        "h2_vented_kg": float(ts.h2_vented_kg.sum()),
        "tank_start_kg": result.m_tank_start_kg,
        "tank_end_kg": float(ts.tank_m_kg.iloc[-1]),
        "sec_stack_kwh_per_kg": kpi.sec_stack_kwh_per_kg(ts.ely_stack_kw, ts.h2_produced_kg, dt),
        "sec_system_kwh_per_kg": kpi.sec_system_kwh_per_kg(ts.ely_kw, ts.h2_produced_kg, dt, ts.compressor_kw),
        "efficiency_lhv_system": kpi.efficiency_lhv(h2_kg, e_ely + e_comp),
        "efficiency_hhv_system": kpi.efficiency_hhv(h2_kg, e_ely + e_comp),
        "ely_full_load_hours_h": kpi.full_load_hours(ts.ely_stack_kw, rated, dt),
        "ely_capacity_factor": kpi.capacity_factor(ts.ely_stack_kw, rated, dt),
        "ely_starts": kpi.count_starts(ts.ely_state),
        "ely_faraday_efficiency": kpi.faraday_efficiency(
            h2_kg, ts.ely_i_a, scn.electrolyser.n_cells * scn.electrolyser.n_stacks, dt),
        "h2_renewable_share_hourly": kpi.renewable_matched_share(
            ts.ely_kw + ts.compressor_kw, (ts.pv_kw - ts.load_kw).clip(lower=0.0), dt, period="hour"),
        "h2_renewable_share_monthly": kpi.renewable_matched_share(
            ts.ely_kw + ts.compressor_kw, (ts.pv_kw - ts.load_kw).clip(lower=0.0), dt, period="month"),
        "ely_hours_per_state_h": states,
        "ely_op_hours_h": result.facts.get("ely_op_hours_h"),
        "fc_energy_kwh": kpi.energy_kwh(ts.fc_kw, dt),
        "fc_heat_kwh": kpi.energy_kwh(ts.fc_heat_kw, dt),
        "co2_avoided_grid_kg": co2_grid,
        "co2_avoided_gas_kg": co2_gas,
        "co2_avoided_kg": co2_grid + co2_gas,
        "grid_cost_eur": float(((ts.grid_import_kw * ts.import_eur_per_kwh
                                 - ts.grid_export_kw * ts.feed_in_eur_per_kwh) * dt).sum()),
        "lcoh_eur_per_kg": lcoh.lcoh_eur_per_kg,
        "lcoh_breakdown_eur_per_a": lcoh.as_dict(),
        "balance_max_rel_electric": float((res.electric_kw.abs() / res.electric_scale_kw).max()),
        "balance_max_rel_h2": float((res.h2_kg.abs() / res.h2_scale_kg).max()),
    }
    out["explanations"] = _explain(out, scn)
    return _json_safe(out)


def _explain(k: dict, scn) -> dict[str, str]:
    """Plain-language reading of the headline figures, with the published values they compare to."""
    notes: dict[str, str] = {}
    if k.get("pv_specific_yield_kwh_per_kwp") is not None:
        notes["pv_specific_yield"] = (
            f"{k['pv_specific_yield_kwh_per_kwp']:.0f} kWh/kWp AC from {k['pv_kwp']:g} kWp on "
            f"{scn.weather.source} weather; published for Kassel (TRY07, 30° south, 14 % losses): ≈910 kWh/kWp. "
            "Tilt, azimuth, losses and the inverter sizing of each array shift it.")
    m = k.get("h2_produced_kg") or 0.0
    if m > 0:
        stack = k["ely_stack_energy_kwh"] / m
        aux = (k["ely_energy_kwh"] - k["ely_stack_energy_kwh"]) / m
        comp = k["compressor_energy_kwh"] / m
        notes["sec"] = (
            f"system {k['sec_system_kwh_per_kg']:.1f} kWh/kg = stack {stack:.1f} (DC, electrochemistry at the "
            f"operating temperature) + {aux:.1f} balance of plant, standby and start-ups + {comp:.1f} compression "
            f"to up to {scn.storage.p_max_bar:g} bar. Published: PEM/AEM stacks ≈47–62 kWh/kg "
            "(4.2–5.6 kWh/Nm³), systems ≈50–60 kWh/kg plus 1.5–6 kWh/kg for compression; Enapter EL 2.1 "
            "datasheet ≈53 kWh/kg.")
    return notes


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(value, np.integer):
        return int(value)
    return value


_SUMMARY = [
    ("PV yield", "pv_yield_kwh", "kWh", "{:,.0f}"),
    ("PV specific yield", "pv_specific_yield_kwh_per_kwp", "kWh/kWp", "{:,.0f}"),
    ("Load", "load_kwh", "kWh", "{:,.0f}"),
    ("Grid import", "grid_import_kwh", "kWh", "{:,.0f}"),
    ("Grid export", "grid_export_kwh", "kWh", "{:,.0f}"),
    ("Self-consumption", "self_consumption_rate", "%", "pct"),
    ("Self-sufficiency", "self_sufficiency_rate", "%", "pct"),
    ("H2 produced", "h2_produced_kg", "kg", "{:,.2f}"),
    ("H2 to fuel cell", "h2_to_fuel_cell_kg", "kg", "{:,.2f}"),
    ("Electrolyser energy", "ely_energy_kwh", "kWh", "{:,.0f}"),
    ("SEC stack", "sec_stack_kwh_per_kg", "kWh/kg", "{:,.1f}"),
    ("SEC system (incl. compressor)", "sec_system_kwh_per_kg", "kWh/kg", "{:,.1f}"),
    ("Efficiency system (LHV)", "efficiency_lhv_system", "%", "pct"),
    ("Electrolyser full-load hours", "ely_full_load_hours_h", "h", "{:,.0f}"),
    ("Electrolyser starts", "ely_starts", "", "{:d}"),
    ("Fuel cell output", "fc_energy_kwh", "kWh", "{:,.0f}"),
    ("CO2 avoided", "co2_avoided_kg", "kg", "{:,.0f}"),
    ("LCOH", "lcoh_eur_per_kg", "EUR/kg", "{:,.2f}"),
    ("Energy balance, max rel. error", "balance_max_rel_electric", "", "{:.1e}"),
    ("H2 balance, max rel. error", "balance_max_rel_h2", "", "{:.1e}"),
]


def summary_table(kpis: dict) -> str:
    """A fixed-width text table of the main KPIs for the terminal."""
    lines = [f"{kpis['scenario']}: {kpis['period_start'][:10]} .. {kpis['period_end'][:10]}, "
             f"step {kpis['step_h']:g} h", ""]
    width = max(len(label) for label, *_ in _SUMMARY)
    for label, key, unit, fmt in _SUMMARY:
        value = kpis.get(key)
        if value is None:
            text = "n/a"
        elif fmt == "pct":
            text = f"{100 * value:.1f}"
        else:
            text = fmt.format(value)
        lines.append(f"  {label:<{width}}  {text:>12} {unit}")
    return "\n".join(lines)
