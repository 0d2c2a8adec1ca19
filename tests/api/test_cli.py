"""``h2q user add`` and the first-run administrator (no default password)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from h2quarters.api.auth import TokenService, ensure_admin
from h2quarters.cli import app
from h2quarters.store import Store


def test_user_add_hashes_with_argon2_and_checks_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/u.db"
    r = CliRunner().invoke(app, ["user", "add", "erika", "--role", "engineer", "--db", url, "--password-stdin"],
                           input="a-long-password-1\n")
    assert r.exit_code == 0, r.output
    st = Store(url)
    u = st.get_user("erika")
    assert u["role"] == "engineer" and u["pw_hash"].startswith("$argon2id$")
    assert TokenService(st).login("erika", "a-long-password-1") is not None
    assert TokenService(st).login("erika", "wrong-password-1") is None
    st.close()
    for args, inp, msg in ((["bob", "--role", "wizard"], "a-long-password-1\n", "role 'wizard' unknown"),
                           (["bob", "--role", "viewer"], "short\n", "at least 10"),
                           (["erika", "--role", "viewer"], "a-long-password-1\n", "exists")):
        r = CliRunner().invoke(app, ["user", "add", *args, "--db", url, "--password-stdin"], input=inp)
        assert r.exit_code == 2 and msg in r.output


def test_first_run_creates_admin_once_with_random_password(tmp_path: Path) -> None:
    st = Store(f"sqlite:///{tmp_path}/a.db")
    pw = ensure_admin(st)
    assert pw is not None and len(pw) >= 16
    assert ensure_admin(st) is None  # never again, never a default
    assert TokenService(st).login("admin", pw)["role"] == "admin"
    other = ensure_admin(Store(f"sqlite:///{tmp_path}/b.db"))
    assert other is not None and other != pw
    st.close()


def test_user_set_disables_changes_role_deletes_and_guards_last_admin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/u.db"
    st = Store(url)
    pw = ensure_admin(st)
    assert pw is not None
    svc = TokenService(st)
    tok, _ = svc.issue({"name": "admin", "role": "admin"})
    r = CliRunner().invoke(app, ["user", "add", "erika", "--role", "engineer", "--db", url, "--password-stdin"],
                           input="a-long-password-1\n")
    assert r.exit_code == 0
    inv = lambda *a: CliRunner().invoke(app, ["user", "set", *a, "--db", url])  # noqa: E731
    r = inv("admin", "--disable")
    assert r.exit_code == 2 and "last active admin" in r.output
    assert inv("erika", "--role", "viewer").exit_code == 0 and st.get_user("erika")["role"] == "viewer"
    assert inv("erika", "--disable").exit_code == 0 and not st.get_user("erika")["active"]
    assert inv("nobody", "--disable").exit_code == 2
    assert inv("erika", "--delete").exit_code == 0 and st.get_user("erika") is None
    r = CliRunner().invoke(app, ["user", "list", "--db", url])
    assert r.exit_code == 0 and "admin" in r.output and "erika" not in r.output
    # a new server's session table no longer holds revoked sessions: the token is refused
    assert svc.verify(tok) is not None
    st.revoke_sessions(user_name="admin")
    assert TokenService(st).verify(tok) is None
    st.close()
