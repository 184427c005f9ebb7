//! Config validation: every problem at once, with field paths and stable codes.

use super::*;
use achex_core::Currency;

#[test]
fn a_sound_config_is_valid_for_every_format() {
    english().validate().unwrap();
    AuctionConfig { format: Format::TwoPhase, free_quote_until: Some(at(100)), ..english() }.validate().unwrap();
    let sealed = AuctionConfig { format: Format::SealedSecondPrice, increment: None, extension: None, ..english() };
    sealed.validate().unwrap();
    let dutch = AuctionConfig {
        format: Format::Dutch,
        increment: None,
        extension: None,
        dutch: Some(DutchSchedule { step: cny(10), interval_secs: 30, floor: cny(500) }),
        ..english()
    };
    dutch.validate().unwrap();
}

#[test]
fn every_config_problem_is_reported_at_once() {
    let config = AuctionConfig {
        starting_price: cny(0),
        increment: Some(Increment::Fixed(cny(0))),
        reserve_price: Some(cny(-1)),
        deposit: cny(-5),
        ends_at: at(0),
        extension: Some(SoftClose { window_secs: 0, extend_secs: -1, max_extensions: None }),
        ..english()
    };
    let errors = config.validate().unwrap_err();
    let found: Vec<(&str, &str)> = errors.errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        found,
        [
            ("starting_price", "must_be_positive"),
            ("increment", "must_be_positive"),
            ("reserve_price", "below_starting_price"),
            ("deposit", "must_not_be_negative"),
            ("ends_at", "out_of_order"),
            ("extension.window_secs", "must_be_positive"),
            ("extension.extend_secs", "must_be_positive"),
        ]
    );
    assert!(Auction::new(config).is_err());
}

#[test]
fn the_reserve_must_reach_the_starting_price() {
    let config = AuctionConfig { reserve_price: Some(cny(999)), ..english() };
    assert_eq!(config.validate().unwrap_err().codes_for("reserve_price"), ["below_starting_price"]);
}

#[test]
fn increment_tiers_must_ascend_cover_the_start_and_never_shrink() {
    let tier = |from, step| IncrementTier { from_price: cny(from), increment: cny(step) };
    let config = AuctionConfig {
        increment: Some(Increment::Tiered(vec![tier(1_500, 100), tier(1_500, 50), tier(900, 0)])),
        ..english()
    };
    let errors = config.validate().unwrap_err();
    assert_eq!(errors.codes_for("increment[0].from_price"), ["must_cover_starting_price"]);
    assert_eq!(errors.codes_for("increment[1].from_price"), ["not_ascending"]);
    assert_eq!(errors.codes_for("increment[1].increment"), ["must_not_decrease"]);
    assert_eq!(errors.codes_for("increment[2].increment"), ["must_be_positive", "must_not_decrease"]);
    let empty = AuctionConfig { increment: Some(Increment::Tiered(vec![])), ..english() };
    assert_eq!(empty.validate().unwrap_err().codes_for("increment"), ["required"]);
}

#[test]
fn format_specific_fields_are_required_or_refused() {
    let two_phase = AuctionConfig { format: Format::TwoPhase, increment: None, ..english() };
    let errors = two_phase.validate().unwrap_err();
    assert_eq!(errors.codes_for("increment"), ["required"]);
    assert_eq!(errors.codes_for("free_quote_until"), ["required"]);

    let outside = AuctionConfig { format: Format::TwoPhase, free_quote_until: Some(at(END)), ..english() };
    assert_eq!(outside.validate().unwrap_err().codes_for("free_quote_until"), ["out_of_order"]);

    let sealed = AuctionConfig { format: Format::SealedFirstPrice, free_quote_until: Some(at(5)), ..english() };
    let errors = sealed.validate().unwrap_err();
    for field in ["increment", "free_quote_until", "extension"] {
        assert_eq!(errors.codes_for(field), ["not_applicable"], "{field}");
    }

    let dutch = AuctionConfig {
        format: Format::Dutch,
        increment: None,
        extension: None,
        reserve_price: Some(cny(2_000)),
        ..english()
    };
    let errors = dutch.validate().unwrap_err();
    assert_eq!(errors.codes_for("dutch"), ["required"]);
    assert_eq!(errors.codes_for("reserve_price"), ["not_applicable"]);
}

#[test]
fn a_dutch_schedule_must_step_down_to_a_positive_floor_below_the_start() {
    let dutch = |step, interval_secs, floor| AuctionConfig {
        format: Format::Dutch,
        increment: None,
        extension: None,
        dutch: Some(DutchSchedule { step: cny(step), interval_secs, floor: cny(floor) }),
        ..english()
    };
    let errors = dutch(0, 0, 1_001).validate().unwrap_err();
    assert_eq!(errors.codes_for("dutch.step"), ["must_be_positive"]);
    assert_eq!(errors.codes_for("dutch.interval_secs"), ["must_be_positive"]);
    assert_eq!(errors.codes_for("dutch.floor"), ["above_starting_price"]);
    assert_eq!(dutch(10, 10, 0).validate().unwrap_err().codes_for("dutch.floor"), ["must_be_positive"]);
}

#[test]
fn mixed_currencies_are_refused_in_the_config() {
    let usd = |amount| Money::new(amount, Currency::Usd);
    let config = AuctionConfig {
        increment: Some(Increment::Fixed(usd(100))),
        reserve_price: Some(usd(5_000)),
        deposit: usd(100),
        ..english()
    };
    let errors = config.validate().unwrap_err();
    for field in ["increment", "reserve_price", "deposit"] {
        assert_eq!(errors.codes_for(field), ["currency_mismatch"], "{field}");
    }
}
