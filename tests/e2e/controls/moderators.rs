//! Point 4: moderators (Manage Messages) cancel anyone's queued clip, and see the server's clips
//! in flight with links.

use std::time::Duration;

use serde_json::json;

use super::{admin, button, content, moderator, omni_answer, press, settle, with};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{World, WAIT};

#[tokio::test]
async fn a_moderator_cancels_someone_elses_queued_clip_and_sees_the_servers_clips_in_flight() {
    let world = World::start_with(with("[limits]\nuser_concurrent_jobs = 1\n")).await;
    world.pixeldojo.set_render_time(Duration::from_secs(8));
    omni_answer(&world, "a slow sunrise", Ctx::guild(discord::USER_ID)).await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    let queued = omni_answer(&world, "a second sunrise", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&queued).contains("queued"), "{queued}");
    let second_thread = world.thread(1).await;
    let waiting = world.bot_message(second_thread, "Queued").await;
    let cancel = button(&waiting, "omni:cancel:").expect("a cancel button");

    // Moderators and admins see what is in flight, with links; members don't.
    let jobs = admin(&world, moderator(discord::OTHER_USER_ID), "jobs", json!([])).await;
    let text = content(&jobs);
    assert!(text.contains("2 (1 rendering)"), "{text}");
    assert!(
        text.contains("🎞️ rendering") && text.contains("a slow sunrise"),
        "{text}"
    );
    assert!(
        text.contains("🕒 waiting") && text.contains("a second sunrise"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "https://discord.com/channels/{}/{}/{second_thread}",
            discord::GUILD_ID,
            discord::TEXT_CHANNEL_ID
        )),
        "{text}"
    );
    let member = admin(
        &world,
        Ctx::guild(discord::OTHER_USER_ID),
        "jobs",
        json!([]),
    )
    .await;
    assert!(content(&member).contains("Manage Messages"), "{member}");
    assert!(!content(&member).contains("sunrise"), "{member}");

    // Another member may not cancel it; a moderator may.
    let refused = press(
        &world,
        &waiting,
        &cancel,
        Ctx::guild(discord::OTHER_USER_ID),
    )
    .await;
    assert!(content(&refused).contains("or a moderator"), "{refused}");
    let done = press(&world, &waiting, &cancel, moderator(discord::OTHER_USER_ID)).await;
    assert!(content(&done).contains("Cancelled"), "{done}");
    let told = world
        .bot_message(second_thread, "a moderator cancelled this request")
        .await;
    assert!(told.content.contains(&format!("<@{}>", discord::USER_ID)));

    // Nothing was sent for it, and it is no longer in flight.
    world
        .bot_message(world.thread(0).await, "here's your clip")
        .await;
    settle().await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    let jobs = admin(&world, Ctx::admin(), "jobs", json!([])).await;
    assert!(
        content(&jobs).contains("Nothing is waiting or rendering"),
        "{jobs}"
    );
}

#[tokio::test]
async fn a_moderator_deletes_another_members_clip_and_it_leaves_their_history() {
    let world = World::start().await;
    omni_answer(&world, "a clip to remove", Ctx::guild(discord::USER_ID)).await;
    let thread = world.thread(0).await;
    let clip = world.bot_message(thread, "here's your clip").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    let delete = button(&clip, "omni:delete:").expect("a delete button");

    // Another member may not; a moderator may.
    let refused = press(&world, &clip, &delete, Ctx::guild(discord::OTHER_USER_ID)).await;
    assert!(world.discord.message(clip.id).is_some(), "{refused}");
    press(&world, &clip, &delete, moderator(discord::OTHER_USER_ID)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while world.discord.message(clip.id).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "{}", world.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = super::command(
        &world,
        "omni-history",
        json!([]),
        serde_json::Value::Null,
        Ctx::guild(discord::USER_ID),
    )
    .await;
    let history = content(&world.response_to(id).await);
    assert!(!history.contains("a clip to remove"), "{history}");
}
