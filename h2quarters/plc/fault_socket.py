"""Local fault channel of the virtual PLC: where its Unix-domain socket lives, and the client side of it.

``h2q plc fault list|inject|clear`` on the machine that runs the virtual PLC does not need OPC UA: importing
asyncua alone takes ≈1 s on Python 3.11, more than the whole command may take (issue #15: ≤ 1 s). The PLC
therefore also listens on a Unix-domain socket (:mod:`h2quarters.plc.fault_channel`), which takes the same
requests as the OPC UA ``Plant.Faults`` methods, with the same user name and password, and runs them through the
same code path. This module is what the CLI imports for it: the standard library only (no asyncua, pydantic,
pandas).

Discovery: the socket of the PLC whose OPC UA server listens on port ``P`` is ``<runtime dir>/plc-<P>.sock``,
where the runtime dir is ``$XDG_RUNTIME_DIR/h2quarters`` if ``XDG_RUNTIME_DIR`` is set, else
``/tmp/h2quarters-<uid>`` (as tmux does); the CLI looks in both. The directory must belong to the user and be closed to others (mode
0700), the socket must belong to the user too; otherwise it is not used. A target counts as local when the
endpoint's host is a loopback address, ``localhost`` or this machine's host name.

Wire format: one JSON object per connection and line (at most :data:`MAX_LINE` bytes), one JSON reply line, then
the PLC closes the connection. Request: ``{"method": "Inject"|"Clear"|"List", "args": [[type, value], ...],
"user": str|null, "password": str|null, "dev": bool}`` (``args`` as for the OPC UA methods). Reply: ``{"result":
..., "warnings": []}`` or ``{"error": "refused"|"mode"|"bad_request"|"busy"|"unreachable", "message": str}``.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
from pathlib import Path
from typing import Any

MAX_LINE = 64 * 1024
"""Longest request line the PLC reads (bytes); a longer one is answered ``bad_request`` and the connection closed."""

TIMEOUT_S = 5.0
"""How long the CLI waits for the PLC's reply (as the OPC UA client's request timeout)."""

NO_SECURE_ENDPOINT = ("the PLC offers no Basic256Sha256 Sign&Encrypt endpoint: it runs in development mode "
                      "(no security); use --dev")
"""Message for a production-mode request (no ``--dev``) to a PLC in development mode, on either path."""

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def runtime_dir() -> Path:
    """Directory of the PLCs' sockets: ``$XDG_RUNTIME_DIR/h2quarters`` or ``/tmp/h2quarters-<uid>``."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "h2quarters" if base else _tmp_dir()


def _tmp_dir() -> Path:
    return Path(f"/tmp/h2quarters-{os.getuid()}")


def socket_path(opcua_port: int, directory: Path | None = None) -> Path:
    """Socket of the PLC whose OPC UA server listens on ``opcua_port``."""
    return (directory or runtime_dir()) / f"plc-{int(opcua_port)}.sock"


def private_dir_problem(directory: Path) -> str | None:
    """Why ``directory`` is not safe for the socket (not ours, open to others, not a directory), or None."""
    try:
        st = directory.lstat()
    except OSError as exc:
        return f"{directory}: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    if st.st_uid != os.getuid():
        return f"{directory} belongs to uid {st.st_uid}, not to uid {os.getuid()}"
    if st.st_mode & 0o077:
        return f"{directory} has mode {stat.S_IMODE(st.st_mode):o}; it must be 700 (closed to other users)"
    return None


def endpoint_port(endpoint: str) -> int | None:
    """OPC UA port of ``endpoint`` if its host is this machine (loopback, ``localhost``, host name), else None."""
    rest = endpoint.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        host, port = rest, "4840"  # the OPC UA default port
    host = host.lower()
    local = host in _LOCAL_HOSTS or host.startswith("127.") or host == socket.gethostname().lower()
    return int(port) if local else None


def find_socket(endpoint: str) -> tuple[Path | None, str]:
    """The local fault socket serving ``endpoint``; ``(path, "")`` or ``(None, why not)``."""
    port = endpoint_port(endpoint)
    if port is None:
        return None, f"{endpoint} is not on this machine"
    why = ""
    # a PLC started without XDG_RUNTIME_DIR (a service, cron) uses the /tmp directory: look there too
    for directory in dict.fromkeys((runtime_dir(), _tmp_dir())):
        path = socket_path(port, directory)
        problem = private_dir_problem(directory)
        if problem is not None:
            why = why or problem
            continue
        try:
            st = path.lstat()
        except OSError:
            why = why or f"no local fault channel at {path}"
            continue
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
            why = why or f"{path} is not a socket of uid {os.getuid()}"
            continue
        return path, ""
    return None, why


def peer_uid(sock: socket.socket) -> int:
    """User id of the process at the other end of a connected Unix-domain socket (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def request(path: Path, req: dict[str, Any], timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Send one request to the PLC at ``path``; its reply, or ``{"error": "unreachable", "message"}``.

    The password is sent only after ``SO_PEERCRED`` showed that the socket is served by this user's process.
    """
    line = json.dumps(req).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(str(path))
            uid = peer_uid(s)
            if uid != os.getuid():
                return {"error": "unreachable", "message": f"{path} is served by uid {uid}, not by uid "
                                                           f"{os.getuid()}; nothing sent"}
            s.sendall(line)
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:  # includes TimeoutError, ConnectionRefusedError (stale socket of a killed PLC)
        return {"error": "unreachable", "message": repr(exc)}
    try:
        reply = json.loads(buf)
    except ValueError:
        return {"error": "unreachable", "message": f"no valid reply from {path} ({len(buf)} bytes)"}
    return reply if isinstance(reply, dict) else {"error": "unreachable", "message": f"reply {reply!r}"}
