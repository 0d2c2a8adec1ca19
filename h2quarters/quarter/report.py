"""One self-contained HTML report per quarter run (plotly.js embedded inline: opens offline).

Plots: energy-flow Sankey, monthly balances, load-duration curves, tank level over the year, grid loading and
voltage heatmaps, variant comparison (a study's table with its Pareto set, or the run against its baseline),
and the KPI table.
"""

from __future__ import annotations

import datetime
import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from h2quarters.models.constants import LHV_H2_KWH_PER_KG
from h2quarters.numbers import num, percent, readable

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from h2quarters.quarter.simulate import QuarterResult

#: Plot ids in the order they appear (the browser test checks all of them).
PLOT_IDS = ("sankey", "monthly", "duration", "tank", "grid-map", "grid-heatmap", "voltage-heatmap", "variants")

_KPI_ROWS: list[tuple[str, str, str]] = [
    ("h2system_self_sufficiency", "Self-sufficiency, hydrogen system (school + STZ)", "pct"),
    ("quarter_self_sufficiency", "Self-sufficiency, quarter", "pct"),
    ("h2_produced_kg_per_a", "H2 produced (kg/a)", "f1"),
    ("h2_delivered_kg_per_a", "H2 delivered to the Stadtteilzentrum (kg/a)", "f1"),
    ("stz_share_met_by_h2", "Share of STZ demand (electricity + heat) met by hydrogen", "pct"),
    ("stz_electricity_share_h2", "… of its electricity", "pct"),
    ("stz_heat_share_h2", "… of its heat", "pct"),
    ("co2_baseline_kg", "CO2, baseline: grid electricity, STZ heat as documented (kg, period)", "f0"),
    ("co2_pv_hp_kg", "CO2, PV + heat pump without hydrogen (kg, period)", "f0"),
    ("co2_with_h2_kg", "CO2, with the hydrogen system (kg, period)", "f0"),
    ("co2_h2_increment_kg", "CO2 increment of the hydrogen system itself (kg, period; < 0 = avoided)", "f0"),
    ("co2_h2_increment_kg_per_a", "… per year (kg/a; only for a whole year)", "f0"),
    ("cost_h2_increment_eur", "Cost increment of the hydrogen system (EUR, period, capital prorated)", "f0"),
    ("bill_school_eur", "Electricity bill, school meter (EUR, period)", "f0"),
    ("bill_stz_eur", "Energy bill, Stadtteilzentrum meter (EUR, period)", "f0"),
    ("co2_avoided_quarter_kg", "CO2 avoided, whole quarter incl. residential PV (kg, period)", "f0"),
    ("lcoh_period_eur_per_kg", "LCOH at the school, this period (EUR/kg, capital prorated)", "f2"),
    ("lcoh_eur_per_kg", "LCOH at the school, annual (EUR/kg; only for a whole year)", "f2"),
    ("lcoh_delivered_eur_per_kg", "LCOH delivered incl. supply chain (EUR/kg; whole year)", "f2"),
    ("stz_cost_period_eur_per_kwh", "Cost of supplied energy at the STZ (EUR/kWh)", "f3"),
    ("stz_baseline_cost_period_eur_per_kwh", "… baseline (EUR/kWh)", "f3"),
    ("trailer_trips", "Trailer trips (period, incl. refilling the buffer at the end)", "d"),
    ("trailer_trips_per_a", "Trailer trips (1/a; only for a whole year)", "f0"),
    ("fc_h2_short_kg", "Fuel-cell hydrogen the bundle buffer could not give (kg)", "f2"),
    ("grid_v_min_pu", "Lowest LV voltage (p.u.)", "f4"),
    ("grid_v_max_pu", "Highest LV voltage (p.u.)", "f4"),
    ("grid_line_loading_max_pct", "Highest line loading (%)", "f1"),
    ("grid_trafo_loading_max_pct", "Highest transformer loading (%)", "f1"),
    ("grid_steps_with_violation", "Steps with EN 50160 or thermal violation", "d"),
    ("grid_losses_kwh", "Grid losses (kWh, period)", "f0"),
]


#: German labels of the KPI rows and headings (the report is written in English and German).
_DE: dict[str, str] = {
    "Self-sufficiency, hydrogen system (school + STZ)": "Autarkiegrad Wasserstoffsystem (Schule + STZ)",
    "Self-sufficiency, quarter": "Autarkiegrad Quartier",
    "H2 produced (kg/a)": "H2 erzeugt (kg/a)",
    "H2 delivered to the Stadtteilzentrum (kg/a)": "H2 an das Stadtteilzentrum geliefert (kg/a)",
    "Share of STZ demand (electricity + heat) met by hydrogen": "Anteil des STZ-Bedarfs (Strom + Wärme) aus Wasserstoff",
    "… of its electricity": "… am Strom", "… of its heat": "… an der Wärme",
    "CO2, baseline: grid electricity, STZ heat as documented (kg, period)":
        "CO2 Referenz: Netzstrom, STZ-Wärme wie dokumentiert (kg, Zeitraum)",
    "CO2, PV + heat pump without hydrogen (kg, period)": "CO2 mit PV + Wärmepumpe ohne Wasserstoff (kg, Zeitraum)",
    "CO2, with the hydrogen system (kg, period)": "CO2 mit Wasserstoffsystem (kg, Zeitraum)",
    "CO2 increment of the hydrogen system itself (kg, period; < 0 = avoided)":
        "CO2-Mehremission des Wasserstoffsystems selbst (kg, Zeitraum; < 0 = vermieden)",
    "… per year (kg/a; only for a whole year)": "… pro Jahr (kg/a; nur für ein ganzes Jahr)",
    "Cost increment of the hydrogen system (EUR, period, capital prorated)":
        "Mehrkosten des Wasserstoffsystems (EUR, Zeitraum, Kapital anteilig)",
    "Electricity bill, school meter (EUR, period)": "Stromrechnung Zähler Schule (EUR, Zeitraum)",
    "Energy bill, Stadtteilzentrum meter (EUR, period)": "Energierechnung Zähler Stadtteilzentrum (EUR, Zeitraum)",
    "CO2 avoided, whole quarter incl. residential PV (kg, period)":
        "CO2 vermieden, ganzes Quartier inkl. Wohn-PV (kg, Zeitraum)",
    "LCOH at the school, this period (EUR/kg, capital prorated)":
        "Wasserstoffgestehungskosten Schule, Zeitraum (EUR/kg, Kapital anteilig)",
    "LCOH at the school, annual (EUR/kg; only for a whole year)":
        "Wasserstoffgestehungskosten Schule, Jahr (EUR/kg; nur ganzes Jahr)",
    "LCOH delivered incl. supply chain (EUR/kg; whole year)": "… frei STZ inkl. Transport (EUR/kg; ganzes Jahr)",
    "Cost of supplied energy at the STZ (EUR/kWh)": "Kosten der Energie im STZ (EUR/kWh)",
    "… baseline (EUR/kWh)": "… Referenz (EUR/kWh)",
    "Trailer trips (period, incl. refilling the buffer at the end)":
        "Anhängerfahrten (Zeitraum, inkl. Wiederauffüllen des Puffers am Ende)",
    "Trailer trips (1/a; only for a whole year)": "Anhängerfahrten (1/a; nur ganzes Jahr)",
    "Fuel-cell hydrogen the bundle buffer could not give (kg)": "H2-Fehlmenge der Brennstoffzelle am Bündelpuffer (kg)",
    "Lowest LV voltage (p.u.)": "Niedrigste NS-Spannung (p.u.)", "Highest LV voltage (p.u.)": "Höchste NS-Spannung (p.u.)",
    "Highest line loading (%)": "Höchste Leitungsauslastung (%)",
    "Highest transformer loading (%)": "Höchste Trafoauslastung (%)",
    "Steps with EN 50160 or thermal violation": "Schritte mit Verletzung EN 50160 oder thermisch",
    "Grid losses (kWh, period)": "Netzverluste (kWh, Zeitraum)",
    "Key figures": "Kennzahlen", "KPI": "Kennzahl", "value": "Wert", "Assumptions": "Annahmen",
    "CO2 and cost attribution": "Zuordnung von CO2 und Kosten", "Grid stress cases": "Netz-Stressfälle", "Representative weeks": "Typwochen",
    "Grid map": "Netzplan", "Variant comparison": "Variantenvergleich", "case": "Fall",
    "CO2 (kg)": "CO2 (kg)", "cost (EUR)": "Kosten (EUR)", "school meter (EUR)": "Zähler Schule (EUR)",
    "STZ meter (EUR)": "Zähler STZ (EUR)", "baseline": "Referenz",
    "PV + heat pump, no hydrogen": "PV + Wärmepumpe, ohne Wasserstoff", "with hydrogen": "mit Wasserstoff",
    "hydrogen increment": "Beitrag des Wasserstoffs",
    # the variant table's columns
    "variant": "Variante", "LCOH (EUR/kg)": "H2-Gestehungskosten (EUR/kg)",
    "LCOH delivered (EUR/kg)": "H2-Kosten frei STZ (EUR/kg)", "self-sufficiency": "Autarkiegrad",
    "CO2 avoided by H2 (kg)": "CO2 durch H2 vermieden (kg)", "cost increment H2 (EUR)": "Mehrkosten H2 (EUR)",
    "H2 produced (kg)": "H2 erzeugt (kg)", "STZ share from H2": "STZ-Anteil aus H2",
    "grid violations (steps)": "Netzverletzungen (Schritte)",
}


def _t(text: str, lang: str) -> str:
    return _DE.get(text, text) if lang == "de" else text


def _fmt(v: object, kind: str, lang: str = "en") -> str:
    """A KPI value: ``kind`` "pct" (a share, in %), "d" (a count) or "f<n>" (n decimals)."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if kind == "pct":
        return percent(v, lang)
    if kind == "d":
        return readable(int(v), lang, 0)
    return readable(v, lang, int(kind[1:]))


def kpi_table_html(kpis: dict, lang: str = "en") -> str:
    """The KPI table as an HTML table (``lang`` "en" or "de")."""
    rows = "".join(f"<tr><td>{html.escape(_t(label, lang))}</td><td class='num'>{_fmt(kpis.get(key), kind, lang)}</td>"
                   f"</tr>" for key, label, kind in _KPI_ROWS)
    return (f"<div class='scroll'><table class='kpi'><thead><tr><th>{_t('KPI', lang)}</th><th>{_t('value', lang)}"
            f"</th></tr></thead><tbody>{rows}</tbody></table></div>")


def attribution_html(kpis: dict, lang: str = "en") -> str:
    """Baseline, PV + heat pump without hydrogen, with hydrogen and the hydrogen increment, labelled."""
    att = kpis.get("attribution") or {}
    if not att:
        return ""
    cases = [("baseline", "baseline"), ("pv_hp", "PV + heat pump, no hydrogen"), ("h2", "with hydrogen")]
    head = "".join(f"<th>{_t(x, lang)}</th>" for x in ("case", "CO2 (kg)", "cost (EUR)", "school meter (EUR)",
                                                       "STZ meter (EUR)"))
    rows = "".join(
        f"<tr><td>{_t(label, lang)}</td><td class='num'>{readable(att[c]['co2_kg'], lang)}</td><td class='num'>"
        f"{readable(att[c]['cost_eur'], lang)}</td><td class='num'>{readable(att[c]['bill_school_eur'], lang)}</td><td class='num'>"
        f"{readable(att[c]['bill_stz_eur'], lang)}</td></tr>" for c, label in cases)
    inc_co2 = att["h2"]["co2_kg"] - att["pv_hp"]["co2_kg"]
    inc_eur = att["h2"]["cost_eur"] - att["pv_hp"]["cost_eur"]
    rows += (f"<tr class='sum'><td>{_t('hydrogen increment', lang)}</td><td class='num'>{readable(inc_co2, lang)}</td>"
             f"<td class='num'>{readable(inc_eur, lang)}</td><td></td><td></td></tr>")
    ef = att.get("emission_factors", {})
    note = (f"Emissionsfaktoren: Strom {ef.get('grid_g_per_kwh'):g} g/kWh ({html.escape(str(ef.get('grid_source')))});"
            f" Erdgas {ef.get('gas_g_per_kwh'):g} g/kWh ({html.escape(str(ef.get('gas_source')))}). Exporte werden "
            "mit dem Netzfaktor gutgeschrieben. PV- und Wärmepumpen-Investitionen sind nicht enthalten."
            if lang == "de" else
            f"Emission factors: electricity {ef.get('grid_g_per_kwh'):g} g/kWh ({html.escape(str(ef.get('grid_source')))});"
            f" natural gas {ef.get('gas_g_per_kwh'):g} g/kWh ({html.escape(str(ef.get('gas_source')))}). Exports are "
            "credited at the grid factor. PV and heat-pump investments are not included.")
    return (f"<div class='scroll'><table class='kpi'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"</div><p class='note'>{note}</p>")


def stress_html(stress: pd.DataFrame | None, lang: str = "en") -> str:
    """The grid stress cases with their margins; the binding case marked."""
    if stress is None or not len(stress):
        return ""
    cols = ["case", "resolution", "mv_vm_pu", "v_min_pu", "v_max_pu", "line_loading_max_pct",
            "trafo_loading_max_pct", "margin_undervoltage_pu", "margin_overvoltage_pu", "margin_loading_pct",
            "closest_limit"]
    heads = {"case": "case", "resolution": "resolution" if lang == "en" else "Auflösung",
             "mv_vm_pu": "MV (p.u.)", "v_min_pu": "V min (p.u.)", "v_max_pu": "V max (p.u.)",
             "line_loading_max_pct": "line max (%)" if lang == "en" else "Leitung max (%)",
             "trafo_loading_max_pct": "trafo max (%)",
             "margin_undervoltage_pu": "margin to 0.90 (p.u.)" if lang == "en" else "Abstand zu 0,90 (p.u.)",
             "margin_overvoltage_pu": "margin to 1.10 (p.u.)" if lang == "en" else "Abstand zu 1,10 (p.u.)",
             "margin_loading_pct": "margin to 100 % (%-pt)" if lang == "en" else "Abstand zu 100 % (%-Pkt.)",
             "closest_limit": "closest limit" if lang == "en" else "nächste Grenze"}
    body = ""
    for _, r in stress.iterrows():
        cls = " class='bind'" if r["binding"] else ""
        cells = "".join(f"<td class='num'>{readable(float(r[c]), lang)}</td>" if isinstance(r[c], (int, float, np.floating))
                        and not isinstance(r[c], bool) else f"<td>{html.escape(str(r[c]))}</td>" for c in cols)
        body += f"<tr{cls}>{cells}</tr>"
    head = "".join(f"<th>{html.escape(_t(heads[c], lang))}</th>" for c in cols)
    b = stress[stress.binding].iloc[0]
    note = (f"Bindender Fall: <b>{html.escape(str(b['case']))}</b> ({html.escape(str(b['closest_limit']))}). "
            "EN 50160 bewertet 10-min-Mittelwerte; die Daten erlauben 15-min-Mittel (SimBench-Profile, stündliche "
            "Werte von Schule, STZ und PV innerhalb der Stunde gehalten) — das Nächstliegende. SimBench-Studienfälle "
            "setzen alle Lasten gleichzeitig auf ihr Maximum (pload) — ein Planungsfall ohne Gleichzeitigkeit."
            if lang == "de" else
            f"Binding case: <b>{html.escape(str(b['case']))}</b> ({html.escape(str(b['closest_limit']))}). "
            "EN 50160 judges 10-min means; the data allow 15-min means (SimBench profiles; school, STZ and PV hourly "
            "values held within the hour), the nearest available. SimBench's study cases put every load at its "
            "peak at once (pload): a planning case without diversity.")
    return (f"<div class='scroll'><table class='kpi'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"</div><p class='note'>{note}</p>")


def assumptions_html(res: QuarterResult, lang: str = "en") -> str:
    """What the figures rest on, in the planner's words."""
    q, k = res.quarter, res.kpis
    tr = q.supply.trailer
    days = "Mo–Fr" if tr is not None and sorted(tr.work_days) == [0, 1, 2, 3, 4] else str(
        tr.work_days if tr else "")
    if lang == "de":
        items = [
            f"Zähler: {'jedes Gebäude mit eigenem Netzanschluss' if q.metering == 'per_building' else 'gemeinsamer Anschluss (Mieterstrom/Energiegemeinschaft)'}; "
            "der Einsatzplan (rollierend, HiGHS) rechnet mit denselben Zählern wie die Abrechnung.",
            "Wasserstoff gelangt nur über die gewählte Versorgung zum STZ"
            + (f": ganze Bündel à {tr.payload_kg:g} kg, {days} {tr.work_start_h:g}–{tr.work_end_h:g} Uhr, "
               f"{tr.lead_time_h:g} h Vorlauf; der Startpuffer stammt aus dem Tank." if tr and q.supply.mode == "trailer"
               else " (Leitung)."),
            f"Referenz: Netzstrom; Wärme des STZ per {'Wärmepumpe' if q.baseline.stz_heat == 'heat_pump' else 'Gaskessel'} "
            "(die Gasheizung wurde 2013 entfernt); Wohngebäude mit Gas-Brennwertkessel.",
            "Jahreswerte (…/a) nur für ein ganzes Jahr; kürzere Zeiträume zeigen Werte des Zeitraums."
            + ("" if k.get("annualised") else " <b>Dieser Lauf ist kürzer als ein Jahr.</b>"),
            f"Netz: SimBench {html.escape(q.grid.code)}; Wohnblöcke mit eigenen SimBench-15-min-Profilen; "
            f"EN-50160-Band {q.grid.v_min_pu:g}–{q.grid.v_max_pu:g} p.u.",
            "Wetter: DWD-Testreferenzjahr Kassel (TRY 2010, Region 07) auf den Kalender gelegt.",
        ]
    else:
        items = [
            f"Meters: {'every building on its own grid connection' if q.metering == 'per_building' else 'one shared connection (tenant electricity / energy community)'}; "
            "the dispatch (rolling, HiGHS) plans with the same meters the bills use.",
            "Hydrogen reaches the STZ only by the chosen supply"
            + (f": whole bundles of {tr.payload_kg:g} kg, {days} {tr.work_start_h:g}–{tr.work_end_h:g} h, "
               f"{tr.lead_time_h:g} h lead time; the starting buffer comes out of the tank." if tr and q.supply.mode == "trailer"
               else " (pipeline)."),
            f"Baseline: grid electricity; the STZ heated by {'its heat pump' if q.baseline.stz_heat == 'heat_pump' else 'a gas boiler'} "
            "(the gas heating was removed in 2013); residential blocks with condensing gas boilers.",
            "Annual figures (…/a) only for a whole year; shorter periods show figures of the period."
            + ("" if k.get("annualised") else " <b>This run is shorter than a year.</b>"),
            f"Grid: SimBench {html.escape(q.grid.code)}; residential blocks with their own SimBench 15-min profiles; "
            f"EN 50160 band {q.grid.v_min_pu:g}–{q.grid.v_max_pu:g} p.u.",
            "Weather: DWD test reference year Kassel (TRY 2010, region 07) laid on the calendar.",
        ]
    return "<ul class='assume'>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>"


ELEC = "School + STZ electricity"


def energy_flows_kwh(res: QuarterResult) -> list[tuple[str, str, float, str]]:
    """(source, target, kWh, carrier) links of the hydrogen system's energy flows over the period.

    The hydrogen system is the school lab wing and the Stadtteilzentrum with their own meters; the residential
    blocks are left out so that the hydrogen path stays visible. The electricity node balances exactly: PV +
    grid import + fuel cell = loads + electrolyser + compressor + heat pump + export.
    """
    ts = res.timeseries
    dt = res.dt_h

    def e(x: str | pd.Series | np.ndarray) -> float:
        v = ts[x] if isinstance(x, str) else x
        return float(np.sum(np.asarray(v, float)) * dt)

    h2_lhv = float(ts.h2_produced_kg.sum()) * LHV_H2_KWH_PER_KG
    fc_lhv = float(ts.fc_h2_kg.sum()) * LHV_H2_KWH_PER_KG
    hp_heat = e(ts.heat_backup_kw) if res.quarter.backup.heat == "heat_pump" else 0.0
    school, stz = ts.school_net_kw, ts.stz_net_kw
    links = [
        ("School PV", ELEC, e("pv_used_kw"), "el"),
        ("Grid import", ELEC, e(school.clip(lower=0) + stz.clip(lower=0)), "el"),
        ("Fuel cell", ELEC, e("fc_kw"), "el"),
        (ELEC, "School lab wing", e("school_load_kw"), "el"),
        (ELEC, "Electrolyser", e("ely_kw"), "el"),
        (ELEC, "Compressor", e("compressor_kw"), "el"),
        (ELEC, "STZ electricity", e("stz_load_kw"), "el"),
        (ELEC, "Heat pump", e("stz_heat_pump_kw"), "el"),
        (ELEC, "Grid export", e((-school).clip(lower=0) + (-stz).clip(lower=0)), "el"),
        ("Electrolyser", "Hydrogen (LHV)", h2_lhv, "h2"),
        ("Electrolyser", "Losses", max(e("ely_kw") - h2_lhv, 0.0), "loss"),
        ("Compressor", "Losses", e("compressor_kw"), "loss"),
        ("Tank (drawn down)", "Hydrogen (LHV)", max(fc_lhv - h2_lhv, 0.0), "h2"),
        ("Hydrogen (LHV)", "Fuel cell", fc_lhv, "h2"),
        ("Hydrogen (LHV)", "Tank (filled up)", max(h2_lhv - fc_lhv, 0.0), "h2"),
        ("Fuel cell", "STZ heat", e("heat_from_fc_kw"), "heat"),
        ("Fuel cell", "Losses", max(fc_lhv - e("fc_kw") - e("heat_from_fc_kw"), 0.0), "loss"),
        ("Ambient heat", "Heat pump", max(hp_heat - e("stz_heat_pump_kw"), 0.0), "heat"),
        ("Heat pump", "STZ heat", hp_heat, "heat"),
        ("Gas (backup boiler)", "STZ heat", e("stz_backup_gas_kw") * res.quarter.backup.boiler_eta, "heat"),
    ]
    return [link for link in links if link[2] > 1e-9]


_VARIANT_HOVER = "%{text}<br>LCOH %{x:.2f} EUR/kg<br>self-sufficiency %{y:.1f} %<extra></extra>"

#: German texts of the plots (titles, axes, series, Sankey nodes); applied to a finished figure by :func:`_localise`.
_DE_PLOT: dict[str, str] = {
    ELEC: "Strom Schule + STZ", "School PV": "PV Schule", "Grid import": "Netzbezug", "Fuel cell": "Brennstoffzelle",
    "School lab wing": "Laborflügel Schule", "Electrolyser": "Elektrolyseur", "Compressor": "Verdichter",
    "STZ electricity": "Strom STZ", "Heat pump": "Wärmepumpe", "Grid export": "Netzeinspeisung",
    "Hydrogen (LHV)": "Wasserstoff (Hu)", "Losses": "Verluste", "Tank (drawn down)": "Speicher (entnommen)",
    "Tank (filled up)": "Speicher (aufgefüllt)", "STZ heat": "Wärme STZ", "Ambient heat": "Umweltwärme",
    "Gas (backup boiler)": "Gas (Reservekessel)", "Residential PV": "PV Wohngebäude", "MV import": "Bezug Mittelspannung",
    "Residential": "Wohngebäude", "MV export": "Einspeisung Mittelspannung",
    "Energy flows (kWh)<br><sup>school + Stadtteilzentrum; blue electricity, green hydrogen,<br>red heat, grey "
    "losses</sup>": "Energieflüsse (kWh)<br><sup>Schule + Stadtteilzentrum; blau Strom, grün Wasserstoff,<br>rot "
                    "Wärme, grau Verluste</sup>",
    "Quarter electricity (MWh; supply up, use down)": "Strom im Quartier (MWh; Aufkommen oben, Verbrauch unten)",
    "Hydrogen (kg): produced at the school up, used by the Stadtteilzentrum's fuel cell down":
        "Wasserstoff (kg): in der Schule erzeugt oben, von der Brennstoffzelle des STZ verbraucht unten",
    "H2 produced (kg)": "H2 erzeugt (kg)", "H2 to fuel cell (kg)": "H2 zur Brennstoffzelle (kg)",
    "Monthly balances": "Monatsbilanzen", "Power (kW)": "Leistung (kW)", "Transformer loading (%)": "Trafoauslastung (%)",
    "Transformer": "Trafo", "hours exceeded (h)": "Überschreitungsdauer (h)", "Load-duration curves": "Dauerlinien",
    "School tank (kg)": "Speicher Schule (kg)", "STZ bundle buffer (kg)": "Bündelpuffer STZ (kg)",
    "Tank pressure (bar)": "Speicherdruck (bar)", "Hydrogen in store": "Wasserstoff im Speicher", "time": "Zeit",
    "Grid loading: power flow skipped": "Netzauslastung: Lastfluss nicht gerechnet",
    "Daily maximum loading of every line and the transformer (%)":
        "Tägliche Höchstauslastung jeder Leitung und des Trafos (%)",
    "day": "Tag", "line / transformer": "Leitung / Trafo", "Voltages: power flow skipped":
        "Spannungen: Lastfluss nicht gerechnet", "LV bus": "NS-Knoten",
    "School net": "Schule netto", "STZ net": "STZ netto",
    "dominated": "dominiert", "Pareto set": "Pareto-Menge",
    _VARIANT_HOVER: "%{text}<br>H2-Gestehungskosten %{x:.2f} EUR/kg<br>Autarkiegrad %{y:.1f} %<extra></extra>",
    "Variants: LCOH vs self-sufficiency (colour: CO2 avoided by hydrogen; stars: Pareto)":
        "Varianten: H2-Gestehungskosten gegen Autarkiegrad (Farbe: durch H2 vermiedenes CO2; Sterne: Pareto)",
    "LCOH (EUR/kg)": "H2-Gestehungskosten (EUR/kg)",
    "self-sufficiency of the hydrogen system (%)": "Autarkiegrad des Wasserstoffsystems (%)",
    "CO2 avoided by H2 (kg)": "CO2 durch H2 vermieden (kg)", "CO2 (kg)": "CO2 (kg)", "cost (EUR)": "Kosten (EUR)",
    "baseline": "Referenz", "PV + heat pump, no hydrogen": "PV + Wärmepumpe, ohne Wasserstoff",
    "with hydrogen": "mit Wasserstoff",
    "School + Stadtteilzentrum over the period: baseline, PV + heat pump, with hydrogen":
        "Schule + Stadtteilzentrum im Zeitraum: Referenz, PV + Wärmepumpe, mit Wasserstoff",
    "kg CO2 / EUR (period)": "kg CO2 / EUR (Zeitraum)",
}


_DE_MONTHS = dict(zip("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
                      "Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez.".split()))


def _localise(fig: go.Figure, lang: str) -> go.Figure:
    """Write a finished figure's texts in ``lang``: titles, axis and colour-bar titles, subplot titles, series
    names, hover texts, bar categories and Sankey node labels (German from :data:`_DE_PLOT`; English is how they are
    built), and the number marks (decimal comma)."""
    if lang != "de":
        return fig

    def de(t: object) -> object:
        if not isinstance(t, str):
            return t
        month, _, year = t.partition(" ")  # the monthly bars' "Mar 2025"
        if month in _DE_MONTHS and year.isdigit():
            return f"{_DE_MONTHS[month]} {year}"
        return _DE_PLOT.get(t, t)

    lay = fig.layout
    lay.separators = ",\u202f"  # decimal comma and a narrow space between thousands in ticks and hover texts
    if lay.title and lay.title.text:
        lay.title.text = de(lay.title.text)
    for ax in [a for a in dir(lay) if a.startswith(("xaxis", "yaxis"))]:
        obj = getattr(lay, ax, None)
        if obj is not None and getattr(obj, "title", None) is not None and obj.title.text:
            obj.title.text = de(obj.title.text)
    for ann in lay.annotations or ():
        ann.text = de(ann.text)
    for tr in fig.data:
        if getattr(tr, "name", None):
            tr.name = de(tr.name)
        if getattr(tr, "hovertemplate", None):
            tr.hovertemplate = de(tr.hovertemplate)
        if tr.type == "sankey":
            tr.node.label = [de(x) for x in tr.node.label]
        if tr.type == "bar" and tr.x is not None and all(isinstance(x, str) for x in tr.x):
            tr.x = [de(x) for x in tr.x]
        x = getattr(tr, "x", None)
        if x is not None and len(x) and isinstance(x[0], (pd.Timestamp, datetime.date, np.datetime64)):
            # date axes: plotly writes English months ("Mar 11"); a German date instead
            ax = getattr(lay, "xaxis" + (tr.xaxis or "x")[1:], None)
            if ax is not None:
                ax.tickformat, ax.hoverformat = "%d.%m.%Y", "%d.%m.%Y %H:%M"
        marker = getattr(tr, "marker", None)
        bar = getattr(marker, "colorbar", None) if marker is not None else None
        if bar is not None and bar.title is not None and bar.title.text:
            bar.title.text = de(bar.title.text)
    return fig


_CARRIER_RGBA = {"el": "rgba(31,119,180,0.45)", "h2": "rgba(44,160,44,0.55)", "heat": "rgba(214,39,40,0.45)",
                 "loss": "rgba(127,127,127,0.35)"}


def _sankey(res: QuarterResult) -> go.Figure:
    import plotly.graph_objects as go

    links = energy_flows_kwh(res)
    nodes = list(dict.fromkeys([a for a, *_ in links] + [b for _, b, *_ in links]))
    ix = {n: i for i, n in enumerate(nodes)}
    fig = go.Figure(go.Sankey(
        valueformat=",.0f", valuesuffix=" kWh",
        arrangement="snap", node={"label": nodes, "pad": 22, "thickness": 18, "line": {"width": 0.5}},
        link={"source": [ix[a] for a, *_ in links], "target": [ix[b] for _, b, *_ in links],
              "value": [v for _, _, v, _ in links], "color": [_CARRIER_RGBA[c] for *_, c in links]}))
    fig.update_layout(title={"text": "Energy flows (kWh)<br><sup>school + Stadtteilzentrum; blue electricity, "
                                     "green hydrogen,<br>red heat, grey losses</sup>"},
                      height=620, font={"size": 13}, margin={"l": 10, "r": 10, "t": 90, "b": 10})
    return fig


_SERIES_COLOURS = {
    "School PV": "#f2b701", "Residential PV": "#ffd966", "Fuel cell": "#2ca02c", "MV import": "#7f7f7f",
    "School lab wing": "#1f77b4", "Electrolyser": "#17becf", "Compressor": "#9edae5", "STZ electricity": "#d62728",
    "Heat pump": "#ff9896", "Residential": "#aec7e8", "MV export": "#c7c7c7", "Losses": "#8c564b",
}


def _monthly(res: QuarterResult) -> go.Figure:
    from plotly.subplots import make_subplots

    ts = res.timeseries
    dt = res.dt_h
    m = (ts * dt).resample("MS").sum()
    x = m.index.strftime("%b %Y")
    titles = ("Quarter electricity (MWh; supply up, use down)",
              "Hydrogen (kg): produced at the school up, used by the Stadtteilzentrum's fuel cell down")
    fig = make_subplots(rows=2, cols=1, row_heights=[0.62, 0.38], vertical_spacing=0.12, subplot_titles=titles)
    for col, name in (("pv_used_kw", "School PV"), ("residential_pv_kw", "Residential PV"), ("fc_kw", "Fuel cell"),
                      ("grid_mv_import_kw", "MV import")):
        fig.add_bar(x=x, y=m[col] / 1000.0, name=name, marker_color=_SERIES_COLOURS[name], row=1, col=1)
    for col, name in (("school_load_kw", "School lab wing"), ("ely_kw", "Electrolyser"),
                      ("compressor_kw", "Compressor"), ("stz_load_kw", "STZ electricity"),
                      ("stz_heat_pump_kw", "Heat pump"), ("residential_load_kw", "Residential"),
                      ("grid_mv_export_kw", "MV export"), ("grid_losses_kw", "Losses")):
        fig.add_bar(x=x, y=-m[col] / 1000.0, name=name, marker_color=_SERIES_COLOURS[name], row=1, col=1)
    h2 = ts[["h2_produced_kg", "fc_h2_kg"]].resample("MS").sum()  # kg per step already
    fig.add_bar(x=x, y=h2.h2_produced_kg, name="H2 produced (kg)", marker_color="#17becf", row=2, col=1)
    fig.add_bar(x=x, y=-h2.fc_h2_kg, name="H2 to fuel cell (kg)", marker_color="#2ca02c", row=2, col=1)
    fig.update_layout(barmode="relative", height=720, title="Monthly balances")
    fig.update_yaxes(title_text="MWh", row=1, col=1)
    fig.update_yaxes(title_text="kg", row=2, col=1)
    return fig


def _duration(res: QuarterResult) -> go.Figure:
    from plotly.subplots import make_subplots

    ts = res.timeseries
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Power (kW)", "Transformer loading (%)"))
    hours = np.arange(len(ts)) * res.dt_h
    for col, name in (("grid_mv_import_kw", "MV import"), ("grid_mv_export_kw", "MV export"),
                      ("school_net_kw", "School net"), ("stz_net_kw", "STZ net"), ("ely_kw", "Electrolyser"),
                      ("fc_kw", "Fuel cell")):
        fig.add_scatter(x=hours, y=np.sort(ts[col].to_numpy())[::-1], name=name, mode="lines", row=1, col=1)
    if "grid_trafo_loading_pct" in ts:
        fig.add_scatter(x=hours, y=np.sort(ts.grid_trafo_loading_pct.to_numpy())[::-1], name="Transformer",
                        mode="lines", row=1, col=2)
    fig.update_xaxes(title_text="hours exceeded (h)")
    fig.update_yaxes(title_text="kW", row=1, col=1)
    fig.update_yaxes(title_text="%", row=1, col=2)
    fig.update_layout(title="Load-duration curves", height=420, legend={"orientation": "h", "y": -0.25})
    return fig


def _tank(res: QuarterResult) -> go.Figure:
    import plotly.graph_objects as go

    ts = res.timeseries
    fig = go.Figure()
    fig.add_scatter(x=ts.index, y=ts.tank_m_kg, name="School tank (kg)", mode="lines")
    if "stz_h2_buffer_kg" in ts:
        fig.add_scatter(x=ts.index, y=ts.stz_h2_buffer_kg, name="STZ bundle buffer (kg)", mode="lines")
    fig.add_scatter(x=ts.index, y=ts.tank_p_bar, name="Tank pressure (bar)", mode="lines", yaxis="y2",
                    line={"dash": "dot", "width": 1})
    fig.update_layout(title="Hydrogen in store", yaxis_title="kg", xaxis_title="time", height=420,
                      legend={"orientation": "h", "y": -0.2},
                      yaxis2={"title": "bar", "overlaying": "y", "side": "right"})
    return fig


def _daily(arr: np.ndarray, index: pd.DatetimeIndex, how: str) -> pd.DataFrame:
    df = pd.DataFrame(arr, index=index)
    return getattr(df.resample("D"), how)()


def _grid_heatmap(res: QuarterResult) -> go.Figure:
    import plotly.graph_objects as go

    pf = res.powerflow
    net = res.qnet.net
    if not pf.line_loading_pct.size:
        return go.Figure().update_layout(title="Grid loading: power flow skipped")
    both = np.hstack([pf.line_loading_pct, pf.trafo_loading_pct])
    d = _daily(both, res.timeseries.index, "max")
    names = list(net.line.name.astype(str)) + [f"Trafo {n}" for n in net.trafo.name.astype(str)]
    fig = go.Figure(go.Heatmap(z=d.to_numpy().T, x=d.index, y=names, colorscale="YlOrRd", zmin=0,
                               zmax=max(100.0, float(np.nanmax(d.to_numpy()))), colorbar={"title": "%"}))
    fig.update_layout(title="Daily maximum loading of every line and the transformer (%)", height=700,
                      xaxis_title="day", yaxis_title="line / transformer")
    return fig


#: EN 50160 colours for voltages: green around nominal, amber towards the band edges, red at and beyond them.
EN50160_COLOURSCALE = [[0.0, "#b2182b"], [0.25, "#f4a582"], [0.45, "#1a9850"], [0.55, "#1a9850"],
                       [0.75, "#f4a582"], [1.0, "#b2182b"]]


def feeder_lines(net, bus: int) -> list[int]:
    """Lines on the path from the transformer's LV side to ``bus`` (the building's feeder)."""
    import networkx as nx
    import pandapower.topology as top

    g = top.create_nxgraph(net, include_trafos=False)
    start = int(net.trafo.lv_bus.iloc[0])
    path = nx.shortest_path(g, start, bus)
    out = []
    for a, b in zip(path[:-1], path[1:]):
        out += [int(k[1]) for k in g.get_edge_data(a, b) if k[0] == "line"][:1]
    return out


def _grid_map(res: QuarterResult, lang: str = "en") -> go.Figure:
    """Single-line map of the LV grid (pandapower plotly): the school's and the STZ's feeders marked, buses
    coloured by their lowest voltage of the run against the EN 50160 band."""
    import tempfile

    import plotly.graph_objects as go
    from pandapower.plotting.plotly import create_bus_trace, create_line_trace, draw_traces

    net = res.qnet.net
    q = res.quarter
    bus_of = {str(n): i for i, n in zip(net.bus.index, net.bus.name)}
    school_bus, stz_bus = bus_of[q.building("school").bus], bus_of[q.building("stz").bus]
    f_school, f_stz = feeder_lines(net, school_bus), feeder_lines(net, stz_bus)
    rest = [i for i in net.line.index if i not in set(f_school) | set(f_stz)]
    de = lang == "de"
    traces = create_line_trace(net, rest, color="#9a9a9a", width=1.5, trace_name="Leitungen" if de else "lines")
    traces += create_line_trace(net, f_school, color="#1f77b4", width=5,
                                trace_name="Abgang Schule" if de else "school feeder", legendgroup="school")
    traces += create_line_trace(net, f_stz, color="#ff7f0e", width=5, trace_name="Abgang STZ" if de else
                                "STZ feeder", legendgroup="stz")
    lv = list(net.bus.index[net.bus.vn_kv < 1.0])
    pf = res.powerflow
    if pf.vm_pu.size:
        vmin = pf.vm_pu.min(axis=0)[np.searchsorted(net.bus.index.to_numpy(), lv)]
        traces += create_bus_trace(net, lv, size=9, cmap=EN50160_COLOURSCALE, cmap_vals=vmin,
                                   cmin=res.qnet.v_min_pu, cmax=res.qnet.v_max_pu,
                                   cbar_title="V min (p.u.)", trace_name="Knoten" if de else "buses")
    else:
        traces += create_bus_trace(net, lv, size=7, color="#444", trace_name="Knoten" if de else "buses")
    traces += create_bus_trace(net, [school_bus], size=16, color="#1f77b4", patch_type="square",
                               trace_name="Schule" if de else "school")
    traces += create_bus_trace(net, [stz_bus], size=16, color="#ff7f0e", patch_type="square",
                               trace_name="Stadtteilzentrum")
    traces += create_bus_trace(net, [int(net.trafo.lv_bus.iloc[0])], size=16, color="#000",
                               patch_type="triangle-up", trace_name="Trafo 20/0,4 kV" if de else "transformer 20/0.4 kV")
    with tempfile.TemporaryDirectory() as tmp:
        fig = draw_traces(traces, on_map=False, auto_open=False, filename=f"{tmp}/grid.html", showlegend=True)
    fig = go.Figure(fig)
    fig.update_layout(
        title=("Netzplan (einpolig): Abgänge von Schule und STZ<br><sup>Knotenfarbe = niedrigste Spannung gegen "
               "EN 50160</sup>" if de else "Single-line grid map: school and STZ feeders<br><sup>bus colour = "
               "lowest voltage against EN 50160</sup>"), height=600, autosize=True, width=None,
        margin={"t": 80, "l": 50, "r": 20, "b": 40},
        xaxis={"title": "Länge (°)" if de else "longitude (°)", "visible": True, "showgrid": False},
        yaxis={"title": "Breite (°)" if de else "latitude (°)", "visible": True, "showgrid": False,
               "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.15})
    return fig


def _voltage_heatmap(res: QuarterResult, lang: str = "en") -> go.Figure:
    import plotly.graph_objects as go

    pf = res.powerflow
    net = res.qnet.net
    if not pf.vm_pu.size:
        return go.Figure().update_layout(title="Voltages: power flow skipped")
    lv = (net.bus.vn_kv < 1.0).to_numpy()
    d = _daily(pf.vm_pu[:, lv], res.timeseries.index, "min")
    fig = go.Figure(go.Heatmap(z=d.to_numpy().T, x=d.index, y=list(net.bus.name.astype(str)[lv]),
                               colorscale=EN50160_COLOURSCALE, zmin=res.qnet.v_min_pu, zmax=res.qnet.v_max_pu,
                               colorbar={"title": "p.u."}))
    band = f"{res.qnet.v_min_pu}–{res.qnet.v_max_pu}"
    fig.update_layout(title=(f"Tägliche niedrigste Knotenspannung (p.u.; Band EN 50160 {band.replace('.', ',')})"
                             if lang == "de" else f"Daily minimum bus voltage (p.u.; EN 50160 band {band})"),
                      height=700, xaxis_title="day", yaxis_title="LV bus")
    return fig


def variants_figure(table: pd.DataFrame | None, kpis: dict | None = None) -> go.Figure:
    """Variant comparison: LCOH vs self-sufficiency coloured by CO2 avoided, Pareto set highlighted; without a
    study table, the run against its baseline (CO2 and cost of the Stadtteilzentrum's energy)."""
    import plotly.graph_objects as go

    if table is not None and len(table):
        fig = go.Figure()
        c = table.co2_avoided_by_h2_kg.astype(float)
        for flag, sym, name in ((False, "circle-open", "dominated"), (True, "star", "Pareto set")):
            t = table[table.pareto == flag]
            if not len(t):
                continue
            fig.add_scatter(
                x=t.lcoh_period_eur_per_kg, y=t.h2system_self_sufficiency * 100, mode="markers", name=name,
                text=t.variant, marker={"symbol": sym, "size": 14 if flag else 11, "color": t.co2_avoided_by_h2_kg,
                                        "colorscale": "Viridis", "cmin": float(c.min()), "cmax": float(c.max()),
                                        "showscale": bool(flag), "line": {"width": 1.5},
                                        "colorbar": {"title": "CO2 avoided by H2 (kg)", "x": 1.02}},
                hovertemplate=_VARIANT_HOVER)
        fig.update_layout(title="Variants: LCOH vs self-sufficiency (colour: CO2 avoided by hydrogen; stars: Pareto)",
                          xaxis_title="LCOH (EUR/kg)", yaxis_title="self-sufficiency of the hydrogen system (%)",
                          height=520, legend={"orientation": "h", "y": -0.18})
        return fig
    k = kpis or {}
    fig = go.Figure()
    x = ["CO2 (kg)", "cost (EUR)"]
    for name, co2, cost in (("baseline", "co2_baseline_kg", "cost_baseline_eur"),
                            ("PV + heat pump, no hydrogen", "co2_pv_hp_kg", "cost_pv_hp_eur"),
                            ("with hydrogen", "co2_with_h2_kg", "cost_with_h2_eur")):
        fig.add_bar(x=x, y=[k.get(co2), k.get(cost)], name=name)
    fig.update_layout(title="School + Stadtteilzentrum over the period: baseline, PV + heat pump, with hydrogen",
                      barmode="group", height=420, yaxis_title="kg CO2 / EUR (period)")
    return fig


_CSS = """
*{box-sizing:border-box} body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
padding:16px;color:#222;max-width:1400px;overflow-x:hidden} .js-plotly-plot,.plot-container{max-width:100%}
.scroll{overflow-x:auto;max-width:100%} tr.bind td{background:#fde0dd;font-weight:600} tr.sum td{font-weight:600;
border-top:2px solid #888} ul.assume li{margin:4px 0} nav.lang{float:right} @media (max-width:600px){
body{padding:8px;font-size:14px} table.kpi td,table.kpi th{padding:3px 6px}}
h1{margin-bottom:0} .sub{color:#666;margin-top:4px} table.kpi{border-collapse:collapse;margin:12px 0}
table.kpi td,table.kpi th{border-bottom:1px solid #ddd;padding:4px 12px;text-align:left} td.num{text-align:right;
font-variant-numeric:tabular-nums} section{margin:28px 0} .note{color:#555;font-size:0.9em}
h3.plot{font-weight:500;font-size:1.15em;margin:8px 0 0 0} h3.plot sup{font-size:0.75em;color:#555}
"""


#: Phone layout of the plots (narrower than 700 px): the legend under the plot instead of beside it (it took half
#: of a 390-px phone's width), subplot titles wrapped to the plot's width (they ran off both edges) and colour bars
#: slimmer; the desktop layout comes back when the window widens. (The figures' titles are HTML headings.)
_PHONE_JS = """
(function () {
  var NARROW = 700;
  function wrap(text, n) {
    return String(text).split('<br>').map(function (seg) {
      if (seg.indexOf('<') >= 0 || seg.length <= n) { return seg; }
      var out = [], line = '';
      seg.split(' ').forEach(function (w) {
        if (line && (line + ' ' + w).length > n) { out.push(line); line = w; } else { line = line ? line + ' ' + w : w; }
      });
      if (line) { out.push(line); }
      return out.join('<br>');
    }).join('<br>');
  }
  function copy(o) { return JSON.parse(JSON.stringify(o || {})); }
  function fit() {
    var narrow = window.innerWidth < NARROW;
    document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
      var L = gd.layout;
      if (!L || !window.Plotly) { return; }
      if (!gd._h2q) {
        gd._h2q = {ann: (L.annotations || []).map(function (a) { return a.text; }), legend: copy(L.legend),
                   margin: copy(L.margin), height: L.height, narrow: false, bars: []};
        (gd.data || []).forEach(function (tr, i) {
          if (tr.marker && tr.marker.colorbar && tr.marker.showscale) { gd._h2q.bars.push([i, 'marker.colorbar.']); }
          else if (tr.colorbar && /heatmap|contour/.test(tr.type)) { gd._h2q.bars.push([i, 'colorbar.']); }
        });
      }
      var o = gd._h2q;
      if (narrow === o.narrow) { return; }
      o.narrow = narrow;
      var u = {}, n = Math.max(24, Math.floor((gd.clientWidth - 70) / 7)), extra = 0;
      o.ann.forEach(function (a, i) {
        var t = narrow && a ? wrap(a, n) : a;
        u['annotations[' + i + '].text'] = t;
        u['annotations[' + i + '].font.size'] = narrow ? 13 : 16;
        if (i === 0 && t) { extra = 16 * (String(t).split('<br>').length - 1); }
      });
      if (narrow) {
        // the legend under the plot: plotly puts one entry per row at a phone's width
        var items = (gd.data || []).filter(function (t) { return t.name && t.showlegend !== false; }).length;
        var perRow = gd.clientWidth < 500 ? 1 : 2;
        var legendPx = L.showlegend === false || items < 2 ? 0 : 20 * Math.ceil(items / perRow) + 40;
        u.margin = {l: 50, r: 10, t: 40 + extra, b: 60 + legendPx};
        u.height = (o.height || 450) + legendPx;
        // under the x axis' ticks and title (≈ 60 px), as a fraction of the plot area's height
        var area = Math.max(100, u.height - u.margin.t - u.margin.b);
        u.legend = {orientation: 'h', x: 0, xanchor: 'left', y: -60 / area, yanchor: 'top'};
      } else {
        u.legend = o.legend; u.margin = o.margin; u.height = o.height;
      }
      o.bars.forEach(function (b) {
        var st = {};
        st[b[1] + 'thickness'] = narrow ? 10 : 30;
        st[b[1] + 'title.side'] = narrow ? 'right' : 'top';
        Plotly.restyle(gd, st, [b[0]]);
      });
      // the plot's div and plotly's wrapper keep the height they were written with: without this the taller plot
      // drew over the next section
      gd.style.height = (u.height || 450) + 'px';
      if (gd.parentElement && gd.parentElement.style.height) { gd.parentElement.style.height = gd.style.height; }
      Plotly.relayout(gd, u);
    });
  }
  var timer = null;
  window.addEventListener('load', fit);
  window.addEventListener('resize', function () { clearTimeout(timer); timer = setTimeout(fit, 150); });
})();
"""


_REP_LABELS = {
    "bill_school_eur": ("school bill (EUR/a)", "Stromrechnung Schule (EUR/a)"),
    "bill_stz_eur": ("Stadtteilzentrum bill (EUR/a)", "Stromrechnung Stadtteilzentrum (EUR/a)"),
    "h2_produced_kg": ("H2 produced (kg/a)", "erzeugter H2 (kg/a)"),
    "h2_delivered_to_stz_kg": ("H2 to the fuel cell (kg/a)", "H2 an die Brennstoffzelle (kg/a)"),
    "trailer_trips": ("trailer trips (1/a)", "Anhängerfahrten (1/a)"),
    "co2_avoided_by_h2_kg": ("CO2 avoided by H2 (kg/a)", "durch H2 vermiedenes CO2 (kg/a)"),
    "cost_h2_increment_eur": ("cost increment of H2 (EUR/a)", "Mehrkosten durch H2 (EUR/a)"),
    "h2system_self_sufficiency": ("self-sufficiency (%)", "Autarkiegrad (%)"),
    "lcoh_eur_per_kg": ("LCOH (EUR/kg)", "H2-Gestehungskosten (EUR/kg)"),
    "lcoh_delivered_eur_per_kg": ("LCOH delivered (EUR/kg)", "H2-Kosten geliefert (EUR/kg)"),
}


def _rep_num(v: object, de: bool, pct: bool = False) -> str:
    if v is None or not np.isfinite(float(v)):
        return "–"
    x = float(v) * (100.0 if pct else 1.0)
    return readable(x, "de" if de else "en", 0 if abs(x) >= 100 else 2)


def representative_html(rep: dict, lang: str = "en") -> str:
    """The typical weeks (start, weight) and the measured error of their annual figures against a whole year."""
    de = lang == "de"
    w = rep["weeks"]
    weeks = ", ".join(f"{s.date()} (×{_rep_num(x, de)})" for s, x in zip(w.starts, w.weights))
    head = ("<tr><th>Kennzahl</th><th>Typwochen</th><th>ganzes Jahr</th><th>Abweichung</th><th>Abweichung (%)</th>"
            "</tr>" if de else "<tr><th>figure</th><th>typical weeks</th><th>whole year</th><th>error</th>"
            "<th>error (%)</th></tr>")
    rows = []
    for r in rep["error"].to_dict(orient="records"):
        pct = r["kpi"] == "h2system_self_sufficiency"
        label = _REP_LABELS.get(r["kpi"], (r["kpi"], r["kpi"]))[1 if de else 0]
        rel = r["rel_error"]
        rel_s = "–" if rel is None or not np.isfinite(float(rel)) else (
            ("+" if rel >= 0 else "") + _rep_num(rel, de, pct=True) + " %")
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{_rep_num(r['representative'], de, pct)}</td>"
                    f"<td>{_rep_num(r['full_year'], de, pct)}</td><td>{_rep_num(r['abs_error'], de, pct)}</td>"
                    f"<td>{rel_s}</td></tr>")
    tab = f"<table class='kpi'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    text = (f"Jahreswerte aus {len(w.starts)} Typwochen (tsam, hierarchisch, Medoid), gewichtet mit der Zahl der "
            f"Wochen, für die sie stehen: {weeks}. Jede Typwoche beginnt mit dem Anfangsbestand des Szenarios "
            f"(größte Fehlerquelle neben der Clusterung). Gemessene Abweichung gegen ein ganzes Jahr der Variante "
            f"{html.escape(str(rep['reference']))}:" if de else
            f"Annual figures from {len(w.starts)} typical weeks (tsam, hierarchical, medoid), weighted by the number "
            f"of weeks each stands for: {weeks}. Each typical week starts from the scenario's initial stock (the main "
            f"error source besides the clustering). Measured error against a whole year of variant "
            f"{html.escape(str(rep['reference']))}:")
    return f"<p>{text}</p><div class='scroll'>{tab}</div>"


def render_report(res: QuarterResult, path: str | Path, study_table: pd.DataFrame | None = None,
                  lang: str = "en", representative: dict | None = None) -> Path:
    """Write the report of ``res`` (and optionally a study's comparison table) to one HTML file.

    ``lang`` is "en" or "de"; the first plot embeds plotly.js inline; no file refers to the network. Plots
    resize to the page width (also on a 390 px phone).
    """
    import plotly.io as pio

    if lang not in ("en", "de"):
        raise ValueError(f"lang '{lang}' not allowed; choose en or de")
    figs = {"sankey": _sankey(res), "monthly": _monthly(res), "duration": _duration(res), "tank": _tank(res),
            "grid-map": _grid_map(res, lang), "grid-heatmap": _grid_heatmap(res),
            "voltage-heatmap": _voltage_heatmap(res, lang), "variants": variants_figure(study_table, res.kpis)}
    parts = []
    for i, pid in enumerate(PLOT_IDS):
        fig = _localise(figs[pid], lang).update_layout(autosize=True, width=None)
        # the title as an HTML heading: it wraps on a phone, where plotly's one-line SVG title ran off both edges
        heading = html.escape(fig.layout.title.text or "")  # a title may name a planner's own grid or variant
        for tag in ("br", "sup", "/sup"):  # the only markup the titles use (plotly's own subset of HTML)
            heading = heading.replace(f"&lt;{tag}&gt;", f"<{tag}>")
        fig.update_layout(title_text=None, margin_t=40 if fig.layout.annotations else 20)
        parts.append(f"<section id='sec-{pid}'><h3 class='plot'>{heading}</h3>" + pio.to_html(
            figs[pid], include_plotlyjs=(i == 0), full_html=False, div_id=f"plot-{pid}", default_width="100%",
            config={"displaylogo": False, "responsive": True}) + "</section>")
    k = res.kpis
    q = res.quarter
    de = lang == "de"
    ov = ", ".join(f"{a}={b:g}" for a, b in res.overrides.items()) or ("wie konfiguriert" if de else "as configured")
    title = (f"Quartier {html.escape(q.name)}: Wasserstoff für das Stadtteilzentrum" if de else
             f"Quarter {html.escape(q.name)}: hydrogen for the Stadtteilzentrum")
    other = Path(path).name.replace(".html", ".de.html") if not de else Path(path).name.replace(".de.html", ".html")
    head = (f"<nav class='lang'><a href='{html.escape(other)}'>{'English' if de else 'Deutsch'}</a></nav>"
            f"<h1>{title}</h1>"
            f"<p class='sub'>{html.escape(k.get('period_start', ''))}, {k.get('steps')} "
            f"{'Schritte zu' if de else 'steps of'} {k.get('step_h')} h; "
            f"{'Variante' if de else 'variant'}: {html.escape(ov)}; {'Netz' if de else 'grid'} {html.escape(q.grid.code)}; "
            f"{'Einsatz' if de else 'dispatch'} {html.escape(str(k.get('dispatch')))}; "
            f"{'Versorgung' if de else 'supply'} {html.escape(str(k.get('supply_mode')))}</p>")
    check = res.check
    note = ""
    if check:
        dv, dl = (num(check["max_abs_dvm_pu"], ".1e", lang), num(check["max_abs_dline_loading_pct"], ".1e", lang))
        note = (f"<p class='note'>Schnelle Lastflussrechnung (lightsim2grid) geprüft gegen pandapower runpp an "
                f"{len(check['steps'])} Schritten: max. |ΔU| = {dv} p.u., max. |ΔAuslastung| = {dl} %.</p>" if de else
                f"<p class='note'>Fast power flow (lightsim2grid) checked against pandapower runpp on "
                f"{len(check['steps'])} steps: max |ΔV| = {dv} p.u., max |Δloading| = {dl} %.</p>")
    fixed = [f"<section id='sec-assumptions'><h2>{_t('Assumptions', lang)}</h2>{assumptions_html(res, lang)}</section>",
             f"<section id='sec-kpis'><h2>{_t('Key figures', lang)}</h2>{kpi_table_html(k, lang)}{note}</section>",
             f"<section id='sec-attribution'><h2>{_t('CO2 and cost attribution', lang)}</h2>"
             f"{attribution_html(k, lang)}</section>"]
    if res.stress is not None:
        fixed.append(f"<section id='sec-stress'><h2>{_t('Grid stress cases', lang)}</h2>"
                     f"{stress_html(res.stress, lang)}</section>")
    if representative is not None:
        fixed.append(f"<section id='sec-representative'><h2>{_t('Representative weeks', lang)}</h2>"
                     f"{representative_html(representative, lang)}</section>")
    if study_table is not None and len(study_table):
        cols = [c for c in ("variant", "lcoh_period_eur_per_kg", "lcoh_delivered_period_eur_per_kg",
                            "h2system_self_sufficiency", "co2_avoided_by_h2_kg", "cost_h2_increment_eur",
                            "h2_produced_kg", "stz_share_met_by_h2",
                            "grid_steps_with_violation", "pareto") if c in study_table.columns]
        t = study_table[cols].sort_values("lcoh_period_eur_per_kg").copy()
        for c in ("h2system_self_sufficiency", "stz_share_met_by_h2"):
            if c in t:
                t[c] = t[c].astype(float).map(lambda v: percent(v, lang))
        if "pareto" in t:  # a mark, not Python's True/False, in either language
            t["pareto"] = t["pareto"].map(lambda v: "✓" if bool(v) else "")
        labels = {"variant": "variant", "lcoh_period_eur_per_kg": "LCOH (EUR/kg)",
                  "lcoh_delivered_period_eur_per_kg": "LCOH delivered (EUR/kg)",
                  "h2system_self_sufficiency": "self-sufficiency", "co2_avoided_by_h2_kg": "CO2 avoided by H2 (kg)",
                  "cost_h2_increment_eur": "cost increment H2 (EUR)", "h2_produced_kg": "H2 produced (kg)",
                  "stz_share_met_by_h2": "STZ share from H2", "grid_steps_with_violation": "grid violations (steps)",
                  "pareto": "Pareto"}
        if de:
            labels = {k: _DE.get(v, v) for k, v in labels.items()}
        tab = t.rename(columns=labels).to_html(index=False, float_format=lambda v: readable(v, lang), classes="kpi",
                                               border=0)
        parts.append(f"<section id='sec-variant-table'><h2>{_t('Variant comparison', lang)}</h2>"
                     f"<div class='scroll'>{tab}</div><p class='note'>"
                     + ("Zeitraumwerte (Kapital anteilig); gerankt nach dem Beitrag des Wasserstoffs."
                        if de else "Figures of the period (capital prorated); ranked on the hydrogen increment.")
                     + "</p></section>")
    doc = (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}"
           f"</title><style>{_CSS}</style></head><body>{head}{''.join(fixed)}{''.join(parts)}"
           f"<script>{_PHONE_JS}</script></body></html>")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(doc, encoding="utf-8")
    return p


def render_reports(res: QuarterResult, path: str | Path, study_table: pd.DataFrame | None = None,
                   representative: dict | None = None) -> list[Path]:
    """The report in English (``path``) and German (``path`` with ``.de.html``), linked to each other.

    ``representative``: ``weeks`` (:class:`h2quarters.quarter.representative.RepresentativeWeeks`), ``error``
    (:func:`h2quarters.quarter.representative.representative_error`) and ``reference`` (variant id).
    """
    p = Path(path)
    return [render_report(res, p, study_table, "en", representative),
            render_report(res, p.with_name(p.name.replace(".html", ".de.html")), study_table, "de", representative)]
