"""The HTML report is self-contained and renders every plot in Chromium (Debian's, via Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from h2quarters.quarter.report import PLOT_IDS, energy_flows_kwh, render_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def test_sankey_flows_balance(week_result) -> None:
    """The electricity node balances: in = out; the hydrogen node too (tank change included)."""
    from h2quarters.quarter.report import ELEC

    links = energy_flows_kwh(week_result)
    for node in (ELEC, "Hydrogen (LHV)"):
        into = sum(v for a, b, v, _ in links if b == node)
        out = sum(v for a, b, v, _ in links if a == node)
        assert into == pytest.approx(out, rel=1e-9), node
    assert any(a == "Hydrogen (LHV)" and b == "Fuel cell" for a, b, *_ in links)


def test_report_renders_all_plots_offline(week_result, tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "run scripts/peers/chromium.sh first"
    from playwright.sync_api import sync_playwright

    path = render_report(week_result, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    # plotly.js is inline: no script or stylesheet is fetched from anywhere
    assert "<script src=" not in text.replace(" ", "") and "<script src" not in text
    assert "<link" not in text
    assert len(text) > 3_000_000  # the plotly.js bundle itself
    external: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))

        def guard(route):
            if route.request.url.startswith("file:") or route.request.url.startswith("data:"):
                route.continue_()
            else:
                external.append(route.request.url)
                route.abort()
        page.route("**/*", guard)
        page.goto(path.as_uri())
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(PLOT_IDS)}",
                               timeout=60_000)
        for pid in PLOT_IDS:
            div = page.locator(f"#plot-{pid}")
            assert div.count() == 1, pid
            assert div.locator(".main-svg").count() >= 1, f"plot {pid} not drawn"
            box = div.bounding_box()
            assert box is not None and box["height"] > 200, pid
        assert page.locator("#plot-sankey .sankey-node").count() >= 10
        assert page.locator("#plot-grid-heatmap .hm, #plot-grid-heatmap image").count() >= 1
        assert page.locator("table.kpi tr").count() >= 15
        assert page.text_content("#sec-monthly h3.plot") == "Monthly balances"  # titles are headings (they wrap)
        wide = page.evaluate("(document.querySelector('#plot-monthly').layout.legend || {}).orientation || 'v'")
        # a phone: legends move under their plots, no plot draws over the next section, nothing scrolls sideways
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_function("(document.querySelector('#plot-monthly').layout.legend || {}).orientation === 'h'",
                               timeout=10_000)
        page.wait_for_timeout(500)
        for pid in PLOT_IDS:
            sec = page.locator(f"#sec-{pid}").bounding_box()
            svg = page.locator(f"#plot-{pid} .main-svg").first.bounding_box()
            assert sec and svg and svg["y"] + svg["height"] <= sec["y"] + sec["height"] + 1, pid
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.set_viewport_size({"width": 1400, "height": 900})  # and back
        page.wait_for_function(f"((document.querySelector('#plot-monthly').layout.legend || {{}}).orientation || 'v') "
                               f"=== '{wide}'", timeout=10_000)
        browser.close()
    assert not external, f"report tried to load {external}"
    assert not errors, errors


def test_german_report_writes_decimal_commas_and_german_labels(week_result, tmp_path: Path) -> None:
    """German tables: decimal comma, narrow space between thousands, German column names (no English "1,234.5")."""
    import re

    import pandas as pd

    from h2quarters.quarter.report import attribution_html, kpi_table_html

    cells = {lang: re.findall(r"<td class='num'>([^<]*)</td>", kpi_table_html(week_result.kpis, lang)
                              + attribution_html(week_result.kpis, lang)) for lang in ("de", "en")}
    assert len(cells["de"]) == len(cells["en"]) >= 15
    assert any(re.search(r"\d,\d", c) for c in cells["de"]) and any(re.search(r"\d\.\d", c) for c in cells["en"])
    assert not any(re.search(r"\d\.\d", c) for c in cells["de"]), cells["de"]
    assert not any(re.search(r"\d,\d", c) for c in cells["en"]), cells["en"]
    for de, en in zip(cells["de"], cells["en"]):  # the same number, only the marks differ
        assert de.replace(",", ".") == en, (de, en)
    study = pd.DataFrame({"variant": ["a", "b"], "lcoh_period_eur_per_kg": [12.345, 1234.5],
                          "h2system_self_sufficiency": [0.123, 0.5], "co2_avoided_by_h2_kg": [10.0, 20.0],
                          "pareto": [True, False]})
    text = render_report(week_result, tmp_path / "r.de.html", study_table=study, lang="de").read_text("utf-8")
    table = text[text.index("id='sec-variant-table'"):]
    assert "Variante" in table and "H2-Gestehungskosten (EUR/kg)" in table and "Autarkiegrad" in table
    assert "12,35" in table and "1\u202f234" in table and "12,3 %" in table and "✓" in table
    assert "True" not in table and "False" not in table and "12.35" not in table
    # the plots speak German too: titles, axes, series and the Sankey's nodes (as plotly's JSON writes them)
    import json

    def plot(t: str) -> bool:  # in a figure (as plotly's JSON writes it) or a figure's heading
        return json.dumps(t)[1:-1] in text or f"<h3 class='plot'>{t}" in text
    assert plot("Energieflüsse (kWh)") and plot("Monatsbilanzen") and plot("Wasserstoff (Hu)")
    assert plot("Dauerlinien") and plot("Pareto-Menge") and plot("Tägliche niedrigste Knotenspannung")
    assert plot("März 2025") and not plot("Mar 2025")  # the week lies in March
    assert not plot("Monthly balances") and not plot("Load-duration curves") and not plot("Hydrogen (LHV)")
    assert plot("Autarkiegrad %{y:.1f} %") and not plot("self-sufficiency %{y")  # the variants' hover text
    assert text.count('"separators":",\\u202f"') >= 5  # decimal comma in every plot's ticks and hover texts
