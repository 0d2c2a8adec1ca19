"""Input checks and NaN-safe division shared by the KPI functions (private).

Every public KPI validates its inputs here so that bad data fails with a message naming the argument,
its offending value and the allowed range, instead of producing a silently wrong number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

Number = float | int
"""A scalar quantity."""

FloatArray = NDArray[np.float64]

NEG_ROUNDOFF: float = 1e-9
"""Negative values down to -1e-9 (in the argument's unit) are round-off and read as 0."""


def series_values(x: ArrayLike, name: str, *, nonnegative: bool = True) -> FloatArray:
    """Return a per-step series as a 1-D float array after checking it.

    Parameters
    ----------
    x : array-like
        Series, array or sequence of numbers.
    name : str
        Argument name used in error messages.
    nonnegative : bool, default True
        Reject negative entries (power magnitudes, masses, currents); entries in [-1e-9, 0) are
        round-off and returned as 0.

    Raises
    ------
    ValueError
        If ``x`` is not one-dimensional, not numeric, contains NaN/inf or (with ``nonnegative``)
        negative values.
    """
    try:
        arr = np.asarray(x.to_numpy() if isinstance(x, pd.Series) else x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per time step), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at position {_where(x, i)}); "
            "fill or drop gaps before computing KPIs"
        )
    if nonnegative and arr.size and arr.min() < 0.0:
        i = int(np.argmin(arr))
        if arr[i] < -NEG_ROUNDOFF:
            raise ValueError(
                f"{name} must be >= 0, got {arr[i]!r} at position {_where(x, i)} (allowed range [0, inf))"
            )
        # round-off from a solver or an energy balance (e.g. -1e-15 kW) is zero, not bad data
        arr = np.maximum(arr, 0.0)
    return arr


def _where(x: ArrayLike, i: int) -> str:
    """Describe position ``i`` of ``x`` by its index label when ``x`` is a Series."""
    if isinstance(x, pd.Series):
        return f"{i} ({x.index[i]})"
    return str(i)


def same_length(**arrays: tuple[ArrayLike, FloatArray]) -> None:
    """Check that per-step inputs have the same length and, for Series pairs, the same index.

    ``arrays`` maps argument names to ``(original, values)`` pairs.
    """
    items = list(arrays.items())
    if not items:
        return
    name0, (orig0, arr0) = items[0]
    for name, (orig, arr) in items[1:]:
        if arr.shape[0] != arr0.shape[0]:
            raise ValueError(
                f"{name} has {arr.shape[0]} steps but {name0} has {arr0.shape[0]}; they must cover the same steps"
            )
        if isinstance(orig0, pd.Series) and isinstance(orig, pd.Series) and not orig.index.equals(orig0.index):
            raise ValueError(
                f"{name} and {name0} have different indexes; align them (e.g. reindex) before computing KPIs"
            )


def step_hours_values(dt_h: ArrayLike | Number, n: int, name: str = "dt_h") -> FloatArray | float:
    """Check a step length in hours: a positive scalar or one positive value per step.

    Returns a float for a scalar and a float array of length ``n`` otherwise.
    """
    if np.ndim(dt_h) == 0:
        val = _finite_scalar(dt_h, name)
        if val <= 0.0:
            raise ValueError(f"{name} must be > 0 h, got {val!r} (allowed range (0, inf))")
        return val
    arr = series_values(dt_h, name)  # type: ignore[arg-type]
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} step lengths but the series has {n} steps")
    if arr.size and arr.min() <= 0.0:
        raise ValueError(f"{name} must be > 0 h at every step, got {arr.min()!r} (allowed range (0, inf))")
    return arr


def _finite_scalar(x: object, name: str) -> float:
    try:
        val = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(val):
        raise ValueError(f"{name} must be finite, got {val!r}")
    return val


def scalar(x: object, name: str, *, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False) -> float:
    """Check a scalar against a range and return it as float.

    Parameters
    ----------
    x : number
        The value.
    name : str
        Argument name for the error message.
    lo, hi : float, optional
        Bounds; ``None`` means unbounded.
    lo_open, hi_open : bool
        Exclude the bound itself.
    """
    val = _finite_scalar(x, name)
    too_low = lo is not None and (val <= lo if lo_open else val < lo)
    too_high = hi is not None and (val >= hi if hi_open else val > hi)
    if too_low or too_high:
        left = "(" if lo_open or lo is None else "["
        right = ")" if hi_open or hi is None else "]"
        lo_s = "-inf" if lo is None else repr(lo)
        hi_s = "inf" if hi is None else repr(hi)
        raise ValueError(f"{name} = {val!r} is outside the allowed range {left}{lo_s}, {hi_s}{right}")
    return val


def energy_per_step_kwh(p_kw: FloatArray, dt_h: FloatArray | float) -> FloatArray:
    """Energy of every step in kWh: ``p_kw * dt_h``."""
    return p_kw * dt_h


def total_hours(dt_h: FloatArray | float, n: int) -> float:
    """Length of the period in hours."""
    return float(dt_h * n) if np.ndim(dt_h) == 0 else float(np.sum(dt_h))


def ratio(num: float, den: float) -> float:
    """``num / den`` as float, NaN when ``den == 0`` (the KPI is undefined, e.g. nothing was produced)."""
    if den == 0.0:
        return math.nan
    return float(num) / float(den)


def ratio_like(num: ArrayLike | Number, den: ArrayLike | Number) -> float | FloatArray | pd.Series:
    """Element-wise ``num / den`` keeping the shape: float for scalars, Series for Series.

    Entries with ``den == 0`` are NaN (undefined KPI), never an exception or ``inf``.
    """
    if isinstance(num, pd.Series) and isinstance(den, pd.Series) and not num.index.equals(den.index):
        raise ValueError("numerator and denominator Series have different indexes; align them first")
    index = next((v.index for v in (num, den) if isinstance(v, pd.Series)), None)
    n = np.asarray(num.to_numpy() if isinstance(num, pd.Series) else num, dtype=np.float64)
    d = np.asarray(den.to_numpy() if isinstance(den, pd.Series) else den, dtype=np.float64)
    n, d = np.broadcast_arrays(n, d)
    out = np.full(n.shape, np.nan)
    np.divide(n, d, out=out, where=d != 0.0)
    if out.ndim == 0:
        return float(out)
    if index is not None and out.ndim == 1 and len(index) == len(out):
        return pd.Series(out, index=index)
    return out


def amount(x: ArrayLike | Number, name: str) -> None:
    """Check a scalar or per-period amount (energy, mass) is finite and >= 0; raise naming ``name``."""
    if np.ndim(x) == 0:
        scalar(x, name, lo=0.0)
    else:
        series_values(x, name)  # type: ignore[arg-type]
