"""Database engines: SQLite (WAL, synchronous=FULL, ``BEGIN IMMEDIATE``) by default, PostgreSQL by URL.

SQLite follows the durable-embedded recipe of the SQLite docs and ``shared/reference/safety-and-security.md``:
write-ahead log, ``synchronous=FULL`` (a committed transaction survives power loss / ``kill -9``) and an explicit
``BEGIN IMMEDIATE`` so a writer takes the write lock at the start of its transaction instead of failing later
with SQLITE_BUSY. Readers use a second engine with deferred transactions: in WAL mode they never block the writer.
pysqlite's own transaction handling is switched off as SQLAlchemy's documentation describes ("Serializable
isolation / Savepoints / Transactional DDL").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> str:
    """Expand ``~`` in SQLite paths, map ``postgresql://`` to the psycopg 3 driver, create SQLite's directory
    (``0700``) and file (``0600``) when missing."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url[len("sqlite:///"):]).expanduser()
        if not path.parent.exists():  # a folder we create is private; an existing one is left as it is
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():  # password hashes and the token secret live here: owner only (WAL/SHM inherit it)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        return f"sqlite:///{path}"
    return url


def _sqlite_pragmas(engine: sa.Engine, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engines(url: str, pool_size: int = 8) -> tuple[sa.Engine, sa.Engine]:
    """(write engine, read engine) for a database URL.

    Parameters
    ----------
    url : str
        ``sqlite:///path.db`` (``~`` allowed) or ``postgresql+psycopg://user:pw@host:port/db``.
    pool_size : int
        Connections kept per engine.

    Raises
    ------
    ValueError
        For an in-memory SQLite URL (not durable, and invisible to other connections) or an unknown dialect.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            raise ValueError(f"db_url = {url!r}: in-memory SQLite is not durable; give a file path")
        w = sa.create_engine(url, pool_size=2, max_overflow=4, pool_pre_ping=False)
        r = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _sqlite_pragmas(w, immediate=True)
        _sqlite_pragmas(r, immediate=False)
        return w, r
    if url.startswith("postgresql"):
        e = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        return e, e
    raise ValueError(f"db_url = {url!r}: supported are sqlite:///<file> and postgresql+psycopg://...")
