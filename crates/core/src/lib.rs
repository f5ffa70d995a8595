//! # triggerd-core — the rules of action-based delivery, as pure functions
//!
//! Everything here is deterministic and free of I/O: no clock is read, no
//! file or socket is touched. Time is always an argument (`now`, the event's
//! instant) and instants are UTC `chrono::DateTime<Utc>`.
//!
//! Rule ids (`R-…`) refer to `SPEC.md` of the project; every module cites the
//! rules it implements. The map:
//!
//! | module | rules |
//! |---|---|
//! | [`event`], [`trigger`], [`index`] | R-T1–R-T6 |
//! | [`filter`] | R-T3 |
//! | [`segment`] | R-A1–R-A3 |
//! | [`time`] | R-D1–R-D3, R-S1–R-S2, R-W1–R-W6 |
//! | [`matcher`] | R-E1, R-E6, R-P5 |
//! | [`campaign`] | the definition, validation, R-A4 |
//! | [`decide`] | R-W7, R-E2–R-E5, R-R1–R-R4 |
//! | [`sendcheck`] | R-X steps 1–8, R-X1, R-X4 |
//! | [`freqcap`] | R-F1–R-F2 |
//! | [`conversion`] | R-P5 |
//! | [`template`] | R-X step 8 (Liquid, Braze dialect) |
//! | [`outcome`] | R-Y1 outcome codes |

pub mod campaign;
pub mod conversion;
pub mod decide;
pub mod duration;
pub mod event;
pub mod filter;
pub mod freqcap;
pub mod index;
pub mod matcher;
pub mod outcome;
pub mod segment;
pub mod sendcheck;
pub mod template;
pub mod time;
pub mod trigger;
pub mod validation;

pub use campaign::{Campaign, CampaignDef, CampaignStatus, Channel};
pub use decide::{Decision, PairState, PendingSend, TriggerContext, TriggerOutcome};
pub use duration::Span;
pub use event::{Event, EventKind, Source};
pub use outcome::Outcome;
pub use sendcheck::{SendContext, SendVerdict};
pub use validation::{Problem, Report};
