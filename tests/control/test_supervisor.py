"""Supervisor logic on synthetic readings: debouncing, invalid data, trips, pre-alarm."""

from __future__ import annotations

from h2quarters.control.supervisor import CRITICAL_SIGNALS, Supervisor
from h2quarters.plc.drivers import Quality, Reading
from h2quarters.plc.plant import ESTOP, H2_PREALARM, WATCHDOG


def good(**over: object) -> dict[str, Reading]:
    vals = {"tank_pressure_bar": 60.0, "h2_detector_lel_pct": 0.0, "el_electrolyte_temperature_c": 25.0,
            "trips_latched": 0, "operating_mode": 1, "watchdog_alarm": False, "estop_active": False}
    vals.update(over)
    return {k: Reading(v, Quality.GOOD, 0.0) for k, v in vals.items()}


def lost() -> dict[str, Reading]:
    return {k: Reading(None, Quality.BAD_COMM, 0.0) for k in CRITICAL_SIGNALS}


def test_link_loss_is_debounced() -> None:
    sv = Supervisor(link_debounce_polls=3)
    assert sv.evaluate(lost(), False) == []
    assert sv.evaluate(lost(), False) == []
    conds = sv.evaluate(lost(), False)
    assert [c.code for c in conds] == ["link_lost"] and conds[0].safe
    assert sv.evaluate(good(), False) == [] and sv.link_ok  # one good poll restores the link


def test_invalid_critical_signal_after_k_polls() -> None:
    sv = Supervisor(invalid_debounce_polls=2)
    r = good()
    r["tank_pressure_bar"] = Reading(None, Quality.BAD_RANGE, 0.0)
    assert sv.evaluate(r, False) == []
    codes = [c.code for c in sv.evaluate(r, False)]
    assert codes == ["invalid:tank_pressure_bar"]
    assert sv.evaluate(good(), False) == []  # counter resets on a good reading


def test_trips_watchdog_and_prealarm() -> None:
    sv = Supervisor()
    conds = {c.code: c for c in sv.evaluate(good(trips_latched=ESTOP | H2_PREALARM), False)}
    assert conds["trip:emergency_stop"].safe and conds["trip:emergency_stop"].severity == "trip"
    assert not conds["h2_prealarm"].safe  # the PLC ventilates; the controller only warns
    conds = {c.code for c in sv.evaluate(good(trips_latched=WATCHDOG, operating_mode=3), False)}
    assert conds == {"plc_watchdog", "plc_safe"}
    assert {c.code for c in sv.evaluate(good(operating_mode=3), True)} == set()  # asked for: no alarm
