"""The answer checker: units (pint), tolerances, partial credit, carried-forward errors, options, scoring."""

from __future__ import annotations

import pytest

from h2quarters.training.catalog import get_exercise
from h2quarters.training.checker import check_options
from h2quarters.training.schema import Quantity
from h2quarters.training.session import ExerciseSession
from h2quarters.training.units import AnswerFormatError, UnitUnknownError, parse_answer


@pytest.fixture(scope="module")
def e2_done() -> ExerciseSession:
    s = ExerciseSession(get_exercise("E2"), seed=7)
    s.take("start")
    s.take("end")
    return s


def fresh(s: ExerciseSession) -> ExerciseSession:
    """The same readings, no answers yet (sessions keep every answer)."""
    t = ExerciseSession.__new__(ExerciseSession)
    t.__dict__.update(s.__dict__)
    t.answers, t.last, t._own, t.hints = [], {}, {}, {}
    return t


def test_parse_answer_accepts_comma_units_and_symbols() -> None:
    a = parse_answer("30,5 NL")
    assert a.value == 30.5 and str(a.quantity.units) == "normal_liter"
    assert parse_answer("55 °C").quantity.to("K").magnitude == pytest.approx(328.15)
    assert parse_answer("12 mΩ").quantity.to("ohm").magnitude == pytest.approx(0.012)
    assert parse_answer("2 m³").quantity.to("L").magnitude == pytest.approx(2000)
    assert parse_answer("65 %").quantity.to("").magnitude == pytest.approx(0.65)
    assert parse_answer("0.65").quantity is None
    with pytest.raises(AnswerFormatError, match="does not start with a number"):
        parse_answer("about 30")
    with pytest.raises(AnswerFormatError, match="empty"):
        parse_answer("  ")
    with pytest.raises(UnitUnknownError, match="'quarks'"):
        parse_answer("3 quarks")


def test_right_value_in_any_compatible_unit_is_correct(e2_done: ExerciseSession) -> None:
    s = fresh(e2_done)
    v = s.expected("v_theo")
    assert s.answer("v_theo", f"{v:.5g} NL").code == "correct"
    assert s.answer("v_theo", f"{v / 1000:.5g} m³").code == "correct"
    # inside and outside the relative tolerance (1 %)
    s2 = fresh(e2_done)
    assert s2.answer("v_theo", f"{v * 1.009} NL").code == "correct"
    assert s2.answer("v_theo", f"{v * 1.03} NL").code == "wrong"


def test_wrong_scale_gets_partial_credit(e2_done: ExerciseSession) -> None:
    s = fresh(e2_done)
    v = s.expected("v_theo")
    res = s.answer("v_theo", f"{v:.5g} mL")  # the digits of NL, written as mL
    assert res.code == "wrong_scale" and 0 < res.score < 1 and res.detail["power_of_ten"] == -3


def test_incompatible_unit_is_feedback_not_a_crash(e2_done: ExerciseSession) -> None:
    s = fresh(e2_done)
    res = s.answer("v_theo", "126 kg")
    assert res.code == "unit_incompatible" and res.score == 0
    assert "kg" in res.feedback.en and "[mass]" in res.feedback.en and "NL" in res.feedback.en
    assert "kg" in res.feedback.de


@pytest.mark.parametrize(("answer", "code"), [("126 furlong", "unit_incompatible"), ("126 blorbs", "unit_unknown"),
                                              ("126", "unit_missing"), ("lots", "malformed"), ("", "malformed"),
                                              ("1e999 NL", "malformed")])
def test_malformed_answers_get_clear_feedback(e2_done: ExerciseSession, answer: str, code: str) -> None:
    s = fresh(e2_done)
    res = s.answer("v_theo", answer)
    assert res.code == code and res.score == 0 and res.feedback.de and res.feedback.en


def test_percent_quantities_accept_plain_numbers_and_fractions(e2_done: ExerciseSession) -> None:
    s = fresh(e2_done)
    v = s.expected("eta_lhv")
    assert s.answer("eta_lhv", f"{v:.4g}").code == "correct"  # a bare number is read in the quantity's unit (%)
    assert s.answer("eta_lhv", f"{v / 100:.4g} dimensionless").code == "correct"


def test_carried_forward_error_is_not_punished_twice(e2_done: ExerciseSession) -> None:
    s = fresh(e2_done)
    v_theo = s.expected("v_theo")
    eta_f = s.expected("eta_f")
    wrong = s.answer("v_theo", f"{v_theo * 1.2:.6g} NL")
    assert wrong.code == "wrong"
    # eta_f computed from the learner's own (wrong) volume: consistent → full credit, flagged as carried forward
    res = s.answer("eta_f", f"{eta_f / 1.2:.6g} %")
    assert res.code == "carried_forward" and res.score == 1.0
    # the right eta_f is right as well
    assert s.answer("eta_f", f"{eta_f:.6g} %").code == "correct"


def test_retry_and_hint_penalties_and_every_attempt_kept(e2_done: ExerciseSession) -> None:
    ex = e2_done.exercise
    s = fresh(e2_done)
    v = s.expected("v_theo")
    s.answer("v_theo", "1 NL")
    s.hint("v_theo")
    s.answer("v_theo", f"{v:.5g} NL")
    sc = {x.quantity_id: x for x in s.scores()}
    assert sc["v_theo"].earned == pytest.approx(1 - ex.retry_penalty - ex.hint_penalty)
    assert sc["v_theo"].tries == 2 and sc["v_theo"].hints == 1
    rec = s.record()
    assert [a.try_no for a in rec.answers] == [1, 2] and rec.answers[1].hints_before == 1
    assert len(rec.readings) == 2 and rec.readings[0].t_s < rec.readings[1].t_s
    # a hint taken after the right answer does not lower it
    s.hint("v_theo")
    assert {x.quantity_id: x for x in s.scores()}["v_theo"].earned == pytest.approx(sc["v_theo"].earned)
    for _ in range(ex.max_tries):
        last = s.answer("v_theo", f"{v:.5g} NL")
    assert last.code == "too_many_tries"


def test_answer_before_measuring_asks_for_the_measurement() -> None:
    s = ExerciseSession(get_exercise("E2"), seed=1)
    res = s.answer("v_theo", "100 NL")
    assert res.code == "missing_measurement" and "start" in res.feedback.en


def _q(kind: str, answer: list[str], critical: tuple[str, ...] = ()) -> Quantity:
    opts = [{"id": o, "text": {"de": o, "en": o}, "critical": o in critical} for o in ("a", "b", "c", "d")]
    return Quantity.model_validate({"id": "q", "text": {"de": "q", "en": "q"}, "kind": kind, "options": opts,
                                    "answer": answer})


def test_choice_set_and_sequence() -> None:
    assert check_options(_q("choice", ["b"]), "b", ["b"]).code == "correct"
    assert check_options(_q("choice", ["b"]), "2", ["b"]).code == "correct"  # option number
    assert check_options(_q("choice", ["b"]), "a", ["b"]).score == 0
    assert check_options(_q("choice", ["b"]), "a, b", ["b"]).code == "malformed"
    assert check_options(_q("choice", ["b"]), "zz", ["b"]).code == "malformed"
    part = check_options(_q("set", ["a", "b"]), "a", ["a", "b"])
    assert part.code == "partial" and part.score == pytest.approx(0.5)
    assert check_options(_q("set", ["a", "b"]), "a, b, c", ["a", "b"]).score == pytest.approx(0.5)
    seq = _q("sequence", ["a", "b", "c"], critical=("b",))
    assert check_options(seq, "a > b > c", ["a", "b", "c"]).code == "correct"
    swapped = check_options(seq, "b, a, c", ["a", "b", "c"])
    assert swapped.code == "order" and 0 < swapped.score < 1
    crit = check_options(seq, "a, c", ["a", "b", "c"])
    assert crit.code == "critical_missing" and crit.score == 0 and "b" in crit.feedback.en


def test_safety_exercise_fails_without_a_critical_step() -> None:
    s = ExerciseSession(get_exercise("E11"), seed=2)
    s.take("alarm")
    steps = s.expected("steps")
    assert isinstance(steps, list)
    res = s.answer("steps", [x for x in steps if x != "shut_off_outside"])
    assert res.code == "critical_missing"
    vol = s.expected("vol_pct")
    s.answer("vol_pct", f"{vol:.4g} %")
    assert not s.record().passed
