//! Command-line and configuration errors of the real `triggerd` binary:
//! they stop the start with exit code 1 and a message naming the culprit,
//! before anything is bound or written.

use std::process::{Command, Output};

fn triggerd(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_triggerd"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TRIGGERD_") {
            command.env_remove(name);
        }
    }
    command.envs(envs.iter().copied());
    command.output().expect("runs triggerd")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Starts `serve` with `config_text` as its config file, expects it to
/// refuse (exit 1) before writing anything, and returns its stderr.
fn refused_start(config_text: &str) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, config_text).expect("write");
    let data = tmp.path().join("data");
    let output = triggerd(
        &[
            "serve",
            "--config",
            &config.display().to_string(),
            "--data-dir",
            &data.display().to_string(),
        ],
        &[],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        !data.exists(),
        "nothing written before the settings are valid"
    );
    text
}

#[test]
fn cli_unknown_config_key_stops_the_start_naming_the_key() {
    let text = refused_start("[server]\nlisten = \"127.0.0.1:0\"\n[telemetry]\non = true\n");
    assert!(
        text.contains("`telemetry`") && text.contains("c.toml"),
        "{text}"
    );
}

#[test]
fn cli_config_file_from_env_var_is_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "[storage]\ndurability = \"sometimes\"\n").expect("write");
    let output = triggerd(
        &["serve"],
        &[("TRIGGERD_CONFIG", &config.display().to_string())],
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("durability") && text.contains("sometimes"),
        "{text}"
    );
}

#[test]
fn cli_missing_config_file_is_reported() {
    let output = triggerd(&["serve", "--config", "/no/such/triggerd.toml"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("/no/such/triggerd.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn cli_bad_env_value_names_the_variable() {
    let output = triggerd(&["serve"], &[("TRIGGERD_LISTEN", "everywhere")]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("TRIGGERD_LISTEN") && text.contains("everywhere"),
        "{text}"
    );
}

#[test]
fn cli_bad_flag_value_is_a_usage_error() {
    let output = triggerd(&["serve", "--durability", "sometimes"], &[]);
    assert_eq!(output.status.code(), Some(2), "clap usage error");
    assert!(stderr(&output).contains("sometimes"));
}

#[test]
fn cli_clock_start_without_manual_clock_is_refused() {
    let output = triggerd(&["serve", "--clock-start", "2026-01-05T09:00:00Z"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--clock manual"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn cli_help_lists_every_flag_and_its_env_var() {
    let output = triggerd(&["serve", "--help"], &[]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, var) in [
        ("--config", "TRIGGERD_CONFIG"),
        ("--listen", "TRIGGERD_LISTEN"),
        ("--data-dir", "TRIGGERD_DATA_DIR"),
        ("--api-key", "TRIGGERD_API_KEY"),
        ("--sdk-key", "TRIGGERD_SDK_KEY"),
        ("--durability", "TRIGGERD_DURABILITY"),
        ("--clock", "TRIGGERD_CLOCK"),
        ("--clock-start", "TRIGGERD_CLOCK_START"),
        ("--log-format", "TRIGGERD_LOG_FORMAT"),
    ] {
        assert!(
            help.contains(flag) && help.contains(var),
            "{flag}/{var} in\n{help}"
        );
    }
}

#[test]
fn cli_misspelt_channel_key_stops_the_start_naming_it() {
    // The channel sections take the shared tuning keys (flattened), which
    // serde's derive checked for nothing: `jiter` once started silently
    // with the default jitter.
    let text = refused_start(
        "[server]\nlisten = \"127.0.0.1:0\"\n[channels.email]\nprovider = \"smtp\"\nurl = \"smtp://127.0.0.1:2525\"\nfrom = \"a@example.com\"\njiter = 0.5\n",
    );
    assert!(
        text.contains("channels.email") && text.contains("`jiter`"),
        "{text}"
    );
}
