"use strict";
// gridgate dashboard: plain JavaScript, no build step. Everything is fetched with the
// person's token and scoped by the gateway; this page only shows and acts.

const TEXT = {
  zh: {
    title: "网格告警", login: "登录", token: "访问令牌", signin: "登录", logout: "退出",
    badToken: "令牌无效或已停用", kpis: "指标", alerts: "待处理告警", doors: "门状态",
    openNow: "只看开着的", none: "暂无待处理告警", noDoors: "没有门", ack: "签收",
    assign: "派给", resolve: "办结", cancel: "取消", close: "关闭", reason: "处理结果", note: "说明",
    person: "人员", repaired: "已修复", resident_closed: "住户已关门", handled_on_site: "现场处置",
    false_alarm: "误报", other: "其他", changes: "最近状态变化", deviceAlerts: "告警",
    open: "开", closed: "关", offline: "离线", unknown: "未知", for: "已持续", openFor: "已开",
    overdue: "超时", raised: "待派发", dispatched: "已派发", acknowledged: "已签收",
    resolved: "已办结", cleared: "已恢复", closedState: "已关闭", level: "当前层级",
    levels: ["网格员", "网格长", "社区", "街道"], assignedTo: "负责人",
    kOpen: "未处理", kOverdue: "超时", kToday: "今日办结率", kWeek: "本周办结率",
    live: "实时", offlineNow: "连接中断，正在重连…", gate: "大门", sec: "秒", min: "分钟", hour: "小时",
    day: "天", failed: "操作失败", lang: "EN", doorClosed: "门已关",
    stillOpen: "这扇门还开着。确定现在办结吗？", stillActive: "告警情况仍在持续。确定现在办结吗？",
    resolveAnyway: "仍要办结",
    lifts: "电梯", lift: "电梯", trapped: "困人", out_of_service: "停用", stopped_between_floors: "非平层停梯",
    in_service: "正常运行", floorAt: "{n}层", moving: "运行中", stopped: "停止", doorOpen: "轿门开",
    doorShut: "轿门关", atFloor: "平层", notLevel: "非平层", notTrapped: "无困人", overspeed: "超速",
  },
  en: {
    title: "Grid alerts", login: "Sign in", token: "Access token", signin: "Sign in", logout: "Sign out",
    badToken: "Unknown or revoked token", kpis: "Figures", alerts: "Open alerts", doors: "Doors",
    openNow: "Open now only", none: "No open alerts", noDoors: "No doors", ack: "Acknowledge",
    assign: "Assign", resolve: "Resolve", cancel: "Cancel", close: "Close", reason: "Outcome", note: "Note",
    person: "Person", repaired: "Repaired", resident_closed: "Resident closed it",
    handled_on_site: "Handled on site", false_alarm: "False alarm", other: "Other",
    changes: "Recent state changes", deviceAlerts: "Alerts", open: "open", closed: "closed",
    offline: "offline", unknown: "unknown", for: "for", openFor: "open for", overdue: "overdue",
    raised: "raised", dispatched: "dispatched", acknowledged: "acknowledged", resolved: "resolved",
    cleared: "cleared", closedState: "closed", level: "level", levels: ["worker", "leader", "community", "street"],
    assignedTo: "assigned to", kOpen: "open", kOverdue: "overdue", kToday: "resolved today",
    kWeek: "resolved this week", live: "live", offlineNow: "offline, reconnecting…", gate: "gate",
    sec: "s", min: "min", hour: "h", day: "d", failed: "Action failed", lang: "中文",
    doorClosed: "door closed", stillOpen: "This door is still open. Resolve it now?",
    stillActive: "The condition still holds. Resolve it now?", resolveAnyway: "Resolve anyway",
    lifts: "Lifts", lift: "lift", trapped: "passengers trapped", out_of_service: "out of service",
    stopped_between_floors: "stopped between floors", in_service: "in service", floorAt: "floor {n}",
    moving: "moving", stopped: "stopped", doorOpen: "car door open", doorShut: "car door closed",
    atFloor: "level with a landing", notLevel: "between floors", notTrapped: "nobody trapped", overspeed: "overspeed",
  },
};
const SEVERITY = { emergency: 0, critical: 1, warning: 2, info: 3 };
const OPEN_STATES = ["raised", "dispatched", "acknowledged"];
// lift states a grid leader must see at once (the API lists them most urgent first)
const LIFT_ALARMS = ["trapped", "stopped_between_floors"];

// Someone took it: it stays on their list until they resolve it, also once the condition
// ended (the door closed). Today's lifecycle moves such an alert to "cleared" (with
// acknowledged_at); it may instead keep "acknowledged" with is_active false.
const isTaken = (a) => Boolean(a.acknowledged_at) && !["resolved", "closed"].includes(a.state);
const isOnList = (a) => OPEN_STATES.includes(a.state) || isTaken(a);

let lang = localStorage.getItem("gridgate.lang") || "zh";
let token = localStorage.getItem("gridgate.token") || "";
let me = null;
let alerts = [];
let doors = [];
let lifts = [];
let people = [];
let events = null;
let refreshTimer = null;

const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key] ?? key;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function duration(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} ${t("sec")}`;
  if (s < 3600) return `${Math.floor(s / 60)} ${t("min")}`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} ${t("hour")}`;
  return `${(s / 86400).toFixed(1)} ${t("day")}`;
}

function localTime(iso) {
  return new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {
    timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  if (response.status === 401) {
    signOut();
    throw new Error(t("badToken"));
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body && body.detail ? String(body.detail) : `${response.status}`);
  return body;
}

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} · gridgate`;
  document.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t); });
  $("lang").textContent = t("lang");
}

// ---- sign in / out -----------------------------------------------------------------

async function signIn(candidate) {
  token = candidate;
  try {
    me = await api("/people/me");
  } catch (error) {
    token = "";
    throw error;
  }
  localStorage.setItem("gridgate.token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${me.name} · ${me.nodes.join(", ") || "*"}`;
  people = await api("/people").catch(() => []);
  await refresh();
  connect();
}

function signOut() {
  token = "";
  me = null;
  localStorage.removeItem("gridgate.token");
  if (events) events.close();
  events = null;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("live").textContent = "";
  $("token").focus();
}

// ---- data ---------------------------------------------------------------------------

async function refresh() {
  const states = OPEN_STATES.map((s) => `state=${s}`).join("&");
  const midnight = new Date(new Date().toLocaleString("en-US", { timeZone: "Asia/Shanghai" }));
  midnight.setHours(0, 0, 0, 0);
  const offset = midnight.getTime() - Date.parse(new Date().toLocaleString("en-US", { timeZone: "Asia/Shanghai" }));
  const todayStart = new Date(Date.now() + offset).toISOString();
  const [open, cleared, doorList, liftList, today, week] = await Promise.all([
    api(`/alerts?${states}&limit=500`),
    api("/alerts?state=cleared&limit=500"), // the acknowledged among them stay listed
    api("/doors"),
    api("/lifts"),
    api(`/kpis?since=${encodeURIComponent(todayStart)}`),
    api("/kpis"),
  ]);
  alerts = [...open, ...cleared].filter(isOnList);
  doors = doorList;
  lifts = liftList;
  renderKpis(today.total, week.total);
  renderAlerts();
  renderLifts();
  renderDoors();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), 150);
}

function connect() {
  if (events) events.close();
  events = new EventSource(`/events?access_token=${encodeURIComponent(token)}`);
  events.addEventListener("open", () => {
    $("live").textContent = t("live");
    $("live").classList.remove("down");
    scheduleRefresh(); // catch up on what happened while away
  });
  events.addEventListener("alert", scheduleRefresh);
  events.addEventListener("error", () => {
    $("live").textContent = t("offlineNow");
    $("live").classList.add("down");
  });
}

// ---- rendering -----------------------------------------------------------------------

function renderKpis(today, week) {
  const rate = (k) => (k.resolution_rate === null ? "–" : `${Math.round(k.resolution_rate * 100)}%`);
  const overdue = alerts.filter((a) => a.is_overdue).length;
  $("kpis").replaceChildren(
    el("li", {}, el("b", {}, String(alerts.length)), el("span", {}, t("kOpen"))),
    el("li", { class: overdue ? "bad" : "" }, el("b", {}, String(overdue)), el("span", {}, t("kOverdue"))),
    el("li", {}, el("b", {}, rate(today)), el("span", {}, t("kToday"))),
    el("li", {}, el("b", {}, rate(week)), el("span", {}, t("kWeek"))),
  );
}

function renderAlerts() {
  const sorted = [...alerts].sort((a, b) =>
    (b.is_overdue - a.is_overdue) || (SEVERITY[a.severity] - SEVERITY[b.severity]) ||
    (Date.parse(a.opened_at) - Date.parse(b.opened_at)));
  if (!sorted.length) {
    $("alerts").replaceChildren(el("li", { class: "empty" }, t("none")));
    return;
  }
  $("alerts").replaceChildren(...sorted.map((a) => {
    const assignee = people.find((p) => p.id === a.assigned_to);
    return el("li", { class: `alert ${a.severity}${a.is_overdue ? " overdue" : ""}`, "data-alert": a.id },
      el("h3", {}, a.title[lang],
        el("span", { class: "badge" }, t(isTaken(a) ? "acknowledged" : a.state)),
        a.is_active ? null : el("span", { class: "badge ended" }, t(a.kind === "door" ? "doorClosed" : "cleared")),
        a.is_overdue ? el("span", { class: "badge overdue" }, t("overdue")) : null),
      el("p", { class: "meta" }, a.place),
      el("p", { class: "meta" }, `${t("for")} ${duration(a.opened_at)} · ${localTime(a.opened_at)} · ` +
        `${t("level")} ${t("levels")[a.escalation_level] || a.escalation_level}` +
        (assignee ? ` · ${t("assignedTo")} ${assignee.name}` : "")),
      el("div", { class: "actions" },
        !a.acknowledged_at && a.state !== "cleared"
          ? el("button", { type: "button", class: "primary", onclick: () => act(a, "ack") }, t("ack")) : null,
        el("button", { type: "button", onclick: () => assign(a) }, t("assign")),
        el("button", { type: "button", onclick: () => resolve(a) }, t("resolve"))));
  }));
}

function renderDoors() {
  const openOnly = $("open-only").checked;
  const shown = doors.filter((d) => !openOnly || d.state === "open");
  if (!shown.length) {
    $("doors").replaceChildren(el("p", { class: "empty" }, t("noDoors")));
    return;
  }
  const groups = byBuilding(shown);
  $("doors").replaceChildren(...[...groups.entries()].map(([name, list]) => {
    const openCount = list.filter((d) => d.state === "open").length;
    return el("details", { class: "group", open: openCount > 0 || groups.size <= 3, "data-node": nodeOf(list[0]) },
      el("summary", {}, `${name}${openCount ? ` · ${t("open")} ${openCount}` : ""}`),
      ...list.map((d) => {
        const unit = d.location.find((n) => n.level === "unit");
        const label = `${unit ? unit.name : t("gate")} ${d.name || ""}`.trim();
        const state = d.state === "open" ? `${t("openFor")} ${duration(d.since)}` : t(d.state);
        return el("button", { type: "button", class: "door", "data-device": d.device_id, onclick: () => showDevice(d, t(d.state)) },
          el("span", {}, label), el("span", { class: `state ${d.state}` }, state));
      }));
  }));
}

// Devices by the building (or, for a compound gate, the grid) they stand in, in site order.
function byBuilding(devices) {
  const groups = new Map();
  for (const d of devices) {
    const path = d.location.filter((n) => ["community", "grid", "building"].includes(n.level));
    const key = path.map((n) => n.name).join(" / ");
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(d);
  }
  return groups;
}

const nodeOf = (d) => d.location.filter((n) => ["grid", "building"].includes(n.level)).pop()?.id;

function liftText(lift) {
  const words = [t(lift.state) + (lift.state === "trapped" ? ` ${duration(lift.trapped_since)}` : "")];
  if (lift.floor !== null && !["offline", "unknown"].includes(lift.state)) words.push(t("floorAt").replace("{n}", lift.floor));
  if (lift.fault_code) words.push(lift.fault_code);
  return words.join(" · ");
}

function renderLifts() {
  $("lifts-section").hidden = !lifts.length;
  const groups = byBuilding(lifts);
  $("lifts").replaceChildren(...[...groups.entries()].map(([name, list]) => {
    const alarms = LIFT_ALARMS.map((s) => [s, list.filter((l) => l.state === s).length]).filter(([, n]) => n);
    const out = list.filter((l) => l.state === "out_of_service").length;
    const badges = [...alarms, ...(out ? [["out_of_service", out]] : [])].map(([s, n]) => ` · ${t(s)} ${n}`).join("");
    return el("details", { class: `group${alarms.length ? " alarm" : ""}`, open: alarms.length > 0 || groups.size <= 3, "data-node": nodeOf(list[0]) },
      el("summary", {}, `${name}${badges}`),
      ...list.map((l) => el("button", { type: "button", class: "lift", "data-device": l.device_id, onclick: () => showDevice(l, liftText(l)) },
        el("span", {}, l.name || t("lift")), el("span", { class: `state ${l.state}` }, liftText(l)))));
  }));
}

// ---- actions -------------------------------------------------------------------------

async function act(alert, action, body = {}) {
  try {
    await api(`/alerts/${alert.id}/${action}`, { method: "POST", body: JSON.stringify(body) });
    await refresh();
  } catch (error) {
    window.alert(`${t("failed")}: ${error.message}`);
  }
}

function resolve(alert) {
  const dialog = $("resolve");
  $("note").value = "";
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    const body = { resolution: $("reason").value, note: $("note").value || null };
    if (alert.is_active) confirmFirst(alert.kind === "door" ? t("stillOpen") : t("stillActive"), () => act(alert, "resolve", body));
    else act(alert, "resolve", body);
  };
  dialog.showModal();
}

// The condition still holds (the door is open): resolving now is a decision, ask for it.
function confirmFirst(question, then) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  dialog.returnValue = "";
  dialog.onclose = () => { if (dialog.returnValue === "ok") then(); };
  dialog.showModal();
}

function assign(alert) {
  const dialog = $("assign");
  const candidates = people.filter((p) => p.nodes.some((n) => alert.location.some((l) => l.id === n)));
  $("assignee").replaceChildren(...candidates.map((p) =>
    el("option", { value: p.id }, `${p.name}${p.is_on_duty ? "" : " (off duty)"}`)));
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok" && $("assignee").value) act(alert, "assign", { person_id: $("assignee").value });
  };
  dialog.showModal();
}

// How a field of a state change reads (the rest as name=value).
const FIELD_TEXT = {
  open: (v) => t(v ? "open" : "closed"), online: (v) => t(v ? "live" : "offline"),
  trapped: (v) => t(v ? "trapped" : "notTrapped"), in_service: (v) => t(v ? "in_service" : "out_of_service"),
  moving: (v) => t(v ? "moving" : "stopped"), at_floor: (v) => t(v ? "atFloor" : "notLevel"),
  door_open: (v) => t(v ? "doorOpen" : "doorShut"), floor: (v) => t("floorAt").replace("{n}", v),
  overspeed: (v) => (v ? t("overspeed") : null),
};

async function showDevice(device, stateText) {
  const history = await api(`/devices/${encodeURIComponent(device.device_id)}/history`);
  $("device-title").textContent = device.place;
  $("device-meta").textContent = `${device.device_id} · ${stateText}`;
  $("device-changes").replaceChildren(...history.changes.map((c) =>
    el("li", {}, `${localTime(c.at)} · ${Object.entries(c.state).map(([k, v]) =>
      (FIELD_TEXT[k] ? FIELD_TEXT[k](v) : `${k}=${v}`)).filter(Boolean).join(", ")}`)));
  $("device-alerts").replaceChildren(...history.alerts.map((a) =>
    el("li", {}, `${localTime(a.raised_at)} · ${a.title[lang]} · ${t(a.state)}`)));
  $("device").showModal();
}

// ---- wiring ----------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await signIn($("token").value.trim());
  } catch (error) {
    $("login-error").textContent = t("badToken");
  }
});
$("logout").addEventListener("click", signOut);
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("gridgate.lang", lang);
  applyLang();
  if (me) { renderAlerts(); renderLifts(); renderDoors(); }
});
$("open-only").addEventListener("change", renderDoors);
document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
window.addEventListener("offline", () => { $("live").textContent = t("offlineNow"); $("live").classList.add("down"); });
window.addEventListener("online", () => { if (me) connect(); });
setInterval(() => { if (me) { renderAlerts(); renderLifts(); renderDoors(); } }, 15000); // keep "open for" current

applyLang();
const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromLink) { token = fromLink; history.replaceState(null, "", location.pathname); }
if (token) signIn(token).catch(() => signOut()); else signOut();
