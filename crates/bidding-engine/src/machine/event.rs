//! What happened. Every event is safe to publish as it is: bidders appear only by their codes,
//! and no event carries the reserve, a proxy maximum or a sealed amount before the reveal.

use super::state::{BidderCode, Status};
use achex_core::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event with its per-lot sequence number and the server time of the command that caused it.
/// Sequence numbers are consecutive from 1 across all events of a lot, so a watcher can detect a
/// gap and resync from `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    BidderRegistered {
        bidder: BidderCode,
    },
    DepositConfirmed {
        bidder: BidderCode,
        amount: Money,
    },
    /// The clock moved the lot into a new status: `free_quote` or `live` (for two-phase, the
    /// timed round). Closing is announced by [`EventKind::Closed`] instead.
    PhaseChanged {
        status: Status,
    },
    /// An accepted bid and the public state it left. `amount` is hidden (`None`) for sealed bids
    /// and for a leader raising its own maximum; `current_price`/`leader` are hidden for sealed
    /// bids.
    BidAccepted {
        bidder: BidderCode,
        amount: Option<Money>,
        current_price: Option<Money>,
        leader: Option<BidderCode>,
        reserve_met: bool,
    },
    /// Soft close moved the end.
    Extended {
        ends_at: DateTime<Utc>,
        extensions: u32,
    },
    /// The sealed bids, best first, published at the close.
    SealedBidsRevealed {
        bids: Vec<RevealedBid>,
    },
    /// The lot closed. Emitted exactly once per lot.
    Closed {
        outcome: Outcome,
    },
    DepositReleased {
        bidder: BidderCode,
        amount: Money,
    },
    /// The winner's deposit goes towards the deal.
    DepositCredited {
        bidder: BidderCode,
        amount: Money,
    },
    /// The awardee failed to complete; `outcome` is what the lot is now.
    WinnerDefaulted {
        bidder: BidderCode,
        outcome: Outcome,
    },
    DepositForfeited {
        bidder: BidderCode,
        amount: Money,
    },
    /// After a default, the next-best bidder is offered the lot at its own highest bid.
    OfferedToRunnerUp {
        bidder: BidderCode,
        price: Money,
    },
}

impl EventKind {
    /// The wire name, e.g. `bid_accepted`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::BidderRegistered { .. } => "bidder_registered",
            EventKind::DepositConfirmed { .. } => "deposit_confirmed",
            EventKind::PhaseChanged { .. } => "phase_changed",
            EventKind::BidAccepted { .. } => "bid_accepted",
            EventKind::Extended { .. } => "extended",
            EventKind::SealedBidsRevealed { .. } => "sealed_bids_revealed",
            EventKind::Closed { .. } => "closed",
            EventKind::DepositReleased { .. } => "deposit_released",
            EventKind::DepositCredited { .. } => "deposit_credited",
            EventKind::WinnerDefaulted { .. } => "winner_defaulted",
            EventKind::DepositForfeited { .. } => "deposit_forfeited",
            EventKind::OfferedToRunnerUp { .. } => "offered_to_runner_up",
        }
    }
}

/// A sealed bid as revealed at the close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedBid {
    pub bidder: BidderCode,
    pub amount: Money,
    /// The sequence number of the bid (its latest revision), which breaks ties.
    pub seq: u64,
}

/// How a lot ended (and, after a default, how it stands now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Sold to `winner` at `price` (after a default: offered to the runner-up at its own bid).
    Sold {
        winner: BidderCode,
        price: Money,
    },
    UnsoldReserveNotMet,
    NoBids,
    Cancelled {
        reason: String,
    },
    /// The winner defaulted and nobody eligible was left to offer the lot to.
    UnsoldWinnerDefaulted,
}

impl Outcome {
    /// The stable name, e.g. `unsold_reserve_not_met`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Sold { .. } => "sold",
            Outcome::UnsoldReserveNotMet => "unsold_reserve_not_met",
            Outcome::NoBids => "no_bids",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::UnsoldWinnerDefaulted => "unsold_winner_defaulted",
        }
    }
}
