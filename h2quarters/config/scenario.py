"""Pydantic models of a site scenario.

Every physical quantity carries its unit in the field name (``p_kw``, ``e_kwh``, ``m_kg``, ``p_bar``,
``t_c``). Models forbid unknown keys so that a typo or a wrong unit suffix (``p_rated_mw``) is reported
instead of silently ignored. Defaults are generic; the numbers of a real site live in its scenario YAML,
each with a comment naming its source.

This module imports nothing heavy (no pandas, pvlib, pyomo): the configuration is the one thing every
other part of h2quarters loads.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]


class Strict(BaseModel):
    """Base for all configuration models: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class SeriesRef(Strict):
    """A time series read from a CSV file (first column: timestamps, ISO 8601).

    Relative paths are resolved against the scenario directory.
    """

    csv: Path
    column: str
    unit_note: str = ""


class Location(Strict):
    """Geographic location of the site."""

    name: str
    latitude_deg: Annotated[float, Field(ge=-90.0, le=90.0)]
    longitude_deg: Annotated[float, Field(ge=-180.0, le=180.0)]
    altitude_m: Annotated[float, Field(ge=-500.0, le=9000.0)] = 0.0
    tz: str = "Europe/Berlin"


class Weather(Strict):
    """Where the weather comes from.

    ``try_kassel`` reads the DWD test reference year TRY2010 region 07 (Kassel) shipped with demandlib;
    ``epw`` and ``pvgis_tmy`` read files through ``pvlib.iotools``.
    """

    source: Literal["try_kassel", "epw", "pvgis_tmy"] = "try_kassel"
    path: Path | None = None

    @model_validator(mode="after")
    def _path_needed(self) -> "Weather":
        if self.source != "try_kassel" and self.path is None:
            raise ValueError(f"weather.source '{self.source}' needs weather.path (a file)")
        return self


class PVArray(Strict):
    """One PV array (one orientation, one inverter group)."""

    name: str
    p_kwp: Annotated[float, Field(gt=0.0, le=100_000.0)]
    tilt_deg: Annotated[float, Field(ge=0.0, le=90.0)]
    azimuth_deg: Annotated[float, Field(ge=0.0, le=360.0)] = 180.0
    losses_pct: Annotated[float, Field(ge=0.0, le=50.0)] = 14.0
    gamma_pdc_per_c: Annotated[float, Field(ge=-0.01, le=0.0)] = -0.004
    inverter_eta: Annotated[float, Field(gt=0.5, le=1.0)] = 0.96
    dc_ac_ratio: Annotated[float, Field(ge=0.5, le=2.0)] = 1.1


class UllebergParams(Strict):
    """Ulleberg (2003) empirical cell parameters (alkaline / AEM form).

    ``U = U_rev + (r1 + r2 T)/A I + s log10((t1 + t2/T + t3/T^2)/A I + 1)`` with T in °C and A in m²,
    ``s = s1 + s2 T + s3 T^2``; Faraday ``eta_F = (I/A)^2 / (f1 + (I/A)^2) f2`` (I/A in mA/cm² in f1).
    """

    r1_ohm_m2: float = 7.331e-5
    r2_ohm_m2_per_c: float = -1.107e-7
    s1_v: float = 0.1586
    s2_v_per_c: float = 1.378e-3
    s3_v_per_c2: float = -1.606e-5
    t1_m2_per_a: float = 1.599e-2  # the reference note has 1.559e-2, a typo (Ulleberg 2003 and its implementations: 1.599e-2)
    t2_m2_c_per_a: float = -1.302
    t3_m2_c2_per_a: float = 421.3
    f1_ma2_per_cm4: PositiveFloat = 250.0
    f2: Annotated[float, Field(gt=0.0, le=1.0)] = 0.96


class PEMParams(Strict):
    """PEM cell parameters (Butler-Volmer activation + ohmic membrane; NREL ``electrolyzer`` form)."""

    alpha_a: PositiveFloat = 2.0
    alpha_c: PositiveFloat = 0.5
    i0_a_a_per_cm2: PositiveFloat = 2e-7
    i0_c_a_per_cm2: PositiveFloat = 2e-3
    membrane_thickness_cm: PositiveFloat = 0.03
    r_contact_ohm_cm2: NonNegFloat = 0.05
    i_lim_a_per_cm2: PositiveFloat = 3.0
    concentration: bool = False
    eta_faraday: Annotated[float, Field(gt=0.5, le=1.0)] = 0.996


class ElectrolyserThermal(Strict):
    """Lumped thermal model ``C dT/dt = Q_gen - (T - T_amb)/R - Q_cool``."""

    c_th_kj_per_k: PositiveFloat = 25.0
    r_th_k_per_kw: PositiveFloat = 80.0
    t_ambient_c: Annotated[float, Field(ge=-30.0, le=50.0)] = 20.0
    t_start_c: Annotated[float, Field(ge=-30.0, le=100.0)] = 20.0
    t_max_c: Annotated[float, Field(ge=20.0, le=120.0)] = 80.0
    p_cool_max_kw: NonNegFloat = 1.5


class Degradation(Strict):
    """Cell-voltage degradation (added to every cell's voltage)."""

    uv_per_h: NonNegFloat = 0.0
    uv_per_start: NonNegFloat = 0.0


class Electrolyser(Strict):
    """Electrolyser plant: stacks of cells plus balance of plant (BoP)."""

    technology: Literal["PEM", "AEM", "alkaline"]
    n_stacks: Annotated[int, Field(ge=1, le=1000)] = 1
    n_cells: Annotated[int, Field(ge=1, le=1000)]
    cell_area_m2: Annotated[float, Field(gt=0.0, le=10.0)]
    ulleberg: UllebergParams | None = None
    pem: PEMParams | None = None
    t_op_c: Annotated[float, Field(ge=10.0, le=120.0)] = 60.0
    p_rated_kw: Annotated[float, Field(gt=0.0, le=1_000_000.0)]
    min_load_frac: Fraction = 0.3
    p_standby_kw: NonNegFloat = 0.0
    p_bop_kw: NonNegFloat = 0.0
    startup_time_min: Annotated[float, Field(ge=0.0, le=24 * 60.0)] = 0.0
    ramp_frac_per_min: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    p_out_bar: Annotated[float, Field(ge=1.0, le=1000.0)] = 35.0
    thermal: ElectrolyserThermal = ElectrolyserThermal()
    degradation: Degradation = Degradation()
    n_segments: Annotated[int, Field(ge=1, le=50)] = 4

    @model_validator(mode="after")
    def _params_for_technology(self) -> "Electrolyser":
        if self.technology == "PEM":
            if self.pem is None:
                self.pem = PEMParams()
            if self.ulleberg is not None:
                raise ValueError("technology PEM takes 'pem' parameters, not 'ulleberg'")
        else:
            if self.ulleberg is None:
                self.ulleberg = UllebergParams()
            if self.pem is not None:
                raise ValueError(f"technology {self.technology} takes 'ulleberg' parameters, not 'pem'")
        return self

    @property
    def p_min_kw(self) -> float:
        """Minimum stable stack power in kW."""
        return self.min_load_frac * self.p_rated_kw


class Compressor(Strict):
    """Multi-stage compressor between the electrolyser outlet and the tank."""

    n_stages: Annotated[int, Field(ge=1, le=6)] = 2
    eta_isentropic: Annotated[float, Field(gt=0.1, le=1.0)] = 0.75
    eta_motor: Annotated[float, Field(gt=0.1, le=1.0)] = 0.9
    t_in_c: Annotated[float, Field(ge=-20.0, le=80.0)] = 25.0
    p_max_kw: Annotated[float, Field(gt=0.0)] = 10.0


class HydrogenStorage(Strict):
    """Pressure vessel(s). Without a compressor the tank is a buffer filled at the electrolyser's pressure."""

    volume_m3: Annotated[float, Field(gt=0.0, le=100_000.0)]
    p_min_bar: Annotated[float, Field(ge=1.0, le=1000.0)]
    p_max_bar: Annotated[float, Field(ge=1.0, le=1000.0)]
    t_c: Annotated[float, Field(ge=-40.0, le=85.0)] = 15.0
    p_init_bar: Annotated[float, Field(ge=1.0, le=1000.0)] | None = None
    compressor: Compressor | None = None

    @model_validator(mode="after")
    def _pressures(self) -> "HydrogenStorage":
        if self.p_min_bar >= self.p_max_bar:
            raise ValueError(
                f"p_min_bar ({self.p_min_bar}) must be below p_max_bar ({self.p_max_bar})"
            )
        if self.p_init_bar is not None and not (self.p_min_bar <= self.p_init_bar <= self.p_max_bar):
            raise ValueError(
                f"p_init_bar ({self.p_init_bar}) must lie in [p_min_bar, p_max_bar] = "
                f"[{self.p_min_bar}, {self.p_max_bar}]"
            )
        return self


class FuelCell(Strict):
    """Fuel cell with a part-load efficiency curve (electrical, LHV) and recoverable heat."""

    p_rated_kw: Annotated[float, Field(gt=0.0)]
    min_load_frac: Fraction = 0.1
    load_frac_points: list[Fraction] = [0.1, 0.25, 0.5, 0.75, 1.0]
    eta_el_points: list[Annotated[float, Field(gt=0.0, lt=0.83)]] = [0.50, 0.53, 0.52, 0.50, 0.47]
    heat_frac_of_h2: Fraction = 0.35
    m_reserve_kg: NonNegFloat = 0.0

    @model_validator(mode="after")
    def _curve(self) -> "FuelCell":
        if len(self.load_frac_points) != len(self.eta_el_points) or len(self.load_frac_points) < 2:
            raise ValueError("load_frac_points and eta_el_points need the same length (at least 2)")
        if any(b <= a for a, b in zip(self.load_frac_points, self.load_frac_points[1:])):
            raise ValueError("load_frac_points must increase strictly")
        for frac, eta in zip(self.load_frac_points, self.eta_el_points):
            if eta + self.heat_frac_of_h2 > 1.0:
                raise ValueError(
                    f"at load {frac}: electrical {eta} + heat {self.heat_frac_of_h2} exceed 1 (energy)"
                )
        return self


class Battery(Strict):
    """Stationary battery."""

    e_kwh: Annotated[float, Field(gt=0.0)]
    p_charge_kw: PositiveFloat
    p_discharge_kw: PositiveFloat
    eta_charge: Annotated[float, Field(gt=0.5, le=1.0)] = 0.95
    eta_discharge: Annotated[float, Field(gt=0.5, le=1.0)] = 0.95
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.95
    soc_init: Fraction = 0.5
    self_discharge_per_h: Annotated[float, Field(ge=0.0, le=0.01)] = 0.0

    @model_validator(mode="after")
    def _soc(self) -> "Battery":
        if not self.soc_min < self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) must be below soc_max ({self.soc_max})")
        if not self.soc_min <= self.soc_init <= self.soc_max:
            raise ValueError(
                f"soc_init ({self.soc_init}) must lie in [soc_min, soc_max] = [{self.soc_min}, {self.soc_max}]"
            )
        return self


ElecProfile = Literal["H0", "G0", "G1", "G2", "G3", "G4", "G5", "G6", "L0", "L1", "L2",
                      "H25", "G25", "L25", "P25", "S25"]
HeatProfile = Literal["EFH", "MFH", "GKO", "GHA", "GMK", "GBD", "GBH", "GWA", "GGA", "GBA", "GGB",
                      "GPD", "GMF", "GHD"]


class ElectricalLoad(Strict):
    """Electrical load from a BDEW standard load profile scaled to an annual energy, or a CSV series."""

    name: str
    profile: ElecProfile | None = None
    e_kwh_per_a: Annotated[float, Field(gt=0.0)] | None = None
    series: SeriesRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "ElectricalLoad":
        if (self.profile is None) == (self.series is None):
            raise ValueError("give either 'profile' (with e_kwh_per_a) or 'series', not both or neither")
        if self.profile is not None and self.e_kwh_per_a is None:
            raise ValueError(f"profile {self.profile} needs e_kwh_per_a (annual energy in kWh)")
        return self


class HeatLoad(Strict):
    """Space-heating and hot-water load from the BDEW heat profile (temperature driven)."""

    name: str
    shlp_type: HeatProfile
    e_kwh_per_a: Annotated[float, Field(gt=0.0)]
    building_class: Annotated[int, Field(ge=0, le=11)] = 0
    wind_class: Literal[0, 1] = 0
    hot_water: bool = True


class HydrogenDemand(Strict):
    """Hydrogen taken from the tank (e.g. a vehicle or the quarter), as a weekly schedule or a series."""

    m_kg_per_day: NonNegFloat = 0.0
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = [0, 1, 2, 3, 4]
    hour_start: Annotated[int, Field(ge=0, le=23)] = 7
    hour_end: Annotated[int, Field(ge=1, le=24)] = 16
    series: SeriesRef | None = None

    @model_validator(mode="after")
    def _hours(self) -> "HydrogenDemand":
        if self.hour_end <= self.hour_start:
            raise ValueError(f"hour_end ({self.hour_end}) must be after hour_start ({self.hour_start})")
        return self


class Tariffs(Strict):
    """Energy prices and emission factors."""

    import_eur_per_kwh: Annotated[float, Field(ge=-1.0, le=5.0)] | SeriesRef = 0.30
    feed_in_eur_per_kwh: Annotated[float, Field(ge=-1.0, le=5.0)] = 0.08
    co2_g_per_kwh: Annotated[float, Field(ge=0.0, le=2000.0)] | SeriesRef = 380.0
    gas_eur_per_kwh: Annotated[float, Field(ge=0.0, le=5.0)] = 0.10
    co2_gas_g_per_kwh: Annotated[float, Field(ge=0.0, le=1000.0)] = 201.0
    p_import_max_kw: PositiveFloat | None = None
    p_export_max_kw: PositiveFloat | None = None


class ComponentCost(Strict):
    """Investment and operating cost of one component (VDI 2067 annuity method)."""

    capex_eur: NonNegFloat
    lifetime_a: Annotated[float, Field(gt=0.0, le=100.0)]
    opex_frac_per_a: Annotated[float, Field(ge=0.0, le=0.5)] = 0.02


class Costs(Strict):
    """Costs for LCOH; absent components cost nothing."""

    discount_rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    electrolyser: ComponentCost | None = None
    storage: ComponentCost | None = None
    compressor: ComponentCost | None = None
    water_eur_per_kg_h2: NonNegFloat = 0.0


YEAR_MIN: int = 1990
"""Earliest calendar year a typical weather year is laid on (the TRY's reference period starts 1988)."""
YEAR_MAX: int = 2100
"""Latest calendar year (holiday and daylight-saving rules are known up to there)."""


class Simulation(Strict):
    """Defaults for ``h2q simulate`` (the command line's ``--year/--step/--dispatch/--start/--days``).

    ``start``/``days`` select a shorter period; without them the whole calendar ``year`` is simulated.
    """

    year: Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)] = 2025
    step: Literal["15min", "1h"] = "1h"
    dispatch: Literal["rule", "mpc"] = "rule"
    start: date | None = None
    days: Annotated[int, Field(ge=1, le=3660)] | None = None

    @field_validator("start")
    @classmethod
    def _start_in_range(cls, value: date | None) -> date | None:
        if value is not None and not YEAR_MIN <= value.year <= YEAR_MAX:
            raise ValueError(f"value '{value.isoformat()}' out of range: the year must lie in [{YEAR_MIN}, {YEAR_MAX}]")
        return value


class Scenario(Strict):
    """A whole site: where it is, what it has, what it needs and what energy costs."""

    name: str
    description: str = ""
    location: Location
    weather: Weather = Weather()
    pv: list[PVArray] = []
    electrolyser: Electrolyser
    storage: HydrogenStorage
    fuel_cell: FuelCell | None = None
    battery: Battery | None = None
    electrical_loads: list[ElectricalLoad] = []
    heat_loads: list[HeatLoad] = []
    hydrogen_demand: HydrogenDemand = HydrogenDemand()
    tariffs: Tariffs = Tariffs()
    costs: Costs = Costs()
    simulation: Simulation = Simulation()
    # Directory the scenario was loaded from; relative file references resolve against it.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _tank_vs_electrolyser(self) -> "Scenario":
        if self.storage.compressor is None and self.storage.p_max_bar > self.electrolyser.p_out_bar:
            raise ValueError(
                f"storage.p_max_bar ({self.storage.p_max_bar}) exceeds electrolyser.p_out_bar "
                f"({self.electrolyser.p_out_bar}) but storage has no compressor"
            )
        return self

    def resolve(self, path: Path) -> Path:
        """Resolve a path from the scenario file against the scenario directory."""
        return path if path.is_absolute() else (self.base_dir / path)
