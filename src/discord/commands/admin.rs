//! `/omni-admin`: server admins see and change the server's usage caps, allowances, channels,
//! prompt rules and mod log, and see its usage and its clips in flight. Registered with the
//! Manage Server default permission, and checked again here from the member's permissions in
//! the interaction, because server owners can change command permissions (and Discord does not
//! apply them to subcommands separately). `jobs` also answers moderators (Manage Messages).
//!
//! - `caps`: `limits`, `set`, `allowance-role`, `allowance-user`, `reset-user`, `usage`;
//! - `channels`: `channels allow | deny | clear`;
//! - `moderation`: `prompt-rules add | remove | list`, `mod-log`, `jobs`;
//! - `follow_ups`: `follow-ups` (whose plain messages continue a clip).
//!
//! Every answer is private and fits Discord's limits: a long one comes in pages, and one too
//! long for a few pages comes as a file.

mod caps;
mod channels;
mod follow_ups;
mod moderation;

pub use caps::LimitChoice;

use poise::serenity_prelude as serenity;

use crate::discord::errors::UserError;
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::GuildId;

/// Who may use `/omni-admin`: members with Manage Server (or Administrator) in the interaction.
fn require_admin(ctx: &Context<'_>) -> Result<GuildId, Error> {
    let guild = ctx
        .guild_id()
        .ok_or_else(|| UserError(texts::SERVER_ONLY.into()))?;
    let permissions = match ctx {
        poise::Context::Application(app) => {
            app.interaction.member.as_ref().and_then(|m| m.permissions)
        }
        poise::Context::Prefix(_) => None,
    };
    if permissions.is_some_and(|p| p.manage_guild() || p.administrator()) {
        Ok(GuildId(guild.get()))
    } else {
        Err(UserError(texts::ADMIN_ONLY.into()).into())
    }
}

/// Who may see the server's clips in flight: moderators (Manage Messages) and admins.
fn require_moderator(ctx: &Context<'_>) -> Result<GuildId, Error> {
    let guild = ctx
        .guild_id()
        .ok_or_else(|| UserError(texts::SERVER_ONLY.into()))?;
    let permissions = match ctx {
        poise::Context::Application(app) => {
            app.interaction.member.as_ref().and_then(|m| m.permissions)
        }
        poise::Context::Prefix(_) => None,
    };
    if permissions.is_some_and(|p| p.manage_messages() || p.manage_guild() || p.administrator()) {
        Ok(GuildId(guild.get()))
    } else {
        Err(UserError(texts::MODERATORS_ONLY.into()).into())
    }
}

/// At most this many private messages for one answer; longer ones come as a file.
const MAX_PAGES: usize = 4;

/// A private answer in as many messages as it takes (each within Discord's 2,000 characters),
/// or, when that would be too many, its first page with the whole answer as a text file.
async fn reply_pages(ctx: Context<'_>, text: String) -> Result<(), Error> {
    let pages = texts::paginate(&text, texts::CONTENT_MAX);
    if pages.len() > MAX_PAGES {
        let first = texts::paginate(&pages[0], texts::CONTENT_MAX - 200).remove(0);
        let content = format!("{first}\n{}", texts::WHOLE_ANSWER_ATTACHED);
        let file = serenity::CreateAttachment::bytes(text.into_bytes(), "omni-admin.txt");
        ctx.send(
            poise::CreateReply::default()
                .ephemeral(true)
                .content(content)
                .attachment(file)
                .allowed_mentions(serenity::CreateAllowedMentions::new()),
        )
        .await?;
        return Ok(());
    }
    for page in pages {
        reply(ctx, page).await?;
    }
    Ok(())
}

async fn reply(ctx: Context<'_>, text: String) -> Result<(), Error> {
    ctx.send(
        poise::CreateReply::default()
            .ephemeral(true)
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// A daily allowance from a command option: omitted clears it, otherwise 0 to 100000.
fn allowance(videos: Option<i64>) -> Result<Option<u32>, Error> {
    match videos {
        None => Ok(None),
        Some(n) if (0..=100_000).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(UserError(texts::ALLOWANCE_RANGE.into()).into()),
    }
}

/// Manage the bot in this server: limits, channels, prompt rules, mod log (Manage Server).
#[poise::command(
    slash_command,
    rename = "omni-admin",
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    subcommands(
        "caps::limits",
        "caps::set",
        "caps::allowance_role",
        "caps::allowance_user",
        "channels::channels",
        "caps::reset_user",
        "caps::usage",
        "moderation::prompt_rules",
        "moderation::mod_log",
        "moderation::jobs",
        "follow_ups::follow_ups"
    ),
    subcommand_required
)]
pub async fn omni_admin(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}
