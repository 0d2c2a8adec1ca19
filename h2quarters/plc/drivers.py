"""Plant drivers: async Modbus TCP and OPC UA clients behind one interface.

Both drivers read the whole register map, write setpoints and send the controller heartbeat. Common rules
(cf. OpenEMS, Home Assistant Modbus and ``shared/reference/safety-and-security.md``):

- every request has a timeout; requests on one connection are serialised (one ``asyncio.Lock``);
- after a failure the connection is dropped and retried with exponential back-off (``backoff_min_s`` doubling up
  to ``backoff_max_s``); asyncua has no automatic reconnect, so a new client is built each time;
- every value carries a :class:`Quality`; on any failure values become invalid (``value is None``), never the last
  good value; a reading outside the map's ``[min, max]`` (or NaN where not allowed) is ``BAD_RANGE``, not used;
- a write is checked against the map *before* anything is sent (:class:`WriteRefused` names signal, value and
  allowed range); a write the PLC refuses raises :class:`WriteRefused` too, a link failure :class:`DriverError`.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h2quarters.plc.registers import RegisterMap, Signal, WriteRefused

log = logging.getLogger(__name__)


class Quality(enum.IntEnum):
    """Quality of one reading."""

    GOOD = 0
    BAD_NOT_CONNECTED = 1
    BAD_COMM = 2
    BAD_DEVICE = 3
    BAD_RANGE = 4


@dataclass(frozen=True)
class Reading:
    """One value with its quality; ``value`` is None unless the quality is GOOD."""

    value: Any
    quality: Quality
    t_wall_s: float

    @property
    def valid(self) -> bool:
        """True for GOOD readings."""
        return self.quality == Quality.GOOD


class DriverError(RuntimeError):
    """The link failed (not connected, timeout, connection lost); the request's effect is unknown."""


class PlantDriver(abc.ABC):
    """Common part of the drivers: back-off, quality, heartbeat counter."""

    def __init__(self, rmap: RegisterMap, timeout_s: float = 1.0, backoff_min_s: float = 0.5,
                 backoff_max_s: float = 30.0, devices: list[str] | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s = {timeout_s!r} must be > 0")
        unknown = set(devices or []) - set(rmap.devices)
        if unknown:
            raise ValueError(f"devices {sorted(unknown)} unknown; the map has {sorted(rmap.devices)}")
        self.rmap = rmap
        self.devices = list(devices) if devices else list(rmap.devices)
        self.signals = [s for s in rmap.signals if s.device in self.devices]
        self.timeout_s = timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._lock = asyncio.Lock()
        self._backoff_s = backoff_min_s
        self._next_attempt = 0.0
        self._hb = 0
        self.connected = False
        self.n_reconnects = 0
        self.last_error = ""

    # -------------------------------------------------------------- to implement
    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _read_all(self) -> dict[str, Reading]: ...

    @abc.abstractmethod
    async def _write(self, sig: Signal, value: Any) -> None: ...

    # -------------------------------------------------------------- public interface
    async def connect(self) -> bool:
        """Try to connect now (respecting the back-off); return whether connected."""
        async with self._lock:
            return await self._ensure()

    async def close(self) -> None:
        """Close the connection."""
        async with self._lock:
            await self._drop("closed", backoff=False)

    async def read_all(self) -> dict[str, Reading]:
        """Read every signal of the map; invalid readings on any failure."""
        async with self._lock:
            if not await self._ensure():
                return self._invalid(Quality.BAD_NOT_CONNECTED)
            try:
                return await self._read_all()
            except Exception as exc:  # noqa: BLE001 - any link failure invalidates everything
                await self._drop(f"read failed: {exc!r}")
                return self._invalid(Quality.BAD_COMM)

    async def write(self, name: str, value: Any) -> None:
        """Write one setpoint.

        Raises
        ------
        WriteRefused
            Out of range / read-only / wrong type (checked before sending) or refused by the PLC.
        DriverError
            Not connected or the link failed.
        """
        sig = self.rmap[name]
        if sig.device not in self.devices:
            raise WriteRefused(name, value, f"device {sig.device!r} is not served by this driver ({self.devices})")
        v = sig.check_value(value)
        async with self._lock:
            if not await self._ensure():
                raise DriverError(f"write {name}: not connected ({self.last_error})")
            try:
                await self._write(sig, v)
            except (WriteRefused, DriverError):
                raise
            except Exception as exc:
                await self._drop(f"write failed: {exc!r}")
                raise DriverError(f"write {name} = {value!r}: link failed ({exc!r}); effect unknown") from exc

    async def heartbeat(self) -> int:
        """Write the next heartbeat counter value (1 … 65535, wrapping) and return it."""
        self._hb = hb = self._hb % 0xFFFF + 1
        await self.write("heartbeat", hb)
        return hb

    # -------------------------------------------------------------- helpers
    def _invalid(self, q: Quality) -> dict[str, Reading]:
        now = time.time()
        return {s.name: Reading(None, q, now) for s in self.signals}

    def _reading(self, sig: Signal, value: Any, now: float) -> Reading:
        try:
            ok = sig.in_range(value)
        except (TypeError, ValueError):
            ok = False
        return Reading(value, Quality.GOOD, now) if ok else Reading(None, Quality.BAD_RANGE, now)

    async def _ensure(self) -> bool:
        if self.connected:
            return True
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        try:
            await asyncio.wait_for(self._open(), timeout=self.timeout_s * 3)
        except Exception as exc:  # noqa: BLE001
            await self._drop(f"connect failed: {exc!r}")
            return False
        self.connected = True
        self.n_reconnects += 1
        self._backoff_s = self.backoff_min_s
        return True

    async def _drop(self, why: str, backoff: bool = True) -> None:
        self.last_error = why
        if self.connected and backoff:
            log.warning("%s: %s", type(self).__name__, why)
        self.connected = False
        try:
            await self._close()
        except Exception as exc:  # noqa: BLE001 - closing a broken link may fail too
            log.debug("%s: close failed: %r", type(self).__name__, exc)
        if backoff:
            self._next_attempt = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2.0, self.backoff_max_s)


_MODBUS_REFUSALS = {1, 2, 3}
"""Exception codes that mean "not accepted" (illegal function, address, value): nothing was written."""
_MODBUS_COMM_EXCEPTIONS = {0x0A, 0x0B}
"""Gateway path unavailable / gateway target failed to respond: a communication failure behind the server."""


class ModbusDriver(PlantDriver):
    """Modbus TCP driver (pymodbus client); one unit id per device of the map.

    Parameters
    ----------
    host, port : str, int
        Modbus TCP server (the virtual PLC serves all devices; a real Enapter unit listens on port 502).
    devices : list of str, optional
        Devices of the map served at this address (default all), e.g. ``["electrolyser"]`` for a real unit.
    units : dict, optional
        Unit-id overrides per device.
    max_gap : int
        Largest run of unused registers read inside one request. The virtual PLC answers reserved registers
        with 0; for a real device whose undefined registers answer exception 02, use ``max_gap=0`` (one request
        per contiguous run of signals).
    """

    def __init__(self, host: str, port: int, rmap: RegisterMap, timeout_s: float = 1.0,
                 backoff_min_s: float = 0.5, backoff_max_s: float = 30.0, devices: list[str] | None = None,
                 units: dict[str, int] | None = None, max_gap: int = 16) -> None:
        super().__init__(rmap, timeout_s, backoff_min_s, backoff_max_s, devices)
        self.host, self.port = host, port
        self.units = {n: d.unit_id for n, d in rmap.devices.items()} | (units or {})
        self._blocks = [b for b in rmap.blocks(max_gap=max_gap) if b.device in self.devices]
        self._client: Any = None

    async def _open(self) -> None:
        from pymodbus.client import AsyncModbusTcpClient

        # retries=0 and reconnect_delay=0: the driver does its own retry/back-off (one place, observable).
        client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0,
                                      reconnect_delay=0)
        if not await client.connect():
            client.close()
            raise ConnectionError(f"cannot connect to {self.host}:{self.port}")
        self._client = client

    async def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _read_all(self) -> dict[str, Reading]:
        out: dict[str, Reading] = {}
        c = self._client
        for b in self._blocks:
            fn = c.read_input_registers if b.table == "input" else c.read_holding_registers
            rr = await fn(b.start, count=b.count, device_id=self.units[b.device])
            now = time.time()
            if rr.isError():
                # an exception answer: the TCP link is fine, these values are not (gateway codes = comm)
                code = getattr(rr, "exception_code", None)
                q = Quality.BAD_COMM if code in _MODBUS_COMM_EXCEPTIONS else Quality.BAD_DEVICE
                for n in b.signals:
                    out[n] = Reading(None, q, now)
                continue
            for n in b.signals:
                sig = self.rmap[n]
                off = sig.address - b.start
                out[n] = self._reading(sig, sig.decode(rr.registers[off: off + sig.n_regs]), now)
        return out

    async def _write(self, sig: Signal, value: Any) -> None:
        regs = sig.encode(value)
        unit = self.units[sig.device]
        if len(regs) == 1:
            rr = await self._client.write_register(sig.address, regs[0], device_id=unit)
        else:
            rr = await self._client.write_registers(sig.address, regs, device_id=unit)
        if rr.isError():
            code = getattr(rr, "exception_code", None)
            if code in _MODBUS_REFUSALS:
                raise WriteRefused(sig.name, value, f"refused by the PLC (Modbus exception {code})")
            # device failure / busy / gateway: not a refusal, the effect is unknown
            raise DriverError(f"write {sig.name} = {value!r}: Modbus exception {code}; effect unknown")


class OpcUaDriver(PlantDriver):
    """OPC UA driver (asyncua client).

    Parameters
    ----------
    endpoint : str
        ``opc.tcp://host:port/h2quarters/plc``.
    user, password : str, optional
        User authentication (production servers require it).
    secure : bool
        Use Basic256Sha256 Sign&Encrypt with a client certificate from ``cert_dir`` (created if missing).
    """

    def __init__(self, endpoint: str, rmap: RegisterMap, user: str | None = None, password: str | None = None,
                 secure: bool = True, cert_dir: Path | None = None, timeout_s: float = 2.0,
                 backoff_min_s: float = 0.5, backoff_max_s: float = 30.0, devices: list[str] | None = None) -> None:
        super().__init__(rmap, timeout_s, backoff_min_s, backoff_max_s, devices)
        self.endpoint = endpoint
        self.user, self.password = user, password
        self.secure = secure
        self.cert_dir = cert_dir or Path("~/.local/share/h2quarters/client-pki")
        self._client: Any = None
        self._nodes: list[Any] = []
        self._idx = 0

    async def _open(self) -> None:
        from asyncua import Client, ua
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

        from h2quarters.plc.opcua_ids import NAMESPACE_URI, node_id
        from h2quarters.plc.security import ensure_client_certificate

        client = Client(self.endpoint, timeout=self.timeout_s)
        if self.secure:
            cert, key = await ensure_client_certificate(self.cert_dir, "urn:h2quarters:driver")
            client.application_uri = "urn:h2quarters:driver"
            await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                                      mode=ua.MessageSecurityMode.SignAndEncrypt)
        if self.user:
            client.set_user(self.user)
            client.set_password(self.password or "")
        await client.connect()
        try:
            self._idx = await client.get_namespace_index(NAMESPACE_URI)
            self._nodes = [client.get_node(node_id(s.node_id, self._idx)) for s in self.signals]
        except Exception:
            await client.disconnect()
            raise
        self._client = client

    async def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await asyncio.wait_for(client.disconnect(), timeout=self.timeout_s)
            except Exception:  # noqa: BLE001
                client.disconnect_socket()

    async def _read_all(self) -> dict[str, Reading]:
        from asyncua import ua

        dvs = await self._client.read_attributes(self._nodes, ua.AttributeIds.Value)
        now = time.time()
        out: dict[str, Reading] = {}
        for sig, dv in zip(self.signals, dvs, strict=True):
            code = dv.StatusCode.value if dv.StatusCode is not None else ua.StatusCodes.Good
            # the PLC marks NaN Bad and out-of-range Uncertain; judge them as the Modbus driver does
            if code == ua.StatusCodes.BadNoData and sig.nan_ok:
                out[sig.name] = Reading(math.nan, Quality.GOOD, now)
                continue
            if code == ua.StatusCodes.BadSensorFailure:
                out[sig.name] = Reading(None, Quality.BAD_RANGE, now)
                continue
            if code != ua.StatusCodes.UncertainEngineeringUnitsExceeded and not ua.StatusCode(code).is_good():
                q = Quality.BAD_COMM if code == ua.StatusCodes.BadNoCommunication else Quality.BAD_DEVICE
                out[sig.name] = Reading(None, q, now)
                continue
            v = dv.Value.Value if dv.Value is not None else None
            if sig.dtype == "list16":
                v = list(v or [])
            out[sig.name] = self._reading(sig, v, now) if v is not None else Reading(None, Quality.BAD_DEVICE, now)
        return out

    async def _write(self, sig: Signal, value: Any) -> None:
        from asyncua import ua

        from h2quarters.plc.opcua_server import _variant, node_id

        node = self._client.get_node(node_id(sig.node_id, self._idx))
        try:
            await node.write_value(ua.DataValue(_variant(sig, value)))
        except ua.UaStatusCodeError as exc:
            if exc.code in (ua.StatusCodes.BadOutOfRange, ua.StatusCodes.BadInvalidState,
                            ua.StatusCodes.BadNotWritable, ua.StatusCodes.BadTypeMismatch,
                            ua.StatusCodes.BadUserAccessDenied):
                raise WriteRefused(sig.name, value, f"refused by the PLC ({type(exc).__name__})") from None
            raise


def make_driver(url: str, rmap: RegisterMap, **kwargs: Any) -> PlantDriver:
    """Driver for a URL: ``modbus://host:port`` (Modbus TCP) or ``opc.tcp://host:port/path`` (OPC UA).

    Keyword arguments go to :class:`ModbusDriver` / :class:`OpcUaDriver` (timeouts, back-off, devices, user, ...).
    """
    from urllib.parse import urlparse

    u = urlparse(url)
    if u.scheme == "modbus":
        if not u.hostname:
            raise ValueError(f"driver url {url!r}: missing host (modbus://host:port)")
        return ModbusDriver(u.hostname, u.port or 502, rmap, **kwargs)
    if u.scheme == "opc.tcp":
        return OpcUaDriver(url, rmap, **kwargs)
    raise ValueError(f"driver url {url!r}: scheme {u.scheme!r} unknown; allowed: modbus://, opc.tcp://")
