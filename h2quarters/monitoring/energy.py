"""Energy and hydrogen KPIs from *summed* quantities of a period.

Every ratio is computed from energies summed over the whole period (ISO 50006 EnPI as a ratio of totals), never
by averaging the percentages of sub-periods: a year's self-sufficiency is ``Σ(consumption − import) / Σ
consumption`` over the year, not the mean of twelve monthly rates (the error Home Assistant's yearly low-carbon
share made). :class:`EnergySums` therefore adds up, and the formulas take one sum.

Sums come from per-minute means of the pilot's signals (``measurements_1min`` / raw): ∫P dt = Σ mean_kW · 1/60 h.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from h2quarters.kpi import h2_kg_from_normal_m3

ENERGY_SIGNALS: dict[str, str] = {
    "pv_power_kw": "pv_kwh",
    "load_power_kw": "load_kwh",
    "grid_import_kw": "grid_import_kwh",
    "grid_export_kw": "grid_export_kwh",
    "el_power_kw": "el_kwh",
    "compressor_power_kw": "compressor_kwh",
    "fc_power_kw": "fc_kwh",
    "fc_heat_kw": "fc_heat_kwh",
    "battery_power_kw": "battery_charge_kwh",
    "el_h2_flow_nlh": "h2_kg",
    "fc_h2_kg_per_h": "fc_h2_kg",
    "el_health": "el_normal_minutes",
}
"""Signals the aggregates keep (name → the :class:`EnergySums` field they feed)."""


@dataclass(frozen=True)
class EnergySums:
    """Summed energies (kWh), masses (kg) and minute counts of one period; ``a + b`` is the joint period."""

    pv_kwh: float = 0.0
    load_kwh: float = 0.0
    grid_import_kwh: float = 0.0
    grid_export_kwh: float = 0.0
    el_kwh: float = 0.0
    compressor_kwh: float = 0.0
    fc_kwh: float = 0.0
    fc_heat_kwh: float = 0.0
    battery_charge_kwh: float = 0.0
    battery_discharge_kwh: float = 0.0
    h2_kg: float = 0.0
    fc_h2_kg: float = 0.0
    el_minutes: int = 0
    """Minutes with an electrolyser health reading."""
    el_normal_minutes: int = 0
    """Minutes in which the health stayed NORMAL (0) throughout."""
    pv_minutes: int = 0
    """Minutes with a valid PV reading (data completeness)."""
    window_minutes: int = 0
    """Minutes in the period (denominator of data completeness)."""

    def __add__(self, other: "EnergySums") -> "EnergySums":
        return EnergySums(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                             for f in dataclasses.fields(self)})

    @property
    def consumption_kwh(self) -> float:
        """Load + electrolyser + compressor + battery charging."""
        return self.load_kwh + self.el_kwh + self.compressor_kwh + self.battery_charge_kwh

    def as_dict(self) -> dict[str, float]:
        """JSON-ready dict (with consumption)."""
        return {**dataclasses.asdict(self), "consumption_kwh": self.consumption_kwh}


def sums_from_signals(per_signal: dict[str, tuple[float, float, int, int]], window_minutes: int) -> EnergySums:
    """Build :class:`EnergySums` from per-signal aggregates.

    Parameters
    ----------
    per_signal : dict
        signal name → ``(Σ minute means, Σ positive minute means, minutes with data, minutes with max != 0)``.
    window_minutes : int
        Minutes in the period.
    """
    def s(name: str) -> tuple[float, float, int, int]:
        return per_signal.get(name, (0.0, 0.0, 0, 0))

    kw = {field: s(sig)[0] / 60.0 for sig, field in ENERGY_SIGNALS.items() if sig.endswith("_kw")}
    bat_sum, bat_pos, _, _ = s("battery_power_kw")
    h2_nl = s("el_h2_flow_nlh")[0] / 60.0
    health = s("el_health")
    kw.update(battery_charge_kwh=bat_pos / 60.0, battery_discharge_kwh=(bat_pos - bat_sum) / 60.0,
              h2_kg=float(h2_kg_from_normal_m3(max(h2_nl, 0.0) / 1000.0)),
              fc_h2_kg=s("fc_h2_kg_per_h")[0] / 60.0,
              el_minutes=health[2], el_normal_minutes=health[2] - health[3],
              pv_minutes=s("pv_power_kw")[2], window_minutes=window_minutes)
    return EnergySums(**kw)


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0.0 else num / den


def self_sufficiency_pct(e: EnergySums) -> float | None:
    """Consumption covered on site / consumption, in % (from summed energies)."""
    r = _ratio(e.consumption_kwh - e.grid_import_kwh, e.consumption_kwh)
    return None if r is None else 100.0 * max(r, 0.0)


def solar_self_use_pct(e: EnergySums) -> float | None:
    """PV used on site / PV generated, in % (from summed energies)."""
    r = _ratio(e.pv_kwh - e.grid_export_kwh, e.pv_kwh)
    return None if r is None else 100.0 * max(r, 0.0)


def sec_system_kwh_per_kg(e: EnergySums) -> float | None:
    """(Electrolyser + compressor energy) / H2 produced [kWh/kg]."""
    return _ratio(e.el_kwh + e.compressor_kwh, e.h2_kg)


def availability_pct(e: EnergySums) -> float | None:
    """Minutes NORMAL / minutes with an electrolyser health reading, in %."""
    r = _ratio(e.el_normal_minutes, e.el_minutes)
    return None if r is None else 100.0 * r


def data_completeness_pct(e: EnergySums) -> float | None:
    """Minutes with a valid PV reading / minutes in the period, in %."""
    r = _ratio(e.pv_minutes, e.window_minutes)
    return None if r is None else 100.0 * r


def co2_avoided_kg(e: EnergySums, grid_g_per_kwh: float, gas_g_per_kwh: float) -> float:
    """CO2 avoided against the without-project case (CITYkeys "with vs without project").

    Without the project the lab wing's load comes from the grid and the heat from a gas boiler. With it, the load
    covered on site plus the export displace grid electricity, and the fuel cell's heat displaces gas:
    ``max(load − import + export, 0) · f_grid + fc_heat · f_gas`` (factors in g/kWh).
    """
    displaced = max(e.load_kwh - e.grid_import_kwh + e.grid_export_kwh, 0.0)
    return (displaced * grid_g_per_kwh + e.fc_heat_kwh * gas_g_per_kwh) / 1000.0


FORMULAS: dict[str, Callable[..., float | None]] = {
    "h2_produced_kg": lambda e, **_: e.h2_kg if e.el_minutes or e.h2_kg else None,
    "pv_yield_kwh": lambda e, **_: e.pv_kwh if e.pv_minutes else None,
    "self_sufficiency_pct": lambda e, **_: self_sufficiency_pct(e),
    "solar_self_use_pct": lambda e, **_: solar_self_use_pct(e),
    "sec_system_kwh_per_kg": lambda e, **_: sec_system_kwh_per_kg(e),
    "availability_pct": lambda e, **_: availability_pct(e),
    "data_completeness_pct": lambda e, **_: data_completeness_pct(e),
    "co2_avoided_kg": lambda e, grid_g_per_kwh, gas_g_per_kwh, **_:
        co2_avoided_kg(e, grid_g_per_kwh, gas_g_per_kwh) if e.pv_minutes or e.load_kwh else None,
}
"""Measured KPI formulas by the name used in the catalogue's ``formula``."""

SIMULATED: dict[str, str] = {
    "lcoh_eur_per_kg": "lcoh_eur_per_kg",
    "h2_produced_kg": "h2_produced_kg",
    "pv_yield_kwh": "pv_yield_kwh",
    "self_sufficiency_pct": "self_sufficiency_rate",
    "solar_self_use_pct": "self_consumption_rate",
    "sec_system_kwh_per_kg": "sec_system_kwh_per_kg",
    "co2_avoided_kg": "co2_avoided_kg",
}
"""Formula name → key of :func:`h2quarters.sim.results.site_kpis` (rates there are fractions, here %)."""


def simulated_value(formula: str, site_kpis: dict) -> float | None:
    """A KPI value from the annual simulation's key figures (fractions converted to %)."""
    key = SIMULATED.get(formula)
    if key is None or site_kpis.get(key) is None:
        return None
    v = float(site_kpis[key])
    return 100.0 * v if key.endswith("_rate") else v


__all__ = ["ENERGY_SIGNALS", "EnergySums", "FORMULAS", "SIMULATED", "availability_pct", "co2_avoided_kg",
           "data_completeness_pct", "sec_system_kwh_per_kg", "self_sufficiency_pct", "simulated_value",
           "solar_self_use_pct", "sums_from_signals"]
