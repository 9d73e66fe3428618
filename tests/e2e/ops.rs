//! The operator's side, end to end: `check`, `invite`, `/healthz`, `/metrics` and JSON logs, with
//! the real binary against the fake Discord and the fake PixelDojo.

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::fake_discord::{self as discord};
use crate::support::fake_pixeldojo as pixeldojo;
use crate::support::world::{bot_command, Settings, World, WAIT};

/// `1<<10 | 1<<11 | 1<<14 | 1<<15 | 1<<16 | 1<<35 | 1<<38`: view channel, send messages, embed
/// links, attach files, read message history, create public threads, send messages in threads.
const INVITE_PERMISSIONS: u64 = 309_237_763_072;

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn metrics_settings(port: u16) -> Settings {
    Settings {
        sections: format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
        ..Settings::default()
    }
}

/// Runs `omni-bot <args> --config <world's config>` to completion.
async fn run_subcommand(world: &World, config: &str, args: &[&str]) -> Output {
    world.run_once(config, args).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_secret(output: &str) {
    assert!(
        !output.contains(discord::TOKEN) && !output.contains(pixeldojo::API_KEY),
        "a secret leaked:\n{output}"
    );
}

pub(crate) async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// Polls `url` until it answers `status`; returns the last answer.
async fn wait_status(url: &str, status: u16, timeout: Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answer = match reqwest::get(url).await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                (s, resp.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        if answer.0 == status || tokio::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn check_passes_every_line_against_the_fakes_with_a_good_config() {
    let world = World::new(Settings::default()).await;
    let out = run_subcommand(&world, &world.config_text(), &["check"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines.iter().all(|l| l.starts_with('✓')), "{stdout}");
    assert!(lines[1].contains("Discord") && lines[2].contains("PixelDojo"));
    assert!(
        lines[3].contains("Store") && lines[3].contains("sled") && lines[3].contains("0 jobs"),
        "{stdout}"
    );
    assert_no_secret(&format!("{stdout}{}", text(&out.stderr)));
    // It really asked both services, with the configured credentials.
    assert!(world
        .discord
        .requests()
        .iter()
        .any(|r| r.is("GET", "/users/@me") && r.status == 200));
    assert!(world
        .pixeldojo
        .requests()
        .iter()
        .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {}", pixeldojo::API_KEY))));
}

/// Runs `check` with `secret` replaced by `wrong`: exactly one ✗ line, naming `service` and
/// `key`, the other service still ✓, and neither value printed.
async fn check_refuses(secret: &str, wrong: &str, service: &str, key: &str, other: &str) {
    let world = World::new(Settings::default()).await;
    let config = world.config_text().replace(secret, wrong);
    let out = run_subcommand(&world, &config, &["check"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0].contains(service) && failed[0].contains(key),
        "{stdout}"
    );
    assert!(stdout
        .lines()
        .any(|l| l.starts_with('✓') && l.contains(other)));
    assert!(!stdout.contains(wrong), "{stdout}");
    assert_no_secret(&stdout);
}

#[tokio::test]
async fn check_names_the_discord_token_when_discord_refuses_it() {
    check_refuses(
        discord::TOKEN,
        "not-the-right-token",
        "Discord",
        "discord.token",
        "PixelDojo",
    )
    .await;
}

#[tokio::test]
async fn check_names_the_pixeldojo_key_when_pixeldojo_refuses_it() {
    check_refuses(
        pixeldojo::API_KEY,
        "pd_wrong_key",
        "PixelDojo",
        "pixeldojo.api_key",
        "Discord",
    )
    .await;
}

#[tokio::test]
async fn check_stops_with_status_2_on_an_invalid_config_and_names_the_key() {
    let world = World::new(Settings::default()).await;
    let config = world
        .config_text()
        .replace("[storage]", "[storage]\npaht = 1");
    let out = run_subcommand(&world, &config, &["check"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.starts_with('✗') && stdout.contains("paht"),
        "{stdout}"
    );
    assert_no_secret(&stdout);
    // Nothing was asked of either service with a config that cannot be used.
    assert!(world.discord.requests().is_empty());
    assert!(world.pixeldojo.requests().is_empty());
}

#[tokio::test]
async fn invite_prints_the_exact_permission_integer_and_the_application_id_from_discord() {
    let world = World::new(Settings::default()).await;
    let out = run_subcommand(&world, &world.config_text(), &["invite"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let url = format!(
        "https://discord.com/oauth2/authorize?client_id={}&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}",
        discord::APP_ID
    );
    assert!(stdout.contains(&url), "{stdout}");
    assert!(stdout.contains("Message Content"), "{stdout}");
    assert!(
        world
            .discord
            .requests()
            .iter()
            .any(|r| r.is("GET", "/oauth2/applications/@me")),
        "the application id comes from Discord, through the proxy"
    );
    assert_no_secret(&stdout);
}

#[tokio::test]
async fn every_subcommand_has_help_and_unknown_flags_are_errors() {
    for sub in ["run", "check", "invite", "healthcheck"] {
        let out = bot_command().args([sub, "--help"]).output().await.unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub} --help");
        assert!(text(&out.stdout).contains("--config"), "{sub} --help");
    }
    let out = bot_command()
        .args(["check", "--no-such-flag"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--no-such-flag"));
}

#[tokio::test]
async fn healthz_turns_503_when_the_gateway_goes_away_and_200_when_the_bot_reconnects() {
    let port = free_port();
    let world = World::start_with(metrics_settings(port)).await;
    let url = format!("http://127.0.0.1:{port}/healthz");
    let (status, body) = wait_status(&url, 200, WAIT).await;
    assert_eq!(status, 200, "{body}\n{}", world.logs());
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"gateway": "connected", "store": "ok", "backend": "sled"})
    );

    world.discord.drop_gateway();
    let (status, body) = wait_status(&url, 503, WAIT).await;
    assert_eq!(status, 503, "{body}\n{}", world.logs());
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(body["gateway"], "connected");
    assert_eq!(body["store"], "ok");

    // The container health check says the same thing.
    let out = bot_command()
        .arg("healthcheck")
        .arg("--config")
        .arg(world.config_path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    let identified = world.discord.identify_count();
    world.discord.allow_gateway();
    let (status, body) = wait_status(&url, 200, Duration::from_secs(60)).await;
    assert_eq!(status, 200, "{body}\n{}", world.logs());
    assert!(world.discord.identify_count() + world.discord.resume_count() > identified);
    let out = bot_command()
        .arg("healthcheck")
        .arg("--config")
        .arg(world.config_path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// One sample of Prometheus text: its name, labels and value.
#[derive(Debug)]
pub(crate) struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text exposition format strictly enough to catch a malformed line:
/// comments are `# HELP`/`# TYPE`, every other non-empty line is `name{labels} value`.
pub(crate) fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            match words.next() {
                Some("HELP") => {}
                Some("TYPE") => {
                    let kind = words.nth(1).ok_or(format!("bad TYPE line: {line}"))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(format!("unknown type in: {line}"));
                    }
                }
                _ => return Err(format!("unknown comment: {line}")),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or(format!("no value in: {line}"))?;
        let value: f64 = value
            .parse()
            .map_err(|_| format!("value is not a float in: {line}"))?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or(format!("unclosed labels in: {line}"))?;
                (
                    name,
                    parse_labels(body).map_err(|e| format!("{e} in: {line}"))?,
                )
            }
            None => (series, BTreeMap::new()),
        };
        let valid_name = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !valid_name {
            return Err(format!("bad metric name in: {line}"));
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(samples)
}

fn parse_labels(body: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => {
                    if let Some((_, c)) = chars.next() {
                        value.push(c);
                    }
                }
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    Ok(labels)
}

pub(crate) fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[test]
fn the_prometheus_parser_rejects_malformed_lines() {
    assert!(parse_prometheus("a_total{x=\"1\"} 2\n# TYPE a_total counter\n").is_ok());
    assert!(parse_prometheus("a_total{x=\"1\"} two\n").is_err());
    assert!(parse_prometheus("a_total{x=1} 2\n").is_err());
    assert!(parse_prometheus("a total 2\n").is_err());
    assert!(parse_prometheus("# TYPE a wibble\n").is_err());
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_a_completed_job() {
    let port = free_port();
    let world = World::start_with(metrics_settings(port)).await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    world
        .omni(json!({"prompt": "A paper boat on a rainy street"}))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let (samples, text) = loop {
        let (status, text) = get(&url).await;
        assert_eq!(status, 200);
        let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let delivered = value_of(&samples, "omni_jobs_total", &[("state", "delivered")]);
        if delivered.is_some_and(|n| n >= 1.0) {
            break (samples, text);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivered job counted:\n{text}\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v = |name: &str, labels: &[(&str, &str)]| {
        value_of(&samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}:\n{text}"))
    };
    assert_eq!(v("omni_jobs_total", &[("state", "delivered")]), 1.0);
    assert_eq!(v("omni_jobs_total", &[("state", "running")]), 1.0);
    assert_eq!(
        v("omni_credits_spent_total", &[]),
        pixeldojo::CREDIT_COST as f64
    );
    assert_eq!(
        v(
            "omni_pixeldojo_requests_total",
            &[("endpoint", "submit"), ("outcome", "ok")]
        ),
        1.0
    );
    assert!(
        v(
            "omni_pixeldojo_requests_total",
            &[("endpoint", "poll"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert_eq!(
        v(
            "omni_pixeldojo_requests_total",
            &[("endpoint", "download"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(v("omni_render_seconds_count", &[]), 1.0);
    assert!(v("omni_render_seconds_sum", &[]) > 0.0);
    assert_eq!(v("omni_render_seconds_bucket", &[("le", "+Inf")]), 1.0);
    assert_eq!(v("omni_delivery_delay_seconds_count", &[]), 1.0);
    assert!(
        text.contains("# TYPE omni_render_seconds histogram"),
        "{text}"
    );
    assert!(value_of(&samples, "omni_upload_link_fallbacks_total", &[]).unwrap_or(0.0) == 0.0);
    assert_no_secret(&text);
}

#[tokio::test]
async fn json_logs_carry_the_job_guild_and_user_of_each_job_line_and_no_secret() {
    let world = World::new(Settings::default()).await;
    std::fs::write(world.config_path(), world.config_text()).unwrap();
    let mut child = bot_command()
        .args(["--log-format", "json", "--config"])
        .arg(world.config_path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::<String>::new();
    let mut delivered: Option<Value> = None;
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    let mut asked = false;
    while delivered.is_none() {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no delivered line:\n{}", log.join("\n")))
            .unwrap()
            .expect("the bot's log ended");
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if value["message"] == "bot ready" && !asked {
            asked = true;
            world
                .omni(json!({"prompt": "Fog rolling over hills"}))
                .await;
        }
        if value["message"] == "delivered" {
            delivered = Some(value);
        }
        log.push(line);
    }
    let delivered = delivered.unwrap();
    let span = &delivered["span"];
    assert_eq!(span["name"], "job", "{delivered}");
    assert!(span["job"].as_u64().is_some(), "{delivered}");
    assert_eq!(
        span["guild"].as_u64(),
        Some(discord::GUILD_ID),
        "{delivered}"
    );
    assert_eq!(span["user"].as_u64(), Some(discord::USER_ID), "{delivered}");
    assert!(delivered["level"].is_string() && delivered["timestamp"].is_string());
    let all = log.join("\n");
    assert_no_secret(&all);
    let _ = child.start_kill();
}
