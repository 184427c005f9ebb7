// achex web client: browse the catalogue, read a listing, and — signed in — manage one's own
// listings or the review queue. Plain DOM, no framework; every text goes in through textContent,
// never innerHTML, so listing content cannot inject markup.
"use strict";

const T = {
  zh: { signin: "登录", signout: "退出", email: "邮箱", password: "密码", cancel: "取消", catalogue: "成果库",
    mine: "我的成果", queue: "待审核", create: "发布成果", kind: "类型", any: "全部", discipline: "学科",
    search: "筛选", more: "加载更多", negotiable: "面议", trl: "成熟度 TRL", modes: "转化方式", patents: "专利",
    contact: "联系人", attachments: "附件", history: "变更记录", submit: "提交审核", approve: "通过", reject: "驳回",
    withdraw: "下架", reason: "驳回理由", none: "暂无", back: "← 返回", published: "发布于", save: "保存草稿",
    title: "标题", summary: "摘要", description: "详细介绍", region: "地区", price: "挂牌价（元，空为面议）",
    keywords: "关键词（逗号分隔）", patentNo: "专利号", legal: "法律状态", ipc: "IPC 分类（逗号分隔）", name: "姓名",
    created: "已保存为草稿", failed: "操作失败" },
  en: { signin: "Sign in", signout: "Sign out", email: "E-mail", password: "Password", cancel: "Cancel",
    catalogue: "Catalogue", mine: "My listings", queue: "Review queue", create: "New listing", kind: "Kind",
    any: "Any", discipline: "Discipline", search: "Filter", more: "Load more", negotiable: "Negotiable",
    trl: "Readiness (TRL)", modes: "Transfer modes", patents: "Patents", contact: "Contact", attachments: "Attachments",
    history: "History", submit: "Submit for review", approve: "Approve", reject: "Reject", withdraw: "Withdraw",
    reason: "Reason for rejection", none: "None", back: "← Back", published: "Published", save: "Save draft",
    title: "Title", summary: "Summary", description: "Description", region: "Region",
    price: "Asking price (CNY, empty = negotiable)", keywords: "Keywords (comma-separated)", patentNo: "Patent number",
    legal: "Legal status", ipc: "IPC classes (comma-separated)", name: "Name", created: "Saved as a draft",
    failed: "Failed" },
};
const KINDS = { invention_patent: ["发明专利", "Invention patent"], utility_model: ["实用新型", "Utility model"],
  software_copyright: ["软件著作权", "Software copyright"], know_how: ["技术秘密", "Know-how"],
  new_plant_variety: ["植物新品种", "New plant variety"], ic_layout: ["集成电路布图", "IC layout"], other: ["其他", "Other"] };
const MODES = { assignment: ["转让", "Assignment"], exclusive_license: ["独占许可", "Exclusive licence"],
  non_exclusive_license: ["普通许可", "Non-exclusive licence"], equity: ["作价入股", "Equity"],
  joint_development: ["合作开发", "Joint development"] };
const STATUSES = { draft: ["草稿", "Draft"], in_review: ["审核中", "In review"], published: ["已发布", "Published"],
  rejected: ["已驳回", "Rejected"], withdrawn: ["已下架", "Withdrawn"] };

let lang = localStorage.getItem("achex.lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let session = JSON.parse(sessionStorage.getItem("achex.session") || "null");
const t = (key) => T[lang][key];
const pick = (table, key) => (table[key] || [key, key])[lang === "zh" ? 0 : 1];
const text = (lt) => (lt && (lt[lang] || lt.zh || lt.en)) || "";
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function money(m) {
  if (!m) return t("negotiable");
  const major = m.amount / 100; // display only: amounts stay integers everywhere else
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-US", { style: "currency", currency: m.currency,
    maximumFractionDigits: m.amount % 100 === 0 ? 0 : 2 }).format(major);
}
const date = (iso) => (iso ? new Date(iso).toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB") : "");

function saveSession(s) {
  session = s;
  if (s) sessionStorage.setItem("achex.session", JSON.stringify(s)); else sessionStorage.removeItem("achex.session");
  renderChrome();
}

// Calls the API; refreshes the access token once when it has expired.
async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.access_token}`;
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && session && !retried && data?.error?.code === "token_expired") {
    const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh_token }) });
    if (r.ok) { saveSession({ ...session, ...(await r.json()) }); return api(method, path, body, true); }
    saveSession(null);
  }
  if (!res.ok) {
    const err = new Error(data?.error?.message || res.statusText);
    err.code = data?.error?.code; err.details = data?.error?.details; throw err;
  }
  return data;
}

function problem(err) {
  const fields = err.details?.fields?.map((f) => `${f.field}: ${f.message}`).join("; ");
  return `${t("failed")}: ${err.message}${fields ? ` (${fields})` : ""}`;
}

function renderChrome() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("#lang").textContent = lang === "zh" ? "EN" : "中文";
  $("#signin").textContent = t("signin");
  $("#signout").textContent = t("signout");
  $("#signin").hidden = !!session;
  $("#signout").hidden = !session;
  $("#who").textContent = session?.me ? `${session.me.display_name} · ${session.me.organization.name}` : "";
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  const nav = $("#nav");
  nav.replaceChildren(h("a", { href: "#/" }, t("catalogue")));
  const role = session?.me?.role;
  if (role === "institute_staff") nav.append(h("a", { href: "#/mine" }, t("mine")), h("a", { href: "#/new" }, t("create")));
  if (role === "reviewer" || role === "admin") nav.append(h("a", { href: "#/queue" }, t("queue")));
}

function card(l, extra) {
  return h("article", { class: "card" },
    h("h3", {}, h("a", { href: `#/listings/${l.id}` }, text(l.title))),
    h("p", {}, text(l.summary)),
    h("div", { class: "meta" },
      h("span", { class: `tag status-${l.status}` }, pick(STATUSES, l.status)),
      h("span", { class: "tag" }, pick(KINDS, l.kind)),
      h("span", {}, l.institute.name), h("span", {}, `TRL ${l.trl}`), h("span", {}, l.discipline),
      h("span", { class: "price" }, money(l.asking_price)),
      l.published_at ? h("span", {}, `${t("published")} ${date(l.published_at)}`) : null),
    extra || null);
}

async function catalogue(params) {
  const view = $("#view");
  const kind = h("select", { name: "kind" }, h("option", { value: "" }, t("any")),
    Object.keys(KINDS).map((k) => h("option", { value: k, selected: params.get("kind") === k }, pick(KINDS, k))));
  const discipline = h("input", { name: "discipline", value: params.get("discipline") || "", placeholder: "材料科学 / Computer Science" });
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (kind.value) q.set("kind", kind.value);
    if (discipline.value.trim()) q.set("discipline", discipline.value.trim());
    location.hash = `#/?${q}`;
  } }, h("label", {}, t("kind"), kind), h("label", {}, t("discipline"), discipline), h("button", { class: "primary" }, t("search")));
  const list = h("div", { id: "results" });
  const more = h("button", { class: "more", type: "button" }, t("more"));
  view.replaceChildren(form, list, more);
  let cursor = null;
  async function load() {
    const q = new URLSearchParams(params);
    q.set("limit", "20");
    if (cursor) q.set("cursor", cursor);
    more.disabled = true;
    try {
      const page = await api("GET", `/listings?${q}`);
      list.append(...page.items.map((l) => card(l)));
      if (!page.items.length && !cursor) list.append(h("p", { class: "muted" }, t("none")));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (err) { list.append(h("p", { class: "error" }, problem(err))); }
    more.disabled = false;
  }
  more.addEventListener("click", load);
  await load();
}

async function detail(id) {
  const view = $("#view");
  const l = await api("GET", `/listings/${id}`);
  const isOwner = session?.me?.role === "institute_staff" && session.me.organization.id === l.institute.id;
  const isReviewer = ["reviewer", "admin"].includes(session?.me?.role);
  const status = h("p", { class: "error" });
  const act = (label, path, body, cls) => h("button", { type: "button", class: cls, onclick: async () => {
    try { await api("POST", `/listings/${id}/${path}`, body ? body() : {}); route(); } catch (err) { status.textContent = problem(err); }
  } }, label);
  const actions = h("div", { class: "actions" });
  if (isOwner && l.status === "draft") actions.append(act(t("submit"), "submit", null, "primary"));
  if ((isOwner || session?.me?.role === "admin") && l.status === "published") actions.append(act(t("withdraw"), "withdraw", null, "danger"));
  if (isReviewer && l.status === "in_review") {
    const reason = h("input", { placeholder: t("reason") });
    actions.append(reason, act(t("reject"), "review", () => ({ decision: "reject", reason: reason.value }), "danger"),
      act(t("approve"), "review", () => ({ decision: "approve" }), "primary"));
  }
  const patents = l.patents.length ? h("table", {}, h("tr", {}, h("th", {}, t("patentNo")), h("th", {}, t("legal")), h("th", {}, "filed"), h("th", {}, "granted"), h("th", {}, "expires")),
    l.patents.map((p) => h("tr", {}, h("td", {}, p.number), h("td", {}, p.legal_status), h("td", {}, p.filed_on || ""), h("td", {}, p.granted_on || ""), h("td", {}, p.expires_on || "")))) : h("p", { class: "muted" }, t("none"));
  const files = (l.attachments || []).length ? h("ul", {}, l.attachments.map((a) => h("li", {}, h("a", { href: a.url }, a.file_name), ` (${Math.ceil(a.size / 1024)} KiB)`))) : h("p", { class: "muted" }, t("none"));
  const children = [
    h("a", { href: "#/" }, t("back")),
    h("h1", {}, text(l.title)),
    card({ ...l, summary: null, title: null }, null).querySelector(".meta"),
    l.rejection_reason ? h("p", { class: "error" }, `${t("reason")}: ${l.rejection_reason}`) : null,
    h("section", {}, h("h3", {}, t("summary")), h("p", {}, text(l.summary))),
    h("section", {}, h("h3", {}, t("description")), h("p", {}, text(l.description))),
    h("section", {}, h("h3", {}, t("modes")), h("p", {}, l.transfer_modes.map((m) => pick(MODES, m)).join(" · "))),
    h("section", {}, h("h3", {}, t("patents")), patents, l.ipc_classes.length ? h("p", { class: "muted" }, `IPC: ${l.ipc_classes.join(", ")}`) : null),
    l.keywords.length ? h("section", {}, l.keywords.map((k) => h("span", { class: "tag" }, k)), " ") : null,
    h("section", {}, h("h3", {}, t("contact")), h("p", {}, [l.contact.name, l.contact.email, l.contact.phone].filter(Boolean).join(" · "))),
    h("section", {}, h("h3", {}, t("attachments")), files),
    actions, status,
  ];
  if (isOwner || isReviewer) {
    try {
      const hist = await api("GET", `/listings/${id}/history`);
      children.push(h("section", {}, h("h3", {}, t("history")), h("table", {}, hist.entries.map((e) =>
        h("tr", {}, h("td", {}, new Date(e.at).toLocaleString()), h("td", {}, e.action),
          h("td", {}, `${e.from_status || ""} → ${e.to_status}`), h("td", {}, [e.changed_fields.join(", "), e.reason].filter(Boolean).join(" — ")))))));
    } catch { /* history is optional decoration */ }
  }
  view.replaceChildren(h("div", { class: "detail" }, children));
}

async function ownList(path) {
  const page = await api("GET", path);
  $("#view").replaceChildren(...(page.items.length ? page.items.map((l) => card(l)) : [h("p", { class: "muted" }, t("none"))]));
}

function newListing() {
  const f = (name, label, attrs = {}, tag = "input") => h("label", { class: attrs.wide ? "wide" : null }, label, h(tag, { name, ...attrs, wide: null }));
  const status = h("p", { class: "error wide" });
  const form = h("form", { class: "listing" },
    f("title_zh", `${t("title")} (中文)`), f("title_en", `${t("title")} (English)`),
    f("summary_zh", `${t("summary")} (中文)`, { wide: true }, "textarea"), f("summary_en", `${t("summary")} (English)`, { wide: true }, "textarea"),
    f("description_zh", `${t("description")} (中文)`, { wide: true, rows: 5 }, "textarea"), f("description_en", `${t("description")} (English)`, { wide: true, rows: 5 }, "textarea"),
    h("label", {}, t("kind"), h("select", { name: "kind" }, Object.keys(KINDS).map((k) => h("option", { value: k }, pick(KINDS, k))))),
    f("trl", t("trl"), { type: "number", min: 1, max: 9, value: 5 }),
    h("fieldset", { class: "wide" }, h("legend", {}, t("modes")), Object.keys(MODES).map((m) => h("label", {}, h("input", { type: "checkbox", name: "mode", value: m }), pick(MODES, m)))),
    f("price", t("price"), { inputmode: "decimal" }), f("ipc", t("ipc")),
    f("patent_no", t("patentNo")), h("label", {}, t("legal"), h("select", { name: "legal" }, ["granted", "pending"].map((s) => h("option", { value: s }, s)))),
    f("discipline", t("discipline")), f("region", t("region")), f("keywords", t("keywords"), { wide: true }),
    f("contact_name", `${t("contact")} · ${t("name")}`), f("contact_email", `${t("contact")} · ${t("email")}`, { type: "email" }),
    status, h("div", { class: "actions wide" }, h("button", { class: "primary" }, t("save"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value.trim();
    const lt = (n) => ({ ...(v(`${n}_zh`) ? { zh: v(`${n}_zh`) } : {}), ...(v(`${n}_en`) ? { en: v(`${n}_en`) } : {}) });
    const list = (n) => v(n).split(/[,，;；]/).map((s) => s.trim()).filter(Boolean);
    // Exact minor units from the decimal text, without floating point.
    const price = v("price") ? (() => { const [yuan, fen = ""] = v("price").replace(/[,\s]/g, "").split("."); return { amount: Number(yuan) * 100 + Number((fen + "00").slice(0, 2)), currency: "CNY" }; })() : null;
    const body = { title: lt("title"), summary: lt("summary"), description: lt("description"), kind: v("kind"),
      trl: Number(v("trl")), transfer_modes: [...form.querySelectorAll("input[name=mode]:checked")].map((c) => c.value),
      asking_price: price, ipc_classes: list("ipc"), keywords: list("keywords"), discipline: v("discipline"), region: v("region"),
      patents: v("patent_no") ? [{ number: v("patent_no"), legal_status: v("legal") }] : [],
      contact: { name: v("contact_name"), email: v("contact_email") || null } };
    try { const l = await api("POST", "/listings", body); location.hash = `#/listings/${l.id}`; } catch (err) { status.textContent = problem(err); }
  });
  $("#view").replaceChildren(h("h2", {}, t("create")), form);
}

async function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  try {
    const m = path.match(/^\/listings\/([0-9a-f-]{36})$/);
    if (m) await detail(m[1]);
    else if (path === "/mine" && session) await ownList("/me/listings");
    else if (path === "/queue" && session) await ownList("/review-queue");
    else if (path === "/new" && session) newListing();
    else await catalogue(new URLSearchParams(query || ""));
  } catch (err) { $("#view").replaceChildren(h("p", { class: "error" }, problem(err))); }
}

async function signIn(email, password) {
  const res = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password }) });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error?.message || res.statusText);
  saveSession(data);
  saveSession({ ...data, me: await api("GET", "/me") });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("achex.lang", lang); renderChrome(); route(); });
  $("#signin").addEventListener("click", () => $("#login").showModal());
  $("#login-cancel").addEventListener("click", () => $("#login").close());
  $("#signout").addEventListener("click", async () => {
    if (session) await fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: session.refresh_token }) }).catch(() => {});
    saveSession(null); location.hash = "#/"; route();
  });
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    try { await signIn(form.email.value, form.password.value); $("#login").close(); $("#login-error").textContent = ""; route(); }
    catch (err) { $("#login-error").textContent = err.message; }
  });
  window.addEventListener("hashchange", route);
  renderChrome();
  route();
});
