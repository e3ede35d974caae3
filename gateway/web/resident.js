"use strict";
// A resident's own report, through the link they were given: state, progress, photos,
// and the callback once it is closed.
const base = location.pathname.replace(/\/$/, "");
const $ = (id) => document.getElementById(id);
const STATES = { reported: "待核实", filed: "已立案", dispatched: "已派遣", accepted: "处理中",
  handled: "已处置，待核查", closed: "已办结", returned: "处理中", on_hold: "暂缓处理", cancelled: "已作废" };
const when = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });

function show(c) {
  $("title").textContent = c.title.zh;
  $("place").textContent = c.place;
  $("what").textContent = c.description;
  $("state").textContent = STATES[c.state] || c.state;
  $("timeline").replaceChildren(...c.timeline.map((e) => {
    const li = document.createElement("li");
    li.textContent = `${when(e.at)} ${e.what}`;
    return li;
  }));
  $("photos").replaceChildren(...c.photos.map((id) => {
    const img = document.createElement("img");
    img.src = `${base}/photos/${id}`;
    img.alt = "现场照片";
    return img;
  }));
  $("rate").hidden = !c.can_rate;
}

async function load() {
  const r = await fetch(base + "/case");
  if (!r.ok) { $("error").textContent = "链接无效或已过期"; return; }
  show(await r.json());
}

$("rate").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch(base + "/callback", { method: "POST", body: new FormData($("rate")) });
  if (!r.ok) { $("error").textContent = "提交失败"; return; }
  show(await r.json());
});
load();
