//! The bid log: every command the machine accepted, in order, with the server time it was applied
//! at and the events it produced. Append-only and hash-chained: each entry's hash covers the
//! previous entry's hash, so an edited, dropped or reordered entry breaks every later link.
//!
//! [`AuctionLog`] is the port the engine persists through; `achex-store` implements it on SQLite
//! and PostgreSQL. [`audit`] replays a log through the machine and reports any difference.

use crate::machine::{Auction, AuctionConfig, Command, Event, Outcome, PublicState, ReplayError, TimedCommand};
use achex_core::{AuctionId, ListingId, Money, OrganizationId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes the first entry of every lot.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One accepted command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// 1, 2, 3… per lot; two writers racing for the same index cannot both succeed.
    pub index: u64,
    pub at: DateTime<Utc>,
    pub command: Command,
    pub events: Vec<Event>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    index: u64,
    at: &'a DateTime<Utc>,
    command: &'a Command,
    events: &'a [Event],
}

impl LogEntry {
    pub fn new(index: u64, at: DateTime<Utc>, command: Command, events: Vec<Event>, prev_hash: &str) -> LogEntry {
        let hash = entry_hash(prev_hash, index, &at, &command, &events);
        LogEntry { index, at, command, events, prev_hash: prev_hash.to_owned(), hash }
    }

    /// Whether the stored hash matches the content and the given predecessor.
    pub fn verifies(&self, prev_hash: &str) -> bool {
        self.prev_hash == prev_hash
            && self.hash == entry_hash(prev_hash, self.index, &self.at, &self.command, &self.events)
    }
}

fn entry_hash(prev_hash: &str, index: u64, at: &DateTime<Utc>, command: &Command, events: &[Event]) -> String {
    // serde_json writes struct fields in declaration order, so this encoding is canonical.
    let body = serde_json::to_vec(&Hashed { index, at, command, events }).expect("log entries serialize");
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    hex::encode(hasher.finalize())
}

/// The stored answer to a request that carried an `Idempotency-Key`, accepted or rejected: a retry
/// gets exactly this back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: String,
    /// Hash of what the request asked for; the same key with another body is refused.
    pub fingerprint: String,
    pub response: serde_json::Value,
}

/// What a lot looks like from outside, cached beside the log for listing queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotSummary {
    pub state: PublicState,
    pub last_index: u64,
    pub last_hash: String,
}

/// A sale created by a close (or by an offer to the runner-up after a default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    pub buyer: UserId,
    pub buyer_organization: OrganizationId,
    pub price: Money,
}

/// Everything one group commit writes, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub entries: Vec<LogEntry>,
    pub idempotency: Vec<IdempotencyRecord>,
    pub summary: LotSummary,
    /// The lot's listing and seller, for the announcement of a phase change and for a deal: the
    /// engine knows them, so an append need not read the lot first.
    pub listing: ListingId,
    pub seller: OrganizationId,
    /// The status the previous append stored, when this process made it; `None` after a load,
    /// which makes the append announce its status whether or not it changed (an extra
    /// announcement only makes the listing's consumers re-read it; a missed one would not do).
    pub status_before: Option<crate::machine::Status>,
    /// `Some` when the batch changed who the lot is awarded to: `Some(None)` when the award was
    /// withdrawn (a default with nobody left), `Some(Some(award))` for a new one.
    pub award_change: Option<Option<Award>>,
}

/// A lot as created, before any command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRecord {
    pub auction: AuctionId,
    pub listing: ListingId,
    pub config: AuctionConfig,
}

/// A lot as stored: its config, its whole log and its idempotency records.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLot {
    pub record: LotRecord,
    pub entries: Vec<LogEntry>,
    pub idempotency: Vec<IdempotencyRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no such auction")]
    NotFound,
    /// Another writer appended at one of these indices first (a second node or process).
    #[error("the log was extended concurrently")]
    Conflict,
    #[error("storage: {0}")]
    Storage(String),
}

/// Where lots and their logs are persisted.
#[async_trait]
pub trait AuctionLog: Send + Sync + 'static {
    /// Writes the whole batch atomically and durably, or nothing.
    async fn append(&self, auction: AuctionId, batch: &Batch) -> Result<(), LogError>;
    async fn load(&self, auction: AuctionId) -> Result<StoredLot, LogError>;
    /// Lots that are not closed (to rebuild after a restart).
    async fn open_lots(&self) -> Result<Vec<AuctionId>, LogError>;
}

/// What [`audit`] found wrong with one lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AuditFinding {
    BrokenLink { index: u64 },
    IndexGap { expected: u64, found: u64 },
    Replay { index: u64, reason: String },
    EventMismatch { index: u64 },
}

/// Result of auditing one lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub entries: usize,
    pub findings: Vec<AuditFinding>,
    pub final_state: Option<PublicState>,
    pub outcome: Option<Outcome>,
}

/// Checks every link of the chain and replays the log through the machine, comparing the events
/// each command produces now with the events that were published when it was accepted.
pub fn audit(config: AuctionConfig, entries: &[LogEntry]) -> AuditReport {
    let mut findings = Vec::new();
    let mut prev = GENESIS_HASH.to_owned();
    let mut auction = match Auction::new(config) {
        Ok(auction) => Some(auction),
        Err(e) => {
            findings.push(AuditFinding::Replay { index: 0, reason: ReplayError::InvalidConfig(e).to_string() });
            None
        }
    };
    for (i, entry) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if entry.index != expected {
            findings.push(AuditFinding::IndexGap { expected, found: entry.index });
        }
        if !entry.verifies(&prev) {
            findings.push(AuditFinding::BrokenLink { index: entry.index });
        }
        prev = entry.hash.clone();
        if let Some(state) = auction.as_mut() {
            match state.apply_in_place(entry.command.clone(), entry.at) {
                Ok(events) if events == entry.events => {}
                Ok(_) => findings.push(AuditFinding::EventMismatch { index: entry.index }),
                Err(rejection) => {
                    findings.push(AuditFinding::Replay { index: entry.index, reason: rejection.to_string() })
                }
            }
        }
    }
    AuditReport {
        entries: entries.len(),
        findings,
        final_state: auction.as_ref().map(Auction::public_view),
        outcome: auction.as_ref().and_then(|a| a.outcome().cloned()),
    }
}

/// Rebuilds the state from a stored lot (used after a crash or a lost race).
pub fn rebuild(lot: &StoredLot) -> Result<Auction, ReplayError> {
    crate::machine::replay(
        lot.record.config.clone(),
        lot.entries.iter().map(|e| TimedCommand::new(e.at, e.command.clone())),
    )
}
