//! User administration (API.md): `/users/delete` (pending sends end
//! `user_deleted`), `/users/export/ids`, and `/subscription/status/set`.

use serde_json::{Map, Value, json};
use triggerd_core::decide::fmt_instant;
use triggerd_core::event::GroupState;
use triggerd_core::{Event, Outcome, Source};

use super::user::UserTx;
use super::{Engine, EngineError, normalize_phone};
use crate::store::keys;
use crate::store::profile::{Profile, STANDARD_ATTRIBUTES};

impl Engine {
    /// Deletes users; returns how many existed.
    pub async fn delete_users(&self, ids: &[String]) -> Result<usize, EngineError> {
        let mut deleted = 0;
        for id in ids {
            if !keys::valid_id(id) {
                continue;
            }
            let _lock = self.lock_user(id).await;
            let mut tx = UserTx::load(self, id, self.clock.now())?;
            if !tx.profile_existed() {
                continue;
            }
            for send in tx.all_pending()? {
                tx.end_send(
                    send,
                    Outcome::UserDeleted,
                    "the user was deleted".into(),
                    None,
                )?;
            }
            tx.delete_user();
            tx.commit().await?;
            deleted += 1;
        }
        self.commit_point().await?;
        Ok(deleted)
    }

    /// Profiles in Braze's export shape; unknown ids are listed apart.
    pub fn export_users(&self, ids: &[String]) -> Result<Value, EngineError> {
        let mut users = Vec::new();
        let mut invalid = Vec::new();
        for id in ids {
            // An id no user can have is not looked up: with a NUL it would
            // name another record (a pair state).
            let profile = if keys::valid_id(id) {
                self.store.get::<Profile>(&keys::profile(id))?
            } else {
                None
            };
            match profile {
                Some(p) => users.push(export_profile(&p)),
                None => invalid.push(Value::String(id.clone())),
            }
        }
        Ok(json!({"users": users, "invalid_user_ids": invalid, "message": "success"}))
    }

    /// Users whose email (case-insensitive) or phone matches. A phone
    /// without a digit (`anonymous`) or an email that is empty or holds a
    /// NUL (which would reach into other keys of the index) matches no one.
    pub fn users_by_contact(&self, kind: u8, value: &str) -> Result<Vec<String>, EngineError> {
        let norm = if kind == keys::kind::BY_PHONE {
            normalize_phone(value)
        } else {
            value.to_lowercase()
        };
        let matchable = if kind == keys::kind::BY_PHONE {
            norm.chars().any(|c| c.is_ascii_digit())
        } else {
            !norm.is_empty() && !norm.contains('\0')
        };
        if !matchable {
            return Ok(Vec::new());
        }
        let prefix = keys::prefix(kind, &[&norm]);
        self.store
            .scan_keys(&prefix)
            .map(|k| {
                k.map(|k| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
                    .map_err(EngineError::from)
            })
            .collect()
    }

    /// `/subscription/status/set`: sets one group's state for users given
    /// by id, email or phone (each change is a `subscription_group_changed`
    /// event).
    pub async fn set_subscription(
        &self,
        group: &str,
        state: GroupState,
        ids: &[String],
        emails: &[String],
        phones: &[String],
    ) -> Result<usize, EngineError> {
        let mut users: Vec<String> = ids.iter().filter(|i| keys::valid_id(i)).cloned().collect();
        for e in emails {
            users.extend(self.users_by_contact(keys::kind::BY_EMAIL, e)?);
        }
        for p in phones {
            users.extend(self.users_by_contact(keys::kind::BY_PHONE, p)?);
        }
        users.sort();
        users.dedup();
        let now = self.clock.now();
        for id in &users {
            let _lock = self.lock_user(id).await;
            let mut tx = UserTx::load(self, id, now)?;
            tx.touch_profile();
            if let Some(kind) = tx.profile.set_group(group, state) {
                tx.process_event(Event::new(kind, now, Source::Rest))?;
            }
            tx.commit().await?;
        }
        self.commit_point().await?;
        Ok(users.len())
    }
}

/// One profile in `/users/export/ids` form.
pub fn export_profile(p: &Profile) -> Value {
    let mut m = Map::new();
    m.insert("external_id".into(), Value::String(p.external_id.clone()));
    for k in STANDARD_ATTRIBUTES {
        if let Some(v) = p.attributes.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("custom_attributes".into(), Value::Object(p.custom.clone()));
    let stats = |name: &str, s: &crate::store::profile::EventStats| json!({"name": name, "count": s.count, "first": fmt_instant(s.first), "last": fmt_instant(s.last)});
    let events: Vec<Value> = p
        .events
        .iter()
        .filter(|(n, _)| n.as_str() != "purchase" && n.as_str() != "session_start")
        .map(|(n, s)| stats(n, s))
        .collect();
    m.insert("custom_events".into(), Value::Array(events));
    m.insert(
        "purchases".into(),
        Value::Array(p.purchases.iter().map(|(n, s)| stats(n, s)).collect()),
    );
    if let Some(s) = p.events.get("session_start") {
        m.insert("total_sessions".into(), json!(s.count));
    }
    m.entry("subscription_groups")
        .or_insert_with(|| Value::Array(Vec::new()));
    m.insert(
        "created_at".into(),
        Value::String(fmt_instant(p.created_at)),
    );
    Value::Object(m)
}
