"""The KPI cockpit in Debian's Chromium: the city's user logs in, drills level 4 → 3 → 2 → 1 → KPI detail,
switches the language and downloads CSV, XLSX and the quarterly PDF, whose contents are checked."""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from openpyxl import load_workbook

from h2quarters.api.app import create_app
from h2quarters.config import load_scenario
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.monitoring.cockpit import Cockpit, simulate_site_kpis
from h2quarters.plc.registers import load_register_map
from tests.conftest import log_in
from tests.monitoring.conftest import PASSWORD, seeded_store

from .conftest import SCENARIO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cockpit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """uvicorn serving the app over a store with synthetic history; the forecast simulation runs first."""
    # the forecast to the target year comes from the annual simulation: run it while the store is seeded
    sim: dict[str, Any] = {}
    scenario = load_scenario(SCENARIO)
    th_sim = threading.Thread(target=lambda: sim.update(simulate_site_kpis(scenario)))
    th_sim.start()
    store = seeded_store(tmp_path_factory.mktemp("cockpit") / "h2q.db")
    port = _free_port()
    app = create_app(store, SnapshotHub(), load_register_map(),
                     ControlSettings(db_url=store.url, port=port, login_rate_per_min=1000), scenario=scenario)
    app.state.cockpit = ck = Cockpit(store, scenario)
    th_sim.join(300)
    assert sim, "annual simulation failed"
    ck.use_simulation(sim)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        timeout_graceful_shutdown=1))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not srv.started:
        assert time.monotonic() - t0 < 20, "uvicorn did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "store": store, "cockpit": ck}
    srv.should_exit = True
    th.join(10)
    store.close()


def _pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True,
                          timeout=60).stdout.decode("utf-8")


def test_city_user_drills_down_switches_language_and_downloads(cockpit_server: dict[str, Any],
                                                               new_context: Any) -> None:
    url = cockpit_server["url"]
    ctx = new_context()
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(url + "/")
    page.wait_for_url(url + "/login")  # the root asks for a login
    log_in(page, url, "clara", PASSWORD, "/cockpit")  # the city's staff land on the cockpit, not the HMI
    assert page.text_content("h1") == "Gesamtsicht"
    assert page.locator("svg.tacho").count() == 6  # three target pictures, three transfer dimensions
    # level 4 → 3 (tachometer of the target picture) → 2 (its measures) → 1 (the measure's dashboard)
    page.click("#tp-umweltgerecht")
    page.wait_for_url(url + "/cockpit/tp/umweltgerecht")
    assert "umweltgerecht" in page.text_content("h1")
    page.click("#m-h2lab")
    page.wait_for_url(url + "/cockpit/measure/h2lab")
    for g in ("content", "organisation", "participation", "data"):
        assert page.is_visible(f"#group-{g}")
    page.click("#kpi-self_sufficiency")
    page.wait_for_url(url + "/cockpit/kpi/self_sufficiency")
    assert page.text_content("#kpi-title") == "Autarkiegrad"
    assert "Jahressimulation" in page.text_content("#kpi-forecast")
    assert page.locator("svg.series polyline").count() >= 3  # actual, target path, baseline
    value_de = page.text_content("#kpi-value")
    # English
    page.click("a.ck-lang[data-lang=en]")
    page.wait_for_url(url + "/cockpit/kpi/self_sufficiency?lang=en")
    assert page.text_content("#kpi-title") == "Self-sufficiency"
    assert "annual simulation" in page.text_content("#kpi-forecast")
    value_en = page.text_content("#kpi-value")
    assert "," in value_de and "." not in value_de  # German decimal comma (one decimal)
    assert value_en == value_de.replace(",", ".")
    assert page.locator("svg.series text", has_text="%").count() >= 1  # the value axis names its unit
    # downloads of this view and the quarterly report
    with page.expect_download() as dl:
        page.click("#exp-csv")
    rows = list(csv.reader(io.StringIO(open(dl.value.path(), encoding="utf-8-sig").read())))
    assert rows[0] == ["date", "value", "target", "baseline", "unit"]
    series = [r for r in rows[1:] if len(r) == 5]
    assert len(series) == 24 and series[-1][4] == "%"
    assert float(series[-1][1]) == pytest.approx(float(value_en), abs=0.051)  # page shows 1 decimal
    with page.expect_download() as dl:
        page.click("#exp-xlsx")
    assert dl.value.suggested_filename == "h2q-kpi-self_sufficiency.xlsx"
    wb = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read()))
    xrows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert xrows[0] == ("date", "value", "target", "baseline", "unit")
    assert xrows[-1][1] == pytest.approx(float(series[-1][1]), rel=1e-3)
    with page.expect_download() as dl:
        page.click("#exp-pdf")
    assert dl.value.suggested_filename.endswith("-en.pdf")
    text = _pdftotext(open(dl.value.path(), "rb").read())
    assert "KPI quarterly report" in text and "Self-sufficiency" in text and "Hydrogen application lab" in text
    # a hand value through the form: stored with who and when, shown in the log and on the measure's dashboard
    page.click("#nav-entry")
    page.wait_for_url(url + "/cockpit/entry")
    page.select_option("#entry-kpi", "persons_organisations_reached")
    page.fill("#entry-value", "250")
    page.fill("#entry-reason", "open day, 250 visitors")
    page.click("#entry-submit")
    page.wait_for_selector("#entry-log td:has-text('open day, 250 visitors')")
    assert "clara (city)" in page.text_content("#entry-log tbody tr")
    page.fill("#entry-value", "-5")
    page.click("#entry-submit")
    page.wait_for_selector("#entry-msg.err")
    assert "value = -5" in page.text_content("#entry-msg")  # refused with the field, value and range
    page.goto(url + "/cockpit/measure/h2lab")
    assert "250" in page.text_content("#kpi-persons_organisations_reached")
    assert not [p for p in problems if "Content Security Policy" in p], problems
    ctx.close()


def test_cockpit_fits_a_phone_in_both_languages(cockpit_server: dict[str, Any], new_context: Any) -> None:
    """At 390 px no cockpit page scrolls sideways: wide charts and tables scroll inside their own card."""
    url = cockpit_server["url"]
    ctx = new_context(phone=True)
    page = ctx.new_page()
    log_in(page, url, "clara", PASSWORD, "/cockpit")
    wide = []
    for lang in ("de", "en"):
        for path in ("/cockpit", "/cockpit/tp/umweltgerecht", "/cockpit/measure/h2lab",
                     "/cockpit/kpi/self_sufficiency", "/cockpit/energy", "/cockpit/entry"):
            page.goto(f"{url}{path}?lang={lang}")
            w = page.evaluate("document.documentElement.scrollWidth")
            if w > 390:
                wide.append((lang, path, w))
    ctx.close()
    assert not wide, wide


def test_cockpit_texts_exist_in_both_languages() -> None:
    import json
    import re

    from h2quarters.web import WEB_DIR

    de, en = (json.loads((WEB_DIR / "static" / "i18n" / "cockpit" / f"{lg}.json").read_text(encoding="utf-8"))
              for lg in ("de", "en"))
    assert set(de) == set(en) and all(v.strip() for v in [*de.values(), *en.values()])
    used: set[str] = set()
    for p in (WEB_DIR / "templates").glob("cockpit*.html"):
        used |= set(re.findall(r'T\["([a-z0-9_.]+)"\]', p.read_text(encoding="utf-8")))
    assert used and not sorted(used - set(de))
    # dynamic keys: groups, sources, frequencies, colours, trends and roles the pages compose
    for prefix, names in (("group.", ("content", "organisation", "participation", "data")),
                          ("source.", ("measured", "simulated", "counted", "manual")),
                          ("freq.", ("daily", "weekly", "monthly", "quarterly", "yearly")),
                          ("colour.", ("red", "yellow", "green", "grey")),
                          ("trend.", ("up", "down", "flat", "none")), ("period.", ("day", "month", "year")),
                          ("role.", ("admin", "engineer", "planner", "teacher", "student", "viewer", "city"))):
        assert all(prefix + n in de for n in names), prefix
