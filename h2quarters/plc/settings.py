"""Settings of the virtual PLC and its drivers: network, watchdog, interlock thresholds, security.

Kept apart from the site scenario (``h2quarters.config``): these describe the automation, not the plant. Loadable
from YAML (:func:`load_plc_settings`); unknown keys are errors.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from h2quarters.config.scenario import Strict

Port = Annotated[int, Field(ge=0, le=65535)]


class Interlocks(Strict):
    """Interlock thresholds of the PLC (independent of any controller).

    Gas-detector levels follow the usual two-stage setting of fixed H2 detectors (alarm 1 / alarm 2 in % of the
    lower explosive limit, LEL of H2 = 4 vol%; cf. EN 60079-29-2 guidance). Pressure and temperature thresholds
    default to the scenario's limits when left empty.
    """

    h2_prealarm_lel_pct: Annotated[float, Field(gt=0.0, le=100.0)] = 10.0
    h2_trip_lel_pct: Annotated[float, Field(gt=0.0, le=100.0)] = 25.0
    tank_p_high_bar: Annotated[float, Field(gt=0.0)] | None = None
    tank_p_low_bar: Annotated[float, Field(ge=0.0)] | None = None
    stack_t_high_c: Annotated[float, Field(gt=0.0, le=150.0)] | None = None

    @model_validator(mode="after")
    def _order(self) -> Interlocks:
        if self.h2_prealarm_lel_pct >= self.h2_trip_lel_pct:
            raise ValueError(
                f"h2_prealarm_lel_pct ({self.h2_prealarm_lel_pct}) must be below h2_trip_lel_pct "
                f"({self.h2_trip_lel_pct})"
            )
        return self


class Room(Strict):
    """Electrolyser room for the H2 dispersion model of the gas detector (well-mixed zone)."""

    volume_m3: Annotated[float, Field(gt=0.0, le=1e5)] = 60.0
    ach_min_per_h: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    ach_max_per_h: Annotated[float, Field(gt=0.0, le=100.0)] = 12.0
    ventilation_default_pct: Annotated[float, Field(ge=0.0, le=100.0)] = 20.0


class Security(Strict):
    """OPC UA security profile.

    ``production``: only Basic256Sha256 Sign&Encrypt with user name/password (users from ``users_file``, roles
    viewer/operator/instructor/admin); certificates are created in ``cert_dir`` on first start; client
    certificates must be in the trust list: ``trust_dir`` (default ``cert_dir/trusted``, managed with
    ``h2q plc trust``) or ``trusted_certs``. ``development``: no security, anonymous, allowed
    only when the server binds to a loopback address.
    """

    mode: Literal["production", "development"] = "production"
    cert_dir: Path = Path("~/.local/share/h2quarters/plc-pki")
    users_file: Path | None = None
    trust_dir: Path | None = None
    trusted_certs: list[Path] = []
    application_uri: str = "urn:h2quarters:virtual-plc"


class PlcSettings(Strict):
    """Virtual PLC settings.

    ``watchdog_timeout_ms`` is the heartbeat watchdog's timeout; the watchdog is armed at start, and until the
    first heartbeat it allows ``max(watchdog_timeout_ms, watchdog_startup_ms)`` (a start-up monitoring time, as
    fieldbus watchdogs have, so that a controller started after the PLC finds no fallback to acknowledge).
    Clients may change the timeout over Modbus/OPC UA only inside ``[watchdog_min_ms, watchdog_max_ms]``. ``state_path``: JSON snapshot of the
    plant's physical state, written atomically every ``state_every_s`` and at stop, restored at start
    (``None``: not persisted, for libraries and tests). ``local_fault_channel``: beside OPC UA, serve the fault
    methods on a Unix-domain socket for ``h2q plc fault`` on this machine (:mod:`h2quarters.plc.fault_channel`).
    """

    bind_host: str = "127.0.0.1"
    modbus_port: Port = 5020
    opcua_port: Port = 4840
    speed: Annotated[float, Field(gt=0.0, le=100_000.0)] = 1.0
    tick_s: Annotated[float, Field(gt=0.0, le=10.0)] = 0.1
    watchdog_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 5000
    watchdog_min_ms: Annotated[int, Field(ge=100, le=600_000)] = 100
    watchdog_max_ms: Annotated[int, Field(ge=100, le=600_000)] = 60_000
    watchdog_startup_ms: Annotated[int, Field(ge=0, le=600_000)] = 30_000
    state_path: Path | None = None
    local_fault_channel: bool = True
    state_every_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 5.0
    start: str | None = None
    seed: int = 0
    interlocks: Interlocks = Interlocks()
    room: Room = Room()
    security: Security = Security()

    @model_validator(mode="after")
    def _watchdog_bounds(self) -> PlcSettings:
        if not self.watchdog_min_ms <= self.watchdog_timeout_ms <= self.watchdog_max_ms:
            raise ValueError(
                f"watchdog_timeout_ms = {self.watchdog_timeout_ms} outside [watchdog_min_ms, watchdog_max_ms] = "
                f"[{self.watchdog_min_ms}, {self.watchdog_max_ms}]"
            )
        return self

    @model_validator(mode="after")
    def _dev_only_on_loopback(self) -> PlcSettings:
        if self.security.mode == "development" and not is_loopback(self.bind_host):
            raise ValueError(
                f"security.mode 'development' (no OPC UA security) is allowed only on loopback; "
                f"bind_host = {self.bind_host!r} is not a loopback address"
            )
        return self


def local_opcua(settings: PlcSettings) -> PlcSettings | None:
    """Settings to serve OPC UA beside Modbus for teachers' tools (``h2q plc fault ...``), or None.

    With a users file the configured (production) profile is kept. Without one, OPC UA is served without
    security only when the PLC binds to loopback, where Modbus already lets any local process write; on other
    addresses it is not served at all. A taken OPC UA port is replaced by any free one.
    """
    sec = settings.security
    if sec.mode == "production" and sec.users_file is None:
        if not is_loopback(settings.bind_host):
            return None
        sec = sec.model_copy(update={"mode": "development"})
    port = settings.opcua_port
    if port:
        import socket

        with socket.socket() as s:
            try:
                s.bind((settings.bind_host, port))
            except OSError:
                port = 0
    return settings.model_copy(update={"security": sec, "opcua_port": port})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_plc_settings(path: Path | None) -> PlcSettings:
    """Load settings from a YAML file (``None`` → defaults).

    Raises
    ------
    h2quarters.config.ConfigError
        If the file is missing or invalid; every problem is listed with its YAML path, line, value and the
        allowed range (the same loader as scenarios and controller settings).
    """
    if path is None:
        return PlcSettings()
    from h2quarters.config import load_yaml_model

    return load_yaml_model(path, PlcSettings)
