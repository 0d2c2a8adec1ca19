"""Small plants and input tables built in code for the optimiser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from h2quarters.opt.plant import (
    BatteryParams,
    Curve,
    ElectrolyserParams,
    FuelCellParams,
    PlantParams,
    TankParams,
    fuel_cell_curve_from_efficiency,
)

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller"


def make_plant(*, fuel_cell: bool = True, battery: bool = True, startup_h: float = 0.0,
               ramp_kw_per_h: float = 1e6, p_standby_kw: float = 0.05, m_init_kg: float = 0.5,
               m_max_kg: float = 3.0, p_import_max_kw: float | None = None, w_comp: float = 1.2,
               m_reserve_kg: float = 0.0) -> PlantParams:
    """A lab-sized plant: 4.8 kW electrolyser (≈55 kWh/kg at full load), 0.3–3 kg tank, 2 kW FC, 10 kWh battery.

    The electrolyser curve is concave (efficiency falls with load), as the polarisation curve gives.
    """
    p = np.array([1.44, 2.28, 3.12, 3.96, 4.8])
    eff_kwh_per_kg = np.array([46.0, 48.5, 51.0, 53.0, 55.0])  # rising specific energy → concave m(p)
    ely = ElectrolyserParams(p_min_kw=1.44, p_rated_kw=4.8, p_standby_kw=p_standby_kw, p_bop_kw=0.1,
                             startup_h=startup_h, ramp_kw_per_h=ramp_kw_per_h,
                             curve=Curve(p, p / eff_kwh_per_kg, 1e-4, 2e-3))
    tank = TankParams(m_min_kg=0.3, m_max_kg=m_max_kg, m_init_kg=m_init_kg, w_comp_kwh_per_kg=w_comp,
                      p_comp_max_kw=1.5)
    fc = FuelCellParams(p_min_kw=0.2, p_rated_kw=2.0,
                        curve=fuel_cell_curve_from_efficiency(2.0, [0.1, 0.25, 0.5, 0.75, 1.0],
                                                              [0.50, 0.53, 0.52, 0.50, 0.47]),
                        heat_frac_of_h2=0.35, m_reserve_kg=m_reserve_kg) if fuel_cell else None
    bat = BatteryParams(e_kwh=10.0, p_charge_kw=5.0, p_discharge_kw=5.0, eta_charge=0.95, eta_discharge=0.95,
                        soc_min=0.1, soc_max=0.95, soc_init=0.5) if battery else None
    return PlantParams(electrolyser=ely, tank=tank, fuel_cell=fc, battery=bat, p_import_max_kw=p_import_max_kw)


def make_inputs(n_steps: int = 48, freq: str = "1h", start: str = "2025-06-02", *, pv_peak_kw: float = 12.0,
                load_kw: float = 2.0, import_eur: float = 0.30, feed_in_eur: float = 0.07,
                h2_kg: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """A sunny input table: half-sine PV 6–20 h, constant load, flat tariffs."""
    idx = pd.date_range(pd.Timestamp(start, tz="Europe/Berlin"), periods=n_steps, freq=freq)
    hour = idx.hour + idx.minute / 60.0
    pv = pv_peak_kw * np.clip(np.sin(np.pi * (hour - 6.0) / 14.0), 0.0, None)
    rng = np.random.default_rng(seed)
    pv = pv * (1.0 + 0.05 * rng.standard_normal(n_steps)).clip(0.8, 1.2)
    return pd.DataFrame({"pv_kw": pv, "load_kw": load_kw, "heat_kw": 0.0, "import_eur_per_kwh": import_eur,
                         "feed_in_eur_per_kwh": feed_in_eur, "co2_g_per_kwh": 380.0, "h2_demand_kg": h2_kg},
                        index=idx)


@pytest.fixture
def plant() -> PlantParams:
    return make_plant()


@pytest.fixture
def inputs() -> pd.DataFrame:
    return make_inputs()


def solve_lp_relaxation(mm: Any) -> Any:
    """The LP relaxation of a :class:`h2quarters.opt.solve.MatrixModel`'s live model, solved in a fresh HiGHS
    instance (integrality dropped); returns that instance (objective via ``getInfo()``, values via
    ``getSolution()``)."""
    import highspy

    lp = mm.h.getLp()
    lp.integrality_ = []
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    return h
