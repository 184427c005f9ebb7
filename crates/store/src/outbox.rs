//! The transactional outbox: a domain change and the event that announces it commit together.
//!
//! Two kinds of consumer read it:
//! - **position consumers** (the search indexer) remember the last `position` they applied and
//!   read what comes after. That is only correct if positions become visible in increasing
//!   order. SQLite commits one writer at a time, so they do; on PostgreSQL two transactions can
//!   take ids 5 and 6 and commit 6 first, and a consumer that read 6 would skip 5 forever. Writers
//!   of an [ordered](Topic::is_ordered) topic therefore take one transaction-scoped advisory lock
//!   before they take an id: their commits, and so their ids, go one at a time. Only listing
//!   changes are ordered; they are rare, so the lock costs nothing that matters.
//! - **the notification fan-out** claims unprocessed rows of any topic and marks them processed in
//!   the transaction that writes what it derived from them, so it needs no ordering at all.

use crate::connection::Store;
use crate::entity::{outbox, outbox_consumer};
use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    Statement,
};
use uuid::Uuid;

/// What an outbox event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A listing changed in a way the public may see: subject = listing id.
    Listing,
    /// Entries were appended to an auction's log: subject = auction id.
    Auction,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Listing => "listing",
            Topic::Auction => "auction",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        match s {
            "listing" => Some(Topic::Listing),
            "auction" => Some(Topic::Auction),
            _ => None,
        }
    }

    /// Whether positions of this topic must become visible in order (see the module docs).
    pub fn is_ordered(self) -> bool {
        matches!(self, Topic::Listing)
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Increasing; the order of commits for ordered topics.
    pub position: i64,
    /// Stable identity of the event, for deduplication downstream (e-mail `Message-ID`).
    pub event_id: Uuid,
    pub topic: Topic,
    /// What happened, e.g. `approved`, `withdrawn`, `auction_changed`, `bids`.
    pub kind: String,
    pub subject: Uuid,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The `listing` event written when a listing's auction changes phase.
pub(crate) const AUCTION_CHANGED: &str = "auction_changed";

/// An event to write beside a change.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub topic: Topic,
    pub kind: String,
    pub subject: Uuid,
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Any number to tell our lock apart from other applications' advisory locks.
const OUTBOX_ORDER_LOCK: i64 = 0x6163_6865_785f_6f62; // "achex_ob"

/// Writes `events` inside the caller's transaction.
pub(crate) async fn append(conn: &impl ConnectionTrait, events: Vec<NewEvent>) -> Result<(), StoreError> {
    write(conn, events, false).await
}

/// Like [`append`], for events no one is to be notified of (bulk imports): only position
/// consumers (the search index) read them.
pub(crate) async fn append_processed(conn: &impl ConnectionTrait, events: Vec<NewEvent>) -> Result<(), StoreError> {
    write(conn, events, true).await
}

async fn write(conn: &impl ConnectionTrait, events: Vec<NewEvent>, processed: bool) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    if conn.get_database_backend() == DatabaseBackend::Postgres && events.iter().any(|e| e.topic.is_ordered()) {
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({OUTBOX_ORDER_LOCK})")).await?;
    }
    conn.execute_raw(insert_statement(conn.get_database_backend(), events, processed)).await?;
    Ok(())
}

/// The insert of `events` (not empty). On PostgreSQL, an ordered topic's insert must follow the
/// order lock that [`append`] takes.
pub(crate) fn insert_statement(backend: DatabaseBackend, events: Vec<NewEvent>, processed: bool) -> Statement {
    let rows = events.into_iter().map(|e| outbox::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        event_id: Set(Uuid::now_v7()),
        topic: Set(e.topic.as_str().to_owned()),
        kind: Set(e.kind),
        subject_id: Set(e.subject),
        payload: Set(e.payload),
        processed_at: Set(processed.then_some(e.at)),
        created_at: Set(e.at),
    });
    outbox::Entity::insert_many(rows).build(backend)
}

pub(crate) fn event(m: outbox::Model) -> Result<OutboxEvent, StoreError> {
    Ok(OutboxEvent {
        position: m.id,
        event_id: m.event_id,
        topic: Topic::parse(&m.topic).ok_or_else(|| StoreError::Corrupt(format!("outbox topic {:?}", m.topic)))?,
        kind: m.kind,
        subject: m.subject_id,
        payload: m.payload,
        created_at: m.created_at,
    })
}

impl Store {
    /// Changes whenever this process commits outbox events: consumers wait on it.
    pub fn outbox_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbox_written.subscribe()
    }

    /// Called after a transaction that appended events has committed.
    pub(crate) fn outbox_committed(&self) {
        self.outbox_written.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Events of `topic` after `position`, oldest first.
    pub async fn outbox_after(&self, topic: Topic, position: i64, limit: u64) -> Result<Vec<OutboxEvent>, StoreError> {
        outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(topic.as_str()))
            .filter(outbox::Column::Id.gt(position))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(event)
            .collect()
    }

    /// The newest position of `topic`, 0 when there is none. A full rebuild reads this *before*
    /// it reads the data, then follows the outbox from here: nothing falls between the two.
    pub async fn outbox_head(&self, topic: Topic) -> Result<i64, StoreError> {
        let head: Option<Option<i64>> = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::Id.max(), "head")
            .filter(outbox::Column::Topic.eq(topic.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(head.flatten().unwrap_or(0))
    }

    /// Where a named consumer has got to (0 if it never ran).
    pub async fn consumer_position(&self, consumer: &str) -> Result<i64, StoreError> {
        Ok(outbox_consumer::Entity::find_by_id(consumer.to_owned()).one(&self.db).await?.map_or(0, |m| m.position))
    }

    /// Records a consumer's position. Positions only move forward, also when two processes
    /// consume at once.
    pub async fn save_consumer_position(&self, consumer: &str, position: i64) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let now = Utc::now();
        outbox_consumer::Entity::insert(outbox_consumer::ActiveModel {
            consumer: Set(consumer.to_owned()),
            position: Set(position),
            updated_at: Set(now),
        })
        .on_conflict(OnConflict::column(outbox_consumer::Column::Consumer).do_nothing().to_owned())
        .try_insert()
        .exec(&tx)
        .await?;
        outbox_consumer::Entity::update_many()
            .col_expr(outbox_consumer::Column::Position, Expr::value(position))
            .col_expr(outbox_consumer::Column::UpdatedAt, Expr::value(now))
            .filter(outbox_consumer::Column::Consumer.eq(consumer))
            .filter(outbox_consumer::Column::Position.lt(position))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Public listings whose auction changed phase after `after`, newest change first, each
    /// listing once (its latest change): `(listing, when, phase)` where the phase is the
    /// auction's status name (`upcoming`, `free_quote`, `live`, `closing`, `closed`).
    pub async fn auction_changes_after(
        &self,
        after: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, DateTime<Utc>, String)>, StoreError> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(Topic::Listing.as_str()))
            .filter(outbox::Column::Kind.eq(AUCTION_CHANGED))
            .filter(outbox::Column::CreatedAt.gt(after))
            .order_by_desc(outbox::Column::CreatedAt)
            .order_by_desc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut seen = std::collections::HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|m| seen.insert(m.subject_id))
            .map(|m| {
                let phase = m.payload.get("status").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
                (m.subject_id, m.created_at, phase)
            })
            .collect())
    }

    /// When a listing's auction last changed phase (saved-search alerts skip work when it has not
    /// moved).
    pub async fn newest_auction_change(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let newest: Option<Option<DateTime<Utc>>> = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::CreatedAt.max(), "newest")
            .filter(outbox::Column::Topic.eq(Topic::Listing.as_str()))
            .filter(outbox::Column::Kind.eq(AUCTION_CHANGED))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(newest.flatten())
    }

    /// Test and operations helper: how many events are in the outbox.
    pub async fn outbox_len(&self) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(outbox::Entity::find().count(&self.db).await?)
    }
}
