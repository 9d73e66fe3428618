//! The websocket gateway: HELLO, IDENTIFY -> READY, heartbeats, RESUME, intent filtering and
//! sharding (which sessions a dispatch goes to).
//! Text frames with JSON only (no compression, no ETF); `?v=10&encoding=json` is ignored.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::{guilds, payloads, shard_of, Connection, Inner, Session, Shared, WsOut};
use super::{BOT_USER_ID, HEARTBEAT_INTERVAL_MS, TOKEN};

const INTENT_GUILDS: u64 = 1 << 0;
const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
const INTENT_DIRECT_MESSAGES: u64 = 1 << 12;
const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// `GET /gateway` with an upgrade: 503 while the gateway is dropped, else a websocket session.
pub(super) async fn upgrade(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if !shared.lock().gateway_allowed {
        return (StatusCode::SERVICE_UNAVAILABLE, "gateway unavailable").into_response();
    }
    let (mut parts, _body) = req.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws.on_upgrade(move |socket| run(shared, socket)),
        Err(rejection) => rejection.into_response(),
    }
}

/// Number of open connections whose session got READY or RESUMED.
pub(super) fn live_ready_sessions(inner: &Inner) -> usize {
    inner
        .connections
        .values()
        .filter(|c| c.session_id.is_some())
        .count()
}

async fn run(shared: Arc<Shared>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = unbounded_channel();
    let conn_id = {
        let mut inner = shared.lock();
        let id = inner.next_conn;
        inner.next_conn += 1;
        inner.connections.insert(
            id,
            Connection {
                tx: tx.clone(),
                session_id: None,
            },
        );
        id
    };
    let hello = json!({"op": 10, "s": null, "t": null,
        "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS, "_trace": ["[\"fake-discord\"]"]}});
    let _ = tx.send(WsOut::Text(hello.to_string()));

    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(WsOut::Text(text)) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(WsOut::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => handle_payload(&shared, conn_id, &tx, &text),
                Some(Ok(Message::Binary(_))) => {
                    let _ = tx.send(WsOut::Close(4002, "Error while decoding payload."));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    // Answer the client's close frame so it shuts down cleanly.
                    let _ = sink.send(Message::Close(frame)).await;
                    break;
                }
                Some(Err(_)) | None => break,
            },
        }
    }
    let _ = sink.close().await;

    let mut inner = shared.lock();
    if let Some(conn) = inner.connections.remove(&conn_id) {
        if let Some(session) = conn.session_id.and_then(|s| inner.sessions.get_mut(&s)) {
            if session.conn == Some(conn_id) {
                session.conn = None;
            }
        }
    }
}

fn handle_payload(shared: &Shared, conn_id: u64, tx: &UnboundedSender<WsOut>, text: &str) {
    let mut inner = shared.lock();
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        let _ = tx.send(WsOut::Close(4002, "Error while decoding payload."));
        return;
    };
    inner.gateway_payloads.push(payload.clone());
    match payload["op"].as_u64() {
        Some(1) => {
            let ack = json!({"op": 11, "d": null, "s": null, "t": null});
            let _ = tx.send(WsOut::Text(ack.to_string()));
        }
        Some(2) => identify(&mut inner, shared, conn_id, tx, &payload["d"]),
        Some(6) => resume(&mut inner, conn_id, tx, &payload["d"]),
        // Presence update, voice state update, request guild members: accepted, ignored.
        Some(3 | 4 | 8) => {}
        _ => {
            let _ = tx.send(WsOut::Close(4001, "Unknown opcode."));
        }
    }
}

fn token_ok(d: &Value) -> bool {
    let token = d["token"].as_str().unwrap_or_default();
    token == TOKEN || token.strip_prefix("Bot ") == Some(TOKEN)
}

fn identify(
    inner: &mut Inner,
    shared: &Shared,
    conn_id: u64,
    tx: &UnboundedSender<WsOut>,
    d: &Value,
) {
    let already = inner
        .connections
        .get(&conn_id)
        .is_some_and(|c| c.session_id.is_some());
    if already {
        let _ = tx.send(WsOut::Close(4005, "Already authenticated."));
        return;
    }
    if !token_ok(d) {
        let _ = tx.send(WsOut::Close(4004, "Authentication failed."));
        return;
    }
    let Some(intents) = d["intents"].as_u64() else {
        let _ = tx.send(WsOut::Close(4013, "Invalid intent(s)."));
        return;
    };
    // A privileged intent whose switch is off in the Developer Portal.
    if intents & INTENT_MESSAGE_CONTENT != 0 && !inner.message_content_allowed {
        let _ = tx.send(WsOut::Close(4014, "Disallowed intent(s)."));
        return;
    }
    let Some(shard) = shard_of_identify(&d["shard"]) else {
        let _ = tx.send(WsOut::Close(4010, "Invalid shard."));
        return;
    };
    let session_id = payloads::random_token("")
        .chars()
        .take(32)
        .collect::<String>();
    inner.sessions.insert(
        session_id.clone(),
        Session {
            seq: 1,
            intents,
            shard,
            conn: Some(conn_id),
            backlog: VecDeque::new(),
        },
    );
    if let Some(conn) = inner.connections.get_mut(&conn_id) {
        conn.session_id = Some(session_id.clone());
    }
    inner.identify_count += 1;
    inner.identified_shards.push(shard);
    let [shard_id, num_shards] = shard;
    let guild_ids: Vec<u64> = inner
        .guild_ids()
        .into_iter()
        .filter(|g| shard_of(Some(*g), num_shards) == shard_id)
        .collect();
    let ready = payloads::ready(&session_id, &shared.ws_url, shard, &guild_ids);
    let frame = json!({"op": 0, "t": "READY", "s": 1, "d": ready});
    let _ = tx.send(WsOut::Text(frame.to_string()));
    if inner.guild_create_burst {
        for guild_id in guild_ids {
            let payload = guilds::guild_create(inner, guild_id);
            inner.dispatch_to(&session_id, "GUILD_CREATE", &payload);
        }
    }
}

/// IDENTIFY's `shard`: `[shard_id, num_shards]` with `shard_id < num_shards`, `[0, 1]` when
/// absent; None when invalid (Discord closes with 4010).
fn shard_of_identify(shard: &Value) -> Option<[u64; 2]> {
    match shard {
        Value::Null => Some([0, 1]),
        Value::Array(s) if s.len() == 2 => {
            let (id, num) = (s[0].as_u64()?, s[1].as_u64()?);
            (id < num).then_some([id, num])
        }
        _ => None,
    }
}

/// The server a dispatch belongs to: `id` for the guild's own events, else `guild_id`.
pub(super) fn guild_of(event: &str, data: &Value) -> Option<u64> {
    match event {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => payloads::id_of(&data["id"]),
        _ => payloads::id_of(&data["guild_id"]),
    }
}

fn resume(inner: &mut Inner, conn_id: u64, tx: &UnboundedSender<WsOut>, d: &Value) {
    if !token_ok(d) {
        let _ = tx.send(WsOut::Close(4004, "Authentication failed."));
        return;
    }
    let session_id = d["session_id"].as_str().unwrap_or_default().to_owned();
    let from_seq = d["seq"].as_u64().unwrap_or(0);
    let Some(session) = inner.sessions.get_mut(&session_id) else {
        let invalid = json!({"op": 9, "d": false, "s": null, "t": null});
        let _ = tx.send(WsOut::Text(invalid.to_string()));
        return;
    };
    let previous = session.conn.replace(conn_id);
    for (seq, frame) in &session.backlog {
        if *seq > from_seq {
            let _ = tx.send(WsOut::Text(frame.clone()));
        }
    }
    session.seq += 1;
    let resumed = json!({"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": []}});
    let _ = tx.send(WsOut::Text(resumed.to_string()));
    if let Some(old) = previous.filter(|old| *old != conn_id) {
        if let Some(conn) = inner.connections.get_mut(&old) {
            conn.session_id = None;
            let _ = conn
                .tx
                .send(WsOut::Close(4000, "Session resumed elsewhere"));
        }
    }
    if let Some(conn) = inner.connections.get_mut(&conn_id) {
        conn.session_id = Some(session_id);
    }
    inner.resume_count += 1;
}

/// What a session with `intents` receives for this dispatch (None: nothing).
pub(super) fn filter_for_intents(event: &str, data: &Value, intents: u64) -> Option<Value> {
    match event {
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => {
            let in_guild = data.get("guild_id").is_some_and(|g| !g.is_null());
            let needed = if in_guild {
                INTENT_GUILD_MESSAGES
            } else {
                INTENT_DIRECT_MESSAGES
            };
            if intents & needed == 0 {
                return None;
            }
            let mut d = data.clone();
            if event != "MESSAGE_DELETE"
                && in_guild
                && intents & INTENT_MESSAGE_CONTENT == 0
                && !content_exempt(data)
            {
                for key in ["embeds", "attachments", "components"] {
                    if d.get(key).is_some() {
                        d[key] = json!([]);
                    }
                }
                if d.get("content").is_some() {
                    d["content"] = json!("");
                }
            }
            Some(d)
        }
        e if e.starts_with("THREAD_") || e.starts_with("CHANNEL_") || e.starts_with("GUILD_") => {
            (intents & INTENT_GUILDS != 0).then(|| data.clone())
        }
        _ => Some(data.clone()),
    }
}

/// Messages whose content a bot sees without the MESSAGE_CONTENT intent: its own and those
/// that mention it.
fn content_exempt(data: &Value) -> bool {
    let bot = BOT_USER_ID.to_string();
    data["author"]["id"].as_str() == Some(bot.as_str())
        || data["mentions"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| u["id"].as_str() == Some(bot.as_str())))
}
