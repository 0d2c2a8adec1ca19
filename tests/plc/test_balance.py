"""Energy and hydrogen balances of the virtual PLC's plant, internally and as published on the register map."""

from __future__ import annotations

import pytest

from h2quarters.models.constants import RHO_H2_NORMAL_KG_PER_M3
from h2quarters.plc.drivers import ModbusDriver
from h2quarters.plc.plant import PlantState
from h2quarters.plc.virtual_plc import VirtualPlc

from .conftest import dev_settings


def test_one_day_at_large_steps_closes_energy_and_h2(plant: PlantState) -> None:
    plant.write("fc_setpoint_kw", 1.5)
    for k in range(240):  # 24 h in 6-min steps, a controller-like rule: electrolyse on PV surplus
        surplus = plant.read("pv_power_kw") - plant.read("load_power_kw")
        rate = min(max(surplus / plant.el.model.p_rated_kw * 100.0, 0.0), 100.0)
        plant.write("el_production_rate_pct", rate)
        if not plant.hold["el_start"]:
            plant.write("el_start", True)
        plant.write("fc_start", surplus < 0 and k % 2 == 0)
        plant.step(360.0)
    b = plant.balances()
    assert b["h2_prod_kg"] > 0.3 and b["fc_kwh"] > 1.0 and b["pv_kwh"] > 50.0
    assert abs(b["energy_residual_kwh"]) < 1e-9 * b["pv_kwh"]
    assert abs(b["h2_residual_kg"]) < 1e-12 + 1e-9 * b["h2_prod_kg"]
    # published values: tank pressure is the real-gas pressure of the tank mass, H2 total in normal litres
    assert plant.read("tank_pressure_bar") == pytest.approx(float(plant.tank.pressure_from_mass_bar(plant.m_tank_kg)))
    assert plant.read("el_h2_total_nl") == pytest.approx(b["h2_prod_kg"] / RHO_H2_NORMAL_KG_PER_M3 * 1000.0)
    assert plant.trips == 0


def test_balances_close_with_gas_crossover_and_inverter_trip(plant: PlantState) -> None:
    """The crossed-over H2 leaves with the oxygen (not via the counter or the tank) and a tripped inverter delivers
    nothing: both balances still close on the metered quantities, and the losses are accounted beside them."""
    plant.write("el_production_rate_pct", 80)
    plant.write("el_start", True)
    for k in range(120):  # 12 h in 6-min steps; faults from 2 h on, the inverter back after 6 h
        if k == 20:
            h2_before = plant.acc["h2_prod_kg"]
            plant.inject_fault("gas_crossover", value=15.0, hidden=True)
            trip = plant.inject_fault("inverter_trip", value=100.0, hidden=True)
        if k == 60:
            plant.clear_fault(trip["id"])
        plant.step(360.0)
    b = plant.balances()
    assert b["h2_crossover_kg"] > 0.01 and b["pv_tripped_kwh"] > 5.0 and b["pv_kwh"] > 5.0
    assert abs(b["energy_residual_kwh"]) < 1e-9 * (b["pv_kwh"] + b["import_kwh"])
    assert abs(b["h2_residual_kg"]) < 1e-12 + 1e-9 * b["h2_prod_kg"]
    # the gas counter and the tank see only the delivered H2: crossover is 15 % of what the stack made since then
    made = b["h2_crossover_kg"] + b["h2_prod_kg"] - h2_before
    assert b["h2_crossover_kg"] == pytest.approx(0.15 * made, rel=1e-9)
    assert plant.read("el_h2_total_nl") == pytest.approx(b["h2_prod_kg"] / RHO_H2_NORMAL_KG_PER_M3 * 1000.0)


async def test_meters_read_over_modbus_close_the_balance(scenario, profile) -> None:
    plc = VirtualPlc(scenario, dev_settings(speed=900.0), profile=profile)
    await plc.start(opcua=False)
    plant = plc.plant
    m0 = plant.tank.m_init_kg
    drv = ModbusDriver("127.0.0.1", plc.modbus_port, plant.rmap)
    try:
        await drv.write("el_production_rate_pct", 90)
        await drv.write("el_start", 1)
        await drv.write("fc_setpoint_kw", 1.0)
        await drv.write("fc_start", 1)
        while plant.t_s < 3600.0:  # one plant hour at speed 900
            r = await drv.read_all()
            assert all(x.valid for x in r.values())
            await drv.heartbeat()
        r = {k: v.value for k, v in (await drv.read_all()).items()}
    finally:
        await drv.close()
        await plc.stop()
    e_net = r["grid_import_kwh"] - r["grid_export_kwh"]
    e_use = r["load_energy_kwh"] + r["el_energy_kwh"] + r["compressor_energy_kwh"] - r["pv_energy_kwh"] \
        - r["fc_energy_kwh"]
    assert r["el_energy_kwh"] > 0.3 and r["fc_energy_kwh"] > 0.1
    assert e_net == pytest.approx(e_use, abs=1e-5 * (r["pv_energy_kwh"] + r["load_energy_kwh"] + 1))
    assert r["tank_mass_kg"] - m0 == pytest.approx(r["h2_to_tank_kg"] - r["h2_from_tank_kg"], abs=1e-5)
