"""Schemathesis against a live server on loopback: no 5xx and no schema violation on generated input.

Every operation of the OpenAPI document (except the endless live stream and logout, which would end the fuzzer's
own session) gets positive and negative examples, sent by an engineer-admin over real HTTP to uvicorn on
127.0.0.1, in a process of its own. Checks: schemathesis' defaults (not a server error, status code, content type, response headers and
body conform to the document, negative data rejected, schema-valid data accepted — except where fields are
checked together, see ``CROSS_FIELD_OPS``). The total is counted: at least 2,000 requests, spread
evenly over the operations.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings

from h2quarters.api.app import create_app
from h2quarters.api.auth import ROLES
from h2quarters.control.runtime import Runtime
from h2quarters.monitoring.cockpit import Cockpit
from h2quarters.store import Store

from .conftest import plc_settings, settings_for, wait_for

TARGET = 2200
"""Requests in all: spread evenly over the operations and modes still to run (an operation whose inputs run out
early, or that has nothing to make invalid, leaves its share to the next ones)."""
MIN_EXAMPLES = 12
SLOW = {("POST", "/api/users"), ("POST", "/api/auth/password"), ("POST", "/api/auth/login"),
        ("POST", "/api/auth/token"), ("POST", "/api/lab/lessons")}
"""Operations that hash or verify a password with argon2 (slow on purpose) or build exercise plants (a lesson's
groups): fewer examples."""
CROSS_FIELD_OPS = {"/api/history", "/api/forecast/errors", "/api/audit", "/api/setpoints", "/api/kpi/catalogue",
                   "/api/kpi/values", "/api/kpi/energy", "/api/kpi/export", "/api/kpi/report.pdf",
                   "/api/lab/lessons", "/api/lab/lessons/{lesson_id}/faults",
                   "/api/plan/scenarios/{sid}", "/api/plan/scenarios/{sid}/files/{file}", "/api/plan/jobs"}
"""Operations whose fields are checked together (a time range's two ends; a setpoint's value against the range of
the named signal; an entered KPI value against its KPI's unit and range; a period's date against its kind: 2026-11
for a month, 2026-Q3 for a quarter) or whose body is a document validated by its own schema (the KPI catalogue's
YAML; a lesson's group names, which must differ; a fault's choice, kind, target and value against the lesson's
exercises and the PLC's fault catalogue; a planner's scenario file or form edits, validated by the shared loader; a
job's period against the scenario's year): a schema-valid request may get the documented 422."""
COUNT = {"requests": 0, "server_errors": 0}
TIMES: dict[str, float] = {}


def _serve(db: str, port: int, pw_hash: str, conn: Any) -> None:
    """Child process: a runtime in MANUAL and uvicorn on ``port``; sends an admin token, serves until SIGTERM."""
    from .conftest import SCENARIO

    from h2quarters.config import load_scenario

    store = Store(db)
    for r in ROLES:
        store.add_user(f"{r}1", r, pw_hash)
    s = settings_for(db, port=port, login_rate_per_min=30)
    rt = Runtime(s, load_scenario(SCENARIO), store=store, planner=False, plc_settings=plc_settings(s)).start()
    try:
        wait_for(lambda: rt.hub.latest()[1].get("mode") == "manual", 60, "controller in MANUAL")
        app = create_app(store, rt.hub, rt.rmap, s, controller=rt.controller, scenario=rt.scenario, web=False)
        # the cockpit's annual simulation up front, in this process: the KPI routes see their forecasts from the
        # first request, and no grandchild process outlives a killed server
        app.state.cockpit = Cockpit(store, rt.scenario)
        app.state.cockpit.start_simulation(wait=True)
        conn.send(app.state.ctx.tokens.issue({"name": "admin1", "role": "admin"})[0])
        uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()
    finally:
        rt.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, pw_hash: str) -> Iterator[dict[str, Any]]:
    """The server in its own process: the fuzzer's generation and the server's work use both cores."""
    from .test_instances import _free_port

    db = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/h2q.db"
    port = _free_port()
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded test process
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(db, port, pw_hash, child), daemon=True)
    proc.start()
    try:
        assert parent.poll(120), "fuzz server did not start within 120 s"
        tok = parent.recv()
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), 30, "fuzz server listening")
        yield {"url": url, "token": tok}
    finally:
        proc.terminate()  # uvicorn exits on SIGTERM, then the runtime stops
        proc.join(20)
        if proc.is_alive():
            proc.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/api/openapi.json", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def api_schema(live_server: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_url(live_server["url"] + "/api/openapi.json").exclude(
        path_regex=r"^/api/(stream|auth/logout)$")


def test_api_fuzz(api_schema: Any, live_server: dict[str, Any]) -> None:
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis.specs.openapi.checks import positive_data_acceptance
    from schemathesis import GenerationMode

    failures: list[str] = []
    hdr = {"Authorization": "Bearer " + live_server["token"]}
    ops = [r.ok() for r in api_schema.get_all_operations()]
    assert len(ops) >= 20
    runs = [(op, mode) for op in ops for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    slow = [(op.method.upper(), op.path) in SLOW for op, _ in runs]
    for i, (op, mode) in enumerate(runs):
        # the share of what is left of TARGET, after the argon2 operations' fixed 12 each
        fast_left = slow[i:].count(False)
        per = math.ceil(max(0, TARGET - COUNT["requests"] - 12 * sum(slow[i:])) / max(1, fast_left))
        n = 12 if slow[i] else max(MIN_EXAMPLES, per)
        excluded = [positive_data_acceptance] if op.path in CROSS_FIELD_OPS else []

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=n, deadline=None, phases=[Phase.generate], database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            COUNT["requests"] += 1
            status = 0
            try:
                resp = case.call(base_url=live_server["url"], headers=hdr, timeout=15)
                status = resp.status_code
                if status >= 500:
                    COUNT["server_errors"] += 1
                case.validate_response(resp, headers=hdr, excluded_checks=excluded)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, report together
                if "(was Authorization)" in str(exc):
                    return  # a negative case without the bearer header: this harness always sends one
                msg = f"{op.method.upper()} {op.path} [{mode}] {status}: {str(exc)[:400]}"
                if len(failures) < 50:
                    failures.append(msg)

        t0 = time.perf_counter()
        n0 = COUNT["requests"]
        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body): no negative cases
            pass
        TIMES[f"{op.method.upper()} {op.path} {mode}"] = time.perf_counter() - t0
        print(f"fuzz {op.method.upper()} {op.path} {mode}: {COUNT['requests'] - n0} requests in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    print(sorted(TIMES.items(), key=lambda kv: -kv[1])[:8], COUNT)
    assert COUNT["server_errors"] == 0, failures
    assert not failures, "\n".join(failures[:20])
    assert COUNT["requests"] >= 2000, COUNT
