//! Point 6: admins choose limits by their meaning, channel subcommands ask for what they need,
//! and every admin answer fits Discord's 2,000 characters (pages, or a file).

use serde_json::{json, Value};

use super::{admin, admin_group, answers, command, content, omni_answer, resolved_channel};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{Settings, World, WAIT};
use omni_bot::domain::ids::{GuildId, UserId};
use omni_bot::domain::moderation::Term;
use omni_bot::store::Store;

fn option<'a>(command: &'a Value, name: &str) -> &'a Value {
    command["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("no option {name} in {command}"))
}

#[tokio::test]
async fn limits_are_chosen_in_words_and_channel_subcommands_ask_for_what_they_need() {
    let world = World::start().await;
    let registered = world.discord.registered_commands();
    let admin_cmd = registered
        .iter()
        .find(|c| c["name"] == "omni-admin")
        .expect("/omni-admin is registered");
    let choices: Vec<&str> = option(option(admin_cmd, "set"), "limit")["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(choices[0], "Clips per member per day");
    assert!(choices.iter().all(|c| !c.contains('_')), "{choices:?}");

    let channels = option(admin_cmd, "channels");
    assert_eq!(channels["type"], 2, "a group of subcommands: {channels}");
    for (sub, required) in [("allow", true), ("deny", true), ("clear", false)] {
        let channel = option(option(channels, sub), "channel");
        assert_eq!(
            channel["required"].as_bool().unwrap_or(false),
            required,
            "{sub}"
        );
        assert!(!channel["description"].as_str().unwrap().is_empty());
    }

    // Setting a limit answers in words too.
    let set = admin(
        &world,
        Ctx::admin(),
        "set",
        json!([{"name": "limit", "type": 4, "value": 0}, {"name": "value", "type": 4, "value": 10}]),
    )
    .await;
    assert_eq!(
        content(&set),
        "Done: **Clips per member per day** is now **10** in this server."
    );

    // Allow one channel: clips elsewhere are refused, pointing there; clearing undoes it.
    let allowed = admin_group(
        &world,
        Ctx::admin(),
        "channels",
        "allow",
        json!([{"name": "channel", "type": 7, "value": discord::NO_THREADS_CHANNEL_ID.to_string()}]),
        resolved_channel(discord::NO_THREADS_CHANNEL_ID),
    )
    .await;
    assert!(content(&allowed).starts_with("Done"), "{allowed}");
    let r = omni_answer(&world, "in general", Ctx::guild(discord::USER_ID)).await;
    assert!(
        content(&r).contains(&format!("Try <#{}>", discord::NO_THREADS_CHANNEL_ID)),
        "{r}"
    );
    let cleared = admin_group(
        &world,
        Ctx::admin(),
        "channels",
        "clear",
        json!([]),
        Value::Null,
    )
    .await;
    assert!(content(&cleared).contains("any channel again"), "{cleared}");
    let r = omni_answer(&world, "in general again", Ctx::guild(discord::USER_ID)).await;
    assert!(content(&r).contains("Got it"), "{r}");
}

#[tokio::test]
async fn a_long_admin_answer_comes_in_pages_that_fit_and_a_very_long_one_as_a_file() {
    let mut world = World::new(Settings::default()).await;
    // A server with 200 member allowances and 250 prompt rules, stored before the bot starts.
    let members: Vec<u64> = (0..200).map(|i| 610_000_000_000_000_000 + i).collect();
    let rules: Vec<String> = (0..250)
        .map(|i| format!("a rather long forbidden phrase number {i}"))
        .collect();
    {
        let store = Store::open(&world.dir.path().join("data/omni-bot.sled")).unwrap();
        let guild = GuildId(discord::GUILD_ID);
        store
            .update_policy(guild, |p| {
                for m in &members {
                    p.user_allowances.insert(UserId(*m), 3);
                }
            })
            .await
            .unwrap();
        store
            .update_moderation(guild, |m| {
                for r in &rules {
                    m.blocked_terms.insert(Term::parse(r).unwrap());
                }
            })
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    world.launch().await;

    // The limits overview: several private messages, each within the limit, nothing lost.
    let id = command(
        &world,
        "omni-admin",
        json!([{"name": "limits", "type": 1, "options": []}]),
        Value::Null,
        Ctx::admin(),
    )
    .await;
    // The pages arrive one after another: wait until every member is listed.
    let deadline = tokio::time::Instant::now() + WAIT;
    let pages = loop {
        let pages = answers(&world, discord::TEXT_CHANNEL_ID, id, 2).await;
        let whole: String = pages
            .iter()
            .map(|p| p.content.clone())
            .collect::<Vec<_>>()
            .join(" ");
        let missing = members
            .iter()
            .filter(|m| !whole.contains(&format!("<@{m}> 3/day")))
            .count();
        if missing == 0 {
            break pages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} members missing from {} pages",
            pages.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(pages.len() <= 4, "{}", pages.len());
    for page in &pages {
        assert!(page.content.chars().count() <= 2000);
        assert!(page.is_ephemeral());
    }

    // The prompt rules: too long for a few messages, so the whole list comes as a file.
    let id = command(
        &world,
        "omni-admin",
        json!([{"name": "prompt-rules", "type": 2, "options": [{"name": "list", "type": 1, "options": []}]}]),
        Value::Null,
        Ctx::admin(),
    )
    .await;
    let answer = answers(&world, discord::TEXT_CHANNEL_ID, id, 1).await;
    assert_eq!(answer.len(), 1);
    assert!(answer[0].content.chars().count() <= 2000);
    assert!(
        answer[0].content.contains("attached file"),
        "{}",
        answer[0].content
    );
    let file = answer[0]
        .attachment("omni-admin.txt")
        .expect("the whole answer");
    let text = String::from_utf8(file.bytes.clone()).unwrap();
    for r in &rules {
        assert!(text.contains(&format!("• {r}")), "{r} is missing");
    }
}
