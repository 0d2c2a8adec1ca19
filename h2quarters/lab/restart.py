"""Restart: lessons resume from their last snapshot, learners' sessions are replayed from the events."""

from __future__ import annotations

import logging
import time
from typing import Any

from h2quarters.lab import store as LS
from h2quarters.lab.model import ServiceState, FaultOrder, Group, Lesson, Pending, get_exercise, plant_setup
from h2quarters.training.plant import ExercisePlant, Reading

log = logging.getLogger(__name__)


class RestartMixin(ServiceState):
    """Rebuilding the lessons that were not closed after a server restart.

    A part of :class:`h2quarters.lab.service.LessonService` (its state: ``store``, ``lessons``, ``hub``,
    ``scenario``; its methods ``live``, ``_advance`` ...)."""

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
