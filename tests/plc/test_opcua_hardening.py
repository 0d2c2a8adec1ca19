"""OPC UA hardening judged by peers: node-opcua (production refusals, roles, restart recovery) and asyncua.

Production mode: sessions only over offered endpoints (no user name over a None channel), unknown client
certificates refused until trusted with `h2q plc trust`, roles on every write and method call, equal work for
unknown and known users on a failed login, a login rate limit. Restart: a node-opcua client that stays connected
gets data again within 5 s. Model: status codes for unknown nodes, wrong arguments and NaN values, timestamps.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
from asyncua import Client, ua

from h2quarters.plc.opcua_hardening import LoginLimiter
from h2quarters.plc.security import PasswordUserManager, add_user, load_users
from h2quarters.plc.settings import PlcSettings, Security
from h2quarters.plc.virtual_plc import VirtualPlc

from .conftest import START, dev_settings
from .test_peers import PEER_DIR, _run, node_peer

ROOT = Path(__file__).resolve().parents[2]
NS = "ns=2;s="


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def prod_plc(tmp_path: Path, scenario, profile):  # noqa: ANN001, ANN201
    users = tmp_path / "users.yaml"
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("ines", "instructor"), ("ada", "admin")):
        add_user(users, name, f"{name}-password", role=role)
    # no controller writes heartbeats here: the longest watchdog the settings allow, so that a slow run on a busy
    # machine (node peers take seconds each) does not meet the watchdog's fallback, which zeroes the setpoints
    settings = PlcSettings(start=START, opcua_port=0, watchdog_timeout_ms=600_000, watchdog_max_ms=600_000,
                           security=Security(mode="production", cert_dir=tmp_path / "pki", users_file=users,
                                             trusted_certs=[tmp_path / "cli" / "client_cert.der"]))
    plc = VirtualPlc(scenario, settings, profile=profile)
    await plc.start(modbus=False)
    try:
        yield plc
    finally:
        await plc.stop()


async def test_production_refusals_trust_list_and_roles_with_node_opcua(prod_plc: VirtualPlc, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plc = prod_plc
    pki = tmp_path / "node-pki"
    base = {"endpoint": plc.opcua_endpoint, "pkiFolder": str(pki), "reads": [f"{NS}Plant.Storage.Pressure"]}
    secure = base | {"securityMode": "SignAndEncrypt"}
    # a user name over a None channel is refused by the server (the password is never checked)
    plain = await node_peer(base | {"user": "ada", "password": "ada-password"})
    assert plain["_rc"] == 2, plain
    # a client certificate nobody trusted is refused
    untrusted = await node_peer(secure | {"user": "ada", "password": "ada-password"})
    assert untrusted["_rc"] == 2, untrusted
    certs = sorted((pki / "own" / "certs").glob("*.pem"))
    assert certs, list(pki.rglob("*"))
    rc, out = await _run(sys.executable, "-c", "from h2quarters.cli import main; main()", "plc", "trust",
                         str(certs[0]), "--config", str(_settings_file(tmp_path, plc)))
    assert rc == 0 and "trusted" in out, out

    inject = {"objectId": f"{NS}Plant.Faults", "methodId": f"{NS}Plant.Faults.Inject",
              "args": [{"dataType": "String", "value": "sensor_stuck"},
                       {"dataType": "String", "value": "h2_detector_lel_pct"},
                       {"dataType": "Double", "value": 0.0}, {"dataType": "Boolean", "value": True}]}
    start = {"objectId": f"{NS}Plant.Electrolyser", "methodId": f"{NS}Plant.Electrolyser.Stop"}
    rate = {"nodeId": f"{NS}Plant.Electrolyser.ProductionRate", "dataType": "Float", "value": 40.0}
    begin = {"nodeId": f"{NS}Plant.Electrolyser.Configuration.Begin", "dataType": "UInt16", "value": 1}
    jobs = {
        "vera": {"writes": [rate], "calls": [start]},
        "otto": {"writes": [rate, begin], "calls": [start, inject]},
        "ines": {"calls": [inject]},
        "ada": {"writes": [begin]},
    }
    res = {}
    for user, job in jobs.items():
        res[user] = await node_peer(secure | job | {"user": user, "password": f"{user}-password"})
        assert res[user]["_rc"] == 0, res[user]
        assert res[user]["reads"][f"{NS}Plant.Storage.Pressure"]["status"] == "Good"  # everyone reads
    w = lambda u, n: res[u]["writes"][f"{NS}Plant.Electrolyser.{n}"]  # noqa: E731
    c = lambda u, n: res[u]["calls"][f"{NS}Plant.{n}"]  # noqa: E731
    assert w("vera", "ProductionRate") == "BadUserAccessDenied" and c("vera", "Electrolyser.Stop") == \
        "BadUserAccessDenied"
    assert w("otto", "ProductionRate") == "Good" and c("otto", "Electrolyser.Stop") == "Good"
    # an operator cannot plant a hidden stuck gas detector, nor open a configuration transaction
    assert c("otto", "Faults.Inject") == "BadUserAccessDenied"
    assert w("otto", "Configuration.Begin") == "BadUserAccessDenied"
    assert c("ines", "Faults.Inject") == "Good" and w("ada", "Configuration.Begin") == "Good"
    assert [f.kind for f in plc.plant.faults.active()] == ["sensor_stuck"]  # only the instructor's
    assert plc.plant.hold["el_production_rate_pct"] == 40.0 and plc.plant.config_open

    # the teacher's CLI over Sign&Encrypt: it pins the PLC's certificate on first use (later calls skip the
    # endpoint discovery), notices a changed one, and is subject to the same roles
    from typer.testing import CliRunner

    from h2quarters.cli import app
    from h2quarters.cli import plc as plc_cli
    from h2quarters.plc.fault_client import pinned_server_cert

    monkeypatch.setattr(plc_cli, "CLIENT_PKI", tmp_path / "cli")  # its certificate is trusted by the fixture

    def h2q(user: str, *args: str) -> tuple[int, str]:
        r = CliRunner().invoke(app, ["plc", "fault", *args, "--endpoint", plc.opcua_endpoint, "--user", user,
                                     "--password", f"{user}-password", "--via", "opcua"])  # not the local socket
        return r.exit_code, r.output

    pin = pinned_server_cert(tmp_path / "cli", plc.opcua_endpoint)
    server_der = (plc.settings.security.cert_dir / "server_cert.der").read_bytes()
    for _ in range(2):  # first call pins, second uses the pin
        rc, out = await asyncio.to_thread(h2q, "ines", "list", "--all")
        assert rc == 0 and "sensor_stuck" in out and "warning" not in out, out
        assert pin.read_bytes() == server_der
    pin.write_bytes((tmp_path / "cli" / "client_cert.der").read_bytes())  # as if the PLC had a new PKI
    rc, out = await asyncio.to_thread(h2q, "ines", "list", "--all")
    assert rc == 0 and "sensor_stuck" in out and "has a new certificate" in out, out
    assert pin.read_bytes() == server_der
    rc, out = await asyncio.to_thread(h2q, "otto", "inject", "h2_leak", "--value", "0.1")
    assert rc == 2 and "BadUserAccessDenied" in out, out
    assert [f.kind for f in plc.plant.faults.active()] == ["sensor_stuck"]


def _settings_file(tmp_path: Path, plc: VirtualPlc) -> Path:
    p = tmp_path / "plc.yaml"
    p.write_text(f"security:\n  cert_dir: {plc.settings.security.cert_dir}\n")
    return p


def test_failed_login_costs_the_same_for_unknown_users(tmp_path: Path) -> None:
    """User enumeration by timing: an unknown user runs the same scrypt as a known one (ratio, not a time)."""
    users = tmp_path / "u.yaml"
    add_user(users, "known", "known-password")
    um = PasswordUserManager(load_users(users))

    def cost(name: str) -> float:
        t = []
        for _ in range(5):
            t0 = time.perf_counter()
            assert um.get_user(None, username=name, password="wrong-password") is None
            t.append(time.perf_counter() - t0)
        return sorted(t)[2]

    ratio = cost("nobody") / cost("known")
    assert 0.5 < ratio < 2.0, ratio  # was 0.02 (0.8 ms vs 45 ms) before


def test_login_limiter_window() -> None:
    now = [0.0]
    lim = LoginLimiter(max_failures=3, window_s=60.0, clock=lambda: now[0])
    for _ in range(3):
        assert not lim.locked("10.0.0.5")
        lim.failed("10.0.0.5")
    assert lim.locked("10.0.0.5") and not lim.locked("10.0.0.6")
    now[0] = 61.0
    assert not lim.locked("10.0.0.5")


async def test_rate_limit_refuses_even_the_right_password_after_failures(prod_plc: VirtualPlc,
                                                                         tmp_path: Path) -> None:
    from h2quarters.plc.drivers import OpcUaDriver

    plc = prod_plc
    server = plc.opcua.server  # type: ignore[union-attr]
    server.limiter.max_failures = 3
    cli = tmp_path / "cli"  # listed in security.trusted_certs by the fixture

    async def login(pw: str) -> str:
        d = OpcUaDriver(plc.opcua_endpoint, plc.plant.rmap, user="ada", password=pw, secure=True, cert_dir=cli,
                        timeout_s=3.0)
        ok = await d.connect()
        err = d.last_error
        await d.close()
        return "ok" if ok else err

    assert await login("ada-password") == "ok"
    for _ in range(3):
        assert "BadUserAccessDenied" in await login("wrong-password")
    assert "BadUserAccessDenied" in await login("ada-password")  # locked out for the window
    server.limiter.window_s = 0.0
    assert await login("ada-password") == "ok"


async def test_status_codes_timestamps_and_arguments(scenario, profile) -> None:
    plc = VirtualPlc(scenario, dev_settings(), profile=profile)
    await plc.start(modbus=False)
    try:
        async with Client(plc.opcua_endpoint, timeout=5) as c:
            idx = await c.get_namespace_index("urn:h2quarters:plc")
            unknown = c.get_node(ua.NodeId("Plant.NoSuchThing", idx))
            with pytest.raises(ua.UaStatusCodeError, match="BadNodeIdUnknown"):
                await unknown.read_value()
            flow = await c.get_node(ua.NodeId("Plant.Electrolyser.H2Flow", idx)).read_data_value(raise_on_bad_status=False)
            assert math.isnan(plc.plant.read("el_h2_flow_nlh"))  # not producing: NaN
            assert flow.StatusCode.name == "BadNoData"
            p = await c.get_node(ua.NodeId("Plant.Storage.Pressure", idx)).read_data_value()
            assert p.StatusCode.is_good() and p.SourceTimestamp is not None and p.ServerTimestamp is not None
            # information model (OPC UA Part 8): analog items with range and unit, enumerations with names
            pn = c.get_node(ua.NodeId("Plant.Storage.Pressure", idx))
            assert (await pn.read_type_definition()) == ua.NodeId(ua.ObjectIds.AnalogItemType)
            rng = await c.get_node(ua.NodeId("Plant.Storage.Pressure.EURange", idx)).read_value()
            assert (rng.Low, rng.High) == (0.0, 350.0)
            eu = await c.get_node(ua.NodeId("Plant.Storage.Pressure.EngineeringUnits", idx)).read_value()
            assert eu.DisplayName.Text == "bar"
            health = c.get_node(ua.NodeId("Plant.Electrolyser.Health", idx))
            assert (await health.read_type_definition()) == ua.NodeId(ua.ObjectIds.MultiStateDiscreteType)
            names = await c.get_node(ua.NodeId("Plant.Electrolyser.Health.EnumStrings", idx)).read_value()
            assert [t.Text for t in names] == ["NORMAL", "FAILURE", "CHECK_FUNCTION", "OFF_SPEC",
                                               "MAINTENANCE_REQUIRED"]
            mtp = await c.get_node(ua.NodeId("Plant.Electrolyser.Service.StateCur.EnumValues", idx)).read_value()
            assert {v.Value: v.DisplayName.Text for v in mtp}[64] == "Execute"
            # Republish: an unknown sequence number / subscription is an error, not an empty Good message
            class _Handler:
                def datachange_notification(self, *a: object) -> None: ...

            sub = await c.create_subscription(100, _Handler())
            req = ua.RepublishRequest()
            req.Parameters.SubscriptionId, req.Parameters.RetransmitSequenceNumber = sub.subscription_id, 987654
            with pytest.raises(ua.UaStatusCodeError, match="BadMessageNotAvailable"):
                await c.uaclient.protocol.send_request(req)
            req.Parameters.SubscriptionId = sub.subscription_id + 1
            with pytest.raises(ua.UaStatusCodeError, match="BadSubscriptionIdInvalid"):
                await c.uaclient.protocol.send_request(req)
            first_id = sub.subscription_id
            await sub.delete()
            faults = c.get_node(ua.NodeId("Plant.Faults", idx))
            with pytest.raises(ua.UaStatusCodeError, match="BadArgumentsMissing"):
                await faults.call_method(ua.NodeId("Plant.Faults.Inject", idx), "h2_leak")
            with pytest.raises(ua.UaStatusCodeError, match="BadTooManyArguments"):
                await faults.call_method(ua.NodeId("Plant.Faults.Clear", idx), ua.Variant(0, ua.VariantType.UInt32),
                                         ua.Variant(1, ua.VariantType.UInt32))
            with pytest.raises(ua.UaStatusCodeError, match="BadInvalidArgument"):
                await faults.call_method(ua.NodeId("Plant.Faults.Clear", idx), "all")
    finally:
        await plc.stop()
    # a restarted server does not hand out the ids of the one before (asyncua counted from 78 every time)
    again = VirtualPlc(scenario, dev_settings(), profile=profile, plant=plc.plant)
    await again.start(modbus=False)
    try:
        async with Client(again.opcua_endpoint, timeout=5) as c:
            sub = await c.create_subscription(100, _Handler())
            assert sub.subscription_id not in (first_id, first_id + 1) and first_id > 1000
    finally:
        await again.stop()


async def test_node_opcua_client_gets_data_again_within_5_s_after_plc_restart(scenario, profile) -> None:
    node = shutil.which("node")
    assert node and (PEER_DIR / "node_modules" / "node-opcua-client").is_dir()
    port = _free_port()
    settings = dev_settings(speed=60.0, opcua_port=port)
    plc = VirtualPlc(scenario, settings, profile=profile)
    await plc.start(modbus=False)
    job = {"endpoint": plc.opcua_endpoint, "nodeId": f"{NS}Plant.Controller.PlantTime", "seconds": 120}
    proc = await asyncio.create_subprocess_exec(node, str(PEER_DIR / "subscribe.mjs"), json.dumps(job),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[dict] = []

    async def next_data(after_ms: float, timeout_s: float) -> dict:
        assert proc.stdout is not None
        end = time.monotonic() + timeout_s
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), max(end - time.monotonic(), 0.01))
            assert line, lines
            if line.startswith(b"{"):
                msg = json.loads(line)
                lines.append(msg)
                if "value" in msg and msg["t"] > after_ms:
                    return msg

    try:
        await next_data(0, 20)  # subscribed, data flows
        plant = plc.plant
        await plc.stop()
        await asyncio.sleep(1.0)
        plc = VirtualPlc(scenario, settings, profile=profile, plant=plant)
        await plc.start(modbus=False)
        t_up = time.time() * 1000.0
        try:
            msg = await next_data(t_up, 5.0)
        except TimeoutError:
            pytest.fail(f"no data within 5 s after the restart; node-opcua said: {lines[-8:]}")
        assert msg["status"] == "Good" and (msg["t"] - t_up) < 5000, lines[-5:]
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await plc.stop()


async def _prod_client(plc: VirtualPlc, tmp_path: Path, user: str) -> Client:
    """An asyncua client of the production PLC (Sign&Encrypt, trusted certificate, ``user``'s password)."""
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

    from h2quarters.plc.security import ensure_client_certificate

    cert, key = await ensure_client_certificate(tmp_path / "cli", "urn:h2quarters:driver")  # trusted by fixture
    c = Client(plc.opcua_endpoint, timeout=5)
    c.application_uri = "urn:h2quarters:driver"
    await c.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                         mode=ua.MessageSecurityMode.SignAndEncrypt)
    c.set_user(user)
    c.set_password(f"{user}-password")
    return c


async def test_roles_two_state_booleans_and_revoked_users_lose_sessions_with_asyncua(prod_plc: VirtualPlc,
                                                                                     tmp_path: Path) -> None:
    """Viewer reads (issue #15); booleans are TwoStateDiscreteType with the map's state names.

    A users-file change closes the sessions of users removed from it or whose role was lowered, with their
    subscriptions, without any request from them: nothing more is published to them. Others keep receiving;
    the lowered user logs in again with the lower role only."""
    import contextlib

    import yaml

    plc = prod_plc
    assert plc.opcua is not None and plc.opcua._users is not None
    plc.opcua._users.recheck_s = 0.1
    got: dict[str, list[int]] = {"vera": [], "ines": [], "otto": []}

    class _Handler:
        def __init__(self, user: str) -> None:
            self.user = user

        def datachange_notification(self, node: object, val: int, data: object) -> None:
            got[self.user].append(int(val))

    async def until(cond, what: str, timeout_s: float = 10.0) -> None:  # noqa: ANN001
        t_end = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < t_end, f"{what} within {timeout_s} s; received {got}"
            await asyncio.sleep(0.05)

    async with await _prod_client(plc, tmp_path, "vera") as c:
        idx = await c.get_namespace_index("urn:h2quarters:plc")
        node = lambda s: c.get_node(ua.NodeId(s, idx))  # noqa: E731
        p = await node("Plant.Storage.Pressure").read_data_value()
        assert p.StatusCode.is_good()
        estop = node("Plant.Safety.EmergencyStopActive")
        assert (await estop.read_type_definition()) == ua.NodeId(ua.ObjectIds.TwoStateDiscreteType)
        false_state = (await node("Plant.Safety.EmergencyStopActive.FalseState").read_value()).Text
        true_state = (await node("Plant.Safety.EmergencyStopActive.TrueState").read_value()).Text
        sig = plc.plant.rmap.by_name["estop_active"]
        assert (false_state, true_state) == sig.states == ("released", "pressed")
        # the standard property browse names (namespace 0), as generic clients look them up
        assert await (await estop.get_child("0:TrueState")).read_browse_name() == ua.QualifiedName("TrueState", 0)
        # the server's own namespace is readable (clients need it to stay connected)
        ns = await c.get_node(ua.NodeId(ua.ObjectIds.Server_NamespaceArray)).read_value()
        assert "urn:h2quarters:plc" in ns

    clients, subs = {}, {}
    try:
        for user in got:
            c = clients[user] = await _prod_client(plc, tmp_path, user)
            await c.connect()
            idx = await c.get_namespace_index("urn:h2quarters:plc")
            subs[user] = await c.create_subscription(50, _Handler(user))
            await subs[user].subscribe_data_change(c.get_node(ua.NodeId("Plant.Controller.Heartbeat", idx)))
        plc.plant.write("heartbeat", 101, source="test")
        await until(lambda: all(101 in v for v in got.values()), "every subscriber gets the first value")

        users_file = plc.settings.security.users_file
        data = yaml.safe_load(users_file.read_text())
        del data["users"]["vera"]  # removed
        data["users"]["ines"]["role"] = "operator"  # lowered from instructor
        users_file.write_text(yaml.safe_dump(data))
        service = plc.opcua.server.iserver.subscription_service
        # no request of theirs needed: the server looks at the file by itself
        await until(lambda: set(service.subscriptions) == {subs["otto"].subscription_id},
                    "only otto's subscription is left")
        plc.plant.write("heartbeat", 102, source="test")
        await until(lambda: 102 in got["otto"], "otto still receives")
        await asyncio.sleep(0.5)
        assert 102 not in got["vera"] and 102 not in got["ines"]
        with pytest.raises((ua.UaError, ConnectionError, TimeoutError)):
            await clients["vera"].get_node(ua.NodeId("Plant.Storage.Pressure", 2)).read_value()

        async with await _prod_client(plc, tmp_path, "ines") as c:  # back in, as an operator now
            idx = await c.get_namespace_index("urn:h2quarters:plc")
            with pytest.raises(ua.UaStatusCodeError, match="BadUserAccessDenied"):
                await c.get_node(ua.NodeId("Plant.Faults", idx)).call_method(
                    ua.NodeId("Plant.Faults.List", idx), False)
    finally:
        for c in clients.values():
            with contextlib.suppress(Exception):
                await c.disconnect()
