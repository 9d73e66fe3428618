//! Channel and thread handlers: create threads (from a message or standalone), modify,
//! archive, delete.

use serde_json::{json, Value};

use super::messages::FLAG_HAS_THREAD;
use super::payloads;
use super::rest::{ok, parse_id, ApiError, ApiResult, Reply};
use super::{Channel, Inner, ThreadInfo, ThreadState, BOT_USER_ID};

pub(super) const ARCHIVE_DURATIONS: [u64; 4] = [60, 1440, 4320, 10080];

pub(super) fn validate_archive_duration(body: &Value) -> Result<Option<u64>, ApiError> {
    match &body["auto_archive_duration"] {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .filter(|d| ARCHIVE_DURATIONS.contains(d))
            .map(Some)
            .ok_or_else(|| {
                ApiError::form(
                    "auto_archive_duration",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {60, 1440, 4320, 10080}.",
                )
            }),
    }
}

pub(super) fn validate_thread_name(body: &Value) -> Result<String, ApiError> {
    let name = body["name"].as_str().unwrap_or_default();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_length("name", 1, 100));
    }
    Ok(name.to_owned())
}

pub(super) fn create_thread(
    inner: &mut Inner,
    parent_id: u64,
    from_message: Option<u64>,
    body: &Value,
) -> ApiResult {
    let parent = inner
        .channels
        .get(&parent_id)
        .cloned()
        .ok_or_else(ApiError::unknown_channel)?;
    let name = validate_thread_name(body)?;
    let duration = validate_archive_duration(body)?.unwrap_or(1440);
    if !matches!(parent.kind, 0 | 5) {
        return Err(ApiError::wrong_channel_type());
    }
    let denied = super::guilds::bot_denied(inner, parent_id);
    if !parent.bot_can_create_threads || denied & super::perms::CREATE_PUBLIC_THREADS != 0 {
        return Err(ApiError::missing_permissions());
    }
    let kind = match from_message {
        Some(mid) => {
            let starter = inner
                .find_message(parent_id, mid)
                .ok_or_else(ApiError::unknown_message)?;
            if starter.thread_id.is_some() {
                return Err(ApiError::new(
                    400,
                    160004,
                    "A thread has already been created for this message",
                ));
            }
            if parent.kind == 5 {
                10
            } else {
                11
            }
        }
        None => match body["type"].as_u64().unwrap_or(12) {
            t @ (11 | 12) => t as u8,
            _ => {
                return Err(ApiError::form(
                    "type",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {10, 11, 12}.",
                ))
            }
        },
    };
    let id = match from_message {
        Some(mid) => mid,
        None => inner.next_id(),
    };
    let now = payloads::now_iso();
    let channel = Channel {
        id,
        kind,
        guild_id: parent.guild_id,
        name: name.clone(),
        parent_id: Some(parent_id),
        recipient_id: None,
        bot_can_create_threads: false,
        thread: Some(ThreadState {
            owner_id: BOT_USER_ID,
            archived: false,
            locked: false,
            auto_archive_duration: duration,
            archive_timestamp: now.clone(),
            create_timestamp: now,
            from_message,
            message_count: 0,
        }),
    };
    inner.channels.insert(id, channel.clone());
    if let Some(starter) = from_message.and_then(|mid| inner.find_message_mut(parent_id, mid)) {
        starter.thread_id = Some(id);
        starter.flags |= FLAG_HAS_THREAD;
    }
    inner.threads.push(ThreadInfo {
        id,
        parent_id,
        name,
        from_message_id: from_message,
        owner_id: BOT_USER_ID,
        kind,
        archived: false,
        locked: false,
        auto_archive_duration: duration,
        deleted: false,
    });
    let mut event = payloads::channel(&channel);
    event["newly_created"] = json!(true);
    inner.echo("THREAD_CREATE", &event);
    Ok(Reply::Json(201, payloads::channel(&channel)))
}

/// A public thread a member opened without a starter message; `THREAD_CREATE` is dispatched
/// (it is not the bot's activity, so it goes out whatever the echo setting).
pub(super) fn user_thread(inner: &mut Inner, parent_id: u64, owner_id: u64, name: &str) -> u64 {
    let guild_id = inner.channels.get(&parent_id).and_then(|c| c.guild_id);
    let id = inner.next_id();
    let now = payloads::now_iso();
    let channel = Channel {
        id,
        kind: 11,
        guild_id,
        name: name.to_owned(),
        parent_id: Some(parent_id),
        recipient_id: None,
        bot_can_create_threads: false,
        thread: Some(ThreadState {
            owner_id,
            archived: false,
            locked: false,
            auto_archive_duration: 1440,
            archive_timestamp: now.clone(),
            create_timestamp: now,
            from_message: None,
            message_count: 0,
        }),
    };
    inner.channels.insert(id, channel.clone());
    inner.threads.push(ThreadInfo {
        id,
        parent_id,
        name: name.to_owned(),
        from_message_id: None,
        owner_id,
        kind: 11,
        archived: false,
        locked: false,
        auto_archive_duration: 1440,
        deleted: false,
    });
    let mut event = payloads::channel(&channel);
    event["newly_created"] = json!(true);
    inner.dispatch("THREAD_CREATE", &event);
    id
}

pub(super) fn modify_channel(inner: &mut Inner, id: &str, body: &Value) -> ApiResult {
    let id = parse_id(id, ApiError::unknown_channel)?;
    let mut channel = inner
        .channels
        .get(&id)
        .cloned()
        .ok_or_else(ApiError::unknown_channel)?;
    if body.get("name").is_some() {
        channel.name = validate_thread_name(body)?;
    }
    if let Some(thread) = channel.thread.as_mut() {
        let unarchive = body["archived"].as_bool() == Some(false);
        if thread.archived && !unarchive && body.get("archived").is_none() {
            return Err(ApiError::archived_thread());
        }
        if let Some(archived) = body["archived"].as_bool() {
            if archived != thread.archived {
                thread.archive_timestamp = payloads::now_iso();
            }
            thread.archived = archived;
        }
        if let Some(locked) = body["locked"].as_bool() {
            thread.locked = locked;
        }
        if let Some(d) = validate_archive_duration(body)? {
            thread.auto_archive_duration = d;
        }
    } else if body.get("archived").is_some() || body.get("locked").is_some() {
        return Err(ApiError::wrong_channel_type());
    }
    inner.channels.insert(id, channel.clone());
    sync_thread_info(inner, id);
    let event = payloads::channel(&channel);
    let name = if channel.is_thread() {
        "THREAD_UPDATE"
    } else {
        "CHANNEL_UPDATE"
    };
    inner.echo(name, &event);
    ok(event)
}

pub(super) fn sync_thread_info(inner: &mut Inner, id: u64) {
    let Some(channel) = inner.channels.get(&id).cloned() else {
        return;
    };
    if let (Some(info), Some(t)) = (
        inner.threads.iter_mut().find(|t| t.id == id),
        channel.thread,
    ) {
        info.name = channel.name;
        info.archived = t.archived;
        info.locked = t.locked;
        info.auto_archive_duration = t.auto_archive_duration;
    }
}

/// Archives or unarchives a thread and echoes `THREAD_UPDATE`.
pub(super) fn set_thread_archived(inner: &mut Inner, id: u64, archived: bool) {
    let Some(thread) = inner.channels.get_mut(&id).and_then(|c| c.thread.as_mut()) else {
        return;
    };
    thread.archived = archived;
    thread.archive_timestamp = payloads::now_iso();
    sync_thread_info(inner, id);
    if let Some(channel) = inner.channels.get(&id) {
        let event = payloads::channel(channel);
        inner.echo("THREAD_UPDATE", &event);
    }
}

/// Deletes a channel or thread with its messages; echoes `THREAD_DELETE`/`CHANNEL_DELETE`.
pub(super) fn remove_channel(inner: &mut Inner, id: u64) -> Option<Channel> {
    let channel = inner.channels.remove(&id)?;
    inner.messages.remove(&id);
    if let Some(info) = inner.threads.iter_mut().find(|t| t.id == id) {
        info.deleted = true;
    }
    if channel.is_thread() {
        let event = json!({
            "id": id.to_string(),
            "guild_id": channel.guild_id.map(|g| g.to_string()),
            "parent_id": channel.parent_id.map(|p| p.to_string()),
            "type": channel.kind,
        });
        inner.echo("THREAD_DELETE", &event);
    } else if channel.guild_id.is_some() {
        let event = payloads::channel(&channel);
        inner.echo("CHANNEL_DELETE", &event);
    }
    Some(channel)
}
