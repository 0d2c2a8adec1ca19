"""Solved models as labelled tables, and infeasibility explained in words.

The schedule is recomputed from the primal values with numpy (curve chords, efficiencies), so that the
balances checked on it are an independent check of the model's constraints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from h2quarters.models.constants import LHV_H2_KWH_PER_KG
from h2quarters.opt.model import ELY_OFF, ELY_ON, ELY_STANDBY, ELY_STARTING, steps_of
from h2quarters.opt.plant import PlantParams

SLACK_TOL = 1e-6


VAR_ST = ("on", "sb", "cs", "lam", "fc_on", "q_boil", "p_ch", "p_dis", "p_imp", "p_exp", "p_cur",
          "u_h2", "vent", "u_load")
VAR_ST1 = ("m_tank", "e_bat")
PARAM_T = ("load_kw", "heat_kw", "price_import", "price_export", "co2_g_per_kwh", "h2_demand_kg")


def model_arrays(m: pyo.ConcreteModel, scenario: int = 0) -> dict[str, np.ndarray]:
    """Primal values of one scenario as arrays: ``(n,)`` per step, ``(n, k)`` per segment, and for tank and
    battery the state at the *end* of each step; plus the time-series Params."""
    n, s = m.n_steps, scenario
    out: dict[str, np.ndarray] = {}
    for name in VAR_ST:
        if hasattr(m, name):
            var = getattr(m, name)
            out[name] = np.fromiter((var[s, t].value or 0.0 for t in range(n)), float, n)
    for name, kset in (("dl", "K"), ("dfc", "KF")):
        if hasattr(m, name):
            var = getattr(m, name)
            k = len(getattr(m, kset))
            out[name] = np.array([[var[s, t, j].value or 0.0 for j in range(k)] for t in range(n)], float)
    for name in VAR_ST1:
        if hasattr(m, name):
            var = getattr(m, name)
            out[name] = np.fromiter((var[s, t + 1].value for t in range(n)), float, n)
    out["pv_kw"] = np.fromiter((pyo.value(m.pv_kw[s, t]) for t in range(n)), float, n)
    for name in PARAM_T:
        p = getattr(m, name)
        out[name] = np.fromiter((pyo.value(p[t]) for t in range(n)), float, n)
    return out


def var_positions(m: pyo.ConcreteModel, col_pos: dict[int, int], scenario: int = 0) -> dict[str, np.ndarray]:
    """Column of every reported variable of one scenario in a compiled model (−1 where Pyomo dropped an
    unused variable), in the layout of :func:`model_arrays`.

    Parameters
    ----------
    m : ConcreteModel
        The model that was compiled.
    col_pos : dict
        ``id(var) → column`` of the compiled standard form.
    """
    n, s = m.n_steps, scenario
    pos = {}

    def get(v: object) -> int:
        return col_pos.get(id(v), -1)
    for name in VAR_ST:
        if hasattr(m, name):
            var = getattr(m, name)
            pos[name] = np.array([get(var[s, t]) for t in range(n)])
    for name, kset in (("dl", "K"), ("dfc", "KF")):
        if hasattr(m, name):
            var = getattr(m, name)
            pos[name] = np.array([[get(var[s, t, k]) for k in getattr(m, kset)] for t in range(n)])
    for name in VAR_ST1:
        if hasattr(m, name):
            var = getattr(m, name)
            pos[name] = np.array([get(var[s, t + 1]) for t in range(n)])
    return pos


def solution_arrays(x: np.ndarray, positions: dict[str, np.ndarray], values: dict[str, np.ndarray],
                    n_steps: int) -> dict[str, np.ndarray]:
    """Primal arrays (layout of :func:`model_arrays`) from a solution vector and the Param values.

    Parameters
    ----------
    x : ndarray
        Column values of the compiled model.
    positions : dict
        From :func:`var_positions`.
    values : dict
        The Param values the model was solved with (as from ``input_values``); scenario 0's PV is used.
    n_steps : int
        Steps of the model.
    """
    xx = np.concatenate([np.asarray(x, float), [0.0]])  # position −1 → 0.0 for dropped variables
    out = {name: xx[p] for name, p in positions.items()}
    out["pv_kw"] = np.asarray(values["pv_kw"], float)[:n_steps]
    for name in PARAM_T:
        out[name] = np.asarray(values[name], float)
    return out


def schedule_frame(m: pyo.ConcreteModel, index: pd.DatetimeIndex, scenario: int = 0) -> pd.DataFrame:
    """The solved schedule of one PV scenario as a DataFrame (rows = steps, units in column names).

    Parameters
    ----------
    m : ConcreteModel
        A solved model from :func:`h2quarters.opt.model.build_model`.
    index : DatetimeIndex
        Left-labelled step times (length ``m.n_steps``).
    scenario : int
        Which PV scenario to report (0 for deterministic models).

    Returns
    -------
    DataFrame
        Inputs (``pv_kw``, ``load_kw`` …) and every decision and state; energies per step in kWh/kg,
        powers as step means in kW, tank and battery at the *end* of each step.
    """
    if len(index) != m.n_steps:
        raise ValueError(f"index has {len(index)} entries, model has {m.n_steps} steps")
    return schedule_from_arrays(model_arrays(m, scenario), m.plant, m.settings, m.dt_h, index)


def schedule_from_arrays(a: dict[str, np.ndarray], plant: PlantParams, settings, dt: float,
                         index: pd.DatetimeIndex) -> pd.DataFrame:
    """Build the schedule table from primal arrays (see :func:`model_arrays`)."""
    ely, tank, fc, bat = plant.electrolyser, plant.tank, plant.fuel_cell, plant.battery
    n = len(index)
    zeros = np.zeros(n)
    df = pd.DataFrame(index=index)
    df["pv_kw"] = a["pv_kw"]
    df["load_kw"] = a["load_kw"]
    df["heat_kw"] = a["heat_kw"]
    df["import_eur_per_kwh"] = a["price_import"]
    df["feed_in_eur_per_kwh"] = a["price_export"]
    df["co2_g_per_kwh"] = a["co2_g_per_kwh"]
    df["h2_demand_kg"] = a["h2_demand_kg"]

    on = np.round(a["on"])
    sb = np.round(a["sb"])
    cs = np.round(a["cs"])
    lam = a.get("lam", zeros)
    z = on - lam
    p_st = ely.p_min_kw * z + a["dl"].sum(axis=1)
    h2_rate = ely.curve.y[0] * z + a["dl"] @ ely.curve.slopes
    # energised but not producing within the start-up delay after a cold start: STARTING
    k_delay = steps_of(ely.startup_h, dt)
    recent = np.convolve(cs, np.ones(max(k_delay, 1)))[:n] > 0.5 if k_delay else np.zeros(n, bool)
    state = np.where(on > 0.5, ELY_ON, np.where(sb > 0.5, ELY_STANDBY, ELY_OFF))
    state = np.where((state == ELY_STANDBY) & recent, ELY_STARTING, state)
    df["ely_state"] = state.astype(int)
    df["ely_cold_start"] = cs.astype(int)
    df["ely_producing_frac"] = z
    df["ely_p_stack_kw"] = p_st
    df["ely_p_el_kw"] = p_st + ely.p_bop_kw * on + ely.p_standby_kw * sb
    df["ely_h2_kg"] = h2_rate * dt
    df["compressor_p_kw"] = tank.w_comp_kwh_per_kg * h2_rate
    if fc is not None:
        fc_on = np.round(a["fc_on"])
        fc_rate = fc.curve.y[0] * fc_on + a["dfc"] @ fc.curve.slopes
        df["fc_on"] = fc_on.astype(int)
        df["fc_p_kw"] = fc.p_min_kw * fc_on + a["dfc"].sum(axis=1)
        df["fc_h2_kg"] = fc_rate * dt
        df["fc_heat_kw"] = fc.heat_frac_of_h2 * LHV_H2_KWH_PER_KG * fc_rate
    else:
        df["fc_on"] = 0
        df["fc_p_kw"] = 0.0
        df["fc_h2_kg"] = 0.0
        df["fc_heat_kw"] = 0.0
    df["boiler_heat_kw"] = a.get("q_boil", zeros)
    if bat is not None:
        df["battery_p_charge_kw"] = a["p_ch"]
        df["battery_p_discharge_kw"] = a["p_dis"]
        df["battery_e_end_kwh"] = a["e_bat"]
    else:
        df["battery_p_charge_kw"] = 0.0
        df["battery_p_discharge_kw"] = 0.0
        df["battery_e_end_kwh"] = 0.0
    df["tank_m_end_kg"] = a["m_tank"]
    df["grid_import_kw"] = a["p_imp"]
    df["grid_export_kw"] = a["p_exp"]
    df["pv_curtailed_kw"] = a["p_cur"]
    df["h2_unmet_kg"] = a["u_h2"]
    df["h2_vented_kg"] = a["vent"]
    df["load_unmet_kw"] = a.get("u_load", zeros)
    gas = df["boiler_heat_kw"] / settings.boiler_eta
    df["cost_eur"] = dt * (df["import_eur_per_kwh"] * df["grid_import_kw"]
                           - df["feed_in_eur_per_kwh"] * df["grid_export_kw"] + plant.gas_eur_per_kwh * gas)
    df["co2_kg"] = dt * (df["co2_g_per_kwh"] * df["grid_import_kw"] + plant.co2_gas_g_per_kwh * gas) * 1e-3
    return df


def _totals(schedule: pd.DataFrame, plant: PlantParams, dt_h: float) -> dict:
    """Counts and energy/hydrogen totals of a schedule, and the curve approximation errors."""
    return {
        "n_cold_starts": int(schedule["ely_cold_start"].sum()),
        "h2_produced_kg": float(schedule["ely_h2_kg"].sum()),
        "h2_to_fuel_cell_kg": float(schedule["fc_h2_kg"].sum()),
        "h2_delivered_kg": float((schedule["h2_demand_kg"] - schedule["h2_unmet_kg"]).sum()),
        "grid_import_kwh": float(schedule["grid_import_kw"].sum() * dt_h),
        "grid_export_kwh": float(schedule["grid_export_kw"].sum() * dt_h),
        "electrolyser_curve_segments": len(plant.electrolyser.curve.widths),
        "electrolyser_curve_max_abs_err_kg_per_h": plant.electrolyser.curve.max_abs_err,
        "electrolyser_curve_max_rel_err": plant.electrolyser.curve.max_rel_err,
        "notes": dict(plant.notes),
    }


def summary_dict(m: pyo.ConcreteModel, schedule: pd.DataFrame, scenario: int = 0) -> dict:
    """Objective and its parts, key totals and the curve approximation errors of a solved model."""
    plant: PlantParams = m.plant
    s = scenario
    return {
        "objective": float(pyo.value(m.obj)),
        "objective_kind": m.settings.objective,
        "energy_cost_eur": float(pyo.value(m.energy_cost_eur[s])),
        "startup_cost_eur": float(pyo.value(m.startup_cost_eur[s])),
        "terminal_value_eur": float(pyo.value(m.terminal_value_eur[s])),
        "penalty_eur": float(pyo.value(m.penalty_eur[s])),
        "co2_kg": float(pyo.value(m.co2_kg[s])),
        **_totals(schedule, plant, m.dt_h),
    }


def summary_from_schedule(schedule: pd.DataFrame, plant: PlantParams, settings, dt_h: float, m0_kg: float,
                          e0_kwh: float, objective: float) -> dict:
    """The summary of :func:`summary_dict` computed from the schedule table alone (no Pyomo model needed).

    Parameters
    ----------
    schedule : DataFrame
        From :func:`schedule_from_arrays`.
    plant, settings : PlantParams, OptSettings
        What the plan was made with.
    dt_h : float
        Step length (h).
    m0_kg, e0_kwh : float
        Tank mass and battery energy at the start (after clipping into their windows).
    objective : float
        The solver's objective value.
    """
    sch = schedule
    d_m = float(sch["tank_m_end_kg"].iloc[-1]) - m0_kg
    d_e = float(sch["battery_e_end_kwh"].iloc[-1]) - e0_kwh if plant.battery is not None else 0.0
    penalty = (settings.penalty_h2_unmet_eur_per_kg * float(sch["h2_unmet_kg"].sum())
               + settings.penalty_h2_vent_eur_per_kg * float(sch["h2_vented_kg"].sum())
               + settings.penalty_load_unmet_eur_per_kwh * dt_h * float(sch["load_unmet_kw"].sum()))
    return {
        "objective": float(objective),
        "objective_kind": settings.objective,
        "energy_cost_eur": float(sch["cost_eur"].sum()),
        "startup_cost_eur": settings.startup_cost_eur * float(sch["ely_cold_start"].sum()),
        "terminal_value_eur": settings.terminal_h2_eur_per_kg * d_m + settings.terminal_battery_eur_per_kwh * d_e,
        "penalty_eur": penalty,
        "co2_kg": float(sch["co2_kg"].sum()),
        **_totals(sch, plant, dt_h),
    }


def explain(schedule: pd.DataFrame, plant: PlantParams, dt_h: float) -> list[str]:
    """Sentences naming every requirement the optimum could not meet (non-zero penalised slacks).

    Parameters
    ----------
    schedule : DataFrame
        From :func:`schedule_frame`.
    plant : PlantParams
        The plant (for limits quoted in the sentences).
    dt_h : float
        Step length in hours.

    Returns
    -------
    list of str
        Empty when every requirement is met.
    """
    msgs: list[str] = []
    day = schedule.index.tz_convert(schedule.index.tz).normalize() if schedule.index.tz else schedule.index.normalize()
    ely = plant.electrolyser
    max_kg_per_day = float(ely.curve.y[-1]) * 24.0
    by_day = schedule.groupby(day)
    for d, g in by_day:
        unmet = float(g["h2_unmet_kg"].sum())
        if unmet > SLACK_TOL * max(1.0, float(g["h2_demand_kg"].sum())) and unmet > 1e-5:
            msgs.append(_unmet_h2_sentence(schedule, g, d, unmet, plant, dt_h))
        vent = float(g["h2_vented_kg"].sum())
        if vent > 1e-5:
            msgs.append(
                f"on {d.date()} {vent:.3f} kg of hydrogen would have to be vented: the tank is full "
                f"({plant.tank.m_max_kg:.3f} kg) while the electrolyser is held on (minimum up time or state "
                f"handed over from the plant)")
        lu = float(g["load_unmet_kw"].sum() * dt_h)
        if lu > 1e-4:
            load = float(g["load_kw"].sum() * dt_h)
            lim = "unlimited" if plant.p_import_max_kw is None else f"{plant.p_import_max_kw:g} kW"
            msgs.append(
                f"electrical load of {load:.2f} kWh on {d.date()} exceeds what grid import (limit {lim}), PV, "
                f"battery and fuel cell can supply by {lu:.2f} kWh")
    return msgs


def _unmet_h2_sentence(schedule: pd.DataFrame, g: pd.DataFrame, d: pd.Timestamp, unmet: float,
                       plant: PlantParams, dt_h: float) -> str:
    """Name the limit that binds for a day's unmet hydrogen demand.

    Two upper bounds on what can be delivered by the end of the day's last unmet step: the *demand window*
    (from the day's first demand step on, the tank can contribute at most its usable content and the
    electrolyser at most full output over the window) and *production* (the hydrogen in the tank at the start
    of the schedule plus full output from then on, minus demand served earlier). The smaller one binds.
    """
    ely, tank = plant.electrolyser, plant.tank
    rate = float(ely.curve.y[-1])
    usable = tank.m_max_kg - tank.m_min_kg
    demand_day = float(g["h2_demand_kg"].sum())
    steps = np.flatnonzero(g["h2_demand_kg"].to_numpy() > 0)
    last = int(np.flatnonzero(g["h2_unmet_kg"].to_numpy() > 1e-9)[-1])
    first = int(steps[0]) if len(steps) else last
    t_first, t_last = g.index[first], g.index[last]
    win_h = (last - first + 1) * dt_h
    in_win = float(g["h2_demand_kg"].iloc[first:last + 1].sum())
    cap_window = usable + rate * win_h
    pos = schedule.index.get_loc(t_last)
    m0 = float(schedule["tank_m_end_kg"].iloc[0] - schedule["ely_h2_kg"].iloc[0] + schedule["fc_h2_kg"].iloc[0]
               + schedule["h2_demand_kg"].iloc[0] - schedule["h2_unmet_kg"].iloc[0]
               + schedule["h2_vented_kg"].iloc[0])
    before = schedule.iloc[:schedule.index.get_loc(t_first)]
    served_before = float((before["h2_demand_kg"] - before["h2_unmet_kg"]).sum())
    cap_prod = max(m0 - tank.m_min_kg, 0.0) + rate * (pos + 1) * dt_h - served_before
    head = f"hydrogen demand of {demand_day:.3f} kg on {d.date()} cannot be met by {unmet:.3f} kg"
    if cap_window <= cap_prod:
        return (f"{head}: the demand window binds — {in_win:.3f} kg are demanded between {t_first:%H:%M} and the "
                f"end of the {t_last:%H:%M} step, but within those {win_h:g} h at most {cap_window:.3f} kg can be "
                f"delivered: the usable tank ({usable:.3f} kg between {tank.m_min_kg:.3f} and {tank.m_max_kg:.3f} "
                f"kg) plus the electrolyser at full output ({rate:.4f} kg/h × {win_h:g} h); a larger tank or a "
                f"longer demand window would help")
    return (f"{head}: electrolyser output binds — from the start of the plan to the end of the {t_last:%H:%M} step "
            f"at most {cap_prod:.3f} kg can be made available (the {max(m0 - tank.m_min_kg, 0.0):.3f} kg usable "
            f"at the start plus the electrolyser at full output, {rate:.4f} kg/h = {rate * 24:.3f} kg/day, minus "
            f"{served_before:.3f} kg served before); the usable tank is {usable:.3f} kg")


class InfeasibleRequest(RuntimeError):
    """Raised when the optimum needs penalised slacks; the message says which requirement fails."""
