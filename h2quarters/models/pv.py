"""PV power from weather with pvlib.

Chain (all pvlib, vectorised over the year): solar position at mid-step → Perez transposition to the plane of
array (with extraterrestrial DNI and relative airmass) → Faiman cell temperature → PVWatts DC with temperature
coefficient → system losses (PVWatts loss model, default 14 %) → PVWatts inverter with clipping at
``p_kwp / dc_ac_ratio``.

Reference check (``shared/reference/site-kassel.md``): on TRY07 a 30° south array gives ≈1,121 kWh/m² in the
plane of array and ≈910 kWh/kWp AC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib

from h2quarters.config.scenario import Location, PVArray


def solar_position(index: pd.DatetimeIndex, location: Location, step: pd.Timedelta) -> pd.DataFrame:
    """Solar position at the middle of each left-labelled step."""
    mid = index + step / 2
    pos = pvlib.solarposition.get_solarposition(mid, location.latitude_deg, location.longitude_deg,
                                                altitude=location.altitude_m)
    pos.index = index
    return pos


def poa_irradiance(weather: pd.DataFrame, array: PVArray, solpos: pd.DataFrame) -> pd.DataFrame:
    """Plane-of-array irradiance components (W/m²) with the Perez model.

    Parameters
    ----------
    weather : pandas.DataFrame
        ``ghi_w_m2, dni_w_m2, dhi_w_m2`` per step.
    array : PVArray
        Orientation (tilt, azimuth; 180° = south).
    solpos : pandas.DataFrame
        Output of :func:`solar_position` on the same index.

    Returns
    -------
    pandas.DataFrame
        pvlib's ``poa_global, poa_direct, poa_diffuse, ...`` in W/m².
    """
    dni_extra = pvlib.irradiance.get_extra_radiation(weather.index)
    airmass = pvlib.atmosphere.get_relative_airmass(solpos["apparent_zenith"])
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=array.tilt_deg,
        surface_azimuth=array.azimuth_deg,
        solar_zenith=solpos["apparent_zenith"],
        solar_azimuth=solpos["azimuth"],
        dni=weather["dni_w_m2"],
        ghi=weather["ghi_w_m2"],
        dhi=weather["dhi_w_m2"],
        dni_extra=dni_extra,
        airmass=airmass,
        model="perez",
    )
    return poa.fillna(0.0).clip(lower=0.0)


def array_ac_kw(weather: pd.DataFrame, array: PVArray, location: Location,
                solpos: pd.DataFrame | None = None) -> pd.DataFrame:
    """AC output of one PV array.

    Parameters
    ----------
    weather : pandas.DataFrame
        ``ghi_w_m2, dni_w_m2, dhi_w_m2, t_air_c, wind_m_s`` per step (tz-aware, left-labelled, fixed freq).
    array : PVArray
        Array configuration.
    location : Location
        Site.
    solpos : pandas.DataFrame, optional
        Precomputed solar position (shared between arrays).

    Returns
    -------
    pandas.DataFrame
        ``poa_w_m2`` (plane of array), ``t_cell_c``, ``p_dc_kw`` (after system losses) and ``p_ac_kw``.
    """
    step = pd.Timedelta(weather.index.freq or pd.infer_freq(weather.index))
    if solpos is None:
        solpos = solar_position(weather.index, location, step)
    poa = poa_irradiance(weather, array, solpos)
    t_cell = pvlib.temperature.faiman(poa["poa_global"], weather["t_air_c"], weather["wind_m_s"])
    p_dc_w = pvlib.pvsystem.pvwatts_dc(poa["poa_global"], t_cell, array.p_kwp * 1000.0, array.gamma_pdc_per_c)
    # losses_pct replaces PVWatts' itemised default losses (soiling, wiring, mismatch, ...) by one figure.
    p_dc_w = p_dc_w * (1.0 - array.losses_pct / 100.0)
    p_ac0_w = array.p_kwp * 1000.0 / array.dc_ac_ratio
    p_ac_w = pvlib.inverter.pvwatts(p_dc_w, p_ac0_w / array.inverter_eta, eta_inv_nom=array.inverter_eta)
    return pd.DataFrame(
        {
            "poa_w_m2": poa["poa_global"],
            "t_cell_c": t_cell,
            "p_dc_kw": p_dc_w / 1000.0,
            "p_ac_kw": np.clip(p_ac_w, 0.0, None) / 1000.0,
        },
        index=weather.index,
    )


def site_pv_kw(weather: pd.DataFrame, arrays: list[PVArray], location: Location) -> pd.Series:
    """Total AC PV power of all arrays (kW), mean over each step."""
    if not arrays:
        return pd.Series(0.0, index=weather.index, name="pv_kw")
    step = pd.Timedelta(weather.index.freq or pd.infer_freq(weather.index))
    solpos = solar_position(weather.index, location, step)
    total = sum(array_ac_kw(weather, a, location, solpos)["p_ac_kw"] for a in arrays)
    return pd.Series(np.asarray(total, float), index=weather.index, name="pv_kw")
