"""Green-hydrogen share: electrolyser electricity matched by renewable electricity in time.

Delegated Regulation (EU) 2023/1184 (RFNBO), Art. 6: renewable electricity counts for a hydrogen producer
only if it is produced in the same calendar month as it is consumed (until 31 Dec 2029) or in the same
hour (from 1 Jan 2030; member states may require hourly matching from 1 Jul 2027). This module measures
that temporal correlation; additionality and geographic correlation are properties of the contracts and the
bidding zone, not of the time series.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from h2quarters.kpi._checks import Number, ratio, same_length, series_values, step_hours_values

__all__ = ["renewable_matched_share"]

MatchingPeriod = Literal["step", "hour", "month"]


def renewable_matched_share(
    consumer_kw: pd.Series,
    renewable_kw: pd.Series,
    dt_h: pd.Series | np.ndarray | Number,
    period: MatchingPeriod = "hour",
) -> float:
    """Share of a consumer's electricity matched by renewable electricity within each period.

    ``S = Σ_p min(E_cons,p, E_RE,p) / Σ_p E_cons,p`` where ``p`` runs over the matching periods
    (steps, clock hours or calendar months in the index's local time) and ``E = Σ_{t∈p} P_t · Δt_t``.

    Parameters
    ----------
    consumer_kw : pandas.Series
        Electricity used for hydrogen per step in kW (e.g. ``ely_kw + compressor_kw``), on a DatetimeIndex
        (tz-aware: months are local calendar months, hours are clock hours).
    renewable_kw : pandas.Series
        Renewable electricity available to the consumer per step in kW, same index: e.g. PV left after the
        other loads, ``clip(pv_kw − load_kw, 0)``, or a renewable PPA profile.
    dt_h : float or array-like
        Step length in h.
    period : {'step', 'hour', 'month'}, default 'hour'
        Matching period: 'month' is the RFNBO rule until 2029, 'hour' from 2030.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN if the consumer used no electricity (share undefined).
    """
    for name, s in (("consumer_kw", consumer_kw), ("renewable_kw", renewable_kw)):
        if not isinstance(s, pd.Series) or not isinstance(s.index, pd.DatetimeIndex):
            raise ValueError(f"{name} must be a pandas Series on a DatetimeIndex (periods are read from it)")
    c = series_values(consumer_kw, "consumer_kw")
    r = series_values(renewable_kw, "renewable_kw")
    same_length(consumer_kw=(consumer_kw, c), renewable_kw=(renewable_kw, r))
    dt = step_hours_values(dt_h, c.shape[0])  # type: ignore[arg-type]
    e_c, e_r = c * dt, r * dt
    index: pd.DatetimeIndex = consumer_kw.index  # type: ignore[assignment]
    if period == "step":
        matched = float(np.sum(np.minimum(e_c, e_r)))
    elif period in ("hour", "month"):
        if period == "hour":
            # flooring in UTC avoids ambiguous local times at the autumn DST change
            utc = index.tz_convert("UTC") if index.tz is not None else index
            keys = np.asarray(utc.floor("h").asi8)
        else:
            keys = np.asarray(index.year * 12 + index.month - 1)
        frame = pd.DataFrame({"c": e_c, "r": e_r}).groupby(keys, sort=False).sum()
        matched = float(np.minimum(frame["c"], frame["r"]).sum())
    else:
        raise ValueError(f"period must be 'step', 'hour' or 'month', got {period!r}")
    return ratio(matched, float(np.sum(e_c)))
