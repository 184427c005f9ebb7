//! Listings end to end: the review lifecycle, its audit trail, safe edits with `If-Match`, and the
//! public catalogue with its seek cursor and filters.

use achex_core::Clock as _;
use achex_tests::{Actor, Reply, TestApp, reqwest, valid_listing};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashSet;

const STATUSES: [&str; 5] = ["draft", "in_review", "rejected", "published", "withdrawn"];
const ACTIONS: [&str; 5] = ["edit", "submit", "approve", "reject", "withdraw"];

fn path(id: &str) -> String {
    format!("/api/v1/listings/{id}")
}

async fn submit(app: &TestApp, id: &str, who: &Actor) -> Reply {
    app.post(&format!("{}/submit", path(id)), Some(&who.token), json!({})).await
}

async fn approve(app: &TestApp, id: &str, who: &Actor) -> Reply {
    app.post(&format!("{}/review", path(id)), Some(&who.token), json!({ "decision": "approve" })).await
}

async fn reject(app: &TestApp, id: &str, who: &Actor, reason: &str) -> Reply {
    app.post(&format!("{}/review", path(id)), Some(&who.token), json!({ "decision": "reject", "reason": reason })).await
}

async fn withdraw(app: &TestApp, id: &str, who: &Actor, body: Value) -> Reply {
    app.post(&format!("{}/withdraw", path(id)), Some(&who.token), body).await
}

/// The listing as its owner sees it (owners see every status).
async fn as_owner(app: &TestApp, id: &str, owner: &Actor) -> Value {
    app.get(&path(id), Some(&owner.token)).await.assert_status(200).clone()
}

async fn history(app: &TestApp, id: &str, who: &Actor) -> Vec<Value> {
    let reply = app.get(&format!("{}/history", path(id)), Some(&who.token)).await;
    reply.assert_status(200)["entries"].as_array().expect("entries").clone()
}

/// The ids in one catalogue reply, in order.
fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect()
}

async fn catalogue(app: &TestApp, query: &str) -> Reply {
    app.get(&format!("/api/v1/listings{query}"), None).await
}

fn etag(reply: &Reply) -> String {
    reply.headers.get("etag").expect("an ETag header").to_str().unwrap().to_owned()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp")).expect("RFC 3339").to_utc()
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A listing of `owner` brought into `status` through the API.
async fn listing_in(app: &TestApp, status: &str, owner: &Actor, reviewer: &Actor) -> String {
    let id = app.draft(owner).await;
    if status == "draft" {
        return id;
    }
    submit(app, &id, owner).await.assert_status(200);
    match status {
        "in_review" => {}
        "rejected" => {
            reject(app, &id, reviewer, "补充专利证书").await.assert_status(200);
        }
        "published" | "withdrawn" => {
            approve(app, &id, reviewer).await.assert_status(200);
            if status == "withdrawn" {
                withdraw(app, &id, owner, json!({})).await.assert_status(200);
            }
        }
        other => panic!("unknown status {other}"),
    }
    assert_eq!(as_owner(app, &id, owner).await["status"], status);
    id
}

async fn perform(app: &TestApp, action: &str, id: &str, owner: &Actor, reviewer: &Actor) -> Reply {
    match action {
        "edit" => app.patch(&path(id), Some(&owner.token), json!({ "trl": 7 })).await,
        "submit" => submit(app, id, owner).await,
        "approve" => approve(app, id, reviewer).await,
        "reject" => reject(app, id, reviewer, "信息不完整").await,
        "withdraw" => withdraw(app, id, owner, json!({})).await,
        other => panic!("unknown action {other}"),
    }
}

/// Where an allowed action leads, or the status and code that refuse it.
fn expected(status: &str, action: &str) -> Result<&'static str, (u16, &'static str)> {
    match (status, action) {
        ("draft", "edit") | ("rejected", "edit") => Ok("draft"),
        ("draft", "submit") => Ok("in_review"),
        ("in_review", "approve") => Ok("published"),
        ("in_review", "reject") => Ok("rejected"),
        ("published", "withdraw") => Ok("withdrawn"),
        // Reviewers never see drafts ("once submitted, to reviewers"): for them it does not exist.
        ("draft", "approve" | "reject") => Err((404, "not_found")),
        (_, "edit") => Err((409, "listing_not_editable")),
        (_, "submit") => Err((409, "listing_not_draft")),
        (_, "approve" | "reject") => Err((409, "listing_not_in_review")),
        (_, "withdraw") => Err((409, "listing_not_published")),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_listing_goes_from_draft_through_rejection_and_revision_to_publication_and_withdrawal() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("中国科学院大连化学物理研究所").await;
    let reviewer = app.reviewer().await;

    // Create: a draft at version 1, with its ETag.
    let created = app.post("/api/v1/listings", Some(&owner.token), valid_listing()).await;
    let body = created.assert_status(201).clone();
    assert_eq!(etag(&created), "\"v1\"");
    assert_eq!(body["status"], "draft");
    assert_eq!(body["version"], 1);
    assert_eq!(body["institute"]["id"], owner.organization_id.as_str());
    assert!(body["published_at"].is_null());
    let id = body["id"].as_str().unwrap().to_owned();
    app.get(&path(&id), None).await.assert_error(404, "not_found");

    // Edit the draft.
    let edited = app.patch(&path(&id), Some(&owner.token), json!({ "trl": 7, "region": "北京" })).await;
    let body = edited.assert_status(200);
    assert_eq!(
        (body["status"].as_str(), body["trl"].as_i64(), body["region"].as_str()),
        (Some("draft"), Some(7), Some("北京"))
    );
    assert_eq!(body["version"], 2);
    assert_eq!(etag(&edited), "\"v2\"");

    // Submit, then the reviewer rejects with a reason the owner can read.
    assert_eq!(submit(&app, &id, &owner).await.assert_status(200)["status"], "in_review");
    let queue = app.get("/api/v1/review-queue", Some(&reviewer.token)).await;
    assert_eq!(ids(queue.assert_status(200)), vec![id.clone()]);
    let reason = "请补充专利证书扫描件";
    assert_eq!(reject(&app, &id, &reviewer, reason).await.assert_status(200)["status"], "rejected");
    let seen = as_owner(&app, &id, &owner).await;
    assert_eq!((seen["status"].as_str(), seen["rejection_reason"].as_str()), (Some("rejected"), Some(reason)));
    app.get(&path(&id), None).await.assert_error(404, "not_found");

    // Revising the rejected listing returns it to draft and clears the reason.
    let revised = app.patch(&path(&id), Some(&owner.token), json!({ "summary": { "zh": "已补充专利证书。" } })).await;
    let body = revised.assert_status(200);
    assert_eq!(body["status"], "draft");
    assert!(body.get("rejection_reason").is_none_or(Value::is_null), "{body}");
    let seen = as_owner(&app, &id, &owner).await;
    assert!(seen.get("rejection_reason").is_none_or(Value::is_null), "{seen}");

    // Resubmit and approve: published, visible to everyone.
    submit(&app, &id, &owner).await.assert_status(200);
    let approved = approve(&app, &id, &reviewer).await;
    let body = approved.assert_status(200);
    assert_eq!(body["status"], "published");
    assert_eq!(time(&body["published_at"]), app.clock.now());
    let page = catalogue(&app, "").await;
    assert_eq!(ids(page.assert_status(200)), vec![id.clone()]);
    let public = app.get(&path(&id), None).await;
    assert_eq!(public.assert_status(200)["status"], "published");
    let enterprise = app.enterprise().await;
    app.get(&path(&id), Some(&enterprise.token)).await.assert_status(200);

    // Withdraw: gone from the catalogue and from the public.
    let withdrawn = withdraw(&app, &id, &owner, json!({ "reason": "已转让" })).await;
    assert_eq!(withdrawn.assert_status(200)["status"], "withdrawn");
    assert_eq!(ids(catalogue(&app, "").await.assert_status(200)), Vec::<String>::new());
    app.get(&path(&id), None).await.assert_error(404, "not_found");
    app.get(&path(&id), Some(&enterprise.token)).await.assert_error(404, "not_found");
    assert_eq!(as_owner(&app, &id, &owner).await["status"], "withdrawn");
}

#[tokio::test]
async fn every_action_succeeds_only_from_its_status_and_is_otherwise_refused_with_its_code() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("清华大学").await;
    let reviewer = app.reviewer().await;
    let mut failures = Vec::new();
    for status in STATUSES {
        for action in ACTIONS {
            let id = listing_in(&app, status, &owner, &reviewer).await;
            let before = as_owner(&app, &id, &owner).await;
            let steps_before = history(&app, &id, &owner).await.len();
            let reply = perform(&app, action, &id, &owner, &reviewer).await;
            let after = as_owner(&app, &id, &owner).await;
            let steps_after = history(&app, &id, &owner).await.len();
            let version = before["version"].as_i64().unwrap();
            match expected(status, action) {
                Ok(next) => {
                    let ok = reply.status.as_u16() == 200
                        && reply.body["status"] == next
                        && after["status"] == next
                        && after["version"].as_i64() == Some(version + 1)
                        && steps_after == steps_before + 1;
                    if !ok {
                        failures.push(format!(
                            "{status} × {action}: expected 200 → {next} at v{}, got {} {} (stored {} v{}, {} → {} audit entries)",
                            version + 1,
                            reply.status,
                            reply.body,
                            after["status"],
                            after["version"],
                            steps_before,
                            steps_after
                        ));
                    }
                }
                Err((http, code)) => {
                    let details = if http == 409 { json!({ "status": status, "action": action }) } else { Value::Null };
                    let ok = reply.status.as_u16() == http
                        && reply.code() == Some(code)
                        && reply.body["error"]["details"] == details
                        && after["status"] == status
                        && after["version"].as_i64() == Some(version)
                        && steps_after == steps_before;
                    if !ok {
                        failures.push(format!(
                            "{status} × {action}: expected {http} {code} and nothing changed, got {} {} (stored {} v{}, {} → {} audit entries)",
                            reply.status, reply.body, after["status"], after["version"], steps_before, steps_after
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_history_lists_every_step_in_order_with_actor_statuses_changed_fields_and_reason() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("浙江大学").await;
    let reviewer = app.reviewer().await;
    let mut times = Vec::new();
    let mut step = || {
        app.clock.advance(Duration::seconds(1));
        times.push(app.clock.now());
    };

    step();
    let id = app.draft(&owner).await;
    step();
    let title = json!({ "zh": "一种改进的锂离子电池正极材料" });
    app.patch(&path(&id), Some(&owner.token), json!({ "title": title, "trl": 7 })).await.assert_status(200);
    step();
    submit(&app, &id, &owner).await.assert_status(200);
    step();
    reject(&app, &id, &reviewer, "缺少检测报告").await.assert_status(200);
    step();
    app.patch(&path(&id), Some(&owner.token), json!({ "keywords": ["锂电池"], "region": "杭州" }))
        .await
        .assert_status(200);
    step();
    submit(&app, &id, &owner).await.assert_status(200);
    step();
    approve(&app, &id, &reviewer).await.assert_status(200);
    step();
    withdraw(&app, &id, &owner, json!({ "reason": "技术已转让" })).await.assert_status(200);

    type Step<'a> = (&'a str, &'a str, Value, &'a str, Vec<&'a str>, Value);
    let expected: Vec<Step<'_>> = vec![
        ("created", owner.user_id.as_str(), Value::Null, "draft", vec![], Value::Null),
        ("edited", owner.user_id.as_str(), json!("draft"), "draft", vec!["title", "trl"], Value::Null),
        ("submitted", owner.user_id.as_str(), json!("draft"), "in_review", vec![], Value::Null),
        ("rejected", reviewer.user_id.as_str(), json!("in_review"), "rejected", vec![], json!("缺少检测报告")),
        ("edited", owner.user_id.as_str(), json!("rejected"), "draft", vec!["keywords", "region"], Value::Null),
        ("submitted", owner.user_id.as_str(), json!("draft"), "in_review", vec![], Value::Null),
        ("approved", reviewer.user_id.as_str(), json!("in_review"), "published", vec![], Value::Null),
        ("withdrawn", owner.user_id.as_str(), json!("published"), "withdrawn", vec![], json!("技术已转让")),
    ];
    for who in [&owner, &reviewer] {
        let entries = history(&app, &id, who).await;
        assert_eq!(entries.len(), expected.len(), "{entries:#?}");
        for (i, (entry, (action, actor, from, to, fields, reason))) in entries.iter().zip(&expected).enumerate() {
            assert_eq!(entry["action"], *action, "entry {i}: {entry}");
            assert_eq!(entry["actor_id"], *actor, "entry {i}: {entry}");
            assert_eq!(entry["from_status"], *from, "entry {i}: {entry}");
            assert_eq!(entry["to_status"], *to, "entry {i}: {entry}");
            assert_eq!(entry["changed_fields"], json!(fields), "entry {i}: {entry}");
            assert_eq!(entry["reason"], *reason, "entry {i}: {entry}");
            assert_eq!(time(&entry["at"]), times[i], "entry {i}: {entry}");
        }
    }
}

#[tokio::test]
async fn an_edit_with_a_stale_etag_is_refused_and_one_with_the_current_etag_succeeds() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("复旦大学").await;
    let id = app.draft(&owner).await;
    app.patch(&path(&id), Some(&owner.token), json!({ "trl": 7 })).await.assert_status(200);

    let current = app.get(&path(&id), Some(&owner.token)).await;
    assert_eq!(etag(&current), "\"v2\"");

    let stale = app
        .client
        .patch(app.url(&path(&id)))
        .bearer_auth(&owner.token)
        .header("if-match", "\"v1\"")
        .json(&json!({ "trl": 3 }))
        .send()
        .await
        .unwrap();
    TestApp::reply(stale).await.assert_error(412, "version_mismatch");
    let seen = as_owner(&app, &id, &owner).await;
    assert_eq!((seen["trl"].as_i64(), seen["version"].as_i64()), (Some(7), Some(2)));

    let fresh = app
        .client
        .patch(app.url(&path(&id)))
        .bearer_auth(&owner.token)
        .header("if-match", etag(&current))
        .json(&json!({ "trl": 3 }))
        .send()
        .await
        .unwrap();
    let fresh = TestApp::reply(fresh).await;
    assert_eq!(fresh.assert_status(200)["trl"], 3);
    assert_eq!(etag(&fresh), "\"v3\"");
}

#[tokio::test]
async fn approving_a_listing_of_an_unverified_institute_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.register(achex_core::Role::InstituteStaff, "未认证研究所").await;
    let reviewer = app.reviewer().await;
    let id = app.draft(&owner).await;
    submit(&app, &id, &owner).await.assert_status(200);

    approve(&app, &id, &reviewer).await.assert_error(409, "institute_not_verified");
    let seen = as_owner(&app, &id, &owner).await;
    assert_eq!((seen["status"].as_str(), seen["version"].as_i64()), (Some("in_review"), Some(2)));
    assert_eq!(ids(catalogue(&app, "").await.assert_status(200)), Vec::<String>::new());

    // Once verified, the same listing is approved.
    app.post(
        &format!("/api/v1/admin/organizations/{}/verify", owner.organization_id),
        Some(&reviewer.token),
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(approve(&app, &id, &reviewer).await.assert_status(200)["status"], "published");
}

#[tokio::test]
async fn a_listing_whose_only_patent_has_lapsed_fails_screening_on_submit() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("北京大学").await;
    let mut body = valid_listing();
    body["patents"][0]["legal_status"] = json!("lapsed");
    let created = app.post("/api/v1/listings", Some(&owner.token), body).await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_owned();

    let reply = submit(&app, &id, &owner).await;
    reply.assert_error(409, "screening_failed");
    let fields = &reply.body["error"]["details"]["fields"];
    assert_eq!(fields[0]["field"], "patents", "{fields}");
    assert_eq!(fields[0]["code"], "no_patent_in_force", "{fields}");
    let seen = as_owner(&app, &id, &owner).await;
    assert_eq!((seen["status"].as_str(), seen["version"].as_i64()), (Some("draft"), Some(1)));
    assert_eq!(history(&app, &id, &owner).await.len(), 1);
}

#[tokio::test]
async fn rejecting_without_a_reason_is_refused_and_leaves_the_listing_in_review() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("南京大学").await;
    let reviewer = app.reviewer().await;
    let id = listing_in(&app, "in_review", &owner, &reviewer).await;
    let review = format!("{}/review", path(&id));
    for body in [json!({ "decision": "reject" }), json!({ "decision": "reject", "reason": "   " })] {
        let reply = app.post(&review, Some(&reviewer.token), body.clone()).await;
        reply.assert_error(422, "validation_failed");
        assert_eq!(reply.body["error"]["details"]["fields"][0]["field"], "reason", "{body}: {}", reply.body);
        assert_eq!(reply.body["error"]["details"]["fields"][0]["code"], "required", "{body}: {}", reply.body);
    }
    let seen = as_owner(&app, &id, &owner).await;
    assert_eq!((seen["status"].as_str(), seen["version"].as_i64()), (Some("in_review"), Some(2)));
}

#[tokio::test]
async fn the_catalogue_pages_through_every_published_listing_once_newest_first() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("上海交通大学").await;
    let reviewer = app.reviewer().await;
    let mut published = Vec::new();
    for _ in 0..7 {
        app.clock.advance(Duration::seconds(1));
        published.push(app.published(&owner, &reviewer).await);
    }
    // Not published: never in the catalogue.
    listing_in(&app, "draft", &owner, &reviewer).await;
    listing_in(&app, "in_review", &owner, &reviewer).await;
    published.reverse();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = "?limit=3".to_owned();
    for _ in 0..10 {
        let reply = catalogue(&app, &query).await;
        let page = reply.assert_status(200);
        sizes.push(page["items"].as_array().unwrap().len());
        seen.extend(ids(page));
        let times: Vec<_> = page["items"].as_array().unwrap().iter().map(|l| time(&l["published_at"])).collect();
        assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first: {times:?}");
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(seen, published);
}

#[tokio::test]
async fn the_last_page_of_the_catalogue_has_no_next_cursor() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("武汉大学").await;
    let reviewer = app.reviewer().await;
    for _ in 0..2 {
        app.clock.advance(Duration::seconds(1));
        app.published(&owner, &reviewer).await;
    }
    let first = catalogue(&app, "?limit=1").await;
    let cursor = first.assert_status(200)["next_cursor"].as_str().expect("a next_cursor on the first page").to_owned();
    let last = catalogue(&app, &format!("?limit=1&cursor={cursor}")).await;
    let last = last.assert_status(200);
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last.get("next_cursor").is_none(), "documented as absent on the last page: {last}");
    let everything = catalogue(&app, "?limit=5").await;
    assert!(everything.assert_status(200).get("next_cursor").is_none(), "{}", everything.body);
}

#[tokio::test]
async fn listings_published_in_the_same_instant_are_each_paged_exactly_once() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("中山大学").await;
    let reviewer = app.reviewer().await;
    let mut published = HashSet::new();
    for _ in 0..5 {
        published.insert(app.published(&owner, &reviewer).await);
    }
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    for _ in 0..10 {
        let reply = catalogue(&app, &query).await;
        let page = reply.assert_status(200);
        seen.extend(ids(page));
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), published);
}

#[tokio::test]
async fn a_listing_published_while_paging_does_not_shift_the_next_page() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("四川大学").await;
    let reviewer = app.reviewer().await;
    let mut published = Vec::new();
    for _ in 0..4 {
        app.clock.advance(Duration::seconds(1));
        published.push(app.published(&owner, &reviewer).await);
    }
    published.reverse();
    let first = catalogue(&app, "?limit=2").await;
    let first = first.assert_status(200).clone();
    assert_eq!(ids(&first), published[..2]);

    app.clock.advance(Duration::seconds(1));
    let newest = app.published(&owner, &reviewer).await;

    let cursor = first["next_cursor"].as_str().unwrap();
    let second = catalogue(&app, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(second.assert_status(200)), published[2..]);
    assert_eq!(ids(catalogue(&app, "?limit=1").await.assert_status(200)), vec![newest]);
}

#[tokio::test]
async fn the_catalogue_filters_by_kind_institute_and_discipline() {
    let app = TestApp::spawn().await;
    let first = app.verified_institute("哈尔滨工业大学").await;
    let second = app.verified_institute("西安交通大学").await;
    let reviewer = app.reviewer().await;

    let publish = |owner: &Actor, body: Value| {
        let (app, owner, reviewer) = (&app, owner.clone(), &reviewer);
        async move {
            app.clock.advance(Duration::seconds(1));
            let created = app.post("/api/v1/listings", Some(&owner.token), body).await;
            let id = created.assert_status(201)["id"].as_str().unwrap().to_owned();
            submit(app, &id, &owner).await.assert_status(200);
            approve(app, &id, reviewer).await.assert_status(200);
            id
        }
    };
    let patent_first = publish(&first, valid_listing()).await;
    let mut software = valid_listing();
    software["kind"] = json!("software_copyright");
    software["patents"] = json!([]);
    let software_second = publish(&second, software).await;
    let mut medicine = valid_listing();
    medicine["discipline"] = json!("生物医药");
    let medicine_second = publish(&second, medicine).await;

    let cases = [
        ("?kind=invention_patent".to_owned(), vec![medicine_second.clone(), patent_first.clone()]),
        ("?kind=software_copyright".to_owned(), vec![software_second.clone()]),
        ("?kind=know_how".to_owned(), vec![]),
        (format!("?institute={}", first.organization_id), vec![patent_first.clone()]),
        (format!("?institute={}", second.organization_id), vec![medicine_second.clone(), software_second.clone()]),
        (format!("?discipline={}", encode("生物医药")), vec![medicine_second.clone()]),
        (format!("?discipline={}", encode("材料科学")), vec![software_second.clone(), patent_first.clone()]),
        (format!("?kind=invention_patent&institute={}", second.organization_id), vec![medicine_second.clone()]),
        (format!("?institute={}", uuid::Uuid::now_v7()), vec![]),
    ];
    for (query, expected) in cases {
        let reply = catalogue(&app, &query).await;
        assert_eq!(ids(reply.assert_status(200)), expected, "{query}");
    }
}

#[tokio::test]
async fn bad_catalogue_parameters_are_refused_with_422() {
    let app = TestApp::spawn().await;
    let cases = [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?cursor=garbage!!", "cursor"),
        ("?cursor=bm9wZQ", "cursor"),
        ("?cursor=bm90LWEtZGF0ZXxub3QtYW4taWQ", "cursor"),
        ("?limit=abc", "query"),
        ("?kind=spaceship", "query"),
        ("?sort=price", "query"),
        ("?page=2", "query"),
    ];
    for (query, field) in cases {
        let reply = catalogue(&app, query).await;
        assert_eq!(reply.status.as_u16(), 422, "{query}: {}", reply.body);
        assert_eq!(reply.code(), Some("validation_failed"), "{query}: {}", reply.body);
        assert_eq!(reply.body["error"]["details"]["fields"][0]["field"], field, "{query}: {}", reply.body);
    }
    for query in ["?limit=1", "?limit=100"] {
        catalogue(&app, query).await.assert_status(200);
    }
}

#[tokio::test]
async fn an_admin_can_take_down_another_institutes_published_listing() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("中国科学技术大学").await;
    let reviewer = app.reviewer().await;
    let admin = app.admin().await;
    let id = app.published(&owner, &reviewer).await;

    // Neither another institute nor a reviewer may withdraw it.
    let other = app.verified_institute("其他研究所").await;
    withdraw(&app, &id, &other, json!({})).await.assert_error(403, "not_owner");
    withdraw(&app, &id, &reviewer, json!({})).await.assert_error(403, "not_owner");

    let reply = withdraw(&app, &id, &admin, json!({ "reason": "侵权投诉" })).await;
    assert_eq!(reply.assert_status(200)["status"], "withdrawn");
    assert_eq!(ids(catalogue(&app, "").await.assert_status(200)), Vec::<String>::new());
    app.get(&path(&id), None).await.assert_error(404, "not_found");
    let last = history(&app, &id, &owner).await.pop().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["actor_id"].as_str(), last["reason"].as_str()),
        (Some("withdrawn"), Some(admin.user_id.as_str()), Some("侵权投诉"))
    );
}

#[tokio::test]
async fn withdrawing_with_an_empty_body_is_accepted() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("山东大学").await;
    let reviewer = app.reviewer().await;
    let id = app.published(&owner, &reviewer).await;
    let response = app
        .client
        .request(reqwest::Method::POST, app.url(&format!("{}/withdraw", path(&id))))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::reply(response).await.assert_status(200)["status"], "withdrawn");
}

/// Every page of `path` (`/api/v1/me/listings` or `/api/v1/review-queue`) at `limit` a page, in
/// order, following `next_cursor` until there is none.
async fn all_pages(app: &TestApp, path: &str, who: &Actor, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let page = app.get(&query, Some(&who.token)).await.assert_status(200).clone();
        pages.push(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() <= 10, "paging must end: {pages:?}");
    }
}

#[tokio::test]
async fn an_institutes_own_listings_come_newest_first_a_page_at_a_time_to_the_last_one() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("兰州大学").await;
    let other = app.verified_institute("山东大学").await;
    let mut drafts = Vec::new();
    for _ in 0..5 {
        drafts.push(app.draft(&owner).await);
    }
    app.draft(&other).await;
    drafts.reverse();

    let pages = all_pages(&app, "/api/v1/me/listings", &owner, 2).await;
    assert_eq!(pages, vec![drafts[..2].to_vec(), drafts[2..4].to_vec(), drafts[4..].to_vec()]);
    // Without a limit, a page holds up to 20: all five here, and no cursor.
    let whole = app.get("/api/v1/me/listings", Some(&owner.token)).await;
    assert_eq!(ids(whole.assert_status(200)), drafts);
    assert!(whole.body["next_cursor"].is_null());

    for bad in ["limit=0", "limit=101", "cursor=not-a-cursor", "cursor=bm90LWFuLWlk"] {
        let reply = app.get(&format!("/api/v1/me/listings?{bad}"), Some(&owner.token)).await;
        reply.assert_error(422, "validation_failed");
    }
}

#[tokio::test]
async fn the_review_queue_comes_longest_waiting_first_a_page_at_a_time_to_the_last_one() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("中国海洋大学").await;
    let reviewer = app.reviewer().await;
    let mut waiting = Vec::new();
    for _ in 0..5 {
        app.clock.advance(Duration::seconds(1));
        let id = app.draft(&owner).await;
        submit(&app, &id, &owner).await.assert_status(200);
        waiting.push(id);
    }
    let pages = all_pages(&app, "/api/v1/review-queue", &reviewer, 2).await;
    assert_eq!(pages, vec![waiting[..2].to_vec(), waiting[2..4].to_vec(), waiting[4..].to_vec()]);

    // Taking the first off the queue while paging does not shift the next page.
    let first = app.get("/api/v1/review-queue?limit=2", Some(&reviewer.token)).await.assert_status(200).clone();
    approve(&app, &waiting[0], &reviewer).await.assert_status(200);
    let cursor = first["next_cursor"].as_str().expect("a cursor");
    let next = app.get(&format!("/api/v1/review-queue?limit=2&cursor={cursor}"), Some(&reviewer.token)).await;
    assert_eq!(ids(next.assert_status(200)), waiting[2..4]);
}
