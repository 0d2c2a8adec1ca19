"""Power flow: lightsim2grid fast path equals pandapower runpp (1e-6 p.u.), grid energy balance, violations."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.quarter import grid as g

CODE = "1-LV-urban6--0-sw"


@pytest.fixture(scope="module")
def qnet():
    buses = g.connection_buses(CODE)
    return g.build_quarter_net(CODE, [(f"b{i}", b, 0.95) for i, b in enumerate(buses)], ext_grid_vm_pu=1.0)


def _injections(n_steps: int, n_b: int, seed: int, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    load = rng.uniform(0.0, 0.012, (n_steps, n_b)) * scale
    gen = rng.uniform(0.0, 0.015, (n_steps, n_b)) * (rng.uniform(size=(n_steps, 1)) > 0.5)  # half with PV
    return load, gen


def test_fast_path_matches_runpp(qnet) -> None:
    load, gen = _injections(120, len(qnet.building_names), 1)
    fast = g.powerflow_fast(qnet, load, gen)
    steps = np.arange(0, 120, 11)
    ref = g.powerflow_runpp(qnet, load, gen, steps)
    assert np.abs(fast.vm_pu[steps] - ref.vm_pu).max() < 1e-6
    assert np.abs(fast.va_degree[steps] - ref.va_degree).max() < 1e-4
    assert np.abs(fast.line_loading_pct[steps] - ref.line_loading_pct).max() < 1e-4
    assert np.abs(fast.trafo_loading_pct[steps] - ref.trafo_loading_pct).max() < 1e-4
    assert np.abs(fast.p_slack_mw[steps] - ref.p_slack_mw).max() < 1e-8
    # reverse flow happens in some steps (PV > load), so both directions are covered
    assert (fast.p_slack_mw < 0).any() and (fast.p_slack_mw > 0).any()


def test_grid_energy_balance_per_step(qnet) -> None:
    """P from the MV grid = consumption − generation + Σ branch losses (losses summed independently)."""
    load, gen = _injections(60, len(qnet.building_names), 2)
    fast = g.powerflow_fast(qnet, load, gen)
    lhs = fast.p_slack_mw
    rhs = load.sum(axis=1) - gen.sum(axis=1) + fast.branch_losses_mw
    assert np.abs(lhs - rhs).max() < 1e-9
    assert (fast.branch_losses_mw > 0).all()


def test_violations_counted_like_runpp(qnet) -> None:
    """A heavily loaded case breaks the band and the thermal limit; both methods agree on the counts."""
    load, gen = _injections(10, len(qnet.building_names), 3, scale=1.5)
    gen[:] = 0.0
    fast = g.powerflow_fast(qnet, load, gen)
    ref = g.powerflow_runpp(qnet, load, gen)
    v_fast = g.violations(qnet, fast)
    v_ref = g.violations(qnet, ref)
    assert v_fast["steps_undervoltage"] > 0 and v_fast["steps_trafo_overload"] > 0
    for k in ("steps_undervoltage", "steps_overvoltage", "steps_line_overload", "steps_trafo_overload",
              "bus_steps_out_of_band"):
        assert v_fast[k] == v_ref[k], k
    assert v_fast["v_min_pu"] < 0.9


def test_shape_errors(qnet) -> None:
    with pytest.raises(ValueError, match="shape"):
        g.powerflow_fast(qnet, np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        n = len(qnet.building_names)
        g.powerflow_fast(qnet, np.full((2, n), np.nan), np.zeros((2, n)))
