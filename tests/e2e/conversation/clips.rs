//! Talking to a clip, continued: inputs checked in words, clips that tell their own story,
//! deleting a clip, and "Animate with Omni" with embeds.

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    button, click, content, delivered, edited_to, first_clip, reply, say, submission, video_id,
    OTHER, OWNER,
};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{World, WAIT};

// 4. Inputs checked against what the vendor takes.

#[tokio::test]
async fn files_pixeldojo_does_not_take_are_refused_in_words_before_any_credit_is_spent() {
    let world = World::start().await;
    for (name, content_type, option, words) in [
        ("me.heic", "image/heic", "image", "an HEIC image"),
        ("logo.svg", "image/svg+xml", "reference_1", "an SVG image"),
        ("pic.avif", "image/avif", "image", "an AVIF image"),
        ("clip.mkv", "video/x-matroska", "video", "an MKV video"),
        ("notes.pdf", "application/pdf", "image", "a PDF document"),
    ] {
        let file = world
            .discord
            .add_attachment(name, content_type, vec![1, 2, 3]);
        let id = world
            .omni_as(
                json!({"prompt": "animate this", option: {"attachment": file["id"]}}),
                vec![file],
                Ctx::guild(OWNER),
            )
            .await;
        let text = content(&world.response_to(id).await);
        assert!(text.contains(words) && text.contains(name), "{text}");
        assert!(!text.contains(content_type), "no MIME type: {text}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(world.pixeldojo.requests().is_empty(), "nothing was sent");

    // In a thread: a document is named, and too many images are counted as images.
    let (thread, v1) = first_clip(&world, json!({"prompt": "a garden"})).await;
    let pdf = world
        .discord
        .add_attachment("brief.pdf", "application/pdf", b"%PDF".to_vec());
    reply(&world, thread, OWNER, v1.id, "use this brief", vec![pdf]).await;
    let told = world.bot_message(thread, "`brief.pdf`").await;
    assert!(told.content.contains("a PDF document"), "{}", told.content);
    assert!(!told.content.contains("application/"), "{}", told.content);
    let images: Vec<Value> = (1..=6)
        .map(|i| {
            world
                .discord
                .add_attachment(&format!("r{i}.png"), "image/png", vec![1])
        })
        .collect();
    reply(&world, thread, OWNER, v1.id, "with these flowers", images).await;
    let told = world.bot_message(thread, "You attached 6 images").await;
    assert!(told.content.contains("at most 5"), "{}", told.content);
    assert!(!told.content.contains("video"), "{}", told.content);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

// 5. The clip tells its story.

#[tokio::test]
async fn a_clip_shows_its_settings_and_seed_its_prompt_as_typed_and_the_status_links_to_it() {
    let world = World::start().await;
    world
        .omni(json!({"prompt": "a **bold** fox_run\n# jumping ||high||"}))
        .await;
    let status = world
        .bot_message(discord::TEXT_CHANNEL_ID, "Requested by")
        .await;
    let quoted = r"a \*\*bold\*\* fox\_run \# jumping \|\|high\|\|";
    assert!(
        status.content.starts_with(&format!("🎬 **{quoted}**")),
        "{}",
        status.content
    );
    let thread = world.thread(0).await;
    let v1 = world.bot_message(thread, "**v1**").await;
    let seed = submission(&world, 0)["seed"]
        .as_i64()
        .expect("every clip gets a seed");
    assert!(
        v1.content.contains(&format!("> {quoted}")),
        "{}",
        v1.content
    );
    assert!(
        v1.content
            .contains(&format!("\n-# 16:9 · 8 s · mp4 · seed {seed}")),
        "{}",
        v1.content
    );
    let link = |m: u64| {
        format!(
            "https://discord.com/channels/{}/{thread}/{m}",
            discord::GUILD_ID
        )
    };
    edited_to(
        &world,
        status.id,
        &format!("Latest clip: **v1** {}", link(v1.id)),
    )
    .await;
    delivered(&world, 1).await;

    say(&world, thread, OWNER, "faster").await;
    let v2 = world.bot_message(thread, "**v2** (from v1)").await;
    let status = edited_to(
        &world,
        status.id,
        &format!("Latest clip: **v2** {}", link(v2.id)),
    )
    .await;
    assert!(status.content.contains(quoted), "still the thread's prompt");
}

// 6. A requester can remove a clip.

#[tokio::test]
async fn the_requester_or_a_moderator_deletes_a_clip_and_the_history_stays_consistent() {
    let world = World::start().await;
    let (thread, v1) = first_clip(&world, json!({"prompt": "a red kite"})).await;
    let status = world
        .bot_message(discord::TEXT_CHANNEL_ID, "Requested by")
        .await;
    say(&world, thread, OWNER, "higher in the sky").await;
    let v2 = world.bot_message(thread, "**v2** (from v1)").await;
    delivered(&world, 2).await;
    let delete = button(&v2, "delete");

    let refused = click(&world, v2.id, &delete, Ctx::guild(OTHER).in_channel(thread)).await;
    assert!(
        content(&refused).contains("Only the person who asked"),
        "{refused}"
    );
    assert_eq!(refused["data"]["flags"], 64);
    assert!(world.discord.message(v2.id).is_some(), "still there");

    let done = click(&world, v2.id, &delete, Ctx::guild(OWNER).in_channel(thread)).await;
    assert!(content(&done).contains("Deleted v2"), "{done}");
    assert!(world.discord.message(v2.id).is_none(), "deleted on Discord");
    // The status message links to the newest clip left.
    let v1_link = format!(
        "Latest clip: **v1** https://discord.com/channels/{}/{thread}/{}",
        discord::GUILD_ID,
        v1.id
    );
    edited_to(&world, status.id, &v1_link).await;

    // A reply to the deleted clip is explained, not continued.
    reply(&world, thread, OWNER, v2.id, "brighter", vec![]).await;
    world.bot_message(thread, "v2 was deleted").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.pixeldojo.submissions().len(), 2);

    // A plain message continues the newest clip left; v2's label is not given again.
    say(&world, thread, OWNER, "with snow").await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    assert_eq!(
        submission(&world, 2)["video_id"],
        json!(video_id(&world, 0))
    );
    let branch = world.bot_message(thread, "**v1.1** (from v1)").await;
    delivered(&world, 3).await;

    // A moderator (Manage Messages) may delete anyone's clip.
    let done = click(
        &world,
        branch.id,
        &button(&branch, "delete"),
        Ctx::admin().in_channel(thread),
    )
    .await;
    assert!(content(&done).contains("Deleted v1.1"), "{done}");
    assert!(world.discord.message(branch.id).is_none());
    assert!(world.discord.message(v1.id).is_some());
}

// 7. Animate with Omni.

fn image_embed(url: &str) -> Value {
    json!({
        "type": "image",
        "url": url,
        "thumbnail": {"url": url, "proxy_url": url, "width": 64, "height": 64},
    })
}

async fn animate(world: &World, message: u64, prompt: &str) -> (String, String) {
    let (id, payload) = world
        .discord
        .message_command("Animate with Omni", message, Ctx::guild(OWNER))
        .expect("the message exists");
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let modal = world.response_to(id).await;
    assert_eq!(modal["type"], 9, "a modal: {modal}");
    let title = modal["data"]["title"].as_str().unwrap().to_owned();
    let modal_id = modal["data"]["custom_id"].as_str().unwrap().to_owned();
    let (submit, payload) =
        world
            .discord
            .modal_submit(&modal_id, &[("prompt", prompt)], Ctx::guild(OWNER));
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    (title, content(&world.response_to(submit).await))
}

#[tokio::test]
async fn animate_with_omni_takes_images_from_embeds_and_says_how_many_it_uses() {
    let world = World::start().await;
    let attached = world.discord.add_attachment("a.png", "image/png", vec![1]);
    let posted = world.discord.user_message(
        discord::TEXT_CHANNEL_ID,
        OTHER,
        "my whole album",
        vec![attached.clone()],
    );
    let message: u64 = posted["id"].as_str().unwrap().parse().unwrap();
    let urls: Vec<String> = (1..=9)
        .map(|i| format!("https://images.example/album/p{i}.jpg"))
        .collect();
    let mut embeds: Vec<Value> = urls.iter().map(|u| image_embed(u)).collect();
    embeds.push(json!({"type": "link", "url": "https://example.com", "title": "not an image"}));
    assert!(world
        .discord
        .set_embeds(discord::TEXT_CHANNEL_ID, message, embeds));

    let (title, answer) = animate(&world, message, "the photos come alive").await;
    assert_eq!(title, "Animate the first 8 of these 10 images");
    assert!(
        answer.contains("the first 8 of those 10 images"),
        "{answer}"
    );
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    let sent = submission(&world, 0);
    assert_eq!(sent["image"], attached["url"]);
    assert_eq!(sent["reference_images"], json!(urls[..7]));

    // One image, shown from a link: worded for one.
    let single = world.discord.user_message(
        discord::TEXT_CHANNEL_ID,
        OTHER,
        "https://images.example/cat.png",
        vec![],
    );
    let single: u64 = single["id"].as_str().unwrap().parse().unwrap();
    world.discord.set_embeds(
        discord::TEXT_CHANNEL_ID,
        single,
        vec![image_embed("https://images.example/cat.png")],
    );
    let (title, answer) = animate(&world, single, "the cat blinks").await;
    assert_eq!(title, "Animate this image");
    assert!(answer.contains("animating that image"), "{answer}");
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        submission(&world, 1)["image"],
        "https://images.example/cat.png"
    );
}
