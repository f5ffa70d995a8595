//! Durations written as strings (`90s`, `15m`, `2h`, `7d`), as used by
//! delays (R-D1), re-eligibility (R-R2), segment `within` (R-A1), conversion
//! deadlines (R-P5) and frequency caps (R-F1). A day is exactly 24 hours.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative exact duration, parsed from `<digits><unit>` with unit one
/// of `s`, `m`, `h`, `d` (d = 24 h), at most [`Span::MAX_DAYS`]. Stored in
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    millis: i64,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanParseError {
    /// Not `<digits><unit>`.
    #[error(
        "invalid duration {input:?}: expected a whole number followed by s, m, h or d (e.g. \"90m\")"
    )]
    Syntax {
        /// The text that was refused.
        input: String,
    },
    /// Longer than [`Span::MAX_DAYS`].
    #[error("invalid duration {input:?}: at most {}d (100 years)", Span::MAX_DAYS)]
    TooLong {
        /// The text that was refused.
        input: String,
    },
}

impl Span {
    /// The zero duration.
    pub const ZERO: Span = Span { millis: 0 };

    /// Longest duration accepted, in days (100 years). Every span is added
    /// to or taken from instants (a cap's period, a re-eligibility, a
    /// conversion deadline, the outbox retention); past chrono's range that
    /// arithmetic panics, and nothing real waits a century.
    pub const MAX_DAYS: i64 = 36_525;

    /// A span of whole seconds.
    pub const fn from_secs(secs: i64) -> Span {
        Span {
            millis: secs * 1000,
        }
    }

    /// A span of milliseconds.
    pub const fn from_millis(millis: i64) -> Span {
        Span { millis }
    }

    /// Length in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.millis
    }

    /// As a `chrono::Duration` for instant arithmetic.
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.millis)
    }
}

impl FromStr for Span {
    type Err = SpanParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SpanParseError::Syntax {
            input: s.to_string(),
        };
        let s_trim = s.trim();
        let unit = s_trim.chars().last().ok_or_else(err)?;
        let digits = &s_trim[..s_trim.len() - unit.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        let unit_ms: i64 = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return Err(err()),
        };
        let too_long = || SpanParseError::TooLong {
            input: s.to_string(),
        };
        let millis = n.checked_mul(unit_ms).ok_or_else(too_long)?;
        if millis > Span::MAX_DAYS * 86_400_000 {
            return Err(too_long());
        }
        Ok(Span { millis })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis;
        if ms % 86_400_000 == 0 && ms != 0 {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms % 3_600_000 == 0 && ms != 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 && ms != 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1_000 == 0 {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!("90s".parse::<Span>(), Ok(Span::from_secs(90)));
        assert_eq!("15m".parse::<Span>(), Ok(Span::from_secs(900)));
        assert_eq!("2h".parse::<Span>(), Ok(Span::from_secs(7200)));
        assert_eq!("7d".parse::<Span>(), Ok(Span::from_secs(7 * 86_400)));
        assert_eq!("0s".parse::<Span>(), Ok(Span::ZERO));
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "m",
            "10",
            "1.5h",
            "-3m",
            "10w",
            "h10",
            "1 h",
            "99999999999999999d",
        ] {
            assert!(bad.parse::<Span>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn refuses_spans_over_a_century_so_instant_arithmetic_cannot_overflow() {
        // `"per":"100000000000d"` in a frequency cap once panicked at send
        // time (`now - per`), and as a re-eligibility or conversion deadline
        // while ingesting.
        assert_eq!(
            "36525d".parse::<Span>(),
            Ok(Span::from_secs(Span::MAX_DAYS * 86_400))
        );
        for long in ["36526d", "876625h", "100000000000d", "99999999999999999d"] {
            let err = long.parse::<Span>().expect_err(long);
            assert!(matches!(err, SpanParseError::TooLong { .. }), "{long}");
            assert!(err.to_string().contains("at most 36525d"), "{err}");
        }
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(Span::from_secs(90).to_string(), "90s");
        assert_eq!(Span::from_secs(5400).to_string(), "90m");
        assert_eq!(Span::from_secs(86_400 * 3).to_string(), "3d");
        assert_eq!(Span::ZERO.to_string(), "0s");
    }

    #[test]
    fn serde_round_trip_as_string() {
        let v: Span = serde_json::from_str("\"2h\"").expect("valid");
        assert_eq!(v, Span::from_secs(7200));
        assert_eq!(serde_json::to_string(&v).expect("serializes"), "\"2h\"");
        assert!(serde_json::from_str::<Span>("\"2x\"").is_err());
    }
}
