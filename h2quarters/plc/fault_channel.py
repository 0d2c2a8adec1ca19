"""Local fault channel of the virtual PLC: a Unix-domain socket beside its OPC UA server (server side).

Why and the wire format: :mod:`h2quarters.plc.fault_socket`. What it enforces:

- Only processes of the PLC's own user: the socket lives in a directory of mode 0700 that belongs to the user
  (created so; an existing one that is not is refused and the channel not served), the socket has mode 0600, and
  each connection's peer uid (``SO_PEERCRED``) must equal the PLC's uid.
- The same authentication and roles as OPC UA: each request is checked by the OPC UA server's user manager (same
  users file, scrypt with the same work for unknown users, same login rate limit, the peer counted as
  ``unix:<uid>``), then run through the OPC UA method service (role checks, argument checks, the very
  ``Plant.Faults`` methods); in development mode, as on OPC UA, no login is needed.
- One instance per socket: an exclusive ``flock`` on ``plc-<port>.lock``, held while serving (and the file
  removed at stop). A socket left by a
  killed PLC (kill -9) has no lock holder and is replaced; a live one is never taken over (the second PLC runs
  without a local channel and says so).
- Hostile clients: one request line of at most :data:`~h2quarters.plc.fault_socket.MAX_LINE` bytes within
  :data:`READ_TIMEOUT_S`, at most :data:`MAX_CONNECTIONS` at a time (more are answered ``busy``); anything else is
  answered with a clear error and the connection closed. The PLC keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from h2quarters.plc.fault_socket import MAX_LINE, peer_uid, private_dir_problem, runtime_dir, socket_path

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 8
"""Connections served at a time; more are answered ``busy`` at once."""

READ_TIMEOUT_S = 5.0
"""Time a client has to send its request line."""

ARG_TYPES: dict[str, tuple[str, ...]] = {
    "Inject": ("String", "String", "Double", "Boolean"),
    "Clear": ("UInt32",),
    "List": ("Boolean",),
}
"""Argument types of the ``Plant.Faults`` methods (the same as on OPC UA)."""

Handler = Callable[[str | None, str | None, bool, str, list[tuple[str, Any]], str], Awaitable[dict[str, Any]]]


def check_request(req: Any) -> tuple[str | None, str | None, bool, str, list[tuple[str, Any]]]:
    """(user, password, dev, method, args) of a decoded request line. Raises ValueError naming the field."""
    if not isinstance(req, dict):
        raise ValueError(f"request must be a JSON object, not {type(req).__name__}")
    method = req.get("method")
    if method not in ARG_TYPES:
        raise ValueError(f"method {method!r} unknown; allowed: {', '.join(ARG_TYPES)}")
    user, password = req.get("user"), req.get("password")
    for field, val in (("user", user), ("password", password)):
        if val is not None and not isinstance(val, str):
            raise ValueError(f"{field} must be a string or null, not {type(val).__name__}")
    dev = req.get("dev", False)
    if not isinstance(dev, bool):
        raise ValueError(f"dev must be true or false, not {dev!r:.80}")
    args = req.get("args")
    types = ARG_TYPES[method]
    if not isinstance(args, list) or len(args) != len(types):
        raise ValueError(f"args of {method} must be a list of {len(types)} [type, value] pairs ({', '.join(types)})")
    out: list[tuple[str, Any]] = []
    for i, (pair, want) in enumerate(zip(args, types, strict=True)):
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] == want):
            raise ValueError(f"args[{i}] of {method} must be [{want!r}, value], not {pair!r:.80}")
        val = pair[1]
        ok = {"String": isinstance(val, str) and len(val) <= 256,
              "Boolean": isinstance(val, bool),
              "Double": isinstance(val, (int, float)) and not isinstance(val, bool),
              "UInt32": isinstance(val, int) and not isinstance(val, bool) and 0 <= val <= 0xFFFFFFFF}[want]
        if not ok:
            allowed = {"String": "a string of at most 256 characters", "Boolean": "true or false",
                       "Double": "a number (NaN = none)", "UInt32": "an integer in [0, 4294967295]"}[want]
            raise ValueError(f"args[{i}] of {method}: {val!r:.80} is not {allowed}")
        out.append((want, float(val) if want == "Double" else val))
    if method == "Inject" and math.isinf(out[2][1]):
        raise ValueError(f"args[2] of Inject: {out[2][1]} is not a finite number (NaN = none)")
    return user, password, dev, method, out


class FaultChannel:
    """Serve fault requests on ``<runtime dir>/plc-<opcua_port>.sock`` with ``handler``.

    Parameters
    ----------
    handler : callable
        ``await handler(user, password, dev, method, args, peer)`` → reply dict (the OPC UA server's
        :meth:`~h2quarters.plc.opcua_server.OpcUaPlcServer.local_fault_call`).
    opcua_port : int
        Port of the PLC's OPC UA server (names the socket).
    directory : Path, optional
        Socket directory (default :func:`~h2quarters.plc.fault_socket.runtime_dir`).
    uid : int, optional
        The only peer uid served (default: the PLC's own).
    """

    def __init__(self, handler: Handler, opcua_port: int, directory: Path | None = None,
                 uid: int | None = None) -> None:
        self.handler = handler
        self.directory = directory or runtime_dir()
        self.path = socket_path(opcua_port, self.directory)
        self.uid = os.getuid() if uid is None else uid
        self._lock_fd: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._active = 0
        self._inode: int | None = None

    async def start(self) -> bool:
        """Listen; False (with a warning, nothing changed) if the directory is unsafe or a live PLC serves it."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("local fault channel not served: %s", exc)
            return False
        problem = private_dir_problem(self.directory)
        if problem is not None:
            log.warning("local fault channel not served: %s", problem)
            return False
        try:
            fd = self._lock()
        except OSError as exc:  # e.g. the lock path is a symlink (O_NOFOLLOW)
            log.warning("local fault channel not served: %s", exc)
            return False
        if fd is None:
            log.warning("local fault channel not served: %s is served by another live PLC", self.path)
            return False
        self._lock_fd = fd
        with contextlib.suppress(FileNotFoundError):  # left by a PLC that was killed: nobody holds the lock
            self.path.unlink()
            log.info("replaced the stale fault socket %s", self.path)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_LINE)
            os.chmod(self.path, 0o600)  # the 0700 directory keeps others out until then
            self._inode = self.path.stat().st_ino
        except OSError as exc:
            log.warning("local fault channel not served: %s", exc)
            await self.stop()
            return False
        return True

    def _lock(self) -> int | None:
        """Hold an exclusive lock on ``plc-<port>.lock``; its descriptor, or None if a live PLC holds it.

        The file is removed at :meth:`stop` (so that lock files of past ports do not pile up): a lock taken on a file
        that was removed meanwhile is not the lock, hence the check that the path still names the locked file.
        """
        lock = self.path.with_suffix(".lock")
        for _ in range(5):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return None
            try:
                if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # removed by a PLC stopping just now: take the new file
        return None

    async def stop(self) -> None:
        """Stop listening, remove the socket (if still ours) and release the lock."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(OSError):
                if self.path.stat().st_ino == self._inode:
                    self.path.unlink()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):  # removed while still held: see _lock
                self.path.with_suffix(".lock").unlink()
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return self._active

    @property
    def serving(self) -> bool:
        """True while listening."""
        return self._server is not None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._active += 1
        try:
            reply = await self._reply(reader, writer)
            writer.write(json.dumps(reply).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
        except (OSError, TimeoutError):
            pass  # the client went away; nothing to tell it
        except Exception:  # a bug must not take the PLC down: log it, close this connection
            log.exception("local fault channel: request failed")
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _reply(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
        if self._active > MAX_CONNECTIONS:
            return {"error": "busy", "message": f"more than {MAX_CONNECTIONS} connections at a time; try again"}
        uid = peer_uid(writer.get_extra_info("socket"))
        if uid != self.uid:
            log.warning("local fault channel: refused a client of uid %d", uid)
            return {"error": "refused", "message": f"uid {uid} may not use the PLC of uid {self.uid}"}
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
        except TimeoutError:
            return {"error": "bad_request", "message": f"no request line within {READ_TIMEOUT_S:g} s"}
        except ValueError:  # longer than the stream limit
            return {"error": "bad_request", "message": f"request line longer than {MAX_LINE} bytes"}
        try:
            user, password, dev, method, args = check_request(json.loads(line))
        except ValueError as exc:  # includes JSON and UTF-8 decoding errors
            return {"error": "bad_request", "message": str(exc)}
        except RecursionError:
            return {"error": "bad_request", "message": "request nested too deeply"}
        return await self.handler(user, password, dev, method, args, f"unix:{uid}")
