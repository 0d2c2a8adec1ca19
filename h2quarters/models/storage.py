"""Compressed hydrogen storage: real-gas density and a constant-temperature pressure vessel.

Method
------
Densities come from CoolProp's implementation of the reference equation of state for *normal* hydrogen
(Leachman, Jacobsen, Penoncello & Lemmon 2009, J. Phys. Chem. Ref. Data 38:721, doi:10.1063/1.3160306;
the same equation the NIST Chemistry WebBook uses; density uncertainty 0.04 % for 250–450 K up to 300 MPa).
A Helmholtz-energy EOS must be solved iteratively for density at given (p, T): ≈45 µs per single call,
≈4 µs per point in bulk. The tank is modelled isothermal at ``HydrogenStorage.t_c`` (slow filling of a
small bundle), so :class:`HydrogenTank` evaluates CoolProp once on a fine pressure grid at that
temperature and then interpolates with a shape-preserving monotone cubic (PCHIP, Fritsch & Carlson 1980).
Monotone data give a monotone interpolant, so the mass–pressure relation stays invertible; the inverse is
solved per segment and polished by Newton steps on the same cubic so that both directions agree to
machine precision. Scalar calls take a pure-Python path (≈0.4 µs mass from pressure, ≈2 µs pressure
from mass). The table error against CoolProp is below 1e-7 relative (measured 2.6e-8; asserted in
``tests/models/test_storage.py``).

Heating of the gas during fast filling and cooling on emptying are not modelled.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from CoolProp.CoolProp import PropsSI
from scipy.interpolate import PchipInterpolator

from h2quarters.config.scenario import HydrogenStorage
from h2quarters.models.constants import T_ZERO_K

FLUID = "Hydrogen"
"""CoolProp name of normal hydrogen (Leachman et al. 2009 EOS)."""
M_H2_EOS_KG_PER_MOL: float = float(PropsSI("molar_mass", FLUID))
"""Molar mass used by the EOS (2.01588 g/mol)."""
R_EOS_J_PER_MOL_K: float = float(PropsSI("gas_constant", FLUID))
"""Gas constant used by the EOS (8.314472 J/(mol K)); Z uses it so that Z -> 1 exactly as p -> 0."""
R_S_H2_J_PER_KG_K: float = R_EOS_J_PER_MOL_K / M_H2_EOS_KG_PER_MOL
"""Specific gas constant of H2 in J/(kg K) (≈4124.5)."""

_P_EOS_MAX_BAR: float = float(PropsSI("pmax", FLUID)) / 1e5
_T_EOS_MIN_C: float = float(PropsSI("Tmin", FLUID)) - T_ZERO_K
_T_EOS_MAX_C: float = float(PropsSI("Tmax", FLUID)) - T_ZERO_K
# Gas-phase use only: stay well above the critical temperature (33.1 K) so every (p, T) is single phase.
_T_GAS_MIN_C: float = -173.15

_N_TABLE_POINTS: int = 1501
"""Pressure grid points of a density table (uniform in p); 0.2 bar steps for a 300 bar tank."""
_TABLE_HEADROOM: float = 1.25
"""Tables reach 25 % above p_max so that safety-valve excursions can still be evaluated."""


def like_input(x: Any, values: npt.NDArray[np.float64]) -> Any:
    """Return ``values`` shaped like the input ``x``: float for scalars, Series for Series, else ndarray."""
    if np.ndim(x) == 0 and np.ndim(values) == 0:
        return float(values)
    try:
        import pandas as pd

        if isinstance(x, pd.Series):
            return pd.Series(np.asarray(values, dtype=float), index=x.index, name=x.name)
    except ImportError:  # pragma: no cover - pandas is a hard dependency
        pass
    return np.asarray(values, dtype=float)


def _check_range(name: str, values: npt.NDArray[np.float64], lo: float, hi: float) -> None:
    """Raise ValueError naming the field when any value lies outside [lo, hi] or is not finite."""
    bad = ~np.isfinite(values) | (values < lo) | (values > hi)
    if np.any(bad):
        first = values[bad].flat[0]
        raise ValueError(f"{name} = {first!r} outside the allowed range [{lo:g}, {hi:g}]")


def h2_density_kg_per_m3(p_bar: npt.ArrayLike, t_c: npt.ArrayLike) -> Any:
    """Density of normal hydrogen gas from the reference equation of state.

    Parameters
    ----------
    p_bar : array_like
        Absolute pressure in bar, > 0 and at most 20 000 bar (EOS limit).
    t_c : array_like
        Temperature in °C, -173.15 … 726.85 °C (gas phase, EOS limit 1000 K). Broadcast against ``p_bar``.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Density in kg/m³, shaped like the broadcast inputs.

    Notes
    -----
    Direct CoolProp call (Leachman et al. 2009); ≈4 µs per point in bulk, ≈60 µs per scalar call.
    For many evaluations at one temperature use :class:`DensityTable` / :class:`HydrogenTank`, which
    interpolate a precomputed table.

    References
    ----------
    Leachman J.W., Jacobsen R.T., Penoncello S.G., Lemmon E.W. (2009): Fundamental equations of state for
    parahydrogen, normal hydrogen, and orthohydrogen. J. Phys. Chem. Ref. Data 38(3):721–748.
    Bell I.H. et al. (2014): Pure and pseudo-pure fluid thermophysical property evaluation and the
    open-source thermophysical property library CoolProp. Ind. Eng. Chem. Res. 53(6):2498–2508.
    """
    p_arr, t_arr = np.broadcast_arrays(np.asarray(p_bar, dtype=float), np.asarray(t_c, dtype=float))
    _check_range("p_bar", p_arr, 1e-6, _P_EOS_MAX_BAR)
    _check_range("t_c", t_arr, max(_T_GAS_MIN_C, _T_EOS_MIN_C), _T_EOS_MAX_C)
    rho = PropsSI("D", "P", p_arr.ravel() * 1e5, "T", t_arr.ravel() + T_ZERO_K, FLUID)
    rho = np.asarray(rho, dtype=float).reshape(p_arr.shape)
    return like_input(p_bar if np.ndim(p_bar) >= np.ndim(t_c) else t_c, rho)


def compressibility(p_bar: npt.ArrayLike, t_c: npt.ArrayLike) -> Any:
    """Compressibility factor ``Z = p / (rho R_s T)`` of normal hydrogen.

    Parameters
    ----------
    p_bar : array_like
        Absolute pressure in bar.
    t_c : array_like
        Temperature in °C.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Z (dimensionless); 1 for an ideal gas, ≈1.19 at 300 bar and 15 °C.

    Notes
    -----
    ``R_s`` is the EOS's own gas constant over molar mass, so Z tends to exactly 1 as p -> 0.
    """
    p_arr, t_arr = np.broadcast_arrays(np.asarray(p_bar, dtype=float), np.asarray(t_c, dtype=float))
    rho = np.asarray(h2_density_kg_per_m3(p_arr, t_arr), dtype=float)
    z = p_arr * 1e5 / (rho * R_S_H2_J_PER_KG_K * (t_arr + T_ZERO_K))
    return like_input(p_bar if np.ndim(p_bar) >= np.ndim(t_c) else t_c, z)


class DensityTable:
    """Monotone interpolation table ``rho(p)`` of hydrogen at one temperature, with an exact inverse.

    Parameters
    ----------
    t_c : float
        Gas temperature in °C.
    p_max_bar : float
        Highest pressure of the table in bar; the table spans [0, p_max_bar].
    n_points : int
        Number of grid points (uniform in pressure).

    Notes
    -----
    The point p = 0, rho = 0 is exact, so an empty vessel is representable. Interpolation is PCHIP, which
    is monotone for monotone data; the inverse ``p(rho)`` starts from the linear inverse on the bracketing
    segment and takes Newton steps on the PCHIP cubic (converges to ~1e-15 relative in 2–3 steps).
    """

    def __init__(self, t_c: float, p_max_bar: float, n_points: int = _N_TABLE_POINTS) -> None:
        if not (0.0 < p_max_bar <= _P_EOS_MAX_BAR):
            raise ValueError(f"p_max_bar = {p_max_bar!r} outside the allowed range (0, {_P_EOS_MAX_BAR:g}]")
        if n_points < 10:
            raise ValueError(f"n_points = {n_points!r} outside the allowed range [10, inf)")
        self.t_c = float(t_c)
        self.p_max_bar = float(p_max_bar)
        self.p_grid_bar = np.linspace(0.0, self.p_max_bar, n_points)
        rho = np.empty_like(self.p_grid_bar)
        rho[0] = 0.0
        rho[1:] = h2_density_kg_per_m3(self.p_grid_bar[1:], self.t_c)
        if np.any(np.diff(rho) <= 0.0):  # pragma: no cover - physics guarantees this in the gas phase
            raise RuntimeError(f"hydrogen density not increasing with pressure at t_c = {t_c}")
        self.rho_grid_kg_per_m3 = rho
        # PCHIP coefficients per segment, evaluated by Horner below (faster than PPoly.__call__ per step).
        self._coef = PchipInterpolator(self.p_grid_bar, rho, extrapolate=False).c
        self._dp_bar = float(self.p_grid_bar[1] - self.p_grid_bar[0])
        # Python-float copies for the scalar fast path (simulators call once per time step).
        self._coef_rows: list[tuple[float, float, float, float]] = [tuple(col) for col in self._coef.T.tolist()]
        self._p_list: list[float] = self.p_grid_bar.tolist()
        self._rho_list: list[float] = rho.tolist()

    @property
    def rho_max_kg_per_m3(self) -> float:
        """Density at the top of the table in kg/m³."""
        return float(self.rho_grid_kg_per_m3[-1])

    def density_kg_per_m3(self, p_bar: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Interpolated density in kg/m³ for absolute pressure ``p_bar`` in [0, p_max_bar]."""
        p = np.asarray(p_bar, dtype=float)
        _check_range("p_bar", p, 0.0, self.p_max_bar)
        i = np.clip((p / self._dp_bar).astype(np.intp), 0, self.p_grid_bar.size - 2)
        return self._cubic(i, p - self.p_grid_bar[i])

    def density_scalar_kg_per_m3(self, p_bar: float) -> float:
        """Scalar fast path of :meth:`density_kg_per_m3` (same numbers, ~1 µs)."""
        if not 0.0 <= p_bar <= self.p_max_bar:
            raise ValueError(f"p_bar = {p_bar!r} outside the allowed range [0, {self.p_max_bar:g}]")
        i = min(int(p_bar / self._dp_bar), len(self._p_list) - 2)
        c0, c1, c2, c3 = self._coef_rows[i]
        dx = p_bar - self._p_list[i]
        return ((c0 * dx + c1) * dx + c2) * dx + c3

    def pressure_scalar_bar(self, rho_kg_per_m3: float) -> float:
        """Scalar fast path of :meth:`pressure_bar` (same algorithm, ~3 µs)."""
        rho = rho_kg_per_m3
        if not 0.0 <= rho <= self._rho_list[-1]:
            raise ValueError(
                f"rho_kg_per_m3 = {rho!r} outside the allowed range [0, {self._rho_list[-1]:g}]"
            )
        i = min(max(bisect_right(self._rho_list, rho) - 1, 0), len(self._p_list) - 2)
        c0, c1, c2, c3 = self._coef_rows[i]
        width = self._p_list[i + 1] - self._p_list[i]
        r_lo = self._rho_list[i]
        dx = (rho - r_lo) * width / (self._rho_list[i + 1] - r_lo)
        for _ in range(3):
            f = ((c0 * dx + c1) * dx + c2) * dx + c3 - rho
            dx = min(max(dx - f / ((3.0 * c0 * dx + 2.0 * c1) * dx + c2), 0.0), width)
        return self._p_list[i] + dx

    def _cubic(self, i: npt.NDArray[np.intp], dx: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        c = self._coef[:, i]
        return ((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3]

    def _cubic_slope(self, i: npt.NDArray[np.intp], dx: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        c = self._coef[:, i]
        return (3.0 * c[0] * dx + 2.0 * c[1]) * dx + c[2]

    def pressure_bar(self, rho_kg_per_m3: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Inverse of :meth:`density_kg_per_m3`: absolute pressure in bar for a density in kg/m³."""
        rho = np.asarray(rho_kg_per_m3, dtype=float)
        _check_range("rho_kg_per_m3", rho, 0.0, self.rho_max_kg_per_m3)
        grid_p, grid_rho = self.p_grid_bar, self.rho_grid_kg_per_m3
        i = np.clip(np.searchsorted(grid_rho, rho, side="right") - 1, 0, grid_p.size - 2)
        p_lo, p_hi = grid_p[i], grid_p[i + 1]  # the cubic of segment i is exact at both ends
        r_lo, r_hi = grid_rho[i], grid_rho[i + 1]
        dx = (rho - r_lo) * (p_hi - p_lo) / (r_hi - r_lo)
        for _ in range(3):  # Newton on the segment's cubic (quadratic convergence from ~1e-7); stays in the bracket
            dx = np.clip(dx - (self._cubic(i, dx) - rho) / self._cubic_slope(i, dx), 0.0, p_hi - p_lo)
        return p_lo + dx


@lru_cache(maxsize=32)
def density_table(t_c: float, p_max_bar: float) -> DensityTable:
    """Cached :class:`DensityTable` for one temperature and pressure span (built once per process)."""
    return DensityTable(t_c, p_max_bar)


class HydrogenTank:
    """Isothermal compressed-hydrogen vessel (or bundle) of fixed volume.

    Parameters
    ----------
    cfg : HydrogenStorage
        Volume, pressure window, gas temperature and initial pressure.

    Attributes
    ----------
    volume_m3, t_c, p_min_bar, p_max_bar : float
        From the configuration.
    m_min_kg, m_max_kg : float
        Hydrogen mass at ``p_min_bar`` / ``p_max_bar`` (real gas).
    m_usable_kg : float
        ``m_max_kg - m_min_kg``: what can be withdrawn without falling below the minimum pressure.
    m_init_kg : float
        Mass at ``p_init_bar`` (default ``p_min_bar``).

    Notes
    -----
    ``m = V * rho(p, T)`` with rho from the Leachman et al. (2009) EOS via a cached PCHIP table (see module
    docstring). The table reaches 1.25 × p_max_bar; pressures/masses beyond raise ValueError. The tank does
    not clip: the caller (simulator, PLC model) decides what happens at the limits.
    """

    def __init__(self, cfg: HydrogenStorage) -> None:
        self.cfg = cfg
        self.volume_m3 = float(cfg.volume_m3)
        self.t_c = float(cfg.t_c)
        self.p_min_bar = float(cfg.p_min_bar)
        self.p_max_bar = float(cfg.p_max_bar)
        self.p_init_bar = float(cfg.p_init_bar) if cfg.p_init_bar is not None else self.p_min_bar
        self._table = density_table(self.t_c, min(_TABLE_HEADROOM * self.p_max_bar, _P_EOS_MAX_BAR))
        self.m_min_kg = float(self.mass_from_pressure_kg(self.p_min_bar))
        self.m_max_kg = float(self.mass_from_pressure_kg(self.p_max_bar))
        self.m_usable_kg = self.m_max_kg - self.m_min_kg
        self.m_init_kg = float(self.mass_from_pressure_kg(self.p_init_bar))

    @property
    def p_table_max_bar(self) -> float:
        """Highest pressure the tank model can evaluate in bar (1.25 × p_max_bar)."""
        return self._table.p_max_bar

    def mass_from_pressure_kg(self, p_bar: npt.ArrayLike) -> Any:
        """Hydrogen mass in kg held at absolute pressure ``p_bar`` (0 … 1.25 × p_max_bar)."""
        if isinstance(p_bar, (float, int)) and not isinstance(p_bar, bool):
            return self.volume_m3 * self._table.density_scalar_kg_per_m3(float(p_bar))
        p = np.asarray(p_bar, dtype=float)
        _check_range("p_bar", p, 0.0, self.p_table_max_bar)
        return like_input(p_bar, self.volume_m3 * self._table.density_kg_per_m3(p))

    def pressure_from_mass_bar(self, m_kg: npt.ArrayLike) -> Any:
        """Absolute pressure in bar for a hydrogen mass ``m_kg``; exact inverse of :meth:`mass_from_pressure_kg`."""
        m_max = self.volume_m3 * self._table.rho_max_kg_per_m3
        if isinstance(m_kg, (float, int)) and not isinstance(m_kg, bool):
            if not 0.0 <= m_kg <= m_max:
                raise ValueError(f"m_kg = {m_kg!r} outside the allowed range [0, {m_max:g}]")
            return self._table.pressure_scalar_bar(float(m_kg) / self.volume_m3)
        m = np.asarray(m_kg, dtype=float)
        _check_range("m_kg", m, 0.0, m_max)
        return like_input(m_kg, self._table.pressure_bar(m / self.volume_m3))

    def fill_frac(self, m_kg: npt.ArrayLike) -> Any:
        """Usable fill level ``(m - m_min) / m_usable`` (0 at p_min, 1 at p_max), not clipped."""
        m = np.asarray(m_kg, dtype=float)
        return like_input(m_kg, (m - self.m_min_kg) / self.m_usable_kg)
