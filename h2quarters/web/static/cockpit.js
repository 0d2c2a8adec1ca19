// KPI cockpit: log-out, the entry form (JSON to /api/kpi/values) and local times in the entry log.
// Texts come from the server-rendered page (data attributes), so this file carries no translations.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const lang = document.documentElement.lang || "de";
  try { localStorage.setItem("h2q-lang", lang); } catch (e) { /* private mode */ }
  const out = document.getElementById("ck-logout");
  if (out) out.addEventListener("click", async () => {
    await fetch("/api/auth/logout", { method: "POST" });
    location.href = "/cockpit";
  });
  document.querySelectorAll("td.ms").forEach((td) => {
    const ms = Number(td.dataset.ms);
    if (ms) td.textContent = new Date(ms).toLocaleString(lang === "en" ? "en-GB" : "de-DE");
  });
  const f = document.getElementById("entry-form");
  if (!f) return;
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = document.getElementById("entry-msg");
    msg.textContent = "";
    msg.className = "";
    const sup = document.getElementById("entry-supersedes").value;
    const body = {
      kpi: document.getElementById("entry-kpi").value,
      day: document.getElementById("entry-day").value,
      value: Number(document.getElementById("entry-value").value),
      reason: document.getElementById("entry-reason").value,
      supersedes: sup ? Number(sup) : null,
    };
    const r = await fetch("/api/kpi/values", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (r.ok) {
      msg.textContent = f.dataset.ok;
      msg.className = "ok";
      setTimeout(() => location.reload(), 600);
      return;
    }
    let detail = String(r.status);
    try {
      const j = await r.json();
      detail = typeof j.detail === "string" ? j.detail : (j.detail.limit || JSON.stringify(j.detail));
    } catch (e) { /* not JSON */ }
    msg.textContent = f.dataset.err + " " + detail;
    msg.className = "err";
  });
});
