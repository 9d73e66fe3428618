//! "Animate with Omni": a message context-menu command that turns a message's images (attached,
//! or shown in its embeds, as a link to an image shows) into a clip. The first image is the
//! start frame, the others are reference images, up to what one clip can use; the box says how
//! many that is when the message has more. The prompt is asked for in a modal; the images wait
//! in the store under a key carried by the modal's `custom_id`, so the request survives a
//! restart between the menu and the modal, and they expire after an hour.

use poise::serenity_prelude as serenity;
use serenity::{
    CreateActionRow, CreateInputText, CreateInteractionResponse, CreateInteractionResponseMessage,
    CreateModal, InputTextStyle,
};

use crate::app::MAX_ANIMATED_IMAGES;
use crate::discord::buttons::Action;
use crate::discord::origin::{attachment, embed_image};
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::request::{Attachment, MediaKind, MAX_PROMPT_CHARS};

/// Animate this message's images into a short clip
#[poise::command(context_menu_command = "Animate with Omni")]
pub async fn animate(ctx: Context<'_>, message: serenity::Message) -> Result<(), Error> {
    let poise::Context::Application(app) = ctx else {
        return Ok(());
    };
    let mut images: Vec<Attachment> = Vec::new();
    let candidates = message
        .attachments
        .iter()
        .map(attachment)
        .chain(message.embeds.iter().filter_map(embed_image));
    for image in candidates {
        if image.kind() == MediaKind::Image && !images.iter().any(|i| i.url == image.url) {
            images.push(image);
        }
    }
    let response = if images.is_empty() {
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(texts::NO_IMAGES)
                .ephemeral(true),
        )
    } else {
        let key = ctx.data().app.save_animate_draft(&images).await?;
        let input = CreateInputText::new(
            InputTextStyle::Paragraph,
            "What should happen in the clip?",
            "prompt",
        )
        .placeholder("e.g. the cat slowly turns its head and blinks")
        .max_length(MAX_PROMPT_CHARS as u16)
        .required(true);
        CreateInteractionResponse::Modal(
            CreateModal::new(
                Action::AnimateSubmit(key).custom_id(),
                texts::animate_title(images.len().min(MAX_ANIMATED_IMAGES), images.len()),
            )
            .components(vec![CreateActionRow::InputText(input)]),
        )
    };
    // A modal must be the first response to the interaction, so it is sent directly.
    app.interaction
        .create_response(ctx.http(), response)
        .await?;
    Ok(())
}
