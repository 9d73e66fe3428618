//! The configuration file: its keys, their defaults, and the checks that stop start-up early.
//!
//! Every key is documented in `config.example.toml`. Unknown keys are errors (they are usually
//! typos), and every error names the key it is about in one sentence. Secrets are read into
//! [`SecretString`]s and never printed, not even when their value is malformed.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

mod conversations;
mod limits;
mod metrics;
mod moderation;
mod shards;
pub use conversations::ConversationsConfig;
pub use limits::{AlertsConfig, LimitsConfig};
pub use metrics::{MetricsConfig, DEFAULT_METRICS_PORT};
pub use moderation::ModerationConfig;
pub use shards::ShardRange;

/// Environment variable that overrides `discord.token`.
pub const ENV_DISCORD_TOKEN: &str = "DISCORD_TOKEN";
/// Environment variable that overrides `pixeldojo.api_key`.
pub const ENV_PIXELDOJO_API_KEY: &str = "PIXELDOJO_API_KEY";
/// Environment variable that overrides `storage.url`.
pub const ENV_DATABASE_URL: &str = "DATABASE_URL";

/// The whole configuration, after defaults and environment overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub discord: DiscordConfig,
    pub pixeldojo: PixelDojoConfig,
    #[serde(default)]
    pub inputs: InputsConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub conversations: ConversationsConfig,
    #[serde(default)]
    pub moderation: ModerationConfig,
    /// The health and metrics server; off when the section is absent.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The bot token; `DISCORD_TOKEN` overrides it.
    #[serde(default = "empty_secret")]
    pub token: SecretString,
    /// Register the commands in this guild only (instant), instead of globally.
    #[serde(default)]
    pub guild_id: Option<u64>,
    /// Base URL that replaces `https://discord.com` for every REST call.
    #[serde(default)]
    pub api_proxy: Option<Url>,
    /// Ask for the privileged Message Content intent (replies in threads need no mention).
    #[serde(default = "yes")]
    pub message_content_intent: bool,
    /// Whether `/omni` and its follow-ups work in direct messages.
    #[serde(default = "yes")]
    pub allow_dms: bool,
    /// The shards this process connects (`"0-3/8"`, `"2/8"`); absent: the only one. Read it
    /// with [`DiscordConfig::shard_range`].
    #[serde(default)]
    pub shards: Option<String>,
}

impl DiscordConfig {
    /// `discord.shards`, parsed (checked at load, so a set value is never dropped here).
    pub fn shard_range(&self) -> Option<ShardRange> {
        self.shards
            .as_deref()
            .and_then(|s| ShardRange::parse(s).ok())
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelDojoConfig {
    /// The API key; `PIXELDOJO_API_KEY` overrides it.
    #[serde(default = "empty_secret")]
    pub api_key: SecretString,
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    #[serde(default = "default_model")]
    pub model: String,
    /// How long one HTTP request to PixelDojo may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// The shared request budget for every call to PixelDojo.
    #[serde(default = "default_max_rpm")]
    pub max_requests_per_minute: u32,
    /// A job that has not finished after this long ends as failed.
    #[serde(default = "default_job_timeout")]
    pub job_timeout_minutes: u64,
    /// Starting guess of a render's length; the bot learns real times from finished jobs.
    #[serde(default = "default_expected_render")]
    pub expected_render_seconds: u64,
    /// The fewest seconds between two polls of one job (and from a submit to its first poll).
    #[serde(default = "default_min_poll_interval")]
    pub min_poll_interval_seconds: u64,
    /// Hosts finished clips may be downloaded from, besides the API's own host.
    #[serde(default = "default_file_hosts")]
    pub file_hosts: Vec<String>,
    /// How long one download of a finished clip may take in all.
    #[serde(default = "default_download_timeout")]
    pub download_timeout_seconds: u64,
    /// Downloads running at once (they take no API budget).
    #[serde(default = "default_concurrent_downloads")]
    pub max_concurrent_downloads: usize,
    /// Count downloads against `max_requests_per_minute` too.
    #[serde(default)]
    pub downloads_use_api_budget: bool,
}

impl PixelDojoConfig {
    /// Every host a download may come from: the API's host and the file hosts.
    pub fn download_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .base_url
            .host_str()
            .map(str::to_owned)
            .into_iter()
            .collect();
        for host in &self.file_hosts {
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                hosts.push(host.clone());
            }
        }
        hosts
    }
}

/// Size limits on what users attach, checked before any credit is spent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    #[serde(default = "default_max_image_mb")]
    pub max_image_mb: u64,
    #[serde(default = "default_max_video_mb")]
    pub max_video_mb: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the state lives: `sled` (embedded, in `path`) or `postgres` (at `url`).
    #[serde(default)]
    pub backend: Backend,
    /// The sled folder (the `sled` backend only).
    #[serde(default = "default_storage_path")]
    pub path: PathBuf,
    /// The PostgreSQL URL (the `postgres` backend only); `DATABASE_URL` overrides it. A secret:
    /// it usually carries the password.
    #[serde(default = "empty_secret")]
    pub url: SecretString,
    /// The `postgres` backend only: how long a replica standing by waits for the working one's
    /// lease to stop moving before it takes over (see [`crate::replica`]).
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

impl StorageConfig {
    pub fn lease_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds)
    }
}

/// The store's backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded: one process, one folder.
    #[default]
    Sled,
    /// Shared: several replicas on one database.
    Postgres,
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}
fn default_base_url() -> Url {
    Url::parse("https://pixeldojo.ai/api/v1").expect("the default base URL is valid")
}
fn default_model() -> String {
    "google-gemini-omni-flash".to_owned()
}
fn default_request_timeout() -> u64 {
    30
}
fn default_max_rpm() -> u32 {
    60
}
fn default_job_timeout() -> u64 {
    15
}
fn default_expected_render() -> u64 {
    60
}
fn default_min_poll_interval() -> u64 {
    2
}
fn default_file_hosts() -> Vec<String> {
    vec!["temp.pixeldojo.ai".to_owned()]
}
fn default_download_timeout() -> u64 {
    300
}
fn default_concurrent_downloads() -> usize {
    3
}
fn default_max_image_mb() -> u64 {
    20
}
fn default_max_video_mb() -> u64 {
    100
}
fn default_lease_seconds() -> u64 {
    15
}
fn default_storage_path() -> PathBuf {
    PathBuf::from("data/omni-bot.sled")
}

impl Default for InputsConfig {
    fn default() -> Self {
        Self {
            max_image_mb: default_max_image_mb(),
            max_video_mb: default_max_video_mb(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: Backend::default(),
            path: default_storage_path(),
            url: empty_secret(),
            lease_seconds: default_lease_seconds(),
        }
    }
}

/// Why the configuration cannot be used: one sentence, naming the key, never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Keys whose values must never be echoed back, even in a type error.
const SECRET_KEYS: [&str; 3] = ["discord.token", "pixeldojo.api_key", "storage.url"];

impl Config {
    /// Reads the file at `path`, applies the environment overrides and checks every value.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "Cannot read the config file {}: {e} (copy config.example.toml there and fill it in).",
                path.display()
            ))
        })?;
        Self::from_toml(
            &text,
            |name| std::env::var(name).ok(),
            &path.display().to_string(),
        )
    }

    /// Parses `text` as the configuration; `env` looks up the environment overrides.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
        origin: &str,
    ) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.inner().message().trim().to_owned();
            if SECRET_KEYS.contains(&key.as_str()) {
                ConfigError(format!("{origin}: `{key}` must be a quoted string."))
            } else if key.is_empty() || key == "." {
                ConfigError(format!("{origin}: {inner}."))
            } else {
                ConfigError(format!("{origin}: `{key}` is invalid: {inner}."))
            }
        })?;
        if let Some(token) = env(ENV_DISCORD_TOKEN).filter(|t| !t.trim().is_empty()) {
            config.discord.token = SecretString::from(token);
        }
        if let Some(key) = env(ENV_PIXELDOJO_API_KEY).filter(|k| !k.trim().is_empty()) {
            config.pixeldojo.api_key = SecretString::from(key);
        }
        if let Some(url) = env(ENV_DATABASE_URL).filter(|u| !u.trim().is_empty()) {
            config.storage.url = SecretString::from(url);
        }
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let fail = |msg: String| Err(ConfigError(format!("{origin}: {msg}")));
        if self.discord.token.expose_secret().trim().is_empty() {
            return fail(format!(
                "`discord.token` is missing: set it, or the {ENV_DISCORD_TOKEN} environment variable, to your bot's token."
            ));
        }
        if self.pixeldojo.api_key.expose_secret().trim().is_empty() {
            return fail(format!(
                "`pixeldojo.api_key` is missing: set it, or the {ENV_PIXELDOJO_API_KEY} environment variable, to your PixelDojo API key."
            ));
        }
        if let Some(Err(msg)) = self.discord.shards.as_deref().map(ShardRange::parse) {
            return fail(msg);
        }
        for (key, url) in [
            ("pixeldojo.base_url", Some(&self.pixeldojo.base_url)),
            ("discord.api_proxy", self.discord.api_proxy.as_ref()),
        ] {
            if let Some(url) = url {
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return fail(format!("`{key}` must be an http:// or https:// URL."));
                }
            }
        }
        if self.pixeldojo.model.trim().is_empty() {
            return fail("`pixeldojo.model` must not be empty.".into());
        }
        if self.pixeldojo.max_requests_per_minute == 0 {
            return fail("`pixeldojo.max_requests_per_minute` must be at least 1.".into());
        }
        if self.pixeldojo.request_timeout_seconds == 0 {
            return fail("`pixeldojo.request_timeout_seconds` must be at least 1.".into());
        }
        if self.pixeldojo.job_timeout_minutes == 0 {
            return fail("`pixeldojo.job_timeout_minutes` must be at least 1.".into());
        }
        if self.pixeldojo.min_poll_interval_seconds == 0 {
            return fail("`pixeldojo.min_poll_interval_seconds` must be at least 1.".into());
        }
        if self.pixeldojo.download_timeout_seconds == 0 {
            return fail("`pixeldojo.download_timeout_seconds` must be at least 1.".into());
        }
        if self.pixeldojo.max_concurrent_downloads == 0 {
            return fail("`pixeldojo.max_concurrent_downloads` must be at least 1.".into());
        }
        if self
            .pixeldojo
            .file_hosts
            .iter()
            .any(|h| h.trim().is_empty() || h.contains('/'))
        {
            return fail("`pixeldojo.file_hosts` must list host names such as \"temp.pixeldojo.ai\", without a scheme or a path.".into());
        }
        if self.pixeldojo.expected_render_seconds == 0 {
            return fail("`pixeldojo.expected_render_seconds` must be at least 1.".into());
        }
        match self.storage.backend {
            Backend::Sled if self.storage.path.as_os_str().is_empty() => {
                return fail("`storage.path` must not be empty.".into());
            }
            Backend::Postgres => {
                let url = self.storage.url.expose_secret().trim();
                if url.is_empty() {
                    return fail(format!(
                        "`storage.backend` is \"postgres\" but `storage.url` is missing: set it, or the {ENV_DATABASE_URL} environment variable, to a URL such as postgres://omni@db.example:5432/omni."
                    ));
                }
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return fail(
                        "`storage.url` must start with postgres:// or postgresql://.".into(),
                    );
                }
                if self.storage.lease_seconds < 3 {
                    return fail("`storage.lease_seconds` must be at least 3.".into());
                }
            }
            Backend::Sled => {}
        }
        if let Err(msg) = self.limits.validate() {
            return fail(msg);
        }
        if let Err(msg) = self.moderation.validate() {
            return fail(msg);
        }
        Ok(())
    }

    /// The proxy base URL without a trailing slash, as serenity wants it.
    pub fn discord_proxy(&self) -> Option<String> {
        self.discord
            .api_proxy
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
    }
}

/// A config with only the token and the key, plus `extra` (for the sections' own tests).
#[cfg(test)]
fn load_minimal(extra: &str) -> Result<Config, String> {
    const MINIMAL: &str = "[discord]\ntoken = \"t\"\n[pixeldojo]\napi_key = \"k\"\n";
    Config::from_toml(&format!("{MINIMAL}{extra}"), |_| None, "config.toml")
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[discord]
token = "discord-secret-token"
[pixeldojo]
api_key = "pd_secret_key"
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn err(text: &str) -> String {
        Config::from_toml(text, no_env, "config.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let c = Config::from_toml(MINIMAL, no_env, "t").unwrap();
        assert_eq!(c.pixeldojo.base_url.as_str(), "https://pixeldojo.ai/api/v1");
        assert_eq!(c.pixeldojo.model, "google-gemini-omni-flash");
        assert_eq!(c.storage.path, PathBuf::from("data/omni-bot.sled"));
        assert_eq!(c.pixeldojo.max_requests_per_minute, 60);
        assert_eq!(c.pixeldojo.job_timeout_minutes, 15);
        assert_eq!(c.discord.guild_id, None);
    }

    #[test]
    fn an_unknown_key_is_named_in_the_error() {
        let e = err(&format!("{MINIMAL}\n[storage]\npaht = \"x\"\n"));
        assert!(e.contains("paht"), "{e}");
    }

    #[test]
    fn a_missing_token_names_the_key_and_the_env_var() {
        let e = err("[discord]\n[pixeldojo]\napi_key = \"k\"\n");
        assert!(
            e.contains("discord.token") && e.contains("DISCORD_TOKEN"),
            "{e}"
        );
    }

    #[test]
    fn environment_variables_override_the_secrets_in_the_file() {
        let env = |name: &str| match name {
            "DISCORD_TOKEN" => Some("from-env".to_owned()),
            _ => None,
        };
        let c = Config::from_toml(MINIMAL, env, "t").unwrap();
        assert_eq!(c.discord.token.expose_secret(), "from-env");
        assert_eq!(c.pixeldojo.api_key.expose_secret(), "pd_secret_key");
    }

    #[test]
    fn the_postgres_backend_needs_a_url_from_the_file_or_database_url_and_never_echoes_it() {
        let postgres = format!("{MINIMAL}\n[storage]\nbackend = \"postgres\"\n");
        let e = err(&postgres);
        assert!(
            e.contains("storage.url") && e.contains("DATABASE_URL"),
            "{e}"
        );
        let env = |name: &str| {
            (name == "DATABASE_URL").then(|| "postgres://omni:hunter2@db:5432/omni".to_owned())
        };
        let c = Config::from_toml(&postgres, env, "t").unwrap();
        assert_eq!(c.storage.backend, Backend::Postgres);
        assert!(c.storage.url.expose_secret().contains("hunter2"));
        let e = err(&format!(
            "{postgres}url = \"mysql://omni:hunter2@db/omni\"\n"
        ));
        assert!(e.contains("storage.url") && !e.contains("hunter2"), "{e}");
        let e = err(&format!("{MINIMAL}\n[storage]\nurl = 5\n"));
        assert!(e.contains("storage.url"), "{e}");
        let e = err(&format!("{MINIMAL}\n[storage]\nbackend = \"mysql\"\n"));
        assert!(e.contains("storage.backend"), "{e}");
    }

    #[test]
    fn the_embedded_store_stays_the_default() {
        let c = Config::from_toml(MINIMAL, no_env, "t").unwrap();
        assert_eq!(c.storage.backend, Backend::Sled);
    }

    #[test]
    fn a_malformed_url_is_named() {
        let e = err(&format!("{MINIMAL}base_url = \"not a url\"\n"));
        assert!(e.contains("pixeldojo.base_url"), "{e}");
        let e = err(&format!(
            "{}\napi_proxy = \"ftp://x\"\n[pixeldojo]\napi_key=\"k\"",
            "[discord]\ntoken=\"t\""
        ));
        assert!(e.contains("discord.api_proxy"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_value_names_its_key() {
        let e = err(&format!("{MINIMAL}\n[storage]\npath = 3\n"));
        assert!(e.contains("storage.path"), "{e}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let e = err("[discord]\ntoken = 12345678\n[pixeldojo]\napi_key = \"pd_secret_key\"\n");
        assert!(
            e.contains("discord.token") && !e.contains("12345678"),
            "{e}"
        );
        let c = Config::from_toml(MINIMAL, no_env, "t").unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("discord-secret-token") && !debug.contains("pd_secret_key"));
    }
}
