//! Posting a job's final message (its clip, or why there is none) when Discord refuses: the
//! thread is gone (post in the channel it came from), the file may not be attached (post the
//! link), the channel refuses the bot altogether (send it to the user privately).
//!
//! A final message is posted at most once: each carries the job's nonce, and before posting,
//! the recent messages are searched for one already there (a post whose answer was lost longer
//! ago than Discord's nonce window).
//!
//! Also here: closing the progress and status messages once the outcome is posted, and keeping
//! the status message above a thread pointed at the thread's newest clip.

use tracing::{info, warn};

use super::ports::{
    Body, ChatError, ClipFile, ClipLink, LinkReason, Nonce, NonceKind, Outgoing, Permission,
    Version,
};
use super::{DiscordError, EngineEvent, Inner};
use crate::domain::ids::{ChannelId, ConversationId, MessageId};
use crate::domain::job::{FailReason, Job, JobState};

/// Where a final message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Posted {
    pub message: MessageId,
    pub channel: ChannelId,
}

/// What a final message carries.
#[derive(Clone, Copy)]
enum Final<'a> {
    Clip(&'a ClipFile, &'a Version),
    Failure(&'a FailReason),
}

impl<'a> Final<'a> {
    fn body(self, job: &'a Job, privately: Option<Permission>) -> Body<'a> {
        match self {
            Final::Clip(file, version) => Body::Clip {
                job,
                file,
                version,
                privately,
            },
            Final::Failure(reason) => Body::Failure {
                job,
                reason,
                privately,
            },
        }
    }

    fn nonce(self, job: &Job, privately: bool) -> Option<Nonce> {
        let kind = match (privately, self) {
            (true, _) => NonceKind::Private,
            (false, Final::Clip(..)) => NonceKind::Clip,
            (false, Final::Failure(_)) => NonceKind::Failure,
        };
        Some(Nonce { job: job.id, kind })
    }
}

/// Posts the clip; returns where, and whether it went out as a link.
pub(super) async fn clip(
    cx: &Inner,
    job: &Job,
    file: &ClipFile,
    version: &Version,
) -> Result<(Posted, bool), ChatError> {
    let as_link = |why| ClipFile::Link {
        url: file.url().to_owned(),
        why,
    };
    let is_upload = matches!(file, ClipFile::Upload { .. });
    match in_conversation(cx, job, Final::Clip(file, version)).await {
        Ok(posted) => Ok((posted, !is_upload)),
        Err(ChatError::TooLarge) if is_upload => {
            info!("Discord refused the upload as too large; posting the link");
            cx.emit(EngineEvent::DiscordError {
                kind: DiscordError::TooLarge,
            });
            let link = as_link(LinkReason::TooLarge);
            let posted = in_conversation(cx, job, Final::Clip(&link, version)).await;
            match posted {
                Err(ChatError::MissingPermission) => {
                    missing(cx, job, send_permission(job));
                    privately(cx, job, Final::Clip(&link, version)).await
                }
                other => other,
            }
            .map(|p| (p, true))
        }
        Err(ChatError::MissingPermission) => {
            // May post but not attach: the link, naming the permission. May not post at all:
            // the clip goes to the user privately.
            let link = as_link(LinkReason::NoAttachPermission);
            let posted = if is_upload {
                in_conversation(cx, job, Final::Clip(&link, version)).await
            } else {
                Err(ChatError::MissingPermission)
            };
            match posted {
                Err(ChatError::MissingPermission) => {
                    missing(cx, job, send_permission(job));
                    privately(cx, job, Final::Clip(&link, version)).await
                }
                Ok(posted) => {
                    missing(cx, job, Permission::AttachFiles);
                    Ok(posted)
                }
                other => other,
            }
            .map(|p| (p, true))
        }
        Err(e) => Err(e),
    }
}

/// Posts why the job ended without a clip.
pub(super) async fn failure(
    cx: &Inner,
    job: &Job,
    reason: &FailReason,
) -> Result<Posted, ChatError> {
    match in_conversation(cx, job, Final::Failure(reason)).await {
        Err(ChatError::MissingPermission) => {
            missing(cx, job, send_permission(job));
            privately(cx, job, Final::Failure(reason)).await
        }
        other => other,
    }
}

/// The permission to post where the job posts.
fn send_permission(job: &Job) -> Permission {
    match &job.place {
        Some(place) if place.in_thread => Permission::SendMessagesInThreads,
        _ => Permission::SendMessages,
    }
}

/// Reports a permission the bot lacks where the job posts (in a server), for its moderators.
fn missing(cx: &Inner, job: &Job, permission: Permission) {
    if job.guild.is_some() {
        cx.emit(EngineEvent::PermissionMissing {
            job,
            channel: job.posts_in(),
            permission,
        });
    }
}

/// Posts in the job's conversation; where that is gone (a deleted or archived thread), in the
/// channel the request was made in, then that channel's parent; where every place is gone, to
/// the user directly.
async fn in_conversation(cx: &Inner, job: &Job, what: Final<'_>) -> Result<Posted, ChatError> {
    let places = job.places_to_post();
    if let Some(earlier) = already_posted(cx, &places, job).await? {
        return Ok(earlier);
    }
    for (i, target) in places.iter().copied().enumerate() {
        let outgoing = Outgoing {
            body: what.body(job, None),
            nonce: what.nonce(job, false),
        };
        match cx.chat.send(target, outgoing).await {
            Ok(message) => {
                return Ok(Posted {
                    message,
                    channel: target,
                })
            }
            Err(ChatError::Gone) => {
                cx.emit(EngineEvent::DiscordError {
                    kind: DiscordError::ThreadGone,
                });
                warn!(channel = %target, "the place to post is gone or archived; trying the next");
                if i + 1 == places.len() {
                    return privately(cx, job, what).await;
                }
            }
            Err(e) => {
                if e == ChatError::MissingPermission {
                    cx.emit(EngineEvent::DiscordError {
                        kind: DiscordError::MissingPermission,
                    });
                }
                return Err(e);
            }
        }
    }
    privately(cx, job, what).await
}

/// A final message for this job already in the recent history of one of `places`. A history
/// that cannot be read is an error, not a "no": posting blind could post twice once Discord's
/// nonce window has passed.
async fn already_posted(
    cx: &Inner,
    places: &[ChannelId],
    job: &Job,
) -> Result<Option<Posted>, ChatError> {
    for &channel in places {
        match cx.chat.find_final(channel, job.id).await {
            Ok(Some(message)) => {
                info!(message_id = %message, "already posted; not posting again");
                return Ok(Some(Posted { message, channel }));
            }
            Ok(None) | Err(ChatError::Gone) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Sends a final message to the user directly, when the channel refuses the bot.
async fn privately(cx: &Inner, job: &Job, what: Final<'_>) -> Result<Posted, ChatError> {
    let permission = send_permission(job);
    let dm = cx.chat.dm_channel(job.user).await?;
    if let Some(message) = cx.chat.find_final(dm, job.id).await? {
        return Ok(Posted {
            message,
            channel: dm,
        });
    }
    let outgoing = Outgoing {
        body: what.body(job, Some(permission)),
        nonce: what.nonce(job, true),
    };
    let message = cx.chat.send(dm, outgoing).await.inspect_err(|e| {
        if *e == ChatError::DmClosed {
            cx.emit(EngineEvent::DiscordError {
                kind: DiscordError::DmClosed,
            });
        }
    })?;
    info!(channel = %job.channel, "posted privately: the channel refuses the bot");
    Ok(Posted {
        message,
        channel: dm,
    })
}

/// Marks the progress message (and the status message above the thread, which links to
/// `latest`, the clip just posted) as finished.
pub(super) async fn close_progress(
    cx: &Inner,
    job: &Job,
    delivered: bool,
    latest: Option<&ClipLink>,
) {
    let Some(place) = &job.place else { return };
    let mut edits = Vec::new();
    if let Some(progress) = place.progress_message {
        edits.push((
            place.conversation.channel(),
            progress,
            !place.in_thread,
            None,
        ));
    }
    if let (true, Some(status)) = (place.in_thread, place.status_message) {
        edits.push((job.channel, status, true, latest));
    }
    for (channel, message, with_header, latest) in edits {
        let body = Body::Closed {
            job,
            delivered,
            with_header,
            latest,
        };
        edit_closed(cx, channel, message, body).await;
    }
}

/// Points the status message above a thread the bot opened at the thread's newest clip that
/// was not deleted: after a follow-up is posted there, or a clip is deleted. Best effort.
pub(super) async fn point_status(cx: &Inner, conversation: ConversationId) {
    let record = match cx.store.conversation(conversation).await {
        Ok(Some(record)) if record.owned => record,
        Ok(_) => return,
        Err(e) => return warn!(error = %e, "cannot read the conversation"),
    };
    let Some(first) = record.opened_for else {
        return;
    };
    let root = match cx.store.job(first).await {
        Ok(Some(root)) if root.state.is_final() => root,
        Err(e) => return warn!(error = %e, "cannot read the thread's first job"),
        // Still open: its own outcome updates the status message.
        _ => return,
    };
    let Some(place) = root.place.as_ref().filter(|p| p.in_thread) else {
        return;
    };
    let Some(status) = place.status_message else {
        return;
    };
    let latest = record.latest_clip().map(|clip| ClipLink {
        guild: root.guild,
        channel: conversation.channel(),
        message: clip.message_id,
        label: clip.label.clone(),
    });
    let delivered = latest.is_some() || matches!(root.state, JobState::Delivered { .. });
    let body = Body::Closed {
        job: &root,
        delivered,
        with_header: true,
        latest: latest.as_ref(),
    };
    edit_closed(cx, root.channel, status, body).await;
}

async fn edit_closed(cx: &Inner, channel: ChannelId, message: MessageId, body: Body<'_>) {
    if let Err(e) = cx.chat.edit(channel, message, body).await {
        cx.emit(EngineEvent::DiscordError {
            kind: DiscordError::Edit,
        });
        warn!(error = %e, "cannot close the status message");
    }
}
