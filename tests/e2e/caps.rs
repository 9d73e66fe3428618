//! Usage caps end to end: the real bot against the fake Discord and the fake PixelDojo.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::fake_pixeldojo::{JobScript, Outcome};
use crate::support::world::{Settings, World, WAIT};

/// A role members can have, with no permissions of its own.
const CREATOR_ROLE_ID: u64 = 500000000000000077;

fn with_limits(lines: &str) -> Settings {
    Settings {
        sections: format!("[limits]\n{lines}\n"),
        ..Settings::default()
    }
}

fn content(response: &Value) -> String {
    response["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs `/omni` as `ctx` and returns the text of the private answer.
async fn omni_reply(world: &World, prompt: &str, ctx: Ctx) -> Value {
    let id = world
        .omni_as(json!({ "prompt": prompt }), vec![], ctx)
        .await;
    world.response_to(id).await
}

/// `/omni-admin <sub>` with raw options; `resolved` goes into `data.resolved`.
async fn admin(world: &World, ctx: Ctx, sub: &str, options: Value, resolved: Value) -> Value {
    let (id, mut payload) = world.discord.slash_command(
        "omni-admin",
        vec![json!({"name": sub, "type": 1, "options": options})],
        vec![],
        ctx,
    );
    if !resolved.is_null() {
        payload["data"]["resolved"] = resolved;
    }
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await
}

fn resolved_user(id: u64) -> Value {
    json!({"users": {id.to_string(): {
        "id": id.to_string(), "username": format!("user{id}"), "discriminator": "0",
        "global_name": null, "avatar": null, "bot": false, "public_flags": 0, "flags": 0,
    }}})
}

fn resolved_role(id: u64) -> Value {
    json!({"roles": {id.to_string(): {
        "id": id.to_string(), "name": "creators", "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false, "icon": null, "unicode_emoji": null, "position": 2,
        "permissions": "0", "managed": false, "mentionable": false, "flags": 0,
    }}})
}

fn member_with_role(user: u64) -> Ctx {
    Ctx {
        roles: vec![CREATOR_ROLE_ID],
        ..Ctx::guild(user)
    }
}

#[tokio::test]
async fn a_second_request_over_a_daily_cap_of_one_is_refused_privately_without_calling_pixeldojo() {
    let world = World::start_with(with_limits("user_daily_videos = 1")).await;
    let first = omni_reply(&world, "a red kite", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&first).contains("Got it"), "{first}");
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);

    let second = omni_reply(&world, "a blue kite", Ctx::guild(discord::USER_ID)).await;
    let text = content(&second);
    assert_eq!(second["data"]["flags"], 64, "the refusal is private");
    assert!(
        text.starts_with("You've made 1 of your 1 clip today in this server.")
            && text.contains("resets <t:"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert_eq!(world.discord.threads().len(), 1, "nothing was opened");

    // Another member has their own allowance.
    let other = omni_reply(&world, "a green kite", Ctx::guild(discord::OTHER_USER_ID)).await;
    assert!(content(&other).contains("Got it"), "{other}");
}

#[tokio::test]
async fn twenty_simultaneous_requests_with_a_cap_of_three_lead_to_exactly_three_submissions_one_queued_first(
) {
    let world = World::start_with(with_limits(
        "user_daily_videos = 3\nuser_concurrent_jobs = 2",
    ))
    .await;
    world.pixeldojo.set_render_time(Duration::from_secs(3));
    let payloads: Vec<(u64, Value)> = (0..20)
        .map(|i| {
            world.discord.slash_command(
                "omni",
                vec![json!({"name": "prompt", "type": 3, "value": format!("burst {i}")})],
                vec![],
                Ctx::guild(discord::USER_ID),
            )
        })
        .collect();
    let ids: Vec<u64> = payloads.iter().map(|(id, _)| *id).collect();
    for (_, payload) in payloads {
        world.discord.dispatch("INTERACTION_CREATE", payload).await;
    }
    let mut accepted = 0;
    let mut refused = 0;
    for id in &ids {
        let r = world.response_to(*id).await;
        assert_eq!(r["data"]["flags"], 64, "{r}");
        let text = content(&r);
        if text.contains("Got it") {
            accepted += 1;
        } else {
            assert!(
                text.contains("You've made 3 of your 3 clips today"),
                "{text}"
            );
            refused += 1;
        }
    }
    assert_eq!((accepted, refused), (3, 17));

    // Two render at once; the third waits in line and is told so in its thread.
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 2, "the third waits");
    let queued_told = world
        .discord
        .wait_for(WAIT, |r| {
            r.json
                .as_ref()
                .and_then(|j| j["content"].as_str())
                .is_some_and(|c| c.contains("Queued (#1"))
        })
        .await;
    assert!(queued_told.is_some(), "{}", world.logs());
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 3);
}

#[tokio::test]
async fn a_request_over_the_concurrent_limit_is_acknowledged_as_queued() {
    let world = World::start_with(with_limits("user_concurrent_jobs = 2")).await;
    world.pixeldojo.set_render_time(Duration::from_secs(4));
    for prompt in ["one", "two"] {
        let r = omni_reply(&world, prompt, Ctx::guild(discord::USER_ID)).await;
        assert!(content(&r).contains("starting your clip"), "{r}");
    }
    let third = omni_reply(&world, "three", Ctx::guild(discord::USER_ID)).await;
    assert!(
        content(&third).contains("queued (#1 in your line)"),
        "{third}"
    );
}

#[tokio::test]
async fn a_failed_job_is_refunded_so_the_next_request_is_accepted() {
    let world = World::start_with(with_limits("user_daily_videos = 1")).await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        outcome: Outcome::Fail("content policy violation".into()),
        ..JobScript::default()
    }]);
    omni_reply(&world, "something refused", Ctx::guild(discord::USER_ID)).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "couldn't make this clip").await;
    assert!(
        world
            .wait_log(WAIT, |log| log.contains("usage settled"))
            .await
    );
    let next = omni_reply(&world, "something fine", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&next).contains("Got it"), "{next}");
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
}

#[tokio::test]
async fn a_non_admin_using_omni_admin_is_refused_even_if_discord_lets_the_call_through() {
    let world = World::start_with(with_limits("user_daily_videos = 1")).await;
    let registered = world.discord.registered_commands();
    let admin_cmd = registered
        .iter()
        .find(|c| c["name"] == "omni-admin")
        .expect("omni-admin registered");
    assert_eq!(
        admin_cmd["default_member_permissions"],
        discord::perms::MANAGE_GUILD.to_string()
    );
    assert_eq!(admin_cmd["contexts"], json!([0]), "guild only: {admin_cmd}");

    let r = admin(
        &world,
        Ctx::guild(discord::USER_ID),
        "set",
        json!([{"name": "limit", "type": 4, "value": 0}, {"name": "value", "type": 4, "value": 100}]),
        Value::Null,
    )
    .await;
    assert_eq!(r["data"]["flags"], 64);
    assert!(content(&r).contains("Manage Server"), "{r}");

    // The limit did not change.
    omni_reply(&world, "first", Ctx::guild(discord::USER_ID)).await;
    let second = omni_reply(&world, "second", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&second).contains("1 of your 1 clip"), "{second}");

    // An admin can.
    let r = admin(
        &world,
        Ctx::admin(),
        "set",
        json!([{"name": "limit", "type": 4, "value": 0}, {"name": "value", "type": 4, "value": 100}]),
        Value::Null,
    )
    .await;
    assert!(
        content(&r).contains("**Clips per member per day** is now **100**"),
        "{r}"
    );
    let third = omni_reply(&world, "third", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&third).contains("Got it"), "{third}");
}

#[tokio::test]
async fn allowances_per_role_and_per_user_win_over_the_server_default() {
    let world = World::start_with(with_limits("user_daily_videos = 1")).await;
    let r = admin(
        &world,
        Ctx::admin(),
        "allowance-role",
        json!([{"name": "role", "type": 8, "value": CREATOR_ROLE_ID.to_string()}, {"name": "videos", "type": 4, "value": 2}]),
        resolved_role(CREATOR_ROLE_ID),
    )
    .await;
    assert!(content(&r).contains("can make 2 clips a day"), "{r}");
    let r = admin(
        &world,
        Ctx::admin(),
        "allowance-user",
        json!([{"name": "user", "type": 6, "value": discord::OTHER_USER_ID.to_string()}, {"name": "videos", "type": 4, "value": 0}]),
        resolved_user(discord::OTHER_USER_ID),
    )
    .await;
    assert!(content(&r).contains("can't make clips"), "{r}");

    // The role gives 2 where the server default is 1.
    for prompt in ["one", "two"] {
        let r = omni_reply(&world, prompt, member_with_role(discord::USER_ID)).await;
        assert!(content(&r).contains("Got it"), "{r}");
    }
    let r = omni_reply(&world, "three", member_with_role(discord::USER_ID)).await;
    assert!(content(&r).contains("2 of your 2 clips"), "{r}");

    // The user's own allowance (0) beats the role's.
    let r = omni_reply(&world, "blocked", member_with_role(discord::OTHER_USER_ID)).await;
    assert!(content(&r).contains("allowance is 0"), "{r}");

    // An admin sees the rules.
    let r = admin(&world, Ctx::admin(), "limits", json!([]), Value::Null).await;
    let text = content(&r);
    assert!(
        text.contains(&format!("<@&{CREATOR_ROLE_ID}> 2/day")),
        "{text}"
    );
    assert!(
        text.contains(&format!("<@{}> 0/day", discord::OTHER_USER_ID)),
        "{text}"
    );
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 2);
}

#[tokio::test]
async fn counts_and_overrides_survive_a_restart() {
    let mut world = World::start_with(with_limits("user_daily_videos = 1")).await;
    admin(
        &world,
        Ctx::admin(),
        "allowance-user",
        json!([{"name": "user", "type": 6, "value": discord::OTHER_USER_ID.to_string()}, {"name": "videos", "type": 4, "value": 0}]),
        resolved_user(discord::OTHER_USER_ID),
    )
    .await;
    omni_reply(&world, "before the restart", Ctx::guild(discord::USER_ID)).await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    // Killed between the submit and its record, the job would be an uncertain submit whose
    // clip count is given back: wait for its first poll, which comes after the record.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !world
        .pixeldojo
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path.contains("/jobs/"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job is never polled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world.relaunch().await;

    let r = omni_reply(&world, "after the restart", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&r).contains("1 of your 1 clip"), "{r}");
    let r = omni_reply(&world, "blocked", Ctx::guild(discord::OTHER_USER_ID)).await;
    assert!(content(&r).contains("allowance is 0"), "{r}");
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn the_usage_report_lists_members_and_the_balance_with_a_png_chart() {
    let world = World::start().await;
    omni_reply(&world, "counted", Ctx::guild(discord::USER_ID)).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "here's your clip").await;

    let id = world
        .omni_as(json!({"prompt": "x"}), vec![], Ctx::guild(discord::USER_ID))
        .await;
    world.response_to(id).await;
    let (id, payload) = world.discord.slash_command(
        "omni-admin",
        vec![json!({"name": "usage", "type": 1, "options": [{"name": "days", "type": 4, "value": 3}]})],
        vec![],
        Ctx::admin(),
    );
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let r = world.response_to(id).await;
    let text = content(&r);
    assert!(
        text.contains(&format!("<@{}>: 2 clips, 32 credits", discord::USER_ID)),
        "{text}"
    );
    assert!(text.contains("PixelDojo last reported"), "{text}");
    let message = world
        .discord
        .messages_in(discord::TEXT_CHANNEL_ID)
        .into_iter()
        .find(|m| m.interaction_id == Some(id))
        .expect("the report message");
    let png = message.attachment("omni-usage.png").expect("the chart");
    assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");

    let id = world
        .discord
        .send_slash_command("omni-usage", vec![], vec![], Ctx::guild(discord::USER_ID))
        .await;
    let r = world.response_to(id).await;
    assert_eq!(r["data"]["flags"], 64);
    assert!(content(&r).contains("2 of 5 clips used"), "{r}");
}

#[tokio::test]
async fn a_low_balance_is_announced_once_a_day_in_the_alert_channel() {
    let world = World::start_with(Settings {
        sections: format!(
            "[alerts]\nlow_credits = 1000000\nchannel_id = {}\n",
            discord::NO_THREADS_CHANNEL_ID
        ),
        ..Settings::default()
    })
    .await;
    for prompt in ["one", "two"] {
        omni_reply(&world, prompt, Ctx::guild(discord::USER_ID)).await;
    }
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    let alert = world
        .bot_message(discord::NO_THREADS_CHANNEL_ID, "credits are running low")
        .await;
    assert!(alert.content.contains("1000000"), "{}", alert.content);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alerts = world
        .discord
        .messages_in(discord::NO_THREADS_CHANNEL_ID)
        .iter()
        .filter(|m| m.content.contains("running low"))
        .count();
    assert_eq!(alerts, 1);
}
