"""Latest-snapshot hub between the control loop (its own thread) and the web app (another event loop).

The controller publishes one JSON-ready snapshot per cycle; readers get the newest one without touching the
database, and stream subscribers wait for the next one. Slow readers simply skip snapshots (latest wins), so a
slow browser can never back-pressure the control loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any


class SnapshotHub:
    """Thread-safe holder of the newest snapshot with async waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: dict[str, Any] = {}
        self._seq = 0
        self._json: tuple[int, bytes] = (-1, b"")
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def seq(self) -> int:
        """Number of snapshots published so far."""
        return self._seq

    def latest(self) -> tuple[int, dict[str, Any]]:
        """(sequence number, snapshot)."""
        with self._lock:
            return self._seq, self._snap

    def latest_json(self) -> tuple[int, bytes]:
        """(sequence number, ``{"seq": …, **snapshot}`` as JSON bytes), serialised once per snapshot for all
        readers (many viewers cost one ``json.dumps`` per cycle, not one each)."""
        with self._lock:
            seq, snap, cached = self._seq, self._snap, self._json
        if cached[0] == seq:
            return cached
        data = json.dumps({"seq": seq, **snap}, allow_nan=False, separators=(",", ":")).encode()
        with self._lock:
            if self._seq == seq:
                self._json = (seq, data)
        return seq, data

    def publish(self, snap: dict[str, Any]) -> None:
        """Publish a snapshot (any thread); wakes every waiter."""
        with self._lock:
            self._snap = snap
            self._seq += 1
            waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_set, fut)
            except RuntimeError:  # loop closed
                pass

    async def wait_newer(self, seq: int, timeout_s: float = 15.0) -> tuple[int, dict[str, Any]]:
        """Wait (in the caller's loop) until a snapshot newer than ``seq`` exists, or the timeout passes."""
        with self._lock:
            if self._seq > seq:
                return self._seq, self._snap
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, fut))
        try:
            await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            with self._lock:
                self._waiters = [(lp, f) for lp, f in self._waiters if f is not fut]
        return self.latest()


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
