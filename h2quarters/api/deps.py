"""Shared state of the web app and the FastAPI dependencies for authentication and authorisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from h2quarters.api.auth import Principal, TokenService
from h2quarters.api.cache import TTLCache
from h2quarters.control.controller import Controller
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.registers import RegisterMap
from h2quarters.store import Store

COOKIE = "h2q_session"


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
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not authenticated",
                            headers={"WWW-Authenticate": "Bearer"})
    return p


def require(permission: str) -> Callable[..., Principal]:
    """Dependency: the user must hold ``permission`` (403 names the role and the permission)."""

    def dep(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.can(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role '{p.role}' may not '{permission}' (user {p.name})")
        return p

    dep.__name__ = f"require_{permission}"
    return dep


Reader = Annotated[Principal, Depends(require("read"))]
Commander = Annotated[Principal, Depends(require("command"))]
Auditor = Annotated[Principal, Depends(require("audit"))]
Replanner = Annotated[Principal, Depends(require("replan"))]
Admin = Annotated[Principal, Depends(require("users"))]
Ctx = Annotated[ApiContext, Depends(ctx)]
