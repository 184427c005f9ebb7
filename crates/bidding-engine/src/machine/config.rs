//! What an auction is set up as, and the checks that make a setup sound before any bidder sees it.
//!
//! Validation reports every problem at once (field path + stable code), in the same shape as the
//! listing crate's, so the API can mark all fields of a form in one answer.

use achex_core::{Currency, Money, OrganizationId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The bidding mechanism of a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Open ascending auction with proxy bids and soft close.
    English,
    /// The Chinese form: a free-quote period, then a timed ascending round among those who quoted.
    TwoPhase,
    /// Sealed bids, the highest pays its own bid.
    SealedFirstPrice,
    /// Sealed bids, the highest pays the runner-up's bid (Vickrey).
    SealedSecondPrice,
    /// Descending price; the first acceptance wins.
    Dutch,
}

impl Format {
    /// English and the round of the two-phase form share the ascending rules (increment, proxies,
    /// soft close).
    pub fn is_ascending(self) -> bool {
        matches!(self, Format::English | Format::TwoPhase)
    }

    pub fn is_sealed(self) -> bool {
        matches!(self, Format::SealedFirstPrice | Format::SealedSecondPrice)
    }
}

/// One row of a tiered increment table: from `from_price` upwards the increment is `increment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementTier {
    pub from_price: Money,
    pub increment: Money,
}

/// How much each raise must add, as a function of the current price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Increment {
    Fixed(Money),
    /// Rows in ascending `from_price`; the first must cover the starting price.
    Tiered(Vec<IncrementTier>),
}

impl Increment {
    /// The increment that applies at `price`: the last tier whose `from_price` is at or below it.
    pub fn at(&self, price: Money) -> Money {
        match self {
            Increment::Fixed(step) => *step,
            Increment::Tiered(tiers) => tiers
                .iter()
                .rev()
                .find(|tier| tier.from_price.amount <= price.amount)
                .or_else(|| tiers.first())
                .map(|tier| tier.increment)
                // Unreachable for a validated config (tiers are non-empty); a zero-width step
                // would make every raise "a multiple", so fall back to the smallest real one.
                .unwrap_or(Money::new(1, price.currency)),
        }
    }
}

/// Anti-sniping: a bid that changes the outcome inside the last `window_secs` moves the end to the
/// bid's time + `extend_secs`, at most `max_extensions` times when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftClose {
    pub window_secs: i64,
    pub extend_secs: i64,
    #[serde(default)]
    pub max_extensions: Option<u32>,
}

/// The descending schedule: from the starting price, `step` off every `interval_secs`, never
/// below `floor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutchSchedule {
    pub step: Money,
    pub interval_secs: i64,
    pub floor: Money,
}

/// Everything fixed when a lot is put up. Format-specific fields are optional here so the type maps
/// one-to-one onto the API body; [`AuctionConfig::validate`] says which a format needs or forbids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionConfig {
    pub format: Format,
    /// The selling institute; it may neither register nor bid on its own lot.
    pub seller: OrganizationId,
    /// Also fixes the lot's currency: every other amount, and every bid, must be in it.
    pub starting_price: Money,
    /// Required for `english` and `two_phase`; not used by the others.
    #[serde(default)]
    pub increment: Option<Increment>,
    /// Hidden. Never part of any public view or event.
    #[serde(default)]
    pub reserve_price: Option<Money>,
    /// Per-bidder deposit; zero means registration alone lets a bidder bid.
    pub deposit: Money,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `two_phase` only: end of the free-quote period, start of the timed round.
    #[serde(default)]
    pub free_quote_until: Option<DateTime<Utc>>,
    /// Soft close for `english` and `two_phase`; absent means a hard close.
    #[serde(default)]
    pub extension: Option<SoftClose>,
    /// `dutch` only.
    #[serde(default)]
    pub dutch: Option<DutchSchedule>,
}

/// One problem with one field of a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field, e.g. `increment[1].from_price` or `extension.window_secs`.
    pub field: String,
    /// Stable code: `required`, `not_applicable`, `must_be_positive`, `must_not_be_negative`,
    /// `currency_mismatch`, `out_of_order`, `below_starting_price`, `above_starting_price`,
    /// `not_ascending`, `must_not_decrease`, `must_cover_starting_price`.
    pub code: &'static str,
    pub message: String,
}

/// Every problem found in a config, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{} auction setting(s) are invalid", errors.len())]
pub struct ConfigErrors {
    pub errors: Vec<FieldError>,
}

impl ConfigErrors {
    fn add(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), code, message: message.into() });
    }

    /// The codes found for `field`, for tests and for callers that only care about one field.
    pub fn codes_for(&self, field: &str) -> Vec<&'static str> {
        self.errors.iter().filter(|e| e.field == field).map(|e| e.code).collect()
    }
}

impl AuctionConfig {
    /// The lot's currency: the starting price's.
    pub fn currency(&self) -> Currency {
        self.starting_price.currency
    }

    /// Checks the whole config and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let currency = self.currency();
        let money = |errors: &mut ConfigErrors, field: &str, value: Money| {
            if value.currency != currency {
                errors.add(field, "currency_mismatch", format!("must be in {currency}, like the starting price"));
                false
            } else {
                true
            }
        };

        if self.starting_price.amount <= 0 {
            errors.add("starting_price", "must_be_positive", "must be greater than zero");
        }

        match (&self.increment, self.format.is_ascending()) {
            (None, true) => errors.add("increment", "required", "ascending formats need an increment"),
            (Some(_), false) => errors.add("increment", "not_applicable", "only english and two_phase use increments"),
            (Some(Increment::Fixed(step)), true) => {
                if money(&mut errors, "increment", *step) && step.amount <= 0 {
                    errors.add("increment", "must_be_positive", "must be greater than zero");
                }
            }
            (Some(Increment::Tiered(tiers)), true) => self.validate_tiers(tiers, &mut errors),
            (None, false) => {}
        }

        if let Some(reserve) = self.reserve_price {
            if self.format == Format::Dutch {
                errors.add("reserve_price", "not_applicable", "a dutch auction's floor is its reserve");
            } else if money(&mut errors, "reserve_price", reserve) && reserve.amount < self.starting_price.amount {
                errors.add("reserve_price", "below_starting_price", "must be at least the starting price");
            }
        }

        if money(&mut errors, "deposit", self.deposit) && self.deposit.is_negative() {
            errors.add("deposit", "must_not_be_negative", "must be zero or more");
        }

        if self.ends_at <= self.starts_at {
            errors.add("ends_at", "out_of_order", "must be after starts_at");
        }

        match (self.free_quote_until, self.format) {
            (None, Format::TwoPhase) => errors.add("free_quote_until", "required", "two_phase needs a free-quote end"),
            (Some(_), format) if format != Format::TwoPhase => {
                errors.add("free_quote_until", "not_applicable", "only two_phase has a free-quote period")
            }
            (Some(until), _) if until <= self.starts_at || until >= self.ends_at => {
                errors.add("free_quote_until", "out_of_order", "must be strictly between starts_at and ends_at")
            }
            _ => {}
        }

        if let Some(soft) = self.extension {
            if !self.format.is_ascending() {
                errors.add("extension", "not_applicable", "only english and two_phase close softly");
            } else {
                if soft.window_secs <= 0 {
                    errors.add("extension.window_secs", "must_be_positive", "must be greater than zero");
                }
                if soft.extend_secs <= 0 {
                    errors.add("extension.extend_secs", "must_be_positive", "must be greater than zero");
                }
            }
        }

        match (&self.dutch, self.format) {
            (None, Format::Dutch) => errors.add("dutch", "required", "a dutch auction needs its price schedule"),
            (Some(_), format) if format != Format::Dutch => {
                errors.add("dutch", "not_applicable", "only dutch auctions descend")
            }
            (Some(schedule), _) => self.validate_dutch(schedule, &mut errors),
            _ => {}
        }

        if errors.errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    fn validate_tiers(&self, tiers: &[IncrementTier], errors: &mut ConfigErrors) {
        let currency = self.currency();
        let Some(first) = tiers.first() else {
            errors.add("increment", "required", "a tiered increment needs at least one tier");
            return;
        };
        if tiers.iter().any(|tier| tier.from_price.currency != currency || tier.increment.currency != currency) {
            errors.add("increment", "currency_mismatch", format!("must be in {currency}, like the starting price"));
            return;
        }
        if first.from_price.amount > self.starting_price.amount {
            errors.add(
                "increment[0].from_price",
                "must_cover_starting_price",
                "the first tier must start at or below the starting price",
            );
        }
        for (index, tier) in tiers.iter().enumerate() {
            if tier.increment.amount <= 0 {
                errors.add(format!("increment[{index}].increment"), "must_be_positive", "must be greater than zero");
            }
            if let Some(previous) = index.checked_sub(1).map(|i| tiers[i]) {
                if tier.from_price.amount <= previous.from_price.amount {
                    errors.add(
                        format!("increment[{index}].from_price"),
                        "not_ascending",
                        "tiers must be in strictly ascending from_price",
                    );
                }
                // A smaller step above a boundary would let `price + increment(price)` fall as the
                // price rises, so a proxy could answer a higher bid with a lower price.
                if tier.increment.amount < previous.increment.amount {
                    errors.add(
                        format!("increment[{index}].increment"),
                        "must_not_decrease",
                        "increments must not shrink as the price rises",
                    );
                }
            }
        }
    }

    fn validate_dutch(&self, schedule: &DutchSchedule, errors: &mut ConfigErrors) {
        let currency = self.currency();
        if schedule.step.currency != currency {
            errors.add("dutch.step", "currency_mismatch", format!("must be in {currency}, like the starting price"));
        } else if schedule.step.amount <= 0 {
            errors.add("dutch.step", "must_be_positive", "must be greater than zero");
        }
        if schedule.interval_secs <= 0 {
            errors.add("dutch.interval_secs", "must_be_positive", "must be greater than zero");
        }
        if schedule.floor.currency != currency {
            errors.add("dutch.floor", "currency_mismatch", format!("must be in {currency}, like the starting price"));
        } else if schedule.floor.amount <= 0 {
            errors.add("dutch.floor", "must_be_positive", "must be greater than zero");
        } else if schedule.floor.amount > self.starting_price.amount {
            errors.add("dutch.floor", "above_starting_price", "must not exceed the starting price");
        }
    }

    /// The increment at `price`. Only meaningful for ascending formats.
    pub(crate) fn increment_at(&self, price: Money) -> Money {
        match &self.increment {
            Some(increment) => increment.at(price),
            None => Money::new(1, price.currency),
        }
    }

    /// The descending price at `now`, computed from the schedule alone so every node agrees.
    pub fn dutch_price_at(&self, now: DateTime<Utc>) -> Money {
        let Some(schedule) = self.dutch else { return self.starting_price };
        let elapsed = now.signed_duration_since(self.starts_at);
        if elapsed <= Duration::zero() || schedule.interval_secs <= 0 {
            return self.starting_price;
        }
        let steps = i128::from(elapsed.num_seconds() / schedule.interval_secs);
        let dropped = i128::from(self.starting_price.amount) - steps * i128::from(schedule.step.amount);
        let price = dropped.max(i128::from(schedule.floor.amount));
        // `price` lies between the floor and the starting price, both i64.
        Money::new(i64::try_from(price).unwrap_or(schedule.floor.amount), self.currency())
    }
}
