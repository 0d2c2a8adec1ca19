"""Planners' workspace without a browser: scenario copies and the form (the loader's messages, no path tricks),
roles and owner scope, per-user limits, interrupted jobs after a restart, and a job with cancel and resume on a
separately started ``dask scheduler`` + ``dask worker`` on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from h2quarters.api.app import create_app
from h2quarters.api.auth import add_user
from h2quarters.config import ConfigError
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.jobs import records as R
from h2quarters.jobs import results as RS
from h2quarters.jobs import scenarios as SC
from h2quarters.jobs.runner import JobManager
from h2quarters.plc.registers import load_register_map
from h2quarters.store import Store

PASSWORD = "correct-horse-battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_form_from_schema_and_loader_messages() -> None:
    files = SC.shipped_files("wesertor")
    model = SC.validate_file("quarter", "hydrogen-site.yaml", files["hydrogen-site.yaml"], "wesertor")
    fields = {f["path"]: f for f in SC.form_fields(type(model), SC.model_data(model))}
    fields["electrolyser.technology"]["enum"].append("changed by a caller")  # the schema is cached, not shared
    again = {f["path"]: f for f in SC.form_fields(type(model), SC.model_data(model))}
    assert again["electrolyser.technology"]["enum"] == ["PEM", "AEM", "alkaline"]
    fields = again
    f = fields["electrolyser.p_rated_kw"]
    assert (f["type"], f["unit"], f["min"], f["min_excl"], f["value"]) == ("number", "kW", 0.0, True, 14.1)
    assert fields["electrolyser.technology"]["enum"] == ["PEM", "AEM", "alkaline"]
    assert fields["tariffs.import_eur_per_kwh"]["unit"] == "EUR/kWh"
    assert fields["pv[0].p_kwp"]["value"] == 99.0
    bad = SC.apply_edits("quarter", "hydrogen-site.yaml", files["hydrogen-site.yaml"],
                         {"electrolyser.p_rated_kw": "-9,6", "pv[0].tilt_deg": "steep"})
    with pytest.raises(ConfigError) as exc:
        SC.validate_file("quarter", "hydrogen-site.yaml", bad, "wesertor")
    msgs = {p.path: p.message for p in exc.value.problems}
    assert msgs["electrolyser.p_rated_kw"] == "value -9.6 out of range: must be > 0.0"
    assert "'steep' is not a plain number" in msgs["pv[0].tilt_deg"]
    good = SC.apply_edits("quarter", "hydrogen-site.yaml", files["hydrogen-site.yaml"], {"electrolyser.p_rated_kw": "9.6"})
    assert SC.validate_file("quarter", "hydrogen-site.yaml", good, "wesertor").electrolyser.p_rated_kw == 9.6
    # no path tricks: the quarter must use the copy's own hydrogen site; site copies may not name files
    trick = files["quarter.yaml"].replace("hydrogen_site: hydrogen-site.yaml", "hydrogen_site: ../../../etc/passwd")
    with pytest.raises(ConfigError, match="hydrogen_site"):
        SC.validate_file("quarter", "quarter.yaml", trick, "wesertor")
    site = SC.shipped_files("oskar-von-miller")["scenario.yaml"]
    with pytest.raises(ConfigError, match="may not refer to files"):
        SC.validate_file("site", "scenario.yaml", site.replace("source: try_kassel", "source: epw\n  path: /etc/passwd"),
                         "oskar-von-miller")
    with pytest.raises(ConfigError, match="not allowed"):
        SC.validate_file("quarter", "../quarter.yaml", files["quarter.yaml"], "wesertor")
    with pytest.raises(ConfigError, match="too large"):
        SC.validate_file("quarter", "quarter.yaml", files["quarter.yaml"] + "#" * SC.MAX_FILE_BYTES, "wesertor")


@pytest.fixture()
def api(db_url: str) -> Iterator[dict[str, Any]]:
    """The app over each kind of database (no Dask needed: jobs are created but limits refuse them first)."""
    store = Store(db_url)
    for name, role in (("paula", "planner"), ("peter", "planner"), ("victor", "viewer")):
        add_user(store, name, role, PASSWORD)
    app = create_app(store, SnapshotHub(), load_register_map(),
                     ControlSettings(db_url=db_url, login_rate_per_min=1000, jobs_max_active=1, jobs_max_variants=3))
    clients = {}
    for name in ("paula", "peter", "victor"):
        c = TestClient(app)
        assert c.post("/api/auth/login", json={"name": name, "password": PASSWORD}).status_code == 200
        clients[name] = c
    yield {"store": store, "app": app, **clients}
    app.state.jobs.close()
    store.close()


def test_copies_roles_limits_and_interrupted(api: dict[str, Any]) -> None:
    paula, peter, victor, store = api["paula"], api["peter"], api["victor"], api["store"]
    assert victor.post("/api/plan/scenarios", json={"source": "shipped:wesertor"}).status_code == 403
    r = paula.post("/api/plan/scenarios", json={"source": "shipped:wesertor", "name": "Wesertor 9.6 kW"})
    assert r.status_code == 201
    sid = r.json()["id"]
    assert peter.get(f"/api/plan/scenarios/{sid}").status_code == 404  # owner-scoped
    r = paula.patch(f"/api/plan/scenarios/{sid}", json={"file": "hydrogen-site.yaml",
                                                         "edits": {"electrolyser.p_rated_kw": "0"}})
    assert r.status_code == 422
    prob = r.json()["detail"]["params"]["problems"][0]
    assert prob["path"] == "electrolyser.p_rated_kw" and "must be > 0" in prob["message"]
    assert "14.1" in paula.get(f"/api/plan/scenarios/{sid}/files/hydrogen-site.yaml").text  # nothing stored
    r = paula.put(f"/api/plan/scenarios/{sid}/files/quarter.yaml", content=b"name: [",
                  headers={"content-type": "text/plain"})
    assert r.status_code == 422 and "not valid YAML" in r.json()["detail"]["params"]["problems"][0]["message"]
    assert paula.put(f"/api/plan/scenarios/{sid}/files/passwd", content=b"x: 1",
                     headers={"content-type": "text/plain"}).status_code == 422
    # limits, with the numbers in the message
    study = {"scenario": sid, "kind": "quarter_study", "start": "2025-06-02", "days": 7,
             "vary": {"pv_kwp": [50, 99], "tank_kg": [20, 40]}}
    r = paula.post("/api/plan/jobs", json=study)
    assert r.status_code == 429 and r.json()["detail"]["code"] == "plan.limit_variants"
    assert r.json()["detail"]["params"] == {"n": 4, "limit": 3}
    r = paula.post("/api/plan/jobs", json={**study, "vary": {"pv_kwp": [1e9]}})
    assert r.status_code == 422 and "pv_kwp" in r.json()["detail"]["message"]
    r = paula.post("/api/plan/jobs", json={**study, "start": "2031-06-02"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "start"
    s = SC.get(store, sid, "paula")
    jid = R.create(store, "paula", "quarter_study", "left running", s, {"start": None, "end": None},
                   [("pv_kwp=50", {"pv_kwp": 50.0})])
    R.set_status(store, jid, "running")
    r = paula.post("/api/plan/jobs", json={**study, "vary": {"pv_kwp": [50, 99]}})
    assert r.status_code == 429 and r.json()["detail"]["code"] == "plan.limit_active"
    # a server restart: the running job becomes interrupted (and may be resumed)
    JobManager(store).close(interrupt=False)
    j = paula.get(f"/api/plan/jobs/{jid}").json()
    assert j["status"] == "interrupted" and j["variants"][0]["status"] == "queued"
    # viewers see only shared jobs; sharing is the owner's
    assert victor.get(f"/api/plan/jobs/{jid}").status_code == 404
    assert peter.post(f"/api/plan/jobs/{jid}/share", json={"shared": True}).status_code == 404
    assert paula.post(f"/api/plan/jobs/{jid}/share", json={"shared": True}).status_code == 200
    assert [x["id"] for x in victor.get("/api/plan/jobs").json()] == [jid]
    assert victor.post(f"/api/plan/jobs/{jid}/resume").status_code == 403


def test_compare_lists_differing_inputs_and_kpi_differences() -> None:
    a = {"ref": "1:x", "job": 1, "variant": "x", "title": "A", "kind": "quarter_study",
         "inputs": {"h:electrolyser.p_rated_kw": 14.1, "variant:pv_kwp": 50.0, "job:start": "2025-06-02"},
         "kpis": {"h2_produced_kg": 20.0, "lcoh_period_eur_per_kg": 10.0, "trailer_trips": 0}}
    b = {**a, "ref": "2:y", "job": 2, "variant": "y",
         "inputs": {**a["inputs"], "h:electrolyser.p_rated_kw": 9.6},
         "kpis": {"h2_produced_kg": 15.0, "lcoh_period_eur_per_kg": 12.5, "trailer_trips": 0}}
    c = RS.compare(a, b)
    assert c["inputs"] == [{"path": "h:electrolyser.p_rated_kw", "a": 14.1, "b": 9.6}]
    k = {x["key"]: x for x in c["kpis"]}
    assert k["h2_produced_kg"]["diff"] == -5.0 and k["h2_produced_kg"]["pct"] == -25.0
    assert k["lcoh_period_eur_per_kg"]["pct"] == 25.0
    assert k["trailer_trips"]["pct"] is None  # no % of zero


@pytest.fixture(scope="module")
def dask_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and ``dask worker`` as separate processes on loopback (free ports, stopped after)."""
    exe = str(Path(os.sys.executable).with_name("dask"))
    assert shutil.which(exe), "dask command line not installed"
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("dask")
    sched = subprocess.Popen([exe, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=open(log / "scheduler.log", "w"), stderr=subprocess.STDOUT)
    worker = subprocess.Popen([exe, "worker", addr, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                               "--no-dashboard", "--no-nanny"],
                              stdout=open(log / "worker.log", "w"), stderr=subprocess.STDOUT)
    try:
        from dask.distributed import Client

        with Client(addr, timeout="60s") as c:
            c.wait_for_workers(1, timeout=60)
        yield addr
    finally:
        for p in (worker, sched):
            p.terminate()
        for p in (worker, sched):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def test_job_cancel_resume_on_separate_dask_scheduler_and_worker(dask_cli: str, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/h2q.db")
    jm = JobManager(store, scheduler=dask_cli, nice=0)
    try:
        s = SC.get(store, "shipped:oskar-von-miller", None)
        scen = {k: s[k] for k in ("id", "name", "kind", "base", "files")}
        jid = jm.submit("paula", "simulate", "school, two days", scen, {"start": "2025-06-02", "end": "2025-06-04"},
                        [("base", {})])
        t0 = time.monotonic()
        while R.get(store, jid)["status"] != "running":
            assert time.monotonic() - t0 < 30
            time.sleep(0.1)
        jm.cancel(jid)
        assert R.get(store, jid)["status"] == "cancelled" and R.variants(store, jid)[0]["status"] == "queued"
        jm.resume(jid)
        job = jm.wait(jid, timeout_s=300)
        assert job["status"] == "done", job["message"]
        k = R.variants(store, jid)[0]["kpis"]
        assert k["worker_pid"] != os.getpid()  # computed by the separately started worker
        assert k["period_start"].startswith("2025-06-02") and k["h2_produced_kg"] >= 0.0
        assert jm.cluster_info()["scheduler"] == dask_cli
        rep = R.report(store, jid)
        assert "h2_produced_kg" in rep["en"] and "Kennzahlen" in rep["de"]
    finally:
        jm.close()
        store.close()
