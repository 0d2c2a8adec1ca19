"""CO2 avoided: grid electricity (constant or hourly factor) and hydrogen replacing natural gas."""

from __future__ import annotations

import pandas as pd
import pytest

from h2quarters.kpi import (
    CO2_NATURAL_GAS_G_PER_KWH,
    co2_avoided_gas_kg,
    co2_avoided_grid_kg,
)


def test_grid_constant_factor() -> None:
    # 1000 kWh self-consumed PV at 363 g/kWh (UBA 2024 estimate) = 363 kg
    assert co2_avoided_grid_kg([500.0, 500.0], 1.0, 363.0) == pytest.approx(363.0)


def test_grid_series_factor_weights_each_step() -> None:
    idx = pd.date_range("2025-01-01", periods=3, freq="1h", tz="Europe/Berlin")
    p = pd.Series([2.0, 0.0, 4.0], index=idx)
    f = pd.Series([400.0, 900.0, 100.0], index=idx)
    # 2*400 + 0*900 + 4*100 = 1200 g
    assert co2_avoided_grid_kg(p, 1.0, f) == pytest.approx(1.2)
    # the mean factor would give a different (wrong) answer: the series must be used step by step
    assert co2_avoided_grid_kg(p, 1.0, f.mean()) != pytest.approx(1.2)


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="co2_g_per_kwh"):
        co2_avoided_grid_kg([1.0], 1.0, -5.0)
    with pytest.raises(ValueError, match="co2_g_per_kwh has 1 steps"):
        co2_avoided_grid_kg([1.0, 2.0], 1.0, [300.0])


def test_h2_replacing_natural_gas() -> None:
    # 1 kg H2 = 33.33 kWh (LHV) of gas at 0.201 kg/kWh = 6.699 kg CO2
    assert CO2_NATURAL_GAS_G_PER_KWH == pytest.approx(201.0)
    assert co2_avoided_gas_kg(1.0) == pytest.approx(33.33 * 0.201)
    assert co2_avoided_gas_kg(2.0, 200.0, basis="HHV") == pytest.approx(2 * 39.41 * 0.2)
    with pytest.raises(ValueError, match="basis"):
        co2_avoided_gas_kg(1.0, basis="GCV")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="m_h2_kg"):
        co2_avoided_gas_kg(-1.0)
