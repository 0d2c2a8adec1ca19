"""Rating of KPIs against their target path and the roll-up over the four monitoring levels.

score = (actual − baseline) / (target for that date − baseline) × 100, clipped to 0–100 and rounded half up to
a whole number *before* colouring, so 50.5 % is 51 (yellow) and nothing falls between the whole-number bands
0–50 red, 51–75 yellow, 76–100 green (a measure may set its own band edges). The rounding is the one of
:func:`h2quarters.kpi.traffic_light`, which rates a plain share of target (no baseline): with a baseline of 0
both give the same colour.

Data older than the KPI's update frequency is grey, not red: missing data is not bad performance. When the target
equals the baseline (a "hold the level" target, or the very day of the baseline) the share is undefined; the
KPI then scores 100 if the actual is at least as good as the target, else 0.

Parents are weighted means of the (rounded) scores of their children with current data; they report the share
of children that had current data, so a green parent built on one of five children is visible as such.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from h2quarters.kpi.traffic_light import round_half_up
from h2quarters.monitoring.catalogue import Kpi

Colour = Literal["red", "yellow", "green", "grey"]


def colour_of(score: int | None, red_max_pct: int = 50, yellow_max_pct: int = 75) -> Colour:
    """Traffic light of a whole-number score: ``<= red_max`` red, ``<= yellow_max`` yellow, else green.

    Parameters
    ----------
    score : int or None
        Rounded score 0–100; None (no current data) is grey.
    red_max_pct, yellow_max_pct : int
        Upper edges of the red and yellow bands (the measure's own bands; Kassel default 50/75).
    """
    if score is None:
        return "grey"
    if isinstance(score, float) and not score.is_integer():
        raise ValueError(f"score = {score!r} must be rounded to a whole number before colouring")
    if score <= red_max_pct:
        return "red"
    if score <= yellow_max_pct:
        return "yellow"
    return "green"


def target_at(kpi: Kpi, day: dt.date) -> float:
    """Target of ``kpi`` for ``day``: linear along baseline → milestones → target (by calendar day).

    Before the baseline's date the baseline value applies, after the target's date the target value.
    """
    pts = [kpi.baseline, *kpi.target.path, kpi.target]
    xs = [p.date.toordinal() for p in pts]
    x = day.toordinal()
    if x <= xs[0]:
        return pts[0].value
    for (x0, p0), (x1, p1) in zip(zip(xs, pts, strict=True), zip(xs[1:], pts[1:], strict=True), strict=False):
        if x <= x1:
            return p0.value + (p1.value - p0.value) * (x - x0) / (x1 - x0)
    return pts[-1].value


def raw_score(actual: float, baseline: float, target: float, better: str = "higher") -> float:
    """Unrounded score in % (0–100) of ``actual`` between ``baseline`` and ``target``.

    Parameters
    ----------
    actual, baseline, target : float
        Values of the KPI (actual must be finite).
    better : {"higher", "lower"}
        Direction; only used when ``target == baseline``.
    """
    if not math.isfinite(actual):
        raise ValueError(f"actual = {actual!r} must be a finite number")
    span = target - baseline
    if span == 0.0:
        reached = actual >= target if better == "higher" else actual <= target
        return 100.0 if reached else 0.0
    return min(max((actual - baseline) / span * 100.0, 0.0), 100.0)


@dataclass(frozen=True)
class Rating:
    """Rating of one KPI at one date."""

    kpi_id: str
    value: float | None
    target: float
    score: int | None
    """Rounded score 0–100 (None without a value)."""
    colour: Colour
    current: bool
    """Data present and not older than the update frequency."""
    data_time: dt.datetime | None
    age_s: float | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"kpi": self.kpi_id, "value": self.value, "target": self.target, "score": self.score,
                "colour": self.colour, "current": self.current,
                "data_time": None if self.data_time is None else self.data_time.isoformat(),
                "age_s": self.age_s}


def rate(kpi: Kpi, value: float | None, now: dt.datetime, data_time: dt.datetime | None,
         red_max_pct: int = 50, yellow_max_pct: int = 75) -> Rating:
    """Rate ``value`` of ``kpi`` as of ``now`` (tz-aware).

    Parameters
    ----------
    kpi : Kpi
        Fact sheet (baseline, target path, direction, update frequency).
    value : float or None
        Actual value (None or NaN: no data).
    now : datetime
        Time of the rating (tz-aware); the target is taken for its date.
    data_time : datetime or None
        Time of the newest data behind ``value``; older than ``kpi.max_age_days`` → grey.
    red_max_pct, yellow_max_pct : int
        The measure's bands.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tgt = target_at(kpi, now.date())
    has = value is not None and math.isfinite(value)
    score = round_half_up(raw_score(float(value), kpi.baseline.value, tgt, kpi.better)) if has else None  # type: ignore[arg-type]
    age = None if data_time is None else (now - data_time).total_seconds()
    current = has and age is not None and age <= kpi.max_age_days * 86_400
    col = colour_of(score, red_max_pct, yellow_max_pct) if current else "grey"
    return Rating(kpi.id, float(value) if has else None, tgt, score, col, bool(current), data_time, age)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Child:
    """A child in a roll-up: its rounded score, weight and whether its data is current."""

    id: str
    score: int | None
    weight: float
    current: bool


@dataclass(frozen=True)
class RollUp:
    """A parent's rating: weighted mean of current children."""

    score: int | None
    colour: Colour
    n_children: int
    n_current: int
    children: list[Child] = field(default_factory=list)

    @property
    def share_current(self) -> float:
        """Share of children with current data (0–1; 0 without children)."""
        return self.n_current / self.n_children if self.n_children else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"score": self.score, "colour": self.colour, "n_children": self.n_children,
                "n_current": self.n_current, "share_current": self.share_current}


def roll_up(children: Sequence[Child], red_max_pct: int = 50, yellow_max_pct: int = 75) -> RollUp:
    """Weighted mean of the scores of children with current data, rounded half up, coloured.

    Children without current data (or with weight 0) do not pull the parent down; they lower the reported
    share of current children instead. No current child → grey.
    """
    cur = [c for c in children if c.current and c.score is not None and c.weight > 0]
    wsum = sum(c.weight for c in cur)
    if not cur or wsum <= 0:
        return RollUp(None, "grey", len(children), len(cur), list(children))
    s = round_half_up(sum(c.score * c.weight for c in cur) / wsum)  # type: ignore[operator]
    return RollUp(s, colour_of(s, red_max_pct, yellow_max_pct), len(children), len(cur), list(children))


__all__ = ["Child", "Colour", "Rating", "RollUp", "colour_of", "rate", "raw_score", "roll_up", "round_half_up",
           "target_at"]
