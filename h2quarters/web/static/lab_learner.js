// Learner's workspace (phone first): join, the group's live plant, the task, measurements, answers with units.
"use strict";
const TOKEN_KEY = "h2q-lab-token";
let ME = null, EX = null;
function hdr() { const t = sessionStorage.getItem(TOKEN_KEY); return t ? { "X-Lab-Token": t } : {}; }
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("join-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const r = await api("POST", "/api/lab/join", { code: document.getElementById("j-code").value.trim(),
          pseudonym: document.getElementById("j-name").value.trim() });
        sessionStorage.setItem(TOKEN_KEY, r.token);
        location.href = "/lab/join";
      } catch (e) { msg(e.message, false); }
    });
    return;
  }
  refresh(true);
  setInterval(() => refresh(false), 2000);
});

async function refresh(full) {
  // the exercises' texts come with the first load only; polls fetch the plant, readings and answers
  try {
    const d = await api("GET", "/api/lab/me" + (full || !ME ? "" : "?brief=false"), undefined, hdr());
    if (!(full || !ME)) d.exercises = ME.exercises;
    ME = d;
  } catch (e) { msg(e.message, false); return; }
  document.getElementById("w-name").textContent = ME.learner.pseudonym;
  document.getElementById("w-group").textContent = ME.group || ME.learner.group_id;
  const st = document.getElementById("w-status");
  st.dataset.status = ME.lesson.status; st.textContent = tr("status." + ME.lesson.status);
  const note = document.getElementById("w-note");
  const n = { created: "learner.waiting", frozen: "learner.frozen", closed: "learner.closed" }[ME.lesson.status];
  note.hidden = !n; if (n) note.textContent = tr(n);
  if (ME.plant) {
    tiles(document.getElementById("tiles"), ME.plant);
    document.getElementById("w-time").textContent = tr("lesson.plant_time") + " " + plantTime(ME.plant.t_s);
    const al = document.getElementById("w-alarms");
    al.hidden = !ME.plant.visible_faults.length;
    al.textContent = tr("learner.alarm") + ": " + ME.plant.visible_faults.map((f) => f.kind + (f.target ? " (" + f.target + ")" : "")).join(", ");
  }
  if (full || !EX) {
    EX = EX || (ME.exercises[0] && ME.exercises[0].id);
    tabs();
    task();
  }
  readings();
  answersState();
}

function exercise() { return ME.exercises.find((e) => e.id === EX); }
function tabs() {
  const nav = document.getElementById("ex-tabs");
  nav.replaceChildren();
  if (ME.exercises.length < 2) return;
  for (const e of ME.exercises) {
    const b = el("button", { type: "button", className: e.id === EX ? "active" : "", text: e.id + " " + e.title[LAB.lang] });
    b.addEventListener("click", () => { EX = e.id; tabs(); task(); readings(); answersState(); });
    nav.append(b);
  }
}
function task() {
  const e = exercise(), box = document.getElementById("task"), L = LAB.lang;
  box.replaceChildren(el("h2", { text: e.id + " " + e.title[L] }), el("p", { text: e.introduction[L] }),
    el("p", {}, el("b", { text: tr("learner.task") + ": " }), e.tasks[L]));
  if (e.safety.length) box.append(el("p", { className: "alarm", text: tr("learner.safety") + ": " + e.safety.map((s) => s[L]).join(" ") }));
  if (ME.lesson.observe) box.append(el("p", { className: "note", id: "w-observe", text: tr("observe.learner") }));
  const ms = el("div", { className: "meas" });
  for (const m of e.measurements) {
    const b = el("button", { type: "button", className: "measure", "data-m": m.id, text: tr("learner.measure") + ": " + m.text[L] });
    b.addEventListener("click", async () => {
      try { await api("POST", "/api/lab/me/measure", { exercise: e.id, measurement: m.id }, hdr()); msg("✓ " + m.text[L], true); refresh(false); }
      catch (err) { msg(err.message, false); }
    });
    ms.append(b);
  }
  box.append(ms);
  for (const sig of ME.lesson.observe ? [] : e.setpoints) {  // observing the pilot: nothing to set
    const f = el("form", { className: "sp" }, el("label", {}, tr("learner.setpoint") + " " + sig,
      el("input", { type: "number", step: "any", name: "v", required: true })), el("button", { type: "submit", text: tr("learner.set") }));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try { await api("POST", "/api/lab/me/setpoint", { exercise: e.id, signal: sig, value: Number(f.v.value) }, hdr()); msg("✓ " + sig, true); }
      catch (err) { msg(err.message, false); }
    });
    box.append(f);
  }
  const ab = document.getElementById("answers");
  ab.replaceChildren(el("h2", { text: tr("learner.answer") }));
  for (const q of e.quantities) ab.append(question(e, q));
}
function question(e, q) {
  const L = LAB.lang;
  const wrap = el("div", { className: "q", "data-q": q.id }, el("p", {}, el("b", { text: q.text[L] }), el("span", { className: "hint pts", text: "" })));
  const f = el("form", {});
  if (q.kind === "number") {
    f.append(el("label", {}, tr("learner.value"), el("input", { className: "val", name: "val", inputMode: "decimal", maxLength: 40, required: true, autocomplete: "off" })),
      el("label", {}, tr("learner.unit"), el("input", { className: "unit", name: "unit", maxLength: 32, placeholder: q.unit, autocomplete: "off" })));
  } else {
    const box = el("div", { className: "opts" });
    for (const o of q.options) box.append(el("label", { className: "chk" }, el("input", { type: q.kind === "choice" ? "radio" : "checkbox", name: "opt", value: o.id }), o.text[L]));
    f.append(box);
  }
  f.append(el("button", { type: "submit", text: tr("learner.answer") }));
  if (q.has_hint) {
    const hb = el("button", { type: "button", className: "hint-btn", text: tr("learner.hint") });
    hb.addEventListener("click", async () => {
      try { const h = await api("POST", "/api/lab/me/hint", { exercise: e.id, quantity: q.id }, hdr()); fb.className = "fb"; fb.textContent = h.hint ? h.hint[L] : "–"; }
      catch (err) { msg(err.message, false); }
    });
    f.append(hb);
  }
  const fb = el("p", { className: "fb" });
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let body;
    if (q.kind === "number") body = { exercise: e.id, quantity: q.id, answer: f.val.value.trim(), unit: f.unit.value.trim() || null };
    else {
      const picks = [...f.querySelectorAll("input[name=opt]:checked")].map((i) => i.value);
      body = { exercise: e.id, quantity: q.id, answer: q.kind === "choice" ? (picks[0] || "") : picks };
    }
    try {
      const r = await api("POST", "/api/lab/me/answer", body, hdr());
      fb.className = "fb " + (r.ok ? "ok" : "bad");
      fb.textContent = r.feedback[L] + " (" + tr("learner.tries_left") + ": " + r.tries_left + ")";
      refresh(false);
    } catch (err) { fb.className = "fb bad"; fb.textContent = err.message; }
  });
  wrap.append(f, fb);
  return wrap;
}
function readings() {
  const e = exercise(), t = document.getElementById("readings");
  const mine = ME.readings.filter((r) => r.exercise_id === EX);
  t.replaceChildren();
  if (!mine.length) return;
  const sigs = [...new Set(mine.flatMap((r) => Object.keys(r.values)))];
  t.append(el("thead", {}, el("tr", {}, el("th", { text: "" }), ...mine.map((r) => el("th", { text: r.measurement_id + " · " + plantTime(r.t_s) })))));
  const tb = el("tbody");
  for (const s of sigs) tb.append(el("tr", {}, el("th", { text: (tr("sig." + s) !== "sig." + s ? tr("sig." + s) : s) + " " + unitOf(s) }),
    ...mine.map((r) => el("td", { text: num(r.values[s]) }))));
  t.append(tb);
}
function answersState() {
  const sc = (ME.scores || {})[EX] || {};
  document.querySelectorAll("#answers .q").forEach((w) => {
    const s = sc[w.dataset.q];
    w.querySelector(".pts").textContent = s ? "  " + num(s[0], 1) + " / " + num(s[1], 0) + " " + tr("learner.score") : "";
    const sol = ME.solutions && ME.solutions[EX] ? ME.solutions[EX][w.dataset.q] : undefined;
    let p = w.querySelector(".sol");
    if (sol !== undefined && !p) { p = el("p", { className: "note sol" }); w.append(p); }
    if (p) p.textContent = tr("learner.solution") + ": " + (Array.isArray(sol) ? sol.join(", ") : num(sol));
  });
}
