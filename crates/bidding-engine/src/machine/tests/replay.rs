//! Replay, serialization and the shape of what crosses the crate boundary.

use super::*;

/// A lot that went through most of the rules: proxies, a rejection, an extension, a close, a
/// default.
fn eventful() -> Lot {
    let mut lot = Lot::ready(AuctionConfig { reserve_price: Some(cny(1_500)), ..english() }, 3);
    lot.proxy(0, 1_000, 2_000, 10).unwrap();
    lot.bid(1, 1_600, 20).unwrap();
    let _ = lot.bid(2, 1_750, 25).unwrap_err();
    lot.proxy(2, 1_800, 2_500, END - 5).unwrap();
    lot.proxy(0, 2_200, 2_400, END + 60).unwrap();
    lot.tick(END + 200);
    assert_eq!(lot.outcome(), Some(sold(&lot, 2, 2_500)));
    lot.run(Command::Default { bidder: lot.people[2].user }, END + 300).unwrap();
    assert_eq!(lot.outcome(), Some(sold(&lot, 0, 2_400)));
    lot
}

#[test]
fn replay_reproduces_the_state_exactly() {
    let lot = eventful();
    let replayed = replay(lot.auction.config().clone(), lot.log.clone()).unwrap();
    assert_eq!(replayed, lot.auction);
}

#[test]
fn replay_reproduces_the_events_exactly() {
    let mut lot = Lot::ready(english(), 2);
    let mut published = Vec::new();
    let config = lot.auction.config().clone();
    let prelude = lot.log.clone();
    for (who, amount, secs) in [(0, 1_000, 10), (1, 1_100, 20), (0, 1_500, END - 1)] {
        published.extend(lot.bid(who, amount, secs).unwrap());
    }
    published.extend(lot.tick(END + 500));
    let (state, events) = replay_with_events(config, lot.log.clone()).unwrap();
    assert_eq!(state, lot.auction);
    assert_eq!(events[events.len() - published.len()..], published[..]);
    assert_eq!(events.len() - published.len(), prelude.iter().map(|_| 1).sum::<usize>(), "one event per prelude step");
}

#[test]
fn a_log_with_a_command_the_machine_refuses_does_not_replay() {
    let lot = eventful();
    let mut log = lot.log.clone();
    log.insert(3, TimedCommand::new(at(11), Command::Close));
    let error = replay(lot.auction.config().clone(), log).unwrap_err();
    assert_eq!(error, ReplayError::Rejected { index: 3, rejection: Rejection::AuctionNotEnded });
}

#[test]
fn apply_returns_a_new_state_and_leaves_the_input_alone() {
    let lot = Lot::ready(english(), 1);
    let person = lot.people[0];
    let bid = Command::PlaceBid { bidder: person.user, organization: person.org, amount: cny(1_000), max_amount: None };
    let applied = apply(&lot.auction, bid.clone(), at(10)).unwrap();
    assert_eq!(applied.state.public_view().bid_count, 1);
    assert_eq!(lot.auction.public_view().bid_count, 0);
    let low = Command::PlaceBid { bidder: person.user, organization: person.org, amount: cny(10), max_amount: None };
    assert_eq!(apply(&applied.state, low, at(11)).unwrap_err().code(), "bid_below_minimum");
}

#[test]
fn commands_events_and_state_round_trip_through_json() {
    let lot = eventful();
    let (_, events) = replay_with_events(lot.auction.config().clone(), lot.log.clone()).unwrap();
    let json = serde_json::to_string(&(&lot.auction, &lot.log, &events)).unwrap();
    let (auction, log, decoded): (Auction, Vec<TimedCommand>, Vec<Event>) = serde_json::from_str(&json).unwrap();
    assert_eq!((auction, log, decoded), (lot.auction.clone(), lot.log.clone(), events));
}

#[test]
fn events_and_commands_serialize_with_snake_case_type_names() {
    let lot = eventful();
    let (_, events) = replay_with_events(lot.auction.config().clone(), lot.log.clone()).unwrap();
    for event in &events {
        let value = serde_json::to_value(event).unwrap();
        assert_eq!(value["type"], event.kind.name(), "{value}");
        assert_eq!(value["seq"], event.seq);
    }
    let value = serde_json::to_value(Command::Tick).unwrap();
    assert_eq!(value, serde_json::json!({"type": "tick"}));
    let outcome = serde_json::to_value(Outcome::UnsoldReserveNotMet).unwrap();
    assert_eq!(outcome, serde_json::json!({"result": "unsold_reserve_not_met"}));
}

#[test]
fn rejection_codes_are_stable_snake_case() {
    let all = [
        Rejection::AuctionNotOpen,
        Rejection::AlreadyClosed,
        Rejection::AuctionNotEnded,
        Rejection::BidBelowMinimum { minimum: cny(1) },
        Rejection::NotAMultipleOfIncrement { increment: cny(1) },
        Rejection::MaxBelowAmount,
        Rejection::MaxNotRaised,
        Rejection::QuoteNotRaised,
        Rejection::ProxyNotSupported,
        Rejection::CurrencyMismatch { expected: achex_core::Currency::Cny, got: achex_core::Currency::Usd },
        Rejection::AmountOutOfRange,
        Rejection::NotRegistered,
        Rejection::DepositNotConfirmed,
        Rejection::SellerCannotBid,
        Rejection::AlreadyRegistered,
        Rejection::DepositAlreadyConfirmed,
        Rejection::NotQualifiedForRound,
        Rejection::ReasonRequired,
        Rejection::NotSold,
        Rejection::NotTheWinner,
    ];
    for rejection in all {
        let code = rejection.code();
        assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
        assert_eq!(serde_json::to_value(&rejection).unwrap()["code"], code, "the serialized tag is the code");
        assert!(!rejection.to_string().is_empty());
    }
}

#[test]
fn bidder_codes_are_zero_padded_ordinals() {
    assert_eq!(BidderCode::from_ordinal(1).as_str(), "B-01");
    assert_eq!(BidderCode::from_ordinal(12).to_string(), "B-12");
    assert_eq!(BidderCode::from_ordinal(123).as_str(), "B-123");
}

#[test]
fn a_rejected_command_leaves_the_state_untouched() {
    let mut lot = eventful();
    lot.auction = replay(lot.auction.config().clone(), lot.log[..lot.log.len() - 2].to_vec()).unwrap();
    let open = lot.auction.clone();
    let person = lot.people[1];
    let refused = [
        Command::PlaceBid { bidder: person.user, organization: person.org, amount: cny(1), max_amount: None },
        Command::Close,
        Command::Cancel { reason: String::new() },
        Command::Default { bidder: person.user },
        Command::ConfirmDeposit { bidder: person.user },
        Command::Register { bidder: person.user, organization: person.org },
    ];
    for command in refused {
        let mut probe = open.clone();
        assert!(probe.apply_in_place(command.clone(), at(END)).is_err(), "{command:?}");
        assert_eq!(probe, open, "{command:?} changed the state");
        assert!(apply(&open, command, at(END)).is_err());
    }
}
