"""Hydrogen supply chain from the school to the Stadtteilzentrum: bundle trailer or pipeline.

Trailer: the Stadtteilzentrum keeps a buffer of bundles (``stz_buffer_kg``); whenever the fuel cell's next
step would empty it, a trip brings one bundle (``payload_kg``). Trips, vehicle energy and CO2, labour and
vehicle cost follow from the fuel cell's hydrogen use per step. In the dispatch the school tank and the
buffer form one hydrogen pool (a bundle is filled at the school and driven over); the logistics below say
what that pooling costs.

Pipeline: a steady isothermal pipe flow with pandapipes (fluid ``hydrogen``, Darcy-Weisbach with Colebrook
friction) at the peak and the mean fuel-cell hydrogen flow gives the pressure drop; the linepack is the
real-gas mass in the pipe (Leachman EOS, :func:`h2quarters.models.storage.h2_density_kg_per_m3`) and its
usable part between the inlet pressure and the fuel cell's minimum inlet pressure.

References
----------
Lohmeier et al. (2020), Pandapipes: An Open-Source Piping Grid Calculation Package for Multi-Energy Grid
Simulations, Sustainability 12(23) 9899.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from h2quarters.config.scenario import ComponentCost
from h2quarters.kpi.economics import annuity_eur_per_a
from h2quarters.models.storage import h2_density_kg_per_m3
from h2quarters.quarter.config import Pipeline, Supply, Trailer

P_ATM_BAR = 1.01325  # pandapipes pressures are gauge; ours are absolute


def annual_cost_eur(cost: ComponentCost | None, rate: float) -> float:
    """Capital annuity plus fixed O&M of a component (EUR/a); 0 when not configured."""
    if cost is None:
        return 0.0
    return float(annuity_eur_per_a(cost.capex_eur, rate, cost.lifetime_a) + cost.opex_frac_per_a * cost.capex_eur)


def working_steps(index: pd.DatetimeIndex | None, n: int, tr: Trailer) -> np.ndarray:
    """True where a delivery may arrive: a working day, within working hours (local time)."""
    if index is None:
        return np.ones(n, bool)
    hour = index.hour + index.minute / 60.0
    return (np.isin(index.dayofweek, tr.work_days) & (hour >= tr.work_start_h) & (hour < tr.work_end_h))


def trailer_logistics(fc_h2_kg: np.ndarray, tr: Trailer, annualise: float | None = 1.0, discount_rate: float = 0.05,
                      index: pd.DatetimeIndex | None = None, dt_h: float = 1.0,
                      pool_usable_kg: np.ndarray | None = None, deliveries: np.ndarray | None = None,
                      pool_start_kg: float | None = None) -> dict:
    """Bundle deliveries for the fuel cell's hydrogen use per step, as a technician would run them.

    Rules
    -----
    * The Stadtteilzentrum holds ``stz_buffer_kg / payload_kg`` bundle places. A bundle is swapped only as a
      whole: a full one is brought when a place holds an empty one (buffer ≤ capacity − payload).
    * Deliveries arrive only on ``work_days`` between ``work_start_h`` and ``work_end_h``, at the earliest
      ``lead_time_h`` after the order.
    * The order is decided on a forecast, not on the future: the mean use of the past ``forecast_days``
      (persistence). An order is placed when a place is empty, or when the forecast says the buffer runs dry
      before the earliest possible delivery.
    * The starting buffer is part of the hydrogen balance: it is taken from the dispatch's hydrogen pool
      (``pool_usable_kg``, the usable school tank + buffer after each step), and a bundle can only be filled
      when the school's share of the pool holds a full payload. At the end the buffer is brought back to its
      starting level (``trips_end_refill``), so hydrogen stocked at the start is never counted as delivered.
    * If the buffer runs dry the fuel cell's planned use is short: ``h2_short_kg`` reports it (the dispatch
      pools school tank and buffer, so it does not see the logistics).

    Parameters
    ----------
    fc_h2_kg : ndarray
        Hydrogen used by the fuel cell per step (kg).
    tr : Trailer
        Trailer configuration.
    annualise : float or None
        Factor from the simulated period to one year; None for a period shorter than a year (no ``_per_a``).
    discount_rate : float
        For the annuity of the shuttle bundles.
    index : DatetimeIndex, optional
        Local time of every step (working hours, weekdays); None = every step is working time.
    dt_h : float
        Step length (h).
    pool_usable_kg : ndarray, optional
        Usable hydrogen in school tank + buffer after each step (the dispatch's pool); None = unlimited.
    pool_start_kg : float, optional
        Usable pool before the first step (default: after the first step plus its use).
    deliveries : ndarray, optional
        Bundles the dispatch decided to deliver per step (:class:`h2quarters.quarter.meters.MeterDispatcher`,
        which plans them with the same rules); then no orders are made here, only the buffer is followed.

    Returns
    -------
    dict
        ``trips`` (incl. the end refill), ``buffer_kg`` (per step, after use), ``trips_per_step``, km, energy,
        CO2 and cost (per period and, for a full year, per year), ``h2_short_kg``, order/arrival statistics.
    """
    use = np.asarray(fc_h2_kg, float)
    if np.any(use < 0) or not np.all(np.isfinite(use)):
        raise ValueError("fc_h2_kg must be finite and ≥ 0")
    n = use.size
    cap, pay = tr.stz_buffer_kg, tr.payload_kg
    work = working_steps(index, n, tr)
    lead = max(0, round(tr.lead_time_h / dt_h))
    win = max(1, round(tr.forecast_days * 24.0 / dt_h))
    pool = None if pool_usable_kg is None else np.asarray(pool_usable_kg, float)
    p0 = None if pool is None else (pool[0] + use[0] if n else 0.0)
    if pool_start_kg is not None:
        p0 = pool_start_kg
    buffer = cap if p0 is None else float(min(cap, max(p0, 0.0)))
    b0 = buffer
    level = np.empty(n)
    trips = np.zeros(n, int)
    short = np.zeros(n)
    order_due: int | None = None  # step from which the ordered bundle may arrive
    cum = np.concatenate([[0.0], np.cumsum(use)])
    night_or_weekend = 0
    for i in range(n):
        # arrival: a working step, the order's lead time passed, a place empty, a full payload at the school
        if deliveries is not None:
            k_in = int(round(float(deliveries[i])))
            buffer += k_in * pay
            trips[i] += k_in
            night_or_weekend += int(k_in > 0 and not work[i])
        elif order_due is not None and i >= order_due and work[i] and buffer <= cap - pay + 1e-9:
            school = np.inf if pool is None else (pool[i - 1] if i else p0) - buffer
            if school >= pay - 1e-9:
                buffer += pay
                trips[i] += 1
                night_or_weekend += int(not work[i])
                order_due = None
        taken = min(use[i], buffer)
        short[i] = use[i] - taken
        buffer -= taken
        level[i] = buffer
        # order decision on the past use (persistence forecast)
        if order_due is None and deliveries is None:
            lo = max(0, i + 1 - win)
            rate = (cum[i + 1] - cum[lo]) / max(1, i + 1 - lo)
            j = i + 1 + lead
            while j < n and not work[j]:
                j += 1
            need = rate * (j - i)
            if buffer <= cap - pay + 1e-9 or buffer - need < 0.0:
                order_due = i + 1 + lead
    refill = int(math.ceil(max(0.0, b0 - (level[-1] if n else b0)) / pay - 1e-9))
    n_trips = int(trips.sum()) + refill
    km = n_trips * 2.0 * tr.distance_km
    e_kwh = km * tr.vehicle_kwh_per_km
    cost = n_trips * tr.handling_h_per_trip * tr.labour_eur_per_h + km * tr.vehicle_eur_per_km
    per_a = (lambda x: x * annualise) if annualise is not None else (lambda x: None)
    return {
        "mode": "trailer", "trips": n_trips, "trips_during_period": int(trips.sum()), "trips_end_refill": refill,
        "trips_per_a": per_a(n_trips), "km": km, "vehicle_energy_kwh": e_kwh,
        "vehicle_co2_kg": e_kwh * tr.vehicle_co2_g_per_kwh * 1e-3, "transport_cost_eur": cost,
        "transport_cost_eur_per_a": per_a(cost),
        "fixed_cost_eur_per_a": annual_cost_eur(tr.bundle_cost, discount_rate),
        "h2_moved_kg": float(trips.sum() * pay + refill * pay), "h2_used_kg": float(use.sum()),
        "buffer_start_kg": b0, "buffer_end_kg": float(level[-1]) if n else b0,
        "buffer_min_kg": float(level.min()) if level.size else b0,
        "h2_short_kg": float(short.sum()), "steps_short": int((short > 1e-9).sum()),
        "trips_outside_working_hours": night_or_weekend,
        "trips_per_step": trips, "buffer_kg": level,
    }


def pipeline_hydraulics(pl: Pipeline, m_kg_per_h: float) -> dict:
    """Steady pipe flow with pandapipes (fluid ``hydrogen``) at a hydrogen flow ``m_kg_per_h``.

    Returns
    -------
    dict
        Inlet/outlet absolute pressure (bar), pressure drop (bar), mean velocity (m/s), Reynolds number,
        friction factor, and whether the outlet stays above ``p_out_min_bar``.
    """
    import pandapipes as pps

    if m_kg_per_h < 0 or not math.isfinite(m_kg_per_h):
        raise ValueError(f"m_kg_per_h={m_kg_per_h} must be finite and ≥ 0")
    t_k = pl.t_c + 273.15
    p_g = pl.p_in_bar - P_ATM_BAR
    net = pps.create_empty_network(fluid="hydrogen")
    j0 = pps.create_junction(net, pn_bar=p_g, tfluid_k=t_k, name="school")
    j1 = pps.create_junction(net, pn_bar=p_g, tfluid_k=t_k, name="stadtteilzentrum")
    pps.create_ext_grid(net, j0, p_bar=p_g, t_k=t_k)
    pps.create_pipe_from_parameters(net, j0, j1, length_km=pl.length_m / 1000.0,
                                    inner_diameter_mm=pl.diameter_mm, k_mm=pl.roughness_mm)
    pps.create_sink(net, j1, mdot_kg_per_s=max(m_kg_per_h, 1e-9) / 3600.0)
    pps.pipeflow(net)
    p_out = float(net.res_junction.p_bar.iloc[1]) + P_ATM_BAR
    return {
        "m_kg_per_h": m_kg_per_h, "p_in_bar": pl.p_in_bar, "p_out_bar": p_out, "dp_bar": pl.p_in_bar - p_out,
        "v_mean_m_per_s": float(net.res_pipe.v_mean_m_per_s.iloc[0]),
        "reynolds": float(net.res_pipe.reynolds.iloc[0]), "friction_factor": float(net.res_pipe["lambda"].iloc[0]),
        "outlet_ok": p_out >= pl.p_out_min_bar,
    }


def pipeline_linepack(pl: Pipeline, p_mean_bar: float | None = None) -> dict:
    """Hydrogen mass in the pipe (kg) at a mean pressure, and the usable part down to ``p_out_min_bar``."""
    v_m3 = math.pi / 4.0 * (pl.diameter_mm / 1000.0) ** 2 * pl.length_m
    p = pl.p_in_bar if p_mean_bar is None else p_mean_bar
    m = v_m3 * float(h2_density_kg_per_m3(p, pl.t_c))
    m_min = v_m3 * float(h2_density_kg_per_m3(pl.p_out_min_bar, pl.t_c))
    return {"volume_m3": v_m3, "linepack_kg": m, "linepack_usable_kg": m - m_min}


def pipeline_summary(fc_h2_kg: np.ndarray, dt_h: float, pl: Pipeline, annualise: float = 1.0,
                     discount_rate: float = 0.05) -> dict:
    """Hydraulics at peak and mean flow, linepack, and the pipe's annual cost."""
    rate = np.asarray(fc_h2_kg, float) / dt_h
    peak = pipeline_hydraulics(pl, float(rate.max()) if rate.size else 0.0)
    on = rate[rate > 0]
    mean = pipeline_hydraulics(pl, float(on.mean()) if on.size else 0.0)
    lp = pipeline_linepack(pl, 0.5 * (peak["p_in_bar"] + peak["p_out_bar"]))
    return {"mode": "pipeline", "peak": peak, "mean_when_running": mean, **lp,
            "fixed_cost_eur_per_a": annual_cost_eur(pl.cost, discount_rate), "transport_cost_eur_per_a": 0.0,
            "vehicle_co2_kg": 0.0, "h2_moved_kg": float(np.sum(fc_h2_kg)), "trips": 0}


def supply_chain(fc_h2_kg: np.ndarray, dt_h: float, supply: Supply, annualise: float | None, discount_rate: float,
                 index: pd.DatetimeIndex | None = None, pool_usable_kg: np.ndarray | None = None,
                 deliveries: np.ndarray | None = None, pool_start_kg: float | None = None) -> dict:
    """The configured supply chain's figures (``supply.mode``); ``annualise`` None for a sub-year period."""
    if supply.mode == "trailer":
        assert supply.trailer is not None
        return trailer_logistics(fc_h2_kg, supply.trailer, annualise, discount_rate, index=index, dt_h=dt_h,
                                 pool_usable_kg=pool_usable_kg, deliveries=deliveries,
                                 pool_start_kg=pool_start_kg)
    assert supply.pipeline is not None
    return pipeline_summary(fc_h2_kg, dt_h, supply.pipeline, annualise, discount_rate)
