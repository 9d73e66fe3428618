//! Point 5: the bot reads its permissions in the channel before it promises anything, says in
//! the private answer what it will do instead, never leaves a request without an outcome, and
//! tells moderators (once, never as a public ping) what it lacks.

use super::{answers, bot_lines, content, omni, omni_answer, public_bot_messages, settle};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{World, WAIT};

/// The final text of the private answer to interaction `id` in `channel` (after "thinking").
async fn final_answer(world: &World, channel: u64, id: u64) -> String {
    answers(world, channel, id, 1).await[0].content.clone()
}

#[tokio::test]
async fn without_send_messages_the_answer_names_it_and_the_clip_comes_by_direct_message() {
    let world = World::start().await;
    world
        .discord
        .deny_permission(discord::TEXT_CHANNEL_ID, discord::perms::SEND_MESSAGES);
    let id = omni(&world, "a kite over the sea", Ctx::guild(discord::USER_ID)).await;
    let answer = final_answer(&world, discord::TEXT_CHANNEL_ID, id).await;
    assert!(answer.contains("Got it"), "{answer}");
    assert!(
        answer.contains("**Send Messages**") && answer.contains("direct message"),
        "{answer}"
    );
    assert!(
        !answer.contains("right here"),
        "no promise it can't keep: {answer}"
    );

    // The requester hears first why, then gets the clip, in their DMs.
    let notice = world
        .bot_message(discord::DM_CHANNEL_ID, "I can't post in")
        .await;
    assert!(
        notice
            .content
            .contains(&format!("<#{}>", discord::TEXT_CHANNEL_ID)),
        "{}",
        notice.content
    );
    let clip = world
        .bot_message(discord::DM_CHANNEL_ID, "here's your clip")
        .await;
    assert_eq!(clip.attachments.len(), 1, "the file itself, in the DM");
    settle().await;
    assert!(
        public_bot_messages(&world, discord::TEXT_CHANNEL_ID).is_empty(),
        "nothing was posted in the channel"
    );
    assert!(world.discord.threads().is_empty());
    // The server's history links to where the clip really is: the direct message.
    let history = content(
        &super::history_showing(&world, Ctx::guild(discord::USER_ID), "kite over the sea").await,
    );
    assert!(
        history.contains(&format!(
            "https://discord.com/channels/@me/{}/{}",
            discord::DM_CHANNEL_ID,
            clip.id
        )),
        "{history}"
    );
}

#[tokio::test]
async fn without_send_messages_and_with_dms_closed_the_request_is_refused_at_once_and_costs_nothing(
) {
    let world = World::start().await;
    world
        .discord
        .deny_permission(discord::TEXT_CHANNEL_ID, discord::perms::SEND_MESSAGES);
    world.discord.close_dms(discord::USER_ID);
    let id = omni(&world, "a kite nobody sees", Ctx::guild(discord::USER_ID)).await;
    let answer = final_answer(&world, discord::TEXT_CHANNEL_ID, id).await;
    assert!(answer.contains("**Send Messages**"), "{answer}");
    assert!(
        answer.contains("couldn't send you a direct message"),
        "{answer}"
    );
    assert!(answer.contains("Nothing was charged"), "{answer}");
    settle().await;
    assert!(world.pixeldojo.submissions().is_empty());
    // Not counted: the next request in a channel where the bot may post goes ahead.
    let r = omni_answer(
        &world,
        "a kite elsewhere",
        Ctx::guild(discord::USER_ID).in_channel(discord::NO_THREADS_CHANNEL_ID),
    )
    .await;
    assert!(content(&r).contains("Got it"), "{r}");
}

#[tokio::test]
async fn missing_thread_and_file_permissions_are_told_privately_and_once_to_the_system_channel() {
    let world = World::start().await;
    // Discord reports the server's system channel in GUILD_CREATE.
    let system = world.discord.add_text_channel("system");
    world.discord.set_system_channel(Some(system));
    world.discord.send_guild_create(discord::GUILD_ID).await;
    assert!(world.wait_log(WAIT, |l| l.contains("server known")).await);
    world
        .discord
        .deny_permission(discord::NO_THREADS_CHANNEL_ID, discord::perms::ATTACH_FILES);
    let ctx = || Ctx::guild(discord::USER_ID).in_channel(discord::NO_THREADS_CHANNEL_ID);

    for prompt in ["first in place", "second in place"] {
        let r = omni_answer(&world, prompt, ctx()).await;
        let text = content(&r);
        assert!(text.contains("**Create Public Threads**"), "{text}");
        assert!(text.contains("in this channel"), "{text}");
        assert!(
            text.contains("**Attach Files**") && text.contains("link"),
            "{text}"
        );
        world
            .bot_message(discord::NO_THREADS_CHANNEL_ID, prompt)
            .await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while bot_lines(&world, discord::NO_THREADS_CHANNEL_ID, "here is the link").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "{}", world.logs());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Moderators are told once per permission, in the system channel, pinging nobody.
    let threads_tip = world.bot_message(system, "**Create Public Threads**").await;
    let files_tip = world.bot_message(system, "**Attach Files**").await;
    for tip in [&threads_tip, &files_tip] {
        assert!(
            tip.content
                .contains(&format!("<#{}>", discord::NO_THREADS_CHANNEL_ID)),
            "{}",
            tip.content
        );
        assert!(
            tip.pings.users.is_empty() && tip.mentions.is_empty(),
            "{tip:?}"
        );
    }
    settle().await;
    assert_eq!(world.bot_messages(system).len(), 2, "once each");
    // Never in the channel itself.
    assert!(bot_lines(
        &world,
        discord::NO_THREADS_CHANNEL_ID,
        "Create Public Threads"
    )
    .is_empty());
}
