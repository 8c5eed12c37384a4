// Vigil console: a page per hash route, each built from the JSON API (no framework).
"use strict";

const $main = document.getElementById("main");
const $status = document.getElementById("status");
// What the browser test reads.
window.__vigil = { page: null, overviewPoints: 0, live: 0, lastSql: null };

async function api(path, opts = {}) {
  const res = await fetch(path, opts);
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text }; }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
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

let live = null;

async function overview() {
  setPage("overview");
  const chartBox = el("div", { id: "chart" });
  const topSig = el("div"), topTalk = el("div"), scores = el("div"), stages = el("div");
  const liveBody = el("tbody");
  $main.replaceChildren(
    card("Alerts per minute by severity (drag to zoom: the tables follow)", chartBox),
    el("div", { class: "grid" },
      card("Top signatures", topSig), card("Top talkers", topTalk),
      card("Score distribution per model", scores), card("Pipeline (per stage)", stages)),
    card("Live alerts", el("table", {}, el("thead", {}, el("tr", {},
      ["time", "sev", "signature", "source", "destination", "model", "score"].map((h) => el("th", {}, h)))), liveBody)));

  const where = (range) => range
    ? `AND timestamp >= to_timestamp_seconds(${Math.floor(range[0])}) AND timestamp < to_timestamp_seconds(${Math.ceil(range[1]) + 60})`
    : "";
  async function tables(range) {
    const w = where(range);
    const [sig, talk, sc] = await Promise.all([
      sql(`SELECT signature_id, signature, min(severity) AS sev, count(*) AS alerts FROM alerts WHERE event_type = 'alert' ${w} GROUP BY 1, 2 ORDER BY alerts DESC LIMIT 10`),
      sql(`SELECT src_ip, count(*) AS alerts, count(DISTINCT signature_id) AS signatures FROM alerts WHERE event_type = 'alert' AND src_ip IS NOT NULL ${w} GROUP BY 1 ORDER BY alerts DESC LIMIT 10`),
      sql(`SELECT model, count(*) AS alerts, round(min(score), 4) AS min, round(approx_percentile_cont(score, 0.5), 4) AS p50, round(approx_percentile_cont(score, 0.9), 4) AS p90, round(max(score), 4) AS max FROM alerts WHERE event_type = 'alert' ${w} GROUP BY 1 ORDER BY 1`),
    ]);
    topSig.replaceChildren(sqlTable(sig, (c, v) => c === "signature_id" ? el("a", { href: `#/alerts?sid=${v}` }, String(v)) : null));
    topTalk.replaceChildren(sqlTable(talk, (c, v) => c === "src_ip" ? el("a", { href: `#/alerts?src_ip=${v}` }, v) : null));
    scores.replaceChildren(sqlTable(sc));
  }

  const per = await sql("SELECT to_unixtime(date_trunc('minute', timestamp)) AS t, severity, count(*) AS n FROM alerts WHERE event_type = 'alert' GROUP BY 1, 2 ORDER BY 1");
  const xs = [...new Set(per.rows.map((r) => r[0]))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const bySev = [1, 2, 3].map(() => new Array(xs.length).fill(0));
  for (const [t, s, n] of per.rows) bySev[Math.min(Math.max(s, 1), 3) - 1][index.get(t)] += n;
  // Stacked: each band is the sum of its severity and the more severe ones.
  const stacked = [bySev[0], bySev[0].map((v, i) => v + bySev[1][i]), bySev[0].map((v, i) => v + bySev[1][i] + bySev[2][i])];
  window.__vigil.overviewPoints = xs.length;
  if (xs.length > 0) {
    // Drawn largest first, so each severity's band shows above the more severe ones.
    const bands = [["severity 1-3", "#2e86c1", stacked[2]], ["severity 1-2", "#d68910", stacked[1]], ["severity 1", "#c0392b", stacked[0]]];
    const opts = {
      width: Math.min(1300, $main.clientWidth - 40), height: 240,
      series: [{}, ...bands.map(([label, color]) => ({ label, stroke: color, fill: color + "88", paths: uPlot.paths.bars({ size: [0.8, 12] }), points: { show: false } }))],
      cursor: { drag: { x: true, y: false } },
      hooks: { setScale: [(u, key) => { if (key === "x") tables([u.scales.x.min, u.scales.x.max]).catch(showError); }] },
    };
    new uPlot(opts, [xs, ...bands.map((b) => b[2])], chartBox);
  } else {
    chartBox.append(el("p", { class: "muted" }, "No alerts in the store yet."));
  }
  await tables(null);
  const st = await api("/api/stats");
  stages.replaceChildren(table(["stage", "role", "in", "out", "dead", "lost", "batches"],
    st.stages.map((s) => [s.stage, s.role, s.records_in, s.records_out, s.dead_lettered, s.lost, s.batches])));

  if (live) live.close();
  live = new EventSource("/api/alerts/stream");
  live.addEventListener("alerts", (ev) => {
    for (const a of JSON.parse(ev.data)) {
      window.__vigil.live += 1;
      const link = alertLink(a);
      liveBody.prepend(el("tr", { class: "live" },
        el("td", {}, a.timestamp), el("td", { class: sevClass(a.severity) }, String(a.severity)),
        el("td", {}, link ? el("a", { href: link }, a.signature) : a.signature),
        el("td", {}, a.src_ip ?? a.entity ?? ""), el("td", {}, a.dest_ip ?? ""),
        el("td", {}, a.model), el("td", {}, cell(a.score))));
    }
  });
}

// ---- Alert queue -----------------------------------------------------------------

let queue = { rows: [], selected: 0 };

function queueFilters() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  return q;
}

async function alerts() {
  setPage("alerts");
  const filters = queueFilters();
  const input = el("input", { type: "search", id: "filter", placeholder: "text filter (press /)", value: filters.get("q") || "" });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { filters.set("q", input.value); location.hash = `#/alerts?${filters}`; }
    if (e.key === "Escape") input.blur();
  });
  const pills = el("div", {}, [...filters.entries()].filter(([k]) => k !== "q").map(([k, v]) =>
    el("span", { class: "pill", title: "remove this filter", onclick: () => { filters.delete(k); location.hash = `#/alerts?${filters}`; } }, `${k} = ${v} ×`)));
  const groups = await api(`/api/alerts?group=signature&${filters}`);
  const flat = await api(`/api/alerts?limit=200&${filters}`);
  queue = { rows: flat.alerts, selected: 0 };
  const include = (k, v) => el("span", { class: "value", title: `only ${k} = ${v}`, onclick: () => { filters.set(k, v); location.hash = `#/alerts?${filters}`; } }, String(v));
  const list = el("tbody", { id: "queue" }, flat.alerts.map((a, i) => el("tr", { "data-i": i, "data-id": a.alert_id },
    el("td", {}, a.timestamp), el("td", { class: sevClass(a.severity) }, String(a.severity)),
    el("td", { class: `state-${a.state}` }, a.state),
    el("td", {}, alertLink(a) ? el("a", { href: alertLink(a) }, a.signature) : a.signature),
    el("td", {}, a.src_ip ? include("src_ip", a.src_ip) : (a.entity ?? "")),
    el("td", {}, a.dest_ip ?? ""), el("td", {}, include("model", a.model)), el("td", {}, cell(a.score)))));
  $main.replaceChildren(
    el("p", {}, input, " ", el("span", { class: "muted" }, "keys: "), el("kbd", {}, "j"), "/", el("kbd", {}, "k"), " move, ",
      el("kbd", {}, "a"), " acknowledge, ", el("kbd", {}, "e"), " escalate, ", el("kbd", {}, "Enter"), " open, ", el("kbd", {}, "/"), " filter"),
    pills,
    card("By signature", table(["sid", "signature", "sev", "alerts", "first seen", "last seen"],
      groups.alerts.map((g) => [g.signature_id, g.signature, g.severity, g.alerts, g.first_seen, g.last_seen]),
      (c, v) => c === "sid" ? include("sid", v) : null)),
    card(`Alerts (${flat.alerts.length}${flat.next ? "+" : ""})`, el("table", {},
      el("thead", {}, el("tr", {}, ["time", "sev", "state", "signature", "source", "destination", "model", "score"].map((h) => el("th", {}, h)))), list)));
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
  if (window.__vigil.page !== "alerts" || e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA") return;
  if (e.key === "j") select(queue.selected + 1);
  else if (e.key === "k") select(queue.selected - 1);
  else if (e.key === "a") decide("ack").catch(showError);
  else if (e.key === "e") decide("escalate").catch(showError);
  else if (e.key === "/") { e.preventDefault(); document.getElementById("filter").focus(); }
  else if (e.key === "Enter") { const a = queue.rows[queue.selected]; const l = a && alertLink(a); if (l) location.hash = l; }
});

// ---- Drill-downs -----------------------------------------------------------------

function kv(obj, keys) {
  return table(["field", "value"], keys.filter((k) => k in obj).map((k) => [k, obj[k]]));
}

async function flow(id) {
  setPage("flow");
  const d = await api(`/api/flows/${id}`);
  const f = d.flow;
  const verdicts = Object.entries(f).filter(([, v]) => v && typeof v === "object" && !Array.isArray(v) && "model_version" in v);
  $main.replaceChildren(
    el("h2", {}, `Flow ${f.flow_id}: ${f.src_ip}:${f.src_port} → ${f.dst_ip}:${f.dst_port} (proto ${f.proto})`),
    el("div", { class: "grid" },
      card("5-tuple and state", kv(f, ["uid", "community_id", "ts_start", "ts_end", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "conn_state", "history", "sensor"])),
      card("Counters", kv(f, Object.keys(f).filter((k) => /pkts|bytes|duration/.test(k))))),
    card("Model verdicts and evidence", verdicts.length ? verdicts.map(([m, v]) => el("div", {}, el("h2", {}, m),
      kv(v, ["label", "score", "malicious", "model_version"]),
      v.occlusion ? table(["part (masked)", "drop of the log-odds"], v.occlusion.map((o) => [o.part, o.delta.toFixed(3)])) : el("p", { class: "muted" }, "no occlusion evidence for this flow"))) : el("p", { class: "muted" }, "not scored")),
    card("Alerts on this flow or its Community ID", table(["time", "signature", "severity", "score", "evidence"],
      d.alerts.map((a) => [a.timestamp, a.signature, a.severity, a.score, el("pre", {}, JSON.stringify(a.evidence, null, 1))]))),
    el("div", { class: "grid" },
      card("Same Community ID", table(["flow_id", "sensor", "ts_start", "conn_state"], d.same_community_id.map((r) => [r.flow_id, r.sensor, r.ts_start, r.conn_state]),
        (c, v) => c === "flow_id" ? el("a", { href: `#/flow/${v}` }, String(v)) : null)),
      card(`Other flows of ${f.src_ip}`, table(["flow_id", "ts_start", "src", "dst", "proto", "state"],
        d.same_host.map((r) => [r.flow_id, r.ts_start, `${r.src_ip}:${r.src_port}`, `${r.dst_ip}:${r.dst_port}`, r.proto, r.conn_state]),
        (c, v) => c === "flow_id" ? el("a", { href: `#/flow/${v}` }, String(v)) : null))));
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
    const res = await fetch("/api/sql", { method: "POST", headers: { "content-type": "application/json", accept: "text/csv" }, body: JSON.stringify({ sql: text.value }) });
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
