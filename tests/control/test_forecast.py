"""Offline PV forecast: clear-sky physics, blending to climatology, error metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from h2quarters.config.scenario import Scenario
from h2quarters.forecast import (
    ClearSkyBlendForecaster,
    PersistenceForecaster,
    clear_sky_pv_kw,
    evaluate_stored,
    forecast_errors,
)

TZ = "Europe/Berlin"


def test_clear_sky_pv_is_physical(scenario: Scenario) -> None:
    idx = pd.date_range("2026-06-21", periods=96, freq="15min", tz=TZ)
    cs = clear_sky_pv_kw(scenario, idx)
    p_ac = sum(a.p_kwp / a.dc_ac_ratio for a in scenario.pv)
    assert cs.iloc[0] == 0.0  # midnight
    assert 0.6 * p_ac < cs.max() <= p_ac + 1e-9  # clear midsummer noon near the inverter limit
    assert cs.idxmax().hour in (12, 13, 14)  # solar noon in Kassel ≈ 13:20 CEST
    e_kwh = cs.sum() * 0.25
    assert 150 < e_kwh < 260  # 30 kWp on a clear June day: ≈ 6–8 kWh/kWp


def test_blend_starts_at_measured_index_and_ends_at_climatology(scenario: Scenario) -> None:
    f = ClearSkyBlendForecaster(scenario, tau_h=2.0)
    t0 = pd.Timestamp("2026-06-21 12:00", tz=TZ)
    cs_recent = clear_sky_pv_kw(scenario, pd.date_range(t0 - pd.Timedelta("60min"), t0, freq="1min", inclusive="left"))
    recent = 0.4 * cs_recent  # measured: 40 % of clear sky (overcast)
    assert f.measured_index(t0, recent) == pytest.approx(0.4, abs=0.01)
    idx = pd.date_range(t0, periods=96, freq="15min")
    fc = f.forecast(t0, idx, recent)
    cs = clear_sky_pv_kw(scenario, idx)
    assert fc.iloc[0] == pytest.approx(cs.iloc[0] * (np.exp(-0.125 / 2) * 0.4 + (1 - np.exp(-0.125 / 2))
                                                     * f.climatology_index(idx).iloc[0]), rel=1e-6)
    k_clim = f.climatology_index(idx)
    day2 = (idx >= t0 + pd.Timedelta("20h")) & (cs.to_numpy() > 1.0)
    assert np.allclose(fc[day2], (cs * k_clim)[day2], rtol=0.01)  # after 10 τ: climatology
    assert (fc >= 0).all()
    # no daylight in the window → climatology only
    night = pd.Timestamp("2026-06-21 01:00", tz=TZ)
    assert f.measured_index(night, pd.Series(0.0, index=pd.date_range(night - pd.Timedelta("1h"), night,
                                                                      freq="1min"))) is None


def test_error_metrics_known_values() -> None:
    a = np.array([0.0, 2.0, 4.0, 6.0])
    f = np.array([1.0, 2.0, 3.0, 6.0])
    r = np.array([2.0, 2.0, 2.0, 2.0])
    e = forecast_errors(f, a, r)
    assert e["mae_kw"] == pytest.approx(0.5) and e["rmse_kw"] == pytest.approx(np.sqrt(0.5))
    assert e["rmse_ref_kw"] == pytest.approx(np.sqrt((4 + 0 + 4 + 16) / 4))
    assert e["skill"] == pytest.approx(1 - np.sqrt(0.5) / np.sqrt(6))
    assert forecast_errors(a, a, r)["skill"] == 1.0
    assert forecast_errors(r, a, r)["skill"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="shapes"):
        forecast_errors(a, a[:2], r)


def test_evaluate_stored_against_measurements() -> None:
    t0 = pd.Timestamp("2026-06-21 10:00", tz="UTC")
    meas = pd.Series(5.0, index=pd.date_range(t0, periods=3600, freq="1s"))  # one hour at 5 kW
    fc = {"t_start_ms": int(t0.value // 1_000_000), "dt_s": 900, "pv_kw": [4.0, 6.0, 5.0, 5.0, 9.0],
          "persistence_kw": 3.0}
    e = evaluate_stored([fc], meas)
    assert e["n"] == 4  # the fifth step has no measurements
    assert e["mae_kw"] == pytest.approx(0.5) and e["rmse_ref_kw"] == pytest.approx(2.0)
    assert e["skill"] == pytest.approx(1 - np.sqrt(0.5) / 2.0)


def test_persistence_holds_last_value() -> None:
    t0 = pd.Timestamp("2026-06-21 12:00", tz=TZ)
    recent = pd.Series([1.0, 2.0, 3.0], index=pd.date_range(t0 - pd.Timedelta("2min"), t0, freq="1min"))
    fc = PersistenceForecaster().forecast(t0, pd.date_range(t0, periods=4, freq="15min"), recent)
    assert fc.tolist() == [3.0] * 4
