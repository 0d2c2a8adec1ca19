"""CO2 KPIs: emissions avoided by displacing grid electricity and natural gas.

Emission factors are in g CO2/kWh as in the scenario's ``tariffs`` (``co2_g_per_kwh`` for the grid, constant
or a time series; ``co2_gas_g_per_kwh`` for natural gas, ≈201 g/kWh on the lower heating value).
Results are in kg CO2.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from h2quarters.kpi._checks import (
    Number,
    same_length,
    scalar,
    series_values,
    step_hours_values,
)
from h2quarters.models.constants import HHV_H2_KWH_PER_KG, LHV_H2_KWH_PER_KG

__all__ = ["CO2_NATURAL_GAS_G_PER_KWH", "co2_avoided_grid_kg", "co2_avoided_gas_kg"]

CO2_NATURAL_GAS_G_PER_KWH: float = 201.0
"""Natural gas emission factor in g CO2 per kWh (LHV basis), ≈0.2 kg/kWh_th (``shared/reference/kpis.md``;
German BAFA/UBA fuel factor 0.201 t CO2/MWh)."""


def co2_avoided_grid_kg(
    displaced_kw: ArrayLike,
    dt_h: ArrayLike | Number,
    co2_g_per_kwh: ArrayLike | Number,
) -> float:
    """CO2 avoided by electricity that displaces grid electricity.

    ``m_CO2 = Σ_t P_displaced,t · Δt_t · f_grid,t / 1000``

    Parameters
    ----------
    displaced_kw : array-like
        Power per step in kW that would otherwise come from the grid, e.g. self-consumed PV
        (``pv_kw − grid_export_kw`` clipped at 0) plus exported PV if exports count as displacing grid
        power, or fuel-cell output.
    dt_h : float or array-like
        Step length in h.
    co2_g_per_kwh : float or array-like
        Grid emission factor in g CO2/kWh: a constant (annual average, e.g. 363 g/kWh for Germany 2024)
        or one value per step (marginal or hourly average factor), >= 0.

    Returns
    -------
    float
        CO2 avoided in kg.
    """
    p = series_values(displaced_kw, "displaced_kw")
    dt = step_hours_values(dt_h, p.shape[0])
    if np.ndim(co2_g_per_kwh) == 0:
        f: np.ndarray | float = scalar(co2_g_per_kwh, "co2_g_per_kwh", lo=0.0)
    else:
        f = series_values(co2_g_per_kwh, "co2_g_per_kwh")
        same_length(displaced_kw=(displaced_kw, p), co2_g_per_kwh=(co2_g_per_kwh, f))
    return float(np.sum(p * dt * f)) / 1000.0


def co2_avoided_gas_kg(
    m_h2_kg: Number,
    co2_gas_g_per_kwh: Number = CO2_NATURAL_GAS_G_PER_KWH,
    basis: Literal["LHV", "HHV"] = "LHV",
) -> float:
    """CO2 avoided when hydrogen replaces natural gas for heat.

    ``m_CO2 = m_H2 · H_H2 · f_gas / 1000`` with ``H_H2`` = 33.33 kWh/kg (LHV) or 39.41 kWh/kg (HHV).

    Assumes the same conversion efficiency for both gases (the hydrogen's heating value replaces the same
    heating value of natural gas). Use the basis that matches the gas factor: the default 201 g/kWh is on
    the lower heating value.

    Parameters
    ----------
    m_h2_kg : float
        Hydrogen used for heat in kg, >= 0.
    co2_gas_g_per_kwh : float, default 201
        Natural gas emission factor in g CO2/kWh, >= 0.
    basis : {'LHV', 'HHV'}, default 'LHV'
        Heating value basis of the factor.

    Returns
    -------
    float
        CO2 avoided in kg.
    """
    m = scalar(m_h2_kg, "m_h2_kg", lo=0.0)
    f = scalar(co2_gas_g_per_kwh, "co2_gas_g_per_kwh", lo=0.0)
    if basis not in ("LHV", "HHV"):
        raise ValueError(f"basis must be 'LHV' or 'HHV', got {basis!r}")
    h = LHV_H2_KWH_PER_KG if basis == "LHV" else HHV_H2_KWH_PER_KG
    return m * h * f / 1000.0
