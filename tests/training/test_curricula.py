"""Exercise files: the shipped ones load; bad files get clear errors naming field, line, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2quarters.config import ConfigError
from h2quarters.training.catalog import CURRICULA_DIR, draw_fault, draw_params, load_catalog, load_exercise
from h2quarters.training.schema import PlantSetup

E2 = (CURRICULA_DIR / "E02-faraday-efficiency.yaml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "ex.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(str(p) for p in exc.value.problems)


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("duration_min: 45", "duration_mins: 45")))
    text = problems(exc)
    assert "duration_mins" in text and "Did you mean 'duration_min'" in text and "(line" in text


def test_out_of_range_value_names_field_and_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("duration_min: 45", "duration_min: 2")))
    assert "duration_min" in problems(exc) and ">= 5" in problems(exc)


def test_missing_english_text(tmp_path: Path) -> None:
    bad = E2.replace("  en: Faraday and energy efficiency of the electrolyser\n", "")
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, bad))
    assert "title.en" in problems(exc) and "missing" in problems(exc)


def test_unknown_reference_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("reference: faraday_volume", "reference: faraday_volumen")))
    assert "faraday_volumen" in problems(exc) and "faraday_volume" in problems(exc).split("known:")[1]


def test_uses_must_name_earlier_quantities(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("uses: [v_theo]", "uses: [eta_lhv]")))
    assert "eta_lhv" in problems(exc) and "not earlier quantities" in problems(exc)


def test_mistake_needs_exactly_one_rule(tmp_path: Path) -> None:
    bad = E2.replace("        detector: z_4\n", "        detector: z_4\n        factor: 0.5\n")
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, bad))
    assert "exactly one of detector, reference, factor" in problems(exc)


def test_unknown_detector_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("detector: z_4", "detector: z_3")))
    assert "z_3" in problems(exc) and "lhv_hhv_swapped" in problems(exc)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_exercise(write(tmp_path, "id: [E2"))
    with pytest.raises(ConfigError, match="mapping"):
        load_exercise(write(tmp_path, "- E2\n"))


def test_duplicate_ids_in_a_directory(tmp_path: Path) -> None:
    write(tmp_path, E2, "a.yaml")
    write(tmp_path, E2, "b.yaml")
    with pytest.raises(ConfigError, match="also used by"):
        load_catalog(tmp_path)


def test_params_are_seeded_reproducible_and_on_their_grid() -> None:
    cat = load_catalog()
    ex = cat["E2"]
    a, b = draw_params(ex, 7), draw_params(ex, 7)
    assert a == b
    seen = {draw_params(ex, s)["rate_pct"] for s in range(40)}
    assert len(seen) > 5
    for v in seen:
        assert 40 <= v <= 100 and v % 5 == 0
    e10 = cat["E10"]
    faults = {draw_fault(e10, s).id for s in range(40)}
    assert faults == {f.id for f in e10.plant.fault_choices}


def test_observe_declaration_names_the_bad_mode_and_the_plant_kind(tmp_path: Path) -> None:
    """``plant.observe`` (run on the pilot read-only) allows live/recorded only, and only for site-plant exercises."""
    assert load_exercise(write(tmp_path, E2)).plant.observe == ["live", "recorded"]
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("observe: [live, recorded]", "observe: [live, pilot]")))
    text = problems(exc)
    assert "plant.observe" in text and "'pilot'" in text and "'live' or 'recorded'" in text and "(line" in text
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("  kind: plant\n", "  kind: fc_bench\n")))
    assert "only a kind 'plant' exercise can observe the pilot" in problems(exc)
    # observing needs the pilot's own wording of the tasks and of readings that set something
    with pytest.raises(ValueError, match="needs observe_tasks"):
        PlantSetup(observe=["live"])
    with pytest.raises(ConfigError) as exc:
        load_exercise(write(tmp_path, E2.replace("    observe_text: {de: \"Bei gleichmäßiger Produktion ablesen\", "
                                                 "en: \"Read while the pilot produces steadily\"}\n", "")))
    assert "measurements ['start'] set something, so they need observe_text" in problems(exc)
