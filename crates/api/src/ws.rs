//! The live channel: one websocket per client, multiplexing topics (`auction:<id>`, and `user`
//! for the signed-in user's own notifications).
//!
//! - On subscribe the client gets a snapshot with its `seq`, then every event in order; with
//!   `since` it first gets what it missed (or a fresh snapshot when that is too old).
//! - Each lot's events are encoded **once**, JSON and websocket frame, by a relay task in the
//!   [`Hub`], and the same bytes go to every watcher.
//! - Every connection has bounded queues: replies and notifications wait in a per-connection
//!   queue, and each watched lot's events are read by the connection's response body straight
//!   from the lot's relay (see [`wire`]: no task per watcher in between; with 1,000 watchers each
//!   such hop added about a third to the time to reach the last of them). A watcher more than
//!   [`OUTBOX_CAPACITY`] events behind, or whose queue fills, is disconnected (close code 1008,
//!   reason `slow_consumer`) and resyncs with `since`; it never slows the lot or the other
//!   watchers.
//! - Every message carries `server_time`, so countdowns never trust the client's clock.
//! - Heartbeats find dead peers (closed with 1008 `peer_timeout`, see [`Heartbeat`]); frames
//!   over 64 KiB close the connection; a browser `Origin` must be this server's own.
//! - A server stop ([`Hub::stop`]) closes every connection with 1001 `server_stopping`; clients
//!   reconnect and resync with `since`.

use crate::auth::TokenService;
use crate::error::ApiError;
use crate::routes::auctions::{BidRequest, engine_error, place_bid};
use crate::state::AppState;
use achex_bidding_engine::Event;
use achex_bidding_engine::engine::Engine;
use achex_core::{AuctionId, Clock, UserId};
use achex_store::User;
use actix_web::body::{BodyStream, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, broadcast, mpsc, oneshot};
use wire::{
    Incoming, LotEvents, Outgoing, Reader, SocketBody, peer_timeout_reason, ping_frame, pong_frame, server_stopping,
    slow_consumer, text_frame,
};

mod wire;

pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Messages queued for one client before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 1_024;
/// Bids one connection may have in flight at once.
const BIDS_IN_FLIGHT: usize = 16;
/// Topics one connection may watch.
const MAX_TOPICS: usize = 64;

/// An event of one lot, encoded once (as a websocket text frame) for every watcher.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub seq: u64,
    pub frame: Bytes,
}

/// How the server finds dead peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// A ping goes to every connection this often.
    pub interval: Duration,
    /// A connection the server has heard nothing from (not even a pong) for this long is closed
    /// with 1008 `peer_timeout`. A client that stops reading stops answering pings too, so this
    /// is also the longest a stalled reader keeps its connection.
    pub peer_timeout: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { interval: Duration::from_secs(10), peer_timeout: Duration::from_secs(30) }
    }
}

/// Per-lot relays from the engine to the websockets, and each connected user's channel.
#[derive(Debug, Default)]
pub struct Hub {
    relays: Mutex<HashMap<AuctionId, broadcast::Sender<Encoded>>>,
    users: std::sync::Mutex<HashMap<UserId, broadcast::Sender<Arc<str>>>>,
    /// Set when the server is stopping: every connection closes with 1001 (going away).
    stopping: tokio::sync::watch::Sender<bool>,
    heartbeat: Heartbeat,
}

/// Messages a user channel may hold for a slow connection before it is dropped (it resyncs from
/// the inbox).
const USER_CHANNEL_CAPACITY: usize = 256;

fn event_message(auction: AuctionId, event: &Event, now: chrono::DateTime<chrono::Utc>) -> String {
    json!({
        "type": event.kind.name(),
        "topic": format!("auction:{auction}"),
        "seq": event.seq,
        "event": event,
        "server_time": now,
    })
    .to_string()
}

impl Hub {
    pub fn new(heartbeat: Heartbeat) -> Hub {
        Hub { heartbeat, ..Hub::default() }
    }

    /// Closes every live connection with 1001 `server_stopping`, and every later one at once, so a
    /// graceful stop does not wait out its timeout for sockets that never end by themselves.
    /// Clients reconnect (to another process, or to this one restarted) and resync with `since`.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Sends `text` to every connection of `user` that subscribed to `user`. Returns how many
    /// connections it reached (none is normal: the inbox keeps everything).
    pub fn publish_to_user(&self, user: UserId, text: Arc<str>) -> usize {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        match users.get(&user) {
            Some(sender) => match sender.send(text) {
                Ok(n) => n,
                Err(_) => {
                    users.remove(&user);
                    0
                }
            },
            None => 0,
        }
    }

    fn subscribe_user(&self, user: UserId) -> broadcast::Receiver<Arc<str>> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        match users.get(&user) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(USER_CHANNEL_CAPACITY);
                users.insert(user, sender);
                receiver
            }
        }
    }

    /// A receiver of the lot's encoded events. The relay is subscribed to the engine before this
    /// returns, so any snapshot taken afterwards is followed by every later event.
    pub async fn subscribe(
        &self,
        engine: &Arc<Engine>,
        clock: Arc<dyn Clock>,
        auction: AuctionId,
    ) -> Result<broadcast::Receiver<Encoded>, ApiError> {
        let mut relays = self.relays.lock().await;
        if let Some(sender) = relays.get(&auction)
            && sender.receiver_count() > 0
        {
            return Ok(sender.subscribe());
        }
        let upstream = engine.subscribe(auction, None).await.map_err(engine_error)?;
        let (sender, receiver) = broadcast::channel(OUTBOX_CAPACITY * 4);
        relays.insert(auction, sender.clone());
        let mut upstream = upstream.receiver;
        actix_web::rt::spawn(async move {
            loop {
                match upstream.recv().await {
                    Ok(event) => {
                        let frame = text_frame(&event_message(auction, &event, clock.now()));
                        if sender.send(Encoded { seq: event.seq, frame }).is_err() {
                            break; // nobody watches any more; the next subscriber starts a new relay
                        }
                    }
                    // The relay itself fell behind: its watchers will see a gap and resync.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(receiver)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Auth {
        token: String,
    },
    Subscribe {
        topic: String,
        #[serde(default)]
        since: Option<u64>,
    },
    Unsubscribe {
        topic: String,
    },
    PlaceBid {
        auction: AuctionId,
        amount: achex_core::Money,
        #[serde(default)]
        max_amount: Option<achex_core::Money>,
        #[serde(default)]
        idempotency_key: Option<String>,
    },
    Ping,
}

fn origin_allowed(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else { return true };
    let Some(host) = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let origin = origin.to_str().unwrap_or("");
    let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    authority == host
}

/// `GET /api/v1/ws`: upgrade to the live channel.
#[utoipa::path(get, path = "/api/v1/ws", tag = "auctions",
    responses((status = 101, description = "switching to the websocket protocol"), (status = 403, description = "origin_not_allowed")))]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !origin_allowed(&req) {
        return Err(ApiError::forbidden("origin_not_allowed", "connect from this site only"));
    }
    let header_user = match req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(value) => {
            let token = value.strip_prefix("Bearer ").unwrap_or("").trim().to_owned();
            Some(authenticate(&state, &token).await?)
        }
        None => None,
    };
    let mut handshake =
        actix_http::ws::handshake(req.head()).map_err(|e| ApiError::bad_request("not_a_websocket", e.to_string()))?;
    let (out, control) = mpsc::channel(OUTBOX_CAPACITY);
    let (slow, slow_rx) = mpsc::channel(1);
    let (gone_tx, gone) = oneshot::channel();
    let writer = SocketBody::new(control, slow_rx, gone_tx);
    let response = handshake
        .message_body(BodyStream::new(writer).boxed())
        .map_err(|e| ApiError::bad_request("not_a_websocket", e.to_string()))?;
    let socket = Socket { out, slow, gone };
    actix_web::rt::spawn(run(state.into_inner(), socket, Reader::new(body, MAX_FRAME_BYTES), header_user));
    Ok(response.into())
}

async fn authenticate(state: &AppState, token: &str) -> Result<User, ApiError> {
    let claims = TokenService::verify_access(&state.tokens, token, state.clock.now())?;
    let id =
        claims.sub.parse().map_err(|_| ApiError::unauthenticated("invalid_token", "the access token is not valid"))?;
    let user = state
        .store
        .user(id)
        .await
        .map_err(|_| ApiError::unauthenticated("invalid_token", "the access token is not valid"))?;
    if !user.is_active() {
        return Err(ApiError::unauthenticated("account_disabled", "this account is disabled"));
    }
    Ok(user)
}

fn error_message(state: &AppState, code: &str, message: &str, extra: serde_json::Value) -> String {
    let mut body = json!({ "type": "error", "code": code, "message": message, "server_time": state.clock.now() });
    if let (Some(map), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        map.extend(extra);
    }
    body.to_string()
}

fn api_error_message(state: &AppState, error: &ApiError, extra: serde_json::Value) -> String {
    let (_, code, message, _) = error.parts();
    error_message(state, code, &message, extra)
}

/// The connection task's ends of its response body.
struct Socket {
    out: mpsc::Sender<Outgoing>,
    /// Closes the connection as `slow_consumer` at once, whatever is queued.
    slow: mpsc::Sender<()>,
    /// Resolves when the response body is gone: the connection closed.
    gone: oneshot::Receiver<()>,
}

/// Queues `text` for the client; a client whose queue is full is too slow and is closed.
fn send_text(out: &mpsc::Sender<Outgoing>, slow: &mpsc::Sender<()>, text: &str) {
    if out.try_send(Outgoing::Frame(text_frame(text))).is_err() {
        let _ = slow.try_send(());
    }
}

/// Reads and answers the client's messages until the connection ends. What the client is sent
/// goes through its response body ([`SocketBody`]), which also writes the watched lots' events.
async fn run(state: Arc<AppState>, socket: Socket, mut reader: Reader, mut user: Option<User>) {
    let Socket { out, slow: slow_tx, mut gone } = socket;
    let mut stopping = state.hub.stopping.subscribe();
    let mut topics: HashSet<AuctionId> = HashSet::new();
    let mut user_topic: Option<tokio::task::JoinHandle<()>> = None;
    let bids = Arc::new(Semaphore::new(BIDS_IN_FLIGHT));
    let Heartbeat { interval, peer_timeout } = state.hub.heartbeat;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_heard = tokio::time::Instant::now();

    // `None`: the connection is already gone; `Some(reason)`: close it with this reason.
    let close: Option<Option<actix_http::ws::CloseReason>> = loop {
        tokio::select! {
            _ = &mut gone => break None,
            _ = stopping.wait_for(|stopping| *stopping) => break Some(Some(server_stopping())),
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > peer_timeout { break Some(Some(peer_timeout_reason())); }
                if out.try_send(Outgoing::Frame(ping_frame())).is_err() { break Some(Some(slow_consumer())); }
            }
            frame = reader.next() => {
                last_heard = tokio::time::Instant::now();
                let text = match frame {
                    Some(Ok(Incoming::Text(text))) => text,
                    Some(Ok(Incoming::Ping(payload))) => {
                        if out.try_send(Outgoing::Frame(pong_frame(&payload))).is_err() { break Some(Some(slow_consumer())); }
                        continue;
                    }
                    Some(Ok(Incoming::Pong)) => continue,
                    Some(Ok(Incoming::Close(reason))) => break Some(reason),
                    Some(Ok(Incoming::Unsupported)) => {
                        send_text(&out, &slow_tx, &error_message(&state, "unsupported_frame", "send JSON text frames", json!({})));
                        continue;
                    }
                    // Oversized frames and protocol errors end the connection.
                    Some(Err(_)) | None => break Some(None),
                };
                let parsed: Result<ClientMessage, _> = serde_json::from_str(&text);
                let reply = match parsed {
                    Err(e) => Some(error_message(&state, "invalid_message", &e.to_string(), json!({}))),
                    Ok(ClientMessage::Ping) => Some(json!({ "type": "pong", "server_time": state.clock.now() }).to_string()),
                    Ok(ClientMessage::Auth { token }) => match authenticate(&state, &token).await {
                        Ok(authenticated) => {
                            let reply = json!({ "type": "authenticated", "user": authenticated.id, "server_time": state.clock.now() });
                            user = Some(authenticated);
                            Some(reply.to_string())
                        }
                        Err(e) => Some(api_error_message(&state, &e, json!({}))),
                    },
                    Ok(ClientMessage::Unsubscribe { topic }) => {
                        if topic == USER_TOPIC && let Some(handle) = user_topic.take() { handle.abort(); }
                        if let Some(auction) = parse_topic(&topic).filter(|id| topics.remove(id)) {
                            let _ = out.try_send(Outgoing::Unwatch(auction));
                        }
                        Some(json!({ "type": "unsubscribed", "topic": topic, "server_time": state.clock.now() }).to_string())
                    }
                    Ok(ClientMessage::Subscribe { topic, .. }) if topic == USER_TOPIC => match &user {
                        None => Some(error_message(&state, "authentication_required", "send {\"type\":\"auth\"} first", json!({ "topic": topic }))),
                        Some(me) => {
                            if let Some(old) = user_topic.take() { old.abort(); }
                            user_topic = Some(forward_user(&state, me.id, out.clone(), slow_tx.clone()));
                            let unread = state.store.unread_count(me.id).await.unwrap_or(0);
                            Some(json!({ "type": "subscribed", "topic": USER_TOPIC, "unread": unread, "server_time": state.clock.now() }).to_string())
                        }
                    },
                    Ok(ClientMessage::Subscribe { topic, since }) => match parse_topic(&topic) {
                        None => Some(error_message(&state, "unknown_topic", "topics are auction:<id> and user", json!({ "topic": topic }))),
                        Some(auction) if topics.len() >= MAX_TOPICS && !topics.contains(&auction) => {
                            Some(error_message(&state, "too_many_topics", "unsubscribe from something first", json!({})))
                        }
                        Some(auction) => match subscribe(&state, auction, since, &out, &slow_tx).await {
                            Ok(events) => {
                                // After the snapshot in the same queue: the body writes it first.
                                if out.try_send(Outgoing::Watch(auction, events)).is_err() { let _ = slow_tx.try_send(()); }
                                topics.insert(auction);
                                None
                            }
                            Err(e) => Some(api_error_message(&state, &e, json!({ "topic": topic }))),
                        },
                    },
                    Ok(ClientMessage::PlaceBid { auction, amount, max_amount, idempotency_key }) => match &user {
                        None => Some(error_message(&state, "authentication_required", "send {\"type\":\"auth\"} first", json!({ "idempotency_key": idempotency_key }))),
                        Some(bidder) => {
                            let Ok(permit) = bids.clone().try_acquire_owned() else {
                                send_text(&out, &slow_tx, &error_message(&state, "too_many_bids_in_flight", "wait for earlier bids to be answered", json!({ "idempotency_key": idempotency_key })));
                                continue;
                            };
                            let (state, bidder, out, slow) = (state.clone(), bidder.clone(), out.clone(), slow_tx.clone());
                            actix_web::rt::spawn(async move {
                                let result = place_bid(&state, &bidder, auction, BidRequest { amount, max_amount }, idempotency_key.clone()).await;
                                let text = match result {
                                    Ok(accepted) => json!({ "type": "bid_result", "ok": true, "auction": auction, "idempotency_key": idempotency_key,
                                        "seq": accepted.seq, "state": accepted.state, "server_time": accepted.server_time }).to_string(),
                                    Err(e) => api_error_message(&state, &e, json!({ "type": "bid_result", "ok": false, "auction": auction, "idempotency_key": idempotency_key })),
                                };
                                send_text(&out, &slow, &text);
                                drop(permit);
                            });
                            None
                        }
                    },
                };
                if let Some(reply) = reply
                    && out.try_send(Outgoing::Frame(text_frame(&reply))).is_err()
                {
                    break Some(Some(slow_consumer()));
                }
            }
        }
    };
    if let Some(handle) = user_topic.take() {
        handle.abort();
    }
    // The body writes the close frame and ends the response. A full queue means a slow client:
    // it is closed as such. (A peer that stopped reading altogether keeps its TCP connection until
    // the kernel gives up on it; nothing is queued for it meanwhile beyond the bounded queues.)
    if let Some(reason) = close
        && out.try_send(Outgoing::Close(reason)).is_err()
    {
        let _ = slow_tx.try_send(());
    }
}

/// The signed-in user's own notifications.
const USER_TOPIC: &str = "user";

/// Forwards the user's notifications to this connection until it closes.
fn forward_user(
    state: &Arc<AppState>,
    user: UserId,
    out: mpsc::Sender<Outgoing>,
    slow: mpsc::Sender<()>,
) -> tokio::task::JoinHandle<()> {
    let mut receiver = state.hub.subscribe_user(user);
    actix_web::rt::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(text) => {
                    if out.try_send(Outgoing::Frame(text_frame(&text))).is_err() {
                        let _ = slow.try_send(());
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = slow.try_send(());
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

fn parse_topic(topic: &str) -> Option<AuctionId> {
    topic.strip_prefix("auction:")?.parse().ok()
}

/// What a connection's writer gets from one watched lot.
enum LotItem {
    /// The event's encoded frame, shared by every watcher.
    Event(Bytes),
    /// The watcher missed events or is more than [`OUTBOX_CAPACITY`] events behind the lot: it
    /// is disconnected and resyncs with `since`.
    Gap,
}

/// Queues the snapshot (and missed events) on `out`, and returns the lot's later events in order,
/// starting right after the snapshot's `seq`.
async fn subscribe(
    state: &Arc<AppState>,
    auction: AuctionId,
    since: Option<u64>,
    out: &mpsc::Sender<Outgoing>,
    slow: &mpsc::Sender<()>,
) -> Result<LotEvents, ApiError> {
    let receiver = state.hub.subscribe(&state.engine, state.clock.clone(), auction).await?;
    let subscription = state.engine.subscribe(auction, since).await.map_err(engine_error)?;
    let now = state.clock.now();
    let topic = format!("auction:{auction}");
    match subscription.missed {
        Some(missed) => {
            let subscribed = json!({ "type": "subscribed", "topic": topic, "seq": subscription.seq, "since": since, "server_time": now });
            send_text(out, slow, &subscribed.to_string());
            for event in missed {
                send_text(out, slow, &event_message(auction, &event, now));
            }
        }
        None => {
            let snapshot = json!({ "type": "snapshot", "topic": topic, "seq": subscription.seq, "state": subscription.state, "server_time": now });
            send_text(out, slow, &snapshot.to_string());
        }
    }
    // (receiver, last seq sent, whether a gap ended the stream)
    let events = futures_util::stream::unfold(
        (receiver, subscription.seq, false),
        |(mut receiver, mut last, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match receiver.recv().await {
                    Ok(encoded) if encoded.seq <= last => continue, // already in the snapshot
                    // More than a queue's worth of events behind the lot: too slow to keep.
                    Ok(_) if receiver.len() >= OUTBOX_CAPACITY => return Some((LotItem::Gap, (receiver, last, true))),
                    Ok(encoded) if encoded.seq == last + 1 => {
                        last = encoded.seq;
                        return Some((LotItem::Event(encoded.frame), (receiver, last, false)));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((LotItem::Gap, (receiver, last, true)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Box::pin(events))
}
