"""Exercise plants: instrument noise and resolution, recorded readings, PLC checks, faults, bench, replay."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from h2quarters.plc.registers import WriteRefused
from h2quarters.training.catalog import get_exercise
from h2quarters.training.plant import ExercisePlant, FuelCellBench
from h2quarters.training.replay import ReadOnlyError, ReplayPlant
from h2quarters.training.schema import Fault, PlantSetup
from h2quarters.training.sensors import SENSORS, Sensor
from h2quarters.training.session import ExerciseSession

SETUP = PlantSetup(producing=True, el_rate_pct=60, t_stack_c=55)


def test_sensor_model_noise_and_resolution() -> None:
    s = Sensor(sigma_abs=0.05, sigma_rel=0.002, resolution=0.01)
    rng = np.random.default_rng(1)
    xs = np.array([s.read(30.0, rng) for _ in range(4000)])
    # every reading sits on the display grid
    assert np.allclose(np.round(xs / 0.01) * 0.01, xs)
    # spread as documented: sqrt(0.05² + (0.002·30)²) plus the rounding's 0.01/sqrt(12)
    expected = math.sqrt(0.05**2 + 0.06**2 + 0.01**2 / 12)
    assert xs.std() == pytest.approx(expected, rel=0.08)
    assert xs.mean() == pytest.approx(30.0, abs=0.01)
    assert Sensor(0.2, 0, 0.1, lo=0.0).read(0.0, np.random.default_rng(0)) >= 0.0
    assert math.isnan(s.read(math.nan, rng))


def test_readings_recorded_with_plant_time_and_seeded_noise() -> None:
    a, b, c = (ExercisePlant(SETUP, seed=s) for s in (5, 5, 6))
    for p in (a, b, c):
        p.advance(120)
    ra = a.measure("m", ["el_stack_current_a", "el_cell_voltage_v"])
    rb = b.measure("m", ["el_stack_current_a", "el_cell_voltage_v"])
    rc = c.measure("m", ["el_stack_current_a", "el_cell_voltage_v"])
    assert ra.values == rb.values  # same seed, same readings
    assert ra.values != rc.values  # another seed, other noise
    assert ra.true_values == rc.true_values  # on the same physics
    assert ra.t_s == pytest.approx(a.t_offset_s + 120) and ra.time.startswith("2025-06-16T09:1")
    assert a.readings == [ra]
    i_true = ra.true_values["el_stack_current_a"]
    assert abs(ra.values["el_stack_current_a"] - i_true) < 6 * math.hypot(0.05, 0.002 * i_true) + 0.01


def test_writes_go_through_the_plc_checks() -> None:
    p = ExercisePlant(SETUP, seed=1)
    with pytest.raises(WriteRefused, match="el_production_rate_pct"):
        p.write("el_production_rate_pct", 150.0)
    p.write("estop", True)
    with pytest.raises(WriteRefused, match="interlock latched"):
        p.write("el_start", True)
    with pytest.raises(KeyError, match="unknown signal"):
        p.measure("m", ["no_such_signal"])


def test_hidden_fault_is_not_reported_but_acts() -> None:
    p = ExercisePlant(SETUP, seed=1, faults=[Fault(kind="stack_degradation", value=150, hidden=True,
                                                      at_s=SETUP_SETTLE + 60)])
    u0 = p.true_value("el_cell_voltage_v")
    p.advance(600)
    assert p.true_value("faults_visible") == 0
    assert p.true_value("el_cell_voltage_v") > u0 + 0.1


SETUP_SETTLE = 600.0


def test_tick_advances_at_speed() -> None:
    p = ExercisePlant(SETUP.model_copy(update={"speed": 10.0}), seed=1)
    t = p.t_s
    for _ in range(10):
        p.tick(0.1)
    assert p.t_s == pytest.approx(t + 10.0)


def test_fuel_cell_bench_series_parallel_physics() -> None:
    b = FuelCellBench(PlantSetup(kind="fc_bench", n_units=2), noise=False, ageing=0.5)
    b.write("wiring", "series")
    b.write("load_a", 20)
    s = b.measure("s", ["u_v", "u1_v", "u2_v"]).values
    assert s["u_v"] == pytest.approx(s["u1_v"] + s["u2_v"]) and s["u2_v"] < s["u1_v"]  # unit 2 is aged
    b.write("wiring", "parallel")
    b.write("set_u_v", 7.0)
    p = b.measure("p", ["i_a", "i1_a", "i2_a"]).values
    assert p["i_a"] == pytest.approx(p["i1_a"] + p["i2_a"]) and p["i2_a"] < p["i1_a"]
    # each unit's current at 7 V gives back 7 V on its own curve
    assert b.unit_voltage_v(1, p["i1_a"]) == pytest.approx(7.0, abs=1e-6)
    with pytest.raises(ValueError, match="load_a"):
        b.write("load_a", 500)
    with pytest.raises(ValueError, match="wiring"):
        b.write("wiring", "star")


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from h2quarters.config import DEFAULT_SCENARIO, load_scenario
    from h2quarters.sim.annual import simulate

    res = simulate(load_scenario(DEFAULT_SCENARIO), start="2025-06-16", end="2025-06-17", freq="15min")
    p = tmp_path_factory.mktemp("replay") / "timeseries.csv"
    res.timeseries.to_csv(p)
    return p


def test_replay_csv_cursor_and_read_only(sim_csv: Path) -> None:
    p = ReplayPlant.from_csv(sim_csv, start="2025-06-16T12:00")
    frame = pd.read_csv(sim_csv, index_col=0)
    noon = frame.loc["2025-06-16 12:00:00+02:00"]
    r = p.measure("m", ["el_power_kw", "tank_pressure_bar"])
    assert r.true_values["el_power_kw"] == pytest.approx(noon["ely_kw"])
    assert r.time.startswith("2025-06-16T12:00")
    p.advance(-3600)  # the cursor moves both ways
    assert p.time == pd.Timestamp("2025-06-16T11:00", tz="Europe/Berlin")
    with pytest.raises(ReadOnlyError, match="read-only"):
        p.write("el_start", True)
    with pytest.raises(ValueError, match="outside the recording"):
        p.seek("2025-06-18T00:00")
    # counters integrate the simulator's powers like the plant's meters: energy between two times
    e = [p.true_value("el_energy_kwh")]
    p.advance(3600)
    e.append(p.true_value("el_energy_kwh"))
    i11 = frame.index.get_loc("2025-06-16 11:00:00+02:00")
    assert e[1] - e[0] == pytest.approx(frame["ely_kw"].iloc[i11:i11 + 4].sum() * 0.25)


def test_exercise_runs_on_replayed_data(sim_csv: Path) -> None:
    ex = get_exercise("E2")
    p = ReplayPlant.from_csv(sim_csv, start="2025-06-16T11:00")
    s = ExerciseSession(ex, seed=1, plant=p)
    s.take("start")
    s.take("end")
    assert s.readings["end"].t_s - s.readings["start"].t_s == pytest.approx(s.params["dur_s"])
    v = s.expected("v_theo")
    assert v is not None and v > 0
    assert s.answer("v_theo", f"{v:.5g} NL").code == "correct"


def test_replay_a_day_from_the_store(db_url: str) -> None:
    from h2quarters.store.store import Store

    st = Store(db_url)
    ids = st.ensure_signals([("el_power_kw", "kW"), ("tank_pressure_bar", "bar")])
    t0 = int(pd.Timestamp("2025-06-16T08:00", tz="Europe/Berlin").timestamp() * 1000)
    batches = [(t0 + k * 60_000, [(ids["el_power_kw"], 1.0 + 0.01 * k, 0),
                                  (ids["tank_pressure_bar"], 60.0 + 0.1 * k, 0)]) for k in range(120)]
    st.write_measurements(batches)
    before = st.count_measurements()
    st.close()
    p = ReplayPlant.from_store(db_url, "2025-06-16", bucket_s=60)
    p.seek("2025-06-16T08:30")
    assert p.true_value("el_power_kw") == pytest.approx(1.3)
    assert p.true_value("tank_pressure_bar") == pytest.approx(63.0)
    st = Store(db_url)
    assert st.count_measurements() == before  # read only
    st.close()
    with pytest.raises(ValueError, match="no measurements"):
        ReplayPlant.from_store(db_url, "2025-06-20")


def test_documented_instruments_cover_every_measured_signal() -> None:
    from h2quarters.training.catalog import load_catalog

    measured = {s for ex in load_catalog().values() for m in ex.measurements for s in m.signals}
    exact = {"trips_latched", "ventilation_pct"}  # states, not instruments
    assert measured - exact <= set(SENSORS)
