// The weir dashboard: one server-sent event stream per page (/v1/dashboard/stream) brings
// everything it shows, when it changes; operators also get the rollout's actions. Plain JS,
// no dependencies. Everything from the server goes into the page as text nodes.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  // The API needs a bearer token. The page asks for one and keeps it in this origin's
  // localStorage (never in the URL, where history and logs would keep it).
  const TOKEN_KEY = "weir-token";
  const RETRY_MS = [500, 1000, 2000, 5000];
  const SILENT_MS = 40000; // the server says something at least every 15 s
  const PALETTE = ["#2563eb", "#7c3aed", "#0f766e", "#c2410c", "#be185d", "#4d7c0f", "#0369a1"];

  const seen = {
    page: null, // the last snapshot drawn
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
      else if (k === "width") el.style.width = v; // CSSOM: the CSP allows no style attribute
      else if (k === "paint") el.style.background = v;
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

  /** A share as operators ask for it: 10%, 33.3%, 0.5%, 100% (three significant digits). */
  const pct = (share) => `${Number((100 * share).toPrecision(3))}%`;
  const num = (n) => Math.round(n).toLocaleString("en-US");
  const count = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const clock = (date) => date.toLocaleTimeString("en-GB", { hour12: false });
  const hhmm = (date) => date.toLocaleTimeString("en-GB", { hour12: false, hour: "2-digit", minute: "2-digit" });

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
    if (s >= 120) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
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

  const enc = encodeURIComponent;

  function authorized(headers) {
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  // ---- the stream ---------------------------------------------------------------------------

  let stream = null; // {abort, watchdog} of the open stream
  let attempt = 0;
  let retryTimer = null;
  let signingIn = false;

  function wanted() {
    return decodeURIComponent(location.hash.replace(/^#/, "")) || null;
  }

  function close() {
    clearTimeout(retryTimer);
    if (stream) {
      clearTimeout(stream.watchdog);
      stream.abort.abort();
      stream = null;
    }
  }

  /** Open the stream for the service in the URL's fragment (or the server's choice). */
  async function connect() {
    close();
    const mine = { abort: new AbortController(), watchdog: null };
    stream = mine;
    const alive = () => {
      clearTimeout(mine.watchdog);
      mine.watchdog = setTimeout(() => mine.abort.abort(), SILENT_MS);
    };
    const service = wanted();
    const url = `v1/dashboard/stream${service ? `?service=${enc(service)}` : ""}`;
    try {
      alive();
      const response = await fetch(url, {
        headers: authorized({ Accept: "text/event-stream" }), signal: mine.abort.signal, cache: "no-store",
      });
      if (response.status === 401) {
        const body = await response.json().catch(() => null);
        signIn((body && body.error) || "refused");
        return;
      }
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        alive();
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (!handle(frame)) return;
        }
      }
      throw new Error("the server ended the stream");
    } catch (err) {
      if (stream !== mine) return; // closed on purpose: another service, or signed out
      const silent = mine.abort.signal.aborted;
      disconnected(silent ? new Error("no word from the server") : err);
      retryTimer = setTimeout(connect, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]);
      attempt += 1;
    } finally {
      clearTimeout(mine.watchdog);
    }
  }

  /** One server-sent event; false when the stream is done with (signed out). */
  function handle(frame) {
    let event = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (event === "signed-out") {
      close();
      signIn("the token was revoked");
      return false;
    }
    if (!data.length) return true;
    attempt = 0;
    render(JSON.parse(data.join("\n")));
    return true;
  }

  function render(page) {
    seen.page = page;
    connected(page.seq);
    drawServices(page);
    if (page.service === null) {
      drawEmpty();
      return;
    }
    const spec = page.services.find((s) => s.name === page.service);
    drawRollout(page);
    drawInstances(page);
    drawCharts(page);
    drawBudget(spec, page.budget);
    drawHistory(page.timeline);
    drawProxies(page.proxies);
  }

  // ---- the token ----------------------------------------------------------------------------

  function signIn(message) {
    signingIn = true;
    close();
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
    seen.drawn = {};
    signingIn = false;
    connect();
  }

  function signOut() {
    localStorage.removeItem(TOKEN_KEY);
    seen.drawn = {};
    for (const body of document.querySelectorAll(".card .body")) body.replaceChildren();
    document.getElementById("services").replaceChildren();
    signIn("");
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
    if (signingIn) return;
    document.getElementById("status").className = "status down";
    document.getElementById("status-text").textContent = "disconnected · reconnecting";
    const banner = document.getElementById("banner");
    banner.textContent = `Cannot read weir's API: ${err.message}. Showing the last answer.`;
    banner.hidden = false;
  }

  // ---- services -----------------------------------------------------------------------------

  function drawServices(page) {
    const nav = document.getElementById("services");
    const key = JSON.stringify([page.service, page.services]);
    if (nav.dataset.drawn === key) return;
    nav.dataset.drawn = key;
    nav.replaceChildren(
      ...page.services.map((service) => {
        const rollout = service.rollout;
        return h(
          "a",
          {
            class: "service", href: `#${enc(service.name)}`, data: { service: service.name },
            "aria-current": service.name === page.service ? "page" : null,
          },
          h("span", { class: "name" }, service.name),
          h("span", { class: "meta" },
            `${count(service.instances, "instance")} · `,
            service.versions.length
              ? service.versions.map(([v, share]) => `${v} ${pct(share)}`).join(" · ")
              : "no live traffic"),
          rollout
            ? badge(`${rollout.strategy} → ${rollout.version} · step ${rollout.step}/${rollout.steps}`, "info")
            : null,
        );
      }),
    );
  }

  function drawEmpty() {
    const hint = "No services yet. Apply one with: weir apply -f service.yaml";
    for (const id of ["rollout", "budget", "instances", "history", "charts"]) {
      draw(id, "empty", () => h("p", { class: "muted" }, id === "rollout" ? hint : "—"));
    }
    drawProxies(seen.page ? seen.page.proxies : []);
  }

  // ---- rollout ------------------------------------------------------------------------------

  const ACTIONS = {
    promote: ["Promote", "Skip the rest of this step's bake and verdict gate, and go on to the next step?"],
    pause: ["Pause", "Hold the rollout where it is? A failing verdict still rolls it back."],
    resume: ["Resume", "Go on with the rollout?"],
    abort: ["Abort", "Roll back: every instance the rollout touched returns to its state before it?"],
    undo: ["Undo", "Return the service to the version before this rollout? The instances it replaced take their traffic back."],
  };

  function canOperate(page) {
    return page.me && (page.me.role === "operator" || page.me.role === "admin");
  }

  function actionsFor(rollout) {
    if (rollout.state === "running") return ["promote", "pause", "abort"];
    if (rollout.state === "paused") return ["promote", "resume", "abort"];
    if (rollout.state === "completed" && rollout.grace && !rollout.undone_seq) return ["undo"];
    return [];
  }

  function actions(page, rollout) {
    if (!canOperate(page)) return null;
    const names = actionsFor(rollout);
    if (!names.length) return null;
    return h("div", { class: "actions", role: "group", "aria-label": "Rollout actions" },
      names.map((name) => h("button", {
        type: "button", class: `action ${name}`, data: { action: name },
        title: ACTIONS[name][1], onclick: () => act(page.service, rollout.id, name),
      }, ACTIONS[name][0])));
  }

  async function act(service, rolloutId, name) {
    const [label, question] = ACTIONS[name];
    if (!window.confirm(`${label} rollout ${rolloutId} of ${service}?\n\n${question}`)) return;
    const result = document.getElementById("action-result");
    result.hidden = true;
    let answer;
    try {
      answer = await fetch(`v1/rollouts/${enc(service)}/${name}`, {
        method: "POST",
        headers: authorized({ Accept: "application/json", "Content-Type": "application/json" }),
        body: JSON.stringify({ reason: "from the dashboard" }),
      });
    } catch (err) {
      answer = null;
      result.textContent = `${label}: the request failed (${err.message}).`;
    }
    if (answer) {
      const body = await answer.json().catch(() => null);
      result.textContent = answer.ok
        ? `${label}: done (ledger entry ${[body].flat()[0].seq}).`
        : `${label} refused: ${(body && body.error) || answer.statusText}`;
    }
    result.className = `action-result ${answer && answer.ok ? "ok" : "refused"}`;
    result.hidden = false;
  }

  function drawRollout(page) {
    const rollout = page.rollout;
    const service = page.service;
    draw("rollout", { rollout, me: page.me }, () => {
      if (rollout.missing) {
        return [
          h("p", { class: "muted" }, `No rollout of ${service} yet.`),
          h("p", { class: "hint" }, `Start one: weir rollout start ${service} --version V`),
        ];
      }
      const others = rollout.shares.filter((s) => s.version !== rollout.version && s.live_share > 0);
      const old = others.reduce((sum, s) => sum + s.live_share, 0);
      const stateText = rollout.state.replace("_", " ") + (rollout.undone_seq ? " · undone" : "");
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
          rollout.step_label ? h("span", { class: "step-label" }, rollout.step_label) : null,
          rollout.step_detail ? h("span", { class: "step-detail muted small" }, rollout.step_detail) : null),
        stepBar(rollout),
        h("div", { class: "split" },
          h("div", { class: "split-bar" },
            h("span", { class: "new", width: `${100 * rollout.new_version_share}%` }),
            h("span", { class: "old", width: `${100 * old}%` })),
          h("div", { class: "split-legend" },
            h("span", {}, h("i", { class: "swatch new" }), `${rollout.version} `,
              h("strong", { data: { test: "new-share" } }, pct(rollout.new_version_share))),
            h("span", {}, h("i", { class: "swatch old" }), "others ", h("strong", {}, pct(old))))),
        nextLine(rollout),
        rollout.grace ? h("p", { class: "grace", data: { test: "grace" } },
          `Grace: ${rollout.grace.instances.join(", ")} kept warm`,
          rollout.grace.until ? ` until ${clock(new Date(rollout.grace.until))}` : "",
          rollout.grace.left_s ? ` (${seconds(rollout.grace.left_s)} left)` : "",
          "; undo returns to them.") : null,
        rollout.refused ? h("p", { class: "warn" }, `Refused: ${rollout.refused}`) : null,
        actions(page, rollout),
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
          h("span", { class: "n" }, `${step.step || step.stage + 1}`),
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

  function drawInstances(page) {
    const { rollout, series, service } = page;
    const instances = page.instances;
    const roles = Object.fromEntries(
      rollout.missing || (rollout.state !== "running" && rollout.state !== "paused")
        ? [] : rollout.shares.map((s) => [s.instance_id, s.role]));
    const figures = series.missing ? {} : Object.fromEntries(
      series.instances.map((s) => [s.instance_id, s.last_minute]));
    const slo = series.missing ? null : [series.success_rate_slo, series.latency_p99_slo_ms];
    draw("instances", { instances, roles, figures, slo }, () => {
      const shown = instances.filter((i) => i.activation.state !== "retired");
      const retired = instances.length - shown.length;
      if (!shown.length) return h("p", { class: "muted" }, `${service} has no instances yet.`);
      return [
        h("div", { class: "scroll" }, h("table", { class: "instances" },
          h("thead", {}, h("tr", {},
            h("th", { class: "id" }, "Instance"), h("th", { class: "version" }, "Version"),
            h("th", { class: "state" }, "State"), h("th", { class: "share" }, "Live share"),
            h("th", { class: "success" }, "Success, 1 min"), h("th", { class: "p99" }, "p99, 1 min"))),
          h("tbody", {}, shown.map((i) => instanceRow(i, roles[i.instance.id], figures[i.instance.id], slo))))),
        series.missing ? h("p", { class: "muted small" }, `No figures: ${series.missing}`) : null,
        retired ? h("p", { class: "muted small" }, `${count(retired, "retired instance")} not shown.`) : null,
      ];
    });
  }

  function instanceRow(record, role, minute, slo) {
    const a = record.activation;
    const detail = a.state === "live" ? `weight ${a.weight}` : a.state === "shadow" ? `mirror ${a.mirror_percent}%` : "";
    const failing = minute && slo && minute.success_rate !== null && minute.success_rate < slo[0];
    const slow = minute && slo && minute.p99_ms !== null && minute.p99_ms > slo[1];
    return h("tr", { data: { instance: record.instance.id, state: a.state } },
      h("td", { class: "id" },
        h("span", { class: "mono" }, record.instance.id),
        role && role !== "other" ? badge(role === "new" ? "new" : "old", role === "new" ? "info" : "idle") : null,
        h("div", { class: "muted small mono address" }, record.instance.address)),
      h("td", { class: "version" }, record.instance.version),
      h("td", { class: "state" }, badge(a.state, STATE_CLASS[a.state]), detail ? h("div", { class: "muted small" }, detail) : null),
      h("td", { class: "share" },
        h("div", { class: "bar" }, h("span", { width: `${100 * record.live_share}%` })),
        h("span", { class: "share-value" }, pct(record.live_share))),
      h("td", { class: "success figure" }, minute ? [
        h("span", { class: failing ? "bad-text" : "" }, rate(minute.success_rate)),
        minute.rps !== null ? h("div", { class: "muted small" }, `${minute.rps.toFixed(minute.rps >= 10 ? 0 : 1)} req/s`) : null,
      ] : h("span", { class: "muted" }, "—")),
      h("td", { class: "p99 figure" }, minute ? h("span", { class: slow ? "bad-text" : "" }, ms(minute.p99_ms)) : h("span", { class: "muted" }, "—")),
    );
  }

  // ---- charts -------------------------------------------------------------------------------

  const hovering = {}; // chart -> where the cursor rests over it, 0..1 of its width

  function drawCharts(page) {
    const series = page.series;
    draw("charts", series.missing ? series : { lines: series.instances.map((l) => [l.instance_id, l.points]), slo: [series.success_rate_slo, series.latency_p99_slo_ms], span: timeSpan(series) }, () => {
      if (series.missing) return h("p", { class: "muted" }, `No charts: ${series.missing}`);
      const lines = series.instances.filter((line) => line.points.some((p) => p.requests > 0));
      if (!lines.length) return h("p", { class: "muted" }, "No requests to chart yet.");
      const span = timeSpan(series);
      const colour = Object.fromEntries(series.instances.map((l, i) => [l.instance_id, PALETTE[i % PALETTE.length]]));
      const success = lines.flatMap((l) => l.points.map((p) => p.success_rate)).filter((v) => v !== null);
      const slo = series.success_rate_slo;
      const latencies = lines.flatMap((l) => l.points.map((p) => p.p99_ms)).filter((v) => v !== null);
      return [
        h("div", { class: "legend" }, lines.map((l) =>
          h("span", {}, h("i", { class: "swatch", paint: colour[l.instance_id] }), l.instance_id))),
        h("div", { class: "charts" },
          chart("Success rate", lines, colour, span, (p) => p.success_rate, {
            lo: Math.max(0, Math.min(slo - (100 - slo), ...success)), hi: 100, ref: slo,
            format: rate, test: "success",
          }),
          chart("p99 latency", lines, colour, span, (p) => p.p99_ms, {
            lo: 0, hi: Math.max(1, ...latencies) * 1.15, ref: series.latency_p99_slo_ms, format: ms, test: "latency",
          })),
        h("p", { class: "muted small" },
          `One point per ${seconds(series.resolution_s)}; dashed: the SLO. Hover for values.`),
      ];
    });
  }

  /** The charts' time axis: the series window, or as much of it as there is data for. */
  function timeSpan(series) {
    const starts = series.instances.flatMap((line) => line.points.slice(0, 1).map((p) => p.at - p.seconds));
    const from = Math.max(series.now - series.window_s, Math.min(series.now - 10, ...starts));
    return { from: Math.floor(from), to: Math.ceil(series.now) };
  }

  function timeTicks(span) {
    const width = span.to - span.from;
    const step = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => width / s <= 6) || 3600;
    const ticks = [];
    for (let t = Math.ceil(span.from / step) * step; t <= span.to; t += step) ticks.push(t);
    return { ticks, step };
  }

  function valueTicks(lo, hi) {
    const range = hi - lo || 1;
    const raw = range / 3;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(Number(v.toPrecision(6)));
    return ticks;
  }

  /** A line chart with a time axis, a value axis and a reading of every line under the cursor. */
  function chart(title, lines, colour, span, value, opts) {
    const W = 560, H = 190, L = 56, R = 12, T = 10, B = 26;
    const x = (at) => L + ((at - span.from) / Math.max(1, span.to - span.from)) * (W - L - R);
    const range = opts.hi - opts.lo || 1;
    const y = (v) => H - B - ((Math.min(opts.hi, Math.max(opts.lo, v)) - opts.lo) / range) * (H - T - B);
    const parts = [svg("rect", { class: "plot", x: L, y: T, width: W - L - R, height: H - T - B })];
    const { ticks, step } = timeTicks(span);
    for (const t of ticks) {
      const date = new Date(t * 1000);
      parts.push(svg("line", { class: "grid", x1: x(t), x2: x(t), y1: T, y2: H - B }));
      parts.push(svg("text", { class: "tick x", x: x(t), y: H - 8, "text-anchor": "middle" },
        step >= 60 ? hhmm(date) : clock(date)));
    }
    for (const v of valueTicks(opts.lo, opts.hi)) {
      parts.push(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      parts.push(svg("text", { class: "tick y", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, opts.format(v)));
    }
    if (opts.ref !== null && opts.ref >= opts.lo && opts.ref <= opts.hi) {
      parts.push(svg("line", { class: "ref", x1: L, x2: W - R, y1: y(opts.ref), y2: y(opts.ref) }));
    }
    for (const line of lines) {
      let d = "";
      let pen = false;
      for (const p of line.points) {
        const v = value(p);
        if (v === null || v === undefined) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${x(p.at).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      }
      if (d) parts.push(svg("path", { class: "line", d, stroke: colour[line.instance_id], "data-instance": line.instance_id }));
    }
    const guide = svg("line", { class: "guide", x1: 0, x2: 0, y1: T, y2: H - B, visibility: "hidden" });
    parts.push(guide);
    const hover = svg("rect", { class: "hover", x: L, y: T, width: W - L - R, height: H - T - B });
    parts.push(hover);
    const picture = svg("svg", {
      class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", preserveAspectRatio: "none",
      "aria-label": `${title} per instance over time`, "data-test": opts.test,
    }, svg("title", {}, `${title} per instance over time`), ...parts);
    const tip = h("div", { class: "tip", role: "tooltip", hidden: true });
    const box = h("figure", { class: "chart-box" }, h("figcaption", {}, title), picture, tip);
    /** Read every line at `fraction` of the plot's width (0..1 from its left edge). */
    const readOut = (fraction) => {
      const bounds = picture.getBoundingClientRect();
      const px = L + fraction * (W - L - R);
      const at = span.from + ((px - L) / (W - L - R)) * (span.to - span.from);
      const rows = [];
      let shown = null;
      for (const line of lines) {
        let best = null;
        for (const p of line.points) {
          const v = value(p);
          if (v === null || v === undefined) continue;
          if (!best || Math.abs(p.at - at) < Math.abs(best.at - at)) best = p;
        }
        if (best) {
          rows.push(h("div", {}, h("i", { class: "swatch", paint: colour[line.instance_id] }),
            `${line.instance_id}: `, h("strong", {}, opts.format(value(best))),
            h("span", { class: "muted" }, ` · ${best.requests} req`)));
          shown = shown === null ? best.at : shown;
        }
      }
      if (shown === null) { tip.hidden = true; return; }
      guide.setAttribute("x1", x(shown));
      guide.setAttribute("x2", x(shown));
      guide.setAttribute("visibility", "visible");
      tip.replaceChildren(h("div", { class: "muted small" }, clock(new Date(shown * 1000))), ...rows);
      const left = (px / W) * bounds.width;
      tip.style.left = `${Math.min(bounds.width - 180, Math.max(0, left + 12))}px`;
      tip.hidden = false;
    };
    hover.addEventListener("mousemove", (event) => {
      const bounds = picture.getBoundingClientRect();
      const px = ((event.clientX - bounds.left) / bounds.width) * W;
      hovering[opts.test] = Math.min(1, Math.max(0, (px - L) / (W - L - R)));
      readOut(hovering[opts.test]);
    });
    hover.addEventListener("mouseleave", () => {
      delete hovering[opts.test];
      tip.hidden = true;
      guide.setAttribute("visibility", "hidden");
    });
    // Redrawn every second: a reading under a resting cursor stays, with the new values.
    if (hovering[opts.test] !== undefined) requestAnimationFrame(() => readOut(hovering[opts.test]));
    return box;
  }

  // ---- proxies ------------------------------------------------------------------------------

  function drawProxies(proxies) {
    draw("proxies", proxies, () => {
      if (!proxies.length) return h("p", { class: "muted" }, "No proxy connected.");
      const rows = proxies.map((p) => h("tr", { data: { node: p.node_id } },
        h("td", {}, h("span", { class: "mono" }, p.node_id), h("div", { class: "muted small" }, `${p.node_cluster} · ${p.protocol}`)),
        h("td", { class: "sync" }, p.in_sync
          ? badge("current", "good", "it holds the current state")
          : badge(p.behind_seconds === null || p.behind_seconds === undefined ? "behind" : `behind ${seconds(p.behind_seconds)}`, "bad",
            "it lacks the current state")),
        h("td", { class: "nacks" }, p.nacks ? badge(`${p.nacks} NACK${p.nacks === 1 ? "" : "s"}`, "bad") : h("span", { class: "muted" }, "0"))));
      const nacks = proxies.filter((p) => p.last_nack).map((p) =>
        h("p", { class: "nack small" }, h("strong", {}, p.node_id),
          ` rejected ${p.last_nack.type} at ${clock(new Date(p.last_nack.at))}: `,
          h("span", { class: "mono" }, p.last_nack.message)));
      return [
        h("table", { class: "proxies" },
          h("thead", {}, h("tr", {}, h("th", {}, "Proxy"), h("th", {}, "Sync"), h("th", {}, "NACKs"))),
          h("tbody", {}, rows)),
        ...nacks,
      ];
    });
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
          h("span", { class: left !== null && left < 0.25 ? "low" : "", width: left === null ? "0%" : `${100 * Math.min(1, Math.max(0, left))}%` })),
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

  window.addEventListener("hashchange", () => {
    seen.drawn = {};
    document.getElementById("action-result").hidden = true;
    connect();
  });
  document.getElementById("signin").addEventListener("submit", signedIn);
  document.getElementById("signout").addEventListener("click", signOut);
  connect();
})();
