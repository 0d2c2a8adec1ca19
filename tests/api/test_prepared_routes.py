"""A new app answers its first requests without building validators: ``create_app`` prepares every route, so a
restarted server does no pydantic schema work in a request (where it ran beside the process's other threads), and
building them parses no Python source (``ast.parse`` is not thread-safe in CPython 3.11: a restarted test server's
first page failed with "AST constructor recursion depth mismatch" while an in-process Dask worker was busy)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pydantic
import pytest
from fastapi.testclient import TestClient

from h2quarters.api.app import create_app
from h2quarters.api.auth import add_user
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.registers import load_register_map
from h2quarters.store import Store

from .conftest import PASSWORD


def test_first_requests_build_no_validators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite:///{tmp_path}/h2q.db")
    add_user(store, "erika", "engineer", PASSWORD)
    settings = ControlSettings(db_url=store.url, port=0, login_rate_per_min=1000)
    built: list[str] = []
    orig = pydantic.TypeAdapter.__init__

    def counting(self: Any, type_: Any, *a: Any, **k: Any) -> None:
        built.append(repr(type_)[:80])
        orig(self, type_, *a, **k)

    parsed: list[int] = []
    orig_parse = ast.parse

    def counting_parse(source: Any, *a: Any, **k: Any) -> Any:
        parsed.append(len(source))
        return orig_parse(source, *a, **k)

    monkeypatch.setattr(pydantic.TypeAdapter, "__init__", counting)
    monkeypatch.setattr(ast, "parse", counting_parse)
    app = create_app(store, SnapshotHub(), load_register_map(), settings)
    assert len(built) > 20  # the routes' validators are built here, with the app
    built.clear()
    with TestClient(app) as c:
        assert c.get("/api/health").json()["status"] == "ok"
        r = c.post("/api/auth/token", data={"username": "erika", "password": PASSWORD})  # a form body
        assert r.status_code == 200, r.text
        tok = r.json()["access_token"]
        assert c.get("/api/state", headers={"Authorization": f"Bearer {tok}"}).status_code in (200, 503)
        bad = c.post("/api/auth/login", json={"username": "erika"})  # validation still works: names the field
        assert bad.status_code == 422 and "password" in bad.text
        assert c.get("/login").status_code == 200
    assert built == [], built
    assert parsed == []  # no source was parsed for the schemas (attribute docstrings would: 10 parses)
    store.close()
