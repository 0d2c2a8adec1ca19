"""Fault injection as seen through the drivers; driver reconnect, quality and write checks."""

from __future__ import annotations

import asyncio
import math

import pytest

from h2quarters.plc.drivers import (
    DriverError,
    ModbusDriver,
    OpcUaDriver,
    PlantDriver,
    Quality,
    make_driver,
)
from h2quarters.plc.plant import PlantState
from h2quarters.plc.registers import WriteRefused
from h2quarters.plc.virtual_plc import VirtualPlc

from .conftest import dev_settings


def _drivers(plc: VirtualPlc) -> list[PlantDriver]:
    rmap = plc.plant.rmap
    return [ModbusDriver("127.0.0.1", plc.modbus_port, rmap, timeout_s=0.5, backoff_min_s=0.1, backoff_max_s=0.4),
            OpcUaDriver(plc.opcua_endpoint, rmap, secure=False, timeout_s=1.0, backoff_min_s=0.1,
                        backoff_max_s=0.4)]


async def test_sensor_faults_show_in_readings_of_both_drivers(plc: VirtualPlc) -> None:
    plant = plc.plant
    drivers = _drivers(plc)
    try:
        p_true = plant.meas["tank_pressure_bar"]
        stuck = plant.inject_fault("sensor_stuck", "tank_pressure_bar", value=123.0)
        oor = plant.inject_fault("sensor_out_of_range", "h2_detector_lel_pct")
        drift = plant.inject_fault("sensor_drift", "el_electrolyte_temperature_c", value=3600.0, hidden=True)
        t0_s = plant.t_s
        while plant.t_s < t0_s + 5.0:  # let some plant time pass so that the drift is non-zero
            await asyncio.sleep(0.05)
        for drv in drivers:
            r = await drv.read_all()
            assert r["tank_pressure_bar"].valid and r["tank_pressure_bar"].value == pytest.approx(123.0)
            assert r["h2_detector_lel_pct"].quality == Quality.BAD_RANGE and r["h2_detector_lel_pct"].value is None
            # drift: 3600 °C/h of plant time → reading exceeds the truth by (t - t0) s worth of drift
            t_err = r["el_electrolyte_temperature_c"].value - plant.el.t_c if r["el_electrolyte_temperature_c"].valid \
                else math.inf
            assert t_err > 0.0
            # hidden fault not counted; the two visible ones are, and storage health goes OFF_SPEC
            assert r["faults_visible"].value == 2
            assert r["storage_health"].value == 3
        assert p_true != 123.0
        # the out-of-range gas reading is fail-safe in the PLC: pre-alarm and trip latched
        assert plant.trips & 2
        plant.clear_fault(stuck["id"])
        plant.clear_fault(oor["id"])
        plant.clear_fault(drift["id"])
        for drv in drivers:
            r = await drv.read_all()
            assert r["tank_pressure_bar"].value == pytest.approx(plant.meas["tank_pressure_bar"], rel=1e-6)
            assert r["faults_visible"].value == 0
    finally:
        for drv in drivers:
            await drv.close()


async def test_noise_is_zero_mean_with_the_given_sigma(plant) -> None:
    plant.inject_fault("sensor_noise", "pv_power_kw", value=0.5)
    truth = plant.meas["pv_power_kw"]
    xs = [plant.read("pv_power_kw") - truth for _ in range(4000)]
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    assert abs(mean) < 0.05 and 0.45 < sd < 0.55


async def test_comm_loss_invalidates_values_and_stops_heartbeats(plc: VirtualPlc) -> None:
    mb, ua_drv = _drivers(plc)
    try:
        await mb.write("watchdog_timeout_ms", 300)
        await mb.heartbeat()
        f = plc.plant.inject_fault("comm_loss", "all")
        r_mb, r_ua = await mb.read_all(), await ua_drv.read_all()
        assert all(x.quality == Quality.BAD_COMM and x.value is None for x in r_mb.values())
        assert all(x.quality == Quality.BAD_COMM and x.value is None for x in r_ua.values())
        with pytest.raises(DriverError, match="exception 11"):
            await mb.heartbeat()
        await asyncio.sleep(0.6)
        assert plc.plant.fallback_count == 1  # heartbeats no longer arrive → PLC falls back by itself
        plc.plant.clear_fault(f["id"])
        r = await mb.read_all()
        assert r["fallback_count"].value == 1 and r["watchdog_alarm"].value is True
    finally:
        await mb.close()
        await ua_drv.close()


async def test_stack_degradation_raises_cell_voltage(plant) -> None:
    plant.write("el_production_rate_pct", 100)
    plant.write("el_start", True)
    for _ in range(20):
        plant.step(60.0)
    u0, m0 = plant.read("el_cell_voltage_v"), plant._last["m_h2_kg"]
    plant.inject_fault("stack_degradation", value=100.0)
    plant.step(60.0)
    assert plant.read("el_cell_voltage_v") - u0 > 0.05
    assert plant._last["m_h2_kg"] < m0  # same power, more volts → less current → less hydrogen
    assert plant.read("el_health") == 4  # MAINTENANCE_REQUIRED


def _twins(scenario, profile) -> tuple[PlantState, PlantState]:
    """Two identical producing plants (same profile, same setpoints): one gets the fault, one is the reference."""
    out = []
    for _ in range(2):
        p = PlantState(scenario, dev_settings(), profile=profile)
        p.write("el_production_rate_pct", 100)
        p.write("el_start", True)
        for _ in range(20):
            p.step(60.0)
        out.append(p)
    return out[0], out[1]


async def test_gas_crossover_lowers_faraday_efficiency_at_same_current(scenario, profile) -> None:
    bad, ref = _twins(scenario, profile)
    h0, c0 = bad.acc["h2_prod_kg"], bad.acc["h2_crossover_kg"]
    f = bad.inject_fault("gas_crossover", value=20.0, hidden=True)
    assert f["value"] == 20.0 and bad.read("faults_visible") == 0
    for p in (bad, ref):
        for _ in range(10):
            p.step(60.0)
    # same current, voltage and power: the stack works as before, only less of its H2 reaches the counter
    for name in ("el_stack_current_a", "el_cell_voltage_v", "el_power_kw"):
        assert bad.read(name) == pytest.approx(ref.read(name), rel=1e-9)
    assert bad.read("el_h2_flow_nlh") == pytest.approx(0.8 * ref.read("el_h2_flow_nlh"), rel=1e-9)
    made = ref.acc["h2_prod_kg"] - h0  # Faraday production of the twin over the same 10 min
    assert bad.acc["h2_crossover_kg"] - c0 == pytest.approx(0.2 * made, rel=1e-9)
    assert (bad.acc["h2_prod_kg"] - h0) + (bad.acc["h2_crossover_kg"] - c0) == pytest.approx(made, rel=1e-12)
    assert bad.m_tank_kg < ref.m_tank_kg and abs(bad.balances()["h2_residual_kg"]) < 1e-12
    assert bad.read("el_health") == 0  # hidden: NE 107 says normal
    bad.inject_fault("gas_crossover", value=5.0)
    assert bad.read("el_health") == 3  # visible: OFF_SPEC
    with pytest.raises(ValueError, match=r"gas_crossover value \(%\) = 60.0 outside the allowed range \(0, 50\]"):
        bad.inject_fault("gas_crossover", value=60.0)


async def test_inverter_trip_drops_pv_ac_and_the_grid_takes_over(scenario, profile) -> None:
    bad, ref = _twins(scenario, profile)
    assert bad.read("pv_power_kw") > 1.0  # midsummer morning: the sun shines
    e0 = {k: bad.acc[k] for k in ("pv_kwh", "import_kwh", "export_kwh", "pv_tripped_kwh")}
    bad.inject_fault("inverter_trip")
    for p in (bad, ref):
        for _ in range(10):
            p.step(60.0)
    assert bad.read("pv_power_kw") == 0.0 and ref.read("pv_power_kw") > 1.0
    net = lambda p: p.read("grid_import_kw") - p.read("grid_export_kw")  # noqa: E731
    assert net(bad) - net(ref) == pytest.approx(ref.read("pv_power_kw"), rel=1e-9)
    assert bad.acc["pv_kwh"] == e0["pv_kwh"]  # the inverter's counter stops
    assert bad.acc["pv_tripped_kwh"] - e0["pv_tripped_kwh"] == pytest.approx(ref.acc["pv_kwh"] - e0["pv_kwh"],
                                                                            rel=1e-12)
    assert bad.read("el_power_kw") == pytest.approx(ref.read("el_power_kw"), rel=1e-9)
    assert abs(bad.balances()["energy_residual_kwh"]) < 1e-9 * (ref.acc["pv_kwh"] + 1.0)
    assert bad.read("plant_health") == 1  # visible: FAILURE
    bad.clear_fault(None)
    bad.inject_fault("inverter_trip", value=40.0, hidden=True)
    bad.step(60.0)
    ref.step(60.0)
    assert bad.read("pv_power_kw") == pytest.approx(0.6 * ref.read("pv_power_kw"), rel=1e-9)
    assert bad.read("plant_health") == ref.read("plant_health") and bad.read("faults_visible") == 0
    with pytest.raises(ValueError, match=r"inverter_trip value \(%\) = 0.0 outside the allowed range \(0, 100\]"):
        bad.inject_fault("inverter_trip", value=0.0)


async def test_drivers_reconnect_after_plc_restart_and_are_invalid_meanwhile(scenario, profile) -> None:
    plc = VirtualPlc(scenario, dev_settings(), profile=profile)
    await plc.start()
    drivers = _drivers(plc)
    mb_port, ua_port = plc.modbus_port, plc.opcua.port
    try:
        for drv in drivers:
            assert all(x.valid for x in (await drv.read_all()).values())
        await plc.stop()
        for drv in drivers:
            for _ in range(3):  # failures, then back-off: never the old values
                r = await drv.read_all()
                assert all(x.value is None and not x.valid for x in r.values())
            assert not drv.connected
            with pytest.raises(DriverError):
                await drv.write("el_production_rate_pct", 50)
            # a bad value is refused before anything is sent, even while disconnected
            with pytest.raises(WriteRefused, match=r"allowed range is \[0, 100\]"):
                await drv.write("el_production_rate_pct", 101)
        plc = VirtualPlc(scenario, dev_settings(modbus_port=mb_port, opcua_port=ua_port), profile=profile)
        await plc.start()
        for drv in drivers:
            for _ in range(40):
                r = await drv.read_all()
                if drv.connected:
                    break
                await asyncio.sleep(0.05)
            assert drv.connected and all(x.valid for x in r.values())
            assert drv.n_reconnects == 2
            await drv.write("el_production_rate_pct", 33)
            assert plc.plant.hold["el_production_rate_pct"] == 33
    finally:
        for drv in drivers:
            await drv.close()
        await plc.stop()


async def test_requests_on_one_connection_are_serialised(plc: VirtualPlc) -> None:
    mb, ua_drv = _drivers(plc)
    try:
        for drv in (mb, ua_drv):
            results = await asyncio.gather(*[drv.read_all() for _ in range(10)],
                                           *[drv.heartbeat() for _ in range(10)])
            assert all(all(x.valid for x in r.values()) for r in results[:10])
            hbs = list(results[10:])
            assert hbs == list(range(hbs[0], hbs[0] + 10))  # each heartbeat distinct, in call order
            assert plc.plant.hold["heartbeat"] == hbs[-1]
    finally:
        await mb.close()
        await ua_drv.close()


async def test_opcua_subscription_sees_modbus_write(plc: VirtualPlc) -> None:
    from asyncua import Client, ua

    got: asyncio.Queue = asyncio.Queue()

    class Handler:
        def datachange_notification(self, node, val, data) -> None:
            got.put_nowait(val)

    mb = ModbusDriver("127.0.0.1", plc.modbus_port, plc.plant.rmap)
    async with Client(plc.opcua_endpoint, timeout=5) as client:
        idx = await client.get_namespace_index("urn:h2quarters:plc")
        sub = await client.create_subscription(50, Handler())
        await sub.subscribe_data_change(client.get_node(ua.NodeId("Plant.Electrolyser.ProductionRate", idx)))
        assert await asyncio.wait_for(got.get(), 5) == 0.0  # initial value
        await mb.write("el_production_rate_pct", 12.5)
        assert await asyncio.wait_for(got.get(), 5) == 12.5
        await mb.write("el_production_rate_pct", 13.5)
        assert await asyncio.wait_for(got.get(), 5) == 13.5
        await sub.delete()
    await mb.close()


async def test_silent_peer_times_out_and_values_stay_invalid(plant) -> None:
    """A peer that accepts TCP but never answers (half-open device): every request ends at its timeout."""
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    drivers: list[PlantDriver] = [
        ModbusDriver("127.0.0.1", port, plant.rmap, timeout_s=0.2, backoff_min_s=0.05),
        OpcUaDriver(f"opc.tcp://127.0.0.1:{port}/h2quarters/plc", plant.rmap, secure=False, timeout_s=0.2,
                    backoff_min_s=0.05)]
    loop = asyncio.get_running_loop()
    try:
        for drv in drivers:
            t0 = loop.time()
            r = await drv.read_all()
            elapsed = loop.time() - t0
            assert all(x.value is None and not x.valid for x in r.values())
            assert not drv.connected and drv.last_error
            assert elapsed < 5.0  # bounded by the request/connect timeouts, not hanging
            with pytest.raises(DriverError):
                await drv.write("el_production_rate_pct", 10)
    finally:
        for drv in drivers:
            await drv.close()
        server.close()
        await server.wait_closed()


async def test_fault_methods_over_opcua_hide_and_refuse(plc: VirtualPlc) -> None:
    import json

    from asyncua import Client, ua

    async with Client(plc.opcua_endpoint, timeout=5) as client:
        idx = await client.get_namespace_index("urn:h2quarters:plc")
        faults = client.get_node(ua.NodeId("Plant.Faults", idx))

        async def call(name: str, *args: object) -> object:
            return await faults.call_method(ua.NodeId(f"Plant.Faults.{name}", idx), *args)

        nan = ua.Variant(float("nan"), ua.VariantType.Double)
        fid = await call("Inject", "sensor_stuck", "tank_pressure_bar", nan, False)
        await call("Inject", "h2_leak", "", ua.Variant(0.05, ua.VariantType.Double), True)
        await call("Inject", "inverter_trip", "", nan, True)  # default value: the whole inverter
        assert plc.plant.faults.inverter_tripped_fraction() == 1.0
        visible = json.loads(str(await call("List", False)))
        everything = json.loads(str(await call("List", True)))
        assert [f["kind"] for f in visible] == ["sensor_stuck"] and visible[0]["id"] == fid
        assert {f["kind"] for f in everything} == {"sensor_stuck", "h2_leak", "inverter_trip"}
        assert all(f["does"] for f in everything)
        with pytest.raises(ua.UaStatusCodeError, match="BadInvalidArgument"):
            await call("Inject", "sensor_stuck", "no_such_signal", nan, False)
        with pytest.raises(ua.UaStatusCodeError, match="BadInvalidArgument"):
            await call("Inject", "melt_down", "", nan, False)
        with pytest.raises(ua.UaStatusCodeError, match="BadInvalidArgument"):  # crossover above 50 %
            await call("Inject", "gas_crossover", "", ua.Variant(80.0, ua.VariantType.Double), True)
        assert await call("Clear", ua.Variant(0, ua.VariantType.UInt32)) == 3
        # Start/Stop methods act on the same plant
        el = client.get_node(ua.NodeId("Plant.Electrolyser", idx))
        await el.call_method(ua.NodeId("Plant.Electrolyser.Start", idx))
        assert plc.plant.hold["el_start"] is True
        await el.call_method(ua.NodeId("Plant.Electrolyser.Stop", idx))
        assert plc.plant.hold["el_start"] is False


async def test_driver_for_one_device_without_reserved_gaps(plc: VirtualPlc) -> None:
    """As for a real Enapter unit on its own address: electrolyser signals only, no reads across gaps."""
    drv = ModbusDriver("127.0.0.1", plc.modbus_port, plc.plant.rmap, devices=["electrolyser"], max_gap=0)
    try:
        r = await drv.read_all()
        assert set(r) == {s.name for s in plc.plant.rmap.signals if s.device == "electrolyser"}
        assert all(x.valid for x in r.values())
        assert r["el_device_model"].value == "EL21" and r["el_system_state"].value == 1
        with pytest.raises(WriteRefused, match="not served by this driver"):
            await drv.write("fc_start", 1)
    finally:
        await drv.close()
    with pytest.raises(ValueError, match="unknown"):
        ModbusDriver("127.0.0.1", plc.modbus_port, plc.plant.rmap, devices=["boiler"])
    by_url = make_driver(f"modbus://127.0.0.1:{plc.modbus_port}", plc.plant.rmap)
    assert isinstance(by_url, ModbusDriver) and by_url.port == plc.modbus_port
    assert isinstance(make_driver(plc.opcua_endpoint, plc.plant.rmap, secure=False), OpcUaDriver)
    with pytest.raises(ValueError, match="scheme 'http' unknown"):
        make_driver("http://127.0.0.1:80", plc.plant.rmap)
