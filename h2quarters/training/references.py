"""Reference answers, computed from the same physics at the learner's own measured conditions.

Each function takes a :class:`RefContext` (the learner's readings, parameters, earlier answers, the exercise plant
and a :class:`Physics` of constants) and returns a pint quantity. A *mistake detector* re-evaluates the same
function with one assumption of :class:`Physics` changed (``z = 4``, temperature in °C, heating values swapped,
pressure in bar inside an SI formula, volume at operating conditions instead of normal conditions): the physics of a
typical mistake is computed, never guessed.

Constants and models come from :mod:`h2quarters.models` (Faraday constant, heating values, normal density, the
electrolyser and tank models of the exercise's scenario), so a change there changes the answers with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pint

from h2quarters.models.constants import (
    F_C_PER_MOL,
    HHV_H2_KWH_PER_KG,
    LHV_H2_KWH_PER_KG,
    R_J_PER_MOL_K,
    RHO_H2_NORMAL_KG_PER_M3,
    T_ZERO_K,
)
from h2quarters.training.units import Q_

P_NORMAL_BAR = 1.01325
"""Normal pressure (DIN 1343) in bar."""


@dataclass(frozen=True)
class Physics:
    """The assumptions a calculation rests on; a mistake detector changes one of them."""

    z: float = 2.0
    lhv_kwh_per_kg: float = LHV_H2_KWH_PER_KG
    hhv_kwh_per_kg: float = HHV_H2_KWH_PER_KG
    t_zero_k: float = T_ZERO_K
    pa_per_bar: float = 1e5
    normal_volume: bool = True


DETECTORS: dict[str, dict[str, Any]] = {
    "z_4": {"z": 4.0},
    "celsius_for_kelvin": {"t_zero_k": 0.0},
    "lhv_hhv_swapped": {"lhv_kwh_per_kg": HHV_H2_KWH_PER_KG, "hhv_kwh_per_kg": LHV_H2_KWH_PER_KG},
    "bar_for_pa": {"pa_per_bar": 1.0},
    "operating_litres_for_normal": {"normal_volume": False},
}
"""Physics changes of the built-in mistake detectors (see :class:`h2quarters.training.schema.Mistake`)."""


def physics_for(detector: str | None) -> Physics:
    """The :class:`Physics` of a detector (the correct one for ``None``)."""
    return Physics() if detector is None else replace(Physics(), **DETECTORS[detector])


class MissingMeasurement(LookupError):
    """A reference needs a reading the learner has not taken yet."""


@dataclass
class RefContext:
    """Everything a reference may use."""

    readings: dict[str, dict[str, float]]
    times_s: dict[str, float]
    params: dict[str, float]
    answers: dict[str, pint.Quantity]
    plant: Any
    args: dict[str, Any] = field(default_factory=dict)
    k: Physics = field(default_factory=Physics)
    all_readings: list[tuple[str, dict[str, float]]] = field(default_factory=list)

    def m(self, mid: str, signal: str) -> float:
        """The learner's reading of ``signal`` in measurement ``mid``."""
        try:
            return float(self.readings[mid][signal])
        except KeyError:
            raise MissingMeasurement(f"measurement {mid!r} ({signal}) not taken yet") from None

    def dt_s(self, mid1: str, mid2: str) -> float:
        """Plant time between two measurements in s."""
        try:
            return self.times_s[mid2] - self.times_s[mid1]
        except KeyError as exc:
            raise MissingMeasurement(f"measurement {exc.args[0]!r} not taken yet") from None

    def a(self, qid: str) -> pint.Quantity:
        """An earlier answer (the learner's own when carried forward, else the reference)."""
        try:
            return self.answers[qid]
        except KeyError:
            raise MissingMeasurement(f"quantity {qid!r} not answered yet") from None

    def p(self, name: str) -> float:
        """A per-learner parameter or a given value."""
        if name in self.args:
            v = self.args[name]
            return float(self.params[v]) if isinstance(v, str) and v in self.params else float(v)
        return float(self.params[name])

    def series(self, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
        """All readings that hold both ``x`` and ``y`` (in the order taken)."""
        pts = [(r[x], r[y]) for _, r in self.all_readings if x in r and y in r]
        if not pts:
            raise MissingMeasurement(f"no readings of {x} and {y} yet")
        arr = np.asarray(pts, dtype=float)
        return arr[:, 0], arr[:, 1]


Reference = Callable[[RefContext], pint.Quantity]
REFERENCES: dict[str, Reference] = {}


def reference(name: str) -> Callable[[Reference], Reference]:
    """Register a reference function under ``name`` (the name used in exercise files)."""
    def deco(fn: Reference) -> Reference:
        REFERENCES[name] = fn
        return fn
    return deco


def _scn(c: RefContext) -> Any:
    return c.plant.scenario


# ---------------------------------------------------------------------------------------------------- curves
@reference("linfit_intercept")
def linfit_intercept(c: RefContext) -> pint.Quantity:
    """Intercept of the straight line through the learner's (x, y) points (least squares), in ``y_unit``."""
    x, y = c.series(c.args["x"], c.args["y"])
    if len(x) < 2:
        raise MissingMeasurement("a line needs at least two points")
    slope, icpt = np.polyfit(x, y, 1)
    return Q_(float(icpt), c.args.get("y_unit", "V"))


@reference("linfit_slope")
def linfit_slope(c: RefContext) -> pint.Quantity:
    """Slope of the straight line through the learner's (x, y) points, in ``y_unit / x_unit``."""
    x, y = c.series(c.args["x"], c.args["y"])
    if len(x) < 2:
        raise MissingMeasurement("a line needs at least two points")
    slope, _ = np.polyfit(x, y, 1)
    return Q_(float(slope), f"({c.args.get('y_unit', 'V')}) / ({c.args.get('x_unit', 'A')})")


@reference("slope_between")
def slope_between(c: RefContext) -> pint.Quantity:
    """``(y2 - y1) / (x2 - x1)`` between two measurements (a temperature x is a difference: K)."""
    m1, m2, x, y = c.args["m1"], c.args["m2"], c.args["x"], c.args["y"]
    dx = c.m(m2, x) - c.m(m1, x)
    if dx == 0:
        raise MissingMeasurement(f"{x} did not change between {m1} and {m2}")
    return Q_((c.m(m2, y) - c.m(m1, y)) / dx, f"({c.args.get('y_unit', 'V')}) / ({c.args.get('x_unit', 'K')})")


@reference("max_power")
def max_power(c: RefContext) -> pint.Quantity:
    """Largest ``u * i`` among the learner's readings (maximum power point of the measured curve)."""
    i, u = c.series(c.args.get("i", "i_a"), c.args.get("u", "u_v"))
    return Q_(float(np.max(u * i)), "W")


@reference("current_at_max_power")
def current_at_max_power(c: RefContext) -> pint.Quantity:
    """Current of the reading with the largest ``u * i``."""
    i, u = c.series(c.args.get("i", "i_a"), c.args.get("u", "u_v"))
    return Q_(float(i[int(np.argmax(u * i))]), "A")


@reference("sum_of_readings")
def sum_of_readings(c: RefContext) -> pint.Quantity:
    """Sum of readings ``terms`` (``"m1:u_v,m2:u_v"``) in ``unit``."""
    total = sum(c.m(*t.split(":")) for t in str(c.args["terms"]).split(","))
    return Q_(total, c.args.get("unit", ""))


@reference("mean_of_readings")
def mean_of_readings(c: RefContext) -> pint.Quantity:
    """Mean of readings ``terms`` in ``unit`` (the mistake of averaging where one should add)."""
    terms = str(c.args["terms"]).split(",")
    return Q_(sum(c.m(*t.split(":")) for t in terms) / len(terms), c.args.get("unit", ""))


@reference("answer_times_param")
def answer_times_param(c: RefContext) -> pint.Quantity:
    """An earlier answer times a parameter (e.g. series voltage × load current = power)."""
    return (c.a(c.args["answer"]) * Q_(c.p("factor"), c.args.get("factor_unit", ""))).to(c.args.get("unit", ""))


@reference("product_of_answers")
def product_of_answers(c: RefContext) -> pint.Quantity:
    """Product of earlier answers ``of`` (comma separated), e.g. a chain efficiency."""
    out = Q_(1.0, "")
    for q in str(c.args["of"]).split(","):
        out = out * c.a(q)
    return out.to(c.args.get("unit", ""))


@reference("sum_of_answers")
def sum_of_answers(c: RefContext) -> pint.Quantity:
    """Sum of earlier answers ``of`` (the mistake of adding a chain's efficiencies)."""
    qs = [c.a(q) for q in str(c.args["of"]).split(",")]
    out = qs[0]
    for q in qs[1:]:
        out = out + q
    return out


@reference("reading_scaled")
def reading_scaled(c: RefContext) -> pint.Quantity:
    """A reading (``m:signal`` in ``from_unit``) times ``factor``, in ``unit``."""
    mid, sig = str(c.args["reading"]).split(":")
    return (Q_(c.m(mid, sig) * float(c.args.get("factor", 1.0)), c.args.get("from_unit", ""))).to(c.args["unit"])


@reference("difference_of_answers")
def difference_of_answers(c: RefContext) -> pint.Quantity:
    """``a(second) - a(first)``."""
    return c.a(c.args["second"]) - c.a(c.args["first"])


@reference("reading_minus_answer")
def reading_minus_answer(c: RefContext) -> pint.Quantity:
    """A reading (``m:signal`` in ``unit``) minus an earlier answer."""
    mid, sig = str(c.args["reading"]).split(":")
    return (Q_(c.m(mid, sig), c.args["unit"]) - c.a(c.args["answer"])).to(c.args["unit"])


# ---------------------------------------------------------------------------------------------------- Faraday
def _n_cells_total(c: RefContext) -> float:
    e = _scn(c).electrolyser
    return float(e.n_stacks * e.n_cells)


def _mol_h2(c: RefContext, m1: str, m2: str) -> float:
    """Moles of H2 by Faraday's law from the mean stack current between two readings (all cells)."""
    i = 0.5 * (c.m(m1, "el_stack_current_a") + c.m(m2, "el_stack_current_a"))
    return _n_cells_total(c) * i * c.dt_s(m1, m2) / (c.k.z * F_C_PER_MOL)


@reference("faraday_volume")
def faraday_volume(c: RefContext) -> pint.Quantity:
    """Theoretical H2 volume ``V = N I t / (z F) * R T / p`` between measurements ``m1`` and ``m2``.

    Normal conditions (0 °C, 1.01325 bar: normal litres) unless the physics asks for operating conditions (stack
    temperature measured at ``m2``, outlet pressure ``electrolyser.p_out_bar``).
    """
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")
    n = _mol_h2(c, m1, m2)
    if c.k.normal_volume:
        t_k, p_pa = T_ZERO_K, P_NORMAL_BAR * c.k.pa_per_bar
    else:
        t_k = c.m(m2, "el_electrolyte_temperature_c") + c.k.t_zero_k
        p_pa = float(_scn(c).electrolyser.p_out_bar) * c.k.pa_per_bar
    return Q_(n * R_J_PER_MOL_K * t_k / p_pa, "m**3")


@reference("counter_difference")
def counter_difference(c: RefContext) -> pint.Quantity:
    """Difference of a counter ``signal`` between ``m1`` and ``m2`` in ``unit``."""
    m1, m2, s = c.args.get("m1", "start"), c.args.get("m2", "end"), c.args["signal"]
    return Q_(c.m(m2, s) - c.m(m1, s), c.args["unit"])


@reference("faraday_efficiency")
def faraday_efficiency(c: RefContext) -> pint.Quantity:
    """Measured normal volume (counter ``el_h2_total_nl``) over the theoretical volume (answer ``theo``)."""
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")
    v_meas = Q_(c.m(m2, "el_h2_total_nl") - c.m(m1, "el_h2_total_nl"), "NL")
    return (v_meas / c.a(c.args.get("theo", "v_theo"))).to("")


@reference("faraday_efficiency_inverted")
def faraday_efficiency_inverted(c: RefContext) -> pint.Quantity:
    """Theoretical over measured volume (the inverted ratio, a typical mistake)."""
    return (1.0 / faraday_efficiency(c)).to("")


def _hv(c: RefContext) -> float:
    return c.k.hhv_kwh_per_kg if c.args.get("heating") == "hhv" else c.k.lhv_kwh_per_kg


@reference("el_efficiency_counters")
def el_efficiency_counters(c: RefContext) -> pint.Quantity:
    """Energy efficiency of the electrolyser from counters: ``ΔV_N ρ_N HV / ΔE_el`` (``heating``: lhv or hhv)."""
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")
    m_kg = (c.m(m2, "el_h2_total_nl") - c.m(m1, "el_h2_total_nl")) / 1000.0 * RHO_H2_NORMAL_KG_PER_M3
    e = c.m(m2, "el_energy_kwh") - c.m(m1, "el_energy_kwh")
    return Q_(m_kg * _hv(c) / e, "")


@reference("el_efficiency_flow")
def el_efficiency_flow(c: RefContext) -> pint.Quantity:
    """Electrolyser efficiency from instantaneous readings: ``Q_N ρ_N HV / P_el``."""
    mid = c.args.get("m", "run")
    m_kg_h = c.m(mid, "el_h2_flow_nlh") / 1000.0 * RHO_H2_NORMAL_KG_PER_M3
    return Q_(m_kg_h * _hv(c) / c.m(mid, "el_power_kw"), "")


@reference("fc_efficiency_flow")
def fc_efficiency_flow(c: RefContext) -> pint.Quantity:
    """Fuel-cell efficiency from instantaneous readings: ``P_fc / (m_H2 HV)``."""
    mid = c.args.get("m", "run")
    return Q_(c.m(mid, "fc_power_kw") / (c.m(mid, "fc_h2_kg_per_h") * _hv(c)), "")


# ---------------------------------------------------------------------------------------------------- energy
@reference("sec_counters")
def sec_counters(c: RefContext) -> pint.Quantity:
    """Specific energy consumption from counters: ``(ΔE_el [+ ΔE_comp]) / Δm_H2`` in kWh/kg."""
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")
    e = c.m(m2, "el_energy_kwh") - c.m(m1, "el_energy_kwh")
    if c.args.get("with_compressor", False):
        e += c.m(m2, "compressor_energy_kwh") - c.m(m1, "compressor_energy_kwh")
    dm = c.m(m2, "h2_to_tank_kg") - c.m(m1, "h2_to_tank_kg")
    return Q_(e / dm, "kWh/kg")


@reference("stage_efficiency")
def stage_efficiency(c: RefContext) -> pint.Quantity:
    """Efficiency of one stage of the chain from counters between ``m1`` and ``m2`` (``stage``).

    ``electrolyser``: H2 produced × LHV / electrical input; ``storage``: H2 LHV / (H2 LHV + compressor energy);
    ``fuel_cell``: electrical output / H2 used × LHV.
    """
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")

    def d(s: str) -> float:
        return c.m(m2, s) - c.m(m1, s)

    hv = _hv(c)
    stage = c.args["stage"]
    if stage == "electrolyser":
        return Q_(d("h2_to_tank_kg") * hv / d("el_energy_kwh"), "")
    if stage == "storage":
        e_h2 = d("h2_to_tank_kg") * hv
        return Q_(e_h2 / (e_h2 + d("compressor_energy_kwh")), "")
    if stage == "fuel_cell":
        return Q_(d("fc_energy_kwh") / (d("h2_from_tank_kg") * hv), "")
    raise ValueError(f"stage {stage!r} unknown; choose electrolyser, storage, fuel_cell")


@reference("dc_power_stacks")
def dc_power_stacks(c: RefContext) -> pint.Quantity:
    """DC power of all stacks: stack voltage × stack current × number of stacks (in parallel)."""
    mid = c.args.get("m", "run")
    n = float(_scn(c).electrolyser.n_stacks)
    return Q_(c.m(mid, "el_stack_voltage_v") * c.m(mid, "el_stack_current_a") * n, "W")


# ---------------------------------------------------------------------------------------------------- thermo
@reference("nernst_pressure_term")
def nernst_pressure_term(c: RefContext) -> pint.Quantity:
    """Nernst pressure term ``R T / (2F) ln(p_H2/p0 · sqrt(p_O2/p0))`` at the stack temperature read at ``m``.

    Hydrogen at ``electrolyser.p_out_bar``, oxygen at ambient pressure (differential-pressure cell), p0 = 1 bar.
    """
    t_k = c.m(c.args.get("m", "warm"), "el_electrolyte_temperature_c") + c.k.t_zero_k
    p_h2 = float(_scn(c).electrolyser.p_out_bar)
    return Q_(R_J_PER_MOL_K * t_k / (c.k.z * F_C_PER_MOL) * (math.log(p_h2) + 0.5 * math.log(P_NORMAL_BAR)), "V")


def _tank_mass(c: RefContext, p_bar: float, volume_m3: float, t_c: float, ideal: bool = False) -> float:
    """``m = p V / (Z R_s T)``: Z from the reference EOS at the true temperature; T and p as the physics says."""
    from h2quarters.models.storage import R_S_H2_J_PER_KG_K, compressibility

    z = 1.0 if ideal else float(compressibility(p_bar, t_c))
    return p_bar * c.k.pa_per_bar * volume_m3 / (z * R_S_H2_J_PER_KG_K * (t_c + c.k.t_zero_k))


@reference("tank_mass")
def tank_mass(c: RefContext) -> pint.Quantity:
    """Hydrogen in the site tank at the pressure read at ``m`` (real gas, Z from the Leachman EOS)."""
    s = _scn(c).storage
    return Q_(_tank_mass(c, c.m(c.args["m"], "tank_pressure_bar"), s.volume_m3, s.t_c), "kg")


@reference("tank_mass_ideal")
def tank_mass_ideal(c: RefContext) -> pint.Quantity:
    """As :func:`tank_mass` with Z = 1 (the mistake of treating hydrogen as an ideal gas)."""
    s = _scn(c).storage
    return Q_(_tank_mass(c, c.m(c.args["m"], "tank_pressure_bar"), s.volume_m3, s.t_c, ideal=True), "kg")


@reference("leak_rate")
def leak_rate(c: RefContext) -> pint.Quantity:
    """Leak rate of the pressure-decay test: tank mass at ``m1`` minus at ``m2`` over the time between."""
    s = _scn(c).storage
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")
    ideal = bool(c.args.get("ideal", False))
    dm = (_tank_mass(c, c.m(m1, "tank_pressure_bar"), s.volume_m3, s.t_c, ideal)
          - _tank_mass(c, c.m(m2, "tank_pressure_bar"), s.volume_m3, s.t_c, ideal))
    return Q_(dm / (c.dt_s(m1, m2) / 3600.0), "kg/h")


@reference("vessel_mass")
def vessel_mass(c: RefContext) -> pint.Quantity:
    """Hydrogen in a vessel of ``volume_l`` litres at ``p_bar`` and ``t_c`` (real gas from the EOS)."""
    return Q_(_tank_mass(c, c.p("p_bar"), c.p("volume_l") / 1000.0, c.p("t_c"),
                         ideal=bool(c.args.get("ideal", False))), "kg")


@reference("h2_from_counter")
def h2_from_counter(c: RefContext) -> pint.Quantity:
    """Hydrogen mass from the normal-volume counter between ``m1`` and ``m2`` (``ρ_N`` = 0.08988 kg/m³)."""
    m1, m2 = c.args.get("m1", "start"), c.args.get("m2", "end")
    return Q_((c.m(m2, "el_h2_total_nl") - c.m(m1, "el_h2_total_nl")) / 1000.0 * RHO_H2_NORMAL_KG_PER_M3, "kg")


# ---------------------------------------------------------------------------------------------------- planning
def _sec_system_kwh_per_kg(c: RefContext) -> float:
    """System SEC at rated load of the scenario's electrolyser (stack + balance of plant)."""
    from h2quarters.models.electrolyser import ElectrolyserModel

    e = _scn(c).electrolyser
    model = ElectrolyserModel(e)
    return (model.p_rated_kw + e.p_bop_kw) / model.m_rated_kg_per_h


@reference("sec_rated_system")
def sec_rated_system(c: RefContext) -> pint.Quantity:
    """SEC of the scenario's electrolyser at rated load incl. balance of plant in kWh/kg."""
    return Q_(_sec_system_kwh_per_kg(c), "kWh/kg")


@reference("sec_flow")
def sec_flow(c: RefContext) -> pint.Quantity:
    """SEC from instantaneous readings: electrical power over hydrogen mass flow (``Q_N ρ_N``) in kWh/kg."""
    mid = c.args.get("m", "rated")
    m_kg_h = c.m(mid, "el_h2_flow_nlh") / 1000.0 * RHO_H2_NORMAL_KG_PER_M3
    return Q_(c.m(mid, "el_power_kw") / m_kg_h, "kWh/kg")


@reference("sec_flow_per_nm3")
def sec_flow_per_nm3(c: RefContext) -> pint.Quantity:
    """The SEC per normal cubic metre, *labelled* per kg (the mistake of a kWh/Nm³ value given as kWh/kg)."""
    return Q_(float(sec_flow(c).magnitude) * RHO_H2_NORMAL_KG_PER_M3, "kWh/kg")


@reference("el_power_for_demand")
def el_power_for_demand(c: RefContext) -> pint.Quantity:
    """Electrolyser power that makes ``demand_kg_d`` in ``hours_h`` full-load hours a day (SEC answer ``sec``)."""
    sec = c.a(c.args.get("sec", "sec")).to("kWh/kg").magnitude
    return Q_(c.p("demand_kg_d") * sec / c.p("hours_h"), "kW")


@reference("pv_for_demand")
def pv_for_demand(c: RefContext) -> pint.Quantity:
    """PV peak power whose daily yield ``yield_kwh_kwp_d`` covers the electrolyser's daily energy."""
    sec = c.a(c.args.get("sec", "sec")).to("kWh/kg").magnitude
    return Q_(c.p("demand_kg_d") * sec / c.p("yield_kwh_kwp_d"), "kW")


@reference("tank_volume_for_autonomy")
def tank_volume_for_autonomy(c: RefContext) -> pint.Quantity:
    """Tank volume holding ``days`` of demand between the scenario tank's p_min and p_max (real gas)."""
    s = _scn(c).storage
    per_m3 = (_tank_mass(c, s.p_max_bar, 1.0, s.t_c) - _tank_mass(c, s.p_min_bar, 1.0, s.t_c))
    return Q_(c.p("demand_kg_d") * c.p("days") / per_m3, "m**3")


@reference("tank_volume_full")
def tank_volume_full(c: RefContext) -> pint.Quantity:
    """As :func:`tank_volume_for_autonomy` but counting the gas below p_min as usable (a typical mistake)."""
    s = _scn(c).storage
    return Q_(c.p("demand_kg_d") * c.p("days") / _tank_mass(c, s.p_max_bar, 1.0, s.t_c), "m**3")
