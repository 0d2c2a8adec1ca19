"""Persistent plant state: the tank, meters, degradation, latches and faults survive a PLC restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from h2quarters.plc import persistence
from h2quarters.plc.plant import ESTOP, PlantState
from h2quarters.plc.virtual_plc import VirtualPlc

from .conftest import dev_settings


def _run_plant(plant: PlantState, minutes: int) -> None:
    for k in range(minutes):
        plant.write("heartbeat", k % 1000 + 1)
        plant.step(60.0)


def test_snapshot_roundtrip_keeps_physics_and_balances(tmp_path: Path, scenario, profile) -> None:
    p = PlantState(scenario, dev_settings(), profile=profile)
    p.write("el_production_rate_pct", 100)
    p.write("el_start", True)
    _run_plant(p, 90)
    p.inject_fault("sensor_drift", "tank_pressure_bar", 2.0, hidden=True)
    p.inject_fault("h2_leak", value=0.01)
    _run_plant(p, 10)
    p.write("estop", True)
    p.write("estop", False)
    assert p.acc["h2_prod_kg"] > 0.05 and p.trips & ESTOP
    path = tmp_path / "state" / "plant.json"
    persistence.save(p, path)
    assert [f.name for f in path.parent.iterdir()] == ["plant.json"]  # no temporary file left

    q = PlantState(scenario, dev_settings(), profile=profile)
    assert q.m_tank_kg == q.tank.m_init_kg != p.m_tank_kg  # a fresh plant starts from the scenario
    assert persistence.load(q, path)
    assert q.m_tank_kg == p.m_tank_kg and q.acc == p.acc and q.c_h2_vol == p.c_h2_vol
    assert (q.el.t_c, q.el.op_hours_h, q.el.n_starts) == (p.el.t_c, p.el.op_hours_h, p.el.n_starts)
    assert q.el.op_hours_h > 1.0 and q.trips & ESTOP and q.fallback_count == p.fallback_count
    assert [(f.kind, f.target, f.value, f.hidden) for f in q.faults.active()] == \
        [(f.kind, f.target, f.value, f.hidden) for f in p.faults.active()]
    # the drift continues from where it was (its start lies before the restart)
    assert q.read("tank_pressure_bar") - q.meas["tank_pressure_bar"] == pytest.approx(
        p.read("tank_pressure_bar") - p.meas["tank_pressure_bar"])
    # commands do not survive a reboot: the electrolyser is stopped
    assert q.hold["el_start"] is False and p.hold["el_start"] is False  # (e-stop stopped p as well)
    # the meters keep closing the balances across the restart
    q.clear_fault()
    q.write("reset", True)
    assert q.trips == 0, q.trips
    q.write("el_production_rate_pct", 100)
    q.write("el_start", True)
    _run_plant(q, 30)
    b = q.balances()
    assert abs(b["h2_residual_kg"]) < 1e-9 and abs(b["energy_residual_kwh"]) < 1e-6
    assert q.acc["h2_prod_kg"] > p.acc["h2_prod_kg"]


def test_bad_snapshot_is_refused_with_file_name_and_plant_unchanged(tmp_path: Path, scenario, profile) -> None:
    p = PlantState(scenario, dev_settings(), profile=profile)
    path = tmp_path / "plant.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"plant.json cannot be restored .*--fresh"):
        persistence.load(p, path)
    good = persistence.snapshot(p)
    for bad, msg in (({**good, "scenario": "elsewhere"}, "scenario 'elsewhere'"),
                     ({**good, "m_tank_kg": 1e6}, "m_tank_kg = 1000000.0 outside"),
                     ({**good, "format": 99}, "format 99 unknown")):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=msg):
            persistence.load(p, path)
    assert p.m_tank_kg == p.tank.m_init_kg
    assert not persistence.load(p, tmp_path / "missing.json")


async def test_virtual_plc_saves_periodically_and_restores_unless_fresh(tmp_path: Path, scenario, profile) -> None:
    path = tmp_path / "plc-state.json"
    settings = dev_settings(speed=600.0, state_path=path, state_every_s=0.2)
    plc = VirtualPlc(scenario, settings, profile=profile)
    assert not plc.restored
    await plc.start(opcua=False)
    try:
        plc.plant.write("el_production_rate_pct", 100)
        plc.plant.write("el_start", True)
        plc.plant.inject_fault("h2_leak", value=0.5)
        import asyncio

        await asyncio.sleep(1.5)
        assert path.exists()  # written by the loop while running (not only at stop)
        saved_while_running = json.loads(path.read_text())["m_tank_kg"]
    finally:
        await plc.stop()
    m_at_stop = plc.plant.m_tank_kg
    assert json.loads(path.read_text())["m_tank_kg"] == m_at_stop
    assert saved_while_running < plc.plant.tank.m_init_kg  # the leak had already shown in a periodic save
    again = VirtualPlc(scenario, settings, profile=profile)
    assert again.restored and again.plant.m_tank_kg == m_at_stop
    assert [f.kind for f in again.plant.faults.active()] == ["h2_leak"]
    fresh = VirtualPlc(scenario, settings, profile=profile, fresh=True)
    assert not fresh.restored and fresh.plant.m_tank_kg == fresh.plant.tank.m_init_kg
    assert fresh.plant.faults.active() == []
