"""Independent peers talk to the virtual PLC: Debian's mbpoll (libmodbus) and node-opcua (npm).

Both are installed by scripts/ensure-test-peers.sh (run by `make test`); a missing peer fails these tests.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path

from h2quarters.plc.virtual_plc import VirtualPlc

PEER_DIR = Path(__file__).resolve().parent / "opcua_peer"


async def _run(*cmd: str, timeout_s: float = 30.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode or 0, out.decode()


async def mbpoll(port: int, *args: str, write: str | None = None) -> tuple[int, str]:
    """Run mbpoll once with 0-based addresses and big-endian word order; ``write`` = value to write."""
    exe = shutil.which("mbpoll")
    assert exe, "mbpoll missing: run `bash scripts/ensure-test-peers.sh`"
    tail = ["127.0.0.1"] if write is None else ["127.0.0.1", "--", write]
    return await _run(exe, "-m", "tcp", "-p", str(port), "-1", "-0", "-B", "-o", "2", *args, *tail)


def _values(out: str) -> dict[int, str]:
    return {int(a): v for a, v in re.findall(r"^\[(\d+)\]:\s+(\S+)", out, flags=re.MULTILINE)}


async def test_mbpoll_reads_and_writes_electrolyser_at_documented_addresses(plc: VirtualPlc) -> None:
    port = plc.modbus_port
    # write the production rate (float32, holding 1002) and start (bool, holding 1000) as Enapter documents
    rc, out = await mbpoll(port, "-a", "1", "-t", "4:float", "-r", "1002", write="75.5")
    assert rc == 0, out
    assert plc.plant.hold["el_production_rate_pct"] == 75.5
    rc, out = await mbpoll(port, "-a", "1", "-t", "4", "-r", "1000", write="1")
    assert rc == 0, out
    assert plc.plant.hold["el_start"] is True
    # read back holding 1002 and the electrolyser state (input 1200) and system state (input 18)
    rc, out = await mbpoll(port, "-a", "1", "-t", "4:float", "-r", "1002")
    assert rc == 0 and float(_values(out)[1002]) == 75.5, out
    # starting → steady takes plant time: wait for it (a busy machine may be slower), then mbpoll must see it too
    t0 = time.monotonic()
    while plc.plant.read("el_state") != 3:
        assert time.monotonic() - t0 < 60, f"electrolyser not steady within 60 s: {plc.plant.read('el_state')}"
        await asyncio.sleep(0.1)
    rc, out = await mbpoll(port, "-a", "1", "-t", "3", "-r", "1200")
    assert rc == 0 and int(_values(out)[1200]) == plc.plant.read("el_state") == 3, out
    rc, out = await mbpoll(port, "-a", "1", "-t", "3", "-r", "18")
    assert rc == 0 and int(_values(out)[18]) == 1, out
    # stack temperature is a float at input 7518, the same value the plant holds
    rc, out = await mbpoll(port, "-a", "1", "-t", "3:float", "-r", "7518")
    assert rc == 0 and abs(float(_values(out)[7518]) - plc.plant.read("el_electrolyte_temperature_c")) < 0.5, out
    # an out-of-range setpoint is refused with an exception and changes nothing
    rc, out = await mbpoll(port, "-a", "1", "-t", "4:float", "-r", "1002", write="150")
    assert rc != 0 or "Illegal data value" in out, out
    assert plc.plant.hold["el_production_rate_pct"] == 75.5
    # heartbeat timeout is only accepted inside the 4000/4001 configuration transaction
    rc, out = await mbpoll(port, "-a", "1", "-t", "4:int", "-r", "4600", write="30")
    assert plc.plant.hold["el_heartbeat_timeout_s"] == 0, out
    for ref, val in (("4000", "1"),):
        assert (await mbpoll(port, "-a", "1", "-t", "4", "-r", ref, write=val))[0] == 0
    assert (await mbpoll(port, "-a", "1", "-t", "4:int", "-r", "4600", write="30"))[0] == 0
    assert (await mbpoll(port, "-a", "1", "-t", "4", "-r", "4001", write="1"))[0] == 0
    assert plc.plant.hold["el_heartbeat_timeout_s"] == 30
    rc, out = await mbpoll(port, "-a", "1", "-t", "3", "-r", "4002")
    assert int(_values(out)[4002]) == 0, out


async def node_peer(job: dict) -> dict:
    node = shutil.which("node")
    assert node and (PEER_DIR / "node_modules" / "node-opcua-client").is_dir(), \
        "node-opcua missing: run `bash scripts/ensure-test-peers.sh`"
    rc, out = await _run(node, str(PEER_DIR / "peer.mjs"), json.dumps(job), timeout_s=60)
    line = [ln for ln in out.splitlines() if ln.startswith("{")][-1]
    return json.loads(line) | {"_rc": rc}


async def test_node_opcua_browses_reads_writes_and_modbus_sees_it(plc: VirtualPlc) -> None:
    idx = 2  # first namespace registered after the standard ones
    ns = f"ns={idx};s="
    res = await node_peer({
        "endpoint": plc.opcua_endpoint,
        "browse": [f"{ns}Plant", f"{ns}Plant.Electrolyser", f"{ns}Plant.Electrolyser.Service"],
        "writes": [{"nodeId": f"{ns}Plant.Electrolyser.ProductionRate", "dataType": "Float", "value": 42.0},
                   {"nodeId": f"{ns}Plant.FuelCell.PowerSetpoint", "dataType": "Float", "value": 9.0},
                   {"nodeId": f"{ns}Plant.Storage.Pressure", "dataType": "Float", "value": 1.0}],
        "reads": [f"{ns}Plant.Electrolyser.ProductionRate", f"{ns}Plant.Storage.Pressure",
                  f"{ns}Plant.Electrolyser.DeviceModel", f"{ns}Plant.Electrolyser.Health",
                  f"{ns}Plant.Electrolyser.Service.StateCur"],
    })
    assert res["_rc"] == 0, res
    assert {"Electrolyser", "Storage", "FuelCell", "Safety", "Controller", "Faults"} <= set(res["browse"][f"{ns}Plant"])
    assert {"Start", "Stop", "StackCurrent", "Health", "Service"} <= set(res["browse"][f"{ns}Plant.Electrolyser"])
    assert {"StateCur", "CommandOp", "CommandEn"} <= set(res["browse"][f"{ns}Plant.Electrolyser.Service"])
    assert res["writes"][f"{ns}Plant.Electrolyser.ProductionRate"] == "Good"
    assert res["writes"][f"{ns}Plant.FuelCell.PowerSetpoint"] == "BadOutOfRange"  # rated 2 kW
    assert res["writes"][f"{ns}Plant.Storage.Pressure"] == "BadNotWritable"
    r = res["reads"]
    assert r[f"{ns}Plant.Electrolyser.ProductionRate"]["value"] == 42.0
    assert abs(r[f"{ns}Plant.Storage.Pressure"]["value"] - plc.plant.read("tank_pressure_bar")) < 1.0
    assert r[f"{ns}Plant.Electrolyser.DeviceModel"]["value"] == "EL21"
    assert r[f"{ns}Plant.Electrolyser.Health"]["value"] == 0
    assert r[f"{ns}Plant.Electrolyser.Service.StateCur"]["value"] == 16  # MTP Idle
    # the Modbus side sees the OPC UA write (mbpoll reads holding 1002)
    rc, out = await mbpoll(plc.modbus_port, "-a", "1", "-t", "4:float", "-r", "1002")
    assert rc == 0 and float(_values(out)[1002]) == 42.0, out
    assert plc.plant.hold["fc_setpoint_kw"] == 0.0


async def test_node_opcua_against_production_mode(tmp_path: Path, scenario, profile) -> None:
    from h2quarters.plc.security import add_user
    from h2quarters.plc.settings import PlcSettings, Security

    users = tmp_path / "users.yaml"
    add_user(users, "engineer", "s3cret-pass")
    plc = VirtualPlc(scenario, PlcSettings(start="2025-06-21T10:00", opcua_port=0, security=Security(
        mode="production", cert_dir=tmp_path / "pki", users_file=users)), profile=profile)
    await plc.start(modbus=False)
    node_id = "ns=2;s=Plant.Storage.Pressure"
    base = {"endpoint": plc.opcua_endpoint, "reads": [node_id], "pkiFolder": str(tmp_path / "node-pki")}
    try:
        plain = await node_peer(base)
        assert plain["_rc"] == 2 and "securityMode = None" in plain["error"], plain
        # production trusts only listed client certificates: trust node-opcua's (created by the first run)
        trusted = tmp_path / "pki" / "trusted"
        trusted.mkdir()
        for pem in (tmp_path / "node-pki" / "own" / "certs").glob("*.pem"):
            shutil.copy(pem, trusted / pem.name)
        anon = await node_peer(base | {"securityMode": "SignAndEncrypt"})
        assert anon["_rc"] == 2 and "ANONYMOUS" in anon["error"], anon
        wrong = await node_peer(base | {"securityMode": "SignAndEncrypt", "user": "engineer", "password": "nope-nope"})
        assert wrong["_rc"] == 2, wrong
        ok = await node_peer(base | {"securityMode": "SignAndEncrypt", "user": "engineer", "password": "s3cret-pass",
                                     "writes": [{"nodeId": "ns=2;s=Plant.Electrolyser.ProductionRate",
                                                 "dataType": "Float", "value": 61.0}]})
        assert ok["_rc"] == 0 and ok["reads"][node_id]["status"] == "Good", ok
        assert abs(ok["reads"][node_id]["value"] - plc.plant.read("tank_pressure_bar")) < 1.0
        assert plc.plant.hold["el_production_rate_pct"] == 61.0
    finally:
        await plc.stop()
