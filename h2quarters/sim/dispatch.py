"""The interface between a dispatch strategy and the physical simulator.

The simulator owns the physics (electrolyser states, tank, battery, fuel cell); a dispatcher only proposes
setpoints for the coming step from the measured plant state and the inputs ahead. The rule-based dispatcher
here is the baseline; the optimiser's rolling MPC (``h2quarters.opt``) implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from h2quarters.config.scenario import Scenario


@dataclass(frozen=True)
class PlantState:
    """Measured state at the start of a step."""

    time: pd.Timestamp
    m_tank_kg: float
    soc: float | None
    ely_state: int
    ely_p_stack_kw: float
    ely_t_c: float
    battery_p_charge_max_kw: float = 0.0
    battery_p_discharge_max_kw: float = 0.0


@dataclass(frozen=True)
class Setpoints:
    """What a dispatcher asks the plant to do during one step.

    Attributes
    ----------
    ely_p_stack_kw : float
        Requested electrolyser stack power (kW); below minimum load means "do not produce".
    ely_standby : bool
        When not producing: keep the electrolyser in standby (True) or switch it off (False).
    fc_p_kw : float
        Requested fuel-cell electrical output (kW).
    battery_p_kw : float
        Battery power on the AC side (kW): positive charges, negative discharges.
    """

    ely_p_stack_kw: float = 0.0
    ely_standby: bool = False
    fc_p_kw: float = 0.0
    battery_p_kw: float = 0.0


class Dispatcher(Protocol):
    """A dispatch strategy: setpoints for the step starting at ``state.time``."""

    def decide(self, state: PlantState, inputs: pd.DataFrame, i: int) -> Setpoints:
        """Return setpoints for step ``i``.

        Parameters
        ----------
        state : PlantState
            Plant state at the start of step ``i``.
        inputs : pandas.DataFrame
            The whole input table (see :func:`h2quarters.sim.inputs.site_inputs`); a forecasting dispatcher
            must only look at rows ``i`` and later as forecasts, never treat them as known beyond its horizon.
        i : int
            Row of ``inputs`` for this step.
        """
        ...


class RuleDispatcher:
    """Baseline rules: PV surplus goes to the electrolyser (within its limits), deficits to the battery, then
    the fuel cell above its hydrogen reserve, then the grid.

    Parameters
    ----------
    scenario : Scenario
        The site; the electrolyser's power limits and the fuel cell's reserve come from here.
    """

    def __init__(self, scenario: Scenario, p_compressor_kw_per_kg_h: float = 0.0):
        self.scenario = scenario
        self.p_min_kw = scenario.electrolyser.p_min_kw
        self.p_rated_kw = scenario.electrolyser.p_rated_kw
        # The electrolyser's own ancillaries and the compressor are paid from the same surplus.
        self.p_bop_kw = scenario.electrolyser.p_bop_kw
        self.p_compressor_kw_per_kg_h = p_compressor_kw_per_kg_h
        self._surplus_of: tuple[int, np.ndarray] | None = None

    def _surplus_kw(self, inputs: pd.DataFrame) -> np.ndarray:
        # A row lookup in a DataFrame costs ~50 µs; the loop asks 8760–35040 times, so cache the column.
        if self._surplus_of is None or self._surplus_of[0] != id(inputs):
            self._surplus_of = (id(inputs), (inputs["pv_kw"] - inputs["load_kw"]).to_numpy(float))
        return self._surplus_of[1]

    def decide(self, state: PlantState, inputs: pd.DataFrame, i: int) -> Setpoints:
        """Setpoints for step ``i`` from the surplus PV of that step (no look-ahead)."""
        surplus_kw = float(self._surplus_kw(inputs)[i])
        fc = self.scenario.fuel_cell
        if surplus_kw > 0.0:
            p_stack = min(surplus_kw - self.p_bop_kw, self.p_rated_kw)
            battery = 0.0
            if p_stack < self.p_min_kw:
                p_stack = 0.0
                battery = surplus_kw
            else:
                battery = max(surplus_kw - p_stack - self.p_bop_kw, 0.0)
            return Setpoints(ely_p_stack_kw=p_stack, ely_standby=True, battery_p_kw=battery)
        deficit_kw = -surplus_kw
        discharge_kw = min(deficit_kw, state.battery_p_discharge_max_kw)
        fc_kw = 0.0
        if fc is not None and state.m_tank_kg > fc.m_reserve_kg:
            fc_kw = min(deficit_kw - discharge_kw, fc.p_rated_kw)
            if fc_kw < fc.min_load_frac * fc.p_rated_kw:
                fc_kw = 0.0
        return Setpoints(ely_p_stack_kw=0.0, ely_standby=True, fc_p_kw=fc_kw, battery_p_kw=-discharge_kw)
