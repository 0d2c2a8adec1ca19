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
function fmt(v, name) {
  if (v === null || v === undefined) return "—";
  const meta = S.signals[name];
  if (meta && meta.enum && (typeof v === "number")) {
    const label = meta.enum[String(v)];
    if (label !== undefined) return t("enum." + name + "." + label, null) === "enum." + name + "." + label ? label : t("enum." + name + "." + label);
  }
  if (typeof v === "boolean") return v ? t("ui.on") : t("ui.off");
  if (typeof v === "number") return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 10) / 10) : v.toFixed(2);
  if (Array.isArray(v)) return v.join(", ") || "—";
  return String(v);
}
function uuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
}
function tstr(ms) { return new Date(ms).toLocaleString(I18N.lang === "de" ? "de-DE" : "en-GB"); }

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
  document.getElementById("safe-reasons").textContent = snap.mode === "safe" ? t("safe.reasons", { r: snap.safe_reasons.join(", ") }) : "";
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
function explain(res) {
  const b = res.body || {};
  if (res.status === 422 && b.detail && b.detail.limit) return t("cmd.invalid", { field: b.detail.field, value: b.detail.value, limit: b.detail.limit });
  if (res.status === 403) return t("cmd.forbidden");
  if (b.status) return t("cmd.status." + b.status) + (b.detail ? " – " + b.detail : "");
  return (b.detail && (typeof b.detail === "string" ? b.detail : JSON.stringify(b.detail))) || String(res.status);
}
async function command(path, payload) {
  const res = await api(path, { method: "POST", body: JSON.stringify(Object.assign({ command_id: uuid() }, payload || {})) });
  showMsg(res.ok, explain(res));
  loadAudit(); loadAlarms();
  return res;
}

function alarmText(a) {
  // alarm codes have translated texts ("alarm.<code>", with the signal or interlock as {x}); else the stored message
  const i = a.code.indexOf(":");
  const base = i < 0 ? a.code : a.code.slice(0, i), arg = i < 0 ? "" : a.code.slice(i + 1);
  if (I18N.dict["alarm." + base] === undefined) return a.message;
  return t("alarm." + base, { x: I18N.dict["sig." + arg] || arg });
}

async function loadAlarms() {
  const res = await api("/api/alarms?limit=50");
  if (!res.ok) return;
  const tb = document.querySelector("#alarm-table tbody");
  tb.innerHTML = "";
  const canCmd = S.me && S.me.permissions.includes("command");
  for (const a of res.body) {
    const tr = document.createElement("tr");
    tr.className = "sev-" + a.severity + (a.t_cleared_ms ? " cleared" : "");
    const state = (a.t_cleared_ms ? t("alarms.cleared") : t("alarms.active")) + (a.t_acked_ms ? " · " + t("alarms.acked", { user: a.acked_by }) : "");
    for (const txt of [tstr(a.t_raised_ms), t("severity." + a.severity), alarmText(a), state]) {
      const td = document.createElement("td"); td.textContent = txt; tr.appendChild(td);
    }
    const td = document.createElement("td");
    if (!a.t_acked_ms && canCmd) {
      const b = document.createElement("button");
      b.textContent = t("alarms.ack"); b.className = "ack";
      b.addEventListener("click", async () => { await api("/api/alarms/" + a.alarm_id + "/ack", { method: "POST" }); loadAlarms(); });
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
    for (const txt of [tstr(c.t_ms), c.user_name + " (" + c.role + ")", c.source, c.kind + " " + c.target, JSON.stringify(c.value), t("cmd.status." + c.status)]) {
      const td = document.createElement("td"); td.textContent = txt; tr.appendChild(td);
    }
    tb.appendChild(tr);
  }
}

function chart(el, series, data, old) {
  if (old) old.destroy();
  const width = Math.max(el.clientWidth - 10, 300);
  const opts = { width, height: document.body.classList.contains("big") ? 340 : 260,
    scales: { x: { time: true } }, series: [{}].concat(series), axes: [{}, {}] };
  return new uPlot(opts, data, el);
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
  const data = [xs.map((x) => x / 1000)];
  for (const n of names) {
    const m = new Map(res.body.series[n].t_ms.map((x, i) => [x, res.body.series[n].value[i]]));
    data.push(xs.map((x) => (m.has(x) ? m.get(x) : null)));
  }
  const series = names.map((n, i) => ({ label: t("sig." + n) + (S.signals[n] && S.signals[n].unit ? " [" + S.signals[n].unit + "]" : ""), stroke: COLORS[i % COLORS.length], width: 2 }));
  S.trend = chart(document.getElementById("trend-chart"), series, data, S.trend);
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
  const series = [
    { label: t("plan.el_plan"), stroke: "#1f77b4", dash: [6, 4], width: 2 }, { label: t("plan.el_actual"), stroke: "#1f77b4", width: 2 },
    { label: t("plan.pv_forecast"), stroke: "#ff7f0e", dash: [6, 4], width: 2 }, { label: t("plan.pv_actual"), stroke: "#ff7f0e", width: 2 }];
  S.planChart = chart(document.getElementById("plan-chart"), series, data, S.planChart);
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
  document.addEventListener("h2q-lang", () => { if (S.snap) render(S.snap); loadAlarms(); loadAudit(); loadTrend(); loadPlan(); if (S.me) document.getElementById("user-info").textContent = S.me.name + " · " + t("role." + S.me.role); });
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
