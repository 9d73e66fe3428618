//! What an operator sees without reading logs: `/healthz` and `/metrics` on `[metrics] listen`.
//!
//! `/healthz` answers 200 only while the Discord gateway is connected and the store answers, 503
//! otherwise, with a JSON body saying which part is down. `/metrics` is the Prometheus text
//! rendered by `metrics-exporter-prometheus` from what [`record`] counts of the engine's events.
//! Every series exists from start-up (at 0), so dashboards and alerts need no first job. This module knows nothing of
//! serenity: the Discord adapter hands [`Health`] a probe that reports the gateway's state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tracing::{info, warn};

use crate::domain::job::StateName;
use crate::engine::{DiscordError, Endpoint, EngineEvent, Outcome, RefusalReason};
use crate::store::Store;

/// Metric names, in one place so the README and the tests can name them.
pub mod names {
    /// Jobs that entered a state (`state` label).
    pub const JOBS: &str = "omni_jobs_total";
    /// Requests to PixelDojo (`endpoint`: submit, poll, download; `outcome`).
    pub const PIXELDOJO_REQUESTS: &str = "omni_pixeldojo_requests_total";
    /// Requests PixelDojo answered with 429 (`endpoint`).
    pub const PIXELDOJO_RATE_LIMITED: &str = "omni_pixeldojo_rate_limited_total";
    /// Seconds from submit to the poll that saw the clip finished.
    pub const RENDER_SECONDS: &str = "omni_render_seconds";
    /// Seconds from that poll to the clip (or its link) being posted in Discord.
    pub const DELIVERY_DELAY_SECONDS: &str = "omni_delivery_delay_seconds";
    /// PixelDojo credits spent on submitted jobs.
    pub const CREDITS_SPENT: &str = "omni_credits_spent_total";
    /// Clips posted as a link instead of a file.
    pub const UPLOAD_FALLBACKS: &str = "omni_upload_link_fallbacks_total";
    /// Discord REST calls that failed (`kind`).
    pub const DISCORD_ERRORS: &str = "omni_discord_errors_total";
    /// Job tasks that panicked (each ended with an apology to the user).
    pub const PANICS: &str = "omni_job_panics_total";
    /// Times PixelDojo rejected the API key.
    pub const KEY_REJECTED: &str = "omni_pixeldojo_key_rejected_total";
    /// Requests refused before they became jobs (`reason`).
    pub const REFUSALS: &str = "omni_refusals_total";
    /// Jobs in flight now, by state (`state`: the states before a final one).
    pub const JOBS_IN_FLIGHT: &str = "omni_jobs_in_flight";
}

/// The states a job in flight can be in (the gauge's label values).
fn in_flight_states() -> impl Iterator<Item = StateName> {
    StateName::ALL
        .into_iter()
        .filter(|s| !matches!(s, StateName::Delivered | StateName::Failed))
}

/// Buckets of the two histograms, in seconds: renders take tens of seconds to minutes,
/// deliveries (download + upload) a fraction of a second to tens of seconds.
const RENDER_BUCKETS: &[f64] = &[
    5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];
const DELIVERY_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0];

/// The gateway as the Discord adapter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// The client is not built yet.
    Starting,
    /// Connecting, identifying or resuming.
    Connecting,
    Connected,
    Disconnected,
}

impl Gateway {
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Starting => "starting",
            Gateway::Connecting => "connecting",
            Gateway::Connected => "connected",
            Gateway::Disconnected => "disconnected",
        }
    }
}

/// Reports the gateway's current state when asked.
pub type GatewayProbe = Arc<dyn Fn() -> BoxFuture<'static, Gateway> + Send + Sync>;

/// Counts the jobs in flight by state when asked (the engine's registry).
pub type JobsProbe = Arc<dyn Fn() -> BTreeMap<StateName, usize> + Send + Sync>;

/// Whether the bot can do its work: shared by the health endpoint and the Discord adapter.
/// Cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<HealthInner>,
}

struct HealthInner {
    store: Store,
    gateway: std::sync::Mutex<Option<GatewayProbe>>,
    jobs: OnceLock<JobsProbe>,
}

/// The body of `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub gateway: &'static str,
    pub store: &'static str,
    /// Which store answers: "sled" or "postgres".
    pub backend: &'static str,
}

impl HealthReport {
    pub fn healthy(&self) -> bool {
        self.gateway == Gateway::Connected.as_str() && self.store == "ok"
    }
}

impl Health {
    pub fn new(store: Store) -> Self {
        Self {
            inner: Arc::new(HealthInner {
                store,
                gateway: std::sync::Mutex::default(),
                jobs: OnceLock::new(),
            }),
        }
    }

    /// Sets how to ask the gateway for its state (replacing the probe of an earlier phase:
    /// standing by, then connecting).
    pub fn set_gateway_probe(&self, probe: GatewayProbe) {
        *self
            .inner
            .gateway
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(probe);
    }

    /// Sets how to count the jobs in flight; the first probe set wins.
    pub fn set_jobs_probe(&self, probe: JobsProbe) {
        let _ = self.inner.jobs.set(probe);
    }

    /// The jobs in flight by state (none before the engine is up).
    pub fn jobs_by_state(&self) -> BTreeMap<StateName, usize> {
        self.inner
            .jobs
            .get()
            .map(|probe| probe())
            .unwrap_or_default()
    }

    pub async fn gateway(&self) -> Gateway {
        let probe = self
            .inner
            .gateway
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match probe {
            Some(probe) => probe().await,
            None => Gateway::Starting,
        }
    }

    pub async fn report(&self) -> HealthReport {
        let gateway = self.gateway().await;
        let store = if self.inner.store.ping().await.is_ok() {
            "ok"
        } else {
            "error"
        };
        HealthReport {
            gateway: gateway.as_str(),
            store,
            backend: self.inner.store.kind(),
        }
    }
}

/// Installs the process-wide Prometheus recorder. Call once, inside the tokio runtime (the
/// exporter spawns its upkeep task there).
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(names::RENDER_SECONDS.into()), RENDER_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(names::DELIVERY_DELAY_SECONDS.into()),
            DELIVERY_BUCKETS,
        )?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    describe();
    zero();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(names::JOBS, "Jobs that entered each state.");
    describe_counter!(
        names::PIXELDOJO_REQUESTS,
        "Requests to PixelDojo by endpoint and outcome."
    );
    describe_counter!(
        names::PIXELDOJO_RATE_LIMITED,
        "Requests PixelDojo answered with 429, by endpoint."
    );
    describe_histogram!(
        names::RENDER_SECONDS,
        Unit::Seconds,
        "From submit to the poll that saw the clip finished."
    );
    describe_histogram!(
        names::DELIVERY_DELAY_SECONDS,
        Unit::Seconds,
        "From the poll that saw the clip finished to the post in Discord."
    );
    describe_counter!(
        names::CREDITS_SPENT,
        "PixelDojo credits spent on submitted jobs."
    );
    describe_counter!(
        names::UPLOAD_FALLBACKS,
        "Clips posted as a link because the file could not be uploaded."
    );
    describe_counter!(names::DISCORD_ERRORS, "Discord REST calls that failed.");
    describe_counter!(names::PANICS, "Job tasks that panicked.");
    describe_counter!(names::KEY_REJECTED, "Times PixelDojo rejected the API key.");
    describe_counter!(
        names::REFUSALS,
        "Requests refused before they became jobs, by reason."
    );
    metrics::describe_gauge!(names::JOBS_IN_FLIGHT, "Jobs in flight now, by state.");
}

/// Sets the jobs-in-flight gauge from a count by state (states not counted are 0).
fn set_jobs_in_flight(counts: &BTreeMap<StateName, usize>) {
    for state in in_flight_states() {
        let n = counts.get(&state).copied().unwrap_or(0);
        metrics::gauge!(names::JOBS_IN_FLIGHT, "state" => state.as_str()).set(n as f64);
    }
}

/// Creates every series at 0, for every known label value.
fn zero() {
    for state in StateName::ALL {
        metrics::counter!(names::JOBS, "state" => state.as_str()).absolute(0);
    }
    for endpoint in Endpoint::ALL {
        for outcome in Outcome::ALL {
            metrics::counter!(names::PIXELDOJO_REQUESTS, "endpoint" => endpoint.as_str(), "outcome" => outcome.as_str())
                .absolute(0);
        }
        metrics::counter!(names::PIXELDOJO_RATE_LIMITED, "endpoint" => endpoint.as_str())
            .absolute(0);
    }
    for kind in DiscordError::ALL {
        metrics::counter!(names::DISCORD_ERRORS, "kind" => kind.as_str()).absolute(0);
    }
    for reason in RefusalReason::ALL {
        metrics::counter!(names::REFUSALS, "reason" => reason.as_str()).absolute(0);
    }
    set_jobs_in_flight(&BTreeMap::new());
    // Histograms exist once registered; with no sample yet they render their buckets at 0.
    let _ = metrics::histogram!(names::RENDER_SECONDS);
    let _ = metrics::histogram!(names::DELIVERY_DELAY_SECONDS);
    for name in [
        names::CREDITS_SPENT,
        names::UPLOAD_FALLBACKS,
        names::PANICS,
        names::KEY_REJECTED,
    ] {
        metrics::counter!(name).absolute(0);
    }
}

/// Records one engine event (the hook the start-up wiring gives the engine).
pub fn record(event: &EngineEvent<'_>) {
    match event {
        EngineEvent::StateChanged { job, .. } => {
            metrics::counter!(names::JOBS, "state" => job.state.name().as_str()).increment(1);
        }
        EngineEvent::Submitted { credit_cost, .. } => {
            let cost = credit_cost.map_or(crate::domain::quota::CLIP_CREDITS, u64::from);
            metrics::counter!(names::CREDITS_SPENT).increment(cost);
        }
        EngineEvent::Request { endpoint, outcome } => {
            metrics::counter!(names::PIXELDOJO_REQUESTS, "endpoint" => endpoint.as_str(), "outcome" => outcome.as_str())
                .increment(1);
            if *outcome == Outcome::RateLimited {
                metrics::counter!(names::PIXELDOJO_RATE_LIMITED, "endpoint" => endpoint.as_str())
                    .increment(1);
            }
        }
        EngineEvent::Rendered { render_ms, .. } => {
            metrics::histogram!(names::RENDER_SECONDS).record(*render_ms as f64 / 1000.0);
        }
        EngineEvent::Delivered {
            delay_ms, as_link, ..
        } => {
            metrics::histogram!(names::DELIVERY_DELAY_SECONDS).record(*delay_ms as f64 / 1000.0);
            if *as_link {
                metrics::counter!(names::UPLOAD_FALLBACKS).increment(1);
            }
        }
        EngineEvent::KeyRejected => metrics::counter!(names::KEY_REJECTED).increment(1),
        EngineEvent::Panicked { .. } => metrics::counter!(names::PANICS).increment(1),
        EngineEvent::DiscordError { kind } => {
            metrics::counter!(names::DISCORD_ERRORS, "kind" => kind.as_str()).increment(1);
        }
        EngineEvent::Refused { reason } => {
            metrics::counter!(names::REFUSALS, "reason" => reason.as_str()).increment(1);
        }
        EngineEvent::PermissionMissing { .. } => {}
    }
}

#[derive(Clone)]
struct ServerState {
    health: Health,
    prometheus: PrometheusHandle,
}

/// The two routes, on their own so tests can serve them on any listener.
pub fn router(health: Health, prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(ServerState { health, prometheus })
}

/// Installs the recorder and serves `/healthz` and `/metrics` on `listen` in the background.
pub async fn start(listen: SocketAddr, health: Health) -> anyhow::Result<SocketAddr> {
    let prometheus = install_recorder()?;
    serve(listen, health, prometheus).await
}

/// Binds `listen` (failing start-up if it cannot) and serves the routes in the background.
pub async fn serve(
    listen: SocketAddr,
    health: Health,
    prometheus: PrometheusHandle,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on `metrics.listen` ({listen})"))?;
    let addr = listener.local_addr()?;
    let app = router(health, prometheus);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "the metrics server stopped");
        }
    });
    info!(%addr, "serving /healthz and /metrics");
    Ok(addr)
}

async fn healthz(State(state): State<ServerState>) -> impl IntoResponse {
    let report = state.health.report().await;
    let status = if report.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

async fn render_metrics(State(state): State<ServerState>) -> impl IntoResponse {
    set_jobs_in_flight(&state.health.jobs_by_state());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.prometheus.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn health_is_not_ok_until_the_gateway_reports_connected() {
        let (_dir, store) = store();
        let health = Health::new(store);
        let report = health.report().await;
        assert_eq!(report.gateway, "starting");
        assert!(!report.healthy());
        health.set_gateway_probe(Arc::new(|| Box::pin(async { Gateway::Connected })));
        let report = health.report().await;
        assert!(report.healthy(), "{report:?}");
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"gateway":"connected","store":"ok","backend":"sled"}"#
        );
    }

    #[test]
    fn engine_events_become_prometheus_series_and_every_series_starts_at_zero() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(names::RENDER_SECONDS.into()), RENDER_BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            zero();
            record(&EngineEvent::Request {
                endpoint: Endpoint::Poll,
                outcome: Outcome::RateLimited,
            });
            record(&EngineEvent::Request {
                endpoint: Endpoint::Poll,
                outcome: Outcome::Ok,
            });
            record(&EngineEvent::Refused {
                reason: RefusalReason::PromptRule,
            });
            set_jobs_in_flight(&[(StateName::Running, 3)].into());
        });
        let text = handle.render();
        assert!(
            text.contains(
                r#"omni_pixeldojo_requests_total{endpoint="poll",outcome="rate_limited"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"omni_pixeldojo_rate_limited_total{endpoint="poll"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"omni_jobs_total{state="delivered"} 0"#),
            "{text}"
        );
        assert!(text.contains("omni_job_panics_total 0"), "{text}");
        assert!(
            text.contains(r#"omni_refusals_total{reason="prompt_rule"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"omni_refusals_total{reason="dms_off"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"omni_jobs_in_flight{state="running"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"omni_jobs_in_flight{state="queued"} 0"#),
            "{text}"
        );
        assert!(!text.contains(r#"omni_jobs_in_flight{state="delivered"}"#));
        assert!(text.contains("omni_render_seconds_count 0"), "{text}");
    }
}
