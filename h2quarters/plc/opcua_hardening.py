"""Hooks into asyncua's server that the library does not offer as settings.

- Sessions only over offered endpoints: asyncua keeps a SecurityPolicy None channel open for discovery
  (GetEndpoints) and would let CreateSession/ActivateSession through it even when only Basic256Sha256
  Sign&Encrypt is offered, so a user name and password could cross the wire in clear. Here both requests are
  refused with BadSecurityPolicyRejected on any channel whose policy and mode the server does not offer.
- Login rate limit per client address (failed ActivateSession), answered BadUserAccessDenied while locked out.
- The user of the request being served, for role checks in the write and call services (a context variable set
  around each request, since asyncua's method service does not receive the user).
- Republish answers BadSubscriptionIdInvalid / BadMessageNotAvailable instead of an empty Good message (node-opcua
  otherwise re-asks forever after a server restart), and subscription ids start at a random offset so that a
  restarted server does not hand out ids a client still holds.
- Sessions of users whose rights were revoked in the users file (removed, role lowered, password changed) are
  closed with their subscriptions (:meth:`HardenedServer.close_sessions`), so nothing more is published to them.
- Client certificate trust list: only certificates whose SHA-256 fingerprint is in the trust directory (or listed
  explicitly) may open a secure channel; the directory is read on each new channel, so ``h2q plc trust`` takes
  effect without a restart.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import socket
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

log = logging.getLogger(__name__)

CURRENT_USER: contextvars.ContextVar[User | None] = contextvars.ContextVar("h2q_opcua_user", default=None)

_SESSION_REQUESTS = {
    ua.NodeId(ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary),
    ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary),
}
_ACTIVATE = ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary)


class LoginLimiter:
    """At most ``max_failures`` failed logins per client address within ``window_s``; then refused until it ages.

    Parameters
    ----------
    max_failures : int
        Failed logins allowed per window.
    window_s : float
        Sliding window in seconds.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, peer: str) -> deque[float]:
        q = self._failures.setdefault(peer, deque())
        now = self.clock()
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def locked(self, peer: str) -> bool:
        """True while ``peer`` has used up its failed logins."""
        return len(self._recent(peer)) >= self.max_failures

    def failed(self, peer: str) -> None:
        """Count one failed login of ``peer``."""
        self._recent(peer).append(self.clock())


def fingerprint(cert_der: bytes) -> str:
    """SHA-256 fingerprint (hex) of a DER certificate."""
    c = x509.load_der_x509_certificate(cert_der)
    return c.fingerprint(hashes.SHA256()).hex()


def _read_cert(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in raw:
            return x509.load_pem_x509_certificate(raw).public_bytes(serialization.Encoding.DER)
        x509.load_der_x509_certificate(raw)
        return raw
    except (OSError, ValueError):
        return None


def trusted_fingerprints(trust_dir: Path | None, extra: Iterable[Path] = ()) -> set[str]:
    """Fingerprints of the certificates (``*.der``, ``*.pem``, ``*.crt``) in ``trust_dir`` and ``extra``."""
    paths: list[Path] = list(extra)
    if trust_dir is not None and trust_dir.expanduser().is_dir():
        paths += [p for p in trust_dir.expanduser().iterdir() if p.suffix in (".der", ".pem", ".crt")]
    out = set()
    for p in paths:
        der = _read_cert(p.expanduser())
        if der is not None:
            out.add(fingerprint(der))
    return out


def make_trust_validator(trust_dir: Path | None, extra: Iterable[Path] = ()) -> Callable[..., Any]:
    """asyncua certificate validator accepting only trusted client certificates (BadCertificateUntrusted)."""
    extra = list(extra)

    async def validate(cert: x509.Certificate, app_description: ua.ApplicationDescription) -> None:
        fp = cert.fingerprint(hashes.SHA256()).hex()
        if fp not in trusted_fingerprints(trust_dir, extra):
            log.warning("OPC UA client certificate %s (%s) is not trusted; trust it with `h2q plc trust`",
                        fp[:16], getattr(app_description, "ApplicationUri", "?"))
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

    return validate


class _GuardedProtocol(OPCUAProtocol):
    """Per-connection protocol whose request processing is wrapped by :class:`HardenedServer` checks."""

    owner: HardenedServer

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        proc = self.processor
        if proc is None:  # refused (max connections)
            return
        inner = proc._process_message
        owner = self.owner
        peer = str(self.peer_name[0]) if self.peer_name else "?"

        async def guarded(typeid: ua.NodeId, requesthdr: Any, seqhdr: Any, body: Any) -> Any:
            if typeid in _SESSION_REQUESTS:
                pol = proc._connection.security_policy
                if not owner.offers(pol.URI, pol.Mode):
                    log.warning("OPC UA %s from %s refused: channel %s/%s is not an offered endpoint",
                                "ActivateSession" if typeid == _ACTIVATE else "CreateSession", peer,
                                pol.URI.rsplit("#", 1)[-1], ua.MessageSecurityMode(pol.Mode).name)
                    raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
                if typeid == _ACTIVATE:
                    if owner.limiter.locked(peer):
                        raise ServiceError(ua.StatusCodes.BadUserAccessDenied)
                    try:
                        result = await inner(typeid, requesthdr, seqhdr, body)
                    except (ServiceError, ua.UaStatusCodeError) as exc:
                        if getattr(exc, "code", None) in (ua.StatusCodes.BadUserAccessDenied,
                                                          ua.StatusCodes.BadIdentityTokenInvalid):
                            owner.limiter.failed(peer)
                        raise
                    if proc.session is not None and proc.session.is_activated():
                        owner.sessions.add(proc.session)
                    return result
            token = CURRENT_USER.set(proc.session.user if proc.session is not None else None)
            try:
                return await inner(typeid, requesthdr, seqhdr, body)
            finally:
                CURRENT_USER.reset(token)

        proc._process_message = guarded  # type: ignore[method-assign]


class _GuardedBinaryServer(BinaryServer):
    owner: HardenedServer

    def _make_protocol(self) -> OPCUAProtocol:
        proto = _GuardedProtocol(iserver=self.iserver, policies=self._policies, clients=self.clients,
                                 closing_tasks=self.closing_tasks, limits=self.limits)
        proto.owner = self.owner
        return proto


class HardenedServer(Server):
    """asyncua :class:`Server` with the checks described in the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = LoginLimiter()
        # activated client sessions, for closing those of revoked users (asyncua keeps a session with
        # subscriptions alive past its connection, so the connections alone do not reach them all)
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    async def close_sessions(self, names: set[str]) -> int:
        """Close the sessions of the users ``names`` with their subscriptions, and drop their connections
        (the clients see the channel closed). Returns the number of sessions closed."""
        doomed = [s for s in list(self.sessions)
                  if s.is_activated() and getattr(s.user, "name", None) in names]
        for session in doomed:
            await session.close_session(True)  # deletes its subscriptions: nothing more is published to it
        for proto in list(getattr(self.bserver, "clients", None) or []):
            proc = proto.processor
            if proc is not None and proc.session in doomed and proto.transport is not None:
                proto.transport.close()
        if doomed:
            log.warning("OPC UA: closed %d session(s) of %s: rights revoked in the users file", len(doomed),
                        ", ".join(sorted(names)))
        return len(doomed)

    def offers(self, uri: str, mode: ua.MessageSecurityMode) -> bool:
        """True if an offered endpoint has this security policy URI and mode."""
        return any(f.matches(uri, mode) for f in self._policies)

    async def start(self) -> None:
        """As :meth:`asyncua.Server.start`, with the guarded binary server, Republish status codes and random
        subscription ids."""
        if self.iserver.certificate is not None:
            from asyncua.crypto import uacrypto

            uacrypto.check_certificate(self.iserver.certificate, self._application_uri, socket.gethostname())
        await self._setup_server_nodes()
        await self.iserver.start()
        _fix_subscriptions(self.iserver.subscription_service)
        try:
            host, port = self._get_bind_socket_info()
            self.bserver = _GuardedBinaryServer(self.iserver, host, port, self.limits)
            self.bserver.owner = self
            self.bserver.set_policies(self._policies)
            await self.bserver.start()
        except Exception:
            await self.iserver.stop()
            raise


def _fix_subscriptions(service: Any) -> None:
    """Republish status codes and subscription ids that do not repeat across restarts."""
    service._sub_id_counter = secrets.randbelow(2**30) + 1000

    def republish(params: ua.RepublishParameters) -> ua.NotificationMessage:
        sub = service.subscriptions.get(params.SubscriptionId)
        if sub is None:
            raise ServiceError(ua.StatusCodes.BadSubscriptionIdInvalid)
        result = sub._not_acknowledged_results.pop(params.RetransmitSequenceNumber, None)
        if result is None:
            raise ServiceError(ua.StatusCodes.BadMessageNotAvailable)
        return result.NotificationMessage

    service.republish = republish
