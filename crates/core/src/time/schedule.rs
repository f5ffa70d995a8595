//! The campaign's duration `[start, end)` (R-S1, R-S2).
//!
//! With `local_time: false` the bounds are instants (RFC 3339 with an offset
//! or `Z`, any form: `2026-01-01T07:00:00.000Z`, `…+01:00`); with
//! `local_time: true` they are local date-times without offset
//! (`2026-01-01T09:00:00`), turned into instants in each user's zone by R-D2
//! and then compared as instants.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;
use super::local::local_to_instant;
use crate::Span;
use crate::validation::{Report, join};

/// One bound of a schedule: an instant, or a local date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduleBound {
    /// Written with an offset or `Z`.
    Instant(DateTime<Utc>),
    /// Written without offset; read in the user's zone.
    Local(NaiveDateTime),
}

impl ScheduleBound {
    /// True for a local date-time (no offset).
    pub fn is_local(&self) -> bool {
        matches!(self, ScheduleBound::Local(_))
    }

    /// The bound as an instant: itself, or the local date-time read in `tz`
    /// by R-D2.
    pub fn to_instant(&self, tz: Tz) -> DateTime<Utc> {
        match *self {
            ScheduleBound::Instant(t) => t,
            ScheduleBound::Local(naive) => local_to_instant(naive, tz),
        }
    }
}

impl FromStr for ScheduleBound {
    type Err = Error;

    /// Instants must lie in the years 0000–9999 in UTC (an offset can move
    /// a written 9999-12-31 past it), local date-times in those years too:
    /// the definition is stored and printed back in RFC 3339, which cannot
    /// write other years, and would not parse again after a restart.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            let t = t.to_utc();
            if !super::RFC3339_YEARS.contains(&t.year()) {
                return Err(Error::DateTime(s.to_string()));
            }
            return Ok(ScheduleBound::Instant(t));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(s, format)
                && super::RFC3339_YEARS.contains(&naive.year())
            {
                return Ok(ScheduleBound::Local(naive));
            }
        }
        Err(Error::DateTime(s.to_string()))
    }
}

impl fmt::Display for ScheduleBound {
    /// Instants as RFC 3339 in UTC with `Z` (fractions only when not zero);
    /// local date-times as `YYYY-MM-DDTHH:MM:SS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleBound::Instant(t) => {
                f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            ScheduleBound::Local(naive) if naive.nanosecond() == 0 => {
                write!(f, "{}", naive.format("%Y-%m-%dT%H:%M:%S"))
            }
            ScheduleBound::Local(naive) => write!(f, "{}", naive.format("%Y-%m-%dT%H:%M:%S%.f")),
        }
    }
}

impl Serialize for ScheduleBound {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScheduleBound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `schedule`: when the campaign may trigger and send (R-S1, R-S2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// First instant (included).
    pub start: ScheduleBound,
    /// End (excluded); none means open-ended.
    #[serde(default)]
    pub end: Option<ScheduleBound>,
    /// True: the bounds are local date-times read in each user's zone.
    #[serde(default)]
    pub local_time: bool,
}

impl Schedule {
    /// A schedule of instants from `start` on, never ending.
    pub fn from_instant(start: DateTime<Utc>) -> Schedule {
        Schedule {
            start: ScheduleBound::Instant(start),
            end: None,
            local_time: false,
        }
    }

    /// The start as an instant in `tz` (the user's local zone).
    pub fn start_instant(&self, tz: Tz) -> DateTime<Utc> {
        self.start.to_instant(tz)
    }

    /// The end as an instant in `tz`, when there is one.
    pub fn end_instant(&self, tz: Tz) -> Option<DateTime<Utc>> {
        self.end.map(|end| end.to_instant(tz))
    }

    /// R-S1: is `t` in `[start, end)`? (`false` means `outside_duration`.)
    pub fn contains(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        self.start_instant(tz) <= t && !self.ends_before(t, tz)
    }

    /// How long the campaign runs (`end - start`, local bounds compared as
    /// written), for the R-S2 warning when the shortest delay is longer.
    /// `None` when open-ended, or when the bounds mix instants and local
    /// date-times (a validation error).
    pub fn length(&self) -> Option<Span> {
        let millis = match (self.start, self.end?) {
            (ScheduleBound::Instant(s), ScheduleBound::Instant(e)) => (e - s).num_milliseconds(),
            (ScheduleBound::Local(s), ScheduleBound::Local(e)) => (e - s).num_milliseconds(),
            _ => return None,
        };
        Some(Span::from_millis(millis.max(0)))
    }

    /// R-S2: has the schedule ended by `due` (`end <= due`)? Then a send due
    /// at `due` is not sent.
    pub fn ends_before(&self, due: DateTime<Utc>, tz: Tz) -> bool {
        self.end_instant(tz).is_some_and(|end| end <= due)
    }

    /// R-S1 checks serde cannot do: bounds match `local_time`, and `end` is
    /// after `start` (local bounds compared as written). `path` is `schedule`.
    pub fn validate(&self, path: &str, report: &mut Report) {
        let bounds = [("start", Some(self.start)), ("end", self.end)];
        for (field, bound) in bounds {
            let Some(bound) = bound else { continue };
            let field_path = join(path, field);
            if self.local_time && !bound.is_local() {
                report.error(
                    field_path,
                    format!(
                        "with local_time true, schedule.{field} must be a local date-time without offset (e.g. \"2026-01-01T09:00:00\")"
                    ),
                );
            } else if !self.local_time && bound.is_local() {
                report.error(
                    field_path,
                    format!(
                        "schedule.{field} needs an offset or Z (e.g. \"2026-01-01T09:00:00Z\"), or set local_time true"
                    ),
                );
            }
        }
        let ordered = match (self.start, self.end) {
            (ScheduleBound::Instant(s), Some(ScheduleBound::Instant(e))) => Some(s < e),
            (ScheduleBound::Local(s), Some(ScheduleBound::Local(e))) => Some(s < e),
            _ => None,
        };
        if ordered == Some(false) {
            report.error(
                join(path, "end"),
                "schedule.end must be after schedule.start",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::local::tests::{naive, utc};

    fn schedule(json: &str) -> Schedule {
        serde_json::from_str(json).expect("valid schedule")
    }

    fn problems(s: &Schedule) -> Report {
        let mut report = Report::default();
        s.validate("schedule", &mut report);
        report
    }

    #[test]
    fn r_s1_bounds_parse_any_rfc3339_form_as_instants() {
        for (text, expected) in [
            ("2026-01-01T07:00:00.000Z", "2026-01-01T07:00:00Z"),
            ("2026-01-01T08:00:00+01:00", "2026-01-01T07:00:00Z"),
            ("2026-01-01T07:00:00z", "2026-01-01T07:00:00Z"),
            ("2026-01-01T07:00:00.250Z", "2026-01-01T07:00:00.250Z"),
        ] {
            assert_eq!(
                text.parse::<ScheduleBound>(),
                Ok(ScheduleBound::Instant(utc(expected))),
                "{text}"
            );
        }
        assert_eq!(
            "2026-01-01T09:00:00".parse::<ScheduleBound>(),
            Ok(ScheduleBound::Local(naive("2026-01-01T09:00")))
        );
        assert_eq!(
            "2026-01-01T09:00".parse::<ScheduleBound>(),
            Ok(ScheduleBound::Local(naive("2026-01-01T09:00")))
        );
        for bad in ["2026-01-01", "yesterday", "2026-13-01T00:00:00Z", ""] {
            assert!(bad.parse::<ScheduleBound>().is_err(), "{bad:?}");
        }
        // Outside the years RFC 3339 writes once in UTC: the stored
        // definition would not parse again after a restart.
        for bad in [
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00+23:59",
            "+10000-01-01T00:00:00",
        ] {
            assert!(bad.parse::<ScheduleBound>().is_err(), "{bad:?}");
        }
        assert!("9999-12-31T23:59:59Z".parse::<ScheduleBound>().is_ok());
    }

    #[test]
    fn r_s1_serde_round_trip() {
        let json = r#"{"start":"2026-01-01T00:00:00Z","end":null,"local_time":false}"#;
        let s = schedule(json);
        assert_eq!(serde_json::to_string(&s).expect("serializes"), json);
        let s = schedule(
            r#"{"start":"2026-01-01T09:00:00","end":"2026-02-01T09:00:00.5","local_time":true}"#,
        );
        assert_eq!(
            serde_json::to_string(&s).expect("serializes"),
            r#"{"start":"2026-01-01T09:00:00","end":"2026-02-01T09:00:00.500","local_time":true}"#
        );
        let s = schedule(r#"{"start":"2026-01-01T01:00:00+01:00"}"#);
        assert_eq!(s.end, None);
        assert!(!s.local_time);
        assert_eq!(s.start.to_string(), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn r_s1_start_included_end_excluded() {
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-02-01T00:00:00Z"}"#);
        let tz = Tz::Europe__Paris; // irrelevant for instants
        assert!(s.contains(utc("2026-01-01T00:00:00Z"), tz));
        assert!(!s.contains(utc("2025-12-31T23:59:59.999Z"), tz));
        assert!(s.contains(utc("2026-01-31T23:59:59.999Z"), tz));
        assert!(!s.contains(utc("2026-02-01T00:00:00Z"), tz));
        assert!(s.ends_before(utc("2026-02-01T00:00:00Z"), tz));
        assert!(!s.ends_before(utc("2026-01-31T23:59:59Z"), tz));
        let open = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        assert!(!open.ends_before(DateTime::<Utc>::MAX_UTC, tz));
        assert_eq!(open.end_instant(tz), None);
    }

    #[test]
    fn r_s1_local_time_bounds_read_in_each_users_zone() {
        let s = schedule(
            r#"{"start":"2026-01-01T09:00:00","end":"2026-01-02T09:00:00","local_time":true}"#,
        );
        let t = utc("2026-01-01T08:30:00Z");
        // 09:30 in Paris: started; 03:30 in New York: not yet; 14:00 in Kolkata.
        assert!(s.contains(t, Tz::Europe__Paris));
        assert!(!s.contains(t, Tz::America__New_York));
        assert!(s.contains(t, Tz::Asia__Kolkata));
        assert_eq!(
            s.start_instant(Tz::Asia__Kolkata),
            utc("2026-01-01T03:30:00Z")
        );
        assert_eq!(
            s.end_instant(Tz::Pacific__Chatham),
            Some(utc("2026-01-01T19:15:00Z")) // +13:45 in summer
        );
    }

    #[test]
    fn r_s1_local_bound_in_dst_gap_uses_r_d2() {
        let s = schedule(r#"{"start":"2026-03-08T02:30:00","local_time":true}"#);
        assert_eq!(
            s.start_instant(Tz::America__New_York),
            utc("2026-03-08T07:30:00Z")
        );
    }

    #[test]
    fn r_s1_validate_local_time_requires_local_bounds() {
        let s = schedule(r#"{"start":"2026-01-01T09:00:00Z","local_time":true}"#);
        let r = problems(&s);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].path, "schedule.start");
        let s = schedule(r#"{"start":"2026-01-01T09:00:00","end":"2026-01-02T09:00:00"}"#);
        let r = problems(&s);
        let paths: Vec<_> = r.errors.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["schedule.start", "schedule.end"]);
        let ok = schedule(r#"{"start":"2026-01-01T09:00:00","local_time":true}"#);
        assert!(problems(&ok).errors.is_empty());
    }

    #[test]
    fn r_s2_length_of_the_campaign() {
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T12:00:00+01:00"}"#);
        assert_eq!(s.length(), Some(Span::from_secs(35 * 3600)));
        let s = schedule(
            r#"{"start":"2026-01-01T09:00:00","end":"2026-01-03T09:00:00","local_time":true}"#,
        );
        assert_eq!(s.length(), Some(Span::from_secs(2 * 86_400)));
        assert_eq!(
            schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#).length(),
            None
        );
        let mixed = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-03T09:00:00"}"#);
        assert_eq!(mixed.length(), None);
    }

    #[test]
    fn r_s1_validate_end_after_start() {
        for json in [
            r#"{"start":"2026-01-02T00:00:00Z","end":"2026-01-01T00:00:00Z"}"#,
            r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00+01:00"}"#,
            r#"{"start":"2026-01-02T09:00:00","end":"2026-01-02T09:00:00","local_time":true}"#,
        ] {
            let r = problems(&schedule(json));
            assert_eq!(r.errors.len(), 1, "{json}");
            assert_eq!(r.errors[0].path, "schedule.end");
            assert_eq!(
                r.errors[0].message,
                "schedule.end must be after schedule.start"
            );
        }
        let ok = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:01Z"}"#);
        assert!(problems(&ok).is_valid());
    }
}
