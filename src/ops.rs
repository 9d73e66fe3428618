//! Setup and operations helpers behind the `check`, `invite` and `healthcheck` subcommands.
//!
//! Each prints a short report for a server owner: one line per check, with what to do about a
//! failure. Nothing here ever prints a secret: errors are described from their status and code,
//! never from request headers, and the token only ever leaves in the Authorization header.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret;

use poise::serenity_prelude as serenity;
use serenity::Permissions;

use crate::cli::StoreKind;
use crate::config::{Backend, Config, ConfigError, StorageConfig, ENV_DATABASE_URL};
use crate::discord::errors::{describe, discord_error};
use crate::pixeldojo::{ApiError, PixelDojoClient};
use crate::store::kv::Tree;
use crate::store::{Copied, Store, StoreError};

/// Exit status when every check passed.
pub const EXIT_OK: u8 = 0;
/// Exit status when a check failed (the config file itself was fine).
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit status for a configuration the bot cannot use (the same as for `run`).
pub const EXIT_CONFIG: u8 = 2;

/// Exactly what the bot needs in a channel: read it, post there, open a thread per clip, post in
/// that thread, upload the clip, show link previews, and read the replies it continues from.
pub const INVITE_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::CREATE_PUBLIC_THREADS)
    .union(Permissions::SEND_MESSAGES_IN_THREADS)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::EMBED_LINKS)
    .union(Permissions::READ_MESSAGE_HISTORY);

/// The OAuth2 link that adds the application's bot to a server with [`INVITE_PERMISSIONS`].
pub fn invite_url(application_id: u64) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot+applications.commands&permissions={}",
        INVITE_PERMISSIONS.bits()
    )
}

/// What the owner must switch on by hand, and what happens if they don't.
pub const MESSAGE_CONTENT_REMINDER: &str = "\
Also enable the Message Content intent: Developer Portal → your application → Bot → Privileged \
Gateway Intents → Message Content Intent. Without it the bot still works, but it cannot read \
ordinary messages in its threads: to ask for a change to a clip, users must reply to the clip \
or mention the bot.";

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub ok: bool,
    pub text: String,
}

impl CheckLine {
    fn pass(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
        }
    }
    fn fail(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
        }
    }
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { '✓' } else { '✗' };
        write!(f, "{mark} {}", self.text)
    }
}

/// The report line for a config file that cannot be used (the error already names the key).
pub fn config_failed(error: &ConfigError) -> CheckLine {
    CheckLine::fail(format!("Config: {error}"))
}

/// `omni-bot check`: the config (already loaded by the caller), the Discord token and the
/// PixelDojo key. Prints one line per check; returns the exit status.
pub async fn check(config: &Config, path: &Path) -> u8 {
    let lines = check_lines(config, path).await;
    for line in &lines {
        println!("{line}");
    }
    if lines.iter().all(|l| l.ok) {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    }
}

/// The checks of `omni-bot check`, in order.
pub async fn check_lines(config: &Config, path: &Path) -> Vec<CheckLine> {
    let config_line = CheckLine::pass(format!("Config: {} is valid.", path.display()));
    let (discord, pixeldojo, store) = tokio::join!(
        check_discord(config),
        check_pixeldojo(config),
        check_store(config)
    );
    vec![config_line, discord, pixeldojo, store]
}

/// The store opens (the PostgreSQL schema brought up to date) and answers.
async fn check_store(config: &Config) -> CheckLine {
    let storage = &config.storage;
    let store = match Store::open_configured(storage).await {
        Ok(store) => store,
        Err(StoreError::Sled(sled::Error::Io(e))) if e.kind() == std::io::ErrorKind::WouldBlock => {
            return CheckLine::pass(format!(
                "Store: {} is in use by a running omni-bot (only one process may open a sled folder).",
                storage.path.display()
            ))
        }
        Err(e) => return CheckLine::fail(format!("Store: {}", store_advice(storage, &e))),
    };
    let in_flight = match store.ping().await {
        Ok(()) => store.active_jobs().await.map(|jobs| jobs.len()),
        Err(e) => Err(e),
    };
    match (in_flight, storage.backend) {
        (Ok(n), Backend::Sled) => CheckLine::pass(format!(
            "Store: the sled folder {} opens ({n} jobs in flight).",
            storage.path.display()
        )),
        (Ok(n), Backend::Postgres) => CheckLine::pass(format!(
            "Store: PostgreSQL answers and its schema is up to date ({n} jobs in flight)."
        )),
        (Err(e), _) => CheckLine::fail(format!("Store: {}", store_advice(storage, &e))),
    }
}

fn store_advice(storage: &StorageConfig, e: &StoreError) -> String {
    match storage.backend {
        Backend::Sled => format!(
            "cannot open {}: {e}. Check that the folder can be written and `storage.path`.",
            storage.path.display()
        ),
        Backend::Postgres => format!(
            "{e}. Check `storage.url` (or {ENV_DATABASE_URL}) and that the database server is reachable."
        ),
    }
}

async fn check_discord(config: &Config) -> CheckLine {
    let http = crate::discord::http_client(config);
    match http.get_current_user().await {
        Ok(user) => CheckLine::pass(format!(
            "Discord: the bot token works (logged in as {}, id {}).",
            user.name, user.id
        )),
        Err(e) => CheckLine::fail(format!("Discord: {}", discord_advice(config, &e))),
    }
}

fn discord_advice(config: &Config, e: &serenity::Error) -> String {
    match discord_error(e) {
        Some((401, _)) => "Discord refused the bot token. In the Developer Portal open your application → Bot → Reset Token, and put the new token in `discord.token` (or DISCORD_TOKEN).".to_owned(),
        Some((status, _)) => format!(
            "Discord answered HTTP {status} when asked who the bot is ({}). Try again in a minute.",
            describe(e)
        ),
        None => {
            let target = match config.discord_proxy() {
                Some(proxy) => format!("Discord through `discord.api_proxy` ({proxy})"),
                None => "Discord".to_owned(),
            };
            format!(
                "cannot reach {target}: {}. Check the network (and `discord.api_proxy` if set).",
                describe(e)
            )
        }
    }
}

async fn check_pixeldojo(config: &Config) -> CheckLine {
    let client = PixelDojoClient::from_config(&config.pixeldojo);
    match client.check_key().await {
        Ok(()) => CheckLine::pass(format!(
            "PixelDojo: the API key works ({}).",
            config.pixeldojo.base_url
        )),
        Err(e) => CheckLine::fail(format!("PixelDojo: {}", pixeldojo_advice(config, &e))),
    }
}

fn pixeldojo_advice(config: &Config, e: &ApiError) -> String {
    match e {
        ApiError::Unauthorized => "PixelDojo refused the API key. Create a key in your PixelDojo account settings and put it in `pixeldojo.api_key` (or PIXELDOJO_API_KEY).".to_owned(),
        ApiError::InsufficientCredits => "the key works but the account has no credits left; top up on pixeldojo.ai.".to_owned(),
        ApiError::RateLimited => "PixelDojo is rate limiting this key right now; wait a minute and check again.".to_owned(),
        ApiError::NotSent(cause) | ApiError::Uncertain(cause) => format!(
            "cannot reach PixelDojo at {} ({cause}). Check the network and `pixeldojo.base_url`.",
            config.pixeldojo.base_url
        ),
        other => format!(
            "{other}. Check `pixeldojo.base_url` ({}), or try again later.",
            config.pixeldojo.base_url
        ),
    }
}

/// `omni-bot migrate-store --from sled --to postgres`: copies the sled folder into an empty
/// PostgreSQL database and says what it copied. Returns the exit status.
pub async fn migrate_store(config: &Config, from: StoreKind, to: StoreKind) -> u8 {
    let line = match (from, to) {
        (StoreKind::Sled, StoreKind::Postgres) => copy_sled_to_postgres(config).await,
        _ => CheckLine::fail(
            "Only `--from sled --to postgres` is supported: it moves a bot from its folder to a database shared by replicas.",
        ),
    };
    println!("{line}");
    if line.ok {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    }
}

async fn copy_sled_to_postgres(config: &Config) -> CheckLine {
    let path = &config.storage.path;
    if config.storage.url.expose_secret().trim().is_empty() {
        return CheckLine::fail(format!(
            "No database to copy into: set `storage.url`, or the {ENV_DATABASE_URL} environment variable, to an empty PostgreSQL database."
        ));
    }
    let source = match Store::open(path) {
        Ok(store) => store,
        Err(e) => {
            return CheckLine::fail(format!(
                "Cannot open {}: {e}. Stop the bot first: only one process may open the folder.",
                path.display()
            ))
        }
    };
    let database = StorageConfig {
        backend: Backend::Postgres,
        ..config.storage.clone()
    };
    let target = match Store::open_configured(&database).await {
        Ok(store) => store,
        Err(e) => return CheckLine::fail(store_advice(&database, &e)),
    };
    match target.is_empty().await {
        Ok(true) => {}
        Ok(false) => {
            return CheckLine::fail(
                "The database already holds omni-bot data, so nothing was copied. Point `storage.url` at an empty database.",
            )
        }
        Err(e) => return CheckLine::fail(store_advice(&database, &e)),
    }
    match source.copy_into(&target).await {
        Ok(copied) => CheckLine::pass(format!(
            "Copied {} from {} to PostgreSQL ({} records in all). Now set `storage.backend = \"postgres\"` and start the bot; keep the folder until the bot runs well.",
            describe_copy(&copied),
            path.display(),
            copied.total()
        )),
        Err(e) => CheckLine::fail(format!(
            "Copying stopped: {e}. The folder is unchanged; empty the database (drop and recreate it) and run the command again."
        )),
    }
}

/// "3 jobs (1 in flight), 2 conversations, …", in words an operator knows.
fn describe_copy(copied: &Copied) -> String {
    let parts = [
        (copied.of(Tree::Jobs), "jobs"),
        (copied.of(Tree::Threads), "conversations"),
        (copied.of(Tree::History), "clips in members' histories"),
        (copied.of(Tree::Counters), "usage counters"),
        (copied.of(Tree::Policies), "server caps"),
        (copied.of(Tree::Servers), "server settings"),
        (copied.of(Tree::Events), "handled Discord events"),
    ];
    let mut text: Vec<String> = parts
        .iter()
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    text[0] = format!("{} ({} in flight)", text[0], copied.of(Tree::Active));
    text.join(", ")
}

/// `omni-bot invite`: asks Discord for the application id and prints the invite link and the
/// Message Content reminder. Returns the exit status.
pub async fn invite(config: &Config) -> u8 {
    let http = crate::discord::http_client(config);
    match http.get_current_application_info().await {
        Ok(app) => {
            println!("Add the bot to a server with this link (you need Manage Server there):");
            println!();
            println!("  {}", invite_url(app.id.get()));
            println!();
            println!("It asks for exactly: View Channels, Send Messages, Create Public Threads, Send Messages in Threads, Attach Files, Embed Links, Read Message History.");
            println!();
            println!("{MESSAGE_CONTENT_REMINDER}");
            EXIT_OK
        }
        Err(e) => {
            println!(
                "{}",
                CheckLine::fail(format!(
                    "Discord: cannot read the application id: {}",
                    discord_advice(config, &e)
                ))
            );
            EXIT_CHECK_FAILED
        }
    }
}

/// The address to connect to for a server listening on `listen` (a wildcard address is reached
/// through loopback).
pub fn local_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `omni-bot healthcheck`: 0 if `/healthz` of the bot configured in `config` answers 200.
/// With metrics off there is nothing to ask, so it passes (and says so).
pub async fn healthcheck(config: &Config) -> u8 {
    let Some(metrics) = &config.metrics else {
        println!("metrics are off (no [metrics] section): nothing to check");
        return EXIT_OK;
    };
    let url = format!("http://{}/healthz", local_address(metrics.listen));
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            println!("{}", CheckLine::fail(format!("health: {e}")));
            return EXIT_CHECK_FAILED;
        }
    };
    match client.get(&url).send().await {
        Ok(resp) => {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let line = CheckLine {
                ok: status.is_success(),
                text: format!("health: {} {}", status.as_u16(), body.trim()),
            };
            println!("{line}");
            if line.ok {
                EXIT_OK
            } else {
                EXIT_CHECK_FAILED
            }
        }
        Err(e) => {
            println!("{}", CheckLine::fail(format!("health: {url}: {e}")));
            EXIT_CHECK_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invite_asks_for_exactly_the_seven_permissions_the_bot_uses() {
        // 1<<10 | 1<<11 | 1<<14 | 1<<15 | 1<<16 | 1<<35 | 1<<38
        assert_eq!(INVITE_PERMISSIONS.bits(), 309_237_763_072);
        assert_eq!(INVITE_PERMISSIONS.iter().count(), 7);
    }

    #[test]
    fn the_invite_url_has_both_scopes_and_the_permission_integer() {
        assert_eq!(
            invite_url(42),
            "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=309237763072"
        );
    }

    #[test]
    fn a_wildcard_listen_address_is_checked_through_loopback() {
        let a = local_address("0.0.0.0:9187".parse().unwrap());
        assert_eq!(a, "127.0.0.1:9187".parse().unwrap());
        let b = local_address("10.1.2.3:80".parse().unwrap());
        assert_eq!(b, "10.1.2.3:80".parse().unwrap());
    }

    #[test]
    fn report_lines_start_with_a_check_mark_or_a_cross() {
        assert_eq!(CheckLine::pass("a").to_string(), "✓ a");
        assert_eq!(CheckLine::fail("b").to_string(), "✗ b");
    }
}
