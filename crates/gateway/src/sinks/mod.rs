//! One folder per adapter, each split the same way: `config` (its
//! `[channels.*]` section), `service` (the [`crate::Adapter`] impl) and the
//! helpers only that channel needs.

pub mod email;
pub mod push;
pub mod sms;
pub mod store;
pub mod webhook;
