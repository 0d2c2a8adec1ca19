"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const f = document.getElementById("login-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("login-error");
    err.textContent = "";
    const r = await fetch("/api/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: document.getElementById("login-name").value,
                             password: document.getElementById("login-password").value }),
    });
    if (r.ok) { location.href = "/"; return; }
    let d = null;
    try { d = (await r.json()).detail; } catch (e) { d = null; }
    // the server answers with a code and parameters; the page words them in its language
    if (d && d.code && I18N.dict["err." + d.code] !== undefined) err.textContent = t("err." + d.code, d.params || {});
    else err.textContent = r.status === 429 ? t("login.too_many") : t("login.failed");
  });
});
