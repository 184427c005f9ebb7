//! What the listing API refuses, and that a refusal writes nothing: field validation of listing
//! bodies, malformed requests, and PDF attachments (content sniffing, size, file names, storage).

use achex_tests::{Actor, Reply, TestApp, reqwest, valid_listing};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const REQUIRED: [&str; 9] =
    ["title", "summary", "description", "kind", "trl", "transfer_modes", "discipline", "region", "contact"];

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

const BOUNDARY: &str = "achex-test-boundary-5b1f0c";

fn path(id: &str) -> String {
    format!("/api/v1/listings/{id}")
}

async fn create(app: &TestApp, owner: &Actor, body: Value) -> Reply {
    app.post("/api/v1/listings", Some(&owner.token), body).await
}

async fn count_mine(app: &TestApp, owner: &Actor) -> usize {
    let reply = app.get("/api/v1/me/listings", Some(&owner.token)).await;
    reply.assert_status(200)["items"].as_array().expect("items").len()
}

/// `(field, code)` pairs, as listed in `details.fields`.
type FieldErrors = Vec<(String, String)>;

/// The `(field, code)` pairs of a 422 `validation_failed` reply.
#[track_caller]
fn field_errors(reply: &Reply) -> FieldErrors {
    reply.assert_error(422, "validation_failed");
    reply.body["error"]["details"]["fields"]
        .as_array()
        .expect("details.fields")
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "every field error has a message: {f}");
            (f["field"].as_str().unwrap().to_owned(), f["code"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn pair(field: &str, code: &str) -> FieldErrors {
    vec![(field.to_owned(), code.to_owned())]
}

/// `valid_listing()` with one JSON pointer replaced.
fn with(pointer: &str, value: Value) -> Value {
    let mut body = valid_listing();
    *body.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer} exists in valid_listing()")) = value;
    body
}

/// Posts each body, expects exactly the given field errors, and checks nothing was stored.
async fn assert_refused(app: &TestApp, owner: &Actor, cases: Vec<(&str, Value, FieldErrors)>) {
    let before = count_mine(app, owner).await;
    let mut failures = Vec::new();
    for (name, body, expected) in cases {
        let reply = create(app, owner, body).await;
        let got = if reply.status.as_u16() == 422 && reply.code() == Some("validation_failed") {
            field_errors(&reply)
        } else {
            vec![(reply.status.to_string(), reply.body.to_string())]
        };
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
        assert_eq!(count_mine(app, owner).await, before, "{name}: a refused create must write nothing");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn owner_of_a_draft(app: &TestApp) -> (Actor, String) {
    let owner = app.verified_institute("中国科学院化学研究所").await;
    let id = app.draft(&owner).await;
    (owner, id)
}

async fn get_listing(app: &TestApp, id: &str, owner: &Actor) -> Value {
    app.get(&path(id), Some(&owner.token)).await.assert_status(200).clone()
}

async fn history_actions(app: &TestApp, id: &str, owner: &Actor) -> Vec<String> {
    let reply = app.get(&format!("{}/history", path(id)), Some(&owner.token)).await;
    reply.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends a raw body with the given content type.
async fn send_raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    TestApp::reply(request.send().await.expect("the server answers")).await
}

/// One multipart part: field name, file name, declared content type, bytes.
struct Part<'a> {
    name: &'a str,
    file_name: Option<&'a str>,
    content_type: &'a str,
    bytes: &'a [u8],
}

fn file(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    multipart(&[Part { name: "file", file_name: Some(file_name), content_type: "application/pdf", bytes }])
}

/// A `multipart/form-data` body built by hand, so file names go on the wire exactly as written.
fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(file_name) = part.file_name {
            disposition.push_str(&format!("; filename=\"{file_name}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(format!("\r\nContent-Type: {}\r\n\r\n", part.content_type).as_bytes());
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &TestApp, id: &str, owner: &Actor, body: Vec<u8>) -> Reply {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    send_raw(app, reqwest::Method::POST, &format!("{}/attachments", path(id)), &owner.token, Some(&content_type), body)
        .await
}

fn attachments_dir(app: &TestApp) -> PathBuf {
    app.settings.data.dir.join("attachments")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every stored blob: files under `attachments/<2 hex>/`.
fn stored_blobs(app: &TestApp) -> Vec<PathBuf> {
    files_in(&attachments_dir(app))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tmp"))
        .flat_map(|dir| files_in(&dir))
        .collect()
}

/// After a refused upload: no attachment, no audit entry, no temporary file left behind.
#[track_caller]
fn assert_nothing_left(app: &TestApp, what: &str, listing: &Value, actions: &[String]) {
    assert_eq!(listing["attachments"], json!([]), "{what}: {listing}");
    assert!(!actions.iter().any(|a| a == "attachment_added"), "{what}: {actions:?}");
    let leftovers = files_in(&attachments_dir(app).join("tmp"));
    assert!(leftovers.is_empty(), "{what}: temporary files left: {leftovers:?}");
    assert!(stored_blobs(app).is_empty(), "{what}: blobs stored: {:?}", stored_blobs(app));
}

// ---- listing bodies ----

#[tokio::test]
async fn each_missing_required_field_is_named_with_code_required() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("清华大学").await;
    let mut cases = Vec::new();
    for key in REQUIRED {
        let mut body = valid_listing();
        body.as_object_mut().unwrap().remove(key).expect("key present");
        cases.push((key, body, pair(key, "required")));
    }
    let mut body = valid_listing();
    body["contact"].as_object_mut().unwrap().remove("name");
    cases.push(("contact.name", body, pair("contact.name", "required")));
    let mut body = valid_listing();
    body["patents"][0].as_object_mut().unwrap().remove("legal_status");
    cases.push(("patents[0].legal_status", body, pair("patents[0].legal_status", "required")));
    assert_refused(&app, &owner, cases).await;
}

#[tokio::test]
async fn optional_fields_may_be_left_out() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("清华大学").await;
    let mut body = valid_listing();
    for key in ["ipc_classes", "asking_price", "keywords"] {
        body.as_object_mut().unwrap().remove(key);
    }
    let created = create(&app, &owner, body).await;
    let created = created.assert_status(201);
    assert!(created["asking_price"].is_null(), "{created}");
    assert_eq!(created["keywords"], json!([]));
}

#[tokio::test]
async fn an_unknown_enum_value_is_invalid_value_at_its_path() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("北京大学").await;
    let cases = vec![
        ("kind", with("/kind", json!("patent")), pair("kind", "invalid_value")),
        ("transfer_modes[0]", with("/transfer_modes/0", json!("sale")), pair("transfer_modes[0]", "invalid_value")),
        (
            "patents[0].legal_status",
            with("/patents/0/legal_status", json!("dead")),
            pair("patents[0].legal_status", "invalid_value"),
        ),
        (
            "asking_price.currency",
            with("/asking_price/currency", json!("RMB")),
            pair("asking_price.currency", "invalid_value"),
        ),
    ];
    assert_refused(&app, &owner, cases).await;
}

#[tokio::test]
async fn unknown_fields_such_as_status_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let before = get_listing(&app, &id, &owner).await;
    let mut status = valid_listing();
    status["status"] = json!("published");
    let mut institute = valid_listing();
    institute["institute_id"] = json!(owner.organization_id);
    let mut language = valid_listing();
    language["title"]["fr"] = json!("Un matériau");
    let creates = [("status", status), ("institute_id", institute), ("title.fr", language)];
    let patches = [
        ("status", json!({ "status": "published" })),
        ("version", json!({ "trl": 7, "version": 9 })),
        ("asking_price.discount", json!({ "asking_price": { "amount": 1, "currency": "CNY", "discount": 5 } })),
    ];
    let mut failures = Vec::new();
    let mut check = |what: &str, field: &str, reply: &Reply| {
        assert_eq!((reply.status.as_u16(), reply.code()), (422, Some("validation_failed")), "{what}: {}", reply.body);
        let got = field_errors(reply);
        if got != pair(field, "unknown_field") {
            failures.push(format!("{what}: expected [({field:?}, \"unknown_field\")], got {got:?}"));
        }
    };
    for (field, body) in creates {
        check("create", field, &create(&app, &owner, body).await);
    }
    for (field, body) in patches {
        check("patch", field, &app.patch(&path(&id), Some(&owner.token), body).await);
    }
    assert_eq!(count_mine(&app, &owner).await, 1, "refused creates write nothing");
    assert_eq!(get_listing(&app, &id, &owner).await, before, "refused patches change nothing");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn trl_must_be_between_1_and_9() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("复旦大学").await;
    let cases = vec![
        ("trl 0", with("/trl", json!(0)), pair("trl", "out_of_range")),
        ("trl 10", with("/trl", json!(10)), pair("trl", "out_of_range")),
        ("trl 300", with("/trl", json!(300)), pair("trl", "invalid_type")),
        ("trl -1", with("/trl", json!(-1)), pair("trl", "invalid_type")),
        ("trl \"6\"", with("/trl", json!("6")), pair("trl", "invalid_type")),
    ];
    assert_refused(&app, &owner, cases).await;
    for trl in [1, 9] {
        create(&app, &owner, with("/trl", json!(trl))).await.assert_status(201);
    }
}

#[tokio::test]
async fn a_price_must_be_a_positive_whole_number_of_minor_units() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("浙江大学").await;
    let cases = vec![
        ("12.5", with("/asking_price/amount", json!(12.5)), pair("asking_price.amount", "invalid_type")),
        ("\"100\"", with("/asking_price/amount", json!("100")), pair("asking_price.amount", "invalid_type")),
        ("0", with("/asking_price/amount", json!(0)), pair("asking_price.amount", "out_of_range")),
        ("-100", with("/asking_price/amount", json!(-100)), pair("asking_price.amount", "out_of_range")),
    ];
    assert_refused(&app, &owner, cases).await;
    let negotiable = create(&app, &owner, with("/asking_price", Value::Null)).await;
    assert!(negotiable.assert_status(201)["asking_price"].is_null());
}

#[tokio::test]
async fn oversize_texts_are_refused_by_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("南京大学").await;
    let chinese = |n: usize| "锂".repeat(n);
    let cases = vec![
        ("title 201", with("/title", json!({ "zh": chinese(201) })), pair("title.zh", "too_long")),
        ("title.en 201", with("/title/en", json!("a".repeat(201))), pair("title.en", "too_long")),
        ("summary 2001", with("/summary", json!({ "zh": chinese(2001) })), pair("summary.zh", "too_long")),
        (
            "description 50001",
            with("/description", json!({ "zh": chinese(50_001) })),
            pair("description.zh", "too_long"),
        ),
        ("discipline 101", with("/discipline", json!(chinese(101))), pair("discipline", "too_long")),
        ("region 101", with("/region", json!(chinese(101))), pair("region", "too_long")),
        ("keyword 101", with("/keywords/0", json!(chinese(101))), pair("keywords[0]", "too_long")),
        (
            "31 keywords",
            with("/keywords", json!((0..31).map(|i| format!("词{i}")).collect::<Vec<_>>())),
            pair("keywords", "too_many"),
        ),
    ];
    assert_refused(&app, &owner, cases).await;

    // Exactly at the limits (three bytes a character, so well over the limits in bytes): accepted.
    let mut at_limits = valid_listing();
    at_limits["title"] = json!({ "zh": chinese(200) });
    at_limits["summary"] = json!({ "zh": chinese(2000) });
    at_limits["description"] = json!({ "zh": chinese(50_000) });
    at_limits["discipline"] = json!(chinese(100));
    at_limits["keywords"] = json!((0..30).map(|i| format!("词{i}")).collect::<Vec<_>>());
    let created = create(&app, &owner, at_limits).await;
    assert_eq!(created.assert_status(201)["title"]["zh"].as_str().unwrap().chars().count(), 200);
}

#[tokio::test]
async fn malformed_ipc_classes_are_refused_and_valid_ones_normalized() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("武汉大学").await;
    let cases = vec![
        ("not an IPC", with("/ipc_classes", json!(["锂电池"])), pair("ipc_classes[0]", "invalid_format")),
        ("bad section", with("/ipc_classes", json!(["Z01M 10/00"])), pair("ipc_classes[0]", "invalid_format")),
        (
            "second bad",
            with("/ipc_classes", json!(["H01M 4/525", "H01M 10"])),
            pair("ipc_classes[1]", "invalid_format"),
        ),
        ("duplicate", with("/ipc_classes", json!(["H01M 4/525", "h01m4/525"])), pair("ipc_classes[1]", "duplicate")),
    ];
    assert_refused(&app, &owner, cases).await;
    let created = create(&app, &owner, with("/ipc_classes", json!(["g06n3/08"]))).await;
    assert_eq!(created.assert_status(201)["ipc_classes"], json!(["G06N 3/08"]));
}

#[tokio::test]
async fn a_contact_needs_a_well_formed_email_or_phone() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("中山大学").await;
    let cases = vec![
        ("no at", with("/contact/email", json!("tech-transfer.example.org")), pair("contact.email", "invalid_format")),
        ("no domain dot", with("/contact/email", json!("a@localhost")), pair("contact.email", "invalid_format")),
        ("spaces", with("/contact/email", json!("a b@example.org")), pair("contact.email", "invalid_format")),
        ("two ats", with("/contact/email", json!("a@b@example.org")), pair("contact.email", "invalid_format")),
        ("neither", with("/contact", json!({ "name": "张老师" })), pair("contact", "required")),
        ("blank name", with("/contact/name", json!("  ")), pair("contact.name", "required")),
        (
            "bad phone",
            with("/contact", json!({ "name": "张老师", "phone": "call me" })),
            pair("contact.phone", "invalid_format"),
        ),
    ];
    assert_refused(&app, &owner, cases).await;
    create(&app, &owner, with("/contact", json!({ "name": "张老师", "phone": "+86 411 8437 9000" })))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn title_summary_and_description_must_be_complete_in_one_language() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("四川大学").await;
    let mut mixed = valid_listing();
    mixed["title"] = json!({ "zh": "一种正极材料" });
    mixed["summary"] = json!({ "en": "A cathode material." });
    mixed["description"] = json!({ "zh": "本发明公开了一种正极材料。" });
    let mut blank = valid_listing();
    blank["summary"] = json!({ "zh": "   " });
    let cases = vec![
        ("mixed", mixed, pair("title", "incomplete_language")),
        ("empty title", with("/title", json!({})), pair("title", "required")),
        ("blank summary", blank, pair("summary", "required")),
    ];
    assert_refused(&app, &owner, cases).await;

    let mut english = valid_listing();
    english["title"] = json!({ "en": "A cathode material" });
    english["summary"] = json!({ "en": "Better cycle life." });
    english["description"] = json!({ "en": "The invention discloses a cathode material." });
    create(&app, &owner, english).await.assert_status(201);
}

#[tokio::test]
async fn a_patent_kind_listing_must_name_a_patent() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("山东大学").await;
    let mut utility = with("/patents", json!([]));
    utility["kind"] = json!("utility_model");
    let cases = vec![
        ("invention_patent", with("/patents", json!([])), pair("patents", "required")),
        ("utility_model", utility, pair("patents", "required")),
        (
            "no patents key",
            {
                let mut body = valid_listing();
                body.as_object_mut().unwrap().remove("patents");
                body
            },
            pair("patents", "required"),
        ),
    ];
    assert_refused(&app, &owner, cases).await;
    let mut know_how = with("/patents", json!([]));
    know_how["kind"] = json!("know_how");
    create(&app, &owner, know_how).await.assert_status(201);
}

#[tokio::test]
async fn every_problem_in_a_body_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("吉林大学").await;
    let before = count_mine(&app, &owner).await;
    let mut body = valid_listing();
    body["trl"] = json!(0);
    body["transfer_modes"] = json!([]);
    body["discipline"] = json!(" ");
    body["contact"]["email"] = json!("nope");
    let mut got = field_errors(&create(&app, &owner, body).await);
    got.sort();
    let mut expected = vec![
        ("trl".to_owned(), "out_of_range".to_owned()),
        ("transfer_modes".to_owned(), "required".to_owned()),
        ("discipline".to_owned(), "required".to_owned()),
        ("contact.email".to_owned(), "invalid_format".to_owned()),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(count_mine(&app, &owner).await, before);
}

#[tokio::test]
async fn a_patch_that_makes_the_content_invalid_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let before = get_listing(&app, &id, &owner).await;
    let cases = [
        (json!({ "trl": 0 }), pair("trl", "out_of_range")),
        (json!({ "patents": [] }), pair("patents", "required")),
        (json!({ "title": { "zh": "锂".repeat(201) } }), pair("title.zh", "too_long")),
        (json!({ "summary": { "en": "Only English." } }), pair("title", "incomplete_language")),
        (json!({ "contact": { "name": "张老师", "email": "broken" } }), pair("contact.email", "invalid_format")),
        (json!({ "asking_price": { "amount": 0, "currency": "CNY" } }), pair("asking_price.amount", "out_of_range")),
        (json!({ "kind": "spaceship" }), pair("kind", "invalid_value")),
    ];
    for (patch, expected) in cases {
        let reply = app.patch(&path(&id), Some(&owner.token), patch.clone()).await;
        assert_eq!(field_errors(&reply), expected, "{patch}");
    }
    let after = get_listing(&app, &id, &owner).await;
    assert_eq!(after, before, "a refused patch must leave the listing untouched");
    assert_eq!(after["version"], 1);
    assert_eq!(history_actions(&app, &id, &owner).await, vec!["created"]);
}

#[tokio::test]
async fn an_empty_patch_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let reply = app.patch(&path(&id), Some(&owner.token), json!({})).await;
    assert_eq!(field_errors(&reply), pair("body", "empty_patch"));
    assert_eq!(get_listing(&app, &id, &owner).await["version"], 1);
}

#[tokio::test]
async fn a_patch_with_a_null_price_makes_the_price_negotiable() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let reply = app.patch(&path(&id), Some(&owner.token), json!({ "asking_price": null })).await;
    let body = reply.assert_status(200);
    assert!(body["asking_price"].is_null(), "{body}");
    assert_eq!(body["trl"], 6, "fields not sent stay as they were");
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let before = count_mine(&app, &owner).await;
    let json = Some("application/json");
    for body in [&b"{\"title\": "[..], b"{\"trl\": 6,}", b"not json", b"{\"trl\": 6", b""] {
        let create = send_raw(&app, reqwest::Method::POST, "/api/v1/listings", &owner.token, json, body.to_vec()).await;
        create.assert_error(400, "malformed_json");
        let patch = send_raw(&app, reqwest::Method::PATCH, &path(&id), &owner.token, json, body.to_vec()).await;
        patch.assert_error(400, "malformed_json");
    }
    // Trailing characters after a complete document.
    let trailing =
        send_raw(&app, reqwest::Method::PATCH, &path(&id), &owner.token, json, b"{\"trl\": 7} x".to_vec()).await;
    trailing.assert_error(400, "malformed_json");
    assert_eq!(count_mine(&app, &owner).await, before);
    assert_eq!(get_listing(&app, &id, &owner).await["version"], 1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("厦门大学").await;
    let text = serde_json::to_vec(&valid_listing()).unwrap();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/xml"), None] {
        let reply =
            send_raw(&app, reqwest::Method::POST, "/api/v1/listings", &owner.token, content_type, text.clone()).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (415, Some("unsupported_media_type")),
            "{content_type:?}: {}",
            reply.body
        );
    }
    assert_eq!(count_mine(&app, &owner).await, 0);
    let charset = send_raw(
        &app,
        reqwest::Method::POST,
        "/api/v1/listings",
        &owner.token,
        Some("application/json; charset=utf-8"),
        text,
    )
    .await;
    charset.assert_status(201);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("同济大学").await;
    let body = serde_json::to_vec(&with("/description", json!({ "en": "a".repeat(1024 * 1024 + 1) }))).unwrap();
    assert!(body.len() > 1024 * 1024);
    let reply =
        send_raw(&app, reqwest::Method::POST, "/api/v1/listings", &owner.token, Some("application/json"), body).await;
    reply.assert_error(413, "payload_too_large");
    assert_eq!(count_mine(&app, &owner).await, 0);
}

// ---- attachments ----

#[tokio::test]
async fn a_pdf_attachment_is_stored_and_downloaded_byte_for_byte() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;

    let reply = upload(&app, &id, &owner, file("技术说明书.pdf", PDF)).await;
    let attachment = reply.assert_status(201).clone();
    assert_eq!(attachment["file_name"], "技术说明书.pdf");
    assert_eq!(attachment["size"], PDF.len());
    assert_eq!(attachment["content_type"], "application/pdf");
    let sha256 = attachment["sha256"].as_str().unwrap();
    assert!(sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()), "{sha256}");
    let attachment_id = attachment["id"].as_str().unwrap();
    assert_eq!(attachment["url"], format!("/api/v1/attachments/{attachment_id}"));

    let listing = get_listing(&app, &id, &owner).await;
    let listed = listing["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listing}");
    assert_eq!(listed[0]["id"], attachment_id);
    assert_eq!(listed[0]["sha256"], sha256);
    let history = app.get(&format!("{}/history", path(&id)), Some(&owner.token)).await;
    let last = history.assert_status(200)["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "attachment_added");
    assert_eq!(last["actor_id"], owner.user_id.as_str());

    let response = app
        .client
        .get(app.url(&format!("/api/v1/attachments/{attachment_id}")))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E6%8A%80%E6%9C%AF%E8%AF%B4%E6%98%8E%E4%B9%A6.pdf"),
        "{disposition}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(&response.bytes().await.unwrap()[..], PDF);

    // On disk under its hash.
    let blob = attachments_dir(&app).join(&sha256[..2]).join(format!("{sha256}.pdf"));
    assert_eq!(std::fs::read(&blob).unwrap(), PDF);
    assert!(files_in(&attachments_dir(&app).join("tmp")).is_empty());

    // A draft's attachment is as hidden from the public as the draft.
    app.get(&format!("/api/v1/attachments/{attachment_id}"), None).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_file_that_is_not_a_pdf_is_refused_whatever_its_name_and_declared_type() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let html: &[u8] = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    for (what, bytes) in [("png", png), ("html", html), ("short", &b"%PD"[..]), ("empty", &b""[..])] {
        let reply = upload(&app, &id, &owner, file("x.pdf", bytes)).await;
        reply.assert_error(415, "unsupported_media_type");
        let listing = get_listing(&app, &id, &owner).await;
        assert_nothing_left(&app, what, &listing, &history_actions(&app, &id, &owner).await);
    }
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_refused_with_413() {
    let app = TestApp::spawn_with(|s| s.attachments.max_bytes = 64 * 1024).await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(100 * 1024, b'A');
    let reply = upload(&app, &id, &owner, file("big.pdf", &big)).await;
    reply.assert_error(413, "payload_too_large");
    let listing = get_listing(&app, &id, &owner).await;
    assert_nothing_left(&app, "too large", &listing, &history_actions(&app, &id, &owner).await);

    // Exactly at the limit is fine.
    let mut at_limit = b"%PDF-1.4\n".to_vec();
    at_limit.resize(64 * 1024, b'A');
    upload(&app, &id, &owner, file("limit.pdf", &at_limit)).await.assert_status(201);
}

#[tokio::test]
async fn file_names_with_paths_or_traversal_are_refused() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    for name in ["../../etc/passwd.pdf", "a/b.pdf", "..\\x.pdf", "/etc/passwd.pdf", "..", ""] {
        let reply = upload(&app, &id, &owner, file(name, PDF)).await;
        assert_eq!(field_errors(&reply), pair("file", "invalid_file_name"), "{name:?}");
        let listing = get_listing(&app, &id, &owner).await;
        assert_nothing_left(&app, name, &listing, &history_actions(&app, &id, &owner).await);
    }
    let outside = app.settings.data.dir.join("etc");
    assert!(!outside.exists());
}

#[tokio::test]
async fn an_upload_without_a_file_part_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let cases = [
        (
            "other part",
            multipart(&[Part {
                name: "document",
                file_name: Some("x.pdf"),
                content_type: "application/pdf",
                bytes: PDF,
            }]),
        ),
        ("no parts", multipart(&[])),
    ];
    for (what, body) in cases {
        let reply = upload(&app, &id, &owner, body).await;
        assert_eq!(field_errors(&reply), pair("file", "required"), "{what}");
        let listing = get_listing(&app, &id, &owner).await;
        assert_nothing_left(&app, what, &listing, &history_actions(&app, &id, &owner).await);
    }
}

#[tokio::test]
async fn an_upload_that_is_not_multipart_is_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let target = format!("{}/attachments", path(&id));
    for content_type in [Some("application/pdf"), Some("application/json"), None] {
        let reply = send_raw(&app, reqwest::Method::POST, &target, &owner.token, content_type, PDF.to_vec()).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (415, Some("unsupported_media_type")), "{content_type:?}");
        let listing = get_listing(&app, &id, &owner).await;
        assert_nothing_left(&app, "not multipart", &listing, &history_actions(&app, &id, &owner).await);
    }
}

#[tokio::test]
async fn files_cannot_be_attached_once_the_listing_is_submitted_or_published() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("中国农业大学").await;
    let reviewer = app.reviewer().await;
    let submitted = app.draft(&owner).await;
    app.post(&format!("{}/submit", path(&submitted)), Some(&owner.token), json!({})).await.assert_status(200);
    let published = app.published(&owner, &reviewer).await;
    for id in [&submitted, &published] {
        upload(&app, id, &owner, file("x.pdf", PDF)).await.assert_error(409, "listing_not_editable");
        let listing = get_listing(&app, id, &owner).await;
        assert_nothing_left(&app, id, &listing, &history_actions(&app, id, &owner).await);
    }
}

#[tokio::test]
async fn the_same_pdf_uploaded_twice_is_stored_once() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let other = app.draft(&owner).await;
    let first = upload(&app, &id, &owner, file("a.pdf", PDF)).await;
    let first = first.assert_status(201).clone();
    let second = upload(&app, &other, &owner, file("b.pdf", PDF)).await;
    let second = second.assert_status(201).clone();
    assert_ne!(first["id"], second["id"]);
    assert_eq!(first["sha256"], second["sha256"]);
    let sha256 = first["sha256"].as_str().unwrap();
    let blobs = stored_blobs(&app);
    assert_eq!(blobs, vec![attachments_dir(&app).join(&sha256[..2]).join(format!("{sha256}.pdf"))]);
    for (listing, attachment) in [(&id, &first), (&other, &second)] {
        let response = app
            .client
            .get(app.url(attachment["url"].as_str().unwrap()))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(&response.bytes().await.unwrap()[..], PDF);
        assert_eq!(get_listing(&app, listing, &owner).await["attachments"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_rejected_listing_accepts_attachments_for_its_revision() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("东南大学").await;
    let reviewer = app.reviewer().await;
    let id = app.draft(&owner).await;
    app.post(&format!("{}/submit", path(&id)), Some(&owner.token), json!({})).await.assert_status(200);
    app.post(
        &format!("{}/review", path(&id)),
        Some(&reviewer.token),
        json!({ "decision": "reject", "reason": "缺附件" }),
    )
    .await
    .assert_status(200);
    upload(&app, &id, &owner, file("附件.pdf", PDF)).await.assert_status(201);
    let listing = get_listing(&app, &id, &owner).await;
    assert_eq!(listing["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn patents_transfer_modes_and_keywords_are_checked_item_by_item() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("大连理工大学").await;
    let second_patent = json!({ "number": "zl202110012345.6", "legal_status": "pending" });
    let cases = vec![
        ("blank number", with("/patents/0/number", json!("  ")), pair("patents[0].number", "required")),
        ("odd number", with("/patents/0/number", json!("ZL2021<script>")), pair("patents[0].number", "invalid_format")),
        (
            "granted before filed",
            with("/patents/0/granted_on", json!("2020-01-01")),
            pair("patents[0].granted_on", "inconsistent"),
        ),
        ("bad date", with("/patents/0/filed_on", json!("2021-13-40")), pair("patents[0].filed_on", "invalid_type")),
        (
            "same patent twice",
            with("/patents", json!([valid_listing()["patents"][0].clone(), second_patent])),
            pair("patents[1].number", "duplicate"),
        ),
        ("no transfer mode", with("/transfer_modes", json!([])), pair("transfer_modes", "required")),
        ("same mode twice", with("/transfer_modes", json!(["equity", "equity"])), pair("transfer_modes", "duplicate")),
        ("blank keyword", with("/keywords/1", json!(" ")), pair("keywords[1]", "required")),
    ];
    assert_refused(&app, &owner, cases).await;
}

#[tokio::test]
async fn the_declared_type_of_an_upload_is_ignored_in_favour_of_its_content() {
    let app = TestApp::spawn().await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let body =
        multipart(&[Part { name: "file", file_name: Some("说明.pdf"), content_type: "text/html", bytes: PDF }]);
    let reply = upload(&app, &id, &owner, body).await;
    assert_eq!(reply.assert_status(201)["content_type"], "application/pdf");
    let url = reply.body["url"].as_str().unwrap();
    let response = app.client.get(app.url(url)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/pdf");
}

#[tokio::test]
async fn a_large_extra_part_cannot_slip_past_the_size_limit() {
    let app = TestApp::spawn_with(|s| s.attachments.max_bytes = 64 * 1024).await;
    let (owner, id) = owner_of_a_draft(&app).await;
    let filler = vec![b'x'; 100 * 1024];
    let body = multipart(&[
        Part { name: "comment", file_name: None, content_type: "text/plain", bytes: &filler },
        Part { name: "file", file_name: Some("x.pdf"), content_type: "application/pdf", bytes: PDF },
    ]);
    upload(&app, &id, &owner, body).await.assert_error(413, "payload_too_large");
    let listing = get_listing(&app, &id, &owner).await;
    assert_nothing_left(&app, "extra part", &listing, &history_actions(&app, &id, &owner).await);

    // A small extra part is ignored and the file is taken.
    let body = multipart(&[
        Part { name: "comment", file_name: None, content_type: "text/plain", bytes: b"see attached" },
        Part { name: "file", file_name: Some("x.pdf"), content_type: "application/pdf", bytes: PDF },
    ]);
    upload(&app, &id, &owner, body).await.assert_status(201);
}

#[tokio::test]
async fn attachments_follow_the_visibility_of_their_listing() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("华中科技大学").await;
    let reviewer = app.reviewer().await;
    let id = app.draft(&owner).await;
    let attachment = upload(&app, &id, &owner, file("说明书.pdf", PDF)).await;
    let url = attachment.assert_status(201)["url"].as_str().unwrap().to_owned();
    app.get(&url, None).await.assert_error(404, "not_found");

    app.post(&format!("{}/submit", path(&id)), Some(&owner.token), json!({})).await.assert_status(200);
    app.post(&format!("{}/review", path(&id)), Some(&reviewer.token), json!({ "decision": "approve" }))
        .await
        .assert_status(200);
    let public = app.get(&path(&id), None).await;
    assert_eq!(public.assert_status(200)["attachments"][0]["url"], url.as_str());
    let response = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(&response.bytes().await.unwrap()[..], PDF);

    app.post(&format!("{}/withdraw", path(&id)), Some(&owner.token), json!({})).await.assert_status(200);
    app.get(&url, None).await.assert_error(404, "not_found");
}
