"""Units of learners' answers, parsed and converted with pint.

One shared :class:`pint.UnitRegistry` (building one takes ~100 ms). Normal litres and normal cubic metres are
defined as volumes (``NL``, ``Nm3``): pint cannot know that a normal volume is an amount of gas; the physical
difference between a normal litre and a litre at operating conditions is the checker's job (mistake detector
``operating_litres_for_normal``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pint

UREG = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
UREG.define("normal_liter = liter = NL = Nl = Ln")
UREG.define("normal_cubic_meter = meter ** 3 = Nm3 = Nm³ = m3n")
UREG.define("watt_peak = watt = Wp")
Q_ = UREG.Quantity

_NUMBER_RE = re.compile(r"^\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_REPLACE = (("·", "*"), ("×", "*"), ("²", "**2"), ("³", "**3"), ("µ", "u"), ("Ω", "ohm"), ("‰", "permille"),
            ("°C", "degC"), ("°K", "K"), ("℃", "degC"))


class AnswerFormatError(ValueError):
    """An answer that is not ``<number> [unit]``; the message says what was expected."""


class UnitUnknownError(ValueError):
    """A unit pint does not know."""


@dataclass(frozen=True)
class ParsedAnswer:
    """A learner's answer: the number as typed and its unit (``None`` when no unit was given)."""

    value: float
    unit_text: str
    quantity: pint.Quantity | None


def normalise_unit(text: str) -> str:
    """Unit text in pint's syntax (``kWh/kg``, ``°C``, ``m³``, ``Ω``, ``%`` are accepted)."""
    t = text.strip()
    for a, b in _REPLACE:
        t = t.replace(a, b)
    return t.replace("%", "percent")


@lru_cache(maxsize=512)
def parse_unit(text: str) -> pint.Unit:
    """The pint unit of ``text``.

    Raises
    ------
    UnitUnknownError
        If pint cannot parse it (the message names the text).
    """
    norm = normalise_unit(text)
    if not norm:
        return UREG.dimensionless
    try:
        q = UREG.parse_expression(norm)
    except Exception as exc:  # pint raises several types (UndefinedUnitError, DefinitionSyntaxError, TokenError…)
        raise UnitUnknownError(f"unit {text!r} is not known ({type(exc).__name__})") from None
    if isinstance(q, (int, float)):
        if float(q) != 1.0:
            raise UnitUnknownError(f"unit {text!r} is a number, not a unit")
        return UREG.dimensionless
    if q.magnitude != 1:
        raise UnitUnknownError(f"unit {text!r} holds a number; write the number before the unit")
    return q.units


def parse_answer(text: str | float, unit: str | None = None) -> ParsedAnswer:
    """Parse ``"30.5 NL"`` (or a number plus a separate ``unit``) into a :class:`ParsedAnswer`.

    A decimal comma is accepted (``"0,85"``). Without a unit the quantity is ``None`` (the checker decides).

    Raises
    ------
    AnswerFormatError
        Empty answer, not a number, or not finite.
    UnitUnknownError
        Unknown unit.
    """
    if isinstance(text, bool):
        raise AnswerFormatError(f"answer {text!r} is not a number")
    if isinstance(text, (int, float)):
        value, rest = float(text), (unit or "")
    else:
        s = str(text).strip()
        if not s:
            raise AnswerFormatError("empty answer; give a number and a unit, e.g. '30.5 NL'")
        m = _NUMBER_RE.match(s)
        if m is None:
            raise AnswerFormatError(f"answer {s!r} does not start with a number; give e.g. '30.5 NL'")
        value = float(m.group(1).replace(",", "."))
        rest = m.group(2)
        if unit:
            if rest:
                raise AnswerFormatError(f"answer {s!r} has a unit and unit={unit!r} was given as well")
            rest = unit
    if not math.isfinite(value):
        raise AnswerFormatError(f"answer {value!r} is not a finite number")
    rest = rest.strip()
    if not rest:
        return ParsedAnswer(value, "", None)
    u = parse_unit(rest)
    return ParsedAnswer(value, rest, Q_(value, u))


def to_unit(q: pint.Quantity, unit: str) -> float:
    """Magnitude of ``q`` in ``unit`` (raises pint.DimensionalityError when incompatible)."""
    return float(q.to(parse_unit(unit)).magnitude)


def dimension_text(u: pint.Unit | pint.Quantity) -> str:
    """Readable dimensionality, e.g. ``[length] ** 3``; ``dimensionless`` for pure numbers."""
    dim = str(u.dimensionality)
    return dim if dim != "dimensionless" else "dimensionless"
