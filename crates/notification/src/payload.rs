//! What each notification carries: everything its message needs, captured when the event
//! happened.
//!
//! A payload is written into the outbox in the same transaction as the change it reports and
//! rendered later, possibly after a retry hours on, so it holds values (the price *then*, the title
//! *then*), never references to look up again. The JSON form is tagged by `kind`, with the same
//! strings as [`NotificationKind`]:
//!
//! ```json
//! {"kind": "auction_won", "auction_id": "…", "listing_title": {"zh": "…", "en": "…"},
//!  "price": {"amount": 1250000, "currency": "CNY"}}
//! ```

use crate::kinds::NotificationKind;
use achex_core::{AuctionId, LangText, ListingId, Money, SavedSearchId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotificationPayload {
    Outbid {
        auction_id: AuctionId,
        listing_title: LangText,
        /// The maximum the user had set, now beaten.
        your_max: Money,
        /// The lot's price after the winning bid.
        current_price: Money,
        /// The new leader's anonymous bidder code (`B-03`), when the auction shows codes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader_code: Option<String>,
        ends_at: DateTime<Utc>,
    },
    AuctionStarting {
        auction_id: AuctionId,
        listing_title: LangText,
        starts_at: DateTime<Utc>,
    },
    AuctionEndingSoon {
        auction_id: AuctionId,
        listing_title: LangText,
        ends_at: DateTime<Utc>,
    },
    AuctionWon {
        auction_id: AuctionId,
        listing_title: LangText,
        price: Money,
    },
    AuctionLost {
        auction_id: AuctionId,
        listing_title: LangText,
        /// The hammer price when the lot sold; absent when it did not (reserve not met).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        final_price: Option<Money>,
    },
    DepositConfirmed {
        auction_id: AuctionId,
        listing_title: LangText,
        amount: Money,
    },
    DepositReleased {
        auction_id: AuctionId,
        listing_title: LangText,
        amount: Money,
    },
    DepositForfeited {
        auction_id: AuctionId,
        listing_title: LangText,
        amount: Money,
    },
    ListingApproved {
        listing_id: ListingId,
        listing_title: LangText,
    },
    ListingRejected {
        listing_id: ListingId,
        listing_title: LangText,
        /// The reviewer's words, shown to the owner as written.
        reason: String,
    },
    SavedSearchMatch {
        saved_search_id: SavedSearchId,
        saved_search_name: String,
        listings: Vec<MatchedListing>,
    },
    SavedSearchDigest {
        saved_search_id: SavedSearchId,
        saved_search_name: String,
        listings: Vec<MatchedListing>,
    },
    MeetingRequest {
        matchmaking_event_id: Uuid,
        event_name: LangText,
        meeting_request_id: Uuid,
        /// The organisation asking for the meeting.
        requester: String,
    },
    AgendaPublished {
        matchmaking_event_id: Uuid,
        event_name: LangText,
        stage: AgendaStage,
    },
}

/// A listing in a saved-search alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedListing {
    pub listing_id: ListingId,
    pub title: LangText,
    /// Set when the listing was already public and what changed is its auction (a saved search
    /// that asks for `auction=live` starts matching a listing when its lot opens); absent for a
    /// newly published listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ListingChange>,
}

impl MatchedListing {
    /// A newly published listing.
    pub fn new_listing(listing_id: ListingId, title: LangText) -> MatchedListing {
        MatchedListing { listing_id, title, change: None }
    }
}

/// What changed about an already public listing that a saved search matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingChange {
    /// An auction is scheduled for it.
    AuctionUpcoming,
    /// Its auction has opened for bids.
    AuctionOpen,
    /// Its auction has closed.
    AuctionClosed,
}

/// Agendas go out twice: a preliminary one for participants to check, then the final one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgendaStage {
    Preliminary,
    Final,
}

impl NotificationPayload {
    pub fn kind(&self) -> NotificationKind {
        match self {
            NotificationPayload::Outbid { .. } => NotificationKind::Outbid,
            NotificationPayload::AuctionStarting { .. } => NotificationKind::AuctionStarting,
            NotificationPayload::AuctionEndingSoon { .. } => NotificationKind::AuctionEndingSoon,
            NotificationPayload::AuctionWon { .. } => NotificationKind::AuctionWon,
            NotificationPayload::AuctionLost { .. } => NotificationKind::AuctionLost,
            NotificationPayload::DepositConfirmed { .. } => NotificationKind::DepositConfirmed,
            NotificationPayload::DepositReleased { .. } => NotificationKind::DepositReleased,
            NotificationPayload::DepositForfeited { .. } => NotificationKind::DepositForfeited,
            NotificationPayload::ListingApproved { .. } => NotificationKind::ListingApproved,
            NotificationPayload::ListingRejected { .. } => NotificationKind::ListingRejected,
            NotificationPayload::SavedSearchMatch { .. } => NotificationKind::SavedSearchMatch,
            NotificationPayload::SavedSearchDigest { .. } => NotificationKind::SavedSearchDigest,
            NotificationPayload::MeetingRequest { .. } => NotificationKind::MeetingRequest,
            NotificationPayload::AgendaPublished { .. } => NotificationKind::AgendaPublished,
        }
    }
}

#[cfg(test)]
pub(crate) mod samples {
    //! One payload of every kind, for tests across the crate.

    use super::*;
    use achex_core::Currency;
    use chrono::TimeZone;

    pub fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("a valid test time")
    }

    pub fn title() -> LangText {
        LangText {
            zh: Some("锂电池正极材料制备方法".into()),
            en: Some("Cathode material for lithium batteries".into()),
        }
    }

    pub fn all() -> Vec<NotificationPayload> {
        let auction_id = AuctionId::new();
        let listing_id = ListingId::new();
        let event = Uuid::now_v7();
        let event_name = LangText { zh: Some("2026 成果对接会".into()), en: Some("2026 Matchmaking Fair".into()) };
        let listings = vec![
            MatchedListing::new_listing(ListingId::new(), title()),
            MatchedListing {
                listing_id: ListingId::new(),
                title: LangText::en("Soil moisture sensor"),
                change: Some(ListingChange::AuctionOpen),
            },
        ];
        vec![
            NotificationPayload::Outbid {
                auction_id,
                listing_title: title(),
                your_max: Money::cny(1_200_000),
                current_price: Money::cny(1_234_567),
                leader_code: Some("B-03".into()),
                ends_at: at(2026, 11, 20, 10, 0),
            },
            NotificationPayload::AuctionStarting {
                auction_id,
                listing_title: title(),
                starts_at: at(2026, 11, 20, 2, 0),
            },
            NotificationPayload::AuctionEndingSoon {
                auction_id,
                listing_title: title(),
                ends_at: at(2026, 11, 20, 10, 0),
            },
            NotificationPayload::AuctionWon { auction_id, listing_title: title(), price: Money::cny(88_000_000) },
            NotificationPayload::AuctionLost { auction_id, listing_title: title(), final_price: None },
            NotificationPayload::DepositConfirmed {
                auction_id,
                listing_title: title(),
                amount: Money::new(500_000, Currency::Usd),
            },
            NotificationPayload::DepositReleased { auction_id, listing_title: title(), amount: Money::cny(5_000_000) },
            NotificationPayload::DepositForfeited { auction_id, listing_title: title(), amount: Money::cny(5_000_000) },
            NotificationPayload::ListingApproved { listing_id, listing_title: title() },
            NotificationPayload::ListingRejected {
                listing_id,
                listing_title: title(),
                reason: "请补充专利证书扫描件".into(),
            },
            NotificationPayload::SavedSearchMatch {
                saved_search_id: SavedSearchId::new(),
                saved_search_name: "电池".into(),
                listings: listings[..1].to_vec(),
            },
            NotificationPayload::SavedSearchDigest {
                saved_search_id: SavedSearchId::new(),
                saved_search_name: "Batteries".into(),
                listings,
            },
            NotificationPayload::MeetingRequest {
                matchmaking_event_id: event,
                event_name: event_name.clone(),
                meeting_request_id: Uuid::now_v7(),
                requester: "宁德新能源科技有限公司".into(),
            },
            NotificationPayload::AgendaPublished { matchmaking_event_id: event, event_name, stage: AgendaStage::Final },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_cover_every_kind_once() {
        let kinds: Vec<NotificationKind> = samples::all().iter().map(NotificationPayload::kind).collect();
        assert_eq!(kinds, NotificationKind::ALL);
    }

    #[test]
    fn the_json_tag_is_the_kind_name_and_payloads_round_trip() {
        for payload in samples::all() {
            let value = serde_json::to_value(&payload).unwrap();
            assert_eq!(value["kind"], payload.kind().as_str());
            let back: NotificationPayload = serde_json::from_value(value).unwrap();
            assert_eq!(back, payload);
        }
    }

    #[test]
    fn money_in_a_payload_stays_integer_minor_units() {
        let payload = &samples::all()[3];
        let value = serde_json::to_value(payload).unwrap();
        assert_eq!(value["price"], serde_json::json!({"amount": 88_000_000, "currency": "CNY"}));
    }
}
