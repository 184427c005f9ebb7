//! Dispatch, and every rule that is not about the amount of a bid: registration, deposits, the
//! clock's phase changes, the close (exactly once), cancellation and default.
//!
//! Every handler checks all its preconditions against `&self` before it changes anything, which is
//! what makes a rejection leave the state untouched.

use super::command::Command;
use super::config::{AuctionConfig, ConfigErrors, Format};
use super::event::{Event, EventKind, Outcome, RevealedBid};
use super::rejection::Rejection;
use super::state::{Auction, Bidder, BidderCode, DepositState, StandingBid, Status};
use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Utc};

impl Auction {
    /// A fresh lot, before registration opens.
    pub fn new(config: AuctionConfig) -> Result<Self, ConfigErrors> {
        config.validate()?;
        Ok(Self {
            status: Status::Upcoming,
            ends_at: config.ends_at,
            config,
            extensions: 0,
            seq: 0,
            last_event_at: None,
            bidders: Vec::new(),
            bid_count: 0,
            price: None,
            leader: None,
            outcome: None,
            awardee: None,
        })
    }

    /// Applies `command` at server time `now`, returning the events it produced. On a rejection the
    /// state is unchanged.
    pub fn apply_in_place(&mut self, command: Command, now: DateTime<Utc>) -> Result<Vec<Event>, Rejection> {
        // Time never runs backwards within a lot: a late-arriving `now` (a clock step, another
        // node) is treated as the time of the last event, so `ends_at` comparisons stay monotone.
        let now = self.last_event_at.map_or(now, |last| now.max(last));
        let mut events = Vec::new();
        match command {
            Command::Register { bidder, organization } => self.register(bidder, organization, now, &mut events)?,
            Command::ConfirmDeposit { bidder } => self.confirm_deposit(bidder, now, &mut events)?,
            Command::PlaceBid { bidder, organization, amount, max_amount } => {
                self.place_bid(bidder, organization, amount, max_amount, now, &mut events)?
            }
            Command::Tick => self.tick(now, &mut events),
            Command::Close => self.close_explicitly(now, &mut events)?,
            Command::Cancel { reason } => self.cancel(reason, now, &mut events)?,
            Command::Default { bidder } => self.default(bidder, now, &mut events)?,
        }
        Ok(events)
    }

    pub(crate) fn emit(&mut self, events: &mut Vec<Event>, at: DateTime<Utc>, kind: EventKind) {
        self.seq += 1;
        self.last_event_at = Some(at);
        events.push(Event { seq: self.seq, at, kind });
    }

    /// Performs the phase changes the clock has made due by `now`, short of closing: closing is a
    /// decision only `Tick` and `Close` make, so that a bid arriving after the end is simply
    /// refused rather than closing the lot as a side effect.
    pub(crate) fn advance_phase(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        if self.status == Status::Upcoming && now >= self.config.starts_at {
            self.status = if self.config.format == Format::TwoPhase { Status::FreeQuote } else { Status::Live };
            self.emit(events, now, EventKind::PhaseChanged { status: self.status });
        }
        if self.status == Status::FreeQuote && self.config.free_quote_until.is_some_and(|until| now >= until) {
            self.status = Status::Live;
            self.emit(events, now, EventKind::PhaseChanged { status: Status::Live });
        }
    }

    /// Closed, or past the end awaiting its close: nothing but the close itself may happen.
    fn has_ended(&self, now: DateTime<Utc>) -> bool {
        self.is_closed() || now >= self.ends_at
    }

    fn register(
        &mut self,
        user: UserId,
        organization: OrganizationId,
        now: DateTime<Utc>,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejection> {
        if self.has_ended(now) {
            return Err(Rejection::AlreadyClosed);
        }
        if organization == self.config.seller {
            return Err(Rejection::SellerCannotBid);
        }
        // One registration per organisation as well as per user: two colleagues bidding against
        // each other would only push up their own organisation's price.
        if self.bidders.iter().any(|b| b.user == user || b.organization == organization) {
            return Err(Rejection::AlreadyRegistered);
        }

        self.advance_phase(now, events);
        let code = BidderCode::from_ordinal(self.bidders.len() + 1);
        let no_deposit_due = self.config.deposit.amount == 0;
        self.bidders.push(Bidder {
            code: code.clone(),
            user,
            organization,
            deposit: if no_deposit_due { DepositState::Held } else { DepositState::Unconfirmed },
            bid: None,
            defaulted: false,
        });
        self.emit(events, now, EventKind::BidderRegistered { bidder: code.clone() });
        if no_deposit_due {
            self.emit(events, now, EventKind::DepositConfirmed { bidder: code, amount: self.config.deposit });
        }
        Ok(())
    }

    fn confirm_deposit(&mut self, user: UserId, now: DateTime<Utc>, events: &mut Vec<Event>) -> Result<(), Rejection> {
        if self.has_ended(now) {
            return Err(Rejection::AlreadyClosed);
        }
        let index = self.bidders.iter().position(|b| b.user == user).ok_or(Rejection::NotRegistered)?;
        if self.bidders[index].deposit != DepositState::Unconfirmed {
            return Err(Rejection::DepositAlreadyConfirmed);
        }

        self.advance_phase(now, events);
        self.bidders[index].deposit = DepositState::Held;
        let code = self.bidders[index].code.clone();
        self.emit(events, now, EventKind::DepositConfirmed { bidder: code, amount: self.config.deposit });
        Ok(())
    }

    fn tick(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        if self.is_closed() {
            return;
        }
        self.advance_phase(now, events);
        if now >= self.ends_at {
            self.close_at_end(now, events);
        }
    }

    fn close_explicitly(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) -> Result<(), Rejection> {
        if self.is_closed() {
            return Err(Rejection::AlreadyClosed);
        }
        if now < self.ends_at {
            return Err(Rejection::AuctionNotEnded);
        }
        self.advance_phase(now, events);
        self.close_at_end(now, events);
        Ok(())
    }

    fn cancel(&mut self, reason: String, now: DateTime<Utc>, events: &mut Vec<Event>) -> Result<(), Rejection> {
        if self.has_ended(now) {
            return Err(Rejection::AlreadyClosed);
        }
        if reason.trim().is_empty() {
            return Err(Rejection::ReasonRequired);
        }
        self.advance_phase(now, events);
        self.finish(Outcome::Cancelled { reason }, None, now, events);
        Ok(())
    }

    /// The close at the end of the bidding time: decides the outcome by the format's rules.
    fn close_at_end(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        if self.config.format.is_sealed() {
            self.close_sealed(now, events);
            return;
        }
        // Ascending formats decide on the standing leader; a Dutch lot reaching its end has had
        // no acceptance (the first one closes it on the spot).
        let (outcome, winner) = match self.leader {
            None => (Outcome::NoBids, None),
            Some(_) if !self.reserve_met() => (Outcome::UnsoldReserveNotMet, None),
            Some(leader) => {
                let price = self.price.unwrap_or(self.config.starting_price);
                (Outcome::Sold { winner: self.bidders[leader].code.clone(), price }, Some(leader))
            }
        };
        self.finish(outcome, winner, now, events);
    }

    fn close_sealed(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        let ranked = self.ranked_bids(|_| true);
        let Some(&(top, top_bid)) = ranked.first() else {
            self.finish(Outcome::NoBids, None, now, events);
            return;
        };
        let bids = ranked
            .iter()
            .map(|&(index, bid)| RevealedBid {
                bidder: self.bidders[index].code.clone(),
                amount: bid.max,
                seq: bid.seq,
            })
            .collect();
        self.emit(events, now, EventKind::SealedBidsRevealed { bids });

        self.leader = Some(top);
        let reserve = self.config.reserve_price;
        if reserve.is_some_and(|reserve| top_bid.max.amount < reserve.amount) {
            self.price = Some(top_bid.max);
            self.finish(Outcome::UnsoldReserveNotMet, None, now, events);
            return;
        }
        let price = match self.config.format {
            Format::SealedSecondPrice => {
                // Vickrey: the runner-up's bid, but never less than what the seller asked for.
                let start = self.config.starting_price;
                let runner_up = ranked.get(1).map_or(start, |&(_, bid)| bid.max);
                let seller_minimum = reserve.unwrap_or(start);
                if runner_up.amount >= seller_minimum.amount { runner_up } else { seller_minimum }
            }
            _ => top_bid.max,
        };
        self.price = Some(price);
        self.finish(Outcome::Sold { winner: self.bidders[top].code.clone(), price }, Some(top), now, events);
    }

    /// Bidders with a standing bid that pass `eligible`, best first: highest maximum, then the
    /// earlier bid.
    pub(crate) fn ranked_bids(&self, eligible: impl Fn(&Bidder) -> bool) -> Vec<(usize, StandingBid)> {
        let mut ranked: Vec<(usize, StandingBid)> = self
            .bidders
            .iter()
            .enumerate()
            .filter(|(_, bidder)| eligible(bidder))
            .filter_map(|(index, bidder)| bidder.bid.map(|bid| (index, bid)))
            .collect();
        ranked.sort_by(|(_, a), (_, b)| b.max.amount.cmp(&a.max.amount).then(a.seq.cmp(&b.seq)));
        ranked
    }

    /// Closes the lot (the one place that emits `Closed`) and settles the deposits: the winner's is
    /// credited to the deal, every other held deposit is released.
    pub(crate) fn finish(
        &mut self,
        outcome: Outcome,
        winner: Option<usize>,
        now: DateTime<Utc>,
        events: &mut Vec<Event>,
    ) {
        self.status = Status::Closed;
        self.outcome = Some(outcome.clone());
        self.awardee = winner;
        self.emit(events, now, EventKind::Closed { outcome });
        let amount = self.config.deposit;
        for index in 0..self.bidders.len() {
            if self.bidders[index].deposit != DepositState::Held {
                continue;
            }
            let bidder = self.bidders[index].code.clone();
            if Some(index) == winner {
                self.bidders[index].deposit = DepositState::Credited;
                self.emit(events, now, EventKind::DepositCredited { bidder, amount });
            } else {
                self.bidders[index].deposit = DepositState::Released;
                self.emit(events, now, EventKind::DepositReleased { bidder, amount });
            }
        }
    }

    fn default(&mut self, user: UserId, now: DateTime<Utc>, events: &mut Vec<Event>) -> Result<(), Rejection> {
        let defaulter = self.awardee.ok_or(Rejection::NotSold)?;
        if self.bidders[defaulter].user != user {
            return Err(Rejection::NotTheWinner);
        }

        self.bidders[defaulter].defaulted = true;
        // A runner-up is only offered the lot at a price the seller accepts: its own highest bid,
        // and only if that reaches the reserve.
        let reserve = self.config.reserve_price;
        let runner_up = self
            .ranked_bids(|bidder| {
                !bidder.defaulted && bidder.bid.is_some_and(|bid| reserve.is_none_or(|r| bid.max.amount >= r.amount))
            })
            .first()
            .copied();
        let outcome = match runner_up {
            Some((index, bid)) => Outcome::Sold { winner: self.bidders[index].code.clone(), price: bid.max },
            None => Outcome::UnsoldWinnerDefaulted,
        };
        self.outcome = Some(outcome.clone());
        self.awardee = runner_up.map(|(index, _)| index);

        let bidder = self.bidders[defaulter].code.clone();
        self.emit(events, now, EventKind::WinnerDefaulted { bidder: bidder.clone(), outcome });
        // Only a deposit still held for the deal can be forfeited; a runner-up's was released at
        // the close, so its default forfeits nothing.
        if self.bidders[defaulter].deposit == DepositState::Credited {
            self.bidders[defaulter].deposit = DepositState::Forfeited;
            self.emit(events, now, EventKind::DepositForfeited { bidder, amount: self.config.deposit });
        }
        if let Some((index, bid)) = runner_up {
            let bidder = self.bidders[index].code.clone();
            self.emit(events, now, EventKind::OfferedToRunnerUp { bidder, price: bid.max });
        }
        Ok(())
    }
}

/// `a` if it is at least `b`, else `b`; amounts of one currency.
pub(crate) fn larger(a: Money, b: Money) -> Money {
    if a.amount >= b.amount { a } else { b }
}

/// `a` if it is at most `b`, else `b`; amounts of one currency.
pub(crate) fn smaller(a: Money, b: Money) -> Money {
    if a.amount <= b.amount { a } else { b }
}
