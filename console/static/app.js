// canaryd console: plain JavaScript, no framework, no inline code (the page
// runs under Content-Security-Policy default-src 'self'). Every piece of
// data comes from the /v1 JSON API with the token kept in sessionStorage;
// the DOM is built with textContent only, never from HTML strings.
"use strict";
(function () {
  const TOKEN_KEY = "canaryd.token";
  const params = new URLSearchParams(location.search);
  const POLL_MS = Math.min(60000, Math.max(250, Number(params.get("poll")) || 2000));
  let timer = null;
  let blobURL = null; // the postmortem download, revoked when replaced
  const traceNotes = {}; // watch ID -> what the last trace download did (kept across redraws)
  let generation = 0; // bumped on every navigation: stale responses are dropped

  // ---- DOM helpers -------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids.flat(Infinity)) {
      if (k === undefined || k === null || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  function table(caption, heads, rows) {
    return el("table", {}, el("caption", {}, caption),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: heads.length }, "none"))]));
  }
  const state = (s, extra) => el("span", { class: "state " + s }, extra || s);
  const link = (href, text) => el("a", { href }, text);

  // ---- formatting --------------------------------------------------------
  const zero = (t) => !t || t.startsWith("0001-01-01");
  const ts = (t) => (zero(t) ? "" : t.replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC"));
  const hms = (t) => (zero(t) ? "" : new Date(t).toISOString().slice(11, 19));
  function dur(ns) {
    const exact = Number(ns) / 1e9;
    if (Math.abs(exact) < 10 && exact !== Math.round(exact)) return exact.toFixed(1) + "s";
    let s = Math.round(exact);
    if (!isFinite(s)) return "";
    const neg = s < 0; s = Math.abs(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (neg ? "-" : "") + (h ? h + "h" : "") + (h || m ? m + "m" : "") + r + "s";
  }
  const num = (x) => (x === undefined || x === null ? "" : Math.abs(x) >= 1e299 ? "∞" : Number(x).toPrecision(4).replace(/\.?0+$/, ""));
  const until = (t, now) => dur((Date.parse(t) - Date.parse(now)) * 1e6);

  // ---- API ---------------------------------------------------------------
  class AuthError extends Error {}
  async function api(path, as) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new AuthError("no token");
    const resp = await fetch(path, { headers: { Authorization: "Bearer " + token }, cache: "no-store", credentials: "omit" });
    if (resp.status === 401) { sessionStorage.removeItem(TOKEN_KEY); throw new AuthError("token refused"); }
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      try { msg = (await resp.json()).error || msg; } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    return as === "text" ? resp.text() : resp.json();
  }

  // ---- sign in -----------------------------------------------------------
  function showLogin(message) {
    stopPolling();
    document.getElementById("nav").hidden = true;
    document.getElementById("view").replaceChildren();
    document.getElementById("updated").textContent = "";
    document.getElementById("login").hidden = false;
    document.getElementById("login-error").textContent = message || "";
    document.getElementById("token").focus();
  }
  async function signIn(ev) {
    ev.preventDefault();
    const input = document.getElementById("token");
    const token = input.value.trim();
    if (!token) { document.getElementById("login-error").textContent = "Enter a token."; return; }
    sessionStorage.setItem(TOKEN_KEY, token);
    input.value = "";
    try {
      await api("/v1/status");
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      document.getElementById("login-error").textContent = e instanceof AuthError ? "That token was refused." : "Sign-in failed: " + e.message;
      return;
    }
    document.getElementById("login").hidden = true;
    route();
  }

  // ---- routing -----------------------------------------------------------
  function stopPolling() { if (timer) { clearTimeout(timer); timer = null; } }
  function route() {
    stopPolling();
    generation++;
    if (!sessionStorage.getItem(TOKEN_KEY)) { showLogin(); return; }
    document.getElementById("login").hidden = true;
    document.getElementById("nav").hidden = false;
    const parts = (location.hash.replace(/^#\/?/, "") || "targets").split("/");
    const page = parts[0], id = decodeURIComponent(parts.slice(1).join("/"));
    const pages = { targets: targetsPage, watch: watchPage, incidents: incidentsPage, incident: incidentPage };
    const render = pages[page] || targetsPage;
    for (const a of document.querySelectorAll("nav a")) {
      const current = a.dataset.page === page || (page === "incident" && a.dataset.page === "incidents") || (page === "watch" && a.dataset.page === "targets");
      if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const gen = generation;
    let first = true;
    const tick = async () => {
      let again = false;
      try {
        again = await render(id, gen, first);
        if (gen !== generation) return;
        document.getElementById("updated").textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC" + (again ? " · refreshing live" : "");
      } catch (e) {
        if (gen !== generation) return;
        if (e instanceof AuthError) { showLogin("Your token was refused: sign in again."); return; }
        document.getElementById("updated").textContent = "Could not load: " + e.message + " (retrying)";
        again = true;
      }
      if (first) { first = false; const h = document.querySelector("#view h1"); if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); } }
      if (again && gen === generation) timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }
  function show(gen, ...nodes) {
    if (gen !== generation) return false;
    const view = document.getElementById("view");
    const focused = document.activeElement && view.contains(document.activeElement) ? document.activeElement.id : "";
    view.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
    if (focused) { const f = document.getElementById(focused); if (f) f.focus({ preventScroll: true }); }
    return true;
  }

  // ---- targets -----------------------------------------------------------
  function watchState(t, now) {
    const w = t.watch;
    if (!w) return t.paused ? state("alert-only", "no watch · paused") : "no watch";
    const parts = [state(w.phase, w.phase.replace(/_/g, " "))];
    if (w.phase === "baking" && !zero(w.bake_until)) parts.push(" " + until(w.bake_until, now) + " left");
    if (w.phase === "promoted" && !zero(w.window_until)) parts.push(" rollback window " + until(w.window_until, now) + " left");
    if (w.rollout) parts.push(" step " + (w.rollout.step + 1) + " of " + w.rollout.steps.length);
    const why = [];
    if (w.alert_only_why) why.push("alert-only: " + w.alert_only_why);
    else if (t.paused) why.push("alert-only: paused by an override");
    else if (t.dry_run) why.push("alert-only: dry run");
    else if (!w.known_good) why.push("alert-only: no known-good version");
    if (w.reason) why.push(w.reason);
    if (why.length) parts.push(el("br"), el("span", { class: "muted" }, why.join(" · ")));
    return parts;
  }
  function weights(t) {
    const ws = Object.entries(t.weights || {});
    return ws.length ? ws.map(([v, x]) => v + ": " + Math.round(x * 100) + "%").join(", ") : (t.version ? t.version + ": 100%" : "");
  }
  async function targetsPage(_id, gen) {
    const [st, recent] = await Promise.all([api("/v1/status"), api("/v1/watches?limit=20")]);
    const rows = st.targets.map((t) => el("tr", {},
      el("th", { scope: "row" }, t.name, el("br"), el("span", { class: "muted" }, t.function + ":" + t.alias)),
      el("td", {}, t.version || ""),
      el("td", {}, weights(t)),
      el("td", {}, t.known_good || "none"),
      el("td", { class: "watch-state" }, watchState(t, st.time), t.watch ? [el("br"), link("#/watch/" + encodeURIComponent(t.watch.id), "evidence of version " + t.watch.new_version)] : null,
        t.watch && t.watch.incident_id ? [" · ", link("#/incident/" + encodeURIComponent(t.watch.incident_id), "incident")] : null),
      el("td", {}, t.watch && t.watch.last_verdict ? [state(t.watch.last_verdict.kind), " ", t.watch.last_verdict.summary] : ""),
      el("td", {}, (t.overrides || []).map((o) => el("div", {}, o.kind + " by " + o.actor + (zero(o.expires_at) ? " until removed" : " until " + ts(o.expires_at)) + ": " + o.reason))),
      el("td", {}, t.error ? el("span", { class: "breached" }, t.error) : "")));
    const overrides = (st.overrides || []).map((o) => el("tr", {}, el("td", {}, o.target), el("td", {}, o.kind), el("td", {}, o.actor),
      el("td", {}, o.reason), el("td", {}, zero(o.expires_at) ? "until removed" : ts(o.expires_at))));
    const watchRows = recent.watches.map((w) => el("tr", {},
      el("td", {}, link("#/watch/" + encodeURIComponent(w.id), w.target + " version " + w.new_version)),
      el("td", {}, state(w.phase, w.phase.replace(/_/g, " "))), el("td", {}, w.known_good || "none"),
      el("td", {}, ts(w.detected_at)), el("td", {}, w.verdict_kind || ""),
      el("td", {}, w.incident_id ? link("#/incident/" + encodeURIComponent(w.incident_id), "incident") : "")));
    const banner = [];
    if (st.paused) banner.push(el("p", { class: "breached" }, "All targets are paused (alert-only) by an override."));
    if (st.dry_run) banner.push(el("p", { class: "breached" }, "The daemon runs in dry-run: it alerts and plans, never rolls back."));
    show(gen,
      el("h1", {}, "Targets"),
      el("p", { class: "muted" }, "Daemon time " + ts(st.time) + (st.replica ? " · replica " + st.replica : "")),
      banner,
      table("Each target: what is live, what canaryd knows to be good, and what it is doing about it", ["Target", "Live version", "Weights", "Known-good", "Watch", "Last verdict", "Overrides", "Observation"], rows),
      el("h2", {}, "Overrides in force"),
      table("Operator overrides and their expiry", ["Target", "Kind", "Actor", "Reason", "Expires"], overrides),
      el("h2", {}, "Recent watches"),
      table("The 20 newest watches, any phase", ["Watch", "Phase", "Known-good", "Detected", "Verdict", "Incident"], watchRows),
      commands(st.targets[0] ? st.targets[0].name : "TARGET"));
    return true;
  }
  function commands(target) {
    return [el("h2", {}, "Acting"),
      el("p", {}, "The console only reads. Operators act with the CLI (an operator token):"),
      el("pre", { class: "cmd" }, [
        "canaryd status --watch",
        "canaryd override pause " + target + " --ttl 1h --reason '…'",
        "canaryd override mark-good " + target + " --reason '…'",
        "canaryd rollback " + target + " --reason '…'",
        "canaryd history " + target].join("\n"))];
  }

  // ---- a watch -----------------------------------------------------------
  function svgNode(text) {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    if (!root || root.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) return el("p", { class: "error" }, "chart unreadable");
    for (const s of root.querySelectorAll("script, foreignObject")) s.remove(); // ours has none; never trust a document blindly
    return document.importNode(root, true);
  }
  function ruleSection(s, rule, chart) {
    const lt = rule.alpha > 0 ? -Math.log10(rule.alpha) : null;
    const last = rule.points[rule.points.length - 1];
    const rows = rule.points.slice().reverse().map((p) => el("tr", { class: p.breached ? "breached" : null },
      el("td", {}, hms(p.t)), el("td", { class: "num" }, num(p.obs)), el("td", { class: "num" }, num(p.base)),
      el("td", { class: "num" }, num(p.thr)), lt === null ? null : el("td", { class: "num" }, num(p.loge)),
      lt === null ? null : el("td", { class: "num" }, num(lt)),
      el("td", {}, p.breached ? "breached" : p.enough ? "enough evidence" : "not enough yet"), el("td", {}, p.v)));
    const heads = ["Period (UTC)", "Version " + s.new_version, "Known-good " + (s.known_good || "none"), "Threshold"]
      .concat(lt === null ? [] : ["log10 e", "trips at"]).concat(["Rule", "Verdict"]);
    return el("section", { class: "rule", "aria-labelledby": "rule-" + rule.rule },
      el("h2", { id: "rule-" + rule.rule }, rule.rule, " ", el("span", { class: "muted" }, "(" + rule.kind + ")")),
      el("div", { class: "chart" }, chart ? svgNode(chart.svg) : "no chart"),
      el("p", { class: "explain" + (last && last.breached ? " failing" : "") }, el("strong", {}, "Explanation: "), rule.last),
      el("details", {}, el("summary", {}, "Each evaluation (one point per " + dur(s.period) + ", newest first)"),
        table("Observed value, known-good baseline, threshold and evidence at each evaluation", heads, rows)));
  }
  // The replay trace canaryd recorded of a watch (daemon.trace_dir): fetched
  // with the token on demand (it can be megabytes), then offered as a file
  // to save, like the postmortem draft.
  function traceButton(w) {
    const got = traceNotes[w.id];
    const note = el("span", { class: "muted", id: "trace-note" }, got ? got.text : "");
    const save = got && got.url ? el("a", { href: got.url, download: w.target + "-" + w.id + ".jsonl", id: "trace-save" }, "Save the trace") : null;
    const btn = el("button", { type: "button", id: "trace" }, got && got.url ? "Fetch the replay trace again" : "Fetch the replay trace");
    btn.addEventListener("click", async () => {
      try {
        const text = await api("/v1/watches/" + encodeURIComponent(w.id) + "/trace", "text");
        if (got && got.url) URL.revokeObjectURL(got.url);
        const lines = text.split("\n").filter((l) => l && !l.startsWith("#")).length;
        traceNotes[w.id] = { url: URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" })),
          text: " " + lines + " records: canaryd replay --config CONFIG --target " + w.target + " --trace FILE" };
      } catch (e) {
        if (e instanceof AuthError) { showLogin("Your token was refused: sign in again."); return; }
        traceNotes[w.id] = { text: " " + e.message };
      }
      document.getElementById("trace-p")?.replaceWith(traceButton(w)); // at once, not at the next poll
    });
    return el("p", { id: "trace-p" }, btn, " ", save, note);
  }
  async function watchPage(id, gen) {
    const d = await api("/v1/watches/" + encodeURIComponent(id));
    const w = d.watch, s = d.evidence;
    const facts = el("dl", { class: "facts" },
      el("dt", {}, "Phase"), el("dd", {}, state(w.phase, w.phase.replace(/_/g, " ")), w.reason ? " — " + w.reason : ""),
      el("dt", {}, "Known-good"), el("dd", {}, w.known_good || "none (alert only)"),
      el("dt", {}, "Detected"), el("dd", {}, ts(w.detected_at) + " (" + w.source + ")"),
      zero(w.promoted_at) ? null : [el("dt", {}, "Promoted"), el("dd", {}, ts(w.promoted_at))],
      w.alert_only_why ? [el("dt", {}, "Alert-only"), el("dd", {}, w.alert_only_why)] : null,
      w.incident_id ? [el("dt", {}, "Incident"), el("dd", {}, link("#/incident/" + encodeURIComponent(w.incident_id), w.incident_id))] : null);
    const rollout = w.rollout ? [el("h2", {}, "Rollout steps"), table("Traffic steps canaryd shifts", ["#", "Weight", "Hold", "Gate", "Where"],
      w.rollout.steps.map((st, i) => el("tr", {}, el("td", {}, i + 1), el("td", {}, Math.round(st.weight * 100) + "%"), el("td", {}, dur(st.hold)),
        el("td", {}, st.gate ? "operator" : ""), el("td", {}, i < w.rollout.step ? "done" : i === w.rollout.step ? "current" + (zero(w.rollout.step_at) ? "" : " since " + ts(w.rollout.step_at)) : ""))))] : null;
    const rules = s ? s.rules.map((r) => ruleSection(s, r, d.charts.find((c) => c.rule === r.rule))) :
      [el("p", {}, "No evidence recorded for this watch yet: it is judged on the replica that owns the target, from its first evaluation on.")];
    const changes = s ? table("Each time the verdict changed kind, with its explanation", ["Time", "Verdict", "Explanation"],
      s.changes.map((c) => el("tr", {}, el("td", {}, ts(c.at)), el("td", {}, state(c.kind)), el("td", {}, c.summary)))) : null;
    const events = table("What happened to this watch", ["Time", "Event", "Message"],
      d.events.map((e) => el("tr", {}, el("td", {}, ts(e.time)), el("td", {}, e.type), el("td", {}, e.message))));
    show(gen,
      el("h1", {}, w.target + ": version " + w.new_version + " against known-good " + (w.known_good || "none")),
      facts, traceButton(w), s && s.stored ? el("p", { class: "muted" }, "Evidence as stored when the verdict last turned (the process that recorded it no longer holds it live).") : null,
      rollout, rules, el("h2", {}, "Verdicts"), changes, el("h2", {}, "Events"), events);
    return !["rolled_back", "rollback_failed", "superseded", "ended"].includes(w.phase);
  }

  // ---- incidents ---------------------------------------------------------
  async function incidentsPage(_id, gen) {
    const r = await api("/v1/incidents?limit=100");
    show(gen, el("h1", {}, "Incidents"),
      table("Incidents, newest first", ["Incident", "Target", "Versions", "Trigger", "Opened", "Outcome"],
        r.incidents.map((i) => el("tr", {}, el("td", {}, link("#/incident/" + encodeURIComponent(i.id), i.ref)),
          el("td", {}, i.target), el("td", {}, i.from_version + " → " + (i.to_version || "none")), el("td", {}, i.trigger + (i.actor ? " by " + i.actor : "")),
          el("td", {}, ts(i.opened_at)), el("td", {}, i.outcome ? state(i.outcome, i.outcome.replace(/_/g, " ")) : "in progress")))));
    return true;
  }
  async function incidentPage(id, gen) {
    const base = "/v1/incidents/" + encodeURIComponent(id);
    const [d, md] = await Promise.all([api(base + "/postmortem?format=json"), api(base + "/postmortem?format=markdown", "text")]);
    const dl = el("a", { href: "#", download: "postmortem-" + d.incident_id + ".md", id: "download" }, "Download the postmortem draft (Markdown)");
    if (blobURL) URL.revokeObjectURL(blobURL);
    blobURL = URL.createObjectURL(new Blob([md], { type: "text/markdown" }));
    dl.href = blobURL;
    const rel = (ns) => (Number(ns) === 0 ? "T" : (Number(ns) > 0 ? "T+" : "T") + dur(ns));
    show(gen,
      el("h1", {}, "Incident " + d.incident_id),
      el("p", {}, d.summary),
      el("p", {}, dl, d.watch_id ? [" · ", link("#/watch/" + encodeURIComponent(d.watch_id), "the watch's evidence")] : null),
      el("h2", {}, "Timeline"),
      table("Times in UTC; T is the detection", ["Time", "T", "Source", "What"], d.timeline.map((e) =>
        el("tr", {}, el("td", {}, ts(e.time)), el("td", {}, rel(e.offset)), el("td", {}, e.source), el("td", {}, e.type + ": " + e.message)))),
      el("h2", {}, "Plan steps"),
      table("Rollback plan steps with their durations", ["#", "Step", "Status", "Started", "Duration", "Attempts", "Detail"], d.actions.map((a) =>
        el("tr", {}, el("td", {}, a.step), el("td", {}, a.name), el("td", {}, state(a.status)), el("td", {}, ts(a.start)),
          el("td", {}, dur(a.duration)), el("td", {}, a.attempts), el("td", { class: "detail" }, a.error ? "error: " + a.error + " " : "", a.detail || "")))),
      el("h2", {}, "Alerts delivered"),
      table("Alerts that reached a notifier", ["Time", "T", "Alert", "Detail"], d.alerts.map((a) =>
        el("tr", {}, el("td", {}, ts(a.time)), el("td", {}, rel(a.offset)), el("td", {}, a.message), el("td", {}, a.detail || "")))),
      el("h2", {}, "Postmortem draft"),
      el("article", { class: "postmortem", "aria-label": "Postmortem draft" }, markdown(md)));
    return !d.outcome;
  }

  // ---- a small Markdown renderer, for the postmortem draft ------------------
  // It knows what history.Doc.Markdown writes: headings, tables, lists,
  // rules, paragraphs, **strong**, _em_, `code` and SVG images carried as
  // data URIs (drawn inline: no data: image source is needed under the CSP).
  function inline(text) {
    const out = [];
    const re = /(\*\*[^*]+\*\*|`[^`]+`|\b_[^_]+_\b|<br>)/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) out.push(text.slice(last, m.index));
      const t = m[0];
      if (t === "<br>") out.push(el("br"));
      else if (t.startsWith("**")) out.push(el("strong", {}, t.slice(2, -2)));
      else if (t.startsWith("`")) out.push(el("code", {}, t.slice(1, -1)));
      else out.push(el("em", {}, t.slice(1, -1)));
      last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out.map((x) => (typeof x === "string" ? x.replace(/\\\|/g, "|") : x));
  }
  function cells(line) {
    return line.replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim());
  }
  function markdown(md) {
    const lines = md.split("\n"), out = [];
    let para = [];
    const flush = () => { if (para.length) { out.push(el("p", {}, inline(para.join(" ")))); para = []; } };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if (!line.trim()) { flush(); continue; }
      if ((m = /^(#{1,4}) (.*)$/.exec(line))) { flush(); out.push(el("h" + Math.min(6, m[1].length + 1), {}, inline(m[2]))); continue; }
      if (line.trim() === "---") { flush(); out.push(el("hr")); continue; }
      if ((m = /^!\[([^\]]*)\]\(data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)\)$/.exec(line))) {
        flush();
        let svg;
        try { svg = svgNode(new TextDecoder().decode(Uint8Array.from(atob(m[2]), (c) => c.charCodeAt(0)))); } catch (_) { svg = el("p", { class: "error" }, "chart unreadable"); }
        out.push(el("figure", { role: "group", "aria-label": m[1] }, svg, el("figcaption", { class: "muted" }, m[1])));
        continue;
      }
      if (line.startsWith("|")) {
        flush();
        const rows = [];
        while (i < lines.length && lines[i].startsWith("|")) rows.push(lines[i++]);
        i--;
        const head = cells(rows[0]), body = rows.slice(2).map(cells);
        out.push(el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, inline(h))))),
          el("tbody", {}, body.map((r) => el("tr", {}, r.map((c) => el("td", {}, inline(c))))))));
        continue;
      }
      if (line.startsWith("- ")) {
        flush();
        const items = [];
        while (i < lines.length && lines[i].startsWith("- ")) items.push(lines[i++].slice(2));
        i--;
        out.push(el("ul", {}, items.map((t) => el("li", {}, inline(t.replace(/^\[ \] ?/, "☐ "))))));
        continue;
      }
      para.push(line);
    }
    flush();
    return out;
  }

  // ---- start ---------------------------------------------------------------
  document.getElementById("login-form").addEventListener("submit", signIn);
  document.getElementById("signout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin("Signed out."); });
  window.addEventListener("hashchange", route);
  route();
})();
