//! Point 1: direct messages can be turned off, and have caps of their own, counted per user.

use serde_json::json;

use super::{content, is_private, omni_answer, settle, with};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{World, WAIT};

const DMS_OFF: &str = "I don't make clips in direct messages.";

#[tokio::test]
async fn with_direct_messages_off_omni_and_a_reply_in_a_dm_get_a_sentence_and_start_nothing() {
    // While DMs are on, a clip is made in a DM.
    let mut world = World::start().await;
    world
        .omni_as(json!({"prompt": "a paper boat"}), vec![], Ctx::dm())
        .await;
    let clip = world
        .bot_message(discord::DM_CHANNEL_ID, "here's your clip")
        .await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);

    // The operator turns DMs off.
    world.settings.discord = "allow_dms = false".to_owned();
    world.relaunch().await;
    let answer = omni_answer(&world, "a second boat", Ctx::dm()).await;
    assert!(is_private(&answer), "{answer}");
    assert!(content(&answer).starts_with(DMS_OFF), "{answer}");

    // Replying to the earlier clip in the DM is told the same, and starts nothing.
    let payload = world.discord.user_reply(
        discord::DM_CHANNEL_ID,
        discord::USER_ID,
        "make it night",
        clip.id,
        true,
        vec![],
    );
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
    world.bot_message(discord::DM_CHANNEL_ID, DMS_OFF).await;
    settle().await;
    assert_eq!(
        world.pixeldojo.submissions().len(),
        1,
        "only the first clip"
    );

    // Servers are not affected.
    let answer = omni_answer(&world, "a boat in a server", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&answer).contains("Got it"), "{answer}");
}

#[tokio::test]
async fn direct_messages_have_their_own_cap_per_user_no_server_credit_cap_and_the_bots_daily_one() {
    // One clip's worth of credits a month for the server, four for the whole bot a day.
    let world = World::start_with(with(
        "[limits]\nuser_daily_videos = 5\ndm_user_daily_videos = 2\nguild_monthly_credits = 16\nglobal_daily_credits = 64\n",
    ))
    .await;
    let user_in_dm = Ctx::dm;
    let other_in_dm = || Ctx {
        user_id: discord::OTHER_USER_ID,
        ..Ctx::dm()
    };
    let server = || Ctx::guild(discord::USER_ID);

    let first = omni_answer(&world, "in the server", server()).await;
    assert!(content(&first).contains("Got it"), "{first}");
    let second = omni_answer(&world, "again in the server", server()).await;
    assert!(
        content(&second).contains("credits allowed this month"),
        "the server's monthly credits are spent: {second}"
    );

    // The server's month does not reach DMs; the DM cap of 2 counts this user's DM clips.
    for prompt in ["first dm", "second dm"] {
        let r = omni_answer(&world, prompt, user_in_dm()).await;
        assert!(content(&r).contains("Got it"), "{prompt}: {r}");
    }
    let third = omni_answer(&world, "third dm", user_in_dm()).await;
    assert!(
        content(&third).starts_with("You've made 2 of your 2 clips today in direct messages."),
        "{third}"
    );

    // Another user has their own DM count ...
    let other = omni_answer(&world, "someone else's dm", other_in_dm()).await;
    assert!(content(&other).contains("Got it"), "{other}");
    // ... but the bot's daily credits (4 clips) are spent for everyone, DMs included.
    let over = omni_answer(&world, "one more dm", other_in_dm()).await;
    assert!(
        content(&over).contains("spending limit for today across all servers"),
        "{over}"
    );
    assert!(world.pixeldojo.wait_for_submissions(4, WAIT).await);
    settle().await;
    assert_eq!(world.pixeldojo.submissions().len(), 4);
}

#[tokio::test]
async fn a_dm_cap_of_zero_blocks_direct_messages_only() {
    let world = World::start_with(with("[limits]\ndm_user_daily_videos = 0\n")).await;
    let r = omni_answer(&world, "a dm", Ctx::dm()).await;
    assert!(
        content(&r).contains("I can't make clips for you in direct messages"),
        "{r}"
    );
    let r = omni_answer(&world, "in a server", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&r).contains("Got it"), "{r}");
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    settle().await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}
