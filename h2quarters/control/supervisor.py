"""The supervisor: turns readings into alarm conditions and decides when the controller must go SAFE.

Pure logic with debounce counters (no I/O), evaluated once per cycle. Conditions (code → severity):

- ``link_lost`` (alarm, SAFE): ``link_debounce_polls`` consecutive polls without a valid reading;
- ``invalid:<signal>`` (alarm, SAFE): a critical signal invalid (NE 107 / quality not GOOD, out of range) for
  ``invalid_debounce_polls`` consecutive polls while the link is up;
- ``trip:<interlock>`` (trip, SAFE): a latched PLC interlock (pre-alarm excepted);
- ``h2_prealarm`` (warning): gas detector above its first threshold (the PLC ventilates by itself);
- ``plc_watchdog`` (alarm, SAFE): the PLC's heartbeat watchdog has fallen back;
- ``plc_safe`` (alarm, SAFE): the PLC reports operating mode *safe* although the controller did not ask for it;
- ``lease_expired`` (alarm, SAFE), ``plan_expired`` (alarm, SAFE): set by the controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from h2quarters.plc.drivers import Reading
from h2quarters.plc.plant import H2_PREALARM, TRIP_NAMES, WATCHDOG

CRITICAL_SIGNALS = ("tank_pressure_bar", "h2_detector_lel_pct", "el_electrolyte_temperature_c", "trips_latched",
                    "operating_mode", "watchdog_alarm", "estop_active")
"""Signals without which the plant cannot be supervised."""

SAFE_CODES_PREFIX = ("link_lost", "invalid:", "trip:", "plc_watchdog", "plc_safe", "lease_expired", "plan_expired")


@dataclass(frozen=True)
class Condition:
    """One present alarm condition."""

    code: str
    severity: str
    message: str
    safe: bool


@dataclass
class Supervisor:
    """Debounced evaluation of the plant readings (one instance per controller)."""

    link_debounce_polls: int = 3
    invalid_debounce_polls: int = 3
    failed_polls: int = 0
    invalid_polls: dict[str, int] = field(default_factory=dict)

    @property
    def link_ok(self) -> bool:
        """False once the link counts as lost (debounced)."""
        return self.failed_polls < self.link_debounce_polls

    def reset(self) -> None:
        """Forget debounce history (after an acknowledged SAFE)."""
        self.invalid_polls.clear()

    def evaluate(self, readings: dict[str, Reading], plc_safe_expected: bool) -> list[Condition]:
        """Conditions present now.

        Parameters
        ----------
        readings
            Latest readings of all signals (from the driver).
        plc_safe_expected
            True while the controller itself is OFF or SAFE (then the PLC's mode 3/0 is not an alarm).
        """
        out: list[Condition] = []
        any_valid = any(r.valid for r in readings.values())
        self.failed_polls = 0 if any_valid else self.failed_polls + 1
        if not self.link_ok:
            out.append(Condition("link_lost", "alarm",
                                 f"PLC link lost: {self.failed_polls} polls without valid data", True))
            return out  # nothing else can be judged without data
        if not any_valid:
            return out  # within the debounce: no verdict yet
        for name in CRITICAL_SIGNALS:
            r = readings.get(name)
            bad = r is None or not r.valid
            n = self.invalid_polls.get(name, 0) + 1 if bad else 0
            self.invalid_polls[name] = n
            if n >= self.invalid_debounce_polls:
                q = "missing" if r is None else r.quality.name
                out.append(Condition(f"invalid:{name}", "alarm", f"{name} invalid ({q}) for {n} polls", True))
        trips = _int(readings.get("trips_latched"))
        if trips:
            for bit, nm in TRIP_NAMES.items():
                if trips & bit and bit not in (H2_PREALARM, WATCHDOG):
                    out.append(Condition(f"trip:{nm}", "trip", f"PLC interlock latched: {nm}", True))
            if trips & H2_PREALARM:
                out.append(Condition("h2_prealarm", "warning", "H2 gas detector above pre-alarm level", False))
        wd = readings.get("watchdog_alarm")
        if (wd is not None and wd.valid and bool(wd.value)) or (trips & WATCHDOG):
            out.append(Condition("plc_watchdog", "alarm", "PLC watchdog fell back to its safe state "
                                                          "(controller heartbeat was late)", True))
        mode = _int(readings.get("operating_mode"))
        if mode == 3 and not plc_safe_expected:
            out.append(Condition("plc_safe", "alarm", "PLC reports operating mode safe", True))
        return out


def _int(r: Reading | None) -> int:
    if r is None or not r.valid or r.value is None:
        return 0
    v: Any = r.value
    return int(v)
