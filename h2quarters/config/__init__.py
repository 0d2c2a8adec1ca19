"""Scenario configuration: validated pydantic models loaded from YAML."""

from h2quarters.config.loader import Problem, ScenarioError, load_scenario, parse_scenario
from h2quarters.config.scenario import Scenario

__all__ = ["Problem", "Scenario", "ScenarioError", "load_scenario", "parse_scenario"]
