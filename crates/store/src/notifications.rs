//! Notifications: the inbox, the e-mail deliveries and the preferences behind them.
//!
//! The fan-out turns outbox events into one inbox row per (event, user) and one delivery row per
//! channel that needs sending. Both keys are derived from the event, so a fan-out that runs twice
//! (two processes, or one restarted before it marked its events processed) inserts nothing new:
//! users never get two copies.
//!
//! Deliveries are claimed with a lease (`claimed_until`): a sender that dies mid-send loses its
//! claim when the lease runs out and another sender (or the same process after a restart) retries.
//! A fan-out may write a delivery already claimed for its own senders ([`EmailClaim`]).

use crate::connection::Store;
use crate::entity::{notification, notification_delivery, notification_preference, outbox};
use crate::error::StoreError;
use crate::outbox::OutboxEvent;
use achex_core::{Lang, NotificationId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

/// The person a notification goes to, as the dispatcher needs them (see [`Store::recipients`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientAccount {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub language: Lang,
    /// Neither disabled nor deleted.
    pub active: bool,
    /// As stored by the user; `None` when they never changed the defaults.
    pub preferences: Option<serde_json::Value>,
}

/// The channel deliveries are queued for (the inbox needs none: the row is the delivery, and the
/// live channel is pushed in-process after the commit).
pub const EMAIL: &str = "email";

/// A notification the fan-out derived from an event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Identity of what happened, the same for every process that derives it.
    pub event_id: Uuid,
    pub user_id: UserId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Queue an e-mail (the user's preferences allow it).
    pub email: bool,
}

impl NewNotification {
    /// The inbox row's id: derived from the event and the user, so re-deriving it collides.
    pub fn id(&self) -> NotificationId {
        notification_id(self.event_id, self.user_id)
    }
}

pub fn notification_id(event_id: Uuid, user: UserId) -> NotificationId {
    let mut name = event_id.as_bytes().to_vec();
    name.extend_from_slice(user.as_uuid().as_bytes());
    Uuid::new_v5(&NOTIFICATION_NAMESPACE, &name).into()
}

const NOTIFICATION_NAMESPACE: Uuid = Uuid::from_u128(0x6e6f_7469_6669_6361_7469_6f6e_7321_0001);

/// An inbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNotification {
    pub id: NotificationId,
    pub event_id: Uuid,
    pub user_id: UserId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<notification::Model> for StoredNotification {
    fn from(m: notification::Model) -> Self {
        StoredNotification {
            id: m.id.into(),
            event_id: m.event_id,
            user_id: m.user_id.into(),
            kind: m.kind,
            payload: m.payload,
            created_at: m.created_at,
            read_at: m.read_at,
        }
    }
}

/// A claimed delivery from a claim's row (`payload` decoded by the caller, per backend).
fn due_delivery(row: &sea_orm::QueryResult, payload: serde_json::Value) -> Result<DueDelivery, StoreError> {
    Ok(DueDelivery {
        notification: StoredNotification {
            id: row.try_get::<Uuid>("", "id")?.into(),
            event_id: row.try_get("", "event_id")?,
            user_id: row.try_get::<Uuid>("", "user_id")?.into(),
            kind: row.try_get("", "kind")?,
            payload,
            created_at: row.try_get("", "created_at")?,
            read_at: row.try_get("", "read_at")?,
        },
        attempts: row.try_get("", "attempts")?,
    })
}

/// E-mail deliveries a fan-out writes already claimed, until `until`, for its own process to
/// send: a claim written with the row costs nothing, where claiming it afterwards was a
/// statement that read the notification back (`bench-notify`: 40 µs of the database's thread
/// per mail, the largest step of the e-mail path). At most `at_most`, so that a process that
/// dies holding them delays few mails by a lease; the others are claimed as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailClaim {
    pub until: DateTime<Utc>,
    pub at_most: usize,
}

impl EmailClaim {
    /// Claims nothing: every delivery is left to [`Store::claim_due_emails`].
    pub const NONE: EmailClaim = EmailClaim { until: DateTime::<Utc>::MIN_UTC, at_most: 0 };
}

/// What [`Store::record_fan_out`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedFanOut {
    /// Notifications that were new (for the live channel).
    pub fresh: Vec<NotificationId>,
    /// Their e-mail deliveries written claimed for the caller.
    pub claimed: Vec<NotificationId>,
}

/// Serialises fan-out transactions on PostgreSQL (see [`Store::record_fan_out`]).
const FAN_OUT_LOCK: i64 = 0x6163_6865_785f_666f; // "achex_fo"

/// A timestamp as PostgreSQL stores it (microseconds, truncated as sqlx truncates a bound one).
fn pg_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn existing_notifications_postgres(
    tx: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let sql = "SELECT id FROM notifications WHERE id IN (SELECT value::uuid FROM json_array_elements_text($1::json))";
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows = tx
        .query_all_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, [ids.into()]))
        .await?;
    rows.iter().map(|row| Ok(row.try_get::<Uuid>("", "id")?)).collect()
}

/// The inbox rows and e-mail deliveries of one fan-out chunk, on PostgreSQL: two statements,
/// each reading its rows from one JSON parameter.
async fn insert_fan_out_postgres(
    tx: &impl ConnectionTrait,
    new: &[&NewNotification],
    emails: &[(&NewNotification, Option<DateTime<Utc>>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let rows: Vec<serde_json::Value> = new
        .iter()
        .map(|n| {
            serde_json::json!({
                "id": n.id().as_uuid(),
                "event_id": n.event_id,
                "user_id": n.user_id.as_uuid(),
                "kind": n.kind,
                "payload": n.payload,
                "created_at": pg_time(n.created_at),
            })
        })
        .collect();
    let sql = "INSERT INTO notifications (id, event_id, user_id, kind, payload, created_at, read_at) \
               SELECT id, event_id, user_id, kind, payload, created_at, NULL \
               FROM json_to_recordset($1::json) \
                 AS r(id uuid, event_id uuid, user_id uuid, kind text, payload json, created_at timestamptz) \
               ON CONFLICT (event_id, user_id) DO NOTHING";
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, [rows.into()]))
        .await?;
    if emails.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = emails
        .iter()
        .map(|(n, claimed_until)| {
            serde_json::json!({
                "id": n.id().as_uuid(),
                "user_id": n.user_id.as_uuid(),
                "claimed_until": claimed_until.map(pg_time),
            })
        })
        .collect();
    let sql = "INSERT INTO notification_deliveries \
                 (notification_id, channel, user_id, status, attempts, next_attempt_at, claimed_until, \
                  last_error, sent_at, created_at) \
               SELECT id, $2, user_id, 'pending', 0, $3, claimed_until, NULL, NULL, $3 \
               FROM json_to_recordset($1::json) AS r(id uuid, user_id uuid, claimed_until timestamptz) \
               ON CONFLICT (notification_id, channel) DO NOTHING";
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        sql,
        [rows.into(), EMAIL.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// The inbox rows and e-mail deliveries of one fan-out chunk, through sea-orm (SQLite).
async fn insert_fan_out_portable(
    tx: &impl ConnectionTrait,
    new: &[&NewNotification],
    emails: &[(&NewNotification, Option<DateTime<Utc>>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    notification::Entity::insert_many(new.iter().map(|n| notification::ActiveModel {
        id: Set(n.id().as_uuid()),
        event_id: Set(n.event_id),
        user_id: Set(n.user_id.as_uuid()),
        kind: Set(n.kind.clone()),
        payload: Set(n.payload.clone()),
        created_at: Set(n.created_at),
        read_at: Set(None),
    }))
    .on_conflict(
        OnConflict::columns([notification::Column::EventId, notification::Column::UserId]).do_nothing().to_owned(),
    )
    .try_insert()
    .exec_without_returning(tx)
    .await?;
    if emails.is_empty() {
        return Ok(());
    }
    notification_delivery::Entity::insert_many(emails.iter().map(|(n, claimed_until)| {
        notification_delivery::ActiveModel {
            notification_id: Set(n.id().as_uuid()),
            channel: Set(EMAIL.to_owned()),
            user_id: Set(n.user_id.as_uuid()),
            status: Set("pending".to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            claimed_until: Set(*claimed_until),
            last_error: Set(None),
            sent_at: Set(None),
            created_at: Set(now),
        }
    }))
    .on_conflict(
        OnConflict::columns([notification_delivery::Column::NotificationId, notification_delivery::Column::Channel])
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// Position in a user's inbox (newest first): the last row's `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCursor {
    pub created_at: DateTime<Utc>,
    pub id: NotificationId,
}

/// An e-mail to send now, with what is needed to render it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub notification: StoredNotification,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// A delivery that failed too often and waits for an administrator.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedDelivery {
    pub notification_id: NotificationId,
    pub user_id: UserId,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Outbox events no fan-out has processed yet, oldest first.
    pub async fn unprocessed_outbox(&self, limit: u64) -> Result<Vec<OutboxEvent>, StoreError> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::ProcessedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(crate::outbox::event).collect()
    }

    /// Writes what the fan-out derived from `events` and marks them processed, in one
    /// transaction. Rows that already exist are left alone. Returns the notifications that were
    /// new (for the live channel) and the e-mail deliveries this transaction wrote already
    /// claimed for the caller (see [`EmailClaim`]).
    ///
    /// Two fan-outs never write at once (SQLite's write lock; on PostgreSQL an advisory lock
    /// taken first), so the rows found missing are exactly the rows this transaction inserts:
    /// of two fan-outs of one event, only the first claims its mail.
    pub async fn record_fan_out(
        &self,
        events: &[i64],
        notifications: &[NewNotification],
        now: DateTime<Utc>,
        claim: EmailClaim,
    ) -> Result<RecordedFanOut, StoreError> {
        let tx = self.write().await?;
        let postgres = tx.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        if postgres {
            tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({FAN_OUT_LOCK})")).await?;
        }
        let mut recorded = RecordedFanOut::default();
        let mut claim_budget = claim.at_most;
        // PostgreSQL takes a round's rows as one JSON document per statement: a multi-row VALUES
        // list of 1,400 parameters cost it more to parse and plan than to insert.
        let chunk_size = if postgres { 1_000 } else { 200 };
        for chunk in notifications.chunks(chunk_size) {
            let ids: Vec<Uuid> = chunk.iter().map(|n| n.id().as_uuid()).collect();
            let existing: std::collections::HashSet<Uuid> = if postgres {
                existing_notifications_postgres(&tx, &ids).await?
            } else {
                notification::Entity::find()
                    .select_only()
                    .column(notification::Column::Id)
                    .filter(notification::Column::Id.is_in(ids))
                    .into_tuple()
                    .all(&tx)
                    .await?
                    .into_iter()
                    .collect()
            };
            let new: Vec<&NewNotification> = chunk.iter().filter(|n| !existing.contains(&n.id().as_uuid())).collect();
            if new.is_empty() {
                continue;
            }
            let emails: Vec<(&NewNotification, Option<DateTime<Utc>>)> = new
                .iter()
                .filter(|n| n.email)
                .map(|&n| {
                    let claimed = claim_budget > 0;
                    claim_budget -= usize::from(claimed);
                    (n, claimed.then_some(claim.until))
                })
                .collect();
            if postgres {
                insert_fan_out_postgres(&tx, &new, &emails, now).await?;
            } else {
                insert_fan_out_portable(&tx, &new, &emails, now).await?;
            }
            recorded.fresh.extend(new.iter().map(|n| n.id()));
            recorded.claimed.extend(emails.iter().filter(|(_, until)| until.is_some()).map(|(n, _)| n.id()));
        }
        for chunk in events.chunks(500) {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::ProcessedAt, Expr::value(now))
                .filter(outbox::Column::Id.is_in(chunk.iter().copied()))
                .filter(outbox::Column::ProcessedAt.is_null())
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Notifications written outside the outbox (saved-search alerts, reminders), idempotently.
    pub async fn insert_notifications(
        &self,
        notifications: &[NewNotification],
        now: DateTime<Utc>,
        claim: EmailClaim,
    ) -> Result<RecordedFanOut, StoreError> {
        self.record_fan_out(&[], notifications, now, claim).await
    }

    pub async fn notifications_by_ids(&self, ids: &[NotificationId]) -> Result<Vec<StoredNotification>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let uuids: Vec<Uuid> = chunk.iter().map(|i| i.as_uuid()).collect();
            out.extend(
                notification::Entity::find()
                    .filter(notification::Column::Id.is_in(uuids))
                    .all(&self.db)
                    .await?
                    .into_iter()
                    .map(StoredNotification::from),
            );
        }
        Ok(out)
    }

    /// A page of `user`'s inbox, newest first.
    pub async fn inbox(
        &self,
        user: UserId,
        unread_only: bool,
        after: Option<InboxCursor>,
        limit: u64,
    ) -> Result<(Vec<StoredNotification>, Option<InboxCursor>), StoreError> {
        let mut query = notification::Entity::find().filter(notification::Column::UserId.eq(user.as_uuid()));
        if unread_only {
            query = query.filter(notification::Column::ReadAt.is_null());
        }
        if let Some(cursor) = after {
            query = query.filter(
                Condition::any().add(notification::Column::CreatedAt.lt(cursor.created_at)).add(
                    Condition::all()
                        .add(notification::Column::CreatedAt.eq(cursor.created_at))
                        .add(notification::Column::Id.lt(cursor.id.as_uuid())),
                ),
            );
        }
        let rows = query
            .order_by_desc(notification::Column::CreatedAt)
            .order_by_desc(notification::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > limit;
        let items: Vec<StoredNotification> = rows.into_iter().take(limit as usize).map(Into::into).collect();
        let next = if more { items.last().map(|n| InboxCursor { created_at: n.created_at, id: n.id }) } else { None };
        Ok((items, next))
    }

    pub async fn unread_count(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(notification::Entity::find()
            .filter(notification::Column::UserId.eq(user.as_uuid()))
            .filter(notification::Column::ReadAt.is_null())
            .count(&self.db)
            .await?)
    }

    /// Marks one of `user`'s notifications read (idempotent); someone else's is `NotFound`.
    pub async fn mark_notification_read(
        &self,
        user: UserId,
        id: NotificationId,
        now: DateTime<Utc>,
    ) -> Result<StoredNotification, StoreError> {
        let tx = self.write().await?;
        let row = notification::Entity::find_by_id(id.as_uuid())
            .filter(notification::Column::UserId.eq(user.as_uuid()))
            .one(&tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if row.read_at.is_none() {
            notification::Entity::update_many()
                .col_expr(notification::Column::ReadAt, Expr::value(now))
                .filter(notification::Column::Id.eq(id.as_uuid()))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        let mut stored = StoredNotification::from(row);
        stored.read_at.get_or_insert(now);
        Ok(stored)
    }

    /// Marks all of `user`'s notifications read; returns how many were unread.
    pub async fn mark_all_notifications_read(&self, user: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let tx = self.write().await?;
        let result = notification::Entity::update_many()
            .col_expr(notification::Column::ReadAt, Expr::value(now))
            .filter(notification::Column::UserId.eq(user.as_uuid()))
            .filter(notification::Column::ReadAt.is_null())
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected)
    }

    /// Claims up to `limit` e-mails that are due, for `lease`, oldest first. The claim's UPDATE is
    /// conditioned on the old lease, so two senders never hold the same delivery.
    pub async fn claim_due_emails(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        match self.backend() {
            sea_orm::DatabaseBackend::Postgres => self.claim_due_emails_in_one_statement(now, lease, limit).await,
            _ => self.claim_due_emails_in_one_sqlite_statement(now, lease, limit).await,
        }
    }

    /// [`Store::claim_due_emails`] on PostgreSQL: one statement, so one round trip and one
    /// implicit transaction, where a portable claim took five (select, begin, update, commit,
    /// read the notifications). `FOR UPDATE SKIP LOCKED` leaves rows another sender is
    /// claiming at this moment to it; rows it claimed and committed fail the lease condition.
    async fn claim_due_emails_in_one_statement(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let sql = "WITH due AS ( \
                SELECT notification_id FROM notification_deliveries \
                WHERE channel = $1 AND status = 'pending' AND next_attempt_at <= $2 \
                  AND (claimed_until IS NULL OR claimed_until < $2) \
                ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
            claimed AS ( \
                UPDATE notification_deliveries d SET claimed_until = $4 FROM due \
                WHERE d.notification_id = due.notification_id AND d.channel = $1 \
                RETURNING d.notification_id, d.attempts) \
            SELECT n.id, n.event_id, n.user_id, n.kind, n.payload, n.created_at, n.read_at, claimed.attempts \
            FROM claimed JOIN notifications n ON n.id = claimed.notification_id \
            ORDER BY n.created_at, n.id";
        let values: Vec<sea_orm::Value> =
            vec![EMAIL.into(), now.into(), i64::try_from(limit).unwrap_or(i64::MAX).into(), (now + lease).into()];
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values))
            .await?;
        rows.iter().map(|row| due_delivery(row, row.try_get("", "payload")?)).collect()
    }

    /// [`Store::claim_due_emails`] on SQLite: one `UPDATE … RETURNING`, whose returned rows
    /// carry their notifications (read by primary key in the same statement). One hand-over to
    /// the connection's worker thread and a row per mail, where a portable claim took five
    /// hand-overs (select, begin, update, commit, read the notifications) and three rows per
    /// mail: a claim of 64 took 5 ms, a fifth of a sender's round. A statement that writes takes
    /// the write lock before it reads, so the due rows it picks cannot be claimed by another
    /// process in between; rows claimed before it fail the lease condition.
    async fn claim_due_emails_in_one_sqlite_statement(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let notification = |column: &str| {
            format!(
                "(SELECT n.{column} FROM notifications n WHERE n.id = notification_deliveries.notification_id) AS {column}"
            )
        };
        let sql = format!(
            "UPDATE notification_deliveries SET claimed_until = ? \
             WHERE channel = ? AND notification_id IN ( \
                SELECT notification_id FROM notification_deliveries \
                WHERE channel = ? AND status = 'pending' AND next_attempt_at <= ? \
                  AND (claimed_until IS NULL OR claimed_until < ?) \
                ORDER BY next_attempt_at LIMIT ?) \
             RETURNING notification_deliveries.notification_id AS id, notification_deliveries.attempts AS attempts, {}",
            ["event_id", "user_id", "kind", "payload", "created_at", "read_at"].map(notification).join(", ")
        );
        let values: Vec<sea_orm::Value> = vec![
            (now + lease).into(),
            EMAIL.into(),
            EMAIL.into(),
            now.into(),
            now.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ];
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Sqlite, sql, values))
            .await?;
        let mut due = rows
            .iter()
            .map(|row| {
                // An expression's value comes back as SQLite stored it: the JSON's text.
                let payload = serde_json::from_str(&row.try_get::<String>("", "payload")?)
                    .map_err(|e| StoreError::Corrupt(format!("a notification's payload: {e}")))?;
                due_delivery(row, payload)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING gives no order; mail goes out oldest first, as on PostgreSQL.
        due.sort_by_key(|d| (d.notification.created_at, d.notification.id));
        Ok(due)
    }

    /// Gives up claims on e-mails not sent yet: each of `ids` still pending and claimed until
    /// `held_until` or earlier (a later claim is someone else's) is due again at once.
    pub async fn release_email_claims(
        &self,
        ids: &[NotificationId],
        held_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self.write().await?;
        for chunk in ids.chunks(500) {
            notification_delivery::Entity::update_many()
                .col_expr(notification_delivery::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .filter(notification_delivery::Column::NotificationId.is_in(chunk.iter().map(|id| id.as_uuid())))
                .filter(notification_delivery::Column::Channel.eq(EMAIL))
                .filter(notification_delivery::Column::Status.eq("pending"))
                .filter(notification_delivery::Column::ClaimedUntil.lte(held_until))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a sent e-mail.
    pub async fn email_sent(&self, id: NotificationId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.finish_email(id, "sent", None, None, Some(now)).await
    }

    /// Records many sent e-mails in one transaction: one durable commit for a round of mail
    /// instead of one per message.
    pub async fn emails_sent(&self, ids: &[NotificationId], now: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self.write().await?;
        for chunk in ids.chunks(500) {
            notification_delivery::Entity::update_many()
                .col_expr(notification_delivery::Column::Status, Expr::value("sent"))
                .col_expr(notification_delivery::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .col_expr(notification_delivery::Column::SentAt, Expr::value(now))
                .filter(notification_delivery::Column::NotificationId.is_in(chunk.iter().map(|id| id.as_uuid())))
                .filter(notification_delivery::Column::Channel.eq(EMAIL))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retry at `retry_at`, or park the delivery when `None`.
    pub async fn email_failed(
        &self,
        id: NotificationId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let status = if retry_at.is_some() { "pending" } else { "parked" };
        self.finish_email(id, status, Some(error), retry_at, None).await
    }

    /// Records that no e-mail is sent (the user turned e-mail off after it was queued, or has
    /// no usable address).
    pub async fn email_skipped(&self, id: NotificationId, reason: &str) -> Result<(), StoreError> {
        self.finish_email(id, "skipped", Some(reason), None, None).await
    }

    async fn finish_email(
        &self,
        id: NotificationId,
        status: &str,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
        sent_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let mut update = notification_delivery::Entity::update_many()
            .col_expr(notification_delivery::Column::Status, Expr::value(status))
            .col_expr(notification_delivery::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(notification_delivery::Column::NotificationId.eq(id.as_uuid()))
            .filter(notification_delivery::Column::Channel.eq(EMAIL));
        if let Some(error) = error {
            update = update
                .col_expr(
                    notification_delivery::Column::LastError,
                    Expr::value(error.chars().take(1_000).collect::<String>()),
                )
                .col_expr(
                    notification_delivery::Column::Attempts,
                    Expr::col(notification_delivery::Column::Attempts).add(1),
                );
        }
        if let Some(at) = retry_at {
            update = update.col_expr(notification_delivery::Column::NextAttemptAt, Expr::value(at));
        }
        if let Some(at) = sent_at {
            update = update.col_expr(notification_delivery::Column::SentAt, Expr::value(at));
        }
        update.exec(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries that gave up, newest first (for administrators).
    pub async fn parked_emails(&self, limit: u64) -> Result<Vec<ParkedDelivery>, StoreError> {
        let rows = notification_delivery::Entity::find()
            .filter(notification_delivery::Column::Status.eq("parked"))
            .order_by_desc(notification_delivery::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: Vec<NotificationId> = rows.iter().map(|r| r.notification_id.into()).collect();
        let kinds: std::collections::HashMap<NotificationId, String> =
            self.notifications_by_ids(&ids).await?.into_iter().map(|n| (n.id, n.kind)).collect();
        Ok(rows
            .into_iter()
            .map(|r| ParkedDelivery {
                notification_id: r.notification_id.into(),
                user_id: r.user_id.into(),
                kind: kinds.get(&r.notification_id.into()).cloned().unwrap_or_default(),
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Puts a parked delivery back in the queue (an administrator fixed the cause).
    pub async fn retry_parked_email(&self, id: NotificationId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let result = notification_delivery::Entity::update_many()
            .col_expr(notification_delivery::Column::Status, Expr::value("pending"))
            .col_expr(notification_delivery::Column::Attempts, Expr::value(0))
            .col_expr(notification_delivery::Column::NextAttemptAt, Expr::value(now))
            .filter(notification_delivery::Column::NotificationId.eq(id.as_uuid()))
            .filter(notification_delivery::Column::Status.eq("parked"))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        if result.rows_affected == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Counts of e-mail deliveries by status (metrics, tests, admin overview).
    pub async fn email_status_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> = notification_delivery::Entity::find()
            .select_only()
            .column(notification_delivery::Column::Status)
            .column_as(notification_delivery::Column::NotificationId.count(), "n")
            .filter(notification_delivery::Column::Channel.eq(EMAIL))
            .group_by(notification_delivery::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|(s, n)| (s, n as u64)).collect())
    }

    /// The user's stored preferences (JSON as the notification crate serialises them), if any.
    pub async fn notification_preferences(&self, user: UserId) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(notification_preference::Entity::find_by_id(user.as_uuid()).one(&self.db).await?.map(|m| m.preferences))
    }

    /// What notifying each of `users` needs: where and how to write to them, whether their
    /// account is active, and their stored preferences (`None`: the defaults). One query and one
    /// row back, aggregated by the database; users that do not exist are left out.
    pub async fn recipients(&self, users: &[UserId]) -> Result<Vec<RecipientAccount>, StoreError> {
        type Row = (Uuid, String, String, String, bool, Option<serde_json::Value>);
        let ids: Vec<Uuid> = users.iter().map(|u| u.as_uuid()).collect();
        let rows: Vec<Row> = self
            .json_rows_for_ids(
                &ids,
                (
                    "u.id, u.email, u.display_name, u.language, (NOT u.disabled AND u.deleted_at IS NULL), \
                     p.preferences",
                    "hex(u.id), u.email, u.display_name, u.language, \
                     json(CASE WHEN u.disabled = 0 AND u.deleted_at IS NULL THEN 'true' ELSE 'false' END), \
                     json(p.preferences)",
                ),
                (
                    "users u LEFT JOIN notification_preferences p ON p.user_id = u.id WHERE u.id",
                    "users u LEFT JOIN notification_preferences p ON p.user_id = u.id WHERE u.id",
                ),
                "recipients",
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, email, display_name, language, active, preferences)| RecipientAccount {
                id: id.into(),
                email,
                display_name,
                language: if language == "en" { Lang::En } else { Lang::Zh },
                active,
                preferences: preferences.filter(|p| !p.is_null()),
            })
            .collect())
    }

    pub async fn set_notification_preferences(
        &self,
        user: UserId,
        preferences: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        notification_preference::Entity::insert(notification_preference::ActiveModel {
            user_id: Set(user.as_uuid()),
            preferences: Set(preferences),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(notification_preference::Column::UserId)
                .update_columns([
                    notification_preference::Column::Preferences,
                    notification_preference::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
