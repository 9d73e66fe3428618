//! Step `Accepted → Queued`: post the status message and open the job's conversation: a thread
//! from the status message, or the channel itself where no thread can be made (DMs, missing
//! permissions), or the conversation a follow-up was asked in. Where the channel refuses the bot
//! altogether, the conversation opens in the requester's direct messages (they were told so
//! before the request was accepted). A missing permission is reported
//! ([`EngineEvent::PermissionMissing`]) for the server's moderators, never told in the channel.

use tracing::{info, warn};

use super::ports::{Body, ChatError, Nonce, NonceKind, Outgoing, Permission, Progress};
use super::retry::{retry, Attempt, GaveUp};
use super::{DiscordError, EngineEvent, Inner, Step};
use crate::domain::ids::{ChannelId, ConversationId, MessageId};
use crate::domain::job::{FailReason, Job, JobState, Place};

pub(super) async fn open(cx: &Inner, mut job: Job) -> Step {
    let mut stop = cx.stop_rx();
    let placed = retry(&cx.settings.retries.open, None, &mut stop, |attempt| {
        let job = &job;
        async move {
            place(cx, job).await.map_err(|e| {
                warn!(attempt, error = %e, "cannot open the conversation");
                if e.is_transient() {
                    Attempt::Retry(e)
                } else {
                    Attempt::Fail(e)
                }
            })
        }
    })
    .await;
    match placed {
        Ok(place) => {
            job.place = Some(place);
            cx.transition(job, JobState::Queued).await
        }
        Err(GaveUp::Stopped) => Step::Stop,
        // Nothing was spent yet: end the job rather than pay for a clip nobody can see.
        Err(GaveUp::Failed(_)) => {
            let reason = FailReason::CannotPost;
            cx.transition(job, JobState::Failing { reason }).await
        }
    }
}

fn nonce(job: &Job, kind: NonceKind) -> Option<Nonce> {
    Some(Nonce { job: job.id, kind })
}

async fn send(
    cx: &Inner,
    channel: ChannelId,
    body: Body<'_>,
    nonce: Option<Nonce>,
) -> Result<MessageId, ChatError> {
    cx.chat.send(channel, Outgoing { body, nonce }).await
}

/// Posts what opens the conversation and says where it is. Every message carries a nonce, so a
/// retry after a failure or a crash returns the messages already posted.
async fn place(cx: &Inner, job: &Job) -> Result<Place, ChatError> {
    if let Some(conversation) = job.asked_in {
        // A request made inside a conversation stays there: one progress message.
        let progress = send(
            cx,
            conversation.channel(),
            Body::Status { job },
            nonce(job, NonceKind::Progress),
        )
        .await?;
        return Ok(Place {
            conversation,
            status_message: None,
            progress_message: Some(progress),
            in_thread: false,
        });
    }
    let status = match send(
        cx,
        job.channel,
        Body::Status { job },
        nonce(job, NonceKind::Status),
    )
    .await
    {
        Err(ChatError::MissingPermission) if job.guild.is_some() => {
            return privately(cx, job).await;
        }
        other => other?,
    };
    let in_place = Place {
        conversation: ConversationId(job.channel),
        status_message: Some(status),
        progress_message: Some(status),
        in_thread: false,
    };
    if job.guild.is_none() {
        // No threads in DMs: the conversation stays here.
        remember(cx, in_place.conversation).await;
        return Ok(in_place);
    }
    // A thread made from a message has the message's id, and Discord shows it to users before
    // its creation is answered: record it first, so that a message sent there at once is
    // understood.
    let thread = ConversationId(ChannelId(status.0));
    cx.store
        .open_thread(thread, job.id, job.channel, job.user)
        .await
        .map_err(|e| ChatError::Unavailable(format!("cannot record the thread: {e}")))?;
    let thread_channel = match cx.chat.create_thread(job.channel, status, job).await {
        Ok(t) => t,
        // After a crash, the thread of this status message already exists: it is ours.
        Err(ChatError::ThreadExists) => thread.channel(),
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => {
            cx.emit(EngineEvent::DiscordError {
                kind: DiscordError::NoThread,
            });
            if let Err(e) = cx.store.forget_empty_conversation(thread).await {
                warn!(error = %e, "cannot forget the thread that was not made");
            }
            info!(error = %e, "no thread; posting in place");
            if e == ChatError::MissingPermission {
                cx.emit(EngineEvent::PermissionMissing {
                    job,
                    channel: job.channel,
                    permission: Permission::CreatePublicThreads,
                });
            }
            remember(cx, in_place.conversation).await;
            return Ok(in_place);
        }
    };
    if cx.settings.intent_tip {
        let tip = send(
            cx,
            thread_channel,
            Body::IntentTip,
            nonce(job, NonceKind::IntentTip),
        );
        if let Err(e) = tip.await {
            warn!(error = %e, "cannot post the intent tip");
        }
    }
    let progress = send(
        cx,
        thread_channel,
        Body::Progress {
            job,
            progress: &Progress::Submitting,
            with_header: false,
        },
        nonce(job, NonceKind::Progress),
    )
    .await?;
    Ok(Place {
        conversation: ConversationId(thread_channel),
        status_message: Some(status),
        progress_message: Some(progress),
        in_thread: true,
    })
}

/// Opens the conversation in the requester's direct messages: the channel refuses the bot.
async fn privately(cx: &Inner, job: &Job) -> Result<Place, ChatError> {
    let permission = if job.parent_channel.is_some() {
        Permission::SendMessagesInThreads
    } else {
        Permission::SendMessages
    };
    cx.emit(EngineEvent::DiscordError {
        kind: DiscordError::MissingPermission,
    });
    cx.emit(EngineEvent::PermissionMissing {
        job,
        channel: job.channel,
        permission,
    });
    let dm = cx.chat.dm_channel(job.user).await?;
    let status = send(cx, dm, Body::Status { job }, nonce(job, NonceKind::Status)).await?;
    info!(channel = %job.channel, "the channel refuses the bot; the conversation is private");
    let place = Place {
        conversation: ConversationId(dm),
        status_message: Some(status),
        progress_message: Some(status),
        in_thread: false,
    };
    remember(cx, place.conversation).await;
    Ok(place)
}

/// Marks a conversation used in place as the bot's, so replies to its clips are understood.
async fn remember(cx: &Inner, conversation: ConversationId) {
    if let Err(e) = cx.store.ensure_conversation(conversation, false).await {
        warn!(error = %e, "cannot record the conversation");
    }
}
