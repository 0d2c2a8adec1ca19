"""Observing the pilot in a lesson: read-only group plants and the refusal of every write."""

from __future__ import annotations

from typing import Any

from h2quarters.lab import store as LS
from h2quarters.lab.model import ServiceState, Group, LabError, Lesson, catalog, read_signals
from h2quarters.lab.pilot import OBSERVE_MODES, PilotPlant, recorded_day
from h2quarters.training.schema import Exercise


class ObservingMixin(ServiceState):
    """Lessons that observe the pilot itself, read-only: validation, the groups' pilot plants, refusing every
    write-type action, backtracks as recording cursors.

    A part of :class:`h2quarters.lab.service.LessonService` (its state: ``store``, ``lessons``, ``hub``,
    ``scenario``; its methods ``live``, ``_advance`` ...)."""

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
