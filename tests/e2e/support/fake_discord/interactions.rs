//! Interaction callbacks and the interaction webhooks (follow-ups, `@original`).

use std::time::Instant;

use serde_json::{json, Value};

use super::messages::{
    create_message, delete_message, edit_message, str_len, Origin, FLAG_EPHEMERAL, FLAG_LOADING,
};
use super::payloads;
use super::rest::{ok, parse_id, ApiError, ApiRequest, ApiResult, Reply};
use super::{Inner, Pings, StoredMessage, APP_ID};

/// Callback types allowed for an interaction type.
pub(super) fn allowed_callbacks(interaction_kind: u8) -> &'static [u64] {
    match interaction_kind {
        2 => &[4, 5, 9],
        3 => &[4, 5, 6, 7, 9],
        4 => &[8],
        5 => &[4, 5, 6, 7],
        _ => &[1],
    }
}

pub(super) fn interaction_callback(
    inner: &mut Inner,
    base: &str,
    id: &str,
    token: &str,
    req: &ApiRequest<'_>,
) -> ApiResult {
    let id = parse_id(id, ApiError::unknown_interaction)?;
    let rec = inner
        .interactions
        .get(&id)
        .filter(|r| r.token == token)
        .cloned()
        .ok_or_else(ApiError::unknown_interaction)?;
    if rec.acked.is_some() {
        return Err(ApiError::new(
            400,
            40060,
            "Interaction has already been acknowledged.",
        ));
    }
    if rec.started().elapsed() > inner.ack_window {
        return Err(ApiError::unknown_interaction());
    }
    let body = &req.body;
    let kind = body["type"]
        .as_u64()
        .ok_or_else(|| ApiError::form("type", "BASE_TYPE_REQUIRED", "This field is required"))?;
    if !allowed_callbacks(rec.kind).contains(&kind) {
        return Err(ApiError::form(
            "type",
            "INTERACTION_RESPONSE_TYPE_INVALID",
            "Interaction response type is invalid for this interaction type",
        ));
    }
    let data = if body["data"].is_object() {
        body["data"].clone()
    } else {
        json!({})
    };
    let original = match kind {
        4 => {
            let message_kind = if rec.kind == 2 { 20 } else { 0 };
            let origin = Origin::interaction(id, message_kind);
            Some(create_message(inner, base, rec.channel_id, &data, &req.files, origin)?.id)
        }
        5 => {
            let placeholder = json!({"content": "", "flags": data["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL});
            let message_kind = if rec.kind == 2 { 20 } else { 0 };
            let mut origin = Origin::interaction(id, message_kind);
            origin.allowed_flags |= FLAG_LOADING;
            let mut body = placeholder;
            body["flags"] = json!(body["flags"].as_u64().unwrap_or(0) | FLAG_LOADING);
            body["embeds"] = json!([]);
            Some(create_loading_message(
                inner,
                base,
                rec.channel_id,
                &body,
                origin,
            ))
        }
        6 => rec.source_message,
        7 => {
            let source = rec.source_message.ok_or_else(ApiError::unknown_message)?;
            edit_message(
                inner,
                base,
                rec.channel_id,
                source,
                &data,
                &req.files,
                false,
            )?;
            Some(source)
        }
        9 => {
            let has = |k: &str| !data[k].is_null();
            if !(has("custom_id") && has("title") && has("components")) {
                return Err(ApiError::form(
                    "data",
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                ));
            }
            if str_len(&data["title"]) > 45 {
                return Err(ApiError::max_length("data.title", 45));
            }
            None
        }
        _ => None,
    };
    if let Some(r) = inner.interactions.get_mut(&id) {
        r.acked = Some(kind);
        r.original_message = original;
    }
    inner
        .interaction_responses
        .push((id, body.clone(), Instant::now()));
    Ok(Reply::NoContent)
}

/// The "thinking" message of a deferred response (no emptiness check, LOADING flag set).
pub(super) fn create_loading_message(
    inner: &mut Inner,
    base: &str,
    channel_id: u64,
    body: &Value,
    origin: Origin,
) -> u64 {
    let message = StoredMessage {
        id: inner.next_id(),
        channel_id,
        author_id: origin.author_id,
        content: String::new(),
        attachments: vec![],
        nonce: None,
        enforce_nonce: false,
        components: vec![],
        embeds: vec![],
        flags: body["flags"].as_u64().unwrap_or(FLAG_LOADING),
        kind: origin.kind,
        webhook_id: Some(APP_ID),
        interaction_id: origin.interaction_id,
        message_reference: None,
        mentions: vec![],
        timestamp: payloads::now_iso(),
        edited_timestamp: None,
        thread_id: None,
        reactions: vec![],
        tts: false,
        allowed_mentions: body
            .get("allowed_mentions")
            .filter(|a| !a.is_null())
            .cloned(),
        pings: Pings::default(),
    };
    inner.push_message(message.clone());
    if !message.is_ephemeral() {
        let event = payloads::message(base, inner, &message, true);
        inner.echo("MESSAGE_CREATE", &event);
    }
    message.id
}

/// The interaction behind a webhook URL: 404 10015 for another application, 401 50027 for an
/// unknown or expired token.
pub(super) fn webhook_interaction(inner: &Inner, app: &str, token: &str) -> Result<u64, ApiError> {
    if app.parse::<u64>().ok() != Some(APP_ID) {
        return Err(ApiError::unknown_webhook());
    }
    let id = *inner
        .interaction_tokens
        .get(token)
        .ok_or_else(ApiError::invalid_webhook_token)?;
    let rec = inner
        .interactions
        .get(&id)
        .ok_or_else(ApiError::invalid_webhook_token)?;
    if rec.started().elapsed() > inner.token_lifetime {
        return Err(ApiError::invalid_webhook_token());
    }
    Ok(id)
}

pub(super) fn webhook_execute(
    inner: &mut Inner,
    base: &str,
    app: &str,
    token: &str,
    req: &ApiRequest<'_>,
) -> ApiResult {
    let id = webhook_interaction(inner, app, token)?;
    let Some(rec) = inner.interactions.get(&id).cloned() else {
        return Err(ApiError::invalid_webhook_token());
    };
    if rec.acked.is_none() {
        return Err(ApiError::unknown_webhook());
    }
    // After a deferred response, the first follow-up replaces the "thinking" message.
    let loading = rec
        .original_message
        .filter(|_| rec.acked == Some(5))
        .filter(|mid| {
            inner
                .find_message(rec.channel_id, *mid)
                .is_some_and(StoredMessage::is_loading)
        });
    let message = match loading {
        Some(mid) => edit_message(
            inner,
            base,
            rec.channel_id,
            mid,
            &req.body,
            &req.files,
            true,
        )?,
        None => {
            let origin = Origin::interaction(id, 0);
            let m = create_message(inner, base, rec.channel_id, &req.body, &req.files, origin)?;
            if let Some(r) = inner.interactions.get_mut(&id) {
                r.followups.push(m.id);
            }
            m
        }
    };
    ok(payloads::message(base, inner, &message, false))
}

pub(super) fn webhook_message(
    inner: &mut Inner,
    base: &str,
    method: &str,
    app: &str,
    token: &str,
    mid: &str,
    req: &ApiRequest<'_>,
) -> ApiResult {
    let id = webhook_interaction(inner, app, token)?;
    let Some(rec) = inner.interactions.get(&id).cloned() else {
        return Err(ApiError::invalid_webhook_token());
    };
    let message_id = if mid == "@original" {
        rec.original_message.ok_or_else(ApiError::unknown_message)?
    } else {
        let m = parse_id(mid, ApiError::unknown_message)?;
        if rec.original_message != Some(m) && !rec.followups.contains(&m) {
            return Err(ApiError::unknown_message());
        }
        m
    };
    let message = inner
        .find_message(rec.channel_id, message_id)
        .cloned()
        .ok_or_else(ApiError::unknown_message)?;
    match method {
        "GET" => ok(payloads::message(base, inner, &message, false)),
        "PATCH" => {
            let edited = edit_message(
                inner,
                base,
                rec.channel_id,
                message_id,
                &req.body,
                &req.files,
                true,
            )?;
            ok(payloads::message(base, inner, &edited, false))
        }
        "DELETE" => {
            delete_message(inner, rec.channel_id, message_id)?;
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::no_route()),
    }
}
