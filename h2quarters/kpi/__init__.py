"""Key performance indicators as pure functions over time series.

Inputs are per-step mean power in kW with the step length ``dt_h`` in h (the simulator's ``*_kw`` columns),
hydrogen in kg per step, and totals (kWh, kg, EUR) for the element-wise ratios. Undefined ratios (division
by zero, e.g. no hydrogen produced) are NaN; invalid inputs raise ``ValueError`` naming the argument.
Definitions follow ``shared/reference/kpis.md``; economics the VDI 2067 annuity method; ratings the
Smart Kassel traffic light (0–50 % red, 51–75 % yellow, 76–100 % green).
"""

from h2quarters.kpi.economics import (
    LCOHBreakdown,
    annuity_eur_per_a,
    attributed_grid_import_kw,
    capital_recovery_factor,
    electricity_cost_eur,
    lcoh,
    lcoh_from_costs,
    price_dynamic_cash_value_factor,
    vdi2067_capital_annuity_eur_per_a,
    vdi2067_operating_annuity_eur_per_a,
)
from h2quarters.kpi.emissions import (
    CO2_NATURAL_GAS_G_PER_KWH,
    co2_avoided_gas_kg,
    co2_avoided_grid_kg,
)
from h2quarters.kpi.energy import (
    capacity_factor,
    energy_kwh,
    full_load_hours,
    pv_self_consumed_kwh,
    pv_yield_kwh,
    self_consumption_rate,
    self_sufficiency_rate,
    specific_yield_kwh_per_kwp,
    step_hours,
)
from h2quarters.kpi.hydrogen import (
    efficiency_hhv,
    efficiency_lhv,
    faraday_efficiency,
    h2_faraday_kg,
    h2_kg_from_normal_m3,
    h2_produced_kg,
    sec_stack_kwh_per_kg,
    sec_system_kwh_per_kg,
    specific_energy_kwh_per_kg,
)
from h2quarters.kpi.operation import (
    STATE_NAMES,
    STATE_OFF,
    STATE_PRODUCING,
    STATE_STANDBY,
    STATE_STARTING,
    availability,
    count_starts,
    hours_per_state,
)
from h2quarters.kpi.renewable_share import renewable_matched_share
from h2quarters.kpi.traffic_light import (
    KASSEL_BANDS,
    TrafficLight,
    TrafficLightBands,
    percent_of_target,
    traffic_light,
)

__all__ = [
    "CO2_NATURAL_GAS_G_PER_KWH",
    "KASSEL_BANDS",
    "LCOHBreakdown",
    "STATE_NAMES",
    "STATE_OFF",
    "STATE_PRODUCING",
    "STATE_STANDBY",
    "STATE_STARTING",
    "TrafficLight",
    "TrafficLightBands",
    "annuity_eur_per_a",
    "attributed_grid_import_kw",
    "availability",
    "capacity_factor",
    "capital_recovery_factor",
    "co2_avoided_gas_kg",
    "co2_avoided_grid_kg",
    "count_starts",
    "efficiency_hhv",
    "efficiency_lhv",
    "electricity_cost_eur",
    "energy_kwh",
    "faraday_efficiency",
    "full_load_hours",
    "h2_faraday_kg",
    "h2_kg_from_normal_m3",
    "h2_produced_kg",
    "hours_per_state",
    "lcoh",
    "lcoh_from_costs",
    "percent_of_target",
    "price_dynamic_cash_value_factor",
    "pv_self_consumed_kwh",
    "pv_yield_kwh",
    "renewable_matched_share",
    "sec_stack_kwh_per_kg",
    "sec_system_kwh_per_kg",
    "self_consumption_rate",
    "self_sufficiency_rate",
    "specific_energy_kwh_per_kg",
    "specific_yield_kwh_per_kwp",
    "step_hours",
    "traffic_light",
    "vdi2067_capital_annuity_eur_per_a",
    "vdi2067_operating_annuity_eur_per_a",
]
