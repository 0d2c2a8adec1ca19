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


def _scenario_with(tmp_path, old: str, new: str):
    text = (SCENARIO_DIR / "scenario.yaml").read_text()
    assert old in text
    d = tmp_path / "site"
    d.mkdir()
    (d / "scenario.yaml").write_text(text.replace(old, new))
    return d


def test_optimise_unmet_demand_exits_4_naming_the_limit(tmp_path):
    # 3 kg a day between 9 and 11 h: far beyond what the lab's tank and electrolyser can deliver in 2 h
    site = _scenario_with(tmp_path, "  m_kg_per_day: 0.0 ", "  m_kg_per_day: 3.0\n  hour_start: 9\n  hour_end: 11 ")
    out = tmp_path / "opt"
    r = CliRunner().invoke(app, ["optimise", str(site), "--start", "2025-06-02", "--days", "1", "--out", str(out)])
    assert r.exit_code == 4, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("NOT MET"))
    assert "hydrogen demand of 3.000 kg on 2025-06-02 cannot be met by" in line
    assert "between 09:00" in line or "electrolyser output binds" in line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["messages"] and "typical reference year" in summary["weather"]["note"]
    assert summary["weather"]["laid_on_years"] == [2025]


def test_optimise_bad_values_give_one_clear_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["optimise", str(SCENARIO_DIR), "--start", "2025-06-02", "--gap", "2",
                            "--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "mip_rel_gap" in r.output and "<= 1" in r.output and "pydantic" not in r.output
    for start in ("1500-01-01", "2262-03-01", "9999-12-31"):
        r = runner.invoke(app, ["optimise", str(SCENARIO_DIR), "--start", start, "--out", str(tmp_path / "b")])
        assert r.exit_code == 2, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception  # no traceback
        assert "outside the dates" in r.output and "1678-01-01" in r.output
    (tmp_path / "tl.yaml").write_text("time_limit_s: 0.01\n")
    r = runner.invoke(app, ["optimise", str(SCENARIO_DIR), "--start", "2025-06-02", "--days", "1",
                            "--settings", str(tmp_path / "tl.yaml"), "--out", str(tmp_path / "c")])
    assert r.exit_code == 5 and "NO PLAN" in r.output and "time_limit_s = 0.01 s" in r.output, r.output
    assert not (tmp_path / "c").exists()


def test_optimise_time_limited_mpc_exits_3_and_keeps_the_plans(tmp_path):
    # A 1 ms wall-clock safety per re-plan and no gap to stop at: every warm-started re-plan is cut short by the
    # clock and keeps its (accepted) start — a time-limited plan, end to end through the command.
    (tmp_path / "tl.yaml").write_text("mpc_time_limit_s: 0.001\nmpc_mip_rel_gap: 0.0\nmpc_mip_abs_gap: 0.0\n"
                                      "mpc_horizon_h: 12\n")
    out = tmp_path / "opt"
    r = CliRunner().invoke(app, ["optimise", str(SCENARIO_DIR), "--start", "2025-01-13", "--days", "1",
                                 "--step", "1h", "--mode", "mpc", "--settings", str(tmp_path / "tl.yaml"),
                                 "--out", str(out)])
    assert r.exit_code == 3, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("TIME LIMIT"))
    summary = json.loads((out / "summary.json").read_text())
    rp = summary["replans"]
    assert rp["n_replans"] == 24 and rp["n_capped"] >= 1
    assert f"{rp['n_capped']} of 24 MPC plans stopped" in line and "mpc_time_limit_s = 0.001 s" in line
    assert "best plans kept" in line and summary["limits"] == [line]
    assert len(pd.read_csv(out / "schedule.csv", index_col=0)) == 24  # the realised day is written in full
