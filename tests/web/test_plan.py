"""The planners' workspace in Debian's Chromium on a real ``dask.distributed`` LocalCluster: a planner copies
Wesertor, sets the electrolyser to 9.6 kW (a bad value first: the inline error), runs a two-week study of four
variants, watches its progress; the server is restarted mid-job (crash: the job shows "interrupted"), resume
completes it; then the planner compares two variants, downloads the XLSX and shares the job with a viewer."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import yaml
from openpyxl import load_workbook

from h2quarters.api.app import create_app
from h2quarters.api.auth import add_user
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.plc.registers import load_register_map
from h2quarters.store import Store
from tests.conftest import log_in

from .conftest import PASSWORD, _free_port


class _Server:
    """The web app over one store; ``restart(crash=True)`` stops it the way a killed process would leave it."""

    def __init__(self, store: Store, scheduler: str) -> None:
        self.store, self.port = store, _free_port()
        self.settings = ControlSettings(db_url=store.url, port=self.port, login_rate_per_min=1000,
                                        jobs_scheduler=scheduler, jobs_nice=0)
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.app = create_app(self.store, SnapshotHub(), load_register_map(), self.settings)
        self.srv = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                 timeout_graceful_shutdown=1))
        self.th = threading.Thread(target=self.srv.run, daemon=True)
        self.th.start()
        t0 = time.monotonic()
        while not self.srv.started:
            assert time.monotonic() - t0 < 20, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self, crash: bool = False) -> None:
        jobs = self.app.state.jobs
        if crash:  # no clean shutdown: the store still says "running", as after kill -9
            self.app.state.jobs = None
            jobs.close(interrupt=False)
        self.srv.should_exit = True
        self.th.join(20)
        if not crash:
            jobs.close()


@pytest.fixture(scope="module")
def plan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    """A LocalCluster with one worker process (as the server starts its own) and the app using it by address, so a
    restarted server finds the same cluster (as with ``jobs_scheduler`` in production).

    Not a worker thread in the test's process: the quarter's code parses Python there (demandlib's
    ``DataFrame.query``, matplotlib's style files), and CPython 3.11's AST constructor is not thread-safe. A parse in
    the test's own thread at the same moment (pytest formatting a failure, the server building a schema) failed
    with "SystemError: AST constructor recursion depth mismatch" and took the pytest worker down with it."""
    from dask.distributed import Client, LocalCluster

    from h2quarters.jobs.runner import warm_workers

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    warm = warm_workers(client, 0)  # as the server does when it starts its own cluster; runs while the planner types
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('plan')}/h2q.db")
    add_user(store, "paula", "planner", PASSWORD)
    add_user(store, "victor", "viewer", PASSWORD)
    s = _Server(store, cluster.scheduler_address)
    yield s
    s.stop()
    del warm
    client.close()
    cluster.close()
    store.close()


@pytest.mark.timeout(600)  # a busy machine: the quarter's first variant loads profiles for a minute
def test_planner_study_restart_resume_compare_download(plan_server: _Server, new_context: Any) -> None:
    url = plan_server.url
    ctx = new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # script errors (refused requests are expected)
    log_in(page, url, "paula", PASSWORD, "/plan")  # planners land on their workspace, not the engineers' HMI
    # copy the shipped Wesertor quarter
    page.click("li[data-id='shipped:wesertor'] button.pl-copy")
    page.wait_for_url(url + "/plan/scenario/*")
    form = page.locator("form.pl-form[data-file='hydrogen-site.yaml']")
    fld = form.locator(".fld[data-path='electrolyser.p_rated_kw']")
    assert fld.locator(".unit").text_content() == "kW"
    assert "> 0" in fld.locator(".rng").text_content()  # the allowed range from the JSON schema
    # a bad value first: the loader's message appears beside the field, nothing is stored
    fld.locator("input").fill("-9,6")
    form.locator("button[type=submit]").click()
    err = fld.locator(".ferr")
    err.wait_for(state="visible")
    assert "-9.6" in err.text_content() and "must be > 0" in err.text_content()
    # then 9.6 kW (German decimal comma accepted)
    fld.locator("input").fill("9,6")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("form.pl-form[data-file='hydrogen-site.yaml'] .pl-msg.ok")
    assert err.text_content() == ""
    sid = page.url.rsplit("/", 1)[1]
    with page.expect_download() as dl:
        page.click(f"a[href='/api/plan/scenarios/{sid}/files/hydrogen-site.yaml']")
    assert yaml.safe_load(open(dl.value.path(), encoding="utf-8").read())["electrolyser"]["p_rated_kw"] == 9.6
    # a two-week study of four variants (2 PV sizes × 2 tank sizes), rule dispatch
    page.select_option("#run-kind", "quarter_study")
    page.fill("#run-start", "2025-06-02")
    page.fill("#run-days", "14")
    page.select_option("#run-dispatch", "rule")
    page.fill("#run-vary-pv_kwp", "60; 99")
    page.fill("#run-vary-tank_kg", "20; 40")
    assert page.text_content("#run-count") == "4"
    page.click("#run-submit")
    page.wait_for_url(url + "/plan/job/*")
    job_url = page.url
    job_id = int(job_url.rsplit("/", 1)[1])
    assert page.locator("#variants tbody tr").count() == 4
    # watch: a variant runs on the Dask worker (live status without reloading)
    page.wait_for_selector("#variants .st-running", timeout=60_000)
    assert page.get_attribute("#job-status", "data-status") == "running"
    # the server dies mid-job and comes back: the job is "interrupted"
    plan_server.stop(crash=True)
    plan_server.start()
    resp = page.goto(job_url)
    assert resp is not None and resp.ok, (resp and resp.status, page.content()[:3000])  # the page, not an error
    assert page.get_attribute("#job-status", "data-status") == "interrupted"
    assert page.text_content("#job-status") == "unterbrochen"
    page.click("#job-resume")
    seen: list[str] = []
    t0 = time.monotonic()
    while page.get_attribute("#job-status", "data-status") != "done" or not page.is_visible("#results"):
        assert time.monotonic() - t0 < 480, f"job not done: {page.text_content('#job-message')}"
        seen.append(page.text_content("#job-count") or "")
        time.sleep(0.3)
    assert seen and any(s != "4 / 4" for s in seen)  # progress was visible while it ran
    assert page.text_content("#job-count") == "4 / 4"
    assert page.locator("#variants .st-done").count() == 4
    # results: KPI table, Pareto plot (SVG, one dot per variant), embedded report
    assert page.locator("#kpi-table thead th").count() == 5
    assert page.locator("#pareto circle.pt").count() == 4
    assert page.locator("#pareto circle.pt.on").count() >= 1
    assert page.get_attribute("#report", "sandbox") == "allow-scripts"
    # the report really renders inside its sandboxed frame (own CSP, framing by this origin allowed)
    page.locator("#report").scroll_into_view_if_needed()
    page.frame_locator("#report").locator("#sec-kpis h2").wait_for(state="visible", timeout=60_000)
    page.locator("#kpi-table").scroll_into_view_if_needed()
    # fractions in per cent with their unit (German page: decimal comma), the API's fraction × 100
    table = page.context.request.get(f"{url}/api/plan/jobs/{job_id}").json()["result"]["table"]
    cells = page.locator("#kpi-table tr[data-kpi='h2system_self_sufficiency'] td.num")
    assert cells.count() == len(table) == 4
    for i, r in enumerate(table):
        txt = cells.nth(i).text_content()
        assert re.fullmatch(r"\d{1,3},\d\u00a0%", txt), txt
        assert float(txt[:-2].replace(",", ".")) == pytest.approx(r["h2system_self_sufficiency"] * 100, abs=0.051)
    # compare two variants picked in the Pareto plot
    page.click("#pareto circle[data-variant='pv_kwp=60__tank_kg=20']")
    page.click("#pareto circle[data-variant='pv_kwp=99__tank_kg=20']")
    page.click("#cmp-go")
    page.wait_for_url(url + "/plan/compare*")
    inputs = page.text_content("#cmp-inputs")
    assert "variant:pv_kwp" in inputs and "variant:tank_kg" not in inputs
    row = page.locator("#cmp-kpis tr[data-kpi='h2_produced_kg'] td")
    a, b, diff = (float(row.nth(i).text_content().replace("\u202f", "").replace(",", ".")) for i in (1, 2, 3))
    assert diff == pytest.approx(b - a, abs=0.02)
    pa, pb, pd = (page.locator("#cmp-kpis tr[data-kpi='h2system_self_sufficiency'] td").nth(i).text_content()
                  for i in (1, 2, 3))
    assert pa.endswith("\u00a0%") and pb.endswith("\u00a0%") and pd.endswith("\u00a0%-Pkt."), (pa, pb, pd)
    pct = [float(t.split("\u00a0")[0].replace(",", ".")) for t in (pa, pb, pd)]
    assert pct[2] == pytest.approx(pct[1] - pct[0], abs=0.11)  # the difference in percentage points
    # the XLSX of the study: four variants with their sizes and KPIs; the settings sheet names the period
    page.goto(job_url)
    with page.expect_download() as dl:
        page.click("#dl-xlsx")
    wb = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read()))
    rows = list(wb["kpis"].iter_rows(values_only=True))
    head = rows[0]
    assert len(rows) == 5 and {"pv_kwp", "tank_kg", "pareto", "lcoh_period_eur_per_kg"} <= set(head)
    assert sorted(r[head.index("pv_kwp")] for r in rows[1:]) == [60, 60, 99, 99]
    settings = dict(r[:2] for r in wb["settings"].iter_rows(values_only=True))
    assert settings["setting start"] == "2025-06-02" and settings["setting end"] == "2025-06-16"
    # share with the viewer, who sees the results but no controls
    page.click("#job-share")
    page.wait_for_selector("#job-share[data-shared=true]")
    ctx2 = new_context(phone=True)
    v = ctx2.new_page()
    log_in(v, url, "victor", PASSWORD, "/cockpit")
    v.goto(url + "/plan?lang=en")
    assert v.locator(f"#jobs tr[data-job='{job_id}']").count() == 1
    assert v.locator("#scenarios").count() == 0
    v.goto(job_url)
    assert v.is_visible("#kpi-table") and v.locator("#job-resume, #job-cancel, #job-share").count() == 0
    en = v.text_content("#kpi-table tr[data-kpi='h2system_self_sufficiency'] td.num")
    assert re.fullmatch(r"\d{1,3}\.\d\u00a0%", en), en  # English page: decimal point
    assert v.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    ctx2.close()
    assert not errors, errors
    ctx.close()


def test_fraction_kpis_are_shown_in_percent() -> None:
    """The planner's pages show fraction-valued KPIs in % (and their differences in percentage points)."""
    from h2quarters.api.routes_plan import _kpi
    from h2quarters.jobs.results import FRACTION_KPIS, HEADLINE

    assert {"self_sufficiency_rate", "h2system_self_sufficiency", "stz_share_met_by_h2"} <= FRACTION_KPIS
    assert FRACTION_KPIS & set(HEADLINE["simulate"]) and FRACTION_KPIS & set(HEADLINE["quarter"])
    assert _kpi(0.742, "self_sufficiency_rate", "de") == "74,2\u00a0%"
    assert _kpi(0.742, "self_sufficiency_rate", "en") == "74.2\u00a0%"
    assert _kpi(-0.0316, "h2system_self_sufficiency", "de", diff=True) == "-3,2\u00a0%-Pkt."
    assert _kpi(0.0316, "h2system_self_sufficiency", "en", diff=True) == "3.2\u00a0pp"
    assert _kpi(1.492, "h2_produced_kg", "de") == "1,49"  # not a fraction: unchanged
    assert _kpi(None, "self_sufficiency_rate", "de") == "–"
