"""Fixtures shared across the test tree: one private PostgreSQL server per session (Debian's binaries, started
by the tests themselves) and a ``db_url`` parametrised over SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from h2quarters.store.pgserver import TemporaryPostgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TemporaryPostgres]:
    """One private PostgreSQL server (Debian binaries) for the session."""
    with TemporaryPostgres() as pg:
        yield pg


def fresh_pg_url(pg: TemporaryPostgres) -> str:
    """A new empty database on the test server."""
    name = "t_" + uuid.uuid4().hex[:12]
    eng = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()
    return pg.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/h2q.db"
    return fresh_pg_url(request.getfixturevalue("pg_server"))
