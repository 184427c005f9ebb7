//! What a notification is about ([`NotificationKind`]) and where it can be delivered
//! ([`Channel`]).
//!
//! The snake_case strings are stable: they are stored in the outbox and inbox rows, in users'
//! saved preferences and in the `kind` tag of every [`NotificationPayload`](crate::NotificationPayload),
//! so renaming one is a data migration, not a refactor.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Every kind of notification achex sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone else's bid now leads a lot the user was leading.
    Outbid,
    /// A lot the user registered for or watches opens soon.
    AuctionStarting,
    /// A lot the user bid on closes soon.
    AuctionEndingSoon,
    /// The user won a lot.
    AuctionWon,
    /// A lot the user bid on closed and someone else won (or nobody did).
    AuctionLost,
    /// The platform confirmed the user's deposit: they may bid.
    DepositConfirmed,
    /// The deposit goes back to the user.
    DepositReleased,
    /// The deposit is kept (the winner defaulted, or broke the rules).
    DepositForfeited,
    /// A reviewer approved the user's listing: it is public.
    ListingApproved,
    /// A reviewer sent the user's listing back with a reason.
    ListingRejected,
    /// A new listing matches a saved search with instant alerts.
    SavedSearchMatch,
    /// The daily or weekly collection of a saved search's new matches.
    SavedSearchDigest,
    /// Someone asks the user for a meeting at a matchmaking event.
    MeetingRequest,
    /// A matchmaking event's agenda (preliminary or final) is out.
    AgendaPublished,
}

impl NotificationKind {
    /// Every kind, in declaration order (the order settings pages list them in).
    pub const ALL: [NotificationKind; 14] = [
        NotificationKind::Outbid,
        NotificationKind::AuctionStarting,
        NotificationKind::AuctionEndingSoon,
        NotificationKind::AuctionWon,
        NotificationKind::AuctionLost,
        NotificationKind::DepositConfirmed,
        NotificationKind::DepositReleased,
        NotificationKind::DepositForfeited,
        NotificationKind::ListingApproved,
        NotificationKind::ListingRejected,
        NotificationKind::SavedSearchMatch,
        NotificationKind::SavedSearchDigest,
        NotificationKind::MeetingRequest,
        NotificationKind::AgendaPublished,
    ];

    /// The stable snake_case name, identical to the serde form.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Outbid => "outbid",
            NotificationKind::AuctionStarting => "auction_starting",
            NotificationKind::AuctionEndingSoon => "auction_ending_soon",
            NotificationKind::AuctionWon => "auction_won",
            NotificationKind::AuctionLost => "auction_lost",
            NotificationKind::DepositConfirmed => "deposit_confirmed",
            NotificationKind::DepositReleased => "deposit_released",
            NotificationKind::DepositForfeited => "deposit_forfeited",
            NotificationKind::ListingApproved => "listing_approved",
            NotificationKind::ListingRejected => "listing_rejected",
            NotificationKind::SavedSearchMatch => "saved_search_match",
            NotificationKind::SavedSearchDigest => "saved_search_digest",
            NotificationKind::MeetingRequest => "meeting_request",
            NotificationKind::AgendaPublished => "agenda_published",
        }
    }

    /// The kind with this stable name, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The valid names, comma-separated, for error messages.
    pub fn valid_names() -> String {
        Self::ALL.map(NotificationKind::as_str).join(", ")
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`NotificationKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notification kind {given:?}; valid kinds: {}", NotificationKind::valid_names())]
pub struct UnknownKind {
    pub given: String,
}

impl FromStr for NotificationKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownKind { given: s.to_owned() })
    }
}

/// Where a notification can reach a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An e-mail to the account's address.
    Email,
    /// A message on the user's own websocket channel, shown at once in any open tab.
    Live,
    /// A row in the in-app inbox. Always on: it is the record of what the platform told the user.
    Inbox,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Live, Channel::Inbox];

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Live => "live",
            Channel::Inbox => "inbox",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_name_round_trips_and_matches_serde() {
        for kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::json!(kind.as_str())));
        }
    }

    #[test]
    fn kind_names_are_the_stable_ones() {
        let names: Vec<&str> = NotificationKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "outbid",
                "auction_starting",
                "auction_ending_soon",
                "auction_won",
                "auction_lost",
                "deposit_confirmed",
                "deposit_released",
                "deposit_forfeited",
                "listing_approved",
                "listing_rejected",
                "saved_search_match",
                "saved_search_digest",
                "meeting_request",
                "agenda_published",
            ]
        );
    }

    #[test]
    fn an_unknown_kind_is_reported_with_the_valid_ones() {
        let err = "outbidded".parse::<NotificationKind>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"outbidded\""), "{message}");
        assert!(message.contains("outbid, auction_starting"), "{message}");
        assert!(message.contains("agenda_published"), "{message}");
    }
}
