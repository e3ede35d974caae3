"use strict";
// The case pages of the dashboard: report a problem from the phone (camera, place among
// one's grids), my cases with their lights, the verification queue, a case's timeline,
// photos and the steps one may take. The gateway scopes everything; this page only shows.
const token = localStorage.getItem("gridgate.token") || "";
const $ = (id) => document.getElementById(id);
const STATES = { reported: "待核实", filed: "已立案", dispatched: "待接单", accepted: "处置中",
  handled: "待核查", closed: "已结案", returned: "已退单", on_hold: "挂账", cancelled: "已作废" };
const LIGHTS = { green: "正常", yellow: "临期", red: "超时" };
const STEPS = { file: "核实立案", dispatch: "派遣", accept: "接单", return: "退单", handle: "处置完成",
  verify: "核查通过", rework: "返工", request_extension: "申请延期", approve_extension: "批准延期",
  deny_extension: "不批准延期", hold: "挂账", cancel: "作废", callback: "回访", comment: "备注" };
const ACTIONS = { report: "上报", dispatch: "派遣", dispatch_pending: "待派遣", accept: "接单", file: "核实立案",
  return: "退单", handle: "处置", verify: "核查通过", rework: "返工", request_extension: "申请延期",
  approve_extension: "批准延期", deny_extension: "不批准延期", hold: "挂账", cancel: "作废",
  callback: "回访", comment: "备注", remind: "催办", escalate: "超时升级", evidence: "设备恢复",
  alert: "告警" };
let tab = "report";
let open = null;

const when = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "-");

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { Authorization: `Bearer ${token}`, ...(options.headers || {}) } });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error(typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`);
  }
  return r;
}
const json = async (path) => (await api(path)).json();

function badge(text, cls) {
  const b = document.createElement("span");
  b.className = `badge ${cls || ""}`;
  b.textContent = text;
  return b;
}

async function loadForm() {
  const [cats, places] = await Promise.all([json("/cases/categories"), json("/cases/places")]);
  const groups = {};
  for (const c of cats) (groups[c.major_name.zh] ||= []).push(c);
  for (const [name, list] of Object.entries(groups)) {
    const g = document.createElement("optgroup");
    g.label = name;
    for (const c of list) g.append(new Option(c.name.zh, c.id));
    $("category").append(g);
  }
  for (const p of places) $("node").append(new Option(p.name, p.id));
}

$("report").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("report-error").textContent = "";
  $("report-send").disabled = true;
  const form = new FormData();
  for (const name of ["category", "node_id", "address", "description"]) {
    const v = $("report").elements[name].value.trim();
    if (v) form.append(name, v);
  }
  await addPhotos(form, $("photo"));
  try {
    const made = await (await api("/cases", { method: "POST", body: form })).json();
    $("report").reset();
    await show(made.id);
  } catch (err) {
    $("report-error").textContent = err.message;
  } finally {
    $("report-send").disabled = false;
  }
});

function item(c) {
  const li = document.createElement("li");
  li.className = `alert case ${c.light || ""}`;
  li.dataset.caseId = c.id;
  const h = document.createElement("h3");
  h.textContent = `#${c.id} ${c.title.zh}`;
  if (c.light) h.append(badge(LIGHTS[c.light], `light-${c.light}`));
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = `${STATES[c.state] || c.state} · ${c.place} · ${when(c.reported_at)}`;
  const open = document.createElement("button");
  open.type = "button";
  open.textContent = "查看";
  open.addEventListener("click", () => show(c.id));
  li.append(h, meta, open);
  return li;
}

async function loadList() {
  const query = { mine: "?mine=true", verify: "?step=verify", all: "" }[tab];
  const cases = await json(`/cases${query}`);
  $("cases").replaceChildren(...cases.filter((c) => tab !== "mine" || !["closed", "cancelled"].includes(c.state)).map(item));
  $("empty").hidden = cases.length > 0;
}

async function photo(url) {
  const blob = await (await api(url)).blob();
  const img = document.createElement("img");
  img.src = URL.createObjectURL(blob);
  img.alt = "现场照片";
  return img;
}

async function show(caseId) {
  const c = await json(`/cases/${caseId}`);
  open = c;
  $("case-title").textContent = `#${c.id} ${c.title.zh}`;
  $("case-meta").replaceChildren(`${STATES[c.state] || c.state} · ${c.place}`);
  if (c.light) $("case-meta").append(badge(LIGHTS[c.light], `light-${c.light}`));
  if (c.stage_due_at) $("case-meta").append(` · 本环节时限 ${when(c.stage_due_at)}`);
  $("case-what").textContent = c.description;
  $("case-standard").textContent = c.closure_standard ? `结案标准：${c.closure_standard}` : "";
  $("case-history").replaceChildren(...c.history.map((e) => {
    const li = document.createElement("li");
    li.textContent = `${when(e.at)} ${ACTIONS[e.action] || e.action} · ${e.actor}${e.note ? ` · ${e.note}` : ""}`;
    return li;
  }));
  $("case-photos").replaceChildren(...(await Promise.all(c.photos.map((p) => photo(p.url)))));
  $("step-error").textContent = "";
  $("step-buttons").replaceChildren(...c.allowed.filter((s) => s !== "callback" || c.state === "closed").map((s) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.step = s;
    b.className = ["handle", "verify", "accept", "file"].includes(s) ? "primary" : "";
    b.textContent = STEPS[s] || s;
    b.addEventListener("click", () => take(s));
    return b;
  }));
  if (!$("case").open) $("case").showModal();
}

async function take(step) {
  const form = new FormData();
  const note = $("step-note").value.trim();
  if (note) form.append("note", note);
  if (step === "request_extension") form.append("limit", prompt("需要延长多久？例如 4h、1d", "4h") || "");
  if (step === "callback") {
    // 回访: what the reporter said, asked of the person recording it
    const said = prompt("回访结果：1 满意，2 基本满意，3 不满意", "1");
    const value = { 1: "satisfied", 2: "basically_satisfied", 3: "unsatisfied" }[String(said).trim()];
    if (!value) return;
    form.append("satisfaction", value);
  }
  await addPhotos(form, $("step-photo"));
  try {
    await api(`/cases/${open.id}/${step}`, { method: "POST", body: form });
    $("step").reset();
    await show(open.id);
    if (tab !== "report") await loadList();
  } catch (err) {
    $("step-error").textContent = err.message;
  }
}

$("case-close").addEventListener("click", () => $("case").close());
for (const b of document.querySelectorAll("[data-tab]")) {
  b.addEventListener("click", async () => {
    tab = b.dataset.tab;
    for (const x of document.querySelectorAll("[data-tab]")) x.setAttribute("aria-selected", String(x === b));
    $("report").hidden = tab !== "report";
    document.querySelector('[data-pane="list"]').hidden = tab === "report";
    if (tab !== "report") await loadList();
  });
}

// live: each case step the gateway writes (among the cases one sees) refreshes the list
// and the case open in the dialog, a moment later so that a burst is one reload; what
// goes wrong (the stream down, a reload refused) is said above the tabs' panes
let pending = null;
let everything = false; // a reconnect: whatever is open may have changed meanwhile
const touched = new Set();
const problem = (text) => { $("live-error").textContent = text; };
function live() {
  const events = new EventSource(`/cases/events?access_token=${encodeURIComponent(token)}`);
  const refresh = (id) => {
    if (id === undefined) everything = true;
    else touched.add(id);
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const all = everything;
      const ids = new Set(touched);
      everything = false;
      touched.clear();
      try {
        if (tab !== "report") await loadList();
        if (open && $("case").open && (all || ids.has(open.id))) await show(open.id);
        problem("");
      } catch (err) {
        problem(`刷新失败：${err.message}`);
      }
    }, 200);
  };
  events.addEventListener("open", () => { problem(""); refresh(); }); // catch up after a reconnect
  events.addEventListener("error", () => problem(events.readyState === EventSource.CLOSED
    ? "实时更新已停止：请刷新页面或重新登录" // refused (a token revoked): no more tries
    : "实时更新已断开，正在重连…"));
  events.addEventListener("case", (e) => refresh(JSON.parse(e.data).case.id));
}

if (!token) {
  $("signin").hidden = false;
} else {
  $("tabs").hidden = false;
  $("report").hidden = false;
  loadForm().catch((err) => { $("report-error").textContent = err.message; });
  live();
  const hash = new URLSearchParams(location.hash.slice(1)).get("case");
  if (hash) show(Number(hash)).catch((err) => problem(`无法打开事件 #${hash}：${err.message}`));
}
