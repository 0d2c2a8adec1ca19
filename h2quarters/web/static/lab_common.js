// Learning lab pages: texts, number formatting (decimal comma in German), API calls with clear messages.
"use strict";
const LAB = { T: {}, lang: "de" };
document.addEventListener("DOMContentLoaded", () => {
  LAB.T = JSON.parse(document.getElementById("lab-i18n").textContent);
  LAB.lang = document.body.dataset.lang || "de";
});
function tr(key) { return LAB.T[key] !== undefined ? LAB.T[key] : key; }
function num(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const d = digits === undefined ? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2) : digits;
  if (Math.abs(v) < 0.5 * Math.pow(10, -d)) v = 0;  // no "-0,00" from instrument noise around zero
  return Number(v).toLocaleString(LAB.lang === "de" ? "de-DE" : "en-GB", { minimumFractionDigits: d, maximumFractionDigits: d });
}
function errText(body, status) {
  const d = body && body.detail;
  if (!d) return tr("err.generic") + " (" + status + ")";
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => (e.loc || []).slice(1).join(".") + ": " + e.msg).join("; ");
  return d.message || JSON.stringify(d);
}
async function api(method, url, body, headers) {
  const r = await fetch(url, { method, credentials: "same-origin",
    headers: Object.assign(body !== undefined ? { "Content-Type": "application/json" } : {}, headers || {}),
    body: body !== undefined ? JSON.stringify(body) : undefined });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw new Error(errText(data, r.status));
  return data;
}
function msg(text, ok) {
  const el = document.getElementById("lab-msg");
  if (!el) return;
  el.textContent = text;
  el.className = ok ? "ok" : "err";
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of kids) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 100 26");
  svg.setAttribute("preserveAspectRatio", "none");
  const v = values.filter((x) => x !== null && Number.isFinite(x));
  if (v.length > 1) {
    const lo = Math.min(...v), hi = Math.max(...v), span = hi - lo || 1;
    const pts = v.map((x, i) => (i * 100 / (v.length - 1)).toFixed(1) + "," + (24 - (x - lo) / span * 22).toFixed(1));
    const pl = document.createElementNS(ns, "polyline");
    pl.setAttribute("points", pts.join(" "));
    svg.append(pl);
  }
  return svg;
}
function tiles(box, plant) {
  box.replaceChildren();
  for (const [sig, v] of Object.entries(plant.tiles)) {
    box.append(el("div", { className: "tile", "data-sig": sig }, el("small", { text: tr("sig." + sig) }),
      el("b", { text: num(v) }), el("span", { className: "hint", text: " " + unitOf(sig) }),
      sparkline(plant.trend[sig] || [])));
  }
}
const UNITS = { kw: "kW", a: "A", v: "V", nlh: "NL/h", c: "°C", bar: "bar", kg: "kg", pct: "%" };
function unitOf(sig) { return UNITS[sig.split("_").pop()] || ""; }
function plantTime(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h + " h " + String(m).padStart(2, "0") + " min";
}
