//! Start-up: opens the store, serves `/healthz`, builds the Discord client, and, once Discord
//! says hello, wires the app (engine, vendor client, caps, alerts) to the real ports, registers
//! the commands and resumes the jobs in flight. On a signal it stops taking work, lets jobs
//! reach a persisted point and flushes the store.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use poise::serenity_prelude as serenity;
use tracing::{error, info, warn};

use super::chat::DiscordChat;
use super::{claims, commands, errors, events, health, http_client, intents, Data};
use crate::app::{App, AppParts, Caps, Rules};
use crate::clock::SystemClock;
use crate::config::{Backend, Config, StorageConfig};
use crate::domain::request::InputLimits;
use crate::domain::scheduler::Tuning;
use crate::engine::{EngineSettings, EventHook};
use crate::pixeldojo::{PixelDojoClient, ThrottleSettings};
use crate::replica;
use crate::store::Store;

/// How long the shards get to close their connections on a stop.
const SHARD_SHUTDOWN: Duration = Duration::from_secs(2);
/// How long the client gets to end after its shards were told to stop.
const CLIENT_GRACE: Duration = Duration::from_secs(1);
/// How long jobs get to reach a persisted point on a stop.
const DRAIN: Duration = Duration::from_secs(5);

/// The engine's settings from the configuration.
pub fn engine_settings(config: &Config) -> EngineSettings {
    let p = &config.pixeldojo;
    EngineSettings {
        job_timeout: Duration::from_secs(p.job_timeout_minutes * 60),
        prior_render: Duration::from_secs(p.expected_render_seconds),
        intent_tip: !config.discord.message_content_intent,
        tuning: Tuning {
            min_gap_ms: (p.min_poll_interval_seconds * 1000) as f64,
        },
        ..EngineSettings::default()
    }
}

/// The throttled client's settings from the configuration.
pub fn throttle_settings(config: &Config) -> ThrottleSettings {
    let p = &config.pixeldojo;
    ThrottleSettings {
        requests_per_minute: p.max_requests_per_minute,
        max_concurrent_downloads: p.max_concurrent_downloads,
        downloads_use_budget: p.downloads_use_api_budget,
        download_hosts: p.download_hosts(),
    }
}

/// Everything the app is built from, with the real vendor client and the given Discord side.
pub fn app_parts(
    config: &Config,
    store: Store,
    chat: Arc<dyn crate::engine::ports::Chat>,
) -> AppParts {
    AppParts {
        store,
        vendor: Arc::new(PixelDojoClient::from_config(&config.pixeldojo)),
        chat,
        clock: Arc::new(SystemClock),
        engine: engine_settings(config),
        throttle: throttle_settings(config),
        caps: Caps::new(config.limits.defaults(), config.limits.time_zone())
            .with_dm_daily(config.limits.dm_daily()),
        alerts: config.alerts.clone(),
        limits: InputLimits::from_megabytes(config.inputs.max_image_mb, config.inputs.max_video_mb),
        seeds: Arc::new(|| i64::from(rand::random::<u32>())),
        hooks: vec![Arc::new(crate::metrics::record) as EventHook],
        rules: Rules {
            allow_dms: config.discord.allow_dms,
            blocked_terms: config.moderation.terms(),
        },
        plain_messages: config.conversations.plain_messages,
    }
}

/// What "cannot open …" names: the folder, or the database without its URL (a secret).
fn store_name(storage: &StorageConfig) -> String {
    match storage.backend {
        Backend::Sled => format!("cannot open the store at {}", storage.path.display()),
        Backend::Postgres => "cannot open the PostgreSQL store at `storage.url`".to_owned(),
    }
}

/// Runs the bot until the gateway connection ends for good or a shutdown signal arrives.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let store = Store::open_configured(&config.storage)
        .await
        .with_context(|| store_name(&config.storage))?;
    info!(backend = store.kind(), "store open");
    let health = crate::metrics::Health::new(store.clone());
    if let Some(metrics) = &config.metrics {
        // Before the Discord connection, so that /healthz answers 503 until it is up.
        crate::metrics::start(metrics.listen, health.clone()).await?;
    }
    // The app needs serenity's shared HTTP client, which exists only once the client is built;
    // setup fills this cell so that the shutdown path and the replica loop can reach it too.
    let app_cell: Arc<OnceLock<App>> = Arc::default();
    // On a shared store every replica works: each joins the others and takes its share.
    let (store, replica) = match config.storage.backend {
        Backend::Sled => (store, None),
        Backend::Postgres => {
            let store = store.as_replica(&replica::name());
            let period = config.storage.lease_period();
            let running = replica::start(store.clone(), period, app_cell.clone())
                .await
                .context("cannot join the replicas in the PostgreSQL store")?;
            (store, Some(running))
        }
    };
    let setup_cell = app_cell.clone();
    let setup_config = config.clone();
    let setup_health = health.clone();
    let setup_store = store.clone();
    let guild_id = config.discord.guild_id;
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: commands::all(),
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
                let chat = Arc::new(DiscordChat::new(ctx.http.clone()));
                let app = App::build(app_parts(&setup_config, setup_store.clone(), chat));
                if setup_store.replica().is_some() {
                    // No share of the vendor's budget until the other replicas made room.
                    app.engine.set_budget_share(0);
                }
                let _ = setup_cell.set(app.clone());
                let engine = app.engine.clone();
                setup_health.set_jobs_probe(Arc::new(move || engine.jobs_by_state()));
                // Setup runs once per process, so the poll loop starts exactly once.
                app.engine.start();
                // Replicas take their jobs up in the replica loop, once they know who is alive.
                if setup_store.replica().is_none() {
                    let resumed = app.engine.resume().await?;
                    if resumed > 0 {
                        info!(resumed, "resumed jobs that were in flight");
                    }
                }
                match setup_store.sweep_drafts(app.clock.now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => info!(removed = n, "removed expired drafts"),
                    Err(e) => warn!(error = %e, "cannot remove expired drafts"),
                }
                info!("bot ready");
                Ok(Data {
                    config: setup_config,
                    app,
                    health: setup_health,
                })
            })
        })
        .build();

    let mut client = serenity::ClientBuilder::new_with_http(
        http_client(&config),
        intents(config.discord.message_content_intent),
    )
    .framework(claims::FirstToHandle::new(framework, store.clone()))
    .await
    .context("cannot build the Discord client")?;
    health.set_gateway_probe(health::gateway_probe(client.shard_manager.clone()));

    health::watch_gateway(health.clone());
    let shard_manager = client.shard_manager.clone();
    let signal_cell = app_cell.clone();
    let stopping = Arc::new(tokio::sync::Notify::new());
    let stop = stopping.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutting down: no new work; jobs resume at the next start");
        if let Some(app) = signal_cell.get() {
            app.engine.shutdown();
        }
        // serenity's shutdown_all returns at once when no shard is connected (Discord down,
        // reconnecting): then the client never ends by itself, so the stop is signalled anyway.
        let _ = tokio::time::timeout(SHARD_SHUTDOWN, shard_manager.shutdown_all()).await;
        stop.notify_one();
    });

    let result = {
        let started = connect(&mut client, config.discord.shard_range());
        tokio::pin!(started);
        tokio::select! {
            result = &mut started => result,
            _ = stopping.notified() => {
                match tokio::time::timeout(CLIENT_GRACE, &mut started).await {
                    Ok(result) => result,
                    // Still retrying to connect: nothing of ours is in it; stop waiting.
                    Err(_) => Ok(()),
                }
            }
        }
    };
    // No new work; let jobs reach a persisted point (an upload under way finishes), then make
    // everything durable. The whole stop stays within the 10 s that supervisors allow.
    if let Some(app) = app_cell.get() {
        app.engine.shutdown();
        let left = app.engine.drain(DRAIN).await;
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
    if let Some(running) = replica {
        running.leave().await;
    }
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            warn!(error = %errors::describe(&e), "the Discord client stopped");
            Err(anyhow::anyhow!(errors::describe_client_error(&e)))
        }
    }
}

/// Connects the shards: the only one (`client.start()`), or the range `discord.shards` names.
async fn connect(
    client: &mut serenity::Client,
    shards: Option<crate::config::ShardRange>,
) -> serenity::Result<()> {
    match shards {
        None => client.start().await,
        Some(range) => {
            info!(shards = %range, count = range.count(), "connecting a range of shards");
            // serenity 0.12 takes the range's end as the last shard (inclusive), not past it.
            client
                .start_shard_range(range.first..range.last, range.total)
                .await
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
