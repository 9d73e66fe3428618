//! Command-line arguments: which config file, how to log, and what to do.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Discord bot that turns prompts, images and videos into short AI clips with PixelDojo.
#[derive(Debug, Parser)]
#[command(name = "omni-bot", version, about)]
pub struct Cli {
    /// The TOML configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "OMNI_BOT_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,
    /// Log line format (the level comes from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot (the default).
    Run,
    /// Check the config file, the Discord token, the PixelDojo key and the store, one line each.
    Check,
    /// Print the link that adds the bot to a server, with exactly the permissions it needs.
    Invite,
    /// Exit 0 if the running bot's /healthz answers 200 (for container health checks).
    Healthcheck,
    /// Copy the embedded store (`storage.path`) into an empty PostgreSQL database
    /// (`storage.url`, or DATABASE_URL), to run more than one replica. Stop the bot first.
    MigrateStore {
        /// The store to copy from.
        #[arg(long, value_enum)]
        from: StoreKind,
        /// The store to copy into.
        #[arg(long, value_enum)]
        to: StoreKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sled,
    Postgres,
}
