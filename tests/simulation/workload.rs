//! What happens during one seed, drawn up front from the seed: users running `/omni` (in
//! servers and DMs), replies in conversations, buttons, cancels, the same event delivered
//! twice, admins changing caps, faults at the vendor and at Discord, and crashes of the bot
//! with downtimes from seconds to more than a day.

use rand::rngs::StdRng;
use rand::Rng;

use omni_bot::app::Restart;
use omni_bot::domain::ids::{ChannelId, GuildId, UserId};
use omni_bot::domain::quota::{LimitName, Limits};

use crate::vendor::VendorFault;

/// The servers, their channels (and whether the bot may open threads there), and the users.
pub const GUILDS: [(GuildId, [(ChannelId, bool); 3]); 2] = [
    (
        GuildId(1),
        [
            (ChannelId(101), true),
            (ChannelId(102), true),
            (ChannelId(103), false),
        ],
    ),
    (
        GuildId(2),
        [
            (ChannelId(201), true),
            (ChannelId(202), true),
            (ChannelId(203), true),
        ],
    ),
];
pub const USERS: [UserId; 6] = [
    UserId(11),
    UserId(12),
    UserId(13),
    UserId(14),
    UserId(15),
    UserId(16),
];
/// The operator's alert channel.
pub const ALERTS: ChannelId = ChannelId(900);

/// Where a `/omni` is run.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    Channel(ChannelId),
    Dm,
}

#[derive(Debug, Clone)]
pub enum Act {
    Omni {
        user: UserId,
        place: Place,
        duration: Option<i64>,
        /// The same interaction delivered again this long after.
        again_after_ms: Option<u64>,
    },
    /// A message in one of the bot's conversations (picked by `pick` when it happens).
    Reply {
        user: UserId,
        pick: u64,
        to_clip: bool,
        again: bool,
    },
    /// A button on a final message.
    Button {
        user: UserId,
        pick: u64,
        how: Restart,
        again: bool,
    },
    /// The requester cancels one of the jobs in flight.
    Cancel {
        pick: u64,
    },
    Admin {
        guild: GuildId,
        limit: LimitName,
        value: Option<u64>,
    },
    Vendor {
        fault: VendorFault,
        for_ms: i64,
    },
    ChatOutage {
        for_ms: i64,
    },
    DenySend {
        channel: ChannelId,
        for_ms: i64,
    },
    DenyAttach {
        channel: ChannelId,
        for_ms: i64,
    },
    CloseDms {
        user: UserId,
        for_ms: i64,
    },
    DeleteThread {
        pick: u64,
    },
    /// The bot dies with everything in memory and comes back after `down_ms`.
    Crash {
        down_ms: i64,
    },
}

/// One step of the workload, `at_ms` after the start.
#[derive(Debug, Clone)]
pub struct Step {
    pub at_ms: i64,
    pub act: Act,
}

/// The caps one seed runs with.
pub fn limits(rng: &mut StdRng) -> Limits {
    Limits {
        user_daily_videos: rng.gen_range(1..=6),
        guild_daily_videos: rng.gen_range(3..=25),
        user_concurrent_jobs: rng.gen_range(1..=3),
        guild_monthly_credits: if rng.gen_bool(0.5) {
            0
        } else {
            16 * rng.gen_range(3..=15)
        },
        global_daily_credits: if rng.gen_bool(0.5) {
            0
        } else {
            16 * rng.gen_range(4..=30)
        },
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn channel(rng: &mut StdRng) -> (GuildId, ChannelId) {
    let (guild, channels) = pick(rng, &GUILDS);
    (guild, pick(rng, &channels).0)
}

/// Draws a seed's workload: steps in time order.
pub fn draw(rng: &mut StdRng) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = 0i64;
    let actions = rng.gen_range(8..40);
    for _ in 0..actions {
        at += rng.gen_range(0..240_000);
        let roll = rng.gen_range(0..100);
        let user = pick(rng, &USERS);
        let act = match roll {
            0..=44 => Act::Omni {
                user,
                place: if rng.gen_bool(0.12) {
                    Place::Dm
                } else {
                    Place::Channel(channel(rng).1)
                },
                duration: rng.gen_bool(0.5).then(|| rng.gen_range(3..=10)),
                again_after_ms: rng.gen_bool(0.1).then(|| rng.gen_range(0..120_000)),
            },
            45..=59 => Act::Reply {
                user,
                pick: rng.gen(),
                to_clip: rng.gen_bool(0.5),
                again: rng.gen_bool(0.1),
            },
            60..=67 => Act::Button {
                user,
                pick: rng.gen(),
                how: pick(rng, &[Restart::Reroll, Restart::Flip, Restart::Again]),
                again: rng.gen_bool(0.1),
            },
            68..=72 => Act::Cancel { pick: rng.gen() },
            73..=76 => {
                let limit = pick(rng, &LimitName::ALL);
                let value = rng.gen_bool(0.8).then(|| match limit {
                    LimitName::UserDailyVideos => rng.gen_range(0..=6),
                    LimitName::GuildDailyVideos => rng.gen_range(0..=25),
                    LimitName::UserConcurrentJobs => rng.gen_range(1..=3),
                    LimitName::GuildMonthlyCredits => 16 * rng.gen_range(0..=15),
                });
                Act::Admin {
                    guild: pick(rng, &GUILDS).0,
                    limit,
                    value,
                }
            }
            77..=84 => Act::Vendor {
                fault: pick(
                    rng,
                    &[
                        VendorFault::ServerErrors,
                        VendorFault::Unavailable,
                        VendorFault::Unreachable,
                        VendorFault::Drops,
                        VendorFault::Malformed,
                        VendorFault::RateLimited,
                        VendorFault::KeyRevoked,
                    ],
                ),
                for_ms: rng.gen_range(5_000..3_600_000),
            },
            85..=88 => Act::ChatOutage {
                for_ms: rng.gen_range(5_000..7_200_000),
            },
            89..=90 => Act::DenySend {
                channel: channel(rng).1,
                for_ms: rng.gen_range(60_000..3_600_000),
            },
            91..=92 => Act::DenyAttach {
                channel: channel(rng).1,
                for_ms: rng.gen_range(60_000..3_600_000),
            },
            93 => Act::CloseDms {
                user,
                for_ms: rng.gen_range(60_000..3_600_000),
            },
            94 => Act::DeleteThread { pick: rng.gen() },
            _ => Act::Crash {
                down_ms: if rng.gen_bool(0.3) {
                    // A long downtime: past the job timeout, sometimes past a day.
                    rng.gen_range(20 * 60_000..30 * 3_600_000)
                } else {
                    rng.gen_range(100..120_000)
                },
            },
        };
        steps.push(Step { at_ms: at, act });
    }
    steps
}
