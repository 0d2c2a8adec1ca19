"""Shared fixtures of the quarter tests: the Wesertor scenario and one short simulated week."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WESERTOR = ROOT / "scenarios" / "wesertor"


@pytest.fixture(scope="session")
def wesertor_dir() -> Path:
    """The default quarter directory."""
    return WESERTOR


@pytest.fixture(scope="session")
def week_result():
    """One week in March (heating season, PV rising) with the rolling optimiser and the grid check."""
    from h2quarters.quarter.simulate import simulate_quarter

    return simulate_quarter(WESERTOR, start="2025-03-10", end="2025-03-17", check_steps=12)
