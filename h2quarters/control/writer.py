"""Background store writer: the control loop hands over measurements and alarm changes, a thread commits them.

Measurements of several cycles that queue up while the disk is busy are committed in one transaction; the
newest committed measurement time is published (``last_committed_t_ms``) so tests and the API can tell what is
durable. Alarm changes are applied in order, after the measurements queued before them.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from h2quarters.store import Store

log = logging.getLogger(__name__)

_STOP = object()


class StoreWriter:
    """One writer thread per store."""

    def __init__(self, store: Store, max_batch: int = 600) -> None:
        self.store = store
        self.max_batch = max_batch
        self._q: queue.Queue[Any] = queue.Queue()
        self.last_committed_t_ms: int | None = None
        self.n_commits = 0
        self.n_errors = 0
        self._thread = threading.Thread(target=self._run, name="h2q-store-writer", daemon=True)
        self._thread.start()

    def measurements(self, t_ms: int, rows: list[tuple[int, float | None, int]]) -> None:
        """Queue one cycle's measurements."""
        self._q.put(("m", t_ms, rows))

    def call(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Queue any store call (alarm raise/clear ...), executed in order; the future is done once it ran
        (its exception, if it failed), so a caller can wait until the call is durable."""
        fut: cf.Future[Any] = cf.Future()
        self._q.put(("c", fn, args, fut))
        return fut

    @property
    def backlog(self) -> int:
        """Items waiting."""
        return self._q.qsize()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Flush and stop."""
        self._q.put(_STOP)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            batch: list[tuple[int, list[tuple[int, float | None, int]]]] = []
            pending: list[Any] = []
            while True:
                if item is _STOP:
                    pending.append(item)
                    break
                if item[0] == "m":
                    batch.append((item[1], item[2]))
                else:
                    pending.append(item)
                    break  # keep order: calls run after the measurements queued before them
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self.last_committed_t_ms = self.store.write_measurements(batch)
                    self.n_commits += 1
                except Exception:
                    self.n_errors += 1
                    log.exception("storing %d measurement cycles failed", len(batch))
            for it in pending:
                if it is _STOP:
                    return
                try:
                    it[3].set_result(it[1](*it[2]))
                except Exception as exc:
                    self.n_errors += 1
                    log.exception("store call %s failed", getattr(it[1], "__name__", it[1]))
                    it[3].set_exception(exc)
