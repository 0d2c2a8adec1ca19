"""``h2q optimise`` writes a schedule with units in its column names and a JSON summary."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from h2quarters.cli import app

from .conftest import SCENARIO_DIR


def test_optimise_day_ahead_writes_schedule_and_summary(tmp_path):
    out = tmp_path / "opt"
    r = CliRunner().invoke(app, ["optimise", str(SCENARIO_DIR), "--start", "2025-06-02", "--days", "1",
                                 "--mode", "day-ahead", "--out", str(out)])
    assert r.exit_code == 0, r.output
    sched = pd.read_csv(out / "schedule.csv", index_col=0)
    summary = json.loads((out / "summary.json").read_text())
    assert len(sched) == 96
    for col in ("pv_kw", "ely_p_stack_kw", "ely_h2_kg", "tank_m_end_kg", "grid_import_kw", "battery_e_end_kwh"):
        assert col in sched.columns
    assert summary["mode"] == "day-ahead" and summary["solver_status"] == "optimal"
    for key in ("objective", "energy_cost_eur", "startup_cost_eur", "terminal_value_eur", "mip_gap", "build_s",
                "solve_s", "electrolyser_curve_max_rel_err"):
        assert key in summary
    assert abs(summary["energy_cost_eur"] - (sched.cost_eur.sum())) < 1e-6


def test_optimise_rejects_bad_mode(tmp_path):
    r = CliRunner().invoke(app, ["optimise", str(SCENARIO_DIR), "--start", "2025-06-02",
                                 "--mode", "weekly", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "weekly" in r.output
