//! The live channel: one websocket per client, multiplexing topics (`auction:<id>`, and `user`
//! for the signed-in user's own notifications).
//!
//! - On subscribe the client gets a snapshot with its `seq`, then every event in order; with
//!   `since` it first gets what it missed (or a fresh snapshot when that is too old).
//! - Each lot's events are encoded to JSON **once**, by a relay task in the [`Hub`], and the same
//!   bytes go to every watcher.
//! - Every connection has bounded queues: replies and notifications wait in a per-connection
//!   queue, and each watched lot's events are read by the connection's writer straight from the
//!   lot's relay (no task per watcher in between: with 1,000 watchers that hop doubled the time
//!   to reach the last of them). A watcher more than [`OUTBOX_CAPACITY`] events behind, or whose
//!   queue fills, is disconnected (close code 1008, reason `slow_consumer`) and resyncs with
//!   `since`; it never slows the lot or the other watchers.
//! - Every message carries `server_time`, so countdowns never trust the client's clock.
//! - Heartbeats find dead peers; frames over 64 KiB close the connection; a browser `Origin` must
//!   be this server's own.

use crate::auth::TokenService;
use crate::error::ApiError;
use crate::routes::auctions::{BidRequest, engine_error, place_bid};
use crate::state::AppState;
use achex_bidding_engine::Event;
use achex_bidding_engine::engine::Engine;
use achex_core::{AuctionId, Clock, UserId};
use achex_store::User;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt;
use futures_util::stream::{AbortHandle, SelectAll};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, broadcast, mpsc};

pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Messages queued for one client before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 1_024;
const HEARTBEAT: Duration = Duration::from_secs(10);
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single frame may take to hand to the socket before the peer counts as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bids one connection may have in flight at once.
const BIDS_IN_FLIGHT: usize = 16;
/// Topics one connection may watch.
const MAX_TOPICS: usize = 64;

/// An event of one lot, encoded once for every watcher.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub seq: u64,
    pub text: Arc<str>,
}

/// Per-lot relays from the engine to the websockets, and each connected user's channel.
#[derive(Debug, Default)]
pub struct Hub {
    relays: Mutex<HashMap<AuctionId, broadcast::Sender<Encoded>>>,
    users: std::sync::Mutex<HashMap<UserId, broadcast::Sender<Arc<str>>>>,
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
                        let text: Arc<str> = event_message(auction, &event, clock.now()).into();
                        if sender.send(Encoded { seq: event.seq, text }).is_err() {
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
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::bad_request("not_a_websocket", e.to_string()))?;
    let stream = stream.max_frame_size(MAX_FRAME_BYTES);
    actix_web::rt::spawn(run(state.into_inner(), session, stream, header_user));
    Ok(response)
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

/// Why the writer closed the connection.
enum Shutdown {
    Slow,
    Normal,
}

async fn run(
    state: Arc<AppState>,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    mut user: Option<User>,
) {
    let (out, mut outbox) = mpsc::channel::<Arc<str>>(OUTBOX_CAPACITY);
    let (slow_tx, mut slow_rx) = mpsc::channel::<()>(1);
    // Each watched lot's events, read by this loop itself: no task per watcher and lot between
    // the lot's relay and the socket.
    let mut lots: SelectAll<LotStream> = SelectAll::new();
    let mut topics: HashMap<AuctionId, AbortHandle> = HashMap::new();
    let mut user_topic: Option<tokio::task::JoinHandle<()>> = None;
    let bids = Arc::new(Semaphore::new(BIDS_IN_FLIGHT));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut last_heard = tokio::time::Instant::now();

    let shutdown = loop {
        tokio::select! {
            biased;
            _ = slow_rx.recv() => break Shutdown::Slow,
            // Before the lots: a subscription's snapshot is queued here before its lot's events
            // can arrive, and must be sent first.
            Some(text) = outbox.recv() => {
                if let Err(shutdown) = write(&mut session, &text, &mut slow_rx).await { break shutdown; }
            }
            Some(item) = lots.next(), if !lots.is_empty() => match item {
                LotItem::Event(text) => if let Err(shutdown) = write(&mut session, &text, &mut slow_rx).await { break shutdown; },
                // A gap or a lag: this watcher cannot be brought up to date in order any more.
                LotItem::Gap => break Shutdown::Slow,
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > PEER_TIMEOUT || session.ping(b"").await.is_err() { break Shutdown::Normal; }
            }
            message = stream.recv() => {
                last_heard = tokio::time::Instant::now();
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(bytes))) => { let _ = session.pong(&bytes).await; continue; }
                    Some(Ok(Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(reason))) => { let _ = session.close(reason).await; return_cleanup(&mut topics); return; }
                    Some(Ok(Message::Binary(_))) => {
                        let _ = out.try_send(error_message(&state, "unsupported_frame", "send JSON text frames", json!({})).into());
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    // Oversized frames and protocol errors end the connection.
                    Some(Err(_)) | None => break Shutdown::Normal,
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
                        if let Some(handle) = parse_topic(&topic).and_then(|id| topics.remove(&id)) { handle.abort(); }
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
                        Some(_) if topics.len() >= MAX_TOPICS => Some(error_message(&state, "too_many_topics", "unsubscribe from something first", json!({}))),
                        Some(auction) => match subscribe(&state, auction, since, out.clone(), slow_tx.clone()).await {
                            Ok(events) => {
                                let (events, handle) = futures_util::stream::abortable(events);
                                lots.push(events);
                                if let Some(old) = topics.insert(auction, handle) { old.abort(); }
                                None
                            }
                            Err(e) => Some(api_error_message(&state, &e, json!({ "topic": topic }))),
                        },
                    },
                    Ok(ClientMessage::PlaceBid { auction, amount, max_amount, idempotency_key }) => match &user {
                        None => Some(error_message(&state, "authentication_required", "send {\"type\":\"auth\"} first", json!({ "idempotency_key": idempotency_key }))),
                        Some(bidder) => {
                            let Ok(permit) = bids.clone().try_acquire_owned() else {
                                let _ = out.try_send(error_message(&state, "too_many_bids_in_flight", "wait for earlier bids to be answered", json!({ "idempotency_key": idempotency_key })).into());
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
                                if out.try_send(text.into()).is_err() { let _ = slow.try_send(()); }
                                drop(permit);
                            });
                            None
                        }
                    },
                };
                if let Some(reply) = reply
                    && out.try_send(reply.into()).is_err()
                {
                    break Shutdown::Slow;
                }
            }
        }
    };
    return_cleanup(&mut topics);
    if let Some(handle) = user_topic.take() {
        handle.abort();
    }
    let reason = match shutdown {
        Shutdown::Slow => Some(CloseReason { code: CloseCode::Policy, description: Some("slow_consumer".into()) }),
        Shutdown::Normal => None,
    };
    let _ = session.close(reason).await;
}

/// Sends one frame. A peer that stops reading fills the socket buffer and the write waits; it
/// must not wait forever, or the slow-consumer signal could never be acted on.
async fn write(session: &mut actix_ws::Session, text: &str, slow: &mut mpsc::Receiver<()>) -> Result<(), Shutdown> {
    tokio::select! {
        sent = session.text(text.to_owned()) => sent.map_err(|_| Shutdown::Normal),
        _ = slow.recv() => Err(Shutdown::Slow),
        _ = tokio::time::sleep(WRITE_TIMEOUT) => Err(Shutdown::Slow),
    }
}

fn return_cleanup(topics: &mut HashMap<AuctionId, AbortHandle>) {
    for (_, handle) in topics.drain() {
        handle.abort();
    }
}

/// The signed-in user's own notifications.
const USER_TOPIC: &str = "user";

/// Forwards the user's notifications to this connection until it closes.
fn forward_user(
    state: &Arc<AppState>,
    user: UserId,
    out: mpsc::Sender<Arc<str>>,
    slow: mpsc::Sender<()>,
) -> tokio::task::JoinHandle<()> {
    let mut receiver = state.hub.subscribe_user(user);
    actix_web::rt::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(text) => {
                    if out.try_send(text).is_err() {
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
    Event(Arc<str>),
    /// The watcher missed events or is more than [`OUTBOX_CAPACITY`] events behind the lot: it
    /// is disconnected and resyncs with `since`.
    Gap,
}

/// One lot's events for one connection, in order.
type LotEvents = std::pin::Pin<Box<dyn futures_util::Stream<Item = LotItem> + Send>>;
/// [`LotEvents`] that end when the connection unsubscribes.
type LotStream = futures_util::stream::Abortable<LotEvents>;

/// Queues the snapshot (and missed events) on `out`, and returns the lot's later events in order,
/// starting right after the snapshot's `seq`.
async fn subscribe(
    state: &Arc<AppState>,
    auction: AuctionId,
    since: Option<u64>,
    out: mpsc::Sender<Arc<str>>,
    slow: mpsc::Sender<()>,
) -> Result<LotEvents, ApiError> {
    let receiver = state.hub.subscribe(&state.engine, state.clock.clone(), auction).await?;
    let subscription = state.engine.subscribe(auction, since).await.map_err(engine_error)?;
    let now = state.clock.now();
    let topic = format!("auction:{auction}");
    let mut queue: Vec<Arc<str>> = Vec::new();
    match subscription.missed {
        Some(missed) => {
            queue.push(json!({ "type": "subscribed", "topic": topic, "seq": subscription.seq, "since": since, "server_time": now }).to_string().into());
            for event in missed {
                queue.push(event_message(auction, &event, now).into());
            }
        }
        None => queue.push(
            json!({ "type": "snapshot", "topic": topic, "seq": subscription.seq, "state": subscription.state, "server_time": now })
                .to_string()
                .into(),
        ),
    }
    for text in queue {
        if out.try_send(text).is_err() {
            let _ = slow.try_send(());
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
                        return Some((LotItem::Event(encoded.text), (receiver, last, false)));
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
