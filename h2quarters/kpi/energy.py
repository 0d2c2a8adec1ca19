"""Electrical energy KPIs: PV yield, self-consumption, self-sufficiency, capacity factor.

Input convention (all of ``h2quarters.kpi``)
-------------------------------------------
Time series are **mean power in kW per step** (the simulator's ``*_kw`` columns) together with the step
length ``dt_h`` in hours — a positive scalar, or one value per step for irregular data. The energy of a
step is ``p_kw * dt_h`` in kWh. Series should be pandas Series on a tz-aware (Europe/Berlin) index; numpy
arrays and sequences work as well. When two Series are passed together their indexes must be equal.
Power magnitudes must be finite and >= 0 (grid import and export are separate columns). A ratio whose
denominator is zero (no PV, no consumption, nothing produced) is NaN, not an error: the KPI is undefined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from h2quarters.kpi._checks import (
    Number,
    ratio,
    same_length,
    scalar,
    series_values,
    step_hours_values,
    total_hours,
)

__all__ = [
    "step_hours",
    "energy_kwh",
    "pv_yield_kwh",
    "specific_yield_kwh_per_kwp",
    "pv_self_consumed_kwh",
    "self_consumption_rate",
    "self_sufficiency_rate",
    "capacity_factor",
    "full_load_hours",
]


def step_hours(index: pd.DatetimeIndex) -> float:
    """Step length in hours of a regular time index.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Regular index (tz-aware recommended; differences are taken in absolute time, so DST changes do
        not disturb a regular tz-aware index).

    Returns
    -------
    float
        Step length ``dt_h`` in h.

    Raises
    ------
    ValueError
        If the index has fewer than two entries and no frequency, or its steps are not all equal.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"index must be a pandas.DatetimeIndex, got {type(index).__name__}")
    if index.freq is not None:
        try:
            return pd.Timedelta(index.freq).total_seconds() / 3600.0
        except ValueError:
            pass  # calendar frequencies such as 'MS' have no fixed length; fall back to the differences
    if len(index) < 2:
        raise ValueError("index needs at least two timestamps (or a fixed freq) to infer the step length")
    diffs_s = np.diff(index.asi8) / 1e9
    if not np.allclose(diffs_s, diffs_s[0]):
        raise ValueError(
            f"index is irregular (steps from {diffs_s.min():g} s to {diffs_s.max():g} s); pass dt_h per step"
        )
    if diffs_s[0] <= 0:
        raise ValueError("index must increase strictly")
    return float(diffs_s[0]) / 3600.0


def energy_kwh(p_kw: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """Energy of a power series.

    ``E = Σ_t p_t · Δt_t``

    Parameters
    ----------
    p_kw : array-like
        Mean power per step in kW, >= 0.
    dt_h : float or array-like
        Step length in h (scalar or per step), > 0.

    Returns
    -------
    float
        Energy in kWh (0 for an empty series).
    """
    p = series_values(p_kw, "p_kw")
    dt = step_hours_values(dt_h, p.shape[0])
    return float(np.sum(p * dt))


def pv_yield_kwh(pv_kw: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """PV yield: AC energy delivered by the PV system.

    ``E_PV = Σ_t P_PV,t · Δt_t``

    Parameters
    ----------
    pv_kw : array-like
        PV AC power per step in kW, >= 0.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        PV energy in kWh.
    """
    p = series_values(pv_kw, "pv_kw")
    dt = step_hours_values(dt_h, p.shape[0])
    return float(np.sum(p * dt))


def specific_yield_kwh_per_kwp(pv_kw: ArrayLike, dt_h: ArrayLike | Number, p_kwp: Number) -> float:
    """Specific PV yield (final yield) over the period.

    ``Y_f = E_PV / P_peak`` (IEC 61724-1 final yield; kWh/kWp, numerically equal to full-load hours).
    Germany: typically 850–1 100 kWh/kWp per year.

    Parameters
    ----------
    pv_kw : array-like
        PV AC power per step in kW.
    dt_h : float or array-like
        Step length in h.
    p_kwp : float
        Installed peak power in kWp, > 0.

    Returns
    -------
    float
        Specific yield in kWh/kWp over the period given (not annualised).
    """
    kwp = scalar(p_kwp, "p_kwp", lo=0.0, lo_open=True)
    return pv_yield_kwh(pv_kw, dt_h) / kwp


def pv_self_consumed_kwh(pv_kw: ArrayLike, grid_export_kw: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """PV energy used on site (directly, via battery or electrolyser) rather than exported.

    ``E_self = Σ_t (P_PV,t − min(P_export,t, P_PV,t)) · Δt_t``

    Export in a step is attributed to PV first (a meter cannot tell which source fed the grid), so the
    result is a lower bound when a battery or fuel cell also exports.

    Parameters
    ----------
    pv_kw : array-like
        PV AC power per step in kW.
    grid_export_kw : array-like
        Power fed into the grid per step in kW.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Self-consumed PV energy in kWh.
    """
    pv = series_values(pv_kw, "pv_kw")
    ex = series_values(grid_export_kw, "grid_export_kw")
    same_length(pv_kw=(pv_kw, pv), grid_export_kw=(grid_export_kw, ex))
    dt = step_hours_values(dt_h, pv.shape[0])
    return float(np.sum((pv - np.minimum(ex, pv)) * dt))


def self_consumption_rate(pv_kw: ArrayLike, grid_export_kw: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """PV self-consumption rate.

    ``SCR = E_PV,used on site / E_PV`` with the on-site part from :func:`pv_self_consumed_kwh`.

    Parameters
    ----------
    pv_kw : array-like
        PV AC power per step in kW.
    grid_export_kw : array-like
        Power fed into the grid per step in kW.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN if the PV produced nothing (rate undefined).
    """
    used = pv_self_consumed_kwh(pv_kw, grid_export_kw, dt_h)
    return ratio(used, pv_yield_kwh(pv_kw, dt_h))


def self_sufficiency_rate(consumption_kw: ArrayLike, grid_import_kw: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """Self-sufficiency (autarky) rate: share of consumption covered on site.

    ``SSR = Σ_t (P_cons,t − min(P_import,t, P_cons,t)) · Δt_t / Σ_t P_cons,t · Δt_t``

    Parameters
    ----------
    consumption_kw : array-like
        Total on-site electrical consumption per step in kW — all consumers inside the boundary you rate
        (e.g. ``load_kw + ely_kw + compressor_kw``). Import exceeding consumption in a step (e.g. charging
        a battery from the grid) is not counted as covering consumption.
    grid_import_kw : array-like
        Power drawn from the grid per step in kW.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN if there was no consumption (rate undefined).
    """
    cons = series_values(consumption_kw, "consumption_kw")
    imp = series_values(grid_import_kw, "grid_import_kw")
    same_length(consumption_kw=(consumption_kw, cons), grid_import_kw=(grid_import_kw, imp))
    dt = step_hours_values(dt_h, cons.shape[0])
    covered = float(np.sum((cons - np.minimum(imp, cons)) * dt))
    return ratio(covered, float(np.sum(cons * dt)))


def capacity_factor(p_kw: ArrayLike, p_rated_kw: Number, dt_h: ArrayLike | Number) -> float:
    """Capacity factor of a unit over the period.

    ``CF = E / (P_rated · T)`` with ``T = Σ_t Δt_t`` the period length.

    Parameters
    ----------
    p_kw : array-like
        Power per step in kW (for an electrolyser use the electric input, stack or system, consistently
        with ``p_rated_kw``).
    p_rated_kw : float
        Rated power in kW, > 0.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Fraction (1 = full load all the time); NaN for an empty series (no period).
    """
    p = series_values(p_kw, "p_kw")
    rated = scalar(p_rated_kw, "p_rated_kw", lo=0.0, lo_open=True)
    dt = step_hours_values(dt_h, p.shape[0])
    return ratio(float(np.sum(p * dt)), rated * total_hours(dt, p.shape[0]))


def full_load_hours(p_kw: ArrayLike, p_rated_kw: Number, dt_h: ArrayLike | Number) -> float:
    """Full-load hours (equivalent operating hours at rated power) over the period.

    ``h_FL = E / P_rated``

    Parameters
    ----------
    p_kw : array-like
        Power per step in kW.
    p_rated_kw : float
        Rated power in kW, > 0.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Hours in h over the period given (annual value for an annual series).
    """
    rated = scalar(p_rated_kw, "p_rated_kw", lo=0.0, lo_open=True)
    p = series_values(p_kw, "p_kw")
    dt = step_hours_values(dt_h, p.shape[0])
    return float(np.sum(p * dt)) / rated
