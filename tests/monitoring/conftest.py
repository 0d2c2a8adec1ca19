"""A store with synthetic minute history (this month and the same days a year earlier), users and hand values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from h2quarters.api.auth import hash_password
from h2quarters.monitoring import aggregates as A
from h2quarters.monitoring import entries as E
from h2quarters.monitoring.energy import ENERGY_SIGNALS
from h2quarters.monitoring.synthetic import fill_minutes
from h2quarters.store import Store

PASSWORD = "correct-horse-battery"
USERS = {"clara": "city", "victor": "viewer", "ada": "admin", "stu": "student"}


def seeded_store(path: Path, days: int = 20) -> Store:
    """SQLite store: ``days`` of minutes up to now and the same window a year earlier, aggregates refreshed,
    users of ``USERS`` and a few hand values."""
    st = Store(f"sqlite:///{path}")
    today = dt.datetime.now(A.TZ).date()
    sig = [(n, "") for n in ENERGY_SIGNALS]
    now_min = A.local_midnight_ms(today) + 6 * 3_600_000  # history up to 06:00 today
    for start in (today - dt.timedelta(days=days), (today - dt.timedelta(days=days)).replace(year=today.year - 1)):
        t0 = A.local_midnight_ms(start)
        n = (now_min - A.local_midnight_ms(today - dt.timedelta(days=days))) // 60_000
        fill_minutes(st, sig, t0, n)
    A.refresh(st, full=True)
    h = hash_password(PASSWORD)
    for name, role in USERS.items():
        st.add_user(name, role, h)
    cat, _ = E.sync_catalogue(st)
    E.add_value(st, cat, "public_reporting", today - dt.timedelta(days=20), 4, "4 press articles", "clara", "city")
    E.add_value(st, cat, "maturity_data", today - dt.timedelta(days=10), 3, "open data portal live", "clara", "city")
    return st


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Module-wide seeded store."""
    st = seeded_store(tmp_path_factory.mktemp("kpi") / "h2q.db")
    yield st
    st.close()
