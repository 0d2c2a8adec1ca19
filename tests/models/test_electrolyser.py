"""Tests of the electrolyser physics: cell voltage, Faraday, inversion, piecewise curve, heat, states."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from h2quarters.config import load_scenario
from h2quarters.config.scenario import Electrolyser, PEMParams, UllebergParams
from h2quarters.models.constants import F_C_PER_MOL, M_H2_KG_PER_MOL, R_J_PER_MOL_K, U_TN_V
from h2quarters.models.electrolyser import (
    ElectrolyserModel,
    ElectrolyserPlant,
    ElectrolyserState,
    PiecewiseCurve,
    h2_mol_per_s,
    pem_cell_voltage_v,
    reversible_voltage_v,
    ulleberg_cell_voltage_v,
    ulleberg_faraday_efficiency,
)
from h2quarters.models.electrolyser_cell import pem_cell_dvdi_ohm, ulleberg_cell_dvdi_ohm

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller" / "scenario.yaml"
# Ulleberg parameter set as published (t1 = 1.599e-2 m²/A), electrode area 0.25 m².
ULLEBERG = UllebergParams(t1_m2_per_a=1.599e-2)
A_ULLEBERG_M2 = 0.25
S = ElectrolyserState


@pytest.fixture(scope="module")
def cfg() -> Electrolyser:
    return load_scenario(SCENARIO).electrolyser


@pytest.fixture(scope="module")
def model(cfg: Electrolyser) -> ElectrolyserModel:
    return ElectrolyserModel(cfg)


def pem_cfg(**kw: object) -> Electrolyser:
    base: dict[str, object] = {
        "technology": "PEM",
        "n_stacks": 1,
        "n_cells": 10,
        "cell_area_m2": 0.01,
        "t_op_c": 80.0,
        "p_rated_kw": 3.0,
        "p_out_bar": 30.0,
    }
    base.update(kw)
    return Electrolyser(**base)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- reversible voltage
def test_reversible_voltage_standard_and_hot() -> None:
    u = reversible_voltage_v([25.0, 80.0], 1.0)
    assert u[0] == pytest.approx(1.229, abs=1e-3)  # ΔG°/2F = 237.1 kJ/mol / 2F
    assert 1.18 <= u[1] <= 1.19


def test_reversible_voltage_slope_is_entropy_term() -> None:
    # dU/dT = ΔS/(2F) = -163.3 J/(mol K) / 2F = -0.846 mV/K at 25 °C (standard entropies, liquid water)
    h = 0.01
    du_dt = (reversible_voltage_v(25.0 + h) - reversible_voltage_v(25.0 - h)) / (2 * h)
    assert float(du_dt) == pytest.approx(-163.3 / (2 * F_C_PER_MOL), rel=0.03)


def test_nernst_pressure_term() -> None:
    t_c = 60.0
    rt_2f = R_J_PER_MOL_K * (t_c + 273.15) / (2 * F_C_PER_MOL)
    balanced = reversible_voltage_v(t_c, 35.0) - reversible_voltage_v(t_c, 1.0)
    differential = reversible_voltage_v(t_c, 35.0, 1.0) - reversible_voltage_v(t_c, 1.0)
    assert float(balanced) == pytest.approx(1.5 * rt_2f * math.log(35.0), rel=1e-12)
    assert float(differential) == pytest.approx(rt_2f * math.log(35.0), rel=1e-12)


def test_bad_input_names_field_and_range() -> None:
    with pytest.raises(ValueError, match=r"t_c = .*\[1.0, 120.0\]"):
        ulleberg_cell_voltage_v(10.0, 0.0, A_ULLEBERG_M2, ULLEBERG)
    with pytest.raises(ValueError, match="i_a"):
        ulleberg_cell_voltage_v(-1.0, 60.0, A_ULLEBERG_M2, ULLEBERG)
    with pytest.raises(ValueError, match="p_bar"):
        reversible_voltage_v(25.0, -1.0)


# ----------------------------------------------------------------------------- Ulleberg cell
def test_ulleberg_published_parameter_set_values() -> None:
    # 80 °C, 1 bar, A = 0.25 m², j = 200 mA/cm² = 2000 A/m² (I = 500 A), hand evaluation of
    # U = U_rev + (r1 + r2 T) j + s log10(k j + 1):
    #   U_rev = 1.18339, ohmic (7.331e-5 - 1.107e-7*80)*2000 = 0.12891,
    #   s = 0.1586 + 1.378e-3*80 - 1.606e-5*6400 = 0.16606, k = 1.599e-2 - 1.302/80 + 421.3/6400 = 0.065543,
    #   s*log10(0.065543*2000 + 1) = 0.16606*2.12087 = 0.35218  →  U = 1.6645 V
    u = ulleberg_cell_voltage_v(500.0, 80.0, A_ULLEBERG_M2, ULLEBERG)
    assert float(u) == pytest.approx(1.6645, abs=1e-4)
    # 100–400 mA/cm² at 80 °C: 1.55–1.84 V, inside the operating window of alkaline cells
    # (IRENA 2020, Green Hydrogen Cost Reduction, Table 1: 1.4–3 V at 0.2–0.8 A/cm²)
    j_a_m2 = np.array([1000.0, 2000.0, 3000.0, 4000.0])
    u80 = ulleberg_cell_voltage_v(j_a_m2 * A_ULLEBERG_M2, 80.0, A_ULLEBERG_M2, ULLEBERG)
    assert np.all((u80 > 1.5) & (u80 < 2.0))
    assert np.all(np.diff(u80) > 0)
    u40 = ulleberg_cell_voltage_v(j_a_m2 * A_ULLEBERG_M2, 40.0, A_ULLEBERG_M2, ULLEBERG)
    assert np.all(u40 > u80 + 0.1)  # colder cells need clearly more voltage


def test_voltage_derivatives_match_finite_differences() -> None:
    i = np.array([0.5, 5.0, 50.0, 500.0, 900.0])
    h = 1e-4 * i
    for t_c in (20.0, 55.0, 80.0):
        fd = (
            ulleberg_cell_voltage_v(i + h, t_c, A_ULLEBERG_M2, ULLEBERG)
            - ulleberg_cell_voltage_v(i - h, t_c, A_ULLEBERG_M2, ULLEBERG)
        ) / (2 * h)
        np.testing.assert_allclose(ulleberg_cell_dvdi_ohm(i, t_c, A_ULLEBERG_M2, ULLEBERG), fd, rtol=1e-6)
        pem = PEMParams(concentration=True)
        i_pem = i * 0.2  # up to 1.8 A/cm² on 100 cm²
        fd = (pem_cell_voltage_v(i_pem + h, t_c, 0.01, pem) - pem_cell_voltage_v(i_pem - h, t_c, 0.01, pem)) / (2 * h)
        np.testing.assert_allclose(pem_cell_dvdi_ohm(i_pem, t_c, 0.01, pem), fd, rtol=1e-5)


def test_ulleberg_faraday_efficiency() -> None:
    f1, f2 = ULLEBERG.f1_ma2_per_cm4, ULLEBERG.f2
    area = A_ULLEBERG_M2
    j_half_ma_cm2 = math.sqrt(f1)  # eta = f2/2 where j² = f1
    i_half = j_half_ma_cm2 * 10.0 * area  # mA/cm² → A/m² (×10) → A
    eta = ulleberg_faraday_efficiency(np.array([0.0, 1e-3, i_half, 4000.0 * area]), area, ULLEBERG)
    assert eta[0] == 0.0
    assert eta[1] < 1e-9
    assert eta[2] == pytest.approx(f2 / 2, rel=1e-12)
    assert eta[3] == pytest.approx(f2 * 400.0**2 / (f1 + 400.0**2), rel=1e-12)
    assert eta[3] > 0.958


def test_faraday_law_one_amp_hour() -> None:
    # 1 A for 1 h through one cell: 3600 C / 2F = 18.66 mmol = 0.0376 g H2
    m_g = float(h2_mol_per_s(1.0, 1, 1.0)) * 3600.0 * M_H2_KG_PER_MOL * 1000.0
    assert m_g == pytest.approx(0.0376, abs=1e-4)
    assert m_g == pytest.approx(3600.0 / (2 * F_C_PER_MOL) * 2.01588, rel=1e-12)
    assert float(h2_mol_per_s(1.0, 1, 0.9)) * 3600.0 * M_H2_KG_PER_MOL * 1000.0 == pytest.approx(0.9 * m_g)
    assert float(h2_mol_per_s(2.0, 30, 1.0)) == pytest.approx(60 * float(h2_mol_per_s(1.0, 1, 1.0)))


# ----------------------------------------------------------------------------- PEM cell
def test_pem_nrel_parameters_80c() -> None:
    p = PEMParams()  # NREL electrolyzer PEM_cell.py values
    area = 0.01  # 100 cm²
    j = np.array([0.5, 1.0, 1.5, 2.0])  # A/cm²
    u = pem_cell_voltage_v(j * 1e4 * area, 80.0, area, p)
    # Hand evaluation at 1 A/cm², 353.15 K: U_rev 1.18339; RT/F = 0.030432 V;
    # anode 0.030432/2*asinh(2.5e6) = 0.23471; cathode 0.030432/0.5*asinh(250) = 0.37825;
    # Nafion λ = 23.359, σ = 0.21157 S/cm → 0.05 + 0.03/0.21157 = 0.19180 Ω cm²  →  1.98815 V
    assert u[1] == pytest.approx(1.98815, abs=2e-4)
    assert np.all((u[:2] > 1.8) & (u[:2] < 2.05))
    assert 2.1 < u[3] < 2.3  # 2.23 V at the NREL maximum of 2 A/cm² (thick 300 µm membrane)
    assert np.all(np.diff(u) > 0)
    with_conc = pem_cell_voltage_v(j * 1e4 * area, 80.0, area, p.model_copy(update={"concentration": True}))
    expected_conc = 0.5 * 0.030432 * np.log(3.0 / (3.0 - j))
    np.testing.assert_allclose(with_conc - u, expected_conc, rtol=1e-3)
    with pytest.raises(ValueError, match="i_lim_a_per_cm2"):
        pem_cell_voltage_v(3.5e4 * area, 80.0, area, p.model_copy(update={"concentration": True}))


def test_pem_model_faraday_and_roundtrip() -> None:
    m = ElectrolyserModel(pem_cfg(pem=PEMParams(concentration=True)))
    p = np.linspace(0.0, 3.0, 31)
    i = m.current_from_power_a(p)
    np.testing.assert_allclose(m.stack_power_kw(i), p, rtol=1e-9, atol=1e-12)
    eta = m.faraday_efficiency(i)
    assert eta[0] == 0.0 and np.all(eta[1:] == 0.996)
    assert float(m.h2_kg_per_h(100.0)) == pytest.approx(0.996 * 10 * 100.0 / (2 * F_C_PER_MOL) * M_H2_KG_PER_MOL * 3600)


# ----------------------------------------------------------------------------- plant model
def test_default_scenario_calibration(model: ElectrolyserModel, cfg: Electrolyser) -> None:
    # Enapter EL 2.1: 2.4 kW per unit is the unit's AC input (stack + its own BoP) at 500 NL/h = 0.04494 kg/h,
    # i.e. 4.8 kWh/Nm³ ≈ 53.4 kWh/kg for the unit (Enapter handbook: 0.5 Nm³/h, 0.08988 g/L).
    m_unit_kg_per_h = 0.5 * 0.08988
    unit_kw = 2.4
    p_bop_unit_kw = cfg.p_bop_kw / cfg.n_stacks
    assert cfg.p_rated_kw + cfg.p_bop_kw == pytest.approx(unit_kw * cfg.n_stacks, rel=1e-12)
    per_unit_kg_per_h = float(model.h2_from_power_kg_per_h((unit_kw - p_bop_unit_kw) * cfg.n_stacks)) / cfg.n_stacks
    assert per_unit_kg_per_h == pytest.approx(m_unit_kg_per_h, rel=5e-4)
    sec_unit = (model.p_rated_kw + cfg.p_bop_kw) / model.m_rated_kg_per_h
    assert sec_unit == pytest.approx(4.8 / (0.08988 * 1.0), rel=2e-3)  # 4.8 kWh/Nm³ of the datasheet
    sec = model.p_rated_kw / model.m_rated_kg_per_h
    # the numbers quoted in the scenario file's comments
    assert sec == pytest.approx(52.29, abs=0.01)
    assert float(model.sec_kwh_per_kg(model.p_min_kw)) == pytest.approx(48.49, abs=0.05)
    assert float(model.cell_voltage_v(model.i_rated_a)) == pytest.approx(1.880, abs=1e-3)
    # part load is more efficient than full load (MTRESS AEM template: 71 % vs 62.5 % LHV)
    assert float(model.sec_kwh_per_kg(model.p_min_kw)) < sec - 3.0
    assert model.n_cells_total == cfg.n_stacks * cfg.n_cells


def test_power_current_roundtrip(model: ElectrolyserModel) -> None:
    rng = np.random.default_rng(1)
    p = np.concatenate([[0.0, 1e-6, model.p_min_kw, model.p_rated_kw, 2 * model.p_rated_kw], rng.uniform(0, 5, 500)])
    t = rng.uniform(10.0, 80.0, p.size)
    u_deg = rng.uniform(0.0, 0.2, p.size)
    i = model.current_from_power_a(p, t, u_deg)
    np.testing.assert_allclose(model.stack_power_kw(i, t, u_deg), p, rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(model.current_from_power_a(np.linspace(0, 5, 50))) > 0)
    assert float(model.h2_from_power_kg_per_h(-1.0)) == 0.0
    assert float(model.h2_from_power_kg_per_h(0.0)) == 0.0


def test_piecewise_curve(model: ElectrolyserModel) -> None:
    p_dense = np.linspace(model.p_min_kw, model.p_rated_kw, 200_001)
    m_dense = model.h2_from_power_kg_per_h(p_dense)
    errs = []
    for n in (1, 2, 3, 4, 6, 8):
        c = model.piecewise_curve(n)
        assert isinstance(c, PiecewiseCurve) and c.p_kw.size == n + 1
        assert c.p_kw[0] == model.p_min_kw and c.p_kw[-1] == model.p_rated_kw
        np.testing.assert_allclose(c.m_kg_per_h, model.h2_from_power_kg_per_h(c.p_kw), rtol=1e-12)
        err_dense = float(np.max(np.abs(m_dense - c(p_dense))))
        # reported = true continuous maximum: never below the dense-grid maximum, and only grid-resolution above it
        assert c.max_abs_err_kg_per_h >= err_dense * (1 - 1e-12)
        assert c.max_abs_err_kg_per_h <= err_dense * (1 + 1e-6)
        rel_dense = float(np.max(np.abs(m_dense - c(p_dense)) / m_dense))
        assert rel_dense * (1 - 1e-12) <= c.max_rel_err <= rel_dense * (1 + 1e-4)
        assert c.concave and np.all(np.diff(c.slopes_kg_per_kwh) < 0)
        np.testing.assert_allclose(c.slopes_kg_per_kwh * c.p_kw[1:] + c.intercepts, c.m_kg_per_h[1:], rtol=1e-12)
        # better than equal spacing
        p_eq = np.linspace(model.p_min_kw, model.p_rated_kw, n + 1)
        err_eq = float(np.max(np.abs(m_dense - np.interp(p_dense, p_eq, model.h2_from_power_kg_per_h(p_eq)))))
        assert c.max_abs_err_kg_per_h <= err_eq * (1 + 1e-9)
        if n > 1:
            assert c.max_abs_err_kg_per_h < 0.95 * err_eq
        errs.append(c.max_abs_err_kg_per_h)
    assert np.all(np.diff(errs) < 0)
    assert model.piecewise_curve().n_segments == model.cfg.n_segments
    assert model.piecewise_curve(4).max_rel_err < 0.005


# ----------------------------------------------------------------------------- thermal model
def test_thermal_fixed_cooling_matches_ode_solver(model: ElectrolyserModel) -> None:
    th = model.cfg.thermal
    i = model.i_rated_a
    p = model.p_rated_kw
    q_gen = p - model.n_cells_total * i * U_TN_V / 1000.0
    q_cool = 0.3
    sol = solve_ivp(
        lambda _t, y: [(q_gen - (y[0] - th.t_ambient_c) / th.r_th_k_per_kw - q_cool) / th.c_th_kj_per_k],
        (0.0, 5000.0),
        [20.0],
        rtol=1e-10,
        atol=1e-10,
    )
    t_new, q = model.thermal_step_c(20.0, p, i, 5000.0, p_cool_kw=q_cool)
    assert t_new == pytest.approx(float(sol.y[0, -1]), abs=1e-6)
    assert q == q_cool
    # exact for any step: one large step == many small ones; far out it reaches the analytic steady state
    t_small = 20.0
    for _ in range(100):
        t_small, _ = model.thermal_step_c(t_small, p, i, 50.0, p_cool_kw=q_cool)
    assert t_small == pytest.approx(t_new, abs=1e-9)
    t_inf, _ = model.thermal_step_c(20.0, p, i, 1e7, p_cool_kw=q_cool)
    assert t_inf == pytest.approx(th.t_ambient_c + th.r_th_k_per_kw * (q_gen - q_cool), abs=1e-9)
    with pytest.raises(ValueError, match="p_cool_kw"):
        model.thermal_step_c(20.0, p, i, 10.0, p_cool_kw=th.p_cool_max_kw + 1)


def test_thermostat_holds_operating_temperature(model: ElectrolyserModel) -> None:
    th, t_op = model.cfg.thermal, model.cfg.t_op_c
    i, p = model.i_rated_a, model.p_rated_kw
    q_gen = model.heat_generation_kw(p, i)
    tau = th.r_th_k_per_kw * th.c_th_kj_per_k
    t_ss0 = th.t_ambient_c + th.r_th_k_per_kw * q_gen
    assert t_ss0 > t_op  # heats up beyond the set point without cooling
    t_hit = tau * math.log((t_ss0 - 20.0) / (t_ss0 - t_op))
    dt = t_hit + 1000.0
    t_new, q_mean = model.thermal_step_c(20.0, p, i, dt)
    q_hold = q_gen - (t_op - th.t_ambient_c) / th.r_th_k_per_kw
    assert t_new == pytest.approx(t_op, abs=1e-9)
    assert q_mean == pytest.approx(q_hold * 1000.0 / dt, rel=1e-9)
    # before the set point is reached: no cooling, pure exponential
    t_half, q0 = model.thermal_step_c(20.0, p, i, 0.5 * t_hit)
    assert q0 == 0.0 and t_half < t_op
    # steps of any size agree
    t_small = 20.0
    for _ in range(int(dt // 10)):
        t_small, _ = model.thermal_step_c(t_small, p, i, 10.0)
    t_small, _ = model.thermal_step_c(t_small, p, i, dt - 10.0 * int(dt // 10))
    assert t_small == pytest.approx(t_new, abs=1e-7)
    # hot stack above the set point: full cooling until t_op, then hold
    t_cool, q_cool = model.thermal_step_c(70.0, 0.0, 0.0, 1e6)
    assert t_cool < t_op  # without load it falls to ambient once cooling is not needed
    assert 0.0 < q_cool < th.p_cool_max_kw


def test_cooler_saturation_lets_temperature_rise() -> None:
    cfg = pem_cfg(thermal={"c_th_kj_per_k": 20.0, "r_th_k_per_kw": 100.0, "p_cool_max_kw": 0.1, "t_max_c": 100.0})
    m = ElectrolyserModel(cfg)
    i = m.i_rated_a
    q_gen = m.heat_generation_kw(m.p_rated_kw, i)
    t_new, q = m.thermal_step_c(cfg.t_op_c, m.p_rated_kw, i, 1e7)
    assert t_new == pytest.approx(20.0 + 100.0 * (q_gen - 0.1), abs=1e-6)
    assert t_new > cfg.t_op_c and q == pytest.approx(0.1)


# ----------------------------------------------------------------------------- degradation
def test_degradation_raises_voltage_and_sec(model: ElectrolyserModel, cfg: Electrolyser) -> None:
    u_deg = model.degradation_v(1000.0, 10)
    assert u_deg == pytest.approx((cfg.degradation.uv_per_h * 1000 + cfg.degradation.uv_per_start * 10) * 1e-6)
    assert model.degradation_v(0.0, 0) == 0.0
    old = model.degradation_v(20_000.0, 2000)
    i = model.i_rated_a
    assert float(model.cell_voltage_v(i, u_deg_v=old) - model.cell_voltage_v(i)) == pytest.approx(old)
    assert float(model.sec_kwh_per_kg(model.p_rated_kw, u_deg_v=old)) > float(model.sec_kwh_per_kg(model.p_rated_kw))
    new_plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.PRODUCING)
    old_plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.PRODUCING, op_hours_h=20_000.0, n_starts=2000)
    a = new_plant.step(model.p_rated_kw, 3600.0)
    b = old_plant.step(model.p_rated_kw, 3600.0)
    assert b.u_cell_v > a.u_cell_v and b.m_h2_kg < a.m_h2_kg
    assert b.p_total_kw == pytest.approx(a.p_total_kw)


# ----------------------------------------------------------------------------- plant states
def test_startup_delay_no_hydrogen_while_starting(cfg: Electrolyser) -> None:
    plant = ElectrolyserPlant(cfg)
    n_start_steps = int(cfg.startup_time_min)  # 60 s steps
    for k in range(n_start_steps):
        s = plant.step(cfg.p_rated_kw, 60.0)
        assert s.m_h2_kg == 0.0 and s.p_stack_kw == 0.0
        assert s.p_total_kw == pytest.approx(cfg.p_standby_kw + cfg.p_bop_kw)
        assert s.state == (S.STARTING if k < n_start_steps - 1 else S.PRODUCING)
    assert plant.n_starts == 1
    s = plant.step(cfg.p_rated_kw, 60.0)
    assert s.state == S.PRODUCING and s.m_h2_kg > 0.0


def test_startup_completing_inside_step(cfg: Electrolyser) -> None:
    plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c)
    s1 = plant.step(cfg.p_rated_kw, 420.0)  # 7 of 10 min
    assert s1.state == S.STARTING and s1.m_h2_kg == 0.0
    s2 = plant.step(cfg.p_rated_kw, 420.0)  # 3 min starting, 4 min producing
    assert s2.state == S.PRODUCING and s2.t_producing_s == pytest.approx(240.0)
    # entered at p_min, ramped 0.2*p_rated/min over 4 min → reaches rated
    assert s2.p_setpoint_kw == pytest.approx(cfg.p_rated_kw)
    e_kwh = s2.p_total_kw * 420.0 / 3600.0
    expected = (cfg.p_standby_kw + cfg.p_bop_kw) * 180.0 / 3600 + (cfg.p_rated_kw + cfg.p_bop_kw) * 240.0 / 3600
    assert e_kwh == pytest.approx(expected, rel=1e-12)


def test_ramp_limit_and_min_load(cfg: Electrolyser, model: ElectrolyserModel) -> None:
    plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.PRODUCING)
    assert plant.p_stack_kw == model.p_min_kw
    dt = 10.0
    dp_max = cfg.ramp_frac_per_min * cfg.p_rated_kw * dt / 60.0
    prev = plant.p_stack_kw
    for _ in range(40):
        s = plant.step(10 * cfg.p_rated_kw, dt)  # over-request clamps to rated
        assert s.p_stack_kw - prev <= dp_max * (1 + 1e-12)
        assert s.p_stack_kw <= cfg.p_rated_kw
        prev = s.p_stack_kw
    assert prev == pytest.approx(cfg.p_rated_kw)
    s = plant.step(model.p_min_kw, dt)  # ramp down is limited too
    assert s.p_stack_kw == pytest.approx(cfg.p_rated_kw - dp_max)
    for _ in range(40):
        s = plant.step(model.p_min_kw, dt)
    assert s.p_stack_kw == pytest.approx(model.p_min_kw) and s.state == S.PRODUCING
    s = plant.step(0.99 * model.p_min_kw, dt)  # below minimum load: stop
    assert s.state == S.STANDBY and s.m_h2_kg == 0.0 and s.p_total_kw == cfg.p_standby_kw


def test_standby_off_and_trip(cfg: Electrolyser) -> None:
    plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.PRODUCING)
    assert plant.step(0.0, 60.0).state == S.STANDBY
    s = plant.step(0.0, 60.0, standby_allowed=False)
    assert s.state == S.OFF and s.p_total_kw == 0.0
    assert plant.step(0.5 * cfg.p_min_kw, 60.0).state == S.OFF  # OFF stays OFF below minimum load
    plant2 = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.PRODUCING)
    assert plant2.step(cfg.p_min_kw, 60.0, standby_allowed=False).state == S.PRODUCING
    assert plant2.step(0.0, 60.0, standby_allowed=False).state == S.OFF
    plant3 = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.STANDBY)
    s = plant3.step(cfg.p_rated_kw, 60.0)  # restart from standby is a start with the start-up delay
    assert s.state == S.STARTING and plant3.n_starts == 1 and s.m_h2_kg == 0.0
    plant3.trip()
    assert plant3.state == S.OFF and plant3.p_stack_kw == 0.0
    s = plant3.step(0.0, 60.0)
    assert s.state == S.OFF and s.p_total_kw == 0.0


def test_energy_and_mass_consistency_random_sequence(cfg: Electrolyser) -> None:
    rng = np.random.default_rng(7)
    plant = ElectrolyserPlant(cfg)
    model = plant.model
    n = 600
    req = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 1.3 * cfg.p_rated_kw, n))
    dts = rng.choice([1.0, 10.0, 60.0, 300.0, 900.0, 3600.0], n)
    e_total = e_parts = m_total = m_faraday = charge_c = 0.0
    hours = 0.0
    starts = 0
    prev_state = plant.state
    for p_req, dt in zip(req, dts):
        s = plant.step(float(p_req), float(dt), standby_allowed=bool(rng.random() < 0.7))
        if s.t_producing_s > 0:
            # stack power = N I U (means over the step), mass from the model at the step's conditions
            assert s.p_stack_kw == pytest.approx(model.n_cells_total * s.i_a * s.u_cell_v / 1000.0, rel=1e-9)
            m_model = (
                float(model.h2_from_power_kg_per_h(s.p_setpoint_kw, s.t_eval_c, s.u_deg_v)) * s.t_producing_s / 3600
            )
            assert s.m_h2_kg == pytest.approx(m_model, rel=1e-9)
            assert s.state == S.PRODUCING
            assert cfg.p_min_kw - 1e-12 <= s.p_setpoint_kw <= cfg.p_rated_kw + 1e-12
        else:
            assert s.m_h2_kg == 0.0 and s.i_a == 0.0
        e_total += s.p_total_kw * dt / 3600.0
        # energy from the state timeline: BoP while starting/producing, standby while starting/standby
        t_on_idle = dt - s.t_producing_s if s.state != S.OFF else 0.0
        t_starting = dt - s.t_producing_s if s.state in (S.STARTING, S.PRODUCING) else 0.0
        e_parts += (
            s.p_stack_kw * dt + cfg.p_bop_kw * (s.t_producing_s + t_starting) + cfg.p_standby_kw * t_on_idle
        ) / 3600.0
        m_total += s.m_h2_kg
        m_faraday += s.eta_f * h2_mol_per_s(s.i_a, model.n_cells_total, 1.0).item() * M_H2_KG_PER_MOL * dt
        charge_c += s.i_a * dt
        hours += s.t_producing_s / 3600.0
        if plant.state == S.STARTING and prev_state in (S.OFF, S.STANDBY):
            starts += 1
        elif s.state == S.PRODUCING and prev_state in (S.OFF, S.STANDBY):
            starts += 1  # start-up completed within the same step
        prev_state = plant.state
        assert 0.0 < s.t_c < cfg.thermal.t_max_c + 30.0
    assert cfg.ulleberg is not None
    assert m_total > 1.0  # the sequence produced a fair amount
    assert m_total == pytest.approx(m_faraday, rel=1e-9)  # hydrogen = Faraday of the integrated current
    assert m_total <= charge_c * model.n_cells_total / (2 * F_C_PER_MOL) * M_H2_KG_PER_MOL * cfg.ulleberg.f2 * (
        1 + 1e-12
    )
    assert e_total == pytest.approx(e_parts, rel=1e-9)
    assert plant.op_hours_h == pytest.approx(hours, rel=1e-12)
    assert plant.n_starts == starts
