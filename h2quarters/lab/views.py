"""Views of a lesson for the teacher's and the learners' pages."""

from __future__ import annotations

from typing import Any

import pandas as pd

from h2quarters.lab import store as LS
from h2quarters.lab.model import ServiceState, TILE_SIGNALS, Group, Lesson, get_exercise, has_equipment, plant_scenario
from h2quarters.lab.pilot import PilotOffline
from h2quarters.store import Store
from h2quarters.training.schema import Exercise


class ViewsMixin(ServiceState):
    """What the pages show: the lesson summary, the teacher's view (true plants, faults, progress) and the learner's
    (own group through the instruments, own readings and answers).

    A part of :class:`h2quarters.lab.service.LessonService` (its state: ``store``, ``lessons``, ``hub``,
    ``scenario``; its methods ``live``, ``_advance`` ...)."""

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
                "exercises": [exercise_brief(e, les.observe) for e in les.exercises],
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
        observe = les.observe if les is not None else self._observe_of(int(learner["lesson_id"]))[0]
        out: dict[str, Any] = {
            "lesson": {**{k: row.get(k) for k in ("lesson_id", "class_name", "status", "speed", "revealed", "code")},
                       "observe": observe},
            "learner": {k: learner[k] for k in ("learner_id", "pseudonym", "group_id")},
            "exercises": [exercise_brief(e, observe) for e in exs] if brief else [{"id": e.id} for e in exs],
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

    @staticmethod
    def _tiles(g: Group) -> list[str]:
        try:
            known = set(g.plant.signals())
        except PilotOffline:
            return []
        scn = plant_scenario(g.plant)
        return [s for s in TILE_SIGNALS if s in known and has_equipment(scn, s)]


def exercise_brief(e: Exercise, observe: str = "") -> dict[str, Any]:
    """What a page shows of an exercise (no reference answers, no fault choices).

    ``observe`` (a lesson on the pilot itself, read-only): the tasks and measurement texts as they read there —
    nothing to set — and no setpoint controls.
    """
    obs = bool(observe)
    tasks = e.plant.observe_tasks if obs and e.plant.observe_tasks is not None else e.tasks
    return {"id": e.id, "title": e.title.model_dump(), "introduction": e.introduction.model_dump(),
            "tasks": tasks.model_dump(), "safety": [t.model_dump() for t in e.safety],
            "setpoints": [] if obs else sorted({sp.signal for m in e.measurements for sp in m.setpoints}),
            "measurements": [{"id": m.id, "text": (m.observe_text if obs and m.observe_text else m.text).model_dump(),
                              "signals": list(m.signals)} for m in e.measurements],
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
