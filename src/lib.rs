//! omni-bot: a Discord bot that turns a prompt (and optionally images or a video) into a short
//! AI video clip through PixelDojo's Gemini Omni Flash API, and posts the clip in a thread.
//!
//! # Layout
//! - `config`: the TOML configuration, its defaults and its validation.
//! - `request`: what a user may ask for, validated into types the API accepts (pure).
//! - `job`: a generation job and its state machine (pure).
//! - `pixeldojo`: the vendor API client and its typed errors.
//! - `queue`: who may start now: per-user concurrency and follow-up order (pure).
//! - `budget`: the one request budget shared by every call to PixelDojo.
//! - `scheduler`: which running job to poll next (pure).
//! - `store`: every sled tree and its key layout.
//! - `tracker`: the background worker that submits, polls and delivers jobs.
//! - `cli`: command-line arguments.
//! - `discord`: the Discord adapter: client setup, commands, events and message posting.

pub mod budget;
pub mod cli;
pub mod config;
pub mod discord;
pub mod job;
pub mod pixeldojo;
pub mod queue;
pub mod request;
pub mod scheduler;
pub mod store;
pub mod tracker;
