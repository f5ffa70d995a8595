//! Outcome codes: the one vocabulary every decision is recorded with (R-Y1).
//!
//! The strings are part of the public contract (SPEC.md, API.md): stats,
//! explain timelines and metrics print them exactly as `as_str` returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every outcome a trigger, a pending send or a send attempt can end with,
/// plus the journal-only steps (`scheduled`, `rolled_to_next_window`,
/// `rescheduled`, `retry_scheduled`) that explain records along the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    // ---- trigger time (R-W7 order) ----
    /// A send was planned at its computed due instant (R-W7).
    Scheduled,
    /// A send was planned, moved to the next window opening (R-W3).
    RolledToNextWindow,
    /// The event happened before the campaign's `launched_at` (R-T5).
    BeforeLaunch,
    /// The event had the trigger's kind and name but its properties failed the filters (R-T3).
    PropertyFiltersNotMet,
    /// An in-app campaign was matched by a REST event; only SDK events trigger in-app (R-T6).
    IamRequiresSdkEvent,
    /// The trigger (or, at send time, the send) is outside `[schedule.start, schedule.end)` (R-S1, R-S2).
    OutsideDuration,
    /// The trigger happened at a local time outside the window (R-W2).
    TriggerOutsideWindow,
    /// The user was not in the segment when the trigger was processed (R-A2).
    NotInSegment,
    /// A pending send was replaced by a new one because the same event matched
    /// both a trigger and an exception (R-E4).
    Rescheduled,
    /// The user already has a receipt and the campaign has no re-eligibility (R-R1).
    NotReeligible,
    /// The re-eligibility interval since the last receipt has not passed (R-R2).
    NotReeligibleYet,
    /// A send is already pending for this user and the campaign has no re-eligibility (R-R4).
    AlreadyPending,
    /// The due instant is at or after `schedule.end`, known at trigger time (R-S2).
    DelayExceedsDuration,
    /// The due instant falls outside the window and `next_available` is false (R-W3).
    DelayOutsideWindow,
    // ---- exceptions ----
    /// An exception event cancelled the pending send (R-E2).
    CancelledByException,
    // ---- send time (R-X order) ----
    /// The campaign was stopped or deleted before the send was due (R-X step 1).
    CampaignStopped,
    /// The user left the segment before the send (R-A3).
    NotInSegmentAtSend,
    /// The user unsubscribed from the channel or SMS subscription group (R-X step 5, R-X4).
    Unsubscribed,
    /// Email channel, no email address on the profile (R-X step 5).
    MissingEmail,
    /// SMS channel, no phone number on the profile (R-X step 5).
    MissingPhone,
    /// Push channel, no push token on the profile (R-X step 5).
    MissingPushToken,
    /// The user is in the campaign's control group: a receipt, nothing sent (R-A4).
    ControlGroup,
    /// A global frequency cap withheld the message (R-F1).
    FrequencyCapped,
    /// The template called `abort_message` (R-X step 8).
    Aborted,
    /// The template failed to render (R-X step 8).
    RenderError,
    /// The provider accepted the message: a receipt (R-X step 9).
    Sent,
    /// Retries were spent or the provider refused for good (R-X step 9).
    DeliveryFailed,
    /// A transient failure planned another attempt (R-X3); journal only.
    RetryScheduled,
    /// The user was deleted while the send was pending (`/users/delete`).
    UserDeleted,
    /// A conversion was counted after a receipt (R-P5); journal only.
    Converted,
}

impl Outcome {
    /// Every outcome, in declaration order (for counters and docs).
    pub const ALL: [Outcome; 30] = [
        Outcome::Scheduled,
        Outcome::RolledToNextWindow,
        Outcome::BeforeLaunch,
        Outcome::PropertyFiltersNotMet,
        Outcome::IamRequiresSdkEvent,
        Outcome::OutsideDuration,
        Outcome::TriggerOutsideWindow,
        Outcome::NotInSegment,
        Outcome::Rescheduled,
        Outcome::NotReeligible,
        Outcome::NotReeligibleYet,
        Outcome::AlreadyPending,
        Outcome::DelayExceedsDuration,
        Outcome::DelayOutsideWindow,
        Outcome::CancelledByException,
        Outcome::CampaignStopped,
        Outcome::NotInSegmentAtSend,
        Outcome::Unsubscribed,
        Outcome::MissingEmail,
        Outcome::MissingPhone,
        Outcome::MissingPushToken,
        Outcome::ControlGroup,
        Outcome::FrequencyCapped,
        Outcome::Aborted,
        Outcome::RenderError,
        Outcome::Sent,
        Outcome::DeliveryFailed,
        Outcome::RetryScheduled,
        Outcome::UserDeleted,
        Outcome::Converted,
    ];

    /// The stable snake_case code printed in APIs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Scheduled => "scheduled",
            Outcome::RolledToNextWindow => "rolled_to_next_window",
            Outcome::BeforeLaunch => "before_launch",
            Outcome::PropertyFiltersNotMet => "property_filters_not_met",
            Outcome::IamRequiresSdkEvent => "iam_requires_sdk_event",
            Outcome::OutsideDuration => "outside_duration",
            Outcome::TriggerOutsideWindow => "trigger_outside_window",
            Outcome::NotInSegment => "not_in_segment",
            Outcome::Rescheduled => "rescheduled",
            Outcome::NotReeligible => "not_reeligible",
            Outcome::NotReeligibleYet => "not_reeligible_yet",
            Outcome::AlreadyPending => "already_pending",
            Outcome::DelayExceedsDuration => "delay_exceeds_duration",
            Outcome::DelayOutsideWindow => "delay_outside_window",
            Outcome::CancelledByException => "cancelled_by_exception",
            Outcome::CampaignStopped => "campaign_stopped",
            Outcome::NotInSegmentAtSend => "not_in_segment_at_send",
            Outcome::Unsubscribed => "unsubscribed",
            Outcome::MissingEmail => "missing_email",
            Outcome::MissingPhone => "missing_phone",
            Outcome::MissingPushToken => "missing_push_token",
            Outcome::ControlGroup => "control_group",
            Outcome::FrequencyCapped => "frequency_capped",
            Outcome::Aborted => "aborted",
            Outcome::RenderError => "render_error",
            Outcome::Sent => "sent",
            Outcome::DeliveryFailed => "delivery_failed",
            Outcome::RetryScheduled => "retry_scheduled",
            Outcome::UserDeleted => "user_deleted",
            Outcome::Converted => "converted",
        }
    }

    /// The SPEC rule that decides this outcome (for explain and preview).
    pub const fn rule(self) -> &'static str {
        match self {
            Outcome::Scheduled => "R-D1",
            Outcome::RolledToNextWindow => "R-W3",
            Outcome::BeforeLaunch => "R-T5",
            Outcome::PropertyFiltersNotMet => "R-T3",
            Outcome::IamRequiresSdkEvent => "R-T6",
            Outcome::OutsideDuration => "R-S1",
            Outcome::TriggerOutsideWindow => "R-W2",
            Outcome::NotInSegment => "R-A2",
            Outcome::Rescheduled => "R-E4",
            Outcome::NotReeligible => "R-R1",
            Outcome::NotReeligibleYet => "R-R2",
            Outcome::AlreadyPending => "R-R4",
            Outcome::DelayExceedsDuration => "R-S2",
            Outcome::DelayOutsideWindow => "R-W3",
            Outcome::CancelledByException => "R-E2",
            Outcome::CampaignStopped => "R-X",
            Outcome::NotInSegmentAtSend => "R-A3",
            Outcome::Unsubscribed
            | Outcome::MissingEmail
            | Outcome::MissingPhone
            | Outcome::MissingPushToken => "R-X4",
            Outcome::ControlGroup => "R-A4",
            Outcome::FrequencyCapped => "R-F1",
            Outcome::Aborted | Outcome::RenderError => "R-X",
            Outcome::Sent | Outcome::DeliveryFailed | Outcome::RetryScheduled => "R-X3",
            Outcome::UserDeleted => "R-K4",
            Outcome::Converted => "R-P5",
        }
    }

    /// A receipt counts for re-eligibility (R-R1, R-R2): `sent` or `control_group`.
    pub const fn is_receipt(self) -> bool {
        matches!(self, Outcome::Sent | Outcome::ControlGroup)
    }

    /// True for the outcomes that plan a send (the trigger was accepted).
    pub const fn plans_send(self) -> bool {
        matches!(self, Outcome::Scheduled | Outcome::RolledToNextWindow)
    }

    /// True for the journal-only steps that neither plan nor end a send
    /// (`retry_scheduled`, `converted`): explain's verdict looks past them.
    pub const fn is_informational(self) -> bool {
        matches!(self, Outcome::RetryScheduled | Outcome::Converted)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outcome code that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome code {0:?}")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .iter()
            .copied()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_y1_codes_round_trip_through_serde_and_from_str() {
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).expect("serializes");
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
            let back: Outcome = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, o);
        }
    }

    #[test]
    fn r_y1_codes_match_spec_spelling() {
        let spec = [
            "scheduled",
            "rolled_to_next_window",
            "before_launch",
            "property_filters_not_met",
            "iam_requires_sdk_event",
            "outside_duration",
            "trigger_outside_window",
            "not_in_segment",
            "rescheduled",
            "not_reeligible",
            "not_reeligible_yet",
            "already_pending",
            "delay_exceeds_duration",
            "delay_outside_window",
            "cancelled_by_exception",
            "campaign_stopped",
            "not_in_segment_at_send",
            "unsubscribed",
            "missing_email",
            "missing_phone",
            "missing_push_token",
            "control_group",
            "frequency_capped",
            "aborted",
            "render_error",
            "sent",
            "delivery_failed",
        ];
        for code in spec {
            assert!(code.parse::<Outcome>().is_ok(), "{code} missing");
        }
    }

    #[test]
    fn r_r1_only_sent_and_control_group_are_receipts() {
        let receipts: Vec<_> = Outcome::ALL.iter().filter(|o| o.is_receipt()).collect();
        assert_eq!(receipts, vec![&Outcome::ControlGroup, &Outcome::Sent]);
    }
}
