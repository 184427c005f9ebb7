//! English auction: increments, proxies, reserve, eligibility.

use super::*;

#[test]
fn first_bid_at_the_starting_price_is_accepted() {
    let mut lot = Lot::ready(english(), 2);
    let events = lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(names(&events), ["phase_changed", "bid_accepted"]);
    assert_eq!(lot.price(), Some(1_000));
    assert_eq!(lot.leader(), Some(lot.code(0)));
}

#[test]
fn first_bid_below_the_starting_price_is_rejected() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(lot.bid(0, 900, 10), Err(Rejection::BidBelowMinimum { minimum: cny(1_000) }));
}

#[test]
fn first_bid_above_the_start_must_be_on_the_increment_grid() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(code_of(lot.bid(0, 1_050, 10)), "not_a_multiple_of_increment");
    lot.bid(0, 1_300, 10).unwrap();
    assert_eq!(lot.price(), Some(1_300), "an explicit jump bid sets the price");
}

#[test]
fn bid_below_increment_is_rejected() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(lot.bid(1, 1_050, 20), Err(Rejection::BidBelowMinimum { minimum: cny(1_100) }));
    assert_eq!(lot.bid(1, 1_000, 20), Err(Rejection::BidBelowMinimum { minimum: cny(1_100) }));
}

#[test]
fn a_raise_off_the_increment_grid_is_rejected() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(lot.bid(1, 1_150, 20), Err(Rejection::NotAMultipleOfIncrement { increment: cny(100) }));
}

#[test]
fn a_raise_of_several_whole_increments_is_accepted() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    lot.bid(1, 1_400, 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_400), Some(lot.code(1))));
}

#[test]
fn tiered_increments_follow_the_current_price() {
    let mut config = english();
    config.increment = Some(Increment::Tiered(vec![
        IncrementTier { from_price: cny(0), increment: cny(100) },
        IncrementTier { from_price: cny(2_000), increment: cny(500) },
    ]));
    let mut lot = Lot::ready(config, 2);
    lot.bid(0, 1_900, 10).unwrap();
    assert_eq!(lot.view().next_minimum_bid, Some(cny(2_000)));
    lot.bid(1, 2_000, 20).unwrap();
    assert_eq!(lot.view().next_minimum_bid, Some(cny(2_500)), "from 2000 the step is 500");
    assert_eq!(code_of(lot.bid(0, 2_100, 30)), "bid_below_minimum");
    assert_eq!(lot.bid(0, 2_700, 30), Err(Rejection::NotAMultipleOfIncrement { increment: cny(500) }));
    lot.bid(0, 3_000, 30).unwrap();
}

#[test]
fn a_max_below_the_amount_is_rejected() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(code_of(lot.proxy(0, 1_200, 1_100, 10)), "max_below_amount");
}

#[test]
fn a_proxy_answers_a_lower_bid_with_one_increment_more() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 2_000, 10).unwrap();
    assert_eq!(lot.price(), Some(1_000), "a lone proxy stays at its explicit bid");
    let events = lot.bid(1, 1_300, 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_400), Some(lot.code(0))));
    let EventKind::BidAccepted { bidder, amount, current_price, leader, .. } = &events[0].kind else {
        panic!("expected bid_accepted, got {events:?}");
    };
    assert_eq!(bidder, &lot.code(1));
    assert_eq!(*amount, Some(cny(1_300)));
    assert_eq!(*current_price, Some(cny(1_400)));
    assert_eq!(leader, &Some(lot.code(0)));
}

#[test]
fn the_proxy_price_is_capped_by_the_highest_max() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 1_450, 10).unwrap();
    lot.proxy(1, 1_100, 1_500, 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_500), Some(lot.code(1))), "min(1450 + 100, 1500)");
}

#[test]
fn a_new_leader_pays_the_old_leaders_max_plus_one_increment() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 1_500, 10).unwrap();
    lot.proxy(1, 1_100, 3_000, 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_600), Some(lot.code(1))));
}

#[test]
fn equal_maxima_go_to_the_earlier_bidder() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 2_000, 10).unwrap();
    lot.proxy(1, 1_100, 2_000, 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(2_000), Some(lot.code(0))));
}

#[test]
fn raising_your_own_max_does_not_raise_the_price() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 1_500, 10).unwrap();
    lot.bid(1, 1_200, 20).unwrap();
    assert_eq!(lot.price(), Some(1_300));
    let events = lot.proxy(0, 1_400, 5_000, 30).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_300), Some(lot.code(0))));
    assert_eq!(names(&events), ["bid_accepted"], "no extension, nothing else");
    assert_eq!(lot.auction.bidder_by_user(lot.people[0].user).unwrap().standing_bid().unwrap().max, cny(5_000));
}

#[test]
fn the_leader_rebidding_does_not_bid_against_itself() {
    let mut lot = Lot::ready(english(), 1);
    lot.bid(0, 1_000, 10).unwrap();
    let events = lot.bid(0, 1_500, 20).unwrap();
    assert_eq!(lot.price(), Some(1_000));
    let EventKind::BidAccepted { amount, .. } = &events[0].kind else { panic!("expected bid_accepted") };
    assert_eq!(*amount, None, "the leader's new max stays private");
    assert_eq!(lot.view().bid_count, 2);
}

#[test]
fn a_leader_rebid_that_does_not_raise_its_max_is_rejected() {
    let mut lot = Lot::ready(english(), 1);
    lot.proxy(0, 1_000, 2_000, 10).unwrap();
    assert_eq!(code_of(lot.bid(0, 1_500, 20)), "max_not_raised");
    assert_eq!(code_of(lot.proxy(0, 1_100, 2_000, 20)), "max_not_raised");
}

#[test]
fn an_outbid_bidder_can_take_the_lead_back() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 1_500, 10).unwrap();
    lot.bid(1, 1_600, 20).unwrap();
    assert_eq!(lot.leader(), Some(lot.code(1)));
    lot.bid(0, 1_700, 30).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_700), Some(lot.code(0))));
}

#[test]
fn a_max_at_or_above_the_reserve_lifts_the_price_to_the_reserve() {
    let mut config = english();
    config.reserve_price = Some(cny(1_750));
    let mut lot = Lot::ready(config, 2);
    lot.proxy(0, 1_000, 1_500, 10).unwrap();
    assert_eq!((lot.price(), lot.view().reserve_met), (Some(1_000), false));
    lot.proxy(1, 1_100, 1_750, 20).unwrap();
    assert_eq!((lot.price(), lot.leader(), lot.view().reserve_met), (Some(1_750), Some(lot.code(1)), true));
}

#[test]
fn raising_your_own_max_past_the_reserve_lifts_the_price_to_the_reserve() {
    let mut config = english();
    config.reserve_price = Some(cny(3_000));
    let mut lot = Lot::ready(config, 1);
    lot.proxy(0, 1_000, 2_000, 10).unwrap();
    lot.proxy(0, 1_100, 4_000, 20).unwrap();
    assert_eq!((lot.price(), lot.view().reserve_met), (Some(3_000), true));
}

#[test]
fn the_public_view_and_events_never_expose_the_reserve_or_a_max() {
    let mut config = english();
    config.reserve_price = Some(cny(7_777));
    let mut lot = Lot::ready(config, 2);
    let mut published = Vec::new();
    published.extend(lot.proxy(0, 1_000, 6_666, 10).unwrap());
    published.extend(lot.proxy(1, 1_100, 5_555, 20).unwrap());
    published.extend(lot.proxy(0, 5_755, 6_999, 30).unwrap());
    assert_eq!(lot.price(), Some(5_655));
    let text = serde_json::to_string(&(lot.view(), lot.auction.public_view_at(at(40)), &published)).unwrap();
    for secret in ["7777", "6666", "5555", "6999"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("\"reserve_met\":false"));
}

#[test]
fn the_sellers_organisation_cannot_register_or_bid() {
    let mut lot = Lot::ready(english(), 1);
    let seller = lot.seller;
    assert_eq!(
        code_of(lot.run(Command::Register { bidder: seller.user, organization: seller.org }, 0)),
        "seller_cannot_bid"
    );
    assert_eq!(code_of(lot.place(seller, cny(1_000), None, 10)), "seller_cannot_bid");
    // A registered bidder claiming the seller's organisation is refused just the same.
    let insider = Person { user: lot.people[0].user, org: seller.org };
    assert_eq!(code_of(lot.place(insider, cny(1_000), None, 10)), "seller_cannot_bid");
}

#[test]
fn bidding_requires_registration() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(code_of(lot.bid(3, 1_000, 10)), "not_registered");
    // The registered user bidding for another organisation is not the registration either.
    let elsewhere = Person { user: lot.people[0].user, org: lot.people[3].org };
    assert_eq!(code_of(lot.place(elsewhere, cny(1_000), None, 10)), "not_registered");
}

#[test]
fn bidding_requires_a_confirmed_deposit() {
    let mut lot = Lot::new(english());
    lot.register(0, 5).unwrap();
    assert_eq!(code_of(lot.bid(0, 1_000, 10)), "deposit_not_confirmed");
    let events = lot.confirm(0, 11).unwrap();
    assert_eq!(names(&events), ["deposit_confirmed"]);
    lot.bid(0, 1_000, 12).unwrap();
    assert_eq!(code_of(lot.confirm(0, 13)), "deposit_already_confirmed");
}

#[test]
fn a_zero_deposit_is_confirmed_on_registration() {
    let mut config = english();
    config.deposit = cny(0);
    let mut lot = Lot::new(config);
    assert_eq!(names(&lot.register(0, -5).unwrap()), ["bidder_registered", "deposit_confirmed"]);
    lot.bid(0, 1_000, 10).unwrap();
}

#[test]
fn bidder_codes_follow_registration_order() {
    let mut lot = Lot::new(english());
    for who in [3, 1, 4] {
        lot.register(who, -10).unwrap();
    }
    let codes: Vec<String> = [3, 1, 4].iter().map(|&w| lot.code(w).to_string()).collect();
    assert_eq!(codes, ["B-01", "B-02", "B-03"]);
}

#[test]
fn a_user_or_an_organisation_registers_only_once() {
    let mut lot = Lot::new(english());
    lot.register(0, -10).unwrap();
    assert_eq!(code_of(lot.register(0, -9)), "already_registered");
    let colleague = Person { user: UserId::new(), org: lot.people[0].org };
    let again = Command::Register { bidder: colleague.user, organization: colleague.org };
    assert_eq!(code_of(lot.run(again, -9)), "already_registered");
}

#[test]
fn bids_in_another_currency_are_rejected() {
    let mut lot = Lot::ready(english(), 1);
    let usd = Money::new(1_000, achex_core::Currency::Usd);
    let person = lot.people[0];
    assert_eq!(code_of(lot.place(person, usd, None, 10)), "currency_mismatch");
    assert_eq!(code_of(lot.place(person, cny(1_000), Some(usd), 10)), "currency_mismatch");
}

#[test]
fn nothing_is_accepted_before_the_start() {
    let mut lot = Lot::ready(english(), 1);
    assert_eq!(code_of(lot.bid(0, 1_000, -1)), "auction_not_open");
    lot.bid(0, 1_000, 0).unwrap();
}

#[test]
fn nothing_is_accepted_at_or_after_the_end() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 10).unwrap();
    assert_eq!(code_of(lot.bid(1, 1_100, END)), "auction_not_open");
    assert_eq!(code_of(lot.bid(1, 1_100, END + 1)), "auction_not_open");
    assert_eq!(lot.auction.status(), Status::Live, "a late bid does not close the lot as a side effect");
    lot.tick(END);
    assert_eq!(code_of(lot.bid(1, 1_100, END + 2)), "auction_not_open");
}

#[test]
fn every_accepted_bid_gets_the_next_seq_and_the_server_time() {
    let mut lot = Lot::ready(english(), 2);
    let before = lot.auction.seq();
    let first = lot.bid(0, 1_000, 10).unwrap();
    let _ = lot.bid(1, 1_050, 15).unwrap_err();
    let second = lot.bid(1, 1_100, 20).unwrap();
    let all: Vec<&Event> = first.iter().chain(&second).collect();
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (before + 1..=before + 3).collect::<Vec<_>>(), "consecutive, no gap for the rejection");
    assert_eq!((first[1].at, second[0].at), (at(10), at(20)));
    assert_eq!(lot.view().seq, before + 3);
    let own = lot.auction.bidder_by_user(lot.people[1].user).unwrap().standing_bid().unwrap();
    assert_eq!(own.seq, second[0].seq, "the bid's seq is its bid_accepted event's");
}

#[test]
fn overflowing_amounts_are_rejected_without_panicking() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, i64::MAX, 10).unwrap();
    lot.bid(1, 1_100, 20).unwrap();
    assert_eq!((lot.price(), lot.leader()), (Some(1_200), Some(lot.code(0))));
    let near_top = i64::MAX - (i64::MAX - 1_200) % 100;
    lot.proxy(1, near_top, near_top, 30).unwrap();
    assert_eq!(lot.leader(), Some(lot.code(0)), "the earlier equal-or-higher max keeps the lead");
    assert_eq!(code_of(lot.bid(1, i64::MAX, 40)), "amount_out_of_range");
}
