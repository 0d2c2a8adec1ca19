"""``h2q simulate``: run a site over a year and write its time series and KPIs."""

from __future__ import annotations

import json
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

        dispatcher = MPCDispatcher(scn)
    result = run_simulation(scn, dispatcher=dispatcher)
    kpis = site_kpis(result)
    out.mkdir(parents=True, exist_ok=True)
    result.timeseries.to_csv(out / "timeseries.csv", float_format="%.9g")
    (out / "kpis.json").write_text(json.dumps(kpis, indent=2, ensure_ascii=False), encoding="utf-8")
    typer.echo(summary_table(kpis))
    typer.echo(f"\nwrote {out / 'timeseries.csv'} and {out / 'kpis.json'} ({result.runtime_s:.1f} s)")


