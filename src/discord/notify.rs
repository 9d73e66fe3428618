//! Posts what the tracker decides: the status message and thread, progress, the clip, reasons.
//!
//! Every message that must appear exactly once is sent with a `nonce` derived from the job id and
//! `enforce_nonce`, so a retry after a crash returns the earlier message instead of a second one.
//! Everything here uses the bot token, never the interaction token (which expires in 15 minutes).

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{
    ChannelId, CreateAllowedMentions, CreateAttachment, CreateMessage, CreateThread, EditMessage,
    GetMessages, MessageId,
};
use tracing::{debug, info, warn};

use super::buttons::{cancel_button, clip_buttons, retry_button, Action};
use super::errors::{describe, discord_error};
use crate::job::{clock, progress_bar, Job, Place};
use crate::request::HumanBytes;
use crate::store::Store;
use crate::tracker::{ClipFile, LinkReason, Notifier, NotifyError, Posted, Progress, Version};

/// Discord's limit on thread names.
pub const THREAD_NAME_MAX: usize = 100;
/// Discord's limit on message content.
pub const CONTENT_MAX: usize = 2000;

const CODE_MISSING_ACCESS: isize = 50001;
const CODE_MISSING_PERMISSIONS: isize = 50013;
const CODE_THREAD_EXISTS: isize = 160004;
const CODE_UNKNOWN_CHANNEL: isize = 10003;
const CODE_THREAD_ARCHIVED: isize = 50083;
const CODE_TOO_LARGE: isize = 40005;

pub struct DiscordNotifier {
    http: Arc<serenity::Http>,
    store: Store,
    /// Whether the bot asked for the Message Content intent (if not, users are told to reply
    /// to a clip or mention the bot).
    message_content: bool,
}

/// Posted first in each thread when the bot runs without the Message Content intent.
pub const NO_INTENT_TIP: &str = "💬 To refine a clip, **reply** to it (keep the mention on) or **mention me** with what should change. I can't read other messages here.";

/// A thread name from a prompt: one line, at most 100 characters, cut at a word if possible.
pub fn thread_name(prompt: &str) -> String {
    let line: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&line, THREAD_NAME_MAX)
}

/// Cuts `text` to `max` characters, ending with `…` when it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    format!("{}…", cut.trim_end())
}

/// A nonce that identifies one message of one job (Discord allows 25 characters).
fn nonce(kind: char, job: &Job) -> serenity::Nonce {
    serenity::Nonce::String(format!("o{kind}{}", job.id))
}

fn quiet() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

fn mention_author(job: &Job) -> CreateAllowedMentions {
    CreateAllowedMentions::new().users([serenity::UserId::new(job.user_id)])
}

fn other(e: serenity::Error) -> NotifyError {
    metrics::counter!(crate::metrics::names::DISCORD_ERRORS, "kind" => "other").increment(1);
    NotifyError::Other(describe(&e))
}

/// A failed post of a final message: too large (the caller falls back to a link), a missing
/// permission (the caller posts what it can, or privately), or other.
fn send_error(e: serenity::Error) -> NotifyError {
    match discord_error(&e) {
        Some((413, _)) | Some((_, CODE_TOO_LARGE)) => {
            metrics::counter!(crate::metrics::names::DISCORD_ERRORS, "kind" => "too_large")
                .increment(1);
            NotifyError::TooLarge
        }
        Some((_, CODE_MISSING_PERMISSIONS | CODE_MISSING_ACCESS)) => {
            metrics::counter!(crate::metrics::names::DISCORD_ERRORS, "kind" => "missing_permission")
                .increment(1);
            warn!(error = %describe(&e), "missing a permission to post");
            NotifyError::MissingPermission
        }
        _ => other(e),
    }
}

/// The quoted prompt under a message, cut to fit.
fn quoted_prompt(job: &Job) -> String {
    format!(
        "> {}",
        truncate(&job.request.prompt().replace('\n', " "), 300)
    )
}

/// The first lines of a status message: the prompt, who asked, and what was asked for.
fn header(job: &Job) -> String {
    format!(
        "🎬 **{}**\nRequested by <@{}> · {}",
        truncate(job.request.prompt(), 200),
        job.user_id,
        describe_request(job)
    )
}

/// What the clip is, in one line (`16:9 · 8 s · mp4 · seed 42 · start frame · 2 references`).
pub fn describe_request(job: &Job) -> String {
    let r = &job.request;
    let mut parts = vec![
        r.aspect_ratio().map_or("16:9", |a| a.as_str()).to_owned(),
        match r.duration() {
            Some(d) => format!("{d} s"),
            None if r.video_id().is_some() => "same length".to_owned(),
            None => "8 s".to_owned(),
        },
        r.format().as_str().to_owned(),
    ];
    if let Some(seed) = r.seed() {
        parts.push(format!("seed {seed}"));
    }
    if r.image().is_some() {
        parts.push("start frame".into());
    }
    if r.video().is_some() {
        parts.push("editing a video".into());
    }
    match r.references().len() {
        0 => {}
        1 => parts.push("1 reference".into()),
        n => parts.push(format!("{n} references")),
    }
    parts.join(" · ")
}

impl DiscordNotifier {
    pub fn new(http: Arc<serenity::Http>, store: Store, message_content: bool) -> Self {
        Self {
            http,
            store,
            message_content,
        }
    }

    fn place<'a>(&self, job: &'a Job) -> std::borrow::Cow<'a, Place> {
        match &job.place {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(Place {
                channel_id: job.channel_id,
                status_message_id: None,
                progress_message_id: None,
                in_thread: false,
            }),
        }
    }

    /// Sends a final message into the job's conversation; if the thread is gone or archived,
    /// into the channel the request came from.
    async fn post_final(
        &self,
        job: &Job,
        build: impl Fn() -> CreateMessage,
        files: Vec<CreateAttachment>,
    ) -> Result<Posted, NotifyError> {
        if let Some(earlier) = self.already_posted(job).await {
            return Ok(earlier);
        }
        let place = self.place(job);
        let posted = |m: serenity::Message| Posted {
            message_id: m.id.get(),
            channel_id: m.channel_id.get(),
        };
        let target = ChannelId::new(place.channel_id);
        match target.send_files(&self.http, files.clone(), build()).await {
            Ok(m) => Ok(posted(m)),
            Err(e) => match discord_error(&e) {
                Some((_, CODE_UNKNOWN_CHANNEL | CODE_THREAD_ARCHIVED))
                    if place.channel_id != job.channel_id =>
                {
                    metrics::counter!(crate::metrics::names::DISCORD_ERRORS, "kind" => "thread_gone")
                        .increment(1);
                    warn!(error = %describe(&e), "the thread is gone or archived; posting in the channel");
                    let m = ChannelId::new(job.channel_id)
                        .send_files(&self.http, files, build())
                        .await
                        .map_err(send_error)?;
                    Ok(posted(m))
                }
                _ => Err(send_error(e)),
            },
        }
    }

    /// A final message for this job already in recent history, found by the button that names
    /// the job. Discord's nonce only dedupes for a few minutes; this catches a post whose record
    /// was lost in a crash longer ago than that.
    async fn already_posted(&self, job: &Job) -> Option<Posted> {
        let marker = Action::Reroll(job.id).custom_id();
        let place = self.place(job);
        let mut channels = vec![place.channel_id];
        if job.channel_id != place.channel_id {
            channels.push(job.channel_id);
        }
        for channel in channels {
            let recent = match ChannelId::new(channel)
                .messages(&self.http, GetMessages::new().limit(50))
                .await
            {
                Ok(m) => m,
                Err(e) => {
                    debug!(error = %describe(&e), "cannot read recent messages");
                    continue;
                }
            };
            let found = recent.into_iter().find(|m| {
                m.author.bot
                    && m.components.iter().flat_map(|r| &r.components).any(|c| {
                        matches!(c, serenity::ActionRowComponent::Button(b)
                            if matches!(&b.data, serenity::ButtonKind::NonLink { custom_id, .. } if *custom_id == marker))
                    })
            });
            if let Some(m) = found {
                info!(message_id = %m.id, "already posted; not posting again");
                return Some(Posted {
                    message_id: m.id.get(),
                    channel_id: channel,
                });
            }
        }
        None
    }

    async fn edit(
        &self,
        channel: u64,
        message: Option<u64>,
        content: String,
        components: Vec<serenity::CreateActionRow>,
    ) {
        let Some(message) = message else { return };
        let edit = EditMessage::new().content(content).components(components);
        if let Err(e) = ChannelId::new(channel)
            .edit_message(&self.http, MessageId::new(message), edit)
            .await
        {
            metrics::counter!(crate::metrics::names::DISCORD_ERRORS, "kind" => "edit").increment(1);
            warn!(error = %describe(&e), "cannot edit a status message");
        }
    }

    /// Marks the progress message (and the status message above the thread) as finished.
    async fn close_progress(&self, job: &Job, line: &str) {
        let place = self.place(job);
        let progress = if place.in_thread {
            line.to_owned()
        } else {
            format!("{}\n{line}", header(job))
        };
        self.edit(
            place.channel_id,
            place.progress_message_id,
            progress,
            Vec::new(),
        )
        .await;
        if place.in_thread {
            let status = format!("{}\n{line}", header(job));
            self.edit(job.channel_id, place.status_message_id, status, Vec::new())
                .await;
        }
    }
}

#[async_trait::async_trait]
impl Notifier for DiscordNotifier {
    async fn open(&self, job: &Job) -> Result<Place, NotifyError> {
        if let Some(conversation) = job.conversation {
            // A request made inside a conversation stays there: one progress message.
            let progress = CreateMessage::new()
                .content(format!("{}\n⏳ Starting…", header(job)))
                .allowed_mentions(quiet())
                .nonce(nonce('p', job))
                .enforce_nonce(true);
            let m = ChannelId::new(conversation)
                .send_message(&self.http, progress)
                .await
                .map_err(other)?;
            return Ok(Place {
                channel_id: conversation,
                status_message_id: None,
                progress_message_id: Some(m.id.get()),
                in_thread: false,
            });
        }
        let channel = ChannelId::new(job.channel_id);
        let status = CreateMessage::new()
            .content(format!("{}\n⏳ Starting…", header(job)))
            .allowed_mentions(quiet())
            .nonce(nonce('s', job))
            .enforce_nonce(true);
        let status = channel
            .send_message(&self.http, status)
            .await
            .map_err(other)?;
        let in_place = Place {
            channel_id: job.channel_id,
            status_message_id: Some(status.id.get()),
            progress_message_id: Some(status.id.get()),
            in_thread: false,
        };
        if job.guild_id.is_none() {
            // No threads in DMs: the conversation stays here.
            let _ = self.store.ensure_thread(job.channel_id, false);
            return Ok(in_place);
        }
        let thread = CreateThread::new(thread_name(job.request.prompt()))
            .auto_archive_duration(serenity::AutoArchiveDuration::OneDay);
        // A thread made from a message has the message's id, and Discord shows it to users
        // before its creation is answered: record it first, so that a message sent there at
        // once is understood.
        self.store
            .open_thread(status.id.get(), job.id)
            .map_err(|e| NotifyError::Other(format!("cannot record the thread: {e}")))?;
        let thread_id = match channel
            .create_thread_from_message(&self.http, status.id, thread)
            .await
        {
            Ok(t) => t.id.get(),
            // A thread made from a message has the message's id: after a crash it already exists.
            Err(e) if discord_error(&e).map(|d| d.1) == Some(CODE_THREAD_EXISTS) => status.id.get(),
            Err(e) => {
                let Some((_, code)) = discord_error(&e) else {
                    // Not an answer from Discord: retry (the nonce keeps the status message single).
                    return Err(other(e));
                };
                metrics::counter!(crate::metrics::names::DISCORD_ERRORS, "kind" => "no_thread")
                    .increment(1);
                if let Err(e) = self.store.forget_empty_thread(status.id.get()) {
                    warn!(error = %e, "cannot forget the thread that was not made");
                }
                info!(error = %describe(&e), "no thread; posting in place");
                let permission = matches!(code, CODE_MISSING_PERMISSIONS | CODE_MISSING_ACCESS);
                let first = permission
                    && self
                        .store
                        .first_time(&format!("thread-tip:{}", job.channel_id))
                        .unwrap_or(false);
                if first {
                    let tip = CreateMessage::new()
                        .content(format!(
                            "💡 <@{}>, I'll post this clip right here. Give me the **Create Public Threads** and **Send Messages in Threads** permissions in this channel and every clip gets its own thread.",
                            job.user_id
                        ))
                        .allowed_mentions(mention_author(job))
                        .nonce(nonce('t', job))
                        .enforce_nonce(true);
                    if let Err(e) = channel.send_message(&self.http, tip).await {
                        warn!(error = %describe(&e), "cannot post the thread tip");
                    }
                }
                let _ = self.store.ensure_thread(job.channel_id, false);
                return Ok(in_place);
            }
        };
        if !self.message_content {
            let tip = CreateMessage::new()
                .content(NO_INTENT_TIP)
                .nonce(nonce('i', job))
                .enforce_nonce(true);
            if let Err(e) = ChannelId::new(thread_id)
                .send_message(&self.http, tip)
                .await
            {
                warn!(error = %describe(&e), "cannot post the intent tip");
            }
        }
        let progress = CreateMessage::new()
            .content("⏳ Sending your request to PixelDojo…")
            .nonce(nonce('p', job))
            .enforce_nonce(true);
        let progress = ChannelId::new(thread_id)
            .send_message(&self.http, progress)
            .await
            .map_err(other)?;
        Ok(Place {
            channel_id: thread_id,
            status_message_id: Some(status.id.get()),
            progress_message_id: Some(progress.id.get()),
            in_thread: true,
        })
    }

    async fn progress(&self, job: &Job, progress: &Progress) -> Result<(), NotifyError> {
        let place = self.place(job);
        let text = match progress {
            Progress::Queued {
                behind_conversation: true,
                ..
            } => "🕒 Queued: I'll start as soon as the clip before it is done, and build on it.".to_owned(),
            Progress::Queued { position, .. } => format!(
                "🕒 Queued (#{position} in your line): you already have clips rendering. I'll start this one as soon as one finishes."
            ),
            Progress::Submitting => "⏳ Sending your request to PixelDojo…".to_owned(),
            Progress::Rendering {
                elapsed_ms,
                expected_ms,
                ..
            } => format!(
                "🎞️ Rendering `{}` {} (usually about {})",
                progress_bar(*elapsed_ms, *expected_ms, 12),
                clock(*elapsed_ms),
                clock(*expected_ms)
            ),
            Progress::Delivering => "📥 Done rendering; posting your clip…".to_owned(),
        };
        let text = if place.in_thread {
            text
        } else {
            format!("{}\n{text}", header(job))
        };
        // Only a request still waiting in line can be withdrawn; once it is sent to PixelDojo
        // the API offers no cancel, so the button goes away.
        let components = match progress {
            Progress::Queued { .. } => vec![cancel_button(job.id)],
            _ => Vec::new(),
        };
        self.edit(
            place.channel_id,
            place.progress_message_id,
            text,
            components,
        )
        .await;
        Ok(())
    }

    async fn deliver(
        &self,
        job: &Job,
        clip: &ClipFile,
        version: &Version,
    ) -> Result<Posted, NotifyError> {
        let posted = match self.post_clip(job, clip, version).await {
            Err(NotifyError::MissingPermission) => {
                // May post but not attach: the link, naming the permission. May not post at
                // all: the clip goes to the user privately.
                let link = ClipFile::Link {
                    url: clip.url().to_owned(),
                    why: LinkReason::NoAttachPermission,
                };
                let as_link = match clip {
                    ClipFile::Upload { .. } => self.post_clip(job, &link, version).await,
                    ClipFile::Link { .. } => Err(NotifyError::MissingPermission),
                };
                match as_link {
                    Err(NotifyError::MissingPermission) => {
                        let text = format!(
                            "{}\n{}",
                            self.clip_text(job, &link, version),
                            self.cannot_post(job)
                        );
                        self.post_privately(job, text, clip_row(job, version)).await
                    }
                    other => other,
                }
            }
            other => other,
        }?;
        self.close_progress(job, "✅ Done.").await;
        Ok(posted)
    }

    async fn fail(&self, job: &Job, reason: &str) -> Result<Posted, NotifyError> {
        let content = truncate(&format!("❌ <@{}>, {reason}", job.user_id), CONTENT_MAX);
        let build = || {
            CreateMessage::new()
                .content(content.clone())
                .allowed_mentions(mention_author(job))
                .components(vec![retry_button(job.id)])
                .nonce(nonce('x', job))
                .enforce_nonce(true)
        };
        let posted = match self.post_final(job, build, Vec::new()).await {
            Err(NotifyError::MissingPermission) => {
                let text = format!(
                    "❌ About **{}**: {reason}\n{}",
                    truncate(job.request.prompt(), 200),
                    self.cannot_post(job)
                );
                self.post_privately(job, text, retry_button(job.id)).await
            }
            other => other,
        }?;
        self.close_progress(job, "❌ No clip this time (see below).")
            .await;
        Ok(posted)
    }
}

/// The buttons under a clip.
fn clip_row(job: &Job, version: &Version) -> serenity::CreateActionRow {
    let aspect = job
        .request
        .aspect_ratio()
        .unwrap_or(crate::request::AspectRatio::Landscape);
    clip_buttons(job.id, aspect, version.can_continue)
}

impl DiscordNotifier {
    /// The text of a clip message.
    fn clip_text(&self, job: &Job, clip: &ClipFile, version: &Version) -> String {
        let lineage = match &version.parent_label {
            Some(parent) => format!("**{}** (from {parent})", version.label),
            None => format!("**{}**", version.label),
        };
        let text = match clip {
            ClipFile::Upload { .. } => format!(
                "✅ {lineage} · <@{}>, here's your clip!\n{}",
                job.user_id,
                quoted_prompt(job)
            ),
            ClipFile::Link { url, why } => {
                let reason = match why {
                    LinkReason::TooLarge => format!(
                        "it's larger than the {} Discord accepts here",
                        HumanBytes(job.attachment_size_limit)
                    ),
                    LinkReason::DownloadFailed => "I couldn't download it to upload it".to_owned(),
                    LinkReason::NoAttachPermission => {
                        "I'm missing the **Attach Files** permission here (a server admin can grant it)"
                            .to_owned()
                    }
                };
                format!(
                    "✅ {lineage} · <@{}>, your clip is ready, but {reason}, so here is the link: {url}\n⚠️ The link is temporary (about a day): download it soon.\n{}",
                    job.user_id,
                    quoted_prompt(job)
                )
            }
        };
        truncate(&text, CONTENT_MAX)
    }

    /// Posts a clip in the job's conversation (uploading it, or its link).
    async fn post_clip(
        &self,
        job: &Job,
        clip: &ClipFile,
        version: &Version,
    ) -> Result<Posted, NotifyError> {
        let content = self.clip_text(job, clip, version);
        let files = match clip {
            ClipFile::Upload { data, filename, .. } => {
                vec![CreateAttachment::bytes(data.to_vec(), filename.clone())]
            }
            ClipFile::Link { .. } => Vec::new(),
        };
        let build = || {
            CreateMessage::new()
                .content(content.clone())
                .allowed_mentions(mention_author(job))
                .components(vec![clip_row(job, version)])
                .nonce(nonce('d', job))
                .enforce_nonce(true)
        };
        self.post_final(job, build, files).await
    }

    /// Why the user is reading this in a DM: the permission the bot lacks, by name.
    fn cannot_post(&self, job: &Job) -> String {
        let place = self.place(job);
        let permission = if place.in_thread {
            "Send Messages in Threads"
        } else {
            "Send Messages"
        };
        format!(
            "ℹ️ I couldn't post this in <#{}>: I'm missing the **{permission}** permission there. A server admin can grant it.",
            place.channel_id
        )
    }

    /// Sends a final message to the user directly, when the channel refuses the bot.
    async fn post_privately(
        &self,
        job: &Job,
        text: String,
        row: serenity::CreateActionRow,
    ) -> Result<Posted, NotifyError> {
        let dm = serenity::UserId::new(job.user_id)
            .create_dm_channel(&self.http)
            .await
            .map_err(send_error)?;
        let message = CreateMessage::new()
            .content(truncate(&text, CONTENT_MAX))
            .components(vec![row])
            .nonce(nonce('m', job))
            .enforce_nonce(true);
        let m = dm
            .id
            .send_message(&self.http, message)
            .await
            .map_err(send_error)?;
        info!(channel = %job.channel_id, "posted privately: the channel refuses the bot");
        Ok(Posted {
            message_id: m.id.get(),
            channel_id: m.channel_id.get(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_name_is_one_line_of_at_most_100_characters() {
        let long = "word ".repeat(60);
        let name = thread_name(&long);
        assert!(name.chars().count() <= 100, "{}", name.len());
        assert!(name.ends_with('…'));
        assert_eq!(thread_name("a\nb   c"), "a b c");
        let unbroken = "x".repeat(150);
        assert_eq!(thread_name(&unbroken).chars().count(), 100);
    }

    #[test]
    fn short_text_is_not_cut() {
        assert_eq!(truncate("hello", 10), "hello");
    }
}
