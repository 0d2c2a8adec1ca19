"""Load YAML into validated pydantic models, with one clear message per problem.

A message names the YAML path (``electrolyser.p_rated_kw``), the line in the file, the offending value and
what is allowed (range, choices, or the valid keys for an unknown key). All problems of a file are reported
at once in one :class:`ConfigError` (:class:`ScenarioError` for scenarios). Every configuration file of
h2quarters (scenarios, quarters, controller and optimiser settings) goes through :func:`load_yaml_model`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from h2quarters.config.scenario import Scenario

SCENARIO_FILE = "scenario.yaml"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One problem in a configuration file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path or '<top>'}"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """A configuration file could not be loaded; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class ScenarioError(ConfigError):
    """A scenario file could not be loaded; ``problems`` lists every problem found."""


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map every YAML path (tuple of keys / list indices) to its 1-based line number."""
    index: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = path + (key.value,)
                index[sub] = key.start_mark.line + 1
                walk(value, sub)
                index[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return index


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields allowed at the parent of ``loc`` (for unknown-key suggestions)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        current = _first_model(ann)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [name for name, f in fields.items() if not f.exclude]


def _first_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``annotation`` (handles ``X | None`` and ``list[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    """Human text for one pydantic error dict: value, and what is allowed."""
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx", {}) or {}
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        allowed = _field_names(model, loc)
        key = str(loc[-1]) if loc else "?"
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'? (units are part of the name)" if close else ""
        return f"unknown key '{key}'.{hint} Allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required value is missing"
    shown = repr(value)
    bounds = {
        "greater_than": f"must be > {ctx.get('gt')}",
        "greater_than_equal": f"must be >= {ctx.get('ge')}",
        "less_than": f"must be < {ctx.get('lt')}",
        "less_than_equal": f"must be <= {ctx.get('le')}",
    }
    if kind in bounds:
        return f"value {shown} out of range: {bounds[kind]}"
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"):
        unit = _unit_of(str(loc[-1])) if loc else ""
        unit_hint = f" in {unit} (the unit is in the key name)" if unit else ""
        return f"value {shown} is not a plain number; give a number{unit_hint}"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type", "date_from_datetime_inexact"):
        return f"value {shown} is not a date; give YYYY-MM-DD"
    if kind == "literal_error":
        return f"value {shown} is not allowed; choose one of {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg")))
    return f"value {shown}: {err.get('msg')}"


_UNITS = {
    "_kw": "kW", "_kwp": "kWp", "_kwh": "kWh", "_kg": "kg", "_bar": "bar", "_c": "°C", "_deg": "degrees",
    "_m2": "m²", "_m3": "m³", "_m": "m", "_pct": "%", "_min": "minutes", "_a": "years", "_eur": "EUR",
    "_h": "hours", "_frac": "fraction 0..1",
}


def _unit_of(key: str) -> str:
    for suffix, unit in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if key.endswith(suffix) or f"{suffix}_per" in key:
            return unit
    return ""


def _problems_from(error: ValidationError, lines: dict[tuple[str | int, ...], int],
                   model: type[BaseModel]) -> list[Problem]:
    problems: list[Problem] = []
    for err in error.errors(include_url=False):
        # pydantic puts union branch names (e.g. 'float', 'SeriesRef') into loc; drop them for the YAML path
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or not str(p)[:1].isupper()
                    and str(p) not in {"float", "int", "constrained-float", "function-after"})
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        line = None
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in lines:
                line = lines[loc[:cut]]
                break
        problems.append(Problem(path, line, _describe({**err, "loc": loc}, model)))
    # A union (number | series) reports one error per branch; keep one message per path and kind.
    unique: dict[tuple[str, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.path, p.message), p)
    return list(unique.values())


def _yaml_syntax_problem(exc: yaml.YAMLError) -> Problem:
    """A YAML syntax error as a :class:`Problem` with line and column.

    PyYAML's own text names the stream it parsed (``"<unicode string>"``), not the file; the caller's
    ``source`` (the file path) heads the message instead, so only the problem and its position are kept.
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    parts = [str(getattr(exc, attr)) for attr in ("context", "problem") if getattr(exc, attr, None)]
    what = ", ".join(parts) if parts else type(exc).__name__
    column = f", column {mark.column + 1}" if mark is not None else ""
    return Problem("", line, f"not valid YAML{column}: {what}")


def validate_update(instance: M, updates: dict[str, Any], source: str = "command line",
                    error: type[ConfigError] = ConfigError) -> M:
    """Apply ``updates`` to a validated model through the same validation as its YAML.

    ``model_copy(update=...)`` would skip validation; this re-validates the merged values, so a value
    given on the command line is refused exactly like the same value in the file.

    Parameters
    ----------
    instance : pydantic.BaseModel
        A validated configuration section (e.g. ``scenario.simulation``).
    updates : dict
        Field name to new value; ``None`` values are ignored (option not given).
    source : str
        Name used in error messages.
    error : type of ConfigError
        Exception class to raise.

    Returns
    -------
    A new, validated instance of the same model.

    Raises
    ------
    ConfigError
        One :class:`Problem` per refused value; ``Problem.path`` is the field name.
    """
    given = {k: v for k, v in updates.items() if v is not None}
    if not given:
        return instance
    model = type(instance)
    data = instance.model_dump()
    data.update(given)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(source, _problems_from(exc, {}, model)) from None


def parse_yaml_model(text: str, model: type[M], source: str = "<string>",
                     error: type[ConfigError] = ConfigError) -> M:
    """Validate YAML text against a pydantic model.

    Parameters
    ----------
    text : str
        YAML document (a mapping at the top; an empty document gives the model's defaults).
    model : type of pydantic.BaseModel
        The model to validate against.
    source : str
        Name used in error messages (usually the file path).
    error : type of ConfigError
        Exception class to raise (e.g. :class:`ScenarioError`).

    Returns
    -------
    An instance of ``model``.

    Raises
    ------
    ConfigError
        With one :class:`Problem` per invalid or unknown value.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(source, [_yaml_syntax_problem(exc)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(source, [Problem("", 1, "the file must hold a mapping of keys to values")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(source, _problems_from(exc, _line_index(text), model)) from None


def load_yaml_model(path: str | Path, model: type[M], default_file: str | None = None,
                    error: type[ConfigError] = ConfigError) -> M:
    """Load a YAML file (or ``default_file`` inside a directory) into ``model``.

    Raises
    ------
    ConfigError
        If the file is missing or invalid (every problem listed).
    """
    p = Path(path)
    file = p / default_file if default_file and p.is_dir() else p
    if not file.is_file():
        hint = f" (the directory must contain {default_file})" if default_file and p.is_dir() else ""
        raise error(str(file), [Problem("", None, f"file not found{hint}")])
    return parse_yaml_model(file.read_text(encoding="utf-8"), model, source=str(file), error=error)


def parse_scenario(text: str, source: str = "<string>", base_dir: Path | None = None) -> Scenario:
    """Validate scenario YAML text.

    Parameters
    ----------
    text : str
        YAML document.
    source : str
        Name used in error messages (usually the file path).
    base_dir : Path, optional
        Directory that relative file references resolve against.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With one :class:`Problem` per invalid or unknown value, or per referenced file that is missing.
    """
    scenario = parse_yaml_model(text, Scenario, source, error=ScenarioError)
    scenario.base_dir = base_dir or Path(".")
    problems = [
        Problem(path, None, f"file not found: {scenario.resolve(p)}")
        for path, p in _file_refs(scenario)
        if not scenario.resolve(p).is_file()
    ]
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def _file_refs(s: Scenario) -> list[tuple[str, Path]]:
    refs: list[tuple[str, Path]] = []
    if s.weather.path is not None:
        refs.append(("weather.path", s.weather.path))
    for i, load in enumerate(s.electrical_loads):
        if load.series is not None:
            refs.append((f"electrical_loads[{i}].series.csv", load.series.csv))
    if s.hydrogen_demand.series is not None:
        refs.append(("hydrogen_demand.series.csv", s.hydrogen_demand.series.csv))
    for key in ("import_eur_per_kwh", "co2_g_per_kwh"):
        value = getattr(s.tariffs, key)
        if not isinstance(value, (int, float)):
            refs.append((f"tariffs.{key}.csv", value.csv))
    return refs


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a directory (holding ``scenario.yaml``) or a YAML file.

    Raises
    ------
    ScenarioError
        If the file is missing or invalid (every problem listed).
    """
    p = Path(path)
    file = p / SCENARIO_FILE if p.is_dir() else p
    if not file.is_file():
        hint = f" (a scenario directory must contain {SCENARIO_FILE})" if p.is_dir() else ""
        raise ScenarioError(str(file), [Problem("", None, f"file not found{hint}")])
    return parse_scenario(file.read_text(encoding="utf-8"), source=str(file), base_dir=file.parent)
