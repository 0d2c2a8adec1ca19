"""``h2q quarter``: simulate the Wesertor quarter and run variant studies on Dask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from h2quarters.cli import app

quarter_app = typer.Typer(help="The quarter (Wesertor): annual simulation with grid check, variant studies.",
                          no_args_is_help=True)
app.add_typer(quarter_app, name="quarter")


def _fail(exc: Exception) -> None:
    """One line per problem on stderr, exit code 2 (configuration errors list their YAML path and line)."""
    from h2quarters.config.loader import ConfigError

    if isinstance(exc, ConfigError):
        for p in exc.problems:
            typer.echo(f"{exc.source}: {p}", err=True)
    else:
        typer.echo(" ".join(str(exc).split("\n")), err=True)
    raise typer.Exit(2) from None


def _load(path: Path, year: int | None):
    """Load the quarter and run its pre-flight checks (grid code, buses, hydrogen site) — seconds, before any
    dispatch or study starts."""
    from h2quarters.quarter.checks import check_quarter
    from h2quarters.quarter.config import YEAR_RANGE, load_quarter

    try:
        q = load_quarter(path)
        if year is not None:
            lo, hi = YEAR_RANGE
            if not lo <= year <= hi:
                raise ValueError(f"--year: value {year} outside the allowed range [{lo}, {hi}]")
            q = q.model_copy(update={"year": year})
        check_quarter(q)
    except ValueError as exc:
        _fail(exc)
    return q


@quarter_app.command("simulate")
def simulate_cmd(
    quarter: Annotated[Path, typer.Argument(help="Quarter directory (with quarter.yaml) or YAML file.")],
    year: Annotated[int | None, typer.Option(help="Calendar year; default the quarter's.")] = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/quarter"),
    start: Annotated[str | None, typer.Option(help="Start of a sub-period (e.g. 2025-06-01).")] = None,
    end: Annotated[str | None, typer.Option(help="End of a sub-period (exclusive).")] = None,
    dispatch: Annotated[str | None, typer.Option(help="optimiser (per-building meters), site_mpc (one meter, "
                                                      "needs metering: shared) or rule.")] = None,
    vary: Annotated[list[str] | None, typer.Option(help="One variant: name=value (pv_kwp, electrolyser_kw, "
                                                         "tank_kg); repeatable.")] = None,
    check_steps: Annotated[int, typer.Option(help="Steps re-solved with pandapower runpp as a check.")] = 24,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
) -> None:
    """Simulate the quarter for a year: dispatch, backup, supply chain, power flow every step; write
    time series, grid results, kpis.json and report.html to OUT."""
    if dispatch is not None and dispatch not in ("optimiser", "site_mpc", "rule"):
        typer.echo(f"--dispatch: value '{dispatch}' not allowed; choose optimiser, site_mpc or rule", err=True)
        raise typer.Exit(2)
    q = _load(quarter, year)
    from h2quarters.quarter.h2site import check_overrides
    from h2quarters.quarter.report import render_reports
    from h2quarters.quarter.simulate import save_result, simulate_quarter

    overrides: dict[str, float] = {}
    try:
        for item in vary or []:
            if "=" not in item:
                raise ValueError(f"--vary '{item}': expected name=value")
            k, v = item.split("=", 1)
            overrides[k.strip()] = float(v)
        overrides = check_overrides(overrides)
        res = simulate_quarter(q, overrides=overrides, start=start, end=end, dispatch=dispatch,
                               check_steps=check_steps)
    except ValueError as exc:
        _fail(exc)
    paths = save_result(res, out)
    if report:
        paths["report"], paths["report_de"] = render_reports(res, out / "report.html")
    k = res.kpis
    typer.echo(json.dumps({key: k.get(key) for key in (
        "annualised", "annualise_note", "h2_produced_kg", "h2_delivered_to_stz_kg", "h2system_self_sufficiency",
        "stz_share_met_by_h2", "bill_school_eur", "bill_stz_eur", "co2_baseline_kg", "co2_pv_hp_kg",
        "co2_with_h2_kg", "co2_h2_increment_kg", "cost_h2_increment_eur", "lcoh_period_eur_per_kg",
        "lcoh_eur_per_kg", "lcoh_delivered_eur_per_kg", "trailer_trips", "fc_h2_short_kg",
        "grid_v_min_pu", "grid_line_loading_max_pct", "grid_trafo_loading_max_pct", "grid_steps_with_violation")},
        indent=1))
    typer.echo(f"fast power flow vs runpp: max |dV| = {res.check.get('max_abs_dvm_pu')} p.u.; "
               f"runtime {res.timings_s.get('total_s', 0):.1f} s")
    for name, p in paths.items():
        typer.echo(f"{name}: {p}")


@quarter_app.command("study")
def study_cmd(
    quarter: Annotated[Path, typer.Argument(help="Quarter directory (with quarter.yaml) or YAML file.")],
    vary: Annotated[list[str], typer.Option(help="name=v1,v2,... or name=start:stop:n; repeatable "
                                                  "(pv_kwp, electrolyser_kw, tank_kg).")],
    out: Annotated[Path, typer.Option(help="Output directory (resumable).")] = Path("out/study"),
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler; default a "
                                                        "LocalCluster.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes of the local cluster.")] = 2,
    connect_timeout: Annotated[float, typer.Option(help="Seconds to wait for --scheduler before giving up.")
                               ] = 10.0,
    year: Annotated[int | None, typer.Option(help="Calendar year; default the quarter's.")] = None,
    start: Annotated[str | None, typer.Option(help="Start of a sub-period.")] = None,
    end: Annotated[str | None, typer.Option(help="End of a sub-period (exclusive).")] = None,
    dispatch: Annotated[str | None, typer.Option(help="optimiser (per-building meters), site_mpc (one meter) "
                                                      "or rule.")] = None,
    powerflow: Annotated[bool, typer.Option(help="Include the yearly power flows.")] = True,
    report: Annotated[bool, typer.Option(help="Simulate the best Pareto variant again and write report.html "
                                              "with the comparison.")] = True,
    representative: Annotated[int | None, typer.Option(
        help="Annual figures from N typical weeks chosen and weighted by tsam (1-52) instead of a whole year; the "
             "first variant also runs the whole year to measure their error.")] = None,
) -> None:
    """Simulate every combination of the varied sizes on Dask; write the comparison table, the Pareto set
    (LCOH, self-sufficiency, CO2 avoided) and a report."""
    if dispatch is not None and dispatch not in ("optimiser", "site_mpc", "rule"):
        _fail(ValueError(f"--dispatch: value '{dispatch}' not allowed; choose optimiser, site_mpc or rule"))
    q = _load(quarter, year)
    from h2quarters.quarter.study import parse_vary, run_study

    try:
        values = parse_vary(vary)
        _check_period(q, start, end)
        if representative is not None and not 1 <= representative <= 52:
            raise ValueError(f"--representative: value {representative} outside the allowed range [1, 52]")
        res = run_study(quarter, values, out, scheduler=scheduler, n_workers=workers, start=start, end=end,
                        dispatch=dispatch, powerflow=powerflow, year=year, connect_timeout_s=connect_timeout,
                        representative=representative)
    except ValueError as exc:
        _fail(exc)
    cols = ["variant", "lcoh_period_eur_per_kg", "h2system_self_sufficiency", "co2_avoided_by_h2_kg",
            "cost_h2_increment_eur", "grid_steps_with_violation", "pareto"]
    typer.echo(res.table[cols].to_string(index=False))
    if res.representative_error is not None:
        w = res.weeks
        typer.echo(f"annual figures from {len(w.starts)} representative weeks (tsam): "
                   + ", ".join(f"{s.date()} ×{x:.1f}" for s, x in zip(w.starts, w.weights)))
        e = res.representative_error
        typer.echo(f"measured error against the whole year of variant {res.reference_variant}:")
        typer.echo(e.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    elif not res.table.annualised.astype(bool).all():
        typer.echo("period shorter than a year: figures are for the period; annual figures (…_per_a) are not "
                   "given (--representative N gives them from typical weeks, with their measured error)")
    typer.echo(f"{len(res.table)} variants ({res.n_run} run, {res.n_resumed} resumed) on {res.scheduler}; "
               f"table: {out / 'study_table.csv'}")
    if report:
        from h2quarters.quarter.report import render_reports
        from h2quarters.quarter.simulate import simulate_quarter

        best = res.table[res.table.pareto].sort_values("lcoh_period_eur_per_kg").iloc[0]
        ov = {k: float(best[k]) for k in values}
        if res.weeks is not None:  # the report's time series: the typical week with the largest weight
            import pandas as pd

            s0 = res.weeks.starts[int(res.weeks.weights.argmax())].tz_localize(None)
            start, end = str(s0), str(s0 + pd.Timedelta(days=7))
        sim = simulate_quarter(q, overrides=ov, start=start, end=end, dispatch=dispatch)
        p = render_reports(sim, out / "report.html", study_table=res.table,
                           representative=None if res.weeks is None else {
                               "weeks": res.weeks, "error": res.representative_error,
                               "reference": res.reference_variant})[0]
        typer.echo(f"report: {p} (variant {best['variant']})")


def _check_period(q, start: str | None, end: str | None) -> None:
    """``--start``/``--end`` parse and lie inside the quarter's year (before any worker starts)."""
    import pandas as pd

    bounds = []
    for name, v in (("--start", start), ("--end", end)):
        if v is None:
            bounds.append(None)
            continue
        try:
            t = pd.Timestamp(v)
        except ValueError:
            raise ValueError(f"{name}: '{v}' is not a date (e.g. 2025-06-01)") from None
        if not (pd.Timestamp(q.year, 1, 1) <= t <= pd.Timestamp(q.year + 1, 1, 1)):
            raise ValueError(f"{name}: {v} is outside the quarter's year {q.year}")
        bounds.append(t)
    if bounds[0] is not None and bounds[1] is not None and bounds[1] <= bounds[0]:
        raise ValueError(f"--end ({end}) must be after --start ({start})")
