"""Traffic-light rating of a KPI against its target (Smart Kassel strategy, chapter 9).

The city's monitoring rates each measure's result as a share of its target: 0–50 % red, 51–75 % yellow,
76–100 % green; a measure may define its own bands. The published bands are whole percents, so the share is
rounded half up to a whole percent *before* colouring (50.4 → 50 → red, 50.5 → 51 → yellow), exactly as the
cockpit's :mod:`h2quarters.monitoring.rating` does: one KPI gets one colour everywhere. Results above 100 %
stay green.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

from h2quarters.kpi._checks import Number, scalar

__all__ = ["Color", "TrafficLightBands", "KASSEL_BANDS", "TrafficLight", "percent_of_target", "round_half_up",
           "traffic_light"]

Color = Literal["red", "yellow", "green"]


@dataclass(frozen=True)
class TrafficLightBands:
    """Upper edges of the red and yellow bands in percent of target (inclusive).

    Parameters
    ----------
    red_max_pct : float
        Highest percent still rated red, >= 0.
    yellow_max_pct : float
        Highest percent still rated yellow, > ``red_max_pct``.
    """

    red_max_pct: float = 50.0
    yellow_max_pct: float = 75.0

    def __post_init__(self) -> None:
        red = scalar(self.red_max_pct, "red_max_pct", lo=0.0)
        yellow = scalar(self.yellow_max_pct, "yellow_max_pct")
        if not yellow > red:
            raise ValueError(
                f"yellow_max_pct ({yellow}) must be above red_max_pct ({red}); bands are red <= red_max_pct "
                "< yellow <= yellow_max_pct < green"
            )


KASSEL_BANDS = TrafficLightBands(50.0, 75.0)
"""Default bands of the Smart Kassel strategy: 0–50 % red, 51–75 % yellow, 76–100 % green."""


def round_half_up(x: float) -> int:
    """Round to a whole number, halves upwards (50.5 → 51; Python's ``round`` would give 50).

    ``x`` is first rounded to 1e-9 so that a share computed as 50.49999999999999 in binary floating point
    counts as the 50.5 it stands for.
    """
    return int(math.floor(round(x, 9) + 0.5))


class TrafficLight(NamedTuple):
    """Rating of one KPI."""

    color: Color
    """'red', 'yellow' or 'green'."""
    percent: float
    """Reached share of the target in %, unrounded (NaN if the KPI value is NaN)."""


def percent_of_target(value: Number, target: Number, higher_is_better: bool = True) -> float:
    """Share of the target reached, in percent.

    ``p = 100 · value / target`` (higher is better) or ``p = 100 · target / value`` (lower is better, e.g.
    LCOH or specific energy consumption; ``value <= 0`` then beats any target: ``p = inf``).

    Parameters
    ----------
    value : float
        KPI result (NaN allowed: returns NaN).
    target : float
        Target, > 0.
    higher_is_better : bool, default True
        Direction of the KPI.

    Returns
    -------
    float
        Percent of target.
    """
    t = scalar(target, "target", lo=0.0, lo_open=True)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"value must be a number, got {value!r}") from None
    if math.isnan(v):
        return math.nan
    if higher_is_better:
        return 100.0 * v / t
    return math.inf if v <= 0.0 else 100.0 * t / v


def traffic_light(
    value: Number,
    target: Number,
    bands: TrafficLightBands | tuple[float, float] = KASSEL_BANDS,
    higher_is_better: bool = True,
) -> TrafficLight:
    """Rate a KPI value against its target on the red/yellow/green scale.

    ``color = red if P <= red_max; yellow if P <= yellow_max; green otherwise`` with ``P`` the share ``p`` from
    :func:`percent_of_target` rounded half up to a whole percent (:func:`round_half_up`).

    Parameters
    ----------
    value : float
        KPI result. NaN (KPI could not be computed, e.g. nothing produced) is rated red with percent NaN:
        an unmeasured result has not reached its target.
    target : float
        Target value, > 0.
    bands : TrafficLightBands or (red_max_pct, yellow_max_pct), default Kassel 50/75
        A measure's own bands.
    higher_is_better : bool, default True
        False for KPIs to be minimised (cost, specific consumption, emissions).

    Returns
    -------
    TrafficLight
        ``(color, percent)``.
    """
    if not isinstance(bands, TrafficLightBands):
        try:
            red, yellow = bands
        except (TypeError, ValueError):
            raise ValueError(
                f"bands must be TrafficLightBands or (red_max_pct, yellow_max_pct), got {bands!r}"
            ) from None
        bands = TrafficLightBands(red, yellow)
    p = percent_of_target(value, target, higher_is_better)
    if math.isnan(p):
        return TrafficLight("red", p)
    p_cmp = round_half_up(p) if math.isfinite(p) else p
    if p_cmp <= bands.red_max_pct:
        return TrafficLight("red", p)
    if p_cmp <= bands.yellow_max_pct:
        return TrafficLight("yellow", p)
    return TrafficLight("green", p)
