//! Refining clips in their thread: replies, branches, buttons, modals and the context menu.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::fake_discord::{self as discord, Ctx, StoredMessage};
use crate::support::fake_pixeldojo::{JobScript, VideoIdPlacement};
use crate::support::world::{Settings, World, WAIT};

/// Runs `/omni` and waits for its clip; returns the thread and the clip message.
async fn first_clip(world: &World, prompt: &str) -> (u64, StoredMessage) {
    world.omni(json!({"prompt": prompt, "duration": 5})).await;
    let thread = world.thread(0).await;
    let clip = world.bot_message(thread, "**v1**").await;
    // The clip is recorded just after it is posted; a reply is understood from then on.
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    (thread, clip)
}

async fn say(world: &World, channel: u64, text: &str) {
    let payload = world
        .discord
        .user_message(channel, discord::USER_ID, text, vec![]);
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
}

async fn reply(world: &World, channel: u64, to: u64, text: &str, attachments: Vec<Value>) {
    let payload = world
        .discord
        .user_reply(channel, discord::USER_ID, text, to, true, attachments);
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
}

/// A submission without its seed, which the bot chooses for every clip (checked here).
fn without_seed(mut submitted: Value) -> Value {
    assert!(
        submitted["seed"].is_i64(),
        "every clip has a seed: {submitted}"
    );
    submitted.as_object_mut().unwrap().remove("seed");
    submitted
}

fn video_id(world: &World, n: usize) -> String {
    world.pixeldojo.jobs()[n]
        .video_id
        .clone()
        .expect("the fake gave a video id")
}

async fn click(world: &World, channel: u64, message: u64, custom_id: &str) -> Value {
    let (id, payload) = world
        .discord
        .button_click(
            message,
            custom_id,
            Ctx::guild(discord::USER_ID).in_channel(channel),
        )
        .expect("the message exists");
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await
}

fn custom_ids(message: &StoredMessage) -> Vec<String> {
    message
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect()
}

fn button(message: &StoredMessage, verb: &str) -> String {
    custom_ids(message)
        .into_iter()
        .find(|id| id.starts_with(&format!("omni:{verb}:")))
        .unwrap_or_else(|| panic!("no {verb} button on {:?}", message.components))
}

#[tokio::test]
async fn a_reply_in_the_thread_continues_the_clip_with_its_video_id_and_nothing_forbidden() {
    let world = World::start().await;
    let (thread, _) = first_clip(&world, "a quiet harbour").await;
    say(&world, thread, "now at night, with fireworks").await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        without_seed(world.pixeldojo.submissions()[1].clone()),
        json!({"prompt": "now at night, with fireworks", "video_id": video_id(&world, 0)})
    );
    let v2 = world.bot_message(thread, "**v2** (from v1)").await;
    assert_eq!(v2.attachments.len(), 1);
}

#[tokio::test]
async fn a_message_sent_the_moment_the_thread_appears_waits_for_the_first_clip() {
    let world = World::start().await;
    // Users see the thread while the answer to its creation is still on its way to the bot.
    world
        .discord
        .delay_answers("POST", "/threads", Duration::from_millis(800));
    world.omni(json!({"prompt": "a misty valley"})).await;
    let thread = world.thread(0).await;
    say(&world, thread, "with a rainbow").await;
    world.bot_message(thread, "**v2** (from v1)").await;
    let submissions = world.pixeldojo.submissions();
    assert_eq!(submissions.len(), 2, "{}", world.logs());
    assert_eq!(
        without_seed(submissions[1].clone()),
        json!({"prompt": "with a rainbow", "video_id": video_id(&world, 0)})
    );
    assert_eq!(world.clips_in(thread).len(), 2);
}

#[tokio::test]
async fn a_reply_to_v1_after_v2_exists_branches_from_v1() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, "a red kite").await;
    say(&world, thread, "higher in the sky").await;
    world.bot_message(thread, "**v2**").await;
    reply(&world, thread, v1.id, "in the rain instead", vec![]).await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    let third = &world.pixeldojo.submissions()[2];
    assert_eq!(
        third["video_id"],
        json!(video_id(&world, 0)),
        "from v1, not v2"
    );
    world.bot_message(thread, "**v1.1** (from v1)").await;
}

#[tokio::test]
async fn an_image_attached_to_a_reply_becomes_a_reference_and_other_files_are_explained() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, "a dancer").await;
    let image = world
        .discord
        .add_attachment("costume.png", "image/png", vec![1, 2, 3]);
    reply(
        &world,
        thread,
        v1.id,
        "wearing this costume",
        vec![image.clone()],
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    let second = &world.pixeldojo.submissions()[1];
    assert_eq!(second["reference_images"], json!([image["url"]]));
    assert_eq!(second["video_id"], json!(video_id(&world, 0)));
    assert!(second.get("image").is_none() && second.get("duration").is_none());

    let text = world
        .discord
        .add_attachment("notes.txt", "text/plain", b"hi".to_vec());
    reply(&world, thread, v1.id, "use these notes", vec![text]).await;
    world.bot_message(thread, "I can use images").await;
    assert_eq!(world.pixeldojo.submissions().len(), 2);
}

#[tokio::test]
async fn a_video_attached_to_a_reply_starts_an_edit_of_that_video() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, "a street").await;
    let video = world
        .discord
        .add_attachment("mine.mp4", "video/mp4", vec![0; 32]);
    reply(
        &world,
        thread,
        v1.id,
        "make it look like film",
        vec![video.clone()],
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        without_seed(world.pixeldojo.submissions()[1].clone()),
        json!({"prompt": "make it look like film", "video": video["url"]})
    );
}

#[tokio::test]
async fn a_reply_while_the_clip_is_rendering_is_queued_and_then_continues_it() {
    let world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(10));
    world.omni(json!({"prompt": "a slow tide"})).await;
    let thread = world.thread(0).await;
    say(&world, thread, "add seagulls").await;
    world.bot_message(thread, "Queued").await;
    assert_eq!(world.pixeldojo.submissions().len(), 1, "waits for v1");
    // v1 was submitted with a long render, so the reply had to wait; later clips are quick.
    world.pixeldojo.set_render_time(Duration::from_secs(1));
    world.bot_message(thread, "**v1**").await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        world.pixeldojo.submissions()[1]["video_id"],
        json!(video_id(&world, 0))
    );
    world.bot_message(thread, "**v2** (from v1)").await;
}

#[tokio::test]
async fn bot_messages_and_messages_outside_the_bots_threads_do_nothing() {
    let world = World::start().await;
    let (thread, _) = first_clip(&world, "a fox").await;
    let mut from_bot = world.discord.user_message(
        thread,
        discord::OTHER_USER_ID,
        "another bot talking",
        vec![],
    );
    from_bot["author"]["bot"] = json!(true);
    world.discord.dispatch("MESSAGE_CREATE", from_bot).await;
    say(
        &world,
        discord::TEXT_CHANNEL_ID,
        "just chatting in the channel",
    )
    .await;
    let foreign = world.discord.add_text_channel("elsewhere");
    say(&world, foreign, "hello").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn a_reply_to_a_clip_without_a_video_id_is_explained_and_not_sent() {
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        video_id: VideoIdPlacement::Missing,
        ..JobScript::default()
    }]);
    let (thread, v1) = first_clip(&world, "a comet").await;
    assert!(
        !custom_ids(&v1)
            .iter()
            .any(|id| id.starts_with("omni:refine:")),
        "no Refine button on a clip that can't be continued"
    );
    reply(&world, thread, v1.id, "make it bigger", vec![]).await;
    let msg = world.bot_message(thread, "can't refine it").await;
    assert!(msg.content.contains("/omni"));
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn the_video_id_is_found_under_outputs_too() {
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        video_id: VideoIdPlacement::Outputs,
        ..JobScript::default()
    }]);
    let (thread, _) = first_clip(&world, "a comet").await;
    say(&world, thread, "closer").await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        world.pixeldojo.submissions()[1]["video_id"],
        json!(video_id(&world, 0))
    );
}

#[tokio::test]
async fn without_the_message_content_intent_only_mentions_and_replies_are_understood() {
    let world = World::start_with(Settings {
        discord: "message_content_intent = false".into(),
        ..Settings::default()
    })
    .await;
    let (thread, v1) = first_clip(&world, "a lantern").await;
    world.bot_message(thread, "reply").await; // the tip on how to talk to the bot
    say(&world, thread, "brighter").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        world.pixeldojo.submissions().len(),
        1,
        "content arrives empty"
    );
    say(
        &world,
        thread,
        &format!("<@{}> brighter", discord::BOT_USER_ID),
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(world.pixeldojo.submissions()[1]["prompt"], "brighter");
    reply(&world, thread, v1.id, "warmer light", vec![]).await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    assert_eq!(world.pixeldojo.submissions()[2]["prompt"], "warmer light");
}

#[tokio::test]
async fn the_buttons_on_a_clip_reroll_flip_and_refine_also_after_a_restart() {
    let mut world = World::start().await;
    world
        .omni(json!({"prompt": "a windmill", "aspect_ratio": {"choice": 0}, "seed": 5}))
        .await;
    let thread = world.thread(0).await;
    let v1 = world.bot_message(thread, "**v1**").await;
    world.relaunch().await;

    // Re-roll: the same request with a new seed.
    let ack = click(&world, thread, v1.id, &button(&v1, "reroll")).await;
    assert_eq!(ack["data"]["flags"], 64);
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    let reroll = world.pixeldojo.submissions()[1].clone();
    assert_eq!(reroll["prompt"], "a windmill");
    assert_eq!(reroll["aspect_ratio"], "16:9");
    assert_ne!(reroll["seed"], json!(5));
    world.bot_message(thread, "**v2**").await;

    // The other aspect ratio: a new generation.
    click(&world, thread, v1.id, &button(&v1, "flip")).await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    let flipped = world.pixeldojo.submissions()[2].clone();
    assert_eq!(flipped["aspect_ratio"], "9:16");
    assert!(flipped.get("video_id").is_none());
    world.bot_message(thread, "**v3**").await;

    // Refine: a modal, then a follow-up of that clip.
    let modal = click(&world, thread, v1.id, &button(&v1, "refine")).await;
    assert_eq!(modal["type"], 9, "a modal: {modal}");
    let modal_id = modal["data"]["custom_id"].as_str().unwrap().to_owned();
    let input_id = modal["data"]["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (submit_id, payload) = world.discord.modal_submit(
        &modal_id,
        &[(input_id.as_str(), "with a rainbow")],
        Ctx::guild(discord::USER_ID).in_channel(thread),
    );
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(submit_id).await;
    assert!(world.pixeldojo.wait_for_submissions(4, WAIT).await);
    assert_eq!(
        without_seed(world.pixeldojo.submissions()[3].clone()),
        json!({"prompt": "with a rainbow", "video_id": video_id(&world, 0)})
    );
    world.bot_message(thread, "(from v1)").await;
}

#[tokio::test]
async fn a_queued_request_can_be_cancelled_and_its_button_goes_away_once_it_starts() {
    let world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(10));
    world.omni(json!({"prompt": "a volcano"})).await;
    let thread = world.thread(0).await;
    say(&world, thread, "erupting").await;
    let queued = world.bot_message(thread, "Queued").await;
    // v1 was submitted with a long render, so the reply had to wait; later clips are quick.
    world.pixeldojo.set_render_time(Duration::from_secs(1));
    let cancel = button(&queued, "cancel");
    let ack = click(&world, thread, queued.id, &cancel).await;
    assert!(ack["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Cancelled"));
    world.bot_message(thread, "you cancelled").await;
    world.bot_message(thread, "**v1**").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1, "never sent");
    // The first job's progress message never offered a cancel once it was sent.
    let progress = world
        .discord
        .messages_in(thread)
        .into_iter()
        .filter(|m| m.author_id == discord::BOT_USER_ID)
        .filter(|m| m.id != queued.id)
        .all(|m| {
            !custom_ids(&m)
                .iter()
                .any(|id| id.starts_with("omni:cancel:"))
        });
    assert!(progress);
}

#[tokio::test]
async fn animate_with_omni_uses_the_first_image_as_start_frame_and_the_rest_as_references() {
    let world = World::start().await;
    let a = world.discord.add_attachment("a.png", "image/png", vec![1]);
    let b = world.discord.add_attachment("b.jpg", "image/jpeg", vec![2]);
    let posted = world.discord.user_message(
        discord::TEXT_CHANNEL_ID,
        discord::OTHER_USER_ID,
        "look at my cat",
        vec![a.clone(), b.clone()],
    );
    let message_id: u64 = posted["id"].as_str().unwrap().parse().unwrap();
    let (id, payload) = world
        .discord
        .message_command(
            "Animate with Omni",
            message_id,
            Ctx::guild(discord::USER_ID),
        )
        .unwrap();
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let modal = world.response_to(id).await;
    assert_eq!(modal["type"], 9, "{modal}");
    let modal_id = modal["data"]["custom_id"].as_str().unwrap().to_owned();
    let (submit_id, payload) = world.discord.modal_submit(
        &modal_id,
        &[("prompt", "the cat yawns")],
        Ctx::guild(discord::USER_ID),
    );
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(submit_id).await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    let sub = &world.pixeldojo.submissions()[0];
    assert_eq!(sub["image"], a["url"]);
    assert_eq!(sub["reference_images"], json!([b["url"]]));
    assert_eq!(sub["prompt"], "the cat yawns");
    let thread = world.thread(0).await;
    world.bot_message(thread, "**v1**").await;
}

#[tokio::test]
async fn a_reply_to_a_clip_still_being_posted_continues_that_clip() {
    let world = World::start().await;
    // The user sees the clip while the answer to its upload is still on its way to the bot.
    let posts = format!("/channels/{}/messages", discord::DM_CHANNEL_ID);
    world
        .discord
        .delay_answers("POST", &posts, Duration::from_millis(800));
    world
        .omni_as(json!({"prompt": "a paper kite"}), vec![], Ctx::dm())
        .await;
    let v1 = world.bot_message(discord::DM_CHANNEL_ID, "**v1**").await;
    reply(&world, discord::DM_CHANNEL_ID, v1.id, "in a storm", vec![]).await;
    assert!(
        world.pixeldojo.wait_for_submissions(2, WAIT).await,
        "{}",
        world.logs()
    );
    assert_eq!(
        without_seed(world.pixeldojo.submissions()[1].clone()),
        json!({"prompt": "in a storm", "video_id": video_id(&world, 0)})
    );
    world
        .bot_message(discord::DM_CHANNEL_ID, "**v2** (from v1)")
        .await;
}

#[tokio::test]
async fn omni_in_a_dm_keeps_refinements_in_the_conversation() {
    let world = World::start().await;
    world
        .omni_as(json!({"prompt": "a paper plane"}), vec![], Ctx::dm())
        .await;
    let v1 = world.bot_message(discord::DM_CHANNEL_ID, "**v1**").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    reply(
        &world,
        discord::DM_CHANNEL_ID,
        v1.id,
        "through clouds",
        vec![],
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        world.pixeldojo.submissions()[1]["video_id"],
        json!(video_id(&world, 0))
    );
    world
        .bot_message(discord::DM_CHANNEL_ID, "**v2** (from v1)")
        .await;
    assert!(world.discord.threads().is_empty());
}

#[tokio::test]
async fn a_button_press_from_someone_who_may_not_generate_is_answered_privately() {
    let world = World::start_with(Settings {
        sections: "[limits]\nuser_daily_videos = 1\n".into(),
        ..Settings::default()
    })
    .await;
    let (thread, v1) = first_clip(&world, "a lighthouse").await;
    let answer = click(&world, thread, v1.id, &button(&v1, "reroll")).await;
    assert_eq!(answer["data"]["flags"], 64, "private: {answer}");
    let text = answer["data"]["content"].as_str().unwrap();
    assert!(text.contains("1 of your 1"), "{text}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn cancelling_a_queued_request_releases_what_it_reserved() {
    let world = World::start_with(Settings {
        sections: "[limits]\nuser_daily_videos = 2\n".into(),
        ..Settings::default()
    })
    .await;
    world.pixeldojo.set_render_time(Duration::from_secs(10));
    world.omni(json!({"prompt": "a canyon"})).await;
    let thread = world.thread(0).await;
    say(&world, thread, "at dawn").await;
    let queued = world.bot_message(thread, "Queued").await;
    // v1 was submitted with a long render, so the reply had to wait; later clips are quick.
    world.pixeldojo.set_render_time(Duration::from_secs(1));
    click(&world, thread, queued.id, &button(&queued, "cancel")).await;
    world.bot_message(thread, "you cancelled").await;
    world.bot_message(thread, "**v1**").await;
    // The cancelled request's reservation was released: a second clip fits in the cap of 2.
    say(&world, thread, "at dusk").await;
    assert!(
        world.pixeldojo.wait_for_submissions(2, WAIT).await,
        "{}",
        world.logs()
    );
    assert_eq!(world.pixeldojo.submissions()[1]["prompt"], "at dusk");
}
