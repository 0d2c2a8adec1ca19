"""The lesson service on a real store (SQLite WAL and PostgreSQL): hidden fault found, restart loses nothing,
backtracks bounded, bad input refused with the field named."""

from __future__ import annotations

import time

import pytest

from h2quarters.lab import store as LS
from h2quarters.lab.service import FaultOrder, LabError, LessonService
from h2quarters.store import Store


def test_lesson_survives_restart(db_url: str) -> None:
    st = Store(db_url)
    svc = LessonService(st, tick=False)
    les = svc.create("tina", "E1FS", ["E10"], ["A"], speed=60, backtrack_every_s=0)
    lid = les["lesson_id"]
    svc.start(lid)
    a = svc.join(les["code"], "Blue Fox")
    b = svc.join(les["code"].lower(), "Red Owl")
    before = svc.measure(a, "E10", "before")
    time.sleep(0.3)
    svc.step()  # an automatic backtrack (every 0 s) before the fault
    svc.inject(lid, FaultOrder(choice="h2_leak", hidden=True))
    time.sleep(1.5)  # 90 s of plant time at 60×
    svc.step()  # what the background thread does twice a second
    after = svc.measure(a, "E10", "after")
    # the leak raises the gas detector, which the learner reads
    assert after["values"]["h2_detector_lel_pct"] > before["values"]["h2_detector_lel_pct"]
    assert svc.answer(a, "E10", "fault", "h2_leak")["ok"] is True
    assert svc.answer(b, "E10", "fault", "sensor_drift")["ok"] is False
    # the hidden fault is not in the learner's view, the teacher sees it
    assert svc.learner_view(a)["plant"]["visible_faults"] == []
    vb = svc.learner_view(b)
    assert "h2_leak" not in str(vb["plant"]) and "faults" not in vb["plant"] and "solutions" not in vb
    assert all(x["quantity_id"] == "fault" and x["answer"] == "sensor_drift" for x in vb["answers"])
    assert svc.teacher_view(lid)["groups"][0]["plant"]["faults"][0]["kind"] == "h2_leak"
    t_plant = svc.lessons[lid].groups[a["group_id"]].plant.t_s
    st.close()  # a crash: no shutdown backtrack, the last one is from before the fault

    st2 = Store(db_url)  # a new process on the same database
    svc2 = LessonService(st2, tick=False)
    g = svc2.lessons[lid].groups[a["group_id"]]
    assert g.plant.t_s <= t_plant  # resumed from the last backtrack
    assert g.plant.state.faults.leak_kg_per_h() == pytest.approx(0.15)  # the fault after it was applied again
    s = g.sessions[(a["learner_id"], "E10")]
    assert [x.earned for x in s.scores()] == [2.0, 0.0]
    # the second try of learner b counts as the second (the replayed history is complete)
    assert svc2.answer(b, "E10", "fault", "h2_leak")["try_no"] == 2
    st2.close()


def test_bad_input_and_backtracks(tmp_path) -> None:  # noqa: ANN001
    st = Store(f"sqlite:///{tmp_path}/lab.db")
    svc = LessonService(st, tick=False)
    with pytest.raises(LabError, match="speed = 61"):
        svc.create("tina", "K", ["E2"], ["A"], speed=61)
    with pytest.raises(LabError, match="exercises"):
        svc.create("tina", "K", ["E99"], ["A"])
    les = svc.create("tina", "K", ["E2"], ["A"], speed=60, backtrack_every_s=0)
    lid = les["lesson_id"]
    with pytest.raises(LabError) as e:
        svc.join("ZZZZZZ", "Blue Fox")
    assert e.value.code == "lab.code_unknown" and e.value.status == 404
    a = svc.join(les["code"], "Blue Fox")
    with pytest.raises(LabError, match="not started"):
        svc.measure(a, "E2", "start")
    with pytest.raises(LabError, match="taken"):
        svc.join(les["code"], "blue  fox".title())
    with pytest.raises(LabError, match="pseudonym"):
        svc.join(les["code"], "anna@example.org")
    svc.start(lid)
    svc.measure(a, "E2", "start")
    with pytest.raises(LabError) as e:
        svc.answer(a, "E2", "v_theo", "95.3")
    assert e.value.code == "lab.unit_missing" and e.value.params["field"] == "unit"
    with pytest.raises(LabError) as e:
        svc.setpoint(a, "E2", "estop", True)
    assert e.value.status == 403 and e.value.params["allowed"] == ["el_production_rate_pct"]
    with pytest.raises(LabError) as e:
        svc.setpoint(a, "E2", "el_production_rate_pct", 150)
    assert e.value.code == "lab.setpoint_refused" and "150" in e.value.message
    for _ in range(23):
        svc.lessons[lid].t_wall -= 1.0
        svc.step()
    snaps = LS.snapshots(st, lid)
    assert sum(1 for x in snaps if x["kind"] == "auto") == LS.KEEP_AUTO
    assert any(x["label"] == "start" for x in snaps)
    svc.close(lid)
    with pytest.raises(LabError) as e:
        svc.join(les["code"], "Green Cat")
    assert e.value.code == "lab.closed"
    st.close()
