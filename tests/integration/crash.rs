//! Crash safety: the real `achex` binary is killed with SIGKILL three times during a storm of
//! bids and restarted each time. Clients retry with their idempotency keys. Afterwards every bid
//! the server acknowledged is in the log exactly once and the log replays to the state it serves.

use achex_api::auth::TokenService;
use achex_bidding_engine::engine::AuctionLog as _;
use achex_core::{AuctionId, Lang, OrganizationKind, Role};
use achex_store::{NewOrganization, NewUser, Store};
use achex_tests::PASSWORD;
use achex_tests::storm::{StormBidder, assert_log_keeps_every_acknowledgement, run_storm};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn achex_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let binary = dir.join("achex");
    assert!(binary.exists(), "build the server first (cargo build -p achex-server): {} is missing", binary.display());
    binary
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    data: PathBuf,
    config: PathBuf,
    database_url: String,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn command(&self) -> Command {
        let mut command = Command::new(achex_binary());
        command
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--config-dir")
            .arg(&self.config)
            .env("ACHEX__DATABASE__URL", &self.database_url)
            .env("ACHEX__SERVER__WORKERS", "2")
            .env("RUST_LOG", "error");
        command
    }

    async fn start(&mut self) {
        let child = self
            .command()
            .args(["serve", "--port", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start achex");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let started = tokio::time::Instant::now();
        loop {
            let ready = client.get(format!("http://127.0.0.1:{}/readyz", self.port)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "achex did not come up");
            tokio::time::sleep(Duration::from_millis(25)).await; // polling for readiness, not a fixed wait
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
            child.wait().ok();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut request = client.request(method, url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("server answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_bids_survive_three_kills_without_loss_or_duplication() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let database_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => achex_tests::fresh_postgres_database(&url).await,
        _ => format!("sqlite://{}?mode=rwc", data.path().join("achex.db").display()),
    };
    let mut server = Server {
        data: data.path().into(),
        config: config.path().into(),
        database_url: database_url.clone(),
        port: free_port(),
        child: None,
    };
    let status = server
        .command()
        .args(["admin", "create", "--email", "reviewer@crash.example", "--password", PASSWORD, "--role", "reviewer"])
        .status()
        .unwrap();
    assert!(status.success());
    server.start().await;
    let base = format!("http://127.0.0.1:{}", server.port);
    let api = |path: &str| format!("{base}/api/v1{path}");
    let client = reqwest::Client::new();
    let post = reqwest::Method::POST;

    // A seller with a published listing and an auction with no deposit (registration suffices).
    let reviewer = call(
        &client,
        post.clone(),
        api("/auth/login"),
        None,
        json!({"email": "reviewer@crash.example", "password": PASSWORD}),
    )
    .await;
    let reviewer = reviewer["access_token"].as_str().unwrap().to_owned();
    let seller = call(
        &client,
        post.clone(),
        api("/auth/register"),
        None,
        json!({
        "email": "seller@crash.example", "password": PASSWORD, "display_name": "Seller", "role": "institute_staff",
        "organization_name": "Crash Test Institute"}),
    )
    .await;
    let seller_token = seller["access_token"].as_str().unwrap().to_owned();
    let org = seller["user"]["organization"]["id"].as_str().unwrap();
    call(&client, post.clone(), api(&format!("/admin/organizations/{org}/verify")), Some(&reviewer), json!({})).await;
    let listing =
        call(&client, post.clone(), api("/listings"), Some(&seller_token), achex_tests::valid_listing()).await;
    let listing = listing["id"].as_str().unwrap();
    call(&client, post.clone(), api(&format!("/listings/{listing}/submit")), Some(&seller_token), json!({})).await;
    call(
        &client,
        post.clone(),
        api(&format!("/listings/{listing}/review")),
        Some(&reviewer),
        json!({"decision": "approve"}),
    )
    .await;
    let now = chrono::Utc::now();
    let auction = call(
        &client,
        post.clone(),
        api(&format!("/listings/{listing}/auctions")),
        Some(&seller_token),
        json!({
        "format": "english", "starting_price": {"amount": 100_000, "currency": "CNY"},
        "increment": {"amount": 100, "currency": "CNY"}, "deposit": {"amount": 0, "currency": "CNY"},
        "starts_at": now, "ends_at": now + chrono::Duration::hours(2)}),
    )
    .await;
    let auction = auction["id"].as_str().unwrap().to_owned();

    // Bidders straight into the database with tokens from the server's own key: argon2 for 200
    // sign-ups would dominate the test.
    let store = Store::connect(&database_url, 2).await.unwrap();
    let secret = base64::engine::general_purpose::STANDARD
        .decode(std::fs::read_to_string(data.path().join("jwt-secret")).unwrap().trim())
        .unwrap();
    let tokens =
        TokenService::new(&secret, "achex", "achex-api", chrono::Duration::minutes(15), chrono::Duration::days(1))
            .unwrap();
    let mut bidders = Vec::new();
    for i in 0..200 {
        let (_, user) = store
            .create_organization_with_user(
                NewOrganization {
                    name: format!("Crash Bidder {i}"),
                    kind: OrganizationKind::Enterprise,
                    invite_code: format!("crash-{i}"),
                    verified: true,
                },
                NewUser {
                    email: format!("bidder{i}@crash.example"),
                    display_name: format!("Bidder {i}"),
                    password_hash: "x".into(),
                    role: Role::EnterpriseMember,
                    language: Lang::En,
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        let token = tokens.access_token(&user, chrono::Utc::now()).unwrap();
        call(&client, post.clone(), api(&format!("/auctions/{auction}/registrations")), Some(&token), json!({})).await;
        bidders.push(StormBidder { token, over_websocket: i % 2 == 1 });
    }

    // The storm, and a killer that strikes whenever the log has grown by another stretch.
    let address = Arc::new(tokio::sync::RwLock::new(base.clone()));
    let storm = tokio::spawn({
        let (address, auction) = (address.clone(), auction.clone());
        async move { run_storm(address, &auction, bidders, 50, 100, Duration::from_secs(900)).await }
    });
    let id: AuctionId = auction.parse().unwrap();
    let before_storm = store.auction_log(id).await.unwrap().len();
    let mut kills = 0;
    for threshold in [before_storm + 60, before_storm + 130, before_storm + 200] {
        loop {
            let entries = store.auction_log(id).await.unwrap().len();
            if entries >= threshold || storm.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await; // polling the log's growth
        }
        if storm.is_finished() {
            break;
        }
        server.kill();
        kills += 1;
        server.start().await;
    }
    let report = storm.await.unwrap();
    assert_eq!(kills, 3, "the storm ended before three kills; make it longer");
    assert_eq!(report.unanswered, 0, "every request is answered eventually");
    assert_eq!(report.acknowledged.len() + report.rejected, 10_000);

    // Nothing acknowledged is lost, nothing is recorded twice, and the log replays to the state
    // the restarted server serves.
    let stored = store.load(id).await.unwrap();
    let replayed = assert_log_keeps_every_acknowledgement(&stored, &report.acknowledged);
    let served = call(&client, reqwest::Method::GET, api(&format!("/auctions/{auction}")), None, Value::Null).await;
    assert_eq!(served["state"]["seq"].as_u64(), Some(replayed.seq));
    assert_eq!(served["state"]["bid_count"].as_u64(), Some(replayed.bid_count));
    let status = server.command().args(["audit-bids", "--auction", &auction]).status().unwrap();
    assert!(status.success(), "achex audit-bids reports the log as intact");
    println!(
        "{} acknowledged, {} rejected, {} log entries, 3 kills",
        report.acknowledged.len(),
        report.rejected,
        stored.entries.len()
    );
}

/// A stop (SIGTERM) closes every live connection with 1001 at once and the process exits well
/// within its 10 s graceful timeout: a websocket never ends by itself, so a stop that only waited
/// for requests to finish would hold for the whole timeout and then cut the sockets without a
/// close frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_live_connections_with_going_away_and_the_server_exits_promptly() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let mut server = Server {
        data: data.path().into(),
        config: config.path().into(),
        database_url: format!("sqlite://{}?mode=rwc", data.path().join("achex.db").display()),
        port: free_port(),
        child: None,
    };
    server.start().await;
    let url = format!("ws://127.0.0.1:{}/api/v1/ws", server.port);
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connect");
        // A round trip, so the connection is surely live on the server's side.
        ws.send(Message::text(r#"{"type":"ping"}"#)).await.expect("ping");
        let pong = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a pong");
        assert!(matches!(pong, Some(Ok(Message::Text(ref text))) if text.contains("pong")), "{pong:?}");
        sockets.push(ws);
    }

    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.child.as_ref().expect("running").id()).unwrap());
    let stopped_at = std::time::Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");

    for mut ws in sockets {
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Err(_) => panic!("no close frame within 5 s of SIGTERM"),
                Ok(Some(Ok(Message::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => continue, // a heartbeat
                Ok(other) => panic!("the connection ended without a close frame: {other:?}"),
            }
        };
        let frame = close.expect("a close frame with a code");
        assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Away, "server_stopping"));
    }
    // Polling for the exit, with a deadline (the server is killed by `Drop` if it never comes).
    let status = loop {
        if let Some(status) = server.child.as_mut().expect("running").try_wait().expect("wait") {
            break status;
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(5), "achex still runs 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.child = None;
    assert!(status.success(), "achex exited with {status}");
}
