"""Fixtures: the real virtual PLC (Modbus TCP on a free port) and the controller, each in its own thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from h2quarters.config import load_scenario
from h2quarters.config.scenario import Scenario
from h2quarters.control.runtime import Runtime
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.settings import PlcSettings

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller"

FAST = {"cycle_s": 0.1, "watchdog_timeout_ms": 1000, "link_debounce_polls": 3, "invalid_debounce_polls": 3,
            "driver_timeout_s": 0.2, "backoff_min_s": 0.1, "backoff_max_s": 0.5, "plc_port": 0, "plan_worker": "thread",
            "mpc_horizon_h": 4.0}


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """The default scenario."""
    return load_scenario(SCENARIO)


def wait_for(pred: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.02) -> float:
    """Wait until ``pred()`` is truthy; return the time it took (s); fail naming ``what`` on timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if pred():
            return time.monotonic() - t0
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def make_runtime(scenario: Scenario, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    """Factory of started runtimes (stopped at teardown)."""
    made: list[Runtime] = []

    def make(planner: bool = False, **kw: Any) -> Runtime:
        s = ControlSettings(**{**FAST, "db_url": f"sqlite:///{tmp_path}/h2q-{len(made)}.db", **kw})
        ps = PlcSettings(bind_host=s.plc_host, modbus_port=0, watchdog_timeout_ms=s.watchdog_timeout_ms,
                         start="2026-06-21T10:00:00")  # fixed start: the PV/load profile is computed once
        rt = Runtime(s, scenario, planner=planner, plc_settings=ps).start()
        made.append(rt)
        wait_for(lambda: rt.hub.latest()[1].get("link", {}).get("ok") and rt.hub.seq > 3, 30, "first cycles")
        return rt

    yield make
    for rt in made:
        rt.stop()
