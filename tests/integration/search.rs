//! Discovery end to end: listings published through the API are found by Chinese, English and
//! mixed queries, filtered, faceted and sorted exactly as the database says, follow their auction
//! and their withdrawal, and never leak drafts; suggestions, "more like this", safe highlights,
//! saved searches, the indexing metric, and a rebuilt index. The index is fed asynchronously by
//! the outbox indexer, so every test waits for it (`wait_indexed`) before searching.

use achex_core::Clock as _;
use achex_search::SearchIndex as _;
use achex_server::indexer::{Indexer, PositionStore};
use achex_tests::{Actor, Reply, TestApp, reqwest, valid_listing};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    encode_bytes(value.as_bytes())
}

fn encode_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn query_string(params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("?{}", pairs.join("&"))
}

async fn search(app: &TestApp, params: &[(&str, &str)]) -> Reply {
    app.get(&format!("/api/v1/search{}", query_string(params)), None).await
}

/// A successful search's body.
async fn found(app: &TestApp, params: &[(&str, &str)]) -> Value {
    search(app, params).await.assert_status(200).clone()
}

async fn suggest(app: &TestApp, params: &[(&str, &str)]) -> Reply {
    app.get(&format!("/api/v1/search/suggest{}", query_string(params)), None).await
}

async fn similar(app: &TestApp, id: &str, params: &[(&str, &str)]) -> Reply {
    app.get(&format!("/api/v1/listings/{id}/similar{}", query_string(params)), None).await
}

/// The listing ids of a search or similar reply, in order.
fn hit_ids(body: &Value) -> Vec<String> {
    body["hits"].as_array().expect("hits").iter().map(|h| h["listing_id"].as_str().unwrap().to_owned()).collect()
}

/// The listing ids of a suggest reply, in order.
fn suggested_ids(body: &Value) -> Vec<String> {
    body["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .map(|s| s["listing_id"].as_str().unwrap().to_owned())
        .collect()
}

fn set<S: AsRef<str>>(ids: &[S]) -> BTreeSet<String> {
    ids.iter().map(|s| s.as_ref().to_owned()).collect()
}

/// `(field, code)` pairs of a 422 `validation_failed` reply, sorted.
#[track_caller]
fn field_errors(reply: &Reply) -> Vec<(String, String)> {
    reply.assert_error(422, "validation_failed");
    let mut fields: Vec<(String, String)> = reply.body["error"]["details"]["fields"]
        .as_array()
        .expect("details.fields")
        .iter()
        .map(|f| (f["field"].as_str().unwrap().to_owned(), f["code"].as_str().unwrap().to_owned()))
        .collect();
    fields.sort();
    fields
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
    v.sort();
    v
}

/// Removes the only markup a highlight may contain; what is left must have no markup at all.
#[track_caller]
fn assert_safe(html: &str) {
    let stripped = html.replace("<mark>", "").replace("</mark>", "");
    assert!(!stripped.contains('<') && !stripped.contains('>'), "unsafe highlight {html:?}");
}

/// `valid_listing()` about another subject: title and summary `(title, summary)` in the
/// languages given (the summary doubles as description; a missing language is left out), with
/// these keywords instead of the battery ones.
fn about(zh: Option<(&str, &str)>, en: Option<(&str, &str)>, keywords: &[&str]) -> Value {
    let text = |title: bool| {
        let mut versions = serde_json::Map::new();
        for (lang, pair) in [("zh", zh), ("en", en)] {
            if let Some((t, summary)) = pair {
                versions.insert(lang.into(), json!(if title { t } else { summary }));
            }
        }
        Value::Object(versions)
    };
    let mut body = valid_listing();
    body["title"] = text(true);
    body["summary"] = text(false);
    body["description"] = text(false);
    body["keywords"] = json!(keywords);
    body
}

async fn create(app: &TestApp, owner: &Actor, body: Value) -> String {
    let reply = app.post("/api/v1/listings", Some(&owner.token), body).await;
    reply.assert_status(201)["id"].as_str().unwrap().to_owned()
}

async fn submit(app: &TestApp, owner: &Actor, id: &str) {
    app.post(&format!("/api/v1/listings/{id}/submit"), Some(&owner.token), json!({})).await.assert_status(200);
}

/// Creates, submits and approves a listing with this body; returns its id.
async fn publish(app: &TestApp, owner: &Actor, reviewer: &Actor, body: Value) -> String {
    let id = create(app, owner, body).await;
    submit(app, owner, &id).await;
    app.post(&format!("/api/v1/listings/{id}/review"), Some(&reviewer.token), json!({"decision": "approve"}))
        .await
        .assert_status(200);
    id
}

async fn withdraw(app: &TestApp, owner: &Actor, id: &str) {
    app.post(&format!("/api/v1/listings/{id}/withdraw"), Some(&owner.token), json!({})).await.assert_status(200);
}

/// Puts `listing` up as an English lot of ¥1,000 (increments of ¥100) from `starts` to `ends`
/// minutes after the server's now; returns the lot's id.
async fn english_lot(app: &TestApp, owner: &Actor, listing: &str, starts: i64, ends: i64) -> String {
    let now = app.clock.now();
    let body = json!({
        "format": "english",
        "starting_price": {"amount": 100_000, "currency": "CNY"},
        "increment": {"amount": 10_000, "currency": "CNY"},
        "deposit": {"amount": 10_000, "currency": "CNY"},
        "starts_at": now + Duration::minutes(starts),
        "ends_at": now + Duration::minutes(ends),
        "extension": {"window_secs": 60, "extend_secs": 120},
    });
    let reply = app.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&owner.token), body).await;
    reply.assert_status(201)["id"].as_str().unwrap().to_owned()
}

/// An institute whose name shares no word with any query of this module.
async fn institute(app: &TestApp) -> Actor {
    app.verified_institute("Test University").await
}

fn rice() -> Value {
    about(
        Some(("水稻抗病育种技术", "分子标记辅助选育抗稻瘟病水稻品种。")),
        Some(("Disease-resistant rice breeding", "Marker-assisted selection of blast-resistant rice.")),
        &["水稻", "育种"],
    )
}

// ---------------------------------------------------------------------------------------------
// Language

#[tokio::test]
async fn a_chinese_query_for_lithium_batteries_finds_the_lithium_ion_battery_listing_and_not_an_unrelated_one() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let battery = publish(&app, &owner, &reviewer, valid_listing()).await;
    let rice = publish(&app, &owner, &reviewer, rice()).await;
    app.wait_indexed().await;

    let body = found(&app, &[("q", "锂电池")]).await;
    let ids = hit_ids(&body);
    assert_eq!(ids, vec![battery.clone()], "锂电池 must reach the 锂离子电池 listing only: {body:#}");
    assert_eq!(body["total"], 1);
    assert!(!ids.contains(&rice));
    let hit = &body["hits"][0];
    assert_eq!(hit["title"]["zh"], "一种高能量密度锂离子电池正极材料");
    assert_eq!(hit["kind"], "invention_patent");
    assert_eq!(hit["institute"], json!({"id": owner.organization_id, "name": "Test University", "verified": true}));
    assert_eq!(hit["price"]["amount"], 150_000_000);
    assert!(hit["published_at"].is_string(), "{hit}");
    assert!(hit["auction"].is_null(), "{hit}");

    // The other direction: the rice listing is found by its own words and the battery one is not.
    let body = found(&app, &[("q", "水稻")]).await;
    assert_eq!(hit_ids(&body), vec![rice]);
}

#[tokio::test]
async fn a_chinese_word_query_does_not_match_listings_that_only_share_one_of_its_characters() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let ai = publish(
        &app,
        &owner,
        &reviewer,
        about(Some(("基于人工智能的工业缺陷检测系统", "利用人工智能识别产品表面缺陷。")), None, &["缺陷检测"]),
    )
    .await;
    let people = publish(
        &app,
        &owner,
        &reviewer,
        about(Some(("人民调解案件管理平台", "面向基层人民调解员的案件登记与统计。")), None, &["调解"]),
    )
    .await;
    let personal = publish(
        &app,
        &owner,
        &reviewer,
        about(Some(("个人健康档案隐私保护方法", "对个人健康数据进行加密存储。")), None, &["隐私保护"]),
    )
    .await;
    app.wait_indexed().await;

    let body = found(&app, &[("q", "人工智能")]).await;
    let ids = hit_ids(&body);
    assert_eq!(ids, vec![ai.clone()], "人民 ({people}) and 个人 ({personal}) share only 人: {body:#}");
    assert_eq!(body["total"], 1);
    let title = body["hits"][0]["highlights"]["title"].as_str().expect("a title highlight");
    assert!(title.contains("<mark>人工智能</mark>"), "{title}");
    // The single character is still searchable for what really contains it as a word.
    let body = found(&app, &[("q", "人民")]).await;
    assert_eq!(hit_ids(&body), vec![people]);
}

#[tokio::test]
async fn a_mixed_language_query_finds_a_chinese_only_and_an_english_only_listing_about_batteries() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let zh_only = publish(
        &app,
        &owner,
        &reviewer,
        about(Some(("锂离子电池隔膜陶瓷涂层", "提高隔膜耐热性的陶瓷涂层工艺。")), None, &["隔膜"]),
    )
    .await;
    let en_only = publish(
        &app,
        &owner,
        &reviewer,
        about(None, Some(("Solid-state battery electrolyte", "A sulfide electrolyte that keeps the cell safe.")), &[]),
    )
    .await;
    let rice = publish(&app, &owner, &reviewer, rice()).await;
    app.wait_indexed().await;

    let body = found(&app, &[("q", "锂电池 battery")]).await;
    assert_eq!(set(&hit_ids(&body)), set(&[&zh_only, &en_only]), "{body:#}");
    assert_eq!(body["total"], 2);
    assert!(!hit_ids(&body).contains(&rice));
    // Each part alone finds its own language's listing.
    assert_eq!(hit_ids(&found(&app, &[("q", "锂电池")]).await), vec![zh_only.clone()]);
    assert_eq!(hit_ids(&found(&app, &[("q", "battery")]).await), vec![en_only.clone()]);
    // The language filter keeps listings written in that language.
    let body = found(&app, &[("q", "锂电池 battery"), ("lang", "en")]).await;
    assert_eq!(hit_ids(&body), vec![en_only]);
    let body = found(&app, &[("q", "锂电池 battery"), ("lang", "zh")]).await;
    assert_eq!(hit_ids(&body), vec![zh_only]);
}

#[tokio::test]
async fn an_english_plural_and_a_one_letter_typo_find_the_singular_word() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let battery = publish(
        &app,
        &owner,
        &reviewer,
        about(None, Some(("Solid-state battery electrolyte", "A sulfide electrolyte that keeps the cell safe.")), &[]),
    )
    .await;
    publish(&app, &owner, &reviewer, rice()).await;
    app.wait_indexed().await;

    // Typos within one edit of an indexed word (the documented tolerance): a dropped letter, a
    // wrong letter. ("baterry" is two edits from "battery" and is not expected to match.)
    for q in ["batteries", "Battery", "BATTERIES", "batery", "electrolytes", "electrolite", "electrolyt"] {
        let body = found(&app, &[("q", q)]).await;
        assert_eq!(hit_ids(&body), vec![battery.clone()], "{q:?} must find the battery listing: {body:#}");
    }
    let body = found(&app, &[("q", "batteries")]).await;
    let title = body["hits"][0]["highlights"]["title"].as_str().expect("a title highlight");
    assert!(title.contains("<mark>battery</mark>"), "the stemmed match is highlighted: {title}");
    // A word the listing does not contain (and is no typo of one of its words) finds nothing.
    assert_eq!(found(&app, &[("q", "capacitor")]).await["total"], 0);
}

// ---------------------------------------------------------------------------------------------
// Filters, facets, sorts

/// What one listing of the filter test is, so the expected answers are computed from it.
struct Spec {
    kind: &'static str,
    trl: u8,
    region: &'static str,
    discipline: &'static str,
    modes: &'static [&'static str],
    /// Asking price in fen; `None` is negotiable.
    price: Option<i64>,
    zh: bool,
    en: bool,
    /// Index into the two institutes.
    institute: usize,
    /// Carries the keyword 石墨烯 / graphene.
    graphene: bool,
}

const WAN: i64 = 1_000_000; // ¥10,000 in fen

fn specs() -> Vec<Spec> {
    // kind, TRL, region, discipline, transfer modes, price in ¥10,000, languages, institute, graphene
    let s = |kind, trl, region, discipline, modes, wan: Option<i64>, langs: &str, institute, graphene| Spec {
        kind,
        trl,
        region,
        discipline,
        modes,
        price: wan.map(|w| w * WAN),
        zh: langs.contains("zh"),
        en: langs.contains("en"),
        institute,
        graphene,
    };
    vec![
        s("invention_patent", 6, "大连", "材料科学", &["assignment", "exclusive_license"], Some(150), "zh en", 0, true),
        s("invention_patent", 3, "北京", "能源", &["non_exclusive_license"], Some(30), "zh", 0, false),
        s("software_copyright", 8, "北京", "计算机科学", &["assignment"], None, "en", 1, true),
        s("know_how", 5, "上海", "化学", &["joint_development", "equity"], Some(80), "zh", 1, true),
        s("utility_model", 7, "大连", "机械工程", &["exclusive_license"], Some(50), "zh en", 0, false),
        s("new_plant_variety", 9, "江苏", "农学", &["assignment", "non_exclusive_license"], None, "zh", 1, false),
        s("ic_layout", 4, "上海", "电子工程", &["equity"], Some(500), "en", 0, false),
        s("other", 2, "江苏", "材料科学", &["joint_development"], Some(10), "zh", 1, true),
    ]
}

/// A distinct subject per listing, so no two share a word unless the spec says so.
const SUBJECTS: [(&str, &str); 8] = [
    ("高导热复合薄膜", "Thermally conductive composite film"),
    ("钠硫储热装置", "Sodium sulfur heat store"),
    ("工业视觉标注软件", "Industrial vision labelling software"),
    ("催化裂化工艺诀窍", "Catalytic cracking know-how"),
    ("自锁式管道接头", "Self-locking pipe coupling"),
    ("耐盐碱小麦新品种", "Salt-tolerant wheat variety"),
    ("低噪声放大器版图", "Low-noise amplifier layout"),
    ("柔性加热涂料", "Flexible heating paint"),
];

fn spec_body(spec: &Spec, subject: (&str, &str)) -> Value {
    let (zh_title, en_title) = subject;
    let zh = spec.zh.then_some((zh_title, zh_title));
    let en = spec.en.then_some((en_title, en_title));
    let keyword = match (spec.graphene, spec.zh) {
        (false, _) => vec![],
        (true, true) => vec!["石墨烯"],
        (true, false) => vec!["graphene"],
    };
    let mut body = about(zh, en, &keyword);
    body["kind"] = json!(spec.kind);
    body["trl"] = json!(spec.trl);
    body["region"] = json!(spec.region);
    body["discipline"] = json!(spec.discipline);
    body["transfer_modes"] = json!(spec.modes);
    body["asking_price"] = match spec.price {
        Some(amount) => json!({"amount": amount, "currency": "CNY"}),
        None => Value::Null,
    };
    body
}

type Predicate = Box<dyn Fn(&Spec) -> bool>;

#[tokio::test]
async fn filters_facets_and_sorts_agree_exactly_with_the_listings_created() {
    let app = TestApp::spawn().await;
    let institutes = [institute(&app).await, app.verified_institute("Second Test University").await];
    let reviewer = app.reviewer().await;
    let specs = specs();
    let mut ids = Vec::new();
    for (spec, subject) in specs.iter().zip(SUBJECTS) {
        ids.push(publish(&app, &institutes[spec.institute], &reviewer, spec_body(spec, subject)).await);
        // Distinct publication times, oldest first, for the `newest` sort.
        app.clock.advance(Duration::seconds(1));
    }
    // Never public: must not count anywhere.
    create(&app, &institutes[0], spec_body(&specs[0], SUBJECTS[0])).await;
    let in_review = create(&app, &institutes[1], spec_body(&specs[2], SUBJECTS[2])).await;
    submit(&app, &institutes[1], &in_review).await;
    app.wait_indexed().await;

    let institute_a = || institutes[0].organization_id.clone();
    let cases: Vec<(Vec<(&str, String)>, Predicate)> = vec![
        (vec![], Box::new(|_| true)),
        (vec![("kind", "invention_patent".into())], Box::new(|s| s.kind == "invention_patent")),
        (vec![("discipline", "材料科学".into())], Box::new(|s| s.discipline == "材料科学")),
        (vec![("trl_min", "5".into()), ("trl_max", "7".into())], Box::new(|s| (5..=7).contains(&s.trl))),
        (vec![("trl_min", "8".into())], Box::new(|s| s.trl >= 8)),
        (vec![("trl_max", "3".into())], Box::new(|s| s.trl <= 3)),
        (vec![("transfer_mode", "assignment".into())], Box::new(|s| s.modes.contains(&"assignment"))),
        (vec![("transfer_mode", "equity".into())], Box::new(|s| s.modes.contains(&"equity"))),
        (vec![("institute", institute_a())], Box::new(|s| s.institute == 0)),
        (vec![("region", "北京".into())], Box::new(|s| s.region == "北京")),
        (
            vec![("price_min", (30 * WAN).to_string()), ("price_max", (80 * WAN).to_string())],
            Box::new(|s| s.price.is_some_and(|p| (30 * WAN..=80 * WAN).contains(&p))),
        ),
        (vec![("price_max", (50 * WAN).to_string())], Box::new(|s| s.price.is_some_and(|p| p <= 50 * WAN))),
        (vec![("price_min", (50 * WAN).to_string())], Box::new(|s| s.price.is_some_and(|p| p >= 50 * WAN))),
        (vec![("lang", "en".into())], Box::new(|s| s.en)),
        (vec![("lang", "zh".into())], Box::new(|s| s.zh)),
        (vec![("auction", "none".into())], Box::new(|_| true)),
        (vec![("auction", "live".into())], Box::new(|_| false)),
        (
            vec![("kind", "invention_patent".into()), ("region", "大连".into())],
            Box::new(|s| s.kind == "invention_patent" && s.region == "大连"),
        ),
        (
            vec![("transfer_mode", "non_exclusive_license".into()), ("trl_min", "4".into())],
            Box::new(|s| s.modes.contains(&"non_exclusive_license") && s.trl >= 4),
        ),
        (
            vec![("institute", institute_a()), ("lang", "en".into()), ("price_min", "1".into())],
            Box::new(|s| s.institute == 0 && s.en && s.price.is_some()),
        ),
        (vec![("region", "nowhere".into())], Box::new(|_| false)),
        (vec![("q", "石墨烯".into())], Box::new(|s| s.graphene)),
        (vec![("q", "graphene".into())], Box::new(|s| s.graphene)),
        (vec![("q", "石墨烯".into()), ("region", "上海".into())], Box::new(|s| s.graphene && s.region == "上海")),
        (vec![("q", "石墨烯".into()), ("lang", "en".into())], Box::new(|s| s.graphene && s.en)),
    ];

    let mut problems = Vec::new();
    for (params, predicate) in &cases {
        let matching: Vec<(&Spec, &String)> = specs.iter().zip(&ids).filter(|(s, _)| predicate(s)).collect();
        let mut params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        params.push(("per_page", "100"));
        let body = found(&app, &params).await;
        let expected_ids: BTreeSet<String> = matching.iter().map(|(_, id)| (*id).clone()).collect();
        if set(&hit_ids(&body)) != expected_ids || body["total"] != matching.len() {
            problems.push(format!(
                "{params:?}: expected {} listings {expected_ids:?}, got total {} and {:?}",
                matching.len(),
                body["total"],
                hit_ids(&body)
            ));
        }
        let mut expected: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
        for facet in ["kind", "discipline", "transfer_mode", "trl", "region"] {
            expected.insert(facet, BTreeMap::new());
        }
        for (spec, _) in &matching {
            let mut count = |facet: &'static str, value: String| {
                *expected.get_mut(facet).unwrap().entry(value).or_default() += 1;
            };
            count("kind", spec.kind.into());
            count("discipline", spec.discipline.into());
            count("trl", spec.trl.to_string());
            count("region", spec.region.into());
            for mode in spec.modes {
                count("transfer_mode", (*mode).into());
            }
        }
        for (facet, counts) in expected {
            let got: BTreeMap<String, u64> = serde_json::from_value(body["facets"][facet].clone()).unwrap_or_default();
            let got: BTreeMap<String, u64> = got.into_iter().filter(|(_, n)| *n > 0).collect();
            if got != counts {
                problems.push(format!("{params:?}: facet {facet} is {got:?}, expected {counts:?}"));
            }
        }
    }

    // Sorts: strict, and the negotiable listings last either way.
    let by_id: BTreeMap<&String, &Spec> = ids.iter().zip(&specs).collect();
    let price_of = |id: &String| by_id[id].price;
    for (sort, descending) in [("price_asc", false), ("price_desc", true)] {
        let body = found(&app, &[("sort", sort), ("per_page", "100")]).await;
        let order = hit_ids(&body);
        let prices: Vec<Option<i64>> = order.iter().map(price_of).collect();
        let mut expected: Vec<i64> = specs.iter().filter_map(|s| s.price).collect();
        expected.sort_unstable();
        if descending {
            expected.reverse();
        }
        let priced: Vec<i64> = prices.iter().map_while(|p| *p).collect();
        if priced != expected || prices[priced.len()..].iter().any(Option::is_some) || order.len() != specs.len() {
            problems.push(format!("sort={sort}: prices in order {prices:?}, expected {expected:?} then the unpriced"));
        }
        for hit in body["hits"].as_array().unwrap() {
            let id = hit["listing_id"].as_str().unwrap().to_owned();
            if hit["price"]["amount"].as_i64() != price_of(&id) {
                problems.push(format!("sort={sort}: hit {id} shows price {}", hit["price"]));
            }
        }
    }
    let body = found(&app, &[("sort", "newest"), ("per_page", "100")]).await;
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    if hit_ids(&body) != newest_first {
        problems.push(format!("sort=newest: {:?}, expected {newest_first:?}", hit_ids(&body)));
    }
    let times: Vec<DateTime<Utc>> =
        body["hits"].as_array().unwrap().iter().map(|h| h["published_at"].as_str().unwrap().parse().unwrap()).collect();
    if !times.windows(2).all(|w| w[0] > w[1]) {
        problems.push(format!("sort=newest: published_at not descending: {times:?}"));
    }
    // A filtered sort is still strict and still only the filtered set.
    let body = found(&app, &[("sort", "price_asc"), ("transfer_mode", "assignment")]).await;
    let prices: Vec<Option<i64>> = hit_ids(&body).iter().map(price_of).collect();
    if prices != [Some(150 * WAN), None, None] {
        problems.push(format!("sort=price_asc&transfer_mode=assignment: prices {prices:?}"));
    }
    // Pages are disjoint and add up to the total.
    let mut paged = Vec::new();
    for page in ["1", "2", "3"] {
        let body = found(&app, &[("sort", "newest"), ("per_page", "3"), ("page", page)]).await;
        assert_eq!(body["total"], 8, "{body:#}");
        assert_eq!((body["page"].as_u64(), body["per_page"].as_u64()), (Some(page.parse().unwrap()), Some(3)));
        paged.extend(hit_ids(&body));
    }
    if paged != newest_first {
        problems.push(format!("pages of 3, newest first: {paged:?}, expected {newest_first:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Visibility

#[tokio::test]
async fn a_withdrawn_listing_leaves_results_suggestions_and_similar_and_unpublished_ones_never_appear() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let leaving = publish(
        &app,
        &owner,
        &reviewer,
        about(
            Some(("钙钛矿太阳能电池封装工艺", "钙钛矿电池的柔性封装。")),
            Some(("Perovskite solar cell encapsulation", "Flexible encapsulation for perovskite cells.")),
            &["钙钛矿"],
        ),
    )
    .await;
    let staying = publish(
        &app,
        &owner,
        &reviewer,
        about(
            Some(("钙钛矿太阳能电池空穴传输层", "钙钛矿电池的无机空穴传输层。")),
            Some((
                "Perovskite solar cell hole transport layer",
                "An inorganic hole transport layer for perovskite cells.",
            )),
            &["钙钛矿"],
        ),
    )
    .await;
    let draft = create(
        &app,
        &owner,
        about(
            Some(("沸石分子筛膜", "用于气体分离的沸石膜。")),
            Some(("Zeolite membrane", "A zeolite membrane for gas separation.")),
            &[],
        ),
    )
    .await;
    let in_review = create(
        &app,
        &owner,
        about(
            Some(("金属有机框架吸附剂", "捕集二氧化碳的金属有机框架。")),
            Some(("Metal-organic framework adsorbent", "A framework adsorbent that captures carbon dioxide.")),
            &[],
        ),
    )
    .await;
    submit(&app, &owner, &in_review).await;
    let rejected = create(
        &app,
        &owner,
        about(
            Some(("沸石催化剂再生方法", "沸石催化剂的低温再生。")),
            Some(("Zeolite catalyst regeneration", "Zeolite regeneration.")),
            &[],
        ),
    )
    .await;
    submit(&app, &owner, &rejected).await;
    app.post(
        &format!("/api/v1/listings/{rejected}/review"),
        Some(&reviewer.token),
        json!({"decision": "reject", "reason": "补充材料"}),
    )
    .await
    .assert_status(200);
    app.wait_indexed().await;

    // Before: both perovskite listings are found everywhere.
    let body = found(&app, &[("q", "perovskite")]).await;
    assert_eq!(set(&hit_ids(&body)), set(&[&leaving, &staying]), "{body:#}");
    let body = suggest(&app, &[("q", "perov")]).await;
    assert_eq!(set(&suggested_ids(body.assert_status(200))), set(&[&leaving, &staying]));
    let body = similar(&app, &staying, &[]).await;
    assert!(hit_ids(body.assert_status(200)).contains(&leaving), "{:#}", body.body);

    // Unpublished listings are nowhere, by any of their words.
    for q in ["zeolite", "沸石", "metal-organic framework", "金属有机框架", "吸附剂"] {
        let body = found(&app, &[("q", q)]).await;
        assert_eq!((body["total"].as_u64(), hit_ids(&body)), (Some(0), vec![]), "{q:?}: {body:#}");
    }
    for q in ["zeol", "沸石", "metal-org", "金属有机"] {
        let body = suggest(&app, &[("q", q)]).await;
        assert_eq!(suggested_ids(body.assert_status(200)), Vec::<String>::new(), "suggest {q:?}");
    }
    let body = found(&app, &[("per_page", "100")]).await;
    assert_eq!(set(&hit_ids(&body)), set(&[&leaving, &staying]), "browsing shows only public listings");
    assert_eq!(body["total"], 2);
    for id in [&draft, &in_review, &rejected] {
        similar(&app, id, &[]).await.assert_error(404, "not_found");
    }

    withdraw(&app, &owner, &leaving).await;
    app.wait_indexed().await;

    let body = found(&app, &[("q", "perovskite")]).await;
    assert_eq!(hit_ids(&body), vec![staying.clone()], "{body:#}");
    assert_eq!(body["total"], 1, "the index itself forgot it, not just the page");
    assert_eq!(found(&app, &[("q", "封装")]).await["total"], 0);
    let body = found(&app, &[]).await;
    assert_eq!((body["total"].as_u64(), hit_ids(&body)), (Some(1), vec![staying.clone()]));
    assert_eq!(body["facets"]["kind"], json!({"invention_patent": 1}));
    let body = suggest(&app, &[("q", "perov")]).await;
    assert_eq!(suggested_ids(body.assert_status(200)), vec![staying.clone()]);
    let body = similar(&app, &staying, &[]).await;
    assert!(!hit_ids(body.assert_status(200)).contains(&leaving), "{:#}", body.body);
    similar(&app, &leaving, &[]).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn hit_facts_read_beside_the_pool_are_the_pools_own_for_public_withdrawn_draft_and_auctioned_listings() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let plain = publish(&app, &owner, &reviewer, rice()).await;
    let gone = publish(&app, &owner, &reviewer, valid_listing()).await;
    withdraw(&app, &owner, &gone).await;
    let lot_listing = publish(&app, &owner, &reviewer, valid_listing()).await;
    let draft = create(&app, &owner, valid_listing()).await;
    let now = app.clock.now();
    let auction = json!(english_lot(&app, &owner, &lot_listing, 10, 40).await);

    let id = |s: &str| s.parse::<achex_core::ListingId>().expect("a listing id");
    let ids: Vec<_> = [&plain, &gone, &lot_listing, &draft].map(|s| id(s)).into_iter().collect();
    let served = app.state.store.reads_beside_the_pool();
    let beside = app.state.store.public_hit_facts(&ids).await.expect("the facts");
    let expected = if app.backend == "sqlite" { served + 1 } else { 0 };
    assert_eq!(app.state.store.reads_beside_the_pool(), expected, "on SQLite, read beside the pool");
    let pooled = app.state.store.reading_through_the_pool_only().public_hit_facts(&ids).await.expect("the facts");
    assert_eq!(beside, pooled);
    let public: BTreeSet<String> = beside.keys().map(|k| k.to_string()).collect();
    assert_eq!(public, set(&[&plain, &lot_listing]), "neither the withdrawn listing nor the draft");
    let (shown, state) = beside[&id(&lot_listing)].open_lot.clone().expect("an open lot");
    assert_eq!(json!(shown.to_string()), auction);
    assert_eq!((state.current_price, state.starts_at), (None, now + Duration::minutes(10)));
    assert_eq!(beside[&id(&plain)].open_lot, None);
    assert_eq!(beside[&id(&plain)].institute.name, "Test University");
    assert!(beside[&id(&plain)].institute.verified);
}

#[tokio::test]
async fn the_auction_filter_follows_a_lot_from_upcoming_to_live_to_closed() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let lot_listing = publish(&app, &owner, &reviewer, valid_listing()).await;
    let plain = publish(&app, &owner, &reviewer, rice()).await;
    let auction = english_lot(&app, &owner, &lot_listing, 10, 20).await;
    app.wait_indexed().await;

    let by_state = |state: &'static str| {
        let app = &app;
        async move { found(app, &[("auction", state), ("per_page", "100")]).await }
    };
    let body = by_state("upcoming").await;
    assert_eq!(hit_ids(&body), vec![lot_listing.clone()], "{body:#}");
    let brief = &body["hits"][0]["auction"];
    assert_eq!((brief["id"].as_str(), brief["status"].as_str()), (Some(auction.as_str()), Some("upcoming")), "{brief}");
    assert_eq!(hit_ids(&by_state("live").await), Vec::<String>::new());
    assert_eq!(hit_ids(&by_state("none").await), vec![plain.clone()]);
    // The lot's listing sorts first by ending soonest; the listing without an auction after it.
    let body = found(&app, &[("sort", "ending_soon")]).await;
    assert_eq!(hit_ids(&body), vec![lot_listing.clone(), plain.clone()]);
    // A text search shows the lot too.
    let body = found(&app, &[("q", "锂电池"), ("auction", "upcoming")]).await;
    assert_eq!(hit_ids(&body), vec![lot_listing.clone()]);

    app.clock.advance(Duration::minutes(11));
    app.tick().await;
    app.wait_indexed().await;
    let body = by_state("live").await;
    assert_eq!(hit_ids(&body), vec![lot_listing.clone()], "after starts_at the lot is live: {body:#}");
    let brief = &body["hits"][0]["auction"];
    assert_eq!((brief["id"].as_str(), brief["status"].as_str()), (Some(auction.as_str()), Some("live")), "{brief}");
    assert_eq!(hit_ids(&by_state("upcoming").await), Vec::<String>::new());
    assert_eq!(hit_ids(&by_state("none").await), vec![plain.clone()]);

    app.clock.advance(Duration::minutes(10));
    app.tick().await;
    app.wait_indexed().await;
    let body = by_state("none").await;
    assert_eq!(set(&hit_ids(&body)), set(&[&lot_listing, &plain]), "after the close no lot is open: {body:#}");
    assert!(body["hits"].as_array().unwrap().iter().all(|h| h["auction"].is_null()), "{body:#}");
    assert_eq!(hit_ids(&by_state("live").await), Vec::<String>::new());
    assert_eq!(hit_ids(&by_state("upcoming").await), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Robustness and validation

/// A small deterministic generator (SplitMix64): the same strings on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "\"",
    "'",
    "“",
    "」",
    "AND",
    "OR",
    "NOT",
    "-x",
    "a:b",
    "title:",
    "(((",
    ")",
    "[",
    "}",
    "*",
    "?",
    "~2",
    "^3",
    "\\",
    "\\\\",
    "/",
    "🚀",
    "👩‍🔬",
    "مرحبا بالعالم",
    "שלום",
    "\u{202E}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{E000}",
    "\u{0}",
    "\u{1}",
    "\u{7}",
    "\u{1b}[31m",
    "\u{7f}",
    "\t",
    "\n",
    "\r\n",
    " ",
    "e\u{301}",
    "ＡＢＣ",
    "０１２",
    "锂电池",
    "人工智能",
    "電池",
    "的",
    "battery",
    "batteries",
    "baterry",
    "the",
    "<script>",
    "&amp;",
    "%",
    "%%",
    "+",
    "#",
    "&",
    "=",
    ";",
    "${x}",
    "'; DROP TABLE listings; --",
    "1e309",
    "-0",
    "NaN",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

const SORTS: [&str; 5] = ["relevance", "newest", "price_asc", "price_desc", "ending_soon"];

#[tokio::test]
async fn no_query_string_whatever_its_bytes_makes_search_or_suggest_fail_with_a_server_error() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    publish(&app, &owner, &reviewer, valid_listing()).await;
    publish(&app, &owner, &reviewer, rice()).await;
    publish(
        &app,
        &owner,
        &reviewer,
        about(
            Some(("基于人工智能的缺陷检测", "人工智能 & <深度> \"学习\"。")),
            Some(("AI defect detection", "x AND y OR NOT z")),
            &[],
        ),
    )
    .await;
    app.wait_indexed().await;

    let mut inputs: Vec<Vec<u8>> = [
        "",
        " ",
        "\"",
        "\"\"",
        "\"unterminated phrase",
        "“锂电池",
        "AND OR NOT",
        "-x",
        "a:b",
        "(((",
        "*",
        "\\",
        "🚀🚀🚀",
        "مرحبا",
        "\u{0}",
        "\u{0}\u{1}\u{2}\u{1f}",
        "\"锂电池\" -battery (AND) \"",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    inputs.push("人".repeat(1_000).into_bytes());
    inputs.push("锂电池 ".repeat(250).into_bytes());
    inputs.push("人".repeat(1_001).into_bytes());
    inputs.push("x".repeat(1_000).into_bytes());
    inputs.push("x".repeat(1_001).into_bytes());
    let mut rng = SplitMix(0x5EED_AC4E_5EA2_C401);
    for _ in 0..300 {
        let mut q = String::new();
        for _ in 0..1 + rng.below(12) {
            q.push_str(PIECES[rng.below(PIECES.len())]);
            if rng.below(3) == 0 {
                q.push(' ');
            }
        }
        inputs.push(q.into_bytes());
    }
    for i in 0..200 {
        // Mostly short, a few long enough to cross the limit once decoded.
        let len = if i % 25 == 0 { 900 + rng.below(2_000) } else { rng.below(64) };
        inputs.push((0..len).map(|_| rng.next() as u8).collect());
    }

    let mut problems = Vec::new();
    for (i, bytes) in inputs.iter().enumerate() {
        // The server decodes the query leniently (invalid UTF-8 becomes U+FFFD).
        let chars = String::from_utf8_lossy(bytes).chars().count();
        let mut path = format!("/api/v1/search?q={}&sort={}", encode_bytes(bytes), SORTS[i % SORTS.len()]);
        if i % 3 == 0 {
            path.push_str(if i % 2 == 0 { "&lang=zh" } else { "&lang=en&trl_min=2" });
        }
        let reply = app.get(&path, None).await;
        let expected = if chars <= 1_000 { 200 } else { 422 };
        if reply.status.as_u16() != expected {
            problems.push(format!("search q={bytes:?} ({chars} chars): {} {}", reply.status, reply.body));
        } else if expected == 422 && reply.code() != Some("validation_failed") {
            problems.push(format!("search q={bytes:?}: 422 without validation_failed: {}", reply.body));
        } else if expected == 200 {
            for hit in reply.body["hits"].as_array().unwrap() {
                for html in hit["highlights"].as_object().unwrap().values() {
                    let html = html.as_str().unwrap();
                    let stripped = html.replace("<mark>", "").replace("</mark>", "");
                    if stripped.contains('<') || stripped.contains('>') {
                        problems.push(format!("search q={bytes:?}: unsafe highlight {html:?}"));
                    }
                }
            }
        }
        let reply = app.get(&format!("/api/v1/search/suggest?q={}", encode_bytes(bytes)), None).await;
        let expected = if chars <= 100 { 200 } else { 422 };
        if reply.status.as_u16() != expected {
            problems.push(format!("suggest q={bytes:?} ({chars} chars): {} {}", reply.status, reply.body));
        }
    }
    assert!(problems.is_empty(), "{} of {} inputs misbehaved:\n{}", problems.len(), inputs.len(), problems.join("\n"));

    // A 10 KB paste is a clean validation error on `q`, not a server error.
    let paste = "battery ".repeat(1_280);
    assert_eq!(paste.len(), 10_240);
    let reply = search(&app, &[("q", &paste)]).await;
    assert_eq!(field_errors(&reply), pairs(&[("q", "too_long")]));
}

#[tokio::test]
async fn every_invalid_search_parameter_is_reported_by_name_in_one_reply_and_unknown_ones_are_refused() {
    let app = TestApp::spawn().await;
    let reply = search(
        &app,
        &[
            ("trl_min", "0"),
            ("sort", "cheapest"),
            ("per_page", "101"),
            ("auction", "soon"),
            ("price_min", "500"),
            ("price_max", "100"),
        ],
    )
    .await;
    assert_eq!(
        field_errors(&reply),
        pairs(&[
            ("trl_min", "out_of_range"),
            ("sort", "invalid_value"),
            ("per_page", "out_of_range"),
            ("auction", "invalid_value"),
            ("price_min", "inconsistent"),
        ])
    );
    let reply = search(
        &app,
        &[
            ("kind", "patent"),
            ("trl_max", "10"),
            ("transfer_mode", "gift"),
            ("institute", "not-an-id"),
            ("lang", "fr"),
            ("page", "0"),
            ("price_max", "-5"),
            ("discipline", &"材".repeat(101)),
            ("region", &"x".repeat(101)),
        ],
    )
    .await;
    assert_eq!(
        field_errors(&reply),
        pairs(&[
            ("kind", "invalid_value"),
            ("trl_max", "out_of_range"),
            ("transfer_mode", "invalid_value"),
            ("institute", "invalid_value"),
            ("lang", "invalid_value"),
            ("page", "out_of_range"),
            ("price_max", "out_of_range"),
            ("discipline", "too_long"),
            ("region", "too_long"),
        ])
    );
    for (params, expected) in [
        (vec![("trl_min", "7"), ("trl_max", "3")], vec![("trl_min", "inconsistent")]),
        (vec![("page", "101"), ("per_page", "100")], vec![("page", "out_of_range")]),
        (vec![("per_page", "0")], vec![("per_page", "out_of_range")]),
        (vec![("per_page", "ten")], vec![("per_page", "out_of_range")]),
        (vec![("trl_min", "5.5")], vec![("trl_min", "out_of_range")]),
    ] {
        let reply = search(&app, &params).await;
        assert_eq!(field_errors(&reply), pairs(&expected), "{params:?}");
    }
    // Empty values mean "no filter"; the edges of every range are accepted.
    for params in [
        vec![("kind", ""), ("trl_min", " "), ("sort", "")],
        vec![("trl_min", "1"), ("trl_max", "9"), ("per_page", "100"), ("page", "100")],
        vec![("trl_min", "4"), ("trl_max", "4"), ("price_min", "0"), ("price_max", "0")],
    ] {
        search(&app, &params).await.assert_status(200);
    }

    // Unknown parameters are refused rather than silently ignored (a typo would look like a
    // filter that does nothing), on every search endpoint.
    let unknown_paths = [
        "/api/v1/search?q=battery&colour=red".to_owned(),
        "/api/v1/search?trl=6".to_owned(),
        "/api/v1/search/suggest?q=bat&colour=red".to_owned(),
        format!("/api/v1/listings/{}/similar?colour=red", uuid::Uuid::now_v7()),
    ];
    for path in unknown_paths {
        let reply = app.get(&path, None).await;
        reply.assert_error(422, "validation_failed");
        let name = if path.contains("trl=") { "trl" } else { "colour" };
        assert!(reply.body.to_string().contains(name), "{path}: the reply names {name}: {}", reply.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Suggest, similar, highlights

#[tokio::test]
async fn suggestions_complete_a_typed_title_prefix_in_chinese_and_english_with_marks() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let battery = publish(&app, &owner, &reviewer, valid_listing()).await;
    let rice = publish(&app, &owner, &reviewer, rice()).await;
    app.wait_indexed().await;

    let zh_title = "一种高能量密度锂离子电池正极材料";
    let en_title = "A high energy density cathode material for lithium-ion batteries";
    for (typed, id, text) in [
        ("锂离子", &battery, zh_title),
        ("正极材", &battery, zh_title),
        ("lith", &battery, en_title),
        ("Lith", &battery, en_title),
        ("cathode mat", &battery, en_title),
        ("水稻抗", &rice, "水稻抗病育种技术"),
        ("rice bre", &rice, "Disease-resistant rice breeding"),
    ] {
        let reply = suggest(&app, &[("q", typed)]).await;
        let body = reply.assert_status(200);
        assert_eq!(suggested_ids(body), vec![id.clone()], "{typed:?}: {body:#}");
        let suggestion = &body["suggestions"][0];
        assert_eq!(suggestion["text"], text, "{typed:?}");
        let highlighted = suggestion["highlighted"].as_str().unwrap();
        assert!(highlighted.contains("<mark>"), "{typed:?}: {highlighted}");
        assert_safe(highlighted);
        assert_eq!(highlighted.replace("<mark>", "").replace("</mark>", ""), text, "{typed:?}");
    }
    let marked = suggest(&app, &[("q", "lith")]).await.body["suggestions"][0]["highlighted"].clone();
    assert!(marked.as_str().unwrap().to_lowercase().contains("<mark>lith"), "the typed prefix is marked: {marked}");

    for params in [vec![("q", "")], vec![("q", "   ")], vec![]] {
        let reply = suggest(&app, &params).await;
        assert_eq!(reply.assert_status(200)["suggestions"], json!([]), "{params:?}");
    }
    assert_eq!(suggested_ids(suggest(&app, &[("q", "zzyzx")]).await.assert_status(200)), Vec::<String>::new());
    // limit is honoured and checked.
    let reply = suggest(&app, &[("q", "a"), ("limit", "1")]).await;
    assert!(suggested_ids(reply.assert_status(200)).len() <= 1);
    for limit in ["0", "21", "x", "-1"] {
        let reply = suggest(&app, &[("q", "lith"), ("limit", limit)]).await;
        assert_eq!(field_errors(&reply), pairs(&[("limit", "out_of_range")]), "limit={limit}");
    }
    suggest(&app, &[("q", "lith"), ("limit", "20")]).await.assert_status(200);
    let reply = suggest(&app, &[("q", &"x".repeat(101))]).await;
    assert_eq!(field_errors(&reply), pairs(&[("q", "too_long")]));
}

#[tokio::test]
async fn similar_listings_share_the_topic_never_include_the_listing_itself_and_need_a_public_listing() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let cathode = publish(&app, &owner, &reviewer, valid_listing()).await;
    let anode = publish(
        &app,
        &owner,
        &reviewer,
        about(
            Some(("锂离子电池硅碳负极材料", "提高锂离子电池负极容量。")),
            Some((
                "Silicon-carbon anode for lithium-ion batteries",
                "Raises the anode capacity of lithium-ion batteries.",
            )),
            &["锂离子电池"],
        ),
    )
    .await;
    let electrolyte = publish(
        &app,
        &owner,
        &reviewer,
        about(
            Some(("锂离子电池阻燃电解液", "不易燃烧的锂离子电池电解液。")),
            Some(("Flame-retardant electrolyte for lithium-ion batteries", "A non-flammable electrolyte.")),
            &["锂离子电池", "电解液"],
        ),
    )
    .await;
    let rice = publish(&app, &owner, &reviewer, rice()).await;
    let draft = create(&app, &owner, valid_listing()).await;
    app.wait_indexed().await;

    let body = similar(&app, &cathode, &[]).await.assert_status(200).clone();
    let ids = hit_ids(&body);
    assert!(ids.contains(&anode) && ids.contains(&electrolyte), "related battery listings: {body:#}");
    assert!(!ids.contains(&cathode), "never the listing itself: {ids:?}");
    assert!(!ids.contains(&rice), "an unrelated listing is not similar: {ids:?}");
    assert!(!ids.contains(&draft), "a draft is never shown: {ids:?}");
    let hit = body["hits"].as_array().unwrap().iter().find(|h| h["listing_id"] == anode.as_str()).unwrap();
    assert_eq!(hit["title"]["en"], "Silicon-carbon anode for lithium-ion batteries");
    assert_eq!(hit["institute"]["id"], owner.organization_id.as_str());

    for id in [&anode, &electrolyte, &rice] {
        let ids = hit_ids(similar(&app, id, &[("limit", "20")]).await.assert_status(200));
        assert!(!ids.contains(id), "{id} lists itself: {ids:?}");
    }
    let ids = hit_ids(similar(&app, &cathode, &[("limit", "1")]).await.assert_status(200));
    assert_eq!(ids.len(), 1, "limit=1: {ids:?}");

    similar(&app, &draft, &[]).await.assert_error(404, "not_found");
    let reply = app.get(&format!("/api/v1/listings/{draft}/similar"), Some(&owner.token)).await;
    reply.assert_error(404, "not_found");
    similar(&app, &uuid::Uuid::now_v7().to_string(), &[]).await.assert_error(404, "not_found");
    similar(&app, "not-an-id", &[]).await.assert_error(404, "not_found");
    for limit in ["0", "21", "many"] {
        let reply = similar(&app, &cathode, &[("limit", limit)]).await;
        assert_eq!(field_errors(&reply), pairs(&[("limit", "out_of_range")]), "limit={limit}");
    }
}

#[tokio::test]
async fn highlights_escape_markup_in_listing_text_and_use_only_mark_tags() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let id = publish(
        &app,
        &owner,
        &reviewer,
        about(
            Some(("石墨烯<script>alert(1)</script>散热膜", "石墨烯 & <b>导热</b> \"薄膜\"。")),
            Some((
                "Graphene <script>alert(1)</script> heat spreader",
                "Graphene films & <b>bold</b> claims with \"quotes\" and 'apostrophes'.",
            )),
            &["<img src=x onerror=alert(1)>", "石墨烯"],
        ),
    )
    .await;
    app.wait_indexed().await;

    for (q, field_text) in [("graphene", "Graphene"), ("石墨烯", "石墨烯")] {
        let body = found(&app, &[("q", q)]).await;
        assert_eq!(hit_ids(&body), vec![id.clone()], "{q}");
        let highlights = body["hits"][0]["highlights"].as_object().expect("highlights").clone();
        let title = highlights.get("title").and_then(Value::as_str).unwrap_or_else(|| panic!("{q}: {highlights:?}"));
        assert!(title.contains(&format!("<mark>{field_text}</mark>")), "{q}: {title}");
        assert!(title.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{q}: {title}");
        let summary =
            highlights.get("summary").and_then(Value::as_str).unwrap_or_else(|| panic!("{q}: {highlights:?}"));
        assert!(summary.contains("&amp;") && summary.contains("&lt;b&gt;"), "{q}: {summary}");
        for (field, html) in &highlights {
            let html = html.as_str().unwrap();
            assert_safe(html);
            assert!(!html.contains("<script") && !html.contains("<b>") && !html.contains("<img"), "{field}: {html}");
        }
        // The listing's own text is returned as written (JSON, for the client to escape).
        assert_eq!(body["hits"][0]["title"]["en"], "Graphene <script>alert(1)</script> heat spreader");
    }
    for typed in ["graph", "石墨"] {
        let reply = suggest(&app, &[("q", typed)]).await;
        let body = reply.assert_status(200);
        assert_eq!(suggested_ids(body), vec![id.clone()], "{typed}");
        let highlighted = body["suggestions"][0]["highlighted"].as_str().unwrap();
        assert!(highlighted.contains("&lt;script&gt;") && highlighted.contains("<mark>"), "{typed}: {highlighted}");
        assert_safe(highlighted);
    }
    // Searching for the markup itself finds it as text and still escapes it.
    let body = found(&app, &[("q", "<script>alert")]).await;
    for hit in body["hits"].as_array().unwrap() {
        for html in hit["highlights"].as_object().unwrap().values() {
            assert_safe(html.as_str().unwrap());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Saved searches

const SAVED: &str = "/api/v1/saved-searches";

fn saved(id: &str) -> String {
    format!("{SAVED}/{id}")
}

#[tokio::test]
async fn saved_searches_are_created_listed_read_and_deleted_by_their_owner_only() {
    let app = TestApp::spawn().await;
    let me = app.enterprise().await;
    let other = app.enterprise().await;

    let reply = app
        .post(
            SAVED,
            Some(&me.token),
            json!({
                "name": "锂电池 in 大连",
                "query": {"q": "锂电池", "region": "大连", "trl_min": "5", "sort": "newest", "page": "3", "per_page": "50"},
                "alert": "immediate",
            }),
        )
        .await;
    let first = reply.assert_status(201).clone();
    assert_eq!(first["name"], "锂电池 in 大连");
    assert_eq!(
        first["query"],
        json!({"q": "锂电池", "region": "大连", "trl_min": "5", "sort": "newest"}),
        "the query is echoed; paging is not part of a saved search"
    );
    assert_eq!(first["alert"], "immediate");
    assert!(first["last_alerted_at"].is_null());
    assert!(first["created_at"].is_string());
    let first_id = first["id"].as_str().unwrap().to_owned();

    app.clock.advance(Duration::seconds(1));
    let reply =
        app.post(SAVED, Some(&me.token), json!({"name": "  Everything in 北京  ", "query": {"region": "北京"}})).await;
    let second = reply.assert_status(201).clone();
    assert_eq!(second["alert"], "daily", "daily is the default");
    assert_eq!(second["name"], "Everything in 北京", "the name is trimmed");
    let second_id = second["id"].as_str().unwrap().to_owned();
    let reply = app.post(SAVED, Some(&me.token), json!({"name": "Bookmark", "alert": "off"})).await;
    let third = reply.assert_status(201).clone();
    assert_eq!((third["query"].clone(), third["alert"].as_str()), (json!({}), Some("off")));
    let third_id = third["id"].as_str().unwrap().to_owned();

    // Newest first (the second and third were created at the same instant).
    let list = app.get(SAVED, Some(&me.token)).await.assert_status(200).clone();
    let listed: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [third_id.as_str(), second_id.as_str(), first_id.as_str()]);
    assert_eq!(list["items"][2], first);
    assert_eq!(app.get(&saved(&first_id), Some(&me.token)).await.assert_status(200), &first);

    // Someone else's is not there at all.
    assert_eq!(app.get(SAVED, Some(&other.token)).await.assert_status(200)["items"], json!([]));
    app.get(&saved(&first_id), Some(&other.token)).await.assert_error(404, "not_found");
    app.request(reqwest::Method::DELETE, &saved(&first_id), Some(&other.token), None)
        .await
        .assert_error(404, "not_found");
    app.get(&saved(&first_id), Some(&me.token)).await.assert_status(200);

    // Signed out: 401 everywhere.
    for reply in [
        app.post(SAVED, None, json!({"name": "x"})).await,
        app.get(SAVED, None).await,
        app.get(&saved(&first_id), None).await,
        app.request(reqwest::Method::DELETE, &saved(&first_id), None, None).await,
    ] {
        assert_eq!(reply.status.as_u16(), 401, "{:#}", reply.body);
    }

    // Delete: 204, then gone.
    let reply = app.request(reqwest::Method::DELETE, &saved(&first_id), Some(&me.token), None).await;
    assert_eq!(reply.status.as_u16(), 204);
    app.get(&saved(&first_id), Some(&me.token)).await.assert_error(404, "not_found");
    app.request(reqwest::Method::DELETE, &saved(&first_id), Some(&me.token), None).await.assert_error(404, "not_found");
    let list = app.get(SAVED, Some(&me.token)).await.assert_status(200).clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    app.get(&saved("not-an-id"), Some(&me.token)).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn an_invalid_saved_search_names_each_bad_field_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let me = app.enterprise().await;
    for (body, expected) in [
        (json!({"name": "x", "query": {"trl_min": "0"}}), vec![("query.trl_min", "out_of_range")]),
        (
            json!({"name": "", "query": {"trl_min": "0", "sort": "cheapest", "price_min": "9", "price_max": "1"}}),
            vec![
                ("name", "required"),
                ("query.trl_min", "out_of_range"),
                ("query.sort", "invalid_value"),
                ("query.price_min", "inconsistent"),
            ],
        ),
        (json!({"name": "   "}), vec![("name", "required")]),
        (json!({"name": "n".repeat(101)}), vec![("name", "too_long")]),
        (json!({"name": "x", "query": {"q": "电".repeat(1_001)}}), vec![("query.q", "too_long")]),
        (json!({"name": "x", "query": {"colour": "red"}}), vec![("query.colour", "unknown_field")]),
        (json!({"name": "x", "alert": "weekly"}), vec![("alert", "invalid_value")]),
        (json!({"query": {}}), vec![("name", "required")]),
    ] {
        let reply = app.post(SAVED, Some(&me.token), body.clone()).await;
        assert_eq!(field_errors(&reply), pairs(&expected), "{body}");
    }
    assert_eq!(app.get(SAVED, Some(&me.token)).await.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn the_fifty_first_saved_search_is_refused_until_one_is_deleted() {
    let app = TestApp::spawn().await;
    let me = app.enterprise().await;
    let other = app.enterprise().await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let reply = app
            .post(SAVED, Some(&me.token), json!({"name": format!("search {i}"), "query": {"q": format!("电池 {i}")}}))
            .await;
        ids.push(reply.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    let reply = app.post(SAVED, Some(&me.token), json!({"name": "one too many", "query": {"q": "too many"}})).await;
    reply.assert_error(409, "too_many_saved_searches");
    let list = app.get(SAVED, Some(&me.token)).await.assert_status(200).clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 50);
    // The limit is per user.
    app.post(SAVED, Some(&other.token), json!({"name": "mine"})).await.assert_status(201);
    // Deleting one makes room for exactly one.
    let reply = app.request(reqwest::Method::DELETE, &saved(&ids[7]), Some(&me.token), None).await;
    assert_eq!(reply.status.as_u16(), 204);
    app.post(SAVED, Some(&me.token), json!({"name": "replacement", "query": {"q": "replacement"}}))
        .await
        .assert_status(201);
    app.post(SAVED, Some(&me.token), json!({"name": "again too many", "query": {"q": "again"}}))
        .await
        .assert_error(409, "too_many_saved_searches");
}

#[tokio::test]
async fn concurrent_saves_never_take_a_user_past_fifty_saved_searches() {
    let app = TestApp::spawn().await;
    let me = app.enterprise().await;
    for i in 0..40 {
        app.post(SAVED, Some(&me.token), json!({"name": format!("search {i}"), "query": {"q": format!("q{i}")}}))
            .await
            .assert_status(201);
    }
    let attempts = (0..30).map(|i| {
        app.post(SAVED, Some(&me.token), json!({"name": format!("racing {i}"), "query": {"q": format!("r{i}")}}))
    });
    let replies = futures_util::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    let refused = replies.iter().filter(|r| r.code() == Some("too_many_saved_searches")).count();
    let list = app.get(SAVED, Some(&me.token)).await.assert_status(200).clone();
    let stored = list["items"].as_array().unwrap().len();
    assert_eq!(
        (created, refused, stored),
        (10, 20, 50),
        "30 concurrent saves on top of 40: exactly 10 fit ({})",
        app.backend
    );
}

// ---------------------------------------------------------------------------------------------
// Operations

/// The value of a metric line `name value` in the Prometheus text format.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.expect("metrics answer");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("metrics text")
}

#[tokio::test]
async fn the_time_from_commit_to_searchable_is_measured_for_every_indexed_change() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let id = publish(&app, &owner, &reviewer, valid_listing()).await;
    app.wait_indexed().await;
    let text = metrics_text(&app).await;
    const COUNT: &str = "achex_search_commit_to_searchable_seconds_count";
    let count = metric(&text, COUNT).unwrap_or_else(|| panic!("{COUNT} is exported:\n{text}"));
    assert!(count >= 1.0, "a publish was indexed: {count}");
    let sum = metric(&text, "achex_search_commit_to_searchable_seconds_sum").expect("the sum is exported");
    assert!(sum >= 0.0 && sum < 60.0 * count, "lag {sum} s over {count} changes");

    withdraw(&app, &owner, &id).await;
    app.wait_indexed().await;
    let after = metric(&metrics_text(&app).await, COUNT).unwrap();
    assert!(after > count, "the withdrawal was measured too: {count} → {after}");
}

#[tokio::test]
async fn a_rebuilt_index_holds_exactly_the_public_listings_and_follows_later_changes() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (institute(&app).await, app.reviewer().await);
    let mut public = BTreeSet::new();
    for _ in 0..3 {
        public.insert(publish(&app, &owner, &reviewer, valid_listing()).await);
    }
    public.insert(publish(&app, &owner, &reviewer, rice()).await);
    let withdrawn = publish(&app, &owner, &reviewer, valid_listing()).await;
    withdraw(&app, &owner, &withdrawn).await;
    create(&app, &owner, valid_listing()).await;
    let in_review = create(&app, &owner, valid_listing()).await;
    submit(&app, &owner, &in_review).await;
    let now = app.clock.now();
    let lot_listing = publish(&app, &owner, &reviewer, valid_listing()).await;
    public.insert(lot_listing.clone());
    app.post(
        &format!("/api/v1/listings/{lot_listing}/auctions"),
        Some(&owner.token),
        json!({
            "format": "english",
            "starting_price": {"amount": 100_000, "currency": "CNY"},
            "increment": {"amount": 10_000, "currency": "CNY"},
            "deposit": {"amount": 10_000, "currency": "CNY"},
            "starts_at": now + Duration::minutes(10),
            "ends_at": now + Duration::hours(1),
            "extension": {"window_secs": 60, "extend_secs": 120},
        }),
    )
    .await
    .assert_status(201);

    let index = Arc::new(achex_search::EmbeddedIndex::in_memory().expect("an in-memory index"));
    let indexer = Indexer::new(app.state.store.clone(), index.clone(), PositionStore::Memory, None);
    let everything = achex_search::SearchQuery { per_page: 100, ..Default::default() };
    let indexed = |results: &achex_search::SearchResults| -> BTreeSet<String> {
        results.hits.iter().map(|h| h.listing_id.to_string()).collect()
    };
    assert_eq!(index.search(&everything).await.unwrap().total, 0);

    indexer.catch_up().await.expect("the first catch-up rebuilds");
    let results = index.search(&everything).await.unwrap();
    assert_eq!(indexed(&results), public, "exactly the published listings");
    assert_eq!(results.total, public.len() as u64);
    // The rebuilt documents carry the auction state, as the live index's do.
    let upcoming = achex_search::SearchQuery {
        filters: achex_search::Filters { auction: Some(achex_search::AuctionState::Upcoming), ..Default::default() },
        ..everything.clone()
    };
    assert_eq!(indexed(&index.search(&upcoming).await.unwrap()), set(&[&lot_listing]));
    // The same answer as the server's own index.
    app.wait_indexed().await;
    assert_eq!(set(&hit_ids(&found(&app, &[("per_page", "100")]).await)), public);

    // Nothing new: a second catch-up applies nothing.
    assert_eq!(indexer.catch_up().await.unwrap(), 0);
    let leaving = public.pop_first().unwrap();
    withdraw(&app, &owner, &leaving).await;
    let applied = indexer.catch_up().await.expect("catch up");
    assert!(applied >= 1, "the withdrawal event was applied: {applied}");
    let results = index.search(&everything).await.unwrap();
    assert_eq!(indexed(&results), public, "the withdrawn listing is gone");
    assert_eq!(results.total, public.len() as u64);
}

#[tokio::test]
async fn saving_the_same_search_twice_is_refused() {
    let app = TestApp::spawn().await;
    let me = app.enterprise().await;
    let body = json!({"name": "电池", "query": {"q": "锂电池", "trl_min": "5"}, "alert": "immediate"});
    app.post(SAVED, Some(&me.token), body.clone()).await.assert_status(201);
    let again = json!({"name": "another name", "query": {"q": "锂电池", "trl_min": "5"}, "alert": "daily"});
    app.post(SAVED, Some(&me.token), again).await.assert_error(409, "duplicate_saved_search");
    let other = app.enterprise().await;
    app.post(SAVED, Some(&other.token), body).await.assert_status(201);
}
