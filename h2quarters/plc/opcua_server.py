"""OPC UA face of the virtual PLC (asyncua server).

Address space (namespace ``urn:h2quarters:plc``): ``Objects/Plant/<Device>/...`` with one variable per signal of
the register map (string NodeIds ``Plant.Electrolyser.StackCurrent`` etc.): AnalogItemType with ``EngineeringUnits``
(UNECE codes) and ``EURange`` where the map gives a unit and finite limits, enumerations as MultiState(Value)
DiscreteType with their names. Roles (viewer/operator/instructor/admin) are checked on every write and call. Methods: ``Electrolyser``
and ``FuelCell`` ``Start``/``Stop``, ``Safety`` ``ResetTrips``/``PressEmergencyStop``, ``Faults`` ``Inject``/``Clear``/
``List``. MTP service variables (``Service/StateCur``, ``CommandOp``, ``CommandEn``) and NE 107 ``Health`` come
from the map as well.

Values are read from the plant on every Read request (value callbacks), so OPC UA and Modbus always show the same
state; writes go through :meth:`PlantState.write` and are checked before anything changes (BadOutOfRange,
BadNotWritable, BadTypeMismatch or BadInvalidState otherwise). Subscriptions work: after every plant step and
every write, :meth:`OpcUaPlcServer.publish_changes` sends data-change notifications for monitored nodes whose
value or status changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua, uamethod
from asyncua.crypto.permission_rules import User, UserRole

from h2quarters.plc.fault_socket import NO_SECURE_ENDPOINT
from h2quarters.plc.opcua_hardening import CURRENT_USER, HardenedServer, make_trust_validator
from h2quarters.plc.opcua_ids import NAMESPACE_URI, node_id
from h2quarters.plc.plant import PlantState
from h2quarters.plc.registers import Signal, WriteRefused
from h2quarters.plc.security import (
    PasswordUserManager,
    ensure_server_certificate,
    load_users,
    role_rank,
)
from h2quarters.plc.settings import PlcSettings, is_loopback

log = logging.getLogger(__name__)

UNECE_NS = "http://www.opcfoundation.org/UA/units/un/cefact"
# Unit → UNECE Rec. 20 common code (OPC UA Part 8 EUInformation); units without a code get UnitId -1.
UNECE_CODES: dict[str, str] = {
    "kW": "KWT", "kWh": "KWH", "bar": "BAR", "degC": "CEL", "A": "AMP", "V": "VLT", "%": "P1", "%LEL": "P1",
    "kg": "KGM", "kg/h": "E93", "s": "SEC", "ms": "C26",
}
_VTYPE = {
    "bool": ua.VariantType.Boolean, "uint16": ua.VariantType.UInt16, "enum16": ua.VariantType.UInt16,
    "int16": ua.VariantType.Int16, "uint32": ua.VariantType.UInt32, "int32": ua.VariantType.Int32,
    "float32": ua.VariantType.Float, "ascii4": ua.VariantType.String, "list16": ua.VariantType.UInt16,
}


_BITMASKS = {"trips_latched"}  # enum column lists bit values, not states


def status(code: int) -> ua.StatusCode:
    """StatusCode from a ``ua.StatusCodes`` value."""
    return ua.StatusCode(ua.UInt32(code))


def _refused(code: int) -> dict[str, Any]:
    """Reply of a refused call, worded as :func:`h2quarters.plc.fault_client.run` words the OPC UA client's error."""
    exc = ua.UaStatusCodeError(code)
    return {"error": "refused", "message": f"{type(exc).__name__} ({exc})", "warnings": []}


def unece_unit_id(code: str) -> int:
    """OPC UA Part 8 UnitId of a UNECE common code: the code's ASCII bytes as one integer."""
    uid = 0
    for ch in code:
        uid = (uid << 8) | ord(ch)
    return uid


def eu_information(unit: str) -> ua.EUInformation:
    """EUInformation for a map unit (``degC`` is shown as ``°C``)."""
    code = UNECE_CODES.get(unit)
    shown = "°C" if unit == "degC" else unit
    return ua.EUInformation(NamespaceUri=UNECE_NS, UnitId=unece_unit_id(code) if code else -1,
                            DisplayName=ua.LocalizedText(shown), Description=ua.LocalizedText(shown))


def _variant(sig: Signal, value: Any) -> ua.Variant:
    vt = _VTYPE[sig.dtype]
    if sig.dtype == "list16":
        return ua.Variant([int(v) for v in value], vt, is_array=True)
    if sig.dtype == "ascii4":
        return ua.Variant(str(value), vt)
    if sig.dtype == "bool":
        return ua.Variant(bool(value), vt)
    if sig.dtype == "float32" or sig.scaled:  # scaled integers are engineering floats on OPC UA
        return ua.Variant(float(value), ua.VariantType.Float)
    lo, hi = {"uint16": (0, 0xFFFF), "enum16": (0, 0xFFFF), "int16": (-0x8000, 0x7FFF),
              "uint32": (0, 0xFFFFFFFF), "int32": (-0x80000000, 0x7FFFFFFF)}[sig.dtype]
    x = float(value)
    return ua.Variant(0 if math.isnan(x) else int(min(max(round(x), lo), hi)), vt)


class OpcUaPlcServer:
    """asyncua server over a :class:`PlantState`.

    Parameters
    ----------
    plant : PlantState
        The plant to serve.
    settings : PlcSettings
        Bind address, port and security profile.
    """

    def __init__(self, plant: PlantState, settings: PlcSettings, port: int | None = None) -> None:
        self.plant = plant
        self.settings = settings
        self.port = settings.opcua_port if port is None else port
        self.server: Server | None = None
        self.idx = 0
        self._by_nodeid: dict[ua.NodeId, Signal] = {}
        self._methods: dict[ua.NodeId, tuple[str, list[ua.VariantType]]] = {}
        self._last_sent: dict[ua.NodeId, Any] = {}
        self._publish_pending = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.endpoint = ""

    async def start(self) -> None:
        """Build the address space and start listening."""
        # asyncua logs every node it creates and every request at INFO (≈1000 lines at start, ≈400 B/s per client)
        for name in ("asyncua", "pymodbus"):
            lg = logging.getLogger(name)
            if lg.level == logging.NOTSET:
                lg.setLevel(logging.WARNING)
        sec = self.settings.security
        host = self.settings.bind_host
        self._users: PasswordUserManager | None = None
        if sec.mode == "development":
            if not is_loopback(host):
                raise ValueError(f"development mode (no security) only on loopback, not on {host!r}")
            server: Server = HardenedServer()
        else:
            if sec.users_file is None or not Path(sec.users_file).expanduser().exists():
                raise ValueError("production mode needs security.users_file with at least one user "
                                 "(create it with `h2q plc add-user NAME --users-file FILE`)")
            users = load_users(Path(sec.users_file).expanduser())
            if not users:
                raise ValueError(f"users file {sec.users_file} has no users")
            self._users = PasswordUserManager(users, path=Path(sec.users_file).expanduser(),
                                              on_revoke=self._revoke_soon)
            server = HardenedServer(user_manager=self._users)
        await server.init()
        self.endpoint = f"opc.tcp://{host}:{self.port}/h2quarters/plc"
        server.set_endpoint(self.endpoint)
        server.set_server_name("h2quarters virtual PLC")
        await server.set_application_uri(sec.application_uri)
        if sec.mode == "development":
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        else:
            cert, key = await ensure_server_certificate(Path(sec.cert_dir), sec.application_uri)
            await server.load_certificate(str(cert))
            await server.load_private_key(str(key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            server.set_identity_tokens([ua.UserNameIdentityToken])
            trust_dir = Path(sec.trust_dir or Path(sec.cert_dir) / "trusted").expanduser()
            server.set_certificate_validator(make_trust_validator(trust_dir, sec.trusted_certs))
        self.idx = await server.register_namespace(NAMESPACE_URI)
        await self._build(server)
        self._guard_reads(server)
        self._guard_writes(server)
        self._guard_calls(server)
        await server.start()
        self.server = server  # set only once listening, so stop() never stops a server that did not start
        self.plant.listeners.append(self._on_plant_write)
        if self._users is not None:
            self._tasks.add(asyncio.get_running_loop().create_task(self._watch_users()))
        if self.port == 0:
            sockets = server.bserver._server.sockets  # type: ignore[union-attr]
            self.port = sockets[0].getsockname()[1]
            self.endpoint = f"opc.tcp://{host}:{self.port}/h2quarters/plc"

    async def stop(self) -> None:
        """Stop the server."""
        if self._on_plant_write in self.plant.listeners:
            self.plant.listeners.remove(self._on_plant_write)
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def _watch_users(self) -> None:
        """Look at the users file once per ``recheck_s`` even while no request comes in: subscriptions publish
        without requests, and a revoked user's must stop (the manager calls :meth:`_revoke_soon`)."""
        assert self._users is not None
        while True:
            await asyncio.sleep(max(self._users.recheck_s, 0.1))
            self._users.refresh()

    def _revoke_soon(self, names: set[str]) -> None:
        """Users-file change: close the sessions (and subscriptions) of ``names`` (from sync code, in the loop)."""
        if isinstance(self.server, HardenedServer):
            task = asyncio.get_running_loop().create_task(self.server.close_sessions(names))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ address space
    async def _build(self, server: Server) -> None:
        idx = self.idx
        plant_obj = await server.nodes.objects.add_object(node_id("Plant", idx), ua.QualifiedName("Plant", idx))
        folders: dict[str, Any] = {"": plant_obj}

        async def folder(path: str) -> Any:
            if path in folders:
                return folders[path]
            parent_path, _, leaf = path.rpartition("/")
            parent = await folder(parent_path)
            node = await parent.add_object(node_id("Plant." + path.replace("/", "."), idx),
                                           ua.QualifiedName(leaf, idx))
            folders[path] = node
            return node

        for sig in self.plant.rmap.signals:
            parent_path, _, leaf = sig.opcua.rpartition("/")
            parent = await folder(parent_path)
            nodeid = node_id(sig.node_id, idx)
            var = await parent.add_variable(nodeid, ua.QualifiedName(leaf, idx),
                                            _variant(sig, self.plant.read(sig.name)))
            await var.write_attribute(ua.AttributeIds.Description,
                                      ua.DataValue(ua.Variant(ua.LocalizedText(sig.description),
                                                              ua.VariantType.LocalizedText)))
            if sig.writable:
                await var.set_writable()
            if sig.unit:
                await var.add_property(node_id(sig.node_id + ".EngineeringUnits", idx), "EngineeringUnits",
                                       eu_information(sig.unit))
            lo, hi = sig.limits() if sig.dtype not in ("ascii4", "list16") else (math.nan, math.nan)
            has_range = math.isfinite(lo) and math.isfinite(hi) and not sig.enum and sig.dtype in (
                "float32", "uint16", "int16", "uint32", "int32")
            if has_range:
                await var.add_property(node_id(sig.node_id + ".EURange", idx), "EURange",
                                       ua.Range(Low=lo, High=hi))
            await self._type_and_enum(var, sig, idx, has_range)
            self._by_nodeid[nodeid] = sig
            server.iserver.set_attribute_value_callback(nodeid, self._value_callback)

        plant = self.plant

        # Method callbacks are coroutines: asyncua runs plain functions in a thread pool, which would touch
        # the plant from another thread. Errors are returned as status codes (raising gives BadUnexpectedError).
        def _call(name: str, value: Any) -> ua.StatusCode | None:
            if plant.faults.comm_lost("opcua"):
                return status(ua.StatusCodes.BadNoCommunication)
            try:
                plant.write(name, value, source="opcua")
            except WriteRefused as exc:
                log.info("opcua method: %s", exc)
                return status(ua.StatusCodes.BadInvalidState)
            return None

        @uamethod
        async def el_start(parent: Any) -> ua.StatusCode | None:
            return _call("el_start", True)

        @uamethod
        async def el_stop(parent: Any) -> ua.StatusCode | None:
            return _call("el_start", False)

        @uamethod
        async def fc_start(parent: Any) -> ua.StatusCode | None:
            return _call("fc_start", True)

        @uamethod
        async def fc_stop(parent: Any) -> ua.StatusCode | None:
            return _call("fc_start", False)

        @uamethod
        async def reset(parent: Any) -> ua.StatusCode | None:
            return _call("reset", True)

        @uamethod
        async def estop(parent: Any) -> ua.StatusCode | None:
            return _call("estop", True)

        @uamethod
        async def inject(parent: Any, kind: str, target: str, value: float, hidden: bool) -> Any:
            try:
                f = plant.inject_fault(kind, target or None, None if math.isnan(value) else value, hidden)
            except (ValueError, KeyError) as exc:
                log.info("fault inject refused: %s", exc)
                return status(ua.StatusCodes.BadInvalidArgument)
            return ua.Variant(int(f["id"]), ua.VariantType.UInt32)

        @uamethod
        async def clear(parent: Any, fault_id: int) -> Any:
            try:
                n = plant.clear_fault(None if fault_id == 0 else int(fault_id))
            except ValueError:
                return status(ua.StatusCodes.BadInvalidArgument)
            return ua.Variant(n, ua.VariantType.UInt32)

        @uamethod
        async def list_faults(parent: Any, include_hidden: bool) -> str:
            return json.dumps([f.as_dict() for f in plant.faults.active(include_hidden=bool(include_hidden))])

        S, B, D, U = ua.VariantType.String, ua.VariantType.Boolean, ua.VariantType.Double, ua.VariantType.UInt32
        for path, name, fn in (("Electrolyser", "Start", el_start), ("Electrolyser", "Stop", el_stop),
                               ("FuelCell", "Start", fc_start), ("FuelCell", "Stop", fc_stop),
                               ("Safety", "ResetTrips", reset), ("Safety", "PressEmergencyStop", estop)):
            node = await folder(path)
            mid = node_id(f"Plant.{path}.{name}", idx)
            await node.add_method(mid, ua.QualifiedName(name, idx), fn, [], [])
            self._methods[mid] = ("operator", [])
        faults = await folder("Faults")
        for name, fn, args, out, role in (("Inject", inject, [S, S, D, B], [U], "instructor"),
                                          ("Clear", clear, [U], [U], "instructor"),
                                          ("List", list_faults, [B], [S], "instructor")):
            mid = node_id(f"Plant.Faults.{name}", idx)
            await faults.add_method(mid, ua.QualifiedName(name, idx), fn, args, out)
            self._methods[mid] = (role, args)

    async def _type_and_enum(self, var: Any, sig: Signal, idx: int, has_range: bool) -> None:
        """OPC UA Part 8 variable types: AnalogItemType (measured/set quantities with EURange; BaseAnalogType
        without a finite range), MultiStateDiscreteType with EnumStrings for 0..n-1 enumerations,
        MultiStateValueDiscreteType with EnumValues for other codes (MTP states, NE 107 ...), TwoStateDiscreteType
        with FalseState/TrueState for booleans (state names from the map)."""
        new_type: int | None = None
        if sig.states is not None:
            new_type = ua.ObjectIds.TwoStateDiscreteType
            for prop, text in (("FalseState", sig.states[0]), ("TrueState", sig.states[1])):
                await var.add_property(node_id(f"{sig.node_id}.{prop}", idx), prop,
                                       ua.Variant(ua.LocalizedText(text), ua.VariantType.LocalizedText))
        elif sig.unit and sig.dtype not in ("ascii4", "list16", "bool") and not sig.enum:
            new_type = ua.ObjectIds.AnalogItemType if has_range else ua.ObjectIds.BaseAnalogType
        elif sig.enum and sig.name not in _BITMASKS:
            keys = sorted(sig.enum)
            if keys == list(range(len(keys))):
                new_type = ua.ObjectIds.MultiStateDiscreteType
                await var.add_property(node_id(sig.node_id + ".EnumStrings", idx), "EnumStrings",
                                       ua.Variant([ua.LocalizedText(sig.enum[k]) for k in keys],
                                                  ua.VariantType.LocalizedText))
            else:
                new_type = ua.ObjectIds.MultiStateValueDiscreteType
                values = [ua.EnumValueType(Value=int(k), DisplayName=ua.LocalizedText(sig.enum[k]),
                                           Description=ua.LocalizedText(sig.enum[k])) for k in keys]
                await var.add_property(node_id(sig.node_id + ".EnumValues", idx), "EnumValues",
                                       ua.Variant(values, ua.VariantType.ExtensionObject))
        if new_type is not None:
            await var.delete_reference(ua.NodeId(ua.ObjectIds.BaseDataVariableType), ua.ObjectIds.HasTypeDefinition,
                                       bidirectional=False)
            await var.add_reference(ua.NodeId(new_type), ua.ObjectIds.HasTypeDefinition, bidirectional=False)

    def _value_callback(self, nodeid: ua.NodeId, attr: ua.AttributeIds) -> ua.DataValue:
        sig = self._by_nodeid[nodeid]
        if sig.device == "electrolyser":
            self.plant.touch("electrolyser")
        return self._data_value(sig)

    def _data_value(self, sig: Signal) -> ua.DataValue:
        now = datetime.now(UTC)
        if self.plant.faults.comm_lost("opcua"):
            return ua.DataValue(StatusCode=status(ua.StatusCodes.BadNoCommunication), ServerTimestamp=now)
        value = self.plant.read(sig.name)
        code = ua.StatusCodes.Good
        if sig.dtype not in ("ascii4", "list16") and not isinstance(value, bool):
            x = float(value)
            if math.isnan(x):  # NaN is "no value": Bad, never a Good reading
                code = ua.StatusCodes.BadNoData if sig.nan_ok else ua.StatusCodes.BadSensorFailure
            elif not sig.in_range(x):
                code = ua.StatusCodes.UncertainEngineeringUnitsExceeded
        # the plant is sampled now: source and server timestamps are the same instant
        return ua.DataValue(_variant(sig, value), StatusCode=status(code), SourceTimestamp=now, ServerTimestamp=now)

    async def publish_changes(self) -> int:
        """Send data-change notifications for monitored plant nodes whose value/status changed; return count."""
        self._publish_pending = False
        if self.server is None:
            return 0
        aspace = self.server.iserver.aspace
        sent = 0
        for nodeid, sig in self._by_nodeid.items():
            callbacks = aspace[nodeid].attributes[ua.AttributeIds.Value].datachange_callbacks
            if not callbacks:
                continue
            dv = self._data_value(sig)
            key = (dv.Value.Value if dv.Value is not None else None, dv.StatusCode.value if dv.StatusCode else 0)
            if self._last_sent.get(nodeid) == key:
                continue
            self._last_sent[nodeid] = key
            for handle, cb in list(callbacks.items()):
                await cb(handle, dv)
            sent += 1
        return sent

    def _on_plant_write(self) -> None:
        """Plant listener: publish changes soon (coalesced) after a write through any protocol."""
        if not self._publish_pending:
            self._publish_pending = True
            asyncio.get_running_loop().create_task(self.publish_changes())

    def _guard_reads(self, server: Server) -> None:
        """Reads and subscriptions of the plant's namespace need the viewer role (issue #15: viewer reads).

        In production every session belongs to a user of the users file; one removed from the file since
        (or given an unknown role) reads nothing more from the plant: BadUserAccessDenied per node. The server's
        own namespace (0: namespace array, server status) stays readable, clients need it to connect.
        """
        attrs = server.iserver.attribute_service
        subs = server.iserver.subscription_service
        read, create = attrs.read, subs.create_monitored_items
        idx = self.idx

        def denied() -> bool:
            return role_rank(self.request_role()) < role_rank("viewer")

        def guarded_read(params: ua.ReadParameters) -> list[ua.DataValue]:
            if not denied():
                return read(params)
            results: list[ua.DataValue] = []
            for rv in params.NodesToRead:
                if rv.NodeId.NamespaceIndex == idx:
                    results.append(ua.DataValue(StatusCode=status(ua.StatusCodes.BadUserAccessDenied)))
                else:
                    results.extend(read(ua.ReadParameters(NodesToRead=[rv])))
            return results

        async def guarded_create(params: ua.CreateMonitoredItemsParameters) -> list[ua.MonitoredItemCreateResult]:
            if not denied():
                return await create(params)
            results: list[ua.MonitoredItemCreateResult] = []
            for item in params.ItemsToCreate:
                if item.ItemToMonitor.NodeId.NamespaceIndex == idx:
                    res = ua.MonitoredItemCreateResult()
                    res.StatusCode = status(ua.StatusCodes.BadUserAccessDenied)
                    results.append(res)
                else:
                    sub = ua.CreateMonitoredItemsParameters(SubscriptionId=params.SubscriptionId,
                                                            TimestampsToReturn=params.TimestampsToReturn,
                                                            ItemsToCreate=[item])
                    results.extend(await create(sub))
            return results

        attrs.read = guarded_read  # type: ignore[method-assign]
        subs.create_monitored_items = guarded_create  # type: ignore[method-assign]

    def _guard_writes(self, server: Server) -> None:
        """Route writes to plant variables through the plant's checks (nothing reaches the address space)."""
        service = server.iserver.attribute_service
        original = service.write
        plant = self.plant

        async def guarded(params: ua.WriteParameters, user: User | None = None) -> list[ua.StatusCode]:
            user = user if user is not None else User(role=UserRole.Admin)  # asyncua's own default
            rank = role_rank(self.request_role())
            results: list[ua.StatusCode] = []
            for wv in params.NodesToWrite:
                sig = self._by_nodeid.get(wv.NodeId)
                if sig is None or wv.AttributeId != ua.AttributeIds.Value:
                    if rank < role_rank("admin"):  # anything but plant values is configuration
                        results.append(status(ua.StatusCodes.BadUserAccessDenied))
                        continue
                    sub = ua.WriteParameters(NodesToWrite=[wv])
                    results.extend(await original(sub, user=user))
                    continue
                if sig.writable and rank < role_rank(sig.write_role):
                    results.append(status(ua.StatusCodes.BadUserAccessDenied))
                    continue
                results.append(status(self._write_one(sig, wv.Value.Value)))
            return results

        service.write = guarded  # type: ignore[method-assign]
        _ = plant

    def request_role(self) -> str | None:
        """Role of the client whose request is being served (admin for the server's own calls and in
        development mode, where the server listens on loopback only and has no users)."""
        user = CURRENT_USER.get()
        if user is None or self._users is None:
            return "admin"
        return self._users.role(user.name)

    async def local_fault_call(self, user: str | None, password: str | None, dev: bool, method: str,
                               args: list[tuple[str, Any]], peer: str) -> dict[str, Any]:
        """Run ``Plant.Faults.<method>`` for the local fault channel (:mod:`h2quarters.plc.fault_channel`) as an
        OPC UA client's call: the same login (user manager, constant-time failure, rate limit per ``peer``), then
        the guarded method service (roles, argument checks, the same methods). ``dev``: the caller asked for
        development mode (anonymous, no security), refused by a production PLC as on OPC UA.

        Returns the reply of :func:`h2quarters.plc.fault_client.run`: ``{"result", "warnings"}`` or ``{"error":
        "refused", "message"}`` with the message an OPC UA client gets for the same status code.
        """
        server = self.server
        if server is None:
            return {"error": "unreachable", "message": "the PLC is stopping"}
        who: User | None = None
        if self._users is None and not dev:
            return {"error": "mode", "message": NO_SECURE_ENDPOINT, "warnings": []}
        if self._users is not None and dev:  # OPC UA refuses the unsecured channel such a client opens
            return _refused(ua.StatusCodes.BadSecurityPolicyRejected)
        if self._users is not None:
            limiter = server.limiter if isinstance(server, HardenedServer) else None
            if limiter is not None and limiter.locked(peer):
                return _refused(ua.StatusCodes.BadUserAccessDenied)
            who = self._users.get_user(server.iserver, username=user, password=password)
            if who is None:
                if limiter is not None:
                    limiter.failed(peer)
                log.warning("local fault channel: login of %r refused", user)
                return _refused(ua.StatusCodes.BadUserAccessDenied)
        req = ua.CallMethodRequest(ObjectId=node_id("Plant.Faults", self.idx),
                                   MethodId=node_id(f"Plant.Faults.{method}", self.idx),
                                   InputArguments=[ua.Variant(v, getattr(ua.VariantType, t)) for t, v in args])
        token = CURRENT_USER.set(who)
        try:
            (res,) = await server.iserver.method_service.call([req])
        finally:
            CURRENT_USER.reset(token)
        if not res.StatusCode.is_good():
            return _refused(res.StatusCode.value)
        out = res.OutputArguments[0].Value if res.OutputArguments else None
        return {"result": out, "warnings": []}

    def _guard_calls(self, server: Server) -> None:
        """Role and argument checks before plant methods run (asyncua's method service sees no user)."""
        service = server.iserver.method_service
        original = service.call

        async def guarded(methods: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
            rank = role_rank(self.request_role())
            out: list[ua.CallMethodResult] = []
            for m in methods:
                spec = self._methods.get(m.MethodId)
                code = None
                if spec is not None:
                    role, types = spec
                    args = m.InputArguments or []
                    if rank < role_rank(role):
                        code = ua.StatusCodes.BadUserAccessDenied
                    elif len(args) < len(types):
                        code = ua.StatusCodes.BadArgumentsMissing
                    elif len(args) > len(types):
                        code = ua.StatusCodes.BadTooManyArguments
                    else:
                        bad = [a.VariantType != t for a, t in zip(args, types, strict=True)]
                        if any(bad):
                            res = ua.CallMethodResult()
                            res.StatusCode = status(ua.StatusCodes.BadInvalidArgument)
                            res.InputArgumentResults = [status(ua.StatusCodes.BadTypeMismatch if b else
                                                               ua.StatusCodes.Good) for b in bad]
                            out.append(res)
                            continue
                elif rank < role_rank("admin"):
                    code = ua.StatusCodes.BadUserAccessDenied  # server methods (not plant) are configuration
                if code is not None:
                    res = ua.CallMethodResult()
                    res.StatusCode = status(code)
                    out.append(res)
                    continue
                out.extend(await original([m]))
            return out

        service.call = guarded  # type: ignore[method-assign]

    def _write_one(self, sig: Signal, variant: ua.Variant | None) -> int:
        plant = self.plant
        if plant.faults.comm_lost("opcua"):
            return ua.StatusCodes.BadNoCommunication
        if not sig.writable:
            return ua.StatusCodes.BadNotWritable
        value = None if variant is None else variant.Value
        if isinstance(value, (str, bytes, list)) or value is None:
            return ua.StatusCodes.BadTypeMismatch
        try:
            plant.write(sig.name, value, source="opcua")
        except WriteRefused as exc:
            log.info("opcua %s", exc)
            lo, hi = sig.limits()
            x = float(value)
            in_range = lo <= x <= hi and not math.isnan(x)
            return ua.StatusCodes.BadInvalidState if in_range else ua.StatusCodes.BadOutOfRange
        return ua.StatusCodes.Good
