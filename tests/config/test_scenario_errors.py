"""Bad scenario files give one clear error per problem: YAML path, line, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from h2quarters.config import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "oskar-von-miller"


def _default_data() -> dict:
    return yaml.safe_load((DEFAULT / "scenario.yaml").read_text(encoding="utf-8"))


def _errors(data: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(yaml.safe_dump(data, sort_keys=False), source="test.yaml")
    return [str(p) for p in info.value.problems]


def test_default_scenario_loads() -> None:
    scn = load_scenario(DEFAULT)
    assert scn.name == "oskar-von-miller"
    assert scn.electrolyser.technology == "AEM"
    assert scn.storage.compressor is not None
    assert scn.base_dir == DEFAULT


def test_every_default_number_has_a_source_comment() -> None:
    """Each numeric value in the default scenario carries a comment ('#') on its line."""
    missing = []
    for n, line in enumerate((DEFAULT / "scenario.yaml").read_text(encoding="utf-8").splitlines(), 1):
        body = line.split("#", 1)[0]
        if ":" not in body:
            continue
        value = body.split(":", 1)[1].strip()
        try:
            float(value)
        except ValueError:
            continue
        if "#" not in line:
            missing.append(f"line {n}: {line.strip()}")
    assert not missing, "numbers without a source comment:\n" + "\n".join(missing)


def test_unknown_key_names_path_line_and_suggests_unit() -> None:
    data = _default_data()
    data["electrolyser"]["p_rated_mw"] = data["electrolyser"].pop("p_rated_kw")
    errors = _errors(data)
    unknown = [e for e in errors if "p_rated_mw" in e]
    assert len(unknown) == 1
    assert unknown[0].startswith("electrolyser.p_rated_mw (line ")
    assert "Did you mean 'p_rated_kw'" in unknown[0]
    assert any(e.startswith("electrolyser.p_rated_kw") and "missing" in e for e in errors)


def test_value_with_unit_text_is_refused_naming_the_unit() -> None:
    data = _default_data()
    data["storage"]["volume_m3"] = "600 L"
    errors = _errors(data)
    assert len(errors) == 1
    assert "storage.volume_m3" in errors[0]
    assert "'600 L'" in errors[0]
    assert "m³" in errors[0]


def test_out_of_range_names_value_and_bound() -> None:
    data = _default_data()
    data["location"]["latitude_deg"] = 95.0
    data["pv"][0]["tilt_deg"] = -5
    errors = _errors(data)
    assert len(errors) == 2
    assert any("location.latitude_deg" in e and "95.0" in e and "<= 90" in e for e in errors)
    assert any("pv[0].tilt_deg" in e and "-5" in e and ">= 0" in e for e in errors)


def test_several_problems_are_all_reported_with_lines() -> None:
    text = (
        "name: x\n"
        "location: {name: a, latitude_deg: 51, longitude_deg: 9}\n"
        "electrolyser:\n"
        "  technology: SOEC\n"
        "  n_cells: 24\n"
        "  cell_area_m2: 0.01\n"
        "  p_rated_kw: 4.8\n"
        "storage: {volume_m3: 0.6, p_min_bar: 30, p_max_bar: 20}\n"
    )
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="t.yaml")
    problems = info.value.problems
    by_path = {p.path: p for p in problems}
    assert by_path["electrolyser.technology"].line == 4
    assert "'SOEC'" in by_path["electrolyser.technology"].message
    assert "'PEM', 'AEM' or 'alkaline'" in by_path["electrolyser.technology"].message
    assert "p_min_bar (30.0) must be below p_max_bar (20.0)" in by_path["storage"].message
    assert by_path["storage"].line == 8


def test_cross_field_rule_tank_above_electrolyser_pressure_needs_compressor() -> None:
    data = _default_data()
    del data["storage"]["compressor"]
    errors = _errors(data)
    assert any("p_max_bar (300.0) exceeds electrolyser.p_out_bar (35.0)" in e for e in errors)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert "file not found" in str(info.value)
    assert "scenario.yaml" in str(info.value)


def test_missing_referenced_series_file_is_reported(tmp_path: Path) -> None:
    data = _default_data()
    data["tariffs"]["import_eur_per_kwh"] = {"csv": "prices.csv", "column": "eur_per_kwh"}
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert "tariffs.import_eur_per_kwh.csv" in str(info.value)
    assert str(tmp_path / "prices.csv") in str(info.value)


def test_invalid_yaml_reports_line() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario("name: x\nlocation: [unclosed\n", source="broken.yaml")
    assert info.value.problems[0].line is not None
    assert "not valid YAML" in info.value.problems[0].message


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "scenario.yaml"
    f.write_text("name: x\nlocation:\n  name: a\n   latitude_deg: 51\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    text = str(info.value)
    assert text.startswith(f"{f}: 1 problem(s)")
    assert "(line 4)" in text and "column" in text
    assert "<unicode string>" not in text


def test_technology_parameter_mismatch() -> None:
    data = _default_data()
    data["electrolyser"]["technology"] = "PEM"
    errors = _errors(data)
    assert any("technology PEM takes 'pem' parameters" in e for e in errors)


def test_settings_files_report_like_scenarios(tmp_path: Path) -> None:
    """Controller settings go through the same loader: path, line, value and allowed range."""
    from h2quarters.config import ConfigError
    from h2quarters.control.settings import load_control_settings

    f = tmp_path / "control.yaml"
    f.write_text("cycle_s: 1.0\nlease_s: -5\nlease_minutes: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_control_settings(f)
    by_path = {p.path: p for p in info.value.problems}
    assert by_path["lease_s"].line == 2 and "-5" in by_path["lease_s"].message and "> 0" in by_path["lease_s"].message
    assert "Did you mean 'lease_s'" in by_path["lease_minutes"].message


def test_every_cost_and_efficiency_of_the_lcoh_is_in_the_default_file() -> None:
    """No number entering the LCOH comes from a default the file does not show (e.g. a storage O&M)."""
    scn = load_scenario(DEFAULT)

    def implicit(model, path: str) -> list[str]:
        out = []
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            if info.exclude or value is None:
                continue
            if name not in model.model_fields_set:
                out.append(f"{path}.{name}")
            elif isinstance(value, BaseModel):
                out += implicit(value, f"{path}.{name}")
        return out

    sections = {"costs": scn.costs, "electrolyser": scn.electrolyser, "storage": scn.storage,
                "tariffs": scn.tariffs}
    missing = [m for path, section in sections.items() for m in implicit(section, path)]
    # grid limits are absent on purpose (no limit), not a hidden number
    missing = [m for m in missing if not m.startswith("tariffs.p_")]
    assert not missing, f"set these explicitly (with a source) in the scenario file: {missing}"
