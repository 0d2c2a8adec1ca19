"""Persistent physical state of the virtual PLC's plant: a tank does not empty when its PLC reboots.

What survives a restart (JSON snapshot, written atomically: temporary file in the same directory, fsync, rename):
tank mass, H2 concentration in the room, electrolyser temperature and degradation (operating hours, starts),
battery energy, the meters (energy and hydrogen counters), latched trips and the watchdog fallback count,
injected faults. What does not: setpoints and commands (after a reboot the electrolyser and fuel cell are stopped and
the operating mode is *manual*, as on a PLC cold start), uptime / plant time (they count since the PLC started),
open configuration transactions.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from h2quarters.plc.faults import Fault
from h2quarters.plc.plant import PlantState

FORMAT = 1


def snapshot(plant: PlantState) -> dict[str, Any]:
    """The plant's persistent state as plain JSON data."""
    el = plant.el
    return {
        "format": FORMAT,
        "scenario": plant.scenario.name,
        "m_tank_kg": plant.m_tank_kg,
        "m_ref_kg": plant.m_ref_kg,
        "c_h2_vol": plant.c_h2_vol,
        "el": {"t_c": el.t_c, "op_hours_h": el.op_hours_h, "n_starts": el.n_starts},
        "battery_e_kwh": plant.battery.e_stored_kwh if plant.battery is not None else None,
        "acc": dict(plant.acc),
        "trips": plant.trips,
        "fallback_count": plant.fallback_count,
        "faults": [{**f.as_dict(), "value": _plain(f.value), "t_since_s": plant.t_s - f.t_start_s,
                    "frozen": _plain(f.frozen)} for f in plant.faults.active(include_hidden=True)],
        "next_fault_id": plant.faults._next_id,
    }


def _plain(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def restore(plant: PlantState, data: dict[str, Any], source: str = "snapshot") -> None:
    """Put a :func:`snapshot` back into a freshly built plant.

    Raises
    ------
    ValueError
        If the snapshot is of another format or scenario, or a value is outside what the plant allows; the plant
        is unchanged then.
    """
    if data.get("format") != FORMAT:
        raise ValueError(f"{source}: format {data.get('format')!r} unknown (expected {FORMAT})")
    if data.get("scenario") != plant.scenario.name:
        raise ValueError(f"{source}: saved for scenario {data.get('scenario')!r}, not {plant.scenario.name!r}")
    m = float(data["m_tank_kg"])
    if not 0.0 <= m <= plant.m_relief_kg:
        raise ValueError(f"{source}: m_tank_kg = {m} outside [0, {plant.m_relief_kg:.3f}] kg of this tank")
    el = data["el"]
    t_c, op_h, n_starts = float(el["t_c"]), float(el["op_hours_h"]), int(el["n_starts"])
    if not (-40.0 <= t_c <= 150.0 and op_h >= 0 and n_starts >= 0):
        raise ValueError(f"{source}: electrolyser state {el!r} out of range")
    acc = {k: float(v) for k, v in data["acc"].items() if k in plant.acc}
    faults = data.get("faults", [])
    # all checks passed: apply
    plant.m_tank_kg = m
    plant.m_ref_kg = float(data.get("m_ref_kg", plant.tank.m_init_kg))
    plant.c_h2_vol = max(float(data["c_h2_vol"]), 0.0)
    plant.el.t_c, plant.el.op_hours_h, plant.el.n_starts = t_c, op_h, n_starts
    if plant.battery is not None and data.get("battery_e_kwh") is not None:
        b = plant.battery
        b.e_stored_kwh = min(max(float(data["battery_e_kwh"]), b.e_min_kwh), b.e_max_kwh)
    plant.acc.update(acc)
    plant.trips = int(data["trips"])
    plant.fallback_count = int(data["fallback_count"])
    inj = plant.faults
    for f in faults:
        fault = Fault(int(f["id"]), f["kind"], f["target"], f["value"], bool(f["hidden"]),
                      plant.t_s - float(f["t_since_s"]), frozen=f.get("frozen"))
        inj._faults[fault.id] = fault
    inj._next_id = max([int(data.get("next_fault_id", 1)), *[f.id + 1 for f in inj._faults.values()]])
    plant._evaluate_interlocks()
    plant._derive()


def save(plant: PlantState, path: Path) -> None:
    """Write the snapshot atomically (a crash leaves either the old or the new file, never half of one)."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(snapshot(plant), indent=1, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(plant: PlantState, path: Path) -> bool:
    """Restore the plant from ``path`` if it exists; return whether it did.

    Raises
    ------
    ValueError
        If the file exists but cannot be used (names the file and says how to start fresh).
    """
    path = path.expanduser()
    if not path.exists():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        restore(plant, data, source=str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"plant state file {path} cannot be restored ({exc}); "
                         "move it away or start with --fresh") from None
    return True
