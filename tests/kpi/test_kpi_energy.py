"""Energy KPIs: hand-computed cases, energy-balance identities, edge cases and input errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from h2quarters.kpi import (
    capacity_factor,
    energy_kwh,
    full_load_hours,
    pv_self_consumed_kwh,
    pv_yield_kwh,
    self_consumption_rate,
    self_sufficiency_rate,
    specific_yield_kwh_per_kwp,
    step_hours,
)


def idx(n: int, freq: str = "15min") -> pd.DatetimeIndex:
    return pd.date_range("2025-06-21 10:00", periods=n, freq=freq, tz="Europe/Berlin")


def test_energy_is_power_times_step() -> None:
    # 4 quarter-hours at 2 kW = 2 kWh
    assert energy_kwh(pd.Series([2.0, 2.0, 2.0, 2.0], index=idx(4)), 0.25) == pytest.approx(2.0)
    # per-step lengths: 1 kW for 1 h + 4 kW for 0.5 h = 3 kWh
    assert energy_kwh(np.array([1.0, 4.0]), [1.0, 0.5]) == pytest.approx(3.0)
    assert energy_kwh([], 1.0) == 0.0


def test_pv_yield_and_specific_yield() -> None:
    pv = pd.Series([0.0, 3.0, 5.0, 2.0], index=idx(4, "1h"))
    assert pv_yield_kwh(pv, 1.0) == pytest.approx(10.0)
    assert specific_yield_kwh_per_kwp(pv, 1.0, p_kwp=4.0) == pytest.approx(2.5)


def test_self_consumption_hand_case() -> None:
    # PV 4, 6, 2 kW; export 0, 2.5, 0 kW; 1 h steps -> used 4 + 3.5 + 2 = 9.5 of 12 kWh
    pv = [4.0, 6.0, 2.0]
    ex = [0.0, 2.5, 0.0]
    assert pv_self_consumed_kwh(pv, ex, 1.0) == pytest.approx(9.5)
    assert self_consumption_rate(pv, ex, 1.0) == pytest.approx(9.5 / 12.0)


def test_export_beyond_pv_is_not_negative_self_consumption() -> None:
    # fuel cell exports 1 kW at night: PV self-consumption of that step is 0, not -1
    assert pv_self_consumed_kwh([0.0, 2.0], [1.0, 0.0], 1.0) == pytest.approx(2.0)


def test_self_sufficiency_hand_case() -> None:
    cons = [5.0, 5.0, 2.0, 0.0]
    imp = [5.0, 1.0, 0.0, 0.0]
    # covered on site: 0 + 4 + 2 + 0 = 6 of 12
    assert self_sufficiency_rate(cons, imp, 1.0) == pytest.approx(0.5)
    # import larger than consumption (battery charging from grid) does not make coverage negative
    assert self_sufficiency_rate([1.0], [3.0], 1.0) == pytest.approx(0.0)


def test_balance_identity_pv_only_site() -> None:
    """With PV as the only on-site source, self-consumed PV equals consumption covered on site."""
    rng = np.random.default_rng(7)
    n = 96
    pv = rng.uniform(0, 10, n)
    cons = rng.uniform(0, 8, n)
    imp = np.maximum(cons - pv, 0.0)
    ex = np.maximum(pv - cons, 0.0)
    dt = 0.25
    e_pv, e_cons = pv_yield_kwh(pv, dt), energy_kwh(cons, dt)
    scr = self_consumption_rate(pv, ex, dt)
    ssr = self_sufficiency_rate(cons, imp, dt)
    assert scr * e_pv == pytest.approx(ssr * e_cons, rel=1e-12)
    # energy conservation: PV = self-consumed + exported; consumption = covered + imported
    assert e_pv == pytest.approx(scr * e_pv + energy_kwh(ex, dt))
    assert e_cons == pytest.approx(ssr * e_cons + energy_kwh(imp, dt))


def test_zero_denominators_are_nan() -> None:
    assert math.isnan(self_consumption_rate([0.0, 0.0], [0.0, 0.0], 1.0))
    assert math.isnan(self_sufficiency_rate([0.0], [0.0], 1.0))
    assert math.isnan(capacity_factor([], 2.0, 1.0))


def test_capacity_factor_and_full_load_hours() -> None:
    p = pd.Series([2.4, 2.4, 1.2, 0.0], index=idx(4, "1h"))
    # E = 6 kWh, rated 2.4 kW, 4 h
    assert full_load_hours(p, 2.4, 1.0) == pytest.approx(2.5)
    assert capacity_factor(p, 2.4, 1.0) == pytest.approx(2.5 / 4.0)
    # a year at constant half load: CF 0.5, 4380 full-load hours
    year = np.full(8760, 1.2)
    assert capacity_factor(year, 2.4, 1.0) == pytest.approx(0.5)
    assert full_load_hours(year, 2.4, 1.0) == pytest.approx(4380.0)


def test_step_hours_from_index_across_dst() -> None:
    # the tz-aware hourly index over the October DST change still has 1 h steps in absolute time
    i = pd.date_range("2025-10-26 00:00", periods=6, freq="1h", tz="Europe/Berlin")
    assert step_hours(i) == pytest.approx(1.0)
    assert step_hours(idx(3, "15min")) == pytest.approx(0.25)
    irregular = pd.DatetimeIndex(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 01:15"], tz="UTC")
    with pytest.raises(ValueError, match="irregular"):
        step_hours(irregular)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: pv_yield_kwh([1.0, -0.5], 1.0), "pv_kw must be >= 0"),
        (lambda: pv_yield_kwh([1.0, float("nan")], 1.0), "pv_kw contains 1 NaN"),
        (lambda: pv_yield_kwh([1.0], 0.0), "dt_h must be > 0"),
        (lambda: pv_yield_kwh([1.0, 2.0], [1.0]), "dt_h has 1 step lengths"),
        (lambda: pv_yield_kwh(np.ones((2, 2)), 1.0), "pv_kw must be one-dimensional"),
        (lambda: specific_yield_kwh_per_kwp([1.0], 1.0, 0.0), "p_kwp = 0.0 is outside"),
        (lambda: self_consumption_rate([1.0, 2.0], [0.0], 1.0), "grid_export_kw has 1 steps but pv_kw has 2"),
        (lambda: capacity_factor([1.0], -2.0, 1.0), "p_rated_kw"),
        (lambda: self_sufficiency_rate(["a"], [0.0], 1.0), "consumption_kw must be numeric"),
    ],
)
def test_input_errors_name_the_argument(call, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        call()


def test_misaligned_series_are_rejected() -> None:
    a = pd.Series([1.0, 2.0], index=idx(2, "1h"))
    b = pd.Series([0.0, 0.0], index=idx(3, "1h")[1:])
    with pytest.raises(ValueError, match="different indexes"):
        self_consumption_rate(a, b, 1.0)


def test_error_names_timestamp_of_bad_value() -> None:
    s = pd.Series([1.0, -2.0], index=idx(2, "1h"))
    with pytest.raises(ValueError, match="2025-06-21 11:00"):
        energy_kwh(s, 1.0)


def test_roundoff_negatives_are_zero_but_real_negatives_fail() -> None:
    assert energy_kwh([1.0, -1e-15], 1.0) == pytest.approx(1.0)
    assert pv_self_consumed_kwh([2.0, 0.0], [-1e-12, 0.0], 1.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="p_kw must be >= 0"):
        energy_kwh([1.0, -1e-6], 1.0)
