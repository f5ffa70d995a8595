//! Command line of the `triggerd` binary (clap derive): `triggerd serve`
//! and `triggerd lint FILE...`.
//!
//! Flags only parse here; [`ServeArgs::to_layer`] hands them to
//! [`crate::config::Settings::resolve`], which merges them with the
//! `TRIGGERD_*` environment variables (read by
//! [`crate::config::Layer::from_env`], not by clap, so that precedence stays
//! testable) and the config file.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::config::{self, ClockMode, Durability, Layer, LogFormat};

/// Self-hosted engine for event-triggered (action-based) messaging.
#[derive(Debug, Parser)]
#[command(name = "triggerd", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the daemon.
    Serve(ServeArgs),
    /// Validate campaign definition files (JSON or TOML) offline; exit 1 on errors.
    Lint(LintArgs),
}

/// Flags of `triggerd serve`. Each one can also be given as an environment
/// variable; a flag beats the variable, which beats the config file.
#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "Every flag can also be set by an environment variable TRIGGERD_<NAME> \
    (TRIGGERD_LISTEN, TRIGGERD_DATA_DIR, TRIGGERD_API_KEY, ...); key variables take \
    comma-separated lists. Precedence: flag, then environment variable, then config \
    file, then default. RUST_LOG sets the log filter (default: info)."
)]
pub struct ServeArgs {
    /// TOML configuration file [env: TRIGGERD_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080] [env: TRIGGERD_LISTEN]
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_flag)]
    pub listen: Option<std::net::SocketAddr>,
    /// Base URL of tracking and short links [default: http://ADDR of --listen] [env: TRIGGERD_PUBLIC_URL]
    #[arg(long, value_name = "URL", value_parser = parse_public_url_flag)]
    pub public_url: Option<String>,
    /// Data directory [default: ./triggerd-data] [env: TRIGGERD_DATA_DIR]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// API key, added to the config file's keys; repeatable [env: TRIGGERD_API_KEY]
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// SDK key, added to the config file's keys; repeatable [env: TRIGGERD_SDK_KEY]
    #[arg(long = "sdk-key", value_name = "KEY")]
    pub sdk_keys: Vec<String>,
    /// Write durability [default: flush] [env: TRIGGERD_DURABILITY]
    #[arg(long, value_enum)]
    pub durability: Option<Durability>,
    /// Clock: real time, or the manual test clock [default: system] [env: TRIGGERD_CLOCK]
    #[arg(long, value_enum)]
    pub clock: Option<ClockMode>,
    /// Start instant of the manual clock (RFC 3339) [env: TRIGGERD_CLOCK_START]
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant_flag)]
    pub clock_start: Option<DateTime<Utc>>,
    /// Log format on stderr [default: text] [env: TRIGGERD_LOG_FORMAT]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Arguments of `triggerd lint`.
#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    /// Campaign definition files (JSON or TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl ServeArgs {
    /// The flags as the highest-precedence settings layer.
    pub fn to_layer(&self) -> Layer {
        Layer {
            config: self.config.clone(),
            listen: self.listen,
            public_url: self.public_url.clone(),
            data_dir: self.data_dir.clone(),
            api_keys: self.api_keys.clone(),
            sdk_keys: self.sdk_keys.clone(),
            durability: self.durability,
            clock: self.clock,
            clock_start: self.clock_start,
            log_format: self.log_format,
        }
    }
}

fn parse_listen_flag(value: &str) -> Result<std::net::SocketAddr, String> {
    config::parse_listen("--listen", value).map_err(|e| e.to_string())
}

fn parse_public_url_flag(value: &str) -> Result<String, String> {
    config::parse_public_url("--public-url", value).map_err(|e| e.to_string())
}

fn parse_instant_flag(value: &str) -> Result<DateTime<Utc>, String> {
    config::parse_instant("--clock-start", value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn serve(args: &[&str]) -> ServeArgs {
        let argv = ["triggerd", "serve"].iter().chain(args).copied();
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Serve(serve) => serve,
            Command::Lint(_) => panic!("expected serve"),
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_serve_flags_fill_the_layer() {
        let layer = serve(&[
            "--listen",
            "127.0.0.1:9999",
            "--data-dir",
            "/d",
            "--api-key",
            "a1",
            "--sdk-key",
            "s1",
            "--sdk-key",
            "s2",
            "--durability",
            "async",
            "--clock",
            "manual",
            "--clock-start",
            "2026-01-05T09:00:00Z",
            "--log-format",
            "json",
        ])
        .to_layer();
        assert_eq!(layer.listen, Some("127.0.0.1:9999".parse().expect("addr")));
        assert_eq!(layer.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(layer.api_keys, ["a1"]);
        assert_eq!(layer.sdk_keys, ["s1", "s2"], "--sdk-key is repeatable");
        assert_eq!(layer.durability, Some(Durability::Async));
        assert_eq!(layer.clock, Some(ClockMode::Manual));
        assert!(layer.clock_start.is_some());
        assert_eq!(layer.log_format, Some(LogFormat::Json));
    }

    #[test]
    fn cli_serve_without_flags_sets_nothing() {
        assert_eq!(serve(&[]).to_layer(), Layer::default());
    }

    #[test]
    fn cli_refuses_bad_flag_values() {
        for args in [
            ["serve", "--durability", "maybe"],
            ["serve", "--listen", "localhost"],
            ["serve", "--clock-start", "noon"],
            ["serve", "--log-format", "xml"],
        ] {
            let argv = std::iter::once("triggerd").chain(args);
            assert!(
                Cli::try_parse_from(argv).is_err(),
                "{args:?} must be refused"
            );
        }
    }

    #[test]
    fn cli_lint_takes_files() {
        let cli = Cli::try_parse_from(["triggerd", "lint", "a.json", "b.toml"]).expect("parses");
        match cli.command {
            Command::Lint(lint) => {
                assert_eq!(lint.files, [PathBuf::from("a.json"), "b.toml".into()])
            }
            Command::Serve(_) => panic!("expected lint"),
        }
        assert!(
            Cli::try_parse_from(["triggerd", "lint"]).is_err(),
            "needs a file"
        );
    }
}
