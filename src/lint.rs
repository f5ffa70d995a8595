//! Placeholder for `triggerd lint`: the lead replaces this file with the
//! real offline campaign linter. Until then every run fails with exit code 2
//! so that nothing mistakes it for a successful lint.

use std::path::PathBuf;

/// Exit code when linting is not available in this build.
pub const NOT_AVAILABLE: i32 = 2;

/// Lints `files`; returns the process exit code (0 clean, 1 errors).
/// This placeholder prints that linting is unavailable and returns 2.
pub fn run(files: &[PathBuf]) -> i32 {
    eprintln!(
        "triggerd lint: not available in this build ({} file(s) not checked)",
        files.len()
    );
    NOT_AVAILABLE
}
