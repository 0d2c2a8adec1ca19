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


def trailer_logistics(fc_h2_kg: np.ndarray, tr: Trailer, annualise: float = 1.0, discount_rate: float = 0.05
                      ) -> dict:
    """Trips and their energy, CO2 and cost for the fuel cell's hydrogen use per step.

    Parameters
    ----------
    fc_h2_kg : ndarray
        Hydrogen used by the fuel cell per step (kg).
    tr : Trailer
        Trailer configuration.
    annualise : float
        Factor from the simulated period to one year (8760 h / simulated hours).
    discount_rate : float
        For the annuity of the shuttle bundles.

    Returns
    -------
    dict
        ``trips``, ``buffer_kg`` (per step, after use), ``km``, energy, CO2 and cost (per period and per year).
    """
    use = np.asarray(fc_h2_kg, float)
    if np.any(use < 0) or not np.all(np.isfinite(use)):
        raise ValueError("fc_h2_kg must be finite and ≥ 0")
    buffer = tr.stz_buffer_kg  # starts with all bundle places full
    level = np.empty(use.size)
    trips = np.zeros(use.size, int)
    for i, m in enumerate(use):
        while buffer < m:  # a bundle arrives before the buffer would run dry
            buffer = min(buffer + tr.payload_kg, tr.stz_buffer_kg + m)
            trips[i] += 1
        buffer -= m
        level[i] = buffer
    n = int(trips.sum())
    km = n * 2.0 * tr.distance_km
    e_kwh = km * tr.vehicle_kwh_per_km
    cost = n * tr.handling_h_per_trip * tr.labour_eur_per_h + km * tr.vehicle_eur_per_km
    return {
        "mode": "trailer", "trips": n, "trips_per_a": n * annualise, "km": km, "vehicle_energy_kwh": e_kwh,
        "vehicle_co2_kg": e_kwh * tr.vehicle_co2_g_per_kwh * 1e-3, "transport_cost_eur": cost,
        "transport_cost_eur_per_a": cost * annualise,
        "fixed_cost_eur_per_a": annual_cost_eur(tr.bundle_cost, discount_rate),
        "h2_moved_kg": float(use.sum()), "buffer_min_kg": float(level.min()) if level.size else tr.stz_buffer_kg,
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


def supply_chain(fc_h2_kg: np.ndarray, dt_h: float, supply: Supply, annualise: float, discount_rate: float) -> dict:
    """The configured supply chain's figures (``supply.mode``)."""
    if supply.mode == "trailer":
        assert supply.trailer is not None
        return trailer_logistics(fc_h2_kg, supply.trailer, annualise, discount_rate)
    assert supply.pipeline is not None
    return pipeline_summary(fc_h2_kg, dt_h, supply.pipeline, annualise, discount_rate)
