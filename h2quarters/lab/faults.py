"""Fault injection into the lessons' own plants."""

from __future__ import annotations

import logging
from typing import Any

from h2quarters.lab import store as LS
from h2quarters.lab.model import ServiceState, NO_FAULT, FaultOrder, Group, LabError, Lesson, Pending
from h2quarters.training.schema import Exercise

log = logging.getLogger(__name__)


class FaultsMixin(ServiceState):
    """Faults the teacher injects into a lesson's own plants: now, as a ramp, at a plant time or on a condition; the
    true fault is the teacher's only.

    A part of :class:`h2quarters.lab.service.LessonService` (its state: ``store``, ``lessons``, ``hub``,
    ``scenario``; its methods ``live``, ``_advance`` ...)."""

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
