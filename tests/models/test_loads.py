"""BDEW electrical and heat loads from demandlib on a tz-aware index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from h2quarters.config.scenario import ElectricalLoad, HeatLoad
from h2quarters.models.loads import electrical_load_kw, heat_load_kw
from h2quarters.models.weather import read_try
from h2quarters.sim.inputs import year_index


@pytest.mark.parametrize("profile", ["G1", "H0", "H25", "G25"])
@pytest.mark.parametrize("freq", ["15min", "1h"])
def test_annual_energy_exact_and_no_gaps(profile: str, freq: str) -> None:
    index = year_index(2025, freq)
    kw = electrical_load_kw(ElectricalLoad(name="x", profile=profile, e_kwh_per_a=25_000), index)
    dt_h = pd.Timedelta(freq) / pd.Timedelta("1h")
    assert kw.sum() * dt_h == pytest.approx(25_000, rel=1e-12)
    assert not kw.isna().any()
    assert (kw > 0).all()
    assert kw.index.equals(index)


def test_g1_is_a_weekday_daytime_profile() -> None:
    """BDEW G1 (commercial, weekdays 8–18 h): weekday noon far above Sunday noon and weekday night."""
    index = year_index(2025, "1h")
    kw = electrical_load_kw(ElectricalLoad(name="school", profile="G1", e_kwh_per_a=10_000), index)
    weekday_noon = kw[(kw.index.dayofweek < 5) & (kw.index.hour == 11)].mean()
    sunday_noon = kw[(kw.index.dayofweek == 6) & (kw.index.hour == 11)].mean()
    weekday_night = kw[(kw.index.dayofweek < 5) & (kw.index.hour == 3)].mean()
    assert weekday_noon > 3 * sunday_noon
    assert weekday_noon > 3 * weekday_night


def test_hesse_holiday_treated_like_sunday() -> None:
    index = year_index(2025, "1h")
    kw = electrical_load_kw(ElectricalLoad(name="school", profile="G1", e_kwh_per_a=10_000), index)
    corpus_christi = kw.loc["2025-06-19"].sum()   # Fronleichnam: holiday in Hesse, a Thursday
    thursday_before = kw.loc["2025-06-12"].sum()
    assert corpus_christi < 0.6 * thursday_before


def test_dst_days_have_23_and_25_hours() -> None:
    index = year_index(2025, "1h")
    kw = electrical_load_kw(ElectricalLoad(name="h", profile="H0", e_kwh_per_a=3_000), index)
    assert len(kw.loc["2025-03-30"]) == 23
    assert len(kw.loc["2025-10-26"]) == 25


def test_heat_load_follows_temperature() -> None:
    weather = read_try(2025)
    heat = heat_load_kw(HeatLoad(name="mfh", shlp_type="MFH", e_kwh_per_a=100_000, building_class=3),
                        weather.t_air_c)
    assert heat.sum() == pytest.approx(100_000, rel=1e-12)
    daily = heat.resample("D").sum()
    daily_t = weather.t_air_c.resample("D").mean()
    # Colder days need more heat: strong negative correlation.
    assert np.corrcoef(daily.to_numpy(), daily_t.to_numpy())[0, 1] < -0.8
    assert heat.loc["2025-01"].sum() > 4 * heat.loc["2025-07"].sum()


def test_building_a_profile_leaves_the_warning_filters_alone() -> None:
    """demandlib's ElecSlp sets warnings.simplefilter("error"); it must not leak into the process."""
    import warnings

    index = year_index(2025, "1h")
    electrical_load_kw(ElectricalLoad(name="school", profile="G1", e_kwh_per_a=1_000), index)
    with pytest.warns(UserWarning):
        warnings.warn("a warning stays a warning", UserWarning)
