//! Why a command was refused. Each reason is a business rule, never an internal failure, and has a
//! stable snake_case code the API puts in its error envelope.

use achex_core::{Currency, Money};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    /// A bid outside the bidding window: before the start, at or after the end, or once closed.
    #[error("the auction is not open for bids")]
    AuctionNotOpen,
    /// Anything but a bid (register, confirm, cancel, close) after the end.
    #[error("the auction has already closed")]
    AlreadyClosed,
    /// An explicit `Close` before `ends_at`; closing early is a `Cancel`.
    #[error("the auction has not reached its end yet")]
    AuctionNotEnded,
    #[error("the bid is below the minimum of {minimum}")]
    BidBelowMinimum { minimum: Money },
    #[error("the raise must be a whole multiple of the increment {increment}")]
    NotAMultipleOfIncrement { increment: Money },
    #[error("the maximum must be at least the bid amount")]
    MaxBelowAmount,
    /// The leader re-bid without raising its own maximum: it would change nothing.
    #[error("you already lead with this maximum or a higher one")]
    MaxNotRaised,
    /// A free quote must beat the bidder's own previous quote.
    #[error("a new quote must be higher than your previous quote")]
    QuoteNotRaised,
    /// `max_amount` where no proxy exists: sealed, Dutch, free quotes.
    #[error("proxy maximums are not accepted here")]
    ProxyNotSupported,
    #[error("amounts must be in {expected}, not {got}")]
    CurrencyMismatch { expected: Currency, got: Currency },
    /// The arithmetic would leave the range of a 64-bit amount.
    #[error("the amount is out of range")]
    AmountOutOfRange,
    #[error("you are not registered for this auction")]
    NotRegistered,
    #[error("your deposit has not been confirmed")]
    DepositNotConfirmed,
    #[error("the seller's organisation cannot take part in its own auction")]
    SellerCannotBid,
    /// The user, or its organisation, has already registered for this lot.
    #[error("already registered for this auction")]
    AlreadyRegistered,
    #[error("the deposit was already confirmed")]
    DepositAlreadyConfirmed,
    /// Two-phase round: only bidders with a free quote may bid.
    #[error("only bidders with a free quote may bid in the round")]
    NotQualifiedForRound,
    #[error("a cancellation needs a reason")]
    ReasonRequired,
    /// `Default` while nothing is sold.
    #[error("the lot is not sold")]
    NotSold,
    /// `Default` naming someone other than the bidder the lot is sold or offered to.
    #[error("that bidder is not the winner")]
    NotTheWinner,
}

impl Rejection {
    /// The stable code of the reason, e.g. `bid_below_minimum`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::AuctionNotOpen => "auction_not_open",
            Rejection::AlreadyClosed => "already_closed",
            Rejection::AuctionNotEnded => "auction_not_ended",
            Rejection::BidBelowMinimum { .. } => "bid_below_minimum",
            Rejection::NotAMultipleOfIncrement { .. } => "not_a_multiple_of_increment",
            Rejection::MaxBelowAmount => "max_below_amount",
            Rejection::MaxNotRaised => "max_not_raised",
            Rejection::QuoteNotRaised => "quote_not_raised",
            Rejection::ProxyNotSupported => "proxy_not_supported",
            Rejection::CurrencyMismatch { .. } => "currency_mismatch",
            Rejection::AmountOutOfRange => "amount_out_of_range",
            Rejection::NotRegistered => "not_registered",
            Rejection::DepositNotConfirmed => "deposit_not_confirmed",
            Rejection::SellerCannotBid => "seller_cannot_bid",
            Rejection::AlreadyRegistered => "already_registered",
            Rejection::DepositAlreadyConfirmed => "deposit_already_confirmed",
            Rejection::NotQualifiedForRound => "not_qualified_for_round",
            Rejection::ReasonRequired => "reason_required",
            Rejection::NotSold => "not_sold",
            Rejection::NotTheWinner => "not_the_winner",
        }
    }
}
