"""The server-rendered pages' shared preamble (h2quarters.api.deps): who is sent to /login (or elsewhere), the
language from ``?lang=``, else the ``h2q_lang`` cookie, else German, and the cookie that remembers it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from h2quarters.api.app import create_app
from h2quarters.api.auth import PERMISSIONS, ROLES, hash_password
from h2quarters.api.deps import COOKIE
from h2quarters.config import load_scenario
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.registers import load_register_map
from h2quarters.store import Store

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "oskar-von-miller"
PASSWORD = "correct-horse-battery"
# page → who may see it: None everybody, "login" any logged-in role, else the permission it needs
PAGES = {"/lab/join": None, "/plan": "login", "/cockpit/entry": "login", "/lab": "lab_teach",
         "/plan/scenario/shipped:oskar-von-miller": "plan"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The web app (no plant runtime) on a fresh SQLite store; a session token per role."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('pages')}/h2q.db")
    h = hash_password(PASSWORD)
    for r in ROLES:
        store.add_user(f"{r}1", r, h)
    scenario = load_scenario(SCENARIO)
    app = create_app(store, SnapshotHub(), load_register_map(scenario=scenario),
                     ControlSettings(db_url=store.url, login_rate_per_min=1000), scenario=scenario)
    tokens = {r: app.state.ctx.tokens.issue(store.get_user(f"{r}1"))[0] for r in ROLES}
    with TestClient(app) as c:
        yield c, tokens
    store.close()


def test_pages_send_whoever_may_not_see_them_to_login(site: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = site
    for path, need in PAGES.items():
        c.cookies.clear()
        r = c.get(path, follow_redirects=False)
        if need is None:
            assert r.status_code == 200, path
        else:
            assert (r.status_code, r.headers.get("location")) == (303, "/login"), f"anonymous {path}"
        for role in ROLES:
            c.cookies.set(COOKIE, tokens[role])
            r = c.get(path, follow_redirects=False)
            allowed = need in (None, "login") or role in PERMISSIONS[need]
            if allowed:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), f"{role} {path}"
            else:  # a planner's form for other roles: back to the workspace; a lab page: to the login
                want = "/plan" if need == "plan" else "/login"
                assert (r.status_code, r.headers.get("location")) == (303, want), f"{role} {path}"
    c.cookies.clear()


@pytest.mark.parametrize("path", ["/lab/join", "/plan", "/lab"])
def test_page_language_from_query_then_cookie_then_german(site: tuple[TestClient, dict[str, str]],
                                                          path: str) -> None:
    c, tokens = site

    def lang_of(**kw: str) -> tuple[str, str | None]:
        r = c.get(path, follow_redirects=False, **kw)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text[:200]
        m = re.search(r'<html lang="(\w+)"', r.text)
        assert m is not None
        return m.group(1), r.cookies.get("h2q_lang")

    c.cookies.clear()
    c.cookies.set(COOKIE, tokens["admin"])
    assert lang_of() == ("de", "de")  # nothing said: German, and remembered
    assert lang_of(params={"lang": "en"}) == ("en", "en")
    c.cookies.set("h2q_lang", "en")
    assert lang_of() == ("en", "en")  # the cookie alone
    assert lang_of(params={"lang": "de"}) == ("de", "de")  # the query wins over the cookie
    c.cookies.set("h2q_lang", "fr")
    assert lang_of(params={"lang": "xx"}) == ("de", "de")  # unknown languages: German
    c.cookies.clear()
