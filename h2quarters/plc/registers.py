"""The register map as data: loading, validation, encoding and request planning.

One YAML file (``register_map.yaml`` beside this module) describes every signal of the plant: Modbus table and
address, data type, unit, range, access, OPC UA node and meaning. The virtual PLC's Modbus and OPC UA servers, the
drivers and ``docs/register-map.md`` are all built from it.

Encoding follows the Enapter EL 2.1 Modbus TCP interface: big-endian, high word first, a bool is one register,
float32 is IEEE 754 over two registers.
"""

from __future__ import annotations

import math
import struct
from functools import cached_property
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DType = Literal["bool", "uint16", "int16", "enum16", "uint32", "int32", "float32", "ascii4", "list16"]
Table = Literal["holding", "input"]

_N_REGS: dict[str, int] = {
    "bool": 1, "uint16": 1, "int16": 1, "enum16": 1, "uint32": 2, "int32": 2, "float32": 2, "ascii4": 2,
}
_INT_LIMITS: dict[str, tuple[int, int]] = {
    "bool": (0, 1), "uint16": (0, 0xFFFF), "enum16": (0, 0xFFFF), "int16": (-0x8000, 0x7FFF),
    "uint32": (0, 0xFFFFFFFF), "int32": (-0x80000000, 0x7FFFFFFF),
}

_SCALABLE = {"uint16", "int16", "uint32", "int32"}

MAX_REGS_PER_READ = 125
"""Modbus limit of registers in one read request (FC 03/04)."""


class WriteRefused(ValueError):
    """A write that the register map (or the PLC) does not allow; nothing was written.

    The message names the signal, the value and the allowed range.
    """

    def __init__(self, name: str, value: Any, reason: str) -> None:
        super().__init__(f"write refused: {name} = {value!r}: {reason}")
        self.name = name
        self.value = value
        self.reason = reason


class Device(BaseModel):
    """A Modbus unit (and OPC UA object) of the map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: int = Field(ge=1, le=247)
    opcua: str
    description: str


class Signal(BaseModel):
    """One signal of the register map.

    ``min``/``max`` may be numbers or ``"$path.in.scenario"`` references, resolved by :meth:`RegisterMap.resolve`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    device: str
    table: Table
    address: int = Field(ge=0, le=65535)
    dtype: DType
    count: int = Field(default=1, ge=1, le=64)
    scale: float = Field(default=1.0, gt=0.0)
    unit: str = ""
    access: Literal["r", "rw"]
    min: float | str | None = None
    max: float | str | None = None
    nan_ok: bool = False
    enum: dict[int, str] | None = None
    states: tuple[str, str] | None = None
    """Booleans: names of the states [false, true] (OPC UA TwoStateDiscreteType FalseState/TrueState)."""
    opcua: str
    source: Literal["enapter", "enapter-3rd", "h2q"]
    write_role: Literal["operator", "instructor", "admin"] = "operator"
    description: str

    @model_validator(mode="after")
    def _check(self) -> Signal:
        if self.access == "rw" and self.table != "holding":
            raise ValueError(f"signal {self.name}: only holding registers can be written (table={self.table})")
        if self.dtype != "list16" and self.count != 1:
            raise ValueError(f"signal {self.name}: count applies to list16 only")
        if self.scale != 1.0 and self.dtype not in _SCALABLE:
            raise ValueError(f"signal {self.name}: scale applies to {sorted(_SCALABLE)} only, not {self.dtype}")
        if (self.dtype == "bool") != (self.states is not None):
            raise ValueError(f"signal {self.name}: states [false, true] are required for bool and only for bool "
                             f"(dtype={self.dtype}, states={self.states})")
        return self

    @property
    def scaled(self) -> bool:
        """True for integer registers with a scale factor (engineering value = raw × scale, a float)."""
        return self.scale != 1.0

    @property
    def n_regs(self) -> int:
        """Number of 16-bit registers the signal occupies."""
        return self.count if self.dtype == "list16" else _N_REGS[self.dtype]

    @property
    def end(self) -> int:
        """First address after the signal."""
        return self.address + self.n_regs

    @property
    def is_float(self) -> bool:
        """True for float32 signals."""
        return self.dtype == "float32"

    @property
    def writable(self) -> bool:
        """True when the signal may be written."""
        return self.access == "rw"

    def limits(self) -> tuple[float, float]:
        """Engineering limits (min, max), numeric; defaults to the data type's limits.

        Raises
        ------
        TypeError
            If a ``$`` reference was not resolved first.
        """
        lo_t, hi_t = _INT_LIMITS.get(self.dtype, (-math.inf, math.inf))
        lo = self.min if self.min is not None else lo_t
        hi = self.max if self.max is not None else hi_t
        if isinstance(lo, str) or isinstance(hi, str):
            raise TypeError(f"signal {self.name}: unresolved scenario reference in min/max ({lo!r}, {hi!r})")
        return float(lo), float(hi)

    # ------------------------------------------------------------------ checks
    def check_value(self, value: Any) -> float | int | bool | str | list[int]:
        """Check a value for writing and return it in the signal's Python type.

        Raises
        ------
        WriteRefused
            If the signal is read-only, the type is wrong or the value is outside ``[min, max]``.
        """
        if not self.writable:
            raise WriteRefused(self.name, value, "signal is read-only")
        if self.dtype in ("ascii4", "list16"):
            raise WriteRefused(self.name, value, f"type {self.dtype} cannot be written")
        if isinstance(value, str):
            raise WriteRefused(self.name, value, f"expected a number for {self.dtype}")
        if self.dtype == "bool":
            if value not in (0, 1, True, False):
                raise WriteRefused(self.name, value, "allowed values are 0 and 1")
            return bool(value)
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise WriteRefused(self.name, value, f"expected a number for {self.dtype}") from None
        if math.isnan(x) or math.isinf(x):
            raise WriteRefused(self.name, value, "NaN/inf is not a setpoint")
        lo, hi = self.limits()
        if self.dtype != "float32":
            raw = x / self.scale
            if abs(raw - round(raw)) > 1e-9 * max(1.0, abs(raw)):
                what = "whole numbers" if not self.scaled else f"multiples of {self.scale:g} {self.unit}".rstrip()
                raise WriteRefused(self.name, value, f"{self.dtype} takes {what}")
            if self.enum is not None and int(x) not in self.enum:
                raise WriteRefused(self.name, value, f"allowed values are {sorted(self.enum)}")
        if not lo <= x <= hi:
            raise WriteRefused(self.name, value, f"allowed range is [{lo:g}, {hi:g}] {self.unit}".rstrip())
        if self.dtype == "float32" or self.scaled:
            return x
        return int(x)

    def in_range(self, value: Any) -> bool:
        """True when a read value is plausible: inside ``[min, max]`` (NaN only where ``nan_ok``)."""
        if self.dtype in ("ascii4", "list16"):
            return True
        x = float(value)
        if math.isnan(x):
            return self.nan_ok
        lo, hi = self.limits()
        return lo <= x <= hi

    # ------------------------------------------------------------------ encoding
    def encode(self, value: Any) -> list[int]:
        """Engineering value → registers (big-endian, high word first).

        Integers are clipped to the data type's bounds (a PLC cannot send more), not to ``[min, max]``, so that
        an out-of-range sensor value reaches the client and can be flagged there.
        """
        if self.dtype == "float32":
            return list(struct.unpack(">HH", struct.pack(">f", float(value))))
        if self.dtype == "ascii4":
            raw = str(value).encode("ascii")[:4].ljust(4, b"\0")
            return list(struct.unpack(">HH", raw))
        if self.dtype == "list16":
            items = [int(v) & 0xFFFF for v in list(value)][: self.count - 1]
            return [len(items), *items] + [0] * (self.count - 1 - len(items))
        lo, hi = _INT_LIMITS[self.dtype]
        x = float(value) / self.scale
        iv = 0 if math.isnan(x) else int(min(max(round(x), lo), hi))
        if self.dtype in ("uint32", "int32"):
            fmt = ">I" if self.dtype == "uint32" else ">i"
            return list(struct.unpack(">HH", struct.pack(fmt, iv)))
        if self.dtype == "int16":
            return [iv & 0xFFFF]
        return [iv]

    def decode(self, regs: list[int]) -> float | int | bool | str | list[int]:
        """Registers → engineering value."""
        if len(regs) != self.n_regs:
            raise ValueError(f"signal {self.name}: expected {self.n_regs} registers, got {len(regs)}")
        if self.dtype == "float32":
            return float(struct.unpack(">f", struct.pack(">HH", *regs))[0])
        if self.dtype == "ascii4":
            return struct.pack(">HH", *regs).rstrip(b"\0").decode("ascii", errors="replace")
        if self.dtype == "list16":
            n = min(regs[0], self.count - 1)
            return list(regs[1 : 1 + n])
        if self.dtype == "bool":
            return bool(regs[0])
        if self.dtype == "int16":
            raw = struct.unpack(">h", struct.pack(">H", regs[0]))[0]
        elif self.dtype == "uint32":
            raw = struct.unpack(">I", struct.pack(">HH", *regs))[0]
        elif self.dtype == "int32":
            raw = struct.unpack(">i", struct.pack(">HH", *regs))[0]
        else:
            raw = int(regs[0])
        return raw * self.scale if self.scaled else raw

    @property
    def node_id(self) -> str:
        """String identifier of the OPC UA node (``Plant.<path with dots>``)."""
        return "Plant." + self.opcua.replace("/", ".")


class Block(BaseModel):
    """A run of registers read with one request (gaps inside are reserved registers that read 0)."""

    model_config = ConfigDict(frozen=True)

    device: str
    table: Table
    start: int
    count: int
    signals: tuple[str, ...]


class RegisterMap(BaseModel):
    """The whole map: devices and signals, with consistency checks (no overlaps, unique names and nodes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    devices: dict[str, Device]
    signals: list[Signal]

    @model_validator(mode="after")
    def _consistent(self) -> RegisterMap:
        names: set[str] = set()
        nodes: set[str] = set()
        for s in self.signals:
            if s.device not in self.devices:
                raise ValueError(f"signal {s.name}: unknown device {s.device!r} (known: {sorted(self.devices)})")
            if s.name in names:
                raise ValueError(f"duplicate signal name {s.name}")
            if s.opcua in nodes:
                raise ValueError(f"duplicate OPC UA node {s.opcua} ({s.name})")
            names.add(s.name)
            nodes.add(s.opcua)
        for dev in self.devices:
            for table in ("holding", "input"):
                sigs = sorted(self.table_signals(dev, table), key=lambda x: x.address)
                for a, b in pairwise(sigs):
                    if b.address < a.end:
                        raise ValueError(f"{dev} {table}: {b.name}@{b.address} overlaps {a.name}@{a.address}")
        return self

    @cached_property
    def by_name(self) -> dict[str, Signal]:
        """Signals by name."""
        return {s.name: s for s in self.signals}

    def __getitem__(self, name: str) -> Signal:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"unknown signal {name!r}; see docs/register-map.md") from None

    def table_signals(self, device: str, table: str) -> list[Signal]:
        """Signals of one device and table, in address order."""
        return sorted((s for s in self.signals if s.device == device and s.table == table), key=lambda s: s.address)

    def blocks(self, max_gap: int = 16, max_len: int = MAX_REGS_PER_READ) -> list[Block]:
        """Group signals into read requests: consecutive signals closer than ``max_gap`` share a request.

        The server exposes the gaps inside a block as reserved registers, so each block is readable in one go.
        """
        out: list[Block] = []
        for dev in self.devices:
            for table in ("holding", "input"):
                cur: list[Signal] = []
                for s in self.table_signals(dev, table):
                    if cur and (s.address - cur[-1].end > max_gap or s.end - cur[0].address > max_len):
                        out.append(_block(dev, table, cur))
                        cur = []
                    cur.append(s)
                if cur:
                    out.append(_block(dev, table, cur))
        return out

    def resolve(self, scenario: Any | None) -> RegisterMap:
        """Return a copy with ``$path`` limits replaced by numbers from the scenario.

        A reference to a component the scenario does not have (e.g. no battery) resolves to 0, so that the
        setpoint only accepts 0.
        """
        sigs = [
            s.model_copy(update={"min": _resolve(s.min, scenario, s.name), "max": _resolve(s.max, scenario, s.name)})
            for s in self.signals
        ]
        return RegisterMap(version=self.version, devices=self.devices, signals=sigs)


def _block(dev: str, table: Table, sigs: list[Signal]) -> Block:
    return Block(device=dev, table=table, start=sigs[0].address, count=sigs[-1].end - sigs[0].address,
                 signals=tuple(s.name for s in sigs))


def _resolve(v: float | str | None, scenario: Any | None, name: str) -> float | None:
    if v is None or isinstance(v, (int, float)):
        return v
    sign = -1.0 if v.startswith("-") else 1.0
    path = v.lstrip("-")
    if not path.startswith("$"):
        raise ValueError(f"signal {name}: limit {v!r} is neither a number nor a $scenario.path")
    obj: Any = scenario
    for part in path[1:].split("."):
        if obj is None:
            return 0.0
        if not hasattr(obj, part):
            raise ValueError(f"signal {name}: scenario has no field {path[1:]!r}")
        obj = getattr(obj, part)
    return 0.0 if obj is None else sign * float(obj)


def default_map_path() -> Path:
    """Path of the register map shipped with the package."""
    return Path(str(resources.files("h2quarters.plc") / "register_map.yaml"))


def load_register_map(path: Path | None = None, scenario: Any | None = None) -> RegisterMap:
    """Load (and with ``scenario``, resolve) the register map.

    Parameters
    ----------
    path
        YAML file; default: the map shipped with h2quarters.
    scenario
        :class:`h2quarters.config.scenario.Scenario` whose sizes fill ``$`` limits; without it the limits stay
        symbolic (enough for documentation).
    """
    p = path or default_map_path()
    with open(p, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    rmap = RegisterMap.model_validate(data)
    return rmap.resolve(scenario) if scenario is not None else rmap
