//! The Discord adapter: builds the serenity client (optionally behind an HTTP proxy), registers
//! the commands, starts the tracker and resumes jobs. It translates Discord events into the
//! core's types and the core's outcomes into messages; it holds no business rules of its own.

pub mod admin;
pub mod animate;
pub mod buttons;
pub mod caps;
pub mod errors;
pub mod events;
pub mod followup;
pub mod health;
pub mod jobs;
pub mod notify;
pub mod omni;
pub mod usage;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use poise::serenity_prelude as serenity;
use secrecy::ExposeSecret;
use tracing::{error, info, warn};

use crate::budget::Budget;
use crate::config::Config;
use crate::pixeldojo::PixelDojoClient;
use crate::request::InputLimits;
use crate::store::Store;
use crate::tracker::{Tracker, TrackerSettings};
use notify::DiscordNotifier;

/// Shared state of every command and event handler.
pub struct Data {
    pub config: Arc<Config>,
    pub store: Store,
    pub tracker: Tracker<DiscordNotifier>,
    pub limits: InputLimits,
    /// Usage caps: admission on the one generation path, refunds, balance and alerts.
    pub caps: Arc<caps::Caps>,
    /// Whether the gateway and the store are up (served on `/healthz`).
    pub health: crate::metrics::Health,
}

pub type Error = anyhow::Error;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// Builds serenity's HTTP client, pointed at the configured proxy if there is one.
///
/// With a proxy, serenity's own rate limiter is turned off: a shared Discord HTTP proxy (such as
/// twilight-http-proxy) does the rate limiting for all its clients, and serenity 0.12.5 would
/// otherwise send rate-limited requests to discord.com directly, around the proxy.
pub fn http_client(config: &Config) -> serenity::Http {
    let mut builder = serenity::HttpBuilder::new(config.discord.token.expose_secret());
    if let Some(proxy) = config.discord_proxy() {
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    builder.build()
}

/// The gateway intents the bot asks for. Message Content is privileged: without it, the bot
/// only sees the text of DMs, mentions and replies to its own messages.
pub fn intents(message_content: bool) -> serenity::GatewayIntents {
    let base = serenity::GatewayIntents::GUILDS
        | serenity::GatewayIntents::GUILD_MESSAGES
        | serenity::GatewayIntents::DIRECT_MESSAGES;
    if message_content {
        base | serenity::GatewayIntents::MESSAGE_CONTENT
    } else {
        base
    }
}

/// Every command the bot registers.
pub fn commands() -> Vec<poise::Command<Data, Error>> {
    vec![
        omni::omni(),
        animate::animate(),
        usage::omni_usage(),
        admin::omni_admin(),
    ]
}

/// Runs the bot until the gateway connection ends for good or a shutdown signal arrives.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let store = Store::open(&config.storage.path)
        .with_context(|| format!("cannot open the store at {}", config.storage.path.display()))?;
    let health = crate::metrics::Health::new(store.clone());
    if let Some(metrics) = &config.metrics {
        // Before the Discord connection, so that /healthz answers 503 until it is up.
        crate::metrics::start(metrics.listen, health.clone()).await?;
    }
    let setup_health = health.clone();
    let api = PixelDojoClient::new(
        &config.pixeldojo.base_url,
        &config.pixeldojo.model,
        config.pixeldojo.api_key.clone(),
        Duration::from_secs(config.pixeldojo.request_timeout_seconds),
    );
    let limits =
        InputLimits::from_megabytes(config.inputs.max_image_mb, config.inputs.max_video_mb);
    let settings = TrackerSettings {
        job_timeout: Duration::from_secs(config.pixeldojo.job_timeout_minutes * 60),
        prior_render: Duration::from_secs(config.pixeldojo.expected_render_seconds),
        ..TrackerSettings::default()
    };
    let budget = Budget::per_minute(config.pixeldojo.max_requests_per_minute);
    // The tracker needs serenity's shared HTTP client, which exists only once the client is
    // built; setup fills this cell so that the shutdown path can reach the tracker too.
    let tracker_cell: Arc<OnceLock<Tracker<DiscordNotifier>>> = Arc::default();
    let setup_cell = tracker_cell.clone();
    let setup_store = store.clone();
    let setup_config = config.clone();
    let setup_caps =
        Arc::new(caps::Caps::new(&store, &config).context("cannot open the usage counters")?);

    let guild_id = config.discord.guild_id;
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: commands(),
            on_error: |e| Box::pin(errors::on_error(e)),
            event_handler: |framework, event| Box::pin(events::handle(framework, event)),
            ..Default::default()
        })
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
                let commands = &framework.options().commands;
                match guild_id {
                    Some(g) => {
                        poise::builtins::register_in_guild(ctx, commands, serenity::GuildId::new(g))
                            .await?
                    }
                    None => poise::builtins::register_globally(ctx, commands).await?,
                }
                info!(count = commands.len(), guild = ?guild_id, "commands registered");
                let notifier = DiscordNotifier::new(
                    ctx.http.clone(),
                    setup_store.clone(),
                    setup_config.discord.message_content_intent,
                );
                let tracker = Tracker::new(setup_store.clone(), api, notifier, budget, settings);
                let _ = setup_cell.set(tracker.clone());
                tracker.subscribe(Arc::new(crate::metrics::record));
                // Before resuming, so that jobs failing after a restart are refunded too.
                setup_caps.install(&tracker, ctx.http.clone());
                // Setup runs once per process, so the scheduler starts exactly once.
                tracker.start();
                let resumed = tracker.resume()?;
                if resumed > 0 {
                    info!(resumed, "resumed jobs that were in flight");
                }
                info!("bot ready");
                Ok(Data {
                    config: setup_config,
                    store: setup_store,
                    tracker,
                    limits,
                    caps: setup_caps,
                    health: setup_health,
                })
            })
        })
        .build();

    let mut client = serenity::ClientBuilder::new_with_http(
        http_client(&config),
        intents(config.discord.message_content_intent),
    )
    .framework(framework)
    .await
    .context("cannot build the Discord client")?;
    health.set_gateway_probe(health::gateway_probe(client.shard_manager.clone()));

    let shard_manager = client.shard_manager.clone();
    let signal_cell = tracker_cell.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutting down: no new work; jobs resume at the next start");
        if let Some(tracker) = signal_cell.get() {
            tracker.shutdown();
        }
        shard_manager.shutdown_all().await;
    });

    let result = client.start().await;
    // No new work; let jobs reach a persisted point (an upload under way finishes), then make
    // everything durable.
    if let Some(tracker) = tracker_cell.get() {
        tracker.shutdown();
        let left = tracker.drain(Duration::from_secs(8)).await;
        if left > 0 {
            warn!(
                left,
                "jobs still busy at exit; they resume at the next start"
            );
        }
    }
    if let Err(e) = store.flush().await {
        error!(error = %e, "flushing the store failed");
    }
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            warn!(error = %e, "the Discord client stopped");
            Err(anyhow::anyhow!(errors::describe_client_error(&e)))
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
