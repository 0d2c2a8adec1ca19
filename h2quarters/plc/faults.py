"""Fault injection for the virtual PLC (teachers' exercises, robustness tests).

A fault either distorts what a sensor reports (the plant itself is unchanged) or changes the plant (a leak, a
failed cooler, a degraded stack) or the communication. Every fault can be *hidden*: it then acts as usual but does
not show in the plant's fault count, NE 107 health or fault list, so that students have to find it from the data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from h2quarters.plc.registers import RegisterMap, Signal

FaultKind = Literal[
    "sensor_stuck", "sensor_drift", "sensor_noise", "sensor_out_of_range",
    "comm_loss", "h2_leak", "cooling_failure", "stack_degradation", "gas_crossover", "inverter_trip",
]


@dataclass(frozen=True)
class FaultSpec:
    """What a fault kind does and what its ``target``/``value`` mean."""

    kind: str
    does: str
    target: str
    value: str
    default_value: float | None


CATALOGUE: dict[str, FaultSpec] = {
    "sensor_stuck": FaultSpec(
        "sensor_stuck", "The sensor keeps reporting one value while the plant moves on.",
        "a measured signal (input register), e.g. tank_pressure_bar",
        "value to report; default: the value at injection", None),
    "sensor_drift": FaultSpec(
        "sensor_drift", "The reading drifts away from the truth at a constant rate (calibration drift).",
        "a measured signal", "drift rate in the signal's unit per hour of plant time", 1.0),
    "sensor_noise": FaultSpec(
        "sensor_noise", "Gaussian noise is added to every reading (seeded, reproducible).",
        "a measured signal", "standard deviation in the signal's unit", 1.0),
    "sensor_out_of_range": FaultSpec(
        "sensor_out_of_range", "The sensor reports a value outside its range (broken wire / sentinel); "
        "drivers must mark it invalid, never use it.",
        "a measured signal", "value to report; default: max + half the span + 1 (outside [min, max])", None),
    "comm_loss": FaultSpec(
        "comm_loss", "The PLC stops serving a protocol: Modbus answers exception 0x0B (gateway target failed to "
        "respond), OPC UA values turn BadNoCommunication and writes fail. Controller heartbeats no longer "
        "arrive, so the PLC watchdog falls back.",
        "modbus, opcua or all", "unused", None),
    "h2_leak": FaultSpec(
        "h2_leak", "Hydrogen leaks from the tank into the electrolyser room; the gas detector (%LEL) rises "
        "according to a well-mixed room model with the current ventilation.",
        "unused", "leak rate in kg/h", 0.2),
    "cooling_failure": FaultSpec(
        "cooling_failure", "The stack cooler stops: the stack heats up while producing until the "
        "temperature interlock trips.", "unused", "unused", None),
    "stack_degradation": FaultSpec(
        "stack_degradation", "Every cell needs extra voltage: more power (and heat) for the same hydrogen.",
        "unused", "extra cell voltage in mV", 50.0),
    "gas_crossover": FaultSpec(
        "gas_crossover", "Hydrogen permeates the membrane to the anode (oxygen) side and leaves with the oxygen "
        "vent: the Faraday efficiency drops, so less H2 reaches the gas counter and the tank for the same stack "
        "current; cell voltage and power stay. The register map has no H2-in-O2 signal, so a real stack's "
        "H2-in-O2 trip is not modelled.",
        "unused", "share of the produced H2 that crosses over, in % (0, 50]", 10.0),
    "inverter_trip": FaultSpec(
        "inverter_trip", "The PV inverter disconnects from the grid: its AC output (pv_power_kw) drops while the "
        "sun still shines, and the grid meter supplies the difference. The map has no irradiance or inverter "
        "status signal; the irradiance the PV would convert is unchanged.",
        "unused", "share of the PV inverter power that is disconnected, in % (0, 100]; 100 = whole inverter", 100.0),
}

SENSOR_KINDS = {"sensor_stuck", "sensor_drift", "sensor_noise", "sensor_out_of_range"}
COMM_TARGETS = ("modbus", "opcua", "all")


@dataclass
class Fault:
    """One active fault."""

    id: int
    kind: str
    target: str | None
    value: float | None
    hidden: bool
    t_start_s: float
    frozen: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for the CLI and OPC UA)."""
        d = asdict(self)
        d.pop("frozen")
        d["does"] = CATALOGUE[self.kind].does
        return d


class FaultInjector:
    """Active faults of one plant and their effect on readings.

    Parameters
    ----------
    rmap : RegisterMap
        To check sensor targets and compute out-of-range sentinels.
    seed : int
        Seed of the noise generator.
    """

    def __init__(self, rmap: RegisterMap, seed: int = 0) -> None:
        self._rmap = rmap
        self._faults: dict[int, Fault] = {}
        self._next_id = 1
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ managing faults
    def inject(self, kind: str, target: str | None = None, value: float | None = None, hidden: bool = False,
               t_s: float = 0.0, current: Any = None) -> Fault:
        """Add a fault and return it.

        Raises
        ------
        ValueError
            Unknown kind, missing/unknown target, or a target of the wrong kind.
        """
        if kind not in CATALOGUE:
            raise ValueError(f"fault kind {kind!r} unknown; allowed: {sorted(CATALOGUE)}")
        spec = CATALOGUE[kind]
        if kind in SENSOR_KINDS:
            sig = self._sensor(target)
            if value is None:
                value = self.out_of_range_value(sig) if kind == "sensor_out_of_range" else spec.default_value
        elif kind == "comm_loss":
            target = target or "all"
            if target not in COMM_TARGETS:
                raise ValueError(f"comm_loss target {target!r} unknown; allowed: {list(COMM_TARGETS)}")
        else:
            target = None
            if value is None:
                value = spec.default_value
            if kind == "h2_leak" and not (value is not None and 0.0 < value <= 100.0):
                raise ValueError(f"h2_leak value (kg/h) = {value!r} outside the allowed range (0, 100]")
            if kind == "stack_degradation" and not (value is not None and 0.0 < value <= 1000.0):
                raise ValueError(f"stack_degradation value (mV) = {value!r} outside the allowed range (0, 1000]")
            if kind == "gas_crossover" and not (value is not None and 0.0 < value <= 50.0):
                raise ValueError(f"gas_crossover value (%) = {value!r} outside the allowed range (0, 50]")
            if kind == "inverter_trip" and not (value is not None and 0.0 < value <= 100.0):
                raise ValueError(f"inverter_trip value (%) = {value!r} outside the allowed range (0, 100]")
        if value is not None and not math.isfinite(float(value)) and kind != "sensor_out_of_range":
            raise ValueError(f"fault value {value!r} must be finite")
        fault = Fault(self._next_id, kind, target, None if value is None else float(value), bool(hidden), t_s,
                      frozen=current)
        self._faults[fault.id] = fault
        self._next_id += 1
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        """Remove one fault (or all with ``None``); returns how many were removed."""
        if fault_id is None:
            n = len(self._faults)
            self._faults.clear()
            return n
        if fault_id not in self._faults:
            raise ValueError(f"no active fault with id {fault_id}; active: {sorted(self._faults)}")
        del self._faults[fault_id]
        return 1

    def active(self, include_hidden: bool = True) -> list[Fault]:
        """Active faults (hidden ones only with ``include_hidden``)."""
        return [f for f in self._faults.values() if include_hidden or not f.hidden]

    def _sensor(self, target: str | None) -> Signal:
        if target is None:
            raise ValueError("sensor faults need target=<signal name> (a measured signal, see docs/register-map.md)")
        sig = self._rmap[target]
        if sig.table != "input" or sig.dtype in ("ascii4", "list16", "bool"):
            raise ValueError(f"sensor fault target {target!r} must be a numeric input signal (measurement)")
        return sig

    @staticmethod
    def out_of_range_value(sig: Signal) -> float:
        """A value outside ``[min, max]`` of a signal (used as the default broken-sensor reading)."""
        lo, hi = sig.limits()
        if math.isfinite(hi) and math.isfinite(lo):
            return hi + 0.5 * (hi - lo) + 1.0
        if math.isfinite(lo):
            return lo - 1000.0
        return float("nan")

    # ------------------------------------------------------------------ effects
    def apply_sensor(self, name: str, true_value: Any, t_s: float) -> Any:
        """Reading of signal ``name`` given its true value at plant time ``t_s``."""
        out = true_value
        for f in self._faults.values():
            if f.target != name or f.kind not in SENSOR_KINDS:
                continue
            if f.kind == "sensor_stuck":
                out = f.value if f.value is not None else f.frozen
            elif f.kind == "sensor_drift":
                out = float(out) + (f.value or 0.0) * (t_s - f.t_start_s) / 3600.0
            elif f.kind == "sensor_noise":
                out = float(out) + float(self._rng.normal(0.0, f.value or 0.0))
            elif f.kind == "sensor_out_of_range":
                out = f.value
        return out

    def comm_lost(self, protocol: str) -> bool:
        """True while a comm_loss fault covers ``protocol`` (``modbus``/``opcua``)."""
        return any(f.kind == "comm_loss" and f.target in (protocol, "all") for f in self._faults.values())

    def leak_kg_per_h(self) -> float:
        """Total H2 leak rate in kg/h."""
        return sum(f.value or 0.0 for f in self._faults.values() if f.kind == "h2_leak")

    def cooling_failed(self) -> bool:
        """True while a cooling_failure fault is active."""
        return any(f.kind == "cooling_failure" for f in self._faults.values())

    def extra_cell_voltage_v(self) -> float:
        """Extra cell voltage in V from stack_degradation faults."""
        return sum((f.value or 0.0) * 1e-3 for f in self._faults.values() if f.kind == "stack_degradation")

    def crossover_fraction(self) -> float:
        """Share (0..1) of the produced H2 lost to the oxygen side by gas_crossover faults (combined)."""
        keep = 1.0
        for f in self._faults.values():
            if f.kind == "gas_crossover":
                keep *= 1.0 - (f.value or 0.0) / 100.0
        return 1.0 - keep

    def inverter_tripped_fraction(self) -> float:
        """Share (0..1) of the PV inverter power disconnected by inverter_trip faults (combined)."""
        on = 1.0
        for f in self._faults.values():
            if f.kind == "inverter_trip":
                on *= 1.0 - (f.value or 0.0) / 100.0
        return 1.0 - on

    def visible_targets(self) -> set[str]:
        """Signal names with a visible sensor fault, plus pseudo-targets for visible plant faults."""
        out: set[str] = set()
        for f in self._faults.values():
            if f.hidden:
                continue
            if f.kind in SENSOR_KINDS and f.target:
                out.add(f.target)
            elif f.kind == "h2_leak":
                out.add("h2_detector_lel_pct")
            elif f.kind in ("cooling_failure", "stack_degradation", "gas_crossover"):
                out.add(f"el:{f.kind}")
            elif f.kind == "comm_loss":
                out.add("comm_loss")
            elif f.kind == "inverter_trip":
                out.add("pv:inverter_trip")
        return out


def catalogue_text() -> str:
    """Human-readable list of fault kinds with what each does."""
    lines = []
    for spec in CATALOGUE.values():
        lines.append(f"{spec.kind}\n  does:   {spec.does}\n  target: {spec.target}\n  value:  {spec.value}")
    return "\n".join(lines)
