//! A listing as stored: its content plus what the platform tracks about it.

use crate::content::ListingContent;
use crate::lifecycle::{Action, LifecycleError, ListingStatus};
use achex_core::{ListingId, OrganizationId, UserId};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub id: ListingId,
    /// The institute that owns the achievement; only its staff may edit or withdraw it.
    pub institute_id: OrganizationId,
    pub created_by: UserId,
    pub status: ListingStatus,
    pub content: ListingContent,
    /// The reviewer's reason for the latest rejection, cleared when the listing is revised.
    pub rejection_reason: Option<String>,
    /// Bumped on every change; writes carry the version they read (optimistic concurrency).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// One line of the audit trail: who did what, when, and which fields it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub listing_id: ListingId,
    pub actor_id: Option<UserId>,
    pub action: AuditAction,
    pub from_status: Option<ListingStatus>,
    pub to_status: ListingStatus,
    pub changed_fields: Vec<String>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Created,
    Edited,
    Submitted,
    Approved,
    Rejected,
    Withdrawn,
    AttachmentAdded,
}

impl AuditAction {
    pub const ALL: [AuditAction; 7] = [
        AuditAction::Created,
        AuditAction::Edited,
        AuditAction::Submitted,
        AuditAction::Approved,
        AuditAction::Rejected,
        AuditAction::Withdrawn,
        AuditAction::AttachmentAdded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Created => "created",
            AuditAction::Edited => "edited",
            AuditAction::Submitted => "submitted",
            AuditAction::Approved => "approved",
            AuditAction::Rejected => "rejected",
            AuditAction::Withdrawn => "withdrawn",
            AuditAction::AttachmentAdded => "attachment_added",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl Listing {
    /// A new draft owned by `institute_id`. The content must already be valid.
    pub fn new_draft(
        institute_id: OrganizationId,
        created_by: UserId,
        content: ListingContent,
        now: DateTime<Utc>,
    ) -> (Listing, AuditEntry) {
        let listing = Listing {
            id: ListingId::new(),
            institute_id,
            created_by,
            status: ListingStatus::Draft,
            content,
            rejection_reason: None,
            version: 1,
            created_at: now,
            updated_at: now,
            published_at: None,
        };
        let entry = AuditEntry {
            listing_id: listing.id,
            actor_id: Some(created_by),
            action: AuditAction::Created,
            from_status: None,
            to_status: ListingStatus::Draft,
            changed_fields: Vec::new(),
            reason: None,
            at: now,
        };
        (listing, entry)
    }

    /// Applies a lifecycle action and returns the audit entry that records it. The caller has
    /// already checked *who* may act; this checks *whether* the action fits the status.
    pub fn apply(
        &mut self,
        action: Action,
        actor: UserId,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, LifecycleError> {
        let from = self.status;
        let to = from.apply(action)?;
        self.status = to;
        self.version += 1;
        self.updated_at = now;
        match action {
            Action::Approve => {
                self.published_at = Some(now);
                self.rejection_reason = None;
            }
            Action::Reject => self.rejection_reason = reason.clone(),
            Action::Edit => self.rejection_reason = None,
            Action::Submit | Action::Withdraw => {}
        }
        let audit_action = match action {
            Action::Edit => AuditAction::Edited,
            Action::Submit => AuditAction::Submitted,
            Action::Approve => AuditAction::Approved,
            Action::Reject => AuditAction::Rejected,
            Action::Withdraw => AuditAction::Withdrawn,
        };
        Ok(AuditEntry {
            listing_id: self.id,
            actor_id: Some(actor),
            action: audit_action,
            from_status: Some(from),
            to_status: to,
            changed_fields: Vec::new(),
            reason,
            at: now,
        })
    }
}
