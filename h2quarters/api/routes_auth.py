"""Authentication, sessions and user administration routes.

Sessions are server-side (see :class:`h2quarters.api.auth.TokenService`): logout, disabling, deleting a user or
changing their role or password end their sessions at once. Logins are throttled per client address and per
account (:class:`h2quarters.api.auth.LoginGuard`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from h2quarters.api import auth as A
from h2quarters.api.auth import ROLES, Principal, add_user
from h2quarters.api.deps import COOKIE, Admin, Ctx, _bearer, errors, principal

router = APIRouter(prefix="/api", tags=["auth"])
RoleName = Literal[ROLES]  # type: ignore[valid-type]
UserName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class LoginRequest(BaseModel):
    """User name and password."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    """A session token."""

    access_token: str
    token_type: Literal["bearer"]
    expires: int = Field(description="Expiry, Unix seconds")
    name: str
    role: RoleName


class NewUser(BaseModel):
    """A user to create."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    role: RoleName
    password: str = Field(min_length=A.MIN_PASSWORD_LEN, max_length=256)


class UserChange(BaseModel):
    """Role and/or active flag of a user (omitted = unchanged)."""

    role: RoleName | None = None
    active: bool | None = None


class UserOut(BaseModel):
    """A user (never the hash)."""

    name: str
    role: RoleName
    active: bool
    t_created_ms: int


class PasswordChange(BaseModel):
    """Own password: the current one and the new one."""

    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=A.MIN_PASSWORD_LEN, max_length=256)


class NewPassword(BaseModel):
    """A new password (set by an admin)."""

    password: str = Field(min_length=A.MIN_PASSWORD_LEN, max_length=256)


class Me(BaseModel):
    """The logged-in user."""

    name: str
    role: RoleName
    permissions: list[str]


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


async def _login(c: Any, request: Request, name: str, password: str) -> tuple[str, int, dict[str, Any]]:
    guard: A.LoginGuard = request.app.state.login_guard
    if not guard.ip.allow(_client(request)):
        raise HTTPException(429, {"code": "login.rate_ip", "message": "too many login attempts from this "
                                  "address; wait a minute", "params": {}})
    wait_s = guard.locked_for_s(name)
    if wait_s:
        raise HTTPException(429, {"code": "login.locked", "params": {"s": round(wait_s)},
                                  "message": f"too many failed logins for this account; try again in "
                                             f"{round(wait_s)} s"})
    u = await run_in_threadpool(c.tokens.login, name, password)
    if u is None:
        guard.failed(name)
        raise HTTPException(401, {"code": "login.wrong", "message": "wrong user name or password", "params": {}})
    guard.succeeded(name)
    tok, exp = await run_in_threadpool(c.tokens.issue, u)
    return tok, exp, u


LOGIN_ERRORS = errors(401, 422, 429)


@router.post("/auth/login", summary="Log in (JSON); sets the session cookie", responses=LOGIN_ERRORS)
async def login(body: LoginRequest, request: Request, response: Response, c: Ctx) -> TokenResponse:
    """Returns a bearer token and sets it as an HttpOnly, SameSite=Strict cookie for the web HMI."""
    tok, exp, u = await _login(c, request, body.name, body.password)
    response.set_cookie(COOKIE, tok, max_age=c.tokens.ttl_s, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return TokenResponse(access_token=tok, token_type="bearer", expires=exp, name=u["name"], role=u["role"])


@router.post("/auth/token", summary="OAuth2 password flow (for API clients and the OpenAPI page)",
             responses=LOGIN_ERRORS)
async def token(username: Annotated[str, Form(min_length=1, max_length=64)],
                password: Annotated[str, Form(min_length=1, max_length=256)], request: Request, c: Ctx
                ) -> TokenResponse:
    """Bearer token for ``username``/``password`` (OAuth2 password form; no cookie)."""
    tok, exp, u = await _login(c, request, username, password)
    return TokenResponse(access_token=tok, token_type="bearer", expires=exp, name=u["name"], role=u["role"])


@router.post("/auth/logout", summary="Log out: ends the session at once (token and cookie)")
def logout(request: Request, response: Response, c: Ctx,
           cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> dict[str, bool]:
    """Revokes the session of the bearer token or cookie (a copied token stops working too) and clears the
    cookie; ``revoked`` is false when there was no live session."""
    tok = cred.credentials if cred is not None else request.cookies.get(COOKIE)
    revoked = bool(tok) and c.tokens.revoke(tok)
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True, "revoked": revoked}


@router.get("/auth/me", summary="The logged-in user and permissions", responses=errors(401))
def me(p: Annotated[Principal, Depends(principal)]) -> Me:
    """Name, role and the permissions of the role."""
    return Me(name=p.name, role=p.role, permissions=sorted(k for k, v in A.PERMISSIONS.items() if p.role in v))


@router.post("/auth/password", summary="Change the own password (ends the user's other sessions)",
             responses=errors(401, 403, 422, 429))
async def own_password(body: PasswordChange, request: Request, response: Response, c: Ctx,
                       p: Annotated[Principal, Depends(principal)]) -> TokenResponse:
    """Checks the current password (403 if wrong, throttled like a login), sets the new one, revokes every
    session of the user and returns a fresh token (also as cookie)."""
    guard: A.LoginGuard = request.app.state.login_guard
    if guard.locked_for_s(p.name):
        raise HTTPException(429, {"code": "login.locked", "message": "too many failed attempts; wait",
                                  "params": {"s": round(guard.locked_for_s(p.name))}})
    u = await run_in_threadpool(c.tokens.login, p.name, body.old_password)
    if u is None:
        guard.failed(p.name)
        raise HTTPException(403, {"code": "password.wrong", "field": "old_password", "message": "current password "
                                  "is wrong", "params": {}})
    await run_in_threadpool(A.change_password, c.store, p.name, body.new_password)
    c.tokens.revoke_user(p.name)
    tok, exp = await run_in_threadpool(c.tokens.issue, u)
    response.set_cookie(COOKIE, tok, max_age=c.tokens.ttl_s, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return TokenResponse(access_token=tok, token_type="bearer", expires=exp, name=u["name"], role=u["role"])


@router.get("/users", summary="List users (admin)", responses=errors(401, 403))
def users(c: Ctx, _p: Admin) -> list[UserOut]:
    """All users (no hashes)."""
    return [UserOut(**u) for u in c.store.list_users()]


@router.post("/users", status_code=201, summary="Create a user (admin)", responses=errors(401, 403, 409, 422))
async def create_user(body: NewUser, c: Ctx, _p: Admin) -> UserOut:
    """Creates a user with an argon2 hash; 409 if the name exists."""
    try:
        await run_in_threadpool(add_user, c.store, body.name, body.role, body.password)
    except ValueError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422,
                            {"code": "user.exists" if "exists" in str(exc) else "user.invalid",
                             "message": str(exc), "params": {"name": body.name}}) from None
    u = c.store.get_user(body.name)
    assert u is not None
    return UserOut(**{k: u[k] for k in UserOut.model_fields})


def _not_found(name: str) -> HTTPException:
    return HTTPException(404, {"code": "user.unknown", "message": f"user {name!r} not found",
                               "params": {"name": name}})


def _last_admin(exc: ValueError, name: str) -> HTTPException:
    return HTTPException(409, {"code": "user.last_admin", "message": str(exc), "params": {"name": name}})


@router.patch("/users/{name}", summary="Change role or disable/enable a user (admin)",
              responses=errors(401, 403, 404, 409, 422))
async def change_user(name: UserName, body: UserChange, c: Ctx, _p: Admin) -> UserOut:
    """A changed role or a disabled account ends the user's sessions at once. The last active admin cannot be
    demoted or disabled (409)."""
    try:
        u = await run_in_threadpool(A.update_user, c.store, name, body.role, body.active)
    except KeyError:
        raise _not_found(name) from None
    except ValueError as exc:
        raise _last_admin(exc, name) from None
    if body.role is not None or body.active is False:
        c.tokens.revoke_user(name)
    c.tokens.forget_user(name)
    return UserOut(**{k: u[k] for k in UserOut.model_fields})


@router.delete("/users/{name}", summary="Delete a user (admin)", responses=errors(401, 403, 404, 409, 422))
async def remove_user(name: UserName, c: Ctx, _p: Admin) -> dict[str, str]:
    """Deletes the account and ends its sessions (the audit trail keeps the name). Not the last active admin."""
    try:
        await run_in_threadpool(A.delete_user, c.store, name)
    except KeyError:
        raise _not_found(name) from None
    except ValueError as exc:
        raise _last_admin(exc, name) from None
    c.tokens.revoke_user(name)
    return {"deleted": name}


@router.put("/users/{name}/password", summary="Set a user's password (admin)",
            responses=errors(401, 403, 404, 422))
async def set_user_password(name: UserName, body: NewPassword, c: Ctx, _p: Admin) -> dict[str, str]:
    """Sets a new password and ends the user's sessions."""
    try:
        await run_in_threadpool(A.change_password, c.store, name, body.password)
    except KeyError:
        raise _not_found(name) from None
    c.tokens.revoke_user(name)
    return {"name": name}

