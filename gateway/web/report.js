"use strict";
// The public report page: what, where, a photo, a phone number. No account; the page's
// address carries the community's signed token.
const base = location.pathname.replace(/\/$/, "");
const $ = (id) => document.getElementById(id);

async function load() {
  const r = await fetch(base + "/places");
  if (!r.ok) { $("error").textContent = "链接无效"; $("send").disabled = true; return; }
  const data = await r.json();
  $("where-name").textContent = data.name;
  for (const p of data.places) $("place").append(new Option(p.name, p.id));
  for (const k of data.kinds) $("kind").append(new Option(k.name, k.id));
}

$("report").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("error").textContent = "";
  $("send").disabled = true;
  const form = new FormData();
  for (const name of ["description", "kind", "place", "address", "phone"]) {
    const v = $("report").elements[name].value.trim();
    if (v) form.append(name, v);
  }
  await addPhotos(form, $("photo"));
  try {
    const r = await fetch(base, { method: "POST", body: form });
    const body = await r.json().catch(() => ({}));
    if (r.status === 429) throw new Error("提交太频繁，请稍后再试");
    if (!r.ok) throw new Error(typeof body.detail === "string" ? body.detail : "提交失败，请检查填写内容");
    $("report").hidden = true;
    $("done").hidden = false;
    $("done-text").textContent = `${body.message}（编号 ${body.case_id}）`;
    $("follow").href = body.link;
  } catch (err) {
    $("error").textContent = err.message;
  } finally {
    $("send").disabled = false;
  }
});
load();
