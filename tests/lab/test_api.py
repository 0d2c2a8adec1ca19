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


def assert_pilot_untouched(rt: Runtime, writes: list[Any], hold_before: dict[str, Any], n_cmd_before: int) -> None:
    """The pilot's driver saw only the controller's own writes — its heartbeat, and after a reconnect on a busy
    machine its watchdog configuration, audited as user ``controller`` — and no command of anyone else; its PLC
    registers are unchanged."""
    log = rt.store.audit_log(limit=1000)
    new = log[: len(log) - n_cmd_before]  # newest first
    assert all(c.user_name == "controller" and c.kind == "config" for c in new), [(c.user_name, c.target) for c in new]
    assert writes and {w[0] for w in writes} <= {"heartbeat"} | {c.target for c in new}, writes
    assert {k: v for k, v in rt.plc.plant.hold.items() if k != "heartbeat"} == \
        {k: v for k, v in hold_before.items() if k != "heartbeat"}


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
    # Moodle's CSV grade import: pseudonym (ignored), an empty e-mail column the teacher fills in and maps
    # ("Identify user by"), one grade per exercise in percent of its points (a new grade item's maximum is 100)
    r = await c.get(f"/api/lab/lessons/{lid}/export.csv?kind=moodle", headers=teacher)
    assert r.content.startswith(b"\xef\xbb\xbf") and b"\r\n" in r.content
    head, *body = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    from h2quarters.training.catalog import get_exercise

    e10, e2 = get_exercise("E10"), get_exercise("E2")
    assert head == ["Pseudonym", "Email address", f"E10 {e10.title.de} (%)", f"E2 {e2.title.de} (%)"]
    e10_points = sum(q.points for q in e10.quantities)
    assert sorted(body) == [["Blue Fox", "", str(round(100 * 2.0 / e10_points, 1)), "0.0"],
                            ["Red Owl", "", "0.0", "0.0"]]
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

    assert_pilot_untouched(rt, writes, hold_before, n_cmd_before)


async def test_observe_lessons_read_the_pilot_and_refuse_every_write(lab) -> None:  # noqa: ANN001
    """Lessons that observe the pilot (live, and a recorded day of its own store) read what the HMI reads; every
    write-type action of a learner or the teacher is refused naming the action; the pilot's driver sees no write."""
    import pandas as pd

    c, rt, writes = lab
    app = c._transport.app  # type: ignore[attr-defined]
    teacher = auth(app.state.ctx.tokens.issue({"name": "teacher1", "role": "teacher"})[0])
    hold_before = dict(rt.plc.plant.hold)
    n_cmd_before = len(rt.store.audit_log(limit=1000))

    def new(**kw: Any) -> Any:
        return c.post("/api/lab/lessons", json={"class_name": "E2FS", "groups": ["A"], **kw}, headers=teacher)

    # declarations: only exercises that allow the mode; a recorded day needs a day with data; no start states
    r = await new(exercises=["E10"], observe="live")
    d = r.json()["detail"]
    assert r.status_code == 422 and d["code"] == "lab.observe_unsupported" and d["params"]["value"] == ["E10"]
    assert d["params"]["allowed"] == ["E2"]
    r = await new(exercises=["E4"], observe="live")
    assert r.status_code == 422 and r.json()["detail"]["params"]["value"] == ["E4"]
    r = await new(exercises=["E2"], observe="recorded")
    assert r.status_code == 422 and r.json()["detail"]["params"] == {"field": "day"}
    r = await new(exercises=["E2"], observe="recorded", day="2001-01-01")
    assert r.status_code == 422 and "no measurements on 2001-01-01" in r.json()["detail"]["message"]
    r = await new(exercises=["E2"], observe="live", start_state="tank_80")
    assert r.status_code == 422 and r.json()["detail"]["code"] == "lab.start_state"
    r = await new(exercises=["E2"], observe="pilot")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "observe"]

    # the live pilot, read-only
    r = await new(exercises=["E2", "E5"], observe="live", groups=["A", "B"])
    assert r.status_code == 201, r.text
    les = r.json()
    lid = les["lesson_id"]
    assert les["observe"] == "live"
    r = await c.post("/api/lab/join", json={"code": les["code"], "pseudonym": "Grey Seal"})
    me = {"X-Lab-Token": r.json()["token"]}
    c.cookies.clear()
    assert (await c.post(f"/api/lab/lessons/{lid}/start", headers=teacher)).status_code == 200
    app.state.lab.step()
    r = await c.post("/api/lab/me/measure", json={"exercise": "E2", "measurement": "start"}, headers=me)
    assert r.status_code == 201, r.text
    got = r.json()["values"]
    pilot = rt.hub.latest()[1]["signals"]  # what the HMI's /api/state shows (an idle pilot in MANUAL)
    assert got["el_stack_current_a"] == pytest.approx(pilot["el_stack_current_a"]["v"], abs=0.05)
    assert got["el_energy_kwh"] == pytest.approx(pilot["el_energy_kwh"]["v"], rel=1e-3, abs=1e-3)
    view = (await c.get("/api/lab/me", headers=me)).json()
    assert view["lesson"]["observe"] == "live" and "tank_pressure_bar" in view["plant"]["tiles"]
    assert "battery_soc_pct" not in view["plant"]["tiles"]  # the pilot has no battery: no tile
    # the texts as they read on the pilot: nothing to set, no setpoint controls
    e2 = next(e for e in view["exercises"] if e["id"] == "E2")
    assert e2["setpoints"] == [] and "Nothing is changed on the pilot" in e2["tasks"]["en"]
    assert e2["measurements"][0]["text"]["en"] == "Read while the pilot produces steadily"
    assert not any("Set the rate" in m["text"]["en"] for e in view["exercises"] for m in e["measurements"])
    r = await c.get(f"/api/lab/lessons/{lid}", headers=teacher)
    assert r.status_code == 200 and r.json()["observe"] == "live"
    assert r.json()["groups"][0]["plant"]["tiles"]["tank_pressure_bar"] == pytest.approx(
        pilot["tank_pressure_bar"]["v"], rel=0.01)
    r = await c.post("/api/lab/me/answer", json={"exercise": "E2", "quantity": "v_theo", "answer": "12 NL"},
                     headers=me)
    assert r.status_code == 200, r.text

    refused = [("setpoint", c.post("/api/lab/me/setpoint", json={"exercise": "E2", "signal": "el_production_rate_pct",
                                                                 "value": 80}, headers=me)),
               ("speed", c.put(f"/api/lab/lessons/{lid}/speed", json={"speed": 30}, headers=teacher)),
               ("snapshot", c.post(f"/api/lab/lessons/{lid}/snapshots", json={"label": "x"}, headers=teacher)),
               ("restore", c.post(f"/api/lab/lessons/{lid}/restore", json={"snapshot_id": 1}, headers=teacher)),
               ("fault", c.post(f"/api/lab/lessons/{lid}/faults", json={"kind": "h2_leak"}, headers=teacher)),
               ("clear_faults", c.delete(f"/api/lab/lessons/{lid}/faults", headers=teacher))]
    for action, call in refused:
        r = await call
        d = r.json()["detail"]
        assert r.status_code == 403 and d["code"] == "lab.read_only", (action, r.text)
        assert d["params"] == {"action": action, "observe": "live"} and d["message"].startswith(action + " refused")
    assert (await c.post(f"/api/lab/lessons/{lid}/close", headers=teacher)).status_code == 200
    assert (await c.get(f"/api/lab/lessons/{lid}", headers=teacher)).json()["observe"] == "live"

    # a recorded day of the pilot (today's, from the server's own store), played at the lesson's speed
    now = pd.Timestamp.now(tz="Europe/Berlin")
    day = now.date().isoformat()
    d0 = int(now.normalize().timestamp() * 1000)
    while len(rt.store.history(["tank_pressure_bar"], d0, d0 + 86_400_000, 5)["tank_pressure_bar"]["t_ms"]) < 3:
        await asyncio.sleep(0.5)  # a recording of at least 10 s (the pilot started with this test)
    r = await new(exercises=["E4", "E2"], observe="recorded", day=day, speed=60)
    assert r.status_code == 201, r.text
    les = r.json()
    r = await c.post("/api/lab/join", json={"code": les["code"], "pseudonym": "Pale Moth"})
    me = {"X-Lab-Token": r.json()["token"]}
    c.cookies.clear()
    assert (await c.post(f"/api/lab/lessons/{les['lesson_id']}/start", headers=teacher)).status_code == 200
    r = await c.post("/api/lab/me/measure", json={"exercise": "E4", "measurement": "start"}, headers=me)
    assert r.status_code == 201 and set(r.json()["values"]) == {"el_energy_kwh", "compressor_energy_kwh",
                                                                 "h2_to_tank_kg"}, r.text
    r = await c.post("/api/lab/me/setpoint", json={"exercise": "E4", "signal": "el_production_rate_pct", "value": 0},
                     headers=me)
    assert r.status_code == 403 and r.json()["detail"]["params"] == {"action": "setpoint", "observe": "recorded"}
    r = await c.post(f"/api/lab/lessons/{les['lesson_id']}/faults", json={"kind": "h2_leak"}, headers=teacher)
    assert r.status_code == 403 and "recorded day " + day in r.json()["detail"]["message"]

    assert_pilot_untouched(rt, writes, hold_before, n_cmd_before)
