"""The lesson service: one in-process exercise plant per group, run by the teacher, worked on by learners.

A lesson's plants are :class:`h2quarters.training.plant.ExercisePlant` objects in this process — the virtual PLC's
plant model with its own interlocks — and never the pilot's driver, PLC link or controller: nothing here imports
:mod:`h2quarters.control` or a Modbus/OPC UA client. A lesson that *observes* the pilot reads it only through the
controller's snapshot hub (the HMI's read path) or the store (:mod:`h2quarters.lab.pilot`). A background thread advances every running lesson
at its speed (0.5–60× wall time), fires scheduled faults (at a plant time, as a ramp, on a condition) and takes an
automatic backtrack every ``backtrack_every_s`` (the last 20 kept). Every action is appended to ``lab_events``;
after a restart a running lesson resumes from its group's last snapshot and each learner's session is rebuilt by
replaying their measurements, hints and answers (:meth:`LessonService.restore`).

The service is split by what its parts do: :mod:`h2quarters.lab.model` (errors, fault orders, lessons, groups,
catalogue), :mod:`~h2quarters.lab.faults`, :mod:`~h2quarters.lab.learners`, :mod:`~h2quarters.lab.views`,
:mod:`~h2quarters.lab.restart` and :mod:`~h2quarters.lab.observing` (lessons on the pilot itself, read-only); this
module holds the lesson's life cycle (create, start, freeze, speed, snapshots, close) and its clock.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from typing import Any

from h2quarters.lab import store as LS
from h2quarters.lab.faults import FaultsMixin
from h2quarters.lab.learners import LearnersMixin
from h2quarters.lab.model import (CODE_ALPHABET, EQUIPMENT, NO_FAULT, SPEED_MAX, SPEED_MIN, START_STATES, TICK_S,
                                  TILE_SIGNALS, TREND_POINTS, Condition, FaultOrder, Group, LabError, Lesson, Pending,
                                  _sig4, catalog, get_exercise, has_equipment, plant_scenario, plant_setup,
                                  read_signals)
from h2quarters.lab.observing import ObservingMixin
from h2quarters.lab.restart import RestartMixin
from h2quarters.lab.views import ViewsMixin, exercise_brief, progress
from h2quarters.store import Store
from h2quarters.store.store import now_ms
from h2quarters.training.plant import ExercisePlant, _scenario
from h2quarters.training.schema import PlantSetup

log = logging.getLogger(__name__)

__all__ = ["CODE_ALPHABET", "EQUIPMENT", "NO_FAULT", "SPEED_MAX", "SPEED_MIN", "START_STATES", "TICK_S",
           "TILE_SIGNALS", "TREND_POINTS", "Condition", "FaultOrder", "Group", "LabError", "Lesson", "LessonService",
           "Pending", "catalog", "exercise_brief", "get_exercise", "has_equipment", "plant_scenario", "plant_setup",
           "progress", "read_signals"]


class LessonService(ObservingMixin, FaultsMixin, LearnersMixin, ViewsMixin, RestartMixin):
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
