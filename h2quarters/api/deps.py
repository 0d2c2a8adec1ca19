"""Shared state of the web app and the FastAPI dependencies for authentication and authorisation."""

from __future__ import annotations

from collections.abc import Callable
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator, BaseModel, BeforeValidator, WithJsonSchema

from h2quarters.api.auth import Principal, TokenService
from h2quarters.api.cache import TTLCache
from h2quarters.control.controller import Controller
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.registers import RegisterMap
from h2quarters.store import Store

COOKIE = "h2q_session"


class ErrorBody(BaseModel):
    """Every error response: ``detail`` is a text, an object ``{code, message, params}`` (``code`` and ``params``
    are what the HMI translates; 422 of a refused value also names ``field``, ``value`` and ``limit``) or, for
    request validation, FastAPI's list of errors."""

    detail: str | dict[str, Any] | list[Any]


_ERROR_TEXT = {400: "Bad request", 401: "Not authenticated (no, expired or revoked session)",
               403: "The role may not do this", 404: "Not found", 409: "Refused in the current state",
               413: "Request body too large", 422: "Invalid request (names the field, value and allowed range)",
               429: "Too many requests (login throttling)", 502: "PLC link failure (effect unknown)",
               503: "Not available in this process (no controller or no data yet)",
               504: "The controller did not answer in time"}


ISO_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$")
YEAR_MIN, YEAR_MAX = 1970, 2200


def _iso_text(v: Any) -> Any:
    if isinstance(v, datetime):
        return v
    if not isinstance(v, str) or not ISO_TIME_RE.match(v):
        raise ValueError(f"{v!r} is not an ISO 8601 date-time (e.g. 2026-06-21T10:00:00Z)")
    return v


def _year_range(v: datetime) -> datetime:
    if not YEAR_MIN <= v.year <= YEAR_MAX:
        raise ValueError(f"year {v.year} outside {YEAR_MIN}..{YEAR_MAX}")
    return v


IsoTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_year_range),
                    WithJsonSchema({"type": "string", "format": "date-time",
                                    "description": f"ISO 8601 (UTC if no offset), years {YEAR_MIN}..{YEAR_MAX}"})]
"""A time query parameter: ISO 8601 text only (``0.5`` is not a time), sensible years."""


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error status codes (all share :class:`ErrorBody`)."""
    return {c: {"model": ErrorBody, "description": _ERROR_TEXT[c]} for c in codes}


@dataclass
class ApiContext:
    """What the routes need: store, live hub, controller (None when the app only reads), register map."""

    store: Store
    hub: SnapshotHub
    rmap: RegisterMap
    settings: ControlSettings
    tokens: TokenService
    controller: Controller | None = None
    scenario: Any = None
    cache: TTLCache = field(default_factory=lambda: TTLCache(ttl_s=1.0))


def ctx(request: Request) -> ApiContext:
    """The app's context."""
    return request.app.state.ctx


_bearer = HTTPBearer(auto_error=False, description="Session token from POST /api/auth/login or /api/auth/token")


def principal(request: Request, c: Annotated[ApiContext, Depends(ctx)],
              cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The authenticated user (Bearer header or session cookie); 401 otherwise."""
    token = cred.credentials if cred is not None else request.cookies.get(COOKIE)
    p = c.tokens.verify(token) if token else None
    if p is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, {"code": "auth.required", "message": "not authenticated",
                                                           "params": {}},
                            headers={"WWW-Authenticate": "Bearer"})
    return p


def require(permission: str) -> Callable[..., Principal]:
    """Dependency: the user must hold ``permission`` (403 names the role and the permission)."""

    def dep(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.can(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                {"code": "auth.forbidden", "params": {"role": p.role, "permission": permission},
                                 "message": f"role '{p.role}' may not '{permission}' (user {p.name})"})
        return p

    dep.__name__ = f"require_{permission}"
    return dep


Reader = Annotated[Principal, Depends(require("read"))]
Commander = Annotated[Principal, Depends(require("command"))]
Auditor = Annotated[Principal, Depends(require("audit"))]
Replanner = Annotated[Principal, Depends(require("replan"))]
Admin = Annotated[Principal, Depends(require("users"))]
Ctx = Annotated[ApiContext, Depends(ctx)]


# ============================================================================ pages
# The server-rendered pages (cockpit, planners' workspace, learning lab) share one preamble: the language from
# ``?lang=``, else the ``h2q_lang`` cookie, else German; the user from the session; a page that needs a login sends
# the browser to /login (303); rendering remembers the language in the cookie for a year.
LANGS = ("de", "en")
LANG_COOKIE = "h2q_lang"
_TEXTS: dict[tuple[str, str], dict[str, str]] = {}


def page_texts(section: str, lang: str) -> dict[str, str]:
    """A page section's texts: ``static/i18n/<section>/<lang>.json`` of the web package (German for an unknown
    language), read once."""
    lang = lang if lang in LANGS else "de"
    if (section, lang) not in _TEXTS:
        web = Path(str(resources.files("h2quarters.web")))
        _TEXTS[section, lang] = json.loads((web / "static" / "i18n" / section / f"{lang}.json").read_text(
            encoding="utf-8"))
    return _TEXTS[section, lang]


def page_lang(request: Request, lang: str | None = None) -> str:
    """Dependency: the page's language (``?lang=``, else the ``h2q_lang`` cookie, else ``de``)."""
    if lang in LANGS:
        return lang  # type: ignore[return-value]
    c = request.cookies.get(LANG_COOKIE)
    return c if c in LANGS else "de"


def page_user(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
              ) -> Principal | None:
    """Dependency: the logged-in user (Bearer header or session cookie) or None; a page never answers 401."""
    token = cred.credentials if cred is not None else request.cookies.get(COOKIE)
    return request.app.state.ctx.tokens.verify(token) if token else None


class LoginRequired(Exception):
    """Raised where a page needs a (suitable) login: the app answers with a redirect to /login (303)."""


def to_login(_request: Request, _exc: Exception) -> Response:
    """Exception handler for :class:`LoginRequired` (registered by the app)."""
    return RedirectResponse("/login", status_code=303)


def page_login(permission: str | None = None) -> Callable[..., Principal]:
    """Dependency for a page that needs a login (and ``permission``, if given): the user, else
    :class:`LoginRequired` (the browser goes to /login)."""

    def dep(p: Annotated[Principal | None, Depends(page_user)]) -> Principal:
        if p is None or (permission is not None and not p.can(permission)):
            raise LoginRequired
        return p

    dep.__name__ = f"page_login_{permission or 'any'}"
    return dep


def render_page(templates: Jinja2Templates, request: Request, name: str, lang: str, texts: dict[str, str],
                **ctx: Any) -> Response:
    """Render page template ``name`` with its texts ``T``, ``lang``, ``langs``, ``path`` and ``ctx``; the response
    sets the ``h2q_lang`` cookie (a year; readable by the pages' scripts)."""
    resp = templates.TemplateResponse(request, name, {"T": texts, "lang": lang, "langs": LANGS,
                                                      "path": request.url.path, **ctx})
    resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=False, path="/")
    return resp


PageLang = Annotated[str, Depends(page_lang)]
PageUser = Annotated[Principal | None, Depends(page_user)]
PageLogin = Annotated[Principal, Depends(page_login())]
