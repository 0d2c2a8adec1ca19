"""Check one answer against the reference: units, tolerance, carried-forward errors, typical mistakes.

Order of the checks for a number (the first that applies decides):

1. not a number → ``malformed``; unknown unit → ``unit_unknown``; no unit where one is needed → ``unit_missing``;
2. a unit of another dimension → ``unit_incompatible`` (feedback names both dimensions; never an exception);
3. within ``atol + rtol·|reference|`` → ``correct``;
4. consistent with the learner's own earlier answers (``uses``) → ``carried_forward``, full credit: an early error
   is not punished twice;
5. a typical mistake of the quantity (detector, alternative formula or factor; the closest one when several fit)
   → ``mistake`` with its own text;
6. right digits at a power-of-ten scale (``30.5 mL`` for ``30.5 L``) → ``wrong_scale``, partial credit;
7. otherwise ``wrong``.

Choices, sets and sequences (fault names, proving signals, safety steps) are checked by option id.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pint

from h2quarters.training.references import REFERENCES, MissingMeasurement, RefContext, physics_for
from h2quarters.training.schema import Quantity, Text
from h2quarters.training.units import (
    Q_,
    AnswerFormatError,
    UnitUnknownError,
    dimension_text,
    parse_answer,
    parse_unit,
)

FEEDBACK: dict[str, Text] = {
    "correct": Text(de="Richtig.", en="Correct."),
    "carried_forward": Text(
        de="Folgerichtig gerechnet: Der Wert passt zu Ihrem früheren Ergebnis (der frühere Fehler zählt nur dort).",
        en="Consistent with your earlier result: the earlier error counts only there."),
    "wrong_scale": Text(
        de="Die Ziffern stimmen, aber die Größenordnung nicht: Prüfen Sie Vorsätze und Umrechnung ({unit}).",
        en="The digits are right but the order of magnitude is not: check prefixes and conversion ({unit})."),
    "unit_incompatible": Text(
        de="Die Einheit {given} passt nicht: gefragt ist eine Größe in {unit} ({dim_expected}), "
           "Ihre Einheit beschreibt {dim_given}.",
        en="The unit {given} does not fit: the question asks for a quantity in {unit} ({dim_expected}); "
           "your unit describes {dim_given}."),
    "unit_unknown": Text(de="Die Einheit {given} ist unbekannt. Beispiel: {example}",
                         en="The unit {given} is not known. Example: {example}"),
    "unit_missing": Text(de="Bitte mit Einheit antworten, z. B. {example}.",
                         en="Please answer with a unit, e.g. {example}."),
    "malformed": Text(de="Die Antwort ist nicht lesbar: {detail}", en="The answer cannot be read: {detail}"),
    "missing_measurement": Text(de="Dafür fehlt noch eine Messung: {detail}",
                                en="A measurement is still missing for this: {detail}"),
    "wrong": Text(de="Das stimmt nicht. Prüfen Sie Formel, Messwerte und Einheiten.",
                  en="That is not right. Check the formula, the readings and the units."),
    "partial": Text(de="Teilweise richtig: {detail}", en="Partly right: {detail}"),
    "order": Text(de="Alle Schritte genannt, aber die Reihenfolge stimmt nicht: {detail}",
                  en="All steps named, but the order is wrong: {detail}"),
    "critical_missing": Text(de="Ein sicherheitskritischer Schritt fehlt: {detail}. Das ist nicht bestanden.",
                             en="A safety-critical step is missing: {detail}. This is a fail."),
    "too_many_tries": Text(de="Keine Versuche mehr für diese Größe.", en="No tries left for this quantity."),
}


@dataclass
class CheckResult:
    """Result of one check.

    ``score`` is the credit in [0, 1] before hint/retry penalties; ``code`` one of :data:`FEEDBACK`'s keys or
    ``mistake``; ``feedback`` the text in German and English; ``expected`` the reference in the quantity's unit
    (for teachers; not shown to learners); ``value`` the learner's answer converted to that unit.
    """

    quantity_id: str
    score: float
    code: str
    feedback: Text
    mistake_id: str | None = None
    expected: float | str | list[str] | None = None
    value: float | str | list[str] | None = None
    unit: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Full credit."""
        return self.score >= 1.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return {"quantity_id": self.quantity_id, "score": self.score, "code": self.code,
                "mistake_id": self.mistake_id, "feedback": {"de": self.feedback.de, "en": self.feedback.en},
                "expected": self.expected, "value": self.value, "unit": self.unit, "detail": self.detail}


def _fmt(t: Text, **kw: Any) -> Text:
    return Text(de=t.de.format(**kw) if kw else t.de, en=t.en.format(**kw) if kw else t.en)


def result_for(q: Quantity, code: str, score: float = 0.0, **kw: Any) -> CheckResult:
    """A :class:`CheckResult` with the standard feedback of ``code`` (texts formatted with ``kw``)."""
    fmt = {k: v for k, v in kw.items() if k in ("unit", "given", "dim_expected", "dim_given", "example")
           or (k == "detail" and isinstance(v, str))}
    fmt.setdefault("unit", q.unit or "-")
    rest = {k: v for k, v in kw.items() if k not in fmt}
    if "detail" in fmt:
        rest["detail"] = {"text": fmt["detail"]}
    return CheckResult(q.id, score, code, _fmt(FEEDBACK[code], **fmt), unit=q.unit, **rest)


def close(v: float, r: float, q: Quantity) -> bool:
    """``|v - r| <= atol + rtol |r|`` (finite numbers only)."""
    return math.isfinite(v) and math.isfinite(r) and abs(v - r) <= q.atol + q.rtol * abs(r)


def _example(q: Quantity) -> str:
    return f"12.3 {q.unit}".strip()


def evaluate(q: Quantity, ctx: RefContext, name: str | None = None, detector: str | None = None,
             extra_args: dict[str, Any] | None = None) -> pint.Quantity:
    """Evaluate the quantity's reference (or the alternative ``name``) under a detector's physics."""
    fn = REFERENCES[name or q.reference or ""]
    args = {**q.args, **(extra_args or {})}
    return fn(RefContext(ctx.readings, ctx.times_s, ctx.params, ctx.answers, ctx.plant, args,
                         physics_for(detector), ctx.all_readings))


def check_number(q: Quantity, answer: str | float, ctx_true: RefContext, ctx_own: RefContext | None = None,
                 unit: str | None = None) -> CheckResult:
    """Check a numeric answer.

    Parameters
    ----------
    q : Quantity
        The quantity (reference, unit, tolerances, mistakes).
    answer : str or float
        ``"30.5 NL"``, or a number with ``unit`` given separately.
    ctx_true : RefContext
        Context whose earlier answers are the references (the correct chain).
    ctx_own : RefContext, optional
        The same with the learner's own earlier answers (carried-forward check).
    unit : str, optional
        Unit string when ``answer`` is a bare number.
    """
    try:
        parsed = parse_answer(answer, unit)
    except AnswerFormatError as exc:
        return result_for(q, "malformed", detail=str(exc))
    except UnitUnknownError:
        given = (unit or str(answer)).strip()
        m = re.match(r"^\s*[-+0-9.,eE]+\s*(.*)$", str(answer))
        return result_for(q, "unit_unknown", given=(unit or (m.group(1) if m else given)), example=_example(q))
    exp_unit = parse_unit(q.unit)
    if parsed.quantity is None:
        if exp_unit.dimensionless:
            qty = Q_(parsed.value, exp_unit)
        else:
            return result_for(q, "unit_missing", example=_example(q), value=parsed.value)
    else:
        qty = parsed.quantity
    if not qty.is_compatible_with(exp_unit):
        return result_for(q, "unit_incompatible", given=parsed.unit_text or "(none)", value=parsed.value,
                       dim_expected=dimension_text(exp_unit), dim_given=dimension_text(qty))
    v = float(qty.to(exp_unit).magnitude)
    try:
        r = float(evaluate(q, ctx_true).to(exp_unit).magnitude)
    except MissingMeasurement as exc:
        return result_for(q, "missing_measurement", detail=str(exc), value=v)
    if close(v, r, q):
        return result_for(q, "correct", 1.0, expected=r, value=v)
    if ctx_own is not None and any(u in ctx_own.answers for u in q.uses):
        try:
            r_own = float(evaluate(q, ctx_own).to(exp_unit).magnitude)
            if close(v, r_own, q):
                return result_for(q, "carried_forward", 1.0, expected=r, value=v, detail={"consistent_with": r_own})
        except (MissingMeasurement, pint.DimensionalityError, ZeroDivisionError):
            pass
    best: tuple[float, Any, float] | None = None  # the closest mistake wins when two lie within tolerance
    for mk in q.mistakes:
        for ctx in (ctx_true, ctx_own):
            if ctx is None:
                continue
            try:
                if mk.factor is not None:
                    alt = float(evaluate(q, ctx).to(exp_unit).magnitude) * mk.factor
                else:
                    alt_q = evaluate(q, ctx, name=mk.reference, detector=mk.detector, extra_args=mk.args)
                    alt = float(alt_q.to(exp_unit).magnitude)
            except (MissingMeasurement, pint.DimensionalityError, ZeroDivisionError, ValueError):
                continue
            if close(v, alt, q):
                dist = abs(v - alt) / max(abs(alt), 1e-300)
                if best is None or dist < best[0]:
                    best = (dist, mk, alt)
    if best is not None:
        _, mk, alt = best
        return CheckResult(q.id, mk.credit, "mistake", mk.feedback, mistake_id=mk.id, expected=r, value=v,
                           unit=q.unit, detail={"mistake_value": alt})
    if v != 0 and r != 0 and (v > 0) == (r > 0):
        k = round(math.log10(abs(v / r)))
        if k != 0 and close(v / 10.0**k, r, q):
            return result_for(q, "wrong_scale", q.scale_credit, expected=r, value=v, detail={"power_of_ten": k})
    return result_for(q, "wrong", 0.0, expected=r, value=v)


_SPLIT = re.compile(r"[\s,;>]+")


def parse_options(q: Quantity, answer: str | list[str]) -> list[str]:
    """Option ids of an answer (``"a, b > c"`` or a list); raises AnswerFormatError naming unknown ids."""
    items = [a.strip() for a in (answer if isinstance(answer, list) else _SPLIT.split(str(answer))) if a.strip()]
    if not items:
        raise AnswerFormatError(f"empty answer; choose from {', '.join(o.id for o in q.options)}")
    known = {o.id for o in q.options}
    # accept 1-based option numbers as typed in the terminal
    out = []
    for a in items:
        if a.isdigit() and 1 <= int(a) <= len(q.options):
            out.append(q.options[int(a) - 1].id)
        elif a in known:
            out.append(a)
        else:
            raise AnswerFormatError(f"{a!r} is not an option; choose from {', '.join(o.id for o in q.options)}")
    return out


def check_options(q: Quantity, answer: str | list[str], expected: list[str]) -> CheckResult:
    """Check a ``choice``, ``set`` or ``sequence`` answer against the expected option ids."""
    try:
        picks = parse_options(q, answer)
    except AnswerFormatError as exc:
        return result_for(q, "malformed", detail=str(exc))
    if q.kind == "choice":
        if len(picks) != 1:
            return result_for(q, "malformed", detail="choose exactly one option")
        ok = picks[0] == expected[0]
        return result_for(q, "correct" if ok else "wrong", 1.0 if ok else 0.0, expected=expected[0], value=picks[0])
    if q.kind == "set":
        chosen, right = set(picks), set(expected)
        hits, false = len(chosen & right), len(chosen - right)
        score = max(0.0, (hits - false) / len(right)) if right else 0.0
        if score >= 1.0:
            return result_for(q, "correct", 1.0, expected=sorted(right), value=sorted(chosen))
        missing = sorted(right - chosen)
        detail = f"missing {len(missing)}, not fitting {false}"
        return result_for(q, "partial" if score > 0 else "wrong", score, expected=sorted(right), value=sorted(chosen),
                       detail=detail)
    # sequence
    crit = [o.id for o in q.options if o.critical and o.id in expected]
    missing_crit = [c for c in crit if c not in picks]
    if missing_crit:
        t = FEEDBACK["critical_missing"]
        fb = Text(de=t.de.format(detail=", ".join(o.text.de for o in q.options if o.id in missing_crit)),
                  en=t.en.format(detail=", ".join(o.text.en for o in q.options if o.id in missing_crit)))
        return CheckResult(q.id, 0.0, "critical_missing", fb, expected=expected, value=picks,
                           detail={"missing_critical": missing_crit})
    seq = [p for p in picks if p in expected]
    extra = [p for p in picks if p not in expected]
    missing = [e for e in expected if e not in picks]
    pos = {e: i for i, e in enumerate(expected)}
    inversions = sum(1 for i in range(len(seq)) for j in range(i + 1, len(seq)) if pos[seq[i]] > pos[seq[j]])
    score = max(0.0, 1.0 - q.order_penalty * inversions - (len(missing) + len(extra)) / len(expected))
    if score >= 1.0:
        return result_for(q, "correct", 1.0, expected=expected, value=picks)
    if not missing and not extra:
        return result_for(q, "order", score, expected=expected, value=picks, detail=f"{inversions} pair(s) swapped")
    return result_for(q, "partial", score, expected=expected, value=picks,
                   detail=f"missing {len(missing)}, not fitting {len(extra)}, {inversions} pair(s) swapped")
