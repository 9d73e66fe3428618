//! `/omni-help`: what the bot does, its commands, the caps that apply to the caller where they
//! ask, and how to continue a clip (private).

use super::usage::{caller_caps, reply_privately};
use crate::discord::texts;
use crate::discord::{Context, Error};

/// Learn what omni-bot does, its commands, and the caps that apply to you here.
#[poise::command(slash_command, rename = "omni-help")]
pub async fn omni_help(ctx: Context<'_>) -> Result<(), Error> {
    let caps = caller_caps(&ctx).await?;
    let text = texts::help(&texts::HelpCaps {
        effective: &caps.effective,
        used: &caps.used,
        window: &caps.window,
        in_server: caps.guild.is_some(),
        dms_allowed: ctx.data().app.rules.allow_dms,
    });
    reply_privately(&ctx, text).await
}
