//! The close (exactly once), its outcomes, deposits, cancellation and default.

use super::*;

fn closed_count(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e.kind, EventKind::Closed { .. })).count()
}

#[test]
fn a_tick_with_nothing_due_changes_nothing() {
    let mut lot = Lot::ready(english(), 1);
    assert!(lot.tick(-1).is_empty());
    assert_eq!(names(&lot.tick(0)), ["phase_changed"]);
    assert!(lot.tick(10).is_empty());
}

#[test]
fn a_tick_at_the_end_closes_exactly_once() {
    let mut lot = Lot::ready(english(), 1);
    lot.bid(0, 1_000, 10).unwrap();
    let first = lot.tick(END);
    assert_eq!(closed_count(&first), 1);
    assert!(lot.tick(END).is_empty());
    assert!(lot.tick(END + 10_000).is_empty());
    assert_eq!(code_of(lot.run(Command::Close, END + 1)), "already_closed");
    assert_eq!(lot.view().status, Status::Closed);
}

#[test]
fn an_explicit_close_before_the_end_is_rejected() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(code_of(lot.run(Command::Close, END - 1)), "auction_not_ended");
    let events = lot.run(Command::Close, END).unwrap();
    assert_eq!(closed_count(&events), 1);
    assert_eq!(code_of(lot.run(Command::Close, END)), "already_closed");
}

#[test]
fn closing_with_no_bids_is_no_bids() {
    let mut lot = Lot::ready(english(), 2);
    let events = lot.tick(END);
    assert_eq!(names(&events), ["phase_changed", "closed", "deposit_released", "deposit_released"]);
    assert_eq!(lot.outcome(), Some(Outcome::NoBids));
}

#[test]
fn closing_below_the_reserve_is_unsold_reserve_not_met() {
    let mut config = english();
    config.reserve_price = Some(cny(2_000));
    let mut lot = Lot::ready(config, 2);
    lot.proxy(0, 1_000, 1_900, 10).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(Outcome::UnsoldReserveNotMet));
    assert_eq!(lot.auction.bidders()[0].deposit(), DepositState::Released);
}

#[test]
fn closing_sells_to_the_leader_at_the_current_price_and_settles_deposits() {
    let mut lot = Lot::ready(english(), 3);
    lot.proxy(0, 1_000, 2_000, 10).unwrap();
    lot.bid(1, 1_500, 20).unwrap();
    let events = lot.tick(END + 5);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 1_600)));
    assert_eq!(names(&events), ["closed", "deposit_credited", "deposit_released", "deposit_released"]);
    let states: Vec<DepositState> = lot.auction.bidders().iter().map(Bidder::deposit).collect();
    assert_eq!(states, [DepositState::Credited, DepositState::Released, DepositState::Released]);
    assert_eq!(lot.auction.awardee().map(Bidder::user), Some(lot.people[0].user));
}

#[test]
fn an_unconfirmed_deposit_is_neither_released_nor_credited() {
    let mut lot = Lot::ready(english(), 1);
    lot.register(1, 5).unwrap();
    lot.bid(0, 1_000, 10).unwrap();
    let events = lot.tick(END);
    assert_eq!(names(&events), ["closed", "deposit_credited"]);
    assert_eq!(lot.auction.bidders()[1].deposit(), DepositState::Unconfirmed);
}

#[test]
fn cancel_before_the_close_releases_every_deposit() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    let events = lot.run(Command::Cancel { reason: "patent lapsed".into() }, 20).unwrap();
    assert_eq!(names(&events), ["closed", "deposit_released", "deposit_released"]);
    assert_eq!(lot.outcome(), Some(Outcome::Cancelled { reason: "patent lapsed".into() }));
    assert_eq!(code_of(lot.bid(1, 1_100, 30)), "auction_not_open");
    assert!(lot.tick(END).is_empty(), "a cancelled lot never closes a second time");
}

#[test]
fn cancel_needs_a_reason() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(code_of(lot.run(Command::Cancel { reason: "  ".into() }, 10)), "reason_required");
}

#[test]
fn cancel_at_or_after_the_end_is_rejected() {
    let mut lot = Lot::ready(english(), 1);
    lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(code_of(lot.run(Command::Cancel { reason: "late".into() }, END)), "already_closed");
    lot.tick(END);
    assert_eq!(code_of(lot.run(Command::Cancel { reason: "late".into() }, END + 1)), "already_closed");
    assert_eq!(code_of(lot.register(3, END + 1)), "already_closed");
}

#[test]
fn a_defaulting_winner_forfeits_its_deposit_and_the_runner_up_is_offered_its_own_highest_bid() {
    let mut lot = Lot::ready(english(), 3);
    lot.proxy(0, 1_000, 3_000, 10).unwrap();
    lot.proxy(1, 1_100, 2_500, 20).unwrap();
    lot.proxy(2, 2_700, 2_700, 30).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 2_800)));
    let events = lot.run(Command::Default { bidder: lot.people[0].user }, END + 100).unwrap();
    assert_eq!(names(&events), ["winner_defaulted", "deposit_forfeited", "offered_to_runner_up"]);
    assert_eq!(lot.outcome(), Some(sold(&lot, 2, 2_700)));
    assert_eq!(lot.auction.bidders()[0].deposit(), DepositState::Forfeited);

    // The runner-up declines too: its deposit went back at the close, so nothing is forfeited.
    let events = lot.run(Command::Default { bidder: lot.people[2].user }, END + 200).unwrap();
    assert_eq!(names(&events), ["winner_defaulted", "offered_to_runner_up"]);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_500)));
}

#[test]
fn a_default_with_no_runner_up_leaves_the_lot_unsold() {
    let mut lot = Lot::ready(english(), 1);
    lot.bid(0, 1_000, 10).unwrap();
    lot.tick(END);
    let events = lot.run(Command::Default { bidder: lot.people[0].user }, END + 1).unwrap();
    assert_eq!(names(&events), ["winner_defaulted", "deposit_forfeited"]);
    assert_eq!(lot.outcome(), Some(Outcome::UnsoldWinnerDefaulted));
    assert_eq!(code_of(lot.run(Command::Default { bidder: lot.people[0].user }, END + 2)), "not_sold");
}

#[test]
fn a_runner_up_below_the_reserve_is_not_offered_the_lot() {
    let mut config = english();
    config.reserve_price = Some(cny(2_000));
    let mut lot = Lot::ready(config, 2);
    lot.proxy(0, 1_000, 1_500, 10).unwrap();
    lot.proxy(1, 1_100, 2_500, 20).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_000)));
    lot.run(Command::Default { bidder: lot.people[1].user }, END + 1).unwrap();
    assert_eq!(lot.outcome(), Some(Outcome::UnsoldWinnerDefaulted));
}

#[test]
fn only_the_winner_can_default() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(code_of(lot.run(Command::Default { bidder: lot.people[0].user }, 20)), "not_sold");
    lot.bid(1, 1_100, 20).unwrap();
    lot.tick(END);
    assert_eq!(code_of(lot.run(Command::Default { bidder: lot.people[0].user }, END + 1)), "not_the_winner");
}

#[test]
fn the_clock_implies_upcoming_and_closing_in_the_public_view() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(lot.auction.public_view_at(at(-1)).status, Status::Upcoming);
    assert_eq!(lot.auction.public_view_at(at(1)).status, Status::Live);
    lot.bid(0, 1_000, 10).unwrap();
    let late = lot.auction.public_view_at(at(END));
    assert_eq!((late.status, late.next_minimum_bid), (Status::Closing, None));
    assert_eq!(lot.view().status, Status::Live, "the stored status changes only with the close");
}

#[test]
fn time_never_runs_backwards_within_a_lot() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, END - 400).unwrap();
    // A command stamped before the last event is treated as happening at the last event's time,
    // so event times never decrease and the end is judged on a monotone clock.
    let events = lot.bid(1, 1_100, 5).unwrap();
    assert_eq!(events[0].at, at(END - 400));
    assert!(lot.tick(END).iter().any(|e| e.kind.name() == "closed"));
    assert!(lot.tick(5).is_empty());
    assert_eq!(code_of(lot.bid(0, 1_200, 5)), "auction_not_open");
}
