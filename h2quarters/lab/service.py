"""The lesson service: one in-process exercise plant per group, run by the teacher, worked on by learners.

A lesson's plants are :class:`h2quarters.training.plant.ExercisePlant` objects in this process — the virtual PLC's
plant model with its own interlocks — and never the pilot's driver, PLC link or controller: nothing here imports
or reaches :mod:`h2quarters.control` or a Modbus/OPC UA client. A background thread advances every running lesson
at its speed (0.5–60× wall time), fires scheduled faults (at a plant time, as a ramp, on a condition) and takes an
automatic backtrack every ``backtrack_every_s`` (the last 20 kept). Every action is appended to ``lab_events``;
after a restart a running lesson resumes from its group's last snapshot and each learner's session is rebuilt by
replaying their measurements, hints and answers (:meth:`LessonService.restore`).
"""

from __future__ import annotations

import logging
import json
import math
import secrets
import threading
import time
from collections import deque
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from h2quarters.lab import store as LS
from h2quarters.lab.pilot import OBSERVE_MODES, PilotOffline, PilotPlant, recorded_day
from h2quarters.store import Store
from h2quarters.store.store import now_ms
from h2quarters.training.catalog import load_catalog
from h2quarters.training.plant import ExercisePlant, Reading, _scenario
from h2quarters.training.schema import Exercise, FaultChoice, PlantSetup, Text
from h2quarters.training.session import ExerciseSession

log = logging.getLogger(__name__)

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


class LessonService:
    """All lessons of one server (one per database, like the controller).

    Parameters
    ----------
    store : Store
        The shared store.
    tick : bool
        Run the background thread that advances running lessons (tests drive :meth:`step` themselves).
    hub : SnapshotHub, optional
        The pilot controller's snapshot hub: lessons that observe the live pilot read it (the HMI's read path).
    scenario : Scenario, optional
        The pilot's scenario (plant sizes for observing lessons' reference answers).
    """

    def __init__(self, store: Store, tick: bool = True, hub: Any = None, scenario: Any = None) -> None:
        self.store = store
        self.hub = hub
        self.scenario = scenario if scenario is not None else _scenario(PlantSetup().scenario)
        self.lessons: dict[int, Lesson] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_close: list[Any] = []
        self._tokens: dict[str, dict[str, Any]] = {}  # callbacks(lesson row) when a lesson closes (KPI counts)
        self.restore()
        if tick:
            self._thread = threading.Thread(target=self._run, name="lab-lessons", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and take a backtrack of every running lesson (a graceful restart loses no
        plant time; after a crash the lesson resumes from its last automatic backtrack)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            live = list(self.lessons.values())
        for les in live:
            try:
                self._advance(les)
                for g in les.groups.values():
                    with g.lock:
                        self._backtrack(les, g, "shutdown")
            except Exception:  # noqa: BLE001 - the store may be gone already; the last backtrack stays
                log.exception("lab: lesson %s: no shutdown backtrack", les.lesson_id)

    # ================================================================== teacher
    def create(self, teacher: str, class_name: str, exercises: list[str], groups: list[str],
               organisation: str = "", start_state: str = "exercise", speed: float = 10.0,
               backtrack_every_s: int = 120, valid_h: float = 12.0, observe: str = "",
               day: str | None = None) -> dict[str, Any]:
        """Create a lesson (status ``created``) with a fresh join code and one plant per group.

        ``observe`` = ``live`` or ``recorded`` (with ``day``): the groups observe the pilot itself, read-only,
        instead of running their own simulated plants (every exercise with a plant must allow that mode)."""
        if not exercises:
            raise LabError(422, "lab.no_exercises", "exercises: give at least one exercise id", field="exercises")
        try:
            exs = [get_exercise(e) for e in exercises]
        except (KeyError, FileNotFoundError) as exc:
            raise LabError(422, "lab.exercise_unknown", f"exercises: {str(exc).strip(chr(39))}",
                           field="exercises", value=exercises) from None
        if start_state not in START_STATES:
            raise LabError(422, "lab.start_state", f"start_state = {start_state!r}; allowed: {', '.join(START_STATES)}",
                           field="start_state", value=start_state, allowed=list(START_STATES))
        self._check_speed(speed)
        names = [g.strip() for g in groups if g.strip()]
        if not 1 <= len(names) <= 12 or len(set(names)) != len(names):
            raise LabError(422, "lab.groups", f"groups = {groups!r}: 1..12 distinct names", field="groups")
        frame = self._check_observe(exs, observe, day, start_state)
        setup = plant_setup(exs, start_state)
        t = now_ms()
        row = {"code": self._new_code(), "class_name": class_name.strip(), "organisation": organisation.strip(),
               "teacher": teacher, "exercises": json.dumps(exercises), "start_state": start_state,
               "status": "created", "speed": float(speed), "backtrack_every_s": int(backtrack_every_s),
               "revealed": False, "school_year": LS.school_year(t), "t_created_ms": t,
               "t_expires_ms": t + int(valid_h * 3_600_000)}
        seeds = [secrets.randbelow(2**31) for _ in names]
        lid, gids = LS.insert_lesson(self.store, row, list(zip(names, seeds)))
        live = Lesson(LS.lesson_row(self.store, lid) or {}, exs, {}, observe=observe, day=day)
        for gid, n, s in zip(gids, names, seeds):
            g = Group(gid, n, s, self._observe_plant(live, frame) if observe else ExercisePlant(setup, seed=s))
            if not observe:
                LS.save_snapshot(self.store, lid, gid, g.plant, "manual", "start")
            live.groups[gid] = g
        with self._lock:
            self.lessons[lid] = live
        LS.add_event(self.store, lid, "create", data={"teacher": teacher, "start_state": start_state,
                                                      "observe": observe, "day": day})
        return self.summary(lid)

    def _check_observe(self, exs: list[Exercise], observe: str, day: str | None, start_state: str) -> Any:
        """Validate an observing lesson; returns the recorded day's plant (its frame is shared by the groups)."""
        if not observe:
            if day is not None:
                raise LabError(422, "lab.day", "day is only for observe = 'recorded'", field="day", value=day)
            return None
        if observe not in OBSERVE_MODES:
            raise LabError(422, "lab.observe", f"observe = {observe!r}; allowed: {', '.join(OBSERVE_MODES)}",
                           field="observe", value=observe, allowed=list(OBSERVE_MODES))
        plant_ex = [e for e in exs if e.plant.kind == "plant"]
        bad = [e.id for e in plant_ex if observe not in e.plant.observe]
        if bad or not plant_ex:
            ok = sorted((e.id for e in catalog().values() if observe in e.plant.observe), key=lambda x: int(x[1:]))
            raise LabError(422, "lab.observe_unsupported", f"observe = {observe!r}: exercises "
                           f"{', '.join(bad) or 'without a plant'} cannot observe the pilot that way; these can: "
                           f"{', '.join(ok)}", field="exercises", value=bad, allowed=ok)
        if start_state != "exercise":
            raise LabError(422, "lab.start_state", f"start_state = {start_state!r}: a lesson observing the pilot "
                           "cannot set the pilot's state; use 'exercise'", field="start_state", value=start_state,
                           allowed=["exercise"])
        if observe == "live":
            if day is not None:
                raise LabError(422, "lab.day", "day is only for observe = 'recorded'", field="day", value=day)
            if self.hub is None or not self.hub.latest()[0]:
                raise LabError(409, "lab.pilot_offline", "the pilot has published no values (is its controller "
                               "running on this server?)", field="observe", value=observe)
            return None
        if not day:
            raise LabError(422, "lab.day", "observe = 'recorded' needs day (YYYY-MM-DD)", field="day")
        try:
            return recorded_day(self.store, day, self.scenario, read_signals(exs))
        except ValueError as exc:
            raise LabError(422, "lab.day", f"day = {day!r}: {exc}", field="day", value=day) from None

    def _observe_plant(self, les: Lesson, recorded: Any = None, cursor_s: float = 0.0) -> Any:
        """A group's plant of an observing lesson (each group its own cursor; a recording's data shared)."""
        if les.observe == "live":
            return PilotPlant(self.hub, self.scenario, t0_ms=int(les.row["t_created_ms"]))
        plant = recorded_day(self.store, str(les.day), self.scenario, read_signals(les.exercises)) \
            if recorded is None else \
            recorded.fresh()
        plant.advance(cursor_s)
        return plant

    @staticmethod
    def _refuse_read_only(les: Lesson, action: str) -> None:
        """A write-type action on a lesson that observes the pilot: refused, naming the action."""
        if les.read_only:
            what = "the live pilot" if les.observe == "live" else f"the pilot's recorded day {les.day}"
            raise LabError(403, "lab.read_only", f"{action} refused: this lesson observes {what} read-only; "
                           "nothing can be changed on it", action=action, observe=les.observe)

    def _backtrack(self, les: Lesson, g: Group, label: str) -> None:
        """An automatic backtrack of a group: its plant, or for an observed recording only its cursor."""
        if les.read_only:
            if les.observe == "recorded":
                LS.add_event(self.store, les.lesson_id, "cursor", group_id=g.group_id, plant_t_s=g.plant.t_s)
            return
        LS.save_snapshot(self.store, les.lesson_id, g.group_id, g.plant, "auto", label)

    def _new_code(self) -> str:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))

    @staticmethod
    def _check_speed(speed: float) -> None:
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and SPEED_MIN <= speed <= SPEED_MAX):
            raise LabError(422, "lab.speed", f"speed = {speed!r} outside the allowed range {SPEED_MIN}..{SPEED_MAX}",
                           field="speed", value=speed, min=SPEED_MIN, max=SPEED_MAX)

    def live(self, lesson_id: int) -> Lesson:
        """The live lesson; 404 if unknown, 409 if closed."""
        with self._lock:
            les = self.lessons.get(lesson_id)
        if les is None:
            row = LS.lesson_row(self.store, lesson_id)
            if row is None:
                raise LabError(404, "lab.lesson_unknown", f"lesson {lesson_id} unknown", lesson=lesson_id)
            raise LabError(409, "lab.closed", f"lesson {lesson_id} is closed", lesson=lesson_id)
        return les

    def _set_status(self, lesson_id: int, status: str, allowed: tuple[str, ...], **extra: Any) -> dict[str, Any]:
        les = self.live(lesson_id)
        if les.row["status"] not in allowed:
            raise LabError(409, "lab.state", f"lesson {lesson_id} is {les.row['status']}; this needs "
                           f"{' or '.join(allowed)}", state=les.row["status"], allowed=list(allowed))
        les.row.update(status=status, **extra)
        les.t_wall = time.monotonic()
        LS.update_lesson(self.store, lesson_id, status=status, **extra)
        LS.add_event(self.store, lesson_id, status)
        return self.summary(lesson_id)

    def start(self, lesson_id: int) -> dict[str, Any]:
        """Let the plants run."""
        return self._set_status(lesson_id, "running", ("created",), t_started_ms=now_ms())

    def freeze(self, lesson_id: int) -> dict[str, Any]:
        """Stop plant time (learners may still read and answer)."""
        return self._set_status(lesson_id, "frozen", ("running",))

    def resume(self, lesson_id: int) -> dict[str, Any]:
        """Let plant time run again."""
        return self._set_status(lesson_id, "running", ("frozen",))

    def set_speed(self, lesson_id: int, speed: float) -> dict[str, Any]:
        """Plant speed (0.5–60× wall time)."""
        self._check_speed(speed)
        les = self.live(lesson_id)
        self._refuse_read_only(les, "speed")
        self._advance(les)  # time so far at the old speed
        les.row["speed"] = float(speed)
        LS.update_lesson(self.store, lesson_id, speed=float(speed))
        LS.add_event(self.store, lesson_id, "speed", data={"speed": speed})
        return self.summary(lesson_id)

    def reveal(self, lesson_id: int) -> dict[str, Any]:
        """Show the solutions to the learners."""
        les = self.live(lesson_id)
        les.row["revealed"] = True
        LS.update_lesson(self.store, lesson_id, revealed=True)
        LS.add_event(self.store, lesson_id, "reveal")
        return self.summary(lesson_id)

    def close(self, lesson_id: int) -> dict[str, Any]:
        """Close the lesson: plants stop and are dropped, results stay; KPI counts are booked."""
        les = self.live(lesson_id)
        first = not LS.events(self.store, lesson_id, ("close",))  # counted once, even if reopened and closed again
        with self._lock:
            self.lessons.pop(lesson_id, None)
        for g in les.groups.values() if not les.read_only else []:
            with g.lock:
                LS.save_snapshot(self.store, lesson_id, g.group_id, g.plant, "manual", "close")
        LS.update_lesson(self.store, lesson_id, status="closed", t_closed_ms=now_ms())
        LS.add_event(self.store, lesson_id, "close")
        row = LS.lesson_row(self.store, lesson_id) or {}
        for cb in self.on_close if first else []:
            try:
                cb(row)
            except Exception:  # noqa: BLE001 - a failing count must not reopen the lesson
                log.exception("lab: close callback failed for lesson %s", lesson_id)
        return {**row, "groups": LS.groups(self.store, lesson_id)}

    def reopen(self, lesson_id: int) -> dict[str, Any]:
        """Reopen a closed lesson (frozen, plants from their last snapshot) to continue or show it again."""
        row = LS.lesson_row(self.store, lesson_id)
        if row is None:
            raise LabError(404, "lab.lesson_unknown", f"lesson {lesson_id} unknown", lesson=lesson_id)
        if row["status"] != "closed":
            raise LabError(409, "lab.state", f"lesson {lesson_id} is {row['status']}; only a closed lesson can be "
                           "reopened", state=row["status"], allowed=["closed"])
        extend = max(row["t_expires_ms"], now_ms() + 4 * 3_600_000)
        LS.update_lesson(self.store, lesson_id, status="frozen", t_closed_ms=None, t_expires_ms=extend)
        LS.add_event(self.store, lesson_id, "reopen")
        self._restore_one(LS.lesson_row(self.store, lesson_id) or {})
        return self.summary(lesson_id)

    def snapshot(self, lesson_id: int, label: str = "") -> list[int]:
        """A snapshot of every group's plant now."""
        les = self.live(lesson_id)
        self._refuse_read_only(les, "snapshot")
        self._advance(les)
        out = []
        for g in les.groups.values():
            with g.lock:
                out.append(LS.save_snapshot(self.store, lesson_id, g.group_id, g.plant, "manual", label or "snapshot"))
        LS.add_event(self.store, lesson_id, "snapshot", data={"ids": out, "label": label})
        return out

    def restore_snapshot(self, lesson_id: int, snapshot_id: int) -> dict[str, Any]:
        """Put a group's plant back to a snapshot (learners' tables keep their readings)."""
        les = self.live(lesson_id)
        self._refuse_read_only(les, "restore")
        snap = LS.snapshot_data(self.store, snapshot_id)
        if snap is None or snap["lesson_id"] != lesson_id:
            raise LabError(404, "lab.snapshot_unknown", f"snapshot {snapshot_id} is not one of lesson {lesson_id}",
                           snapshot=snapshot_id)
        g = les.groups[snap["group_id"]]
        with g.lock:
            g.plant = LS.load_plant(snap["data"], g.plant.setup)
            for s in g.sessions.values():
                if s.exercise.plant.kind == "plant":
                    s.plant = g.plant
            g.trend.clear()
        LS.add_event(self.store, lesson_id, "restore", group_id=g.group_id, plant_t_s=g.plant.t_s,
                     data={"snapshot_id": snapshot_id})
        return {"group_id": g.group_id, "plant_t_s": g.plant.t_s, "snapshot_id": snapshot_id}

    # ------------------------------------------------------------------ faults
    def inject(self, lesson_id: int, order: FaultOrder) -> dict[str, Any]:
        """Inject (or schedule) a fault into the lesson's plants; the true fault is shown to the teacher only."""
        les = self.live(lesson_id)
        self._refuse_read_only(les, "fault")
        kind, target, value = order.kind, order.target, order.value
        if order.choice is not None:
            ch = next((c for e in les.exercises for c in e.plant.fault_choices if c.id == order.choice), None)
            if ch is None:
                known = sorted({c.id for e in les.exercises for c in e.plant.fault_choices})
                raise LabError(422, "lab.fault_choice", f"choice = {order.choice!r} is no fault of this lesson's "
                               f"exercises; known: {', '.join(known) or 'none'}", field="choice", value=order.choice,
                               allowed=known)
            f0 = ch.faults[0]
            kind, target = f0.kind, f0.target
            value = order.value if order.value is not None else (float(f0.value) if isinstance(f0.value, (int, float))
                                                                 else None)
        if not kind:
            raise LabError(422, "lab.fault_kind", "give choice or kind", field="kind")
        from h2quarters.plc.faults import CATALOGUE

        if kind not in CATALOGUE or kind == "comm_loss":
            allowed = sorted(k for k in CATALOGUE if k != "comm_loss")
            raise LabError(422, "lab.fault_kind", f"kind = {kind!r}; allowed: {', '.join(allowed)}", field="kind",
                           value=kind, allowed=allowed)
        if order.when == "condition" and order.condition is None:
            raise LabError(422, "lab.condition", "when = 'condition' needs condition {signal, op, value}",
                           field="condition")
        if order.when == "ramp" and value is None:
            value = CATALOGUE[kind].default_value
            if value is None:
                raise LabError(422, "lab.ramp", f"a ramp needs a value; {kind} has none", field="value")
        gids = order.groups or list(les.groups)
        bad = [g for g in gids if g not in les.groups]
        if bad:
            raise LabError(422, "lab.group_unknown", f"groups {bad} are not groups of lesson {lesson_id}",
                           field="groups", value=bad)
        if order.condition is not None:
            sigs = set(next(iter(les.groups.values())).plant.signals())
            if order.condition.signal not in sigs:
                raise LabError(422, "lab.condition", f"condition.signal = {order.condition.signal!r} unknown",
                               field="condition.signal", value=order.condition.signal)
        self._advance(les)
        oid = LS.add_event(self.store, lesson_id, "fault", data={**order.model_dump(), "kind": kind,
                                                                 "target": target, "value": value, "groups": gids})
        out = []
        for gid in gids:
            g = les.groups[gid]
            with g.lock:
                if order.choice is not None:
                    self._set_choice(g, order.choice)
                p = Pending(oid, order, kind, target, value)
                if order.when == "now":
                    out.append(self._fire(les, g, p, value))
                else:
                    if order.when == "ramp":
                        p.t0_s = g.plant.t_s
                        self._ramp(les, g, p)
                    g.pending.append(p)
                    out.append({"group_id": gid, "scheduled": order.when})
                g.faults.append({"order_id": oid, "kind": kind, "target": target, "value": value,
                                 "hidden": order.hidden, "when": order.when, "choice": order.choice})
        return {"order_id": oid, "groups": out}

    def clear_faults(self, lesson_id: int) -> int:
        """Remove every fault and pending order of the lesson's plants."""
        les = self.live(lesson_id)
        self._refuse_read_only(les, "clear_faults")
        n = 0
        for g in les.groups.values():
            with g.lock:
                n += g.plant.clear_faults()
                g.pending.clear()
                g.faults.clear()
                self._set_choice(g, None)
        LS.add_event(self.store, lesson_id, "clear_faults")
        return n

    def _set_choice(self, g: Group, choice: str | None) -> None:
        g.fault_choice = choice
        for s in g.sessions.values():
            s.fault_choice = self._choice_of(s.exercise, choice)

    @staticmethod
    def _choice_of(ex: Exercise, choice: str | None) -> Any:
        # without a teacher's fault (or with one the exercise does not list) no option is right: "no fault"
        found = next((c for c in ex.plant.fault_choices if c.id == choice), None)
        return found if found is not None or not ex.plant.fault_choices else NO_FAULT

    def _fire(self, les: Lesson, g: Group, p: Pending, value: float | None) -> dict[str, Any]:
        try:
            f = g.plant.inject_fault(p.kind, p.target, value, p.order.hidden)
        except (ValueError, KeyError) as exc:
            raise LabError(422, "lab.fault", str(exc).strip("'\""), field="value", value=value) from None
        LS.add_event(self.store, les.lesson_id, "fault_fired", group_id=g.group_id, plant_t_s=g.plant.t_s,
                     data={"order_id": p.order_id, "fault": f})
        return {"group_id": g.group_id, "fault": f}

    def _ramp(self, les: Lesson, g: Group, p: Pending) -> bool:
        frac = min(1.0, max(0.0, (g.plant.t_s - p.t0_s) / p.order.ramp_s))
        if p.fault_id is not None:
            g.plant.state.clear_fault(p.fault_id)
        v = max(frac, 0.01) * float(p.value or 0.0)
        p.fault_id = g.plant.inject_fault(p.kind, p.target, v, p.order.hidden)["id"]
        return frac >= 1.0

    def _due(self, les: Lesson, g: Group) -> None:
        t_lesson = g.plant.t_s - getattr(g.plant, "t_offset_s", 0.0)
        for p in list(g.pending):
            o = p.order
            if o.when == "ramp":
                if self._ramp(les, g, p):
                    g.pending.remove(p)
                continue
            if o.when == "at" and t_lesson >= o.at_s:
                fire = True
            elif o.when == "condition" and o.condition is not None:
                x = g.plant.true_value(o.condition.signal)
                fire = x > o.condition.value if o.condition.op == ">" else x < o.condition.value
            else:
                fire = False
            if fire:
                g.pending.remove(p)
                try:
                    self._fire(les, g, p, p.value)
                except LabError:
                    log.warning("lab: scheduled fault %s refused by the plant", p.kind)

    # ================================================================== time
    def _advance(self, les: Lesson) -> None:
        now = time.monotonic()
        dt_wall = now - les.t_wall
        les.t_wall = now
        if les.row["status"] != "running" or dt_wall <= 0:
            return
        h = min(dt_wall, 60.0) * float(les.row["speed"])  # a stalled process does not jump hours ahead
        for g in les.groups.values():
            with g.lock:
                g.plant.advance(h)
                self._due(les, g)
                g.trend.append((g.plant.t_s - g.plant.t_offset_s,
                                {s: _sig4(g.plant.true_value(s)) for s in self._tiles(g)}))
                if now - g.t_backtrack >= float(les.row["backtrack_every_s"]):
                    g.t_backtrack = now
                    self._backtrack(les, g, "backtrack")

    def step(self) -> None:
        """Advance every running lesson to now (the background thread calls this every 0.5 s)."""
        with self._lock:
            live = list(self.lessons.values())
        for les in live:
            try:
                self._advance(les)
            except Exception:  # noqa: BLE001 - one broken lesson must not stop the others
                log.exception("lab: lesson %s failed to advance", les.lesson_id)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self.step()

    @staticmethod
    def _tiles(g: Group) -> list[str]:
        try:
            known = set(g.plant.signals())
        except PilotOffline:
            return []
        scn = plant_scenario(g.plant)
        return [s for s in TILE_SIGNALS if s in known and has_equipment(scn, s)]

    # ================================================================== learners
    def join(self, code: str, pseudonym: str, group_id: int | None = None) -> dict[str, Any]:
        """Join a lesson with its code and a pseudonym; returns the learner and their lesson-scoped token."""
        code = code.strip().upper()
        row = LS.lesson_row(self.store, code=code)
        if row is None:
            raise LabError(404, "lab.code_unknown", f"code = {code!r}: no lesson has this join code", field="code",
                           value=code)
        if row["status"] == "closed":
            raise LabError(409, "lab.closed", f"the lesson with code {code} is closed", field="code", value=code)
        if now_ms() > row["t_expires_ms"]:
            raise LabError(409, "lab.expired", f"the lesson with code {code} has expired", field="code", value=code)
        les = self.live(int(row["lesson_id"]))
        name = " ".join(pseudonym.split())
        if not 2 <= len(name) <= 40 or "@" in name or not all(ch.isalnum() or ch in " -_." for ch in name):
            raise LabError(422, "lab.pseudonym", f"pseudonym = {pseudonym[:60]!r}: 2..40 letters, digits, space, "
                           "'-', '_' or '.'; no e-mail addresses or real names", field="pseudonym")
        if group_id is None:  # fill the smallest group
            counts = {gid: 0 for gid in les.groups}
            for lr in LS.learners(self.store, les.lesson_id):
                counts[lr["group_id"]] = counts.get(lr["group_id"], 0) + 1
            group_id = min(counts, key=lambda k: (counts[k], k))
        if group_id not in les.groups:
            raise LabError(422, "lab.group_unknown", f"group = {group_id} is not a group of this lesson",
                           field="group", value=group_id, allowed=list(les.groups))
        token = "lab_" + secrets.token_urlsafe(24)
        lid = LS.insert_learner(self.store, les.lesson_id, group_id, name, token)
        if lid is None:
            raise LabError(409, "lab.pseudonym_taken", f"pseudonym = {name!r} is taken in this lesson; choose another",
                           field="pseudonym", value=name)
        LS.add_event(self.store, les.lesson_id, "join", group_id=group_id, learner_id=lid)
        return {"learner_id": lid, "lesson_id": les.lesson_id, "group_id": group_id, "pseudonym": name,
                "token": token}

    def learner(self, token: str) -> dict[str, Any] | None:
        """The learner of a lesson-scoped token, or None (found rows are cached: a learner row never changes)."""
        if not token.startswith("lab_") or len(token) > 80:
            return None
        hit = self._tokens.get(token)
        if hit is None:
            hit = LS.learner_by_token(self.store, token)
            if hit is not None:
                if len(self._tokens) > 100_000:  # bounded under a flood of made-up tokens (only found ones stay)
                    self._tokens.clear()
                self._tokens[token] = hit
        return hit

    def _session(self, les: Lesson, g: Group, learner: dict[str, Any], exercise_id: str) -> ExerciseSession:
        ex = next((e for e in les.exercises if e.id == exercise_id), None)
        if ex is None:
            raise LabError(422, "lab.exercise_unknown", f"exercise = {exercise_id!r} is not part of this lesson; "
                           f"allowed: {', '.join(e.id for e in les.exercises)}", field="exercise",
                           value=exercise_id, allowed=[e.id for e in les.exercises])
        key = (int(learner["learner_id"]), ex.id)
        s = g.sessions.get(key)
        if s is None:
            plant = g.plant if ex.plant.kind == "plant" else None
            s = ExerciseSession(ex, seed=(g.seed + key[0] * 7919) % 2**31, learner=learner["pseudonym"], plant=plant)
            s.fault_choice = self._choice_of(ex, g.fault_choice)
            g.sessions[key] = s
        return s

    def _ctx(self, learner: dict[str, Any], act: bool = True) -> tuple[Lesson, Group]:
        les = self.live(int(learner["lesson_id"]))
        if act and les.row["status"] == "created":
            raise LabError(409, "lab.not_started", "the lesson has not started yet; wait for your teacher",
                           state="created")
        if now_ms() > les.row["t_expires_ms"]:
            raise LabError(409, "lab.expired", "the lesson has expired", state="expired")
        return les, les.groups[int(learner["group_id"])]

    def measure(self, learner: dict[str, Any], exercise_id: str, measurement_id: str) -> dict[str, Any]:
        """Take a measurement now on the group's plant (the measurement's setpoints applied first)."""
        les, g = self._ctx(learner)
        # no lesson-wide advance here: the background thread moves every group twice a second, so a class of 30
        # does not advance six plants on every click
        with g.lock:
            s = self._session(les, g, learner, exercise_id)
            try:
                m = s.exercise.measurement(measurement_id)
            except KeyError as exc:
                raise LabError(422, "lab.measurement_unknown", str(exc).strip("'\""), field="measurement",
                               value=measurement_id) from None
            if s.plant is None:
                raise LabError(422, "lab.no_plant", f"exercise {exercise_id} has no plant to measure on")
            if s.exercise.plant.kind != "plant":
                r = s.take(m.id)  # a learner's own bench: setpoints and wait as the exercise says
            else:
                for sp in m.setpoints if not les.read_only else []:  # an observed pilot: read only
                    s.plant.write(sp.signal, s.params.get(str(sp.value).strip("{}"), sp.value)
                                  if isinstance(sp.value, str) else sp.value)
                try:
                    r = s.plant.measure(m.id, list(m.signals))
                except PilotOffline as exc:
                    raise LabError(409, "lab.pilot_offline", str(exc)) from None
                s.readings[m.id] = r
                s.order.append(r)
        LS.add_event(self.store, les.lesson_id, "measure", group_id=g.group_id, learner_id=learner["learner_id"],
                     plant_t_s=r.t_s, exercise_id=exercise_id, data=_fmt_reading(r))
        return {"measurement_id": r.measurement_id, "t_s": round(r.t_s - getattr(s.plant, "t_offset_s", 0.0), 1),
                "time": r.time, "values": r.values}

    def setpoint(self, learner: dict[str, Any], exercise_id: str, signal: str, value: Any) -> dict[str, Any]:
        """Write a setpoint the exercise allows, on the group's plant, within the PLC's limits."""
        les, g = self._ctx(learner)
        self._refuse_read_only(les, "setpoint")
        with g.lock:
            s = self._session(les, g, learner, exercise_id)
            allowed = sorted({sp.signal for m in s.exercise.measurements for sp in m.setpoints})
            if signal not in allowed:
                raise LabError(403, "lab.setpoint_forbidden", f"signal = {signal!r}: this exercise allows only "
                               f"{', '.join(allowed) or 'no setpoints'}", field="signal", value=signal,
                               allowed=allowed)
            from h2quarters.plc.registers import WriteRefused

            try:
                s.plant.write(signal, value)
            except (WriteRefused, ValueError, KeyError) as exc:
                raise LabError(422, "lab.setpoint_refused", str(exc).strip("'\""), field="value", value=value,
                               signal=signal) from None
            t = s.plant.t_s
        LS.add_event(self.store, les.lesson_id, "setpoint", group_id=g.group_id, learner_id=learner["learner_id"],
                     plant_t_s=t, exercise_id=exercise_id, data={"signal": signal, "value": value})
        return {"signal": signal, "value": value}

    def answer(self, learner: dict[str, Any], exercise_id: str, quantity_id: str, answer: Any,
               unit: str | None = None) -> dict[str, Any]:
        """Check an answer (numbers need a unit) and keep it; returns feedback, score and hint availability."""
        les, g = self._ctx(learner)
        with g.lock:
            s = self._session(les, g, learner, exercise_id)
            try:
                q = s.exercise.quantity(quantity_id)
            except KeyError as exc:
                raise LabError(422, "lab.quantity_unknown", str(exc).strip("'\""), field="quantity",
                               value=quantity_id) from None
            if q.kind == "number":
                from h2quarters.training.units import AnswerFormatError, UnitUnknownError, parse_answer

                try:
                    pa = parse_answer(answer if not isinstance(answer, list) else " ".join(answer), unit or None)
                except (AnswerFormatError, UnitUnknownError) as exc:
                    raise LabError(422, "lab.answer_format", str(exc), field="answer", value=str(answer)[:60]) \
                        from None
                if getattr(pa, "quantity", None) is None:
                    raise LabError(422, "lab.unit_missing", f"answer = {str(answer)[:60]!r} has no unit; give a "
                                   f"number with its unit, e.g. '12.5 {q.unit}'", field="unit", value=unit,
                                   expected_dimension=q.unit)
            res = s.answer(quantity_id, answer, unit or None)
            rec = s.answers[-1]
            scores = {sc.quantity_id: [sc.earned, sc.points] for sc in s.scores()}
            t = s.plant.t_s if s.plant is not None else None
        LS.add_event(self.store, les.lesson_id, "answer", group_id=g.group_id, learner_id=learner["learner_id"],
                     plant_t_s=t, exercise_id=exercise_id, quantity_id=quantity_id, score=res.score, code=res.code,
                     mistake_id=res.mistake_id,
                     data={"answer": answer, "unit": unit, "try_no": rec.try_no, "scores": scores,
                           "feedback_de": res.feedback.de, "feedback_en": res.feedback.en})
        return {"quantity_id": quantity_id, "ok": res.ok, "score": res.score, "code": res.code,
                "mistake_id": res.mistake_id, "feedback": {"de": res.feedback.de, "en": res.feedback.en},
                "try_no": rec.try_no, "tries_left": max(0, s.exercise.max_tries - rec.try_no),
                "earned": scores[quantity_id][0] if quantity_id in scores else None}

    def hint(self, learner: dict[str, Any], exercise_id: str, quantity_id: str) -> dict[str, Any]:
        """The quantity's hint (costs points)."""
        les, g = self._ctx(learner)
        with g.lock:
            s = self._session(les, g, learner, exercise_id)
            try:
                h = s.hint(quantity_id)
            except KeyError as exc:
                raise LabError(422, "lab.quantity_unknown", str(exc).strip("'\""), field="quantity",
                               value=quantity_id) from None
        LS.add_event(self.store, les.lesson_id, "hint", group_id=g.group_id, learner_id=learner["learner_id"],
                     exercise_id=exercise_id, quantity_id=quantity_id)
        return {"quantity_id": quantity_id, "hint": None if h is None else {"de": h.de, "en": h.en}}

    # ================================================================== views
    def summary(self, lesson_id: int) -> dict[str, Any]:
        """Lesson row (JSON-ready) with groups."""
        les = self.lessons.get(lesson_id)
        row = dict(les.row) if les is not None else (LS.lesson_row(self.store, lesson_id) or {})
        observe, day = (les.observe, les.day) if les is not None else self._observe_of(lesson_id)
        return {**row, "observe": observe, "day": day,
                "groups": [{"group_id": g["group_id"], "name": g["name"]} for g in LS.groups(self.store, lesson_id)]}

    def _observe_of(self, lesson_id: int) -> tuple[str, str | None]:
        """How a lesson observes the pilot, from its ``create`` event (``""`` for own simulated plants)."""
        ev = LS.events(self.store, lesson_id, ("create",))
        d = ev[0]["data"] if ev else {}
        return str(d.get("observe") or ""), d.get("day")

    def _plant_view(self, g: Group, truth: bool) -> dict[str, Any]:
        with g.lock:
            p = g.plant
            tiles = {s: (p.true_value(s) if truth else p.read(s)) for s in self._tiles(g)}
            visible = [f.as_dict() for f in p.state.faults.active(include_hidden=False)] if hasattr(p, "state") else []
            trend = list(g.trend)
            out = {"t_s": round(p.t_s - p.t_offset_s, 1), "time": (p.t0 + pd.Timedelta(seconds=p.t_s)).isoformat(), "tiles": tiles, "visible_faults": visible,
                "trend": {"t_s": [round(t, 1) for t, _ in trend],
                          **{s: [v.get(s) for _, v in trend] for s in self._tiles(g)}}}
            if truth:
                out["faults"] = list(g.faults)
                out["plc_faults"] = [f.as_dict() for f in p.state.faults.active()] if hasattr(p, "state") else []
                out["pending"] = [{"order_id": x.order_id, "kind": x.kind, "when": x.order.when} for x in g.pending]
                out["fault_choice"] = g.fault_choice
        return out

    def teacher_view(self, lesson_id: int) -> dict[str, Any]:
        """Everything of a live lesson: groups' true plants and faults, learners' progress."""
        les = self.live(lesson_id)
        self._advance(les)
        learners = LS.learners(self.store, lesson_id)
        prog = progress(self.store, lesson_id)
        off = float(getattr(next(iter(les.groups.values())).plant, "t_offset_s", 0.0))
        groups = []
        for g in les.groups.values():
            groups.append({"group_id": g.group_id, "name": g.name, "plant": self._plant_view(g, truth=True),
                           "learners": [{**lr, **prog.get(lr["learner_id"], {})} for lr in learners
                                        if lr["group_id"] == g.group_id]})
        return {**self.summary(lesson_id), "groups": groups,
                "exercises": [exercise_brief(e) for e in les.exercises],
                "fault_choices": [{"id": c.id, "text": c.text.model_dump(), "exercise_id": e.id}
                                  for e in les.exercises for c in e.plant.fault_choices],
                "snapshots": [{**x, "lesson_t_s": x["plant_t_s"] - off}
                              for x in LS.snapshots(self.store, lesson_id)[:40]]}

    def learner_view(self, learner: dict[str, Any], brief: bool = True) -> dict[str, Any]:
        """What a learner sees: their lesson, their group's plant (through the instruments, no hidden fault),
        their exercises, their own readings and answers (never another learner's)."""
        row = LS.lesson_row(self.store, int(learner["lesson_id"])) or {}
        les = self.lessons.get(int(learner["lesson_id"]))
        exs = les.exercises if les is not None else [get_exercise(e) for e in row.get("exercises", [])]
        mine = LS.events(self.store, int(learner["lesson_id"]), ("measure", "answer", "hint"),
                         learner_id=int(learner["learner_id"]))
        out: dict[str, Any] = {
            "lesson": {**{k: row.get(k) for k in ("lesson_id", "class_name", "status", "speed", "revealed", "code")},
                       "observe": les.observe if les is not None else self._observe_of(int(learner["lesson_id"]))[0]},
            "learner": {k: learner[k] for k in ("learner_id", "pseudonym", "group_id")},
            "exercises": [exercise_brief(e) for e in exs] if brief else [{"id": e.id} for e in exs],
            "readings": [{"exercise_id": e["exercise_id"], "measurement_id": e["data"]["measurement_id"],
                          "t_s": e["data"]["t_s"], "time": e["data"]["time"], "values": e["data"]["values"]}
                         for e in mine if e["kind"] == "measure"],
            "answers": [{"exercise_id": e["exercise_id"], "quantity_id": e["quantity_id"],
                         "answer": e["data"].get("answer"), "unit": e["data"].get("unit"), "score": e["score"],
                         "code": e["code"], "feedback": {"de": e["data"].get("feedback_de"),
                                                         "en": e["data"].get("feedback_en")}}
                        for e in mine if e["kind"] == "answer"],
            "scores": {}}
        for e in mine:
            if e["kind"] == "answer":
                out["scores"][e["exercise_id"]] = e["data"].get("scores", {})
        if les is not None:
            g = les.groups[int(learner["group_id"])]
            out["plant"] = self._plant_view(g, truth=False)
            out["group"] = g.name
            if les.row.get("revealed"):
                with g.lock:
                    out["solutions"] = {e.id: {q.id: self._session(les, g, learner, e.id).expected(q.id)
                                               for q in e.quantities} for e in exs}
        return out

    # ================================================================== restart
    def restore(self) -> int:
        """Rebuild every lesson that was not closed: plants from their last snapshot, faults still pending, and
        each learner's sessions by replaying their measurements, hints and answers. Returns how many."""
        n = 0
        for row in LS.lessons(self.store, status=("created", "running", "frozen"), limit=1000):
            try:
                self._restore_one(row)
                n += 1
            except Exception:  # noqa: BLE001 - one broken lesson must not keep the server from starting
                log.exception("lab: lesson %s could not be restored", row["lesson_id"])
        return n

    def _restore_one(self, row: dict[str, Any]) -> None:
        lid = int(row["lesson_id"])
        exs = [get_exercise(e) for e in row["exercises"]]
        setup = plant_setup(exs, row["start_state"])
        observe, day = self._observe_of(lid)
        les = Lesson(row, exs, {}, observe=observe, day=day)
        snaps: dict[int, int] = {}
        evs = LS.events(self.store, lid)
        recorded = None
        for gr in LS.groups(self.store, lid) if observe else []:  # the pilot again, a recording at its cursor
            cursor = max([float(e["plant_t_s"]) for e in evs if e["group_id"] == gr["group_id"]
                          and e["plant_t_s"] is not None] or [0.0])
            plant = self._observe_plant(les, recorded, cursor)
            recorded = recorded or (plant if observe == "recorded" else None)
            les.groups[gr["group_id"]] = Group(gr["group_id"], gr["name"], gr["seed"], plant,
                                               t_backtrack=time.monotonic())
        for gr in LS.groups(self.store, lid) if not observe else []:
            snap = LS.latest_snapshot(self.store, gr["group_id"])
            snaps[gr["group_id"]] = snap["t_ms"] if snap is not None else -1
            plant = LS.load_plant(snap["data"], setup) if snap is not None else ExercisePlant(setup, seed=gr["seed"])
            les.groups[gr["group_id"]] = Group(gr["group_id"], gr["name"], gr["seed"], plant,
                                               t_backtrack=time.monotonic())
        fired = {(e["group_id"], e["data"].get("order_id")) for e in evs if e["kind"] == "fault_fired"}
        # what changed a plant after its snapshot is applied again: faults fired, setpoints written, faults cleared
        for g in les.groups.values():
            t_snap = snaps.get(g.group_id, -1)
            for e in evs:
                if e["t_ms"] < t_snap or (e["group_id"] not in (None, g.group_id)):
                    continue
                try:
                    if e["kind"] == "fault_fired" and e["group_id"] == g.group_id:
                        f = e["data"]["fault"]
                        if any(x.kind == f["kind"] and x.target == f.get("target")
                               for x in g.plant.state.faults.active()):
                            continue  # already in the snapshot (fired in the same millisecond)
                        g.plant.inject_fault(f["kind"], f.get("target"), f.get("value"), bool(f.get("hidden")))
                    elif e["kind"] == "setpoint" and e["group_id"] == g.group_id:
                        g.plant.write(e["data"]["signal"], e["data"]["value"])
                    elif e["kind"] == "clear_faults":
                        g.plant.clear_faults()
                except Exception:  # noqa: BLE001 - a refused replay must not stop the restore
                    log.warning("lab: lesson %s: event %s not re-applied", lid, e["event_id"])
        learners = {lr["learner_id"]: lr for lr in LS.learners(self.store, lid)}
        for e in evs:
            k = e["kind"]
            if k == "clear_faults":
                for g in les.groups.values():
                    g.pending.clear()
                    g.faults.clear()
                    self._set_choice(g, None)
            elif k == "fault":
                o = FaultOrder.model_validate({kk: v for kk, v in e["data"].items()
                                               if kk in FaultOrder.model_fields})
                for gid in e["data"].get("groups") or []:
                    g = les.groups.get(gid)
                    if g is None:
                        continue
                    if o.choice is not None:
                        self._set_choice(g, o.choice)
                    g.faults.append({"order_id": e["event_id"], "kind": e["data"]["kind"],
                                     "target": e["data"]["target"], "value": e["data"]["value"], "hidden": o.hidden,
                                     "when": o.when, "choice": o.choice})
                    if o.when != "now" and (gid, e["event_id"]) not in fired:
                        p = Pending(e["event_id"], o, e["data"]["kind"], e["data"]["target"], e["data"]["value"])
                        if o.when == "ramp":
                            p.t0_s = float(e["plant_t_s"] or g.plant.t_s)
                        g.pending.append(p)
            elif k in ("measure", "answer", "hint") and e["learner_id"] in learners:
                lr = learners[e["learner_id"]]
                g = les.groups[lr["group_id"]]
                s = self._session(les, g, lr, e["exercise_id"])
                if k == "measure":
                    d = e["data"]
                    r = Reading(d["measurement_id"], d["t_s"], d["time"], d["values"], d.get("true_values", {}))
                    s.readings[r.measurement_id] = r
                    s.order.append(r)
                elif k == "hint":
                    s.hint(e["quantity_id"])
                else:
                    s.answer(e["quantity_id"], e["data"]["answer"], e["data"].get("unit"))
        for g in les.groups.values():
            for s in g.sessions.values():
                s.fault_choice = self._choice_of(s.exercise, g.fault_choice)
        with self._lock:
            self.lessons[lid] = les
        LS.add_event(self.store, lid, "restored", data={"groups": {g.group_id: g.plant.t_s
                                                                   for g in les.groups.values()}})


def exercise_brief(e: Exercise) -> dict[str, Any]:
    """What a page shows of an exercise (no reference answers, no fault choices)."""
    return {"id": e.id, "title": e.title.model_dump(), "introduction": e.introduction.model_dump(),
            "tasks": e.tasks.model_dump(), "safety": [t.model_dump() for t in e.safety],
            "setpoints": sorted({sp.signal for m in e.measurements for sp in m.setpoints}),
            "measurements": [{"id": m.id, "text": m.text.model_dump(), "signals": list(m.signals)}
                             for m in e.measurements],
            "quantities": [{"id": q.id, "text": q.text.model_dump(), "kind": q.kind, "unit": q.unit,
                            "points": q.points, "has_hint": q.hint is not None,
                            "options": [{"id": o.id, "text": o.text.model_dump()} for o in q.options]}
                           for q in e.quantities]}


def progress(store: Store, lesson_id: int) -> dict[int, dict[str, Any]]:
    """Per learner: readings taken, answers given, points earned / possible over the exercises answered."""
    out: dict[int, dict[str, Any]] = {}
    last_scores: dict[tuple[int, str], dict[str, list[float]]] = {}
    for e in LS.events(store, lesson_id, ("measure", "answer")):
        d = out.setdefault(e["learner_id"], {"readings": 0, "answers": 0, "earned": 0.0, "points": 0.0})
        if e["kind"] == "measure":
            d["readings"] += 1
        else:
            d["answers"] += 1
            last_scores[(e["learner_id"], e["exercise_id"])] = e["data"].get("scores", {})
    for (lid, _), sc in last_scores.items():
        out[lid]["earned"] += sum(v[0] for v in sc.values())
        out[lid]["points"] += sum(v[1] for v in sc.values())
    return out
