//! The bot's commands, one file per command group. Each `///` on a command is its help text and
//! its description in Discord.

pub mod admin;
pub mod animate;
pub mod help;
pub mod history;
pub mod omni;
pub mod usage;

use super::{Data, Error};

/// Every command the bot registers.
pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        omni::omni(),
        animate::animate(),
        usage::omni_usage(),
        help::omni_help(),
        history::omni_history(),
        admin::omni_admin(),
    ]
}
