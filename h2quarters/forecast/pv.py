"""PV power forecasts that work without internet, and their error metrics.

:class:`ClearSkyBlendForecaster` (the default for AUTO) multiplies the site's clear-sky PV power (pvlib Ineichen
clear sky with Linke turbidity climatology, through the same PVWatts chain as :func:`h2quarters.models.pv.site_pv_kw`)
by a clear-sky index that starts at the *recently measured* index and relaxes toward the climatological index of
the DWD test reference year (TRY) with lead time:

    P̂(t0 + h) = P_cs(t0 + h) · [w(h) k_now + (1 − w(h)) k_clim(t0 + h)],   w(h) = exp(−h / τ)

This is the usual clear-sky-index persistence with exponential reversion to climatology (Lorenz et al. 2009,
"Irradiance forecasting for the power prediction of grid-connected photovoltaic systems", IEEE JSTARS 2(1);
Antonanzas et al. 2016, "Review of photovoltaic power forecasting", Solar Energy 136). ``k_clim`` is the TRY PV
divided by clear-sky PV, averaged over ±7 days at the same hour. A real weather service plugs in as another
:class:`PVForecastProvider`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Protocol

import numpy as np
import pandas as pd
import pvlib

from h2quarters.config.scenario import Scenario
from h2quarters.models.pv import site_pv_kw
from h2quarters.models.weather import read_try

CS_MIN_FRAC = 0.05
"""Clear-sky power below this fraction of the AC capacity is ignored for clear-sky indices (dawn/dusk noise)."""


class PVForecastProvider(Protocol):
    """Anything that forecasts site PV power (kW, step means) for a left-labelled index."""

    name: str

    def forecast(self, t0: pd.Timestamp, index: pd.DatetimeIndex, recent_pv_kw: pd.Series) -> pd.Series:
        """PV forecast on ``index`` made at ``t0`` from the measured ``recent_pv_kw`` (tz-aware, kW)."""
        ...


def _ac_capacity_kw(scenario: Scenario) -> float:
    return float(sum(a.p_kwp / a.dc_ac_ratio for a in scenario.pv))


def clear_sky_pv_kw(scenario: Scenario, index: pd.DatetimeIndex, t_air_c: float | pd.Series = 20.0) -> pd.Series:
    """Clear-sky AC power of the site's PV arrays (kW) on a regular left-labelled index.

    Parameters
    ----------
    scenario : Scenario
        Site location and PV arrays.
    index : DatetimeIndex
        Regular tz-aware index (``freq`` set or inferable).
    t_air_c : float or Series
        Air temperature for the cell-temperature model (°C).
    """
    loc = scenario.location
    step = pd.Timedelta(index.freq or pd.infer_freq(index))
    site = pvlib.location.Location(loc.latitude_deg, loc.longitude_deg, tz=loc.tz, altitude=loc.altitude_m)
    cs = site.get_clearsky(index + step / 2, model="ineichen")
    cs.index = index
    weather = pd.DataFrame({"ghi_w_m2": cs["ghi"], "dni_w_m2": cs["dni"], "dhi_w_m2": cs["dhi"],
                            "t_air_c": t_air_c, "wind_m_s": 1.0}, index=index)
    weather.index.freq = step
    return site_pv_kw(weather, scenario.pv, loc).rename("pv_cs_kw")


@lru_cache(maxsize=8)
def _climatology_index(scenario_json: str, year: int) -> pd.Series:
    """Hourly climatological clear-sky index of one year from the TRY (±7-day mean at the same hour)."""
    sc = Scenario.model_validate_json(scenario_json)
    w = read_try(year, tz=sc.location.tz)
    w.index.freq = "1h"
    pv_try = site_pv_kw(w, sc.pv, sc.location).to_numpy()
    pv_cs = clear_sky_pv_kw(sc, w.index, w["t_air_c"]).to_numpy()
    n_days = len(pv_try) // 24
    a = pv_try[: n_days * 24].reshape(n_days, 24)
    b = pv_cs[: n_days * 24].reshape(n_days, 24)
    # circular ±7-day sums per hour of day: energy-weighted index, robust where single hours are dark
    pad = 7
    ap = np.concatenate([a[-pad:], a, a[:pad]])
    bp = np.concatenate([b[-pad:], b, b[:pad]])
    ker = np.ones(2 * pad + 1)
    sa_ = np.apply_along_axis(lambda col: np.convolve(col, ker, "valid"), 0, ap)
    sb_ = np.apply_along_axis(lambda col: np.convolve(col, ker, "valid"), 0, bp)
    k = np.where(sb_ > 1e-6, sa_ / np.maximum(sb_, 1e-6), 0.0).ravel()
    full = np.concatenate([k, np.full(len(pv_try) - len(k), k[-1] if len(k) else 0.0)])
    return pd.Series(np.clip(full, 0.0, 1.2), index=w.index, name="k_clim")


class ClearSkyBlendForecaster:
    """Clear sky × measured clear-sky index, relaxing to the TRY climatology (see module docstring).

    Parameters
    ----------
    scenario : Scenario
        Site.
    tau_h : float
        Time constant of the relaxation from the measured to the climatological index (h).
    window_min : float
        Length of the recent window over which the measured clear-sky index is averaged (min).
    k_max : float
        Upper clip of clear-sky indices (cloud enhancement allows slightly above 1).
    """

    name = "clearsky-blend"

    def __init__(self, scenario: Scenario, tau_h: float = 3.0, window_min: float = 60.0, k_max: float = 1.2) -> None:
        if tau_h <= 0:
            raise ValueError(f"tau_h = {tau_h} must be > 0")
        if window_min <= 0:
            raise ValueError(f"window_min = {window_min} must be > 0")
        self.scenario = scenario
        self.tau_h = tau_h
        self.window_min = window_min
        self.k_max = k_max
        self.p_ac_kw = _ac_capacity_kw(scenario)
        self._json = scenario.model_dump_json()

    def climatology_index(self, index: pd.DatetimeIndex) -> pd.Series:
        """Climatological clear-sky index on ``index`` (hourly TRY values held within the hour)."""
        years = sorted(set(index.year))
        k = pd.concat([_climatology_index(self._json, int(y)) for y in years])
        k = k[~k.index.duplicated()]
        return k.reindex(index, method="ffill").fillna(0.0)

    def measured_index(self, t0: pd.Timestamp, recent_pv_kw: pd.Series) -> float | None:
        """Energy-weighted clear-sky index of the measured PV over the last ``window_min`` before ``t0``.

        Returns None when the window holds no daylight (clear-sky power below ``CS_MIN_FRAC`` of capacity).
        """
        s = recent_pv_kw.dropna()
        s = s[(s.index > t0 - pd.Timedelta(minutes=self.window_min)) & (s.index <= t0)]
        if len(s) < 2:
            return None
        m = s.resample("1min").mean().dropna()
        if m.empty:
            return None
        idx = pd.DatetimeIndex(m.index, freq="1min") if len(m) > 2 else pd.date_range(m.index[0], periods=len(m),
                                                                                       freq="1min")
        cs = clear_sky_pv_kw(self.scenario, pd.date_range(idx[0], periods=len(idx), freq="1min")).to_numpy()
        ok = cs > CS_MIN_FRAC * self.p_ac_kw
        if not ok.any():
            return None
        return float(np.clip(m.to_numpy()[ok].sum() / cs[ok].sum(), 0.0, self.k_max))

    def forecast(self, t0: pd.Timestamp, index: pd.DatetimeIndex, recent_pv_kw: pd.Series) -> pd.Series:
        """PV forecast (kW, step means) on ``index`` issued at ``t0``."""
        cs = clear_sky_pv_kw(self.scenario, index)
        k_clim = self.climatology_index(index).to_numpy()
        k_now = self.measured_index(t0, recent_pv_kw)
        step = pd.Timedelta(index.freq or pd.infer_freq(index))
        lead_h = np.maximum(((index + step / 2) - t0).total_seconds().to_numpy() / 3600.0, 0.0)
        if k_now is None:
            k = k_clim
        else:
            w = np.exp(-lead_h / self.tau_h)
            k = w * k_now + (1.0 - w) * k_clim
        out = np.clip(cs.to_numpy() * np.clip(k, 0.0, self.k_max), 0.0, self.p_ac_kw)
        return pd.Series(out, index=index, name="pv_kw")


class PersistenceForecaster:
    """Naive reference: the last measured PV power held over the horizon."""

    name = "persistence"

    def forecast(self, t0: pd.Timestamp, index: pd.DatetimeIndex, recent_pv_kw: pd.Series) -> pd.Series:
        """Last measured value before ``t0`` on every step (0 without data)."""
        s = recent_pv_kw.dropna()
        s = s[s.index <= t0]
        v = float(s.iloc[-1]) if len(s) else 0.0
        return pd.Series(v, index=index, name="pv_kw")


def forecast_errors(forecast_kw: np.ndarray | pd.Series, actual_kw: np.ndarray | pd.Series,
                    reference_kw: np.ndarray | pd.Series) -> dict[str, float]:
    """MAE, RMSE and skill of a forecast against a reference forecast (usually persistence).

    ``skill = 1 − RMSE_forecast / RMSE_reference`` (Murphy 1988; the convention of Antonanzas et al. 2016).
    Pairs with a NaN anywhere are ignored.

    Returns
    -------
    dict
        ``n``, ``mae_kw``, ``rmse_kw``, ``mae_ref_kw``, ``rmse_ref_kw``, ``skill`` (NaN when undefined).
    """
    f = np.asarray(forecast_kw, float)
    a = np.asarray(actual_kw, float)
    r = np.asarray(reference_kw, float)
    if not (f.shape == a.shape == r.shape):
        raise ValueError(f"shapes differ: forecast {f.shape}, actual {a.shape}, reference {r.shape}")
    ok = np.isfinite(f) & np.isfinite(a) & np.isfinite(r)
    n = int(ok.sum())
    if n == 0:
        nan = math.nan
        return {"n": 0, "mae_kw": nan, "rmse_kw": nan, "mae_ref_kw": nan, "rmse_ref_kw": nan, "skill": nan}
    e, er = f[ok] - a[ok], r[ok] - a[ok]
    rmse, rmse_r = float(np.sqrt(np.mean(e**2))), float(np.sqrt(np.mean(er**2)))
    return {"n": n, "mae_kw": float(np.mean(np.abs(e))), "rmse_kw": rmse,
            "mae_ref_kw": float(np.mean(np.abs(er))), "rmse_ref_kw": rmse_r,
            "skill": 1.0 - rmse / rmse_r if rmse_r > 0 else math.nan}


def evaluate_stored(forecasts: list[dict], actual_kw: pd.Series) -> dict[str, float]:
    """Errors of stored forecasts against measured PV over a period.

    Parameters
    ----------
    forecasts : list of dict
        Rows of :meth:`h2quarters.store.Store.forecasts_between` (``t_start_ms``, ``dt_s``, ``pv_kw`` list,
        ``persistence_kw``).
    actual_kw : Series
        Measured PV (kW) on a tz-aware index; averaged to each forecast step.

    Returns
    -------
    dict
        :func:`forecast_errors` over all steps of all forecasts that have measurements.
    """
    fs, acts, refs = [], [], []
    a = actual_kw.dropna().sort_index()
    if a.empty or not forecasts:
        return forecast_errors(np.array([]), np.array([]), np.array([]))
    t_a = a.index.asi8 // 1_000_000  # ms
    v_a = a.to_numpy(float)
    cum = np.concatenate([[0.0], np.cumsum(v_a)])
    for fc in forecasts:
        dt_ms = int(fc["dt_s"]) * 1000
        vals = np.asarray(fc["pv_kw"], float)
        starts = int(fc["t_start_ms"]) + dt_ms * np.arange(len(vals))
        i0 = np.searchsorted(t_a, starts, "left")
        i1 = np.searchsorted(t_a, starts + dt_ms, "left")
        cnt = i1 - i0
        # only steps covered by measurements over at least half of the step count as verified
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, (cum[i1] - cum[i0]) / np.maximum(cnt, 1), np.nan)
        span_ok = np.zeros(len(vals), bool)
        has = cnt > 0
        span_ok[has] = (t_a[np.maximum(i1[has] - 1, 0)] - t_a[i0[has]]) >= dt_ms / 2
        mean = np.where(span_ok, mean, np.nan)
        ref = fc.get("persistence_kw")
        fs.append(vals)
        acts.append(mean)
        refs.append(np.full(len(vals), np.nan if ref is None else float(ref)))
    return forecast_errors(np.concatenate(fs), np.concatenate(acts), np.concatenate(refs))
