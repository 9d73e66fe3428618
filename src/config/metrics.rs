//! `[metrics]`: where `/healthz` and `/metrics` are served. The whole section is optional; without
//! it the bot opens no port.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use serde::Deserialize;

/// The port of the metrics server when `[metrics]` is present without `listen`, and the one the
/// Dockerfile exposes.
pub const DEFAULT_METRICS_PORT: u16 = 9187;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address and port of the health and metrics server (`host:port`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DEFAULT_METRICS_PORT))
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}
