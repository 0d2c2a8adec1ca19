"""Key figures of a quarter run.

Boundaries
----------
* *Hydrogen system* = the school's lab wing (PV, electrolyser, compressor, tank) + the Stadtteilzentrum (fuel
  cell, backup); each building has its own meter, so its imports and exports are counted separately.
* *Quarter* = every building on the grid; its exchange with the MV grid is the transformer's, losses included.
* CO2 and cost are attributed in three labelled cases for the hydrogen system's two buildings
  (:func:`attribution`): the *baseline* (grid electricity; the Stadtteilzentrum heated as the scenario documents,
  ``baseline.stz_heat``), *PV + heat pump without hydrogen* (the school PV and the backup heating, no
  electrolyser, tank or fuel cell), and *with hydrogen* (this run). The hydrogen system's own effect is the
  *increment* with − without hydrogen; studies rank on it. Exports are credited at the grid factor; the
  trailer's energy is charged to the hydrogen system. Emission factors and their sources are reported.
* Figures ``…_per_a`` are given only for a period of a whole year; for shorter periods they are ``None``
  (``annualised`` is False): one season multiplied up is not a year. Ratios of the period (LCOH with the
  capital cost prorated to the period, shares, costs per kWh) are reported with ``_period`` in the name.
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
from h2quarters.quarter.meters import meter_bills_eur
from h2quarters.quarter.supply import annual_cost_eur
from h2quarters.sim.annual import balance_residuals
from h2quarters.sim.results import site_kpis

if TYPE_CHECKING:
    from h2quarters.quarter.simulate import QuarterResult


HOURS_PER_YEAR = 8760.0


def _safe(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def annualise_factor(hours: float) -> float | None:
    """``8760 / hours`` for a period of at least a (non-leap) year, else None: annual figures are refused."""
    return HOURS_PER_YEAR / hours if hours >= HOURS_PER_YEAR - 1e-9 else None


def attribution(res: QuarterResult) -> dict:
    """CO2 (kg) and cost (EUR) of the hydrogen system's buildings in three cases, over the simulated period.

    Cases
    -----
    ``baseline``
        School lab wing and Stadtteilzentrum on grid electricity; the Stadtteilzentrum's heat as documented for
        the scenario (``baseline.stz_heat``: its heat pump — the gas heating was removed in 2013 — or a gas
        boiler). No PV.
    ``pv_hp``
        The same buildings with the school PV and the Stadtteilzentrum's backup heating (``backup.heat``), each
        on its own meter, but without electrolyser, tank, compressor, fuel cell or supply chain.
    ``h2``
        This run: every building's own meter as simulated, plus the annuities (prorated to the period) of the
        hydrogen equipment and the supply chain, water, and the trailer's energy.

    The hydrogen system's own effect is ``h2 − pv_hp``; PV and heat pump's is ``pv_hp − baseline``. PV and
    heat-pump investments are not in the cost figures (not configured), so only cost *differences* of the
    hydrogen case are complete.
    """
    ts = res.timeseries
    q, scn, dt = res.quarter, res.scenario, res.dt_h
    t = scn.tariffs
    f_grid, f_gas = float(t.co2_g_per_kwh) * 1e-3, float(t.co2_gas_g_per_kwh) * 1e-3
    price, feed, gas_price = float(t.import_eur_per_kwh), float(t.feed_in_eur_per_kwh), float(t.gas_eur_per_kwh)
    frac = len(ts) * dt / HOURS_PER_YEAR  # share of a year: annuities are prorated to the period
    rate = scn.costs.discount_rate
    school_load = ts.school_load_kw.to_numpy()
    stz_load = ts.stz_load_kw.to_numpy()
    heat = ts.stz_heat_kw.to_numpy()
    cop = ts.stz_heat_pump_cop_ref.to_numpy()
    hp_cost = annual_cost_eur(q.costs.heat_pump, rate) * frac

    def heating(kind: str, boiler_eta: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(electricity kW, gas kW, annuity) of heating the Stadtteilzentrum with ``kind``."""
        if kind == "heat_pump":
            return heat / cop, np.zeros_like(heat), hp_cost
        return np.zeros_like(heat), heat / boiler_eta, 0.0

    cases: dict[str, dict] = {}
    el, gas, ann = heating(q.baseline.stz_heat, q.baseline.boiler_eta)
    cases["baseline"] = {"school_net_kw": school_load, "stz_net_kw": stz_load + el, "gas_kw": gas, "fixed_eur": ann,
                         "vehicle_co2_kg": 0.0}
    el, gas, ann = heating(q.backup.heat, q.backup.boiler_eta)
    cases["pv_hp"] = {"school_net_kw": school_load - ts.pv_kw.to_numpy(), "stz_net_kw": stz_load + el,
                      "gas_kw": gas, "fixed_eur": ann, "vehicle_co2_kg": 0.0}
    sup = res.supply
    h2_fixed = (sum(annual_cost_eur(getattr(scn.costs, c), rate) for c in ("electrolyser", "storage", "compressor"))
                + annual_cost_eur(q.costs.fuel_cell, rate) + float(sup.get("fixed_cost_eur_per_a", 0.0))) * frac
    h2_fixed += float(sup.get("transport_cost_eur", 0.0)) + scn.costs.water_eur_per_kg_h2 * float(
        ts.h2_produced_kg.sum())
    hp_now = hp_cost if q.backup.heat == "heat_pump" else 0.0
    cases["h2"] = {"school_net_kw": ts.school_net_kw.to_numpy(), "stz_net_kw": ts.stz_net_kw.to_numpy(),
                   "gas_kw": ts.stz_backup_gas_kw.to_numpy(), "fixed_eur": h2_fixed + hp_now,
                   "vehicle_co2_kg": float(sup.get("vehicle_co2_kg", 0.0))}
    out: dict[str, dict] = {}
    for name, c in cases.items():
        net = c["school_net_kw"] + c["stz_net_kw"]
        co2 = f_grid * float(net.sum() * dt) + f_gas * float(c["gas_kw"].sum() * dt) + c["vehicle_co2_kg"]
        gas_eur = gas_price * float(c["gas_kw"].sum() * dt)
        if q.metering == "shared":  # one connection for both buildings: one bill (reported as the school's)
            bills = {"school": meter_bills_eur({"x": net}, dt, price, feed)["x"], "stz": gas_eur}
        else:
            b = meter_bills_eur({"school": c["school_net_kw"], "stz": c["stz_net_kw"]}, dt, price, feed)
            bills = {"school": b["school"], "stz": b["stz"] + gas_eur}
        out[name] = {"co2_kg": co2, "bill_school_eur": bills["school"], "bill_stz_eur": bills["stz"],
                     "fixed_eur": c["fixed_eur"], "cost_eur": bills["school"] + bills["stz"] + c["fixed_eur"]}
    out["emission_factors"] = {"grid_g_per_kwh": float(t.co2_g_per_kwh), "grid_source": q.baseline.grid_co2_source,
                               "gas_g_per_kwh": float(t.co2_gas_g_per_kwh), "gas_source": q.baseline.gas_co2_source}
    return out


def _stress_kpis(stress) -> dict:
    """The binding grid stress case and its margin (see :mod:`h2quarters.quarter.stress`)."""
    if stress is None or not len(stress):
        return {"grid_stress_binding_case": None}
    b = stress[stress.binding].iloc[0]
    return {"grid_stress_binding_case": str(b["case"]), "grid_stress_closest_limit": str(b["closest_limit"]),
            "grid_stress_margin_min": float(b["margin_min"]), "grid_stress_v_min_pu": float(stress.v_min_pu.min()),
            "grid_stress_v_max_pu": float(stress.v_max_pu.max()),
            "grid_stress_cases_with_violation": int((stress.steps_with_violation > 0).sum())}


def quarter_kpis(res: QuarterResult) -> dict:
    """KPIs of a quarter run (JSON-ready; energies in kWh over the simulated period unless ``_per_a``)."""
    ts = res.timeseries
    q = res.quarter
    scn = res.scenario
    dt = res.dt_h
    annualise = annualise_factor(len(ts) * dt)
    frac = len(ts) * dt / HOURS_PER_YEAR

    def per_a(x: float | None) -> float | None:
        return None if x is None or annualise is None else x * annualise
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
    supply_cost = float(sup.get("transport_cost_eur", 0.0)) + float(sup.get("fixed_cost_eur_per_a", 0.0)) * frac
    # site_kpis' LCOH = (annuities + energy·8760/h + water) / (kg·8760/h) = the period's cost with the capital
    # prorated, per kg produced in the period: a period figure, an annual one only for a whole year
    lcoh = site.get("lcoh_eur_per_kg")
    moved = float(sup.get("h2_moved_kg", h2_fc))  # incl. the end refill: the starting stock is not free
    lcoh_delivered = None
    if lcoh is not None and moved > 0:
        lcoh_delivered = lcoh + supply_cost / moved

    # Stadtteilzentrum
    stz_el = e(ts.stz_load_kw)
    stz_heat = e(ts.stz_heat_kw)
    fc_el_used = e(np.minimum(ts.fc_kw, ts.stz_load_kw + ts.stz_heat_pump_kw))
    fc_heat_used = e(ts.heat_from_fc_kw)
    share_h2 = (fc_el_used + fc_heat_used) / (stz_el + stz_heat) if stz_el + stz_heat > 0 else None
    stz_import = e(np.maximum(stz_net, 0))
    stz_export = e(np.maximum(-stz_net, 0))
    gas_backup = e(ts.stz_backup_gas_kw)
    fc_cost = annual_cost_eur(q.costs.fuel_cell, scn.costs.discount_rate) * frac
    hp_cost = (annual_cost_eur(q.costs.heat_pump, scn.costs.discount_rate) * frac
               if q.backup.heat == "heat_pump" else 0.0)
    h2_cost = (lcoh_delivered or 0.0) * h2_fc
    stz_cost = (fc_cost + hp_cost + h2_cost
                + (stz_import * price - stz_export * feed + gas_backup * float(t.gas_eur_per_kwh)))
    att = attribution(res)
    stz_base_cost = att["baseline"]["bill_stz_eur"] + att["baseline"]["fixed_eur"]
    stz_demand = stz_el + stz_heat

    # CO2: whole quarter (residential heat by gas boilers in both cases)
    veh_co2 = float(sup.get("vehicle_co2_kg", 0.0))
    res_heat = e(ts.residential_heat_kw)
    base_quarter = (att["baseline"]["co2_kg"] + f_grid * e(ts.residential_load_kw) + f_gas * res_heat / eta_base)
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
        "steps": len(ts), "step_h": dt, "period_h": len(ts) * dt, "annualise": annualise,
        "annualised": annualise is not None,
        "annualise_note": None if annualise is not None else (
            f"period of {len(ts) * dt:g} h is shorter than a year: annual figures (…_per_a) are not given; "
            "run the whole year for them"),
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
        "h2_produced_kg_per_a": per_a(h2_prod), "h2_delivered_kg_per_a": per_a(h2_fc),
        "h2_stock_change_kg": float(ts.tank_m_kg.iloc[-1]) - res.site.m_tank_start_kg,
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
        "stz_cost_period_eur_per_kwh": stz_cost / stz_demand if stz_demand > 0 else None,
        "stz_baseline_cost_period_eur_per_kwh": stz_base_cost / stz_demand if stz_demand > 0 else None,
        "stz_cost_eur": stz_cost, "stz_baseline_cost_eur": stz_base_cost,
        "stz_cost_eur_per_a": per_a(stz_cost), "stz_baseline_cost_eur_per_a": per_a(stz_base_cost),
        # economics
        "lcoh_period_eur_per_kg": _safe(lcoh) if lcoh is not None else None,
        "lcoh_delivered_period_eur_per_kg": _safe(lcoh_delivered) if lcoh_delivered is not None else None,
        "lcoh_eur_per_kg": _safe(lcoh) if lcoh is not None and annualise is not None else None,
        "lcoh_delivered_eur_per_kg": (_safe(lcoh_delivered) if lcoh_delivered is not None and annualise is not None
                                      else None),
        "lcoh_breakdown_eur_per_a": site.get("lcoh_breakdown_eur_per_a") if annualise is not None else None,
        "h2_moved_kg": moved,  # by the supply chain, incl. the end refill
        "supply_mode": sup.get("mode"), "supply_cost_eur": supply_cost, "supply_cost_eur_per_a": per_a(supply_cost),
        "trailer_trips": sup.get("trips"), "trailer_trips_per_a": sup.get("trips_per_a"),
        "trailer_trips_end_refill": sup.get("trips_end_refill"),
        "trailer_trips_outside_working_hours": sup.get("trips_outside_working_hours"),
        "stz_buffer_start_kg": sup.get("buffer_start_kg"), "stz_buffer_end_kg": sup.get("buffer_end_kg"),
        "fc_h2_short_kg": sup.get("h2_short_kg"),
        "supply_vehicle_energy_kwh": sup.get("vehicle_energy_kwh"),
        # CO2 and cost attribution (hydrogen system's buildings; see attribution())
        "co2_baseline_kg": att["baseline"]["co2_kg"], "co2_pv_hp_kg": att["pv_hp"]["co2_kg"],
        "co2_with_h2_kg": att["h2"]["co2_kg"],
        "co2_saved_by_pv_hp_kg": att["baseline"]["co2_kg"] - att["pv_hp"]["co2_kg"],
        "co2_h2_increment_kg": att["h2"]["co2_kg"] - att["pv_hp"]["co2_kg"],
        "co2_avoided_by_h2_kg": att["pv_hp"]["co2_kg"] - att["h2"]["co2_kg"],
        "co2_avoided_by_h2_kg_per_a": per_a(att["pv_hp"]["co2_kg"] - att["h2"]["co2_kg"]),
        "co2_h2_increment_kg_per_a": per_a(att["h2"]["co2_kg"] - att["pv_hp"]["co2_kg"]),
        "cost_baseline_eur": att["baseline"]["cost_eur"], "cost_pv_hp_eur": att["pv_hp"]["cost_eur"],
        "cost_with_h2_eur": att["h2"]["cost_eur"],
        "cost_h2_increment_eur": att["h2"]["cost_eur"] - att["pv_hp"]["cost_eur"],
        "cost_h2_increment_eur_per_a": per_a(att["h2"]["cost_eur"] - att["pv_hp"]["cost_eur"]),
        "metering": q.metering,
        "bill_school_eur": att["h2"]["bill_school_eur"], "bill_stz_eur": att["h2"]["bill_stz_eur"],
        "attribution": att,
        "co2_baseline_quarter_kg": base_quarter, "co2_quarter_kg": scen_quarter,
        "co2_avoided_quarter_kg": base_quarter - scen_quarter,
        # grid
        "grid_code": q.grid.code,
        "grid_v_min_pu": v.get("v_min_pu"), "grid_v_max_pu": v.get("v_max_pu"),
        "grid_line_loading_max_pct": v.get("line_loading_max_pct"),
        "grid_trafo_loading_max_pct": v.get("trafo_loading_max_pct"),
        "grid_steps_with_violation": v.get("steps_with_violation"),
        "grid_losses_kwh": (v.get("losses_mwh") or 0.0) * 1000.0,
        **_stress_kpis(res.stress),
        # balances (max abs residual per step)
        "balance_max_rel_electric_site": float((bal.electric_kw.abs() / bal.electric_scale_kw).max()),
        "balance_max_rel_h2": float((bal.h2_kg.abs() / bal.h2_scale_kg).max()),
        "balance_max_abs_heat_kw": float(np.abs(heat_res).max()),
        "balance_max_abs_split_kw": float(np.abs(split_res).max()),
        "balance_max_abs_grid_kw": float(np.abs(grid_res).max()) if pf.vm_pu.size else None,
    }
    return out
