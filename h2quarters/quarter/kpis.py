"""Key figures of a quarter run.

Boundaries
----------
* *Hydrogen system* = the school's lab wing (PV, electrolyser, compressor, tank) + the Stadtteilzentrum (fuel
  cell, backup); each building has its own meter, so its imports and exports are counted separately.
* *Quarter* = every building on the grid; its exchange with the MV grid is the transformer's, losses included.
* CO2 avoided is counted against a baseline in which every building takes its electricity from the grid and
  its heat from a gas boiler (``baseline.boiler_eta``); exports are credited at the grid factor; the trailer's
  energy is charged to the hydrogen system.
* LCOH (production): annuity method over electrolyser, storage and compressor plus the electricity they use
  (grid share at the import price, own PV at the foregone feed-in tariff), from
  :func:`h2quarters.sim.results.site_kpis`. LCOH (delivered) adds the supply chain's annual cost.
* Cost of supplied energy at the Stadtteilzentrum = (fuel-cell CHP and heat-pump annuities + hydrogen at the
  delivered LCOH + grid electricity − feed-in revenue + backup gas) / (electricity + heat demand), next to the
  baseline's (grid electricity + gas boiler fuel; boiler investment not counted).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from h2quarters import kpi
from h2quarters.models.storage import HydrogenTank
from h2quarters.quarter.supply import annual_cost_eur
from h2quarters.sim.annual import balance_residuals
from h2quarters.sim.results import site_kpis

if TYPE_CHECKING:
    from h2quarters.quarter.simulate import QuarterResult


def _safe(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def quarter_kpis(res: QuarterResult) -> dict:
    """KPIs of a quarter run (JSON-ready; energies in kWh over the simulated period unless ``_per_a``)."""
    ts = res.timeseries
    q = res.quarter
    scn = res.scenario
    dt = res.dt_h
    annualise = 8760.0 / (len(ts) * dt)
    t = scn.tariffs
    f_grid = float(t.co2_g_per_kwh) * 1e-3  # kg/kWh
    f_gas = float(t.co2_gas_g_per_kwh) * 1e-3
    price = float(t.import_eur_per_kwh)
    feed = float(t.feed_in_eur_per_kwh)
    eta_base = q.baseline.boiler_eta

    def e(x) -> float:
        return float(np.sum(np.asarray(x, float)) * dt)

    site = site_kpis(res.site)
    school_net = ts.school_net_kw.to_numpy()
    stz_net = ts.stz_net_kw.to_numpy()
    imp_h2sys = np.maximum(school_net, 0) + np.maximum(stz_net, 0)
    exp_h2sys = np.maximum(-school_net, 0) + np.maximum(-stz_net, 0)
    cons_h2sys = (ts.school_load_kw + ts.ely_kw + ts.compressor_kw + ts.stz_load_kw + ts.stz_heat_pump_kw)
    cons_quarter = res.building_load_kw.sum(axis=1)

    h2_prod = float(ts.h2_produced_kg.sum())
    h2_fc = float(ts.fc_h2_kg.sum())
    sup = res.supply
    supply_cost_a = float(sup.get("transport_cost_eur_per_a", 0.0) + sup.get("fixed_cost_eur_per_a", 0.0))
    lcoh = site.get("lcoh_eur_per_kg")
    lcoh_delivered = None
    if lcoh is not None and h2_fc > 0:
        # production cost per kg plus the supply chain's annual cost spread over the delivered kg
        lcoh_delivered = lcoh + supply_cost_a / (h2_fc * annualise)

    # Stadtteilzentrum
    stz_el = e(ts.stz_load_kw)
    stz_heat = e(ts.stz_heat_kw)
    fc_el_used = e(np.minimum(ts.fc_kw, ts.stz_load_kw + ts.stz_heat_pump_kw))
    fc_heat_used = e(ts.heat_from_fc_kw)
    share_h2 = (fc_el_used + fc_heat_used) / (stz_el + stz_heat) if stz_el + stz_heat > 0 else None
    stz_import = e(np.maximum(stz_net, 0))
    stz_export = e(np.maximum(-stz_net, 0))
    gas_backup = e(ts.stz_backup_gas_kw)
    fc_cost_a = annual_cost_eur(q.costs.fuel_cell, scn.costs.discount_rate)
    hp_cost_a = annual_cost_eur(q.costs.heat_pump, scn.costs.discount_rate) if q.backup.heat == "heat_pump" else 0.0
    h2_cost_a = (lcoh_delivered or 0.0) * h2_fc * annualise
    stz_cost_a = (fc_cost_a + hp_cost_a + h2_cost_a
                  + annualise * (stz_import * price - stz_export * feed + gas_backup * float(t.gas_eur_per_kwh)))
    stz_base_cost_a = annualise * (stz_el * price + stz_heat / eta_base * float(t.gas_eur_per_kwh))
    stz_demand_a = annualise * (stz_el + stz_heat)

    # CO2: hydrogen system vs baseline
    veh_co2 = float(sup.get("vehicle_co2_kg", 0.0))
    base_h2sys = f_grid * e(ts.school_load_kw + ts.stz_load_kw) + f_gas * stz_heat / eta_base
    scen_h2sys = f_grid * (e(imp_h2sys) - e(exp_h2sys)) + f_gas * gas_backup + veh_co2
    res_heat = e(ts.residential_heat_kw)
    base_quarter = (f_grid * e(ts.school_load_kw + ts.stz_load_kw + ts.residential_load_kw)
                    + f_gas * (stz_heat + res_heat) / eta_base)
    scen_quarter = (f_grid * (e(ts.grid_mv_import_kw) - e(ts.grid_mv_export_kw))
                    + f_gas * (gas_backup + res_heat / eta_base) + veh_co2)

    bal = balance_residuals(res.site)
    heat_res = ts.stz_heat_kw - ts.heat_from_fc_kw - ts.heat_backup_kw
    # the heat pump is outside the hydrogen site's own balance: it is the Stadtteilzentrum's backup
    split_res = (school_net + stz_net - ts.stz_heat_pump_kw.to_numpy()) - (ts.grid_import_kw
                                                                            - ts.grid_export_kw).to_numpy()
    pf = res.powerflow
    grid_res = pf.p_slack_mw * 1000.0 - (cons_quarter - res.building_gen_kw.sum(axis=1)) - pf.branch_losses_mw * 1000.0

    v = res.violations
    out = {
        "quarter": q.name,
        "period_start": ts.index[0].isoformat(),
        "steps": len(ts), "step_h": dt, "annualise": annualise,
        "dispatch": q.dispatch.method if res.timings_s.get("optimiser_solves", 0) else "rule",
        "overrides": res.overrides,
        "n_buildings": len(res.specs),
        "n_households": int(sum(s.households for s in res.specs)),
        "pv_school_kwp": float(sum(a.p_kwp for a in scn.pv)),
        "pv_residential_kwp": float(sum(s.pv_kwp for s in res.specs)),
        "electrolyser_kw": scn.electrolyser.p_rated_kw,
        "tank_usable_kg": float(HydrogenTank(scn.storage).m_usable_kg),
        # energy
        "quarter_consumption_kwh": e(cons_quarter),
        "quarter_generation_kwh": e(res.building_gen_kw.sum(axis=1)),
        "quarter_mv_import_kwh": e(ts.grid_mv_import_kw), "quarter_mv_export_kwh": e(ts.grid_mv_export_kw),
        "quarter_self_sufficiency": _safe(kpi.self_sufficiency_rate(cons_quarter, ts.grid_mv_import_kw, dt)),
        "h2system_consumption_kwh": e(cons_h2sys),
        "h2system_import_kwh": e(imp_h2sys), "h2system_export_kwh": e(exp_h2sys),
        "h2system_self_sufficiency": _safe(kpi.self_sufficiency_rate(cons_h2sys, imp_h2sys, dt)),
        "pv_school_kwh": e(ts.pv_kw), "residential_pv_kwh": e(ts.residential_pv_kw),
        # hydrogen
        "h2_produced_kg": h2_prod, "h2_delivered_to_stz_kg": h2_fc, "h2_vented_kg": float(ts.h2_vented_kg.sum()),
        "h2_produced_kg_per_a": h2_prod * annualise, "h2_delivered_kg_per_a": h2_fc * annualise,
        "tank_start_kg": res.site.m_tank_start_kg, "tank_end_kg": float(ts.tank_m_kg.iloc[-1]),
        "fc_electricity_kwh": e(ts.fc_kw), "fc_heat_used_kwh": fc_heat_used,
        "fc_heat_dumped_kwh": e(ts.fc_heat_kw - ts.heat_from_fc_kw),
        "ely_full_load_hours_h": site.get("ely_full_load_hours_h"), "sec_system_kwh_per_kg": site.get(
            "sec_system_kwh_per_kg"),
        # Stadtteilzentrum
        "stz_electricity_kwh": stz_el, "stz_heat_kwh": stz_heat,
        "stz_share_met_by_h2": _safe(share_h2) if share_h2 is not None else None,
        "stz_electricity_share_h2": fc_el_used / stz_el if stz_el > 0 else None,
        "stz_heat_share_h2": fc_heat_used / stz_heat if stz_heat > 0 else None,
        "stz_backup_heat_kwh": e(ts.heat_backup_kw), "stz_heat_pump_kwh": e(ts.stz_heat_pump_kw),
        "stz_backup_gas_kwh": gas_backup,
        "stz_unserved_heat_kwh": 0.0, "unserved_electricity_kwh": e(ts.unserved_kw),
        "stz_cost_eur_per_kwh": stz_cost_a / stz_demand_a if stz_demand_a > 0 else None,
        "stz_baseline_cost_eur_per_kwh": stz_base_cost_a / stz_demand_a if stz_demand_a > 0 else None,
        "stz_cost_eur_per_a": stz_cost_a, "stz_baseline_cost_eur_per_a": stz_base_cost_a,
        # economics
        "lcoh_eur_per_kg": _safe(lcoh) if lcoh is not None else None,
        "lcoh_delivered_eur_per_kg": _safe(lcoh_delivered) if lcoh_delivered is not None else None,
        "lcoh_breakdown_eur_per_a": site.get("lcoh_breakdown_eur_per_a"),
        "supply_mode": sup.get("mode"), "supply_cost_eur_per_a": supply_cost_a,
        "trailer_trips": sup.get("trips"), "trailer_trips_per_a": sup.get("trips_per_a"),
        "supply_vehicle_energy_kwh": sup.get("vehicle_energy_kwh"),
        # CO2
        "co2_baseline_h2system_kg": base_h2sys, "co2_h2system_kg": scen_h2sys,
        "co2_avoided_kg": base_h2sys - scen_h2sys, "co2_avoided_kg_per_a": (base_h2sys - scen_h2sys) * annualise,
        "co2_baseline_quarter_kg": base_quarter, "co2_quarter_kg": scen_quarter,
        "co2_avoided_quarter_kg": base_quarter - scen_quarter,
        # grid
        "grid_code": q.grid.code,
        "grid_v_min_pu": v.get("v_min_pu"), "grid_v_max_pu": v.get("v_max_pu"),
        "grid_line_loading_max_pct": v.get("line_loading_max_pct"),
        "grid_trafo_loading_max_pct": v.get("trafo_loading_max_pct"),
        "grid_steps_with_violation": v.get("steps_with_violation"),
        "grid_losses_kwh": (v.get("losses_mwh") or 0.0) * 1000.0,
        # balances (max abs residual per step)
        "balance_max_rel_electric_site": float((bal.electric_kw.abs() / bal.electric_scale_kw).max()),
        "balance_max_rel_h2": float((bal.h2_kg.abs() / bal.h2_scale_kg).max()),
        "balance_max_abs_heat_kw": float(np.abs(heat_res).max()),
        "balance_max_abs_split_kw": float(np.abs(split_res).max()),
        "balance_max_abs_grid_kw": float(np.abs(grid_res).max()) if pf.vm_pu.size else None,
    }
    return out
