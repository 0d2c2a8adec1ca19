"""The HMI in a real browser: login, live values, MANUAL, setpoint applied and audited; viewer refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import log_in

from .conftest import PASSWORD


def login(new_context: Any, url: str, user: str, landing: str = "/") -> Any:
    # bypass_csp: Playwright evaluates its wait conditions as strings, which our CSP (script-src self) forbids
    ctx = new_context(bypass_csp=True)
    page = ctx.new_page()
    page.goto(url + "/")
    page.wait_for_url(url + "/login")
    return log_in(page, url, user, PASSWORD, landing)


def plc_hold(rt: Any, name: str) -> Any:
    async def get() -> Any:
        return rt.plc.plant.hold[name]
    return rt.plc_thread.run(get())


def test_engineer_switches_to_manual_sends_setpoint_and_sees_audit(server: dict[str, Any], new_context: Any) -> None:
    url, rt = server["url"], server["rt"]
    page = login(new_context, url, "erika")
    page.wait_for_function("document.querySelector('#mode-badge').dataset.mode === 'auto'")
    # live values change (plant time ticks over the live stream)
    sel = "#u-safety b[data-sig=plant_time_s]"
    page.wait_for_function(f"/^[0-9]+$/.test(document.querySelector('{sel}').textContent)")
    first = page.text_content(sel)
    page.wait_for_function(f"document.querySelector('{sel}').textContent !== '{first}'", timeout=15000)
    assert page.text_content("#h-control") == "Bedienung"  # German by default
    page.click(".mode-btn[data-mode=manual]")
    page.wait_for_function("document.querySelector('#mode-badge').dataset.mode === 'manual'")
    page.select_option("#sp-name", "el_production_rate_pct")
    page.fill("#sp-value", "37,5")  # German decimal comma
    page.click("#sp-send")
    page.wait_for_function("document.querySelector('#rb-el_production_rate_pct').textContent === '37,50'")
    assert plc_hold(rt, "el_production_rate_pct") == 37.5
    page.wait_for_function("Array.from(document.querySelectorAll('#audit-table tbody tr')).some("
                           "r => r.textContent.includes('Produktionsrate') && r.textContent.includes('37,5')"
                           " && r.textContent.includes('erika'))")
    # out of range: refused with the limit named (in German, from the code and parameters), nothing sent
    page.fill("#sp-value", "150")
    page.click("#sp-send")
    page.wait_for_function("document.querySelector('#cmd-msg').textContent.includes('erlaubt 0 … 100 %')")
    assert "Produktionsrate = 150" in page.text_content("#cmd-msg")
    assert plc_hold(rt, "el_production_rate_pct") == 37.5
    # an alarm appears with its translated text and is acknowledged from the list
    rt.store.raise_alarm("trip:h2_trip", "trip", "PLC interlock latched: h2_trip")
    page.wait_for_function("document.querySelector('#alarm-table tbody').textContent"
                           ".includes('Verriegelung ausgelöst: h2_trip')", timeout=15000)
    page.click("#alarm-table button.ack")
    page.wait_for_function("document.querySelector('#alarm-table tbody').textContent.includes('quittiert von erika')")
    assert rt.store.alarms()[0]["acked_by"] == "erika"
    # English on request, texts from the translation file
    page.click("button.lang[data-lang=en]")
    page.wait_for_function("document.querySelector('#h-control').textContent === 'Control'")
    assert page.text_content("#mode-badge") == "MANUAL"
    page.context.close()


def test_viewer_is_refused_the_same_command(server: dict[str, Any], new_context: Any) -> None:
    url, rt = server["url"], server["rt"]
    page = login(new_context, url, "victor", landing="/cockpit")  # viewers land on the KPI cockpit
    page.goto(url + "/hmi")
    page.wait_for_function("document.querySelector('#user-info').textContent.startsWith('victor')")
    assert not page.is_visible("#sp-send") and not page.is_visible(".mode-btn[data-mode=manual]")
    before = plc_hold(rt, "el_production_rate_pct")
    status = page.evaluate("""async () => (await fetch('/api/setpoints', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({name: 'el_production_rate_pct', value: 80})})).status""")
    assert status == 403
    assert plc_hold(rt, "el_production_rate_pct") == before
    page.context.close()
