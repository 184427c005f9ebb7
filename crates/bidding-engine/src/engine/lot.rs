//! The owner task of one lot and its handle.

use super::log::{AuctionLog, Award, Batch, IdempotencyRecord, LogEntry, LogError, LotSummary, StoredLot, rebuild};
use super::{Accepted, Answer, EngineConfig, EngineError, Request, Subscription};
use crate::machine::{Auction, Bidder, Event, Outcome, PublicState, Status};
use achex_core::{AuctionId, Clock, ListingId, UserId};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

pub(super) enum Msg {
    Command { request: Request, reply: oneshot::Sender<Result<Answer, EngineError>> },
    State { reply: oneshot::Sender<PublicState> },
    Bidder { user: UserId, reply: oneshot::Sender<Option<Bidder>> },
    Bidders { reply: oneshot::Sender<Vec<Bidder>> },
    Subscribe { since: Option<u64>, reply: oneshot::Sender<Subscription> },
}

#[derive(Clone)]
pub(super) struct LotHandle {
    tx: mpsc::Sender<Msg>,
}

impl LotHandle {
    pub(super) async fn send(&self, msg: Msg) -> Result<(), EngineError> {
        self.tx.send(msg).await.map_err(|_| EngineError::Unavailable("the lot's owner stopped".into()))
    }

    pub(super) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How often a batch is retried after losing a race to another writer before giving up.
const MAX_CONFLICT_RETRIES: usize = 5;

struct Lot {
    auction_id: AuctionId,
    listing: ListingId,
    auction: Auction,
    /// The status the last append of this process stored (`None` until it made one).
    stored_status: Option<Status>,
    last_index: u64,
    last_hash: String,
    idempotency: HashMap<String, (String, Answer)>,
    /// The latest events, for watchers that reconnect with `since`.
    recent: VecDeque<Arc<Event>>,
    events: broadcast::Sender<Arc<Event>>,
    log: Arc<dyn AuctionLog>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    stats: Arc<super::EngineStats>,
}

/// A request applied in memory, waiting for its batch to become durable.
struct Pending {
    request: Request,
    reply: oneshot::Sender<Result<Answer, EngineError>>,
    /// `Err` when the request reused an idempotency key with another fingerprint.
    answer: Option<Result<Answer, EngineError>>,
}

pub(super) fn spawn(
    stored: StoredLot,
    log: Arc<dyn AuctionLog>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    stats: Arc<super::EngineStats>,
) -> Result<LotHandle, EngineError> {
    let (tx, rx) = mpsc::channel(config.queue);
    let (events, _) = broadcast::channel(config.broadcast_capacity);
    let mut lot = Lot {
        auction_id: stored.record.auction,
        listing: stored.record.listing,
        stored_status: None,
        auction: rebuild(&stored).map_err(|e| EngineError::Unavailable(format!("cannot rebuild the lot: {e}")))?,
        last_index: 0,
        last_hash: super::GENESIS_HASH.to_owned(),
        idempotency: HashMap::new(),
        recent: VecDeque::new(),
        events,
        log,
        clock,
        config,
        stats,
    };
    lot.adopt(&stored);
    tokio::spawn(lot.run(rx));
    Ok(LotHandle { tx })
}

impl Lot {
    /// Takes the position, idempotency records and recent events of a stored lot.
    fn adopt(&mut self, stored: &StoredLot) {
        if let Some(last) = stored.entries.last() {
            self.last_index = last.index;
            self.last_hash = last.hash.clone();
        }
        self.idempotency = stored
            .idempotency
            .iter()
            .filter_map(|r| {
                let answer: Answer = serde_json::from_value(r.response.clone()).ok()?;
                Some((r.key.clone(), (r.fingerprint.clone(), answer)))
            })
            .collect();
        self.recent.clear();
        let window = self.config.replay_window;
        for event in stored.entries.iter().flat_map(|e| e.events.iter()) {
            if self.recent.len() == window {
                self.recent.pop_front();
            }
            self.recent.push_back(Arc::new(event.clone()));
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut pending: Vec<Pending> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Command { request, reply } => pending.push(Pending { request, reply, answer: None }),
                    other => {
                        // Reads must see every command that arrived before them, durable.
                        self.flush(&mut pending).await;
                        self.answer(other);
                    }
                }
                if pending.len() < self.config.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            self.flush(&mut pending).await;
        }
    }

    fn answer(&mut self, msg: Msg) {
        let now = self.clock.now();
        match msg {
            Msg::State { reply } => {
                let _ = reply.send(self.auction.public_view_at(now));
            }
            Msg::Bidder { user, reply } => {
                let _ = reply.send(self.auction.bidder_by_user(user).cloned());
            }
            Msg::Bidders { reply } => {
                let _ = reply.send(self.auction.bidders().to_vec());
            }
            Msg::Subscribe { since, reply } => {
                let seq = self.auction.seq();
                let missed = since.and_then(|since| {
                    if since >= seq {
                        return Some(Vec::new());
                    }
                    let oldest = self.recent.front()?.seq;
                    (since + 1 >= oldest).then(|| self.recent.iter().filter(|e| e.seq > since).cloned().collect())
                });
                let _ = reply.send(Subscription {
                    state: self.auction.public_view_at(now),
                    seq,
                    missed,
                    receiver: self.events.subscribe(),
                });
            }
            Msg::Command { .. } => unreachable!("commands are batched, not answered directly"),
        }
    }

    /// Applies every pending request in order; returns the log entries and idempotency records the
    /// accepted ones produce. Answers are kept on the requests until the batch is durable.
    fn apply_all(&mut self, pending: &mut [Pending]) -> (Vec<LogEntry>, Vec<IdempotencyRecord>) {
        let mut entries = Vec::new();
        let mut records = Vec::new();
        let mut index = self.last_index;
        let mut hash = self.last_hash.clone();
        let mut seen_in_batch: HashMap<String, (String, Answer)> = HashMap::new();
        for item in pending.iter_mut() {
            let key = item.request.idempotency.clone();
            if let Some(idem) = &key {
                let known = self.idempotency.get(&idem.key).or_else(|| seen_in_batch.get(&idem.key));
                if let Some((fingerprint, answer)) = known {
                    item.answer = Some(if *fingerprint == idem.fingerprint {
                        Ok(answer.clone())
                    } else {
                        Err(EngineError::IdempotencyMismatch)
                    });
                    continue;
                }
            }
            let now = self.clock.now();
            let answer = match self.auction.apply_in_place(item.request.command.clone(), now) {
                Ok(events) => {
                    if !events.is_empty() {
                        index += 1;
                        let at = events.first().map_or(now, |e| e.at);
                        let entry = LogEntry::new(index, at, item.request.command.clone(), events.clone(), &hash);
                        hash = entry.hash.clone();
                        entries.push(entry);
                    }
                    Answer::Accepted(Accepted { index, events, state: self.auction.public_view_at(now) })
                }
                Err(rejection) => Answer::Rejected(rejection),
            };
            if let Some(idem) = key {
                let response = serde_json::to_value(&answer).expect("answers serialize");
                records.push(IdempotencyRecord {
                    key: idem.key.clone(),
                    fingerprint: idem.fingerprint.clone(),
                    response,
                });
                seen_in_batch.insert(idem.key, (idem.fingerprint, answer.clone()));
            }
            item.answer = Some(Ok(answer));
        }
        (entries, records)
    }

    /// Makes the pending batch durable, then answers and publishes. On a lost race the lot is
    /// rebuilt from the log and the batch re-applied; on a storage failure nothing is accepted.
    async fn flush(&mut self, pending: &mut Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        for _ in 0..=MAX_CONFLICT_RETRIES {
            let before = self.auction.clone();
            let awardee_before = award_of(&before);
            let (entries, records) = self.apply_all(pending);
            if entries.is_empty() && records.is_empty() {
                self.finish(pending, Vec::new(), Vec::new());
                return;
            }
            let awardee_after = award_of(&self.auction);
            let award_change = (awardee_after != awardee_before).then_some(awardee_after);
            let batch = Batch {
                summary: LotSummary {
                    state: self.auction.public_view_at(self.clock.now()),
                    last_index: entries.last().map_or(self.last_index, |e| e.index),
                    last_hash: entries.last().map_or(self.last_hash.clone(), |e| e.hash.clone()),
                },
                entries,
                idempotency: records,
                award_change,
                listing: self.listing,
                seller: self.auction.config().seller,
                status_before: self.stored_status,
            };
            let append_started = std::time::Instant::now();
            let appended = self.log.append(self.auction_id, &batch).await;
            self.stats
                .append_micros
                .fetch_add(append_started.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
            match appended {
                Ok(()) => {
                    use std::sync::atomic::Ordering::Relaxed;
                    self.stats.appends.fetch_add(1, Relaxed);
                    self.stats.commands.fetch_add(batch.entries.len() as u64, Relaxed);
                    self.stored_status = Some(batch.summary.state.status);
                    self.finish(pending, batch.entries, batch.idempotency);
                    return;
                }
                Err(LogError::Conflict) => {
                    // Someone else extended the log: start again from what is durable.
                    tracing::warn!(auction = %self.auction_id, "lost an append race; rebuilding the lot from its log");
                    match self
                        .log
                        .load(self.auction_id)
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|stored| rebuild(&stored).map(|auction| (stored, auction)).map_err(|e| e.to_string()))
                    {
                        Ok((stored, auction)) => {
                            self.auction = auction;
                            self.stored_status = None;
                            self.adopt(&stored);
                            for item in pending.iter_mut() {
                                item.answer = None;
                            }
                        }
                        Err(e) => {
                            self.auction = before;
                            self.fail(pending, format!("cannot rebuild after a conflict: {e}"));
                            return;
                        }
                    }
                }
                Err(e) => {
                    self.auction = before;
                    tracing::error!(auction = %self.auction_id, error = %e, "could not persist a batch");
                    self.fail(pending, e.to_string());
                    return;
                }
            }
        }
        self.fail(pending, "too many concurrent writers".into());
    }

    fn finish(&mut self, pending: &mut Vec<Pending>, entries: Vec<LogEntry>, records: Vec<IdempotencyRecord>) {
        if let Some(last) = entries.last() {
            self.last_index = last.index;
            self.last_hash = last.hash.clone();
        }
        for record in records {
            if let Ok(answer) = serde_json::from_value::<Answer>(record.response) {
                self.idempotency.insert(record.key, (record.fingerprint, answer));
            }
        }
        let window = self.config.replay_window;
        for event in entries.into_iter().flat_map(|e| e.events) {
            let event = Arc::new(event);
            if self.recent.len() == window {
                self.recent.pop_front();
            }
            self.recent.push_back(event.clone());
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(event);
        }
        for item in pending.drain(..) {
            let result = item.answer.unwrap_or_else(|| Err(EngineError::Unavailable("not applied".into())));
            let _ = item.reply.send(result);
        }
    }

    fn fail(&mut self, pending: &mut Vec<Pending>, reason: String) {
        for item in pending.drain(..) {
            let _ = item.reply.send(Err(EngineError::Unavailable(reason.clone())));
        }
    }
}

/// Who the lot is sold or offered to, and at what price.
fn award_of(auction: &Auction) -> Option<Award> {
    let Some(Outcome::Sold { price, .. }) = auction.outcome() else { return None };
    let bidder = auction.awardee()?;
    Some(Award { buyer: bidder.user(), buyer_organization: bidder.organization(), price: *price })
}
