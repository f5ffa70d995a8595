//! Weekday names of `next_weekday` delays (R-D1): written `"mon"`…`"sun"`,
//! full names accepted in any case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;

/// A day of the week. Serialized lowercase three-letter (`"tue"`); parsed
/// from short or full English names, case-insensitively (`"Tuesday"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekday(pub chrono::Weekday);

impl Weekday {
    /// The chrono weekday.
    pub const fn chrono(self) -> chrono::Weekday {
        self.0
    }

    /// Lowercase three-letter name: `mon`…`sun`.
    pub const fn short_name(self) -> &'static str {
        match self.0 {
            chrono::Weekday::Mon => "mon",
            chrono::Weekday::Tue => "tue",
            chrono::Weekday::Wed => "wed",
            chrono::Weekday::Thu => "thu",
            chrono::Weekday::Fri => "fri",
            chrono::Weekday::Sat => "sat",
            chrono::Weekday::Sun => "sun",
        }
    }
}

impl From<chrono::Weekday> for Weekday {
    fn from(w: chrono::Weekday) -> Self {
        Weekday(w)
    }
}

impl From<Weekday> for chrono::Weekday {
    fn from(w: Weekday) -> Self {
        w.0
    }
}

impl FromStr for Weekday {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // chrono accepts exactly the short or the full English name, any case.
        s.parse::<chrono::Weekday>()
            .map(Weekday)
            .map_err(|_| Error::Weekday(s.to_string()))
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl Serialize for Weekday {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.short_name())
    }
}

impl<'de> Deserialize<'de> for Weekday {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_d1_weekday_accepts_short_and_full_names_in_any_case() {
        for (text, day) in [
            ("tue", chrono::Weekday::Tue),
            ("TUE", chrono::Weekday::Tue),
            ("Tuesday", chrono::Weekday::Tue),
            ("sunday", chrono::Weekday::Sun),
            ("mon", chrono::Weekday::Mon),
        ] {
            assert_eq!(text.parse::<Weekday>(), Ok(Weekday(day)), "{text}");
        }
        for bad in ["tu", "tues", "", "mardi", " mon"] {
            assert!(bad.parse::<Weekday>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn r_d1_weekday_serializes_lowercase_short() {
        let w: Weekday = serde_json::from_str("\"Friday\"").expect("valid");
        assert_eq!(serde_json::to_string(&w).expect("serializes"), "\"fri\"");
    }
}
