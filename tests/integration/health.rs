//! Operations endpoints, the API document, and what every response carries.

use achex_tests::TestApp;
use serde_json::Value;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.assert_status(200)["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_ready_once_migrated() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz", None).await.assert_status(200)["status"], "ready");
}

#[tokio::test]
async fn the_database_runs_with_durable_settings() {
    let app = TestApp::spawn().await;
    let durability = app.state.store.durability().await.unwrap();
    assert!(durability.is_durable(), "{durability:?}");
    if app.backend == "sqlite" {
        assert_eq!(durability.journal_mode.as_deref(), Some("wal"));
        assert_eq!(durability.synchronous, "2", "synchronous=FULL");
    } else {
        assert_eq!(durability.synchronous, "on");
    }
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text_format_with_route_patterns() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/listings/01a21db1-9460-7796-af7a-50c8d115da7a", None).await.assert_error(404, "not_found");
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("achex_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/listings/{id}\""), "ids must not become labels: {text}");
    assert!(!text.contains("01a21db1-9460"), "{text}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/api/v1/listings", "/api/v1/nothing-here", "/api/openapi.json"] {
        let reply = app.get(path, None).await;
        let csp = reply.headers.get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
        assert!(csp.as_deref().is_some_and(|c| c.contains("frame-ancestors 'none'")), "{path}: {csp:?}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_envelope() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/no-such-thing", None).await.assert_error(404, "not_found");
    app.request(reqwest::Method::PUT, "/api/v1/listings", None, None).await.assert_error(405, "method_not_allowed");
    app.request(reqwest::Method::DELETE, "/api/v1/me", None, None).await.assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn a_malformed_id_is_not_found_rather_than_a_server_error() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/listings/not-a-uuid", None).await.assert_error(404, "not_found");
    app.get("/api/v1/attachments/..%2F..%2Fetc%2Fpasswd", None).await.assert_error(404, "not_found");
    app.get("/api/v1/listings/%00", None).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_contract_path() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/openapi.json", None).await;
    let doc = doc.assert_status(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let contract = [
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("post", "/api/v1/admin/organizations/{id}/verify"),
        ("post", "/api/v1/listings"),
        ("get", "/api/v1/listings"),
        ("get", "/api/v1/listings/{id}"),
        ("patch", "/api/v1/listings/{id}"),
        ("post", "/api/v1/listings/{id}/submit"),
        ("post", "/api/v1/listings/{id}/review"),
        ("post", "/api/v1/listings/{id}/withdraw"),
        ("post", "/api/v1/listings/{id}/attachments"),
        ("get", "/api/v1/attachments/{id}"),
        ("get", "/api/v1/listings/{id}/history"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ];
    let missing: Vec<_> =
        contract.iter().filter(|(method, path)| paths.get(*path).and_then(|p| p.get(*method)).is_none()).collect();
    assert!(missing.is_empty(), "missing from the OpenAPI document: {missing:?}");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in ["ListingContent", "ErrorEnvelope", "Money", "ListingView"] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
}

#[tokio::test]
async fn the_interactive_docs_are_served_without_any_cdn() {
    let app = TestApp::spawn().await;
    let redirect = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(redirect.status().as_u16(), 308);
    let page = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the docs page must not load anything from the network: {html}");
    let init = app.client.get(app.url("/api/docs/swagger-initializer.js")).send().await.unwrap();
    let init = init.text().await.unwrap();
    assert!(init.contains("/api/openapi.json"), "{init}");
}

#[tokio::test]
async fn server_errors_are_never_reported_for_garbage_input() {
    let app = TestApp::spawn().await;
    let bodies = ["", "null", "[]", "{\"email\":[]}", "\u{0}", "{\"a\":", "1e999999"];
    for path in ["/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/listings"] {
        for body in bodies {
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let json: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_client_error(), "{path} {body:?} -> {status}");
            assert!(json["error"]["code"].is_string(), "{path} {body:?} -> {json}");
        }
    }
}
