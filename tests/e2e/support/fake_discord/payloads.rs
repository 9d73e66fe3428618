//! Builders for Discord-shaped JSON objects (users, members, channels, messages, interactions,
//! READY, the application, roles, the guild). Ids are strings, as Discord sends them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use rand::Rng;
use serde_json::{json, Value};

use super::perms;
use super::{
    Channel, Ctx, Inner, InteractionRec, StoredAttachment, StoredMessage, ADMIN_ROLE_ID,
    ADMIN_USER_ID, APP_ID, BOT_USER_ID, GUILD_ID, OTHER_USER_ID, USER_ID,
};

/// The current time as ISO 8601 with microseconds, like Discord.
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// The current time in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where an attachment's file is served, below the fake's base URL.
pub fn attachment_path(a: &StoredAttachment) -> String {
    match a.channel_id {
        Some(ch) => format!("/attachments/{ch}/{}/{}", a.id, a.filename),
        None => format!("/attachments/{}/{}", a.id, a.filename),
    }
}

/// The `hm` of a link: 64 hex digits (like Discord's HMAC-SHA256), keyed by this fake's
/// address and covering the path, `is` and `ex`, so an edited expiry breaks it.
pub fn link_signature(base: &str, path: &str, issued: u64, expires: u64) -> String {
    (0..4u8)
        .map(|round| {
            let mut h = DefaultHasher::new();
            (round, base, path, issued, expires).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

/// A signed link as Discord's CDN gives them: `{base}{path}?ex=<hex>&is=<hex>&hm=<hex>&`.
pub fn signed_link(base: &str, path: &str, issued: u64, expires: u64) -> String {
    let hm = link_signature(base, path, issued, expires);
    format!("{base}{path}?ex={expires:x}&is={issued:x}&hm={hm}&")
}

/// A query parameter of a link.
pub fn link_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A random token-like string with a prefix.
pub fn random_token(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..64)
        .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
        .collect();
    format!("{}{tail}", prefix.replace(':', "_"))
}

/// A snowflake given as a JSON string or number.
pub fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// User ids mentioned as `<@id>` or `<@!id>` in a text.
pub fn mentioned_users(content: &str) -> Vec<u64> {
    let mut found = vec![];
    for piece in content.split("<@").skip(1) {
        let piece = piece.strip_prefix('!').unwrap_or(piece);
        if let Some((id, _)) = piece.split_once('>') {
            if let Ok(id) = id.parse::<u64>() {
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
    }
    found
}

/// A user object. Known ids get stable names; others get `user<id>`.
pub fn user(id: u64) -> Value {
    let (name, bot) = match id {
        BOT_USER_ID => ("omni-bot-test".to_owned(), true),
        USER_ID => ("alice".to_owned(), false),
        OTHER_USER_ID => ("bob".to_owned(), false),
        ADMIN_USER_ID => ("admin".to_owned(), false),
        other => (format!("user{other}"), false),
    };
    json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": if bot { Value::Null } else { json!(name.to_uppercase()) },
        "avatar": null,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "banner": null,
        "accent_color": null,
    })
}

/// Default roles of a member.
pub fn default_roles(user_id: u64) -> Vec<u64> {
    if user_id == ADMIN_USER_ID {
        vec![ADMIN_ROLE_ID]
    } else {
        vec![]
    }
}

/// A guild member object; `permissions` is included when given (interactions carry it).
pub fn member(user_id: u64, roles: &[u64], permissions: Option<u64>, with_user: bool) -> Value {
    let mut m = json!({
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
    });
    if let Some(p) = permissions {
        m["permissions"] = json!(p.to_string());
    }
    if with_user {
        m["user"] = user(user_id);
    }
    m
}

/// An attachment object; served by the fake at its `url`.
/// The link is the one signed when the file was uploaded (the fake does not sign links anew when
/// a message is fetched again; `POST /attachments/refresh-urls` does).
pub fn attachment(base: &str, a: &StoredAttachment) -> Value {
    let url = signed_link(base, &attachment_path(a), a.issued_at, a.expires_at);
    let mut v = json!({
        "id": a.id.to_string(),
        "filename": a.filename,
        "size": a.bytes.len(),
        "url": url,
        "proxy_url": url,
        "content_type": a.content_type,
    });
    if let Some(d) = &a.description {
        v["description"] = json!(d);
    }
    v
}

/// A message object. `gateway` adds `guild_id` and `member` as gateway events carry them.
pub fn message(base: &str, inner: &Inner, m: &StoredMessage, gateway: bool) -> Value {
    let guild_id = inner.channels.get(&m.channel_id).and_then(|c| c.guild_id);
    let mut v = json!({
        "id": m.id.to_string(),
        "channel_id": m.channel_id.to_string(),
        "author": user(m.author_id),
        "content": m.content,
        "timestamp": m.timestamp,
        "edited_timestamp": m.edited_timestamp,
        "tts": m.tts,
        "mention_everyone": false,
        "mentions": m.mentions.iter().map(|u| user(*u)).collect::<Vec<_>>(),
        "mention_roles": [],
        "attachments": m.attachments.iter().map(|a| attachment(base, a)).collect::<Vec<_>>(),
        "embeds": m.embeds,
        "components": m.components,
        "pinned": false,
        "type": m.kind,
        "flags": m.flags,
    });
    if let Some(nonce) = &m.nonce {
        v["nonce"] = nonce.clone();
    }
    if let Some(webhook) = m.webhook_id {
        v["webhook_id"] = json!(webhook.to_string());
        v["application_id"] = json!(APP_ID.to_string());
    }
    if let Some(r) = &m.message_reference {
        v["message_reference"] = r.clone();
    }
    if let Some(thread) = m.thread_id.and_then(|t| inner.channels.get(&t)) {
        v["thread"] = channel(thread);
    }
    if !m.reactions.is_empty() {
        v["reactions"] = json!(m
            .reactions
            .iter()
            .map(
                |e| json!({"count": 1, "me": true, "emoji": {"id": null, "name": e},
                "count_details": {"burst": 0, "normal": 1}, "me_burst": false, "burst_colors": []})
            )
            .collect::<Vec<_>>());
    }
    if gateway {
        if let Some(g) = guild_id {
            v["guild_id"] = json!(g.to_string());
            if m.webhook_id.is_none() {
                v["member"] = member(m.author_id, &default_roles(m.author_id), None, false);
            }
        }
    }
    v
}

/// A channel object (guild text, DM or thread).
pub fn channel(c: &Channel) -> Value {
    match c.kind {
        1 => json!({
            "id": c.id.to_string(),
            "type": 1,
            "last_message_id": null,
            "flags": 0,
            "recipients": [user(c.recipient_id.unwrap_or(USER_ID))],
        }),
        _ => {
            let mut v = json!({
                "id": c.id.to_string(),
                "type": c.kind,
                "guild_id": c.guild_id.map(|g| g.to_string()),
                "name": c.name,
                "parent_id": c.parent_id.map(|p| p.to_string()),
                "last_message_id": null,
                "rate_limit_per_user": 0,
                "flags": 0,
                "nsfw": false,
            });
            if let Some(t) = &c.thread {
                v["owner_id"] = json!(t.owner_id.to_string());
                v["message_count"] = json!(t.message_count);
                v["total_message_sent"] = json!(t.message_count);
                v["member_count"] = json!(1);
                v["thread_metadata"] = json!({
                    "archived": t.archived,
                    "auto_archive_duration": t.auto_archive_duration,
                    "archive_timestamp": t.archive_timestamp,
                    "locked": t.locked,
                    "create_timestamp": t.create_timestamp,
                });
            } else {
                v["position"] = json!(0);
                v["permission_overwrites"] = json!([]);
                v["topic"] = Value::Null;
                v["default_auto_archive_duration"] = json!(1440);
            }
            v
        }
    }
}

/// An `INTERACTION_CREATE` payload.
pub fn interaction(
    inner: &Inner,
    rec: &InteractionRec,
    kind: u8,
    data: Value,
    ctx: &Ctx,
    message: Option<Value>,
) -> Value {
    let channel_json = inner
        .channels
        .get(&ctx.channel_id)
        .map(channel)
        .unwrap_or_else(|| json!({"id": ctx.channel_id.to_string(), "type": 0}));
    let limit = if ctx.attachment_size_limit == 0 {
        inner.max_upload
    } else {
        ctx.attachment_size_limit
    };
    let mut v = json!({
        "id": rec.id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "channel_id": ctx.channel_id.to_string(),
        "channel": channel_json,
        "token": rec.token,
        "version": 1,
        "locale": "en-US",
        "app_permissions": super::guilds::app_permissions(inner, ctx.channel_id).to_string(),
        "entitlements": [],
        "attachment_size_limit": limit,
    });
    match ctx.guild_id {
        Some(g) => {
            v["guild_id"] = json!(g.to_string());
            v["guild_locale"] = json!("en-US");
            v["member"] = member(ctx.user_id, &ctx.roles, Some(ctx.permissions), true);
            v["authorizing_integration_owners"] = json!({"0": g.to_string()});
            v["context"] = json!(0);
        }
        None => {
            v["user"] = user(ctx.user_id);
            v["authorizing_integration_owners"] = json!({"0": "0"});
            v["context"] = json!(1);
        }
    }
    if let Some(m) = message {
        v["message"] = m;
    }
    v
}

/// The READY dispatch data for a session on `shard`, listing `guilds` (that shard's servers) as unavailable.
pub fn ready(session_id: &str, resume_url: &str, shard: [u64; 2], guilds: &[u64]) -> Value {
    let guilds: Vec<Value> = guilds
        .iter()
        .map(|g| json!({"id": g.to_string(), "unavailable": true}))
        .collect();
    json!({
        "v": 10,
        "user": {
            "id": BOT_USER_ID.to_string(),
            "username": "omni-bot-test",
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
            "verified": true,
            "mfa_enabled": true,
            "flags": 0,
            "email": null,
        },
        "guilds": guilds,
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "shard": shard,
        "application": {"id": APP_ID.to_string(), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "user_settings": {},
        "_trace": ["[\"fake-discord\"]"],
    })
}

/// The application object (`GET /oauth2/applications/@me`); owned by [`ADMIN_USER_ID`].
pub fn application() -> Value {
    json!({
        "id": APP_ID.to_string(),
        "name": "omni-bot-test",
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0000000000000000000000000000000000000000000000000000000000000000",
        "owner": user(ADMIN_USER_ID),
        "team": null,
        "flags": 0,
        "rpc_origins": [],
        "tags": [],
        "integration_types_config": {"0": {}},
        "bot": user(BOT_USER_ID),
        "approximate_guild_count": 1,
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
    })
}

/// A role object (with both `color` and `colors`, which serenity requires).
pub fn role(id: u64, name: &str, permissions: u64, position: u64) -> Value {
    json!({
        "id": id.to_string(),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": position,
        "permissions": permissions.to_string(),
        "managed": false,
        "mentionable": false,
        "flags": 0,
    })
}

/// The guild's roles: @everyone (id = guild id) and the admin role.
pub fn roles() -> Vec<Value> {
    vec![
        role(GUILD_ID, "@everyone", perms::MEMBER, 0),
        role(ADMIN_ROLE_ID, "admin", perms::ALL, 1),
    ]
}

/// The guild object (`GET /guilds/{id}`).
pub fn guild() -> Value {
    json!({
        "id": GUILD_ID.to_string(),
        "name": "Fake Guild",
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": ADMIN_USER_ID.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles(),
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
    })
}

/// A stored application command: the sent object plus `id`, `application_id`, `version`,
/// `type` (default 1), `guild_id` when guild-scoped, and Discord's defaults.
pub fn command(sent: &Value, id: u64, guild_id: Option<u64>) -> Value {
    let mut c = sent.clone();
    if !c.is_object() {
        c = json!({});
    }
    c["id"] = json!(id.to_string());
    c["application_id"] = json!(APP_ID.to_string());
    c["version"] = json!(id.to_string());
    if c.get("type").is_none_or(Value::is_null) {
        c["type"] = json!(1);
    }
    if c.get("description").is_none_or(Value::is_null) {
        c["description"] = json!("");
    }
    for key in [
        "default_member_permissions",
        "name_localizations",
        "description_localizations",
    ] {
        if c.get(key).is_none() {
            c[key] = Value::Null;
        }
    }
    if c.get("nsfw").is_none() {
        c["nsfw"] = json!(false);
    }
    if let Some(g) = guild_id {
        c["guild_id"] = json!(g.to_string());
    }
    c
}
