//! Servers beyond the fixed one: a server the bot joins while it runs (with its roles, the bot's
//! managed role, channel permission overwrites and a system channel), the `GUILD_CREATE` Discord
//! sends for it, and the bot's permissions computed the way Discord computes them (base
//! permissions from @everyone and the bot's roles, Administrator means all, then the channel's
//! overwrites for @everyone, the roles and the member; a thread takes its parent's).
//!
//! Those permissions are what interactions carry as `app_permissions` and what REST enforces
//! (posting needs Send Messages, files need Attach Files, threads need Create Public Threads).
//! The fixed server ([`GUILD_ID`]) keeps its simpler model (see [`legacy_app_permissions`]), and
//! everywhere [`super::FakeDiscord::deny_permission`] takes bits away on top.

use serde_json::{json, Value};

use super::payloads;
use super::perms;
use super::{Channel, Inner, BOT_USER_ID, GUILD_ID, NO_THREADS_CHANNEL_ID};

/// A permission overwrite on a channel (Discord's shape: type 0 role, 1 member).
#[derive(Clone, Debug)]
pub struct Overwrite {
    pub id: u64,
    pub kind: u8,
    pub allow: u64,
    pub deny: u64,
}

/// A role of a joined server.
#[derive(Clone, Debug)]
pub struct RoleState {
    pub id: u64,
    pub name: String,
    pub permissions: u64,
    pub position: u64,
    pub managed: bool,
}

/// A server the bot joined while running.
#[derive(Clone, Debug)]
pub struct GuildState {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    pub system_channel_id: Option<u64>,
    /// The first is @everyone (its id is the server's).
    pub roles: Vec<RoleState>,
    pub bot_roles: Vec<u64>,
    /// Channel id → its overwrites.
    pub overwrites: std::collections::HashMap<u64, Vec<Overwrite>>,
}

/// How a joined server is set up.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// What the bot's managed role allows (the invite's permissions).
    pub bot_role_permissions: u64,
    /// Permissions the system channel's overwrite denies the bot's role.
    pub system_channel_denies: u64,
}

impl Default for JoinOptions {
    fn default() -> Self {
        Self {
            bot_role_permissions: perms::MEMBER,
            system_channel_denies: 0,
        }
    }
}

/// The ids of a joined server.
#[derive(Clone, Copy, Debug)]
pub struct JoinedGuild {
    pub id: u64,
    /// Its system channel (first in the channel list).
    pub system_channel: u64,
    /// Another text channel, after the system channel.
    pub general: u64,
    pub bot_role: u64,
}

/// Creates a server with a system channel and a general channel, the bot a member with its own
/// managed role; returns its ids (the `GUILD_CREATE` is built with [`guild_create`]).
pub(super) fn join(inner: &mut Inner, options: &JoinOptions) -> JoinedGuild {
    let id = inner.next_id();
    join_as(inner, id, options)
}

/// [`join`] with the server's id chosen by the caller (e.g. to land on a shard).
pub(super) fn join_as(inner: &mut Inner, id: u64, options: &JoinOptions) -> JoinedGuild {
    let bot_role = inner.next_id();
    let system_channel = inner.next_id();
    let general = inner.next_id();
    for (channel, name) in [(system_channel, "welcome"), (general, "general")] {
        inner.channels.insert(
            channel,
            Channel {
                id: channel,
                kind: 0,
                guild_id: Some(id),
                name: name.to_owned(),
                parent_id: None,
                recipient_id: None,
                bot_can_create_threads: true,
                thread: None,
            },
        );
    }
    let mut overwrites = std::collections::HashMap::new();
    if options.system_channel_denies != 0 {
        overwrites.insert(
            system_channel,
            vec![Overwrite {
                id: bot_role,
                kind: 0,
                allow: 0,
                deny: options.system_channel_denies,
            }],
        );
    }
    inner.guilds.insert(
        id,
        GuildState {
            id,
            name: "Joined Guild".to_owned(),
            owner_id: super::ADMIN_USER_ID,
            system_channel_id: Some(system_channel),
            roles: vec![
                RoleState {
                    id,
                    name: "@everyone".to_owned(),
                    permissions: perms::VIEW_CHANNEL | perms::READ_MESSAGE_HISTORY,
                    position: 0,
                    managed: false,
                },
                RoleState {
                    id: bot_role,
                    name: "omni-bot-test".to_owned(),
                    permissions: options.bot_role_permissions,
                    position: 1,
                    managed: true,
                },
            ],
            bot_roles: vec![bot_role],
            overwrites,
        },
    );
    JoinedGuild {
        id,
        system_channel,
        general,
        bot_role,
    }
}

/// The bot's permissions in a channel of a joined server, as Discord computes them; `None`
/// for a channel that is not in one.
fn computed(inner: &Inner, channel_id: u64) -> Option<u64> {
    let channel = inner.channels.get(&channel_id)?;
    // A thread takes its parent's permissions.
    let ruled = match (channel.thread.as_ref(), channel.parent_id) {
        (Some(_), Some(parent)) => parent,
        _ => channel_id,
    };
    let guild = inner.guilds.get(&channel.guild_id?)?;
    let mut base = 0;
    for role in &guild.roles {
        if role.id == guild.id || guild.bot_roles.contains(&role.id) {
            base |= role.permissions;
        }
    }
    if base & perms::ADMINISTRATOR != 0 {
        return Some(perms::ALL);
    }
    let overwrites = guild.overwrites.get(&ruled).cloned().unwrap_or_default();
    let mut p = base;
    if let Some(everyone) = overwrites.iter().find(|o| o.kind == 0 && o.id == guild.id) {
        p = (p & !everyone.deny) | everyone.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| o.kind == 0 && guild.bot_roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    p = (p & !deny) | allow;
    if let Some(member) = overwrites
        .iter()
        .find(|o| o.kind == 1 && o.id == BOT_USER_ID)
    {
        p = (p & !member.deny) | member.allow;
    }
    Some(p)
}

/// The fixed server's model: the bot may do what a member may, manage messages and threads,
/// except create threads in [`NO_THREADS_CHANNEL_ID`].
fn legacy_app_permissions(channel_id: u64) -> u64 {
    let all = perms::MEMBER | perms::MANAGE_MESSAGES | perms::MANAGE_THREADS;
    if channel_id == NO_THREADS_CHANNEL_ID {
        all & !perms::CREATE_PUBLIC_THREADS
    } else {
        all
    }
}

/// The permission bits the bot lacks in a channel (what REST refuses there).
pub(super) fn bot_denied(inner: &Inner, channel_id: u64) -> u64 {
    let taken = inner.denied.get(&channel_id).copied().unwrap_or(0);
    match computed(inner, channel_id) {
        Some(p) => taken | !p,
        None => taken,
    }
}

/// `app_permissions` of an interaction in a channel.
pub(super) fn app_permissions(inner: &Inner, channel_id: u64) -> u64 {
    let granted = computed(inner, channel_id).unwrap_or_else(|| legacy_app_permissions(channel_id));
    granted & !inner.denied.get(&channel_id).copied().unwrap_or(0)
}

fn role(r: &RoleState) -> Value {
    let mut v = payloads::role(r.id, &r.name, r.permissions, r.position);
    v["managed"] = json!(r.managed);
    if r.managed {
        v["tags"] = json!({"bot_id": BOT_USER_ID.to_string()});
    }
    v
}

fn channel_with_overwrites(c: &Channel, overwrites: &[Overwrite], position: usize) -> Value {
    let mut v = payloads::channel(c);
    v["position"] = json!(position);
    v["permission_overwrites"] = json!(overwrites
        .iter()
        .map(|o| json!({
            "id": o.id.to_string(),
            "type": o.kind,
            "allow": o.allow.to_string(),
            "deny": o.deny.to_string(),
        }))
        .collect::<Vec<_>>());
    v
}

/// The `GUILD_CREATE` dispatch for a server: the guild object with every gateway extra
/// (`joined_at`, `large`, `member_count`, `members` with the bot's own member, `channels`,
/// `threads`, `voice_states`, `presences`, `stage_instances`, `guild_scheduled_events`).
pub(super) fn guild_create(inner: &Inner, guild_id: u64) -> Value {
    let (mut v, roles, bot_roles, system, overwrites) = match inner.guilds.get(&guild_id) {
        Some(g) => {
            let mut v = payloads::guild();
            v["id"] = json!(g.id.to_string());
            v["name"] = json!(g.name);
            v["owner_id"] = json!(g.owner_id.to_string());
            (
                v,
                g.roles.iter().map(role).collect::<Vec<_>>(),
                g.bot_roles.clone(),
                g.system_channel_id,
                g.overwrites.clone(),
            )
        }
        None => (
            payloads::guild(),
            payloads::roles(),
            Vec::new(),
            inner.system_channel,
            Default::default(),
        ),
    };
    let mut channels: Vec<&Channel> = inner
        .channels
        .values()
        .filter(|c| c.guild_id == Some(guild_id) && !c.is_thread())
        .collect();
    channels.sort_by_key(|c| c.id);
    let channels: Vec<Value> = channels
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            channel_with_overwrites(c, overwrites.get(&c.id).map_or(&[][..], |o| &o[..]), i)
        })
        .collect();
    v["roles"] = json!(roles);
    v["system_channel_id"] = json!(system.map(|c| c.to_string()));
    v["joined_at"] = json!(payloads::now_iso());
    v["large"] = json!(false);
    v["unavailable"] = json!(false);
    v["member_count"] = json!(2);
    v["members"] = json!([payloads::member(BOT_USER_ID, &bot_roles, None, true)]);
    v["channels"] = json!(channels);
    for empty in [
        "threads",
        "voice_states",
        "presences",
        "stage_instances",
        "guild_scheduled_events",
    ] {
        v[empty] = json!([]);
    }
    v
}

/// Whether a guild id is one the fake knows (the fixed one or a joined one).
pub(super) fn known(inner: &Inner, guild_id: u64) -> bool {
    guild_id == GUILD_ID || inner.guilds.contains_key(&guild_id)
}
