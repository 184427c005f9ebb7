//! The two-phase Chinese form: free quotes, then a timed round among those who quoted.

use super::*;

const ROUND: i64 = 1_800;

fn two_phase() -> AuctionConfig {
    AuctionConfig { format: Format::TwoPhase, free_quote_until: Some(at(ROUND)), ..english() }
}

#[test]
fn free_quotes_must_reach_the_starting_price_and_raise_your_own() {
    let mut lot = Lot::ready(two_phase(), 2);
    assert_eq!(code_of(lot.bid(0, 999, 10)), "bid_below_minimum");
    lot.bid(0, 1_234, 10).unwrap();
    assert_eq!(code_of(lot.bid(0, 1_234, 20)), "quote_not_raised");
    assert_eq!(code_of(lot.bid(0, 1_200, 20)), "quote_not_raised");
    lot.bid(0, 1_300, 20).unwrap();
    // Another bidder may quote below the best quote: quotes only have to beat one's own.
    lot.bid(1, 1_000, 30).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_300), Some(lot.code(0))));
}

#[test]
fn free_quotes_take_no_proxy_and_never_extend() {
    let mut lot = Lot::ready(two_phase(), 1);
    assert_eq!(code_of(lot.proxy(0, 1_000, 2_000, 10)), "proxy_not_supported");
    let events = lot.bid(0, 1_000, ROUND - 1).unwrap();
    assert_eq!(names(&events), ["phase_changed", "bid_accepted"]);
    assert_eq!(lot.view().status, Status::FreeQuote);
}

#[test]
fn the_highest_free_quote_leads_with_ties_to_the_earlier() {
    let mut lot = Lot::ready(two_phase(), 3);
    lot.bid(0, 1_500, 10).unwrap();
    lot.bid(1, 1_500, 20).unwrap();
    lot.bid(2, 1_400, 30).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_500), Some(lot.code(0))));
    lot.bid(2, 1_600, 40).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_600), Some(lot.code(2))));
}

#[test]
fn the_round_starts_with_a_phase_changed_event() {
    let mut lot = Lot::ready(two_phase(), 1);
    assert_eq!(names(&lot.tick(0)), ["phase_changed"]);
    assert_eq!(lot.view().status, Status::FreeQuote);
    let events = lot.tick(ROUND);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::PhaseChanged { status: Status::Live });
    assert!(lot.tick(ROUND + 1).is_empty());
}

#[test]
fn only_bidders_with_a_free_quote_may_enter_the_round() {
    let mut lot = Lot::ready(two_phase(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(code_of(lot.bid(1, 1_100, ROUND)), "not_qualified_for_round");
    lot.bid(0, 1_100, ROUND).unwrap();
}

#[test]
fn round_bids_raise_from_the_best_quote_by_the_increment() {
    let mut lot = Lot::ready(two_phase(), 2);
    lot.bid(0, 1_250, 10).unwrap();
    lot.bid(1, 1_000, 20).unwrap();
    assert_eq!(code_of(lot.bid(1, 1_300, ROUND + 1)), "bid_below_minimum");
    assert_eq!(code_of(lot.bid(1, 1_400, ROUND + 1)), "not_a_multiple_of_increment");
    let events = lot.bid(1, 1_350, ROUND + 1).unwrap();
    assert_eq!(names(&events), ["phase_changed", "bid_accepted"]);
    assert_eq!((lot.price(), lot.leader()), (Some(1_350), Some(lot.code(1))));
}

#[test]
fn round_bids_use_proxies_and_the_soft_close() {
    let mut lot = Lot::ready(two_phase(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    lot.bid(1, 1_100, 20).unwrap();
    lot.proxy(0, 1_200, 3_000, ROUND + 10).unwrap();
    let events = lot.bid(1, 1_500, END - 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_600), Some(lot.code(0))));
    assert_eq!(names(&events), ["bid_accepted", "extended"]);
    lot.tick(END + 100);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 1_600)));
}

#[test]
fn a_round_without_quotes_closes_with_no_bids() {
    let mut lot = Lot::ready(two_phase(), 1);
    let events = lot.tick(END);
    assert_eq!(names(&events), ["phase_changed", "phase_changed", "closed", "deposit_released"]);
    assert_eq!(lot.outcome(), Some(Outcome::NoBids));
}
