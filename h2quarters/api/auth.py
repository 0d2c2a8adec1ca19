"""Users, roles and sessions: argon2 password hashes (pwdlib) and signed JWTs (PyJWT, HS256).

Roles and what they may do (``PERMISSIONS``); only engineers and admins command the plant:

========== ====== ====== ========= ======= ====== ========= ============= ====
role       read   audit  command   replan  users  kpi_enter kpi_catalogue plan
========== ====== ====== ========= ======= ====== ========= ============= ====
admin      yes    yes    yes       yes     yes    yes       yes           yes
engineer   yes    yes    yes       yes     no     no        no            no
planner    yes    yes    no        yes     no     no        no            yes
teacher    yes    yes    no        no      no     yes       no            no
student    yes    no     no        no      no     no        no            no
viewer     yes    no     no        no      no     no        no            no
city       yes    no     no        no      no     yes       no            no
========== ====== ====== ========= ======= ====== ========= ============= ====

``plan`` is the planners' workspace (``/plan``): copy and edit scenarios, run jobs on Dask, share results; every
logged-in role reads shared results.

``lab_teach`` (admin, teacher) runs learning-lab lessons on in-process exercise plants (:mod:`h2quarters.lab`);
learners join a lesson with its code and a pseudonym and get a lesson-scoped token, no account.

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
    "lab_teach": frozenset({"admin", "teacher"}),
    "plan": frozenset({"admin", "planner"}),
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


def _last_admin_guard(store: Store, name: str, u: dict[str, Any], role: str | None, active: bool | None,
                      delete: bool = False) -> None:
    loses = u["role"] == "admin" and u.get("active", True) and (delete or active is False
                                                                 or (role is not None and role != "admin"))
    if loses and store.count_admins() <= 1:
        raise ValueError(f"user {name!r} is the last active admin; create another admin first")


def update_user(store: Store, name: str, role: str | None = None, active: bool | None = None) -> dict[str, Any]:
    """Change a user's role and/or active flag; KeyError if unknown, ValueError for the last active admin."""
    u = store.get_user(name)
    if u is None:
        raise KeyError(name)
    if role is not None:
        check_role(role)
    _last_admin_guard(store, name, u, role, active)
    store.update_user(name, role=role, active=active)
    return {k: v for k, v in (store.get_user(name) or {}).items() if k != "pw_hash"}


def delete_user(store: Store, name: str) -> None:
    """Delete a user; KeyError if unknown, ValueError for the last active admin."""
    u = store.get_user(name)
    if u is None:
        raise KeyError(name)
    _last_admin_guard(store, name, u, None, None, delete=True)
    store.delete_user(name)


def change_password(store: Store, name: str, password: str) -> None:
    """Set a new password (argon2); KeyError if unknown, ValueError if too short."""
    if store.get_user(name) is None:
        raise KeyError(name)
    store.set_password(name, hash_password(password))


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
    """Issue, verify and revoke session tokens.

    Tokens are signed JWTs (the secret lives in the store, created once, random) *and* server-side sessions: each
    token's id (``jti``) is recorded in the ``sessions`` table and held in memory; a token whose session is not
    live is refused. Logout, disabling, deleting a user or changing their role or password revoke at once (one
    server per database, see :mod:`h2quarters.store.instance`, so the in-memory set is authoritative).
    """

    def __init__(self, store: Store, ttl_s: int = 8 * 3600) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.secret = store.set_meta_if_absent("jwt_secret", secrets.token_urlsafe(48))
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._live: dict[str, str] = store.live_sessions(int(time.time() * 1000))

    def issue(self, user: dict[str, Any]) -> tuple[str, int]:
        """(token, expiry as Unix seconds); the session is recorded before the token is handed out."""
        now = int(time.time())
        exp = now + self.ttl_s
        jti = secrets.token_hex(16)
        self.store.add_session(jti, user["name"], now * 1000, exp * 1000)
        with self._lock:
            self._live[jti] = user["name"]
        tok = jwt.encode({"sub": user["name"], "role": user["role"], "iat": now, "exp": exp,
                          "jti": jti}, self.secret, algorithm=JWT_ALGORITHM)
        return tok, exp

    def session_id(self, token: str) -> str | None:
        """The session id of a correctly signed token (expired or not), else None."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=[JWT_ALGORITHM], options={"verify_exp": False})
        except jwt.PyJWTError:
            return None
        return str(claims.get("jti") or "") or None

    def revoke(self, token: str) -> bool:
        """Revoke the session of ``token`` (logout); False if it was not live."""
        sid = self.session_id(token)
        if sid is None:
            return False
        with self._lock:
            live = self._live.pop(sid, None) is not None
        self.store.revoke_sessions(sid=sid)
        return live

    def revoke_user(self, name: str) -> int:
        """Revoke every session of a user and forget the cached user row; returns how many were live."""
        with self._lock:
            gone = [k for k, v in self._live.items() if v == name]
            for k in gone:
                del self._live[k]
            self._cache.pop(name, None)
        self.store.revoke_sessions(user_name=name)
        return len(gone)

    def forget_user(self, name: str) -> None:
        """Drop the cached row of a user (after a change through the API)."""
        with self._lock:
            self._cache.pop(name, None)

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
        with self._lock:
            if self._live.get(str(claims.get("jti"))) != claims["sub"]:
                return None  # logged out, revoked or never issued by this database
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


class LoginGuard:
    """Login throttling per client address *and* per account.

    Per address: at most ``per_ip_per_min`` attempts a minute. Per account: after ``fails`` failed attempts within
    ``lock_s`` the account refuses every login (right password or not) until the window has passed, whatever
    address the attempts come from — behind a proxy one attacker cannot lock out everyone, and a botnet cannot
    spread guesses over addresses.
    """

    def __init__(self, per_ip_per_min: int, fails: int, lock_s: float) -> None:
        from h2quarters.api.limits import RateLimiter

        self.ip = RateLimiter(per_ip_per_min, 60.0)
        self.fails, self.lock_s = fails, lock_s
        self._fail: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def locked_for_s(self, name: str) -> float:
        """Seconds until ``name`` may log in again (0 = not locked)."""
        now = time.monotonic()
        with self._lock:
            q = [t for t in self._fail.get(name, []) if now - t < self.lock_s]
            self._fail[name] = q
            if len(q) >= self.fails:
                return max(self.lock_s - (now - q[-self.fails]), 1.0)
        return 0.0

    def failed(self, name: str) -> None:
        """Count a failed login of ``name``."""
        with self._lock:
            if len(self._fail) > 100_000:  # bounded memory under a flood of made-up names
                self._fail.clear()
            self._fail.setdefault(name, []).append(time.monotonic())

    def succeeded(self, name: str) -> None:
        """Forget the failures of ``name``."""
        with self._lock:
            self._fail.pop(name, None)


_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(4))
