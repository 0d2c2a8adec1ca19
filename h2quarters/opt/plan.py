"""One-shot planning: build, solve and report a horizon (day-ahead, or a whole year monolithically)."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

import pandas as pd

from h2quarters.opt.model import (
    InitialState,
    build_model,
    check_inputs,
    initial_state_from_plant,
    input_values,
    state_values,
    write_values,
)
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.results import (
    explain,
    schedule_frame,
    schedule_from_arrays,
    solution_arrays,
    summary_dict,
    summary_from_schedule,
    var_positions,
)
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import MatrixModel, SolveInfo, solve_once


@dataclass
class PlanResult:
    """A solved plan.

    Attributes
    ----------
    schedule : DataFrame
        Inputs and decisions per step (see :func:`h2quarters.opt.results.schedule_frame`).
    summary : dict
        Objective and its parts, totals, solver status, gap and timings (JSON-ready).
    messages : list of str
        Requirements that could not be met, in words (empty when all are met).
    """

    schedule: pd.DataFrame
    summary: dict
    messages: list[str] = field(default_factory=list)
    info: SolveInfo | None = None

    @property
    def feasible(self) -> bool:
        """True if every requirement was met (no penalised slack used)."""
        return not self.messages


def step_hours(index: pd.DatetimeIndex) -> float:
    """Step length in hours of a regular index (ValueError if irregular or too short)."""
    if len(index) < 2:
        if getattr(index, "freq", None) is not None:
            return pd.Timedelta(index.freq).total_seconds() / 3600.0
        raise ValueError("need at least two time steps (or an index with freq) to know the step length")
    d = index.to_series().diff().dropna().dt.total_seconds().unique()
    if len(d) != 1:
        raise ValueError(f"time index must be regular; found step lengths {sorted(d.tolist())} s")
    return float(d[0]) / 3600.0


def grid_big_m_kw(plant: PlantParams, inputs: pd.DataFrame) -> tuple[float, float]:
    """Largest import and export the site can physically cause (kW), from its limits and the inputs."""
    ely = plant.electrolyser
    w = plant.tank.w_comp_kwh_per_kg * float(ely.curve.y[-1])
    ch = plant.battery.p_charge_kw if plant.battery else 0.0
    dis = plant.battery.p_discharge_kw if plant.battery else 0.0
    fc = plant.fuel_cell.p_rated_kw if plant.fuel_cell else 0.0
    m_imp = plant.p_import_max_kw or 1.05 * (float(inputs["load_kw"].max()) + ely.p_rated_kw + ely.p_bop_kw + w + ch)
    m_exp = plant.p_export_max_kw or 1.05 * (float(inputs["pv_kw"].max()) + fc + dis)
    return m_imp, m_exp


def plan(plant: PlantParams, inputs: pd.DataFrame, settings: OptSettings | None = None,
         state: InitialState | None = None) -> PlanResult:
    """Optimise the dispatch over the whole input table at once.

    Parameters
    ----------
    plant : PlantParams
        Plant numbers (``PlantParams.from_scenario(scenario)``).
    inputs : DataFrame
        Input table with a regular tz-aware index (see :func:`h2quarters.sim.inputs.site_inputs`).
    settings : OptSettings, optional
        Optimiser settings (defaults if omitted).
    state : InitialState, optional
        Plant state at the start (default: from the configuration, electrolyser off).

    Returns
    -------
    PlanResult
        Schedule, summary (with ``build_s``, ``handoff_s``, ``solve_s``) and explanations.

    Raises
    ------
    RuntimeError
        If HiGHS returns no solution (the penalised slacks make that rare: it means a hard limit such as a
        tank start mass outside its window or a solver time limit without incumbent).
    """
    settings = settings or OptSettings()
    check_inputs(inputs)
    dt_h = step_hours(inputs.index)
    t0 = time.perf_counter()
    with_heat = plant.has_heat_demand or ("heat_kw" in inputs.columns and bool((inputs["heat_kw"] > 0).any()))
    grid_m = None
    if (inputs["feed_in_eur_per_kwh"] > inputs["import_eur_per_kwh"]).any():
        grid_m = grid_big_m_kw(plant, inputs)
    m = build_model(plant, len(inputs), dt_h, settings, with_heat=with_heat, grid_exclusive_m_kw=grid_m)
    values = input_values(m, inputs)
    values.update(state_values(m, state or initial_state_from_plant(plant)))
    write_values(m, values)
    build_s = time.perf_counter() - t0
    if settings.handoff == "matrix":
        # Compile, note where the reported variables sit, and free the Pyomo model before HiGHS runs: the
        # results are rebuilt from the solution vector (a year-long model holds ≈300 MiB).
        mm = MatrixModel(m, settings)
        n_steps, positions = m.n_steps, var_positions(m, mm.col_pos)
        mm.release()
        del m
        gc.collect()
        info = mm.solve(None)
        if not info.ok:
            raise RuntimeError(f"HiGHS returned no solution: status {info.status}")
        schedule = schedule_from_arrays(solution_arrays(mm.x, positions, values, n_steps), plant, settings, dt_h,
                                        inputs.index)
        summary = summary_from_schedule(schedule, plant, settings, dt_h, float(values["m0_kg"][0]),
                                        float(values["e0_kwh"][0]), info.objective)
        del mm
    else:
        info = solve_once(m, settings)
        if not info.ok:
            raise RuntimeError(f"HiGHS returned no solution: status {info.status}")
        schedule = schedule_frame(m, inputs.index)
        summary = summary_dict(m, schedule)
    messages = explain(schedule, plant, dt_h)
    summary.update({"mode": "plan", "n_steps": len(inputs), "dt_h": dt_h, "start": str(inputs.index[0]),
                    "solver_status": info.status, "mip_gap": info.mip_gap, "objective_bound": info.bound,
                    "build_s": build_s, "handoff_s": info.handoff_s, "solve_s": info.solve_s,
                    "load_s": info.load_s, "highs_run_s": info.highs_run_s, "n_cols": info.n_cols,
                    "n_rows": info.n_rows, "n_int": info.n_int, "messages": messages})
    if "lp_guided_start" in info.extra:
        summary["lp_guided_start"] = info.extra["lp_guided_start"]
        summary["proven_by"] = info.extra.get("proven_by", "highs")
    return PlanResult(schedule=schedule, summary=summary, messages=messages, info=info)
