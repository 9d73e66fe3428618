//! The `omni-bot` binary: parses arguments, loads the configuration, sets up logging, runs the
//! bot and reports why it stopped. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use omni_bot::cli::{Cli, Command, LogFormat};
use omni_bot::config::Config;
use omni_bot::ops::EXIT_CONFIG;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        // serenity warns at every attempt to reach a gateway that is down; the bot says it once.
        .unwrap_or_else(|_| {
            EnvFilter::new("info,serenity=warn,serenity::gateway::bridge=error,tracing::span=warn")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        // Each line carries the span it was logged in (`span`) and all its parents (`spans`),
        // so a job's lines have its `job`, `guild` and `user` fields.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let command = cli.command.unwrap_or(Command::Run);
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            if matches!(command, Command::Check) {
                println!("{}", omni_bot::ops::config_failed(&e));
            } else {
                eprintln!("omni-bot: {e}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("omni-bot: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Run => runtime.block_on(omni_bot::discord::run(config)),
        Command::Check => {
            return ExitCode::from(runtime.block_on(omni_bot::ops::check(&config, &cli.config)))
        }
        Command::Invite => return ExitCode::from(runtime.block_on(omni_bot::ops::invite(&config))),
        Command::Healthcheck => {
            return ExitCode::from(runtime.block_on(omni_bot::ops::healthcheck(&config)))
        }
        Command::MigrateStore { from, to } => {
            return ExitCode::from(
                runtime.block_on(omni_bot::ops::migrate_store(&config, from, to)),
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omni-bot: {e:#}");
            ExitCode::FAILURE
        }
    }
}
