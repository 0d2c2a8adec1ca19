"""The FastAPI application: API routers, web HMI, limits and security headers.

OpenAPI documentation is served at ``/api/docs`` (schema ``/api/openapi.json``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from h2quarters.api import routes_auth, routes_control, routes_kpi, routes_lab, routes_plan, routes_plant
from h2quarters.api.auth import LoginGuard, TokenService
from h2quarters.api.deps import _ERROR_TEXT, ApiContext, ErrorBody, LoginRequired, to_login
from h2quarters.api.limits import BodySizeLimit
from h2quarters.control.controller import Controller
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.registers import RegisterMap
from h2quarters.store import Store

SECURITY_HEADERS = [
    (b"content-security-policy", (b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                 b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
DOCS_CSP = (b"content-security-policy", b"default-src 'self' 'unsafe-inline' data:; frame-ancestors 'none'")


class SecurityHeaders:
    """Adds CSP and friends to every HTTP response (the docs page gets a CSP it can work with)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "").startswith("/api/docs")

        async def send_h(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                hdrs = list(msg.get("headers", []))
                own = [v for k, v in hdrs if k == b"x-h2q-csp"]
                if own:  # a page framed by this origin with its own policy (a planner's report)
                    hdrs = [(k, v) for k, v in hdrs if k != b"x-h2q-csp"]
                    hdrs += [(b"content-security-policy", own[0]), (b"x-frame-options", b"SAMEORIGIN"),
                             *SECURITY_HEADERS[1:3]]
                else:
                    hdrs += [DOCS_CSP] + SECURITY_HEADERS[1:] if docs else SECURITY_HEADERS
                msg = {**msg, "headers": hdrs}
            await send(msg)

        await self.app(scope, receive, send_h)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    jobs = getattr(app.state, "jobs", None)
    if jobs is not None:  # planners' jobs still running become "interrupted"; the local Dask cluster stops
        import asyncio

        await asyncio.to_thread(jobs.close)


def create_app(store: Store, hub: SnapshotHub, rmap: RegisterMap, settings: ControlSettings,
               controller: Controller | None = None, scenario: Any = None, web: bool = True) -> FastAPI:
    """Build the app.

    Parameters
    ----------
    store, hub, rmap, settings
        Store, live snapshot hub, register map (resolved) and settings.
    controller : Controller, optional
        The running controller (commands answer 503 without one).
    scenario : Scenario, optional
        Shown in the HMI (name).
    web : bool
        Mount the web HMI (pages and static assets).
    """
    app = FastAPI(title="h2quarters plant API", version="1",
                  description="Live plant state, history, commands (audited), alarms, plan and forecast of the "
                              "h2quarters PV-hydrogen lab. Authenticate with POST /api/auth/token.",
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=_lifespan)
    app.state.ctx = ApiContext(store=store, hub=hub, rmap=rmap, settings=settings,
                               tokens=TokenService(store, settings.token_ttl_s), controller=controller,
                               scenario=scenario)
    app.state.login_guard = LoginGuard(settings.login_rate_per_min, settings.login_fail_per_account,
                                       settings.login_lock_s)
    app.include_router(routes_auth.router)
    app.include_router(routes_plant.router)
    app.include_router(routes_control.router)
    app.include_router(routes_kpi.router)
    routes_lab.attach(app)  # learning-lab classroom (lessons on in-process plants, never the pilot)
    app.include_router(routes_plan.router)
    from h2quarters.jobs.runner import JobLimits, JobManager

    # planners' jobs: marks jobs a previous server left running as interrupted; Dask starts with the first job
    app.state.jobs = JobManager(store, settings.jobs_scheduler, settings.jobs_workers,
                                JobLimits(settings.jobs_max_active, settings.jobs_max_per_day,
                                          settings.jobs_max_variants), nice=settings.jobs_nice)

    def openapi() -> dict[str, Any]:
        # errors every operation with a body can answer (malformed JSON, too large, invalid fields) are documented
        # once here instead of on each route; the rest are named per route
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for ops in doc.get("paths", {}).values():
                for op in ops.values():
                    if op.pop("x-h2q-auth-optional", False):  # open-data routes: anonymous callers get public data
                        op["security"] = [{}, *op.get("security", [])]
                    res = op.setdefault("responses", {})
                    codes = (["400", "413", "422"] if "requestBody" in op else []) + \
                        (["422"] if op.get("parameters") else [])
                    for code in codes:
                        res.setdefault(code, {"description": _ERROR_TEXT[int(code)], "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
            # history: the signal names the store keeps, as a pattern (generated clients and fuzzers send valid
            # lists; the route itself answers 422 naming an unknown signal)
            from h2quarters.control.controller import STORED_DTYPES

            names = "|".join(sorted(sg.name for sg in rmap.signals if sg.dtype in STORED_DTYPES))
            for prm in doc.get("paths", {}).get("/api/history", {}).get("get", {}).get("parameters", []):
                if prm.get("name") == "signals":
                    prm["schema"]["pattern"] = f"^(?:{names})(?:,(?:{names})){{0,19}}$"
            doc.setdefault("components", {}).setdefault("schemas", {}).setdefault(
                "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api/health", tags=["plant"], summary="Liveness (no authentication)")
    def health() -> dict[str, Any]:
        seq, snap = hub.latest()
        return {"status": "ok", "seq": seq, "mode": snap.get("mode")}

    app.add_exception_handler(LoginRequired, to_login)  # pages that need a login send the browser to /login

    @app.exception_handler(ValueError)
    async def _value_error(_req: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    if web:
        from fastapi.openapi.docs import get_swagger_ui_html
        from fastapi.responses import HTMLResponse

        from h2quarters.web import mount_web

        mount_web(app)

        @app.get("/api/docs", include_in_schema=False)
        def docs() -> HTMLResponse:
            # Swagger UI from the vendored npm package: the docs work without internet like the HMI
            return get_swagger_ui_html(openapi_url="/api/openapi.json", title="h2quarters API",
                                       swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                       swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                                       swagger_favicon_url="data:,")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    prepare_routes(app)
    return app


def prepare_routes(app: FastAPI) -> None:
    """Build every route's request handling now, in the thread that creates the app, not in the first request.

    FastAPI (≥ 0.16x) builds the validators of included routers' routes (≈ 80 pydantic ``TypeAdapter`` objects
    here) the first time a request is matched against them: the first request after a (re)start took 0.7–0.9 s
    (load 6–7; 8–10 ms prepared), and it built pydantic schemas on the event loop beside the process's other
    threads (controller, an in-process Dask worker), where a test server's first page once failed in CPython's
    non-thread-safe AST constructor. Matching a path that no route has walks every route once.
    """
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/\x00prepare", "root_path": "",
                             "headers": [], "query_string": b"", "app": app}
    for route in app.router.routes:
        route.matches(dict(scope))
