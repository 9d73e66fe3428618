//! Every sentence users and admins read, as pure functions: one place to reword them, each
//! unit-tested. The rest of the bot passes data (a reason, a refusal, a progress) and these
//! functions word it. Nothing here shows a MIME type, a config key or a secret.
//!
//! - `job`: what the bot posts about a job: status, progress, the clip, why there is none,
//!   tips and operator alerts.
//! - `request`: answers to a request: acknowledgements, refusals, invalid inputs, what a
//!   message or a button did.
//! - `admin`: `/omni-admin` and `/omni-usage` replies.
//! - `talk`: talking to a clip: files named in words, deleting a clip, whose plain messages
//!   continue it.
//! - `markdown`: quoting what users typed, shown as typed.
//! - `moderation`: permissions (notes, tips), prompt rules, the mod log, the jobs in flight.
//! - `help`: `/omni-help`, the welcome in a new server, `/omni-history`, long answers in pages.

mod admin;
mod help;
mod job;
mod markdown;
mod moderation;
mod request;
mod talk;

pub use admin::*;
pub use help::*;
pub use job::*;
pub use markdown::*;
pub use moderation::*;
pub use request::*;
pub use talk::*;

use std::fmt;

/// Discord's limit on message content.
pub const CONTENT_MAX: usize = 2000;
/// Discord's limit on thread names.
pub const THREAD_NAME_MAX: usize = 100;

/// Cuts `text` to `max` characters, ending with `…` when it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    format!("{}…", cut.trim_end())
}

/// `1 clip`, `2 clips`.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A byte count printed for people (`12.5 MB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanBytes(pub u64);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if b >= 1024.0 * 1024.0 {
            write!(f, "{:.1} MB", b / (1024.0 * 1024.0))
        } else if b >= 1024.0 {
            write!(f, "{:.0} KB", b / 1024.0)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_not_cut_and_long_text_is_cut_at_a_word() {
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello brave new world", 12), "hello brave…");
        assert_eq!(truncate(&"x".repeat(20), 10).chars().count(), 10);
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(HumanBytes(512).to_string(), "512 bytes");
        assert_eq!(HumanBytes(2048).to_string(), "2 KB");
        assert_eq!(HumanBytes(10 * 1024 * 1024).to_string(), "10.0 MB");
        assert_eq!(plural(1, "clip"), "1 clip");
        assert_eq!(plural(3, "clip"), "3 clips");
    }
}
