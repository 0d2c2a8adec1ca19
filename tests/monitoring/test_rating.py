"""Rating edges, target path, stale data, target == baseline, roll-up and the summed-energies rule."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from h2quarters.monitoring.catalogue import Kpi
from h2quarters.monitoring.energy import EnergySums, self_sufficiency_pct, solar_self_use_pct
from h2quarters.monitoring.rating import Child, colour_of, rate, raw_score, roll_up, round_half_up, target_at

TZ = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2030, 6, 1, 12, tzinfo=TZ)  # after every target year: the target value applies


def kpi(**kw) -> Kpi:
    base = dict(id="k", measure="m", group="content", name={"de": "K", "en": "K"},
                definition={"de": "d", "en": "d"}, numerator={"de": "n", "en": "n"}, unit="count", better="higher",
                baseline={"year": 2025, "value": 0}, target={"year": 2028, "value": 100}, owner="o",
                source="manual", update_frequency="monthly", data_quality={"de": "q", "en": "q"})
    base.update(kw)
    return Kpi.model_validate(base)


@pytest.mark.parametrize(("actual", "score", "colour"), [
    (50, 50, "red"), (51, 51, "yellow"), (75, 75, "yellow"), (76, 76, "green"),
    (50.5, 51, "yellow"),  # rounded half up before colouring: cannot fall between red and yellow
    (50.49, 50, "red"), (75.5, 76, "green"), (0, 0, "red"), (100, 100, "green"),
    (130, 100, "green"), (-20, 0, "red"),  # clipped to 0–100
])
def test_edges_of_the_kassel_bands(actual: float, score: int, colour: str) -> None:
    r = rate(kpi(), actual, NOW, NOW - dt.timedelta(days=1))
    assert (r.score, r.colour, r.current) == (score, colour, True)


@pytest.mark.parametrize("actual", [0.0, 12.3, 49.5, 50.0, 50.2, 50.4999, 50.5, 50.51, 74.5, 75.49, 75.5, 99.0, 100.0])
def test_cockpit_and_kpi_traffic_light_give_one_colour(actual: float) -> None:
    # the same share of target (baseline 0) gets the same colour from the cockpit and from kpi.traffic_light
    from h2quarters.kpi import traffic_light

    assert rate(kpi(), actual, NOW, NOW - dt.timedelta(days=1)).colour == traffic_light(actual, 100.0).color


def test_score_uses_the_baseline_and_a_lower_is_better_direction() -> None:
    k = kpi(better="lower", unit="kWh/kg", baseline={"year": 2025, "value": 70}, target={"year": 2027, "value": 58})
    # 64 kWh/kg is half-way from 70 to 58 → 50 → red; 60.88 is 76 % of the way → green
    assert rate(k, 64.0, NOW, NOW).score == 50
    assert rate(k, 70 - 0.76 * 12, NOW, NOW).colour == "green"
    assert rate(k, 75.0, NOW, NOW).score == 0  # worse than the baseline


def test_measure_bands_are_used() -> None:
    assert colour_of(60, red_max_pct=60, yellow_max_pct=90) == "red"
    assert colour_of(61, red_max_pct=60, yellow_max_pct=90) == "yellow"
    assert colour_of(91, red_max_pct=60, yellow_max_pct=90) == "green"
    with pytest.raises(ValueError, match="whole number"):
        colour_of(50.5)  # type: ignore[arg-type]


def test_round_half_up_differs_from_bankers_rounding() -> None:
    assert round(50.5) == 50 and round_half_up(50.5) == 51
    assert round_half_up(75.49999) == 75


def test_target_path_is_linear_between_milestones() -> None:
    k = kpi(target={"year": 2028, "value": 12, "path": [{"year": 2026, "value": 4}, {"year": 2027, "value": 8}]})
    assert target_at(k, dt.date(2025, 12, 31)) == 0
    assert target_at(k, dt.date(2026, 12, 31)) == 4
    mid = dt.date(2027, 7, 2)  # 183 of the 365 days from the 2026 milestone to the 2027 one
    assert target_at(k, mid) == pytest.approx(4 + 4 * 183 / 365)
    assert target_at(k, dt.date(2035, 1, 1)) == 12
    assert target_at(k, dt.date(2020, 1, 1)) == 0
    # in mid-2027 the target for that date is ~6: an actual of 3 is half-way → 50 → red
    r = rate(k, 3.0, dt.datetime.combine(mid, dt.time(12), TZ), dt.datetime.combine(mid, dt.time(11), TZ))
    assert r.score == round(3 / (4 + 4 * 183 / 365) * 100) and r.colour == "red"


def test_stale_data_is_grey_not_red() -> None:
    k = kpi(update_frequency="monthly")
    old = rate(k, 10.0, NOW, NOW - dt.timedelta(days=40))
    assert (old.colour, old.current, old.score) == ("grey", False, 10)
    fresh = rate(k, 10.0, NOW, NOW - dt.timedelta(days=30))
    assert fresh.colour == "red"
    assert rate(k, None, NOW, None).colour == "grey"
    assert rate(k, float("nan"), NOW, NOW).colour == "grey"


def test_target_equal_to_baseline_is_handled() -> None:
    k = kpi(baseline={"year": 2025, "value": 97}, target={"year": 2027, "value": 97})
    assert rate(k, 97.0, NOW, NOW).score == 100
    assert rate(k, 98.0, NOW, NOW).score == 100
    assert rate(k, 96.9, NOW, NOW).colour == "red"
    low = kpi(better="lower", baseline={"year": 2025, "value": 5}, target={"year": 2027, "value": 5})
    assert raw_score(4.0, 5, 5, "lower") == 100 and raw_score(6.0, 5, 5, "lower") == 0
    # on the baseline's own date the path's target equals the baseline as well
    on_base = dt.datetime(2025, 12, 31, 12, tzinfo=TZ)
    assert rate(kpi(), 0.0, on_base, on_base).score == 100
    assert rate(low, 5.0, NOW, NOW).score == 100


def test_inconsistent_fact_sheets_are_refused() -> None:
    with pytest.raises(ValueError, match="better is 'higher' but target.value 5"):
        kpi(baseline={"year": 2025, "value": 10}, target={"year": 2027, "value": 5})
    with pytest.raises(ValueError, match="target.path years"):
        kpi(target={"year": 2028, "value": 10, "path": [{"year": 2030, "value": 5}]})


def test_roll_up_is_a_weighted_mean_of_current_children() -> None:
    kids = [Child("a", 80, 2.0, True), Child("b", 40, 1.0, True), Child("c", 0, 1.0, False), Child("d", None, 1.0, False)]
    r = roll_up(kids)
    # (80·2 + 40·1) / 3 = 66.67 → 67 → yellow; c and d (not current) do not pull it down
    assert (r.score, r.colour, r.n_current, r.n_children) == (67, "yellow", 2, 4)
    assert r.share_current == 0.5
    assert roll_up([Child("a", 50, 1, True), Child("b", 51, 1, True)]).score == 51  # 50.5 rounds up
    none = roll_up([Child("a", 90, 1, False)])
    assert (none.score, none.colour, none.share_current) == (None, "grey", 0.0)
    assert roll_up([]).colour == "grey"


def test_year_ratio_from_summed_energies_not_mean_of_months() -> None:
    # winter month: big consumption, little covered; summer month: small consumption, fully covered
    winter = EnergySums(load_kwh=1000.0, grid_import_kwh=900.0, pv_kwh=100.0)
    summer = EnergySums(load_kwh=100.0, grid_import_kwh=0.0, pv_kwh=500.0, grid_export_kwh=400.0)
    assert self_sufficiency_pct(winter) == pytest.approx(10.0)
    assert self_sufficiency_pct(summer) == pytest.approx(100.0)
    year = winter + summer
    # (1100 − 900) / 1100 = 18.18 %, while the mean of the monthly rates would claim 55 %
    assert self_sufficiency_pct(year) == pytest.approx(200.0 / 1100.0 * 100.0)
    assert self_sufficiency_pct(year) != pytest.approx((10.0 + 100.0) / 2)
    # solar self-use likewise: (600 − 400) / 600, not mean(100 %, 20 %)
    assert solar_self_use_pct(year) == pytest.approx(200.0 / 600.0 * 100.0)
    assert self_sufficiency_pct(EnergySums()) is None  # nothing consumed: undefined, not 0 or 100
