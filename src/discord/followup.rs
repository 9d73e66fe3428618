//! Turning what users do inside a conversation into new jobs: a message or reply in a thread,
//! a button on a clip, the refine modal, and the "Animate with Omni" menu.
//!
//! Every path ends in [`jobs::start`], so usage caps apply exactly as for `/omni`.

use poise::serenity_prelude as serenity;
use serenity::{
    CreateActionRow, CreateInputText, CreateInteractionResponse, CreateInteractionResponseMessage,
    CreateModal, InputTextStyle,
};
use std::time::Duration;
use tracing::{info, warn};

use super::buttons::Action;
use super::errors::{describe, UserError, GENERIC_FAILURE};
use super::jobs::{self, Origin};
use super::{Data, Error};
use crate::job::{ParentRef, NO_VIDEO_ID};
use crate::request::{Attachment, Draft, GenerationRequest, MediaKind, MAX_REFERENCES};
use crate::store::ThreadInfo;

/// How long a reply waits for a clip that is being posted to be recorded.
const RECORD_WAIT: Duration = Duration::from_secs(3);

/// Why a message in a conversation did not start a job (said to the user as a reply).
const NOT_MEDIA: &str = "I can use images (as reference images) and one video (to edit it). Attach only those, and say in words what should change.";
const NEED_WORDS: &str =
    "Add a few words saying what should happen in the clip, and send it again.";
const ONE_VIDEO: &str = "Attach one video at a time: I can edit only one.";
const NOTHING_YET: &str =
    "There's no clip here to refine yet. Run `/omni` to start one, or reply with a video attached to edit it.";

/// The text of a message without mentions of the bot.
pub fn strip_mention(content: &str, bot_id: u64) -> String {
    content
        .replace(&format!("<@{bot_id}>"), "")
        .replace(&format!("<@!{bot_id}>"), "")
        .trim()
        .to_owned()
}

fn attachment(a: &serenity::Attachment) -> Attachment {
    super::omni::attachment(a)
}

/// The conversation record for the message's channel. Users see a clip the moment it is posted,
/// before the bot has recorded it; a reply to one of the bot's messages while a clip is being
/// posted waits briefly for that record, so the reply is understood as a reply to the clip.
async fn settled_thread(
    data: &Data,
    msg: &serenity::Message,
    bot_id: u64,
) -> Result<Option<ThreadInfo>, Error> {
    let channel = msg.channel_id.get();
    let mut info = data.store.thread(channel)?;
    let Some(replied) = msg
        .referenced_message
        .as_deref()
        .filter(|m| m.author.id.get() == bot_id)
        .map(|m| m.id.get())
    else {
        return Ok(info);
    };
    let deadline = tokio::time::Instant::now() + RECORD_WAIT;
    while !info
        .as_ref()
        .is_some_and(|i| i.clip_by_message(replied).is_some())
        && data.tracker.posting_clip()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(25)).await;
        info = data.store.thread(channel)?;
    }
    Ok(info)
}

/// Handles a message that may be about one of the bot's clips.
pub async fn on_message(
    ctx: &serenity::Context,
    data: &Data,
    msg: &serenity::Message,
) -> Result<(), Error> {
    if msg.author.bot || msg.webhook_id.is_some() {
        return Ok(());
    }
    let bot_id = ctx.cache.current_user().id.get();
    let Some(info) = settled_thread(data, msg, bot_id).await? else {
        // Not a conversation the bot started: none of its business.
        return Ok(());
    };
    let replied_clip = msg
        .message_reference
        .as_ref()
        .and_then(|r| r.message_id)
        .and_then(|m| info.clip_by_message(m.get()).cloned());
    if replied_clip.is_none() && !info.owned {
        // In a DM, a channel used in place or someone else's thread, only replies to a clip
        // are meant for the bot.
        return Ok(());
    }
    let prompt = strip_mention(&msg.content, bot_id);
    if prompt.is_empty() && msg.attachments.is_empty() {
        // Nothing to send (also what arrives without the Message Content intent).
        return Ok(());
    }
    let mut images = Vec::new();
    let mut videos = Vec::new();
    for a in &msg.attachments {
        let a = attachment(a);
        match a.kind() {
            MediaKind::Image => images.push(a),
            MediaKind::Video => videos.push(a),
            MediaKind::Other => return reply(ctx, msg, NOT_MEDIA).await,
        }
    }
    if videos.len() > 1 {
        return reply(ctx, msg, ONE_VIDEO).await;
    }
    if prompt.is_empty() {
        return reply(ctx, msg, NEED_WORDS).await;
    }
    let conversation = msg.channel_id.get();
    let video = videos.pop();
    let continues = if video.is_some() {
        None
    } else {
        match &replied_clip {
            Some(clip) if clip.video_id.is_none() => return reply(ctx, msg, NO_VIDEO_ID).await,
            Some(clip) => Some(ParentRef::Job(clip.job_id)),
            None => {
                // The job this thread was made for may still be placing itself here.
                let busy = data.tracker.conversation_busy(conversation)
                    || info.opened_for.is_some_and(|j| data.tracker.job_open(j));
                match info.clips.last() {
                    _ if busy => Some(ParentRef::Latest),
                    None => return reply(ctx, msg, NOTHING_YET).await,
                    Some(c) if c.video_id.is_none() => return reply(ctx, msg, NO_VIDEO_ID).await,
                    Some(_) => Some(ParentRef::Latest),
                }
            }
        }
    };
    let draft = Draft {
        prompt,
        video,
        references: images
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("image {}", i + 1), a))
            .collect(),
        continues: continues.is_some(),
        ..Draft::default()
    };
    let request = match GenerationRequest::validate(draft, &data.limits) {
        Ok(r) => r,
        Err(e) => return reply(ctx, msg, &e.to_string()).await,
    };
    let size_limit = replied_clip
        .as_ref()
        .or(info.clips.last())
        .and_then(|c| data.store.job(c.job_id).ok().flatten())
        .map_or(0, |j| j.attachment_size_limit);
    let origin = Origin {
        guild_id: msg.guild_id.map(|g| g.get()),
        channel_id: conversation,
        user_id: msg.author.id.get(),
        roles: msg
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
        attachment_size_limit: size_limit,
        conversation: Some(conversation),
        continues,
    };
    match jobs::start(data, origin, request).await {
        Ok(id) => {
            info!(job = id, "follow-up from a message");
            Ok(())
        }
        Err(e) => match e.downcast_ref::<UserError>() {
            Some(user) => reply(ctx, msg, &user.0).await,
            None => Err(e),
        },
    }
}

async fn reply(ctx: &serenity::Context, msg: &serenity::Message, text: &str) -> Result<(), Error> {
    if let Err(e) = msg.reply(&ctx.http, text).await {
        warn!(error = %describe(&e), "cannot reply");
    }
    Ok(())
}

/// Who pressed or submitted, and where, from an interaction.
fn origin_of(
    guild_id: Option<serenity::GuildId>,
    channel_id: serenity::ChannelId,
    user: &serenity::User,
    member: Option<&serenity::Member>,
    attachment_size_limit: u32,
) -> Origin {
    Origin {
        guild_id: guild_id.map(|g| g.get()),
        channel_id: channel_id.get(),
        user_id: user.id.get(),
        roles: member
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
        attachment_size_limit: u64::from(attachment_size_limit),
        conversation: None,
        continues: None,
    }
}

/// The answer to a button press or modal: always private.
fn private(text: impl Into<String>) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true),
    )
}

/// Starts a job for an interaction and turns the outcome into a private answer.
async fn start_for(data: &Data, origin: Origin, request: GenerationRequest, ok: String) -> String {
    match jobs::start(data, origin, request).await {
        Ok(_) => ok,
        Err(e) => match e.downcast_ref::<UserError>() {
            Some(user) => user.0.clone(),
            None => {
                warn!(error = %format!("{e:#}"), "cannot start a job from a button");
                GENERIC_FAILURE.to_owned()
            }
        },
    }
}

/// Handles a button press on one of the bot's messages.
pub async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    press: &serenity::ComponentInteraction,
) -> Result<(), Error> {
    let Some(action) = Action::parse(&press.data.custom_id) else {
        return Ok(());
    };
    let mut origin = origin_of(
        press.guild_id,
        press.channel_id,
        &press.user,
        press.member.as_ref(),
        press.attachment_size_limit,
    );
    let answer = match action {
        Action::Cancel(id) => match data.tracker.cancel(id, press.user.id.get()) {
            Ok(()) => "Cancelled. Nothing was charged.".to_owned(),
            Err(e) => e.to_string(),
        },
        Action::Reroll(id) | Action::Flip(id) | Action::Refine(id) => {
            let Some(job) = data.store.job(id)? else {
                return respond(ctx, press, private("I can't find that clip any more.")).await;
            };
            let conversation = job.place.as_ref().map_or(job.channel_id, |p| p.channel_id);
            origin.conversation = Some(conversation);
            match action {
                Action::Refine(_) => {
                    let label = data
                        .store
                        .thread(conversation)?
                        .and_then(|t| t.label_of(id).map(str::to_owned))
                        .unwrap_or_else(|| "this clip".to_owned());
                    let input = CreateInputText::new(
                        InputTextStyle::Paragraph,
                        "What should change?",
                        "prompt",
                    )
                    .placeholder("e.g. make it night, with rain on the windows")
                    .max_length(crate::request::MAX_PROMPT_CHARS as u16)
                    .required(true);
                    let modal = CreateModal::new(
                        Action::RefineSubmit(id).custom_id(),
                        format!("Refine {label}"),
                    )
                    .components(vec![CreateActionRow::InputText(input)]);
                    return respond(ctx, press, CreateInteractionResponse::Modal(modal)).await;
                }
                Action::Reroll(_) => {
                    origin.continues = job.continues;
                    let seed = rand::random::<u32>() as i64;
                    let request = job.request.with_seed(seed);
                    start_for(
                        data,
                        origin,
                        request,
                        format!("🎲 Re-rolling with seed {seed}: watch this conversation."),
                    )
                    .await
                }
                _ => {
                    let aspect = job
                        .request
                        .aspect_ratio()
                        .unwrap_or(crate::request::AspectRatio::Landscape)
                        .flipped();
                    let request = job.request.without_video_id().with_aspect_ratio(aspect);
                    start_for(
                        data,
                        origin,
                        request,
                        format!("🔄 Making it {}: watch this conversation.", aspect.as_str()),
                    )
                    .await
                }
            }
        }
        Action::RefineSubmit(_) | Action::AnimateSubmit(_) => return Ok(()),
    };
    respond(ctx, press, private(answer)).await
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

/// Handles the refine modal and the "Animate with Omni" modal.
pub async fn on_modal(
    ctx: &serenity::Context,
    data: &Data,
    submit: &serenity::ModalInteraction,
) -> Result<(), Error> {
    let Some(action) = Action::parse(&submit.data.custom_id) else {
        return Ok(());
    };
    let mut origin = origin_of(
        submit.guild_id,
        submit.channel_id,
        &submit.user,
        submit.member.as_ref(),
        submit.attachment_size_limit,
    );
    let prompt = modal_text(submit);
    let answer = match action {
        Action::RefineSubmit(id) => match data.store.job(id)? {
            None => "I can't find that clip any more.".to_owned(),
            Some(job) => {
                let conversation = job.place.as_ref().map_or(job.channel_id, |p| p.channel_id);
                origin.conversation = Some(conversation);
                origin.continues = Some(ParentRef::Job(id));
                let draft = Draft {
                    prompt,
                    continues: true,
                    ..Draft::default()
                };
                match GenerationRequest::validate(draft, &data.limits) {
                    Ok(request) => {
                        start_for(
                            data,
                            origin,
                            request,
                            "✏️ Refining: watch this conversation.".to_owned(),
                        )
                        .await
                    }
                    Err(e) => e.to_string(),
                }
            }
        },
        Action::AnimateSubmit(key) => {
            let images: Option<Vec<Attachment>> = data.store.get_meta(&animate_key(key))?;
            match images {
                None => "That request expired; use **Animate with Omni** on the message again."
                    .to_owned(),
                Some(images) => {
                    let mut images = images.into_iter();
                    let draft = Draft {
                        prompt,
                        image: images.next(),
                        references: images
                            .take(MAX_REFERENCES)
                            .enumerate()
                            .map(|(i, a)| (format!("image {}", i + 2), a))
                            .collect(),
                        ..Draft::default()
                    };
                    match GenerationRequest::validate(draft, &data.limits) {
                        Ok(request) => {
                            start_for(data, origin, request, "🎬 Got it! I'm animating those images and will post the clip right here.".to_owned()).await
                        }
                        Err(e) => e.to_string(),
                    }
                }
            }
        }
        _ => return Ok(()),
    };
    if let Err(e) = submit.create_response(&ctx.http, private(answer)).await {
        warn!(error = %describe(&e), "cannot answer a modal");
    }
    Ok(())
}

/// Where the images of a pending "Animate with Omni" request are kept.
pub fn animate_key(key: u64) -> String {
    format!("animate:{key}")
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
