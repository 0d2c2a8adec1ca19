"""The dispatch MILP of :mod:`h2quarters.opt.model`, written a second time in linopy (benchmark baseline).

Same variables, constraints (including the valid cuts: hull, reserve memory) and cost objective as ``build_model(..., n_scenarios=1)`` with
``objective='cost'``; time-shifted terms use ``Variable.shift`` (the missing term at t = 0 is dropped by
linopy and the initial state moves to the right-hand side). Used only by ``benchmarks/opt_*.py`` to check
that both models reach the same optimum and to compare build, hand-off, solve time and memory.
"""

from __future__ import annotations

import math

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from h2quarters.opt.model import (
    RESERVE_CUT_MAX_STEPS,
    InitialState,
    hull_values,
    state_values,
    steps_of,
)
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings


class _StateShim:
    """Just enough of a Pyomo model for :func:`state_values` (history arrays)."""

    def __init__(self, plant: PlantParams, settings: OptSettings, n: int, dt_h: float) -> None:
        self.plant, self.settings, self.n_steps, self.dt_h = plant, settings, n, dt_h


def build_linopy(plant: PlantParams, inputs: pd.DataFrame, dt_h: float, settings: OptSettings,
                 state: InitialState) -> tuple[linopy.Model, float]:
    """Build the linopy model; returns (model, objective constant) — linopy objectives carry no constant."""
    if settings.objective != "cost":
        raise ValueError("the linopy baseline implements objective='cost' only")
    ely, tank, fc, bat = plant.electrolyser, plant.tank, plant.fuel_cell, plant.battery
    n = len(inputs)
    T = pd.RangeIndex(n, name="t")
    m = linopy.Model(force_dim_names=True)
    sv = state_values(_StateShim(plant, settings, n, dt_h), state)  # type: ignore[arg-type]
    m0, e0 = float(sv["m0_kg"][0]), float(sv["e0_kwh"][0])
    on_prev, w_prev, p_prev = float(sv["on_prev"][0]), float(sv["w_prev"][0]), float(sv["p_prev_kw"][0])
    first = xr.DataArray(np.arange(n) == 0, coords=[T])

    def da(x: np.ndarray) -> xr.DataArray:
        return xr.DataArray(np.asarray(x, float), coords=[T])

    pv = da(np.clip(inputs["pv_kw"].to_numpy(float), 0, None))
    load = da(inputs["load_kw"].to_numpy(float))
    price_imp = da(inputs["import_eur_per_kwh"].to_numpy(float))
    price_exp = da(inputs["feed_in_eur_per_kwh"].to_numpy(float))
    demand = da(inputs["h2_demand_kg"].to_numpy(float))

    K = pd.RangeIndex(len(ely.curve.widths), name="k")
    widths = xr.DataArray(ely.curve.widths, coords=[K])
    slopes = xr.DataArray(ely.curve.slopes, coords=[K])
    on = m.add_variables(binary=True, coords=[T], name="on")
    sb = m.add_variables(binary=True, coords=[T], name="sb")
    cs = m.add_variables(lower=0, upper=1, coords=[T], name="cs")
    dl = m.add_variables(lower=0, upper=widths.broadcast_like(xr.DataArray(np.zeros((n, len(K))), coords=[T, K])),
                         coords=[T, K], name="dl")
    d = ely.startup_h / dt_h
    k_full = math.floor(d + 1e-9)
    r = d - k_full if d - k_full > 1e-9 else 0.0
    if r > 0:
        lam = m.add_variables(lower=0, upper=r, coords=[T], name="lam")
        m.add_constraints(lam - r * cs.shift(t=k_full) <= 0, name="c_lam1")
        m.add_constraints(lam - r * cs.shift(t=k_full) - r * on >= -r, name="c_lam3")
        z = on - lam
    else:
        z = 1 * on
    w = on + sb
    p_st = ely.p_min_kw * z + dl.sum("k")
    h2_rate = float(ely.curve.y[0]) * z + (slopes * dl).sum("k")
    p_el = p_st + ely.p_bop_kw * on + ely.p_standby_kw * sb
    p_comp = tank.w_comp_kwh_per_kg * h2_rate
    m.add_constraints(on + sb <= 1, name="c_state")
    if r > 0:
        m.add_constraints(dl - widths * z <= 0, name="c_seg")
    else:
        m.add_constraints(dl.sum("k") - float(ely.curve.widths.sum()) * z <= 0, name="c_seg")
    m.add_constraints(cs - w + w.shift(t=1) >= -w_prev * first, name="c_cold")
    n_up, n_down = steps_of(settings.min_up_h, dt_h), steps_of(settings.min_down_h, dt_h)
    n_hist = min(n, max(n_up, n_down, steps_of(ely.startup_h, dt_h), 1))
    hist = xr.DataArray(np.arange(n) < n_hist, coords=[T])
    m.add_constraints(on >= da(sv["must_on"]), name="c_must_on", mask=hist)
    m.add_constraints(w <= 1 - da(sv["must_off"]), name="c_must_off", mask=hist)
    m.add_constraints(on <= 1 - da(sv["no_prod"]), name="c_no_prod", mask=hist)
    if n_up > 1:
        ys = m.add_variables(lower=0, upper=1, coords=[T], name="ys")
        m.add_constraints(ys - on + on.shift(t=1) >= -on_prev * first, name="c_ys")
        m.add_constraints(sum(ys.shift(t=j) for j in range(n_up)) - on <= 0, name="c_min_up")
    if n_down > 1:
        yd = m.add_variables(lower=0, upper=1, coords=[T], name="yd")
        m.add_constraints(yd + w - w.shift(t=1) >= w_prev * first, name="c_yd")
        m.add_constraints(sum(yd.shift(t=j) for j in range(n_down)) + w <= 1, name="c_min_down")
    if k_full >= 1:
        m.add_constraints(on + sum(cs.shift(t=j) for j in range(k_full)) <= 1, name="c_delay")
    ramp = ely.ramp_kw_per_h * dt_h
    P = ely.p_rated_kw
    if ramp < P:
        rhs_up = (ramp + P) - first * (P * on_prev - p_prev)
        m.add_constraints(p_st - p_st.shift(t=1) + P * on.shift(t=1) <= rhs_up, name="c_ramp_up")
        rhs_dn = (ramp + P) - first * p_prev
        m.add_constraints(p_st.shift(t=1) - p_st + P * on <= rhs_dn, name="c_ramp_down")
    flow_max = tank.m_flow_max_kg_per_h
    if flow_max is not None and flow_max < float(ely.curve.y[-1]):
        m.add_constraints(h2_rate <= flow_max, name="c_comp")

    fc_rate = p_fc = 0
    if fc is not None:
        KF = pd.RangeIndex(len(fc.curve.widths), name="kf")
        fw = xr.DataArray(fc.curve.widths, coords=[KF])
        fs = xr.DataArray(fc.curve.slopes, coords=[KF])
        fc_on = m.add_variables(binary=True, coords=[T], name="fc_on")
        dfc = m.add_variables(lower=0, upper=fw.broadcast_like(xr.DataArray(np.zeros((n, len(KF))), coords=[T, KF])),
                              coords=[T, KF], name="dfc")
        m.add_constraints(dfc.sum("kf") - float(fc.curve.widths.sum()) * fc_on <= 0, name="c_fc_seg")
        p_fc = fc.p_min_kw * fc_on + dfc.sum("kf")
        fc_rate = float(fc.curve.y[0]) * fc_on + (fs * dfc).sum("kf")
        if not fc.curve.is_convex():
            raise ValueError("linopy baseline: non-convex fuel-cell curves not implemented")

    m_tank = m.add_variables(lower=tank.m_min_kg, upper=tank.m_max_kg, coords=[T], name="m_tank_end")
    u_h2 = m.add_variables(lower=0, coords=[T], name="u_h2")
    vent = m.add_variables(lower=0, coords=[T], name="vent")
    m.add_constraints(m_tank - m_tank.shift(t=1) - dt_h * h2_rate + dt_h * fc_rate - u_h2 + vent
                      == -demand + m0 * first, name="c_tank")
    m.add_constraints(u_h2 <= demand, name="c_u_h2")
    if fc is not None and fc.m_reserve_kg > tank.m_min_kg:
        # start-of-step mass: m0 at t = 0, else the previous step's end
        m.add_constraints(m_tank.shift(t=1) - (fc.m_reserve_kg - tank.m_min_kg) * fc_on
                          >= tank.m_min_kg - m0 * first, name="c_reserve")
        k_res = fc.m_reserve_kg - float(fc.curve.y[-1]) * dt_h - tank.m_min_kg
        rmc = settings.reserve_memory_cut
        if k_res > 0 and (rmc == "on" or (rmc == "auto" and n <= RESERVE_CUT_MAX_STEPS)):  # as h2quarters.opt.model
            cum = np.cumsum(inputs["h2_demand_kg"].to_numpy(float))
            res_h = m.add_variables(lower=0, coords=[T], name="res_h")
            m.add_constraints(res_h - k_res * fc_on >= da(np.concatenate([[0.0], cum[:-1]])), name="c_res_h1")
            m.add_constraints(res_h - res_h.shift(t=1) >= 0, name="c_res_h2", mask=~first)
            m.add_constraints(m_tank - res_h >= tank.m_min_kg - da(cum), name="c_res_mem")

    p_ch = p_dis = 0
    if bat is not None:
        p_ch = m.add_variables(lower=0, upper=bat.p_charge_kw, coords=[T], name="p_ch")
        p_dis = m.add_variables(lower=0, upper=bat.p_discharge_kw, coords=[T], name="p_dis")
        e_bat = m.add_variables(lower=bat.soc_min * bat.e_kwh, upper=bat.soc_max * bat.e_kwh, coords=[T],
                                name="e_bat_end")
        keep = 1.0 - bat.self_discharge_per_h * dt_h
        if settings.battery_exclusive == "binary":
            b_ch = m.add_variables(binary=True, coords=[T], name="b_ch")
            m.add_constraints(p_ch - bat.p_charge_kw * b_ch <= 0, name="c_ch")
            m.add_constraints(p_dis + bat.p_discharge_kw * b_ch <= bat.p_discharge_kw, name="c_dis")
        m.add_constraints(e_bat - keep * e_bat.shift(t=1) - dt_h * bat.eta_charge * p_ch
                          + dt_h / bat.eta_discharge * p_dis == keep * e0 * first, name="c_bat")

    p_imp = m.add_variables(lower=0, upper=plant.p_import_max_kw if plant.p_import_max_kw else np.inf,
                            coords=[T], name="p_imp")
    p_exp = m.add_variables(lower=0, upper=plant.p_export_max_kw if plant.p_export_max_kw else np.inf,
                            coords=[T], name="p_exp")
    p_cur = m.add_variables(lower=0, coords=[T], name="p_cur")
    m.add_constraints(p_cur <= pv, name="c_cur")
    u_load = 0
    if plant.p_import_max_kw is not None:
        u_load = m.add_variables(lower=0, coords=[T], name="u_load")
        m.add_constraints(u_load <= load, name="c_u_load")
    if plant.has_heat_demand or float(inputs.get("heat_kw", pd.Series([0.0])).max()) > 0:
        raise ValueError("linopy baseline: heat balance not implemented")
    m.add_constraints(-p_cur + p_imp + u_load + p_fc + p_dis - p_el - p_comp - p_ch - p_exp == load - pv,
                      name="c_balance")

    hv = {k: da(v) for k, v in hull_values(plant, pv.values[None, :], load.values).items()}
    k_lam = ely.p_min_kw + tank.w_comp_kwh_per_kg * float(ely.curve.y[0])
    m.add_constraints(p_imp + u_load + p_fc + p_dis - hv["need_on_kw"] * on - hv["need_sb_kw"] * sb
                      + (k_lam * lam if r > 0 else 0) >= hv["need_off_kw"], name="c_hull_buy")
    m.add_constraints(p_exp + p_cur + p_ch - hv["spill_on_kw"] * on - hv["spill_sb_kw"] * sb
                      >= hv["spill_off_kw"], name="c_hull_spill")

    energy = (dt_h * price_imp * p_imp - dt_h * price_exp * p_exp).sum()
    start = settings.startup_cost_eur * cs.sum()
    v_h2, v_b = settings.terminal_h2_eur_per_kg, settings.terminal_battery_eur_per_kwh
    last = xr.DataArray(np.arange(n) == n - 1, coords=[T])
    terminal = (v_h2 * last * m_tank).sum()
    const = v_h2 * m0
    if bat is not None:
        terminal = terminal + (v_b * last * e_bat).sum()
        const += v_b * e0
    penalty = settings.penalty_h2_unmet_eur_per_kg * u_h2.sum() + settings.penalty_h2_vent_eur_per_kg * vent.sum()
    if plant.p_import_max_kw is not None:
        penalty = penalty + settings.penalty_load_unmet_eur_per_kwh * dt_h * u_load.sum()
    m.add_objective(energy + start - terminal + penalty)
    return m, const


