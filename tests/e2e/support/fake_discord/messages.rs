//! Message handlers: create (JSON or multipart), edit, delete, list, reactions; validation
//! of content, embeds, components, files and attachments; `enforce_nonce`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::payloads::{self, id_of};
use super::rest::{ok, parse_id, ApiError, ApiRequest, ApiResult, Reply};
use super::{Channel, Inner, Part, Pings, StoredAttachment, StoredMessage, APP_ID, BOT_USER_ID};

pub(super) const NONCE_WINDOW: Duration = Duration::from_secs(5 * 60);
pub(super) const FLAG_SUPPRESS_EMBEDS: u64 = 1 << 2;
pub(super) const FLAG_HAS_THREAD: u64 = 1 << 5;
pub(super) const FLAG_EPHEMERAL: u64 = 1 << 6;
pub(super) const FLAG_LOADING: u64 = 1 << 7;
pub(super) const FLAG_SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
pub(super) const FLAG_IS_COMPONENTS_V2: u64 = 1 << 15;

/// Who is posting and how a message is created.
pub(super) struct Origin {
    pub(super) author_id: u64,
    pub(super) webhook: bool,
    pub(super) interaction_id: Option<u64>,
    pub(super) kind: u64,
    pub(super) allowed_flags: u64,
}

impl Origin {
    pub(super) fn bot() -> Self {
        Origin {
            author_id: BOT_USER_ID,
            webhook: false,
            interaction_id: None,
            kind: 0,
            allowed_flags: FLAG_SUPPRESS_EMBEDS
                | FLAG_SUPPRESS_NOTIFICATIONS
                | FLAG_IS_COMPONENTS_V2,
        }
    }
    pub(super) fn interaction(id: u64, kind: u64) -> Self {
        Origin {
            webhook: true,
            interaction_id: Some(id),
            kind,
            allowed_flags: Origin::bot().allowed_flags | FLAG_EPHEMERAL,
            ..Origin::bot()
        }
    }
}

/// The channel, if it exists and accepts messages (404 10003 / 400 50083 otherwise).
pub(super) fn writable_channel(inner: &Inner, channel_id: u64) -> Result<&Channel, ApiError> {
    let channel = inner
        .channels
        .get(&channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    if channel.thread.as_ref().is_some_and(|t| t.archived) {
        return Err(ApiError::archived_thread());
    }
    Ok(channel)
}

pub(super) fn str_len(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Validates content, embeds, components and nonce of a create/edit body.
pub(super) fn validate_message_body(body: &Value) -> Result<(), ApiError> {
    if str_len(&body["content"]) > 2000 {
        return Err(ApiError::max_length("content", 2000));
    }
    if str_len(&body["nonce"]) > 25 {
        return Err(ApiError::max_length("nonce", 25));
    }
    validate_allowed_mentions(&body["allowed_mentions"])?;
    if let Some(embeds) = body["embeds"].as_array() {
        if embeds.len() > 10 {
            return Err(ApiError::max_length("embeds", 10));
        }
        let mut total = 0;
        for (i, e) in embeds.iter().enumerate() {
            let limits = [("title", 256), ("description", 4096)];
            for (field, max) in limits {
                if str_len(&e[field]) > max {
                    return Err(ApiError::max_length(&format!("embeds.{i}.{field}"), max));
                }
                total += str_len(&e[field]);
            }
            if str_len(&e["footer"]["text"]) > 2048 {
                return Err(ApiError::max_length(
                    &format!("embeds.{i}.footer.text"),
                    2048,
                ));
            }
            if str_len(&e["author"]["name"]) > 256 {
                return Err(ApiError::max_length(
                    &format!("embeds.{i}.author.name"),
                    256,
                ));
            }
            total += str_len(&e["footer"]["text"]) + str_len(&e["author"]["name"]);
            let fields = e["fields"].as_array().cloned().unwrap_or_default();
            if fields.len() > 25 {
                return Err(ApiError::max_length(&format!("embeds.{i}.fields"), 25));
            }
            for (j, f) in fields.iter().enumerate() {
                if str_len(&f["name"]) > 256 {
                    return Err(ApiError::max_length(
                        &format!("embeds.{i}.fields.{j}.name"),
                        256,
                    ));
                }
                if str_len(&f["value"]) > 1024 {
                    return Err(ApiError::max_length(
                        &format!("embeds.{i}.fields.{j}.value"),
                        1024,
                    ));
                }
                total += str_len(&f["name"]) + str_len(&f["value"]);
            }
        }
        if total > 6000 {
            return Err(ApiError::form(
                "embeds",
                "MAX_EMBED_SIZE_EXCEEDED",
                "Embed size exceeds maximum size of 6000",
            ));
        }
    }
    if let Some(rows) = body["components"].as_array() {
        if rows.len() > 5 && body["flags"].as_u64().unwrap_or(0) & FLAG_IS_COMPONENTS_V2 == 0 {
            return Err(ApiError::max_length("components", 5));
        }
        for (i, row) in rows.iter().enumerate() {
            for (j, c) in row["components"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if str_len(&c["custom_id"]) > 100 {
                    let path = format!("components.{i}.components.{j}.custom_id");
                    return Err(ApiError::max_length(&path, 100));
                }
                if str_len(&c["label"]) > 80 {
                    let path = format!("components.{i}.components.{j}.label");
                    return Err(ApiError::max_length(&path, 80));
                }
            }
        }
    }
    Ok(())
}

/// Discord's rules for `allowed_mentions`: `parse` takes only `users`, `roles` and
/// `everyone`; a type in `parse` excludes a list of that type; lists hold at most 100 ids.
fn validate_allowed_mentions(allowed: &Value) -> Result<(), ApiError> {
    if allowed.is_null() {
        return Ok(());
    }
    let parse = array_of(&allowed["parse"]);
    for (i, p) in parse.iter().enumerate() {
        if !matches!(p.as_str(), Some("users" | "roles" | "everyone")) {
            return Err(ApiError::form(
                &format!("allowed_mentions.parse.{i}"),
                "BASE_TYPE_CHOICES",
                "Value must be one of ('roles', 'users', 'everyone').",
            ));
        }
    }
    for kind in ["users", "roles"] {
        let list = array_of(&allowed[kind]);
        if list.len() > 100 {
            return Err(ApiError::max_length(
                &format!("allowed_mentions.{kind}"),
                100,
            ));
        }
        if !list.is_empty() && parse.iter().any(|p| p == kind) {
            return Err(ApiError::form(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                &format!("parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive."),
            ));
        }
    }
    Ok(())
}

/// Role ids mentioned as `<@&id>` in a text.
fn mentioned_roles(content: &str) -> Vec<u64> {
    let mut found = vec![];
    for piece in content.split("<@&").skip(1) {
        if let Some(id) = piece.split_once('>').and_then(|(id, _)| id.parse().ok()) {
            if !found.contains(&id) {
                found.push(id);
            }
        }
    }
    found
}

/// Whom Discord notifies for a message with this content and `allowed_mentions` (null: the
/// field was absent, so every mention in the content counts); `replied_author` is the author of
/// the message it replies to, notified when `replied_user` is true (or the field is absent).
pub(super) fn pings(content: &str, allowed: &Value, replied_author: Option<u64>) -> Pings {
    let users = payloads::mentioned_users(content);
    let roles = mentioned_roles(content);
    let everyone = content.contains("@everyone") || content.contains("@here");
    let mut pings = if allowed.is_null() {
        Pings {
            users,
            roles,
            everyone,
        }
    } else {
        let parse = array_of(&allowed["parse"]);
        let parses = |kind: &str| parse.iter().any(|p| p == kind);
        let listed = |kind: &str| -> Vec<u64> {
            array_of(&allowed[kind]).iter().filter_map(id_of).collect()
        };
        let (user_list, role_list) = (listed("users"), listed("roles"));
        Pings {
            users: users
                .into_iter()
                .filter(|u| parses("users") || user_list.contains(u))
                .collect(),
            roles: roles
                .into_iter()
                .filter(|r| parses("roles") || role_list.contains(r))
                .collect(),
            everyone: everyone && parses("everyone"),
        }
    };
    let replied_user = allowed.is_null() || allowed["replied_user"].as_bool() == Some(true);
    if let Some(author) = replied_author.filter(|_| replied_user) {
        if !pings.users.contains(&author) {
            pings.users.push(author);
        }
    }
    pings
}

/// 30015 for more than 10 files, 413 40005 for a file over the upload limit.
/// The bot's permissions in a channel, as set with [`super::FakeDiscord::deny_permission`]:
/// posting needs Send Messages (Send Messages in Threads in a thread), files need Attach Files.
fn check_permissions(inner: &Inner, channel_id: u64, files: &[Part]) -> Result<(), ApiError> {
    let lacks = super::guilds::bot_denied(inner, channel_id);
    let denied = |p: u64| lacks & p != 0;
    if denied(super::perms::SEND_MESSAGES) || denied(super::perms::SEND_MESSAGES_IN_THREADS) {
        return Err(ApiError::missing_permissions());
    }
    if !files.is_empty() && denied(super::perms::ATTACH_FILES) {
        return Err(ApiError::missing_permissions());
    }
    Ok(())
}

pub(super) fn check_files(inner: &Inner, files: &[Part]) -> Result<(), ApiError> {
    if files.len() > 10 {
        return Err(ApiError::new(
            400,
            30015,
            "Maximum number of attachments in a message reached (10)",
        ));
    }
    if files
        .iter()
        .any(|f| f.bytes.len() as u64 > inner.max_upload)
    {
        return Err(ApiError::too_large());
    }
    Ok(())
}

/// The index `n` of a `files[n]` part.
pub(super) fn file_index(part: &Part) -> Option<String> {
    part.name
        .strip_prefix("files[")
        .and_then(|s| s.strip_suffix(']'))
        .map(str::to_owned)
}

/// Resolves the attachments of a create/edit: `attachments` entries keep existing ones (by id)
/// or describe new `files[n]` (by placeholder id n); without `attachments`, existing ones are
/// kept and every file is added.
pub(super) fn resolve_attachments(
    inner: &mut Inner,
    channel_id: u64,
    body: &Value,
    files: &[Part],
    existing: &[StoredAttachment],
) -> Result<Vec<StoredAttachment>, ApiError> {
    let mut result = vec![];
    let mut used_files = vec![false; files.len()];
    let new_attachment = |inner: &mut Inner, part: &Part, meta: &Value| StoredAttachment {
        issued_at: inner.link_validity().0,
        expires_at: inner.link_validity().1,
        id: inner.next_id(),
        filename: meta["filename"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| part.filename.clone())
            .unwrap_or_else(|| "unknown".to_owned()),
        content_type: part.content_type.clone(),
        description: meta["description"].as_str().map(str::to_owned),
        bytes: part.bytes.clone(),
        channel_id: Some(channel_id),
    };
    match body["attachments"].as_array() {
        Some(entries) => {
            for (i, entry) in entries.iter().enumerate() {
                let id_text = match &entry["id"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        let path = format!("attachments.{i}.id");
                        return Err(ApiError::form(
                            &path,
                            "BASE_TYPE_REQUIRED",
                            "This field is required",
                        ));
                    }
                };
                if let Some(old) = existing.iter().find(|a| a.id.to_string() == id_text) {
                    result.push(old.clone());
                    continue;
                }
                let file = files
                    .iter()
                    .position(|f| file_index(f).as_deref() == Some(id_text.as_str()));
                match file {
                    Some(k) => {
                        used_files[k] = true;
                        result.push(new_attachment(inner, &files[k], entry));
                    }
                    None => {
                        let path = format!("attachments.{i}");
                        return Err(ApiError::form(
                            &path,
                            "ATTACHMENT_NOT_FOUND",
                            "Attachment data not found",
                        ));
                    }
                }
            }
        }
        None => result.extend(existing.iter().cloned()),
    }
    for (k, part) in files.iter().enumerate() {
        if !used_files[k] {
            result.push(new_attachment(inner, part, &Value::Null));
        }
    }
    if result.len() > 10 {
        return Err(ApiError::new(
            400,
            30015,
            "Maximum number of attachments in a message reached (10)",
        ));
    }
    for a in &result {
        inner.attachments.insert(a.id, a.clone());
    }
    Ok(result)
}

pub(super) fn array_of(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

pub(super) fn is_empty_message(m: &StoredMessage) -> bool {
    m.content.is_empty()
        && m.embeds.is_empty()
        && m.attachments.is_empty()
        && m.components.is_empty()
}

pub(super) fn nonce_key(nonce: &Value) -> Option<String> {
    match nonce {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Creates, stores and echoes a message; applies `enforce_nonce`.
pub(super) fn create_message(
    inner: &mut Inner,
    base: &str,
    channel_id: u64,
    body: &Value,
    files: &[Part],
    origin: Origin,
) -> Result<StoredMessage, ApiError> {
    validate_message_body(body)?;
    if !origin.webhook {
        // Interaction responses and follow-ups need no channel permissions.
        check_permissions(inner, channel_id, files)?;
    }
    check_files(inner, files)?;
    let enforce_nonce = body["enforce_nonce"].as_bool().unwrap_or(false);
    let nonce = nonce_key(&body["nonce"]);
    if let (true, Some(n)) = (enforce_nonce, &nonce) {
        let earlier = inner
            .nonces
            .get(&(origin.author_id, n.clone()))
            .filter(|(_, _, at)| at.elapsed() < inner.nonce_window)
            .and_then(|(mid, ch, _)| inner.find_message(*ch, *mid))
            .cloned();
        if let Some(earlier) = earlier {
            return Ok(earlier);
        }
    }
    let mut mentions = payloads::mentioned_users(body["content"].as_str().unwrap_or_default());
    let mut kind = origin.kind;
    let mut message_reference = None;
    let mut replied_author = None;
    if let Some(reference) = body["message_reference"].as_object() {
        let target_id = id_of(&reference["message_id"].clone()).unwrap_or(0);
        let target_channel = id_of(&reference["channel_id"]).unwrap_or(channel_id);
        let fail = reference["fail_if_not_exists"].as_bool().unwrap_or(true);
        match inner.find_message(target_channel, target_id) {
            Some(target) => {
                let replied_user = body["allowed_mentions"]
                    .get("replied_user")
                    .and_then(Value::as_bool)
                    .unwrap_or(body["allowed_mentions"].is_null());
                if replied_user && !mentions.contains(&target.author_id) {
                    mentions.push(target.author_id);
                }
                replied_author = Some(target.author_id);
                kind = 19;
                message_reference = Some(json!({
                    "type": 0,
                    "message_id": target_id.to_string(),
                    "channel_id": target_channel.to_string(),
                    "guild_id": inner.channels.get(&target_channel).and_then(|c| c.guild_id).map(|g| g.to_string()),
                }));
            }
            None if fail => {
                return Err(ApiError::form(
                    "message_reference",
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                ))
            }
            None => {}
        }
    }
    let attachments = resolve_attachments(inner, channel_id, body, files, &[])?;
    let message = StoredMessage {
        id: inner.next_id(),
        channel_id,
        author_id: origin.author_id,
        content: body["content"].as_str().unwrap_or_default().to_owned(),
        attachments,
        nonce: body.get("nonce").filter(|n| !n.is_null()).cloned(),
        enforce_nonce,
        components: array_of(&body["components"]),
        embeds: array_of(&body["embeds"]),
        flags: body["flags"].as_u64().unwrap_or(0) & origin.allowed_flags,
        kind,
        webhook_id: origin.webhook.then_some(APP_ID),
        interaction_id: origin.interaction_id,
        message_reference,
        mentions,
        timestamp: payloads::now_iso(),
        edited_timestamp: None,
        thread_id: None,
        reactions: vec![],
        tts: body["tts"].as_bool().unwrap_or(false),
        allowed_mentions: body
            .get("allowed_mentions")
            .filter(|a| !a.is_null())
            .cloned(),
        pings: pings(
            body["content"].as_str().unwrap_or_default(),
            &body["allowed_mentions"],
            replied_author,
        ),
    };
    if is_empty_message(&message) && body["sticker_ids"].as_array().is_none_or(Vec::is_empty) {
        return Err(ApiError::new(400, 50006, "Cannot send an empty message"));
    }
    if let (true, Some(n)) = (enforce_nonce, nonce) {
        inner.nonces.insert(
            (origin.author_id, n),
            (message.id, channel_id, Instant::now()),
        );
    }
    inner.push_message(message.clone());
    if !message.is_ephemeral() {
        let event = payloads::message(base, inner, &message, true);
        inner.echo("MESSAGE_CREATE", &event);
    }
    Ok(message)
}

/// Applies an edit body to a stored message and echoes `MESSAGE_UPDATE`.
pub(super) fn edit_message(
    inner: &mut Inner,
    base: &str,
    channel_id: u64,
    message_id: u64,
    body: &Value,
    files: &[Part],
    clear_loading: bool,
) -> Result<StoredMessage, ApiError> {
    let current = inner
        .find_message(channel_id, message_id)
        .cloned()
        .ok_or_else(ApiError::unknown_message)?;
    validate_message_body(body)?;
    check_files(inner, files)?;
    let mut edited = current.clone();
    if let Some(content) = body.get("content") {
        edited.content = content.as_str().unwrap_or_default().to_owned();
        edited.mentions = payloads::mentioned_users(&edited.content);
    }
    if body.get("embeds").is_some() {
        edited.embeds = array_of(&body["embeds"]);
    }
    if body.get("components").is_some() {
        edited.components = array_of(&body["components"]);
    }
    if let Some(flags) = body["flags"].as_u64() {
        let editable = FLAG_SUPPRESS_EMBEDS;
        edited.flags = (edited.flags & !editable) | (flags & editable);
    }
    if let Some(allowed) = body.get("allowed_mentions").filter(|a| !a.is_null()) {
        edited.allowed_mentions = Some(allowed.clone());
    }
    if current.is_loading() && clear_loading {
        // A deferred response gets its content now: it notifies as a new message would.
        edited.pings = pings(&edited.content, &body["allowed_mentions"], None);
    }
    if clear_loading {
        edited.flags &= !FLAG_LOADING;
    }
    edited.attachments = resolve_attachments(inner, channel_id, body, files, &current.attachments)?;
    if is_empty_message(&edited) && !edited.is_loading() {
        return Err(ApiError::new(400, 50006, "Cannot send an empty message"));
    }
    edited.edited_timestamp = Some(payloads::now_iso());
    if let Some(slot) = inner.find_message_mut(channel_id, message_id) {
        *slot = edited.clone();
    }
    if !edited.is_ephemeral() {
        let event = payloads::message(base, inner, &edited, true);
        inner.echo("MESSAGE_UPDATE", &event);
    }
    Ok(edited)
}

pub(super) fn delete_message(
    inner: &mut Inner,
    channel_id: u64,
    message_id: u64,
) -> Result<(), ApiError> {
    let messages = inner
        .messages
        .get_mut(&channel_id)
        .ok_or_else(ApiError::unknown_message)?;
    let index = messages
        .iter()
        .position(|m| m.id == message_id)
        .ok_or_else(ApiError::unknown_message)?;
    let removed = messages.remove(index);
    if !removed.is_ephemeral() {
        let guild_id = inner.channels.get(&channel_id).and_then(|c| c.guild_id);
        let event = json!({
            "id": message_id.to_string(),
            "channel_id": channel_id.to_string(),
            "guild_id": guild_id.map(|g| g.to_string()),
        });
        inner.echo("MESSAGE_DELETE", &event);
    }
    Ok(())
}

pub(super) fn post_channel_message(
    inner: &mut Inner,
    base: &str,
    id: &str,
    req: &ApiRequest<'_>,
) -> ApiResult {
    let channel_id = parse_id(id, ApiError::unknown_channel)?;
    let channel = writable_channel(inner, channel_id)?;
    let closed = channel
        .recipient_id
        .is_some_and(|user| inner.closed_dms.contains(&user));
    if closed {
        return Err(ApiError::new(
            403,
            50007,
            "Cannot send messages to this user",
        ));
    }
    let message = create_message(
        inner,
        base,
        channel_id,
        &req.body,
        &req.files,
        Origin::bot(),
    )?;
    ok(payloads::message(base, inner, &message, false))
}

pub(super) fn list_messages(
    inner: &Inner,
    base: &str,
    id: &str,
    req: &ApiRequest<'_>,
) -> ApiResult {
    let channel_id = parse_id(id, ApiError::unknown_channel)?;
    if !inner.channels.contains_key(&channel_id) {
        return Err(ApiError::unknown_channel());
    }
    let limit = req
        .query_param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 100);
    let messages: Vec<Value> = inner
        .messages
        .get(&channel_id)
        .into_iter()
        .flatten()
        .rev()
        .filter(|m| !m.is_ephemeral())
        .take(limit)
        .map(|m| payloads::message(base, inner, m, false))
        .collect();
    ok(json!(messages))
}

pub(super) fn channel_message(
    inner: &mut Inner,
    base: &str,
    method: &str,
    id: &str,
    mid: &str,
    req: &ApiRequest<'_>,
) -> ApiResult {
    let channel_id = parse_id(id, ApiError::unknown_channel)?;
    if !inner.channels.contains_key(&channel_id) {
        return Err(ApiError::unknown_channel());
    }
    let message_id = parse_id(mid, ApiError::unknown_message)?;
    let message = inner
        .find_message(channel_id, message_id)
        .filter(|m| !m.is_ephemeral())
        .cloned()
        .ok_or_else(ApiError::unknown_message)?;
    match method {
        "GET" => ok(payloads::message(base, inner, &message, false)),
        "PATCH" => {
            writable_channel(inner, channel_id)?;
            if message.author_id != BOT_USER_ID {
                return Err(ApiError::new(
                    403,
                    50005,
                    "Cannot edit a message authored by another user",
                ));
            }
            let edited = edit_message(
                inner, base, channel_id, message_id, &req.body, &req.files, false,
            )?;
            ok(payloads::message(base, inner, &edited, false))
        }
        "DELETE" => {
            writable_channel(inner, channel_id)?;
            delete_message(inner, channel_id, message_id)?;
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::no_route()),
    }
}

pub(super) fn react(
    inner: &mut Inner,
    method: &str,
    id: &str,
    mid: &str,
    emoji: &str,
) -> ApiResult {
    let channel_id = parse_id(id, ApiError::unknown_channel)?;
    writable_channel(inner, channel_id)?;
    let message_id = parse_id(mid, ApiError::unknown_message)?;
    let emoji = percent_decode(emoji);
    let message = inner
        .find_message_mut(channel_id, message_id)
        .ok_or_else(ApiError::unknown_message)?;
    message.reactions.retain(|e| *e != emoji);
    if method == "PUT" {
        message.reactions.push(emoji);
    }
    Ok(Reply::NoContent)
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
