"""A live server (virtual PLC + controller + uvicorn); the browser fixtures are in tests/conftest.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from h2quarters.api.app import create_app
from h2quarters.api.auth import add_user
from h2quarters.config import load_scenario
from h2quarters.control.runtime import Runtime
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.settings import PlcSettings
from h2quarters.store import Store

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller"
PASSWORD = "correct-horse-battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Base URL and runtime of a running h2quarters server with an engineer and a viewer."""
    db = f"sqlite:///{tmp_path_factory.mktemp('web')}/h2q.db"
    store = Store(db)
    add_user(store, "erika", "engineer", PASSWORD)
    add_user(store, "victor", "viewer", PASSWORD)
    # link loss and watchdog are tested elsewhere; here a busy machine (the PLC thread shares this process with
    # the browser-driving test) stalled polls for 3 × 1 s and the controller went SAFE mid-test: tolerate ~10 s
    s = ControlSettings(cycle_s=0.25, watchdog_timeout_ms=10000, plc_port=0, start_mode="auto", db_url=db,
                        port=_free_port(), lease_s=600, link_debounce_polls=12)
    ps = PlcSettings(modbus_port=0, watchdog_timeout_ms=10000, start="2026-06-21T10:00:00")
    rt = Runtime(s, load_scenario(SCENARIO), store=store, planner=False, plc_settings=ps).start()
    app = create_app(store, rt.hub, rt.rmap, s, controller=rt.controller, scenario=rt.scenario)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=s.port, log_level="warning",
                                       timeout_graceful_shutdown=1))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not srv.started:
        assert time.monotonic() - t0 < 20, "uvicorn did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{s.port}", "rt": rt}
    srv.should_exit = True
    th.join(10)
    rt.stop()
