//! The `omni-bot` binary: parses arguments, loads the configuration, sets up logging, runs the
//! bot and reports why it stopped. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use omni_bot::cli::{Cli, Command, LogFormat};
use omni_bot::config::Config;
use tracing_subscriber::EnvFilter;

/// Exit status for a configuration the bot cannot use.
const EXIT_CONFIG: u8 = 2;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,serenity=warn,tracing::span=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omni-bot: {e}");
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
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => runtime.block_on(omni_bot::discord::run(config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omni-bot: {e:#}");
            ExitCode::FAILURE
        }
    }
}
