// HMI: live values over Server-Sent Events, commands over the JSON API, charts with uPlot.
"use strict";
const S = { me: null, signals: {}, snap: null, trend: null, planChart: null, trendSel: [] };

async function api(path, opts) {
  const o = Object.assign({ headers: { "Content-Type": "application/json" } }, opts || {});
  const r = await fetch(path, o);
  if (r.status === 401) { location.href = "/login"; throw new Error("401"); }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { ok: r.ok, status: r.status, body };
}
function loc() { return I18N.lang === "de" ? "de-DE" : "en-GB"; }
function num(v, digits) {
  return Number(v).toLocaleString(loc(), { maximumFractionDigits: digits === undefined ? 2 : digits, minimumFractionDigits: 0 });
}
function fmt(v, name) {
  if (v === null || v === undefined) return "—";
  const meta = S.signals[name];
  if (meta && meta.enum && (typeof v === "number")) {
    const label = meta.enum[String(v)];
    if (label !== undefined) return t("enum." + name + "." + label, null) === "enum." + name + "." + label ? label : t("enum." + name + "." + label);
  }
  if (typeof v === "boolean") return v ? t("ui.on") : t("ui.off");
  if (typeof v === "number") return Math.abs(v) >= 100 || Number.isInteger(v) ? num(v, 1) : v.toLocaleString(loc(), { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  if (Array.isArray(v)) return v.join(", ") || "—";
  return String(v);
}
function uuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
}
function tstr(ms) { return new Date(ms).toLocaleString(loc()); }
function sigName(n) { const k = "sig." + n; return I18N.dict[k] !== undefined ? t(k) : n; }
function reasonText(r) { const k = "reason." + r; if (I18N.dict[k] !== undefined) return t(k); return alarmText({ code: r, message: r, params: {} }); }
function paramText(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.length ? v.join(", ") : t("ui.none");
  if (typeof v === "object") { const e = Object.entries(v); return e.length ? e.map(([k, x]) => sigName(k) + " = " + (typeof x === "number" ? num(x) : String(x))).join(", ") : t("ui.none"); }
  if (typeof v === "number") return num(v);
  return String(v);
}

function render(snap) {
  S.snap = snap;
  document.querySelectorAll("[data-sig]").forEach((el) => {
    const s = snap.signals[el.dataset.sig];
    el.textContent = s ? fmt(s.v, el.dataset.sig) : "—";
    el.classList.toggle("bad", !!s && s.q !== "GOOD");
    el.title = s ? s.q : "";
  });
  const mb = document.getElementById("mode-badge");
  mb.textContent = t("mode." + snap.mode);
  mb.dataset.mode = snap.mode;
  document.querySelectorAll(".mode-btn").forEach((b) => b.classList.toggle("active", b.dataset.mode === snap.mode));
  const lb = document.getElementById("link-badge");
  lb.textContent = snap.link.ok ? t("link.ok") : t("link.lost");
  lb.classList.toggle("bad", !snap.link.ok);
  document.getElementById("lease-left").textContent = snap.lease_left_s === null ? "—" : Math.round(snap.lease_left_s) + " s";
  document.getElementById("safe-reasons").textContent = snap.mode === "safe" ? t("safe.reasons", { r: snap.safe_reasons.map(reasonText).join(", ") }) : "";
  const v = (n) => (snap.signals[n] ? snap.signals[n].v : null);
  const setU = (id, on, trip) => { const u = document.getElementById(id); if (!u) return; u.classList.toggle("on", !!on); u.classList.toggle("trip", !!trip); };
  setU("u-pv", (v("pv_power_kw") || 0) > 0.01);
  setU("u-el", (v("el_power_kw") || 0) > 0.2, v("el_system_state") === 2);
  setU("u-fc", (v("fc_power_kw") || 0) > 0.01, v("fc_state") === 2);
  setU("u-tank", true, (v("storage_health") || 0) === 1);
  setU("u-safety", false, (v("trips_latched") || 0) > 1 || v("estop_active"));
  const canCmd = S.me && S.me.permissions.includes("command");
  document.getElementById("btn-ack-safe").hidden = !(snap.mode === "safe" && canCmd);
}

function startStream() {
  const es = new EventSource("/api/stream");
  es.onmessage = (ev) => { try { render(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
  es.onerror = () => { document.getElementById("link-badge").textContent = t("link.stream_lost"); };
}

function showMsg(ok, text) {
  const m = document.getElementById("cmd-msg");
  m.textContent = text;
  m.className = "msg " + (ok ? "ok" : "err");
}
// a command's result: translated from its code and parameters ("result.<code>"); the stored English text
// only for codes this page does not know (e.g. rows written before results had codes)
function resultText(rec) {
  const code = rec.detail_code;
  if (!code || I18N.dict["result." + code] === undefined) return rec.detail || "";
  const p = {};
  for (const [k, v] of Object.entries(rec.detail_params || {})) {
    if (k === "mode") p[k] = t("mode." + v);
    else if (k === "name") p[k] = sigName(v);
    else if (k === "reasons") p[k] = Array.isArray(v) && v.length ? v.map(reasonText).join(", ") : t("ui.none");
    else if (k === "alarm") p[k] = alarmText({ code: String(v), message: String(v), params: {} });
    else p[k] = paramText(v);
  }
  if (p.unit === undefined) p.unit = "";
  return t("result." + code, p).trim();
}
function errText(status, d) {
  if (d && typeof d === "object" && !Array.isArray(d) && d.code && I18N.dict["err." + d.code] !== undefined) {
    const p = Object.assign({}, d.params || {});
    if (p.field) p.field = sigName(p.field);
    for (const k of ["value", "min", "max"]) if (typeof p[k] === "number") p[k] = num(p[k], 3);
    return t("err." + d.code, p);
  }
  if (status === 403) return t("cmd.forbidden");
  if (Array.isArray(d) && d.length) return t("err.generic", { status }) + " " + d.map((e) => (e.loc || []).slice(-1).join("")).join(", ");
  return (d && (typeof d === "string" ? d : d.message)) || t("err.generic", { status });
}
function explain(res) {
  const b = res.body || {};
  if (b.status && typeof b.status === "string") { const r = resultText(b); return t("cmd.status." + b.status) + (r ? " – " + r : ""); }
  return errText(res.status, b.detail);
}
async function command(path, payload) {
  const res = await api(path, { method: "POST", body: JSON.stringify(Object.assign({ command_id: uuid() }, payload || {})) });
  showMsg(res.ok, explain(res));
  loadAudit(); loadAlarms();
  return res;
}

function alarmText(a) {
  // alarm codes have translated texts ("alarm.<code>", with the signal or interlock as {x} and the alarm's
  // parameters); else the stored (English) message
  const i = a.code.indexOf(":");
  const base = i < 0 ? a.code : a.code.slice(0, i), arg = i < 0 ? "" : a.code.slice(i + 1);
  if (I18N.dict["alarm." + base] === undefined) return a.message;
  const p = { x: I18N.dict["sig." + arg] || arg };
  for (const [k, v] of Object.entries(a.params || {})) p[k] = k === "mode" || k === "now" ? t("mode." + v) : paramText(v);
  return t("alarm." + base, p);
}

async function loadAlarms() {
  const res = await api("/api/alarms?limit=50");
  if (!res.ok) return;
  const tb = document.querySelector("#alarm-table tbody");
  tb.innerHTML = "";
  const canCmd = S.me && S.me.permissions.includes("command");
  const prio = { trip: 0, alarm: 1, warning: 2, info: 3 };
  // unacknowledged first, then by priority, then newest
  const rows = res.body.slice().sort((x, y) => (!!x.t_acked_ms - !!y.t_acked_ms) || (prio[x.severity] - prio[y.severity]) || (y.t_raised_ms - x.t_raised_ms));
  document.getElementById("alarms-none").hidden = rows.length > 0;
  for (const a of rows) {
    const tr = document.createElement("tr");
    tr.className = "sev-" + a.severity + (a.t_cleared_ms ? " cleared" : "") + (a.t_acked_ms ? " acked" : " unacked");
    const state = (a.t_cleared_ms ? t("alarms.cleared") : t("alarms.active")) + " · " + (a.t_acked_ms ? t("alarms.acked", { user: a.acked_by }) : t("alarms.unacked"));
    for (const txt of [t("severity." + a.severity), tstr(a.t_raised_ms), alarmText(a)]) {
      const td = document.createElement("td"); td.textContent = txt; tr.appendChild(td);
    }
    const td = document.createElement("td");
    const st = document.createElement("div"); st.textContent = state; td.appendChild(st);
    if (!a.t_acked_ms && canCmd) {  // the acknowledge button sits in the state cell: never cut off
      const b = document.createElement("button");
      b.textContent = t("alarms.ack"); b.className = "ack";
      b.addEventListener("click", async () => { const r = await api("/api/alarms/" + a.alarm_id + "/ack", { method: "POST" }); if (!r.ok) showMsg(false, explain(r)); loadAlarms(); loadAudit(); });
      td.appendChild(b);
    }
    tr.appendChild(td);
    tb.appendChild(tr);
  }
}

async function loadAudit() {
  if (!S.me || !S.me.permissions.includes("audit")) { document.querySelector(".audit").hidden = true; return; }
  const res = await api("/api/audit?limit=25");
  if (!res.ok) return;
  const tb = document.querySelector("#audit-table tbody");
  tb.innerHTML = "";
  for (const c of res.body) {
    const tr = document.createElement("tr");
    tr.className = "st-" + c.status;
    const role = I18N.dict["role." + c.role] !== undefined ? t("role." + c.role) : c.role;
    const kind = I18N.dict["kind." + c.kind] !== undefined ? t("kind." + c.kind) : c.kind;
    const val = typeof c.value === "number" ? num(c.value, 3) : typeof c.value === "boolean" ? (c.value ? t("ui.on") : t("ui.off")) : c.kind === "mode" || c.target === "mode" ? (c.value ? t("mode." + c.value) : "—") : JSON.stringify(c.value);
    for (const txt of [tstr(c.t_ms), c.user_name + " (" + role + ")", c.source, (c.target === "mode" ? kind : kind + " " + sigName(c.target)), val, t("cmd.status." + c.status) + (c.detail && c.status !== "ok" ? " – " + resultText(c) : "")]) {
      const td = document.createElement("td"); td.textContent = txt; tr.appendChild(td);
    }
    tb.appendChild(tr);
  }
}

// time axis in the page's language (uPlot's own default is US-style); value axes with unit and tick labels
// precise enough to differ (never five ticks all reading "2.922")
function timeTicks(u, vals, space, incr) {
  const span = (u.scales.x.max - u.scales.x.min);
  const o = span > 2 * 86400 ? { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" }
    : span > 6 * 3600 ? { hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit", second: span < 1800 ? "2-digit" : undefined };
  const f = new Intl.DateTimeFormat(loc(), o);
  return vals.map((v) => f.format(new Date(v * 1000)));
}
function valueTicks(u, vals) {
  const step = vals.length > 1 ? Math.abs(vals[1] - vals[0]) : 1;
  const d = step > 0 ? Math.min(Math.max(0, -Math.floor(Math.log10(step)) + (step / Math.pow(10, Math.floor(Math.log10(step))) < 1.5 ? 1 : 0)), 6) : 2;
  return vals.map((v) => v.toLocaleString(loc(), { minimumFractionDigits: d, maximumFractionDigits: d }));
}
function chart(el, series, data, old, units) {
  if (old) old.destroy();
  const width = Math.max(el.clientWidth - 4, 240);
  const us = units && units.length ? units : [""];
  const axes = [{ values: timeTicks, label: t("trend.time") }];
  us.slice(0, 2).forEach((un, i) => axes.push({ scale: un || "y", side: i === 0 ? 3 : 1, label: un, values: valueTicks, size: 60, grid: { show: i === 0 } }));
  const scales = { x: { time: true } };
  us.slice(0, 2).forEach((un) => { scales[un || "y"] = {}; });
  const opts = { width, height: document.body.classList.contains("big") ? 340 : 260, scales,
    series: [{ label: t("trend.time"), value: (u, v) => (v === null ? "—" : tstr(v * 1000)) }].concat(series), axes };
  return new uPlot(opts, data, el);
}
// a null between two points further apart than ``gap_s`` makes uPlot break the line (no line across downtime)
function withGaps(xs, ys, gap_s) {
  const ox = [], oy = ys.map(() => []);
  for (let i = 0; i < xs.length; i++) {
    if (i > 0 && xs[i] - xs[i - 1] > gap_s) { ox.push((xs[i] + xs[i - 1]) / 2); oy.forEach((a) => a.push(null)); }
    ox.push(xs[i]); ys.forEach((y, k) => oy[k].push(y[i]));
  }
  return [ox].concat(oy);
}
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

async function loadTrend() {
  const sel = Array.from(document.getElementById("trend-signals").selectedOptions).map((o) => o.value);
  if (sel.length) S.trendSel = sel;
  const names = S.trendSel.length ? S.trendSel : ["pv_power_kw", "el_power_kw", "load_power_kw"];
  const span = Number(document.getElementById("trend-range").value);
  const end = new Date(), start = new Date(end.getTime() - span * 1000);
  const bucket = Math.max(1, Math.round(span / 600));
  const q = new URLSearchParams({ signals: names.join(","), start: start.toISOString(), end: end.toISOString(), bucket_s: String(bucket) });
  const res = await api("/api/history?" + q);
  if (!res.ok) return;
  const ts = new Set();
  for (const n of names) for (const x of res.body.series[n].t_ms) ts.add(x);
  const xs = Array.from(ts).sort((a, b) => a - b);
  const ys = names.map((n) => {
    const m = new Map(res.body.series[n].t_ms.map((x, i) => [x, res.body.series[n].value[i]]));
    return xs.map((x) => (m.has(x) ? m.get(x) : null));
  });
  const bs = res.body.bucket_s || 1;
  const data = withGaps(xs.map((x) => x / 1000), ys, Math.max(3 * bs, 10));
  const unitOf = (n) => (S.signals[n] && S.signals[n].unit) || "";
  const units = Array.from(new Set(names.map(unitOf)));
  const series = names.map((n, i) => ({ label: sigName(n) + (unitOf(n) ? " [" + unitOf(n) + "]" : ""), stroke: COLORS[i % COLORS.length], width: 2,
    scale: units.indexOf(unitOf(n)) < 2 ? (unitOf(n) || "y") : (units[0] || "y"), value: (u, v) => (v === null ? "—" : num(v, 3)) }));
  S.trend = chart(document.getElementById("trend-chart"), series, data, S.trend, units);
}

async function loadPlan() {
  const res = await api("/api/plan");
  const info = document.getElementById("plan-info");
  if (!res.ok) { info.textContent = t("plan.none"); return; }
  const p = res.body;
  info.textContent = t("plan.info", { id: p.plan_id, t: tstr(p.t_created_ms), s: p.solve_s.toFixed(2) });
  const t0 = p.t_ms[0], t1 = Math.min(p.t_ms[p.t_ms.length - 1] + p.dt_s * 1000, Date.now());
  const q = new URLSearchParams({ signals: "el_power_kw,pv_power_kw", start: new Date(t0).toISOString(), end: new Date(Math.max(t1, t0 + 1000)).toISOString(), bucket_s: String(p.dt_s) });
  const h = await api("/api/history?" + q);
  const act = (n) => { const m = new Map(); if (h.ok) h.body.series[n].t_ms.forEach((x, i) => m.set(x, h.body.series[n].value[i])); return p.t_ms.map((x) => (m.has(x) ? m.get(x) : null)); };
  const data = [p.t_ms.map((x) => x / 1000), p.columns.ely_p_el_kw, act("el_power_kw"), p.forecast_pv_kw.length ? p.forecast_pv_kw : p.columns.pv_kw, act("pv_power_kw")];
  const v = (u, x) => (x === null ? "—" : num(x, 2));
  const series = [
    { label: t("plan.el_plan"), stroke: "#1f77b4", dash: [6, 4], width: 2, scale: "kW", value: v }, { label: t("plan.el_actual"), stroke: "#1f77b4", width: 2, scale: "kW", value: v },
    { label: t("plan.pv_forecast"), stroke: "#ff7f0e", dash: [6, 4], width: 2, scale: "kW", value: v }, { label: t("plan.pv_actual"), stroke: "#ff7f0e", width: 2, scale: "kW", value: v }];
  S.planChart = chart(document.getElementById("plan-chart"), series, data, S.planChart, ["kW"]);
}

async function init() {
  await I18N.ready;
  const me = await api("/api/auth/me");
  S.me = me.body;
  document.getElementById("user-info").textContent = S.me.name + " · " + t("role." + S.me.role);
  const canCmd = S.me.permissions.includes("command");
  document.querySelector(".control").classList.toggle("readonly", !canCmd);
  const sigs = await api("/api/signals");
  for (const s of sigs.body) S.signals[s.name] = s;
  const ts = document.getElementById("trend-signals");
  for (const s of sigs.body) {
    if (["ascii4", "list16"].includes(s.dtype) || s.access !== "r") continue;
    const o = document.createElement("option"); o.value = s.name; o.dataset.i18n = "sig." + s.name; o.textContent = t("sig." + s.name);
    if (["pv_power_kw", "el_power_kw", "load_power_kw"].includes(s.name)) o.selected = true;
    ts.appendChild(o);
  }
  applyI18n(ts);
  document.querySelectorAll(".mode-btn").forEach((b) => b.addEventListener("click", () => command("/api/mode", { mode: b.dataset.mode })));
  document.getElementById("btn-ack-safe").addEventListener("click", () => command("/api/safe/ack", {}));
  // SAFE and EMERGENCY STOP: prominent, always visible for commanders, sent only after a confirmation step
  const box = document.getElementById("confirm-box");
  let pending = null;
  const ask = (key, path) => { pending = path; document.getElementById("confirm-text").textContent = t(key); box.hidden = false; document.getElementById("confirm-no").focus(); };
  document.getElementById("btn-safe").addEventListener("click", () => ask("control.confirm_safe", "/api/safe"));
  document.getElementById("btn-estop").addEventListener("click", () => ask("control.confirm_estop", "/api/estop"));
  document.getElementById("confirm-no").addEventListener("click", () => { box.hidden = true; pending = null; });
  document.getElementById("confirm-yes").addEventListener("click", () => { box.hidden = true; if (pending) command(pending, { confirm: true }); pending = null; });
  const spName = document.getElementById("sp-name");
  const showRange = () => {
    const m = S.signals[spName.value], inp = document.getElementById("sp-value");
    if (!m) return;
    document.getElementById("sp-unit").textContent = m.dtype === "bool" ? "" : (m.unit || "");
    const r = m.dtype === "bool" ? t("control.onoff") : (m.min !== null && m.max !== null ? t("control.range", { min: num(m.min), max: num(m.max), unit: m.unit || "" }) : "");
    document.getElementById("sp-range").textContent = r;
    inp.placeholder = r;
    if (m.dtype !== "bool" && m.min !== null) { inp.dataset.min = m.min; inp.dataset.max = m.max; }
  };
  spName.addEventListener("change", showRange);
  showRange();
  document.getElementById("btn-lease").addEventListener("click", async () => { const r = await api("/api/lease/refresh", { method: "POST" }); showMsg(r.ok, r.ok ? t("control.lease_ok") : explain(r)); });
  document.getElementById("sp-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = document.getElementById("sp-name").value;
    const raw = document.getElementById("sp-value").value.trim().replace(",", ".");
    const meta = S.signals[name];
    let value = Number(raw);
    if (meta && meta.dtype === "bool") value = ["1", "true", "on", "ein", "an"].includes(raw.toLowerCase());
    if (meta && meta.dtype !== "bool" && !Number.isFinite(value)) { showMsg(false, t("cmd.not_number")); return; }
    command("/api/setpoints", { name, value });
  });
  document.getElementById("btn-logout").addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }); location.href = "/login"; });
  document.getElementById("btn-trend").addEventListener("click", loadTrend);
  document.addEventListener("h2q-lang", () => { showRange(); if (S.snap) render(S.snap); loadAlarms(); loadAudit(); loadTrend(); loadPlan(); if (S.me) document.getElementById("user-info").textContent = S.me.name + " · " + t("role." + S.me.role); });
  const st = await api("/api/state");
  if (st.ok) render(st.body);
  startStream();
  loadAlarms(); loadAudit(); loadTrend(); loadPlan();
  setInterval(loadAlarms, 5000);
  setInterval(loadAudit, 5000);
  setInterval(loadTrend, 15000);
  setInterval(loadPlan, 60000);
}
document.addEventListener("DOMContentLoaded", init);
