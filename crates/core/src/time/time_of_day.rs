//! Local wall-clock times of day written `"HH:MM"` (or `"HH:MM:SS"`), as used
//! by delay `at` / `fallback_at` (R-D1, R-D3) and window bounds (R-W1).

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;

/// A time of day between 00:00:00 and 23:59:59, whole seconds.
///
/// Parsed from `"H:MM"`, `"HH:MM"` or `"HH:MM:SS"`; written `"HH:MM"` when
/// the seconds are zero, else `"HH:MM:SS"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    /// Seconds since local midnight, `0..86_400`.
    secs: u32,
}

impl TimeOfDay {
    /// Midnight, 00:00.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { secs: 0 };

    /// `hour:minute:00`, or `None` when out of range.
    pub const fn hm(hour: u32, minute: u32) -> Option<TimeOfDay> {
        TimeOfDay::hms(hour, minute, 0)
    }

    /// `hour:minute:second`, or `None` when out of range.
    pub const fn hms(hour: u32, minute: u32, second: u32) -> Option<TimeOfDay> {
        if hour < 24 && minute < 60 && second < 60 {
            Some(TimeOfDay {
                secs: hour * 3600 + minute * 60 + second,
            })
        } else {
            None
        }
    }

    /// Seconds since midnight (`0..86_400`).
    pub const fn seconds_from_midnight(self) -> u32 {
        self.secs
    }

    /// The hour, `0..24`.
    pub const fn hour(self) -> u32 {
        self.secs / 3600
    }

    /// The minute, `0..60`.
    pub const fn minute(self) -> u32 {
        self.secs / 60 % 60
    }

    /// The second, `0..60`.
    pub const fn second(self) -> u32 {
        self.secs % 60
    }

    /// As a `chrono::NaiveTime`.
    pub fn to_naive(self) -> NaiveTime {
        // `secs < 86_400` by construction, so this never falls back.
        NaiveTime::from_num_seconds_from_midnight_opt(self.secs, 0).unwrap_or(NaiveTime::MIN)
    }

    /// The time of day of a `NaiveTime`, dropping fractions of a second.
    pub fn from_naive(time: NaiveTime) -> TimeOfDay {
        TimeOfDay {
            secs: time.num_seconds_from_midnight(),
        }
    }
}

impl FromStr for TimeOfDay {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || Error::TimeOfDay(s.to_string());
        let mut parts = s.split(':');
        let hour = parts.next().ok_or_else(err)?;
        let minute = parts.next().ok_or_else(err)?;
        let second = parts.next();
        if parts.next().is_some() {
            return Err(err());
        }
        let number = |text: &str, widths: &[usize]| -> Option<u32> {
            if widths.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
                text.parse().ok()
            } else {
                None
            }
        };
        let h = number(hour, &[1, 2]).ok_or_else(err)?;
        let m = number(minute, &[2]).ok_or_else(err)?;
        let sec = match second {
            Some(text) => number(text, &[2]).ok_or_else(err)?,
            None => 0,
        };
        TimeOfDay::hms(h, m, sec).ok_or_else(err)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())?;
        if self.second() != 0 {
            write!(f, ":{:02}", self.second())?;
        }
        Ok(())
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_d1_parses_hours_minutes_and_optional_seconds() {
        assert_eq!("09:00".parse(), Ok(TimeOfDay::hm(9, 0).expect("valid")));
        assert_eq!("9:05".parse(), Ok(TimeOfDay::hm(9, 5).expect("valid")));
        assert_eq!("23:59".parse(), Ok(TimeOfDay::hm(23, 59).expect("valid")));
        assert_eq!(
            "07:30:15".parse(),
            Ok(TimeOfDay::hms(7, 30, 15).expect("valid"))
        );
        assert_eq!("00:00".parse(), Ok(TimeOfDay::MIDNIGHT));
    }

    #[test]
    fn r_d1_refuses_out_of_range_or_malformed_times() {
        for bad in [
            "24:00",
            "23:60",
            "12:00:60",
            "",
            "9",
            "9:5",
            "123:00",
            "09:00:00:00",
            "-1:00",
            "+9:00",
            "09h00",
            " 09:00",
        ] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn r_d1_serde_round_trip_as_hh_mm() {
        let t: TimeOfDay = serde_json::from_str("\"9:00\"").expect("valid");
        assert_eq!(serde_json::to_string(&t).expect("serializes"), "\"09:00\"");
        let t: TimeOfDay = serde_json::from_str("\"17:45:30\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&t).expect("serializes"),
            "\"17:45:30\""
        );
        assert!(serde_json::from_str::<TimeOfDay>("\"25:00\"").is_err());
        assert!(serde_json::from_str::<TimeOfDay>("900").is_err());
    }

    #[test]
    fn r_d1_naive_round_trip() {
        let t = TimeOfDay::hms(13, 7, 9).expect("valid");
        assert_eq!(TimeOfDay::from_naive(t.to_naive()), t);
        assert_eq!(
            t.to_naive(),
            NaiveTime::from_hms_opt(13, 7, 9).expect("valid")
        );
    }
}
