"""Weather (DWD TRY Kassel, EPW) and PV against published values for Kassel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from h2quarters.config.scenario import Location, PVArray
from h2quarters.models.pv import array_ac_kw, site_pv_kw
from h2quarters.models.weather import read_epw, read_try

KASSEL = Location(name="Kassel", latitude_deg=51.3158, longitude_deg=9.4979, altitude_m=167)
# Monthly GHI (kWh/m²) and annual figures of TRY07 as published in shared/reference/site-kassel.md
MONTHLY_GHI = [22, 38, 89, 102, 131, 163, 149, 137, 85, 48, 26, 14]


@pytest.fixture(scope="module")
def try2025() -> pd.DataFrame:
    return read_try(2025)


def test_try_covers_the_year_tz_aware(try2025: pd.DataFrame) -> None:
    assert len(try2025) == 8760
    assert str(try2025.index.tz) == "Europe/Berlin"
    assert try2025.index[0] == pd.Timestamp("2025-01-01 00:00", tz="Europe/Berlin")
    assert try2025.index[-1] == pd.Timestamp("2025-12-31 23:00", tz="Europe/Berlin")
    assert try2025.index.is_unique and try2025.index.is_monotonic_increasing


def test_try_annual_and_monthly_values(try2025: pd.DataFrame) -> None:
    assert try2025.ghi_w_m2.sum() / 1000 == pytest.approx(1003, abs=1.0)
    assert try2025.t_air_c.mean() == pytest.approx(9.35, abs=0.01)
    assert try2025.t_air_c.min() == pytest.approx(-10.2, abs=0.05)
    assert try2025.t_air_c.max() == pytest.approx(33.7, abs=0.05)
    monthly = try2025.ghi_w_m2.groupby(try2025.index.month).sum() / 1000
    np.testing.assert_allclose(monthly.round().to_numpy(), MONTHLY_GHI, atol=1)


def test_try_components_consistent(try2025: pd.DataFrame) -> None:
    night = try2025.ghi_w_m2 == 0
    assert (try2025.dni_w_m2[night] == 0).all()
    assert (try2025.dhi_w_m2 <= try2025.ghi_w_m2 + 1e-9).all()
    # Sun is up around local noon in summer, down at midnight.
    assert try2025.loc["2025-06-21 13:00+02:00", "ghi_w_m2"] > 200
    assert try2025.loc["2025-06-21 00:00+02:00", "ghi_w_m2"] == 0


def test_try_leap_year_repeats_feb_28() -> None:
    w = read_try(2024)
    assert len(w) == 8784
    np.testing.assert_array_equal(w.loc["2024-02-29"].ghi_w_m2.to_numpy(), w.loc["2024-02-28"].ghi_w_m2.to_numpy())


def test_pv_30deg_south_specific_yield_kassel(try2025: pd.DataFrame) -> None:
    """Published check: Perez/Faiman/PVWatts 14 % losses, 30° south on TRY07 ≈1,121 kWh/m² POA, ≈910 kWh/kWp."""
    array = PVArray(name="ref", p_kwp=1.0, tilt_deg=30, azimuth_deg=180, losses_pct=14,
                    gamma_pdc_per_c=-0.0047, inverter_eta=0.96, dc_ac_ratio=1.0)
    res = array_ac_kw(try2025, array, KASSEL)
    assert res.poa_w_m2.sum() / 1000 == pytest.approx(1121, rel=0.01)
    assert res.p_ac_kw.sum() == pytest.approx(910, rel=0.02)
    # AC energy never exceeds DC energy; AC power never exceeds the inverter rating.
    assert res.p_ac_kw.sum() < res.p_dc_kw.sum()
    assert res.p_ac_kw.max() <= 1.0 + 1e-9


def test_pv_orientation_and_scaling(try2025: pd.DataFrame) -> None:
    south = PVArray(name="s", p_kwp=10.0, tilt_deg=30, azimuth_deg=180)
    north = PVArray(name="n", p_kwp=10.0, tilt_deg=30, azimuth_deg=0)
    e_south = site_pv_kw(try2025, [south], KASSEL).sum()
    e_north = site_pv_kw(try2025, [north], KASSEL).sum()
    assert e_north < 0.75 * e_south
    both = site_pv_kw(try2025, [south, north], KASSEL).sum()
    assert both == pytest.approx(e_south + e_north, rel=1e-12)


def test_epw_reader_places_typical_year(tmp_path: Path, try2025: pd.DataFrame) -> None:
    """An EPW written from the TRY reads back through pvlib.iotools with the same hourly values."""
    epw = tmp_path / "kassel.epw"
    header = [
        "LOCATION,Kassel,HE,DEU,TRY2010,104380,51.30,9.45,1.0,231.0",
        "DESIGN CONDITIONS,0", "TYPICAL/EXTREME PERIODS,0", "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0", "COMMENTS 1,test", "COMMENTS 2,test",
        "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    # EPW rows are hour-ending in local standard time (UTC+1 here).
    utc = try2025.index.tz_convert("UTC")
    rows = []
    for ts, (_, r) in zip(utc, try2025.iterrows()):
        end = (ts + pd.Timedelta(hours=2))  # hour-ending, UTC+1
        hour = end.hour if end.hour != 0 else 24
        day = end if end.hour != 0 else end - pd.Timedelta(days=1)
        if day.year != 2025:
            continue
        fields = [1999, day.month, day.day, hour, 60, "?", r.t_air_c, 0, 80, 101325, 0, 0, 300,
                  r.ghi_w_m2, r.dni_w_m2, r.dhi_w_m2, 0, 0, 0, 0, 180, r.wind_m_s, 5, 5, 20, 9999, 9, 999999999,
                  0, 0.1, 0, 88, 0.2, 0, 0]
        rows.append(",".join(str(f) for f in fields))
    epw.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    w = read_epw(epw, year=2025)
    assert len(w) == 8760
    assert str(w.index.tz) == "Europe/Berlin"
    assert w.ghi_w_m2.sum() == pytest.approx(try2025.ghi_w_m2.sum(), rel=1e-3)
    np.testing.assert_allclose(w.loc["2025-06-21"].ghi_w_m2.to_numpy(), try2025.loc["2025-06-21"].ghi_w_m2.to_numpy())


def _centroid_offset_h(ghi: np.ndarray, index: pd.DatetimeIndex) -> float:
    """Radiation-weighted mean of (centroid of each day's radiation − centroid of the sun's geometry), in h.

    Both centroids are taken on the same left-labelled hourly steps in MEZ (UTC+1): the geometry is the
    extraterrestrial horizontal irradiance averaged over each hour from 1-minute values (pvlib's Spencer
    declination and equation of time), so the hourly binning cancels and only a time shift remains.
    """
    import pvlib

    from h2quarters.models.weather import KASSEL_TRY_LATITUDE_DEG, KASSEL_TRY_LONGITUDE_DEG

    mez = index.tz_convert("Etc/GMT-1")
    days = mez.normalize()
    counts = pd.Series(1, index=days).groupby(level=0).size()
    keep = np.isin(days, counts.index[counts == 24])  # whole MEZ days only
    ghi, mez = ghi[keep], mez[keep]
    # 1-minute instants (minute midpoints) of every hour, as day of year and MEZ clock hours: plain arrays
    doy = np.repeat(mez.dayofyear.to_numpy(), 60)
    clock_h = np.repeat(mez.hour.to_numpy(), 60) + np.tile((np.arange(60) + 0.5) / 60.0, len(mez))
    decl = pvlib.solarposition.declination_spencer71(doy)
    eot_min = pvlib.solarposition.equation_of_time_spencer71(doy)
    hour_angle = 15.0 * (clock_h - 12.0) + (KASSEL_TRY_LONGITUDE_DEG - 15.0) + eot_min / 4.0
    zen = pvlib.solarposition.solar_zenith_analytical(np.radians(KASSEL_TRY_LATITUDE_DEG),
                                                      np.radians(hour_angle), decl)
    g0 = (np.maximum(np.cos(zen), 0.0) * pvlib.irradiance.get_extra_radiation(doy)).reshape(-1, 60).mean(axis=1)
    hours = (mez.hour.to_numpy() + 0.5).reshape(-1, 24)
    g, g0 = ghi.reshape(-1, 24), g0.reshape(-1, 24)
    c_data = (g * hours).sum(axis=1) / np.maximum(g.sum(axis=1), 1e-9)
    c_sun = (g0 * hours).sum(axis=1) / g0.sum(axis=1)
    return float(np.average(c_data - c_sun, weights=g.sum(axis=1)))


def test_try_radiation_is_symmetric_around_solar_noon(try2025: pd.DataFrame) -> None:
    """The reader's time convention puts the TRY's radiation where the sun is (docs/try-time-convention.md).

    Read as hour-ending MEZ, the shipped data lie 0.44 h (all days) early; centred on the hour they lie
    within 0.1 h. A half-hour error in the convention fails this test.
    """
    offset = _centroid_offset_h(try2025.ghi_w_m2.to_numpy(), try2025.index)
    assert abs(offset) <= 0.1, f"TRY radiation centroid {offset:+.3f} h from the sun's"
    # Half an hour earlier is the former hour-ending reading: the same measure sees it and would fail.
    ghi = try2025.ghi_w_m2.to_numpy()
    hour_ending = 0.5 * (ghi + np.roll(ghi, -1))
    early = _centroid_offset_h(hour_ending, try2025.index)
    assert early == pytest.approx(offset - 0.5, abs=0.02) and abs(early) > 0.1


def test_try_recentring_keeps_every_total(try2025: pd.DataFrame) -> None:
    from h2quarters.models.weather import _read_try_raw, try_path

    raw = _read_try_raw(str(try_path(7)))
    assert try2025.ghi_w_m2.sum() == pytest.approx((raw.B + raw.D).sum(), rel=1e-12)
    np.testing.assert_array_equal(try2025.t_air_c.sort_values().to_numpy(), np.sort(raw.t.to_numpy()))
