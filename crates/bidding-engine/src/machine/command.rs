//! What the machine can be asked to do. Commands are plain data so the engine can log them
//! verbatim and replay the log later; who may send which command is the API's business.

use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// A user registers for the lot on behalf of its organisation and gets an anonymous code.
    Register { bidder: UserId, organization: OrganizationId },
    /// The organizer or an admin confirms the bidder's deposit has arrived.
    ConfirmDeposit { bidder: UserId },
    /// A bid. `organization` is the bidder's organisation as the caller authenticated it, so the
    /// seller is refused by name rather than by omission. `max_amount` makes it a proxy bid
    /// (ascending formats only); in a Dutch auction any `amount` at or above the current price
    /// accepts at the current price.
    ///
    /// A bid with several faults gets the first of: `auction_not_open`, `seller_cannot_bid`,
    /// `not_registered`, `deposit_not_confirmed`, `currency_mismatch`, then the format's own:
    /// `not_qualified_for_round`, `proxy_not_supported`, `max_below_amount`,
    /// `bid_below_minimum`, `not_a_multiple_of_increment`, `max_not_raised` / `quote_not_raised`.
    PlaceBid {
        bidder: UserId,
        organization: OrganizationId,
        amount: Money,
        #[serde(default)]
        max_amount: Option<Money>,
    },
    /// The engine's timer: performs whatever the clock makes due (phase changes, the close).
    /// Idempotent: with nothing due it is accepted with no events and changes nothing.
    Tick,
    /// An explicit close at or after `ends_at`; refused before it and once closed.
    Close,
    /// An admin ends the auction before its close without a sale.
    Cancel { reason: String },
    /// The bidder the lot is sold (or offered) to did not complete the deal.
    Default { bidder: UserId },
}

/// A command as the engine logs it: with the server time it was applied at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedCommand {
    pub at: DateTime<Utc>,
    pub command: Command,
}

impl TimedCommand {
    pub fn new(at: DateTime<Utc>, command: Command) -> Self {
        Self { at, command }
    }
}
