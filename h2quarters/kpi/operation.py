"""Operating KPIs from a state series: start count, hours per state, availability.

Electrolyser state codes follow the simulator's ``ely_state`` column:
0 = off, 1 = standby, 2 = starting, 3 = producing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from h2quarters.kpi._checks import (
    FloatArray,
    Number,
    ratio,
    series_values,
    step_hours_values,
    total_hours,
)

__all__ = [
    "STATE_OFF",
    "STATE_STANDBY",
    "STATE_STARTING",
    "STATE_PRODUCING",
    "STATE_NAMES",
    "count_starts",
    "hours_per_state",
    "availability",
]

STATE_OFF: int = 0
STATE_STANDBY: int = 1
STATE_STARTING: int = 2
STATE_PRODUCING: int = 3
STATE_NAMES: dict[int, str] = {
    STATE_OFF: "off",
    STATE_STANDBY: "standby",
    STATE_STARTING: "starting",
    STATE_PRODUCING: "producing",
}


def _states(state: ArrayLike, name: str = "state") -> np.ndarray:
    """Check a state series: integers 0..3 (floats with integral values are accepted)."""
    values = series_values(state, name)
    codes = values.astype(np.int64)
    bad = (codes != values) | ~np.isin(codes, list(STATE_NAMES))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must hold state codes {sorted(STATE_NAMES)} ({STATE_NAMES}), "
            f"got {values[i]!r} at position {i}"
        )
    return codes


def count_starts(state: ArrayLike, previous_state: int | None = None) -> int:
    """Number of starts: transitions from OFF or STANDBY into STARTING or PRODUCING.

    ``N_starts = #{t : s_{t-1} ∈ {off, standby} ∧ s_t ∈ {starting, producing}}``

    A start sequence off → starting → producing counts once; an aborted start (starting → off) followed by
    a new attempt counts again, because each attempt stresses the stack. A series that begins in
    STARTING/PRODUCING counts a start only if ``previous_state`` says the unit was off or in standby.

    Parameters
    ----------
    state : array-like
        State code per step (0 off, 1 standby, 2 starting, 3 producing).
    previous_state : int, optional
        State before the first step (to count starts across chunked series); ``None`` = unknown.

    Returns
    -------
    int
        Number of starts.
    """
    s = _states(state)
    if previous_state is not None:
        s = np.concatenate([_states([previous_state], "previous_state"), s])
    if s.size < 2:
        return 0
    was_idle = np.isin(s[:-1], (STATE_OFF, STATE_STANDBY))
    is_running = np.isin(s[1:], (STATE_STARTING, STATE_PRODUCING))
    return int(np.count_nonzero(was_idle & is_running))


def hours_per_state(state: ArrayLike, dt_h: ArrayLike | Number) -> dict[str, float]:
    """Time spent in each state.

    ``h_k = Σ_t [s_t = k] · Δt_t``

    Parameters
    ----------
    state : array-like
        State code per step (0 off, 1 standby, 2 starting, 3 producing); a step's state holds for the step.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    dict[str, float]
        Hours in h keyed ``'off'``, ``'standby'``, ``'starting'``, ``'producing'`` (all keys present);
        the values sum to the period length.
    """
    s = _states(state)
    dt: FloatArray | float = step_hours_values(dt_h, s.shape[0])
    dt_arr = np.broadcast_to(np.asarray(dt, dtype=np.float64), s.shape)
    return {name: float(np.sum(dt_arr[s == code])) for code, name in STATE_NAMES.items()}


def availability(available: ArrayLike, dt_h: ArrayLike | Number) -> float:
    """Time-based availability: share of the period in which the unit was available.

    ``A = Σ_t a_t · Δt_t / Σ_t Δt_t`` with ``a_t ∈ {0, 1}`` (1 = ready to run, whether running or not;
    0 = fault, maintenance, interlock).

    Parameters
    ----------
    available : array-like of bool or {0, 1}
        Availability flag per step.
    dt_h : float or array-like
        Step length in h.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN for an empty series.
    """
    a = series_values(available, "available")
    if not np.isin(a, (0.0, 1.0)).all():
        i = int(np.flatnonzero(~np.isin(a, (0.0, 1.0)))[0])
        raise ValueError(f"available must be 0/1 or bool, got {a[i]!r} at position {i}")
    dt = step_hours_values(dt_h, a.shape[0])
    return ratio(float(np.sum(a * dt)), total_hours(dt, a.shape[0]))
