"""AUTO mode's planner: PV forecast + measured state → rolling MPC, solved in a worker (never in the loop).

The worker keeps one :class:`h2quarters.opt.mpc.RollingMPC` per horizon alive between re-plans (persistent Pyomo
model and HiGHS instance), so a re-plan only updates parameters. With ``plan_worker: process`` the worker is a
separate process (spawned, so it shares no locks with the server's threads) and a slow or crashing solve cannot
delay the control cycle; ``thread`` is for environments without multiprocessing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from h2quarters.config.scenario import Scenario
from h2quarters.forecast.pv import PVForecastProvider

DT_S = 900
"""Plan step (s): the MPC runs at 15 min."""

_MPC_CACHE: dict[tuple[str, str, int], Any] = {}


def solve_plan(forecaster: PVForecastProvider, scenario_json: str, opt_json: str, n_h: int, now_ms: int,
               recent_t_ms: list[int], recent_pv_kw: list[float], state: dict[str, Any]) -> dict[str, Any]:
    """Worker entry: forecast PV and solve one MPC horizon; return plain lists (picklable, JSON-ready).

    Both the forecast (pvlib) and the MPC run here, in the worker, so neither holds the control loop's
    interpreter.

    Parameters
    ----------
    forecaster : PVForecastProvider
        PV forecast provider (picklable).
    scenario_json, opt_json : str
        The scenario and :class:`h2quarters.opt.settings.OptSettings` as JSON.
    n_h : int
        Steps of 15 min.
    now_ms : int
        Time of the re-plan (ms since epoch); the plan starts at the 15-min step containing it.
    recent_t_ms, recent_pv_kw : list
        Recently measured PV (for the clear-sky index).
    state : dict
        :class:`h2quarters.opt.model.InitialState` fields.
    """
    from h2quarters.opt.model import InitialState
    from h2quarters.opt.mpc import RollingMPC
    from h2quarters.opt.plant import PlantParams
    from h2quarters.opt.settings import OptSettings
    from h2quarters.sim.inputs import site_inputs

    t0 = time.perf_counter()
    sc = Scenario.model_validate_json(scenario_json)
    key = (scenario_json, opt_json, n_h)
    mpc = _MPC_CACHE.get(key)
    if mpc is None:
        s = OptSettings.model_validate_json(opt_json)
        mpc = RollingMPC(PlantParams.from_scenario(sc, s), s, DT_S / 3600.0, n_h)
        _MPC_CACHE.clear()
        _MPC_CACHE[key] = mpc
    tz = sc.location.tz
    now = pd.Timestamp(now_ms, unit="ms", tz="UTC").tz_convert(tz)
    start = now.floor("15min")
    idx = pd.date_range(start, periods=n_h, freq="15min")
    recent = pd.Series(recent_pv_kw, dtype=float,
                       index=pd.to_datetime(np.asarray(recent_t_ms, dtype="int64"), unit="ms", utc=True).tz_convert(tz))
    pv_kw = [float(x) for x in forecaster.forecast(now, idx, recent).to_numpy()]
    inputs = site_inputs(sc, start, start + pd.Timedelta(seconds=DT_S * n_h), "15min")
    if len(inputs) != n_h:
        raise RuntimeError(f"site inputs have {len(inputs)} rows for a horizon of {n_h}")
    inputs = inputs.copy()
    inputs["pv_kw"] = np.asarray(pv_kw, float)
    plan, info = mpc.solve(inputs, InitialState(**state))  # type: ignore[arg-type]
    assert plan is not None
    keep = ["pv_kw", "load_kw", "ely_state", "ely_p_stack_kw", "ely_p_el_kw", "ely_h2_kg", "compressor_p_kw",
            "fc_on", "fc_p_kw", "fc_h2_kg", "battery_p_charge_kw", "battery_p_discharge_kw", "battery_e_end_kwh",
            "tank_m_end_kg", "h2_demand_kg", "h2_unmet_kg", "h2_vented_kg", "grid_import_kw", "grid_export_kw",
            "pv_curtailed_kw", "load_unmet_kw", "cost_eur"]
    cols = {c: [float(x) for x in plan[c].to_numpy(float)] for c in keep if c in plan.columns}
    return {"columns": cols, "status": str(info.status), "solve_s": time.perf_counter() - t0,
            "t_start_ms": int(start.value // 1_000_000), "forecast_kw": pv_kw, "n_firm": mpc.firm_steps}


WORKER_NICE = 10
"""How much lower the planner worker's CPU priority is than the server's (``nice`` increment)."""


def init_worker(parent_pid: int, nice: int = WORKER_NICE) -> None:
    """Worker initializer: lower the worker's CPU priority, then watch the server (:func:`watch_parent`).

    A plan is best effort, the control cycle is not: the worker's first plan compiles the model (seconds of
    CPU), and on a busy machine a worker at the server's priority took enough CPU from the server's PLC link and
    watchdog heartbeats for Modbus polls to time out. At ``nice`` +10 the scheduler gives the server's threads
    the CPU first; the plan arrives later, which the controller already tolerates (it keeps its last plan).
    """
    os.nice(nice)
    watch_parent(parent_pid)


def watch_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """Worker initializer: end this process when the server that started it is gone (``kill -9`` included).

    A worker (≈300 MB with Pyomo and HiGHS) would otherwise outlive a crashed server, and keep multiprocessing's
    resource tracker alive with it. Polling the parent id is portable and cannot miss the parent's death (Linux'
    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked exits, which is not the server's death).
    """
    import threading

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(every_s)

    threading.Thread(target=watch, name="h2q-parent-watch", daemon=True).start()


@dataclass
class Plan:
    """A solved plan: 15-min steps from ``t_start_ms`` with the optimiser's columns and the PV forecast used."""

    plan_id: int | None
    t_created_ms: int
    t_start_ms: int
    columns: dict[str, list[float]]
    status: str
    solve_s: float
    forecast_kw: list[float] = field(default_factory=list)
    n_firm: int | None = None
    """Steps with binary on/off decisions (None: all); after them the plan is the LP's valuation of the future."""

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def t_end_ms(self) -> int:
        """End of the last step."""
        return self.t_start_ms + self.n_steps * DT_S * 1000

    @property
    def t_firm_end_ms(self) -> int:
        """End of the plan's firm part: a controller without a newer plan stops following it here (its later
        steps are relaxed, their on/off values fractional)."""
        n = self.n_steps if self.n_firm is None else min(self.n_firm, self.n_steps)
        return self.t_start_ms + n * DT_S * 1000

    def step_at(self, t_ms: int) -> int | None:
        """Index of the step containing ``t_ms`` (None outside the plan)."""
        if t_ms < self.t_start_ms or t_ms >= self.t_end_ms:
            return None
        return int((t_ms - self.t_start_ms) // (DT_S * 1000))

    def setpoints_at(self, t_ms: int, p_el_rated_kw: float) -> dict[str, float | bool] | None:
        """Setpoints of the step containing ``t_ms`` (None outside the plan).

        The electrolyser runs (``el_start``) whenever the plan keeps it energised (standby, starting or
        producing); its rate is the planned stack power over the rated power.
        """
        i = self.step_at(t_ms)
        if i is None:
            return None
        c = self.columns
        state = round(c["ely_state"][i])
        rate = 100.0 * c["ely_p_stack_kw"][i] / p_el_rated_kw if p_el_rated_kw > 0 else 0.0
        out: dict[str, float | bool] = {"el_start": state != 0, "el_production_rate_pct": round(rate, 3)}
        out["fc_start"] = bool(round(c.get("fc_on", [0.0] * (i + 1))[i]))
        out["fc_setpoint_kw"] = round(c.get("fc_p_kw", [0.0] * (i + 1))[i], 4)
        if "battery_p_charge_kw" in c:
            out["battery_setpoint_kw"] = round(c["battery_p_charge_kw"][i] - c["battery_p_discharge_kw"][i], 4)
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict with step times."""
        return {"plan_id": self.plan_id, "t_created_ms": self.t_created_ms, "t_start_ms": self.t_start_ms,
                "t_firm_end_ms": self.t_firm_end_ms,
                "dt_s": DT_S, "status": self.status, "solve_s": self.solve_s,
                "t_ms": [self.t_start_ms + i * DT_S * 1000 for i in range(self.n_steps)],
                "columns": self.columns, "forecast_pv_kw": self.forecast_kw}


def state_from_readings(values: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """MPC initial state from measured values (tank mass, battery energy, electrolyser state and power)."""
    # state codes of h2quarters.opt.model (= ElectrolyserState values); imported from the light models package so
    # the server process never imports Pyomo (a 1.5-s import would stall the control loop)
    from h2quarters.models.electrolyser import ElectrolyserState as ES

    ELY_OFF, ELY_STANDBY, ELY_ON = int(ES.OFF), int(ES.STANDBY), int(ES.PRODUCING)
    m_kg = values.get("tank_mass_kg")
    soc = values.get("battery_soc_pct")
    e_kwh = 0.0
    if scenario.battery is not None and soc is not None and np.isfinite(soc):
        e_kwh = float(soc) / 100.0 * scenario.battery.e_kwh
    el_state = values.get("el_state")
    ely = {3: ELY_ON, 4: ELY_STANDBY}.get(int(el_state) if el_state is not None else -1, ELY_OFF)
    p_el = float(values.get("el_power_kw") or 0.0)
    p_stack = max(p_el - scenario.electrolyser.p_bop_kw, 0.0) if ely == ELY_ON else 0.0
    return {"m_tank_kg": float(m_kg) if m_kg is not None else 0.0, "e_battery_kwh": e_kwh,
            "ely_state": ely, "ely_p_stack_kw": p_stack}


class AutoPlanner:
    """Forecast + MPC in a worker; one re-plan at a time.

    Parameters
    ----------
    scenario : Scenario
        Site.
    forecaster : PVForecastProvider
        PV forecast provider.
    horizon_h : float
        MPC horizon (h), rounded to 15-min steps.
    worker : {"process", "thread"}
        Where the MPC runs.
    opt_json : str, optional
        :class:`h2quarters.opt.settings.OptSettings` as JSON (default settings).
    """

    def __init__(self, scenario: Scenario, forecaster: PVForecastProvider, horizon_h: float = 24.0,
                 worker: str = "process", opt_json: str | None = None) -> None:
        from h2quarters.opt.settings import OptSettings

        self.scenario = scenario
        self.forecaster = forecaster
        self.n_h = max(round(horizon_h * 3600 / DT_S), 2)
        self.opt_json = opt_json or OptSettings().model_dump_json()
        self._sc_json = scenario.model_dump_json()
        if worker == "process":
            self.executor: cf.Executor = cf.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                initargs=(os.getpid(),))
        else:
            self.executor = cf.ThreadPoolExecutor(1, thread_name_prefix="h2q-mpc")

    async def replan(self, now_ms: int, values: dict[str, Any], recent_pv_kw: pd.Series) -> Plan:
        """Forecast and solve (in the worker) from the step containing ``now_ms``; raises on failure (the caller
        keeps its last valid plan)."""
        state = state_from_readings(values, self.scenario)
        loop = asyncio.get_running_loop()
        t_ms = [int(x) for x in recent_pv_kw.index.asi8 // 1_000_000]
        res = await loop.run_in_executor(self.executor, solve_plan, self.forecaster, self._sc_json, self.opt_json,
                                         self.n_h, now_ms, t_ms, [float(x) for x in recent_pv_kw.to_numpy()], state)
        return Plan(None, int(time.time() * 1000), res["t_start_ms"], res["columns"], res["status"], res["solve_s"],
                    res["forecast_kw"], res.get("n_firm"))

    def close(self) -> None:
        """Stop the worker."""
        self.executor.shutdown(wait=False, cancel_futures=True)
