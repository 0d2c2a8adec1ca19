// Account page: own password for every user; user administration (list, role, disable, delete, create) for admins.
"use strict";
const ROLES = ["admin", "engineer", "planner", "teacher", "student", "city", "viewer"];
let ME = null;

async function call(path, method, body) {
  const r = await fetch(path, { method: method || "GET", headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) { location.href = "/login"; throw new Error("401"); }
  let b = null;
  try { b = await r.json(); } catch (e) { b = null; }
  return { ok: r.ok, status: r.status, body: b };
}
function message(el, res, okKey) {
  el.className = "msg " + (res.ok ? "ok" : "err");
  if (res.ok) { el.textContent = t(okKey); return; }
  const d = res.body && res.body.detail;
  if (d && d.code && I18N.dict["err." + d.code] !== undefined) el.textContent = t("err." + d.code, d.params || {});
  else el.textContent = t("err.generic", { status: res.status });
}

async function loadUsers() {
  const res = await call("/api/users");
  if (!res.ok) return;
  const tb = document.querySelector("#users-table tbody");
  tb.innerHTML = "";
  const msg = document.getElementById("users-msg");
  for (const u of res.body) {
    const tr = document.createElement("tr");
    tr.dataset.user = u.name;
    const name = document.createElement("td"); name.textContent = u.name; tr.appendChild(name);
    const rt = document.createElement("td");
    const sel = document.createElement("select");
    sel.className = "role";
    for (const r of ROLES) { const o = document.createElement("option"); o.value = r; o.textContent = t("role." + r); o.selected = r === u.role; sel.appendChild(o); }
    sel.addEventListener("change", async () => { message(msg, await call("/api/users/" + u.name, "PATCH", { role: sel.value }), "admin.saved"); loadUsers(); });
    rt.appendChild(sel); tr.appendChild(rt);
    const act = document.createElement("td"); act.textContent = u.active ? t("ui.on") : t("ui.off"); tr.appendChild(act);
    const cr = document.createElement("td"); cr.textContent = new Date(u.t_created_ms).toLocaleDateString(I18N.lang === "de" ? "de-DE" : "en-GB"); tr.appendChild(cr);
    const ops = document.createElement("td");
    const tg = document.createElement("button"); tg.className = "toggle"; tg.textContent = u.active ? t("admin.disable") : t("admin.enable");
    tg.addEventListener("click", async () => { message(msg, await call("/api/users/" + u.name, "PATCH", { active: !u.active }), "admin.saved"); loadUsers(); });
    const del = document.createElement("button"); del.className = "delete danger"; del.textContent = t("admin.delete");
    del.addEventListener("click", async () => {
      if (!window.confirm(t("admin.confirm_delete", { name: u.name }))) return;
      message(msg, await call("/api/users/" + u.name, "DELETE"), "admin.saved"); loadUsers();
    });
    ops.append(tg, " ", del); tr.appendChild(ops);
    tb.appendChild(tr);
  }
}

async function init() {
  await I18N.ready;
  const me = await call("/api/auth/me");
  ME = me.body;
  document.getElementById("user-info").textContent = ME.name + " · " + t("role." + ME.role);
  document.getElementById("pw-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await call("/api/auth/password", "POST", { old_password: document.getElementById("pw-old").value,
      new_password: document.getElementById("pw-new").value });
    message(document.getElementById("pw-msg"), res, "pw.ok");
    if (res.ok) document.getElementById("pw-form").reset();
  });
  if (ME.permissions.includes("users")) {
    document.getElementById("users-card").hidden = false;
    const rs = document.getElementById("nu-role");
    for (const r of ROLES) { const o = document.createElement("option"); o.value = r; o.textContent = t("role." + r); o.selected = r === "viewer"; rs.appendChild(o); }
    document.getElementById("new-user").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const res = await call("/api/users", "POST", { name: document.getElementById("nu-name").value, role: rs.value,
        password: document.getElementById("nu-pw").value });
      message(document.getElementById("users-msg"), res, "admin.saved");
      if (res.ok) { document.getElementById("new-user").reset(); loadUsers(); }
    });
    loadUsers();
  }
  document.addEventListener("h2q-lang", () => { if (ME.permissions.includes("users")) loadUsers(); document.getElementById("user-info").textContent = ME.name + " · " + t("role." + ME.role); });
}
document.addEventListener("DOMContentLoaded", init);
