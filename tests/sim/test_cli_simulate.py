"""``h2q simulate``: command-line values are validated like the YAML, outputs are written all or none."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from h2quarters.cli import app
from h2quarters.sim.outputs import OutputDirError, check_output_dir, write_all_or_none

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "oskar-von-miller"


def _run(*args: str) -> object:
    return CliRunner().invoke(app, ["simulate", str(DEFAULT), *args])


@pytest.mark.parametrize(("args", "line"), [
    (["--year", "0"], "--year: value 0 out of range: must be >= 1990"),
    (["--year", "-5"], "--year: value -5 out of range: must be >= 1990"),
    (["--year", "1800"], "--year: value 1800 out of range: must be >= 1990"),
    (["--year", "2200"], "--year: value 2200 out of range: must be <= 2100"),
    (["--step", "5min"], "--step: value '5min' is not allowed; choose one of '15min' or '1h'"),
    (["--start", "2025-13-01"], "--start: value '2025-13-01' is not a date; give YYYY-MM-DD"),
    (["--start", "1800-06-01"], "--start: value '1800-06-01' out of range: the year must lie in [1990, 2100]"),
    (["--days", "0"], "--days: value 0 out of range: must be >= 1"),
    (["--dispatch", "lp"], "--dispatch: value 'lp' is not allowed; choose one of 'rule' or 'mpc'"),
])
def test_command_line_values_are_validated_like_the_yaml(tmp_path: Path, args: list[str], line: str) -> None:
    out = tmp_path / "o"
    r = _run(*args, "--out", str(out))
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines() == [line]  # one clear line, no traceback
    assert not out.exists()


def test_yaml_refuses_the_same_year(tmp_path: Path) -> None:
    text = (DEFAULT / "scenario.yaml").read_text(encoding="utf-8").replace("  year: 2025 ", "  year: 1800 ")
    assert "year: 1800" in text
    (tmp_path / "scenario.yaml").write_text(text, encoding="utf-8")
    r = CliRunner().invoke(app, ["simulate", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "simulation.year" in r.output and "value 1800 out of range: must be >= 1990" in r.output


def test_out_that_is_a_file_is_refused_before_the_run(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("keep me")
    r = _run("--out", str(f))
    assert r.exit_code == 2
    assert r.output.strip() == f"--out: '{f}' exists and is not a directory"
    assert f.read_text() == "keep me"


def test_output_name_taken_by_a_directory_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "kpis.json").mkdir()
    r = _run("--out", str(tmp_path))
    assert r.exit_code == 2
    assert "kpis.json' exists and is not a file" in r.output
    assert not (tmp_path / "timeseries.csv").exists()


def test_short_run_states_the_typical_year_and_writes_both_files(tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = _run("--year", "2031", "--start", "2031-06-02", "--days", "1", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "laid on the calendar of 2031" in r.output and "not the measured weather of 2031" in r.output
    ts = pd.read_csv(out / "timeseries.csv", index_col=0)
    assert len(ts) == 24 and ts.index[0].startswith("2031-06-02")
    assert json.loads((out / "kpis.json").read_text())["period_start"].startswith("2031-06-02")
    assert sorted(p.name for p in out.iterdir()) == ["kpis.json", "timeseries.csv"]  # no temporary files left


def _fails(path: Path) -> None:
    path.write_text("partial")
    raise OSError(28, "No space left on device")


def test_a_failing_file_leaves_the_previous_outputs_untouched(tmp_path: Path) -> None:
    (tmp_path / "timeseries.csv").write_text("old series")
    (tmp_path / "kpis.json").write_text("old kpis")
    with pytest.raises(OSError, match="No space"):
        write_all_or_none(tmp_path, {"timeseries.csv": lambda p: p.write_text("new series"), "kpis.json": _fails})
    assert (tmp_path / "timeseries.csv").read_text() == "old series"
    assert (tmp_path / "kpis.json").read_text() == "old kpis"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kpis.json", "timeseries.csv"]


def test_a_failing_file_in_an_empty_directory_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_all_or_none(tmp_path, {"timeseries.csv": lambda p: p.write_text("new"), "kpis.json": _fails})
    assert list(tmp_path.iterdir()) == []


def test_a_failing_rename_restores_the_previous_outputs(tmp_path: Path) -> None:
    """The second rename fails (its target turned into a directory after the check): the first is undone."""
    (tmp_path / "timeseries.csv").write_text("old series")

    def sneaky(path: Path) -> None:
        path.write_text("new kpis")
        (tmp_path / "kpis.json").mkdir()
        (tmp_path / "kpis.json" / "x").write_text("user data")

    with pytest.raises(OSError):
        write_all_or_none(tmp_path, {"timeseries.csv": lambda p: p.write_text("new series"), "kpis.json": sneaky})
    assert (tmp_path / "timeseries.csv").read_text() == "old series"
    assert (tmp_path / "kpis.json" / "x").read_text() == "user data"


def test_check_output_dir_creates_missing_directories(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    check_output_dir(out, ["kpis.json"])
    assert out.is_dir() and list(out.iterdir()) == []
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(OutputDirError, match="cannot create directory"):
        check_output_dir(plain / "sub", [])
