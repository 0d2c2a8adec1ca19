"""Grid stress cases: SimBench's study cases with their MV voltages, 15-min critical days, margins, binding case."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.quarter.buildings import simbench_load_profiles
from h2quarters.quarter.grid import source_net


def test_stress_cases_follow_simbench(week_result) -> None:
    st = week_result.stress
    lc = source_net(week_result.quarter.grid.code).loadcases
    cases = set(st.case)
    assert {"year", "15min-hL-mv", "15min-lPV-mv"} <= cases
    assert {f"simbench-{c}" for c in lc.index} <= cases
    # each SimBench case runs at its own MV voltage
    for c in lc.index:
        assert st.loc[st.case == f"simbench-{c}", "mv_vm_pu"].item() == lc.loc[c, "Slack_vm"]
    hl = st[st.case == "15min-hL-mv"].iloc[0]
    assert hl.mv_vm_pu == lc.loc["hL", "Slack_vm"] and hl.resolution == "15 min"
    assert hl.steps % 96 == 0  # whole days of quarter-hours
    # a lower MV voltage lowers every LV voltage: the hL-voltage case sits below the year's minimum margin
    year = st[st.case == "year"].iloc[0]
    assert hl.v_min_pu < year.v_min_pu
    # margins are the distances to the configured limits; exactly one case binds, the one with the least room
    q = week_result.quarter
    assert np.allclose(st.margin_undervoltage_pu, st.v_min_pu - q.grid.v_min_pu)
    assert np.allclose(st.margin_overvoltage_pu, q.grid.v_max_pu - st.v_max_pu)
    assert st.binding.sum() == 1 and st.loc[st.binding, "margin_min"].item() == st.margin_min.min()
    k = week_result.kpis
    assert k["grid_stress_binding_case"] == st.loc[st.binding, "case"].item()


def test_simbench_profiles_keep_their_peaks(week_result) -> None:
    """Each residential block carries its connection's own SimBench household profile: at 15 min the blocks'
    sum peaks higher over its mean than the hourly sum (SimBench's 3.0 vs 2.7 for its own loads)."""
    import pandas as pd

    q = week_result.quarter
    idx15 = pd.date_range(f"{q.year}-01-01", f"{q.year + 1}-01-01", freq="15min", tz=q.location.tz,
                          inclusive="left")
    u15 = simbench_load_profiles(q.grid.code, idx15)
    u1 = simbench_load_profiles(q.grid.code, week_result.profiles.index)
    assert u15.sum(axis=0) * 0.25 == pytest.approx(np.ones(u15.shape[1]), rel=1e-9)  # 1 kWh/a each
    s15, s1 = u15.sum(axis=1), u1.sum(axis=1)
    assert s15.max() / s15.mean() > s1.max() / s1.mean() > 2.0


def test_simbench_pv_profiles_are_simbench_own(wesertor_dir) -> None:
    """Roofs take the SimBench PV unit's own profile at their bus (else SimBench's PV profiles in turn), at
    15 min, in kW per kWp: the values are SimBench's quarter-hours, one weekday-aligned day shift apart."""
    import pandas as pd

    from h2quarters.quarter.buildings import SIMBENCH_PROFILE_YEAR, simbench_pv_profiles
    from h2quarters.quarter.config import load_quarter

    q = load_quarter(wesertor_dir)
    net = source_net(q.grid.code)
    ren = net.profiles["renewables"]
    sg = net.sgen.iloc[0]
    with_unit = str(net.bus.at[sg.bus, "name"])
    without = next(str(n) for b, n in zip(net.bus.index, net.bus.name) if b not in set(net.sgen.bus)
                   and str(n).startswith("LV"))
    # January: wall-clock quarter-hours are contiguous there (no DST change)
    idx = pd.date_range(f"{q.year}-01-01", f"{q.year}-02-01", freq="15min", tz=q.location.tz, inclusive="left")
    u = simbench_pv_profiles(q.grid.code, idx, [with_unit, without])
    shift = (pd.Timestamp(q.year, 1, 1).dayofweek - pd.Timestamp(SIMBENCH_PROFILE_YEAR, 1, 1).dayofweek) % 7
    own = ren[str(sg.profile)].to_numpy(float)
    assert np.array_equal(u[:, 0], own[shift * 96: shift * 96 + len(idx)])
    first = sorted(c for c in ren.columns if str(c).startswith("PV"))[0]
    assert np.array_equal(u[:, 1], ren[first].to_numpy(float)[shift * 96: shift * 96 + len(idx)])
    assert 0.0 <= u.min() and u.max() <= 1.0  # per kWp installed
