"""Assemble and run the live system: virtual PLC (optional), controller, store, planner — each loop in its thread.

The virtual PLC and the controller run in separate threads with their own asyncio loops, and the web app in the
main loop: web traffic cannot delay a control cycle, and a hung controller cannot stop the PLC's watchdog.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlparse

from h2quarters.config.scenario import Scenario
from h2quarters.control.controller import Controller
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.planner import AutoPlanner
from h2quarters.control.settings import ControlSettings
from h2quarters.forecast.pv import ClearSkyBlendForecaster
from h2quarters.plc.drivers import ModbusDriver, OpcUaDriver, PlantDriver
from h2quarters.plc.registers import RegisterMap, load_register_map
from h2quarters.plc.settings import PlcSettings
from h2quarters.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> cf.Future[T]:
        """Schedule a coroutine in the thread's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run a coroutine in the thread's loop and wait for its result."""
        return self.submit(coro).result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the loop and join the thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.loop.close()


def parse_plc_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` → (host, port); raises ValueError naming the accepted form."""
    u = urlparse(url)
    if u.scheme != "tcp" or not u.hostname or u.port is None:
        raise ValueError(f"--plc {url!r}: expected tcp://host:port (Modbus TCP of the plant PLC)")
    return u.hostname, u.port


class Runtime:
    """The whole live system in one process.

    Parameters
    ----------
    settings : ControlSettings
        Controller settings (driver, cycle, db URL ...).
    scenario : Scenario
        The site.
    virtual_plc : bool
        Start the virtual PLC in this process (Modbus on ``settings.plc_host``; its port is chosen freely when
        ``settings.plc_port`` is 0) instead of connecting to a real one.
    plc_settings : PlcSettings, optional
        Settings of the virtual PLC.
    store : Store, optional
        Use this store instead of opening ``settings.db_url``.
    planner : bool
        Create the AUTO planner (MPC worker).
    serve_opcua : bool
        With a Modbus driver, serve the virtual PLC's OPC UA too (see ``h2quarters.plc.settings.local_opcua``).
    """

    def __init__(self, settings: ControlSettings, scenario: Scenario, virtual_plc: bool = True,
                 plc_settings: PlcSettings | None = None, store: Store | None = None, planner: bool = True,
                 serve_opcua: bool = False) -> None:
        self.settings = settings
        self.scenario = scenario
        self.rmap: RegisterMap = load_register_map(scenario=scenario)
        self.store = store or Store(settings.db_url)
        self.hub = SnapshotHub()
        self.virtual = virtual_plc
        self.plc_settings = plc_settings or PlcSettings(bind_host=settings.plc_host, modbus_port=settings.plc_port,
                                                        watchdog_timeout_ms=settings.watchdog_timeout_ms)
        self.plc: Any = None
        self.plc_thread: LoopThread | None = None
        self.ctl_thread: LoopThread | None = None
        self.controller: Controller | None = None
        self._ctl_future: cf.Future[None] | None = None
        self._want_planner = planner
        self.serve_opcua = serve_opcua
        self.plc_port = settings.plc_port
        self.opcua_endpoint = settings.opcua_endpoint
        self._opcua_password: str | None = None

    # ------------------------------------------------------------------ PLC
    def start_plc(self, plant: Any = None) -> int:
        """Start (or restart over the same ``plant``) the virtual PLC; returns its Modbus port."""
        from h2quarters.plc.virtual_plc import VirtualPlc

        if self.plc_thread is None:
            self.plc_thread = LoopThread("h2q-virtual-plc")
        ps = self.plc_settings.model_copy(update={"modbus_port": self.plc_port})
        opcua = self.settings.driver == "opcua"
        if opcua:
            ps = self._secure_virtual_opcua(ps)
        elif self.serve_opcua:  # OPC UA beside Modbus for teachers' tools (h2q plc fault ...)
            from h2quarters.plc.settings import local_opcua

            local = local_opcua(ps)
            opcua, ps = (True, local) if local is not None else (False, ps)

        async def _start() -> Any:
            plc = VirtualPlc(self.scenario, ps, plant=plant)
            await plc.start(modbus=True, opcua=opcua)
            return plc

        self.plc = self.plc_thread.run(_start(), timeout_s=120)
        self.plc_port = int(self.plc.modbus_port)
        if opcua:
            self.opcua_endpoint = self.plc.opcua_endpoint
            # a restart must find the same port
            self.plc_settings = self.plc_settings.model_copy(update={"opcua_port": self.plc.opcua.port})
        return self.plc_port

    def _secure_virtual_opcua(self, ps: PlcSettings) -> PlcSettings:
        """Production security for the in-process virtual PLC: Sign&Encrypt and a controller user with a random
        password (users file in a private temporary directory; no default password anywhere)."""
        if ps.security.mode != "production" or self._opcua_password is not None:
            return ps
        import secrets
        import tempfile
        from pathlib import Path

        from h2quarters.plc.security import add_user as add_opcua_user

        d = Path(tempfile.mkdtemp(prefix="h2q-opcua-"))
        self._opcua_password = secrets.token_urlsafe(18)
        users = d / "users.yaml"
        add_opcua_user(users, "controller", self._opcua_password, "operator")
        # the PLC trusts only listed client certificates: list the controller's own (created at its first connect)
        sec = ps.security.model_copy(update={"users_file": users, "trusted_certs": [
            *ps.security.trusted_certs, self.settings.opcua_cert_dir.expanduser() / "client_cert.der"]})
        self.plc_settings = self.plc_settings.model_copy(update={"security": sec})
        return ps.model_copy(update={"security": sec})

    def stop_plc(self) -> Any:
        """Stop the virtual PLC's servers and loop; returns its plant state (for a restart)."""
        if self.plc is None or self.plc_thread is None:
            return None
        plant = self.plc.plant
        self.plc_thread.run(self.plc.stop(), timeout_s=30)
        self.plc = None
        return plant

    # ------------------------------------------------------------------ controller
    def make_driver(self) -> PlantDriver:
        """The configured driver."""
        s = self.settings
        if s.driver == "modbus":
            return ModbusDriver(s.plc_host, self.plc_port, self.rmap, timeout_s=s.driver_timeout_s,
                                backoff_min_s=s.backoff_min_s, backoff_max_s=s.backoff_max_s)
        user, pw = s.opcua_user, os.environ.get(s.opcua_password_env)
        if self.virtual and self._opcua_password is not None:
            user, pw = "controller", self._opcua_password
        return OpcUaDriver(self.opcua_endpoint, self.rmap, user=user, password=pw, secure=s.opcua_secure,
                           cert_dir=s.opcua_cert_dir.expanduser(),
                           timeout_s=max(s.driver_timeout_s, 1.0), backoff_min_s=s.backoff_min_s,
                           backoff_max_s=s.backoff_max_s)

    def start(self) -> Runtime:
        """Start PLC (if virtual) and controller."""
        if self.virtual and self.plc is None:
            self.start_plc()
        planner = None
        if self._want_planner:
            fc = ClearSkyBlendForecaster(self.scenario, self.settings.forecast_tau_h, self.settings.forecast_window_min)
            planner = AutoPlanner(self.scenario, fc, self.settings.mpc_horizon_h, self.settings.plan_worker)
        self.ctl_thread = LoopThread("h2q-controller")
        self.controller = Controller(self.settings, self.make_driver(), self.store, self.rmap, self.scenario,
                                     self.hub, planner)
        self._ctl_future = self.ctl_thread.submit(self.controller.run())
        return self

    def stop(self) -> None:
        """Stop everything (controller first, so its last writes reach the store)."""
        if self.controller is not None and self._ctl_future is not None:
            self.controller.stop()
            try:
                self._ctl_future.result(15)
            except Exception:
                log.exception("controller stopped with an error")
            if self.controller.planner is not None:
                self.controller.planner.close()
        if self.ctl_thread is not None:
            self.ctl_thread.stop()
        self.stop_plc()
        if self.plc_thread is not None:
            self.plc_thread.stop()
        self.store.close()
