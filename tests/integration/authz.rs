//! The authorization matrix: every endpoint under `/api/v1` (sign-up, sign-in, refresh and
//! sign-out are public by design and left out), every kind of caller, every listing status. The
//! rules come from the doc comments of `achex_api::routes::listings` and `routes::admin`:
//!
//! - published listings are public; any other status is visible only to the owning institute's
//!   staff and, once submitted, to reviewers and admins; to everyone else it does not exist (404);
//! - only the owning institute's staff edit, submit, withdraw and attach files; others who can
//!   see the listing get 403 `not_owner`;
//! - only reviewers and admins review (403 `forbidden_role` for others); admins may also withdraw;
//! - admin endpoints: verification for reviewers and admins, accounts for admins only.

use achex_core::Role;
use achex_tests::{Actor, Reply, TestApp, is_success, valid_listing};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// Staff of another institute.
    Other,
    Enterprise,
    Reviewer,
    /// Staff of the institute that owns the listing.
    Owner,
    Admin,
}

/// The column order of every row in [`matrix`].
const ACTORS: [Who; 6] = [Who::Anonymous, Who::Other, Who::Enterprise, Who::Reviewer, Who::Owner, Who::Admin];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Draft,
    InReview,
    Published,
    Rejected,
    Withdrawn,
}

const STATES: [State; 5] = [State::Draft, State::InReview, State::Published, State::Rejected, State::Withdrawn];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Me,
    MyListings,
    ReviewQueue,
    VerifyOrganization,
    DisableUser,
    EnableUser,
    DeleteUser,
    Catalogue,
    CreateListing,
    GetListing(State),
    EditListing(State),
    Submit(State),
    Approve(State),
    Withdraw(State),
    History(State),
    Attach(State),
    Download(State),
}

/// Expected status and error code (`""` for a success).
type Expect = (u16, &'static str);

const OK: Expect = (200, "");
const CREATED: Expect = (201, "");
const NO_CONTENT: Expect = (204, "");
const UNAUTHENTICATED: Expect = (401, "authentication_required");
const FORBIDDEN_ROLE: Expect = (403, "forbidden_role");
const NOT_OWNER: Expect = (403, "not_owner");
const HIDDEN: Expect = (404, "not_found");
const NOT_EDITABLE: Expect = (409, "listing_not_editable");
const NOT_DRAFT: Expect = (409, "listing_not_draft");
const NOT_IN_REVIEW: Expect = (409, "listing_not_in_review");
const NOT_PUBLISHED: Expect = (409, "listing_not_published");

struct Row {
    endpoint: Endpoint,
    who: Who,
    expected: Expect,
}

fn rows(table: &mut Vec<Row>, endpoint: Endpoint, expected: [Expect; 6]) {
    for (who, expected) in ACTORS.into_iter().zip(expected) {
        table.push(Row { endpoint, who, expected });
    }
}

/// The whole matrix. Columns: anonymous, other institute, enterprise, reviewer, owner, admin.
fn matrix() -> Vec<Row> {
    use State::*;
    let mut t = Vec::new();
    rows(&mut t, Endpoint::Me, [UNAUTHENTICATED, OK, OK, OK, OK, OK]);
    rows(&mut t, Endpoint::MyListings, [UNAUTHENTICATED, OK, FORBIDDEN_ROLE, FORBIDDEN_ROLE, OK, FORBIDDEN_ROLE]);
    rows(&mut t, Endpoint::ReviewQueue, [UNAUTHENTICATED, FORBIDDEN_ROLE, FORBIDDEN_ROLE, OK, FORBIDDEN_ROLE, OK]);
    rows(
        &mut t,
        Endpoint::VerifyOrganization,
        [UNAUTHENTICATED, FORBIDDEN_ROLE, FORBIDDEN_ROLE, OK, FORBIDDEN_ROLE, OK],
    );
    for endpoint in [Endpoint::DisableUser, Endpoint::EnableUser, Endpoint::DeleteUser] {
        rows(
            &mut t,
            endpoint,
            [UNAUTHENTICATED, FORBIDDEN_ROLE, FORBIDDEN_ROLE, FORBIDDEN_ROLE, FORBIDDEN_ROLE, NO_CONTENT],
        );
    }
    rows(&mut t, Endpoint::Catalogue, [OK, OK, OK, OK, OK, OK]);
    rows(
        &mut t,
        Endpoint::CreateListing,
        [UNAUTHENTICATED, CREATED, FORBIDDEN_ROLE, FORBIDDEN_ROLE, CREATED, FORBIDDEN_ROLE],
    );

    // Who can see a listing at all: reading it, its history and its files follow from this.
    let visible = |state: State| -> [Expect; 6] {
        match state {
            Draft => [HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK, HIDDEN],
            Published => [OK, OK, OK, OK, OK, OK],
            InReview | Rejected | Withdrawn => [HIDDEN, HIDDEN, HIDDEN, OK, OK, OK],
        }
    };
    for state in STATES {
        rows(&mut t, Endpoint::GetListing(state), visible(state));
        rows(&mut t, Endpoint::Download(state), visible(state));
    }

    rows(&mut t, Endpoint::History(Draft), [UNAUTHENTICATED, HIDDEN, HIDDEN, HIDDEN, OK, HIDDEN]);
    rows(&mut t, Endpoint::History(Published), [UNAUTHENTICATED, NOT_OWNER, NOT_OWNER, OK, OK, OK]);
    for state in [InReview, Rejected, Withdrawn] {
        rows(&mut t, Endpoint::History(state), [UNAUTHENTICATED, HIDDEN, HIDDEN, OK, OK, OK]);
    }

    // Editing and attaching: only the owner, only while the listing is a draft or rejected.
    for (endpoint, success) in [(Endpoint::EditListing as fn(State) -> Endpoint, OK), (Endpoint::Attach, CREATED)] {
        rows(&mut t, endpoint(Draft), [UNAUTHENTICATED, HIDDEN, HIDDEN, HIDDEN, success, HIDDEN]);
        rows(&mut t, endpoint(InReview), [UNAUTHENTICATED, HIDDEN, HIDDEN, NOT_OWNER, NOT_EDITABLE, NOT_OWNER]);
        rows(&mut t, endpoint(Published), [UNAUTHENTICATED, NOT_OWNER, NOT_OWNER, NOT_OWNER, NOT_EDITABLE, NOT_OWNER]);
        rows(&mut t, endpoint(Rejected), [UNAUTHENTICATED, HIDDEN, HIDDEN, NOT_OWNER, success, NOT_OWNER]);
        rows(&mut t, endpoint(Withdrawn), [UNAUTHENTICATED, HIDDEN, HIDDEN, NOT_OWNER, NOT_EDITABLE, NOT_OWNER]);
    }

    rows(&mut t, Endpoint::Submit(Draft), [UNAUTHENTICATED, HIDDEN, HIDDEN, HIDDEN, OK, HIDDEN]);
    rows(&mut t, Endpoint::Submit(Published), [UNAUTHENTICATED, NOT_OWNER, NOT_OWNER, NOT_OWNER, NOT_DRAFT, NOT_OWNER]);
    for state in [InReview, Rejected, Withdrawn] {
        rows(&mut t, Endpoint::Submit(state), [UNAUTHENTICATED, HIDDEN, HIDDEN, NOT_OWNER, NOT_DRAFT, NOT_OWNER]);
    }

    rows(&mut t, Endpoint::Approve(Draft), [UNAUTHENTICATED, HIDDEN, HIDDEN, HIDDEN, FORBIDDEN_ROLE, HIDDEN]);
    rows(&mut t, Endpoint::Approve(InReview), [UNAUTHENTICATED, HIDDEN, HIDDEN, OK, FORBIDDEN_ROLE, OK]);
    rows(
        &mut t,
        Endpoint::Approve(Published),
        [UNAUTHENTICATED, FORBIDDEN_ROLE, FORBIDDEN_ROLE, NOT_IN_REVIEW, FORBIDDEN_ROLE, NOT_IN_REVIEW],
    );
    for state in [Rejected, Withdrawn] {
        rows(
            &mut t,
            Endpoint::Approve(state),
            [UNAUTHENTICATED, HIDDEN, HIDDEN, NOT_IN_REVIEW, FORBIDDEN_ROLE, NOT_IN_REVIEW],
        );
    }

    rows(&mut t, Endpoint::Withdraw(Draft), [UNAUTHENTICATED, HIDDEN, HIDDEN, HIDDEN, NOT_PUBLISHED, HIDDEN]);
    rows(&mut t, Endpoint::Withdraw(Published), [UNAUTHENTICATED, NOT_OWNER, NOT_OWNER, NOT_OWNER, OK, OK]);
    for state in [InReview, Rejected, Withdrawn] {
        rows(
            &mut t,
            Endpoint::Withdraw(state),
            [UNAUTHENTICATED, HIDDEN, HIDDEN, NOT_OWNER, NOT_PUBLISHED, NOT_PUBLISHED],
        );
    }
    t
}

/// What a row's request acts on, prepared fresh for the row so no row depends on another.
enum Target {
    Nothing,
    Listing(String),
    Attachment { id: String, listing: String },
    User(Actor),
    Organization(Actor),
}

/// What the owner sees of a listing: enough to notice any change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: Value,
    version: Value,
    trl: Value,
    attachments: usize,
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

async fn attach(app: &TestApp, token: Option<&str>, listing: &str) -> Reply {
    let part =
        reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("brochure.pdf").mime_str("application/pdf").unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let mut request = app.client.post(app.url(&format!("/api/v1/listings/{listing}/attachments"))).multipart(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    TestApp::reply(request.send().await.unwrap()).await
}

struct World {
    app: TestApp,
    owner: Actor,
    other: Actor,
    enterprise: Actor,
    reviewer: Actor,
    admin: Actor,
}

impl World {
    async fn new() -> World {
        let app = TestApp::spawn().await;
        let owner = app.verified_institute("Owning Institute").await;
        let other = app.verified_institute("Other Institute").await;
        let enterprise = app.enterprise().await;
        let reviewer = app.reviewer().await;
        let admin = app.admin().await;
        World { app, owner, other, enterprise, reviewer, admin }
    }

    fn actor(&self, who: Who) -> Option<&Actor> {
        match who {
            Who::Anonymous => None,
            Who::Other => Some(&self.other),
            Who::Enterprise => Some(&self.enterprise),
            Who::Reviewer => Some(&self.reviewer),
            Who::Owner => Some(&self.owner),
            Who::Admin => Some(&self.admin),
        }
    }

    fn token(&self, who: Who) -> Option<&str> {
        self.actor(who).map(|a| a.token.as_str())
    }

    /// A fresh listing of the owner's institute in `state`; `with_attachment` adds a PDF while
    /// it is still a draft.
    async fn listing(&self, state: State, with_attachment: bool) -> (String, Option<String>) {
        let app = &self.app;
        let id = app.draft(&self.owner).await;
        let attachment = if with_attachment {
            let reply = attach(app, Some(&self.owner.token), &id).await;
            Some(reply.assert_status(201)["id"].as_str().unwrap().to_owned())
        } else {
            None
        };
        let action = |path: &'static str, token: &str, body: Value| {
            let url = format!("/api/v1/listings/{id}/{path}");
            let token = token.to_owned();
            async move { app.post(&url, Some(&token), body).await.assert_status(200).clone() }
        };
        if state != State::Draft {
            action("submit", &self.owner.token, json!({})).await;
        }
        match state {
            State::Draft | State::InReview => {}
            State::Rejected => {
                action("review", &self.reviewer.token, json!({"decision": "reject", "reason": "needs detail"})).await;
            }
            State::Published | State::Withdrawn => {
                action("review", &self.reviewer.token, json!({"decision": "approve"})).await;
            }
        }
        if state == State::Withdrawn {
            action("withdraw", &self.owner.token, json!({})).await;
        }
        let status = app.get(&format!("/api/v1/listings/{id}"), Some(&self.owner.token)).await;
        let expected = match state {
            State::Draft => "draft",
            State::InReview => "in_review",
            State::Published => "published",
            State::Rejected => "rejected",
            State::Withdrawn => "withdrawn",
        };
        assert_eq!(status.assert_status(200)["status"], expected, "fixture for {state:?}");
        (id, attachment)
    }

    async fn snapshot(&self, listing: &str) -> Snapshot {
        let reply = self.app.get(&format!("/api/v1/listings/{listing}"), Some(&self.owner.token)).await;
        let body = reply.assert_status(200);
        Snapshot {
            status: body["status"].clone(),
            version: body["version"].clone(),
            trl: body["trl"].clone(),
            attachments: body["attachments"].as_array().map_or(0, Vec::len),
        }
    }

    async fn prepare(&self, endpoint: Endpoint) -> Target {
        use Endpoint::*;
        match endpoint {
            Me | MyListings | ReviewQueue | Catalogue | CreateListing => Target::Nothing,
            VerifyOrganization => {
                Target::Organization(self.app.register(Role::InstituteStaff, "Unverified Inst").await)
            }
            DisableUser | DeleteUser => Target::User(self.app.enterprise().await),
            EnableUser => {
                let victim = self.app.enterprise().await;
                self.app
                    .post(
                        &format!("/api/v1/admin/users/{}/disable", victim.user_id),
                        Some(&self.admin.token),
                        json!({}),
                    )
                    .await
                    .assert_status(204);
                Target::User(victim)
            }
            Download(state) => {
                let (listing, attachment) = self.listing(state, true).await;
                Target::Attachment { id: attachment.unwrap(), listing }
            }
            GetListing(state) | EditListing(state) | Submit(state) | Approve(state) | Withdraw(state)
            | History(state) | Attach(state) => Target::Listing(self.listing(state, false).await.0),
        }
    }

    async fn call(&self, endpoint: Endpoint, who: Who, target: &Target) -> Reply {
        use Endpoint::*;
        let app = &self.app;
        let token = self.token(who);
        let listing = match target {
            Target::Listing(id) | Target::Attachment { listing: id, .. } => id.as_str(),
            _ => "",
        };
        let user = match target {
            Target::User(actor) | Target::Organization(actor) => Some(actor),
            _ => None,
        };
        match endpoint {
            Me => app.get("/api/v1/me", token).await,
            MyListings => app.get("/api/v1/me/listings", token).await,
            ReviewQueue => app.get("/api/v1/review-queue", token).await,
            VerifyOrganization => {
                let org = &user.unwrap().organization_id;
                app.post(&format!("/api/v1/admin/organizations/{org}/verify"), token, json!({})).await
            }
            DisableUser => {
                app.post(&format!("/api/v1/admin/users/{}/disable", user.unwrap().user_id), token, json!({})).await
            }
            EnableUser => {
                app.post(&format!("/api/v1/admin/users/{}/enable", user.unwrap().user_id), token, json!({})).await
            }
            DeleteUser => {
                app.request(Method::DELETE, &format!("/api/v1/admin/users/{}", user.unwrap().user_id), token, None)
                    .await
            }
            Catalogue => app.get("/api/v1/listings", token).await,
            CreateListing => app.post("/api/v1/listings", token, valid_listing()).await,
            GetListing(_) => app.get(&format!("/api/v1/listings/{listing}"), token).await,
            EditListing(_) => app.patch(&format!("/api/v1/listings/{listing}"), token, json!({"trl": 7})).await,
            Submit(_) => app.post(&format!("/api/v1/listings/{listing}/submit"), token, json!({})).await,
            Approve(_) => {
                app.post(&format!("/api/v1/listings/{listing}/review"), token, json!({"decision": "approve"})).await
            }
            Withdraw(_) => app.post(&format!("/api/v1/listings/{listing}/withdraw"), token, json!({})).await,
            History(_) => app.get(&format!("/api/v1/listings/{listing}/history"), token).await,
            Attach(_) => attach(app, token, listing).await,
            Download(_) => {
                let Target::Attachment { id, .. } = target else { unreachable!() };
                app.get(&format!("/api/v1/attachments/{id}"), token).await
            }
        }
    }

    /// Whether an account-level target is still untouched (`Some(reason)` when it is not).
    async fn account_changed(&self, endpoint: Endpoint, target: &Target) -> Option<String> {
        match (endpoint, target) {
            (Endpoint::DisableUser | Endpoint::DeleteUser, Target::User(victim)) => {
                let me = self.app.get("/api/v1/me", Some(&victim.token)).await;
                (me.status.as_u16() != 200).then(|| format!("the victim's token now gets {}", me.status))
            }
            (Endpoint::EnableUser, Target::User(victim)) => {
                let me = self.app.get("/api/v1/me", Some(&victim.token)).await;
                (me.status.as_u16() != 401).then(|| format!("the disabled victim's token now gets {}", me.status))
            }
            (Endpoint::VerifyOrganization, Target::Organization(member)) => {
                let me = self.app.get("/api/v1/me", Some(&member.token)).await;
                (me.body["organization"]["verified"] != false).then(|| "the organisation is now verified".to_owned())
            }
            _ => None,
        }
    }
}

fn describe(reply: &Reply) -> String {
    format!("{} {}", reply.status.as_u16(), reply.code().unwrap_or(""))
}

#[tokio::test]
async fn every_endpoint_answers_every_actor_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let table = matrix();
    let mut mismatches = Vec::new();
    let mut unexpected_successes = Vec::new();
    for row in &table {
        let target = world.prepare(row.endpoint).await;
        let before = match &target {
            Target::Listing(id) | Target::Attachment { listing: id, .. } => Some(world.snapshot(id).await),
            _ => None,
        };
        let reply = world.call(row.endpoint, row.who, &target).await;
        let (status, code) = row.expected;
        let actual_code = reply.code().unwrap_or("");
        let succeeded = is_success(reply.status);
        if reply.status.as_u16() != status || (!code.is_empty() && actual_code != code) {
            mismatches.push(format!(
                "{:?} as {:?}: expected {status} {code}, got {} — {}",
                row.endpoint,
                row.who,
                describe(&reply),
                reply.body
            ));
            if succeeded && !(200..300).contains(&status) {
                unexpected_successes.push(format!("{:?} as {:?}", row.endpoint, row.who));
            }
        }
        if !succeeded {
            // A refused request changes nothing.
            if let (Some(before), Target::Listing(id) | Target::Attachment { listing: id, .. }) = (&before, &target) {
                let after = world.snapshot(id).await;
                if &after != before {
                    mismatches.push(format!(
                        "{:?} as {:?} was refused ({}) but changed the listing: {before:?} -> {after:?}",
                        row.endpoint,
                        row.who,
                        describe(&reply)
                    ));
                }
            }
            if let Some(change) = world.account_changed(row.endpoint, &target).await {
                mismatches.push(format!(
                    "{:?} as {:?} was refused ({}) but {change}",
                    row.endpoint,
                    row.who,
                    describe(&reply)
                ));
            }
        }
    }
    assert!(table.len() > 250, "the matrix covers {} rows", table.len());
    assert!(
        mismatches.is_empty(),
        "{} of {} rows differ from the matrix (unexpected successes: {unexpected_successes:?}):\n{}",
        mismatches.len(),
        table.len(),
        mismatches.join("\n")
    );
}

// ---------------------------------------------------------------- mass assignment

/// Fields the platform sets; a client naming any of them is refused outright.
fn platform_fields(world: &World) -> Vec<(&'static str, Value)> {
    vec![
        ("status", json!("published")),
        ("institute_id", json!(world.other.organization_id)),
        ("owner", json!(world.other.user_id)),
        ("created_by", json!(world.other.user_id)),
        ("version", json!(99)),
        ("published_at", json!("2020-01-01T00:00:00Z")),
        ("id", json!("0197a6f0-0000-7000-8000-000000000000")),
        ("rejection_reason", json!(null)),
    ]
}

/// Checks a reply refuses `field` as unknown: the status and code must match (a panic otherwise),
/// and a wrongly named field is returned as a problem so the caller can still check the rest.
#[track_caller]
fn check_unknown_field(reply: &Reply, field: &str, problems: &mut Vec<String>) {
    reply.assert_error(422, "validation_failed");
    let fields = reply.body.pointer("/error/details/fields").and_then(Value::as_array).cloned().unwrap_or_default();
    if !fields.iter().any(|f| f["field"] == field && f["code"] == "unknown_field") {
        problems.push(format!("{field} must be reported as {{field: {field}, code: unknown_field}}: {}", reply.body));
    }
}

#[tokio::test]
async fn creating_a_listing_with_platform_controlled_fields_is_refused_and_creates_nothing() {
    let world = World::new().await;
    let app = &world.app;
    let mut problems = Vec::new();
    for (field, value) in platform_fields(&world) {
        let mut body = valid_listing();
        body[field] = value;
        let reply = app.post("/api/v1/listings", Some(&world.owner.token), body).await;
        check_unknown_field(&reply, field, &mut problems);
    }
    let mine = app.get("/api/v1/me/listings", Some(&world.owner.token)).await;
    assert_eq!(mine.assert_status(200)["items"], json!([]), "no listing was created");
    let theirs = app.get("/api/v1/me/listings", Some(&world.other.token)).await;
    assert_eq!(theirs.assert_status(200)["items"], json!([]), "nothing was planted on the other institute");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn patching_platform_controlled_fields_is_refused_and_changes_nothing() {
    let world = World::new().await;
    let app = &world.app;
    let mut problems = Vec::new();
    let (draft, _) = world.listing(State::Draft, false).await;
    let (published, _) = world.listing(State::Published, false).await;
    for id in [&draft, &published] {
        let before =
            app.get(&format!("/api/v1/listings/{id}"), Some(&world.owner.token)).await.assert_status(200).clone();
        for (field, value) in platform_fields(&world) {
            let mut body = json!({ "trl": 8 });
            body[field] = value;
            let reply = app.patch(&format!("/api/v1/listings/{id}"), Some(&world.owner.token), body).await;
            check_unknown_field(&reply, field, &mut problems);
        }
        let after = app.get(&format!("/api/v1/listings/{id}"), Some(&world.owner.token)).await;
        let after = after.assert_status(200);
        for key in ["status", "version", "trl", "institute", "published_at", "updated_at"] {
            assert_eq!(after[key], before[key], "{key} of {id} changed");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn lifecycle_bodies_cannot_smuggle_fields_either() {
    let world = World::new().await;
    let app = &world.app;
    let mut problems = Vec::new();
    let (in_review, _) = world.listing(State::InReview, false).await;
    let reply = app
        .post(
            &format!("/api/v1/listings/{in_review}/review"),
            Some(&world.reviewer.token),
            json!({"decision": "reject", "reason": "no", "status": "published"}),
        )
        .await;
    check_unknown_field(&reply, "status", &mut problems);
    let (published, _) = world.listing(State::Published, false).await;
    let reply = app
        .post(&format!("/api/v1/listings/{published}/withdraw"), Some(&world.owner.token), json!({"status": "draft"}))
        .await;
    check_unknown_field(&reply, "status", &mut problems);
    assert_eq!(world.snapshot(&in_review).await.status, "in_review");
    assert_eq!(world.snapshot(&published).await.status, "published");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------- focused rules

#[tokio::test]
async fn another_institute_is_told_a_draft_does_not_exist_and_a_published_listing_is_not_theirs() {
    let world = World::new().await;
    let app = &world.app;
    let other = Some(world.other.token.as_str());
    for (state, expected) in [(State::Draft, HIDDEN), (State::Published, NOT_OWNER)] {
        let (id, _) = world.listing(state, false).await;
        let before = world.snapshot(&id).await;
        let replies = [
            ("patch", app.patch(&format!("/api/v1/listings/{id}"), other, json!({"trl": 9})).await),
            ("submit", app.post(&format!("/api/v1/listings/{id}/submit"), other, json!({})).await),
            ("withdraw", app.post(&format!("/api/v1/listings/{id}/withdraw"), other, json!({})).await),
            ("attach", attach(app, other, &id).await),
            ("history", app.get(&format!("/api/v1/listings/{id}/history"), other).await),
        ];
        for (what, reply) in replies {
            assert_eq!(
                (reply.status.as_u16(), reply.code()),
                (expected.0, Some(expected.1)),
                "{what} on a {state:?} listing: {}",
                reply.body
            );
        }
        assert_eq!(world.snapshot(&id).await, before, "nothing changed on the {state:?} listing");
    }
}

#[tokio::test]
async fn enterprise_members_cannot_create_listings() {
    let world = World::new().await;
    let reply = world.app.post("/api/v1/listings", Some(&world.enterprise.token), valid_listing()).await;
    reply.assert_error(403, "forbidden_role");
    world.app.get("/api/v1/me/listings", Some(&world.enterprise.token)).await.assert_error(403, "forbidden_role");
}

#[tokio::test]
async fn institute_staff_cannot_review_even_their_own_listing() {
    let world = World::new().await;
    let app = &world.app;
    let (id, _) = world.listing(State::InReview, false).await;
    for decision in [json!({"decision": "approve"}), json!({"decision": "reject", "reason": "self-review"})] {
        let reply = app.post(&format!("/api/v1/listings/{id}/review"), Some(&world.owner.token), decision).await;
        reply.assert_error(403, "forbidden_role");
    }
    let reply = app
        .post(&format!("/api/v1/listings/{id}/review"), Some(&world.other.token), json!({"decision": "approve"}))
        .await;
    reply.assert_error(404, "not_found");
    assert_eq!(world.snapshot(&id).await.status, "in_review");
    let queue = app.get("/api/v1/review-queue", Some(&world.reviewer.token)).await;
    assert!(queue.assert_status(200)["items"].as_array().unwrap().iter().any(|l| l["id"] == id.as_str()));
}

#[tokio::test]
async fn a_drafts_attachment_cannot_be_downloaded_by_anyone_outside_the_institute() {
    let world = World::new().await;
    let app = &world.app;
    let (listing, attachment) = world.listing(State::Draft, true).await;
    let attachment = attachment.unwrap();
    let path = format!("/api/v1/attachments/{attachment}");
    for who in [Who::Anonymous, Who::Other, Who::Enterprise, Who::Reviewer, Who::Admin] {
        let reply = app.get(&path, world.token(who)).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (404, Some("not_found")), "{who:?}: {}", reply.body);
        assert!(reply.headers.get("content-disposition").is_none(), "{who:?} got the file");
    }
    let owner = app.client.get(app.url(&path)).bearer_auth(&world.owner.token).send().await.unwrap();
    assert_eq!(owner.status().as_u16(), 200);
    assert_eq!(owner.bytes().await.unwrap().as_ref(), PDF);
    // The listing itself is just as invisible to them.
    app.get(&format!("/api/v1/listings/{listing}"), None).await.assert_error(404, "not_found");
    // An unknown or malformed attachment id looks the same as a hidden one.
    app.get(&format!("/api/v1/attachments/{}", uuid::Uuid::now_v7()), None).await.assert_error(404, "not_found");
    app.get("/api/v1/attachments/not-an-id", None).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn my_listings_shows_only_the_own_institutes_listings_in_every_status() {
    let world = World::new().await;
    let app = &world.app;
    let mut own = Vec::new();
    for state in STATES {
        own.push(world.listing(state, false).await.0);
    }
    let theirs = app.draft(&world.other).await;
    let reply = app.get("/api/v1/me/listings", Some(&world.owner.token)).await;
    let mut ids: Vec<String> = reply.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    own.sort();
    assert_eq!(ids, own, "the owner sees exactly their institute's listings, drafts included");
    let reply = app.get("/api/v1/me/listings", Some(&world.other.token)).await;
    let items = reply.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], theirs.as_str());
    assert_eq!(items[0]["institute"]["id"], world.other.organization_id.as_str());
}

#[tokio::test]
async fn the_review_queue_is_for_reviewers_and_admins_and_holds_only_listings_in_review() {
    let world = World::new().await;
    let app = &world.app;
    let mut by_state = Vec::new();
    for state in STATES {
        by_state.push((state, world.listing(state, false).await.0));
    }
    for who in [Who::Other, Who::Enterprise, Who::Owner] {
        app.get("/api/v1/review-queue", world.token(who)).await.assert_error(403, "forbidden_role");
    }
    app.get("/api/v1/review-queue", None).await.assert_error(401, "authentication_required");
    for who in [Who::Reviewer, Who::Admin] {
        let reply = app.get("/api/v1/review-queue", world.token(who)).await;
        let ids: Vec<&str> =
            reply.assert_status(200)["items"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
        let in_review: Vec<&str> =
            by_state.iter().filter(|(s, _)| *s == State::InReview).map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, in_review, "{who:?}");
    }
}

#[tokio::test]
async fn the_public_catalogue_shows_only_published_listings() {
    let world = World::new().await;
    let app = &world.app;
    let mut published = None;
    for state in STATES {
        let (id, _) = world.listing(state, false).await;
        if state == State::Published {
            published = Some(id);
        }
    }
    for who in ACTORS {
        let reply = app.get("/api/v1/listings", world.token(who)).await;
        let ids: Vec<&str> =
            reply.assert_status(200)["items"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![published.as_deref().unwrap()], "{who:?}");
        let filtered =
            app.get(&format!("/api/v1/listings?institute={}", world.owner.organization_id), world.token(who)).await;
        assert_eq!(filtered.assert_status(200)["items"].as_array().unwrap().len(), 1, "{who:?}");
    }
}

#[tokio::test]
async fn a_colleague_who_joined_by_invite_code_acts_for_the_institute() {
    let world = World::new().await;
    let app = &world.app;
    let colleague = app.join(Role::InstituteStaff, world.owner.invite_code.as_deref().unwrap()).await;
    let (id, _) = world.listing(State::Draft, false).await;
    app.get(&format!("/api/v1/listings/{id}"), Some(&colleague.token)).await.assert_status(200);
    app.patch(&format!("/api/v1/listings/{id}"), Some(&colleague.token), json!({"trl": 7})).await.assert_status(200);
    app.post(&format!("/api/v1/listings/{id}/submit"), Some(&colleague.token), json!({})).await.assert_status(200);
    let history = app.get(&format!("/api/v1/listings/{id}/history"), Some(&colleague.token)).await;
    let entries = history.assert_status(200)["entries"].as_array().unwrap().clone();
    assert!(entries.iter().any(|e| e["actor_id"] == colleague.user_id.as_str()), "{entries:?}");
}

#[tokio::test]
async fn listing_endpoints_answer_404_for_unknown_and_malformed_ids() {
    let world = World::new().await;
    let app = &world.app;
    let owner = Some(world.owner.token.as_str());
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        app.get(&format!("/api/v1/listings/{id}"), owner).await.assert_error(404, "not_found");
        app.patch(&format!("/api/v1/listings/{id}"), owner, json!({"trl": 7})).await.assert_error(404, "not_found");
        app.post(&format!("/api/v1/listings/{id}/submit"), owner, json!({})).await.assert_error(404, "not_found");
        app.get(&format!("/api/v1/listings/{id}/history"), owner).await.assert_error(404, "not_found");
        app.post(&format!("/api/v1/listings/{id}/review"), Some(&world.reviewer.token), json!({"decision": "approve"}))
            .await
            .assert_error(404, "not_found");
    }
}
