"""The dispatch MILP in Pyomo: built once over index sets, fed through mutable parameters.

Every time-dependent number (PV, load, prices, CO2 factor, hydrogen demand) and every piece of initial state
(tank mass, battery energy, electrolyser state and history) is a *mutable* ``Param``. A model is therefore
built once per horizon length and re-used: the rolling MPC only writes new parameter values and re-solves
with a persistent HiGHS instance. Constraints are indexed rules over ``S × T`` (PV scenarios × steps); there
is no Python loop that adds constraints step by step.

Formulation (per scenario ``s``, step ``t`` of length ``dt`` hours)
-----------------------------------------------------------------
Electrolyser, three states from two binaries: producing ``on``, standby ``sb``, off ``1 − on − sb``;
energised ``w = on + sb``.

- Cold start ``cs[t] = max(0, w[t] − w[t−1])`` (three rows: ``cs ≥ w[t] − w[t−1]``, ``cs ≤ w[t]``,
  ``cs ≤ 1 − w[t−1]``), costs ``startup_cost_eur``; a hot start from standby is free.
- Start-up delay ``d = startup_h / dt = k + r`` (whole steps ``k``, remainder ``r``): no production in the
  ``k`` steps from a cold start, and in the step after those only ``1 − r`` of the step produces. The
  effective producing fraction is ``z = on − λ`` with ``λ = r · cs[t−k] · on[t]`` (linearised).
- Stack power ``p_st = p_min z + Σ_k δ_k``, ``0 ≤ δ_k ≤ width_k z``; hydrogen ``ṁ = ṁ(p_min) z + Σ_k a_k δ_k``
  with chords ``a_k`` of the electrolyser model's curve (incremental form; ordering binaries are added only
  if the curve is not concave).
- Electrical input ``p_el = p_st + p_bop on + p_standby sb``; compressor ``p_comp = w_comp ṁ``.
- Minimum up time on production starts, minimum down time on switch-offs (window sums), ramps on ``p_st``
  (free when starting from or stopping to non-producing states).

Tank ``m[t+1] = m[t] + dt (ṁ − ṁ_fc) − (D[t] − u_h2[t]) − vent[t]`` within its pressure-derived window;
fuel cell with binary and minimum load, hydrogen use from chords; heat from the fuel cell or a gas boiler;
battery with a charge/discharge binary; grid import/export with limits; PV may be curtailed.

Per-step hull cuts (valid for every integer solution, they only tighten the LP relaxation): with ``n[t] =
load − PV`` and the least/most electrical power ``P_min(x)``/``P_max(x)`` the electrolyser and compressor
draw in state ``x``, the power the site must buy (grid, fuel cell, battery, unmet load) is at least
``Σ_x x·max(0, n + P_min(x))`` and the power it must get rid of (export, curtailment, charging) at least
``Σ_x x·max(0, −n − P_max(x))``. The balance alone only gives the aggregated ``n + Σ_x x·P_min(x)``, which
lets a fractional ``on`` share PV between "producing" and "standby" within one step; with the cuts the LP
bound of the school's 48 h plans lies within ≈0.1 % of the MILP optimum instead of ≈5 %. The ``max`` makes
the coefficients of ``on``/``sb`` data-dependent: they are mutable Params (``COEF_PARAM_NAMES``).
The same idea for the fuel cell: what it does not cover must be bought, ``p_imp + u_load + p_dis ≥ n⁺ −
min(n⁺, P_fc)·fc_on`` (the balance alone lets a fractional ``fc_on`` serve a small night load at the
efficiency of a larger one). With the reserve rule, a reserve floor ``m[t+1] ≥ min(m0, reserve − one step of
full-load use) − demand through t`` holds whatever ``fc_on`` is (see ``c_res_floor``). On the school's June
re-plans the two took the root LP gap from 0.15 to 0.11 EUR and the fuel cell's fractional steps from 101 to 5.
The fuel cell's chords get one row each (``dfc[k] ≤ width_k·fc_on``, its perspective hull) and the reserve rule a
big-M from the reserve floor instead of the tank minimum (``_add_fuel_cell_hull_rows``): on the school's January
week they raised the LP bound from 106.26 to 106.44 EUR (MILP 106.53) and took the fractional ``fc_on`` from 280
to 102 of 672 steps, but HiGHS' search then took longer (199 vs 70 s CPU), so they are off by default
(setting ``fc_hull_rows``).

Requirements that may be impossible carry penalised slacks: unmet hydrogen ``u_h2``, vented hydrogen
``vent``, unmet load ``u_load``. A solution with non-zero slacks is turned into a sentence by
:func:`h2quarters.opt.explain.explain`.

Objective: expected value over scenarios of ``α (energy cost + start-ups − terminal value) + β (CO2 −
terminal credit) + penalties`` with (α, β) from the objective setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from h2quarters.models.constants import LHV_H2_KWH_PER_KG
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings

ELY_OFF, ELY_STANDBY, ELY_STARTING, ELY_ON = 0, 1, 2, 3
"""Electrolyser state codes in schedules and initial states; the values of
``h2quarters.models.electrolyser.ElectrolyserState`` (OFF, STANDBY, STARTING, PRODUCING)."""


@dataclass(frozen=True)
class InitialState:
    """Plant state at the start of a horizon.

    Attributes
    ----------
    m_tank_kg : float
        Hydrogen in the tank (kg); clipped into the tank window.
    e_battery_kwh : float
        Energy in the battery (kWh); ignored without battery.
    ely_state : int
        0 off, 1 standby, 2 starting, 3 producing, during the step *before* the horizon.
    ely_p_stack_kw : float
        Stack power during that step (kW) — the ramp limit starts from here.
    ely_steps_in_state : int
        How many steps the electrolyser has been in ``ely_state`` (for minimum up/down times).
    ely_startup_steps_left : int
        Whole steps of a cold start still to wait before production is possible.
    """

    m_tank_kg: float
    e_battery_kwh: float = 0.0
    ely_state: int = ELY_OFF
    ely_p_stack_kw: float = 0.0
    ely_steps_in_state: int = 10_000
    ely_startup_steps_left: int = 0


def steps_of(hours: float, dt_h: float) -> int:
    """Whole steps covering ``hours`` (rounded up, with a small tolerance against float noise)."""
    return math.ceil(hours / dt_h - 1e-9) if hours > 0 else 0


def build_model(plant: PlantParams, n_steps: int, dt_h: float, settings: OptSettings,
                n_scenarios: int = 1, with_heat: bool = True,
                grid_exclusive_m_kw: tuple[float, float] | None = None, hull_cuts: bool = True
                ) -> pyo.ConcreteModel:
    """Build the dispatch MILP for ``n_steps`` steps of ``dt_h`` hours and ``n_scenarios`` PV scenarios.

    Parameters
    ----------
    plant : PlantParams
        The plant's numbers (from :meth:`PlantParams.from_scenario` or built by hand).
    n_steps : int
        Number of time steps in the horizon.
    dt_h : float
        Step length in hours.
    settings : OptSettings
        Objective, commitment rules, terminal values, penalties.
    n_scenarios : int
        PV scenarios (1 = deterministic). With more, decisions of the first
        ``settings.stochastic_first_stage_steps`` steps are shared by all scenarios.
    with_heat : bool
        Include the heat balance (fuel-cell heat + gas boiler ≥ heat demand). Without it the model has no
        boiler and ignores ``heat_kw``.
    grid_exclusive_m_kw : (float, float), optional
        Big-M bounds (import, export) in kW for a binary that forbids importing and exporting in the same
        step. Needed only when the feed-in tariff can exceed the import price (otherwise the optimum never
        does both); without it such prices make the model unbounded or meaningless.
    hull_cuts : bool
        Add the valid cuts (default): the per-step hull cuts and the fuel-cell reserve memory. They remove no
        optimal solution; switching them off is for measuring what they do to the LP bound and the solve time.

    Returns
    -------
    pyomo.environ.ConcreteModel
        The model with all time series and the initial state as mutable Params (zero until set with
        :func:`set_inputs` and :func:`set_initial_state`).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be ≥ 1, got {n_steps}")
    if not 0.0 < dt_h <= 24.0:
        raise ValueError(f"dt_h must lie in (0, 24] h, got {dt_h}")
    ely, tank, fc, bat = plant.electrolyser, plant.tank, plant.fuel_cell, plant.battery
    m = pyo.ConcreteModel(name="h2q_dispatch")
    m.plant = plant
    m.settings = settings
    m.dt_h = dt_h
    m.with_heat = with_heat
    m.n_steps = n_steps
    m.n_scenarios = n_scenarios

    m.S = pyo.RangeSet(0, n_scenarios - 1)
    m.T = pyo.RangeSet(0, n_steps - 1)
    m.T1 = pyo.RangeSet(0, n_steps)
    m.K = pyo.RangeSet(0, len(ely.curve.widths) - 1)
    ST = m.S * m.T

    mut = {"mutable": True, "initialize": 0.0, "within": pyo.Reals}
    # --- time series --------------------------------------------------------------------------------
    m.pv_kw = pyo.Param(m.S, m.T, **mut)
    m.load_kw = pyo.Param(m.T, **mut)
    m.heat_kw = pyo.Param(m.T, **mut)
    m.price_import = pyo.Param(m.T, **mut)
    m.price_export = pyo.Param(m.T, **mut)
    m.co2_g_per_kwh = pyo.Param(m.T, **mut)
    m.h2_demand_kg = pyo.Param(m.T, **mut)
    m.h2_demand_cum_kg = pyo.Param(m.T, **mut)  # demand through step t (written by input_values)
    m.h2_demand_cum_prev_kg = pyo.Param(m.T, **mut)  # demand before step t
    m.prob = pyo.Param(m.S, mutable=True, initialize=1.0 / n_scenarios)
    # --- initial state -------------------------------------------------------------------------------
    m.m0_kg = pyo.Param(**mut)
    m.e0_kwh = pyo.Param(**mut)
    m.on_prev = pyo.Param(**mut)
    m.w_prev = pyo.Param(**mut)
    m.p_prev_kw = pyo.Param(**mut)
    m.must_on = pyo.Param(m.T, **mut)
    m.must_off = pyo.Param(m.T, **mut)
    m.no_prod = pyo.Param(m.T, **mut)
    m.fc_floor_kg = pyo.Param(**mut)  # tank floor of the reserve-floor cut: min(m0, m_min + k_res)

    # --- electrolyser ---------------------------------------------------------------------------------
    widths = ely.curve.widths
    slopes = ely.curve.slopes
    y0 = float(ely.curve.y[0])
    m.on = pyo.Var(ST, domain=pyo.Binary)
    m.sb = pyo.Var(ST, domain=pyo.Binary)
    # cs is continuous but exact: bounded below by w[t] − w[t−1] and above by w[t] and 1 − w[t−1] (rows
    # c_cold, c_cold_on, c_cold_off), so for binary w it equals max(0, w[t] − w[t−1]). Only bounding it below
    # is not enough: a larger cs buys a larger start-up fraction λ (production below minimum load) whenever
    # a cold start costs nothing (startup_cost_eur = 0).
    m.cs = pyo.Var(ST, bounds=(0, 1))
    m.dl = pyo.Var(m.S, m.T, m.K, bounds=lambda _m, s, t, k: (0, float(widths[k])))

    d_steps = ely.startup_h / dt_h
    k_full = math.floor(d_steps + 1e-9)
    r_frac = d_steps - k_full if d_steps - k_full > 1e-9 else 0.0
    m.k_full, m.r_frac = k_full, r_frac  # (read by the warm start, h2quarters.opt.warm)
    if r_frac > 0:
        m.lam = pyo.Var(ST, bounds=(0, r_frac))

        def _lam_ub1(m, s, t):
            return m.lam[s, t] <= r_frac * m.cs[s, t - k_full] if t - k_full >= 0 else m.lam[s, t] == 0
        m.c_lam1 = pyo.Constraint(ST, rule=_lam_ub1)
        # (λ ≤ r·on needs no row: the segment rows force z = on − λ ≥ 0)
        if k_full == 0:
            # A cold start with no whole delay step energises the stack in this very step (w = on + sb = 1),
            # so λ = r·cs·on = r·(cs − sb): tighter than r·(cs + on − 1) for fractional values (the LP relaxation
            # otherwise starts a fraction of the stack without its start-up loss).
            m.c_lam3 = pyo.Constraint(ST, rule=lambda m, s, t: m.lam[s, t] >= r_frac * (m.cs[s, t] - m.sb[s, t]))
        else:
            m.c_lam3 = pyo.Constraint(
                ST, rule=lambda m, s, t: m.lam[s, t] >= r_frac * (m.cs[s, t - k_full] + m.on[s, t] - 1)
                if t - k_full >= 0 else pyo.Constraint.Skip)
        m.z = pyo.Expression(ST, rule=lambda m, s, t: m.on[s, t] - m.lam[s, t])
    else:
        m.z = pyo.Expression(ST, rule=lambda m, s, t: m.on[s, t])
    m.w = pyo.Expression(ST, rule=lambda m, s, t: m.on[s, t] + m.sb[s, t])

    # stack power is an expression, not a variable: one column and one row less per step
    m.p_st = pyo.Expression(ST, rule=lambda m, s, t: ely.p_min_kw * m.z[s, t] + sum(m.dl[s, t, k] for k in m.K))
    m.ely_h2_kg_per_h = pyo.Expression(
        ST, rule=lambda m, s, t: y0 * m.z[s, t] + sum(float(slopes[k]) * m.dl[s, t, k] for k in m.K))
    m.ely_p_el_kw = pyo.Expression(
        ST, rule=lambda m, s, t: m.p_st[s, t] + ely.p_bop_kw * m.on[s, t] + ely.p_standby_kw * m.sb[s, t])
    m.comp_p_kw = pyo.Expression(ST, rule=lambda m, s, t: tank.w_comp_kwh_per_kg * m.ely_h2_kg_per_h[s, t])

    m.c_state = pyo.Constraint(ST, rule=lambda m, s, t: m.on[s, t] + m.sb[s, t] <= 1)
    if r_frac > 0:
        # z may be fractional (start-up step): scale every segment with it
        m.c_seg = pyo.Constraint(m.S, m.T, m.K,
                                 rule=lambda m, s, t, k: m.dl[s, t, k] <= float(widths[k]) * m.z[s, t])
    else:
        # z is binary: one row does it (segment widths are the variables' bounds)
        w_tot = float(widths.sum())
        m.c_seg = pyo.Constraint(ST, rule=lambda m, s, t: sum(m.dl[s, t, k] for k in m.K) <= w_tot * m.z[s, t])
    if not ely.curve.is_concave() and len(widths) > 1:
        # Incremental formulation with ordering binaries: segment k+1 only once k is full.
        m.KO = pyo.RangeSet(0, len(widths) - 2)
        m.ordr = pyo.Var(m.S, m.T, m.KO, domain=pyo.Binary)
        m.c_ord1 = pyo.Constraint(m.S, m.T, m.KO, rule=lambda m, s, t, k:
                                  m.dl[s, t, k] >= float(widths[k]) * m.ordr[s, t, k])
        m.c_ord2 = pyo.Constraint(m.S, m.T, m.KO, rule=lambda m, s, t, k:
                                  m.dl[s, t, k + 1] <= float(widths[k + 1]) * m.ordr[s, t, k])

    def _w_prev(m, s, t):
        return m.w_prev if t == 0 else m.w[s, t - 1]

    def _on_prev(m, s, t):
        return m.on_prev if t == 0 else m.on[s, t - 1]

    m.c_cold = pyo.Constraint(ST, rule=lambda m, s, t: m.cs[s, t] >= m.w[s, t] - _w_prev(m, s, t))
    m.c_cold_on = pyo.Constraint(ST, rule=lambda m, s, t: m.cs[s, t] <= m.w[s, t])
    m.c_cold_off = pyo.Constraint(ST, rule=lambda m, s, t: m.cs[s, t] + _w_prev(m, s, t) <= 1)
    n_up = steps_of(settings.min_up_h, dt_h)
    n_down = steps_of(settings.min_down_h, dt_h)
    # History handed over from the plant can only bind within the first max(up, down, delay) steps.
    n_hist = min(n_steps, max(n_up, n_down, steps_of(ely.startup_h, dt_h), 1))
    m.TH = pyo.RangeSet(0, n_hist - 1)
    STH = m.S * m.TH
    m.c_must_on = pyo.Constraint(STH, rule=lambda m, s, t: m.on[s, t] >= m.must_on[t])
    m.c_must_off = pyo.Constraint(STH, rule=lambda m, s, t: m.w[s, t] <= 1 - m.must_off[t])
    m.c_no_prod = pyo.Constraint(STH, rule=lambda m, s, t: m.on[s, t] <= 1 - m.no_prod[t])
    if n_up > 1:
        m.ys = pyo.Var(ST, bounds=(0, 1))
        m.c_ys = pyo.Constraint(ST, rule=lambda m, s, t: m.ys[s, t] >= m.on[s, t] - _on_prev(m, s, t))
        m.c_min_up = pyo.Constraint(ST, rule=lambda m, s, t: sum(
            m.ys[s, tau] for tau in range(max(0, t - n_up + 1), t + 1)) <= m.on[s, t])
    if n_down > 1:
        m.yd = pyo.Var(ST, bounds=(0, 1))
        m.c_yd = pyo.Constraint(ST, rule=lambda m, s, t: m.yd[s, t] >= _w_prev(m, s, t) - m.w[s, t])
        m.c_min_down = pyo.Constraint(ST, rule=lambda m, s, t: sum(
            m.yd[s, tau] for tau in range(max(0, t - n_down + 1), t + 1)) <= 1 - m.w[s, t])
    if k_full >= 1:
        m.c_delay = pyo.Constraint(ST, rule=lambda m, s, t: m.on[s, t] <= 1 - sum(
            m.cs[s, tau] for tau in range(max(0, t - k_full + 1), t + 1)))
    ramp_kw = ely.ramp_kw_per_h * dt_h
    if ramp_kw < ely.p_rated_kw:
        def _p_prev(m, s, t):
            return m.p_prev_kw if t == 0 else m.p_st[s, t - 1]
        m.c_ramp_up = pyo.Constraint(ST, rule=lambda m, s, t: m.p_st[s, t] - _p_prev(m, s, t)
                                     <= ramp_kw + ely.p_rated_kw * (1 - _on_prev(m, s, t)))
        m.c_ramp_down = pyo.Constraint(ST, rule=lambda m, s, t: _p_prev(m, s, t) - m.p_st[s, t]
                                       <= ramp_kw + ely.p_rated_kw * (1 - m.on[s, t]))
    flow_max = tank.m_flow_max_kg_per_h
    if flow_max is not None and flow_max < float(ely.curve.y[-1]):  # only if the compressor can limit
        m.c_comp = pyo.Constraint(ST, rule=lambda m, s, t: m.ely_h2_kg_per_h[s, t] <= flow_max)

    # --- fuel cell -----------------------------------------------------------------------------------
    if fc is not None:
        fw, fs, fy0 = fc.curve.widths, fc.curve.slopes, float(fc.curve.y[0])
        m.KF = pyo.RangeSet(0, len(fw) - 1)
        m.fc_on = pyo.Var(ST, domain=pyo.Binary)
        m.dfc = pyo.Var(m.S, m.T, m.KF, bounds=lambda _m, s, t, k: (0, float(fw[k])))
        m.p_fc = pyo.Expression(ST, rule=lambda m, s, t:
                                fc.p_min_kw * m.fc_on[s, t] + sum(m.dfc[s, t, k] for k in m.KF))
        fw_tot = float(fw.sum())  # fc_on is binary: one row (segment widths are the variables' bounds)
        m.c_fc_seg = pyo.Constraint(ST, rule=lambda m, s, t:
                                    sum(m.dfc[s, t, k] for k in m.KF) <= fw_tot * m.fc_on[s, t])
        if not fc.curve.is_convex() and len(fw) > 1:
            m.KFO = pyo.RangeSet(0, len(fw) - 2)
            m.fordr = pyo.Var(m.S, m.T, m.KFO, domain=pyo.Binary)
            m.c_ford1 = pyo.Constraint(m.S, m.T, m.KFO, rule=lambda m, s, t, k:
                                       m.dfc[s, t, k] >= float(fw[k]) * m.fordr[s, t, k])
            m.c_ford2 = pyo.Constraint(m.S, m.T, m.KFO, rule=lambda m, s, t, k:
                                       m.dfc[s, t, k + 1] <= float(fw[k + 1]) * m.fordr[s, t, k])
        m.fc_h2_kg_per_h = pyo.Expression(ST, rule=lambda m, s, t: fy0 * m.fc_on[s, t] + sum(
            float(fs[k]) * m.dfc[s, t, k] for k in m.KF))
        m.fc_heat_kw = pyo.Expression(
            ST, rule=lambda m, s, t: fc.heat_frac_of_h2 * LHV_H2_KWH_PER_KG * m.fc_h2_kg_per_h[s, t])
    else:
        m.fc_h2_kg_per_h = pyo.Expression(ST, rule=lambda m, s, t: 0.0)
        m.fc_heat_kw = pyo.Expression(ST, rule=lambda m, s, t: 0.0)

    # --- tank ------------------------------------------------------------------------------------------
    m.m_tank = pyo.Var(m.S, m.T1, bounds=(tank.m_min_kg, tank.m_max_kg))
    m.u_h2 = pyo.Var(ST, domain=pyo.NonNegativeReals)
    m.vent = pyo.Var(ST, domain=pyo.NonNegativeReals)
    m.c_tank0 = pyo.Constraint(m.S, rule=lambda m, s: m.m_tank[s, 0] == m.m0_kg)
    m.c_tank = pyo.Constraint(ST, rule=lambda m, s, t: m.m_tank[s, t + 1] == m.m_tank[s, t] + dt_h * (
        m.ely_h2_kg_per_h[s, t] - m.fc_h2_kg_per_h[s, t]) - (m.h2_demand_kg[t] - m.u_h2[s, t]) - m.vent[s, t])
    m.c_u_h2 = pyo.Constraint(ST, rule=lambda m, s, t: m.u_h2[s, t] <= m.h2_demand_kg[t])
    if fc is not None and fc.m_reserve_kg > tank.m_min_kg:
        m.c_reserve = pyo.Constraint(ST, rule=lambda m, s, t: m.m_tank[s, t] >= tank.m_min_kg + (
            fc.m_reserve_kg - tank.m_min_kg) * m.fc_on[s, t])
        # Reserve memory (a valid cut): once the fuel cell has run in step τ (tank ≥ reserve then), the tank
        # can afterwards fall below the reserve only by that step's fuel-cell use and by hydrogen demand — not
        # by more fuel-cell use at fractional 'fc_on', which is how the LP relaxation otherwise spends the
        # reserve (2 % LP gap in winter, 10× longer solves). With H ≥ the running maximum of
        # k·fc_on[τ] + demand before τ:  m[t+1] + demand through t ≥ m_min + H[t].
        k_res = fc.m_reserve_kg - float(fc.curve.y[-1]) * dt_h - tank.m_min_kg
        m.k_res = k_res
        rmc = settings.reserve_memory_cut
        if k_res > 0 and hull_cuts and (rmc == "on" or (rmc == "auto" and n_steps <= RESERVE_CUT_MAX_STEPS)):
            m.res_h = pyo.Var(ST, domain=pyo.NonNegativeReals)
            m.c_res_h1 = pyo.Constraint(ST, rule=lambda m, s, t: m.res_h[s, t] - k_res * m.fc_on[s, t]
                                        >= m.h2_demand_cum_prev_kg[t])
            m.c_res_h2 = pyo.Constraint(ST, rule=lambda m, s, t: m.res_h[s, t] >= m.res_h[s, t - 1]
                                        if t > 0 else pyo.Constraint.Skip)
            m.c_res_mem = pyo.Constraint(ST, rule=lambda m, s, t: m.m_tank[s, t + 1] - m.res_h[s, t]
                                         >= tank.m_min_kg - m.h2_demand_cum_kg[t])
        if k_res > 0 and hull_cuts:
            # Reserve floor (a valid cut that does not scale with 'fc_on'): from the horizon start the fuel cell
            # can take the tank below min(m0, reserve − one step of full-load use) by no amount, fractional or
            # not — before its first run the tank holds m0 (less demand), after its last run at least the
            # reserve less that run. Only demand lowers it further (venting happens at a full tank). The
            # memory cut above scales with fractional 'fc_on' (LP fc_on ≈ 0.27 spent 0.35 kg of the 0.51 kg
            # reserve band on the winter plans); this row does not. fc_floor_kg is written by state_values.
            m.c_res_floor = pyo.Constraint(ST, rule=lambda m, s, t: m.m_tank[s, t + 1]
                                           >= m.fc_floor_kg - m.h2_demand_cum_kg[t])

    fhr = settings.fc_hull_rows
    if fc is not None and hull_cuts and (fhr == "on" or (fhr == "auto" and n_steps <= RESERVE_CUT_MAX_STEPS)):
        _add_fuel_cell_hull_rows(m, plant, ST)

    # --- battery ----------------------------------------------------------------------------------------
    if bat is not None:
        m.p_ch = pyo.Var(ST, bounds=(0, bat.p_charge_kw))
        m.p_dis = pyo.Var(ST, bounds=(0, bat.p_discharge_kw))
        m.e_bat = pyo.Var(m.S, m.T1, bounds=(bat.soc_min * bat.e_kwh, bat.soc_max * bat.e_kwh))
        keep = 1.0 - bat.self_discharge_per_h * dt_h
        if settings.battery_exclusive == "binary":
            m.b_ch = pyo.Var(ST, domain=pyo.Binary)
            m.c_ch = pyo.Constraint(ST, rule=lambda m, s, t: m.p_ch[s, t] <= bat.p_charge_kw * m.b_ch[s, t])
            m.c_dis = pyo.Constraint(ST, rule=lambda m, s, t:
                                     m.p_dis[s, t] <= bat.p_discharge_kw * (1 - m.b_ch[s, t]))
        m.c_bat0 = pyo.Constraint(m.S, rule=lambda m, s: m.e_bat[s, 0] == m.e0_kwh)
        m.c_bat = pyo.Constraint(ST, rule=lambda m, s, t: m.e_bat[s, t + 1] == keep * m.e_bat[s, t] + dt_h * (
            bat.eta_charge * m.p_ch[s, t] - m.p_dis[s, t] / bat.eta_discharge))
        p_ch = m.p_ch
        p_dis = m.p_dis
    else:
        p_ch = p_dis = None

    # --- grid, PV, heat, power balance -----------------------------------------------------------------
    m.p_imp = pyo.Var(ST, bounds=(0, plant.p_import_max_kw))
    m.p_exp = pyo.Var(ST, bounds=(0, plant.p_export_max_kw))
    m.p_cur = pyo.Var(ST, domain=pyo.NonNegativeReals)
    m.c_cur = pyo.Constraint(ST, rule=lambda m, s, t: m.p_cur[s, t] <= m.pv_kw[s, t])
    m.grid_exclusive = grid_exclusive_m_kw is not None
    if grid_exclusive_m_kw is not None:
        m_imp, m_exp = grid_exclusive_m_kw
        m.g_imp = pyo.Var(ST, domain=pyo.Binary)
        m.c_g_imp = pyo.Constraint(ST, rule=lambda m, s, t: m.p_imp[s, t] <= m_imp * m.g_imp[s, t])
        m.c_g_exp = pyo.Constraint(ST, rule=lambda m, s, t: m.p_exp[s, t] <= m_exp * (1 - m.g_imp[s, t]))
    with_unmet_load = plant.p_import_max_kw is not None
    if with_unmet_load:  # only a limited grid can leave load unserved
        m.u_load = pyo.Var(ST, domain=pyo.NonNegativeReals)
        m.c_u_load = pyo.Constraint(ST, rule=lambda m, s, t: m.u_load[s, t] <= m.load_kw[t])
    if with_heat:
        m.q_boil = pyo.Var(ST, domain=pyo.NonNegativeReals)
        m.c_heat = pyo.Constraint(ST, rule=lambda m, s, t: m.fc_heat_kw[s, t] + m.q_boil[s, t] >= m.heat_kw[t])
    q_boil = (lambda s, t: m.q_boil[s, t]) if with_heat else (lambda s, t: 0.0)
    u_load = (lambda s, t: m.u_load[s, t]) if with_unmet_load else (lambda s, t: 0.0)

    def _balance(m, s, t):
        supply = m.pv_kw[s, t] - m.p_cur[s, t] + m.p_imp[s, t] + u_load(s, t)
        use = m.load_kw[t] + m.ely_p_el_kw[s, t] + m.comp_p_kw[s, t] + m.p_exp[s, t]
        if fc is not None:
            supply = supply + m.p_fc[s, t]
        if bat is not None:
            supply = supply + p_dis[s, t]
            use = use + p_ch[s, t]
        return supply == use
    m.c_balance = pyo.Constraint(ST, rule=_balance)

    # --- hull cuts (see module docstring); coefficients written by input_values --------------------------
    for name in HULL_PARAM_NAMES:
        m.add_component(name, pyo.Param(m.S, m.T, **mut))
    k_lam = ely.p_min_kw + tank.w_comp_kwh_per_kg * y0  # power not drawn during the start-up fraction λ
    lam = (lambda s, t: m.lam[s, t]) if r_frac > 0 else (lambda s, t: 0.0)

    def _buy(m, s, t):
        lhs = m.p_imp[s, t] + u_load(s, t) + (m.p_fc[s, t] if fc is not None else 0.0) \
            + (p_dis[s, t] if bat is not None else 0.0)
        return lhs >= m.need_off_kw[s, t] + m.need_on_kw[s, t] * m.on[s, t] + m.need_sb_kw[s, t] * m.sb[s, t] \
            - k_lam * lam(s, t)

    def _spill(m, s, t):
        lhs = m.p_exp[s, t] + m.p_cur[s, t] + (p_ch[s, t] if bat is not None else 0.0)
        return lhs >= m.spill_off_kw[s, t] + m.spill_on_kw[s, t] * m.on[s, t] + m.spill_sb_kw[s, t] * m.sb[s, t]
    def _buy_fc(m, s, t):
        # what the fuel cell does not cover must be bought: p_fc ≤ P_fc·fc_on alone lets a fractional fc_on
        # serve a small load at the efficiency of a larger one (and below the fuel cell's minimum load)
        lhs = m.p_imp[s, t] + u_load(s, t) + (p_dis[s, t] if bat is not None else 0.0)
        return lhs + m.fc_need_kw[s, t] * m.fc_on[s, t] >= m.need_off_kw[s, t]
    if hull_cuts:
        m.c_hull_buy = pyo.Constraint(ST, rule=_buy)
        m.c_hull_spill = pyo.Constraint(ST, rule=_spill)
        if fc is not None:
            m.c_hull_buy_fc = pyo.Constraint(ST, rule=_buy_fc)

    # --- shared first-stage decisions (two-stage stochastic) ------------------------------------------
    if n_scenarios > 1:
        n_first = min(settings.stochastic_first_stage_steps, n_steps)
        m.n_first = n_first
        shared = [(m.on, None), (m.sb, None), (m.dl, m.K)]
        if fc is not None:
            shared += [(m.fc_on, None), (m.dfc, m.KF)]
        if bat is not None:
            shared += [(m.p_ch, None), (m.p_dis, None)]
        m.SNA = pyo.Set(initialize=[(s, t) for s in range(1, n_scenarios) for t in range(n_first)], dimen=2)
        for j, (var, kset) in enumerate(shared):
            if kset is not None:
                m.add_component(f"c_na{j}", pyo.Constraint(
                    m.SNA, kset, rule=lambda m, s, t, k, var=var: var[s, t, k] == var[0, t, k]))
            else:
                m.add_component(f"c_na{j}", pyo.Constraint(
                    m.SNA, rule=lambda m, s, t, var=var: var[s, t] == var[0, t]))

    # --- objective parts (per scenario) -------------------------------------------------------------
    gas_per_heat = 1.0 / settings.boiler_eta
    m.energy_cost_eur = pyo.Expression(m.S, rule=lambda m, s: dt_h * sum(
        m.price_import[t] * m.p_imp[s, t] - m.price_export[t] * m.p_exp[s, t]
        + plant.gas_eur_per_kwh * gas_per_heat * q_boil(s, t) for t in m.T))
    m.startup_cost_eur = pyo.Expression(
        m.S, rule=lambda m, s: settings.startup_cost_eur * sum(m.cs[s, t] for t in m.T))
    m.co2_kg = pyo.Expression(m.S, rule=lambda m, s: dt_h * sum(
        m.co2_g_per_kwh[t] * 1e-3 * m.p_imp[s, t]
        + plant.co2_gas_g_per_kwh * 1e-3 * gas_per_heat * q_boil(s, t) for t in m.T))
    n = n_steps

    def _d_bat(m, s):
        return (m.e_bat[s, n] - m.e0_kwh) if bat is not None else 0.0
    m.terminal_value_eur = pyo.Expression(m.S, rule=lambda m, s: settings.terminal_h2_eur_per_kg * (
        m.m_tank[s, n] - m.m0_kg) + settings.terminal_battery_eur_per_kwh * _d_bat(m, s))
    m.terminal_co2_kg = pyo.Expression(m.S, rule=lambda m, s: settings.terminal_h2_co2_kg_per_kg * (
        m.m_tank[s, n] - m.m0_kg) + settings.terminal_battery_co2_kg_per_kwh * _d_bat(m, s))
    m.penalty_eur = pyo.Expression(m.S, rule=lambda m, s: sum(
        settings.penalty_h2_unmet_eur_per_kg * m.u_h2[s, t] + settings.penalty_h2_vent_eur_per_kg * m.vent[s, t]
        + settings.penalty_load_unmet_eur_per_kwh * dt_h * u_load(s, t) for t in m.T))
    if settings.objective == "cost":
        a_eur, b_co2 = 1.0, 0.0
    elif settings.objective == "co2":
        a_eur, b_co2 = settings.cost_tiebreak_in_co2_mode, 1.0
    else:
        a_eur, b_co2 = 1.0, settings.co2_price_eur_per_t * 1e-3
    m.obj_weights = (a_eur, b_co2)

    def _obj(m):
        total = 0.0
        for s in m.S:
            part = a_eur * (m.energy_cost_eur[s] + m.startup_cost_eur[s] - m.terminal_value_eur[s]) \
                + m.penalty_eur[s]
            if b_co2:
                part = part + b_co2 * (m.co2_kg[s] - m.terminal_co2_kg[s])
            total = total + m.prob[s] * part
        return total
    m.obj = pyo.Objective(rule=_obj, sense=pyo.minimize)
    return m


def _add_fuel_cell_hull_rows(m: pyo.ConcreteModel, plant: PlantParams, st: pyo.Set) -> None:
    """Two valid rows that give the fuel cell its convex hull per step (they tighten only the LP relaxation).

    Segment rows ``c_fc_seg_k``: ``dfc[k] ≤ width_k · fc_on`` for every chord ``k``. The aggregated row
    ``Σ_k dfc[k] ≤ Σ_k width_k · fc_on`` is exact for binary ``fc_on`` but lets a fractional ``fc_on`` fill
    the first (most hydrogen-efficient) chord to its full width: at ``fc_on = 0.17`` the LP of the January
    week ran the fuel cell at 0.0555 kg/kWh, below the curve's best point (0.0566 kg/kWh at 0.5 kW). With
    the per-segment rows the set ``{(fc_on, p_fc, ṁ_fc)}`` is the perspective of the (convex) chord curve,
    the convex hull of "off" and "on anywhere on the curve". *Valid*: for ``fc_on = 0`` the aggregated row
    already forces every ``dfc[k] = 0``; for ``fc_on = 1`` the new rows are the variables' own bounds.

    Reserve hull ``c_res_tight``: ``m[t] − c · fc_on[t] ≥ fc_floor − demand before t`` with ``c = reserve −
    (m_min + max(k_res, 0))`` (one step of full-load use, or less). The rule ``m[t] ≥ m_min + (reserve −
    m_min) · fc_on`` is a big-M row whose "off" side is the tank minimum, far below the floor the tank can
    actually reach (``c_res_floor``); on the January week the LP ran the fuel cell at ``fc_on ≈ 0.95`` from a
    tank of 1.976 kg, below its 2.0 kg reserve. *Valid* for every integral schedule that does not vent below
    a full tank (venting is a penalised slack and never pays below ``m_max``): ``fc_on = 1`` needs
    ``m[t] ≥ reserve`` and the right-hand side is at most ``m_min + max(k_res, 0) + c = reserve``;
    ``fc_on = 0`` leaves ``m[t] ≥ fc_floor − demand before t``, the reserve floor one step earlier (its
    argument in :func:`build_model`: before the first run the tank holds ``m0`` less demand, after a run at
    least the reserve less one step of full-load use, ``fc_floor = min(m0, m_min + k_res)``).

    Both rows have constant coefficients; their right-hand sides use the mutable Params ``fc_floor_kg`` and
    ``h2_demand_cum_prev_kg`` (in ``PARAM_NAMES``), so MPC re-plans update them like any other row.
    """
    fc, tank = plant.fuel_cell, plant.tank
    fw = fc.curve.widths
    if len(fw) > 1:
        m.c_fc_seg_k = pyo.Constraint(st, m.KF, rule=lambda m, s, t, k:
                                      m.dfc[s, t, k] <= float(fw[k]) * m.fc_on[s, t])
    if hasattr(m, "c_reserve"):
        c_kg = fc.m_reserve_kg - (tank.m_min_kg + max(getattr(m, "k_res", 0.0), 0.0))
        if c_kg > 0:
            m.c_res_tight = pyo.Constraint(st, rule=lambda m, s, t: m.m_tank[s, t] - c_kg * m.fc_on[s, t]
                                           >= m.fc_floor_kg - m.h2_demand_cum_prev_kg[t])


# ---------------------------------------------------------------------------------------------------------
# Feeding data
# ---------------------------------------------------------------------------------------------------------
REQUIRED_COLUMNS = ("pv_kw", "load_kw", "import_eur_per_kwh", "feed_in_eur_per_kwh", "co2_g_per_kwh",
                    "h2_demand_kg")


def _store(param: pyo.Param, keys: list, values: np.ndarray) -> None:
    param.store_values(dict(zip(keys, values.tolist())))


RESERVE_CUT_MAX_STEPS = 2000
"""``reserve_memory_cut='auto'`` and ``fc_hull_rows='auto'`` add their rows to horizons of at most this many steps
(MPC, day-ahead), not to the annual plan."""

COEF_PARAM_NAMES = ("need_on_kw", "need_sb_kw", "spill_on_kw", "spill_sb_kw", "fc_need_kw")
"""Mutable Params that are constraint-matrix coefficients (of ``on``/``sb``/``fc_on`` in the hull cuts)."""
HULL_PARAM_NAMES = ("need_off_kw", "spill_off_kw") + COEF_PARAM_NAMES

PARAM_NAMES = ("pv_kw", "load_kw", "heat_kw", "price_import", "price_export", "co2_g_per_kwh", "h2_demand_kg",
               "m0_kg", "e0_kwh", "on_prev", "w_prev", "p_prev_kw", "must_on", "must_off", "no_prod",
               "need_off_kw", "spill_off_kw", "h2_demand_cum_kg", "h2_demand_cum_prev_kg", "fc_floor_kg")
"""Mutable Params that change between re-plans and enter only right-hand sides, costs and the objective
constant (``prob`` is fixed per model; coefficient Params are listed in ``COEF_PARAM_NAMES``)."""


def write_values(m: pyo.ConcreteModel, values: dict[str, np.ndarray]) -> None:
    """Store flat value arrays (in each Param's own index order) into the model's mutable Params."""
    for name, vals in values.items():
        comp = getattr(m, name)
        if comp.is_indexed():
            _store(comp, list(comp.keys()), np.asarray(vals, float))
        else:
            comp.set_value(float(np.asarray(vals).ravel()[0]))


def check_inputs(inputs: pd.DataFrame) -> None:
    """Raise ValueError naming the column if the input table lacks a column or holds NaN."""
    missing = [c for c in REQUIRED_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"inputs lack column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")
    for c in REQUIRED_COLUMNS + (("heat_kw",) if "heat_kw" in inputs.columns else ()):
        v = inputs[c].to_numpy(float)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"inputs column '{c}' holds NaN/inf at {inputs.index[~np.isfinite(v)][:3].tolist()}")
    for c in ("pv_kw", "load_kw", "h2_demand_kg"):
        if (inputs[c] < 0).any():
            raise ValueError(f"inputs column '{c}' must be ≥ 0, min is {inputs[c].min()}")


def input_values(m: pyo.ConcreteModel, inputs: pd.DataFrame, pv_scenarios_kw: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """Flat Param values for an input table (``len(inputs) == m.n_steps``).

    Parameters
    ----------
    m : ConcreteModel
        From :func:`build_model`.
    inputs : DataFrame
        Rows = steps; columns as :func:`h2quarters.sim.inputs.site_inputs` (``heat_kw`` optional).
    pv_scenarios_kw : ndarray, optional
        Shape ``(n_scenarios, n_steps)``; default: ``inputs.pv_kw`` for every scenario.
    """
    n, ns = m.n_steps, m.n_scenarios
    if len(inputs) != n:
        raise ValueError(f"inputs have {len(inputs)} rows, the model has {n} steps")
    if pv_scenarios_kw is None:
        pv = np.tile(inputs["pv_kw"].to_numpy(float), (ns, 1))
    else:
        pv = np.asarray(pv_scenarios_kw, float)
        if pv.shape != (ns, n):
            raise ValueError(f"pv_scenarios_kw has shape {pv.shape}, expected {(ns, n)}")
    heat = inputs["heat_kw"].to_numpy(float) if "heat_kw" in inputs.columns else np.zeros(n)
    if not m.with_heat and heat.max(initial=0.0) > 0.0:
        raise ValueError("inputs have heat demand (heat_kw > 0) but the model was built without a heat balance "
                         "(with_heat=False)")
    inverted = inputs["feed_in_eur_per_kwh"].to_numpy(float) > inputs["import_eur_per_kwh"].to_numpy(float)
    if inverted.any() and not m.grid_exclusive:
        raise ValueError(f"feed-in tariff exceeds the import price at {inputs.index[inverted][:3].tolist()}: "
                         "build the model with grid_exclusive_m_kw (plan() does this automatically)")
    pv = np.clip(pv, 0.0, None)
    return {
        **hull_values(m.plant, pv, inputs["load_kw"].to_numpy(float)),
        "pv_kw": pv.ravel(),  # S-major, as Pyomo orders S × T
        "load_kw": inputs["load_kw"].to_numpy(float),
        "heat_kw": heat,
        "price_import": inputs["import_eur_per_kwh"].to_numpy(float),
        "price_export": inputs["feed_in_eur_per_kwh"].to_numpy(float),
        "co2_g_per_kwh": inputs["co2_g_per_kwh"].to_numpy(float),
        "h2_demand_kg": inputs["h2_demand_kg"].to_numpy(float),
        "h2_demand_cum_kg": np.cumsum(inputs["h2_demand_kg"].to_numpy(float)),
        "h2_demand_cum_prev_kg": np.concatenate([[0.0], np.cumsum(inputs["h2_demand_kg"].to_numpy(float))[:-1]]),
    }


def hull_values(plant: PlantParams, pv_kw: np.ndarray, load_kw: np.ndarray) -> dict[str, np.ndarray]:
    """Right-hand sides and coefficients of the per-step hull cuts (flat, S-major like ``pv_kw``).

    Parameters
    ----------
    plant : PlantParams
        Electrolyser and compressor numbers (least and most power per state).
    pv_kw : ndarray
        PV power, shape ``(n_scenarios, n_steps)``.
    load_kw : ndarray
        Electrical load, shape ``(n_steps,)``.
    """
    ely, w = plant.electrolyser, plant.tank.w_comp_kwh_per_kg
    p_on_min = ely.p_min_kw + ely.p_bop_kw + w * float(ely.curve.y[0])
    p_on_max = ely.p_min_kw + float(ely.curve.widths.sum()) + ely.p_bop_kw + w * float(ely.curve.y[-1])
    net = load_kw[None, :] - pv_kw  # > 0: the site needs power with the electrolyser off
    need_off = np.maximum(net, 0.0)
    spill_off = np.maximum(-net, 0.0)
    return {
        "need_off_kw": need_off.ravel(),
        "need_on_kw": (np.maximum(net + p_on_min, 0.0) - need_off).ravel(),
        "need_sb_kw": (np.maximum(net + ely.p_standby_kw, 0.0) - need_off).ravel(),
        "spill_off_kw": spill_off.ravel(),
        "spill_on_kw": (np.maximum(-net - p_on_max, 0.0) - spill_off).ravel(),
        "spill_sb_kw": (np.maximum(-net - ely.p_standby_kw, 0.0) - spill_off).ravel(),
        # coefficient of fc_on in c_hull_buy_fc: what the fuel cell can cover (at most its rated power)
        "fc_need_kw": (np.minimum(need_off, plant.fuel_cell.p_rated_kw) if plant.fuel_cell is not None
                       else np.zeros_like(need_off)).ravel(),
    }


def set_inputs(m: pyo.ConcreteModel, inputs: pd.DataFrame, pv_scenarios_kw: np.ndarray | None = None,
               probabilities: np.ndarray | None = None) -> None:
    """Write an input table (``len(inputs) == m.n_steps``) into the model's mutable Params.

    See :func:`input_values`; ``probabilities`` (sum 1, default equal) weight the PV scenarios.
    """
    write_values(m, input_values(m, inputs, pv_scenarios_kw))
    if probabilities is not None:
        ns = m.n_scenarios
        p = np.asarray(probabilities, float)
        if p.shape != (ns,) or abs(p.sum() - 1.0) > 1e-9 or (p < 0).any():
            raise ValueError(f"probabilities must be {ns} non-negative numbers summing to 1, got {p.tolist()}")
        _store(m.prob, list(range(ns)), p)


def state_values(m: pyo.ConcreteModel, state: InitialState) -> dict[str, np.ndarray]:
    """Flat Param values for the plant state at the horizon start (tank, battery, electrolyser history)."""
    plant: PlantParams = m.plant
    s: OptSettings = m.settings
    tank = plant.tank
    e0 = 0.0
    if plant.battery is not None:
        b = plant.battery
        e0 = float(np.clip(state.e_battery_kwh, b.soc_min * b.e_kwh, b.soc_max * b.e_kwh))
    if state.ely_state not in (ELY_OFF, ELY_STANDBY, ELY_STARTING, ELY_ON):
        raise ValueError(f"ely_state must be 0 (off), 1 (standby), 2 (starting) or 3 (producing), "
                         f"got {state.ely_state}")
    on = 1.0 if state.ely_state == ELY_ON else 0.0
    w = 0.0 if state.ely_state == ELY_OFF else 1.0
    n = m.n_steps  # (constraints use only the first len(m.TH) entries)
    must_on = np.zeros(n)
    must_off = np.zeros(n)
    no_prod = np.zeros(n)
    n_up = steps_of(s.min_up_h, m.dt_h)
    n_down = steps_of(s.min_down_h, m.dt_h)
    if on and state.ely_steps_in_state < n_up:
        must_on[: n_up - state.ely_steps_in_state] = 1.0
    if not w and state.ely_steps_in_state < n_down:
        must_off[: n_down - state.ely_steps_in_state] = 1.0
    if state.ely_startup_steps_left > 0:
        no_prod[: state.ely_startup_steps_left] = 1.0
    m0 = float(np.clip(state.m_tank_kg, tank.m_min_kg, tank.m_max_kg))
    return {
        "m0_kg": np.array([m0]),
        "fc_floor_kg": np.array([min(m0, tank.m_min_kg + max(getattr(m, "k_res", 0.0), 0.0))]),
        "e0_kwh": np.array([e0]),
        "on_prev": np.array([on]),
        "w_prev": np.array([w]),
        "p_prev_kw": np.array([float(state.ely_p_stack_kw) if on else 0.0]),
        "must_on": must_on,
        "must_off": must_off,
        "no_prod": no_prod,
    }


def set_initial_state(m: pyo.ConcreteModel, state: InitialState) -> None:
    """Write the plant state at the horizon start into the model (see :func:`state_values`)."""
    write_values(m, state_values(m, state))


def initial_state_from_plant(plant: PlantParams) -> InitialState:
    """Initial state from the configuration (tank at its initial pressure, battery at ``soc_init``, off)."""
    e0 = plant.battery.soc_init * plant.battery.e_kwh if plant.battery is not None else 0.0
    return InitialState(m_tank_kg=plant.tank.m_init_kg, e_battery_kwh=e0)
