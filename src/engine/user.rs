//! One user's unit of work: load the profile and the pair states it
//! touches, apply attribute updates and events through the rules, end or
//! plan sends, journal every decision, then stage everything for one
//! commit (see [`super::commit`]: timers first, records in one atomic batch,
//! timer cancellations last), alone or with the other users of a request.
//!
//! The caller holds the user's stripe lock for the whole unit, which is what
//! orders one user's updates, events and fired sends.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::debug;
use triggerd_core::decide::{TriggerContext, TriggerOutcome, fmt_instant};
use triggerd_core::event::Interaction;
use triggerd_core::freqcap::SentRecord;
use triggerd_core::sendcheck::{SendContext, SendVerdict};
use triggerd_core::{Event, EventKind, Outcome, PendingSend, Source};

use super::commit::Staged;
use super::registry::CampaignEntry;
use super::{EngineError, EngineInner};
use crate::store::keys;
use crate::store::profile::Profile;
use crate::store::records::{
    Counters, JournalEntry, OutboxRecord, PairRecord, SendRecord, SendState,
};

/// Journal entries per chunk: the newest entries (fewer than this) live in
/// the pair record, which is written with every decision anyway; a full
/// tail is written out as one chunk record.
pub const JOURNAL_CHUNK: usize = 8;
/// Chunks kept per (campaign, user) pair; older ones are dropped, so a
/// pair keeps its last 96 to 103 decisions.
pub const JOURNAL_CHUNKS_KEPT: u64 = 12;
/// How many generations of produced events one input may cause (campaign A
/// triggers B triggers C …); deeper chains are cut and logged.
const MAX_GENERATIONS: usize = 8;

/// What a fired send needs after the send-time checks passed.
pub struct ReadyToDispatch {
    /// The send (already marked `dispatching` in this unit).
    pub send: SendRecord,
    /// The campaign.
    pub entry: Arc<CampaignEntry>,
    /// The rendered message fields.
    pub content: Value,
}

/// The user's unit of work.
pub struct UserTx<'e> {
    eng: &'e EngineInner,
    /// The user.
    pub external_id: String,
    /// The profile as it is now in this unit.
    pub profile: Profile,
    profile_existed: bool,
    profile_dirty: bool,
    original_email: Option<String>,
    original_phone: Option<String>,
    pairs: HashMap<String, PairRecord>,
    dirty_pairs: HashSet<String>,
    sends: HashMap<String, SendRecord>,
    journal: Vec<(String, JournalEntry)>,
    counters: HashMap<String, Counters>,
    timers_new: Vec<(String, DateTime<Utc>)>,
    /// Timers of existing sends moved to a new due (written after the
    /// records: see [`super::commit`]).
    timers_moved: Vec<(String, DateTime<Utc>)>,
    timers_cancel: Vec<String>,
    extra: crate::store::WriteSet,
    produced: VecDeque<(Event, usize)>,
    outcome_metrics: Vec<Outcome>,
    planned: Vec<(String, DateTime<Utc>, triggerd_core::Channel)>,
    delete_user: bool,
    /// The processing instant.
    pub now: DateTime<Utc>,
}

impl<'e> UserTx<'e> {
    /// Loads the user (a new profile when unknown). Refuses an id no user
    /// can have: with a NUL in it, its keys would be other records' keys.
    pub fn load(
        eng: &'e EngineInner,
        external_id: &str,
        now: DateTime<Utc>,
    ) -> Result<UserTx<'e>, EngineError> {
        if !keys::valid_id(external_id) {
            return Err(EngineError::Invalid(
                "invalid external_id: empty, too long or containing NUL".into(),
            ));
        }
        let existing: Option<Profile> = eng.store.get(&keys::profile(external_id))?;
        let profile_existed = existing.is_some();
        let profile = existing.unwrap_or_else(|| Profile::new(external_id, now));
        Ok(UserTx {
            eng,
            external_id: external_id.to_string(),
            original_email: profile.email().map(str::to_string),
            original_phone: profile.phone().map(str::to_string),
            profile,
            profile_existed,
            profile_dirty: false,
            pairs: HashMap::new(),
            dirty_pairs: HashSet::new(),
            sends: HashMap::new(),
            journal: Vec::new(),
            counters: HashMap::new(),
            timers_new: Vec::new(),
            timers_moved: Vec::new(),
            timers_cancel: Vec::new(),
            extra: crate::store::WriteSet::new(),
            produced: VecDeque::new(),
            outcome_metrics: Vec::new(),
            planned: Vec::new(),
            delete_user: false,
            now,
        })
    }

    /// True when the profile was stored before this unit.
    pub fn profile_existed(&self) -> bool {
        self.profile_existed
    }

    /// Marks the profile changed (it is written at commit).
    pub fn touch_profile(&mut self) {
        self.profile_dirty = true;
    }

    /// Extra writes committed with the unit (outbox, queues, links).
    pub fn extra_writes(&mut self) -> &mut crate::store::WriteSet {
        &mut self.extra
    }

    fn pair_mut(&mut self, campaign_id: &str) -> Result<&mut PairRecord, EngineError> {
        if !self.pairs.contains_key(campaign_id) {
            let rec: PairRecord = self
                .eng
                .store
                .get(&keys::pair(campaign_id, &self.external_id))?
                .unwrap_or_default();
            self.pairs.insert(campaign_id.to_string(), rec);
        }
        self.dirty_pairs.insert(campaign_id.to_string());
        Ok(self.pairs.get_mut(campaign_id).expect("inserted above"))
    }

    fn pair(&mut self, campaign_id: &str) -> Result<PairRecord, EngineError> {
        if let Some(p) = self.pairs.get(campaign_id) {
            return Ok(p.clone());
        }
        let rec: PairRecord = self
            .eng
            .store
            .get(&keys::pair(campaign_id, &self.external_id))?
            .unwrap_or_default();
        self.pairs.insert(campaign_id.to_string(), rec.clone());
        Ok(rec)
    }

    /// A send of this user: from this unit if changed, else its stored
    /// record, else (a send still as planned has no record of its own)
    /// rebuilt from the pending entry of its pair.
    pub fn send(&mut self, send_id: &str) -> Result<Option<SendRecord>, EngineError> {
        if let Some(s) = self.sends.get(send_id) {
            return Ok(Some(s.clone()));
        }
        if let Some(s) = self.eng.store.get(&keys::send(send_id))? {
            return Ok(Some(s));
        }
        self.planned_send(send_id)
    }

    /// A pending send without a record of its own, from the pairs of this
    /// unit (authoritative for the campaigns they cover) or else the
    /// user's stored pairs (next to the profile, so usually one leaf).
    fn planned_send(&self, send_id: &str) -> Result<Option<SendRecord>, EngineError> {
        let find = |pair: &PairRecord| {
            pair.state
                .pending
                .iter()
                .find(|p| p.send_id == send_id)
                .cloned()
        };
        for (campaign_id, pair) in &self.pairs {
            if let Some(p) = find(pair) {
                return Ok(Some(SendRecord::planned(
                    campaign_id,
                    &self.external_id,
                    &p,
                )));
            }
        }
        for item in self
            .eng
            .store
            .scan::<PairRecord>(&keys::user_pairs(&self.external_id))
        {
            let (key, pair) = item?;
            let Some((_, campaign_id)) = keys::split_pair(&key) else {
                continue;
            };
            if self.pairs.contains_key(campaign_id) {
                continue;
            }
            if let Some(p) = find(&pair) {
                return Ok(Some(SendRecord::planned(
                    campaign_id,
                    &self.external_id,
                    &p,
                )));
            }
        }
        Ok(None)
    }

    fn counters(&mut self, campaign_id: &str) -> &mut Counters {
        self.counters.entry(campaign_id.to_string()).or_default()
    }

    /// Records one decision in the pair's journal.
    pub fn journal(&mut self, campaign_id: &str, entry: JournalEntry) {
        self.journal.push((campaign_id.to_string(), entry));
    }

    fn refusal(&mut self, campaign_id: &str, outcome: Outcome, detail: String, event: &Event) {
        self.journal(
            campaign_id,
            JournalEntry {
                at: event.time,
                outcome,
                send_id: None,
                due: None,
                event: Some(event.label()),
                time_zone: None,
                detail,
            },
        );
        self.counters(campaign_id).outcome(outcome);
        self.outcome_metrics.push(outcome);
    }

    /// Ends a pending send with a final outcome (R-Y1 journal, R-Y2 counters).
    pub fn end_send(
        &mut self,
        mut send: SendRecord,
        outcome: Outcome,
        detail: String,
        event: Option<String>,
    ) -> Result<(), EngineError> {
        if matches!(send.state, SendState::Done { .. }) {
            return Ok(());
        }
        send.state = SendState::Done { outcome };
        let campaign_id = send.campaign_id.clone();
        let send_id = send.send_id.clone();
        let now = self.now;
        let pair = self.pair_mut(&campaign_id)?;
        pair.state.pending.retain(|p| p.send_id != send_id);
        if outcome.is_receipt() {
            pair.state.last_receipt = Some(now);
            pair.converted = false;
            pair.receipts += 1;
        }
        self.journal(
            &campaign_id,
            JournalEntry {
                at: self.now,
                outcome,
                send_id: Some(send_id.clone()),
                due: Some(send.due),
                event,
                time_zone: None,
                detail,
            },
        );
        let c = self.counters(&campaign_id);
        c.outcome(outcome);
        c.pending -= 1;
        self.outcome_metrics.push(outcome);
        self.timers_cancel.push(send_id.clone());
        self.sends.insert(send_id, send);
        Ok(())
    }

    /// Queues an event the service produced for this user (§8), processed
    /// before the unit commits.
    pub fn produce(&mut self, event: Event, generation: usize) {
        if generation >= MAX_GENERATIONS {
            tracing::warn!(
                user = %self.external_id,
                event = %event.label(),
                "produced-event chain cut at {MAX_GENERATIONS} generations"
            );
            return;
        }
        self.produced.push_back((event, generation));
    }

    /// Processes one event and every event it produces (R-T1…R-E6, R-P5).
    pub fn process_event(&mut self, event: Event) -> Result<(), EngineError> {
        self.process_one(event, 0)?;
        while let Some((e, generation)) = self.produced.pop_front() {
            self.process_one(e, generation)?;
        }
        Ok(())
    }

    fn process_one(&mut self, event: Event, generation: usize) -> Result<(), EngineError> {
        self.profile.record_event(&event);
        self.profile_dirty = true;
        metrics::counter!("triggerd_events_ingested_total", "source" => event.source.as_str())
            .increment(1);
        for entry in self.eng.registry.candidates(&event.kind) {
            self.apply_campaign(&entry, &event, generation)?;
        }
        Ok(())
    }

    fn apply_campaign(
        &mut self,
        entry: &Arc<CampaignEntry>,
        event: &Event,
        generation: usize,
    ) -> Result<(), EngineError> {
        let campaign = &entry.campaign;
        let cid = campaign.id.clone();
        let span = tracing::debug_span!("decide", campaign = %cid, user = %self.external_id);
        let _guard = span.enter();
        let pair = self.pair(&cid)?;
        let engagement = self.profile.engagement_before(event.time);
        let ctx = TriggerContext {
            campaign,
            status: entry.status(),
            launched_at: entry.launched_at(),
            profile: &self.profile,
            user_zone: self.profile.time_zone(),
            engagement: &engagement,
            state: &pair.state,
            processed_at: self.now,
        };
        let decision = campaign.decide(&ctx, event);
        let conversion = campaign.conversion(pair.state.last_receipt, pair.converted, event);
        if decision.is_empty() && conversion.is_none() {
            return Ok(());
        }
        debug!(?decision, "decision");
        for c in &decision.cancellations {
            if let Some(send) = self.send(&c.send_id)? {
                let detail = match c.outcome {
                    Outcome::Rescheduled => format!(
                        "{} matched both a trigger and an exception: the pending send is replaced by a new one planned from {} (R-E4)",
                        event.label(),
                        fmt_instant(event.time)
                    ),
                    _ => format!(
                        "exception event {} at {} cancelled the pending send",
                        event.label(),
                        fmt_instant(event.time)
                    ),
                };
                self.end_send(send, c.outcome, detail, Some(event.label()))?;
            }
        }
        if decision.emit_exception_event {
            self.produce(
                Event::new(
                    EventKind::ExceptionEvent {
                        campaign_id: cid.clone(),
                    },
                    event.time,
                    Source::Service,
                ),
                generation + 1,
            );
        }
        match decision.trigger {
            None => {}
            Some(TriggerOutcome::Refused { outcome, detail }) => {
                self.refusal(&cid, outcome, detail, event)
            }
            Some(TriggerOutcome::Planned(plan)) => {
                let send_id = self.eng.new_send_id();
                let send = SendRecord {
                    send_id: send_id.clone(),
                    campaign_id: cid.clone(),
                    external_id: self.external_id.clone(),
                    trigger_time: event.time,
                    due: plan.due,
                    planned_due: plan.due,
                    trigger_properties: event.properties.clone(),
                    state: SendState::Pending,
                    attempts: 0,
                    first_attempt_at: None,
                };
                let pending = send.pending();
                self.pair_mut(&cid)?.state.pending.push(pending);
                self.timers_new.push((send_id.clone(), plan.due));
                self.planned
                    .push((send_id.clone(), plan.due, campaign.channel()));
                self.sends.insert(send_id.clone(), send);
                self.journal(
                    &cid,
                    JournalEntry {
                        at: event.time,
                        outcome: plan.outcome,
                        send_id: Some(send_id),
                        due: Some(plan.due),
                        event: Some(event.label()),
                        time_zone: Some(plan.zone.tz.name().to_string()),
                        detail: plan.detail,
                    },
                );
                let c = self.counters(&cid);
                c.scheduled += 1;
                c.pending += 1;
                metrics::counter!("triggerd_sends_scheduled_total").increment(1);
            }
        }
        if let Some(hit) = conversion {
            let pair = self.pair_mut(&cid)?;
            pair.converted = true;
            self.counters(&cid).conversions += 1;
            self.journal(
                &cid,
                JournalEntry {
                    at: event.time,
                    outcome: Outcome::Converted,
                    send_id: None,
                    due: None,
                    event: Some(event.label()),
                    time_zone: None,
                    detail: format!(
                        "conversion counted: {} matched conversion event #{} (R-P5)",
                        event.label(),
                        hit.index + 1
                    ),
                },
            );
            self.produce(
                Event::new(
                    EventKind::CampaignInteraction {
                        campaign_id: cid.clone(),
                        interaction: Interaction::Conversion,
                        button_id: None,
                        alias: None,
                    },
                    event.time,
                    Source::Service,
                ),
                generation + 1,
            );
            if hit.primary {
                self.produce(
                    Event::new(
                        EventKind::Conversion {
                            campaign_id: cid.clone(),
                        },
                        event.time,
                        Source::Service,
                    ),
                    generation + 1,
                );
            }
        }
        Ok(())
    }

    /// R-X steps 1–8 for a fired send. Ends, rolls or withholds the send in
    /// this unit, or returns what to dispatch (the send then marked
    /// `dispatching`).
    pub fn check_fired(
        &mut self,
        send: SendRecord,
        entry: Option<Arc<CampaignEntry>>,
    ) -> Result<Option<ReadyToDispatch>, EngineError> {
        let Some(entry) = entry else {
            self.end_send(
                send,
                Outcome::CampaignStopped,
                "the campaign was deleted".into(),
                None,
            )?;
            return Ok(None);
        };
        let campaign = entry.campaign.clone();
        let pair = self.pair(&campaign.id)?;
        let pending: PendingSend = send.pending();
        let attributes = self.profile.template_attributes();
        let caps = self.eng.caps.read().clone();
        let verdict = campaign.check_send(&SendContext {
            campaign: &campaign,
            status: entry.status(),
            send: &pending,
            external_id: &self.external_id,
            profile: &self.profile,
            attributes: &attributes,
            custom_attributes: &self.profile.custom,
            user_zone: self.profile.time_zone(),
            last_receipt: pair.state.last_receipt,
            history: &self.profile.sent,
            caps: &caps,
            now: self.now,
        });
        match verdict {
            SendVerdict::Refused { outcome, detail } => {
                self.end_send(send, outcome, detail, None)?;
                Ok(None)
            }
            SendVerdict::Rolled { to, detail } => {
                let mut send = send;
                send.due = to;
                self.move_timer(send, to, Outcome::RolledToNextWindow, detail)?;
                Ok(None)
            }
            SendVerdict::ControlGroup => {
                let cid = send.campaign_id.clone();
                let pct = campaign.def.audience.control_group_percent;
                self.end_send(
                    send,
                    Outcome::ControlGroup,
                    format!("withheld: the user is in the {pct}% control group (R-A4)"),
                    None,
                )?;
                self.produce(
                    Event::new(
                        EventKind::CampaignInteraction {
                            campaign_id: cid,
                            interaction: Interaction::ControlGroupEnrolled,
                            button_id: None,
                            alias: None,
                        },
                        self.now,
                        Source::Service,
                    ),
                    1,
                );
                self.drain_produced()?;
                Ok(None)
            }
            SendVerdict::Deliver { content } => {
                let mut send = send;
                send.attempts += 1;
                send.first_attempt_at.get_or_insert(self.now);
                send.state = SendState::Dispatching {
                    attempt: send.attempts,
                };
                self.sends.insert(send.send_id.clone(), send.clone());
                Ok(Some(ReadyToDispatch {
                    send,
                    entry,
                    content,
                }))
            }
        }
    }

    /// Processes produced events queued by send-time steps.
    pub fn drain_produced(&mut self) -> Result<(), EngineError> {
        while let Some((e, generation)) = self.produced.pop_front() {
            self.process_one(e, generation)?;
        }
        Ok(())
    }

    /// Records an accepted delivery: `sent`, the receipt, the outbox line,
    /// the frequency-cap history and the `*_received` event (R-P1).
    pub fn record_sent(
        &mut self,
        send: SendRecord,
        channel: triggerd_core::Channel,
        via: &str,
        provider_id: &str,
        content: Value,
    ) -> Result<(), EngineError> {
        let cid = send.campaign_id.clone();
        let seq = self.eng.store.next_id()?;
        let out = OutboxRecord {
            send_id: send.send_id.clone(),
            campaign_id: cid.clone(),
            external_id: self.external_id.clone(),
            channel,
            via: via.to_string(),
            due: send.due,
            sent_at: self.now,
            content,
        };
        self.extra.put(keys::outbox(seq), &out);
        self.extra.put_raw(
            keys::key(keys::kind::OUTBOX_BY_SEND, &[&send.send_id]),
            seq.to_be_bytes().to_vec(),
        );
        *self
            .counters(&cid)
            .sent_via
            .entry(via.to_string())
            .or_default() += 1;
        self.profile.record_sent(SentRecord {
            channel,
            at: self.now,
        });
        self.profile_dirty = true;
        let detail = if provider_id.is_empty() || provider_id == send.send_id {
            format!("accepted by {via}")
        } else {
            format!("accepted by {via} (provider id {provider_id})")
        };
        self.end_send(send, Outcome::Sent, detail, None)?;
        let received = match channel {
            triggerd_core::Channel::Email => Some(Interaction::EmailReceived),
            triggerd_core::Channel::Sms => Some(Interaction::SmsReceived),
            triggerd_core::Channel::Push => Some(Interaction::PushReceived),
            triggerd_core::Channel::Webhook => Some(Interaction::WebhookReceived),
            _ => None,
        };
        if let Some(interaction) = received {
            self.produce(
                Event::new(
                    EventKind::CampaignInteraction {
                        campaign_id: cid,
                        interaction,
                        button_id: None,
                        alias: None,
                    },
                    self.now,
                    Source::Service,
                ),
                1,
            );
        }
        self.drain_produced()
    }

    /// Plans another attempt of a send (R-X3): same id, later due.
    pub fn plan_retry(
        &mut self,
        mut send: SendRecord,
        at: DateTime<Utc>,
        why: String,
    ) -> Result<(), EngineError> {
        // The send keeps its due instant (webhooks' `X-Triggerd-Due`); only
        // its timer moves.
        send.state = SendState::Pending;
        self.move_timer(send, at, Outcome::RetryScheduled, why)
    }

    /// Moves a pending send's timer to `at` (a window roll or a retry),
    /// keeps the pair's pending view in step, and journals why.
    fn move_timer(
        &mut self,
        send: SendRecord,
        at: DateTime<Utc>,
        outcome: Outcome,
        detail: String,
    ) -> Result<(), EngineError> {
        let cid = send.campaign_id.clone();
        let sid = send.send_id.clone();
        if let Some(p) = self
            .pair_mut(&cid)?
            .state
            .pending
            .iter_mut()
            .find(|p| p.send_id == sid)
        {
            p.due = at;
        }
        self.timers_moved.push((sid.clone(), at));
        self.journal(
            &cid,
            JournalEntry {
                at: self.now,
                outcome,
                send_id: Some(sid.clone()),
                due: Some(at),
                event: None,
                time_zone: None,
                detail,
            },
        );
        self.sends.insert(sid, send);
        Ok(())
    }

    /// When the records say a pending send's timer should fire: its pair's
    /// pending entry (a retry or a window roll moves it; a retry keeps the
    /// send's own due). `None` when the send is not pending.
    pub fn planned_fire(
        &mut self,
        send: &SendRecord,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        Ok(self
            .pair(&send.campaign_id)?
            .state
            .pending
            .iter()
            .find(|p| p.send_id == send.send_id)
            .map(|p| p.due))
    }

    /// Moves a send's timer to `at` without any other change: its records
    /// already say `at` (see [`super::commit`]).
    pub fn realign_timer(&mut self, send_id: &str, at: DateTime<Utc>) {
        self.timers_moved.push((send_id.to_string(), at));
    }

    /// Stores a changed send as is (e.g. its `dispatching` mark).
    pub fn put_send(&mut self, send: SendRecord) {
        self.sends.insert(send.send_id.clone(), send);
    }

    /// Sends planned in this unit: (send id, due, channel).
    pub fn planned(&self) -> &[(String, DateTime<Utc>, triggerd_core::Channel)] {
        &self.planned
    }

    /// Pending sends of every known campaign for this user.
    pub fn all_pending(&mut self) -> Result<Vec<SendRecord>, EngineError> {
        let mut out = Vec::new();
        for entry in self.eng.registry.all() {
            let pair = self.pair(&entry.record.id)?;
            for p in pair.state.pending {
                if let Some(s) = self.send(&p.send_id)? {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// Deletes the user at commit: profile, indexes, in-app queue, cards,
    /// pair states and journals (`/users/delete`). Pending sends must be
    /// ended first.
    pub fn delete_user(&mut self) {
        self.delete_user = true;
    }

    fn deletion_writes(&mut self, w: &mut crate::store::WriteSet) -> Result<(), EngineError> {
        w.remove(keys::profile(&self.external_id));
        if let Some(e) = &self.original_email {
            w.remove(keys::key(
                keys::kind::BY_EMAIL,
                &[&e.to_lowercase(), &self.external_id],
            ));
        }
        if let Some(p) = &self.original_phone {
            w.remove(keys::key(
                keys::kind::BY_PHONE,
                &[&crate::engine::normalize_phone(p), &self.external_id],
            ));
        }
        for kind in [keys::kind::IN_APP, keys::kind::CARD] {
            for k in self
                .eng
                .store
                .scan_keys(&keys::prefix(kind, &[&self.external_id]))
            {
                w.remove(k?.to_vec());
            }
        }
        for k in self
            .eng
            .store
            .scan_keys(&keys::user_pairs(&self.external_id))
        {
            w.remove(k?.to_vec());
        }
        for entry in self.eng.registry.all() {
            let cid = &entry.record.id;
            for kind in [keys::kind::JOURNAL, keys::kind::JOURNAL_CHUNK] {
                for k in self
                    .eng
                    .store
                    .scan_keys(&keys::prefix(kind, &[cid, &self.external_id]))
                {
                    w.remove(k?.to_vec());
                }
            }
        }
        Ok(())
    }

    /// Writes the unit alone (see [`EngineInner::commit_staged`] for the
    /// order). Not flushed: the caller decides.
    pub async fn commit(self) -> Result<(), EngineError> {
        let eng = self.eng;
        let mut staged = Staged::default();
        self.stage(&mut staged)?;
        eng.commit_staged(staged).await
    }

    /// Adds the unit's timers, records, counter deltas and cancellations to
    /// `staged`, to be committed with other users' units of one request.
    pub fn stage(mut self, staged: &mut Staged) -> Result<(), EngineError> {
        for (send_id, due) in std::mem::take(&mut self.timers_new) {
            staged.timers.push((send_id, due, self.external_id.clone()));
        }
        for (send_id, due) in std::mem::take(&mut self.timers_moved) {
            staged.moved.push((send_id, due, self.external_id.clone()));
        }
        let mut w = std::mem::take(&mut self.extra);
        if self.delete_user {
            self.journal.clear();
            self.dirty_pairs.clear();
            self.deletion_writes(&mut w)?;
        } else if self.profile_dirty || !self.profile_existed {
            self.index_writes(&mut w);
            w.put(keys::profile(&self.external_id), &self.profile);
        }
        let external_id = self.external_id.clone();
        for (cid, entry) in std::mem::take(&mut self.journal) {
            let pair = self.pair_mut(&cid)?;
            pair.journal_tail.push(entry);
            if pair.journal_tail.len() >= JOURNAL_CHUNK {
                let chunk = pair.journal_chunks;
                pair.journal_chunks += 1;
                w.put(
                    keys::journal_chunk(&cid, &external_id, chunk),
                    &std::mem::take(&mut pair.journal_tail),
                );
                if chunk >= JOURNAL_CHUNKS_KEPT {
                    w.remove(keys::journal_chunk(
                        &cid,
                        &external_id,
                        chunk - JOURNAL_CHUNKS_KEPT,
                    ));
                }
            }
        }
        for cid in &self.dirty_pairs {
            if let Some(p) = self.pairs.get(cid) {
                w.put(keys::pair(cid, &self.external_id), p);
            }
        }
        for s in self.sends.values().filter(|s| !s.is_as_planned()) {
            w.put(keys::send(&s.send_id), s);
        }
        for (cid, delta) in &self.counters {
            staged.add_counters(cid, delta);
        }
        staged.writes.append(w);
        staged.cancels.append(&mut self.timers_cancel);
        staged.outcomes.append(&mut self.outcome_metrics);
        Ok(())
    }

    /// Keeps the email and phone indexes in step with the profile.
    fn index_writes(&self, w: &mut crate::store::WriteSet) {
        let new_email = self.profile.email().map(str::to_string);
        if new_email != self.original_email {
            if let Some(old) = &self.original_email {
                w.remove(keys::key(
                    keys::kind::BY_EMAIL,
                    &[&old.to_lowercase(), &self.external_id],
                ));
            }
            if let Some(new) = &new_email {
                w.put_raw(
                    keys::key(
                        keys::kind::BY_EMAIL,
                        &[&new.to_lowercase(), &self.external_id],
                    ),
                    Vec::new(),
                );
            }
        }
        let new_phone = self.profile.phone().map(str::to_string);
        if new_phone != self.original_phone {
            if let Some(old) = &self.original_phone {
                w.remove(keys::key(
                    keys::kind::BY_PHONE,
                    &[&crate::engine::normalize_phone(old), &self.external_id],
                ));
            }
            if let Some(new) = &new_phone {
                w.put_raw(
                    keys::key(
                        keys::kind::BY_PHONE,
                        &[&crate::engine::normalize_phone(new), &self.external_id],
                    ),
                    Vec::new(),
                );
            }
        }
    }
}
