//! Proof under load: many bidders on one lot over HTTP and the websocket at once, many watchers,
//! and two servers on one database. Every acknowledged bid must be in the log exactly once, the
//! log must replay to the live state, and every watcher must see every event in order.

use achex_bidding_engine::EventKind;
use achex_core::AuctionId;
use achex_tests::TestApp;
use achex_tests::storm::{StormBidder, assert_log_keeps_every_acknowledgement, is_gapless, run_storm, watch};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const INCREMENT: i64 = 100;

async fn storm_lot(app: &TestApp) -> String {
    let (auction, _) = app
        .english_auction(|body| {
            body["increment"] = json!({"amount": INCREMENT, "currency": "CNY"});
            body["deposit"] = json!({"amount": 0, "currency": "CNY"});
        })
        .await;
    auction
}

/// Checks the log against what the clients were told, and the replay against the live state.
async fn assert_log_matches(app: &TestApp, auction: &str, acknowledged: &std::collections::BTreeMap<String, u64>) {
    use achex_bidding_engine::engine::AuctionLog as _;
    let id: AuctionId = auction.parse().unwrap();
    let stored = app.state.store.load(id).await.unwrap();
    let replayed = assert_log_keeps_every_acknowledgement(&stored, acknowledged);
    let live = app.state.engine.state(id).await.unwrap();
    assert_eq!(
        (replayed.seq, replayed.current_price, replayed.bid_count),
        (live.seq, live.current_price, live.bid_count)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_bids_are_each_logged_once_and_replay_to_the_live_state() {
    let app = TestApp::spawn().await;
    let auction = storm_lot(&app).await;
    let users = app.quick_enterprises(200).await;
    app.register_all(&auction, &users).await;
    let bidders = users
        .iter()
        .enumerate()
        .map(|(i, (_, token))| StormBidder { token: token.clone(), over_websocket: i % 2 == 1 })
        .collect();
    let address = Arc::new(tokio::sync::RwLock::new(app.address.clone()));
    let report = run_storm(address, &auction, bidders, 50, INCREMENT, Duration::from_secs(600)).await;
    assert_eq!(report.unanswered, 0);
    assert_eq!(report.acknowledged.len() + report.rejected, 10_000);
    assert!(report.acknowledged.len() > 200, "the storm should land many bids: {}", report.acknowledged.len());
    assert_log_matches(&app, &auction, &report.acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_watchers_see_every_event_in_order_during_a_storm() {
    let app = TestApp::spawn().await;
    let auction = storm_lot(&app).await;
    let users = app.quick_enterprises(100).await;
    app.register_all(&auction, &users).await;
    let address = Arc::new(tokio::sync::RwLock::new(app.address.clone()));
    let (done_tx, done_rx) = tokio::sync::watch::channel(None);
    let mut watchers = Vec::new();
    for _ in 0..1_000 {
        watchers.push(tokio::spawn(watch(address.clone(), auction.clone(), done_rx.clone())));
    }
    let bidders = users.iter().map(|(_, token)| StormBidder { token: token.clone(), over_websocket: false }).collect();
    let report = run_storm(address, &auction, bidders, 50, INCREMENT, Duration::from_secs(600)).await;
    assert_eq!(report.unanswered, 0);
    let id: AuctionId = auction.parse().unwrap();
    let final_seq = app.state.engine.state(id).await.unwrap().seq;
    done_tx.send(Some(final_seq)).unwrap();
    let mut reconnects = 0;
    for watcher in watchers {
        let (seen, again) =
            tokio::time::timeout(Duration::from_secs(300), watcher).await.expect("watcher finished").unwrap();
        assert!(is_gapless(&seen), "a watcher saw a gap or a duplicate: {:?}", &seen[..seen.len().min(20)]);
        assert_eq!(seen.last().copied(), Some(final_seq));
        reconnects += again;
    }
    // Reconnecting with `since` is allowed (slow watchers are dropped); it must converge.
    println!("watchers reconnected {reconnects} times in all; final seq {final_seq}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_close_each_lot_exactly_once() {
    let first = TestApp::spawn().await;
    let second = first.spawn_sibling().await;
    let organizer = first.organizer().await;
    let mut lots = Vec::new();
    for _ in 0..5 {
        let (auction, _) = first.english_auction(|_| {}).await;
        let (bidder, _) = first.ready_bidder(&auction, &organizer).await;
        first
            .post(
                &format!("/api/v1/auctions/{auction}/bids"),
                Some(&bidder.token),
                json!({"amount": {"amount": 100_000, "currency": "CNY"}}),
            )
            .await
            .assert_status(201);
        // Both servers now own a copy of the lot, as two nodes would after a failover.
        second.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200);
        lots.push(auction);
    }
    first.clock.advance(chrono::Duration::hours(2));
    tokio::join!(first.tick(), second.tick(), first.tick(), second.tick());
    for auction in &lots {
        let entries = first.state.store.auction_log(auction.parse().unwrap()).await.unwrap();
        let closes =
            entries.iter().flat_map(|e| e.events.iter()).filter(|e| matches!(e.kind, EventKind::Closed { .. })).count();
        assert_eq!(closes, 1, "lot {auction} closed {closes} times");
        let deals = first.state.store.auction_deals(auction.parse().unwrap()).await.unwrap();
        assert_eq!(deals.len(), 1, "lot {auction} has {} deals", deals.len());
        let a = first.get(&format!("/api/v1/auctions/{auction}/result"), None).await;
        let b = second.get(&format!("/api/v1/auctions/{auction}/result"), None).await;
        assert_eq!(a.assert_status(200)["outcome"], b.assert_status(200)["outcome"]);
    }
}
