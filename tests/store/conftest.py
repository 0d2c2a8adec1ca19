"""Store fixtures: every test runs against SQLite (WAL file) and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from h2quarters.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store on an empty database."""
    st = Store(db_url)
    yield st
    st.close()
