//! A server the bot joins: it remembers the server's system channel (where tips for moderators
//! go when there is no mod log) and, once per server, says hello in the system channel or the
//! first channel it may post in, with what it needs, how admins set caps, and a check of its own
//! permissions there and in the server.

use poise::serenity_prelude as serenity;
use serenity::{CreateAllowedMentions, CreateMessage};
use tracing::{debug, info, warn};

use super::errors::describe;
use super::texts;
use super::Data;
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::permissions::{welcome_channel, Permission, Permissions};
use crate::store::Once;

fn bits(p: serenity::Permissions) -> Permissions {
    Permissions(p.bits())
}

/// `GUILD_CREATE`: `is_new` is true for a server joined while the bot runs (not one it was in
/// at start-up).
pub async fn on_guild_create(
    ctx: &serenity::Context,
    data: &Data,
    guild: &serenity::Guild,
    is_new: Option<bool>,
) {
    let store = &data.app.store;
    let id = GuildId(guild.id.get());
    let system = guild.system_channel_id.map(|c| ChannelId(c.get()));
    match store.set_system_channel(id, system).await {
        Ok(()) => {
            debug!(guild = %id, system_channel = ?system.map(|c| c.0), ?is_new, "server known")
        }
        Err(e) => warn!(error = %e, "cannot record the server's system channel"),
    }
    if is_new != Some(true) {
        return;
    }
    let bot = ctx.cache.current_user().id;
    let member = match guild.members.get(&bot) {
        Some(m) => m.clone(),
        None => match guild.member(&ctx.http, bot).await {
            Ok(m) => m.into_owned(),
            Err(e) => {
                warn!(error = %describe(&e), "cannot read the bot's own member in a new server");
                return;
            }
        },
    };
    let postable = |c: &serenity::GuildChannel| {
        matches!(
            c.kind,
            serenity::ChannelType::Text | serenity::ChannelType::News
        )
    };
    let in_channel = |c: &serenity::GuildChannel| bits(guild.user_permissions_in(c, &member));
    let system_choice = guild
        .system_channel_id
        .and_then(|c| guild.channels.get(&c))
        .filter(|c| postable(c))
        .map(|c| (ChannelId(c.id.get()), in_channel(c)));
    let mut channels: Vec<&serenity::GuildChannel> =
        guild.channels.values().filter(|c| postable(c)).collect();
    channels.sort_by_key(|c| (c.position, c.id));
    let others: Vec<(ChannelId, Permissions)> = channels
        .iter()
        .map(|c| (ChannelId(c.id.get()), in_channel(c)))
        .collect();
    let Some(target) = welcome_channel(system_choice, &others) else {
        info!(guild = %id, "no channel to say hello in");
        return;
    };
    match store.first_time(Once::Welcome(id)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            warn!(error = %e, "cannot record the welcome");
            return;
        }
    }
    // Recorded before it is sent: a restart never says hello twice.
    if let Err(e) = store.flush().await {
        warn!(error = %e, "cannot flush the welcome's record");
    }
    let here = system_choice
        .into_iter()
        .chain(others.iter().copied())
        .find(|(c, _)| *c == target)
        .map_or(Permissions(0), |(_, p)| p);
    let in_server = bits(guild.member_permissions(&member));
    let text = texts::welcome(
        target,
        &here.missing(&Permission::NEEDED),
        &in_server.missing(&Permission::NEEDED),
        data.app.caps.defaults().user_daily_videos,
    );
    let message = CreateMessage::new()
        .content(text)
        .allowed_mentions(CreateAllowedMentions::new());
    match serenity::ChannelId::new(target.0)
        .send_message(&ctx.http, message)
        .await
    {
        Ok(_) => info!(guild = %id, channel = %target, "said hello in a new server"),
        Err(e) => warn!(error = %describe(&e), "cannot say hello in a new server"),
    }
}
