"""Local fault channel (issue #15: fault commands answer in ≤ 1 s): `h2q plc fault` over the PLC's Unix socket.

A production PLC (users file, Sign&Encrypt) and the real CLI in subprocesses: inject/list/clear through the socket reach
the plant (seen over Modbus) without importing asyncua; wrong password, a viewer's inject, an unknown fault kind
and a --dev call are refused with the same message and exit code as over OPC UA. In-process PLCs for the unhappy
paths: hostile clients, a foreign uid, an unsafe directory, a second instance, the socket of a killed PLC, and
the fallback to OPC UA when there is no socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from h2quarters.config.scenario import Scenario
from h2quarters.plc import fault_socket
from h2quarters.plc.drivers import ModbusDriver
from h2quarters.plc.fault_channel import MAX_CONNECTIONS, FaultChannel
from h2quarters.plc.plant import SiteProfile
from h2quarters.plc.registers import load_register_map
from h2quarters.plc.settings import Security
from h2quarters.plc.security import add_user, ensure_client_certificate
from h2quarters.plc.virtual_plc import VirtualPlc
from tests.plc.conftest import dev_settings, running_plc

ROOT = Path(__file__).resolve().parents[2]
H2Q = [sys.executable, "-c", "from h2quarters.cli import main; main()"]
# the CLI as a user runs it, reporting at exit which heavy modules it imported (pydantic itself is imported by
# typer's parameter coercion, typer._adapters, on every command; our pydantic models are not)
HEAVY = ("asyncua", "pandas", "h2quarters.plc.settings", "h2quarters.config.scenario", "h2quarters.plc.opcua_server")
PROBE = [sys.executable, "-c", "import atexit, sys\n"
         f"atexit.register(lambda: print('IMPORTED', sorted(m for m in {HEAVY!r} "
         "if m in sys.modules), file=sys.stderr))\n"
         "from h2quarters.cli import main\nsys.argv = ['h2q', *sys.argv[1:]]\nmain()\n"]
TEACHER = ["--user", "teacher", "--password", "teacher-password"]
pytestmark = pytest.mark.asyncio(loop_scope="module")  # the PLCs run in the module's event loop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def short_tmp() -> Iterator[Path]:
    """A short private directory (Unix socket paths are limited to 107 bytes; pytest's can be longer)."""
    d = Path(tempfile.mkdtemp(prefix="h2q-fc-", dir="/tmp"))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prod_plc(scenario: Scenario, profile: SiteProfile, short_tmp: Path) -> AsyncIterator[dict[str, Any]]:
    """A production-mode PLC (teacher = instructor, vic = viewer), its own runtime dir; the CLI's own HOME."""
    home, run = short_tmp / "home", short_tmp / "run"
    home.mkdir()
    users = short_tmp / "users.yaml"
    add_user(users, "teacher", "teacher-password", "instructor")
    add_user(users, "vic", "viewer-password", "viewer")
    # the CLI's client certificate (where `h2q plc fault` keeps it under HOME), trusted by the PLC
    cert, _ = await ensure_client_certificate(home / ".local/share/h2quarters/client-pki", "urn:h2quarters:driver")
    sec = Security(mode="production", cert_dir=short_tmp / "pki", users_file=users, trusted_certs=[cert])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_RUNTIME_DIR", str(run))
        vp = VirtualPlc(scenario, dev_settings(speed=60.0, security=sec), profile=profile)
        await vp.start()
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(run)}
    try:
        yield {"env": env, "plc": vp, "modbus": vp.modbus_port, "endpoint": vp.opcua_endpoint,
               "socket": run / "h2quarters" / f"plc-{vp.opcua.port if vp.opcua else 0}.sock"}
    finally:
        await vp.stop()


def _cli(plc: dict[str, Any], *args: str, probe: bool = False) -> tuple[int, str, str]:
    r = subprocess.run([*(PROBE if probe else H2Q), "plc", "fault", *args, "--endpoint", plc["endpoint"]],
                       env=plc["env"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


async def test_local_inject_list_clear_reach_the_running_plant(prod_plc: dict[str, Any]) -> None:
    sock = prod_plc["socket"]
    assert oct(sock.stat().st_mode & 0o777) == "0o600" and oct(sock.parent.stat().st_mode & 0o777) == "0o700"
    drv = ModbusDriver("127.0.0.1", prod_plc["modbus"], load_register_map(), backoff_min_s=0.1, backoff_max_s=0.2)
    try:
        rc, out, err = await asyncio.to_thread(_cli, prod_plc, "inject", "sensor_stuck", "--target",
                                               "tank_pressure_bar", "--value", "99", *TEACHER, probe=True)
        assert rc == 0 and "fault 1 injected: sensor_stuck tank_pressure_bar 99" in out, err
        assert "IMPORTED []" in err, err  # the local path: no asyncua, pandas or settings models
        r = await drv.read_all()
        assert r["tank_pressure_bar"].value == pytest.approx(99.0) and r["faults_visible"].value == 1
        rc, out, err = await asyncio.to_thread(_cli, prod_plc, "list", "--all", "--via", "local", *TEACHER)
        assert rc == 0 and "sensor_stuck" in out and "target=tank_pressure_bar" in out, err
        rc, out, err = await asyncio.to_thread(_cli, prod_plc, "clear", "--via", "local", *TEACHER)
        assert rc == 0 and "1 fault(s) cleared" in out, err
        r = await drv.read_all()
        assert r["tank_pressure_bar"].value != pytest.approx(99.0) and r["faults_visible"].value == 0
    finally:
        await drv.close()


@pytest.mark.parametrize(("args", "code"), [
    (["list", "--user", "teacher", "--password", "wrong-password"], "BadUserAccessDenied"),
    (["inject", "h2_leak", "--value", "0.01", "--user", "vic", "--password", "viewer-password"],
     "BadUserAccessDenied"),
    (["inject", "no_such_kind", *TEACHER], "BadInvalidArgument"),
    (["list", "--dev"], "BadSecurityPolicyRejected"),
])
async def test_refusals_are_those_of_opcua(prod_plc: dict[str, Any], args: list[str], code: str) -> None:
    local = await asyncio.to_thread(_cli, prod_plc, *args, "--via", "local")
    opcua = await asyncio.to_thread(_cli, prod_plc, *args, "--via", "opcua")
    assert local[0] == opcua[0] == 2, (local, opcua)
    assert "error: the PLC refused" in local[2] and code in local[2], local
    assert local[2].strip().splitlines()[-1] == opcua[2].strip().splitlines()[-1], (local, opcua)


# ---------------------------------------------------------------- in-process PLC: unhappy paths


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dev_plc(scenario: Scenario, profile: SiteProfile, short_tmp: Path) -> AsyncIterator[VirtualPlc]:
    async with running_plc(scenario, profile, {"XDG_RUNTIME_DIR": str(short_tmp / "run-dev")}) as vp:
        yield vp
    # every channel of this module that was stopped left nothing behind (socket and lock file removed)
    assert vp.fault_channel is None and not list((short_tmp / "run-dev" / "h2quarters").glob("plc-*"))


def _raw(path: Path, data: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(path))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a huge line: the PLC answered and closed before reading it all; its reply is buffered
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    return json.loads(buf)


async def test_hostile_clients_get_clear_errors_and_the_plc_stays_up(dev_plc: VirtualPlc) -> None:
    assert dev_plc.fault_channel is not None
    path = dev_plc.fault_channel.path
    cases = [(b"not json\n", "Expecting value"), (b"[1, 2]\n", "must be a JSON object"),
             (b'{"method": "Explode", "args": []}\n', "method 'Explode' unknown"),
             (b'{"method": "Clear", "args": [["UInt32", -1]], "dev": true}\n', "args[0] of Clear: -1"),
             (b'{"method": "Inject", "args": [["String", "h2_leak"]], "dev": true}\n', "args of Inject"),
             (b"[" * 40_000 + b"\n", "nested too deeply"),
             (b"x" * 200_000 + b"\n", "longer than 65536 bytes"),
             (b"\xff\xfe\n", "")]
    for data, msg in cases:
        reply = await asyncio.to_thread(_raw, path, data)
        assert reply["error"] == "bad_request" and msg in reply["message"], (data[:40], reply)
    # many connections at once: those beyond the limit are told so at once, the PLC keeps serving
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS + 4):
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            await asyncio.get_running_loop().sock_connect(s, str(path))
            socks.append(s)
        await asyncio.sleep(0.3)
        busy = [await asyncio.to_thread(_raw, path, b"")]  # one more, while all are held
        assert busy[0]["error"] == "busy" and str(MAX_CONNECTIONS) in busy[0]["message"], busy
    finally:
        for s in socks:
            s.close()
    for _ in range(100):  # the held connections end with their clients
        if dev_plc.fault_channel.connections == 0:
            break
        await asyncio.sleep(0.05)
    steps = dev_plc.steps
    req = {"method": "Inject", "args": [["String", "h2_leak"], ["String", ""], ["Double", 0.02], ["Boolean", False]],
           "user": None, "password": None, "dev": True}
    reply = await asyncio.to_thread(fault_socket.request, path, req)
    assert reply["warnings"] == [] and isinstance(reply["result"], int), reply
    assert [(f.id, f.kind) for f in dev_plc.plant.faults.active()][-1] == (reply["result"], "h2_leak")
    await asyncio.sleep(0.3)
    assert dev_plc.steps > steps  # the plant loop kept running


async def test_foreign_uid_unsafe_directory_and_production_call_to_dev_plc(dev_plc: VirtualPlc,
                                                                           short_tmp: Path) -> None:
    assert dev_plc.opcua is not None
    other = FaultChannel(dev_plc.opcua.local_fault_call, 1, directory=short_tmp / "run-uid", uid=os.getuid() + 1)
    assert await other.start()
    try:
        reply = await asyncio.to_thread(_raw, other.path, b'{"method": "List", "args": [["Boolean", true]]}\n')
        assert reply["error"] == "refused" and f"uid {os.getuid()} may not use" in reply["message"], reply
    finally:
        await other.stop()
    assert not other.path.exists()
    unsafe = short_tmp / "run-open"
    unsafe.mkdir(mode=0o755)
    unsafe.chmod(0o755)
    ch = FaultChannel(dev_plc.opcua.local_fault_call, 2, directory=unsafe)
    assert not await ch.start() and not ch.path.exists()
    assert "must be 700" in (fault_socket.private_dir_problem(unsafe) or "")
    # a production-mode call (no --dev) to a PLC in development mode: told so, as over OPC UA
    req = {"method": "List", "args": [["Boolean", True]], "user": "x", "password": "y", "dev": False}
    assert dev_plc.fault_channel is not None
    reply = await asyncio.to_thread(fault_socket.request, dev_plc.fault_channel.path, req)
    assert reply["error"] == "mode" and "use --dev" in reply["message"], reply


async def test_second_instance_does_not_steal_and_killed_plcs_socket_is_replaced(dev_plc: VirtualPlc,
                                                                                short_tmp: Path) -> None:
    assert dev_plc.opcua is not None and dev_plc.fault_channel is not None
    live = dev_plc.fault_channel
    second = FaultChannel(dev_plc.opcua.local_fault_call, dev_plc.opcua.port, directory=live.directory)
    assert not await second.start()
    req = {"method": "List", "args": [["Boolean", True]], "user": None, "password": None, "dev": True}
    assert isinstance(json.loads((await asyncio.to_thread(fault_socket.request, live.path, req))["result"]), list)
    # a PLC process killed with -9 leaves its socket behind
    port = _free_port()
    env = {**os.environ, "XDG_RUNTIME_DIR": str(live.directory.parent)}
    child = subprocess.Popen([sys.executable, "-c", (
        "import asyncio, sys\nfrom h2quarters.plc.fault_channel import FaultChannel\n"
        "async def h(*a): return {'result': 'child', 'warnings': []}\n"
        "async def main():\n    ch = FaultChannel(h, int(sys.argv[1]))\n    assert await ch.start()\n"
        "    print('ready', flush=True)\n    await asyncio.Event().wait()\nasyncio.run(main())\n"), str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        stale = fault_socket.socket_path(port, live.directory)
        assert (await asyncio.to_thread(fault_socket.request, stale, req))["result"] == "child"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert stale.exists()
    reply = await asyncio.to_thread(fault_socket.request, stale, req)
    assert reply["error"] == "unreachable" and "ConnectionRefusedError" in reply["message"]
    # the CLI falls back to OPC UA, which finds nobody there either: the usual message and exit code
    r = await asyncio.to_thread(subprocess.run, [*H2Q, "plc", "fault", "list", "--dev", "--endpoint",
                                                 f"opc.tcp://127.0.0.1:{port}/h2quarters/plc"],
                                env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "cannot reach the PLC at opc.tcp://127.0.0.1:" in r.stderr, r.stderr
    assert "ConnectionRefusedError" in r.stderr, r.stderr
    new = FaultChannel(dev_plc.opcua.local_fault_call, port, directory=live.directory)
    assert await new.start()
    try:
        assert isinstance(json.loads((await asyncio.to_thread(fault_socket.request, stale, req))["result"]), list)
    finally:
        await new.stop()


async def test_without_a_socket_the_cli_uses_opcua(dev_plc: VirtualPlc, short_tmp: Path) -> None:
    """A CLI whose runtime dir holds no socket for the PLC (another user's session, a PLC without the channel)."""
    ep = ["--dev", "--endpoint", dev_plc.opcua_endpoint]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(short_tmp / "run-none")}
    r = await asyncio.to_thread(subprocess.run, [*PROBE, "plc", "fault", "inject", "h2_leak", "--value", "0.03",
                                                 *ep], env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
    assert r.returncode == 0 and "injected: h2_leak  0.03" in r.stdout, r.stderr
    assert "'asyncua'" in r.stderr, r.stderr  # it went over OPC UA
    assert [f.value for f in dev_plc.plant.faults.active()][-1] == pytest.approx(0.03)
    r = await asyncio.to_thread(subprocess.run, [*H2Q, "plc", "fault", "list", "--via", "local", *ep],
                                env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "locally: " in r.stderr and "No such file or directory" in r.stderr, r.stderr


async def test_local_login_rate_limit(prod_plc: dict[str, Any]) -> None:
    """Failed logins over the socket count as on OPC UA (5 per minute per peer); then even the right password is
    refused. Last test of the production PLC: it stays locked for this uid for a minute."""
    req = {"method": "List", "args": [["Boolean", False]], "user": "teacher", "password": "wrong-password",
           "dev": False}
    path = prod_plc["socket"]

    def ask(r: dict[str, Any]) -> dict[str, Any]:
        return fault_socket.request(path, r)

    assert (await asyncio.to_thread(ask, {**req, "password": "teacher-password"}))["result"] is not None
    replies = [await asyncio.to_thread(ask, req) for _ in range(5)]
    assert all(r["error"] == "refused" and "BadUserAccessDenied" in r["message"] for r in replies), replies
    ok = await asyncio.to_thread(ask, {**req, "password": "teacher-password"})
    assert ok["error"] == "refused" and "BadUserAccessDenied" in ok["message"], ok


async def test_which_endpoints_count_as_local() -> None:
    port = fault_socket.endpoint_port
    assert port("opc.tcp://127.0.0.1:4841/h2quarters/plc") == 4841
    assert port("opc.tcp://localhost/h2quarters/plc") == 4840  # the OPC UA default port
    assert port("opc.tcp://[::1]:4842/x") == 4842 and port(f"opc.tcp://{socket.gethostname()}:4843") == 4843
    assert port("opc.tcp://10.1.2.3:4840/h2quarters/plc") is None
    assert port("opc.tcp://plc.example.org:4840") is None


async def test_cli_also_finds_a_socket_in_the_tmp_directory(dev_plc: VirtualPlc, short_tmp: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A PLC started without XDG_RUNTIME_DIR (a service) serves in /tmp/h2quarters-<uid>; a teacher's shell that
    has XDG_RUNTIME_DIR still finds it."""
    assert dev_plc.opcua is not None
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    port = _free_port()
    ch = FaultChannel(dev_plc.opcua.local_fault_call, port)
    assert ch.directory == Path(f"/tmp/h2quarters-{os.getuid()}") and await ch.start()
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_tmp / "run-shell"))
        assert fault_socket.find_socket(f"opc.tcp://localhost:{port}/h2quarters/plc") == (ch.path, "")
    finally:
        await ch.stop()
    assert not ch.path.exists() and not ch.path.with_suffix(".lock").exists()
    path, why = fault_socket.find_socket(f"opc.tcp://localhost:{port}/h2quarters/plc")
    assert path is None and "run-shell/h2quarters" in why, why
