//! Competitive bidding for achex.
//!
//! [`machine`] is the pure, deterministic auction state machine: `(state, command, now) →
//! (state, events) | rejection` for English (proxy bids, hidden reserve, soft close), the
//! two-phase Chinese form, sealed first/second price and Dutch auctions. It does no I/O and reads
//! no clock, so the engine that drives it can persist its accepted commands and rebuild any lot by
//! [`machine::replay`].

pub mod engine;
pub mod machine;

pub use machine::{
    Applied, Auction, AuctionConfig, Bidder, BidderCode, Command, ConfigErrors, DepositState, DutchSchedule, Event,
    EventKind, FieldError, Format, Increment, IncrementTier, Outcome, PublicState, Rejection, ReplayError, RevealedBid,
    SoftClose, StandingBid, Status, TimedCommand, apply, replay, replay_with_events,
};
