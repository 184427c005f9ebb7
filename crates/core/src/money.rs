//! Money is exact: an integer count of the currency's minor unit (fen for CNY, cents for USD/EUR).
//! No floating point ever touches an amount; arithmetic is checked and refuses to mix currencies.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Cny,
    Usd,
    Eur,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "CNY" => Some(Currency::Cny),
            "USD" => Some(Currency::Usd),
            "EUR" => Some(Currency::Eur),
            _ => None,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in minor units with its currency, e.g. `{"amount": 1250000, "currency": "CNY"}`
/// is ¥12,500.00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Integer count of minor units (fen, cents).
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflows")]
    Overflow,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub const fn cny(amount_fen: i64) -> Self {
        Self::new(amount_fen, Currency::Cny)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn is_negative(&self) -> bool {
        self.amount < 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn money_serializes_as_integer_minor_units() {
        let json = serde_json::to_value(Money::cny(1_250_000)).unwrap();
        assert_eq!(json, serde_json::json!({"amount": 1250000, "currency": "CNY"}));
    }

    #[test]
    fn adding_different_currencies_is_refused() {
        let err = Money::cny(1).checked_add(Money::new(1, Currency::Usd)).unwrap_err();
        assert_eq!(err, MoneyError::CurrencyMismatch(Currency::Cny, Currency::Usd));
    }

    #[test]
    fn fractional_amounts_are_rejected_when_parsing() {
        let parsed: Result<Money, _> = serde_json::from_str(r#"{"amount": 12.5, "currency": "CNY"}"#);
        assert!(parsed.is_err());
    }

    #[test]
    fn display_shows_two_decimals() {
        assert_eq!(Money::cny(1_234_505).to_string(), "12345.05 CNY");
        assert_eq!(Money::cny(-5).to_string(), "-0.05 CNY");
    }

    proptest! {
        #[test]
        fn addition_is_exact_or_reports_overflow(a in any::<i64>(), b in any::<i64>()) {
            match Money::cny(a).checked_add(Money::cny(b)) {
                Ok(sum) => prop_assert_eq!(i128::from(sum.amount), i128::from(a) + i128::from(b)),
                Err(e) => {
                    prop_assert_eq!(e, MoneyError::Overflow);
                    let exact = i128::from(a) + i128::from(b);
                    prop_assert!(exact > i128::from(i64::MAX) || exact < i128::from(i64::MIN));
                }
            }
        }
    }
}
