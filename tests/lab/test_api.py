"""The classroom through the HTTP API next to a running pilot (virtual PLC over Modbus + controller): learners
see only their own group and never the hidden fault, bad input is named, and no lesson action reaches the
pilot's driver or PLC."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from h2quarters.api.app import create_app
from h2quarters.control.runtime import Runtime
from tests.api.conftest import auth, live, pw_hash, scenario, settings_for  # noqa: F401 - fixtures


@pytest.fixture
def db_url(tmp_path) -> str:  # noqa: ANN001 - SQLite here; the service's durability runs on both in test_service
    return f"sqlite:///{tmp_path}/h2q.db"


@pytest.fixture
async def lab(live: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, list[Any]]]:  # noqa: F811
    app = create_app(live.store, live.hub, live.rmap, live.settings, controller=live.controller,
                     scenario=live.scenario)
    writes: list[Any] = []
    drv = live.controller.driver
    real_write = drv.write

    async def spy(name: str, value: Any) -> None:  # the real driver, with its write path recorded
        writes.append((name, value))
        await real_write(name, value)

    drv.write = spy  # type: ignore[method-assign]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c, live, writes
    svc = getattr(app.state, "lab", None)
    if svc is not None:
        svc.stop()


async def test_lesson_through_api_never_touches_the_pilot(lab) -> None:  # noqa: ANN001
    c, rt, writes = lab
    svc_tokens = c._transport.app.state.ctx.tokens  # type: ignore[attr-defined]
    teacher = auth(svc_tokens.issue({"name": "teacher1", "role": "teacher"})[0])
    student = auth(svc_tokens.issue({"name": "student1", "role": "student"})[0])
    hold_before = dict(rt.plc.plant.hold)
    n_cmd_before = len(rt.store.audit_log(limit=1000))

    r = await c.post("/api/lab/lessons", json={"class_name": "E1FS", "exercises": ["E10"], "groups": ["A"]},
                     headers=student)
    assert r.status_code == 403  # a student account cannot run lessons
    r = await c.post("/api/lab/lessons", json={"class_name": "E1FS", "organisation": "OvM", "exercises": ["E10", "E2"],
                                               "groups": ["A", "B"], "speed": 60}, headers=teacher)
    assert r.status_code == 201, r.text
    les = r.json()
    lid, code = les["lesson_id"], les["code"]
    ga, gb = (g["group_id"] for g in les["groups"])

    # bad input: wrong code, oversize pseudonym, e-mail as pseudonym
    r = await c.post("/api/lab/join", json={"code": "WRONG1", "pseudonym": "Blue Fox"})
    assert r.status_code == 404 and r.json()["detail"]["code"] == "lab.code_unknown"
    r = await c.post("/api/lab/join", json={"code": code, "pseudonym": "x" * 41})
    assert r.status_code == 422 and "pseudonym" in r.text
    r = await c.post("/api/lab/join", json={"code": code, "pseudonym": "anna@example.org"})
    assert r.status_code == 422 and r.json()["detail"]["params"]["field"] == "pseudonym"

    tok = {}
    for name, g in (("Blue Fox", ga), ("Red Owl", gb)):
        r = await c.post("/api/lab/join", json={"code": code, "pseudonym": name, "group_id": g})
        assert r.status_code == 201, r.text
        tok[name] = {"X-Lab-Token": r.json()["token"]}
    c.cookies.clear()
    # a learner token is no user session: teacher routes refuse it
    r = await c.get(f"/api/lab/lessons/{lid}", headers=tok["Blue Fox"])
    assert r.status_code == 401
    r = await c.post("/api/lab/me/measure", json={"exercise": "E10", "measurement": "before"}, headers=tok["Blue Fox"])
    assert r.status_code == 409 and r.json()["detail"]["code"] == "lab.not_started"

    for action in ("start", "freeze", "resume"):
        r = await c.post(f"/api/lab/lessons/{lid}/{action}", headers=teacher)
        assert r.status_code == 200, r.text
    r = await c.put(f"/api/lab/lessons/{lid}/speed", json={"speed": 120}, headers=teacher)
    assert r.status_code == 422
    r = await c.put(f"/api/lab/lessons/{lid}/speed", json={"speed": 30}, headers=teacher)
    assert r.json()["speed"] == 30

    r = await c.post("/api/lab/me/measure", json={"exercise": "E10", "measurement": "before"}, headers=tok["Blue Fox"])
    assert r.status_code == 201, r.text
    r = await c.post(f"/api/lab/lessons/{lid}/faults", json={"choice": "h2_leak", "hidden": True, "groups": [ga]},
                     headers=teacher)
    assert r.status_code == 201, r.text
    r = await c.post(f"/api/lab/lessons/{lid}/faults", json={"kind": "sensor_drift", "target": "tank_pressure_bar",
                                                             "value": 5, "when": "ramp", "ramp_s": 600,
                                                             "hidden": False, "groups": [gb]}, headers=teacher)
    assert r.status_code == 201, r.text
    r = await c.post(f"/api/lab/lessons/{lid}/faults", json={"kind": "no_such_fault"}, headers=teacher)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "kind"]
    r = await c.post(f"/api/lab/lessons/{lid}/faults", json={"choice": "no_such_fault"}, headers=teacher)
    assert r.status_code == 422 and r.json()["detail"]["params"] == {
        "field": "choice", "value": "no_such_fault", "allowed": ["cooling_failure", "gas_crossover", "h2_leak",
                                                                 "inverter_trip", "membrane_ageing", "sensor_drift",
                                                                 "sensor_stuck"]}

    # learners: answers need units, oversize text refused, setpoints only the exercise's
    r = await c.post("/api/lab/me/answer", json={"exercise": "E2", "quantity": "v_theo", "answer": "95.3"},
                     headers=tok["Red Owl"])
    assert r.status_code == 422 and r.json()["detail"]["code"] == "lab.unit_missing"
    r = await c.post("/api/lab/me/answer", json={"exercise": "E10", "quantity": "fault", "answer": "x" * 201},
                     headers=tok["Red Owl"])
    assert r.status_code == 422
    r = await c.post("/api/lab/me/setpoint", json={"exercise": "E2", "signal": "estop", "value": 1},
                     headers=tok["Red Owl"])
    assert r.status_code == 403 and r.json()["detail"]["params"]["allowed"] == ["el_production_rate_pct"]
    r = await c.post("/api/lab/me/setpoint", json={"exercise": "E2", "signal": "el_production_rate_pct",
                                                   "value": 70}, headers=tok["Red Owl"])
    assert r.status_code == 200, r.text
    r = await c.post("/api/lab/me/answer", json={"exercise": "E10", "quantity": "fault", "answer": "sensor_stuck"},
                     headers=tok["Red Owl"])
    assert r.status_code == 200 and r.json()["ok"] is False
    r = await c.post("/api/lab/me/measure", json={"exercise": "E10", "measurement": "after"}, headers=tok["Blue Fox"])
    assert r.status_code == 201
    r = await c.post("/api/lab/me/answer", json={"exercise": "E10", "quantity": "fault", "answer": "h2_leak"},
                     headers=tok["Blue Fox"])
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["earned"] == 2.0

    # isolation: Red Owl sees own group B, own answers, the visible ramp fault, never A's hidden leak
    r = await c.get("/api/lab/me", headers=tok["Red Owl"])
    me = r.json()
    assert me["learner"]["group_id"] == gb and me["group"] == "B"
    assert {a["answer"] for a in me["answers"]} == {"sensor_stuck"}
    assert "h2_leak" not in str(me["plant"]) and "faults" not in me["plant"] and "solutions" not in me
    assert [f["kind"] for f in me["plant"]["visible_faults"]] == ["sensor_drift"]
    r = await c.get("/api/lab/me", headers=tok["Blue Fox"])
    assert r.json()["plant"]["visible_faults"] == [] and "Red Owl" not in r.text
    assert {a["answer"] for a in r.json()["answers"]} == {"h2_leak"}
    # the teacher sees the true faults
    r = await c.get(f"/api/lab/lessons/{lid}", headers=teacher)
    kinds = {g["name"]: [f["kind"] for f in g["plant"]["faults"]] for g in r.json()["groups"]}
    assert kinds == {"A": ["h2_leak"], "B": ["sensor_drift"]}

    # results: heat map and CSV show Blue Fox's found fault
    r = await c.get(f"/api/lab/lessons/{lid}/results", headers=teacher)
    res = r.json()
    col = [t["id"] for t in res["tasks"]].index("E10.fault")
    cells = {x["pseudonym"]: x["cells"][col] for x in res["learners"]}
    assert cells == {"Blue Fox": 1.0, "Red Owl": 0.0}
    assert res["mistakes"][0]["quantity_id"] == "fault"
    r = await c.get(f"/api/lab/lessons/{lid}/export.csv", headers=teacher)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {x["pseudonym"]: x["E10.fault"] for x in rows} == {"Blue Fox": "1.0", "Red Owl": "0.0"}
    r = await c.get(f"/api/lab/lessons/{lid}/export.csv?kind=moodle", headers=teacher)
    head = r.content.decode("utf-8-sig").splitlines()[0]
    assert head.startswith("ID number,E10 ")
    r = await c.get(f"/api/lab/lessons/{lid}/instruction.pdf?lang=en", headers=teacher)
    assert r.content.startswith(b"%PDF")

    # close: counted once into the city's KPIs, readable through the API
    r = await c.post(f"/api/lab/lessons/{lid}/close", headers=teacher)
    assert r.status_code == 200
    r = await c.post("/api/lab/join", json={"code": code, "pseudonym": "Late Cat"})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "lab.closed"
    r = await c.get("/api/lab/counts", headers=student)
    (year,) = r.json()["school_years"].values()
    assert year["lessons"] == 1 and year["learners"] == 2 and year["exercises_run"] == 2
    r = await c.get("/api/kpi/values?kpi=learners_reached", headers=teacher)
    assert [(v["value"], v["source"]) for v in r.json()] == [(3.0, "counted")]  # 2 learners + 1 teacher

    # a lesson past its validity (here 2 s) refuses its learners' actions and new joins, naming the reason
    r = await c.post("/api/lab/lessons", json={"class_name": "E1FS", "exercises": ["E10"], "groups": ["C"],
                                               "valid_h": 2 / 3600}, headers=teacher)
    assert r.status_code == 201, r.text
    short = r.json()
    r = await c.post("/api/lab/join", json={"code": short["code"], "pseudonym": "Quick Cat"})
    assert r.status_code == 201, r.text
    quick = {"X-Lab-Token": r.json()["token"]}
    assert (await c.post(f"/api/lab/lessons/{short['lesson_id']}/start", headers=teacher)).status_code == 200
    await asyncio.sleep(2.2)
    r = await c.post("/api/lab/me/measure", json={"exercise": "E10", "measurement": "before"}, headers=quick)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "lab.expired", r.text
    r = await c.post("/api/lab/join", json={"code": short["code"], "pseudonym": "Late Owl"})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "lab.expired", r.text
    assert "expired" in r.json()["detail"]["message"]

    # the pilot: its driver never saw a write, its PLC registers and the command audit are unchanged
    # (the controller's own heartbeat to the PLC goes on: it is the only write the driver saw)
    assert writes and {w[0] for w in writes} == {"heartbeat"}
    assert {k: v for k, v in rt.plc.plant.hold.items() if k != "heartbeat"} == \
        {k: v for k, v in hold_before.items() if k != "heartbeat"}
    assert len(rt.store.audit_log(limit=1000)) == n_cmd_before
