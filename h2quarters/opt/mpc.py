"""Rolling-horizon MPC with one persistent model and one persistent HiGHS instance.

The model is built once for the horizon length; each re-plan writes the new forecast and measured state into
its mutable Params and re-solves. Pyomo's persistent HiGHS interface then changes only the affected row
bounds and cost coefficients in the live HiGHS model — nothing is rebuilt.

:func:`run_closed_loop` drives a simple plant emulator with the plans: the electrolyser, fuel cell and
battery follow the plan's first step(s); the *realised* PV (which may differ from the forecast the plan was
made with) is balanced by the grid. Tank and battery therefore evolve exactly as planned, and the realised
energy cost is what the grid meter would show. The physical simulator (``h2q simulate --dispatch mpc``)
uses :class:`h2quarters.sim.mpc_dispatch.MPCDispatcher` instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from h2quarters.opt.direct import DirectHighs
from h2quarters.opt.model import (
    ELY_OFF,
    ELY_ON,
    ELY_STANDBY,
    ELY_STARTING,
    InitialState,
    build_model,
    initial_state_from_plant,
    input_values,
    set_initial_state,
    set_inputs,
    state_values,
    write_values,
)
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.results import schedule_frame, schedule_from_arrays
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import PersistentHighs, SolveInfo

# Swanson's rule: P10/P50/P90 with weights 0.3/0.4/0.3 approximate the mean of a skewed distribution.
SWANSON_PROBS = np.array([0.3, 0.4, 0.3])


@dataclass
class MPCTimings:
    """Wall times of one re-plan (s)."""

    update_s: float
    solve_s: float
    highs_s: float
    extract_s: float
    cpu_s: float = float("nan")  # process CPU time of the whole re-plan (insensitive to other jobs' load)

    @property
    def total_s(self) -> float:
        """Update + solve + extract."""
        return self.update_s + self.solve_s + self.extract_s

    @property
    def overhead_s(self) -> float:
        """Everything that is not HiGHS itself."""
        return self.total_s - self.highs_s


class RollingMPC:
    """One persistent dispatch model of ``n_horizon`` steps, re-solved with new data.

    Parameters
    ----------
    plant : PlantParams
        Plant numbers.
    settings : OptSettings
        Optimiser settings (objective, gap, commitment rules).
    dt_h : float
        Step length (h).
    n_horizon : int
        Steps per plan (e.g. 192 = 48 h at 15 min).
    n_scenarios : int
        1 for deterministic MPC; 3 for the two-stage P10/P50/P90 variant.
    backend : {"direct", "pyomo-persistent"}
        ``direct``: :class:`h2quarters.opt.direct.DirectHighs` (numpy updates, warm start; default);
        ``pyomo-persistent``: Pyomo's persistent HiGHS interface (kept for comparison).
    applied_steps : int, optional
        Steps of each plan that are executed before the next re-plan (default ``settings.mpc_replan_steps``);
        the binary part of a relaxed-tail plan (``mpc_integer_h``) always covers them.
    """

    def __init__(self, plant: PlantParams, settings: OptSettings, dt_h: float, n_horizon: int,
                 n_scenarios: int = 1, backend: str = "direct", applied_steps: int | None = None) -> None:
        if backend not in ("direct", "pyomo-persistent"):
            raise ValueError(f"backend '{backend}' not allowed; choose 'direct' or 'pyomo-persistent'")
        t0 = time.perf_counter()
        self.plant, self.settings, self.dt_h, self.n_horizon = plant, settings, dt_h, n_horizon
        self.n_scenarios = n_scenarios
        self.backend = backend
        self.applied_steps = int(applied_steps or settings.mpc_replan_steps)
        self.model = build_model(plant, n_horizon, dt_h, settings, n_scenarios=n_scenarios,
                                 with_heat=plant.has_heat_demand)
        self.build_s = time.perf_counter() - t0
        self.setup_s = 0.0
        self._solver: PersistentHighs | None = None
        self._direct: DirectHighs | None = None
        self._probs: np.ndarray | None = None
        self.timings: list[MPCTimings] = []
        self.infos: list[SolveInfo] = []

    @property
    def firm_steps(self) -> int:
        """Steps of each plan whose on/off decisions are binary (``mpc_integer_h``, at least the executed
        ``applied_steps``; the rest of the horizon is the LP relaxation, which only values the future): the part of
        a plan that is a schedule to follow. The whole horizon without ``mpc_integer_h`` (direct backend: the
        Pyomo backend keeps every step binary)."""
        ih = self.settings.mpc_integer_h
        if ih is None or self.backend != "direct":
            return self.n_horizon
        # the executed steps must be integral: the relaxed tail starts after them at the earliest
        return min(self.n_horizon, max(1, math.ceil(ih / self.dt_h - 1e-9), self.applied_steps))

    def solve(self, forecast: pd.DataFrame, state: InitialState, pv_scenarios_kw: np.ndarray | None = None,
              probabilities: np.ndarray | None = None, extract: bool = True,
              warm_shift: int | None = None) -> tuple[pd.DataFrame | None, SolveInfo]:
        """Re-plan from ``state`` over ``forecast`` (exactly ``n_horizon`` rows).

        Parameters
        ----------
        warm_shift : int, optional
            Steps executed since the last plan; the last solution shifted by this many steps is offered to
            HiGHS as a starting incumbent (direct backend).

        Returns
        -------
        (DataFrame or None, SolveInfo)
            The plan of scenario 0 (the shared first stage is identical in all scenarios) and solver info.
        """
        if self.backend == "direct":
            return self._solve_direct(forecast, state, pv_scenarios_kw, probabilities, extract, warm_shift)
        c0 = time.process_time()
        t0 = time.perf_counter()
        set_inputs(self.model, forecast, pv_scenarios_kw, probabilities)
        set_initial_state(self.model, state)
        t1 = time.perf_counter()
        if self._solver is None:
            self._solver = PersistentHighs(self.model, self.settings.model_copy(
                update={"mip_rel_gap": self.settings.mpc_mip_rel_gap}))
        info = self._solver.solve()
        t2 = time.perf_counter()
        sched = schedule_frame(self.model, forecast.index) if (extract and info.ok) else None
        t3 = time.perf_counter()
        self.timings.append(MPCTimings(update_s=t1 - t0, solve_s=t2 - t1, highs_s=info.highs_run_s,
                                       extract_s=t3 - t2, cpu_s=time.process_time() - c0))
        self.infos.append(info)
        if not info.ok:
            raise RuntimeError(f"MPC re-plan at {forecast.index[0]} failed: HiGHS status {info.status}")
        return sched, info

    def _solve_direct(self, forecast: pd.DataFrame, state: InitialState, pv: np.ndarray | None,
                      probabilities: np.ndarray | None, extract: bool,
                      warm_shift: int | None) -> tuple[pd.DataFrame | None, SolveInfo]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        vals = input_values(self.model, forecast, pv)
        vals.update(state_values(self.model, state))
        if self._direct is None:
            write_values(self.model, vals)
            if probabilities is not None:
                set_inputs(self.model, forecast, pv, probabilities)
                self._probs = np.asarray(probabilities, float)
            self._direct = DirectHighs(self.model, self.settings.model_copy(
                update={"mip_rel_gap": self.settings.mpc_mip_rel_gap, "mip_abs_gap": self.settings.mpc_mip_abs_gap}),
                int_steps=None if self.settings.mpc_integer_h is None else self.firm_steps,
                lp_first=bool(self.settings.mpc_lp_first))
            self._direct.h.setOptionValue("presolve", "on" if self.settings.mpc_presolve else "off")
            self.setup_s = self._direct.setup_s
            c0 = time.process_time()
            t0 = time.perf_counter()
        else:
            if probabilities is not None and (self._probs is None or not np.allclose(probabilities, self._probs)):
                raise ValueError("scenario probabilities are fixed per RollingMPC (direct backend)")
            self._direct.update(vals)
        t1 = time.perf_counter()
        warm = warm_shift is not None and self._direct._x is not None
        # re-plans are limited by work (nodes, gaps) so that the plan does not depend on the machine's load;
        # the first plan of a model runs to its gap (time_limit_s is its safety)
        self._direct.h.setOptionValue("mip_max_nodes", int(self.settings.mpc_max_nodes) if warm else 2**31 - 1)
        info = self._direct.solve(warm_shift, self.settings.mpc_time_limit_s if warm else self.settings.time_limit_s,
                                  heuristics_when_warm=bool(self.settings.mpc_feasibility_jump),
                                  sub_mip_when_warm=bool(self.settings.mpc_sub_mip_heuristics))
        t2 = time.perf_counter()
        if not info.ok:
            raise RuntimeError(f"MPC re-plan at {forecast.index[0]} failed: HiGHS status {info.status}")
        sched = schedule_from_arrays(self._direct.arrays(vals), self.plant, self.settings, self.dt_h,
                                     forecast.index) if extract else None
        t3 = time.perf_counter()
        self.timings.append(MPCTimings(update_s=t1 - t0, solve_s=t2 - t1, highs_s=info.highs_run_s,
                                       extract_s=t3 - t2, cpu_s=time.process_time() - c0))
        self.infos.append(info)
        return sched, info


@dataclass
class _Tracker:
    """Electrolyser history needed for minimum up/down times and the start-up delay."""

    state: int = ELY_OFF
    steps_in_state: int = 10_000
    since_cold_start: int = 10_000

    def advance(self, new_state: int, cold_start: bool) -> None:
        producing_or_not = (new_state == ELY_ON) == (self.state == ELY_ON)
        energised_same = (new_state == ELY_OFF) == (self.state == ELY_OFF)
        same = producing_or_not and energised_same
        self.steps_in_state = self.steps_in_state + 1 if same else 1
        self.state = new_state
        self.since_cold_start = 1 if cold_start else self.since_cold_start + 1


def state_for_model(tracker: _Tracker, m_tank_kg: float, e_kwh: float, p_stack_kw: float, plant: PlantParams,
                    dt_h: float) -> InitialState:
    """InitialState for the next plan from tracked history."""
    k_full = math.floor(plant.electrolyser.startup_h / dt_h + 1e-9)
    left = max(0, k_full - tracker.since_cold_start)
    st = tracker.state if tracker.state != ELY_STARTING else ELY_STANDBY
    return InitialState(m_tank_kg=m_tank_kg, e_battery_kwh=e_kwh, ely_state=st, ely_p_stack_kw=p_stack_kw,
                        ely_steps_in_state=tracker.steps_in_state, ely_startup_steps_left=left)


@dataclass
class ClosedLoopResult:
    """What the emulated plant did under a rolling planner."""

    realised: pd.DataFrame
    timings: list[MPCTimings] = field(default_factory=list)
    build_s: float = 0.0
    infos: list[SolveInfo] = field(default_factory=list)

    def replan_stats(self) -> dict:
        """Counts over the re-plans: capped by the wall-clock safety, stopped by the work limit, proven within the
        gap by the LP relaxation without a MIP run (``n_lp_accepted``), warm starts accepted / rejected /
        ignored / unused (an integral LP made the plan), the worst gap, and re-plan times (s)."""
        return replan_stats(self.infos, self.timings)

    @property
    def cost_eur(self) -> float:
        """Realised energy cost + start-up costs (EUR), before terminal values."""
        return float(self.realised["cost_eur"].sum() + self.realised["startup_cost_eur"].sum())

    def net_cost_eur(self, settings: OptSettings, m0_kg: float, e0_kwh: float) -> float:
        """Realised cost minus the value of the change in stored hydrogen and battery energy."""
        r = self.realised
        return self.cost_eur - settings.terminal_h2_eur_per_kg * (float(r["tank_m_end_kg"].iloc[-1]) - m0_kg) \
            - settings.terminal_battery_eur_per_kwh * (float(r["battery_e_end_kwh"].iloc[-1]) - e0_kwh)


def _settle(row: pd.Series, pv_real_kw: float, plant: PlantParams) -> tuple[float, float, float]:
    """Grid import, export and curtailment when the planned set-points meet the realised PV (kW)."""
    use = row["load_kw"] + row["ely_p_el_kw"] + row["compressor_p_kw"] + row["battery_p_charge_kw"]
    own = pv_real_kw + row["battery_p_discharge_kw"] + row["fc_p_kw"]
    net = use - own
    imp = max(net, 0.0)
    exp = max(-net, 0.0)
    cur = 0.0
    if plant.p_export_max_kw is not None and exp > plant.p_export_max_kw:
        cur = exp - plant.p_export_max_kw
        exp = plant.p_export_max_kw
    return imp, exp, cur


def replan_stats(infos: list[SolveInfo], timings: list[MPCTimings]) -> dict:
    """Summary of a sequence of re-plans (see :meth:`ClosedLoopResult.replan_stats`); the first plan of a
    model (cold, with set-up) is left out of the times."""
    warm = [i.extra.get("warm_start", "none") for i in infos]
    tt = np.array([t.total_s for t in timings[1:]]) if len(timings) > 1 else np.array([np.nan])
    # a plan a limit stopped before HiGHS proved any bound has no finite gap: worst = inf, not left out (an
    # optimal plan can have an infinite *relative* gap at objective 0 — the absolute gap proved it; left out)
    gaps = [i.mip_gap if np.isfinite(i.mip_gap) else np.inf for i in infos
            if i.ok and (np.isfinite(i.mip_gap) or i.status != "optimal")]
    return {
        "n_replans": len(infos),
        "n_capped": sum(i.capped for i in infos),
        "n_work_limited": sum(i.status.startswith("work_limit") for i in infos),
        "n_lp_accepted": sum(i.extra.get("proven_by") == "lp_relaxation" for i in infos),
        "warm_starts_accepted": warm.count("accepted"),
        "warm_starts_rejected": warm.count("rejected"),
        "warm_starts_ignored": warm.count("ignored"),
        "warm_starts_unused": warm.count("unused"),
        "worst_gap": max(gaps) if gaps else float("nan"),
        "median_replan_s": float(np.median(tt)),
        "p99_replan_s": float(np.percentile(tt, 99)),
        "max_replan_s": float(np.max(tt)),
    }


PVForecast = Callable[[pd.DataFrame, int, int], np.ndarray]
"""``f(inputs, i, n) -> pv (n_scenarios, n)``: the PV forecast made at step ``i`` for steps ``i … i+n-1``."""


def run_closed_loop(plant: PlantParams, inputs: pd.DataFrame, n_run: int, settings: OptSettings,
                    pv_forecast: PVForecast | None = None, probabilities: np.ndarray | None = None,
                    state: InitialState | None = None, n_horizon: int | None = None,
                    replan_steps: int | None = None, backend: str = "direct") -> ClosedLoopResult:
    """Run the rolling MPC for ``n_run`` steps against the realised ``inputs``.

    Parameters
    ----------
    plant, settings : PlantParams, OptSettings
        Plant and optimiser settings (horizon/re-plan from ``settings`` unless given).
    inputs : DataFrame
        Realised inputs with at least ``n_run + n_horizon`` rows (the tail serves as the last forecasts).
    n_run : int
        Steps to execute.
    pv_forecast : callable, optional
        PV forecast per plan; default: perfect forecast (the realised PV). Returning several rows makes the
        plan a two-stage stochastic one with ``probabilities``.
    state : InitialState, optional
        Start state (default from the configuration).
    n_horizon, replan_steps : int, optional
        Override the horizon length and re-plan interval in steps.
    """
    dt_h = (inputs.index[1] - inputs.index[0]).total_seconds() / 3600.0
    n_h = n_horizon or round(settings.mpc_horizon_h / dt_h)
    every = replan_steps or settings.mpc_replan_steps
    if len(inputs) < n_run + n_h:
        raise ValueError(f"inputs have {len(inputs)} rows; n_run + horizon needs {n_run + n_h}")
    n_scen = 1
    if pv_forecast is not None:
        n_scen = np.atleast_2d(pv_forecast(inputs, 0, n_h)).shape[0]
    mpc = RollingMPC(plant, settings, dt_h, n_h, n_scenarios=n_scen, backend=backend, applied_steps=every)
    st = state or initial_state_from_plant(plant)
    tracker = _Tracker(state=st.ely_state, steps_in_state=st.ely_steps_in_state)
    m_kg, e_kwh, p_prev = st.m_tank_kg, st.e_battery_kwh, st.ely_p_stack_kw
    rows = []
    plan = None
    j0 = 0
    for i in range(n_run):
        if i % every == 0 or plan is None:
            fc = inputs.iloc[i:i + n_h]
            pv = None if pv_forecast is None else np.atleast_2d(pv_forecast(inputs, i, n_h))
            plan, _ = mpc.solve(fc, state_for_model(tracker, m_kg, e_kwh, p_prev, plant, dt_h), pv, probabilities,
                                warm_shift=None if i == 0 else i - j0)
            j0 = i
        row = plan.iloc[i - j0].copy()
        real = inputs.iloc[i]
        imp, exp, cur = _settle(row, float(real["pv_kw"]), plant)
        row["pv_kw"] = float(real["pv_kw"])
        row["grid_import_kw"], row["grid_export_kw"], row["pv_curtailed_kw"] = imp, exp, cur
        gas = row["boiler_heat_kw"] / settings.boiler_eta
        row["cost_eur"] = dt_h * (real["import_eur_per_kwh"] * imp - real["feed_in_eur_per_kwh"] * exp
                                  + plant.gas_eur_per_kwh * gas)
        row["co2_kg"] = dt_h * (real["co2_g_per_kwh"] * imp + plant.co2_gas_g_per_kwh * gas) * 1e-3
        # the plan's tank/battery continue from the plan's own start; re-anchor on the emulated state
        m_kg = m_kg + row["ely_h2_kg"] - row["fc_h2_kg"] - (row["h2_demand_kg"] - row["h2_unmet_kg"]) \
            - row["h2_vented_kg"]
        row["tank_m_end_kg"] = m_kg
        if plant.battery is not None:
            b = plant.battery
            e_kwh = e_kwh * (1 - b.self_discharge_per_h * dt_h) + dt_h * (
                b.eta_charge * row["battery_p_charge_kw"] - row["battery_p_discharge_kw"] / b.eta_discharge)
            row["battery_e_end_kwh"] = e_kwh
        cold = bool(row["ely_cold_start"])
        row["startup_cost_eur"] = settings.startup_cost_eur * cold
        tracker.advance(int(row["ely_state"]), cold)
        p_prev = float(row["ely_p_stack_kw"])
        rows.append(row)
    realised = pd.DataFrame(rows)
    realised.index = inputs.index[:n_run]
    return ClosedLoopResult(realised=realised, timings=mpc.timings, build_s=mpc.build_s, infos=mpc.infos)


def pv_quantile_forecast(spread_frac: float, steps_per_day: int, p_cap_kw: float | None = None,
                         persistence: bool = True) -> PVForecast:
    """P10/P50/P90 PV forecasts for the two-stage MPC.

    P50 is a day-ahead persistence forecast (the PV of the same time 24 h earlier) — a standard naive
    benchmark that needs no weather service; at the first step the measured PV is known. P10/P90 are
    ``P50 × (1 ∓ s(l))`` with a spread ``s`` that grows linearly with lead time ``l`` from 0 to
    ``spread_frac`` at 24 h and stays there; they are clipped at 0 and ``p_cap_kw``.

    Parameters
    ----------
    spread_frac : float
        Relative P90−P50 spread after 24 h.
    steps_per_day : int
        Steps per day (24 at 1 h, 96 at 15 min).
    p_cap_kw : float, optional
        Upper clip (AC capacity of the PV plant).
    persistence : bool
        If False the P50 is the realised PV (a perfect median forecast; used in tests).
    """
    def f(inputs: pd.DataFrame, i: int, n: int) -> np.ndarray:
        real = inputs["pv_kw"].to_numpy(float)
        idx = np.arange(i, i + n)
        if persistence:
            src = np.where(idx - steps_per_day >= 0, idx - steps_per_day, idx)
            p50 = real[src]
            p50[0] = real[i]
        else:
            p50 = real[idx].copy()
        lead = np.arange(n) / steps_per_day
        s = spread_frac * np.minimum(lead, 1.0)
        out = np.vstack([p50 * (1 - s), p50, p50 * (1 + s)])
        return np.clip(out, 0.0, p_cap_kw if p_cap_kw is not None else np.inf)
    return f


def deterministic_from(forecast: PVForecast) -> PVForecast:
    """The P50 row of a quantile forecast as a one-scenario forecast (the deterministic MPC's view)."""
    def f(inputs: pd.DataFrame, i: int, n: int) -> np.ndarray:
        return forecast(inputs, i, n)[1:2]
    return f
