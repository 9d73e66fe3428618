//! The core of the product, free of the outside world: no Discord, no HTTP, no database. Each
//! module reads like the rules it holds and tests in milliseconds.
//!
//! - `ids`: typed ids (job, server, channel, user, message, event, conversation) and the scope
//!   of a request (a server or DMs).
//! - `request`: what a user may ask for, validated into types the API accepts.
//! - `job`: a job, its state machine, why it may fail, and what a failure gives back.
//! - `quota`: the usage policy: effective caps, day and month windows, allow or refuse.
//! - `queue`: who may start now: per-user concurrency and follow-up order.
//! - `versions`: version labels of the clips in a conversation.
//! - `render`: the render-time model learned per kind of request.
//! - `plan`: when to poll one job, at a price per poll (the schedule best for its model).
//! - `scheduler`: which running job to poll next.

pub mod ids;
pub mod job;
pub mod plan;
pub mod queue;
pub mod quota;
pub mod render;
pub mod request;
pub mod scheduler;
pub mod versions;
