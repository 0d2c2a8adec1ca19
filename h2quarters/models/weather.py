"""Weather data that works offline.

* The DWD test reference year TRY2010 region 07 (station Kassel, WMO 10438) that demandlib ships
  (``demandlib/vdi/resources_weather/TRY2010_07_Jahr.dat``). demandlib's own reader keeps only temperature and
  cloud cover; :func:`read_try` parses all columns we need, radiation included.
* EPW and PVGIS TMY files through :mod:`pvlib.iotools`.

All readers return a DataFrame with the columns ``ghi_w_m2, dni_w_m2, dhi_w_m2, t_air_c, wind_m_s`` (plus
``cloud_okta`` and ``p_hpa`` where available) on a tz-aware hourly index, each row the mean of the hour that
*starts* at the timestamp (left-labelled).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

TRY_COLUMNS = ["RG", "IS", "MM", "DD", "HH", "N", "WR", "WG", "t", "p", "x", "RF", "W", "B", "D", "IK", "A",
               "E", "IL"]
WEATHER_COLUMNS = ["ghi_w_m2", "dni_w_m2", "dhi_w_m2", "t_air_c", "wind_m_s"]

TRY_CENTRE_OFFSET_H = 0.5
"""Where a TRY2010 row sits relative to the hour ending at its label HH: its value is the mean of
[HH-1+0.5, HH+0.5) MEZ, i.e. centred on HH:00 (measured on the shipped data, docs/try-time-convention.md)."""
_CENTRED_COLUMNS = ["B", "D"]
"""Columns re-centred onto the left-labelled hours: the radiation, where the data show the convention.
Temperature, wind, pressure and cloud cover keep the hour-ending reading (no such evidence for them)."""

KASSEL_TRY_LATITUDE_DEG = 51.3
"""Station Kassel: 51°18' N (TRY header)."""
KASSEL_TRY_LONGITUDE_DEG = 9.45
"""Station Kassel: 9°27' E (TRY header)."""
KASSEL_TRY_ALTITUDE_M = 231.0
"""Station Kassel: 231 m above sea level (TRY header)."""


def try_path(region: int = 7) -> Path:
    """Path of a DWD TRY2010 ``*_Jahr.dat`` file shipped with demandlib (region 7 = Kassel)."""
    if not 1 <= region <= 15:
        raise ValueError(f"TRY region {region} out of range: must be 1..15")
    base = resources.files("demandlib") / "vdi" / "resources_weather"
    path = Path(str(base / f"TRY2010_{region:02d}_Jahr.dat"))
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is demandlib installed?")
    return path


@lru_cache(maxsize=4)
def _read_try_raw(path: str) -> pd.DataFrame:
    lines = Path(path).read_text(encoding="latin-1").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("***")) + 1
    data = np.loadtxt(lines[start:], dtype=float)
    if data.shape != (8760, len(TRY_COLUMNS)):
        raise ValueError(f"{path}: expected 8760 rows of {len(TRY_COLUMNS)} columns, got {data.shape}")
    return pd.DataFrame(data, columns=TRY_COLUMNS)


def read_try(year: int, region: int = 7, tz: str = "Europe/Berlin", path: str | Path | None = None
             ) -> pd.DataFrame:
    """Read a DWD test reference year and place it on a calendar year.

    Parameters
    ----------
    year : int
        Calendar year to place the mean year on. In a leap year, 29 February repeats 28 February.
    region : int
        TRY climate region (7 = Kassel).
    tz : str
        Time zone of the returned index.
    path : str or Path, optional
        A TRY2010 ``.dat`` file; default the one demandlib ships for ``region``.

    Returns
    -------
    pandas.DataFrame
        Hourly ``ghi_w_m2, dni_w_m2, dhi_w_m2, t_air_c, wind_m_s, cloud_okta, p_hpa`` for the whole year,
        left-labelled, tz-aware. DNI is derived from B (direct horizontal) and the solar zenith at the middle
        of the hour.

    Notes
    -----
    TRY hours are 1..24 in MEZ (UTC+1, no daylight saving; file header "HH Stunde (MEZ)"). The data show
    that the value labelled HH describes the hour *centred* on HH:00 MEZ, [HH-0.5, HH+0.5): read as the hour
    ending at HH, the radiation of every month lies 0.4-0.5 h before the sun's geometry, independent of
    the equation of time (so it is not true solar time); see ``docs/try-time-convention.md`` and
    :data:`TRY_CENTRE_OFFSET_H`. The left-labelled hour [HH-1, HH) MEZ therefore gets the mean of the
    radiation of rows HH-1 and HH, which keeps every annual total exactly (the typical year wraps around);
    the other columns keep the hour-ending reading. Radiation columns
    B (direct horizontal) and D (diffuse horizontal) are in W/m², t is air temperature at 2 m in °C, WG
    wind speed at 10 m in m/s, N cloud cover in okta.
    """
    raw = _read_try_raw(str(path or try_path(region)))
    feb28 = raw[(raw.MM == 2) & (raw.DD == 28)]
    if pd.Timestamp(year=year, month=12, day=31).dayofyear == 366:
        feb29 = feb28.assign(DD=29)
        idx = feb28.index[-1] + 1
        raw = pd.concat([raw.iloc[:idx], feb29, raw.iloc[idx:]], ignore_index=True)
    # Rows are centred on HH:00 MEZ; the hour [HH-1, HH) is half row HH-1 and half row HH (wrapping the
    # typical year: the first hour of 1 January takes half of 31 December, 24 h).
    values = raw[_CENTRED_COLUMNS].to_numpy(float)
    raw = raw.copy()
    raw[_CENTRED_COLUMNS] = 0.5 * (values + np.roll(values, 1, axis=0))
    # Hour HH covers [HH-1, HH) MEZ (fixed UTC+1) -> hour-starting UTC.
    start_mez = pd.to_datetime(
        dict(year=year, month=raw.MM.astype(int), day=raw.DD.astype(int))
    ) + pd.to_timedelta(raw.HH.astype(int) - 1, unit="h")
    index_utc = pd.DatetimeIndex(start_mez - pd.Timedelta(hours=1)).tz_localize("UTC")
    ghi = (raw.B + raw.D).to_numpy()
    mid = index_utc + pd.Timedelta(minutes=30)
    solpos = pvlib.solarposition.get_solarposition(
        mid, KASSEL_TRY_LATITUDE_DEG, KASSEL_TRY_LONGITUDE_DEG, altitude=KASSEL_TRY_ALTITUDE_M
    )
    cos_z = np.cos(np.radians(solpos["apparent_zenith"].to_numpy()))
    # Below ~5° sun elevation B/cos(z) blows up; the direct part is then negligible and kept in GHI only.
    dni = np.where(cos_z > 0.087, raw.B.to_numpy() / np.maximum(cos_z, 0.087), 0.0)
    dhi = np.where(cos_z > 0.087, raw.D.to_numpy(), ghi)
    df = pd.DataFrame(
        {
            "ghi_w_m2": ghi,
            "dni_w_m2": dni,
            "dhi_w_m2": dhi,
            "t_air_c": raw.t.to_numpy(),
            "wind_m_s": raw.WG.to_numpy(),
            "cloud_okta": raw.N.to_numpy(),
            "p_hpa": raw.p.to_numpy(),
        },
        index=index_utc.tz_convert(tz),
    )
    # The year's first hour (00:00 MEZ) comes from the TRY's last row; roll so the frame covers the year.
    df = _wrap_to_year(df, year, tz)
    df.index.name = "time"
    return df


def _wrap_to_year(df: pd.DataFrame, year: int, tz: str) -> pd.DataFrame:
    """Rotate a typical year so that its index covers exactly ``year`` in ``tz`` at hourly steps."""
    target = pd.date_range(pd.Timestamp(f"{year}-01-01", tz=tz), pd.Timestamp(f"{year + 1}-01-01", tz=tz),
                           freq="1h", inclusive="left")
    values = df.to_numpy()
    # Position of each target hour in the source year, modulo the year length (typical years wrap around).
    src_utc = df.index.tz_convert("UTC")
    offset_h = int(round((target[0].tz_convert("UTC") - src_utc[0]).total_seconds() / 3600))
    n = len(df)
    take = (np.arange(len(target)) + offset_h) % n
    return pd.DataFrame(values[take], columns=df.columns, index=target)


def _standardise_pvlib(data: pd.DataFrame, tz: str, year: int | None) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "ghi_w_m2": data["ghi"].to_numpy(float),
            "dni_w_m2": data["dni"].to_numpy(float),
            "dhi_w_m2": data["dhi"].to_numpy(float),
            "t_air_c": data["temp_air"].to_numpy(float),
            "wind_m_s": data["wind_speed"].to_numpy(float),
        },
        index=data.index,
    )
    # pvlib's EPW reader already labels each row at the start of its hour (file hour 1 -> 00:00), and PVGIS
    # TMY rows are labelled at the hour's start too: both match h2quarters' left-labelled steps.
    if year is None:
        return out.tz_convert(tz)
    # A typical year mixes source years: keep the row order and lay the rows on the chosen year in the file's
    # own (standard-time) offset, then wrap to the calendar year in ``tz``.
    out = out[~((out.index.month == 2) & (out.index.day == 29))]
    first = out.index[0]
    start = pd.Timestamp(year=year, month=first.month, day=first.day, hour=first.hour, tz=first.tz)
    out.index = pd.date_range(start, periods=len(out), freq="1h")
    return _wrap_to_year(out, year, tz)


def read_epw(path: str | Path, year: int | None = None, tz: str = "Europe/Berlin") -> pd.DataFrame:
    """Read an EnergyPlus weather file through :func:`pvlib.iotools.read_epw`.

    Parameters
    ----------
    path : str or Path
        EPW file.
    year : int, optional
        Place the typical year on this calendar year (left-labelled hours); keep the file's own timestamps
        when None.
    tz : str
        Time zone of the returned index.
    """
    data, _meta = pvlib.iotools.read_epw(str(path))
    return _standardise_pvlib(data, tz, year)


def read_pvgis_tmy(path: str | Path, year: int | None = None, tz: str = "Europe/Berlin") -> pd.DataFrame:
    """Read a PVGIS TMY file (csv/json/epw as written by PVGIS) through :func:`pvlib.iotools.read_pvgis_tmy`."""
    result = pvlib.iotools.read_pvgis_tmy(str(path), map_variables=True)
    data = result[0]
    return _standardise_pvlib(data, tz, year)


def load_weather(source: str, year: int, tz: str = "Europe/Berlin", path: Path | None = None) -> pd.DataFrame:
    """Weather for a scenario's ``weather`` section (``try_kassel``, ``epw`` or ``pvgis_tmy``)."""
    if source == "try_kassel":
        return read_try(year, region=7, tz=tz)
    if path is None:
        raise ValueError(f"weather source '{source}' needs a file path")
    if source == "epw":
        return read_epw(path, year=year, tz=tz)
    if source == "pvgis_tmy":
        return read_pvgis_tmy(path, year=year, tz=tz)
    raise ValueError(f"weather.source '{source}' unknown: choose try_kassel, epw or pvgis_tmy")
