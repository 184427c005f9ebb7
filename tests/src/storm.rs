//! Load drivers shared by the storm tests and the bidding benchmark: many bidders on one lot over
//! HTTP and the websocket, and many watchers that must see every event in order.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// One bidder of a storm: its access token and whether it bids over the websocket.
#[derive(Debug, Clone)]
pub struct StormBidder {
    pub token: String,
    pub over_websocket: bool,
}

/// What the storm's clients were told.
#[derive(Debug, Default)]
pub struct StormReport {
    /// Idempotency key → the `seq` the server acknowledged for it.
    pub acknowledged: BTreeMap<String, u64>,
    pub rejected: usize,
    /// Requests that got no answer (connection refused or reset) even after retries.
    pub unanswered: usize,
}

fn cny(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "CNY" })
}

/// The websocket URL of a server at `http://…`.
pub fn ws_url(address: &str) -> String {
    format!("{}/api/v1/ws", address.replacen("http://", "ws://", 1))
}

/// Small read buffers: thousands of connections in one process otherwise cost ~68 KB each.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// The current minimum bid, read from the public state.
async fn next_minimum(client: &reqwest::Client, address: &str, auction: &str) -> Option<i64> {
    let state: Value =
        client.get(format!("{address}/api/v1/auctions/{auction}")).send().await.ok()?.json().await.ok()?;
    state["state"]["next_minimum_bid"]["amount"].as_i64()
}

/// Each bidder places `bids_each` bids at the next minimum plus a small random number of
/// increments, over HTTP or its websocket. A request that gets no answer (the server is down)
/// is retried with the **same** idempotency key until `deadline`, as a real client would.
pub async fn run_storm(
    address: Arc<tokio::sync::RwLock<String>>,
    auction: &str,
    bidders: Vec<StormBidder>,
    bids_each: usize,
    increment: i64,
    deadline: Duration,
) -> StormReport {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
    let mut tasks = Vec::new();
    for (b, bidder) in bidders.into_iter().enumerate() {
        let (client, address, auction) = (client.clone(), address.clone(), auction.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut report = StormReport::default();
            let started = tokio::time::Instant::now();
            let mut seed = (b as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut minimum = None;
            let mut socket = None;
            for i in 0..bids_each {
                let key = format!("storm-{b}-{i}");
                loop {
                    if started.elapsed() > deadline {
                        report.unanswered += 1;
                        break;
                    }
                    let base = address.read().await.clone();
                    let floor = match minimum {
                        Some(m) => m,
                        None => match next_minimum(&client, &base, &auction).await {
                            Some(m) => m,
                            None => continue, // the server is restarting
                        },
                    };
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let amount = floor + increment * (seed % 3) as i64;
                    let answer = if bidder.over_websocket {
                        ws_bid(&mut socket, &base, &bidder.token, &auction, amount, &key).await
                    } else {
                        http_bid(&client, &base, &bidder.token, &auction, amount, &key).await
                    };
                    match answer {
                        Some(Ok((seq, next))) => {
                            report.acknowledged.insert(key, seq);
                            minimum = next;
                            break;
                        }
                        Some(Err(())) => {
                            report.rejected += 1;
                            minimum = None;
                            break;
                        }
                        None => {
                            socket = None;
                            minimum = None;
                            tokio::time::sleep(Duration::from_millis(20)).await; // back off while the server is down
                        }
                    }
                }
            }
            report
        }));
    }
    let mut total = StormReport::default();
    for task in tasks {
        let report = task.await.expect("a storm client panicked");
        total.acknowledged.extend(report.acknowledged);
        total.rejected += report.rejected;
        total.unanswered += report.unanswered;
    }
    total
}

/// `Some(Ok((seq, next_minimum)))` accepted, `Some(Err(()))` refused by the rules, `None` no answer.
async fn http_bid(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    auction: &str,
    amount: i64,
    key: &str,
) -> Option<Result<(u64, Option<i64>), ()>> {
    let response = client
        .post(format!("{address}/api/v1/auctions/{auction}/bids"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({ "amount": cny(amount) }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let status = response.status();
    let body: Value = response.json().await.ok()?;
    match status {
        StatusCode::CREATED => {
            body["seq"].as_u64().map(|seq| Ok((seq, body["state"]["next_minimum_bid"]["amount"].as_i64())))
        }
        s if s.is_server_error() => None,
        _ => Some(Err(())),
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_bid(
    socket: &mut Option<Socket>,
    address: &str,
    token: &str,
    auction: &str,
    amount: i64,
    key: &str,
) -> Option<Result<(u64, Option<i64>), ()>> {
    if socket.is_none() {
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(ws_url(address), Some(ws_config()), false).await.ok()?;
        ws.send(Message::text(json!({ "type": "auth", "token": token }).to_string())).await.ok()?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.ok()??.ok()?;
            // Heartbeat pings and other control frames are not answers.
            let Ok(text) = frame.to_text() else { continue };
            let Ok(reply) = serde_json::from_str::<Value>(text) else { continue };
            match reply["type"].as_str() {
                Some("authenticated") => break,
                Some("error") => return None,
                _ => continue,
            }
        }
        *socket = Some(ws);
    }
    let ws = socket.as_mut()?;
    let message = json!({ "type": "place_bid", "auction": auction, "amount": cny(amount), "idempotency_key": key });
    ws.send(Message::text(message.to_string())).await.ok()?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.ok()??.ok()?;
        let Ok(text) = frame.to_text() else { continue };
        let reply: Value = serde_json::from_str(text).ok()?;
        if reply["idempotency_key"] != key {
            continue;
        }
        return match (reply["type"].as_str(), reply["ok"].as_bool()) {
            (_, Some(true)) => {
                reply["seq"].as_u64().map(|seq| Ok((seq, reply["state"]["next_minimum_bid"]["amount"].as_i64())))
            }
            (_, _) if reply["code"] == "auction_unavailable" => None,
            _ => Some(Err(())),
        };
    }
}

/// A watcher: subscribes, collects every `seq` it is sent, and on a disconnect reconnects with
/// `since` = the last seq it saw. Stops once it has seen `until` or when told to.
pub async fn watch(
    address: Arc<tokio::sync::RwLock<String>>,
    auction: String,
    until: tokio::sync::watch::Receiver<Option<u64>>,
) -> (Vec<u64>, usize) {
    let mut seen: Vec<u64> = Vec::new();
    let mut reconnects = 0;
    let topic = format!("auction:{auction}");
    loop {
        if let Some(last) = *until.borrow()
            && seen.last().copied().unwrap_or(0) >= last
        {
            return (seen, reconnects);
        }
        let base = address.read().await.clone();
        let Ok((mut ws, _)) =
            tokio_tungstenite::connect_async_with_config(ws_url(&base), Some(ws_config()), false).await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let since = seen.last().copied();
        let subscribe = json!({ "type": "subscribe", "topic": topic, "since": since });
        if ws.send(Message::text(subscribe.to_string())).await.is_err() {
            continue;
        }
        loop {
            let target = *until.borrow();
            if let Some(last) = target
                && seen.last().copied().unwrap_or(0) >= last
            {
                return (seen, reconnects);
            }
            let frame = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Err(_) => continue, // nothing new yet; re-check the target
                Ok(Some(Ok(frame))) => frame,
                Ok(_) => break,
            };
            let Ok(text) = frame.to_text() else { continue };
            let Ok(message) = serde_json::from_str::<Value>(text) else { continue };
            match message["type"].as_str() {
                // A fresh snapshot: everything up to its seq is known without having been sent.
                Some("snapshot") => {
                    let seq = message["seq"].as_u64().unwrap_or(0);
                    let from = seen.last().copied().unwrap_or(0);
                    seen.extend(from + 1..=seq);
                }
                Some("subscribed") | Some("pong") => {}
                _ => {
                    if let Some(seq) = message["seq"].as_u64() {
                        seen.push(seq);
                    }
                }
            }
        }
        reconnects += 1;
    }
}

/// Whether `seqs` is exactly 1, 2, …, n.
pub fn is_gapless(seqs: &[u64]) -> bool {
    seqs.iter().enumerate().all(|(i, s)| *s == i as u64 + 1)
}

/// Checks a stored lot against what a storm's clients were told: every acknowledged bid is in the
/// log exactly once with the answer it was given, no bid event is recorded twice, and the log's
/// chain and replay are intact. Returns the replayed public state for comparison with the server.
#[track_caller]
pub fn assert_log_keeps_every_acknowledgement(
    stored: &achex_bidding_engine::engine::StoredLot,
    acknowledged: &BTreeMap<String, u64>,
) -> achex_bidding_engine::PublicState {
    use achex_bidding_engine::EventKind;
    use achex_bidding_engine::engine::{Answer, audit};
    use std::collections::{HashMap, HashSet};
    let bid_seqs: Vec<u64> = stored
        .entries
        .iter()
        .flat_map(|e| e.events.iter())
        .filter(|e| matches!(e.kind, EventKind::BidAccepted { .. }))
        .map(|e| e.seq)
        .collect();
    let unique: HashSet<u64> = bid_seqs.iter().copied().collect();
    assert_eq!(unique.len(), bid_seqs.len(), "a bid event appears twice in the log");
    let records: HashMap<&str, &Value> = stored.idempotency.iter().map(|r| (r.key.as_str(), &r.response)).collect();
    for (key, seq) in acknowledged {
        assert!(unique.contains(seq), "acknowledged bid {key} (seq {seq}) is missing from the log");
        let record = records.get(key.as_str()).unwrap_or_else(|| panic!("no idempotency record for {key}"));
        match serde_json::from_value::<Answer>((*record).clone()).expect("stored answer") {
            Answer::Accepted(accepted) => {
                assert!(accepted.events.iter().any(|e| e.seq == *seq), "{key}: the stored answer differs")
            }
            Answer::Rejected(rejection) => {
                panic!("{key} was acknowledged but is stored as rejected ({})", rejection.code())
            }
        }
    }
    let acknowledged_seqs: HashSet<u64> = acknowledged.values().copied().collect();
    assert_eq!(acknowledged_seqs.len(), acknowledged.len(), "two acknowledgements share a seq");
    let report = audit(stored.record.config.clone(), &stored.entries);
    assert!(report.findings.is_empty(), "audit findings: {:?}", report.findings);
    report.final_state.expect("a valid config replays")
}
