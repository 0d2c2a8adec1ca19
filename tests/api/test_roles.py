"""Role × endpoint matrix: every role against every endpoint (and no token at all)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from h2quarters.api.auth import PERMISSIONS, ROLES
from h2quarters.api.deps import COOKIE

from .conftest import auth

# (method, path, json body, permission)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/signals", None, "read"),
    ("GET", "/api/state", None, "read"),
    ("GET", "/api/stream?max_events=1", None, "read"),
    ("GET", "/api/history?signals=pv_power_kw&bucket_s=1", None, "read"),
    ("GET", "/api/alarms", None, "read"),
    ("GET", "/api/plan", None, "read"),
    ("GET", "/api/forecast", None, "read"),
    ("GET", "/api/forecast/errors", None, "read"),
    ("GET", "/api/loop", None, "read"),
    ("GET", "/api/auth/me", None, "read"),
    ("GET", "/api/audit", None, "audit"),
    ("GET", "/api/commands/nonexistent-id", None, "audit"),
    ("POST", "/api/mode", {"mode": "manual"}, "command"),
    ("POST", "/api/setpoints", {"name": "ventilation_setpoint_pct", "value": 25.0}, "command"),
    ("POST", "/api/safe/ack", {}, "command"),
    ("POST", "/api/lease/refresh", None, "command"),
    ("POST", "/api/alarms/999999/ack", None, "command"),
    ("POST", "/api/plan/replan", None, "replan"),
    ("GET", "/api/users", None, "users"),
    ("POST", "/api/users", {"name": "newbie", "role": "viewer", "password": "long-enough-pw"}, "users"),
    ("PATCH", "/api/users/nobody-here", {"active": False}, "users"),
    ("DELETE", "/api/users/nobody-here", None, "users"),
    ("PUT", "/api/users/nobody-here/password", {"password": "long-enough-pw"}, "users"),
    ("POST", "/api/auth/password", {"old_password": "wrong-password", "new_password": "long-enough-pw"}, "read"),
    # last: they leave the plant in SAFE
    ("POST", "/api/safe", {"confirm": True}, "command"),
    ("POST", "/api/estop", {"confirm": True}, "command"),
]


async def test_role_endpoint_matrix(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    results: dict[tuple[str, str], int] = {}
    for method, path, body, perm in ENDPOINTS:
        r = await client.request(method, path, json=body)
        assert r.status_code == 401, f"{method} {path} without token: {r.status_code}"
        for role in ROLES:
            r = await client.request(method, path, json=body, headers=auth(tokens[role]))
            results[(role, path)] = r.status_code
            allowed = role in PERMISSIONS[perm]
            if allowed:  # (a 403 for a wrong current password is no role refusal)
                code = r.json().get("detail", {}).get("code") if r.status_code in (401, 403) else None
                assert code not in ("auth.required", "auth.forbidden"), f"{role} {method} {path}: {r.text}"
            else:
                assert r.status_code == 403, f"{role} {method} {path}: {r.status_code} {r.text}"
                d = r.json()["detail"]
                assert d["code"] == "auth.forbidden" and role in d["message"] and perm in d["message"]
                assert d["params"] == {"role": role, "permission": perm}
    # only engineers and admins command the plant; the others were refused before anything was audited
    assert {role for role in ROLES if results[(role, "/api/setpoints")] == 200} == {"admin", "engineer"}
    # each audience lands on its own page; engineers and admins on the plant HMI
    landing = {}
    for role in ROLES:
        client.cookies.set(COOKIE, tokens[role])
        r = await client.get("/", follow_redirects=False)
        landing[role] = r.headers["location"] if r.status_code == 303 else f"HMI {r.status_code}"
    client.cookies.clear()
    assert landing == {"admin": "HMI 200", "engineer": "HMI 200", "teacher": "/lab", "student": "/lab/join",
                       "planner": "/plan", "viewer": "/cockpit", "city": "/cockpit"}


@pytest.mark.parametrize("bad", ["garbage", "Bearer x.y.z"])
async def test_bad_tokens_are_refused(client: httpx.AsyncClient, bad: str) -> None:
    r = await client.get("/api/state", headers={"Authorization": bad})
    assert r.status_code in (401, 403)
    client.cookies.set("h2q_session", "not-a-jwt")
    r = await client.get("/api/state")
    client.cookies.clear()
    assert r.status_code == 401
