"""h2quarters.web: the engineers' HMI — thin pages over the API, all assets served locally (no CDN).

Texts live in ``static/i18n/<lang>.json`` (German default, English); templates carry only ``data-i18n`` keys.
Charts use uPlot (MIT), vendored from its npm package under ``static/vendor/uplot``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from h2quarters.api.deps import PageLogin
from h2quarters.control.controller import MANUAL_SETPOINTS

WEB_DIR = Path(str(resources.files("h2quarters.web")))
LANGUAGES = ("de", "en")
LANDING = {"viewer": "/cockpit", "city": "/cockpit", "planner": "/plan", "teacher": "/lab", "student": "/lab/join"}
"""Each audience's own landing page; engineers and admins land on the plant HMI."""


def mount_web(app: FastAPI) -> None:
    """Add the HMI pages and ``/static`` to ``app``."""
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    def _ctx(request: Request) -> dict[str, Any]:
        c = request.app.state.ctx
        sc = c.scenario
        # tiles and setpoints only for equipment the site has
        has = {"battery": getattr(sc, "battery", None) is not None,
               "fuel_cell": getattr(sc, "fuel_cell", None) is not None}
        sps = [s for s in MANUAL_SETPOINTS if (has["battery"] or not s.startswith("battery_"))
               and (has["fuel_cell"] or not s.startswith("fc_"))]
        return {"site": getattr(sc, "name", "h2quarters"), "setpoints": sps, "has": has,
                "languages": LANGUAGES}

    @app.get("/", include_in_schema=False)
    def hmi(request: Request, p: PageLogin) -> Response:
        if p.role in LANDING:  # cockpit for the city and viewers, workspace for planners, lessons for teachers
            return RedirectResponse(LANDING[p.role], status_code=303)
        return templates.TemplateResponse(request, "hmi.html", _ctx(request))

    @app.get("/hmi", include_in_schema=False)
    def hmi_any_role(request: Request, _p: PageLogin) -> Response:
        # the HMI for every logged-in role (viewers land on the cockpit but may still watch the plant)
        return templates.TemplateResponse(request, "hmi.html", _ctx(request))

    @app.get("/account", include_in_schema=False)
    def account(request: Request, _p: PageLogin) -> Response:
        # own password for everyone; the user administration part is shown to admins (the API checks the role)
        return templates.TemplateResponse(request, "account.html", _ctx(request))

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html", _ctx(request))
