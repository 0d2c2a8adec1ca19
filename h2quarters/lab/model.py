"""The lesson service's vocabulary: errors, fault orders, live lessons and groups, the exercise catalogue and the
plant helpers every part of the service shares (no state of its own)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from h2quarters.store import Store
from h2quarters.training.catalog import load_catalog
from h2quarters.training.plant import Reading, _scenario
from h2quarters.training.schema import Exercise, FaultChoice, PlantSetup, Text
from h2quarters.training.session import ExerciseSession

SPEED_MIN, SPEED_MAX = 0.5, 60.0
TICK_S = 0.5
TREND_POINTS = 120
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a projector
TILE_SIGNALS = ("pv_power_kw", "el_power_kw", "el_stack_current_a", "el_cell_voltage_v", "el_h2_flow_nlh",
                "el_electrolyte_temperature_c", "tank_pressure_bar", "tank_mass_kg", "fc_power_kw",
                "h2_detector_lel_pct", "grid_import_kw", "battery_soc_pct")
START_STATES = ("exercise", "cold_start", "tank_80", "warm_fuel_cell")
"""Starting-state library: the exercise's own, a cold plant (stack at room temperature, nothing running), a tank
at 80 % of its maximum pressure, a warm fuel cell running at half its rated power."""


NO_FAULT = FaultChoice(id="no_fault", faults=[], text=Text(de="kein Fehler", en="no fault"))


class LabError(Exception):
    """A refused lesson action: HTTP status, a message code the pages translate, the message and its params."""

    def __init__(self, status: int, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.params = status, code, message, params

    def body(self) -> dict[str, Any]:
        """The ErrorBody ``detail``."""
        return {"code": self.code, "message": self.message, "params": self.params}


class Condition(BaseModel):
    """Inject when a (true) plant signal crosses a threshold."""

    model_config = ConfigDict(extra="forbid")

    signal: str = Field(min_length=1, max_length=64)
    op: Literal[">", "<"] = ">"
    value: float = Field(allow_inf_nan=False)


class FaultOrder(BaseModel):
    """A fault the teacher injects into a lesson's plants.

    ``choice`` names a fault of the lesson's exercises (``fault_choices``, e.g. ``h2_leak`` of E10): its kind,
    target and value are taken from there and it becomes the right answer of the exercise's fault question.
    Otherwise give ``kind`` (and ``target``/``value``) of :mod:`h2quarters.plc.faults`.
    """

    model_config = ConfigDict(extra="forbid")

    choice: str | None = Field(None, max_length=48)
    kind: Literal["sensor_stuck", "sensor_drift", "sensor_noise", "sensor_out_of_range", "h2_leak", "cooling_failure",
                  "stack_degradation", "gas_crossover", "inverter_trip"] | None = None
    target: str | None = Field(None, max_length=64)
    value: float | None = Field(None, allow_inf_nan=False)
    hidden: bool = True
    when: Literal["now", "ramp", "at", "condition"] = "now"
    ramp_s: float = Field(600.0, gt=0.0, le=86_400.0)
    at_s: float = Field(0.0, ge=0.0, le=10 * 86_400.0)
    condition: Condition | None = None
    groups: list[int] | None = Field(None, max_length=50)


@dataclass
class Pending:
    """A scheduled fault of one group (``at``/``condition``) or a running ramp."""

    order_id: int
    order: FaultOrder
    kind: str
    target: str | None
    value: float | None
    t0_s: float = math.nan  # ramp start (plant time)
    fault_id: int | None = None  # the ramp's current PLC fault


@dataclass
class Group:
    """A group: its plant, lock, learners' sessions, faults, trend."""

    group_id: int
    name: str
    seed: int
    plant: Any
    lock: threading.RLock = field(default_factory=threading.RLock)
    sessions: dict[tuple[int, str], ExerciseSession] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)  # what the teacher injected (true faults)
    fault_choice: str | None = None
    trend: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    t_backtrack: float = 0.0


@dataclass
class Lesson:
    """A live lesson: its row and groups."""

    row: dict[str, Any]
    exercises: list[Exercise]
    groups: dict[int, Group]
    t_wall: float = field(default_factory=time.monotonic)
    observe: str = ""  # "" (own simulated plants), "live" or "recorded": the pilot itself, read-only
    day: str | None = None  # the recorded day

    @property
    def read_only(self) -> bool:
        """The groups observe the pilot: nothing may be written, injected, sped up or snapshotted."""
        return bool(self.observe)

    @property
    def lesson_id(self) -> int:
        """Id."""
        return int(self.row["lesson_id"])


@lru_cache(maxsize=1)
def catalog() -> dict[str, Exercise]:
    """The curricula, parsed once per process (parsing all 13 files costs ~0.3 s, seconds on a busy machine)."""
    return load_catalog()


def get_exercise(exercise_id: str) -> Exercise:
    """An exercise of the cached catalog; KeyError names the known ids."""
    cat = catalog()
    if exercise_id not in cat:
        raise KeyError(f"exercise {exercise_id!r} not found; known: {', '.join(cat)}")
    return cat[exercise_id]


def plant_setup(exercises: list[Exercise], start_state: str) -> PlantSetup:
    """The group plant's setup: the first site-plant exercise's (or the default) with the starting state applied."""
    setup = next((e.plant for e in exercises if e.plant.kind == "plant"), PlantSetup())
    setup = setup.model_copy(update={"faults": [], "fault_choices": []})
    scn = _scenario(setup.scenario)
    if start_state == "cold_start":
        return setup.model_copy(update={"producing": False, "el_rate_pct": 0.0, "t_stack_c": 15.0, "fc_kw": 0.0})
    if start_state == "tank_80":
        return setup.model_copy(update={"p_tank_bar": 0.8 * scn.storage.p_max_bar})
    if start_state == "warm_fuel_cell":
        fc = getattr(scn, "fuel_cell", None)
        return setup.model_copy(update={"fc_kw": 0.5 * fc.p_rated_kw if fc is not None else 0.0,
                                        "p_tank_bar": 0.6 * scn.storage.p_max_bar})
    return setup


EQUIPMENT = {"battery_soc_pct": "battery", "fc_power_kw": "fuel_cell", "pv_power_kw": "pv"}
"""Tiles that need a part of the site: a plant without it has the register but no value (NaN), so no tile."""


def plant_scenario(plant: Any) -> Any:
    """The scenario a group plant belongs to (its sizes and parts), or None if unknown."""
    scn = getattr(plant, "scenario", None)
    if scn is None and getattr(plant, "setup", None) is not None:
        scn = _scenario(plant.setup.scenario)
    return scn if not isinstance(scn, str) else _scenario(scn)


def has_equipment(scn: Any, signal: str) -> bool:
    """Whether the site ``scn`` has the part ``signal`` reports on (unknown scenario: assume it has)."""
    part = EQUIPMENT.get(signal)
    return scn is None or part is None or bool(getattr(scn, part, None))


def read_signals(exs: list[Exercise]) -> list[str]:
    """What a lesson's pages and measurements read: the tiles and every measurement's signals."""
    return sorted(set(TILE_SIGNALS) | {sig for e in exs for m in e.measurements for sig in m.signals})


def _sig4(x: float) -> float | None:
    """4 significant digits (trends for the pages: smaller JSON, nothing a sparkline shows is lost)."""
    if not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


def _fmt_reading(r: Reading) -> dict[str, Any]:
    return {"measurement_id": r.measurement_id, "t_s": r.t_s, "time": r.time, "values": r.values,
            "true_values": r.true_values}


class ServiceState:
    """What every part of :class:`h2quarters.lab.service.LessonService` shares (declared once for the mixins)."""

    store: Store
    lessons: dict[int, Lesson]
    hub: Any
    scenario: Any
