"""Planners' workspace: scenario copies with a generated form, background jobs on Dask, results, comparisons
and the pages under ``/plan``.

Planners and admins (permission ``plan``) copy, edit and run; every logged-in role reads the jobs a planner
shares (viewers and the city's staff see results, never the controls). Business logic lives in
:mod:`h2quarters.jobs`; this module checks access and translates errors into the API's error body.
"""

from __future__ import annotations

import datetime as dt
import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from h2quarters.api.auth import Principal
from h2quarters.api.deps import Ctx, PageLang, PageLogin, errors, page_texts, principal, render_page, require
from h2quarters.config.loader import ConfigError
from h2quarters.jobs import records as R
from h2quarters.jobs import results as RS
from h2quarters.jobs import scenarios as SC
from h2quarters.jobs.runner import JobManager, LimitError, StateError
from h2quarters.numbers import readable

router = APIRouter(tags=["plan"], responses=errors(401, 403, 404, 422))
WEB = Path(str(resources.files("h2quarters.web")))
_templates = Jinja2Templates(directory=str(WEB / "templates"))
Planner = Annotated[Principal, Depends(require("plan"))]
SidPath = Annotated[str, PathParam(max_length=80, description="shipped:<name> or the id of your copy")]
FilePath = Annotated[str, PathParam(pattern="^(scenario|quarter|hydrogen-site)\\.yaml$")]
JobId = Annotated[int, PathParam(ge=1, le=2**53, description="Job id")]
RUN_PATTERN = "^[0-9]{1,12}(:[A-Za-z0-9_.=+-]{1,200})?$"
Anyone = Annotated[Principal, Depends(principal)]
FILE_PATTERN = "^(scenario|quarter|hydrogen-site)\\.yaml$"
YAML_MEDIA = "application/yaml"
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "html": "text/html; charset=utf-8"}
# the embedded report: its own plotly script inline, shown in a sandboxed frame of this origin only
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
              "img-src data:; font-src data:; frame-ancestors 'self'")


def i18n(lang: str) -> dict[str, str]:
    """The workspace's texts (static/i18n/plan/<lang>.json; German for unknown languages)."""
    return page_texts("plan", lang)


def jobs(request: Request) -> JobManager:
    """The app's job manager."""
    return request.app.state.jobs


Jobs = Annotated[JobManager, Depends(jobs)]


def _owner(p: Principal) -> str | None:
    return None if p.role == "admin" else p.name


def _problems(exc: ConfigError, file: str) -> HTTPException:
    probs = [{"file": file, "path": x.path, "line": x.line, "message": x.message} for x in exc.problems]
    return HTTPException(422, {"code": "plan.invalid", "message": str(exc), "params": {"problems": probs}})


def _scenario(store: Any, sid: str, p: Principal) -> dict[str, Any]:
    try:
        return SC.get(store, sid, _owner(p))
    except SC.NotFound:
        raise HTTPException(404, {"code": "plan.no_scenario", "message": f"scenario {sid!r} not found",
                                  "params": {"id": sid}}) from None


def _job(store: Any, job_id: JobId, p: Principal, write: bool = False) -> dict[str, Any]:
    """The job if the caller may see it (owner, admin, or shared) — and act on it (owner or admin)."""
    job = R.get(store, job_id, full=True)
    if job is None or not (job["owner"] == p.name or p.role == "admin" or (job["shared"] and not write)):
        raise HTTPException(404, {"code": "plan.no_job", "message": f"job {job_id} not found", "params": {"id": job_id}})
    if write and not p.can("plan"):
        raise HTTPException(403, {"code": "auth.forbidden", "message": f"role '{p.role}' may not 'plan'",
                                  "params": {"role": p.role, "permission": "plan"}})
    return job


# ============================================================================ scenarios
@router.get("/api/plan/scenarios", summary="Shipped scenarios and the planner's copies")
def list_scenarios(c: Ctx, p: Planner) -> dict[str, Any]:
    """The shipped scenarios (read-only) and the caller's copies."""
    return {"shipped": SC.shipped(), "copies": SC.copies(c.store, p.name)}


class NewCopy(BaseModel):
    """Copy a scenario."""

    source: str = Field(min_length=1, max_length=80, description="shipped:<name> or the id of one of your copies")
    name: str | None = Field(None, max_length=80)


@router.post("/api/plan/scenarios", status_code=201, summary="Copy a scenario", responses=errors(400))
async def copy_scenario(body: NewCopy, c: Ctx, p: Planner) -> dict[str, Any]:
    """A new copy owned by the caller (at most 50)."""
    _scenario(c.store, body.source, p)
    try:
        s = await run_in_threadpool(SC.copy, c.store, body.source, p.name, body.name)
    except ValueError as exc:
        raise HTTPException(422, {"code": "plan.copy", "message": str(exc), "params": {}}) from None
    return {k: v for k, v in s.items() if k != "files"}


def _form(s: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for f in SC.KINDS[s["kind"]].files:
        model = SC.KINDS[s["kind"]].model(f)
        try:
            m = SC.parse_yaml_model(s["files"][f], model, source=f)
            out[f] = {"fields": SC.form_fields(model, SC.model_data(m)), "problems": []}
        except ConfigError as exc:  # a stored copy is always valid; shipped files too — kept defensive
            out[f] = {"fields": [], "problems": [str(x) for x in exc.problems]}
    return out


@router.get("/api/plan/scenarios/{sid}", summary="A scenario with its form fields (units, allowed ranges)")
def get_scenario(sid: SidPath, c: Ctx, p: Planner) -> dict[str, Any]:
    """Fields per file, generated from the pydantic models' JSON schema."""
    s = _scenario(c.store, sid, p)
    return {**{k: v for k, v in s.items() if k != "files"}, "files": list(s["files"]), "form": _form(s)}


class FormEdit(BaseModel):
    """Changed fields of one file, path → text as typed (e.g. ``electrolyser.p_rated_kw`` → ``"9.6"``)."""

    file: str = Field(pattern=FILE_PATTERN)
    edits: dict[str, str | float | int | bool | None] = Field(max_length=500)


@router.patch("/api/plan/scenarios/{sid}", summary="Change fields of a copy (validated like the YAML file)")
async def edit_scenario(sid: SidPath, body: FormEdit, c: Ctx, p: Planner
                        ) -> dict[str, Any]:
    """422 lists every problem with path, value and allowed range (the loader's messages); nothing is stored."""
    s = _scenario(c.store, sid, p)
    if s["owner"] is None:
        raise HTTPException(409, {"code": "plan.read_only", "message": "shipped scenarios are read-only; copy one",
                                  "params": {}})
    if body.file not in s["files"]:
        raise HTTPException(422, {"code": "plan.invalid", "message": f"file {body.file} not in this scenario",
                                  "params": {"problems": [{"file": body.file, "path": "", "line": None,
                                                           "message": "file not in this scenario"}]}})
    edits = {k: ("" if v is None else str(v) if not isinstance(v, str) else v) for k, v in body.edits.items()}
    try:
        text = SC.apply_edits(s["kind"], body.file, s["files"][body.file], edits)
        await run_in_threadpool(SC.save_file, c.store, sid, s["owner"], body.file, text)
    except ConfigError as exc:
        raise _problems(exc, body.file) from None
    except ValueError as exc:
        raise HTTPException(422, {"code": "plan.invalid", "message": str(exc), "params": {"problems": [
            {"file": body.file, "path": "", "line": None, "message": str(exc)}]}}) from None
    return get_scenario(sid, c, p)


@router.put("/api/plan/scenarios/{sid}/files/{file}", summary="Upload one YAML file of a copy (validated)",
            responses=errors(409))
async def upload_file(sid: SidPath,
                      file: FilePath, c: Ctx, p: Planner,
                      text: Annotated[str, Body(media_type="text/plain", max_length=SC.MAX_FILE_BYTES)]
                      ) -> dict[str, Any]:
    """Only the copy's own file names are accepted (no paths); 422 lists every problem, nothing is stored."""
    s = _scenario(c.store, sid, p)
    if s["owner"] is None:
        raise HTTPException(409, {"code": "plan.read_only", "message": "shipped scenarios are read-only; copy one",
                                  "params": {}})
    try:
        await run_in_threadpool(SC.save_file, c.store, sid, s["owner"], file, text)
    except ConfigError as exc:
        raise _problems(exc, file) from None
    return get_scenario(sid, c, p)


@router.get("/api/plan/scenarios/{sid}/files/{file}", summary="Download one YAML file",
            responses={200: {"description": "YAML", "content": {YAML_MEDIA: {}}}})
def download_file(sid: SidPath, file: FilePath,
                  c: Ctx, p: Planner) -> Response:
    """The file as stored (attachment)."""
    s = _scenario(c.store, sid, p)
    if file not in s["files"]:
        raise HTTPException(404, {"code": "plan.no_file", "message": f"{file} not in this scenario", "params": {}})
    stem = s["name"] if s["owner"] else s["base"]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem)[:60]
    return Response(s["files"][file], media_type=YAML_MEDIA,
                    headers={"Content-Disposition": f'attachment; filename="{safe}-{file}"'})


@router.delete("/api/plan/scenarios/{sid}", status_code=204, summary="Delete a copy", responses=errors(409))
def delete_scenario(sid: SidPath, c: Ctx, p: Planner) -> Response:
    """Jobs keep their own frozen copy of the scenario."""
    s = _scenario(c.store, sid, p)
    if s["owner"] is None:
        raise HTTPException(409, {"code": "plan.read_only", "message": "shipped scenarios cannot be deleted",
                                  "params": {}})
    SC.delete(c.store, sid, s["owner"])
    return Response(status_code=204)


# ============================================================================ jobs
class NewJob(BaseModel):
    """A job: which scenario, what to run, over which period."""

    scenario: str = Field(min_length=1, max_length=80)
    kind: str = Field(pattern="^(simulate|quarter_simulate|quarter_study)$")
    title: str = Field("", max_length=120)
    start: dt.date | None = Field(None, description="First day; default 1 January of the scenario's year")
    days: int | None = Field(None, ge=1, le=366, description="Days from start; default to the end of the year")
    dispatch: str | None = Field(None, pattern="^(optimiser|site_mpc|rule)$")
    vary: dict[str, list[float]] = Field(default_factory=dict, max_length=3,
                                         description="Study: values per size (pv_kwp, electrolyser_kw, tank_kg)")
    overrides: dict[str, float] = Field(default_factory=dict, max_length=3, description="Quarter simulate: sizes")
    powerflow: bool = False
    report: bool = True


def _period(body: NewJob, year: int) -> tuple[str | None, str | None]:
    if body.start is None and body.days is None:
        return None, None
    start = body.start or dt.date(year, 1, 1)
    if start.year != year:
        raise HTTPException(422, {"field": "start", "value": start.isoformat(),
                                  "limit": f"a day of the scenario's year {year}", "code": "plan.period",
                                  "message": f"start {start} is outside the scenario's year {year}", "params": {}})
    end = start + dt.timedelta(days=body.days) if body.days else dt.date(year + 1, 1, 1)
    if end > dt.date(year + 1, 1, 1):
        end = dt.date(year + 1, 1, 1)
    return start.isoformat(), end.isoformat()


def _field_error(field: str, value: Any, exc: Exception) -> HTTPException:
    return HTTPException(422, {"field": field, "value": value, "limit": str(exc), "code": "plan.field",
                               "message": str(exc), "params": {"field": field}})


@router.post("/api/plan/jobs", status_code=201, summary="Start a job on Dask (simulate, quarter simulate/study)",
             responses=errors(429))
async def create_job(body: NewJob, c: Ctx, p: Planner, jm: Jobs) -> dict[str, Any]:
    """429 names the limit that refuses it (jobs at once, per day, variants per job)."""
    from h2quarters.quarter.h2site import check_overrides
    from h2quarters.quarter.study import expand, parse_vary, variant_id

    s = _scenario(c.store, body.scenario, p)
    want = "site" if body.kind == "simulate" else "quarter"
    if s["kind"] != want:
        raise _field_error("kind", body.kind, ValueError(f"a {s['kind']} scenario runs "
                                                         f"{'simulate' if s['kind'] == 'site' else 'quarter_simulate or quarter_study'}"))
    main = SC.validate_file(s["kind"], SC.KINDS[s["kind"]].files[-1], s["files"][SC.KINDS[s["kind"]].files[-1]],
                            s["base"])
    year = main.simulation.year if want == "site" else main.year
    start, end = _period(body, year)
    params: dict[str, Any] = {"start": start, "end": end, "dispatch": body.dispatch, "powerflow": body.powerflow}
    if body.kind == "quarter_study":
        if not body.vary:
            raise _field_error("vary", body.vary, ValueError("a study varies at least one size"))
        try:
            vary = parse_vary([f"{k}={','.join(repr(float(v)) for v in vs)}" for k, vs in body.vary.items()])
        except ValueError as exc:
            raise _field_error("vary", body.vary, exc) from None
        variants = [(variant_id(ov), ov) for ov in expand(vary)]
        params.update(vary=vary, report=body.report)
    elif body.kind == "quarter_simulate":
        try:
            ov = check_overrides(body.overrides)
        except ValueError as exc:
            raise _field_error("overrides", body.overrides, exc) from None
        variants = [(variant_id(ov), ov)]
    else:
        variants = [("base", {})]
    title = body.title.strip() or f"{s['name']}: {body.kind.replace('_', ' ')}"
    scen = {"id": s["id"], "name": s["name"], "kind": s["kind"], "base": s["base"], "files": s["files"]}
    try:
        jid = await run_in_threadpool(jm.submit, p.name, body.kind, title, scen, params, variants)
    except LimitError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            {"code": exc.code, "message": str(exc), "params": exc.params}) from None
    return R.get(c.store, jid) or {}


def _progress(job: dict[str, Any], vs: list[dict[str, Any]]) -> dict[str, Any]:
    n = {st: sum(v["status"] == st for v in vs) for st in ("queued", "running", "done", "failed")}
    return {"n_done": n["done"], "n_running": n["running"], "n_failed": n["failed"], "n_total": len(vs),
            "fraction": n["done"] / len(vs) if vs else 0.0}


@router.get("/api/plan/jobs", summary="Jobs: the caller's, every shared one (admins: all)")
def list_jobs(c: Ctx, p: Anyone) -> list[dict[str, Any]]:
    """Newest first."""
    if p.role == "admin":
        return R.listing(c.store)
    if p.can("plan"):
        return R.listing(c.store, shared_or_owner=p.name)
    return [j for j in R.listing(c.store, shared_or_owner=p.name) if j["shared"]]


@router.get("/api/plan/jobs/{job_id}", summary="A job: status, progress per variant, result")
def get_job(job_id: JobId, c: Ctx, p: Anyone) -> dict[str, Any]:
    """Variants with status and KPIs; the result (table, Pareto set) once done."""
    job = _job(c.store, job_id, p)
    vs = R.variants(c.store, job_id)
    job.pop("scenario_files", None)
    return {**job, "variants": vs, "progress": _progress(job, vs)}


@router.post("/api/plan/jobs/{job_id}/cancel", summary="Cancel a queued or running job", responses=errors(409))
async def cancel_job(job_id: JobId, c: Ctx, p: Planner, jm: Jobs) -> dict[str, Any]:
    """Finished variants are kept; resume runs the rest."""
    _job(c.store, job_id, p, write=True)
    try:
        await run_in_threadpool(jm.cancel, job_id)
    except StateError as exc:
        raise HTTPException(409, {"code": "plan.state", "message": str(exc), "params": {}}) from None
    return get_job(job_id, c, p)


@router.post("/api/plan/jobs/{job_id}/resume", summary="Resume an interrupted, cancelled or failed job",
             responses=errors(409, 429))
async def resume_job(job_id: JobId, c: Ctx, p: Planner, jm: Jobs) -> dict[str, Any]:
    """Runs only the variants that are not done."""
    _job(c.store, job_id, p, write=True)
    try:
        await run_in_threadpool(jm.resume, job_id)
    except StateError as exc:
        raise HTTPException(409, {"code": "plan.state", "message": str(exc), "params": {}}) from None
    except LimitError as exc:
        raise HTTPException(429, {"code": exc.code, "message": str(exc), "params": exc.params}) from None
    return get_job(job_id, c, p)


class Share(BaseModel):
    """Share a job's results with every logged-in role."""

    shared: bool


@router.post("/api/plan/jobs/{job_id}/share", summary="Share (or stop sharing) a job's results")
def share_job(job_id: JobId, body: Share, c: Ctx, p: Planner) -> dict[str, Any]:
    """Viewers and the city's staff see shared results."""
    _job(c.store, job_id, p, write=True)
    R.set_shared(c.store, job_id, body.shared)
    return get_job(job_id, c, p)


@router.delete("/api/plan/jobs/{job_id}", status_code=204, summary="Delete a finished job", responses=errors(409))
def delete_job(job_id: JobId, c: Ctx, p: Planner) -> Response:
    """Queued or running jobs must be cancelled first."""
    job = _job(c.store, job_id, p, write=True)
    if job["status"] in R.ACTIVE:
        raise HTTPException(409, {"code": "plan.state", "message": f"job {job_id} is {job['status']}; cancel it first",
                                  "params": {}})
    R.delete(c.store, job_id)
    return Response(status_code=204)


@router.get("/api/plan/jobs/{job_id}/export", summary="A job's KPI table as CSV or XLSX, or its HTML report",
            responses={200: {"description": "CSV, XLSX or HTML", "content": {
                "text/csv": {}, MEDIA["xlsx"]: {}, "text/html": {}}}, **errors(409)})
def export_job(job_id: JobId, c: Ctx, p: Anyone, format: Annotated[str, Query(pattern="^(csv|xlsx|html)$")] = "csv",
               lang: Annotated[str, Query(pattern="^(de|en)$")] = "de") -> Response:
    """Finished variants of any job (the report only once the job is done)."""
    job = _job(c.store, job_id, p)
    vs = R.variants(c.store, job_id)
    name = f"h2q-job{job_id}"
    if format == "html":
        rep = R.report(c.store, job_id)
        if rep is None:
            raise HTTPException(409, {"code": "plan.no_report", "message": f"job {job_id} has no report yet",
                                      "params": {}})
        data: bytes | str = rep[lang]
        name += f"-report.{lang}"
    else:
        data = RS.to_csv(job, vs) if format == "csv" else RS.to_xlsx(job, vs)
    return Response(data, media_type=MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})


@router.get("/plan/jobs/{job_id}/report", include_in_schema=False, response_class=HTMLResponse)
def report_frame(job_id: JobId, c: Ctx, p: Anyone, lang: Annotated[str, Query(pattern="^(de|en)$")] = "de"
                 ) -> Response:
    """The HTML report for the embedded frame (its own CSP: the report's plotly runs only in the sandbox)."""
    _job(c.store, job_id, p)
    rep = R.report(c.store, job_id)
    if rep is None:
        raise HTTPException(404, "no report yet")
    return HTMLResponse(rep[lang], headers={"x-h2q-csp": REPORT_CSP})


@router.get("/api/plan/compare", summary="Compare two runs: inputs that differ, KPIs with difference and %")
def compare_runs(c: Ctx, p: Anyone, a: Annotated[str, Query(max_length=240, pattern=RUN_PATTERN)],
                 b: Annotated[str, Query(max_length=240, pattern=RUN_PATTERN)]) -> dict[str, Any]:
    """A run is a job id or ``job id:variant`` (a study's variant)."""
    return _compare(c, p, a, b)


def _compare(c: Any, p: Principal, a: str, b: str) -> dict[str, Any]:
    runs = []
    for ref, field in ((a, "a"), (b, "b")):
        try:
            jid, _ = RS.split_ref(ref)
        except ValueError as exc:
            raise _field_error(field, ref, exc) from None
        _job(c.store, jid, p)
        try:
            runs.append(RS.run_of(c.store, ref))
        except KeyError as exc:
            raise HTTPException(404, {"code": "plan.no_run", "message": str(exc).strip("'\""),
                                      "params": {"run": ref}}) from None
    return RS.compare(runs[0], runs[1])


@router.get("/api/plan/cluster", summary="The Dask cluster the jobs run on")
def cluster(p: Planner, jm: Jobs) -> dict[str, Any]:
    """Scheduler address and workers (the local cluster starts with the first job)."""
    return {**jm.cluster_info(), "limits": jm.limits.__dict__}


# ============================================================================ pages
def _num(v: Any, decimals: int | str | None = None, lang: str = "de") -> str:
    """A number for the page (:func:`h2quarters.numbers.readable`): fixed ``decimals``, ``"g"`` for limits, or
    readable by size; German decimal comma, narrow space between thousands."""
    return readable(v, lang, decimals)


def _kpi(v: Any, key: str, lang: str = "de", diff: bool = False) -> str:
    """A KPI for the page: a fraction (:data:`~h2quarters.jobs.results.FRACTION_KPIS`) in per cent with one decimal
    and its unit (``74,2 %``), the difference of two fractions in percentage points; other KPIs as ``num``."""
    if key in RS.FRACTION_KPIS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        unit = ("%-Pkt." if lang == "de" else "pp") if diff else "%"
        return f"{_num(v * 100.0, 1, lang)}\u00a0{unit}"  # no break between number and unit
    return _num(v, None, lang)


_templates.env.filters["num"] = _num
_templates.env.filters["kpi"] = _kpi
_templates.env.globals["FRACTION_KPIS"] = sorted(RS.FRACTION_KPIS)  # the Pareto plot's axes in % too


def _page(request: Request, name: str, lang: str, p: Principal, **ctx: Any) -> Response:
    T = i18n(lang)
    return render_page(_templates, request, name, lang, T, K=lambda k: T.get("kpi." + k, k), user=p,
                       can_plan=p.can("plan"),
                       qs=urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"]), **ctx)


@router.get("/plan", include_in_schema=False, response_class=HTMLResponse)
def page_home(request: Request, c: Ctx, lg: PageLang, p: PageLogin) -> Response:
    """Scenarios (planners) and jobs."""
    sc = {"shipped": SC.shipped(), "copies": SC.copies(c.store, p.name)} if p.can("plan") else None
    return _page(request, "plan.html", lg, p, scenarios=sc, jobs=list_jobs(c, p))


@router.get("/plan/scenario/{sid}", include_in_schema=False, response_class=HTMLResponse)
def page_scenario(sid: str, request: Request, c: Ctx, lg: PageLang, p: PageLogin) -> Response:
    """The generated form and the run panel."""
    if not p.can("plan"):
        return RedirectResponse("/plan", status_code=303)
    s = _scenario(c.store, sid[:80], p)
    from h2quarters.quarter.h2site import VARIANT_PARAMS

    return _page(request, "plan_scenario.html", lg, p, s=s, form=_form(s), variant_params=VARIANT_PARAMS)


@router.get("/plan/job/{job_id}", include_in_schema=False, response_class=HTMLResponse)
def page_job(job_id: JobId, request: Request, c: Ctx, lg: PageLang, p: PageLogin) -> Response:
    """Progress, KPI table, Pareto plot, report and downloads."""
    return _page(request, "plan_job.html", lg, p, job=get_job(job_id, c, p))


@router.get("/plan/compare", include_in_schema=False, response_class=HTMLResponse)
def page_compare(request: Request, c: Ctx, a: Annotated[str, Query(max_length=240)],
                 b: Annotated[str, Query(max_length=240)], lg: PageLang, p: PageLogin) -> Response:
    """Two runs side by side."""
    return _page(request, "plan_compare.html", lg, p, cmp=_compare(c, p, a, b))
