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

EXIT_OK = 0
"""Every plan optimal within its gap and every requirement met."""
EXIT_USAGE = 2
"""Bad option, setting, scenario or date (nothing written)."""
EXIT_LIMIT = 3
"""A plan was stopped by the time limit (or an MPC re-plan by its work limit); the best plan found is kept."""
EXIT_UNMET = 4
"""Requirements not met: hydrogen demand, electrical load or tank limits (the lines say which, by how much)."""
EXIT_NO_PLAN = 5
"""No plan at all (the time limit was reached before HiGHS found one)."""

# pandas' nanosecond timestamps end here; keep a margin for the horizon and the day before the start
_FIRST_DAY = "1678-01-01"
_LAST_DAY_END = "2262-01-01"  # inputs are built per calendar year; 2262 does not fit


def _fail(msg: str, code: int) -> typer.Exit:
    typer.echo(msg, err=True)
    return typer.Exit(code)


def _limit_line(status: str, gap: float, what: str, limit: str) -> str | None:
    """One line for a plan stopped by a limit, None if it is optimal within its gap."""
    if status.startswith("time_limit"):
        return f"TIME LIMIT: {what} stopped at {limit}; best plan kept (gap {100 * gap:.3g} %)"
    if status.startswith("work_limit"):
        return f"WORK LIMIT: {what} stopped at its node limit; best plan kept (gap {100 * gap:.3g} %)"
    return None


def _weather_note(scn, t0, t1) -> dict:
    years = list(range(t0.year, t1.year + 1))
    src = scn.weather.source
    kind = {"try_kassel": "typical reference year (DWD TRY2010 Kassel)",
            "pvgis_tmy": "typical meteorological year (PVGIS TMY)"}.get(src, "weather file")
    return {"source": src, "laid_on_years": years,
            "note": f"{kind} laid on the calendar of {', '.join(map(str, years))}: PV, temperatures and heat "
                    f"demand are not the real weather of these dates"}


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
    from h2quarters.config.loader import parse_yaml_model

    try:
        opt = load_yaml_model(settings, OptSettings) if settings else OptSettings()
        if gap is not None:
            checked = parse_yaml_model(f"mip_rel_gap: {gap!r}", OptSettings, source="--gap")
            opt = opt.model_copy(update={"mip_rel_gap": checked.mip_rel_gap})
    except ConfigError as exc:
        raise _fail(f"optimiser settings: {exc}", EXIT_USAGE) from None
    except ValidationError as exc:  # (a settings file is checked by the loader; this is a last guard)
        raise _fail(f"optimiser settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", EXIT_USAGE) from None
    try:
        t_start = pd.Timestamp(start)
        if pd.isna(t_start):
            raise ValueError(start)
    except (ValueError, OverflowError):
        t_start = None
    # the inputs reach past the last day by the MPC horizon (and a day of margin)
    last_start = pd.Timestamp(_LAST_DAY_END) - pd.Timedelta(days=days + 1) - pd.Timedelta(hours=opt.mpc_horizon_h)
    if t_start is None:
        raise _fail(f"--start: '{start}' is not a date from {_FIRST_DAY} to {last_start.date()} (use YYYY-MM-DD)",
                    EXIT_USAGE)
    if not pd.Timestamp(_FIRST_DAY) <= t_start.tz_localize(None) <= last_start:
        raise _fail(f"--start: {t_start.date()} with --days {days} lies outside the dates this tool can handle "
                    f"({_FIRST_DAY} to {last_start.date()}; pandas' timestamps end in April 2262 and inputs are built per calendar year)", EXIT_USAGE)

    from h2quarters.opt.annual import compare_monolithic_rolling, pad_inputs
    from h2quarters.opt.model import initial_state_from_plant
    from h2quarters.opt.mpc import run_closed_loop
    from h2quarters.opt.plan import plan
    from h2quarters.opt.plant import PlantParams
    from h2quarters.opt.results import explain
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
    try:
        with warnings.catch_warnings():  # demandlib switches warnings to errors globally; keep that local
            inputs = site_inputs(scn, t_start, end + extra, freq)
            if mode == "stochastic":
                # day-ahead persistence needs the day before the start
                before = site_inputs(scn, t_start - pd.Timedelta(days=1), t_start, freq)
                inputs = pd.concat([before, inputs])
    except (ValueError, OSError) as exc:
        raise _fail(f"inputs for {t_start.date()} + {days} days: {exc}", EXIT_USAGE) from None
    if len(inputs) < n_run:
        inputs = pad_inputs(inputs, n_run - len(inputs))
    summary: dict = {"scenario": scn.name, "mode": mode, "start": str(t_start), "days": days,
                     "step": freq, "plant_from_models_s": t_plant, "settings": opt.model_dump()}
    summary["weather"] = _weather_note(scn, inputs.index[0], inputs.index[-1])
    state = initial_state_from_plant(plant)
    limits: list[str] = []
    one_shot = f"time_limit_s = {opt.time_limit_s:g} s"
    try:
        if mode == "day-ahead":
            res = plan(plant, inputs.iloc[:n_run], opt, state)
            schedule = res.schedule
            summary.update({**res.summary, "mode": mode})
            messages = res.messages
            limits.append(_limit_line(res.info.status, res.info.mip_gap, "the plan", one_shot))
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
                            "median_highs_s": float(tt.highs_s.median()),
                            "h2_produced_kg": float(schedule.ely_h2_kg.sum())})
            summary["replans"] = cl.replan_stats()
            summary["median_replan_s"] = summary["replans"]["median_replan_s"]
            messages = explain(schedule, plant, dt_h)
            limits += _mpc_limit_lines(cl, opt, "MPC")
        elif mode == "annual":
            mono, roll, cmp = compare_monolithic_rolling(plant, inputs.iloc[:n_run], opt, state)
            schedule = mono.schedule
            roll.realised.to_csv(_prep(out) / "schedule_rolling.csv", float_format="%.9g")
            summary.update({**mono.summary, "mode": mode})
            summary["comparison"] = cmp
            messages = mono.messages
            limits.append(_limit_line(mono.info.status, mono.info.mip_gap, "the monolithic plan", one_shot))
        else:
            n_day = round(24 / dt_h)
            full = pad_inputs(inputs, n_day + n_run + n_h - len(inputs))
            cap = sum(a.p_kwp / a.dc_ac_ratio for a in scn.pv) or None
            sto, det, cmp = compare_stochastic(plant, full, n_run, opt, state, p_cap_kw=cap, n_horizon=n_h,
                                               n_history=n_day)
            schedule = sto.realised
            det.realised.to_csv(_prep(out) / "schedule_deterministic.csv", float_format="%.9g")
            summary.update(cmp)
            summary["replans"] = {"stochastic": sto.replan_stats(), "deterministic": det.replan_stats()}
            messages = explain(schedule, plant, dt_h)
            limits += _mpc_limit_lines(sto, opt, "stochastic MPC") + _mpc_limit_lines(det, opt, "deterministic MPC")
    except RuntimeError as exc:
        if "time_limit" in str(exc) or "work_limit" in str(exc):
            raise _fail(f"NO PLAN: HiGHS reached its limit ({one_shot}) before it found any plan; raise "
                        f"time_limit_s in the optimiser settings. Nothing written.", EXIT_NO_PLAN) from None
        raise _fail(f"NO PLAN: {exc}. Nothing written.", EXIT_NO_PLAN) from None
    except ValueError as exc:
        raise _fail(f"h2q optimise: {exc}. Nothing written.", EXIT_USAGE) from None
    limits = [x for x in limits if x]
    summary["messages"] = messages
    summary["limits"] = limits
    summary["total_s"] = time.perf_counter() - t0
    _prep(out)
    schedule.to_csv(out / "schedule.csv", float_format="%.9g", index_label="time")
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2, ensure_ascii=False), "utf-8")
    key = {"day-ahead": "objective", "annual": "objective", "mpc": "net_cost_eur",
           "stochastic": "stochastic_net_cost_eur"}[mode]
    typer.echo(f"{mode}: {key} = {summary.get(key, float('nan')):.4f}; wrote {out / 'schedule.csv'} and "
               f"{out / 'summary.json'} ({summary['total_s']:.1f} s)")
    for line in limits:
        typer.echo(line, err=True)
    for msg in messages:
        typer.echo(f"NOT MET: {msg}", err=True)
    if messages:
        raise typer.Exit(EXIT_UNMET)
    if limits:
        raise typer.Exit(EXIT_LIMIT)


def _mpc_limit_lines(cl, opt, what: str) -> list[str]:
    """Lines for MPC plans stopped by a limit (empty if every plan reached its gap)."""
    st = cl.replan_stats()
    gap = f"worst gap {100 * st['worst_gap']:.3g} %" if math.isfinite(st["worst_gap"]) else \
        "worst gap unknown: a limit fired before HiGHS proved any bound"
    out = []
    if st["n_capped"]:
        out.append(f"TIME LIMIT: {st['n_capped']} of {st['n_replans']} {what} plans stopped at the wall-clock "
                   f"safety (mpc_time_limit_s = {opt.mpc_time_limit_s:g} s, first plan time_limit_s = "
                   f"{opt.time_limit_s:g} s); best plans kept ({gap})")
    if st["n_work_limited"]:
        out.append(f"WORK LIMIT: {st['n_work_limited']} of {st['n_replans']} {what} re-plans stopped at "
                   f"mpc_max_nodes = {opt.mpc_max_nodes}; best plans kept ({gap})")
    return out


def _prep(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out
