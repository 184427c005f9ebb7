//! Saved searches: a user's query and filters, kept as the client stated them (the API validates
//! them before they get here), with how often the user wants to hear about new matches.

use crate::connection::Store;
use crate::entity::{saved_search, user};
use crate::error::StoreError;
use achex_core::{SavedSearchId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

#[derive(Debug, Clone, PartialEq)]
pub struct SavedSearch {
    pub id: SavedSearchId,
    pub user_id: UserId,
    pub name: String,
    /// The search parameters, as the API's `SearchParams` serialises them.
    pub query: serde_json::Value,
    /// `off`, `immediate` or `daily`.
    pub alert: String,
    pub created_at: DateTime<Utc>,
    pub last_alerted_at: Option<DateTime<Utc>>,
}

impl From<saved_search::Model> for SavedSearch {
    fn from(m: saved_search::Model) -> Self {
        SavedSearch {
            id: m.id.into(),
            user_id: m.user_id.into(),
            name: m.name,
            query: m.query,
            alert: m.alert,
            created_at: m.created_at,
            last_alerted_at: m.last_alerted_at,
        }
    }
}

impl Store {
    /// Stores a saved search unless the user already has `max_per_user`
    /// ([`StoreError::Duplicate`] `"saved_search_limit"`); the count and the insert share one
    /// write transaction, so concurrent requests cannot overshoot.
    pub async fn insert_saved_search(&self, search: &SavedSearch, max_per_user: u64) -> Result<(), StoreError> {
        let tx = self.write().await?;
        // SQLite's write transaction already excludes other writers; PostgreSQL needs the user's
        // row locked, or concurrent requests would all count 49 and all insert.
        if tx.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            user::Entity::find_by_id(search.user_id.as_uuid()).lock_exclusive().one(&tx).await?;
        }
        let existing = saved_search::Entity::find()
            .filter(saved_search::Column::UserId.eq(search.user_id.as_uuid()))
            .count(&tx)
            .await?;
        if existing >= max_per_user {
            return Err(StoreError::Duplicate("saved_search_limit"));
        }
        saved_search::ActiveModel {
            id: Set(search.id.as_uuid()),
            user_id: Set(search.user_id.as_uuid()),
            name: Set(search.name.clone()),
            query: Set(search.query.clone()),
            alert: Set(search.alert.clone()),
            created_at: Set(search.created_at),
            last_alerted_at: Set(search.last_alerted_at),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's saved searches, newest first.
    pub async fn saved_searches(&self, user: UserId) -> Result<Vec<SavedSearch>, StoreError> {
        Ok(saved_search::Entity::find()
            .filter(saved_search::Column::UserId.eq(user.as_uuid()))
            .order_by_desc(saved_search::Column::CreatedAt)
            .order_by_desc(saved_search::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every saved search with alerts of this frequency (`immediate` or `daily`).
    pub async fn saved_searches_with_alert(&self, alert: &str) -> Result<Vec<SavedSearch>, StoreError> {
        Ok(saved_search::Entity::find()
            .filter(saved_search::Column::Alert.eq(alert))
            .order_by_asc(saved_search::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One of `user`'s saved searches; someone else's is [`StoreError::NotFound`].
    pub async fn saved_search(&self, user: UserId, id: SavedSearchId) -> Result<SavedSearch, StoreError> {
        saved_search::Entity::find_by_id(id.as_uuid())
            .filter(saved_search::Column::UserId.eq(user.as_uuid()))
            .one(&self.db)
            .await?
            .map(Into::into)
            .ok_or(StoreError::NotFound)
    }

    /// Deletes one of `user`'s saved searches; someone else's is [`StoreError::NotFound`].
    pub async fn delete_saved_search(&self, user: UserId, id: SavedSearchId) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let deleted = saved_search::Entity::delete_many()
            .filter(saved_search::Column::Id.eq(id.as_uuid()))
            .filter(saved_search::Column::UserId.eq(user.as_uuid()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        if deleted.rows_affected == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Records that alerts for this search were sent up to `at`.
    pub async fn mark_saved_search_alerted(&self, id: SavedSearchId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.write().await?;
        saved_search::Entity::update_many()
            .col_expr(saved_search::Column::LastAlertedAt, Expr::value(at))
            .filter(saved_search::Column::Id.eq(id.as_uuid()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
