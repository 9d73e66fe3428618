//! `/omni-history`: the caller's recent clips where they ask (a server, or direct messages),
//! with their labels, prompts and links, a page at a time. Moderators (Manage Messages) may look
//! at another member's clips; nobody else sees anyone's but their own. The page buttons carry
//! whose clips and which page in their `custom_id`, so they work after a restart.

use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseMessage,
};

use crate::app::App;
use crate::discord::errors::{describe, UserError};
use crate::discord::texts;
use crate::discord::{Context, Data, Error};
use crate::domain::ids::{GuildId, Scope, UserId};

const PREFIX: &str = "omni-history";

/// A page of someone's history, as its buttons name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Whose clips.
    pub user: UserId,
    /// 0 is the newest page.
    pub index: usize,
}

impl PageRequest {
    pub fn custom_id(self) -> String {
        format!("{PREFIX}:{}:{}", self.user, self.index)
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split(':');
        if parts.next()? != PREFIX {
            return None;
        }
        let user = UserId(parts.next()?.parse().ok()?);
        let index = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self { user, index })
    }
}

/// Whether a member may moderate where they are (Manage Messages, or Administrator).
fn is_moderator(member: Option<&serenity::Member>) -> bool {
    member
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.manage_messages() || p.administrator())
}

/// One page's text and its buttons.
async fn render_page(
    app: &App,
    guild: Option<GuildId>,
    caller: UserId,
    request: PageRequest,
) -> Result<(String, Vec<CreateActionRow>), Error> {
    let scope = Scope::from_guild(guild);
    let per_page = texts::HISTORY_PAGE;
    let mut index = request.index;
    let mut found = app
        .store
        .history(scope, request.user, index * per_page, per_page)
        .await?;
    if found.clips.is_empty() && found.total > 0 {
        // Past the end (clips can only be added): the last page.
        index = (found.total - 1) / per_page;
        found = app
            .store
            .history(scope, request.user, index * per_page, per_page)
            .await?;
    }
    let of = (request.user != caller).then_some(request.user);
    let text = texts::history_page(&found, index, of, guild.is_some());
    let pages = found.total.div_ceil(per_page);
    let mut buttons = Vec::new();
    if index > 0 {
        buttons.push(
            CreateButton::new(
                PageRequest {
                    index: index - 1,
                    ..request
                }
                .custom_id(),
            )
            .label("Newer")
            .emoji('◀')
            .style(ButtonStyle::Secondary),
        );
    }
    if index + 1 < pages {
        buttons.push(
            CreateButton::new(
                PageRequest {
                    index: index + 1,
                    ..request
                }
                .custom_id(),
            )
            .label("Older")
            .emoji('▶')
            .style(ButtonStyle::Secondary),
        );
    }
    let rows = if buttons.is_empty() {
        Vec::new()
    } else {
        vec![CreateActionRow::Buttons(buttons)]
    };
    Ok((text, rows))
}

/// See your recent clips here, with links to them (moderators can look at a member's).
#[poise::command(slash_command, rename = "omni-history")]
pub async fn omni_history(
    ctx: Context<'_>,
    #[description = "Whose clips to see (only moderators can pick someone else)"] member: Option<
        serenity::User,
    >,
    #[description = "Which page, 1 being the newest clips"]
    #[min = 1]
    page: Option<i64>,
) -> Result<(), Error> {
    let caller = UserId(ctx.author().id.get());
    let guild = ctx.guild_id().map(|g| GuildId(g.get()));
    let user = member.map_or(caller, |m| UserId(m.id.get()));
    if user != caller {
        let member = match ctx {
            poise::Context::Application(a) => a.interaction.member.as_deref(),
            poise::Context::Prefix(_) => None,
        };
        if guild.is_none() || !is_moderator(member) {
            return Err(UserError(texts::OTHERS_HISTORY_MODERATORS_ONLY.into()).into());
        }
    }
    let index = page.map_or(0, |p| p.max(1) as usize - 1);
    let (text, rows) =
        render_page(&ctx.data().app, guild, caller, PageRequest { user, index }).await?;
    ctx.send(
        poise::CreateReply::default()
            .ephemeral(true)
            .content(text)
            .components(rows)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// A press of a page button: the message shows the other page.
pub async fn on_page_button(
    ctx: &serenity::Context,
    data: &Data,
    press: &serenity::ComponentInteraction,
    request: PageRequest,
) -> Result<(), Error> {
    let caller = UserId(press.user.id.get());
    let guild = press.guild_id.map(|g| GuildId(g.get()));
    let allowed =
        request.user == caller || (guild.is_some() && is_moderator(press.member.as_ref()));
    let response = if allowed {
        let (text, rows) = render_page(&data.app, guild, caller, request).await?;
        CreateInteractionResponse::UpdateMessage(
            CreateInteractionResponseMessage::new()
                .content(text)
                .components(rows)
                .allowed_mentions(CreateAllowedMentions::new()),
        )
    } else {
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(texts::OTHERS_HISTORY_MODERATORS_ONLY)
                .ephemeral(true),
        )
    };
    if let Err(e) = press.create_response(&ctx.http, response).await {
        tracing::warn!(error = %describe(&e), "cannot answer a history page button");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_button_names_whose_clips_and_which_page_and_nothing_else_parses() {
        let r = PageRequest {
            user: UserId(u64::MAX),
            index: 12,
        };
        assert!(r.custom_id().len() <= 100);
        assert_eq!(PageRequest::parse(&r.custom_id()), Some(r));
        for other in [
            "omni:reroll:1",
            "omni-history:1",
            "omni-history:x:1",
            "omni-history:1:2:3",
        ] {
            assert_eq!(PageRequest::parse(other), None, "{other}");
        }
    }
}
