//! Competitive bidding over HTTP: the flows a bidder, a seller and an organizer go through.

use achex_core::Clock;
use achex_tests::TestApp;
use serde_json::json;

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
