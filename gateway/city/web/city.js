// The city's dashboard: every community's open alerts and cases, the gateways' feeds,
// KPIs by level. Plain JS, no build step; the token stays in this browser.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { tab: "alerts", data: { alerts: [], cases: [], gateways: [] } };
const STATE_WORDS = {
  raised: "待派发", dispatched: "已派发", acknowledged: "已确认", resolved: "已处置",
  closed: "已关闭", cleared: "已恢复", reported: "待核实", filed: "已立案", accepted: "处置中",
  handled: "待核查", returned: "已退单", on_hold: "挂账", cancelled: "已作废",
};
const SEVERITY_WORDS = { info: "提示", warning: "一般", critical: "严重", emergency: "紧急" };

function token() { return localStorage.getItem("gridgate-city-token") || ""; }

async function get(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (response.status === 401) { signOut("令牌无效"); throw new Error("401"); }
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

function signOut(why) {
  localStorage.removeItem("gridgate-city-token");
  $("app").hidden = true; $("signin").hidden = false; $("signin-error").textContent = why || "";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function level(record, name) {
  const node = (record.location || []).find((n) => n.level === name);
  return node ? node : { id: "", name: "" };
}

function fullPlace(record) {
  return (record.location || []).map((n) => n.name).join(" / ");
}

function filtered(items) {
  const f = { district: $("f-district").value, street: $("f-street").value,
              community: $("f-community").value, category: $("f-category").value };
  return items.filter((r) =>
    (!f.district || level(r, "district").id === f.district) &&
    (!f.street || level(r, "street").id === f.street) &&
    (!f.community || level(r, "community").id === f.community) &&
    (!f.category || (r.kind || r.category) === f.category));
}

function fillFilter(id, pairs) {
  const select = $(id), chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "全部"));
  for (const [value, name] of [...pairs].sort()) select.append(el("option", { value }, name));
  select.value = [...pairs].some(([v]) => v === chosen) ? chosen : "";
}

function fillFilters() {
  const items = [...state.data.alerts, ...state.data.cases];
  for (const lv of ["district", "street", "community"]) {
    const pairs = new Map();
    for (const r of items) { const n = level(r, lv); if (n.id) pairs.set(n.id, n.name); }
    fillFilter("f-" + lv, pairs);
  }
  const categories = new Map();
  for (const a of state.data.alerts) categories.set(a.kind, a.kind);
  for (const c of state.data.cases) categories.set(c.category, c.title_zh || c.category);
  fillFilter("f-category", categories);
}

function alertItem(a) {
  return el("li", { "data-gateway": a.gateway },
    el("div", { class: "row" },
      el("strong", {}, a.title_zh || a.rule_id),
      el("span", { class: "badge " + a.severity }, SEVERITY_WORDS[a.severity] || a.severity)),
    el("div", { class: "place" }, fullPlace(a)),
    el("div", { class: "row" },
      el("span", {}, (STATE_WORDS[a.state] || a.state) + " · " + new Date(a.raised_at).toLocaleString("zh-CN")),
      a.owner === "city" ? el("span", { class: "badge city" }, "城市接管") : el("span", {}, "社区 " + a.gateway)));
}

function caseItem(c) {
  return el("li", { "data-gateway": c.gateway },
    el("div", { class: "row" }, el("strong", {}, c.title_zh || c.category),
      el("span", { class: "badge" }, STATE_WORDS[c.state] || c.state)),
    el("div", { class: "place" }, fullPlace(c)),
    el("div", { class: "row" },
      el("span", {}, "上报 " + new Date(c.reported_at).toLocaleString("zh-CN")),
      c.owner === "city" ? el("span", { class: "badge city" }, "城市接管") : el("span", {}, "社区 " + c.gateway)));
}

function gatewayItem(g) {
  const lag = g.lag_s == null ? "—" : g.lag_s.toFixed(1) + " 秒";
  return el("li", {},
    el("div", { class: "row" }, el("strong", {}, g.name || g.gateway_id),
      el("span", { class: "badge " + (g.online ? "online" : "offline") }, g.online ? "在线" : "离线")),
    el("div", { class: "place" },
      `最后序号 ${g.last_seq} · 缺失 ${g.missing} · 重复 ${g.redeliveries} · 延迟 ${lag}`),
    el("div", { class: "place" },
      "最后上报 " + (g.last_seen_at ? new Date(g.last_seen_at).toLocaleString("zh-CN") : "从未")));
}

function render() {
  const lists = { alerts: filtered(state.data.alerts), cases: filtered(state.data.cases),
                  gateways: state.data.gateways };
  $("n-alerts").textContent = lists.alerts.length;
  $("n-cases").textContent = lists.cases.length;
  $("n-gateways").textContent = lists.gateways.length;
  const make = { alerts: alertItem, cases: caseItem, gateways: gatewayItem }[state.tab];
  const items = lists[state.tab].map(make);
  $("list").replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "暂无")]));
  for (const t of ["alerts", "cases", "gateways"])
    $("tab-" + t).setAttribute("aria-selected", String(t === state.tab));
}

function pct(x) { return x == null ? "—" : (x * 100).toFixed(1) + "%"; }

function renderKpis(report) {
  const cases = new Map(report.cases.nodes.map((f) => [f.key, f]));
  const rows = report.alerts.nodes.map((a) => [a.node_id, a.name, a, cases.get(a.node_id)]);
  for (const c of report.cases.nodes)
    if (!rows.some((r) => r[0] === c.key)) rows.push([c.key, c.name, null, c]);
  rows.push(["*", "合计", report.alerts.total, report.cases.total]);
  const head = el("tr", {}, el("th", {}, "名称"), el("th", { class: "n" }, "告警"),
    el("th", { class: "n" }, "处置率"), el("th", { class: "n" }, "应结案"),
    el("th", { class: "n" }, "结案率"), el("th", { class: "n" }, "按期结案率"));
  $("kpis").replaceChildren(head, ...rows.map(([, name, a, c]) => el("tr", {},
    el("td", {}, name), el("td", { class: "n" }, a ? a.raised : 0),
    el("td", { class: "n" }, pct(a && a.resolution_rate)), el("td", { class: "n" }, c ? c.due : 0),
    el("td", { class: "n" }, pct(c && c.closure_rate)), el("td", { class: "n" }, pct(c && c.on_time_rate)))));
}

async function refresh() {
  try {
    const [alerts, cases, gateways, kpis] = await Promise.all([
      get("/alerts"), get("/cases"), get("/gateways"), get("/kpis?level=" + $("level").value)]);
    state.data = { alerts, cases, gateways };
    fillFilters(); render(); renderKpis(kpis);
    $("updated").textContent = "更新于 " + new Date().toLocaleTimeString("zh-CN");
  } catch (err) {
    if (String(err.message) === "401") return;
    $("updated").textContent = "连接中断，重试中…";
    console.error(err);
  }
}

function start() {
  $("signin").hidden = true; $("app").hidden = false;
  refresh();
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem("gridgate-city-token", $("token").value.trim());
  start();
});
for (const t of ["alerts", "cases", "gateways"])
  $("tab-" + t).addEventListener("click", () => { state.tab = t; render(); });
for (const id of ["f-district", "f-street", "f-community", "f-category"])
  $(id).addEventListener("change", render);
$("level").addEventListener("change", refresh);
setInterval(() => { if (token()) refresh(); }, 5000);
if (token()) start();
