"""Annual figures from representative weeks chosen and weighted by tsam, with their error against the year.

A study over a few weeks cannot multiply its figures up to a year (one season is not a year), so it refuses to
annualise. What it can do instead is simulate *typical periods* of the year: :func:`representative_weeks`
clusters the year's 52 whole weeks by the profiles that drive the hydrogen system (school PV, the school's and
the Stadtteilzentrum's electricity, the Stadtteilzentrum's heat, the outdoor temperature) with tsam
(hierarchical clustering, medoid representation: every typical week is a real calendar week of the year, so
weekdays, holidays and the trailer's working hours stay true), and weights each by the number of weeks of its
cluster. :func:`representative_kpis` simulates each typical week with the full quarter model and sums the
weighted period figures into annual ones. Weeks, not days: the hydrogen tank and the trailer's weekday
logistics carry state over days.

Each typical week starts from the scenario's initial tank and buffer (weeks are simulated independently), which
is the main error source besides the clustering; :func:`representative_error` measures the error of every
annual figure against a full-year run of the same variant, and the study shows it.

References
----------
Hoffmann, Kotzur, Stolten, Robinius (2022), The Pareto-optimal temporal aggregation of energy system models,
Applied Energy 315 119029; Kotzur et al. (2018), Impact of different time series aggregation methods on optimal
energy system design, Renewable Energy 117 474–487 (tsam).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from h2quarters.quarter.config import Quarter

#: Period figures summed with the weeks' weights into annual ones (same keys as a full-year run's KPIs).
ADDITIVE = ("bill_school_eur", "bill_stz_eur", "h2_produced_kg", "h2_delivered_to_stz_kg", "trailer_trips",
            "fc_electricity_kwh", "h2system_import_kwh", "h2system_consumption_kwh", "co2_avoided_by_h2_kg",
            "cost_h2_increment_eur", "supply_cost_eur", "quarter_mv_import_kwh", "h2_vented_kg")
#: Figures compared with the full year in :func:`representative_error` (additive ones plus ratios).
COMPARED = ("bill_school_eur", "bill_stz_eur", "h2_produced_kg", "h2_delivered_to_stz_kg", "trailer_trips",
            "co2_avoided_by_h2_kg", "cost_h2_increment_eur", "h2system_self_sufficiency", "lcoh_eur_per_kg",
            "lcoh_delivered_eur_per_kg")
WEEK_STEPS_H = 168


@dataclass
class RepresentativeWeeks:
    """Typical weeks of a quarter's year.

    Attributes
    ----------
    starts : list of Timestamp
        Local start (00:00) of each typical week; each is a real calendar week of the year (tsam's medoid).
    weights : ndarray
        Weeks of the year each typical week stands for; they sum to the year's length in weeks (365/7).
    rmse : dict
        tsam's root-mean-square error of the reconstructed (normalised) profiles, per clustered column.
    """

    starts: list[pd.Timestamp]
    weights: np.ndarray
    rmse: dict[str, float]


def driver_profiles(q: Quarter) -> pd.DataFrame:
    """The year's hourly profiles that drive the hydrogen system (kW, °C), indexed by local time."""
    from h2quarters.models.pv import site_pv_kw
    from h2quarters.quarter.h2site import hydrogen_scenario
    from h2quarters.quarter.simulate import _profiles

    weather, specs, prof = _profiles(q)
    scn = hydrogen_scenario(q, {})
    i_s = next(j for j, s in enumerate(specs) if s.role == "school")
    i_z = next(j for j, s in enumerate(specs) if s.role == "stz")
    return pd.DataFrame({"pv_school_kw": site_pv_kw(weather, scn.pv, scn.location).to_numpy(float),
                         "school_load_kw": prof.load_kw[:, i_s], "stz_load_kw": prof.load_kw[:, i_z],
                         "stz_heat_kw": prof.heat_kw[:, i_z], "t_air_c": prof.t_air_c}, index=weather.index)


def representative_weeks(q: Quarter, n: int) -> RepresentativeWeeks:
    """Choose ``n`` typical weeks of the quarter's year with tsam and weight them.

    Raises
    ------
    ValueError
        If ``n`` is outside [1, 52] (naming the value and the range).
    """
    import tsam

    if not 1 <= int(n) <= 52:
        raise ValueError(f"representative weeks: value {n} outside the allowed range [1, 52]")
    df = driver_profiles(q)
    dt_h = (df.index[1] - df.index[0]).total_seconds() / 3600.0
    per = round(WEEK_STEPS_H / dt_h)
    n_weeks = len(df) // per
    data = df.iloc[:n_weeks * per].copy()
    data.index = data.index.tz_localize(None)  # tsam's period arithmetic wants a plain index
    res = tsam.aggregate(data, n_clusters=int(n), period_duration=WEEK_STEPS_H, temporal_resolution=dt_h,
                         cluster=tsam.ClusterConfig(method="hierarchical", representation="medoid"))
    centers = res.clustering.cluster_centers
    assign = np.asarray(res.clustering.cluster_assignments)
    counts = np.array([np.sum(assign == c) for c in range(int(n))], float)
    # the days after the last whole week (one in a common year) go to the weights pro rata
    weights = counts * (len(df) / (n_weeks * per))
    starts = [df.index[int(centers[c]) * per] for c in range(int(n))]
    rmse = {str(k): float(v) for k, v in res.accuracy.rmse.items()}
    return RepresentativeWeeks(starts=starts, weights=weights, rmse=rmse)


def combine(period_kpis: list[dict], weights: np.ndarray) -> dict:
    """Annual figures from the typical weeks' period KPIs and their weights.

    Additive figures (:data:`ADDITIVE`) are weighted sums; the self-sufficiency is import-weighted
    (1 − Σ w·import / Σ w·consumption); the LCOH is the weighted period cost (LCOH of the period × kg, capital
    prorated to the week) over the weighted kilograms, the delivered LCOH adds the weighted supply cost per
    weighted kilogram moved.
    """
    w = np.asarray(weights, float)

    def wsum(key: str) -> float:
        return float(sum(wi * float(k.get(key) or 0.0) for wi, k in zip(w, period_kpis)))

    out = {key: wsum(key) for key in ADDITIVE}
    # each week ends by refilling the buffer to its start (so its starting stock is not counted as delivered);
    # 52 such refills are not trips of the year: the year's trips are the weeks' trips during the period
    out["trailer_trips"] = float(sum(wi * (float(k.get("trailer_trips") or 0.0)
                                           - float(k.get("trailer_trips_end_refill") or 0.0))
                                     for wi, k in zip(w, period_kpis)))
    cons = out["h2system_consumption_kwh"]
    ssr = sum(wi * float(k.get("h2system_self_sufficiency") or 0.0) * float(k.get("h2system_consumption_kwh") or 0)
              for wi, k in zip(w, period_kpis))
    out["h2system_self_sufficiency"] = ssr / cons if cons > 0 else None
    # grid: the worst week binds; steps with a violation add up with the weights
    for key, fn in (("grid_v_min_pu", min), ("grid_v_max_pu", max), ("grid_line_loading_max_pct", max),
                    ("grid_trafo_loading_max_pct", max)):
        vals = [k.get(key) for k in period_kpis if k.get(key) is not None]
        out[key] = fn(vals) if vals else None
    out["grid_steps_with_violation"] = wsum("grid_steps_with_violation")
    kg = out["h2_produced_kg"]
    cost = sum(wi * float(k.get("lcoh_period_eur_per_kg") or 0.0) * float(k.get("h2_produced_kg") or 0.0)
               for wi, k in zip(w, period_kpis))
    out["lcoh_eur_per_kg"] = cost / kg if kg > 0 else None
    moved = wsum("h2_moved_kg")
    out["lcoh_delivered_eur_per_kg"] = (out["lcoh_eur_per_kg"] + out["supply_cost_eur"] / moved
                                        if out["lcoh_eur_per_kg"] is not None and moved > 0 else None)
    return out


def representative_kpis(q: Quarter, n: int, overrides: dict[str, float] | None = None,
                        dispatch: str | None = None, powerflow: bool = True,
                        weeks: RepresentativeWeeks | None = None) -> dict:
    """Simulate the ``n`` typical weeks of the year and return their annual figures.

    Returns
    -------
    dict
        ``annual`` (figures of a year, keys as a full-year run's period KPIs), ``weeks`` (start, weight),
        ``rmse`` (tsam's profile error) and ``n``.
    """
    from h2quarters.quarter.simulate import simulate_quarter

    weeks = weeks or representative_weeks(q, n)
    period = []
    for s in weeks.starts:
        start = s.tz_localize(None)
        r = simulate_quarter(q, overrides=overrides, start=str(start), end=str(start + pd.Timedelta(days=7)),
                             dispatch=dispatch, check_steps=0, powerflow=powerflow, stress=False)
        period.append(r.kpis)
    return {"n": len(weeks.starts), "annual": combine(period, weeks.weights),
            "weeks": [{"start": str(s.date()), "weight_weeks": float(w)} for s, w in zip(weeks.starts,
                                                                                         weeks.weights)],
            "rmse": weeks.rmse}


def representative_error(annual: dict, full_year: dict) -> pd.DataFrame:
    """Error of the representative-period annual figures against a full-year run's (:data:`COMPARED`).

    Returns
    -------
    DataFrame
        One row per figure: ``representative``, ``full_year``, ``abs_error`` and ``rel_error`` (relative to the
        full year; NaN where the full year's figure is 0 or missing).
    """
    rows = []
    for key in COMPARED:
        a, b = annual.get(key), full_year.get(key)
        if a is None or b is None:
            rows.append({"kpi": key, "representative": a, "full_year": b, "abs_error": np.nan,
                         "rel_error": np.nan})
            continue
        rows.append({"kpi": key, "representative": float(a), "full_year": float(b), "abs_error": float(a) - float(b),
                     "rel_error": (float(a) - float(b)) / abs(float(b)) if float(b) != 0 else np.nan})
    return pd.DataFrame(rows)


def study_row(rep: dict) -> dict:
    """A study table row (keys of :data:`h2quarters.quarter.study.TABLE_COLUMNS`) from representative figures:
    the period is the year the typical weeks stand for."""
    a = rep["annual"]
    row = {"annualised": True, "annualised_from": f"{rep['n']} representative weeks (tsam)",
           "representative_weeks": rep["n"], "representative": rep}
    for key in ("lcoh_eur_per_kg", "lcoh_delivered_eur_per_kg", "h2system_self_sufficiency", "co2_avoided_by_h2_kg",
                "cost_h2_increment_eur", "h2_produced_kg", "trailer_trips", "h2_vented_kg", "grid_v_min_pu",
                "grid_v_max_pu", "grid_line_loading_max_pct", "grid_trafo_loading_max_pct",
                "grid_steps_with_violation", "bill_school_eur", "bill_stz_eur"):
        row[key] = a.get(key)
    row["lcoh_period_eur_per_kg"] = a.get("lcoh_eur_per_kg")
    row["lcoh_delivered_period_eur_per_kg"] = a.get("lcoh_delivered_eur_per_kg")
    for key, src in (("co2_avoided_by_h2_kg_per_a", "co2_avoided_by_h2_kg"),
                     ("cost_h2_increment_eur_per_a", "cost_h2_increment_eur"),
                     ("h2_produced_kg_per_a", "h2_produced_kg"), ("h2_delivered_kg_per_a", "h2_delivered_to_stz_kg"),
                     ("trailer_trips_per_a", "trailer_trips")):
        row[key] = a.get(src)
    return row
