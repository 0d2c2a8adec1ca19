"""Server-side SVG for the cockpit: tachometers, gauges, a Sankey diagram and a series chart.

Plain SVG with presentation attributes (no inline style, no script): it passes the app's strict CSP, needs no CDN
and prints into the PDF-free HTML as it is. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from h2quarters.numbers import num

COLOURS = {"red": "#c5221f", "yellow": "#e0a100", "green": "#1e8e3e", "grey": "#9aa3ab"}


def _arc(cx: float, cy: float, r: float, a0: float, a1: float) -> str:
    """SVG path of an arc from angle a0 to a1 (radians, 0 = left, π = right, over the top)."""
    x0, y0 = cx - r * math.cos(a0), cy - r * math.sin(a0)
    x1, y1 = cx - r * math.cos(a1), cy - r * math.sin(a1)
    return f"M{x0:.1f},{y0:.1f} A{r},{r} 0 {1 if a1 - a0 > math.pi else 0},1 {x1:.1f},{y1:.1f}"


def _dash(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def tachometer(score: int | None, colour: str, label: str, sub: str = "", bands: tuple[int, int] = (50, 75),
               size: int = 220) -> Markup:
    """A half-circle tachometer with red/yellow/green bands, a needle at ``score`` and the score in the middle."""
    cx, cy, r = 110, 110, 90
    parts = [f'<svg class="tacho" viewBox="0 0 220 {165 if sub else 150}" width="{size}" role="img" '
             f'aria-label="{escape(label)}: {score if score is not None else "–"}">']
    edges = [(0, bands[0], "red"), (bands[0], bands[1], "yellow"), (bands[1], 100, "green")]
    for lo, hi, col in edges:
        parts.append(f'<path d="{_arc(cx, cy, r, math.pi * lo / 100, math.pi * hi / 100)}" fill="none" '
                     f'stroke="{COLOURS[col]}" stroke-width="18" opacity="0.35"/>')
    if score is not None:
        parts.append(f'<path d="{_arc(cx, cy, r, 0, max(math.pi * score / 100, 0.001))}" fill="none" '
                     f'stroke="{COLOURS[colour]}" stroke-width="18"/>')
        a = math.pi * score / 100
        parts.append(f'<line x1="{cx}" y1="{cy}" x2="{cx - 72 * math.cos(a):.1f}" y2="{cy - 72 * math.sin(a):.1f}" '
                     'stroke="#1b2530" stroke-width="4" stroke-linecap="round"/>')
    parts.append(f'<circle cx="{cx}" cy="{cy}" r="7" fill="#1b2530"/>')
    parts.append(f'<text x="{cx}" y="{cy + 32}" text-anchor="middle" font-size="26" font-weight="700" '
                 f'fill="{COLOURS[colour]}">{"–" if score is None else score}</text>')
    if sub:
        parts.append(f'<text x="{cx}" y="{cy + 38 + 10}" text-anchor="middle" font-size="11" fill="#5b6773">'
                     f'{escape(sub)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def gauge(pct: float | None, label: str, size: int = 180) -> Markup:
    """A half-circle gauge 0–100 % (self-sufficiency, solar self-use)."""
    cx, cy, r = 90, 90, 70
    v = None if pct is None else max(0.0, min(100.0, pct))
    parts = [f'<svg class="gauge" viewBox="0 0 180 120" width="{size}" role="img" '
             f'aria-label="{escape(label)}: {"–" if v is None else f"{v:.0f} %"}">',
             f'<path d="{_arc(cx, cy, r, 0, math.pi)}" fill="none" stroke="#e3e7eb" stroke-width="16"/>']
    if v is not None and v > 0:
        parts.append(f'<path d="{_arc(cx, cy, r, 0, math.pi * v / 100)}" fill="none" stroke="#0b5cad" '
                     'stroke-width="16"/>')
    parts.append(f'<text x="{cx}" y="{cy - 5}" text-anchor="middle" font-size="24" font-weight="700" fill="#1b2530">'
                 f'{"–" if v is None else f"{v:.0f} %"}</text>')
    parts.append(f'<text x="{cx}" y="{cy + 22}" text-anchor="middle" font-size="12" fill="#5b6773">'
                 f'{escape(label)}</text></svg>')
    return Markup("".join(parts))


SANKEY_COLOURS = {"pv": "#e0a100", "grid": "#5b6773", "fuel_cell": "#0b5cad", "battery": "#7a4fb5",
                  "electrolyser": "#1e8e3e", "tank": "#1e8e3e"}


def sankey(flows: Sequence[tuple[str, str, float]], names: dict[str, str], unit: str = "kWh",
           width: int = 720, height: int = 280, lang: str = "en") -> Markup:
    """Two-column Sankey: sources left, sinks right, band width proportional to the flow."""
    if not flows:
        return Markup(f'<svg class="sankey" viewBox="0 0 {width} 60" width="100%" role="img">'
                      f'<text x="10" y="35" font-size="14" fill="#5b6773">–</text></svg>')
    srcs: dict[str, float] = {}
    dsts: dict[str, float] = {}
    for a, b, v in flows:
        srcs[a] = srcs.get(a, 0.0) + v
        dsts[b] = dsts.get(b, 0.0) + v
    total = sum(srcs.values())
    gap = 14
    usable = height - 20 - gap * (max(len(srcs), len(dsts)) - 1)
    k = usable / total if total > 0 else 0.0
    nx0, nx1, nw = 215, width - 275, 14  # room for the labels either side

    def layout(nodes: dict[str, float]) -> dict[str, list[float]]:
        y = 10.0
        out = {}
        for n, v in nodes.items():
            out[n] = [y, y]  # [top, cursor]
            y += v * k + gap
        return out

    ls, ld = layout(srcs), layout(dsts)
    parts = [f'<svg class="sankey" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="Sankey">']
    for a, b, v in flows:
        h = v * k
        y0 = ls[a][1]
        y1 = ld[b][1]
        ls[a][1] += h
        ld[b][1] += h
        xm = (nx0 + nw + nx1) / 2
        col = SANKEY_COLOURS.get(a, "#9aa3ab")
        parts.append(f'<path d="M{nx0 + nw},{y0 + h / 2:.1f} C{xm},{y0 + h / 2:.1f} {xm},{y1 + h / 2:.1f} '
                     f'{nx1},{y1 + h / 2:.1f}" fill="none" stroke="{col}" stroke-opacity="0.45" '
                     f'stroke-width="{max(h, 1):.1f}"><title>{escape(names.get(a, a))} → '
                     f'{escape(names.get(b, b))}: {num(v, ",.1f", lang)} {unit}</title></path>')
    for side, nodes, x, anchor, tx in (("s", srcs, nx0, "end", nx0 - 6), ("d", dsts, nx1, "start", nx1 + nw + 6)):
        lay = ls if side == "s" else ld
        for n, v in nodes.items():
            top = lay[n][0]
            h = max(v * k, 2)
            parts.append(f'<rect x="{x}" y="{top:.1f}" width="{nw}" height="{h:.1f}" '
                         f'fill="{SANKEY_COLOURS.get(n, "#5b6773")}"/>')
            parts.append(f'<text x="{tx}" y="{top + h / 2 + 4:.1f}" text-anchor="{anchor}" font-size="14" '
                         f'fill="#1b2530">{escape(names.get(n, n))} {num(v, ",.1f", lang)} {unit}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice(x: float) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) not below ``x``."""
    if x <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= x:
            return m * e
    return 10 * e


def series_chart(points: Sequence[dict], unit: str, labels: dict[str, str], width: int = 640,
                 height: int = 260, lang: str = "en") -> Markup:
    """Line chart of a KPI's values against its target path (dashed) and baseline (dotted); ``unit`` heads the
    value axis."""
    vals = [p["value"] for p in points if p["value"] is not None]
    ys = vals + [p["target"] for p in points] + [p["baseline"] for p in points]
    lo, hi = min(ys), max(ys)
    if hi == lo:
        hi = lo + 1.0
    step = _nice((hi - lo) / 4)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    n_ticks = int(round((hi - lo) / step))
    x0, x1, y0, y1 = 56, width - 10, 12, height - 34
    n = max(len(points) - 1, 1)

    def X(i: int) -> float:
        return x0 + (x1 - x0) * i / n

    def Y(v: float) -> float:
        return y1 - (y1 - y0) * (v - lo) / (hi - lo)

    parts = [f'<svg class="series" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(labels.get("value", ""))}">']
    for j in range(n_ticks + 1):
        v = lo + step * j
        parts.append(f'<line x1="{x0}" x2="{x1}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#e3e7eb"/>')
        parts.append(f'<text x="{x0 - 4}" y="{Y(v) + 4:.1f}" text-anchor="end" font-size="10" fill="#5b6773">'
                     f'{num(v, ".6g", lang)}</text>')
    parts.append(f'<text x="{x0 - 4}" y="{y0 - 2}" text-anchor="end" font-size="10" fill="#5b6773">'
                 f'{escape(unit)}</text>')
    for i, p in enumerate(points):
        if i % max(1, len(points) // 6) == 0 or i == len(points) - 1:
            anchor = "end" if i == len(points) - 1 else "middle"
            parts.append(f'<text x="{X(i):.1f}" y="{height - 16}" text-anchor="{anchor}" font-size="10" '
                         f'fill="#5b6773">{escape(p["date"][:7])}</text>')

    def poly(key: str, colour: str, dash: str, w: float) -> None:
        segs, cur = [], []
        for i, p in enumerate(points):
            if p[key] is None:
                if cur:
                    segs.append(cur)
                cur = []
            else:
                cur.append(f"{X(i):.1f},{Y(p[key]):.1f}")
        if cur:
            segs.append(cur)
        for s in segs:
            parts.append(f'<polyline points="{" ".join(s)}" fill="none" stroke="{colour}" stroke-width="{w}"'
                         f'{_dash(dash)}/>')

    poly("baseline", "#9aa3ab", "2 4", 1.5)
    poly("target", "#1e8e3e", "8 5", 2)
    poly("value", "#0b5cad", "", 2.5)
    for i, p in enumerate(points):
        if p["value"] is not None:
            parts.append(f'<circle cx="{X(i):.1f}" cy="{Y(p["value"]):.1f}" r="3" fill="#0b5cad">'
                         f'<title>{escape(p["date"])}: {num(p["value"], ".4g", lang)} {escape(unit)}</title></circle>')
    lx = x0
    for key, colour, dash in (("value", "#0b5cad", ""), ("target", "#1e8e3e", "8 5"), ("baseline", "#9aa3ab", "2 4")):
        parts.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{height - 4}" y2="{height - 4}" stroke="{colour}" '
                     f'stroke-width="2.5"{_dash(dash)}/>')
        parts.append(f'<text x="{lx + 26}" y="{height - 1}" font-size="11" fill="#1b2530">'
                     f'{escape(labels.get(key, key))}</text>')
        lx += 40 + 7 * len(labels.get(key, key))
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["COLOURS", "gauge", "sankey", "series_chart", "tachometer"]
