# syntax=docker/dockerfile:1
# omni-bot container image: a cargo-chef build (dependencies cached in their own layer) and a
# distroless runtime (glibc and CA certificates, no shell) running as a non-root user.
#
#   docker build -t omni-bot .
#   docker run -e DISCORD_TOKEN=... -e PIXELDOJO_API_KEY=... -v omni-data:/data -p 9187:9187 omni-bot
#
# Configuration: the baked-in /etc/omni-bot/config.toml (docker/config.toml) takes the secrets from
# DISCORD_TOKEN and PIXELDOJO_API_KEY; mount your own file over it, or point OMNI_BOT_CONFIG at one.

FROM lukemathwalker/cargo-chef:latest-rust-1-bookworm AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Only the dependencies: this layer is reused until Cargo.toml or Cargo.lock change.
RUN cargo chef cook --release --locked --bin omni-bot --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin omni-bot \
    && mkdir -p /out/data \
    && cp target/release/omni-bot /out/omni-bot

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/omni-bot /usr/local/bin/omni-bot
COPY docker/config.toml /etc/omni-bot/config.toml
# A replica on PostgreSQL uses this one instead (OMNI_BOT_CONFIG; compose.yaml's replicas profile).
COPY docker/config.postgres.toml /etc/omni-bot/config.postgres.toml
# The sled database lives on this volume (storage.path in docker/config.toml), owned by the
# runtime user so that a fresh named volume is writable.
COPY --from=builder --chown=65532:65532 /out/data /data
ENV OMNI_BOT_CONFIG=/etc/omni-bot/config.toml \
    RUST_LOG=info
USER 65532:65532
VOLUME ["/data"]
# /healthz and /metrics ([metrics] listen in docker/config.toml).
EXPOSE 9187
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/omni-bot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/omni-bot"]
CMD ["run"]
