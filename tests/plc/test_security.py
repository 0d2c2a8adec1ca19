"""OPC UA security profile: production mode refuses anonymous and unencrypted sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncua import Client, ua
from pydantic import ValidationError

from h2quarters.plc.drivers import OpcUaDriver
from h2quarters.plc.opcua_server import OpcUaPlcServer
from h2quarters.plc.plant import PlantState
from h2quarters.plc.security import add_user, hash_password, verify_password
from h2quarters.plc.settings import PlcSettings, Security

from .conftest import START


def test_password_hash_roundtrip_and_no_short_passwords() -> None:
    h = hash_password("correct horse")
    assert verify_password("correct horse", h) and not verify_password("wrong horse!", h)
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("short")


def test_development_mode_only_on_loopback() -> None:
    with pytest.raises(ValidationError, match="only on loopback"):
        PlcSettings(bind_host="0.0.0.0", security=Security(mode="development"))
    assert PlcSettings().bind_host == "127.0.0.1" and PlcSettings().security.mode == "production"


async def test_production_refuses_anonymous_and_unencrypted(tmp_path: Path, scenario, profile) -> None:
    users = tmp_path / "users.yaml"
    add_user(users, "engineer", "s3cret-pass", role="admin")
    settings = PlcSettings(start=START, opcua_port=0, security=Security(
        mode="production", cert_dir=tmp_path / "pki", users_file=users,
        trusted_certs=[tmp_path / "cli" / "client_cert.der"]))
    plant = PlantState(scenario, settings, profile=profile)
    with pytest.raises(ValueError, match="users_file"):
        await OpcUaPlcServer(plant, settings.model_copy(update={"security": Security(cert_dir=tmp_path)})).start()
    server = OpcUaPlcServer(plant, settings)
    await server.start()
    try:
        assert (tmp_path / "pki" / "server_cert.der").is_file()  # created on first start
        # the endpoint list offers Basic256Sha256 Sign&Encrypt with user-name tokens only
        probe = Client(server.endpoint, timeout=5)
        endpoints = await probe.connect_and_get_server_endpoints()
        assert {e.SecurityPolicyUri.rsplit("#", 1)[-1] for e in endpoints} == {"Basic256Sha256"}
        assert {e.SecurityMode for e in endpoints} == {ua.MessageSecurityMode.SignAndEncrypt}
        tokens = {t.TokenType for e in endpoints for t in e.UserIdentityTokens}
        assert tokens == {ua.UserTokenType.UserName}

        # 1) no security at all (None policy, anonymous): the server refuses the session on that channel
        with pytest.raises(ua.UaError, match="No matching endpoints|BadSecurityPolicyRejected"):
            async with Client(server.endpoint, timeout=5):
                pass
        # 1b) a user name and password over the None channel never reach the user manager
        plain = Client(server.endpoint, timeout=5)
        plain.set_user("engineer")
        plain.set_password("s3cret-pass")
        with pytest.raises(ua.UaError, match="BadSecurityPolicyRejected"):
            async with plain:
                pass
        # 2) encrypted but anonymous
        anon = OpcUaDriver(server.endpoint, plant.rmap, secure=True, cert_dir=tmp_path / "cli", timeout_s=3.0)
        assert not await anon.connect()
        assert "BadIdentityTokenRejected" in anon.last_error or "BadUserAccessDenied" in anon.last_error, \
            anon.last_error
        # 3) encrypted, wrong password
        bad = OpcUaDriver(server.endpoint, plant.rmap, user="engineer", password="wrong-pass", secure=True,
                          cert_dir=tmp_path / "cli", timeout_s=3.0)
        assert not await bad.connect()
        assert "BadUserAccessDenied" in bad.last_error, bad.last_error
        # 4) encrypted with a user: works, and writes reach the plant
        good = OpcUaDriver(server.endpoint, plant.rmap, user="engineer", password="s3cret-pass", secure=True,
                           cert_dir=tmp_path / "cli", timeout_s=3.0)
        r = await good.read_all()
        assert good.connected and all(x.valid for x in r.values())
        await good.write("el_production_rate_pct", 64)
        assert plant.hold["el_production_rate_pct"] == 64
        await good.close()
    finally:
        await server.stop()
