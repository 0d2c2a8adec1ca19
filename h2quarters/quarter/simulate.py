"""Annual simulation of the quarter: hydrogen dispatch, backup, supply chain, then a power flow every step.

Steps
-----
1. Buildings and profiles (:mod:`h2quarters.quarter.buildings`) on the calendar year.
2. The hydrogen site (school PV + electrolyser + tank, Stadtteilzentrum fuel cell) is simulated by the
   physical simulator :func:`h2quarters.sim.annual.simulate`; its load is the school's and the
   Stadtteilzentrum's electricity, its heat demand the Stadtteilzentrum's; the dispatch comes from the
   rolling-horizon optimiser (:class:`h2quarters.sim.mpc_dispatch.MPCDispatcher`) or, as an explicit
   option, from the rule-based dispatcher.
3. The Stadtteilzentrum's heat not covered by the fuel cell comes from the backup (heat pump: electricity at
   COP(T_air); or gas boiler).
4. Each building's consumption and generation go to the grid; lightsim2grid solves every step, pandapower
   ``runpp`` re-solves sampled steps as a check.
5. Supply chain and KPIs.

Per-step balances (checked by tests):

* hydrogen site: :func:`h2quarters.sim.annual.balance_residuals` (electricity and H2 mass);
* the school and the Stadtteilzentrum together exchange with the grid exactly the site's net import/export;
* heat at the Stadtteilzentrum: ``demand = fuel-cell heat used + backup``;
* grid: ``P_MV = Σ consumption − Σ generation + losses`` with losses summed over branches independently.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from h2quarters.config.scenario import Scenario
from h2quarters.models.pv import site_pv_kw
from h2quarters.models.storage import HydrogenTank
from h2quarters.models.weather import load_weather
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings
from h2quarters.quarter import grid as qgrid
from h2quarters.quarter.checks import check_quarter
from h2quarters.quarter.buildings import (
    BuildingProfiles,
    BuildingSpec,
    building_profiles,
    building_table,
)
from h2quarters.quarter.config import Quarter, load_quarter
from h2quarters.quarter.h2site import hydrogen_scenario
from h2quarters.quarter.kpis import annualise_factor, quarter_kpis
from h2quarters.quarter.meters import MeterDispatcher, MeterInputs, TrailerPlan
from h2quarters.quarter.stress import grid_stress
from h2quarters.quarter.supply import supply_chain, working_steps
from h2quarters.sim.annual import SimulationResult, simulate
from h2quarters.sim.dispatch import RuleDispatcher
from h2quarters.sim.inputs import INPUT_COLUMNS, hydrogen_demand_kg, year_index
from h2quarters.sim.mpc_dispatch import MPCDispatcher


def heat_pump_cop(t_air_c: np.ndarray, eta_carnot: float, t_supply_c: float, cop_min: float, cop_max: float
                  ) -> np.ndarray:
    """COP of an air-to-water heat pump: ``eta_carnot · T_supply / (T_supply − T_air)`` (K), clipped.

    References
    ----------
    VDI 4650-1:2019 (seasonal performance of heat pumps); Carnot efficiency factors of 0.4–0.5 are typical
    for air-source units (e.g. Ruhnau et al. (2019), Sci. Data 6:189, "when2heat").
    """
    t_sup_k = t_supply_c + 273.15
    lift = np.maximum(t_supply_c - np.asarray(t_air_c, float), 5.0)  # avoid the Carnot singularity
    return np.clip(eta_carnot * t_sup_k / lift, cop_min, cop_max)


@dataclass
class QuarterResult:
    """Everything a quarter run produced."""

    quarter: Quarter
    scenario: Scenario
    specs: list[BuildingSpec]
    profiles: BuildingProfiles
    site: SimulationResult
    timeseries: pd.DataFrame
    building_load_kw: np.ndarray
    building_gen_kw: np.ndarray
    qnet: qgrid.QuarterNet
    powerflow: qgrid.PowerFlowResult
    violations: dict
    supply: dict
    kpis: dict
    check: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)
    stress: pd.DataFrame | None = None
    dispatch_plans: list = field(default_factory=list)  # (first step, plan arrays) of the quarter's optimiser
    dispatch_orders: list = field(default_factory=list)  # (step ordered, step due) of the bundle ordering policy

    @property
    def dt_h(self) -> float:
        """Step length (h)."""
        return self.site.dt_h


def _weather(q: Quarter, freq: str) -> pd.DataFrame:
    w = load_weather(q.weather.source, q.year, q.location.tz, q.resolve(q.weather.path) if q.weather.path else None)
    idx = year_index(q.year, freq, q.location.tz)
    return w.reindex(idx, method="ffill") if freq != "1h" else w.reindex(idx)


def optimiser_dispatcher(q: Quarter, scn: Scenario, inputs: pd.DataFrame) -> MPCDispatcher:
    """The project's rolling-horizon MPC dispatcher (:class:`h2quarters.sim.mpc_dispatch.MPCDispatcher`) set
    up for the quarter: a ``window_h`` plan re-made every ``commit_h`` hours from the measured state.

    The Stadtteilzentrum's heat reaches the optimiser through the input table (the hydrogen site has no heat
    loads of its own), so the plant gets a heat balance whenever that column holds demand.
    """
    dt_h = (inputs.index[1] - inputs.index[0]).total_seconds() / 3600.0
    settings = OptSettings(mpc_horizon_h=float(q.dispatch.window_h), mpc_replan_steps=max(1, round(
        q.dispatch.commit_h / dt_h)), mip_rel_gap=q.dispatch.mip_rel_gap, time_limit_s=60.0)
    plant = PlantParams.from_scenario(scn, settings)
    if bool((inputs["heat_kw"] > 0).any()) and not plant.has_heat_demand:
        plant = plant.with_(has_heat_demand=True)
    return MPCDispatcher(scn, settings, plant)


def meter_dispatcher(q: Quarter, scn: Scenario, inputs: pd.DataFrame, prof: BuildingProfiles, sel: np.ndarray,
                     i_school: int, i_stz: int) -> MeterDispatcher:
    """The quarter's own dispatch: one meter per building (or a shared one, ``metering``), see
    :mod:`h2quarters.quarter.meters`."""
    dt_h = (inputs.index[1] - inputs.index[0]).total_seconds() / 3600.0
    d = q.dispatch
    settings = OptSettings(mip_rel_gap=d.mip_rel_gap, mpc_mip_rel_gap=d.mip_rel_gap,
                           mpc_mip_abs_gap=d.mip_abs_gap_eur, mpc_max_nodes=d.max_nodes)
    plant = PlantParams.from_scenario(scn, settings)
    hp = q.backup.heat_pump
    cop = heat_pump_cop(inputs.t_air_c.to_numpy(), hp.eta_carnot, hp.t_supply_c, hp.cop_min, hp.cop_max)
    t = scn.tariffs
    mi = MeterInputs(school_load_kw=prof.load_kw[sel, i_school], stz_load_kw=prof.load_kw[sel, i_stz],
                     pv_kw=inputs.pv_kw.to_numpy(), heat_kw=prof.heat_kw[sel, i_stz], cop=cop,
                     price=inputs.import_eur_per_kwh.to_numpy(), feed=inputs.feed_in_eur_per_kwh.to_numpy(),
                     gas_eur_per_kwh=float(t.gas_eur_per_kwh), boiler_eta=q.backup.boiler_eta)
    trailer = None
    if q.supply.mode == "trailer":
        tr = q.supply.trailer
        assert tr is not None
        trailer = TrailerPlan(payload_kg=tr.payload_kg, cap_kg=tr.stz_buffer_kg,
                              working=working_steps(inputs.index, len(inputs.index), tr),
                              lead_steps=round(tr.lead_time_h / dt_h),
                              # every kg the fuel cell uses travels once, so a trip's cost is paid per kg in the
                              # long run; inside a 48-h window a full trip cost would starve the fuel cell
                              # (hydrogen is valued the same at both ends), so it only breaks ties here
                              eur_per_trip=0.01, ordering=tr.ordering)
    return MeterDispatcher(plant, settings, mi, dt_h, max(2, round(q.dispatch.window_h / dt_h)),
                           max(1, round(q.dispatch.commit_h / dt_h)), q.metering, q.backup.heat, trailer,
                           warm_start=d.warm_start, lp_first=d.lp_first)


_PROFILE_CACHE: dict[str, tuple] = {}


def _profiles(q: Quarter) -> tuple[pd.DataFrame, list[BuildingSpec], BuildingProfiles]:
    """Weather, building table and profiles, cached per quarter content in this process.

    They do not depend on a variant's sizes, so a Dask worker computes them once for all its variants.
    """
    key = q.model_dump_json() + str(q.base_dir)
    if key not in _PROFILE_CACHE:
        weather = _weather(q, q.step)
        specs = building_table(q, qgrid.connection_buses(q.grid.code))
        _PROFILE_CACHE.clear()  # one quarter at a time is enough; keeps worker memory flat
        _PROFILE_CACHE[key] = (weather, specs, building_profiles(q, specs, weather.index, weather))
    return _PROFILE_CACHE[key]


def simulate_quarter(q: Quarter | str | Path, overrides: dict[str, float] | None = None,
                     start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
                     dispatch: str | None = None, check_steps: int = 24, powerflow: bool = True,
                     stress: bool = True) -> QuarterResult:
    """Simulate the quarter over its year (or ``[start, end)`` within it).

    Parameters
    ----------
    q : Quarter or path
        The quarter, or a directory/file to load it from.
    overrides : dict, optional
        Variant sizes ``pv_kwp``, ``electrolyser_kw``, ``tank_kg`` (see :mod:`h2quarters.quarter.h2site`).
    start, end : str or Timestamp, optional
        A sub-period of the quarter's year (naive values in local time).
    dispatch : {"optimiser", "rule"}, optional
        Override ``q.dispatch.method``.
    check_steps : int
        Number of evenly spaced steps re-solved with pandapower ``runpp`` to check the fast path (0 = none).
    powerflow : bool
        Run the grid power flows (True) or skip them (only for quick hydrogen-side studies).
    stress : bool
        Also run the grid stress cases (:func:`h2quarters.quarter.stress.grid_stress`; needs ``powerflow``).

    Returns
    -------
    QuarterResult
    """
    t_all = time.perf_counter()
    if not isinstance(q, Quarter):
        q = load_quarter(q)
    check_quarter(q)  # grid code, buses, hydrogen site: seconds, before the dispatch's minutes
    overrides = dict(overrides or {})
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scn = hydrogen_scenario(q, overrides)
    freq = q.step
    weather, specs, prof = _profiles(q)
    index = weather.index
    pv_site = site_pv_kw(weather, scn.pv, scn.location).to_numpy(float)
    i_school = next(j for j, s in enumerate(specs) if s.role == "school")
    i_stz = next(j for j, s in enumerate(specs) if s.role == "stz")
    timings["profiles_s"] = time.perf_counter() - t0

    tz = q.location.tz
    sel = np.ones(len(index), bool)
    if start is not None:
        sel &= index >= _aware(start, tz)
    if end is not None:
        sel &= index < _aware(end, tz)
    if sel.sum() < 2:
        raise ValueError(f"period [{start}, {end}) holds fewer than two steps of the year {q.year}")
    idx = index[sel]
    idx.freq = freq

    inputs = pd.DataFrame(index=idx)
    inputs["pv_kw"] = pv_site[sel]
    inputs["load_kw"] = prof.load_kw[sel, i_school] + prof.load_kw[sel, i_stz]
    inputs["heat_kw"] = prof.heat_kw[sel, i_stz]
    t = scn.tariffs
    for col, val in (("import_eur_per_kwh", t.import_eur_per_kwh), ("co2_g_per_kwh", t.co2_g_per_kwh)):
        if not isinstance(val, (int, float)):
            raise ValueError(  # noqa: TRY004 (a configuration error, reported like all others)
                f"hydrogen site tariffs.{col}: the quarter model takes a constant, not a series")
        inputs[col] = float(val)
    inputs["feed_in_eur_per_kwh"] = float(t.feed_in_eur_per_kwh)
    inputs["h2_demand_kg"] = hydrogen_demand_kg(scn.hydrogen_demand, idx, scn)
    inputs["t_air_c"] = prof.t_air_c[sel]
    inputs["ghi_w_m2"] = weather["ghi_w_m2"].to_numpy()[sel] if "ghi_w_m2" in weather else 0.0
    inputs = inputs[INPUT_COLUMNS]
    inputs.index.name = "time"

    method = dispatch or q.dispatch.method
    t0 = time.perf_counter()
    if method == "optimiser":
        dispatcher = meter_dispatcher(q, scn, inputs, prof, sel, i_school, i_stz)
    elif method == "site_mpc":
        if q.metering != "shared":
            raise ValueError("dispatch 'site_mpc' plans one grid connection: it needs metering: shared "
                             "(use 'optimiser' for per-building meters)")
        dispatcher = optimiser_dispatcher(q, scn, inputs)
    elif method == "rule":
        dispatcher = RuleDispatcher(scn)
    else:
        raise ValueError(f"dispatch '{method}' unknown: choose 'optimiser', 'site_mpc' or 'rule'")
    site = simulate(scn, dispatcher=dispatcher, inputs=inputs)
    timings["dispatch_and_physics_s"] = time.perf_counter() - t0
    timings["optimiser_solves"] = float(len(getattr(dispatcher, "solve_times_s", [])))
    ts = site.timeseries

    # --- Stadtteilzentrum heat backup ---
    heat_backup = ts.heat_backup_kw.to_numpy()
    bk = q.backup
    hp = bk.heat_pump
    cop_ref = heat_pump_cop(inputs.t_air_c.to_numpy(), hp.eta_carnot, hp.t_supply_c, hp.cop_min, hp.cop_max)
    if bk.heat == "heat_pump":
        cop = cop_ref
        hp_el = heat_backup / cop
        gas = np.zeros_like(heat_backup)
    else:
        cop = np.full_like(heat_backup, np.nan)
        hp_el = np.zeros_like(heat_backup)
        gas = heat_backup / bk.boiler_eta

    # --- every building's consumption and generation (kW) ---
    load_b = prof.load_kw[sel].copy()
    gen_b = prof.pv_kw[sel].copy()
    load_b[:, i_school] += ts.ely_kw.to_numpy() + ts.compressor_kw.to_numpy() + ts.battery_charge_kw.to_numpy()
    gen_b[:, i_school] += ts.pv_used_kw.to_numpy() + ts.battery_discharge_kw.to_numpy()
    load_b[:, i_stz] += hp_el
    gen_b[:, i_stz] += ts.fc_kw.to_numpy()

    extra = pd.DataFrame({
        "school_load_kw": prof.load_kw[sel, i_school], "stz_load_kw": prof.load_kw[sel, i_stz],
        "stz_heat_kw": prof.heat_kw[sel, i_stz], "stz_heat_pump_kw": hp_el, "stz_heat_pump_cop": cop,
        "stz_backup_gas_kw": gas, "stz_heat_pump_cop_ref": cop_ref,
        "school_net_kw": load_b[:, i_school] - gen_b[:, i_school], "stz_net_kw": load_b[:, i_stz] - gen_b[:, i_stz],
        "residential_load_kw": np.delete(prof.load_kw[sel], [i_school, i_stz], axis=1).sum(axis=1),
        "residential_pv_kw": np.delete(prof.pv_kw[sel], [i_school, i_stz], axis=1).sum(axis=1),
        "residential_heat_kw": np.delete(prof.heat_kw[sel], [i_school, i_stz], axis=1).sum(axis=1),
        "quarter_load_kw": load_b.sum(axis=1), "quarter_gen_kw": gen_b.sum(axis=1),
    }, index=idx)
    tsq = pd.concat([ts, extra], axis=1)

    # --- grid ---
    qnet = qgrid.build_quarter_net(q.grid.code, [(s.name, s.bus, s.cos_phi) for s in specs], q.grid.v_min_pu,
                                   q.grid.v_max_pu, q.grid.loading_max_pct, q.grid.ext_grid_vm_pu)
    check: dict = {}
    if powerflow:
        t0 = time.perf_counter()
        pf = qgrid.powerflow_fast(qnet, load_b / 1000.0, gen_b / 1000.0, idx)
        timings["powerflow_fast_s"] = time.perf_counter() - t0
        if check_steps > 0:
            steps = np.unique(np.linspace(0, len(idx) - 1, min(check_steps, len(idx))).round().astype(int))
            # also the steps with the lowest voltage and the highest transformer loading
            steps = np.unique(np.concatenate([steps, [int(pf.vm_pu.min(axis=1).argmin()),
                                                      int(pf.trafo_loading_pct.max(axis=1).argmax())]]))
            ref = qgrid.powerflow_runpp(qnet, load_b / 1000.0, gen_b / 1000.0, steps)
            check = {"steps": steps.tolist(), "max_abs_dvm_pu": float(np.abs(pf.vm_pu[steps] - ref.vm_pu).max()),
                     "max_abs_dva_degree": float(np.abs(pf.va_degree[steps] - ref.va_degree).max()),
                     "max_abs_dline_loading_pct": float(np.abs(pf.line_loading_pct[steps]
                                                               - ref.line_loading_pct).max()),
                     "max_abs_dtrafo_loading_pct": float(np.abs(pf.trafo_loading_pct[steps]
                                                                - ref.trafo_loading_pct).max()),
                     "runpp_s": ref.runtime_s}
        viol = qgrid.violations(qnet, pf)
        viol["losses_mwh"] = float(pf.losses_mw.sum() * site.dt_h)
        tsq["grid_mv_import_kw"] = np.maximum(pf.p_slack_mw, 0.0) * 1000.0
        tsq["grid_mv_export_kw"] = np.maximum(-pf.p_slack_mw, 0.0) * 1000.0
        tsq["grid_losses_kw"] = pf.losses_mw * 1000.0
        tsq["grid_v_min_pu"] = pf.vm_pu[:, (qnet.net.bus.vn_kv < 1.0).to_numpy()].min(axis=1)
        tsq["grid_v_max_pu"] = pf.vm_pu[:, (qnet.net.bus.vn_kv < 1.0).to_numpy()].max(axis=1)
        tsq["grid_line_loading_max_pct"] = pf.line_loading_pct.max(axis=1)
        tsq["grid_trafo_loading_pct"] = pf.trafo_loading_pct.max(axis=1)
    else:
        n = len(idx)
        pf = qgrid.PowerFlowResult(idx, np.full((n, 0), np.nan), np.full((n, 0), np.nan), np.zeros((n, 0)),
                                   np.zeros((n, 0)), np.zeros((n, 0)), np.zeros(n), np.zeros(n), np.zeros(n),
                                   method="skipped")
        viol = {"skipped": True}
        net_q = load_b.sum(axis=1) - gen_b.sum(axis=1)
        tsq["grid_mv_import_kw"] = np.maximum(net_q, 0.0)
        tsq["grid_mv_export_kw"] = np.maximum(-net_q, 0.0)
        tsq["grid_losses_kw"] = 0.0

    annualise = annualise_factor(len(idx) * site.dt_h)
    pool = ts.tank_m_kg.to_numpy() - HydrogenTank(scn.storage).m_min_kg
    planned = getattr(dispatcher, "deliveries", None) if getattr(dispatcher, "trailer", None) else None
    sup = supply_chain(ts.fc_h2_kg.to_numpy(), site.dt_h, q.supply, annualise, scn.costs.discount_rate,
                       index=idx, pool_usable_kg=pool, deliveries=planned,
                       pool_start_kg=site.m_tank_start_kg - HydrogenTank(scn.storage).m_min_kg)
    if "buffer_kg" in sup:
        tsq["stz_h2_buffer_kg"] = sup["buffer_kg"]
        tsq["trailer_trips"] = sup["trips_per_step"]
    timings["total_s"] = time.perf_counter() - t_all
    res = QuarterResult(quarter=q, scenario=scn, specs=specs, profiles=prof, site=site, timeseries=tsq,
                        building_load_kw=load_b, building_gen_kw=gen_b, qnet=qnet, powerflow=pf, violations=viol,
                        supply=sup, kpis={}, check=check, timings_s=timings, overrides=overrides)
    if powerflow and stress:
        t0 = time.perf_counter()
        res.stress = grid_stress(res)
        res.timings_s["grid_stress_s"] = time.perf_counter() - t0
    res.dispatch_plans = list(getattr(dispatcher, "plans", []))
    res.dispatch_orders = list(getattr(dispatcher, "orders", []))
    res.kpis = quarter_kpis(res)
    res.timings_s["total_s"] = time.perf_counter() - t_all
    res.kpis["runtime_s"] = res.timings_s
    return res


def _aware(t: str | pd.Timestamp, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _json_default(o: object) -> object:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp, Path)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def save_result(res: QuarterResult, out: str | Path) -> dict[str, Path]:
    """Write time series (CSV), grid results (CSV), KPIs (JSON) into ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"timeseries": out / "quarter_timeseries.csv", "kpis": out / "kpis.json",
             "buildings": out / "buildings.csv"}
    res.timeseries.to_csv(paths["timeseries"], float_format="%.6g")
    pd.DataFrame([s.__dict__ for s in res.specs]).to_csv(paths["buildings"], index=False)
    if res.powerflow.vm_pu.size:
        net = res.qnet.net
        paths["bus_vm"] = out / "grid_bus_vm_pu.csv"
        pd.DataFrame(res.powerflow.vm_pu, index=res.timeseries.index, columns=net.bus.name).to_csv(
            paths["bus_vm"], float_format="%.6f")
        paths["line_loading"] = out / "grid_line_loading_pct.csv"
        pd.DataFrame(res.powerflow.line_loading_pct, index=res.timeseries.index, columns=net.line.name).to_csv(
            paths["line_loading"], float_format="%.4f")
    if res.stress is not None:
        paths["grid_stress"] = out / "grid_stress_cases.csv"
        res.stress.to_csv(paths["grid_stress"], index=False, float_format="%.6g")
    with paths["kpis"].open("w", encoding="utf-8") as fh:
        json.dump({"kpis": res.kpis, "violations": res.violations, "fast_path_check": res.check,
                   "supply": {k: v for k, v in res.supply.items() if k not in ("trips_per_step", "buffer_kg")},
                   "overrides": res.overrides}, fh, indent=2, default=_json_default)
    return paths
