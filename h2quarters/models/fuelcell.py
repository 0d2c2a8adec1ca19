"""Fuel cell: part-load efficiency curve, hydrogen use, recoverable heat, and a PEM polarisation curve.

The plant model (:class:`FuelCellModel`) uses the configured electrical LHV efficiency at a few load points,
interpolated linearly in power (as PyPSA/oemof part-load curves do). Within each linear segment
``eta(p) = c0 + k p`` the hydrogen LHV power ``H(p) = p / eta(p)`` has the derivative ``c0 / eta(p)^2``, so
the curve is invertible exactly when every segment's intercept ``c0`` is positive; this is checked, and the
inverse ``p(H) = c0 H / (1 - k H)`` is closed-form.

Energy balance per instant: ``H2 LHV power = electric + recoverable heat + other losses`` with
``heat = heat_frac_of_h2 * H2 LHV power`` and losses >= 0 (guaranteed by the scenario validator).

Operating semantics
-------------------
A fuel cell produces either nothing or between ``p_min_kw`` and ``p_rated_kw``.
:meth:`FuelCellModel.h2_kg_per_h`, :meth:`heat_kw` and :meth:`losses_kw` accept exactly that set (with a
relative tolerance of 1e-9) and raise ValueError otherwise; :meth:`dispatch_kw` maps any request onto it
(``p < p_min`` -> 0, ``p > p_rated`` -> p_rated). :meth:`power_from_h2_kw` answers "how much power can this
hydrogen flow give": below the flow needed at p_min it returns 0, above the flow at p_rated it returns
p_rated (the surplus hydrogen is not used).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from h2quarters.config.scenario import FuelCell
from h2quarters.models.constants import F_C_PER_MOL, LHV_H2_KWH_PER_KG, M_H2_KG_PER_MOL, R_J_PER_MOL_K, T_ZERO_K
from h2quarters.models.storage import _check_range, like_input

_REL_TOL: float = 1e-9


class FuelCellModel:
    """Fuel cell plant with a piecewise-linear electrical efficiency over power.

    Parameters
    ----------
    cfg : FuelCell
        Rated power, minimum load, efficiency curve (fractions of rated power, LHV efficiencies),
        recoverable heat fraction.

    Attributes
    ----------
    p_rated_kw, p_min_kw : float
        Rated and minimum electrical output in kW.
    p_points_kw, eta_points : numpy.ndarray
        Breakpoints of the efficiency curve over [p_min_kw, p_rated_kw] (flat extrapolation of the configured
        curve where it does not reach these ends).
    m_min_kg_per_h, m_rated_kg_per_h : float
        Hydrogen flow at minimum and rated load.
    """

    def __init__(self, cfg: FuelCell) -> None:
        self.cfg = cfg
        self.p_rated_kw = float(cfg.p_rated_kw)
        self.p_min_kw = float(cfg.min_load_frac * cfg.p_rated_kw)
        self.heat_frac_of_h2 = float(cfg.heat_frac_of_h2)
        frac = np.asarray(cfg.load_frac_points, dtype=float)
        eta = np.asarray(cfg.eta_el_points, dtype=float)
        inner = frac[(frac > cfg.min_load_frac) & (frac < 1.0)]
        f_pts = np.concatenate([[cfg.min_load_frac], inner, [1.0]])
        if f_pts[0] >= 1.0:
            # min_load_frac == 1: a single operating point
            f_pts = np.array([1.0, 1.0])
        self.p_points_kw = f_pts * self.p_rated_kw
        self.eta_points = np.interp(f_pts, frac, eta)
        # Segment lines eta = c0 + k p; H(p) = p/eta(p) is increasing iff c0 > 0 on every segment.
        dp = np.diff(self.p_points_kw)
        k = np.divide(np.diff(self.eta_points), dp, out=np.zeros_like(dp), where=dp > 0)
        c0 = self.eta_points[:-1] - k * self.p_points_kw[:-1]
        if np.any(c0 <= 0.0):
            i = int(np.argmax(c0 <= 0.0))
            raise ValueError(
                f"fuel_cell.eta_el_points rise too steeply between load {f_pts[i]:g} and {f_pts[i + 1]:g}: "
                "more power would need less hydrogen (curve not invertible)"
            )
        self._k, self._c0 = k, c0
        self.h_points_kw = self.p_points_kw / self.eta_points  # H2 LHV power at the breakpoints
        self.m_min_kg_per_h = float(self.h_points_kw[0] / LHV_H2_KWH_PER_KG)
        self.m_rated_kg_per_h = float(self.h_points_kw[-1] / LHV_H2_KWH_PER_KG)

    # --- helpers -----------------------------------------------------------------------------------------
    def _check_power(self, p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Validate the operating set {0} ∪ [p_min, p_rated] and return p with tolerance overshoots removed."""
        tol = _REL_TOL * self.p_rated_kw
        _check_range("p_kw", p, -tol, self.p_rated_kw + tol)
        below = (p > tol) & (p < self.p_min_kw - tol)
        if np.any(below):
            raise ValueError(
                f"p_kw = {p[below].flat[0]!r} below the fuel cell's minimum load p_min_kw = {self.p_min_kw:g} "
                f"(allowed: 0 or [{self.p_min_kw:g}, {self.p_rated_kw:g}]); use dispatch_kw() to round requests"
            )
        on = p > tol
        return np.where(on, np.clip(p, self.p_min_kw, self.p_rated_kw), 0.0)

    # --- public API --------------------------------------------------------------------------------------
    def dispatch_kw(self, p_request_kw: npt.ArrayLike) -> Any:
        """Nearest feasible output for a request: < p_min -> 0, > p_rated -> p_rated, negative -> 0."""
        p = np.asarray(p_request_kw, dtype=float)
        out = np.where(p < self.p_min_kw, 0.0, np.minimum(p, self.p_rated_kw))
        return like_input(p_request_kw, out)

    def efficiency(self, p_kw: npt.ArrayLike) -> Any:
        """Electrical LHV efficiency at output ``p_kw`` (kW) from the part-load curve; 0 where p = 0.

        Defined for 0 < p <= p_rated (linear interpolation, flat below p_min so that optimisers can probe).
        """
        p = np.asarray(p_kw, dtype=float)
        _check_range("p_kw", p, -_REL_TOL * self.p_rated_kw, self.p_rated_kw * (1 + _REL_TOL))
        eta = np.where(p > 0.0, np.interp(p, self.p_points_kw, self.eta_points), 0.0)
        return like_input(p_kw, eta)

    def h2_kg_per_h(self, p_kw: npt.ArrayLike) -> Any:
        """Hydrogen consumption in kg/h at electrical output ``p_kw``: ``p / (eta(p) LHV)``, 0 for p = 0.

        Raises
        ------
        ValueError
            For p outside {0} ∪ [p_min_kw, p_rated_kw] (see module docstring).
        """
        p = self._check_power(np.asarray(p_kw, dtype=float))
        eta = np.interp(p, self.p_points_kw, self.eta_points)
        return like_input(p_kw, np.where(p > 0.0, p / eta, 0.0) / LHV_H2_KWH_PER_KG)

    def h2_lhv_kw(self, p_kw: npt.ArrayLike) -> Any:
        """Hydrogen input as LHV power in kW (``h2_kg_per_h * 33.33 kWh/kg``)."""
        return like_input(p_kw, np.asarray(self.h2_kg_per_h(p_kw)) * LHV_H2_KWH_PER_KG)

    def heat_kw(self, p_kw: npt.ArrayLike) -> Any:
        """Recoverable heat in kW: ``heat_frac_of_h2 * H2 LHV power``."""
        return like_input(p_kw, self.heat_frac_of_h2 * np.asarray(self.h2_lhv_kw(p_kw)))

    def losses_kw(self, p_kw: npt.ArrayLike) -> Any:
        """Unrecovered losses in kW: ``H2 LHV power - electric - heat`` (>= 0)."""
        p = self._check_power(np.asarray(p_kw, dtype=float))
        h = np.asarray(self.h2_lhv_kw(p))
        return like_input(p_kw, h - p - self.heat_frac_of_h2 * h)

    def power_from_h2_kw(self, m_kg_per_h: npt.ArrayLike) -> Any:
        """Electrical output in kW obtainable from a hydrogen flow ``m_kg_per_h`` (inverse of h2_kg_per_h).

        Exact inverse on [m_min_kg_per_h, m_rated_kg_per_h]; 0 below m_min_kg_per_h (cannot run stably),
        p_rated_kw above m_rated_kg_per_h (surplus hydrogen unused). Negative flows raise ValueError.
        """
        m = np.asarray(m_kg_per_h, dtype=float)
        _check_range("m_kg_per_h", m, 0.0, np.inf)
        h = np.minimum(m * LHV_H2_KWH_PER_KG, self.h_points_kw[-1])
        i = np.clip(np.searchsorted(self.h_points_kw, h, side="right") - 1, 0, self._c0.size - 1)
        p = self._c0[i] * h / (1.0 - self._k[i] * h)
        p = np.where(h < self.h_points_kw[0] * (1 - _REL_TOL), 0.0, np.clip(p, self.p_min_kw, self.p_rated_kw))
        return like_input(m_kg_per_h, p)


# --- PEM polarisation curve ------------------------------------------------------------------------------

E_LHV_V: float = LHV_H2_KWH_PER_KG * 3.6e6 * M_H2_KG_PER_MOL / (2.0 * F_C_PER_MOL)
"""Cell voltage equivalent of the H2 LHV (≈1.253 V): electrical LHV efficiency of a cell is U / E_LHV_V."""


def pem_reversible_voltage_v(t_c: npt.ArrayLike, p_h2_bar: npt.ArrayLike = 1.0, p_o2_bar: npt.ArrayLike = 0.21) -> Any:
    """Reversible (Nernst) voltage of a hydrogen/oxygen cell with liquid water product.

    ``E = 1.229 - 0.85e-3 (T - 298.15) + R T / (2 F) ln(p_H2 * sqrt(p_O2))`` with partial pressures in bar
    (Amphlett et al. 1995, J. Electrochem. Soc. 142:1–8; standard potential 1.229 V at 25 °C).
    """
    t_k = np.asarray(t_c, dtype=float) + T_ZERO_K
    p_h2 = np.asarray(p_h2_bar, dtype=float)
    p_o2 = np.asarray(p_o2_bar, dtype=float)
    _check_range("p_h2_bar", p_h2, 1e-6, 1000.0)
    _check_range("p_o2_bar", p_o2, 1e-6, 1000.0)
    e = 1.229 - 0.85e-3 * (t_k - 298.15) + R_J_PER_MOL_K * t_k / (2.0 * F_C_PER_MOL) * np.log(p_h2 * np.sqrt(p_o2))
    return like_input(t_c, e)


def pem_cell_voltage_v(
    i_a_per_cm2: npt.ArrayLike,
    t_c: float = 65.0,
    p_h2_bar: float = 1.0,
    p_o2_bar: float = 0.21,
    alpha: float = 1.0,
    i0_a_per_cm2: float = 1e-6,
    i_crossover_a_per_cm2: float = 2e-3,
    r_ohm_cm2: float = 0.15,
    i_lim_a_per_cm2: float = 1.5,
    c_conc_v: float = 0.05,
) -> Any:
    """PEM fuel cell voltage: reversible voltage minus activation, ohmic and concentration losses.

    ``U = E_rev - (R T / (alpha F)) ln((i + i_n) / i0) - i r - c ln(i_L / (i_L - i))`` (the empirical
    form of Larminie & Dicks 2003, *Fuel Cell Systems Explained*, ch. 3, with a Nernst E_rev). The internal
    current ``i_n`` (hydrogen crossover) makes the open-circuit voltage fall below E_rev as in real cells.

    Parameters
    ----------
    i_a_per_cm2 : array_like
        Current density in A/cm², 0 <= i < i_lim_a_per_cm2.
    t_c : float
        Cell temperature in °C.
    p_h2_bar, p_o2_bar : float
        Partial pressures of H2 and O2 in bar (air: 0.21).
    alpha, i0_a_per_cm2 : float
        Effective transfer coefficient (Tafel slope ``R T / (alpha F)``, ≈29 mV per e-fold = 67 mV/decade
        at 65 °C with alpha = 1) and exchange current density in A/cm² (the oxygen cathode dominates).
    i_crossover_a_per_cm2 : float
        Equivalent internal current in A/cm².
    r_ohm_cm2 : float
        Area-specific ohmic resistance in Ω·cm².
    i_lim_a_per_cm2 : float
        Limiting current density in A/cm².
    c_conc_v : float
        Concentration-loss coefficient in V.

    Returns
    -------
    float or numpy.ndarray
        Cell voltage in V (≈0.96 V open circuit, ≈0.71 V at 0.5 A/cm² and ≈0.58 V at 1 A/cm² with the
        defaults, which are illustrative values for a low-temperature PEM cell, not fitted to a product).
    """
    i = np.asarray(i_a_per_cm2, dtype=float)
    _check_range("i_a_per_cm2", i, 0.0, i_lim_a_per_cm2 * (1 - 1e-9))
    t_k = t_c + T_ZERO_K
    e_rev = pem_reversible_voltage_v(t_c, p_h2_bar, p_o2_bar)
    act = R_J_PER_MOL_K * t_k / (alpha * F_C_PER_MOL) * np.log((i + i_crossover_a_per_cm2) / i0_a_per_cm2)
    conc = c_conc_v * np.log(i_lim_a_per_cm2 / (i_lim_a_per_cm2 - i))
    return like_input(i_a_per_cm2, e_rev - act - i * r_ohm_cm2 - conc)
