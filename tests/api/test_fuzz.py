"""Schemathesis against a live server on loopback: no 5xx and no schema violation on generated input.

Every operation of the OpenAPI document (except the endless live stream and logout, which would end the fuzzer's
own session) gets positive and negative examples, sent by an engineer-admin over real HTTP to uvicorn on
127.0.0.1. Checks: schemathesis' defaults (not a server error, status code, content type, response headers and
body conform to the document, negative data rejected, schema-valid data accepted — except where fields are
checked together, see ``CROSS_FIELD_OPS``). The total is counted: at least 2,000 requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings

from h2quarters.api.app import create_app
from h2quarters.api.auth import ROLES
from h2quarters.control.runtime import Runtime
from h2quarters.store import Store

from .conftest import plc_settings, settings_for, wait_for

EXAMPLES = 56
"""Examples per operation and mode (positive, negative): 18 × 2 × 56 + the slow ones ≈ 2,100 requests."""
SLOW = {("POST", "/api/users"), ("POST", "/api/auth/password"), ("POST", "/api/auth/login"),
        ("POST", "/api/auth/token")}
"""Operations that hash or verify a password with argon2 (slow on purpose): fewer examples."""
CROSS_FIELD_OPS = {"/api/history", "/api/forecast/errors", "/api/audit", "/api/setpoints", "/api/kpi/catalogue",
                   "/api/kpi/values", "/api/kpi/energy", "/api/kpi/export", "/api/kpi/report.pdf",
                   "/api/plan/scenarios/{sid}", "/api/plan/scenarios/{sid}/files/{file}", "/api/plan/jobs"}
"""Operations whose fields are checked together (a time range's two ends; a setpoint's value against the range of
the named signal; an entered KPI value against its KPI's unit and range; a period's date against its kind: 2026-11 for a month, 2026-Q3 for a quarter) or whose body is a document validated by its
own schema (the KPI catalogue's YAML; a planner's scenario file or form edits, validated by the shared loader; a
job's period against the scenario's year): a schema-valid request may get the documented 422."""
COUNT = {"requests": 0, "server_errors": 0}
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, scenario: Any, pw_hash: str) -> Iterator[dict[str, Any]]:
    db = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/h2q.db"
    store = Store(db)
    for r in ROLES:
        store.add_user(f"{r}1", r, pw_hash)
    from .test_instances import _free_port

    s = settings_for(db, port=_free_port(), login_rate_per_min=30)
    rt = Runtime(s, scenario, store=store, planner=False, plc_settings=plc_settings(s)).start()
    wait_for(lambda: rt.hub.latest()[1].get("mode") == "manual", 30, "controller in MANUAL")
    app = create_app(store, rt.hub, rt.rmap, s, controller=rt.controller, scenario=rt.scenario, web=False)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=s.port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not srv.started:
        assert time.monotonic() - t0 < 20
        time.sleep(0.05)
    tok = app.state.ctx.tokens.issue({"name": "admin1", "role": "admin"})[0]
    yield {"url": f"http://127.0.0.1:{s.port}", "token": tok}
    srv.should_exit = True
    th.join(10)
    rt.stop()


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
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            n = 12 if (op.method.upper(), op.path) in SLOW else EXAMPLES
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
