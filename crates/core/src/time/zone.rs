//! Which time zone is "local" for a user (SPEC.md, "local time").
//!
//! Local time is the user's `time_zone` attribute when the campaign's
//! `schedule.local_time` is true (falling back to the campaign's `time_zone`
//! when the user has none), else the campaign's `time_zone`. Intelligent
//! timing (R-D3) always uses the user's zone, with the same fallback. A user
//! zone that is not an IANA name also falls back, and says so, so that the
//! explain timeline (R-Y1) can tell which zone was used and why.

use std::fmt;

use chrono_tz::Tz;

use super::{Delay, Error};

/// Parses an IANA zone name (`"Europe/Paris"`, `"UTC"`), surrounding spaces
/// ignored.
pub fn parse_zone(name: &str) -> super::Result<Tz> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| Error::Zone(name.to_string()))
}

/// Where the zone in a [`ZoneChoice`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSource {
    /// The user's `time_zone` attribute.
    User,
    /// The campaign's zone, because the campaign does not read user zones.
    Campaign,
    /// The campaign's zone, because the user has no `time_zone`.
    CampaignFallback,
    /// The campaign's zone, because the user's `time_zone` is not a known zone.
    UnknownUserZone {
        /// The user's value that was not understood.
        name: String,
    },
}

/// A resolved zone and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneChoice {
    /// The zone to read local times in.
    pub tz: Tz,
    /// Why this zone.
    pub source: ZoneSource,
}

impl ZoneChoice {
    /// The campaign's zone, user zones not consulted.
    pub fn campaign(tz: Tz) -> ZoneChoice {
        ZoneChoice {
            tz,
            source: ZoneSource::Campaign,
        }
    }

    /// The IANA name of the zone, e.g. `Europe/Paris`.
    pub fn name(&self) -> &'static str {
        self.tz.name()
    }
}

impl fmt::Display for ZoneChoice {
    /// One phrase for explain: `user's zone Europe/Paris`,
    /// `campaign zone UTC (user has no time_zone)`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.tz.name();
        match &self.source {
            ZoneSource::User => write!(f, "user's zone {name}"),
            ZoneSource::Campaign => write!(f, "campaign zone {name}"),
            ZoneSource::CampaignFallback => {
                write!(f, "campaign zone {name} (user has no time_zone)")
            }
            ZoneSource::UnknownUserZone { name: bad } => {
                write!(
                    f,
                    "campaign zone {name} (user's time_zone {bad:?} is unknown)"
                )
            }
        }
    }
}

/// Chooses the zone: the user's when `use_user_zone` and the user has a known
/// one, else the campaign's (with the reason). An empty user value counts as
/// none.
pub fn resolve_zone(user_zone: Option<&str>, campaign_zone: Tz, use_user_zone: bool) -> ZoneChoice {
    if !use_user_zone {
        return ZoneChoice::campaign(campaign_zone);
    }
    match user_zone.map(str::trim).filter(|name| !name.is_empty()) {
        None => ZoneChoice {
            tz: campaign_zone,
            source: ZoneSource::CampaignFallback,
        },
        Some(name) => match parse_zone(name) {
            Ok(tz) => ZoneChoice {
                tz,
                source: ZoneSource::User,
            },
            Err(_) => ZoneChoice {
                tz: campaign_zone,
                source: ZoneSource::UnknownUserZone {
                    name: name.to_string(),
                },
            },
        },
    }
}

/// The two zones a decision needs: `local` for delays, windows and schedule
/// bounds, `intelligent` for R-D3 (always the user's zone when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    /// Local time of the campaign for this user (depends on `schedule.local_time`).
    pub local: ZoneChoice,
    /// The user's zone with campaign fallback, for intelligent timing.
    pub intelligent: ZoneChoice,
}

impl Zones {
    /// Resolves both zones for a user of a campaign with `schedule.local_time`
    /// = `local_time`.
    pub fn resolve(user_zone: Option<&str>, campaign_zone: Tz, local_time: bool) -> Zones {
        Zones {
            local: resolve_zone(user_zone, campaign_zone, local_time),
            intelligent: resolve_zone(user_zone, campaign_zone, true),
        }
    }

    /// The same zone for everything (tests, previews without a user).
    pub fn single(choice: ZoneChoice) -> Zones {
        Zones {
            local: choice.clone(),
            intelligent: choice,
        }
    }

    /// The zone the due instant of `delay` is computed in: `intelligent` for
    /// intelligent timing, `local` for every other kind.
    pub fn for_delay(&self, delay: &Delay) -> &ZoneChoice {
        match delay {
            Delay::Intelligent { .. } => &self.intelligent,
            _ => &self.local,
        }
    }
}

/// Serde for a `chrono_tz::Tz` as its IANA name, for definitions'
/// `time_zone` fields: `#[serde(with = "triggerd_core::time::zone::tz_serde")]`.
pub mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the IANA name.
    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    /// Reads an IANA name; unknown names are an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_zone(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_uses_users_zone_when_known() {
        let z = resolve_zone(Some("Europe/Paris"), Tz::UTC, true);
        assert_eq!(z.tz, Tz::Europe__Paris);
        assert_eq!(z.source, ZoneSource::User);
        assert_eq!(z.to_string(), "user's zone Europe/Paris");
    }

    #[test]
    fn local_time_falls_back_to_campaign_zone_when_user_has_none() {
        for none in [None, Some(""), Some("  ")] {
            let z = resolve_zone(none, Tz::America__New_York, true);
            assert_eq!(z.tz, Tz::America__New_York);
            assert_eq!(z.source, ZoneSource::CampaignFallback);
        }
        let z = resolve_zone(None, Tz::UTC, true);
        assert_eq!(z.to_string(), "campaign zone UTC (user has no time_zone)");
    }

    #[test]
    fn local_time_unknown_user_zone_falls_back_and_says_so() {
        let z = resolve_zone(Some("Mars/Olympus"), Tz::UTC, true);
        assert_eq!(z.tz, Tz::UTC);
        assert_eq!(
            z.source,
            ZoneSource::UnknownUserZone {
                name: "Mars/Olympus".into()
            }
        );
        assert!(z.to_string().contains("\"Mars/Olympus\" is unknown"));
    }

    #[test]
    fn without_local_time_campaign_zone_is_used_whatever_the_user_has() {
        let z = resolve_zone(Some("Europe/Paris"), Tz::Asia__Kolkata, false);
        assert_eq!(z, ZoneChoice::campaign(Tz::Asia__Kolkata));
        assert_eq!(z.to_string(), "campaign zone Asia/Kolkata");
    }

    #[test]
    fn r_d3_intelligent_timing_always_uses_users_zone() {
        let zones = Zones::resolve(Some("Europe/Paris"), Tz::UTC, false);
        assert_eq!(zones.local.tz, Tz::UTC);
        assert_eq!(zones.intelligent.tz, Tz::Europe__Paris);
        let intelligent: Delay =
            serde_json::from_str(r#"{"type":"intelligent","fallback_at":"10:00"}"#).expect("valid");
        assert_eq!(zones.for_delay(&intelligent).tz, Tz::Europe__Paris);
        assert_eq!(zones.for_delay(&Delay::Immediate {}).tz, Tz::UTC);
    }

    #[test]
    fn tz_serde_round_trip_and_refusal() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct C {
            #[serde(with = "tz_serde")]
            time_zone: Tz,
        }
        let c: C = serde_json::from_str(r#"{"time_zone":"Pacific/Chatham"}"#).expect("valid");
        assert_eq!(c.time_zone, Tz::Pacific__Chatham);
        assert_eq!(
            serde_json::to_string(&c).expect("serializes"),
            r#"{"time_zone":"Pacific/Chatham"}"#
        );
        assert!(serde_json::from_str::<C>(r#"{"time_zone":"Nowhere"}"#).is_err());
    }
}
