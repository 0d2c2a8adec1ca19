"""Benchmark of the virtual PLC and its drivers (loopback, this machine).

1. Round-trip latency of reading the whole register map (73 signals) with the Modbus driver (14 requests) and
   the OPC UA driver (one Read of all nodes), development mode and production mode (Basic256Sha256
   Sign&Encrypt + user), p50/p99 over N reads while the PLC runs at 3600x.
2. Balance closure at speed 3600x: a controller loop (Modbus driver, heartbeat every 0.25 s, PV-surplus rule)
   drives the plant for ``--hours`` plant hours; the meters read over Modbus must close the electrical balance
   (grid = load + electrolyser + compressor - PV - fuel cell) and the tank's hydrogen balance; the plant's own
   double-precision residuals are reported as well.

Run: ``.venv/bin/python benchmarks/plc_latency.py [--n 500] [--hours 24]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from h2quarters.config import load_scenario
from h2quarters.plc.drivers import ModbusDriver, OpcUaDriver, PlantDriver
from h2quarters.plc.plant import site_profile
from h2quarters.plc.security import add_user
from h2quarters.plc.settings import PlcSettings, Security
from h2quarters.plc.virtual_plc import VirtualPlc

ROOT = Path(__file__).resolve().parents[1]
START = "2025-06-21T00:00"


async def _latency(drv: PlantDriver, n: int) -> dict[str, float]:
    await drv.read_all()  # connect + warm up
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await drv.read_all()
        ts.append((time.perf_counter() - t0) * 1000.0)
        assert all(x.valid for x in r.values()), "invalid reading during the benchmark"
    await drv.close()
    a = np.asarray(ts)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "mean_ms": float(a.mean()), "n": n}


async def main(n: int, hours: float) -> dict[str, object]:
    sc = load_scenario(ROOT / "scenarios" / "oskar-von-miller")
    prof = site_profile(sc, pd.Timestamp(START, tz=sc.location.tz), days=max(2, int(hours / 24) + 2))
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        users = Path(tmp) / "users.yaml"
        add_user(users, "bench", "bench-password")
        for mode in ("development", "production"):
            sec = Security(mode=mode, cert_dir=Path(tmp) / "pki", users_file=users,
                           trusted_certs=[Path(tmp) / "cli" / "client_cert.der"])
            plc = VirtualPlc(sc, PlcSettings(start=START, speed=3600, modbus_port=0, opcua_port=0, security=sec),
                             profile=prof)
            await plc.start(modbus=mode == "development")
            if mode == "development":
                out["modbus_read_all"] = await _latency(
                    ModbusDriver("127.0.0.1", plc.modbus_port, plc.plant.rmap), n)
                out["opcua_read_all_none"] = await _latency(
                    OpcUaDriver(plc.opcua_endpoint, plc.plant.rmap, secure=False), n)
            else:
                out["opcua_read_all_basic256sha256"] = await _latency(
                    OpcUaDriver(plc.opcua_endpoint, plc.plant.rmap, user="bench", password="bench-password",
                                secure=True, cert_dir=Path(tmp) / "cli"), n)
            await plc.stop()

    # balance closure at 3600x, driven like a controller over Modbus
    plc = VirtualPlc(sc, PlcSettings(start=START, speed=3600, modbus_port=0, tick_s=0.1,
                                     security=Security(mode="development")), profile=prof)
    await plc.start(opcua=False)
    drv = ModbusDriver("127.0.0.1", plc.modbus_port, plc.plant.rmap)
    p_rated = sc.electrolyser.p_rated_kw
    t_wall0 = time.perf_counter()
    await drv.write("fc_setpoint_kw", 1.0)
    polls = 0
    while plc.plant.t_s < hours * 3600.0:
        r = await drv.read_all()
        polls += 1
        await drv.heartbeat()
        surplus = (r["pv_power_kw"].value or 0.0) - (r["load_power_kw"].value or 0.0)
        rate = min(max(surplus / p_rated * 100.0, 0.0), 100.0)
        await drv.write("el_production_rate_pct", rate)
        if not r["el_start"].value and not r["trips_latched"].value:
            await drv.write("el_start", 1)
        want_fc = surplus < -0.5 and (r["tank_pressure_bar"].value or 0) > sc.storage.p_min_bar + 5
        if bool(r["fc_start"].value) != want_fc and not r["trips_latched"].value:
            await drv.write("fc_start", int(want_fc))
        await asyncio.sleep(0.25)
    r = {k: v.value for k, v in (await drv.read_all()).items()}
    wall_s = time.perf_counter() - t_wall0
    await drv.close()
    plant = plc.plant
    await plc.stop()
    e_net = r["grid_import_kwh"] - r["grid_export_kwh"]
    e_use = (r["load_energy_kwh"] + r["el_energy_kwh"] + r["compressor_energy_kwh"] - r["pv_energy_kwh"]
             - r["fc_energy_kwh"])
    h_tank = r["tank_mass_kg"] - plant.tank.m_init_kg
    h_flow = r["h2_to_tank_kg"] - r["h2_from_tank_kg"]
    b = plant.balances()
    out["balance_3600x"] = {
        "plant_hours": plant.t_s / 3600.0, "wall_s": wall_s, "controller_polls": polls,
        "steps": plc.steps, "max_step_wall_ms": plc.max_step_wall_s * 1000.0,
        "pv_kwh": r["pv_energy_kwh"], "electrolyser_kwh": r["el_energy_kwh"], "fc_kwh": r["fc_energy_kwh"],
        "h2_produced_kg": r["h2_to_tank_kg"], "h2_to_fc_kg": r["h2_from_tank_kg"],
        "energy_residual_modbus_kwh": e_net - e_use,
        "energy_residual_rel": abs(e_net - e_use) / max(r["pv_energy_kwh"] + r["load_energy_kwh"], 1e-9),
        "h2_residual_modbus_kg": h_tank - h_flow,
        "h2_residual_rel": abs(h_tank - h_flow) / max(r["h2_to_tank_kg"], 1e-9),
        "energy_residual_internal_kwh": b["energy_residual_kwh"], "h2_residual_internal_kg": b["h2_residual_kg"],
        "fallbacks": r["fallback_count"], "trips_latched": r["trips_latched"],
    }
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="reads per latency measurement")
    ap.add_argument("--hours", type=float, default=24.0, help="plant hours for the balance run")
    args = ap.parse_args()
    res = asyncio.run(main(args.n, args.hours))
    print(json.dumps(res, indent=2))
