"""Tests of the real-gas multi-stage compressor (h2quarters.models.compressor)."""

from __future__ import annotations

import numpy as np
import pytest
from CoolProp.CoolProp import PropsSI

from h2quarters.config.scenario import Compressor
from h2quarters.models.compressor import (
    CompressorModel,
    compression_work_kwh_per_kg,
    discharge_temperature_c,
    isothermal_work_ideal_kwh_per_kg,
)
from h2quarters.models.storage import R_S_H2_J_PER_KG_K

T_IN_C = 25.0


def _ideal_gas_adiabatic_kwh_per_kg(p_in: float, p_out: float, n: int, eta: float) -> float:
    """Textbook ideal-gas polytropic-isentropic work with kappa from the EOS at 1 bar, n intercooled stages."""
    t_k = T_IN_C + 273.15
    kappa = PropsSI("CPMASS", "P", 1e5, "T", t_k, "Hydrogen") / PropsSI("CVMASS", "P", 1e5, "T", t_k, "Hydrogen")
    r = (p_out / p_in) ** (1.0 / n)
    w = n * kappa / (kappa - 1.0) * R_S_H2_J_PER_KG_K * t_k * (r ** ((kappa - 1.0) / kappa) - 1.0) / eta
    return w / 3.6e6


def test_30_to_200_bar_single_stage_at_75_percent() -> None:
    # Reference (electrolyser.md): adiabatic 30 -> 200 bar at 75 % ≈ 1.5–2 kWh/kg. Real-gas physics gives
    # 1.20 kWh/kg shaft work (1.33 kWh/kg electrical with a 90 % motor); the quoted band needs an overall
    # efficiency of 60–80 % of the isentropic work, i.e. it includes further losses. Check the physics
    # against the independent ideal-gas closed form: real gas costs 0–8 % more (Z > 1).
    w_shaft = compression_work_kwh_per_kg(30.0, 200.0, T_IN_C, 1, 0.75, 1.0)
    w_ideal = _ideal_gas_adiabatic_kwh_per_kg(30.0, 200.0, 1, 0.75)
    assert w_shaft == pytest.approx(1.197, abs=0.01)
    assert 1.0 < w_shaft / w_ideal < 1.08
    w_el = compression_work_kwh_per_kg(30.0, 200.0, T_IN_C, 1, 0.75, 0.9)
    assert w_el == pytest.approx(w_shaft / 0.9, rel=1e-12)
    # 60 % overall (isentropic × motor) reproduces the lower end of the quoted band
    assert compression_work_kwh_per_kg(30.0, 200.0, T_IN_C, 1, 0.75, 0.8) == pytest.approx(1.5, abs=0.01)


def test_work_above_isothermal_bounds_and_converges_to_real_isothermal() -> None:
    t_k = T_IN_C + 273.15
    g = [PropsSI("H", "P", p * 1e5, "T", t_k, "Hydrogen") - t_k * PropsSI("S", "P", p * 1e5, "T", t_k, "Hydrogen")
         for p in (30.0, 200.0)]
    w_iso_real = (g[1] - g[0]) / 3.6e6  # reversible isothermal real-gas work = Gibbs energy rise
    w_iso_ideal = isothermal_work_ideal_kwh_per_kg(30.0, 200.0, T_IN_C)
    assert w_iso_ideal == pytest.approx(0.648, abs=2e-3)
    assert w_iso_real > w_iso_ideal  # Z > 1: more work than the ideal gas
    works = [compression_work_kwh_per_kg(30.0, 200.0, T_IN_C, n, 1.0, 1.0) for n in range(1, 7)]
    assert all(w > w_iso_real for w in works)
    assert works[-1] == pytest.approx(w_iso_real, rel=0.05)  # 6 reversible stages approach the isotherm


def test_more_stages_need_less_work() -> None:
    p_out = np.array([100.0, 300.0, 700.0])
    w = np.array([compression_work_kwh_per_kg(35.0, p_out, T_IN_C, n, 0.75, 0.9) for n in range(1, 5)])
    assert np.all(np.diff(w, axis=0) < 0.0)
    # and the hottest stage runs cooler: one stage to 300 bar exceeds 250 °C, two stay below 200 °C
    assert discharge_temperature_c(35.0, 300.0, T_IN_C, 1, 0.75) > 250.0
    assert discharge_temperature_c(35.0, 300.0, T_IN_C, 2, 0.75) < 200.0


def test_no_work_without_pressure_rise_and_monotone_in_p_out() -> None:
    p_out = np.array([10.0, 35.0, 35.5, 100.0, 300.0])
    w = compression_work_kwh_per_kg(35.0, p_out, T_IN_C, 2, 0.75, 0.9)
    assert w[0] == 0.0 and w[1] == 0.0
    assert np.all(np.diff(w[1:]) > 0.0)


def test_model_table_matches_direct_evaluation() -> None:
    cfg = Compressor(n_stages=2, eta_isentropic=0.75, eta_motor=0.9, t_in_c=T_IN_C, p_max_kw=1.5)
    model = CompressorModel(cfg, p_in_bar=35.0)
    p = np.linspace(35.0, 1000.0, 997)
    direct = compression_work_kwh_per_kg(35.0, p, T_IN_C, 2, 0.75, 0.9)
    table = model.work_kwh_per_kg(p)
    assert np.max(np.abs(table - direct)) < 1e-5 * direct.max()  # measured ≈1e-8 relative
    assert model.work_kwh_per_kg(20.0) == 0.0


def test_power_and_flow_limit_consistent() -> None:
    cfg = Compressor(n_stages=2, eta_isentropic=0.75, eta_motor=0.9, t_in_c=T_IN_C, p_max_kw=1.5)
    model = CompressorModel(cfg, p_in_bar=35.0)
    p_tank = np.array([30.0, 100.0, 300.0])
    w = model.work_kwh_per_kg(p_tank)
    assert model.power_kw(0.09, 300.0) == pytest.approx(0.09 * w[2], rel=1e-12)
    flow = model.max_flow_kg_per_h(p_tank)
    assert np.isinf(flow[0])  # tank below suction pressure: gas flows freely
    assert model.power_kw(flow[1:], p_tank[1:]) == pytest.approx(np.array([1.5, 1.5]), rel=1e-12)
    assert model.p_max_kw == 1.5


def test_bad_input_names_field() -> None:
    with pytest.raises(ValueError, match="n_stages"):
        compression_work_kwh_per_kg(35.0, 300.0, T_IN_C, 0, 0.75, 0.9)
    with pytest.raises(ValueError, match="eta_isentropic"):
        compression_work_kwh_per_kg(35.0, 300.0, T_IN_C, 2, 1.5, 0.9)
    cfg = Compressor()
    with pytest.raises(ValueError, match="m_kg_per_h"):
        CompressorModel(cfg, 35.0).power_kw(-1.0, 300.0)
