//! SDK endpoints' engine side (API.md "SDK"): sessions that deliver waiting
//! in-app messages (R-X2), interactions with in-app messages, pushes and
//! cards (R-P4), location logs and geofence transitions (R-P6), and the
//! content-card feed.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use triggerd_core::decide::fmt_instant;
use triggerd_core::event::{Interaction, Transition};
use triggerd_core::{Channel, Event, EventKind, Source};

use super::timers::Fired;
use super::user::UserTx;
use super::{Engine, EngineError};
use crate::store::keys;
use crate::store::records::{ContentCard, Geofence, InAppMessage, SendRecord};

/// Interactions the SDK may report.
pub const SDK_INTERACTIONS: [Interaction; 9] = [
    Interaction::IamView,
    Interaction::IamClick,
    Interaction::IamButtonClick,
    Interaction::PushOpen,
    Interaction::PushButtonClick,
    Interaction::PushStoryPageClick,
    Interaction::ContentCardView,
    Interaction::ContentCardClick,
    Interaction::ContentCardDismiss,
];

impl Engine {
    /// `POST /sdk/v1/sessions`: records `session_start` (source sdk), fires
    /// in-app sends that this session made due, and hands over every
    /// waiting in-app message.
    pub async fn session_start(
        &self,
        external_id: &str,
        time: DateTime<Utc>,
    ) -> Result<Value, EngineError> {
        let now = self.clock.now();
        let due_now: Vec<(String, DateTime<Utc>)> = {
            let _lock = self.lock_user(external_id).await;
            let mut tx = UserTx::load(self, external_id, now)?;
            tx.process_event(Event::new(EventKind::SessionStart, time, Source::Sdk))?;
            let due: Vec<_> = tx
                .planned()
                .iter()
                .filter(|(_, due, ch)| *ch == Channel::InApp && *due <= now)
                .map(|(id, due, _)| (id.clone(), *due))
                .collect();
            tx.commit().await?;
            due
        };
        self.commit_point().await?;
        // In-app messages this very session triggered are shown in it.
        for (send_id, due) in due_now {
            self.timers.cancel(std::slice::from_ref(&send_id)).await?;
            self.fire(
                Fired {
                    send_id,
                    due,
                    external_id: external_id.to_string(),
                },
                now,
            )
            .await?;
        }
        let prefix = keys::prefix(keys::kind::IN_APP, &[external_id]);
        let _lock = self.lock_user(external_id).await;
        let mut w = crate::store::WriteSet::new();
        let mut out = Vec::new();
        for item in self.store.scan::<InAppMessage>(&prefix) {
            let (k, m) = item?;
            w.remove(k.to_vec());
            out.push(
                json!({"send_id": m.send_id, "campaign_id": m.campaign_id, "content": m.content}),
            );
        }
        self.store.apply(w)?;
        drop(_lock);
        self.commit_point().await?;
        Ok(json!({"in_app_messages": out, "message": "success"}))
    }

    /// `POST /sdk/v1/interactions`.
    pub async fn interaction(
        &self,
        external_id: &str,
        send_id: &str,
        interaction: Interaction,
        button_id: Option<String>,
    ) -> Result<(), EngineError> {
        if !SDK_INTERACTIONS.contains(&interaction) {
            return Err(EngineError::Invalid(
                format!("{interaction:?} is not an SDK interaction").to_lowercase(),
            ));
        }
        let send: SendRecord = self
            .store
            .get(&keys::send(send_id))?
            .filter(|s: &SendRecord| s.external_id == external_id)
            .ok_or_else(|| {
                EngineError::NotFound(format!("send {send_id} of user {external_id}"))
            })?;
        let now = self.clock.now();
        {
            let _lock = self.lock_user(external_id).await;
            let mut tx = UserTx::load(self, external_id, now)?;
            if matches!(
                interaction,
                Interaction::ContentCardView | Interaction::ContentCardDismiss
            ) {
                let key = keys::key(keys::kind::CARD, &[external_id, send_id]);
                if let Some(mut card) = self.store.get::<ContentCard>(&key)? {
                    card.viewed |= interaction == Interaction::ContentCardView;
                    card.dismissed |= interaction == Interaction::ContentCardDismiss;
                    tx.extra_writes().put(key, &card);
                }
            }
            tx.process_event(Event::new(
                EventKind::CampaignInteraction {
                    campaign_id: send.campaign_id.clone(),
                    interaction,
                    button_id,
                    alias: None,
                },
                now,
                Source::Sdk,
            ))?;
            tx.commit().await?;
        }
        self.commit_point().await
    }

    /// `POST /sdk/v1/location`: a `location` event, plus `geofence`
    /// enter/exit events for every configured fence whose side changed.
    pub async fn location(
        &self,
        external_id: &str,
        lat: f64,
        lon: f64,
        time: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let fences: Vec<(String, Geofence)> = self
            .store
            .scan::<Geofence>(&[keys::kind::GEOFENCE])
            .map(|r| r.map(|(k, g)| (String::from_utf8_lossy(&k[1..]).into_owned(), g)))
            .collect::<Result<_, _>>()?;
        {
            let _lock = self.lock_user(external_id).await;
            let mut tx = UserTx::load(self, external_id, self.clock.now())?;
            tx.touch_profile();
            tx.process_event(
                Event::new(EventKind::Location, time, Source::Sdk)
                    .with_properties(json!({"lat": lat, "lon": lon})),
            )?;
            for (id, fence) in fences {
                let inside = fence.contains(lat, lon);
                let was = tx.profile.inside_geofences.contains(&id);
                let transition = match (was, inside) {
                    (false, true) => Transition::Enter,
                    (true, false) => Transition::Exit,
                    _ => continue,
                };
                if inside {
                    tx.profile.inside_geofences.push(id.clone());
                } else {
                    tx.profile.inside_geofences.retain(|g| g != &id);
                }
                tx.process_event(Event::new(
                    EventKind::Geofence {
                        geofence_id: id,
                        transition,
                    },
                    time,
                    Source::Sdk,
                ))?;
            }
            tx.commit().await?;
        }
        self.commit_point().await
    }

    /// `PUT /geofences/{id}`.
    pub async fn put_geofence(&self, id: &str, fence: Geofence) -> Result<(), EngineError> {
        if !keys::valid_id(id) {
            return Err(EngineError::Invalid("invalid geofence id".into()));
        }
        if !(-90.0..=90.0).contains(&fence.lat)
            || !(-180.0..=180.0).contains(&fence.lon)
            || fence.radius_m.is_nan()
            || fence.radius_m <= 0.0
        {
            return Err(EngineError::Invalid(
                "lat must be in [-90, 90], lon in [-180, 180] and radius_m > 0".into(),
            ));
        }
        let mut w = crate::store::WriteSet::new();
        w.put(keys::key(keys::kind::GEOFENCE, &[id]), &fence);
        self.store.apply(w)?;
        self.flush_now().await
    }

    /// `GET /sdk/v1/content_cards`.
    pub fn content_cards(&self, external_id: &str) -> Result<Value, EngineError> {
        let prefix = keys::prefix(keys::kind::CARD, &[external_id]);
        let cards: Vec<Value> = self
            .store
            .scan::<ContentCard>(&prefix)
            .map(|r| {
                r.map(|(_, c)| {
                    json!({"send_id": c.send_id, "campaign_id": c.campaign_id, "content": c.content,
                           "created_at": fmt_instant(c.created_at), "viewed": c.viewed, "dismissed": c.dismissed})
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(json!({"cards": cards, "message": "success"}))
    }
}
