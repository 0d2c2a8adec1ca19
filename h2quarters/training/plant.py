"""Exercise plants: one private, in-process plant per learner, never the pilot.

* :class:`ExercisePlant` wraps the virtual PLC's plant (:class:`h2quarters.plc.plant.PlantState`: the foundation
  models, interlocks and fault injection) of a scenario; writes go through the PLC's own checks.
* :class:`FuelCellBench` is the fuel-cell test bench of the lab kits (one or two PEM stacks on an electronic load),
  with the polarisation curve :func:`h2quarters.models.fuelcell.pem_cell_voltage_v`.

Both advance in plant time (:meth:`advance`, or :meth:`tick` with wall-clock seconds times the speed) and give
readings through the instrument model of :mod:`h2quarters.training.sensors` (seeded). Every reading is recorded
with its plant time (:attr:`readings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from h2quarters.config import SCENARIOS_DIR, Scenario, load_scenario
from h2quarters.models.electrolyser import ElectrolyserState
from h2quarters.models.fuelcell import pem_cell_voltage_v
from h2quarters.training.schema import Fault, PlantSetup
from h2quarters.training.sensors import sensor_for


@dataclass
class Reading:
    """One recorded reading: which measurement, plant time, the values as read (noisy) and the true values."""

    measurement_id: str
    t_s: float
    time: str
    values: dict[str, float]
    true_values: dict[str, float] = field(default_factory=dict)


class Plant(Protocol):
    """What the training engine needs of a plant (site plant, bench, or a replay)."""

    t_s: float
    readings: list[Reading]

    def advance(self, dt_s: float) -> None: ...
    def write(self, signal: str, value: Any) -> None: ...
    def true_value(self, signal: str) -> float: ...
    def signals(self) -> list[str]: ...
    def measure(self, measurement_id: str, signals: list[str]) -> Reading: ...


class _Recorder:
    """Shared reading/recording logic: noisy values through the instrument model, kept in :attr:`readings`."""

    t_s: float
    t0: pd.Timestamp
    rng: np.random.Generator
    noise: bool

    def _init_recorder(self, seed: int, noise: bool, t0: pd.Timestamp) -> None:
        self.rng = np.random.default_rng([seed, 0x7EAC])
        self.noise = noise
        self.t0 = t0
        self.readings: list[Reading] = []

    def true_value(self, signal: str) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def signals(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def read(self, signal: str) -> float:
        """One reading of ``signal`` through its instrument model (exact when noise is off)."""
        x = self.true_value(signal)
        return sensor_for(signal).read(x, self.rng) if self.noise else float(x)

    def measure(self, measurement_id: str, signals: list[str]) -> Reading:
        """Read ``signals`` now, record and return the reading.

        Raises
        ------
        KeyError
            Unknown signal (the message lists the known ones).
        """
        known = set(self.signals())
        bad = [s for s in signals if s not in known]
        if bad:
            raise KeyError(f"unknown signal(s) {bad}; known: {', '.join(sorted(known))}")
        true = {s: float(self.true_value(s)) for s in signals}
        if self.noise:
            vals = {s: sensor_for(s).read(true[s], self.rng) for s in signals}
        else:  # exact values, shown with the instrument's digits only where asked (recorded data)
            vals = {s: (sensor_for(s).display(true[s]) if getattr(self, "display_digits", False) else true[s])
                    for s in signals}
        r = Reading(measurement_id, self.t_s, (self.t0 + pd.Timedelta(seconds=self.t_s)).isoformat(), vals, true)
        self.readings.append(r)
        return r


@lru_cache(maxsize=8)
def _scenario(name: str) -> Scenario:
    return load_scenario(SCENARIOS_DIR / name)


@lru_cache(maxsize=8)
def _shared_parts(name: str, start: str) -> tuple[Any, Any, Any, Scenario]:
    """Register map, PV/load profile, compressor table and a compressor-less copy of the scenario (built once).

    Building a compressor table costs ~0.1 s of CoolProp calls; the table is stateless, so every exercise plant of
    one scenario shares it (a class of 30 learners starts 30 plants).
    """
    from h2quarters.models.compressor import CompressorModel
    from h2quarters.plc.plant import PlantState
    from h2quarters.plc.settings import PlcSettings

    scn = _scenario(name)
    first = PlantState(scn, PlcSettings(start=start))
    no_comp = scn.model_copy(update={"storage": scn.storage.model_copy(update={"compressor": None})})
    comp = first.compressor
    if comp is None and scn.storage.compressor is not None:  # pragma: no cover - PlantState builds it
        comp = CompressorModel(scn.storage.compressor, scn.electrolyser.p_out_bar, first.tank.p_table_max_bar)
    return first.rmap, first.profile, comp, no_comp


class ExercisePlant(_Recorder):
    """The site plant of a scenario, in-process, for one learner.

    Parameters
    ----------
    setup : PlantSetup
        Scenario, start time, starting state (producing, rate, stack temperature, tank pressure, fuel cell).
    seed : int
        Seeds the instrument noise and the PLC's fault noise.
    faults : list of Fault, optional
        Faults to inject at start (``at_s`` > 0 ones when plant time reaches them).
    noise : bool, default True
        Off for teachers' reference runs.
    settle_s : float, default 600
        Plant time run before the learner starts, so that a producing plant is at its set rate.
    """

    kind = "plant"

    def __init__(self, setup: PlantSetup, seed: int = 0, faults: list[Fault] | None = None, noise: bool = True,
                 settle_s: float = 600.0) -> None:
        from h2quarters.plc.plant import PlantState
        from h2quarters.plc.settings import PlcSettings

        rmap, profile, comp, no_comp = _shared_parts(setup.scenario, setup.start)
        self.setup = setup
        self.scenario = _scenario(setup.scenario)
        # The plant time drives the PLC's wall-clock watchdogs too: an exercise paused by a learner must not trip.
        self.state = PlantState(no_comp, PlcSettings(start=setup.start, seed=seed), rmap=rmap, profile=profile,
                                clock=lambda: self.t_s)
        self.state.scenario = self.scenario
        self.state.compressor = comp
        self._init_recorder(seed, noise, pd.Timestamp(profile.t0))
        st = self.state
        if setup.p_tank_bar is not None:
            st.m_tank_kg = float(st.tank.mass_from_pressure_kg(float(setup.p_tank_bar)))
            st.tank.m_init_kg = st.m_tank_kg  # our own tank instance: the H2 balance starts here
        if setup.t_stack_c is not None:
            st.el.t_c = float(setup.t_stack_c)
        self._pending: list[Fault] = []
        if setup.producing:
            st.el.state = ElectrolyserState.PRODUCING
            st.el.p_stack_kw = st.el.model.p_min_kw
            st.write("el_production_rate_pct", float(setup.el_rate_pct))
            st.write("el_start", True)
        if setup.fc_kw > 0:
            st.write("fc_setpoint_kw", float(setup.fc_kw))
            st.write("fc_start", True)
        for f in faults or []:
            self.schedule_fault(f)
        if settle_s > 0:
            self._run(settle_s)
            if setup.t_stack_c is not None and not setup.producing:
                st.el.t_c = float(setup.t_stack_c)
        # learner time starts at 0 after settling
        self.t_offset_s = self.t_s

    # ------------------------------------------------------------------ time
    @property
    def t_s(self) -> float:  # type: ignore[override]
        """Plant time in s since the plant was built (including the settling run)."""
        return float(self.state.t_s) if hasattr(self, "state") else 0.0

    def _run(self, dt_s: float) -> None:
        """Advance in at most 10 steps of up to 300 s (longer for long waits).

        The foundation models are exact for any step (zero-order hold of the stack power, analytic thermal step),
        so a long wait needs no fine steps; a setpoint change takes effect ramp-limited within the first step. PV
        and load (grid meter only) are sampled once per step.
        """
        if dt_s <= 0:
            return
        n = max(1, min(10, math.ceil(dt_s / 300.0)))
        h = dt_s / n
        for _ in range(n):
            due = [f for f in self._pending if f.at_s <= self.t_s + 1e-9]
            for f in due:
                self._pending.remove(f)
                self.state.inject_fault(f.kind, f.target, f.value, f.hidden)
            self.state.step(h)

    def advance(self, dt_s: float) -> None:
        """Advance the plant by ``dt_s`` seconds of plant time (>= 0)."""
        if not (math.isfinite(dt_s) and dt_s >= 0):
            raise ValueError(f"dt_s = {dt_s!r} must be a finite number >= 0")
        self._run(dt_s)

    def tick(self, wall_dt_s: float) -> None:
        """Advance by ``wall_dt_s`` seconds of wall time at the setup's speed (one model step)."""
        h = wall_dt_s * self.setup.speed
        if h > 0:
            self.state.step(h)

    # ------------------------------------------------------------------ faults
    def schedule_fault(self, fault: Fault) -> None:
        """Inject ``fault`` now, or when plant time reaches ``fault.at_s``."""
        if fault.at_s <= self.t_s:
            self.state.inject_fault(fault.kind, fault.target, fault.value, fault.hidden)
        else:
            self._pending.append(fault)

    def inject_fault(self, kind: str, target: str | None = None, value: float | None = None,
                     hidden: bool = True) -> dict[str, Any]:
        """Inject a fault now (teacher); see :mod:`h2quarters.plc.faults`."""
        return self.state.inject_fault(kind, target, value, hidden)

    def clear_faults(self) -> int:
        """Remove every fault."""
        return self.state.clear_fault(None)

    # ------------------------------------------------------------------ signals
    def signals(self) -> list[str]:
        """Names of all signals of the plant's register map."""
        return [s.name for s in self.state.rmap.signals]

    def true_value(self, signal: str) -> float:
        """Value as the PLC reports it (sensor faults applied), before the instrument model."""
        v = self.state.read(signal)
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    def write(self, signal: str, value: Any) -> None:
        """Write a setpoint through the PLC (its range checks and interlocks apply)."""
        self.state.write(signal, value, source="training")


class FuelCellBench(_Recorder):
    """Fuel-cell test bench: one or two PEM stacks on an electronic load.

    Controls (``write``): ``load_a`` (current of the load), ``set_u_v`` (voltage of the load in CV mode, for the
    parallel circuit), ``wiring`` (``unit1``, ``unit2``, ``series``, ``parallel``). Signals: ``u_v``, ``i_a`` (at
    the load), ``u1_v``, ``u2_v``, ``i1_a``, ``i2_a`` (per unit), ``p_w``.

    Unit 2 is an older stack: its ohmic resistance is ``1 + ageing`` times unit 1's (``ageing`` per learner).
    """

    kind = "fc_bench"

    def __init__(self, setup: PlantSetup, seed: int = 0, noise: bool = True, ageing: float = 0.3,
                 t_c: float | None = None) -> None:
        self.setup = setup
        self.t_s = 0.0
        self.n_cells = setup.n_cells
        self.area_cm2 = setup.cell_area_cm2
        self.t_c = setup.t_fc_c if t_c is None else float(t_c)
        self.r_ohm_cm2 = (0.15, 0.15 * (1.0 + ageing))
        self.load_a = 0.0
        self.set_u_v: float | None = None
        self.wiring = "unit1" if setup.n_units == 1 else "series"
        self._init_recorder(seed, noise, pd.Timestamp(setup.start))
        self.t_offset_s = 0.0

    def i_max_a(self) -> float:
        """Largest current of a unit (below the limiting current density)."""
        return 1.5 * self.area_cm2 * 0.98

    def unit_voltage_v(self, unit: int, i_a: float) -> float:
        """Stack voltage of unit ``unit`` (1 or 2) at current ``i_a``."""
        j = max(i_a, 0.0) / self.area_cm2
        u_cell = pem_cell_voltage_v(j, t_c=self.t_c, r_ohm_cm2=self.r_ohm_cm2[unit - 1])
        return float(u_cell) * self.n_cells

    def unit_current_a(self, unit: int, u_v: float) -> float:
        """Current of unit ``unit`` at stack voltage ``u_v`` (inverse of the polarisation curve)."""
        u_oc = self.unit_voltage_v(unit, 0.0)
        if u_v >= u_oc:
            return 0.0
        hi = self.i_max_a()
        if u_v <= self.unit_voltage_v(unit, hi):
            return hi
        return float(brentq(lambda i: self.unit_voltage_v(unit, i) - u_v, 0.0, hi, xtol=1e-10))

    def _state(self) -> dict[str, float]:
        w, i = self.wiring, self.load_a
        if w in ("unit1", "unit2", "series"):
            u1 = self.unit_voltage_v(1, i) if w != "unit2" else math.nan
            u2 = self.unit_voltage_v(2, i) if w != "unit1" else math.nan
            u = {"unit1": u1, "unit2": u2, "series": u1 + u2}[w]
            i1 = i if w != "unit2" else 0.0
            i2 = i if w != "unit1" else 0.0
            return {"u_v": u, "i_a": i, "u1_v": u1, "u2_v": u2, "i1_a": i1, "i2_a": i2, "p_w": u * i}
        # parallel: the load holds the voltage; each unit delivers its own current
        u = self.set_u_v if self.set_u_v is not None else self.unit_voltage_v(1, 0.0) * 0.8
        i1, i2 = self.unit_current_a(1, u), self.unit_current_a(2, u)
        return {"u_v": u, "i_a": i1 + i2, "u1_v": u, "u2_v": u, "i1_a": i1, "i2_a": i2, "p_w": u * (i1 + i2)}

    def signals(self) -> list[str]:
        """Names of the bench signals."""
        return ["u_v", "i_a", "u1_v", "u2_v", "i1_a", "i2_a", "p_w"]

    def true_value(self, signal: str) -> float:
        """True value of a bench signal."""
        return float(self._state()[signal])

    def write(self, signal: str, value: Any) -> None:
        """Set ``load_a``, ``set_u_v`` or ``wiring``; a value out of range raises ValueError naming it."""
        if signal == "load_a":
            v = float(value)
            if not 0.0 <= v <= self.i_max_a():
                raise ValueError(f"load_a = {v!r} outside the allowed range [0, {self.i_max_a():.4g}] A")
            self.load_a = v
        elif signal == "set_u_v":
            v = float(value)
            if not 0.0 < v <= self.unit_voltage_v(1, 0.0) * 1.05:
                raise ValueError(f"set_u_v = {v!r} outside the allowed range (0, open-circuit voltage]")
            self.set_u_v = v
        elif signal == "wiring":
            allowed = ("unit1", "unit2") if self.setup.n_units == 1 else ("unit1", "unit2", "series", "parallel")
            if value not in allowed:
                raise ValueError(f"wiring = {value!r} not allowed; choose one of {list(allowed)}")
            self.wiring = str(value)
        else:
            raise KeyError(f"bench control {signal!r} unknown; known: load_a, set_u_v, wiring")

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` of time pass (the bench is at steady state at once)."""
        if not (math.isfinite(dt_s) and dt_s >= 0):
            raise ValueError(f"dt_s = {dt_s!r} must be a finite number >= 0")
        self.t_s += dt_s

    def tick(self, wall_dt_s: float) -> None:
        """Advance by wall time times the speed."""
        self.advance(wall_dt_s * self.setup.speed)
