//! # triggerd — the daemon's library
//!
//! The binary (`src/main.rs`) is a thin entry point; everything it runs is
//! here so integration tests and other modules can reuse it: the command
//! line ([`cli`]), settings ([`config`]), logs ([`logging`]), metrics
//! ([`metrics`]), the HTTP shell and its routes ([`api`]), the clock
//! ([`clock`]), the store ([`store`]), the engine ([`engine`]), the daemon's
//! assembly and recovery ([`daemon`]) and the offline campaign linter
//! ([`lint`]).

pub mod allocator;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod lint;
pub mod logging;
pub mod metrics;
pub mod storage_watch;
pub mod store;
