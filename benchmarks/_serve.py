"""Start and stop ``h2q serve`` for the benchmarks that measure a running server, log in and measure the control
loop's idle baseline (not a benchmark itself)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
H2Q = str(Path(sys.executable).parent / "h2q")


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(args: list[str]) -> tuple[subprocess.Popen[str], str | None]:
    """Run ``h2q serve *args`` from the project root and wait until it listens.

    Parameters
    ----------
    args : list of str
        Options after ``serve`` (port, database, config ...). Without ``--data-dir`` the server gets a fresh
        one of its own: a benchmark never meets the plant state (or the lock) of the user's instance.

    Returns
    -------
    (process, password)
        The server process and the one-time admin password it printed (None if the database had an admin).
    """
    if "--data-dir" not in args:
        args = [*args, "--data-dir", tempfile.mkdtemp(prefix="h2q-bench-data-")]
    srv = subprocess.Popen([H2Q, "serve", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    assert srv.stdout is not None
    pw = None
    for line in srv.stdout:
        m = re.search(r"password: (\S+)", line)
        pw = m.group(1) if m else pw
        if line.startswith("Open http"):
            break
    else:
        raise RuntimeError(f"h2q serve exited with {srv.wait()} before it listened")
    threading.Thread(target=srv.stdout.read, daemon=True).start()  # keep its pipe drained
    return srv, pw


def stop(srv: subprocess.Popen[str], timeout_s: float = 20.0) -> None:
    """Stop the server as Ctrl-C would; kill it if it has not ended after ``timeout_s``."""
    srv.send_signal(signal.SIGINT)
    try:
        srv.wait(timeout_s)
    except subprocess.TimeoutExpired:
        srv.kill()


def login(c: Any, password: str | None, name: str = "admin") -> tuple[str, dict[str, str]]:
    """Log in on the server of ``c`` (an ``httpx.Client`` with its ``base_url``).

    Returns
    -------
    (token, headers)
        The session token and the ``Authorization`` header that carries it. The session cookie the login also
        sets is dropped, so every later call says by its header who makes it.
    """
    r = c.post("/api/auth/login", json={"name": name, "password": password})
    if r.status_code != 200:
        raise RuntimeError(f"login as {name!r} refused: {r.status_code} {r.text[:200]}")
    c.cookies.clear()
    tok = r.json()["access_token"]
    return tok, {"Authorization": f"Bearer {tok}"}


def loop_stats(c: Any, headers: dict[str, str], seconds: float, wait: bool = False) -> dict[str, Any]:
    """The control loop's cycle statistics (``/api/loop``) over the last ``seconds``; with ``wait`` the server is
    left alone for that long first (the idle baseline a benchmark compares its loaded figures with)."""
    if wait:
        time.sleep(seconds)
    return c.get(f"/api/loop?last={int(seconds)}", headers=headers).json()
