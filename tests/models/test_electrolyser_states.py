"""Electrolyser states within a step: start-up minutes and partial-step operation, and min_load_frac = 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2quarters.config import load_scenario
from h2quarters.config.scenario import Electrolyser
from h2quarters.models.electrolyser import ElectrolyserPlant, ElectrolyserState

S = ElectrolyserState
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller" / "scenario.yaml"


@pytest.fixture(scope="module")
def cfg() -> Electrolyser:
    c = load_scenario(SCENARIO).electrolyser
    assert c.startup_time_min == 10.0  # the tests below are about a 10-minute start-up
    return c


def _durations(step) -> dict[str, float]:
    return {"off": step.t_off_s, "standby": step.t_standby_s, "starting": step.t_starting_s,
            "producing": step.t_producing_s}


@pytest.mark.parametrize("dt_s", [3600.0, 900.0])
def test_ten_minute_start_up_is_accounted_inside_the_step(cfg: Electrolyser, dt_s: float) -> None:
    plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c)
    total = {"off": 0.0, "standby": 0.0, "starting": 0.0, "producing": 0.0}
    steps = []
    for _ in range(int(7200 / dt_s)):  # two hours at full request
        s = plant.step(cfg.p_rated_kw, dt_s)
        steps.append(s)
        assert sum(_durations(s).values()) == pytest.approx(dt_s, rel=0, abs=1e-9)
        for k, v in _durations(s).items():
            total[k] += v
    assert total["starting"] == pytest.approx(600.0)
    assert total["producing"] == pytest.approx(7200.0 - 600.0)
    assert plant.op_hours_h * 3600.0 == pytest.approx(total["producing"])
    assert plant.n_starts == 1
    # The first step ends PRODUCING at 1 h (sampled state) but only 50 of its 60 minutes produced.
    first = steps[0]
    if dt_s == 3600.0:
        assert first.state == S.PRODUCING and first.t_starting_s == pytest.approx(600.0)
    else:  # 15-minute steps: 10 min starting + 5 min producing
        assert first.t_starting_s == pytest.approx(600.0) and first.t_producing_s == pytest.approx(300.0)


@pytest.mark.parametrize("dt_s", [3600.0, 900.0])
def test_standby_and_off_fill_the_steps_without_power(cfg: Electrolyser, dt_s: float) -> None:
    plant = ElectrolyserPlant(cfg, t_c=cfg.t_op_c, state=S.PRODUCING)
    s = plant.step(0.0, dt_s, standby_allowed=True)
    assert s.state == S.STANDBY and s.t_standby_s == pytest.approx(dt_s) and s.t_producing_s == 0.0
    s = plant.step(0.0, dt_s, standby_allowed=False)
    assert s.state == S.OFF and s.t_off_s == pytest.approx(dt_s)


def test_zero_minimum_load_means_off_without_power(cfg: Electrolyser) -> None:
    zero = cfg.model_copy(update={"min_load_frac": 0.0})
    assert zero.p_min_kw == 0.0
    plant = ElectrolyserPlant(zero, t_c=zero.t_op_c)
    for _ in range(24):
        s = plant.step(0.0, 3600.0, standby_allowed=False)
        assert s.state == S.OFF and s.p_total_kw == 0.0 and s.m_h2_kg == 0.0
    assert plant.n_starts == 0 and plant.op_hours_h == 0.0
    # any power at all is used: it starts, then produces at that power
    plant.step(0.5, 3600.0)
    s = plant.step(0.5, 3600.0)
    assert s.state == S.PRODUCING and s.p_stack_kw == pytest.approx(0.5) and s.m_h2_kg > 0.0
    # and power gone means standby (allowed) with no stack power, not "producing at 0 kW"
    s = plant.step(0.0, 3600.0, standby_allowed=True)
    assert s.state == S.STANDBY and s.p_stack_kw == 0.0 and s.t_producing_s == 0.0
    assert s.p_total_kw == pytest.approx(zero.p_standby_kw)
