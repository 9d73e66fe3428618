//! The delivery files stay true to the code: `config.example.toml` lists every key the config
//! accepts with the code's defaults, the README's table matches it, and the Dockerfile names the
//! real binary, the default metrics port and the volume the storage path lives on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use omni_bot::config::{Config, DEFAULT_METRICS_PORT};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Placeholder secrets, as the environment would give them.
fn secrets(name: &str) -> Option<String> {
    match name {
        "DISCORD_TOKEN" => Some("placeholder-token".into()),
        "PIXELDOJO_API_KEY" => Some("placeholder-key".into()),
        _ => None,
    }
}

fn load(text: &str, origin: &str) -> Config {
    Config::from_toml(text, secrets, origin).unwrap_or_else(|e| panic!("{e}"))
}

/// A key of the example file: its TOML value as written, and whether it is commented out
/// (unset by default).
#[derive(Debug, Clone, PartialEq)]
struct ExampleKey {
    value: String,
    commented: bool,
}

/// `section.key` → value, for set keys (`key = value`) and commented-out ones (`# key = value`),
/// under `[section]` or `# [section]` headers.
fn example_keys(text: &str) -> BTreeMap<String, ExampleKey> {
    let mut keys = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let (commented, body) = match line.trim().strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, line.trim()),
        };
        if let Some(name) = body.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
            if is_key(name) {
                section = name.to_owned();
            }
            continue;
        }
        let Some((key, value)) = body.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !is_key(key) {
            continue;
        }
        assert!(!section.is_empty(), "a key before any section: {line}");
        keys.insert(
            format!("{section}.{key}"),
            ExampleKey {
                value: value.trim().to_owned(),
                commented,
            },
        );
    }
    keys
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

/// The example with every commented-out key and section header switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.trim().strip_prefix('#') {
            Some(rest) => {
                let rest = rest.trim();
                let header = rest
                    .strip_prefix('[')
                    .and_then(|b| b.strip_suffix(']'))
                    .is_some_and(is_key);
                let key = rest.split_once('=').is_some_and(|(k, _)| is_key(k.trim()));
                if header || key {
                    rest.to_owned()
                } else {
                    line.to_owned()
                }
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `section.key` → default cell, from the README's configuration table
/// (rows `| \`section.key\` | default | meaning |`).
fn readme_keys(readme: &str) -> BTreeMap<String, String> {
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let key = cells.first()?.trim().strip_prefix('`')?.strip_suffix('`')?;
            let (section, name) = key.split_once('.')?;
            (is_key(section) && is_key(name)).then(|| {
                (
                    key.to_owned(),
                    cells.get(1).unwrap_or(&"").trim().to_owned(),
                )
            })
        })
        .collect()
}

/// What the README's default cell must say for a key of the example.
fn expected_cell(key: &ExampleKey) -> String {
    if key.commented {
        "unset".to_owned()
    } else if key.value == "\"\"" {
        "required".to_owned()
    } else {
        format!("`{}`", key.value)
    }
}

/// The field names serde accepts where `probe` puts an unknown key, read from its "unknown
/// field ..., expected one of `a`, `b`" error (so the list is the derive's own).
fn accepted_fields(probe: toml::Table) -> Vec<String> {
    let text = toml::to_string(&probe).unwrap();
    let err = Config::from_toml(&text, secrets, "probe")
        .map(|_| ())
        .expect_err("the probe key is refused")
        .to_string();
    let expected = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("not an unknown-field error: {err}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `section.key` the configuration accepts.
fn accepted_keys() -> BTreeSet<String> {
    let minimal: toml::Table =
        toml::from_str("[discord]\ntoken = \"t\"\n[pixeldojo]\napi_key = \"k\"\n").unwrap();
    let probe_key = "zz_probe";
    let mut top = minimal.clone();
    top.insert(probe_key.into(), toml::Value::Table(toml::Table::new()));
    let sections = accepted_fields(top);
    assert!(
        sections.contains(&"discord".to_owned()),
        "sections: {sections:?}"
    );
    let mut keys = BTreeSet::new();
    for section in sections {
        let mut probe = minimal.clone();
        let table = probe
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table
            .as_table_mut()
            .unwrap()
            .insert(probe_key.into(), toml::Value::Integer(1));
        for field in accepted_fields(probe) {
            keys.insert(format!("{section}.{field}"));
        }
    }
    keys
}

#[test]
fn every_key_the_config_accepts_is_in_config_example_toml() {
    let example: BTreeSet<String> = example_keys(&read("config.example.toml"))
        .into_keys()
        .collect();
    let accepted = accepted_keys();
    assert!(accepted.contains("discord.token") && accepted.contains("storage.path"));
    let missing: Vec<_> = accepted.difference(&example).collect();
    assert!(
        missing.is_empty(),
        "keys missing from config.example.toml: {missing:?}"
    );
    let unknown: Vec<_> = example.difference(&accepted).collect();
    assert!(
        unknown.is_empty(),
        "config.example.toml has keys the config refuses: {unknown:?}"
    );
}

#[test]
fn config_example_toml_shows_the_defaults_of_the_code() {
    let text = read("config.example.toml");
    let example = load(&text, "config.example.toml");
    let defaults = load(
        "[discord]\n[pixeldojo]\n",
        "config.example.toml", // same origin, so nothing but values can differ
    );
    assert_eq!(
        format!("{example:?}"),
        format!("{defaults:?}"),
        "a value in config.example.toml differs from the code's default"
    );
    // The commented-out keys are real keys with values the config accepts.
    let all_on = load(&uncommented(&text), "config.example.toml (all keys set)");
    assert!(all_on.metrics.is_some() && all_on.discord.guild_id.is_some());
}

#[test]
fn the_readme_table_lists_every_key_of_config_example_toml_with_the_same_default() {
    let example = example_keys(&read("config.example.toml"));
    let readme = readme_keys(&read("README.md"));
    assert!(example.len() > 10, "{example:?}");
    let mut problems = Vec::new();
    for (key, value) in &example {
        match readme.get(key) {
            None => problems.push(format!("{key} is not in the README's table")),
            Some(cell) if *cell != expected_cell(value) => problems.push(format!(
                "{key}: the README says {cell}, config.example.toml says {}",
                expected_cell(value)
            )),
            Some(_) => {}
        }
    }
    for key in readme.keys() {
        if !example.contains_key(key) {
            problems.push(format!(
                "{key} is in the README's table but not in config.example.toml"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The Dockerfile's instructions, with `\` continuations joined and comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (op, args) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((&current, ""));
                out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// The words of an exec-form (`["a", "b"]`) or shell-form argument list.
fn words(args: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(args) {
        Ok(list) => list,
        Err(_) => args.split_whitespace().map(str::to_owned).collect(),
    }
}

fn bin_name() -> String {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    manifest["bin"].as_array().unwrap()[0]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_dockerfile_names_the_real_binary_the_metrics_port_and_the_data_volume() {
    let ins = dockerfile_instructions(&read("Dockerfile"));
    let all = |op: &str| -> Vec<String> {
        ins.iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let bin = bin_name();
    assert_eq!(bin, "omni-bot");

    // The binary that is built, copied and run is the crate's.
    let runs = all("RUN").join(" ");
    assert!(
        runs.contains(&format!("--bin {bin}")),
        "the build does not name --bin {bin}"
    );
    for path in runs
        .split_whitespace()
        .chain(all("COPY").iter().flat_map(|c| c.split_whitespace()))
        .filter_map(|w| w.split_once("target/release/").map(|(_, b)| b))
    {
        assert_eq!(path, bin, "a build path names another binary");
    }
    let entry = words(all("ENTRYPOINT").last().expect("an ENTRYPOINT"));
    let entry_bin = Path::new(&entry[0]);
    assert_eq!(entry_bin.file_name().unwrap().to_str(), Some(bin.as_str()));
    let healthcheck = all("HEALTHCHECK").join(" ");
    assert!(
        healthcheck.contains(entry[0].as_str()) && healthcheck.contains("healthcheck"),
        "the HEALTHCHECK does not run `{bin} healthcheck`: {healthcheck}"
    );

    // The exposed port is the metrics port, and the baked-in config listens on it.
    let exposed: Vec<u16> = all("EXPOSE")
        .iter()
        .flat_map(|e| {
            e.split_whitespace()
                .map(|p| p.split('/').next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(exposed, vec![DEFAULT_METRICS_PORT]);

    // The config the image runs with: the file copied to where OMNI_BOT_CONFIG points.
    let env = all("ENV").join(" ");
    let config_in_image = env
        .split_whitespace()
        .find_map(|w| w.strip_prefix("OMNI_BOT_CONFIG="))
        .expect("ENV OMNI_BOT_CONFIG");
    let copied_from = all("COPY")
        .iter()
        .map(|c| words(c))
        .find(|w| w.last().map(String::as_str) == Some(config_in_image))
        .and_then(|w| w.first().cloned())
        .expect("a COPY of the config to OMNI_BOT_CONFIG");
    let config = load(&read(&copied_from), &copied_from);
    let listen = config.metrics.expect("metrics on in the image").listen;
    assert_eq!(listen.port(), DEFAULT_METRICS_PORT);
    assert!(
        listen.ip().is_unspecified(),
        "reachable from outside the container"
    );

    // The storage path is on the declared volume.
    let volumes: Vec<String> = all("VOLUME").iter().flat_map(|v| words(v)).collect();
    assert_eq!(volumes, vec!["/data".to_owned()]);
    assert!(
        config.storage.path.starts_with(&volumes[0]),
        "storage.path {} is not on the volume {}",
        config.storage.path.display(),
        volumes[0]
    );
    assert!(
        all("USER")
            .last()
            .is_some_and(|u| !u.starts_with("root") && !u.starts_with("0")),
        "the image runs as a non-root user"
    );
}
