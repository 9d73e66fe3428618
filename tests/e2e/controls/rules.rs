//! Points 2 and 3: prompt rules refuse words and phrases before anything is spent, everywhere a
//! prompt comes from; the mod log gets a line per accepted clip and per refused prompt.

use serde_json::json;

use super::{
    admin, admin_group, bot_lines, button, content, is_private, omni_answer, press, set_mod_log,
    settle, with,
};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{World, WAIT};

async fn add_rule(world: &World, words: &str) -> String {
    let r = admin_group(
        world,
        Ctx::admin(),
        "prompt-rules",
        "add",
        json!([{"name": "words", "type": 3, "value": words}]),
        serde_json::Value::Null,
    )
    .await;
    assert!(is_private(&r), "{r}");
    content(&r)
}

#[tokio::test]
async fn a_blocked_phrase_is_refused_in_omni_a_follow_up_the_refine_box_and_animate_without_a_vendor_call(
) {
    let world = World::start_with(with("[moderation]\nblocked_terms = [\"gore\"]\n")).await;
    let mod_log = world.discord.add_text_channel("mod-log");
    assert!(content(&set_mod_log(&world, mod_log).await).contains("Done"));
    assert!(add_rule(&world, "Red Fox").await.contains("“Red Fox”"));

    // /omni: the server's rule, whatever the case and punctuation; the operator's rule.
    let r = omni_answer(&world, "A RED-FOX at dawn", Ctx::guild(discord::USER_ID)).await;
    let text = content(&r);
    assert!(is_private(&r));
    assert!(text.contains("this server doesn't allow"), "{text}");
    assert!(text.contains("Nothing was charged"), "{text}");
    assert!(
        !text.to_lowercase().contains("fox"),
        "the refusal repeats the rule: {text}"
    );
    let r = omni_answer(&world, "plenty of gore", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&r).contains("this bot doesn't allow"), "{r}");
    settle().await;
    assert!(world.pixeldojo.submissions().is_empty(), "nothing was sent");

    // Whole words only: "redfox" is not "red fox".
    let r = omni_answer(&world, "a redfox plush toy", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&r).contains("Got it"), "{r}");
    let thread = world.thread(0).await;
    let clip = world.bot_message(thread, "here's your clip").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);

    // A follow-up in the thread.
    world
        .discord
        .send_user_message(thread, discord::USER_ID, "now make it a red fox")
        .await;
    world
        .bot_message(thread, "uses a word or phrase this server doesn't allow")
        .await;

    // The refine box.
    let refine = button(&clip, "omni:refine:").expect("a refine button");
    let modal = press(&world, &clip, &refine, Ctx::guild(discord::USER_ID)).await;
    let modal_id = modal["data"]["custom_id"].as_str().unwrap().to_owned();
    let (id, payload) = world.discord.modal_submit(
        &modal_id,
        &[("prompt", "a red fox jumps in")],
        Ctx::guild(discord::USER_ID).in_channel(thread),
    );
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let r = world.response_to(id).await;
    assert!(content(&r).contains("this server doesn't allow"), "{r}");

    // Animate with Omni.
    let image = world
        .discord
        .add_attachment("fox.png", "image/png", vec![1]);
    let posted = world.discord.user_message(
        discord::TEXT_CHANNEL_ID,
        discord::OTHER_USER_ID,
        "my drawing",
        vec![image],
    );
    let message: u64 = posted["id"].as_str().unwrap().parse().unwrap();
    let (id, payload) = world
        .discord
        .message_command("Animate with Omni", message, Ctx::guild(discord::USER_ID))
        .unwrap();
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let modal = world.response_to(id).await;
    let modal_id = modal["data"]["custom_id"].as_str().unwrap().to_owned();
    let (id, payload) = world.discord.modal_submit(
        &modal_id,
        &[("prompt", "the red fox waves")],
        Ctx::guild(discord::USER_ID),
    );
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let r = world.response_to(id).await;
    assert!(content(&r).contains("this server doesn't allow"), "{r}");
    settle().await;
    assert_eq!(
        world.pixeldojo.submissions().len(),
        1,
        "only the allowed clip"
    );

    // Moderators see each refusal, with the prompt behind a spoiler, and the accepted clip.
    let refusals = bot_lines(&world, mod_log, "a prompt refused by");
    assert_eq!(refusals.len(), 5, "{refusals:#?}");
    assert!(refusals[0]
        .content
        .contains(&format!("<@{}>", discord::USER_ID)));
    assert!(
        refusals[0].content.contains("||A RED-FOX at dawn||"),
        "{}",
        refusals[0].content
    );
    assert!(
        refusals[1].content.contains("the bot owner's list"),
        "{}",
        refusals[1].content
    );
    assert!(
        refusals.iter().all(|m| m.pings.users.is_empty()),
        "nobody is pinged"
    );

    // The rule can be listed and removed; then the phrase is fine.
    let list = admin_group(
        &world,
        Ctx::admin(),
        "prompt-rules",
        "list",
        json!([]),
        serde_json::Value::Null,
    )
    .await;
    assert!(content(&list).contains("• red fox"), "{list}");
    assert!(
        content(&list).contains("refuses 1 word or phrase everywhere"),
        "{list}"
    );
    assert!(
        !content(&list).contains("gore"),
        "the owner's words stay private: {list}"
    );
    let removed = admin_group(
        &world,
        Ctx::admin(),
        "prompt-rules",
        "remove",
        json!([{"name": "words", "type": 3, "value": "red fox"}]),
        serde_json::Value::Null,
    )
    .await;
    assert!(
        content(&removed).contains("no longer a prompt rule"),
        "{removed}"
    );
    let r = omni_answer(&world, "a red fox, at last", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&r).contains("Got it"), "{r}");
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);

    // Members can't change the rules.
    let r = admin_group(
        &world,
        Ctx::guild(discord::USER_ID),
        "prompt-rules",
        "add",
        json!([{"name": "words", "type": 3, "value": "cats"}]),
        serde_json::Value::Null,
    )
    .await;
    assert!(content(&r).contains("Manage Server"), "{r}");
}

#[tokio::test]
async fn the_mod_log_gets_one_line_per_accepted_clip_with_who_where_the_prompt_and_a_jump_link() {
    let world = World::start().await;
    let mod_log = world.discord.add_text_channel("mod-log");
    let answer = set_mod_log(&world, mod_log).await;
    assert!(
        content(&answer).contains(&format!("<#{mod_log}> is now the mod log")),
        "{answer}"
    );
    world
        .bot_message(mod_log, "is now omni-bot's mod log")
        .await;

    omni_answer(
        &world,
        "a lighthouse in a storm",
        Ctx::guild(discord::USER_ID),
    )
    .await;
    let thread = world.thread(0).await;
    let line = world.bot_message(mod_log, "a lighthouse in a storm").await;
    let text = &line.content;
    assert!(
        text.contains(&format!("<@{}> started a clip", discord::USER_ID)),
        "{text}"
    );
    assert!(
        text.contains(&format!("<#{}>", discord::TEXT_CHANNEL_ID)),
        "{text}"
    );
    // The thread hangs from the status message and has its id.
    assert!(
        text.ends_with(&format!(
            "https://discord.com/channels/{}/{}/{thread}",
            discord::GUILD_ID,
            discord::TEXT_CHANNEL_ID
        )),
        "{text}"
    );
    assert!(line.pings.users.is_empty(), "the mod log pings nobody");

    // A follow-up is a clip too: one more line, and still one per clip.
    world.bot_message(thread, "here's your clip").await;
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    world
        .discord
        .send_user_message(thread, discord::USER_ID, "with lightning")
        .await;
    let follow = world.bot_message(mod_log, "with lightning").await;
    assert!(
        follow.content.contains("continued a clip"),
        "{}",
        follow.content
    );
    settle().await;
    assert_eq!(bot_lines(&world, mod_log, "🎬").len(), 2);

    // A channel the bot may not post in is refused as the mod log, naming what it needs.
    let closed = world.discord.add_text_channel("closed");
    world
        .discord
        .deny_permission(closed, discord::perms::SEND_MESSAGES);
    let answer = set_mod_log(&world, closed).await;
    assert!(content(&answer).contains("**Send Messages**"), "{answer}");
    let off = admin(&world, Ctx::admin(), "mod-log", json!([])).await;
    assert!(content(&off).contains("no mod log any more"), "{off}");
    omni_answer(&world, "a quiet harbour", Ctx::guild(discord::USER_ID)).await;
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
    settle().await;
    assert!(bot_lines(&world, mod_log, "a quiet harbour").is_empty());
}
