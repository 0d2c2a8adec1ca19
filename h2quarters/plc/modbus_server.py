"""Modbus TCP face of the virtual PLC (pymodbus server).

Each device of the register map is a Modbus unit (electrolyser: unit 1 as on an Enapter EL 2.1; plant PLC: unit
2). Register values are not stored: every read encodes the current :class:`~h2quarters.plc.plant.PlantState`, and
every write is decoded, checked (map limits, PLC state) and applied before it is acknowledged.

Conformance (Modbus Application Protocol v1.1b3; Enapter supports FC 03, 04, 06, 16 only, and so do we):

- any other function code answers exception 01 (illegal function), with nothing read or written;
- a malformed request of a supported function code answers exception 03 (illegal data value);
- reads outside the planned read blocks answer 02 (illegal data address); unused (reserved) registers *inside*
  a block read 0 so that one request covers the block, and writing them answers 02;
- FC 06 answers with an echo of the request (also for self-clearing command registers such as ``reset``);
- FC 16 is all-or-nothing: every value is checked against the map and the PLC state, and if any is refused
  (exception 03, or 02 for a partial signal or a reserved register) none is applied;
- unit ids other than the map's devices answer exception 0B (gateway target device failed to respond), quietly;
- while a ``comm_loss`` fault covers Modbus every request answers exception 0B.

Modbus TCP has no authentication: anyone who reaches the port may write setpoints. The protection is the bind
address (loopback by default) and network segmentation (IEC 62443 zones and conduits), see README "Security".
"""

from __future__ import annotations

import logging
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from h2quarters.plc.plant import PlantState
from h2quarters.plc.registers import Block, RegisterMap, Signal, WriteRefused

log = logging.getLogger(__name__)

FC_READ_HOLDING, FC_READ_INPUT, FC_WRITE_SINGLE, FC_WRITE_MULTIPLE = 3, 4, 6, 16
SUPPORTED_FCS = frozenset({FC_READ_HOLDING, FC_READ_INPUT, FC_WRITE_SINGLE, FC_WRITE_MULTIPLE})


class _RefusedRequest(ModbusPDU):
    """A request answered with an exception without touching the plant (unsupported FC or malformed frame)."""

    function_code = 0

    def __init__(self, function_code: int, code: ExcCodes) -> None:
        super().__init__()
        self.function_code = function_code
        self.code = code

    async def datastore_update(self, context: Any, device_id: int) -> ModbusPDU:
        return ExceptionResponse(self.function_code, self.code)


class _ConformingDecoder(DecodePDU):
    """Server-side decoder that turns unsupported function codes into exception 01 and bad frames into 03.

    pymodbus itself decodes (and acknowledges) coil and file-record function codes, and answers an unknown code
    with function code 0x80 instead of ``fc | 0x80``.
    """

    def decode(self, frame: bytes) -> ModbusPDU | None:
        fc = int(frame[0]) if frame else 0
        if fc & 0x80 or fc not in SUPPORTED_FCS:
            return _RefusedRequest(fc & 0x7F, ExcCodes.ILLEGAL_FUNCTION)
        pdu = super().decode(frame)
        return pdu if pdu is not None else _RefusedRequest(fc, ExcCodes.ILLEGAL_VALUE)


class PlantContext:
    """pymodbus datastore over the plant: one unit per device of the map, values computed on every request."""

    def __init__(self, plant: PlantState) -> None:
        self.plant = plant
        rmap: RegisterMap = plant.rmap
        self.units: dict[int, str] = {dev.unit_id: name for name, dev in rmap.devices.items()}
        self.index: dict[tuple[str, str], list[Signal]] = {
            (d, t): rmap.table_signals(d, t) for d in rmap.devices for t in ("holding", "input")}
        self.blocks: dict[tuple[str, str], list[Block]] = {}
        for b in rmap.blocks():
            self.blocks.setdefault((b.device, b.table), []).append(b)
        self._echo: tuple[int, int, list[int]] | None = None

    def device_ids(self) -> list[int]:
        """Unit ids served."""
        return list(self.units)

    def _device(self, device_id: int, func_code: int, allowed: tuple[int, ...]) -> str | ExcCodes:
        """The device a request addresses, or the exception that answers it: unknown unit or Modbus covered by a
        ``comm_loss`` fault → 0B, a function code this operation does not serve → 01."""
        device = self.units.get(device_id)
        if device is None or self.plant.faults.comm_lost("modbus"):
            return ExcCodes.GATEWAY_NO_RESPONSE
        if func_code not in allowed:
            return ExcCodes.ILLEGAL_FUNCTION
        return device

    def _in_block(self, device: str, table: str, address: int, count: int) -> bool:
        return any(b.start <= address and address + count <= b.start + b.count
                   for b in self.blocks.get((device, table), []))

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | ExcCodes:
        """Registers of a read (or the echo of the FC 06 just applied)."""
        if func_code == FC_WRITE_SINGLE and self._echo and self._echo[:2] == (device_id, address):
            regs = self._echo[2]
            self._echo = None
            return regs
        device = self._device(device_id, func_code, (FC_READ_HOLDING, FC_READ_INPUT))
        if isinstance(device, ExcCodes):
            return device
        plant = self.plant
        table = "input" if func_code == FC_READ_INPUT else "holding"
        if not self._in_block(device, table, address, count):
            return ExcCodes.ILLEGAL_ADDRESS
        plant.touch(device)
        out = [0] * count
        end = address + count
        for sig in self.index[(device, table)]:
            if sig.end <= address or sig.address >= end:
                continue
            regs = sig.encode(plant.read(sig.name))
            for i, r in enumerate(regs):
                pos = sig.address + i - address
                if 0 <= pos < count:
                    out[pos] = r
        return out

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: list[int] | list[bool]) -> ExcCodes | None:
        """Apply a write (FC 06/16) all-or-nothing; an exception code if refused."""
        self._echo = None
        device = self._device(device_id, func_code, (FC_WRITE_SINGLE, FC_WRITE_MULTIPLE))
        if isinstance(device, ExcCodes):
            return device
        plant = self.plant
        plant.touch(device)
        regs = [int(v) for v in values]
        end = address + len(regs)
        hit = [s for s in self.index[(device, "holding")] if s.address < end and s.end > address]
        if not hit or hit[0].address != address or hit[-1].end != end:
            return ExcCodes.ILLEGAL_ADDRESS  # partial signal or reserved register
        items: list[tuple[str, Any]] = []
        pos = 0
        for s in hit:
            if pos != s.address - address:
                return ExcCodes.ILLEGAL_ADDRESS  # would write a reserved gap
            items.append((s.name, s.decode(regs[pos: pos + s.n_regs])))
            pos += s.n_regs
        try:
            plant.write_many(items, source="modbus")
        except WriteRefused as exc:
            log.debug("modbus %s", exc)
            return ExcCodes.ILLEGAL_VALUE
        if func_code == FC_WRITE_SINGLE:
            self._echo = (device_id, address, regs)
        return None


class PlcModbusServer(ModbusTcpServer):
    """pymodbus TCP server over a :class:`PlantContext`, with the conforming decoder."""

    def __init__(self, plant: PlantState, host: str, port: int) -> None:
        # pymodbus requires a SimDevice to build; its datastore is replaced by the plant context right after.
        dummy = SimDevice(id=1, simdata=[SimData(0, values=[0], datatype=DataType.REGISTERS)])
        super().__init__(dummy, address=(host, port))
        self.context = PlantContext(plant)  # type: ignore[assignment]
        self.decoder = _ConformingDecoder(True)


def make_modbus_server(plant: PlantState, host: str, port: int) -> ModbusTcpServer:
    """A Modbus TCP server for the plant (not started)."""
    return PlcModbusServer(plant, host, port)


__all__ = ["PlantContext", "PlcModbusServer", "SUPPORTED_FCS", "make_modbus_server"]
