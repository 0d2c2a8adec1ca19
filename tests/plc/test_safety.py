"""PLC safety functions: heartbeat watchdog, interlocks that trip and latch until reset."""

from __future__ import annotations

import asyncio
import time

import pytest

from h2quarters.models.electrolyser import ElectrolyserState
from h2quarters.plc.drivers import ModbusDriver
from h2quarters.plc.plant import (
    ESTOP,
    H2_PREALARM,
    H2_TRIP,
    STACK_T_HIGH,
    TANK_HIGH,
    TANK_LOW,
    WATCHDOG,
    PlantState,
)
from h2quarters.plc.registers import WriteRefused
from h2quarters.plc.virtual_plc import VirtualPlc


async def test_watchdog_falls_back_within_timeout(plc: VirtualPlc) -> None:
    drv = ModbusDriver("127.0.0.1", plc.modbus_port, plc.plant.rmap, timeout_s=1.0)
    timeout_ms = 400
    await drv.write("watchdog_timeout_ms", timeout_ms)
    for _ in range(4):
        await drv.heartbeat()
        await asyncio.sleep(0.1)
    await drv.write("el_production_rate_pct", 80)
    await drv.write("el_start", 1)
    await drv.write("fc_setpoint_kw", 1.0)
    await drv.write("fc_start", 1)
    t_last = time.monotonic()
    await drv.heartbeat()
    assert plc.plant.fallback_count == 0
    # controller "freezes": no more heartbeats; poll the plant until it falls back (bounded wait)
    while plc.plant.fallback_count == 0 and time.monotonic() - t_last < 5.0:
        await asyncio.sleep(0.01)
    elapsed_ms = (time.monotonic() - t_last) * 1000.0
    r = await drv.read_all()
    await drv.close()
    assert plc.plant.fallback_count == 1
    # never early; late by at most one PLC tick plus scheduling slack on a loaded 2-core machine
    assert timeout_ms <= elapsed_ms <= timeout_ms + plc.settings.tick_s * 1000.0 + 300.0
    assert r["watchdog_alarm"].value is True and r["fallback_count"].value == 1
    assert r["el_start"].value is False and r["fc_start"].value is False
    assert r["operating_mode"].value == 3  # safe
    assert r["trips_latched"].value & WATCHDOG
    assert r["el_errors"].valid and r["el_warnings"].value == [0x4902]


def _run(p: PlantState, n: int, dt_s: float = 60.0) -> None:
    for _ in range(n):
        p.step(dt_s)


def _start_all(p: PlantState) -> None:
    p.write("el_production_rate_pct", 100)
    p.write("el_start", True)
    p.write("fc_setpoint_kw", 1.0)
    p.write("fc_start", True)


def test_h2_leak_prealarm_then_trip_latches_until_reset(plant: PlantState) -> None:
    _start_all(plant)
    _run(plant, 12)
    assert plant.el.state == ElectrolyserState.PRODUCING
    plant.inject_fault("h2_leak", value=2.0)
    for _ in range(200):
        plant.step(10.0)
        if plant.trips & H2_TRIP:
            break
    assert plant.trips & H2_PREALARM and plant.trips & H2_TRIP
    assert plant.read("ventilation_pct") == 100.0
    assert plant.el.state == ElectrolyserState.OFF and plant.read("fc_power_kw") == 0.0
    assert plant.read("el_state") == 0 and plant.read("el_errors") == [0x4802]
    assert plant.read("el_health") == 1  # NE 107 FAILURE
    with pytest.raises(WriteRefused, match="h2_trip"):
        plant.write("el_start", True)
    plant.clear_fault()
    _run(plant, 60)  # the room is ventilated, gas gone
    assert plant.read("h2_detector_lel_pct") < 1.0
    assert plant.trips & H2_TRIP, "trip must stay latched after the cause cleared"
    plant.write("reset", True)
    assert plant.trips == 0 and plant.read("ventilation_pct") == plant.hold["ventilation_setpoint_pct"]
    plant.write("el_start", True)


def test_tank_pressure_high_stops_production_and_latches(plant: PlantState) -> None:
    plant.m_tank_kg = float(plant.tank.mass_from_pressure_kg(plant.p_high_bar - 0.05))
    plant.write("el_production_rate_pct", 100)
    plant.write("el_start", True)
    _run(plant, 40)
    assert plant.trips & TANK_HIGH
    assert plant.hold["el_start"] is False and plant.el.state != ElectrolyserState.PRODUCING
    assert plant.read("storage_health") == 1
    plant.m_tank_kg = float(plant.tank.mass_from_pressure_kg(200.0))
    _run(plant, 1)
    assert plant.trips & TANK_HIGH
    plant.write("reset", True)
    assert not plant.trips & TANK_HIGH


def test_tank_pressure_low_stops_fuel_cell(plant: PlantState) -> None:
    plant.m_tank_kg = float(plant.tank.mass_from_pressure_kg(plant.p_low_bar + 0.05))
    plant.write("fc_setpoint_kw", 2.0)
    plant.write("fc_start", True)
    _run(plant, 10)
    assert plant.trips & TANK_LOW
    assert plant.hold["fc_start"] is False and plant.read("fc_state") == 2
    with pytest.raises(WriteRefused, match="tank_pressure_low"):
        plant.write("fc_start", True)
    # reset while the pressure is still low does not clear it
    plant.write("reset", True)
    assert plant.trips & TANK_LOW


def test_stack_temperature_high_trips_after_cooling_failure(plant: PlantState) -> None:
    plant.write("el_production_rate_pct", 100)
    plant.write("el_start", True)
    _run(plant, 30)
    t_ok = plant.read("el_electrolyte_temperature_c")
    assert t_ok <= plant.scenario.electrolyser.t_op_c + 1e-6
    plant.inject_fault("cooling_failure")
    for _ in range(400):
        plant.step(60.0)
        if plant.trips & STACK_T_HIGH:
            break
    assert plant.trips & STACK_T_HIGH
    assert plant.read("el_electrolyte_temperature_c") >= plant.t_high_c
    assert plant.el.state == ElectrolyserState.OFF
    assert plant.read("el_errors") == [0x4804]


def test_emergency_stop_trips_everything_and_needs_release_and_reset(plant: PlantState) -> None:
    _start_all(plant)
    _run(plant, 12)
    plant.write("estop", True)
    assert plant.trips & ESTOP and plant.el.state == ElectrolyserState.OFF
    _run(plant, 2)
    assert plant.read("fc_power_kw") == 0.0 and plant.read("el_power_kw") == 0.0
    plant.write("reset", True)
    assert plant.trips & ESTOP, "reset must not clear while the e-stop is pressed"
    plant.write("estop", False)
    assert plant.trips & ESTOP, "releasing does not clear the latch"
    plant.write("reset", True)
    assert plant.trips == 0
