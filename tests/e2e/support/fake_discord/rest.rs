//! REST API v10: routing, authentication, request recording, rate-limit headers and the
//! handlers. Handlers run synchronously under the state lock and return Discord-shaped errors.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::interactions::{interaction_callback, webhook_execute, webhook_message};
use super::messages::{
    channel_message, list_messages, post_channel_message, react, writable_channel,
};
use super::payloads::{self, id_of};
use super::threads::{create_thread, modify_channel, remove_channel};
use super::{
    gateway, Channel, Inner, Part, Recorded, Shared, APP_ID, BOT_USER_ID, GUILD_ID, TOKEN,
};

/// Requests allowed per bucket per second (announced in `X-RateLimit-Limit`).
const RATE_LIMIT: u32 = 50;

/// The axum router: `/gateway` websocket, everything else through [`handle`].
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/gateway", get(gateway::upgrade))
        .fallback(handle)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// A Discord error response.
#[derive(Debug)]
pub(super) struct ApiError {
    status: u16,
    body: Value,
}

impl ApiError {
    pub(super) fn new(status: u16, code: u64, message: &str) -> Self {
        ApiError {
            status,
            body: json!({"message": message, "code": code}),
        }
    }
    pub(super) fn no_route() -> Self {
        Self::new(404, 0, "404: Not Found")
    }
    pub(super) fn unauthorized() -> Self {
        Self::new(401, 0, "401: Unauthorized")
    }
    pub(super) fn unknown_channel() -> Self {
        Self::new(404, 10003, "Unknown Channel")
    }
    pub(super) fn unknown_message() -> Self {
        Self::new(404, 10008, "Unknown Message")
    }
    pub(super) fn unknown_webhook() -> Self {
        Self::new(404, 10015, "Unknown Webhook")
    }
    pub(super) fn unknown_interaction() -> Self {
        Self::new(404, 10062, "Unknown interaction")
    }
    pub(super) fn invalid_webhook_token() -> Self {
        Self::new(401, 50027, "Invalid Webhook Token")
    }
    pub(super) fn missing_permissions() -> Self {
        Self::new(403, 50013, "Missing Permissions")
    }
    pub(super) fn wrong_channel_type() -> Self {
        Self::new(400, 50024, "Cannot execute action on this channel type")
    }
    pub(super) fn archived_thread() -> Self {
        Self::new(400, 50083, "Thread is archived")
    }
    pub(super) fn too_large() -> Self {
        Self::new(413, 40005, "Request entity too large")
    }
    /// 400 code 50035 with one error at a dotted `path` (e.g. `embeds.0.title`).
    pub(super) fn form(path: &str, code: &str, message: &str) -> Self {
        let mut errors = json!({"_errors": [{"code": code, "message": message}]});
        for key in path.rsplit('.') {
            errors = json!({ key: errors });
        }
        ApiError {
            status: 400,
            body: json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}),
        }
    }
    pub(super) fn max_length(path: &str, max: usize) -> Self {
        Self::form(
            path,
            "BASE_TYPE_MAX_LENGTH",
            &format!("Must be {max} or fewer in length."),
        )
    }
    pub(super) fn bad_length(path: &str, min: usize, max: usize) -> Self {
        Self::form(
            path,
            "BASE_TYPE_BAD_LENGTH",
            &format!("Must be between {min} and {max} in length."),
        )
    }
}

/// A successful answer.
pub(super) enum Reply {
    Json(u16, Value),
    NoContent,
    File(String, Vec<u8>),
}

pub(super) type ApiResult = Result<Reply, ApiError>;

pub(super) fn ok(value: Value) -> ApiResult {
    Ok(Reply::Json(200, value))
}

/// A parsed request, as handlers see it.
pub(super) struct ApiRequest<'a> {
    pub(super) method: &'a str,
    pub(super) segs: Vec<&'a str>,
    pub(super) query: Option<&'a str>,
    /// JSON body, or the `payload_json` part of a multipart body.
    pub(super) body: Value,
    /// File parts of a multipart body.
    pub(super) files: Vec<Part>,
}

impl ApiRequest<'_> {
    pub(super) fn query_param(&self, name: &str) -> Option<&str> {
        self.query?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), value)
        })
        .collect();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();

    let (json, multipart, body_error) = parse_body(&content_type, bytes).await;
    let body_value = match &multipart {
        Some(parts) => parts
            .iter()
            .find(|p| p.name == "payload_json")
            .and_then(|p| serde_json::from_slice(&p.bytes).ok())
            .unwrap_or(Value::Null),
        None => json.clone().unwrap_or(Value::Null),
    };
    let files: Vec<Part> = multipart
        .iter()
        .flatten()
        .filter(|p| p.filename.is_some() && p.name != "payload_json")
        .cloned()
        .collect();

    // The lock is released before any held-back answer is waited out.
    let (response, delay, dropped) = {
        let mut inner = shared.lock();
        let is_api = path.starts_with("/api/v10/");
        let result = if path.starts_with("/attachments/") {
            serve_attachment(&inner, &shared.base, &path, query.as_deref())
        } else if let Some(rest) = path.strip_prefix("/api/v10/") {
            let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            match (check_auth(&segs, auth.as_deref()), body_error) {
                (Err(e), _) | (Ok(()), Some(e)) => Err(e),
                (Ok(()), None) => {
                    let req = ApiRequest {
                        method: &method,
                        segs,
                        query: query.as_deref(),
                        body: body_value,
                        files,
                    };
                    route(&mut inner, &shared.base, &req)
                }
            }
        } else {
            Err(ApiError::no_route())
        };

        let (status, response_json, mut response) = match result {
            Ok(Reply::Json(status, v)) => (status, Some(v.clone()), json_response(status, &v)),
            Ok(Reply::NoContent) => (204, None, StatusCode::NO_CONTENT.into_response()),
            Ok(Reply::File(ct, bytes)) => {
                let mut r = Response::new(Body::from(bytes));
                if let Ok(v) = HeaderValue::from_str(&ct) {
                    r.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                (200, None, r)
            }
            Err(e) => (
                e.status,
                Some(e.body.clone()),
                json_response(e.status, &e.body),
            ),
        };
        if is_api {
            add_rate_limit_headers(&mut inner, &method, &path, &mut response);
        }
        let delay = inner
            .answer_delays
            .iter()
            .find(|(m, suffix, _)| *m == method && path.ends_with(suffix.as_str()))
            .map(|(_, _, d)| *d);
        let dropped = inner
            .answer_drops
            .iter_mut()
            .find(|(m, suffix, left)| *m == method && path.ends_with(suffix.as_str()) && *left > 0)
            .map(|(_, _, left)| *left -= 1)
            .is_some();
        inner.requests.push(Recorded {
            method,
            path,
            query,
            headers,
            json,
            multipart,
            status: if dropped { 0 } else { status },
            response: response_json,
            at,
        });
        (response, delay, dropped)
    };
    if dropped {
        // axum runs the handler inside the connection's task: unwinding it drops the socket,
        // so the client sees the connection close with no HTTP answer. `resume_unwind` skips
        // the panic hook (nothing is printed), and no lock is held here.
        std::panic::resume_unwind(Box::new("fake Discord: answer dropped"));
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Returns (JSON body, multipart parts, error to answer with).
async fn parse_body(
    content_type: &str,
    bytes: Bytes,
) -> (Option<Value>, Option<Vec<Part>>, Option<ApiError>) {
    if content_type.starts_with("multipart/form-data") {
        return match parse_multipart(content_type, bytes).await {
            Ok(parts) => {
                let bad_payload = parts.iter().any(|p| {
                    p.name == "payload_json" && serde_json::from_slice::<Value>(&p.bytes).is_err()
                });
                let err = bad_payload
                    .then(|| ApiError::new(400, 50109, "The request body contains invalid JSON."));
                (None, Some(parts), err)
            }
            Err(_) => (
                None,
                None,
                Some(ApiError::new(400, 50035, "Invalid Form Body")),
            ),
        };
    }
    if bytes.is_empty() {
        return (None, None, None);
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => (Some(v), None, None),
        Err(_) => (
            None,
            None,
            Some(ApiError::new(
                400,
                50109,
                "The request body contains invalid JSON.",
            )),
        ),
    }
}

async fn parse_multipart(content_type: &str, bytes: Bytes) -> Result<Vec<Part>, String> {
    let req = axum::http::Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .map_err(|e| e.to_string())?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| e.body_text())?;
    let mut parts = vec![];
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| e.body_text())?.to_vec();
        parts.push(Part {
            name,
            filename,
            content_type,
            bytes,
        });
    }
    Ok(parts)
}

/// Bot token required everywhere except interaction callbacks and token webhooks, which are
/// authenticated by the token in their URL; a wrong Authorization header is refused anywhere.
fn check_auth(segs: &[&str], auth: Option<&str>) -> Result<(), ApiError> {
    let token_route = segs.first() == Some(&"interactions")
        || (segs.first() == Some(&"webhooks") && segs.len() >= 3);
    match auth {
        Some(a) if a.strip_prefix("Bot ") == Some(TOKEN) => Ok(()),
        Some(_) => Err(ApiError::unauthorized()),
        None if token_route => Ok(()),
        None => Err(ApiError::unauthorized()),
    }
}

fn add_rate_limit_headers(inner: &mut Inner, method: &str, path: &str, response: &mut Response) {
    let key = bucket_key(method, path);
    let now = Instant::now();
    let entry = inner.buckets.entry(key.clone()).or_insert((now, 0));
    if now.duration_since(entry.0) >= Duration::from_secs(1) {
        *entry = (now, 0);
    }
    entry.1 += 1;
    let remaining = RATE_LIMIT.saturating_sub(entry.1);
    let reset_after = (Duration::from_secs(1).saturating_sub(now.duration_since(entry.0)))
        .as_secs_f64()
        .max(0.001);
    let reset_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
        + reset_after;
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let values = [
        ("x-ratelimit-limit", RATE_LIMIT.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", format!("{reset_at:.3}")),
        ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
        ("x-ratelimit-bucket", format!("{:016x}", hasher.finish())),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
}

/// Route key: the major parameter (the id right after the resource) is kept, other ids and
/// tokens are generalised.
fn bucket_key(method: &str, path: &str) -> String {
    let segs: Vec<String> = path
        .trim_start_matches("/api/v10/")
        .split('/')
        .enumerate()
        .map(|(i, s)| {
            let generic = s.parse::<u64>().is_ok() || s.len() > 40;
            if generic && i != 1 {
                ":id".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect();
    format!("{method} {}", segs.join("/"))
}

/// A file on the CDN, for a link that is signed by this fake and not yet expired; anything else
/// answers 404, as Discord's CDN does ("This content is no longer available.").
fn serve_attachment(inner: &Inner, base: &str, path: &str, query: Option<&str>) -> ApiResult {
    let gone = || ApiError::new(404, 0, "This content is no longer available.");
    let segs: Vec<&str> = path
        .trim_start_matches("/attachments/")
        .split('/')
        .collect();
    let [.., id, _] = segs.as_slice() else {
        return Err(gone());
    };
    let att = id
        .parse::<u64>()
        .ok()
        .and_then(|id| inner.attachments.get(&id))
        .filter(|a| payloads::attachment_path(a) == path)
        .ok_or_else(gone)?;
    let link = format!("{path}?{}", query.unwrap_or_default());
    let hex = |name: &str| {
        payloads::link_param(&link, name).and_then(|v| u64::from_str_radix(&v, 16).ok())
    };
    let (Some(expires), Some(issued), Some(hm)) =
        (hex("ex"), hex("is"), payloads::link_param(&link, "hm"))
    else {
        return Err(gone());
    };
    if hm != payloads::link_signature(base, path, issued, expires)
        || expires <= payloads::unix_now()
    {
        return Err(gone());
    }
    let ct = att
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok(Reply::File(ct, att.bytes.clone()))
}

/// `POST /attachments/refresh-urls`: one `{original, refreshed}` per link, in order. A link to
/// one of this fake's attachments (expired or not) comes back signed anew; any other text comes
/// back unchanged. At most 50 links per request.
fn refresh_urls(inner: &Inner, base: &str, body: &Value) -> ApiResult {
    let urls = body["attachment_urls"].as_array().ok_or_else(|| {
        ApiError::form(
            "attachment_urls",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        )
    })?;
    if urls.len() > 50 {
        return Err(ApiError::max_length("attachment_urls", 50));
    }
    let mut refreshed = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let original = url.as_str().ok_or_else(|| {
            ApiError::form(
                &format!("attachment_urls.{i}"),
                "BASE_TYPE_STRING",
                "Could not interpret the value as string.",
            )
        })?;
        let path = original
            .strip_prefix(base)
            .and_then(|rest| rest.split('?').next())
            .filter(|p| {
                inner
                    .attachments
                    .values()
                    .any(|a| payloads::attachment_path(a) == *p)
            });
        let fresh = match path {
            Some(path) => {
                let (issued, expires) = inner.link_validity();
                payloads::signed_link(base, path, issued, expires)
            }
            None => original.to_owned(),
        };
        refreshed.push(json!({"original": original, "refreshed": fresh}));
    }
    ok(json!({ "refreshed_urls": refreshed }))
}

pub(super) fn parse_id(s: &str, err: fn() -> ApiError) -> Result<u64, ApiError> {
    s.parse().map_err(|_| err())
}

/// The 500 of a Discord outage, for message creates (and edits) while one lasts.
fn outage(inner: &Inner, req: &ApiRequest<'_>) -> Result<(), ApiError> {
    let Some(outage) = inner.message_outage.filter(|o| Instant::now() < o.until) else {
        return Ok(());
    };
    let hit = match (req.method, req.segs.as_slice()) {
        ("POST", ["channels", _, "messages"]) => true,
        ("PATCH", ["channels", _, "messages", _]) => outage.edits,
        _ => false,
    };
    if hit {
        return Err(ApiError::new(500, 0, "500: Internal Server Error"));
    }
    Ok(())
}

fn route(inner: &mut Inner, base: &str, req: &ApiRequest<'_>) -> ApiResult {
    let body = &req.body;
    outage(inner, req)?;
    match (req.method, req.segs.as_slice()) {
        ("GET", ["gateway"]) => ok(json!({ "url": ws_url(base) })),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": ws_url(base),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999,
                "reset_after": 14_400_000, "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => ok(payloads::user(BOT_USER_ID)),
        ("GET", ["users", id]) => ok(payloads::user(parse_id(id, || {
            ApiError::new(404, 10013, "Unknown User")
        })?)),
        ("POST", ["users", "@me", "channels"]) => open_dm(inner, body),
        ("POST", ["attachments", "refresh-urls"]) => refresh_urls(inner, base, body),
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            ok(payloads::application())
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(inner, app, None, body),
        ("GET", ["applications", app, "commands"]) => {
            check_app(app)?;
            ok(json!(inner.global_commands))
        }
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
            let guild = check_guild(guild)?;
            put_commands(inner, app, Some(guild), body)
        }
        ("GET", ["applications", app, "guilds", guild, "commands"]) => {
            check_app(app)?;
            let guild = check_guild(guild)?;
            ok(json!(inner
                .guild_commands
                .get(&guild)
                .cloned()
                .unwrap_or_default()))
        }
        ("POST", ["interactions", id, token, "callback"]) => {
            interaction_callback(inner, base, id, token, req)
        }
        ("POST", ["webhooks", app, token]) => webhook_execute(inner, base, app, token, req),
        (method, ["webhooks", app, token, "messages", mid]) => {
            webhook_message(inner, base, method, app, token, mid, req)
        }
        ("GET", ["channels", id]) => {
            let id = parse_id(id, ApiError::unknown_channel)?;
            let channel = inner
                .channels
                .get(&id)
                .ok_or_else(ApiError::unknown_channel)?;
            ok(payloads::channel(channel))
        }
        ("PATCH", ["channels", id]) => modify_channel(inner, id, body),
        ("DELETE", ["channels", id]) => {
            let id = parse_id(id, ApiError::unknown_channel)?;
            let channel = remove_channel(inner, id).ok_or_else(ApiError::unknown_channel)?;
            ok(payloads::channel(&channel))
        }
        ("GET", ["channels", id, "messages"]) => list_messages(inner, base, id, req),
        ("POST", ["channels", id, "messages"]) => post_channel_message(inner, base, id, req),
        ("POST", ["channels", id, "typing"]) => {
            writable_channel(inner, parse_id(id, ApiError::unknown_channel)?)?;
            Ok(Reply::NoContent)
        }
        (method, ["channels", id, "messages", mid]) => {
            channel_message(inner, base, method, id, mid, req)
        }
        ("POST", ["channels", id, "messages", mid, "threads"]) => {
            let id = parse_id(id, ApiError::unknown_channel)?;
            let mid = parse_id(mid, ApiError::unknown_message)?;
            create_thread(inner, id, Some(mid), body)
        }
        ("POST", ["channels", id, "threads"]) => {
            let id = parse_id(id, ApiError::unknown_channel)?;
            create_thread(inner, id, None, body)
        }
        (
            method @ ("PUT" | "DELETE"),
            ["channels", id, "messages", mid, "reactions", emoji, "@me"],
        ) => react(inner, method, id, mid, emoji),
        ("GET", ["guilds", g]) => {
            check_guild(g)?;
            ok(payloads::guild())
        }
        ("GET", ["guilds", g, "roles"]) => {
            check_guild(g)?;
            ok(json!(payloads::roles()))
        }
        ("GET", ["guilds", g, "channels"]) => {
            check_guild(g)?;
            let mut channels: Vec<&Channel> = inner
                .channels
                .values()
                .filter(|c| c.guild_id == Some(GUILD_ID) && !c.is_thread())
                .collect();
            channels.sort_by_key(|c| c.id);
            ok(json!(channels
                .into_iter()
                .map(payloads::channel)
                .collect::<Vec<_>>()))
        }
        ("GET", ["guilds", g, "members", user]) => {
            check_guild(g)?;
            let user = parse_id(user, || ApiError::new(404, 10013, "Unknown User"))?;
            ok(payloads::member(
                user,
                &payloads::default_roles(user),
                None,
                true,
            ))
        }
        _ => Err(ApiError::no_route()),
    }
}

fn ws_url(base: &str) -> String {
    format!("{}/gateway", base.replacen("http://", "ws://", 1))
}

fn check_app(app: &str) -> Result<(), ApiError> {
    (app.parse::<u64>().ok() == Some(APP_ID))
        .then_some(())
        .ok_or_else(|| ApiError::new(404, 10002, "Unknown Application"))
}

fn check_guild(guild: &str) -> Result<u64, ApiError> {
    guild
        .parse::<u64>()
        .ok()
        .filter(|g| *g == GUILD_ID)
        .ok_or_else(|| ApiError::new(404, 10004, "Unknown Guild"))
}

fn open_dm(inner: &mut Inner, body: &Value) -> ApiResult {
    let recipient = id_of(&body["recipient_id"]).ok_or_else(|| {
        ApiError::form(
            "recipient_id",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        )
    })?;
    let existing = inner
        .channels
        .values()
        .find(|c| c.kind == 1 && c.recipient_id == Some(recipient))
        .cloned();
    let channel = match existing {
        Some(c) => c,
        None => {
            let id = inner.next_id();
            let c = Channel::dm(id, recipient);
            inner.channels.insert(id, c.clone());
            c
        }
    };
    ok(payloads::channel(&channel))
}

// ---------------------------------------------------------------------------------------------
// Application commands
// ---------------------------------------------------------------------------------------------

fn put_commands(inner: &mut Inner, app: &str, guild: Option<u64>, body: &Value) -> ApiResult {
    check_app(app)?;
    let sent = body
        .as_array()
        .ok_or_else(|| ApiError::form("_", "BASE_TYPE_ARRAY", "Must be an array."))?;
    if sent.len() > 100 {
        return Err(ApiError::max_length("_", 100));
    }
    for (i, command) in sent.iter().enumerate() {
        validate_command(&format!("{i}"), command)?;
    }
    let previous = match guild {
        Some(g) => inner.guild_commands.get(&g).cloned().unwrap_or_default(),
        None => inner.global_commands.clone(),
    };
    let mut stored = vec![];
    for command in sent {
        let kept_id = previous
            .iter()
            .find(|p| p["name"] == command["name"] && type_of(p) == type_of(command))
            .and_then(|p| id_of(&p["id"]));
        let id = kept_id.unwrap_or_else(|| inner.next_id());
        stored.push(payloads::command(command, id, guild));
    }
    match guild {
        Some(g) => {
            inner.guild_commands.insert(g, stored.clone());
        }
        None => inner.global_commands = stored.clone(),
    }
    inner.last_registered = sent.clone();
    ok(json!(stored))
}

fn type_of(command: &Value) -> u64 {
    command["type"].as_u64().unwrap_or(1)
}

fn validate_command(path: &str, c: &Value) -> Result<(), ApiError> {
    let name = c["name"].as_str().unwrap_or_default();
    if name.is_empty() || name.chars().count() > 32 {
        return Err(ApiError::bad_length(&format!("{path}.name"), 1, 32));
    }
    if type_of(c) == 1 {
        if name
            .chars()
            .any(|ch| ch.is_uppercase() || ch.is_whitespace())
        {
            return Err(ApiError::form(
                &format!("{path}.name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        let description = c["description"].as_str().unwrap_or_default();
        if description.is_empty() || description.chars().count() > 100 {
            return Err(ApiError::bad_length(&format!("{path}.description"), 1, 100));
        }
        validate_options(&format!("{path}.options"), &c["options"])?;
    }
    Ok(())
}

fn validate_options(path: &str, options: &Value) -> Result<(), ApiError> {
    let Some(options) = options.as_array() else {
        return Ok(());
    };
    if options.len() > 25 {
        return Err(ApiError::max_length(path, 25));
    }
    let mut seen_optional = false;
    for (i, o) in options.iter().enumerate() {
        let p = format!("{path}.{i}");
        let name = o["name"].as_str().unwrap_or_default();
        if name.is_empty() || name.chars().count() > 32 {
            return Err(ApiError::bad_length(&format!("{p}.name"), 1, 32));
        }
        let description = o["description"].as_str().unwrap_or_default();
        if description.is_empty() || description.chars().count() > 100 {
            return Err(ApiError::bad_length(&format!("{p}.description"), 1, 100));
        }
        if o["choices"].as_array().is_some_and(|c| c.len() > 25) {
            return Err(ApiError::max_length(&format!("{p}.choices"), 25));
        }
        let required = o["required"].as_bool().unwrap_or(false);
        let kind = o["type"].as_u64().unwrap_or(0);
        if kind > 2 {
            if required && seen_optional {
                return Err(ApiError::form(
                    &p,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                ));
            }
            seen_optional |= !required;
        }
        validate_options(&format!("{p}.options"), &o["options"])?;
    }
    Ok(())
}
