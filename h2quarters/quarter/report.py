"""One self-contained HTML report per quarter run (plotly.js embedded inline: opens offline).

Plots: energy-flow Sankey, monthly balances, load-duration curves, tank level over the year, grid loading and
voltage heatmaps, variant comparison (a study's table with its Pareto set, or the run against its baseline),
and the KPI table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from h2quarters.models.constants import LHV_H2_KWH_PER_KG

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from h2quarters.quarter.simulate import QuarterResult

#: Plot ids in the order they appear (the browser test checks all of them).
PLOT_IDS = ("sankey", "monthly", "duration", "tank", "grid-heatmap", "voltage-heatmap", "variants")

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


def _fmt(v: object, kind: str) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if kind == "pct":
        return f"{100 * float(v):.1f} %"
    if kind == "d":
        return f"{int(v):d}"
    return f"{float(v):,.{int(kind[1:])}f}"


def _num(v: float) -> str:
    """Readable number: thousands separated, two decimals between 1 and 100, three below 1."""
    a = abs(v)
    return f"{v:,.0f}" if a >= 100 else f"{v:.2f}" if a >= 1 else f"{v:.3f}"


def kpi_table_html(kpis: dict) -> str:
    """The KPI table as an HTML table."""
    rows = "".join(f"<tr><td>{html.escape(label)}</td><td class='num'>{_fmt(kpis.get(key), kind)}</td></tr>"
                   for key, label, kind in _KPI_ROWS)
    return f"<table class='kpi'><thead><tr><th>KPI</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"


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


_CARRIER_RGBA = {"el": "rgba(31,119,180,0.45)", "h2": "rgba(44,160,44,0.55)", "heat": "rgba(214,39,40,0.45)",
                 "loss": "rgba(127,127,127,0.35)"}


def _sankey(res: QuarterResult) -> go.Figure:
    import plotly.graph_objects as go

    links = energy_flows_kwh(res)
    nodes = list(dict.fromkeys([a for a, *_ in links] + [b for _, b, *_ in links]))
    ix = {n: i for i, n in enumerate(nodes)}
    fig = go.Figure(go.Sankey(
        valueformat=",.0f", valuesuffix=" kWh",
        node={"label": nodes, "pad": 14, "thickness": 16},
        link={"source": [ix[a] for a, *_ in links], "target": [ix[b] for _, b, *_ in links],
              "value": [v for _, _, v, _ in links], "color": [_CARRIER_RGBA[c] for *_, c in links]}))
    fig.update_layout(title="Energy flows of the hydrogen system, school + Stadtteilzentrum (kWh; blue "
                            "electricity, green hydrogen, red heat, grey losses)", height=520)
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
    fig.update_xaxes(title_text="hours exceeded")
    fig.update_layout(title="Load-duration curves", height=420)
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
    fig.update_layout(title="Hydrogen in store", yaxis_title="kg", height=420,
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
    fig.update_layout(title="Daily maximum loading of every line and the transformer (%)", height=700)
    return fig


def _voltage_heatmap(res: QuarterResult) -> go.Figure:
    import plotly.graph_objects as go

    pf = res.powerflow
    net = res.qnet.net
    if not pf.vm_pu.size:
        return go.Figure().update_layout(title="Voltages: power flow skipped")
    lv = (net.bus.vn_kv < 1.0).to_numpy()
    d = _daily(pf.vm_pu[:, lv], res.timeseries.index, "min")
    fig = go.Figure(go.Heatmap(z=d.to_numpy().T, x=d.index, y=list(net.bus.name.astype(str)[lv]),
                               colorscale="RdBu", zmid=1.0, colorbar={"title": "p.u."}))
    fig.update_layout(title=f"Daily minimum bus voltage (p.u.; EN 50160 band {res.qnet.v_min_pu}–"
                            f"{res.qnet.v_max_pu})", height=700)
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
                hovertemplate="%{text}<br>LCOH %{x:.2f} EUR/kg<br>self-sufficiency %{y:.1f} %<extra></extra>")
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
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:0} .sub{color:#666;margin-top:4px} table.kpi{border-collapse:collapse;margin:12px 0}
table.kpi td,table.kpi th{border-bottom:1px solid #ddd;padding:4px 12px;text-align:left} td.num{text-align:right;
font-variant-numeric:tabular-nums} section{margin:28px 0} .note{color:#555;font-size:0.9em}
"""


def render_report(res: QuarterResult, path: str | Path, study_table: pd.DataFrame | None = None) -> Path:
    """Write the report of ``res`` (and optionally a study's comparison table) to one HTML file.

    The first plot embeds plotly.js inline; no file refers to the network.
    """
    import plotly.io as pio

    figs = {"sankey": _sankey(res), "monthly": _monthly(res), "duration": _duration(res), "tank": _tank(res),
            "grid-heatmap": _grid_heatmap(res), "voltage-heatmap": _voltage_heatmap(res),
            "variants": variants_figure(study_table, res.kpis)}
    parts = []
    for i, pid in enumerate(PLOT_IDS):
        parts.append(f"<section id='sec-{pid}'>" + pio.to_html(
            figs[pid], include_plotlyjs=(i == 0), full_html=False, div_id=f"plot-{pid}",
            config={"displaylogo": False}) + "</section>")
    k = res.kpis
    q = res.quarter
    ov = ", ".join(f"{a}={b:g}" for a, b in res.overrides.items()) or "as configured"
    head = (f"<h1>Quarter {html.escape(q.name)}: hydrogen for the Stadtteilzentrum</h1>"
            f"<p class='sub'>{html.escape(k.get('period_start', ''))}, {k.get('steps')} steps of {k.get('step_h')} h; "
            f"variant: {html.escape(ov)}; grid {html.escape(q.grid.code)}; dispatch {html.escape(str(k.get('dispatch')))}; "
            f"supply {html.escape(str(k.get('supply_mode')))}</p>")
    check = res.check
    note = ""
    if check:
        note = (f"<p class='note'>Fast power flow (lightsim2grid) checked against pandapower runpp on "
                f"{len(check['steps'])} steps: max |ΔV| = {check['max_abs_dvm_pu']:.1e} p.u., max |Δloading| = "
                f"{check['max_abs_dline_loading_pct']:.1e} %.</p>")
    if study_table is not None and len(study_table):
        cols = [c for c in ("variant", "lcoh_period_eur_per_kg", "lcoh_delivered_period_eur_per_kg",
                            "h2system_self_sufficiency", "co2_avoided_by_h2_kg", "cost_h2_increment_eur",
                            "h2_produced_kg", "stz_share_met_by_h2",
                            "grid_steps_with_violation", "pareto") if c in study_table.columns]
        tab = study_table[cols].sort_values("lcoh_period_eur_per_kg").to_html(
            index=False, float_format=_num, classes="kpi", border=0)
        parts.append(f"<section id='sec-variant-table'><h2>Variant comparison</h2>{tab}</section>")
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Quarter {html.escape(q.name)}"
           f"</title><style>{_CSS}</style></head><body>{head}<section id='sec-kpis'><h2>Key figures</h2>"
           f"{kpi_table_html(k)}{note}</section>{''.join(parts)}</body></html>")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(doc, encoding="utf-8")
    return p
