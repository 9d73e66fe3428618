//! Point 7: `/omni-help` explains the bot and the caller's caps right now; a server the bot joins
//! gets one hello, in the system channel or the first channel it may post in, with a check of
//! its own permissions.

use serde_json::Value;

use super::{command, content, is_private, omni_answer, settle, with};
use crate::support::fake_discord::{self as discord, Ctx, JoinOptions};
use crate::support::world::{World, WAIT};

async fn help(world: &World, ctx: Ctx) -> Value {
    let id = command(world, "omni-help", serde_json::json!([]), Value::Null, ctx).await;
    world.response_to(id).await
}

#[tokio::test]
async fn omni_help_says_what_the_bot_does_its_commands_and_the_callers_caps_right_now() {
    let world = World::start_with(with(
        "[limits]\nuser_daily_videos = 3\ndm_user_daily_videos = 1\n",
    ))
    .await;
    omni_answer(&world, "a first clip", Ctx::guild(discord::USER_ID)).await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);

    let r = help(&world, Ctx::guild(discord::USER_ID)).await;
    assert!(is_private(&r), "{r}");
    let text = content(&r);
    for needle in [
        "turns a prompt",
        "`/omni prompt:",
        "Animate with Omni",
        "`/omni-history`",
        "`/omni-usage`",
        "Continuing a clip",
        "reply to an earlier clip",
        "Your caps in this server right now",
        "**2 of 3 clips** left today",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
    }
    assert!(text.chars().count() <= 2000);
    assert!(!text.contains("_videos"), "no config keys: {text}");

    // In a DM, the DM caps.
    let dm = content(&help(&world, Ctx::dm()).await);
    assert!(
        dm.contains("Your caps in direct messages right now"),
        "{dm}"
    );
    assert!(dm.contains("**1 of 1 clip** left today"), "{dm}");
}

#[tokio::test]
async fn joining_a_server_says_hello_once_where_it_may_post_with_a_permission_check() {
    let mut world = World::start().await;
    // The system channel refuses the bot, and its role has no Attach Files.
    let joined = world
        .discord
        .join_guild(JoinOptions {
            bot_role_permissions: discord::perms::MEMBER & !discord::perms::ATTACH_FILES,
            system_channel_denies: discord::perms::SEND_MESSAGES,
        })
        .await;
    let hello = world
        .bot_message(joined.general, "Hi, I'm **omni-bot**")
        .await;
    let text = &hello.content;
    for needle in [
        "/omni prompt:",
        "5 clips a day",
        "`/omni-admin limits`",
        "`/omni-admin set`",
        "`/omni-help`",
        "Permission check:",
        "My role is missing **Attach Files**",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
    }
    assert!(text.chars().count() <= 2000);
    assert!(hello.pings.users.is_empty() && !hello.pings.everyone);
    assert!(world.bot_messages(joined.system_channel).is_empty());

    // Discord sends the server again (a reconnect, a restart): no second hello.
    world.discord.send_guild_create(joined.id).await;
    world.relaunch().await;
    world.discord.send_guild_create(joined.id).await;
    let seen_again = world
        .wait_log(WAIT, |l| {
            l.rsplit_once("----- launch 2 -----")
                .is_some_and(|(_, after)| after.contains("server known"))
        })
        .await;
    assert!(seen_again, "{}", world.logs());
    settle().await;
    assert_eq!(
        world
            .bot_messages(joined.general)
            .iter()
            .filter(|m| m.content.contains("Hi, I'm"))
            .count(),
        1
    );

    // The server the bot was in at start-up gets no hello.
    world.discord.send_guild_create(discord::GUILD_ID).await;
    settle().await;
    assert!(world.bot_messages(discord::TEXT_CHANNEL_ID).is_empty());
}

#[tokio::test]
async fn a_server_with_every_permission_is_greeted_in_its_system_channel() {
    let world = World::start().await;
    let joined = world.discord.join_guild(JoinOptions::default()).await;
    let hello = world
        .bot_message(joined.system_channel, "Hi, I'm **omni-bot**")
        .await;
    assert!(
        hello.content.contains("✅ I have every permission I need"),
        "{}",
        hello.content
    );
    assert!(world.bot_messages(joined.general).is_empty());
}
