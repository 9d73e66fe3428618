//! Proves that serenity 0.12.5 (no bot code) accepts the fake Discord: its READY, dispatches,
//! REST answers and Discord-shaped errors.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use serenity::all::{
    ChannelId, ChannelType, ClientBuilder, CommandDataOptionValue, CommandInteraction, Context,
    CreateAllowedMentions, CreateAttachment, CreateCommand, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    CreateThread, EditInteractionResponse, EditMessage, EventHandler, GatewayIntents, Interaction,
    Message, Nonce, Ready, ResumedEvent, ShardManager, UserId,
};
use serenity::http::{Http, HttpBuilder, HttpError};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::support::fake_discord::*;

const WAIT: Duration = Duration::from_secs(10);

enum Ev {
    Ready(Box<Ready>),
    Resumed,
    Interaction(Box<Interaction>),
    Message(Box<Message>),
}

struct Forward(UnboundedSender<Ev>);

#[serenity::async_trait]
impl EventHandler for Forward {
    async fn ready(&self, _: Context, ready: Ready) {
        let _ = self.0.send(Ev::Ready(Box::new(ready)));
    }
    async fn resume(&self, _: Context, _: ResumedEvent) {
        let _ = self.0.send(Ev::Resumed);
    }
    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        let _ = self.0.send(Ev::Interaction(Box::new(interaction)));
    }
    async fn message(&self, _: Context, message: Message) {
        let _ = self.0.send(Ev::Message(Box::new(message)));
    }
}

/// A serenity client connected to the fake, with its events forwarded to `events`.
struct Bot {
    shards: Arc<ShardManager>,
    http: Arc<Http>,
    events: UnboundedReceiver<Ev>,
}

impl Bot {
    async fn start(fake: &FakeDiscord) -> Bot {
        // Set RUST_LOG (e.g. `serenity=debug`) to see serenity's view of the fake.
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        // serenity 0.12.5 ignores `proxy` on its rate-limited path (ratelimiting.rs builds the
        // request with proxy `None`), so the rate limiter must be disabled to reach the fake.
        let http = HttpBuilder::new(TOKEN)
            .proxy(fake.url())
            .ratelimiter_disabled(true)
            .build();
        let (tx, events) = unbounded_channel();
        let intents = GatewayIntents::non_privileged() | GatewayIntents::MESSAGE_CONTENT;
        let mut client = ClientBuilder::new_with_http(http, intents)
            .event_handler(Forward(tx))
            .await
            .expect("client builds against the fake");
        let bot = Bot {
            shards: client.shard_manager.clone(),
            http: client.http.clone(),
            events,
        };
        tokio::spawn(async move {
            let _ = client.start().await;
        });
        bot
    }

    /// The next event `pick` accepts (others are skipped).
    async fn next<T>(&mut self, mut pick: impl FnMut(Ev) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("timed out waiting for a serenity event")
                .expect("event channel closed");
            if let Some(found) = pick(ev) {
                return found;
            }
        }
    }

    async fn ready(&mut self) -> Ready {
        self.next(|ev| match ev {
            Ev::Ready(r) => Some(*r),
            _ => None,
        })
        .await
    }

    async fn command(&mut self) -> CommandInteraction {
        self.next(|ev| match ev {
            Ev::Interaction(i) => i.command(),
            _ => None,
        })
        .await
    }

    async fn message_with(&mut self, content: &str) -> Message {
        self.next(|ev| match ev {
            Ev::Message(m) if m.content == content => Some(*m),
            _ => None,
        })
        .await
    }

    async fn shutdown(self) {
        self.shards.shutdown_all().await;
    }
}

/// Runs a test body with a fake and a connected client, bounded in time, shutting down after.
async fn with_bot<F, Fut>(limit: Duration, body: F)
where
    F: FnOnce(FakeDiscord, Bot) -> Fut,
    Fut: Future<Output = Bot>,
{
    let run = async {
        let fake = FakeDiscord::start().await;
        let mut bot = Bot::start(&fake).await;
        bot.ready().await;
        let bot = body(fake, bot).await;
        bot.shutdown().await;
    };
    tokio::time::timeout(limit, run)
        .await
        .expect("test timed out");
}

/// (HTTP status, Discord error code) of a failed serenity call.
fn discord_error<T: std::fmt::Debug>(result: serenity::Result<T>) -> (u16, isize) {
    match result {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(resp))) => {
            (resp.status_code.as_u16(), resp.error.code)
        }
        other => panic!("expected a Discord error, got {other:?}"),
    }
}

async fn download(url: &str) -> Vec<u8> {
    reqwest::get(url)
        .await
        .expect("download")
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serenity_connects_identifies_and_receives_ready() {
    let run = async {
        let fake = FakeDiscord::start().await;
        let mut bot = Bot::start(&fake).await;
        let ready = bot.ready().await;
        assert_eq!(ready.user.id.get(), BOT_USER_ID);
        assert_eq!(ready.application.id.get(), APP_ID);
        assert_eq!(ready.guilds[0].id.get(), GUILD_ID);
        assert!(fake.wait_ready(WAIT).await);
        assert_eq!(fake.identify_count(), 1);
        let identify = fake
            .gateway_payloads()
            .into_iter()
            .find(|p| p["op"] == 2)
            .expect("IDENTIFY");
        assert_ne!(identify["d"]["intents"].as_u64().unwrap() & (1 << 15), 0);

        let me = bot.http.get_current_user().await.unwrap();
        assert_eq!(me.id.get(), BOT_USER_ID);
        let app = bot.http.get_current_application_info().await.unwrap();
        assert_eq!(app.owner.unwrap().id.get(), ADMIN_USER_ID);
        let commands = bot
            .http
            .create_global_commands(&[CreateCommand::new("animate").description("Animate")])
            .await
            .unwrap();
        assert_eq!(commands[0].name, "animate");
        assert_eq!(commands[0].application_id.get(), APP_ID);
        assert_eq!(fake.registered_commands()[0]["name"], "animate");
        let member = bot
            .http
            .get_member(GUILD_ID.into(), ADMIN_USER_ID.into())
            .await
            .unwrap();
        assert_eq!(member.roles[0].get(), ADMIN_ROLE_ID);
        let guild = bot.http.get_guild(GUILD_ID.into()).await.unwrap();
        assert_eq!(guild.roles.len(), 2);
        let channel = bot.http.get_channel(TEXT_CHANNEL_ID.into()).await.unwrap();
        assert_eq!(channel.guild().unwrap().kind, ChannelType::Text);
        let dm = bot.http.get_channel(DM_CHANNEL_ID.into()).await.unwrap();
        assert_eq!(dm.private().unwrap().recipient.id.get(), USER_ID);
        assert!(fake.unexpected_requests().is_empty());

        let stranger = HttpBuilder::new("wrong-token")
            .proxy(fake.url())
            .ratelimiter_disabled(true)
            .build();
        assert_eq!(discord_error(stranger.get_current_user().await), (401, 0));
        let rec = fake.requests().into_iter().last().unwrap();
        assert_eq!(
            rec.header("x-ratelimit-limit"),
            None,
            "request headers, not response"
        );
        bot.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatched_slash_command_reaches_serenity_with_its_attachment_resolved() {
    with_bot(Duration::from_secs(30), |fake, mut bot| async move {
        let att = fake.add_attachment("cat.png", "image/png", vec![1, 2, 3]);
        let att_id = att["id"].as_str().unwrap().to_owned();
        let options = vec![
            json!({"name": "prompt", "type": 3, "value": "a cat"}),
            json!({"name": "image", "type": 11, "value": att_id}),
        ];
        let (id, payload) = fake.slash_command("animate", options, vec![att], Ctx::guild(USER_ID));
        assert_eq!(fake.dispatch("INTERACTION_CREATE", payload).await, 1);
        let cmd = bot.command().await;
        assert_eq!(cmd.id.get(), id);
        assert_eq!(cmd.data.name, "animate");
        assert_eq!(cmd.user.id.get(), USER_ID);
        assert_eq!(cmd.guild_id.unwrap().get(), GUILD_ID);
        assert_eq!(cmd.attachment_size_limit as u64, DEFAULT_MAX_UPLOAD_BYTES);
        assert!(cmd.member.as_ref().unwrap().permissions.is_some());
        assert!(cmd.app_permissions.is_some());
        assert_eq!(
            cmd.data.options[0].value,
            CommandDataOptionValue::String("a cat".into())
        );
        let CommandDataOptionValue::Attachment(aid) = cmd.data.options[1].value else {
            panic!("attachment option expected");
        };
        let resolved = &cmd.data.resolved.attachments[&aid];
        assert_eq!(resolved.filename, "cat.png");
        assert_eq!(download(&resolved.url).await, vec![1, 2, 3]);

        let reply = CreateInteractionResponseMessage::new().content("working on it");
        cmd.create_response(&bot.http, CreateInteractionResponse::Message(reply.clone()))
            .await
            .unwrap();
        let again = cmd
            .create_response(&bot.http, CreateInteractionResponse::Message(reply))
            .await;
        assert_eq!(discord_error(again), (400, 40060));
        assert_eq!(fake.interaction_responses().len(), 1);
        let original = fake
            .wait_for_message(TEXT_CHANNEL_ID, WAIT, |m| m.interaction_id == Some(id))
            .await
            .unwrap();
        assert_eq!(original.content, "working on it");

        cmd.edit_response(&bot.http, EditInteractionResponse::new().content("done"))
            .await
            .unwrap();
        assert_eq!(fake.message(original.id).unwrap().content, "done");
        let follow = cmd
            .create_followup(
                &bot.http,
                CreateInteractionResponseFollowup::new()
                    .content("here")
                    .add_file(CreateAttachment::bytes(b"MP4".to_vec(), "clip.mp4")),
            )
            .await
            .unwrap();
        assert_eq!(follow.attachments[0].filename, "clip.mp4");
        assert_eq!(
            fake.message(follow.id.get()).unwrap().attachments[0].bytes,
            b"MP4"
        );

        // A button click on the response reaches serenity as a component interaction.
        let (click_id, click) = fake
            .button_click(original.id, "retry:1", Ctx::guild(USER_ID))
            .unwrap();
        fake.dispatch("INTERACTION_CREATE", click).await;
        let component = bot
            .next(|ev| match ev {
                Ev::Interaction(i) => i.message_component(),
                _ => None,
            })
            .await;
        assert_eq!(component.id.get(), click_id);
        assert_eq!(component.data.custom_id, "retry:1");
        assert_eq!(component.message.id.get(), original.id);

        // Interaction tokens expire (15 minutes on Discord).
        fake.set_interaction_token_lifetime(Duration::ZERO);
        let expired = cmd
            .edit_response(
                &bot.http,
                EditInteractionResponse::new().content("too late"),
            )
            .await;
        assert_eq!(discord_error(expired), (401, 50027));
        fake.set_interaction_token_lifetime(Duration::from_secs(900));

        // In a DM the invoker comes as `user`, without guild or member.
        let (_, payload) = fake.slash_command("animate", vec![], vec![], Ctx::dm());
        fake.dispatch("INTERACTION_CREATE", payload).await;
        let dm_cmd = bot.command().await;
        assert!(dm_cmd.guild_id.is_none());
        assert_eq!(dm_cmd.user.id.get(), USER_ID);
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_create_reaches_serenity() {
    with_bot(Duration::from_secs(30), |fake, mut bot| async move {
        let att = fake.add_attachment("in.jpg", "image/jpeg", b"JPEG".to_vec());
        let payload = fake.user_message(TEXT_CHANNEL_ID, USER_ID, "hello bot", vec![att]);
        fake.dispatch("MESSAGE_CREATE", payload).await;
        let msg = bot.message_with("hello bot").await;
        assert_eq!(msg.author.id.get(), USER_ID);
        assert_eq!(msg.guild_id.unwrap().get(), GUILD_ID);
        assert!(msg.member.is_some());
        assert_eq!(download(&msg.attachments[0].url).await, b"JPEG");

        // The bot's own post is echoed back, like Discord does.
        let posted = ChannelId::new(TEXT_CHANNEL_ID)
            .say(&bot.http, "from bot")
            .await
            .unwrap();
        let echoed = bot.message_with("from bot").await;
        assert_eq!(echoed.id, posted.id);
        assert!(echoed.author.bot);

        let payload = fake.user_reply(
            TEXT_CHANNEL_ID,
            USER_ID,
            "a reply",
            posted.id.get(),
            true,
            vec![],
        );
        fake.dispatch("MESSAGE_CREATE", payload).await;
        let reply = bot.message_with("a reply").await;
        let reference = reply.message_reference.unwrap();
        assert_eq!(reference.message_id, Some(posted.id));
        assert!(reply.referenced_message.is_some());
        assert!(reply.mentions.iter().any(|u| u.id.get() == BOT_USER_ID));

        let payload = fake.user_message(DM_CHANNEL_ID, USER_ID, "in a dm", vec![]);
        fake.dispatch("MESSAGE_CREATE", payload).await;
        assert!(bot.message_with("in a dm").await.guild_id.is_none());
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_is_stored_with_its_bytes() {
    with_bot(Duration::from_secs(30), |fake, bot| async move {
        let channel = ChannelId::new(TEXT_CHANNEL_ID);
        let file = CreateAttachment::bytes(b"PNGDATA".to_vec(), "out.png");
        let msg = channel
            .send_message(
                &bot.http,
                CreateMessage::new().content("file").add_file(file),
            )
            .await
            .unwrap();
        assert_eq!(msg.attachments[0].filename, "out.png");
        assert_eq!(msg.attachments[0].size, 7);
        let stored = fake.message(msg.id.get()).unwrap();
        assert_eq!(stored.attachments[0].bytes, b"PNGDATA");
        assert_eq!(
            stored.attachments[0].content_type.as_deref(),
            Some("image/png")
        );
        assert_eq!(download(&msg.attachments[0].url).await, b"PNGDATA");
        let rec = fake
            .wait_for(WAIT, |r| r.is("POST", "/messages") && r.multipart.is_some())
            .await
            .unwrap();
        assert_eq!(rec.payload_json().unwrap()["content"], "file");
        assert_eq!(rec.files()[0].filename.as_deref(), Some("out.png"));

        let once = || {
            CreateMessage::new()
                .content("once")
                .nonce(Nonce::String("job-42".into()))
                .enforce_nonce(true)
        };
        let first = channel.send_message(&bot.http, once()).await.unwrap();
        let second = channel.send_message(&bot.http, once()).await.unwrap();
        assert_eq!(first.id, second.id);
        let count = fake
            .messages_in(TEXT_CHANNEL_ID)
            .iter()
            .filter(|m| m.content == "once")
            .count();
        assert_eq!(count, 1);

        channel
            .edit_message(&bot.http, msg.id, EditMessage::new().content("edited"))
            .await
            .unwrap();
        let edited = fake.message(msg.id.get()).unwrap();
        assert_eq!(edited.content, "edited");
        assert_eq!(edited.attachments.len(), 1, "attachments kept on edit");

        // serenity refuses this itself, so go through the raw HTTP client.
        let too_long = bot
            .http
            .send_message(channel, vec![], &json!({"content": "x".repeat(2001)}))
            .await;
        assert_eq!(discord_error(too_long), (400, 50035));
        let unknown = ChannelId::new(1).say(&bot.http, "nowhere").await;
        assert_eq!(discord_error(unknown), (404, 10003));
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_thread_from_a_message_works_and_is_refused_where_discord_refuses_it() {
    with_bot(Duration::from_secs(30), |fake, bot| async move {
        let http = &bot.http;
        let text = ChannelId::new(TEXT_CHANNEL_ID);
        let starter = text.say(http, "starting a job").await.unwrap();
        let thread = text
            .create_thread_from_message(http, starter.id, CreateThread::new("job 1"))
            .await
            .unwrap();
        assert_eq!(thread.kind, ChannelType::PublicThread);
        assert_eq!(thread.parent_id, Some(text));
        assert_eq!(thread.id.get(), starter.id.get());
        assert!(!thread.thread_metadata.unwrap().archived);
        let info = &fake.threads()[0];
        assert_eq!(
            (info.from_message_id, info.name.as_str()),
            (Some(starter.id.get()), "job 1")
        );
        thread.id.say(http, "inside").await.unwrap();
        assert_eq!(fake.messages_in(thread.id.get())[0].content, "inside");

        let again = text
            .create_thread_from_message(http, starter.id, CreateThread::new("job 1 again"))
            .await;
        assert_eq!(discord_error(again), (400, 160004));

        let other = text.say(http, "second").await.unwrap();
        let long_name = text
            .create_thread_from_message(http, other.id, CreateThread::new("n".repeat(101)))
            .await;
        assert_eq!(discord_error(long_name), (400, 50035));

        let locked = ChannelId::new(NO_THREADS_CHANNEL_ID);
        let m = locked.say(http, "no threads here").await.unwrap();
        let refused = locked
            .create_thread_from_message(http, m.id, CreateThread::new("x"))
            .await;
        assert_eq!(discord_error(refused), (403, 50013));

        let dm = ChannelId::new(DM_CHANNEL_ID);
        let m = dm.say(http, "dm").await.unwrap();
        let refused = dm
            .create_thread_from_message(http, m.id, CreateThread::new("x"))
            .await;
        assert_eq!(discord_error(refused), (400, 50024));

        let inner = thread.id.say(http, "nested?").await.unwrap();
        let refused = thread
            .id
            .create_thread_from_message(http, inner.id, CreateThread::new("x"))
            .await;
        assert_eq!(discord_error(refused), (400, 50024));

        fake.archive_thread(thread.id.get());
        assert_eq!(
            discord_error(thread.id.say(http, "late").await),
            (400, 50083)
        );
        fake.delete_channel(thread.id.get());
        assert_eq!(
            discord_error(thread.id.say(http, "gone").await),
            (404, 10003)
        );
        assert!(fake.threads()[0].deleted);
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_upload_limit_is_refused_with_40005() {
    with_bot(Duration::from_secs(30), |fake, bot| async move {
        fake.set_max_upload_bytes(1024);
        let channel = ChannelId::new(TEXT_CHANNEL_ID);
        let big = CreateAttachment::bytes(vec![0u8; 1025], "big.mp4");
        let refused = channel
            .send_message(&bot.http, CreateMessage::new().add_file(big))
            .await;
        assert_eq!(discord_error(refused), (413, 40005));
        let fits = CreateAttachment::bytes(vec![0u8; 1024], "ok.mp4");
        channel
            .send_message(&bot.http, CreateMessage::new().add_file(fits))
            .await
            .unwrap();
        let eleven: Vec<_> = (0..11)
            .map(|i| CreateAttachment::bytes(vec![1u8], format!("{i}.txt")))
            .collect();
        let refused = channel
            .send_message(&bot.http, CreateMessage::new().add_files(eleven))
            .await;
        assert_eq!(discord_error(refused), (400, 30015));
        assert_eq!(fake.messages_in(TEXT_CHANNEL_ID).len(), 1);
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interaction_callback_later_than_3_seconds_is_refused() {
    with_bot(Duration::from_secs(30), |fake, mut bot| async move {
        let defer = || CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());

        // Discord's default window: 3 seconds.
        fake.send_slash_command("animate", vec![], vec![], Ctx::guild(USER_ID))
            .await;
        let late = bot.command().await;
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert_eq!(
            discord_error(late.create_response(&bot.http, defer()).await),
            (404, 10062)
        );

        // A shorter window for fast tests; an in-time deferral works, then the first follow-up
        // replaces the "thinking" message.
        fake.set_interaction_ack_window(Duration::from_millis(300));
        let id = fake
            .send_slash_command("animate", vec![], vec![], Ctx::guild(USER_ID))
            .await;
        let on_time = bot.command().await;
        on_time.create_response(&bot.http, defer()).await.unwrap();
        let thinking = fake
            .wait_for_message(TEXT_CHANNEL_ID, WAIT, |m| m.interaction_id == Some(id))
            .await
            .unwrap();
        assert!(thinking.is_loading());
        let follow = on_time
            .create_followup(
                &bot.http,
                CreateInteractionResponseFollowup::new().content("ready"),
            )
            .await
            .unwrap();
        assert_eq!(follow.id.get(), thinking.id);
        assert!(!fake.message(thinking.id).unwrap().is_loading());

        fake.send_slash_command("animate", vec![], vec![], Ctx::guild(USER_ID))
            .await;
        let slow = bot.command().await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            discord_error(slow.create_response(&bot.http, defer()).await),
            (404, 10062)
        );
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_gateway_disconnects_and_allowing_it_lets_serenity_reconnect() {
    with_bot(Duration::from_secs(60), |fake, mut bot| async move {
        assert!(fake.wait_ready(WAIT).await);
        fake.drop_gateway();
        let deadline = tokio::time::Instant::now() + WAIT;
        while fake.live_sessions() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "sessions not closed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            fake.live_sessions(),
            0,
            "reconnected while the gateway was down"
        );
        let payload = fake.user_message(TEXT_CHANNEL_ID, USER_ID, "while down", vec![]);
        assert_eq!(fake.dispatch("MESSAGE_CREATE", payload).await, 0);

        fake.allow_gateway();
        assert!(
            fake.wait_ready(Duration::from_secs(40)).await,
            "no reconnection"
        );
        let (identifies, resumes) = (fake.identify_count(), fake.resume_count());
        assert!(
            identifies == 2 || resumes == 1,
            "identifies {identifies}, resumes {resumes}"
        );
        bot.next(|ev| matches!(ev, Ev::Ready(_) | Ev::Resumed).then_some(()))
            .await;
        fake.send_user_message(TEXT_CHANNEL_ID, USER_ID, "after reconnect")
            .await;
        bot.message_with("after reconnect").await;
        bot
    })
    .await;
}

/// `POST /attachments/refresh-urls` with the bot token, as raw JSON.
async fn refresh(fake: &FakeDiscord, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v10/attachments/refresh-urls", fake.url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .json(&body)
        .send()
        .await
        .expect("refresh-urls answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn status_of(url: &str) -> u16 {
    reqwest::get(url)
        .await
        .expect("the CDN answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_links_are_signed_expire_and_can_be_refreshed() {
    let run = async {
        let fake = FakeDiscord::start().await;
        let att = fake.add_attachment("cat.png", "image/png", vec![1, 2, 3]);
        let url = att["url"].as_str().unwrap().to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ex = link_expiry(&url).expect("an `ex` parameter");
        assert!((now + 23 * 3600..=now + 25 * 3600).contains(&ex), "{url}");
        assert!(url.contains("&is=") && url.contains("&hm=") && url.ends_with('&'));
        assert_eq!(download(&url).await, vec![1, 2, 3]);
        // The signature covers the expiry, and unsigned links are not served.
        let forged = url.replace(&format!("ex={ex:x}"), &format!("ex={:x}", ex + 3600));
        assert_eq!(status_of(&forged).await, 404);
        assert_eq!(status_of(url.split('?').next().unwrap()).await, 404);

        fake.set_attachment_url_lifetime(Duration::from_secs(1));
        let short = fake.add_attachment("dog.png", "image/png", vec![4]);
        let short_url = short["url"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(status_of(&short_url).await, 404, "expired");

        fake.set_attachment_url_lifetime(Duration::from_secs(600));
        let elsewhere = "https://example.com/a.png";
        let (status, answer) = refresh(
            &fake,
            json!({"attachment_urls": [short_url.clone(), elsewhere]}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let entries = answer["refreshed_urls"].as_array().unwrap();
        assert_eq!(entries[0]["original"], json!(short_url));
        let fresh = entries[0]["refreshed"].as_str().unwrap();
        assert_ne!(fresh, short_url);
        assert!(link_expiry(fresh).unwrap() > now + 500);
        assert_eq!(download(fresh).await, vec![4]);
        assert_eq!(
            entries[1],
            json!({"original": elsewhere, "refreshed": elsewhere})
        );

        let (status, answer) = refresh(&fake, json!({"attachment_urls": vec![&url; 51]})).await;
        assert_eq!((status, answer["code"].clone()), (400, json!(50035)));
        let anonymous = reqwest::Client::new()
            .post(format!("{}/api/v10/attachments/refresh-urls", fake.url()))
            .json(&json!({"attachment_urls": [url]}))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_and_lost_answers_fail_message_posts_and_mentions_follow_allowed_mentions() {
    with_bot(Duration::from_secs(30), |fake, bot| async move {
        let http = &bot.http;
        let channel = ChannelId::new(TEXT_CHANNEL_ID);
        let kept = channel.say(http, "before").await.unwrap();
        fake.fail_message_posts_until(std::time::Instant::now() + Duration::from_secs(60), true);
        assert_eq!(discord_error(channel.say(http, "during").await), (500, 0));
        let edit = channel
            .edit_message(http, kept.id, EditMessage::new().content("x"))
            .await;
        assert_eq!(discord_error(edit), (500, 0));
        fake.fail_message_posts_until(std::time::Instant::now(), true);
        channel.say(http, "after").await.unwrap();
        let contents: Vec<String> = fake
            .messages_in(TEXT_CHANNEL_ID)
            .into_iter()
            .map(|m| m.content)
            .collect();
        assert_eq!(contents, ["before", "after"]);
        // A lost answer: the message is posted, the client only sees the connection close.
        fake.drop_answers("POST", "/messages", 1);
        let lost = channel.say(http, "unanswered").await;
        assert!(
            matches!(lost, Err(serenity::Error::Http(HttpError::Request(_)))),
            "{lost:?}"
        );
        assert_eq!(fake.requests().last().unwrap().status, 0);
        assert!(fake
            .messages_in(TEXT_CHANNEL_ID)
            .iter()
            .any(|m| m.content == "unanswered"));
        channel.say(http, "answered again").await.unwrap();

        // Without allowed_mentions every mention notifies; with it, only what it lets through.
        let loud = format!("@everyone <@&{ADMIN_ROLE_ID}> <@{USER_ID}> <@{OTHER_USER_ID}>");
        let sent = channel.say(http, &loud).await.unwrap();
        let pings = fake.message(sent.id.get()).unwrap().pings;
        assert!(
            pings.everyone && pings.roles == [ADMIN_ROLE_ID],
            "{pings:?}"
        );
        assert_eq!(pings.users, [USER_ID, OTHER_USER_ID]);
        let quiet = CreateMessage::new()
            .content(&loud)
            .allowed_mentions(CreateAllowedMentions::new().users([UserId::new(USER_ID)]));
        let sent = channel.send_message(http, quiet).await.unwrap();
        let stored = fake.message(sent.id.get()).unwrap();
        assert_eq!(
            stored.pings,
            Pings {
                users: vec![USER_ID],
                ..Pings::default()
            }
        );
        assert_eq!(
            stored.allowed_mentions.unwrap()["users"],
            json!([USER_ID.to_string()])
        );
        // A reply notifies the replied-to author only with `replied_user`.
        let reply = CreateMessage::new()
            .content("re")
            .reference_message((channel, kept.id))
            .allowed_mentions(CreateAllowedMentions::new().replied_user(true));
        let sent = channel.send_message(http, reply).await.unwrap();
        assert_eq!(
            fake.message(sent.id.get()).unwrap().pings.users,
            [BOT_USER_ID]
        );
        let both = json!({
            "content": "x",
            "allowed_mentions": {"parse": ["users"], "users": [USER_ID.to_string()]},
        });
        let refused = bot.http.send_message(channel, vec![], &both).await;
        assert_eq!(discord_error(refused), (400, 50035));
        bot
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_run_in_a_members_thread_names_the_threads_parent() {
    with_bot(Duration::from_secs(30), |fake, mut bot| async move {
        let thread = fake.add_user_thread(TEXT_CHANNEL_ID, USER_ID, "chat");
        let info = fake.threads().into_iter().find(|t| t.id == thread).unwrap();
        assert_eq!((info.owner_id, info.parent_id), (USER_ID, TEXT_CHANNEL_ID));
        fake.send_slash_command(
            "animate",
            vec![],
            vec![],
            Ctx::guild(USER_ID).in_channel(thread),
        )
        .await;
        let cmd = bot.command().await;
        assert_eq!(cmd.channel_id.get(), thread);
        let channel = cmd.channel.expect("the interaction's channel");
        assert_eq!(channel.kind, ChannelType::PublicThread);
        assert_eq!(channel.parent_id, Some(ChannelId::new(TEXT_CHANNEL_ID)));
        bot
    })
    .await;
}

/// Sharding, seen by raw websocket clients: which session gets which dispatch.
mod sharding {
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::Message as Ws;
    use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

    use super::WAIT;
    use crate::support::fake_discord::*;

    /// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT.
    const INTENTS: u64 = 1 | 1 << 9 | 1 << 12 | 1 << 15;
    /// How long a session is watched for dispatches that should not come.
    const QUIET: Duration = Duration::from_millis(300);

    /// One gateway connection, spoken to frame by frame.
    struct Gateway {
        ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    }

    impl Gateway {
        /// Connects and reads HELLO.
        async fn connect(fake: &FakeDiscord) -> Self {
            let (ws, _) = connect_async(fake.gateway_url())
                .await
                .expect("the fake's gateway accepts a websocket");
            let mut gateway = Gateway { ws };
            let hello = gateway.next_payload().await.expect("HELLO");
            assert_eq!(hello["op"], 10, "{hello}");
            gateway
        }

        /// Sends IDENTIFY with `shard` (None: no `shard` field).
        async fn send_identify(&mut self, shard: Option<Value>) {
            let mut d = json!({
                "token": format!("Bot {TOKEN}"),
                "intents": INTENTS,
                "properties": {"os": "linux", "browser": "selftest", "device": "selftest"},
            });
            if let Some(shard) = shard {
                d["shard"] = shard;
            }
            let identify = json!({"op": 2, "d": d});
            self.ws
                .send(Ws::Text(identify.to_string()))
                .await
                .expect("send IDENTIFY");
        }

        /// IDENTIFYs on `shard` and returns READY's data.
        async fn identify(fake: &FakeDiscord, shard: Option<[u64; 2]>) -> (Self, Value) {
            let mut gateway = Self::connect(fake).await;
            gateway.send_identify(shard.map(|s| json!(s))).await;
            let (event, ready) = gateway.next_dispatch(WAIT).await.expect("READY");
            assert_eq!(event, "READY");
            (gateway, ready)
        }

        /// The next JSON payload (None when the connection closed or nothing came in `WAIT`).
        async fn next_payload(&mut self) -> Option<Value> {
            self.next_payload_within(WAIT).await
        }

        async fn next_payload_within(&mut self, limit: Duration) -> Option<Value> {
            loop {
                match tokio::time::timeout(limit, self.ws.next()).await.ok()?? {
                    Ok(Ws::Text(text)) => return serde_json::from_str(&text).ok(),
                    Ok(Ws::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        }

        /// The next dispatch (`op` 0) as (event name, data), skipping other payloads.
        async fn next_dispatch(&mut self, limit: Duration) -> Option<(String, Value)> {
            loop {
                let payload = self.next_payload_within(limit).await?;
                if payload["op"] == 0 {
                    let event = payload["t"].as_str().unwrap_or_default().to_owned();
                    return Some((event, payload["d"].clone()));
                }
            }
        }

        /// Every dispatch that arrives until the connection is quiet for [`QUIET`].
        async fn drain(&mut self) -> Vec<(String, Value)> {
            let mut seen = Vec::new();
            while let Some(d) = self.next_dispatch(QUIET).await {
                seen.push(d);
            }
            seen
        }

        /// The close code the fake ends the connection with.
        async fn close_code(&mut self) -> Option<u16> {
            loop {
                match tokio::time::timeout(WAIT, self.ws.next()).await.ok()?? {
                    Ok(Ws::Close(Some(frame))) => return Some(u16::from(frame.code)),
                    Ok(Ws::Close(None)) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        }
    }

    fn ready_guilds(ready: &Value) -> Vec<u64> {
        let mut ids: Vec<u64> = ready["guilds"]
            .as_array()
            .expect("READY lists guilds")
            .iter()
            .map(|g| g["id"].as_str().unwrap().parse().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The (event, id of the interaction or message or guild) of each dispatch.
    fn ids(seen: &[(String, Value)]) -> Vec<(String, u64)> {
        seen.iter()
            .map(|(event, d)| (event.clone(), d["id"].as_str().unwrap().parse().unwrap()))
            .collect()
    }

    fn member_in(guild: &JoinedGuild) -> Ctx {
        Ctx {
            guild_id: Some(guild.id),
            ..Ctx::guild(USER_ID).in_channel(guild.general)
        }
    }

    #[tokio::test]
    async fn servers_made_for_a_shard_land_on_it() {
        let fake = FakeDiscord::start().await;
        for (shard, total) in [(0, 1), (0, 2), (1, 2), (3, 4), (6, 7), (2, 16)] {
            let guild = fake.add_guild_on_shard(shard, total, JoinOptions::default());
            assert_eq!(shard_of(Some(guild.id), total), shard, "{shard}/{total}");
        }
        assert_eq!(
            shard_of(None, 4),
            0,
            "events without a server go to shard 0"
        );
        assert_eq!(
            shard_of(Some(GUILD_ID), 2),
            1,
            "the fixed server is on 1 of 2"
        );
    }

    #[tokio::test]
    async fn ready_carries_the_shard_and_lists_only_that_shards_servers() {
        let fake = FakeDiscord::start().await;
        let on_0 = fake.add_guild_on_shard(0, 2, JoinOptions::default());
        let on_1 = fake.add_guild_on_shard(1, 2, JoinOptions::default());
        let (_a, ready_0) = Gateway::identify(&fake, Some([0, 2])).await;
        let (_b, ready_1) = Gateway::identify(&fake, Some([1, 2])).await;
        let (_c, ready_all) = Gateway::identify(&fake, None).await;

        assert_eq!(ready_0["shard"], json!([0, 2]));
        assert_eq!(ready_guilds(&ready_0), vec![on_0.id]);
        assert_eq!(ready_1["shard"], json!([1, 2]));
        let mut on_1_ids = vec![GUILD_ID, on_1.id];
        on_1_ids.sort_unstable();
        assert_eq!(ready_guilds(&ready_1), on_1_ids);
        assert_eq!(ready_all["shard"], json!([0, 1]));
        let mut all = vec![GUILD_ID, on_0.id, on_1.id];
        all.sort_unstable();
        assert_eq!(ready_guilds(&ready_all), all);
        assert_eq!(fake.identified_shards(), vec![[0, 2], [1, 2], [0, 1]]);
    }

    #[tokio::test]
    async fn a_servers_events_reach_every_session_of_its_shard_only_and_dms_reach_shard_0() {
        let fake = FakeDiscord::start().await;
        let on_0 = fake.add_guild_on_shard(0, 2, JoinOptions::default());
        let on_1 = fake.add_guild_on_shard(1, 2, JoinOptions::default());
        let (mut shard_0, _) = Gateway::identify(&fake, Some([0, 2])).await;
        // Two processes on the same shard (replicas during a rolling deploy) both get its events.
        let (mut shard_1, _) = Gateway::identify(&fake, Some([1, 2])).await;
        let (mut shard_1_again, _) = Gateway::identify(&fake, Some([1, 2])).await;
        let (mut unsharded, _) = Gateway::identify(&fake, None).await;

        let (in_1, command) = fake.slash_command("omni", vec![], vec![], member_in(&on_1));
        assert_eq!(fake.dispatch("INTERACTION_CREATE", command).await, 3);
        let message = fake.user_message(on_0.general, USER_ID, "hello", vec![]);
        let in_0: u64 = message["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(fake.dispatch("MESSAGE_CREATE", message).await, 2);
        let (in_dm, dm) = fake.slash_command("omni", vec![], vec![], Ctx::dm());
        assert_eq!(fake.dispatch("INTERACTION_CREATE", dm).await, 2);
        let (in_fixed, fixed) = fake.slash_command("omni", vec![], vec![], Ctx::guild(USER_ID));
        assert_eq!(fake.dispatch("INTERACTION_CREATE", fixed).await, 3);
        let joined = fake.join_guild_on_shard(0, 2, JoinOptions::default()).await;

        let interaction = |id| ("INTERACTION_CREATE".to_owned(), id);
        let message = |id| ("MESSAGE_CREATE".to_owned(), id);
        let guild = |id| ("GUILD_CREATE".to_owned(), id);
        assert_eq!(
            ids(&shard_0.drain().await),
            vec![message(in_0), interaction(in_dm), guild(joined.id)]
        );
        for session in [&mut shard_1, &mut shard_1_again] {
            assert_eq!(
                ids(&session.drain().await),
                vec![interaction(in_1), interaction(in_fixed)]
            );
        }
        assert_eq!(
            ids(&unsharded.drain().await),
            vec![
                interaction(in_1),
                message(in_0),
                interaction(in_dm),
                interaction(in_fixed),
                guild(joined.id),
            ]
        );
    }

    #[tokio::test]
    async fn the_guild_create_burst_after_ready_covers_the_sessions_shard_only() {
        let fake = FakeDiscord::start().await;
        fake.set_guild_create_burst(true);
        let on_0 = fake.add_guild_on_shard(0, 2, JoinOptions::default());
        let on_1 = fake.add_guild_on_shard(1, 2, JoinOptions::default());
        let (mut shard_1, ready) = Gateway::identify(&fake, Some([1, 2])).await;
        let burst = shard_1.drain().await;
        let mut created: Vec<u64> = ids(&burst)
            .into_iter()
            .map(|(event, id)| {
                assert_eq!(event, "GUILD_CREATE");
                id
            })
            .collect();
        created.sort_unstable();
        assert_eq!(created, ready_guilds(&ready));
        assert!(created.contains(&on_1.id) && !created.contains(&on_0.id));
        let (mut shard_0, _) = Gateway::identify(&fake, Some([0, 2])).await;
        assert_eq!(
            ids(&shard_0.drain().await),
            vec![("GUILD_CREATE".into(), on_0.id)]
        );
    }

    #[tokio::test]
    async fn an_identify_on_a_shard_that_does_not_exist_is_closed_with_4010() {
        let fake = FakeDiscord::start().await;
        for shard in [json!([2, 2]), json!([0, 0]), json!([1]), json!(["0", "1"])] {
            let mut gateway = Gateway::connect(&fake).await;
            gateway.send_identify(Some(shard.clone())).await;
            assert_eq!(gateway.close_code().await, Some(4010), "{shard}");
        }
        assert!(fake.identified_shards().is_empty());
        assert_eq!(fake.identify_count(), 0);
        // A valid one is still accepted.
        let (_ok, ready) = Gateway::identify(&fake, Some([1, 4])).await;
        assert_eq!(ready["shard"], json!([1, 4]));
        assert_eq!(fake.identified_shards(), vec![[1, 4]]);
    }
}
