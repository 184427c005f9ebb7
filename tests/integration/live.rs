//! The live channel (`GET /api/v1/ws`): snapshots, ordered events, resync with `since`, bids over
//! the socket, the origin check, limits and slow consumers.
//!
//! Nothing here sleeps to wait for the server: every expected message is awaited with a timeout,
//! and a timeout is a failure.

use achex_tests::{Actor, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any one expected message may take.
const WAIT: Duration = Duration::from_secs(10);

fn cny(amount: i64) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

fn ws_url(app: &TestApp) -> String {
    format!("{}/api/v1/ws", app.address.replacen("http://", "ws://", 1))
}

/// A small read buffer: some tests open many connections.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

async fn connect(app: &TestApp) -> Ws {
    let handshake = tokio_tungstenite::connect_async_with_config(ws_url(app), Some(ws_config()), false);
    let (ws, _) = tokio::time::timeout(WAIT, handshake).await.expect("the handshake within 10 s").expect("handshake");
    ws
}

/// A connection whose TCP path buffers as little as the kernel allows: a 4 KiB receive buffer and
/// a small maximum segment size, which also keeps the server's autotuned send buffer small. What a
/// watcher that stops reading then has queued for it is the server's own queue.
async fn connect_small(app: &TestApp) -> Ws {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .expect("a socket");
    socket.set_tcp_mss(536).expect("TCP_MAXSEG");
    socket.set_recv_buffer_size(4 * 1024).expect("SO_RCVBUF");
    socket.set_nonblocking(true).expect("non-blocking");
    let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
    let address = app.address.trim_start_matches("http://").parse().expect("a socket address");
    let stream = socket.connect(address).await.expect("connect");
    let handshake =
        tokio_tungstenite::client_async_with_config(ws_url(app), MaybeTlsStream::Plain(stream), Some(ws_config()));
    let (ws, _) = tokio::time::timeout(WAIT, handshake).await.expect("the handshake within 10 s").expect("handshake");
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string())).await.expect("send a message");
}

/// The next JSON message, skipping control frames. A close, an error or a timeout fails the test.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let item = tokio::time::timeout(WAIT, ws.next()).await.expect("a message within 10 s");
        match item {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("messages are JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

fn seq(message: &Value) -> u64 {
    message["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {message}"))
}

fn topic(auction: &str) -> String {
    format!("auction:{auction}")
}

#[track_caller]
fn assert_server_time(message: &Value) {
    let text = message["server_time"].as_str().unwrap_or_else(|| panic!("no server_time in {message}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("server_time {text:?}: {e}"));
}

/// Subscribes and returns the snapshot (checked for its shape).
async fn subscribe(ws: &mut Ws, auction: &str) -> Value {
    send(ws, json!({"type": "subscribe", "topic": topic(auction)})).await;
    let snapshot = next_json(ws).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["topic"], topic(auction), "{snapshot}");
    assert_server_time(&snapshot);
    seq(&snapshot);
    snapshot
}

/// A connected, subscribed watcher and the snapshot's seq.
async fn watcher(app: &TestApp, auction: &str) -> (Ws, u64) {
    let mut ws = connect(app).await;
    let snapshot = subscribe(&mut ws, auction).await;
    (ws, seq(&snapshot))
}

/// Reads events until `last`, returning their seqs in arrival order.
async fn read_until(ws: &mut Ws, last: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.last().is_none_or(|s| *s < last) {
        let message = next_json(ws).await;
        assert_server_time(&message);
        seen.push(seq(&message));
    }
    seen
}

/// Sends a ping and expects the pong as the very next message: nothing else was queued.
async fn nothing_else_queued(ws: &mut Ws) {
    send(ws, json!({"type": "ping"})).await;
    let reply = next_json(ws).await;
    assert_eq!(reply["type"], "pong", "an unexpected message was queued: {reply}");
}

async fn bid(app: &TestApp, auction: &str, who: &Actor, body: Value) -> Value {
    let reply = app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&who.token), body).await;
    reply.assert_status(201).clone()
}

async fn public_state(app: &TestApp, auction: &str) -> Value {
    app.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200)["state"].clone()
}

#[tokio::test]
async fn a_subscriber_gets_a_snapshot_then_every_event_in_order_with_consecutive_seqs() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (bob, bob_code) = app.ready_bidder(&auction, &organizer).await;

    let mut ws = connect(&app).await;
    let snapshot = subscribe(&mut ws, &auction).await;
    let state = public_state(&app, &auction).await;
    assert_eq!(snapshot["seq"], state["seq"], "the snapshot is the lot as it is: {snapshot}");
    assert_eq!(snapshot["state"]["registered_bidders"], 2, "{snapshot}");
    let mut last = seq(&snapshot);

    let bids = [
        (&alice, json!({"amount": cny(100_000)}), &alice_code, 100_000),
        (&bob, json!({"amount": cny(110_000)}), &bob_code, 110_000),
        (&alice, json!({"amount": cny(130_000), "max_amount": cny(150_000)}), &alice_code, 130_000),
        // Alice's proxy answers Bob at once: one event, Alice still leads at her maximum.
        (&bob, json!({"amount": cny(140_000)}), &alice_code, 150_000),
    ];
    for (who, body, leader, price) in bids {
        let accepted = bid(&app, &auction, who, body).await;
        let event = next_json(&mut ws).await;
        assert_eq!(event["type"], "bid_accepted", "{event}");
        assert_eq!(event["topic"], topic(&auction), "{event}");
        assert_eq!(seq(&event), last + 1, "events arrive with consecutive seqs: {event}");
        assert_eq!(event["seq"], accepted["seq"], "the event is the bid the HTTP answer acknowledged");
        assert_server_time(&event);
        assert_eq!(event["event"]["leader"], leader.as_str(), "{event}");
        assert_eq!(event["event"]["current_price"], cny(price), "{event}");
        assert!(!event.to_string().contains("150000") || price == 150_000, "no maximum is published: {event}");
        last = seq(&event);
    }

    // The clock closes the lot: `closed` comes next, then the deposits are settled.
    app.clock.advance(chrono::Duration::hours(2));
    app.tick().await;
    let closed = next_json(&mut ws).await;
    assert_eq!((closed["type"].as_str(), seq(&closed)), (Some("closed"), last + 1), "{closed}");
    assert_eq!(closed["event"]["outcome"]["result"], "sold", "{closed}");
    let final_seq = public_state(&app, &auction).await["seq"].as_u64().unwrap();
    let rest = read_until(&mut ws, final_seq).await;
    assert_eq!(rest, (last + 2..=final_seq).collect::<Vec<_>>(), "deposit events follow in order");
    nothing_else_queued(&mut ws).await;
}

#[tokio::test]
async fn a_resubscription_with_since_gets_exactly_the_missed_events_then_live_ones() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;
    let raise = |who: &Actor, amount: i64| {
        let (app, auction, who) = (&app, auction.clone(), who.clone());
        async move { seq(&bid(app, &auction, &who, json!({"amount": cny(amount)})).await) }
    };

    let (mut first, start) = watcher(&app, &auction).await;
    let seen = [raise(&alice, 100_000).await, raise(&bob, 110_000).await];
    assert_eq!(read_until(&mut first, seen[1]).await, [start + 1, start + 2]);
    first.close(None).await.expect("close the first connection");
    drop(first);

    // Missed while disconnected.
    let missed = [raise(&alice, 120_000).await, raise(&bob, 130_000).await, raise(&alice, 140_000).await];
    assert_eq!(missed, [start + 3, start + 4, start + 5]);

    let mut again = connect(&app).await;
    send(&mut again, json!({"type": "subscribe", "topic": topic(&auction), "since": start + 2})).await;
    let subscribed = next_json(&mut again).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(seq(&subscribed), start + 5, "{subscribed}");
    assert_server_time(&subscribed);
    let replayed = [next_json(&mut again).await, next_json(&mut again).await, next_json(&mut again).await];
    let replayed_seqs: Vec<u64> = replayed.iter().map(seq).collect();
    assert_eq!(replayed_seqs, missed, "exactly the missed events, in order: {replayed:?}");
    assert!(replayed.iter().all(|e| e["type"] == "bid_accepted"), "{replayed:?}");

    let live = raise(&bob, 150_000).await;
    let event = next_json(&mut again).await;
    assert_eq!(seq(&event), live, "then live events, with no gap and no duplicate: {event}");
    assert_eq!(live, start + 6);
    nothing_else_queued(&mut again).await;
}

#[tokio::test]
async fn a_bid_over_the_socket_is_acknowledged_with_its_seq_and_its_key_makes_a_retry_harmless() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;

    let mut ws = connect(&app).await;
    send(&mut ws, json!({"type": "auth", "token": alice.token})).await;
    let authenticated = next_json(&mut ws).await;
    assert_eq!(authenticated["type"], "authenticated", "{authenticated}");
    assert_eq!(authenticated["user"], alice.user_id.as_str(), "{authenticated}");

    let place = json!({"type": "place_bid", "auction": auction, "amount": cny(100_000), "idempotency_key": "ws-bid-1"});
    send(&mut ws, place.clone()).await;
    let result = next_json(&mut ws).await;
    assert_eq!((&result["type"], &result["ok"]), (&json!("bid_result"), &json!(true)), "{result}");
    assert_eq!(result["idempotency_key"], "ws-bid-1", "{result}");
    assert_eq!(result["auction"], auction.as_str(), "{result}");
    assert_eq!(result["state"]["current_price"], cny(100_000), "{result}");
    assert_server_time(&result);
    let first_seq = seq(&result);

    send(&mut ws, place).await;
    let retry = next_json(&mut ws).await;
    assert_eq!((&retry["type"], &retry["ok"]), (&json!("bid_result"), &json!(true)), "{retry}");
    assert_eq!(seq(&retry), first_seq, "the retry returns the stored result: {retry}");
    let state = public_state(&app, &auction).await;
    assert_eq!((&state["bid_count"], &state["seq"]), (&json!(1), &json!(first_seq)), "one bid only: {state}");

    // The key is the bid's, whichever way the retry travels.
    let over_http = app
        .client
        .post(app.url(&format!("/api/v1/auctions/{auction}/bids")))
        .bearer_auth(&alice.token)
        .header("Idempotency-Key", "ws-bid-1")
        .json(&json!({"amount": cny(100_000)}))
        .send()
        .await
        .unwrap();
    let over_http = TestApp::reply(over_http).await;
    assert_eq!(over_http.assert_status(201)["seq"], json!(first_seq));

    send(
        &mut ws,
        json!({"type": "place_bid", "auction": auction, "amount": cny(115_000), "idempotency_key": "ws-bid-2"}),
    )
    .await;
    let refused = next_json(&mut ws).await;
    assert_eq!((&refused["type"], &refused["ok"]), (&json!("bid_result"), &json!(false)), "{refused}");
    assert_eq!(refused["code"], "not_a_multiple_of_increment", "{refused}");
    assert_eq!(refused["idempotency_key"], "ws-bid-2", "{refused}");
    assert_eq!(public_state(&app, &auction).await["bid_count"], 1);
}

#[tokio::test]
async fn a_bid_over_the_socket_without_authentication_is_refused_and_the_connection_stays() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let mut ws = connect(&app).await;
    let place = json!({"type": "place_bid", "auction": auction, "amount": cny(100_000), "idempotency_key": "anon-1"});
    send(&mut ws, place.clone()).await;
    let refused = next_json(&mut ws).await;
    assert_eq!((&refused["type"], &refused["code"]), (&json!("error"), &json!("authentication_required")), "{refused}");
    assert_eq!(refused["idempotency_key"], "anon-1", "{refused}");

    send(&mut ws, json!({"type": "auth", "token": "not-a-token"})).await;
    let bad_token = next_json(&mut ws).await;
    assert_eq!(bad_token["type"], "error", "{bad_token}");
    send(&mut ws, place).await;
    let still = next_json(&mut ws).await;
    assert_eq!(still["code"], "authentication_required", "a bad token authenticates nobody: {still}");
    assert_eq!(public_state(&app, &auction).await["bid_count"], 0);
    nothing_else_queued(&mut ws).await;
}

#[tokio::test]
async fn a_browser_from_another_site_is_refused_at_the_handshake_and_the_same_origin_is_let_in() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    for origin in ["https://evil.example".to_owned(), format!("http://127.0.0.1:{port}.evil.example")] {
        let mut request = ws_url(&app).into_client_request().unwrap();
        request.headers_mut().insert("Origin", origin.parse().unwrap());
        let attempt =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async_with_config(request, Some(ws_config()), false))
                .await
                .expect("an answer within 10 s");
        match attempt {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "Origin {origin}");
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .unwrap_or_else(|_| panic!("Origin {origin}: a JSON error body"));
                assert_eq!(body["error"]["code"], "origin_not_allowed", "Origin {origin}: {body}");
            }
            Err(other) => panic!("Origin {origin}: expected HTTP 403, got {other:?}"),
            Ok((_, response)) => panic!("Origin {origin} was let in: {}", response.status()),
        }
    }

    let mut request = ws_url(&app).into_client_request().unwrap();
    request.headers_mut().insert("Origin", app.address.parse().unwrap());
    let (mut ws, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async_with_config(request, Some(ws_config()), false))
            .await
            .expect("an answer within 10 s")
            .expect("the server's own origin is let in");
    assert_eq!(response.status().as_u16(), 101);
    subscribe(&mut ws, &auction).await;
}

#[tokio::test]
async fn a_text_frame_over_64_kib_closes_the_connection() {
    let app = TestApp::spawn().await;
    let mut ws = connect(&app).await;
    // Just under the limit: an ordinary message, answered.
    send(&mut ws, json!({"type": "subscribe", "topic": "x".repeat(60 * 1024)})).await;
    assert_eq!(next_json(&mut ws).await["code"], "unknown_topic");

    send(&mut ws, json!({"type": "subscribe", "topic": "x".repeat(70 * 1024)})).await;
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the server reacts within 10 s") {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(other)) => panic!("the oversized frame was answered instead of closing: {other:?}"),
        }
    }
    // Whatever the client saw, the server no longer talks on this connection.
    let after = ws.send(Message::text(json!({"type": "ping"}).to_string())).await;
    if after.is_ok() {
        let reply = tokio::time::timeout(WAIT, ws.next()).await.expect("the server reacts within 10 s");
        if let Some(Ok(Message::Text(text))) = reply {
            panic!("the connection is still answering: {text}");
        }
    }
}

#[tokio::test]
async fn an_invalid_message_gets_invalid_message_and_the_connection_stays_usable() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let mut ws = connect(&app).await;
    for garbage in ["{not json", "[1,2,3]", r#"{"type":"teleport"}"#, r#"{"type":"subscribe"}"#] {
        ws.send(Message::text(garbage)).await.unwrap();
        let reply = next_json(&mut ws).await;
        assert_eq!(
            (&reply["type"], &reply["code"]),
            (&json!("error"), &json!("invalid_message")),
            "{garbage}: {reply}"
        );
        assert_server_time(&reply);
    }
    nothing_else_queued(&mut ws).await;
    subscribe(&mut ws, &auction).await;
}

#[tokio::test]
async fn subscribing_to_an_unknown_topic_is_an_error_and_the_connection_stays_usable() {
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let mut ws = connect(&app).await;
    for unknown in ["weather:dalian", "auction:not-an-id", "auction:"] {
        send(&mut ws, json!({"type": "subscribe", "topic": unknown})).await;
        let reply = next_json(&mut ws).await;
        assert_eq!((&reply["type"], &reply["code"]), (&json!("error"), &json!("unknown_topic")), "{unknown}: {reply}");
        assert_eq!(reply["topic"], unknown, "{reply}");
    }
    let missing = topic(&uuid::Uuid::now_v7().to_string());
    send(&mut ws, json!({"type": "subscribe", "topic": missing})).await;
    let reply = next_json(&mut ws).await;
    assert_eq!((&reply["type"], &reply["code"]), (&json!("error"), &json!("not_found")), "{reply}");
    assert_eq!(reply["topic"], missing.as_str(), "{reply}");
    subscribe(&mut ws, &auction).await;
}

#[tokio::test]
async fn fifty_watchers_all_see_the_same_gapless_sequence_of_thirty_bids() {
    const WATCHERS: usize = 50;
    const BIDS: u64 = 30;
    let app = TestApp::spawn().await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;

    let watchers = futures_util::future::join_all((0..WATCHERS).map(|_| watcher(&app, &auction))).await;
    let start = watchers[0].1;
    assert!(watchers.iter().all(|(_, s)| *s == start), "every snapshot is at the same seq");
    let readers: Vec<_> = watchers
        .into_iter()
        .map(|(mut ws, _)| tokio::spawn(async move { read_until(&mut ws, start + BIDS).await }))
        .collect();

    // Alternating bidders, each bid one step up: exactly one event per bid.
    for k in 0..BIDS {
        let who = if k % 2 == 0 { &alice } else { &bob };
        let amount = 100_000 + 10_000 * i64::try_from(k).unwrap();
        let accepted = bid(&app, &auction, who, json!({"amount": cny(amount)})).await;
        assert_eq!(seq(&accepted), start + k + 1);
    }
    let expected: Vec<u64> = (start + 1..=start + BIDS).collect();
    let mut problems = Vec::new();
    for (index, reader) in readers.into_iter().enumerate() {
        let seen = reader.await.expect("the watcher's task");
        if seen != expected {
            problems.push(format!("watcher {index} saw {seen:?}"));
        }
    }
    assert!(problems.is_empty(), "expected {expected:?}:\n{}", problems.join("\n"));
}

#[tokio::test]
async fn a_watcher_that_never_reads_is_dropped_as_a_slow_consumer_while_another_gets_everything() {
    /// Enough to overflow the kernel buffers and the 1,024-message queue of one connection.
    const EVENTS: u64 = 3_000;
    const BIDDERS: usize = 12;
    // The slow watcher answers no pings while it is not reading, so on a loaded machine the
    // heartbeat's peer timeout (its own test is below) could close it first; here it must not.
    let app = TestApp::spawn_with(|settings| settings.live.peer_timeout_secs = 3_600).await;
    let (auction, _) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let mut bidders = Vec::new();
    for _ in 0..BIDDERS {
        bidders.push(app.ready_bidder(&auction, &organizer).await.0);
    }

    // The slow watcher's own TCP buffers are kept small, so what piles up is the server's queue.
    let mut slow = connect_small(&app).await;
    let start = seq(&subscribe(&mut slow, &auction).await);
    let (mut fast, fast_start) = watcher(&app, &auction).await;
    assert_eq!(start, fast_start);
    let (target_tx, mut target_rx) = tokio::sync::watch::channel(u64::MAX);
    let fast_reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let target = *target_rx.borrow_and_update();
            if seen.last().is_some_and(|s| *s >= target) {
                return seen;
            }
            tokio::select! {
                _ = target_rx.changed() => continue,
                message = tokio::time::timeout(WAIT, fast.next()) => match message.expect("an event within 10 s") {
                    Some(Ok(Message::Text(text))) => {
                        let event: Value = serde_json::from_str(&text).expect("JSON");
                        seen.push(seq(&event));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("the fast watcher lost its connection: {other:?}"),
                },
            }
        }
    });

    // Several bidders raise concurrently; bids overtaken on the way are refused and not counted.
    let app = Arc::new(app);
    let produced = Arc::new(AtomicU64::new(0));
    let step = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = bidders
        .into_iter()
        .map(|bidder| {
            let (app, auction, produced, step) = (app.clone(), auction.clone(), produced.clone(), step.clone());
            tokio::spawn(async move {
                while produced.load(Ordering::SeqCst) < EVENTS {
                    let k = i64::try_from(step.fetch_add(1, Ordering::SeqCst)).unwrap();
                    let body = json!({"amount": cny(100_000 + 10_000 * k)});
                    let reply = app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&bidder.token), body).await;
                    match reply.status.as_u16() {
                        201 => {
                            let events = reply.body["events"].as_array().map_or(0, Vec::len);
                            produced.fetch_add(u64::try_from(events).unwrap(), Ordering::SeqCst);
                        }
                        409 | 422 => {}
                        other => panic!("unexpected answer to a bid: {other} {:?}", reply.body),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a bidder's task");
    }
    let last = public_state(&app, &auction).await["seq"].as_u64().unwrap();
    assert!(last - start >= EVENTS, "{} events produced", last - start);
    target_tx.send(last).expect("the fast watcher is still reading");
    let seen = fast_reader.await.expect("the fast watcher's task");
    assert!(seen == (start + 1..=last).collect::<Vec<_>>(), "the fast watcher missed or reordered events");

    // The slow watcher now reads what was buffered for it, then the close.
    let mut received = Vec::new();
    let close = loop {
        match tokio::time::timeout(WAIT, slow.next()).await {
            Err(_) => panic!("the slow watcher got {} events, then nothing: it was never disconnected", received.len()),
            Ok(Some(Ok(Message::Text(text)))) => {
                let event: Value = serde_json::from_str(&text).expect("JSON");
                received.push(seq(&event));
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            other => panic!(
                "the slow watcher's connection ended without a close frame after {} events of {}: {other:?}",
                received.len(),
                last - start
            ),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Policy, "slow_consumer"));
    assert!(
        received.len() < usize::try_from(last - start).unwrap(),
        "the slow watcher was closed only after getting everything"
    );
    assert_eq!(received, (start + 1..start + 1 + received.len() as u64).collect::<Vec<_>>(), "a gapless prefix");
}

/// Opens a websocket by hand and returns the raw connection after the 101: a peer that reads the
/// server's frames but never answers them, which no websocket library will play.
async fn silent_peer(app: &TestApp) -> TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connect");
    let request = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send the handshake");
    // Byte by byte up to the blank line, so no frame after the head is swallowed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte =
            tokio::time::timeout(WAIT, stream.read_u8()).await.expect("the handshake within 10 s").expect("read");
        head.push(byte);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// Reads one unmasked server frame: (opcode, payload). Server frames here are all short.
async fn raw_frame(stream: &mut TcpStream, within: Duration) -> (u8, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.expect("a frame header");
        assert_eq!(header[1] & 0x80, 0, "servers do not mask");
        let length = usize::from(header[1] & 0x7f);
        assert!(length < 126, "a short frame");
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.expect("a frame's payload");
        (header[0] & 0x0f, payload)
    };
    tokio::time::timeout(within, read).await.expect("a frame in time")
}

/// A server that pings every second and gives up on a peer silent for two.
async fn fast_heartbeat_app() -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.live.heartbeat_secs = 1;
        settings.live.peer_timeout_secs = 2;
    })
    .await
}

#[tokio::test]
async fn a_peer_that_answers_no_pings_is_closed_as_timed_out() {
    let app = fast_heartbeat_app().await;
    // Counted from before the handshake: the server's silence clock starts after this.
    let connecting = std::time::Instant::now();
    let mut peer = silent_peer(&app).await;
    let mut pings = 0;
    let close = loop {
        // Pings come every second and the close within three: ten seconds is never normal.
        match raw_frame(&mut peer, WAIT).await {
            (0x9, _) => pings += 1,
            (0x8, payload) => break payload,
            (opcode, payload) => panic!("unexpected frame {opcode:#x} {payload:?}"),
        }
    };
    assert!(pings >= 1, "the silent peer was pinged before it was given up");
    assert!(connecting.elapsed() >= Duration::from_secs(2), "closed before the peer timeout");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1008, "policy violation");
    assert_eq!(&close[2..], b"peer_timeout");
}

#[tokio::test]
async fn a_client_that_answers_pings_outlives_the_peer_timeout() {
    let app = fast_heartbeat_app().await;
    let mut ws = connect(&app).await;
    // The client library answers each ping with a pong as it reads it. Four pings span twice the
    // peer timeout.
    let mut pings = 0;
    while pings < 4 {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a ping within 10 s") {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("the connection should only be pinged: {other:?}"),
        }
    }
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong", "the connection is still open");
}
