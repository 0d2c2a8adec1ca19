"""Two-stage stochastic MPC over P10/P50/P90 PV scenarios, compared with the deterministic MPC.

Each re-plan optimises the expected cost over three PV scenarios (Swanson weights 0.3/0.4/0.3); the
electrolyser, fuel-cell and battery decisions of the first ``stochastic_first_stage_steps`` steps are
shared (non-anticipativity), later decisions and all grid flows are per scenario (recourse). Both MPCs run
against the same realised PV; the grid balances what the forecast missed.
"""

from __future__ import annotations

import pandas as pd

from h2quarters.opt.model import InitialState, initial_state_from_plant
from h2quarters.opt.mpc import (
    SWANSON_PROBS,
    ClosedLoopResult,
    deterministic_from,
    pv_quantile_forecast,
    run_closed_loop,
)
from h2quarters.opt.plan import step_hours
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings


def compare_stochastic(plant: PlantParams, inputs: pd.DataFrame, n_run: int, settings: OptSettings,
                       state: InitialState | None = None, p_cap_kw: float | None = None,
                       n_horizon: int | None = None, persistence: bool = True, n_history: int = 0
                       ) -> tuple[ClosedLoopResult, ClosedLoopResult, dict]:
    """Run the stochastic and the deterministic MPC for ``n_run`` steps on the same realised inputs.

    Parameters
    ----------
    inputs : DataFrame
        Realised inputs: ``n_history`` rows of history (e.g. the day before, for the persistence
        forecast), then at least ``n_run + horizon`` rows; PV forecasts come from
        :func:`h2quarters.opt.mpc.pv_quantile_forecast` (day-ahead persistence ± spread).
    p_cap_kw : float, optional
        Clip of the P90 forecast (PV AC capacity).

    Returns
    -------
    (stochastic, deterministic, summary)
        Both closed-loop results and a dict with their realised net costs (EUR) and the difference.
    """
    dt_h = step_hours(inputs.index)
    per_day = round(24 / dt_h)
    st = state or initial_state_from_plant(plant)
    base = pv_quantile_forecast(settings.pv_spread_frac, per_day, p_cap_kw, persistence=persistence)

    def fc(_run_inputs: pd.DataFrame, i: int, n: int):
        return base(inputs, i + n_history, n)  # forecasts may look back into the history rows

    run_inputs = inputs.iloc[n_history:]
    sto = run_closed_loop(plant, run_inputs, n_run, settings, pv_forecast=fc, probabilities=SWANSON_PROBS,
                          state=st, n_horizon=n_horizon)
    det = run_closed_loop(plant, run_inputs, n_run, settings, pv_forecast=deterministic_from(fc), state=st,
                          n_horizon=n_horizon)
    e0 = st.e_battery_kwh
    sto_net = sto.net_cost_eur(settings, st.m_tank_kg, e0)
    det_net = det.net_cost_eur(settings, st.m_tank_kg, e0)
    summary = {
        "mode": "stochastic",
        "scenarios": ["P10", "P50", "P90"],
        "probabilities": SWANSON_PROBS.tolist(),
        "first_stage_steps": settings.stochastic_first_stage_steps,
        "pv_spread_frac_24h": settings.pv_spread_frac,
        "stochastic_net_cost_eur": sto_net,
        "deterministic_net_cost_eur": det_net,
        "stochastic_minus_deterministic_eur": sto_net - det_net,
        "stochastic_energy_cost_eur": float(sto.realised["cost_eur"].sum()),
        "deterministic_energy_cost_eur": float(det.realised["cost_eur"].sum()),
        "stochastic_median_solve_s": float(pd.Series([t.solve_s for t in sto.timings]).median()),
        "deterministic_median_solve_s": float(pd.Series([t.solve_s for t in det.timings]).median()),
    }
    return sto, det, summary
