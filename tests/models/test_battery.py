"""Tests of the battery reservoir model (h2quarters.models.battery)."""

from __future__ import annotations

import numpy as np
import pytest

from h2quarters.config.scenario import Battery
from h2quarters.models.battery import BatteryModel


def _cfg(**kw: float) -> Battery:
    args = dict(e_kwh=10.0, p_charge_kw=5.0, p_discharge_kw=4.0, eta_charge=0.95, eta_discharge=0.92,
                soc_min=0.1, soc_max=0.9, soc_init=0.5, self_discharge_per_h=0.0)
    args.update(kw)
    return Battery(**args)


def test_round_trip_returns_eta_ch_times_eta_dis() -> None:
    bat = BatteryModel(_cfg())
    e0 = bat.e_stored_kwh
    ch = bat.step(2.0, 3600.0)  # 2 kWh AC in
    assert ch.p_kw == 2.0 and not ch.clamped
    assert bat.e_stored_kwh - e0 == pytest.approx(2.0 * 0.95, rel=1e-12)
    e_out_ac = 0.0
    while bat.e_stored_kwh > e0 + 1e-12:  # discharge back to the starting energy in 15-min steps
        p_dis = min(1.0, (bat.e_stored_kwh - e0) * 0.92 / 0.25)
        e_out_ac += -bat.step(-p_dis, 900.0).p_kw * 0.25
    assert bat.e_stored_kwh == pytest.approx(e0, abs=1e-12)
    assert e_out_ac == pytest.approx(2.0 * 0.95 * 0.92, rel=1e-12)
    assert e_out_ac < 2.0  # no energy created


def test_energy_conserved_every_step_with_self_discharge() -> None:
    bat = BatteryModel(_cfg(self_discharge_per_h=0.002))
    rng = np.random.default_rng(7)
    e_start = bat.e_stored_kwh
    e_ac_in = e_loss = 0.0
    for p_req, dt_s in zip(rng.uniform(-8.0, 8.0, 2000), rng.choice([60.0, 900.0, 3600.0], 2000)):
        e_before = bat.e_stored_kwh
        res = bat.step(float(p_req), float(dt_s))
        dt_h = dt_s / 3600.0
        assert res.p_kw * dt_h == pytest.approx(res.e_stored_kwh - e_before + res.e_loss_kwh, abs=1e-12)
        assert res.e_loss_kwh >= res.e_self_discharge_kwh >= 0.0
        e_ac_in += res.p_kw * dt_h
        e_loss += res.e_loss_kwh
    assert e_ac_in == pytest.approx(bat.e_stored_kwh - e_start + e_loss, abs=1e-9)


def test_soc_window_and_power_limits_never_crossed() -> None:
    bat = BatteryModel(_cfg(self_discharge_per_h=0.001))
    rng = np.random.default_rng(3)
    for p_req in rng.choice([-50.0, -3.0, 0.0, 3.0, 50.0], 3000):
        dt_s = float(rng.choice([1.0, 900.0, 3600.0, 4 * 3600.0]))
        p_ch_max, p_dis_max = bat.limits_kw(dt_s)
        assert 0.0 <= p_ch_max <= 5.0 and 0.0 <= p_dis_max <= 4.0
        res = bat.step(float(p_req), dt_s)
        assert -p_dis_max - 1e-12 <= res.p_kw <= p_ch_max + 1e-12
        assert res.soc <= 0.9 + 1e-12
        if res.p_kw < 0.0:  # discharging never ends below the floor ...
            assert res.soc >= 0.1 - 1e-12
        if res.soc < 0.1 - 1e-12:  # ... only self-discharge of an idle or charging battery gets there
            assert res.p_kw >= 0.0
        assert res.clamped == (res.p_kw != p_req)


def test_limits_from_soc_window() -> None:
    bat = BatteryModel(_cfg(soc_init=0.9))
    assert bat.limits_kw(3600.0) == (0.0, 4.0)
    res = bat.step(3.0, 3600.0)
    assert res.p_kw == 0.0 and res.clamped and res.soc == pytest.approx(0.9)
    bat.soc = 0.85  # 0.5 kWh of room -> 0.5/0.95 kWh AC in one hour
    p_ch_max, _ = bat.limits_kw(3600.0)
    assert p_ch_max == pytest.approx(0.5 / 0.95, rel=1e-12)
    res = bat.step(5.0, 3600.0)
    assert res.p_kw == pytest.approx(p_ch_max) and res.soc == pytest.approx(0.9, abs=1e-15)
    bat.soc = 0.12  # 0.2 kWh above the floor -> 0.2 × 0.92 kWh AC out over 15 min = 0.736 kW
    assert bat.limits_kw(900.0)[1] == pytest.approx(0.2 * 0.92 / 0.25, rel=1e-12)
    res = bat.step(-4.0, 900.0)
    assert res.soc == pytest.approx(0.1, abs=1e-15)
    assert bat.limits_kw(900.0)[1] == pytest.approx(0.0, abs=1e-12)
    # short steps are bounded by the power limits
    bat.soc = 0.5
    assert bat.limits_kw(60.0) == (5.0, 4.0)


def test_self_discharge_independent_of_step_length() -> None:
    a = BatteryModel(_cfg(self_discharge_per_h=0.005))
    b = BatteryModel(_cfg(self_discharge_per_h=0.005))
    a.step(0.0, 3600.0)
    for _ in range(4):
        b.step(0.0, 900.0)
    assert a.e_stored_kwh == pytest.approx(b.e_stored_kwh, rel=1e-13)
    assert a.e_stored_kwh == pytest.approx(5.0 * (1 - 0.005), rel=1e-13)


def test_bad_input_names_field() -> None:
    bat = BatteryModel(_cfg())
    with pytest.raises(ValueError, match="dt_s"):
        bat.step(1.0, 0.0)
    with pytest.raises(ValueError, match="p_kw"):
        bat.step(float("nan"), 60.0)
    with pytest.raises(ValueError, match="soc"):
        bat.soc = 1.5
