"""Grid stress cases: the quarter's grid under SimBench's own study cases and at 15-minute resolution.

The annual run solves the grid every hour at the quarter's MV voltage. A planner also wants to know how much
room is left when the MV grid is at the edge of its own band and when loads coincide. Cases:

* ``year`` — the annual run as simulated (hourly, MV at ``grid.ext_grid_vm_pu``).
* ``15min-hL-mv`` / ``15min-lPV-mv`` — the critical days of the year (lowest voltage, highest voltage, highest
  loading; ``stress_days`` each) at 15-minute steps, with the MV voltage of SimBench's high-load case
  (``Slack_vm`` of ``hL``, 0.965 p.u. for urban6) and of its low-load/high-PV case (``lPV``, 1.055 p.u.).
  Residential blocks use SimBench's own 15-min load profiles and, for their roofs, SimBench's own 15-min PV
  profiles (the profile of the SimBench PV unit at the block's bus, else SimBench's PV profiles in turn; kW per
  kWp installed) on the same calendar days; the school, the Stadtteilzentrum, the hydrogen dispatch and the
  school PV are hourly in the simulation (TRY weather) and held constant within the hour.
* ``simbench-<case>`` — SimBench's study-case snapshots (``net.loadcases``: hL, n1, hW, hPV, lW, lPV): every
  building's load at ``pload`` × its own 15-min peak, PV at ``PV_p`` × its installed power for residential
  roofs (SimBench's convention) and × the simulated peak for the school PV (the fuel cell off), the MV voltage
  at ``Slack_vm``.

EN 50160 judges 10-minute mean voltages. The data allow 15-minute means at best (SimBench profiles, held
hourly values), the nearest available; 10-minute means can be slightly more extreme than 15-minute ones.

The report gives per case the lowest/highest LV voltage, highest line and transformer loading, the margin to
the limits and which case binds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from h2quarters.quarter import grid as qgrid
from h2quarters.quarter.buildings import simbench_load_profiles, simbench_pv_profiles

if TYPE_CHECKING:
    from h2quarters.quarter.simulate import QuarterResult


def _case_row(name: str, qnet: qgrid.QuarterNet, pf: qgrid.PowerFlowResult, mv_pu: float, steps: int,
              resolution: str) -> dict:
    v = qgrid.violations(qnet, pf)
    load_max = max(v["line_loading_max_pct"], v["trafo_loading_max_pct"])
    margins = {"undervoltage": v["v_min_pu"] - qnet.v_min_pu, "overvoltage": qnet.v_max_pu - v["v_max_pu"],
               "loading": (qnet.loading_max_pct - load_max) / 100.0}
    limit = min(margins, key=margins.get)
    return {"case": name, "resolution": resolution, "steps": steps, "mv_vm_pu": mv_pu,
            "v_min_pu": v["v_min_pu"], "v_min_bus": v["v_min_bus"], "v_max_pu": v["v_max_pu"],
            "line_loading_max_pct": v["line_loading_max_pct"], "trafo_loading_max_pct": v["trafo_loading_max_pct"],
            "margin_undervoltage_pu": margins["undervoltage"], "margin_overvoltage_pu": margins["overvoltage"],
            "margin_loading_pct": margins["loading"] * 100.0, "closest_limit": limit,
            "steps_with_violation": v["steps_with_violation"]}


def _critical_days(res: QuarterResult, n_days: int) -> np.ndarray:
    """Start positions (hourly steps) of the days with the lowest/highest voltage and highest loading."""
    ts = res.timeseries
    day = ts.index.normalize()
    daily = pd.DataFrame({"vmin": ts.grid_v_min_pu.to_numpy(), "vmax": ts.grid_v_max_pu.to_numpy(),
                          "load": np.maximum(ts.grid_line_loading_max_pct, ts.grid_trafo_loading_pct).to_numpy()},
                         index=day).groupby(level=0).agg({"vmin": "min", "vmax": "max", "load": "max"})
    pick = set(daily.nsmallest(n_days, "vmin").index) | set(daily.nlargest(n_days, "vmax").index) | set(
        daily.nlargest(n_days, "load").index)
    return np.flatnonzero(np.isin(day, sorted(pick)))


def grid_stress(res: QuarterResult, stress_days: int = 5) -> pd.DataFrame:
    """Run the stress cases (see module docstring) and return one row per case.

    Parameters
    ----------
    res : QuarterResult
        A run with its power flow (``powerflow=True``).
    stress_days : int
        Days picked per criterion (lowest voltage, highest voltage, highest loading) for the 15-min cases.

    Returns
    -------
    DataFrame
        One row per case with extremes, margins (p.u. and %), the closest limit, and ``binding`` True on the
        case with the smallest margin.
    """
    if not res.powerflow.vm_pu.size:
        raise ValueError("grid stress cases need the power flow (run with powerflow=True)")
    q = res.quarter
    specs = res.specs
    src = qgrid.source_net(q.grid.code)
    lc = src.loadcases if "loadcases" in src else pd.DataFrame()
    hl_vm = float(lc.loc["hL", "Slack_vm"]) if "hL" in lc.index else 0.965
    lpv_vm = float(lc.loc["lPV", "Slack_vm"]) if "lPV" in lc.index else 1.055
    buildings = [(s.name, s.bus, s.cos_phi) for s in specs]
    rows = [_case_row("year", res.qnet, res.powerflow, float(res.qnet.net.ext_grid.vm_pu.iloc[0]),
                      len(res.timeseries), f"{res.dt_h:g} h")]

    # --- 15-min critical days ---
    pos = _critical_days(res, stress_days)
    per_h = max(1, round(1.0 / res.dt_h * 4))  # quarter-hours per step
    idx_h = res.timeseries.index[pos]
    utc = idx_h.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[ns]")
    off = (np.arange(per_h) * np.timedelta64(15, "m")).astype("timedelta64[ns]")
    idx15 = pd.DatetimeIndex(np.repeat(utc, per_h) + np.tile(off, len(idx_h))).tz_localize("UTC").tz_convert(
        idx_h.tz)
    load15 = np.repeat(res.building_load_kw[pos], per_h, axis=0)
    gen15 = np.repeat(res.building_gen_kw[pos], per_h, axis=0)
    res_cols = [j for j, s in enumerate(specs) if s.role == "residential"]
    if q.residential.load_profile == "simbench" and res_cols:
        year_idx = pd.date_range(f"{q.year}-01-01", f"{q.year + 1}-01-01", freq="15min", tz=q.location.tz,
                                 inclusive="left")
        unit = simbench_load_profiles(q.grid.code, year_idx)
        where = year_idx.get_indexer(idx15)
        conn = np.array([specs[j].connection for j in res_cols])
        e = np.array([specs[j].e_kwh_per_a for j in res_cols])
        load15[:, res_cols] = unit[where][:, conn] * e
        kwp = np.array([specs[j].pv_kwp for j in res_cols])
        pv_unit = simbench_pv_profiles(q.grid.code, idx15, [specs[j].bus for j in res_cols])
        gen15[:, res_cols] = pv_unit * kwp  # residential generation is roof PV only
    for name, vm in (("15min-hL-mv", hl_vm), ("15min-lPV-mv", lpv_vm)):
        qn = qgrid.build_quarter_net(q.grid.code, buildings, q.grid.v_min_pu, q.grid.v_max_pu,
                                     q.grid.loading_max_pct, vm)
        pf = qgrid.powerflow_fast(qn, load15 / 1000.0, gen15 / 1000.0, idx15)
        rows.append(_case_row(name, qn, pf, vm, len(idx15), "15 min"))

    # --- SimBench study-case snapshots ---
    if len(lc):
        peak_load = np.maximum(np.maximum(res.building_load_kw.max(axis=0), load15.max(axis=0)),
                               res.profiles.load_kw.max(axis=0))
        if q.residential.load_profile == "simbench" and res_cols:
            peak_load[res_cols] = (unit[:, conn] * e).max(axis=0)
        peak_pv = res.profiles.pv_kw.max(axis=0).copy()
        if q.residential.load_profile == "simbench" and res_cols:
            peak_pv[res_cols] = [specs[j].pv_kwp for j in res_cols]  # SimBench: PV_p × installed power
        i_school = next(j for j, s in enumerate(specs) if s.role == "school")
        peak_pv[i_school] += float(res.timeseries.pv_kw.max())
        for case, f in lc.iterrows():
            qn = qgrid.build_quarter_net(q.grid.code, buildings, q.grid.v_min_pu, q.grid.v_max_pu,
                                         q.grid.loading_max_pct, float(f["Slack_vm"]))
            load = (peak_load * float(f["pload"]))[None, :] / 1000.0
            gen = (peak_pv * float(f["PV_p"]))[None, :] / 1000.0
            pf = qgrid.powerflow_fast(qn, load, gen)
            rows.append(_case_row(f"simbench-{case}", qn, pf, float(f["Slack_vm"]), 1, "snapshot"))
    out = pd.DataFrame(rows)
    m = out[["margin_undervoltage_pu", "margin_overvoltage_pu"]].min(axis=1).to_numpy()
    m = np.minimum(m, out.margin_loading_pct.to_numpy() / 100.0)
    out["margin_min"] = m
    out["binding"] = False
    out.loc[int(np.argmin(m)), "binding"] = True
    return out
