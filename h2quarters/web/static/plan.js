// Planners' workspace: copy scenarios, save the generated form (errors inline beside the field), upload YAML,
// start jobs, watch their progress, cancel/resume/share, and the Pareto plot (plain SVG, no library).
// Texts come from the page (JSON block #plan-T rendered by the server in the page's language).
"use strict";
(() => {
  const T = JSON.parse(document.getElementById("plan-T").textContent);
  const lang = document.documentElement.lang || "de";
  const nf = (v, d) => (v === null || v === undefined || Number.isNaN(v)) ? "–"
    : Number(v).toLocaleString(lang === "en" ? "en-GB" : "de-DE", { maximumFractionDigits: d ?? 3 });
  const fmtTpl = (s, p) => s.replace(/\{(\w+)\}/g, (_, k) => (p && k in p ? p[k] : "{" + k + "}"));

  async function api(method, url, body, type) {
    const opt = { method, headers: {} };
    if (body !== undefined) {
      opt.headers["Content-Type"] = type || "application/json";
      opt.body = type ? body : JSON.stringify(body);
    }
    let r;
    try { r = await fetch(url, opt); } catch (e) { return { ok: false, status: 0, data: { detail: T["err.network"] } }; }
    let data = null;
    try { data = await r.json(); } catch (e) { /* empty body */ }
    return { ok: r.ok, status: r.status, data };
  }

  function errText(data) {
    const d = data && data.detail;
    if (!d) return "";
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((x) => (x.loc || []).slice(1).join(".") + ": " + x.msg).join("; ");
    if (d.code && T["err." + d.code]) return fmtTpl(T["err." + d.code], d.params);
    return d.limit || d.message || JSON.stringify(d);
  }

  function setMsg(el, text, cls) { if (!el) return; el.textContent = text; el.className = "pl-msg " + (cls || ""); }

  document.addEventListener("DOMContentLoaded", () => {
    try { localStorage.setItem("h2q-lang", lang); } catch (e) { /* private mode */ }
    const out = document.getElementById("ck-logout");
    if (out) out.addEventListener("click", async () => { await fetch("/api/auth/logout", { method: "POST" }); location.href = "/login"; });
    localTimes(document);

    // ------------------------------------------------------------ copy a scenario
    document.querySelectorAll("button.pl-copy").forEach((b) => b.addEventListener("click", async () => {
      b.disabled = true;
      const r = await api("POST", "/api/plan/scenarios", { source: b.dataset.source });
      if (r.ok) { location.href = "/plan/scenario/" + r.data.id; return; }
      b.disabled = false;
      setMsg(document.getElementById("home-msg"), errText(r.data), "err");
    }));

    // ------------------------------------------------------------ the generated form
    document.querySelectorAll("form.pl-form").forEach((f) => f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const msg = f.querySelector(".pl-actions .pl-msg");
      f.querySelectorAll(".fld").forEach((d) => { d.classList.remove("bad"); d.querySelector(".ferr").textContent = ""; });
      const edits = {};
      f.querySelectorAll("input[name], select[name]").forEach((i) => { if (i.value !== i.dataset.orig) edits[i.name] = i.value; });
      if (!Object.keys(edits).length) { setMsg(msg, T["sc.unchanged"]); return; }
      const r = await api("PATCH", "/api/plan/scenarios/" + f.dataset.scenario, { file: f.dataset.file, edits });
      if (r.ok) {
        f.querySelectorAll("input[name], select[name]").forEach((i) => { i.dataset.orig = i.value; });
        setMsg(msg, T["sc.saved"], "ok");
        return;
      }
      showProblems(f, r.data, msg);
    }));

    function showProblems(f, data, msg) {
      const probs = (data && data.detail && data.detail.params && data.detail.params.problems) || [];
      const loose = [];
      probs.forEach((p) => {
        const fld = p.path ? f.querySelector('.fld[data-path="' + CSS.escape(p.path) + '"]') : null;
        if (fld) {
          fld.classList.add("bad");
          const e = fld.querySelector(".ferr");
          e.textContent = (e.textContent ? e.textContent + "; " : "") + p.message;
          const det = fld.closest("details"); if (det) det.open = true;
        } else loose.push((p.path ? p.path + ": " : "") + p.message);
      });
      setMsg(msg, T["sc.refused"] + (loose.length ? " " + loose.join("; ") : (probs.length ? "" : " " + errText(data))), "err");
      const first = f.querySelector(".fld.bad input, .fld.bad select");
      if (first) first.focus();
    }

    document.querySelectorAll("input.pl-upload").forEach((inp) => inp.addEventListener("change", async () => {
      const file = inp.files[0];
      if (!file) return;
      const f = document.querySelector('form.pl-form[data-file="' + inp.dataset.file + '"]');
      const msg = f.querySelector(".pl-actions .pl-msg");
      const text = await file.text();
      const r = await api("PUT", "/api/plan/scenarios/" + f.dataset.scenario + "/files/" + inp.dataset.file, text, "text/plain");
      if (r.ok) { location.reload(); return; }
      if (r.status === 422 && r.data && r.data.detail && r.data.detail.params) showProblems(f, r.data, msg);
      else setMsg(msg, errText(r.data) || String(r.status), "err");
      inp.value = "";
    }));

    // ------------------------------------------------------------ run panel
    const run = document.getElementById("run-form");
    if (run) {
      const kind = document.getElementById("run-kind");
      const parseList = (s) => s.split(";").map((x) => x.trim()).filter(Boolean).map((x) => Number(x.replace(",", ".")));
      const count = () => {
        let n = 1;
        run.querySelectorAll('input[name^="vary."]').forEach((i) => { const l = parseList(i.value); if (l.length) n *= l.length; });
        const c = document.getElementById("run-count"); if (c) c.textContent = String(n);
      };
      const toggle = () => {
        const study = kind.value === "quarter_study";
        run.querySelectorAll(".only-study").forEach((e) => { e.hidden = !study; });
        run.querySelectorAll(".only-sim").forEach((e) => { e.hidden = kind.value !== "quarter_simulate"; });
      };
      kind.addEventListener("change", toggle); toggle();
      run.addEventListener("input", count);
      run.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const msg = document.getElementById("run-msg");
        const v = (id) => { const e = document.getElementById(id); return e ? e.value.trim() : ""; };
        const body = { scenario: run.dataset.scenario, kind: kind.value, title: v("run-title") };
        if (v("run-start")) body.start = v("run-start");
        if (v("run-days")) body.days = Number(v("run-days"));
        if (v("run-dispatch")) body.dispatch = v("run-dispatch");
        const pf = document.getElementById("run-powerflow"); if (pf) body.powerflow = pf.checked;
        const rp = document.getElementById("run-report"); if (rp) body.report = rp.checked;
        if (kind.value === "quarter_study") {
          body.vary = {};
          run.querySelectorAll('input[name^="vary."]').forEach((i) => { const l = parseList(i.value); if (l.length) body.vary[i.name.slice(5)] = l; });
        } else if (kind.value === "quarter_simulate") {
          body.overrides = {};
          run.querySelectorAll('input[name^="ov."]').forEach((i) => { if (i.value.trim()) body.overrides[i.name.slice(3)] = Number(i.value.replace(",", ".")); });
        }
        const b = document.getElementById("run-submit"); b.disabled = true;
        const r = await api("POST", "/api/plan/jobs", body);
        b.disabled = false;
        if (r.ok) { location.href = "/plan/job/" + r.data.id; return; }
        setMsg(msg, T["run.refused"] + " " + errText(r.data), "err");
      });
    }

    // ------------------------------------------------------------ job page
    const job = document.getElementById("job");
    if (job) jobPage(job);
    const par = document.getElementById("pareto");
    if (par) paretoPlot(par);
  });

  function localTimes(root) {
    root.querySelectorAll(".ms").forEach((e) => {
      const ms = Number(e.dataset.ms);
      if (ms) e.textContent = new Date(ms).toLocaleString(lang === "en" ? "en-GB" : "de-DE");
    });
    root.querySelectorAll("td.dur").forEach((td) => {
      const t0 = Number(td.dataset.t0), t1 = Number(td.dataset.t1) || Date.now();
      td.textContent = t0 ? nf((t1 - t0) / 1000, 0) + " s" : "";
    });
  }

  function jobPage(el) {
    const id = el.dataset.job;
    const active = (s) => s === "queued" || s === "running";
    let last = el.dataset.status;
    async function poll() {
      const r = await api("GET", "/api/plan/jobs/" + id);
      if (r.ok) {
        const j = r.data;
        const st = document.getElementById("job-status");
        st.textContent = T["status." + j.status]; st.className = "st st-" + j.status; st.dataset.status = j.status;
        document.getElementById("job-progress").value = j.progress.n_done;
        document.getElementById("job-count").textContent = j.progress.n_done + " / " + j.progress.n_total;
        document.getElementById("job-message").textContent = T["msg." + j.status] || T["msg." + j.message] || j.message || "";
        j.variants.forEach((v) => {
          const tr = document.querySelector('#variants tr[data-variant="' + CSS.escape(v.variant) + '"]');
          if (!tr) return;
          const s = tr.querySelector(".st"); s.textContent = T["status." + v.status]; s.className = "st st-" + v.status;
          const d = tr.querySelector("td.dur"); d.dataset.t0 = v.t_started_ms || ""; d.dataset.t1 = v.t_finished_ms || "";
        });
        localTimes(document.getElementById("variants"));
        const c = document.getElementById("job-cancel"), rs = document.getElementById("job-resume");
        if (c) c.hidden = !active(j.status);
        if (rs) rs.hidden = !["interrupted", "cancelled", "failed"].includes(j.status);
        if (active(last) && j.status === "done") { location.reload(); return; }
        last = j.status;
      }
      if (active(last) || !r.ok) setTimeout(poll, 1000);
    }
    if (active(last)) setTimeout(poll, 500);
    el.querySelectorAll("button[data-act]").forEach((b) => b.addEventListener("click", async () => {
      b.disabled = true;
      const r = await api("POST", "/api/plan/jobs/" + id + "/" + b.dataset.act);
      b.disabled = false;
      if (!r.ok) { setMsg(document.getElementById("job-message"), errText(r.data), "err"); return; }
      const was = last; last = r.data.status;
      if (!active(was) && active(last)) setTimeout(poll, 300); else poll();
    }));
    const sh = document.getElementById("job-share");
    if (sh) sh.addEventListener("click", async () => {
      const shared = sh.dataset.shared !== "true";
      const r = await api("POST", "/api/plan/jobs/" + id + "/share", { shared });
      if (r.ok) { sh.dataset.shared = String(shared); sh.textContent = shared ? T["job.unshare"] : T["job.share"]; }
    });
  }

  // ------------------------------------------------------------ Pareto plot (SVG)
  function paretoPlot(box) {
    const d = JSON.parse(document.getElementById("pareto-data").textContent);
    // fractions (self-sufficiency, shares) are plotted and labelled in per cent, as in the KPI table
    const pct = new Set(d.pct || []);
    d.table.forEach((r) => pct.forEach((k) => { if (typeof r[k] === "number") r[k] *= 100; }));
    const unit = (k) => (pct.has(k) ? "\u00a0%" : "");
    const xs = document.getElementById("pareto-x"), ys = document.getElementById("pareto-y");
    const NS = "http://www.w3.org/2000/svg";
    const mk = (tag, attrs, parent) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; };
    let pick = 0;
    function draw() {
      box.textContent = "";
      const W = Math.max(300, Math.min(box.clientWidth || 640, 900)), H = Math.min(420, Math.round(W * 0.6)), m = { l: 64, r: 16, t: 14, b: 46 };
      const svg = mk("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "pareto" }, box);
      const kx = xs.value, ky = ys.value;
      const pts = d.table.filter((r) => r[kx] !== null && r[ky] !== null);
      if (!pts.length) return;
      const ext = (k) => { let lo = Math.min(...pts.map((r) => r[k])), hi = Math.max(...pts.map((r) => r[k])); if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; } const p = (hi - lo) * 0.08; return [lo - p, hi + p]; };
      const [x0, x1] = ext(kx), [y0, y1] = ext(ky);
      const X = (v) => m.l + (v - x0) / (x1 - x0) * (W - m.l - m.r), Y = (v) => H - m.b - (v - y0) / (y1 - y0) * (H - m.t - m.b);
      // enough decimals to tell the ticks apart (self-sufficiencies of variants may differ in the third digit)
      const digits = (lo, hi) => Math.max(0, Math.min(6, Math.ceil(-Math.log10((hi - lo) / 4)) + 1));
      const dx = digits(x0, x1), dy = digits(y0, y1);
      for (let i = 0; i <= 4; i++) {
        const vx = x0 + (x1 - x0) * i / 4, vy = y0 + (y1 - y0) * i / 4;
        mk("line", { x1: X(vx), x2: X(vx), y1: m.t, y2: H - m.b, class: "grid" }, svg);
        mk("line", { x1: m.l, x2: W - m.r, y1: Y(vy), y2: Y(vy), class: "grid" }, svg);
        mk("text", { x: X(vx), y: H - m.b + 16, "text-anchor": "middle", class: "tick" }, svg).textContent = nf(vx, dx) + unit(kx);
        mk("text", { x: m.l - 6, y: Y(vy) + 4, "text-anchor": "end", class: "tick" }, svg).textContent = nf(vy, dy) + unit(ky);
      }
      mk("text", { x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, svg).textContent = xs.selectedOptions[0].textContent;
      mk("text", { x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle", class: "axis", transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})` }, svg).textContent = ys.selectedOptions[0].textContent;
      const front = pts.filter((r) => d.pareto.includes(r.variant)).sort((a, b) => a[kx] - b[kx]);
      if (front.length > 1) mk("polyline", { points: front.map((r) => X(r[kx]) + "," + Y(r[ky])).join(" "), class: "front" }, svg);
      pts.forEach((r) => {
        const onF = d.pareto.includes(r.variant);
        const c = mk("circle", { cx: X(r[kx]), cy: Y(r[ky]), r: 7, class: onF ? "pt on" : "pt", tabindex: 0, "data-variant": r.variant }, svg);
        mk("title", {}, c).textContent = r.variant + "\n" + xs.selectedOptions[0].textContent + ": " + nf(r[kx]) + unit(kx) + "\n" + ys.selectedOptions[0].textContent + ": " + nf(r[ky]) + unit(ky);
        const choose = () => {
          const sel = document.getElementById(pick % 2 === 0 ? "cmp-a" : "cmp-b");
          if (sel) sel.value = sel.options[0].value.split(":")[0] + ":" + r.variant;
          pick += 1;
          svg.querySelectorAll("circle.sel").forEach((e) => { if (pick % 2 === 1) e.classList.remove("sel"); });
          c.classList.add("sel");
        };
        c.addEventListener("click", choose);
        c.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
      });
    }
    xs.addEventListener("change", draw); ys.addEventListener("change", draw);
    window.addEventListener("resize", draw);
    draw();
  }
})();
