"""Annual figures from typical weeks chosen and weighted by tsam, and their measured error against a whole year.

Cheap setting: the rule-based dispatch without power flows (the full year then takes seconds). The tolerances
below were measured on this setting (4 typical weeks: hydrogen produced +1.5 %, LCOH −1.4 %, self-sufficiency
−2.2 %, Stadtteilzentrum bill −1.9 %) and are stated with margin: 5 % for these four figures. Figures near zero over
the year (the school's bill, where exports nearly pay for imports) have no meaningful relative error; the error
table reports them absolutely.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from h2quarters.quarter.config import load_quarter
from h2quarters.quarter.representative import (
    combine,
    representative_error,
    representative_kpis,
    representative_weeks,
)
from h2quarters.quarter.simulate import simulate_quarter

TOLERANCE = 0.05  # relative, for the figures in TIGHT
TIGHT = ("h2_produced_kg", "lcoh_eur_per_kg", "h2system_self_sufficiency", "bill_stz_eur")


@pytest.fixture(scope="module")
def quarter(wesertor_dir):
    return load_quarter(wesertor_dir)


def test_representative_weeks_against_the_full_year(quarter) -> None:
    weeks = representative_weeks(quarter, 4)
    # real calendar weeks of the year, counted from January 1st; weights cover the year
    jan1 = pd.Timestamp(quarter.year, 1, 1, tz=quarter.location.tz)
    for s in weeks.starts:
        assert s.year == quarter.year
        assert (s.tz_convert(None) - jan1.tz_convert(None)) % pd.Timedelta(days=7) == pd.Timedelta(0)
    assert len(set(weeks.starts)) == 4
    assert weeks.weights.sum() == pytest.approx(365 / 7)
    assert np.all(weeks.weights >= 1.0)
    rep = representative_kpis(quarter, 4, dispatch="rule", powerflow=False, weeks=weeks)
    full = simulate_quarter(quarter, dispatch="rule", check_steps=0, powerflow=False, stress=False).kpis
    err = representative_error(rep["annual"], full).set_index("kpi")
    for key in TIGHT:
        assert abs(err.loc[key, "rel_error"]) <= TOLERANCE, (key, err.loc[key].to_dict())
    # the comparison really is against the year: the full-year figures are those of the year run
    assert err.loc["h2_produced_kg", "full_year"] == pytest.approx(full["h2_produced_kg"])


def test_combine_weights_and_ratios() -> None:
    """Weighted sums by hand; the LCOH is cost over kilograms, not the mean of the weeks' LCOH."""
    a = {"h2_produced_kg": 10.0, "lcoh_period_eur_per_kg": 20.0, "h2system_consumption_kwh": 100.0,
         "h2system_self_sufficiency": 0.5, "trailer_trips": 3, "trailer_trips_end_refill": 1, "h2_moved_kg": 11.0,
         "supply_cost_eur": 22.0}
    b = {"h2_produced_kg": 30.0, "lcoh_period_eur_per_kg": 10.0, "h2system_consumption_kwh": 300.0,
         "h2system_self_sufficiency": 0.9, "trailer_trips": 1, "trailer_trips_end_refill": 0, "h2_moved_kg": 33.0,
         "supply_cost_eur": 0.0}
    out = combine([a, b], np.array([2.0, 1.0]))
    assert out["h2_produced_kg"] == pytest.approx(50.0)
    assert out["lcoh_eur_per_kg"] == pytest.approx((2 * 200 + 300) / 50)
    assert out["h2system_self_sufficiency"] == pytest.approx((2 * 50 + 270) / 500)
    assert out["trailer_trips"] == pytest.approx(2 * 2 + 1)  # the weeks' end refills are not trips of the year
    assert out["lcoh_delivered_eur_per_kg"] == pytest.approx(out["lcoh_eur_per_kg"] + 44 / 55)


def test_weeks_out_of_range(quarter) -> None:
    with pytest.raises(ValueError, match=r"value 53 outside the allowed range \[1, 52\]"):
        representative_weeks(quarter, 53)
