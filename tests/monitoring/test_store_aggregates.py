"""Daily/monthly energy aggregates, hand values and catalogue versions on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from h2quarters.config import ConfigError
from h2quarters.monitoring import aggregates as A
from h2quarters.monitoring import entries as E
from h2quarters.monitoring.catalogue import DEFAULT_CATALOGUE
from h2quarters.monitoring.energy import ENERGY_SIGNALS
from h2quarters.store import Store
from h2quarters.store import schema as S


def _minutes(store: Store, name: str, d0: dt.date, d1: dt.date, value: float) -> int:
    sid = store.signal_ids()[name]
    t0, t1 = A.local_midnight_ms(d0), A.local_midnight_ms(d1)
    rows = [{"signal_id": sid, "t_ms": t, "mean": value, "min": value, "max": value, "n_good": 60, "n": 60}
            for t in range(t0, t1, 60_000)]
    with store.w.begin() as c:
        c.execute(S.measurements_1min.insert(), rows)
    return len(rows)


@pytest.fixture
def store(db_url: str) -> Store:
    st = Store(db_url)
    st.ensure_signals([(n, "") for n in ENERGY_SIGNALS])
    yield st
    st.close()


def test_daily_sums_follow_local_days_across_dst_and_include_raw(store: Store) -> None:
    d = dt.date
    # 6 kW PV every minute of 28 and 29 March 2026; the 29th has 23 local hours (summer time starts)
    n = _minutes(store, "pv_power_kw", d(2026, 3, 28), d(2026, 3, 30), 6.0)
    assert n == (24 + 23) * 60
    _minutes(store, "load_power_kw", d(2026, 3, 28), d(2026, 3, 29), 3.0)
    # el_health: NORMAL (0) for the 28th, MAINTENANCE (4) during the first 90 minutes of the 29th
    _minutes(store, "el_health", d(2026, 3, 28), d(2026, 3, 29), 0.0)
    sid_h = store.signal_ids()["el_health"]
    t29 = A.local_midnight_ms(d(2026, 3, 29))
    with store.w.begin() as c:
        c.execute(S.measurements_1min.insert(), [
            {"signal_id": sid_h, "t_ms": t29 + i * 60_000, "mean": 4.0 if i < 90 else 0.0, "min": 0.0,
             "max": 4.0 if i < 90 else 0.0, "n_good": 60, "n": 60} for i in range(600)])
    # raw 1-s data of 30 March 12:00 local (not downsampled yet): 60 kW for one minute, one bad sample ignored
    sid = store.signal_ids()["pv_power_kw"]
    t_noon = A.local_midnight_ms(d(2026, 3, 30)) + 12 * 3_600_000
    store.write_measurements([(t_noon + i * 1000, [(sid, 60.0, 0)]) for i in range(60)]
                             + [(t_noon + 60_500, [(sid, 999.0, 2)])])
    res = A.refresh(store, now_ms=t_noon + 3_600_000)
    assert res.from_day == d(2026, 3, 28)
    days = A.daily_sums(store, d(2026, 3, 28), d(2026, 3, 31))
    assert days[d(2026, 3, 28)].pv_kwh == pytest.approx(6.0 * 24)
    assert days[d(2026, 3, 29)].pv_kwh == pytest.approx(6.0 * 23)
    assert days[d(2026, 3, 30)].pv_kwh == pytest.approx(60.0 / 60)
    assert days[d(2026, 3, 28)].consumption_kwh == pytest.approx(3.0 * 24)
    assert (days[d(2026, 3, 29)].el_minutes, days[d(2026, 3, 29)].el_normal_minutes) == (600, 510)
    # the month is the sum of its days; ratios over it come from the summed energies
    march = A.monthly_sums(store, 202603, 202603)[202603]
    assert march.pv_kwh == pytest.approx(144 + 138 + 1)
    period = A.period_sums(store, d(2026, 3, 28), d(2026, 3, 30))
    assert period.pv_kwh == pytest.approx(282.0)
    assert period.window_minutes == 47 * 60 and period.pv_minutes == 47 * 60
    assert A.newest_data_ms(store) == t_noon + 59_000


def test_refresh_is_incremental_and_idempotent(store: Store) -> None:
    d = dt.date
    _minutes(store, "pv_power_kw", d(2026, 6, 1), d(2026, 6, 3), 2.0)
    now = A.local_midnight_ms(d(2026, 6, 3)) - 1
    A.refresh(store, now_ms=now)
    A.refresh(store, now_ms=now)  # twice: same result, no duplicate keys
    assert A.period_sums(store, d(2026, 6, 1), d(2026, 6, 3)).pv_kwh == pytest.approx(2.0 * 48)
    # new data for the next days arrives: only the open day onwards is recomputed
    _minutes(store, "pv_power_kw", d(2026, 6, 3), d(2026, 7, 2), 1.0)
    res = A.refresh(store, now_ms=A.local_midnight_ms(d(2026, 7, 2)) - 1)
    assert res.from_day == d(2026, 6, 2)
    months = A.monthly_sums(store, 202606, 202607)
    assert months[202606].pv_kwh == pytest.approx(2.0 * 48 + 1.0 * 28 * 24)
    assert months[202607].pv_kwh == pytest.approx(24.0)
    full = A.refresh(store, now_ms=A.local_midnight_ms(d(2026, 7, 2)) - 1, full=True)
    assert full.from_day == d(2026, 6, 1)
    assert A.monthly_sums(store, 202606, 202606)[202606].pv_kwh == pytest.approx(2.0 * 48 + 28 * 24)


def test_hand_values_are_audited_validated_and_corrected_by_superseding(store: Store) -> None:
    cat, _ = E.sync_catalogue(store)
    t = A.local_midnight_ms(dt.date(2026, 5, 10)) + 3_600_000
    e1 = E.add_value(store, cat, "public_reporting", dt.date(2026, 5, 2), 3, "3 press articles", "clara", "city",
                     t_ms=t)
    E.add_value(store, cat, "public_reporting", dt.date(2025, 4, 1), 5, "old", "clara", "city", t_ms=t)
    assert (e1.user_name, e1.role, e1.t_entered_ms) == ("clara", "city", t)
    k = cat.kpi("public_reporting")
    got = E.values(store, ["public_reporting"])
    # trailing 365 days as of 10 May 2026: the April 2025 entry is outside the window
    assert E.value_as_of(got, k, dt.date(2026, 5, 10)) == (3.0, t)
    fix = E.add_value(store, cat, "public_reporting", dt.date(2026, 5, 2), 4, "4 articles, one missed",
                      "dora", "admin", supersedes=e1.value_id, t_ms=t + 1000)
    live = E.values(store, ["public_reporting"])
    assert E.value_as_of(live, k, dt.date(2026, 5, 10))[0] == 4.0
    everything = E.values(store, ["public_reporting"], include_superseded=True)
    assert {(e.user_name, e.value) for e in everything} >= {("clara", 3.0), ("dora", 4.0)}
    assert fix.supersedes == e1.value_id
    with pytest.raises(ValueError, match=r"value = 7.*allowed 1 … 5 stage"):
        E.add_value(store, cat, "maturity_data", dt.date(2026, 5, 2), 7, "because", "clara", "city", t_ms=t)
    with pytest.raises(ValueError, match="needs a reason"):
        E.add_value(store, cat, "maturity_data", dt.date(2026, 5, 2), 3, "", "clara", "city", t_ms=t)
    with pytest.raises(ValueError, match="in the future"):
        E.add_value(store, cat, "public_reporting", dt.date(2026, 5, 11), 1, "", "clara", "city", t_ms=t)
    with pytest.raises(ValueError, match="only manual and counted"):
        E.add_value(store, cat, "pv_yield", dt.date(2026, 5, 1), 1, "", "clara", "city", t_ms=t)
    with pytest.raises(ValueError, match="supersedes = 99999"):
        E.add_value(store, cat, "public_reporting", dt.date(2026, 5, 1), 1, "", "clara", "city", supersedes=99999,
                    t_ms=t)
    assert len(E.values(store, ["public_reporting"], include_superseded=True)) == 3  # nothing half-written
    E.add_value(store, cat, "maturity_data", dt.date(2026, 1, 15), 2, "open data portal planned", "clara", "city",
                t_ms=t)
    E.add_value(store, cat, "maturity_data", dt.date(2026, 4, 15), 3, "portal live", "clara", "city", t_ms=t)
    m = E.values(store, ["maturity_data"])
    assert E.value_as_of(m, cat.kpi("maturity_data"), dt.date(2026, 3, 1))[0] == 2.0
    assert E.value_as_of(m, cat.kpi("maturity_data"), dt.date(2026, 5, 1))[0] == 3.0


def test_catalogue_changes_are_versioned_with_who_and_when(store: Store) -> None:
    cat, v1 = E.sync_catalogue(store)
    assert E.sync_catalogue(store)[1] == v1  # same package: no new version
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8").replace("value: 130}", "value: 140}", 1)
    cat2, v2 = E.upload_catalogue(store, text, "dora", "H2 target raised")
    assert v2 > v1 and cat2.kpi("h2_produced").target.value == 140
    assert E.active_catalogue(store)[0].kpi("h2_produced").target.value == 140
    with pytest.raises(ConfigError, match="better"):
        E.upload_catalogue(store, text.replace("value: 140}", "value: -5}", 1), "dora")
    hist = E.catalogue_versions(store)
    assert [(h["user_name"], h["origin"]) for h in hist] == [("dora", "upload"), ("package", "package")]
    assert E.sync_catalogue(store)[1] == v2  # a restart keeps the uploaded version active
