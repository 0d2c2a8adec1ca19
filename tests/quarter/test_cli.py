"""``h2q quarter simulate``: writes its outputs; bad input exits 2 with a message naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from h2quarters.cli import app


def test_quarter_simulate_cli(wesertor_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["quarter", "simulate", str(wesertor_dir), "--year", "2025", "--start",
                                 "2025-07-01", "--end", "2025-07-02", "--dispatch", "rule", "--check-steps", "4",
                                 "--vary", "pv_kwp=50", "--out", str(tmp_path), "--no-report"])
    assert r.exit_code == 0, r.output
    k = json.loads((tmp_path / "kpis.json").read_text())
    assert k["kpis"]["pv_school_kwp"] == 50 and k["overrides"] == {"pv_kwp": 50.0}
    assert k["fast_path_check"]["max_abs_dvm_pu"] < 1e-6
    assert (tmp_path / "quarter_timeseries.csv").exists() and (tmp_path / "grid_bus_vm_pu.csv").exists()


def test_quarter_cli_errors(wesertor_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["quarter", "simulate", str(wesertor_dir), "--vary", "tank_kg=0",
                                 "--out", str(tmp_path)])
    assert r.exit_code == 2 and "tank_kg=0" in r.output and "allowed range" in r.output
    r = CliRunner().invoke(app, ["quarter", "simulate", str(wesertor_dir), "--dispatch", "magic"])
    assert r.exit_code == 2 and "choose optimiser, site_mpc or rule" in r.output
    r = CliRunner().invoke(app, ["quarter", "study", str(wesertor_dir), "--vary", "pv_kwp"])
    assert r.exit_code == 2 and "expected name=" in r.output
