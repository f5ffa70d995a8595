//! The `date` filter, replacing the standard one (R-X step 8).
//!
//! Two differences from `liquid`'s own `date`:
//! - it also reads RFC 3339 instants (`send.due`, timestamps in event
//!   properties such as `2026-01-05T10:00:00Z` or `…+01:00`), ISO dates
//!   (`2026-01-05`, midnight UTC) and integer Unix timestamps, besides the
//!   forms `liquid` knows (`2026-01-05 10:00:00 +0000`, `5 January 2026 …`);
//! - `'now'` and `'today'` mean the send's due instant (`send.due`), not
//!   the wall clock, so that rendering is deterministic under the test clock
//!   (SPEC R-X1: a send is processed at its own due instant).
//!
//! An input that is not an instant is returned unchanged, as in Liquid.

use chrono::{DateTime as ChronoDateTime, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};
use liquid_core::model::{DateTime, Scalar, ScalarCow};
use liquid_core::{
    Display_filter, Error, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Result, Runtime, Value, ValueView,
};

#[derive(Debug, FilterParameters)]
struct DateArgs {
    #[parameter(
        description = "The strftime format to print the instant with.",
        arg_type = "str"
    )]
    format: Expression,
}

/// Registers `date` with a parser.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "date",
    description = "Formats an instant; `now`/`today` is the send's due instant.",
    parameters(DateArgs),
    parsed(DateFilter)
)]
pub(crate) struct SendDate;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "date"]
struct DateFilter {
    #[parameters]
    args: DateArgs,
}

impl Filter for DateFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let instant = input
            .as_scalar()
            .and_then(|scalar| to_instant(&scalar, runtime));
        match instant {
            Some(instant) if !args.format.is_empty() => {
                let text = instant.format(args.format.as_str()).map_err(|_| {
                    Error::with_msg(format!("Invalid date-format string: {}", args.format))
                })?;
                Ok(Value::scalar(text))
            }
            _ => Ok(input.to_value()),
        }
    }
}

/// Reads a scalar as an instant, if it is one.
fn to_instant(scalar: &ScalarCow<'_>, runtime: &dyn Runtime) -> Option<DateTime> {
    let text = scalar.to_kstr();
    let text = text.as_str().trim();
    if text.eq_ignore_ascii_case("now") || text.eq_ignore_ascii_case("today") {
        let due = runtime.try_get(&[Scalar::new("send"), Scalar::new("due")])?;
        let due = due.as_scalar()?;
        return ChronoDateTime::parse_from_rfc3339(due.to_kstr().as_str())
            .ok()
            .and_then(|d| from_chrono(&d));
    }
    if let Some(instant) = scalar.to_date_time() {
        return Some(instant);
    }
    if let Ok(instant) = ChronoDateTime::parse_from_rfc3339(text) {
        return from_chrono(&instant);
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?);
        return from_chrono(&midnight.fixed_offset());
    }
    let seconds = scalar.to_integer()?;
    from_chrono(&Utc.timestamp_opt(seconds, 0).single()?.fixed_offset())
}

/// Converts a chrono instant (keeping its offset) to Liquid's.
fn from_chrono(instant: &ChronoDateTime<FixedOffset>) -> Option<DateTime> {
    let format = if instant.nanosecond() == 0 {
        "%Y-%m-%d %H:%M:%S %z"
    } else {
        "%Y-%m-%d %H:%M:%S%.f %z"
    };
    DateTime::from_str(&instant.format(format).to_string())
}
