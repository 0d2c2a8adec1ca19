// Translations: texts live in /static/i18n/<lang>.json; elements carry data-i18n="key".
"use strict";
const I18N = { lang: "de", dict: {}, ready: null };
function t(key, vars) {
  let s = I18N.dict[key];
  if (s === undefined) return key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll("{" + k + "}", String(v));
  return s;
}
function applyI18n(root) {
  (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
    const v = I18N.dict[el.dataset.i18n];
    if (v !== undefined) el.textContent = v;
  });
  document.documentElement.lang = I18N.lang;
  document.title = "h2quarters – " + t("app.title");
  document.querySelectorAll("button.lang").forEach((b) => b.classList.toggle("active", b.dataset.lang === I18N.lang));
}
async function loadLang(lang) {
  const r = await fetch("/static/i18n/" + lang + ".json", { cache: "no-cache" });
  I18N.dict = await r.json();
  I18N.lang = lang;
  localStorage.setItem("h2q-lang", lang);
  applyI18n();
  document.dispatchEvent(new CustomEvent("h2q-lang"));
}
I18N.ready = new Promise((resolve) => {
  document.addEventListener("DOMContentLoaded", async () => {
    const q = new URLSearchParams(location.search).get("lang");
    await loadLang(q || localStorage.getItem("h2q-lang") || "de");
    document.querySelectorAll("button.lang").forEach((b) => b.addEventListener("click", () => loadLang(b.dataset.lang)));
    const big = document.getElementById("btn-big");
    if (localStorage.getItem("h2q-big") === "1") document.body.classList.add("big");
    if (big) big.addEventListener("click", () => {
      document.body.classList.toggle("big");
      localStorage.setItem("h2q-big", document.body.classList.contains("big") ? "1" : "0");
    });
    resolve();
  });
});
