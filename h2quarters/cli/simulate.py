"""``h2q simulate``: run a site over a year and write its time series and KPIs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from h2quarters.cli import app
from h2quarters.config import ScenarioError, load_scenario


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario directory (with scenario.yaml) or YAML file.")],
    year: Annotated[int | None, typer.Option(help="Calendar year; default the scenario's simulation.year.")] = None,
    step: Annotated[str | None, typer.Option(help="Time step: 15min or 1h; default the scenario's.")] = None,
    dispatch: Annotated[str | None, typer.Option(help="Dispatch: rule (baseline) or mpc (rolling optimiser).")] = None,
    out: Annotated[Path, typer.Option(help="Output directory for timeseries.csv and kpis.json.")] = Path("out"),
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD) of a shorter period; default 1 January.")] = None,
    days: Annotated[int | None, typer.Option(min=1, max=3660, help="Number of days from --start; default the year.")] = None,
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
    if step is not None and step not in ("15min", "1h"):
        typer.echo(f"--step: value '{step}' not allowed; choose 15min or 1h", err=True)
        raise typer.Exit(2)
    if dispatch is not None and dispatch not in ("rule", "mpc"):
        typer.echo(f"--dispatch: value '{dispatch}' not allowed; choose rule or mpc", err=True)
        raise typer.Exit(2)
    sim_cfg = scn.simulation.model_copy(update={k: v for k, v in
                                                {"year": year, "step": step, "dispatch": dispatch}.items()
                                                if v is not None})
    scn = scn.model_copy(update={"simulation": sim_cfg})

    from h2quarters.sim.annual import simulate as run_simulation
    from h2quarters.sim.results import site_kpis, summary_table

    dispatcher = None
    if scn.simulation.dispatch == "mpc":
        from h2quarters.sim.mpc_dispatch import MPCDispatcher

        from h2quarters.opt.settings import OptSettings

        step_h = 0.25 if scn.simulation.step == "15min" else 1.0
        if replan_hours < step_h:
            typer.echo(f"--replan-hours: value {replan_hours} below the step ({step_h} h)", err=True)
            raise typer.Exit(2)
        dispatcher = MPCDispatcher(scn, OptSettings(mpc_replan_steps=max(1, round(replan_hours / step_h))))
    period: dict = {}
    if start is not None or days is not None:
        import pandas as pd

        try:
            t0 = pd.Timestamp(date.fromisoformat(start or f"{scn.simulation.year}-01-01"))
        except ValueError:
            typer.echo(f"--start: value '{start}' is not a date (YYYY-MM-DD)", err=True)
            raise typer.Exit(2) from None
        t1 = t0 + pd.Timedelta(days=days) if days is not None else pd.Timestamp(f"{t0.year + 1}-01-01")
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
    out.mkdir(parents=True, exist_ok=True)
    result.timeseries.to_csv(out / "timeseries.csv", float_format="%.9g")
    (out / "kpis.json").write_text(json.dumps(kpis, indent=2, ensure_ascii=False), encoding="utf-8")
    typer.echo(summary_table(kpis))
    typer.echo(f"\nwrote {out / 'timeseries.csv'} and {out / 'kpis.json'} ({result.runtime_s:.1f} s)")


