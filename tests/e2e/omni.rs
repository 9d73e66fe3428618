//! `/omni` end to end: the real bot against the fake Discord and the fake PixelDojo.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::fake_pixeldojo::{self as pixeldojo, Endpoint, Fault, JobScript, Outcome};
use crate::support::world::{Settings, World, WAIT};

fn option_names(command: &Value) -> Vec<String> {
    command["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

fn find_option<'a>(command: &'a Value, name: &str) -> &'a Value {
    command["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no option {name}"))
}

#[tokio::test]
async fn the_omni_command_is_registered_with_every_option_the_api_accepts() {
    let world = World::start().await;
    let commands = world.discord.registered_commands();
    let omni = commands
        .iter()
        .find(|c| c["name"] == "omni")
        .expect("omni registered");
    let mut names = option_names(omni);
    names.sort();
    let mut expected: Vec<String> = [
        "prompt",
        "aspect_ratio",
        "duration",
        "image",
        "video",
        "seed",
        "format",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain((1..=7).map(|i| format!("reference_{i}")))
    .collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        option_names(omni)[0],
        "prompt",
        "the required option comes first"
    );
    let prompt = find_option(omni, "prompt");
    assert_eq!(prompt["type"], 3);
    assert_eq!(prompt["required"], true);
    let duration = find_option(omni, "duration");
    assert_eq!(duration["type"], 4);
    assert_eq!(duration["min_value"].as_f64(), Some(3.0));
    assert_eq!(duration["max_value"].as_f64(), Some(10.0));
    for name in ["image", "video", "reference_1", "reference_7"] {
        assert_eq!(
            find_option(omni, name)["type"],
            11,
            "{name} is an attachment"
        );
    }
    let choices = |name: &str| -> Vec<String> {
        find_option(omni, name)["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(choices("aspect_ratio"), ["16:9", "9:16"]);
    assert_eq!(choices("format"), ["mp4", "webm", "mov"]);
    for o in omni["options"].as_array().unwrap() {
        let d = o["description"].as_str().unwrap();
        assert!(
            !d.is_empty() && d.len() <= 100,
            "description of {}",
            o["name"]
        );
    }
}

#[tokio::test]
async fn omni_is_acknowledged_quickly_and_the_clip_is_posted_in_a_thread() {
    let world = World::start().await;
    let image =
        world
            .discord
            .add_attachment("start.png", "image/png", vec![0x89, b'P', b'N', b'G']);
    let reference = world
        .discord
        .add_attachment("style.jpg", "image/jpeg", vec![0xFF, 0xD8, 0xFF]);
    let sent = Instant::now();
    let interaction = world
        .omni_as(
            json!({
                "prompt": "A lighthouse in a storm, waves crashing",
                "aspect_ratio": {"choice": 1},
                "duration": 5,
                "image": {"attachment": image["id"]},
                "reference_2": {"attachment": reference["id"]},
                "seed": 42,
                "format": {"choice": 1},
            }),
            vec![image.clone(), reference.clone()],
            Ctx::guild(discord::USER_ID),
        )
        .await;
    let ack = world.response_to(interaction).await;
    let acked_after = world
        .discord
        .interaction_responses()
        .iter()
        .find(|(id, _, _)| *id == interaction)
        .map(|(_, _, at)| at.duration_since(sent))
        .unwrap();
    assert!(
        acked_after < Duration::from_secs(3),
        "acked after {acked_after:?}"
    );
    assert_eq!(ack["type"], 4, "a message response: {ack}");
    assert_eq!(ack["data"]["flags"], 64, "the acknowledgement is private");

    // Exactly the documented JSON, with the bearer key.
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    let submitted = &world.pixeldojo.submissions()[0];
    assert_eq!(
        submitted,
        &json!({
            "prompt": "A lighthouse in a storm, waves crashing",
            "image": image["url"],
            "reference_images": [reference["url"]],
            "aspect_ratio": "9:16",
            "duration": 5,
            "output_format": "webm",
            "seed": 42,
        })
    );
    let run = world
        .pixeldojo
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(run.path, format!("/api/v1/models/{}/run", pixeldojo::MODEL));
    assert_eq!(
        run.authorization.as_deref(),
        Some(format!("Bearer {}", pixeldojo::API_KEY).as_str())
    );

    // A public thread named after the prompt, hanging from a status message in the channel.
    let thread = world.thread(0).await;
    let info = world.discord.threads()[0].clone();
    assert_eq!(info.parent_id, discord::TEXT_CHANNEL_ID);
    assert_eq!(info.name, "A lighthouse in a storm, waves crashing");
    assert_eq!(info.kind, 11);
    let status = world
        .discord
        .message(info.from_message_id.unwrap())
        .unwrap();
    assert!(status.content.contains("A lighthouse in a storm"));

    // The uploaded file is exactly the fake's video.
    let clip = world.bot_message(thread, "here's your clip").await;
    let job_id = world.pixeldojo.jobs()[0].id.clone();
    let file = &clip.attachments[0];
    assert!(file.filename.ends_with(".webm"), "{}", file.filename);
    assert_eq!(file.bytes, world.pixeldojo.video_bytes(&job_id));
    assert!(clip.mentions.contains(&discord::USER_ID));
    // No call went through the interaction token after the acknowledgement.
    assert!(world
        .discord
        .requests()
        .iter()
        .all(|r| !r.path.contains("/webhooks/")));
    assert!(world.discord.unexpected_requests().is_empty());
}

#[tokio::test]
async fn a_failed_job_is_explained_in_its_thread() {
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        outcome: Outcome::Fail("content policy violation".into()),
        ..JobScript::default()
    }]);
    world.omni(json!({"prompt": "something not allowed"})).await;
    let thread = world.thread(0).await;
    let msg = world.bot_message(thread, "couldn't make this clip").await;
    assert!(
        msg.content.contains("content policy violation"),
        "{}",
        msg.content
    );
    assert!(world.clips_in(thread).is_empty());
}

#[tokio::test]
async fn a_start_frame_that_is_not_an_image_is_refused_without_calling_pixeldojo() {
    let world = World::start().await;
    let pdf = world
        .discord
        .add_attachment("notes.pdf", "application/pdf", b"%PDF-1.4".to_vec());
    let interaction = world
        .omni_as(
            json!({"prompt": "animate this", "image": {"attachment": pdf["id"]}}),
            vec![pdf],
            Ctx::guild(discord::USER_ID),
        )
        .await;
    let response = world.response_to(interaction).await;
    let text = response["data"]["content"].as_str().unwrap();
    assert!(text.contains("`image` must be an image"), "{text}");
    assert!(text.contains("notes.pdf"), "{text}");
    assert_eq!(response["data"]["flags"], 64);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(world.pixeldojo.requests().is_empty());
    assert!(world.discord.threads().is_empty());
}

#[tokio::test]
async fn six_references_with_a_video_are_refused_before_any_credit_is_spent() {
    let world = World::start().await;
    let video = world
        .discord
        .add_attachment("in.mp4", "video/mp4", vec![0; 16]);
    let mut options = json!({"prompt": "restyle it", "video": {"attachment": video["id"]}});
    let mut attachments = vec![video];
    for i in 1..=6 {
        let r = world
            .discord
            .add_attachment(&format!("r{i}.png"), "image/png", vec![1]);
        options[format!("reference_{i}")] = json!({"attachment": r["id"]});
        attachments.push(r);
    }
    let interaction = world
        .omni_as(options, attachments, Ctx::guild(discord::USER_ID))
        .await;
    let text = world.response_to(interaction).await["data"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("at most 5"), "{text}");
    assert!(world.pixeldojo.requests().is_empty());
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_job_still_posts_the_video_exactly_once() {
    let mut world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(4));
    world
        .omni(json!({"prompt": "slow sunrise over hills"}))
        .await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    let thread = world.thread(0).await;
    // The progress shows rendering only once the accepted job is stored.
    world.bot_message(thread, "Rendering").await;
    world.kill().await;
    world.launch().await;
    world.bot_message(thread, "here's your clip").await;
    // Give a duplicate every chance to appear.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(world.clips_in(thread).len(), 1);
    assert_eq!(world.pixeldojo.submissions().len(), 1, "never resubmitted");
    assert_eq!(world.discord.threads().len(), 1);
}

#[tokio::test]
async fn without_thread_permission_the_clip_is_posted_in_place_and_told_privately_never_as_a_ping()
{
    let world = World::start().await;
    let ctx = || Ctx::guild(discord::USER_ID).in_channel(discord::NO_THREADS_CHANNEL_ID);
    for prompt in ["first", "second"] {
        let id = world
            .omni_as(json!({"prompt": prompt}), vec![], ctx())
            .await;
        // The private answer says why there is no thread, and where the clip goes instead.
        let ack = world.response_to(id).await;
        let text = ack["data"]["content"].as_str().unwrap_or_default();
        assert!(text.contains("**Create Public Threads**"), "{text}");
        assert!(text.contains("in this channel"), "{text}");
    }
    let deadline = Instant::now() + WAIT;
    while world.clips_in(discord::NO_THREADS_CHANNEL_ID).len() < 2 {
        assert!(Instant::now() < deadline, "{}", world.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No tip in the channel, and nobody pinged about admin work.
    let public: Vec<_> = world
        .discord
        .messages_in(discord::NO_THREADS_CHANNEL_ID)
        .into_iter()
        .filter(|m| !m.is_ephemeral() && m.content.contains("Create Public Threads"))
        .collect();
    assert!(public.is_empty(), "{public:#?}");
    assert!(world.discord.threads().is_empty());
}

#[tokio::test]
async fn in_a_dm_the_clip_is_posted_in_the_conversation() {
    let world = World::start().await;
    world
        .omni_as(json!({"prompt": "a paper boat"}), vec![], Ctx::dm())
        .await;
    let clip = world
        .bot_message(discord::DM_CHANNEL_ID, "here's your clip")
        .await;
    assert_eq!(clip.attachments.len(), 1);
    assert!(world.discord.threads().is_empty());
    // The status message keeps saying what was asked for once it is done.
    let status = world.bot_message(discord::DM_CHANNEL_ID, "Done").await;
    assert!(
        status.content.contains("a paper boat"),
        "{}",
        status.content
    );
    assert!(!world
        .discord
        .messages_in(discord::DM_CHANNEL_ID)
        .iter()
        .any(|m| m.content.contains("Create Public Threads")));
}

#[tokio::test]
async fn a_clip_over_the_upload_limit_is_posted_as_a_link_that_expires() {
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        video_size: Some(300 * 1024),
        ..JobScript::default()
    }]);
    let mut ctx = Ctx::guild(discord::USER_ID);
    ctx.attachment_size_limit = 100 * 1024;
    world
        .omni_as(json!({"prompt": "a long take"}), vec![], ctx)
        .await;
    let thread = world.thread(0).await;
    let msg = world.bot_message(thread, "here is the link").await;
    let url = &world.pixeldojo.jobs()[0].id;
    assert!(msg.content.contains(url.as_str()), "{}", msg.content);
    assert!(msg.content.contains("temporary"));
    assert!(msg.attachments.is_empty());
}

#[tokio::test]
async fn an_upload_discord_refuses_as_too_large_falls_back_to_the_link() {
    let world = World::start().await;
    // The interaction says 10 MiB, but the channel accepts less (Discord answers 413 / 40005).
    world.discord.set_max_upload_bytes(1024);
    let mut ctx = Ctx::guild(discord::USER_ID);
    ctx.attachment_size_limit = 10 * 1024 * 1024;
    world
        .omni_as(json!({"prompt": "a wide vista"}), vec![], ctx)
        .await;
    let thread = world.thread(0).await;
    let msg = world.bot_message(thread, "here is the link").await;
    assert!(msg.attachments.is_empty());
    assert!(world.discord.requests().iter().any(|r| r.status == 413));
}

#[tokio::test]
async fn pixeldojo_refusing_the_key_is_explained_without_leaking_it() {
    let world = World::start().await;
    world.pixeldojo.inject(
        Endpoint::Submit,
        Fault::Status {
            status: 402,
            code: "insufficient_credits",
            retry_after: None,
        },
        1,
    );
    world.omni(json!({"prompt": "anything"})).await;
    let thread = world.thread(0).await;
    let msg = world.bot_message(thread, "credits").await;
    assert!(!msg.content.contains(pixeldojo::API_KEY));
    assert!(!world.logs().contains(pixeldojo::API_KEY));
    assert!(!world.logs().contains(discord::TOKEN));
}

#[tokio::test]
async fn a_config_with_a_typo_stops_start_up_with_status_2_naming_the_key() {
    let world = World::new(Settings {
        discord: "tokn = \"x\"".into(),
        ..Settings::default()
    })
    .await;
    let out = world.run_once(&world.config_text(), &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tokn"), "{stderr}");
    assert!(!stderr.contains(discord::TOKEN) && !stderr.contains(pixeldojo::API_KEY));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_missing_token_stops_start_up_with_status_2() {
    let world = World::new(Settings::default()).await;
    let text = world
        .config_text()
        .replace(&format!("token = \"{}\"", discord::TOKEN), "");
    let out = world.run_once(&text, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("discord.token"));
}
