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
    err.textContent = r.status === 429 ? t("login.too_many") : t("login.failed");
  });
});
