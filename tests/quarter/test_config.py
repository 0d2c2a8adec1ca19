"""Quarter configuration: the shipped scenario loads; bad input is reported with field, value and range."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from h2quarters.models.storage import HydrogenTank
from h2quarters.quarter.config import load_quarter
from h2quarters.quarter.h2site import check_overrides, hydrogen_scenario


def test_wesertor_loads(wesertor_dir: Path) -> None:
    q = load_quarter(wesertor_dir)
    assert q.building("school").bus == "LV6.201 Bus 12"
    assert q.building("stz").heat_loads[0].e_kwh_per_a == 42000
    assert q.grid.code == "1-LV-urban6--0-sw"
    assert q.supply.mode == "trailer" and q.supply.pipeline is not None


def test_every_number_in_the_yaml_has_a_comment(wesertor_dir: Path) -> None:
    """Each line that sets a number carries a source or an ASSUMPTION comment."""
    for name in ("quarter.yaml", "hydrogen-site.yaml"):
        for i, line in enumerate((wesertor_dir / name).read_text(encoding="utf-8").splitlines(), 1):
            body = line.split("#")[0]
            if ":" not in body:
                continue
            value = body.split(":", 1)[1].strip().strip("[]")
            try:
                [float(v) for v in value.split(",")]
            except ValueError:
                continue
            if name == "hydrogen-site.yaml" and body.strip().startswith("load_frac_points"):
                continue  # the load grid of the efficiency curve, documented on the next line
            assert "#" in line, f"{name}:{i} sets a number without a source/assumption comment: {line.strip()}"


def _write(tmp_path: Path, wesertor_dir: Path, change) -> Path:
    d = tmp_path / "q"
    shutil.copytree(wesertor_dir, d)
    data = yaml.safe_load((d / "quarter.yaml").read_text(encoding="utf-8"))
    change(data)
    (d / "quarter.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return d


def test_unknown_key_and_bad_value_are_named(tmp_path: Path, wesertor_dir: Path) -> None:
    d = _write(tmp_path, wesertor_dir, lambda x: x["grid"].update({"v_min_pu": 1.2, "typo_kw": 3}))
    with pytest.raises(ValueError) as exc:
        load_quarter(d)
    msg = str(exc.value)
    assert "grid.v_min_pu" in msg and "1.2" in msg and "grid.typo_kw" in msg


def test_supply_mode_needs_its_section(tmp_path: Path, wesertor_dir: Path) -> None:
    def change(x):
        x["supply"]["mode"] = "pipeline"
        del x["supply"]["pipeline"]
    with pytest.raises(ValueError, match="supply.pipeline is not configured"):
        load_quarter(_write(tmp_path, wesertor_dir, change))


def test_two_schools_rejected(tmp_path: Path, wesertor_dir: Path) -> None:
    def change(x):
        x["buildings"][1]["role"] = "school"
    with pytest.raises(ValueError, match="exactly one building with role 'school'"):
        load_quarter(_write(tmp_path, wesertor_dir, change))


def test_unknown_bus_is_named(tmp_path: Path, wesertor_dir: Path) -> None:
    from h2quarters.quarter.simulate import simulate_quarter

    d = _write(tmp_path, wesertor_dir, lambda x: x["buildings"][0].update({"bus": "Nowhere 1"}))
    with pytest.raises(ValueError, match="bus 'Nowhere 1' is not in grid"):
        simulate_quarter(d, start="2025-01-01", end="2025-01-02", dispatch="rule")


def test_override_ranges() -> None:
    with pytest.raises(ValueError, match=r"tank_kg=-1.*\[0.5, 50000\]"):
        check_overrides({"tank_kg": -1})
    with pytest.raises(ValueError, match="unknown"):
        check_overrides({"battery_kwh": 3})


def test_overrides_scale_the_site(wesertor_dir: Path) -> None:
    q = load_quarter(wesertor_dir)
    base = hydrogen_scenario(q)
    s = hydrogen_scenario(q, {"pv_kwp": 50, "electrolyser_kw": 24, "tank_kg": 100})
    assert sum(a.p_kwp for a in s.pv) == pytest.approx(50)
    assert s.electrolyser.p_rated_kw == 24 and s.electrolyser.n_stacks == 10
    assert HydrogenTank(s.storage).m_usable_kg == pytest.approx(100, rel=1e-9)
    # costs scale with size
    assert s.costs.electrolyser.capex_eur == pytest.approx(base.costs.electrolyser.capex_eur * 24 / base.electrolyser.p_rated_kw)
    assert s.costs.storage.capex_eur / base.costs.storage.capex_eur == pytest.approx(
        100 / HydrogenTank(base.storage).m_usable_kg)
