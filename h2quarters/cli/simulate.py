"""``h2q simulate``: run a site over a year and write its time series and KPIs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from h2quarters.cli import app
from h2quarters.config import ConfigError, Scenario, ScenarioError, load_scenario, validate_update
from h2quarters.sim.outputs import OutputDirError, check_output_dir, write_all_or_none


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory (with scenario.yaml) or YAML file.")],
    year: Annotated[int | None, typer.Option(help="Calendar year; default the scenario's simulation.year.")] = None,
    step: Annotated[str | None, typer.Option(help="Time step: 15min or 1h; default the scenario's.")] = None,
    dispatch: Annotated[str | None, typer.Option(help="Dispatch: rule (baseline) or mpc (rolling optimiser).")] = None,
    out: Annotated[Path, typer.Option(help="Output directory for timeseries.csv and kpis.json.")] = Path("out"),
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD) of a shorter period; default 1 January.")] = None,
    days: Annotated[int | None, typer.Option(help="Number of days from --start (1..3660); default the year.")] = None,
    replan_hours: Annotated[float, typer.Option(
        help="With --dispatch mpc: re-plan every this many hours (the live controller re-plans every 15 min; "
             "a year re-planned every step takes hours).")] = 24.0,
) -> None:
    """Simulate a year of the site and write ``timeseries.csv`` and ``kpis.json`` to OUT."""
    try:
        scn = load_scenario(scenario)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    # The command line goes through the YAML's own validation (simulation.* of the scenario).
    try:
        sim_cfg = validate_update(scn.simulation, {"year": year, "step": step, "dispatch": dispatch,
                                                    "start": start, "days": days})
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"--{problem.path.replace('_', '-')}: {problem.message}", err=True)
        raise typer.Exit(2) from None
    scn = scn.model_copy(update={"simulation": sim_cfg})
    step_h = 0.25 if sim_cfg.step == "15min" else 1.0
    if sim_cfg.dispatch == "mpc" and replan_hours < step_h:
        typer.echo(f"--replan-hours: value {replan_hours} below the step ({step_h} h)", err=True)
        raise typer.Exit(2)
    names = ["timeseries.csv", "kpis.json"]
    try:
        check_output_dir(out, names)
    except OutputDirError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(weather_statement(scn))

    from h2quarters.sim.annual import simulate as run_simulation
    from h2quarters.sim.results import site_kpis, summary_table

    dispatcher = None
    if sim_cfg.dispatch == "mpc":
        from h2quarters.sim.mpc_dispatch import MPCDispatcher

        from h2quarters.opt.settings import OptSettings

        dispatcher = MPCDispatcher(scn, OptSettings(mpc_replan_steps=max(1, round(replan_hours / step_h))))
    period: dict = {}
    if sim_cfg.start is not None or sim_cfg.days is not None:
        import pandas as pd

        t0 = pd.Timestamp(sim_cfg.start or date(sim_cfg.year, 1, 1))
        t1 = t0 + pd.Timedelta(days=sim_cfg.days) if sim_cfg.days is not None else pd.Timestamp(f"{t0.year + 1}-01-01")
        period = {"start": t0, "end": t1}
    result = run_simulation(scn, dispatcher=dispatcher, **period)
    kpis = site_kpis(result)
    if dispatcher is not None:
        # Plan vs physics: what the MPC expected for each executed step beside what the models delivered.
        plan = dispatcher.plan_frame().add_prefix("plan_")
        result.timeseries = result.timeseries.join(plan)
        kpis["plan_h2_kg"] = float(plan["plan_ely_h2_kg"].sum())
        kpis["plan_grid_import_kwh"] = float((plan["plan_grid_import_kw"] * result.dt_h).sum())
        kpis["mpc_solves"] = len(dispatcher.solve_times_s)
        kpis["mpc_solve_median_s"] = float(sorted(dispatcher.solve_times_s)[len(dispatcher.solve_times_s) // 2])
    kpis_text = json.dumps(kpis, indent=2, ensure_ascii=False)  # fails here (before writing) if not serialisable
    try:
        write_all_or_none(out, {
            "timeseries.csv": lambda path: result.timeseries.to_csv(path, float_format="%.9g"),
            "kpis.json": lambda path: path.write_text(kpis_text, encoding="utf-8"),
        })
    except OSError as exc:
        typer.echo(f"--out: could not write the outputs into '{out}' ({exc}); nothing was written", err=True)
        raise typer.Exit(1) from None
    typer.echo(summary_table(kpis))
    typer.echo(f"\nwrote {out / 'timeseries.csv'} and {out / 'kpis.json'} ({result.runtime_s:.1f} s)")


def weather_statement(scn: Scenario) -> str:
    """One line saying what the weather of the run is: a typical year laid on a calendar year."""
    year = scn.simulation.start.year if scn.simulation.start is not None else scn.simulation.year
    what = {
        "try_kassel": "the DWD test reference year TRY2010 region 07 (Kassel, a mean year of 1988-2007)",
        "epw": f"the typical year in {scn.weather.path}",
        "pvgis_tmy": f"the PVGIS typical meteorological year in {scn.weather.path}",
    }[scn.weather.source]
    return (f"weather: {what}, laid on the calendar of {year} (weekdays, holidays, daylight saving); "
            f"it is not the measured weather of {year}.")
