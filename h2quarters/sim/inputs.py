"""The input table of a site: everything outside the plant's control, per time step.

Columns (mean over each left-labelled step unless noted):

===================== =========================================================
``pv_kw``              AC power of all PV arrays
``load_kw``            electrical load of the site
``heat_kw``            heat demand (0 when no heat load is configured)
``import_eur_per_kwh`` grid import price
``feed_in_eur_per_kwh`` feed-in tariff
``co2_g_per_kwh``      grid emission factor
``h2_demand_kg``       hydrogen to be delivered during the step (kg, not a rate)
``t_air_c``            air temperature
``ghi_w_m2``           global horizontal irradiance
===================== =========================================================

Weather is hourly; at 15-min steps each quarter-hour takes its hour's mean power, which keeps energies exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from h2quarters.config.scenario import HydrogenDemand, Scenario, SeriesRef
from h2quarters.models.loads import electrical_load_kw, heat_load_kw
from h2quarters.models.pv import site_pv_kw
from h2quarters.models.weather import load_weather

INPUT_COLUMNS = ["pv_kw", "load_kw", "heat_kw", "import_eur_per_kwh", "feed_in_eur_per_kwh", "co2_g_per_kwh",
                 "h2_demand_kg", "t_air_c", "ghi_w_m2"]


def year_index(year: int, freq: str, tz: str = "Europe/Berlin") -> pd.DatetimeIndex:
    """Left-labelled tz-aware steps covering one calendar year."""
    return pd.date_range(pd.Timestamp(f"{year}-01-01", tz=tz), pd.Timestamp(f"{year + 1}-01-01", tz=tz),
                         freq=freq, inclusive="left")


def read_series(ref: SeriesRef, scenario: Scenario, index: pd.DatetimeIndex) -> pd.Series:
    """Read a CSV series and align it to ``index`` (values hold until the next timestamp in the file)."""
    path = scenario.resolve(ref.csv)
    frame = pd.read_csv(path, index_col=0)
    if ref.column not in frame.columns:
        raise ValueError(f"{path}: column '{ref.column}' not found; columns are {list(frame.columns)}")
    idx = pd.to_datetime(frame.index, utc=True).tz_convert(index.tz)
    series = pd.Series(frame[ref.column].to_numpy(float), index=idx).sort_index()
    aligned = series.reindex(series.index.union(index)).ffill().bfill().reindex(index)
    if aligned.isna().any():
        raise ValueError(f"{path}: column '{ref.column}' has no values for the requested period")
    return aligned


def _value_or_series(value: float | SeriesRef, scenario: Scenario, index: pd.DatetimeIndex) -> np.ndarray:
    if isinstance(value, SeriesRef):
        return read_series(value, scenario, index).to_numpy()
    return np.full(len(index), float(value))


def hydrogen_demand_kg(demand: HydrogenDemand, index: pd.DatetimeIndex, scenario: Scenario | None = None
                       ) -> np.ndarray:
    """Hydrogen demand per step (kg): the daily amount spread evenly over the configured hours and weekdays."""
    if demand.series is not None:
        if scenario is None:
            raise ValueError("a hydrogen demand series needs the scenario to resolve its file")
        rate_kg_per_h = read_series(demand.series, scenario, index).to_numpy()
        return rate_kg_per_h * (pd.Timedelta(index.freq) / pd.Timedelta("1h"))
    step_h = pd.Timedelta(index.freq) / pd.Timedelta("1h")
    active = (np.isin(index.dayofweek, demand.weekdays)
              & (index.hour >= demand.hour_start) & (index.hour < demand.hour_end))
    hours = demand.hour_end - demand.hour_start
    return np.where(active, demand.m_kg_per_day / hours * step_h, 0.0)


def _year_inputs(scenario: Scenario, year: int, freq: str) -> pd.DataFrame:
    tz = scenario.location.tz
    weather = load_weather(scenario.weather.source, year, tz,
                           scenario.resolve(scenario.weather.path) if scenario.weather.path else None)
    pv_h = site_pv_kw(weather, scenario.pv, scenario.location)
    index = year_index(year, freq, tz)
    hourly = pd.DataFrame({"pv_kw": pv_h, "t_air_c": weather["t_air_c"], "ghi_w_m2": weather["ghi_w_m2"]})
    frame = hourly.reindex(index, method="ffill") if freq != "1h" else hourly.reindex(index)
    load = np.zeros(len(index))
    for el in scenario.electrical_loads:
        if el.series is not None:
            load += read_series(el.series, scenario, index).to_numpy()
        else:
            load += electrical_load_kw(el, index).to_numpy()
    heat = np.zeros(len(index))
    for hl in scenario.heat_loads:
        heat += heat_load_kw(hl, frame["t_air_c"]).to_numpy()
    frame["load_kw"] = load
    frame["heat_kw"] = heat
    return frame


def site_inputs(scenario: Scenario, start: str | pd.Timestamp, end: str | pd.Timestamp,
                freq: str = "1h") -> pd.DataFrame:
    """Build the input table for ``[start, end)``.

    Parameters
    ----------
    scenario : Scenario
        The site.
    start, end : str or pandas.Timestamp
        Period; naive values are taken in the scenario's time zone.
    freq : {"15min", "1h"}
        Step length.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INPUT_COLUMNS` on a tz-aware index with ``freq`` set.
    """
    if freq not in ("15min", "1h"):
        raise ValueError(f"freq '{freq}' not supported: choose '15min' or '1h'")
    tz = scenario.location.tz
    t0 = _aware(start, tz)
    t1 = _aware(end, tz)
    if t1 <= t0:
        raise ValueError(f"end ({t1}) must be after start ({t0})")
    years = range(t0.year, (t1 - pd.Timedelta("1ns")).year + 1)
    frame = pd.concat([_year_inputs(scenario, y, freq) for y in years])
    frame = frame.loc[(frame.index >= t0) & (frame.index < t1)].copy()
    frame.index.freq = freq
    frame.index.name = "time"
    index = frame.index
    frame["import_eur_per_kwh"] = _value_or_series(scenario.tariffs.import_eur_per_kwh, scenario, index)
    frame["feed_in_eur_per_kwh"] = float(scenario.tariffs.feed_in_eur_per_kwh)
    frame["co2_g_per_kwh"] = _value_or_series(scenario.tariffs.co2_g_per_kwh, scenario, index)
    frame["h2_demand_kg"] = hydrogen_demand_kg(scenario.hydrogen_demand, index, scenario)
    return frame[INPUT_COLUMNS]


def _aware(t: str | pd.Timestamp, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
