"""Annual (or any period) simulation of a site: a dispatcher proposes, the physics disposes.

Each step the dispatcher (:mod:`h2quarters.sim.dispatch`) proposes setpoints from the measured state; the
physical models decide what really happens: the electrolyser's states, start-up, ramp and temperature, the
tank's real-gas pressure, the compressor's work at the current tank pressure, the fuel cell's part-load
efficiency and the battery's limits. The grid closes the electrical balance; a backup boiler closes the heat
balance. The loop runs one step at a time because every state (tank, temperature, start-up timer) feeds the
next step.

Per step the result satisfies, to rounding (tests assert < 1e-6 relative):

* electricity: ``pv_used + grid_import + fc + battery_discharge + unserved
  = load + ely + compressor + battery_charge + grid_export``
* hydrogen: ``Δtank = h2_produced − h2_delivered − fc_h2 − h2_vented``
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from h2quarters.config.scenario import Scenario
from h2quarters.models.battery import BatteryModel
from h2quarters.models.compressor import CompressorModel
from h2quarters.models.electrolyser import ElectrolyserModel, ElectrolyserPlant, ElectrolyserState
from h2quarters.models.fuelcell import FuelCellModel
from h2quarters.models.storage import HydrogenTank
from h2quarters.sim.dispatch import Dispatcher, PlantState, RuleDispatcher
from h2quarters.sim.inputs import site_inputs

#: Output columns of :func:`simulate`, units in the names.
OUTPUT_COLUMNS = [
    "pv_kw", "pv_used_kw", "pv_curtailed_kw", "load_kw", "grid_import_kw", "grid_export_kw", "unserved_kw",
    "ely_kw", "ely_stack_kw", "ely_request_kw", "ely_state", "ely_i_a", "ely_u_cell_v", "ely_t_c",
    "ely_q_heat_kw", "h2_produced_kg", "compressor_kw", "tank_m_kg", "tank_p_bar", "h2_demand_kg",
    "h2_delivered_kg", "h2_unmet_kg", "h2_vented_kg", "fc_kw", "fc_h2_kg", "fc_heat_kw",
    "battery_charge_kw", "battery_discharge_kw", "battery_soc", "heat_kw", "heat_from_fc_kw",
    "heat_backup_kw", "import_eur_per_kwh", "feed_in_eur_per_kwh", "co2_g_per_kwh",
]


@dataclass
class SimulationResult:
    """Time series (one row per step) and run facts."""

    timeseries: pd.DataFrame
    scenario: Scenario
    dt_h: float
    runtime_s: float
    m_tank_start_kg: float
    facts: dict = field(default_factory=dict)


class _Plant:
    """The physical plant of a site, stepped in time."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.ely_model = ElectrolyserModel(scenario.electrolyser)
        self.ely = ElectrolyserPlant(scenario.electrolyser)
        self.tank = HydrogenTank(scenario.storage)
        self.m_tank_kg = float(self.tank.m_init_kg)
        self.compressor = (CompressorModel(scenario.storage.compressor, scenario.electrolyser.p_out_bar)
                           if scenario.storage.compressor is not None else None)
        self.fc = FuelCellModel(scenario.fuel_cell) if scenario.fuel_cell is not None else None
        self.battery = BatteryModel(scenario.battery) if scenario.battery is not None else None
        # Stack power -> H2 rate at operating temperature, to cap production to the tank's headroom.
        self._p_grid_kw = np.linspace(0.0, scenario.electrolyser.p_rated_kw, 401)
        self._m_grid_kg_per_h = np.asarray(self.ely_model.h2_from_power_kg_per_h(self._p_grid_kw), float)

    def p_stack_for_rate_kw(self, m_kg_per_h: float) -> float:
        """Largest stack power whose H2 rate stays within ``m_kg_per_h`` (at operating temperature)."""
        return float(np.interp(m_kg_per_h, self._m_grid_kg_per_h, self._p_grid_kw))


def simulate(scenario: Scenario, start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
             freq: str | None = None, dispatcher: Dispatcher | None = None,
             inputs: pd.DataFrame | None = None) -> SimulationResult:
    """Simulate a site over a period.

    Parameters
    ----------
    scenario : Scenario
        The site.
    start, end : str or Timestamp, optional
        Period ``[start, end)``; default the scenario's simulation year.
    freq : {"15min", "1h"}, optional
        Step; default the scenario's ``simulation.step``.
    dispatcher : Dispatcher, optional
        Strategy proposing setpoints; default :class:`~h2quarters.sim.dispatch.RuleDispatcher`.
    inputs : pandas.DataFrame, optional
        Precomputed input table (see :func:`h2quarters.sim.inputs.site_inputs`).

    Returns
    -------
    SimulationResult
    """
    t_start = time.perf_counter()
    year = scenario.simulation.year
    freq = freq or scenario.simulation.step
    if inputs is None:
        inputs = site_inputs(scenario, start or f"{year}-01-01", end or f"{year + 1}-01-01", freq)
    dt_h = pd.Timedelta(inputs.index.freq or freq) / pd.Timedelta("1h")
    dt_s = dt_h * 3600.0
    plant = _Plant(scenario)
    if dispatcher is None:
        dispatcher = RuleDispatcher(scenario)
    m_start = plant.m_tank_kg

    n = len(inputs)
    out = {c: np.zeros(n) for c in OUTPUT_COLUMNS}
    pv = inputs["pv_kw"].to_numpy(float)
    load = inputs["load_kw"].to_numpy(float)
    heat = inputs["heat_kw"].to_numpy(float)
    demand = inputs["h2_demand_kg"].to_numpy(float)
    p_export_max = scenario.tariffs.p_export_max_kw
    p_import_max = scenario.tariffs.p_import_max_kw
    tank = plant.tank
    m_max, m_min = float(tank.m_max_kg), float(tank.m_min_kg)

    # Time in each state, accounted within the step (a start-up shorter than the step still counts).
    state_s = {"off": 0.0, "standby": 0.0, "starting": 0.0, "producing": 0.0}
    times = list(inputs.index)  # boxing all timestamps at once is ~20x cheaper than one per step
    for i in range(n):
        p_tank_bar = float(tank.pressure_from_mass_bar(plant.m_tank_kg))
        ch_max = dis_max = 0.0
        if plant.battery is not None:
            ch_max, dis_max = plant.battery.limits_kw(dt_s)
        state = PlantState(
            time=times[i], m_tank_kg=plant.m_tank_kg,
            soc=plant.battery.soc if plant.battery is not None else None,
            ely_state=int(plant.ely.state), ely_p_stack_kw=float(plant.ely.p_stack_kw), ely_t_c=float(plant.ely.t_c),
            battery_p_charge_max_kw=ch_max, battery_p_discharge_max_kw=dis_max,
        )
        sp = dispatcher.decide(state, inputs, i)

        # --- electrolyser, limited by tank headroom and compressor capacity ---
        request = max(float(sp.ely_p_stack_kw), 0.0)
        rate_cap = max(m_max - plant.m_tank_kg, 0.0) / dt_h
        if plant.compressor is not None:
            rate_cap = min(rate_cap, float(plant.compressor.max_flow_kg_per_h(p_tank_bar)))
        request = min(request, plant.p_stack_for_rate_kw(rate_cap))
        ely = plant.ely.step(request, dt_s, standby_allowed=bool(sp.ely_standby))
        m_prod = float(ely.m_h2_kg)
        state_s["off"] += ely.t_off_s
        state_s["standby"] += ely.t_standby_s
        state_s["starting"] += ely.t_starting_s
        state_s["producing"] += ely.t_producing_s
        p_comp = 0.0
        if plant.compressor is not None and m_prod > 0.0:
            p_comp = float(plant.compressor.work_kwh_per_kg(p_tank_bar)) * m_prod / dt_h

        # --- hydrogen: demand first, then the fuel cell, never below the tank's minimum ---
        available = plant.m_tank_kg + m_prod - m_min
        delivered = min(demand[i], max(available, 0.0))
        available -= delivered
        fc_kw = fc_h2 = fc_heat = 0.0
        if plant.fc is not None and sp.fc_p_kw > 0.0:
            fc_kw = min(float(sp.fc_p_kw), plant.fc.p_rated_kw)
            fc_kw = fc_kw if fc_kw >= plant.fc.p_min_kw else 0.0
            need = float(plant.fc.h2_kg_per_h(fc_kw)) * dt_h
            if need > available:
                fc_kw = float(plant.fc.power_from_h2_kw(max(available, 0.0) / dt_h))
                fc_kw = fc_kw if fc_kw >= plant.fc.p_min_kw else 0.0
            fc_h2 = float(plant.fc.h2_kg_per_h(fc_kw)) * dt_h if fc_kw > 0 else 0.0
            fc_heat = float(plant.fc.heat_kw(fc_kw)) if fc_kw > 0 else 0.0
        m_new = plant.m_tank_kg + m_prod - delivered - fc_h2
        vented = max(m_new - m_max, 0.0)
        plant.m_tank_kg = m_new - vented

        # --- battery ---
        b_ch = b_dis = 0.0
        soc = np.nan
        if plant.battery is not None:
            b = plant.battery.step(float(sp.battery_p_kw), dt_s)
            b_ch, b_dis = max(b.p_kw, 0.0), max(-b.p_kw, 0.0)
            soc = b.soc

        # --- grid closes the electrical balance ---
        consumption = load[i] + ely.p_total_kw + p_comp + b_ch
        net = pv[i] + fc_kw + b_dis - consumption
        export = max(net, 0.0)
        curtailed = 0.0
        if p_export_max is not None and export > p_export_max:
            curtailed = min(export - p_export_max, pv[i])
            export -= curtailed
        imp = max(-net, 0.0)
        unserved = 0.0
        if p_import_max is not None and imp > p_import_max:
            unserved = imp - p_import_max
            imp = p_import_max

        heat_fc = min(fc_heat, heat[i])
        row = out
        row["pv_kw"][i] = pv[i]
        row["pv_used_kw"][i] = pv[i] - curtailed
        row["pv_curtailed_kw"][i] = curtailed
        row["load_kw"][i] = load[i]
        row["grid_import_kw"][i] = imp
        row["grid_export_kw"][i] = export
        row["unserved_kw"][i] = unserved
        row["ely_kw"][i] = ely.p_total_kw
        row["ely_stack_kw"][i] = ely.p_stack_kw
        row["ely_request_kw"][i] = request
        row["ely_state"][i] = int(ely.state)
        row["ely_i_a"][i] = ely.i_a
        row["ely_u_cell_v"][i] = ely.u_cell_v
        row["ely_t_c"][i] = ely.t_c
        row["ely_q_heat_kw"][i] = ely.q_heat_kw
        row["h2_produced_kg"][i] = m_prod
        row["compressor_kw"][i] = p_comp
        row["tank_m_kg"][i] = plant.m_tank_kg
        row["tank_p_bar"][i] = float(tank.pressure_from_mass_bar(plant.m_tank_kg))
        row["h2_demand_kg"][i] = demand[i]
        row["h2_delivered_kg"][i] = delivered
        row["h2_unmet_kg"][i] = demand[i] - delivered
        row["h2_vented_kg"][i] = vented
        row["fc_kw"][i] = fc_kw
        row["fc_h2_kg"][i] = fc_h2
        row["fc_heat_kw"][i] = fc_heat
        row["battery_charge_kw"][i] = b_ch
        row["battery_discharge_kw"][i] = b_dis
        row["battery_soc"][i] = soc
        row["heat_kw"][i] = heat[i]
        row["heat_from_fc_kw"][i] = heat_fc
        row["heat_backup_kw"][i] = heat[i] - heat_fc

    ts = pd.DataFrame(out, index=inputs.index)
    for col in ("import_eur_per_kwh", "feed_in_eur_per_kwh", "co2_g_per_kwh"):
        ts[col] = inputs[col].to_numpy()
    ts["ely_state"] = ts["ely_state"].astype(int)
    facts = {
        "ely_op_hours_h": float(plant.ely.op_hours_h),
        "ely_starts": int(plant.ely.n_starts),
        "ely_hours_per_state_h": {name: t / 3600.0 for name, t in state_s.items()},
        "ely_state_names": {int(s): s.name.lower() for s in ElectrolyserState},
    }
    return SimulationResult(ts, scenario, dt_h, time.perf_counter() - t_start, m_start, facts)


def balance_residuals(result: SimulationResult) -> pd.DataFrame:
    """Per-step residuals of the electricity (kW) and hydrogen (kg) balances; zero up to rounding.

    Returns
    -------
    pandas.DataFrame
        ``electric_kw`` (supply − use) and ``h2_kg`` (Δtank − net inflow) per step, and the scale each
        residual should be compared with (``electric_scale_kw``, ``h2_scale_kg``).
    """
    ts = result.timeseries
    supply = ts.pv_used_kw + ts.grid_import_kw + ts.fc_kw + ts.battery_discharge_kw + ts.unserved_kw
    use = ts.load_kw + ts.ely_kw + ts.compressor_kw + ts.battery_charge_kw + ts.grid_export_kw
    m_prev = np.concatenate([[result.m_tank_start_kg], ts.tank_m_kg.to_numpy()[:-1]])
    inflow = ts.h2_produced_kg - ts.h2_delivered_kg - ts.fc_h2_kg - ts.h2_vented_kg
    return pd.DataFrame(
        {
            "electric_kw": supply - use,
            "electric_scale_kw": np.maximum(supply, 1e-9),
            "h2_kg": (ts.tank_m_kg - m_prev) - inflow,
            "h2_scale_kg": np.maximum(np.maximum(ts.tank_m_kg, np.abs(inflow)), 1e-12),
        },
        index=ts.index,
    )
