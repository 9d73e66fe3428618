//! `discord.shards`: a bot that connects a range of shards identifies as exactly those shards
//! and gets (and answers) only their servers' events, as Discord routes them; a bad range stops
//! start-up with one sentence.

use std::time::Duration;

use serde_json::json;

use crate::support::fake_discord::{self as discord, Ctx, JoinOptions, JoinedGuild};
use crate::support::fake_pixeldojo as pixeldojo;
use crate::support::world::{Settings, World, WAIT};

fn shards(value: &str) -> Settings {
    Settings {
        discord: format!("shards = \"{value}\""),
        ..Settings::default()
    }
}

/// An ordinary member in a joined server's general channel.
fn member_in(guild: &JoinedGuild) -> Ctx {
    Ctx {
        guild_id: Some(guild.id),
        ..Ctx::guild(discord::USER_ID).in_channel(guild.general)
    }
}

#[tokio::test]
async fn a_bot_on_shard_1_of_2_identifies_as_that_shard_and_answers_only_its_servers() {
    let mut world = World::new(shards("1/2")).await;
    let on_1 = world
        .discord
        .add_guild_on_shard(1, 2, JoinOptions::default());
    let on_0 = world
        .discord
        .add_guild_on_shard(0, 2, JoinOptions::default());
    world.launch().await;
    assert_eq!(world.discord.identified_shards(), vec![[1, 2]]);
    assert!(
        world.logs().contains("connecting a range of shards") && world.logs().contains("1/2"),
        "{}",
        world.logs()
    );

    // A server on shard 0, and a direct message (shard 0 too): Discord delivers them to no
    // connection of this bot, so nothing answers them.
    let (elsewhere, command) = world.discord.slash_command(
        "omni",
        vec![json!({"name": "prompt", "type": 3, "value": "not for this shard"})],
        vec![],
        member_in(&on_0),
    );
    assert_eq!(
        world.discord.dispatch("INTERACTION_CREATE", command).await,
        0
    );
    let (in_dm, command) = world.discord.slash_command(
        "omni",
        vec![json!({"name": "prompt", "type": 3, "value": "a direct message"})],
        vec![],
        Ctx::dm(),
    );
    assert_eq!(
        world.discord.dispatch("INTERACTION_CREATE", command).await,
        0
    );

    // A server on shard 1: the usual clip.
    let interaction = world
        .omni_as(
            json!({"prompt": "A lighthouse in a storm"}),
            vec![],
            member_in(&on_1),
        )
        .await;
    let ack = world.response_to(interaction).await;
    assert_eq!(ack["type"], 4, "a message response: {ack}");
    let thread = world.thread(0).await;
    let info = world.discord.threads()[0].clone();
    assert_eq!(info.parent_id, on_1.general);
    let clip = world.bot_message(thread, "here's your clip").await;
    let job_id = world.pixeldojo.jobs()[0].id.clone();
    assert_eq!(
        clip.attachments[0].bytes,
        world.pixeldojo.video_bytes(&job_id)
    );

    // By now the others would long have been answered; they were not, and cost nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answered: Vec<u64> = world
        .discord
        .interaction_responses()
        .iter()
        .map(|(id, _, _)| *id)
        .collect();
    assert!(
        !answered.contains(&elsewhere) && !answered.contains(&in_dm),
        "{answered:?}"
    );
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert!(world.bot_messages(on_0.general).is_empty());
    assert_eq!(world.discord.identified_shards(), vec![[1, 2]]);
    assert!(world.discord.unexpected_requests().is_empty());
}

#[tokio::test]
async fn a_range_of_two_shards_connects_both_and_answers_in_the_servers_of_each() {
    let mut world = World::new(shards("0-1/2")).await;
    let on_0 = world
        .discord
        .add_guild_on_shard(0, 2, JoinOptions::default());
    world.launch().await;
    // serenity starts one shard at a time, 5 s apart.
    let deadline = tokio::time::Instant::now() + WAIT;
    while world.discord.identified_shards().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut identified = world.discord.identified_shards();
    identified.sort_unstable();
    assert_eq!(identified, vec![[0, 2], [1, 2]], "{}", world.logs());

    // The joined server is on shard 0, the fixed one on shard 1, direct messages on shard 0.
    let on_shard_0 = world
        .omni_as(json!({"prompt": "shard zero"}), vec![], member_in(&on_0))
        .await;
    let on_shard_1 = world.omni(json!({"prompt": "shard one"})).await;
    let in_dm = world
        .omni_as(json!({"prompt": "a direct message"}), vec![], Ctx::dm())
        .await;
    for interaction in [on_shard_0, on_shard_1, in_dm] {
        assert_eq!(world.response_to(interaction).await["type"], 4);
    }
    assert!(world.pixeldojo.wait_for_submissions(3, WAIT).await);
}

#[tokio::test]
async fn without_discord_shards_the_bot_connects_the_only_shard() {
    let world = World::start().await;
    assert_eq!(world.discord.identified_shards(), vec![[0, 1]]);
    assert!(!world.logs().contains("connecting a range of shards"));
}

#[tokio::test]
async fn a_bad_discord_shards_value_stops_start_up_with_status_2_and_the_fix() {
    for (value, says) in [
        ("2/2", "numbered 0 to 1"),
        ("3-1/4", "write the lower shard first, as in \"1-3/4\""),
        ("0/0", "at least 1"),
        ("0-3", "must look like \"0-3/8\""),
    ] {
        let world = World::new(shards(value)).await;
        let out = world.run_once(&world.config_text(), &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
        assert!(
            stderr.contains("`discord.shards`") && stderr.contains(says),
            "{value}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains(discord::TOKEN) && !stderr.contains(pixeldojo::API_KEY));
        assert!(world.discord.requests().is_empty(), "{value}");
    }
}
