//! Gateway events other than commands: messages in the bot's conversations, button presses and
//! modal submissions, each translated into an [`crate::app`] call and its answer into a reply.
//! Buttons carry what they need in their `custom_id`, so they keep working after a restart.

use poise::serenity_prelude as serenity;
use serenity::{
    CreateActionRow, CreateAllowedMentions, CreateInputText, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, CreateModal, EditInteractionResponse,
    InputTextStyle,
};
use tracing::{info, warn};

use super::buttons::Action;
use super::commands::history::{on_page_button, PageRequest};
use super::errors::describe;
use super::origin::{attachment, bot_permissions, of_interaction, of_message, venue};
use super::texts;
use super::{Data, Error};
use crate::app::{MessageFacts, MessageOutcome, Restart, Started};
use crate::domain::ids::{ChannelId, EventId, JobId, MessageId, UserId};
use crate::domain::permissions::{self, Posting};
use crate::domain::request::MAX_PROMPT_CHARS;

/// poise's event hook: every gateway event passes through here.
pub async fn handle(
    framework: poise::FrameworkContext<'_, Data, Error>,
    event: &serenity::FullEvent,
) -> Result<(), Error> {
    let data = framework.user_data;
    let ctx = framework.serenity_context;
    match event {
        serenity::FullEvent::Message { new_message } => on_message(ctx, data, new_message).await,
        serenity::FullEvent::GuildCreate { guild, is_new } => {
            super::welcome::on_guild_create(ctx, data, guild, *is_new).await;
            Ok(())
        }
        serenity::FullEvent::InteractionCreate { interaction } => match interaction {
            serenity::Interaction::Component(press) => on_component(ctx, data, press).await,
            serenity::Interaction::Modal(submit) => on_modal(ctx, data, submit).await,
            // Commands and autocomplete are poise's.
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The text of a message without mentions of the bot.
pub fn strip_mention(content: &str, bot_id: u64) -> String {
    content
        .replace(&format!("<@{bot_id}>"), "")
        .replace(&format!("<@!{bot_id}>"), "")
        .trim()
        .to_owned()
}

/// A message that may be about one of the bot's clips.
async fn on_message(
    ctx: &serenity::Context,
    data: &Data,
    msg: &serenity::Message,
) -> Result<(), Error> {
    if msg.author.bot || msg.webhook_id.is_some() {
        return Ok(());
    }
    let bot_id = ctx.cache.current_user().id.get();
    let facts = MessageFacts {
        id: MessageId(msg.id.get()),
        origin: of_message(ctx, msg),
        text: strip_mention(&msg.content, bot_id),
        attachments: msg.attachments.iter().map(attachment).collect(),
        replied_to: msg
            .message_reference
            .as_ref()
            .and_then(|r| r.message_id)
            .map(|m| MessageId(m.get())),
        replied_to_bot: msg
            .referenced_message
            .as_deref()
            .is_some_and(|m| m.author.id.get() == bot_id),
        mentions_bot: msg.mentions.iter().any(|u| u.id.get() == bot_id)
            || msg.content.contains(&format!("<@{bot_id}>"))
            || msg.content.contains(&format!("<@!{bot_id}>")),
    };
    match data.app.on_message(facts).await {
        MessageOutcome::Ignored => {}
        MessageOutcome::Started(Started::New { job, .. }) => {
            info!(job = %job, "follow-up from a message");
        }
        MessageOutcome::Started(Started::AlreadyHandled(_)) => {}
        MessageOutcome::Explained(why) => reply(ctx, msg, &texts::why(&why)).await,
    }
    Ok(())
}

async fn reply(ctx: &serenity::Context, msg: &serenity::Message, text: &str) {
    // A reply pings its author only (never roles or everyone).
    let message = CreateMessage::new()
        .content(text)
        .reference_message(msg)
        .allowed_mentions(CreateAllowedMentions::new().replied_user(true));
    if let Err(e) = msg.channel_id.send_message(&ctx.http, message).await {
        warn!(error = %describe(&e), "cannot reply");
    }
}

/// The answer to a button press or modal: always private.
fn private(text: impl Into<String>) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

/// Whether the presser may moderate here (Manage Messages).
fn moderator(member: Option<&serenity::Member>) -> bool {
    member
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.manage_messages() || p.administrator())
}

/// A button press on one of the bot's messages.
async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    press: &serenity::ComponentInteraction,
) -> Result<(), Error> {
    if let Some(page) = PageRequest::parse(&press.data.custom_id) {
        return on_page_button(ctx, data, press, page).await;
    }
    let Some(action) = Action::parse(&press.data.custom_id) else {
        return Ok(());
    };
    if let Action::Refine(id) = action {
        return respond(ctx, press, refine_box(data, id).await).await;
    }
    let app = &data.app;
    let origin = of_interaction(
        press.guild_id,
        press.channel_id,
        press.channel.as_ref(),
        &press.user,
        press.member.as_ref(),
        press.attachment_size_limit,
    );
    let event = EventId(press.id.get());
    let answer = match action {
        Action::Cancel(id) => {
            let by = UserId(press.user.id.get());
            texts::cancelled(&app.cancel(id, by, moderator(press.member.as_ref())).await)
        }
        Action::Delete(id) => {
            let by = UserId(press.user.id.get());
            let at = ChannelId(press.channel_id.get());
            let message = MessageId(press.message.id.get());
            match app
                .remove_clip(id, at, message, by, moderator(press.member.as_ref()))
                .await
            {
                Ok(label) => texts::clip_deleted(&label),
                Err(refusal) => texts::remove_refusal(refusal),
            }
        }
        Action::Reroll(id) | Action::Again(id) | Action::Flip(id) => {
            let how = match action {
                Action::Reroll(_) => Restart::Reroll,
                Action::Again(_) => Restart::Again,
                _ => Restart::Flip,
            };
            // The new clip posts in this conversation: check the bot still may.
            let venue = venue(press.guild_id, press.channel.as_ref());
            match app.plan_in_conversation(venue, bot_permissions(press.app_permissions)) {
                Err(refused) => texts::refused(&refused),
                Ok(delivery) => match app.restart(id, how, origin, event).await {
                    Ok((Started::AlreadyHandled(_), _)) => return Ok(()),
                    Ok((_, told)) => texts::with_delivery_notes(texts::restarted(&told), &delivery),
                    Err(refusal) => texts::action_refusal(&refusal),
                },
            }
        }
        Action::Refine(_) | Action::RefineSubmit(_) | Action::AnimateSubmit(_) => return Ok(()),
    };
    respond(ctx, press, private(answer)).await
}

/// The box that asks how to refine a clip.
async fn refine_box(data: &Data, id: JobId) -> CreateInteractionResponse {
    let app = &data.app;
    let conversation = app
        .store
        .job(id)
        .await
        .ok()
        .flatten()
        .and_then(|job| job.conversation());
    let record = match conversation {
        Some(c) => app.store.conversation(c).await.ok().flatten(),
        None => None,
    };
    let label = record
        .and_then(|c| c.label_of(id).map(str::to_owned))
        .unwrap_or_else(|| "this clip".to_owned());
    let input = CreateInputText::new(InputTextStyle::Paragraph, "What should change?", "prompt")
        .placeholder("e.g. make it night, with rain on the windows")
        .max_length(MAX_PROMPT_CHARS as u16)
        .required(true);
    let modal = CreateModal::new(
        Action::RefineSubmit(id).custom_id(),
        format!("Refine {label}"),
    )
    .components(vec![CreateActionRow::InputText(input)]);
    CreateInteractionResponse::Modal(modal)
}

async fn respond(
    ctx: &serenity::Context,
    press: &serenity::ComponentInteraction,
    response: CreateInteractionResponse,
) -> Result<(), Error> {
    if let Err(e) = press.create_response(&ctx.http, response).await {
        warn!(error = %describe(&e), "cannot answer a button press");
    }
    Ok(())
}

/// The text typed into a modal's input.
fn modal_text(submit: &serenity::ModalInteraction) -> String {
    submit
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|c| match c {
            serenity::ActionRowComponent::InputText(t) => t.value.clone(),
            _ => None,
        })
        .unwrap_or_default()
}

/// The refine box and the "Animate with Omni" box.
async fn on_modal(
    ctx: &serenity::Context,
    data: &Data,
    submit: &serenity::ModalInteraction,
) -> Result<(), Error> {
    let Some(action) = Action::parse(&submit.data.custom_id) else {
        return Ok(());
    };
    let origin = of_interaction(
        submit.guild_id,
        submit.channel_id,
        submit.channel.as_ref(),
        &submit.user,
        submit.member.as_ref(),
        submit.attachment_size_limit,
    );
    let event = EventId(submit.id.get());
    let prompt = modal_text(submit);
    if !matches!(action, Action::RefineSubmit(_) | Action::AnimateSubmit(_)) {
        return Ok(());
    }
    // Check before promising: Animate opens its own conversation, Refine posts in this one.
    let venue = venue(submit.guild_id, submit.channel.as_ref());
    let perms = bot_permissions(submit.app_permissions);
    let opens_new = matches!(action, Action::AnimateSubmit(_));
    let deferred = opens_new
        && matches!(
            permissions::delivery(venue, perms).posting,
            Posting::Privately { .. }
        )
        && submit.defer_ephemeral(&ctx.http).await.is_ok();
    let planned = if opens_new {
        data.app.plan_new(&origin, venue, perms).await
    } else {
        data.app.plan_in_conversation(venue, perms)
    };
    let answer = match planned {
        Err(refused) => texts::refused(&refused),
        Ok(delivery) => {
            let started = match action {
                Action::RefineSubmit(id) => data
                    .app
                    .refine(id, prompt, origin, event)
                    .await
                    .map(|s| (s, texts::REFINING.to_owned())),
                Action::AnimateSubmit(key) => data
                    .app
                    .animate(key, prompt, origin, event)
                    .await
                    .map(|a| (a.started, texts::animating(a.used, a.total))),
                _ => return Ok(()),
            };
            match started {
                Ok((Started::AlreadyHandled(_), _)) => return Ok(()),
                Ok((Started::New { .. }, ok)) => texts::with_delivery_notes(ok, &delivery),
                Err(refusal) => texts::action_refusal(&refusal),
            }
        }
    };
    let answered = if deferred {
        let edit = EditInteractionResponse::new()
            .content(answer)
            .allowed_mentions(CreateAllowedMentions::new());
        submit.edit_response(&ctx.http, edit).await.map(|_| ())
    } else {
        submit.create_response(&ctx.http, private(answer)).await
    };
    if let Err(e) = answered {
        warn!(error = %describe(&e), "cannot answer a modal");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_of_the_bot_are_removed_from_a_prompt() {
        assert_eq!(strip_mention("<@42> make it rain", 42), "make it rain");
        assert_eq!(strip_mention("make it <@!42> rain", 42), "make it  rain");
        assert_eq!(strip_mention("<@43> hi", 42), "<@43> hi");
        assert_eq!(strip_mention("<@42>", 42), "");
    }
}
