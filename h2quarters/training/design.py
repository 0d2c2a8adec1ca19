"""Check a learner's plant design (E13) with the annual simulator over a short period.

The learner's electrolyser power, PV peak power and tank volume replace the scenario's; the electrolyser keeps its
current density (the cell area scales with the power, so the specific consumption stays that of the measured unit);
the hydrogen demand is taken every day, the site's other loads and the fuel cell are left out so that the PV serves
the electrolyser alone, as in the sizing rule the learner applied. One week in June at hourly steps takes < 1 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from h2quarters.config import Scenario


@dataclass(frozen=True)
class DesignResult:
    """What the simulator says about a design."""

    demand_kg: float
    delivered_kg: float
    produced_kg: float
    tank_p_min_bar: float
    tank_p_max_bar: float
    pv_curtailed_kwh: float
    days: int

    @property
    def coverage(self) -> float:
        """Delivered over demanded hydrogen (1 = demand met)."""
        return self.delivered_kg / self.demand_kg if self.demand_kg > 0 else 1.0


def simulate_design(scenario: Scenario, el_kw: float, pv_kwp: float, tank_m3: float, demand_kg_d: float,
                    start: str = "2025-06-16", days: int = 7) -> DesignResult:
    """Run the annual simulator for ``days`` from ``start`` on the learner's design.

    Raises
    ------
    ValueError
        A size outside what the models accept (the message names the field and the value).
    """
    from h2quarters.sim.annual import simulate

    for name, v, hi in (("el_kw", el_kw, 10_000.0), ("pv_kwp", pv_kwp, 100_000.0), ("tank_m3", tank_m3, 10_000.0)):
        if not 0.0 < v <= hi:
            raise ValueError(f"{name} = {v!r} outside the allowed range (0, {hi:g}]")
    e = scenario.electrolyser
    scale = el_kw / e.p_rated_kw
    total_kwp = sum(a.p_kwp for a in scenario.pv)
    pv = [a.model_copy(update={"p_kwp": a.p_kwp * pv_kwp / total_kwp}) for a in scenario.pv]
    el = e.model_copy(update={"p_rated_kw": el_kw, "cell_area_m2": e.cell_area_m2 * scale,
                              "p_bop_kw": e.p_bop_kw * scale, "p_standby_kw": e.p_standby_kw * scale})
    st = scenario.storage.model_copy(update={"volume_m3": tank_m3, "p_init_bar": scenario.storage.p_min_bar})
    if st.compressor is not None:
        st = st.model_copy(update={"compressor": st.compressor.model_copy(
            update={"p_max_kw": max(st.compressor.p_max_kw, el_kw)})})
    demand = scenario.hydrogen_demand.model_copy(update={"m_kg_per_day": demand_kg_d, "weekdays": list(range(7)),
                                                         "hour_start": 0, "hour_end": 24, "series": None})
    scn = scenario.model_copy(update={"pv": pv, "electrolyser": el, "storage": st, "hydrogen_demand": demand,
                                      "fuel_cell": None, "electrical_loads": []})
    t0 = pd.Timestamp(start)
    res = simulate(scn, start=t0, end=t0 + pd.Timedelta(days=days), freq="1h")
    ts = res.timeseries
    return DesignResult(
        demand_kg=float(ts["h2_demand_kg"].sum()), delivered_kg=float(ts["h2_delivered_kg"].sum()),
        produced_kg=float(ts["h2_produced_kg"].sum()), tank_p_min_bar=float(ts["tank_p_bar"].min()),
        tank_p_max_bar=float(ts["tank_p_bar"].max()), pv_curtailed_kwh=float(ts["pv_curtailed_kw"].sum() * res.dt_h),
        days=days)
