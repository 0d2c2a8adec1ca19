"""Exports of any cockpit view as CSV or XLSX (openpyxl) and the quarterly PDF report (reportlab).

A view is flattened to one table (:func:`view_table`); both formats carry the licence and the provenance (CSV in
leading ``#`` comment lines would break parsers, so CSV gets them as the last columns' header-free footer rows
instead: a ``licence`` row). The PDF is a real PDF with text, readable by any PDF tool (tests use pdftotext).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from h2quarters.monitoring.cockpit import Cockpit, Period

VIEW_HELP = "overview | tp:<id> | measure:<id> | kpi:<id> | energy:<day|month|year>[:<date>]"


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    return "" if v is None else v


def view_table(cockpit: Cockpit, view: str, lang: str = "de", public_only: bool = False
               ) -> tuple[str, list[str], list[list[Any]], dict[str, Any]]:
    """(title, header, rows, meta) of a view.

    Raises
    ------
    ValueError
        Unknown view (names the allowed forms).
    KeyError
        Unknown id.
    """
    kind, _, arg = view.partition(":")
    if kind == "overview":
        d = cockpit.overview(lang, public_only)
        head = ["level", "kind", "id", "name", "score", "colour", "n_children", "n_current", "share_current", "stage"]
        rows = [[4, "target_picture", t["id"], t["name"], t["score"], t["colour"], t["n_children"], t["n_current"],
                 t["share_current"], ""] for t in d["target_pictures"]]
        rows += [[4, "dimension", x["id"], x["name"], x["score"], x["colour"], x["n_children"], x["n_current"],
                  x["share_current"], x["stage"]] for x in d["dimensions"]]
        return "overview", head, rows, d
    if kind == "tp":
        d = cockpit.target_picture(arg, lang, public_only)
        head = ["level", "id", "name", "score", "colour", "n_children", "n_current"]
        rows = [[3, d["id"], d["name"], d["score"], d["colour"], d["n_children"], d["n_current"]]]
        rows += [[2, m["id"], m["name"], m["score"], m["colour"], m["n_children"], m["n_current"]]
                 for m in d["measures"]]
        return f"tp-{arg}", head, rows, d
    if kind == "measure":
        d = cockpit.measure(arg, lang, public_only)
        head = ["group", "kpi", "name", "value", "unit", "target", "baseline", "score", "colour", "current",
                "data_time", "source"]
        rows = [[g, k["id"], k["name"], k["value"], k["unit"], k["target"], k["baseline"], k["score"], k["colour"],
                 k["current"], k["data_time"], k["source"]] for g, ks in d["groups"].items() for k in ks]
        return f"measure-{arg}", head, rows, d
    if kind == "kpi":
        d = cockpit.kpi_detail(arg, lang)
        head = ["date", "value", "target", "baseline", "unit"]
        rows = [[p["date"], p["value"], p["target"], p["baseline"], d["kpi"]["unit"]] for p in d["series"]]
        return f"kpi-{arg}", head, rows, d
    if kind == "energy":
        pk, _, when = arg.partition(":")
        p = Period.parse(pk or "month", when or None, dt.datetime.now(cockpit_tz()).date())
        d = cockpit.energy(p)
        head = ["quantity", d["current"]["period"], d["year_before"]["period"]]
        cur, prev = d["current"], d["year_before"]
        rows = [[k, cur["sums"][k], prev["sums"][k]] for k in cur["sums"]]
        rows += [[k, cur[k], prev[k]] for k in ("self_sufficiency_pct", "solar_self_use_pct")]
        return f"energy-{p.label}", head, rows, d
    raise ValueError(f"view = {view!r}; allowed: {VIEW_HELP}")


def cockpit_tz() -> Any:
    """Europe/Berlin."""
    from h2quarters.monitoring.aggregates import TZ

    return TZ


def to_csv(head: list[str], rows: list[list[Any]], meta: dict[str, Any]) -> bytes:
    """UTF-8 CSV (with BOM for spreadsheet programs); licence and source in a trailing block."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        w.writerow([_fmt(v) for v in r])
    w.writerow([])
    w.writerow(["licence", meta.get("licence"), meta.get("licence_url")])
    w.writerow(["publisher", meta.get("publisher")])
    w.writerow(["generated", meta.get("generated"), "catalogue_version", meta.get("catalogue_version")])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(title: str, head: list[str], rows: list[list[Any]], meta: dict[str, Any]) -> bytes:
    """XLSX with the view on the first sheet and licence/provenance on a second sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(head)
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([_fmt(v) for v in r])
    ws.freeze_panes = "A2"
    m = wb.create_sheet("about")
    for k in ("licence", "licence_url", "publisher", "generated", "catalogue_version", "data_until"):
        m.append([k, meta.get(k)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def parse_quarter(q: str | None, today: dt.date) -> tuple[int, int]:
    """``2026Q3`` → (2026, 3); default the last complete quarter."""
    if not q:
        cur = (today.month - 1) // 3 + 1
        return (today.year - 1, 4) if cur == 1 else (today.year, cur - 1)
    try:
        y, qq = q.upper().split("Q")
        year, quarter = int(y), int(qq)
    except ValueError:
        raise ValueError(f"quarter = {q!r}; write it as 2026Q3") from None
    if not 1 <= quarter <= 4 or not 2000 <= year <= 2100:
        raise ValueError(f"quarter = {q!r}; quarter 1..4, year 2000..2100")
    return year, quarter


LABELS = {
    "de": {"title": "KPI-Quartalsbericht", "measure": "Maßnahme", "overview": "Gesamtsicht (Ebene 4)",
           "kpis": "Kennzahlen", "value": "Wert", "target": "Ziel", "score": "Punkte", "colour": "Ampel",
           "energy": "Energie im Quartal", "prev": "Vorjahresquartal", "licence": "Lizenz",
           "red": "rot", "yellow": "gelb", "green": "grün", "grey": "grau (keine aktuellen Daten)",
           "asof": "Stand", "name": "Name", "share": "aktuelle Daten",
           "units": {"count": "Anzahl", "persons": "Personen", "stage": "Stufe"}},
    "en": {"title": "KPI quarterly report", "measure": "Measure", "overview": "Overall view (level 4)",
           "kpis": "KPIs", "value": "Value", "target": "Target", "score": "Score", "colour": "Light",
           "energy": "Energy in the quarter", "prev": "Same quarter last year", "licence": "Licence",
           "red": "red", "yellow": "yellow", "green": "green", "grey": "grey (no current data)",
           "asof": "As of", "name": "Name", "share": "current data", "units": {}},
}


def quarterly_pdf(cockpit: Cockpit, year: int, quarter: int, lang: str = "de") -> bytes:
    """The quarterly report: level-4 overview, every measure's KPIs with value, target, score and light, and the
    quarter's energy against the same quarter a year earlier. Ratings are as of the quarter's last day (or now,
    if the quarter is still running)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    L = LABELS.get(lang, LABELS["de"])
    tz = cockpit_tz()
    q0 = dt.date(year, 3 * quarter - 2, 1)
    q1 = dt.date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
    as_of = min(dt.datetime.combine(q1 - dt.timedelta(days=1), dt.time(23, 59), tz), dt.datetime.now(tz))
    cat, vid = cockpit.catalogue()
    ov = cockpit.overview(lang, now=as_of)
    st = getSampleStyleSheet()
    story: list[Any] = [Paragraph(f"{L['title']} {year} Q{quarter}", st["Title"]),
                        Paragraph(f"{L['asof']}: {as_of.date().isoformat()} · {cat.publisher}", st["Normal"]),
                        Spacer(1, 0.4 * cm), Paragraph(L["overview"], st["Heading2"])]
    colour = {"red": colors.HexColor("#c5221f"), "yellow": colors.HexColor("#e0a100"),
              "green": colors.HexColor("#1e8e3e"), "grey": colors.HexColor("#9aa3ab")}

    def table(data: list[list[Any]], col_colour: int | None = None) -> Table:
        t = Table(data, repeatRows=1)
        style = [("FONT", (0, 0), (-1, 0), "Helvetica-Bold"), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                 ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c3ccd5")), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        if col_colour is not None:
            for i, row in enumerate(data[1:], start=1):
                c = row[col_colour]
                key = next((k for k in colour if L[k] == c), None)
                if key:
                    style.append(("TEXTCOLOR", (col_colour, i), (col_colour, i), colour[key]))
        t.setStyle(TableStyle(style))
        return t

    rows = [[L["name"], L["score"], L["colour"], L["share"]]]
    for x in ov["target_pictures"] + ov["dimensions"]:
        rows.append([x["name"], "–" if x["score"] is None else x["score"], L[x["colour"]],
                     f"{x['n_current']}/{x['n_children']}"])
    story += [table(rows, 2), Spacer(1, 0.4 * cm)]
    for m in cat.measures:
        md = cockpit.measure(m.id, lang, now=as_of)
        story.append(Paragraph(f"{L['measure']}: {md['name']}", st["Heading2"]))
        rows = [[L["kpis"], L["value"], L["target"], L["score"], L["colour"]]]
        for ks in md["groups"].values():
            for k in ks:
                unit = L["units"].get(k["unit"], k["unit"])  # type: ignore[attr-defined]
                v = "–" if k["value"] is None else f"{k['value']:.{k['decimals']}f} {unit}"
                rows.append([Paragraph(k["name"], st["BodyText"]), v, f"{k['target']:.{k['decimals']}f}",
                             "–" if k["score"] is None else k["score"], L[k["colour"]]])
        story += [table(rows, 4), Spacer(1, 0.4 * cm)]
    cur = cockpit.energy_sums(q0, q1)
    prev = cockpit.energy_sums(q0.replace(year=year - 1), q1.replace(year=q1.year - 1))
    story.append(Paragraph(L["energy"], st["Heading2"]))
    rows = [["", f"{year} Q{quarter}", L["prev"]]]
    for key in ("pv_kwh", "consumption_kwh", "grid_import_kwh", "grid_export_kwh", "el_kwh", "h2_kg"):
        rows.append([key, f"{getattr(cur, key):.1f}", f"{getattr(prev, key):.1f}"])
    story += [table(rows), Spacer(1, 0.4 * cm),
              Paragraph(f"{L['licence']}: {cat.licence} ({cat.licence_url}) · catalogue v{vid} · "
                        f"{cat.emission_factor.grid_source}", st["Normal"])]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=f"{L['title']} {year} Q{quarter}", author=cat.publisher,
                      leftMargin=1.8 * cm, rightMargin=1.8 * cm).build(story)
    return out.getvalue()


__all__ = ["VIEW_HELP", "parse_quarter", "quarterly_pdf", "to_csv", "to_xlsx", "view_table"]
