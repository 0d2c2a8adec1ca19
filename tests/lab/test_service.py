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


def test_recorded_day_lesson_reads_the_recording_resumes_and_stays_read_only(db_url: str) -> None:
    """A lesson on a stored day of the pilot: the readings are the stored values, E4's SEC follows from them, a
    restart resumes at the cursor, every write stays refused, and a site without battery shows no battery tile
    even though the recording has that column."""
    import pandas as pd

    from h2quarters.config.scenario import Battery
    from h2quarters.lab.service import has_equipment, plant_scenario
    from h2quarters.training.plant import _scenario

    st = Store(db_url)
    sig = ["el_energy_kwh", "compressor_energy_kwh", "h2_to_tank_kg", "tank_pressure_bar", "battery_soc_pct"]
    ids = st.ensure_signals([(s, "") for s in sig])
    t0 = int(pd.Timestamp("2026-06-21 08:00", tz="Europe/Berlin").timestamp() * 1000)
    # 3 h of counters rising linearly: 6 kWh/h electrolyser, 0.6 kWh/h compressor, 0.12 kg/h H2 → SEC 50 kWh/kg
    st.write_measurements([(t0 + i * 60_000, [(ids["el_energy_kwh"], 100 + 0.1 * i, 0),
                                               (ids["compressor_energy_kwh"], 10 + 0.01 * i, 0),
                                               (ids["h2_to_tank_kg"], 2 + 0.002 * i, 0),
                                               (ids["tank_pressure_bar"], 150.0, 0),
                                               (ids["battery_soc_pct"], 55.0, 0)]) for i in range(181)])
    svc = LessonService(st, tick=False)
    with pytest.raises(LabError) as exc:
        svc.create("tina", "E4FS", ["E4"], ["A"], observe="live")
    assert exc.value.code == "lab.observe_unsupported"
    les = svc.create("tina", "E4FS", ["E4"], ["A"], speed=60, observe="recorded", day="2026-06-21")
    lid = les["lesson_id"]
    svc.start(lid)
    a = svc.join(les["code"], "Blue Fox")
    m1 = svc.measure(a, "E4", "start")
    assert m1["values"]["el_energy_kwh"] == pytest.approx(100.0, abs=0.05) and m1["time"].startswith("2026-06-21T08:00")
    time.sleep(1.0)
    svc.step()  # ≥ 60 s of the recording at 60×
    m2 = svc.measure(a, "E4", "end_production")
    assert m2["t_s"] >= 60 and m2["values"]["h2_to_tank_kg"] > m1["values"]["h2_to_tank_kg"]
    assert svc.answer(a, "E4", "sec_production", "50 kWh/kg")["ok"] is True
    g = svc.lessons[lid].groups[a["group_id"]]
    assert "battery_soc_pct" in g.plant.signals() and "battery_soc_pct" not in svc.learner_view(a)["plant"]["tiles"]
    assert not has_equipment(plant_scenario(g.plant), "battery_soc_pct")
    with_battery = _scenario("oskar-von-miller").model_copy(
        update={"battery": Battery(e_kwh=10, p_charge_kw=5, p_discharge_kw=5)})
    assert has_equipment(with_battery, "battery_soc_pct")
    svc.stop()  # a graceful restart books the cursor
    cursor = g.plant.t_s

    svc2 = LessonService(st, tick=False)  # a restart
    les2 = svc2.lessons[lid]
    assert les2.observe == "recorded" and les2.groups[a["group_id"]].plant.t_s >= m2["t_s"]
    assert les2.groups[a["group_id"]].plant.t_s == pytest.approx(cursor)
    for act, call in (("fault", lambda: svc2.inject(lid, FaultOrder(kind="h2_leak"))),
                      ("snapshot", lambda: svc2.snapshot(lid)), ("speed", lambda: svc2.set_speed(lid, 30)),
                      ("setpoint", lambda: svc2.setpoint(a, "E4", "el_production_rate_pct", 50))):
        with pytest.raises(LabError) as exc:
            call()
        assert exc.value.status == 403 and exc.value.params == {"action": act, "observe": "recorded"}
    assert LS.snapshots(st, lid) == []  # nothing of the pilot is pickled
    assert svc2.answer(a, "E4", "sec_day", "49 kWh/kg")["tries_left"] == 2  # the learner's session came back
    svc2.stop()
    st.close()
