"""Annual planning: one monolithic MILP over the year, or rolling windows with overlap — and their difference.

The rolling variant solves ``annual_window_h`` hours, keeps the first ``annual_commit_h`` and moves on with
the state reached (perfect foresight inside each window, none beyond). It reuses the persistent MPC model,
so a year at 24 h commits is 365 re-solves of one model.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from h2quarters.opt.model import InitialState, initial_state_from_plant
from h2quarters.opt.mpc import ClosedLoopResult, run_closed_loop
from h2quarters.opt.plan import PlanResult, plan, step_hours
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings


def pad_inputs(inputs: pd.DataFrame, n_extra: int) -> pd.DataFrame:
    """Append ``n_extra`` steps that repeat the last day(s) of ``inputs`` (forecast tail beyond the data).

    Only used so that the last windows of a rolling plan have a full horizon; nothing in the padded tail
    is ever executed or counted.
    """
    if n_extra <= 0:
        return inputs
    dt = inputs.index[1] - inputs.index[0]
    per_day = round(pd.Timedelta("1D") / dt)
    reps = int(np.ceil(n_extra / per_day)) + 1
    tail = pd.concat([inputs.iloc[-per_day:]] * reps).iloc[:n_extra].copy()
    tail.index = pd.date_range(inputs.index[-1] + dt, periods=n_extra, freq=dt, tz=inputs.index.tz)
    return pd.concat([inputs, tail])


def plan_rolling(plant: PlantParams, inputs: pd.DataFrame, settings: OptSettings,
                 state: InitialState | None = None) -> tuple[ClosedLoopResult, dict]:
    """Rolling-horizon plan over all of ``inputs`` (window/commit from ``settings``).

    Returns
    -------
    (ClosedLoopResult, dict)
        The executed schedule and a summary (cost parts, number of windows, timings).
    """
    dt_h = step_hours(inputs.index)
    n_w = round(settings.annual_window_h / dt_h)
    n_c = round(settings.annual_commit_h / dt_h)
    st = state or initial_state_from_plant(plant)
    t0 = time.perf_counter()
    # windows are solved to the same gap as the monolithic plan they are compared with
    roll_settings = settings.model_copy(update={"mpc_mip_rel_gap": settings.mip_rel_gap,
                                                "mpc_time_limit_s": settings.time_limit_s})
    res = run_closed_loop(plant, pad_inputs(inputs, n_w), len(inputs), roll_settings, state=st, n_horizon=n_w,
                          replan_steps=n_c)
    wall = time.perf_counter() - t0
    r = res.realised
    summary = {
        "mode": "annual-rolling",
        "window_h": settings.annual_window_h,
        "commit_h": settings.annual_commit_h,
        "n_windows": len(res.timings),
        "energy_cost_eur": float(r["cost_eur"].sum()),
        "startup_cost_eur": float(r["startup_cost_eur"].sum()),
        "terminal_value_eur": settings.terminal_h2_eur_per_kg * (float(r["tank_m_end_kg"].iloc[-1]) - st.m_tank_kg)
        + settings.terminal_battery_eur_per_kwh * (float(r["battery_e_end_kwh"].iloc[-1]) - st.e_battery_kwh
                                                   if plant.battery is not None else 0.0),
        "co2_kg": float(r["co2_kg"].sum()),
        "n_cold_starts": int(r["ely_cold_start"].sum()),
        "h2_produced_kg": float(r["ely_h2_kg"].sum()),
        "wall_s": wall,
        "build_s": res.build_s,
        "solve_s_total": float(sum(t.solve_s for t in res.timings)),
    }
    summary["net_cost_eur"] = summary["energy_cost_eur"] + summary["startup_cost_eur"] - summary["terminal_value_eur"]
    return res, summary


def compare_monolithic_rolling(plant: PlantParams, inputs: pd.DataFrame, settings: OptSettings,
                               state: InitialState | None = None) -> tuple[PlanResult, ClosedLoopResult, dict]:
    """Solve the period monolithically and rolling; report both net costs and their difference.

    The net cost is energy cost + start-up costs − value of the change in stored hydrogen and battery
    energy (so both variants are compared on the same terms). The rolling plan cannot be cheaper than the
    monolithic optimum except within the monolithic MIP gap.
    """
    mono = plan(plant, inputs, settings, state)
    roll, roll_summary = plan_rolling(plant, inputs, settings, state)
    s = mono.summary
    mono_net = s["energy_cost_eur"] + s["startup_cost_eur"] - s["terminal_value_eur"]
    cmp = {
        "monolithic_net_cost_eur": mono_net,
        "rolling_net_cost_eur": roll_summary["net_cost_eur"],
        "rolling_minus_monolithic_eur": roll_summary["net_cost_eur"] - mono_net,
        "rolling_minus_monolithic_rel": (roll_summary["net_cost_eur"] - mono_net) / max(abs(mono_net), 1e-9),
        "monolithic_mip_gap": s["mip_gap"],
        "monolithic_time_s": s["build_s"] + s["handoff_s"] + s["solve_s"],
        "rolling_time_s": roll_summary["wall_s"],
        "rolling": roll_summary,
    }
    return mono, roll, cmp
