"""Electrochemistry of one electrolysis cell: pure, vectorised functions (arrays in, arrays out).

Two cell forms are offered:

* the empirical alkaline/AEM form of Ulleberg (2003), Int. J. Hydrogen Energy 28:21–33
  (:func:`ulleberg_cell_voltage_v`, :func:`ulleberg_faraday_efficiency`);
* the PEM form of NREL's ``electrolyzer`` package (``PEM_cell.py``): Nernst open-circuit voltage,
  Butler-Volmer activation (``asinh``) per electrode, ohmic loss through a Nafion membrane whose
  conductivity follows Springer et al. (1991), and an optional concentration term
  (:func:`pem_cell_voltage_v`).

Both share :func:`reversible_voltage_v` (temperature-dependent reversible voltage plus the Nernst
pressure term) and Faraday's law :func:`h2_mol_per_s`. Units follow the name suffixes: ``i_a`` current
in A, ``t_c`` temperature in °C, ``p_bar`` absolute pressure in bar, ``area_m2`` electrode area in m².
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2quarters.config.scenario import PEMParams, UllebergParams
from h2quarters.models.constants import F_C_PER_MOL, R_J_PER_MOL_K, T_ZERO_K

FloatArray = NDArray[np.float64]

P_REF_BAR: float = 1.0
"""Standard-state pressure of the Nernst term in bar."""

T_ULLEBERG_MIN_C: float = 1.0
"""Lowest temperature accepted by the Ulleberg form (its activation term is singular at 0 °C)."""
T_CELL_MAX_C: float = 120.0
"""Highest cell temperature accepted (pressurised liquid-water electrolysis)."""


def _as_float_array(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _check_range(name: str, x: FloatArray, lo: float, hi: float) -> None:
    """Raise a ValueError naming ``name`` if any element of ``x`` lies outside [lo, hi] (or is NaN)."""
    if x.ndim == 0:
        v = float(x)
        if lo <= v <= hi:
            return
        raise ValueError(f"{name} = {v!r} outside the allowed range [{lo}, {hi}]")
    bad = ~((x >= lo) & (x <= hi))
    if np.any(bad):
        raise ValueError(f"{name} = {x[bad].ravel()[0]!r} outside the allowed range [{lo}, {hi}]")


def reversible_voltage_v(t_c: ArrayLike, p_bar: ArrayLike = 1.0, p_o2_bar: ArrayLike | None = None) -> FloatArray:
    """Reversible cell voltage of water electrolysis with the Nernst pressure term.

    ``U_rev(T) = 1.5184 - 1.5421e-3 T + 9.523e-5 T ln T + 9.84e-8 T^2`` (T in K; LeRoy, Bowen & LeRoy
    1980, J. Electrochem. Soc. 127:1954, fit of ΔG(T)/2F for liquid water at 1 bar, as used e.g. by
    Dale et al. 2008, J. Power Sources 185:1348), plus the Nernst term for ideal, dry product gases and
    unit water activity::

        U = U_rev(T) + R T / (2 F) * ln( (p_H2 / p0) * sqrt(p_O2 / p0) ),   p0 = 1 bar

    Gives 1.2291 V at 25 °C and 1.1834 V at 80 °C (1 bar).

    Parameters
    ----------
    t_c : array_like
        Cell temperature in °C, within [0, 120].
    p_bar : array_like, default 1.0
        Absolute hydrogen (cathode) pressure in bar, > 0.
    p_o2_bar : array_like or None, default None
        Absolute oxygen (anode) pressure in bar; ``None`` means a balanced-pressure cell (``p_bar``).

    Returns
    -------
    numpy.ndarray
        Reversible (open-circuit) cell voltage in V.
    """
    t = _as_float_array(t_c)
    _check_range("t_c", t, 0.0, T_CELL_MAX_C)
    p_h2 = _as_float_array(p_bar)
    p_o2 = p_h2 if p_o2_bar is None else _as_float_array(p_o2_bar)
    _check_range("p_bar", p_h2, 1e-6, 1000.0)
    _check_range("p_o2_bar", p_o2, 1e-6, 1000.0)
    t_k = t + T_ZERO_K
    u_rev = 1.5184 - 1.5421e-3 * t_k + 9.523e-5 * t_k * np.log(t_k) + 9.84e-8 * t_k**2
    nernst = R_J_PER_MOL_K * t_k / (2.0 * F_C_PER_MOL) * (np.log(p_h2 / P_REF_BAR) + 0.5 * np.log(p_o2 / P_REF_BAR))
    return np.asarray(u_rev + nernst, dtype=np.float64)


def ulleberg_coefficients(t: FloatArray, params: UllebergParams) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Ohmic coefficient r (Ω m²), Tafel slope s (V) and activation coefficient k (m²/A) at t (°C)."""
    r = params.r1_ohm_m2 + params.r2_ohm_m2_per_c * t
    s = params.s1_v + params.s2_v_per_c * t + params.s3_v_per_c2 * t**2
    k = params.t1_m2_per_a + params.t2_m2_c_per_a / t + params.t3_m2_c2_per_a / t**2
    return r, s, k


def ulleberg_cell_voltage_v(
    i_a: ArrayLike,
    t_c: ArrayLike,
    area_m2: float,
    params: UllebergParams,
    p_bar: ArrayLike = 1.0,
    p_o2_bar: ArrayLike | None = None,
) -> FloatArray:
    """Cell voltage of the empirical Ulleberg (2003) model.

    ``U = U_rev(T, p) + (r1 + r2 T) / A * I + s(T) * log10((t1 + t2/T + t3/T^2) / A * I + 1)``
    with ``s(T) = s1 + s2 T + s3 T^2``, T in °C (Ulleberg 2003; temperature-dependent s as in the
    parameter set tabulated by Migoni et al. 2016, Int. J. Hydrogen Energy, doi:10.1016/j.ijhydene.2016.06.019). ``U_rev`` is
    :func:`reversible_voltage_v`.

    Parameters
    ----------
    i_a : array_like
        Cell current in A, >= 0.
    t_c : array_like
        Cell temperature in °C, within [1, 120] (the activation term is singular at 0 °C).
    area_m2 : float
        Electrode area in m², > 0.
    params : UllebergParams
        Empirical parameters.
    p_bar, p_o2_bar : array_like
        Hydrogen and oxygen pressure in bar, see :func:`reversible_voltage_v`.

    Returns
    -------
    numpy.ndarray
        Cell voltage in V.
    """
    i = _as_float_array(i_a)
    t = _as_float_array(t_c)
    _check_range("i_a", i, 0.0, np.inf)
    _check_range("t_c", t, T_ULLEBERG_MIN_C, T_CELL_MAX_C)
    if not area_m2 > 0.0:
        raise ValueError(f"area_m2 = {area_m2!r} must be > 0")
    return np.asarray(reversible_voltage_v(t, p_bar, p_o2_bar) + ulleberg_overvoltage_v(i, t, area_m2, params))


def ulleberg_overvoltage_v(i_a: FloatArray, t_c: FloatArray, area_m2: float, params: UllebergParams) -> FloatArray:
    """Ohmic plus activation part of :func:`ulleberg_cell_voltage_v` in V (no input checks; fast path)."""
    r, s, k = ulleberg_coefficients(t_c, params)
    j = i_a / area_m2  # A/m²
    return np.asarray(r * j + s * np.log10(k * j + 1.0), dtype=np.float64)


def ulleberg_cell_dvdi_ohm(i_a: ArrayLike, t_c: ArrayLike, area_m2: float, params: UllebergParams) -> FloatArray:
    """Derivative dU/dI of :func:`ulleberg_cell_voltage_v` in Ω (per cell), for Newton inversions."""
    i = _as_float_array(i_a)
    r, s, k = ulleberg_coefficients(_as_float_array(t_c), params)
    j = i / area_m2
    return np.asarray((r + s * k / (np.log(10.0) * (k * j + 1.0))) / area_m2, dtype=np.float64)


def _nafion_resistance_ohm_cm2(t: FloatArray, params: PEMParams) -> FloatArray:
    """Area-specific resistance of membrane plus contacts in Ω cm².

    Membrane water content λ(T) and conductivity σ = (0.005139 λ - 0.00326) exp(1268 (1/303 - 1/T_K))
    S/cm (Springer, Zawodzinski & Gottesfeld 1991, J. Electrochem. Soc. 138:2334), with λ(T) as in
    NREL ``electrolyzer`` ``PEM_cell.calc_ohmic_overpotential``.
    """
    t_k = t + T_ZERO_K
    lam = ((-2.89556 + 0.016 * t_k) + 1.625) / 0.1875
    sigma_s_per_cm = (0.005139 * lam - 0.00326) * np.exp(1268.0 * (1.0 / 303.0 - 1.0 / t_k))
    return np.asarray(params.r_contact_ohm_cm2 + params.membrane_thickness_cm / sigma_s_per_cm, dtype=np.float64)


def pem_cell_voltage_v(
    i_a: ArrayLike,
    t_c: ArrayLike,
    area_m2: float,
    params: PEMParams,
    p_bar: ArrayLike = 1.0,
    p_o2_bar: ArrayLike | None = None,
) -> FloatArray:
    """PEM cell voltage: Nernst + Butler-Volmer activation (asinh) + ohmic (+ optional concentration).

    With current density ``j = I / A`` in A/cm²::

        U = U_rev(T, p) + RT/(α_a F) asinh(j / (2 i0_a)) + RT/(α_c F) asinh(j / (2 i0_c))
            + j (r_contact + δ / σ(T)) [ + RT/(2F) ln(j_lim / (j_lim - j)) ]

    Form and default parameters of NREL ``electrolyzer`` (``PEM_cell.py``: α_a = 2, α_c = 0.5,
    i0_a = 2e-7 A/cm², i0_c = 2e-3 A/cm², δ = 0.03 cm, r_contact = 0.05 Ω cm²); the concentration term is
    the one quoted (not used) there. ``U_rev`` is :func:`reversible_voltage_v` (temperature-dependent,
    dry gases) instead of NREL's constant 1.229 V with wet-gas partial pressures.

    Parameters
    ----------
    i_a : array_like
        Cell current in A, >= 0 (and below ``i_lim`` times the area if the concentration term is on).
    t_c : array_like
        Cell temperature in °C, within [0, 120].
    area_m2 : float
        Active area in m², > 0.
    params : PEMParams
        Kinetic and membrane parameters.
    p_bar, p_o2_bar : array_like
        Hydrogen and oxygen pressure in bar, see :func:`reversible_voltage_v`.

    Returns
    -------
    numpy.ndarray
        Cell voltage in V.
    """
    i = _as_float_array(i_a)
    t = _as_float_array(t_c)
    _check_range("i_a", i, 0.0, np.inf)
    _check_range("t_c", t, 0.0, T_CELL_MAX_C)
    if not area_m2 > 0.0:
        raise ValueError(f"area_m2 = {area_m2!r} must be > 0")
    if params.concentration and np.any(i / (area_m2 * 1e4) >= params.i_lim_a_per_cm2):
        raise ValueError(
            f"current density {float(np.max(i)) / (area_m2 * 1e4):.4g} A/cm² must stay below "
            f"pem.i_lim_a_per_cm2 = {params.i_lim_a_per_cm2}"
        )
    return np.asarray(reversible_voltage_v(t, p_bar, p_o2_bar) + pem_overvoltage_v(i, t, area_m2, params))


def pem_overvoltage_v(i_a: FloatArray, t_c: FloatArray, area_m2: float, params: PEMParams) -> FloatArray:
    """Activation, ohmic and (optional) concentration part of :func:`pem_cell_voltage_v` in V (no checks)."""
    j = i_a / (area_m2 * 1e4)  # A/cm²
    rt_f = R_J_PER_MOL_K * (t_c + T_ZERO_K) / F_C_PER_MOL
    u = (
        rt_f / params.alpha_a * np.arcsinh(j / (2.0 * params.i0_a_a_per_cm2))
        + rt_f / params.alpha_c * np.arcsinh(j / (2.0 * params.i0_c_a_per_cm2))
        + j * _nafion_resistance_ohm_cm2(t_c, params)
    )
    if params.concentration:
        j_lim = params.i_lim_a_per_cm2
        u = u + 0.5 * rt_f * np.log(j_lim / (j_lim - j))
    return np.asarray(u, dtype=np.float64)


def pem_cell_dvdi_ohm(i_a: ArrayLike, t_c: ArrayLike, area_m2: float, params: PEMParams) -> FloatArray:
    """Derivative dU/dI of :func:`pem_cell_voltage_v` in Ω (per cell), for Newton inversions."""
    i = _as_float_array(i_a)
    t = _as_float_array(t_c)
    a_cm2 = area_m2 * 1e4
    j = i / a_cm2
    rt_f = R_J_PER_MOL_K * (t + T_ZERO_K) / F_C_PER_MOL
    d = (
        rt_f / params.alpha_a / np.sqrt((2.0 * params.i0_a_a_per_cm2) ** 2 + j**2)
        + rt_f / params.alpha_c / np.sqrt((2.0 * params.i0_c_a_per_cm2) ** 2 + j**2)
        + _nafion_resistance_ohm_cm2(t, params)
    )
    if params.concentration:
        d = d + 0.5 * rt_f / (params.i_lim_a_per_cm2 - j)
    return np.asarray(d / a_cm2, dtype=np.float64)


def ulleberg_faraday_efficiency(i_a: ArrayLike, area_m2: float, params: UllebergParams) -> FloatArray:
    """Faraday efficiency of the Ulleberg (2003) model.

    ``eta_F = j^2 / (f1 + j^2) * f2`` with the current density ``j`` in mA/cm² (Ulleberg 2003;
    f1 = 250 (mA/cm²)², f2 = 0.96 at 80 °C). Zero at zero current, tends to f2 at high current.

    Parameters
    ----------
    i_a : array_like
        Cell current in A, >= 0.
    area_m2 : float
        Electrode area in m², > 0.
    params : UllebergParams
        Uses ``f1_ma2_per_cm4`` and ``f2``.

    Returns
    -------
    numpy.ndarray
        Faraday efficiency, dimensionless in [0, f2].
    """
    i = _as_float_array(i_a)
    _check_range("i_a", i, 0.0, np.inf)
    if not area_m2 > 0.0:
        raise ValueError(f"area_m2 = {area_m2!r} must be > 0")
    j_ma_cm2 = i / area_m2 * 0.1  # 1 A/m² = 0.1 mA/cm²
    return np.asarray(j_ma_cm2**2 / (params.f1_ma2_per_cm4 + j_ma_cm2**2) * params.f2, dtype=np.float64)


def h2_mol_per_s(i_a: ArrayLike, n_cells_total: float, eta_f: ArrayLike) -> FloatArray:
    """Hydrogen production by Faraday's law: ``n_H2 = eta_F * N_cells * I / (2 F)``.

    Parameters
    ----------
    i_a : array_like
        Current through each of the series-connected cells in A.
    n_cells_total : int
        Number of cells carrying that current.
    eta_f : array_like
        Faraday efficiency, dimensionless.

    Returns
    -------
    numpy.ndarray
        Hydrogen flow in mol/s.
    """
    return np.asarray(
        _as_float_array(eta_f) * float(n_cells_total) * _as_float_array(i_a) / (2.0 * F_C_PER_MOL),
        dtype=np.float64,
    )
