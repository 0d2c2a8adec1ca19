"""Fixtures shared across the test tree: one private PostgreSQL server per session (Debian's binaries, started
by the tests themselves), a ``db_url`` parametrised over SQLite and PostgreSQL, and Debian's Chromium through
Playwright (one browser per test module, ``new_context`` makes its desktop and phone contexts)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from h2quarters.store.pgserver import TemporaryPostgres

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TemporaryPostgres]:
    """One private PostgreSQL server (Debian binaries) for the session."""
    with TemporaryPostgres() as pg:
        yield pg


def fresh_pg_url(pg: TemporaryPostgres) -> str:
    """A new empty database on the test server."""
    name = "t_" + uuid.uuid4().hex[:12]
    eng = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()
    return pg.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/h2q.db"
    return fresh_pg_url(request.getfixturevalue("pg_server"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (never a downloaded browser), one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def new_context(browser: Any) -> Callable[..., Any]:
    """Factory of browser contexts: ``new_context()`` is a desktop (1366 × 900), ``new_context(phone=True)`` a
    phone (390 × 844), ``width=`` any other width (phone height below 500 px). Downloads are accepted.
    ``bypass_csp=True`` only where a test waits with ``wait_for_function`` (Playwright evaluates those as strings,
    which the pages' CSP forbids); tests that check the CSP itself keep the default."""

    def make(phone: bool = False, *, width: int | None = None, bypass_csp: bool = False) -> Any:
        size = dict(PHONE if phone else DESKTOP) if width is None else \
            {"width": width, "height": DESKTOP["height"] if width > 500 else PHONE["height"]}
        return browser.new_context(viewport=size, bypass_csp=bypass_csp, accept_downloads=True)

    return make


def log_in(page: Any, url: str, user: str, password: str, landing: str) -> Any:
    """Log ``user`` in through the login form on ``page`` and wait for the role's landing page (``landing``, a
    path); returns the page."""
    page.goto(url + "/login")
    page.fill("#login-name", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_url(url + landing)
    return page
