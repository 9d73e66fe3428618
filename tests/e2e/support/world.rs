//! A whole loopback world for one test: the fake Discord, the fake PixelDojo, a fresh data folder
//! and the real `omni-bot` binary configured against them. The bot can be killed (`SIGKILL`),
//! stopped (`SIGTERM`) and started again on the same data folder. When a test fails, the bot's
//! log is printed.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::fake_discord::{self as discord, Ctx, FakeDiscord, StoredMessage};
use super::fake_pixeldojo::{self as pixeldojo, FakePixelDojo};

/// How long a test waits for anything the bot should do promptly.
pub const WAIT: Duration = Duration::from_secs(20);

/// Extra configuration lines, per section.
#[derive(Default, Clone)]
pub struct Settings {
    pub discord: String,
    pub pixeldojo: String,
    /// Whole extra sections (`[limits]\n...`).
    pub sections: String,
    /// Extra `[storage]` lines (`backend = "postgres"`, …).
    pub storage: String,
    /// `pixeldojo.max_requests_per_minute` (600 unless set: a budget no test runs into).
    pub requests_per_minute: Option<u32>,
    /// `pixeldojo.expected_render_seconds` (2 unless set: clips here render in seconds).
    pub expected_render_seconds: Option<u64>,
}

struct Bot {
    child: Child,
}

pub struct World {
    pub discord: FakeDiscord,
    pub pixeldojo: FakePixelDojo,
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    log: Arc<Mutex<String>>,
    bot: Option<Bot>,
    /// More processes on the same config (replicas on a shared store), apart from `bot`.
    replicas: Vec<Bot>,
    launches: usize,
    /// Run the bot with its own default log filter instead of the tests' (which logs the bot's
    /// debug lines).
    pub default_log_filter: bool,
}

impl World {
    /// Fakes and a data folder, and the bot running and ready.
    pub async fn start() -> Self {
        Self::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Self {
        let mut world = Self::new(settings).await;
        world.launch().await;
        world
    }

    /// Fakes and a data folder; the bot is not started.
    pub async fn new(settings: Settings) -> Self {
        Self {
            discord: FakeDiscord::start().await,
            pixeldojo: FakePixelDojo::start().await,
            dir: tempfile::tempdir().expect("temp dir"),
            settings,
            log: Arc::default(),
            bot: None,
            replicas: Vec::new(),
            launches: 0,
            default_log_filter: false,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The configuration file the bot runs with.
    pub fn config_text(&self) -> String {
        self.config_text_with(&self.settings)
    }

    /// The configuration file for a process run with `settings` against this world's fakes.
    fn config_text_with(&self, settings: &Settings) -> String {
        format!(
            r#"[discord]
token = "{token}"
guild_id = {guild}
api_proxy = "{proxy}"
{discord_extra}

[pixeldojo]
api_key = "{key}"
base_url = "{base}"
max_requests_per_minute = {rpm}
expected_render_seconds = {expected_render}
request_timeout_seconds = 5
{pixeldojo_extra}

[storage]
path = "{data}"
{storage_extra}

{sections}
"#,
            token = discord::TOKEN,
            guild = discord::GUILD_ID,
            proxy = self.discord.url(),
            discord_extra = settings.discord,
            key = pixeldojo::API_KEY,
            base = self.pixeldojo.base_url(),
            pixeldojo_extra = settings.pixeldojo,
            rpm = settings.requests_per_minute.unwrap_or(600),
            expected_render = settings.expected_render_seconds.unwrap_or(2),
            data = self.dir.path().join("data/omni-bot.sled").display(),
            storage_extra = settings.storage,
            sections = settings.sections,
        )
    }

    /// Starts the bot and waits until it is connected and its commands are registered.
    pub async fn launch(&mut self) {
        let launch = self.spawn();
        let marker = format!("----- launch {launch} -----");
        let ready = self
            .wait_log(WAIT, |log| {
                log.rsplit_once(&marker)
                    .is_some_and(|(_, tail)| tail.contains("bot ready"))
            })
            .await;
        assert!(ready, "the bot did not become ready:\n{}", self.logs());
    }

    /// Starts the bot without waiting for it to be ready; returns the launch's number.
    pub fn spawn(&mut self) -> usize {
        assert!(self.bot.is_none(), "the bot is already running");
        let (bot, launch) = self.start_process();
        self.bot = Some(bot);
        launch
    }

    /// Starts one more process on the same config beside the bot (a replica on a shared
    /// store); returns its launch's number. It is killed with the world.
    pub fn spawn_replica(&mut self) -> usize {
        let (bot, launch) = self.start_process();
        self.replicas.push(bot);
        launch
    }

    /// Like [`World::spawn_replica`], with a config file of its own written from `settings`
    /// (say, other `[discord]` lines); the world's config file and settings are left as they are.
    pub fn spawn_replica_with(&mut self, settings: Settings) -> usize {
        let path = self
            .dir
            .path()
            .join(format!("config-{}.toml", self.launches + 1));
        std::fs::write(&path, self.config_text_with(&settings)).expect("write config");
        let (bot, launch) = self.start_process_at(&path);
        self.replicas.push(bot);
        launch
    }

    /// The process id of the bot.
    pub fn bot_pid(&self) -> Option<u32> {
        self.bot.as_ref().and_then(|b| b.child.id())
    }

    /// The process ids of the replicas beside the bot, oldest first.
    pub fn replica_pids(&self) -> Vec<u32> {
        self.replicas.iter().filter_map(|b| b.child.id()).collect()
    }

    /// Makes the oldest replica the bot and the bot a replica, so that `kill` and `terminate`
    /// reach the other one.
    pub fn swap_with_replica(&mut self) {
        let bot = self.bot.take().expect("the bot is running");
        self.bot = Some(self.replicas.remove(0));
        self.replicas.insert(0, bot);
    }

    /// Makes the oldest replica spawned with [`World::spawn_replica`] the bot (after the bot
    /// was killed or stopped), so that `kill` and `terminate` reach it.
    pub fn promote_replica(&mut self) {
        assert!(self.bot.is_none(), "the bot is still running");
        self.bot = Some(self.replicas.remove(0));
    }

    fn start_process(&mut self) -> (Bot, usize) {
        std::fs::write(self.config_path(), self.config_text()).expect("write config");
        self.start_process_at(&self.config_path())
    }

    fn start_process_at(&mut self, config: &std::path::Path) -> (Bot, usize) {
        let mut command = bot_command();
        if self.default_log_filter {
            command.env_remove("RUST_LOG");
        }
        let mut child = command
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn omni-bot");
        let stderr = child.stderr.take().expect("stderr");
        let log = self.log.clone();
        self.launches += 1;
        let launch = self.launches;
        log.lock()
            .unwrap()
            .push_str(&format!("----- launch {launch} -----\n"));
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        (Bot { child }, launch)
    }

    /// Waits for the bot to exit by itself (at most `timeout`); `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let bot = self.bot.as_mut().expect("the bot is running");
        let status = tokio::time::timeout(timeout, bot.child.wait()).await.ok()?;
        self.bot = None;
        Some(status.expect("wait"))
    }

    /// Waits until the bot's log satisfies `pred`.
    pub async fn wait_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if pred(&self.log.lock().unwrap()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `kill -9`: the bot gets no chance to clean up.
    pub async fn kill(&mut self) {
        if let Some(mut bot) = self.bot.take() {
            bot.child.start_kill().expect("kill");
            let _ = bot.child.wait().await;
        }
    }

    /// `SIGTERM`, then waits for the bot to exit (at most 15 s).
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut bot = self.bot.take().expect("the bot is running");
        let pid = bot.child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(15), bot.child.wait())
            .await
            .expect("the bot exits after SIGTERM")
            .expect("wait")
    }

    /// Runs the binary once with `config` as its file and `args` before `--config` (a
    /// subcommand, or nothing to start the bot), and returns what it printed and its status.
    pub async fn run_once(&self, config: &str, args: &[&str]) -> std::process::Output {
        std::fs::write(self.config_path(), config).expect("write config");
        bot_command()
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .await
            .expect("run omni-bot")
    }

    pub async fn relaunch(&mut self) {
        self.kill().await;
        self.launch().await;
    }

    /// Runs `/omni` as [`discord::USER_ID`] in the text channel with the given options.
    pub async fn omni(&self, options: Value) -> u64 {
        self.omni_as(options, Vec::new(), Ctx::guild(discord::USER_ID))
            .await
    }

    pub async fn omni_as(&self, options: Value, attachments: Vec<Value>, ctx: Ctx) -> u64 {
        let options = options
            .as_object()
            .expect("options object")
            .iter()
            .map(|(name, value)| option(name, value))
            .collect();
        self.discord
            .send_slash_command("omni", options, attachments, ctx)
            .await
    }

    /// The interaction response the bot gave to `interaction`, waiting for it.
    pub async fn response_to(&self, interaction: u64) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some((_, body, _)) = self
                .discord
                .interaction_responses()
                .into_iter()
                .find(|(id, _, _)| *id == interaction)
            {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no response to interaction {interaction}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a message from the bot in `channel` whose content contains `text`.
    pub async fn bot_message(&self, channel: u64, text: &str) -> StoredMessage {
        self.discord
            .wait_for_message(channel, WAIT, |m| {
                m.author_id == discord::BOT_USER_ID && m.content.contains(text)
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no bot message containing {text:?} in {channel}; messages: {:#?}\nlog:\n{}",
                    self.discord
                        .messages_in(channel)
                        .iter()
                        .map(|m| &m.content)
                        .collect::<Vec<_>>(),
                    self.logs()
                )
            })
    }

    /// The thread the bot opened for the `n`th generation (0-based), waiting for it.
    pub async fn thread(&self, n: usize) -> u64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let opened = self.discord.threads().into_iter();
            if let Some(t) = opened.filter(|t| t.owner_id == discord::BOT_USER_ID).nth(n) {
                return t.id;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no thread {n}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The bot's messages in `channel`.
    pub fn bot_messages(&self, channel: u64) -> Vec<StoredMessage> {
        self.discord
            .messages_in(channel)
            .into_iter()
            .filter(|m| m.author_id == discord::BOT_USER_ID)
            .collect()
    }

    /// Bot messages in `channel` that carry a video file.
    pub fn clips_in(&self, channel: u64) -> Vec<StoredMessage> {
        self.discord
            .messages_in(channel)
            .into_iter()
            .filter(|m| m.author_id == discord::BOT_USER_ID && !m.attachments.is_empty())
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("===== omni-bot log =====\n{}", self.logs());
        }
    }
}

/// The bot binary with a clean environment for secrets and a useful log level.
pub fn bot_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omni-bot"));
    cmd.env_remove("DISCORD_TOKEN")
        .env_remove("PIXELDOJO_API_KEY")
        .env_remove("OMNI_BOT_CONFIG")
        .env("RUST_LOG", "info,omni_bot=debug,serenity=warn");
    cmd
}

/// A slash-command option as Discord sends it: strings, integers, attachments (by id) and
/// poise choice indexes (`{"choice": 1}`).
fn option(name: &str, value: &Value) -> Value {
    match value {
        Value::String(s) => json!({"name": name, "type": 3, "value": s}),
        Value::Number(n) => json!({"name": name, "type": 4, "value": n}),
        Value::Object(o) if o.contains_key("attachment") => {
            json!({"name": name, "type": 11, "value": o["attachment"]})
        }
        Value::Object(o) if o.contains_key("choice") => {
            json!({"name": name, "type": 4, "value": o["choice"]})
        }
        other => panic!("unsupported option value {other}"),
    }
}
