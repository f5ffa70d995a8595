//! `triggerd-drill`: a restart and recovery drill for the triggerd daemon
//! (issue 6, SPEC §11 R-K1–R-K4).
//!
//! One run: start a local webhook receiver and the real daemon (system
//! clock, `durability = "flush"`, short webhook backoff); define webhook
//! campaigns pointing at the receiver; drive bounded mixed load while
//! keeping a ledger of every acknowledged request; kill the daemon again
//! and again (SIGKILL at random moments, SIGTERM, SIGKILL inside a
//! dispatch) and restart it on the same data dir, timing restart →
//! `/readyz`; fault the receiver (down, 500s, 429s); let the backlog drain;
//! then check the invariants against the ledger and the receiver's log.
//! Optional steps: a corrupt record (quarantined on read) and a full disk.
//!
//! The library entry point is [`run()`]; the binary is a thin wrapper.

pub mod api;
pub mod campaigns;
pub mod chaos;
pub mod check;
pub mod classify;
pub mod clock;
pub mod config;
pub mod corrupt;
pub mod daemon;
pub mod diskfull;
pub mod error;
pub mod findings;
pub mod ledger;
pub mod load;
pub mod receiver;
pub mod report;
mod run;

pub use config::DrillConfig;
pub use error::{Error, Result};
pub use report::Report;
pub use run::run;
