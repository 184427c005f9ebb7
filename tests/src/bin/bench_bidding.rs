//! `cargo run --release -p achex-tests --bin bench-bidding [-- --quick | --fanout-only | --watchers N]`
//!
//! Prints, for SQLite (a fresh file) and, when `TEST_DATABASE_URL` is set or PostgreSQL answers on
//! 127.0.0.1:5432, for PostgreSQL — every figure beside a baseline measured in the same run:
//! 1. the database's own durable one-row-per-transaction commit rate (the baseline), then durable
//!    acknowledged bids/s through the engine on one hot lot and across 100 lots, with bids per
//!    commit (group commit);
//! 2. acknowledgement latency p50/p99 at a fixed open-loop rate of 1,000 bids/s (latency counted
//!    from each bid's scheduled time, so a stall is not hidden: no coordinated omission), beside
//!    the database's fsync p99, both back to back and for one-row commits on the same schedule;
//! 3. time from acceptance to the last of N websocket watchers (1,000, 3,000 and 10,000), beside a
//!    raw broadcast of the same pre-encoded frame to N plain websocket clients, the two sides'
//!    rounds alternating where the descriptor limit allows both at once;
//! 4. the in-memory machine's throughput on one core.

use achex_bidding_engine::engine::{Answer, Engine, EngineConfig, LotRecord, Request};
use achex_bidding_engine::{Auction, AuctionConfig, Command, Format, Increment};
use achex_core::{AuctionId, Money, OrganizationId, SystemClock, UserId};
use achex_store::Store;
use achex_tests::measure::{ms, percentile};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn sealed_config(seller: OrganizationId) -> AuctionConfig {
    let now = chrono::Utc::now();
    AuctionConfig {
        format: Format::SealedFirstPrice,
        seller,
        starting_price: Money::cny(100_000),
        increment: None,
        reserve_price: None,
        deposit: Money::cny(0),
        starts_at: now - chrono::Duration::minutes(1),
        ends_at: now + chrono::Duration::hours(6),
        free_quote_until: None,
        extension: None,
        dutch: None,
    }
}

/// A lot of a real (stored) listing and its registered bidders (deposit 0: registration is enough).
async fn lot(store: &Store, engine: &Engine, bidders: usize) -> (AuctionId, Vec<(UserId, OrganizationId)>) {
    let now = chrono::Utc::now();
    let (org, staff) = store
        .create_organization_with_user(
            achex_store::NewOrganization {
                name: "Bench Institute".into(),
                kind: achex_core::OrganizationKind::Institute,
                invite_code: format!("bench-{}", uuid::Uuid::now_v7().simple()),
                verified: true,
            },
            achex_store::NewUser {
                email: format!("bench-{}@example.org", uuid::Uuid::now_v7().simple()),
                display_name: "Bench".into(),
                password_hash: "x".into(),
                role: achex_core::Role::InstituteStaff,
                language: achex_core::Lang::En,
            },
            now,
        )
        .await
        .expect("institute");
    let content: achex_listing::ListingContent = serde_json::from_value(achex_tests::valid_listing()).expect("content");
    let (listing, entry) = achex_listing::Listing::new_draft(org.id, staff.id, content, now);
    store.insert_listing(&listing, &entry).await.expect("listing");
    let config = sealed_config(org.id);
    let record = LotRecord { auction: AuctionId::new(), listing: listing.id, config: config.clone() };
    let initial = Auction::new(config).expect("valid config").public_view();
    store.create_auction(&record, staff.id, &initial, now).await.expect("create lot");
    let mut people = Vec::new();
    for _ in 0..bidders {
        let (user, org) = (UserId::new(), OrganizationId::new());
        let answer =
            engine.submit(record.auction, Request::new(Command::Register { bidder: user, organization: org })).await;
        assert!(matches!(answer, Ok(Answer::Accepted(_))), "{answer:?}");
        people.push((user, org));
    }
    (record.auction, people)
}

/// Every bidder revises its sealed bid upwards as fast as it can: each bid is accepted and
/// durable before its acknowledgement. Returns (acknowledged bids, elapsed).
async fn hammer(
    engine: Arc<Engine>,
    lots: Vec<(AuctionId, Vec<(UserId, OrganizationId)>)>,
    per_bidder: usize,
) -> (usize, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (auction, people) in lots {
        for (user, org) in people {
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                let mut acknowledged = 0;
                for i in 0..per_bidder {
                    let amount = Money::cny(100_000 + i as i64 * 100);
                    let command = Command::PlaceBid { bidder: user, organization: org, amount, max_amount: None };
                    if let Ok(Answer::Accepted(_)) = engine.submit(auction, Request::new(command)).await {
                        acknowledged += 1;
                    }
                }
                acknowledged
            }));
        }
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("bidder task");
    }
    (total, started.elapsed())
}

/// Sends `(i, slot)` for `n` slots a millisecond apart, each on time, from a thread of its own:
/// tokio's timer wakes on whole milliseconds, so a task sleeping until its slot would start up to
/// a millisecond late, and counting latency from the slot would charge that lateness of the load
/// generator to what is measured.
fn pace(n: usize, slots: tokio::sync::mpsc::UnboundedSender<(usize, Instant)>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(50);
        for i in 0..n {
            let slot = start + Duration::from_micros(i as u64 * 1_000);
            if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if slots.send((i, slot)).is_err() {
                return;
            }
        }
    })
}

async fn bench_database(name: &str, url: &str, quick: bool) {
    println!("\n== {name} ==");
    let store = Store::connect(url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    let probe_rows = if quick { 200 } else { 1_000 };
    let mut commits = store.durable_commit_probe(probe_rows).await.expect("probe");
    let baseline_rate = probe_rows as f64 / commits.iter().sum::<Duration>().as_secs_f64();
    commits.sort();
    let fsync_p99 = percentile(&commits, 99.0);
    println!(
        "baseline: durable one-row commits      {baseline_rate:>10.0} /s   (commit p50 {}, p99 {})",
        ms(percentile(&commits, 50.0)),
        ms(fsync_p99)
    );

    let engine = Engine::new(Arc::new(store.clone()), Arc::new(SystemClock), EngineConfig::default());
    let per_bidder = if quick { 20 } else { 100 };
    // A first, unmeasured storm on another lot, so the measured one sees a warm database (its
    // tables and indexes past their first pages) and allocator, as a server that has been
    // running does; and a longer measured storm, so that a lucky or unlucky half second on this
    // shared machine moves the figure less.
    let warm_up = lot(&store, &engine, 200).await;
    hammer(engine.clone(), vec![warm_up], per_bidder / 2).await;
    let hot = lot(&store, &engine, 200).await;
    use std::sync::atomic::Ordering::Relaxed;
    let appends_before = engine.stats().appends.load(Relaxed);
    let micros_before = engine.stats().append_micros.load(Relaxed);
    let (bids, elapsed) = hammer(engine.clone(), vec![hot.clone()], per_bidder * 5 / 2).await;
    let rate = bids as f64 / elapsed.as_secs_f64();
    let commits_used = engine.stats().appends.load(Relaxed) - appends_before;
    let append_ms = (engine.stats().append_micros.load(Relaxed) - micros_before) as f64 / 1e3;
    println!(
        "hot lot: durable acknowledged bids      {rate:>10.0} /s   = {:.1}x baseline   ({bids} bids, {:.1} bids per commit, {:.2} ms per append, {:.0}% of the time in appends)",
        rate / baseline_rate,
        bids as f64 / commits_used.max(1) as f64,
        append_ms / commits_used.max(1) as f64,
        100.0 * append_ms / 1e3 / elapsed.as_secs_f64()
    );

    let mut lots = Vec::new();
    for _ in 0..100 {
        lots.push(lot(&store, &engine, 4).await);
    }
    let (bids, elapsed) = hammer(engine.clone(), lots, per_bidder / 2).await;
    let rate = bids as f64 / elapsed.as_secs_f64();
    println!(
        "100 lots: durable acknowledged bids     {rate:>10.0} /s   = {:.1}x baseline   ({bids} bids)",
        rate / baseline_rate
    );

    // Open loop: bids are scheduled every millisecond whatever happened to the previous ones.
    let (auction, people) = lot(&store, &engine, 50).await;
    let total = if quick { 1_000 } else { 5_000 };
    let (slots_tx, mut slots) = tokio::sync::mpsc::unbounded_channel();
    let pacer = pace(total, slots_tx);
    let mut tasks = Vec::with_capacity(total);
    while let Some((i, scheduled)) = slots.recv().await {
        let engine = engine.clone();
        let (user, org) = people[i % people.len()];
        tasks.push(tokio::spawn(async move {
            let amount = Money::cny(100_000 + i as i64 * 100);
            let command = Command::PlaceBid { bidder: user, organization: org, amount, max_amount: None };
            let answer = engine.submit(auction, Request::new(command)).await;
            assert!(matches!(answer, Ok(Answer::Accepted(_))), "{answer:?}");
            scheduled.elapsed()
        }));
    }
    pacer.join().expect("the pacer thread");
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.push(task.await.expect("bid"));
    }
    latencies.sort();
    let p99 = percentile(&latencies, 99.0);
    // The database's own one-row commits on the same schedule (one a millisecond, for as long,
    // timed from each slot): a p99 over a few hundred milliseconds of back-to-back commits misses
    // this shared machine's occasional stalls, which a five-second open loop cannot.
    let mut probe = store.commit_probe().await.expect("probe");
    let (slots_tx, mut slots) = tokio::sync::mpsc::unbounded_channel();
    let pacer = pace(total, slots_tx);
    let mut paced = Vec::with_capacity(total);
    while let Some((_, scheduled)) = slots.recv().await {
        probe.commit_one().await.expect("a probe commit");
        paced.push(scheduled.elapsed());
    }
    pacer.join().expect("the pacer thread");
    probe.finish().await.expect("probe");
    paced.sort();
    let paced_p99 = percentile(&paced, 99.0);
    println!(
        "open loop 1,000 bids/s: ack p50 {}  p99 {}   = {:.2}x the paced fsync p99 ({}; one-row commits on the same schedule, p50 {})   = {:.2}x the back-to-back fsync p99 ({})",
        ms(percentile(&latencies, 50.0)),
        ms(p99),
        p99.as_secs_f64() / paced_p99.as_secs_f64(),
        ms(paced_p99),
        ms(percentile(&paced, 50.0)),
        p99.as_secs_f64() / fsync_p99.as_secs_f64(),
        ms(fsync_p99)
    );
}

/// Pause before each fan-out round, on both sides.
const ROUND_GAP: Duration = Duration::from_millis(50);

/// What a watcher saw in a frame.
enum Seen {
    Snapshot,
    Bid(u64),
    Other,
}

/// What a watcher does with each frame, the same on both sides: parse it, and note a
/// `bid_accepted` and its `seq`.
fn watch_frame(text: &str) -> Seen {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    match value["type"].as_str() {
        Some("snapshot") => Seen::Snapshot,
        Some("bid_accepted") => Seen::Bid(value["seq"].as_u64().unwrap_or(0)),
        _ => Seen::Other,
    }
}

/// Time from a bid's acceptance to its arrival at the last of `n` achex watchers, and the same for
/// a plain broadcast of one pre-encoded frame to `n` websocket clients.
///
/// Acceptance is when the engine publishes the bid's event (after its commit), observed by an
/// in-process subscriber of the lot: timing from before `submit` would add the bid's own durable
/// commit, which the raw broadcast does not have. The watchers are a child process per side (the
/// same program for both: [`watchers_child`]), so that 10,000 of them fit the per-process
/// descriptor limit, and the raw side broadcasts the very frame achex sent.
///
/// When this process may hold both sides' sockets at once, the two sides' rounds alternate (in
/// turn which goes first), so that the machine's drift falls on both alike; otherwise every achex
/// round runs, then every raw one.
async fn bench_fanout(n: usize, rounds: usize) {
    let alternate = raise_descriptor_limit(descriptors_for(2 * n)) >= descriptors_for(2 * n);
    let mut achex = AchexSide::start(n).await;
    // The first round gives the frame the raw side broadcasts.
    let (first, frame) = achex.round(0).await;
    let mut achex_times = vec![first];
    let mut raw_times = Vec::new();
    if alternate {
        let mut raw = RawSide::start(n).await;
        for round in 1..rounds {
            if round % 2 == 0 {
                achex_times.push(achex.round(round).await.0);
                raw_times.push(raw.round(round, &frame).await);
            } else {
                raw_times.push(raw.round(round, &frame).await);
                achex_times.push(achex.round(round).await.0);
            }
        }
        raw_times.push(raw.round(rounds, &frame).await);
        drop((achex, raw));
    } else {
        for round in 1..rounds {
            achex_times.push(achex.round(round).await.0);
        }
        drop(achex);
        until_sockets_closed(n).await; // the raw side needs as many
        let mut raw = RawSide::start(n).await;
        for round in 0..rounds {
            raw_times.push(raw.round(round, &frame).await);
        }
        drop(raw);
    }
    until_sockets_closed(n).await; // the next fan-out needs them
    achex_times.sort();
    raw_times.sort();
    println!(
        "fan-out to {n:>5} watchers: achex p50 {} p99 {}   raw broadcast p50 {} p99 {}   = {:.2}x (p50){}",
        ms(percentile(&achex_times, 50.0)),
        ms(percentile(&achex_times, 99.0)),
        ms(percentile(&raw_times, 50.0)),
        ms(percentile(&raw_times, 99.0)),
        percentile(&achex_times, 50.0).as_secs_f64() / percentile(&raw_times, 50.0).as_secs_f64(),
        if alternate { ", rounds alternating" } else { ", one side after the other" }
    );
}

/// The achex side of the fan-out: the server, a lot, its watchers, and an in-process subscriber
/// that marks each bid's acceptance.
struct AchexSide {
    _dir: tempfile::TempDir,
    state: actix_web::web::Data<achex_api::AppState>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    auction: AuctionId,
    bidder: (UserId, OrganizationId),
    published: tokio::sync::broadcast::Receiver<Arc<achex_bidding_engine::Event>>,
    watchers: Watchers,
}

impl Drop for AchexSide {
    fn drop(&mut self) {
        // Its watchers end with it (their process is killed), and so do the server's sockets.
        self.server.abort();
    }
}

impl AchexSide {
    async fn start(n: usize) -> AchexSide {
        use achex_server::{Application, Settings, build_state, open_store};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = Settings::defaults();
        settings.server.port = 0;
        settings.data.dir = dir.path().to_path_buf();
        let store = open_store(&settings).await.expect("store");
        let state = build_state(&settings, store.clone(), Arc::new(SystemClock)).await.expect("state");
        let app = Application::build(&settings, state).expect("server");
        let url = format!("ws://127.0.0.1:{}/api/v1/ws", app.port());
        let state = app.state();
        let server = tokio::spawn(app.run_until_stopped());
        let (auction, people) = lot(&store, &state.engine, 1).await;
        let mut watchers = Watchers::spawn(&url, n, Some(&format!("auction:{auction}")));
        watchers.ready().await;
        let published = state.engine.subscribe(auction, None).await.expect("subscribe in process").receiver;
        AchexSide { _dir: dir, state, server, auction, bidder: people[0], published, watchers }
    }

    /// One bid: the time from its acceptance to its arrival at the last watcher, and the frame.
    async fn round(&mut self, round: usize) -> (Duration, String) {
        // Each round starts on a quiet server, as each raw round does: what the previous bid set
        // off (its notifications, the outbox consumers) is not timed as this bid's fan-out.
        tokio::time::sleep(ROUND_GAP).await;
        let (user, org) = self.bidder;
        let amount = Money::cny(100_000 + round as i64 * 100);
        let command = Command::PlaceBid { bidder: user, organization: org, amount, max_amount: None };
        let Ok(Answer::Accepted(accepted)) = self.state.engine.submit(self.auction, Request::new(command)).await else {
            panic!("bid refused")
        };
        let seq = accepted.events.last().map(|e| e.seq).unwrap_or(0);
        let accepted_at = loop {
            let event = self.published.recv().await.expect("published");
            if event.seq == seq {
                break monotonic_nanos();
            }
        };
        let (last, text) = self.watchers.last_arrival(seq).await;
        (Duration::from_nanos(last.saturating_sub(accepted_at)), text)
    }
}

/// Waits until the sockets of a fan-out to `n` watchers that has ended are closed.
async fn until_sockets_closed(n: usize) {
    for _ in 0..1_000 {
        if open_descriptors() < 1_000 + n / 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The baseline: a bare websocket server writing the same pre-encoded frame to every client.
/// Dropping it stops the server and closes its sockets.
struct RawSide {
    frames: tokio::sync::broadcast::Sender<Message>,
    accepting: tokio::task::JoinHandle<()>,
    watchers: Watchers,
}

impl Drop for RawSide {
    fn drop(&mut self) {
        // The accept loop holds a sender too; with both gone every connection's task ends.
        self.accepting.abort();
    }
}

impl RawSide {
    async fn start(n: usize) -> RawSide {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (frames, _) = tokio::sync::broadcast::channel::<Message>(64);
        let accept_tx = frames.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let mut rx = accept_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else { return };
                    while let Ok(frame) = rx.recv().await {
                        if ws.send(frame).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut watchers = Watchers::spawn(&format!("ws://127.0.0.1:{port}"), n, None);
        watchers.ready().await;
        while frames.receiver_count() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        RawSide { frames, accepting, watchers }
    }

    /// One broadcast of `frame` (an achex `bid_accepted`), given this round's own `seq`: the time
    /// from the send to its arrival at the last watcher.
    async fn round(&mut self, round: usize, frame: &str) -> Duration {
        tokio::time::sleep(ROUND_GAP).await;
        let seq = 1_000_000 + round as u64;
        let mut value: serde_json::Value = serde_json::from_str(frame).expect("JSON");
        value["seq"] = seq.into();
        let message = Message::text(value.to_string());
        let sent = monotonic_nanos();
        self.frames.send(message).expect("broadcast");
        let (last, _) = self.watchers.last_arrival(seq).await;
        Duration::from_nanos(last.saturating_sub(sent))
    }
}

/// This machine's monotonic clock in nanoseconds: the same clock in every process, so the
/// watchers' child process and this one time the same span.
fn monotonic_nanos() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("the monotonic clock");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

/// `n` websocket watchers in a child process (this binary with `--watchers-child`).
struct Watchers {
    child: std::process::Child,
    /// The child's report lines, read by a thread.
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Watchers {
    fn spawn(url: &str, n: usize, topic: Option<&str>) -> Watchers {
        let mut child = std::process::Command::new(std::env::current_exe().expect("this binary"))
            .args(["--watchers-child", url, &n.to_string(), topic.unwrap_or("-")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the watchers' process");
        let stdout = child.stdout.take().expect("its output");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watchers { child, lines }
    }

    async fn next_line(&mut self) -> String {
        self.lines.recv().await.expect("the watchers' process ended")
    }

    /// Waits until every watcher is connected (and has its snapshot, for achex).
    async fn ready(&mut self) {
        while self.next_line().await != "ready" {}
    }

    /// When the last watcher got the frame with `seq`, and that frame.
    async fn last_arrival(&mut self, seq: u64) -> (u64, String) {
        loop {
            let line = self.next_line().await;
            let mut parts = line.splitn(4, ' ');
            if parts.next() != Some("done") {
                continue;
            }
            let done: u64 = parts.next().and_then(|s| s.parse().ok()).expect("a seq");
            let at: u64 = parts.next().and_then(|s| s.parse().ok()).expect("a time");
            if done == seq {
                return (at, parts.next().unwrap_or_default().to_owned());
            }
        }
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The watchers' process: `n` websocket clients of `url` (each subscribing to `topic` unless it
/// is `-`). Prints `ready` once all are connected (and have a snapshot), then for each `seq`
/// `done <seq> <monotonic ns of its last arrival> <the frame>` once all `n` have it. Each client
/// does the same work per frame on both sides ([`watch_frame`]).
async fn watchers_child(url: String, n: usize, topic: Option<String>) {
    let (arrivals_tx, mut arrivals_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64, Option<String>)>();
    let mut ready = Vec::new();
    for i in 0..n {
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(achex_tests::storm::ws_config()), false)
                .await
                .expect("connect");
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        match &topic {
            Some(topic) => {
                let subscribe = serde_json::json!({"type": "subscribe", "topic": topic});
                ws.send(Message::text(subscribe.to_string())).await.expect("subscribe");
                ready.push(ready_rx);
            }
            None => drop(ready_tx.take()),
        }
        let tx = arrivals_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Ok(text) = frame.to_text() else { continue };
                match watch_frame(text) {
                    Seen::Snapshot => {
                        if let Some(r) = ready_tx.take() {
                            let _ = r.send(());
                        }
                    }
                    Seen::Bid(seq) => {
                        let _ = tx.send((seq, monotonic_nanos(), (i == 0).then(|| text.to_owned())));
                    }
                    Seen::Other => {}
                }
            }
        });
    }
    for r in ready {
        let _ = r.await;
    }
    println!("ready");
    let mut seen: std::collections::HashMap<u64, (usize, u64, String)> = std::collections::HashMap::new();
    while let Some((seq, at, text)) = arrivals_rx.recv().await {
        let entry = seen.entry(seq).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(at);
        if let Some(text) = text {
            entry.2 = text;
        }
        if entry.0 == n {
            let (_, last, text) = seen.remove(&seq).expect("just counted");
            println!("done {seq} {last} {text}");
        }
    }
}

fn bench_machine(quick: bool) {
    let mut config = sealed_config(OrganizationId::new());
    config.format = Format::English;
    config.increment = Some(Increment::Fixed(Money::cny(100)));
    let mut auction = Auction::new(config).expect("config");
    let now = chrono::Utc::now();
    let a = (UserId::new(), OrganizationId::new());
    let b = (UserId::new(), OrganizationId::new());
    for (user, org) in [a, b] {
        auction.apply_in_place(Command::Register { bidder: user, organization: org }, now).expect("register");
    }
    let n = if quick { 200_000 } else { 2_000_000 };
    let started = Instant::now();
    for i in 0..n {
        let (user, org) = if i % 2 == 0 { a } else { b };
        let amount = Money::cny(100_000 + i as i64 * 100);
        auction
            .apply_in_place(Command::PlaceBid { bidder: user, organization: org, amount, max_amount: None }, now)
            .expect("alternating raises are valid");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!("\nin-memory machine: {rate:>12.0} English bids/s on one core ({n} alternating raises)");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, url, n, topic] = args.as_slice()
        && flag == "--watchers-child"
    {
        raise_descriptor_limit(u64::MAX);
        let topic = (topic != "-").then(|| topic.clone());
        watchers_child(url.clone(), n.parse().expect("a number of watchers"), topic).await;
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    // `--fanout-only`: just the websocket fan-out (it needs no database server).
    let fanout_only = std::env::args().any(|a| a == "--fanout-only");
    println!(
        "bench-bidding: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick { "quick" } else { "full" }
    );
    // `--watchers N`: the fan-out to N watchers only.
    let watchers: Option<usize> = std::env::args()
        .skip_while(|a| a != "--watchers")
        .nth(1)
        .map(|n| n.parse().expect("--watchers takes a number"));
    let rounds = if quick { 5 } else { 30 };
    if let Some(n) = watchers {
        raise_descriptor_limit(descriptors_for(n));
        bench_fanout(n, rounds).await;
        return;
    }
    if fanout_only {
        bench_fanouts(quick, rounds).await;
        return;
    }
    bench_machine(quick);
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    bench_database("SQLite (WAL, synchronous=FULL)", &sqlite, quick).await;
    let pg = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => std::net::TcpStream::connect("127.0.0.1:5432")
            .ok()
            .map(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
    };
    if let Some(url) = pg {
        let fresh = achex_tests::fresh_postgres_database(&url).await;
        bench_database("PostgreSQL (synchronous_commit=on)", &fresh, quick).await;
    }
    // `--databases-only`: the machine and the two databases, without the fan-out.
    if !std::env::args().any(|a| a == "--databases-only") {
        println!();
        bench_fanouts(quick, rounds).await;
    }
}

/// The fan-out to 1,000 watchers, and in a full run to 3,000 and 10,000.
async fn bench_fanouts(quick: bool, rounds: usize) {
    bench_fanout(1_000, rounds).await;
    if quick {
        return;
    }
    bench_fanout(3_000, 10).await;
    let limit = raise_descriptor_limit(descriptors_for(10_000));
    if limit >= descriptors_for(10_000) {
        bench_fanout(10_000, 10).await;
    } else {
        println!(
            "fan-out to 10000 watchers: not measured: it needs {} open files and this process may have {limit} \
             (raise the hard limit, e.g. as root)",
            descriptors_for(10_000)
        );
    }
}

/// Open files a fan-out to `n` watchers needs in each process: a socket per watcher (the
/// clients are a child process), and room for the databases and the earlier runs.
fn descriptors_for(n: usize) -> u64 {
    n as u64 + 2_000
}

/// Descriptors this process has open.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count())
}

/// Raises this process's open-file limit towards `wanted`: the soft limit up to the hard one,
/// and the hard one too where that is allowed (as root). Returns the soft limit now in force.
fn raise_descriptor_limit(wanted: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 0 };
    if soft >= wanted {
        return soft;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, wanted, wanted.max(hard)).is_ok() {
        return wanted;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}
