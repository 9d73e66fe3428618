//! `/omni`: collects a request, checks it before any credit is spent, and starts it.

use poise::serenity_prelude as serenity;

use crate::discord::errors::UserError;
use crate::discord::origin::{attachment, bot_permissions, of_interaction, venue};
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::EventId;
use crate::domain::permissions::{self, Posting};
use crate::domain::request::{AspectRatio, Draft, GenerationRequest, OutputFormat};

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum AspectChoice {
    #[name = "16:9"]
    Landscape,
    #[name = "9:16"]
    Portrait,
}

impl From<AspectChoice> for AspectRatio {
    fn from(c: AspectChoice) -> Self {
        match c {
            AspectChoice::Landscape => Self::Landscape,
            AspectChoice::Portrait => Self::Portrait,
        }
    }
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum FormatChoice {
    #[name = "mp4"]
    Mp4,
    #[name = "webm"]
    Webm,
    #[name = "mov"]
    Mov,
}

impl From<FormatChoice> for OutputFormat {
    fn from(c: FormatChoice) -> Self {
        match c {
            FormatChoice::Mp4 => Self::Mp4,
            FormatChoice::Webm => Self::Webm,
            FormatChoice::Mov => Self::Mov,
        }
    }
}

/// Make a short AI video clip (3 to 10 seconds, with sound) from a prompt, images or a video.
#[allow(clippy::too_many_arguments)]
#[poise::command(slash_command, rename = "omni")]
pub async fn omni(
    ctx: Context<'_>,
    #[description = "Describe the clip and its sound, e.g. \"a red fox trotting through snow, soft wind\""]
    #[max_length = 2000]
    prompt: String,
    #[description = "Shape of the clip: landscape 16:9 (default) or portrait 9:16"]
    aspect_ratio: Option<AspectChoice>,
    #[description = "Length in seconds, from 3 to 10 (default 8)"]
    #[min = 3]
    #[max = 10]
    duration: Option<i64>,
    #[description = "Start frame: an image the clip begins from"] image: Option<
        serenity::Attachment,
    >,
    #[description = "A video to edit instead of starting from scratch (max 5 references with it)"]
    video: Option<serenity::Attachment>,
    #[description = "Reference image for a subject or style"] reference_1: Option<
        serenity::Attachment,
    >,
    #[description = "Another reference image"] reference_2: Option<serenity::Attachment>,
    #[description = "Another reference image"] reference_3: Option<serenity::Attachment>,
    #[description = "Another reference image"] reference_4: Option<serenity::Attachment>,
    #[description = "Another reference image"] reference_5: Option<serenity::Attachment>,
    #[description = "Another reference image (not with a video)"] reference_6: Option<
        serenity::Attachment,
    >,
    #[description = "Another reference image (not with a video)"] reference_7: Option<
        serenity::Attachment,
    >,
    #[description = "A number that makes results repeatable: same seed and prompt, similar clip"]
    seed: Option<i64>,
    #[description = "Video file format (default mp4)"] format: Option<FormatChoice>,
) -> Result<(), Error> {
    let references = [
        reference_1,
        reference_2,
        reference_3,
        reference_4,
        reference_5,
        reference_6,
        reference_7,
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, a)| a.map(|a| (format!("reference_{}", i + 1), attachment(&a))))
    .collect();
    let draft = Draft {
        prompt,
        aspect_ratio: aspect_ratio.map(Into::into),
        duration,
        image: image.as_ref().map(attachment),
        video: video.as_ref().map(attachment),
        references,
        seed,
        format: format.map(Into::into),
        video_id: None,
        continues: false,
    };
    let app = &ctx.data().app;
    let request = GenerationRequest::validate(draft, &app.limits)
        .map_err(|e| UserError(texts::request_error(&e)))?;
    let poise::Context::Application(command) = ctx else {
        return Ok(());
    };
    let interaction = command.interaction;
    let origin = of_interaction(
        interaction.guild_id,
        interaction.channel_id,
        interaction.channel.as_ref(),
        &interaction.user,
        interaction.member.as_deref(),
        interaction.attachment_size_limit,
    );
    // Check before promising: what the bot may do in this channel decides what it says.
    let venue = venue(interaction.guild_id, interaction.channel.as_ref());
    let perms = bot_permissions(interaction.app_permissions);
    if let Posting::Privately { .. } = permissions::delivery(venue, perms).posting {
        // Reaching the requester privately takes two calls to Discord: answer "thinking" first.
        ctx.defer_ephemeral().await?;
    }
    let delivery = app
        .plan_new(&origin, venue, perms)
        .await
        .map_err(|refused| UserError(texts::refused(&refused)))?;
    let ask = crate::app::Ask {
        event: Some(EventId(interaction.id.get())),
        origin,
        request,
        asked_in: None,
        continues: None,
        made_from: None,
    };
    let started = app
        .start(ask)
        .await
        .map_err(|refused| UserError(texts::refused(&refused)))?;
    if let crate::app::Started::AlreadyHandled(_) = started {
        // A second delivery of the same interaction: the first one answered it.
        return Ok(());
    }
    let ack = poise::CreateReply::default()
        .ephemeral(true)
        .content(texts::acknowledgement(&started, &delivery))
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(e) = ctx.send(ack).await {
        // The job is stored and runs anyway; its messages go to the channel with the bot token.
        tracing::warn!(?started, error = %crate::discord::errors::describe(&e), "cannot acknowledge");
    }
    Ok(())
}
