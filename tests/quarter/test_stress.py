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
