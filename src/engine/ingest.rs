//! Ingest (API.md `/users/track`, `/sdk/v1/track`): validate each object on
//! its own (R-K4: invalid ones are reported by index, valid ones applied),
//! group the valid ones by user, and run each user's unit: attributes first
//! (R-T7, with the events they derive such as `email_added`, R-T4), then
//! events and purchases in time order.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use triggerd_core::time::RFC3339_YEARS;
use triggerd_core::{Event, EventKind, Source};

use super::commit::Staged;
use super::user::UserTx;
use super::{Engine, EngineError};
use crate::store::keys;
use crate::store::profile::{MAX_NAME_BYTES, json_len, validate_attributes};

/// Most objects accepted per array (more: the whole request is refused).
pub const MAX_OBJECTS: usize = 1_000;
/// How far in the future an event's `time` may be.
pub const MAX_FUTURE: Duration = Duration::seconds(60);
/// Most bytes (as JSON) an event's or purchase's `properties` may take
/// (Braze's limit). They are kept with every send the event plans.
pub const MAX_PROPERTIES_BYTES: usize = 50 * 1024;

/// One invalid object (Braze's error shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectError {
    /// What is wrong.
    #[serde(rename = "type")]
    pub kind: String,
    /// `attributes`, `events` or `purchases`.
    pub input_array: &'static str,
    /// Index in that array.
    pub index: usize,
}

/// The answer of a track request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrackSummary {
    /// Valid attribute objects applied.
    pub attributes_processed: usize,
    /// Valid events applied.
    pub events_processed: usize,
    /// Valid purchases applied.
    pub purchases_processed: usize,
    /// Invalid objects, by index.
    pub errors: Vec<ObjectError>,
}

/// What [`Engine::ingest_with`] did.
#[derive(Debug)]
pub enum Ingested {
    /// The request was applied.
    Applied(TrackSummary),
    /// The idempotency key was already stored: nothing was applied; these
    /// are the stored answer's bytes.
    Replayed(Vec<u8>),
}

/// Everything one request does to one user.
#[derive(Debug, Default)]
pub struct UserWork {
    /// Attribute objects, in array order.
    pub attributes: Vec<Map<String, Value>>,
    /// Events and purchases.
    pub events: Vec<Event>,
}

/// The parsed, validated request.
#[derive(Debug, Default)]
pub struct TrackBatch {
    /// Work per user, in first-seen order.
    pub users: Vec<(String, UserWork)>,
    /// Counts and errors.
    pub summary: TrackSummary,
}

/// Parses an RFC 3339 time field; `None` when absent. The instant must lie
/// in the years 0000–9999 in UTC, which RFC 3339 can write: an offset can
/// move a written 9999-12-31 past it (`…T23:59:59-23:59`), and the daemon
/// could then print neither the instant nor anything after it.
pub fn parse_time(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| RFC3339_YEARS.contains(&t.year()))
            .map(Some)
            .ok_or_else(|| {
                format!("invalid time {s:?}: expected RFC 3339 (years 0000–9999 in UTC)")
            }),
        Some(other) => Err(format!("invalid time {other}: expected an RFC 3339 string")),
    }
}

fn external_id(obj: &Map<String, Value>) -> Result<String, String> {
    match obj.get("external_id") {
        Some(Value::String(s)) if keys::valid_id(s) => Ok(s.clone()),
        Some(Value::String(_)) => {
            Err("invalid external_id: empty, too long or containing NUL".into())
        }
        Some(_) => Err("external_id must be a string".into()),
        None => Err("missing external_id".into()),
    }
}

fn event_time(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    checked_time(obj.get("time"), now)
}

/// The instant of something that happened (an event, a session start, a
/// location report): `time` if given, else `now`; refused when more than
/// 60 s ahead of the clock (API.md).
pub fn checked_time(time: Option<&Value>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = parse_time(time)?.unwrap_or(now);
    if t > now + MAX_FUTURE {
        return Err(format!(
            "time {} is more than 60 s in the future",
            t.to_rfc3339()
        ));
    }
    Ok(t)
}

fn properties(obj: &Map<String, Value>) -> Result<Value, String> {
    match obj.get("properties") {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(m)) => {
            if json_len(v) > MAX_PROPERTIES_BYTES {
                return Err(format!(
                    "properties are at most {MAX_PROPERTIES_BYTES} bytes as JSON"
                ));
            }
            Ok(Value::Object(m.clone()))
        }
        Some(_) => Err("properties must be an object".into()),
    }
}

/// Refuses a name (event name, product id) longer than [`MAX_NAME_BYTES`].
fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("{what} is at most {MAX_NAME_BYTES} bytes"));
    }
    Ok(())
}

/// Parses one event object (`external_id` checked by the caller).
pub fn parse_event(
    obj: &Map<String, Value>,
    now: DateTime<Utc>,
    source: Source,
) -> Result<Event, String> {
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err("event name must be a non-empty string".into()),
        None => return Err("missing event name".into()),
    };
    check_name("an event name", &name)?;
    let time = event_time(obj, now)?;
    let kind = if name == "session_start" && source == Source::Sdk {
        EventKind::SessionStart
    } else {
        EventKind::CustomEvent { name }
    };
    Ok(Event::new(kind, time, source).with_properties(properties(obj)?))
}

/// Parses one purchase object.
pub fn parse_purchase(
    obj: &Map<String, Value>,
    now: DateTime<Utc>,
    source: Source,
) -> Result<Event, String> {
    let product_id = match obj.get("product_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err("product_id must be a non-empty string".into()),
        None => return Err("missing product_id".into()),
    };
    check_name("product_id", &product_id)?;
    if let Some(p) = obj.get("price")
        && !p.is_number()
    {
        return Err("price must be a number".into());
    }
    if let Some(q) = obj.get("quantity")
        && !(q.is_u64() || q.is_i64())
    {
        return Err("quantity must be an integer".into());
    }
    let time = event_time(obj, now)?;
    let mut props = properties(obj)?;
    if let Value::Object(m) = &mut props {
        for k in ["price", "currency", "quantity"] {
            if let Some(v) = obj.get(k) {
                m.entry(k.to_string()).or_insert_with(|| v.clone());
            }
        }
    }
    Ok(Event::new(EventKind::Purchase { product_id }, time, source).with_properties(props))
}

fn array<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a [Value], EngineError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) if a.len() > MAX_OBJECTS => Err(EngineError::Invalid(format!(
            "{name} has {} objects; at most {MAX_OBJECTS} are accepted per request",
            a.len()
        ))),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(EngineError::Invalid(format!("{name} must be an array"))),
    }
}

/// Validates a `/users/track` body object by object.
pub fn parse_track(
    body: &Value,
    now: DateTime<Utc>,
    source: Source,
) -> Result<TrackBatch, EngineError> {
    let Some(body) = body.as_object() else {
        return Err(EngineError::Invalid(
            "the body must be a JSON object".into(),
        ));
    };
    let attrs = array(body, "attributes")?;
    let events = array(body, "events")?;
    let purchases = array(body, "purchases")?;
    let mut batch = TrackBatch::default();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut work_of = |batch: &mut TrackBatch, id: String| -> usize {
        *slot.entry(id.clone()).or_insert_with(|| {
            batch.users.push((id, UserWork::default()));
            batch.users.len() - 1
        })
    };
    for (index, v) in attrs.iter().enumerate() {
        let res = v
            .as_object()
            .ok_or_else(|| "an attributes object must be a JSON object".to_string())
            .and_then(|o| {
                let id = external_id(o)?;
                validate_attributes(o).map_err(|e| e.to_string())?;
                Ok((id, o.clone()))
            });
        match res {
            Ok((id, o)) => {
                let i = work_of(&mut batch, id);
                batch.users[i].1.attributes.push(o);
                batch.summary.attributes_processed += 1;
            }
            Err(kind) => batch.summary.errors.push(ObjectError {
                kind,
                input_array: "attributes",
                index,
            }),
        }
    }
    for (list, name, parse) in [
        (
            events,
            "events",
            parse_event as fn(&Map<String, Value>, DateTime<Utc>, Source) -> Result<Event, String>,
        ),
        (purchases, "purchases", parse_purchase),
    ] {
        for (index, v) in list.iter().enumerate() {
            let res = v
                .as_object()
                .ok_or_else(|| format!("an {name} object must be a JSON object"))
                .and_then(|o| Ok((external_id(o)?, parse(o, now, source)?)));
            match res {
                Ok((id, e)) => {
                    let i = work_of(&mut batch, id);
                    batch.users[i].1.events.push(e);
                    if name == "events" {
                        batch.summary.events_processed += 1;
                    } else {
                        batch.summary.purchases_processed += 1;
                    }
                }
                Err(kind) => batch.summary.errors.push(ObjectError {
                    kind,
                    input_array: name,
                    index,
                }),
            }
        }
    }
    Ok(batch)
}

impl Engine {
    /// Runs one user's work as one unit (R-T7 order) and commits it (not flushed).
    pub async fn apply_user_work(
        &self,
        external_id: &str,
        work: UserWork,
        now: DateTime<Utc>,
        source: Source,
    ) -> Result<(), EngineError> {
        let _lock = self.lock_user(external_id).await;
        let mut staged = Staged::default();
        self.stage_user_work(external_id, work, now, source, &mut staged)?;
        self.commit_staged(staged).await
    }

    /// Runs one user's work (R-T7 order: attributes and the events they
    /// derive, then events and purchases in time order) into `staged`. The
    /// caller holds the user's stripe lock until `staged` is committed.
    fn stage_user_work(
        &self,
        external_id: &str,
        work: UserWork,
        now: DateTime<Utc>,
        source: Source,
        staged: &mut Staged,
    ) -> Result<(), EngineError> {
        let span = tracing::debug_span!("ingest", user = %external_id);
        let _g = span.enter();
        let mut tx = UserTx::load(self, external_id, now)?;
        tx.touch_profile();
        let mut derived = Vec::new();
        for attrs in &work.attributes {
            derived.extend(tx.profile.apply_attributes(attrs, now));
        }
        for kind in derived {
            tx.process_event(Event::new(kind, now, source))?;
        }
        let mut events = work.events;
        events.sort_by_key(|e| e.time);
        for e in events {
            tx.process_event(e)?;
        }
        tx.stage(staged)
    }

    /// Applies a validated batch and waits for durability (R-K1).
    pub async fn ingest(
        &self,
        batch: TrackBatch,
        now: DateTime<Utc>,
        source: Source,
    ) -> Result<TrackSummary, EngineError> {
        match self.ingest_with::<()>(batch, now, source, None).await? {
            Ingested::Applied(summary) => Ok(summary),
            Ingested::Replayed(_) => Err(EngineError::Conflict(
                "a request without an idempotency key was replayed".into(),
            )),
        }
    }

    /// [`Engine::ingest`], also writing `extra` (an idempotency record, with
    /// its entry in the time index that [`Engine::trim_idempotency`] walks)
    /// in the request's batch. When `extra`'s key is already stored once the
    /// request's locks are held, nothing is applied and the stored bytes
    /// are returned: a retry racing its own first attempt (a client that
    /// timed out while the first was still running) waits for it and then
    /// replays its answer instead of applying the request a second time.
    ///
    /// Every user of the request is processed under its stripe lock (taken
    /// in stripe order, so two requests never wait on each other in a
    /// cycle) and the whole request is committed at once: one timer batch,
    /// one record batch holding every user's records and the idempotency
    /// record. A retry after a crash is therefore either a no-op or a first
    /// application, never a partial second one.
    pub async fn ingest_with<T: Serialize>(
        &self,
        batch: TrackBatch,
        now: DateTime<Utc>,
        source: Source,
        extra: Option<(Vec<u8>, T)>,
    ) -> Result<Ingested, EngineError> {
        // Warm sled's cache before taking the locks: a user's profile and
        // pair states share a leaf, and paging it in from disk inside the
        // locks would hold every other request (they share most stripes)
        // behind the read.
        for (id, _) in &batch.users {
            self.store.prefetch(&keys::profile(id));
        }
        let mut stripes: Vec<u16> = batch
            .users
            .iter()
            .map(|(id, _)| self.stripe_of(id))
            .collect();
        // Two copies of a keyed request always share a stripe, even with
        // different users (a client reusing a key for another body): the
        // second then finds the first's answer instead of applying too,
        // and one key never gets two answers (nor two entries in the time
        // index, the older of which would drop the newer answer early).
        if let Some((key, _)) = &extra {
            stripes.push(self.stripe_of_key(key));
        }
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.lock_stripe(stripe).await);
        }
        if let Some((key, _)) = &extra
            && let Some(previous) = self.store.get_raw(key)?
        {
            return Ok(Ingested::Replayed(previous.to_vec()));
        }
        let mut staged = Staged::default();
        for (id, work) in batch.users {
            self.stage_user_work(&id, work, now, source, &mut staged)?;
        }
        if let Some((key, value)) = extra {
            staged.writes.put_raw(
                keys::idempotency_by_time(now.timestamp_millis(), &key),
                Vec::new(),
            );
            staged
                .writes
                .put_raw(key, crate::store::codec::encode(&value));
        }
        self.commit_staged(staged).await?;
        drop(guards);
        self.commit_point().await?;
        Ok(Ingested::Applied(batch.summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::engine::test_support::start as now;

    #[test]
    fn r_k4_invalid_objects_are_reported_by_index_and_valid_ones_kept() {
        let body = json!({
            "attributes":[{"external_id":"u1","time_zone":"Mars/Base"},{"external_id":"u2","first_name":"A"}],
            "events":[{"external_id":"u1","name":"x","time":"2026-01-05T10:05:00Z"},
                      {"external_id":"u1","name":"y"},
                      {"name":"z"}],
            "purchases":[{"external_id":"u1","product_id":"p","price":"free"}]
        });
        let b = parse_track(&body, now(), Source::Rest).expect("parses");
        assert_eq!(b.summary.attributes_processed, 1);
        assert_eq!(b.summary.events_processed, 1);
        assert_eq!(b.summary.purchases_processed, 0);
        let idx: Vec<_> = b
            .summary
            .errors
            .iter()
            .map(|e| (e.input_array, e.index))
            .collect();
        assert_eq!(
            idx,
            vec![
                ("attributes", 0),
                ("events", 0),
                ("events", 2),
                ("purchases", 0)
            ]
        );
        assert!(b.summary.errors[1].kind.contains("future"));
    }

    #[test]
    fn r_k4_long_names_and_big_properties_are_reported_by_index() {
        let long = "e".repeat(MAX_NAME_BYTES + 1);
        let fits = "e".repeat(MAX_NAME_BYTES);
        let big = "p".repeat(MAX_PROPERTIES_BYTES);
        let body = json!({
            "events": [{"external_id":"u1","name": long},
                       {"external_id":"u1","name": fits},
                       {"external_id":"u1","name":"ok","properties":{"text": big}}],
            "purchases": [{"external_id":"u1","product_id": long},
                          {"external_id":"u1","product_id": fits}]
        });
        let b = parse_track(&body, now(), Source::Rest).expect("parses");
        assert_eq!(b.summary.events_processed, 1);
        assert_eq!(b.summary.purchases_processed, 1);
        let errors: Vec<_> = b
            .summary
            .errors
            .iter()
            .map(|e| (e.input_array, e.index, e.kind.clone()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (
                    "events",
                    0,
                    "an event name is at most 255 bytes".to_string()
                ),
                (
                    "events",
                    2,
                    format!("properties are at most {MAX_PROPERTIES_BYTES} bytes as JSON")
                ),
                (
                    "purchases",
                    0,
                    "product_id is at most 255 bytes".to_string()
                ),
            ]
        );
    }

    #[test]
    fn too_many_objects_refuse_the_whole_request() {
        let events: Vec<_> = (0..1001)
            .map(|i| json!({"external_id": format!("u{i}"), "name":"e"}))
            .collect();
        assert!(parse_track(&json!({ "events": events }), now(), Source::Rest).is_err());
        assert!(parse_track(&json!({"events": {}}), now(), Source::Rest).is_err());
        assert!(parse_track(&json!({}), now(), Source::Rest).is_ok());
    }

    #[test]
    fn purchases_carry_price_in_properties() {
        let o = json!({"external_id":"u1","product_id":"sku1","price":12.5,"currency":"USD","quantity":1});
        let e = parse_purchase(o.as_object().expect("obj"), now(), Source::Rest).expect("valid");
        assert_eq!(e.properties["price"], json!(12.5));
        assert_eq!(
            e.kind,
            EventKind::Purchase {
                product_id: "sku1".into()
            }
        );
        assert_eq!(e.time, now());
    }

    async fn engine(dir: &std::path::Path) -> crate::engine::Engine {
        crate::engine::test_support::engine(dir, now()).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_k1_idempotency_answers_are_kept_for_the_retention_then_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path()).await;
        let manual = engine.clock.manual().expect("manual clock");
        let body = json!({"events":[{"external_id":"u1","name":"e"}]});
        let apply = |key: &'static str| {
            let (engine, body) = (engine.clone(), body.clone());
            async move {
                let now = engine.clock.now();
                let batch = parse_track(&body, now, Source::Rest).expect("valid");
                let key = keys::key(keys::kind::IDEMPOTENCY, &[key]);
                engine
                    .ingest_with(batch, now, Source::Rest, Some((key, "answer")))
                    .await
                    .expect("ingests")
            }
        };
        assert!(matches!(apply("old").await, Ingested::Applied(_)));
        manual.set(now() + Duration::hours(12));
        assert!(matches!(apply("newer").await, Ingested::Applied(_)));
        assert!(matches!(apply("old").await, Ingested::Replayed(_)));
        assert_eq!(engine.trim_idempotency().expect("trims"), 0);

        // Kept for the whole retention, gone just after it; the newer one stays.
        manual.set(now() + crate::engine::IDEMPOTENCY_RETENTION);
        assert_eq!(engine.trim_idempotency().expect("trims"), 0);
        manual.set(now() + crate::engine::IDEMPOTENCY_RETENTION + Duration::milliseconds(1));
        assert_eq!(engine.trim_idempotency().expect("trims"), 1);
        assert_eq!(
            engine.trim_idempotency().expect("trims"),
            0,
            "index entry gone too"
        );
        assert!(matches!(apply("newer").await, Ingested::Replayed(_)));
        assert!(
            matches!(apply("old").await, Ingested::Applied(_)),
            "a retry after the retention is a new request"
        );
        manual.set(now() + Duration::hours(60));
        assert_eq!(engine.trim_idempotency().expect("trims"), 2);
        assert_eq!(
            engine.store.scan_keys(&[keys::kind::IDEMPOTENCY]).count(),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_k1_a_retry_racing_its_first_attempt_is_replayed_not_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path()).await;
        let body =
            json!({"events":[{"external_id":"u1","name":"e"},{"external_id":"u2","name":"e"}]});
        let key = keys::key(keys::kind::IDEMPOTENCY, &["k1"]);
        // Both copies passed the route's fast check (the key was not stored
        // yet) and now wait for the users' locks, held here.
        let held = engine.lock_user("u1").await;
        let mut copies = Vec::new();
        for _ in 0..2 {
            let (engine, key, body) = (engine.clone(), key.clone(), body.clone());
            copies.push(tokio::spawn(async move {
                let batch = parse_track(&body, now(), Source::Rest).expect("valid");
                engine
                    .ingest_with(batch, now(), Source::Rest, Some((key, "answer")))
                    .await
                    .expect("ingests")
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(held);
        let mut applied = 0;
        let mut replayed = Vec::new();
        for c in copies {
            match c.await.expect("joined") {
                Ingested::Applied(_) => applied += 1,
                Ingested::Replayed(bytes) => replayed.push(bytes),
            }
        }
        assert_eq!(applied, 1, "one copy applies");
        assert_eq!(replayed.len(), 1, "the other replays the stored answer");
        let answer: String = crate::store::codec::decode(&replayed[0]).expect("decodes");
        assert_eq!(answer, "answer");
        for user in ["u1", "u2"] {
            let profile: crate::store::profile::Profile = engine
                .store
                .get(&keys::profile(user))
                .expect("reads")
                .expect("stored");
            assert_eq!(profile.events["e"].count, 1, "{user}'s event applied once");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_k1_one_key_is_applied_once_even_for_requests_with_other_users() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path()).await;
        let key = keys::key(keys::kind::IDEMPOTENCY, &["shared"]);
        // Sixteen bodies under one key, each for users of its own stripes:
        // without a stripe of the key's own, several of them checked the
        // key (absent) before any had written it, and each applied.
        let mut users_by_stripe = std::collections::BTreeMap::new();
        for i in 0..10_000 {
            let user = format!("u{i}");
            users_by_stripe
                .entry(engine.stripe_of(&user))
                .or_insert_with(Vec::new)
                .push(user);
        }
        let groups: Vec<Vec<String>> = users_by_stripe.into_values().take(16).collect();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(groups.len()));
        let mut copies = Vec::new();
        for (i, users) in groups.into_iter().enumerate() {
            let (engine, key, start) = (engine.clone(), key.clone(), start.clone());
            // Each copy at its own instant: copies applied twice would
            // leave two entries in the time index.
            let at = now() + Duration::milliseconds(i as i64);
            let events: Vec<Value> = users
                .iter()
                .take(200)
                .map(|u| json!({"external_id": u, "name": "e"}))
                .collect();
            copies.push(tokio::spawn(async move {
                let batch =
                    parse_track(&json!({ "events": events }), at, Source::Rest).expect("valid");
                start.wait().await;
                engine
                    .ingest_with(batch, at, Source::Rest, Some((key, "answer")))
                    .await
                    .expect("ingests")
            }));
        }
        let mut applied = 0;
        for c in copies {
            if let Ingested::Applied(_) = c.await.expect("joined") {
                applied += 1;
            }
        }
        assert_eq!(applied, 1, "one answer per key");
        assert_eq!(
            engine
                .store
                .scan_keys(&[keys::kind::IDEMPOTENCY_BY_TIME])
                .count(),
            1,
            "one entry in the time index"
        );
    }

    #[test]
    fn times_accept_any_rfc3339_form() {
        let t = parse_time(Some(&json!("2026-01-05T11:00:00.000+01:00"))).expect("ok");
        assert_eq!(t, Some(now()));
        assert!(parse_time(Some(&json!("yesterday"))).is_err());
        // Offsets that move the instant out of the years RFC 3339 writes.
        assert!(parse_time(Some(&json!("9999-12-31T23:59:59-23:59"))).is_err());
        assert!(parse_time(Some(&json!("0000-01-01T00:00:00+23:59"))).is_err());
        assert!(parse_time(Some(&json!("9999-12-31T23:59:59Z"))).is_ok());
        assert!(parse_time(Some(&json!("0000-01-01T00:00:00Z"))).is_ok());
    }
}
