// Vigil console: a page per hash route, each built from the JSON API (no framework).
"use strict";

const $main = document.getElementById("main");
const $status = document.getElementById("status");
// What the browser test reads.
window.__vigil = { page: null, overviewPoints: 0, live: 0, lastSql: null };

// The bearer token, when the console asks for one (kept for this tab only).
function authHeaders(headers = {}) {
  const token = sessionStorage.getItem("vigil-token");
  return token ? { ...headers, authorization: `Bearer ${token}` } : headers;
}

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: authHeaders(opts.headers) });
  if (res.status === 401) { askToken(); throw new Error("this console needs its token"); }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text }; }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

function askToken() {
  if (document.getElementById("token")) return;
  const input = el("input", { type: "password", id: "token", placeholder: "bearer token", autocomplete: "off" });
  const form = el("form", { class: "card", onsubmit: (e) => { e.preventDefault(); sessionStorage.setItem("vigil-token", input.value.trim()); route(); } },
    el("h2", {}, "This console needs its token"),
    el("p", { class: "muted" }, "The token given to vigil serve (--token-file or VIGIL_TOKEN). It is kept in this tab only."),
    input, " ", el("button", {}, "Open"));
  $main.replaceChildren(form);
  input.focus();
}

// Server-sent events over fetch (EventSource cannot send the token): calls
// `on(event, data)` for each event until `signal` aborts.
async function events(path, signal, on) {
  const res = await fetch(path, { headers: authHeaders({ accept: "text/event-stream" }), signal });
  if (!res.ok || !res.body) throw new Error(`${path}: ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = "message"; const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) on(event, data.join("\n"));
    }
  }
}

async function sql(query) {
  return api("/api/sql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sql: query }),
  });
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

function cell(v) {
  if (v instanceof Node) return v;
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// A table of `columns` (names) and `rows` (arrays); `render(name, value, row)` may
// return a node for a cell.
function table(columns, rows, render = null) {
  return el("table", {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) =>
      el("td", {}, render ? render(columns[i], v, r) ?? cell(v) : cell(v)))))));
}

function sqlTable(result, render = null) {
  return table(result.columns.map((c) => c.name), result.rows, render);
}

function card(title, ...body) {
  return el("section", { class: "card" }, el("h2", {}, title), ...body);
}

function setPage(name) {
  window.__vigil.page = name;
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.dataset.page === name);
  }
}

function sevClass(s) { return `sev${s}`; }

function alertLink(a) {
  if (a.flow_id !== null && a.flow_id !== undefined) return `#/flow/${a.flow_id}`;
  if (a.entity) return a.model && a.model.startsWith("itransformer") ? `#/series/${encodeURIComponent(a.entity)}` : `#/entity/${encodeURIComponent(a.entity)}`;
  return null;
}

// ---- Overview --------------------------------------------------------------------

// Aborted when the page changes: stops the page's live stream and refresh timers.
let pageLife = new AbortController();

function every(ms, f) {
  const id = setInterval(() => f().catch(() => {}), ms);
  pageLife.signal.addEventListener("abort", () => clearInterval(id));
}

const PALETTE = ["#c0392b", "#d68910", "#2e86c1", "#17a589", "#8e44ad", "#5d6d7e", "#b7950b", "#1f618d"];

// A stacked bar chart of `groups` ([label, counts]) over `xs` (seconds), drawn largest
// first so each band shows above the ones below it; `onZoom(range)` on drag.
function stackedChart(box, xs, groups, onZoom) {
  const sums = [];
  groups.forEach(([, counts], g) => sums.push(counts.map((v, i) => v + (g ? sums[g - 1][i] : 0))));
  const bands = groups.map(([label], g) => [label, PALETTE[g % PALETTE.length], sums[g]]).reverse();
  const opts = {
    width: Math.min(1300, $main.clientWidth - 40), height: 220,
    series: [{}, ...bands.map(([label, color]) => ({ label, stroke: color, fill: color + "88", paths: uPlot.paths.bars({ size: [0.8, 12] }), points: { show: false } }))],
    cursor: { drag: { x: true, y: false } },
    hooks: { setScale: [(u, key) => { if (key === "x") onZoom([u.scales.x.min, u.scales.x.max]); }] },
  };
  box.replaceChildren();
  return new uPlot(opts, [xs, ...bands.map((b) => b[2])], box);
}

// A histogram of one model's scores.
function histogram(box, h) {
  const w = (h.hi - h.lo) / h.counts.length;
  const xs = h.counts.map((_, i) => h.lo + (i + 0.5) * w);
  new uPlot({ width: 300, height: 120, legend: { show: false },
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ size: 28 }, { size: 60 }],
    series: [{}, { label: "rows", stroke: "#2e86c1", fill: "#2e86c188", paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } }] },
    [xs, h.counts.map((c) => c || null)], box);
}

async function overview() {
  setPage("overview");
  const chartBox = el("div", { id: "chart" });
  const by = el("select", { id: "by", "aria-label": "stack by" }, el("option", { value: "severity" }, "by severity"), el("option", { value: "model" }, "by model"));
  const topSig = el("div"), topTalk = el("div"), scores = el("div", { class: "hists" }), stages = el("div");
  const liveBody = el("tbody");
  $main.replaceChildren(
    card("Alerts per minute (drag to zoom: the tables follow)", el("p", {}, by), chartBox),
    el("div", { class: "grid" },
      card("Top signatures", topSig), card("Top talkers", topTalk),
      card("Score distribution per model (rows per bin, log scale)", scores), card("Pipeline (per stage, refreshed every 2 s)", stages)),
    card("Live alerts", el("table", {}, el("thead", {}, el("tr", {},
      ["time", "sev", "signature", "source", "destination", "model", "score"].map((h) => el("th", {}, h)))), liveBody)));

  const where = (range) => range
    ? `AND timestamp >= to_timestamp_seconds(${Math.floor(range[0])}) AND timestamp < to_timestamp_seconds(${Math.ceil(range[1]) + 60})`
    : "";
  async function tables(range) {
    const w = where(range);
    const [sig, talk] = await Promise.all([
      sql(`SELECT signature_id, signature, min(severity) AS sev, count(*) AS alerts FROM alerts WHERE event_type = 'alert' ${w} GROUP BY 1, 2 ORDER BY alerts DESC LIMIT 10`),
      sql(`SELECT src_ip, count(*) AS alerts, count(DISTINCT signature_id) AS signatures FROM alerts WHERE event_type = 'alert' AND src_ip IS NOT NULL ${w} GROUP BY 1 ORDER BY alerts DESC LIMIT 10`),
    ]);
    topSig.replaceChildren(sqlTable(sig, (c, v) => c === "signature_id" ? el("a", { href: `#/alerts?sid=${v}` }, String(v)) : null));
    topTalk.replaceChildren(sqlTable(talk, (c, v) => c === "src_ip" ? el("a", { href: `#/alerts?src_ip=${v}` }, v) : null));
  }

  async function chart() {
    const key = by.value === "model" ? "model" : "severity";
    const per = await sql(`SELECT to_unixtime(date_trunc('minute', timestamp)) AS t, CAST(${key} AS VARCHAR) AS k, count(*) AS n FROM alerts WHERE event_type = 'alert' GROUP BY 1, 2 ORDER BY 1`);
    const xs = [...new Set(per.rows.map((r) => r[0]))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const keys = [...new Set(per.rows.map((r) => r[1]))].sort();
    const groups = keys.map((k) => [key === "severity" ? `severity ${k}` : k, new Array(xs.length).fill(0)]);
    for (const [t, k, n] of per.rows) groups[keys.indexOf(k)][1][index.get(t)] += n;
    window.__vigil.overviewPoints = xs.length;
    if (xs.length > 0) stackedChart(chartBox, xs, groups, (range) => tables(range).catch(showError));
    else chartBox.replaceChildren(el("p", { class: "muted" }, "No alerts in the store yet."));
    window.__vigil.chartBy = `${key}: ${keys.join(", ")}`;
  }
  by.addEventListener("change", () => chart().catch(showError));

  async function pipeline() {
    const st = await api("/api/stats");
    const num = (v, d = 0) => v === undefined || v === null ? "" : Number(v).toFixed(d);
    stages.replaceChildren(table(["stage", "role", "in", "out", "out/s", "lag", "dead", "lost", "alert p99 ms"],
      st.stages.map((s) => [s.stage, s.role, s.records_in, s.records_out, num(s.out_per_second),
        num(s.lag), s.dead_lettered, s.lost, num(s.alert_latency_p99_ms, 1)])));
  }

  await chart();
  await tables(null);
  const sc = await api("/api/scores");
  window.__vigil.histograms = sc.models.length;
  scores.replaceChildren(...(sc.models.length ? sc.models.map((h) => {
    const box = el("div");
    const fig = el("figure", {}, el("figcaption", {}, `${h.model}: ${h.field} (${h.table}, ${h.n} rows)`), box);
    requestAnimationFrame(() => histogram(box, h));
    return fig;
  }) : [el("p", { class: "muted" }, "No scored rows yet.")]));
  await pipeline();
  every(2000, pipeline);

  events("/api/alerts/stream", pageLife.signal, (event, data) => {
    if (event !== "alerts") return;
    for (const a of JSON.parse(data)) {
      window.__vigil.live += 1;
      const link = alertLink(a);
      liveBody.prepend(el("tr", { class: "live" },
        el("td", {}, a.timestamp), el("td", { class: sevClass(a.severity) }, String(a.severity)),
        el("td", {}, link ? el("a", { href: link }, a.signature) : a.signature),
        el("td", {}, a.src_ip ?? a.entity ?? ""), el("td", {}, a.dest_ip ?? ""),
        el("td", {}, a.model), el("td", {}, cell(a.score))));
    }
  }).catch((e) => { if (e.name !== "AbortError") $status.textContent = `live alerts: ${e.message}`; });
}

// ---- Alert queue -----------------------------------------------------------------

let queue = { rows: [], selected: 0 };

function queueFilters() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

function goQueue(filters) { location.hash = `#/alerts?${filters}`; }

// A value that can be clicked (or focused and Enter-ed) to include, exclude or group by.
function valueButton(field, v, filters) {
  if (v === null || v === undefined || v === "") return "";
  const text = String(v);
  return el("button", { class: "value", title: `${field} = ${text}: include, exclude or group by`,
    onclick: (e) => { e.stopPropagation(); valueMenu(e.currentTarget, field, text, filters); } }, text);
}

function valueMenu(anchor, field, v, filters) {
  document.querySelector(".menu")?.remove();
  const act = (f) => () => { document.querySelector(".menu")?.remove(); f(); goQueue(filters); };
  const menu = el("span", { class: "menu", role: "menu" },
    el("button", { role: "menuitem", onclick: act(() => filters.append(`include.${field}`, v)) }, "include"),
    el("button", { role: "menuitem", onclick: act(() => filters.append(`exclude.${field}`, v)) }, "exclude"),
    el("button", { role: "menuitem", onclick: act(() => filters.set("group", field)) }, `group by ${field}`));
  menu.addEventListener("keydown", (e) => { if (e.key === "Escape") { menu.remove(); anchor.focus(); } });
  anchor.after(menu);
  menu.querySelector("button").focus();
}

function filterLabel(k, v) {
  if (k.startsWith("include.")) return `${k.slice(8)} = ${v}`;
  if (k.startsWith("exclude.")) return `${k.slice(8)} ≠ ${v}`;
  if (k === "group") return `grouped by ${v}`;
  return `${k} = ${v}`;
}

async function alerts() {
  setPage("alerts");
  const filters = queueFilters();
  const group = filters.get("group") || "signature";
  const input = el("input", { type: "search", id: "filter", placeholder: "text filter (press /)", value: filters.get("q") || "" });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { filters.set("q", input.value); goQueue(filters); }
    if (e.key === "Escape") input.blur();
  });
  const pills = el("div", { id: "pills" }, [...filters.entries()].filter(([k]) => k !== "q").map(([k, v]) =>
    el("button", { class: "pill", title: "remove this filter", onclick: () => {
      const rest = [...filters.entries()].filter(([k2, v2]) => !(k2 === k && v2 === v));
      goQueue(new URLSearchParams(rest));
    } }, `${filterLabel(k, v)} ×`)));
  const flatFilters = new URLSearchParams([...filters.entries()].filter(([k]) => k !== "group"));
  const [groups, flat] = await Promise.all([
    api(`/api/alerts?${flatFilters}&group=${encodeURIComponent(group)}`),
    api(`/api/alerts?limit=200&${flatFilters}`),
  ]);
  queue = { rows: flat.alerts, selected: 0 };
  const v = (field, value) => valueButton(field, value, filters);
  const list = el("tbody", { id: "queue" }, flat.alerts.map((a, i) => el("tr", { "data-i": i, "data-id": a.alert_id, onclick: () => select(i) },
    el("td", {}, a.timestamp), el("td", { class: sevClass(a.severity) }, v("severity", a.severity)),
    el("td", { class: `state-${a.state}` }, a.state),
    el("td", {}, alertLink(a) ? el("a", { href: alertLink(a) }, a.signature) : a.signature),
    el("td", {}, a.src_ip ? v("src_ip", a.src_ip) : v("entity", a.entity)),
    el("td", {}, v("dest_ip", a.dest_ip)), el("td", {}, v("dest_port", a.dest_port)),
    el("td", {}, v("model", a.model)), el("td", {}, v("label", a.label)), el("td", {}, cell(a.score)))));
  const grouped = group === "signature"
    ? table(["sid", "signature", "sev", "alerts", "first seen", "last seen"],
      groups.alerts.map((g) => [g.signature_id, g.signature, g.severity, g.alerts, g.first_seen, g.last_seen]),
      (c, x) => c === "sid" ? v("signature_id", x) : null)
    : table([group, "alerts", "signatures", "sev", "first seen", "last seen"],
      groups.alerts.map((g) => [g.value, g.alerts, g.signatures, g.severity, g.first_seen, g.last_seen]),
      (c, x) => c === group ? v(group, x) : null);
  $main.replaceChildren(
    el("p", {}, input, " ", el("span", { class: "muted" }, "keys: "), el("kbd", {}, "j"), "/", el("kbd", {}, "k"), " move, ",
      el("kbd", {}, "a"), " acknowledge, ", el("kbd", {}, "e"), " escalate, ", el("kbd", {}, "Enter"), " open, ", el("kbd", {}, "/"), " filter; click a value to include, exclude or group by it"),
    pills,
    card(`By ${group}`, grouped),
    card(`Alerts (${flat.alerts.length}${flat.next ? "+" : ""})`, el("table", {},
      el("thead", {}, el("tr", {}, ["time", "sev", "state", "signature", "source", "destination", "port", "model", "label", "score"].map((h) => el("th", {}, h)))), list)));
  select(0);
}

function select(i) {
  const rows = document.querySelectorAll("#queue tr");
  if (!rows.length) return;
  queue.selected = Math.max(0, Math.min(rows.length - 1, i));
  rows.forEach((r, j) => r.classList.toggle("selected", j === queue.selected));
  rows[queue.selected].scrollIntoView({ block: "nearest" });
}

async function decide(action) {
  const a = queue.rows[queue.selected];
  if (!a) return;
  await api(`/api/alerts/${a.alert_id}/${action}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ actor: "console" }) });
  const row = document.querySelector(`#queue tr[data-id="${a.alert_id}"] td:nth-child(3)`);
  const state = action === "ack" ? "acknowledged" : "escalated";
  a.state = state;
  if (row) { row.textContent = state; row.className = `state-${state}`; }
  $status.textContent = `${a.alert_id}: ${state}`;
  select(queue.selected + 1);
}

document.addEventListener("keydown", (e) => {
  if (window.__vigil.page !== "alerts" || ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName) || e.target.closest(".menu")) return;
  if (e.key === "j") select(queue.selected + 1);
  else if (e.key === "k") select(queue.selected - 1);
  else if (e.key === "a") decide("ack").catch(showError);
  else if (e.key === "e") decide("escalate").catch(showError);
  else if (e.key === "/") { e.preventDefault(); document.getElementById("filter").focus(); }
  else if (e.key === "Enter" && !e.target.closest("button, a")) { const a = queue.rows[queue.selected]; const l = a && alertLink(a); if (l) location.hash = l; }
});

// ---- Drill-downs -----------------------------------------------------------------

function kv(obj, keys) {
  return table(["field", "value"], keys.filter((k) => k in obj).map((k) => [k, obj[k]]));
}

async function flow(id) {
  setPage("flow");
  const d = await api(`/api/flows/${id}`);
  const f = d.flow;
  const bursts = burstTimeline(d.bursts || []);
  const verdicts = Object.entries(f).filter(([, v]) => v && typeof v === "object" && !Array.isArray(v) && "model_version" in v);
  $main.replaceChildren(
    el("h2", {}, `Flow ${f.flow_id}: ${f.src_ip}:${f.src_port} → ${f.dst_ip}:${f.dst_port} (proto ${f.proto})`),
    el("div", { class: "grid" },
      card("5-tuple and state", kv(f, ["uid", "community_id", "ts_start", "ts_end", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "conn_state", "history", "sensor"])),
      card("Counters", kv(f, Object.keys(f).filter((k) => /pkts|bytes|duration/.test(k))))),
    card("Model verdicts and evidence", verdicts.length ? verdicts.map(([m, v]) => el("div", {}, el("h2", {}, m),
      kv(v, ["label", "score", "malicious", "model_version"]),
      v.occlusion ? table(["part (masked)", "drop of the log-odds"], v.occlusion.map((o) => [o.part, o.delta.toFixed(3)])) : el("p", { class: "muted" }, "no occlusion evidence for this flow"))) : el("p", { class: "muted" }, "not scored")),
    card("netFound bursts (what the model read: bytes sent forward above the axis, backward below)", bursts),
    card("Alerts on this flow or its Community ID", table(["time", "signature", "severity", "score", "evidence"],
      d.alerts.map((a) => [a.timestamp, a.signature, a.severity, a.score, el("pre", {}, JSON.stringify(a.evidence, null, 1))]))),
    el("div", { class: "grid" },
      card("Same Community ID", table(["flow_id", "sensor", "ts_start", "conn_state"], d.same_community_id.map((r) => [r.flow_id, r.sensor, r.ts_start, r.conn_state]),
        (c, v) => c === "flow_id" ? el("a", { href: `#/flow/${v}` }, String(v)) : null)),
      card(`Other flows of ${f.src_ip}`, table(["flow_id", "ts_start", "src", "dst", "proto", "state"],
        d.same_host.map((r) => [r.flow_id, r.ts_start, `${r.src_ip}:${r.src_port}`, `${r.dst_ip}:${r.dst_port}`, r.proto, r.conn_state]),
        (c, v) => c === "flow_id" ? el("a", { href: `#/flow/${v}` }, String(v)) : null))));
}

// The flow's bursts as signed bars over time (ms since the first), and as a table.
function burstTimeline(bursts) {
  window.__vigil.bursts = bursts.length;
  if (!bursts.length) return el("p", { class: "muted" }, "No netFound tokens for this flow (not scored by netFound).");
  const t0 = Date.parse(bursts[0].ts);
  const xs = bursts.map((b) => Date.parse(b.ts) - t0);
  const box = el("div", { id: "bursts" });
  requestAnimationFrame(() => new uPlot({ width: Math.min(1300, $main.clientWidth - 60), height: 220,
    // Symmetric: forward above the axis, backward below; bars at least 6 px wide.
    scales: { x: { time: false }, y: { range: (u, lo, hi) => { const m = Math.max(-lo, hi, 1); return [-m, m]; } } },
    axes: [{ label: "ms since the first burst" }, { label: "bytes", size: 60 }],
    series: [{}, { label: "forward", stroke: "#2e86c1", fill: "#2e86c188", paths: uPlot.paths.bars({ size: [0.6, 16, 6] }), points: { show: false } },
      { label: "backward", stroke: "#d68910", fill: "#d6891088", paths: uPlot.paths.bars({ size: [0.6, 16, 6] }), points: { show: false } }] },
    [xs, bursts.map((b) => b.forward ? b.bytes : null), bursts.map((b) => b.forward ? null : -b.bytes)], box));
  return el("div", {}, box, table(["#", "direction", "packets", "bytes", "gap since the previous burst of its direction (ms)", "start"],
    bursts.map((b, i) => [i + 1, b.forward ? "forward" : "backward", b.packets, b.bytes, (b.iat_us / 1000).toFixed(3), b.ts])));
}

async function entity(name) {
  setPage("entity");
  const d = await api(`/api/entities/${encodeURIComponent(name)}`);
  $main.replaceChildren(el("h2", {}, `Entity ${d.entity}`),
    card("Actions, newest first (surprise = −ln p of what happened)", table(["time", "action", "object", "surprise", "rank", "expected (p)"],
      d.actions.map((a) => [a.ts, a.action, a.object, a.surprise, a.rank, (a.expected || []).map((e) => `${e.token} (${e.p.toFixed(3)})`).join(", ")]))),
    card("Alerts", table(["time", "signature", "score"], d.alerts.map((a) => [a.timestamp, a.signature, a.score]))));
}

async function series(name) {
  setPage("series");
  const d = await api(`/api/series/${encodeURIComponent(name)}`);
  const box = el("div");
  $main.replaceChildren(el("h2", {}, `Series ${d.series}`), card("Observed and forecast (anomalies: alert times below)", box),
    card("Anomaly alerts", table(["time", "signature", "score"], d.alerts.map((a) => [a.timestamp, a.signature, a.score]))));
  const xs = d.points.map((p) => Date.parse(p.ts) / 1000);
  new uPlot({ width: Math.min(1300, $main.clientWidth - 40), height: 300,
    series: [{}, { label: "observed", stroke: "#1d2430" }, { label: "forecast", stroke: "#2e86c1" }, { label: "anomaly score", stroke: "#c0392b", scale: "score" }],
    axes: [{}, {}, { scale: "score", side: 1 }] },
    [xs, d.points.map((p) => p.value ?? null), d.points.map((p) => p.forecast ?? null), d.points.map((p) => p.anomaly_score ?? null)], box);
}

// ---- SQL console -----------------------------------------------------------------

async function sqlPage() {
  setPage("sql");
  const text = el("textarea", { id: "sql", spellcheck: "false" }, sessionStorage.getItem("sql") || "SELECT signature, count(*) AS alerts FROM alerts GROUP BY 1 ORDER BY 2 DESC");
  const out = el("div", { id: "result" });
  const info = el("span", { class: "muted", id: "elapsed" });
  async function run() {
    sessionStorage.setItem("sql", text.value);
    try {
      const r = await sql(text.value);
      window.__vigil.lastSql = r;
      info.textContent = `${r.rows.length} rows${r.truncated ? " (cut)" : ""} in ${r.elapsed_ms} ms`;
      out.replaceChildren(sqlTable(r));
    } catch (e) { out.replaceChildren(el("p", { class: "sev1" }, e.message)); }
  }
  async function csv() {
    const res = await fetch("/api/sql", { method: "POST", headers: authHeaders({ "content-type": "application/json", accept: "text/csv" }), body: JSON.stringify({ sql: text.value }) });
    const url = URL.createObjectURL(await res.blob());
    el("a", { href: url, download: "vigil.csv" }).click();
  }
  text.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(); });
  const saved = el("select", { onchange: (e) => { text.value = e.target.value; } },
    el("option", { value: text.value }, "saved queries…"),
    ...SAVED.map(([name, q]) => el("option", { value: q }, name)));
  $main.replaceChildren(card("SQL (read-only; Ctrl+Enter runs)", text,
    el("p", {}, el("button", { id: "run", onclick: run }, "Run"), " ", el("button", { onclick: csv }, "CSV"), " ", saved, " ", info)), out);
}

const SAVED = [
  ["alerts by signature", "SELECT signature_id, signature, count(*) AS alerts FROM alerts WHERE event_type = 'alert' GROUP BY 1, 2 ORDER BY 3 DESC"],
  ["top talkers", "SELECT src_ip, count(*) AS flows, sum(orig_ip_bytes + resp_ip_bytes) AS bytes FROM flows GROUP BY 1 ORDER BY 3 DESC LIMIT 20"],
  ["surprising actions", "SELECT ts, entity, action, object, surprise FROM actions WHERE surprise IS NOT NULL ORDER BY surprise DESC LIMIT 20"],
  ["metric anomalies", "SELECT ts, series, value, forecast, anomaly_score FROM metrics WHERE anomaly_score IS NOT NULL ORDER BY anomaly_score DESC LIMIT 20"],
];

// ---- Router ----------------------------------------------------------------------

function showError(e) {
  $main.append(el("p", { class: "sev1" }, `Error: ${e.message}`));
}

async function route() {
  const [path] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  $status.textContent = "";
  document.body.dataset.ready = "";
  pageLife.abort();
  pageLife = new AbortController();
  try {
    if (parts[0] === "alerts") await alerts();
    else if (parts[0] === "flow") await flow(parts[1]);
    else if (parts[0] === "entity") await entity(decodeURIComponent(parts[1]));
    else if (parts[0] === "series") await series(decodeURIComponent(parts[1]));
    else if (parts[0] === "sql") await sqlPage();
    else await overview();
    document.body.dataset.ready = window.__vigil.page;
  } catch (e) { showError(e); }
}

window.addEventListener("hashchange", route);
route();
