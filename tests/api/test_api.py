"""API behaviour on SQLite and PostgreSQL: state, history, setpoints (422/idempotent/audited), alarms, limits."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from h2quarters.control.runtime import Runtime

from .conftest import PASSWORD, auth


def plc_hold(rt: Runtime, name: str) -> Any:
    async def get() -> Any:
        return rt.plc.plant.hold[name]
    return rt.plc_thread.run(get())


async def test_state_carries_quality_and_changes(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["viewer"])
    a = (await client.get("/api/state", headers=h)).json()
    assert a["mode"] == "manual" and a["link"]["ok"]
    assert a["signals"]["tank_pressure_bar"]["q"] == "GOOD"
    assert set(a["signals"]["el_power_kw"]) == {"v", "q"}
    await asyncio.sleep(0.35)
    b = (await client.get("/api/state", headers=h)).json()
    assert b["seq"] > a["seq"] and b["t_ms"] > a["t_ms"]
    first = (await client.get("/api/stream?max_events=2", headers=h)).text
    events = [e for e in first.split("\n\n") if e.startswith("id:")]
    assert len(events) == 2 and '"mode":"manual"' in events[0]


async def test_setpoint_out_of_range_is_422_and_nothing_is_sent(live: Runtime, client: httpx.AsyncClient,
                                                                tokens: dict[str, str]) -> None:
    h = auth(tokens["engineer"])
    n_audit = len((await client.get("/api/audit?limit=1000", headers=h)).json())
    before = plc_hold(live, "el_production_rate_pct")
    r = await client.post("/api/setpoints", json={"name": "el_production_rate_pct", "value": 120.0}, headers=h)
    assert r.status_code == 422
    d = r.json()["detail"]
    assert d["field"] == "el_production_rate_pct" and d["limit"] == "allowed range is [0, 100] %"
    fc_max = live.scenario.fuel_cell.p_rated_kw
    r = await client.post("/api/setpoints", json={"name": "fc_setpoint_kw", "value": fc_max + 1}, headers=h)
    assert r.status_code == 422 and f"{fc_max:g}" in r.json()["detail"]["limit"]
    r = await client.post("/api/setpoints", json={"name": "el_production_rate_pct", "value": "50"}, headers=h)
    assert r.status_code == 422  # wrong type (string)
    r = await client.post("/api/setpoints", json={"name": "heartbeat", "value": 5}, headers=h)
    assert r.status_code == 422 and "settable" in r.json()["detail"]["limit"]
    assert plc_hold(live, "el_production_rate_pct") == before
    assert len((await client.get("/api/audit?limit=1000", headers=h)).json()) == n_audit


async def test_setpoint_applied_audited_and_idempotent(live: Runtime, client: httpx.AsyncClient,
                                                       tokens: dict[str, str]) -> None:
    h = auth(tokens["engineer"])
    body = {"name": "el_production_rate_pct", "value": 42.5, "command_id": "hmi-test-0000001"}
    live.controller.writer.call(time.sleep, 0.8)  # a busy disk: the store writer is behind
    r1 = await client.post("/api/setpoints", json=body, headers=h)
    assert r1.status_code == 200, r1.text
    assert r1.json()["status"] == "ok" and not r1.json()["duplicate"]
    # the controller's state record (what a restart after kill -9 reports) names the setpoint before the answer
    state = json.loads(live.store.get_meta("controller_state") or "{}")
    assert state["manual"]["el_production_rate_pct"] == pytest.approx(42.5), state
    assert plc_hold(live, "el_production_rate_pct") == pytest.approx(42.5)
    # a retry with the same id is not sent again: change the PLC behind the controller's back and retry
    async def poke() -> None:
        live.plc.plant.write("el_production_rate_pct", 10.0, source="test")
    live.plc_thread.run(poke())
    r2 = await client.post("/api/setpoints", json=body, headers=h)
    assert r2.status_code == 200 and r2.json()["duplicate"] and r2.json()["command_id"] == "hmi-test-0000001"
    assert plc_hold(live, "el_production_rate_pct") == pytest.approx(10.0)
    log = (await client.get("/api/audit?limit=50", headers=h)).json()
    mine = [c for c in log if c["command_id"] == "hmi-test-0000001"]
    assert len(mine) == 1
    assert mine[0]["user_name"] == "engineer1" and mine[0]["role"] == "engineer" and mine[0]["source"] == "api"
    assert mine[0]["value"] == 42.5 and mine[0]["t_result_ms"] >= mine[0]["t_ms"]
    one = (await client.get("/api/commands/hmi-test-0000001", headers=h)).json()
    assert one["status"] == "ok"
    r = await client.post("/api/lease/refresh", headers=h)
    assert r.status_code == 200 and r.json()["lease_left_s"] == live.settings.lease_s


async def test_mode_changes_and_setpoint_refused_outside_manual(client: httpx.AsyncClient,
                                                                tokens: dict[str, str]) -> None:
    h = auth(tokens["admin"])
    r = await client.post("/api/mode", json={"mode": "off"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = await client.post("/api/setpoints", json={"name": "el_production_rate_pct", "value": 20}, headers=h)
    assert r.status_code == 409 and r.json()["status"] == "refused" and "manual" in r.json()["detail"]
    r = await client.post("/api/safe/ack", json={}, headers=h)
    assert r.status_code == 409  # nothing to acknowledge
    r = await client.post("/api/mode", json={"mode": "safe"}, headers=h)
    assert r.status_code == 422  # SAFE is not a commandable mode
    assert (await client.get("/api/state", headers=h)).json()["mode"] == "off"


async def test_history_with_resampling(live: Runtime, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["student"])
    await asyncio.sleep(0.6)
    r = await client.get("/api/history", params={"signals": "plant_time_s,tank_pressure_bar"}, headers=h)
    assert r.status_code == 200
    s = r.json()["series"]
    assert len(s["plant_time_s"]["t_ms"]) >= 3 and s["plant_time_s"]["value"] == sorted(s["plant_time_s"]["value"])
    r = await client.get("/api/history", params={"signals": "plant_time_s", "bucket_s": 3600}, headers=h)
    one = r.json()["series"]["plant_time_s"]
    assert len(one["t_ms"]) in (1, 2) and one["min"][0] <= one["value"][0] <= one["max"][-1]
    r = await client.get("/api/history", params={"signals": "no_such_signal"}, headers=h)
    assert r.status_code == 422 and "no_such_signal" in str(r.json())
    r = await client.get("/api/history", params={"signals": "plant_time_s", "start": "2026-01-02T00:00:00Z",
                                                  "end": "2026-01-01T00:00:00Z"}, headers=h)
    assert r.status_code == 422


async def test_alarm_list_and_acknowledge(live: Runtime, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    aid = live.store.raise_alarm("test_alarm", "warning", "a test alarm")
    r = await client.get("/api/alarms?active=true", headers=auth(tokens["viewer"]))
    assert any(a["alarm_id"] == aid for a in r.json())
    r = await client.post(f"/api/alarms/{aid}/ack", headers=auth(tokens["viewer"]))
    assert r.status_code == 403
    r = await client.post(f"/api/alarms/{aid}/ack", headers=auth(tokens["engineer"]))
    assert r.status_code == 200 and r.json()["acked_by"] == "engineer1"
    assert (await client.post(f"/api/alarms/{aid}/ack", headers=auth(tokens["engineer"]))).status_code == 404


async def test_forecast_errors_over_stored_period(live: Runtime, client: httpx.AsyncClient,
                                                  tokens: dict[str, str]) -> None:
    t0 = (int(time.time() * 1000) // 900_000 - 2) * 900_000  # two steps ago
    live.store.save_forecast(t0, 900, "test", [1.0, 2.0], 0.0)
    r = await client.get("/api/forecast", headers=auth(tokens["viewer"]))
    assert r.status_code == 200 and r.json()["pv_kw"] == [1.0, 2.0] and len(r.json()["t_ms"]) == 2
    r = await client.get("/api/forecast/errors", headers=auth(tokens["viewer"]))
    assert r.status_code == 200 and r.json()["n_forecasts"] == 1
    assert set(r.json()) >= {"mae_kw", "rmse_kw", "skill", "n"}


async def test_openapi_limits_and_login(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    for p in ("/api/state", "/api/history", "/api/stream", "/api/mode", "/api/setpoints", "/api/alarms",
              "/api/alarms/{alarm_id}/ack", "/api/plan", "/api/forecast", "/api/audit", "/api/auth/token"):
        assert p in spec["paths"], p
    docs = (await client.get("/api/docs")).text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert (await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200
    big = {"name": "el_production_rate_pct", "value": 1.0, "pad": "x" * 100_000}
    r = await client.post("/api/setpoints", json=big, headers=auth(tokens["engineer"]))
    assert r.status_code == 413
    r = await client.post("/api/auth/login", json={"name": "engineer1", "password": "wrong-password"})
    assert r.status_code == 401
    r = await client.post("/api/auth/token", data={"username": "viewer1", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "default-src 'self'" in (await client.get("/login")).headers["content-security-policy"]
    r = await client.post("/api/users", json={"name": "x1", "role": "wizard", "password": "long-enough-pw"},
                          headers=auth(tokens["admin"]))
    assert r.status_code == 422


async def test_login_rate_limit(live: Runtime) -> None:
    from h2quarters.api.app import create_app

    s = live.settings.model_copy(update={"login_rate_per_min": 3})
    app = create_app(live.store, live.hub, live.rmap, s, controller=live.controller)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        codes = [(await c.post("/api/auth/login", json={"name": "x", "password": "y"})).status_code
                 for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
