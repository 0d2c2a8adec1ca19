"""Hydrogen KPIs: production, specific energy consumption, efficiencies, Faraday efficiency.

Conventions as in :mod:`h2quarters.kpi.energy`: power in kW per step with step length ``dt_h`` in h;
hydrogen as mass in kg **per step** (the simulator's ``h2_produced_kg`` column). The element-wise functions
(:func:`specific_energy_kwh_per_kg`, :func:`efficiency_lhv`, :func:`efficiency_hhv`) take totals — floats,
or per-period Series such as monthly sums — and return the same shape, NaN where nothing was produced.

References: ``shared/reference/kpis.md``; heating values LHV 33.33 kWh/kg and HHV 39.41 kWh/kg
(:mod:`h2quarters.models.constants`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from h2quarters.kpi._checks import (
    FloatArray,
    Number,
    amount,
    ratio,
    ratio_like,
    same_length,
    scalar,
    series_values,
    step_hours_values,
)
from h2quarters.models.constants import (
    F_C_PER_MOL,
    HHV_H2_KWH_PER_KG,
    LHV_H2_KWH_PER_KG,
    M_H2_KG_PER_MOL,
    RHO_H2_NORMAL_KG_PER_M3,
)

__all__ = [
    "h2_produced_kg",
    "h2_kg_from_normal_m3",
    "specific_energy_kwh_per_kg",
    "sec_stack_kwh_per_kg",
    "sec_system_kwh_per_kg",
    "efficiency_lhv",
    "efficiency_hhv",
    "h2_faraday_kg",
    "faraday_efficiency",
]


def h2_produced_kg(h2_kg: ArrayLike) -> float:
    """Hydrogen produced over the period.

    ``m_H2 = Σ_t m_t``

    Parameters
    ----------
    h2_kg : array-like
        Hydrogen mass produced in each step in kg (not a rate), >= 0.

    Returns
    -------
    float
        Mass in kg.
    """
    return float(np.sum(series_values(h2_kg, "h2_kg")))


def h2_kg_from_normal_m3(v_nm3: ArrayLike | Number) -> float | FloatArray | pd.Series:
    """Convert a hydrogen volume at normal conditions to mass.

    ``m = V_N · ρ_N`` with ``ρ_N = 0.08988 kg/m³`` (0 °C, 1.01325 bar). Datasheets quote electrolyser
    output in Nm³/h; 1 kg ≈ 11.126 Nm³.

    Parameters
    ----------
    v_nm3 : float or array-like
        Volume in Nm³, >= 0.

    Returns
    -------
    float, ndarray or Series
        Mass in kg, same shape as the input.
    """
    amount(v_nm3, "v_nm3")
    if isinstance(v_nm3, pd.Series):
        return v_nm3.astype(float) * RHO_H2_NORMAL_KG_PER_M3
    out = np.asarray(v_nm3, dtype=np.float64) * RHO_H2_NORMAL_KG_PER_M3
    return float(out) if out.ndim == 0 else out


def specific_energy_kwh_per_kg(e_kwh: ArrayLike | Number, m_kg: ArrayLike | Number) -> float | FloatArray | pd.Series:
    """Specific energy consumption (SEC) from totals.

    ``SEC = E_el / m_H2``

    PEM reference values: stack 4.2–5.6 kWh/Nm³ (≈47–62 kWh/kg), system ≈50–60 kWh/kg with ancillaries;
    compression adds 1.5–6 kWh/kg.

    Parameters
    ----------
    e_kwh : float or array-like
        Electrical energy in kWh, >= 0 (scalar or per period).
    m_kg : float or array-like
        Hydrogen mass in kg, >= 0 (same shape or scalar).

    Returns
    -------
    float, ndarray or Series
        SEC in kWh/kg; NaN where ``m_kg == 0`` (nothing produced: SEC undefined).
    """
    amount(e_kwh, "e_kwh")
    amount(m_kg, "m_kg")
    return ratio_like(e_kwh, m_kg)


def sec_stack_kwh_per_kg(ely_stack_kw: ArrayLike, h2_kg: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """Specific energy consumption at the stack (DC stack power only).

    ``SEC_stack = Σ_t P_stack,t · Δt_t / Σ_t m_t``

    Parameters
    ----------
    ely_stack_kw : array-like
        Stack electric (DC) power per step in kW.
    h2_kg : array-like
        Hydrogen produced per step in kg.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        kWh/kg; NaN if no hydrogen was produced.
    """
    p = series_values(ely_stack_kw, "ely_stack_kw")
    m = series_values(h2_kg, "h2_kg")
    same_length(ely_stack_kw=(ely_stack_kw, p), h2_kg=(h2_kg, m))
    dt = step_hours_values(dt_h, p.shape[0])
    return ratio(float(np.sum(p * dt)), float(np.sum(m)))


def sec_system_kwh_per_kg(
    ely_kw: ArrayLike,
    h2_kg: ArrayLike,
    dt_h: ArrayLike | Number,
    compressor_kw: ArrayLike | None = None,
    other_kw: ArrayLike | Sequence[ArrayLike] | None = None,
) -> float:
    """Specific energy consumption at the system boundary (stack + BoP + compression).

    ``SEC_sys = Σ_t (P_ely,t + P_comp,t + P_other,t) · Δt_t / Σ_t m_t``

    Parameters
    ----------
    ely_kw : array-like
        Electrolyser electric input per step in kW as metered at its AC terminal: stack via rectifier plus
        balance of plant, standby and start-up consumption (the simulator's ``ely_kw``).
    h2_kg : array-like
        Hydrogen produced per step in kg.
    dt_h : float or array-like
        Step length in h.
    compressor_kw : array-like, optional
        Compressor electric input per step in kW.
    other_kw : array-like or sequence of array-like, optional
        Further consumers inside the boundary (dryer, chiller, BoP metered separately), kW per step.

    Returns
    -------
    float
        kWh/kg; NaN if no hydrogen was produced.
    """
    parts: list[tuple[str, ArrayLike]] = [("ely_kw", ely_kw)]
    if compressor_kw is not None:
        parts.append(("compressor_kw", compressor_kw))
    if other_kw is not None:
        if isinstance(other_kw, (pd.Series, np.ndarray)) or (
            isinstance(other_kw, (list, tuple)) and other_kw and np.ndim(other_kw[0]) == 0
        ):
            parts.append(("other_kw", other_kw))  # type: ignore[arg-type]
        else:
            parts.extend((f"other_kw[{i}]", p) for i, p in enumerate(other_kw))  # type: ignore[arg-type]
    m = series_values(h2_kg, "h2_kg")
    arrays = {name: (orig, series_values(orig, name)) for name, orig in parts}
    same_length(h2_kg=(h2_kg, m), **arrays)
    dt = step_hours_values(dt_h, m.shape[0])
    e_kwh = sum(float(np.sum(a * dt)) for _, a in arrays.values())
    return ratio(e_kwh, float(np.sum(m)))


def efficiency_lhv(m_kg: ArrayLike | Number, e_kwh: ArrayLike | Number) -> float | FloatArray | pd.Series:
    """Energy efficiency of hydrogen production on the lower heating value.

    ``η_LHV = m_H2 · 33.33 kWh/kg / E_el``

    Parameters
    ----------
    m_kg : float or array-like
        Hydrogen produced in kg, >= 0.
    e_kwh : float or array-like
        Electrical energy used in kWh, >= 0 (choose the boundary: stack or system).

    Returns
    -------
    float, ndarray or Series
        Fraction; NaN where ``e_kwh == 0`` (no energy used: efficiency undefined).
    """
    amount(m_kg, "m_kg")
    amount(e_kwh, "e_kwh")
    return ratio_like(np.multiply(m_kg, LHV_H2_KWH_PER_KG), e_kwh)


def efficiency_hhv(m_kg: ArrayLike | Number, e_kwh: ArrayLike | Number) -> float | FloatArray | pd.Series:
    """Energy efficiency of hydrogen production on the higher heating value.

    ``η_HHV = m_H2 · 39.41 kWh/kg / E_el``

    Parameters
    ----------
    m_kg : float or array-like
        Hydrogen produced in kg, >= 0.
    e_kwh : float or array-like
        Electrical energy used in kWh, >= 0.

    Returns
    -------
    float, ndarray or Series
        Fraction; NaN where ``e_kwh == 0``.
    """
    amount(m_kg, "m_kg")
    amount(e_kwh, "e_kwh")
    return ratio_like(np.multiply(m_kg, HHV_H2_KWH_PER_KG), e_kwh)


def h2_faraday_kg(i_a: ArrayLike, n_cells: int, dt_h: ArrayLike | Number) -> float:
    """Theoretical hydrogen mass from the charge passed (Faraday's law).

    ``m_th = N · Σ_t I_t · Δt_t / (2 F) · M_H2`` with ``Δt`` in s, F = 96 485.332 C/mol,
    M_H2 = 2.01588 g/mol; 1 A·h through one cell gives 0.03761 g (0.4184 NL).

    Parameters
    ----------
    i_a : array-like
        Stack current per step in A, >= 0.
    n_cells : int
        Number of cells the current flows through in series (several stacks with the same current:
        ``n_stacks · n_cells``), >= 1.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Theoretical hydrogen mass in kg.
    """
    i = series_values(i_a, "i_a")
    n = _positive_int(n_cells, "n_cells")
    dt = step_hours_values(dt_h, i.shape[0])
    charge_c = float(np.sum(i * dt)) * 3600.0
    return n * charge_c / (2.0 * F_C_PER_MOL) * M_H2_KG_PER_MOL


def faraday_efficiency(m_measured_kg: Number, i_a: ArrayLike, n_cells: int, dt_h: ArrayLike | Number) -> float:
    """Faraday (current) efficiency: measured hydrogen over the Faraday-law amount.

    ``η_F = m_measured / (N · I · t / (2 F) · M_H2)``

    Parameters
    ----------
    m_measured_kg : float
        Hydrogen measured over the same period in kg, >= 0 (from a volume use :func:`h2_kg_from_normal_m3`).
    i_a : array-like
        Stack current per step in A.
    n_cells : int
        Cells in series carrying the current.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Fraction (typically 0.95–0.995); NaN if no charge flowed.
    """
    m = scalar(m_measured_kg, "m_measured_kg", lo=0.0)
    return ratio(m, h2_faraday_kg(i_a, n_cells, dt_h))


def _positive_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or int(x) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {x!r}")
    return int(x)
