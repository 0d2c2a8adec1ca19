"""OPC UA security profile of the virtual PLC: users with scrypt password hashes, self-signed certificates.

Production mode offers only Basic256Sha256 Sign&Encrypt and user-name authentication; there are no default users or
passwords: ``h2q plc add-user`` writes the users file. Certificates are created on first start
(:func:`ensure_server_certificate`) with asyncua's helper (RSA 2048, SHA-256, one year).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt hash of a password as ``scrypt$n$r$p$salt_hex$hash_hex`` (RFC 7914 parameters n=2^14, r=8, p=1)."""
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    salt = salt or os.urandom(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${dk.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against :func:`hash_password` output."""
    try:
        algo, n, r, p, salt_hex, hash_hex = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    dk = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), dklen=len(hash_hex) // 2,
                        n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(dk.hex(), hash_hex)


ROLES = ("viewer", "operator", "instructor", "admin")
"""OPC UA roles, each including the rights of the ones before it: viewer reads; operator writes setpoints and
starts/stops; instructor injects and clears faults; admin changes configuration (Enapter configuration
transaction, reboot, maintenance, non-plant nodes)."""

log = logging.getLogger(__name__)

_DUMMY_HASH = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def role_rank(role: str | None) -> int:
    """Position of a role in :data:`ROLES` (-1 for none/unknown)."""
    return ROLES.index(role) if role in ROLES else -1


def load_users(path: Path) -> dict[str, dict[str, str]]:
    """Users file: ``{users: {name: {password: <scrypt hash>, role: viewer|operator|instructor|admin}}}``."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    users = data.get("users") or {}
    for name, entry in users.items():
        if not isinstance(entry, dict) or "password" not in entry:
            raise ValueError(f"users file {path}: user {name!r} needs a 'password' hash")
        if entry.get("role", "operator") not in ROLES:
            raise ValueError(f"users file {path}: user {name!r} role {entry.get('role')!r}; allowed {', '.join(ROLES)}")
    return users


def add_user(path: Path, name: str, password: str, role: str = "operator") -> None:
    """Add or replace a user in the users file (created with mode 0600)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} unknown; allowed: {', '.join(ROLES)}")
    users = load_users(path) if path.exists() else {}
    users[name] = {"password": hash_password(password), "role": role}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        yaml.safe_dump({"users": users}, fh)
    tmp.replace(path)


class PasswordUserManager(UserManager):
    """asyncua user manager: user name + password from the users file, nothing else (no anonymous).

    With ``path`` the file is read again when it changes (checked at most once per ``recheck_s``), so removing a
    user or lowering a role takes effect on open sessions without a restart: ``on_revoke`` is called with the
    names of the users who lost rights (removed, role lowered, password changed; every user if the file no longer
    loads), and the server closes their sessions and subscriptions. A file that no longer loads leaves no users
    (every request refused) rather than the old ones.
    """

    def __init__(self, users: dict[str, dict[str, str]], path: Path | None = None, recheck_s: float = 1.0,
                 on_revoke: Callable[[set[str]], None] | None = None) -> None:
        self._users = users
        self._path = path
        self.recheck_s = recheck_s
        self.on_revoke = on_revoke
        self._checked = time.monotonic()
        self._mtime = self._stat()

    def _stat(self) -> int | None:
        try:
            return self._path.stat().st_mtime_ns if self._path is not None else None
        except OSError:
            return None

    def refresh(self) -> set[str]:
        """Re-read the users file if it changed (at most once per ``recheck_s``); the names whose rights were
        revoked by the change (also passed to ``on_revoke``)."""
        if self._path is None or time.monotonic() - self._checked < self.recheck_s:
            return set()
        self._checked = time.monotonic()
        mtime = self._stat()
        if mtime == self._mtime:
            return set()
        self._mtime = mtime
        old = self._users
        try:
            self._users = load_users(self._path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.error("OPC UA users file unreadable, refusing every user until it is fixed: %s", exc)
            self._users = {}
        revoked = {name for name, entry in old.items() if _lost_rights(entry, self._users.get(name))}
        if revoked and self.on_revoke is not None:
            self.on_revoke(revoked)
        return revoked

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        self.refresh()
        entry = self._users.get(username or "")
        # an unknown user costs the same scrypt run as a known one (no user enumeration by timing)
        ok = verify_password(password or "", entry["password"] if entry else _DUMMY_HASH)
        if entry is None or password is None or not ok:
            return None
        return User(role=UserRole.Admin if entry.get("role") == "admin" else UserRole.User, name=username)

    def role(self, username: str | None) -> str | None:
        """Role of a user of the file (None if unknown, e.g. removed since the session began)."""
        self.refresh()
        entry = self._users.get(username or "")
        return entry.get("role", "operator") if entry else None


def _lost_rights(old: dict[str, str], new: dict[str, str] | None) -> bool:
    """True if a users-file change removed the user, lowered the role or changed the password."""
    if new is None or new.get("password") != old.get("password"):
        return True
    return role_rank(new.get("role", "operator")) < role_rank(old.get("role", "operator"))


async def ensure_server_certificate(cert_dir: Path, application_uri: str) -> tuple[Path, Path]:
    """Create the server key and certificate in ``cert_dir`` on first start; return (cert, key) paths."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert_dir = cert_dir.expanduser()
    cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = cert_dir / "server_cert.der", cert_dir / "server_key.pem"
    await setup_self_signed_certificate(key, cert, application_uri, socket.gethostname(),
                                        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                                        {"countryName": "DE", "organizationName": "h2quarters",
                                         "commonName": "h2quarters virtual PLC"})
    os.chmod(key, 0o600)
    return cert, key


async def ensure_client_certificate(cert_dir: Path, application_uri: str) -> tuple[Path, Path]:
    """Create a client key and certificate (for drivers and the CLI) in ``cert_dir`` if missing."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert_dir = cert_dir.expanduser()
    cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = cert_dir / "client_cert.der", cert_dir / "client_key.pem"
    await setup_self_signed_certificate(key, cert, application_uri, socket.gethostname(),
                                        [ExtendedKeyUsageOID.CLIENT_AUTH],
                                        {"countryName": "DE", "organizationName": "h2quarters",
                                         "commonName": "h2quarters client"})
    os.chmod(key, 0o600)
    return cert, key
