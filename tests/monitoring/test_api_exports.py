"""KPI JSON endpoints (public vs logged in), hand entry with roles, CSV/XLSX of views and the quarterly PDF."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from openpyxl import load_workbook

from h2quarters.api.app import create_app
from h2quarters.control.hub import SnapshotHub
from h2quarters.control.settings import ControlSettings
from h2quarters.monitoring import entries as E
from h2quarters.plc.registers import load_register_map
from h2quarters.store import Store

from .conftest import PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(seeded: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(seeded, SnapshotHub(), load_register_map(), ControlSettings(db_url=seeded.url,
                                                                                 login_rate_per_min=1000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def token(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await client.post("/api/auth/login", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_public_kpis_are_open_the_rest_needs_login(client: httpx.AsyncClient, seeded: Store) -> None:
    cat, _ = E.active_catalogue(seeded)
    r = await client.get("/api/kpi/catalogue")
    assert r.status_code == 200
    d = r.json()
    assert d["licence"] == cat.licence and d["licence_url"].startswith("https://")
    assert {k["id"] for k in d["kpis"]} == {k.id for k in cat.kpis if k.public}
    sheet = next(k for k in d["kpis"] if k["id"] == "co2_avoided")
    assert {"definition", "numerator", "baseline", "target", "owner", "source", "update_frequency", "data_quality",
            "references"} <= set(sheet)
    assert d["emission_factor"]["grid_source"]
    assert (await client.get("/api/kpi/kpis/availability")).status_code == 401  # not public
    pub = await client.get("/api/kpi/kpis/pv_yield?lang=en")
    assert pub.status_code == 200 and pub.json()["licence"] == cat.licence
    assert (await client.get("/api/kpi/report.pdf")).status_code == 401
    assert (await client.get("/api/kpi/energy")).status_code == 401
    h = await token(client, "victor")
    full = (await client.get("/api/kpi/catalogue", headers=h)).json()
    assert len(full["kpis"]) == len(cat.kpis)
    det = (await client.get("/api/kpi/kpis/availability", headers=h)).json()
    assert det["rating"]["colour"] in ("red", "yellow", "green") and det["series"]
    assert (await client.get("/api/kpi/kpis/nope", headers=h)).status_code == 404


async def test_overview_rolls_up_and_city_lands_on_the_cockpit(client: httpx.AsyncClient) -> None:
    h = await token(client, "clara")
    ov = (await client.get("/api/kpi/overview", headers=h)).json()
    tps = {t["id"]: t for t in ov["target_pictures"]}
    assert tps["sozial_digital"]["colour"] == "grey" and tps["sozial_digital"]["n_children"] == 0
    assert tps["umweltgerecht"]["n_children"] == 1 and tps["umweltgerecht"]["score"] is not None
    m = (await client.get("/api/kpi/measures/h2lab", headers=h)).json()
    assert set(m["groups"]) == {"content", "organisation", "participation", "data"}
    rated = [k for ks in m["groups"].values() for k in ks]
    current = [k for k in rated if k["current"] and k["id"] not in ("maturity_organisation", "maturity_participation",
                                                                    "maturity_data")]
    assert m["n_current"] == len(current)
    dims = {x["id"]: x for x in ov["dimensions"]}
    assert dims["data"]["stage"] == 3.0 and dims["organisation"]["colour"] == "grey"
    client.cookies.set("h2q_session", h["Authorization"][7:])
    r = await client.get("/", follow_redirects=False)
    client.cookies.clear()
    assert r.status_code == 303 and r.headers["location"] == "/cockpit"


async def test_entry_needs_the_role_is_audited_and_validated(client: httpx.AsyncClient, seeded: Store) -> None:
    today = dt.date.today().isoformat()
    body = {"kpi": "persons_organisations_reached", "day": today, "value": 120, "reason": "open day"}
    stu = await token(client, "stu")
    assert (await client.post("/api/kpi/values", json=body, headers=stu)).status_code == 403
    assert (await client.post("/api/kpi/values", json=body)).status_code == 401
    h = await token(client, "clara")
    r = await client.post("/api/kpi/values", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["user_name"] == "clara" and r.json()["role"] == "city"
    bad = await client.post("/api/kpi/values", json={**body, "value": -3}, headers=h)
    assert bad.status_code == 422 and "value = -3" in bad.json()["detail"]["limit"]
    log = (await client.get("/api/kpi/values?kpi=persons_organisations_reached", headers=h)).json()
    assert [(e["value"], e["user_name"]) for e in log] == [(120.0, "clara")]
    m = (await client.get("/api/kpi/measures/h2lab", headers=h)).json()
    reach = next(k for k in m["groups"]["participation"] if k["id"] == "persons_organisations_reached")
    assert reach["value"] == 120.0 and reach["current"]


async def test_catalogue_upload_is_admin_only_and_validated(client: httpx.AsyncClient, seeded: Store) -> None:
    from h2quarters.monitoring.catalogue import DEFAULT_CATALOGUE

    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    h = await token(client, "clara")
    assert (await client.put("/api/kpi/catalogue", content=text, headers={**h, "Content-Type": "text/plain"})
            ).status_code == 403
    a = await token(client, "ada")
    bad = await client.put("/api/kpi/catalogue", content=text.replace("red_max_pct: 50", "red_max_pct: 500"),
                           headers={**a, "Content-Type": "text/plain"})
    assert bad.status_code == 422 and any("red_max_pct" in p for p in bad.json()["detail"]["problems"])
    ok = await client.put("/api/kpi/catalogue?comment=same%20text", content=text,
                          headers={**a, "Content-Type": "text/plain"})
    assert ok.status_code == 200
    vers = (await client.get("/api/kpi/catalogue/versions", headers=a)).json()
    assert vers[0]["user_name"] == "ada" and vers[0]["comment"] == "same text"


async def test_csv_and_xlsx_of_views_match_the_json(client: httpx.AsyncClient) -> None:
    h = await token(client, "clara")
    ov = (await client.get("/api/kpi/overview?lang=en", headers=h)).json()
    r = await client.get("/api/kpi/export?view=overview&format=csv&lang=en", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["level", "kind", "id", "name", "score", "colour"]
    by_id = {row[2]: row for row in rows[1:] if len(row) > 5}
    for t in ov["target_pictures"]:
        assert by_id[t["id"]][3] == t["name"] and by_id[t["id"]][5] == t["colour"]
    assert any(row and row[0] == "licence" and row[1] == ov["licence"] for row in rows)
    m = (await client.get("/api/kpi/measures/h2lab", headers=h)).json()
    x = await client.get("/api/kpi/export?view=measure:h2lab&format=xlsx", headers=h)
    wb = load_workbook(io.BytesIO(x.content))
    ws = wb.worksheets[0]
    table = list(ws.iter_rows(values_only=True))
    assert table[0][:3] == ("group", "kpi", "name")
    kp = {row[1]: row for row in table[1:]}
    pv = next(k for k in m["groups"]["content"] if k["id"] == "pv_yield")
    assert kp["pv_yield"][3] == pytest.approx(pv["value"], rel=1e-6) and kp["pv_yield"][8] == pv["colour"]
    assert dict(wb["about"].iter_rows(values_only=True))["licence"] == m["licence"]
    e = await client.get("/api/kpi/export?view=energy:month&format=csv", headers=h)
    assert e.status_code == 200 and b"pv_kwh" in e.content
    assert (await client.get("/api/kpi/export?view=bogus", headers=h)).status_code == 422
    bad = await client.get("/api/kpi/energy?period=month&when=2026-13", headers=h)
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "when"
    yr = (await client.get("/api/kpi/energy?period=year", headers=h)).json()
    assert int(yr["year_before"]["period"]) == int(yr["current"]["period"]) - 1
    assert (await client.get("/api/kpi/export?view=kpi:availability")).status_code == 401


async def test_quarterly_pdf_is_a_real_pdf(client: httpx.AsyncClient) -> None:
    h = await token(client, "clara")
    today = dt.date.today()
    q = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    r = await client.get(f"/api/kpi/report.pdf?quarter={q}&lang=de", headers=h)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=r.content, capture_output=True, check=True,
                          timeout=60).stdout.decode("utf-8")
    assert f"KPI-Quartalsbericht {q.replace('Q', ' Q')}" in text
    assert "Anwendungslabor Wasserstoff" in text and "Autarkiegrad" in text and "dl-de/by-2-0" in text
    assert (await client.get("/api/kpi/report.pdf?quarter=2026Q7", headers=h)).status_code == 422


async def test_ratings_as_of_a_past_date_are_not_the_cached_current_ones(seeded: Store) -> None:
    from h2quarters.monitoring import aggregates as A
    from h2quarters.monitoring.cockpit import TZ, Cockpit

    ck = Cockpit(seeded)
    cur = ck.ratings()
    assert cur["pv_yield"].value is not None and cur["pv_yield"].current
    # 200 days ago lies between the two seeded windows: the trailing 30 days hold no data, the year holds some
    past = dt.datetime.now(TZ) - dt.timedelta(days=200)
    old = ck.ratings(now=past)
    assert old["data_completeness"].value == 0.0
    d1 = past.date() + dt.timedelta(days=1)
    assert old["pv_yield"].value == pytest.approx(A.period_sums(seeded, d1 - dt.timedelta(days=365), d1).pv_kwh)
    assert old["pv_yield"].value != pytest.approx(cur["pv_yield"].value)
    assert old["pv_yield"].data_time <= past + dt.timedelta(days=1)
    assert ck.ratings()["pv_yield"].value == cur["pv_yield"].value  # the current cache is untouched
