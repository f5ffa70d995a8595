//! Global frequency capping (R-F1, R-F2): at most `max` messages per channel
//! (or across channels) per rolling period, checked at send time after the
//! control group. A capped send is not a receipt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Span;
use crate::campaign::Channel;
use crate::validation::{Report, index, join};

/// Which messages a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapScope {
    /// Every channel together (`"any"`).
    Any,
    /// One channel.
    Channel(Channel),
}

impl Serialize for CapScope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CapScope::Any => s.serialize_str("any"),
            CapScope::Channel(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CapScope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "any" {
            return Ok(CapScope::Any);
        }
        serde_json::from_value::<Channel>(serde_json::Value::String(text.clone()))
            .map(CapScope::Channel)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "unknown channel {text:?}: expected any, email, sms, push, webhook, in_app or content_card"
                ))
            })
    }
}

/// One rule: at most `max` messages in scope per rolling `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapRule {
    /// The channel counted, or `any`.
    pub channel: CapScope,
    /// The most messages allowed in the period.
    pub max: u32,
    /// The rolling period.
    pub per: Span,
}

/// The global rule set (`PUT /frequency_caps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapRules {
    /// The rules; every one must hold.
    pub rules: Vec<CapRule>,
}

/// A message already sent to the user: its channel and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    /// The channel it went out on.
    pub channel: Channel,
    /// When it was sent.
    pub at: DateTime<Utc>,
}

impl CapRules {
    /// Checks the rules for errors (`per` of zero makes no sense).
    pub fn validate(&self, report: &mut Report) {
        for (i, r) in self.rules.iter().enumerate() {
            if r.per == Span::ZERO {
                report.error(
                    join(&index("rules", i), "per"),
                    "per must be longer than 0s",
                );
            }
        }
    }

    /// The longest period of any rule: how much history a user must keep.
    pub fn horizon(&self) -> Span {
        self.rules.iter().map(|r| r.per).max().unwrap_or(Span::ZERO)
    }

    /// R-F1: the first rule that a new `channel` message at `now` would
    /// break, given what was already sent. A message counts in the window
    /// `(now - per, now]`.
    pub fn first_exceeded(
        &self,
        channel: Channel,
        history: &[SentRecord],
        now: DateTime<Utc>,
    ) -> Option<&CapRule> {
        self.rules.iter().find(|rule| {
            let in_scope = match rule.channel {
                CapScope::Any => true,
                CapScope::Channel(c) => c == channel,
            };
            if !in_scope {
                return false;
            }
            let since = now - rule.per.to_chrono();
            let count = history
                .iter()
                .filter(|h| {
                    h.at > since
                        && h.at <= now
                        && match rule.channel {
                            CapScope::Any => true,
                            CapScope::Channel(c) => h.channel == c,
                        }
                })
                .count();
            count >= rule.max as usize
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
            .single()
            .expect("valid")
            + Duration::hours(h)
    }

    fn rules() -> CapRules {
        serde_json::from_value(json!({"rules":[{"channel":"email","max":2,"per":"24h"},
            {"channel":"any","max":3,"per":"7d"}]}))
        .expect("parses")
    }

    #[test]
    fn r_f1_two_emails_per_day() {
        let r = rules();
        let hist = vec![
            SentRecord {
                channel: Channel::Email,
                at: at(1),
            },
            SentRecord {
                channel: Channel::Email,
                at: at(2),
            },
        ];
        assert!(r.first_exceeded(Channel::Email, &hist, at(3)).is_some());
        // the first email leaves the 24 h window at exactly 25 h
        assert!(r.first_exceeded(Channel::Email, &hist, at(25)).is_none());
        assert!(r.first_exceeded(Channel::Email, &hist, at(24)).is_some());
        assert!(r.first_exceeded(Channel::Sms, &hist, at(3)).is_none());
    }

    #[test]
    fn r_f1_any_counts_across_channels() {
        let r = rules();
        let hist = vec![
            SentRecord {
                channel: Channel::Sms,
                at: at(1),
            },
            SentRecord {
                channel: Channel::Push,
                at: at(30),
            },
            SentRecord {
                channel: Channel::Webhook,
                at: at(60),
            },
        ];
        let hit = r
            .first_exceeded(Channel::Sms, &hist, at(61))
            .expect("capped");
        assert_eq!(hit.channel, CapScope::Any);
        assert!(
            r.first_exceeded(Channel::Sms, &hist, at(1 + 7 * 24))
                .is_none()
        );
    }

    #[test]
    fn r_f1_rules_parse_and_refuse_unknown_channels() {
        assert!(
            serde_json::from_value::<CapRules>(
                json!({"rules":[{"channel":"fax","max":1,"per":"1d"}]})
            )
            .is_err()
        );
        let mut rep = Report::default();
        let zero: CapRules =
            serde_json::from_value(json!({"rules":[{"channel":"any","max":1,"per":"0s"}]}))
                .expect("parses");
        zero.validate(&mut rep);
        assert_eq!(rep.errors[0].path, "rules[0].per");
        assert_eq!(rules().horizon(), Span::from_secs(7 * 86_400));
    }
}
