"""What a Dask worker runs for a planner's job: one task per variant, plus the report of a finished job.

The scenario travels with the task as YAML text and is written to a private temporary directory on the worker,
so a worker on another machine needs no shared disk. Each task calls the same public functions as the command
line (``h2q simulate``: :func:`h2quarters.sim.annual.simulate`; ``h2q quarter simulate/study``:
:func:`h2quarters.quarter.study.run_variant`, :func:`h2quarters.quarter.simulate.simulate_quarter`). Workers lower
their own CPU priority once (``os.nice``) so the engineers' controller and HMI on the same machine keep their
pace while a study runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

_NICED = False


def _nice(n: int) -> None:
    global _NICED
    if not _NICED and n > 0:
        try:
            os.nice(n)
        except OSError:  # not permitted: run at normal priority
            pass
        _NICED = True


def warm_up(nice: int = 10) -> int:
    """Import the quarter's stack and load the shipped quarter's SimBench grid on this worker (cached per
    process): a worker's first quarter variant then costs seconds, not the minute of a cold process."""
    _nice(nice)
    from h2quarters.config import SCENARIOS_DIR
    from h2quarters.quarter.config import load_quarter
    from h2quarters.quarter.grid import connection_buses

    connection_buses(load_quarter(SCENARIOS_DIR / "wesertor").grid.code)
    return os.getpid()


def _scenario_dir(files: dict[str, str]) -> Path:
    """The quarter's files in a directory named by their content: every variant of a job on a worker uses the
    same path, so the quarter's profiles cached per quarter content and directory are computed once per worker."""
    import hashlib
    import shutil

    from h2quarters.jobs.scenarios import materialise

    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:24]
    root = Path(tempfile.gettempdir()) / "h2q-job-scenarios"
    root.mkdir(parents=True, exist_ok=True)
    final = root / digest
    if not final.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        materialise(files, "quarter", tmp)
        try:
            tmp.rename(final)  # atomic; another worker may have won the race
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _period(params: dict[str, Any]) -> tuple[str | None, str | None]:
    return params.get("start") or None, params.get("end") or None


def site_variant(files: dict[str, str], base: str, params: dict[str, Any], nice: int = 10) -> dict[str, Any]:
    """``h2q simulate`` of a site scenario over ``params`` start/end; returns the KPIs (or ``{"error": ...}``)."""
    _nice(nice)
    from h2quarters.config import SCENARIOS_DIR, parse_scenario
    from h2quarters.sim.annual import simulate
    from h2quarters.sim.results import site_kpis

    try:
        scn = parse_scenario(files["scenario.yaml"], source="scenario.yaml", base_dir=SCENARIOS_DIR / base)
        start, end = _period(params)
        res = simulate(scn, start=start, end=end)
        k = site_kpis(res)
    except (ValueError, RuntimeError) as exc:
        return {"error": str(exc), "worker_pid": os.getpid()}
    k["worker_pid"] = os.getpid()
    return json.loads(json.dumps(k, default=str))


def quarter_variant(files: dict[str, str], overrides: dict[str, float], params: dict[str, Any],
                    nice: int = 10) -> dict[str, Any]:
    """One variant of ``h2q quarter study`` (no power-flow check steps, no stress cases): its KPIs."""
    _nice(nice)
    from h2quarters.quarter.study import run_variant

    start, end = _period(params)
    return run_variant(str(_scenario_dir(files)), overrides, start, end, params.get("dispatch"),
                       bool(params.get("powerflow", False)))


def quarter_report(files: dict[str, str], overrides: dict[str, float], params: dict[str, Any],
                   study_table: list[dict[str, Any]] | None = None, nice: int = 10) -> dict[str, Any]:
    """``h2q quarter simulate`` of one variant with its HTML reports (en, de) and KPIs, as the CLI writes them."""
    _nice(nice)
    import pandas as pd

    from h2quarters.quarter.report import render_reports
    from h2quarters.quarter.simulate import simulate_quarter
    from h2quarters.quarter.study import _jsonable

    start, end = _period(params)
    with tempfile.TemporaryDirectory(prefix="h2q-job-") as d:
        path = _scenario_dir(files)
        try:
            res = simulate_quarter(path, overrides=overrides, start=start, end=end, dispatch=params.get("dispatch"),
                                   check_steps=0, powerflow=bool(params.get("powerflow", False)), stress=False)
            table = pd.DataFrame(study_table) if study_table else None
            en, de = render_reports(res, Path(d) / "out" / "report.html", study_table=table)
        except (ValueError, RuntimeError) as exc:
            return {"error": str(exc), "worker_pid": os.getpid()}
        kpis = json.loads(json.dumps(dict(res.kpis), default=_jsonable))
        return {"kpis": kpis, "html_en": en.read_text(encoding="utf-8"), "html_de": de.read_text(encoding="utf-8"),
                "worker_pid": os.getpid()}
