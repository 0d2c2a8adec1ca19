"""Authentication and user administration routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from h2quarters.api.auth import ROLES, Principal, add_user
from h2quarters.api.deps import COOKIE, Admin, Ctx, principal

router = APIRouter(prefix="/api", tags=["auth"])


class LoginRequest(BaseModel):
    """User name and password."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class NewUser(BaseModel):
    """A user to create."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    role: str = Field(description=f"one of {', '.join(ROLES)}")
    password: str = Field(min_length=10, max_length=256)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


async def _login(c: Any, request: Request, name: str, password: str) -> tuple[str, int, dict[str, Any]]:
    limiter = request.app.state.login_limiter
    if not limiter.allow(_client(request)):
        raise HTTPException(429, "too many login attempts; wait a minute")
    u = await run_in_threadpool(c.tokens.login, name, password)
    if u is None:
        raise HTTPException(401, "wrong user name or password")
    tok, exp = c.tokens.issue(u)
    return tok, exp, u


@router.post("/auth/login", summary="Log in (JSON); sets the session cookie")
async def login(body: LoginRequest, request: Request, response: Response, c: Ctx) -> dict[str, Any]:
    """Returns a bearer token and sets it as an HttpOnly, SameSite=Strict cookie for the web HMI."""
    tok, exp, u = await _login(c, request, body.name, body.password)
    response.set_cookie(COOKIE, tok, max_age=c.tokens.ttl_s, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return {"access_token": tok, "token_type": "bearer", "expires": exp, "name": u["name"], "role": u["role"]}


@router.post("/auth/token", summary="OAuth2 password flow (for API clients and the OpenAPI page)")
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, c: Ctx) -> dict[str, Any]:
    """Bearer token for ``username``/``password`` (no cookie)."""
    tok, exp, u = await _login(c, request, form.username, form.password)
    return {"access_token": tok, "token_type": "bearer", "expires": exp, "role": u["role"]}


@router.post("/auth/logout", summary="Log out (clears the cookie)")
def logout(response: Response) -> dict[str, bool]:
    """Removes the session cookie."""
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/auth/me", summary="The logged-in user and permissions")
def me(p: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    """Name, role and the permissions of the role."""
    from h2quarters.api.auth import PERMISSIONS

    return {"name": p.name, "role": p.role, "permissions": sorted(k for k, v in PERMISSIONS.items() if p.role in v)}


@router.get("/users", summary="List users (admin)")
def users(c: Ctx, _p: Admin) -> list[dict[str, Any]]:
    """All users (no hashes)."""
    return c.store.list_users()


@router.post("/users", status_code=201, summary="Create a user (admin)")
async def create_user(body: NewUser, c: Ctx, _p: Admin) -> dict[str, str]:
    """Creates a user with an argon2 hash; 409 if the name exists, 422 for an unknown role."""
    if body.role not in ROLES:
        raise HTTPException(422, {"field": "role", "value": body.role, "limit": f"one of {list(ROLES)}"})
    try:
        await run_in_threadpool(add_user, c.store, body.name, body.role, body.password)
    except ValueError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
    return {"name": body.name, "role": body.role}
