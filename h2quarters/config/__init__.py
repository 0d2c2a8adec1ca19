"""Scenario configuration: validated pydantic models loaded from YAML."""

from pathlib import Path as _Path

from h2quarters.config.loader import (
    ConfigError,
    Problem,
    ScenarioError,
    load_scenario,
    load_yaml_model,
    parse_scenario,
    parse_yaml_model,
    validate_update,
)
from h2quarters.config.scenario import Scenario

SCENARIOS_DIR = _Path(__file__).resolve().parents[2] / "scenarios"
"""The scenarios shipped with the project (resolved from the package, so commands work from any directory)."""
DEFAULT_SCENARIO = SCENARIOS_DIR / "oskar-von-miller"
"""The school's pilot, the default scenario of ``h2q serve`` and ``h2q plc``."""

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS_DIR", "ConfigError", "Problem", "Scenario", "ScenarioError",
           "load_scenario", "load_yaml_model", "parse_scenario", "parse_yaml_model", "validate_update"]
