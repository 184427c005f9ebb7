//! A deliberately naive reference model of the auction rules, written separately from the machine.
//!
//! It keeps the full history of accepted bids and recomputes everything from it on every question
//! (leader, price, runner-up), undoes a rejected command by restoring a snapshot, walks the Dutch
//! schedule step by step and uses plain `i64` amounts. It is slow and obviously right; the
//! property tests check the machine against it. The order of the rejection checks is part of the
//! contract documented on `PlaceBid`, so the model follows the same order.

use achex_bidding_engine::{AuctionConfig, BidderCode, Command, Format, Increment, Outcome, Status};
use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deposit {
    Unconfirmed,
    Held,
    Released,
    Credited,
    Forfeited,
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub user: UserId,
    pub org: OrganizationId,
    pub deposit: Deposit,
    pub defaulted: bool,
}

/// One accepted bid. `explicit` bids set the bidder's floor (what it pays at least if it leads);
/// a leader raising its own maximum is not explicit.
#[derive(Debug, Clone, Copy)]
pub struct PastBid {
    pub bidder: usize,
    pub amount: i64,
    pub max: i64,
    pub explicit: bool,
}

/// What the model expects the public view to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub status: Status,
    pub current_price: Option<i64>,
    pub leader: Option<BidderCode>,
    pub reserve_met: bool,
    pub bid_count: u64,
    pub ends_at: DateTime<Utc>,
    pub extensions: u32,
    pub seq: u64,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub config: AuctionConfig,
    pub status: Status,
    pub ends_at: DateTime<Utc>,
    pub extensions: u32,
    pub seq: u64,
    pub last_at: Option<DateTime<Utc>>,
    pub registrations: Vec<Registration>,
    /// Every accepted bid, oldest first. Its index orders bids in time.
    pub history: Vec<PastBid>,
    pub outcome: Option<Outcome>,
    pub awardee: Option<usize>,
    /// Sealed and Dutch: the price and leader fixed at the close.
    pub settled: Option<(usize, i64)>,
}

type Step = Result<Vec<&'static str>, &'static str>;

impl Model {
    pub fn new(config: AuctionConfig) -> Self {
        Self {
            status: Status::Upcoming,
            ends_at: config.ends_at,
            config,
            extensions: 0,
            seq: 0,
            last_at: None,
            registrations: Vec::new(),
            history: Vec::new(),
            outcome: None,
            awardee: None,
            settled: None,
        }
    }

    /// The time the machine should judge a command by: never before the last event.
    pub fn effective(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.last_at {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    fn start(&self) -> i64 {
        self.config.starting_price.amount
    }

    fn reserve(&self) -> Option<i64> {
        self.config.reserve_price.map(|r| r.amount)
    }

    pub fn increment(&self, price: i64) -> i64 {
        match &self.config.increment {
            Some(Increment::Fixed(step)) => step.amount,
            Some(Increment::Tiered(tiers)) => {
                let mut step = tiers[0].increment.amount;
                for tier in tiers {
                    if tier.from_price.amount <= price {
                        step = tier.increment.amount;
                    }
                }
                step
            }
            None => 1,
        }
    }

    /// Walks the schedule one interval at a time.
    pub fn dutch_price(&self, now: DateTime<Utc>) -> i64 {
        let schedule = self.config.dutch.expect("dutch schedule");
        let mut price = self.start();
        let mut next_drop = self.config.starts_at + Duration::seconds(schedule.interval_secs);
        while next_drop <= now && price > schedule.floor.amount {
            price = (price - schedule.step.amount).max(schedule.floor.amount);
            next_drop += Duration::seconds(schedule.interval_secs);
        }
        price
    }

    /// Each bidder's latest bid in `history` with its position, best first: highest maximum, then
    /// the earlier bid.
    fn ranked_in(history: &[PastBid]) -> Vec<(usize, i64, usize)> {
        let mut latest: Vec<(usize, i64, usize)> = Vec::new();
        for (position, bid) in history.iter().enumerate() {
            latest.retain(|(bidder, _, _)| *bidder != bid.bidder);
            latest.push((bid.bidder, bid.max, position));
        }
        latest.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        latest
    }

    pub fn ranked(&self) -> Vec<(usize, i64, usize)> {
        Self::ranked_in(&self.history)
    }

    pub fn leader(&self) -> Option<usize> {
        self.ranked().first().map(|&(bidder, _, _)| bidder)
    }

    fn own_max(&self, bidder: usize) -> Option<i64> {
        self.history.iter().rev().find(|b| b.bidder == bidder).map(|b| b.max)
    }

    fn reserve_lift(&self, leader_max: i64, price: i64) -> i64 {
        match self.reserve() {
            Some(reserve) if leader_max >= reserve => price.max(reserve),
            _ => price,
        }
    }

    /// The proxy formula over the whole multiset of maximums in `history`:
    /// max(start, leader's floor, min(second max + increment, leader max), reserve if reached).
    fn formula(&self, history: &[PastBid]) -> Option<i64> {
        let ranked = Self::ranked_in(history);
        let &(leader, leader_max, _) = ranked.first()?;
        let floor = history.iter().rev().find(|b| b.bidder == leader && b.explicit).map_or(self.start(), |b| b.amount);
        let mut price = self.start().max(floor);
        if let Some(&(_, second_max, _)) = ranked.get(1) {
            let outbid = second_max.saturating_add(self.increment(second_max));
            price = price.max(outbid.min(leader_max));
        }
        Some(self.reserve_lift(leader_max, price))
    }

    /// The ascending price. Only competitive (explicit) bids set it through the formula: a leader
    /// raising its own maximum afterwards leaves it alone (it would otherwise move it when the
    /// price was capped by a tied maximum), except that reaching the reserve lifts it there.
    pub fn ascending_price(&self) -> Option<i64> {
        let last_explicit = self.history.iter().rposition(|b| b.explicit)?;
        let price = self.formula(&self.history[..=last_explicit])?;
        let leader_max = self.ranked()[0].1;
        Some(self.reserve_lift(leader_max, price))
    }

    fn phase_at(&self, now: DateTime<Utc>) -> Status {
        if self.status == Status::Closed {
            Status::Closed
        } else if now < self.config.starts_at {
            Status::Upcoming
        } else if self.config.format == Format::TwoPhase && now < self.config.free_quote_until.unwrap() {
            Status::FreeQuote
        } else {
            Status::Live
        }
    }

    fn catch_up(&mut self, now: DateTime<Utc>, events: &mut Vec<&'static str>) {
        if self.status == Status::Upcoming && now >= self.config.starts_at {
            self.status = if self.config.format == Format::TwoPhase { Status::FreeQuote } else { Status::Live };
            events.push("phase_changed");
        }
        if self.status == Status::FreeQuote && now >= self.config.free_quote_until.unwrap() {
            self.status = Status::Live;
            events.push("phase_changed");
        }
    }

    fn code(bidder: usize) -> BidderCode {
        BidderCode::from_ordinal(bidder + 1)
    }

    /// Applies a command; on a rejection the model is restored exactly.
    pub fn step(&mut self, command: &Command, now: DateTime<Utc>) -> Step {
        let now = self.effective(now);
        let snapshot = self.clone();
        let mut events = Vec::new();
        let result = self.step_inner(command, now, &mut events);
        match result {
            Ok(()) => {
                if !events.is_empty() {
                    self.last_at = Some(now);
                    self.seq += events.len() as u64;
                }
                Ok(events)
            }
            Err(code) => {
                *self = snapshot;
                Err(code)
            }
        }
    }

    fn ended(&self, now: DateTime<Utc>) -> bool {
        self.status == Status::Closed || now >= self.ends_at
    }

    fn step_inner(
        &mut self,
        command: &Command,
        now: DateTime<Utc>,
        events: &mut Vec<&'static str>,
    ) -> Result<(), &'static str> {
        match command {
            Command::Register { bidder, organization } => {
                if self.ended(now) {
                    return Err("already_closed");
                }
                if *organization == self.config.seller {
                    return Err("seller_cannot_bid");
                }
                if self.registrations.iter().any(|r| r.user == *bidder || r.org == *organization) {
                    return Err("already_registered");
                }
                self.catch_up(now, events);
                let free = self.config.deposit.amount == 0;
                self.registrations.push(Registration {
                    user: *bidder,
                    org: *organization,
                    deposit: if free { Deposit::Held } else { Deposit::Unconfirmed },
                    defaulted: false,
                });
                events.push("bidder_registered");
                if free {
                    events.push("deposit_confirmed");
                }
            }
            Command::ConfirmDeposit { bidder } => {
                if self.ended(now) {
                    return Err("already_closed");
                }
                let index = self.registrations.iter().position(|r| r.user == *bidder).ok_or("not_registered")?;
                if self.registrations[index].deposit != Deposit::Unconfirmed {
                    return Err("deposit_already_confirmed");
                }
                self.catch_up(now, events);
                self.registrations[index].deposit = Deposit::Held;
                events.push("deposit_confirmed");
            }
            Command::PlaceBid { bidder, organization, amount, max_amount } => {
                self.bid(*bidder, *organization, *amount, *max_amount, now, events)?;
            }
            Command::Tick => {
                if self.status != Status::Closed {
                    self.catch_up(now, events);
                    if now >= self.ends_at {
                        self.close_at_end(events);
                    }
                }
            }
            Command::Close => {
                if self.status == Status::Closed {
                    return Err("already_closed");
                }
                if now < self.ends_at {
                    return Err("auction_not_ended");
                }
                self.catch_up(now, events);
                self.close_at_end(events);
            }
            Command::Cancel { reason } => {
                if self.ended(now) {
                    return Err("already_closed");
                }
                if reason.trim().is_empty() {
                    return Err("reason_required");
                }
                self.catch_up(now, events);
                self.finish(Outcome::Cancelled { reason: reason.clone() }, None, events);
            }
            Command::Default { bidder } => {
                let defaulter = self.awardee.ok_or("not_sold")?;
                if self.registrations[defaulter].user != *bidder {
                    return Err("not_the_winner");
                }
                self.registrations[defaulter].defaulted = true;
                let reserve = self.reserve();
                let runner_up = self
                    .ranked()
                    .into_iter()
                    .find(|&(b, max, _)| !self.registrations[b].defaulted && reserve.is_none_or(|r| max >= r));
                self.outcome = Some(match runner_up {
                    Some((b, max, _)) => Outcome::Sold { winner: Self::code(b), price: self.money(max) },
                    None => Outcome::UnsoldWinnerDefaulted,
                });
                self.awardee = runner_up.map(|(b, _, _)| b);
                events.push("winner_defaulted");
                if self.registrations[defaulter].deposit == Deposit::Credited {
                    self.registrations[defaulter].deposit = Deposit::Forfeited;
                    events.push("deposit_forfeited");
                }
                if runner_up.is_some() {
                    events.push("offered_to_runner_up");
                }
            }
        }
        Ok(())
    }

    fn money(&self, amount: i64) -> Money {
        Money::new(amount, self.config.currency())
    }

    fn bid(
        &mut self,
        user: UserId,
        org: OrganizationId,
        amount: Money,
        max_amount: Option<Money>,
        now: DateTime<Utc>,
        events: &mut Vec<&'static str>,
    ) -> Result<(), &'static str> {
        let phase = self.phase_at(now);
        if self.status == Status::Closed || now >= self.ends_at || phase == Status::Upcoming {
            return Err("auction_not_open");
        }
        if org == self.config.seller {
            return Err("seller_cannot_bid");
        }
        let bidder = self.registrations.iter().position(|r| r.user == user && r.org == org).ok_or("not_registered")?;
        if self.registrations[bidder].deposit != Deposit::Held {
            return Err("deposit_not_confirmed");
        }
        let currency = self.config.currency();
        if amount.currency != currency || max_amount.is_some_and(|m| m.currency != currency) {
            return Err("currency_mismatch");
        }
        let amount = amount.amount;
        let format = self.config.format;

        let new_bid = match format {
            Format::TwoPhase if phase == Status::FreeQuote => {
                if max_amount.is_some() {
                    return Err("proxy_not_supported");
                }
                if amount < self.start() {
                    return Err("bid_below_minimum");
                }
                if self.own_max(bidder).is_some_and(|own| amount <= own) {
                    return Err("quote_not_raised");
                }
                PastBid { bidder, amount, max: amount, explicit: true }
            }
            Format::English | Format::TwoPhase => {
                if format == Format::TwoPhase && self.own_max(bidder).is_none() {
                    return Err("not_qualified_for_round");
                }
                let max = max_amount.map_or(amount, |m| m.amount);
                if max < amount {
                    return Err("max_below_amount");
                }
                let price = self.ascending_price();
                let minimum = match price {
                    None => self.start(),
                    Some(p) => p.checked_add(self.increment(p)).ok_or("amount_out_of_range")?,
                };
                if amount < minimum {
                    return Err("bid_below_minimum");
                }
                let base = price.unwrap_or(self.start());
                if (amount - base) % self.increment(base) != 0 {
                    return Err("not_a_multiple_of_increment");
                }
                let leads = self.leader() == Some(bidder);
                if leads && max <= self.own_max(bidder).unwrap() {
                    return Err("max_not_raised");
                }
                PastBid { bidder, amount, max, explicit: !leads }
            }
            Format::SealedFirstPrice | Format::SealedSecondPrice => {
                if max_amount.is_some() {
                    return Err("proxy_not_supported");
                }
                if amount < self.start() {
                    return Err("bid_below_minimum");
                }
                PastBid { bidder, amount, max: amount, explicit: true }
            }
            Format::Dutch => {
                if max_amount.is_some() {
                    return Err("proxy_not_supported");
                }
                let price = self.dutch_price(now);
                if amount < price {
                    return Err("bid_below_minimum");
                }
                PastBid { bidder, amount: price, max: price, explicit: true }
            }
        };

        self.catch_up(now, events);
        let before = (self.ascending_price(), self.leader());
        self.history.push(new_bid);
        events.push("bid_accepted");

        if format == Format::Dutch {
            self.settled = Some((bidder, new_bid.max));
            self.finish(
                Outcome::Sold { winner: Self::code(bidder), price: self.money(new_bid.max) },
                Some(bidder),
                events,
            );
            return Ok(());
        }
        let changed = before != (self.ascending_price(), self.leader());
        if format.is_ascending() && self.status == Status::Live && changed {
            self.maybe_extend(now, events);
        }
        Ok(())
    }

    fn maybe_extend(&mut self, now: DateTime<Utc>, events: &mut Vec<&'static str>) {
        let Some(soft) = self.config.extension else { return };
        let under_cap = soft.max_extensions.is_none_or(|cap| self.extensions < cap);
        let in_window = now >= self.ends_at - Duration::seconds(soft.window_secs);
        let new_end = now + Duration::seconds(soft.extend_secs);
        if under_cap && in_window && new_end > self.ends_at {
            self.ends_at = new_end;
            self.extensions += 1;
            events.push("extended");
        }
    }

    fn close_at_end(&mut self, events: &mut Vec<&'static str>) {
        let ranked = self.ranked();
        let reserve = self.reserve();
        match self.config.format {
            Format::Dutch => self.finish(Outcome::NoBids, None, events),
            Format::English | Format::TwoPhase => match ranked.first() {
                None => self.finish(Outcome::NoBids, None, events),
                Some(&(_, max, _)) if reserve.is_some_and(|r| max < r) => {
                    self.finish(Outcome::UnsoldReserveNotMet, None, events)
                }
                Some(&(leader, _, _)) => {
                    let price = self.ascending_price().unwrap();
                    self.finish(
                        Outcome::Sold { winner: Self::code(leader), price: self.money(price) },
                        Some(leader),
                        events,
                    )
                }
            },
            Format::SealedFirstPrice | Format::SealedSecondPrice => {
                let Some(&(top, top_max, _)) = ranked.first() else {
                    self.finish(Outcome::NoBids, None, events);
                    return;
                };
                events.push("sealed_bids_revealed");
                if reserve.is_some_and(|r| top_max < r) {
                    self.settled = Some((top, top_max));
                    self.finish(Outcome::UnsoldReserveNotMet, None, events);
                    return;
                }
                let price = if self.config.format == Format::SealedFirstPrice {
                    top_max
                } else {
                    let second = ranked.get(1).map_or(self.start(), |&(_, max, _)| max);
                    second.max(reserve.unwrap_or(self.start()))
                };
                self.settled = Some((top, price));
                self.finish(Outcome::Sold { winner: Self::code(top), price: self.money(price) }, Some(top), events);
            }
        }
    }

    fn finish(&mut self, outcome: Outcome, winner: Option<usize>, events: &mut Vec<&'static str>) {
        self.status = Status::Closed;
        self.outcome = Some(outcome);
        self.awardee = winner;
        events.push("closed");
        for (index, registration) in self.registrations.iter_mut().enumerate() {
            if registration.deposit == Deposit::Held {
                if Some(index) == winner {
                    registration.deposit = Deposit::Credited;
                    events.push("deposit_credited");
                } else {
                    registration.deposit = Deposit::Released;
                    events.push("deposit_released");
                }
            }
        }
    }

    /// What the machine's `public_view()` must show.
    pub fn expected(&self) -> Expected {
        let closed = self.status == Status::Closed;
        let reserve = self.reserve();
        let (current_price, leader, reserve_met) = match self.config.format {
            Format::English | Format::TwoPhase => {
                let ranked = self.ranked();
                let leader_max = ranked.first().map(|&(_, max, _)| max);
                (self.ascending_price(), self.leader(), leader_max.is_some_and(|max| reserve.is_none_or(|r| max >= r)))
            }
            Format::SealedFirstPrice | Format::SealedSecondPrice => match self.settled {
                Some((top, price)) if closed => {
                    let top_max = self.ranked()[0].1;
                    (Some(price), Some(top), reserve.is_none_or(|r| top_max >= r))
                }
                _ => (None, None, false),
            },
            Format::Dutch => match self.settled {
                Some((buyer, price)) => (Some(price), Some(buyer), true),
                None if closed => (None, None, false),
                None => (Some(self.dutch_price(self.last_at.unwrap_or(self.config.starts_at))), None, false),
            },
        };
        Expected {
            status: self.status,
            current_price,
            leader: leader.map(Self::code),
            reserve_met,
            bid_count: self.history.len() as u64,
            ends_at: self.ends_at,
            extensions: self.extensions,
            seq: self.seq,
            outcome: self.outcome.clone(),
        }
    }
}
