//! Dutch (descending) auctions.

use super::*;

/// 10,000 falling by 500 every 60 s to a floor of 7,000 (reached at 360 s).
fn dutch() -> AuctionConfig {
    AuctionConfig {
        format: Format::Dutch,
        starting_price: cny(10_000),
        increment: None,
        extension: None,
        dutch: Some(DutchSchedule { step: cny(500), interval_secs: 60, floor: cny(7_000) }),
        ..english()
    }
}

#[test]
fn the_dutch_price_falls_by_a_step_every_interval_down_to_the_floor() {
    let config = dutch();
    let prices: Vec<i64> =
        [-5, 0, 59, 60, 119, 120, 300, 360, 3_000].iter().map(|&s| config.dutch_price_at(at(s)).amount).collect();
    assert_eq!(prices, [10_000, 10_000, 10_000, 9_500, 9_500, 9_000, 7_500, 7_000, 7_000]);
    let lot = Lot::ready(config, 0);
    assert_eq!(lot.auction.public_view_at(at(130)).current_price, Some(cny(9_000)));
}

#[test]
fn the_first_acceptance_wins_at_the_current_price() {
    let mut lot = Lot::ready(dutch(), 2);
    let events = lot.bid(0, 9_500, 125).unwrap();
    assert_eq!(names(&events), ["phase_changed", "bid_accepted", "closed", "deposit_credited", "deposit_released"]);
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 9_000)), "it saw 9500 but pays the current 9000");
    assert_eq!(code_of(lot.bid(1, 9_000, 126)), "auction_not_open");
}

#[test]
fn an_acceptance_below_the_current_price_is_rejected() {
    let mut lot = Lot::ready(dutch(), 1);
    assert_eq!(lot.bid(0, 9_000, 100), Err(Rejection::BidBelowMinimum { minimum: cny(9_500) }));
    assert_eq!(code_of(lot.proxy(0, 9_500, 9_500, 100)), "proxy_not_supported");
}

#[test]
fn an_unaccepted_dutch_auction_closes_with_no_bids() {
    let mut lot = Lot::ready(dutch(), 1);
    lot.tick(END);
    assert_eq!(lot.outcome(), Some(Outcome::NoBids));
}

#[test]
fn a_dutch_default_leaves_the_lot_unsold() {
    let mut lot = Lot::ready(dutch(), 2);
    lot.bid(0, 10_000, 0).unwrap();
    lot.run(Command::Default { bidder: lot.people[0].user }, 10).unwrap();
    assert_eq!(lot.outcome(), Some(Outcome::UnsoldWinnerDefaulted));
}
