"""Electrolyser plant model: stacks of cells, power↔current↔hydrogen, piecewise curve, heat, states.

One physics model feeds three users:

* :class:`ElectrolyserModel` — vectorised steady-state relations (voltage, power, current, hydrogen,
  Faraday efficiency) for the annual simulator, plus :meth:`ElectrolyserModel.piecewise_curve` for the
  optimiser and the analytic lumped thermal step;
* :class:`ElectrolyserPlant` — a stateful unit (OFF / STANDBY / STARTING / PRODUCING, start-up delay,
  ramp limit, minimum load, temperature, operating hours, starts, degradation) stepped by the
  simulator loop and by the virtual PLC.

Cell electrochemistry lives in :mod:`h2quarters.models.electrolyser_cell` (re-exported here).
Conventions: all stacks are electrically in parallel and carry the same current ``i_a`` (A per stack,
i.e. through every cell); powers are DC stack powers of the whole plant in kW unless named otherwise.
Hydrogen leaves the cathode at ``cfg.p_out_bar``; PEM and AEM units are differential-pressure cells
(oxygen vented at ambient pressure), alkaline units are taken as balanced-pressure cells.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar

from h2quarters.config.scenario import Electrolyser
from h2quarters.models.constants import M_H2_KG_PER_MOL, U_TN_V
from h2quarters.models.electrolyser_cell import (
    FloatArray,
    h2_mol_per_s,
    pem_cell_dvdi_ohm,
    pem_cell_voltage_v,
    pem_overvoltage_v,
    reversible_voltage_v,
    ulleberg_cell_voltage_v,
    ulleberg_coefficients,
    ulleberg_faraday_efficiency,
)

__all__ = [
    "ElectrolyserModel",
    "ElectrolyserPlant",
    "ElectrolyserState",
    "ElectrolyserStep",
    "PiecewiseCurve",
    "h2_mol_per_s",
    "pem_cell_voltage_v",
    "reversible_voltage_v",
    "ulleberg_cell_voltage_v",
    "ulleberg_faraday_efficiency",
]

P_AMBIENT_BAR: float = 1.01325
"""Anode (oxygen) pressure of differential-pressure cells in bar."""

T_VOLTAGE_MIN_C: float = 5.0
"""Lowest temperature used to evaluate the cell voltage in the plant (stacks are frost-protected and
the Ulleberg fit is singular at 0 °C)."""
T_VOLTAGE_MAX_C: float = 100.0
"""Highest temperature used to evaluate the cell voltage in the plant."""

_NEWTON_MAX_ITER: int = 100
_NEWTON_RTOL: float = 1e-14
_DENSE_GRID_POINTS: int = 4001


class ElectrolyserState(enum.IntEnum):
    """Operating state of an electrolyser unit (values are used on the PLC register map)."""

    OFF = 0
    STANDBY = 1
    STARTING = 2
    PRODUCING = 3


@dataclass(frozen=True)
class PiecewiseCurve:
    """Piecewise-linear power→hydrogen curve through points of the physical curve.

    Attributes
    ----------
    p_kw : numpy.ndarray
        N+1 breakpoints of DC stack power in kW, increasing, from ``p_min_kw`` to ``p_rated_kw``.
    m_kg_per_h : numpy.ndarray
        Hydrogen flow of the physical model at the breakpoints in kg/h.
    max_abs_err_kg_per_h : float
        Largest ``|m_model(p) - m_pwl(p)|`` over [p_kw[0], p_kw[-1]] in kg/h.
    max_rel_err : float
        Largest ``|m_model(p) - m_pwl(p)| / m_model(p)`` over the same range.
    concave : bool
        Whether the physical curve is concave over the range (then the chords lie below it, the
        piecewise curve is concave and an LP may use it as ``m <= a_k p + b_k`` without binaries).
    """

    p_kw: FloatArray
    m_kg_per_h: FloatArray
    max_abs_err_kg_per_h: float
    max_rel_err: float
    concave: bool = True

    @property
    def n_segments(self) -> int:
        """Number of linear segments."""
        return int(self.p_kw.size - 1)

    @property
    def slopes_kg_per_kwh(self) -> FloatArray:
        """Slope of each segment in kg/kWh (= kg/h per kW)."""
        return np.asarray(np.diff(self.m_kg_per_h) / np.diff(self.p_kw), dtype=np.float64)

    @property
    def intercepts_kg_per_h(self) -> FloatArray:
        """Intercept of each segment's line at p = 0 in kg/h (``m = slope * p + intercept``)."""
        return np.asarray(self.m_kg_per_h[:-1] - self.slopes_kg_per_kwh * self.p_kw[:-1], dtype=np.float64)

    @property
    def intercepts(self) -> FloatArray:
        """Alias of :attr:`intercepts_kg_per_h`."""
        return self.intercepts_kg_per_h

    def __call__(self, p_kw: ArrayLike) -> FloatArray:
        """Interpolated hydrogen flow in kg/h; outside [p_kw[0], p_kw[-1]] the end values are held."""
        return np.asarray(np.interp(np.asarray(p_kw, dtype=np.float64), self.p_kw, self.m_kg_per_h))


class ElectrolyserModel:
    """Steady-state electrochemical model of the whole electrolyser plant.

    Parameters
    ----------
    cfg : h2quarters.config.scenario.Electrolyser
        Plant configuration (stacks, cells, area, cell parameters, temperatures, limits).

    Notes
    -----
    ``i_a`` is the current of one stack (all stacks in parallel at the same current). The optional
    ``u_deg_v`` adds a degradation voltage to every cell. Temperatures default to ``cfg.t_op_c``.
    """

    def __init__(self, cfg: Electrolyser) -> None:
        self.cfg: Electrolyser = cfg
        self.n_cells_total: int = int(cfg.n_stacks * cfg.n_cells)
        self._p_o2_bar: float = cfg.p_out_bar if cfg.technology == "alkaline" else P_AMBIENT_BAR

    # ------------------------------------------------------------------ steady-state relations
    def _t(self, t_c: ArrayLike | None) -> FloatArray:
        return np.asarray(self.cfg.t_op_c if t_c is None else t_c, dtype=np.float64)

    def cell_voltage_v(self, i_a: ArrayLike, t_c: ArrayLike | None = None, u_deg_v: ArrayLike = 0.0) -> FloatArray:
        """Cell voltage in V at stack current ``i_a`` (A), temperature ``t_c`` (°C), pressure ``p_out_bar``.

        Ulleberg form for AEM/alkaline, NREL PEM form for PEM (see :mod:`~h2quarters.models.electrolyser_cell`),
        plus the degradation voltage ``u_deg_v`` (V per cell).
        """
        t = self._t(t_c)
        area = self.cfg.cell_area_m2
        if self.cfg.technology == "PEM":
            assert self.cfg.pem is not None
            u = pem_cell_voltage_v(i_a, t, area, self.cfg.pem, self.cfg.p_out_bar, self._p_o2_bar)
        else:
            assert self.cfg.ulleberg is not None
            u = ulleberg_cell_voltage_v(i_a, t, area, self.cfg.ulleberg, self.cfg.p_out_bar, self._p_o2_bar)
        return np.asarray(u + np.asarray(u_deg_v, dtype=np.float64), dtype=np.float64)

    def faraday_efficiency(self, i_a: ArrayLike, t_c: ArrayLike | None = None) -> FloatArray:
        """Faraday efficiency (dimensionless) at stack current ``i_a`` in A.

        Ulleberg's current-density form for AEM/alkaline (temperature enters only through the fitted
        f1), the constant ``pem.eta_faraday`` for PEM.
        """
        i = np.asarray(i_a, dtype=np.float64)
        if self.cfg.technology == "PEM":
            assert self.cfg.pem is not None
            if np.any(~(i >= 0.0)):
                raise ValueError(f"i_a = {i[~(i >= 0.0)].ravel()[0]!r} outside the allowed range [0, inf]")
            eta = np.full(np.broadcast_shapes(i.shape, self._t(t_c).shape), self.cfg.pem.eta_faraday)
            return np.where(i > 0.0, eta, 0.0)
        assert self.cfg.ulleberg is not None
        eta = ulleberg_faraday_efficiency(i, self.cfg.cell_area_m2, self.cfg.ulleberg)
        return np.array(np.broadcast_to(eta, np.broadcast_shapes(i.shape, self._t(t_c).shape)), dtype=np.float64)

    def stack_power_kw(self, i_a: ArrayLike, t_c: ArrayLike | None = None, u_deg_v: ArrayLike = 0.0) -> FloatArray:
        """DC power of all stacks in kW: ``N_cells_total * I * U / 1000``."""
        i = np.asarray(i_a, dtype=np.float64)
        return np.asarray(self.n_cells_total * i * self.cell_voltage_v(i, t_c, u_deg_v) / 1000.0, dtype=np.float64)

    def current_from_power_a(
        self, p_kw: ArrayLike, t_c: ArrayLike | None = None, u_deg_v: ArrayLike = 0.0
    ) -> FloatArray:
        """Stack current in A that draws the DC power ``p_kw`` (all stacks), vectorised.

        ``P(I) = N I U(I)`` is increasing and convex in I for both cell forms (ohmic + log/asinh
        terms), and ``I0 = P / (N U(0))`` bounds the root from above, so Newton's method started at
        ``I0`` decreases monotonically to the root (no overshoot). Iterates to a relative step of
        1e-14; round trip ``stack_power_kw(current_from_power_a(p))`` agrees with ``p`` to ~1e-15.
        Powers <= 0 give 0 A.

        Parameters
        ----------
        p_kw : array_like
            DC stack power of the plant in kW.
        t_c : array_like, optional
            Cell temperature in °C (default ``cfg.t_op_c``).
        u_deg_v : array_like, default 0
            Degradation voltage per cell in V.

        Returns
        -------
        numpy.ndarray
            Current per stack in A.
        """
        p = np.asarray(p_kw, dtype=np.float64)
        if np.any(np.isnan(p)):
            raise ValueError("p_kw contains NaN")
        p_w, t, u_deg = np.broadcast_arrays(
            np.maximum(p, 0.0) * 1000.0, self._t(t_c), np.asarray(u_deg_v, dtype=np.float64)
        )
        n = float(self.n_cells_total)
        u0 = self.cell_voltage_v(np.zeros_like(p_w), t, u_deg)  # validates t; = U_rev + u_deg
        if np.any(u0 <= 0.0):
            raise ValueError("open-circuit cell voltage plus u_deg_v must be > 0 to invert power")
        i = p_w / (n * u0)
        pem = self.cfg.pem if self.cfg.technology == "PEM" else None
        if pem is not None and pem.concentration:
            # the concentration term bounds the current below i_lim; start Newton just below it
            i_cap = pem.i_lim_a_per_cm2 * self.cfg.cell_area_m2 * 1e4 * (1.0 - 1e-12)
            i = np.minimum(i, i_cap)
            short = n * i * (u0 + self._overvoltage_v(i, t)) < p_w
            if np.any(short):
                raise ValueError(
                    f"p_kw = {float(p_w[short].ravel()[0]) / 1000.0!r} exceeds what the stacks draw below "
                    f"pem.i_lim_a_per_cm2 = {pem.i_lim_a_per_cm2}"
                )
        over_and_slope = self._overvoltage_and_slope(t)
        for _ in range(_NEWTON_MAX_ITER):
            eta, slope = over_and_slope(i)
            u = u0 + eta
            step = (n * i * u - p_w) / (n * (u + i * slope))
            i = np.maximum(i - step, 0.0)
            if np.all(np.abs(step) <= _NEWTON_RTOL * np.maximum(i, 1e-300)):
                break
        return np.asarray(i, dtype=np.float64)

    def _overvoltage_v(self, i_a: FloatArray, t_c: FloatArray) -> FloatArray:
        """Current-dependent part of the cell voltage (no input checks)."""
        return self._overvoltage_and_slope(t_c)(i_a)[0]

    def _overvoltage_and_slope(self, t_c: FloatArray) -> Callable[[FloatArray], tuple[FloatArray, FloatArray]]:
        """``i -> (U(i) - U(0), dU/dI)`` per cell at fixed temperature, coefficients precomputed (Newton loop)."""
        area = self.cfg.cell_area_m2
        if self.cfg.technology == "PEM":
            pem = self.cfg.pem
            assert pem is not None
            return lambda i: (pem_overvoltage_v(i, t_c, area, pem), pem_cell_dvdi_ohm(i, t_c, area, pem))
        assert self.cfg.ulleberg is not None
        r, s, k = ulleberg_coefficients(t_c, self.cfg.ulleberg)
        r_a, k_a = r / area, k / area
        c = s * k_a / math.log(10.0)

        def fn(i: FloatArray) -> tuple[FloatArray, FloatArray]:
            x = k_a * i + 1.0
            return r_a * i + s * np.log10(x), r_a + c / x

        return fn

    def h2_kg_per_h(self, i_a: ArrayLike, t_c: ArrayLike | None = None) -> FloatArray:
        """Hydrogen production of the whole plant in kg/h at stack current ``i_a`` (Faraday's law)."""
        i = np.asarray(i_a, dtype=np.float64)
        eta = self.faraday_efficiency(i, t_c)
        return np.asarray(h2_mol_per_s(i, self.n_cells_total, eta) * M_H2_KG_PER_MOL * 3600.0, dtype=np.float64)

    def h2_from_power_kg_per_h(
        self, p_stack_kw: ArrayLike, t_c: ArrayLike | None = None, u_deg_v: ArrayLike = 0.0
    ) -> FloatArray:
        """Hydrogen production in kg/h at DC stack power ``p_stack_kw`` (all stacks); 0 for p <= 0.

        No minimum-load or rating clamp is applied here (that is the plant's job).
        """
        i = self.current_from_power_a(p_stack_kw, t_c, u_deg_v)
        return self.h2_kg_per_h(i, t_c)

    # ------------------------------------------------------------------ ratings
    @property
    def p_rated_kw(self) -> float:
        """Rated DC stack power of the plant in kW."""
        return float(self.cfg.p_rated_kw)

    @property
    def p_min_kw(self) -> float:
        """Minimum stable DC stack power of the plant in kW."""
        return float(self.cfg.p_min_kw)

    @property
    def i_rated_a(self) -> float:
        """Stack current at rated power and ``t_op_c`` in A."""
        return float(self.current_from_power_a(self.p_rated_kw))

    @property
    def m_rated_kg_per_h(self) -> float:
        """Hydrogen production at rated power and ``t_op_c`` in kg/h."""
        return float(self.h2_kg_per_h(self.i_rated_a))

    def sec_kwh_per_kg(
        self, p_stack_kw: ArrayLike, t_c: ArrayLike | None = None, u_deg_v: ArrayLike = 0.0
    ) -> FloatArray:
        """Specific energy consumption of the stacks in kWh/kg (DC stack power over hydrogen flow)."""
        p = np.asarray(p_stack_kw, dtype=np.float64)
        return np.asarray(p / self.h2_from_power_kg_per_h(p, t_c, u_deg_v), dtype=np.float64)

    # ------------------------------------------------------------------ piecewise curve
    def piecewise_curve(self, n_segments: int | None = None, t_c: float | None = None) -> PiecewiseCurve:
        """Piecewise-linear power→hydrogen curve over [p_min_kw, p_rated_kw] with minimax breakpoints.

        Breakpoints lie on the physical curve (endpoints exact). For a concave curve the chord error
        of a segment grows with its length, so the minimax breakpoints equalise the segment errors:
        a bisection on the error level E with a greedy sweep (each segment as long as its error
        stays <= E) on a dense grid finds them; the result is never worse than equal spacing.
        The reported errors are the maxima of the continuous error (bounded scalar search per
        segment, seeded by the grid), not just grid values.

        Parameters
        ----------
        n_segments : int, optional
            Number of segments N >= 1 (default ``cfg.n_segments``).
        t_c : float, optional
            Stack temperature in °C (default ``cfg.t_op_c``).

        Returns
        -------
        PiecewiseCurve
        """
        n_seg = int(self.cfg.n_segments if n_segments is None else n_segments)
        if not 1 <= n_seg <= 200:
            raise ValueError(f"n_segments = {n_seg} outside the allowed range [1, 200]")
        t = float(self.cfg.t_op_c if t_c is None else t_c)
        p_lo, p_hi = self.p_min_kw, self.p_rated_kw
        if not p_hi > p_lo >= 0.0:
            raise ValueError(f"piecewise curve needs 0 <= p_min_kw ({p_lo}) < p_rated_kw ({p_hi}); min_load_frac < 1")
        p_grid = np.linspace(p_lo, p_hi, _DENSE_GRID_POINTS)
        m_grid = self.h2_from_power_kg_per_h(p_grid, t)
        d2 = np.diff(m_grid, 2)
        concave = bool(np.all(d2 <= 1e-12 * np.max(np.abs(m_grid))))

        def seg_err(a: int, b: int) -> float:
            pa, pb, ma, mb = p_grid[a], p_grid[b], m_grid[a], m_grid[b]
            chord = ma + (mb - ma) * (p_grid[a : b + 1] - pa) / (pb - pa)
            return float(np.max(np.abs(m_grid[a : b + 1] - chord)))

        def greedy(e_max: float) -> list[int] | None:
            idx = [0]
            last = _DENSE_GRID_POINTS - 1
            for _ in range(n_seg):
                a = idx[-1]
                if seg_err(a, last) <= e_max:
                    idx.append(last)
                    return idx
                lo, hi = a + 1, last  # seg_err(a, lo) == 0 <= e_max < seg_err(a, hi)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if seg_err(a, mid) <= e_max:
                        lo = mid
                    else:
                        hi = mid
                idx.append(lo)
            return None

        equal_idx = list(np.round(np.linspace(0, _DENSE_GRID_POINTS - 1, n_seg + 1)).astype(int))
        e_equal = max(seg_err(a, b) for a, b in itertools.pairwise(equal_idx))
        best_idx = equal_idx
        e_lo, e_hi = 0.0, e_equal
        for _ in range(60):
            e_mid = 0.5 * (e_lo + e_hi)
            found = greedy(e_mid)
            if found is None:
                e_lo = e_mid
            else:
                e_hi, best_idx = e_mid, found
            if e_hi - e_lo <= 1e-6 * e_equal:
                break
        if len(best_idx) < n_seg + 1:
            # Fewer segments already met the error: split the longest ones so that N is kept.
            while len(best_idx) < n_seg + 1:
                gaps = np.diff(best_idx)
                k = int(np.argmax(gaps))
                if gaps[k] < 2:
                    break
                best_idx.insert(k + 1, best_idx[k] + gaps[k] // 2)
        p_bp = p_grid[np.asarray(best_idx)]
        m_bp = m_grid[np.asarray(best_idx)]
        abs_err, rel_err = self._pwl_errors(p_bp, m_bp, p_grid, m_grid, t)
        return PiecewiseCurve(
            p_kw=np.asarray(p_bp, dtype=np.float64),
            m_kg_per_h=np.asarray(m_bp, dtype=np.float64),
            max_abs_err_kg_per_h=abs_err,
            max_rel_err=rel_err,
            concave=concave,
        )

    def _pwl_errors(
        self, p_bp: FloatArray, m_bp: FloatArray, p_grid: FloatArray, m_grid: FloatArray, t_c: float
    ) -> tuple[float, float]:
        """Maximum absolute and relative deviation of the chords from the physical curve."""
        pwl_grid = np.interp(p_grid, p_bp, m_bp)
        abs_max = float(np.max(np.abs(m_grid - pwl_grid)))
        pos = m_grid > 0.0  # relative error is undefined at p = 0 (min_load_frac = 0)
        rel_max = float(np.max(np.abs(m_grid - pwl_grid)[pos] / m_grid[pos]))
        step = p_grid[1] - p_grid[0]
        for pa, pb, ma, mb in zip(p_bp[:-1], p_bp[1:], m_bp[:-1], m_bp[1:]):
            slope = (mb - ma) / (pb - pa)

            def err(p: float, rel: bool, pa: float = pa, ma: float = ma, slope: float = slope) -> float:
                m = float(self.h2_from_power_kg_per_h(p, t_c))
                e = abs(m - (ma + slope * (p - pa)))
                return -((e / m if m > 0.0 else 0.0) if rel else e)

            inside = (p_grid >= pa) & (p_grid <= pb)
            for rel in (False, True):
                vals = np.abs(m_grid[inside] - pwl_grid[inside])
                if rel:
                    m_in = m_grid[inside]
                    vals = np.divide(vals, m_in, out=np.zeros_like(vals), where=m_in > 0.0)
                p_star = float(p_grid[inside][int(np.argmax(vals))])
                lo, hi = max(pa, p_star - step), min(pb, p_star + step)
                if hi <= lo:
                    continue
                res = minimize_scalar(err, bounds=(lo, hi), args=(rel,), method="bounded", options={"xatol": 1e-12})
                if rel:
                    rel_max = max(rel_max, -float(res.fun))
                else:
                    abs_max = max(abs_max, -float(res.fun))
        return abs_max, rel_max

    # ------------------------------------------------------------------ heat
    def heat_generation_kw(self, p_stack_kw: float, i_a: float) -> float:
        """Heat released in the stacks in kW: ``Q_gen = N I (U - U_tn) = P_stack - N I U_tn`` (Ulleberg 2003).

        Negative below the thermoneutral voltage (the reaction then absorbs heat).
        """
        return float(p_stack_kw) - self.n_cells_total * float(i_a) * U_TN_V / 1000.0

    def thermal_step_c(
        self, t_c: float, p_stack_kw: float, i_a: float, dt_s: float, p_cool_kw: float | None = None
    ) -> tuple[float, float]:
        """Advance the lumped stack temperature over one step with the exact solution of the linear ODE.

        ``C dT/dt = Q_gen - (T - T_amb)/R - Q_cool`` with constant ``Q_gen`` over the step
        (:meth:`heat_generation_kw`), ``C = thermal.c_th_kj_per_k``, ``R = thermal.r_th_k_per_kw``,
        time constant ``tau = R C`` in s. Between switching instants the solution is
        ``T(t) = T_ss + (T0 - T_ss) exp(-t / tau)``, ``T_ss = T_amb + R (Q_gen - Q_cool)``.

        With ``p_cool_kw=None`` an ideal thermostat runs the cooler: off below ``t_op_c``, holding
        ``t_op_c`` exactly with ``Q_cool = Q_gen - (t_op - T_amb)/R`` when that lies in
        [0, p_cool_max_kw], full cooling above ``t_op_c``. Switching instants inside the step are
        solved analytically, so any ``dt_s`` is exact and stable.

        Parameters
        ----------
        t_c : float
            Stack temperature at the start of the step in °C.
        p_stack_kw : float
            DC stack power (all stacks) during the step in kW.
        i_a : float
            Stack current during the step in A.
        dt_s : float
            Step length in s, >= 0.
        p_cool_kw : float, optional
            Fixed cooling power in kW within [0, p_cool_max_kw]; ``None`` for the thermostat.

        Returns
        -------
        tuple of float
            Temperature at the end of the step in °C and mean heat removed by the cooler in kW.
        """
        th = self.cfg.thermal
        if not dt_s >= 0.0:
            raise ValueError(f"dt_s = {dt_s!r} must be >= 0")
        if not math.isfinite(t_c):
            raise ValueError(f"t_c = {t_c!r} must be finite")
        q_gen = self.heat_generation_kw(p_stack_kw, i_a)
        tau_s = th.r_th_k_per_kw * th.c_th_kj_per_k  # K/kW * kJ/K = s

        def relax(t0: float, q_cool: float, dt: float) -> float:
            t_ss = th.t_ambient_c + th.r_th_k_per_kw * (q_gen - q_cool)
            return t_ss + (t0 - t_ss) * math.exp(-dt / tau_s)

        if dt_s == 0.0:
            return float(t_c), 0.0
        if p_cool_kw is not None:
            if not 0.0 <= p_cool_kw <= th.p_cool_max_kw:
                raise ValueError(f"p_cool_kw = {p_cool_kw!r} outside the allowed range [0, {th.p_cool_max_kw}]")
            return relax(t_c, p_cool_kw, dt_s), float(p_cool_kw)

        t_set = self.cfg.t_op_c
        q_max = th.p_cool_max_kw
        q_hold = q_gen - (t_set - th.t_ambient_c) / th.r_th_k_per_kw
        t0, left, e_cool_kj = float(t_c), float(dt_s), 0.0
        tol = 1e-9
        for _ in range(4):  # at most: approach set point, then hold / drift (each phase is final or ends at t_set)
            if left <= 0.0:
                break
            if abs(t0 - t_set) <= tol and 0.0 <= q_hold <= q_max:
                e_cool_kj += q_hold * left
                t0, left = t_set, 0.0
                break
            if t0 > t_set + tol or (abs(t0 - t_set) <= tol and q_hold > q_max):
                q = q_max  # above (or pushed above) the set point: full cooling
            else:
                q = 0.0  # below the set point (or the hold would need heating): cooler off
            t_ss = th.t_ambient_c + th.r_th_k_per_kw * (q_gen - q)
            crosses = (t0 < t_set - tol < t_ss - tol) or (t0 > t_set + tol > t_ss + tol)
            if crosses:
                t_hit = tau_s * math.log((t_ss - t0) / (t_ss - t_set))
                if t_hit < left:
                    e_cool_kj += q * t_hit
                    t0, left = t_set, left - t_hit
                    continue
            e_cool_kj += q * left
            t0, left = relax(t0, q, left), 0.0
        return float(t0), float(e_cool_kj / dt_s)

    # ------------------------------------------------------------------ degradation
    def degradation_v(self, op_hours_h: float, n_starts: float) -> float:
        """Cell-voltage increase in V: ``(uv_per_h * h + uv_per_start * starts) * 1e-6``."""
        if op_hours_h < 0 or n_starts < 0:
            raise ValueError(f"op_hours_h ({op_hours_h}) and n_starts ({n_starts}) must be >= 0")
        deg = self.cfg.degradation
        return float((deg.uv_per_h * op_hours_h + deg.uv_per_start * n_starts) * 1e-6)


@dataclass
class ElectrolyserStep:
    """Result of one :meth:`ElectrolyserPlant.step`.

    Power and current fields are means over the step (so ``p * dt_s / 3600`` is the step's energy in
    kWh); ``u_cell_v`` and ``eta_f`` are the values while producing (0 if nothing was produced);
    ``state`` and ``t_c`` are taken at the end of the step. Extra fields: ``dt_s`` step length,
    ``t_producing_s`` producing time within the step, ``p_setpoint_kw`` stack power while producing
    (ramp state), ``u_deg_v`` degradation voltage used, ``t_eval_c`` temperature at which the
    electrochemistry was evaluated (NaN if nothing was produced). ``t_starting_s``, ``t_standby_s`` and
    ``t_off_s`` split the rest of the step, so the four durations add up to ``dt_s`` (a 10-minute start-up
    in a 1-hour step is 10 minutes starting and 50 minutes producing, whatever the end state).
    """

    state: ElectrolyserState
    p_request_kw: float
    p_stack_kw: float
    p_bop_kw: float
    p_total_kw: float
    i_a: float
    u_cell_v: float
    m_h2_kg: float
    t_c: float
    q_heat_kw: float
    eta_f: float
    dt_s: float = 0.0
    t_producing_s: float = 0.0
    p_setpoint_kw: float = 0.0
    u_deg_v: float = 0.0
    t_eval_c: float = float("nan")
    t_starting_s: float = 0.0
    t_standby_s: float = 0.0
    t_off_s: float = 0.0


class ElectrolyserPlant:
    """Stateful electrolyser unit, advanced one step at a time.

    Parameters
    ----------
    cfg : h2quarters.config.scenario.Electrolyser
        Plant configuration.
    t_c : float, optional
        Initial stack temperature in °C (default ``cfg.thermal.t_start_c``).
    state : ElectrolyserState, default OFF
        Initial state (PRODUCING starts at minimum load).
    op_hours_h : float, default 0
        Producing hours so far (degradation).
    n_starts : int, default 0
        Starts so far (degradation).

    Notes
    -----
    Stack power is held constant within a step at the ramp-limited set point (zero-order hold), so
    energy and Faraday's law are exact for the step. The cell voltage is evaluated at the mean of the
    start and end temperature of the step (one fixed-point pass), clipped to [5, 100] °C.
    """

    def __init__(
        self,
        cfg: Electrolyser,
        t_c: float | None = None,
        state: ElectrolyserState = ElectrolyserState.OFF,
        op_hours_h: float = 0.0,
        n_starts: int = 0,
    ) -> None:
        self.cfg: Electrolyser = cfg
        self.model: ElectrolyserModel = ElectrolyserModel(cfg)
        self.state: ElectrolyserState = ElectrolyserState(state)
        self.t_c: float = float(cfg.thermal.t_start_c if t_c is None else t_c)
        if op_hours_h < 0 or n_starts < 0:
            raise ValueError(f"op_hours_h ({op_hours_h}) and n_starts ({n_starts}) must be >= 0")
        self.op_hours_h: float = float(op_hours_h)
        self.n_starts: int = int(n_starts)
        self.p_stack_kw: float = self.model.p_min_kw if self.state == ElectrolyserState.PRODUCING else 0.0
        self.time_in_state_s: float = 0.0

    @property
    def u_deg_v(self) -> float:
        """Current degradation voltage per cell in V."""
        return self.model.degradation_v(self.op_hours_h, self.n_starts)

    def _set_state(self, new: ElectrolyserState) -> None:
        if new != self.state:
            self.state = new
            self.time_in_state_s = 0.0

    def trip(self) -> None:
        """Immediate shutdown to OFF (interlock); the stack power drops to zero."""
        self._set_state(ElectrolyserState.OFF)
        self.p_stack_kw = 0.0

    def step(self, p_request_kw: float, dt_s: float, standby_allowed: bool = True) -> ElectrolyserStep:
        """Advance the unit by ``dt_s`` seconds with the requested DC stack power ``p_request_kw``.

        Semantics: a request > 0 and >= p_min starts the unit (OFF/STANDBY → STARTING, counted as a start;
        after ``startup_time_min`` it produces, also for the rest of a step in which the start-up ends,
        entering at p_min). While producing the request is clamped to [p_min, p_rated] and to the
        ramp limit ``ramp_frac_per_min * p_rated`` per minute. A request < p_min (or <= 0) stops production:
        STANDBY if ``standby_allowed`` (and the unit was not OFF), else OFF. STARTING draws standby +
        BoP power, STANDBY the standby power, PRODUCING stack + BoP power.

        Parameters
        ----------
        p_request_kw : float
            Requested DC stack power of the plant in kW.
        dt_s : float
            Step length in s, > 0.
        standby_allowed : bool, default True
            Whether the unit may idle in STANDBY instead of switching OFF.

        Returns
        -------
        ElectrolyserStep
            Mean powers, current, hydrogen produced in the step, end state and temperature.
        """
        if not (math.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s = {dt_s!r} must be a finite number > 0")
        if not math.isfinite(p_request_kw):
            raise ValueError(f"p_request_kw = {p_request_kw!r} must be finite")
        cfg, model = self.cfg, self.model
        p_min, p_rated = model.p_min_kw, model.p_rated_kw
        u_deg = self.u_deg_v  # degradation as of the start of the step
        t_start_s = t_standby_s = t_prod_s = 0.0
        S = ElectrolyserState

        # Produce only when there is power to give: with min_load_frac = 0 a zero request means off/standby,
        # not "producing at 0 kW". The tolerance admits requests computed as p_min with round-off.
        if p_request_kw > 0.0 and p_request_kw >= p_min * (1.0 - 1e-9):
            if self.state in (S.OFF, S.STANDBY):
                self._set_state(S.STARTING)
                self.n_starts += 1
            if self.state == S.STARTING:
                remaining_s = cfg.startup_time_min * 60.0 - self.time_in_state_s
                if remaining_s > dt_s:
                    t_start_s = dt_s
                    self.time_in_state_s += dt_s
                else:
                    t_start_s = max(remaining_s, 0.0)
                    self._set_state(S.PRODUCING)
                    self.p_stack_kw = p_min
                    t_prod_s = dt_s - t_start_s
                    self.time_in_state_s = t_prod_s
            else:  # PRODUCING
                t_prod_s = dt_s
                self.time_in_state_s += dt_s
            if t_prod_s > 0.0:
                target = min(max(p_request_kw, p_min), p_rated)
                dp_max = cfg.ramp_frac_per_min * p_rated * t_prod_s / 60.0
                self.p_stack_kw = min(max(target, self.p_stack_kw - dp_max), self.p_stack_kw + dp_max)
        else:
            if standby_allowed and self.state != S.OFF:
                self._set_state(S.STANDBY)
                t_standby_s = dt_s
            else:
                self._set_state(S.OFF)
            self.time_in_state_s += dt_s  # reset to 0 by _set_state on a change
            self.p_stack_kw = 0.0

        # Electrochemistry at the mean step temperature (one fixed-point pass).
        t0 = self.t_c
        i_prod = u_cell = eta_f = m_h2 = 0.0
        t_eval = float("nan")
        p_prod = self.p_stack_kw if t_prod_s > 0.0 else 0.0
        t_idle_s = dt_s - t_prod_s
        if t_prod_s > 0.0:
            t_eval = min(max(t0, T_VOLTAGE_MIN_C), T_VOLTAGE_MAX_C)
            i_prod = float(model.current_from_power_a(p_prod, t_eval, u_deg))
            t_end, _ = self._thermal(t0, t_idle_s, 0.0, 0.0, t_prod_s, p_prod, i_prod)
            t_eval = min(max(0.5 * (t0 + t_end), T_VOLTAGE_MIN_C), T_VOLTAGE_MAX_C)
            i_prod = float(model.current_from_power_a(p_prod, t_eval, u_deg))
            u_cell = float(model.cell_voltage_v(i_prod, t_eval, u_deg))
            eta_f = float(model.faraday_efficiency(i_prod, t_eval))
            m_h2 = float(h2_mol_per_s(i_prod, model.n_cells_total, eta_f)) * M_H2_KG_PER_MOL * t_prod_s
        t_new, q_cool_kw = self._thermal(t0, t_idle_s, 0.0, 0.0, t_prod_s, p_prod, i_prod)
        self.t_c = t_new
        self.op_hours_h += t_prod_s / 3600.0

        frac_prod = t_prod_s / dt_s
        p_stack_mean = p_prod * frac_prod
        p_bop_mean = cfg.p_bop_kw * (t_prod_s + t_start_s) / dt_s
        p_standby_mean = cfg.p_standby_kw * (t_start_s + t_standby_s) / dt_s
        return ElectrolyserStep(
            state=self.state,
            p_request_kw=float(p_request_kw),
            p_stack_kw=p_stack_mean,
            p_bop_kw=p_bop_mean,
            p_total_kw=p_stack_mean + p_bop_mean + p_standby_mean,
            i_a=i_prod * frac_prod,
            u_cell_v=u_cell,
            m_h2_kg=m_h2,
            t_c=t_new,
            q_heat_kw=q_cool_kw,
            eta_f=eta_f,
            dt_s=float(dt_s),
            t_producing_s=t_prod_s,
            p_setpoint_kw=self.p_stack_kw,
            u_deg_v=u_deg,
            t_eval_c=t_eval,
            t_starting_s=t_start_s,
            t_standby_s=t_standby_s,
            t_off_s=max(dt_s - t_prod_s - t_start_s - t_standby_s, 0.0),
        )

    def _thermal(
        self, t0: float, dt_idle_s: float, p_idle_kw: float, i_idle_a: float, dt_prod_s: float, p_kw: float, i_a: float
    ) -> tuple[float, float]:
        """Thermal path of a step: idle part first (no heat generation), then the producing part."""
        t, e_cool = t0, 0.0
        for dt, p, i in ((dt_idle_s, p_idle_kw, i_idle_a), (dt_prod_s, p_kw, i_a)):
            if dt > 0.0:
                t, q = self.model.thermal_step_c(t, p, i, dt)
                e_cool += q * dt
        total = dt_idle_s + dt_prod_s
        return t, (e_cool / total if total > 0.0 else 0.0)
