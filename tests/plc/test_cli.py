"""`h2q plc` as a user runs it: the PLC process, fault injection from a second shell, docs generation."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from h2quarters.plc import fault_socket
from h2quarters.plc.drivers import ModbusDriver
from h2quarters.plc.registers import load_register_map

ROOT = Path(__file__).resolve().parents[2]
H2Q = [sys.executable, "-c", "from h2quarters.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _h2q(*args: str, timeout_s: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*H2Q, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode or 0, out.decode()


async def test_plc_process_and_fault_cli(tmp_path: Path) -> None:
    mb, ua = _free_port(), _free_port()
    proc = await asyncio.create_subprocess_exec(
        *H2Q, "plc", "--dev", "--speed", "60", "--modbus-port", str(mb), "--opcua-port", str(ua),
        "--start", "2025-06-21T10:00", "--state-file", str(tmp_path / "state.json"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    endpoint = f"opc.tcp://127.0.0.1:{ua}/h2quarters/plc"
    drv = ModbusDriver("127.0.0.1", mb, load_register_map(), backoff_min_s=0.1, backoff_max_s=0.2)
    try:
        assert proc.stdout is not None
        banner = ""
        while "virtual PLC" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, f"PLC exited early: {banner}"
            banner += line.decode()
        assert f"tcp://127.0.0.1:{mb}" in banner and endpoint in banner and "[development]" in banner
        assert f"plant initial state (saved to {tmp_path / 'state.json'})" in banner
        assert f"local fault channel {fault_socket.socket_path(ua)}" in banner, banner
        r = await drv.read_all()
        assert r["tank_pressure_bar"].valid and r["tank_pressure_bar"].value != pytest.approx(99.0)

        rc, out = await _h2q("plc", "fault", "inject", "sensor_stuck", "--target", "tank_pressure_bar",
                             "--value", "99", "--dev", "--endpoint", endpoint)
        assert rc == 0 and "fault 1 injected" in out, out
        rc, out = await _h2q("plc", "fault", "inject", "h2_leak", "--value", "0.05", "--hidden", "--dev",
                             "--endpoint", endpoint)
        assert rc == 0 and "fault 2 injected" in out, out
        r = await drv.read_all()
        assert r["tank_pressure_bar"].value == pytest.approx(99.0) and r["faults_visible"].value == 1

        rc, out = await _h2q("plc", "fault", "list", "--all", "--dev", "--endpoint", endpoint)
        assert rc == 0 and "sensor_stuck" in out and "h2_leak" in out and "hidden=True" in out, out
        rc, out = await _h2q("plc", "fault", "clear", "--dev", "--endpoint", endpoint)
        assert rc == 0 and "2 fault(s) cleared" in out, out
        r = await drv.read_all()
        assert r["tank_pressure_bar"].value != pytest.approx(99.0) and r["faults_visible"].value == 0
    finally:
        await drv.close()
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert (tmp_path / "state.json").is_file()  # snapshot written (periodically and at stop)
    assert b"Traceback" not in await proc.stdout.read()


async def test_add_user_with_short_password_says_so_without_traceback(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    proc = await asyncio.create_subprocess_exec(*H2Q, "plc", "add-user", "bob", "--users-file", str(users),
                                                cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(b"short\nshort\n"), 60)
    text = out.decode()
    assert proc.returncode == 2 and "at least 8 characters; nothing written" in text, text
    assert "Traceback" not in text and not users.exists()


async def test_fault_kinds_and_docs_commands(tmp_path: Path) -> None:
    rc, out = await _h2q("plc", "fault", "kinds")
    assert rc == 0
    for kind in ("sensor_stuck", "sensor_drift", "sensor_noise", "sensor_out_of_range", "comm_loss", "h2_leak",
                 "cooling_failure", "stack_degradation"):
        assert kind in out
    rc, out = await _h2q("plc", "docs", "--out", str(tmp_path / "rm.md"))
    assert rc == 0 and (tmp_path / "rm.md").read_text() == (ROOT / "docs" / "register-map.md").read_text()


def test_make_run_runtime_serves_opcua_so_fault_inject_reaches_the_plant(tmp_path: Path) -> None:
    """`h2q serve` (make run) starts the virtual PLC with OPC UA beside Modbus; the teacher's CLI reaches it."""
    from typer.testing import CliRunner

    from h2quarters.cli import app
    from h2quarters.config import load_scenario
    from h2quarters.control.runtime import Runtime
    from h2quarters.control.settings import ControlSettings
    from h2quarters.plc.settings import PlcSettings, local_opcua

    assert local_opcua(PlcSettings(bind_host="10.1.2.3")) is None  # no users file, not loopback: not served
    sc = load_scenario(ROOT / "scenarios" / "oskar-von-miller")
    rt = Runtime(ControlSettings(plc_port=0, db_url=f"sqlite:///{tmp_path}/r.db"), sc, planner=False,
                 plc_settings=PlcSettings(modbus_port=0, opcua_port=_free_port(), start="2025-06-21T10:00"),
                 serve_opcua=True)
    try:
        rt.start_plc()
        endpoint = rt.plc.opcua_endpoint
        assert endpoint and rt.plc.opcua.settings.security.mode == "development"  # loopback only
        res = CliRunner().invoke(app, ["plc", "fault", "inject", "h2_leak", "--value", "0.1", "--dev",
                                       "--endpoint", endpoint])
        assert res.exit_code == 0 and "fault 1 injected" in res.output, res.output
        assert [f.kind for f in rt.plc.plant.faults.active()] == ["h2_leak"]
        assert rt.plc.fault_channel is not None  # the teacher's command went through the local channel
    finally:
        rt.stop_plc()
        rt.store.close()
