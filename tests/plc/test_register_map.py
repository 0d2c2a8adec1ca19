"""The register map: Enapter-compatible addresses, encoding, limits, and the generated docs page."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from h2quarters.plc.docs import render_markdown
from h2quarters.plc.registers import WriteRefused, load_register_map

ROOT = Path(__file__).resolve().parents[2]


def test_enapter_addresses_and_types_match_the_published_map() -> None:
    m = load_register_map()
    expected = {  # name: (table, address, dtype) from shared/reference/enapter-modbus.md
        "el_start": ("holding", 1000, "bool"), "el_production_rate_pct": ("holding", 1002, "float32"),
        "el_config_begin": ("holding", 4000, "uint16"), "el_config_commit": ("holding", 4001, "uint16"),
        "el_heartbeat_timeout_s": ("holding", 4600, "uint32"), "el_system_state": ("input", 18, "enum16"),
        "el_state": ("input", 1200, "enum16"), "el_h2_total_nl": ("input", 1006, "float32"),
        "el_h2_flow_nlh": ("input", 1008, "float32"), "el_stack_current_a": ("input", 7508, "float32"),
        "el_stack_voltage_v": ("input", 7510, "float32"), "el_electrolyte_temperature_c": ("input", 7518, "float32"),
        "el_warnings": ("input", 768, "list16"), "el_errors": ("input", 832, "list16"),
        "el_maintenance": ("holding", 1013, "bool"), "el_uptime_s": ("input", 22, "uint32"),
    }
    for name, (table, addr, dtype) in expected.items():
        s = m[name]
        assert (s.table, s.address, s.dtype, s.device) == (table, addr, dtype, "electrolyser"), name
    assert m.devices["electrolyser"].unit_id == 1


def test_plant_signals_named_by_the_issue_exist() -> None:
    m = load_register_map()
    for name in ("pv_power_kw", "grid_import_kw", "grid_export_kw", "tank_pressure_bar", "tank_mass_kg",
                 "h2_detector_lel_pct", "ventilation_pct", "fc_start", "fc_setpoint_kw", "fc_state",
                 "battery_soc_pct", "estop", "heartbeat", "watchdog_timeout_ms", "fallback_count", "operating_mode"):
        assert m[name].device == "plant"


def test_float32_is_ieee_big_endian_high_word_first() -> None:
    s = load_register_map()["el_production_rate_pct"]
    regs = s.encode(75.0)
    assert regs == list(struct.unpack(">HH", struct.pack(">f", 75.0))) == [0x4296, 0x0000]
    assert s.decode(regs) == 75.0
    u = load_register_map()["el_heartbeat_timeout_s"]
    assert u.encode(70000) == [1, 4464] and u.decode([1, 4464]) == 70000
    lst = load_register_map()["el_errors"]
    assert lst.encode([0x1F81, 0x4801]) == [2, 0x1F81, 0x4801, 0, 0, 0, 0, 0]
    assert lst.decode([2, 0x1F81, 0x4801, 0, 0, 0, 0, 0]) == [0x1F81, 0x4801]


def test_limits_resolve_from_scenario_and_refuse_outside(scenario) -> None:
    m = load_register_map(scenario=scenario)
    assert m["fc_setpoint_kw"].limits() == (0.0, scenario.fuel_cell.p_rated_kw)
    assert m["battery_setpoint_kw"].limits() == (0.0, 0.0)  # the school has no battery
    with pytest.raises(WriteRefused, match=r"fc_setpoint_kw = 2.5: allowed range is \[0, 2\] kW"):
        m["fc_setpoint_kw"].check_value(2.5)
    with pytest.raises(WriteRefused, match="read-only"):
        m["tank_pressure_bar"].check_value(10)
    with pytest.raises(WriteRefused, match="NaN"):
        m["el_production_rate_pct"].check_value(math.nan)
    with pytest.raises(WriteRefused, match="allowed values"):
        m["operating_mode"].check_value(7)
    assert m["el_production_rate_pct"].check_value(100) == 100.0


def test_blocks_cover_every_signal_within_the_modbus_limit() -> None:
    m = load_register_map()
    covered = [n for b in m.blocks() for n in b.signals]
    assert sorted(covered) == sorted(s.name for s in m.signals)
    assert all(b.count <= 125 for b in m.blocks())


def test_docs_page_is_in_sync_with_the_map() -> None:
    page = (ROOT / "docs" / "register-map.md").read_text(encoding="utf-8")
    assert page == render_markdown(load_register_map()), "run `h2q plc docs` to regenerate docs/register-map.md"


def test_scaled_integer_register() -> None:
    from h2quarters.plc.registers import Signal

    s = Signal(name="t_dc", device="plant", table="holding", address=0, dtype="int16", scale=0.1, unit="degC",
               access="rw", min=-40, max=120, opcua="X/T", source="h2q", description="test")
    assert s.encode(-12.3) == [(-123) & 0xFFFF] and s.decode([(-123) & 0xFFFF]) == pytest.approx(-12.3)
    assert s.check_value(55.5) == 55.5
    with pytest.raises(WriteRefused, match="multiples of 0.1 degC"):
        s.check_value(55.55)
    with pytest.raises(ValueError, match="scale applies to"):
        Signal(name="b", device="plant", table="holding", address=0, dtype="bool", scale=2, access="rw",
               opcua="X/B", source="h2q", description="test")
    with pytest.raises(ValueError, match=r"states \[false, true\] are required for bool"):
        Signal(name="b", device="plant", table="holding", address=0, dtype="bool", access="rw",
               opcua="X/B", source="h2q", description="test")
