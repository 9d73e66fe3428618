//! Point 8: `/omni-history` lists the caller's clips where they ask, with labels, prompts and
//! links, a page at a time; other members' clips only for moderators.

use serde_json::{json, Value};

use super::{
    answers, button, command, content, history, history_showing, is_private, moderator,
    omni_answer, press, resolved_user,
};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{Settings, World};
use omni_bot::domain::ids::{ChannelId, GuildId, JobId, MessageId, UserId};
use omni_bot::store::{Clip, Store};

#[tokio::test]
async fn omni_history_lists_the_callers_clips_here_with_links_and_never_anyone_elses() {
    let world = World::start().await;
    let me = || Ctx::guild(discord::USER_ID);
    omni_answer(&world, "my first fox", me()).await;
    let first = world
        .bot_message(world.thread(0).await, "here's your clip")
        .await;
    omni_answer(&world, "my second fox", me()).await;
    world
        .bot_message(world.thread(1).await, "here's your clip")
        .await;
    omni_answer(
        &world,
        "someone else's owl",
        Ctx::guild(discord::OTHER_USER_ID),
    )
    .await;
    world
        .bot_message(world.thread(2).await, "here's your clip")
        .await;
    omni_answer(&world, "my fox in a dm", Ctx::dm()).await;
    let in_dm = world
        .bot_message(discord::DM_CHANNEL_ID, "here's your clip")
        .await;
    // Each clip is added to its history as it is posted.
    let r = history_showing(&world, me(), "(2 clips").await;
    assert!(is_private(&r), "{r}");
    let text = content(&r);
    assert!(
        text.starts_with("**Your clips in this server** (2 clips, page 1 of 1"),
        "{text}"
    );
    assert!(text.contains("**v1** · “my first fox”"), "{text}");
    assert!(text.contains("my second fox"), "{text}");
    assert!(
        text.contains(&format!(
            "https://discord.com/channels/{}/{}/{}",
            discord::GUILD_ID,
            first.channel_id,
            first.id
        )),
        "{text}"
    );
    assert!(!text.contains("owl") && !text.contains("in a dm"), "{text}");
    // Newest first.
    assert!(
        text.find("my second fox").unwrap() < text.find("my first fox").unwrap(),
        "{text}"
    );

    // In direct messages, the DM clips.
    let dm = content(&history_showing(&world, Ctx::dm(), "(1 clip,").await);
    assert!(
        dm.contains("my fox in a dm") && !dm.contains("my first fox"),
        "{dm}"
    );
    assert!(
        dm.contains(&format!(
            "https://discord.com/channels/@me/{}/{}",
            discord::DM_CHANNEL_ID,
            in_dm.id
        )),
        "{dm}"
    );

    // Another member may not look at them; a moderator may.
    let whose = json!([{"name": "member", "type": 6, "value": discord::USER_ID.to_string()}]);
    let r = history(
        &world,
        whose.clone(),
        resolved_user(discord::USER_ID),
        Ctx::guild(discord::OTHER_USER_ID),
    )
    .await;
    assert!(content(&r).contains("Manage Messages"), "{r}");
    assert!(!content(&r).contains("fox"), "{r}");
    let r = history(
        &world,
        whose,
        resolved_user(discord::USER_ID),
        moderator(discord::OTHER_USER_ID),
    )
    .await;
    let text = content(&r);
    assert!(
        text.starts_with(&format!(
            "**<@{}>'s clips in this server**",
            discord::USER_ID
        )),
        "{text}"
    );
    assert!(
        text.contains("my first fox") && !text.contains("owl"),
        "{text}"
    );
}

#[tokio::test]
async fn omni_history_pages_through_many_clips_with_buttons_and_a_page_option() {
    let mut world = World::new(Settings::default()).await;
    {
        let store = Store::open(&world.dir.path().join("data/omni-bot.sled")).unwrap();
        for n in 1..=23u64 {
            store
                .record_history(&Clip {
                    job: JobId(n),
                    guild: Some(GuildId(discord::GUILD_ID)),
                    user: UserId(discord::USER_ID),
                    channel: ChannelId(discord::TEXT_CHANNEL_ID),
                    message: MessageId(1000 + n),
                    label: "v1".to_owned(),
                    prompt: format!("clip number {n}"),
                    at_ms: 1_700_000_000_000,
                    private: false,
                })
                .await
                .unwrap();
        }
        store.flush().await.unwrap();
    }
    world.launch().await;

    let id = command(
        &world,
        "omni-history",
        json!([]),
        Value::Null,
        Ctx::guild(discord::USER_ID),
    )
    .await;
    let first = answers(&world, discord::TEXT_CHANNEL_ID, id, 1)
        .await
        .remove(0);
    assert!(
        first.content.contains("(23 clips, page 1 of 3"),
        "{}",
        first.content
    );
    assert!(
        first.content.contains("“clip number 23”") && first.content.contains("“clip number 14”")
    );
    assert!(
        !first.content.contains("“clip number 13”"),
        "{}",
        first.content
    );
    assert!(button(&first, "omni-history:").is_some());
    let older = button(&first, &format!("omni-history:{}:1", discord::USER_ID)).expect("Older");

    let page = press(&world, &first, &older, Ctx::guild(discord::USER_ID)).await;
    assert_eq!(page["type"], 7, "the message shows the next page: {page}");
    let text = content(&page);
    assert!(text.contains("page 2 of 3"), "{text}");
    assert!(
        text.contains("“clip number 13”") && !text.contains("“clip number 14”"),
        "{text}"
    );

    let last = content(
        &history(
            &world,
            json!([{"name": "page", "type": 4, "value": 3}]),
            Value::Null,
            Ctx::guild(discord::USER_ID),
        )
        .await,
    );
    assert!(
        last.contains("page 3 of 3") && last.contains("“clip number 1”"),
        "{last}"
    );
}
