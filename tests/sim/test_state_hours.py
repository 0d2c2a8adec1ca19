"""Hours per electrolyser state in the simulator: accounted within steps, at 1 h and 15 min."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2quarters.config import load_scenario
from h2quarters.config.scenario import Scenario
from h2quarters.sim.annual import simulate
from h2quarters.sim.results import site_kpis

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    s = load_scenario(DEFAULT)
    assert s.electrolyser.startup_time_min == 10.0
    return s


@pytest.mark.parametrize("freq", ["1h", "15min"])
def test_hours_per_state_account_the_start_up_inside_steps(scenario: Scenario, freq: str) -> None:
    r = simulate(scenario, "2025-06-01", "2025-06-15", freq)
    k = site_kpis(r)
    h = k["ely_hours_per_state_h"]
    assert sum(h.values()) == pytest.approx(14 * 24, rel=1e-12)
    starts = k["ely_starts"]
    assert starts > 0
    # every start costs its 10 minutes of start-up, also when the step is longer than the start-up
    assert h["starting"] == pytest.approx(starts * 10 / 60, abs=10 / 60)
    # producing hours are the hours of real operation, not the steps that end producing
    assert h["producing"] == pytest.approx(k["ely_op_hours_h"], rel=1e-12)
    end_of_step_producing_h = float((r.timeseries.ely_state == 3).sum()) * r.dt_h
    assert h["producing"] < end_of_step_producing_h


def test_zero_minimum_load_does_not_produce_at_zero_power(scenario: Scenario) -> None:
    ely = scenario.electrolyser.model_copy(update={"min_load_frac": 0.0})
    s = scenario.model_copy(update={"electrolyser": ely})
    r = simulate(s, "2025-01-06", "2025-01-20", "1h")
    ts = r.timeseries
    k = site_kpis(r)
    assert not ((ts.ely_state == 3) & (ts.ely_stack_kw <= 0.0)).any()
    # no balance-of-plant power without stack power (only standby/start-up draw)
    idle = ts.ely_stack_kw == 0.0
    assert (ts.ely_kw[idle] <= s.electrolyser.p_standby_kw + s.electrolyser.p_bop_kw + 1e-12).all()
    assert k["ely_hours_per_state_h"]["producing"] == pytest.approx(k["ely_op_hours_h"], rel=1e-12)
    assert k["ely_hours_per_state_h"]["producing"] < 0.6 * 14 * 24  # January nights are not production
