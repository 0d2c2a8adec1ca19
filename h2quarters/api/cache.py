"""A tiny time-to-live cache for read endpoints that many viewers ask identically (history, alarms).

Fifty HMIs asking for the same 15-min trend within a second cost one query instead of fifty; answers are at most
``ttl_s`` old. Writers in this process call :meth:`TTLCache.clear` (e.g. after an alarm acknowledgement).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    """Thread-safe LRU cache whose entries expire after ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 1.0, max_entries: int = 256) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._d: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        """Cached value of ``key`` or ``fn()`` (stored). Exceptions are not cached."""
        now = time.monotonic()
        with self._lock:
            hit = self._d.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                self._d.move_to_end(key)
                self.hits += 1
                return hit[1]
        value = fn()
        with self._lock:
            self.misses += 1
            self._d[key] = (now, value)
            self._d.move_to_end(key)
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._d.clear()
