//! Soft close: only accepted, outcome-changing bids inside the window move the end.

use super::*;

fn extended_to(events: &[Event]) -> Option<DateTime<Utc>> {
    events.iter().find_map(|e| match e.kind {
        EventKind::Extended { ends_at, .. } => Some(ends_at),
        _ => None,
    })
}

#[test]
fn an_outcome_changing_bid_inside_the_window_extends_the_close() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, 100).unwrap();
    let events = lot.bid(1, 1_100, END - 60).unwrap();
    assert_eq!(names(&events), ["bid_accepted", "extended"]);
    assert_eq!(extended_to(&events), Some(at(END - 60 + 120)));
    assert_eq!(lot.view().ends_at, at(END + 60));
    assert_eq!(lot.view().extensions, 1);
}

#[test]
fn the_window_includes_its_first_second() {
    let mut lot = Lot::ready(english(), 2);
    let events = lot.bid(0, 1_000, END - 300).unwrap();
    assert_eq!(extended_to(&events), None, "the end would move earlier: 3300 + 120 < 3600");
    let mut config = english();
    config.extension = Some(SoftClose { window_secs: 300, extend_secs: 400, max_extensions: None });
    let mut lot = Lot::ready(config, 1);
    let events = lot.bid(0, 1_000, END - 300).unwrap();
    assert_eq!(extended_to(&events), Some(at(END + 100)));
}

#[test]
fn a_bid_before_the_window_does_not_extend() {
    let mut config = english();
    config.extension = Some(SoftClose { window_secs: 300, extend_secs: 1_000, max_extensions: None });
    let mut lot = Lot::ready(config, 1);
    let events = lot.bid(0, 1_000, END - 301).unwrap();
    assert_eq!(names(&events), ["phase_changed", "bid_accepted"]);
    assert_eq!(lot.view().ends_at, at(END));
}

#[test]
fn rejected_bids_never_extend_the_close() {
    let mut lot = Lot::ready(english(), 3);
    lot.bid(0, 1_000, 100).unwrap();
    for result in [lot.bid(1, 1_050, END - 10), lot.bid(2, 1_000, END - 10), lot.bid(1, 1_150, END - 5)] {
        assert!(result.is_err());
    }
    assert_eq!((lot.view().ends_at, lot.view().extensions), (at(END), 0));
}

#[test]
fn raising_your_own_max_inside_the_window_does_not_extend() {
    let mut lot = Lot::ready(english(), 1);
    lot.bid(0, 1_000, 100).unwrap();
    let events = lot.proxy(0, 1_100, 9_000, END - 10).unwrap();
    assert_eq!(names(&events), ["bid_accepted"]);
    assert_eq!(lot.view().ends_at, at(END));
}

#[test]
fn a_proxy_answer_inside_the_window_extends_the_close() {
    let mut lot = Lot::ready(english(), 2);
    lot.proxy(0, 1_000, 5_000, 100).unwrap();
    let events = lot.bid(1, 1_200, END - 30).unwrap();
    assert_eq!(lot.leader(), Some(lot.code(0)), "the leader kept the lead by proxy");
    assert_eq!(lot.price(), Some(1_300));
    assert_eq!(extended_to(&events), Some(at(END + 90)));
}

#[test]
fn extensions_stop_at_the_cap() {
    let mut config = english();
    config.extension = Some(SoftClose { window_secs: 300, extend_secs: 120, max_extensions: Some(2) });
    let mut lot = Lot::ready(config, 2);
    let mut amount = 1_000;
    let mut when = END - 10;
    for round in 0..4 {
        let events = lot.bid(round % 2, amount, when).unwrap();
        let expect_extension = round < 2;
        assert_eq!(extended_to(&events).is_some(), expect_extension, "round {round}");
        amount += 100;
        when = lot.view().ends_at.signed_duration_since(at(0)).num_seconds() - 10;
    }
    assert_eq!(lot.view().extensions, 2);
}

#[test]
fn an_extended_lot_accepts_bids_until_its_new_end_only() {
    let mut lot = Lot::ready(english(), 2);
    lot.bid(0, 1_000, END - 60).unwrap();
    lot.bid(1, 1_100, END + 30).unwrap();
    assert_eq!(code_of(lot.bid(0, 1_200, END + 150)), "auction_not_open");
    assert_eq!(lot.view().ends_at, at(END + 150));
    assert!(lot.tick(END + 149).is_empty());
    assert_eq!(names(&lot.tick(END + 150))[0], "closed");
}

#[test]
fn a_hard_close_never_extends() {
    let mut config = english();
    config.extension = None;
    let mut lot = Lot::ready(config, 2);
    lot.bid(0, 1_000, END - 5).unwrap();
    lot.bid(1, 1_100, END - 1).unwrap();
    assert_eq!(lot.view().ends_at, at(END));
}
