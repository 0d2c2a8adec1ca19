"""plan() frees the Pyomo model before HiGHS runs: its summary, rebuilt from the schedule, must equal the one
read from the model's own objective expressions."""

from __future__ import annotations

import pytest

from h2quarters.opt.model import (
    build_model,
    initial_state_from_plant,
    set_initial_state,
    set_inputs,
)
from h2quarters.opt.plan import plan
from h2quarters.opt.results import schedule_frame, summary_dict
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import solve_once

from .conftest import make_inputs, make_plant


@pytest.mark.parametrize("objective", ["cost", "weighted"])
def test_summary_from_schedule_equals_model_expressions(objective):
    plant = make_plant(startup_h=10 / 60, p_import_max_kw=4.0)
    inputs = make_inputs(48, "1h", pv_peak_kw=7.0, load_kw=2.5, h2_kg=0.02, seed=9)
    settings = OptSettings(mip_rel_gap=1e-8, objective=objective, terminal_h2_eur_per_kg=5.0, min_up_h=2.0)
    res = plan(plant, inputs, settings)  # matrix hand-off: model freed, results from the solution vector
    m = build_model(plant, len(inputs), 1.0, settings)
    set_inputs(m, inputs)
    set_initial_state(m, initial_state_from_plant(plant))
    info = solve_once(m, settings)
    ref = summary_dict(m, schedule_frame(m, inputs.index))
    assert info.objective == pytest.approx(res.summary["objective"], rel=1e-7, abs=1e-7)
    for key in ("objective", "energy_cost_eur", "startup_cost_eur", "terminal_value_eur", "penalty_eur", "co2_kg",
                "h2_produced_kg", "grid_import_kwh", "grid_export_kwh"):
        assert res.summary[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-6), key
    assert res.summary["n_cold_starts"] == ref["n_cold_starts"]
    assert res.summary["energy_cost_eur"] != 0.0  # the comparison is not between two zeros
