"""The packaged catalogue loads through the shared loader; bad catalogues name the field, value and line."""

from __future__ import annotations

import pytest

from h2quarters.config import ConfigError
from h2quarters.monitoring.catalogue import DEFAULT_CATALOGUE, load_catalogue, parse_catalogue


def test_packaged_catalogue_has_the_measure_and_energy_kpis() -> None:
    cat, text = load_catalogue()
    ids = {k.id for k in cat.kpis}
    assert {"qualification_offers", "learners_reached", "public_reporting", "persons_organisations_reached"} <= ids
    assert {"h2_produced", "pv_yield", "self_sufficiency", "sec_system", "availability", "co2_avoided",
            "lcoh"} <= ids
    assert cat.emission_factor.grid_source and cat.emission_factor.grid_g_per_kwh > 0
    m = cat.measure("h2lab")
    assert set(m.target_pictures) == {"umweltgerecht", "zukunftssicher"}
    assert {t.id for t in cat.target_pictures} == {"sozial_digital", "umweltgerecht", "zukunftssicher"}
    assert len(cat.maturity_stages) == 5 and cat.licence
    assert "version:" in text


def test_typo_and_range_errors_name_path_value_and_line() -> None:
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    bad = text.replace("update_frequency: quarterly", "update_frequncy: quarterly", 1)
    with pytest.raises(ConfigError) as ei:
        parse_catalogue(bad, "cat.yaml")
    msg = str(ei.value)
    assert "update_frequncy" in msg and "Did you mean 'update_frequency'" in msg and "line" in msg
    bad2 = text.replace("red_max_pct: 50", "red_max_pct: 150", 1)
    with pytest.raises(ConfigError, match=r"measures\[0\].red_max_pct.*150.*<= 99"):
        parse_catalogue(bad2)
    bad3 = text.replace("measure: h2lab", "measure: h2labx", 1)
    with pytest.raises(ConfigError, match="unknown measure 'h2labx'"):
        parse_catalogue(bad3)


def test_other_measures_can_be_added_as_data() -> None:
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    extra = text.replace("kpis:\n", """  - id: smart_lights
    name: {de: "Smarte Straßenbeleuchtung", en: "Smart street lighting"}
    target_pictures: [sozial_digital]
kpis:
""", 1)
    cat = parse_catalogue(extra)
    assert [m.id for m in cat.measures_of("sozial_digital")] == ["smart_lights"]
