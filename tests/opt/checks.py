"""Independent checks of a solved schedule: balances, limits, commitment rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from h2quarters.opt.model import ELY_OFF, ELY_ON, steps_of
from h2quarters.opt.plant import PlantParams

TOL = 1e-6


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of runs of True."""
    out, start = [], None
    for i, v in enumerate(mask):
        if v and start is None:
            start = i
        if not v and start is not None:
            out.append((start, i - start))
            start = None
    if start is not None:
        out.append((start, len(mask) - start))
    return out


def check_schedule(df: pd.DataFrame, plant: PlantParams, dt_h: float, m0_kg: float, e0_kwh: float,
                   min_up_h: float = 0.0, min_down_h: float = 0.0) -> None:
    ely, tank, fc, bat = plant.electrolyser, plant.tank, plant.fuel_cell, plant.battery
    # power balance per step
    supply = (df.pv_kw - df.pv_curtailed_kw + df.grid_import_kw + df.battery_p_discharge_kw + df.fc_p_kw
              + df.load_unmet_kw)
    use = df.load_kw + df.ely_p_el_kw + df.compressor_p_kw + df.battery_p_charge_kw + df.grid_export_kw
    np.testing.assert_allclose(supply, use, atol=1e-6)
    # hydrogen mass balance per step
    m_start = np.concatenate([[m0_kg], df.tank_m_end_kg.to_numpy()[:-1]])
    np.testing.assert_allclose(
        df.tank_m_end_kg, m_start + df.ely_h2_kg - df.fc_h2_kg - (df.h2_demand_kg - df.h2_unmet_kg)
        - df.h2_vented_kg, atol=1e-7)
    assert (df.tank_m_end_kg >= tank.m_min_kg - TOL).all() and (df.tank_m_end_kg <= tank.m_max_kg + TOL).all()
    # electrolyser: states, power window, curve
    on = (df.ely_state == ELY_ON).to_numpy()
    z = df.ely_producing_frac.to_numpy()
    assert np.all(df.ely_p_stack_kw.to_numpy()[~on] <= TOL)
    assert np.all(df.ely_p_stack_kw >= ely.p_min_kw * z - TOL)
    assert np.all(df.ely_p_stack_kw <= ely.p_rated_kw * z + TOL)
    full = on & (z > 1 - 1e-9)
    # with a concave curve the chords fill in order: production equals the curve at the stack power
    np.testing.assert_allclose(df.ely_h2_kg.to_numpy()[full] / dt_h,
                               ely.curve(df.ely_p_stack_kw.to_numpy()[full]), rtol=1e-6, atol=1e-9)
    if tank.m_flow_max_kg_per_h is not None:
        assert (df.ely_h2_kg / dt_h <= tank.m_flow_max_kg_per_h + TOL).all()
    # ramps while producing in consecutive steps
    p = df.ely_p_stack_kw.to_numpy()
    both = on[1:] & on[:-1]
    assert np.all(np.abs(np.diff(p))[both] <= ely.ramp_kw_per_h * dt_h + 1e-6)
    # minimum up/down times (runs cut by the horizon ends are exempt)
    n_up, n_down = steps_of(min_up_h, dt_h), steps_of(min_down_h, dt_h)
    n = len(df)
    for start, length in runs(on):
        if start > 0 and start + length < n:
            assert length >= n_up, f"producing run of {length} steps at {start} < min up {n_up}"
    off = (df.ely_state == ELY_OFF).to_numpy()
    for start, length in runs(off):
        if start > 0 and start + length < n:
            assert length >= n_down, f"off run of {length} steps at {start} < min down {n_down}"
    # fuel cell window
    if fc is not None:
        fon = df.fc_on.to_numpy() == 1
        assert np.all(df.fc_p_kw.to_numpy()[fon] >= fc.p_min_kw - TOL)
        assert np.all(df.fc_p_kw <= fc.p_rated_kw + TOL)
        assert np.all(df.fc_p_kw.to_numpy()[~fon] <= TOL)
        np.testing.assert_allclose(df.fc_h2_kg.to_numpy()[fon] / dt_h, fc.curve(df.fc_p_kw.to_numpy()[fon]),
                                   rtol=1e-6, atol=1e-9)
    # battery: balance, window, no simultaneous charge and discharge
    if bat is not None:
        e_start = np.concatenate([[e0_kwh], df.battery_e_end_kwh.to_numpy()[:-1]])
        np.testing.assert_allclose(df.battery_e_end_kwh, e_start * (1 - bat.self_discharge_per_h * dt_h) + dt_h * (
            bat.eta_charge * df.battery_p_charge_kw - df.battery_p_discharge_kw / bat.eta_discharge), atol=1e-6)
        assert (df.battery_e_end_kwh >= bat.soc_min * bat.e_kwh - TOL).all()
        assert (df.battery_e_end_kwh <= bat.soc_max * bat.e_kwh + TOL).all()
        assert not ((df.battery_p_charge_kw > 1e-6) & (df.battery_p_discharge_kw > 1e-6)).any()
        assert (df.battery_p_charge_kw <= bat.p_charge_kw + TOL).all()
    # grid and PV
    if plant.p_import_max_kw is not None:
        assert (df.grid_import_kw <= plant.p_import_max_kw + TOL).all()
    assert (df.pv_curtailed_kw <= df.pv_kw + TOL).all()
    assert (df[["grid_import_kw", "grid_export_kw", "pv_curtailed_kw", "h2_unmet_kg"]] >= -TOL).all().all()
