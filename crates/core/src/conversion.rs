//! Conversions (R-P5): after a receipt at `r`, the first event matching one
//! of the campaign's `conversion_events` within that entry's `deadline`
//! counts one conversion. The first entry is the primary conversion event,
//! which the `conversion` trigger of other campaigns listens to.

use chrono::{DateTime, Utc};

use crate::campaign::Campaign;
use crate::event::Event;

/// A counted conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversionHit {
    /// Which entry of `conversion_events` matched.
    pub index: usize,
    /// True when it is the primary (first) conversion event: emit
    /// `conversion` for this campaign as well.
    pub primary: bool,
}

impl Campaign {
    /// R-P5: does `event` convert the receipt at `last_receipt`? At most one
    /// conversion per receipt (`already_converted`). The event must happen
    /// strictly after the receipt and no later than `receipt + deadline`.
    pub fn conversion(
        &self,
        last_receipt: Option<DateTime<Utc>>,
        already_converted: bool,
        event: &Event,
    ) -> Option<ConversionHit> {
        let r = last_receipt?;
        if already_converted || event.time <= r {
            return None;
        }
        self.conversions.iter().enumerate().find_map(|(index, m)| {
            let deadline = m.definition().deadline?;
            (event.time <= r + deadline.to_chrono() && m.matches(event)).then_some(ConversionHit {
                index,
                primary: index == 0,
            })
        })
    }
}
