//! The achex test harness.
//!
//! [`TestApp::spawn`] starts the real server, exactly as `achex serve` wires it, on port 0 with a
//! fresh database: a new SQLite file in a temporary directory, or a new PostgreSQL database when
//! `TEST_DATABASE_URL` is set (it names a server and a database to connect to for `CREATE
//! DATABASE`). Time is a [`ManualClock`] the test can move. Helpers create the usual actors
//! (institute staff, enterprise member, reviewer, admin) through the public API.

pub mod browser;
pub mod http_load;
pub mod measure;
pub mod smtp_sink;
pub mod storm;

use achex_api::AppState;
use achex_core::{Clock, ManualClock, Role};
use achex_server::seed::create_platform_user;
use achex_server::{Application, Settings, build_state, open_store};
use actix_web::web;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: web::Data<AppState>,
    pub settings: Settings,
    /// Which database this app runs on: `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The outbox indexer keeping this app's search index current.
    pub indexer: Arc<achex_server::indexer::Indexer>,
    /// The notification dispatcher (absent when `notifications.enabled` is off).
    pub notifier: Option<Arc<achex_server::notify::Notifier>>,
    handle: actix_web::dev::ServerHandle,
    _data_dir: Arc<tempfile::TempDir>,
}

/// Someone signed in through the API.
#[derive(Debug, Clone)]
pub struct Actor {
    pub email: String,
    pub token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub organization_id: String,
    pub invite_code: Option<String>,
    pub role: Role,
}

/// A response: status, headers and the JSON body (`Value::Null` when the body is empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The envelope's error code, if this is an error reply.
    pub fn code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }

    /// Asserts status and error code together, printing the body when they differ.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, Some(code)),
            "unexpected reply: {}",
            serde_json::to_string_pretty(&self.body).unwrap_or_default()
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected reply: {}",
            serde_json::to_string_pretty(&self.body).unwrap_or_default()
        );
        &self.body
    }
}

static STALE_DATABASES_DROPPED: OnceCell<()> = OnceCell::const_new();

/// A fresh PostgreSQL database for one test, named `achex_t_<uuid>`. Databases left by an earlier
/// run (over an hour old) are dropped once per test process, before the first new one is made.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    let admin = Database::connect(admin_url).await.expect("TEST_DATABASE_URL must reach PostgreSQL");
    STALE_DATABASES_DROPPED
        .get_or_init(|| async {
            let rows = admin
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT datname FROM pg_database WHERE datname LIKE 'achex\\_t\\_%'".to_owned(),
                ))
                .await
                .expect("list old test databases");
            // Only databases older than an hour: another test run on this machine may be using
            // its own right now. The name's UUIDv7 carries its creation time.
            let cutoff = chrono::Utc::now() - chrono::Duration::hours(1);
            for row in rows {
                let name: String = row.try_get_by_index(0).expect("datname");
                let created = uuid::Uuid::parse_str(name.trim_start_matches("achex_t_"))
                    .ok()
                    .and_then(|id| id.get_timestamp())
                    .map(|ts| ts.to_unix())
                    .and_then(|(secs, nanos)| chrono::DateTime::from_timestamp(secs as i64, nanos));
                if created.is_none_or(|at| at < cutoff) {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            }
        })
        .await;
    let name = format!("achex_t_{}", uuid::Uuid::now_v7().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
    admin.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL ends with /<database>");
    format!("{base}/{name}")
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings adjusted by `tweak` (limits, lifetimes…).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = Settings::defaults();
        settings.server.port = 0;
        settings.server.workers = 1;
        settings.data.dir = data_dir.path().to_path_buf();
        settings.database.max_connections = 4;
        let backend = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                settings.database.url = achex_server::settings::Secret::new(fresh_postgres_database(&url).await);
                "postgres"
            }
            _ => "sqlite",
        };
        tweak(&mut settings);
        let clock = ManualClock::new(chrono::Utc::now().trunc_subsecs_micro());
        let store = open_store(&settings).await.expect("open the test database");
        let state = build_state(&settings, store, Arc::new(clock.clone())).await.expect("build state");
        let app = Application::build(&settings, state).expect("bind the test server");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.handle();
        let indexer = app.indexer();
        let notifier = app.notifier();
        tokio::spawn(app.run_until_stopped());
        // The server closes a keep-alive connection idle for 5 s (actix's default). A client that
        // reuses one at that very moment gets `IncompleteMessage`, as happened to a browser test
        // that left the client idle while Chromium worked: this client never reuses a connection
        // idle for more than 2 s.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("client");
        TestApp {
            address,
            client,
            clock,
            state,
            settings,
            backend,
            indexer,
            notifier,
            handle,
            _data_dir: Arc::new(data_dir),
        }
    }

    /// A second server process-equivalent on the same database, data directory and clock: its own
    /// HTTP server, engine and owner tasks, as a second node would have.
    pub async fn spawn_sibling(&self) -> TestApp {
        // Each node keeps its own embedded index (only one process may write an index directory).
        let mut settings = self.settings.clone();
        settings.search.dir = self._data_dir.path().join(format!("search-{}", uuid::Uuid::now_v7().simple()));
        let store = open_store(&settings).await.expect("open the shared database");
        let state = build_state(&settings, store, Arc::new(self.clock.clone())).await.expect("build state");
        let app = Application::build(&settings, state).expect("bind the sibling server");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.handle();
        let indexer = app.indexer();
        let notifier = app.notifier();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: self.client.clone(),
            clock: self.clock.clone(),
            state,
            settings,
            backend: self.backend,
            indexer,
            notifier,
            handle,
            _data_dir: self._data_dir.clone(),
        }
    }

    /// Waits until every change committed so far is searchable (the indexer reports its position;
    /// nothing sleeps).
    pub async fn wait_indexed(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.indexer.wait_until_current())
            .await
            .expect("the index catches up within 30 s")
            .expect("the indexer runs");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request.send().await.expect("the server answers")).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("read the body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// Registers a self-service account with a new organisation and signs it in.
    pub async fn register(&self, role: Role, organization_name: &str) -> Actor {
        let email = format!("{}-{}@example.org", role.as_str().replace('_', "-"), uuid::Uuid::now_v7().simple());
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({
                    "email": email,
                    "password": PASSWORD,
                    "display_name": "Test User",
                    "role": role.as_str(),
                    "organization_name": organization_name,
                }),
            )
            .await;
        let body = reply.assert_status(201);
        actor_from(&email, role, body, true)
    }

    /// Joins an existing organisation with its invite code.
    pub async fn join(&self, role: Role, invite_code: &str) -> Actor {
        let email = format!("{}-{}@example.org", role.as_str().replace('_', "-"), uuid::Uuid::now_v7().simple());
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "display_name": "Colleague", "role": role.as_str(), "invite_code": invite_code }),
            )
            .await;
        actor_from(&email, role, reply.assert_status(201), true)
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/v1/auth/login", None, json!({ "email": email, "password": password })).await
    }

    /// A platform account (admin or reviewer), created the way `achex admin create` does it.
    pub async fn platform_user(&self, role: Role) -> Actor {
        let email = format!("{}-{}@achex.example", role.as_str(), uuid::Uuid::now_v7().simple());
        create_platform_user(&self.state.store, &self.clock, &email, PASSWORD, role)
            .await
            .expect("create platform user");
        let reply = self.login(&email, PASSWORD).await;
        let body = reply.assert_status(200).clone();
        let me = self.get("/api/v1/me", body["access_token"].as_str()).await;
        let me = me.assert_status(200);
        Actor {
            email,
            token: body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
            user_id: me["id"].as_str().unwrap().to_owned(),
            organization_id: me["organization"]["id"].as_str().unwrap().to_owned(),
            invite_code: None,
            role,
        }
    }

    pub async fn admin(&self) -> Actor {
        self.platform_user(Role::Admin).await
    }

    pub async fn reviewer(&self) -> Actor {
        self.platform_user(Role::Reviewer).await
    }

    /// Institute staff whose institute a reviewer has verified.
    pub async fn verified_institute(&self, name: &str) -> Actor {
        let staff = self.register(Role::InstituteStaff, name).await;
        let reviewer = self.reviewer().await;
        self.post(
            &format!("/api/v1/admin/organizations/{}/verify", staff.organization_id),
            Some(&reviewer.token),
            json!({}),
        )
        .await
        .assert_status(200);
        staff
    }

    pub async fn enterprise(&self) -> Actor {
        self.register(Role::EnterpriseMember, "Test Enterprise Ltd").await
    }

    /// Creates a draft with [`valid_listing`] and returns its id.
    pub async fn draft(&self, owner: &Actor) -> String {
        let reply = self.post("/api/v1/listings", Some(&owner.token), valid_listing()).await;
        reply.assert_status(201)["id"].as_str().unwrap().to_owned()
    }

    /// Creates, submits and approves a listing; returns its id.
    pub async fn published(&self, owner: &Actor, reviewer: &Actor) -> String {
        let id = self.draft(owner).await;
        self.post(&format!("/api/v1/listings/{id}/submit"), Some(&owner.token), json!({})).await.assert_status(200);
        self.post(&format!("/api/v1/listings/{id}/review"), Some(&reviewer.token), json!({"decision": "approve"}))
            .await
            .assert_status(200);
        id
    }

    /// `n` enterprise members, each of its own organisation, created directly in the store with a
    /// shared password hash and tokens minted by the server's own token service: a storm needs
    /// hundreds of bidders and argon2 is slow by design.
    pub async fn quick_enterprises(&self, n: usize) -> Vec<(achex_store::User, String)> {
        let hash = self.state.passwords.hash(PASSWORD).expect("hash");
        let mut users = Vec::with_capacity(n);
        for i in 0..n {
            let org = achex_store::NewOrganization {
                name: format!("Storm Enterprise {i}"),
                kind: achex_core::OrganizationKind::Enterprise,
                invite_code: format!("storm-{}", uuid::Uuid::now_v7().simple()),
                verified: true,
            };
            let user = achex_store::NewUser {
                email: format!("storm-{i}-{}@example.org", uuid::Uuid::now_v7().simple()),
                display_name: format!("Bidder {i}"),
                password_hash: hash.clone(),
                role: Role::EnterpriseMember,
                language: achex_core::Lang::En,
            };
            let (_, user) =
                self.state.store.create_organization_with_user(org, user, self.clock.now()).await.expect("create");
            let token = self.state.tokens.access_token(&user, self.clock.now()).expect("token");
            users.push((user, token));
        }
        users
    }

    /// Registers every user for `auction` and confirms its deposit, through the engine.
    pub async fn register_all(&self, auction: &str, users: &[(achex_store::User, String)]) {
        use achex_bidding_engine::Command;
        use achex_bidding_engine::engine::Request;
        let id: achex_core::AuctionId = auction.parse().expect("auction id");
        for (user, _) in users {
            let register = Command::Register { bidder: user.id, organization: user.organization_id };
            self.state.engine.submit(id, Request::new(register)).await.expect("register");
            let confirm = Command::ConfirmDeposit { bidder: user.id };
            self.state.engine.submit(id, Request::new(confirm)).await.expect("confirm");
        }
    }

    /// Signs in again, e.g. after moving the clock past the access token's lifetime.
    pub async fn relogin(&self, actor: &mut Actor) {
        let reply = self.login(&actor.email, PASSWORD).await;
        let body = reply.assert_status(200);
        actor.token = body["access_token"].as_str().unwrap().to_owned();
        actor.refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    }

    pub async fn organizer(&self) -> Actor {
        self.register(Role::Organizer, "Tech Transfer Events Centre").await
    }

    /// Lets the server clock act on every open lot now (closes, phase changes) and waits for it.
    pub async fn tick(&self) {
        self.state.engine.tick_all().await;
    }

    /// An English auction on a fresh published listing, live now, ending in an hour: ¥1,000.00
    /// start, ¥100.00 increment, ¥100.00 deposit, 60 s soft-close window extending by 120 s.
    /// Returns (auction id, owner, reviewer).
    pub async fn english_auction(&self, tweak: impl FnOnce(&mut Value)) -> (String, Actor) {
        let owner = self.verified_institute("Auction Institute").await;
        let reviewer = self.reviewer().await;
        let listing = self.published(&owner, &reviewer).await;
        let now = self.clock.now();
        let mut body = json!({
            "format": "english",
            "starting_price": {"amount": 100_000, "currency": "CNY"},
            "increment": {"amount": 10_000, "currency": "CNY"},
            "deposit": {"amount": 10_000, "currency": "CNY"},
            "starts_at": now,
            "ends_at": now + chrono::Duration::hours(1),
            "extension": {"window_secs": 60, "extend_secs": 120},
        });
        tweak(&mut body);
        let reply = self.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&owner.token), body).await;
        let id = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
        (id, owner)
    }

    /// An enterprise member registered for `auction` with its deposit confirmed; returns it and
    /// its bidder code.
    pub async fn ready_bidder(&self, auction: &str, organizer: &Actor) -> (Actor, String) {
        let bidder = self.enterprise().await;
        let reply =
            self.post(&format!("/api/v1/auctions/{auction}/registrations"), Some(&bidder.token), json!({})).await;
        let code = reply.assert_status(201)["registration_id"].as_str().unwrap().to_owned();
        self.post(
            &format!("/api/v1/auctions/{auction}/registrations/{code}/confirm-deposit"),
            Some(&organizer.token),
            json!({}),
        )
        .await
        .assert_status(200);
        (bidder, code)
    }

    /// Stops the server (graceful).
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

fn actor_from(email: &str, role: Role, body: &Value, with_org: bool) -> Actor {
    Actor {
        email: email.to_owned(),
        token: body["access_token"].as_str().expect("access_token").to_owned(),
        refresh_token: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        user_id: body["user"]["id"].as_str().expect("user.id").to_owned(),
        organization_id: body["user"]["organization"]["id"].as_str().expect("organization.id").to_owned(),
        invite_code: if with_org {
            body["user"]["organization"]["invite_code"].as_str().map(str::to_owned)
        } else {
            None
        },
        role,
    }
}

/// A listing body that passes validation and screening: a granted Chinese invention patent.
pub fn valid_listing() -> Value {
    json!({
        "title": { "zh": "一种高能量密度锂离子电池正极材料", "en": "A high energy density cathode material for lithium-ion batteries" },
        "summary": { "zh": "通过掺杂改性提高正极材料的循环稳定性。", "en": "Doping improves the cycle stability of the cathode." },
        "description": { "zh": "本发明公开了一种锂离子电池正极材料及其制备方法，循环500次容量保持率大于95%。" },
        "kind": "invention_patent",
        "trl": 6,
        "ipc_classes": ["H01M 4/525"],
        "patents": [{ "number": "ZL202110012345.6", "legal_status": "granted", "filed_on": "2021-01-05", "granted_on": "2023-03-10" }],
        "transfer_modes": ["assignment", "exclusive_license"],
        "asking_price": { "amount": 150000000, "currency": "CNY" },
        "keywords": ["锂离子电池", "正极材料"],
        "discipline": "材料科学",
        "region": "大连",
        "contact": { "name": "张老师", "email": "tech-transfer@example.org" }
    })
}

/// Truncation helper: the server keeps microseconds, so the test clock does too.
trait TruncMicro {
    fn trunc_subsecs_micro(self) -> Self;
}

impl TruncMicro for chrono::DateTime<chrono::Utc> {
    fn trunc_subsecs_micro(self) -> Self {
        use chrono::SubsecRound as _;
        self.trunc_subsecs(6)
    }
}

/// Whether a status is a success: the authorization matrix asserts this never happens unexpectedly.
pub fn is_success(status: StatusCode) -> bool {
    status.is_success()
}

pub use reqwest;
