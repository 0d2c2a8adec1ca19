"""Temporal correlation (RFNBO) share: step, hourly and monthly matching."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from h2quarters.kpi import renewable_matched_share


def test_matching_period_widens_the_share() -> None:
    # 15-min steps over one hour: consumption in the first half, PV in the second half
    idx = pd.date_range("2025-05-05 12:00", periods=4, freq="15min", tz="Europe/Berlin")
    c = pd.Series([2.0, 2.0, 0.0, 0.0], index=idx)
    r = pd.Series([0.0, 1.0, 3.0, 0.0], index=idx)
    # per step: only 1 kW x 0.25 h matched of 1 kWh -> 0.25; per hour: min(1, 1) / 1 -> 1
    assert renewable_matched_share(c, r, 0.25, "step") == pytest.approx(0.25)
    assert renewable_matched_share(c, r, 0.25, "hour") == pytest.approx(1.0)


def test_monthly_vs_hourly_over_two_months() -> None:
    idx = pd.date_range("2025-01-31 22:00", periods=4, freq="1h", tz="Europe/Berlin")  # 22, 23 | 00, 01 Feb
    c = pd.Series([1.0, 1.0, 1.0, 1.0], index=idx)
    r = pd.Series([0.0, 2.0, 0.0, 0.0], index=idx)
    # January: consumption 2 kWh, PV 2 kWh -> matched 2; February: 2 kWh, no PV -> 0
    assert renewable_matched_share(c, r, 1.0, "month") == pytest.approx(0.5)
    assert renewable_matched_share(c, r, 1.0, "hour") == pytest.approx(0.25)


def test_dst_autumn_hours_are_separate() -> None:
    # 26 Oct 2025: 02:00-03:00 local time occurs twice; each clock hour in absolute time is its own period
    idx = pd.date_range("2025-10-26 00:00", periods=5, freq="1h", tz="Europe/Berlin")
    c = pd.Series(np.ones(5), index=idx)
    r = pd.Series([0.0, 0.0, 1.0, 0.0, 0.0], index=idx)
    assert renewable_matched_share(c, r, 1.0, "hour") == pytest.approx(0.2)


def test_edges_and_errors() -> None:
    idx = pd.date_range("2025-01-01", periods=2, freq="1h", tz="Europe/Berlin")
    assert math.isnan(renewable_matched_share(pd.Series([0.0, 0.0], index=idx), pd.Series([1.0, 1.0], index=idx), 1.0))
    with pytest.raises(ValueError, match="period must be"):
        renewable_matched_share(pd.Series([1.0, 0.0], index=idx), pd.Series([1.0, 1.0], index=idx), 1.0,
                                "day")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="consumer_kw must be a pandas Series"):
        renewable_matched_share([1.0], pd.Series([1.0], index=idx[:1]), 1.0)  # type: ignore[arg-type]
