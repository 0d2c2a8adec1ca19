"""Operating KPIs: start counting rules, hours per state, availability."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from h2quarters.kpi import availability, count_starts, hours_per_state


def test_start_sequence_counts_once() -> None:
    # off -> starting -> producing -> standby -> producing (warm start) -> off
    s = [0, 2, 2, 3, 3, 1, 3, 0]
    assert count_starts(s) == 2


def test_aborted_start_counts_each_attempt() -> None:
    # starting -> off (abort) -> starting -> producing: two attempts
    assert count_starts([0, 2, 0, 2, 3]) == 2


def test_direct_off_to_producing_counts() -> None:
    assert count_starts([0, 3, 3, 0, 3]) == 2


def test_no_start_when_series_begins_running_unless_previous_state_given() -> None:
    assert count_starts([3, 3, 0]) == 0
    assert count_starts([3, 3, 0], previous_state=1) == 1
    assert count_starts([3, 3, 0], previous_state=3) == 0
    assert count_starts([]) == 0
    assert count_starts([2]) == 0


def test_chunked_counting_equals_whole_series() -> None:
    rng = np.random.default_rng(3)
    s = rng.integers(0, 4, 500)
    whole = count_starts(s)
    parts = [s[:123], s[123:301], s[301:]]
    chunked = count_starts(parts[0]) + sum(
        count_starts(p, previous_state=int(prev[-1])) for prev, p in zip(parts[:-1], parts[1:])
    )
    assert chunked == whole
    # brute-force reference
    ref = sum(1 for a, b in zip(s[:-1], s[1:]) if a in (0, 1) and b in (2, 3))
    assert whole == ref


def test_float_state_series_from_dataframe() -> None:
    s = pd.Series([0.0, 2.0, 3.0, 1.0], index=pd.date_range("2025-01-01", periods=4, freq="1h", tz="Europe/Berlin"))
    assert count_starts(s) == 1


@pytest.mark.parametrize("bad", [[0, 4], [0, -1], [0, 1.5], [0, float("nan")]])
def test_invalid_state_codes_rejected(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="state"):
        count_starts(bad)


def test_hours_per_state_sum_to_period() -> None:
    s = [0, 0, 2, 3, 3, 3, 1, 0]
    h = hours_per_state(s, 0.25)
    assert h == {"off": 0.75, "standby": 0.25, "starting": 0.25, "producing": 0.75}
    assert sum(h.values()) == pytest.approx(len(s) * 0.25)
    h_var = hours_per_state([3, 0], [0.5, 2.0])
    assert h_var["producing"] == 0.5 and h_var["off"] == 2.0 and h_var["standby"] == 0.0


def test_availability() -> None:
    a = pd.Series([True, True, False, True])
    assert availability(a, 1.0) == pytest.approx(0.75)
    assert availability([1, 0], [3.0, 1.0]) == pytest.approx(0.75)
    assert math.isnan(availability([], 1.0))
    with pytest.raises(ValueError, match="available must be 0/1"):
        availability([1, 2], 1.0)
