// Instructor station: lessons list + new lesson form, and the lesson page (one click per function).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("lesson-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      try {
        const les = await api("POST", "/api/lab/lessons", {
          class_name: fd.get("class_name"), organisation: fd.get("organisation"),
          groups: String(fd.get("groups")).split(",").map((s) => s.trim()).filter(Boolean),
          exercises: fd.getAll("exercises"), start_state: fd.get("start_state"),
          speed: Number(fd.get("speed")), backtrack_every_min: Number(fd.get("backtrack_every_min")),
          observe: fd.get("observe") || null, day: fd.get("observe") === "recorded" ? (fd.get("day") || null) : null });
        location.href = "/lab/lesson/" + les.lesson_id;
      } catch (e) { msg(e.message, false); }
    });
    document.querySelectorAll("button.reopen").forEach((b) => b.addEventListener("click", async () => {
      try { await api("POST", "/api/lab/lessons/" + b.dataset.id + "/reopen"); location.href = "/lab/lesson/" + b.dataset.id; }
      catch (e) { msg(e.message, false); }
    }));
  }
  const obs = document.getElementById("f-observe");
  if (obs) { const sync = () => { form.dataset.observe = obs.value; }; obs.addEventListener("change", sync); sync(); }
  const lesson = document.getElementById("lesson");
  if (lesson) station(lesson.dataset.id);
});

function station(id) {
  const base = "/api/lab/lessons/" + id;
  let filled = false;
  async function act(name, fn) {
    try { await fn(); msg(tr("lesson.ok"), true); await refresh(); } catch (e) { msg(e.message, false); }
  }
  document.querySelectorAll("#controls button[data-act]").forEach((b) => b.addEventListener("click", () => {
    if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
    const a = b.dataset.act;
    act(a, () => api("POST", base + "/" + a, a === "snapshots" ? { label: "" } : undefined));
  }));
  document.getElementById("b-speed").addEventListener("change", (ev) =>
    act("speed", () => api("PUT", base + "/speed", { speed: Number(ev.target.value) })));
  const ff = document.getElementById("fault-form");
  const when = document.getElementById("ff-when");
  when.addEventListener("change", () => { ff.dataset.when = when.value; });
  ff.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = (id) => document.getElementById(id).value;
    const body = { hidden: document.getElementById("ff-hidden").checked, when: when.value };
    if (v("ff-choice")) body.choice = v("ff-choice"); else if (v("ff-kind")) body.kind = v("ff-kind");
    if (v("ff-target")) body.target = v("ff-target");
    if (v("ff-value") !== "") body.value = Number(v("ff-value"));
    if (when.value === "ramp") body.ramp_s = Number(v("ff-ramp"));
    if (when.value === "at") body.at_s = Number(v("ff-at"));
    if (when.value === "condition") body.condition = { signal: v("ff-csig"), op: ">", value: Number(v("ff-cval")) };
    if (v("ff-group")) body.groups = [Number(v("ff-group"))];
    act("inject", () => api("POST", base + "/faults", body));
  });
  document.getElementById("ff-clear").addEventListener("click", () => act("clear", () => api("DELETE", base + "/faults")));

  function render(d) {
    const st = document.getElementById("l-status");
    st.dataset.status = d.status; st.textContent = tr("status." + d.status);
    document.getElementById("l-speed").textContent = num(d.speed, d.speed % 1 ? 1 : 0) + "×";
    const s = d.status;
    // a lesson that observes the pilot changes nothing on it: its write controls are gone (the API refuses them)
    document.body.classList.toggle("observe", !!d.observe);
    const ob = document.getElementById("l-observe");
    ob.hidden = !d.observe;
    if (d.observe) ob.textContent = tr("observe.banner_" + d.observe).replace("{day}", d.day || "");
    document.querySelectorAll(".w-write").forEach((w) => { w.hidden = !!d.observe; });
    document.getElementById("b-speed").disabled = !!d.observe;
    document.getElementById("b-snapshot").disabled = !!d.observe;
    document.getElementById("b-start").disabled = s !== "created";
    document.getElementById("b-freeze").disabled = s !== "running";
    document.getElementById("b-resume").disabled = s !== "frozen";
    if (!filled) {
      filled = true;
      const ch = document.getElementById("ff-choice");
      for (const c of d.fault_choices || []) ch.append(el("option", { value: c.id, text: c.exercise_id + ": " + c.text[LAB.lang] }));
      const gs = document.getElementById("ff-group");
      for (const g of d.groups) gs.append(el("option", { value: g.group_id, text: g.name }));
    }
    const box = document.getElementById("groups");
    box.replaceChildren();
    for (const g of d.groups) {
      if (g.plant) document.getElementById("l-time").textContent = plantTime(g.plant.t_s);
      const card = el("section", { className: "ck-card group", "data-group": g.group_id }, el("h2", { text: tr("learner.group") + " " + g.name }));
      if (g.plant) {
        const tb = el("div", { className: "tiles" }); tiles(tb, g.plant); card.append(tb);
        const faults = g.plant.faults || [];
        if (!d.observe) card.append(el("p", { className: faults.length ? "truefault" : "hint",
          text: tr("lesson.fault_true") + ": " + (faults.length ? faults.map((f) => (f.choice || f.kind) + (f.target ? " @" + f.target : "") +
            (f.value !== null ? " = " + num(f.value) : "") + " (" + (f.hidden ? tr("lesson.hidden") : "✓") + ", " + tr("when." + f.when) + ")").join("; ") : tr("lesson.none_faults")) }));
        if ((g.plant.pending || []).length) card.append(el("p", { className: "hint", text: tr("lesson.pending") + ": " + g.plant.pending.map((p) => p.kind + " (" + tr("when." + p.when) + ")").join(", ") }));
      }
      const tbl = el("table", { className: "learners" }, el("thead", {}, el("tr", {}, el("th", { text: tr("lesson.learners") }),
        el("th", { text: tr("lesson.readings") }), el("th", { text: tr("lesson.answers") }), el("th", { text: tr("lesson.points") }))));
      const tbody = el("tbody");
      for (const l of g.learners || []) tbody.append(el("tr", {}, el("td", { text: l.pseudonym }), el("td", { text: l.readings || 0 }),
        el("td", { text: l.answers || 0 }), el("td", { text: num(l.earned || 0, 1) + " / " + num(l.points || 0, 0) })));
      tbl.append(tbody);
      card.append(el("div", { className: "scroll" }, tbl));
      box.append(card);
    }
    const sb = document.querySelector("#snaps tbody");
    sb.replaceChildren();
    const gname = Object.fromEntries(d.groups.map((g) => [g.group_id, g.name]));
    for (const sn of (d.snapshots || []).slice(0, 12)) {
      const b = el("button", { type: "button", text: tr("lesson.restore") });
      b.addEventListener("click", () => act("restore", () => api("POST", base + "/restore", { snapshot_id: sn.snapshot_id })));
      sb.append(el("tr", {}, el("td", { text: new Date(sn.t_ms).toLocaleTimeString(LAB.lang) }), el("td", { text: gname[sn.group_id] || sn.group_id }),
        el("td", { text: sn.kind + (sn.label ? " · " + sn.label : "") }), el("td", { text: plantTime(sn.lesson_t_s) }), el("td", {}, b)));
    }
  }
  async function refresh() {
    try { render(await api("GET", base)); } catch (e) { msg(e.message, false); }
  }
  refresh();
  setInterval(refresh, 2000);
}
