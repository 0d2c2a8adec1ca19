"""Sessions and users, login throttling, SAFE/E-stop commands, audited alarm acks, bounded inputs, long queries."""

from __future__ import annotations

import httpx

from h2quarters.control.runtime import Runtime

from .conftest import PASSWORD, auth, wait_for


async def _login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    r = await client.post("/api/auth/login", json={"name": name, "password": password})
    client.cookies.clear()
    return r


async def test_sessions_users_and_throttling(client: httpx.AsyncClient, live: Runtime) -> None:
    # logout revokes the token at once, also a copy of it used as bearer
    tok = (await _login(client, "viewer1")).json()["access_token"]
    assert (await client.get("/api/auth/me", headers=auth(tok))).status_code == 200
    r = await client.post("/api/auth/logout", headers=auth(tok))
    assert r.json() == {"ok": True, "revoked": True}
    assert (await client.get("/api/auth/me", headers=auth(tok))).status_code == 401

    admin = (await _login(client, "admin1")).json()["access_token"]
    eng = (await _login(client, "engineer1")).json()["access_token"]
    # disabling a user ends the session at once and refuses logins
    r = await client.patch("/api/users/engineer1", json={"active": False}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.get("/api/state", headers=auth(eng))).status_code == 401
    assert (await _login(client, "engineer1")).status_code == 401
    await client.patch("/api/users/engineer1", json={"active": True}, headers=auth(admin))
    # a role change ends the sessions; the new session carries the new role
    eng = (await _login(client, "engineer1")).json()["access_token"]
    r = await client.patch("/api/users/engineer1", json={"role": "viewer"}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert (await client.get("/api/state", headers=auth(eng))).status_code == 401
    me = await client.get("/api/auth/me", headers=auth((await _login(client, "engineer1")).json()["access_token"]))
    assert me.json()["role"] == "viewer" and "command" not in me.json()["permissions"]
    # unknown roles are refused by the schema (enum), unknown users are 404
    r = await client.patch("/api/users/engineer1", json={"role": "wizard"}, headers=auth(admin))
    assert r.status_code == 422
    assert (await client.patch("/api/users/nobody", json={"active": False}, headers=auth(admin))).status_code == 404
    # the last active admin can be neither demoted, disabled nor deleted
    for method, body in (("PATCH", {"role": "viewer"}), ("PATCH", {"active": False}), ("DELETE", None)):
        r = await client.request(method, "/api/users/admin1", json=body, headers=auth(admin))
        assert r.status_code == 409 and r.json()["detail"]["code"] == "user.last_admin"
    # delete: sessions end, the name is gone
    stu = (await _login(client, "student1")).json()["access_token"]
    assert (await client.delete("/api/users/student1", headers=auth(admin))).status_code == 200
    assert (await client.get("/api/state", headers=auth(stu))).status_code == 401
    assert "student1" not in {u["name"] for u in (await client.get("/api/users", headers=auth(admin))).json()}

    # own password: the old one must be right; other sessions end; the new password works
    t1 = (await _login(client, "teacher1")).json()["access_token"]
    t2 = (await _login(client, "teacher1")).json()["access_token"]
    r = await client.post("/api/auth/password", json={"old_password": "not-the-password",
                                                       "new_password": "new-password-123"}, headers=auth(t1))
    assert r.status_code == 403 and r.json()["detail"]["field"] == "old_password"
    r = await client.post("/api/auth/password", json={"old_password": PASSWORD, "new_password": "new-password-123"},
                          headers=auth(t1))
    assert r.status_code == 200
    client.cookies.clear()
    assert (await client.get("/api/state", headers=auth(t2))).status_code == 401
    assert (await client.get("/api/state", headers=auth(r.json()["access_token"]))).status_code == 200
    assert (await _login(client, "teacher1", "new-password-123")).status_code == 200

    # per-account throttling: after 5 failures even the right password waits; other accounts are unaffected
    for _ in range(5):
        assert (await _login(client, "planner1", "wrong-password-x")).status_code == 401
    r = await _login(client, "planner1")
    assert r.status_code == 429 and r.json()["detail"]["code"] == "login.locked"
    assert r.json()["detail"]["params"]["s"] > 0
    assert (await _login(client, "viewer1")).status_code == 200

    # per client address: a budget per minute
    from h2quarters.api.app import create_app

    s = live.settings.model_copy(update={"login_rate_per_min": 3})
    app = create_app(live.store, live.hub, live.rmap, s, controller=live.controller, scenario=live.scenario)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        codes = [(await c.post("/api/auth/login", json={"name": f"x{i}", "password": "y"})).status_code
                 for i in range(4)]
    assert codes == [401, 401, 401, 429]


async def test_safe_and_estop_commands_are_confirmed_audited_and_acknowledged(
        client: httpx.AsyncClient, tokens: dict[str, str], live: Runtime) -> None:
    h = auth(tokens["engineer"])
    r = await client.post("/api/estop", json={}, headers=h)
    assert r.status_code == 422  # no confirmation, nothing sent
    assert (await client.post("/api/safe", json={"confirm": False}, headers=h)).status_code == 422
    r = await client.post("/api/safe", json={"confirm": True}, headers=h)
    assert r.status_code == 200 and r.json()["kind"] == "safe"
    st = (await client.get("/api/state", headers=h)).json()
    assert st["mode"] == "safe" and st["safe_reasons"] == ["operator_safe"]
    # E-stop on top: the PLC's software E-stop is pressed, electrolyser trips are latched
    r = await client.post("/api/estop", json={"confirm": True, "command_id": "estop-test-1"}, headers=h)
    assert r.status_code == 200, r.text
    wait_for(lambda: live.hub.latest()[1]["signals"]["estop_active"]["v"] is True, 10, "PLC E-stop active")
    assert live.plc.plant.hold["estop"] is True
    audit = {c["command_id"]: c for c in (await client.get("/api/audit?limit=50", headers=h)).json()}
    assert audit["estop-test-1"]["user_name"] == "engineer1" and audit["estop-test-1"]["status"] == "ok"
    assert any(c["kind"] == "safe" and c["user_name"] == "engineer1" for c in audit.values())
    # the acknowledgement releases the E-stop, resets the trip and leaves SAFE to OFF
    r = await client.post("/api/safe/ack", json={}, headers=h)
    assert r.status_code == 200, r.text
    assert live.plc.plant.hold["estop"] is False
    wait_for(lambda: live.hub.latest()[1]["signals"]["estop_active"]["v"] is False, 10, "E-stop released")
    assert (await client.get("/api/state", headers=h)).json()["mode"] == "off"


async def test_alarm_ack_is_audited_and_ids_are_bounded(client: httpx.AsyncClient, tokens: dict[str, str],
                                                        live: Runtime) -> None:
    h = auth(tokens["engineer"])
    aid = live.store.raise_alarm("test_ack", "warning", "a test alarm", {"x": 1})
    r = await client.post(f"/api/alarms/{aid}/ack", headers=h)
    assert r.status_code == 200
    row = next(c for c in (await client.get("/api/audit?limit=20", headers=h)).json() if c["kind"] == "ack_alarm")
    assert row["target"] == f"alarm:{aid}" and row["value"] == "test_ack" and row["user_name"] == "engineer1"
    assert (await client.post(f"/api/alarms/{aid}/ack", headers=h)).status_code == 404  # already acknowledged
    for bad in ("9223372036854775808", "2147483648", "0", "-1", "1e3"):
        r = await client.post(f"/api/alarms/{bad}/ack", headers=h)
        assert r.status_code == 422, (bad, r.status_code)

    # times are ISO 8601 text within sensible years; end not before start
    for query in ("audit?start=0.5", "audit?end=1700000000", "audit?start=10000-01-01",
                  "audit?start=1500-01-01T00:00:00", "history?signals=pv_power_kw&start=abc",
                  "forecast/errors?end=0001-01-01", "audit?user=" + "x" * 65,
                  "history?signals=pv_power_kw&start=2026-01-02&end=2026-01-01"):
        r = await client.get("/api/" + query, headers=h)
        assert r.status_code == 422, (query, r.status_code, r.text)

    # long periods are aggregated instead of refused
    r = await client.get("/api/history?signals=pv_power_kw&start=2020-01-01T00:00:00Z&end=2026-01-01T00:00:00Z",
                         headers=h)
    assert r.status_code == 200, r.text
    r = await client.get("/api/history?signals=pv_power_kw&bucket_s=1&start=2025-01-01&end=2026-01-01", headers=h)
    assert r.status_code == 200 and r.json()["bucket_s"] >= 365 * 86_400 / 20_000
    r = await client.get("/api/forecast/errors?start=2020-01-01T00:00:00Z", headers=h)
    assert r.status_code == 200, r.text
