"""The virtual PLC: one plant state served over Modbus TCP and OPC UA, advanced in real or accelerated time.

Every ``tick_s`` of wall-clock time the plant advances by ``tick_s * speed`` seconds of plant time (one model step:
the foundation models are exact for any step length), and the watchdogs are checked. Both servers read and write
the same :class:`~h2quarters.plc.plant.PlantState`, so a write through either protocol is seen by the other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from h2quarters.config.scenario import Scenario
from h2quarters.plc import persistence
from h2quarters.plc.fault_channel import FaultChannel
from h2quarters.plc.modbus_server import make_modbus_server
from h2quarters.plc.opcua_server import OpcUaPlcServer
from h2quarters.plc.plant import PlantState, SiteProfile
from h2quarters.plc.settings import PlcSettings

log = logging.getLogger(__name__)


class VirtualPlc:
    """Run a plant with both protocol servers in the current event loop.

    Parameters
    ----------
    scenario : Scenario
        The site.
    settings : PlcSettings
        Ports (0 = pick a free one), bind address, speed, watchdog, interlocks, security.
    profile : SiteProfile, optional
        PV/load inputs (computed from the scenario when omitted).
    plant : PlantState, optional
        Serve an existing plant (e.g. to restart the servers over the same state).
    fresh : bool
        Ignore (and later overwrite) the saved plant state at ``settings.state_path``: start from the scenario's
        initial state.

    Examples
    --------
    >>> plc = VirtualPlc(scenario, PlcSettings(modbus_port=0, opcua_port=0))  # doctest: +SKIP
    >>> await plc.start(); print(plc.modbus_port, plc.opcua_endpoint)  # doctest: +SKIP
    """

    def __init__(self, scenario: Scenario, settings: PlcSettings, profile: SiteProfile | None = None,
                 plant: PlantState | None = None, fresh: bool = False) -> None:
        self.settings = settings
        self.restored = False
        if plant is None:
            plant = PlantState(scenario, settings, profile=profile)
            if settings.state_path is not None and not fresh:
                self.restored = persistence.load(plant, settings.state_path)
        self.plant = plant
        self._next_save = 0.0
        self.modbus: Any = None
        self.opcua: OpcUaPlcServer | None = None
        self.fault_channel: FaultChannel | None = None
        self.modbus_port = settings.modbus_port
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        self.max_step_wall_s = 0.0

    @property
    def opcua_endpoint(self) -> str:
        """OPC UA endpoint URL (after :meth:`start`)."""
        return self.opcua.endpoint if self.opcua else ""

    async def start(self, modbus: bool = True, opcua: bool = True) -> None:
        """Start the servers and the plant loop."""
        s = self.settings
        try:
            if opcua:  # first: it checks the security profile, and nothing should listen if that fails
                self.opcua = OpcUaPlcServer(self.plant, s)
                await self.opcua.start()
                if s.local_fault_channel:  # `h2q plc fault` on this machine without OPC UA (no asyncua import)
                    channel = FaultChannel(self.opcua.local_fault_call, self.opcua.port)
                    if await channel.start():
                        self.fault_channel = channel
            if modbus:
                self.modbus = make_modbus_server(self.plant, s.bind_host, s.modbus_port)
                await self.modbus.serve_forever(background=True)
                self.modbus_port = self.modbus.transport.sockets[0].getsockname()[1]
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._run(), name="virtual-plc-loop")

    def save_state(self) -> None:
        """Write the plant's physical state to ``settings.state_path`` (atomic; no-op when it is None)."""
        if self.settings.state_path is not None:
            persistence.save(self.plant, self.settings.state_path)

    async def stop(self) -> None:
        """Stop the loop and both servers (saving the plant state last written by the loop once more)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
            try:
                self.save_state()
            except OSError as exc:
                log.error("plant state not saved: %s", exc)
        if self.fault_channel is not None:
            await self.fault_channel.stop()
            self.fault_channel = None
        if self.modbus is not None:
            await self.modbus.shutdown()
            self.modbus = None
        if self.opcua is not None:
            await self.opcua.stop()
            self.opcua = None

    async def _run(self) -> None:
        s = self.settings
        last = time.monotonic()
        while True:
            await asyncio.sleep(s.tick_s)
            now = time.monotonic()
            # Plant time follows wall time (times speed); a late tick is caught up in one exact model step.
            dt_wall = now - last
            last = now
            self.plant.check_watchdogs()
            try:
                self.plant.step(dt_wall * s.speed)
            except Exception:  # keep serving: a model error must not take the PLC (and its safety) down
                log.exception("plant step failed; tripping the plant")
                self.plant.write("estop", True, source="plc")
            if self.settings.state_path is not None and now >= self._next_save:
                self._next_save = now + s.state_every_s
                try:
                    self.save_state()
                except OSError as exc:  # a full disk must not stop the PLC
                    log.error("plant state not saved: %s", exc)
            if self.opcua is not None:
                await self.opcua.publish_changes()
            self.steps += 1
            self.max_step_wall_s = max(self.max_step_wall_s, time.monotonic() - now)

    async def serve_forever(self) -> None:
        """Start and run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
