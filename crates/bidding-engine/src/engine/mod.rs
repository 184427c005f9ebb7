//! The engine: one owner task per open lot.
//!
//! Each lot's commands go through one mpsc queue to one task, which applies them to the lot's
//! [`Auction`](crate::machine::Auction) in arrival order — there is no read-then-write race to
//! lose, because there is only one writer. Accepted commands are persisted **before** anyone is
//! told: the task drains whatever else is already queued, applies it all, writes the whole batch
//! in one transaction (group commit), and only then answers and publishes the events. A hot lot
//! therefore pays one durable commit per batch, not per bid.
//!
//! Correctness does not depend on being the only process: the log's `(auction, index)` key makes a
//! second writer's append fail, and the loser rebuilds from the log and re-applies its batch, so a
//! close or a bid is never recorded twice.

pub mod log;
mod lot;

pub use log::{
    AuctionLog, AuditFinding, AuditReport, Award, Batch, GENESIS_HASH, IdempotencyRecord, LogEntry, LogError,
    LotRecord, LotSummary, StoredLot, audit, rebuild,
};

use crate::machine::{Command, Event, PublicState};
use achex_core::{AuctionId, Clock};
use lot::{LotHandle, Msg};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, broadcast, oneshot};

/// A command and, when the client sent one, its idempotency key and request fingerprint.
#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    pub idempotency: Option<Idempotency>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    /// A hash of what the request asked for (the API decides what goes in).
    pub fingerprint: String,
}

impl Request {
    pub fn new(command: Command) -> Self {
        Self { command, idempotency: None }
    }
}

/// An accepted command: where it landed in the log, what happened, and the state after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub index: u64,
    pub events: Vec<Event>,
    pub state: PublicState,
}

/// The answer to a request, as stored for idempotent retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    Accepted(Accepted),
    /// Refused for a business reason; the code (`rejection.code()`) is stable.
    Rejected(crate::machine::Rejection),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("no such auction")]
    NotFound,
    #[error("this idempotency key was used for a different request")]
    IdempotencyMismatch,
    /// The batch could not be made durable; nothing was accepted.
    #[error("the auction is temporarily unavailable: {0}")]
    Unavailable(String),
}

/// What a new watcher gets: the state at `seq`, the events after `since` it missed (when they are
/// still in memory), and a receiver for everything after.
pub struct Subscription {
    pub state: PublicState,
    pub seq: u64,
    /// `None` when `since` was too old (or absent): start from `state` instead.
    pub missed: Option<Vec<Arc<Event>>>,
    pub receiver: broadcast::Receiver<Arc<Event>>,
}

/// Tunables; the defaults suit production.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most commands written in one group commit.
    pub max_batch: usize,
    /// Queue length per lot before senders wait (back-pressure).
    pub queue: usize,
    /// Events kept in memory per lot for `since` resyncs.
    pub replay_window: usize,
    /// Buffered events per watcher before a slow one is told it lagged.
    pub broadcast_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self { max_batch: 512, queue: 8_192, replay_window: 20_000, broadcast_capacity: 4_096 }
    }
}

/// Counters for benchmarks and metrics: how many group commits carried how many commands.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub appends: std::sync::atomic::AtomicU64,
    pub commands: std::sync::atomic::AtomicU64,
    /// Time spent in `AuctionLog::append`, in microseconds.
    pub append_micros: std::sync::atomic::AtomicU64,
}

pub struct Engine {
    stats: Arc<EngineStats>,
    log: Arc<dyn AuctionLog>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    lots: Mutex<HashMap<AuctionId, LotHandle>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.config).finish()
    }
}

impl Engine {
    pub fn new(log: Arc<dyn AuctionLog>, clock: Arc<dyn Clock>, config: EngineConfig) -> Arc<Engine> {
        Arc::new(Engine { stats: Arc::default(), log, clock, config, lots: Mutex::new(HashMap::new()) })
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The owner of `auction`, loading it from the log on first use.
    async fn lot(&self, auction: AuctionId) -> Result<LotHandle, EngineError> {
        let mut lots = self.lots.lock().await;
        if let Some(handle) = lots.get(&auction)
            && !handle.is_closed()
        {
            return Ok(handle.clone());
        }
        let stored = match self.log.load(auction).await {
            Ok(stored) => stored,
            Err(LogError::NotFound) => return Err(EngineError::NotFound),
            Err(e) => return Err(EngineError::Unavailable(e.to_string())),
        };
        let handle = lot::spawn(stored, self.log.clone(), self.clock.clone(), self.config.clone(), self.stats.clone())?;
        lots.insert(auction, handle.clone());
        Ok(handle)
    }

    /// Applies a command; returns once the outcome is durable (or was refused).
    pub async fn submit(&self, auction: AuctionId, request: Request) -> Result<Answer, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.lot(auction).await?.send(Msg::Command { request, reply }).await?;
        answer.await.map_err(|_| EngineError::Unavailable("the lot's owner stopped".into()))?
    }

    /// The public state now.
    pub async fn state(&self, auction: AuctionId) -> Result<PublicState, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.lot(auction).await?.send(Msg::State { reply }).await?;
        answer.await.map_err(|_| EngineError::Unavailable("the lot's owner stopped".into()))
    }

    /// A private view for one bidder: its code, deposit state and standing maximum.
    pub async fn bidder(
        &self,
        auction: AuctionId,
        user: achex_core::UserId,
    ) -> Result<Option<crate::machine::Bidder>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.lot(auction).await?.send(Msg::Bidder { user, reply }).await?;
        answer.await.map_err(|_| EngineError::Unavailable("the lot's owner stopped".into()))
    }

    /// Every registered bidder with its private state (for the organizer confirming deposits).
    pub async fn bidders(&self, auction: AuctionId) -> Result<Vec<crate::machine::Bidder>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.lot(auction).await?.send(Msg::Bidders { reply }).await?;
        answer.await.map_err(|_| EngineError::Unavailable("the lot's owner stopped".into()))
    }

    /// Subscribes to a lot's events; no event can fall between the snapshot and the receiver.
    pub async fn subscribe(&self, auction: AuctionId, since: Option<u64>) -> Result<Subscription, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.lot(auction).await?.send(Msg::Subscribe { since, reply }).await?;
        answer.await.map_err(|_| EngineError::Unavailable("the lot's owner stopped".into()))
    }

    /// Lets the clock act on every open lot (phase changes, closes) and waits until it has. Lots
    /// nobody has touched since the start are loaded first, so they close on time too.
    pub async fn tick_all(&self) {
        if let Err(e) = self.recover().await {
            tracing::warn!(error = %e, "could not load open lots before a tick");
        }
        let handles: Vec<(AuctionId, LotHandle)> =
            self.lots.lock().await.iter().map(|(id, h)| (*id, h.clone())).collect();
        for (auction, _) in handles {
            let _ = self.submit(auction, Request::new(Command::Tick)).await;
        }
    }

    /// Loads every open lot not yet loaded, e.g. after a restart, so its close happens on time.
    pub async fn recover(&self) -> Result<usize, EngineError> {
        let open = self.log.open_lots().await.map_err(|e| EngineError::Unavailable(e.to_string()))?;
        for auction in &open {
            self.lot(*auction).await?;
        }
        Ok(open.len())
    }

    /// Ticks every loaded lot every `every` until the engine is dropped.
    pub fn spawn_ticker(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                let Some(engine) = engine.upgrade() else { break };
                engine.tick_all().await;
            }
        })
    }
}
