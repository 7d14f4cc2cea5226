//! Money: exact integer micro-units of the platform's one currency.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An amount of money in micro-units (1 unit = 1,000,000 micros) of the platform's currency.
///
/// Arithmetic is exact and checked: an overflow is an error, never a wrap. Displayed and
/// parsed as a decimal with up to six fractional digits; serialised as that decimal string so
/// JSON consumers never lose precision.
///
/// ```
/// use paas_core::model::Money;
/// let price: Money = "0.015".parse().unwrap();
/// assert_eq!(price.micros(), 15_000);
/// let day = price.checked_mul(24).unwrap();
/// assert_eq!(day.to_string(), "0.36");
/// assert_eq!("-1.5".parse::<Money>().unwrap().to_string(), "-1.50");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(i64);

const SCALE: i64 = 1_000_000;

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// From micro-units.
    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    /// From whole units; `None` on overflow.
    pub fn from_units(units: i64) -> Option<Self> {
        units.checked_mul(SCALE).map(Money)
    }

    /// The amount in micro-units.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `self + other`, or an error on overflow.
    pub fn checked_add(self, other: Money) -> Result<Money> {
        self.0
            .checked_add(other.0)
            .map(Money)
            .ok_or_else(|| Error::invalid_input(format!("{self} + {other} overflows")))
    }

    /// `self - other`, or an error on overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money> {
        self.0
            .checked_sub(other.0)
            .map(Money)
            .ok_or_else(|| Error::invalid_input(format!("{self} - {other} overflows")))
    }

    /// `self * n`, or an error on overflow.
    pub fn checked_mul(self, n: i64) -> Result<Money> {
        self.0
            .checked_mul(n)
            .map(Money)
            .ok_or_else(|| Error::invalid_input(format!("{self} x {n} overflows")))
    }

    /// True when below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// True when above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let units = abs / SCALE as u64;
        let frac = abs % SCALE as u64;
        let mut digits = format!("{frac:06}");
        while digits.len() > 2 && digits.ends_with('0') {
            digits.pop();
        }
        write!(f, "{sign}{units}.{digits}")
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl FromStr for Money {
    type Err = Error;
    fn from_str(input: &str) -> Result<Self> {
        let bad = |why: &str| {
            let shown: String = input.chars().take(40).collect();
            Error::invalid_input(format!(
                "'{}' is not an amount of money: {why} (e.g. '12.50', at most 6 decimals)",
                shown.escape_debug()
            ))
        };
        let s = input.trim();
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (units, frac) = body.split_once('.').unwrap_or((body, ""));
        if units.is_empty() && frac.is_empty() {
            return Err(bad("no digits"));
        }
        if !units.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("only digits and one '.' are allowed"));
        }
        if frac.len() > 6 {
            return Err(bad("more than 6 decimals"));
        }
        // The magnitude is built in i128 so the most negative amount (whose magnitude has no
        // positive i64) still parses; only the signed result has to fit in i64.
        let units: i128 = if units.is_empty() {
            0
        } else {
            units.parse().map_err(|_| bad("too large"))?
        };
        let frac_micros: i128 = format!("{frac:0<6}")
            .parse()
            .map_err(|_| bad("bad decimals"))?;
        let magnitude = units
            .checked_mul(i128::from(SCALE))
            .and_then(|m| m.checked_add(frac_micros))
            .ok_or_else(|| bad("too large"))?;
        let signed = if negative { -magnitude } else { magnitude };
        i64::try_from(signed)
            .map(Money)
            .map_err(|_| bad("too large"))
    }
}

impl TryFrom<String> for Money {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Money> for String {
    fn from(m: Money) -> String {
        m.to_string()
    }
}

impl std::iter::Sum for Money {
    /// Saturates instead of overflowing; use `checked_add` where overflow must be an error.
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.fold(0i64, |acc, m| acc.saturating_add(m.0)))
    }
}
