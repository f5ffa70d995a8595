//! `triggerd lint FILE...`: validates campaign definition files (JSON, or
//! TOML by extension) offline, printing every error and warning with its
//! path. Exit code 1 when any file has an error, 2 when a file cannot be
//! read, else 0.

use std::io::Write;
use std::path::Path;

use triggerd_core::{Campaign, Report};

/// Lints one definition's text; the campaign id is the file stem.
pub fn lint_text(path: &Path, text: &str) -> Report {
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "campaign".into());
    if is_toml {
        Campaign::from_toml(&id, text).1
    } else {
        Campaign::from_json(&id, text).1
    }
}

/// Runs the linter over `files`, writing to `out`; returns the exit code.
pub fn run_to(files: &[std::path::PathBuf], out: &mut dyn Write) -> i32 {
    let mut code = 0;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out, "{}: cannot read: {e}", file.display());
                code = 2;
                continue;
            }
        };
        let report = lint_text(file, &text);
        for p in &report.errors {
            let _ = writeln!(
                out,
                "{}: error: {}: {}",
                file.display(),
                display_path(&p.path),
                p.message
            );
        }
        for p in &report.warnings {
            let _ = writeln!(
                out,
                "{}: warning: {}: {}",
                file.display(),
                display_path(&p.path),
                p.message
            );
        }
        if report.is_valid() {
            let _ = writeln!(
                out,
                "{}: ok ({} warning(s))",
                file.display(),
                report.warnings.len()
            );
        } else if code == 0 {
            code = 1;
        }
    }
    code
}

fn display_path(p: &str) -> &str {
    if p.is_empty() { "(root)" } else { p }
}

/// Runs the linter, printing to stdout.
pub fn run(files: &[std::path::PathBuf]) -> i32 {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    run_to(files, &mut lock)
}
