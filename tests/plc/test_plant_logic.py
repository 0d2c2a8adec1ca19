"""PLC logic without servers: Enapter heartbeat and configuration transaction, MTP commands, modes, watchdog."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from h2quarters.plc.plant import (
    CMD_ABORT,
    CMD_RESET,
    CMD_START,
    CMD_STOP,
    ERR_HEARTBEAT,
    MTP_ABORTED,
    MTP_EXECUTE,
    MTP_IDLE,
    MTP_STARTING,
    WATCHDOG,
    PlantState,
)
from h2quarters.plc.registers import WriteRefused

from .conftest import dev_settings


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clocked(scenario, profile) -> tuple[PlantState, FakeClock]:
    clock = FakeClock()
    return PlantState(scenario, dev_settings(watchdog_timeout_ms=1000), profile=profile, clock=clock), clock


def test_enapter_heartbeat_timeout_needs_transaction_and_stops_production(clocked) -> None:
    p, clock = clocked
    with pytest.raises(WriteRefused, match="configuration transaction"):
        p.write("el_heartbeat_timeout_s", 5, source="modbus")
    p.write("el_config_commit", 1, source="modbus")
    assert p.read("el_config_last_result") == 13  # commit without begin: access denied
    p.write("el_config_begin", 1, source="modbus")
    assert p.read("el_config_in_progress") and p.read("el_config_source_modbus")
    p.write("el_heartbeat_timeout_s", 5, source="modbus")
    assert p.hold["el_heartbeat_timeout_s"] == 0  # staged, not active before commit
    p.write("el_config_commit", 1, source="modbus")
    assert p.hold["el_heartbeat_timeout_s"] == 5 and p.read("el_config_last_result") == 0
    p.write("el_production_rate_pct", 100)
    p.write("el_start", True)
    hb = iter(range(1, 100))

    def wait(dt: float) -> None:  # feed the PLC watchdog (1 s); only the Enapter heartbeat is under test
        for _ in range(int(round(dt / 0.5))):
            clock.t += 0.5
            p.write("heartbeat", next(hb))

    wait(4.0)
    p.touch("electrolyser")  # any request to the electrolyser counts
    wait(4.0)
    p.check_watchdogs()
    assert p.hold["el_start"] is True
    wait(1.5)
    p.check_watchdogs()
    assert p.hold["el_start"] is False and p.read("el_errors") == [ERR_HEARTBEAT]
    assert p.read("el_system_state") == 2 and p.read("el_health") == 1
    p.write("el_start", True)  # a new start clears the heartbeat error
    assert p.read("el_errors") == [] and p.read("el_system_state") == 1


def test_plc_watchdog_armed_from_start_and_counts_fallbacks(clocked) -> None:
    p, clock = clocked
    p.write("operating_mode", 2)
    p.write("el_start", True)  # started without any heartbeat (e.g. over Modbus by hand)
    clock.t += 29.9  # start-up monitoring time (30 s) until the first heartbeat
    p.check_watchdogs()
    assert p.fallback_count == 0 and p.hold["el_start"] is True
    clock.t += 0.2  # nobody ever wrote a heartbeat: the watchdog is armed from the start anyway
    p.check_watchdogs()
    assert p.hold["el_start"] is False and p.fallback_count == 1 and p.read("watchdog_alarm") and p.hold["operating_mode"] == 3
    for k in range(1, 4):
        p.write("heartbeat", k)
        clock.t += 0.9
        p.check_watchdogs()
    assert p.fallback_count == 1 and not p.read("watchdog_alarm")
    p.write("heartbeat", 3)  # same value again is no heartbeat
    clock.t += 0.2
    p.check_watchdogs()
    assert p.fallback_count == 2 and p.read("watchdog_alarm") and p.hold["operating_mode"] == 3
    with pytest.raises(WriteRefused, match="watchdog alarm"):
        p.write("operating_mode", 2)
    with pytest.raises(WriteRefused, match="operating_mode is safe"):
        p.write("el_start", True)
    p.write("heartbeat", 4)
    p.write("operating_mode", 2)
    p.write("el_start", True)
    clock.t += 1.1
    p.check_watchdogs()
    assert p.fallback_count == 3 and p.hold["el_start"] is False


def test_watchdog_latch_clears_only_after_heartbeat_resumes(clocked) -> None:
    p, clock = clocked
    p.write("heartbeat", 1)
    clock.t += 1.5
    p.check_watchdogs()
    assert p.read("trips_latched") & WATCHDOG
    p.write("reset", True)  # cause (overdue heartbeat) still present: latch stays
    assert p.read("trips_latched") & WATCHDOG and p.read("watchdog_alarm")
    p.write("heartbeat", 7)
    p.write("reset", True)
    assert not p.read("trips_latched") & WATCHDOG and not p.read("watchdog_alarm")


def test_watchdog_timeout_bounded_by_settings(clocked, scenario, profile) -> None:
    p, _ = clocked
    s = p.settings
    assert (s.watchdog_min_ms, s.watchdog_max_ms) == (100, 60_000)
    with pytest.raises(WriteRefused, match=r"watchdog_timeout_ms = 600000.*\[100, 60000\] ms"):
        p.write("watchdog_timeout_ms", 600_000)  # inside the map's range, beyond the PLC's bound
    assert p.hold["watchdog_timeout_ms"] == 1000
    p.write("watchdog_timeout_ms", 60_000)
    assert p.hold["watchdog_timeout_ms"] == 60_000
    tight = PlantState(scenario, dev_settings(watchdog_timeout_ms=1000, watchdog_min_ms=500, watchdog_max_ms=2000),
                       profile=profile)
    with pytest.raises(WriteRefused, match=r"\[500, 2000\]"):
        tight.write("watchdog_timeout_ms", 400)
    with pytest.raises(ValidationError, match="watchdog_timeout_ms = 90000 outside"):
        dev_settings(watchdog_timeout_ms=90_000)


def test_mtp_service_state_machine(plant: PlantState) -> None:
    p = plant
    assert p.read("el_state_cur") == MTP_IDLE and p.read("el_command_en") & CMD_START
    with pytest.raises(WriteRefused, match="not enabled"):
        p.write("el_command_op", CMD_STOP)
    p.write("el_production_rate_pct", 80)
    p.write("el_command_op", CMD_START)
    assert p.hold["el_start"] is True and p.hold["el_command_op"] == 0
    assert p.read("el_state_cur") == MTP_STARTING
    for _ in range(12):
        p.step(60.0)
    assert p.read("el_state_cur") == MTP_EXECUTE and p.read("el_command_en") == CMD_STOP | CMD_ABORT
    p.write("estop", True)
    assert p.read("el_state_cur") == MTP_ABORTED and p.read("el_command_en") == CMD_RESET
    p.write("estop", False)
    p.write("el_command_op", CMD_RESET)
    assert p.read("el_state_cur") == MTP_IDLE
    p.write("fc_setpoint_kw", 1.0)
    p.write("fc_command_op", CMD_START)
    p.step(60.0)
    assert p.read("fc_state") == 1 and p.read("fc_power_kw") == pytest.approx(1.0)
    p.write("fc_command_op", CMD_ABORT)
    assert p.hold["fc_start"] is False


def test_maintenance_mode_blocks_start_and_shows_in_health(plant: PlantState) -> None:
    plant.write("el_maintenance", True)
    assert plant.read("el_state") == 1 and plant.read("el_health") == 4
    with pytest.raises(WriteRefused, match="maintenance"):
        plant.write("el_start", True)


def test_no_battery_means_setpoint_zero_only_and_soc_nan(plant: PlantState) -> None:
    with pytest.raises(WriteRefused, match=r"allowed range is \[0, 0\]"):
        plant.write("battery_setpoint_kw", 1.0)
    assert plant.read("battery_soc_pct") != plant.read("battery_soc_pct")  # NaN


def test_example_settings_file_loads_and_typos_are_errors(tmp_path) -> None:
    from pathlib import Path

    import h2quarters.plc as plc_pkg
    from h2quarters.config import ConfigError
    from h2quarters.plc.settings import load_plc_settings

    example = Path(plc_pkg.__file__).parent / "plc_settings.example.yaml"
    s = load_plc_settings(example)
    assert s.security.mode == "production" and s.bind_host == "127.0.0.1" and s.interlocks.h2_trip_lel_pct == 25
    bad = tmp_path / "bad.yaml"
    bad.write_text("watchdog_timeout_s: 5\n")
    with pytest.raises(ConfigError, match="watchdog_timeout_s") as err:
        load_plc_settings(bad)
    assert "line 1" in str(err.value) and "watchdog_timeout_ms" in str(err.value)  # where, and the right name
    bad.write_text("speed: 1.0\nwatchdog_timeout_ms: 99999999\n")
    with pytest.raises(ConfigError, match="watchdog_timeout_ms") as err:
        load_plc_settings(bad)
    assert "line 2" in str(err.value) and "99999999" in str(err.value) and "600000" in str(err.value)
    bad.write_text("interlocks: {h2_prealarm_lel_pct: 30, h2_trip_lel_pct: 20}\n")
    with pytest.raises(ConfigError, match="must be below"):
        load_plc_settings(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_plc_settings(tmp_path / "missing.yaml")
