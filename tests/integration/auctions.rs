//! Competitive bidding over HTTP: the flows a bidder, a seller and an organizer go through.

use achex_core::{AuctionId, Clock, Role};
use achex_tests::{Actor, Reply, TestApp};
use chrono::Duration;
use serde_json::{Value, json};

fn cny(amount: i64) -> serde_json::Value {
    json!({"amount": amount, "currency": "CNY"})
}

#[tokio::test]
async fn an_english_auction_runs_from_registration_to_a_sold_result() {
    let app = TestApp::spawn().await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (mut bob, _) = app.ready_bidder(&auction, &organizer).await;

    let first = app
        .post(
            &format!("/api/v1/auctions/{auction}/bids"),
            Some(&alice.token),
            json!({"amount": cny(100_000), "max_amount": cny(150_000)}),
        )
        .await;
    let first = first.assert_status(201).clone();
    assert_eq!(first["state"]["current_price"], cny(100_000));
    let second =
        app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&bob.token), json!({"amount": cny(120_000)})).await;
    let second = second.assert_status(201).clone();
    // Alice's proxy answers Bob: price = Bob's bid + one increment, Alice still leads.
    assert_eq!(second["state"]["current_price"], cny(130_000));
    assert_eq!(second["state"]["leader_code"], alice_code.as_str());
    assert!(second["seq"].as_u64().unwrap() > first["seq"].as_u64().unwrap());

    let state = app.get(&format!("/api/v1/auctions/{auction}"), None).await;
    let state = state.assert_status(200);
    assert!(state["server_time"].is_string());
    assert!(state["state"].get("reserve_price").is_none());
    assert!(!state.to_string().contains("150000"), "nobody's maximum is public: {state}");

    app.get(&format!("/api/v1/auctions/{auction}/result"), None).await.assert_error(409, "auction_not_closed");
    app.clock.advance(chrono::Duration::hours(2));
    app.tick().await;
    app.relogin(&mut bob).await;
    let late =
        app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&bob.token), json!({"amount": cny(200_000)})).await;
    late.assert_error(409, "auction_not_open");
    let result = app.get(&format!("/api/v1/auctions/{auction}/result"), None).await;
    let result = result.assert_status(200);
    assert_eq!(result["outcome"], "sold");
    assert_eq!(result["deals"][0]["price"], cny(130_000));
    assert_eq!(result["deals"][0]["status"], "awarded");

    let history = app.get(&format!("/api/v1/auctions/{auction}/bids"), None).await;
    let history = history.assert_status(200);
    assert!(history["bids"].as_array().unwrap().len() >= 2);
    assert!(!history.to_string().contains(&alice.email), "bidders appear by code only");
}

#[tokio::test]
async fn the_bid_history_pages_back_from_the_newest_bid_to_the_first() {
    let app = TestApp::spawn().await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;
    for i in 0..7 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        bid(&app, &auction, who, 100_000 + i * 10_000).await.assert_status(201);
    }
    let seqs = |reply: &Value| -> Vec<u64> {
        reply["bids"].as_array().unwrap().iter().map(|b| b["seq"].as_u64().unwrap()).collect()
    };
    let whole = app.get(&auction_path(&auction, "/bids"), None).await.assert_status(200).clone();
    let all = seqs(&whole);
    assert_eq!(all.len(), 7);
    assert!(whole["older_before"].is_null());

    let mut pages = Vec::new();
    let mut path = auction_path(&auction, "/bids?limit=3");
    loop {
        let page = app.get(&path, None).await.assert_status(200).clone();
        let page_seqs = seqs(&page);
        assert!(page_seqs.windows(2).all(|w| w[0] < w[1]), "oldest first within a page: {page}");
        pages.push(page_seqs);
        match page["older_before"].as_u64() {
            Some(before) => path = auction_path(&auction, &format!("/bids?limit=3&before={before}")),
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages[0], all[4..]);
    let stitched: Vec<u64> = pages.into_iter().rev().flatten().collect();
    assert_eq!(stitched, all, "the pages hold every bid once");

    // A page exactly as long as what is left says there is nothing older.
    let exact = app.get(&auction_path(&auction, &format!("/bids?limit=3&before={}", all[3])), None).await;
    assert_eq!(seqs(exact.assert_status(200)), all[..3]);
    assert!(exact.body["older_before"].is_null(), "{}", exact.body);

    for bad in ["limit=0", "limit=1001", "limit=-1", "before=0", "before=x", "page=2"] {
        let reply = app.get(&auction_path(&auction, &format!("/bids?{bad}")), None).await;
        reply.assert_error(422, "validation_failed");
    }
}

#[tokio::test]
async fn a_bid_retried_with_its_idempotency_key_is_counted_once() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let send = |amount: i64| {
        app.client
            .post(app.url(&format!("/api/v1/auctions/{auction}/bids")))
            .bearer_auth(&alice.token)
            .header("Idempotency-Key", "bid-1")
            .json(&json!({"amount": cny(amount)}))
            .send()
    };
    let first = TestApp::reply(send(100_000).await.unwrap()).await;
    let again = TestApp::reply(send(100_000).await.unwrap()).await;
    assert_eq!(first.assert_status(201)["seq"], again.assert_status(201)["seq"]);
    let state = app.get(&format!("/api/v1/auctions/{auction}"), None).await;
    assert_eq!(state.assert_status(200)["state"]["bid_count"], 1);
    let other = TestApp::reply(send(110_000).await.unwrap()).await;
    other.assert_error(422, "validation_failed");
}

#[tokio::test]
async fn a_rejection_decided_on_a_stale_copy_of_a_lot_is_not_stored_and_the_bid_is_retried_on_the_log() {
    // Two servers on one database: the second loads the lot, then the bidder registers through
    // the first. The second's copy still says "not registered"; its answer (a rejection with
    // an idempotency record and no log entry) must lose to the log that moved on, and the bid
    // must be applied to the lot as it really is.
    let first = TestApp::spawn().await;
    let second = first.spawn_sibling().await;
    let (auction, _) = first.english_auction(|_| {}).await;
    public_state(&second, &auction).await;
    let organizer = first.organizer().await;
    let (alice, _) = first.ready_bidder(&auction, &organizer).await;

    let placed = keyed_bid(&second, &auction, &alice, "stale-1", json!({"amount": cny(100_000)})).await;
    let seq = placed.assert_status(201)["seq"].clone();
    // The stored answer is the acceptance, through either server.
    let again = keyed_bid(&first, &auction, &alice, "stale-1", json!({"amount": cny(100_000)})).await;
    assert_eq!(again.assert_status(201)["seq"], seq);
    let state = public_state(&first, &auction).await;
    assert_eq!(state["bid_count"], 1);
    assert_eq!(state["current_price"]["amount"], 100_000);
}

#[tokio::test]
async fn bidding_needs_registration_and_a_confirmed_deposit() {
    let app = TestApp::spawn().await;
    let (auction, owner) = app.english_auction(|_| {}).await;
    let stranger = app.enterprise().await;
    let bid = json!({"amount": cny(100_000)});
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&stranger.token), bid.clone())
        .await
        .assert_error(409, "not_registered");
    app.post(&format!("/api/v1/auctions/{auction}/registrations"), Some(&stranger.token), json!({}))
        .await
        .assert_status(201);
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&stranger.token), bid.clone())
        .await
        .assert_error(409, "deposit_not_confirmed");
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&owner.token), bid)
        .await
        .assert_error(409, "seller_cannot_bid");
}

#[tokio::test]
async fn a_bid_that_is_not_a_multiple_of_the_increment_is_rejected() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&alice.token), json!({"amount": cny(100_000)}))
        .await
        .assert_status(201);
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&bob.token), json!({"amount": cny(125_000)}))
        .await
        .assert_error(422, "not_a_multiple_of_increment");
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&bob.token), json!({"amount": cny(90_000)}))
        .await
        .assert_error(422, "bid_below_minimum");
}

#[tokio::test]
async fn a_bid_inside_the_window_extends_the_close_and_a_rejected_one_does_not() {
    let app = TestApp::spawn().await;
    let (auction, _) = app
        .english_auction(|body| {
            body["ends_at"] = json!(app.clock.now() + chrono::Duration::minutes(10));
        })
        .await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let ends_at = |body: &serde_json::Value| body["state"]["ends_at"].as_str().unwrap().to_owned();
    let before = app.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200).clone();
    app.clock.advance(chrono::Duration::minutes(9) + chrono::Duration::seconds(30));
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&alice.token), json!({"amount": cny(99_000)}))
        .await
        .assert_error(422, "bid_below_minimum");
    let unchanged = app.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200).clone();
    assert_eq!(ends_at(&before), ends_at(&unchanged), "a rejected bid never extends");
    let accepted = app
        .post(&format!("/api/v1/auctions/{auction}/bids"), Some(&alice.token), json!({"amount": cny(100_000)}))
        .await;
    let accepted = accepted.assert_status(201).clone();
    let expected = app.clock.now() + chrono::Duration::seconds(120);
    let new_end = chrono::DateTime::parse_from_rfc3339(&ends_at(&accepted)).unwrap();
    assert_eq!(new_end.timestamp(), expected.timestamp());
}

#[tokio::test]
async fn only_the_owning_institute_auctions_a_published_listing_once_at_a_time() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("Owner Institute").await;
    let other = app.verified_institute("Other Institute").await;
    let reviewer = app.reviewer().await;
    let listing = app.published(&owner, &reviewer).await;
    let draft = app.draft(&owner).await;
    let now = app.clock.now();
    let body = json!({
        "format": "english", "starting_price": cny(100_000), "increment": cny(10_000), "deposit": cny(0),
        "starts_at": now, "ends_at": now + chrono::Duration::hours(1)
    });
    app.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&other.token), body.clone())
        .await
        .assert_error(403, "not_owner");
    app.post(&format!("/api/v1/listings/{draft}/auctions"), Some(&owner.token), body.clone())
        .await
        .assert_error(409, "listing_not_published");
    app.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&owner.token), body.clone())
        .await
        .assert_status(201);
    app.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&owner.token), body)
        .await
        .assert_error(409, "auction_already_open");
}

#[tokio::test]
async fn an_invalid_auction_config_lists_every_problem() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("Owner Institute").await;
    let reviewer = app.reviewer().await;
    let listing = app.published(&owner, &reviewer).await;
    let now = app.clock.now();
    let body = json!({
        "format": "english", "starting_price": cny(100_000), "deposit": cny(-1),
        "starts_at": now + chrono::Duration::hours(2), "ends_at": now + chrono::Duration::hours(1)
    });
    let reply = app.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&owner.token), body).await;
    reply.assert_error(422, "validation_failed");
    let fields: Vec<&str> = reply.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"increment"), "{fields:?}");
    assert!(fields.contains(&"deposit"), "{fields:?}");
    assert!(fields.contains(&"ends_at"), "{fields:?}");
}

// ---------------------------------------------------------------------------------------------
// Every format, outcome and refusal through the API.
// ---------------------------------------------------------------------------------------------

fn auction_path(auction: &str, rest: &str) -> String {
    format!("/api/v1/auctions/{auction}{rest}")
}

async fn bid(app: &TestApp, auction: &str, who: &Actor, amount: i64) -> Reply {
    app.post(&auction_path(auction, "/bids"), Some(&who.token), json!({"amount": cny(amount)})).await
}

/// A bid with an `Idempotency-Key` header.
async fn keyed_bid(app: &TestApp, auction: &str, who: &Actor, key: &str, body: Value) -> Reply {
    let response = app
        .client
        .post(app.url(&auction_path(auction, "/bids")))
        .bearer_auth(&who.token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    TestApp::reply(response).await
}

/// The public state of a lot (`GET /auctions/{id}` → `state`).
async fn public_state(app: &TestApp, auction: &str) -> Value {
    app.get(&auction_path(auction, ""), None).await.assert_status(200)["state"].clone()
}

/// `GET /auctions/{id}/result`, which must be there.
async fn closed_result(app: &TestApp, auction: &str) -> Value {
    app.get(&auction_path(auction, "/result"), None).await.assert_status(200).clone()
}

/// Moves the server clock and lets the engine act on it.
async fn advance(app: &TestApp, by: Duration) {
    app.clock.advance(by);
    app.tick().await;
}

/// An enterprise member of its own organisation called `name`, registered for `auction` with its
/// deposit confirmed by `organizer`; returns it and its bidder code.
async fn named_bidder(app: &TestApp, auction: &str, organizer: &Actor, name: &str) -> (Actor, String) {
    let bidder = app.register(Role::EnterpriseMember, name).await;
    let reply = app.post(&auction_path(auction, "/registrations"), Some(&bidder.token), json!({})).await;
    let code = reply.assert_status(201)["registration_id"].as_str().unwrap().to_owned();
    app.post(
        &auction_path(auction, &format!("/registrations/{code}/confirm-deposit")),
        Some(&organizer.token),
        json!({}),
    )
    .await
    .assert_status(200);
    (bidder, code)
}

/// The body of an auction like [`TestApp::english_auction`]'s, adjusted by `tweak`.
fn english_body(now: chrono::DateTime<chrono::Utc>, tweak: impl FnOnce(&mut Value)) -> Value {
    let mut body = json!({
        "format": "english",
        "starting_price": cny(100_000),
        "increment": cny(10_000),
        "deposit": cny(10_000),
        "starts_at": now,
        "ends_at": now + Duration::hours(1),
        "extension": {"window_secs": 60, "extend_secs": 120},
    });
    tweak(&mut body);
    body
}

/// An auction on a fresh published listing of `owner`'s institute.
async fn lot_of(app: &TestApp, owner: &Actor, reviewer: &Actor, tweak: impl FnOnce(&mut Value)) -> String {
    let listing = app.published(owner, reviewer).await;
    let body = english_body(app.clock.now(), tweak);
    let reply = app.post(&format!("/api/v1/listings/{listing}/auctions"), Some(&owner.token), body).await;
    reply.assert_status(201)["id"].as_str().unwrap().to_owned()
}

fn remove(body: &mut Value, keys: &[&str]) {
    let object = body.as_object_mut().expect("an auction body is an object");
    for key in keys {
        object.remove(*key);
    }
}

/// The events of a lot's log, oldest first, as JSON (what the engine persisted).
async fn logged_events(app: &TestApp, auction: &str) -> Vec<Value> {
    let id: AuctionId = auction.parse().expect("an auction id");
    let entries = app.state.store.auction_log(id).await.expect("read the log");
    entries
        .iter()
        .flat_map(|entry| serde_json::to_value(&entry.events).expect("events serialize").as_array().cloned().unwrap())
        .collect()
}

/// Ids of the lots in `GET /auctions?status=…`, checking each item's status says the same.
async fn listed(app: &TestApp, status: &str) -> Vec<(String, String)> {
    let reply = app.get(&format!("/api/v1/auctions?status={status}"), None).await;
    reply.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (item["id"].as_str().unwrap().to_owned(), item["state"]["status"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

fn ids(items: &[(String, String)]) -> Vec<&str> {
    items.iter().map(|(id, _)| id.as_str()).collect()
}

#[tokio::test]
async fn a_two_phase_auction_takes_free_quotes_then_lets_only_quoters_bid_in_the_round() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _) = app
        .english_auction(|body| {
            body["format"] = json!("two_phase");
            body["free_quote_until"] = json!(now + Duration::minutes(10));
            body["ends_at"] = json!(now + Duration::minutes(20));
        })
        .await;
    let organizer = app.organizer().await;
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (bob, bob_code) = app.ready_bidder(&auction, &organizer).await;
    let (carol, _) = app.ready_bidder(&auction, &organizer).await;
    assert_eq!(public_state(&app, &auction).await["status"], "free_quote");

    // Free quotes: open, no proxies, each beating the bidder's own previous one.
    bid(&app, &auction, &alice, 100_000).await.assert_status(201);
    app.post(
        &auction_path(&auction, "/bids"),
        Some(&alice.token),
        json!({"amount": cny(110_000), "max_amount": cny(150_000)}),
    )
    .await
    .assert_error(422, "proxy_not_supported");
    let quote = bid(&app, &auction, &bob, 120_000).await;
    let quote = quote.assert_status(201);
    assert_eq!(quote["state"]["current_price"], cny(120_000));
    assert_eq!(quote["state"]["leader_code"], bob_code.as_str());
    bid(&app, &auction, &alice, 100_000).await.assert_error(409, "quote_not_raised");
    bid(&app, &auction, &carol, 90_000).await.assert_error(422, "bid_below_minimum");

    // The clock ends the free-quote period: the engine announces the round.
    let before = public_state(&app, &auction).await;
    advance(&app, Duration::minutes(10) + Duration::seconds(1)).await;
    let after = public_state(&app, &auction).await;
    assert_eq!(after["status"], "live", "{after}");
    assert_eq!(after["seq"].as_u64(), before["seq"].as_u64().map(|s| s + 1), "the tick adds exactly one event");
    let events = logged_events(&app, &auction).await;
    let phases: Vec<&Value> = events.iter().filter(|e| e["type"] == "phase_changed").map(|e| &e["status"]).collect();
    assert_eq!(phases, [&json!("free_quote"), &json!("live")], "{events:#?}");
    assert_eq!(events.last().unwrap()["seq"], after["seq"], "the phase change is the tick's event");

    // Only bidders with a free quote take part in the round, on the increment grid.
    bid(&app, &auction, &carol, 130_000).await.assert_error(409, "not_qualified_for_round");
    bid(&app, &auction, &alice, 135_000).await.assert_error(422, "not_a_multiple_of_increment");
    let raise = bid(&app, &auction, &alice, 130_000).await;
    let raise = raise.assert_status(201);
    assert_eq!(raise["state"]["current_price"], cny(130_000));
    assert_eq!(raise["state"]["leader_code"], alice_code.as_str());

    advance(&app, Duration::minutes(10)).await;
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "sold", "{result}");
    assert_eq!(result["detail"]["winner"], alice_code.as_str());
    assert_eq!(result["deals"][0]["price"], cny(130_000));
}

/// Runs a sealed auction with four bids (one a downward revision) and returns the result and
/// the code of the expected winner, after checking nothing leaked before the close.
async fn sealed_auction(format: &str) -> (Value, String) {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _) = app
        .english_auction(|body| {
            body["format"] = json!(format);
            body["ends_at"] = json!(now + Duration::minutes(10));
            remove(body, &["increment", "extension"]);
        })
        .await;
    let organizer = app.organizer().await;
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;
    let (carol, _) = app.ready_bidder(&auction, &organizer).await;
    let secret = ["153100", "137700", "171300", "121100"];

    bid(&app, &auction, &alice, 153_100).await.assert_status(201);
    bid(&app, &auction, &bob, 137_700).await.assert_status(201);
    bid(&app, &auction, &carol, 171_300).await.assert_status(201);
    // A sealed bid may be revised, even downwards, until the close.
    bid(&app, &auction, &carol, 121_100).await.assert_status(201);
    app.post(
        &auction_path(&auction, "/bids"),
        Some(&bob.token),
        json!({"amount": cny(140_000), "max_amount": cny(150_000)}),
    )
    .await
    .assert_error(422, "proxy_not_supported");
    bid(&app, &auction, &bob, 99_000).await.assert_error(422, "bid_below_minimum");

    let state = public_state(&app, &auction).await;
    assert_eq!(state["current_price"], Value::Null, "{state}");
    assert_eq!(state["leader_code"], Value::Null, "{state}");
    assert_eq!(state["reserve_met"], false, "{state}");
    assert_eq!(state["bid_count"], 4, "{state}");
    let history = app.get(&auction_path(&auction, "/bids"), None).await.assert_status(200).clone();
    let bids = history["bids"].as_array().unwrap();
    assert_eq!(bids.len(), 4, "{history}");
    for entry in bids {
        assert_eq!((&entry["amount"], &entry["current_price"]), (&Value::Null, &Value::Null), "{entry}");
    }
    for body in [
        app.get(&auction_path(&auction, ""), None).await.body,
        history,
        app.get("/api/v1/auctions?status=live", None).await.body,
        app.get(&auction_path(&auction, "/result"), None).await.body,
    ] {
        for amount in secret {
            assert!(!body.to_string().contains(amount), "sealed amount {amount} leaked before the close: {body}");
        }
    }

    advance(&app, Duration::minutes(11)).await;
    let result = closed_result(&app, &auction).await;
    let state = public_state(&app, &auction).await;
    assert_eq!(state["status"], "closed");
    assert_eq!(state["leader_code"], alice_code.as_str(), "the close reveals the winner: {state}");
    assert_eq!(state["current_price"], result["detail"]["price"], "{state}");
    (result, alice_code)
}

#[tokio::test]
async fn sealed_first_price_bids_stay_hidden_until_the_close_and_the_highest_pays_its_own_bid() {
    let (result, winner) = sealed_auction("sealed_first_price").await;
    assert_eq!(result["outcome"], "sold", "{result}");
    assert_eq!(result["detail"]["winner"], winner.as_str(), "{result}");
    assert_eq!(result["detail"]["price"], cny(153_100), "{result}");
    assert_eq!(result["deals"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(result["deals"][0]["price"], cny(153_100), "{result}");
    assert_eq!(result["deals"][0]["status"], "awarded", "{result}");
}

#[tokio::test]
async fn sealed_second_price_bids_stay_hidden_until_the_close_and_the_highest_pays_the_runner_ups_bid() {
    let (result, winner) = sealed_auction("sealed_second_price").await;
    assert_eq!(result["outcome"], "sold", "{result}");
    assert_eq!(result["detail"]["winner"], winner.as_str(), "{result}");
    assert_eq!(result["detail"]["price"], cny(137_700), "{result}");
    assert_eq!(result["deals"][0]["price"], cny(137_700), "{result}");
    assert_eq!(result["deals"][0]["status"], "awarded", "{result}");
}

#[tokio::test]
async fn a_dutch_price_falls_with_the_clock_and_the_first_acceptance_wins_at_the_current_price() {
    let app = TestApp::spawn().await;
    let (auction, _) = app
        .english_auction(|body| {
            body["format"] = json!("dutch");
            body["starting_price"] = cny(200_000);
            body["dutch"] = json!({"step": cny(10_000), "interval_secs": 60, "floor": cny(100_000)});
            remove(body, &["increment", "extension"]);
        })
        .await;
    let organizer = app.organizer().await;
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;

    let prices = [(0, 200_000), (61, 190_000), (89, 180_000)];
    for (secs, price) in prices {
        app.clock.advance(Duration::seconds(secs));
        let state = public_state(&app, &auction).await;
        assert_eq!(state["current_price"], cny(price), "{state}");
        assert_eq!(state["next_minimum_bid"], cny(price), "{state}");
    }
    bid(&app, &auction, &bob, 170_000).await.assert_error(422, "bid_below_minimum");
    // Offering more than the current price accepts at the current price.
    let accepted = bid(&app, &auction, &alice, 195_000).await;
    let accepted = accepted.assert_status(201);
    assert_eq!(accepted["state"]["status"], "closed", "{accepted}");
    assert_eq!(accepted["state"]["current_price"], cny(180_000), "{accepted}");
    bid(&app, &auction, &bob, 200_000).await.assert_error(409, "auction_not_open");

    app.clock.advance(Duration::minutes(5));
    let state = public_state(&app, &auction).await;
    assert_eq!(state["current_price"], cny(180_000), "a sold lot's price no longer falls: {state}");
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "sold", "{result}");
    assert_eq!(result["detail"]["winner"], alice_code.as_str());
    assert_eq!(result["detail"]["price"], cny(180_000));
    assert_eq!(result["deals"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(result["deals"][0]["price"], cny(180_000));
}

/// Every public body about a lot, for the "is anything private in there" checks.
async fn public_bodies(app: &TestApp, auction: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in [
        auction_path(auction, ""),
        auction_path(auction, "/bids"),
        auction_path(auction, "/result"),
        "/api/v1/auctions?status=live".to_owned(),
        "/api/v1/auctions?status=closed".to_owned(),
    ] {
        let reply = app.get(&path, None).await;
        out.push((path, reply.body));
    }
    out
}

#[tokio::test]
async fn a_hidden_reserve_that_is_not_met_leaves_the_lot_unsold_and_never_shows() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _) = app
        .english_auction(|body| {
            body["reserve_price"] = cny(157_300);
            body["ends_at"] = json!(now + Duration::minutes(10));
        })
        .await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let (bob, bob_code) = app.ready_bidder(&auction, &organizer).await;

    let first = bid(&app, &auction, &alice, 100_000).await;
    assert_eq!(first.assert_status(201)["state"]["reserve_met"], false);
    let second = bid(&app, &auction, &bob, 120_000).await;
    let second = second.assert_status(201);
    assert_eq!(second["state"]["reserve_met"], false, "{second}");
    assert_eq!(second["state"]["leader_code"], bob_code.as_str());
    assert_eq!(second["state"]["current_price"], cny(120_000));
    assert!(!second.to_string().contains("157300"), "the bidder's own answer hides the reserve: {second}");

    let mut bodies = public_bodies(&app, &auction).await;
    advance(&app, Duration::minutes(11)).await;
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "unsold_reserve_not_met", "{result}");
    assert_eq!(result["detail"]["result"], "unsold_reserve_not_met", "{result}");
    assert_eq!(result["deals"], json!([]), "{result}");
    let state = public_state(&app, &auction).await;
    assert_eq!(state["reserve_met"], false, "{state}");
    bodies.extend(public_bodies(&app, &auction).await);
    for (path, body) in bodies {
        let text = body.to_string();
        assert!(!text.contains("157300") && !text.contains("reserve_price"), "GET {path} shows the reserve: {text}");
    }
}

#[tokio::test]
async fn a_maximum_at_the_hidden_reserve_lifts_the_price_to_it_and_the_lot_sells() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _) = app
        .english_auction(|body| {
            body["reserve_price"] = cny(150_000);
            body["ends_at"] = json!(now + Duration::minutes(10));
        })
        .await;
    let organizer = app.organizer().await;
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;

    let below = bid(&app, &auction, &bob, 100_000).await;
    assert_eq!(below.assert_status(201)["state"]["reserve_met"], false);
    let lifted = app
        .post(
            &auction_path(&auction, "/bids"),
            Some(&alice.token),
            json!({"amount": cny(110_000), "max_amount": cny(190_000)}),
        )
        .await;
    let lifted = lifted.assert_status(201);
    assert_eq!(lifted["state"]["reserve_met"], true, "{lifted}");
    assert_eq!(lifted["state"]["current_price"], cny(150_000), "{lifted}");
    assert_eq!(lifted["state"]["leader_code"], alice_code.as_str());
    for (path, body) in public_bodies(&app, &auction).await {
        let text = body.to_string();
        assert!(!text.contains("190000"), "GET {path} shows a proxy maximum: {text}");
        assert!(!text.contains("reserve_price"), "GET {path} names the reserve: {text}");
    }

    advance(&app, Duration::minutes(11)).await;
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "sold", "{result}");
    assert_eq!(result["detail"]["price"], cny(150_000), "{result}");
    assert_eq!(result["deals"][0]["price"], cny(150_000), "{result}");
}

#[tokio::test]
async fn a_lot_nobody_bids_on_closes_with_no_bids_and_no_deal() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _) = app.english_auction(|body| body["ends_at"] = json!(now + Duration::minutes(10))).await;
    let organizer = app.organizer().await;
    app.ready_bidder(&auction, &organizer).await;
    advance(&app, Duration::minutes(10)).await;
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "no_bids", "{result}");
    assert_eq!(result["detail"], json!({"result": "no_bids"}), "{result}");
    assert_eq!(result["deals"], json!([]), "{result}");
    let state = public_state(&app, &auction).await;
    assert_eq!((&state["status"], &state["leader_code"]), (&json!("closed"), &Value::Null), "{state}");
}

#[tokio::test]
async fn an_admin_cancels_a_live_auction_with_a_reason_and_nobody_else_may() {
    let app = TestApp::spawn().await;
    let (auction, owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let admin = app.admin().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    bid(&app, &auction, &alice, 100_000).await.assert_status(201);
    let reason = json!({"reason": "the patent's ownership is disputed"});

    app.post(&auction_path(&auction, "/cancel"), None, reason.clone())
        .await
        .assert_error(401, "authentication_required");
    for who in [&owner, &alice, &organizer] {
        app.post(&auction_path(&auction, "/cancel"), Some(&who.token), reason.clone())
            .await
            .assert_error(403, "forbidden_role");
    }
    app.post(&auction_path(&auction, "/cancel"), Some(&admin.token), json!({"reason": "  "}))
        .await
        .assert_error(422, "validation_failed");
    assert_eq!(public_state(&app, &auction).await["status"], "live", "refused cancellations change nothing");

    let cancelled = app.post(&auction_path(&auction, "/cancel"), Some(&admin.token), reason.clone()).await;
    let cancelled = cancelled.assert_status(200);
    assert_eq!(cancelled["state"]["status"], "closed", "{cancelled}");
    assert_eq!(
        cancelled["state"]["outcome"],
        json!({"result": "cancelled", "reason": "the patent's ownership is disputed"}),
        "{cancelled}"
    );
    bid(&app, &auction, &alice, 110_000).await.assert_error(409, "auction_not_open");
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "cancelled", "{result}");
    assert_eq!(result["detail"]["reason"], "the patent's ownership is disputed", "{result}");
    assert_eq!(result["deals"], json!([]), "a cancelled lot sells nothing: {result}");
    app.post(&auction_path(&auction, "/cancel"), Some(&admin.token), reason).await.assert_error(409, "already_closed");
}

#[tokio::test]
async fn cancelling_an_auction_after_its_close_is_a_conflict_and_keeps_the_sale() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _) = app.english_auction(|body| body["ends_at"] = json!(now + Duration::minutes(10))).await;
    let organizer = app.organizer().await;
    let admin = app.admin().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    bid(&app, &auction, &alice, 100_000).await.assert_status(201);
    advance(&app, Duration::minutes(11)).await;
    app.post(&auction_path(&auction, "/cancel"), Some(&admin.token), json!({"reason": "too late"}))
        .await
        .assert_error(409, "already_closed");
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "sold", "{result}");
    assert_eq!(result["deals"][0]["status"], "awarded", "{result}");
}

#[tokio::test]
async fn a_defaulting_winner_passes_the_lot_to_the_runner_up_at_its_own_highest_bid() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, owner) = app.english_auction(|body| body["ends_at"] = json!(now + Duration::minutes(10))).await;
    let organizer = app.organizer().await;
    let admin = app.admin().await;
    let (alice, alice_code) = named_bidder(&app, &auction, &organizer, "Alpha Materials Ltd").await;
    let (bob, bob_code) = named_bidder(&app, &auction, &organizer, "Beta Batteries Ltd").await;
    app.post(
        &auction_path(&auction, "/bids"),
        Some(&alice.token),
        json!({"amount": cny(100_000), "max_amount": cny(150_000)}),
    )
    .await
    .assert_status(201);
    let answered = bid(&app, &auction, &bob, 120_000).await;
    assert_eq!(answered.assert_status(201)["state"]["current_price"], cny(130_000));
    advance(&app, Duration::minutes(11)).await;
    let sold = closed_result(&app, &auction).await;
    assert_eq!(sold["detail"], json!({"result": "sold", "winner": alice_code, "price": cny(130_000)}), "{sold}");

    let default = auction_path(&auction, "/default");
    for who in [&owner, &alice, &organizer] {
        app.post(&default, Some(&who.token), json!({"bidder_code": alice_code}))
            .await
            .assert_error(403, "forbidden_role");
    }
    app.post(&default, Some(&admin.token), json!({"bidder_code": bob_code})).await.assert_error(409, "not_the_winner");
    let unknown = app.post(&default, Some(&admin.token), json!({"bidder_code": "B-99"})).await;
    unknown.assert_error(422, "validation_failed");
    assert_eq!(unknown.body["error"]["details"]["fields"][0]["field"], "bidder_code", "{:?}", unknown.body);

    let defaulted = app.post(&default, Some(&admin.token), json!({"bidder_code": alice_code})).await;
    let defaulted = defaulted.assert_status(200);
    assert_eq!(
        defaulted["state"]["outcome"],
        json!({"result": "sold", "winner": bob_code, "price": cny(120_000)}),
        "the runner-up is offered the lot at its own highest bid: {defaulted}"
    );
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "sold", "{result}");
    let deals: Vec<(Value, Value, Value)> = result["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["buyer_organization"].clone(), d["price"].clone(), d["status"].clone()))
        .collect();
    assert_eq!(
        deals,
        [
            (json!("Alpha Materials Ltd"), cny(130_000), json!("defaulted")),
            (json!("Beta Batteries Ltd"), cny(120_000), json!("awarded")),
        ],
        "{result}"
    );

    // The runner-up defaulting too leaves nobody to offer the lot to.
    app.post(&default, Some(&admin.token), json!({"bidder_code": bob_code})).await.assert_status(200);
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "unsold_winner_defaulted", "{result}");
    let statuses: Vec<&Value> = result["deals"].as_array().unwrap().iter().map(|d| &d["status"]).collect();
    assert_eq!(statuses, [&json!("defaulted"), &json!("defaulted")], "{result}");
}

#[tokio::test]
async fn the_auction_lists_move_each_lot_from_upcoming_to_live_to_closed_as_the_clock_runs() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (later, _) = app
        .english_auction(|body| {
            body["starts_at"] = json!(now + Duration::minutes(10));
            body["ends_at"] = json!(now + Duration::minutes(20));
        })
        .await;
    let (soon, _) = app.english_auction(|body| body["ends_at"] = json!(now + Duration::minutes(5))).await;
    // Both lots are opened once, as a bidder's browser would.
    public_state(&app, &later).await;
    public_state(&app, &soon).await;

    let check = |moment: &'static str,
                 upcoming: Vec<&'static str>,
                 live: Vec<&'static str>,
                 closed: Vec<&'static str>| {
        let app = &app;
        let (later, soon) = (later.clone(), soon.clone());
        async move {
            let name = |id: &str| {
                if id == later {
                    "later"
                } else if id == soon {
                    "soon"
                } else {
                    "other"
                }
            };
            let mut problems = Vec::new();
            for (status, expected) in [("upcoming", upcoming), ("live", live), ("closed", closed)] {
                let items = listed(app, status).await;
                let mut got: Vec<&str> = ids(&items).into_iter().map(name).collect();
                got.sort_unstable();
                if got != expected {
                    problems.push(format!("{moment}: ?status={status} lists {got:?}, expected {expected:?}"));
                }
                for (id, item_status) in &items {
                    let consistent = match status {
                        "upcoming" => item_status == "upcoming",
                        "live" => item_status == "live",
                        _ => item_status == "closed",
                    };
                    if !consistent {
                        problems
                            .push(format!("{moment}: {} in ?status={status} says status {item_status:?}", name(id)));
                    }
                }
            }
            problems
        }
    };
    let mut problems = check("at creation", vec!["later"], vec!["soon"], vec![]).await;
    advance(&app, Duration::minutes(6)).await;
    problems.extend(check("after soon's end", vec!["later"], vec![], vec!["soon"]).await);
    advance(&app, Duration::minutes(5)).await;
    problems.extend(check("after later's start", vec![], vec!["later"], vec!["soon"]).await);
    advance(&app, Duration::minutes(10)).await;
    problems.extend(check("after later's end", vec![], vec![], vec!["later", "soon"]).await);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn a_lot_nobody_has_opened_still_closes_when_its_time_is_up() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    // Created and then left alone: no bidder, no watcher, nobody reads it.
    let (auction, _) = app.english_auction(|body| body["ends_at"] = json!(now + Duration::minutes(5))).await;
    advance(&app, Duration::minutes(6)).await;
    let closed = listed(&app, "closed").await;
    let live = listed(&app, "live").await;
    assert!(
        ids(&closed).contains(&auction.as_str()) && !ids(&live).contains(&auction.as_str()),
        "a lot past its end must be closed by the clock: closed={closed:?} live={live:?}"
    );
    let result = closed_result(&app, &auction).await;
    assert_eq!(result["outcome"], "no_bids", "{result}");
}

#[tokio::test]
async fn a_deposit_confirmed_by_anyone_but_an_organizer_or_admin_is_refused() {
    let app = TestApp::spawn().await;
    let (auction, owner) = app.english_auction(|_| {}).await;
    let reviewer = app.reviewer().await;
    let bidder = app.enterprise().await;
    let reply = app.post(&auction_path(&auction, "/registrations"), Some(&bidder.token), json!({})).await;
    let registration = reply.assert_status(201).clone();
    assert_eq!(registration["deposit_status"], "unconfirmed", "{registration}");
    assert_eq!(registration["deposit"], cny(10_000), "{registration}");
    let confirm = auction_path(
        &auction,
        &format!("/registrations/{}/confirm-deposit", registration["registration_id"].as_str().unwrap()),
    );
    app.post(&confirm, None, json!({})).await.assert_error(401, "authentication_required");
    for who in [&bidder, &owner, &reviewer] {
        app.post(&confirm, Some(&who.token), json!({})).await.assert_error(403, "forbidden_role");
    }
    bid(&app, &auction, &bidder, 100_000).await.assert_error(409, "deposit_not_confirmed");

    let admin = app.admin().await;
    let confirmed = app.post(&confirm, Some(&admin.token), json!({})).await;
    assert_eq!(confirmed.assert_status(200)["deposit_status"], "held");
    let organizer = app.organizer().await;
    app.post(&confirm, Some(&organizer.token), json!({})).await.assert_error(409, "deposit_already_confirmed");
    bid(&app, &auction, &bidder, 100_000).await.assert_status(201);
}

#[tokio::test]
async fn every_auction_endpoint_answers_404_for_an_auction_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("Owner Institute").await;
    let enterprise = app.enterprise().await;
    let organizer = app.organizer().await;
    let admin = app.admin().await;
    let (existing, _) = app.english_auction(|_| {}).await;
    let mut problems = Vec::new();
    for id in [uuid::Uuid::now_v7().to_string(), "not-an-auction".to_owned()] {
        let calls: Vec<(&str, String, Option<&Actor>, Option<Value>)> = vec![
            ("GET", auction_path(&id, ""), None, None),
            ("GET", auction_path(&id, "/bids"), None, None),
            ("GET", auction_path(&id, "/result"), None, None),
            ("POST", auction_path(&id, "/registrations"), Some(&enterprise), Some(json!({}))),
            ("POST", auction_path(&id, "/registrations/B-01/confirm-deposit"), Some(&organizer), Some(json!({}))),
            ("POST", auction_path(&id, "/bids"), Some(&enterprise), Some(json!({"amount": cny(100_000)}))),
            ("POST", auction_path(&id, "/cancel"), Some(&admin), Some(json!({"reason": "gone"}))),
            ("POST", auction_path(&id, "/default"), Some(&admin), Some(json!({"bidder_code": "B-01"}))),
            (
                "POST",
                format!("/api/v1/listings/{id}/auctions"),
                Some(&owner),
                Some(english_body(app.clock.now(), |_| {})),
            ),
        ];
        for (method, path, who, body) in calls {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let reply = app.request(method.clone(), &path, who.map(|a| a.token.as_str()), body).await;
            if (reply.status.as_u16(), reply.code()) != (404, Some("not_found")) {
                problems.push(format!("{method} {path}: {} {:?}", reply.status, reply.code()));
            }
        }
    }
    let unknown_registration = auction_path(&existing, "/registrations/B-42/confirm-deposit");
    let reply = app.post(&unknown_registration, Some(&organizer.token), json!({})).await;
    if (reply.status.as_u16(), reply.code()) != (404, Some("not_found")) {
        problems.push(format!("POST {unknown_registration}: {} {:?}", reply.status, reply.code()));
    }
    assert!(problems.is_empty(), "expected 404 not_found:\n{}", problems.join("\n"));
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_a_validation_error_on_that_header() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    keyed_bid(&app, &auction, &alice, "order-7", json!({"amount": cny(100_000)})).await.assert_status(201);
    for other in [json!({"amount": cny(110_000)}), json!({"amount": cny(100_000), "max_amount": cny(150_000)})] {
        let reply = keyed_bid(&app, &auction, &alice, "order-7", other).await;
        reply.assert_error(422, "validation_failed");
        let fields = &reply.body["error"]["details"]["fields"];
        assert_eq!(fields.as_array().map(Vec::len), Some(1), "{:?}", reply.body);
        assert_eq!(fields[0]["field"], "Idempotency-Key", "{:?}", reply.body);
        assert_eq!(fields[0]["code"], "idempotency_key_reused", "{:?}", reply.body);
    }
    let state = public_state(&app, &auction).await;
    assert_eq!((&state["bid_count"], &state["current_price"]), (&json!(1), &cny(100_000)), "{state}");
}

#[tokio::test]
async fn a_rejected_bid_retried_with_its_key_gets_the_same_rejection() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let alice = app.enterprise().await;
    let reply = app.post(&auction_path(&auction, "/registrations"), Some(&alice.token), json!({})).await;
    let code = reply.assert_status(201)["registration_id"].as_str().unwrap().to_owned();
    let body = json!({"amount": cny(100_000)});

    let first = keyed_bid(&app, &auction, &alice, "try-1", body.clone()).await;
    first.assert_error(409, "deposit_not_confirmed");
    app.post(
        &auction_path(&auction, &format!("/registrations/{code}/confirm-deposit")),
        Some(&organizer.token),
        json!({}),
    )
    .await
    .assert_status(200);
    // The retry is answered from the stored result, not re-decided now that the deposit is in.
    let again = keyed_bid(&app, &auction, &alice, "try-1", body.clone()).await;
    again.assert_error(409, "deposit_not_confirmed");
    assert_eq!(again.body["error"]["message"], first.body["error"]["message"]);
    assert_eq!(public_state(&app, &auction).await["bid_count"], 0);

    let low = keyed_bid(&app, &auction, &alice, "try-2", json!({"amount": cny(90_000)})).await;
    low.assert_error(422, "bid_below_minimum");
    let low_again = keyed_bid(&app, &auction, &alice, "try-2", json!({"amount": cny(90_000)})).await;
    low_again.assert_error(422, "bid_below_minimum");
    assert_eq!(low_again.body["error"]["message"], low.body["error"]["message"]);

    keyed_bid(&app, &auction, &alice, "try-3", body).await.assert_status(201);
    assert_eq!(public_state(&app, &auction).await["bid_count"], 1);
}

// ---------------------------------------------------------------------------------------------
// The authorization matrix of the auction endpoints.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Enterprise,
    /// Staff of the institute that sells the lot.
    Owner,
    /// Staff of another institute.
    Other,
    Organizer,
    Reviewer,
    Admin,
}

/// The column order of every row of [`auction_matrix`].
const CALLERS: [Who; 7] =
    [Who::Anonymous, Who::Enterprise, Who::Owner, Who::Other, Who::Organizer, Who::Reviewer, Who::Admin];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Create,
    List,
    Get,
    History,
    Result,
    Register,
    ConfirmDeposit,
    Bid,
    Cancel,
    Default,
}

/// Expected status and error code (`""` for a success).
type Expect = (u16, &'static str);

const OK: Expect = (200, "");
const CREATED: Expect = (201, "");
const UNAUTHENTICATED: Expect = (401, "authentication_required");
const FORBIDDEN_ROLE: Expect = (403, "forbidden_role");
const NOT_OWNER: Expect = (403, "not_owner");
const SELLER_CANNOT_BID: Expect = (409, "seller_cannot_bid");

/// Who may do what (module docs of `achex_api::routes::auctions`): the owning institute auctions
/// its listing; enterprise members register and bid; organizers and admins confirm deposits;
/// admins cancel and record defaults; anyone reads. Columns: anonymous, enterprise, owner, other
/// institute, organizer, reviewer, admin.
fn auction_matrix() -> Vec<(Call, [Expect; 7])> {
    let fr = FORBIDDEN_ROLE;
    let anon = UNAUTHENTICATED;
    vec![
        (Call::Create, [anon, NOT_OWNER, CREATED, NOT_OWNER, NOT_OWNER, NOT_OWNER, NOT_OWNER]),
        (Call::List, [OK; 7]),
        (Call::Get, [OK; 7]),
        (Call::History, [OK; 7]),
        (Call::Result, [OK; 7]),
        (Call::Register, [anon, CREATED, fr, fr, fr, fr, fr]),
        (Call::ConfirmDeposit, [anon, fr, fr, fr, OK, fr, OK]),
        // Only enterprise members bid; the seller's own staff get the machine's precise refusal.
        (Call::Bid, [anon, CREATED, SELLER_CANNOT_BID, fr, fr, fr, fr]),
        (Call::Cancel, [anon, fr, fr, fr, fr, fr, OK]),
        (Call::Default, [anon, fr, fr, fr, fr, fr, OK]),
    ]
}

/// What one row acts on, prepared for that row alone.
enum Target {
    Listing(String),
    Lot(String),
    Registration { lot: String, code: String },
    Sold { lot: String, winner: String },
}

impl Target {
    fn lot(&self) -> Option<&str> {
        match self {
            Target::Listing(_) => None,
            Target::Lot(lot) | Target::Registration { lot, .. } | Target::Sold { lot, .. } => Some(lot),
        }
    }
}

struct Cast {
    app: TestApp,
    enterprise: Actor,
    owner: Actor,
    other: Actor,
    organizer: Actor,
    reviewer: Actor,
    admin: Actor,
}

impl Cast {
    fn token(&self, who: Who) -> Option<&str> {
        let actor = match who {
            Who::Anonymous => return None,
            Who::Enterprise => &self.enterprise,
            Who::Owner => &self.owner,
            Who::Other => &self.other,
            Who::Organizer => &self.organizer,
            Who::Reviewer => &self.reviewer,
            Who::Admin => &self.admin,
        };
        Some(&actor.token)
    }

    /// A lot of the owner's institute; `short` ones end in two minutes.
    async fn lot(&self, short: bool) -> String {
        let now = self.app.clock.now();
        lot_of(&self.app, &self.owner, &self.reviewer, |body| {
            if short {
                body["ends_at"] = json!(now + Duration::minutes(2));
            }
        })
        .await
    }

    /// A short lot with one bid from a bidder of its own, to be sold when the clock passes its end.
    async fn to_be_sold(&self) -> Target {
        let lot = self.lot(true).await;
        let (bidder, winner) = self.app.ready_bidder(&lot, &self.organizer).await;
        bid(&self.app, &lot, &bidder, 100_000).await.assert_status(201);
        Target::Sold { lot, winner }
    }

    async fn prepare(&self, call: Call, shared: &Target) -> Target {
        let app = &self.app;
        match call {
            Call::Create => Target::Listing(app.published(&self.owner, &self.reviewer).await),
            Call::List | Call::Get | Call::History | Call::Result => match shared {
                Target::Sold { lot, winner } => Target::Sold { lot: lot.clone(), winner: winner.clone() },
                _ => unreachable!("the shared lot is a sold one"),
            },
            Call::Register | Call::Cancel => Target::Lot(self.lot(false).await),
            Call::ConfirmDeposit => {
                let lot = self.lot(false).await;
                let bidder = app.enterprise().await;
                let reply = app.post(&auction_path(&lot, "/registrations"), Some(&bidder.token), json!({})).await;
                let code = reply.assert_status(201)["registration_id"].as_str().unwrap().to_owned();
                Target::Registration { lot, code }
            }
            Call::Bid => {
                // The enterprise column bids as a registered bidder with its deposit confirmed.
                let lot = self.lot(false).await;
                let reply =
                    app.post(&auction_path(&lot, "/registrations"), Some(&self.enterprise.token), json!({})).await;
                let code = reply.assert_status(201)["registration_id"].as_str().unwrap().to_owned();
                app.post(
                    &auction_path(&lot, &format!("/registrations/{code}/confirm-deposit")),
                    Some(&self.organizer.token),
                    json!({}),
                )
                .await
                .assert_status(200);
                Target::Lot(lot)
            }
            Call::Default => self.to_be_sold().await,
        }
    }

    async fn call(&self, call: Call, who: Who, target: &Target) -> Reply {
        let app = &self.app;
        let token = self.token(who);
        let lot = target.lot().unwrap_or("");
        match (call, target) {
            (Call::Create, Target::Listing(listing)) => {
                let body = english_body(app.clock.now(), |_| {});
                app.post(&format!("/api/v1/listings/{listing}/auctions"), token, body).await
            }
            (Call::List, _) => app.get("/api/v1/auctions?status=closed", token).await,
            (Call::Get, _) => app.get(&auction_path(lot, ""), token).await,
            (Call::History, _) => app.get(&auction_path(lot, "/bids"), token).await,
            (Call::Result, _) => app.get(&auction_path(lot, "/result"), token).await,
            (Call::Register, _) => app.post(&auction_path(lot, "/registrations"), token, json!({})).await,
            (Call::ConfirmDeposit, Target::Registration { code, .. }) => {
                app.post(&auction_path(lot, &format!("/registrations/{code}/confirm-deposit")), token, json!({})).await
            }
            (Call::Bid, _) => app.post(&auction_path(lot, "/bids"), token, json!({"amount": cny(100_000)})).await,
            (Call::Cancel, _) => app.post(&auction_path(lot, "/cancel"), token, json!({"reason": "matrix"})).await,
            (Call::Default, Target::Sold { winner, .. }) => {
                app.post(&auction_path(lot, "/default"), token, json!({"bidder_code": winner})).await
            }
            _ => unreachable!("{call:?} has no such target"),
        }
    }

    /// What a refused call must not have changed: the lot's event count, or the listing's lots.
    async fn footprint(&self, target: &Target) -> Value {
        match target {
            Target::Listing(listing) => {
                let id = listing.parse().expect("a listing id");
                json!(self.app.state.store.listing_auctions(id).await.expect("listing auctions").len())
            }
            other => public_state(&self.app, other.lot().unwrap()).await["seq"].clone(),
        }
    }
}

#[tokio::test]
async fn every_auction_endpoint_answers_every_kind_of_caller_as_the_matrix_says() {
    let app = TestApp::spawn().await;
    let cast = Cast {
        enterprise: app.enterprise().await,
        owner: app.verified_institute("Owning Institute").await,
        other: app.verified_institute("Other Institute").await,
        organizer: app.organizer().await,
        reviewer: app.reviewer().await,
        admin: app.admin().await,
        app,
    };
    let shared = cast.to_be_sold().await;
    let matrix = auction_matrix();
    let mut rows = Vec::new();
    for (call, expected) in &matrix {
        for (who, expected) in CALLERS.into_iter().zip(*expected) {
            rows.push((*call, who, expected, cast.prepare(*call, &shared).await));
        }
    }
    // The short lots (the shared one and the defaults' targets) close and sell.
    advance(&cast.app, Duration::minutes(3)).await;
    assert_eq!(closed_result(&cast.app, shared.lot().unwrap()).await["outcome"], "sold");

    let mut mismatches = Vec::new();
    for (call, who, expected, target) in &rows {
        let before = cast.footprint(target).await;
        let reply = cast.call(*call, *who, target).await;
        let got = (reply.status.as_u16(), reply.code().unwrap_or(""));
        let success = (200..300).contains(&expected.0);
        if got != *expected {
            let unexpected = if reply.status.is_success() && !success { " (UNEXPECTED SUCCESS)" } else { "" };
            mismatches.push(format!(
                "{call:?} as {who:?}: expected {} {}, got {} {}{unexpected}",
                expected.0, expected.1, got.0, got.1
            ));
        }
        if !success && !reply.status.is_success() {
            let after = cast.footprint(target).await;
            if before != after {
                mismatches.push(format!("{call:?} as {who:?}: refused, yet changed the lot ({before} → {after})"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} calls differ from the matrix:\n{}",
        mismatches.len(),
        rows.len(),
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn a_listings_lots_are_public_newest_first_with_their_live_state() {
    let app = TestApp::spawn().await;
    let (auction, owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (bidder, code) = app.ready_bidder(&auction, &organizer).await;
    let listing = app.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200)["listing_id"]
        .as_str()
        .unwrap()
        .to_owned();
    bid(&app, &auction, &bidder, 100_000).await.assert_status(201);

    // Anyone may look, signed in or not; the state is the engine's current one.
    for token in [None, Some(owner.token.as_str()), Some(bidder.token.as_str())] {
        let reply = app.get(&format!("/api/v1/listings/{listing}/auctions"), token).await;
        let items = reply.assert_status(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1, "{}", reply.body);
        assert_eq!(items[0]["id"], auction.as_str());
        assert_eq!(items[0]["state"]["leader_code"], code.as_str());
        assert_eq!(items[0]["state"]["current_price"]["amount"], 100_000);
        assert!(items[0]["state"].get("reserve_price").is_none(), "never the reserve: {}", reply.body);
        assert!(items[0]["server_time"].is_string());
    }
    // A listing nobody may see, and one that does not exist, answer 404.
    let draft = app.draft(&owner).await;
    app.get(&format!("/api/v1/listings/{draft}/auctions"), None).await.assert_error(404, "not_found");
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/listings/{unknown}/auctions"), None).await.assert_error(404, "not_found");
    // The owner sees its own draft's (empty) list.
    let reply = app.get(&format!("/api/v1/listings/{draft}/auctions"), Some(&owner.token)).await;
    assert_eq!(reply.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn a_bidder_reads_only_its_own_registration() {
    let app = TestApp::spawn().await;
    let (auction, owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (bidder, code) = app.ready_bidder(&auction, &organizer).await;
    let path = format!("/api/v1/auctions/{auction}/registrations/me");

    let mine = app.get(&path, Some(&bidder.token)).await;
    assert_eq!(mine.assert_status(200)["bidder_code"], code.as_str());
    assert_eq!(mine.body["deposit_status"], "held");
    assert_eq!(mine.body["deposit"]["amount"], 10_000);
    // Without a token: 401. Anyone else, the seller included, is simply not registered: 404,
    // never the bidder's registration.
    app.get(&path, None).await.assert_error(401, "authentication_required");
    let other = app.enterprise().await;
    for who in [&other, &owner, &organizer] {
        let reply = app.get(&path, Some(&who.token)).await;
        reply.assert_error(404, "not_found");
        assert!(!reply.body.to_string().contains(&code), "{}", reply.body);
    }
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/auctions/{unknown}/registrations/me"), Some(&bidder.token))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn organizers_see_who_is_behind_each_bidder_code_and_nobody_else_does() {
    let app = TestApp::spawn().await;
    let (auction, owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (ready, ready_code) = app.ready_bidder(&auction, &organizer).await;
    let waiting = app.enterprise().await;
    app.post(&format!("/api/v1/auctions/{auction}/registrations"), Some(&waiting.token), json!({}))
        .await
        .assert_status(201);
    let path = format!("/api/v1/auctions/{auction}/registrations");

    let admin = app.admin().await;
    for who in [&organizer, &admin] {
        let reply = app.get(&path, Some(&who.token)).await;
        let items = reply.assert_status(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2, "{}", reply.body);
        assert_eq!(items[0]["bidder_code"], ready_code.as_str());
        assert_eq!(items[0]["organization"]["id"], ready.organization_id.as_str());
        assert_eq!(items[0]["deposit_status"], "held");
        assert_eq!(items[1]["organization"]["id"], waiting.organization_id.as_str());
        assert_eq!(items[1]["deposit_status"], "unconfirmed");
        assert_eq!(items[1]["deposit"]["amount"], 10_000);
    }
    // The bidders themselves, the seller and a reviewer may not unmask the codes.
    for who in [&ready, &waiting, &owner, &app.reviewer().await] {
        app.get(&path, Some(&who.token)).await.assert_error(403, "forbidden_role");
    }
    app.get(&path, None).await.assert_error(401, "authentication_required");
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/auctions/{unknown}/registrations"), Some(&organizer.token))
        .await
        .assert_error(404, "not_found");
}

/// Makes every insert of a log entry whose command mentions `marker` fail inside the database,
/// after the append's transaction has begun (SQLite keeps that transaction open after such an
/// error; PostgreSQL aborts it).
async fn fail_appends_mentioning(app: &TestApp, marker: &str) {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(app.settings.database_url()).await.expect("a second connection");
    let statements = if app.backend == "sqlite" {
        vec![format!(
            "CREATE TRIGGER fail_marked BEFORE INSERT ON auction_log WHEN NEW.command LIKE '%{marker}%' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )]
    } else {
        vec![
            "CREATE FUNCTION refuse_marked() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ \
             LANGUAGE plpgsql"
                .to_owned(),
            format!(
                "CREATE TRIGGER fail_marked BEFORE INSERT ON auction_log FOR EACH ROW \
                 WHEN (NEW.command::text LIKE '%{marker}%') EXECUTE FUNCTION refuse_marked()"
            ),
        ]
    };
    for statement in statements {
        db.execute_unprepared(&statement).await.expect("install the trigger");
    }
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_bid_the_database_refuses_is_not_accepted_and_leaves_no_lock_behind() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;
    bid(&app, &auction, &alice, 100_000).await.assert_status(201);
    fail_appends_mentioning(&app, "130000").await;

    bid(&app, &auction, &bob, 130_000).await.assert_error(503, "auction_unavailable");
    // The failed append's transaction is gone: the next bids are written (a write lock left
    // behind would fail them after the 10-second busy timeout, and a transaction left open on
    // a pooled connection would fail the next append that connection runs).
    for amount in [120_000, 140_000, 160_000, 180_000] {
        let who = if amount % 40_000 == 0 { &alice } else { &bob };
        bid(&app, &auction, who, amount).await.assert_status(201);
    }
    let state = public_state(&app, &auction).await;
    assert_eq!(state["bid_count"], 5, "the refused bid is not counted");
    assert_eq!(state["current_price"]["amount"], 180_000);
    let log = app.state.store.auction_log(auction.parse().unwrap()).await.expect("the log");
    let refused = log.iter().filter(|e| serde_json::to_string(&e.command).unwrap().contains("130000")).count();
    assert_eq!(refused, 0, "the refused bid is not in the log");
}
