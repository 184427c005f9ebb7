//! Bids: who may bid when, and how each format turns an accepted bid into a price and a leader.
//!
//! A bid is first turned into a [`BidPlan`] by reading the state only; the plan is then committed.
//! Checks run in a fixed, documented precedence (see `Command::PlaceBid`) so a bid with several
//! faults always gets the same code.

use super::config::Format;
use super::event::{Event, EventKind, Outcome};
use super::rejection::Rejection;
use super::state::{Auction, DepositState, StandingBid, Status};
use super::transitions::{larger, smaller};
use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Duration, Utc};

/// The effect of a bid that passed every check.
struct BidPlan {
    bidder: usize,
    /// The bidder's new commitment; its `seq` is filled in at commit time.
    standing: StandingBid,
    price: Option<Money>,
    leader: Option<usize>,
    /// What the `bid_accepted` event may show of the amount.
    public_amount: Option<Money>,
    /// Dutch: the acceptance sells the lot on the spot.
    sells_now: bool,
}

impl Auction {
    /// Checks, in this order: the bidding window (`auction_not_open`), the seller
    /// (`seller_cannot_bid`), registration (`not_registered`), deposit (`deposit_not_confirmed`),
    /// currency (`currency_mismatch`), then the format's own rules (round qualification, proxy
    /// support, `max_below_amount`, minimum, increment multiple, own-max/quote raise).
    pub(crate) fn place_bid(
        &mut self,
        user: UserId,
        organization: OrganizationId,
        amount: Money,
        max_amount: Option<Money>,
        now: DateTime<Utc>,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejection> {
        let phase = self.phase_at(now);
        if self.is_closed() || now >= self.ends_at || phase == Status::Upcoming {
            return Err(Rejection::AuctionNotOpen);
        }
        if organization == self.config.seller {
            return Err(Rejection::SellerCannotBid);
        }
        let bidder = self
            .bidders
            .iter()
            .position(|b| b.user == user && b.organization == organization)
            .ok_or(Rejection::NotRegistered)?;
        if self.bidders[bidder].deposit != DepositState::Held {
            return Err(Rejection::DepositNotConfirmed);
        }
        let expected = self.config.currency();
        for given in std::iter::once(amount).chain(max_amount) {
            if given.currency != expected {
                return Err(Rejection::CurrencyMismatch { expected, got: given.currency });
            }
        }

        let plan = match (self.config.format, phase) {
            (Format::TwoPhase, Status::FreeQuote) => self.plan_free_quote(bidder, amount, max_amount)?,
            (Format::TwoPhase, _) if self.bidders[bidder].bid.is_none() => {
                return Err(Rejection::NotQualifiedForRound);
            }
            (Format::English | Format::TwoPhase, _) => self.plan_ascending(bidder, amount, max_amount)?,
            (Format::SealedFirstPrice | Format::SealedSecondPrice, _) => {
                self.plan_sealed(bidder, amount, max_amount)?
            }
            (Format::Dutch, _) => self.plan_dutch(bidder, amount, max_amount, now)?,
        };

        self.advance_phase(now, events);
        self.commit_bid(plan, now, events);
        Ok(())
    }

    fn commit_bid(&mut self, plan: BidPlan, now: DateTime<Utc>, events: &mut Vec<Event>) {
        let price_or_leader_changed = plan.price != self.price || plan.leader != self.leader;
        let bid_seq = self.seq + 1;
        self.bidders[plan.bidder].bid = Some(StandingBid { seq: bid_seq, ..plan.standing });
        self.price = plan.price;
        self.leader = plan.leader;
        self.bid_count += 1;

        let sealed = self.config.format.is_sealed();
        let accepted = EventKind::BidAccepted {
            bidder: self.bidders[plan.bidder].code.clone(),
            amount: plan.public_amount,
            current_price: if sealed { None } else { self.price },
            leader: if sealed { None } else { self.leader.map(|i| self.bidders[i].code.clone()) },
            reserve_met: !sealed && self.reserve_met(),
        };
        self.emit(events, now, accepted);

        if plan.sells_now {
            let winner = self.bidders[plan.bidder].code.clone();
            let price = plan.standing.max;
            self.finish(Outcome::Sold { winner, price }, Some(plan.bidder), now, events);
        } else if price_or_leader_changed && self.config.format.is_ascending() && self.status == Status::Live {
            self.extend_if_in_window(now, events);
        }
    }

    /// Soft close: called only for an accepted round bid that changed the price or the leader
    /// (a proxy's automatic answer counts, being part of the same bid).
    fn extend_if_in_window(&mut self, now: DateTime<Utc>, events: &mut Vec<Event>) {
        let Some(soft) = self.config.extension else { return };
        if soft.max_extensions.is_some_and(|cap| self.extensions >= cap) {
            return;
        }
        // Out-of-range windows are treated as "always inside", out-of-range extensions as "no
        // extension": both only arise from absurd configs and must not panic.
        let window_opens = Duration::try_seconds(soft.window_secs).and_then(|w| self.ends_at.checked_sub_signed(w));
        if window_opens.is_some_and(|opens| now < opens) {
            return;
        }
        let Some(new_end) = Duration::try_seconds(soft.extend_secs).and_then(|e| now.checked_add_signed(e)) else {
            return;
        };
        // The end only ever moves later; an extension shorter than the time left changes nothing.
        if new_end <= self.ends_at {
            return;
        }
        self.ends_at = new_end;
        self.extensions += 1;
        self.emit(events, now, EventKind::Extended { ends_at: new_end, extensions: self.extensions });
    }

    /// English, and the two-phase round: raises on the increment grid, proxy maximums, hidden
    /// reserve.
    fn plan_ascending(&self, bidder: usize, amount: Money, max_amount: Option<Money>) -> Result<BidPlan, Rejection> {
        let max = max_amount.unwrap_or(amount);
        if max.amount < amount.amount {
            return Err(Rejection::MaxBelowAmount);
        }
        let minimum = self.minimum_raise()?;
        if amount.amount < minimum.amount {
            return Err(Rejection::BidBelowMinimum { minimum });
        }
        // The first bid counts from the starting price (zero steps allowed), later ones from the
        // current price (at least one step, guaranteed by the minimum).
        let base = self.price.unwrap_or(self.config.starting_price);
        let increment = self.config.increment_at(base);
        // `checked_rem` keeps a state deserialized with a zero increment from panicking.
        if (amount.amount - base.amount).checked_rem(increment.amount) != Some(0) {
            return Err(Rejection::NotAMultipleOfIncrement { increment });
        }

        let standing = StandingBid { max, floor: amount, seq: 0 };
        let Some(leader) = self.leader else {
            return Ok(BidPlan {
                bidder,
                standing,
                price: Some(self.lifted_to_reserve(max, amount)),
                leader: Some(bidder),
                public_amount: Some(amount),
                sells_now: false,
            });
        };
        let current = self.price.unwrap_or(self.config.starting_price);
        let leading = self.bidders[leader].bid.unwrap_or(StandingBid { max: current, floor: current, seq: 0 });

        if leader == bidder {
            // The leader never bids against itself: a new bid only raises its maximum (which the
            // public must not learn), and the price moves only if the hidden reserve is now met.
            if max.amount <= leading.max.amount {
                return Err(Rejection::MaxNotRaised);
            }
            return Ok(BidPlan {
                bidder,
                standing: StandingBid { floor: leading.floor, ..standing },
                price: Some(self.lifted_to_reserve(max, current)),
                leader: Some(bidder),
                public_amount: None,
                sells_now: false,
            });
        }

        // Proxy rule: price = min(second-highest max + increment, highest max), and never below
        // the leader's own explicit bid. Ties go to the earlier maximum, i.e. the standing leader.
        let (price, new_leader) = if max.amount > leading.max.amount {
            let outbid = smaller(self.one_step_above(leading.max), max);
            (self.lifted_to_reserve(max, larger(amount, outbid)), bidder)
        } else {
            // The leader's proxy answers; the reserve was already applied when its max was set.
            (larger(current, smaller(self.one_step_above(max), leading.max)), leader)
        };
        Ok(BidPlan {
            bidder,
            standing,
            price: Some(price),
            leader: Some(new_leader),
            public_amount: Some(amount),
            sells_now: false,
        })
    }

    /// `amount` plus the increment there, saturating: a sum past `i64::MAX` is above every
    /// possible maximum, and callers always cap it by one.
    fn one_step_above(&self, amount: Money) -> Money {
        Money::new(amount.amount.saturating_add(self.config.increment_at(amount).amount), amount.currency)
    }

    /// A maximum at or above the hidden reserve lifts the price straight to the reserve.
    fn lifted_to_reserve(&self, max: Money, price: Money) -> Money {
        match self.config.reserve_price {
            Some(reserve) if max.amount >= reserve.amount => larger(price, reserve),
            _ => price,
        }
    }

    /// Two-phase free quotes: open quotes at or above the starting price, each beating the
    /// bidder's own previous one; the highest (earliest of equals) leads.
    fn plan_free_quote(&self, bidder: usize, amount: Money, max_amount: Option<Money>) -> Result<BidPlan, Rejection> {
        if max_amount.is_some() {
            return Err(Rejection::ProxyNotSupported);
        }
        if amount.amount < self.config.starting_price.amount {
            return Err(Rejection::BidBelowMinimum { minimum: self.config.starting_price });
        }
        if self.bidders[bidder].bid.is_some_and(|own| amount.amount <= own.max.amount) {
            return Err(Rejection::QuoteNotRaised);
        }
        let leads = match self.leader.and_then(|i| self.bidders[i].bid.map(|bid| (i, bid))) {
            None => true,
            Some((leader, _)) if leader == bidder => true,
            Some((_, leading)) => amount.amount > leading.max.amount,
        };
        Ok(BidPlan {
            bidder,
            standing: StandingBid { max: amount, floor: amount, seq: 0 },
            price: if leads { Some(amount) } else { self.price },
            leader: if leads { Some(bidder) } else { self.leader },
            public_amount: Some(amount),
            sells_now: false,
        })
    }

    /// Sealed bids: one per bidder, any amount from the starting price, replaced by a revision.
    /// Nothing public moves until the close.
    fn plan_sealed(&self, bidder: usize, amount: Money, max_amount: Option<Money>) -> Result<BidPlan, Rejection> {
        if max_amount.is_some() {
            return Err(Rejection::ProxyNotSupported);
        }
        if amount.amount < self.config.starting_price.amount {
            return Err(Rejection::BidBelowMinimum { minimum: self.config.starting_price });
        }
        Ok(BidPlan {
            bidder,
            standing: StandingBid { max: amount, floor: amount, seq: 0 },
            price: None,
            leader: None,
            public_amount: None,
            sells_now: false,
        })
    }

    /// Dutch: any amount at or above the price at `now` accepts, at that price (a bidder who saw a
    /// higher price a moment ago pays the lower current one).
    fn plan_dutch(
        &self,
        bidder: usize,
        amount: Money,
        max_amount: Option<Money>,
        now: DateTime<Utc>,
    ) -> Result<BidPlan, Rejection> {
        if max_amount.is_some() {
            return Err(Rejection::ProxyNotSupported);
        }
        let price = self.config.dutch_price_at(now);
        if amount.amount < price.amount {
            return Err(Rejection::BidBelowMinimum { minimum: price });
        }
        Ok(BidPlan {
            bidder,
            standing: StandingBid { max: price, floor: price, seq: 0 },
            price: Some(price),
            leader: Some(bidder),
            public_amount: Some(price),
            sells_now: true,
        })
    }
}
