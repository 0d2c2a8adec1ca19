"""Variant studies on Dask: ≥12 variants on a LocalCluster (resumable), and on a separately started
``dask scheduler`` + ``dask worker`` on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from h2quarters.quarter.study import (
    expand,
    pareto_mask,
    parse_vary,
    run_study,
    variant_id,
)

ROOT = Path(__file__).resolve().parents[2]
VARY = {"pv_kwp": [60.0, 99.0], "electrolyser_kw": [4.8, 9.6, 14.4], "tank_kg": [20.0, 44.0]}  # 12 variants
SHORT = {"start": "2025-05-05", "end": "2025-05-06"}  # one day: the test is about the machinery


def test_parse_vary() -> None:
    v = parse_vary(["pv_kwp=50,100", "tank_kg=10:30:3"])
    assert v == {"pv_kwp": [50.0, 100.0], "tank_kg": [10.0, 20.0, 30.0]}
    assert len(expand(v)) == 6
    with pytest.raises(ValueError, match="outside the allowed range"):
        parse_vary(["electrolyser_kw=0"])
    with pytest.raises(ValueError, match="expected name="):
        parse_vary(["pv_kwp"])


def test_pareto_mask_known_case() -> None:
    t = pd.DataFrame({"lcoh_period_eur_per_kg": [10, 12, 9, 20], "h2system_self_sufficiency": [0.5, 0.6, 0.4, 0.3],
                      "co2_avoided_by_h2_kg": [100, 100, 100, 50]})
    # row 3 is dominated by all; rows 0–2 trade LCOH against self-sufficiency
    assert pareto_mask(t).tolist() == [True, True, True, False]


def test_study_local_cluster(tmp_path: Path) -> None:
    out = tmp_path / "study"
    # the rule dispatcher keeps this machinery test short on a busy machine; the optimiser runs on workers in
    # test_study_on_separate_scheduler_and_worker
    r = run_study(ROOT / "scenarios" / "wesertor", VARY, out, n_workers=2, progress=False, dispatch="rule",
                  **SHORT)
    t = r.table
    assert len(t) == 12 and r.n_run == 12 and r.n_resumed == 0
    assert r.scheduler.startswith("tcp://127.0.0.1") or r.scheduler.startswith("tcp://")
    assert t.pareto.any() and not t.pareto.all()
    assert t.worker_pid.nunique() == 2  # both worker processes took work
    assert (t.balance_max_rel_h2 < 1e-6).all()
    # every variant makes hydrogen, never more than its rated power allows (≥ 45 kWh/kg even at best)
    assert (t.h2_produced_kg > 0).all()
    assert (t.h2_produced_kg <= t.electrolyser_kw * 24 / 45.0).all()
    assert t.lcoh_period_eur_per_kg.between(1, 1000).all()
    # one day is not a year: nothing is multiplied up
    assert not t.annualised.any() and t.h2_produced_kg_per_a.isna().all() and t.lcoh_eur_per_kg.isna().all()
    # the Pareto set really is non-dominated and every other variant is dominated by a Pareto variant
    assert pareto_mask(t[t.pareto]).all()
    assert (out / "study_table.csv").exists() and (out / "pareto.csv").exists()
    assert len(list((out / "variants").glob("*.json"))) == 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_study_on_separate_scheduler_and_worker(tmp_path: Path) -> None:
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    bindir = Path(sys.executable).parent
    sched = subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    worker = None
    try:
        worker = subprocess.Popen([str(bindir / "dask"), "worker", addr, "--nthreads", "1", "--nworkers", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from dask.distributed import Client

        deadline = time.monotonic() + 60
        while True:  # wait until the worker has registered
            try:
                with Client(addr, timeout=5) as c:
                    if c.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "dask worker did not register within 60 s"
            time.sleep(0.5)
        vary = {"pv_kwp": [99.0], "electrolyser_kw": [4.8, 14.4], "tank_kg": [44.0]}
        r = run_study(ROOT / "scenarios" / "wesertor", vary, tmp_path, scheduler=addr, progress=False, **SHORT)
        assert r.scheduler == addr
        assert len(r.table) == 2 and r.n_run == 2
        assert os.getpid() not in set(r.table.worker_pid)  # the variants ran in the worker's process
        info = json.loads((tmp_path / "study.json").read_text())
        assert info["scheduler"] == addr
        # resumable: remove one finished variant, only that one runs again, results unchanged
        gone = variant_id(expand(vary)[1])
        (tmp_path / "variants" / f"{gone}.json").unlink()
        r2 = run_study(ROOT / "scenarios" / "wesertor", vary, tmp_path, scheduler=addr, progress=False, **SHORT)
        assert r2.n_run == 1 and r2.n_resumed == 1
        pd.testing.assert_frame_equal(r2.table.drop(columns="worker_pid"), r.table.drop(columns="worker_pid"),
                                      check_exact=False, rtol=1e-9)
    finally:
        for proc in (worker, sched):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
