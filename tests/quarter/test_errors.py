"""Every bad input of the quarter gives one line naming the YAML path and line (or the option), exit code 2,
before any dispatch runs; worker-side errors and an unreachable scheduler are reported the same way."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from h2quarters.cli import app


def _copy(tmp_path: Path, wesertor_dir: Path, change=None, text_change=None) -> Path:
    d = tmp_path / "q"
    shutil.copytree(wesertor_dir, d)
    f = d / "quarter.yaml"
    if change is not None:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        change(data)
        f.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if text_change is not None:
        f.write_text(text_change(f.read_text(encoding="utf-8")), encoding="utf-8")
    return d


def _line_of(d: Path, needle: str) -> int:
    for i, line in enumerate((d / "quarter.yaml").read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def _run(args: list[str]) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    r = CliRunner().invoke(app, args)
    return r.exit_code, r.output, time.perf_counter() - t0


def test_unknown_grid_code(tmp_path: Path, wesertor_dir: Path) -> None:
    d = _copy(tmp_path, wesertor_dir, text_change=lambda s: s.replace("code: 1-LV-urban6--0-sw",
                                                                      "code: 1-LV-urban9--0-sw"))
    code, out, _ = _run(["quarter", "simulate", str(d), "--out", str(tmp_path / "o")])
    assert code == 2
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 1, out  # one line, no traceback
    assert f"grid.code (line {_line_of(d, 'code: 1-LV-urban9')})" in lines[0]
    assert "1-LV-urban9--0-sw" in lines[0] and "1-LV-urban6--0-sw" in lines[0]  # a suggestion
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_missing_bus_and_mv_bus_named_with_lines(tmp_path: Path, wesertor_dir: Path) -> None:
    d = _copy(tmp_path, wesertor_dir, text_change=lambda s: s.replace(
        "bus: LV6.201 Bus 12 ", "bus: MV2.101 Bus 4 ").replace("bus: LV6.201 Bus 26 ", "bus: LV6.201 Bus 99 "))
    code, out, _ = _run(["quarter", "simulate", str(d), "--out", str(tmp_path / "o")])
    assert code == 2
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 2, out
    assert f"buildings[0].bus (line {_line_of(d, 'MV2.101 Bus 4')})" in lines[0] and "20 kV" in lines[0]
    assert f"buildings[1].bus (line {_line_of(d, 'LV6.201 Bus 99')})" in lines[1] and "not in grid" in lines[1]


def test_year_option_and_pv_zero(tmp_path: Path, wesertor_dir: Path) -> None:
    code, out, _ = _run(["quarter", "simulate", str(wesertor_dir), "--year", "1800"])
    assert code == 2 and "--year: value 1800 outside the allowed range [1990, 2100]" in out
    code, out, _ = _run(["quarter", "study", str(wesertor_dir), "--vary", "pv_kwp=0", "--year", "1800"])
    assert code == 2 and "--year" in out  # study --year is an option like simulate's, checked the same way
    # PV 0 is the "no PV" case: accepted, the school then has no PV at all
    code, out, _ = _run(["quarter", "simulate", str(wesertor_dir), "--year", "2024", "--start", "2024-07-01",
                         "--end", "2024-07-02", "--dispatch", "rule", "--check-steps", "0", "--vary", "pv_kwp=0",
                         "--out", str(tmp_path / "pv0"), "--no-report"])
    assert code == 0, out
    k = yaml.safe_load((tmp_path / "pv0" / "kpis.json").read_text())
    assert k["kpis"]["pv_school_kwp"] == 0 and k["kpis"]["pv_school_kwh"] == 0
    assert k["kpis"]["period_start"].startswith("2024-07-01")


def test_worker_error_is_one_line(tmp_path: Path, wesertor_dir: Path) -> None:
    """A bad period only the simulation can judge (before the data start) fails on the worker, not in a
    traceback."""
    from h2quarters.quarter.study import StudyError, run_study

    with pytest.raises(StudyError, match=r"variant pv_kwp=50: period .* fewer than two steps"):
        run_study(wesertor_dir, {"pv_kwp": [50.0]}, tmp_path / "s", n_workers=1, progress=False,
                  start="2025-03-01 00:00", end="2025-03-01 00:30", dispatch="rule", powerflow=False)


def test_unreachable_scheduler_fails_within_timeout(tmp_path: Path, wesertor_dir: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, dt = _run(["quarter", "study", str(wesertor_dir), "--vary", "pv_kwp=50", "--scheduler",
                          f"tcp://127.0.0.1:{port}", "--connect-timeout", "2", "--out", str(tmp_path / "s"),
                          "--start", "2025-05-05", "--end", "2025-05-06"])
    assert code == 2, out
    assert f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answered within 2 s" in out
    assert len([x for x in out.splitlines() if x.strip()]) == 1
    assert dt < 60  # the CLI's own start-up (grid check) included; the connection gives up after 2 s


def test_bad_period_refused_before_workers(tmp_path: Path, wesertor_dir: Path) -> None:
    code, out, _ = _run(["quarter", "study", str(wesertor_dir), "--vary", "pv_kwp=50", "--start", "2024-05-05",
                         "--out", str(tmp_path / "s")])
    assert code == 2 and "--start: 2024-05-05 is outside the quarter's year 2025" in out
    assert not (tmp_path / "s").exists()


def test_representative_weeks_refused_with_a_period_or_out_of_range(tmp_path: Path, wesertor_dir: Path) -> None:
    code, out, _ = _run(["quarter", "study", str(wesertor_dir), "--vary", "pv_kwp=50", "--representative", "4",
                         "--start", "2025-06-02", "--end", "2025-06-16", "--out", str(tmp_path / "s")])
    assert code == 2 and len([x for x in out.splitlines() if x.strip()]) == 1, out
    assert "--representative: the typical weeks stand for the whole year; leave out --start/--end" in out
    code, out, _ = _run(["quarter", "study", str(wesertor_dir), "--vary", "pv_kwp=50", "--representative", "60",
                         "--out", str(tmp_path / "s")])
    assert code == 2 and "--representative: value 60 outside the allowed range [1, 52]" in out
    assert not (tmp_path / "s" / "study_table.csv").exists()
