//! The campaigns the engine knows: compiled definitions with their status
//! and launch instant, and the trigger index over the active ones. Read on
//! every event, written rarely (PUT, launch, stop): readers take a cheap
//! snapshot (`Arc`) and never wait on a writer for long.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use triggerd_core::index::TriggerIndex;
use triggerd_core::{Campaign, CampaignStatus, EventKind};

use crate::store::records::CampaignRecord;

/// One campaign as the engine uses it.
#[derive(Debug, Clone)]
pub struct CampaignEntry {
    /// The compiled campaign.
    pub campaign: Arc<Campaign>,
    /// Its stored record (definition as given, status, launch).
    pub record: CampaignRecord,
}

impl CampaignEntry {
    /// draft / active / stopped.
    pub fn status(&self) -> CampaignStatus {
        self.record.status
    }

    /// When it was launched.
    pub fn launched_at(&self) -> Option<DateTime<Utc>> {
        self.record.launched_at
    }
}

#[derive(Default)]
struct Snapshot {
    by_id: HashMap<String, Arc<CampaignEntry>>,
    /// Index over *active* campaigns only: drafts and stopped campaigns
    /// never see events.
    index: TriggerIndex,
}

/// The registry.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Arc<Snapshot>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The entry of one campaign.
    pub fn get(&self, id: &str) -> Option<Arc<CampaignEntry>> {
        self.inner.read().by_id.get(id).cloned()
    }

    /// Every campaign, sorted by id.
    pub fn all(&self) -> Vec<Arc<CampaignEntry>> {
        let snap = self.inner.read().clone();
        let mut v: Vec<_> = snap.by_id.values().cloned().collect();
        v.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        v
    }

    /// The active campaigns that may care about an event of this kind
    /// (as a trigger, an exception or a conversion event).
    pub fn candidates(&self, kind: &EventKind) -> Vec<Arc<CampaignEntry>> {
        let snap = self.inner.read().clone();
        snap.index
            .candidates(kind)
            .iter()
            .filter_map(|id| snap.by_id.get(id).cloned())
            .collect()
    }

    /// Adds or replaces a campaign.
    pub fn upsert(&self, entry: CampaignEntry) {
        let mut guard = self.inner.write();
        let mut by_id = guard.by_id.clone();
        let mut index = guard.index.clone();
        let id = entry.record.id.clone();
        index.remove(&id);
        if entry.status() == CampaignStatus::Active {
            index.insert(&id, entry.campaign.keys());
        }
        by_id.insert(id, Arc::new(entry));
        *guard = Arc::new(Snapshot { by_id, index });
    }

    /// Removes a campaign.
    pub fn remove(&self, id: &str) {
        let mut guard = self.inner.write();
        let mut by_id = guard.by_id.clone();
        let mut index = guard.index.clone();
        by_id.remove(id);
        index.remove(id);
        *guard = Arc::new(Snapshot { by_id, index });
    }
}
