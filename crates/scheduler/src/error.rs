//! Errors of the scheduler crate: storage failures, corrupt records, clock misuse.

use crate::types::Millis;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled reported an I/O or internal error.
    #[error("timer storage: {0}")]
    Storage(#[from] sled::Error),
    /// A flush shared through [`crate::GroupCommit`] failed.
    #[error("flush failed: {0}")]
    Flush(String),
    /// A stored record could not be decoded (unknown version or damaged bytes).
    #[error("corrupt timer record ({what}): {detail}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The data was written by a format version this build does not read.
    #[error("timer store format {found} is not supported (this build reads {supported})")]
    UnsupportedFormat {
        /// Version found on disk.
        found: u8,
        /// Version this build reads.
        supported: u8,
    },
    /// A manual clock was asked to move backwards.
    #[error("the clock cannot move backwards (now {now}, requested {requested})")]
    ClockBackwards {
        /// Current instant of the clock.
        now: Millis,
        /// Requested instant.
        requested: Millis,
    },
    /// A manual clock advance needs a running firing driver ([`crate::run`]).
    #[error("no firing driver is attached to this manual clock")]
    NoDriver,
    /// A second firing driver was started on the same manual clock.
    #[error("a firing driver is already attached to this manual clock")]
    DriverAlreadyAttached,
}

impl Error {
    /// Whether retrying the same call later may succeed (I/O trouble), as
    /// opposed to misuse or corrupt data, which a retry will not fix.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Storage(sled::Error::Io(_)) | Error::Flush(_))
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}
