//! `/omni-help`, the welcome message in a server the bot joins, `/omni-history` pages, and the
//! splitting of long answers into pages that fit Discord's 2,000 characters.

use std::fmt::Write as _;

use super::moderation::{jump_link, permission_name};
use super::{plural, truncate, CONTENT_MAX};
use crate::domain::ids::{ChannelId, UserId};
use crate::domain::permissions::Permission;
use crate::domain::quota::{AllowanceSource, Effective, Usage, Window};
use crate::store::Page;

/// What `/omni-help` says about the caller's caps where they asked.
#[derive(Debug, Clone)]
pub struct HelpCaps<'a> {
    pub effective: &'a Effective,
    pub used: &'a Usage,
    pub window: &'a Window,
    pub in_server: bool,
    /// Whether the operator allows clips in direct messages.
    pub dms_allowed: bool,
}

/// `/omni-help`: what the bot does, its commands, the caller's caps here, and how to continue a
/// clip.
pub fn help(caps: &HelpCaps<'_>) -> String {
    let mut text = String::from(
        "**omni-bot** turns a prompt (and, if you like, images or a video) into a short video clip with sound, made by PixelDojo.\n\n**Commands**\n",
    );
    text.push_str("• `/omni prompt: …` — make a clip of 3 to 10 seconds. Add an image as its start frame, reference images, or a video to edit.\n");
    text.push_str("• **Animate with Omni** (right-click a message → Apps) — turn that message's images into a clip.\n");
    text.push_str("• `/omni-usage` — what you have left today. `/omni-history` — your recent clips, with links.\n");
    text.push_str("• `/omni-admin` — for admins: caps, channels, prompt rules, the mod log and the clips in flight.\n\n");
    text.push_str("**Continuing a clip**\nIn a clip's thread, say what should change (\"make it night\") and I continue the newest clip; reply to an earlier clip to branch from it instead. The buttons under a clip re-roll it, refine it, or make it in the other shape.\n\n");
    let here = if caps.in_server {
        "in this server"
    } else {
        "in direct messages"
    };
    let _ = writeln!(text, "**Your caps {here} right now**");
    if !caps.in_server && !caps.dms_allowed {
        text.push_str("• I don't make clips in direct messages: use `/omni` in a server we share.");
        return text;
    }
    let l = &caps.effective.limits;
    let limit = u64::from(l.user_daily_videos);
    if limit == 0 {
        let _ = writeln!(
            text,
            "• You can't make clips {here} right now: your allowance is 0."
        );
    } else {
        let left = limit.saturating_sub(caps.used.user_day_videos);
        let from = match caps.effective.daily_source {
            AllowanceSource::Role(r) => format!(", from your <@&{r}> role"),
            AllowanceSource::User => ", set for you by an admin".to_owned(),
            _ => String::new(),
        };
        let _ = writeln!(
            text,
            "• **{left} of {}** left today{from}; up to {} rendering at once.",
            plural(limit, "clip"),
            l.user_concurrent_jobs
        );
    }
    if caps.in_server {
        let _ = writeln!(
            text,
            "• The whole server: {} of {} clips used today.",
            caps.used.guild_day_videos, l.guild_daily_videos
        );
    }
    let _ = write!(
        text,
        "• Counts reset <t:{0}:R> (<t:{0}:t>).",
        caps.window.day_resets_at
    );
    truncate(&text, CONTENT_MAX)
}

/// The one message in a server the bot just joined: what it does, what it needs, how admins set
/// caps, and a check of its own permissions in that channel and in the server.
pub fn welcome(
    channel: ChannelId,
    missing_here: &[Permission],
    missing_in_server: &[Permission],
    daily_clips: u32,
) -> String {
    let mut text = format!(
        "👋 Hi, I'm **omni-bot**: I turn prompts into short video clips with sound. Anyone here can try `/omni prompt: a red fox trotting through snow`; each member gets {} a day to start with.\n",
        plural(daily_clips.into(), "clip")
    );
    text.push_str("**For admins:** `/omni-admin limits` shows this server's caps and `/omni-admin set` changes them; `/omni-admin channels` chooses where I work, `/omni-admin prompt-rules` keeps words out of prompts, and `/omni-admin mod-log` picks a channel that lists every clip. `/omni-help` explains the rest.\n");
    text.push_str("**Permission check:** ");
    let names = |ps: &[Permission]| {
        ps.iter()
            .map(|p| format!("**{}**", permission_name(*p)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (missing_here.is_empty(), missing_in_server.is_empty()) {
        (true, true) => text.push_str("✅ I have every permission I need."),
        (here_ok, server_ok) => {
            if !server_ok {
                let _ = write!(
                    text,
                    "⚠️ My role is missing {} in this server. ",
                    names(missing_in_server)
                );
            }
            if !here_ok {
                let _ = write!(
                    text,
                    "⚠️ In <#{channel}> I'm missing {}. ",
                    names(missing_here)
                );
            }
            text.push_str("I need View Channels, Send Messages, Create Public Threads, Send Messages in Threads, Attach Files, Embed Links and Read Message History where clips are made; without them I post in place of threads, links in place of files, or answer privately.");
        }
    }
    truncate(&text, CONTENT_MAX)
}

/// How many clips one page of `/omni-history` lists.
pub const HISTORY_PAGE: usize = 10;

/// One page of `/omni-history`; `of` is the member whose clips these are when it is not the
/// caller (a moderator looking).
pub fn history_page(page: &Page, index: usize, of: Option<UserId>, in_server: bool) -> String {
    let here = if in_server {
        "in this server"
    } else {
        "in direct messages"
    };
    if page.total == 0 {
        return match of {
            Some(user) => format!("<@{user}> hasn't made any clips {here} yet."),
            None => format!("You haven't made any clips {here} yet. Try `/omni`!"),
        };
    }
    let pages = page.total.div_ceil(HISTORY_PAGE);
    let whose = of.map_or_else(|| "Your clips".to_owned(), |u| format!("<@{u}>'s clips"));
    let mut text = format!(
        "**{whose} {here}** ({}, page {} of {pages}, newest first)\n",
        plural(page.total as u64, "clip"),
        index + 1
    );
    for clip in &page.clips {
        let prompt = clip.prompt.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            text,
            "• **{}** · “{}” · <t:{}:R> · {}",
            clip.label,
            truncate(&prompt, 90),
            clip.at_ms / 1000,
            jump_link(clip.posted_in_guild(), clip.channel, clip.message)
        );
    }
    truncate(text.trim_end(), CONTENT_MAX)
}

/// Under the first page of an answer too long for a few messages.
pub const WHOLE_ANSWER_ATTACHED: &str = "…the whole answer is in the attached file.";

/// A line cut into pieces of at most `max` characters, at spaces where it can.
fn split_line(line: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for word in line.split(' ') {
        let word: String = word.chars().take(max).collect();
        let len = piece.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            pieces.push(std::mem::take(&mut piece));
        }
        if !piece.is_empty() {
            piece.push(' ');
        }
        piece.push_str(&word);
    }
    pieces.push(piece);
    pieces
}

/// Splits a long answer into pages of at most `max` characters, at line ends where it can
/// (and a line longer than a page at spaces), losing nothing but those breaks.
pub fn paginate(text: &str, max: usize) -> Vec<String> {
    let mut pages = Vec::new();
    let mut page = String::new();
    for line in text.lines().flat_map(|l| split_line(l, max)) {
        let needed = page.chars().count() + line.chars().count() + usize::from(!page.is_empty());
        if needed > max && !page.is_empty() {
            pages.push(std::mem::take(&mut page));
        }
        if !page.is_empty() {
            page.push('\n');
        }
        page.push_str(&line);
    }
    if !page.is_empty() || pages.is_empty() {
        pages.push(page);
    }
    pages
}

#[cfg(test)]
mod tests;
