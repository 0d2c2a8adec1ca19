"""The control loop: read → check quality → supervise → command → heartbeat → publish/store, once per cycle.

Modes
-----
``off``     plant stopped (PLC operating mode 0); nothing but the heartbeat is written.
``manual``  an engineer's setpoints, each a lease of ``lease_s`` that must be refreshed.
``auto``    setpoints follow the current MPC plan (re-planned every ``replan_s`` in a worker; the last valid plan
            is kept when a re-plan fails).
``safe``    entered on link loss, invalid critical data, an interlock trip, a PLC watchdog fallback or an expired
            lease/plan; the PLC is put into its safe operating mode. Left only by an engineer's acknowledgement
            (→ ``off``), which also resets the PLC's latched trips whose causes are gone.

Every command that goes to the plant — from the API or from the controller itself — is audited in the store
*before* it is sent and its result recorded afterwards (``h2quarters.store.Store.audit_command``).
The loop never waits on the disk (a writer thread stores measurements) nor on the optimiser (a worker).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import enum
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from h2quarters.config.scenario import Scenario
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.planner import AutoPlanner, Plan
from h2quarters.control.settings import ControlSettings
from h2quarters.control.supervisor import Condition, Supervisor
from h2quarters.control.writer import StoreWriter
from h2quarters.plc.drivers import DriverError, PlantDriver, Reading
from h2quarters.plc.registers import RegisterMap, WriteRefused
from h2quarters.store import CommandRecord, Store, now_ms

log = logging.getLogger(__name__)


class Mode(str, enum.Enum):
    """Controller modes."""

    OFF = "off"
    MANUAL = "manual"
    AUTO = "auto"
    SAFE = "safe"


PLC_MODE = {Mode.OFF: 0, Mode.MANUAL: 1, Mode.AUTO: 2, Mode.SAFE: 3}
STATE_KEY = "controller_state"
"""Meta key of the persisted mode/setpoints (``running`` stays true after a crash)."""


def _was_running(prev: dict[str, Any]) -> bool:
    """Whether the plant may have been running under the previous controller (anything but a stopped OFF)."""
    return prev.get("mode") != "off" or bool(prev.get("estop"))
MANUAL_SETPOINTS = ("el_start", "el_production_rate_pct", "fc_start", "fc_setpoint_kw", "battery_setpoint_kw",
                    "ventilation_setpoint_pct")
"""Signals an engineer may set in MANUAL."""
STORED_DTYPES = ("bool", "uint16", "int16", "enum16", "uint32", "int32", "float32")


class SetpointInvalid(ValueError):
    """A setpoint request outside the allowed signals, type or range (→ HTTP 422); nothing was sent.

    Attributes ``field``, ``value`` and ``limit`` name the offending field, value and allowed range.
    """

    def __init__(self, field: str, value: Any, limit: str, code: str = "setpoint.invalid",
                 params: dict[str, Any] | None = None) -> None:
        super().__init__(f"{field} = {value!r} refused: {limit}")
        self.field, self.value, self.limit = field, value, limit
        self.code = code  # message code and parameters: the HMI words them in its language
        self.params = {"field": field, "value": value, "limit": limit, **(params or {})}


class CommandRefused(RuntimeError):
    """The command is valid but not allowed now (wrong mode, SAFE not acknowledged, link down).

    ``code`` and ``params``: the reason as a message code with parameters (stored with the result; the HMI
    words it in its language), the message is the English text.
    """

    def __init__(self, message: str, code: str = "command.refused", params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.params = params or {}


@dataclass(frozen=True)
class Outcome:
    """What a command did: English text plus message code and parameters (stored with the audit result)."""

    text: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandRequest:
    """A command from a user (or the controller itself)."""

    kind: str  # "mode" | "setpoint" | "ack_safe" | "safe" | "estop"
    target: str
    value: Any
    user_name: str
    role: str
    source: str = "api"
    command_id: str = ""


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating, np.integer)):
        return _jsonable(v.item())
    return v


def _failure(exc: WriteRefused | DriverError) -> Outcome:
    """Outcome of a write the PLC refused (``write.refused``) or a link failure (``driver.failed``)."""
    if isinstance(exc, WriteRefused):
        return Outcome(str(exc), "write.refused", {"name": exc.name, "value": _jsonable(exc.value),
                                                   "reason": exc.reason})
    return Outcome(str(exc), "driver.failed", {"error": str(exc)})


class Controller:
    """The runtime controller of one plant.

    Parameters
    ----------
    settings : ControlSettings
        Cycle, debounce, leases, AUTO settings.
    driver : PlantDriver
        Modbus or OPC UA driver (the only way to the plant).
    store : Store
        Durable store.
    rmap : RegisterMap
        Register map resolved against the scenario (limits).
    scenario : Scenario
        The site (for the planner and ratings).
    hub : SnapshotHub, optional
        Where snapshots are published.
    planner : AutoPlanner, optional
        AUTO planner (without one AUTO follows no plan and keeps the plant stopped).
    """

    def __init__(self, settings: ControlSettings, driver: PlantDriver, store: Store, rmap: RegisterMap,
                 scenario: Scenario, hub: SnapshotHub | None = None, planner: AutoPlanner | None = None) -> None:
        self.settings = settings
        self.driver = driver
        self.store = store
        self.rmap = rmap
        self.scenario = scenario
        self.hub = hub or SnapshotHub()
        self.planner = planner
        self.writer = StoreWriter(store)
        self.supervisor = Supervisor(settings.link_debounce_polls, settings.invalid_debounce_polls)
        self.mode = Mode.OFF
        self.safe_reasons: list[str] = []
        self.readings: dict[str, Reading] = {}
        self.values: dict[str, Any] = {}
        self.manual: dict[str, Any] = {}
        self.lease_expires_mono: float | None = None
        self.plan: Plan | None = None
        self.plan_error = ""
        self._auto_written: dict[str, Any] = {}
        self._replan_task: asyncio.Task[None] | None = None
        self._next_replan_mono = 0.0
        self._conditions: dict[str, Condition] = {}
        self._open_codes: set[str] = set()
        self._start_mode_applied = False
        self._conn_seen = -1
        self._last_safe_write = 0.0
        self._sig_ids: dict[str, int] = {}
        self._recent_pv: collections.deque[tuple[int, float]] = collections.deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self.n_cycles = 0
        self.jitter_ms: collections.deque[float] = collections.deque(maxlen=3600)
        self.cycle_ms: collections.deque[float] = collections.deque(maxlen=3600)
        self.overruns = 0
        self.t_safe_entered_ms: int | None = None
        self._next_retention_mono = time.monotonic() + 60.0
        self._cmd_lock = asyncio.Lock()
        self._stored = [s for s in rmap.signals if s.dtype in STORED_DTYPES]
        self.unclean_previous: dict[str, Any] | None = None
        self.estop_pressed = False  # the software E-stop this controller pressed (released on acknowledgement)

    # ================================================================== lifecycle
    async def run(self) -> None:
        """Run until :meth:`stop`."""
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._sig_ids = await asyncio.to_thread(self.store.ensure_signals,
                                                [(s.name, s.unit) for s in self._stored])
        unknown = await asyncio.to_thread(self.store.mark_unknown_ids)
        if unknown:
            log.warning("%d command(s) had no recorded result: marked unknown", len(unknown))
            # shown in the HMI's alarm list until an engineer acknowledges it (cleared at once: nothing to wait for)
            await asyncio.to_thread(self._raise_once, "commands_unknown", "warning",
                                    f"{len(unknown)} command(s) without a result from before the restart "
                                    f"(status unknown): {', '.join(unknown[:5])}",
                                    {"n": len(unknown), "ids": unknown[:5]})
        await asyncio.to_thread(self._check_previous_run)
        self._open_codes = await asyncio.to_thread(self.store.open_alarm_codes)
        period = self.settings.cycle_s
        next_t = time.monotonic()
        while not self._stop.is_set():
            start = time.monotonic()
            self.jitter_ms.append((start - next_t) * 1000.0)
            try:
                await self.cycle()
            except Exception:
                log.exception("control cycle failed")
            self.cycle_ms.append((time.monotonic() - start) * 1000.0)
            next_t += period
            now = time.monotonic()
            if next_t < now:  # overrun: skip the missed slots, keep the phase
                missed = math.ceil((now - next_t) / period)
                self.overruns += missed
                next_t += missed * period
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=max(next_t - time.monotonic(), 0.0))
            except TimeoutError:
                pass
        await self._shutdown()

    def _raise_once(self, code: str, severity: str, message: str, params: dict[str, Any]) -> None:
        self.store.raise_alarm(code, severity, message, params)
        self.store.clear_alarm(code)

    def _check_previous_run(self) -> None:
        """Did the last controller on this database stop cleanly? If not, remember its mode and setpoints (the
        start mode is then not applied: see :meth:`_on_link`) and raise an alarm saying what they were."""
        raw = self.store.get_meta(STATE_KEY)
        prev = None
        if raw:
            try:
                prev = json.loads(raw)
            except ValueError:
                prev = {"mode": "unknown", "manual": {}, "running": True}
        if prev and prev.get("running"):
            self.unclean_previous = prev
            self.estop_pressed = bool(prev.get("estop"))
            sp = ", ".join(f"{k} = {v}" for k, v in (prev.get("manual") or {}).items()) or "none"
            self._raise_once("unclean_restart", "alarm",
                             f"the controller did not stop cleanly; it was in mode {prev.get('mode')} with manual "
                             f"setpoints {sp}; restarted in {'safe' if _was_running(prev) else 'off'}, "
                             "not in the start mode",
                             {"mode": prev.get("mode"), "setpoints": prev.get("manual") or {},
                              "t_ms": prev.get("t_ms"), "now": "safe" if _was_running(prev) else "off"})
        self._persist_state(sync=True)

    def _persist_state(self, sync: bool = False, running: bool = True) -> cf.Future[Any] | None:
        """Record mode and manual setpoints in the store (read after an unclean stop); queued behind the writer's
        earlier calls (so an older state never overwrites a newer one) unless ``sync``. Returns the queued call's
        future."""
        doc = json.dumps({"mode": self.mode.value, "manual": {k: _jsonable(v) for k, v in self.manual.items()},
                          "running": running, "estop": self.estop_pressed, "t_ms": now_ms()})
        if sync:
            self.store.set_meta(STATE_KEY, doc)
            return None
        return self.writer.call(self.store.set_meta, STATE_KEY, doc)

    def stop(self) -> None:
        """Ask the loop to stop (thread-safe)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)

    async def _shutdown(self) -> None:
        if self._replan_task is not None:
            self._replan_task.cancel()
        await self.driver.close()
        self._persist_state(running=False)  # queued after every other write: a clean stop
        await asyncio.to_thread(self.writer.stop)

    def simulate_freeze(self, seconds: float) -> None:
        """Block the control loop for ``seconds`` (fault tests: a hung controller; thread-safe)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(time.sleep, seconds)

    # ================================================================== one cycle
    async def cycle(self) -> None:
        """One control cycle."""
        t_ms = now_ms()
        readings = await self.driver.read_all()
        self.readings = readings
        self.values = {n: r.value for n, r in readings.items() if r.valid}
        self._remember_pv(t_ms)
        conds = self.supervisor.evaluate(readings, plc_safe_expected=self.mode in (Mode.OFF, Mode.SAFE))
        mono = time.monotonic()
        if self.mode == Mode.MANUAL and self.lease_expires_mono is not None and mono > self.lease_expires_mono:
            conds.append(Condition("lease_expired", "alarm", f"manual setpoint lease of {self.settings.lease_s:g} s "
                                                             "expired without refresh", True))
        if self.mode == Mode.AUTO and self.plan is not None and t_ms >= self.plan.t_firm_end_ms:
            # no newer plan for the whole firm part (re-plans failing for hours): its relaxed tail is no schedule
            conds.append(Condition("plan_expired", "alarm", "the last valid plan's firm part (binary on/off "
                                                            "decisions) has ended", True))
        link_up = self.supervisor.link_ok and any(r.valid for r in readings.values())
        self._sync_alarms(conds)
        safe = [c for c in conds if c.safe]
        if safe and self.mode != Mode.SAFE:
            await self._enter_safe([c.code for c in safe])
        elif safe:
            for c in safe:
                if c.code not in self.safe_reasons:
                    self.safe_reasons.append(c.code)
        if link_up:
            await self._on_link(t_ms)
        self.n_cycles += 1
        if mono >= self._next_retention_mono:
            self._next_retention_mono = mono + self.settings.retention_every_s
            cut = t_ms - int(self.settings.raw_keep_days * 86_400_000)
            self.writer.call(self.store.downsample, cut)
        if self.n_cycles % self.settings.store_every_cycles == 0:
            self.writer.measurements(t_ms, self._rows(readings))
        self.hub.publish(self.snapshot(t_ms))

    async def _on_link(self, t_ms: int) -> None:
        if self.driver.n_reconnects != self._conn_seen:
            # a new connection (first, or PLC restarted): configure the PLC watchdog first
            self._conn_seen = self.driver.n_reconnects
            await self._send_internal("config", "watchdog_timeout_ms", self.settings.watchdog_timeout_ms, "controller")
        try:
            await self.driver.heartbeat()
        except (DriverError, WriteRefused) as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        if not self._start_mode_applied:
            self._start_mode_applied = True
            prev = self.unclean_previous
            if prev is not None:
                # after a crash never resume by itself: SAFE (engineer acknowledgement) where the plant may have
                # been running, OFF otherwise
                if _was_running(prev) and self.mode != Mode.SAFE:
                    await self._enter_safe(["unclean_restart"])
                elif self.mode != Mode.SAFE:
                    await self._send_internal("mode", "operating_mode", PLC_MODE[Mode.OFF], "startup")
            elif self.mode != Mode.SAFE and self.settings.start_mode != "off":
                rec = await self.execute(CommandRequest("mode", "mode", self.settings.start_mode, "controller",
                                                        "system", "startup"))
                if rec.status != "ok":
                    log.warning("start mode %s not applied: %s", self.settings.start_mode, rec.detail)
        if self.mode == Mode.SAFE:
            if self.values.get("operating_mode") != PLC_MODE[Mode.SAFE] and time.monotonic() - self._last_safe_write > 5:
                self._last_safe_write = time.monotonic()
                await self._send_internal("mode", "operating_mode", PLC_MODE[Mode.SAFE], "supervisor")
        elif self.mode == Mode.AUTO:
            await self._follow_plan(t_ms)

    # ================================================================== AUTO
    async def _follow_plan(self, t_ms: int) -> None:
        if self.planner is not None and (self._replan_task is None or self._replan_task.done()) \
                and time.monotonic() >= self._next_replan_mono:
            self._next_replan_mono = time.monotonic() + self.settings.replan_s
            self._replan_task = asyncio.create_task(self._replan(t_ms), name="h2q-replan")
        targets: dict[str, Any]
        sp = self.plan.setpoints_at(t_ms, self.scenario.electrolyser.p_rated_kw) if self.plan else None
        if sp is None:
            targets = {"el_start": False, "el_production_rate_pct": 0.0, "fc_start": False, "fc_setpoint_kw": 0.0}
        else:
            targets = dict(sp)
        if self.scenario.fuel_cell is None:
            targets.pop("fc_start", None)
            targets.pop("fc_setpoint_kw", None)
        for name, v in targets.items():
            v = self._clip(name, v)
            if self._auto_written.get(name) == v:
                continue
            self._auto_written[name] = v
            await self._send_internal("setpoint", name, v, "auto")

    async def _replan(self, t_ms: int) -> None:
        assert self.planner is not None
        recent = self.recent_pv_series()
        try:
            plan = await self.planner.replan(t_ms, dict(self.values), recent)
        except Exception as exc:  # noqa: BLE001 - keep the last valid plan
            self.plan_error = f"{type(exc).__name__}: {exc}"
            log.warning("re-plan failed, keeping the last valid plan: %s", self.plan_error)
            self.writer.call(self.store.raise_alarm, "plan_failed", "warning", f"re-plan failed: {self.plan_error}")
            self._open_codes.add("plan_failed")
            return
        self.plan_error = ""
        if "plan_failed" in self._open_codes:
            self._open_codes.discard("plan_failed")
            self.writer.call(self.store.clear_alarm, "plan_failed")
        plan.plan_id = await asyncio.to_thread(self.store.save_plan, plan.t_start_ms, 900, plan.status, plan.solve_s,
                                               plan.columns)
        persistence = self.values.get("pv_power_kw")
        await asyncio.to_thread(self.store.save_forecast, plan.t_start_ms, 900, self.planner.forecaster.name,
                                plan.forecast_kw, float(persistence) if persistence is not None else None)
        self.plan = plan

    def request_replan(self) -> None:
        """Re-plan at the next cycle (thread-safe)."""
        self._next_replan_mono = 0.0

    def _remember_pv(self, t_ms: int) -> None:
        v = self.values.get("pv_power_kw")
        if v is not None:
            self._recent_pv.append((t_ms, float(v)))
        horizon = t_ms - int(self.settings.forecast_window_min * 60_000)
        while self._recent_pv and self._recent_pv[0][0] < horizon:
            self._recent_pv.popleft()

    def recent_pv_series(self) -> pd.Series:
        """Measured PV over the forecast window (tz-aware)."""
        if not self._recent_pv:
            return pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz=self.scenario.location.tz))
        t, v = zip(*self._recent_pv)
        idx = pd.to_datetime(np.asarray(t, dtype="int64"), unit="ms", utc=True).tz_convert(self.scenario.location.tz)
        return pd.Series(v, index=idx, dtype=float)

    # ================================================================== SAFE and alarms
    async def _enter_safe(self, reasons: list[str]) -> None:
        log.warning("entering SAFE: %s", ", ".join(reasons))
        self.mode = Mode.SAFE
        self.safe_reasons = list(reasons)
        self.t_safe_entered_ms = now_ms()
        self.manual.clear()
        self.lease_expires_mono = None
        self._auto_written.clear()
        self.writer.call(self.store.raise_alarm, "controller_safe", "alarm",
                         "controller in SAFE (" + ", ".join(reasons) + "); engineer acknowledgement required")
        self._open_codes.add("controller_safe")
        self._persist_state()
        if self.supervisor.link_ok and any(r.valid for r in self.readings.values()):
            self._last_safe_write = time.monotonic()
            await self._send_internal("mode", "operating_mode", PLC_MODE[Mode.SAFE], "supervisor")

    def _sync_alarms(self, conds: list[Condition]) -> None:
        present = {c.code: c for c in conds}
        for code, c in present.items():
            if code not in self._open_codes:
                self._open_codes.add(code)
                self.writer.call(self.store.raise_alarm, code, c.severity, c.message)
        managed = {c for c in self._open_codes if c not in ("controller_safe", "plan_failed")}
        for code in managed - set(present):
            self._open_codes.discard(code)
            self.writer.call(self.store.clear_alarm, code)
        self._conditions = present

    # ================================================================== commands
    def check_setpoint(self, name: str, value: Any) -> Any:
        """Validate a manual setpoint without sending anything (thread-safe).

        Raises
        ------
        SetpointInvalid
            Unknown/not settable signal, wrong type or outside the register map's limits (names the limit).
        """
        if name not in MANUAL_SETPOINTS:
            raise SetpointInvalid("name", name, f"settable signals are {list(MANUAL_SETPOINTS)}")
        if isinstance(value, bool) and self.rmap[name].dtype != "bool":
            raise SetpointInvalid(name, value, "expected a number")
        sig = self.rmap[name]
        try:
            return sig.check_value(value)
        except WriteRefused as exc:
            try:
                lo, hi = sig.limits()
            except ValueError:
                lo, hi = -math.inf, math.inf
            if isinstance(value, (int, float)) and math.isfinite(lo) and math.isfinite(hi):
                raise SetpointInvalid(name, value, exc.reason, "setpoint.range",
                                      {"min": lo, "max": hi, "unit": sig.unit or ""}) from None
            raise SetpointInvalid(name, value, exc.reason) from None

    def submit(self, req: CommandRequest) -> cf.Future[CommandRecord]:
        """Run :meth:`execute` in the controller's loop from another thread."""
        if self.loop is None:
            raise RuntimeError("controller is not running")
        return asyncio.run_coroutine_threadsafe(self.execute(req), self.loop)

    async def execute(self, req: CommandRequest) -> CommandRecord:
        """Audit, apply and record a command; idempotent on ``command_id``.

        Returns the stored record (status ok / refused / failed; for a repeated id the first outcome).
        """
        cid = req.command_id or uuid.uuid4().hex
        async with self._cmd_lock:
            created, rec = await asyncio.to_thread(self.store.audit_command, cid, req.user_name, req.role, req.source,
                                                   req.kind, req.target, req.value)
            if not created:
                return rec
            status = "ok"
            try:
                out = await self._apply(req)
            except CommandRefused as exc:
                status, out = "refused", Outcome(str(exc), exc.code, exc.params)
            except (WriteRefused, DriverError) as exc:
                status, out = ("refused" if isinstance(exc, WriteRefused) else "failed"), _failure(exc)
            await asyncio.to_thread(self.store.record_result, cid, status, out.text, out.code, out.params)
        if status == "ok":
            # durable before the answer: after a kill -9 right after "200 OK", the restart's unclean_restart alarm
            # must name this mode/setpoint, not the one before it (it named 20 % for an acknowledged 42 % once)
            try:
                await asyncio.wait_for(asyncio.wrap_future(self._persist_state()), timeout=10.0)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - the audit record is durable; the state record is best effort
                log.exception("recording the controller state after command %s failed", cid)
        if status == "ok" and self.readings:
            self.hub.publish(self.snapshot(now_ms()))  # show the new mode/setpoint without waiting for a cycle
        got = await asyncio.to_thread(self.store.get_command, cid)
        assert got is not None
        return got

    async def _apply(self, req: CommandRequest) -> Outcome:
        if req.kind == "mode":
            try:
                mode = Mode(req.value)
            except ValueError:
                raise CommandRefused(f"mode {req.value!r} unknown; allowed: off, manual, auto", "mode.unknown",
                                     {"value": str(req.value)}) from None
            if mode == Mode.SAFE:
                raise CommandRefused("SAFE is entered by the supervisor, not commanded; use OFF to stop",
                                     "mode.safe_not_commandable")
            await self._set_mode(mode, req.source)
            return Outcome(f"mode {mode.value}", "mode.set", {"mode": mode.value})
        if req.kind == "setpoint":
            v = self.check_setpoint(req.target, req.value)
            if self.mode != Mode.MANUAL:
                raise CommandRefused(f"controller is in {self.mode.value}; setpoints need manual mode",
                                     "setpoint.need_manual", {"mode": self.mode.value})
            self._require_link()
            await self.driver.write(req.target, v)
            self.manual[req.target] = v
            self.lease_expires_mono = time.monotonic() + self.settings.lease_s
            return Outcome(f"{req.target} = {v}", "setpoint.set",
                           {"name": req.target, "value": v, "unit": self.rmap[req.target].unit})
        if req.kind == "safe":
            if self.mode == Mode.SAFE:
                return Outcome("already safe", "safe.already")
            await self._enter_safe(["operator_safe"])
            return Outcome("SAFE commanded", "safe.commanded")
        if req.kind == "estop":
            # SAFE first (controller side, even without a link), then the PLC's software E-stop: the PLC trips
            # the electrolyser and fuel cell and latches the trip until a reset
            if self.mode != Mode.SAFE:
                await self._enter_safe(["estop"])
            elif "estop" not in self.safe_reasons:
                self.safe_reasons.append("estop")
            self.estop_pressed = True
            self._persist_state()
            await self.driver.write("estop", True)
            return Outcome("emergency stop pressed (PLC software E-stop)", "estop.pressed")
        if req.kind == "ack_safe":
            if self.mode != Mode.SAFE:
                raise CommandRefused(f"controller is in {self.mode.value}, not safe: nothing to acknowledge",
                                     "safe.nothing_to_ack", {"mode": self.mode.value})
            self._require_link()
            if self.estop_pressed:
                await self.driver.write("estop", False)
                self.estop_pressed = False
            await self.driver.write("reset", True)
            await self.driver.heartbeat()
            await self.driver.write("operating_mode", PLC_MODE[Mode.OFF])
            self.mode = Mode.OFF
            reasons, self.safe_reasons = self.safe_reasons, []
            self.t_safe_entered_ms = None
            self.supervisor.reset()
            self._open_codes.discard("controller_safe")
            self.writer.call(self.store.clear_alarm, "controller_safe")
            return Outcome("SAFE acknowledged (" + ", ".join(reasons) + "); mode off", "safe.acknowledged",
                           {"reasons": list(reasons), "mode": Mode.OFF.value})
        raise CommandRefused(f"unknown command kind {req.kind!r}", "command.kind_unknown", {"kind": req.kind})

    def _require_link(self) -> None:
        if not (self.supervisor.link_ok and self.driver.connected):
            raise CommandRefused("PLC link is down", "link.down")

    async def _set_mode(self, mode: Mode, source: str) -> None:
        if self.mode == Mode.SAFE:
            raise CommandRefused("controller is in SAFE: an engineer must acknowledge it first", "safe.ack_first")
        self._require_link()
        await self.driver.write("operating_mode", PLC_MODE[mode])
        self.mode = mode
        self._auto_written.clear()
        self.manual.clear()
        if mode == Mode.MANUAL:
            # start from what the PLC holds now (after a mode change the PLC keeps its setpoints)
            for n in MANUAL_SETPOINTS:
                if n in self.values:
                    self.manual[n] = self.values[n]
            self.lease_expires_mono = time.monotonic() + self.settings.lease_s
        else:
            self.lease_expires_mono = None
        if mode == Mode.AUTO:
            self.request_replan()

    def refresh_lease(self) -> float:
        """Extend the manual lease (thread-safe); returns seconds left. Raises CommandRefused outside MANUAL."""
        if self.mode != Mode.MANUAL:
            raise CommandRefused(f"controller is in {self.mode.value}; leases exist in manual mode only")
        self.lease_expires_mono = time.monotonic() + self.settings.lease_s
        return self.settings.lease_s

    async def _send_internal(self, kind: str, target: str, value: Any, source: str) -> CommandRecord:
        """Audit → write → result for the controller's own commands (never raises)."""
        cid = uuid.uuid4().hex
        try:
            await asyncio.to_thread(self.store.audit_command, cid, "controller", "system", source, kind, target,
                                    _jsonable(value))
        except Exception:
            log.exception("audit of %s %s failed: not sent", kind, target)
            return CommandRecord(cid, now_ms(), "controller", "system", source, kind, target, value, "failed", None,
                                 "audit failed")
        status, out = "ok", Outcome("", "")
        try:
            await self.driver.write(target, value)
        except (WriteRefused, DriverError) as exc:
            status, out = ("refused" if isinstance(exc, WriteRefused) else "failed"), _failure(exc)
        self.writer.call(self.store.record_result, cid, status, out.text, out.code, out.params)
        return CommandRecord(cid, now_ms(), "controller", "system", source, kind, target, value, status, now_ms(),
                             out.text, detail_code=out.code, detail_params=out.params)

    def _clip(self, name: str, v: Any) -> Any:
        sig = self.rmap[name]
        if sig.dtype == "bool":
            return bool(v)
        lo, hi = sig.limits()
        return float(min(max(float(v), lo), hi))

    # ================================================================== views
    def _rows(self, readings: dict[str, Reading]) -> list[tuple[int, float | None, int]]:
        rows = []
        for s in self._stored:
            r = readings.get(s.name)
            if r is None:
                continue
            v = None
            if r.valid and r.value is not None:
                try:
                    v = float(r.value)
                except (TypeError, ValueError):
                    v = None
            rows.append((self._sig_ids[s.name], v, int(r.quality)))
        return rows

    def cycle_stats(self, last: int | None = None) -> dict[str, float]:
        """Cycle timing over the last ``last`` cycles (default all kept): jitter (start lateness) and duration
        percentiles in ms."""
        j = np.asarray(self.jitter_ms, float)
        d = np.asarray(self.cycle_ms, float)
        if last is not None:
            j, d = j[-last:], d[-last:]
        pct = lambda a, q: float(np.percentile(a, q)) if len(a) else 0.0
        return {"n": self.n_cycles, "period_ms": self.settings.cycle_s * 1000.0, "jitter_p50_ms": pct(j, 50),
                "jitter_p99_ms": pct(j, 99), "jitter_max_ms": float(j.max()) if len(j) else 0.0,
                "duration_p99_ms": pct(d, 99), "overruns": self.overruns}

    def snapshot(self, t_ms: int) -> dict[str, Any]:
        """JSON-ready state for the API and the live stream."""
        sig = {n: {"v": _jsonable(r.value), "q": r.quality.name} for n, r in self.readings.items()}
        lease_left = None
        if self.lease_expires_mono is not None:
            lease_left = max(self.lease_expires_mono - time.monotonic(), 0.0)
        plan = None
        if self.plan is not None:
            i = self.plan.step_at(t_ms)
            plan = {"plan_id": self.plan.plan_id, "t_created_ms": self.plan.t_created_ms,
                    "t_start_ms": self.plan.t_start_ms, "t_end_ms": self.plan.t_end_ms,
                    "t_firm_end_ms": self.plan.t_firm_end_ms, "step": i,
                    "setpoints": self.plan.setpoints_at(t_ms, self.scenario.electrolyser.p_rated_kw)}
        return {
            "t_ms": t_ms, "mode": self.mode.value, "safe_reasons": list(self.safe_reasons),
            "link": {"ok": self.supervisor.link_ok, "connected": self.driver.connected,
                     "failed_polls": self.supervisor.failed_polls, "reconnects": self.driver.n_reconnects,
                     "last_error": self.driver.last_error},
            "signals": sig, "manual": {k: _jsonable(v) for k, v in self.manual.items()},
            "lease_left_s": lease_left, "plan": plan, "plan_error": self.plan_error,
            "conditions": [{"code": c.code, "severity": c.severity, "message": c.message}
                           for c in self._conditions.values()],
            "cycle": self.cycle_stats(), "stored_t_ms": self.writer.last_committed_t_ms,
        }
