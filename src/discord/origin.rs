//! Who asked and where, read from an interaction or a message, and attachments as the core
//! sees them.

use poise::serenity_prelude as serenity;

use crate::app::Origin;
use crate::domain::ids::{ChannelId, GuildId, RoleId, UserId};
use crate::domain::permissions::{Permissions, Venue};
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

/// The image an embed shows (a link to an image, an image a bot posted), as an attachment
/// whose kind its file name tells; `None` for an embed without one.
pub fn embed_image(embed: &serenity::Embed) -> Option<Attachment> {
    let url = embed.image.as_ref().map(|i| i.url.clone()).or_else(|| {
        // A link to an image shows it as the embed's thumbnail.
        (embed.kind.as_deref() == Some("image"))
            .then(|| embed.thumbnail.as_ref().map(|t| t.url.clone()))
            .flatten()
    })?;
    let filename = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|name| !name.is_empty())?;
    Some(Attachment {
        url,
        filename,
        content_type: None,
        size: 0,
    })
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

/// Where an interaction came from, as far as posting there goes.
pub fn venue(
    guild: Option<serenity::GuildId>,
    partial: Option<&serenity::PartialChannel>,
) -> Venue {
    use serenity::ChannelType as Kind;
    if guild.is_none() {
        return Venue::Direct;
    }
    match partial.map(|c| c.kind) {
        None | Some(Kind::Text | Kind::News) => Venue::ThreadCapable,
        Some(Kind::PublicThread | Kind::PrivateThread | Kind::NewsThread) => Venue::Thread,
        Some(_) => Venue::Plain,
    }
}

/// The bot's permissions in the interaction's channel, as Discord reports them.
pub fn bot_permissions(app_permissions: Option<serenity::Permissions>) -> Option<Permissions> {
    app_permissions.map(|p| Permissions(p.bits()))
}
