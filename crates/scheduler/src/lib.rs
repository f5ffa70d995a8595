//! triggerd-scheduler: durable timers for triggerd.
//!
//! A timer is `(id, due, opaque payload)`; it knows nothing of campaigns.
//! [`Scheduler`] stores timers in one tree (`timers.store`) of the daemon's
//! `sled::Db`: grouped writes ordered by due, plus a log-structured id index
//! so that scheduling, cancelling and completing cost a few keys per *batch*
//! rather than one per timer. Only the near horizon lives in memory, in a
//! hierarchical timing wheel (Varghese & Lauck 1987) paged from disk as time
//! advances. Delivery is at-least-once: a timer handed out and not completed
//! before a crash fires again after the restart.
//!
//! Time is an argument ([`Millis`]) everywhere except in [`clock`]; the
//! firing driver [`run`] connects a [`Clock`] (system or [`ManualClock`]) to
//! an async handler.
//!
//! ```no_run
//! # async fn demo(db: sled::Db) -> triggerd_scheduler::Result<()> {
//! use std::sync::Arc;
//! use triggerd_scheduler::*;
//! let sched = Scheduler::open(db, Config::default())?;
//! sched.schedule(Timer::new(7, Millis(1_000), b"send 7".to_vec()), Durability::Flush).await?;
//! let handler_sched = sched.clone();
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//! run(sched, clock, move |fired: Vec<Fired>| {
//!     let s = handler_sched.clone();
//!     async move {
//!         let ids: Vec<TimerId> = fired.iter().map(|f| f.id).collect();
//!         let _ = s.complete(&ids, Durability::Flush).await;
//!     }
//! }, std::future::pending()).await
//! # }
//! ```

mod bloom;
pub mod clock;
mod codec;
mod config;
mod driver;
mod error;
mod group_commit;
mod grouping;
mod horizon;
mod index;
mod keys;
mod open;
mod parallel;
mod scheduler;
mod types;
mod wheel;
mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use driver::run;
pub use error::{Error, Result};
pub use group_commit::GroupCommit;
pub use open::{is_lock_contention, open_db};
pub use scheduler::{Scheduler, Stats, TREE_NAME};
pub use types::{Durability, Fired, Millis, PendingTimer, Scheduled, Timer, TimerId, TimerState};
