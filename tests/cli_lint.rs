//! `triggerd lint FILE...` (API.md): the shipped examples lint clean, and an
//! invalid definition prints every error with its path and exits 1.

use std::process::Command;

fn lint(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_triggerd"))
        .arg("lint")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn examples_lint_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/campaigns");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("examples")
        .filter_map(Result::ok)
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (code, out) = lint(&args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches(": ok (0 warning(s))").count(),
        files.len(),
        "{out}"
    );
}

#[test]
fn invalid_definition_reports_every_error_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name":"x","channel":"email","message":{"subject":"s"},
            "triggers":[{"type":"session_start"}],"exceptions":[{"type":"session_start"}],
            "delay":{"type":"after","duration":"1h"},"window":{"start":"09:00","end":"09:00"},
            "schedule":{"start":"2026-01-01T00:00:00Z"},"time_zone":"Mars/Base"}"#,
    )
    .expect("write");
    let (code, out) = lint(&[bad.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{out}");
    for needle in [
        "error: time_zone: unknown time zone",
        "error: message.html: email messages need `html`",
        "error: window: window.start and window.end must differ",
        "session_start cannot be both a trigger and an exception",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let (code, out) = lint(&[dir.path().join("missing.json").to_str().expect("utf8")]);
    assert_eq!(code, 2, "{out}");
}
