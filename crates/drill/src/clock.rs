//! Wall-clock reading for the drill. The daemon under test runs on the
//! system clock, so the drill stamps every acknowledgement and every webhook
//! arrival with the same clock, truncated to the millisecond the daemon
//! uses in its instants. This is the one place the drill reads it (the
//! workspace's clippy configuration forbids `Utc::now` elsewhere).

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current instant on the system clock (full precision).
#[allow(clippy::disallowed_methods)] // the drill measures the real clock the daemon uses
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// The current instant truncated to whole milliseconds (event times).
pub fn now_ms() -> DateTime<Utc> {
    let t = now();
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// RFC 3339 with milliseconds and `Z`, the form the drill sends.
pub fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses an instant printed by the daemon (any RFC 3339 form).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_through_the_printed_form() {
        let t = now_ms();
        assert_eq!(parse(&fmt(t)), Some(t));
        assert_eq!(
            parse("2026-01-05T10:00:00Z"),
            parse("2026-01-05T11:00:00.000+01:00")
        );
        assert_eq!(parse("yesterday"), None);
    }
}
