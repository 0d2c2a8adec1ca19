"""The hardened HMI in Chromium, German and English, desktop and phone (390 px).

Labels and server messages in the page's language, SAFE/E-stop behind a confirmation, setpoint unit and range,
tiles only for equipment the site has, a visible acknowledge in the alarm list, no sideways scrolling at 390 px,
chart axes in the locale's format with units, the account page. Screenshots go to ``H2Q_SHOTS`` (if set) for
judging by eye.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from h2quarters.plc.registers import load_register_map
from h2quarters.web import WEB_DIR
from tests.conftest import log_in

from .conftest import PASSWORD
from .test_browser import plc_hold

SHOTS = Path(os.environ["H2Q_SHOTS"]) if os.environ.get("H2Q_SHOTS") else None


def _page(new_context: Any, url: str, user: str, lang: str, width: int) -> Any:
    ctx = new_context(width=width, bypass_csp=True)
    page = ctx.new_page()
    log_in(page, url, user, PASSWORD, "/")
    page.goto(f"{url}/?lang={lang}")
    page.wait_for_function("document.querySelector('#mode-badge').dataset.mode !== ''")
    page.wait_for_function("document.querySelector('#trend-chart .u-axis') !== null")
    return page


def _shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_sideways_scroll(page: Any) -> None:
    w = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert w[0] <= w[1], f"page is {w[0]} px wide in a {w[1]} px viewport"


def test_labels_are_translated_everywhere() -> None:
    names = {s.name for s in load_register_map().signals}
    for lang in ("de", "en"):
        d = json.loads((WEB_DIR / "static" / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        raw = sorted(n for n in names if d.get("sig." + n, n) == n)
        assert not raw, f"{lang}: raw signal names as labels: {raw}"
        for code in ("unclean_restart", "commands_unknown", "controller_safe", "link_lost", "trip"):
            assert "alarm." + code in d
        for code in ("auth.forbidden", "setpoint.range", "setpoint.invalid", "login.locked", "user.last_admin"):
            assert "err." + code in d


def test_hmi_in_both_languages_and_widths(server: dict[str, Any], new_context: Any) -> None:
    url, rt = server["url"], server["rt"]
    rt.store.raise_alarm("unclean_restart", "alarm", "the controller did not stop cleanly",
                         {"mode": "manual", "setpoints": {"ventilation_setpoint_pct": 42.0}, "now": "safe"})
    texts = {}
    for lang in ("de", "en"):
        for width in (1366, 390):
            page = _page(new_context, url, "erika", lang, width)
            page.wait_for_function("document.querySelector('#alarm-table tbody tr') !== null")
            _no_sideways_scroll(page)
            # the site has no battery: no battery tile and no battery setpoint
            assert page.query_selector("#u-bat") is None
            assert page.query_selector("#sp-name option[value=battery_setpoint_kw]") is None
            # the unacknowledged alarm's button is visible inside the viewport width
            box = page.locator("#alarm-table button.ack").first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            body = page.text_content("main")
            assert not re.search(r"\b(el|fc|tank|grid|pv)_[a-z_]+\b", page.text_content(".diagram")), "raw names"
            # setpoint unit and allowed range
            page.select_option("#sp-name", "el_production_rate_pct")
            assert page.text_content("#sp-unit") == "%"
            assert "0 … 100 %" in page.text_content("#sp-range")
            # time axis in the locale's form (24 h clock, no AM/PM), value axis labelled with its unit
            # (uPlot draws axes on a canvas: ask the chart for its formatted ticks and labels)
            # the trend's scale is only the live window once its first data arrived (else uPlot's default range)
            page.wait_for_function("S.trend && S.trend.data && S.trend.data[0].length > 1 && "
                                   "S.trend.scales.x.max - S.trend.scales.x.min < 86400")
            ticks = page.evaluate("timeTicks(S.trend, [S.trend.scales.x.min, S.trend.scales.x.max])")
            assert all(re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", x) for x in ticks), ticks  # 24-h clock
            vals = page.evaluate("valueTicks(S.trend, [2.9215, 2.922, 2.9225])")
            assert len(set(vals)) == 3, vals  # ticks that differ read differently
            assert ("," in vals[0]) == (lang == "de")  # decimal comma in German
            assert "kW" in page.evaluate("S.trend.axes.map(a => a.label)")
            texts[(lang, width)] = body
            _shot(page, f"hmi-{lang}-{width}")
            page.context.close()
    de, en = texts[("de", 1366)], texts[("en", 1366)]
    assert "Neustart nach unsauberem Stopp: war HAND mit Sollwerten Lüftung Sollwert = 42" in de
    assert "Restart after an unclean stop: was MANUAL" in en
    assert "Priorität" in de and "Priority" in en


def test_safe_and_estop_need_confirmation(server: dict[str, Any], new_context: Any) -> None:
    url, rt = server["url"], server["rt"]
    page = _page(new_context, url, "erika", "de", 390)
    assert page.is_visible("#btn-estop") and page.text_content("#btn-estop") == "NOT-HALT"
    page.click("#btn-estop")
    assert page.is_visible("#confirm-box") and "NOT-HALT auslösen?" in page.text_content("#confirm-text")
    _shot(page, "hmi-de-390-estop-confirm")
    page.click("#confirm-no")  # cancelled: nothing sent
    assert not plc_hold(rt, "estop") and rt.controller.mode.value != "safe"
    page.click("#btn-safe")
    page.click("#confirm-yes")
    page.wait_for_function("document.querySelector('#mode-badge').dataset.mode === 'safe'")
    page.wait_for_function("document.querySelector('#safe-reasons').textContent.includes('SICHER befohlen')")
    page.click("#btn-estop")
    page.click("#confirm-yes")
    page.wait_for_function("document.querySelector('#cmd-msg').textContent.includes('Not-Halt ausgelöst')")
    assert plc_hold(rt, "estop") is True
    page.wait_for_function("!document.querySelector('#btn-ack-safe').hidden")
    page.click("#btn-ack-safe")
    page.wait_for_function("document.querySelector('#mode-badge').dataset.mode === 'off'")
    assert plc_hold(rt, "estop") is False
    rows = page.text_content("#audit-table tbody")
    assert "Not-Halt" in rows and "SICHER" in rows and "erika" in rows
    page.context.close()


def test_account_page_admin_and_own_password(server: dict[str, Any], new_context: Any) -> None:
    from h2quarters.api.auth import add_user

    url, rt = server["url"], server["rt"]
    add_user(rt.store, "ada", "admin", PASSWORD)
    for lang, width in (("en", 1366), ("de", 390)):
        page = _page(new_context, url, "ada", lang, width)
        page.goto(f"{url}/account?lang={lang}")
        page.wait_for_function("document.querySelector('#users-table tbody tr[data-user=victor]') !== null")
        _no_sideways_scroll(page)
        _shot(page, f"account-{lang}-{width}")
        page.context.close()
    page = _page(new_context, url, "ada", "de", 1366)
    page.goto(f"{url}/account")
    page.wait_for_function("document.querySelector('#users-table tbody tr[data-user=victor]') !== null")
    page.select_option("tr[data-user=victor] select.role", "student")
    page.wait_for_function("document.querySelector('#users-msg').textContent === 'Gespeichert.'")
    assert rt.store.get_user("victor")["role"] == "student"
    page.click("tr[data-user=ada] button.toggle")  # the only active admin cannot disable herself
    page.wait_for_function("document.querySelector('#users-msg').textContent.includes('letzte aktive Administrator')")
    assert rt.store.get_user("ada")["active"]
    page.fill("#pw-old", PASSWORD)
    page.fill("#pw-new", "ein-neues-passwort")
    page.click("#pw-submit")
    page.wait_for_function("document.querySelector('#pw-msg').textContent.startsWith('Passwort geändert')")
    page.context.close()


def test_command_results_by_code_in_german_and_trend_legend(server: dict[str, Any], new_context: Any) -> None:
    """Results arrive as code + parameters and are worded by the page (not by matching English texts)."""
    url, rt = server["url"], server["rt"]
    page = _page(new_context, url, "erika", "de", 1366)
    if rt.controller.mode.value == "safe":
        page.evaluate("command('/api/safe/ack', {})")
        page.wait_for_function("document.querySelector('#mode-badge').dataset.mode === 'off'")
    res = page.evaluate("command('/api/mode', {mode: 'off'}).then(r => r.body)")
    assert res["detail_code"] == "mode.set" and res["detail_params"] == {"mode": "off"}, res
    res = page.evaluate("command('/api/setpoints', {name: 'el_production_rate_pct', value: 40}).then(r => r.body)")
    assert res["status"] == "refused" and res["detail_code"] == "setpoint.need_manual", res
    msg = page.text_content("#cmd-msg")
    assert msg == "abgelehnt – Regler ist in AUS; Sollwerte nur im Modus HAND", msg
    page.evaluate("command('/api/mode', {mode: 'manual'})")
    page.wait_for_function("document.querySelector('#cmd-msg').textContent.includes('HAND')")
    assert page.text_content("#cmd-msg") == "ausgeführt – Modus HAND"
    res = page.evaluate("command('/api/setpoints', {name: 'el_production_rate_pct', value: 40.5}).then(r => r.body)")
    assert res["detail_code"] == "setpoint.set" and res["detail_params"]["unit"] == "%", res
    label = json.loads((WEB_DIR / "static" / "i18n" / "de.json").read_text(encoding="utf-8"))[
        "sig.el_production_rate_pct"]
    assert page.text_content("#cmd-msg") == f"ausgeführt – {label} = 40,5 %"
    # the audit table words refusals the same way; no English result text anywhere in the page
    page.wait_for_function("document.querySelector('#audit-table tbody').textContent.includes('Sollwerte nur')")
    body = page.text_content("main")
    for english in ("controller is in", "mode manual", "setpoints need", "refused"):
        assert english not in body, english
    # the trend legend's time column is labelled in the page's language (uPlot's default is "Time")
    legend = page.text_content("#trend-chart .u-legend .u-series:first-child .u-label")
    assert legend == "Zeit", legend
    _shot(page, "hmi-de-1366-command-results")
    page.evaluate("command('/api/mode', {mode: 'off'})")
    page.context.close()
