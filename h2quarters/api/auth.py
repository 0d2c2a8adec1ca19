"""Users, roles and sessions: argon2 password hashes (pwdlib) and signed JWTs (PyJWT, HS256).

Roles and what they may do (``PERMISSIONS``); only engineers and admins command the plant:

========== ====== ====== ========= ======= ====== ========= =============
role       read   audit  command   replan  users  kpi_enter kpi_catalogue
========== ====== ====== ========= ======= ====== ========= =============
admin      yes    yes    yes       yes     yes    yes       yes
engineer   yes    yes    yes       yes     no     no        no
planner    yes    yes    no        yes     no     no        no
teacher    yes    yes    no        no      no     yes       no
student    yes    no     no        no      no     no        no
viewer     yes    no     no        no      no     no        no
city       yes    no     no        no      no     yes       no
========== ====== ====== ========= ======= ====== ========= =============

``city`` is the staff of the city / Stadtkonzern: they read the KPI cockpit and enter hand values (press articles,
open days, reach, maturity stages); ``kpi_enter`` is audited in ``kpi_values``.

("command" covers mode changes, setpoints, SAFE acknowledgement, lease refresh and alarm acknowledgement.)
There is no default password: the first ``h2q serve`` on an empty database creates ``admin`` with a random
password printed once (:func:`ensure_admin`).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from pwdlib import PasswordHash

from h2quarters.store import Store

ROLES = ("admin", "engineer", "teacher", "student", "planner", "viewer", "city")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "audit": frozenset({"admin", "engineer", "planner", "teacher"}),
    "command": frozenset({"admin", "engineer"}),
    "replan": frozenset({"admin", "engineer", "planner"}),
    "users": frozenset({"admin"}),
    "kpi_enter": frozenset({"admin", "teacher", "city"}),
    "kpi_catalogue": frozenset({"admin"}),
}
JWT_ALGORITHM = "HS256"
MIN_PASSWORD_LEN = 10
_hasher = PasswordHash.recommended()  # argon2id with pwdlib's recommended parameters


def hash_password(password: str) -> str:
    """Argon2id hash of a password (ValueError if shorter than ``MIN_PASSWORD_LEN``)."""
    if len(password) < MIN_PASSWORD_LEN:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LEN} characters (got {len(password)})")
    return _hasher.hash(password)


def verify_password(password: str, pw_hash: str) -> bool:
    """Check a password against its hash (constant time in pwdlib/argon2)."""
    try:
        return _hasher.verify(password, pw_hash)
    except Exception:  # noqa: BLE001 - malformed hash = no access
        return False


def check_role(role: str) -> str:
    """Return ``role`` or raise ValueError naming the allowed roles."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} unknown; allowed: {', '.join(ROLES)}")
    return role


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create a user with an argon2 hash (errors name the problem: name taken, role, short password)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"user name {name!r}: 1..64 letters, digits, '-', '_' or '.'")
    store.add_user(name, check_role(role), hash_password(password))


def ensure_admin(store: Store) -> str | None:
    """On an empty user table create ``admin`` with a random password and return it (else None)."""
    if store.count_users() > 0:
        return None
    pw = secrets.token_urlsafe(15)
    try:
        add_user(store, "admin", "admin", pw)
    except ValueError:  # created concurrently
        return None
    return pw


@dataclass(frozen=True)
class Principal:
    """An authenticated user."""

    name: str
    role: str

    def can(self, permission: str) -> bool:
        """Whether the role holds ``permission``."""
        return self.role in PERMISSIONS[permission]


class TokenService:
    """Issue and verify session tokens; the signing secret lives in the store (created once, random)."""

    def __init__(self, store: Store, ttl_s: int = 8 * 3600) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.secret = store.set_meta_if_absent("jwt_secret", secrets.token_urlsafe(48))
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def issue(self, user: dict[str, Any]) -> tuple[str, int]:
        """(token, expiry as Unix seconds)."""
        now = int(time.time())
        exp = now + self.ttl_s
        tok = jwt.encode({"sub": user["name"], "role": user["role"], "iat": now, "exp": exp,
                          "jti": secrets.token_hex(8)}, self.secret, algorithm=JWT_ALGORITHM)
        return tok, exp

    def _user(self, name: str) -> dict[str, Any] | None:
        # short cache: a disabled user or changed role takes effect within 5 s without a DB hit per request
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
            if hit and now - hit[0] < 5.0:
                return hit[1]
        u = self.store.get_user(name)
        with self._lock:
            self._cache[name] = (now, u)
        return u

    def verify(self, token: str) -> Principal | None:
        """Principal of a valid token whose user still exists, is active and has the same role; else None."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.PyJWTError:
            return None
        u = self._user(str(claims["sub"]))
        if u is None or not u.get("active", True) or u["role"] != claims.get("role"):
            return None
        return Principal(u["name"], u["role"])

    def login(self, name: str, password: str) -> dict[str, Any] | None:
        """User row if the password is right (the hash is checked even for unknown users: same timing)."""
        u = self.store.get_user(name)
        if u is None:
            verify_password(password, _DUMMY_HASH)
            return None
        if not u.get("active", True) or not verify_password(password, u["pw_hash"]):
            return None
        return u


_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(4))
