"""The KPI catalogue as data: fact sheets, measures, target pictures and transfer dimensions.

Shape follows the Smart Kassel strategy (chapter 9, ``shared/reference/kpis.md``): measures carry KPIs grouped
into content, organisation, participation and data; measures belong to integrated target pictures; the transfer
dimensions (organisation & processes, participation, data) are rated on a five-stage maturity model. Each KPI
has a fact sheet in the style of the ITU-T Y.4903/U4SSC sheets (definition, numerator/denominator, unit,
direction, baseline, target with path, owner, source, update frequency, data quality, references).

The catalogue is loaded through the shared loader :func:`h2quarters.config.load_yaml_model`, so a typo or a
value out of range is reported with its YAML path and line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from h2quarters.config.loader import ConfigError, parse_yaml_model
from h2quarters.config.scenario import Strict

DEFAULT_CATALOGUE = Path(str(resources.files("h2quarters.monitoring"))) / "catalogue.yaml"

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Group = Literal["content", "organisation", "participation", "data"]
Source = Literal["measured", "simulated", "counted", "manual"]
Frequency = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
Aggregation = Literal["sum", "ratio", "last"]

MAX_AGE_DAYS: dict[str, int] = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}
"""Data older than its update frequency (plus nothing) is stale and rated grey."""


class Text(Strict):
    """A text in German and English."""

    de: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        """The text in ``lang`` (German for anything else)."""
        return self.en if lang == "en" else self.de


class Reference(Strict):
    """A KPI framework the KPI corresponds to (U4SSC, ISO 37120/37122, CITYkeys, SDG, ISO 50006 ...)."""

    framework: Literal["U4SSC", "ISO 37120", "ISO 37122", "CITYkeys", "SDG", "ISO 50006", "EU RFNBO", "Smart Kassel",
                       "VDI 2067"]
    code: str = ""
    note: str = ""


class Point(Strict):
    """A value at the end of a year (baseline, milestone of the target path, target)."""

    year: Annotated[int, Field(ge=2000, le=2100)]
    value: float

    @property
    def date(self) -> dt.date:
        """31 December of ``year``: a yearly value is reached by the end of its year."""
        return dt.date(self.year, 12, 31)


class Target(Point):
    """The target value in its year and optional milestones in between (linear between points)."""

    path: list[Point] = Field(default_factory=list)


class EmissionFactor(Strict):
    """An emission factor with its source (for CO2 avoided against the without-project case)."""

    grid_g_per_kwh: Annotated[float, Field(ge=0.0, le=2000.0)]
    grid_source: str = Field(min_length=1)
    gas_g_per_kwh: Annotated[float, Field(ge=0.0, le=1000.0)]
    gas_source: str = Field(min_length=1)


class Kpi(Strict):
    """The fact sheet of one KPI."""

    id: Id
    measure: Id
    group: Group
    name: Text
    definition: Text
    numerator: Text
    denominator: Text = Text(de="—", en="—")
    unit: str = Field(min_length=1, max_length=16)
    better: Literal["higher", "lower"]
    baseline: Point
    target: Target
    owner: str = Field(min_length=1)
    source: Source
    formula: str | None = Field(None, description="measured/simulated KPIs: name in h2quarters.monitoring.energy")
    aggregation: Aggregation = "sum"
    window_days: Annotated[int, Field(ge=1, le=3660)] = 365
    update_frequency: Frequency
    data_quality: Text
    references: list[Reference] = Field(default_factory=list)
    public: bool = False
    weight: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    dimension: Literal["organisation", "participation", "data"] | None = Field(
        None, description="maturity KPIs: the transfer dimension they rate (then not part of the measure score)")
    decimals: Annotated[int, Field(ge=0, le=4)] = 0
    min_value: float | None = None
    max_value: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Kpi":
        if self.target.year < self.baseline.year:
            raise ValueError(f"kpi {self.id}: target.year {self.target.year} is before baseline.year "
                             f"{self.baseline.year}")
        sign = 1.0 if self.better == "higher" else -1.0
        if sign * (self.target.value - self.baseline.value) < 0:
            raise ValueError(f"kpi {self.id}: better is '{self.better}' but target.value {self.target.value} is "
                             f"{'below' if sign > 0 else 'above'} baseline.value {self.baseline.value}")
        years = [p.year for p in self.target.path]
        if years != sorted(set(years)) or any(not self.baseline.year < y < self.target.year for y in years):
            raise ValueError(f"kpi {self.id}: target.path years {years} must rise strictly between the baseline "
                             f"year {self.baseline.year} and the target year {self.target.year}")
        if self.source in ("measured", "simulated") and not self.formula:
            raise ValueError(f"kpi {self.id}: source '{self.source}' needs a formula")
        return self

    @property
    def max_age_days(self) -> int:
        """Data older than this is stale (grey)."""
        return MAX_AGE_DAYS[self.update_frequency]


class Measure(Strict):
    """A measure of the strategy with its target pictures and its own traffic-light bands."""

    id: Id
    name: Text
    target_pictures: list[Id] = Field(min_length=1)
    red_max_pct: Annotated[int, Field(ge=0, le=99)] = 50
    yellow_max_pct: Annotated[int, Field(ge=1, le=99)] = 75
    weight: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0

    @model_validator(mode="after")
    def _bands(self) -> "Measure":
        if not self.yellow_max_pct > self.red_max_pct:
            raise ValueError(f"measure {self.id}: yellow_max_pct ({self.yellow_max_pct}) must be above "
                             f"red_max_pct ({self.red_max_pct})")
        return self


class Named(Strict):
    """A target picture or transfer dimension."""

    id: Id
    name: Text


class Catalogue(Strict):
    """The whole catalogue."""

    version: Annotated[int, Field(ge=1)]
    licence: str = Field(min_length=1)
    licence_url: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    emission_factor: EmissionFactor
    target_pictures: list[Named] = Field(min_length=1)
    dimensions: list[Named] = Field(min_length=1)
    maturity_stages: list[Text] = Field(min_length=5, max_length=5)
    measures: list[Measure] = Field(min_length=1)
    kpis: list[Kpi] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> "Catalogue":
        problems = []
        for kind, items in (("target_pictures", self.target_pictures), ("dimensions", self.dimensions),
                            ("measures", self.measures), ("kpis", self.kpis)):
            ids = [x.id for x in items]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                problems.append(f"{kind}: duplicate id(s) {dup}")
        tps = {t.id for t in self.target_pictures}
        for m in self.measures:
            bad = [t for t in m.target_pictures if t not in tps]
            if bad:
                problems.append(f"measure {m.id}: unknown target picture(s) {bad}; allowed: {sorted(tps)}")
        ms = {m.id for m in self.measures}
        dims = {d.id for d in self.dimensions}
        for k in self.kpis:
            if k.measure not in ms:
                problems.append(f"kpi {k.id}: unknown measure {k.measure!r}; allowed: {sorted(ms)}")
            if k.dimension is not None and k.dimension not in dims:
                problems.append(f"kpi {k.id}: unknown dimension {k.dimension!r}; allowed: {sorted(dims)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ------------------------------------------------------------------ look-ups
    def kpi(self, kpi_id: str) -> Kpi:
        """KPI by id (KeyError naming the known ids)."""
        for k in self.kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(f"kpi {kpi_id!r} unknown; known: {', '.join(k.id for k in self.kpis)}")

    def measure(self, measure_id: str) -> Measure:
        """Measure by id."""
        for m in self.measures:
            if m.id == measure_id:
                return m
        raise KeyError(f"measure {measure_id!r} unknown; known: {', '.join(m.id for m in self.measures)}")

    def target_picture(self, tp_id: str) -> Named:
        """Target picture by id."""
        for t in self.target_pictures:
            if t.id == tp_id:
                return t
        raise KeyError(f"target picture {tp_id!r} unknown; known: {', '.join(t.id for t in self.target_pictures)}")

    def kpis_of(self, measure_id: str) -> list[Kpi]:
        """KPIs of a measure in catalogue order."""
        return [k for k in self.kpis if k.measure == measure_id]

    def measures_of(self, tp_id: str) -> list[Measure]:
        """Measures of a target picture."""
        return [m for m in self.measures if tp_id in m.target_pictures]


def parse_catalogue(text: str, source: str = "<catalogue>") -> Catalogue:
    """Validate catalogue YAML text (ConfigError lists every problem with its path and line)."""
    return parse_yaml_model(text, Catalogue, source=source)


def load_catalogue(path: str | Path | None = None) -> tuple[Catalogue, str]:
    """Load a catalogue file (default: the packaged ``catalogue.yaml``) through the shared loader.

    Returns
    -------
    (Catalogue, str)
        The validated catalogue and the file's text (stored as a version in the store).
    """
    from h2quarters.config import load_yaml_model

    p = Path(path) if path is not None else DEFAULT_CATALOGUE
    cat = load_yaml_model(p, Catalogue)
    return cat, p.read_text(encoding="utf-8")


def text_sha256(text: str) -> str:
    """Hash identifying a catalogue version."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = ["Catalogue", "ConfigError", "DEFAULT_CATALOGUE", "Kpi", "MAX_AGE_DAYS", "Measure", "Named", "Point",
           "Target", "Text", "load_catalogue", "parse_catalogue", "text_sha256"]
