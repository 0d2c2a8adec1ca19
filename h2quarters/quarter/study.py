"""Variant studies of the quarter on Dask: every combination of the varied sizes, in parallel, resumable.

Each variant runs :func:`h2quarters.quarter.simulate.simulate_quarter` as one Dask task (a task is seconds to a
minute of work, so the scheduler's overhead does not matter). The client writes every finished variant to
``OUT/variants/<id>.json`` as soon as it arrives (atomic rename), and skips variants whose file already exists
with the same run settings, so an interrupted study resumes where it stopped. A local cluster
(``LocalCluster``, one single-threaded worker process per core) is started unless a scheduler address is
given.

The comparison keeps the trade-off between LCOH (lower is better), the hydrogen system's self-sufficiency and
the CO2 the *hydrogen* avoids against the same quarter with PV and heat pump but no hydrogen (higher is better;
negative when hydrogen adds CO2); the Pareto set holds the variants no other variant beats in all three. The
objectives are figures of the simulated period (the LCOH with the capital prorated to it), so a short study
ranks without pretending to know the year; its ``…_per_a`` columns stay empty.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from h2quarters.quarter.h2site import check_overrides
from h2quarters.quarter.representative import (
    RepresentativeWeeks,
    representative_error,
    representative_kpis,
    representative_weeks,
    study_row,
)

#: Objectives of the Pareto set: (KPI key, +1 maximise / -1 minimise).
OBJECTIVES: tuple[tuple[str, int], ...] = (("lcoh_period_eur_per_kg", -1), ("h2system_self_sufficiency", +1),
                                           ("co2_avoided_by_h2_kg", +1))
#: KPI columns kept in the comparison table.
TABLE_COLUMNS = [
    "annualised", "lcoh_period_eur_per_kg", "lcoh_eur_per_kg", "lcoh_delivered_period_eur_per_kg",
    "lcoh_delivered_eur_per_kg", "h2system_self_sufficiency", "quarter_self_sufficiency",
    "co2_avoided_by_h2_kg", "co2_avoided_by_h2_kg_per_a", "co2_saved_by_pv_hp_kg", "cost_h2_increment_eur",
    "cost_h2_increment_eur_per_a", "h2_produced_kg", "h2_produced_kg_per_a", "h2_delivered_kg_per_a",
    "stz_share_met_by_h2", "stz_cost_period_eur_per_kwh", "trailer_trips", "trailer_trips_per_a", "fc_h2_short_kg",
    "grid_v_min_pu", "grid_v_max_pu", "grid_line_loading_max_pct",
    "grid_trafo_loading_max_pct", "grid_steps_with_violation", "h2_vented_kg", "balance_max_rel_h2",
]


def parse_vary(items: list[str]) -> dict[str, list[float]]:
    """Parse ``name=v1,v2,...`` or ``name=start:stop:n`` (inclusive linspace) into lists of values.

    Raises
    ------
    ValueError
        Naming the item when it is malformed or a value is outside the parameter's allowed range.
    """
    out: dict[str, list[float]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--vary '{item}': expected name=v1,v2,... or name=start:stop:n")
        name, spec = item.split("=", 1)
        name = name.strip()
        try:
            if ":" in spec:
                a, b, n = spec.split(":")
                values = np.linspace(float(a), float(b), int(n)).round(6).tolist()
            else:
                values = [float(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--vary '{item}': values must be numbers (v1,v2,... or start:stop:n)") from None
        if not values:
            raise ValueError(f"--vary '{item}': no values")
        for v in values:
            check_overrides({name: v})
        out[name] = values
    return out


def expand(vary: dict[str, list[float]]) -> list[dict[str, float]]:
    """All combinations (cartesian product) of the varied values."""
    names = sorted(vary)
    return [dict(zip(names, combo)) for combo in itertools.product(*(vary[n] for n in names))]


def variant_id(overrides: dict[str, float]) -> str:
    """A stable, file-name-safe id such as ``electrolyser_kw=9.6__pv_kwp=99__tank_kg=44``."""
    return "__".join(f"{k}={overrides[k]:g}" for k in sorted(overrides)) or "base"


class StudyError(ValueError):
    """A study could not run: bad input found on a worker, or the scheduler is unreachable."""


def run_variant(quarter_path: str, overrides: dict[str, float], start: str | None, end: str | None,
                dispatch: str | None, powerflow: bool = True, year: int | None = None,
                weeks: RepresentativeWeeks | None = None) -> dict:
    """Simulate one variant and return its KPIs (runs on a Dask worker).

    With ``weeks`` the variant is simulated on those typical weeks and its figures are the year they stand for
    (:func:`h2quarters.quarter.representative.representative_kpis`).

    A bad input found on the worker (``ValueError``, including configuration errors) comes back as
    ``{"error": message}`` instead of an exception: configuration errors do not survive pickling, and the
    client reports it as one line like any other input error.
    """
    from h2quarters.quarter.config import load_quarter
    from h2quarters.quarter.simulate import simulate_quarter

    try:
        q = load_quarter(quarter_path)
        if year is not None:
            q = q.model_copy(update={"year": year})
        if weeks is not None:
            k = study_row(representative_kpis(q, len(weeks.starts), overrides, dispatch, powerflow, weeks))
        else:
            res = simulate_quarter(q, overrides=overrides, start=start, end=end, dispatch=dispatch,
                                   check_steps=0, powerflow=powerflow, stress=False)
            k = dict(res.kpis)
    except (ValueError, RuntimeError) as exc:  # bad input, or a dispatch window no solver run could plan
        return {"error": str(exc), "worker_pid": os.getpid()}
    k["worker_pid"] = os.getpid()
    return json.loads(json.dumps(k, default=_jsonable))


def _jsonable(o: object) -> object:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o) if np.isfinite(o) else None
    return str(o)


def pareto_mask(table: pd.DataFrame, objectives: tuple[tuple[str, int], ...] = OBJECTIVES) -> np.ndarray:
    """True for rows not dominated by any other row (≥ in all objectives, > in one, after sign)."""
    vals = np.column_stack([table[c].astype(float).to_numpy() * s for c, s in objectives])
    ok = np.all(np.isfinite(vals), axis=1)
    mask = np.zeros(len(table), bool)
    for i in np.flatnonzero(ok):
        others = vals[ok]
        dominated = np.any(np.all(others >= vals[i], axis=1) & np.any(others > vals[i], axis=1))
        mask[i] = not dominated
    return mask


@dataclass
class StudyResult:
    """Comparison table (one row per variant) with the Pareto flag, and where it was written."""

    table: pd.DataFrame
    out: Path
    n_run: int
    n_resumed: int
    scheduler: str
    representative_error: pd.DataFrame | None = None  # representative vs full year of ``reference_variant``
    reference_variant: str | None = None
    weeks: RepresentativeWeeks | None = None


def _settings_key(quarter_path: str, start: str | None, end: str | None, dispatch: str | None,
                  powerflow: bool, year: int | None = None, representative: int | None = None) -> str:
    q = Path(quarter_path)
    files = sorted(q.glob("*.yaml")) if q.is_dir() else [q]
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    h.update(repr((start, end, dispatch, powerflow) + ((year,) if year is not None else ())
                  + ((("representative", representative),) if representative else ())).encode())
    return h.hexdigest()[:16]


def run_study(quarter_path: str | Path, vary: dict[str, list[float]], out: str | Path,
              scheduler: str | None = None, n_workers: int = 2, start: str | None = None, end: str | None = None,
              dispatch: str | None = None, powerflow: bool = True, progress: bool = True,
              year: int | None = None, connect_timeout_s: float = 10.0,
              representative: int | None = None) -> StudyResult:
    """Run every combination of ``vary`` on Dask and write the comparison.

    Parameters
    ----------
    quarter_path : path
        Quarter directory or file (must be readable by the workers under the same path).
    vary : dict
        Values per parameter (``pv_kwp``, ``electrolyser_kw``, ``tank_kg``).
    out : path
        Output directory: ``variants/*.json``, ``study_table.csv``, ``pareto.csv``, ``study.json``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``); default a ``LocalCluster``.
    n_workers : int
        Worker processes of the local cluster.
    start, end : str, optional
        Sub-period of the year (short studies).
    dispatch : {"optimiser", "rule"}, optional
        Override the quarter's dispatch method.
    powerflow : bool
        Include the yearly power flows (grid KPIs).
    progress : bool
        Show a tqdm progress bar.
    year : int, optional
        Calendar year instead of the quarter file's.
    connect_timeout_s : float
        How long to wait for ``scheduler`` before giving up with :class:`StudyError`.
    representative : int, optional
        Simulate every variant on this many typical weeks chosen and weighted by tsam and report the year they
        stand for; the first variant is also simulated over the whole year and the error of its representative
        figures is measured (``representative_error.csv``). Not together with ``start``/``end``.

    Raises
    ------
    StudyError
        The scheduler is unreachable, or a variant failed on a worker with a bad input (message from there).
    """
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    quarter_path = str(Path(quarter_path).resolve())
    weeks = None
    if representative is not None:
        if start is not None or end is not None:
            raise ValueError("--representative: the typical weeks stand for the whole year; leave out --start/--end")
        from h2quarters.quarter.config import load_quarter

        qy = load_quarter(quarter_path)
        if year is not None:
            qy = qy.model_copy(update={"year": year})
        weeks = representative_weeks(qy, representative)  # the same weeks for every variant
    out = Path(out)
    vdir = out / "variants"
    vdir.mkdir(parents=True, exist_ok=True)
    key = _settings_key(quarter_path, start, end, dispatch, powerflow, year, representative)
    variants = expand(vary)
    done: dict[str, dict] = {}
    todo: list[dict[str, float]] = []
    for ov in variants:
        f = vdir / f"{variant_id(ov)}.json"
        if f.exists():
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                rec = {}
            if rec.get("settings_key") == key:
                done[variant_id(ov)] = rec
                continue
        todo.append(ov)
    n_resumed = len(done)

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise StudyError(f"--scheduler {scheduler}: no Dask scheduler answered within {connect_timeout_s:g} s "
                             f"({type(exc).__name__}); start one (dask scheduler) or leave --scheduler out for a "
                             f"local cluster") from None
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    address = client.scheduler.address
    try:
        futures = {client.submit(run_variant, quarter_path, ov, start, end, dispatch, powerflow, year, weeks,
                                 pure=False, key=f"quarter-variant-{variant_id(ov)}-{key}"): ov for ov in todo}
        ref_file = out / "reference_full_year.json"
        ref_fut = None
        if weeks is not None:  # the measured error: the first variant over the whole year
            try:
                cached = json.loads(ref_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                cached = {}
            if cached.get("settings_key") != key:
                ref_fut = client.submit(run_variant, quarter_path, variants[0], None, None, dispatch, powerflow,
                                        year, None, pure=False, key=f"quarter-reference-{key}")
                futures[ref_fut] = variants[0]
        bar = tqdm(total=len(variants), initial=n_resumed, desc="variants", unit="variant", disable=not progress)
        for fut in as_completed(futures):
            ov = futures[fut]
            k = fut.result()
            if "error" in k:
                for f in futures:
                    f.cancel()
                raise StudyError(f"variant {variant_id(ov)}: {k['error']}")
            if fut is ref_fut:
                tmp = out / ".reference_full_year.json.tmp"
                tmp.write_text(json.dumps({"variant": variant_id(ov), "settings_key": key, "kpis": k}, indent=1),
                               encoding="utf-8")
                tmp.replace(ref_file)
                continue
            rec = {"variant": variant_id(ov), "overrides": ov, "settings_key": key, "kpis": k}
            tmp = vdir / f".{variant_id(ov)}.json.tmp"
            tmp.write_text(json.dumps(rec, indent=1), encoding="utf-8")
            tmp.replace(vdir / f"{variant_id(ov)}.json")  # atomic: a crash never leaves half a result
            done[variant_id(ov)] = rec
            bar.update(1)
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    rows = []
    for ov in variants:
        rec = done[variant_id(ov)]
        row = {"variant": rec["variant"], **{f"{k}": v for k, v in ov.items()}}
        row.update({c: rec["kpis"].get(c) for c in TABLE_COLUMNS})
        if weeks is not None:
            row["annualised_from"] = rec["kpis"].get("annualised_from")
        row["worker_pid"] = rec["kpis"].get("worker_pid")
        rows.append(row)
    table = pd.DataFrame(rows)
    table["pareto"] = pareto_mask(table)
    table.to_csv(out / "study_table.csv", index=False, float_format="%.6g")
    err = None
    if weeks is not None:
        full = json.loads((out / "reference_full_year.json").read_text(encoding="utf-8"))["kpis"]
        err = representative_error(done[variant_id(variants[0])]["kpis"]["representative"]["annual"], full)
        err.to_csv(out / "representative_error.csv", index=False, float_format="%.6g")
    table[table.pareto].to_csv(out / "pareto.csv", index=False, float_format="%.6g")
    (out / "study.json").write_text(json.dumps({
        "quarter": quarter_path, "vary": vary, "start": start, "end": end, "dispatch": dispatch,
        "powerflow": powerflow, "scheduler": address, "n_variants": len(variants), "n_run": len(todo),
        "n_resumed": n_resumed, "objectives": OBJECTIVES, "pareto": table.variant[table.pareto].tolist(),
        "representative": None if weeks is None else {
            "n": len(weeks.starts), "weeks": [{"start": str(s.date()), "weight_weeks": float(w)}
                                              for s, w in zip(weeks.starts, weeks.weights)],
            "profile_rmse": weeks.rmse, "reference_variant": variant_id(variants[0]),
            "error": err.to_dict(orient="records") if err is not None else None},
    }, indent=1, default=_jsonable), encoding="utf-8")
    return StudyResult(table=table, out=out, n_run=len(todo), n_resumed=n_resumed, scheduler=address,
                       representative_error=err, reference_variant=variant_id(variants[0]) if weeks else None,
                       weeks=weeks)
