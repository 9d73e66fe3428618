//! omni-bot: a Discord bot that turns a prompt (and optionally images or a video) into a short
//! AI video clip through PixelDojo's Gemini Omni Flash API, and posts the clip in a thread.
//!
//! # Layout
//! Data flows one way: Discord event → `app` use case → `store` → `engine` → vendor → `engine`
//! → Discord message.
//! - `domain`: the core, free of the outside world: typed ids, requests and the kinds of file
//!   they take, jobs and why they fail, where a clip comes from (its line) and whether a
//!   message is meant for the bot, caps, the queue, version labels, the render-time model, the
//!   poll scheduler, prompt rules and what the bot does where it lacks a permission.
//! - `app`: the use cases, free of Discord: start a job, caps and who may change them, alerts,
//!   what a message in a conversation continues, what the buttons do, prompt rules, the mod
//!   log and checking permissions before promising.
//! - `engine`: drives each job from accepted to a clip or a reason in Discord, one step per
//!   module, through ports (vendor, Discord side, clock) it can be simulated behind.
//! - `pixeldojo`: the vendor API: wire format, HTTP client, typed errors, and the throttled
//!   client that owns the request budget.
//! - `store`: every key layout, over an ordered key-value layer with two backends (sled,
//!   PostgreSQL).
//! - `replica`: on a shared store, every replica works and takes up the jobs of those that stop.
//! - `discord`: the Discord adapter: startup wiring, commands, events, every user-facing
//!   sentence, and the transport the engine posts through.
//! - `config`: the TOML configuration, its defaults and its validation.
//! - `clock`: the injected wall clock.
//! - `metrics`: `/healthz` and `/metrics` (Prometheus) for operators.
//! - `chart`: PNG charts for usage reports.
//! - `cli`, `ops`: command-line arguments and the `check`, `invite`, `healthcheck` and
//!   `migrate-store` subcommands.

pub mod app;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod config;
pub mod discord;
pub mod domain;
pub mod engine;
pub mod metrics;
pub mod ops;
pub mod pixeldojo;
pub mod replica;
pub mod store;
