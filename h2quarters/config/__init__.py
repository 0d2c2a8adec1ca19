"""Scenario configuration: validated pydantic models loaded from YAML.

The loader and the models are imported on first use (PEP 562 ``__getattr__``): commands that only need the
scenario paths (``h2q plc fault ...``) do not pay for building the pydantic models at start.
"""

from __future__ import annotations

import importlib
from pathlib import Path as _Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {"ConfigError": "loader", "Problem": "loader", "ScenarioError": "loader", "load_scenario": "loader",
         "load_yaml_model": "loader", "parse_scenario": "loader", "parse_yaml_model": "loader",
         "validate_update": "loader", "Scenario": "scenario"}

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS_DIR", "ConfigError", "Problem", "Scenario", "ScenarioError",
           "load_scenario", "load_yaml_model", "parse_scenario", "parse_yaml_model", "validate_update"]


def __getattr__(name: str) -> Any:
    """Import the loader / scenario models on first access of one of their names."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"h2quarters.config.{_LAZY[name]}"), name)
        globals()[name] = value  # later accesses skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
