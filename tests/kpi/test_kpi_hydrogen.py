"""Hydrogen KPIs: SEC, efficiencies and Faraday's law against hand-computed and published values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from h2quarters.kpi import (
    efficiency_hhv,
    efficiency_lhv,
    faraday_efficiency,
    h2_faraday_kg,
    h2_kg_from_normal_m3,
    h2_produced_kg,
    sec_stack_kwh_per_kg,
    sec_system_kwh_per_kg,
    specific_energy_kwh_per_kg,
)
from h2quarters.models.constants import F_C_PER_MOL, M_H2_KG_PER_MOL


def test_h2_produced_is_sum_of_steps() -> None:
    assert h2_produced_kg([0.01, 0.02, 0.0, 0.005]) == pytest.approx(0.035)
    with pytest.raises(ValueError, match="h2_kg must be >= 0"):
        h2_produced_kg([0.01, -0.001])


def test_sec_scalar_and_per_period() -> None:
    assert specific_energy_kwh_per_kg(10.0, 0.2) == pytest.approx(50.0)
    monthly_e = pd.Series([100.0, 0.0, 55.0], index=pd.date_range("2025-01", periods=3, freq="MS", tz="Europe/Berlin"))
    monthly_m = pd.Series([2.0, 0.0, 1.0], index=monthly_e.index)
    sec = specific_energy_kwh_per_kg(monthly_e, monthly_m)
    assert isinstance(sec, pd.Series)
    assert sec.index.equals(monthly_e.index)
    assert sec.iloc[0] == pytest.approx(50.0)
    assert math.isnan(sec.iloc[1])  # nothing produced in February: undefined, not inf
    assert sec.iloc[2] == pytest.approx(55.0)


def test_sec_per_period_rejects_misaligned_series() -> None:
    a = pd.Series([1.0, 2.0], index=pd.date_range("2025-01", periods=2, freq="MS", tz="Europe/Berlin"))
    b = pd.Series([1.0, 2.0], index=pd.date_range("2025-02", periods=2, freq="MS", tz="Europe/Berlin"))
    with pytest.raises(ValueError, match="different indexes"):
        specific_energy_kwh_per_kg(a, b)


def test_sec_stack_and_system() -> None:
    # 1 h steps; stack 2 kW, ely input 2.3 kW (BoP 0.3), compressor 0.2 kW; 0.04 kg/h while producing
    stack = [2.0, 2.0, 0.0]
    ely = [2.3, 2.3, 0.1]  # 0.1 kW standby in the last hour also counts at the system boundary
    comp = [0.2, 0.2, 0.0]
    h2 = [0.04, 0.04, 0.0]
    assert sec_stack_kwh_per_kg(stack, h2, 1.0) == pytest.approx(4.0 / 0.08)
    assert sec_system_kwh_per_kg(ely, h2, 1.0) == pytest.approx(4.7 / 0.08)
    assert sec_system_kwh_per_kg(ely, h2, 1.0, compressor_kw=comp) == pytest.approx(5.1 / 0.08)
    dryer = [0.05, 0.05, 0.05]
    assert sec_system_kwh_per_kg(ely, h2, 1.0, compressor_kw=comp, other_kw=dryer) == pytest.approx(5.25 / 0.08)
    assert sec_system_kwh_per_kg(ely, h2, 1.0, other_kw=[comp, dryer]) == pytest.approx(5.25 / 0.08)
    assert math.isnan(sec_stack_kwh_per_kg([0.5], [0.0], 1.0))


def test_sec_system_length_mismatch_names_argument() -> None:
    with pytest.raises(ValueError, match="compressor_kw has 1 steps"):
        sec_system_kwh_per_kg([1.0, 1.0], [0.1, 0.1], 1.0, compressor_kw=[0.1])


def test_efficiencies() -> None:
    assert efficiency_lhv(1.0, 50.0) == pytest.approx(33.33 / 50.0)
    assert efficiency_hhv(1.0, 50.0) == pytest.approx(39.41 / 50.0)
    assert math.isnan(efficiency_lhv(0.0, 0.0))
    arr = efficiency_lhv(np.array([1.0, 2.0]), np.array([55.0, 0.0]))
    assert arr[0] == pytest.approx(33.33 / 55.0) and math.isnan(arr[1])
    with pytest.raises(ValueError, match="e_kwh"):
        efficiency_lhv(1.0, -3.0)


def test_faraday_published_value_per_ampere_hour() -> None:
    # 1 A for 1 h through one cell: 0.03761 g H2 (= 0.4184 NL), textbook value
    assert h2_faraday_kg([1.0], 1, 1.0) * 1000 == pytest.approx(0.03761, abs=1e-5)
    assert h2_faraday_kg([1.0], 1, 1.0) / 0.08988 * 1000 == pytest.approx(0.4184, abs=2e-4)
    # linear in cells, current and time
    assert h2_faraday_kg([10.0, 20.0], 30, 0.5) == pytest.approx(30 * 15.0 * h2_faraday_kg([1.0], 1, 1.0))


def test_faraday_efficiency_recovers_known_value() -> None:
    idx = pd.date_range("2025-03-01 08:00", periods=60, freq="1min", tz="Europe/Berlin")
    i = pd.Series(np.full(60, 40.0), index=idx)
    n_cells = 24
    ideal = n_cells * 40.0 * 3600.0 / (2 * F_C_PER_MOL) * M_H2_KG_PER_MOL
    assert faraday_efficiency(0.97 * ideal, i, n_cells, 1 / 60) == pytest.approx(0.97, rel=1e-12)
    assert math.isnan(faraday_efficiency(0.0, [0.0, 0.0], 24, 1.0))
    with pytest.raises(ValueError, match="n_cells must be an integer >= 1"):
        faraday_efficiency(0.1, [1.0], 0, 1.0)
    with pytest.raises(ValueError, match="m_measured_kg"):
        faraday_efficiency(-0.1, [1.0], 1, 1.0)


def test_normal_volume_to_mass() -> None:
    # Enapter EL 2.1: 500 NL/h = 0.5 Nm3/h -> 44.9 g/h
    assert h2_kg_from_normal_m3(0.5) == pytest.approx(0.04494)
    assert h2_kg_from_normal_m3(11.126) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="v_nm3"):
        h2_kg_from_normal_m3(-1.0)


def test_consistency_cell_voltage_sec_and_hhv_efficiency() -> None:
    """A stack at cell voltage U with Faraday efficiency η_F: SEC = U·2F/(η_F·M), η_HHV = U_HHV·η_F/U."""
    u_cell, n_cells, eta_f, dt_h = 1.8, 10, 0.98, 0.25
    i_a = np.array([50.0, 80.0, 80.0, 20.0])
    p_stack_kw = u_cell * n_cells * i_a / 1000.0
    h2 = np.array([h2_faraday_kg([i], n_cells, dt_h) for i in i_a]) * eta_f
    sec = sec_stack_kwh_per_kg(p_stack_kw, h2, dt_h)
    assert sec == pytest.approx(u_cell * 2 * F_C_PER_MOL / (eta_f * M_H2_KG_PER_MOL) / 3.6e6, rel=1e-12)
    assert sec == pytest.approx(48.8, abs=0.1)  # ≈ 4.4 kWh/Nm³: inside the PEM stack range 4.2–5.6
    u_hhv = 39.41 * 3.6e6 * M_H2_KG_PER_MOL / (2 * F_C_PER_MOL)  # 1.482 V, ≈ thermoneutral voltage
    e = float(np.sum(p_stack_kw * dt_h))
    assert efficiency_hhv(h2.sum(), e) == pytest.approx(u_hhv * eta_f / u_cell, rel=1e-12)
    assert faraday_efficiency(h2.sum(), i_a, n_cells, dt_h) == pytest.approx(eta_f)
