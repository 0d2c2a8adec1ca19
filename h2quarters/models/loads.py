"""Electrical and heat loads from demandlib's BDEW profiles.

* Electrical: BDEW standard load profiles H0, G0–G6, L0–L2 (``demandlib.bdew.ElecSlp``) and the 2025
  profiles H25, G25, L25, P25, S25 (``demandlib.bdew.H25`` ...), scaled to an annual energy.
* Heat: BDEW gas/heat standard profiles (``demandlib.bdew.HeatBuilding``) driven by the hourly air temperature.

Public holidays are those of Hesse (``holidays`` package), which BDEW profiles treat like Sundays.
BDEW profiles are defined in local wall-clock time; they are computed on a naive wall-clock index and then
laid onto the tz-aware index (the missing spring hour is skipped, the repeated autumn hour repeats), and
rescaled so the annual energy is exactly the configured one.
"""

from __future__ import annotations

import warnings

import holidays as holiday_lib
import numpy as np
import pandas as pd
from demandlib import bdew

from h2quarters.config.scenario import ElectricalLoad, HeatLoad

_OLD_PROFILES = {"H0", "G0", "G1", "G2", "G3", "G4", "G5", "G6", "L0", "L1", "L2"}
_NEW_PROFILES = {"H25": bdew.H25, "G25": bdew.G25, "L25": bdew.L25, "P25": bdew.P25, "S25": bdew.S25}


def hesse_holidays(year: int) -> dict:
    """Public holidays in Hesse for ``year`` as {date: name}."""
    return dict(holiday_lib.Germany(subdiv="HE", years=year).items())


def _to_local_index(values: pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """Look up wall-clock-time values for every timestamp of a tz-aware index."""
    wall = index.tz_localize(None)
    looked_up = values.reindex(wall)
    return looked_up.to_numpy(float)


def _year_of(index: pd.DatetimeIndex) -> int:
    years = np.unique(index.year)
    if len(years) != 1:
        raise ValueError(f"a load profile is built for one calendar year; index spans {years.tolist()}")
    return int(years[0])


def electrical_load_kw(load: ElectricalLoad, index: pd.DatetimeIndex) -> pd.Series:
    """Mean electrical power (kW) per step of a BDEW profile scaled to ``load.e_kwh_per_a``.

    Parameters
    ----------
    load : ElectricalLoad
        Profile name and annual energy (kWh/a).
    index : pandas.DatetimeIndex
        Tz-aware, left-labelled, 15 min or 1 h steps covering one calendar year.

    Returns
    -------
    pandas.Series
        kW per step; its energy over a full year equals ``e_kwh_per_a``.
    """
    if load.profile is None or load.e_kwh_per_a is None:
        raise ValueError(f"load '{load.name}': only BDEW profiles are computed here (series are read by inputs)")
    year = _year_of(index)
    hol = hesse_holidays(year)
    wall15 = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", inclusive="left")
    if load.profile in _OLD_PROFILES:
        # demandlib's ElecSlp calls warnings.simplefilter("error") for the whole process; keep that local.
        with warnings.catch_warnings():
            slp = bdew.ElecSlp(year, holidays=hol)
        # get_scaled_profiles returns energy per 15-min interval; ×4 gives mean kW.
        kw15 = slp.get_scaled_profiles({load.profile.lower(): 1.0})[load.profile.lower()] * 4.0
        kw15.index = wall15
    else:
        kw15 = pd.Series(np.asarray(_NEW_PROFILES[load.profile](wall15, holidays=hol), float), index=wall15)
    step = pd.Timedelta(index.freq or pd.infer_freq(index))
    values = kw15 if step == pd.Timedelta("15min") else kw15.resample(step).mean()
    kw = _to_local_index(values, index)
    # The DST gap leaves no NaN (wall times exist for every aware timestamp); guard anyway.
    kw = np.nan_to_num(kw, nan=float(np.nanmean(kw)))
    dt_h = step / pd.Timedelta("1h")
    energy = kw.sum() * dt_h
    return pd.Series(kw * load.e_kwh_per_a / energy, index=index, name=f"{load.name}_kw")


def heat_load_kw(load: HeatLoad, t_air_c: pd.Series) -> pd.Series:
    """Heat demand (kW) per step from the BDEW heat profile driven by air temperature.

    Parameters
    ----------
    load : HeatLoad
        Building type, annual heat (kWh/a), building and wind class.
    t_air_c : pandas.Series
        Hourly or 15-min air temperature (°C), tz-aware index over one calendar year.

    Returns
    -------
    pandas.Series
        kW per step; annual energy equals ``e_kwh_per_a``.
    """
    index = t_air_c.index
    year = _year_of(index)
    wall_h = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="1h", inclusive="left")
    temp_h = t_air_c.resample("1h").mean()
    temp_wall = pd.Series(temp_h.to_numpy(), index=temp_h.index.tz_localize(None))
    temp_wall = temp_wall[~temp_wall.index.duplicated()].reindex(wall_h).interpolate().bfill().ffill()
    building = bdew.HeatBuilding(
        wall_h,
        holidays=hesse_holidays(year),
        temperature=temp_wall,
        shlp_type=load.shlp_type,
        building_class=load.building_class,
        wind_class=load.wind_class,
        annual_heat_demand=load.e_kwh_per_a,
        ww_incl=load.hot_water,
        name=load.name,
    )
    kw_h = pd.Series(np.asarray(building.get_bdew_profile(), float), index=wall_h)
    step = pd.Timedelta(index.freq or pd.infer_freq(index))
    values = kw_h if step == pd.Timedelta("1h") else kw_h.reindex(
        pd.date_range(wall_h[0], periods=len(wall_h) * 4, freq="15min")).ffill()
    kw = np.nan_to_num(_to_local_index(values, index), nan=0.0)
    dt_h = step / pd.Timedelta("1h")
    return pd.Series(kw * load.e_kwh_per_a / (kw.sum() * dt_h), index=index, name=f"{load.name}_kw")
