//! In-memory throughput of the auction state machine, on one core (criterion).
//!
//! `cargo bench -p achex-bidding-engine --bench machine` prints bids per second for the three
//! shapes of traffic a hot lot sees: plain alternating raises, proxy bids that make the machine
//! bid back on the leader's behalf, and bids the machine rejects (too low), which must be as cheap
//! as accepting. Issue 3's goal is ≥ 1 M bids/s on one core. The figure that matters is the
//! `thrpt` line: criterion reports it from the same samples as the time per batch.

use achex_bidding_engine::{Auction, AuctionConfig, Command, Format, Increment};
use achex_core::{Money, OrganizationId, UserId};
use chrono::{DateTime, Duration, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Bids per measured batch: large enough that building the lot is a small part of a batch.
const BIDS: u64 = 10_000;

type Party = (UserId, OrganizationId);

fn open_english_lot(now: DateTime<Utc>) -> (Auction, Party, Party) {
    let config = AuctionConfig {
        format: Format::English,
        seller: OrganizationId::new(),
        starting_price: Money::cny(100_000),
        increment: Some(Increment::Fixed(Money::cny(100))),
        reserve_price: None,
        deposit: Money::cny(0),
        starts_at: now - Duration::minutes(1),
        ends_at: now + Duration::hours(6),
        free_quote_until: None,
        extension: None,
        dutch: None,
    };
    let mut auction = Auction::new(config).expect("a valid English lot");
    let a = (UserId::new(), OrganizationId::new());
    let b = (UserId::new(), OrganizationId::new());
    for (bidder, organization) in [a, b] {
        auction.apply_in_place(Command::Register { bidder, organization }, now).expect("registration");
    }
    (auction, a, b)
}

fn bid(party: Party, amount: i64, max: Option<i64>) -> Command {
    Command::PlaceBid {
        bidder: party.0,
        organization: party.1,
        amount: Money::cny(amount),
        max_amount: max.map(Money::cny),
    }
}

fn machine(c: &mut Criterion) {
    let now = Utc::now();
    let mut group = c.benchmark_group("machine");
    group.throughput(Throughput::Elements(BIDS));
    group.sample_size(50);

    group.bench_function("alternating_raises", |bencher| {
        bencher.iter_batched(
            || open_english_lot(now),
            |(mut auction, a, b)| {
                for i in 0..BIDS as i64 {
                    let party = if i % 2 == 0 { a } else { b };
                    black_box(auction.apply_in_place(bid(party, 100_000 + i * 100, None), now)).expect("valid raise");
                }
                auction
            },
            BatchSize::LargeInput,
        )
    });

    // The leader holds a high proxy maximum, so every bid of the challenger is answered by an
    // automatic bid on the leader's behalf: two events per command, the most work per bid.
    group.bench_function("proxy_defends_every_raise", |bencher| {
        bencher.iter_batched(
            || {
                let (mut auction, a, b) = open_english_lot(now);
                auction.apply_in_place(bid(a, 100_000, Some(1_000_000_000_000)), now).expect("proxy maximum");
                (auction, a, b)
            },
            |(mut auction, _, b)| {
                for i in 0..BIDS as i64 {
                    let events =
                        auction.apply_in_place(bid(b, 100_000 + 200 * (i + 1), None), now).expect("valid raise");
                    black_box(events);
                }
                auction
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("rejected_low_bids", |bencher| {
        bencher.iter_batched(
            || {
                let (mut auction, a, b) = open_english_lot(now);
                auction.apply_in_place(bid(a, 200_000, None), now).expect("opening bid");
                (auction, a, b)
            },
            |(mut auction, _, b)| {
                for _ in 0..BIDS {
                    let _ = black_box(auction.apply_in_place(bid(b, 100_000, None), now)).expect_err("below the price");
                }
                auction
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, machine);
criterion_main!(benches);
