"""``h2q optimise``: plan the dispatch of a site and write ``schedule.csv`` and ``summary.json``."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer

from h2quarters.cli import app
from h2quarters.config import ConfigError, ScenarioError, load_scenario, load_yaml_model

MODES = ("day-ahead", "mpc", "annual", "stochastic")


def _jsonable(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):
        return obj.item()  # numpy scalars
    return obj


@app.command()
def optimise(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory (with scenario.yaml) or YAML file.")],
    start: Annotated[str, typer.Option(help="First day, e.g. 2025-06-02 (local time of the site).")],
    days: Annotated[int, typer.Option(min=1, max=366, help="Number of days to plan/execute.")] = 2,
    mode: Annotated[str, typer.Option(help="day-ahead | mpc | annual | stochastic")] = "day-ahead",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/optimise"),
    step: Annotated[str | None, typer.Option(help="15min or 1h; default 1h for annual, else 15min.")] = None,
    settings: Annotated[Path | None, typer.Option(help="YAML file with optimiser settings (OptSettings).")] = None,
    gap: Annotated[float | None, typer.Option(help="HiGHS relative MIP gap (overrides settings).")] = None,
) -> None:
    """Optimise the dispatch of SCENARIO and write ``schedule.csv`` (inputs and every decision per step,
    units in column names) and ``summary.json`` (objective and its parts, solver status, gap, timings).

    Modes: ``day-ahead`` one MILP over DAYS; ``mpc`` rolling MPC (one persistent model, re-planned every
    step) executed for DAYS; ``annual`` monolithic and rolling-with-overlap plans over DAYS, compared;
    ``stochastic`` two-stage P10/P50/P90 MPC against the deterministic MPC on the same realised PV.
    """
    import pandas as pd
    from pydantic import ValidationError

    from h2quarters.opt.settings import OptSettings

    if mode not in MODES:
        typer.echo(f"--mode: value '{mode}' not allowed; choose one of {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    if step is not None and step not in ("15min", "1h"):
        typer.echo(f"--step: value '{step}' not allowed; choose 15min or 1h", err=True)
        raise typer.Exit(2)
    try:
        scn = load_scenario(scenario)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    try:
        opt = load_yaml_model(settings, OptSettings) if settings else OptSettings()
        if gap is not None:
            opt = opt.model_copy(update={"mip_rel_gap": OptSettings(mip_rel_gap=gap).mip_rel_gap})
    except (ConfigError, ValidationError) as exc:
        typer.echo(f"optimiser settings: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        t_start = pd.Timestamp(start)
    except ValueError:
        typer.echo(f"--start: '{start}' is not a date (use YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None

    from h2quarters.opt.annual import compare_monolithic_rolling, pad_inputs
    from h2quarters.opt.model import initial_state_from_plant
    from h2quarters.opt.mpc import run_closed_loop
    from h2quarters.opt.plan import plan
    from h2quarters.opt.plant import PlantParams
    from h2quarters.opt.stochastic import compare_stochastic
    from h2quarters.sim.inputs import site_inputs

    freq = step or ("1h" if mode == "annual" else "15min")
    dt_h = 1.0 if freq == "1h" else 0.25
    t0 = time.perf_counter()
    plant = PlantParams.from_scenario(scn, opt)
    t_plant = time.perf_counter() - t0
    n_run = round(days * 24 / dt_h)
    n_h = round(opt.mpc_horizon_h / dt_h)
    end = t_start + pd.Timedelta(days=days)
    extra = pd.Timedelta(hours=opt.mpc_horizon_h) if mode in ("mpc", "stochastic") else pd.Timedelta(0)
    with warnings.catch_warnings():  # demandlib switches warnings to errors globally; keep that local
        inputs = site_inputs(scn, t_start, end + extra, freq)
        if mode == "stochastic":
            # day-ahead persistence needs the day before the start
            before = site_inputs(scn, t_start - pd.Timedelta(days=1), t_start, freq)
            inputs = pd.concat([before, inputs])
    if len(inputs) < n_run:
        inputs = pad_inputs(inputs, n_run - len(inputs))
    summary: dict = {"scenario": scn.name, "mode": mode, "start": str(t_start), "days": days,
                     "step": freq, "plant_from_models_s": t_plant, "settings": opt.model_dump()}
    state = initial_state_from_plant(plant)
    if mode == "day-ahead":
        res = plan(plant, inputs.iloc[:n_run], opt, state)
        schedule = res.schedule
        summary.update({**res.summary, "mode": mode})
        messages = res.messages
    elif mode == "mpc":
        inputs = pad_inputs(inputs, n_run + n_h - len(inputs))
        cl = run_closed_loop(plant, inputs, n_run, opt, state=state, n_horizon=n_h)
        schedule = cl.realised
        tt = pd.DataFrame([t.__dict__ for t in cl.timings])
        summary.update({"net_cost_eur": cl.net_cost_eur(opt, state.m_tank_kg, state.e_battery_kwh),
                        "energy_cost_eur": float(schedule.cost_eur.sum()),
                        "startup_cost_eur": float(schedule.startup_cost_eur.sum()),
                        "co2_kg": float(schedule.co2_kg.sum()), "n_replans": len(cl.timings),
                        "horizon_steps": n_h, "build_s": cl.build_s,
                        "median_replan_s": float((tt.update_s + tt.solve_s + tt.extract_s).median()),
                        "median_highs_s": float(tt.highs_s.median()),
                        "h2_produced_kg": float(schedule.ely_h2_kg.sum())})
        messages = []
    elif mode == "annual":
        mono, roll, cmp = compare_monolithic_rolling(plant, inputs.iloc[:n_run], opt, state)
        schedule = mono.schedule
        roll.realised.to_csv(_prep(out) / "schedule_rolling.csv", float_format="%.9g")
        summary.update({**mono.summary, "mode": mode})
        summary["comparison"] = cmp
        messages = mono.messages
    else:
        n_day = round(24 / dt_h)
        full = pad_inputs(inputs, n_day + n_run + n_h - len(inputs))
        cap = sum(a.p_kwp / a.dc_ac_ratio for a in scn.pv) or None
        sto, det, cmp = compare_stochastic(plant, full, n_run, opt, state, p_cap_kw=cap, n_horizon=n_h,
                                           n_history=n_day)
        schedule = sto.realised
        det.realised.to_csv(_prep(out) / "schedule_deterministic.csv", float_format="%.9g")
        summary.update(cmp)
        messages = []
    summary["messages"] = messages
    summary["total_s"] = time.perf_counter() - t0
    _prep(out)
    schedule.to_csv(out / "schedule.csv", float_format="%.9g", index_label="time")
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2, ensure_ascii=False), "utf-8")
    for msg in messages:
        typer.echo(f"NOT MET: {msg}", err=True)
    key = {"day-ahead": "objective", "annual": "objective", "mpc": "net_cost_eur",
           "stochastic": "stochastic_net_cost_eur"}[mode]
    typer.echo(f"{mode}: {key} = {summary.get(key, float('nan')):.4f}; wrote {out / 'schedule.csv'} and "
               f"{out / 'summary.json'} ({summary['total_s']:.1f} s)")


def _prep(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out
