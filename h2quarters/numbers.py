"""Numbers for people: one decimal mark and one thousands separator per language, for every page and report.

German pages write a decimal comma and English ones a point; both separate thousands with a narrow no-break
space (U+202F, as DIN 5008 and the SI brochure allow), so that "1 234,5" cannot be misread as 1.2345 in either
language. Pages (cockpit, planner, lab), the SVG charts and the quarter's HTML reports all format through here.
"""

from __future__ import annotations

import math
from typing import Any

NARROW_SPACE = "\u202f"
"""Thousands separator in both languages."""


def num(v: float, fmt: str, lang: str = "en") -> str:
    """``format(v, fmt)`` with the language's decimal mark and a narrow space between thousands.

    Parameters
    ----------
    v : float
        The number.
    fmt : str
        A Python format spec; a ``,`` in it asks for thousands separators (written as narrow spaces).
    lang : {"en", "de"}
        German writes a decimal comma.

    Returns
    -------
    str
        The formatted number.
    """
    t = format(v, fmt).replace(",", NARROW_SPACE)
    return t.replace(".", ",") if lang == "de" else t


def readable(v: Any, lang: str = "en", decimals: int | str | None = None) -> str:
    """A number for a table cell: ``decimals`` fixed, ``"g"`` (up to 6 significant digits) or by size.

    By size: no decimals from 100 on, two between 1 and 100, three below 1. ``None`` is "–"; a non-number
    (text, bool) is returned as text; NaN and infinities are "–". ``-0`` is written ``0``.

    Parameters
    ----------
    v : Any
        The value.
    lang : {"en", "de"}
        Language of the page.
    decimals : int, "g" or None
        Fixed decimals, ``"g"`` for limits, or None for "by size".

    Returns
    -------
    str
        The formatted number.
    """
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        return str(v)
    x = float(v)
    if not math.isfinite(x):
        return "–"
    a = abs(x)
    if decimals == "g":
        return num(x + 0.0, ",.6g" if a < 1e6 else ",.0f", lang)
    d = decimals if isinstance(decimals, int) else 0 if a >= 100 else 2 if a >= 1 else 3
    return num(round(x, d) + 0.0, f",.{d}f", lang)


def percent(share: Any, lang: str = "en", decimals: int = 1) -> str:
    """A share (0–1) as a percentage with its sign: ``0.123`` → "12.3 %" (German "12,3 %"); None/NaN → "–"."""
    if share is None or not math.isfinite(float(share)):
        return "–"
    return num(100.0 * float(share) + 0.0, f".{decimals}f", lang) + " %"
