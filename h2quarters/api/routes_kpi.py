"""KPI cockpit for the city: read-only JSON (fact sheets, licence), exports, the quarterly PDF, hand-entered values
and the cockpit pages (levels 4 → 3 → 2 → 1, KPI detail, energy view, entry form).

KPIs marked ``public`` in the catalogue are open without login (open data); everything else needs a logged-in
role. Entering values needs the ``kpi_enter`` permission, replacing the catalogue ``kpi_catalogue``.
"""

from __future__ import annotations

import datetime as dt
import threading
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import BaseModel, Field

from h2quarters.api.auth import Principal
from h2quarters.api.deps import (COOKIE, Ctx, LoginRequired, PageLang, PageLogin, _bearer, errors, page_texts,
                                 render_page, require)
from h2quarters.config.loader import ConfigError
from h2quarters.monitoring import entries as E
from h2quarters.monitoring import exports as X
from h2quarters.monitoring import svg
from h2quarters.monitoring.cockpit import TZ, Cockpit, Period
from h2quarters.numbers import num

# every KPI error answers the API's one error body (documented once for the whole router)
router = APIRouter(tags=["kpi"], responses=errors(401, 403, 404, 422))
WEB = Path(str(resources.files("h2quarters.web")))
_templates = Jinja2Templates(directory=str(WEB / "templates"))
_CREATE = threading.Lock()


def i18n(lang: str) -> dict[str, str]:
    """The cockpit's texts (static/i18n/cockpit/<lang>.json; German for unknown languages)."""
    return page_texts("cockpit", lang)


def cockpit(request: Request) -> Cockpit:
    """The app's cockpit (created on first use; starts the aggregate refresh and the forecast simulation)."""
    app = request.app
    ck = getattr(app.state, "cockpit", None)
    if ck is None:
        with _CREATE:  # concurrent first requests: one cockpit, one simulation
            ck = getattr(app.state, "cockpit", None)
            if ck is None:
                c = app.state.ctx
                ck = app.state.cockpit = Cockpit(c.store, c.scenario)
    ck.maybe_refresh()
    ck.start_simulation()
    return ck


def who(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal | None:
    """The logged-in user, or None (anonymous: public KPIs only)."""
    token = cred.credentials if cred is not None else request.cookies.get(COOKIE)
    return request.app.state.ctx.tokens.verify(token) if token else None


Who = Annotated[Principal | None, Depends(who)]
# open data: these answer anonymous callers with the public KPIs, so their bearer token is optional (OpenAPI)
OPTIONAL_AUTH: dict[str, Any] = {"x-h2q-auth-optional": True}
Ck = Annotated[Cockpit, Depends(cockpit)]
Lang = Annotated[str, Query(pattern="^(de|en)$")]


def _need_login(p: Principal | None, what: str) -> Principal:
    if p is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"{what} is not public: log in",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


def _kpi_or_404(ck: Cockpit, kpi_id: str, p: Principal | None) -> Any:
    cat, _ = ck.catalogue()
    try:
        k = cat.kpi(kpi_id)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from None
    if not k.public:
        _need_login(p, f"kpi {kpi_id}")
    return k


# ============================================================================ JSON
@router.get("/api/kpi/catalogue", openapi_extra=OPTIONAL_AUTH, summary="KPI fact sheets (public ones without login) with licence")
def catalogue(ck: Ck, p: Who, lang: Lang | None = None) -> dict[str, Any]:
    """Fact sheets (U4SSC style) of the KPIs the caller may see, the structure and the licence."""
    cat, vid = ck.catalogue()
    ks = [ck.fact_sheet(k, lang) for k in cat.kpis if k.public or p is not None]
    return {"kpis": ks, "measures": [m.model_dump(mode="json") for m in cat.measures],
            "target_pictures": [t.model_dump(mode="json") for t in cat.target_pictures],
            "dimensions": [d.model_dump(mode="json") for d in cat.dimensions],
            "emission_factor": cat.emission_factor.model_dump(), **ck.meta(vid)}


@router.get("/api/kpi/catalogue/versions", summary="Catalogue versions with who and when (logged in)")
def catalogue_versions(ck: Ck, p: Who) -> list[dict[str, Any]]:
    """Every stored catalogue version, newest first."""
    _need_login(p, "the catalogue history")
    return E.catalogue_versions(ck.store)


@router.put("/api/kpi/catalogue", summary="Replace the catalogue (new audited version; admin)")
async def put_catalogue(ck: Ck, p: Annotated[Principal, Depends(require("kpi_catalogue"))],
                        text: Annotated[str, Body(media_type="text/plain", max_length=60_000)],
                        # ↑ below the server's 64 KiB body limit (the catalogue of this measure is 19 KB), so too long is a 422
                        comment: Annotated[str, Query(max_length=500)] = "") -> dict[str, Any]:
    """Validates the YAML (422 lists every problem with path and line; nothing stored then) and stores it."""
    try:
        _, vid = await run_in_threadpool(E.upload_catalogue, ck.store, text, p.name, comment)
    except ConfigError as exc:
        raise HTTPException(422, {"problems": [str(x) for x in exc.problems]}) from None
    ck.invalidate()
    return {"version_id": vid, "user": p.name}


@router.get("/api/kpi/overview", openapi_extra=OPTIONAL_AUTH, summary="Level 4: tachometers of target pictures and transfer dimensions")
def overview(ck: Ck, p: Who, lang: Lang = "de") -> dict[str, Any]:
    """Anonymous callers get the roll-up of the public KPIs only."""
    return ck.overview(lang, public_only=p is None)


@router.get("/api/kpi/target-pictures/{tp_id}", openapi_extra=OPTIONAL_AUTH, summary="Levels 3/2: a target picture and its measures")
def target_picture(tp_id: str, ck: Ck, p: Who, lang: Lang = "de") -> dict[str, Any]:
    """Tachometer score and the measures coloured by their rating."""
    try:
        return ck.target_picture(tp_id, lang, public_only=p is None)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from None


@router.get("/api/kpi/measures/{measure_id}", openapi_extra=OPTIONAL_AUTH, summary="Level 1: a measure's KPIs by group")
def measure(measure_id: str, ck: Ck, p: Who, lang: Lang = "de") -> dict[str, Any]:
    """KPIs grouped into content, organisation, participation and data, each rated."""
    try:
        return ck.measure(measure_id, lang, public_only=p is None)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from None


@router.get("/api/kpi/kpis/{kpi_id}", openapi_extra=OPTIONAL_AUTH, summary="A KPI: fact sheet, rating, series vs target path, trend, forecast")
def kpi_detail(kpi_id: str, ck: Ck, p: Who, lang: Lang = "de") -> dict[str, Any]:
    """Open without login when the KPI is public."""
    _kpi_or_404(ck, kpi_id, p)
    return ck.kpi_detail(kpi_id, lang)


@router.get("/api/kpi/energy", summary="Energy view of a period with the same period a year earlier (logged in)")
def energy(ck: Ck, p: Who, period: Annotated[str, Query(pattern="^(day|month|year)$")] = "month",
           when: Annotated[str | None, Query(max_length=10)] = None) -> dict[str, Any]:
    """Sums, Sankey flows and the self-sufficiency / solar self-use of the period."""
    _need_login(p, "the energy view")
    try:
        per = Period.parse(period, when, dt.datetime.now(TZ).date())
    except ValueError as exc:
        raise HTTPException(422, {"field": "when", "value": when, "limit": str(exc)}) from None
    return ck.energy(per)


class NewValue(BaseModel):
    """A hand-entered value."""

    kpi: str = Field(min_length=1, max_length=48)
    day: dt.date
    value: float
    reason: str = Field("", max_length=2000)
    supersedes: int | None = None


@router.post("/api/kpi/values", status_code=201, summary="Enter a value (press, open days, reach, maturity ...)")
async def post_value(body: NewValue, ck: Ck, p: Annotated[Principal, Depends(require("kpi_enter"))]
                     ) -> dict[str, Any]:
    """Stored with who and when; 422 names the field, value and allowed range."""
    cat, _ = ck.catalogue()
    try:
        e = await run_in_threadpool(E.add_value, ck.store, cat, body.kpi, body.day, body.value, body.reason, p.name,
                                    p.role, "manual", body.supersedes)
    except KeyError as exc:
        raise HTTPException(422, {"field": "kpi", "value": body.kpi, "limit": str(exc).strip("'\"")}) from None
    except ValueError as exc:
        raise HTTPException(422, {"field": str(exc).split(" ", 1)[0], "value": None, "limit": str(exc)}) from None
    ck.invalidate()
    return e.as_dict()


@router.get("/api/kpi/values", summary="Entered values with who and when (logged in)")
def get_values(ck: Ck, p: Who, kpi: str | None = None,
               include_superseded: bool = False) -> list[dict[str, Any]]:
    """Newest first."""
    _need_login(p, "the entry log")
    return [e.as_dict() for e in E.values(ck.store, [kpi] if kpi else None, include_superseded, limit=500)]


MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/api/kpi/export", openapi_extra=OPTIONAL_AUTH, responses={200: {"description": "CSV or XLSX", "content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}}, summary="Any view as CSV or XLSX")
def export(ck: Ck, p: Who, view: Annotated[str, Query(max_length=80, description=X.VIEW_HELP)] = "overview",
           format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv", lang: Lang = "de") -> Response:
    """Anonymous callers get public KPIs only (KPI series and the energy view need a login unless public)."""
    kind, _, arg = view.partition(":")
    if kind == "kpi":
        _kpi_or_404(ck, arg, p)
    if kind == "energy":
        _need_login(p, "the energy view")
    try:
        title, head, rows, meta = X.view_table(ck, view, lang, public_only=p is None)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise HTTPException(422, {"field": "view", "value": view, "limit": str(exc)}) from None
    data = X.to_csv(head, rows, meta) if format == "csv" else X.to_xlsx(title, head, rows, meta)
    return Response(data, media_type=MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="h2q-{title}.{format}"'})


@router.get("/api/kpi/report.pdf", responses={200: {"description": "PDF", "content": {"application/pdf": {}}}}, summary="Quarterly PDF report (logged in)")
async def report(ck: Ck, p: Who, quarter: Annotated[str | None, Query(max_length=7)] = None,
                 lang: Lang = "de") -> Response:
    """Report of ``quarter`` (e.g. 2026Q3; default the last complete quarter)."""
    _need_login(p, "the report")
    try:
        y, q = X.parse_quarter(quarter, dt.datetime.now(TZ).date())
    except ValueError as exc:
        raise HTTPException(422, {"field": "quarter", "value": quarter, "limit": str(exc)}) from None
    data = await run_in_threadpool(X.quarterly_pdf, ck, y, q, lang)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="h2q-kpi-{y}Q{q}-{lang}.pdf"'})


# ============================================================================ pages
def _page(request: Request, name: str, lang: str, p: Principal | None, **ctx: Any) -> Response:
    T = i18n(lang)
    site = getattr(request.app.state.ctx.scenario, "name", "h2quarters")
    return render_page(_templates, request, name, lang, T, U=lambda u: T.get("unit." + u, u), user=p, svg=svg,
                       site=site, can_enter=p is not None and p.can("kpi_enter"), **ctx)


@pass_context
def _fmt(ctx: Any, v: Any, decimals: int = 0) -> str:
    """A number for the page: German decimal comma on German pages, narrow spaces between thousands."""
    if v is None:
        return "–"
    v = round(float(v), decimals) + 0.0  # no "-0"
    return num(v, f",.{decimals}f", ctx.get("lang", "en"))


_templates.env.filters["num"] = _fmt


@router.get("/cockpit", include_in_schema=False, response_class=HTMLResponse)
def page_overview(request: Request, ck: Ck, p: Who, lg: PageLang) -> Response:
    """Level 4."""
    return _page(request, "cockpit.html", lg, p, d=ck.overview(lg, public_only=p is None))


@router.get("/cockpit/tp/{tp_id}", include_in_schema=False, response_class=HTMLResponse)
def page_tp(tp_id: str, request: Request, ck: Ck, p: Who, lg: PageLang) -> Response:
    """Levels 3 (tachometer) and 2 (its measures)."""
    try:
        d = ck.target_picture(tp_id, lg, public_only=p is None)
    except KeyError:
        raise HTTPException(404, f"target picture {tp_id!r} unknown") from None
    return _page(request, "cockpit_tp.html", lg, p, d=d)


@router.get("/cockpit/measure/{measure_id}", include_in_schema=False, response_class=HTMLResponse)
def page_measure(measure_id: str, request: Request, ck: Ck, p: Who, lg: PageLang) -> Response:
    """Level 1."""
    try:
        d = ck.measure(measure_id, lg, public_only=p is None)
    except KeyError:
        raise HTTPException(404, f"measure {measure_id!r} unknown") from None
    return _page(request, "cockpit_measure.html", lg, p, d=d)


@router.get("/cockpit/kpi/{kpi_id}", include_in_schema=False, response_class=HTMLResponse)
def page_kpi(kpi_id: str, request: Request, ck: Ck, p: Who, lg: PageLang) -> Response:
    """KPI detail (a KPI that is not public needs a login)."""
    cat, _ = ck.catalogue()
    if kpi_id not in {k.id for k in cat.kpis}:
        raise HTTPException(404, f"kpi {kpi_id!r} unknown")
    if not cat.kpi(kpi_id).public and p is None:
        raise LoginRequired
    return _page(request, "cockpit_kpi.html", lg, p, d=ck.kpi_detail(kpi_id, lg))


@router.get("/cockpit/energy", include_in_schema=False, response_class=HTMLResponse)
def page_energy(request: Request, ck: Ck, p: PageLogin, lg: PageLang,
                period: Annotated[str, Query(pattern="^(day|month|year)$")] = "month",
                when: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    """Energy view of a period."""
    try:
        per = Period.parse(period, when or None, dt.datetime.now(TZ).date())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return _page(request, "cockpit_energy.html", lg, p, d=ck.energy(per), period=per)


@router.get("/cockpit/entry", include_in_schema=False, response_class=HTMLResponse)
def page_entry(request: Request, ck: Ck, p: PageLogin, lg: PageLang) -> Response:
    """Form for hand-entered values and the log of who entered what."""
    cat, vid = ck.catalogue()
    ks = [k for k in cat.kpis if k.source in ("manual", "counted")]
    log = E.values(ck.store, [k.id for k in ks], include_superseded=True, limit=50)
    names = {k.id: k.name.get(lg) for k in cat.kpis}
    return _page(request, "cockpit_entry.html", lg, p, d=ck.meta(vid), kpis=ks, log=log, names=names,
                 today=dt.datetime.now(TZ).date().isoformat())
