"""Store on SQLite and PostgreSQL: durability settings, measurements, resampling, retention, audit, alarms."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from h2quarters.store import Store

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a whole minute


def _fill(store: Store, n: int = 600, dt_ms: int = 1000) -> dict[str, int]:
    ids = store.ensure_signals([("pv_power_kw", "kW"), ("tank_pressure_bar", "bar")])
    batches = []
    for i in range(n):
        t = T0 + i * dt_ms
        # pv: i (so bucket means are known); pressure invalid every 10th cycle
        batches.append((t, [(ids["pv_power_kw"], float(i), 0),
                            (ids["tank_pressure_bar"], None if i % 10 == 0 else 100.0 + i, 2 if i % 10 == 0 else 0)]))
    last = store.write_measurements(batches)
    assert last == T0 + (n - 1) * dt_ms
    return ids


def test_sqlite_is_wal_full_and_begins_immediate(tmp_path: Path) -> None:
    st = Store(f"sqlite:///{tmp_path}/d.db")
    with st.w.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    # BEGIN IMMEDIATE takes the write lock at the start of the transaction: a second writer is refused at once
    with st.w.begin() as c:
        c.execute(sa.text("SELECT 1"))
        other = sqlite3.connect(tmp_path / "d.db", timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    st.close()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="not durable"):
        Store("sqlite:///:memory:")


def test_measurements_keep_invalid_as_null_with_quality(store: Store) -> None:
    ids = _fill(store, n=30)
    h = store.history(["tank_pressure_bar"], T0, T0 + 29_000)["tank_pressure_bar"]
    assert len(h["t_ms"]) == 30
    assert h["value"][0] is None and h["value"][10] is None  # never a stale or zero value
    assert h["value"][1] == pytest.approx(101.0)
    assert store.count_measurements() == 60
    assert store.signal_ids() == ids
    assert store.last_measurement_t_ms() == T0 + 29_000


def test_history_resampling_means(store: Store) -> None:
    _fill(store, n=600)
    h = store.history(["pv_power_kw"], T0, T0 + 599_000, bucket_s=60)["pv_power_kw"]
    assert h["t_ms"] == [T0 + k * 60_000 for k in range(10)]
    # bucket k holds i = 60k … 60k+59: mean 60k + 29.5, min 60k, max 60k+59
    assert h["value"] == pytest.approx([60 * k + 29.5 for k in range(10)])
    assert h["min"] == pytest.approx([60 * k for k in range(10)])
    assert h["max"] == pytest.approx([60 * k + 59 for k in range(10)])
    with pytest.raises(KeyError, match="nope"):
        store.history(["nope"], T0, T0 + 1000)
    with pytest.raises(ValueError, match="max_points"):
        store.history(["pv_power_kw"], T0, T0 + 599_000, max_points=100)


def test_downsampling_moves_old_data_without_changing_minute_means(store: Store) -> None:
    _fill(store, n=600)
    before = store.history(["pv_power_kw", "tank_pressure_bar"], T0, T0 + 599_000, bucket_s=60)
    removed = store.downsample(T0 + 300_000 + 30_000)  # cut floors to the minute: 5 whole minutes
    assert removed == 2 * 300
    assert store.count_measurements() == 2 * 300
    after = store.history(["pv_power_kw", "tank_pressure_bar"], T0, T0 + 599_000, bucket_s=60)
    for n in before:
        assert after[n]["t_ms"] == before[n]["t_ms"]
        assert np.allclose(after[n]["value"], before[n]["value"])
        assert np.allclose(after[n]["min"], before[n]["min"])
        assert np.allclose(after[n]["max"], before[n]["max"])
    # 15-min resampling over the downsampled part uses the stored counts (weighted mean = plain mean of i)
    h = store.history(["pv_power_kw"], T0, T0 + 599_000, bucket_s=900)["pv_power_kw"]
    assert h["value"][0] == pytest.approx(np.mean(np.arange(600)))
    assert store.downsample(T0 + 330_000) == 0  # idempotent


def test_command_audit_result_idempotency_and_unknown(store: Store) -> None:
    created, rec = store.audit_command("cmd-00000001", "erika", "engineer", "api", "setpoint",
                                       "el_production_rate_pct", 42.5)
    assert created and rec.status == "pending"
    store.record_result("cmd-00000001", "ok", "written")
    again, rec2 = store.audit_command("cmd-00000001", "erika", "engineer", "api", "setpoint",
                                      "el_production_rate_pct", 99.0)
    assert not again and rec2.duplicate and rec2.value == 42.5 and rec2.status == "ok"
    # audited but never finished (crash between audit and result): unknown after restart, never lost
    store.audit_command("cmd-00000002", "erika", "engineer", "api", "mode", "mode", "manual")
    assert store.get_command("cmd-00000002").status == "pending"
    assert store.mark_unknown() == 1
    assert store.get_command("cmd-00000002").status == "unknown"
    assert store.mark_unknown() == 0
    log = store.audit_log()
    assert [r.command_id for r in log][:2] == ["cmd-00000002", "cmd-00000001"] or len(log) == 2
    assert {r.status for r in log} == {"ok", "unknown"}
    with pytest.raises(ValueError, match="status"):
        store.record_result("cmd-00000001", "pending")


def test_alarm_lifecycle(store: Store) -> None:
    a = store.raise_alarm("link_lost", "alarm", "PLC link lost")
    assert a is not None
    assert store.raise_alarm("link_lost", "alarm", "again") is None  # one open alarm per code
    assert store.open_alarm_codes() == {"link_lost"}
    assert store.clear_alarm("link_lost") == 1
    assert store.open_alarm_codes() == set()
    assert [x["alarm_id"] for x in store.alarms(active_only=True)] == [a]  # cleared but not acknowledged
    assert store.ack_alarm(a, "erika") and not store.ack_alarm(a, "erika")
    assert store.alarms(active_only=True) == []
    b = store.raise_alarm("link_lost", "alarm", "lost again")
    assert b is not None and b != a


def test_users_and_meta(store: Store) -> None:
    store.add_user("erika", "engineer", "hash")
    with pytest.raises(ValueError, match="exists"):
        store.add_user("erika", "viewer", "x")
    assert store.get_user("erika")["role"] == "engineer"
    assert store.count_users() == 1
    assert store.set_meta_if_absent("k", "v1") == "v1"
    assert store.set_meta_if_absent("k", "v2") == "v1"


def test_plan_and_forecast_roundtrip(store: Store) -> None:
    pid = store.save_plan(T0, 900, "optimal", 0.2, {"ely_p_el_kw": [0.0, 1.5], "tank_m_end_kg": [3.0, 3.1]})
    p = store.latest_plan()
    assert p["plan_id"] == pid and p["n_steps"] == 2 and p["data"]["ely_p_el_kw"] == [0.0, 1.5]
    store.save_forecast(T0, 900, "clearsky-blend", [1.0, 2.0, float("nan")], 0.5)
    f = store.latest_forecast()
    assert f["pv_kw"][:2] == [1.0, 2.0] and f["persistence_kw"] == 0.5
    assert len(store.forecasts_between(0, 2**62)) == 1
