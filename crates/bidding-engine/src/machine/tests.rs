//! Rule tests, one sentence per rule. They drive the machine only through its public API, via
//! [`Lot`], which also checks on every call that a rejection left the state untouched and keeps
//! the log of accepted commands for replay.

mod closing;
mod config;
mod dutch;
mod english;
mod replay;
mod sealed;
mod soft_close;
mod two_phase;

use super::*;
use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Test time: `secs` seconds after the start used by every test config.
pub(super) fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::seconds(secs)
}

pub(super) fn cny(amount: i64) -> Money {
    Money::cny(amount)
}

pub(super) const END: i64 = 3_600;

/// English, 1000 start, 100 increment, 200 deposit, 0–3600 s, soft close 300 s window / 120 s.
pub(super) fn english() -> AuctionConfig {
    AuctionConfig {
        format: Format::English,
        seller: OrganizationId::new(),
        starting_price: cny(1_000),
        increment: Some(Increment::Fixed(cny(100))),
        reserve_price: None,
        deposit: cny(200),
        starts_at: at(0),
        ends_at: at(END),
        free_quote_until: None,
        extension: Some(SoftClose { window_secs: 300, extend_secs: 120, max_extensions: None }),
        dutch: None,
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Person {
    pub user: UserId,
    pub org: OrganizationId,
}

pub(super) struct Lot {
    pub auction: Auction,
    pub people: Vec<Person>,
    pub seller: Person,
    pub log: Vec<TimedCommand>,
}

impl Lot {
    pub fn new(config: AuctionConfig) -> Self {
        let seller = Person { user: UserId::new(), org: config.seller };
        let people = (0..5).map(|_| Person { user: UserId::new(), org: OrganizationId::new() }).collect();
        Self { auction: Auction::new(config).expect("valid config"), people, seller, log: Vec::new() }
    }

    /// A lot whose first `bidders` people are registered with confirmed deposits before the start.
    pub fn ready(config: AuctionConfig, bidders: usize) -> Self {
        let mut lot = Self::new(config);
        for who in 0..bidders {
            lot.register(who, -60).unwrap();
            lot.confirm(who, -60).unwrap();
        }
        lot
    }

    pub fn run(&mut self, command: Command, secs: i64) -> Result<Vec<Event>, Rejection> {
        let before = self.auction.clone();
        let result = self.auction.apply_in_place(command.clone(), at(secs));
        match &result {
            Ok(events) if events.is_empty() => {
                assert_eq!(self.auction, before, "a command without events changed state")
            }
            Ok(_) => self.log.push(TimedCommand::new(at(secs), command)),
            Err(_) => assert_eq!(self.auction, before, "a rejected command changed state"),
        }
        result
    }

    pub fn register(&mut self, who: usize, secs: i64) -> Result<Vec<Event>, Rejection> {
        let person = self.people[who];
        self.run(Command::Register { bidder: person.user, organization: person.org }, secs)
    }

    pub fn confirm(&mut self, who: usize, secs: i64) -> Result<Vec<Event>, Rejection> {
        self.run(Command::ConfirmDeposit { bidder: self.people[who].user }, secs)
    }

    pub fn bid(&mut self, who: usize, amount: i64, secs: i64) -> Result<Vec<Event>, Rejection> {
        self.place(self.people[who], cny(amount), None, secs)
    }

    pub fn proxy(&mut self, who: usize, amount: i64, max: i64, secs: i64) -> Result<Vec<Event>, Rejection> {
        self.place(self.people[who], cny(amount), Some(cny(max)), secs)
    }

    pub fn place(
        &mut self,
        person: Person,
        amount: Money,
        max_amount: Option<Money>,
        secs: i64,
    ) -> Result<Vec<Event>, Rejection> {
        self.run(Command::PlaceBid { bidder: person.user, organization: person.org, amount, max_amount }, secs)
    }

    pub fn tick(&mut self, secs: i64) -> Vec<Event> {
        self.run(Command::Tick, secs).expect("a tick is never rejected")
    }

    pub fn view(&self) -> PublicState {
        self.auction.public_view()
    }

    pub fn price(&self) -> Option<i64> {
        self.view().current_price.map(|p| p.amount)
    }

    pub fn leader(&self) -> Option<BidderCode> {
        self.view().leader_code
    }

    pub fn code(&self, who: usize) -> BidderCode {
        self.auction.bidder_by_user(self.people[who].user).expect("registered").code().clone()
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.auction.outcome().cloned()
    }
}

pub(super) fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

pub(super) fn code_of(result: Result<Vec<Event>, Rejection>) -> &'static str {
    result.expect_err("expected a rejection").code()
}

pub(super) fn sold(lot: &Lot, who: usize, price: i64) -> Outcome {
    Outcome::Sold { winner: lot.code(who), price: cny(price) }
}
