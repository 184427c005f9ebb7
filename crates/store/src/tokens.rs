//! Refresh tokens. Only a SHA-256 of each token is stored, so a copy of the database cannot be
//! replayed. Tokens form families: each refresh rotates to a new token of the same family, and
//! presenting an already-rotated token revokes the whole family (a stolen token is detected the
//! moment either the thief or the owner uses it a second time).

use crate::connection::Store;
use crate::entity::refresh_token;
use crate::error::StoreError;
use achex_core::UserId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<refresh_token::Model> for RefreshToken {
    fn from(m: refresh_token::Model) -> Self {
        RefreshToken {
            id: m.id,
            user_id: m.user_id.into(),
            family_id: m.family_id,
            expires_at: m.expires_at,
            used_at: m.used_at,
            revoked_at: m.revoked_at,
        }
    }
}

impl Store {
    pub async fn insert_refresh_token(
        &self,
        user_id: UserId,
        family_id: Uuid,
        token_hash: String,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        refresh_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id.as_uuid()),
            family_id: Set(family_id),
            token_hash: Set(token_hash),
            issued_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn refresh_token_by_hash(&self, token_hash: &str) -> Result<RefreshToken, StoreError> {
        Ok(refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?
            .into())
    }

    /// Marks a token used and issues its successor atomically. Returns `Stale` when the token was
    /// already used or revoked: the conditional UPDATE makes two racing refreshes with the same
    /// token produce exactly one successor.
    pub async fn rotate_refresh_token(
        &self,
        old: &RefreshToken,
        new_hash: String,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let updated = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(old.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&tx)
            .await?;
        if updated.rows_affected != 1 {
            return Err(StoreError::Stale);
        }
        refresh_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(old.user_id.as_uuid()),
            family_id: Set(old.family_id),
            token_hash: Set(new_hash),
            issued_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn revoke_refresh_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let tx = self.write().await?;
        let result = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected)
    }
}
