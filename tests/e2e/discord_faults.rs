//! The bot's promises when Discord misbehaves, end to end: the real bot against the fake Discord
//! (an outage, duplicate events, expiring attachment links, permissions taken away, threads
//! whose channel is closed to clips) and the fake PixelDojo.
//!
//! Time bounds are generous upper bounds on what the bot may take, or lower bounds measured at
//! the fake (which a slow machine only makes longer).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::fake_discord::{self as discord, link_expiry, Ctx, Recorded, StoredMessage};
use crate::support::fake_pixeldojo::{JobScript, Outcome};
use crate::support::world::{Settings, World, WAIT};

/// Runs `/omni` and waits until its first clip is posted and recorded; returns the thread and
/// the clip.
async fn first_clip(world: &World, prompt: &str) -> (u64, StoredMessage) {
    world.omni(json!({ "prompt": prompt })).await;
    let thread = world.thread(0).await;
    let clip = world.bot_message(thread, "**v1**").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    (thread, clip)
}

/// `/omni-admin <sub>` as the server's admin; returns the bot's answer. `resolved` goes into
/// `data.resolved`, as Discord resolves user, role and channel options.
async fn admin(world: &World, sub: &str, options: Value, resolved: Value) -> Value {
    let (id, mut payload) = world.discord.slash_command(
        "omni-admin",
        vec![json!({"name": sub, "type": 1, "options": options})],
        vec![],
        Ctx::admin(),
    );
    if !resolved.is_null() {
        payload["data"]["resolved"] = resolved;
    }
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await
}

/// `/omni-admin channels deny channel: <the text channel>`.
async fn deny_text_channel(world: &World) {
    let channel = discord::TEXT_CHANNEL_ID;
    let (id, mut payload) = world.discord.slash_command(
        "omni-admin",
        vec![json!({"name": "channels", "type": 2, "options": [{"name": "deny", "type": 1, "options": [
            {"name": "channel", "type": 7, "value": channel.to_string()},
        ]}]})],
        vec![],
        Ctx::admin(),
    );
    payload["data"]["resolved"] = json!({"channels": {channel.to_string(): {
        "id": channel.to_string(), "name": "general", "type": 0,
        "permissions": discord::perms::ALL.to_string(),
    }}});
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let answer = world.response_to(id).await;
    assert!(
        content(&answer).contains(&format!("can't be started in <#{channel}>")),
        "{answer}"
    );
}

fn content(response: &Value) -> String {
    response["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn is_private(response: &Value) -> bool {
    response["data"]["flags"].as_u64().unwrap_or(0) & 64 != 0
}

/// The `custom_id` of the button on `message` whose id starts with `omni:<verb>:`.
fn button(message: &StoredMessage, verb: &str) -> String {
    message
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .find(|id| id.starts_with(&format!("omni:{verb}:")))
        .unwrap_or_else(|| panic!("no {verb} button on {:?}", message.components))
}

/// A press of the button `custom_id` on `message` in `channel`, by the requester; not yet
/// dispatched.
fn press(world: &World, channel: u64, message: u64, custom_id: &str) -> (u64, Value) {
    world
        .discord
        .button_click(
            message,
            custom_id,
            Ctx::guild(discord::USER_ID).in_channel(channel),
        )
        .expect("the message exists")
}

/// A reply by the requester to `to` in `channel`, mentioning its author, with `attachments`.
async fn reply(world: &World, channel: u64, to: u64, text: &str, attachments: Vec<Value>) {
    let payload = world
        .discord
        .user_reply(channel, discord::USER_ID, text, to, true, attachments);
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
}

async fn say(world: &World, channel: u64, text: &str) {
    world
        .discord
        .send_user_message(channel, discord::USER_ID, text)
        .await;
}

/// Answers the bot gave to `interaction`.
fn responses_to(world: &World, interaction: u64) -> usize {
    world
        .discord
        .interaction_responses()
        .iter()
        .filter(|(id, _, _)| *id == interaction)
        .count()
}

/// Whether `r` is an attempt to post a job's clip (its nonce is `od<job>`) in `channel`.
fn is_clip_post(r: &Recorded, channel: u64) -> bool {
    r.is("POST", &format!("/channels/{channel}/messages"))
        && r.payload_json()
            .is_some_and(|p| p["nonce"].as_str().is_some_and(|n| n.starts_with("od")))
}

/// Attempts to post job clips in `channel`.
fn clip_posts(world: &World, channel: u64) -> Vec<Recorded> {
    world
        .discord
        .requests()
        .into_iter()
        .filter(|r| is_clip_post(r, channel))
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_half_minute_discord_outage_while_a_clip_finishes_delays_it_but_it_is_posted_once_without_a_restart(
) {
    let world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(5));
    world.omni(json!({"prompt": "a storm over the bay"})).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "Rendering").await;
    // Discord answers 500 to every message post and edit from now on, until told the end.
    world
        .discord
        .fail_message_posts_until(Instant::now() + Duration::from_secs(120), true);
    let first = world
        .discord
        .wait_for(WAIT, |r| r.status == 500 && is_clip_post(r, thread))
        .await
        .unwrap_or_else(|| panic!("no clip post during the outage:\n{}", world.logs()));
    // The outage ends 27 s after the first failed post: past the old bot's five tries in
    // 15 s (after which it gave up until the next restart), before the next try at 31 s.
    let outage_ends = first.at + Duration::from_secs(27);
    world.discord.fail_message_posts_until(outage_ends, true);

    let clip = world
        .discord
        .wait_for_message(thread, Duration::from_secs(75), |m| {
            m.author_id == discord::BOT_USER_ID && m.content.contains("here's your clip")
        })
        .await
        .unwrap_or_else(|| panic!("the clip never came after the outage:\n{}", world.logs()));
    assert_eq!(clip.attachments.len(), 1, "{clip:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let attempts = clip_posts(&world, thread);
    let statuses: Vec<u16> = attempts.iter().map(|r| r.status).collect();
    let failed = statuses.iter().filter(|&&s| s == 500).count();
    assert!(
        failed >= 5
            && statuses.last() == Some(&200)
            && statuses[..statuses.len() - 1].iter().all(|&s| s == 500),
        "tries until Discord took it: {statuses:?}"
    );
    assert!(attempts.last().unwrap().at >= outage_ends);
    assert!(
        attempts.len() <= 8,
        "{} tries in about 30 s is not backing off",
        attempts.len()
    );
    // Backoff: each wait at least as long as the one before, the first about a second.
    let gaps: Vec<Duration> = attempts
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    assert!(gaps[0] >= Duration::from_millis(900), "{gaps:?}");
    for pair in gaps.windows(2) {
        assert!(pair[1] + Duration::from_millis(100) >= pair[0], "{gaps:?}");
    }
    assert_eq!(world.clips_in(thread).len(), 1, "exactly one clip");
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    let log = world.logs();
    assert_eq!(log.matches("----- launch").count(), 1, "no restart");
    assert!(!log.contains("resumes at the next start"), "{log}");
}

#[tokio::test]
async fn server_admins_may_lower_the_owners_monthly_credit_ceiling_but_not_raise_or_remove_it() {
    let world = World::start_with(Settings {
        sections: "[limits]\nguild_monthly_credits = 800\n".to_owned(),
        ..Settings::default()
    })
    .await;
    // "PixelDojo credits per month for the server" is the fourth choice of `limit` (poise
    // sends choice indexes).
    let set = |value: i64| {
        json!([
            {"name": "limit", "type": 4, "value": 3},
            {"name": "value", "type": 4, "value": value},
        ])
    };
    let monthly = |overview: &str| {
        overview
            .lines()
            .find(|l| l.contains("PixelDojo credits per month for the server:"))
            .unwrap_or_default()
            .to_owned()
    };
    for refused in [1000, 0] {
        let answer = admin(&world, "set", set(refused), Value::Null).await;
        let text = content(&answer);
        assert!(is_private(&answer), "{answer}");
        assert!(
            text.contains("bot's owner") && text.contains("800") && !text.contains("Done"),
            "setting {refused}: {text}"
        );
        let limits = content(&admin(&world, "limits", json!([]), Value::Null).await);
        assert!(
            monthly(&limits).contains("**800**"),
            "after refusing {refused}: {limits}"
        );
    }
    let answer = admin(&world, "set", set(400), Value::Null).await;
    assert!(
        content(&answer).contains("**PixelDojo credits per month for the server** is now **400**"),
        "{answer}"
    );
    let limits = content(&admin(&world, "limits", json!([]), Value::Null).await);
    assert!(monthly(&limits).contains("**400**"), "{limits}");
}

#[tokio::test]
async fn each_discord_event_delivered_twice_starts_at_most_one_job() {
    let world = World::start().await;
    // As after a RESUME, or with two processes on the same token: each payload twice, back to
    // back, so that both deliveries are handled at once.
    let twice = |event: &'static str, payload: Value| {
        let discord = world.discord.clone();
        async move {
            discord.dispatch(event, payload.clone()).await;
            discord.dispatch(event, payload).await;
        }
    };

    // `/omni`: one job, one thread.
    let (omni, payload) = world.discord.slash_command(
        "omni",
        vec![json!({"name": "prompt", "type": 3, "value": "a lantern festival"})],
        vec![],
        Ctx::guild(discord::USER_ID),
    );
    twice("INTERACTION_CREATE", payload).await;
    let thread = world.thread(0).await;
    let v1 = world.bot_message(thread, "**v1**").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    assert_eq!(world.pixeldojo.submissions().len(), 1, "one job");
    assert_eq!(responses_to(&world, omni), 1);

    // A reply in the clip's thread: one follow-up.
    let payload = world.discord.user_reply(
        thread,
        discord::USER_ID,
        "now at night",
        v1.id,
        true,
        vec![],
    );
    twice("MESSAGE_CREATE", payload).await;
    world.bot_message(thread, "(from v1)").await;
    assert_eq!(world.pixeldojo.submissions().len(), 2, "one follow-up");

    // A Re-roll press: one new job.
    let (reroll, payload) = press(&world, thread, v1.id, &button(&v1, "reroll"));
    twice("INTERACTION_CREATE", payload).await;
    assert!(content(&world.response_to(reroll).await).contains("Re-rolling"));
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    assert!(
        world
            .wait_log(WAIT, |l| l.matches("event already handled").count() >= 3)
            .await,
        "each second delivery was recognised:\n{}",
        world.logs()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_eq!(world.pixeldojo.submissions().len(), 3, "one re-roll");
    assert_eq!(responses_to(&world, reroll), 1);
    let opened = world
        .discord
        .threads()
        .iter()
        .filter(|t| t.owner_id == discord::BOT_USER_ID)
        .count();
    assert_eq!(opened, 1, "one thread");
}

#[tokio::test]
async fn a_denied_channels_rule_reaches_its_threads_members_and_the_bots_own_alike() {
    let world = World::start().await;
    let (bots_thread, _) = first_clip(&world, "a fox in the snow").await;
    let members_thread =
        world
            .discord
            .add_user_thread(discord::TEXT_CHANNEL_ID, discord::USER_ID, "our chat");
    deny_text_channel(&world).await;

    // `/omni` in a member's thread under the denied channel: refused privately.
    let id = world
        .omni_as(
            json!({"prompt": "a kite in the wind"}),
            vec![],
            Ctx::guild(discord::USER_ID).in_channel(members_thread),
        )
        .await;
    let answer = world.response_to(id).await;
    assert!(is_private(&answer), "{answer}");
    assert!(
        content(&answer).contains("Clips can't be made in this channel"),
        "{answer}"
    );

    // A message in the bot's own thread, made before the rule: refused with a reply.
    say(&world, bots_thread, "now at dusk").await;
    let refusal = world
        .bot_message(bots_thread, "Clips can't be made in this channel")
        .await;
    assert!(refusal.message_reference.is_some(), "a reply: {refusal:?}");

    // A member's thread under a channel that is still open works: the parent's rule is what
    // refused.
    let open = world.discord.add_text_channel("art");
    let open_thread = world
        .discord
        .add_user_thread(open, discord::USER_ID, "sketches");
    let id = world
        .omni_as(
            json!({"prompt": "a paper boat"}),
            vec![],
            Ctx::guild(discord::USER_ID).in_channel(open_thread),
        )
        .await;
    assert!(content(&world.response_to(id).await).contains("Got it"));
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let prompts: Vec<Value> = world
        .pixeldojo
        .submissions()
        .iter()
        .map(|s| s["prompt"].clone())
        .collect();
    assert_eq!(prompts, [json!("a fox in the snow"), json!("a paper boat")]);
    assert_eq!(world.clips_in(bots_thread).len(), 1);
}

/// Every request that creates or edits a message with content: its method and path, and its
/// body (the callback's `data` for interaction callbacks).
fn message_bodies(world: &World) -> Vec<(String, Value)> {
    world
        .discord
        .requests()
        .into_iter()
        .filter(|r| {
            (r.method == "POST" || r.method == "PATCH")
                && (r.path.contains("/messages")
                    || r.path.ends_with("/callback")
                    || r.path.contains("/webhooks/"))
        })
        .filter_map(|r| {
            let body = r.payload_json()?;
            let body = if r.path.ends_with("/callback") {
                body["data"].clone()
            } else {
                body
            };
            body.get("content")
                .is_some()
                .then(|| (format!("{} {}", r.method, r.path), body))
        })
        .collect()
}

/// Whether `allowed_mentions` lets `@everyone`/`@here` or any role through.
fn allows_everyone_or_roles(allowed: &Value) -> bool {
    let parse = allowed["parse"].as_array().cloned().unwrap_or_default();
    parse.iter().any(|p| p == "everyone" || p == "roles")
        || allowed["roles"].as_array().is_some_and(|r| !r.is_empty())
}

#[tokio::test]
async fn no_message_the_bot_posts_pings_everyone_or_roles_and_a_reply_pings_at_most_its_author() {
    let world = World::start().await;
    // A prompt full of mentions: the bot quotes it in what it posts.
    let prompt = format!(
        "a parade for @everyone and @here, <@&{}> and <@{}>",
        discord::ADMIN_ROLE_ID,
        discord::OTHER_USER_ID
    );
    let (thread, v1) = first_clip(&world, &prompt).await;
    let pdf = world
        .discord
        .add_attachment("brief.pdf", "application/pdf", b"%PDF-1.7".to_vec());
    reply(&world, thread, v1.id, "use this for @everyone", vec![pdf]).await;
    let explanation = world.bot_message(thread, "I can use images").await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        outcome: Outcome::Fail("the model refused".to_owned()),
        ..JobScript::default()
    }]);
    say(&world, thread, "make it louder for @everyone").await;
    world.bot_message(thread, "couldn't make this clip").await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // What the bot sent: every message body carries allowed_mentions that never let
    // everyone or roles through.
    let bodies = message_bodies(&world);
    assert!(bodies.len() >= 6, "{bodies:#?}");
    for (request, body) in &bodies {
        let allowed = &body["allowed_mentions"];
        assert!(
            !allowed.is_null(),
            "{request} without allowed_mentions: {body}"
        );
        assert!(!allows_everyone_or_roles(allowed), "{request}: {body}");
    }
    // What Discord made of it: nobody but the requester was notified.
    let posted: Vec<StoredMessage> = [discord::TEXT_CHANNEL_ID, thread, discord::DM_CHANNEL_ID]
        .into_iter()
        .flat_map(|c| world.bot_messages(c))
        .collect();
    assert!(
        posted.iter().any(|m| m.content.contains("@everyone")),
        "the prompt was quoted somewhere: {posted:#?}"
    );
    for m in &posted {
        assert!(m.allowed_mentions.is_some(), "{m:?}");
        assert!(
            !m.pings.everyone && m.pings.roles.is_empty(),
            "{}: {:?}",
            m.content,
            m.pings
        );
        assert!(
            m.pings.users.iter().all(|&u| u == discord::USER_ID),
            "{}: {:?}",
            m.content,
            m.pings
        );
    }
    assert!(clip_pings(&world, thread)
        .iter()
        .all(|p| p == &[discord::USER_ID]));
    // The explanation replies to its author's message and pings at most that author.
    let replied_to = explanation.message_reference.as_ref().expect("a reply")["message_id"]
        .as_str()
        .and_then(|id| id.parse::<u64>().ok())
        .and_then(|id| world.discord.message(id))
        .expect("the message it replies to");
    assert_eq!(replied_to.author_id, discord::USER_ID);
    assert!(explanation.pings.users.len() <= 1);
    assert!(explanation
        .pings
        .users
        .iter()
        .all(|&u| u == replied_to.author_id));
}

/// Who each clip in `channel` notified.
fn clip_pings(world: &World, channel: u64) -> Vec<Vec<u64>> {
    world
        .clips_in(channel)
        .into_iter()
        .map(|m| m.pings.users)
        .collect()
}

#[tokio::test]
async fn no_interaction_token_appears_in_the_bots_log() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, "a lighthouse").await;
    // A Refine press and its box, answered normally.
    let (id, payload) = press(&world, thread, v1.id, &button(&v1, "refine"));
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let modal = world.response_to(id).await;
    assert_eq!(modal["type"], 9, "{modal}");
    let modal_id = modal["data"]["custom_id"].as_str().unwrap().to_owned();
    let ctx = Ctx::guild(discord::USER_ID).in_channel(thread);
    let (id, payload) =
        world
            .discord
            .modal_submit(&modal_id, &[("prompt", "with fog")], ctx.clone());
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await;

    // Then the answers fail, so the bot logs why: two are lost on the way back (the error
    // quotes the callback's URL, token included), then Discord says it is too late.
    world.discord.drop_answers("POST", "/callback", 2);
    world.omni(json!({"prompt": "a second lighthouse"})).await;
    let (_, payload) = press(&world, thread, v1.id, &button(&v1, "reroll"));
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    assert!(world
        .discord
        .wait_for(WAIT, |r| r.path.ends_with("/callback") && r.status == 0)
        .await
        .is_some());
    world.discord.set_interaction_ack_window(Duration::ZERO);
    let (_, payload) = world
        .discord
        .modal_submit(&modal_id, &[("prompt", "with rain")], ctx);
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    for line in [
        "cannot acknowledge",
        "cannot answer a button press",
        "cannot answer a modal",
    ] {
        assert!(
            world.wait_log(WAIT, |l| l.contains(line)).await,
            "no {line:?} in the log:\n{}",
            world.logs()
        );
    }
    let lost = world
        .discord
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/callback") && r.status == 0)
        .count();
    assert_eq!(lost, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let tokens = world.discord.interaction_tokens();
    assert!(tokens.len() >= 6, "{tokens:?}");
    let log = world.logs();
    for token in &tokens {
        // The random part too, in case a line carries it cut or re-encoded.
        let tail = &token[token.len() - 32..];
        assert!(
            !log.contains(token.as_str()) && !log.contains(tail),
            "interaction token {token} in the log:\n{log}"
        );
    }
}

#[tokio::test]
async fn attachment_links_near_expiry_are_refreshed_before_a_re_roll_and_others_are_sent_as_they_are(
) {
    let world = World::start().await;
    // A start frame whose link lasts two seconds.
    world
        .discord
        .set_attachment_url_lifetime(Duration::from_secs(2));
    let bytes = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    let image = world
        .discord
        .add_attachment("start.png", "image/png", bytes.clone());
    let original = image["url"].as_str().unwrap().to_owned();
    world
        .omni_as(
            json!({"prompt": "the photo comes alive", "image": {"attachment": image["id"]}}),
            vec![image],
            Ctx::guild(discord::USER_ID),
        )
        .await;
    let thread = world.thread(0).await;
    let v1 = world.bot_message(thread, "**v1**").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);

    // By the time of the re-roll, the link the first clip was made from has expired, and
    // Discord's CDN no longer serves it.
    let held = world.pixeldojo.submissions()[0]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let held_expiry = link_expiry(&held).expect("a signed link");
    while unix_now() <= held_expiry {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reqwest::get(&held).await.unwrap().status().as_u16(), 404);
    world
        .discord
        .set_attachment_url_lifetime(discord::DEFAULT_URL_LIFETIME);

    let pressed = Instant::now();
    let (id, payload) = press(&world, thread, v1.id, &button(&v1, "reroll"));
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    let rerolled = world.pixeldojo.submissions()[1]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rerolled, original);
    assert_ne!(rerolled, held);
    assert!(
        link_expiry(&rerolled).is_some_and(|ex| ex > unix_now()),
        "{rerolled}"
    );
    let fetched = reqwest::get(&rerolled).await.unwrap();
    assert_eq!(fetched.status().as_u16(), 200, "PixelDojo can fetch it");
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), bytes);
    let refreshes = |since: Instant| -> Vec<Recorded> {
        world
            .discord
            .requests()
            .into_iter()
            .filter(|r| r.is("POST", "/attachments/refresh-urls") && r.at >= since)
            .collect()
    };
    let asked = refreshes(pressed);
    assert!(
        asked.iter().any(|r| r
            .json
            .as_ref()
            .is_some_and(|b| b["attachment_urls"] == json!([held]))),
        "{asked:?}"
    );

    // A link far from expiry goes out as it is, without asking Discord.
    let fresh = world
        .discord
        .add_attachment("second.png", "image/png", bytes.clone());
    let fresh_url = fresh["url"].as_str().unwrap().to_owned();
    let asked_at = Instant::now();
    world
        .omni_as(
            json!({"prompt": "another photo", "image": {"attachment": fresh["id"]}}),
            vec![fresh],
            Ctx::guild(discord::USER_ID),
        )
        .await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    assert_eq!(world.pixeldojo.submissions()[2]["image"], json!(fresh_url));
    assert!(refreshes(asked_at).is_empty());
}

#[tokio::test]
async fn a_failure_the_thread_and_channel_refuse_goes_to_the_requester_by_dm_naming_the_permission()
{
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        render_time: Some(Duration::from_secs(3)),
        outcome: Outcome::Fail("the model refused".to_owned()),
        ..JobScript::default()
    }]);
    world.omni(json!({"prompt": "a glass city"})).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "Rendering").await;
    world
        .discord
        .deny_permission(thread, discord::perms::SEND_MESSAGES_IN_THREADS);
    world
        .discord
        .deny_permission(discord::TEXT_CHANNEL_ID, discord::perms::SEND_MESSAGES);

    let dm = world
        .bot_message(discord::DM_CHANNEL_ID, "couldn't make this clip")
        .await;
    assert!(
        dm.content.contains("**Send Messages in Threads**"),
        "{}",
        dm.content
    );
    assert!(dm.content.contains("a glass city"), "{}", dm.content);
    assert!(dm.pings.users.iter().all(|&u| u == discord::USER_ID));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for channel in [thread, discord::TEXT_CHANNEL_ID] {
        assert!(
            !world
                .bot_messages(channel)
                .iter()
                .any(|m| m.content.contains("couldn't make this clip")),
            "the failure landed in {channel}"
        );
    }
    let dms = world
        .bot_messages(discord::DM_CHANNEL_ID)
        .into_iter()
        .filter(|m| m.content.contains("couldn't make this clip"))
        .count();
    assert_eq!(dms, 1, "told once");
}
