//! The auction state machine: `(state, command, now) → (state, events) | rejection`.
//!
//! Pure and deterministic: no I/O, no randomness, no clock but the `now` it is given. The engine
//! owns one [`Auction`] per open lot, applies commands to it one at a time, logs the accepted ones
//! with their times and can rebuild the state from that log with [`replay`]. A rejected command
//! leaves the state exactly as it was, so a rejected bid can never extend the close or consume a
//! sequence number.
//!
//! The rules live in [`transitions`] (registration, deposits, clock, close, cancel, default) and
//! [`bidding`] (what each format accepts as a bid and how it moves the price).

mod bidding;
mod command;
mod config;
mod event;
mod rejection;
mod state;
mod transitions;

#[cfg(test)]
mod tests;

pub use command::{Command, TimedCommand};
pub use config::{AuctionConfig, ConfigErrors, DutchSchedule, FieldError, Format, Increment, IncrementTier, SoftClose};
pub use event::{Event, EventKind, Outcome, RevealedBid};
pub use rejection::Rejection;
pub use state::{Auction, Bidder, BidderCode, DepositState, PublicState, StandingBid, Status};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The result of an accepted command: the new state and what happened, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub state: Auction,
    /// Empty only for a `Tick` with nothing due, in which case `state` equals the input.
    pub events: Vec<Event>,
}

/// Applies `command` at server time `now` to a copy of `state`.
///
/// For a hot lot prefer [`Auction::apply_in_place`], which does not copy.
pub fn apply(state: &Auction, command: Command, now: DateTime<Utc>) -> Result<Applied, Rejection> {
    let mut next = state.clone();
    let events = next.apply_in_place(command, now)?;
    Ok(Applied { state: next, events })
}

/// Why a log could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("the auction config is invalid: {0}")]
    InvalidConfig(ConfigErrors),
    /// The log holds a command the machine refuses: the log or the machine has changed.
    #[error("command {index} of the log is rejected: {rejection}")]
    Rejected { index: usize, rejection: Rejection },
}

/// Rebuilds a lot from its config and its log of accepted commands. The result equals the state
/// the commands produced when they were first applied.
pub fn replay(config: AuctionConfig, log: impl IntoIterator<Item = TimedCommand>) -> Result<Auction, ReplayError> {
    replay_with_events(config, log).map(|(auction, _)| auction)
}

/// Like [`replay`], also returning every event, so an audit can compare them with the published
/// ones.
pub fn replay_with_events(
    config: AuctionConfig,
    log: impl IntoIterator<Item = TimedCommand>,
) -> Result<(Auction, Vec<Event>), ReplayError> {
    let mut auction = Auction::new(config).map_err(ReplayError::InvalidConfig)?;
    let mut events = Vec::new();
    for (index, TimedCommand { at, command }) in log.into_iter().enumerate() {
        let produced =
            auction.apply_in_place(command, at).map_err(|rejection| ReplayError::Rejected { index, rejection })?;
        events.extend(produced);
    }
    Ok((auction, events))
}
