"""Pydantic models of a quarter (Wesertor): buildings on a low-voltage grid, the school's hydrogen system,
the hydrogen supply chain to the Stadtteilzentrum and its fuel-cell CHP with backup.

The hydrogen equipment itself (school PV, electrolyser, tank, compressor, the Stadtteilzentrum's fuel cell,
tariffs and costs) is an ordinary site :class:`~h2quarters.config.scenario.Scenario` in its own YAML file,
referenced by ``hydrogen_site``; this module adds what only a quarter has. Units are in the field names;
unknown keys are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from h2quarters.config.loader import load_yaml_model
from h2quarters.config.scenario import (
    ComponentCost,
    ElectricalLoad,
    HeatLoad,
    Location,
    Strict,
    Weather,
)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
YEAR_RANGE = (1990, 2100)  # calendar years the TRY weather and the BDEW profiles are laid on


class Building(Strict):
    """One named building connected to a bus of the low-voltage grid.

    Attributes
    ----------
    role : {"school", "stz", "other"}
        ``school`` hosts the electrolyser/tank/compressor and the hydrogen site's PV; ``stz`` hosts the fuel-cell
        CHP and its backup; ``other`` is a plain consumer.
    bus : str
        Name of the grid bus (``net.bus.name``) the building is connected to.
    cos_phi : float
        Power factor of the building's consumption (inductive).
    """

    name: str
    role: Literal["school", "stz", "other"] = "other"
    bus: str
    electrical_loads: list[ElectricalLoad] = []  # noqa: RUF012 (pydantic copies defaults)
    heat_loads: list[HeatLoad] = []  # noqa: RUF012
    pv_kwp: NonNegFloat = 0.0
    cos_phi: Annotated[float, Field(gt=0.5, le=1.0)] = 0.95


class ResidentialType(Strict):
    """A residential block type: households with the BDEW 2025 household profile, MFH heat, roof PV.

    ``share`` weights how often the type is placed on the grid's connection points.
    """

    name: str
    share: PositiveFloat
    households: Annotated[int, Field(ge=1, le=200)]
    e_kwh_per_household_a: Annotated[float, Field(gt=0.0, le=20_000.0)]
    heated_area_m2: Annotated[float, Field(gt=0.0, le=50_000.0)]
    heat_kwh_per_m2_a: Annotated[float, Field(gt=0.0, le=500.0)]
    building_class: Annotated[int, Field(ge=0, le=11)] = 0
    roof_pv_kwp: NonNegFloat = 0.0
    pv_adoption: Fraction = 0.0
    cos_phi: Annotated[float, Field(gt=0.5, le=1.0)] = 0.97


class Residential(Strict):
    """Residential blocks: one block on every connection point of the source grid not taken by a named building."""

    placement: Literal["grid_connections"] = "grid_connections"
    load_profile: Literal["simbench", "bdew_h25"] = "simbench"  # each block its connection's SimBench profile
    types: list[ResidentialType]
    pv_tilt_deg: Annotated[float, Field(ge=0.0, le=90.0)] = 30.0
    pv_azimuth_deg: Annotated[float, Field(ge=0.0, le=360.0)] = 180.0

    @model_validator(mode="after")
    def _types(self) -> Residential:
        if not self.types:
            raise ValueError("residential.types needs at least one block type")
        return self


class Grid(Strict):
    """The low-voltage grid: a SimBench code (topology, lines, transformer) whose loads are replaced."""

    source: Literal["simbench"] = "simbench"
    code: str = "1-LV-urban6--0-sw"
    v_min_pu: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.90
    v_max_pu: Annotated[float, Field(gt=1.0, lt=1.5)] = 1.10
    loading_max_pct: Annotated[float, Field(gt=0.0, le=200.0)] = 100.0
    ext_grid_vm_pu: Annotated[float, Field(gt=0.8, lt=1.2)] | None = None


class Trailer(Strict):
    """Road delivery of hydrogen bundles from the school to the Stadtteilzentrum."""

    distance_km: PositiveFloat
    payload_kg: PositiveFloat
    stz_buffer_kg: PositiveFloat
    vehicle_kwh_per_km: PositiveFloat
    vehicle_co2_g_per_kwh: NonNegFloat = 0.0
    handling_h_per_trip: NonNegFloat
    labour_eur_per_h: NonNegFloat
    vehicle_eur_per_km: NonNegFloat
    bundle_cost: ComponentCost | None = None
    work_days: list[Annotated[int, Field(ge=0, le=6)]] = [0, 1, 2, 3, 4]  # noqa: RUF012 (Mon=0 … Sun=6)
    work_start_h: Annotated[float, Field(ge=0.0, lt=24.0)] = 7.0
    work_end_h: Annotated[float, Field(gt=0.0, le=24.0)] = 16.0
    lead_time_h: Annotated[float, Field(ge=0.0, le=336.0)] = 24.0
    forecast_days: Annotated[float, Field(gt=0.0, le=28.0)] = 7.0
    # who orders the bundles in the dispatch: "policy" = a daily-review (R, s, Q) rule on the plan's forecast
    # (whole bundles, working hours, lead time); "optimiser" = delivery binaries in every window's MILP (before)
    ordering: Literal["policy", "optimiser"] = "policy"

    @model_validator(mode="after")
    def _buffer(self) -> Trailer:
        if self.payload_kg > self.stz_buffer_kg:
            raise ValueError(f"trailer.payload_kg ({self.payload_kg}) exceeds stz_buffer_kg ({self.stz_buffer_kg})")
        if self.work_end_h <= self.work_start_h:
            raise ValueError(f"trailer.work_end_h ({self.work_end_h}) must be after work_start_h "
                             f"({self.work_start_h})")
        if not self.work_days:
            raise ValueError("trailer.work_days needs at least one day (0 = Monday … 6 = Sunday)")
        return self


class Pipeline(Strict):
    """A buried hydrogen pipe from the school to the Stadtteilzentrum (pandapipes, fluid ``hydrogen``)."""

    length_m: PositiveFloat
    diameter_mm: Annotated[float, Field(gt=1.0, le=500.0)]
    roughness_mm: Annotated[float, Field(gt=0.0, le=5.0)] = 0.05
    p_in_bar: Annotated[float, Field(gt=1.0, le=100.0)]
    t_c: Annotated[float, Field(ge=-20.0, le=40.0)] = 10.0
    p_out_min_bar: Annotated[float, Field(gt=0.0, le=100.0)] = 1.5
    cost: ComponentCost | None = None


class Supply(Strict):
    """Which hydrogen supply chain is used; both options may be configured, ``mode`` picks one."""

    mode: Literal["trailer", "pipeline"] = "trailer"
    trailer: Trailer | None = None
    pipeline: Pipeline | None = None

    @model_validator(mode="after")
    def _mode_configured(self) -> Supply:
        if getattr(self, self.mode) is None:
            raise ValueError(f"supply.mode is '{self.mode}' but supply.{self.mode} is not configured")
        return self


class HeatPump(Strict):
    """Air-to-water heat pump: COP = ``eta_carnot`` × Carnot COP at the supply temperature, within limits."""

    eta_carnot: Annotated[float, Field(gt=0.1, le=0.8)] = 0.45
    t_supply_c: Annotated[float, Field(ge=25.0, le=80.0)] = 45.0
    cop_min: Annotated[float, Field(ge=1.0, le=3.0)] = 1.5
    cop_max: Annotated[float, Field(ge=2.0, le=10.0)] = 6.0


class Backup(Strict):
    """Backup at the Stadtteilzentrum: the grid covers electricity; heat comes from a boiler or a heat pump."""

    heat: Literal["heat_pump", "gas_boiler"] = "heat_pump"
    heat_pump: HeatPump = HeatPump()
    boiler_eta: Annotated[float, Field(gt=0.3, le=1.1)] = 0.92


class Baseline(Strict):
    """The reference the hydrogen system is compared with, and where its emission factors come from.

    The school lab wing and the Stadtteilzentrum take grid electricity; the Stadtteilzentrum is heated as the
    scenario documents (``stz_heat``); residential blocks heat with gas boilers (``boiler_eta``).
    """

    boiler_eta: Annotated[float, Field(gt=0.3, le=1.1)] = 0.92
    stz_heat: Literal["heat_pump", "gas_boiler"] = "heat_pump"
    grid_co2_source: str = "hydrogen site tariffs.co2_g_per_kwh"
    gas_co2_source: str = "hydrogen site tariffs.co2_gas_g_per_kwh"


class Dispatch(Strict):
    """How the hydrogen system is dispatched."""

    method: Literal["optimiser", "site_mpc", "rule"] = "optimiser"  # site_mpc: one-meter site MPC (before v2)
    window_h: Annotated[int, Field(ge=2, le=168)] = 48  # the optimiser's MPC horizon limit
    commit_h: Annotated[int, Field(ge=1, le=96)] = 24  # re-plan interval (≤ 96 steps in the optimiser)
    mip_rel_gap: Annotated[float, Field(ge=0.0, le=1.0)] = 1e-3
    mip_abs_gap_eur: Annotated[float, Field(ge=0.0, le=100.0)] = 0.05  # or within this many EUR per window
    max_nodes: Annotated[int, Field(ge=1, le=1_000_000)] = 500  # branch-and-bound work limit of a warm re-plan
    warm_start: bool = True  # re-plan on the live HiGHS model from the previous plan (False: cold, as before)
    # solve each window's LP relaxation first and round its on/off decisions; a rounded plan within the gap of
    # the LP bound is taken without a MILP run (needs warm_start)
    lp_first: bool = True

    @model_validator(mode="after")
    def _window(self) -> Dispatch:
        if self.commit_h > self.window_h:
            raise ValueError(f"dispatch.commit_h ({self.commit_h}) must not exceed window_h ({self.window_h})")
        return self


class QuarterCosts(Strict):
    """Costs of the quarter parts that the hydrogen site does not hold."""

    fuel_cell: ComponentCost | None = None
    heat_pump: ComponentCost | None = None


class Quarter(Strict):
    """A whole quarter: place, weather, hydrogen site, buildings, grid, supply chain, backup, dispatch."""

    name: str
    description: str = ""
    location: Location
    weather: Weather = Weather()
    hydrogen_site: Path
    buildings: list[Building]
    residential: Residential
    grid: Grid = Grid()
    supply: Supply
    backup: Backup = Backup()
    baseline: Baseline = Baseline()
    dispatch: Dispatch = Dispatch()
    metering: Literal["per_building", "shared"] = "per_building"
    costs: QuarterCosts = QuarterCosts()
    year: Annotated[int, Field(ge=YEAR_RANGE[0], le=YEAR_RANGE[1])] = 2025
    step: Literal["1h", "15min"] = "1h"
    base_dir: Path = Field(default=Path("."), exclude=True)
    source_file: Path | None = Field(default=None, exclude=True)  # for YAML line numbers in later checks

    @model_validator(mode="after")
    def _roles(self) -> Quarter:
        for role in ("school", "stz"):
            n = sum(b.role == role for b in self.buildings)
            if n != 1:
                raise ValueError(f"buildings: exactly one building with role '{role}' is needed, found {n}")
        names = [b.name for b in self.buildings]
        if len(set(names)) != len(names):
            raise ValueError(f"buildings: names must be unique, got {names}")
        return self

    def building(self, role: str) -> Building:
        """The building with ``role`` ('school' or 'stz')."""
        return next(b for b in self.buildings if b.role == role)

    def resolve(self, path: Path) -> Path:
        """Resolve a path from the quarter file against the quarter directory."""
        return path if path.is_absolute() else (self.base_dir / path)


def load_quarter(path: str | Path) -> Quarter:
    """Load a quarter from a YAML file or a directory holding ``quarter.yaml``.

    Raises
    ------
    h2quarters.config.ConfigError
        A ValueError listing every problem with its YAML path, line, value and what is allowed.
    """
    p = Path(path)
    file = p / "quarter.yaml" if p.is_dir() else p
    q = load_yaml_model(p, Quarter, default_file="quarter.yaml")
    q.base_dir = file.parent.resolve()
    q.source_file = file.resolve()
    return q
