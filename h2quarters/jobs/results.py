"""Results of planners' jobs: the KPI table, the Pareto set, comparisons of two runs and the downloads.

A *run* is a job (``"12"``) or one variant of a study (``"12:electrolyser_kw=9.6__tank_kg=40"``). Comparing two
runs lists the inputs that differ (every YAML value of the scenario, the job's settings and the variant's sizes)
and the KPIs with their difference and the relative difference in % of the first run.
"""

from __future__ import annotations

import csv
import html
import io
import math
from typing import Any

import yaml

from h2quarters.jobs import records as R
from h2quarters.store import Store

#: KPIs shown first in tables and comparisons (when a run has them), in this order.
HEADLINE = {
    "simulate": ["h2_produced_kg", "self_sufficiency_rate", "self_consumption_rate", "sec_system_kwh_per_kg",
                 "lcoh_eur_per_kg", "co2_avoided_kg", "grid_import_kwh", "grid_export_kwh", "pv_yield_kwh"],
    "quarter": ["lcoh_period_eur_per_kg", "h2system_self_sufficiency", "co2_avoided_by_h2_kg",
                "cost_h2_increment_eur", "h2_produced_kg", "stz_share_met_by_h2", "trailer_trips",
                "grid_v_min_pu", "grid_line_loading_max_pct", "grid_steps_with_violation"],
}

#: KPIs whose value is a fraction (0..1); pages show them in per cent (exports keep the fraction).
FRACTION_KPIS = frozenset({
    "self_sufficiency_rate", "self_consumption_rate", "efficiency_lhv_system", "efficiency_hhv_system",
    "ely_capacity_factor", "ely_faraday_efficiency", "h2_renewable_share_hourly", "h2_renewable_share_monthly",
    "h2system_self_sufficiency", "quarter_self_sufficiency", "stz_share_met_by_h2", "stz_electricity_share_h2",
    "stz_heat_share_h2",
})


def _family(kind: str) -> str:
    return "simulate" if kind == "simulate" else "quarter"


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(float(v)) else None


def assemble(kind: str, variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The result of a finished job: a table (one row per variant), the Pareto set and the best variant."""
    from h2quarters.quarter.study import OBJECTIVES, TABLE_COLUMNS

    if kind != "quarter_study":
        k = variants[0]["kpis"] or {}
        return {"kpis": k, "table": [{"variant": variants[0]["variant"], **variants[0]["overrides"], **k}],
                "columns": [c for c in HEADLINE[_family(kind)] if c in k], "pareto": [], "best": variants[0]["variant"]}
    import pandas as pd

    from h2quarters.quarter.study import pareto_mask

    rows = []
    for v in variants:
        row = {"variant": v["variant"], **v["overrides"]}
        row.update({c: (v["kpis"] or {}).get(c) for c in TABLE_COLUMNS})
        rows.append(row)
    table = pd.DataFrame(rows)
    mask = pareto_mask(table)
    table["pareto"] = mask
    pareto = table[mask]
    best = (pareto if len(pareto) else table).sort_values("lcoh_period_eur_per_kg").iloc[0]["variant"]
    recs = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
            for r in table.astype(object).where(table.notna(), None).to_dict("records")]
    for r in recs:
        r["pareto"] = bool(r["pareto"])
    return {"table": recs, "columns": HEADLINE["quarter"], "pareto": table.variant[mask].tolist(), "best": best,
            "objectives": [list(o) for o in OBJECTIVES], "varied": sorted(variants[0]["overrides"])}


# ============================================================================ runs and comparisons
def split_ref(ref: str) -> tuple[int, str | None]:
    """``"12"`` → (12, None); ``"12:variant"`` → (12, "variant"); ValueError otherwise."""
    jid, _, var = ref.partition(":")
    if not jid.isdigit():
        raise ValueError(f"run '{ref}': expected a job id or job id:variant")
    return int(jid), var or None


def run_of(store: Store, ref: str) -> dict[str, Any]:
    """A run's label, inputs (flat path → value) and KPIs. KeyError if the job or variant does not exist or is
    not finished."""
    jid, var = split_ref(ref)
    job = R.get(store, jid, full=True)
    if job is None:
        raise KeyError(f"job {jid}")
    vs = {v["variant"]: v for v in R.variants(store, jid)}
    if var is None:
        if len(vs) != 1 and job["result"]:
            var = job["result"]["best"]
        else:
            var = next(iter(vs))
    if var not in vs or vs[var]["kpis"] is None:
        raise KeyError(f"run {ref} (no finished variant '{var}')")
    inputs: dict[str, Any] = {}
    for f, text in sorted(job["scenario_files"].items()):
        _flatten(yaml.safe_load(text) or {}, f + ":", inputs)
    for k, v in sorted(job["params"].items()):
        if k != "vary":
            inputs[f"job:{k}"] = v
    for k, v in vs[var]["overrides"].items():
        inputs[f"variant:{k}"] = v
    return {"ref": f"{jid}:{var}", "job": job["id"], "variant": var, "title": job["title"], "kind": job["kind"],
            "owner": job["owner"], "shared": job["shared"], "inputs": inputs, "kpis": vs[var]["kpis"]}


def _flatten(d: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(d, dict):
        for k, v in d.items():
            _flatten(v, f"{prefix}{'.' if not prefix.endswith(':') else ''}{k}", out)
    elif isinstance(d, list) and d and isinstance(d[0], dict):
        for i, v in enumerate(d):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = d


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Inputs that differ, and every numeric KPI of both runs with ``diff`` = b − a and ``pct`` = diff / |a|."""
    keys = sorted(set(a["inputs"]) | set(b["inputs"]))
    inputs = [{"path": k, "a": a["inputs"].get(k), "b": b["inputs"].get(k)} for k in keys
              if a["inputs"].get(k) != b["inputs"].get(k)]
    fam = _family(a["kind"])
    order = [k for k in HEADLINE[fam] if k in a["kpis"] or k in b["kpis"]]
    order += sorted(k for k in set(a["kpis"]) | set(b["kpis"]) if k not in order and k != "worker_pid")
    kpis = []
    for k in order:
        va, vb = _num(a["kpis"].get(k)), _num(b["kpis"].get(k))
        if va is None and vb is None:
            continue
        diff = vb - va if va is not None and vb is not None else None
        pct = 100.0 * diff / abs(va) if diff is not None and va not in (None, 0.0) else None
        kpis.append({"key": k, "a": va, "b": vb, "diff": diff, "pct": pct, "headline": k in HEADLINE[fam]})
    return {"a": {k: a[k] for k in ("ref", "job", "variant", "title", "kind")},
            "b": {k: b[k] for k in ("ref", "job", "variant", "title", "kind")}, "inputs": inputs, "kpis": kpis}


# ============================================================================ downloads
def table_rows(job: dict[str, Any], variants: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a job's download: one row per variant, the sizes, then every KPI."""
    keys: list[str] = []
    fam = _family(job["kind"])
    for v in variants:
        for k in (v["kpis"] or {}):
            if k not in keys and k != "worker_pid" and not isinstance(v["kpis"][k], (dict, list)):
                keys.append(k)
    keys = [k for k in HEADLINE[fam] if k in keys] + [k for k in keys if k not in HEADLINE[fam]]
    sizes = sorted({k for v in variants for k in v["overrides"]})
    pareto = set((job.get("result") or {}).get("pareto", []))
    head = ["variant", "status", *sizes, *(["pareto"] if job["kind"] == "quarter_study" else []), *keys]
    rows = [[v["variant"], v["status"], *[v["overrides"].get(s) for s in sizes],
             *([v["variant"] in pareto] if job["kind"] == "quarter_study" else []),
             *[(v["kpis"] or {}).get(k) for k in keys]] for v in variants]
    return head, rows


def _meta(job: dict[str, Any]) -> list[list[Any]]:
    return [["job", job["id"]], ["title", job["title"]], ["kind", job["kind"]], ["owner", job["owner"]],
            ["scenario", job["scenario"]["name"]], ["base", job["scenario"]["base"]],
            *[[f"setting {k}", str(v)] for k, v in job["params"].items()]]


def to_csv(job: dict[str, Any], variants: list[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with BOM (spreadsheet programs), the job's settings in a trailing block."""
    head, rows = table_rows(job, variants)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(rows)
    w.writerow([])
    w.writerows(_meta(job))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(job: dict[str, Any], variants: list[dict[str, Any]]) -> bytes:
    """XLSX (openpyxl): sheet ``kpis`` with the table, sheet ``settings`` with the job's settings."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    head, rows = table_rows(job, variants)
    wb = Workbook()
    ws = wb.active
    ws.title = "kpis"
    ws.append(head)
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([v if v is None or isinstance(v, (int, float, str, bool)) else str(v) for v in r])
    ws.freeze_panes = "B2"
    m = wb.create_sheet("settings")
    for r in _meta(job):
        m.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def kpi_report_html(job: dict[str, Any], result: dict[str, Any], lang: str) -> str:
    """A self-contained HTML report of a site simulation (the quarter's come from
    :func:`h2quarters.quarter.report.render_reports`)."""
    de = lang == "de"
    k = result.get("kpis") or {}
    rows = "".join(f"<tr><td>{html.escape(key)}</td><td class='num'>{_fmt(v)}</td></tr>" for key, v in k.items()
                   if not isinstance(v, (dict, list)) and key != "worker_pid")
    title = ("Simulation" if not de else "Simulation") + f": {html.escape(job['scenario']['name'])}"
    sub = ", ".join(f"{html.escape(str(a))} = {html.escape(str(b))}" for a, b in job["params"].items())
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width, initial-scale=1'><title>{title}</title><style>body{{font-family:"
            f"system-ui,sans-serif;margin:1rem;max-width:60rem}}table{{border-collapse:collapse}}td{{padding:"
            f".2rem .6rem;border-bottom:1px solid #ddd}}.num{{text-align:right;font-variant-numeric:tabular-nums}}"
            f"</style></head><body><h1>{title}</h1><p>{sub}</p><h2>{'Kennzahlen' if de else 'Key figures'}</h2>"
            f"<table><tbody>{rows}</tbody></table></body></html>")


def _fmt(v: Any) -> str:
    n = _num(v)
    if n is None:
        return html.escape(str(v)) if v is not None else "–"
    a = abs(n)
    return f"{n:,.0f}" if a >= 100 else f"{n:.2f}" if a >= 1 else f"{n:.3f}"
