//! Firing pending sends (SPEC §7, R-X1–R-X3, R-K2–R-K3): a due timer runs the
//! send-time checks in the user's unit, in-app and content-card sends land
//! in their stores, other channels are marked `dispatching`, dispatched
//! outside the lock, and their result recorded in a second unit: `sent`, a
//! retry timer on the same clock, or `delivery_failed`.
//!
//! Two drivers: [`Engine::run_timer_loop`] on the system clock, and
//! [`Engine::advance_to`] for the manual test clock, which processes each
//! send at its own due instant, in order.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use triggerd_core::decide::fmt_instant;
use triggerd_core::{Channel, Outcome};
use triggerd_gateway::RetryDecision;

use super::timers::Fired;
use super::user::{ReadyToDispatch, UserTx};
use super::{Engine, EngineError};
use crate::store::keys;
use crate::store::records::{ContentCard, InAppMessage, SendState};

/// How many sends dispatch at once on the system clock.
const FIRE_CONCURRENCY: usize = 256;

/// Most in-app messages waiting, and most content cards, one user keeps:
/// past it dismissed cards go first, then the items delivered longest ago.
/// Without a bound, a campaign re-eligible at once and fed by SDK events
/// grew one user's feed to 2,000 cards, an 80 MB answer.
pub const FEED_KEPT: usize = 100;

impl Engine {
    /// Removes (in `w`) a user's items of `kind` (in-app queue or card
    /// feed) so that one more leaves at most [`FEED_KEPT`]: dismissed cards
    /// first, then by delivery instant (not by key: a send id tells when the
    /// send was planned, and a card planned a day ago can land after a
    /// hundred planned since). The caller holds the user's lock.
    fn make_room(
        &self,
        kind: u8,
        external_id: &str,
        w: &mut crate::store::WriteSet,
    ) -> Result<(), EngineError> {
        let prefix = keys::prefix(kind, &[external_id]);
        // (kept before others, delivered at, key), in the order items go.
        let mut items: Vec<(bool, DateTime<Utc>, Vec<u8>)> = Vec::new();
        if kind == keys::kind::CARD {
            for item in self.store.scan::<ContentCard>(&prefix) {
                let (key, card) = item?;
                items.push((!card.dismissed, card.created_at, key.to_vec()));
            }
        } else {
            for item in self.store.scan::<InAppMessage>(&prefix) {
                let (key, message) = item?;
                items.push((true, message.queued_at, key.to_vec()));
            }
        }
        let excess = (items.len() + 1).saturating_sub(FEED_KEPT);
        if excess > 0 {
            items.sort();
            for (_, _, key) in items.into_iter().take(excess) {
                w.remove(key);
            }
        }
        Ok(())
    }

    /// Processes one fired timer at `now`.
    pub async fn fire(&self, fired: Fired, now: DateTime<Utc>) -> Result<(), EngineError> {
        let lateness = (now - fired.due).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("triggerd_fire_lateness_seconds").record(lateness);
        let ready = self.fire_checks(&fired, now).await?;
        if let Some(ready) = ready {
            self.dispatch(ready, now).await?;
        }
        Ok(())
    }

    /// The first unit: send-time checks, and local deliveries.
    async fn fire_checks(
        &self,
        fired: &Fired,
        now: DateTime<Utc>,
    ) -> Result<Option<(ReadyToDispatch, triggerd_gateway::Message)>, EngineError> {
        let _lock = self.lock_user(&fired.external_id).await;
        let mut tx = UserTx::load(self, &fired.external_id, now)?;
        let Some(send) = tx.send(&fired.send_id)? else {
            // A timer whose records never committed (a crash before the
            // request was acknowledged): drop it.
            tracing::warn!(send_id = %fired.send_id, "orphan timer without a send record dropped");
            self.timers
                .cancel(std::slice::from_ref(&fired.send_id))
                .await?;
            return Ok(None);
        };
        if matches!(send.state, SendState::Done { .. }) {
            self.timers
                .cancel(std::slice::from_ref(&fired.send_id))
                .await?;
            return Ok(None);
        }
        let span = tracing::info_span!("fire", campaign = %send.campaign_id, user = %send.external_id, send_id = %send.send_id);
        let _g = span.enter();
        if let Some(at) = tx.planned_fire(&send)?
            && at > now
        {
            // The records moved this send later, and a crash came before
            // its timer moved (records are written first): move it now,
            // send nothing early.
            tracing::info!(due = %at, "timer fired before its send's planned instant; moved");
            tx.realign_timer(&send.send_id, at);
            tx.commit().await?;
            return Ok(None);
        }
        let entry = self.registry.get(&send.campaign_id);
        let Some(ready) = tx.check_fired(send, entry)? else {
            tx.commit().await?;
            return Ok(None);
        };
        let channel = ready.entry.campaign.channel();
        match channel {
            Channel::InApp => {
                let msg = InAppMessage {
                    send_id: ready.send.send_id.clone(),
                    campaign_id: ready.send.campaign_id.clone(),
                    content: ready.content.clone(),
                    queued_at: now,
                };
                self.make_room(keys::kind::IN_APP, &fired.external_id, tx.extra_writes())?;
                tx.extra_writes().put(
                    keys::key(keys::kind::IN_APP, &[&fired.external_id, &msg.send_id]),
                    &msg,
                );
                tx.record_sent(ready.send, channel, "in_app", "", ready.content)?;
                tx.commit().await?;
                Ok(None)
            }
            Channel::ContentCard => {
                let card = ContentCard {
                    send_id: ready.send.send_id.clone(),
                    campaign_id: ready.send.campaign_id.clone(),
                    content: ready.content.clone(),
                    created_at: now,
                    viewed: false,
                    dismissed: false,
                };
                self.make_room(keys::kind::CARD, &fired.external_id, tx.extra_writes())?;
                tx.extra_writes().put(
                    keys::key(keys::kind::CARD, &[&fired.external_id, &card.send_id]),
                    &card,
                );
                tx.record_sent(ready.send, channel, "content_card", "", ready.content)?;
                tx.commit().await?;
                Ok(None)
            }
            _ => match self
                .gateway
                .build_message(channel, &ready.content, &tx.profile)
            {
                Ok(message) => {
                    tx.put_send(ready.send.clone());
                    tx.commit().await?;
                    Ok(Some((ready, message)))
                }
                Err(why) => {
                    tx.end_send(ready.send, Outcome::DeliveryFailed, why, None)?;
                    tx.commit().await?;
                    Ok(None)
                }
            },
        }
    }

    /// Dispatches outside the user's lock, then records the result.
    async fn dispatch(
        &self,
        (ready, message): (ReadyToDispatch, triggerd_gateway::Message),
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let channel = ready.entry.campaign.channel();
        let send = ready.send;
        let meta = triggerd_gateway::DispatchMeta {
            send_id: send.send_id.clone(),
            campaign_id: send.campaign_id.clone(),
            external_id: send.external_id.clone(),
            due: send.due,
            attempt: send.attempts,
        };
        let push_token = match &message {
            triggerd_gateway::Message::Push(p) => Some(p.token.clone()),
            _ => None,
        };
        let started = std::time::Instant::now();
        let result = self.gateway.deliver(message, &meta).await;
        metrics::histogram!("triggerd_dispatch_seconds", "channel" => channel.as_str())
            .record(started.elapsed().as_secs_f64());
        // With the test clock, the send is processed at its due instant.
        let now = if self.clock.manual().is_some() {
            now
        } else {
            self.clock.now()
        };
        let _lock = self.lock_user(&send.external_id).await;
        let mut tx = UserTx::load(self, &send.external_id, now)?;
        let Some(current) = tx.send(&send.send_id)? else {
            return Ok(());
        };
        if current.state
            != (SendState::Dispatching {
                attempt: send.attempts,
            })
        {
            // Another unit finished it meanwhile (user deleted, campaign stopped).
            return Ok(());
        }
        match result {
            Ok(delivered) => {
                let content = serde_json::to_value(&delivered.message).unwrap_or(ready.content);
                tx.record_sent(
                    current,
                    channel,
                    delivered.via.as_str(),
                    &delivered.provider_message_id,
                    content,
                )?;
            }
            Err(err) => {
                if let (true, Some(token)) = (err.unregistered_token(), &push_token) {
                    tx.profile.drop_push_token(token);
                    tx.touch_profile();
                }
                let first = current.first_attempt_at.unwrap_or(now);
                match self
                    .gateway
                    .decide_retry(channel, current.attempts, &err, first, now)
                {
                    RetryDecision::RetryAt(at) => {
                        let why = format!(
                            "attempt {} failed: {err}; next attempt at {}",
                            current.attempts,
                            fmt_instant(at)
                        );
                        tx.plan_retry(current, at, why)?;
                    }
                    RetryDecision::GiveUp(reason) => {
                        let why = format!(
                            "attempt {} failed: {err} (gave up: {reason:?})",
                            current.attempts
                        );
                        tx.end_send(current, Outcome::DeliveryFailed, why, None)?;
                    }
                }
            }
        }
        tx.commit().await
    }

    /// R-X1 with the test clock: processes every timer due up to `target`,
    /// each at its own due instant and in order (late ones at the current
    /// time), then sets the clock to `target`. Returns how many fired.
    pub async fn advance_to(&self, target: DateTime<Utc>) -> Result<u64, EngineError> {
        let Some(manual) = self.clock.manual().cloned() else {
            return Err(EngineError::NotFound("test clock".into()));
        };
        let _g = manual.advance_lock.lock().await;
        if target < manual.now() {
            return Err(EngineError::Invalid(format!(
                "the test clock cannot go backwards (now {}, asked {})",
                fmt_instant(manual.now()),
                fmt_instant(target)
            )));
        }
        let mut fired = 0u64;
        loop {
            let mut batch = self.timers.pop_due(target, 1)?;
            let Some(f) = batch.pop() else { break };
            let at = f.due.max(manual.now());
            manual.set(at);
            self.fire(f, at).await?;
            fired += 1;
        }
        manual.set(target);
        self.persist_clock(target)?;
        self.flush_now().await?;
        Ok(fired)
    }

    /// Stores the test clock's time so a restart resumes from it.
    pub fn persist_clock(&self, t: DateTime<Utc>) -> Result<(), EngineError> {
        let mut w = crate::store::WriteSet::new();
        w.put(keys::key(keys::kind::META, &["clock"]), &t);
        self.store.apply(w)?;
        Ok(())
    }

    /// The test clock's stored time, if any.
    pub fn stored_clock(&self) -> Result<Option<DateTime<Utc>>, EngineError> {
        Ok(self.store.get(&keys::key(keys::kind::META, &["clock"]))?)
    }

    /// Fires timers as they come due on the system clock, until `stop` flips.
    pub async fn run_timer_loop(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(FIRE_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let now = self.clock.now();
            let batch = match self.timers.pop_due(now, 512) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "timer store failed; retrying in 1 s");
                    tokio::time::sleep(StdDuration::from_secs(1)).await;
                    continue;
                }
            };
            if batch.is_empty() {
                let wait = self
                    .timers
                    .next_due()
                    .map(|d| (d - now).to_std().unwrap_or_default())
                    .unwrap_or(StdDuration::from_secs(1))
                    .min(StdDuration::from_secs(1));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.timers.earlier_scheduled() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            for f in batch {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let engine = self.clone();
                tasks.spawn(async move {
                    let now = engine.clock.now();
                    let id = f.send_id.clone();
                    if let Err(e) = engine.fire(f, now).await {
                        tracing::error!(send_id = %id, error = %e, "firing a send failed; it fires again after a restart");
                    }
                    drop(permit);
                });
            }
        }
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use crate::engine::ingest::parse_track;
    use crate::engine::test_support::{engine, start};
    use crate::store::records::PairRecord;
    use crate::store::{WriteSet, keys};
    use triggerd_core::Source;

    #[tokio::test]
    async fn a_users_card_feed_and_in_app_queue_keep_the_newest_items() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path(), start()).await;
        for (id, channel, message) in [
            ("cards", "content_card", json!({"title": "t", "body": "b"})),
            ("inapp", "in_app", json!({"body": "b"})),
        ] {
            let def = json!({"name": id, "channel": channel, "message": message,
                "triggers": [{"type": "custom_event", "name": "e"}],
                "reeligibility": {"after": "0s"},
                "schedule": {"start": "2020-01-01T00:00:00Z"}});
            engine.put_campaign(id, &def).expect("stored");
            engine.launch_campaign(id).await.expect("launched");
        }
        // One SDK event at `at` (in-app campaigns take SDK events only,
        // R-T6), fired half a second later: one card, one in-app message.
        let trigger_and_fire = |at: chrono::DateTime<chrono::Utc>| {
            let engine = engine.clone();
            async move {
                engine.advance_to(at).await.expect("moves");
                let body = json!({"events": [{"external_id": "u1", "name": "e"}]});
                let batch = parse_track(&body, at, Source::Sdk).expect("valid");
                engine
                    .ingest(batch, at, Source::Sdk)
                    .await
                    .expect("ingests");
                let fired = engine
                    .advance_to(at + Duration::milliseconds(500))
                    .await
                    .expect("fires");
                assert_eq!(fired, 2, "one card and one in-app message");
            }
        };
        let total = super::FEED_KEPT + 5;
        for i in 0..total {
            trigger_and_fire(start() + Duration::seconds(i as i64)).await;
        }
        let feed = engine.content_cards("u1").expect("feed");
        let cards = feed["cards"].as_array().expect("cards");
        assert_eq!(cards.len(), super::FEED_KEPT);
        assert_eq!(
            cards[0]["created_at"],
            triggerd_core::decide::fmt_instant(start() + Duration::seconds(5)),
            "the five oldest went"
        );
        let queued = engine
            .store
            .scan_keys(&keys::prefix(keys::kind::IN_APP, &["u1"]))
            .count();
        assert_eq!(queued, super::FEED_KEPT);
        // A dismissed card goes before older ones that were not dismissed.
        let newest = cards[super::FEED_KEPT - 1]["send_id"]
            .as_str()
            .expect("send id")
            .to_string();
        let key = keys::key(keys::kind::CARD, &["u1", &newest]);
        let mut card: crate::store::records::ContentCard =
            engine.store.get(&key).expect("reads").expect("card");
        card.dismissed = true;
        let mut w = WriteSet::new();
        w.put(key.clone(), &card);
        engine.store.apply(w).expect("writes");
        trigger_and_fire(start() + Duration::seconds(total as i64)).await;
        assert!(
            engine
                .store
                .get::<crate::store::records::ContentCard>(&key)
                .expect("reads")
                .is_none()
        );
        let feed = engine.content_cards("u1").expect("feed");
        assert_eq!(
            feed["cards"].as_array().map(Vec::len),
            Some(super::FEED_KEPT)
        );
        assert_eq!(
            feed["cards"][0]["created_at"],
            triggerd_core::decide::fmt_instant(start() + Duration::seconds(5)),
            "the oldest not dismissed stays"
        );
    }

    /// R-K2/R-K3: a move of a send (a window roll, a retry) writes its
    /// records before its timer; a crash in between leaves the timer due
    /// before the instant the records say. Found by the short drill with
    /// the opposite order: a roll's timer reached the next day while its
    /// records, lost in the crash, still said the retry instant, so the
    /// send looked pending at a past instant and nothing fired then.
    #[tokio::test]
    async fn r_k2_a_timer_due_before_its_moved_send_moves_on_and_sends_nothing_early() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path(), start()).await;
        let def = json!({"name": "c", "channel": "content_card",
            "message": {"title": "t", "body": "b"},
            "triggers": [{"type": "custom_event", "name": "e"}],
            "delay": {"type": "after", "duration": "1h"},
            "schedule": {"start": "2020-01-01T00:00:00Z"}});
        engine.put_campaign("c", &def).expect("stored");
        engine.launch_campaign("c").await.expect("launched");
        let body = json!({"events": [{"external_id": "u1", "name": "e"}]});
        let batch = parse_track(&body, start(), Source::Rest).expect("valid");
        engine
            .ingest(batch, start(), Source::Rest)
            .await
            .expect("ingests");
        // The state such a crash leaves: the records moved to +2 h, the
        // timer still at +1 h.
        let later = start() + Duration::hours(2);
        let key = keys::pair("c", "u1");
        let mut pair: PairRecord = engine.store.get(&key).expect("reads").expect("pair");
        assert_eq!(pair.state.pending.len(), 1);
        pair.state.pending[0].due = later;
        let mut w = WriteSet::default();
        w.put(key, &pair);
        engine.store.apply(w).expect("writes");

        engine
            .advance_to(start() + Duration::hours(1))
            .await
            .expect("advances");
        let e = engine.explain("c", "u1").expect("explains");
        assert_eq!(e["verdict"], "pending", "{e}");
        assert_eq!(e["pending"][0]["due"], "2026-01-05T12:00:00Z", "{e}");
        let outcomes = |e: &serde_json::Value| -> Vec<String> {
            e["timeline"]
                .as_array()
                .expect("timeline")
                .iter()
                .map(|t| t["outcome"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        assert!(
            !outcomes(&e).contains(&"sent".to_string()),
            "nothing early: {e}"
        );

        engine.advance_to(later).await.expect("advances");
        let e = engine.explain("c", "u1").expect("explains");
        assert_eq!(
            outcomes(&e).iter().filter(|o| *o == "sent").count(),
            1,
            "sent once, at the records' instant: {e}"
        );
    }
}
