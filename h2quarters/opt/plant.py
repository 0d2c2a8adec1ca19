"""The plant as the optimiser sees it: a flat set of numbers taken from the physical models.

The MILP never evaluates physics itself. :meth:`PlantParams.from_scenario` asks the foundation's models
(electrolyser polarisation curve, real-gas tank, compressor, fuel cell) for the numbers a linear model needs —
the piecewise power→hydrogen curve, the tank's mass window, a specific compression work — so that the
optimiser and the simulator share one physics. Tests build :class:`PlantParams` directly for small cases
with known answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from h2quarters.config.scenario import Scenario
from h2quarters.models.constants import LHV_H2_KWH_PER_KG
from h2quarters.opt.settings import OptSettings

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear curve through breakpoints ``(x, y)`` with strictly increasing ``x``.

    Attributes
    ----------
    x, y : ndarray
        Breakpoints (N+1 for N segments).
    max_abs_err, max_rel_err : float
        Largest deviation of the chords from the physical curve they approximate (absolute in the unit of
        ``y``; relative to the physical value), as reported by the model that produced the breakpoints.
    """

    x: FloatArray
    y: FloatArray
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0

    def __post_init__(self) -> None:
        x = np.asarray(self.x, float)
        y = np.asarray(self.y, float)
        if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
            raise ValueError(f"curve needs ≥2 breakpoints of equal length, got x{x.shape}, y{y.shape}")
        if np.any(np.diff(x) <= 0):
            raise ValueError(f"curve breakpoints x must increase strictly, got {x.tolist()}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    @property
    def widths(self) -> FloatArray:
        """Segment widths in the unit of ``x``."""
        return np.diff(self.x)

    @property
    def slopes(self) -> FloatArray:
        """Segment slopes ``dy/dx``."""
        return np.diff(self.y) / np.diff(self.x)

    def is_concave(self, tol: float = 1e-12) -> bool:
        """True if slopes do not increase (chords can be filled in any order when maximising y)."""
        return bool(np.all(np.diff(self.slopes) <= tol * max(1.0, float(np.abs(self.slopes).max()))))

    def is_convex(self, tol: float = 1e-12) -> bool:
        """True if slopes do not decrease (chords can be filled in any order when minimising y)."""
        return bool(np.all(np.diff(self.slopes) >= -tol * max(1.0, float(np.abs(self.slopes).max()))))

    def __call__(self, x: npt.ArrayLike) -> FloatArray:
        """Evaluate the piecewise-linear curve (no extrapolation)."""
        return np.interp(np.asarray(x, float), self.x, self.y)


@dataclass(frozen=True)
class ElectrolyserParams:
    """Electrolyser numbers for the MILP (all kW at the stack unless noted)."""

    p_min_kw: float
    p_rated_kw: float
    p_standby_kw: float
    p_bop_kw: float
    startup_h: float
    ramp_kw_per_h: float
    curve: Curve  # stack power (kW) → hydrogen (kg/h), from p_min_kw to p_rated_kw

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_min_kw < self.p_rated_kw:
            raise ValueError(f"electrolyser p_min_kw ({self.p_min_kw}) must lie in [0, p_rated_kw "
                             f"({self.p_rated_kw}))")
        if abs(self.curve.x[0] - self.p_min_kw) > 1e-6 * self.p_rated_kw or \
                abs(self.curve.x[-1] - self.p_rated_kw) > 1e-6 * self.p_rated_kw:
            raise ValueError(f"electrolyser curve must span [p_min_kw, p_rated_kw] = [{self.p_min_kw}, "
                             f"{self.p_rated_kw}], got [{self.curve.x[0]}, {self.curve.x[-1]}]")


@dataclass(frozen=True)
class TankParams:
    """Hydrogen tank and compressor numbers."""

    m_min_kg: float
    m_max_kg: float
    m_init_kg: float
    w_comp_kwh_per_kg: float = 0.0  # constant specific compression work (0: no compressor)
    p_comp_max_kw: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.m_min_kg < self.m_max_kg:
            raise ValueError(f"tank m_min_kg ({self.m_min_kg}) must lie in [0, m_max_kg ({self.m_max_kg}))")
        if not self.m_min_kg <= self.m_init_kg <= self.m_max_kg:
            raise ValueError(f"tank m_init_kg ({self.m_init_kg}) must lie in [{self.m_min_kg}, {self.m_max_kg}]")

    @property
    def m_flow_max_kg_per_h(self) -> float | None:
        """Largest flow the compressor can push into the tank (kg/h), None when unlimited."""
        if self.p_comp_max_kw is None or self.w_comp_kwh_per_kg <= 0.0:
            return None
        return self.p_comp_max_kw / self.w_comp_kwh_per_kg


@dataclass(frozen=True)
class FuelCellParams:
    """Fuel cell numbers; ``curve`` maps electrical output (kW) to hydrogen use (kg/h)."""

    p_min_kw: float
    p_rated_kw: float
    curve: Curve
    heat_frac_of_h2: float
    m_reserve_kg: float = 0.0


@dataclass(frozen=True)
class BatteryParams:
    """Battery numbers (AC side powers)."""

    e_kwh: float
    p_charge_kw: float
    p_discharge_kw: float
    eta_charge: float
    eta_discharge: float
    soc_min: float
    soc_max: float
    soc_init: float
    self_discharge_per_h: float = 0.0


@dataclass(frozen=True)
class PlantParams:
    """Everything the MILP needs to know about the plant."""

    electrolyser: ElectrolyserParams
    tank: TankParams
    fuel_cell: FuelCellParams | None = None
    battery: BatteryParams | None = None
    p_import_max_kw: float | None = None
    p_export_max_kw: float | None = None
    gas_eur_per_kwh: float = 0.10
    co2_gas_g_per_kwh: float = 201.0
    has_heat_demand: bool = False  # models get a heat balance (fuel-cell heat + gas boiler) only if True
    notes: dict[str, str] = field(default_factory=dict)

    def with_(self, **changes: object) -> PlantParams:
        """Copy with some fields replaced (for tests and what-if studies)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_scenario(cls, scenario: Scenario, settings: OptSettings | None = None) -> PlantParams:
        """Take the optimiser's numbers from the physical models of ``scenario``.

        Parameters
        ----------
        scenario : Scenario
            The site.
        settings : OptSettings, optional
            Unused today; kept so that future approximations (e.g. pressure-dependent compressor work) can
            be chosen there.

        Notes
        -----
        - Electrolyser: ``ElectrolyserModel(cfg).piecewise_curve(n_segments)`` — chords of the stack's
          power→hydrogen curve at the operating temperature; its approximation error is kept in
          ``curve.max_abs_err``/``max_rel_err`` and reported in results.
        - Compressor: one constant specific work, evaluated at the tank's *maximum* pressure (conservative:
          the real work is lower while the tank is less full).
        - Fuel cell: chords of ``FuelCellModel(cfg).h2_kg_per_h`` through the configured load points.
        """
        from h2quarters.models.electrolyser import ElectrolyserModel
        from h2quarters.models.storage import HydrogenTank

        ely_cfg = scenario.electrolyser
        pw = ElectrolyserModel(ely_cfg).piecewise_curve(ely_cfg.n_segments)
        curve = Curve(np.asarray(pw.p_kw, float), np.asarray(pw.m_kg_per_h, float),
                      float(pw.max_abs_err_kg_per_h), float(pw.max_rel_err))
        ely = ElectrolyserParams(
            p_min_kw=float(curve.x[0]), p_rated_kw=float(curve.x[-1]), p_standby_kw=ely_cfg.p_standby_kw,
            p_bop_kw=ely_cfg.p_bop_kw, startup_h=ely_cfg.startup_time_min / 60.0,
            ramp_kw_per_h=ely_cfg.ramp_frac_per_min * 60.0 * ely_cfg.p_rated_kw, curve=curve)

        tank_model = HydrogenTank(scenario.storage)
        notes: dict[str, str] = {}
        w_comp = 0.0
        p_comp_max = None
        comp_cfg = scenario.storage.compressor
        if comp_cfg is not None:
            from h2quarters.models.compressor import CompressorModel

            w_comp = float(CompressorModel(comp_cfg, ely_cfg.p_out_bar).work_kwh_per_kg(scenario.storage.p_max_bar))
            p_comp_max = comp_cfg.p_max_kw
            notes["compressor"] = (f"constant specific work {w_comp:.3f} kWh/kg at the tank's maximum pressure "
                                   f"{scenario.storage.p_max_bar:g} bar (conservative)")
        tank = TankParams(m_min_kg=tank_model.m_min_kg, m_max_kg=tank_model.m_max_kg,
                          m_init_kg=tank_model.m_init_kg, w_comp_kwh_per_kg=w_comp, p_comp_max_kw=p_comp_max)

        fc = None
        if scenario.fuel_cell is not None:
            from h2quarters.models.fuelcell import FuelCellModel

            fc_cfg = scenario.fuel_cell
            fc_model = FuelCellModel(fc_cfg)
            fracs = np.asarray(fc_cfg.load_frac_points, float)
            fracs = fracs[fracs >= fc_cfg.min_load_frac - 1e-12]
            if fracs[0] > fc_cfg.min_load_frac + 1e-12:
                fracs = np.concatenate([[fc_cfg.min_load_frac], fracs])
            p_fc = fracs * fc_cfg.p_rated_kw
            h2_fc = np.asarray(fc_model.h2_kg_per_h(p_fc), float)
            fc = FuelCellParams(p_min_kw=float(p_fc[0]), p_rated_kw=fc_cfg.p_rated_kw, curve=Curve(p_fc, h2_fc),
                                heat_frac_of_h2=fc_cfg.heat_frac_of_h2, m_reserve_kg=fc_cfg.m_reserve_kg)

        bat = None
        if scenario.battery is not None:
            b = scenario.battery
            bat = BatteryParams(e_kwh=b.e_kwh, p_charge_kw=b.p_charge_kw, p_discharge_kw=b.p_discharge_kw,
                                eta_charge=b.eta_charge, eta_discharge=b.eta_discharge, soc_min=b.soc_min,
                                soc_max=b.soc_max, soc_init=b.soc_init,
                                self_discharge_per_h=b.self_discharge_per_h)
        t = scenario.tariffs
        return cls(electrolyser=ely, tank=tank, fuel_cell=fc, battery=bat, p_import_max_kw=t.p_import_max_kw,
                   p_export_max_kw=t.p_export_max_kw, gas_eur_per_kwh=t.gas_eur_per_kwh,
                   co2_gas_g_per_kwh=t.co2_gas_g_per_kwh, has_heat_demand=bool(scenario.heat_loads),
                   notes=notes)


def fuel_cell_curve_from_efficiency(p_rated_kw: float, load_fracs: npt.ArrayLike,
                                    eta_el: npt.ArrayLike) -> Curve:
    """Hydrogen use ``p / (eta LHV)`` (kg/h) at the given load points, for building test plants.

    Parameters
    ----------
    p_rated_kw : float
        Rated electrical output (kW).
    load_fracs, eta_el : array_like
        Load points (fraction of rated) and electrical efficiency (LHV) there.
    """
    p = np.asarray(load_fracs, float) * p_rated_kw
    return Curve(p, p / (np.asarray(eta_el, float) * LHV_H2_KWH_PER_KG))
