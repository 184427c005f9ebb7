//! The review lifecycle of a listing:
//!
//! ```text
//! draft ──submit──▶ in_review ──approve──▶ published ──withdraw──▶ withdrawn
//!   ▲                   │
//!   └──revise── rejected ◀──reject──┘
//! ```
//!
//! Editing a rejected listing is its revision: it returns the listing to `draft`.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListingStatus {
    Draft,
    InReview,
    Published,
    Rejected,
    Withdrawn,
}

impl ListingStatus {
    pub const ALL: [ListingStatus; 5] = [
        ListingStatus::Draft,
        ListingStatus::InReview,
        ListingStatus::Published,
        ListingStatus::Rejected,
        ListingStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ListingStatus::Draft => "draft",
            ListingStatus::InReview => "in_review",
            ListingStatus::Published => "published",
            ListingStatus::Rejected => "rejected",
            ListingStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether the public (and every signed-in user) may see a listing in this status.
    pub fn is_public(self) -> bool {
        self == ListingStatus::Published
    }

    /// The status after `action`, or why the action is not allowed from here.
    pub fn apply(self, action: Action) -> Result<ListingStatus, LifecycleError> {
        use Action::*;
        use ListingStatus::*;
        match (self, action) {
            (Draft, Edit) => Ok(Draft),
            (Rejected, Edit) => Ok(Draft),
            (Draft, Submit) => Ok(InReview),
            (InReview, Approve) => Ok(Published),
            (InReview, Reject) => Ok(Rejected),
            (Published, Withdraw) => Ok(Withdrawn),
            (from, action) => Err(LifecycleError { from, action }),
        }
    }
}

impl fmt::Display for ListingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Edit,
    Submit,
    Approve,
    Reject,
    Withdraw,
}

impl Action {
    pub const ALL: [Action; 5] = [Action::Edit, Action::Submit, Action::Approve, Action::Reject, Action::Withdraw];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Edit => "edit",
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Withdraw => "withdraw",
        }
    }
}

/// An action that the listing's current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a listing that is {from} cannot be {}", past_tense(*action))]
pub struct LifecycleError {
    pub from: ListingStatus,
    pub action: Action,
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Edit => "edited",
        Action::Submit => "submitted",
        Action::Approve => "approved",
        Action::Reject => "rejected",
        Action::Withdraw => "withdrawn",
    }
}

impl LifecycleError {
    /// The stable error code clients switch on; it names the status the action needs.
    pub fn code(&self) -> &'static str {
        match self.action {
            Action::Edit => "listing_not_editable",
            Action::Submit => "listing_not_draft",
            Action::Approve | Action::Reject => "listing_not_in_review",
            Action::Withdraw => "listing_not_published",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_publishes_then_withdraws() {
        let s = ListingStatus::Draft.apply(Action::Submit).unwrap();
        assert_eq!(s, ListingStatus::InReview);
        let s = s.apply(Action::Approve).unwrap();
        assert_eq!(s, ListingStatus::Published);
        assert_eq!(s.apply(Action::Withdraw).unwrap(), ListingStatus::Withdrawn);
    }

    #[test]
    fn editing_a_rejected_listing_returns_it_to_draft() {
        let rejected = ListingStatus::InReview.apply(Action::Reject).unwrap();
        assert_eq!(rejected.apply(Action::Edit).unwrap(), ListingStatus::Draft);
    }

    #[test]
    fn exactly_six_transitions_are_allowed() {
        let allowed: Vec<_> = ListingStatus::ALL
            .iter()
            .flat_map(|s| Action::ALL.iter().map(move |a| (*s, *a)))
            .filter(|(s, a)| s.apply(*a).is_ok())
            .collect();
        assert_eq!(allowed.len(), 6, "{allowed:?}");
    }

    #[test]
    fn withdrawn_is_terminal() {
        for action in Action::ALL {
            let err = ListingStatus::Withdrawn.apply(action).unwrap_err();
            assert_eq!(err.from, ListingStatus::Withdrawn);
        }
    }

    #[test]
    fn a_published_listing_cannot_be_edited_or_reviewed_again() {
        assert_eq!(ListingStatus::Published.apply(Action::Edit).unwrap_err().code(), "listing_not_editable");
        assert_eq!(ListingStatus::Published.apply(Action::Approve).unwrap_err().code(), "listing_not_in_review");
    }
}
