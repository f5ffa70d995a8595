//! Assembly of the daemon from its settings: open the database, the timer
//! wheel, the gateway and the engine; recover (a manual clock resumes from
//! the later of `--clock-start` and its stored time, and processes what
//! became overdue); then serve HTTP and fire timers until shutdown.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::RngCore;
use triggerd_gateway::{ChannelsConfig, Gateway, TrackingSigner};
use triggerd_scheduler::Scheduler;

use crate::clock::{Clock, ManualClock};
use crate::config::{ClockMode, Durability, Settings};
use crate::engine::delivery::{AcceptOnly, Delivery, StoreShortener};
use crate::engine::{Engine, EngineSettings, Timers};
use crate::store::{Store, WriteSet, keys};

/// The gateway's channel configuration from the raw `[channels.*]` tables.
pub fn channels_config(settings: &Settings) -> anyhow::Result<ChannelsConfig> {
    let mut table = toml::Table::new();
    let c = &settings.channels;
    for (name, t) in [
        ("email", &c.email),
        ("sms", &c.sms),
        ("push", &c.push),
        ("webhook", &c.webhook),
    ] {
        if let Some(t) = t {
            table.insert(name.to_string(), toml::Value::Table(t.clone()));
        }
    }
    // The path names the section: "channels.email: unknown field `jiter`".
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        anyhow::anyhow!(
            "invalid [channels] configuration: channels.{}: {}",
            e.path(),
            e.inner()
        )
    })
}

/// The secret that signs tracking links: created once, kept in the store.
fn tracking_secret(store: &Store) -> anyhow::Result<Vec<u8>> {
    let key = keys::key(keys::kind::META, &["tracking_secret"]);
    if let Some(existing) = store.get::<String>(&key)?
        && let Ok(bytes) = hex::decode(existing)
    {
        return Ok(bytes);
    }
    let mut bytes = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut w = WriteSet::new();
    w.put(key, &hex::encode(&bytes));
    store.apply(w)?;
    Ok(bytes)
}

/// The webhook signing secret: the configured one, else one generated on
/// first start and kept in `<data_dir>/webhook_signing_secret` (0600), so
/// every webhook carries `X-Triggerd-Signature` (API.md).
fn webhook_secret(settings: &Settings, channels: &mut ChannelsConfig) -> anyhow::Result<()> {
    let webhook = channels.webhook.get_or_insert_with(Default::default);
    if webhook
        .signing_secret
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Ok(());
    }
    let path = settings.data_dir.join("webhook_signing_secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            let s = hex::encode(bytes);
            std::fs::write(&path, &s)
                .with_context(|| format!("cannot write {}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            tracing::info!(path = %path.display(), "generated a webhook signing secret");
            s
        }
    };
    webhook.signing_secret = Some(secret);
    Ok(())
}

/// Everything the running daemon holds.
pub struct Daemon {
    /// The engine.
    pub engine: Engine,
}

/// Opens every component from the settings and recovers.
pub async fn open(settings: &Settings) -> anyhow::Result<Daemon> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
    let started = std::time::Instant::now();
    let store = Store::open(&settings.data_dir).with_context(|| {
        format!(
            "cannot open the database in {}",
            settings.data_dir.display()
        )
    })?;
    let scheduler = Scheduler::open_with_commit(
        store.db().clone(),
        triggerd_scheduler::Config::default(),
        store.group().clone(),
    )
    .context("cannot open the timer wheel")?;
    let store_and_timers_opened = started.elapsed();
    let secret = tracking_secret(&store)?;
    let signer = TrackingSigner::new(&secret, &settings.public_url).context("tracking signer")?;
    let mut channels = channels_config(settings)?;
    webhook_secret(settings, &mut channels)?;
    let gateway = Gateway::builder(channels, Arc::new(AcceptOnly))
        .tracking(signer)
        .shortener(Arc::new(StoreShortener::new(
            store.clone(),
            &settings.public_url,
        )))
        .build()
        .context("cannot set up the channel gateway")?;
    let clock = match settings.clock {
        ClockMode::System => Clock::System,
        ClockMode::Manual => {
            let stored: Option<DateTime<Utc>> =
                store.get(&keys::key(keys::kind::META, &["clock"]))?;
            let start = match (settings.clock_start, stored) {
                (Some(a), Some(b)) => a.max(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => Clock::System.now(),
            };
            Clock::Manual(Arc::new(ManualClock::new(start)))
        }
    };
    let engine = Engine::new(
        store,
        Timers::new(scheduler),
        Delivery::new(gateway),
        clock,
        EngineSettings {
            public_url: settings.public_url.clone(),
            flush: settings.durability == Durability::Flush,
            outbox_retention: settings.outbox_retention.to_chrono(),
        },
    )?;
    tracing::info!(
        store_and_timers_ms = store_and_timers_opened.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        pending_sends = engine.timers.pending(),
        "store recovered"
    );
    if let Some(manual) = engine.clock.manual() {
        // R-X1: a later start is downtime; overdue sends are judged now.
        let now = manual.now();
        let fired = engine.advance_to(now).await?;
        if fired > 0 {
            tracing::info!(
                fired,
                "processed sends that became overdue while the daemon was down"
            );
        }
    }
    Ok(Daemon { engine })
}
