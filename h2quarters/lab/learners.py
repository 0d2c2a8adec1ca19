"""The learners' side of a lesson: joining and working on the group's plant."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from h2quarters.lab import store as LS
from h2quarters.lab.model import ServiceState, Group, LabError, Lesson, _fmt_reading
from h2quarters.lab.pilot import PilotOffline
from h2quarters.store.store import now_ms
from h2quarters.training.session import ExerciseSession

T = TypeVar("T")


class LearnersMixin(ServiceState):
    """The learners' actions: join with code and pseudonym, measure, change an allowed setpoint, answer, ask for a
    hint — each on the learner's own group and session.

    A part of :class:`h2quarters.lab.service.LessonService` (its state: ``store``, ``lessons``, ``hub``,
    ``scenario``; its methods ``live``, ``_advance`` ...)."""

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

    @contextmanager
    def _work(self, learner: dict[str, Any], exercise_id: str,
              action: str | None = None) -> Iterator[tuple[Lesson, Group, ExerciseSession]]:
        """The learner's lesson, group and session of ``exercise_id``, under the group's lock: the lookup every
        learner action starts with (``action`` names a write-type action, refused when the lesson observes the
        pilot)."""
        les, g = self._ctx(learner)
        if action is not None:
            self._refuse_read_only(les, action)
        with g.lock:
            yield les, g, self._session(les, g, learner, exercise_id)

    @staticmethod
    def _find(get: Callable[[str], T], item_id: str, code: str, field: str) -> T:
        """``get(item_id)`` (a measurement, quantity or hint of the exercise); its KeyError, which names the known
        ids, as a 422 ``code`` for ``field``."""
        try:
            return get(item_id)
        except KeyError as exc:
            raise LabError(422, code, str(exc).strip("'\""), field=field, value=item_id) from None

    def measure(self, learner: dict[str, Any], exercise_id: str, measurement_id: str) -> dict[str, Any]:
        """Take a measurement now on the group's plant (the measurement's setpoints applied first)."""
        # no lesson-wide advance here: the background thread moves every group twice a second, so a class of 30
        # does not advance six plants on every click
        with self._work(learner, exercise_id) as (les, g, s):
            m = self._find(s.exercise.measurement, measurement_id, "lab.measurement_unknown", "measurement")
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
        with self._work(learner, exercise_id, "setpoint") as (les, g, s):
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
        with self._work(learner, exercise_id) as (les, g, s):
            q = self._find(s.exercise.quantity, quantity_id, "lab.quantity_unknown", "quantity")
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
        with self._work(learner, exercise_id) as (les, g, s):
            h = self._find(s.hint, quantity_id, "lab.quantity_unknown", "quantity")
        LS.add_event(self.store, les.lesson_id, "hint", group_id=g.group_id, learner_id=learner["learner_id"],
                     exercise_id=exercise_id, quantity_id=quantity_id)
        return {"quantity_id": quantity_id, "hint": None if h is None else {"de": h.de, "en": h.en}}
