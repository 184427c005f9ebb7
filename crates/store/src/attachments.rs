//! Attachment metadata. The bytes live on disk under the data directory, named by their SHA-256,
//! so the same PDF uploaded twice is stored once.

use crate::connection::Store;
use crate::entity::attachment;
use crate::error::StoreError;
use crate::listings::append_audit;
use achex_core::{AttachmentId, ListingId, UserId};
use achex_listing::AuditEntry;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub listing_id: ListingId,
    pub sha256: String,
    pub file_name: String,
    pub size: i64,
    pub content_type: String,
    pub uploaded_by: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub listing_id: ListingId,
    pub sha256: String,
    pub file_name: String,
    pub size: i64,
    pub content_type: String,
    pub uploaded_by: UserId,
}

impl From<attachment::Model> for Attachment {
    fn from(m: attachment::Model) -> Self {
        Attachment {
            id: m.id.into(),
            listing_id: m.listing_id.into(),
            sha256: m.sha256,
            file_name: m.file_name,
            size: m.size,
            content_type: m.content_type,
            uploaded_by: m.uploaded_by.into(),
            created_at: m.created_at,
        }
    }
}

impl Store {
    pub async fn insert_attachment(
        &self,
        new: NewAttachment,
        entry: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Attachment, StoreError> {
        let tx = self.write().await?;
        let model = attachment::ActiveModel {
            id: Set(AttachmentId::new().as_uuid()),
            listing_id: Set(new.listing_id.as_uuid()),
            sha256: Set(new.sha256),
            file_name: Set(new.file_name),
            size: Set(new.size),
            content_type: Set(new.content_type),
            uploaded_by: Set(new.uploaded_by.as_uuid()),
            created_at: Set(now),
        }
        .insert(&tx)
        .await?;
        append_audit(&tx, entry).await?;
        tx.commit().await?;
        Ok(model.into())
    }

    pub async fn attachment(&self, id: AttachmentId) -> Result<Attachment, StoreError> {
        Ok(attachment::Entity::find_by_id(id.as_uuid()).one(&self.db).await?.ok_or(StoreError::NotFound)?.into())
    }

    pub async fn listing_attachments(&self, listing: ListingId) -> Result<Vec<Attachment>, StoreError> {
        Ok(attachment::Entity::find()
            .filter(attachment::Column::ListingId.eq(listing.as_uuid()))
            .order_by_asc(attachment::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
