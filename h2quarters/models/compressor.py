"""Multi-stage intercooled hydrogen compressor with real-gas isentropic work.

Method
------
Each stage compresses along the isentrope of normal hydrogen (Leachman et al. 2009 EOS via CoolProp) from
the stage inlet ``(p_k, T_in)`` to ``p_k * r``; the actual enthalpy rise is the isentropic one divided by the
isentropic efficiency, ``w_k = (h(p_k r, s(p_k, T_in)) - h(p_k, T_in)) / eta_s``. All stages share the same
pressure ratio ``r = (p_out / p_in)^(1/n)`` (the classical optimum for equal inlet temperatures) and the gas
is intercooled back to ``T_in`` between stages. Electrical work is the shaft work over the motor
efficiency. Pressure losses of coolers and valves are neglected.

When the tank pressure is at or below the compressor inlet (electrolyser outlet) pressure, gas flows
without compression and the work is zero.

References
----------
Leachman J.W. et al. (2009), J. Phys. Chem. Ref. Data 38:721 (EOS); Bell I.H. et al. (2014) CoolProp,
Ind. Eng. Chem. Res. 53:2498; Franco A., Giovannini C. (2024): Hydrogen gas compression for efficient
storage: balancing energy and increasing density. Hydrogen 5(2):293–311, doi:10.3390/hydrogen5020017
(multi-stage real-gas compression, three stages to 350 bar below 10 MJ/kg).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from CoolProp.CoolProp import PropsSI
from scipy.interpolate import PchipInterpolator

from h2quarters.config.scenario import Compressor
from h2quarters.models.constants import T_ZERO_K
from h2quarters.models.storage import FLUID, R_S_H2_J_PER_KG_K, _check_range, like_input

J_PER_KWH: float = 3.6e6

_N_TABLE_POINTS: int = 301
"""Grid points of the work table, uniform in log(p_out / p_in)."""


def _stage_rise(
    p_in_bar: npt.NDArray[np.float64], ratio: npt.NDArray[np.float64], t_in_c: float, eta_isentropic: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Actual enthalpy rise in J/kg and outlet temperature in °C of one adiabatic stage."""
    t_k = np.full_like(p_in_bar, t_in_c + T_ZERO_K)
    h1 = PropsSI("H", "P", p_in_bar * 1e5, "T", t_k, FLUID)
    s1 = PropsSI("S", "P", p_in_bar * 1e5, "T", t_k, FLUID)
    h2s = PropsSI("H", "P", p_in_bar * ratio * 1e5, "S", s1, FLUID)
    dh = (np.asarray(h2s) - np.asarray(h1)) / eta_isentropic
    t_out = PropsSI("T", "P", p_in_bar * ratio * 1e5, "H", np.asarray(h1) + dh, FLUID)
    return np.asarray(dh, dtype=float), np.asarray(t_out, dtype=float) - T_ZERO_K


def _validate(p_in_bar: float, t_in_c: float, n_stages: int, eta_isentropic: float, eta_motor: float) -> None:
    _check_range("p_in_bar", np.asarray(p_in_bar, dtype=float), 1e-3, 2000.0)
    _check_range("t_in_c", np.asarray(t_in_c, dtype=float), -100.0, 300.0)
    if int(n_stages) != n_stages or not 1 <= n_stages <= 10:
        raise ValueError(f"n_stages = {n_stages!r} outside the allowed range [1, 10] (integer)")
    _check_range("eta_isentropic", np.asarray(eta_isentropic, dtype=float), 1e-3, 1.0)
    _check_range("eta_motor", np.asarray(eta_motor, dtype=float), 1e-3, 1.0)


def _compress(
    p_in_bar: float, p_out_bar: npt.ArrayLike, t_in_c: float, n_stages: int, eta_isentropic: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Shaft work in J/kg and highest stage outlet temperature in °C for each outlet pressure."""
    p_out = np.atleast_1d(np.asarray(p_out_bar, dtype=float)).ravel()
    _check_range("p_out_bar", p_out, 0.0, 2000.0)
    work = np.zeros_like(p_out)
    t_max = np.full_like(p_out, float(t_in_c))
    need = p_out > p_in_bar
    if np.any(need):
        ratio = (p_out[need] / p_in_bar) ** (1.0 / n_stages)
        p_stage = np.full_like(ratio, float(p_in_bar))
        w = np.zeros_like(ratio)
        t_hot = np.full_like(ratio, float(t_in_c))
        for _ in range(n_stages):
            dh, t_out = _stage_rise(p_stage, ratio, t_in_c, eta_isentropic)
            w += dh
            t_hot = np.maximum(t_hot, t_out)
            p_stage = p_stage * ratio
        work[need] = w
        t_max[need] = t_hot
    return work, t_max


def compression_work_kwh_per_kg(
    p_in_bar: float,
    p_out_bar: npt.ArrayLike,
    t_in_c: float,
    n_stages: int,
    eta_isentropic: float,
    eta_motor: float,
) -> Any:
    """Electrical energy to compress 1 kg of hydrogen (real gas, intercooled stages).

    Parameters
    ----------
    p_in_bar : float
        Suction (electrolyser outlet) absolute pressure in bar.
    p_out_bar : array_like
        Discharge (tank) absolute pressure in bar; values <= p_in_bar need no work.
    t_in_c : float
        Suction temperature and intercooler outlet temperature in °C.
    n_stages : int
        Number of stages with equal pressure ratio.
    eta_isentropic : float
        Isentropic efficiency of each stage (0, 1].
    eta_motor : float
        Motor (and drive) efficiency (0, 1].

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Electrical work in kWh per kg of hydrogen, shaped like ``p_out_bar``.

    Notes
    -----
    Direct CoolProp evaluation (3 flashes per stage and pressure). Example: 30 → 200 bar, 25 °C, one stage,
    eta_s = 0.75 gives 1.20 kWh/kg shaft work (ideal-gas isothermal bound 0.65 kWh/kg). For repeated calls
    use :class:`CompressorModel`, which tabulates this function over the outlet pressure.
    """
    _validate(p_in_bar, t_in_c, n_stages, eta_isentropic, eta_motor)
    work_j, _ = _compress(p_in_bar, p_out_bar, t_in_c, int(n_stages), eta_isentropic)
    out = work_j / eta_motor / J_PER_KWH
    return like_input(p_out_bar, out.reshape(np.shape(p_out_bar)))


def discharge_temperature_c(
    p_in_bar: float, p_out_bar: npt.ArrayLike, t_in_c: float, n_stages: int, eta_isentropic: float
) -> Any:
    """Highest stage discharge temperature in °C (before the intercooler), real gas.

    Useful to check a stage count against the usual 150–200 °C limit of hydrogen compressors
    (Franco & Giovannini 2024). Parameters as in :func:`compression_work_kwh_per_kg`.
    """
    _validate(p_in_bar, t_in_c, n_stages, eta_isentropic, 1.0)
    _, t_max = _compress(p_in_bar, p_out_bar, t_in_c, int(n_stages), eta_isentropic)
    return like_input(p_out_bar, t_max.reshape(np.shape(p_out_bar)))


def isothermal_work_ideal_kwh_per_kg(p_in_bar: npt.ArrayLike, p_out_bar: npt.ArrayLike, t_c: npt.ArrayLike) -> Any:
    """Reversible isothermal ideal-gas work ``R_s T ln(p_out / p_in)`` in kWh/kg (lower bound of any compressor).

    Returns 0 where ``p_out <= p_in``.
    """
    p1 = np.asarray(p_in_bar, dtype=float)
    p2 = np.asarray(p_out_bar, dtype=float)
    t = np.asarray(t_c, dtype=float)
    w = R_S_H2_J_PER_KG_K * (t + T_ZERO_K) * np.log(np.maximum(p2 / p1, 1.0)) / J_PER_KWH
    return like_input(p_out_bar, w)


class CompressorModel:
    """Compressor between electrolyser and tank, tabulated over the outlet (tank) pressure.

    Parameters
    ----------
    cfg : Compressor
        Stages, efficiencies, suction temperature and electrical power limit.
    p_in_bar : float
        Suction pressure in bar (electrolyser outlet, e.g. ``Electrolyser.p_out_bar``).
    p_out_max_bar : float
        Highest outlet pressure of the table in bar (default 1000 bar).

    Notes
    -----
    :func:`compression_work_kwh_per_kg` is evaluated on 301 points uniform in ``log(p_out/p_in)`` and
    interpolated with a monotone PCHIP; the table error is below 1e-5 relative (see tests).
    """

    def __init__(self, cfg: Compressor, p_in_bar: float, p_out_max_bar: float = 1000.0) -> None:
        _validate(p_in_bar, cfg.t_in_c, cfg.n_stages, cfg.eta_isentropic, cfg.eta_motor)
        if not p_out_max_bar > p_in_bar:
            raise ValueError(f"p_out_max_bar = {p_out_max_bar!r} must exceed p_in_bar = {p_in_bar!r}")
        self.cfg = cfg
        self.p_in_bar = float(p_in_bar)
        self.p_out_max_bar = float(p_out_max_bar)
        self.p_max_kw = float(cfg.p_max_kw)
        x = np.linspace(0.0, np.log(self.p_out_max_bar / self.p_in_bar), _N_TABLE_POINTS)
        w = np.asarray(
            compression_work_kwh_per_kg(
                self.p_in_bar, self.p_in_bar * np.exp(x), cfg.t_in_c, cfg.n_stages, cfg.eta_isentropic, cfg.eta_motor
            )
        )
        w[0] = 0.0
        self._work_of_logratio = PchipInterpolator(x, w, extrapolate=False)

    def work_kwh_per_kg(self, p_out_bar: npt.ArrayLike) -> Any:
        """Electrical work in kWh/kg to deliver into ``p_out_bar`` (0 at or below the suction pressure)."""
        p = np.asarray(p_out_bar, dtype=float)
        _check_range("p_out_bar", p, 0.0, self.p_out_max_bar)
        x = np.log(np.maximum(p, self.p_in_bar) / self.p_in_bar)
        return like_input(p_out_bar, np.asarray(self._work_of_logratio(x), dtype=float))

    def power_kw(self, m_kg_per_h: npt.ArrayLike, p_out_bar: npt.ArrayLike) -> Any:
        """Electrical power in kW to compress ``m_kg_per_h`` into ``p_out_bar`` (not limited to p_max_kw)."""
        m = np.asarray(m_kg_per_h, dtype=float)
        _check_range("m_kg_per_h", m, 0.0, np.inf)
        template = m_kg_per_h if np.ndim(m_kg_per_h) else p_out_bar
        return like_input(template, m * np.asarray(self.work_kwh_per_kg(p_out_bar)))

    def max_flow_kg_per_h(self, p_out_bar: npt.ArrayLike) -> Any:
        """Largest mass flow in kg/h the motor limit ``p_max_kw`` allows; ``inf`` where no work is needed."""
        w = np.asarray(self.work_kwh_per_kg(p_out_bar), dtype=float)
        with np.errstate(divide="ignore"):
            flow = np.where(w > 0.0, self.p_max_kw / np.where(w > 0.0, w, 1.0), np.inf)
        return like_input(p_out_bar, flow)
