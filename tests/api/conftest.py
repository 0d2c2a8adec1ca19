"""API fixtures: a live runtime (virtual PLC over Modbus, controller) on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from h2quarters.api.app import create_app
from h2quarters.api.auth import ROLES, hash_password
from h2quarters.config import load_scenario
from h2quarters.config.scenario import Scenario
from h2quarters.control.runtime import Runtime
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.settings import PlcSettings
from h2quarters.store import Store

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """The default scenario."""
    return load_scenario(SCENARIO)


def wait_for(pred: Callable[[], Any], timeout_s: float, what: str) -> None:
    """Poll ``pred`` until truthy or fail naming ``what``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def settings_for(db_url: str, **kw: Any) -> ControlSettings:
    """Fast settings for tests; the link tolerates a ~10-s stall (debounce 12 polls, watchdogs 10 s, 1-s requests).

    With the other test worker on the second core, a 0.3-s Modbus request timeout of the in-process PLC fired now
    and then (no response within 0.3 s while this process's threads were busy): the driver reconnected and a
    command in that moment was refused 409 link.down or failed 502, and three missed polls sent the controller
    SAFE. These API tests judge roles, pages, commands and errors; link loss, timeouts and watchdogs have their
    own tests (tests/control, tests/plc).
    """
    base = {"cycle_s": 0.1, "watchdog_timeout_ms": 10_000, "link_debounce_polls": 12, "driver_timeout_s": 1.0,
            "backoff_min_s": 0.1, "backoff_max_s": 1.0, "plc_port": 0, "start_mode": "manual", "db_url": db_url,
            "login_rate_per_min": 1000}
    return ControlSettings(**{**base, **kw})


PLC_START = "2026-06-21T10:00:00"  # a fixed start: the PLC's PV/load profile is computed once per session


@pytest.fixture(scope="session")
def pw_hash() -> str:
    """argon2 hash of ``PASSWORD`` (hashing is slow on purpose: do it once)."""
    return hash_password(PASSWORD)


def plc_settings(s: ControlSettings) -> PlcSettings:
    """Virtual PLC settings matching the controller settings."""
    return PlcSettings(bind_host=s.plc_host, modbus_port=0, watchdog_timeout_ms=s.watchdog_timeout_ms,
                       start=PLC_START)


@pytest.fixture
def live(db_url: str, scenario: Scenario, pw_hash: str) -> Iterator[Runtime]:
    """Started runtime in MANUAL with one user per role (password ``PASSWORD``)."""
    store = Store(db_url)
    for r in ROLES:
        store.add_user(f"{r}1", r, pw_hash)
    s = settings_for(db_url)
    rt = Runtime(s, scenario, store=store, planner=False, plc_settings=plc_settings(s)).start()
    wait_for(lambda: rt.hub.latest()[1].get("mode") == "manual", 20, "controller in MANUAL")
    yield rt
    rt.stop()


@pytest.fixture
async def client(live: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client on the app (in-process ASGI)."""
    app = create_app(live.store, live.hub, live.rmap, live.settings, controller=live.controller,
                     scenario=live.scenario)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def tokens(client: httpx.AsyncClient) -> dict[str, str]:
    """Bearer token per role (one real login; the rest issued directly: argon2 is slow on purpose)."""
    res = await client.post("/api/auth/login", json={"name": "engineer1", "password": PASSWORD})
    assert res.status_code == 200, res.text
    client.cookies.clear()
    svc = client._transport.app.state.ctx.tokens  # type: ignore[attr-defined]
    out = {r: svc.issue({"name": f"{r}1", "role": r})[0] for r in ROLES}
    out["engineer"] = res.json()["access_token"]
    return out


def auth(tok: str) -> dict[str, str]:
    """Authorization header."""
    return {"Authorization": f"Bearer {tok}"}
