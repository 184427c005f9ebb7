//! Listings and their audit trail. A listing change and the audit entry that records it are
//! written in one transaction, so the history can never miss a change or show one that failed.

use crate::connection::Store;
use crate::entity::{listing, listing_event};
use crate::error::StoreError;
use crate::outbox::{self, Topic};
use achex_bidding_engine::PublicState;
use achex_core::{ListingId, Money, OrganizationId};
use achex_listing::{AuditAction, AuditEntry, Listing, ListingContent, ListingKind, ListingStatus};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use uuid::Uuid;

/// Filters of the public catalogue.
#[derive(Debug, Clone, Default)]
pub struct ListingFilter {
    pub kind: Option<ListingKind>,
    pub institute: Option<OrganizationId>,
    pub discipline: Option<String>,
}

/// Position in the public feed, which runs newest-published first: the last row's
/// `(published_at, id)`. A seek cursor, so pages stay stable while listings are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicCursor {
    pub published_at: DateTime<Utc>,
    pub id: ListingId,
}

/// A published listing's institute and open lot, for a search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct HitFacts {
    pub institute: HitInstitute,
    /// The lot open on it (upcoming or live), if any: the one that ends first.
    pub open_lot: Option<(achex_core::AuctionId, PublicState)>,
}

/// Who offers a listing, as a search hit shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitInstitute {
    pub id: OrganizationId,
    pub name: String,
    pub verified: bool,
}

#[derive(Debug, Clone)]
pub struct ListingPage {
    pub items: Vec<Listing>,
    pub next: Option<PublicCursor>,
}

fn to_model(listing: &Listing) -> Result<listing::ActiveModel, StoreError> {
    let content = serde_json::to_value(&listing.content).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(listing::ActiveModel {
        id: Set(listing.id.as_uuid()),
        institute_id: Set(listing.institute_id.as_uuid()),
        created_by: Set(listing.created_by.as_uuid()),
        status: Set(listing.status.as_str().to_owned()),
        kind: Set(listing.content.kind.as_str().to_owned()),
        discipline: Set(listing.content.discipline.clone()),
        region: Set(listing.content.region.clone()),
        trl: Set(i16::from(listing.content.trl)),
        asking_amount: Set(listing.content.asking_price.map(|m: Money| m.amount)),
        asking_currency: Set(listing.content.asking_price.map(|m| m.currency.code().to_owned())),
        content: Set(content),
        rejection_reason: Set(listing.rejection_reason.clone()),
        version: Set(listing.version),
        created_at: Set(listing.created_at),
        updated_at: Set(listing.updated_at),
        published_at: Set(listing.published_at),
    })
}

fn from_model(m: listing::Model) -> Result<Listing, StoreError> {
    let content: ListingContent =
        serde_json::from_value(m.content).map_err(|e| StoreError::Corrupt(format!("listing {}: {e}", m.id)))?;
    Ok(Listing {
        id: m.id.into(),
        institute_id: m.institute_id.into(),
        created_by: m.created_by.into(),
        status: ListingStatus::parse(&m.status)
            .ok_or_else(|| StoreError::Corrupt(format!("listing status {:?}", m.status)))?,
        content,
        rejection_reason: m.rejection_reason,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        published_at: m.published_at,
    })
}

fn audit_model(entry: &AuditEntry) -> listing_event::ActiveModel {
    listing_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        listing_id: Set(entry.listing_id.as_uuid()),
        actor_id: Set(entry.actor_id.map(|a| a.as_uuid())),
        action: Set(entry.action.as_str().to_owned()),
        from_status: Set(entry.from_status.map(|s| s.as_str().to_owned())),
        to_status: Set(entry.to_status.as_str().to_owned()),
        changes: Set(serde_json::json!(entry.changed_fields)),
        reason: Set(entry.reason.clone()),
        at: Set(entry.at),
    }
}

fn audit_from_model(m: listing_event::Model) -> Result<AuditEntry, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit entry {}: {what}", m.id));
    Ok(AuditEntry {
        listing_id: m.listing_id.into(),
        actor_id: m.actor_id.map(Into::into),
        action: AuditAction::parse(&m.action).ok_or_else(|| corrupt("action"))?,
        from_status: match &m.from_status {
            Some(s) => Some(ListingStatus::parse(s).ok_or_else(|| corrupt("from_status"))?),
            None => None,
        },
        to_status: ListingStatus::parse(&m.to_status).ok_or_else(|| corrupt("to_status"))?,
        changed_fields: serde_json::from_value(m.changes.clone()).map_err(|_| corrupt("changes"))?,
        reason: m.reason,
        at: m.at,
    })
}

/// The outbox event announcing an audited change (search indexing, notifications).
///
/// It carries the listing's title and author, what a notification about the change says and to
/// whom: the dispatcher then reads nothing back for it (reading titles back out of the listings'
/// content was a sixth of a fan-out round of 500 approvals; see BENCHMARKS.md).
fn change_event(listing: &Listing, entry: &AuditEntry) -> outbox::NewEvent {
    outbox::NewEvent {
        topic: Topic::Listing,
        kind: entry.action.as_str().to_owned(),
        subject: listing.id.as_uuid(),
        payload: serde_json::json!({
            "status": listing.status.as_str(),
            "version": listing.version,
            "actor": entry.actor_id.map(|a| a.as_uuid()),
            "reason": entry.reason,
            "title": listing.content.title,
            "created_by": listing.created_by.as_uuid(),
        }),
        at: entry.at,
    }
}

/// A listing's title and who created it ([`Store::listing_titles`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ListingTitle {
    pub title: achex_core::LangText,
    pub created_by: achex_core::UserId,
}

impl ListingTitle {
    /// The title and author a listing event carries; `None` for events written before they
    /// carried them (read those with [`Store::listing_titles`]).
    pub fn carried_by(event: &crate::OutboxEvent) -> Option<ListingTitle> {
        if event.topic != Topic::Listing {
            return None;
        }
        let title = serde_json::from_value(event.payload.get("title")?.clone()).ok()?;
        let created_by = event.payload.get("created_by")?.as_str()?.parse::<Uuid>().ok()?;
        Some(ListingTitle { title, created_by: created_by.into() })
    }
}

/// Driven from the listings' primary key, then one organisation and one lot lookup per hit. The
/// status is checked by the caller, not in SQL: with the status in the WHERE clause SQLite's
/// planner preferred the public-feed index and scanned every published listing.
const HIT_FACTS_FROM_WHERE_POSTGRES: &str = "listings l JOIN organizations o ON o.id = l.institute_id \
     LEFT JOIN auctions a ON a.listing_id = l.id AND a.status <> 'closed' WHERE l.id";
/// Without statistics SQLite's planner takes the primary key's own index, which does not cover
/// status and institute, and so reads each hit's row (see migration m20261128_000004).
/// PostgreSQL chooses by its statistics.
const HIT_FACTS_FROM_WHERE_SQLITE: &str = "listings l INDEXED BY listings_hit_facts \
     JOIN organizations o ON o.id = l.institute_id \
     LEFT JOIN auctions a ON a.listing_id = l.id AND a.status <> 'closed' WHERE l.id";

/// One row of the hit facts, as either path reads it: a listing with its institute, and one of
/// its open lots (a listing has a row per open lot, or one without a lot).
struct HitFactRow {
    listing: Uuid,
    status: String,
    institute: Uuid,
    name: String,
    verified: bool,
    open_lot: Option<(Uuid, PublicState)>,
}

/// The facts of the public listings among `rows`; of a listing with two open lots (one ending,
/// one announced), the one that ends first.
fn public_hit_facts_of(
    rows: impl IntoIterator<Item = HitFactRow>,
    capacity: usize,
) -> std::collections::HashMap<ListingId, HitFacts> {
    let mut found: std::collections::HashMap<ListingId, HitFacts> = std::collections::HashMap::with_capacity(capacity);
    for row in rows {
        if row.status != ListingStatus::Published.as_str() {
            continue;
        }
        let facts = found.entry(ListingId::from(row.listing)).or_insert_with(|| HitFacts {
            institute: HitInstitute { id: row.institute.into(), name: row.name, verified: row.verified },
            open_lot: None,
        });
        let open_lot = row.open_lot.map(|(id, s)| (achex_core::AuctionId::from(id), s));
        if let Some(lot) = open_lot.filter(|(_, s)| facts.open_lot.as_ref().is_none_or(|(_, o)| s.ends_at < o.ends_at))
        {
            facts.open_lot = Some(lot);
        }
    }
    found
}

/// The hit facts' rows read on the calling thread (SQLite only): the same SQL as the pool's
/// path, with rows instead of one aggregated JSON array (no hand-over to save here).
fn hit_fact_rows_on_this_thread(
    readers: &crate::sqlite_reader::SqliteReaders,
    ids: &[ListingId],
) -> rusqlite::Result<Vec<HitFactRow>> {
    fn uuid(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
        let bytes = row.get_ref(column)?.as_blob()?;
        Uuid::from_slice(bytes)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, e.into()))
    }
    /// A JSON column, which SQLite keeps as text.
    fn json<T: serde::de::DeserializeOwned>(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<T> {
        let text = row.get_ref(column)?.as_bytes()?;
        serde_json::from_slice(text)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into()))
    }
    readers.read(|connection| {
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT l.id, l.status, o.id, o.name, o.verified, a.id, a.summary FROM {HIT_FACTS_FROM_WHERE_SQLITE} IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            // Cached by its text: a page of 20 hits asks the same statement every time.
            let mut statement = connection.prepare_cached(&sql)?;
            let values = chunk.iter().map(|id| id.as_uuid().into_bytes());
            let mut result = statement.query(rusqlite::params_from_iter(values))?;
            while let Some(row) = result.next()? {
                let has_lot = row.get_ref(5)? != rusqlite::types::ValueRef::Null;
                let open_lot = if has_lot { Some((uuid(row, 5)?, json(row, 6)?)) } else { None };
                rows.push(HitFactRow {
                    listing: uuid(row, 0)?,
                    status: row.get(1)?,
                    institute: uuid(row, 2)?,
                    name: row.get(3)?,
                    verified: row.get(4)?,
                    open_lot,
                });
            }
        }
        Ok(rows)
    })
}

impl Store {
    /// Announces already recorded listing changes again, all in one transaction: the outbox events
    /// recording each change wrote (no audit rows, no listing writes). Consumers treat them as
    /// new events: notifications and search updates are derived again. For replaying
    /// announcements, and for `bench-notify`'s burst of 10,000 approvals in one commit.
    pub async fn announce_listing_changes(&self, changes: &[(&Listing, &AuditEntry)]) -> Result<(), StoreError> {
        let tx = self.write().await?;
        for chunk in changes.chunks(500) {
            outbox::append(&tx, chunk.iter().map(|(listing, entry)| change_event(listing, entry)).collect()).await?;
        }
        tx.commit().await?;
        self.outbox_committed();
        Ok(())
    }
}

pub(crate) async fn append_audit(conn: &impl ConnectionTrait, entry: &AuditEntry) -> Result<(), StoreError> {
    audit_model(entry).insert(conn).await?;
    Ok(())
}

/// Records a change in the audit trail and announces it in the outbox, inside the caller's
/// transaction: neither can exist without the change.
async fn record_change(conn: &impl ConnectionTrait, listing: &Listing, entry: &AuditEntry) -> Result<(), StoreError> {
    append_audit(conn, entry).await?;
    outbox::append(conn, vec![change_event(listing, entry)]).await
}

impl Store {
    pub async fn insert_listing(&self, listing: &Listing, entry: &AuditEntry) -> Result<(), StoreError> {
        let tx = self.write().await?;
        to_model(listing)?.insert(&tx).await?;
        record_change(&tx, listing, entry).await?;
        tx.commit().await?;
        self.outbox_committed();
        Ok(())
    }

    /// Stores many listings and their audit entries in one transaction (demo seeding, imports):
    /// one fsync instead of thousands. The search index hears of them; nobody is notified.
    pub async fn insert_listings(&self, rows: &[(Listing, Vec<AuditEntry>)]) -> Result<(), StoreError> {
        let tx = self.write().await?;
        for chunk in rows.chunks(200) {
            let models = chunk.iter().map(|(l, _)| to_model(l)).collect::<Result<Vec<_>, _>>()?;
            listing::Entity::insert_many(models).exec_without_returning(&tx).await?;
            let events: Vec<_> = chunk.iter().flat_map(|(_, entries)| entries.iter().map(audit_model)).collect();
            if !events.is_empty() {
                listing_event::Entity::insert_many(events).exec_without_returning(&tx).await?;
            }
            // One event per listing (its latest change) is all the search index needs to catch up.
            // A bulk import (demo seeding, a migration from another system) is not news to
            // anyone, so the events are born processed: the notification fan-out skips them.
            let announced = chunk
                .iter()
                .filter_map(|(listing, entries)| entries.last().map(|entry| change_event(listing, entry)))
                .collect();
            outbox::append_processed(&tx, announced).await?;
        }
        tx.commit().await?;
        self.outbox_committed();
        Ok(())
    }

    pub async fn listing(&self, id: ListingId) -> Result<Listing, StoreError> {
        from_model(listing::Entity::find_by_id(id.as_uuid()).one(&self.db).await?.ok_or(StoreError::NotFound)?)
    }

    /// Writes a changed listing if nobody changed it since it was read at `read_version`.
    pub async fn update_listing(
        &self,
        listing: &Listing,
        read_version: i64,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let mut model = to_model(listing)?;
        // The id and owner never change; leave them out of the SET list.
        model.id = sea_orm::ActiveValue::NotSet;
        model.institute_id = sea_orm::ActiveValue::NotSet;
        model.created_by = sea_orm::ActiveValue::NotSet;
        model.created_at = sea_orm::ActiveValue::NotSet;
        let result = listing::Entity::update_many()
            .set(model)
            .filter(listing::Column::Id.eq(listing.id.as_uuid()))
            .filter(listing::Column::Version.eq(read_version))
            .exec(&tx)
            .await?;
        if result.rows_affected != 1 {
            return Err(StoreError::Stale);
        }
        record_change(&tx, listing, entry).await?;
        tx.commit().await?;
        self.outbox_committed();
        Ok(())
    }

    /// The listings with these ids that exist, in no particular order.
    pub async fn listings_by_ids(&self, ids: &[ListingId]) -> Result<Vec<Listing>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        // Bounded IN lists: SQLite caps bound parameters, and long lists plan badly anywhere.
        for chunk in ids.chunks(500) {
            let uuids: Vec<Uuid> = chunk.iter().map(|id| id.as_uuid()).collect();
            for model in listing::Entity::find().filter(listing::Column::Id.is_in(uuids)).all(&self.db).await? {
                found.push(from_model(model)?);
            }
        }
        Ok(found)
    }

    /// Each listing's title and author, for notifications about it: one query and one row back,
    /// which the database aggregates, instead of every listing whole (its description is most of
    /// its bytes, and parsing it was a third of a notification round of 500 approvals).
    pub async fn listing_titles(
        &self,
        ids: &[ListingId],
    ) -> Result<std::collections::HashMap<ListingId, ListingTitle>, StoreError> {
        let rows: Vec<(Uuid, Uuid, achex_core::LangText)> = self
            .json_rows_for_ids(
                &ids.iter().map(|id| id.as_uuid()).collect::<Vec<_>>(),
                (
                    "id, created_by, content->'title'",
                    "hex(id), hex(created_by), json(json_extract(content, '$.title'))",
                ),
                ("listings WHERE id", "listings WHERE id"),
                "listing titles",
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, created_by, title)| (ListingId::from(id), ListingTitle { title, created_by: created_by.into() }))
            .collect())
    }

    /// The titles and authors of the listings `events` are about: carried by the events, and
    /// read back (one query) only for events written before they carried them.
    pub async fn listing_titles_of_events<'a>(
        &self,
        events: impl IntoIterator<Item = &'a crate::OutboxEvent>,
    ) -> Result<std::collections::HashMap<ListingId, ListingTitle>, StoreError> {
        let mut titles = std::collections::HashMap::new();
        let mut look_up = Vec::new();
        for event in events {
            match ListingTitle::carried_by(event) {
                Some(carried) => {
                    titles.insert(ListingId::from(event.subject), carried);
                }
                None => look_up.push(ListingId::from(event.subject)),
            }
        }
        if !look_up.is_empty() {
            titles.extend(self.listing_titles(&look_up).await?);
        }
        Ok(titles)
    }

    /// What a page of search hits needs from the database, in one query: which of `ids` are
    /// published now (the index may lag a withdrawal by a moment, and never shows what is not
    /// public), each one's institute, and its open lot if it has one (the lot's price moves with
    /// every bid, so it is not in the index).
    ///
    /// One query, not three. On SQLite it runs on the calling thread through a read-only
    /// connection (see `sqlite_reader`): through the pool, each query is a hand-over to the
    /// connection's worker thread and each row another message back, which on the bench-search
    /// mix cost more than the SQL itself. Through the pool (PostgreSQL, or SQLite's fallback) the
    /// rows come back as one JSON array the database aggregates: one row, not one per hit.
    pub async fn public_hit_facts(
        &self,
        ids: &[ListingId],
    ) -> Result<std::collections::HashMap<ListingId, HitFacts>, StoreError> {
        if let Some(readers) = &self.sqlite_readers {
            // On this thread, without the driver's worker (see `sqlite_reader`); the pool's path
            // below is the fallback, for instance while a crashed writer's WAL is recovered.
            match hit_fact_rows_on_this_thread(readers, ids) {
                Ok(rows) => return Ok(public_hit_facts_of(rows, ids.len())),
                Err(e) => tracing::debug!(error = %e, "hit facts read through the pool instead"),
            }
        }
        /// `[listing id, listing status, institute id, institute name, verified, lot id, lot summary]`;
        /// ids are hex on SQLite (where they are blobs) and hyphenated on PostgreSQL, `verified` is
        /// 0/1 on SQLite.
        type Row = (Uuid, String, Uuid, String, serde_json::Value, Option<Uuid>, Option<PublicState>);
        let rows: Vec<Row> = self
            .json_rows_for_ids(
                &ids.iter().map(|id| id.as_uuid()).collect::<Vec<_>>(),
                (
                    "l.id, l.status, o.id, o.name, o.verified, a.id, a.summary",
                    "hex(l.id), l.status, hex(o.id), o.name, o.verified, nullif(hex(a.id), ''), json(a.summary)",
                ),
                (HIT_FACTS_FROM_WHERE_POSTGRES, HIT_FACTS_FROM_WHERE_SQLITE),
                "hit facts",
            )
            .await?;
        let rows = rows.into_iter().map(|(listing, status, institute, name, verified, lot, summary)| HitFactRow {
            listing,
            status,
            institute,
            name,
            verified: verified.as_bool().unwrap_or(verified.as_i64() == Some(1)),
            open_lot: lot.zip(summary),
        });
        Ok(public_hit_facts_of(rows, ids.len()))
    }

    /// Published listings in id order after `after`: a full scan in pages for `achex reindex`.
    pub async fn published_listings_after(
        &self,
        after: Option<ListingId>,
        limit: u64,
    ) -> Result<Vec<Listing>, StoreError> {
        let mut query = listing::Entity::find().filter(listing::Column::Status.eq(ListingStatus::Published.as_str()));
        if let Some(after) = after {
            query = query.filter(listing::Column::Id.gt(after.as_uuid()));
        }
        query.order_by_asc(listing::Column::Id).limit(limit).all(&self.db).await?.into_iter().map(from_model).collect()
    }

    /// When the most recent publication happened (saved-search alerts skip work when it has not
    /// moved).
    pub async fn newest_publication(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let newest: Option<Option<DateTime<Utc>>> = listing::Entity::find()
            .select_only()
            .column_as(listing::Column::PublishedAt.max(), "newest")
            .filter(listing::Column::Status.eq(ListingStatus::Published.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(newest.flatten())
    }

    /// One page of the public catalogue, newest published first.
    pub async fn published_listings(
        &self,
        filter: &ListingFilter,
        after: Option<PublicCursor>,
        limit: u64,
    ) -> Result<ListingPage, StoreError> {
        let mut query = listing::Entity::find().filter(listing::Column::Status.eq(ListingStatus::Published.as_str()));
        if let Some(kind) = filter.kind {
            query = query.filter(listing::Column::Kind.eq(kind.as_str()));
        }
        if let Some(institute) = filter.institute {
            query = query.filter(listing::Column::InstituteId.eq(institute.as_uuid()));
        }
        if let Some(discipline) = &filter.discipline {
            query = query.filter(listing::Column::Discipline.eq(discipline.as_str()));
        }
        if let Some(cursor) = after {
            query = query.filter(
                Condition::any().add(listing::Column::PublishedAt.lt(cursor.published_at)).add(
                    Condition::all()
                        .add(listing::Column::PublishedAt.eq(cursor.published_at))
                        .add(listing::Column::Id.lt(cursor.id.as_uuid())),
                ),
            );
        }
        let rows = query
            .order_by_desc(listing::Column::PublishedAt)
            .order_by_desc(listing::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let has_more = rows.len() as u64 > limit;
        let items = rows.into_iter().take(limit as usize).map(from_model).collect::<Result<Vec<_>, _>>()?;
        let next = if has_more {
            items.last().and_then(|l| l.published_at.map(|published_at| PublicCursor { published_at, id: l.id }))
        } else {
            None
        };
        Ok(ListingPage { items, next })
    }

    /// An institute's listings in any status, newest first: at most `limit` after `after` (the
    /// last listing of the previous page), and whether more follow.
    pub async fn institute_listings(
        &self,
        institute: OrganizationId,
        after: Option<ListingId>,
        limit: u64,
    ) -> Result<(Vec<Listing>, bool), StoreError> {
        let mut query = listing::Entity::find().filter(listing::Column::InstituteId.eq(institute.as_uuid()));
        if let Some(after) = after {
            query = query.filter(listing::Column::Id.lt(after.as_uuid()));
        }
        let rows = query.order_by_desc(listing::Column::Id).limit(limit + 1).all(&self.db).await?;
        page_of(rows, limit)
    }

    /// Listings waiting for a reviewer, longest waiting first: at most `limit` after `after` (the
    /// last listing of the previous page: when it last changed, and its id), and whether more
    /// follow.
    pub async fn review_queue(
        &self,
        after: Option<(DateTime<Utc>, ListingId)>,
        limit: u64,
    ) -> Result<(Vec<Listing>, bool), StoreError> {
        let mut query = listing::Entity::find().filter(listing::Column::Status.eq(ListingStatus::InReview.as_str()));
        if let Some((updated_at, id)) = after {
            query = query.filter(
                Condition::any().add(listing::Column::UpdatedAt.gt(updated_at)).add(
                    Condition::all()
                        .add(listing::Column::UpdatedAt.eq(updated_at))
                        .add(listing::Column::Id.gt(id.as_uuid())),
                ),
            );
        }
        let rows = query
            .order_by_asc(listing::Column::UpdatedAt)
            .order_by_asc(listing::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        page_of(rows, limit)
    }

    pub async fn count_listings(&self, status: ListingStatus) -> Result<u64, StoreError> {
        Ok(listing::Entity::find().filter(listing::Column::Status.eq(status.as_str())).count(&self.db).await?)
    }

    /// The audit trail of a listing, oldest first.
    pub async fn listing_history(&self, id: ListingId) -> Result<Vec<AuditEntry>, StoreError> {
        listing_event::Entity::find()
            .filter(listing_event::Column::ListingId.eq(id.as_uuid()))
            .order_by_asc(listing_event::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(audit_from_model)
            .collect()
    }

    /// Touches nothing but answers whether any listing exists (seeding runs once).
    pub async fn has_listings(&self) -> Result<bool, StoreError> {
        let first: Option<Uuid> =
            listing::Entity::find().select_only().column(listing::Column::Id).into_tuple().one(&self.db).await?;
        Ok(first.is_some())
    }
}

/// The first `limit` of `rows` (read with one more than `limit`), and whether more follow.
fn page_of(rows: Vec<listing::Model>, limit: u64) -> Result<(Vec<Listing>, bool), StoreError> {
    let more = rows.len() as u64 > limit;
    let items = rows.into_iter().take(limit as usize).map(from_model).collect::<Result<Vec<_>, _>>()?;
    Ok((items, more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use achex_core::LangText;

    fn event(topic: Topic, payload: serde_json::Value) -> crate::OutboxEvent {
        crate::OutboxEvent {
            position: 1,
            event_id: Uuid::now_v7(),
            topic,
            kind: "approved".into(),
            subject: Uuid::now_v7(),
            payload,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_listing_event_carries_its_title_and_author_and_an_older_one_does_not() {
        let author = Uuid::now_v7();
        let title = LangText::zh("锂电池正极材料");
        let carried =
            event(Topic::Listing, serde_json::json!({"status": "published", "title": title, "created_by": author}));
        assert_eq!(
            ListingTitle::carried_by(&carried),
            Some(ListingTitle { title: title.clone(), created_by: author.into() })
        );
        let older = event(Topic::Listing, serde_json::json!({"status": "published", "version": 3}));
        assert_eq!(ListingTitle::carried_by(&older), None);
        let other_topic = event(Topic::Auction, serde_json::json!({"title": title, "created_by": author}));
        assert_eq!(ListingTitle::carried_by(&other_topic), None);
    }
}
