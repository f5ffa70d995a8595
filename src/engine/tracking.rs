//! Produced events from tracking and providers (R-P2, R-P3): email opens
//! through the pixel, clicks through the redirect, SMS short-link clicks,
//! and inbound SMS/WhatsApp with STOP/START handling (R-X4).

use serde_json::json;
use triggerd_core::event::{GroupState, Interaction};
use triggerd_core::{Event, EventKind, Source};

use super::user::UserTx;
use super::{Engine, EngineError};
use crate::store::keys;
use crate::store::records::{SendRecord, ShortLink};

/// User agents of mail privacy proxies that fetch images without a person
/// opening the message (R-P2 `email_open_machine`).
const MACHINE_OPENERS: [&str; 5] = [
    "GoogleImageProxy",
    "YahooMailProxy",
    "Apple-Mail-Privacy",
    "ggpht.com",
    "Outlook-iOS-Android/1.0 (ImageProxy)",
];

/// Inbound keywords that unsubscribe from every SMS group (R-X4).
pub const STOP_WORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Inbound keywords that subscribe again (R-X4).
pub const START_WORDS: [&str; 3] = ["START", "YES", "UNSTOP"];

impl Engine {
    async fn produce_for_send(
        &self,
        send_id: &str,
        kinds: Vec<EventKind>,
    ) -> Result<Option<SendRecord>, EngineError> {
        let Some(send) = self.store.get::<SendRecord>(&keys::send(send_id))? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let _lock = self.lock_user(&send.external_id).await;
        let mut tx = UserTx::load(self, &send.external_id, now)?;
        if !tx.profile_existed() {
            return Ok(None);
        }
        for kind in kinds {
            tx.process_event(Event::new(kind, now, Source::Service))?;
        }
        tx.commit().await?;
        Ok(Some(send))
    }

    fn interaction_event(
        campaign_id: &str,
        interaction: Interaction,
        alias: Option<String>,
    ) -> EventKind {
        EventKind::CampaignInteraction {
            campaign_id: campaign_id.to_string(),
            interaction,
            button_id: None,
            alias,
        }
    }

    /// An open pixel fetch (R-P2): `email_open` plus `email_open_machine`
    /// for privacy proxies, else `email_open_other`.
    pub async fn track_open(&self, send_id: &str, user_agent: &str) -> Result<(), EngineError> {
        let Some(send) = self.store.get::<SendRecord>(&keys::send(send_id))? else {
            return Ok(());
        };
        let machine = MACHINE_OPENERS.iter().any(|m| user_agent.contains(m));
        let second = if machine {
            Interaction::EmailOpenMachine
        } else {
            Interaction::EmailOpenOther
        };
        self.produce_for_send(
            send_id,
            vec![
                Self::interaction_event(&send.campaign_id, Interaction::EmailOpen, None),
                Self::interaction_event(&send.campaign_id, second, None),
            ],
        )
        .await?;
        self.commit_point().await
    }

    /// A tracked click (R-P2): `email_click`, and `email_click_alias` when
    /// the link has an alias.
    pub async fn track_click(
        &self,
        send_id: &str,
        alias: Option<String>,
    ) -> Result<(), EngineError> {
        let Some(send) = self.store.get::<SendRecord>(&keys::send(send_id))? else {
            return Ok(());
        };
        let mut kinds = vec![Self::interaction_event(
            &send.campaign_id,
            Interaction::EmailClick,
            None,
        )];
        if let Some(a) = alias.filter(|a| !a.is_empty()) {
            kinds.push(Self::interaction_event(
                &send.campaign_id,
                Interaction::EmailClickAlias,
                Some(a),
            ));
        }
        self.produce_for_send(send_id, kinds).await?;
        self.commit_point().await
    }

    /// Stores a short link (R-P3).
    pub fn put_short_link(&self, code: &str, link: &ShortLink) -> Result<(), EngineError> {
        let mut w = crate::store::WriteSet::new();
        w.put(keys::key(keys::kind::SHORT_LINK, &[code]), link);
        self.store.apply(w)?;
        Ok(())
    }

    /// Follows a short link: records `sms_short_link_click` and returns the target.
    pub async fn follow_short_link(&self, code: &str) -> Result<Option<String>, EngineError> {
        let Some(link) = self
            .store
            .get::<ShortLink>(&keys::key(keys::kind::SHORT_LINK, &[code]))?
        else {
            return Ok(None);
        };
        if let Some(send) = self.store.get::<SendRecord>(&keys::send(&link.send_id))? {
            self.produce_for_send(
                &link.send_id,
                vec![Self::interaction_event(
                    &send.campaign_id,
                    Interaction::SmsShortLinkClick,
                    None,
                )],
            )
            .await?;
            self.commit_point().await?;
        }
        Ok(Some(link.url))
    }

    /// An inbound SMS or WhatsApp message from `from` (R-P3, R-X4). Returns
    /// how many profiles have that phone.
    pub async fn inbound_message(&self, from: &str, body: &str) -> Result<usize, EngineError> {
        let whatsapp = from.starts_with("whatsapp:");
        let users = self.users_by_contact(keys::kind::BY_PHONE, from)?;
        let word = body
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let now = self.clock.now();
        for id in &users {
            let _lock = self.lock_user(id).await;
            let mut tx = UserTx::load(self, id, now)?;
            tx.touch_profile();
            let mut derived = Vec::new();
            if !whatsapp && STOP_WORDS.contains(&word.as_str()) {
                let groups = tx.profile.subscribed_groups();
                for g in &groups {
                    derived.extend(tx.profile.set_group(g, GroupState::Unsubscribed));
                }
                tx.profile.sms_stopped_groups = groups;
            } else if !whatsapp && START_WORDS.contains(&word.as_str()) {
                for g in std::mem::take(&mut tx.profile.sms_stopped_groups) {
                    derived.extend(tx.profile.set_group(&g, GroupState::Subscribed));
                }
            }
            for kind in derived {
                tx.process_event(Event::new(kind, now, Source::Service))?;
            }
            let kind = if whatsapp {
                EventKind::InboundWhatsapp {
                    body: body.to_string(),
                }
            } else {
                EventKind::InboundSms {
                    body: body.to_string(),
                }
            };
            tx.process_event(
                Event::new(kind, now, Source::Service)
                    .with_properties(json!({"from": from, "body": body})),
            )?;
            tx.commit().await?;
        }
        self.commit_point().await?;
        Ok(users.len())
    }
}

impl Engine {
    /// One-click unsubscribe (`List-Unsubscribe`): `email_subscribe` becomes
    /// `unsubscribed` (a `subscription_state_changed` event).
    pub async fn unsubscribe_email(&self, external_id: &str) -> Result<(), EngineError> {
        let mut attrs = serde_json::Map::new();
        attrs.insert(
            "email_subscribe".into(),
            serde_json::Value::String("unsubscribed".into()),
        );
        let work = super::ingest::UserWork {
            attributes: vec![attrs],
            events: Vec::new(),
        };
        self.apply_user_work(external_id, work, self.clock.now(), Source::Service)
            .await?;
        self.commit_point().await
    }
}
