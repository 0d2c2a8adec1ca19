"""Buildings: placement on the grid's connection points, annual energies, roof PV."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.quarter.buildings import _interleave, building_table
from h2quarters.quarter.config import load_quarter
from h2quarters.quarter.grid import connection_buses


def test_interleave_keeps_shares_on_every_prefix() -> None:
    seq = _interleave([0.6, 0.4], 100)
    for k in (5, 10, 50, 100):
        assert abs(seq[:k].count(0) - 0.6 * k) < 1.0


def test_building_table(wesertor_dir) -> None:
    q = load_quarter(wesertor_dir)
    buses = connection_buses(q.grid.code)
    specs = building_table(q, buses)
    # every SimBench connection point holds exactly one building (111 loads in 1-LV-urban6--0-sw)
    assert len(buses) == 111 and len(specs) == 111
    assert sorted(s.bus for s in specs) == sorted(buses)
    res = [s for s in specs if s.role == "residential"]
    n_g = sum(s.kind == "gruenderzeit-block" for s in res)
    assert n_g == round(0.6 * len(res))
    # PV adoption: one in five Gründerzeit blocks, three in ten post-war blocks (floor of the running count)
    assert sum(s.pv_kwp > 0 for s in res if s.kind == "gruenderzeit-block") == int(np.floor(n_g * 0.2 + 1e-9))
    assert sum(s.pv_kwp > 0 for s in res if s.kind == "postwar-block") == int(np.floor((len(res) - n_g) * 0.3 + 1e-9))


def test_profiles_hold_annual_energies(week_result) -> None:
    """The year's profiles (cached by the simulation) integrate to the configured annual energies."""
    prof = week_result.profiles
    specs = week_result.specs
    e_el = prof.load_kw.sum(axis=0)  # hourly steps: kW × 1 h
    e_heat = prof.heat_kw.sum(axis=0)
    for j, s in enumerate(specs):
        assert e_el[j] == pytest.approx(s.e_kwh_per_a, rel=1e-6), s.name
        assert e_heat[j] == pytest.approx(s.heat_kwh_per_a, rel=1e-6, abs=1e-6), s.name
    # MFH heat follows temperature: January needs several times the heat of July
    jan = prof.heat_kw[:744].sum()
    jul = prof.heat_kw[4344:5088].sum()
    assert jan > 4 * jul
    # roof PV on TRY Kassel: published ≈910 kWh/kWp at 30° south
    pv = prof.pv_kw.sum(axis=0)
    kwp = np.array([s.pv_kwp for s in specs])
    assert np.allclose(pv[kwp > 0] / kwp[kwp > 0], 910, rtol=0.05)
