//! Send-time checks (SPEC §7, R-X steps 1–8): when a pending send is due, the
//! rules are checked again on the current profile and campaign, in order,
//! and the message is rendered. Dispatch (step 9) is the daemon's.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::campaign::{Campaign, CampaignStatus, Channel};
use crate::decide::{PendingSend, fmt_instant, zone_label};
use crate::event::GroupState;
use crate::freqcap::{CapRules, SentRecord};
use crate::outcome::Outcome;
use crate::segment::ProfileView;
use crate::template::{CampaignRef, RenderContext, RenderFailure, SendRef};
use crate::time::{self, LateCheck, LateDrop};

/// Everything the send-time checks read.
#[derive(Clone, Copy)]
pub struct SendContext<'a> {
    /// The campaign's current definition.
    pub campaign: &'a Campaign,
    /// Its current status (a deleted campaign is `Stopped`).
    pub status: CampaignStatus,
    /// The send being processed.
    pub send: &'a PendingSend,
    /// The user.
    pub external_id: &'a str,
    /// The current profile (segment re-check, reachability).
    pub profile: &'a dyn ProfileView,
    /// Standard attributes (top level of the template context).
    pub attributes: &'a Map<String, Value>,
    /// Custom attributes (`custom_attribute.${x}`).
    pub custom_attributes: &'a Map<String, Value>,
    /// The user's `time_zone` attribute, if any.
    pub user_zone: Option<&'a str>,
    /// The last receipt of this campaign other than this send (R-R3).
    pub last_receipt: Option<DateTime<Utc>>,
    /// Messages already sent to the user, any campaign (R-F1).
    pub history: &'a [SentRecord],
    /// Global frequency caps.
    pub caps: &'a CapRules,
    /// The processing instant: the due instant, or later for a late send.
    pub now: DateTime<Utc>,
}

/// What to do with a due send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendVerdict {
    /// The send ends with this outcome; nothing is dispatched.
    Refused {
        /// The outcome code.
        outcome: Outcome,
        /// A one-line reason for explain.
        detail: String,
    },
    /// A late send moved to the next window opening (R-X1): keep it pending.
    Rolled {
        /// The new due instant.
        to: DateTime<Utc>,
        /// Why, for explain.
        detail: String,
    },
    /// R-A4: withheld as control group (a receipt; emit `control_group_enrolled`).
    ControlGroup,
    /// Dispatch this rendered message (fields as in the campaign's `message`).
    Deliver {
        /// The rendered message.
        content: Value,
    },
}

fn refused(outcome: Outcome, detail: impl Into<String>) -> SendVerdict {
    SendVerdict::Refused {
        outcome,
        detail: detail.into(),
    }
}

fn attr_str<'a>(profile: &'a dyn ProfileView, name: &str) -> Option<&'a str> {
    profile
        .attribute(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The user's state in a subscription group, from the `subscription_groups`
/// attribute (`[{"subscription_group_id":…,"subscription_state":…}]`).
pub fn group_state(profile: &dyn ProfileView, group_id: &str) -> Option<GroupState> {
    profile
        .attribute("subscription_groups")?
        .as_array()?
        .iter()
        .find(|g| g.get("subscription_group_id").and_then(Value::as_str) == Some(group_id))
        .and_then(|g| g.get("subscription_state"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
}

/// R-X step 5 and R-X4: can the channel reach this user?
pub fn reachability(
    campaign: &Campaign,
    profile: &dyn ProfileView,
) -> Result<(), (Outcome, String)> {
    let unsubscribed = |attr: &str| attr_str(profile, attr) == Some("unsubscribed");
    match campaign.channel() {
        Channel::Email => {
            if unsubscribed("email_subscribe") {
                return Err((
                    Outcome::Unsubscribed,
                    "email_subscribe is unsubscribed".into(),
                ));
            }
            if attr_str(profile, "email").is_none() {
                return Err((
                    Outcome::MissingEmail,
                    "the profile has no email address".into(),
                ));
            }
        }
        Channel::Push => {
            if unsubscribed("push_subscribe") {
                return Err((
                    Outcome::Unsubscribed,
                    "push_subscribe is unsubscribed".into(),
                ));
            }
            let has_token = profile
                .attribute("push_tokens")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if !has_token {
                return Err((
                    Outcome::MissingPushToken,
                    "the profile has no push token".into(),
                ));
            }
        }
        Channel::Sms => {
            if let Some(group) = campaign
                .def
                .message
                .get("subscription_group_id")
                .and_then(Value::as_str)
                && group_state(profile, group) != Some(GroupState::Subscribed)
            {
                return Err((
                    Outcome::Unsubscribed,
                    format!("the user is not subscribed to SMS subscription group {group}"),
                ));
            }
            if attr_str(profile, "phone").is_none() {
                return Err((
                    Outcome::MissingPhone,
                    "the profile has no phone number".into(),
                ));
            }
        }
        Channel::Webhook | Channel::InApp | Channel::ContentCard => {}
    }
    Ok(())
}

impl Campaign {
    /// R-X steps 1–8 for a due send, in order.
    pub fn check_send(&self, ctx: &SendContext<'_>) -> SendVerdict {
        let send = ctx.send;
        // 1. campaign stopped or deleted
        if ctx.status != CampaignStatus::Active {
            return refused(
                Outcome::CampaignStopped,
                format!("campaign is {}", ctx.status.as_str()),
            );
        }
        // 2. R-S2, and R-X1 for a late send
        let zone = self.zone_for(ctx.user_zone);
        if let Some(end) = self.def.schedule.end_instant(zone.tz)
            && (send.due >= end || ctx.now >= end)
        {
            return refused(
                Outcome::OutsideDuration,
                format!(
                    "the campaign ended at {} ({})",
                    fmt_instant(end),
                    zone_label(&zone)
                ),
            );
        }
        if ctx.now > send.due {
            match time::recheck_late(self.def.window.as_ref(), &self.def.schedule, ctx.now, &zone) {
                LateCheck::Ok => {}
                LateCheck::Rolled { to } => {
                    return SendVerdict::Rolled {
                        to,
                        detail: format!(
                            "late send (due {}, processed {}) is outside the window: rolled to {} ({})",
                            fmt_instant(send.due),
                            fmt_instant(ctx.now),
                            fmt_instant(to),
                            zone_label(&zone)
                        ),
                    };
                }
                LateCheck::Drop(LateDrop::OutsideDuration) => {
                    return refused(
                        Outcome::OutsideDuration,
                        "late send: the campaign has ended",
                    );
                }
                LateCheck::Drop(LateDrop::DelayOutsideWindow) => {
                    return refused(
                        Outcome::DelayOutsideWindow,
                        format!(
                            "late send processed at {} is outside the window and next_available is false ({})",
                            fmt_instant(ctx.now),
                            zone_label(&zone)
                        ),
                    );
                }
            }
        }
        // 3. R-R3
        match (&self.def.reeligibility, ctx.last_receipt) {
            (None, Some(r)) => {
                return refused(
                    Outcome::NotReeligible,
                    format!(
                        "user received this campaign at {} and it has no re-eligibility",
                        fmt_instant(r)
                    ),
                );
            }
            (Some(re), Some(r)) if ctx.now < r + re.after.to_chrono() => {
                return refused(
                    Outcome::NotReeligibleYet,
                    format!(
                        "last receipt at {}; re-eligible at {}",
                        fmt_instant(r),
                        fmt_instant(r + re.after.to_chrono())
                    ),
                );
            }
            _ => {}
        }
        // 4. R-A3
        if self.def.audience.reevaluate_at_send
            && let Some(seg) = &self.segment
            && !seg.matches(ctx.profile, ctx.now)
        {
            return refused(
                Outcome::NotInSegmentAtSend,
                "user left the segment before the send",
            );
        }
        // 5. reachability
        if let Err((outcome, detail)) = reachability(self, ctx.profile) {
            return refused(outcome, detail);
        }
        // 6. R-A4
        if self.in_control_group(ctx.external_id) {
            return SendVerdict::ControlGroup;
        }
        // 7. R-F1 / R-F2
        if self.def.frequency_capping
            && let Some(rule) = ctx
                .caps
                .first_exceeded(self.channel(), ctx.history, ctx.now)
        {
            let scope = match rule.channel {
                crate::freqcap::CapScope::Any => "messages".to_string(),
                crate::freqcap::CapScope::Channel(c) => format!("{} messages", c.as_str()),
            };
            return refused(
                Outcome::FrequencyCapped,
                format!(
                    "frequency cap: at most {} {scope} per {}",
                    rule.max, rule.per
                ),
            );
        }
        // 8. render
        let render_ctx = RenderContext::new(
            ctx.attributes,
            ctx.custom_attributes,
            &send.trigger_properties,
            CampaignRef {
                id: &self.id,
                name: &self.def.name,
            },
            SendRef {
                id: &send.send_id,
                due: send.due,
            },
        );
        match self.template.render(&render_ctx) {
            Ok(content) => SendVerdict::Deliver { content },
            Err(RenderFailure::Aborted { reason }) => refused(
                Outcome::Aborted,
                reason.map_or_else(
                    || "abort_message".to_string(),
                    |r| format!("abort_message: {r}"),
                ),
            ),
            Err(RenderFailure::Error { message }) => refused(Outcome::RenderError, message),
        }
    }
}
