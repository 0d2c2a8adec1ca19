"""The plant behind the virtual PLC: physics, setpoints, safety logic and fault effects in one object.

:class:`PlantState` is what both protocol servers read and write. It advances the foundation models
(:mod:`h2quarters.models`) in plant time, and it carries the PLC's own safety functions, which work without any
controller:

- heartbeat watchdog: the controller writes a changing value to ``heartbeat``; if it does not change within
  ``watchdog_timeout_ms`` (wall clock) the PLC stops electrolyser and fuel cell, zeroes the battery, switches to
  operating mode *safe*, raises ``watchdog_alarm`` and counts ``fallback_count`` (cf. Beckhoff bus-coupler watchdog;
  armed from the start, so a plant nobody supervises falls back too, after a start-up monitoring time
  ``watchdog_startup_ms`` until the first heartbeat; the timeout can only be set inside
  ``[watchdog_min_ms, watchdog_max_ms]`` of the PLC settings);
- Enapter-style electrolyser heartbeat (holding 4600): any request to the electrolyser counts; on expiry production
  stops and error 0x4801 is listed;
- interlocks on the PLC's own sensor readings (so a stuck sensor defeats them, as in a real plant; a reading
  outside its range or NaN counts as tripped, fail-safe): H2 detector pre-alarm (ventilation to 100 %) and trip
  (electrolyser and fuel cell tripped, ventilation 100 %), tank pressure high (production stops), tank pressure
  low (fuel cell stops), stack temperature high (electrolyser trip), emergency stop (everything stops). Every
  interlock latches until ``reset`` is written and its cause has cleared (a reset while the cause is still
  present, including an overdue heartbeat, leaves the latch set); start commands are refused meanwhile.

A mechanical relief valve (not a PLC function) vents the tank above 1.1 × p_max so the physics stays defined when
a hidden sensor fault defeats the high-pressure interlock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from h2quarters.config.scenario import Scenario
from h2quarters.models.battery import BatteryModel
from h2quarters.models.compressor import CompressorModel
from h2quarters.models.constants import RHO_H2_NORMAL_KG_PER_M3
from h2quarters.models.electrolyser import ElectrolyserPlant, ElectrolyserState
from h2quarters.models.fuelcell import FuelCellModel
from h2quarters.models.storage import HydrogenTank
from h2quarters.plc.faults import FaultInjector
from h2quarters.plc.registers import RegisterMap, WriteRefused, load_register_map
from h2quarters.plc.settings import PlcSettings

# Latched interlock / alarm bits (register trips_latched).
H2_PREALARM = 1
H2_TRIP = 2
TANK_HIGH = 4
TANK_LOW = 8
STACK_T_HIGH = 16
ESTOP = 32
WATCHDOG = 64
TRIP_NAMES = {H2_PREALARM: "h2_prealarm", H2_TRIP: "h2_trip", TANK_HIGH: "tank_pressure_high",
              TANK_LOW: "tank_pressure_low", STACK_T_HIGH: "stack_temperature_high", ESTOP: "emergency_stop",
              WATCHDOG: "watchdog"}
BLOCKS_ELECTROLYSER = H2_TRIP | TANK_HIGH | STACK_T_HIGH | ESTOP
BLOCKS_FUEL_CELL = H2_TRIP | TANK_LOW | ESTOP

# Error / warning codes in the Enapter-style lists (h2q codes; Enapter's own are not public beyond FP_01).
ERR_HEARTBEAT = 0x4801
ERR_CODES = {H2_TRIP: 0x4802, TANK_HIGH: 0x4803, STACK_T_HIGH: 0x4804, ESTOP: 0x4805}
WARN_CODES = {H2_PREALARM: 0x4901, WATCHDOG: 0x4902}

# MTP (VDI/VDE/NAMUR 2658) state and command codes.
MTP_STOPPED, MTP_STARTING, MTP_IDLE, MTP_EXECUTE, MTP_STOPPING, MTP_ABORTED = 4, 8, 16, 64, 128, 512
CMD_RESET, CMD_START, CMD_STOP, CMD_ABORT = 2, 4, 8, 256
# NE 107 (OPC UA DI DeviceHealthEnumeration)
NORMAL, FAILURE, CHECK_FUNCTION, OFF_SPEC, MAINTENANCE_REQUIRED = 0, 1, 2, 3, 4
_NE107_SEVERITY = [FAILURE, CHECK_FUNCTION, OFF_SPEC, MAINTENANCE_REQUIRED, NORMAL]

MODE_OFF, MODE_MANUAL, MODE_AUTO, MODE_SAFE = 0, 1, 2, 3
H2_LEL_VOL_FRAC = 0.04
"""Lower explosive limit of hydrogen in air, volume fraction (IEC 60079-20-1: 4.0 vol%)."""
RELIEF_FRAC_OF_PMAX = 1.1


@dataclass(frozen=True)
class SiteProfile:
    """PV and load power over plant time, interpolated linearly; wraps around after its end."""

    t0: pd.Timestamp
    t_s: np.ndarray
    pv_kw: np.ndarray
    load_kw: np.ndarray

    def at(self, t_s: float) -> tuple[float, float]:
        """(pv_kw, load_kw) at plant time ``t_s`` seconds after ``t0``."""
        span = self.t_s[-1]
        x = t_s % span if span > 0 else 0.0
        return float(np.interp(x, self.t_s, self.pv_kw)), float(np.interp(x, self.t_s, self.load_kw))


_PROFILE_CACHE: dict[tuple[str, str, str, int], SiteProfile] = {}


def site_profile(scenario: Scenario, start: pd.Timestamp, days: int = 14) -> SiteProfile:
    """PV and load of the scenario from ``start`` on (``h2quarters.sim.inputs.site_inputs``, 15 min, cached).

    Values are step means; they are placed at step centres and interpolated linearly.
    """
    from h2quarters.sim.inputs import site_inputs

    key = (scenario.model_dump_json(), str(scenario.base_dir), start.isoformat(), days)
    if key not in _PROFILE_CACHE:
        day0 = start.floor("D")
        frame = site_inputs(scenario, day0, day0 + pd.Timedelta(days=days), "15min")
        t_s = (frame.index - start).total_seconds().to_numpy() + 450.0
        keep = t_s >= 0
        _PROFILE_CACHE[key] = SiteProfile(start, t_s[keep] - t_s[keep][0], frame["pv_kw"].to_numpy()[keep],
                                          frame["load_kw"].to_numpy()[keep])
    return _PROFILE_CACHE[key]


class _FaultableElectrolyser(ElectrolyserPlant):
    """ElectrolyserPlant with the two plant faults the PLC can inject: extra cell voltage, cooler failure."""

    extra_u_deg_v: float = 0.0
    cooling_failed: bool = False

    @property
    def u_deg_v(self) -> float:  # type: ignore[override]
        return super().u_deg_v + self.extra_u_deg_v

    def _thermal(self, t0: float, dt_idle_s: float, p_idle_kw: float, i_idle_a: float, dt_prod_s: float,
                 p_kw: float, i_a: float) -> tuple[float, float]:
        if not self.cooling_failed:
            return super()._thermal(t0, dt_idle_s, p_idle_kw, i_idle_a, dt_prod_s, p_kw, i_a)
        t = t0
        for dt, p, i in ((dt_idle_s, p_idle_kw, i_idle_a), (dt_prod_s, p_kw, i_a)):
            if dt > 0.0:
                t, _ = self.model.thermal_step_c(t, p, i, dt, p_cool_kw=0.0)
        return t, 0.0


class PlantState:
    """One plant: models, register values, safety logic and faults.

    Parameters
    ----------
    scenario : Scenario
        The site (sizes, limits, PV and load).
    settings : PlcSettings
        Watchdog timeout, interlock thresholds, room model, seed, start time.
    rmap : RegisterMap, optional
        Resolved register map (default: the shipped map resolved against ``scenario``).
    profile : SiteProfile, optional
        PV/load inputs (default: from the scenario, starting at ``settings.start`` or now).
    clock : callable, optional
        Wall clock in s for the watchdogs (default :func:`time.monotonic`).
    """

    def __init__(self, scenario: Scenario, settings: PlcSettings, rmap: RegisterMap | None = None,
                 profile: SiteProfile | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self.settings = settings
        self.rmap = rmap or load_register_map(scenario=scenario)
        self.clock = clock
        tz = scenario.location.tz
        start = pd.Timestamp(settings.start) if settings.start else pd.Timestamp.now(tz=tz).floor("s")
        start = start.tz_localize(tz) if start.tzinfo is None else start.tz_convert(tz)
        self.profile = profile or site_profile(scenario, start)
        self.faults = FaultInjector(self.rmap, seed=settings.seed)

        self.el = _FaultableElectrolyser(scenario.electrolyser)
        self.tank = HydrogenTank(scenario.storage)
        comp = scenario.storage.compressor
        self.compressor = (CompressorModel(comp, scenario.electrolyser.p_out_bar, self.tank.p_table_max_bar)
                           if comp is not None else None)
        self.fc = FuelCellModel(scenario.fuel_cell) if scenario.fuel_cell is not None else None
        self.battery = BatteryModel(scenario.battery) if scenario.battery is not None else None
        il = settings.interlocks
        self.p_high_bar = il.tank_p_high_bar if il.tank_p_high_bar is not None else self.tank.p_max_bar
        self.p_low_bar = il.tank_p_low_bar if il.tank_p_low_bar is not None else self.tank.p_min_bar
        self.t_high_c = il.stack_t_high_c if il.stack_t_high_c is not None else scenario.electrolyser.thermal.t_max_c
        self.m_relief_kg = float(self.tank.mass_from_pressure_kg(
            min(RELIEF_FRAC_OF_PMAX * self.tank.p_max_bar, self.tank.p_table_max_bar)))

        self.t_s = 0.0
        self.m_tank_kg = self.tank.m_init_kg
        self.m_ref_kg = self.m_tank_kg  # tank content when the meters started (balance reference)
        self.c_h2_vol = 0.0
        # Accumulators (kWh / kg) for meters and balance checks; vented and leaked H2 are not metered, nor is the
        # H2 lost to the oxygen side (gas_crossover) or the PV power a tripped inverter does not deliver.
        self.acc: dict[str, float] = {k: 0.0 for k in (
            "pv_kwh", "load_kwh", "el_kwh", "comp_kwh", "fc_kwh", "batt_kwh", "import_kwh", "export_kwh",
            "h2_prod_kg", "h2_fc_kg", "h2_leak_kg", "h2_vent_kg", "h2_crossover_kg", "pv_tripped_kwh")}
        self.trips = 0
        # armed from the start: a plant nobody supervises falls back after watchdog_timeout_ms
        self.watchdog_armed = True
        self.heartbeat_seen = False
        self.last_heartbeat_wall = clock()
        self.el_last_request_wall = clock()
        self.el_heartbeat_error = False
        self.config_open = False
        self.config_source_modbus = False
        self.config_staged: dict[str, Any] = {}
        self.config_last_result = 0
        self.fallback_count = 0
        self.listeners: list[Callable[[], None]] = []

        self.hold: dict[str, Any] = {s.name: 0 for s in self.rmap.signals if s.table == "holding"}
        self.hold.update({
            "el_start": False, "el_reboot": False, "el_maintenance": False, "el_flushing": False,
            "el_production_rate_pct": 0.0,
            "watchdog_timeout_ms": settings.watchdog_timeout_ms, "operating_mode": MODE_MANUAL,
            "fc_start": False, "fc_setpoint_kw": 0.0, "ventilation_setpoint_pct": settings.room.ventilation_default_pct,
            "battery_setpoint_kw": 0.0, "estop": False, "reset": False,
        })
        self.meas: dict[str, Any] = {s.name: 0.0 for s in self.rmap.signals if s.table == "input"}
        self._last = {"p_el_kw": 0.0, "p_req_kw": 0.0, "i_a": 0.0, "u_cell_v": 0.0, "m_h2_kg": 0.0, "dt_s": 1.0,
                      "pv_kw": self.profile.at(0.0)[0], "load_kw": self.profile.at(0.0)[1], "p_comp_kw": 0.0,
                      "p_fc_kw": 0.0, "m_fc_kg_h": 0.0, "fc_heat_kw": 0.0, "p_batt_kw": 0.0, "import_kw": 0.0,
                      "export_kw": 0.0}
        self._derive()

    # ================================================================== reading
    def read(self, name: str) -> Any:
        """Value of a signal as the PLC reports it (sensor faults applied to measurements)."""
        sig = self.rmap[name]
        if sig.table == "holding":
            return self.hold[name]
        return self.faults.apply_sensor(name, self.meas[name], self.t_s)

    def read_all(self) -> dict[str, Any]:
        """All signals as reported."""
        return {s.name: self.read(s.name) for s in self.rmap.signals}

    def touch(self, device: str) -> None:
        """Note a request to ``device`` (feeds the Enapter-style electrolyser heartbeat)."""
        if device == "electrolyser":
            self.el_last_request_wall = self.clock()

    # ================================================================== writing
    def write(self, name: str, value: Any, source: str = "api") -> None:
        """Write a setpoint after checking it against the map and the PLC's state.

        Raises
        ------
        WriteRefused
            Unknown or read-only signal, wrong type, out of range, or refused by the PLC (trip latched, mode,
            configuration transaction); nothing is changed then.
        """
        try:
            sig = self.rmap[name]
        except KeyError as exc:
            raise WriteRefused(name, value, str(exc)) from None
        v = sig.check_value(value)
        if sig.device == "electrolyser":
            self.touch("electrolyser")
        handler = getattr(self, f"_w_{name}", None)
        if handler is not None:
            handler(v, source)
        else:
            self.hold[name] = v
        self._derive()
        self._notify()

    def validate(self, name: str, value: Any) -> None:
        """Check a write without applying it (map limits only)."""
        self.rmap[name].check_value(value)

    def write_many(self, items: list[tuple[str, Any]], source: str = "api") -> None:
        """Write several setpoints all-or-nothing (a Modbus FC 16 request).

        Every value is checked against the map first; then they are applied in order, and if the PLC refuses
        one (state checks, e.g. a latched trip), the control state is restored to what it was before the first.

        Raises
        ------
        WriteRefused
            As :meth:`write`; nothing is changed then.
        """
        for name, value in items:
            try:
                self.rmap[name].check_value(value)
            except KeyError as exc:
                raise WriteRefused(name, value, str(exc)) from None
        if len(items) == 1:
            self.write(*items[0], source=source)
            return
        snap = self._control_snapshot()
        listeners, self.listeners = self.listeners, []  # notify once, after all
        try:
            for name, value in items:
                self.write(name, value, source=source)
        except WriteRefused:
            self._control_restore(snap)
            raise
        finally:
            self.listeners = listeners
        self._notify()

    _CONTROL_ATTRS = ("trips", "watchdog_armed", "heartbeat_seen", "last_heartbeat_wall", "el_last_request_wall", "el_heartbeat_error",
                      "config_open", "config_source_modbus", "config_last_result", "fallback_count")
    _EL_ATTRS = ("state", "p_stack_kw", "time_in_state_s")

    def _control_snapshot(self) -> dict[str, Any]:
        return {"hold": dict(self.hold), "staged": dict(self.config_staged), "last": dict(self._last),
                "wd_alarm": self.meas.get("watchdog_alarm"),
                **{a: getattr(self, a) for a in self._CONTROL_ATTRS},
                **{"el." + a: getattr(self.el, a) for a in self._EL_ATTRS}}

    def _control_restore(self, snap: dict[str, Any]) -> None:
        self.hold = dict(snap["hold"])
        self.config_staged = dict(snap["staged"])
        self._last = dict(snap["last"])
        self.meas["watchdog_alarm"] = snap["wd_alarm"]
        for a in self._CONTROL_ATTRS:
            setattr(self, a, snap[a])
        for a in self._EL_ATTRS:
            setattr(self.el, a, snap["el." + a])
        self._derive()

    def _notify(self) -> None:
        for cb in list(self.listeners):
            cb()

    def _can_run(self, blocks: int, what: str, v: Any) -> None:
        mode = self.hold["operating_mode"]
        if mode in (MODE_OFF, MODE_SAFE):
            raise WriteRefused(what, v, f"operating_mode is {'off' if mode == MODE_OFF else 'safe'}; "
                                        "set operating_mode to 1 (manual) or 2 (auto) first")
        latched = self.trips & blocks
        if latched:
            names = [TRIP_NAMES[b] for b in TRIP_NAMES if latched & b]
            raise WriteRefused(what, v, f"interlock latched ({', '.join(names)}); write reset=1 once cleared")

    def _w_el_start(self, v: bool, source: str) -> None:
        if v:
            self._can_run(BLOCKS_ELECTROLYSER, "el_start", v)
            if self.hold["el_maintenance"]:
                raise WriteRefused("el_start", v, "maintenance mode is on (holding 1013)")
            self.el_heartbeat_error = False
        self.hold["el_start"] = v

    def _w_el_reboot(self, v: bool, source: str) -> None:
        if v:
            self.hold["el_start"] = False
            self.config_open = False
            self.config_staged.clear()
            self.el_heartbeat_error = False
            self.el.trip()
        self.hold["el_reboot"] = False

    def _w_el_config_begin(self, v: int, source: str) -> None:
        if v == 1:
            self.config_open = True
            self.config_source_modbus = source == "modbus"
            self.config_staged.clear()
        self.hold["el_config_begin"] = v

    def _w_el_config_commit(self, v: int, source: str) -> None:
        if not self.config_open:
            self.config_last_result = 13  # access denied: no transaction open
        else:
            if v == 1:
                self.hold.update(self.config_staged)
                self.el_last_request_wall = self.clock()
            self.config_last_result = 0
            self.config_open = False
            self.config_staged.clear()
        self.hold["el_config_commit"] = v

    def _w_el_heartbeat_timeout_s(self, v: int, source: str) -> None:
        if not self.config_open:
            raise WriteRefused("el_heartbeat_timeout_s", v,
                               "write it inside a configuration transaction (holding 4000 = 1, then 4001 = 1)")
        self.config_staged["el_heartbeat_timeout_s"] = v

    def _w_el_command_op(self, v: int, source: str) -> None:
        if not (self.meas["el_command_en"] & v) or v not in (CMD_RESET, CMD_START, CMD_STOP, CMD_ABORT):
            raise WriteRefused("el_command_op", v, f"command not enabled now (CommandEn = {self.meas['el_command_en']})")
        if v == CMD_START:
            self._w_el_start(True, source)
        elif v in (CMD_STOP, CMD_ABORT):
            self.hold["el_start"] = False
            if v == CMD_ABORT:
                self.el.trip()
        elif v == CMD_RESET:
            self._w_reset(True, source)
        self.hold["el_command_op"] = 0

    def _w_fc_start(self, v: bool, source: str) -> None:
        if v:
            if self.fc is None:
                raise WriteRefused("fc_start", v, "the scenario has no fuel cell")
            self._can_run(BLOCKS_FUEL_CELL, "fc_start", v)
        self.hold["fc_start"] = v

    def _w_fc_command_op(self, v: int, source: str) -> None:
        if not (self.meas["fc_command_en"] & v) or v not in (CMD_RESET, CMD_START, CMD_STOP, CMD_ABORT):
            raise WriteRefused("fc_command_op", v, f"command not enabled now (CommandEn = {self.meas['fc_command_en']})")
        if v == CMD_START:
            self._w_fc_start(True, source)
        elif v in (CMD_STOP, CMD_ABORT):
            self.hold["fc_start"] = False
        elif v == CMD_RESET:
            self._w_reset(True, source)
        self.hold["fc_command_op"] = 0

    def _w_operating_mode(self, v: int, source: str) -> None:
        if v in (MODE_MANUAL, MODE_AUTO) and self.meas.get("watchdog_alarm"):
            raise WriteRefused("operating_mode", v, "watchdog alarm active: resume heartbeats first")
        if v in (MODE_OFF, MODE_SAFE):
            self._safe_setpoints()
        self.hold["operating_mode"] = v

    def _w_watchdog_timeout_ms(self, v: int, source: str) -> None:
        lo, hi = self.settings.watchdog_min_ms, self.settings.watchdog_max_ms
        if not lo <= v <= hi:
            raise WriteRefused("watchdog_timeout_ms", v, f"allowed range is [{lo}, {hi}] ms "
                                                         "(PlcSettings.watchdog_min_ms/watchdog_max_ms)")
        self.hold["watchdog_timeout_ms"] = v

    def _w_heartbeat(self, v: int, source: str) -> None:
        if v != self.hold["heartbeat"] or not self.watchdog_armed:
            self.heartbeat_seen = True
            self.last_heartbeat_wall = self.clock()
            self.watchdog_armed = True
            self.meas["watchdog_alarm"] = False
        self.hold["heartbeat"] = v

    def _w_estop(self, v: bool, source: str) -> None:
        self.hold["estop"] = v
        if v:
            self._evaluate_interlocks()

    def _w_reset(self, v: bool, source: str) -> None:
        if v:
            # a latch clears only once its cause has cleared: the watchdog's cause is an overdue heartbeat
            self.trips = WATCHDOG if self.meas.get("watchdog_alarm") else 0
            self.el_heartbeat_error = False
            self._evaluate_interlocks()  # causes still present latch again at once
        self.hold["reset"] = False

    def _safe_setpoints(self) -> None:
        self.hold.update({"el_start": False, "el_production_rate_pct": 0.0, "fc_start": False,
                          "fc_setpoint_kw": 0.0, "battery_setpoint_kw": 0.0})

    # ================================================================== watchdogs
    def check_watchdogs(self) -> None:
        """Apply the heartbeat watchdog and the electrolyser heartbeat timeout (wall clock)."""
        now = self.clock()
        timeout_ms = self.hold["watchdog_timeout_ms"]
        if not self.heartbeat_seen:  # start-up monitoring time until the first heartbeat
            timeout_ms = max(timeout_ms, self.settings.watchdog_startup_ms)
        if self.watchdog_armed and (now - self.last_heartbeat_wall) * 1000.0 > timeout_ms:
            self.watchdog_armed = False
            self._safe_setpoints()
            self.hold["operating_mode"] = MODE_SAFE
            self.meas["watchdog_alarm"] = True
            self.fallback_count += 1
            self.trips |= WATCHDOG
            self._derive()
            self._notify()
        hb = self.hold["el_heartbeat_timeout_s"]
        if hb and not self.el_heartbeat_error and now - self.el_last_request_wall > hb:
            self.el_heartbeat_error = True
            self.hold["el_start"] = False
            self._derive()
            self._notify()

    # ================================================================== physics
    def step(self, dt_s: float) -> None:
        """Advance the plant by ``dt_s`` seconds of plant time (models, meters, room, interlocks)."""
        if not (math.isfinite(dt_s) and dt_s > 0):
            raise ValueError(f"dt_s = {dt_s!r} must be > 0")
        h = self.hold
        dt_h = dt_s / 3600.0
        pv_avail_kw, load_kw = self.profile.at(self.t_s + 0.5 * dt_s)
        # inverter_trip: the array still sees the sun, the inverter delivers only its connected share
        pv_kw = pv_avail_kw * (1.0 - self.faults.inverter_tripped_fraction())
        mode_ok = h["operating_mode"] in (MODE_MANUAL, MODE_AUTO)

        # electrolyser
        self.el.extra_u_deg_v = self.faults.extra_cell_voltage_v()
        self.el.cooling_failed = self.faults.cooling_failed()
        el_on = bool(h["el_start"]) and mode_ok and not (self.trips & BLOCKS_ELECTROLYSER) \
            and not h["el_maintenance"] and not h["el_flushing"] and not self.el_heartbeat_error
        p_req = h["el_production_rate_pct"] / 100.0 * self.el.model.p_rated_kw if el_on else 0.0
        es = self.el.step(p_req, dt_s, standby_allowed=el_on)
        # gas_crossover: part of the H2 made at the cathode permeates to the anode and leaves with the O2 vent,
        # so only the rest passes the gas counter (a lower Faraday efficiency at the same current and power)
        m_cross = es.m_h2_kg * self.faults.crossover_fraction()
        m_prod = es.m_h2_kg - m_cross

        # compressor (electrolyser outlet -> tank pressure)
        p_tank = float(self.tank.pressure_from_mass_bar(self.m_tank_kg))
        p_comp = float(self.compressor.power_kw(m_prod / dt_h, p_tank)) if self.compressor and m_prod > 0 else 0.0

        # fuel cell
        p_fc = m_fc = heat_fc = 0.0
        if self.fc is not None and h["fc_start"] and mode_ok and not (self.trips & BLOCKS_FUEL_CELL):
            p_fc = float(self.fc.dispatch_kw(h["fc_setpoint_kw"]))
            m_fc = float(self.fc.h2_kg_per_h(p_fc)) * dt_h
            if m_fc > self.m_tank_kg - 1e-6:  # cannot draw more than is there
                p_fc = m_fc = 0.0
            heat_fc = float(self.fc.heat_kw(p_fc)) if p_fc > 0 else 0.0

        # battery (positive = charging)
        p_batt = 0.0
        if self.battery is not None:
            p_batt = self.battery.step(h["battery_setpoint_kw"] if mode_ok else 0.0, dt_s).p_kw

        # tank: in - out - leak, relief valve
        m_leak = min(self.faults.leak_kg_per_h() * dt_h, max(self.m_tank_kg + m_prod - m_fc, 0.0))
        self.m_tank_kg += m_prod - m_fc - m_leak
        m_vent = max(self.m_tank_kg - self.m_relief_kg, 0.0)
        self.m_tank_kg -= m_vent

        # grid meter closes the electrical balance
        net_kw = load_kw + es.p_total_kw + p_comp + p_batt - pv_kw - p_fc
        imp, exp_ = max(net_kw, 0.0), max(-net_kw, 0.0)

        # room: well-mixed H2 volume fraction, exact solution of dc/dt = q/V - n c over the step
        room = self.settings.room
        vent_pct = self._ventilation_pct()
        ach = room.ach_min_per_h + vent_pct / 100.0 * (room.ach_max_per_h - room.ach_min_per_h)
        q_m3_h = (m_leak / dt_h) / RHO_H2_NORMAL_KG_PER_M3 if dt_h > 0 else 0.0
        if ach > 0:
            c_ss = q_m3_h / (ach * room.volume_m3)
            self.c_h2_vol = c_ss + (self.c_h2_vol - c_ss) * math.exp(-ach * dt_h)
        else:
            self.c_h2_vol += q_m3_h * dt_h / room.volume_m3

        a = self.acc
        a["pv_kwh"] += pv_kw * dt_h
        a["load_kwh"] += load_kw * dt_h
        a["el_kwh"] += es.p_total_kw * dt_h
        a["comp_kwh"] += p_comp * dt_h
        a["fc_kwh"] += p_fc * dt_h
        a["batt_kwh"] += p_batt * dt_h
        a["import_kwh"] += imp * dt_h
        a["export_kwh"] += exp_ * dt_h
        a["h2_prod_kg"] += m_prod
        a["h2_fc_kg"] += m_fc
        a["h2_leak_kg"] += m_leak
        a["h2_vent_kg"] += m_vent
        a["h2_crossover_kg"] += m_cross
        a["pv_tripped_kwh"] += (pv_avail_kw - pv_kw) * dt_h
        self.t_s += dt_s
        self._last = {"p_el_kw": es.p_total_kw, "p_req_kw": p_req, "i_a": es.i_a, "u_cell_v": es.u_cell_v,
                      "m_h2_kg": m_prod, "dt_s": dt_s, "pv_kw": pv_kw, "load_kw": load_kw, "p_comp_kw": p_comp,
                      "p_fc_kw": p_fc, "m_fc_kg_h": m_fc / dt_h, "fc_heat_kw": heat_fc, "p_batt_kw": p_batt,
                      "import_kw": imp, "export_kw": exp_}
        self._derive()
        self._evaluate_interlocks()

    def _ventilation_pct(self) -> float:
        return 100.0 if self.trips & (H2_PREALARM | H2_TRIP) else float(self.hold["ventilation_setpoint_pct"])

    # ================================================================== safety
    def _reading(self, name: str) -> float:
        """Safety reading of a sensor; out of range or NaN → NaN (treated as tripped)."""
        v = float(self.read(name))
        return v if self.rmap[name].in_range(v) and math.isfinite(v) else math.nan

    def _evaluate_interlocks(self) -> None:
        il = self.settings.interlocks
        new = 0
        lel = self._reading("h2_detector_lel_pct")
        p = self._reading("tank_pressure_bar")
        t = self._reading("el_electrolyte_temperature_c")
        if math.isnan(lel) or lel >= il.h2_prealarm_lel_pct:
            new |= H2_PREALARM
        if math.isnan(lel) or lel >= il.h2_trip_lel_pct:
            new |= H2_TRIP
        if math.isnan(p) or p >= self.p_high_bar:
            new |= TANK_HIGH
        if math.isnan(p) or p <= self.p_low_bar:
            new |= TANK_LOW
        if math.isnan(t) or t >= self.t_high_c:
            new |= STACK_T_HIGH
        if self.hold["estop"]:
            new |= ESTOP
        fresh = new & ~self.trips
        if not fresh:
            return
        self.trips |= new
        if fresh & (H2_TRIP | STACK_T_HIGH | ESTOP):
            self.el.trip()
            # the trip acts now: instantaneous readings drop at once (step means are history)
            self._last.update(p_el_kw=0.0, p_req_kw=0.0, i_a=0.0, u_cell_v=0.0, m_h2_kg=0.0)
        if fresh & BLOCKS_ELECTROLYSER:
            self.hold["el_start"] = False
        if fresh & BLOCKS_FUEL_CELL:
            self.hold["fc_start"] = False
            self._last.update(p_fc_kw=0.0, m_fc_kg_h=0.0, fc_heat_kw=0.0)
        if fresh & ESTOP:
            self.hold["battery_setpoint_kw"] = 0.0
        self._derive()
        self._notify()

    # ================================================================== derived values
    def _derive(self) -> None:
        """Refresh all input-register values from the model state (true values, before sensor faults)."""
        m, h, last, a = self.meas, self.hold, self._last, self.acc
        S = ElectrolyserState
        st = self.el.state
        producing = st == S.PRODUCING and last["m_h2_kg"] > 0
        el_blocked = bool(self.trips & BLOCKS_ELECTROLYSER) or self.el_heartbeat_error
        errors = ([ERR_HEARTBEAT] if self.el_heartbeat_error else []) + \
            [c for b, c in ERR_CODES.items() if self.trips & b]
        warnings = [c for b, c in WARN_CODES.items() if self.trips & b]
        vis = self.faults.visible_targets()
        n_cells = self.scenario.electrolyser.n_cells

        m["el_device_model"] = "EL21"
        m["el_system_state"] = 2 if el_blocked else 1
        m["el_uptime_s"] = int(self.t_s)
        m["el_warnings"] = warnings
        m["el_errors"] = errors
        m["el_h2_total_nl"] = a["h2_prod_kg"] / RHO_H2_NORMAL_KG_PER_M3 * 1000.0
        m["el_h2_flow_nlh"] = (last["m_h2_kg"] / (last["dt_s"] / 3600.0) / RHO_H2_NORMAL_KG_PER_M3 * 1000.0
                               if producing else math.nan)
        if h["el_maintenance"]:
            m["el_state"] = 1
        elif el_blocked:
            m["el_state"] = 0
        else:
            m["el_state"] = {S.OFF: 2, S.STANDBY: 4, S.STARTING: 3, S.PRODUCING: 3}[st]
        # Enapter digital inputs 7000-7009: only PSH102 is modelled (below, from the tank pressure reading)
        for name in ("el_lsl_electrolyte", "el_lsh_electrolyte", "el_lsll_electrolyte", "el_lshh_electrolyte",
                     "el_lsl_water", "el_lsh_water", "el_tsh108_electronics_hot", "el_wps104_water_present",
                     "el_di_spare"):
            m[name] = False
        m["el_config_in_progress"] = self.config_open
        m["el_config_source_modbus"] = self.config_open and self.config_source_modbus
        m["el_config_last_result"] = self.config_last_result
        m["el_stack_current_a"] = last["i_a"] if st == S.PRODUCING else 0.0
        m["el_cell_voltage_v"] = last["u_cell_v"] if st == S.PRODUCING else 0.0
        m["el_stack_voltage_v"] = m["el_cell_voltage_v"] * n_cells
        m["el_electrolyte_temperature_c"] = self.el.t_c
        m["el_power_kw"] = last["p_el_kw"]
        m["el_p_request_kw"] = last["p_req_kw"]
        # MTP service state
        if el_blocked:
            m["el_state_cur"], m["el_command_en"] = MTP_ABORTED, CMD_RESET
        elif h["el_start"]:
            m["el_state_cur"] = MTP_STARTING if st in (S.OFF, S.STARTING) else MTP_EXECUTE
            m["el_command_en"] = CMD_STOP | CMD_ABORT
        else:
            m["el_state_cur"] = MTP_STOPPING if st == S.PRODUCING else MTP_IDLE
            m["el_command_en"] = CMD_START | CMD_ABORT
        el_issues = [FAILURE if el_blocked else NORMAL,
                     MAINTENANCE_REQUIRED if h["el_maintenance"] or "el:stack_degradation" in vis else NORMAL,
                     OFF_SPEC if vis & {"el:cooling_failure", "el:gas_crossover"} or _any_of(vis, "el_") else NORMAL]
        m["el_health"] = _worst(el_issues)

        m["pv_power_kw"] = last["pv_kw"]
        m["load_power_kw"] = last["load_kw"]
        m["grid_import_kw"] = last["import_kw"]
        m["grid_export_kw"] = last["export_kw"]
        m["grid_import_kwh"] = a["import_kwh"]
        m["grid_export_kwh"] = a["export_kwh"]
        m["pv_energy_kwh"] = a["pv_kwh"]
        m["load_energy_kwh"] = a["load_kwh"]
        m["el_energy_kwh"] = a["el_kwh"]
        m["compressor_power_kw"] = last["p_comp_kw"]
        m["compressor_energy_kwh"] = a["comp_kwh"]
        m["tank_mass_kg"] = self.m_tank_kg
        m["tank_pressure_bar"] = float(self.tank.pressure_from_mass_bar(max(self.m_tank_kg, 0.0)))
        p_read = self.faults.apply_sensor("tank_pressure_bar", m["tank_pressure_bar"], self.t_s)
        m["el_psh102_pressure_high"] = not (float(p_read) < self.p_high_bar)  # NaN counts as high (fail-safe)
        m["h2_to_tank_kg"] = a["h2_prod_kg"]
        m["h2_from_tank_kg"] = a["h2_fc_kg"]
        m["storage_health"] = _worst([FAILURE if self.trips & (TANK_HIGH | TANK_LOW) else NORMAL,
                                      OFF_SPEC if _any_of(vis, "tank_", "h2_to", "h2_from") else NORMAL])
        m["h2_detector_lel_pct"] = min(self.c_h2_vol / H2_LEL_VOL_FRAC * 100.0, 100.0)
        m["ventilation_pct"] = self._ventilation_pct()
        fc_blocked = bool(self.trips & BLOCKS_FUEL_CELL)
        m["fc_state"] = 2 if fc_blocked else (1 if last["p_fc_kw"] > 0 else 0)
        m["fc_power_kw"] = last["p_fc_kw"]
        m["fc_h2_kg_per_h"] = last["m_fc_kg_h"]
        m["fc_heat_kw"] = last["fc_heat_kw"]
        m["fc_energy_kwh"] = a["fc_kwh"]
        m["fc_health"] = _worst([FAILURE if fc_blocked else NORMAL, OFF_SPEC if _any_of(vis, "fc_") else NORMAL])
        if fc_blocked:
            m["fc_state_cur"], m["fc_command_en"] = MTP_ABORTED, CMD_RESET
        elif h["fc_start"]:
            m["fc_state_cur"], m["fc_command_en"] = MTP_EXECUTE, CMD_STOP | CMD_ABORT
        else:
            m["fc_state_cur"], m["fc_command_en"] = MTP_IDLE, CMD_START | CMD_ABORT
        m["battery_soc_pct"] = self.battery.soc * 100.0 if self.battery is not None else math.nan
        m["battery_power_kw"] = last["p_batt_kw"]
        m["estop_active"] = bool(h["estop"])
        m["trips_latched"] = self.trips
        m["watchdog_alarm"] = bool(m.get("watchdog_alarm", False))
        m["fallback_count"] = self.fallback_count
        m["plant_time_s"] = int(self.t_s)
        m["plant_health"] = _worst([m["el_health"], m["storage_health"], m["fc_health"],
                                    FAILURE if self.trips & ~(H2_PREALARM | WATCHDOG) else NORMAL,
                                    FAILURE if "pv:inverter_trip" in vis else NORMAL,
                                    CHECK_FUNCTION if "comm_loss" in vis or m["watchdog_alarm"] else NORMAL,
                                    OFF_SPEC if "h2_detector_lel_pct" in vis else NORMAL])
        m["faults_visible"] = len(self.faults.active(include_hidden=False))

    # ================================================================== faults
    def inject_fault(self, kind: str, target: str | None = None, value: float | None = None,
                     hidden: bool = False) -> dict[str, Any]:
        """Inject a fault (see :mod:`h2quarters.plc.faults`) and return its description."""
        current = self.meas.get(target) if target else None
        f = self.faults.inject(kind, target, value, hidden, t_s=self.t_s, current=current)
        self._derive()
        self._notify()
        return f.as_dict()

    def clear_fault(self, fault_id: int | None = None) -> int:
        """Remove one fault (or all) and return how many were removed."""
        n = self.faults.clear(fault_id)
        self._derive()
        self._notify()
        return n

    # ================================================================== balances
    def balances(self) -> dict[str, float]:
        """Closure of the energy and hydrogen balances since start (absolute residuals).

        ``energy_residual_kwh = import - export - (load + electrolyser + compressor + battery - pv - fuel cell)``;
        ``h2_residual_kg = (m_tank - m_ref) - (produced - fuel cell - leaked - vented)``, ``m_ref`` the tank content
        when the meters started (kept across restarts with the meters). ``produced`` is what passed the gas
        counter; ``h2_crossover_kg`` (lost to the oxygen side) and ``pv_tripped_kwh`` (PV power a tripped inverter
        did not deliver) are reported beside the balances.
        """
        a = self.acc
        e_res = (a["import_kwh"] - a["export_kwh"]) - (a["load_kwh"] + a["el_kwh"] + a["comp_kwh"] + a["batt_kwh"]
                                                       - a["pv_kwh"] - a["fc_kwh"])
        h_res = (self.m_tank_kg - self.m_ref_kg) - (a["h2_prod_kg"] - a["h2_fc_kg"] - a["h2_leak_kg"]
                                                          - a["h2_vent_kg"])
        return {"energy_residual_kwh": e_res, "h2_residual_kg": h_res, **a}


def _any_of(names: set[str], *prefixes: str) -> bool:
    return any(n.startswith(prefixes) for n in names)


def _worst(values: list[int]) -> int:
    for level in _NE107_SEVERITY:
        if level in values:
            return level
    return NORMAL
