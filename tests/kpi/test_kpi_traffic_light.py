"""Traffic light: Smart Kassel bands and their boundaries, custom bands, lower-is-better KPIs."""

from __future__ import annotations

import math

import pytest

from h2quarters.kpi import (
    KASSEL_BANDS,
    TrafficLightBands,
    percent_of_target,
    traffic_light,
)


@pytest.mark.parametrize(
    ("percent", "color"),
    [(0, "red"), (50, "red"), (50.4, "red"), (50.5, "yellow"), (51, "yellow"), (75.4, "yellow"), (75.5, "green"), (75, "yellow"), (76, "green"),
     (100, "green"), (180, "green"), (-10, "red")],
)
def test_kassel_band_boundaries(percent: float, color: str) -> None:
    result = traffic_light(percent, 100.0)
    assert result.color == color
    assert result.percent == pytest.approx(percent)


def test_boundary_survives_floating_point() -> None:
    # 100 * (0.1 * 3) / 0.6 evaluates to 50.00000000000001 in binary floating point: still 50 % -> red
    assert traffic_light(0.15, 0.3).color == "red"
    assert traffic_light(0.3 * 0.75, 0.3).color == "yellow"  # 75 % exactly
    assert traffic_light(0.1 * 3, 0.6).color == "red"


def test_kpi_values_not_percent() -> None:
    # 38 of 50 learners reached: 76 % -> green; 25 of 50 -> red
    assert traffic_light(38, 50) == ("green", pytest.approx(76.0))
    assert traffic_light(25, 50).color == "red"


def test_custom_bands() -> None:
    strict = TrafficLightBands(red_max_pct=80, yellow_max_pct=95)
    assert traffic_light(90, 100, strict).color == "yellow"
    assert traffic_light(80, 100, strict).color == "red"
    assert traffic_light(96, 100, (80, 95)).color == "green"
    assert KASSEL_BANDS == TrafficLightBands(50, 75)
    with pytest.raises(ValueError, match="yellow_max_pct .* must be above red_max_pct"):
        TrafficLightBands(75, 50)
    with pytest.raises(ValueError, match="red_max_pct"):
        TrafficLightBands(-1, 50)
    with pytest.raises(ValueError, match="bands must be"):
        traffic_light(1, 2, bands=(1, 2, 3))  # type: ignore[arg-type]


def test_lower_is_better() -> None:
    # LCOH target 10 EUR/kg, reached 20 EUR/kg -> 50 % -> red; 12.5 -> 80 % green
    assert traffic_light(20.0, 10.0, higher_is_better=False) == ("red", pytest.approx(50.0))
    assert traffic_light(12.5, 10.0, higher_is_better=False).color == "green"
    assert percent_of_target(0.0, 10.0, higher_is_better=False) == math.inf
    assert traffic_light(-1.0, 10.0, higher_is_better=False).color == "green"


def test_nan_value_and_bad_target() -> None:
    r = traffic_light(float("nan"), 10.0)
    assert r.color == "red" and math.isnan(r.percent)
    with pytest.raises(ValueError, match="target = 0.0 is outside the allowed range"):
        traffic_light(5.0, 0.0)
    with pytest.raises(ValueError, match="value must be a number"):
        traffic_light("high", 1.0)  # type: ignore[arg-type]
