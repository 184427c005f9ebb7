//! Accounts: registration, sign-in, refresh rotation, sign-out, login throttling, and what
//! disabling, deleting and verifying do.

use achex_core::Role;
use achex_tests::{PASSWORD, Reply, TestApp};
use chrono::Duration;
use serde_json::{Value, json};

fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.org", uuid::Uuid::now_v7().simple())
}

async fn register_raw(app: &TestApp, body: Value) -> Reply {
    app.post("/api/v1/auth/register", None, body).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": refresh_token })).await
}

/// The `(field, code)` pairs of a `validation_failed` reply.
fn field_errors(reply: &Reply) -> Vec<(String, String)> {
    reply
        .body
        .pointer("/error/details/fields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .map(|f| (f["field"].as_str().unwrap_or("").to_owned(), f["code"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn assert_field_error(reply: &Reply, field: &str, code: &str) {
    reply.assert_error(422, "validation_failed");
    let fields = field_errors(reply);
    assert!(
        fields.iter().any(|(f, c)| f == field && c == code),
        "expected {field}/{code} among {fields:?}: {}",
        serde_json::to_string_pretty(&reply.body).unwrap_or_default()
    );
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .headers
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .expect("Retry-After is ASCII")
        .parse()
        .expect("Retry-After is a number of seconds")
}

// ---------------------------------------------------------------- registration

#[tokio::test]
async fn registering_with_a_new_organisation_creates_it_unverified_and_shows_the_invite_code_to_its_member() {
    let app = TestApp::spawn().await;
    let email = unique_email("Founder");
    let reply = register_raw(
        &app,
        json!({
            "email": format!("  {email}  "),
            "password": PASSWORD,
            "display_name": "  Founder  ",
            "role": "institute_staff",
            "organization_name": "  Dalian Institute of Chemical Physics  ",
        }),
    )
    .await;
    let body = reply.assert_status(201);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{body}");
    assert!(body["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["user"].get("password_hash").is_none() && body["user"].get("password").is_none(), "{body}");
    let user = &body["user"];
    assert_eq!(user["email"], email.to_lowercase(), "e-mails are trimmed and lower-cased");
    assert_eq!(user["display_name"], "Founder");
    assert_eq!(user["role"], "institute_staff");
    let org = &user["organization"];
    assert_eq!(org["name"], "Dalian Institute of Chemical Physics");
    assert_eq!(org["kind"], "institute");
    assert_eq!(org["verified"], false, "a self-registered organisation starts unverified");
    assert!(org["verified_at"].is_null());
    let code = org["invite_code"].as_str().expect("the member sees the invite code");
    assert!(code.len() >= 16, "invite codes are long enough not to be guessed: {code}");

    let me = app.get("/api/v1/me", body["access_token"].as_str()).await;
    let me = me.assert_status(200);
    assert_eq!(me["organization"]["invite_code"], code, "GET /me shows it to the member as well");
    assert_eq!(me["organization"]["verified"], false);
}

#[tokio::test]
async fn the_invite_code_is_never_shown_outside_the_organisation() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Secretive Institute").await;
    let code = staff.invite_code.clone().expect("members see the code");
    let reviewer = app.reviewer().await;
    let verified = app
        .post(
            &format!("/api/v1/admin/organizations/{}/verify", staff.organization_id),
            Some(&reviewer.token),
            json!({}),
        )
        .await;
    let verified = verified.assert_status(200);
    assert!(verified.get("invite_code").is_none(), "the reviewer is not a member: {verified}");
    assert!(!verified.to_string().contains(&code));

    // Nor in anything the public catalogue or another member's view shows.
    let reviewer_me = app.get("/api/v1/me", Some(&reviewer.token)).await;
    assert!(!reviewer_me.assert_status(200).to_string().contains(&code));
    let id = app.published(&staff, &reviewer).await;
    for token in [None, Some(reviewer.token.as_str())] {
        let listing = app.get(&format!("/api/v1/listings/{id}"), token).await;
        assert!(!listing.assert_status(200).to_string().contains(&code));
        let page = app.get("/api/v1/listings", token).await;
        assert!(!page.assert_status(200).to_string().contains(&code));
    }
}

#[tokio::test]
async fn a_colleague_joins_an_existing_organisation_with_its_invite_code() {
    let app = TestApp::spawn().await;
    let founder = app.register(Role::InstituteStaff, "Joinable Institute").await;
    let code = founder.invite_code.clone().unwrap();
    let colleague = app.join(Role::InstituteStaff, &format!(" {code} ")).await;
    assert_eq!(colleague.organization_id, founder.organization_id);
    assert_ne!(colleague.user_id, founder.user_id);
    assert_eq!(colleague.invite_code.as_deref(), Some(code.as_str()), "a member sees the code");
    let me = app.get("/api/v1/me", Some(&colleague.token)).await;
    let me = me.assert_status(200);
    assert_eq!(me["role"], "institute_staff");
    assert_eq!(me["organization"]["name"], "Joinable Institute");
}

#[tokio::test]
async fn an_invite_code_of_another_organisation_kind_is_refused() {
    let app = TestApp::spawn().await;
    let institute = app.register(Role::InstituteStaff, "Institute With A Code").await;
    let enterprise = app.enterprise().await;
    let cases = [
        ("enterprise_member", institute.invite_code.clone().unwrap()),
        ("institute_staff", enterprise.invite_code.clone().unwrap()),
        ("organizer", institute.invite_code.clone().unwrap()),
        ("institute_staff", "no-such-code-anywhere".to_owned()),
    ];
    for (role, code) in cases {
        let reply = register_raw(
            &app,
            json!({ "email": unique_email("joiner"), "password": PASSWORD, "display_name": "Joiner", "role": role, "invite_code": code }),
        )
        .await;
        assert_field_error(&reply, "invite_code", "invalid_invite_code");
    }
}

#[tokio::test]
async fn platform_roles_cannot_be_self_assigned() {
    let app = TestApp::spawn().await;
    let institute = app.register(Role::InstituteStaff, "Some Institute").await;
    for role in ["reviewer", "admin"] {
        let with_new_org = register_raw(
            &app,
            json!({ "email": unique_email(role), "password": PASSWORD, "display_name": "Mallory", "role": role, "organization_name": "Mallory Inc" }),
        )
        .await;
        assert_field_error(&with_new_org, "role", "invalid_value");
        let with_code = register_raw(
            &app,
            json!({ "email": unique_email(role), "password": PASSWORD, "display_name": "Mallory", "role": role, "invite_code": institute.invite_code }),
        )
        .await;
        with_code.assert_error(422, "validation_failed");
    }
    let unknown_role = register_raw(
        &app,
        json!({ "email": unique_email("x"), "password": PASSWORD, "display_name": "Mallory", "role": "superuser", "organization_name": "M" }),
    )
    .await;
    assert_field_error(&unknown_role, "role", "invalid_value");
}

#[tokio::test]
async fn registration_refuses_fields_that_would_grant_privileges() {
    let app = TestApp::spawn().await;
    let mut problems = Vec::new();
    for (field, value) in [
        ("verified", json!(true)),
        ("organization_id", json!("0197a6f0-0000-7000-8000-000000000000")),
        ("disabled", json!(false)),
        ("id", json!("0197a6f0-0000-7000-8000-000000000001")),
    ] {
        let email = unique_email("sneaky");
        let mut body = json!({
            "email": email, "password": PASSWORD, "display_name": "Sneaky",
            "role": "institute_staff", "organization_name": "Sneaky Institute",
        });
        body[field] = value;
        let reply = register_raw(&app, body).await;
        // Refused outright: no account was made.
        reply.assert_error(422, "validation_failed");
        app.login(&email, PASSWORD).await.assert_error(401, "invalid_credentials");
        let fields = field_errors(&reply);
        if !fields.iter().any(|(f, c)| f == field && c == "unknown_field") {
            problems.push(format!("{field}: expected ({field}, unknown_field), got {fields:?}"));
        }
    }
    assert!(problems.is_empty(), "the error must name the refused field:\n{}", problems.join("\n"));
}

#[tokio::test]
async fn an_email_that_is_taken_is_refused_with_409_whatever_its_case() {
    let app = TestApp::spawn().await;
    let first = app.enterprise().await;
    for email in [first.email.clone(), first.email.to_uppercase(), format!(" {} ", first.email)] {
        let reply = register_raw(
            &app,
            json!({ "email": email, "password": PASSWORD, "display_name": "Again", "role": "institute_staff", "organization_name": "Second Org" }),
        )
        .await;
        reply.assert_error(409, "email_taken");
    }
    // The failed sign-up left no organisation behind and the original account still works.
    app.login(&first.email, PASSWORD).await.assert_status(200);
}

#[tokio::test]
async fn a_weak_password_is_refused_with_a_password_field_error() {
    let app = TestApp::spawn().await;
    for (password, code) in [("", "too_short"), ("short", "too_short"), ("123456789", "too_short")] {
        let reply = register_raw(
            &app,
            json!({ "email": unique_email("weak"), "password": password, "display_name": "Weak", "role": "enterprise_member", "organization_name": "Weak Ltd" }),
        )
        .await;
        assert_field_error(&reply, "password", code);
    }
    let huge = "x".repeat(257);
    let reply = register_raw(
        &app,
        json!({ "email": unique_email("huge"), "password": huge, "display_name": "Huge", "role": "enterprise_member", "organization_name": "Huge Ltd" }),
    )
    .await;
    assert_field_error(&reply, "password", "too_long");
}

#[tokio::test]
async fn registration_needs_exactly_one_of_organisation_name_and_invite_code() {
    let app = TestApp::spawn().await;
    let other = app.enterprise().await;
    let neither = register_raw(
        &app,
        json!({ "email": unique_email("n"), "password": PASSWORD, "display_name": "N", "role": "enterprise_member" }),
    )
    .await;
    assert_field_error(&neither, "organization_name", "required");
    let both = register_raw(
        &app,
        json!({ "email": unique_email("b"), "password": PASSWORD, "display_name": "B", "role": "enterprise_member",
                "organization_name": "B Ltd", "invite_code": other.invite_code }),
    )
    .await;
    assert_field_error(&both, "invite_code", "inconsistent");
}

// ---------------------------------------------------------------- login

#[tokio::test]
async fn logging_in_with_the_right_password_returns_a_working_token_pair() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Login Institute").await;
    let reply = app.login(&staff.email.to_uppercase(), PASSWORD).await;
    let body = reply.assert_status(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let me = app.get("/api/v1/me", body["access_token"].as_str()).await;
    assert_eq!(me.assert_status(200)["id"], staff.user_id.as_str());
    refresh(&app, body["refresh_token"].as_str().unwrap()).await.assert_status(200);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Login Institute").await;
    let wrong_password = app.login(&staff.email, "not the right password").await;
    wrong_password.assert_error(401, "invalid_credentials");
    let unknown = app.login(&unique_email("nobody"), "not the right password").await;
    unknown.assert_error(401, "invalid_credentials");
    assert_eq!(wrong_password.body, unknown.body, "the two failures must be indistinguishable");
    assert!(wrong_password.body.get("access_token").is_none());
}

// ---------------------------------------------------------------- refresh and logout

#[tokio::test]
async fn refreshing_rotates_to_a_new_pair_that_works() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Refresh Institute").await;
    app.clock.advance(Duration::seconds(5));
    let reply = refresh(&app, &staff.refresh_token).await;
    let body = reply.assert_status(200).clone();
    let access = body["access_token"].as_str().unwrap();
    let next = body["refresh_token"].as_str().unwrap();
    assert_ne!(next, staff.refresh_token, "the refresh token rotates");
    assert_ne!(access, staff.token);
    assert_eq!(app.get("/api/v1/me", Some(access)).await.assert_status(200)["id"], staff.user_id.as_str());
    // The successor rotates again.
    refresh(&app, next).await.assert_status(200);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_family() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Reuse Institute").await;
    let rotated = refresh(&app, &staff.refresh_token).await;
    let successor = rotated.assert_status(200)["refresh_token"].as_str().unwrap().to_owned();

    refresh(&app, &staff.refresh_token).await.assert_error(401, "token_reused");
    refresh(&app, &successor).await.assert_error(401, "token_revoked");
    // And the stolen token stays dead.
    let again = refresh(&app, &staff.refresh_token).await;
    assert_eq!(again.status.as_u16(), 401, "{:?}", again.body);
}

#[tokio::test]
async fn racing_refreshes_of_one_token_yield_one_successor_and_revoke_the_family() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let staff = app.register(Role::InstituteStaff, &format!("Racing Institute {round}")).await;
        let (a, b) = tokio::join!(refresh(&app, &staff.refresh_token), refresh(&app, &staff.refresh_token));
        let outcomes =
            [(a.status.as_u16(), a.code().map(str::to_owned)), (b.status.as_u16(), b.code().map(str::to_owned))];
        let winners: Vec<&Reply> = [&a, &b].into_iter().filter(|r| r.status.as_u16() == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one refresh wins: {outcomes:?}");
        assert!(
            outcomes.contains(&(401, Some("token_reused".to_owned()))),
            "round {round}: the loser is told the token was reused: {outcomes:?}"
        );
        let successor = winners[0].body["refresh_token"].as_str().unwrap();
        refresh(&app, successor).await.assert_error(401, "token_revoked");
    }
}

#[tokio::test]
async fn a_revoked_family_does_not_affect_another_session_of_the_same_user() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Two Sessions").await;
    let second =
        app.login(&staff.email, PASSWORD).await.assert_status(200)["refresh_token"].as_str().unwrap().to_owned();
    refresh(&app, &staff.refresh_token).await.assert_status(200);
    refresh(&app, &staff.refresh_token).await.assert_error(401, "token_reused");
    refresh(&app, &second).await.assert_status(200);
}

#[tokio::test]
async fn logging_out_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Logout Institute").await;
    let other_session =
        app.login(&staff.email, PASSWORD).await.assert_status(200)["refresh_token"].as_str().unwrap().to_owned();
    let reply = app.post("/api/v1/auth/logout", None, json!({ "refresh_token": staff.refresh_token })).await;
    reply.assert_status(204);
    refresh(&app, &staff.refresh_token).await.assert_error(401, "token_revoked");
    // Only that session ends.
    refresh(&app, &other_session).await.assert_status(200);
}

#[tokio::test]
async fn logging_out_revokes_the_tokens_already_rotated_from_the_same_sign_in() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Logout Family").await;
    let successor =
        refresh(&app, &staff.refresh_token).await.assert_status(200)["refresh_token"].as_str().unwrap().to_owned();
    app.post("/api/v1/auth/logout", None, json!({ "refresh_token": successor })).await.assert_status(204);
    refresh(&app, &successor).await.assert_error(401, "token_revoked");
}

#[tokio::test]
async fn logging_out_with_an_unknown_token_still_answers_204() {
    let app = TestApp::spawn().await;
    let reply = app.post("/api/v1/auth/logout", None, json!({ "refresh_token": "not-a-token" })).await;
    reply.assert_status(204);
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused() {
    let app = TestApp::spawn().await;
    refresh(&app, "definitely-not-issued-by-us").await.assert_error(401, "invalid_token");
}

#[tokio::test]
async fn a_refresh_token_expires_after_its_lifetime() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "Expiring Institute").await;
    app.clock.advance(Duration::days(app.settings.auth.refresh_ttl_days) + Duration::seconds(1));
    refresh(&app, &staff.refresh_token).await.assert_error(401, "token_expired");
}

// ---------------------------------------------------------------- /me

#[tokio::test]
async fn me_describes_the_signed_in_user_and_their_organisation() {
    let app = TestApp::spawn().await;
    let member = app.enterprise().await;
    let reply = app.get("/api/v1/me", Some(&member.token)).await;
    let me = reply.assert_status(200);
    assert_eq!(me["id"], member.user_id.as_str());
    assert_eq!(me["email"], member.email.as_str());
    assert_eq!(me["role"], "enterprise_member");
    assert_eq!(me["display_name"], "Test User");
    assert_eq!(me["organization"]["id"], member.organization_id.as_str());
    assert_eq!(me["organization"]["kind"], "enterprise");
    assert!(me.get("password_hash").is_none(), "{me}");
    assert!(!me.to_string().contains("$argon2"), "{me}");
}

#[tokio::test]
async fn me_without_a_token_is_401() {
    let app = TestApp::spawn().await;
    let reply = app.get("/api/v1/me", None).await;
    reply.assert_error(401, "authentication_required");
    assert_eq!(reply.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
}

// ---------------------------------------------------------------- throttling

#[tokio::test]
async fn failed_logins_lock_the_account_until_the_window_slides() {
    let app = TestApp::spawn_with(|s| {
        s.auth.login_failures_per_account = 3;
    })
    .await;
    let staff = app.register(Role::InstituteStaff, "Targeted Institute").await;
    let bystander = app.register(Role::InstituteStaff, "Bystander Institute").await;
    for _ in 0..3 {
        app.login(&staff.email, "wrong password!").await.assert_error(401, "invalid_credentials");
    }
    let blocked = app.login(&staff.email, "wrong password!").await;
    blocked.assert_error(429, "too_many_attempts");
    let window = app.settings.auth.login_account_window_secs as u64;
    assert_eq!(retry_after(&blocked), window, "no time has passed since the first failure");
    assert_eq!(blocked.body["error"]["details"]["retry_after_secs"], window);
    app.clock.advance(Duration::seconds(100));
    let later = app.login(&staff.email, "wrong password!").await;
    later.assert_error(429, "too_many_attempts");
    assert_eq!(retry_after(&later), window - 100, "Retry-After counts down with the window");

    // The right password does not help while the account is locked, in any spelling of the e-mail.
    app.login(&staff.email, PASSWORD).await.assert_error(429, "too_many_attempts");
    app.login(&staff.email.to_uppercase(), PASSWORD).await.assert_error(429, "too_many_attempts");
    // Other accounts are unaffected.
    app.login(&bystander.email, PASSWORD).await.assert_status(200);

    app.clock.advance(Duration::seconds(app.settings.auth.login_account_window_secs - 100) + Duration::seconds(1));
    app.login(&staff.email, PASSWORD).await.assert_status(200);
}

#[tokio::test]
async fn a_successful_login_forgives_earlier_failures() {
    let app = TestApp::spawn_with(|s| {
        s.auth.login_failures_per_account = 3;
    })
    .await;
    let staff = app.register(Role::InstituteStaff, "Forgetful Institute").await;
    for _ in 0..2 {
        app.login(&staff.email, "wrong password!").await.assert_error(401, "invalid_credentials");
    }
    app.login(&staff.email, PASSWORD).await.assert_status(200);
    for _ in 0..2 {
        app.login(&staff.email, "wrong password!").await.assert_error(401, "invalid_credentials");
    }
    app.login(&staff.email, PASSWORD).await.assert_status(200);
}

#[tokio::test]
async fn login_attempts_from_one_address_are_throttled_across_accounts() {
    let app = TestApp::spawn_with(|s| {
        s.auth.login_attempts_per_ip = 3;
    })
    .await;
    let mut accounts = Vec::new();
    for i in 0..4 {
        accounts.push(app.register(Role::EnterpriseMember, &format!("Sprayed Ltd {i}")).await);
    }
    app.login(&accounts[0].email, "wrong password!").await.assert_error(401, "invalid_credentials");
    app.login(&accounts[1].email, "wrong password!").await.assert_error(401, "invalid_credentials");
    app.login(&accounts[2].email, PASSWORD).await.assert_status(200);
    let blocked = app.login(&accounts[3].email, PASSWORD).await;
    blocked.assert_error(429, "too_many_attempts");
    assert_eq!(retry_after(&blocked), app.settings.auth.login_ip_window_secs as u64);
    app.login(&unique_email("nobody"), "whatever password").await.assert_error(429, "too_many_attempts");

    app.clock.advance(Duration::seconds(app.settings.auth.login_ip_window_secs) + Duration::seconds(1));
    app.login(&accounts[3].email, PASSWORD).await.assert_status(200);
}

// ---------------------------------------------------------------- disable, delete

#[tokio::test]
async fn a_disabled_users_access_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let staff = app.register(Role::InstituteStaff, "Soon Disabled").await;
    app.get("/api/v1/me", Some(&staff.token)).await.assert_status(200);
    let reply =
        app.post(&format!("/api/v1/admin/users/{}/disable", staff.user_id), Some(&admin.token), json!({})).await;
    reply.assert_status(204);
    app.get("/api/v1/me", Some(&staff.token)).await.assert_error(401, "account_disabled");
    app.get("/api/v1/me/listings", Some(&staff.token)).await.assert_error(401, "account_disabled");
    app.post("/api/v1/listings", Some(&staff.token), achex_tests::valid_listing())
        .await
        .assert_error(401, "account_disabled");
    refresh(&app, &staff.refresh_token).await.assert_error(401, "account_disabled");
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_until_enabled_again() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let staff = app.register(Role::InstituteStaff, "Disabled Institute").await;
    app.post(&format!("/api/v1/admin/users/{}/disable", staff.user_id), Some(&admin.token), json!({}))
        .await
        .assert_status(204);
    app.login(&staff.email, PASSWORD).await.assert_error(401, "invalid_credentials");
    app.post(&format!("/api/v1/admin/users/{}/enable", staff.user_id), Some(&admin.token), json!({}))
        .await
        .assert_status(204);
    let login = app.login(&staff.email, PASSWORD).await;
    let body = login.assert_status(200).clone();
    app.get("/api/v1/me", body["access_token"].as_str()).await.assert_status(200);
}

#[tokio::test]
async fn a_deleted_user_is_locked_out_of_tokens_refresh_and_login() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let member = app.enterprise().await;
    let path = format!("/api/v1/admin/users/{}", member.user_id);
    app.request(reqwest::Method::DELETE, &path, Some(&admin.token), None).await.assert_status(204);
    let me = app.get("/api/v1/me", Some(&member.token)).await;
    assert_eq!(me.status.as_u16(), 401, "{:?}", me.body);
    let again = refresh(&app, &member.refresh_token).await;
    assert_eq!(again.status.as_u16(), 401, "{:?}", again.body);
    app.login(&member.email, PASSWORD).await.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn admin_actions_on_an_unknown_user_are_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let nobody = uuid::Uuid::now_v7();
    for path in [format!("/api/v1/admin/users/{nobody}/disable"), format!("/api/v1/admin/users/{nobody}/enable")] {
        app.post(&path, Some(&admin.token), json!({})).await.assert_error(404, "not_found");
    }
    app.request(reqwest::Method::DELETE, &format!("/api/v1/admin/users/{nobody}"), Some(&admin.token), None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_admin_cannot_disable_enable_or_delete_their_own_account() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for action in ["disable", "enable"] {
        let reply =
            app.post(&format!("/api/v1/admin/users/{}/{action}", admin.user_id), Some(&admin.token), json!({})).await;
        reply.assert_error(409, "cannot_change_self");
    }
    app.request(reqwest::Method::DELETE, &format!("/api/v1/admin/users/{}", admin.user_id), Some(&admin.token), None)
        .await
        .assert_error(409, "cannot_change_self");
    app.get("/api/v1/me", Some(&admin.token)).await.assert_status(200);
}

// ---------------------------------------------------------------- verification

#[tokio::test]
async fn a_reviewer_verifies_an_organisation_and_an_enterprise_member_cannot() {
    let app = TestApp::spawn().await;
    let staff = app.register(Role::InstituteStaff, "To Be Verified").await;
    let enterprise = app.enterprise().await;
    let path = format!("/api/v1/admin/organizations/{}/verify", staff.organization_id);

    app.post(&path, Some(&enterprise.token), json!({})).await.assert_error(403, "forbidden_role");
    app.post(&path, Some(&staff.token), json!({})).await.assert_error(403, "forbidden_role");
    let me = app.get("/api/v1/me", Some(&staff.token)).await;
    assert_eq!(me.assert_status(200)["organization"]["verified"], false, "a refused request changes nothing");

    let reviewer = app.reviewer().await;
    let reply = app.post(&path, Some(&reviewer.token), json!({})).await;
    let org = reply.assert_status(200);
    assert_eq!(org["id"], staff.organization_id.as_str());
    assert_eq!(org["verified"], true);
    assert!(org["verified_at"].is_string(), "{org}");
    let me = app.get("/api/v1/me", Some(&staff.token)).await;
    assert_eq!(me.assert_status(200)["organization"]["verified"], true);

    // Idempotent, and admins may do it too.
    let admin = app.admin().await;
    app.post(&path, Some(&admin.token), json!({})).await.assert_status(200);
    app.post(&path, Some(&reviewer.token), json!({})).await.assert_status(200);
    let unknown = format!("/api/v1/admin/organizations/{}/verify", uuid::Uuid::now_v7());
    app.post(&unknown, Some(&reviewer.token), json!({})).await.assert_error(404, "not_found");
}
