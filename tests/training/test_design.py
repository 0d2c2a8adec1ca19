"""E13's design check with the annual simulator."""

from __future__ import annotations

import pytest

from h2quarters.training.design import simulate_design
from h2quarters.training.plant import _scenario


def test_bigger_design_covers_more_and_balances_hydrogen() -> None:
    scn = _scenario("oskar-von-miller")
    small = simulate_design(scn, el_kw=1.0, pv_kwp=3.0, tank_m3=0.1, demand_kg_d=1.5, days=4)
    big = simulate_design(scn, el_kw=12.0, pv_kwp=30.0, tank_m3=0.6, demand_kg_d=1.5, days=4)
    assert small.demand_kg == pytest.approx(big.demand_kg) and small.demand_kg == pytest.approx(6.0)
    assert small.coverage < big.coverage <= 1.0
    # nothing is delivered that was not produced (the tank starts at its minimum pressure)
    for r in (small, big):
        assert r.delivered_kg <= r.produced_kg + 1e-9 and r.tank_p_min_bar >= scn.storage.p_min_bar - 1e-6
    with pytest.raises(ValueError, match="el_kw = -1"):
        simulate_design(scn, el_kw=-1.0, pv_kwp=3.0, tank_m3=0.1, demand_kg_d=1.0)
