//! The core of the product, free of the outside world: no Discord, no HTTP, no database. Each
//! module reads like the rules it holds and tests in milliseconds.
//!
//! - `ids`: typed ids (job, server, channel, user, message, event, conversation) and the scope
//!   of a request (a server or DMs).
//! - `request`: what a user may ask for, validated into types the API accepts.
//! - `media`: what kind of file a user attached, against what the vendor takes.
//! - `intent`: whether a message in a clip's thread is meant for the bot, and whose count.
//! - `lineage`: where a clip comes from (its line, the button that made it) and its shape.
//! - `job`: a job, its state machine, why it may fail, and what a failure gives back.
//! - `quota`: the usage policy: effective caps, day and month windows, allow or refuse.
//! - `queue`: who may start now: per-user concurrency and follow-up order.
//! - `versions`: version labels of the clips in a conversation.
//! - `render`: the render-time model learned per kind of request.
//! - `scheduler`: which running job to poll next.
//! - `moderation`: prompt rules (whole words and phrases) and the mod log's place.
//! - `permissions`: what the bot may do in a channel, and what it does instead.

pub mod ids;
pub mod intent;
pub mod job;
pub mod lineage;
pub mod media;
pub mod moderation;
pub mod permissions;
pub mod queue;
pub mod quota;
pub mod render;
pub mod request;
pub mod scheduler;
pub mod versions;
