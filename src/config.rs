//! Daemon settings: the TOML configuration file of API.md merged with the
//! command-line flags and `TRIGGERD_*` environment variables.
//!
//! Precedence, per setting: flag, then environment variable, then config
//! file, then built-in default. API and SDK keys are the exception: the keys
//! given by flag (or, without flags, by environment variable) are *added* to
//! the keys of the config file. When no API key is configured at all, one is
//! generated on first start and kept in `<data_dir>/api_key`
//! ([`ensure_api_key`]).
//!
//! Flags and environment variables both arrive here as a [`Layer`] (the CLI
//! builds one from its arguments, [`Layer::from_env`] from the environment),
//! so [`Settings::resolve`] is a pure merge that unit tests can drive.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use clap::ValueEnum;
use serde::Deserialize;
use triggerd_core::Span;

/// Result of configuration loading.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Default `[server] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default `[storage] data_dir`.
pub const DEFAULT_DATA_DIR: &str = "./triggerd-data";
/// Default `[storage] outbox_retention`.
pub const DEFAULT_OUTBOX_RETENTION: Span = Span::from_secs(7 * 86_400);
/// Name of the file, inside the data dir, holding the generated API key.
pub const API_KEY_FILE: &str = "api_key";

/// The top-level tables a config file may contain.
const TOP_LEVEL_KEYS: [&str; 4] = ["server", "auth", "storage", "channels"];

/// Why the settings could not be established.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file named by `--config` / `TRIGGERD_CONFIG`.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or does not match the schema.
    #[error("invalid config file {path}: {message}")]
    ParseFile {
        /// The file named by `--config` / `TRIGGERD_CONFIG`.
        path: PathBuf,
        /// The TOML parser's description, with line and column.
        message: String,
    },
    /// The config file has a top-level key that triggerd does not know.
    #[error(
        "invalid config file {path}: unknown top-level key `{key}` (expected one of: server, auth, storage, channels)"
    )]
    UnknownKey {
        /// The file named by `--config` / `TRIGGERD_CONFIG`.
        path: PathBuf,
        /// The offending key.
        key: String,
    },
    /// One setting has a value that cannot be used.
    #[error("invalid value {value:?} for {origin}: {reason}")]
    InvalidValue {
        /// Where the value came from: `--listen`, `TRIGGERD_LISTEN`, `[server] listen`, …
        origin: String,
        /// The refused value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// `--clock-start` only makes sense with the manual test clock.
    #[error("--clock-start (TRIGGERD_CLOCK_START) requires --clock manual")]
    ClockStartWithoutManualClock,
    /// The generated API key file could not be read or written.
    #[error("API key file {path}: {source}")]
    KeyFile {
        /// `<data_dir>/api_key`.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The generated API key file exists but holds no key.
    #[error("API key file {path} is empty; delete it to generate a new key")]
    EmptyKeyFile {
        /// `<data_dir>/api_key`.
        path: PathBuf,
    },
}

fn invalid(origin: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        origin: origin.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// How hard the store pushes writes to disk before answering (R-K1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// A `2xx` answer means the data is flushed to disk (the default).
    #[default]
    Flush,
    /// Writes are flushed in the background; faster, may lose the last moments on a crash.
    Async,
}

/// Which clock drives the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// The machine's real time (the default).
    #[default]
    System,
    /// The test clock, moved only by `POST /admin/clock/advance`.
    Manual,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

macro_rules! display_as_value_enum {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.to_possible_value() {
                    Some(v) => f.write_str(v.get_name()),
                    None => Ok(()),
                }
            }
        }
    )*};
}
display_as_value_enum!(Durability, ClockMode, LogFormat);

/// One source of overrides: the command-line flags or the environment.
///
/// Every field is optional; `None` (or an empty key list) means "not set
/// here, ask the next source".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    /// `--config` / `TRIGGERD_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--listen` / `TRIGGERD_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--public-url` / `TRIGGERD_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// `--data-dir` / `TRIGGERD_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--api-key` (repeatable) / `TRIGGERD_API_KEY` (comma-separated).
    pub api_keys: Vec<String>,
    /// `--sdk-key` (repeatable) / `TRIGGERD_SDK_KEY` (comma-separated).
    pub sdk_keys: Vec<String>,
    /// `--durability` / `TRIGGERD_DURABILITY`.
    pub durability: Option<Durability>,
    /// `--clock` / `TRIGGERD_CLOCK`.
    pub clock: Option<ClockMode>,
    /// `--clock-start` / `TRIGGERD_CLOCK_START`.
    pub clock_start: Option<DateTime<Utc>>,
    /// `--log-format` / `TRIGGERD_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
}

/// Environment variable names, one per flag.
pub mod env_vars {
    /// `--config`.
    pub const CONFIG: &str = "TRIGGERD_CONFIG";
    /// `--listen`.
    pub const LISTEN: &str = "TRIGGERD_LISTEN";
    /// `--public-url`.
    pub const PUBLIC_URL: &str = "TRIGGERD_PUBLIC_URL";
    /// `--data-dir`.
    pub const DATA_DIR: &str = "TRIGGERD_DATA_DIR";
    /// `--api-key` (several keys separated by commas).
    pub const API_KEY: &str = "TRIGGERD_API_KEY";
    /// `--sdk-key` (several keys separated by commas).
    pub const SDK_KEY: &str = "TRIGGERD_SDK_KEY";
    /// `--durability`.
    pub const DURABILITY: &str = "TRIGGERD_DURABILITY";
    /// `--clock`.
    pub const CLOCK: &str = "TRIGGERD_CLOCK";
    /// `--clock-start`.
    pub const CLOCK_START: &str = "TRIGGERD_CLOCK_START";
    /// `--log-format`.
    pub const LOG_FORMAT: &str = "TRIGGERD_LOG_FORMAT";
}

impl Layer {
    /// Reads the `TRIGGERD_*` variables through `lookup` (in the daemon,
    /// `|name| std::env::var(name).ok()`). Empty values count as unset.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Layer> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let keys = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Layer {
            config: get(env_vars::CONFIG).map(PathBuf::from),
            listen: get(env_vars::LISTEN)
                .map(|v| parse_listen(env_vars::LISTEN, &v))
                .transpose()?,
            public_url: get(env_vars::PUBLIC_URL)
                .map(|v| parse_public_url(env_vars::PUBLIC_URL, &v))
                .transpose()?,
            data_dir: get(env_vars::DATA_DIR).map(PathBuf::from),
            api_keys: keys(env_vars::API_KEY),
            sdk_keys: keys(env_vars::SDK_KEY),
            durability: get(env_vars::DURABILITY)
                .map(|v| parse_enum(env_vars::DURABILITY, &v))
                .transpose()?,
            clock: get(env_vars::CLOCK)
                .map(|v| parse_enum(env_vars::CLOCK, &v))
                .transpose()?,
            clock_start: get(env_vars::CLOCK_START)
                .map(|v| parse_instant(env_vars::CLOCK_START, &v))
                .transpose()?,
            log_format: get(env_vars::LOG_FORMAT)
                .map(|v| parse_enum(env_vars::LOG_FORMAT, &v))
                .transpose()?,
        })
    }
}

/// Parses a listen address (`IP:PORT`); `origin` names the source in errors.
pub fn parse_listen(origin: &str, value: &str) -> Result<SocketAddr> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(origin, value, "expected IP:PORT, e.g. 127.0.0.1:8080"))
}

/// Parses a public base URL (`http(s)://host[:port][/prefix]`), dropping a trailing `/`.
pub fn parse_public_url(origin: &str, value: &str) -> Result<String> {
    let trimmed = value.trim().trim_end_matches('/');
    let uri: http::Uri = trimmed
        .parse()
        .map_err(|_| invalid(origin, value, "expected an absolute http(s) URL"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.authority().is_none() || uri.query().is_some() {
        return Err(invalid(
            origin,
            value,
            "expected an absolute http(s) URL without query, e.g. https://t.example.com",
        ));
    }
    Ok(trimmed.to_string())
}

/// Parses an RFC 3339 instant in the years 0000–9999 (UTC).
pub fn parse_instant(origin: &str, value: &str) -> Result<DateTime<Utc>> {
    let instant = DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| invalid(origin, value, format!("expected an RFC 3339 instant ({e})")))?;
    if !triggerd_core::time::RFC3339_YEARS.contains(&instant.year()) {
        return Err(invalid(
            origin,
            value,
            "the instant must lie in the years 0000–9999 in UTC",
        ));
    }
    Ok(instant)
}

fn parse_enum<T: ValueEnum>(origin: &str, value: &str) -> Result<T> {
    T::from_str(value.trim(), true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        invalid(
            origin,
            value,
            format!("expected one of: {}", names.join(", ")),
        )
    })
}

/// The config file, as written (every setting optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerSection,
    /// `[auth]`.
    #[serde(default)]
    pub auth: AuthSection,
    /// `[storage]`.
    #[serde(default)]
    pub storage: StorageSection,
    /// `[channels.*]`.
    #[serde(default)]
    pub channels: ChannelTables,
}

/// `[server]` of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// `listen = "127.0.0.1:8080"`.
    pub listen: Option<String>,
    /// `public_url = "http://127.0.0.1:8080"`.
    pub public_url: Option<String>,
    /// `rate_limit = 0` (requests/s per key; 0 = none).
    pub rate_limit: Option<u32>,
}

/// `[auth]` of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Keys accepted as `Authorization: Bearer <key>`.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Keys accepted as `X-Sdk-Key: <key>` on `/sdk/v1/…`.
    #[serde(default)]
    pub sdk_keys: Vec<String>,
}

/// `[storage]` of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Directory holding every file of the daemon.
    pub data_dir: Option<PathBuf>,
    /// `"flush"` or `"async"`.
    pub durability: Option<Durability>,
    /// How long the outbox keeps sent messages (`"7d"`).
    pub outbox_retention: Option<Span>,
}

/// `[channels.email|sms|push|webhook]`, kept as raw TOML tables: the gateway
/// crate owns their typed shape.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTables {
    /// `[channels.email]`.
    pub email: Option<toml::Table>,
    /// `[channels.sms]`.
    pub sms: Option<toml::Table>,
    /// `[channels.push]`.
    pub push: Option<toml::Table>,
    /// `[channels.webhook]`.
    pub webhook: Option<toml::Table>,
}

impl FileConfig {
    /// Parses config text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<FileConfig> {
        let parse_err = |e: toml::de::Error| ConfigError::ParseFile {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        };
        let table: toml::Table = text.parse().map_err(parse_err)?;
        if let Some(key) = table.keys().find(|k| !TOP_LEVEL_KEYS.contains(&k.as_str())) {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                key: key.clone(),
            });
        }
        toml::from_str(text).map_err(parse_err)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        FileConfig::parse(path, &text)
    }
}

/// The resolved settings the daemon runs with. Its `Debug` output shows
/// how many keys there are, never the keys.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Address the HTTP server binds (port 0: any free port, see [`Settings::adopt_bound_addr`]).
    pub listen: SocketAddr,
    /// Base of tracking and short links, without trailing `/`.
    pub public_url: String,
    /// True when `public_url` was not configured and follows `listen`.
    pub public_url_is_default: bool,
    /// Requests per second per key; 0 = no limit.
    pub rate_limit: u32,
    /// Accepted API keys (never empty after [`ensure_api_key`]).
    pub api_keys: Vec<String>,
    /// Accepted SDK keys.
    pub sdk_keys: Vec<String>,
    /// Directory holding every file of the daemon.
    pub data_dir: PathBuf,
    /// Write durability.
    pub durability: Durability,
    /// How long the outbox keeps sent messages.
    pub outbox_retention: Span,
    /// Real or manual clock.
    pub clock: ClockMode,
    /// Start of the manual clock (`--clock-start`), if given.
    pub clock_start: Option<DateTime<Utc>>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Raw `[channels.*]` tables for the gateway.
    pub channels: ChannelTables,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("config_file", &self.config_file)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("public_url_is_default", &self.public_url_is_default)
            .field("rate_limit", &self.rate_limit)
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field(
                "sdk_keys",
                &format_args!("<{} redacted>", self.sdk_keys.len()),
            )
            .field("data_dir", &self.data_dir)
            .field("durability", &self.durability)
            .field("outbox_retention", &self.outbox_retention)
            .field("clock", &self.clock)
            .field("clock_start", &self.clock_start)
            .field("log_format", &self.log_format)
            .field("channels", &self.channels)
            .finish()
    }
}

impl Settings {
    /// Merges flags, environment, the config file they name (read from
    /// disk) and defaults.
    pub fn resolve(flags: Layer, env: Layer) -> Result<Settings> {
        let config_file = flags.config.clone().or_else(|| env.config.clone());
        let file = match &config_file {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Settings::merge(flags, env, file, config_file)
    }

    /// Merges already-loaded sources: flag, then env, then file, then default.
    pub fn merge(
        flags: Layer,
        env: Layer,
        file: FileConfig,
        config_file: Option<PathBuf>,
    ) -> Result<Settings> {
        let file_listen = file
            .server
            .listen
            .as_deref()
            .map(|v| parse_listen("[server] listen", v))
            .transpose()?;
        let listen = match flags.listen.or(env.listen).or(file_listen) {
            Some(addr) => addr,
            None => parse_listen("default listen", DEFAULT_LISTEN)?,
        };

        let file_public_url = file
            .server
            .public_url
            .as_deref()
            .map(|v| parse_public_url("[server] public_url", v))
            .transpose()?;
        let explicit_public_url = flags.public_url.or(env.public_url).or(file_public_url);
        let public_url_is_default = explicit_public_url.is_none();
        let public_url = explicit_public_url.unwrap_or_else(|| format!("http://{listen}"));

        let cli_api_keys = if flags.api_keys.is_empty() {
            env.api_keys
        } else {
            flags.api_keys
        };
        let cli_sdk_keys = if flags.sdk_keys.is_empty() {
            env.sdk_keys
        } else {
            flags.sdk_keys
        };
        let api_keys = union_keys("[auth] api_keys", file.auth.api_keys, cli_api_keys)?;
        let sdk_keys = union_keys("[auth] sdk_keys", file.auth.sdk_keys, cli_sdk_keys)?;

        let clock = flags.clock.or(env.clock).unwrap_or_default();
        let clock_start = flags.clock_start.or(env.clock_start);
        if clock_start.is_some() && clock != ClockMode::Manual {
            return Err(ConfigError::ClockStartWithoutManualClock);
        }

        Ok(Settings {
            config_file,
            listen,
            public_url,
            public_url_is_default,
            rate_limit: file.server.rate_limit.unwrap_or(0),
            api_keys,
            sdk_keys,
            data_dir: flags
                .data_dir
                .or(env.data_dir)
                .or(file.storage.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            durability: flags
                .durability
                .or(env.durability)
                .or(file.storage.durability)
                .unwrap_or_default(),
            outbox_retention: file
                .storage
                .outbox_retention
                .unwrap_or(DEFAULT_OUTBOX_RETENTION),
            clock,
            clock_start,
            log_format: flags.log_format.or(env.log_format).unwrap_or_default(),
            channels: file.channels,
        })
    }

    /// Records the address actually bound (differs from `listen` when its
    /// port is 0); a defaulted `public_url` follows it.
    pub fn adopt_bound_addr(&mut self, bound: SocketAddr) {
        self.listen = bound;
        if self.public_url_is_default {
            self.public_url = format!("http://{bound}");
        }
    }

    /// Path of the generated API key file.
    pub fn api_key_file(&self) -> PathBuf {
        self.data_dir.join(API_KEY_FILE)
    }
}

/// Keys of the file first, then the added ones, without duplicates.
fn union_keys(origin: &str, file: Vec<String>, added: Vec<String>) -> Result<Vec<String>> {
    let mut keys: Vec<String> = Vec::with_capacity(file.len() + added.len());
    for key in file.into_iter().chain(added) {
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(invalid(origin, "", "keys must not be empty"));
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// An API key that [`ensure_api_key`] just generated.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The new key (64 hex characters).
    pub key: String,
    /// Where it was stored.
    pub path: PathBuf,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key", &"<redacted>")
            .field("path", &self.path)
            .finish()
    }
}

impl fmt::Display for GeneratedKey {
    /// The one line printed to stdout on the start that created the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Generated API key (stored in {}): {}",
            self.path.display(),
            self.key
        )
    }
}

/// Makes sure `settings.api_keys` is not empty. With no key configured,
/// reuses `<data_dir>/api_key` or, on the first start, creates the data dir
/// and that file (mode 0600) with a new random key, which is returned so the
/// caller prints it once. Returns `None` when no key was generated.
pub fn ensure_api_key(settings: &mut Settings) -> Result<Option<GeneratedKey>> {
    if !settings.api_keys.is_empty() {
        return Ok(None);
    }
    let path = settings.api_key_file();
    let key_err = |source| ConfigError::KeyFile {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim();
            if key.is_empty() {
                return Err(ConfigError::EmptyKeyFile { path });
            }
            settings.api_keys.push(key.to_string());
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(key_err(e)),
    }
    std::fs::create_dir_all(&settings.data_dir).map_err(key_err)?;
    let key = new_api_key();
    write_private_file(&path, &format!("{key}\n")).map_err(key_err)?;
    settings.api_keys.push(key.clone());
    Ok(Some(GeneratedKey { key, path }))
}

/// 32 random bytes from the OS generator, hex-encoded.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// Creates `path` (failing if it exists) readable by the owner only.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Layer {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Layer::from_env(|name| map.get(name).cloned()).expect("valid env")
    }

    fn file(text: &str) -> FileConfig {
        FileConfig::parse(Path::new("test.toml"), text).expect("valid config")
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[test]
    fn cli_defaults_apply_when_nothing_is_set() {
        let s = Settings::merge(
            Layer::default(),
            Layer::default(),
            FileConfig::default(),
            None,
        )
        .expect("defaults");
        assert_eq!(s.listen, addr("127.0.0.1:8080"));
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert!(s.public_url_is_default);
        assert_eq!(s.data_dir, PathBuf::from("./triggerd-data"));
        assert_eq!(s.durability, Durability::Flush);
        assert_eq!(s.clock, ClockMode::System);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.rate_limit, 0);
        assert_eq!(s.outbox_retention, Span::from_secs(7 * 86_400));
        assert!(s.api_keys.is_empty() && s.sdk_keys.is_empty());
    }

    #[test]
    fn cli_precedence_is_flag_then_env_then_file_then_default() {
        let config = file(
            "[server]\nlisten = \"127.0.0.1:7000\"\n[storage]\ndata_dir = \"/file\"\ndurability = \"async\"\n",
        );
        let environment = env(&[
            ("TRIGGERD_LISTEN", "127.0.0.1:7001"),
            ("TRIGGERD_DATA_DIR", "/env"),
        ]);
        let flags = Layer {
            listen: Some(addr("127.0.0.1:7002")),
            ..Layer::default()
        };
        let s = Settings::merge(flags, environment.clone(), config.clone(), None).expect("merge");
        assert_eq!(s.listen, addr("127.0.0.1:7002"), "flag beats env and file");
        assert_eq!(s.data_dir, PathBuf::from("/env"), "env beats file");
        assert_eq!(s.durability, Durability::Async, "file beats default");
        assert_eq!(s.clock, ClockMode::System, "default when unset everywhere");
        assert_eq!(
            s.public_url, "http://127.0.0.1:7002",
            "public_url follows listen"
        );

        let s = Settings::merge(Layer::default(), Layer::default(), config, None).expect("merge");
        assert_eq!(s.listen, addr("127.0.0.1:7000"));
        assert_eq!(s.data_dir, PathBuf::from("/file"));
    }

    #[test]
    fn cli_keys_from_flags_or_env_add_to_file_keys() {
        let config = file("[auth]\napi_keys = [\"file-a\"]\nsdk_keys = [\"file-s\"]\n");
        let flags = Layer {
            api_keys: vec!["flag-a".into(), "file-a".into()],
            sdk_keys: vec!["flag-s1".into(), "flag-s2".into()],
            ..Layer::default()
        };
        let environment = env(&[
            ("TRIGGERD_API_KEY", "env-a"),
            ("TRIGGERD_SDK_KEY", "env-s1, env-s2"),
        ]);
        let s = Settings::merge(flags, environment.clone(), config.clone(), None).expect("merge");
        assert_eq!(
            s.api_keys,
            ["file-a", "flag-a"],
            "flag keys added, deduplicated"
        );
        assert_eq!(s.sdk_keys, ["file-s", "flag-s1", "flag-s2"]);

        let s = Settings::merge(Layer::default(), environment, config, None).expect("merge");
        assert_eq!(
            s.api_keys,
            ["file-a", "env-a"],
            "env keys added without flags"
        );
        assert_eq!(s.sdk_keys, ["file-s", "env-s1", "env-s2"]);
    }

    #[test]
    fn cli_env_values_are_validated_and_named() {
        let bad = |name: &str, value: &str| {
            let err = Layer::from_env(|n| (n == name).then(|| value.to_string()))
                .expect_err("must be refused");
            let text = err.to_string();
            assert!(text.contains(name), "{text:?} names {name}");
            assert!(text.contains(value), "{text:?} quotes {value}");
        };
        bad("TRIGGERD_LISTEN", "localhost");
        bad("TRIGGERD_DURABILITY", "sometimes");
        bad("TRIGGERD_CLOCK", "sundial");
        bad("TRIGGERD_CLOCK_START", "yesterday");
        bad("TRIGGERD_LOG_FORMAT", "xml");
        bad("TRIGGERD_PUBLIC_URL", "ftp://x");

        let layer = env(&[
            ("TRIGGERD_CLOCK", "manual"),
            ("TRIGGERD_CLOCK_START", "2026-01-05T09:00:00+01:00"),
            ("TRIGGERD_LOG_FORMAT", "json"),
            ("TRIGGERD_DURABILITY", ""),
        ]);
        assert_eq!(layer.clock, Some(ClockMode::Manual));
        assert_eq!(
            layer.clock_start.map(|t| t.to_rfc3339()),
            Some("2026-01-05T08:00:00+00:00".to_string())
        );
        assert_eq!(layer.log_format, Some(LogFormat::Json));
        assert_eq!(layer.durability, None, "empty env value counts as unset");
    }

    #[test]
    fn cli_clock_start_requires_manual_clock() {
        let flags = Layer {
            clock_start: Some(parse_instant("t", "2026-01-01T00:00:00Z").expect("instant")),
            ..Layer::default()
        };
        let err = Settings::merge(flags.clone(), Layer::default(), FileConfig::default(), None)
            .expect_err("system clock with start");
        assert!(matches!(err, ConfigError::ClockStartWithoutManualClock));
        let manual = Layer {
            clock: Some(ClockMode::Manual),
            ..flags
        };
        let s = Settings::merge(manual, Layer::default(), FileConfig::default(), None)
            .expect("manual clock with start");
        assert_eq!(s.clock, ClockMode::Manual);
        assert!(s.clock_start.is_some());
    }

    #[test]
    fn config_file_reads_every_section_of_api_md() {
        let config = file(
            r#"
[server]
listen = "0.0.0.0:9000"
public_url = "https://t.example.com/"
rate_limit = 50

[auth]
api_keys = ["k1"]
sdk_keys = ["s1"]

[storage]
data_dir = "/var/lib/triggerd"
durability = "async"
outbox_retention = "36h"

[channels.email]
provider = "smtp"
url = "smtp://127.0.0.1:2525"

[channels.webhook]
signing_secret = "x"
max_attempts = 8
"#,
        );
        let s = Settings::merge(Layer::default(), Layer::default(), config, None).expect("merge");
        assert_eq!(s.listen, addr("0.0.0.0:9000"));
        assert_eq!(
            s.public_url, "https://t.example.com",
            "trailing slash dropped"
        );
        assert!(!s.public_url_is_default);
        assert_eq!(s.rate_limit, 50);
        assert_eq!(s.outbox_retention, Span::from_secs(36 * 3600));
        let email = s.channels.email.as_ref().expect("email table kept");
        assert_eq!(email.get("provider").and_then(|v| v.as_str()), Some("smtp"));
        let webhook = s.channels.webhook.as_ref().expect("webhook table kept");
        assert_eq!(
            webhook.get("max_attempts").and_then(|v| v.as_integer()),
            Some(8)
        );
        assert!(s.channels.sms.is_none() && s.channels.push.is_none());
    }

    #[test]
    fn config_unknown_keys_are_named_in_the_error() {
        let err = FileConfig::parse(Path::new("c.toml"), "[serverr]\nlisten = \"x\"\n")
            .expect_err("unknown top-level key");
        assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "serverr"));
        assert!(err.to_string().contains("`serverr`"), "{err}");

        let err = FileConfig::parse(Path::new("c.toml"), "[server]\nlisten_addr = \"x\"\n")
            .expect_err("unknown nested key");
        assert!(err.to_string().contains("listen_addr"), "{err}");

        let err = FileConfig::parse(Path::new("c.toml"), "[channels.fax]\nx = 1\n")
            .expect_err("unknown channel");
        assert!(err.to_string().contains("fax"), "{err}");
    }

    #[test]
    fn config_durations_parse_and_bad_ones_name_the_key() {
        let ok = file("[storage]\noutbox_retention = \"90m\"\n");
        assert_eq!(ok.storage.outbox_retention, Some(Span::from_secs(5400)));
        let err = FileConfig::parse(
            Path::new("c.toml"),
            "[storage]\noutbox_retention = \"7 days\"\n",
        )
        .expect_err("bad duration");
        let text = err.to_string();
        assert!(
            text.contains("outbox_retention") && text.contains("7 days"),
            "{text}"
        );
    }

    #[test]
    fn config_bad_listen_in_file_names_the_key() {
        let config = file("[server]\nlisten = \"nowhere\"\n");
        let err = Settings::merge(Layer::default(), Layer::default(), config, None)
            .expect_err("bad listen");
        assert!(err.to_string().contains("[server] listen"), "{err}");
    }

    #[test]
    fn config_missing_file_is_a_clear_error() {
        let flags = Layer {
            config: Some(PathBuf::from("/definitely/not/here.toml")),
            ..Layer::default()
        };
        let err = Settings::resolve(flags, Layer::default()).expect_err("missing file");
        assert!(
            err.to_string().contains("/definitely/not/here.toml"),
            "{err}"
        );
    }

    #[test]
    fn adopt_bound_addr_moves_a_default_public_url_only() {
        let mut s = Settings::merge(
            Layer {
                listen: Some(addr("127.0.0.1:0")),
                ..Layer::default()
            },
            Layer::default(),
            FileConfig::default(),
            None,
        )
        .expect("merge");
        s.adopt_bound_addr(addr("127.0.0.1:4321"));
        assert_eq!(s.public_url, "http://127.0.0.1:4321");

        s.public_url = "https://x.example".into();
        s.public_url_is_default = false;
        s.adopt_bound_addr(addr("127.0.0.1:5555"));
        assert_eq!(s.public_url, "https://x.example");
        assert_eq!(s.listen, addr("127.0.0.1:5555"));
    }

    fn settings_in(dir: &Path) -> Settings {
        let flags = Layer {
            data_dir: Some(dir.join("data")),
            ..Layer::default()
        };
        Settings::merge(flags, Layer::default(), FileConfig::default(), None).expect("merge")
    }

    #[test]
    fn api_key_is_generated_once_stored_private_and_reused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut first = settings_in(tmp.path());
        let generated = ensure_api_key(&mut first)
            .expect("generate")
            .expect("a key is generated on first start");
        assert_eq!(generated.key.len(), 64);
        assert!(generated.key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(first.api_keys, [generated.key.as_str()]);
        assert_eq!(generated.path, tmp.path().join("data").join("api_key"));
        assert!(
            generated
                .to_string()
                .starts_with("Generated API key (stored in ")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&generated.path)
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let mut second = settings_in(tmp.path());
        assert_eq!(
            ensure_api_key(&mut second).expect("reuse"),
            None,
            "not printed again"
        );
        assert_eq!(second.api_keys, [generated.key]);
    }

    #[test]
    fn api_key_is_not_generated_when_one_is_configured() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = settings_in(tmp.path());
        s.api_keys.push("configured".into());
        assert_eq!(ensure_api_key(&mut s).expect("ok"), None);
        assert_eq!(s.api_keys, ["configured"]);
        assert!(!s.api_key_file().exists());
    }

    #[test]
    fn api_key_empty_file_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = settings_in(tmp.path());
        std::fs::create_dir_all(&s.data_dir).expect("mkdir");
        std::fs::write(s.api_key_file(), "\n").expect("write");
        assert!(matches!(
            ensure_api_key(&mut s),
            Err(ConfigError::EmptyKeyFile { .. })
        ));
    }

    #[test]
    fn settings_debug_hides_keys() {
        let mut s = Settings::merge(
            Layer::default(),
            Layer::default(),
            FileConfig::default(),
            None,
        )
        .expect("defaults");
        s.api_keys.push("super-secret".into());
        let text = format!("{s:?}");
        assert!(
            !text.contains("super-secret") && text.contains("<1 redacted>"),
            "{text}"
        );
    }

    #[test]
    fn api_keys_are_random() {
        assert_ne!(new_api_key(), new_api_key());
    }
}
