//! Auctions: the lot records and the [`AuctionLog`] port of the bidding engine.
//!
//! An append writes the lot's cached summary, the log entries, the idempotency records and any
//! deal in one `BEGIN IMMEDIATE` transaction, without reading the lot first (the engine passes
//! what it knows). Two guards make a second writer fail instead of forking the log: the summary
//! update, first and conditioned on the `last_index` the writer started from, and the
//! `(auction_id, idx)` primary key.

use crate::connection::Store;
use crate::entity::{auction, auction_idempotency, auction_log, auction_watcher, deal};
use crate::error::StoreError;
use crate::outbox::{self, Topic};
use achex_bidding_engine::engine::{
    AuctionLog, Batch, GENESIS_HASH, IdempotencyRecord, LogEntry, LogError, LotRecord, StoredLot,
};
use achex_bidding_engine::{AuctionConfig, Event, Outcome, PublicState, Status};
use achex_core::{AuctionId, DealId, ListingId, Money, OrganizationId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, SqlErr, Statement,
};
use uuid::Uuid;

/// A lot as the API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuctionRow {
    pub id: AuctionId,
    pub listing_id: ListingId,
    pub seller: OrganizationId,
    pub config: AuctionConfig,
    pub summary: PublicState,
    pub created_at: DateTime<Utc>,
}

/// Which lots to list, judged by the server's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuctionPhase {
    Upcoming,
    Live,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    pub id: DealId,
    pub auction_id: AuctionId,
    pub listing_id: ListingId,
    pub seller: OrganizationId,
    pub buyer: UserId,
    pub buyer_organization: OrganizationId,
    pub price: Money,
    /// `awarded`, or `defaulted` once the buyer failed to complete.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Upcoming => "upcoming",
        Status::FreeQuote => "free_quote",
        Status::Live => "live",
        Status::Closing => "closing",
        Status::Closed => "closed",
    }
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn row(m: auction::Model) -> Result<AuctionRow, StoreError> {
    Ok(AuctionRow {
        id: m.id.into(),
        listing_id: m.listing_id.into(),
        seller: m.seller_org.into(),
        config: serde_json::from_value(m.config).map_err(json_err)?,
        summary: serde_json::from_value(m.summary).map_err(json_err)?,
        created_at: m.created_at,
    })
}

fn storage(e: impl std::fmt::Display) -> LogError {
    LogError::Storage(e.to_string())
}

fn conflict_or_storage(e: DbErr) -> LogError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => LogError::Conflict,
        _ => storage(e),
    }
}

impl Store {
    /// Creates a lot with its initial summary (no log entries yet).
    pub async fn create_auction(
        &self,
        record: &LotRecord,
        created_by: UserId,
        initial: &PublicState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        auction::ActiveModel {
            id: Set(record.auction.as_uuid()),
            listing_id: Set(record.listing.as_uuid()),
            seller_org: Set(record.config.seller.as_uuid()),
            created_by: Set(created_by.as_uuid()),
            format: Set(serde_json::to_value(record.config.format)
                .map_err(json_err)?
                .as_str()
                .unwrap_or("")
                .to_owned()),
            config: Set(serde_json::to_value(&record.config).map_err(json_err)?),
            status: Set(status_name(initial.status).to_owned()),
            starts_at: Set(record.config.starts_at),
            ends_at: Set(record.config.ends_at),
            summary: Set(serde_json::to_value(initial).map_err(json_err)?),
            outcome: Set(None),
            last_index: Set(0),
            last_hash: Set(GENESIS_HASH.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&tx)
        .await?;
        outbox::append(
            &tx,
            vec![outbox::NewEvent {
                topic: Topic::Listing,
                kind: outbox::AUCTION_CHANGED.to_owned(),
                subject: record.listing.as_uuid(),
                payload: serde_json::json!({ "auction": record.auction.as_uuid(), "status": status_name(initial.status) }),
                at: now,
            }],
        )
        .await?;
        tx.commit().await?;
        self.outbox_committed();
        Ok(())
    }

    /// Lots that are not closed, of the given listings (or of every listing when `None`).
    pub async fn open_auctions(&self, listings: Option<&[ListingId]>) -> Result<Vec<AuctionRow>, StoreError> {
        let mut query = auction::Entity::find().filter(auction::Column::Status.ne("closed"));
        if let Some(listings) = listings {
            query = query.filter(auction::Column::ListingId.is_in(listings.iter().map(|l| l.as_uuid())));
        }
        query.order_by_asc(auction::Column::EndsAt).all(&self.db).await?.into_iter().map(row).collect()
    }

    /// `user` will hear when the lot opens and shortly before it ends (idempotent).
    pub async fn watch_auction(&self, auction: AuctionId, user: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.write().await?;
        auction_watcher::Entity::insert(auction_watcher::ActiveModel {
            auction_id: Set(auction.as_uuid()),
            user_id: Set(user.as_uuid()),
            created_at: Set(now),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                auction_watcher::Column::AuctionId,
                auction_watcher::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .try_insert()
        .exec(&tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn unwatch_auction(&self, auction: AuctionId, user: UserId) -> Result<(), StoreError> {
        let tx = self.write().await?;
        auction_watcher::Entity::delete_many()
            .filter(auction_watcher::Column::AuctionId.eq(auction.as_uuid()))
            .filter(auction_watcher::Column::UserId.eq(user.as_uuid()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn auction_watchers(&self, auction: AuctionId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> = auction_watcher::Entity::find()
            .select_only()
            .column(auction_watcher::Column::UserId)
            .filter(auction_watcher::Column::AuctionId.eq(auction.as_uuid()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().map(Into::into).collect())
    }

    /// The lots `user` watches.
    pub async fn watched_auctions(&self, user: UserId) -> Result<Vec<AuctionId>, StoreError> {
        let ids: Vec<Uuid> = auction_watcher::Entity::find()
            .select_only()
            .column(auction_watcher::Column::AuctionId)
            .filter(auction_watcher::Column::UserId.eq(user.as_uuid()))
            .order_by_desc(auction_watcher::Column::CreatedAt)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().map(Into::into).collect())
    }

    pub async fn auction(&self, id: AuctionId) -> Result<AuctionRow, StoreError> {
        row(auction::Entity::find_by_id(id.as_uuid()).one(&self.db).await?.ok_or(StoreError::NotFound)?)
    }

    /// Lots of a listing, newest first.
    pub async fn listing_auctions(&self, listing: ListingId) -> Result<Vec<AuctionRow>, StoreError> {
        auction::Entity::find()
            .filter(auction::Column::ListingId.eq(listing.as_uuid()))
            .order_by_desc(auction::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(row)
            .collect()
    }

    /// Lots in a phase at `now`: upcoming soonest first, live ending soonest first, closed latest
    /// first.
    pub async fn auctions_in_phase(
        &self,
        phase: AuctionPhase,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<AuctionRow>, StoreError> {
        let query = auction::Entity::find();
        let query = match phase {
            AuctionPhase::Upcoming => query
                .filter(auction::Column::Status.ne("closed"))
                .filter(auction::Column::StartsAt.gt(now))
                .order_by_asc(auction::Column::StartsAt),
            AuctionPhase::Live => query
                .filter(auction::Column::Status.ne("closed"))
                .filter(auction::Column::StartsAt.lte(now))
                .order_by_asc(auction::Column::EndsAt),
            AuctionPhase::Closed => {
                query.filter(auction::Column::Status.eq("closed")).order_by_desc(auction::Column::UpdatedAt)
            }
        };
        query.limit(limit).all(&self.db).await?.into_iter().map(row).collect()
    }

    /// Every accepted command of a lot, in order.
    pub async fn auction_log(&self, id: AuctionId) -> Result<Vec<LogEntry>, StoreError> {
        self.auction_log_between(id, 1, u64::MAX).await
    }

    /// The log entries with `from <= index <= to`, in order.
    pub async fn auction_log_between(&self, id: AuctionId, from: u64, to: u64) -> Result<Vec<LogEntry>, StoreError> {
        auction_log::Entity::find()
            .filter(auction_log::Column::AuctionId.eq(id.as_uuid()))
            .filter(auction_log::Column::Idx.gte(from.min(i64::MAX as u64) as i64))
            .filter(auction_log::Column::Idx.lte(to.min(i64::MAX as u64) as i64))
            .order_by_asc(auction_log::Column::Idx)
            .all(&self.db)
            .await?
            .into_iter()
            .map(log_entry)
            .collect()
    }

    /// Up to `limit` log entries with `index < below` (every index when `None`), newest first:
    /// a lot's latest history without reading all of it.
    pub async fn auction_log_newest(
        &self,
        id: AuctionId,
        below: Option<u64>,
        limit: u64,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let mut query = auction_log::Entity::find().filter(auction_log::Column::AuctionId.eq(id.as_uuid()));
        if let Some(below) = below {
            query = query.filter(auction_log::Column::Idx.lt(below.min(i64::MAX as u64) as i64));
        }
        query
            .order_by_desc(auction_log::Column::Idx)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(log_entry)
            .collect()
    }

    /// Every lot id, for a full audit.
    pub async fn auction_ids(&self) -> Result<Vec<AuctionId>, StoreError> {
        let ids: Vec<Uuid> = auction::Entity::find()
            .select_only()
            .column(auction::Column::Id)
            .order_by_asc(auction::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().map(Into::into).collect())
    }

    pub async fn auction_deals(&self, id: AuctionId) -> Result<Vec<Deal>, StoreError> {
        deal::Entity::find()
            .filter(deal::Column::AuctionId.eq(id.as_uuid()))
            .order_by_asc(deal::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(Deal {
                    id: m.id.into(),
                    auction_id: m.auction_id.into(),
                    listing_id: m.listing_id.into(),
                    seller: m.seller_org.into(),
                    buyer: m.buyer_user.into(),
                    buyer_organization: m.buyer_org.into(),
                    price: Money::new(
                        m.price_amount,
                        achex_core::Currency::parse(&m.currency)
                            .ok_or_else(|| StoreError::Corrupt(format!("currency {:?}", m.currency)))?,
                    ),
                    status: m.status,
                    created_at: m.created_at,
                })
            })
            .collect()
    }

    async fn append_batch(&self, auction_id: AuctionId, batch: &Batch) -> Result<(), LogError> {
        let id = auction_id.as_uuid();
        let backend = self.backend();
        let started_from = batch.entries.first().map_or(batch.summary.last_index, |e| e.index - 1);
        let state = &batch.summary.state;
        let now = batch.entries.last().map_or_else(Utc::now, |e| e.at);
        // The summary first: conditioned on the index this batch extends, it is the check that
        // nobody else appended meanwhile (on PostgreSQL it also takes the lot's row lock, so a
        // racing writer waits here and then finds the index moved).
        let update = auction::Entity::update_many()
            .col_expr(auction::Column::Status, Expr::value(status_name(state.status)))
            .col_expr(auction::Column::EndsAt, Expr::value(state.ends_at))
            .col_expr(auction::Column::Summary, Expr::value(serde_json::to_value(state).map_err(storage)?))
            .col_expr(
                auction::Column::Outcome,
                Expr::value(
                    state.outcome.as_ref().map(|o: &Outcome| serde_json::to_value(o)).transpose().map_err(storage)?,
                ),
            )
            .col_expr(auction::Column::LastIndex, Expr::value(batch.summary.last_index as i64))
            .col_expr(auction::Column::LastHash, Expr::value(batch.summary.last_hash.clone()))
            .col_expr(auction::Column::UpdatedAt, Expr::value(now))
            .filter(auction::Column::Id.eq(id))
            .filter(auction::Column::LastIndex.eq(started_from as i64))
            .build(backend);
        let mut statements = vec![update];
        statements.extend(log_inserts(backend, id, &batch.entries)?);
        statements.extend(idempotency_inserts(backend, id, &batch.idempotency)?);
        // Every row written but the summary's is an insert that writes all its rows or fails.
        let mut expected = 1 + batch.entries.len() + batch.idempotency.len();

        // Announce the appended entries (notifications read them from the log) and, when the lot
        // changed phase, its listing (the search index shows whether a listing's auction is live).
        let mut announced = Vec::new();
        if let (Some(first), Some(last)) = (batch.entries.first(), batch.entries.last()) {
            announced.push(outbox::NewEvent {
                topic: Topic::Auction,
                kind: "log_appended".to_owned(),
                subject: id,
                payload: serde_json::json!({ "from_index": first.index, "to_index": last.index }),
                at: now,
            });
        }
        if batch.status_before != Some(state.status) {
            announced.push(outbox::NewEvent {
                topic: Topic::Listing,
                kind: outbox::AUCTION_CHANGED.to_owned(),
                subject: batch.listing.as_uuid(),
                payload: serde_json::json!({ "auction": id, "status": status_name(state.status) }),
                at: now,
            });
        }
        // PostgreSQL: with no order lock to take first (no listing event) and no deal to write,
        // the whole append is one statement, so one round trip and its own transaction.
        if backend == DatabaseBackend::Postgres
            && batch.award_change.is_none()
            && announced.iter().all(|e| !e.topic.is_ordered())
        {
            expected += announced.len();
            statements.extend(outbox_inserts(backend, announced)?);
            return self.append_in_one_statement(id, statements, expected).await;
        }
        // SQLite, with no deal to write: begin, every statement and commit as one text.
        if backend == DatabaseBackend::Sqlite && batch.award_change.is_none() {
            expected += announced.len();
            statements.extend(outbox_inserts(backend, announced)?);
            let appended = (batch.summary.last_index as i64, batch.summary.last_hash.as_str());
            return self.append_in_one_sqlite_text(id, statements, expected, appended).await;
        }
        // SQLite's outbox needs no order lock, so its insert joins the others.
        let together = backend == DatabaseBackend::Sqlite;
        if together && !announced.is_empty() {
            expected += announced.len();
            statements.push(outbox::insert_statement(backend, std::mem::take(&mut announced), false));
        }

        let tx = self.write().await.map_err(storage)?;
        let affected = run_statements(&tx, statements).await?;
        if affected != expected as u64 {
            // Only the summary's update can fall short: the log moved on, or there is no lot.
            return Err(short_append(&tx, id).await);
        }
        outbox::append(&tx, announced).await.map_err(storage)?;
        if batch.award_change.is_some() {
            deal::Entity::update_many()
                .col_expr(deal::Column::Status, Expr::value("defaulted"))
                .filter(deal::Column::AuctionId.eq(id))
                .filter(deal::Column::Status.eq("awarded"))
                .exec(&tx)
                .await
                .map_err(storage)?;
        }
        if let Some(Some(award)) = &batch.award_change {
            deal::ActiveModel {
                id: Set(DealId::new().as_uuid()),
                auction_id: Set(id),
                listing_id: Set(batch.listing.as_uuid()),
                seller_org: Set(batch.seller.as_uuid()),
                buyer_user: Set(award.buyer.as_uuid()),
                buyer_org: Set(award.buyer_organization.as_uuid()),
                price_amount: Set(award.price.amount),
                currency: Set(award.price.currency.code().to_owned()),
                status: Set("awarded".to_owned()),
                created_at: Set(now),
            }
            .insert(&tx)
            .await
            .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        self.outbox_committed();
        Ok(())
    }
}

impl Store {
    /// A PostgreSQL append as one statement: the summary's update and every insert as data-
    /// modifying CTEs, each insert conditioned on the update having matched (the lot's log was
    /// where this batch expects it), run outside any explicit transaction. Before, an append was
    /// begin, update, one insert per table, commit: five or six round trips, each a wake-up of
    /// the server and of this process.
    ///
    /// `statements` are the summary's update first, then inserts of the `INSERT … SELECT … WHERE`
    /// shape [`padded_inserts`] writes. `expected` counts the rows they change when nothing
    /// conflicts (the outbox rows included).
    async fn append_in_one_statement(
        &self,
        id: Uuid,
        statements: Vec<Statement>,
        expected: usize,
    ) -> Result<(), LogError> {
        let mut statements = statements.into_iter();
        let Some(update) = statements.next() else { return Ok(()) };
        let mut values = update.values.map(|v| v.0).unwrap_or_default();
        let mut sql = format!("WITH upd AS ({} RETURNING 1)", update.sql);
        let mut counted = vec!["(SELECT count(*) FROM upd)".to_owned()];
        for (n, insert) in statements.enumerate() {
            let insert_sql = renumber_placeholders(&insert.sql, values.len());
            values.extend(insert.values.map(|v| v.0).unwrap_or_default());
            sql.push_str(&format!(", i{n} AS ({insert_sql} AND EXISTS (SELECT 1 FROM upd) RETURNING 1)"));
            counted.push(format!("(SELECT count(*) FROM i{n})"));
        }
        sql.push_str(&format!(" SELECT {} AS affected", counted.join(" + ")));
        let statement = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values);
        let row = self.db.query_one_raw(statement).await.map_err(conflict_or_storage)?;
        let affected: i64 = row.map(|r| r.try_get("", "affected")).transpose().map_err(storage)?.unwrap_or(0);
        if affected != expected as i64 {
            // Nothing was written: every insert waits on the update, which found the log moved
            // on, or no lot.
            return Err(short_append(&self.db, id).await);
        }
        self.outbox_committed();
        Ok(())
    }
}

impl Store {
    /// A SQLite append as one text on one connection: `BEGIN IMMEDIATE`, the summary's update,
    /// the inserts, `COMMIT`. The connection's worker thread runs it in one hand-over, where a
    /// transaction through sea-orm took three (begin, the statements, commit), and each hand-over
    /// is two thread wake-ups: at one bid per append (a quiet lot, the open-loop benchmark) those
    /// were a third of a bid's acknowledgement.
    ///
    /// The text cannot stop half-way on a row count, so every insert is conditioned on the
    /// summary now being the one this batch writes (`appended`: its last index and hash). When
    /// the update found the log moved on (another writer) nothing is inserted, the empty
    /// transaction commits, and the short count says so. An error inside the text leaves the
    /// transaction open: it is rolled back on the same connection before that goes back to the
    /// pool, or the connection is closed.
    ///
    /// `statements` are the summary's update first, then inserts of the `INSERT … SELECT … WHERE`
    /// shape [`padded_inserts`] writes; `expected` counts the rows they change.
    async fn append_in_one_sqlite_text(
        &self,
        id: Uuid,
        statements: Vec<Statement>,
        expected: usize,
        appended: (i64, &str),
    ) -> Result<(), LogError> {
        use futures_util::StreamExt;
        use sea_orm::sqlx;
        let statement_count = statements.len();
        let mut statements = statements.into_iter();
        let Some(update) = statements.next() else { return Ok(()) };
        let mut sql = format!("BEGIN IMMEDIATE;\n{};\n", update.sql);
        let mut values = update.values.map(|v| v.0).unwrap_or_default();
        for insert in statements {
            sql.push_str(&insert.sql);
            sql.push_str(" AND EXISTS (SELECT 1 FROM auctions WHERE id = ? AND last_index = ? AND last_hash = ?);\n");
            values.extend(insert.values.map(|v| v.0).unwrap_or_default());
            values.extend([id.into(), appended.0.into(), appended.1.into()]);
        }
        sql.push_str("COMMIT;");
        let pool = self.db.get_sqlite_connection_pool();
        let mut guard = ClosedUnlessFinished(Some(pool.acquire().await.map_err(storage)?));
        let connection = guard.0.as_mut().expect("just acquired");
        let arguments = sea_query_sqlx::SqlxValues(sea_orm::Values(values));
        // Each statement's own count: sqlx's summed `execute` would also add, for `BEGIN` and
        // `COMMIT`, SQLite's count of the last data change before them (`sqlite3_changes`).
        // (sqlx deprecates several statements in one prepared text for a future release; the
        // SQLite driver runs them in order, as sea-orm's multi-statement texts rely on too.)
        #[allow(deprecated)]
        let mut results = sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments).execute_many(&mut **connection).await;
        let mut counts = Vec::with_capacity(statement_count + 2);
        let mut failed = None;
        while let Some(result) = results.next().await {
            match result {
                Ok(done) => counts.push(done.rows_affected()),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(results);
        if let Some(e) = failed {
            // "no transaction is active" when SQLite already rolled back (it does on some
            // errors); anything else leaves the connection in a state unknown: the guard closes it.
            let rollback = sqlx::raw_sql(sqlx::AssertSqlSafe("ROLLBACK")).execute(&mut **connection).await;
            if rollback.is_ok() || rollback.is_err_and(|e| e.to_string().contains("no transaction is active")) {
                guard.finished();
            }
            return Err(sqlite_append_error(e));
        }
        if counts.len() != statement_count + 2 {
            return Err(LogError::Storage(format!(
                "an append ran {} statements of {}",
                counts.len(),
                statement_count + 2
            )));
        }
        // Without `BEGIN` and `COMMIT`.
        let affected: u64 = counts[1..=statement_count].iter().sum();
        guard.finished();
        if affected == 0 {
            // Nothing was written: the update found the log moved on, or no lot.
            return Err(short_append(&self.db, id).await);
        }
        if affected != expected as u64 {
            // Cannot happen: each insert writes all its rows or, like the update, none.
            return Err(LogError::Storage(format!("an append changed {affected} rows, not {expected}")));
        }
        self.outbox_committed();
        Ok(())
    }
}

/// A pooled SQLite connection that is closed rather than given back to the pool unless the text
/// it ran is known to have ended its transaction. If an append is cancelled half-way, or its
/// rollback fails, the worker thread stops between statements and the transaction would go back
/// to the pool open, holding the database's write lock; closing the connection rolls it back.
struct ClosedUnlessFinished(Option<sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Sqlite>>);

impl ClosedUnlessFinished {
    /// The transaction ended (committed or rolled back): the connection goes back to the pool.
    fn finished(mut self) {
        drop(self.0.take());
    }
}

impl Drop for ClosedUnlessFinished {
    fn drop(&mut self) {
        if let Some(mut connection) = self.0.take() {
            connection.close_on_drop();
        }
    }
}

/// A failed one-text SQLite append as the engine's error: a uniqueness violation is a lost race.
fn sqlite_append_error(e: sea_orm::sqlx::Error) -> LogError {
    match &e {
        sea_orm::sqlx::Error::Database(db) if db.is_unique_violation() => LogError::Conflict,
        _ => LogError::Storage(e.to_string()),
    }
}

/// Why an append changed fewer rows than it wrote: the lot's log moved on (another writer), or
/// there is no such lot.
async fn short_append(conn: &impl ConnectionTrait, id: Uuid) -> LogError {
    match auction::Entity::find_by_id(id).one(conn).await {
        Ok(Some(_)) => LogError::Conflict,
        Ok(None) => LogError::NotFound,
        Err(e) => storage(e),
    }
}

/// `sql` with each PostgreSQL placeholder `$n` moved to `$(n + offset)`, to join statements
/// built on their own into one. Only for texts this module builds, whose `$` are all
/// placeholders (values are always bound, never inlined).
fn renumber_placeholders(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        match sql[start..end].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&sql[start..end]),
        }
    }
    out
}

/// The inserts of not-yet-processed outbox events (see [`padded_inserts`]), for the one-statement
/// append.
fn outbox_inserts(backend: DatabaseBackend, events: Vec<outbox::NewEvent>) -> Result<Vec<Statement>, LogError> {
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        rows.push([
            Uuid::now_v7().into(),
            e.topic.as_str().into(),
            e.kind.into(),
            e.subject.into(),
            serde_json::to_string(&e.payload).map_err(storage)?.into(),
            e.at.into(),
        ]);
    }
    let table = PaddedTable {
        name: "outbox",
        columns: &["event_id", "topic", "kind", "subject_id", "payload", "created_at"],
        json: &["payload"],
        required: "event_id",
    };
    Ok(padded_inserts(backend, &table, rows))
}

/// Runs `statements` in order and returns the rows they changed, in all.
///
/// On SQLite they go to the connection's worker thread as one text: sqlx runs each statement of
/// a multi-statement text in turn, binding the `?` parameters in order, and adds up the changes.
/// An append is then three hand-overs to that thread (begin, this, commit) instead of one per
/// statement (five or more), and each hand-over is two thread wake-ups, which cost 50–100 µs
/// each on a loaded 2-core machine.
/// PostgreSQL takes one statement per round trip.
async fn run_statements(tx: &sea_orm::DatabaseTransaction, statements: Vec<Statement>) -> Result<u64, LogError> {
    let backend = tx.get_database_backend();
    if backend == DatabaseBackend::Sqlite && statements.len() > 1 {
        let mut sql = String::new();
        let mut values = Vec::new();
        for statement in statements {
            sql.push_str(&statement.sql);
            sql.push_str(";\n");
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        let statement = Statement::from_sql_and_values(backend, sql, values);
        return Ok(tx.execute_raw(statement).await.map_err(conflict_or_storage)?.rows_affected());
    }
    let mut affected = 0;
    for statement in statements {
        affected += tx.execute_raw(statement).await.map_err(conflict_or_storage)?.rows_affected();
    }
    Ok(affected)
}

/// The inserts of a batch's log entries (see [`padded_inserts`]).
fn log_inserts(backend: DatabaseBackend, id: Uuid, entries: &[LogEntry]) -> Result<Vec<Statement>, LogError> {
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        rows.push([
            id.into(),
            (e.index as i64).into(),
            e.at.into(),
            serde_json::to_string(&e.command).map_err(storage)?.into(),
            serde_json::to_string(&e.events).map_err(storage)?.into(),
            e.prev_hash.as_str().into(),
            e.hash.as_str().into(),
        ]);
    }
    let table = PaddedTable {
        name: "auction_log",
        columns: &["auction_id", "idx", "at", "command", "events", "prev_hash", "hash"],
        json: &["command", "events"],
        required: "idx",
    };
    Ok(padded_inserts(backend, &table, rows))
}

/// The inserts of a batch's idempotency records (see [`padded_inserts`]).
fn idempotency_inserts(
    backend: DatabaseBackend,
    id: Uuid,
    records: &[IdempotencyRecord],
) -> Result<Vec<Statement>, LogError> {
    let mut rows = Vec::with_capacity(records.len());
    for r in records {
        rows.push([
            id.into(),
            r.key.as_str().into(),
            r.fingerprint.as_str().into(),
            serde_json::to_string(&r.response).map_err(storage)?.into(),
        ]);
    }
    let table = PaddedTable {
        name: "auction_idempotency",
        columns: &["auction_id", "key", "fingerprint", "response"],
        json: &["response"],
        required: "key",
    };
    Ok(padded_inserts(backend, &table, rows))
}

/// A table [`padded_inserts`] writes to.
struct PaddedTable {
    name: &'static str,
    columns: &'static [&'static str],
    /// Columns bound as JSON text (PostgreSQL casts them to `json`).
    json: &'static [&'static str],
    /// A column no real row leaves NULL: padding rows are the ones where it is.
    required: &'static str,
}

/// Row counts of the insert statements: a batch goes in statements of the largest size and one
/// more for the rest, padded up to the next size with NULL rows that the statement's `WHERE`
/// drops.
const INSERT_SIZES: [usize; 4] = [1, 4, 16, 64];

/// The statements that insert `rows` into `table`: as few as [`INSERT_SIZES`] allows.
///
/// Why not `insert_many`: a hot lot appends a hundred entries at a time, and a multi-row `VALUES`
/// of exactly that many rows is a new statement text for every batch size, so it was compiled
/// (SQLite) or parsed and planned (PostgreSQL) again for almost every append and never found in
/// the connection's prepared-statement cache; and every command and event list went through a
/// `serde_json::Value` tree on its way. Padding keeps the texts to four per table, prepared once
/// per connection. Measured on a hot lot: that insert was 1.0–1.9 ms of a 2.2 ms append of ~100
/// bids.
fn padded_inserts<const N: usize>(
    backend: DatabaseBackend,
    table: &PaddedTable,
    rows: Vec<[sea_orm::Value; N]>,
) -> Vec<Statement> {
    debug_assert_eq!(table.columns.len(), N);
    let largest = INSERT_SIZES[INSERT_SIZES.len() - 1];
    // Padding rows are NULLs of each column's type (PostgreSQL types a VALUES list by them).
    let Some(null_row) = rows.first().map(|row| row.each_ref().map(sea_orm::Value::as_null)) else { return Vec::new() };
    let mut statements = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut values: Vec<sea_orm::Value> = rows.by_ref().take(largest).flatten().collect();
        let real = values.len() / N;
        let size = INSERT_SIZES.iter().copied().find(|&s| s >= real).unwrap_or(largest);
        for _ in real..size {
            values.extend(null_row.clone());
        }
        statements.push(Statement::from_sql_and_values(backend, padded_insert_sql(backend, table, size), values));
    }
    statements
}

/// `INSERT INTO t (a, b) SELECT a, b FROM (VALUES (…), …) AS v (a, b) WHERE required IS NOT NULL`
/// for `rows` rows, with the backend's placeholders.
fn padded_insert_sql(backend: DatabaseBackend, table: &PaddedTable, rows: usize) -> String {
    use std::fmt::Write;
    let columns = table.columns.join(", ");
    let postgres = backend == DatabaseBackend::Postgres;
    let selected: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // SQLite names a VALUES list's columns column1, column2, …; PostgreSQL takes aliases.
            let name = if postgres { (*c).to_owned() } else { format!("column{}", i + 1) };
            if postgres && table.json.contains(c) { format!("{name}::json") } else { name }
        })
        .collect();
    let required_index = table.columns.iter().position(|c| *c == table.required).expect("a listed column");
    let mut sql = format!("INSERT INTO {} ({columns}) SELECT {} FROM (VALUES ", table.name, selected.join(", "));
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..table.columns.len() {
            n += 1;
            let separator = if column == 0 { "" } else { ", " };
            if postgres {
                let _ = write!(sql, "{separator}${n}");
            } else {
                let _ = write!(sql, "{separator}?");
            }
        }
        sql.push(')');
    }
    if postgres {
        let _ = write!(sql, ") AS v ({columns}) WHERE {} IS NOT NULL", table.required);
    } else {
        let _ = write!(sql, ") WHERE column{} IS NOT NULL", required_index + 1);
    }
    sql
}

#[async_trait]
impl AuctionLog for Store {
    async fn append(&self, auction: AuctionId, batch: &Batch) -> Result<(), LogError> {
        self.append_batch(auction, batch).await
    }

    async fn load(&self, id: AuctionId) -> Result<StoredLot, LogError> {
        let lot = match self.auction(id).await {
            Ok(lot) => lot,
            Err(StoreError::NotFound) => return Err(LogError::NotFound),
            Err(e) => return Err(storage(e)),
        };
        let entries = self.auction_log(id).await.map_err(storage)?;
        let idempotency = auction_idempotency::Entity::find()
            .filter(auction_idempotency::Column::AuctionId.eq(id.as_uuid()))
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|m| IdempotencyRecord { key: m.key, fingerprint: m.fingerprint, response: m.response })
            .collect();
        Ok(StoredLot {
            record: LotRecord { auction: id, listing: lot.listing_id, config: lot.config },
            entries,
            idempotency,
        })
    }

    async fn open_lots(&self) -> Result<Vec<AuctionId>, LogError> {
        let ids: Vec<Uuid> = auction::Entity::find()
            .select_only()
            .column(auction::Column::Id)
            .filter(auction::Column::Status.ne("closed"))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(storage)?;
        Ok(ids.into_iter().map(Into::into).collect())
    }
}

fn log_entry(m: auction_log::Model) -> Result<LogEntry, StoreError> {
    Ok(LogEntry {
        index: m.idx as u64,
        at: m.at,
        command: serde_json::from_value(m.command).map_err(json_err)?,
        events: serde_json::from_value::<Vec<Event>>(m.events).map_err(json_err)?,
        prev_hash: m.prev_hash,
        hash: m.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::renumber_placeholders;

    #[test]
    fn placeholders_move_by_the_offset_and_nothing_else_changes() {
        assert_eq!(
            renumber_placeholders("INSERT INTO t (a, b) SELECT a, b::json FROM (VALUES ($1, $2), ($10, $11)) AS v", 9),
            "INSERT INTO t (a, b) SELECT a, b::json FROM (VALUES ($10, $11), ($19, $20)) AS v"
        );
        assert_eq!(renumber_placeholders("UPDATE t SET a = $1 WHERE b = $2", 0), "UPDATE t SET a = $1 WHERE b = $2");
        assert_eq!(renumber_placeholders("a $ b $x", 5), "a $ b $x");
    }
}
