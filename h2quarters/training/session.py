"""A learner working through one exercise: plant, readings, answers, hints, score.

>>> s = ExerciseSession(get_exercise("E2"), seed=7)            # doctest: +SKIP
>>> s.take("start"); s.take("end")                             # doctest: +SKIP
>>> s.answer("v_theo", "95.3 NL").feedback.en                  # doctest: +SKIP

The reference of every quantity is evaluated on the *true* plant values at the moments the learner took the
readings (the learner's own conditions), while the learner sees the readings through the instrument model; the
tolerances absorb that noise (calibration in ``docs/exercises.md``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import pint

from h2quarters.training.attempts import AnswerRecord, AttemptRecord, QuantityScore, ReadingRecord
from h2quarters.training.catalog import draw_fault, draw_params
from h2quarters.training.checker import CheckResult, check_number, check_options, evaluate, result_for
from h2quarters.training.plant import ExercisePlant, FuelCellBench, Reading
from h2quarters.training.references import MissingMeasurement, RefContext
from h2quarters.training.schema import Exercise, Quantity, Text
from h2quarters.training.units import Q_, AnswerFormatError, UnitUnknownError, parse_answer, parse_unit


def make_plant(exercise: Exercise, seed: int, params: dict[str, float], faults: list[Any],
               noise: bool = True) -> Any:
    """The exercise plant of ``exercise`` for one learner (``None`` for paper tasks)."""
    setup = exercise.plant
    if setup.kind == "plant":
        return ExercisePlant(setup, seed=seed, faults=faults, noise=noise)
    if setup.kind == "fc_bench":
        return FuelCellBench(setup, seed=seed, noise=noise, ageing=params.get("ageing", 0.3),
                             t_c=params.get("t_fc_c"))
    return None


def _subst(value: float | str, params: dict[str, float]) -> Any:
    """``"{rate_pct}"`` → the parameter's value; other strings pass unchanged."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        key = value[1:-1]
        if key not in params:
            raise KeyError(f"parameter {key!r} unknown; known: {sorted(params)}")
        return params[key]
    return value


class ExerciseSession:
    """One learner, one exercise, one seed.

    Parameters
    ----------
    exercise : Exercise
        The exercise.
    seed : int
        Learner's seed: parameters, hidden fault, instrument noise.
    learner : str
        Name or id of the learner (stored with the attempt).
    trade : str, optional
        Only the quantities of this trade (and those without trade) are asked.
    noise : bool, default True
        Instrument noise (off for reference runs).
    plant : object, optional
        A plant to use instead of a new one (e.g. a :class:`~h2quarters.training.replay.ReplayPlant`).
    """

    def __init__(self, exercise: Exercise, seed: int, learner: str = "", trade: str | None = None,
                 noise: bool = True, plant: Any = None) -> None:
        self.exercise = exercise
        self.seed = int(seed)
        self.learner = learner
        self.trade = trade
        self.params = draw_params(exercise, seed)
        self.fault_choice = draw_fault(exercise, seed)
        faults = [f.model_copy(update={"value": _subst(f.value, self.params) if f.value is not None else None})
                  for f in list(exercise.plant.faults) + (list(self.fault_choice.faults) if self.fault_choice else [])]
        self.plant = plant if plant is not None else make_plant(exercise, seed, self.params, faults, noise)
        self.readings: dict[str, Reading] = {}
        self.order: list[Reading] = []
        self.answers: list[AnswerRecord] = []
        self.last: dict[str, CheckResult] = {}
        self._own: dict[str, pint.Quantity] = {}
        self.hints: dict[str, int] = {}
        self._refs_cache: tuple[int, dict[str, pint.Quantity]] | None = None
        self.started_at = pd.Timestamp.now(tz="UTC").isoformat()
        self._t0 = time.monotonic()
        self._t_last = 0.0

    # ------------------------------------------------------------------ quantities
    @property
    def quantities(self) -> list[Quantity]:
        """The quantities asked (filtered by trade)."""
        return [q for q in self.exercise.quantities if not q.trades or self.trade is None or self.trade in q.trades]

    # ------------------------------------------------------------------ measuring
    def take(self, measurement_id: str) -> Reading:
        """Apply the measurement's setpoints, let its time pass, read its signals (recorded with plant time).

        Raises
        ------
        KeyError
            Unknown measurement or signal.
        h2quarters.plc.registers.WriteRefused, ValueError
            A setpoint the plant refuses (message names signal, value and reason).
        """
        m = self.exercise.measurement(measurement_id)
        if self.plant is None:
            raise KeyError(f"exercise {self.exercise.id} has no plant to measure on")
        read_only = getattr(self.plant, "read_only", False)
        if not read_only:
            for sp in m.setpoints:
                self.plant.write(sp.signal, _subst(sp.value, self.params))
        wait = float(_subst(m.wait_s, self.params))
        if wait > 0:
            self.plant.advance(wait)
        r = self.plant.measure(m.id, list(m.signals))
        self.readings[m.id] = r
        self.order.append(r)
        return r

    def advance(self, dt_s: float) -> None:
        """Let plant time pass without reading."""
        if self.plant is not None:
            self.plant.advance(dt_s)

    # ------------------------------------------------------------------ contexts
    def _ctx(self, answers: dict[str, pint.Quantity], q: Quantity | None = None) -> RefContext:
        return RefContext(
            readings={k: r.true_values for k, r in self.readings.items()},
            times_s={k: r.t_s for k, r in self.readings.items()},
            params=self.params, answers=answers, plant=self.plant,
            args=dict(q.args) if q is not None else {},
            all_readings=[(r.measurement_id, r.true_values) for r in self.order])

    def reference_answers(self) -> dict[str, pint.Quantity]:
        """References of all numeric quantities that can be evaluated now (in chain order; cached per reading)."""
        key = len(self.order)
        if self._refs_cache is not None and self._refs_cache[0] == key:
            return dict(self._refs_cache[1])
        out: dict[str, pint.Quantity] = {}
        for q in self.exercise.quantities:
            if q.kind != "number":
                continue
            try:
                out[q.id] = evaluate(q, self._ctx(out, q)).to(parse_unit(q.unit))
            except MissingMeasurement:
                continue
        self._refs_cache = (key, dict(out))
        return out

    def expected(self, qid: str) -> float | list[str] | None:
        """The reference answer of ``qid`` (in its unit; option ids for choices) — for teachers."""
        q = self.exercise.quantity(qid)
        if q.kind != "number":
            return self.expected_options(q)
        ref = self.reference_answers().get(qid)
        return None if ref is None else float(ref.magnitude)

    def expected_options(self, q: Quantity) -> list[str]:
        """Right option ids of a choice/set/sequence quantity (fault-dependent ones from the drawn fault)."""
        if q.answer_from == "fault":
            return [self.fault_choice.id] if self.fault_choice else []
        if q.answer_from == "fault_evidence":
            return list(self.fault_choice.evidence) if self.fault_choice else []
        return list(q.answer)

    # ------------------------------------------------------------------ answering
    def tries(self, qid: str) -> int:
        """Answers given to ``qid`` so far."""
        return sum(1 for a in self.answers if a.quantity_id == qid)

    def answer(self, qid: str, answer: str | float | list[str], unit: str | None = None) -> CheckResult:
        """Check an answer, keep it, and return the result (feedback in German and English)."""
        q = self.exercise.quantity(qid)
        if self.tries(qid) >= self.exercise.max_tries:
            return result_for(q, "too_many_tries")
        if q.kind == "number":
            refs = self.reference_answers()
            true_chain = {k: v for k, v in refs.items() if k != qid}
            own_chain = {**true_chain, **{k: v for k, v in self._own.items() if k in q.uses}}
            res = check_number(q, answer if not isinstance(answer, list) else " ".join(answer),
                               self._ctx(true_chain, q), self._ctx(own_chain, q), unit)
            if isinstance(res.value, float) and res.code not in ("unit_incompatible", "malformed", "unit_unknown",
                                                                   "unit_missing"):
                self._own[qid] = Q_(res.value, parse_unit(q.unit))
        else:
            res = check_options(q, answer, self.expected_options(q))
        now = time.monotonic() - self._t0
        self._t_last = now
        self.answers.append(AnswerRecord(
            quantity_id=qid, answer=str(answer) if unit is None else f"{answer} {unit}", try_no=self.tries(qid) + 1,
            hints_before=self.hints.get(qid, 0),
            t_s=float(self.plant.t_s) if self.plant is not None else 0.0, wall_s=now, score=res.score,
            code=res.code, mistake_id=res.mistake_id, feedback_de=res.feedback.de, feedback_en=res.feedback.en,
            expected=res.expected, value=res.value))
        self.last[qid] = res
        return res

    def own_answer(self, qid: str) -> pint.Quantity | None:
        """The learner's last readable answer to a numeric quantity (in its unit), or None."""
        return self._own.get(qid)

    def hint(self, qid: str) -> Text | None:
        """The hint of ``qid`` (counted: each hint costs ``hint_penalty`` of the quantity's points)."""
        q = self.exercise.quantity(qid)
        if q.hint is None:
            return None
        self.hints[qid] = self.hints.get(qid, 0) + 1
        return q.hint

    # ------------------------------------------------------------------ scoring
    def scores(self) -> list[QuantityScore]:
        """Points per quantity: best try, minus retry penalty per earlier try and hint penalty per hint taken
        before that try."""
        ex = self.exercise
        out = []
        for q in self.quantities:
            tries = [a for a in self.answers if a.quantity_id == q.id]
            hints = self.hints.get(q.id, 0)
            best, code = 0.0, None
            for a in tries:
                factor = max(0.0, 1.0 - ex.retry_penalty * (a.try_no - 1) - ex.hint_penalty * a.hints_before)
                if a.score * factor >= best:
                    best, code = a.score * factor, a.code
            out.append(QuantityScore(quantity_id=q.id, points=q.points, earned=round(q.points * best, 6),
                                     tries=len(tries), hints=hints, best_code=code))
        return out

    def record(self) -> AttemptRecord:
        """The attempt as a plain record (readings, answers, hints, score)."""
        sc = self.scores()
        earned = sum(s.earned for s in sc)
        total = sum(s.points for s in sc)
        critical_fail = any(a.code == "critical_missing" for a in self.answers) and not any(
            self.last.get(q.id) is not None and self.last[q.id].ok for q in self.quantities if q.kind == "sequence")
        return AttemptRecord(
            exercise_id=self.exercise.id, seed=self.seed, learner=self.learner, trade=self.trade, params=self.params,
            fault=self.fault_choice.id if self.fault_choice else None, started_at=self.started_at,
            duration_s=round(self._t_last, 3),
            plant_time_s=float(self.plant.t_s - getattr(self.plant, "t_offset_s", 0.0)) if self.plant else 0.0,
            readings=[ReadingRecord(measurement_id=r.measurement_id, t_s=r.t_s, time=r.time, values=r.values)
                      for r in self.order],
            answers=list(self.answers), hints=dict(self.hints), scores=sc, score=round(earned, 6),
            max_score=total, passed=(not critical_fail) and total > 0 and earned / total >= self.exercise.pass_frac)


def solution(exercise: Exercise, seed: int, trade: str | None = None) -> dict[str, Any]:
    """Teacher solution for one seed: parameters, hidden fault, the readings a learner taking the measurements in
    order gets, and the reference answer of every quantity at those conditions."""
    s = ExerciseSession(exercise, seed, trade=trade)
    for m in exercise.measurements:
        s.take(m.id)
    refs = s.reference_answers()
    answers: list[dict[str, Any]] = []
    for q in s.quantities:
        if q.kind == "number":
            v = refs.get(q.id)
            answers.append({"id": q.id, "value": None if v is None else float(v.magnitude), "unit": q.unit,
                            "rtol": q.rtol, "atol": q.atol})
        else:
            answers.append({"id": q.id, "options": s.expected_options(q)})
    return {"exercise": exercise.id, "seed": seed, "params": s.params,
            "fault": s.fault_choice.id if s.fault_choice else None,
            "readings": [{"id": r.measurement_id, "t_s": round(r.t_s - getattr(s.plant, "t_offset_s", 0.0), 3),
                          "values": r.values} for r in s.order],
            "answers": answers}


def format_value(v: float, sig: int = 4) -> str:
    """A number with ``sig`` significant digits (no exponent for everyday magnitudes)."""
    if v == 0 or not math.isfinite(v):
        return str(v)
    digits = max(0, sig - 1 - int(math.floor(math.log10(abs(v)))))
    return f"{v:.{digits}f}"


__all__ = ["AnswerFormatError", "ExerciseSession", "UnitUnknownError", "format_value", "make_plant",
           "parse_answer", "solution"]
