"""Tests of the fuel cell part-load model and PEM polarisation curve (h2quarters.models.fuelcell)."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.config.scenario import FuelCell
from h2quarters.models.constants import LHV_H2_KWH_PER_KG
from h2quarters.models.fuelcell import (
    E_LHV_V,
    FuelCellModel,
    pem_cell_voltage_v,
    pem_reversible_voltage_v,
)

CFG = FuelCell(
    p_rated_kw=2.0,
    min_load_frac=0.1,
    load_frac_points=[0.1, 0.25, 0.5, 0.75, 1.0],
    eta_el_points=[0.50, 0.53, 0.52, 0.50, 0.47],
    heat_frac_of_h2=0.35,
)


@pytest.fixture()
def fc() -> FuelCellModel:
    return FuelCellModel(CFG)


def test_limits_and_curve_points(fc: FuelCellModel) -> None:
    assert fc.p_rated_kw == 2.0 and fc.p_min_kw == pytest.approx(0.2)
    p_pts = np.array(CFG.load_frac_points) * 2.0
    assert fc.efficiency(p_pts) == pytest.approx(np.array(CFG.eta_el_points), abs=1e-12)
    assert fc.efficiency(0.75) == pytest.approx(0.525, abs=1e-12)  # load 0.375: midway between 0.53 and 0.52
    assert fc.efficiency(0.0) == 0.0


def test_energy_balance_electric_heat_losses_equal_h2_lhv(fc: FuelCellModel) -> None:
    p = np.concatenate([[0.0], np.linspace(fc.p_min_kw, fc.p_rated_kw, 101)])
    h2_lhv_kw = fc.h2_kg_per_h(p) * LHV_H2_KWH_PER_KG
    heat = fc.heat_kw(p)
    losses = fc.losses_kw(p)
    assert np.allclose(p + heat + losses, h2_lhv_kw, rtol=1e-12, atol=1e-15)
    assert np.all(losses >= -1e-12)
    assert heat == pytest.approx(0.35 * h2_lhv_kw, rel=1e-12)
    # at rated load: 0.47 × 33.33 = 15.67 kWh_el per kg (REopt uses 15.98 kWh/kg ≈ 48 % LHV)
    assert fc.p_rated_kw / fc.h2_kg_per_h(fc.p_rated_kw) == pytest.approx(15.67, abs=0.01)


def test_inverse_consistent_and_monotone(fc: FuelCellModel) -> None:
    p = np.linspace(fc.p_min_kw, fc.p_rated_kw, 1001)
    m = fc.h2_kg_per_h(p)
    assert np.all(np.diff(m) > 0.0)
    assert fc.power_from_h2_kw(m) == pytest.approx(p, rel=1e-12)
    # outside the operating flows: too little hydrogen runs nothing, surplus hydrogen is not used
    assert fc.power_from_h2_kw(0.0) == 0.0
    assert fc.power_from_h2_kw(0.5 * fc.m_min_kg_per_h) == 0.0
    assert fc.power_from_h2_kw(3.0 * fc.m_rated_kg_per_h) == fc.p_rated_kw


def test_operating_set_semantics(fc: FuelCellModel) -> None:
    with pytest.raises(ValueError, match="minimum load"):
        fc.h2_kg_per_h(0.1)
    with pytest.raises(ValueError, match="p_kw"):
        fc.h2_kg_per_h(2.5)
    with pytest.raises(ValueError, match="p_kw"):
        fc.heat_kw(-0.5)
    with pytest.raises(ValueError, match="m_kg_per_h"):
        fc.power_from_h2_kw(-0.01)
    assert fc.dispatch_kw(np.array([-1.0, 0.1, 0.2, 1.3, 5.0])) == pytest.approx(np.array([0, 0, 0.2, 1.3, 2.0]))
    assert fc.h2_kg_per_h(0.0) == 0.0


def test_non_invertible_curve_rejected() -> None:
    steep = FuelCell(
        p_rated_kw=1.0, min_load_frac=0.1, load_frac_points=[0.1, 0.2, 1.0], eta_el_points=[0.1, 0.6, 0.5],
        heat_frac_of_h2=0.3,
    )
    with pytest.raises(ValueError, match="eta_el_points"):
        FuelCellModel(steep)


def test_reversible_and_lhv_voltages() -> None:
    assert pem_reversible_voltage_v(25.0, 1.0, 1.0) == pytest.approx(1.229, abs=1e-9)  # standard potential
    assert pem_reversible_voltage_v(80.0, 1.0, 1.0) == pytest.approx(1.182, abs=2e-3)  # falls with T
    assert pem_reversible_voltage_v(65.0, 3.0, 3.0) > pem_reversible_voltage_v(65.0, 1.0, 1.0)  # Nernst
    assert E_LHV_V == pytest.approx(1.253, abs=1e-3)  # LHV / 2F (Larminie & Dicks: 1.25 V)


def test_polarisation_curve_shape() -> None:
    i = np.linspace(0.0, 1.45, 300)
    u = pem_cell_voltage_v(i)
    assert np.all(np.diff(u) < 0.0)
    assert 0.9 < u[0] < pem_reversible_voltage_v(65.0, 1.0, 0.21)  # OCV below E_rev (crossover)
    assert pem_cell_voltage_v(0.5) == pytest.approx(0.706, abs=0.01)
    power = i * u
    k = int(np.argmax(power))
    assert 0 < k < i.size - 1  # power density has an interior maximum
    # stack efficiency U/E_LHV at 0.5–1 A/cm² brackets the configured part-load curve (0.47–0.53)
    eta = pem_cell_voltage_v(np.array([0.5, 1.0])) / E_LHV_V
    assert eta[0] > 0.53 and eta[1] < 0.47
    with pytest.raises(ValueError, match="i_a_per_cm2"):
        pem_cell_voltage_v(1.6)


@pytest.mark.parametrize("min_load_frac", [0.0, 0.3, 1.0])
def test_inverse_holds_for_any_minimum_load(min_load_frac: float) -> None:
    fc = FuelCellModel(CFG.model_copy(update={"min_load_frac": min_load_frac}))
    p = np.linspace(fc.p_min_kw, fc.p_rated_kw, 51)
    assert fc.power_from_h2_kw(fc.h2_kg_per_h(p)) == pytest.approx(p, rel=1e-12, abs=1e-15)
    assert fc.efficiency(fc.p_rated_kw) == pytest.approx(0.47)
