//! omni-bot: a Discord bot that turns a prompt (and optionally images or a video) into a short
//! AI video clip through PixelDojo's Gemini Omni Flash API, and posts the clip in a thread.
//!
//! # Layout
//! - `config`: the TOML configuration, its defaults and its validation.
//! - `request`: what a user may ask for, validated into types the API accepts (pure).
//! - `job`: a generation job and its state machine (pure).
//! - `pixeldojo`: the vendor API client and its typed errors.
//! - `queue`: who may start now: per-user concurrency and follow-up order (pure).
//! - `versions`: version labels of the clips in a conversation (pure).
//! - `budget`: the one request budget shared by every call to PixelDojo.
//! - `quota`: the usage policy: effective caps, day and month windows, allow or refuse (pure).
//! - `scheduler`: which running job to poll next (pure).
//! - `store`: every sled tree and its key layout.
//! - `chart`: PNG charts for usage reports (plotters).
//! - `tracker`: the background worker that submits, polls and delivers jobs.
//! - `cli`: command-line arguments.
//! - `ops`: the `check`, `invite` and `healthcheck` subcommands for server owners.
//! - `metrics`: `/healthz` and `/metrics` (Prometheus) for operators.
//! - `discord`: the Discord adapter: client setup, commands, events and message posting.

pub mod budget;
pub mod chart;
pub mod cli;
pub mod config;
pub mod discord;
pub mod job;
pub mod metrics;
pub mod ops;
pub mod pixeldojo;
pub mod queue;
pub mod quota;
pub mod request;
pub mod scheduler;
pub mod store;
pub mod tracker;
pub mod versions;
