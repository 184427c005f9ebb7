//! The websocket's two directions on top of actix-http's frame parser: the response body that
//! writes to the client, and the reader of what the client sends.
//!
//! Why not a session handle that forwards frames to the body (what `actix-ws` does): the body is
//! polled by the connection's own HTTP task, so a frame forwarded through a channel costs a second
//! task wake-up and a copy per watcher and event. Here the body itself reads the watched lots'
//! relays, and each event's frame is encoded once, by the relay, for all its watchers: one wake-up
//! per watcher and no copy before the socket write, as in a bare broadcast server.

use super::LotItem;
use achex_core::AuctionId;
use actix_http::ws::{CloseReason, OpCode, Parser, ProtocolError};
use actix_web::web::{Bytes, BytesMut};
use futures_util::stream::{AbortHandle, Abortable, SelectAll};
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// One lot's events for one connection, in order.
pub(super) type LotEvents = Pin<Box<dyn Stream<Item = LotItem> + Send>>;

/// What the connection's task hands to its response body, in order.
pub(super) enum Outgoing {
    /// An encoded frame (a reply, a snapshot, a notification, a ping).
    Frame(Bytes),
    /// Start writing this lot's events (after whatever was queued before).
    Watch(AuctionId, LotEvents),
    /// Stop writing this lot's events.
    Unwatch(AuctionId),
    /// Send a close frame and end the connection.
    Close(Option<CloseReason>),
}

/// A server-to-client text frame (servers do not mask).
pub(super) fn text_frame(text: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(text.len() + 10);
    Parser::write_message(&mut buf, text, OpCode::Text, true, false);
    buf.freeze()
}

pub(super) fn ping_frame() -> Bytes {
    let mut buf = BytesMut::with_capacity(2);
    Parser::write_message(&mut buf, b"", OpCode::Ping, true, false);
    buf.freeze()
}

pub(super) fn pong_frame(payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + 2);
    Parser::write_message(&mut buf, payload, OpCode::Pong, true, false);
    buf.freeze()
}

fn close_frame(reason: Option<CloseReason>) -> Bytes {
    let mut buf = BytesMut::new();
    Parser::write_close(&mut buf, reason, false);
    buf.freeze()
}

/// The response body of one websocket: the connection task's frames first, then the watched lots'
/// events as they come.
pub(super) struct SocketBody {
    control: mpsc::Receiver<Outgoing>,
    /// Fired by anything that finds this client too slow (its queue full, say): close at once.
    slow: mpsc::Receiver<()>,
    lots: SelectAll<Abortable<LotEvents>>,
    watching: HashMap<AuctionId, AbortHandle>,
    /// The close frame has been written: the body ends.
    done: bool,
    /// Dropped with the body, which tells the connection task that the connection is gone.
    _gone: oneshot::Sender<()>,
}

impl SocketBody {
    pub(super) fn new(control: mpsc::Receiver<Outgoing>, slow: mpsc::Receiver<()>, gone: oneshot::Sender<()>) -> Self {
        SocketBody { control, slow, lots: SelectAll::new(), watching: HashMap::new(), done: false, _gone: gone }
    }

    /// The close frame, after which the body ends (and with it the lots' streams).
    fn close(&mut self, reason: Option<CloseReason>) -> Poll<Option<Result<Bytes, std::convert::Infallible>>> {
        self.done = true;
        Poll::Ready(Some(Ok(close_frame(reason))))
    }
}

pub(super) fn slow_consumer() -> CloseReason {
    CloseReason { code: actix_http::ws::CloseCode::Policy, description: Some("slow_consumer".into()) }
}

pub(super) fn peer_timeout_reason() -> CloseReason {
    CloseReason { code: actix_http::ws::CloseCode::Policy, description: Some("peer_timeout".into()) }
}

pub(super) fn server_stopping() -> CloseReason {
    CloseReason { code: actix_http::ws::CloseCode::Away, description: Some("server_stopping".into()) }
}

impl Stream for SocketBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // (`Ready(None)` only means the connection task has ended; its close is in `control`.)
        if let Poll::Ready(Some(())) = this.slow.poll_recv(cx) {
            return this.close(Some(slow_consumer()));
        }
        // The connection task's frames go first: a subscription's snapshot is queued before its
        // lot is watched, and must be written before the lot's events.
        loop {
            match this.control.poll_recv(cx) {
                Poll::Ready(Some(Outgoing::Frame(frame))) => return Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Outgoing::Watch(auction, events))) => {
                    let (events, handle) = futures_util::stream::abortable(events);
                    this.lots.push(events);
                    if let Some(old) = this.watching.insert(auction, handle) {
                        old.abort();
                    }
                }
                Poll::Ready(Some(Outgoing::Unwatch(auction))) => {
                    if let Some(handle) = this.watching.remove(&auction) {
                        handle.abort();
                    }
                }
                Poll::Ready(Some(Outgoing::Close(reason))) => return this.close(reason),
                // The connection task ended without saying how.
                Poll::Ready(None) => return this.close(None),
                Poll::Pending => break,
            }
        }
        if !this.lots.is_empty() {
            match this.lots.poll_next_unpin(cx) {
                Poll::Ready(Some(LotItem::Event(frame))) => return Poll::Ready(Some(Ok(frame))),
                // A gap or a lag: this watcher cannot be brought up to date in order any more.
                Poll::Ready(Some(LotItem::Gap)) => return this.close(Some(slow_consumer())),
                Poll::Ready(None) | Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}

/// A frame from the client.
pub(super) enum Incoming {
    Text(String),
    /// Binary frames and fragmented messages, which this protocol does not use.
    Unsupported,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// Reads the client's frames from the request payload.
pub(super) struct Reader {
    payload: actix_web::web::Payload,
    buf: BytesMut,
    max_frame: usize,
}

impl Reader {
    pub(super) fn new(payload: actix_web::web::Payload, max_frame: usize) -> Reader {
        Reader { payload, buf: BytesMut::new(), max_frame }
    }

    /// The next frame; `None` when the connection ended, `Err` on a protocol error (including a
    /// frame over the size limit), after which the connection is closed.
    pub(super) async fn next(&mut self) -> Option<Result<Incoming, ProtocolError>> {
        loop {
            match Parser::parse(&mut self.buf, true, self.max_frame) {
                Err(e) => return Some(Err(e)),
                Ok(Some((fin, opcode, payload))) => {
                    let payload = payload.map(BytesMut::freeze).unwrap_or_default();
                    return Some(Ok(match opcode {
                        OpCode::Text if fin => match String::from_utf8(payload.to_vec()) {
                            Ok(text) => Incoming::Text(text),
                            Err(_) => return Some(Err(ProtocolError::Io(std::io::ErrorKind::InvalidData.into()))),
                        },
                        OpCode::Ping => Incoming::Ping(payload),
                        OpCode::Pong => Incoming::Pong,
                        OpCode::Close => match Parser::try_parse_close_payload(&payload) {
                            Ok(reason) => Incoming::Close(reason),
                            Err(e) => return Some(Err(e)),
                        },
                        OpCode::Bad => return Some(Err(ProtocolError::BadOpCode)),
                        OpCode::Text | OpCode::Binary | OpCode::Continue => Incoming::Unsupported,
                    }));
                }
                Ok(None) => match self.payload.next().await {
                    Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                    Some(Err(_)) | None => return None,
                },
            }
        }
    }
}
