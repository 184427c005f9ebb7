//! The state of one lot and its public projection.
//!
//! The full state holds private facts (users behind the codes, proxy maximums, sealed amounts):
//! the engine persists and replays it. [`PublicState`] is what anybody may see.

use super::config::{AuctionConfig, Format};
use super::event::Outcome;
use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A bidder's anonymous code on one lot, `B-01`, `B-02`, … in registration order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BidderCode(String);

impl BidderCode {
    /// The code of the `ordinal`-th registration (1-based).
    pub fn from_ordinal(ordinal: usize) -> Self {
        Self(format!("B-{ordinal:02}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BidderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a lot stands. Stored statuses move only forward: upcoming → (free_quote →) live → closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Upcoming,
    /// Two-phase only: quotes are being collected.
    FreeQuote,
    /// Bidding (for two-phase: the timed round).
    Live,
    /// Never stored: [`Auction::public_view_at`] reports it when the clock has passed `ends_at`
    /// but the close has not been applied yet.
    Closing,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositState {
    Unconfirmed,
    Held,
    Released,
    /// Applied to the deal of a sale.
    Credited,
    Forfeited,
}

/// A bidder's standing commitment on the lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingBid {
    /// The most the bidder has authorised: its proxy maximum, free quote, sealed bid or Dutch
    /// acceptance.
    pub max: Money,
    /// The highest amount it explicitly bid (not raised by its own proxy). The leader always pays
    /// at least this.
    pub floor: Money,
    /// Sequence number of the bid that set `max`: the earlier of equal maximums wins.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bidder {
    pub(crate) code: BidderCode,
    pub(crate) user: UserId,
    pub(crate) organization: OrganizationId,
    pub(crate) deposit: DepositState,
    pub(crate) bid: Option<StandingBid>,
    pub(crate) defaulted: bool,
}

impl Bidder {
    pub fn code(&self) -> &BidderCode {
        &self.code
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn organization(&self) -> OrganizationId {
        self.organization
    }

    pub fn deposit(&self) -> DepositState {
        self.deposit
    }

    /// Private: only for the bidder itself and for the engine.
    pub fn standing_bid(&self) -> Option<StandingBid> {
        self.bid
    }

    pub fn has_defaulted(&self) -> bool {
        self.defaulted
    }
}

/// The complete, replayable state of one lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    pub(crate) config: AuctionConfig,
    pub(crate) status: Status,
    /// Starts as `config.ends_at`; soft close moves it later.
    pub(crate) ends_at: DateTime<Utc>,
    pub(crate) extensions: u32,
    /// Sequence number of the last event.
    pub(crate) seq: u64,
    /// Server time of the last event; a `now` before it is treated as it, so time never runs
    /// backwards within a lot.
    pub(crate) last_event_at: Option<DateTime<Utc>>,
    /// In registration order; a bidder's index is its code's ordinal − 1.
    pub(crate) bidders: Vec<Bidder>,
    pub(crate) bid_count: u64,
    /// Ascending formats: the standing price. Dutch: the sale price. Sealed: set at the close.
    pub(crate) price: Option<Money>,
    /// Index of the leading bidder (hidden for sealed bids until the close).
    pub(crate) leader: Option<usize>,
    pub(crate) outcome: Option<Outcome>,
    /// Index of the bidder the lot is currently sold or offered to.
    pub(crate) awardee: Option<usize>,
}

/// What anyone may see of a lot. Never the reserve, a maximum or a sealed amount before the close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicState {
    pub format: Format,
    pub status: Status,
    pub current_price: Option<Money>,
    /// The least amount a bid could be accepted at now (ascending and Dutch), or the least sealed
    /// bid; `None` once closed.
    pub next_minimum_bid: Option<Money>,
    pub leader_code: Option<BidderCode>,
    /// Whether closing now would sell: there is a leader and its commitment reaches the reserve
    /// (trivially, without one). Always `false` for sealed bids before the close.
    pub reserve_met: bool,
    /// Accepted bids, including sealed revisions and a leader's raises of its own maximum.
    pub bid_count: u64,
    pub registered_bidders: usize,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub free_quote_until: Option<DateTime<Utc>>,
    pub extensions: u32,
    pub seq: u64,
    pub outcome: Option<Outcome>,
}

impl Auction {
    pub fn config(&self) -> &AuctionConfig {
        &self.config
    }

    /// The stored status (as of the last event); see [`Auction::status_at`] for the clock's view.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The current end, after any soft-close extensions.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at
    }

    pub fn extensions(&self) -> u32 {
        self.extensions
    }

    /// Sequence number of the last event (0 before any).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn bid_count(&self) -> u64 {
        self.bid_count
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn bidders(&self) -> &[Bidder] {
        &self.bidders
    }

    pub fn bidder_by_user(&self, user: UserId) -> Option<&Bidder> {
        self.bidders.iter().find(|b| b.user == user)
    }

    pub fn bidder_by_code(&self, code: &BidderCode) -> Option<&Bidder> {
        self.bidders.iter().find(|b| &b.code == code)
    }

    /// The bidder the lot is sold or offered to, if any.
    pub fn awardee(&self) -> Option<&Bidder> {
        self.awardee.map(|i| &self.bidders[i])
    }

    pub fn is_closed(&self) -> bool {
        self.status == Status::Closed
    }

    /// The status the clock implies at `now` (never stored): `upcoming` before the start,
    /// `free_quote`/`live` by phase, `closing` once past the end but not yet closed.
    pub fn status_at(&self, now: DateTime<Utc>) -> Status {
        if self.status == Status::Closed {
            Status::Closed
        } else if now >= self.ends_at {
            Status::Closing
        } else {
            self.phase_at(now)
        }
    }

    /// The bidding phase at `now`, ignoring the end (the callers check it separately).
    pub(crate) fn phase_at(&self, now: DateTime<Utc>) -> Status {
        if self.status == Status::Closed {
            Status::Closed
        } else if now < self.config.starts_at {
            Status::Upcoming
        } else if self.config.free_quote_until.is_some_and(|until| now < until) {
            Status::FreeQuote
        } else {
            Status::Live
        }
    }

    /// The public state as of the last event.
    pub fn public_view(&self) -> PublicState {
        self.view(self.status, self.last_event_at.unwrap_or(self.config.starts_at))
    }

    /// The public state as the clock sees it at `now`: the time-implied status and, for Dutch,
    /// the price at `now`.
    pub fn public_view_at(&self, now: DateTime<Utc>) -> PublicState {
        self.view(self.status_at(now), now)
    }

    fn view(&self, status: Status, now: DateTime<Utc>) -> PublicState {
        let format = self.config.format;
        let hidden = format.is_sealed() && !self.is_closed();
        let current_price = if format == Format::Dutch && !self.is_closed() {
            Some(self.config.dutch_price_at(now))
        } else if hidden {
            None
        } else {
            self.price
        };
        let next_minimum_bid = match status {
            Status::Closed | Status::Closing => None,
            _ if format == Format::Dutch => current_price,
            _ if format.is_sealed() || status == Status::FreeQuote => Some(self.config.starting_price),
            _ => self.minimum_raise().ok(),
        };
        PublicState {
            format,
            status,
            current_price,
            next_minimum_bid,
            leader_code: if hidden { None } else { self.leader.map(|i| self.bidders[i].code.clone()) },
            reserve_met: !hidden && self.reserve_met(),
            bid_count: self.bid_count,
            registered_bidders: self.bidders.len(),
            starts_at: self.config.starts_at,
            ends_at: self.ends_at,
            free_quote_until: self.config.free_quote_until,
            extensions: self.extensions,
            seq: self.seq,
            outcome: self.outcome.clone(),
        }
    }

    /// Whether the leader's commitment reaches the reserve (trivially true without a reserve once
    /// there is a leader). Private state; callers publish it only where the rules allow.
    pub(crate) fn reserve_met(&self) -> bool {
        let Some(leader) = self.leader.and_then(|i| self.bidders[i].bid) else { return false };
        self.config.reserve_price.is_none_or(|reserve| leader.max.amount >= reserve.amount)
    }

    /// The least amount the next ascending bid may have: the starting price for the first bid,
    /// otherwise the current price plus the increment there.
    pub(crate) fn minimum_raise(&self) -> Result<Money, super::Rejection> {
        match self.price {
            None => Ok(self.config.starting_price),
            Some(price) => {
                price.checked_add(self.config.increment_at(price)).map_err(|_| super::Rejection::AmountOutOfRange)
            }
        }
    }
}
