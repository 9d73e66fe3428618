//! The engine's Discord side ([`Chat`]) over serenity's HTTP client: transport only. It words
//! each [`Body`] with [`super::texts`], adds the buttons that belong to it, and maps Discord's
//! refusals to [`ChatError`]s. Every message sets its allowed mentions: the bot pings at most
//! the person a clip or a reason is for, never roles or everyone. Everything here uses the bot
//! token, never an interaction token (which expires after 15 minutes).

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::{
    CreateActionRow, CreateAllowedMentions, CreateAttachment, CreateMessage, CreateThread,
    EditMessage, GetMessages,
};

use super::buttons::{cancel_button, clip_buttons, final_markers, retry_button};
use super::errors::{describe, discord_error};
use super::texts;
use crate::domain::ids::{ChannelId, JobId, MessageId, UserId};
use crate::domain::lineage::Frame;
use crate::domain::request::AspectRatio;
use crate::engine::ports::{Body, Chat, ChatError, ClipFile, Nonce, Outgoing, Progress};

const CODE_UNKNOWN_CHANNEL: isize = 10003;
const CODE_TOO_LARGE: isize = 40005;
const CODE_MISSING_ACCESS: isize = 50001;
const CODE_CANNOT_DM: isize = 50007;
const CODE_MISSING_PERMISSIONS: isize = 50013;
const CODE_THREAD_ARCHIVED: isize = 50083;
const CODE_THREAD_EXISTS: isize = 160004;

/// How many recent messages are searched for a final message already posted.
const HISTORY: u8 = 50;

/// Links that expire within this many seconds are refreshed before they are handed on.
const REFRESH_MARGIN_SECS: u64 = 15 * 60;
/// Discord refreshes at most this many links per request.
const REFRESH_BATCH: usize = 50;

pub struct DiscordChat {
    http: Arc<serenity::Http>,
    /// For the one endpoint serenity 0.12 has no method for (refreshing attachment links).
    client: reqwest::Client,
}

impl DiscordChat {
    pub fn new(http: Arc<serenity::Http>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            // Only fails if the TLS backend cannot initialise, which is a broken build.
            .expect("the HTTP client can be built");
        Self { http, client }
    }

    /// `POST /attachments/refresh-urls`: fresh links for expired attachment links.
    async fn refresh_batch(&self, stale: &[String]) -> Result<Vec<(String, String)>, ChatError> {
        #[derive(serde::Deserialize)]
        struct Refreshed {
            original: String,
            refreshed: String,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            refreshed_urls: Vec<Refreshed>,
        }
        let base = self.http.proxy.as_deref().unwrap_or("https://discord.com");
        let url = format!(
            "{}/api/v10/attachments/refresh-urls",
            base.trim_end_matches('/')
        );
        let mut auth = reqwest::header::HeaderValue::from_str(self.http.token())
            .map_err(|_| ChatError::Refused { code: 0 })?;
        auth.set_sensitive(true);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .json(&serde_json::json!({ "attachment_urls": stale }))
            .send()
            .await
            .map_err(|e| ChatError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ChatError::Unavailable(format!("Discord answered {status}")));
        }
        if !status.is_success() {
            return Err(ChatError::Refused {
                code: i64::from(status.as_u16()),
            });
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| ChatError::Unavailable(e.without_url().to_string()))?;
        Ok(answer
            .refreshed_urls
            .into_iter()
            .map(|r| (r.original, r.refreshed))
            .collect())
    }
}

/// Whether a Discord attachment link expires within the margin. Its `ex` query parameter is the
/// expiry in Unix seconds, in hex; a link without one does not expire (or is not Discord's).
pub fn expires_soon(link: &str, now_secs: u64) -> bool {
    let Ok(url) = url::Url::parse(link) else {
        return false;
    };
    url.query_pairs()
        .find(|(k, _)| k == "ex")
        .and_then(|(_, v)| u64::from_str_radix(&v, 16).ok())
        .is_some_and(|ex| ex < now_secs + REFRESH_MARGIN_SECS)
}

/// A body as Discord takes it.
struct Rendered {
    content: String,
    components: Vec<CreateActionRow>,
    files: Vec<CreateAttachment>,
    mentions: CreateAllowedMentions,
}

fn render(body: &Body<'_>) -> Rendered {
    let quiet = CreateAllowedMentions::new;
    let author = |user: UserId| CreateAllowedMentions::new().users([serenity::UserId::new(user.0)]);
    let plain = |content: String| Rendered {
        content,
        components: Vec::new(),
        files: Vec::new(),
        mentions: quiet(),
    };
    match *body {
        Body::Status { job } => plain(texts::status(job)),
        Body::Progress {
            job,
            progress,
            with_header,
        } => Rendered {
            components: match progress {
                // Only a request still waiting in line can be withdrawn; once it is sent to
                // PixelDojo the API offers no cancel, so the button goes away.
                Progress::Queued { .. } => vec![cancel_button(job.id)],
                _ => Vec::new(),
            },
            ..plain(texts::progress(job, progress, with_header))
        },
        Body::Closed {
            job,
            delivered,
            with_header,
            latest,
        } => plain(texts::closed(job, delivered, with_header, latest)),
        Body::Clip {
            job,
            file,
            version,
            privately,
        } => Rendered {
            content: texts::clip(job, file, version, privately),
            components: vec![clip_buttons(
                job.id,
                match job.shape().frame {
                    Some(Frame::SourceVideo) => None,
                    Some(Frame::Aspect(a)) => Some(a),
                    None => Some(AspectRatio::Landscape),
                },
                version.can_continue,
            )],
            files: match file {
                ClipFile::Upload { data, filename, .. } => {
                    vec![CreateAttachment::bytes(data.to_vec(), filename.clone())]
                }
                ClipFile::Link { .. } => Vec::new(),
            },
            mentions: author(job.user),
        },
        Body::Failure {
            job,
            reason,
            privately,
        } => Rendered {
            content: texts::failure(job, reason, privately),
            components: vec![retry_button(job.id, reason)],
            files: Vec::new(),
            mentions: author(job.user),
        },
        // Moderators' lines name members and channels without pinging anyone.
        Body::PermissionTip {
            channel,
            permission,
        } => plain(texts::permission_tip(channel, permission)),
        Body::PrivateNotice {
            channel,
            permission,
        } => plain(texts::private_notice(channel, permission)),
        Body::ModLogClip { job } => plain(texts::mod_log_clip(job)),
        Body::ModLogRefusal {
            user,
            channel,
            prompt,
            owner,
        } => plain(texts::mod_log_refusal(user, channel, prompt, owner)),
        Body::ModLogStart => plain(texts::MOD_LOG_START.to_owned()),
        Body::IntentTip => plain(texts::INTENT_TIP.to_owned()),
        Body::KeyRejected => plain(texts::key_rejected()),
        Body::LowCredits {
            remaining,
            threshold,
        } => plain(texts::low_credits(remaining, threshold)),
    }
}

/// A nonce that identifies one message of one job (Discord allows 25 characters).
fn nonce(n: Nonce) -> serenity::Nonce {
    serenity::Nonce::String(format!("o{}{}", n.kind.letter(), n.job))
}

fn chat_error(e: &serenity::Error) -> ChatError {
    match discord_error(e) {
        Some((413, _)) | Some((_, CODE_TOO_LARGE)) => ChatError::TooLarge,
        Some((_, CODE_MISSING_PERMISSIONS | CODE_MISSING_ACCESS)) => ChatError::MissingPermission,
        Some((_, CODE_UNKNOWN_CHANNEL | CODE_THREAD_ARCHIVED)) => ChatError::Gone,
        Some((_, CODE_THREAD_EXISTS)) => ChatError::ThreadExists,
        Some((_, CODE_CANNOT_DM)) => ChatError::DmClosed,
        Some((status, _)) if status >= 500 || status == 429 => ChatError::Unavailable(describe(e)),
        Some((_, code)) => ChatError::Refused { code: code as i64 },
        None => ChatError::Unavailable(describe(e)),
    }
}

fn channel(id: ChannelId) -> serenity::ChannelId {
    serenity::ChannelId::new(id.0)
}

#[async_trait::async_trait]
impl Chat for DiscordChat {
    async fn send(&self, to: ChannelId, message: Outgoing<'_>) -> Result<MessageId, ChatError> {
        let rendered = render(&message.body);
        let mut create = CreateMessage::new()
            .content(rendered.content)
            .allowed_mentions(rendered.mentions)
            .components(rendered.components);
        if let Some(n) = message.nonce {
            create = create.nonce(nonce(n)).enforce_nonce(true);
        }
        channel(to)
            .send_files(&self.http, rendered.files, create)
            .await
            .map(|m| MessageId(m.id.get()))
            .map_err(|e| chat_error(&e))
    }

    async fn edit(
        &self,
        at: ChannelId,
        message: MessageId,
        body: Body<'_>,
    ) -> Result<(), ChatError> {
        let rendered = render(&body);
        let edit = EditMessage::new()
            .content(rendered.content)
            .components(rendered.components)
            .allowed_mentions(rendered.mentions);
        channel(at)
            .edit_message(&self.http, serenity::MessageId::new(message.0), edit)
            .await
            .map(|_| ())
            .map_err(|e| chat_error(&e))
    }

    async fn create_thread(
        &self,
        at: ChannelId,
        from: MessageId,
        job: &crate::domain::job::Job,
    ) -> Result<ChannelId, ChatError> {
        let thread = CreateThread::new(texts::thread_name(job.request.prompt()))
            .auto_archive_duration(serenity::AutoArchiveDuration::OneDay);
        channel(at)
            .create_thread_from_message(&self.http, serenity::MessageId::new(from.0), thread)
            .await
            .map(|t| ChannelId(t.id.get()))
            .map_err(|e| chat_error(&e))
    }

    async fn find_final(&self, at: ChannelId, job: JobId) -> Result<Option<MessageId>, ChatError> {
        let markers = final_markers(job);
        let recent = channel(at)
            .messages(&self.http, GetMessages::new().limit(HISTORY))
            .await
            .map_err(|e| chat_error(&e))?;
        let found = recent.into_iter().find(|m| {
            m.author.bot
                && m.components.iter().flat_map(|r| &r.components).any(|c| {
                    matches!(c, serenity::ActionRowComponent::Button(b)
                        if matches!(&b.data, serenity::ButtonKind::NonLink { custom_id, .. } if markers.contains(custom_id)))
                })
        });
        Ok(found.map(|m| MessageId(m.id.get())))
    }

    async fn delete(&self, at: ChannelId, message: MessageId) -> Result<(), ChatError> {
        match channel(at)
            .delete_message(&self.http, serenity::MessageId::new(message.0))
            .await
        {
            Ok(()) => Ok(()),
            // Already gone (deleted by hand, or a second press): what was asked is done.
            Err(e) if matches!(discord_error(&e), Some((404, _))) => Err(ChatError::Gone),
            Err(e) => Err(chat_error(&e)),
        }
    }

    async fn dm_channel(&self, user: UserId) -> Result<ChannelId, ChatError> {
        serenity::UserId::new(user.0)
            .create_dm_channel(&self.http)
            .await
            .map(|c| ChannelId(c.id.get()))
            .map_err(|e| chat_error(&e))
    }

    async fn refresh_urls(&self, urls: &[String]) -> Result<Vec<String>, ChatError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let stale: Vec<String> = urls
            .iter()
            .filter(|u| expires_soon(u, now))
            .cloned()
            .collect();
        let mut fresh = std::collections::BTreeMap::new();
        for batch in stale.chunks(REFRESH_BATCH) {
            fresh.extend(self.refresh_batch(batch).await?);
        }
        Ok(urls
            .iter()
            .map(|u| fresh.get(u).cloned().unwrap_or_else(|| u.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ports::NonceKind;

    #[test]
    fn a_link_is_refreshed_only_when_its_expiry_is_near() {
        let now = 0x6700_0000;
        let link = |ex: u64| {
            format!("https://cdn.discordapp.com/attachments/1/2/a.png?ex={ex:x}&is=1&hm=ab")
        };
        assert!(expires_soon(&link(now - 10), now));
        assert!(expires_soon(&link(now + 60), now));
        assert!(!expires_soon(&link(now + 3600), now));
        assert!(!expires_soon("https://example.com/a.png", now));
        assert!(!expires_soon("https://cdn.discordapp.com/a.png?ex=zz", now));
    }

    #[test]
    fn nonces_fit_discords_25_characters_and_name_the_job_and_the_kind() {
        let n = nonce(Nonce {
            job: JobId(u64::MAX),
            kind: NonceKind::Clip,
        });
        let serenity::Nonce::String(text) = n else {
            panic!("a string nonce")
        };
        assert!(text.len() <= 25, "{text}");
        assert!(text.starts_with("od"));
        assert!(text.ends_with(&u64::MAX.to_string()));
    }
}
