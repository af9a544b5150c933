// The weir dashboard: polls this server's HTTP API every second and draws what it answers.
// Plain JS, no dependencies. Everything from the server goes into the page as text nodes.
"use strict";

(() => {
  const POLL_MS = 1000;
  const TIMEOUT_MS = 4000;
  const TIMELINE_LIMIT = 40;
  const SVG = "http://www.w3.org/2000/svg";
  // The API needs a bearer token. The page asks for one and keeps it in this origin's
  // localStorage (never in the URL, where history and logs would keep it).
  const TOKEN_KEY = "weir-token";

  const seen = {
    seq: null, // ledger position at the last full read
    service: null, // the service shown
    services: [],
    instances: [],
    active: [], // rollouts in progress, all services
    timeline: null,
    rollout: null,
    drawn: {}, // section id -> the JSON it was last drawn from
  };

  // ---- DOM helpers --------------------------------------------------------------------------

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    setProps(el, props);
    append(el, children);
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    }
    append(el, children);
    return el;
  }

  function setProps(el, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "data") Object.assign(el.dataset, v);
      else if (k === "width") el.style.width = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Redraw a card's body only when what it shows changed (keeps scroll and hover). */
  function draw(id, data, build) {
    const key = JSON.stringify(data);
    if (seen.drawn[id] === key) return;
    seen.drawn[id] = key;
    const parts = [build()].flat().filter((part) => part !== null && part !== undefined);
    document.querySelector(`#${id} .body`).replaceChildren(...parts);
  }

  // ---- formatting ---------------------------------------------------------------------------

  const pct = (share, digits = 1) => `${(100 * share).toFixed(digits)}%`;
  const num = (n) => Math.round(n).toLocaleString("en-US");
  const count = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const clock = (date) => date.toLocaleTimeString("en-GB", { hour12: false });

  function rate(percent) {
    if (percent === null || percent === undefined) return "—";
    if (percent >= 99.995) return "100%";
    return `${percent >= 99 ? percent.toFixed(2) : percent.toFixed(1)}%`;
  }

  function ms(value) {
    if (value === null || value === undefined) return "—";
    if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
    return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)} ms`;
  }

  function seconds(s) {
    if (s === null || s === undefined) return "";
    if (s >= 86400 && s % 86400 === 0) return `${s / 86400}d`;
    if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
    if (s >= 60 && s % 60 === 0) return `${s / 60}m`;
    return s >= 10 ? `${Math.round(s)}s` : `${s.toFixed(1)}s`;
  }

  function times(x) {
    if (x === null || x === undefined) return "—";
    if (!Number.isFinite(x)) return "∞";
    return `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}×`;
  }

  const OUTCOME_CLASS = { pass: "good", fail: "bad", inconclusive: "wait" };
  const STATE_CLASS = {
    running: "info", paused: "wait", completed: "good", rolled_back: "bad", aborted: "wait",
    live: "good", shadow: "info", inactive: "idle", retired: "idle",
  };

  function badge(text, kind, title) {
    return h("span", { class: `badge ${kind || "idle"}`, title }, text);
  }

  function verdictBadge(outcome, final) {
    if (!outcome) return badge("judging…", "wait", "no verdict yet");
    const text = final ? outcome : `${outcome} · judging`;
    return badge(text, final ? OUTCOME_CLASS[outcome] : "wait");
  }

  // ---- the API ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function get(path) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const headers = { Accept: "application/json" };
      const token = localStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(path, { signal: abort.signal, cache: "no-store", headers });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        throw new ApiError(response.status, (body && body.error) || response.statusText);
      }
      return body;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(0, err.name === "AbortError" ? "timed out" : err.message);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The answer, or {missing: message} for the statuses an endpoint uses to say "not here". */
  async function optional(path, ...statuses) {
    try {
      return await get(path);
    } catch (err) {
      if (statuses.includes(err.status)) return { missing: err.message, status: err.status };
      throw err;
    }
  }

  const enc = encodeURIComponent;

  // ---- the loop -----------------------------------------------------------------------------

  async function tick() {
    try {
      const health = await get("healthz");
      const changed = health.ledger_seq !== seen.seq;
      if (changed) {
        [seen.services, seen.instances, seen.active] = await Promise.all([
          get("v1/services"), get("v1/instances"), get("v1/rollouts"),
        ]);
      }
      const service = choose();
      drawServices();
      if (service === null) {
        drawEmpty();
      } else {
        const base = `v1/services/${enc(service)}`;
        const stale = changed || service !== seen.service || judging(seen.timeline);
        // a service without a rollout has none until the ledger moves: ask again only then
        const none = !changed && service === seen.service && seen.rollout && seen.rollout.missing;
        const [rollout, budget, series, timeline] = await Promise.all([
          none ? seen.rollout : optional(`v1/rollouts/${enc(service)}`, 404),
          optional(`${base}/budget`, 503, 404),
          optional(`${base}/series`, 503, 404),
          stale ? get(`${base}/timeline?limit=${TIMELINE_LIMIT}`) : seen.timeline,
        ]);
        seen.timeline = timeline;
        seen.rollout = rollout;
        seen.service = service;
        const spec = seen.services.find((s) => s.name === service);
        drawRollout(service, rollout);
        drawInstances(service, rollout, series);
        drawBudget(spec, budget);
        drawHistory(timeline);
      }
      seen.seq = health.ledger_seq;
      connected(health.ledger_seq);
    } catch (err) {
      if (err.status === 401) signIn(err.message);
      else disconnected(err);
    }
  }

  // ---- the token ----------------------------------------------------------------------------

  let signingIn = false; // no polling while the page waits for a token

  function signIn(message) {
    signingIn = true;
    const had = localStorage.getItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    document.getElementById("status").className = "status down";
    document.getElementById("status-text").textContent = "signed out";
    document.getElementById("signout").hidden = true;
    document.getElementById("banner").hidden = true;
    document.getElementById("main").hidden = true;
    document.getElementById("signin-why").textContent = had
      ? `The token was refused: ${message}.`
      : "weir's API needs a token (viewer is enough to watch).";
    document.getElementById("signin").hidden = false;
    document.getElementById("token").focus();
  }

  function signedIn(event) {
    event.preventDefault();
    const input = document.getElementById("token");
    const token = input.value.trim();
    if (!token) return;
    localStorage.setItem(TOKEN_KEY, token);
    input.value = "";
    document.getElementById("signin").hidden = true;
    document.getElementById("main").hidden = false;
    document.getElementById("signout").hidden = false;
    seen.seq = null; // read everything again, now with the token
    seen.drawn = {};
    signingIn = false;
    schedule(0);
  }

  function signOut() {
    localStorage.removeItem(TOKEN_KEY);
    seen.seq = null;
    seen.drawn = {};
    for (const body of document.querySelectorAll(".card .body")) body.replaceChildren();
    document.getElementById("services").replaceChildren();
    signIn("");
  }

  // One poll at a time: a click asks for the next one now, never for a second loop.
  let timer = null;
  let busy = false;
  let again = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(run, delay);
  }

  async function run() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await tick();
    } finally {
      busy = false;
      if (!signingIn) schedule(again ? 0 : POLL_MS);
      again = false;
    }
  }

  function judging(timeline) {
    return !timeline || timeline.some((item) => item.verdict && !item.verdict.final);
  }

  function choose() {
    const names = seen.services.map((s) => s.name);
    const wanted = decodeURIComponent(location.hash.replace(/^#/, ""));
    if (names.includes(wanted)) return wanted;
    if (names.includes(seen.service)) return seen.service;
    const rolling = seen.active.map((r) => r.service).find((name) => names.includes(name));
    return rolling || names[0] || null;
  }

  function connected(seq) {
    const status = document.getElementById("status");
    status.className = "status ok";
    document.getElementById("status-text").textContent =
      `live · ledger #${seq} · updated ${clock(new Date())}`;
    document.getElementById("banner").hidden = true;
    document.getElementById("signout").hidden = !localStorage.getItem(TOKEN_KEY);
  }

  function disconnected(err) {
    document.getElementById("status").className = "status down";
    document.getElementById("status-text").textContent = "disconnected · retrying";
    const banner = document.getElementById("banner");
    banner.textContent = `Cannot read weir's API: ${err.message}. Showing the last answer.`;
    banner.hidden = false;
  }

  // ---- services -----------------------------------------------------------------------------

  function drawServices() {
    const data = {
      selected: choose(),
      services: seen.services.map((spec) => spec.name),
      instances: seen.instances.map((i) => [i.instance.service, i.instance.version, i.live_share]),
      active: seen.active.map((r) => [r.service, r.strategy, r.step, r.steps, r.version]),
    };
    const nav = document.getElementById("services");
    const key = JSON.stringify(data);
    if (nav.dataset.drawn === key) return;
    nav.dataset.drawn = key;
    nav.replaceChildren(
      ...data.services.map((name) => {
        const mine = seen.instances.filter((i) => i.instance.service === name);
        const versions = liveVersions(mine);
        const rollout = seen.active.find((r) => r.service === name);
        return h(
          "a",
          {
            class: "service", href: `#${enc(name)}`, data: { service: name },
            "aria-current": name === data.selected ? "page" : null,
          },
          h("span", { class: "name" }, name),
          h("span", { class: "meta" },
            `${count(mine.filter((i) => i.activation.state !== "retired").length, "instance")} · `,
            versions.length ? versions.map(([v, share]) => `${v} ${pct(share, 0)}`).join(" · ")
              : "no live traffic"),
          rollout
            ? badge(`${rollout.strategy} → ${rollout.version} · step ${rollout.step}/${rollout.steps}`, "info")
            : null,
        );
      }),
    );
  }

  function liveVersions(instances) {
    const shares = new Map();
    for (const i of instances) {
      if (i.live_share > 0) {
        shares.set(i.instance.version, (shares.get(i.instance.version) || 0) + i.live_share);
      }
    }
    return [...shares.entries()].sort((a, b) => b[1] - a[1]);
  }

  function drawEmpty() {
    const hint = "No services yet. Apply one with: weir apply -f service.yaml";
    for (const id of ["rollout", "budget", "instances", "history"]) {
      draw(id, "empty", () => h("p", { class: "muted" }, id === "rollout" ? hint : "—"));
    }
  }

  // ---- rollout ------------------------------------------------------------------------------

  function drawRollout(service, rollout) {
    draw("rollout", rollout, () => {
      if (rollout.missing) {
        return [
          h("p", { class: "muted" }, `No rollout of ${service} yet.`),
          h("p", { class: "hint" }, `Start one: weir rollout start ${service} --version V`),
        ];
      }
      const others = rollout.shares.filter((s) => s.version !== rollout.version && s.live_share > 0);
      const old = others.reduce((sum, s) => sum + s.live_share, 0);
      const stateText = rollout.state.replace("_", " ");
      return [
        h("div", { class: "rollout-head" },
          h("div", {},
            h("div", { class: "title" }, `${rollout.strategy} of `, h("strong", {}, rollout.version)),
            h("div", { class: "muted small" }, `rollout ${rollout.id}`)),
          badge(stateText, STATE_CLASS[rollout.state], "the rollout's state"),
        ),
        h("div", { class: "step-line", data: { test: "step" } },
          h("span", { class: "step-count" },
            rollout.step ? `Step ${rollout.step} of ${rollout.steps}` : `0 of ${rollout.steps} steps`),
          rollout.step_label ? h("span", { class: "step-label" }, rollout.step_label) : null),
        stepBar(rollout),
        h("div", { class: "split" },
          h("div", { class: "split-bar" },
            h("span", { class: "new", width: pct(rollout.new_version_share) }),
            h("span", { class: "old", width: pct(old) })),
          h("div", { class: "split-legend" },
            h("span", {}, h("i", { class: "swatch new" }), `${rollout.version} `,
              h("strong", { data: { test: "new-share" } }, pct(rollout.new_version_share))),
            h("span", {}, h("i", { class: "swatch old" }), "others ", h("strong", {}, pct(old))))),
        nextLine(rollout),
        rollout.refused ? h("p", { class: "warn" }, `Refused: ${rollout.refused}`) : null,
        steps(rollout),
      ];
    });
  }

  function stepBar(rollout) {
    const done = rollout.state === "completed" ? rollout.steps : rollout.step;
    const segments = [];
    for (let i = 1; i <= rollout.steps; i++) {
      let kind = i < done || (i === done && rollout.state === "completed") ? "done" : "";
      if (i === rollout.step && rollout.state === "running") kind = "current";
      if (i === rollout.step && rollout.state === "paused") kind = "paused";
      if (i === rollout.step && ["rolled_back", "aborted"].includes(rollout.state)) kind = "failed";
      segments.push(h("span", { class: `segment ${kind}`, title: `step ${i}` }));
    }
    return h("div", { class: "step-bar", "aria-hidden": "true" }, segments);
  }

  function nextLine(rollout) {
    const next = rollout.next;
    if (next.action === "none") return null;
    const when = next.in_s !== null && next.in_s !== undefined ? ` (${seconds(next.in_s)} left)` : "";
    const verb = next.action === "advance" ? "Next: " : "Waiting: ";
    return h("p", { class: "next" }, verb, next.why, when);
  }

  function steps(rollout) {
    if (!rollout.history.length) return null;
    const items = rollout.history.map((step, i) => {
      const current = i === rollout.history.length - 1 && rollout.state === "running";
      return h("li", { class: current ? "current" : "" },
        h("div", { class: "step-title" },
          h("span", { class: "n" }, `${step.stage + 1}`),
          h("span", {}, step.label),
          step.promoted ? badge("promoted", "info") : null,
          h("span", { class: "muted small" }, clock(new Date(step.at)))),
        step.changes.length
          ? h("ul", { class: "changes" }, step.changes.map((c) =>
            h("li", {},
              changeBadge(c, rollout),
              h("span", { class: "change" }, `${c.instance_id}: ${c.change}`),
              c.verdict_reason ? h("div", { class: "reason" }, c.verdict_reason) : null)))
          : null);
    });
    return h("ol", { class: "steps", "aria-label": "Steps taken" }, items.reverse());
  }

  /** A change's verdict; only changes into traffic (live, shadow) are judged. */
  function changeBadge(change, rollout) {
    if (change.verdict) return verdictBadge(change.verdict, change.final);
    const after = change.change.split("→").pop().trim();
    if (!/^(live|shadow)/.test(after)) return badge("not judged", "idle", "only changes into traffic are judged");
    const active = rollout.state === "running" || rollout.state === "paused";
    return active ? verdictBadge(null, false) : badge("no verdict", "idle");
  }

  // ---- instances ----------------------------------------------------------------------------

  function drawInstances(service, rollout, series) {
    const instances = seen.instances.filter((i) => i.instance.service === service);
    const roles = Object.fromEntries(
      rollout.missing || (rollout.state !== "running" && rollout.state !== "paused")
        ? [] : rollout.shares.map((s) => [s.instance_id, s.role]));
    draw("instances", { instances, roles, series }, () => {
      const shown = instances.filter((i) => i.activation.state !== "retired");
      const retired = instances.length - shown.length;
      if (!shown.length) return h("p", { class: "muted" }, `${service} has no instances yet.`);
      const byId = series.missing ? {} : Object.fromEntries(series.instances.map((s) => [s.instance_id, s]));
      const span = series.missing ? null : timeSpan(series);
      const window = span ? ` · last ${seconds(Math.max(1, span.to - span.from))}` : "";
      return [
        h("div", { class: "scroll" }, h("table", { class: "instances" },
          h("thead", {}, h("tr", {},
            h("th", {}, "Instance"), h("th", {}, "Version"), h("th", {}, "State"),
            h("th", { class: "share" }, "Live share"),
            h("th", {}, `Success rate${window}`), h("th", {}, `p99 latency${window}`))),
          h("tbody", {}, shown.map((i) => instanceRow(i, roles[i.instance.id], byId[i.instance.id], series, span))))),
        series.missing ? h("p", { class: "muted small" }, `No charts: ${series.missing}`) : null,
        retired ? h("p", { class: "muted small" }, `${count(retired, "retired instance")} not shown.`) : null,
      ];
    });
  }

  /** The charts' time axis: the series window, or as much of it as there is data for. */
  function timeSpan(series) {
    const starts = series.instances.flatMap((line) => line.points.slice(0, 1).map((p) => p.at - p.seconds));
    const from = Math.max(series.now - series.window_s, Math.min(series.now - 10, ...starts));
    return { from, to: series.now };
  }

  function instanceRow(record, role, line, series, span) {
    const a = record.activation;
    const detail = a.state === "live" ? `weight ${a.weight}` : a.state === "shadow" ? `mirror ${a.mirror_percent}%` : "";
    const minute = line ? line.last_minute : null;
    return h("tr", { data: { instance: record.instance.id, state: a.state } },
      h("td", { class: "id" },
        h("span", { class: "mono" }, record.instance.id),
        role && role !== "other" ? badge(role === "new" ? "new" : "old", role === "new" ? "info" : "idle") : null,
        h("div", { class: "muted small mono" }, record.instance.address)),
      h("td", { class: "version" }, record.instance.version),
      h("td", { class: "state" }, badge(a.state, STATE_CLASS[a.state]), detail ? h("div", { class: "muted small" }, detail) : null),
      h("td", { class: "share" },
        h("div", { class: "bar" }, h("span", { width: pct(record.live_share) })),
        h("span", { class: "share-value" }, pct(record.live_share))),
      h("td", { class: "chart" }, line ? [
        successChart(line, series, span),
        h("div", { class: "figure" },
          h("span", { class: breachesRate(minute.success_rate, series) ? "bad-text" : "" }, rate(minute.success_rate)),
          minute.rps !== null ? h("div", { class: "muted small" }, `${minute.rps.toFixed(minute.rps >= 10 ? 0 : 1)} req/s`) : null),
      ] : h("span", { class: "muted" }, "—")),
      h("td", { class: "chart" }, line ? [
        latencyChart(line, series, span),
        h("div", { class: "figure" },
          h("span", { class: minute.p99_ms > series.latency_p99_slo_ms ? "bad-text" : "" }, ms(minute.p99_ms))),
      ] : h("span", { class: "muted" }, "—")),
    );
  }

  const breachesRate = (value, series) => value !== null && value !== undefined && value < series.success_rate_slo;

  function successChart(line, series, span) {
    const values = line.points.map((p) => p.success_rate).filter((v) => v !== null);
    const slo = series.success_rate_slo;
    const lo = Math.max(0, Math.min(slo - (100 - slo), ...values));
    return sparkline(line.points, span, (p) => p.success_rate, {
      lo, hi: 100, ref: slo, bad: (v) => v < slo,
      label: `${line.instance_id}: success rate per ${seconds(series.resolution_s)}; dashed: the SLO (${slo}%)`,
    });
  }

  function latencyChart(line, series, span) {
    const values = line.points.map((p) => p.p99_ms).filter((v) => v !== null);
    const slo = series.latency_p99_slo_ms;
    const hi = Math.max(1, ...values) * 1.25;
    return sparkline(line.points, span, (p) => p.p99_ms, {
      lo: 0, hi, ref: slo <= hi ? slo : null, bad: (v) => v > slo,
      label: `${line.instance_id}: p99 latency per ${seconds(series.resolution_s)}; SLO ${ms(slo)}`,
    });
  }

  /** A small line chart over the time span; gaps where there were no requests. */
  function sparkline(points, span, value, opts) {
    const W = 120, H = 34, PAD = 3;
    const x = (at) => PAD + ((at - span.from) / (span.to - span.from)) * (W - 2 * PAD);
    const range = opts.hi - opts.lo || 1;
    const y = (v) => H - PAD - ((Math.min(opts.hi, Math.max(opts.lo, v)) - opts.lo) / range) * (H - 2 * PAD);
    let d = "";
    let pen = false;
    let last = null;
    for (const p of points) {
      const v = value(p);
      if (v === null || v === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(p.at).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      last = [p, v];
    }
    const bad = last && opts.bad(last[1]);
    return svg("svg", {
      class: `spark${bad ? " bad" : ""}`, viewBox: `0 0 ${W} ${H}`, width: W, height: H,
      role: "img", "aria-label": opts.label, "data-points": points.length,
    },
    svg("title", {}, opts.label),
    svg("rect", { class: "frame", x: 0.5, y: 0.5, width: W - 1, height: H - 1, rx: 3 }),
    opts.ref !== null ? svg("line", { class: "ref", x1: PAD, x2: W - PAD, y1: y(opts.ref), y2: y(opts.ref) }) : null,
    d ? svg("path", { class: "line", d }) : null,
    last ? svg("circle", { class: "last", cx: x(last[0].at), cy: y(last[1]), r: 2.2 }) : null);
  }

  // ---- error budget -------------------------------------------------------------------------

  function drawBudget(spec, budget) {
    draw("budget", { spec, budget }, () => {
      const slo = spec ? spec.slo : null;
      const parts = [];
      if (slo) {
        parts.push(h("p", { class: "slo" },
          `SLO: ${slo.success_rate}% of requests succeed, p99 ≤ ${ms(slo.latency_p99_ms)}, over ${slo.window}`));
      }
      if (budget.missing) {
        parts.push(h("p", { class: "muted" }, budget.missing));
        return parts;
      }
      const left = budget.remaining;
      parts.push(
        h("div", { class: "budget-head" },
          h("div", { class: "big", data: { test: "budget-left" } },
            left === null ? "—" : pct(Math.max(left, 0), 1), h("span", { class: "muted small" }, " left"),
            left !== null && left < 0 ? h("div", { class: "bad-text small" }, `overspent by ${pct(-left, 0)}`) : null),
          budget.frozen ? badge("frozen", "bad", "new live activations are refused") : badge("open", "good", "new live traffic allowed")),
        h("div", { class: "bar budget-bar" },
          h("span", { class: left !== null && left < 0.25 ? "low" : "", width: left === null ? "0%" : pct(Math.min(1, Math.max(0, left))) })),
        h("p", { class: "muted small" },
          left === null
            ? `Not enough traffic yet to judge (${num(budget.requests)} requests over ${seconds(budget.window_s)}).`
            : `${num(budget.errors)} failed of ${num(budget.requests)} requests; ${num(budget.allowed_failures)} allowed.`),
        h("table", { class: "burn" },
          h("thead", {}, h("tr", {}, h("th", {}, "Burn rate"), h("th", {}, "long"), h("th", {}, "short"), h("th", {}, "alert at"))),
          h("tbody", {}, budget.burn_rates.map((b) =>
            h("tr", { class: b.alerting ? "alerting" : "" },
              h("td", {}, `${seconds(b.long_window_s)} / ${seconds(b.short_window_s)}`),
              h("td", {}, times(b.long)), h("td", {}, times(b.short)),
              h("td", {}, b.alerting ? badge("alerting", "bad") : `${b.threshold}×`))))),
      );
      if (budget.split_mismatch) parts.push(h("p", { class: "warn" }, `Traffic split: ${budget.split}`));
      else if (budget.split_mismatch === false) parts.push(h("p", { class: "muted small" }, "Envoy splits traffic as weir asks."));
      if (budget.stats_error) parts.push(h("p", { class: "warn" }, `Stats: ${budget.stats_error}`));
      return parts;
    });
  }

  // ---- history ------------------------------------------------------------------------------

  function drawHistory(timeline) {
    draw("history", timeline, () => {
      if (!timeline.length) return h("p", { class: "muted" }, "Nothing recorded yet.");
      return h("ol", { class: "timeline" }, timeline.map((item) => {
        const v = item.verdict;
        return h("li", { class: `kind-${item.kind}`, data: { seq: item.seq } },
          h("div", { class: "when" }, clock(new Date(item.at)), h("span", { class: "seq" }, `#${item.seq}`)),
          h("div", { class: "what" },
            h("div", {}, item.what),
            h("div", { class: "muted small" }, `by ${item.actor}`, item.reason ? ` — ${item.reason}` : ""),
            v ? h("div", { class: "verdict" },
              verdictBadge(v.outcome, v.final),
              h("span", { class: "small" }, `${num(v.requests)} req, ${num(v.errors)} errors`,
                v.p99_ms !== null ? `, p99 ${ms(v.p99_ms)}` : ""),
              v.cost > 0 || v.extra_failures > 0
                ? h("span", { class: "cost", title: `${v.extra_failures.toFixed(1)} failed requests beyond the baseline` },
                  `cost ${v.cost.toFixed(2)}`)
                : h("span", { class: "muted small" }, "cost 0"),
              v.value ? h("span", { class: "value small", title: "net value per hour at current traffic, with its interval" }, `value ${v.value}`) : null,
              ...(v.objectives || []).map((o) => h("div", { class: "objective small" }, o)),
              h("div", { class: "reason" }, v.reason),
              v.comparison ? differences(v.comparison, v.outcome) : null) : null));
      }));
    });
  }

  /** A compared change's differences: per endpoint and field, the candidate's difference rate
   *  against the old instances' own (the noise), with examples. */
  function differences(comparison, outcome) {
    const pct = (r) => `${(100 * r).toFixed(1)}%`;
    const shown = (v) => (v === null ? "(missing)" : v);
    return h("details", { class: "differences", open: outcome === "fail" },
      h("summary", {}, `${num(comparison.compared)} compared answers`,
        comparison.dropped ? `, ${num(comparison.dropped)} dropped` : ""),
      comparison.endpoints.map((endpoint) => h("div", { class: "endpoint" },
        h("div", { class: "endpoint-name" }, endpoint.endpoint, h("span", { class: "muted" }, ` · ${num(endpoint.compared)}`)),
        h("table", { class: "fields" },
          h("thead", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, "candidate"), h("th", {}, "noise"), h("th", {}, ""))),
          h("tbody", {}, endpoint.fields.map((f) => h("tr", { class: f.failed ? "failed" : "", data: { field: f.field } },
            h("td", { class: "field" }, f.field),
            h("td", {}, pct(f.candidate_rate)), h("td", {}, pct(f.noise_rate)),
            h("td", {}, f.failed ? badge("fail", "bad", `e-value ${f.e_value.toPrecision(3)} ≥ ${f.fail_at.toPrecision(3)}`) : ""))))),
        endpoint.fields.filter((f) => f.candidate_rate > f.noise_rate).flatMap((f) => f.examples).map((e) =>
          h("div", { class: "example small" },
            h("code", {}, `${e.method} ${e.path}`), ` ${e.field}: old `, h("code", {}, shown(e.primary)),
            " → new ", h("code", {}, shown(e.candidate)))))));
  }

  window.addEventListener("hashchange", () => schedule(0));
  document.getElementById("signin").addEventListener("submit", signedIn);
  document.getElementById("signout").addEventListener("click", signOut);
  run();
})();
