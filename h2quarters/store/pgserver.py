"""A throw-away PostgreSQL server from Debian's binaries, for tests and benchmarks.

``initdb`` into a temporary directory, ``pg_ctl start`` on a free port bound to 127.0.0.1 (Unix socket in the same
directory), trust authentication for the local user only. PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` system user (created by the Debian package) through ``runuser``.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)


def pg_bin_dir() -> Path:
    """Directory holding ``initdb`` and ``pg_ctl`` (newest Debian PostgreSQL, or on PATH).

    Raises
    ------
    FileNotFoundError
        With the install command when the server binaries are missing.
    """
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if cands:
        return Path(cands[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found; on Debian run: "
                            "apt-get install -y postgresql   (or: bash scripts/peers/postgresql.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """Start a private PostgreSQL server; ``url`` is a SQLAlchemy psycopg URL to database ``h2q``.

    Examples
    --------
    >>> with TemporaryPostgres() as pg:  # doctest: +SKIP
    ...     store = Store(pg.url)
    """

    def __init__(self) -> None:
        self.bin = pg_bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="h2q-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        self.url = f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/h2q"

    def _run(self, *args: str | Path) -> None:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stdout}\n{res.stderr}")

    def start(self) -> TemporaryPostgres:
        """initdb, start, create database ``h2q``."""
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8")
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=on -c max_connections=200"
        self._run(self.bin / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.dir / "log", "-w", "-t", "60",
                  "start")
        self._run(self.bin / "createdb" if (self.bin / "createdb").exists() else "createdb", "-h", "127.0.0.1",
                  "-p", str(self.port), "-U", self.user, "h2q")
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except Exception as exc:  # noqa: BLE001 - best effort at teardown
            log.warning("stopping the temporary PostgreSQL server failed: %s", exc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
