//! The access-token negative suite: every forged, stale, mistyped or misdirected token is a 401 on
//! `GET /api/v1/me`. A positive control signed the same way with the real key proves each case
//! fails for the reason it names, not because the test's own signing is broken.

use achex_core::{Clock as _, Role};
use achex_tests::{Actor, Reply, TestApp};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The server's HS256 key, as `achex serve` generated it into the data directory.
fn real_key(app: &TestApp) -> Vec<u8> {
    let text = std::fs::read_to_string(app.settings.data.dir.join("jwt-secret")).expect("the generated JWT secret");
    STANDARD.decode(text.trim()).expect("the JWT secret is base64")
}

/// Claims exactly as the server issues them, for `actor`, at the server's now.
fn good_claims(app: &TestApp, actor: &Actor) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "sub": actor.user_id,
        "iss": app.settings.auth.issuer,
        "aud": app.settings.auth.audience,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "typ": "access",
        "role": actor.role.as_str(),
    })
}

fn sign(claims: &Value, algorithm: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(key)).expect("sign a test token")
}

fn sign_real(app: &TestApp, claims: &Value) -> String {
    sign(claims, Algorithm::HS256, &real_key(app))
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

async fn me(app: &TestApp, token: &str) -> Reply {
    app.get("/api/v1/me", Some(token)).await
}

async fn me_with_header(app: &TestApp, value: &str) -> Reply {
    let response = app.client.get(app.url("/api/v1/me")).header("Authorization", value).send().await.unwrap();
    TestApp::reply(response).await
}

#[track_caller]
fn assert_refused(reply: &Reply, code: &str) {
    reply.assert_error(401, code);
    assert_eq!(
        reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer"),
        "a 401 names the scheme"
    );
    assert!(reply.body.get("id").is_none(), "no user data leaks: {}", reply.body);
}

/// Claims `good_claims` with some keys replaced (`null` removes a key).
fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn a_token_signed_with_the_real_key_and_correct_claims_is_accepted() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Control Institute").await;
    let token = sign_real(&app, &good_claims(&app, &staff));
    let reply = me(&app, &token).await;
    assert_eq!(reply.assert_status(200)["id"], staff.user_id.as_str());
    // The issued token has the shape the forgeries imitate.
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(staff.token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(staff.token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["typ"], "access");
    assert_eq!(payload["iss"], "achex");
    assert_eq!(payload["aud"], "achex-api");
    assert_eq!(payload["sub"], staff.user_id.as_str());
    assert!(payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap() <= 900, "{payload}");
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "None Institute").await;
    let claims = good_claims(&app, &staff);
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None", "typ": "JWT"}),
        json!({"alg": "NONE", "typ": "JWT"}),
        json!({"typ": "JWT"}),
    ] {
        let token = format!("{}.{}.", b64(&header), b64(&claims));
        assert_refused(&me(&app, &token).await, "invalid_token");
        // Nor with the signature of a genuine token glued on.
        let real_signature = staff.token.rsplit('.').next().unwrap();
        let token = format!("{}.{}.{real_signature}", b64(&header), b64(&claims));
        assert_refused(&me(&app, &token).await, "invalid_token");
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Wrong Key Institute").await;
    let claims = good_claims(&app, &staff);
    let token = sign(&claims, Algorithm::HS256, b"an attacker's own secret of at least 32 bytes!!");
    assert_refused(&me(&app, &token).await, "invalid_token");
    let mut almost = real_key(&app);
    almost[0] ^= 1;
    assert_refused(&me(&app, &sign(&claims, Algorithm::HS256, &almost)).await, "invalid_token");
}

#[tokio::test]
async fn a_tampered_payload_with_the_original_signature_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Tamper Institute").await;
    let admin = app.admin().await;
    let parts: Vec<&str> = staff.token.split('.').collect();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    for changes in [
        json!({"role": "admin"}),
        json!({"sub": admin.user_id}),
        json!({"sub": admin.user_id, "role": "admin"}),
        json!({"exp": payload["exp"].as_i64().unwrap() + 86_400}),
    ] {
        let forged = with(payload.clone(), changes.clone());
        let token = format!("{}.{}.{}", parts[0], b64(&forged), parts[2]);
        let reply = me(&app, &token).await;
        assert_refused(&reply, "invalid_token");
        assert!(!reply.body.to_string().contains(&admin.user_id), "{changes}");
    }
    // The untouched token still works: the edit, not the harness, is what fails.
    me(&app, &staff.token).await.assert_status(200);
}

#[tokio::test]
async fn an_expired_token_is_refused_as_expired() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Expiry Institute").await;
    app.clock.advance(Duration::minutes(16));
    assert_refused(&me(&app, &staff.token).await, "token_expired");
}

#[tokio::test]
async fn a_token_is_accepted_within_the_leeway_after_expiry_and_refused_just_past_it() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Leeway Institute").await;
    app.clock.advance(Duration::minutes(15) + Duration::seconds(20));
    me(&app, &staff.token).await.assert_status(200);
    app.clock.advance(Duration::seconds(11));
    assert_refused(&me(&app, &staff.token).await, "token_expired");
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Future Institute").await;
    let now = app.clock.now().timestamp();
    let future = with(good_claims(&app, &staff), json!({"iat": now + 600, "nbf": now + 600, "exp": now + 900}));
    let token = sign_real(&app, &future);
    assert_refused(&me(&app, &token).await, "invalid_token");
    // Once the clock reaches nbf, the very same token works: nbf was the reason.
    app.clock.advance(Duration::minutes(10));
    me(&app, &token).await.assert_status(200);
}

#[tokio::test]
async fn a_small_clock_skew_on_nbf_is_tolerated() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Skew Institute").await;
    let now = app.clock.now().timestamp();
    let token = sign_real(&app, &with(good_claims(&app, &staff), json!({"nbf": now + 20})));
    me(&app, &token).await.assert_status(200);
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Audience Institute").await;
    let claims = good_claims(&app, &staff);
    for changes in [
        json!({"aud": "some-other-api"}),
        json!({"aud": ["some-other-api"]}),
        json!({"aud": null}),
        json!({"iss": "evil"}),
        json!({"iss": "achex "}),
        json!({"iss": null}),
    ] {
        let token = sign_real(&app, &with(claims.clone(), changes.clone()));
        let reply = me(&app, &token).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("invalid_token")), "{changes}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn hs512_with_the_right_key_is_refused_because_the_algorithm_is_pinned() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Algorithm Institute").await;
    let claims = good_claims(&app, &staff);
    for algorithm in [Algorithm::HS512, Algorithm::HS384] {
        let token = sign(&claims, algorithm, &real_key(&app));
        assert_refused(&me(&app, &token).await, "invalid_token");
    }
}

#[tokio::test]
async fn a_refresh_token_cannot_be_used_as_an_access_token() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Refresh As Access").await;
    assert_refused(&me(&app, &staff.refresh_token).await, "invalid_token");
}

#[tokio::test]
async fn a_token_without_typ_or_of_another_type_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Typ Institute").await;
    let claims = good_claims(&app, &staff);
    for changes in [json!({"typ": null}), json!({"typ": "refresh"}), json!({"typ": "Access"}), json!({"typ": ""})] {
        let token = sign_real(&app, &with(claims.clone(), changes.clone()));
        let reply = me(&app, &token).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("invalid_token")), "{changes}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn a_token_missing_a_required_claim_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Claims Institute").await;
    let claims = good_claims(&app, &staff);
    for missing in ["exp", "nbf", "sub"] {
        let mut changes = json!({});
        changes[missing] = Value::Null;
        let token = sign_real(&app, &with(claims.clone(), changes));
        let reply = me(&app, &token).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("invalid_token")), "{missing}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn a_validly_signed_token_for_no_existing_user_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Ghost Institute").await;
    let claims = good_claims(&app, &staff);
    for sub in [json!(uuid::Uuid::now_v7().to_string()), json!("not-a-uuid"), json!("")] {
        let token = sign_real(&app, &with(claims.clone(), json!({ "sub": sub })));
        assert_refused(&me(&app, &token).await, "invalid_token");
    }
}

#[tokio::test]
async fn the_role_claim_grants_nothing_the_account_does_not_have() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Role Claim Institute").await;
    // Signed with the real key, so it authenticates: but as the institute staff member it names.
    let token = sign_real(&app, &with(good_claims(&app, &staff), json!({"role": "admin"})));
    assert_eq!(me(&app, &token).await.assert_status(200)["role"], "institute_staff");
    app.get("/api/v1/review-queue", Some(&token)).await.assert_error(403, "forbidden_role");
}

#[tokio::test]
async fn a_disabled_users_token_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Disabled Token Institute").await;
    let admin = app.admin().await;
    let forged_later = sign_real(&app, &good_claims(&app, &staff));
    app.post(&format!("/api/v1/admin/users/{}/disable", staff.user_id), Some(&admin.token), json!({}))
        .await
        .assert_status(204);
    assert_refused(&me(&app, &staff.token).await, "account_disabled");
    assert_refused(&me(&app, &forged_later).await, "account_disabled");
}

#[tokio::test]
async fn a_malformed_authorization_header_is_refused() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Header Institute").await;
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer    ".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        "Basic xxx".to_owned(),
        staff.token.clone(),
        format!("Token {}", staff.token),
        format!("Bearer{}", staff.token),
        "Bearer not.a.jwt".to_owned(),
        "Bearer a.b".to_owned(),
        "Bearer ...".to_owned(),
    ] {
        let reply = me_with_header(&app, &value).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (401, Some("invalid_token")), "{value:?}: {:?}", reply.body);
    }
    // The well-formed header with the same token is accepted.
    me_with_header(&app, &format!("Bearer {}", staff.token)).await.assert_status(200);
}

#[tokio::test]
async fn an_invalid_token_is_refused_even_where_signing_in_is_optional() {
    let app = TestApp::spawn().await;
    let staff = app.verified_institute("Optional Auth Institute").await;
    let reviewer = app.reviewer().await;
    let id = app.published(&staff, &reviewer).await;
    let path = format!("/api/v1/listings/{id}");
    app.get(&path, None).await.assert_status(200);
    app.get(&path, Some(&staff.token)).await.assert_status(200);
    // A client that sends a token must not be silently served as anonymous.
    let forged = sign(&good_claims(&app, &staff), Algorithm::HS256, b"an attacker's own secret of at least 32 bytes!!");
    assert_refused(&app.get(&path, Some(&forged)).await, "invalid_token");
    app.clock.advance(Duration::minutes(16));
    assert_refused(&app.get(&path, Some(&staff.token)).await, "token_expired");
}
