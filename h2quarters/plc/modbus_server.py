"""Modbus TCP face of the virtual PLC (pymodbus server).

Each device of the register map is a Modbus unit (electrolyser: unit 1 as on an Enapter EL 2.1; plant PLC: unit
2). Register values are not stored: every read encodes the current :class:`~h2quarters.plc.plant.PlantState`, and
every write is decoded, checked (map limits, PLC state) and applied before it is acknowledged. A refused write
answers exception 03 (illegal data value) and changes nothing; a write that covers only part of a multi-register
signal answers exception 02. While a ``comm_loss`` fault covers Modbus every request answers exception 0x0B.
"""

from __future__ import annotations

import logging

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from h2quarters.plc.plant import PlantState
from h2quarters.plc.registers import RegisterMap, Signal, WriteRefused

log = logging.getLogger(__name__)

_FC_READ_HOLDING, _FC_READ_INPUT = 3, 4
_FC_WRITE = {6, 16}


def _table_blocks(rmap: RegisterMap, device: str, table: str) -> list[SimData]:
    """SimData covering the planned read blocks of one table (reserved gaps inside a block read 0)."""
    out = []
    for b in rmap.blocks():
        if b.device == device and b.table == table:
            out.append(SimData(address=b.start, count=1, values=[0] * b.count, datatype=DataType.REGISTERS))
    return out


class _DeviceAction:
    """pymodbus ``action`` hook of one unit: fills reads from the plant and applies writes to it."""

    def __init__(self, plant: PlantState, device: str) -> None:
        self.plant = plant
        self.device = device
        rmap = plant.rmap
        self.index: dict[str, list[Signal]] = {t: rmap.table_signals(device, t) for t in ("holding", "input")}

    async def __call__(self, function_code: int, start_address: int, address: int, count: int,
                       registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        plant = self.plant
        if plant.faults.comm_lost("modbus"):
            return ExcCodes.GATEWAY_NO_RESPONSE
        plant.touch(self.device)
        table = "input" if function_code == _FC_READ_INPUT else "holding"
        end = address + count
        if set_values is not None and function_code in _FC_WRITE:
            return self._write(address, [int(v) for v in set_values])
        if table == "input" and function_code != _FC_READ_INPUT:
            return ExcCodes.ILLEGAL_FUNCTION
        for sig in self.index[table]:
            if sig.end <= address or sig.address >= end:
                continue
            regs = sig.encode(plant.read(sig.name))
            off = sig.address - start_address
            registers[off: off + len(regs)] = regs
        return None

    def _write(self, address: int, values: list[int]) -> ExcCodes | None:
        end = address + len(values)
        hit = [s for s in self.index["holding"] if s.address < end and s.end > address]
        if not hit or hit[0].address != address or hit[-1].end != end:
            return ExcCodes.ILLEGAL_ADDRESS  # partial signal or reserved register
        pos = 0
        decoded = []
        for s in hit:
            if pos != s.address - address:
                return ExcCodes.ILLEGAL_ADDRESS  # would write a reserved gap
            decoded.append((s, s.decode(values[pos: pos + s.n_regs])))
            pos += s.n_regs
        try:
            for s, v in decoded:  # check all before applying any
                self.plant.validate(s.name, v)
            for s, v in decoded:
                self.plant.write(s.name, v, source="modbus")
        except WriteRefused as exc:
            log.info("modbus %s", exc)
            return ExcCodes.ILLEGAL_VALUE
        return None


def build_devices(plant: PlantState) -> list[SimDevice]:
    """One :class:`SimDevice` per device of the map, wired to the plant."""
    out = []
    for name, dev in plant.rmap.devices.items():
        # (coils, discrete inputs, holding, input); coils/discrete inputs are not used (Enapter uses registers).
        simdata = ([SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                   [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                   _table_blocks(plant.rmap, name, "holding"),
                   _table_blocks(plant.rmap, name, "input"))
        out.append(SimDevice(id=dev.unit_id, simdata=simdata, action=_DeviceAction(plant, name).__call__))
    return out


def make_modbus_server(plant: PlantState, host: str, port: int) -> ModbusTcpServer:
    """A pymodbus TCP server for the plant (not started)."""
    return ModbusTcpServer(build_devices(plant), address=(host, port))


__all__ = ["build_devices", "make_modbus_server"]
