// achex web client: search the catalogue, read a listing, keep saved searches, read notifications
// (live over the websocket), and — signed in as staff or reviewer — manage listings or the review
// queue. Plain DOM, no framework. Every text goes in through textContent; the only HTML ever parsed
// is a search highlight, and only after it has been checked to hold no markup but <mark>.

const T = {
  zh: {
    signin: "登录", signout: "退出", email: "邮箱", password: "密码", cancel: "取消", catalogue: "成果库",
    mine: "我的成果", queue: "待审核", create: "发布成果", kind: "类型", any: "全部", discipline: "学科",
    more: "加载更多", negotiable: "面议", trl: "成熟度 TRL", modes: "转化方式", patents: "专利",
    contact: "联系人", attachments: "附件", history: "变更记录", submit: "提交审核", approve: "通过", reject: "驳回",
    withdraw: "下架", reason: "驳回理由", none: "暂无", back: "← 返回", backResults: "← 返回搜索结果", published: "发布于",
    save: "保存草稿", title: "标题", summary: "摘要", description: "详细介绍", region: "地区",
    price: "挂牌价（元，空为面议）", priceShort: "价格", nameRequired: "请为这个搜索起个名字", nameTooLong: "名称最多 100 个字符", keywords: "关键词（逗号分隔）", patentNo: "专利号", legal: "法律状态",
    ipc: "IPC 分类（逗号分隔）", name: "姓名", created: "已保存为草稿", failed: "操作失败", skip: "跳到正文",
    filed: "申请日", granted: "授权日", expires: "到期日", mainNav: "主导航",
    // search
    searchLabel: "搜索成果", searchPlaceholder: "输入关键词，如 锂电池、深度学习、“固态电池”", searchBtn: "搜索",
    suggestions: "搜索建议", sort: "排序", perPage: "每页",
    sort_relevance: "相关度", sort_newest: "最新发布", sort_price_asc: "价格从低到高", sort_price_desc: "价格从高到低",
    sort_ending_soon: "拍卖即将结束",
    filters: "筛选", transfer_mode: "转化方式", trlRange: "成熟度 TRL 范围", priceRange: "挂牌价范围（元）",
    from: "最低", to: "最高", apply: "应用", auction: "拍卖", auction_any: "不限", auction_live: "正在拍卖",
    auction_upcoming: "即将开拍", auction_none: "无拍卖", textLang: "内容语言", lang_zh: "中文", lang_en: "英文",
    institute: "机构", showMore: "显示更多", showLess: "收起", clearAll: "清除全部筛选", removeFilter: "移除筛选",
    results: (n, ms) => `共 ${n} 条结果 · 用时 ${ms} 毫秒`, resultsRange: (a, b) => `第 ${a}–${b} 条`,
    searching: "正在搜索…", pastEnd: "这一页已超出结果范围", firstPage: "回到第 1 页", noResults: "没有找到匹配的成果", noResultsHint: "试试更少或更通用的关键词，或清除部分筛选条件。",
    searchError: "搜索失败", retry: "重试", unavailable: "搜索服务暂时不可用，请稍后再试。", prev: "上一页", next: "下一页",
    pagination: "分页", page: (n) => `第 ${n} 页`, filterByInstitute: (n) => `只看 ${n} 的成果`,
    invalidPrice: "请输入金额，如 50000、12345.67 或 5万（最多两位小数）", invalidTrl: "请输入 1 到 9 的整数",
    rangeOrder: "最低值不能大于最高值", tooLarge: "金额过大",
    live: "拍卖中", upcoming: "即将开拍", freeQuote: "自由报价中", closing: "即将落槌", ends: "截止", starts: "开始",
    currentPrice: "当前价", similar: "相似成果", similarNone: "暂无相似成果",
    // saved searches
    saveSearch: "保存此搜索", savedSearches: "保存的搜索", searchName: "名称", alert: "新结果提醒",
    alert_off: "不提醒", alert_immediate: "即时提醒", alert_daily: "每日摘要", saveBtn: "保存",
    savedOk: "已保存搜索", run: "运行", delete: "删除", confirmDelete: (n) => `删除已保存的搜索“${n}”？`,
    deleted: "已删除", savedAt: "保存于", lastAlert: "上次提醒", noSaved: "还没有保存的搜索。在成果库中搜索后点击“保存此搜索”。",
    allListings: "全部成果", signinToSave: "登录后可保存搜索并接收新结果提醒",
    // notifications
    notifications: "通知", unreadN: (n) => (n ? `通知，${n} 条未读` : "通知，没有未读"), markAllRead: "全部标为已读",
    viewAll: "查看全部通知", prefs: "通知设置", all: "全部", unread: "未读", noNotifications: "没有通知",
    noUnread: "没有未读通知", newNotification: "新通知", close: "关闭", dismiss: "关闭提醒",
    prefsIntro: "选择每类通知通过哪些渠道送达。站内信箱总会保存每一条通知，不能关闭。",
    channel_email: "邮件", channel_live: "实时推送", channel_inbox: "站内信箱", notifKind: "通知类型",
    saved: "已保存", liveOff: "实时通知已断开，正在重连…", notAvailable: "网页端暂不支持此页面。",
    loading: "加载中…", justNow: "刚刚", signinNeeded: "请先登录。",
    // auction room
    auctionRoom: "竞价", lotStatus_upcoming: "即将开拍", lotStatus_free_quote: "自由报价中", lotStatus_live: "竞价中",
    lotStatus_closing: "正在结束", lotStatus_closed: "已结束", startingIn: "距开拍", endingIn: "距结束",
    leader: "领先", bidCount: "出价次数", reserveMet: "已达保留价", reserveNotMet: "未达保留价", nextMin: "最低出价",
    extended: (n) => `已延时 ${n} 次`, latestBids: "最新出价", noBids: "尚无出价", bidder: "竞买人",
    register: "报名参拍", registeredAs: (c) => `您的竞买号：${c}`, depositWaiting: (m) => `保证金 ${m} 待组织方确认，确认后即可出价。`,
    depositHeld: "保证金已确认，可以出价。", yourBid: "出价金额", yourMax: "代理最高价（可选）", placeBid: "出价",
    bidAccepted: (m) => `出价已受理：${m}`, signinToBid: "企业用户登录后可报名参拍。", outcome_sold: (c, m) => `成交：${c}，${m}`,
    outcome_unsold_reserve_not_met: "流拍：未达保留价", outcome_no_bids: "流拍：无人出价", outcome_cancelled: "已取消",
    outcome_unsold_winner_defaulted: "流拍：买受人违约", liveLot: "实时", liveLotOff: "实时更新已断开，正在重连…",
    putUp: "发起竞价", format: "竞价方式", format_english: "增价拍卖（英式，可代理出价）", format_sealed_first_price: "密封报价（最高价成交）",
    format_two_phase: "两阶段（自由报价后限时竞价）", format_dutch: "降价拍卖（荷兰式，先接受者得）", freeQuoteUntil: "自由报价截止",
    dutchStep: "每次降价", dutchInterval: "降价间隔（分钟）", dutchFloor: "最低价（降至此价为止）", acceptAt: (m) => `以 ${m} 接受`,
    bidHistory: "全部出价记录", earlierBids: "更早的出价", cancelLot: "取消拍卖", cancelReason: "取消原因（将告知竞买人）",
    winnerDefaulted: "买受人违约", winnerDefaultedConfirm: (c) => `确认 ${c} 违约？其保证金将被没收，拍品转给次高出价者。`,
    format_sealed_second_price: "密封报价（次高价成交）", startingPrice: "起拍价", increment: "加价幅度", reserve: "保留价（可选，不公开）",
    deposit: "保证金", startsAt: "开始时间", endsAt: "结束时间", softClose: "延时：结束前若干分钟内有出价则延长（分钟）",
    create_lot: "发起", registrations: "报名竞买人", organization: "机构", depositStatus: "保证金", confirmDeposit: "确认到账",
    deposit_unconfirmed: "待确认", deposit_held: "已确认", deposit_released: "已退还", deposit_credited: "已转入价款", deposit_forfeited: "已没收",
    noRegistrations: "尚无报名", watch: "关注此拍品", watching: "已关注（开拍和结束前会提醒您）",
  },
  en: {
    signin: "Sign in", signout: "Sign out", email: "E-mail", password: "Password", cancel: "Cancel",
    catalogue: "Catalogue", mine: "My listings", queue: "Review queue", create: "New listing", kind: "Kind",
    any: "Any", discipline: "Discipline", more: "Load more", negotiable: "Negotiable",
    trl: "Readiness (TRL)", modes: "Transfer modes", patents: "Patents", contact: "Contact", attachments: "Attachments",
    history: "History", submit: "Submit for review", approve: "Approve", reject: "Reject", withdraw: "Withdraw",
    reason: "Reason for rejection", none: "None", back: "← Back", backResults: "← Back to results", published: "Published",
    save: "Save draft", title: "Title", summary: "Summary", description: "Description", region: "Region",
    price: "Asking price (CNY, empty = negotiable)", priceShort: "Price", nameRequired: "Give the search a name", nameTooLong: "At most 100 characters", keywords: "Keywords (comma-separated)", patentNo: "Patent number",
    legal: "Legal status", ipc: "IPC classes (comma-separated)", name: "Name", created: "Saved as a draft",
    failed: "Failed", skip: "Skip to content", filed: "Filed", granted: "Granted", expires: "Expires",
    mainNav: "Main",
    searchLabel: "Search listings", searchPlaceholder: "Keywords, e.g. lithium battery, deep learning, \"solid-state\"",
    searchBtn: "Search", suggestions: "Suggestions", sort: "Sort", perPage: "Per page",
    sort_relevance: "Relevance", sort_newest: "Newest", sort_price_asc: "Price: low to high",
    sort_price_desc: "Price: high to low", sort_ending_soon: "Auction ending soonest",
    filters: "Filters", transfer_mode: "Transfer mode", trlRange: "TRL range", priceRange: "Asking price (CNY)",
    from: "Min", to: "Max", apply: "Apply", auction: "Auction", auction_any: "Any", auction_live: "Live now",
    auction_upcoming: "Upcoming", auction_none: "No auction", textLang: "Text language", lang_zh: "Chinese",
    lang_en: "English", institute: "Institute", showMore: "Show more", showLess: "Show fewer",
    clearAll: "Clear all filters", removeFilter: "Remove filter",
    results: (n, ms) => `${n} ${n === "1" ? "result" : "results"} · ${ms} ms`, resultsRange: (a, b) => `showing ${a}–${b}`,
    searching: "Searching…", noResults: "No listings match", noResultsHint: "Try fewer or more general words, or remove some filters.",
    pastEnd: "This page is past the last result", firstPage: "Back to page 1", searchError: "Search failed", retry: "Retry", unavailable: "Search is unavailable for the moment; please try again shortly.",
    prev: "Previous", next: "Next", pagination: "Pages", page: (n) => `Page ${n}`,
    filterByInstitute: (n) => `Only listings from ${n}`,
    invalidPrice: "Enter an amount such as 50000 or 12345.67 (at most two decimals)", invalidTrl: "Enter a whole number from 1 to 9",
    rangeOrder: "The minimum is greater than the maximum", tooLarge: "Amount too large",
    live: "Live auction", upcoming: "Upcoming auction", freeQuote: "Free quote", closing: "Closing", ends: "ends",
    starts: "starts", currentPrice: "current", similar: "More like this", similarNone: "Nothing similar yet",
    saveSearch: "Save this search", savedSearches: "Saved searches", searchName: "Name", alert: "Alert me about new matches",
    alert_off: "Off", alert_immediate: "Immediately", alert_daily: "Daily digest", saveBtn: "Save",
    savedOk: "Search saved", run: "Run", delete: "Delete", confirmDelete: (n) => `Delete the saved search "${n}"?`,
    deleted: "Deleted", savedAt: "Saved", lastAlert: "Last alert", noSaved: "No saved searches yet. Search the catalogue, then choose “Save this search”.",
    allListings: "All listings", signinToSave: "Sign in to save searches and get alerts about new matches",
    notifications: "Notifications", unreadN: (n) => (n ? `Notifications, ${n} unread` : "Notifications, none unread"),
    markAllRead: "Mark all read", viewAll: "All notifications", prefs: "Notification settings", all: "All", unread: "Unread",
    noNotifications: "No notifications", noUnread: "No unread notifications", newNotification: "New notification",
    close: "Close", dismiss: "Dismiss",
    prefsIntro: "Choose how each kind of notification reaches you. The inbox always keeps every notification and cannot be turned off.",
    channel_email: "E-mail", channel_live: "Live", channel_inbox: "Inbox", notifKind: "Kind of notification",
    saved: "Saved", liveOff: "Live updates disconnected; reconnecting…", notAvailable: "This page is not available in the web client yet.",
    loading: "Loading…", justNow: "just now", signinNeeded: "Please sign in first.",
    // auction room
    auctionRoom: "Auction", lotStatus_upcoming: "Upcoming", lotStatus_free_quote: "Free quotes", lotStatus_live: "Live",
    lotStatus_closing: "Closing", lotStatus_closed: "Closed", startingIn: "Starts in", endingIn: "Ends in",
    leader: "Leading", bidCount: "Bids", reserveMet: "Reserve met", reserveNotMet: "Reserve not met", nextMin: "Minimum bid",
    extended: (n) => `Extended ${n}×`, latestBids: "Latest bids", noBids: "No bids yet", bidder: "Bidder",
    register: "Register to bid", registeredAs: (c) => `Your bidder code: ${c}`, depositWaiting: (m) => `Your deposit of ${m} awaits the organizer's confirmation; then you can bid.`,
    depositHeld: "Deposit confirmed: you can bid.", yourBid: "Your bid", yourMax: "Proxy maximum (optional)", placeBid: "Place bid",
    bidAccepted: (m) => `Bid accepted: ${m}`, signinToBid: "Enterprise members sign in to register and bid.", outcome_sold: (c, m) => `Sold to ${c} for ${m}`,
    outcome_unsold_reserve_not_met: "Unsold: reserve not met", outcome_no_bids: "Unsold: no bids", outcome_cancelled: "Cancelled",
    outcome_unsold_winner_defaulted: "Unsold: the winner defaulted", liveLot: "Live", liveLotOff: "Live updates disconnected; reconnecting…",
    putUp: "Put up for auction", format: "Format", format_english: "English (ascending, proxy bids)", format_sealed_first_price: "Sealed bids, first price",
    format_two_phase: "Two-phase (free quotes, then a timed round)", format_dutch: "Dutch (descending, first to accept wins)",
    freeQuoteUntil: "Free quotes until", dutchStep: "Price drop per step", dutchInterval: "Minutes between drops",
    dutchFloor: "Floor (the price stops falling here)", acceptAt: (m) => `Accept at ${m}`,
    bidHistory: "Every bid", earlierBids: "Earlier bids", cancelLot: "Cancel the lot", cancelReason: "Reason (bidders are told)",
    winnerDefaulted: "Winner defaulted", winnerDefaultedConfirm: (c) => `Record that ${c} defaulted? Its deposit is forfeited and the runner-up is offered the lot.`,
    format_sealed_second_price: "Sealed bids, second price", startingPrice: "Starting price", increment: "Increment", reserve: "Reserve (optional, never shown)",
    deposit: "Deposit", startsAt: "Starts", endsAt: "Ends", softClose: "Soft close: a bid in the last minutes extends by (minutes)",
    create_lot: "Open the auction", registrations: "Registered bidders", organization: "Organisation", depositStatus: "Deposit", confirmDeposit: "Confirm receipt",
    deposit_unconfirmed: "Awaiting", deposit_held: "Confirmed", deposit_released: "Released", deposit_credited: "Credited to the deal", deposit_forfeited: "Forfeited",
    noRegistrations: "Nobody has registered yet", watch: "Watch this lot", watching: "Watching (you hear when it opens and before it ends)",
  },
};
const KINDS = { invention_patent: ["发明专利", "Invention patent"], utility_model: ["实用新型", "Utility model"],
  software_copyright: ["软件著作权", "Software copyright"], know_how: ["技术秘密", "Know-how"],
  new_plant_variety: ["植物新品种", "New plant variety"], ic_layout: ["集成电路布图", "IC layout"], other: ["其他", "Other"] };
const MODES = { assignment: ["转让", "Assignment"], exclusive_license: ["独占许可", "Exclusive licence"],
  non_exclusive_license: ["普通许可", "Non-exclusive licence"], equity: ["作价入股", "Equity"],
  joint_development: ["合作开发", "Joint development"] };
const STATUSES = { draft: ["草稿", "Draft"], in_review: ["审核中", "In review"], published: ["已发布", "Published"],
  rejected: ["已驳回", "Rejected"], withdrawn: ["已下架", "Withdrawn"] };
const NOTE_KINDS = {
  outbid: ["出价被超越", "Outbid"], auction_starting: ["拍卖即将开始", "Auction starting"],
  auction_ending_soon: ["拍卖即将结束", "Auction ending soon"], auction_won: ["竞得拍品", "Auction won"],
  auction_lost: ["未竞得", "Auction lost"], deposit_confirmed: ["保证金已确认", "Deposit confirmed"],
  deposit_released: ["保证金已退还", "Deposit released"], deposit_forfeited: ["保证金被扣除", "Deposit forfeited"],
  listing_approved: ["成果审核通过", "Listing approved"], listing_rejected: ["成果被驳回", "Listing rejected"],
  saved_search_match: ["订阅搜索有新结果", "Saved search match"], saved_search_digest: ["订阅搜索每日摘要", "Saved search digest"],
  meeting_request: ["洽谈会面请求", "Meeting request"], agenda_published: ["活动日程发布", "Agenda published"] };
const LEGAL = { granted: ["已授权", "Granted"], pending: ["审查中", "Pending"], expired: ["已失效", "Expired"],
  invalidated: ["已无效", "Invalidated"] };
const SORTS = ["relevance", "newest", "price_asc", "price_desc", "ending_soon"];
const ALERTS = ["off", "immediate", "daily"];
// The query parameters GET /api/v1/search understands (it refuses any other), in URL order.
const SEARCH_KEYS = ["q", "kind", "discipline", "transfer_mode", "trl_min", "trl_max", "institute", "region",
  "price_min", "price_max", "auction", "lang", "sort", "page", "per_page"];
const FACETS = ["kind", "transfer_mode", "trl", "discipline", "region"];
const MAX_RESULT_WINDOW = 10000;
const I64_MAX = 9223372036854775807n;

let lang = localStorage.getItem("achex.lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let session = JSON.parse(sessionStorage.getItem("achex.session") || "null");
const t = (key, ...args) => { const v = T[lang][key] ?? T.zh[key] ?? key; return typeof v === "function" ? v(...args) : v; };
const pick = (table, key) => (table[key] || [key, key])[lang === "zh" ? 0 : 1];
const text = (lt) => (lt && (lt[lang] || lt.zh || lt.en)) || "";
const $ = (sel) => document.querySelector(sel);
const locale = () => (lang === "zh" ? "zh-CN" : "en-GB");
const num = (n) => new Intl.NumberFormat(locale()).format(n);
let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

// ---------------------------------------------------------------------------------------------
// Money: integer minor units (fen) everywhere; no floating point on the way in or out.

function money(m) {
  if (!m) return t("negotiable");
  const raw = String(m.amount);
  if (!/^-?\d+$/.test(raw)) return `${raw} ${m.currency}`;
  let a = BigInt(raw);
  const neg = a < 0n;
  if (neg) a = -a;
  const yuan = (a / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fen = a % 100n;
  const symbol = m.currency === "CNY" ? "¥" : `${m.currency} `;
  return `${neg ? "-" : ""}${symbol}${yuan}${fen ? `.${fen.toString().padStart(2, "0")}` : ""}`;
}

// "12,345.67", "¥5000", "５万", "1.5万" → fen as a decimal string; {error} when it is not an amount.
function parseYuan(input) {
  let s = String(input).trim()
    .replace(/[０-９．]/g, (c) => (c === "．" ? "." : String.fromCharCode(c.charCodeAt(0) - 0xfee0)))
    .replace(/[,，\s_]/g, "").replace(/^[¥￥]/, "").replace(/元$/, "");
  if (s === "") return { value: null };
  let scale = 2; // decimal places of a yuan amount that still fit in fen
  if (/[万萬]$/.test(s)) { s = s.slice(0, -1); scale = 6; } // 1 万 = 10,000 yuan = 1,000,000 fen
  const m = new RegExp(`^(\\d*)(?:\\.(\\d{0,${scale}}))?$`).exec(s);
  if (!m || (m[1] === "" && !m[2])) return { error: "invalidPrice" };
  const fen = BigInt(m[1] || "0") * 10n ** BigInt(scale) + BigInt((m[2] || "").padEnd(scale, "0") || "0");
  if (fen > I64_MAX) return { error: "tooLarge" };
  return { value: fen.toString() };
}

// fen (decimal string from the URL) → yuan text for an input; anything else is shown as given.
function fenToYuan(fen) {
  if (!/^\d+$/.test(fen || "")) return fen || "";
  const a = BigInt(fen);
  const f = a % 100n;
  return `${a / 100n}${f ? `.${f.toString().padStart(2, "0")}` : ""}`;
}

const date = (iso) => (iso ? new Date(iso).toLocaleDateString(locale()) : "");
const dateTime = (iso) => (iso ? new Date(iso).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "");
function ago(iso) {
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  if (Math.abs(s) < 45) return t("justNow");
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  for (const [unit, size] of [["minute", 60], ["hour", 3600], ["day", 86400]]) {
    const next = unit === "minute" ? 3600 : unit === "hour" ? 86400 : 7 * 86400;
    if (Math.abs(s) < next) return rtf.format(Math.round(s / size), unit);
  }
  return date(iso);
}
function timeEl(iso, relative = false) {
  return h("time", { datetime: iso, title: dateTime(iso) }, relative ? ago(iso) : dateTime(iso));
}

// A search highlight is HTML-escaped text in which <mark> is the only markup. Check that before
// letting the browser parse it; anything else is shown as plain text with the tags stripped.
const MARK_ONLY = /^(?:[^<>]|<mark>|<\/mark>)*$/;
function marked(tag, attrs, html, fallback) {
  const el = h(tag, attrs);
  if (typeof html === "string" && MARK_ONLY.test(html)) el.innerHTML = html;
  else el.textContent = fallback ?? "";
  return el;
}

// ---------------------------------------------------------------------------------------------
// Session and API calls.

function saveSession(s) {
  const was = !!session;
  session = s;
  if (s) sessionStorage.setItem("achex.session", JSON.stringify(s)); else sessionStorage.removeItem("achex.session");
  renderChrome();
  if (!s && was) { liveStop(); document.body.classList.remove("live-down", "live-on"); setUnread(0); }
}

class ApiError extends Error {
  constructor(status, body, fallback) {
    super(body?.error?.message || fallback || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.details = body?.error?.details;
  }
  get fields() { return Array.isArray(this.details?.fields) ? this.details.fields : []; }
}

// One refresh at a time: refresh tokens rotate, so two concurrent refreshes would cancel each other.
let refreshing = null;
function refreshSession() {
  if (!session) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: session.refresh_token }) });
      if (!r.ok) { saveSession(null); return false; }
      saveSession({ ...session, ...(await r.json()) });
      return true;
    } catch { return false; } finally { refreshing = null; }
  })();
  return refreshing;
}

// Calls the API; refreshes the access token once when it has expired.
async function api(method, path, body, { signal, retried = false, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.access_token}`;
  const res = await fetch(`/api/v1${path}`, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && session && !retried && data?.error?.code === "token_expired") {
    if (await refreshSession()) return api(method, path, body, { signal, retried: true, headers: extra });
  }
  if (!res.ok) throw new ApiError(res.status, data, res.statusText);
  return data;
}

function problem(err) {
  const fields = err.fields?.map((f) => `${f.field}: ${f.message}`).join("; ");
  return `${t("failed")}: ${err.message}${fields ? ` (${fields})` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Page chrome.

function renderChrome() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("#lang").textContent = lang === "zh" ? "EN" : "中文";
  $("#lang").setAttribute("aria-label", lang === "zh" ? "Switch to English" : "切换到中文");
  $("#signin").textContent = t("signin");
  $("#signout").textContent = t("signout");
  $("#signin").hidden = !!session;
  $("#signout").hidden = !session;
  $("#bell-wrap").hidden = !session;
  $("#who").textContent = session?.me ? `${session.me.display_name} · ${session.me.organization.name}` : "";
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  const nav = $("#nav");
  nav.setAttribute("aria-label", t("mainNav"));
  const here = location.hash.replace(/\?.*$/, "") || "#/";
  const link = (href, label) => h("a", { href, "aria-current": here === href ? "page" : null }, label);
  nav.replaceChildren(link("#/", t("catalogue")));
  const role = session?.me?.role;
  if (session) nav.append(link("#/saved-searches", t("savedSearches")));
  if (role === "institute_staff") nav.append(link("#/mine", t("mine")), link("#/new", t("create")));
  if (role === "reviewer" || role === "admin") nav.append(link("#/queue", t("queue")));
  renderBadge();
}

// ---------------------------------------------------------------------------------------------
// Listing cards (own listings, review queue).

function card(l, extra) {
  return h("article", { class: "card" },
    h("h3", {}, h("a", { href: `#/listings/${l.id}` }, text(l.title))),
    h("p", { class: "clamp" }, text(l.summary)),
    h("div", { class: "meta" },
      h("span", { class: `tag status-${l.status}` }, pick(STATUSES, l.status)),
      h("span", { class: "tag" }, pick(KINDS, l.kind)),
      h("span", {}, l.institute.name), h("span", {}, `TRL ${l.trl}`), h("span", {}, l.discipline),
      h("span", { class: "price" }, money(l.asking_price)),
      l.published_at ? h("span", {}, `${t("published")} ${date(l.published_at)}`) : null),
    extra || null);
}

function auctionBadge(a) {
  if (!a) return null;
  const running = ["live", "closing", "free_quote"].includes(a.status);
  const label = a.status === "closing" ? t("closing") : a.status === "free_quote" ? t("freeQuote") : running ? t("live") : t("upcoming");
  return h("span", { class: `badge-auction ${running ? "is-live" : "is-upcoming"}` },
    h("strong", {}, label),
    running ? [` · ${t("ends")} `, timeEl(a.ends_at)] : [` · ${t("starts")} `, timeEl(a.starts_at), ` · ${t("ends")} `, timeEl(a.ends_at)],
    a.current_price ? ` · ${t("currentPrice")} ${money(a.current_price)}` : null);
}

// A search hit (also used by "More like this").
function hitCard(hit, { compact = false, onInstitute } = {}) {
  const hl = hit.highlights || {};
  const titleText = text(hit.title);
  const snippetHtml = hl.summary ?? hl.description ?? null;
  const inst = onInstitute
    ? h("button", { type: "button", class: "linkish", title: t("filterByInstitute", hit.institute.name),
      onclick: () => onInstitute(hit.institute) }, hit.institute.name)
    : h("span", {}, hit.institute.name);
  return h("article", { class: compact ? "card hit compact" : "card hit" },
    h("h3", {}, h("a", { href: `#/listings/${hit.listing_id}` },
      hl.title && !compact ? marked("span", {}, hl.title, titleText) : titleText)),
    compact ? null : (snippetHtml ? marked("p", { class: "clamp snippet" }, snippetHtml, text(hit.summary))
      : h("p", { class: "clamp snippet" }, text(hit.summary))),
    !compact && hl.keywords ? marked("p", { class: "keywords muted" }, hl.keywords, "") : null,
    h("div", { class: "meta" },
      h("span", { class: "tag" }, pick(KINDS, hit.kind)), inst,
      h("span", { class: "price" }, money(hit.price)),
      !compact && hit.published_at ? h("span", {}, `${t("published")} ${date(hit.published_at)}`) : null,
      auctionBadge(hit.auction)));
}

// ---------------------------------------------------------------------------------------------
// Discovery: the catalogue is GET /api/v1/search; its whole state lives in the URL.

function readSearch(query) {
  const src = new URLSearchParams(query || "");
  const p = {};
  for (const k of SEARCH_KEYS) { const v = src.get(k); if (v !== null && v.trim() !== "") p[k] = v.trim(); }
  return p;
}
function searchQueryString(p) {
  const q = new URLSearchParams();
  for (const k of SEARCH_KEYS) {
    const v = p[k];
    if (v === undefined || v === null || v === "") continue;
    if ((k === "page" && v === "1") || (k === "sort" && v === "relevance") || (k === "per_page" && v === "20")) continue;
    q.set(k, v);
  }
  return q.toString();
}
const searchHash = (p) => { const q = searchQueryString(p); return q ? `#/?${q}` : "#/"; };
const instituteNames = new Map();
let lastSearchHash = "#/";

// Field → where its error is shown; filled by the catalogue view.
let cat = null;

function buildCatalogue() {
  const ids = { input: nextId("q"), list: nextId("sugg"), status: nextId("status") };
  const c = { params: {}, seq: 0, controller: null, suggest: { items: [], active: -1, seq: 0, timer: 0, controller: null }, showAll: {} };

  // Search box with suggestions (WAI-ARIA combobox).
  c.input = h("input", { id: ids.input, type: "search", name: "q", role: "combobox", "aria-autocomplete": "list",
    "aria-expanded": "false", "aria-controls": ids.list, autocomplete: "off", spellcheck: "false", enterkeyhint: "search" });
  c.listbox = h("ul", { id: ids.list, role: "listbox", class: "suggestions", hidden: true });
  c.qError = h("p", { class: "field-error", id: nextId("qerr") });
  c.input.setAttribute("aria-describedby", c.qError.id);
  c.searchLabel = h("label", { for: ids.input, class: "sr-only" });
  c.searchBtn = h("button", { class: "primary", type: "submit" });
  c.form = h("form", { class: "searchbar", role: "search", onsubmit: (e) => {
    e.preventDefault();
    if (c.suggest.active >= 0) return openSuggestion(c.suggest.active);
    closeSuggestions();
    go({ ...c.params, q: c.input.value.trim(), page: null });
  } }, c.searchLabel, h("div", { class: "combo" }, c.input, c.listbox), c.searchBtn, c.qError);

  c.input.addEventListener("input", (e) => { if (!e.isComposing) scheduleSuggest(); });
  c.input.addEventListener("compositionend", scheduleSuggest);
  c.input.addEventListener("keydown", (e) => {
    if (e.isComposing || e.keyCode === 229) return; // an IME is still composing: its keys are not ours
    const s = c.suggest;
    const open = !c.listbox.hidden && s.items.length > 0;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!open) { if (s.items.length && s.shownFor === c.input.value) showSuggestions(); else scheduleSuggest(0); return; }
      const n = s.items.length;
      setActive(e.key === "ArrowDown" ? (s.active + 1) % n : (s.active <= 0 ? n - 1 : s.active - 1));
    } else if (e.key === "Escape") {
      if (open) { e.preventDefault(); closeSuggestions(); }
    } else if (e.key === "Enter") {
      if (open && s.active >= 0) { e.preventDefault(); openSuggestion(s.active); }
    } else if (e.key === "Tab") closeSuggestions();
  });
  c.input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== c.input) closeSuggestions(); }, 0));

  // Sort and page size.
  c.sort = h("select", { id: nextId("sort"), onchange: () => go({ ...c.params, sort: c.sort.value, page: null }) });
  c.sortLabel = h("label", { for: c.sort.id });
  c.perPage = h("select", { id: nextId("pp"), onchange: () => go({ ...c.params, per_page: c.perPage.value, page: null }) },
    ["10", "20", "50", "100"].map((n) => h("option", { value: n }, n)));
  c.perPageLabel = h("label", { for: c.perPage.id });
  c.sortError = h("p", { class: "field-error" });
  c.saveBtn = h("button", { type: "button", class: "save-search", onclick: () => openSaveSearch(c.params) });

  // Ranges and the auction switch.
  const numInput = (attrs) => h("input", { inputmode: "numeric", ...attrs });
  c.trlMin = numInput({ id: nextId("trlmin"), type: "number", min: 1, max: 9, step: 1 });
  c.trlMax = numInput({ id: nextId("trlmax"), type: "number", min: 1, max: 9, step: 1 });
  c.trlError = h("p", { class: "field-error", id: nextId("trlerr") });
  c.priceMin = h("input", { id: nextId("pmin"), type: "text", inputmode: "decimal", autocomplete: "off" });
  c.priceMax = h("input", { id: nextId("pmax"), type: "text", inputmode: "decimal", autocomplete: "off" });
  c.priceError = h("p", { class: "field-error", id: nextId("perr") });
  for (const el of [c.trlMin, c.trlMax]) el.setAttribute("aria-describedby", c.trlError.id);
  for (const el of [c.priceMin, c.priceMax]) el.setAttribute("aria-describedby", c.priceError.id);
  c.rangeLabels = {};
  const labelled = (key, input) => (c.rangeLabels[key] = h("label", { for: input.id }));
  c.trlLegend = h("legend");
  c.priceLegend = h("legend");
  c.applyBtn = h("button", { type: "submit" });
  c.rangeForm = h("form", { class: "ranges", novalidate: true, onsubmit: (e) => { e.preventDefault(); applyRanges(); } },
    h("fieldset", {}, c.trlLegend, h("div", { class: "pair" }, labelled("trlMin", c.trlMin), c.trlMin, h("span", { "aria-hidden": "true" }, "–"), labelled("trlMax", c.trlMax), c.trlMax), c.trlError),
    h("fieldset", {}, c.priceLegend, h("div", { class: "pair" }, labelled("priceMin", c.priceMin), c.priceMin, h("span", { "aria-hidden": "true" }, "–"), labelled("priceMax", c.priceMax), c.priceMax), c.priceError),
    c.applyBtn);
  c.auctionBox = h("fieldset", { class: "radios" });
  c.langBox = h("fieldset", { class: "radios" });
  c.auctionError = h("p", { class: "field-error" });

  c.facets = h("div", { class: "facets" });
  c.filtersTitle = h("h2", { class: "side-title" });
  c.side = h("aside", { class: "side" }, c.filtersTitle, c.facets, c.rangeForm, c.auctionBox, c.auctionError, c.langBox);
  c.sideToggle = h("button", { type: "button", class: "side-toggle", "aria-expanded": "false", onclick: () => {
    const open = !c.root.classList.contains("side-open");
    c.root.classList.toggle("side-open", open);
    c.sideToggle.setAttribute("aria-expanded", String(open));
  } });

  c.chips = h("div", { class: "chips" });
  c.status = h("p", { class: "result-status", id: ids.status, role: "status", "aria-live": "polite" });
  c.generalError = h("div", { class: "general-error", role: "alert" });
  c.results = h("div", { class: "results", "aria-describedby": ids.status });
  c.pager = h("nav", { class: "pager" });
  c.toolbar = h("div", { class: "toolbar" }, c.status,
    h("div", { class: "tools" }, c.sideToggle, h("span", { class: "inline-field" }, c.sortLabel, c.sort),
      h("span", { class: "inline-field" }, c.perPageLabel, c.perPage), c.saveBtn));
  c.main = h("section", { class: "results-col" }, c.toolbar, c.sortError, c.chips, c.generalError, c.results, c.pager);
  c.root = h("div", { class: "catalogue" }, c.form, h("div", { class: "layout" }, c.side, c.main));
  cat = c;
  return c;

  // --- suggestions
  function scheduleSuggest(delay = 150) {
    clearTimeout(c.suggest.timer);
    c.suggest.timer = setTimeout(fetchSuggestions, typeof delay === "number" ? delay : 150);
  }
  async function fetchSuggestions() {
    const s = c.suggest;
    const typed = c.input.value;
    s.controller?.abort();
    if (!typed.trim()) { s.items = []; s.shownFor = null; closeSuggestions(); return; }
    if (typed === s.shownFor && s.items.length) { if (c.listbox.hidden) showSuggestions(); return; } // already listed
    const seq = ++s.seq;
    s.controller = new AbortController();
    try {
      const data = await api("GET", `/search/suggest?${new URLSearchParams({ q: typed.slice(0, 100), limit: "8" })}`, undefined, { signal: s.controller.signal });
      if (seq !== s.seq || document.activeElement !== c.input) return;
      s.items = data.suggestions || [];
      s.shownFor = typed;
      s.active = -1;
      if (s.items.length) showSuggestions(); else closeSuggestions();
    } catch (err) { if (err.name !== "AbortError") closeSuggestions(); }
  }
  function showSuggestions() {
    const s = c.suggest;
    c.listbox.replaceChildren(...s.items.map((item, i) => {
      const li = marked("li", { id: `${ids.list}-${i}`, role: "option", "aria-selected": "false" }, item.highlighted, item.text);
      li.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the box
      li.addEventListener("click", () => openSuggestion(i));
      li.addEventListener("mousemove", () => { if (s.active !== i) setActive(i); });
      return li;
    }));
    c.listbox.setAttribute("aria-label", t("suggestions"));
    c.listbox.hidden = false;
    c.input.setAttribute("aria-expanded", "true");
  }
  function setActive(i) {
    const s = c.suggest;
    s.active = i;
    [...c.listbox.children].forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    const li = c.listbox.children[i];
    if (li) { c.input.setAttribute("aria-activedescendant", li.id); li.scrollIntoView({ block: "nearest" }); }
    else c.input.removeAttribute("aria-activedescendant");
  }
  function closeSuggestions() {
    c.suggest.active = -1;
    c.suggest.seq++;
    clearTimeout(c.suggest.timer);
    c.listbox.hidden = true;
    c.input.setAttribute("aria-expanded", "false");
    c.input.removeAttribute("aria-activedescendant");
  }
  function openSuggestion(i) {
    const item = c.suggest.items[i];
    closeSuggestions();
    if (item) location.hash = `#/listings/${item.listing_id}`;
  }

  // --- ranges
  function applyRanges() {
    clearFieldErrors(c);
    let ok = true;
    const trl = (el) => {
      const v = el.value.trim();
      if (v === "") return null;
      if (!/^[1-9]$/.test(v)) { ok = false; el.setAttribute("aria-invalid", "true"); return undefined; }
      return v;
    };
    const tMin = trl(c.trlMin), tMax = trl(c.trlMax);
    if (!ok) c.trlError.textContent = t("invalidTrl");
    else if (tMin && tMax && Number(tMin) > Number(tMax)) { ok = false; c.trlError.textContent = t("rangeOrder"); c.trlMin.setAttribute("aria-invalid", "true"); }
    const pMin = parseYuan(c.priceMin.value), pMax = parseYuan(c.priceMax.value);
    const bad = [[pMin, c.priceMin], [pMax, c.priceMax]].filter(([r]) => r.error);
    if (bad.length) {
      ok = false;
      c.priceError.textContent = t(bad[0][0].error);
      for (const [, el] of bad) el.setAttribute("aria-invalid", "true");
    } else if (pMin.value && pMax.value && BigInt(pMin.value) > BigInt(pMax.value)) {
      ok = false; c.priceError.textContent = t("rangeOrder"); c.priceMin.setAttribute("aria-invalid", "true");
    }
    if (!ok) { c.rangeForm.querySelector("[aria-invalid=true]")?.focus(); return; }
    go({ ...c.params, trl_min: tMin, trl_max: tMax, price_min: pMin.value, price_max: pMax.value, page: null });
  }
}

// Re-rendering replaces buttons; keep the keyboard where it was (same data-focus key).
function withFocus(c, render) {
  const key = document.activeElement?.dataset?.focus;
  render();
  if (!key || document.activeElement?.dataset?.focus === key) return;
  let el = c.root.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (!el && key.startsWith("chip-")) el = [...c.chips.querySelectorAll("[data-focus^=chip-]")].pop() || c.input;
  el?.focus();
}

function clearFieldErrors(c) {
  for (const el of [c.qError, c.trlError, c.priceError, c.sortError, c.auctionError]) el.textContent = "";
  c.generalError.replaceChildren();
  for (const el of c.root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

function go(p) {
  const clean = {};
  for (const [k, v] of Object.entries(p)) if (v !== null && v !== undefined && v !== "") clean[k] = String(v);
  const hash = searchHash(clean);
  if (location.hash === hash || (hash === "#/" && location.hash === "")) route(); else location.hash = hash;
}

// Labels the catalogue's static parts in the current language.
function labelCatalogue(c) {
  c.searchLabel.textContent = t("searchLabel");
  c.input.placeholder = t("searchPlaceholder");
  c.input.setAttribute("aria-label", t("searchLabel"));
  c.searchBtn.textContent = t("searchBtn");
  c.sortLabel.textContent = t("sort");
  c.sort.replaceChildren(...SORTS.map((s) => h("option", { value: s }, t(`sort_${s}`))));
  c.perPageLabel.textContent = t("perPage");
  c.trlLegend.textContent = t("trlRange");
  c.priceLegend.textContent = t("priceRange");
  c.rangeLabels.trlMin.textContent = t("from"); c.rangeLabels.trlMax.textContent = t("to");
  c.rangeLabels.priceMin.textContent = t("from"); c.rangeLabels.priceMax.textContent = t("to");
  c.rangeLabels.trlMin.className = c.rangeLabels.trlMax.className = "sr-only";
  c.rangeLabels.priceMin.className = c.rangeLabels.priceMax.className = "sr-only";
  c.trlMin.placeholder = c.priceMin.placeholder = t("from");
  c.trlMax.placeholder = c.priceMax.placeholder = t("to");
  c.applyBtn.textContent = t("apply");
  c.filtersTitle.textContent = t("filters");
  c.sideToggle.textContent = t("filters");
  c.saveBtn.textContent = t("saveSearch");
  c.saveBtn.title = session ? "" : t("signinToSave");
  c.pager.setAttribute("aria-label", t("pagination"));
  const radios = (box, name, legend, options, current) => {
    box.replaceChildren(h("legend", {}, legend), ...options.map(([value, label]) => h("label", { class: "radio" },
      h("input", { type: "radio", name, value, checked: (current || "") === value, "data-focus": `radio-${name}-${value}`,
        onchange: () => go({ ...c.params, [name]: value, page: null }) }), label)));
  };
  radios(c.auctionBox, "auction", t("auction"), [["", t("auction_any")], ["live", t("auction_live")], ["upcoming", t("auction_upcoming")], ["none", t("auction_none")]], c.params.auction);
  radios(c.langBox, "lang", t("textLang"), [["", t("any")], ["zh", t("lang_zh")], ["en", t("lang_en")]], c.params.lang);
}

async function catalogue(query) {
  const fresh = !cat || !cat.root.isConnected;
  const c = fresh ? buildCatalogue() : cat;
  const p = readSearch(query);
  const pageChanged = !fresh && (c.params.page || "1") !== (p.page || "1");
  c.params = p;
  lastSearchHash = searchHash(p);
  withFocus(c, () => { labelCatalogue(c); renderChips(c); });
  if (fresh) $("#view").replaceChildren(c.root);
  // Inputs follow the URL (back/forward, shared links).
  if (c.input.value.trim() !== (p.q || "")) c.input.value = p.q || "";
  c.sort.value = SORTS.includes(p.sort) ? p.sort : "relevance";
  c.perPage.value = ["10", "20", "50", "100"].includes(p.per_page) ? p.per_page : "20";
  c.trlMin.value = p.trl_min || ""; c.trlMax.value = p.trl_max || "";
  c.priceMin.value = fenToYuan(p.price_min); c.priceMax.value = fenToYuan(p.price_max);
  if (pageChanged && c.root.getBoundingClientRect().top < 0) c.root.scrollIntoView();
  await runSearch(c);
}

async function runSearch(c) {
  const p = c.params;
  const seq = ++c.seq;
  c.controller?.abort();
  c.controller = new AbortController();
  clearFieldErrors(c);
  c.results.setAttribute("aria-busy", "true");
  c.root.classList.add("loading");
  c.status.textContent = t("searching");
  let data;
  try {
    data = await api("GET", `/search?${searchQueryString(p)}`, undefined, { signal: c.controller.signal });
  } catch (err) {
    if (err.name === "AbortError" || seq !== c.seq) return;
    c.root.classList.remove("loading");
    c.results.removeAttribute("aria-busy");
    showSearchError(c, err);
    return;
  }
  if (seq !== c.seq) return;
  c.root.classList.remove("loading");
  c.results.removeAttribute("aria-busy");
  for (const hit of data.hits) instituteNames.set(hit.institute.id, hit.institute.name);
  withFocus(c, () => { renderChips(c); renderFacets(c, data.facets || {}); });
  const from = data.total ? (data.page - 1) * data.per_page + 1 : 0;
  const to = (data.page - 1) * data.per_page + data.hits.length;
  c.status.textContent = `${t("results", num(data.total), num(data.took_ms))}${data.hits.length ? ` · ${t("resultsRange", num(from), num(to))}` : ""}`;
  const onInstitute = (inst) => { instituteNames.set(inst.id, inst.name); go({ ...c.params, institute: inst.id, page: null }); };
  if (!data.hits.length && data.total > 0) {
    c.results.replaceChildren(h("div", { class: "empty" }, h("h2", {}, t("pastEnd")),
      h("a", { class: "button", href: searchHash({ ...p, page: null }) }, t("firstPage"))));
  } else if (!data.hits.length) {
    const filtered = Object.keys(p).some((k) => !["q", "sort", "page", "per_page"].includes(k));
    c.results.replaceChildren(h("div", { class: "empty" }, h("h2", {}, t("noResults")), h("p", { class: "muted" }, t("noResultsHint")),
      filtered ? h("button", { type: "button", onclick: () => go({ q: p.q, sort: p.sort, per_page: p.per_page }) }, t("clearAll")) : null));
  } else c.results.replaceChildren(...data.hits.map((hit) => hitCard(hit, { onInstitute })));
  renderPager(c, data);
}

function fieldMessage(f) {
  const known = {
    trl_min: { out_of_range: "invalidTrl", inconsistent: "rangeOrder" }, trl_max: { out_of_range: "invalidTrl" },
    price_min: { out_of_range: "invalidPrice", inconsistent: "rangeOrder" }, price_max: { out_of_range: "invalidPrice" },
  }[f.field]?.[f.code];
  return known ? t(known) : f.message;
}

function showSearchError(c, err) {
  c.status.textContent = t("searchError");
  c.results.replaceChildren();
  c.pager.replaceChildren();
  c.facets.replaceChildren();
  const where = { q: [c.qError, c.input], trl_min: [c.trlError, c.trlMin], trl_max: [c.trlError, c.trlMax],
    price_min: [c.priceError, c.priceMin], price_max: [c.priceError, c.priceMax], sort: [c.sortError, c.sort],
    per_page: [c.sortError, c.perPage], auction: [c.auctionError, null] };
  const leftover = [];
  for (const f of err.fields) {
    const spot = where[f.field];
    if (!spot) { leftover.push(f); continue; }
    const [msgEl, input] = spot;
    const msg = fieldMessage(f);
    if (!msgEl.textContent.includes(msg)) msgEl.textContent = msgEl.textContent ? `${msgEl.textContent}; ${msg}` : msg;
    input?.setAttribute("aria-invalid", "true");
  }
  if (err.status === 422 && err.fields.length && !leftover.length) {
    c.generalError.replaceChildren(h("p", { class: "error" }, `${t("searchError")}: ${err.message}`));
    return;
  }
  const msg = err.code === "search_unavailable" ? t("unavailable") : err.message;
  c.generalError.replaceChildren(h("div", { class: "card error-card" },
    h("p", { class: "error" }, `${t("searchError")}: ${msg}`),
    leftover.length ? h("ul", {}, leftover.map((f) => h("li", {}, `${f.field}: ${f.message}`))) : null,
    err.code ? h("p", { class: "muted small" }, `code: ${err.code}`) : null,
    h("button", { type: "button", onclick: () => runSearch(c) }, t("retry"))));
}

function chipLabel(k, v, p) {
  switch (k) {
    case "q": return `“${v}”`;
    case "kind": return `${t("kind")}: ${pick(KINDS, v)}`;
    case "transfer_mode": return `${t("transfer_mode")}: ${pick(MODES, v)}`;
    case "discipline": return `${t("discipline")}: ${v}`;
    case "region": return `${t("region")}: ${v}`;
    case "institute": return `${t("institute")}: ${instituteNames.get(v) || v.slice(0, 8)}`;
    case "trl": return p.trl_min === p.trl_max ? `TRL ${p.trl_min}` : `TRL ${p.trl_min || "1"}–${p.trl_max || "9"}`;
    case "price": {
      const m = (fen) => (/^\d+$/.test(fen || "") ? money({ amount: fen, currency: "CNY" }) : fen);
      return `${t("priceShort")}: ${p.price_min ? m(p.price_min) : "¥0"} – ${p.price_max ? m(p.price_max) : "∞"}`;
    }
    case "auction": return `${t("auction")}: ${t(`auction_${v}`)}`;
    case "lang": return `${t("textLang")}: ${t(`lang_${v}`)}`;
    default: return `${k}: ${v}`;
  }
}

function renderChips(c) {
  const p = c.params;
  const chips = [];
  const add = (key, remove) => chips.push([chipLabel(key, p[key], p), remove]);
  const without = (...keys) => () => { const n = { ...p, page: null }; for (const k of keys) n[k] = null; go(n); };
  for (const k of ["q", "kind", "transfer_mode", "discipline", "region", "institute", "auction", "lang"]) if (p[k]) add(k, without(k));
  if (p.trl_min || p.trl_max) add("trl", without("trl_min", "trl_max"));
  if (p.price_min || p.price_max) add("price", without("price_min", "price_max"));
  c.chips.replaceChildren(...chips.map(([label, remove], i) => h("span", { class: "chip" }, h("span", {}, label),
    h("button", { type: "button", class: "chip-x", "data-focus": `chip-${i}`, "aria-label": `${t("removeFilter")}: ${label}`, onclick: remove }, "×"))));
  if (chips.length > 1) c.chips.append(h("button", { type: "button", class: "linkish", onclick: () => go({ sort: p.sort, per_page: p.per_page }) }, t("clearAll")));
}

function renderFacets(c, facets) {
  const p = c.params;
  const groups = FACETS.filter((name) => Object.keys(facets[name] || {}).length || (name === "trl" ? p.trl_min : p[name])).map((name) => {
    const counts = { ...(facets[name] || {}) };
    const isActive = (v) => (name === "trl" ? p.trl_min === v && p.trl_max === v : p[name] === v);
    // An active value stays visible even when nothing matches it any more.
    if (name === "trl") { if (p.trl_min && p.trl_min === p.trl_max && !(p.trl_min in counts)) counts[p.trl_min] = 0; }
    else if (p[name] && !(p[name] in counts)) counts[p[name]] = 0;
    let entries = Object.entries(counts);
    if (name === "trl") entries.sort((a, b) => Number(a[0]) - Number(b[0]));
    else entries.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], locale()));
    const label = (v) => (name === "kind" ? pick(KINDS, v) : name === "transfer_mode" ? pick(MODES, v) : name === "trl" ? `TRL ${v}` : v);
    const limit = 8;
    const all = c.showAll[name];
    const shown = all ? entries : entries.slice(0, limit);
    if (!all) for (const e of entries.slice(limit)) if (isActive(e[0])) shown.push(e);
    const title = name === "trl" ? "TRL" : t(name);
    const headingId = nextId("facet");
    return h("section", { class: "facet", "aria-labelledby": headingId },
      h("h3", { id: headingId }, title),
      h("ul", {}, shown.map(([v, n]) => {
        const active = isActive(v);
        const apply = () => {
          const next = { ...p, page: null };
          if (name === "trl") { next.trl_min = active ? null : v; next.trl_max = active ? null : v; } else next[name] = active ? null : v;
          go(next);
        };
        return h("li", {}, h("button", { type: "button", class: "facet-value", "aria-pressed": String(active), "data-focus": `${name}:${v}`, onclick: apply },
          h("span", { class: "facet-label" }, label(v)), h("span", { class: "count" }, num(n))));
      })),
      entries.length > limit ? h("button", { type: "button", class: "linkish small", "data-focus": `more:${name}`, "aria-expanded": String(!!all),
        onclick: () => { c.showAll[name] = !all; withFocus(c, () => renderFacets(c, facets)); } }, all ? t("showLess") : `${t("showMore")} (${entries.length - limit})`) : null);
  });
  c.facets.replaceChildren(...groups);
}

function renderPager(c, data) {
  const last = Math.max(1, Math.min(Math.ceil(data.total / data.per_page), Math.floor(MAX_RESULT_WINDOW / data.per_page)));
  if (last <= 1) { c.pager.replaceChildren(); return; }
  const cur = data.page;
  const link = (n, label, rel) => (n < 1 || n > last
    ? h("span", { class: "page disabled", "aria-disabled": "true" }, label)
    : h("a", { class: n === cur && !rel ? "page current" : "page", href: searchHash({ ...c.params, page: String(n) }),
      "aria-current": n === cur && !rel ? "page" : null, "aria-label": rel ? null : t("page", n), rel }, label));
  const pages = new Set([1, last]);
  for (let n = cur - 2; n <= cur + 2; n++) if (n >= 1 && n <= last) pages.add(n);
  const sorted = [...pages].sort((a, b) => a - b);
  const items = [link(cur - 1, `‹ ${t("prev")}`, "prev")];
  sorted.forEach((n, i) => {
    if (i && n - sorted[i - 1] > 1) items.push(h("span", { class: "gap", "aria-hidden": "true" }, "…"));
    items.push(link(n, num(n)));
  });
  items.push(link(cur + 1, `${t("next")} ›`, "next"));
  c.pager.replaceChildren(...items);
}

// ---------------------------------------------------------------------------------------------
// Saved searches.

function describeQuery(q) {
  const parts = [];
  const p = { ...q };
  for (const k of ["q", "kind", "transfer_mode", "discipline", "region", "institute", "auction", "lang"]) if (p[k]) parts.push(chipLabel(k, p[k], p));
  if (p.trl_min || p.trl_max) parts.push(chipLabel("trl", null, p));
  if (p.price_min || p.price_max) parts.push(chipLabel("price", null, p));
  if (p.sort && p.sort !== "relevance") parts.push(`${t("sort")}: ${t(`sort_${p.sort}`)}`);
  return parts.length ? parts.join(" · ") : t("allListings");
}

function openSaveSearch(params) {
  if (!session) { openLogin(); return; }
  const query = { ...params };
  delete query.page; delete query.per_page;
  const nameErr = h("p", { class: "field-error", id: nextId("nerr") });
  const name = h("input", { name: "name", required: true, maxlength: 100, value: params.q || describeQuery(query).slice(0, 100), "aria-describedby": nameErr.id });
  const alert = h("select", { name: "alert" }, ALERTS.map((a) => h("option", { value: a, selected: a === "daily" }, t(`alert_${a}`))));
  const general = h("p", { class: "error", role: "alert" });
  const titleId = nextId("dlg");
  const dlg = h("dialog", { class: "save-dialog", "aria-labelledby": titleId });
  const close = () => { dlg.close(); dlg.remove(); };
  const submit = h("button", { type: "submit", class: "primary" }, t("saveBtn"));
  const form = h("form", { method: "dialog", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    nameErr.textContent = ""; general.textContent = ""; name.removeAttribute("aria-invalid");
    if (!name.value.trim()) { nameErr.textContent = t("nameRequired"); name.setAttribute("aria-invalid", "true"); name.focus(); return; }
    submit.disabled = true;
    try {
      await api("POST", "/saved-searches", { name: name.value.trim(), query, alert: alert.value });
      close();
      toast({ title: t("savedOk"), body: name.value.trim(), href: "#/saved-searches" });
    } catch (err) {
      const other = [];
      for (const f of err.fields) {
        if (f.field === "name") { nameErr.textContent = f.code === "too_long" ? t("nameTooLong") : f.code === "required" ? t("nameRequired") : f.message; name.setAttribute("aria-invalid", "true"); } else other.push(`${f.field}: ${f.message}`);
      }
      general.textContent = other.length || !err.fields.length ? `${err.message}${other.length ? ` (${other.join("; ")})` : ""}` : "";
      (name.getAttribute("aria-invalid") ? name : submit).focus();
    } finally { submit.disabled = false; }
  } },
  h("h2", { id: titleId }, t("saveSearch")),
  h("p", { class: "muted small" }, describeQuery(query)),
  h("label", {}, h("span", {}, t("searchName")), name, nameErr),
  h("label", {}, h("span", {}, t("alert")), alert),
  general,
  h("div", { class: "actions" }, h("button", { type: "button", onclick: close }, t("cancel")), submit));
  dlg.append(form);
  dlg.addEventListener("cancel", () => setTimeout(() => dlg.remove(), 0));
  document.body.append(dlg);
  dlg.showModal();
  name.select();
}

async function savedSearchesPage() {
  const view = $("#view");
  const status = h("p", { class: "sr-only", role: "status" });
  const list = h("div", { class: "saved-list" });
  view.replaceChildren(h("h1", { tabindex: "-1" }, t("savedSearches")), status, list);
  list.append(h("p", { class: "muted" }, t("loading")));
  const data = await api("GET", "/saved-searches");
  if (!data.items.length) { list.replaceChildren(h("p", { class: "muted empty" }, t("noSaved"))); return; }
  list.replaceChildren(...data.items.map((s) => {
    const row = h("article", { class: "card saved" },
      h("div", { class: "saved-main" },
        h("h3", {}, h("a", { href: searchHash(s.query) }, s.name)),
        h("p", { class: "muted" }, describeQuery(s.query)),
        h("p", { class: "meta" }, h("span", { class: `tag alert-${s.alert}` }, t(`alert_${s.alert}`)),
          h("span", {}, `${t("savedAt")} `, timeEl(s.created_at)),
          s.last_alerted_at ? h("span", {}, `${t("lastAlert")} `, timeEl(s.last_alerted_at)) : null)),
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: searchHash(s.query) }, t("run")),
        h("button", { type: "button", class: "danger", "aria-label": `${t("delete")}: ${s.name}`, onclick: async (e) => {
          if (!confirm(t("confirmDelete", s.name))) return;
          e.target.disabled = true;
          try {
            await api("DELETE", `/saved-searches/${s.id}`);
            row.remove();
            status.textContent = `${t("deleted")}: ${s.name}`;
            if (!list.children.length) list.replaceChildren(h("p", { class: "muted empty" }, t("noSaved")));
            else list.querySelector("a")?.focus();
          } catch (err) { e.target.disabled = false; row.append(h("p", { class: "error" }, problem(err))); }
        } }, t("delete"))));
    return row;
  }));
}

// ---------------------------------------------------------------------------------------------
// Listing detail.

async function detail(id) {
  const view = $("#view");
  const l = await api("GET", `/listings/${id}`);
  const isOwner = session?.me?.role === "institute_staff" && session.me.organization.id === l.institute.id;
  const isReviewer = ["reviewer", "admin"].includes(session?.me?.role);
  const status = h("p", { class: "error", role: "alert" });
  const act = (label, path, body, cls) => h("button", { type: "button", class: cls, onclick: async () => {
    try { await api("POST", `/listings/${id}/${path}`, body ? body() : {}); route(); } catch (err) { status.textContent = problem(err); }
  } }, label);
  const actions = h("div", { class: "actions" });
  if (isOwner && l.status === "draft") actions.append(act(t("submit"), "submit", null, "primary"));
  if ((isOwner || session?.me?.role === "admin") && l.status === "published") actions.append(act(t("withdraw"), "withdraw", null, "danger"));
  if (isReviewer && l.status === "in_review") {
    const reason = h("input", { placeholder: t("reason"), "aria-label": t("reason") });
    actions.append(reason, act(t("reject"), "review", () => ({ decision: "reject", reason: reason.value }), "danger"),
      act(t("approve"), "review", () => ({ decision: "approve" }), "primary"));
  }
  const patents = l.patents.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("patentNo")), h("th", {}, t("legal")), h("th", {}, t("filed")), h("th", {}, t("granted")), h("th", {}, t("expires")))),
    h("tbody", {}, l.patents.map((p) => h("tr", {}, h("td", {}, p.number), h("td", {}, pick(LEGAL, p.legal_status)), h("td", {}, p.filed_on || ""), h("td", {}, p.granted_on || ""), h("td", {}, p.expires_on || ""))))) : h("p", { class: "muted" }, t("none"));
  const files = (l.attachments || []).length ? h("ul", {}, l.attachments.map((a) => h("li", {}, h("a", { href: a.url }, a.file_name), ` (${Math.ceil(a.size / 1024)} KiB)`))) : h("p", { class: "muted" }, t("none"));
  const lotSection = h("section", { class: "auction-room", "aria-labelledby": "room-title", hidden: true });
  const similar = h("section", { class: "similar", "aria-labelledby": "similar-title", hidden: l.status !== "published" },
    h("h2", { id: "similar-title" }, t("similar")), h("p", { class: "muted" }, t("loading")));
  const children = [
    h("a", { href: lastSearchHash }, lastSearchHash === "#/" ? t("back") : t("backResults")),
    h("h1", { tabindex: "-1" }, text(l.title)),
    card({ ...l, summary: null, title: null }, null).querySelector(".meta"),
    lotSection,
    l.rejection_reason ? h("p", { class: "error" }, `${t("reason")}: ${l.rejection_reason}`) : null,
    h("section", {}, h("h2", {}, t("summary")), h("p", {}, text(l.summary))),
    h("section", {}, h("h2", {}, t("description")), h("p", { class: "prose" }, text(l.description))),
    h("section", {}, h("h2", {}, t("modes")), h("p", {}, l.transfer_modes.map((m) => pick(MODES, m)).join(" · "))),
    h("section", {}, h("h2", {}, t("patents")), patents, l.ipc_classes.length ? h("p", { class: "muted" }, `IPC: ${l.ipc_classes.join(", ")}`) : null),
    l.keywords.length ? h("section", { class: "keyword-tags" }, l.keywords.map((k) => h("a", { class: "tag", href: searchHash({ q: k }) }, k))) : null,
    h("section", {}, h("h2", {}, t("contact")), h("p", {}, [l.contact.name, l.contact.email, l.contact.phone].filter(Boolean).join(" · "))),
    h("section", {}, h("h2", {}, t("attachments")), files),
    actions, status,
  ];
  if (isOwner || isReviewer) {
    try {
      const hist = await api("GET", `/listings/${id}/history`);
      children.push(h("section", {}, h("h2", {}, t("history")), h("table", {}, h("tbody", {}, hist.entries.map((e) =>
        h("tr", {}, h("td", {}, dateTime(e.at)), h("td", {}, e.action),
          h("td", {}, `${e.from_status || ""} → ${e.to_status}`), h("td", {}, [e.changed_fields.join(", "), e.reason].filter(Boolean).join(" — "))))))));
    } catch { /* history is optional decoration */ }
  }
  children.push(similar);
  view.replaceChildren(h("div", { class: "detail" }, children));
  if (l.status === "published") { loadSimilar(id, similar); auctionRoom(id, lotSection, { isOwner }); }
}

// ---------------------------------------------------------------------------------------------
// The auction room: a lot's state kept current by the lot's websocket topic, a countdown on the
// server's clock (never the browser's), the latest bids, and registering and bidding for an
// enterprise member. One room at a time; leaving the page closes its socket.

let room = null;

function closeRoom() {
  if (!room) return;
  room.closed = true;
  clearInterval(room.tick);
  clearTimeout(room.retry);
  room.ws?.close();
  room = null;
}

function lotOutcome(o) {
  if (!o) return "";
  if (o.result === "sold") return t("outcome_sold", o.winner, money(o.price));
  return t(`outcome_${o.result}`);
}

function countdown(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return `${d ? `${d}d ` : ""}${two(hh)}:${two(mm)}:${two(ss)}`;
}

// The owner of a published listing without an open lot puts it up for auction here, in any of
// the five formats; each format shows only the fields it uses. Times are entered in the browser's
// time zone and sent as UTC instants; money is parsed to fen exactly.
const LOT_FIELDS = {
  english: ["increment", "reserve", "soft_close"],
  two_phase: ["increment", "reserve", "free_quote_until", "soft_close"],
  sealed_first_price: ["reserve"],
  sealed_second_price: ["reserve"],
  dutch: ["dutch_step", "dutch_interval", "dutch_floor"],
};
const OPTIONAL_FIELDS = [...new Set(Object.values(LOT_FIELDS).flat())];

function lotForm(listingId, section, reopen) {
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const start = new Date(Math.ceil(Date.now() / 300000) * 300000 + 300000);
  const f = (name, label, attrs = {}) => h("label", { "data-field": name }, h("span", {}, label), h("input", { name, autocomplete: "off", ...attrs }));
  const status = h("p", { class: "error", role: "alert" });
  const format = h("select", { name: "format" },
    Object.keys(LOT_FIELDS).map((v) => h("option", { value: v }, t(`format_${v}`))));
  const form = h("form", { class: "lot-form" },
    h("label", {}, h("span", {}, t("format")), format),
    f("starting_price", t("startingPrice"), { inputmode: "decimal", required: true }),
    f("increment", t("increment"), { inputmode: "decimal" }),
    f("reserve", t("reserve"), { inputmode: "decimal" }),
    f("dutch_step", t("dutchStep"), { inputmode: "decimal" }),
    f("dutch_interval", t("dutchInterval"), { type: "number", min: 1, max: 1440, value: 10 }),
    f("dutch_floor", t("dutchFloor"), { inputmode: "decimal" }),
    f("deposit", t("deposit"), { inputmode: "decimal", required: true }),
    f("starts_at", t("startsAt"), { type: "datetime-local", value: local(start), required: true }),
    f("free_quote_until", t("freeQuoteUntil"), { type: "datetime-local", value: local(new Date(start.getTime() + 2 * 86400000)) }),
    f("ends_at", t("endsAt"), { type: "datetime-local", value: local(new Date(start.getTime() + 3 * 86400000)), required: true }),
    f("soft_close", t("softClose"), { type: "number", min: 1, max: 60, value: 5 }),
    status, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("create_lot"))));
  const showFields = () => {
    const used = LOT_FIELDS[format.value];
    for (const name of OPTIONAL_FIELDS) {
      const on = used.includes(name);
      form.querySelector(`[data-field="${name}"]`).hidden = !on;
      // A Dutch lot needs its schedule; the others' optional fields stay optional.
      form.elements[name].required = on && name.startsWith("dutch_");
    }
  };
  format.addEventListener("change", showFields);
  showFields();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value.trim();
    const used = LOT_FIELDS[v("format")];
    const fen = {};
    for (const n of ["starting_price", "increment", "reserve", "deposit", "dutch_step", "dutch_floor"]) {
      if (!["starting_price", "deposit"].includes(n) && !used.includes(n)) { fen[n] = null; continue; }
      const p = parseYuan(v(n));
      const label = { starting_price: "startingPrice", dutch_step: "dutchStep", dutch_floor: "dutchFloor" }[n] || n;
      if (p.error) { status.textContent = `${t(label)}: ${t(p.error)}`; return; }
      fen[n] = p.value === null ? null : { amount: Number(p.value), currency: "CNY" };
    }
    const instant = (n) => new Date(v(n)).toISOString();
    const minutes = Number(v("soft_close")) || 5;
    const body = { format: v("format"), starting_price: fen.starting_price, deposit: fen.deposit,
      starts_at: instant("starts_at"), ends_at: instant("ends_at"),
      ...(fen.reserve ? { reserve_price: fen.reserve } : {}),
      ...(fen.increment ? { increment: fen.increment } : {}),
      ...(used.includes("free_quote_until") ? { free_quote_until: instant("free_quote_until") } : {}),
      ...(used.includes("soft_close") ? { extension: { window_secs: minutes * 60, extend_secs: minutes * 60 } } : {}),
      ...(used.includes("dutch_step") ? { dutch: { step: fen.dutch_step, floor: fen.dutch_floor, interval_secs: (Number(v("dutch_interval")) || 10) * 60 } } : {}) };
    try { await api("POST", `/listings/${listingId}/auctions`, body); reopen(); } catch (err) { status.textContent = problem(err); }
  });
  section.replaceChildren(h("h2", { id: "room-title" }, t("putUp")), form);
  section.hidden = false;
}

async function auctionRoom(listingId, section, { isOwner = false } = {}) {
  closeRoom();
  let lots;
  try { lots = (await api("GET", `/listings/${listingId}/auctions`)).items; } catch { return; }
  if (!section.isConnected) return;
  const open = lots.find((a) => a.state.status !== "closed");
  if (isOwner && !open) {
    // The last lot's result stays visible above a new one's form.
    lotForm(listingId, section, () => auctionRoom(listingId, section, { isOwner }));
    if (!lots[0]) return;
    section.prepend(h("p", { class: "muted" }, `${t("lotStatus_closed")}: ${lotOutcome(lots[0].state.outcome)}`));
    return;
  }
  const lot = open || lots[0];
  if (!lot) return;
  const r = room = { id: lot.id, state: lot.state, offset: Date.parse(lot.server_time) - Date.now(), closed: false,
    ws: null, tick: 0, ticks: 0, retry: 0, attempt: 0, refreshing: false, again: false, bids: [] };
  const el = {
    status: h("span", { class: "lot-status" }), clock: h("span", { class: "lot-clock", "aria-live": "off" }),
    price: h("strong", { class: "lot-price" }), facts: h("p", { class: "lot-facts muted" }),
    live: h("span", { class: "lot-live" }), bids: h("ol", { class: "lot-bids", reversed: true }),
    act: h("div", { class: "lot-act" }), msg: h("p", { class: "lot-msg", role: "status" }),
    watch: h("button", { type: "button", class: "lot-watch", hidden: true, "aria-pressed": "false" }),
    history: h("section", { class: "lot-history", hidden: true }),
    historyOpen: h("button", { type: "button", class: "linkish", hidden: true }, t("bidHistory")),
  };
  // The whole history, newest first, a page at a time: a snapshot taken when opened (the latest
  // bids above stay live).
  el.historyOpen.onclick = () => {
    el.historyOpen.hidden = true;
    const list = h("ol", { class: "lot-bids lot-bids-all", reversed: true, start: r.bidTotal || 1 });
    const more = h("button", { type: "button" }, t("earlierBids"));
    const err = h("p", { class: "error", role: "alert" });
    el.history.replaceChildren(h("h3", {}, t("bidHistory")), list, more, err);
    el.history.hidden = false;
    pager({ list, more, err,
      fetchPage: async (before) => {
        const page = await api("GET", `/auctions/${r.id}/bids?limit=50${before ? `&before=${before}` : ""}`);
        return { items: page.bids.reverse(), next_cursor: page.older_before };
      },
      render: (page) => page.items.map(bidItem),
      empty: () => h("li", { class: "muted" }, t("noBids")) });
  };
  // Anyone signed in may watch an open lot: the platform tells them when it opens and shortly
  // before it ends, without registering to bid.
  async function setUpWatch() {
    if (!session || r.state.status === "closed") return;
    let watching = false;
    try { watching = (await api("GET", "/me/watchlist")).auctions.includes(r.id); } catch { return; }
    const show = () => {
      el.watch.hidden = false;
      el.watch.setAttribute("aria-pressed", String(watching));
      el.watch.textContent = watching ? t("watching") : t("watch");
    };
    el.watch.onclick = async () => {
      el.watch.disabled = true;
      try { await api(watching ? "DELETE" : "POST", `/auctions/${r.id}/watch`, watching ? undefined : {}); watching = !watching; show(); }
      catch (err) { el.msg.textContent = problem(err); }
      finally { el.watch.disabled = false; }
    };
    show();
  }
  section.replaceChildren(
    h("h2", { id: "room-title" }, t("auctionRoom"), " ", el.live),
    h("div", { class: "lot-head" }, el.status, el.price, el.clock, el.watch), el.facts,
    h("h3", {}, t("latestBids")), el.bids, el.historyOpen, el.history, el.act, el.msg);
  section.hidden = false;

  const serverNow = () => Date.now() + r.offset;
  const bidItem = (b) => h("li", { "data-seq": String(b.seq) },
    h("span", {}, b.bidder_code), " ", h("strong", {}, b.amount ? money(b.amount) : "—"), " ", timeEl(b.at));
  function render() {
    const st = r.state;
    el.status.textContent = t(`lotStatus_${st.status}`);
    el.status.dataset.status = st.status;
    el.price.textContent = st.current_price ? money(st.current_price) : "";
    const facts = [
      st.leader_code ? `${t("leader")}: ${st.leader_code}` : null,
      `${t("bidCount")}: ${num(st.bid_count)}`,
      st.bid_count ? (st.reserve_met ? t("reserveMet") : t("reserveNotMet")) : null,
      st.next_minimum_bid && st.status !== "closed" ? `${t("nextMin")}: ${money(st.next_minimum_bid)}` : null,
      st.extensions ? t("extended", st.extensions) : null,
      st.status === "closed" ? lotOutcome(st.outcome) : null,
    ];
    el.facts.textContent = facts.filter(Boolean).join(" · ");
    el.bids.start = r.bidTotal || 1;
    el.bids.replaceChildren(...(r.bids.length ? r.bids.map(bidItem) : [h("li", { class: "muted" }, t("noBids"))]));
    tickClock();
    renderAction();
  }
  function tickClock() {
    const st = r.state;
    // A Dutch price falls on the server's schedule without an event: read it again now and then.
    if (st.format === "dutch" && st.status === "live" && ++r.ticks % 10 === 0) refresh();
    const target = st.status === "upcoming" ? st.starts_at : st.status === "free_quote" ? st.free_quote_until : st.ends_at;
    el.clock.textContent = st.status === "closed" || !target ? "" :
      `${st.status === "upcoming" ? t("startingIn") : t("endingIn")} ${countdown(Date.parse(target) - serverNow())}`;
  }
  // The state and the latest bids, read again after an event; one read at a time, and one more
  // when events came in meanwhile (a storm of bids costs a read per round trip, not per bid).
  async function refresh() {
    if (r.refreshing) { r.again = true; return; }
    r.refreshing = true;
    try {
      do {
        r.again = false;
        const [a, b] = await Promise.all([api("GET", `/auctions/${r.id}`), api("GET", `/auctions/${r.id}/bids?limit=10`)]);
        if (r.closed) return;
        r.state = a.state;
        r.offset = Date.parse(a.server_time) - Date.now();
        r.bids = b.bids.reverse();
        r.bidTotal = a.state.bid_count;
        el.historyOpen.hidden = !b.older_before || !el.history.hidden;
        render();
      } while (r.again && !r.closed);
    } catch { /* the next event or reconnect reads again */ } finally { r.refreshing = false; }
  }
  function connect() {
    if (r.closed) return;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`);
    r.ws = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "subscribe", topic: `auction:${r.id}`, since: r.state.seq })));
    ws.addEventListener("message", (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m.topic !== `auction:${r.id}` || typeof m.seq !== "number") return;
      if (m.type === "subscribed" || m.type === "snapshot") {
        r.attempt = 0;
        section.classList.remove("live-down");
        section.classList.add("live-on");
        el.live.textContent = t("liveLot");
        el.live.title = "";
      }
      // Any event newer than what is shown (bid_accepted, extended, phase_changed, closed, or
      // what was missed while away) reads the state and the latest bids again.
      if (m.seq > r.state.seq || m.type === "snapshot") refresh();
    });
    ws.addEventListener("close", () => {
      if (r.closed || r.ws !== ws) return;
      section.classList.remove("live-on");
      section.classList.add("live-down");
      el.live.textContent = "";
      el.live.title = t("liveLotOff");
      r.retry = setTimeout(connect, backoff(r.attempt));
      r.attempt = Math.min(r.attempt + 1, 6);
    });
  }
  async function renderAction() {
    const st = r.state;
    if (st.status === "closed") { el.act.replaceChildren(...adminAfterClose(st)); return; }
    if (!session) { el.act.replaceChildren(h("p", { class: "muted" }, t("signinToBid"))); return; }
    if (["organizer", "admin"].includes(session.me?.role)) { renderDeposits(); return; }
    if (session.me?.role !== "enterprise_member") { el.act.replaceChildren(); return; }
    if (r.registration === undefined) {
      r.registration = null;
      try { r.registration = await api("GET", `/auctions/${r.id}/registrations/me`); } catch { r.registration = null; }
      if (r.closed) return;
    }
    const reg = r.registration;
    if (!reg) {
      el.act.replaceChildren(h("button", { type: "button", class: "primary", onclick: async () => {
        try { r.registration = await api("POST", `/auctions/${r.id}/registrations`, {}); el.msg.textContent = ""; renderAction(); }
        catch (err) { el.msg.textContent = problem(err); }
      } }, t("register")));
      return;
    }
    const who = h("p", {}, t("registeredAs", reg.bidder_code));
    if (reg.deposit_status === "unconfirmed") {
      // Ask again when the organizer may have confirmed it since (the page is re-rendered on
      // every event; the inbox and the live channel also announce it).
      el.act.replaceChildren(who, h("p", { class: "muted" }, t("depositWaiting", money(reg.deposit))));
      r.registration = undefined;
      return;
    }
    // A proxy maximum exists in the ascending rounds only (not for sealed bids, Dutch
    // acceptances or free quotes).
    const proxies = (st.format === "english" || st.format === "two_phase") && st.status !== "free_quote";
    const minimum = st.next_minimum_bid || st.current_price;
    if (st.format === "dutch") {
      // One click accepts at the price shown; if it fell meanwhile, the lot sells at the lower
      // price of the moment the server accepts.
      const accept = el.act.querySelector("button.accept") || h("button", { type: "button", class: "primary accept",
        onclick: (e) => r.shownPrice && sendBid({ amount: r.shownPrice }, e.target) });
      r.shownPrice = minimum;
      accept.textContent = minimum ? t("acceptAt", money(minimum)) : t("placeBid");
      if (!accept.isConnected) el.act.replaceChildren(who, h("p", { class: "muted" }, t("depositHeld")), accept);
      return;
    }
    const existing = el.act.querySelector("form.bid-form");
    if (existing) {
      existing.querySelector("[name=amount]").placeholder = fenToYuan(String(minimum?.amount ?? ""));
      existing.querySelector("[name=max]").closest("label").hidden = !proxies;
      return;
    }
    const amount = h("input", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true,
      placeholder: fenToYuan(String(minimum?.amount ?? "")), "aria-label": t("yourBid") });
    const max = h("input", { name: "max", inputmode: "decimal", autocomplete: "off", "aria-label": t("yourMax") });
    const maxLabel = h("label", { hidden: !proxies }, h("span", {}, t("yourMax")), max);
    const form = h("form", { class: "bid-form", onsubmit: async (e) => {
      e.preventDefault();
      const a = parseYuan(amount.value), m = maxLabel.hidden ? { value: null } : parseYuan(max.value);
      if (a.error || a.value === null) { el.msg.textContent = t(a.error || "invalidPrice"); return; }
      if (m.error) { el.msg.textContent = t(m.error); return; }
      const currency = minimum?.currency || "CNY";
      const body = { amount: { amount: Number(a.value), currency } };
      if (m.value !== null) body.max_amount = { amount: Number(m.value), currency };
      if (await sendBid(body, form.querySelector("button"))) { amount.value = ""; max.value = ""; }
    } },
      h("label", {}, h("span", {}, t("yourBid")), amount), maxLabel,
      h("button", { type: "submit", class: "primary" }, t("placeBid")));
    el.act.replaceChildren(who, h("p", { class: "muted" }, t("depositHeld")), form);
  }
  // One Idempotency-Key per bid, kept while the same bid is sent again after a failure that may
  // not have reached the server; a new bid, or a clear answer, starts a new key.
  let bidKey = null, bidKeyFor = "";
  async function sendBid(body, button) {
    const what = JSON.stringify(body);
    if (what !== bidKeyFor) { bidKey = crypto.randomUUID(); bidKeyFor = what; }
    button.disabled = true;
    try {
      await api("POST", `/auctions/${r.id}/bids`, body, { headers: { "Idempotency-Key": bidKey } });
      el.msg.textContent = t("bidAccepted", money(body.amount));
      bidKeyFor = "";
      refresh();
      return true;
    } catch (err) {
      el.msg.textContent = problem(err);
      if (err.status && err.status < 500) bidKeyFor = "";
      return false;
    } finally { button.disabled = false; }
  }
  // Organizers and admins match deposits that arrive to the organisations behind the codes.
  async function renderDeposits() {
    let list;
    try { list = (await api("GET", `/auctions/${r.id}/registrations`)).items; } catch (err) { el.msg.textContent = problem(err); return; }
    if (r.closed) return;
    const rows = list.map((g) => h("tr", { "data-code": g.bidder_code },
      h("td", {}, g.bidder_code), h("td", {}, g.organization.name), h("td", {}, money(g.deposit)),
      h("td", {}, t(`deposit_${g.deposit_status}`)),
      h("td", {}, g.deposit_status === "unconfirmed" ? h("button", { type: "button", onclick: async (e) => {
        e.target.disabled = true;
        try { await api("POST", `/auctions/${r.id}/registrations/${encodeURIComponent(g.registration_id)}/confirm-deposit`, {}); el.msg.textContent = ""; }
        catch (err) { el.msg.textContent = problem(err); }
        renderDeposits();
      } }, t("confirmDeposit")) : "")));
    el.act.replaceChildren(h("h3", {}, t("registrations")), list.length
      ? h("table", { class: "registrations" }, h("thead", {}, h("tr", {}, [t("bidder"), t("organization"), t("deposit"), t("depositStatus"), ""].map((c) => h("th", {}, c)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, t("noRegistrations")), ...adminCancel());
  }
  // Admins may cancel an open lot, with a reason every bidder is told.
  function adminCancel() {
    if (session?.me?.role !== "admin") return [];
    const reason = h("input", { name: "reason", required: true, maxlength: 2000, autocomplete: "off", "aria-label": t("cancelReason") });
    const form = h("form", { class: "bid-form lot-cancel", onsubmit: async (e) => {
      e.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      try { await api("POST", `/auctions/${r.id}/cancel`, { reason: reason.value.trim() }); el.msg.textContent = ""; refresh(); }
      catch (err) { el.msg.textContent = problem(err); }
      finally { button.disabled = false; }
    } }, h("label", {}, h("span", {}, t("cancelReason")), reason), h("button", { type: "submit", class: "danger" }, t("cancelLot")));
    return [form];
  }
  // After a sale an admin records a winner who failed to complete: its deposit is forfeited and
  // the runner-up is offered the lot at its own highest bid.
  function adminAfterClose(st) {
    if (session?.me?.role !== "admin" || st.outcome?.result !== "sold") return [];
    return [h("button", { type: "button", class: "danger lot-default", onclick: async (e) => {
      if (!confirm(t("winnerDefaultedConfirm", st.outcome.winner))) return;
      e.target.disabled = true;
      try { await api("POST", `/auctions/${r.id}/default`, { bidder_code: st.outcome.winner }); el.msg.textContent = ""; refresh(); }
      catch (err) { el.msg.textContent = problem(err); e.target.disabled = false; }
    } }, t("winnerDefaulted"))];
  }
  r.tick = setInterval(() => { if (!section.isConnected) closeRoom(); else tickClock(); }, 1000);
  render();
  refresh();
  connect();
  setUpWatch();
}

async function loadSimilar(id, section) {
  try {
    const data = await api("GET", `/listings/${id}/similar?limit=6`);
    if (!section.isConnected) return;
    const body = data.hits.length ? h("div", { class: "similar-grid" }, data.hits.map((hit) => hitCard(hit, { compact: true })))
      : h("p", { class: "muted" }, t("similarNone"));
    section.replaceChildren(section.firstChild, body);
  } catch { section.hidden = true; }
}

// Fills `list` from a cursor-paged endpoint, one page now and one more per click on `more`:
// `fetchPage(cursor)` gets a page, `render(page)` makes its items' elements, `empty()` what an
// empty list shows.
async function pager({ list, more, err, fetchPage, render, empty }) {
  let cursor = null;
  async function load() {
    more.disabled = true;
    try {
      const page = await fetchPage(cursor);
      list.append(...render(page));
      if (!list.children.length) list.append(empty());
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (e) { err.textContent = problem(e); }
    more.disabled = false;
  }
  more.addEventListener("click", load);
  await load();
}

async function ownList(path, title) {
  const list = h("div", {});
  const more = h("button", { type: "button", class: "more", hidden: true }, t("more"));
  const err = h("p", { class: "error", role: "alert" });
  $("#view").replaceChildren(h("h1", { tabindex: "-1" }, title), err, list, more);
  await pager({
    list, more, err,
    fetchPage: (cursor) => api("GET", `${path}?${new URLSearchParams({ limit: "50", ...(cursor ? { cursor } : {}) })}`),
    render: (page) => page.items.map((l) => card(l)),
    empty: () => h("p", { class: "muted" }, t("none")),
  });
}

function newListing() {
  const f = (name, label, attrs = {}, tag = "input") => h("label", { class: attrs.wide ? "wide" : null }, label, h(tag, { name, ...attrs, wide: null }));
  const status = h("p", { class: "error wide", role: "alert" });
  const form = h("form", { class: "listing" },
    f("title_zh", `${t("title")} (中文)`), f("title_en", `${t("title")} (English)`),
    f("summary_zh", `${t("summary")} (中文)`, { wide: true }, "textarea"), f("summary_en", `${t("summary")} (English)`, { wide: true }, "textarea"),
    f("description_zh", `${t("description")} (中文)`, { wide: true, rows: 5 }, "textarea"), f("description_en", `${t("description")} (English)`, { wide: true, rows: 5 }, "textarea"),
    h("label", {}, t("kind"), h("select", { name: "kind" }, Object.keys(KINDS).map((k) => h("option", { value: k }, pick(KINDS, k))))),
    f("trl", t("trl"), { type: "number", min: 1, max: 9, value: 5 }),
    h("fieldset", { class: "wide" }, h("legend", {}, t("modes")), Object.keys(MODES).map((m) => h("label", { class: "radio" }, h("input", { type: "checkbox", name: "mode", value: m }), pick(MODES, m)))),
    f("price", t("price"), { inputmode: "decimal" }), f("ipc", t("ipc")),
    f("patent_no", t("patentNo")), h("label", {}, t("legal"), h("select", { name: "legal" }, ["granted", "pending"].map((s) => h("option", { value: s }, pick(LEGAL, s))))),
    f("discipline", t("discipline")), f("region", t("region")), f("keywords", t("keywords"), { wide: true }),
    f("contact_name", `${t("contact")} · ${t("name")}`), f("contact_email", `${t("contact")} · ${t("email")}`, { type: "email" }),
    status, h("div", { class: "actions wide" }, h("button", { class: "primary" }, t("save"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value.trim();
    const lt = (n) => ({ ...(v(`${n}_zh`) ? { zh: v(`${n}_zh`) } : {}), ...(v(`${n}_en`) ? { en: v(`${n}_en`) } : {}) });
    const list = (n) => v(n).split(/[,，;；]/).map((s) => s.trim()).filter(Boolean);
    // Exact minor units from the decimal text, without floating point.
    const parsed = parseYuan(v("price"));
    if (parsed.error) { status.textContent = `${t("price")}: ${t(parsed.error)}`; return; }
    if (parsed.value && BigInt(parsed.value) > BigInt(Number.MAX_SAFE_INTEGER)) { status.textContent = `${t("price")}: ${t("tooLarge")}`; return; }
    const price = parsed.value ? { amount: Number(parsed.value), currency: "CNY" } : null;
    const body = { title: lt("title"), summary: lt("summary"), description: lt("description"), kind: v("kind"),
      trl: Number(v("trl")), transfer_modes: [...form.querySelectorAll("input[name=mode]:checked")].map((c) => c.value),
      asking_price: price, ipc_classes: list("ipc"), keywords: list("keywords"), discipline: v("discipline"), region: v("region"),
      patents: v("patent_no") ? [{ number: v("patent_no"), legal_status: v("legal") }] : [],
      contact: { name: v("contact_name"), email: v("contact_email") || null } };
    try { const l = await api("POST", "/listings", body); location.hash = `#/listings/${l.id}`; } catch (err) { status.textContent = problem(err); }
  });
  $("#view").replaceChildren(h("h1", { tabindex: "-1" }, t("create")), form);
}

// ---------------------------------------------------------------------------------------------
// Notifications: the bell, the inbox, the live channel, toasts and preferences.

let unread = 0;
function setUnread(n) { unread = Math.max(0, n | 0); renderBadge(); }
function renderBadge() {
  const badge = $("#bell-count");
  if (!badge) return;
  badge.hidden = !unread;
  badge.textContent = unread > 99 ? "99+" : String(unread);
  const down = document.body.classList.contains("live-down");
  $("#bell").setAttribute("aria-label", `${t("unreadN", unread)}${down ? `. ${t("liveOff")}` : ""}`);
  $("#bell").title = down ? t("liveOff") : t("notifications");
  const base = document.title.replace(/^\(\d+\+?\) /, "");
  document.title = unread ? `(${unread > 99 ? "99+" : unread}) ${base}` : base;
}

// The inbox `link` is a client path such as /listings/<id>; the client routes with the hash.
function linkHash(link) {
  return typeof link === "string" && /^\/[A-Za-z0-9_\-/]*$/.test(link) && !link.startsWith("//") ? `#${link}` : "#/notifications";
}

async function openNotification(n) {
  if (!n.read_at) {
    try { await api("POST", `/notifications/${n.id}/read`); n.read_at = new Date().toISOString(); setUnread(unread - 1); } catch { /* still follow the link */ }
  }
  closePanel();
  const target = linkHash(n.link);
  if (location.hash === target) route(); else location.hash = target;
}

// The inbox body is the plain-text letter: heading, paragraphs, "- item\n  /path" lines, an action
// line "label: /path" and a "-- " signature. Keep what the reader needs; the action is the `link`.
function bodyParts(body) {
  let text = String(body || "").replace(/\r/g, "");
  const sig = text.indexOf("\n-- \n");
  if (sig >= 0) text = text.slice(0, sig);
  const paras = text.split(/\n{2,}/).map((p) => p.trim()).filter(Boolean);
  if (paras.length > 1) paras.shift(); // the heading repeats the title
  const last = paras[paras.length - 1];
  if (last && !last.includes("\n") && /[:：]\s*\/[\w\-/]*$/.test(last)) paras.pop();
  return paras.map((p) => {
    const lines = p.split("\n");
    const items = [];
    for (let i = 0; i < lines.length; i++) {
      const m = /^-\s+(.*)$/.exec(lines[i]);
      const path = lines[i + 1]?.trim();
      if (m && path && /^\/[\w\-/]+$/.test(path)) { items.push({ text: m[1], href: linkHash(path) }); i++; }
      else if (m) items.push({ text: m[1] });
      else items.push({ text: lines[i] });
    }
    return items;
  });
}
const bodySummary = (body) => bodyParts(body).flat().map((x) => x.text).join(" ").slice(0, 200);
function bodyNodes(body, onfollow) {
  return bodyParts(body).map((items) => h("p", {}, items.map((x, i) => [i ? h("br") : null,
    x.href ? [h("span", { "aria-hidden": "true" }, "· "), h("a", { href: x.href, onclick: onfollow }, x.text)] : x.text])));
}

function noteItem(n, { full = false } = {}) {
  const item = h("li", { class: n.read_at ? "note" : "note unread", "data-id": n.id });
  const open = async () => { await openNotification(n); item.classList.remove("unread"); };
  const markRead = () => { if (!n.read_at) { item.classList.remove("unread"); api("POST", `/notifications/${n.id}/read`).then(() => { n.read_at = new Date().toISOString(); setUnread(unread - 1); }).catch(() => {}); } };
  const head = [h("span", { class: "note-kind" }, pick(NOTE_KINDS, n.kind)), h("span", { class: "note-title" }, n.title)];
  const status = n.read_at ? null : h("span", { class: "sr-only" }, ` (${t("unread")})`);
  if (full) {
    item.append(h("span", { class: "dot", "aria-hidden": "true" }), h("div", { class: "note-full" },
      h("button", { type: "button", class: "note-open", onclick: open }, head, status),
      h("div", { class: "note-text" }, bodyNodes(n.body, markRead)),
      h("span", { class: "note-time" }, timeEl(n.created_at, true))));
  } else {
    const summary = bodySummary(n.body);
    item.append(h("span", { class: "dot", "aria-hidden": "true" }), h("button", { type: "button", class: "note-open", onclick: open }, head,
      summary ? h("span", { class: "note-body" }, summary) : null, h("span", { class: "note-time" }, timeEl(n.created_at, true)), status));
  }
  return item;
}

async function markAllRead(after) {
  const r = await api("POST", "/notifications/read-all");
  setUnread(r.unread_count ?? 0);
  for (const el of document.querySelectorAll(".note.unread")) el.classList.remove("unread");
  after?.();
}

// The dropdown under the bell.
let panelOpen = false;
async function openPanel() {
  const panel = $("#notif-panel");
  panelOpen = true;
  panel.hidden = false;
  // On narrow screens the panel is fixed full-width; put it just under the bell.
  panel.style.top = matchMedia("(max-width:700px)").matches ? `${Math.round($("#bell").getBoundingClientRect().bottom + 8)}px` : "";
  $("#bell").setAttribute("aria-expanded", "true");
  const list = h("ul", { class: "notes" }, h("li", { class: "muted pad" }, t("loading")));
  const markBtn = h("button", { type: "button", class: "linkish", onclick: () => markAllRead().catch(() => {}) }, t("markAllRead"));
  panel.replaceChildren(
    h("div", { class: "panel-head" }, h("h2", { id: "notif-panel-title" }, t("notifications")), markBtn),
    list,
    h("div", { class: "panel-foot" }, h("a", { href: "#/notifications", onclick: () => setTimeout(closePanel) }, t("viewAll")), h("a", { href: "#/settings/notifications", onclick: () => setTimeout(closePanel) }, t("prefs"))));
  panel.focus();
  try {
    const page = await api("GET", "/notifications?limit=8");
    if (!panelOpen) return;
    setUnread(page.unread_count);
    list.replaceChildren(...(page.items.length ? page.items.map((n) => noteItem(n)) : [h("li", { class: "muted pad" }, t("noNotifications"))]));
  } catch (err) { list.replaceChildren(h("li", { class: "error pad" }, problem(err))); }
}
function closePanel() {
  if (!panelOpen) return;
  panelOpen = false;
  $("#notif-panel").hidden = true;
  $("#notif-panel").replaceChildren();
  $("#bell").setAttribute("aria-expanded", "false");
}

// The inbox page: #/notifications[?unread=1].
let inboxList = null;
let inboxUnreadOnly = false;
async function inboxPage(query) {
  const onlyUnread = new URLSearchParams(query || "").get("unread") === "1";
  inboxUnreadOnly = onlyUnread;
  const list = h("ul", { class: "notes page-notes", "aria-live": "polite" });
  inboxList = list;
  const more = h("button", { type: "button", class: "more", hidden: true }, t("more"));
  const err = h("p", { class: "error", role: "alert" });
  const tab = (href, label, on) => h("a", { href, class: on ? "tab on" : "tab", "aria-current": on ? "page" : null }, label);
  $("#view").replaceChildren(
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, t("notifications")),
      h("div", { class: "tools" },
        h("nav", { class: "tabs", "aria-label": t("notifications") }, tab("#/notifications", t("all"), !onlyUnread), tab("#/notifications?unread=1", t("unread"), onlyUnread)),
        h("button", { type: "button", onclick: () => markAllRead(() => { if (onlyUnread) route(); }).catch((e) => { err.textContent = problem(e); }) }, t("markAllRead")),
        h("a", { href: "#/settings/notifications", class: "button" }, t("prefs")))),
    err, list, more);
  await pager({
    list, more, err,
    fetchPage: (cursor) => {
      const q = new URLSearchParams({ limit: "20" });
      if (onlyUnread) q.set("unread", "true");
      if (cursor) q.set("cursor", cursor);
      return api("GET", `/notifications?${q}`);
    },
    render: (page) => { setUnread(page.unread_count); return page.items.map((n) => noteItem(n, { full: true })); },
    empty: () => h("li", { class: "muted pad empty-note" }, onlyUnread ? t("noUnread") : t("noNotifications")),
  });
}

async function prefsPage() {
  const status = h("p", { class: "save-status", role: "status", "aria-live": "polite" });
  const table = h("table", { class: "prefs" });
  $("#view").replaceChildren(h("h1", { tabindex: "-1" }, t("prefs")), h("p", { class: "muted" }, t("prefsIntro")), table, status);
  let prefs = await api("GET", "/notification-preferences");
  const kinds = Object.keys(prefs);
  table.replaceChildren(
    h("caption", { class: "sr-only" }, t("prefs")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("notifKind")), h("th", { scope: "col" }, t("channel_email")),
      h("th", { scope: "col" }, t("channel_live")), h("th", { scope: "col" }, t("channel_inbox")))),
    h("tbody", {}, kinds.map((kind) => {
      const rowId = nextId("kind");
      const box = (channel) => {
        const cb = h("input", { type: "checkbox", checked: !!prefs[kind][channel], "aria-labelledby": `${rowId} ${rowId}-${channel}` });
        cb.addEventListener("change", async () => {
          const want = cb.checked;
          cb.disabled = true;
          status.textContent = "";
          try {
            prefs = await api("PUT", "/notification-preferences", { [kind]: { [channel]: want } });
            cb.checked = !!prefs[kind]?.[channel];
            status.textContent = `${t("saved")}: ${pick(NOTE_KINDS, kind)} · ${t(`channel_${channel}`)} ${cb.checked ? "✓" : "✗"}`;
          } catch (err) { cb.checked = !want; status.textContent = problem(err); }
          cb.disabled = false;
        });
        return h("td", {}, h("span", { id: `${rowId}-${channel}`, class: "sr-only" }, t(`channel_${channel}`)), cb);
      };
      return h("tr", {}, h("th", { scope: "row", id: rowId }, pick(NOTE_KINDS, kind), h("span", { class: "muted small code" }, kind)),
        box("email"), box("live"),
        h("td", {}, h("span", { id: `${rowId}-inbox`, class: "sr-only" }, t("channel_inbox")),
          h("input", { type: "checkbox", checked: true, disabled: true, "aria-labelledby": `${rowId} ${rowId}-inbox` })));
    })));
}

// Toasts: short-lived, announced politely, clickable.
function toast({ title, body, href, onopen }) {
  const box = $("#toasts");
  const el = h("div", { class: "toast" });
  let timer = setTimeout(() => el.remove(), 8000);
  el.addEventListener("mouseenter", () => clearTimeout(timer));
  el.addEventListener("focusin", () => clearTimeout(timer));
  el.addEventListener("mouseleave", () => { timer = setTimeout(() => el.remove(), 4000); });
  const main = href || onopen
    ? h("a", { href: href || "#/notifications", class: "toast-main", onclick: (e) => { if (onopen) { e.preventDefault(); onopen(); } el.remove(); } },
      h("strong", {}, title), body ? h("span", {}, body) : null)
    : h("div", { class: "toast-main" }, h("strong", {}, title), body ? h("span", {}, body) : null);
  el.append(main, h("button", { type: "button", class: "toast-x", "aria-label": t("dismiss"), onclick: () => el.remove() }, "×"));
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
}

function onLiveNotification(n) {
  if (!n.read_at) setUnread(unread + 1);
  toast({ title: n.title || pick(NOTE_KINDS, n.kind), body: bodySummary(n.body), onopen: () => openNotification(n) });
  // Keep open lists current.
  if (panelOpen) {
    const list = $("#notif-panel .notes");
    list?.querySelector(".muted.pad")?.remove();
    list?.prepend(noteItem(n));
  }
  if (inboxList?.isConnected && (!inboxUnreadOnly || !n.read_at)) {
    inboxList.querySelector(".empty-note")?.remove();
    inboxList.prepend(noteItem(n, { full: true }));
  }
}

// How long a dropped websocket waits before its `attempt`-th reconnect: doubling to 15 s, with
// jitter so that a restarted server is not hit by every tab at once.
const backoff = (attempt) => Math.min(15000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);

// One websocket per signed-in tab, subscribed to the user's own topic; reconnects with backoff.
const live = { ws: null, attempt: 0, timer: 0, stopped: true, authRetried: false };
function liveStart() {
  if (!session || live.ws) return;
  live.stopped = false;
  liveConnect();
}
function liveStop() {
  live.stopped = true;
  clearTimeout(live.timer);
  const ws = live.ws;
  live.ws = null;
  if (ws) ws.close(1000, "signed out");
}
function liveConnect() {
  clearTimeout(live.timer);
  if (live.stopped || !session) return;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`);
  live.ws = ws;
  const send = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
  ws.addEventListener("open", () => send({ type: "auth", token: session?.access_token }));
  ws.addEventListener("message", async (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    if (m.type === "authenticated") send({ type: "subscribe", topic: "user" });
    else if (m.type === "subscribed" && m.topic === "user") {
      live.attempt = 0; live.authRetried = false;
      document.body.classList.remove("live-down");
      document.body.classList.add("live-on");
      if (typeof m.unread === "number") setUnread(m.unread); else renderBadge();
    } else if (m.type === "notification" && m.notification) onLiveNotification(m.notification);
    else if (m.type === "error" && ["token_expired", "invalid_token"].includes(m.code) && !live.authRetried) {
      live.authRetried = true;
      if (await refreshSession()) send({ type: "auth", token: session.access_token }); else liveStop();
    }
  });
  ws.addEventListener("close", () => {
    if (live.ws !== ws) return;
    live.ws = null;
    document.body.classList.remove("live-on");
    if (live.stopped || !session) return;
    document.body.classList.add("live-down");
    renderBadge();
    live.timer = setTimeout(liveConnect, backoff(live.attempt));
    live.attempt = Math.min(live.attempt + 1, 6);
  });
}
// Back online or back to the tab: don't wait out the backoff.
function liveNudge() { if (session && !live.ws && !live.stopped) liveConnect(); }

// ---------------------------------------------------------------------------------------------
// Routing.

let lastView = "";
async function route() {
  closeRoom();
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const p = path || "/";
  const viewKey = p.replace(/[0-9a-f-]{36}/g, ":id");
  const changed = viewKey !== lastView;
  lastView = viewKey;
  closePanel();
  renderChrome();
  if (changed && p !== "/") { window.scrollTo(0, 0); $("#view").replaceChildren(h("p", { class: "muted" }, t("loading"))); }
  try {
    let m;
    const needSession = () => { if (!session) { $("#view").replaceChildren(h("p", { class: "muted" }, t("signinNeeded"))); openLogin(); return true; } return false; };
    if ((m = p.match(/^\/listings\/([0-9a-f-]{36})$/))) await detail(m[1]);
    else if ((m = p.match(/^\/auctions\/([0-9a-f-]{36})$/))) {
      const a = await api("GET", `/auctions/${m[1]}`);
      location.replace(`#/listings/${a.listing_id}`);
      return;
    } else if ((m = p.match(/^\/saved-searches\/([0-9a-f-]{36})$/))) {
      if (needSession()) return;
      const s = await api("GET", `/saved-searches/${m[1]}`);
      location.replace(searchHash(s.query));
      return;
    } else if (p === "/saved-searches") { if (!needSession()) await savedSearchesPage(); }
    else if (p === "/notifications") { if (!needSession()) await inboxPage(query); }
    else if (p === "/settings/notifications") { if (!needSession()) await prefsPage(); }
    else if (p === "/mine") { if (!needSession()) await ownList("/me/listings", t("mine")); }
    else if (p === "/queue") { if (!needSession()) await ownList("/review-queue", t("queue")); }
    else if (p === "/new") { if (!needSession()) newListing(); }
    else if (p === "/" || p === "") await catalogue(query);
    else $("#view").replaceChildren(h("p", { class: "muted" }, t("notAvailable")), h("a", { href: "#/" }, t("back")));
    if (changed && p !== "/") $("#view h1")?.focus({ preventScroll: true });
  } catch (err) { $("#view").replaceChildren(h("p", { class: "error" }, problem(err))); }
}

function openLogin() {
  $("#login-error").textContent = "";
  $("#login").showModal();
}

async function signIn(email, password) {
  const res = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password }) });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data, res.statusText);
  saveSession(data);
  saveSession({ ...data, me: await api("GET", "/me") });
}

async function afterSignIn() {
  liveStart();
  try { setUnread((await api("GET", "/notifications?limit=1")).unread_count); } catch { /* the socket will say */ }
}

function init() {
  $("#lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("achex.lang", lang);
    renderChrome();
    if (cat) cat.showAll = {};
    route();
  });
  $("#skip").addEventListener("click", (e) => { e.preventDefault(); $("#view").focus(); });
  $("#signin").addEventListener("click", openLogin);
  $("#login-cancel").addEventListener("click", () => $("#login").close());
  $("#signout").addEventListener("click", async () => {
    if (session) await fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: session.refresh_token }) }).catch(() => {});
    saveSession(null); location.hash = "#/"; route();
  });
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    try {
      await signIn(form.email.value, form.password.value);
      $("#login").close(); $("#login-error").textContent = ""; form.password.value = "";
      await afterSignIn();
      route();
    } catch (err) { $("#login-error").textContent = err.message; }
  });
  $("#bell").addEventListener("click", () => (panelOpen ? closePanel() : openPanel()));
  $("#notif-panel").tabIndex = -1;
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && panelOpen) { closePanel(); $("#bell").focus(); } });
  document.addEventListener("click", (e) => { if (panelOpen && !$("#bell-wrap").contains(e.target)) closePanel(); });
  window.addEventListener("hashchange", route);
  window.addEventListener("online", liveNudge);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) liveNudge(); });
  renderChrome();
  if (session) afterSignIn();
  route();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
