//! Response bodies. Domain and store types are never serialized directly: these views decide
//! exactly what each audience sees (no password hashes, no other organisation's invite code).

use achex_core::{AttachmentId, Lang, ListingId, OrganizationId, OrganizationKind, Role, UserId};
use achex_listing::{AuditEntry, Listing, ListingContent, ListingStatus};
use achex_store::{Attachment, Organization, User};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: OrganizationId,
    pub name: String,
    pub kind: OrganizationKind,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Only shown to the organisation's own members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

impl OrganizationView {
    pub fn public(org: Organization) -> Self {
        Self::build(org, false)
    }

    pub fn for_member(org: Organization) -> Self {
        Self::build(org, true)
    }

    fn build(org: Organization, member: bool) -> Self {
        OrganizationView {
            id: org.id,
            name: org.name,
            kind: org.kind,
            verified: org.verified,
            verified_at: org.verified_at,
            created_at: org.created_at,
            invite_code: member.then_some(org.invite_code),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub language: Lang,
    pub created_at: DateTime<Utc>,
    pub organization: OrganizationView,
}

impl MeView {
    pub fn new(user: User, org: Organization) -> Self {
        MeView {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            language: user.language,
            created_at: user.created_at,
            organization: OrganizationView::for_member(org),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredView {
    pub user: MeView,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstituteRef {
    pub id: OrganizationId,
    pub name: String,
    pub verified: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: AttachmentId,
    pub file_name: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    /// Where to download it.
    pub url: String,
}

impl From<Attachment> for AttachmentView {
    fn from(a: Attachment) -> Self {
        AttachmentView {
            url: format!("/api/v1/attachments/{}", a.id),
            id: a.id,
            file_name: a.file_name,
            size: a.size,
            content_type: a.content_type,
            sha256: a.sha256,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingView {
    pub id: ListingId,
    pub status: ListingStatus,
    pub institute: InstituteRef,
    #[serde(flatten)]
    pub content: ListingContent,
    /// The reviewer's reason, shown to the owner while the listing is rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    /// Increases on every change; send it back in `If-Match` to edit safely.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentView>>,
}

impl ListingView {
    pub fn new(listing: Listing, institute: InstituteRef, attachments: Option<Vec<AttachmentView>>) -> Self {
        ListingView {
            id: listing.id,
            status: listing.status,
            institute,
            content: listing.content,
            rejection_reason: listing.rejection_reason,
            version: listing.version,
            created_at: listing.created_at,
            updated_at: listing.updated_at,
            published_at: listing.published_at,
            attachments,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingPageView {
    pub items: Vec<ListingView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub action: String,
    pub actor_id: Option<UserId>,
    pub from_status: Option<ListingStatus>,
    pub to_status: ListingStatus,
    /// Names of the content fields the change touched.
    pub changed_fields: Vec<String>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        AuditEntryView {
            action: e.action.as_str().to_owned(),
            actor_id: e.actor_id,
            from_status: e.from_status,
            to_status: e.to_status,
            changed_fields: e.changed_fields,
            reason: e.reason,
            at: e.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub listing_id: ListingId,
    pub entries: Vec<AuditEntryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}
