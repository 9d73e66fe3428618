//! Who asked and where, read from an interaction or a message, and attachments as the core
//! sees them.

use poise::serenity_prelude as serenity;

use crate::app::Origin;
use crate::domain::ids::{ChannelId, GuildId, RoleId, UserId};
use crate::domain::request::Attachment;

/// A file a user attached, as the core sees it.
pub fn attachment(a: &serenity::Attachment) -> Attachment {
    Attachment {
        url: a.url.clone(),
        filename: a.filename.clone(),
        content_type: a.content_type.clone(),
        size: u64::from(a.size),
    }
}

fn roles(member: Option<&serenity::Member>) -> Vec<RoleId> {
    member
        .map(|m| m.roles.iter().map(|r| RoleId(r.get())).collect())
        .unwrap_or_default()
}

/// The parent of a thread (or forum post) the interaction came from.
fn parent(channel: Option<&serenity::PartialChannel>) -> Option<ChannelId> {
    channel
        .and_then(|c| c.parent_id)
        .map(|p| ChannelId(p.get()))
}

/// Who pressed, submitted or ran a command, and where.
pub fn of_interaction(
    guild: Option<serenity::GuildId>,
    channel: serenity::ChannelId,
    partial: Option<&serenity::PartialChannel>,
    user: &serenity::User,
    member: Option<&serenity::Member>,
    upload_limit: u32,
) -> Origin {
    Origin {
        guild: guild.map(|g| GuildId(g.get())),
        channel: ChannelId(channel.get()),
        parent_channel: parent(partial),
        user: UserId(user.id.get()),
        roles: roles(member),
        upload_limit: u64::from(upload_limit),
    }
}

/// Who wrote a message, and where; a thread's parent comes from the cache when it knows it.
pub fn of_message(ctx: &serenity::Context, msg: &serenity::Message) -> Origin {
    let parent_channel = msg.guild_id.and_then(|g| {
        let guild = ctx.cache.guild(g)?;
        let thread = guild.threads.iter().find(|t| t.id == msg.channel_id);
        let channel = guild.channels.get(&msg.channel_id);
        thread
            .or(channel)
            .and_then(|c| c.parent_id)
            .map(|p| ChannelId(p.get()))
    });
    Origin {
        guild: msg.guild_id.map(|g| GuildId(g.get())),
        channel: ChannelId(msg.channel_id.get()),
        parent_channel,
        user: UserId(msg.author.id.get()),
        roles: msg
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| RoleId(r.get())).collect())
            .unwrap_or_default(),
        upload_limit: 0,
    }
}
