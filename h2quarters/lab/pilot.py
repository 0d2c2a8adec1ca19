"""Observing the pilot: a lesson's group plant that is the pilot itself, read-only.

Two plants, both with ``read_only = True`` (the training engine then skips setpoints, the lesson service refuses
every write-type action):

* :class:`PilotPlant` shows the pilot's *live* values through the same read path as the HMI's ``/api/state``: the
  controller's newest snapshot in the :class:`~h2quarters.control.hub.SnapshotHub` (only GOOD values; anything
  else reads as NaN, shown as "–"). It holds no driver, PLC link or controller: it cannot write.
* :class:`RecordedDay` plays one stored day of the pilot (``measurements`` read with SELECTs, as the HMI's
  ``/api/history``) at the lesson's speed; it stops at the end of the recording instead of failing.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import pandas as pd

from h2quarters.training.plant import _Recorder
from h2quarters.training.replay import ReadOnlyError, ReplayPlant

OBSERVE_MODES = ("live", "recorded")
"""How a lesson observes the pilot (``PlantSetup.observe`` lists which ones an exercise allows)."""


class PilotOffline(RuntimeError):
    """The pilot has published no snapshot yet (controller not started) or this server has no pilot."""


class PilotPlant(_Recorder):
    """The live pilot, read-only, as the controller last published it.

    Parameters
    ----------
    hub : SnapshotHub
        The controller's snapshot hub (the HMI's read path).
    scenario : Scenario
        The pilot's scenario (plant sizes for the reference answers).
    t0_ms : int, optional
        Wall time (ms) that counts as plant time 0 (the lesson's creation; default now).
    """

    kind = "pilot"
    read_only = True
    display_digits = True

    def __init__(self, hub: Any, scenario: Any, t0_ms: int | None = None) -> None:
        self.hub = hub
        self.scenario = scenario
        self.t0_ms = int(time.time() * 1000) if t0_ms is None else int(t0_ms)
        self._init_recorder(0, False, pd.Timestamp(self.t0_ms, unit="ms", tz="UTC").tz_convert("Europe/Berlin"))
        self.t_s = 0.0
        self.t_offset_s = 0.0
        self._values: dict[str, float] = {}
        self._names: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        """Take the controller's newest snapshot (values shown and measured until the next refresh)."""
        seq, snap = self.hub.latest() if self.hub is not None else (0, {})
        if not seq or not snap:  # no pilot (yet): no values, signals() says so
            return
        sig = snap.get("signals", {})
        self._names = list(sig)
        self._values = {n: float(d["v"]) if d.get("q") == "GOOD" and isinstance(d.get("v"), (int, float))
                        else math.nan for n, d in sig.items()}
        self.t_s = max(0.0, (int(snap.get("t_ms", self.t0_ms)) - self.t0_ms) / 1000.0)

    def advance(self, dt_s: float) -> None:
        """The pilot runs in its own time: advancing means reading its newest snapshot (``dt_s`` is ignored)."""
        self.refresh()

    def tick(self, wall_dt_s: float, speed: float = 1.0) -> None:
        """Same as :meth:`advance`."""
        self.refresh()

    def signals(self) -> list[str]:
        """Signals of the pilot's snapshot; :class:`PilotOffline` before the first one."""
        if not self._names:
            self.refresh()
        if not self._names:
            raise PilotOffline("the pilot has published no values yet (is its controller running?)")
        return list(self._names)

    def true_value(self, signal: str) -> float:
        """The pilot's value (NaN unless its quality is GOOD)."""
        return self._values.get(signal, math.nan)

    def write(self, signal: str, value: Any) -> None:
        """Refused: the pilot is observed, never commanded from a lesson."""
        raise ReadOnlyError(f"{signal} = {value!r} refused: the pilot is observed read-only in a lesson")


class RecordedDay(ReplayPlant):
    """One stored day of the pilot, played at the lesson's speed, stopping at the end of the recording."""

    kind = "recorded"

    def fresh(self) -> RecordedDay:
        """Another group's player of the same recording (data shared, own cursor and readings)."""
        other = copy.copy(self)
        other.t_s = 0.0
        other.readings = []
        return other

    def advance(self, dt_s: float) -> None:
        """Play on by ``dt_s`` of plant time (held at the end of the day instead of failing)."""
        self.t_s = min(max(self.t_s + float(dt_s), 0.0), self.span_s)


def recorded_day(store: Any, day: str, scenario: Any, signals: list[str] | None = None) -> RecordedDay:
    """The pilot's stored day ``day`` (``YYYY-MM-DD``, Europe/Berlin) from the server's store in 60-s means (a day
    with less than two minutes stored: 5-s means), of ``signals`` only (default all stored ones: reading a whole
    day of every signal costs seconds of CPU in the pilot's server process).

    Raises
    ------
    ValueError
        No stored measurements on that day (the message names the day).
    """
    stored = store.signal_ids()
    names = sorted(stored) if signals is None else sorted(set(signals) & set(stored))
    if not names:
        raise ValueError("the store holds none of the signals the lesson reads")
    try:
        plant = RecordedDay.from_store(store, day, signals=names, bucket_s=60)
    except ValueError as exc:
        if "at least 2 samples" not in str(exc):
            raise
        plant = RecordedDay.from_store(store, day, signals=names, bucket_s=5)
    if scenario is not None:
        plant.scenario = scenario
    return plant
