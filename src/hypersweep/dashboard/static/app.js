// hypersweep dashboard front end: plain JavaScript, plotly.js served by the dashboard.
// Every value from the storage is data: it reaches the page through textContent or esc().
"use strict";
const CFG = window.HS_CONFIG || {};
const POLL_MS = Number(new URLSearchParams(location.search).get("poll")) || 2000;
const $ = (sel, root) => (root || document).querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const fmt = (v) => v === null || v === undefined ? "" : (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : (typeof v === "object" ? JSON.stringify(v) : String(v)));
const ago = (t) => { if (!t) return ""; const s = Date.now() / 1000 - t; return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : new Date(t * 1000).toISOString().slice(0, 16).replace("T", " "); };
const STATES = ["COMPLETED", "RUNNING", "STOPPED", "FAILED", "QUEUED"];
let timer = null, view = null;

async function api(path, opts) {
  if (CFG.static) return staticApi(path);
  const r = await fetch(path, Object.assign({credentials: "same-origin"}, opts || {}));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

// a report file (hypersweep report --html): the same views from the embedded answers
function staticApi(path) {
  const D = window.HS_DATA, [route, query] = path.split("?"), q = new URLSearchParams(query || "");
  if (route === "api/studies") return D.studies;
  const what = route.split("/").slice(3).join("/");
  if (what === "watermark") return {watermark: "static"};
  if (what.startsWith("trials/")) { const n = Number(what.slice(7)); const r = D.rows.find((x) => x.number === n); if (!r) throw new Error("not in this report"); return Object.assign({metrics: r.values, reports: [], output: {}}, r); }
  if (what === "trials") return localTable(D.rows, q);
  if (D[what] === undefined) throw new Error(`not in this report: ${what}`);
  return D[what];
}

function localTable(rows, q) {
  const states = (q.get("state") || "").split(",").filter(Boolean), sort = q.get("sort") || "number", desc = q.get("desc") === "1";
  const size = Number(q.get("size") || 50), page = Number(q.get("page") || 0);
  const terms = (q.get("q") || "").split(/\s+/).filter(Boolean);
  const match = (r, t) => { const m = t.match(/^([^<>=!]+)(<=|>=|!=|=|<|>)(.*)$/);
    if (!m) return Object.values(r.params).some((v) => String(v).toLowerCase().includes(t.toLowerCase()));
    const v = m[1] in r.values ? r.values[m[1]] : r.params[m[1]]; if (v === undefined || v === null) return false;
    const num = Number(m[3]), a = typeof v === "number" && !isNaN(num) ? v : String(v), b = typeof a === "number" ? num : m[3];
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[m[2]]; };
  const key = (r) => sort === "number" ? r.number : sort === "state" ? STATES.indexOf(r.state) : sort === "duration" ? r.duration
    : sort.startsWith("value") ? r.values[sort.split(":")[1] || Object.keys(r.values)[0]] : sort.startsWith("param:") ? r.params[sort.slice(6)] : r.number;
  let out = rows.filter((r) => (!states.length || states.includes(r.state)) && terms.every((t) => match(r, t)));
  out = out.slice().sort((a, b) => { const x = key(a), y = key(b); const mx = x === undefined || x === null, my = y === undefined || y === null;
    if (mx || my) return mx - my || a.number - b.number; return (x < y ? -1 : x > y ? 1 : a.number - b.number) * (desc ? -1 : 1); });
  return {total: out.length, page, size, rows: out.slice(page * size, (page + 1) * size)};
}

// plotly.js (3.5 MB) is fetched early (a preload link) but run only when the first chart
// needs it, so the summary is on screen before the browser spends seconds parsing it
let plotlyLoad = null;
function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  plotlyLoad = plotlyLoad || new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "static/plotly.min.js";
    s.onload = () => resolve(window.Plotly);
    s.onerror = () => { plotlyLoad = null; reject(new Error("plotly.js did not load")); };
    document.head.appendChild(s);
  });
  return plotlyLoad;
}

function plot(div, traces, layout) {
  layout = Object.assign({margin: {l: 50, r: 20, t: 10, b: 40}, hovermode: "closest", legend: {orientation: "h"}}, layout || {});
  return plotly().then((P) => P.react(div, traces, layout, {displaylogo: false, responsive: true})).then(() => { div.dataset.rendered = "1"; });
}

function note(div, text) { div.dataset.rendered = "1"; div.innerHTML = `<p class="note">${esc(text)}</p>`; div.classList.remove("chart"); }

// ---------------------------------------------------------------- studies list
async function showList() {
  $("#where").textContent = "studies";
  const main = $("#main");
  const data = await api("api/studies");
  if (!data.studies.length) { main.innerHTML = `<p class="muted">no study in this storage yet</p>`; return; }
  let html = `<table id="studies"><thead><tr><th>study</th><th>state</th><th>trials</th>` +
    STATES.map((s) => `<th>${s.toLowerCase()}</th>`).join("") + `<th>best</th><th>last activity</th></tr></thead><tbody>`;
  for (const s of data.studies) {
    const best = s.best ? `${fmt(s.best.values[0])} (#${s.best.number})` : (s.pareto_size ? `${s.pareto_size} on the Pareto front` : "");
    html += `<tr class="clickable" data-name="${esc(s.name)}"><td><a href="#/study/${encodeURIComponent(s.name)}">${esc(s.name)}</a></td>` +
      `<td>${esc(s.state)}</td><td>${s.trials}</td>` + STATES.map((k) => `<td>${s.states[k] || 0}</td>`).join("") +
      `<td>${esc(best)}</td><td>${esc(ago(s.last_activity))}</td></tr>`;
  }
  main.innerHTML = html + "</tbody></table>";
  main.querySelectorAll("tr[data-name]").forEach((tr) => tr.addEventListener("click", () => { location.hash = `#/study/${encodeURIComponent(tr.dataset.name)}`; }));
  view = {kind: "list", refresh: showList};
}

// ---------------------------------------------------------------- study page
function studyPage(name) {
  const enc = encodeURIComponent(name);
  const base = `api/studies/${enc}`;
  const st = {name, base, sort: "number", desc: true, state: "", q: "", page: 0, size: 25, watermark: null, summary: null, metric: null};
  $("#where").textContent = name;
  $("#main").innerHTML = `
  <section class="card"><div class="summary" id="summary"></div><div id="running"></div>
    <div class="controls">${CFG.static ? `<span class="muted">report of ${esc(name)}, written ${esc(new Date(window.HS_DATA.written_at * 1000).toISOString().slice(0, 16).replace("T", " "))} UTC; ${window.HS_DATA.rows.length} of ${window.HS_DATA.rows_total} trials in the table</span>` : `<a href="${base}/export.csv" download>CSV</a> <a href="${base}/export.json" download>JSON</a>`}
    <span id="writes"></span></div></section>
  <div class="grid">
    <section class="card"><h3>Optimization history</h3><div id="c-history" class="chart"></div></section>
    <section class="card"><h3>Intermediate values <select id="curve-metric"></select></h3><div id="c-curves" class="chart"></div></section>
    <section class="card"><h3>Parallel coordinates</h3><div id="c-parallel" class="chart"></div></section>
    <section class="card"><h3>Slice <select id="slice-param"></select></h3><div id="c-slice" class="chart"></div></section>
    <section class="card"><h3>Pair <select id="pair-x"></select> × <select id="pair-y"></select>
      <select id="pair-kind"><option value="scatter">scatter</option><option value="contour">contour</option></select></h3><div id="c-pair" class="chart"></div></section>
    <section class="card" id="pareto-card"><h3>Pareto front</h3><div id="c-pareto" class="chart"></div></section>
    <section class="card"><h3>Parameter importance</h3><div id="c-importance" class="chart"></div></section>
  </div>
  <section class="card"><h3>Trials</h3>
    <div class="controls"><label>state <select id="f-state"><option value="">all</option>${STATES.map((s) => `<option>${s}</option>`).join("")}</select></label>
    <label>search <input id="f-q" placeholder="lr<0.01 act=relu" size="28"></label>
    <button id="prev">‹</button><span id="pageinfo"></span><button id="next">›</button></div>
    <div style="overflow:auto"><table id="trials"></table></div></section>`;
  $("#f-state").onchange = (e) => { st.state = e.target.value; st.page = 0; loadTable(st); };
  let qt = null;
  $("#f-q").oninput = (e) => { clearTimeout(qt); qt = setTimeout(() => { st.q = e.target.value.trim(); st.page = 0; loadTable(st); }, 250); };
  $("#prev").onclick = () => { if (st.page > 0) { st.page--; loadTable(st); } };
  $("#next").onclick = () => { st.page++; loadTable(st); };
  view = {kind: "study", st, refresh: () => refreshStudy(st)};
  refreshStudy(st);
}

async function refreshStudy(st) {
  const s = st.summary = await api(`${st.base}/summary`);
  renderSummary(st, s);
  if (!st.painted) { st.painted = true; await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))); }  // on screen first
  const tasks = [loadHistory(st), loadCurves(st), loadPoints(st), loadTable(st)];
  if (s.multi_objective) tasks.push(loadPareto(st)); else $("#pareto-card").classList.add("hidden");
  await Promise.all(tasks.map((p) => p.catch((e) => console.error(e))));
  // last: the server fits a forest for it (seconds on a large study), the charts never wait
  if (!st.importanceDone) { await loadImportance(st).catch((e) => console.error(e)); }
}

function renderSummary(st, s) {
  const best = s.multi_objective ? `${s.best.length} on the front` : (s.best[0] ? `${fmt(Object.values(s.best[0].values)[0])} (#${s.best[0].number})` : "none yet");
  const obj = s.objectives.map((o) => `${o.goal} ${o.metric}`).join(", ");
  $("#summary").innerHTML = `<div>objective<b>${esc(obj)}</b></div><div>trials<b>${s.trials}</b></div>` +
    STATES.map((k) => `<div>${k.toLowerCase()}<b>${s.states[k] || 0}</b></div>`).join("") +
    `<div>best<b id="best-value">${esc(best)}</b></div><div>last activity<b>${esc(ago(s.last_activity))}</b></div>` +
    (s.stop_reason ? `<div>stopped<b>${esc(s.stop_reason)}</b></div>` : s.stop_requested ? `<div>stop requested<b>${esc(s.stop_requested)}</b></div>` : "");
  const run = s.running.map((r) => `#${r.number} step ${fmt(r.step)} ${esc(Object.entries(r.latest).map(([k, v]) => `${k}=${fmt(v)}`).join(" "))}`);
  $("#running").innerHTML = s.n_running ? `<p><b>running now (${s.n_running}):</b> ${run.join(" · ")}</p>` : "";
  if (CFG.allowWrite && !$("#stop-btn")) {
    $("#writes").innerHTML = `<button id="stop-btn">stop study</button> <input id="enq" placeholder='{"lr": 0.01}' size="24"> <button id="enq-btn">enqueue</button>`;
    const token = sessionStorage.getItem("hs_token") || new URLSearchParams(location.search).get("token") || prompt("dashboard token");
    if (token) sessionStorage.setItem("hs_token", token);
    const post = (path, body) => api(`${st.base}/${path}`, {method: "POST", headers: {"Content-Type": "application/json", "X-Hypersweep-Token": token || ""}, body: JSON.stringify(body)});
    $("#stop-btn").onclick = () => post("stop", {}).then(() => refreshStudy(st)).catch((e) => alert(e.message));
    $("#enq-btn").onclick = () => { let p; try { p = JSON.parse($("#enq").value); } catch (e) { alert("enqueue: " + e.message); return; } post("enqueue", {params: p}).then(() => refreshStudy(st)).catch((e) => alert(e.message)); };
  }
}

async function loadHistory(st) {
  const h = await api(`${st.base}/history`);
  const div = $("#c-history");
  if (!h.total) { note(div, "no finished trial yet"); return; }
  const traces = [{x: h.feasible.x, y: h.feasible.y, mode: "markers", type: "scatter", name: "trial", marker: {size: 5, color: "#2563eb"}},
    {x: h.best.x, y: h.best.y, mode: "lines", line: {shape: "hv", color: "#dc2626"}, name: "best so far"}];
  if (h.infeasible.x.length) traces.splice(1, 0, {x: h.infeasible.x, y: h.infeasible.y, mode: "markers", type: "scatter", name: "infeasible", marker: {size: 5, color: "#9ca3af", symbol: "x"}});
  const shown = h.shown < h.total ? ` (${h.shown} of ${h.total} shown)` : "";
  return plot(div, traces, {xaxis: {title: {text: "trial" + shown}}, yaxis: {title: {text: h.metric}}});
}

async function loadCurves(st) {
  const m = st.metric ? `?metric=${encodeURIComponent(st.metric)}` : "";
  const c = await api(`${st.base}/curves${m}`);
  const sel = $("#curve-metric");
  if (sel.options.length !== c.metrics.length) {
    sel.innerHTML = c.metrics.map((x) => `<option${x === c.metric ? " selected" : ""}>${esc(x)}</option>`).join("");
    sel.onchange = () => { st.metric = sel.value; loadCurves(st); };
  }
  const div = $("#c-curves");
  if (!c.curves.length) { note(div, "no intermediate report yet"); return; }
  const traces = c.curves.map((k) => ({x: k.x, y: k.y, mode: "lines+markers", name: `#${k.number}`,
    line: {width: k.state === "RUNNING" ? 3 : 1, color: k.state === "RUNNING" ? undefined : "rgba(100,116,139,.5)"},
    marker: {size: k.state === "RUNNING" ? 5 : 2}, legendgroup: k.state, showlegend: k.state === "RUNNING"}));
  return plot(div, traces, {xaxis: {title: {text: "step"}}, yaxis: {title: {text: c.metric}}});
}

function axisOf(col) {
  if (col.kind === "category") return {values: col.values, tickvals: col.labels.map((_, i) => i), ticktext: col.labels};
  if (!col.log) return {values: col.values};
  // parcoords has no log axis: draw log10 of the values, labelled with the values
  const v = col.values.map((x) => (x > 0 ? Math.log10(x) : null)), fin = v.filter((x) => x !== null);
  if (!fin.length) return {values: col.values};
  const lo = Math.min(...fin), hi = Math.max(...fin), ticks = [lo];
  for (let k = Math.ceil(lo); k < hi; k++) if (k - lo > 0.15 && hi - k > 0.15) ticks.push(k);  // clear of the ends
  if (hi > lo) ticks.push(hi);
  const label = (k) => Number.isInteger(k) ? (k >= 0 && k < 4 ? String(10 ** k) : `1e${k}`) : String(Number((10 ** k).toPrecision(3)));
  return {values: v, tickvals: ticks, ticktext: ticks.map(label)};
}

async function loadPoints(st) {
  const p = st.points = await api(`${st.base}/points`);
  const names = Object.keys(p.params), metric = st.summary.objectives[0].metric;
  const par = $("#c-parallel");
  if (!p.numbers.length) { ["#c-parallel", "#c-slice", "#c-pair"].forEach((d) => note($(d), "no finished trial yet")); return; }
  const dims = names.map((n) => Object.assign({label: n}, axisOf(p.params[n]))).concat([{label: metric, values: p.values[metric]}]);
  const tasks = [plot(par, [{type: "parcoords", dimensions: dims, line: {color: p.values[metric], colorscale: "Viridis", showscale: true}}], {margin: {l: 60, r: 60, t: 50, b: 20}})];
  const fill = (sel, pick) => { if (!sel.options.length) sel.innerHTML = names.map((n, i) => `<option${i === pick ? " selected" : ""}>${esc(n)}</option>`).join(""); };
  fill($("#slice-param"), 0); fill($("#pair-x"), 0); fill($("#pair-y"), Math.min(1, names.length - 1));
  $("#slice-param").onchange = () => drawSlice(st); $("#pair-x").onchange = $("#pair-y").onchange = $("#pair-kind").onchange = () => drawPair(st);
  tasks.push(drawSlice(st), drawPair(st));
  return Promise.all(tasks);
}

function drawSlice(st) {
  const p = st.points, n = $("#slice-param").value, metric = st.summary.objectives[0].metric, col = p.params[n];
  if (!col) return note($("#c-slice"), "no parameter");
  const xa = col.kind === "category" ? {tickvals: col.labels.map((_, i) => i), ticktext: col.labels} : (col.log ? {type: "log"} : {});
  return plot($("#c-slice"), [{x: col.values, y: p.values[metric], text: p.numbers.map((k) => `#${k}`), mode: "markers", type: "scatter",
    marker: {color: p.numbers, colorscale: "Blues", size: 6, colorbar: {title: {text: "trial"}}}}], {xaxis: Object.assign({title: {text: n}}, xa), yaxis: {title: {text: metric}}});
}

function drawPair(st) {
  const p = st.points, x = $("#pair-x").value, y = $("#pair-y").value, metric = st.summary.objectives[0].metric;
  if (!p.params[x] || !p.params[y]) return note($("#c-pair"), "needs two parameters");
  const kind = $("#pair-kind").value, cx = p.params[x], cy = p.params[y];
  const tick = (c) => c.kind === "category" ? {tickvals: c.labels.map((_, i) => i), ticktext: c.labels} : (c.log ? {type: "log"} : {});
  const trace = kind === "contour"
    ? {type: "contour", x: cx.values, y: cy.values, z: p.values[metric], colorscale: "Viridis", contours: {coloring: "heatmap"}, connectgaps: true}
    : {type: "scatter", mode: "markers", x: cx.values, y: cy.values, text: p.numbers.map((k) => `#${k}`), marker: {color: p.values[metric], colorscale: "Viridis", showscale: true, size: 6}};
  return plot($("#c-pair"), [trace], {xaxis: Object.assign({title: {text: x}}, tick(cx)), yaxis: Object.assign({title: {text: y}}, tick(cy))});
}

async function loadPareto(st) {
  const p = await api(`${st.base}/pareto`);
  const div = $("#c-pareto");
  if (!p.front.numbers.length) { note(div, "no finished trial yet"); return; }
  const col = (rows, j) => rows.map((r) => r[j]);
  return plot(div, [
    {x: col(p.others.values, 0), y: col(p.others.values, 1), text: p.others.numbers.map((k) => `#${k}`), mode: "markers", type: "scatter", name: "trials", marker: {color: "#9ca3af", size: 5}},
    {x: col(p.front.values, 0), y: col(p.front.values, 1), text: p.front.numbers.map((k) => `#${k}`), mode: "markers", type: "scatter", name: "Pareto front", marker: {color: "#dc2626", size: 8}},
  ], {xaxis: {title: {text: `${p.metrics[0]} (${p.goals[0]})`}}, yaxis: {title: {text: `${p.metrics[1]} (${p.goals[1]})`}}});
}

async function loadImportance(st) {
  const r = await api(`${st.base}/importance`);
  const div = $("#c-importance");
  if (!r.available) { note(div, r.note); return; }
  st.importanceDone = true;
  const items = Object.entries(r.importances).sort((a, b) => a[1] - b[1]);
  return plot(div, [{type: "bar", orientation: "h", x: items.map((i) => i[1]), y: items.map((i) => i[0])}], {margin: {l: 120, r: 20, t: 10, b: 40}});
}

async function loadTable(st) {
  const q = new URLSearchParams({sort: st.sort, desc: st.desc ? "1" : "", state: st.state, q: st.q, page: st.page, size: st.size});
  const t = await api(`${st.base}/trials?${q}`);
  const pages = Math.max(1, Math.ceil(t.total / t.size));
  if (st.page >= pages && st.page > 0) { st.page = pages - 1; return loadTable(st); }
  $("#pageinfo").textContent = ` page ${t.page + 1} of ${pages} (${t.total} trials) `;
  const metrics = st.summary.objectives.map((o) => o.metric), params = st.summary.params;
  const cols = [["number", "#"], ["state", "state"]].concat(metrics.map((m) => [`value:${m}`, m]), params.map((p) => [`param:${p}`, p]), [["duration", "duration (s)"]]);
  let html = "<thead><tr>" + cols.map(([k, label]) => `<th class="sortable${st.sort === k ? " sorted" + (st.desc ? " desc" : "") : ""}" data-sort="${esc(k)}">${esc(label)}</th>`).join("") + "<th>error</th></tr></thead><tbody>";
  for (const r of t.rows) {
    html += `<tr class="clickable" data-number="${r.number}"><td>${r.number}</td><td><span class="state ${esc(r.state)}">${esc(r.state)}</span>${r.feasible === false ? " infeasible" : ""}</td>` +
      metrics.map((m) => `<td>${esc(fmt(r.values[m]))}</td>`).join("") + params.map((p) => `<td>${esc(fmt(r.params[p]))}</td>`).join("") +
      `<td>${esc(fmt(r.duration))}</td><td class="muted">${esc((r.error || "").slice(0, 60))}</td></tr>`;
  }
  const table = $("#trials");
  table.innerHTML = html + "</tbody>";
  table.dataset.rendered = "1";
  table.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.sort;
    // a first click shows the best first: an objective to maximize sorts descending
    const goal = (st.summary.objectives.find((o) => `value:${o.metric}` === k) || {}).goal;
    if (st.sort === k) st.desc = !st.desc; else { st.sort = k; st.desc = k === "number" || goal === "maximize"; }
    st.page = 0; loadTable(st);
  }));
  table.querySelectorAll("tr[data-number]").forEach((tr) => tr.addEventListener("click", () => showTrial(st, Number(tr.dataset.number))));
}

async function showTrial(st, number) {
  const d = await api(`${st.base}/trials/${number}`);
  const box = $("#detail");
  const kv = (o) => `<table>${Object.entries(o || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(fmt(v))}</td></tr>`).join("")}</table>`;
  const reps = d.reports.length ? `<table><tr>${Object.keys(d.reports[0]).map((k) => `<th>${esc(k)}</th>`).join("")}</tr>` +
    d.reports.slice(-200).map((r) => `<tr>${Object.values(r).map((v) => `<td>${esc(fmt(v))}</td>`).join("")}</tr>`).join("") + "</table>" : `<p class="muted">none</p>`;
  box.innerHTML = `<p><button id="close">close</button></p><h2>trial #${d.number} <span class="state ${esc(d.state)}">${esc(d.state)}</span></h2>
    <p>duration ${esc(fmt(d.duration))} s · attempt ${d.attempt} · worker ${esc(d.worker_id || "")}</p>
    ${d.command ? `<h3>reproduce</h3><pre id="command">${esc(d.command)}</pre>` : ""}
    <h3>parameters</h3>${kv(d.params)}<h3>metrics</h3>${kv(d.metrics)}
    ${d.error ? `<h3>error</h3><pre id="error">${esc(d.error)}</pre>` : ""}
    <h3>reports</h3>${reps}
    ${d.output && d.output.dir ? `<h3>stdout (tail)</h3><pre>${esc(d.output.stdout || "")}</pre><h3>stderr (tail)</h3><pre>${esc(d.output.stderr || "")}</pre><p class="muted">${esc(d.output.dir)}</p>` : `<p class="muted">output files: not found on this machine</p>`}
    <h3>attributes</h3>${kv(d.user_attrs)}${kv(d.system_attrs)}`;
  box.classList.remove("hidden");
  $("#close").onclick = () => box.classList.add("hidden");
}

// ---------------------------------------------------------------- live updates
async function poll() {
  if (!view) return;
  try {
    if (view.kind === "study") {
      const w = (await api(`${view.st.base}/watermark`)).watermark;
      $("#live").textContent = `live · watermark ${w}`;
      if (view.st.watermark !== null && w !== view.st.watermark) { view.st.watermark = w; await view.refresh(); }
      view.st.watermark = w;
    } else { await view.refresh(); $("#live").textContent = "live"; }
  } catch (e) { $("#live").textContent = `offline: ${e.message}`; }
}

function route() {
  $("#detail").classList.add("hidden");
  if (CFG.static && !location.hash) { location.hash = `#/study/${encodeURIComponent(CFG.study)}`; return; }
  const m = location.hash.match(/^#\/study\/(.+)$/);
  const run = m ? Promise.resolve(studyPage(decodeURIComponent(m[1]))) : showList();
  Promise.resolve(run).catch((e) => { $("#main").innerHTML = `<p class="note">${esc(e.message)}</p>`; });
}
window.addEventListener("hashchange", route);
route();
clearInterval(timer);
if (!CFG.static) timer = setInterval(poll, POLL_MS);
