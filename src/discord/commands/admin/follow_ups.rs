//! `/omni-admin follow-ups`: whose plain messages in a clip's thread continue the clip. Without
//! a choice it shows the setting in force.

use super::{reply, require_admin};
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::intent::PlainMessages;

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum FollowUpChoice {
    #[name = "Only the person who asked for the clip"]
    Requester,
    #[name = "Anyone in the thread"]
    Anyone,
    #[name = "The bot's default"]
    Default,
}

/// Choose who continues a clip by writing in its thread; others reply to it or mention the bot.
#[poise::command(slash_command, guild_only, rename = "follow-ups")]
pub async fn follow_ups(
    ctx: Context<'_>,
    #[description = "Whose plain messages continue a clip; leave empty to see the current setting"]
    who: Option<FollowUpChoice>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let app = &ctx.data().app;
    let Some(who) = who else {
        let chosen = app.store.policy(guild).await?.plain_messages;
        let text =
            texts::follow_ups_now(app.plain_messages_in(Some(guild)).await, chosen.is_some());
        return reply(ctx, text).await;
    };
    let chosen = match who {
        FollowUpChoice::Requester => Some(PlainMessages::Requester),
        FollowUpChoice::Anyone => Some(PlainMessages::Anyone),
        FollowUpChoice::Default => None,
    };
    app.store
        .update_policy(guild, |p| p.plain_messages = chosen)
        .await?;
    let text = texts::follow_ups_set(app.plain_messages_in(Some(guild)).await, chosen);
    reply(ctx, text).await
}
