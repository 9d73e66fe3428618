//! Talking to a clip (issue 13): who continues it, what a follow-up inherits, labels that say
//! what happened; in `clips`: inputs checked in words, clips that tell their own story,
//! deleting a clip, and "Animate with Omni" with embeds.

mod clips;

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::fake_discord::{self as discord, Ctx, StoredMessage};
use crate::support::fake_pixeldojo::{JobScript, Outcome};
use crate::support::world::{Settings, World, WAIT};

const OWNER: u64 = discord::USER_ID;
const OTHER: u64 = discord::OTHER_USER_ID;

/// Long enough for a message the bot would act on to reach PixelDojo.
const QUIET: Duration = Duration::from_millis(1500);

/// Waits until the bot has posted and recorded `n` clips in all (a reply is understood from
/// then on): each job logs its move to the `"delivered"` state once its clip is recorded.
async fn delivered(world: &World, n: usize) {
    let done = world
        .wait_log(WAIT, |l| l.matches("\"delivered\"").count() >= n)
        .await;
    assert!(done, "{n} clips not delivered:\n{}", world.logs());
}

/// Runs `/omni` as the owner and waits for its clip; returns the thread and the clip.
async fn first_clip(world: &World, options: Value) -> (u64, StoredMessage) {
    world.omni(options).await;
    let thread = world.thread(0).await;
    let clip = world.bot_message(thread, "**v1**").await;
    delivered(world, 1).await;
    (thread, clip)
}

async fn say(world: &World, channel: u64, author: u64, text: &str) {
    let payload = world.discord.user_message(channel, author, text, vec![]);
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
}

async fn reply(world: &World, channel: u64, author: u64, to: u64, text: &str, files: Vec<Value>) {
    let payload = world
        .discord
        .user_reply(channel, author, text, to, true, files);
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
}

async fn click(world: &World, message: u64, custom_id: &str, ctx: Ctx) -> Value {
    let (id, payload) = world
        .discord
        .button_click(message, custom_id, ctx)
        .expect("the message exists");
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await
}

fn content(response: &Value) -> String {
    response["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn buttons(message: &StoredMessage) -> Vec<(String, String)> {
    message
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["custom_id"].as_str().unwrap_or_default().to_owned(),
                b["label"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn button(message: &StoredMessage, verb: &str) -> String {
    buttons(message)
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| id.starts_with(&format!("omni:{verb}:")))
        .unwrap_or_else(|| panic!("no {verb} button on {:?}", message.components))
}

fn video_id(world: &World, n: usize) -> String {
    world.pixeldojo.jobs()[n]
        .video_id
        .clone()
        .expect("the fake gave a video id")
}

fn submission(world: &World, n: usize) -> Value {
    world.pixeldojo.submissions()[n].clone()
}

/// `/omni-admin <sub>` as an admin, with raw options.
async fn admin(world: &World, sub: &str, options: Value) -> String {
    let (id, payload) = world.discord.slash_command(
        "omni-admin",
        vec![json!({"name": sub, "type": 1, "options": options})],
        vec![],
        Ctx::admin(),
    );
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    content(&world.response_to(id).await)
}

/// Waits until message `id` (edited) contains `text`.
async fn edited_to(world: &World, id: u64, text: &str) -> StoredMessage {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = world.discord.message(id).expect("the message exists");
        if message.content.contains(text) {
            return message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "message {id} never said {text:?}: {:?}\n{}",
            message.content,
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// 1. Who continues a clip.

#[tokio::test]
async fn another_members_chatter_starts_nothing_but_their_reply_or_mention_does_and_is_theirs() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, json!({"prompt": "a lighthouse at dusk"})).await;

    say(&world, thread, OTHER, "lol nice, love the waves").await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        world.pixeldojo.submissions().len(),
        1,
        "chatter spent nothing"
    );

    // Their reply to the clip is a request, and the bot says whose clips it counts toward.
    reply(&world, thread, OTHER, v1.id, "same, but at sunrise", vec![]).await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(submission(&world, 1)["prompt"], "same, but at sunrise");
    assert_eq!(
        submission(&world, 1)["video_id"],
        json!(video_id(&world, 0))
    );
    let first_answer = world
        .bot_message(thread, "🎬 **same, but at sunrise**")
        .await;
    assert!(
        first_answer.content.contains(&format!(
            "Requested by <@{OTHER}> (counts toward <@{OTHER}>'s daily clips)"
        )),
        "{}",
        first_answer.content
    );
    world.bot_message(thread, "**v2** (from v1)").await;
    delivered(&world, 2).await;

    // So is a mention of the bot.
    say(
        &world,
        thread,
        OTHER,
        &format!("<@{}> now in black and white", discord::BOT_USER_ID),
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    assert_eq!(submission(&world, 2)["prompt"], "now in black and white");
    world.bot_message(thread, "**v3** (from v2)").await;
    delivered(&world, 3).await;

    // The requester continues the newest clip with a plain message.
    say(&world, thread, OWNER, "add a ship on the horizon").await;
    assert!(world.pixeldojo.wait_for_submissions(4, WAIT).await);
    assert_eq!(submission(&world, 3)["prompt"], "add a ship on the horizon");
    assert_eq!(
        submission(&world, 3)["video_id"],
        json!(video_id(&world, 2))
    );
}

#[tokio::test]
async fn links_emoji_stickers_and_gifs_alone_never_start_a_clip() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, json!({"prompt": "a cat on a piano"})).await;
    let posts_before = world.bot_messages(thread).len();

    for chatter in [
        "https://tenor.com/view/dancing-cat-gif-25688421",
        "😂🔥",
        "👍🏽",
        "<:pepe_laugh:123456789012345678>",
        "<https://example.com/look-at-this>",
    ] {
        say(&world, thread, OWNER, chatter).await;
    }
    let mut sticker = world.discord.user_message(thread, OWNER, "", vec![]);
    sticker["sticker_items"] =
        json!([{"id": "749054660769218631", "name": "Wave", "format_type": 1}]);
    world.discord.dispatch("MESSAGE_CREATE", sticker).await;
    let gif = world
        .discord
        .add_attachment("party.gif", "image/gif", vec![0x47, 0x49, 0x46]);
    reply(&world, thread, OWNER, v1.id, "", vec![gif]).await;
    reply(&world, thread, OTHER, v1.id, "🔥🔥🔥", vec![]).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1, "{}", world.logs());
    assert_eq!(
        world.bot_messages(thread).len(),
        posts_before,
        "no answer to chatter either"
    );

    // Words next to an emoji are a request.
    say(&world, thread, OWNER, "🔥 more fire").await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(submission(&world, 1)["prompt"], "🔥 more fire");
}

#[tokio::test]
async fn a_server_chooses_whether_anyones_plain_messages_continue_a_clip() {
    // The operator's default: anyone.
    let world = World::start_with(Settings {
        sections: "[conversations]\nplain_messages = \"anyone\"\n".into(),
        ..Settings::default()
    })
    .await;
    let (thread, _) = first_clip(&world, json!({"prompt": "a paper boat"})).await;
    say(&world, thread, OTHER, "make it snow").await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    world.bot_message(thread, "**v2** (from v1)").await;
    delivered(&world, 2).await;

    // This server's admins choose: only the requester.
    let answer = admin(
        &world,
        "follow-ups",
        json!([{"name": "who", "type": 4, "value": 0}]),
    )
    .await;
    assert!(answer.contains("only the person who asked"), "{answer}");
    let now = admin(&world, "follow-ups", json!([])).await;
    assert!(now.contains("set for this server"), "{now}");
    say(&world, thread, OTHER, "and rain").await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(world.pixeldojo.submissions().len(), 2);
    say(&world, thread, OWNER, "and rain").await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);

    // Back to the bot's default.
    let answer = admin(
        &world,
        "follow-ups",
        json!([{"name": "who", "type": 4, "value": 2}]),
    )
    .await;
    assert!(answer.contains("anyone who writes"), "{answer}");
}

// 2. Follow-ups keep their lineage.

#[tokio::test]
async fn a_follow_up_shows_its_lines_shape_and_its_other_aspect_starts_the_whole_line_over() {
    let world = World::start().await;
    let reference = world
        .discord
        .add_attachment("style.png", "image/png", vec![1, 2, 3]);
    world
        .omni_as(
            json!({
                "prompt": "a harbour at dusk",
                "aspect_ratio": {"choice": 1},
                "duration": 5,
                "reference_1": {"attachment": reference["id"]},
            }),
            vec![reference],
            Ctx::guild(OWNER),
        )
        .await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "**v1**").await;
    delivered(&world, 1).await;

    say(&world, thread, OWNER, "now at night").await;
    let header = world.bot_message(thread, "🎬 **now at night**").await;
    assert!(
        header.content.contains("9:16 · 5 s · mp4 · seed"),
        "the parent's real shape: {}",
        header.content
    );
    let v2 = world.bot_message(thread, "**v2** (from v1)").await;
    delivered(&world, 2).await;
    let seed = submission(&world, 1)["seed"].as_i64().expect("a seed");
    assert!(
        v2.content
            .contains(&format!("\n-# 9:16 · 5 s · mp4 · seed {seed}")),
        "{}",
        v2.content
    );
    let flip = buttons(&v2)
        .into_iter()
        .find(|(id, _)| id.starts_with("omni:flip:"))
        .expect("a flip button");
    assert_eq!(flip.1, "Make it 16:9", "the line is 9:16");

    // The other aspect ratio: the same prompt chain and inputs, as one new clip.
    click(&world, v2.id, &flip.0, Ctx::guild(OWNER).in_channel(thread)).await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    assert_eq!(
        submission(&world, 2),
        json!({
            "prompt": "a harbour at dusk; now at night",
            "reference_images": submission(&world, 0)["reference_images"],
            "aspect_ratio": "16:9",
            "duration": 5,
            "seed": seed,
        })
    );
    let v3 = world.bot_message(thread, "**v3** (16:9 of v2)").await;
    assert!(v3.content.contains("-# 16:9 · 5 s · mp4"), "{}", v3.content);
}

#[tokio::test]
async fn an_edit_says_it_matches_its_source_video_and_offers_no_other_aspect() {
    let world = World::start().await;
    let (thread, v1) = first_clip(
        &world,
        json!({"prompt": "a street", "aspect_ratio": {"choice": 1}}),
    )
    .await;
    // Discord labels some videos generically; the name says what it is.
    let video = world
        .discord
        .add_attachment("mine.mp4", "application/octet-stream", vec![0; 32]);
    reply(
        &world,
        thread,
        OWNER,
        v1.id,
        "make it look like film",
        vec![video.clone()],
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    let sent = submission(&world, 1);
    assert_eq!(sent["video"], video["url"]);
    assert!(sent.get("video_id").is_none() && sent.get("aspect_ratio").is_none());
    let header = world
        .bot_message(thread, "🎬 **make it look like film**")
        .await;
    assert!(
        header.content.contains("matches the source video · 8 s"),
        "{}",
        header.content
    );
    assert!(!header.content.contains("16:9") && !header.content.contains("9:16"));
    let v2 = world.bot_message(thread, "**v2**").await;
    assert!(
        v2.content.contains("-# matches the source video"),
        "{}",
        v2.content
    );
    assert!(
        !buttons(&v2)
            .iter()
            .any(|(id, _)| id.starts_with("omni:flip:")),
        "{:?}",
        buttons(&v2)
    );
}

// 3. Labels that say what happened.

#[tokio::test]
async fn rerolls_flips_and_branches_are_labelled_as_what_they_are() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, json!({"prompt": "a windmill", "seed": 5})).await;
    let here = || Ctx::guild(OWNER).in_channel(thread);

    click(&world, v1.id, &button(&v1, "reroll"), here()).await;
    world.bot_message(thread, "**v2** (re-roll of v1)").await;
    click(&world, v1.id, &button(&v1, "flip"), here()).await;
    world.bot_message(thread, "**v3** (9:16 of v1)").await;
    delivered(&world, 3).await;
    reply(&world, thread, OWNER, v1.id, "in a storm", vec![]).await;
    let branch = world.bot_message(thread, "**v1.1** (from v1)").await;
    delivered(&world, 4).await;
    // A re-roll of a continuation continues the same clip, with a new seed.
    click(&world, branch.id, &button(&branch, "reroll"), here()).await;
    assert!(world.pixeldojo.wait_for_submissions(5, WAIT).await);
    let (a, b) = (submission(&world, 3), submission(&world, 4));
    assert_eq!(a["prompt"], b["prompt"]);
    assert_eq!(a["video_id"], b["video_id"]);
    assert_ne!(a["seed"], b["seed"]);
    world
        .bot_message(thread, "**v1.2** (re-roll of v1.1)")
        .await;
}

#[tokio::test]
async fn try_again_repeats_the_failed_request_exactly_with_the_seed_the_bot_chose() {
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        outcome: Outcome::Fail("the model was busy".into()),
        ..JobScript::default()
    }]);
    world.omni(json!({"prompt": "a comet over the sea"})).await;
    let thread = world.thread(0).await;
    let failure = world.bot_message(thread, "couldn't make this clip").await;
    let again = buttons(&failure)
        .into_iter()
        .find(|(id, _)| id.starts_with("omni:again:"))
        .expect("a retry button");
    assert_eq!(again.1, "Try again");
    click(
        &world,
        failure.id,
        &again.0,
        Ctx::guild(OWNER).in_channel(thread),
    )
    .await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    let first = submission(&world, 0);
    assert!(first["seed"].is_i64(), "the bot chose a seed: {first}");
    assert_eq!(submission(&world, 1), first);
}
