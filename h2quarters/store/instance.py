"""One server per database: a data directory per instance and an exclusive lock naming its holder.

Two servers writing into one database interleave their histories, collide on keys and mark each other's pending
commands "unknown". The lock prevents that:

- SQLite: ``fcntl.flock`` on ``<database>.lock`` (released by the kernel when the process dies, also on
  ``kill -9``); the file holds the holder's pid, host and start time for the error message.
- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a dedicated connection (released when
  the connection ends); the holder is recorded in the ``meta`` table.

Files are private: the data directory is created ``0700`` and database, WAL and secrets ``0600`` (the
database holds the token secret and password hashes).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DEFAULT_DATA_ROOT = Path("~/.local/share/h2quarters")
PG_LOCK_KEY = 0x48325121  # "H2Q!": the advisory lock id of an h2quarters server
DIR_MODE = 0o700
FILE_MODE = 0o600


class InstanceLocked(RuntimeError):
    """Another server holds the database; the message names it (pid, host, start time)."""


def site_slug(name: str) -> str:
    """Directory-safe name of a site (``"Oskar-von-Miller"`` → ``"oskar-von-miller"``)."""
    s = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return s or "site"


def default_data_dir(site_name: str) -> Path:
    """``~/.local/share/h2quarters/<site>``: one data directory per site by default."""
    return (DEFAULT_DATA_ROOT / site_slug(site_name)).expanduser()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it ``0700``; returns it resolved."""
    path = path.expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path.resolve()


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, with mode ``0600`` (SQLite gives its WAL/SHM files the same mode)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def sqlite_path(url: str) -> Path | None:
    """File of a ``sqlite:///`` URL (None for other databases)."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///"):]).expanduser()


def _holder_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "t_ms": int(time.time() * 1000)}


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another process (no holder information)"
    return f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}"


class InstanceLock:
    """Exclusive lock of one database for the lifetime of a server.

    Parameters
    ----------
    db_url : str
        The server's database URL.

    Examples
    --------
    >>> lock = InstanceLock("sqlite:////tmp/h2q/h2q.db").acquire()  # doctest: +SKIP
    >>> lock.release()  # doctest: +SKIP
    """

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._fd: int | None = None
        self._pg: sa.Connection | None = None
        self._engine: sa.Engine | None = None
        self.holder = _holder_info()

    def acquire(self) -> InstanceLock:
        """Take the lock or raise :class:`InstanceLocked` naming the current holder."""
        path = sqlite_path(self.db_url)
        if path is not None:
            self._acquire_file(Path(str(path) + ".lock"))
        elif self.db_url.startswith(("postgresql", "postgres")):
            self._acquire_pg()
        return self

    def _acquire_file(self, lock_path: Path) -> None:
        private_dir(lock_path.parent)
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
            except (ValueError, OSError):
                info = None
            os.close(fd)
            raise InstanceLocked(f"database {self.db_url} is in use by another h2quarters server "
                                 f"({_describe(info)}; lock file {lock_path}); stop it or choose another "
                                 "--data-dir / --db") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.holder).encode(), 0)
        self._fd = fd

    def _acquire_pg(self) -> None:
        from h2quarters.store.engine import normalise_url

        self._engine = sa.create_engine(normalise_url(self.db_url), poolclass=sa.pool.NullPool)
        conn = self._engine.connect()
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()
        conn.commit()
        if not got:
            info = None
            try:
                raw = conn.execute(sa.text("SELECT value FROM meta WHERE key = 'instance_holder'")).scalar()
                info = json.loads(raw) if raw else None
            except sa.exc.DBAPIError:
                pass
            conn.close()
            self._engine.dispose()
            raise InstanceLocked(f"database {self.db_url.split('@')[-1]} is in use by another h2quarters server "
                                 f"({_describe(info)}); stop it or choose another --db")
        self._pg = conn

    def record_holder(self, store: Any) -> None:
        """Write the holder into the store's ``meta`` table (PostgreSQL's message reads it from there)."""
        store.set_meta("instance_holder", json.dumps(self.holder))

    def release(self) -> None:
        """Release the lock (also happens when the process dies)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._pg is not None:
            try:
                self._pg.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                self._pg.close()
            except sa.exc.DBAPIError:
                pass
            self._pg = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
