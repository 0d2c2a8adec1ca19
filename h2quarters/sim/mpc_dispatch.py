"""The rolling MPC as a dispatcher for the physical simulator.

:class:`MPCDispatcher` implements :class:`h2quarters.sim.dispatch.Dispatcher`: every
``settings.mpc_replan_steps`` steps it re-plans with the *measured* plant state (tank mass, battery state of
charge, electrolyser state and stack power) over the coming horizon of the input table, using one
persistent model and HiGHS instance (:class:`h2quarters.opt.mpc.RollingMPC`); in between it follows the plan.
The simulator's physics then decides what really happens; :meth:`MPCDispatcher.plan_frame` keeps what the
plan expected for each executed step so the two can be compared.
"""

from __future__ import annotations

import math

import pandas as pd

from h2quarters.config.scenario import Scenario
from h2quarters.opt.annual import pad_inputs
from h2quarters.opt.model import ELY_OFF, ELY_ON, ELY_STARTING, InitialState
from h2quarters.opt.mpc import RollingMPC
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings
from h2quarters.sim.dispatch import PlantState, Setpoints

PLAN_COLUMNS = ("ely_state", "ely_p_stack_kw", "ely_p_el_kw", "ely_h2_kg", "compressor_p_kw", "fc_p_kw",
                "fc_h2_kg", "battery_p_charge_kw", "battery_p_discharge_kw", "tank_m_end_kg", "grid_import_kw",
                "grid_export_kw")


class MPCDispatcher:
    """Rolling-horizon MPC dispatcher (one persistent model, re-planned with the measured state).

    Parameters
    ----------
    scenario : Scenario
        The site; the optimiser's plant numbers come from its physical models.
    settings : OptSettings, optional
        Horizon (``mpc_horizon_h``), re-plan interval (``mpc_replan_steps``), gap and objective.
    plant : PlantParams, optional
        Pre-computed plant numbers (default: ``PlantParams.from_scenario(scenario)``).

    Notes
    -----
    The horizon is cut at the end of the input table by repeating its last day (forecast tail only; the
    tail is never executed). The electrolyser's history (time in state, time since a cold start) is tracked
    from the successive measured states, as the simulator does not report it.
    """

    def __init__(self, scenario: Scenario, settings: OptSettings | None = None,
                 plant: PlantParams | None = None) -> None:
        self.scenario = scenario
        self.settings = settings or OptSettings()
        self.plant = plant or PlantParams.from_scenario(scenario, self.settings)
        self._mpc: RollingMPC | None = None
        self._plan: pd.DataFrame | None = None
        self._plan_i0 = 0
        self._n_h = 0
        self._dt_h = 0.0
        self._last_state: int | None = None
        self._steps_in_state = 10_000
        self._since_cold = 10_000
        self._log: list[dict] = []
        self._padded: pd.DataFrame | None = None
        self._padded_src: pd.DataFrame | None = None
        self.solve_times_s: list[float] = []

    def _track(self, ely_state: int) -> None:
        prev = self._last_state
        if prev is None:
            self._steps_in_state = 10_000 if ely_state == ELY_OFF else 1
        else:
            same = (prev == ELY_ON) == (ely_state == ELY_ON) and (prev == ELY_OFF) == (ely_state == ELY_OFF)
            self._steps_in_state = self._steps_in_state + 1 if same else 1
            self._since_cold = 1 if (prev == ELY_OFF and ely_state != ELY_OFF) else self._since_cold + 1
        self._last_state = ely_state

    def decide(self, state: PlantState, inputs: pd.DataFrame, i: int) -> Setpoints:
        """Setpoints for step ``i`` from the current plan (re-planned every ``mpc_replan_steps`` steps)."""
        if self._mpc is None:
            self._dt_h = (inputs.index[1] - inputs.index[0]).total_seconds() / 3600.0
            self._n_h = max(2, round(self.settings.mpc_horizon_h / self._dt_h))
            self._mpc = RollingMPC(self.plant, self.settings, self._dt_h, self._n_h)
        self._track(int(state.ely_state))
        due = self._plan is None or (i - self._plan_i0) % self.settings.mpc_replan_steps == 0 \
            or not 0 <= i - self._plan_i0 < self._n_h
        if due:
            if self._padded is None or self._padded_src is not inputs:
                self._padded, self._padded_src = pad_inputs(inputs, self._n_h), inputs
            fc = self._padded.iloc[i:i + self._n_h]
            bat = self.plant.battery
            e_kwh = (state.soc or 0.0) * bat.e_kwh if bat is not None else 0.0
            k_full = math.floor(self.plant.electrolyser.startup_h / self._dt_h + 1e-9)
            st = int(state.ely_state)
            init = InitialState(
                m_tank_kg=state.m_tank_kg, e_battery_kwh=e_kwh,
                ely_state=st, ely_p_stack_kw=state.ely_p_stack_kw, ely_steps_in_state=self._steps_in_state,
                ely_startup_steps_left=max(0, k_full - self._since_cold) if st == ELY_STARTING else 0)
            shift = None if self._plan is None else i - self._plan_i0
            self._plan, info = self._mpc.solve(fc, init, warm_shift=shift)
            self._plan_i0 = i
            self.solve_times_s.append(info.solve_s)
        row = self._plan.iloc[i - self._plan_i0]
        self._log.append({"time": inputs.index[i], **{c: float(row[c]) for c in PLAN_COLUMNS}})
        planned = int(row["ely_state"])
        p_stack = 0.0
        if planned == ELY_ON:
            # a cold-start step's mean power covers only its producing part: ask for the producing level
            frac = float(row["ely_producing_frac"])
            p_stack = float(row["ely_p_stack_kw"]) / frac if frac > 1e-9 else 0.0
        elif planned == ELY_STARTING:
            p_stack = self.plant.electrolyser.p_min_kw  # start now so production can begin after the delay
        return Setpoints(ely_p_stack_kw=p_stack, ely_standby=planned != ELY_OFF, fc_p_kw=float(row["fc_p_kw"]),
                         battery_p_kw=float(row["battery_p_charge_kw"] - row["battery_p_discharge_kw"]))

    def plan_frame(self) -> pd.DataFrame:
        """What the plan expected for every executed step (compare with the simulator's time series)."""
        return pd.DataFrame(self._log).set_index("time") if self._log else pd.DataFrame(columns=PLAN_COLUMNS)
