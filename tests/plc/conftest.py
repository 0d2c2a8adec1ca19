"""Fixtures for the PLC tests: the scenario, its PV/load profile and a running virtual PLC on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pytest

from h2quarters.config import load_scenario
from h2quarters.config.scenario import Scenario
from h2quarters.plc.plant import PlantState, SiteProfile, site_profile
from h2quarters.plc.settings import PlcSettings, Security
from h2quarters.plc.virtual_plc import VirtualPlc

ROOT = Path(__file__).resolve().parents[2]
START = "2025-06-21T10:00"


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "oskar-von-miller")


@pytest.fixture(scope="session")
def profile(scenario: Scenario) -> SiteProfile:
    return site_profile(scenario, pd.Timestamp(START, tz=scenario.location.tz), days=3)


def dev_settings(**kw: object) -> PlcSettings:
    """Loopback, free ports, development security, fast ticks.

    The watchdog is armed from the start; without a controller writing heartbeats the tests use the longest
    allowed timeout (60 s) so that a slow test does not fall back midway (watchdog tests set their own).
    """
    base: dict[str, object] = {"start": START, "modbus_port": 0, "opcua_port": 0, "tick_s": 0.05,
                               "watchdog_timeout_ms": 60_000, "security": Security(mode="development")}
    base.update(kw)
    return PlcSettings(**base)


@pytest.fixture
def plant(scenario: Scenario, profile: SiteProfile) -> PlantState:
    return PlantState(scenario, dev_settings(), profile=profile)


@contextlib.asynccontextmanager
async def running_plc(scenario: Scenario, profile: SiteProfile,
                      env: dict[str, str] | None = None) -> AsyncIterator[VirtualPlc]:
    """A development PLC at 60× speed, started with ``env`` set (e.g. its own ``XDG_RUNTIME_DIR`` for the fault
    socket, which is resolved at start) and stopped on exit."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        vp = VirtualPlc(scenario, dev_settings(speed=60.0), profile=profile)
        await vp.start()
    try:
        yield vp
    finally:
        await vp.stop()


@pytest.fixture
async def plc(scenario: Scenario, profile: SiteProfile) -> AsyncIterator[VirtualPlc]:
    async with running_plc(scenario, profile) as vp:
        yield vp
