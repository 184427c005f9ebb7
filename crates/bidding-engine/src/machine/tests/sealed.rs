//! Sealed bids, first and second price.

use super::*;

fn sealed(format: Format) -> AuctionConfig {
    AuctionConfig { format, increment: None, extension: None, ..english() }
}

#[test]
fn sealed_bids_are_hidden_until_the_close() {
    let mut lot = Lot::ready(sealed(Format::SealedFirstPrice), 2);
    let mut published = lot.bid(0, 4_321, 10).unwrap();
    published.extend(lot.bid(1, 5_432, 20).unwrap());
    let view = lot.view();
    assert_eq!((view.current_price, view.leader_code.clone(), view.reserve_met), (None, None, false));
    assert_eq!(view.bid_count, 2);
    let text = serde_json::to_string(&(view, &published)).unwrap();
    assert!(!text.contains("4321") && !text.contains("5432"), "{text}");

    let events = lot.tick(END);
    assert_eq!(names(&events)[..2], ["sealed_bids_revealed", "closed"]);
    let EventKind::SealedBidsRevealed { bids } = &events[0].kind else { panic!("expected the reveal") };
    let revealed: Vec<(BidderCode, i64)> = bids.iter().map(|b| (b.bidder.clone(), b.amount.amount)).collect();
    assert_eq!(revealed, [(lot.code(1), 5_432), (lot.code(0), 4_321)]);
    assert_eq!((lot.price(), lot.leader()), (Some(5_432), Some(lot.code(1))));
}

#[test]
fn a_sealed_bid_can_be_revised_until_the_close() {
    let mut lot = Lot::ready(sealed(Format::SealedFirstPrice), 2);
    lot.bid(0, 3_000, 10).unwrap();
    lot.bid(1, 2_000, 20).unwrap();
    lot.bid(0, 1_500, 30).unwrap();
    assert_eq!(code_of(lot.bid(0, 5_000, END)), "auction_not_open");
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_000)), "the revision replaced the 3000 bid");
}

#[test]
fn first_price_sealed_bid_pays_its_own_bid() {
    let mut lot = Lot::ready(sealed(Format::SealedFirstPrice), 2);
    lot.bid(0, 1_700, 10).unwrap();
    lot.bid(1, 2_900, 20).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_900)));
}

#[test]
fn second_price_sealed_bid_pays_the_runner_up_amount() {
    let mut lot = Lot::ready(sealed(Format::SealedSecondPrice), 3);
    lot.bid(0, 1_700, 10).unwrap();
    lot.bid(1, 2_900, 20).unwrap();
    lot.bid(2, 2_100, 30).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_100)));
}

#[test]
fn a_lone_second_price_bid_pays_the_reserve_or_the_starting_price() {
    let mut lot = Lot::ready(sealed(Format::SealedSecondPrice), 1);
    lot.bid(0, 2_500, 10).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 1_000)));

    let mut lot = Lot::ready(AuctionConfig { reserve_price: Some(cny(1_800)), ..sealed(Format::SealedSecondPrice) }, 2);
    lot.bid(0, 2_500, 10).unwrap();
    lot.bid(1, 1_200, 10).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 1_800)), "the runner-up's 1200 is under the reserve");
}

#[test]
fn equal_sealed_bids_go_to_the_earlier() {
    let mut lot = Lot::ready(sealed(Format::SealedSecondPrice), 2);
    lot.bid(1, 2_000, 10).unwrap();
    lot.bid(0, 2_000, 20).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_000)));
}

#[test]
fn a_revision_takes_the_time_of_the_revision() {
    let mut lot = Lot::ready(sealed(Format::SealedFirstPrice), 2);
    lot.bid(0, 2_000, 10).unwrap();
    lot.bid(1, 2_000, 20).unwrap();
    lot.bid(0, 2_000, 30).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 1, 2_000)));
}

#[test]
fn sealed_bids_below_the_reserve_leave_the_lot_unsold() {
    let mut lot = Lot::ready(AuctionConfig { reserve_price: Some(cny(3_000)), ..sealed(Format::SealedFirstPrice) }, 1);
    lot.bid(0, 2_999, 10).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(Outcome::UnsoldReserveNotMet));
}

#[test]
fn sealed_bids_take_no_proxy_and_no_bid_below_the_start() {
    let mut lot = Lot::ready(sealed(Format::SealedFirstPrice), 1);
    assert_eq!(code_of(lot.proxy(0, 1_000, 2_000, 10)), "proxy_not_supported");
    assert_eq!(code_of(lot.bid(0, 999, 10)), "bid_below_minimum");
    lot.bid(0, 1_001, 10).unwrap();
}

#[test]
fn a_defaulting_sealed_winner_is_replaced_by_the_next_bid() {
    let mut lot = Lot::ready(sealed(Format::SealedSecondPrice), 3);
    lot.bid(0, 3_000, 10).unwrap();
    lot.bid(1, 2_000, 20).unwrap();
    lot.bid(2, 2_500, 30).unwrap();
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 2_500)));
    lot.run(Command::Default { bidder: lot.people[0].user }, END + 1).unwrap();
    assert_eq!(lot.outcome(), Some(sold(&lot, 2, 2_500)));
}
