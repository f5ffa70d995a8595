//! # triggerd-core — the rules of action-based delivery, as pure functions
//!
//! Everything here is deterministic and free of I/O: no clock is read, no
//! file or socket is touched. Time is always an argument (`now`, the event's
//! instant) and instants are UTC `chrono::DateTime<Utc>`.
//!
//! Rule ids (`R-…`) refer to `SPEC.md` of the project; every module cites the
//! rules it implements.

pub mod duration;
pub mod template;
pub mod validation;

pub use duration::Span;
pub use validation::{Problem, Report};
